"""A server that shows different boards to different people (a split view) is
caught by the election's witnesses: the unmodified clients (the trustee's
client, ``voting receipt check``) behind a malicious server stand-in require
the quorum's cosignatures on the head they rely on and compare heads with the
witnesses' own logs (docs/parts/witness.md, docs/threat-model.md).

Here the witnesses are keys the test holds and cosigns with directly, so each
test controls exactly which heads are cosigned; tests/test_witness.py runs the
real witness process, and ``test_a_forking_server_*`` below runs it against
two real boards.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crypto import log as merkle
from crypto.credentials import TrustStore
from crypto.encoding import canonical_json
from crypto.receipts import make_receipt
from crypto.witness import CosignedHead, cosign
from tests.http_support import start_pilot
from tests.mitm_support import Mitm, Reply, Request
from tests.support import free_port, make_pki, manifest, start_server
from voting import witnessed
from voting.cli import main as cli
from voting.client import Client, TrusteeRefusal, trustee_decrypt
from voting.keys import load_or_create
from voting.record import files as F
from voting.record.files import read_record_zip
from voting.verify import Bad, verify_receipt_in_record
from voting.witness import report_path

VOTERS = [f"E{i:04d}" for i in range(1, 6)]


@pytest.fixture
def witness_keys():
    return [Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()]


def _witnessed_manifest(election_id: str, keys: list[Ed25519PrivateKey], quorum: int = 2) -> dict:
    doc = manifest(election_id)
    doc["witnesses"] = {
        "quorum": quorum,
        "members": [
            {"name": name, "public_key": key.public_key().public_bytes_raw().hex()}
            for name, key in zip(["監査事務局", "職員組合"], keys, strict=False)
        ],
    }
    return doc


def _cosign_newest(pilot, election_id: str, keys: list[Ed25519PrivateKey]) -> merkle.SignedTreeHead:
    """Play honest witnesses: cosign the board's newest head and post it."""
    doc = pilot.admin.get(f"/api/elections/{election_id}/board/head")
    head = merkle.SignedTreeHead.from_json({k: v for k, v in doc.items() if k != "server_key"})
    for key in keys:
        cosignature = cosign(key, head.head, head.head.timestamp_ms + 1)
        pilot.admin.post(f"/api/elections/{election_id}/board/cosignatures", {"size": head.head.size, "cosignature": cosignature.to_json()})
    return head


def _cast(pilot, election_id: str, voters: list[str]) -> list[dict]:
    receipts = []
    for number, employee_id in enumerate(voters):
        voter = pilot.login(pilot.pki.enroll(employee_id))
        receipts.append(voter.cast(voter.prepare_ballot(election_id, {"q1": [f"o{number % 5}"]})))
    return receipts


# --- the trustee ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_trustee_waits_for_the_witnesses_and_refuses_a_board_they_did_not_cosign(pilot, witness_keys, monkeypatch):
    monkeypatch.setattr(witnessed, "TRUSTEE_WAIT_S", 0.5)
    election_id = pilot.open_election(_witnessed_manifest("w-trustee", witness_keys), VOTERS)
    _cast(pilot, election_id, VOTERS)
    pilot.admin.close_election(election_id)
    # Cosigned up to the last ballot, not the aggregate: not enough.
    name = "T0001"
    _cosign_newest(pilot, election_id, witness_keys[:1])
    with pytest.raises(TrusteeRefusal, match="witnesses have not cosigned the board"):
        trustee_decrypt(pilot.trustees[name], election_id, pilot.trustee_file(name, election_id))
    assert "partial_decryption" not in json.loads(pilot.trustee_file(name, election_id).read_text())
    # The quorum cosigns the closed board: the trustee decrypts.
    _cosign_newest(pilot, election_id, witness_keys)
    trustee_decrypt(pilot.trustees[name], election_id, pilot.trustee_file(name, election_id))


