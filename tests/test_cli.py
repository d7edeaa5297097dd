"""The ``voting`` command line, run for real: the pilot CA's files against the
service, a whole election driven only through commands over HTTP, and
``voting demo`` in its own process."""

from __future__ import annotations

import csv
import glob
import json
import os
import re
import shlex
import signal
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from crypto.credentials import open_credential
from tests.cli_support import refused, run
from tests.support import free_port, fresh_database_url, start_server
from voting.auth.trust import parse_crls
from voting.cli import main
from voting.cli.demo import ELECTION_ID as DEMO_ELECTION
from voting.cli.demo import MANIFEST as DEMO_MANIFEST
from voting.client import ApiError, Client

PIN = "246810"


def write_roster(path: Path, rows: list[tuple[str, ...]], header: str = "employee_id,name,department,role") -> Path:
    path.write_text(header + "\n" + "".join(",".join(r) + "\n" for r in rows), encoding="utf-8")
    return path


def credential(data_dir: Path, employee_id: str) -> Path:
    return data_dir / "credentials" / f"{employee_id}.credential.json"


def login(url: str, path: Path, pin: str = PIN) -> Client:
    client = Client(url)
    client.login(open_credential(json.loads(path.read_text(encoding="utf-8")), pin))
    return client


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- the pilot CA ---------------------------------------------------------------------------


