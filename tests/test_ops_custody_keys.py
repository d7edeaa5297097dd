"""Rotating the server's signing key (``voting keys``): refused while an
election's board still needs the current key; between elections, a new key
for new elections, while the records of earlier ones keep verifying under
the key that signed them."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.http_support import ADMIN, start_pilot, two_question_manifest
from tests.support import ServerProcess
from voting.cli import main


def invoke(*args: object, env: dict | None = None, input: str | None = None) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], env=env, input=input)


def run(*args: object, env: dict | None = None) -> Result:
    result = invoke(*args, env=env)
    assert result.exit_code == 0, f"{args}: {result.output}\n{result.exception!r}"
    return result


def refused(*args: object, env: dict | None = None) -> str:
    result = invoke(*args, env=env)
    assert result.exit_code == 1, f"{args}: exit {result.exit_code}: {result.output}\n{result.exception!r}"
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    return result.output


@pytest.mark.slow
def test_rotation_waits_for_publication_and_old_records_still_verify(pki, data_dir: Path, database_url: str, tmp_path: Path) -> None:
    pilot = start_pilot(pki, data_dir, database_url)
    local = {"VOTING_DATA_DIR": str(data_dir), "VOTING_DATABASE_URL": database_url}
    key_file = data_dir / "server-signing-key.pem"
    try:
        old_key = pilot.client().get("/api/server-key")["server_key"]
        assert run("keys", "show", env=local).output.strip() == old_key
        election_id = pilot.open_election(two_question_manifest("before-rotation", min_tally_ballots=1), ["E0001"])
        voter = pilot.login(pki.enroll("E0001"))
        receipt = voter.cast(voter.prepare_ballot(election_id, {"days": ["d1"], "tools": []}))

        # While the board grows, its key cannot change.
        old_pem = key_file.read_bytes()
        output = refused("keys", "rotate", "--yes", env=local)
        assert "before-rotation (open)" in output and "not published" in output
        assert key_file.read_bytes() == old_pem and sorted(p.name for p in data_dir.glob("server-signing-key*")) == [key_file.name]

        pilot.admin.close_election(election_id)
        pilot.decrypt(election_id, ["T0001", "T0002"])
        pilot.admin.tally(election_id)
        pilot.admin.publish(election_id)
        pilot.server.stop()

        output = run("keys", "rotate", "--yes", env=local).output
        new_key = run("keys", "show", env=local).output.strip()
        assert new_key != old_key and new_key in output and old_key in output
        [retired] = data_dir.glob("server-signing-key.retired-*.pem")
        assert retired.read_bytes() == old_pem
        assert stat.S_IMODE(retired.stat().st_mode) == stat.S_IMODE(key_file.stat().st_mode) == 0o600

        # The service starts with the new key; sessions signed with the old one are over.
        pilot.server = ServerProcess(pilot.server.settings, pilot.server.env).start()
        assert pilot.client().get("/api/server-key")["server_key"] == new_key
        pilot.admin.login(pki.enroll(ADMIN))
        later = pilot.create(two_question_manifest("after-rotation", min_tally_ballots=1), ["E0001"])
        created = pilot.admin.get(f"/api/elections/{later}/board/entries", start=0, limit=1)["entries"][0]
        assert created["kind"] == "election-created" and created["body"]["server_key"] == new_key

        # The earlier election's record carries the old key, and verifies under it.
        http = {"VOTING_SERVER": pilot.url}
        record = tmp_path / "before-rotation"
        run("election", "export", election_id, record, env=http)
        assert "All checks passed" in run("verify", record, "--server-key", old_key, env=http).output
        receipt_file = tmp_path / "receipt.json"
        receipt_file.write_text(json.dumps(receipt), encoding="utf-8")
        run("verify-receipt", receipt_file, "--record", record, "--server-key", old_key, env=http)
    finally:
        pilot.stop()


def test_keys_commands_say_what_is_wrong_in_one_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert "there is no server key" in refused("keys", "show", "--data-dir", data_dir)
    # No database and no key yet: rotating makes the first key.
    run("keys", "rotate", "--yes", "--data-dir", data_dir)
    key = run("keys", "show", "--data-dir", data_dir).output.strip()
    assert len(key) == 64
    # Asked first; declining changes nothing.
    declined = invoke("keys", "rotate", "--data-dir", data_dir, input="n\n")
    assert declined.exit_code == 1 and "Aborted" in declined.output
    assert run("keys", "show", "--data-dir", data_dir).output.strip() == key
    assert list(data_dir.glob("*.retired-*")) == []
    (data_dir / "server-signing-key.pem").write_text("not a key")
    assert "not an Ed25519 private key" in refused("keys", "rotate", "--yes", "--data-dir", data_dir)


# --- a rotation while the service runs ------------------------------------------------------------


@pytest.mark.slow
def test_rotate_and_restore_refuse_while_the_service_runs(tmp_path: Path) -> None:
    """The attack: 'voting keys rotate --yes' while 'voting serve' ran; the running
    service kept signing new elections with the old key, and refused to start again."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import httpx

    from tests.support import free_port

    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOTING_")}
    env.update({"VOTING_DATA_DIR": str(data_dir), "VOTING_PORT": str(free_port())})
    local = {"VOTING_DATA_DIR": str(data_dir), "VOTING_DATABASE_URL": ""}
    run("db", "upgrade", env=local)
    run("db", "backup", tmp_path / "backup.sqlite3", env=local)
    key_before = None
    server = subprocess.Popen([sys.executable, "-m", "voting.cli", "serve", "--log-level", "warning"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(600):
            assert server.poll() is None, server.stderr.read().decode()
            try:
                if httpx.get(f"http://127.0.0.1:{env['VOTING_PORT']}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        key_before = (data_dir / "server-signing-key.pem").read_bytes()
        output = refused("keys", "rotate", "--yes", env=local)
        assert "stop the service first" in output and len(output.strip().splitlines()) == 1, output
        assert (data_dir / "server-signing-key.pem").read_bytes() == key_before
        assert not list(data_dir.glob("server-signing-key.retired-*"))
        output = refused("db", "restore", tmp_path / "backup.sqlite3", "--yes", env=local)
        assert "stop the service first" in output and "serve.lock" in output, output
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    run("keys", "rotate", "--yes", env=local)  # once stopped
    assert (data_dir / "server-signing-key.pem").read_bytes() != key_before


@pytest.mark.slow
def test_a_board_signed_with_a_retired_key_names_the_file_and_ready_sees_the_key_change(pki, data_dir: Path, database_url: str) -> None:
    import asyncio

    from voting.health import Readiness
    from voting.keys import load_or_create
    from voting.services import Services
    from voting.settings import Settings
    from voting.startup import startup_problems

    settings = Settings(data_dir=data_dir, database_url=database_url)
    pilot = start_pilot(pki, data_dir, database_url)
    try:
        pilot.create(two_question_manifest("retired-2026"), ["E0001"])
    finally:
        pilot.stop()
    key_file = settings.signing_key_path
    services = Services.build(settings)  # the service running with the board's key

    async def check() -> tuple[list[str], list[str], list[str]]:
        try:
            ready_before = await Readiness(services)._check()
            # A rotation done behind the service's back: the old key kept as retired.
            retired = key_file.with_name("server-signing-key.retired-20260101T000000Z.pem")
            key_file.rename(retired)
            new = load_or_create(key_file)
            ready_after = await Readiness(services)._check()
            problems = await startup_problems(services.database, new, now_ms=int(__import__("time").time() * 1000), data_dir=data_dir)
            return ready_before, ready_after, problems
        finally:
            await services.database.close()

    ready_before, ready_after, problems = asyncio.run(check())
    assert not [r for r in ready_before if "server key" in r], ready_before
    assert [r for r in ready_after if "no longer the key this service signs with" in r], ready_after
    (problem,) = problems
    assert "server-signing-key.retired-20260101T000000Z.pem" in problem and "put that file back" in problem