@pytest.mark.slow
def test_trustee_refuses_a_cosigned_head_of_another_board(pilot, front, witness_keys, monkeypatch):
    """The server shows the trustee its board, and serves as "cosigned" a head
    the witnesses cosigned on the board everybody else sees (forged here: the
    stand-in holds the server's key and the witnesses cosign what it shows them)."""
    monkeypatch.setattr(witnessed, "TRUSTEE_WAIT_S", 0.5)
    election_id = pilot.open_election(_witnessed_manifest("w-fork", witness_keys), VOTERS)
    _cast(pilot, election_id, VOTERS)
    pilot.admin.close_election(election_id)
    server = load_or_create(pilot.data_dir / "server-signing-key.pem")
    real = _cosign_newest(pilot, election_id, witness_keys)
    other = merkle.sign_tree_head(
        server.private_key, merkle.TreeHead(election_id, real.head.size + 3, bytes(32), real.head.timestamp_ms + 5)
    )
    forged = CosignedHead(other, tuple(cosign(k, other.head, other.head.timestamp_ms) for k in witness_keys))

    def serve_other_branch(request: Request) -> Reply | None:
        if request.path.endswith("/board/cosigned"):
            return Reply(200, {"content-type": "application/json"}, json.dumps(forged.to_json()).encode())
        return None

    front.on_request = serve_other_branch
    name = "T0001"
    with pytest.raises(TrusteeRefusal, match="cannot prove they are one board"):
        trustee_decrypt(pilot.trustees[name], election_id, pilot.trustee_file(name, election_id))
    front.on_request = None
    trustee_decrypt(pilot.trustees[name], election_id, pilot.trustee_file(name, election_id))


@pytest.mark.slow
def test_trustee_refuses_cosignatures_by_witnesses_the_election_does_not_name(pilot, front, witness_keys, monkeypatch):
    monkeypatch.setattr(witnessed, "TRUSTEE_WAIT_S", 0.5)
    election_id = pilot.open_election(_witnessed_manifest("w-strangers", witness_keys), VOTERS)
    _cast(pilot, election_id, VOTERS)
    pilot.admin.close_election(election_id)
    real = _cosign_newest(pilot, election_id, witness_keys[:1])
    strangers = [Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()]
    claimed = CosignedHead(real, tuple(cosign(k, real.head, 1) for k in strangers))
    front.on_request = lambda r: (
        Reply(200, {"content-type": "application/json"}, json.dumps(claimed.to_json()).encode())
        if r.path.endswith("/board/cosigned") else None
    )
    with pytest.raises(TrusteeRefusal, match="cosigned head does not hold"):
        trustee_decrypt(pilot.trustees["T0001"], election_id, pilot.trustee_file("T0001", election_id))


# --- the voter's receipt check ---------------------------------------------------------------------


def _receipt_check(path, url: str) -> tuple[int, str]:
    """Exit status, and the output with whitespace and table rules removed (a
    cell's text wraps across lines): compare with ``_flat(phrase)``."""
    result = CliRunner().invoke(cli, ["receipt", "check", "--server", url, str(path)])
    return result.exit_code, _flat(result.output)


def _flat(text: str) -> str:
    return re.sub(r"[\s│┃]+", "", text)


@pytest.mark.slow
def test_receipt_check_waits_for_then_completes_the_receipt_with_the_quorum(pilot, witness_keys, tmp_path):
    election_id = pilot.open_election(_witnessed_manifest("w-receipt", witness_keys), VOTERS)
    receipt = _cast(pilot, election_id, VOTERS[:1])[0]
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(receipt))
    code, output = _receipt_check(path, pilot.url)
    assert code == witnessed_pending_exit(), output
    assert _flat("run this again in a few minutes") in output
    assert "witnessed" not in json.loads(path.read_text())
    _cosign_newest(pilot, election_id, witness_keys)
    code, output = _receipt_check(path, pilot.url)
    assert code == 0, output
    completed = json.loads(path.read_text())
    assert completed["witnessed"]["cosigned"]["tree_head"]["size"] >= receipt["leaf_index"] + 1
    assert {k: v for k, v in completed.items() if k != "witnessed"} == receipt  # the signed part is untouched
    # Checked again, the completion itself is what is relied on.
    code, output = _receipt_check(path, pilot.url)
    assert code == 0, output