@pytest.mark.slow
def test_ca_files_are_accepted_and_revocation_refuses_login(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    ca_dir = data_dir / "ca"
    run("ca", "init", "--data-dir", data_dir)
    assert mode(ca_dir / "root-key.pem") == mode(ca_dir / "issuing-key.pem") == 0o600
    assert len(parse_crls((ca_dir / "crl.pem").read_bytes())) == 2
    assert "never overwritten" in refused("ca", "init", "--data-dir", data_dir)

    bad = write_roster(tmp_path / "bad.csv", [("E0001", "山田 花子", "総務課", "voter"), ("bad id", "x", "y", ""), ("E0003", "x", "y", "mayor")])
    output = refused("ca", "issue", bad, "--data-dir", data_dir, "--pin", PIN)
    assert "invalid employee id" in output and "role must be one of" in output and "no credential was issued" in output
    assert not (data_dir / "credentials").exists()

    roster = write_roster(
        tmp_path / "roster.csv",
        [("E0001", "山田 花子", "総務課", "voter"), ("E0002", "佐々木 翔", "人事課", ""), ("A0001", "佐藤 健一", "選挙管理委員会事務局", "admin")],
    )
    run("ca", "issue", roster, "--data-dir", data_dir, "--pin", PIN)
    for employee_id in ("E0001", "E0002", "A0001"):
        assert mode(credential(data_dir, employee_id)) == 0o600
    sheet = data_dir / "credentials" / "pins.csv"
    assert mode(sheet) == 0o600
    assert {row["employee_id"]: row["pin"] for row in csv.DictReader(sheet.open(encoding="utf-8"))} == dict.fromkeys(
        ("E0001", "E0002", "A0001"), PIN
    )
    # Without --pin every employee gets a random 6-digit PIN, on the sheet only.
    run("ca", "issue", write_roster(tmp_path / "more.csv", [("E0003", "渡辺 美穂", "財政課")], "employee_id,name,department"), "--data-dir", data_dir)
    random_pin = list(csv.DictReader(sheet.open(encoding="utf-8")))[-1]["pin"]
    assert random_pin.isdigit() and len(random_pin) == 6
    assert "already hold a valid certificate" in refused("ca", "issue", roster, "--data-dir", data_dir, "--pin", PIN)

    server = start_server(data_dir, fresh_database_url("sqlite", data_dir), crl_refresh_s="0")
    try:
        for employee_id, pin in (("E0001", PIN), ("E0002", PIN), ("E0003", random_pin)):
            assert login(server.url, credential(data_dir, employee_id), pin).session["employee_id"] == employee_id

        assert "Revoked E0002" in run("ca", "revoke", "E0002", "--data-dir", data_dir, "--reason", "key-compromise").output
        with pytest.raises(ApiError) as refusal:
            login(server.url, credential(data_dir, "E0002"))
        assert (refusal.value.status, refusal.value.code) == (401, "certificate_revoked")
        assert "already revoked" in refused("ca", "revoke", "E0002", "--data-dir", data_dir)
        assert "never issued" in refused("ca", "revoke", "Z9999", "--data-dir", data_dir)

        # Re-issuing with --replace revokes the old credential.
        old_e0001 = json.loads(credential(data_dir, "E0001").read_text(encoding="utf-8"))
        run("ca", "issue", roster, "--data-dir", data_dir, "--pin", PIN, "--replace")
        assert login(server.url, credential(data_dir, "E0001")).session["employee_id"] == "E0001"
        with pytest.raises(ApiError) as refusal:
            Client(server.url).login(open_credential(old_e0001, PIN))
        assert refusal.value.code == "certificate_revoked"

        run("ca", "crl", "--data-dir", data_dir, "--days", "1")
        issuing_crl = parse_crls((ca_dir / "crl.pem").read_bytes())[1]
        assert timedelta(hours=23) < issuing_crl.next_update_utc - datetime.now(UTC) <= timedelta(days=1)
        assert len(list(issuing_crl)) == 3  # E0002 (key compromise); E0001 and A0001 (superseded)
        assert login(server.url, credential(data_dir, "A0001")).session["employee_id"] == "A0001"
        assert run("ca", "list", "--data-dir", data_dir).output.count("revoked") == 3
        registry = json.loads((ca_dir / "registry.json").read_text(encoding="utf-8"))
        assert sorted((c["employee_id"], c["reason"]) for c in registry["certificates"] if c["revoked_at"]) == [
            ("A0001", "superseded"), ("E0001", "superseded"), ("E0002", "key-compromise")
        ]
    finally:
        server.stop()


# --- a whole election through the command line --------------------------------------------


@pytest.mark.slow
def test_whole_election_through_the_cli(data_dir: Path, database_url: str, tmp_path: Path) -> None:
    local = {"VOTING_DATABASE_URL": database_url, "VOTING_DATA_DIR": str(data_dir)}
    run("ca", "init", env=local)
    people = [("A0001", "佐藤 健一", "事務局", "admin")] + [(f"T000{i}", f"委員 {i}", "選挙管理委員会", "trustee") for i in (1, 2, 3)]
    voters = [("E0001", "山田 花子", "総務課"), ("E0002", "佐々木 翔", "人事課"), ("E0003", "渡辺 美穂", "財政課")]
    run("ca", "issue", write_roster(tmp_path / "roster.csv", people + [(*v, "voter") for v in voters]), "--pin", PIN, env=local)
    run("db", "upgrade", env=local)
    run("roster", "add", "A0001", "--role", "admin", env=local)
    assert "A0001" in run("roster", "list", env=local).output

    server = start_server(data_dir, database_url)
    try:
        http = {"VOTING_SERVER": server.url, "VOTING_PIN": PIN}
        as_admin = ("--credential", credential(data_dir, "A0001"))
        election = "cli-survey"
        manifest_path = tmp_path / "manifest.json"
        manifest_path.write_text(json.dumps({**DEMO_MANIFEST, "election_id": election, "min_tally_ballots": 3}, ensure_ascii=False), encoding="utf-8")
        assert "not_admin" in refused(
            "election", "create", manifest_path, "--trustees", "T0001,T0002,T0003", "--threshold", "2",
            "--credential", credential(data_dir, "E0001"), env=http,
        )
        run("election", "create", manifest_path, "--trustees", "T0001,T0002,T0003", "--threshold", "2", *as_admin, env=http)

        bad_roll = tmp_path / "bad-roll.csv"
        bad_roll.write_text("employee_id,name,department\nE0001,山田 花子,総務課\nnot an id,x,y\nE0001,again,z\n", encoding="utf-8")
        output = refused("election", "roll", election, bad_roll, *as_admin, env=http)
        assert "roll_invalid" in output and "invalid employee id" in output and "already on the roll" in output
        assert Client(server.url).status(election)["roll_size"] == 0
        roll = tmp_path / "roll.csv"
        roll.write_text("employee_id,name,department\n" + "".join(",".join(v) + "\n" for v in voters), encoding="utf-8")
        assert "Added 3 voter(s)" in run("election", "roll", election, roll, *as_admin, env=http).output

        # The key ceremony: two trustees wait for the others in their own
        # processes; the third steps with --no-wait until it is confirmed.
        state = {t: tmp_path / f"{t}-machine" / "state.json" for t in ("T0001", "T0002", "T0003")}
        for path in state.values():
            path.parent.mkdir()
        trustee = lambda t: ("trustee", "ceremony", election, "--credential", credential(data_dir, t), "--state", state[t])  # noqa: E731
        assert "not started" in run(*trustee("T0003"), "--no-wait", env=http).output
        run("election", "ceremony-start", election, *as_admin, env=http)
        waiting = [
            subprocess.Popen(
                [sys.executable, "-m", "voting.cli", *map(str, trustee(t)), "--yes", "--interval", "0.2", "--timeout", "120"],
                env={**os.environ, **http}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )
            for t in ("T0001", "T0002")
        ]
        # T0003 is shown n, t and its co-trustees from the signed board and confirms.
        first = run(*trustee("T0003"), "--no-wait", input="y\n", env=http).output
        assert "2 of 3 trustees" in first and "you are trustee 3" in first and "1: T0001, 2: T0002" in first
        for _ in range(300):
            if "confirmed my key share" in run(*trustee("T0003"), "--no-wait", env=http).output:
                break
            time.sleep(0.2)
        for process in waiting:
            output, _ = process.communicate(timeout=120)
            assert process.returncode == 0 and "confirmed my key share" in output, output
        assert mode(state["T0001"]) == 0o600
        assert "Voting is open" in run("election", "open", election, *as_admin, env=http).output

        # Voting: with --choose, interactively, an audit, a declined cast, user errors.
        vote = lambda e, *a, **kw: ("vote", election, "--credential", credential(data_dir, e), *a)  # noqa: E731
        r1 = tmp_path / "r1.json"
        output = run(*vote("E0001", "--choose", "days=two", "--choose", "improve=network,paperless", "--choose", "satellite=yes", "--yes", "--receipt", r1), env=http).output
        assert "Tracking code" in output and r1.exists()
        audit = tmp_path / "audit.json"
        output = run(*vote("E0002", "--choose", "days=one", "--choose", "satellite=no", "--audit", "--receipt", audit), env=http).output
        assert "NOT cast" in output and "verify-audit" in output and "Audit passed" not in output and audit.exists()
        assert Client(server.url).status(election)["ballots_cast"] == 1
        noted = re.search(r"Tracking code / 確認コード: ([A-Z2-7]{4}(?:-[A-Z2-7]{4}){3})", output).group(1)
        assert "Write this tracking code down" in output and "--code <the tracking code you wrote down>" in output
        output = run("verify-audit", audit, env=http).output  # no --code: the code is shown to compare by eye
        assert "掲示板に公開されています" in output and "週1日" in output and "NOT verify" not in output
        assert noted in output and "NOT COMPARED" in output
        # --code: the code the voter noted before choosing to audit, short or full form.
        output = run("verify-audit", audit, "--code", noted.lower(), env=http).output
        assert "matches the code you noted" in output and "週1日" in output and "NOT COMPARED" not in output
        full = json.loads(audit.read_text())["tracking_code"]
        assert "matches the code you noted" in run("verify-audit", audit, "--code", full.upper(), env=http).output
        # A device that showed another code and published an honest ballot instead: refused, no choices shown.
        other = "AAAA-AAAA-AAAA-AAAA" if noted != "AAAA-AAAA-AAAA-AAAA" else "BBBB-BBBB-BBBB-BBBB"
        output = refused("verify-audit", audit, "--code", other, env=http)
        assert "TRACKING CODE MISMATCH" in output and noted in output and "週1日" not in output
        assert "code_matches" in refused("verify-audit", audit, "--code", "0" * 64, "--json", env=http)
        assert "tracking code is" in refused("verify-audit", audit, "--code", "not-a-code", env=http, code=2)
        # A board whose newest head does not extend the audit file's (a fork): refused.
        real_get = Client.get

        def forked_get(self, path, **params):
            reply = real_get(self, path, **params)
            if path.endswith("/board/consistency"):
                reply = {**reply, "proof": {**reply["proof"], "path": [*reply["proof"]["path"], "00" * 32]}}
            return reply

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(Client, "get", forked_get)
            output = refused("verify-audit", audit, "--code", noted, env=http)
        assert "does NOT verify" in output and "forked" in output and "週1日" not in output
        forged = json.loads(audit.read_text())
        forged["entry"]["body"]["opening"]["selections"][0][0]["m"] ^= 1
        assert "does NOT verify" in refused("verify-audit", _write(tmp_path / "forged.json", forged), env=http)
        r2 = tmp_path / "r2.json"
        run(*vote("E0002", "--receipt", r2), input="2\n\n3\ny\n", env=http)  # days=one, no improvement, satellite=undecided
        # No PIN given: asked for, hidden; a wrong one may be retried. Then the voter declines to cast.
        no_pin = {**http, "VOTING_PIN": None}
        output = refused(*vote("E0003", "--choose", "days=two", "--choose", "satellite=no"), input=f"999999\n{PIN}\nn\n", env=no_pin)
        assert "try again" in output and "Tracking code" in output and "Aborted" in output
        assert Client(server.url).status(election)["ballots_cast"] == 2
        assert "has no option 'four'" in refused(*vote("E0003", "--choose", "days=four", "--choose", "satellite=no"), env=http, code=2)
        assert "choose exactly 1" in refused(*vote("E0003", "--choose", "satellite=no"), env=http, code=2)
        assert "wrong PIN" in refused(*vote("E0003", "--choose", "days=two", "--choose", "satellite=no", "--pin", "999999"), env=http)
        r3 = tmp_path / "r3.json"
        run(*vote("E0003", "--choose", "days=two", "--choose", "improve=equipment", "--choose", "satellite=no", "-y", "--receipt", r3), env=http)

        # Receipts: all pass; a tampered one fails.
        output = run("receipt", "check", r1, r2, r3, env=http).output
        assert output.count("PASS") == 9 and "FAIL" not in output
        tampered = tmp_path / "tampered.json"
        doc = json.loads(r1.read_text())
        doc["leaf_index"] += 1
        tampered.write_text(json.dumps(doc))
        assert "FAIL" in refused("receipt", "check", tampered, env=http)

        # Close, two of three trustees decrypt, tally, publish.
        run("election", "close", election, *as_admin, env=http)
        decrypt = lambda t, s: ("trustee", "decrypt", election, "--credential", credential(data_dir, t), "--state", state[s])  # noqa: E731
        assert "use your own state file" in refused(*decrypt("T0001", "T0002"), env=http)
        run(*decrypt("T0001", "T0001"), env=http)
        assert "threshold_not_met" in refused("election", "tally", election, *as_admin, env=http)
        run(*decrypt("T0003", "T0003"), env=http)
        result = json.loads(CliRunner().invoke(main, ["election", "tally", election, *map(str, as_admin), "--json"], env=http).stdout)
        counts = {q["id"]: {o["id"]: o["count"] for o in q["options"]} for q in result["questions"]}
        assert counts == {
            "days": {"none": 0, "one": 1, "two": 2, "three-plus": 0},
            "improve": {"network": 1, "equipment": 1, "paperless": 1, "chat": 0, "training": 0},
            "satellite": {"yes": 1, "no": 1, "undecided": 1},
        }
        assert sorted(result["trustees"]) == [1, 3]
        run("election", "publish", election, *as_admin, env=http)
        assert "published" in run("election", "status", election, env=http).output
        assert json.loads(run("election", "result", election, "--json", env=http).stdout) == result
        assert "cannot reach" in refused("election", "status", election, "--server", f"http://127.0.0.1:{free_port()}")
    finally:
        server.stop()


def _write(path: Path, doc: dict) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


# --- voting demo ------------------------------------------------------------------------------


def test_demo_help() -> None:
    output = run("demo", "--help").output
    assert "--reset" in output and "--port" in output and "123456" in output


def _start_demo(cwd: Path, port: int, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "voting.cli", "demo", "--port", str(port)],
        cwd=cwd, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )


