"""Witnesses cosign the bulletin board (issue 12): the server's side over real
HTTP, on SQLite and PostgreSQL.

``POST …/board/cosignatures`` stores a cosignature of a witness the manifest
names on a head that exists, once per (election, size, witness); ``GET
…/board/cosigned`` serves the newest head the quorum cosigned and ``GET
…/board/witnesses`` each witness's newest. Refusals (403 unknown_witness, 404
tree_head_not_found, 400 cosignature_invalid and malformed_request, 404
election_not_found, no_witnesses, not_cosigned) change no table. The election
record (version 4) carries every cosigned head in ``cosignatures.json``, and
check 12 passes only when the quorum cosigned the whole board, with heads of
this board only. ``voting election create --witness`` fills the manifest's
witnesses; ``voting election export`` waits for them.

One server per backend for the module; each test has its own elections."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from crypto import log as merkle
from crypto.credentials import seal_credential
from crypto.witness import CosignedHead, WitnessPolicy, check_quorum, cosign
from tests.http_support import ADMIN, Pilot, board_heads, problem, start_pilot, two_question_manifest
from tests.support import Pki, database_backends, fresh_database_url, make_pki
from voting.cli import main
from voting.client import Client
from voting.record import files as F
from voting.record.files import read_record_zip
from voting.verify import verify_record

NAMES = ("監査事務局", "情報政策課", "市民オンブズマン")
PIN = "246810"


@dataclass
class Run:
    pilot: Pilot
    pki: Pki
    data_dir: Path
    keys: dict[str, Ed25519PrivateKey]
    """each witness's private key, by name"""

    @property
    def url(self) -> str:
        return self.pilot.url

    @property
    def server_key(self) -> Ed25519PrivateKey:
        pem = (self.data_dir / "server-signing-key.pem").read_bytes()
        return serialization.load_pem_private_key(pem, password=None)

    def members(self, names: tuple[str, ...] = NAMES) -> list[dict]:
        return [
            {"name": n, "public_key": self.keys[n].public_key().public_bytes_raw().hex(), **({"url": "https://witness.example/log"} if i == 0 else {})}
            for i, n in enumerate(names)
        ]

    def create(self, election_id: str, quorum: int | None = 2, voters: list[str] | None = None) -> str:
        """An election with the three witnesses (``quorum`` of them; None: no
        witnesses) and a roll imported twice: a board of four entries."""
        manifest = two_question_manifest(election_id, min_tally_ballots=2)
        if quorum is not None:
            manifest["witnesses"] = {"quorum": quorum, "members": self.members()}
        voters = voters or ["E0001", "E0002"]
        self.pilot.create(manifest, voters[:1])
        self.pilot.admin.import_roll(election_id, "employee_id,name,department\n" + "".join(f"{v},職員 {v},総務課\n" for v in voters[1:]))
        return election_id

    def heads(self, election_id: str) -> list[merkle.SignedTreeHead]:
        with Client(self.url) as client:
            return board_heads(client, election_id)

    def post(self, election_id: str, body: object) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.post(
            f"{self.url}/api/elections/{election_id}/board/cosignatures", content=content, headers={"content-type": "application/json"}
        )

    def get(self, election_id: str, what: str) -> httpx.Response:
        return httpx.get(f"{self.url}/api/elections/{election_id}/board/{what}")

    def cosign(self, election_id: str, name: str, head: merkle.SignedTreeHead, time_ms: int | None = None) -> dict:
        body = cosigned_body(self.keys[name], head, time_ms)
        response = self.post(election_id, body)
        assert response.status_code == 200, response.text
        assert response.json() == {"size": head.head.size, "witness": name, "stored": True}
        return body

    def record(self, election_id: str) -> dict[str, bytes]:
        response = httpx.get(f"{self.url}/api/elections/{election_id}/record")
        assert response.status_code == 200, response.text
        return read_record_zip(response.content)