def witnessed_pending_exit() -> int:
    from voting.cli.receipt import PENDING_EXIT

    return PENDING_EXIT


@pytest.mark.slow
def test_receipt_check_refuses_a_cosigned_head_that_does_not_hold_the_ballot(pilot, front, witness_keys, tmp_path):
    """The server hands the voter's check a head cosigned by the witnesses on the
    board everybody else sees, without the voter's ballot."""
    election_id = pilot.open_election(_witnessed_manifest("w-hidden", witness_keys), VOTERS)
    receipt = _cast(pilot, election_id, VOTERS[:1])[0]
    server = load_or_create(pilot.data_dir / "server-signing-key.pem")
    other = merkle.sign_tree_head(
        server.private_key, merkle.TreeHead(election_id, receipt["leaf_index"] + 4, bytes(32), 1767225600000)
    )
    forged = CosignedHead(other, tuple(cosign(k, other.head, 1) for k in witness_keys))
    front.on_request = lambda r: (
        Reply(200, {"content-type": "application/json"}, json.dumps(forged.to_json()).encode())
        if r.path.endswith("/board/cosigned") else None
    )
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(receipt))
    code, output = _receipt_check(path, front.url)
    assert code == 1, output
    assert _flat("split view") in output and _flat("監査事務局") in output
    assert "witnessed" not in json.loads(path.read_text())


@pytest.mark.slow
def test_receipt_check_is_not_fooled_by_a_manifest_with_the_servers_own_witnesses(pilot, front, witness_keys, tmp_path):
    """The server swaps the manifest's witnesses for keys it holds, and cosigns
    with them: the tracking code no longer recomputes, so the check fails."""
    election_id = pilot.open_election(_witnessed_manifest("w-swap", witness_keys), VOTERS)
    receipt = _cast(pilot, election_id, VOTERS[:1])[0]
    own = [Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()]
    own_members = _witnessed_manifest("w-swap", own)["witnesses"]

    def swap(request: Request, reply: Reply) -> Reply:
        if request.path.endswith("/board/entries") and reply.status == 200:
            doc = reply.json()
            for entry in doc["entries"]:
                if entry["kind"] == "election-created":
                    entry["body"]["manifest"]["witnesses"] = own_members
            return reply.with_json(doc)
        return reply

    front.on_response = swap
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(receipt))
    code, output = _receipt_check(path, front.url)
    assert code == 1, output
    assert _flat("not the ones this ballot was made for") in output


@pytest.mark.slow
def test_a_receipt_not_cosigned_long_after_casting_fails(pilot, witness_keys):
    election_id = pilot.open_election(_witnessed_manifest("w-late", witness_keys), VOTERS)
    receipt = _cast(pilot, election_id, VOTERS[:1])[0]
    head = merkle.SignedTreeHead.from_json(receipt["tree_head"])
    key = bytes.fromhex(receipt["server_key"])
    client = pilot.client()
    soon = witnessed.check_receipt_witnesses(client, receipt, head, key, now_ms=head.head.timestamp_ms + 60_000)
    assert soon.status == "pending"
    late = witnessed.check_receipt_witnesses(client, receipt, head, key, now_ms=head.head.timestamp_ms + witnessed.GRACE_MS + 1)
    assert late.status == "fail" and "have not seen your ballot" in late.detail


@pytest.mark.slow
def test_an_election_without_witnesses_says_so(pilot):
    election_id = pilot.open_election(manifest("w-none"), VOTERS)
    receipt = _cast(pilot, election_id, VOTERS[:1])[0]
    head = merkle.SignedTreeHead.from_json(receipt["tree_head"])
    report = witnessed.check_receipt_witnesses(pilot.client(), receipt, head, bytes.fromhex(receipt["server_key"]))
    assert report.status == "none" and "split view could not be detected" in report.detail


# --- a forking server against real witness processes ---------------------------------------------


def _witness_process(state: Path, server_url: str, election_id: str, port: int, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "voting.cli", "witness", "run", "--state", str(state), "--server", server_url,
         "--election", election_id, "--listen", f"127.0.0.1:{port}", "--interval", "0.2"],
        stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )


