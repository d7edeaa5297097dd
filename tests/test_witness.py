"""The witness (voting/witness.py, ``voting witness``) against the real server
over HTTP: it cosigns every new head until the server has the quorum; a server
stand-in that forks the board or fails a consistency proof is refused for good
with a report file; a witness killed with SIGKILL resumes from its state file;
a state file restored from an older copy is caught; its HTTP log serves what
it cosigned; its state file is private and a damaged one gives one clear line.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from crypto import log as merkle
from crypto.ballots import Manifest
from crypto.witness import CosignedHead, check_quorum, verify_cosignature
from tests.http_support import Pilot, board_heads
from tests.mitm_support import Mitm, Reply, Request
from tests.support import free_port, manifest, roll_csv
from voting import witness as w
from voting.cli import main as cli
from voting.keys import load_or_create

NAMES = ["監査事務局 (audit office)", "職員組合 (staff union)"]
ELECTION = "survey-2026"
_VOTERS = itertools.count(1)


# --- fixtures and helpers ------------------------------------------------------------------------


@pytest.fixture
def witness_files(tmp_path) -> list[Path]:
    paths = []
    for number, name in enumerate(NAMES, start=1):
        path = tmp_path / f"witness-{number}" / "state.json"
        w.create_state_file(path, w.new_state(name, f"http://127.0.0.1:{8000 + number}"))
        paths.append(path)
    return paths


def create_election(pilot: Pilot, witness_files: list[Path], quorum: int = 2, election_id: str = ELECTION) -> str:
    doc = manifest(election_id)
    doc["witnesses"] = {"quorum": quorum, "members": [w.load_state(p).member() for p in witness_files]}
    return pilot.create(doc, ["E0001", "E0002"])


def grow(pilot: Pilot, election_id: str = ELECTION, entries: int = 1) -> int:
    """Append entries to the board (each roll import is one), return its size."""
    for _ in range(entries):
        pilot.admin.import_roll(election_id, roll_csv([f"V{next(_VOTERS):05d}"]))
    return board_size(pilot, election_id)


def board_size(pilot: Pilot, election_id: str = ELECTION) -> int:
    return pilot.admin.get(f"/api/elections/{election_id}/board/head")["size"]


def runner(path: Path, pilot: Pilot, **kwargs) -> w.WitnessRunner:
    return w.WitnessRunner(path, w.BoardApi(pilot.url), **kwargs)


def server_key(pilot: Pilot) -> bytes:
    return load_or_create(pilot.data_dir / "server-signing-key.pem").public_bytes


def forged_head(pilot: Pilot, size: int, election_id: str = ELECTION) -> merkle.SignedTreeHead:
    """A head of another board, signed with the server's own key (as a
    malicious server would): same log, a root no honest board of it has."""
    key = load_or_create(pilot.data_dir / "server-signing-key.pem")
    head = merkle.TreeHead(election_id, size, secrets.token_bytes(32), int(time.time() * 1000))
    return merkle.sign_tree_head(key.private_key, head)


def serve_head(front: Mitm, sth: merkle.SignedTreeHead, server_key_hex: str) -> None:
    def on_request(request: Request) -> Reply | None:
        if request.method == "GET" and request.path.endswith("/board/head"):
            body = json.dumps({**sth.to_json(), "server_key": server_key_hex}).encode()
            return Reply(200, {"content-type": "application/json"}, body)
        return None

    front.on_request = on_request


def stored_newest(pilot: Pilot, path: Path, election_id: str = ELECTION) -> dict | None:
    mine = w.load_state(path).public_key.hex()
    doc = pilot.admin.get(f"/api/elections/{election_id}/board/witnesses")
    return next(m["newest"] for m in doc["witnesses"] if m["public_key"] == mine)


def cosignature_posts(front: Mitm) -> list[Request]:
    return [r for r in front.requests if r.method == "POST" and r.path.endswith("/board/cosignatures")]


def assert_every_stored_cosignature_is_on_the_real_board(pilot: Pilot, paths: list[Path], election_id: str = ELECTION) -> None:
    """What the server holds from these witnesses verifies and is over heads of
    the one real board (never a fork)."""
    real = {h.head.size: h for h in board_heads(pilot.admin, election_id)}
    for path in paths:
        newest = stored_newest(pilot, path, election_id)
        if newest is None:
            continue
        head = merkle.SignedTreeHead.from_json(newest["tree_head"])
        assert head == real[head.head.size]
        verify_cosignature(head.head, w.Cosignature.from_json(newest["cosignature"]))


# --- cosigning --------------------------------------------------------------------------------


def test_two_witnesses_cosign_each_new_head_and_the_server_reaches_quorum(pilot, witness_files, front) -> None:
    create_election(pilot, witness_files)
    # The first witness's clock stands still: its time_ms still grows with each head.
    runners = [runner(witness_files[0], pilot, clock=lambda: 5_000), runner(witness_files[1], pilot)]

    size = board_size(pilot)
    outcomes = [r.poll(ELECTION) for r in runners]
    assert [o.status for o in outcomes] == ["cosigned", "cosigned"], outcomes
    assert outcomes[0].message.startswith(f"cosigned head {size} of {ELECTION}")

    def cosigned() -> CosignedHead:
        return CosignedHead.from_json(pilot.admin.get(f"/api/elections/{ELECTION}/board/cosigned"))

    policy = Manifest.from_json(pilot.admin.get(f"/api/elections/{ELECTION}")["manifest"]).witnesses
    first = cosigned()
    assert first.tree_head.head.size == size
    assert {x.name for x in check_quorum(policy, server_key(pilot), first)} == set(NAMES)

    times = []
    for _ in range(3):
        size = grow(pilot, entries=2)
        assert [r.poll(ELECTION).status for r in runners] == ["cosigned", "cosigned"]
        assert cosigned().tree_head.head.size == size
        times.append(w.load_state(witness_files[0]).elections[ELECTION].cosigned.cosignature.time_ms)
        for path in witness_files:
            election = w.load_state(path).elections[ELECTION]
            assert election.cosigned.size == size and election.server_key == server_key(pilot)
    assert times == [5_001, 5_002, 5_003]  # max(clock, previous + 1): never two cosignatures at one time
    assert [r.poll(ELECTION).status for r in runners] == ["current", "current"]
    assert len(cosignature_posts(front)) == 8  # one per witness and head, nothing twice
    assert_every_stored_cosignature_is_on_the_real_board(pilot, witness_files)


def test_a_cosignature_the_server_missed_is_sent_again(pilot, witness_files, front) -> None:
    """The state is written before the cosignature is sent: a lost POST is
    repeated next round, and after a restart too."""
    create_election(pilot, witness_files)
    front.on_request = lambda r: Reply(503, {}, b"down") if r.method == "POST" else None
    first = runner(witness_files[0], pilot)
    outcome = first.poll(ELECTION)
    assert outcome.status == "cosigned"
    assert w.load_state(witness_files[0]).elections[ELECTION].cosigned.size == board_size(pilot)
    assert stored_newest(pilot, witness_files[0]) is None

    front.on_request = None
    assert first.poll(ELECTION).status == "current"
    assert stored_newest(pilot, witness_files[0])["tree_head"]["size"] == board_size(pilot)

    # Lost again, then the witness restarts: /board/witnesses shows the server lacks it.
    grow(pilot)
    front.on_request = lambda r: Reply(503, {}, b"down") if r.method == "POST" else None
    assert first.poll(ELECTION).status == "cosigned"
    front.on_request = None
    assert runner(witness_files[0], pilot).poll(ELECTION).status == "current"
    assert stored_newest(pilot, witness_files[0])["tree_head"]["size"] == board_size(pilot)


def test_an_election_that_does_not_name_the_witness_is_not_witnessed(pilot, witness_files, front, tmp_path) -> None:
    create_election(pilot, witness_files[:1], quorum=1)
    outcome = runner(witness_files[1], pilot).poll(ELECTION)
    assert outcome.status == "not_named" and "does not name this witness" in outcome.message
    assert ELECTION not in w.load_state(witness_files[1]).elections
    assert not cosignature_posts(front)


def test_a_head_not_signed_by_the_pinned_key_is_neither_cosigned_nor_a_refusal(pilot, witness_files, front) -> None:
    """An unsigned head proves nothing (anyone on the path can send one): it is
    reported each round and the election is witnessed again once heads verify."""
    create_election(pilot, witness_files)
    witness = runner(witness_files[0], pilot)
    assert witness.poll(ELECTION).status == "cosigned"
    size = grow(pilot)
    bad = forged_head(pilot, size)
    serve_head(front, merkle.SignedTreeHead(bad.head, bytes(64)), server_key(pilot).hex())
    outcome = witness.poll(ELECTION)
    assert outcome.status == "unavailable" and "not signed by the server key" in outcome.message
    front.on_request = None
    assert witness.poll(ELECTION).status == "cosigned"


# --- refusing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fork", ["same-size", "larger", "bad-proof"])
def test_a_forked_board_or_a_bad_proof_is_refused_for_good(pilot, witness_files, front, fork) -> None:
    create_election(pilot, witness_files)
    witness = runner(witness_files[0], pilot)
    assert witness.poll(ELECTION).status == "cosigned"
    cosigned = w.load_state(witness_files[0]).elections[ELECTION].cosigned
    key_hex = server_key(pilot).hex()
    if fork == "same-size":
        serve_head(front, forged_head(pilot, cosigned.size), key_hex)
    elif fork == "larger":
        grow(pilot)
        serve_head(front, forged_head(pilot, cosigned.size + 5), key_hex)
    else:
        grow(pilot, entries=3)

        def bad_proof(request: Request, reply: Reply) -> Reply:
            if request.path.endswith("/board/consistency") and reply.status == 200:
                doc = reply.json()
                doc["proof"]["path"][0] = secrets.token_hex(32)
                return reply.with_json(doc)
            return reply

        front.on_response = bad_proof
    posts = len(cosignature_posts(front))

    outcome = witness.poll(ELECTION)
    assert outcome.status == "refused", outcome
    assert "REFUSED" in outcome.message and "連署を永久に停止" in outcome.message
    report_file = witness_files[0].with_name(f"state.json.refused-{ELECTION}.json")
    assert str(report_file) in outcome.message
    report = json.loads(report_file.read_text(encoding="utf-8"))
    assert report["format"] == w.REPORT_FORMAT and report["election_id"] == ELECTION
    assert report["cosigned"] == cosigned.to_json()
    assert report["server_key"] == key_hex and report["witness"]["name"] == NAMES[0]
    if fork == "bad-proof":
        assert "consistency proof fails" in report["reason"] and report["consistency"]["proof"]["path"]
    else:
        assert report["server_head"]["root"] != cosigned.tree_head.head.root.hex()
    state = w.load_state(witness_files[0]).elections[ELECTION]
    assert state.refused["report"] == str(report_file) and state.cosigned == cosigned

    # Never again: not after the board behaves, not after a restart.
    front.on_request = front.on_response = None
    grow(pilot)
    assert witness.poll(ELECTION).status == "refused"
    assert w.WitnessRunner(witness_files[0], w.BoardApi(pilot.url)).poll(ELECTION).status == "refused"
    assert len(cosignature_posts(front)) == posts
    assert stored_newest(pilot, witness_files[0])["tree_head"] == cosigned.tree_head.to_json()
    # The other witness, unaffected, goes on cosigning the real board.
    assert runner(witness_files[1], pilot).poll(ELECTION).status == "cosigned"
    assert_every_stored_cosignature_is_on_the_real_board(pilot, witness_files)


@pytest.mark.parametrize("backup", ["before-first-contact", "older-head"])
def test_a_state_file_restored_from_an_older_copy_is_refused(pilot, witness_files, front, tmp_path, backup) -> None:
    create_election(pilot, witness_files)
    path = witness_files[0]
    copy = tmp_path / "backup.json"
    if backup == "before-first-contact":
        shutil.copy2(path, copy)
    assert runner(path, pilot).poll(ELECTION).status == "cosigned"
    if backup == "older-head":
        shutil.copy2(path, copy)
    grow(pilot)
    witness = runner(path, pilot)
    assert witness.poll(ELECTION).status == "cosigned"
    newest = w.load_state(path).elections[ELECTION].cosigned
    posts = len(cosignature_posts(front))

    shutil.copy2(copy, path)  # the operator "restores the backup"
    outcome = runner(path, pilot).poll(ELECTION)
    assert outcome.status == "refused" and "restored from an older copy" in outcome.message
    report = json.loads(path.with_name(f"state.json.refused-{ELECTION}.json").read_text(encoding="utf-8"))
    assert report["server_holds"] == newest.to_json()
    assert w.load_state(path).elections[ELECTION].refused is not None
    assert len(cosignature_posts(front)) == posts


# --- crash safety: SIGKILL and restart ---------------------------------------------------------


def _start_witness(path: Path, url: str, listen_port: int, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "voting.cli", "witness", "run", "--state", str(path), "--server", url,
         "--election", ELECTION, "--interval", "0.1", "--listen", f"127.0.0.1:{listen_port}"],
        env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=log.open("a"), stderr=subprocess.STDOUT,
    )


def _wait(condition, what: str, log: Path, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except (w.WitnessStateError, httpx.HTTPError):
            value = None  # the state file is replaced atomically, so this is only "not there yet"
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}:\n{log.read_text(encoding='utf-8')}")


@pytest.mark.slow
def test_a_witness_killed_mid_election_resumes_from_its_state_file(pilot, witness_files, front, tmp_path) -> None:
    create_election(pilot, witness_files)
    path, log, port = witness_files[0], tmp_path / "witness.log", free_port()

    def cosigned_size() -> int:
        election = w.load_state(path).elections.get(ELECTION)
        return election.cosigned.size if election and election.cosigned else 0

    process = _start_witness(path, pilot.url, port, log)
    try:
        _wait(lambda: cosigned_size() == board_size(pilot), "the first cosignature", log)
        for _ in range(6):  # the board grows while the witness works; killed at some point in it
            grow(pilot)
            time.sleep(secrets.randbelow(150) / 1000)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        before = w.load_state(path).elections[ELECTION].cosigned  # whole, and valid: written atomically
        assert before is not None and mode(path) == 0o600

        size = grow(pilot, entries=2)
        process = _start_witness(path, pilot.url, port, log)
        _wait(lambda: cosigned_size() == size, "the restarted witness to catch up", log)
        assert f"resuming after head {before.size}" in log.read_text(encoding="utf-8")
        _wait(lambda: (stored_newest(pilot, path) or {}).get("tree_head", {}).get("size") == size, "the server to have it", log)
        served = httpx.get(f"http://127.0.0.1:{port}/elections/{ELECTION}").json()
        assert served["tree_head"]["size"] == size

        # Now the server forks: the restarted witness refuses, from the head it
        # cosigned before the kill onwards, and cosigns nothing inconsistent.
        serve_head(front, forged_head(pilot, size + 3), server_key(pilot).hex())
        report = path.with_name(f"state.json.refused-{ELECTION}.json")
        _wait(report.exists, "the refusal report", log)
        _wait(lambda: "ERROR REFUSED" in log.read_text(encoding="utf-8"), "the loud refusal", log)
        assert w.load_state(path).elections[ELECTION].cosigned.size == size
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0, log.read_text(encoding="utf-8")
    output = log.read_text(encoding="utf-8")
    assert "Traceback" not in output and "Witness stopped" in output
    front.on_request = None
    assert_every_stored_cosignature_is_on_the_real_board(pilot, witness_files)
    sizes = [json.loads(r.body)["size"] for r in cosignature_posts(front)]
    real = {h.head.size: h.head.root for h in board_heads(pilot.admin, ELECTION)}
    assert sizes == sorted(sizes) and all(s in real for s in sizes)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- the HTTP log ----------------------------------------------------------------------------


def test_the_http_log_serves_the_newest_cosigned_head_with_cors(pilot, witness_files) -> None:
    create_election(pilot, witness_files)
    witness = runner(witness_files[0], pilot)
    log_server = w.LogServer("127.0.0.1", 0, view=lambda: witness.state).start()
    try:
        url = log_server.url
        index = httpx.get(url + "/")
        assert index.headers["access-control-allow-origin"] == "*"
        assert index.headers["content-type"].startswith("application/json")
        assert index.json() == {"name": NAMES[0], "public_key": witness.state.public_key.hex(), "elections": []}
        missing = httpx.get(f"{url}/elections/{ELECTION}")
        assert missing.status_code == 404 and missing.headers["access-control-allow-origin"] == "*"

        for _ in range(2):
            witness.poll(ELECTION)
            doc = httpx.get(f"{url}/elections/{ELECTION}").json()
            cosigned = witness.state.elections[ELECTION].cosigned
            assert doc == {"server_key": server_key(pilot).hex(), **cosigned.to_json()}
            assert doc["tree_head"]["size"] == board_size(pilot)
            verify_cosignature(cosigned.tree_head.head, w.Cosignature.from_json(doc["cosignature"]))
            grow(pilot)
        assert httpx.get(url + "/").json()["elections"] == [ELECTION]
        for method in ("POST", "PUT", "DELETE"):
            refused = httpx.request(method, f"{url}/elections/{ELECTION}", content=b"{}")
            assert refused.status_code == 405 and refused.headers["allow"] == "GET"
        assert httpx.get(f"{url}/elections/..%2f..%2fetc").status_code == 404
    finally:
        log_server.stop()


# --- the command line and the state file ------------------------------------------------------


def invoke(*args: object) -> object:
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_init_writes_a_private_state_file_and_prints_the_manifest_entry(tmp_path) -> None:
    path = tmp_path / "audit" / "witness.json"
    result = invoke("witness", "init", "--state", path, "--name", NAMES[0], "--url", "http://127.0.0.1:8001")
    assert result.exit_code == 0, result.output
    assert mode(path) == 0o600
    entry = json.loads(result.output[result.output.index("{"):])
    state = w.load_state(path)
    assert entry == state.member() == {"name": NAMES[0], "public_key": state.public_key.hex(), "url": "http://127.0.0.1:8001"}
    Manifest.from_json({**manifest(), "witnesses": {"quorum": 1, "members": [entry]}})  # pastes as is

    again = invoke("witness", "init", "--state", path, "--name", "other")
    assert again.exit_code == 1 and "already exists" in again.output
    assert w.load_state(path).public_key == state.public_key
    bad = invoke("witness", "init", "--state", tmp_path / "x.json", "--name", "x", "--url", "ftp://x")
    assert bad.exit_code == 1 and "url must be an http(s) URL" in bad.output

    shown = invoke("witness", "show", "--state", path)
    assert shown.exit_code == 0 and state.public_key.hex() in shown.output and "No elections" in shown.output
    public = json.loads(invoke("witness", "show", "--state", path, "--json").output)
    assert "private_key" not in public and public["public_key"] == state.public_key.hex()


def _damage(path: Path, how: str) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    if how == "truncated":
        path.write_bytes(path.read_bytes()[:40])
    elif how == "foreign":
        path.write_text(json.dumps({"election_id": "e", "key": {}}))
    elif how == "wrong-key":
        doc["public_key"] = "00" * 32
        path.write_text(json.dumps(doc))
    elif how == "bad-head":
        doc["elections"] = {"e": {"server_url": "x", "server_key": None, "cosigned": {"tree_head": {}, "cosignature": {}}, "refused": None}}
        path.write_text(json.dumps(doc))
    elif how == "readable":
        path.chmod(0o644)
    elif how == "missing":
        path.unlink()


@pytest.mark.parametrize(
    "how, message",
    [
        ("truncated", "is not a witness state file (not JSON)"),
        ("foreign", "not a witness state file"),
        ("wrong-key", "public_key does not belong to private_key"),
        ("bad-head", "election e:"),
        ("readable", "others may read it (mode 644): chmod 600"),
        ("missing", "no such witness state file"),
    ],
)
def test_a_damaged_state_file_gets_one_clear_line(tmp_path, how, message) -> None:
    path = tmp_path / "witness.json"
    w.create_state_file(path, w.new_state("監査事務局"))
    _damage(path, how)
    # run: EX_CONFIG (78), which the shipped systemd unit does not restart (a restart cannot fix it)
    for args, status in ((["show"], 1), (["run", "--once", "--election", ELECTION, "--server", "http://127.0.0.1:9"], 78)):
        result = invoke("witness", *args, "--state", path)
        assert result.exit_code == status, result.output
        assert message in result.output and "Traceback" not in result.output
        assert isinstance(result.exception, SystemExit)
        assert len(result.output.strip().splitlines()) == 1, result.output


def test_run_once_reports_and_exits_non_zero_on_refusal_and_when_the_server_is_down(pilot, witness_files, front) -> None:
    create_election(pilot, witness_files)
    path = witness_files[0]
    down = invoke("witness", "run", "--once", "--state", path, "--server", f"http://127.0.0.1:{free_port()}", "-e", ELECTION)
    assert down.exit_code == 1 and "WARNING" in down.output and "cannot reach" in down.output
    assert "Traceback" not in down.output

    ok = invoke("witness", "run", "--once", "--state", path, "--server", pilot.url, "-e", ELECTION)
    assert ok.exit_code == 0, ok.output
    assert f"cosigned head {board_size(pilot)} of {ELECTION}" in ok.output

    serve_head(front, forged_head(pilot, board_size(pilot)), server_key(pilot).hex())
    refused = invoke("witness", "run", "--once", "--state", path, "--server", pilot.url, "-e", ELECTION)
    assert refused.exit_code == 1
    assert "ERROR REFUSED to witness" in refused.output and "連署を永久に停止" in refused.output
    assert f"state.json.refused-{ELECTION}.json" in refused.output
    shown = invoke("witness", "show", "--state", path)
    assert "REFUSED" in shown.output and "refused-" in shown.output

    bad_id = invoke("witness", "run", "--once", "--state", path, "--server", pilot.url, "-e", "../x")
    assert bad_id.exit_code == 78 and "is not an election id" in bad_id.output  # EX_CONFIG


def test_one_state_file_serves_one_witness_process(tmp_path) -> None:
    path = tmp_path / "witness.json"
    w.create_state_file(path, w.new_state("監査事務局"))
    with w.StateLock(path):
        result = invoke("witness", "run", "--once", "--state", path, "--server", "http://127.0.0.1:9", "-e", ELECTION)
        assert result.exit_code == 1 and "another witness process is running" in result.output


# --- voting demo -----------------------------------------------------------------------------


@pytest.mark.slow
def test_the_demo_runs_two_witnesses_that_cosign_its_board(tmp_path) -> None:
    """`voting demo` names its two witnesses in the election (quorum 2), runs them
    beside the server with their logs on loopback, and stops them with it."""
    from voting.cli.demo import ELECTION_ID, WITNESSES

    port, log = free_port(), tmp_path / "demo.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "voting.cli", "demo", "--port", str(port)],
        cwd=tmp_path, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: "Ctrl-C stops the server" in log.read_text(encoding="utf-8"), "the demo", log, timeout=120)
        manifest_doc = httpx.get(f"{url}/api/elections/{ELECTION_ID}").json()["manifest"]
        policy = Manifest.from_json(manifest_doc).witnesses
        assert policy.quorum == 2 and [x.name for x in policy.witnesses] == [name for _, name in WITNESSES]
        size = httpx.get(f"{url}/api/elections/{ELECTION_ID}/board/head").json()["size"]

        def cosigned_size() -> int:
            reply = httpx.get(f"{url}/api/elections/{ELECTION_ID}/board/cosigned")
            return reply.status_code == 200 and reply.json()["tree_head"]["size"]

        _wait(lambda: cosigned_size() == size, "the quorum on the demo's board", log)
        for (slug, _name), witness in zip(WITNESSES, policy.witnesses, strict=True):
            path = tmp_path / "var" / "demo" / "witnesses" / f"{slug}.json"
            assert mode(path) == 0o600 and w.load_state(path).public_key == witness.public_key
            served = httpx.get(f"{witness.url}/elections/{ELECTION_ID}")
            assert served.headers["access-control-allow-origin"] == "*"
            assert served.json()["tree_head"]["size"] == size
        assert f"{WITNESSES[0][1]} http://127.0.0.1:" in log.read_text(encoding="utf-8")
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0, log.read_text(encoding="utf-8")
    assert "Server stopped" in log.read_text(encoding="utf-8")
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{policy.witnesses[0].url}/", timeout=2)


# --- the specification ------------------------------------------------------------------------


def test_the_documented_cosignature_message_is_the_one_the_code_signs() -> None:
    """docs/parts/witness.md's worked example is the vector's message, byte for byte."""
    from crypto.witness import COSIGNATURE_TAG, cosignature_message

    root = Path(__file__).resolve().parent.parent
    doc = (root / "docs" / "parts" / "witness.md").read_text(encoding="utf-8")
    vector = json.loads((root / "tests" / "vectors" / "witness.json").read_text(encoding="utf-8"))["cosignatures"][0]
    head = merkle.TreeHead(vector["head"]["log_id"], vector["head"]["size"], bytes.fromhex(vector["head"]["root"]), vector["head"]["timestamp_ms"])
    message = cosignature_message(head, vector["cosignature"]["time_ms"])
    block = doc.split("message (hex, wrapped)\n\n```\n", 1)[1].split("```", 1)[0]
    assert block.replace("\n", "") == message.hex() == vector["message"]
    assert f'encode_parts("{COSIGNATURE_TAG}", log_id, size, root, timestamp_ms, time_ms)' in doc
    assert "[Witnesses](parts/witness.md)" in (root / "docs" / "protocol.md").read_text(encoding="utf-8")


def test_one_state_file_one_lock_whatever_the_path(tmp_path):
    """Found by the attack review: the same state file reached through a
    symbolic link took another lock, so two processes could each cosign a branch."""
    real = tmp_path / "witness.json"
    w.create_state_file(real, w.new_state("監査事務局"))
    alias = tmp_path / "alias.json"
    alias.symlink_to(real)
    with w.StateLock(real), pytest.raises(w.WitnessStateError, match="symbolic link"):
        w.StateLock(alias)


def test_a_cosignature_of_another_election_is_no_rollback(pilot, witness_files, front):
    """Found by the second attack review: the server showed, as this witness's
    newest cosignature on election Y, its (public) cosignature of election X's
    head, and the witness refused Y for good, blaming its own state file."""
    create_election(pilot, witness_files, election_id="elec-x")
    create_election(pilot, witness_files, election_id="elec-y")
    path = witness_files[0]
    assert runner(path, pilot).poll("elec-x").status == "cosigned"
    x = w.load_state(path).elections["elec-x"].cosigned
    mine = w.load_state(path).public_key.hex()

    def replay(request: Request, reply: Reply) -> Reply:
        if request.path.endswith("/elections/elec-y/board/witnesses"):
            doc = reply.json()
            for member in doc["witnesses"]:
                if member["public_key"] == mine:
                    member["newest"] = x.to_json()
            return reply.with_json(doc)
        return reply

    front.on_response = replay
    assert runner(path, pilot).poll("elec-y").status == "cosigned"