def cosigned_body(key: Ed25519PrivateKey, head: merkle.SignedTreeHead, time_ms: int | None = None) -> dict:
    return {"size": head.head.size, "cosignature": cosign(key, head.head, time_ms or int(time.time() * 1000)).to_json()}


@pytest.fixture(scope="module", params=database_backends())
def run(request, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp(f"witness-{request.param}") / "data"
    data_dir.mkdir(parents=True)
    pki = make_pki(data_dir)
    pilot = start_pilot(pki, data_dir, fresh_database_url(request.param, data_dir))
    try:
        yield Run(pilot, pki, data_dir, {name: Ed25519PrivateKey.generate() for name in NAMES})
    finally:
        pilot.stop()


# --- the endpoints ------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_server_stores_cosignatures_and_serves_the_newest_quorum(run):
    election = run.create("w-serve")
    heads = run.heads(election)
    assert [h.head.size for h in heads] == [1, 2, 3, 4]
    a, b, c = NAMES

    listing = run.get(election, "witnesses").json()
    assert listing == {"quorum": 2, "witnesses": [{**m, "url": m.get("url"), "newest": None} for m in run.members()]}
    assert problem(run.get(election, "cosigned")) == (404, "not_cosigned")

    first = run.cosign(election, a, heads[0])
    assert problem(run.get(election, "cosigned")) == (404, "not_cosigned")  # one of the quorum of two
    run.cosign(election, b, heads[0])
    cosigned = run.get(election, "cosigned").json()
    assert merkle.SignedTreeHead.from_json(cosigned["tree_head"]) == heads[0]
    assert len(cosigned["cosignatures"]) == 2

    # A and B cosign size 3, C alone size 4: the newest head with the quorum is 3.
    run.cosign(election, a, heads[2])
    run.cosign(election, b, heads[2])
    run.cosign(election, c, heads[3])
    cosigned = CosignedHead.from_json(run.get(election, "cosigned").json())
    assert cosigned.tree_head == heads[2]
    server_key = bytes.fromhex(run.get(election, "head").json()["server_key"])
    policy = WitnessPolicy.from_json({"quorum": 2, "members": run.members()})
    assert {w.name for w in check_quorum(policy, server_key, cosigned)} == {a, b}

    newest = {w["name"]: w["newest"] for w in run.get(election, "witnesses").json()["witnesses"]}
    assert {name: merkle.SignedTreeHead.from_json(n["tree_head"]).head.size for name, n in newest.items()} == {a: 3, b: 3, c: 4}
    assert newest[a]["cosignature"]["witness_key"] == policy.witnesses[0].public_key.hex()
    assert first["cosignature"] != newest[a]["cosignature"]

    # Once C cosigns size 4 too, the newest quorum moves up.
    run.cosign(election, a, heads[3])
    assert CosignedHead.from_json(run.get(election, "cosigned").json()).tree_head == heads[3]


def test_a_repeated_cosignature_is_stored_once(run):
    election = run.create("w-again")
    head = run.heads(election)[-1]
    body = run.cosign(election, NAMES[0], head, time_ms=1_800_000_000_000)
    before = run.pilot.snapshot()
    run.cosign(election, NAMES[0], head, time_ms=1_800_000_000_000)  # the same one again
    run.cosign(election, NAMES[0], head, time_ms=1_800_000_000_001)  # a new one on the same head
    assert run.pilot.snapshot() == before
    newest = run.get(election, "witnesses").json()["witnesses"][0]["newest"]
    assert newest["cosignature"] == body["cosignature"]  # the first one stays


def test_refusals_change_nothing(run):
    election = run.create("w-refused")
    heads = run.heads(election)
    a = run.keys[NAMES[0]]
    good = cosigned_body(a, heads[1])
    outsider = Ed25519PrivateKey.generate()
    refused = run.pilot.refused_raw

    def with_cosignature(**changes: object) -> dict:
        return {**good, "cosignature": {**good["cosignature"], **changes}}

    def flipped(hex_text: str) -> str:
        return ("1" if hex_text[0] == "0" else "0") + hex_text[1:]

    # Who, which head, what signature.
    refused(lambda: run.post(election, cosigned_body(outsider, heads[1])), 403, "unknown_witness")
    refused(lambda: run.post(election, with_cosignature(signature=flipped(good["cosignature"]["signature"]))), 400, "cosignature_invalid")
    refused(lambda: run.post(election, with_cosignature(time_ms=good["cosignature"]["time_ms"] + 1)), 400, "cosignature_invalid")
    refused(lambda: run.post(election, {**good, "size": 3}), 400, "cosignature_invalid")  # A's cosignature of head 2, sent as head 3
    refused(lambda: run.post(election, {**good, "size": 5}), 404, "tree_head_not_found")
    refused(lambda: run.post("no-such-election", good), 404, "election_not_found")
    # Malformed bodies.
    for body in (
        b"not json", b"[1, 2]", b"{}", {"size": 2}, {**good, "extra": 1}, with_cosignature(extra=1),
        {**good, "size": "2"}, {**good, "size": 2.0}, {**good, "size": True}, {**good, "size": 0}, {**good, "size": 2**53},
        {**good, "size": -1}, with_cosignature(time_ms=-1), with_cosignature(time_ms="5"),
        with_cosignature(witness_key=good["cosignature"]["witness_key"].upper()), with_cosignature(witness_key="ab" * 31),
        with_cosignature(witness_key=good["cosignature"]["witness_key"] + "\n"), with_cosignature(signature=" " + good["cosignature"]["signature"]),
        with_cosignature(signature=good["cosignature"]["signature"][:-2]), {**good, "cosignature": None},
        {**good, "cosignature": [good["cosignature"]]},
    ):
        refused(lambda body=body: run.post(election, body), 400, "malformed_request")
    assert problem(run.get(election, "cosigned")) == (404, "not_cosigned")
    assert all(w["newest"] is None for w in run.get(election, "witnesses").json()["witnesses"])
    for what in ("cosigned", "witnesses"):
        assert problem(run.get("no-such-election", what)) == (404, "election_not_found")


def test_an_election_without_witnesses(run):
    election = run.create("w-none", quorum=None)
    head = run.heads(election)[-1]
    assert run.get(election, "witnesses").json() == {"quorum": 0, "witnesses": []}
    assert problem(run.get(election, "cosigned")) == (404, "no_witnesses")
    run.pilot.refused_raw(lambda: run.post(election, cosigned_body(run.keys[NAMES[0]], head)), 403, "unknown_witness")


def test_an_election_cannot_name_bad_witnesses(run):
    server_key = httpx.get(f"{run.url}/api/server-key").json()["server_key"]
    members = run.members()
    for witnesses in (
        {"quorum": 0, "members": members},
        {"quorum": 4, "members": members},
        {"quorum": 1, "members": [members[0], members[0]]},
        {"quorum": 1, "members": [{**members[0], "public_key": members[0]["public_key"].upper()}]},
        {"quorum": 1, "members": [{**members[0], "url": "ftp://x"}]},
        {"quorum": 1, "members": [{"name": "the server itself", "public_key": server_key}]},
        {"members": members},
    ):
        manifest = {**two_question_manifest("w-bad"), "witnesses": witnesses}
        run.pilot.refused(lambda m=manifest: run.pilot.admin.create_election(m, ["T0001", "T0002", "T0003"], 2), 422, "invalid_manifest")


# --- the election record ----------------------------------------------------------------------------


def _schemas() -> tuple[dict, Registry]:
    schemas = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in F.SCHEMA_DIR.glob("*.json")}
    return schemas, Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas.values())