def _wait_for(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _cosigned_size(url: str, election_id: str) -> int:
    response = httpx.get(f"{url}/api/elections/{election_id}/board/cosigned", timeout=10)
    return response.json()["tree_head"]["size"] if response.status_code == 200 else 0


def _fork_database(source: Path, data_a: Path, data_b: Path) -> str:
    """Server B starts from a consistent copy of server A's database and key:
    from here on, the two boards share a prefix and then differ."""
    shutil.copytree(data_a, data_b, ignore=shutil.ignore_patterns("voting.sqlite3*", "*.log"))
    target = data_b / "voting.sqlite3"
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return f"sqlite:///{target}"


@pytest.mark.slow
def test_a_forking_server_is_refused_by_the_witnesses_and_caught_by_the_voters(tmp_path):
    """The attack of the issue: a server shows group A one board and group B
    another (here two real servers with the same key and a shared prefix,
    behind one stand-in for the witnesses). The two witness processes cosign
    A's board, then, shown B's, refuse it with a report; B's receipts never
    reach the quorum, and ``voting receipt check`` on a B receipt fails naming
    what happened and whom to tell, while A's checks out. (SQLite only: the
    fork is a copy of the database file.)"""
    data_a, data_b = tmp_path / "a", tmp_path / "b"
    data_a.mkdir()
    pki = make_pki(data_a)
    pilot = start_pilot(pki, data_a, f"sqlite:///{data_a / 'voting.sqlite3'}")
    front = Mitm(upstream=pilot.server.url).start()
    processes: list[subprocess.Popen] = []
    server_b = None
    try:
        states, members = [], []
        for number, name in enumerate(["監査事務局", "職員組合"]):
            state, port = tmp_path / f"witness-{number}.json", free_port()
            result = CliRunner().invoke(cli, ["witness", "init", "--state", str(state), "--name", name, "--url", f"http://127.0.0.1:{port}"])
            assert result.exit_code == 0, result.output
            states.append((state, port))
            members.append({"name": name, "public_key": json.loads(state.read_text())["public_key"], "url": f"http://127.0.0.1:{port}"})
        doc = manifest("fork-2026")
        doc["witnesses"] = {"quorum": 2, "members": members}
        election_id = pilot.open_election(doc, VOTERS)
        processes = [_witness_process(s, front.url, election_id, p, tmp_path / f"witness-{p}.log") for s, p in states]

        first = _cast(pilot, election_id, VOTERS[:1])[0]
        _wait_for(lambda: _cosigned_size(pilot.url, election_id) > first["leaf_index"], "the quorum on A's first ballot")

        url_b = _fork_database(data_a / "voting.sqlite3", data_a, data_b)
        fork_size = pilot.admin.get(f"/api/elections/{election_id}/board/head")["size"]
        server_b = start_server(data_b, url_b)
        receipt_a = _cast(pilot, election_id, VOTERS[1:2])[0]
        _wait_for(lambda: _cosigned_size(pilot.url, election_id) > receipt_a["leaf_index"], "the quorum on A's board")
        receipts_b = []
        for employee_id in VOTERS[2:4]:
            voter = Client(server_b.url, trust_store=TrustStore((pki.root.certificate,)))
            voter.login(pki.enroll(employee_id))
            receipts_b.append(voter.cast(voter.prepare_ballot(election_id, {"q1": ["o2"]})))
            voter.close()
        assert receipts_b[-1]["tree_head"]["size"] > receipt_a["tree_head"]["size"]

        # The stand-in now shows the witnesses board B.
        front.upstream = server_b.url
        reports = [report_path(state, election_id) for state, _ in states]
        _wait_for(lambda: all(r.exists() for r in reports), "both witnesses to refuse board B")
        for (state, _), report in zip(states, reports, strict=True):
            assert json.loads(state.read_text())["elections"][election_id]["refused"]
            assert json.loads(report.read_text())
        seen_b = httpx.get(f"{server_b.url}/api/elections/{election_id}/board/witnesses").json()
        time.sleep(1.0)  # five more polls: a refused election is never cosigned again
        assert httpx.get(f"{server_b.url}/api/elections/{election_id}/board/witnesses").json() == seen_b
        # B's ballots never reach the quorum.
        assert _cosigned_size(server_b.url, election_id) <= fork_size

        path_b = tmp_path / "receipt-b.json"
        path_b.write_text(json.dumps(receipts_b[-1]))
        code, output = _receipt_check(path_b, server_b.url)
        assert code == 1, output
        assert _flat("split view") in output and _flat("監査事務局") in output and _flat("職員組合") in output
        path_a = tmp_path / "receipt-a.json"
        path_a.write_text(json.dumps(receipt_a))
        code, output = _receipt_check(path_a, pilot.url)
        assert code == 0, output
        assert "witnessed" in json.loads(path_a.read_text())
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
        front.stop()
        if server_b is not None:
            server_b.stop()
        pilot.stop()


@pytest.mark.slow
def test_the_cli_voter_saves_the_receipt_completed_by_the_witnesses(pilot, witness_keys, tmp_path):
    """``voting vote`` never waits to save the receipt, then completes it once
    the quorum cosigned a head holding the ballot (here: test-held witness keys
    cosigning the newest head every 0.2 s in a thread)."""
    from crypto.credentials import certificate_to_pem, seal_credential

    election_id = pilot.open_election(_witnessed_manifest("w-cli", witness_keys), VOTERS)
    credential = pilot.pki.enroll(VOTERS[0])
    path = tmp_path / "E0001.credential.json"
    path.write_text(json.dumps(seal_credential(credential.private_key, credential.chain, "123456", employee_id=VOTERS[0], name="職員", iterations=1000)))
    (tmp_path / "root.pem").write_text(certificate_to_pem(pilot.pki.root.certificate))
    stop = threading.Event()

    def witnesses() -> None:
        while not stop.wait(0.2):
            _cosign_newest(pilot, election_id, witness_keys)

    thread = threading.Thread(target=witnesses, daemon=True)
    thread.start()
    try:
        receipt_path = tmp_path / "receipt.json"
        args = ["vote", election_id, "-c", str(path), "--pin", "123456", "--server", pilot.url, "--choose", "q1=o1",
                "--yes", "--receipt", str(receipt_path), "--wait-witnesses", "30"]
        result = CliRunner().invoke(cli, args)
    finally:
        stop.set()
        thread.join(10)
    assert result.exit_code == 0, result.output
    assert "立会人が確認しました" in result.output
    receipt = json.loads(receipt_path.read_text())
    head = merkle.SignedTreeHead.from_json(receipt["tree_head"])
    report = witnessed.check_receipt_witnesses(pilot.client(), receipt, head, bytes.fromhex(receipt["server_key"]))
    assert report.status == "pass" and len(report.cosigned_by) == 2 and report.completed is None


@pytest.mark.slow
def test_verify_receipt_against_a_record_requires_the_witnesses_on_its_board(pilot, witness_keys):
    """``voting verify-receipt --record``: the record's whole board must be
    cosigned by the quorum, and a witnessed head the receipt carries must be a
    head of that board (otherwise voter and record saw different boards)."""
    election_id = pilot.open_election(_witnessed_manifest("w-record", witness_keys), VOTERS)
    receipt = _cast(pilot, election_id, VOTERS[:1])[0]
    _cosign_newest(pilot, election_id, witness_keys)
    head = merkle.SignedTreeHead.from_json(receipt["tree_head"])
    completed = witnessed.check_receipt_witnesses(pilot.client(), receipt, head, bytes.fromhex(receipt["server_key"])).completed
    assert completed is not None
    pilot.admin.close_election(election_id)

    def record() -> dict:
        return read_record_zip(pilot.admin.http.get(f"/api/elections/{election_id}/record").content)

    with pytest.raises(Bad, match="has not cosigned this record's board"):
        verify_receipt_in_record(completed, record())
    _cosign_newest(pilot, election_id, witness_keys)
    outcome = verify_receipt_in_record(completed, record())
    assert sorted(outcome["witnesses"]) == sorted(["監査事務局", "職員組合"])
    # A receipt completed with a cosigned head of another board (forged with the server's key).
    server = load_or_create(pilot.data_dir / "server-signing-key.pem")
    other = merkle.sign_tree_head(server.private_key, merkle.TreeHead(election_id, head.head.size, bytes(32), 1))
    forked = {**receipt, "witnessed": {
        "cosigned": CosignedHead(other, tuple(cosign(k, other.head, 1) for k in witness_keys)).to_json(),
        "consistency": {"old_size": head.head.size, "new_size": head.head.size, "path": []},
    }}
    with pytest.raises(Exception, match="consistency|equal sizes|split view"):
        verify_receipt_in_record(forked, record())


# --- found by the attack review: each failed on the first version of this change ---------------------


def _json(doc) -> Reply:
    return Reply(200, {"content-type": "application/json"}, json.dumps(doc).encode())


@pytest.mark.slow
def test_trustee_refuses_aggregate_not_covered_by_the_cosigned_branch(pilot, front, witness_keys, monkeypatch):
    """The server shows the trustee an older real head (before the aggregate),
    the real record, and as "cosigned" a head of another branch that extends
    that old head: the witnesses must have cosigned the record's own board."""
    monkeypatch.setattr(witnessed, "TRUSTEE_WAIT_S", 0.5)
    election_id = pilot.open_election(_witnessed_manifest("rt-trustee", witness_keys), VOTERS)
    _cast(pilot, election_id, VOTERS)
    entries = pilot.admin.get(f"/api/elections/{election_id}/board/entries", limit=500)["entries"]
    h = len(entries)  # the board before election-closed
    old = pilot.admin.get(f"/api/elections/{election_id}/board/consistency", old=1, new=h)["tree_head"]
    pilot.admin.close_election(election_id)
    after = pilot.admin.get(f"/api/elections/{election_id}/board/entries", limit=500)["entries"]
    aggregate_index = next(e["index"] for e in after if e["kind"] == "aggregate")
    assert aggregate_index >= h

    # Branch Y: the first h real entries, then entries of the server's choosing.
    server = load_or_create(pilot.data_dir / "server-signing-key.pem")
    log = merkle.MemoryLog()
    for e in entries:
        log.append(canonical_json(e))
    for i in range(aggregate_index + 2 - h):
        log.append(canonical_json({"kind": "admin-action", "index": h + i, "election_id": election_id, "body": {"x": i}}))
    s = log.size
    y_head = merkle.sign_tree_head(server.private_key, merkle.TreeHead(election_id, s, log.root(s), old["timestamp_ms"] + 10))
    y_cosigned = CosignedHead(y_head, tuple(cosign(k, y_head.head, old["timestamp_ms"] + 11) for k in witness_keys))
    y_proof = {"old_size": h, "new_size": s, "path": [p.hex() for p in log.consistency_proof(h, s)]}
    server_key = server.public_bytes.hex() if hasattr(server, "public_bytes") else None

    def hook(r: Request) -> Reply | None:
        q = dict(urllib.parse.parse_qsl(r.query))
        if r.path.endswith("/board/head"):
            return _json({**old, "server_key": server_key or pilot.admin.get("/api/server-key")["server_key"]})
        if r.path.endswith("/board/cosigned"):
            return _json(y_cosigned.to_json())
        if r.path.endswith("/board/consistency") and q.get("old") == str(h) and q.get("new") == str(s):
            return _json({"proof": y_proof, "tree_head": y_head.to_json()})
        return None

    front.on_request = hook
    name = "T0001"
    with pytest.raises(TrusteeRefusal):
        trustee_decrypt(pilot.trustees[name], election_id, pilot.trustee_file(name, election_id))
    assert "partial_decryption" not in json.loads(pilot.trustee_file(name, election_id).read_text())


YEAR_MS = 365 * 24 * 3600 * 1000


@pytest.mark.slow
def test_a_future_dated_receipt_head_never_fails_for_missing_witnesses(pilot, witness_keys):
    """The grace period runs from the head's time, which the server signs: a
    head dated a year ahead must not keep a never-cosigned ballot "pending"."""
    election_id = pilot.open_election(_witnessed_manifest("rt-grace", witness_keys), VOTERS)
    honest = _cast(pilot, election_id, VOTERS[:1])[0]
    server = load_or_create(pilot.data_dir / "server-signing-key.pem")
    real = merkle.SignedTreeHead.from_json(honest["tree_head"])
    future = merkle.sign_tree_head(server.private_key, merkle.TreeHead(
        election_id, real.head.size, real.head.root, real.head.timestamp_ms + YEAR_MS))
    receipt = make_receipt(server.private_key, server.public_bytes, honest["entry"], future,
                           merkle.InclusionProof.from_json(honest["inclusion_proof"]))
    client = pilot.client()
    client.check_receipt(receipt)  # the receipt checks out against the board
    key = bytes.fromhex(receipt["server_key"])
    a_day_later = int(time.time() * 1000) + 24 * 3600 * 1000
    control = witnessed.check_receipt_witnesses(client, honest, real, key, now_ms=a_day_later)
    assert control.status == "fail", control.detail
    report = witnessed.check_receipt_witnesses(client, receipt, future, key, now_ms=a_day_later)
    assert report.status == "fail", f"a day after casting, never cosigned, still: {report.status}: {report.detail}"


@pytest.mark.slow
def test_vote_does_not_confirm_a_receipt_that_is_not_for_this_ballot(pilot, front, witness_keys, tmp_path):
    """The server drops the ballot and returns another voter's real receipt:
    ``voting vote`` must neither save it as the voter's nor call it confirmed."""
    from crypto.credentials import certificate_to_pem, seal_credential

    election_id = pilot.open_election(_witnessed_manifest("rt-vote", witness_keys), VOTERS)
    other = _cast(pilot, election_id, VOTERS[1:2])[0]  # someone else's real receipt
    _cosign_newest(pilot, election_id, witness_keys)
    credential = pilot.pki.enroll(VOTERS[0])
    cred = tmp_path / "E0001.credential.json"
    cred.write_text(json.dumps(seal_credential(credential.private_key, credential.chain, "123456",
                                               employee_id=VOTERS[0], name="職員", iterations=1000)))
    (tmp_path / "root.pem").write_text(certificate_to_pem(pilot.pki.root.certificate))

    def drop_ballot(r: Request) -> Reply | None:
        if r.method == "POST" and re.search(r"/ballots/?$", r.path):
            return Reply(200, {"content-type": "application/json"}, json.dumps(other).encode())
        return None

    front.on_request = drop_ballot
    receipt_path = tmp_path / "receipt.json"
    result = CliRunner().invoke(cli, ["vote", election_id, "-c", str(cred), "--pin", "123456", "--server", pilot.url,
                                      "--choose", "q1=o1", "--yes", "--receipt", str(receipt_path), "--wait-witnesses", "5"])
    front.on_request = None
    saved = json.loads(receipt_path.read_text()) if receipt_path.exists() else None
    confirmed = "立会人が確認しました" in result.output
    check = CliRunner().invoke(cli, ["receipt", "check", "--server", pilot.url, "--no-update", str(receipt_path)]) if saved else None
    assert not confirmed and result.exit_code != 0, (
        f"ballot dropped, receipt of {saved and saved['tracking_code'][:12]} (another voter's) saved; "
        f"vote exit {result.exit_code}, witnesses 'confirmed': {confirmed}; receipt check exit {check and check.exit_code}\n{result.output}"
    )


@pytest.mark.slow
def test_a_503_is_not_reported_as_a_split_view(pilot, front, witness_keys, tmp_path):
    """An overloaded server is "try again later", not an alarm to the audit office."""
    election_id = pilot.open_election(_witnessed_manifest("rt-503", witness_keys), VOTERS)
    receipt = _cast(pilot, election_id, VOTERS[:1])[0]
    _cosign_newest(pilot, election_id, witness_keys)
    seen = {"n": 0}

    def busy(r: Request) -> Reply | None:
        if r.path.endswith("/board/consistency"):
            seen["n"] += 1
            if seen["n"] >= 2:  # the first (newest head) passes, the witness step's gets a 503
                return Reply(503, {"content-type": "application/json"}, json.dumps({"code": "overloaded", "detail": "busy"}).encode())
        return None

    front.on_request = busy
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(receipt))
    result = CliRunner().invoke(cli, ["receipt", "check", "--server", front.url, "--no-update", str(path)])
    flat = re.sub(r"[\s│┃]+", " ", result.output)
    assert "split view" not in flat, f"exit {result.exit_code}: {flat[-900:]}"