def _wait_for(process: subprocess.Popen, log: Path, text: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        output = log.read_text(encoding="utf-8")
        if text in output:
            return output
        if process.poll() is not None:
            raise AssertionError(f"the demo exited with {process.returncode}:\n{output}")
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"the demo did not print {text!r}:\n{log.read_text(encoding='utf-8')}")


def _stop(process: subprocess.Popen, sig: int) -> int:
    process.send_signal(sig)
    try:
        return process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


def readme_walk_through() -> tuple[dict[str, str], list[list[str]]]:
    """The README walk-through's exported variables and its commands."""
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- walk-through", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    env, commands = {}, []
    for line in block.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0] == "voting":
            commands.append(words)
        elif words and words[0] == "export":
            env.update(w.split("=", 1) for w in words[1:])
        else:
            assert not words or words == [".", ".venv/bin/activate"], line
    return env, commands


@pytest.mark.slow
def test_demo_runs_on_a_fresh_machine_and_the_readme_walk_through_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`voting demo` with its default data directory, then every command of the
    README's walk-through against it, as a user would type them."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "demo.log"
    process = _start_demo(tmp_path, port, log)
    try:
        output = _wait_for(process, log, "Ctrl-C stops the server")
        assert f"vote {DEMO_ELECTION} --server {url} -c var/demo/credentials/E0001.credential.json" in output
        assert "trustee decrypt" in output and "receipt check" in output and "election tally" in output
        status = httpx.get(f"{url}/api/elections/{DEMO_ELECTION}").json()
        assert (status["status"], status["roll_size"], status["threshold"]) == ("open", 20, 2)
        assert all(t["confirmed"] for t in status["trustees"])

        monkeypatch.chdir(tmp_path)
        exported, commands = readme_walk_through()
        env = {**exported, "VOTING_SERVER": url}  # the README's server is on port 8000
        assert len(commands) >= 10
        outputs = []
        for words in commands:
            args = [a for w in words[1:] for a in (sorted(glob.glob(w)) if "*" in w else [w])]
            outputs.append(run(*args, env=env).output)
        assert "掲示板に公開されています" in "".join(outputs) and "FAIL" not in "".join(outputs)
        result = httpx.get(f"{url}/api/elections/{DEMO_ELECTION}/result").json()
        days = {o["id"]: o["count"] for o in result["questions"][0]["options"]}
        assert (result["ballots_counted"], days["one"], days["two"], days["three-plus"]) == (5, 2, 1, 1)
    finally:
        returncode = _stop(process, signal.SIGINT)  # as Ctrl-C
    assert returncode == 0 and "Server stopped" in log.read_text(encoding="utf-8")

    # Run again: the same data, the server started again.
    process = _start_demo(tmp_path, port, log)
    try:
        output = _wait_for(process, log, "Ctrl-C stops the server")
        assert "Reusing the demo" in output
        assert httpx.get(f"{url}/api/elections/{DEMO_ELECTION}").json()["status"] == "published"
    finally:
        assert _stop(process, signal.SIGTERM) == 0