def _with(files: dict[str, bytes], edit) -> dict[str, bytes]:
    doc = json.loads(files[F.COSIGNATURES])
    edit(doc)
    return {**files, F.COSIGNATURES: json.dumps(doc).encode()}


def _fails_12(files: dict[str, bytes], says: str) -> None:
    report = verify_record(files, workers=1)
    assert report.failed() == [12], [(c.number, c.failures) for c in report.checks if c.status == "fail"]
    assert any(says in f for f in report.check(12).failures), report.check(12).failures


@pytest.mark.slow
def test_the_record_carries_the_cosignatures_and_check_12_judges_them(run):
    voters = ["E0001", "E0002", "E0003"]
    election = run.create("w-record", voters=voters)
    credentials = {v: run.pki.enroll(v) for v in voters}
    run.pilot.ceremony(election)
    run.pilot.admin.open(election)
    for v, days in zip(voters, ("d0", "d1", "d2")):
        voter = run.pilot.login(credentials[v])
        voter.cast(voter.prepare_ballot(election, {"days": [days], "tools": ["s1"]}))
    run.pilot.admin.close_election(election)
    heads = run.heads(election)
    a, b, c = NAMES

    # Not yet cosigned: the record says so, and only check 12 fails.
    files = run.record(election)
    assert json.loads(files[F.COSIGNATURES]) == {"witnesses": {"quorum": 2, "members": run.members()}, "heads": []}
    _fails_12(files, "the witnesses have not cosigned the final board yet: export the record again once they have")

    # Cosigned along the way and at the end by the quorum (C lags behind).
    middle = len(heads) // 2
    for head in (heads[3], heads[middle - 1]):
        run.cosign(election, a, head)
        run.cosign(election, c, head)
    run.cosign(election, a, heads[-1])
    _fails_12(run.record(election), "(1 of the 2 needed")
    run.cosign(election, b, heads[-1])
    files = run.record(election)
    report = verify_record(files, workers=1)
    assert report.ok(), [(c.number, c.failures) for c in report.checks if c.status == "fail"]
    assert report.check(12).status == "pass" and report.check(12).items == 6
    assert "2 of 3 witnesses cosigned the whole board" in report.check(12).note
    doc = json.loads(files[F.COSIGNATURES])
    assert [h["tree_head"] for h in doc["heads"]] == [heads[n - 1].to_json() for n in (4, middle, len(heads))]
    schemas, registry = _schemas()
    for name in (F.COSIGNATURES, F.MANIFEST, F.RECORD):
        Draft202012Validator(schemas[F.SCHEMAS[name]], registry=registry).validate(json.loads(files[name]))
    assert json.loads(files[F.RECORD])["version"] >= 4  # 4: witnesses; later versions keep them

    # A forged cosignature; one by a key the manifest does not name; one twice.
    def forge(d: dict) -> None:
        signature = d["heads"][-1]["cosignatures"][0]["signature"]
        d["heads"][-1]["cosignatures"][0]["signature"] = ("1" if signature[0] == "0" else "0") + signature[1:]

    _fails_12(_with(files, forge), "does not verify")
    outsider = cosign(Ed25519PrivateKey.generate(), heads[-1].head, 1).to_json()
    _fails_12(_with(files, lambda d: d["heads"][-1]["cosignatures"].append(outsider)), "no witness the manifest names")
    _fails_12(_with(files, lambda d: d["heads"][-1]["cosignatures"].append(d["heads"][-1]["cosignatures"][0])), "twice")

    # A head the server signed and witness A cosigned, with another root: A was
    # shown another board (a split view).
    other = merkle.TreeHead(election, 5, b"\x07" * 32, heads[4].head.timestamp_ms)
    split = {"tree_head": merkle.sign_tree_head(run.server_key, other).to_json(), "cosignatures": [cosign(run.keys[a], other, 2).to_json()]}
    _fails_12(_with(files, lambda d: d["heads"].insert(1, split)), "a split view")
    # A head beyond the board, of another log, not signed by the server; out of order.
    beyond = merkle.TreeHead(election, len(heads) + 1, b"\x07" * 32, 1)
    beyond_cosigned = {"tree_head": merkle.sign_tree_head(run.server_key, beyond).to_json(), "cosignatures": [cosign(run.keys[a], beyond, 2).to_json()]}
    _fails_12(_with(files, lambda d: d["heads"].append(beyond_cosigned)), "beyond the board")
    # A head without cosignatures is malformed (cosignatures.json lists only cosigned heads).
    _fails_12(_with(files, lambda d: d["heads"].append({**beyond_cosigned, "cosignatures": []})), "Expected `array` of length >= 1 - at `$.heads[3].cosignatures`")
    _fails_12(_with(files, lambda d: d["heads"][0]["tree_head"].update(log_id="other")), "for log 'other'")
    _fails_12(_with(files, lambda d: d["heads"][0]["tree_head"].update(timestamp_ms=1)), "signature")
    _fails_12(_with(files, lambda d: d["heads"].reverse()), "strictly increasing")

    # The final board uncosigned, or below the quorum.
    _fails_12(_with(files, lambda d: d["heads"].pop()), "have not cosigned the final board yet")
    _fails_12(_with(files, lambda d: d["heads"][-1]["cosignatures"].pop()), "(1 of the 2 needed")
    # The file says other witnesses than the manifest.
    _fails_12(_with(files, lambda d: d["witnesses"].update(quorum=1)), "not the ones the manifest names")
    _fails_12(_with(files, lambda d: d["witnesses"]["members"].pop()), "not the ones the manifest names")

    # Hostile shapes fail check 12, never the verifier.
    for hostile in (
        lambda d: d.update(heads={}),
        lambda d: d.update(heads=[5]),
        lambda d: d.update(heads=[{"tree_head": 1, "cosignatures": []}]),
        lambda d: d["heads"][0].update(cosignatures="x"),
        lambda d: d["heads"][0]["cosignatures"].append({"witness_key": 1}),
        lambda d: d["heads"][0]["tree_head"].update(size=-1),
        lambda d: d.pop("witnesses"),
    ):
        report = verify_record(_with(files, hostile), workers=1)
        assert report.failed() == [12], report.failed()
        assert not any("could not finish" in f for f in report.check(12).failures), report.check(12).failures
    for data in (b"", b"{", b"[]", b"null", b'{"heads": [], "heads": []}', b"\xff"):
        assert verify_record({**files, F.COSIGNATURES: data}, workers=1).failed() == [12]
    assert verify_record({k: v for k, v in files.items() if k != F.COSIGNATURES}, workers=1).failed() == [12]