@pytest.mark.parametrize("heads", [5, True, 1.5])
@pytest.mark.slow
def test_hostile_cosignatures_file_fails_not_crashes(pilot, witness_keys, heads):
    """``verify-receipt --record`` with a malformed cosignatures.json: a failed check, never a crash."""
    election_id = pilot.open_election(_witnessed_manifest(f"rt-rec-{str(heads).replace('.', '')}", witness_keys), VOTERS)
    receipt = _cast(pilot, election_id, VOTERS[:1])[0]
    pilot.admin.close_election(election_id)
    _cosign_newest(pilot, election_id, witness_keys)
    files = dict(read_record_zip(pilot.admin.http.get(f"/api/elections/{election_id}/record").content))
    doc = json.loads(files[F.COSIGNATURES])
    verify_receipt_in_record(receipt, files)  # the honest record passes
    doc["heads"] = heads
    files[F.COSIGNATURES] = json.dumps(doc).encode()
    with pytest.raises(Bad):
        verify_receipt_in_record(receipt, files)


def test_the_administrator_and_trustees_see_witness_keys_swapped_at_creation(pilot, front, witness_keys, tmp_path):
    """Found by the second attack review: the server swaps the witnesses' keys
    for its own (keeping their names) when the election is created. ``voting
    election create`` compares the board's signed manifest with the one sent;
    the trustee's confirmation shows each witness's key to compare with the
    election notice."""
    from crypto.credentials import certificate_to_pem, seal_credential
    from voting.cli.trustee import witnesses_text
    from voting.client import ceremony_view, load_trustee_state

    fake = [Ed25519PrivateKey.generate() for _ in witness_keys]

    def swap(request: Request) -> Reply | None:
        if request.method == "POST" and request.path.rstrip("/") == "/api/elections":
            body = request.json()
            for member, key in zip(body["manifest"]["witnesses"]["members"], fake, strict=True):
                member["public_key"] = key.public_key().public_bytes_raw().hex()
            headers = {k: v for k, v in request.headers.items() if k.lower() not in {"host", "content-length"}}
            response = httpx.post(front.upstream + request.path, headers=headers, content=json.dumps(body).encode())
            return Reply(response.status_code, dict(response.headers), response.content)
        return None

    admin = pilot.pki.enroll("A0001")
    credential = tmp_path / "admin.json"
    credential.write_text(json.dumps(seal_credential(admin.private_key, admin.chain, "123456", employee_id="A0001", name="管理者", iterations=1000)))
    (tmp_path / "root.pem").write_text(certificate_to_pem(pilot.pki.root.certificate))
    manifest_path = tmp_path / "manifest.json"
    manifest_path.write_text(json.dumps(_witnessed_manifest("w-swapped", witness_keys), ensure_ascii=False), encoding="utf-8")
    front.on_request = swap
    result = CliRunner().invoke(cli, [
        "election", "create", str(manifest_path), "--trustees", "T0001,T0002,T0003", "--threshold", "2",
        "-c", str(credential), "--pin", "123456", "--server", pilot.url,
    ])
    front.on_request = None
    assert result.exit_code == 1, result.output
    assert _flat("differs from yours in witnesses") in _flat(result.output)
    # The trustee is shown the keys the board names: not the ones on the notice.
    state = pilot.trustee_file("T0001", "w-swapped")
    trustee = pilot.login(pilot.trustee_credentials["T0001"])
    state.write_text(json.dumps({"election_id": "w-swapped"}))
    view = ceremony_view(trustee, "w-swapped", load_trustee_state(state))
    shown = witnesses_text(view.manifest.witnesses)
    assert fake[0].public_key().public_bytes_raw().hex()[:16] in shown
    assert witness_keys[0].public_key().public_bytes_raw().hex()[:16] not in shown