@pytest.mark.parametrize(
    "content, message",
    [
        ("[1, 2]", "not a trustee state file"),
        ("{not json", "not a trustee state file"),
        ('{"election_id": "e", "server_key": "zz", "key": {}}', "server_key must be 64 hex digits"),
        ('{"election_id": "e", "seen_head": {"size": 1}, "key": {}}', "seen_head is not a signed tree head"),
    ],
)
def test_a_damaged_trustee_state_file_gets_one_clear_line(tmp_path: Path, content: str, message: str) -> None:
    state = tmp_path / "state.json"
    state.write_text(content, encoding="utf-8")
    credential_file = tmp_path / "T0001.credential.json"
    credential_file.write_text("{}", encoding="utf-8")
    assert message in refused("trustee", "decrypt", "e", "--state", state, "--credential", credential_file)


def test_the_console_prints_fingerprints_as_they_are(capsys):
    """Rich's emoji codes would turn ":CD:" in a hex fingerprint into a picture, so
    the trustee would compare a fingerprint that is not the one pinned."""
    from voting.cli.common import console

    fingerprint = "C4:87:28:CD:68:3B:6F:8F:56:33:20:C8:B5:99:A3:89"
    console.print(f"root CA (SHA-256 {fingerprint})", soft_wrap=True)
    assert fingerprint in capsys.readouterr().out


def test_text_from_the_server_is_printed_as_it_is_not_as_markup(capsys, monkeypatch):
    """A hostile server's title, question or option label is text: "[/x]" must not
    crash the CLI with a MarkupError, nor "[bold red]" restyle its output."""
    from voting.cli.common import console, result_table
    from voting.cli.election import _print_summary
    from voting.cli.vote import choices_table

    monkeypatch.setattr(console, "_width", 200)  # no line breaks inside the text compared
    hostile = "[/x] [bold red]FAKE[/bold red] :cd:"
    manifest = {
        "title": {"ja": hostile, "en": "T"},
        "questions": [{"id": "q1", "text": {"en": hostile}, "options": [{"id": "o1", "label": {"en": hostile}}]}],
    }
    _print_summary({"election_id": "e1", "manifest": manifest, "status": hostile})
    console.print(result_table(manifest, {"ballots_counted": 1, "questions": [{"id": "q1", "options": [{"id": "o1", "count": 1}]}]}))
    console.print(choices_table(manifest, {"q1": ["o1"]}, "Your ballot"))
    out = capsys.readouterr().out
    assert out.count(hostile) == 7, out
