"""Start-up and operator faults (issue 13, items 1, 8 and 11): the server key
and clock of a host checked against the board, board times that never run
backwards across hosts, migrations only before the app starts, and one line
(never a traceback) for every database or port mistake."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.support import ServerProcess, free_port, manifest, server_settings
from voting import operator
from voting.auth.service import Principal
from voting.board.service import ClockBehind
from voting.keys import load_or_create
from voting.record.export import export_record
from voting.services import Services
from voting.settings import Settings
from voting.startup import startup_problems
from voting.verify import verify_record

ELECTION = "survey-2026"
ADMIN = Principal("A0001", "session", b"", (), frozenset({"admin"}))
CLOSED_PORT_URL_TEMPLATE = "postgresql://postgres@127.0.0.1:{port}/voting"


def closed_port_url() -> str:
    """A PostgreSQL URL nothing listens on: the database is down."""
    return CLOSED_PORT_URL_TEMPLATE.format(port=free_port())


def voting(*args: str, env: dict, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "voting.cli", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def operator_env(data_dir: Path, database_url: str = "", **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOTING_")}
    env.update({"VOTING_DATA_DIR": str(data_dir), "VOTING_DATABASE_URL": database_url, **extra})
    return env


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("Error:")]


async def create_election(services: Services, election_id: str = ELECTION) -> None:
    async with services.database.write() as db:
        await services.elections.create(db, ADMIN, {"manifest": manifest(election_id), "trustees": ["T0001", "T0002", "T0003"], "threshold": 2})


async def append(services: Services, n: int, election_id: str = ELECTION) -> None:
    async with services.database.write() as db:
        await services.board.append(db, election_id, "admin-action", {"action": "note", "by": f"host-{n}"})
        await db.commit()


@pytest.fixture
def settings(data_dir, database_url) -> Settings:
    settings = Settings(data_dir=data_dir, database_url=database_url)
    operator.upgrade(settings)
    return settings


def run(coro):
    return asyncio.run(coro)


# --- item 1: the server key ------------------------------------------------------------------------


def test_a_host_without_the_key_refuses_to_create_one_beside_a_board(settings):
    async def first_host() -> None:
        services = Services.build(settings)
        try:
            await create_election(services)
        finally:
            await services.database.close()

    run(first_host())
    key = settings.signing_key_path.read_bytes()
    settings.signing_key_path.unlink()  # the second host: same database, no key file
    with pytest.raises(SystemExit, match="copy server-signing-key.pem from the first host"):
        Services.build(settings)
    with pytest.raises(SystemExit, match="copy server-signing-key.pem from the first host"):
        operator.prepare_to_serve(settings)
    assert not settings.signing_key_path.exists()
    # A fresh deployment still gets its key; the copied key serves.
    settings.signing_key_path.write_bytes(key)
    assert operator.prepare_to_serve(settings) == []


def test_serve_refuses_a_key_the_board_was_not_signed_with(settings, tmp_path):
    async def first_host() -> bytes:
        services = Services.build(settings)
        try:
            await create_election(services)
            return services.key.public_bytes
        finally:
            await services.database.close()

    board_key = run(first_host())
    settings.signing_key_path.unlink()
    other = load_or_create(settings.signing_key_path)  # a new key, as an unguarded start made one
    assert other.public_bytes != board_key
    problems = operator.prepare_to_serve(settings)
    assert len(problems) == 1
    assert board_key.hex()[:16] in problems[0] and "copy server-signing-key.pem from the first host" in problems[0]
    result = voting("serve", "--port", str(free_port()), env=operator_env(settings.data_dir, settings.database_url), cwd=tmp_path)
    assert result.returncode != 0
    assert len(error_lines(result)) == 1 and "not the key this board was signed with" in result.stderr


# --- item 1: the clock ---------------------------------------------------------------------------


def test_startup_problems_name_a_clock_behind_the_board_and_an_old_schema(settings, data_dir):
    async def check() -> tuple[list[str], list[str], list[str]]:
        services = Services.build(settings)
        try:
            await create_election(services)
            now = int(time.time() * 1000)
            fine = await startup_problems(services.database, services.key, now_ms=now)
            behind = await startup_problems(services.database, services.key, now_ms=now - 5000, max_clock_skew_s=2)
            within = await startup_problems(services.database, services.key, now_ms=now - 1500, max_clock_skew_s=2)
            assert within == []
            return fine, behind, within
        finally:
            await services.database.close()

    fine, behind, _ = run(check())
    assert fine == []
    assert len(behind) == 1 and "NTP" in behind[0]
    # SQLite: the board is the only other clock; PostgreSQL: the database server's clock says which.
    assert "ahead of this host's clock" in behind[0] or "behind the database server's" in behind[0], behind[0]

    async def empty() -> list[str]:
        # A database never upgraded: the schema is not at the newest migration.
        from voting.db.engine import Database, make_engine

        database = Database(make_engine(Settings(database_url=f"sqlite:///{data_dir / 'empty.sqlite3'}").db_url))
        try:
            return await startup_problems(database, load_or_create(data_dir / "other-key.pem"), now_ms=int(time.time() * 1000))
        finally:
            await database.close()

    (problem,) = run(empty())
    assert "run 'voting db upgrade'" in problem


@pytest.mark.parametrize("slow_ms, tolerance_s", [(1500, 2), (3000, 5)])
def test_two_hosts_with_clocks_apart_write_a_board_that_verifies(settings, slow_ms, tolerance_s):
    """Two app processes on one database, the second's clock behind the first's
    (within the tolerance): its entries are dated no earlier than the board's
    newest, so check 7 of the record verifier ("the board's clock ran
    backwards", which allows 2 s) passes."""
    settings = settings.with_(max_clock_skew_s=tolerance_s)

    async def write() -> dict:
        first, second = Services.build(settings), Services.build(settings)
        second.board.clock = lambda: int(time.time() * 1000) - slow_ms
        try:
            await create_election(first)
            for n in range(6):
                await append(first if n % 2 == 0 else second, n)
            async with first.database.read() as db:
                return await export_record(db, ELECTION, settings=settings, private=False)
        finally:
            await first.database.close()
            await second.database.close()

    files = run(write())
    report = verify_record(files)
    failures = report.check(7).failures
    assert not [f for f in failures if "clock ran backwards" in f], failures
    import json

    from voting.record import files as F

    times = [json.loads(line)["time"] for line in files[F.BOARD].splitlines()]
    assert times == sorted(times)


def test_a_host_too_far_behind_refuses_to_write_on_sqlite_and_dates_nothing_on_postgresql(settings):
    """SQLite: the one host's clock dates the board, and a clock set back past
    the newest entry refuses to write. PostgreSQL: the database server's clock
    dates the board, so a slow host writes entries dated by it."""
    postgres = settings.database_url.startswith("postgresql")

    async def write() -> None:
        first, second = Services.build(settings), Services.build(settings)
        second.board.clock = lambda: int(time.time() * 1000) - 5000
        try:
            await create_election(first)
            if postgres:
                await append(second, 1)
            else:
                with pytest.raises(ClockBehind) as refused:
                    await append(second, 1)
                assert refused.value.status == 503 and refused.value.code == "clock_behind"
            await append(first, 2)
        finally:
            await first.database.close()
            await second.database.close()

    run(write())


# --- item 11: migrations only before the app starts; non-zero exit when it cannot serve ------------


def test_an_app_process_starts_while_the_database_is_down(tmp_path):
    """A worker (re)started while PostgreSQL is down starts and answers; it used to
    run the migration at start, fail, and take the service down."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    settings, env = server_settings(data_dir, closed_port_url())
    load_or_create(settings.signing_key_path)  # made by 'voting serve' before it started the workers
    server = ServerProcess(settings, env).start()
    try:
        assert httpx.get(server.url + "/api/health", timeout=10).status_code == 200
        response = httpx.get(server.url + "/api/elections/survey-2026/board/head", timeout=30)
        assert response.status_code >= 500
    finally:
        server.stop()


def test_serve_exits_non_zero_in_one_line_when_the_database_is_down(tmp_path):
    result = voting("serve", "--port", str(free_port()), env=operator_env(tmp_path / "data", closed_port_url()), cwd=tmp_path)
    assert result.returncode != 0
    (line,) = error_lines(result)
    assert "cannot connect to PostgreSQL" in line


def test_serve_exits_non_zero_in_one_line_when_the_port_is_in_use(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = voting("serve", "--port", str(port), env=operator_env(tmp_path / "data"), cwd=tmp_path)
    assert result.returncode != 0
    (line,) = error_lines(result)
    assert f"cannot listen on 127.0.0.1:{port}" in line


# --- item 8: one line for the operator's database mistakes --------------------------------------------


@pytest.mark.slow
def test_roster_add_in_the_wrong_directory_creates_no_database(tmp_path):
    result = voting("roster", "add", "A0001", "--role", "admin", env=operator_env(tmp_path / "var"), cwd=tmp_path)
    assert result.returncode != 0
    (line,) = error_lines(result)
    assert "no database at" in line and "voting db upgrade" in line
    assert not (tmp_path / "var" / "voting.sqlite3").exists()
    # Once created by 'voting db upgrade', the roster works.
    assert voting("db", "upgrade", env=operator_env(tmp_path / "var"), cwd=tmp_path).returncode == 0
    assert voting("roster", "add", "A0001", "--role", "admin", env=operator_env(tmp_path / "var"), cwd=tmp_path).returncode == 0


@pytest.mark.parametrize("command", [("db", "upgrade"), ("roster", "list")])
def test_database_down_is_one_line(tmp_path, command):
    result = voting(*command, env=operator_env(tmp_path / "data", closed_port_url()), cwd=tmp_path)
    assert result.returncode != 0
    (line,) = error_lines(result)
    assert "cannot connect to PostgreSQL" in line and "VOTING_DATABASE_URL" in line


def test_sslmode_in_the_url_is_translated_for_the_driver():
    url = Settings(database_url="postgresql://voting@db.example:5432/voting?sslmode=require&application_name=x").db_url
    assert url == "postgresql+asyncpg://voting@db.example:5432/voting?ssl=require&application_name=x"
    for mode in ("disable", "allow", "prefer", "verify-ca", "verify-full"):
        assert Settings(database_url=f"postgresql://h/db?sslmode={mode}").db_url.endswith(f"?ssl={mode}")
    with pytest.raises(SystemExit, match="PGSSLROOTCERT"):
        _ = Settings(database_url="postgresql://h/db?sslmode=verify-full&sslrootcert=/etc/ca.pem").db_url


@pytest.mark.postgres
def test_postgres_mistakes_are_one_line(tmp_path):
    base = os.environ["VOTING_TEST_DATABASE_URL"]
    server = base.rsplit("/", 1)[0]
    user_host = server.split("://", 1)[1].split("@")[-1]
    cases = {
        f"{server}/no_such_database_p1": "does not exist",
        f"postgresql://no_such_role_p1@{user_host}/postgres": "no_such_role_p1",
    }
    for url, expected in cases.items():
        result = voting("db", "upgrade", env=operator_env(tmp_path / "data", url), cwd=tmp_path)
        assert result.returncode != 0
        (line,) = error_lines(result)
        assert expected in line, line
    # sslmode=disable is understood (it used to crash with a TypeError).
    url = operator.create_postgres_database(base, "p1ssl")
    try:
        result = voting("db", "upgrade", env=operator_env(tmp_path / "data", url + "?sslmode=disable"), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    finally:
        operator.drop_postgres_database(base, url)


def test_the_app_no_longer_migrates_on_start(tmp_path):
    """Only 'voting db upgrade' (and serve/demo before the app) migrate: an app
    process on a new SQLite database leaves it without a schema."""
    from litestar.testing import TestClient

    from voting.app import create_app

    settings = Settings(data_dir=tmp_path / "data")
    with TestClient(create_app(settings)) as client:
        assert client.get("/api/health").status_code == 200

    async def revisions() -> frozenset[str]:
        from voting.db.engine import Database, make_engine, schema_revisions

        database = Database(make_engine(settings.db_url))
        try:
            return await schema_revisions(database.engine)
        finally:
            await database.close()

    assert run(revisions()) == frozenset()


# --- a host whose clock runs ahead ------------------------------------------------------------------

NINE_HOURS_MS = 9 * 3600 * 1000


def test_a_fast_host_neither_dates_the_board_nor_ends_voting_early_on_postgresql(settings):
    """The attack: a host 2 h fast (past closes_at by its own clock) writes an
    entry; every correct host then refused all writes, and under the advised
    recovery every cast was refused as "voting has ended" an hour before
    closes_at. On PostgreSQL the board now has one clock, the database
    server's: the fast host's entry is dated by it, every host writes, and the
    schedule is judged by it on every host."""
    import json

    from voting.elections.schedule import Schedule
    from voting.record import files as F

    if not settings.database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL: several hosts (SQLite has one host, whose clock is the board's)")
    now = datetime.now(UTC).replace(microsecond=0)
    doc = manifest(ELECTION) | {"schedule": {"opens_at": (now - timedelta(hours=1)).isoformat(), "closes_at": (now + timedelta(hours=1)).isoformat()}}

    async def write() -> tuple[list[str], dict]:
        fast, correct = Services.build(settings), Services.build(settings)
        fast.board.clock = lambda: int(time.time() * 1000) + 2 * 3600 * 1000
        try:
            async with correct.database.write() as db:
                await correct.elections.create(db, ADMIN, {"manifest": doc, "trustees": ["T0001", "T0002", "T0003"], "threshold": 2})
            await append(fast, 1)
            await append(correct, 2)  # used to be refused: 503 clock_behind
            for host in (fast, correct):
                async with host.database.write() as db:
                    appender = await host.board.appender(db, ELECTION)
                    Schedule.of(doc).require_casting(appender.now)  # used to be "voting has ended" on the fast host
                    await db.rollback()
            problems = await startup_problems(correct.database, correct.key, now_ms=int(time.time() * 1000))
            async with correct.database.read() as db:
                return problems, await export_record(db, ELECTION, settings=settings, private=False)
        finally:
            await fast.database.close()
            await correct.database.close()

    problems, files = run(write())
    assert problems == []
    times = [datetime.fromisoformat(json.loads(line)["time"]) for line in files[F.BOARD].splitlines()]
    assert max(times) < now + timedelta(minutes=10), times  # none dated by the fast host's clock
    assert verify_record(files).check(7).failures == []


def test_a_board_dated_ahead_on_sqlite_names_the_time_writes_resume_and_never_a_larger_tolerance(settings):
    """SQLite: the one host's clock ran 9 h fast (local time taken as UTC) and
    was corrected. Writes are refused until then, and the message says so; it
    no longer advises raising VOTING_MAX_CLOCK_SKEW_S to cover the gap (which
    loosened every other clock check too)."""
    if settings.database_url.startswith("postgresql"):
        pytest.skip("SQLite: the host's clock dates the board")

    async def write() -> list[str]:
        services = Services.build(settings)
        try:
            await create_election(services)
            real = services.board.clock
            services.board.clock = lambda: real() + NINE_HOURS_MS
            await append(services, 1)
            services.board.clock = real  # NTP corrected it
            with pytest.raises(ClockBehind):
                await append(services, 2)
            return await startup_problems(services.database, services.key, now_ms=int(time.time() * 1000), max_clock_skew_s=2)
        finally:
            await services.database.close()

    (problem,) = run(write())
    assert "ahead of this host's clock, which dates the board" in problem and "NTP" in problem
    assert "writes resume at" in problem and "A board dated in the future" in problem
    assert "VOTING_MAX_CLOCK_SKEW_S=2" in problem and "set VOTING_MAX_CLOCK_SKEW_S" not in problem


def test_a_host_clock_off_from_the_database_servers_is_refused_both_ways(settings, monkeypatch):
    """Compared with the database server's clock, a host ahead is refused before
    it writes anything (start-up and /api/ready), and so is a host behind."""
    from voting.health import Readiness

    if not settings.database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's clock is the reference (SQLite: one host)")

    async def check() -> tuple[list[str], list[str], list[str], list[str]]:
        services = Services.build(settings)
        try:
            now = int(time.time() * 1000)
            fine = await startup_problems(services.database, services.key, now_ms=now, max_clock_skew_s=2)
            ahead = await startup_problems(services.database, services.key, now_ms=now + 10_000, max_clock_skew_s=2)
            behind = await startup_problems(services.database, services.key, now_ms=now - 10_000, max_clock_skew_s=2)
            real = time.time
            monkeypatch.setattr(time, "time", lambda: real() + 10)
            ready = await Readiness(services).reasons()
            monkeypatch.setattr(time, "time", real)
            return fine, ahead, behind, ready
        finally:
            await services.database.close()

    fine, ahead, behind, ready = run(check())
    assert fine == []
    assert len(ahead) == 1 and "ahead of the database server's" in ahead[0] and "NTP" in ahead[0]
    assert len(behind) == 1 and "behind the database server's" in behind[0]
    assert [r for r in ready if "ahead of the database server's" in r], ready