def test_check_12_of_an_election_without_witnesses(run):
    election = run.create("w-record-none", quorum=None)
    files = run.record(election)
    report = verify_record(files, workers=1)
    assert report.ok(strict=False) and report.check(12).status == "pass"
    assert report.check(12).note == "the election names no witnesses: a split view would go undetected"
    # Any cosignature is then by a key the manifest does not name.
    head = run.heads(election)[-1]
    stray = {"tree_head": head.to_json(), "cosignatures": [cosign(run.keys[NAMES[0]], head.head, 1).to_json()]}
    _fails_12(_with(files, lambda d: d["heads"].append(stray)), "no witness the manifest names")


# --- the command line ----------------------------------------------------------------------------------


def invoke(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_export_waits_for_the_witnesses(run, tmp_path):
    election = run.create("w-export")
    final = run.heads(election)[-1]

    result = invoke("election", "export", election, tmp_path / "early", "--server", run.url, "--wait-witnesses", 0)
    assert result.exit_code == 0, result.output
    assert "have not cosigned this record's whole board" in result.output and "check 12" in result.output
    assert verify_record(F.read_record(tmp_path / "early"), workers=1).failed() == [12]

    def witnesses_cosign_later() -> None:
        time.sleep(1.5)
        for name in NAMES[:2]:
            run.cosign(election, name, final)

    thread = threading.Thread(target=witnesses_cosign_later)
    start = time.monotonic()
    thread.start()
    try:
        result = invoke("election", "export", election, tmp_path / "cosigned.zip", "--server", run.url, "--wait-witnesses", 30)
    finally:
        thread.join()
    assert result.exit_code == 0, result.output
    assert "Waiting up to" in result.output and "cosigned the whole board (4 entries)" in result.output
    assert "Warning" not in result.output and time.monotonic() - start < 20
    assert verify_record(F.read_record(tmp_path / "cosigned.zip"), workers=1).check(12).status == "pass"
    # Nothing to wait for without witnesses; a target that exists is refused before any wait.
    plain = run.create("w-export-none", quorum=None)
    result = invoke("election", "export", plain, tmp_path / "plain", "--server", run.url)
    assert result.exit_code == 0 and "Waiting" not in result.output and "Warning" not in result.output
    result = invoke("election", "export", election, tmp_path / "early", "--server", run.url)
    assert result.exit_code == 1 and "already holds a record" in result.output and "Waiting" not in result.output


def test_create_names_the_witnesses_from_their_files(run, tmp_path):
    admin = run.pki.enroll(ADMIN)
    credential = run.pki.ca_dir / "admin.json"  # beside root.pem, the trust anchor
    credential.write_text(json.dumps(seal_credential(admin.private_key, admin.chain, PIN, employee_id=ADMIN, name=admin.name, iterations=1000)))
    login = ("--credential", credential, "--pin", PIN, "--server", run.url)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(two_question_manifest("w-cli"), ensure_ascii=False), encoding="utf-8")
    files = []
    for number, member in enumerate(run.members(), start=1):
        files.append(tmp_path / f"witness-{number}.json")
        files[-1].write_text(json.dumps({"url": None, **member}, ensure_ascii=False), encoding="utf-8")
    create = ("election", "create", manifest, "--trustees", "T0001,T0002,T0003", "--threshold", 2)

    def refused(*args: object) -> str:
        result = invoke(*create, *args, *login)
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        return result.output

    state = tmp_path / "state.json"
    state.write_text(json.dumps({"format": "votingpilot-witness-state", "private_key": "00" * 32, **run.members()[0]}))
    before = run.pilot.snapshot()
    assert "state file" in refused("--witness", state)
    assert "from 1 to the number of witnesses" in refused(*[x for f in files for x in ("--witness", f)], "--witness-quorum", 4)
    assert "same public key" in refused("--witness", files[0], "--witness", files[0])
    assert "needs the witnesses" in refused("--witness-quorum", 1)
    (tmp_path / "junk.json").write_text("{")
    assert "not valid JSON" in refused("--witness", tmp_path / "junk.json")
    (tmp_path / "list.json").write_text("[]")
    assert "expected" in refused("--witness", tmp_path / "list.json")
    named = tmp_path / "named.json"
    named.write_text(json.dumps({**two_question_manifest("w-cli"), "witnesses": {"quorum": 1, "members": run.members()[:1]}}))
    result = invoke("election", "create", named, "--trustees", "T0001,T0002,T0003", "--threshold", 2, "--witness", files[0], *login)
    assert result.exit_code == 1 and "not both" in result.output
    assert run.pilot.snapshot() == before

    result = invoke(*create, "--witness", files[0], "--witness", files[1], *login)
    assert result.exit_code == 0, result.output
    assert f"{NAMES[0]}, {NAMES[1]} (any 2 of 2 must cosign the board)" in result.output
    assert run.pilot.admin.status("w-cli")["manifest"]["witnesses"] == {"quorum": 2, "members": run.members()[:2]}
    assert run.get("w-cli", "witnesses").json()["quorum"] == 2
