"""Health, readiness, metrics, the JSON log, request timeouts and database
outages (issue 13, items 4, 9 and 14), against a real ``voting serve``."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text
from sqlalchemy import exc as sa
from sqlalchemy.ext.asyncio import create_async_engine

from crypto.credentials import make_login_token
from tests.http_support import two_question_manifest
from tests.support import PG_ENV, free_port
from voting import operator
from voting.errors import unavailable
from voting.settings import Settings

#: Bounds for waiting on the server; a test never asserts how fast it was.
PATIENCE_S = 60


@dataclass
class Served:
    url: str
    process: subprocess.Popen
    log_path: Path

    def log_lines(self) -> list[str]:
        return self.log_path.read_text().splitlines()

    def json_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.log_lines() if line.startswith("{")]


@contextmanager
def serving(data_dir: Path, database_url: str, **settings: str) -> Iterator[Served]:
    """``voting serve`` in a child process, as an operator starts it."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "VOTING_DATA_DIR": str(data_dir),
        "VOTING_DATABASE_URL": database_url,
        "VOTING_LOGIN_RATE_PER_MINUTE": "0",
        **{f"VOTING_{k.upper()}": v for k, v in settings.items()},
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"serve-{port}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "voting.cli", "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    served = Served(f"http://127.0.0.1:{port}", process, log_path)
    try:
        deadline = time.monotonic() + PATIENCE_S
        while True:
            assert process.poll() is None, f"voting serve exited: {log_path.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "voting serve did not start"
            try:
                if httpx.get(served.url + "/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def poll(check, what: str):
    """``check()``'s first true value (the readiness verdict is cached a few seconds)."""
    deadline = time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.2)
    raise AssertionError(f"never {what}")


def sql(database_url: str, statement: str) -> list[tuple]:
    async def run() -> list[tuple]:
        engine = create_async_engine(Settings(database_url=database_url).db_url)
        try:
            async with engine.begin() as conn:
                result = await conn.execute(text(statement))
                return [tuple(row) for row in result] if result.returns_rows else []
        finally:
            await engine.dispose()

    return asyncio.run(run())


# --- item 4: liveness and readiness -------------------------------------------------------------------


@pytest.mark.slow
def test_ready_names_what_is_wrong_while_health_stays_live(pki, data_dir, database_url):
    """/api/ready is 200 only when the service can serve; with the schema not at
    the newest migration it is 503 with the reason (one line, no server path),
    and ready again once fixed; /api/health answers throughout."""
    with serving(data_dir, database_url) as served:
        ready = poll(lambda: (r := httpx.get(served.url + "/api/ready")).status_code == 200 and r, "ready")
        assert ready.json() == {"ready": True}

        (version,) = sql(database_url, "SELECT version_num FROM alembic_version")[0]
        sql(database_url, "DELETE FROM alembic_version")
        refused = poll(lambda: (r := httpx.get(served.url + "/api/ready")).status_code == 503 and r, "not ready")
        body = refused.json()
        assert body["ready"] is False
        assert any("voting db upgrade" in reason for reason in body["reasons"]), body
        assert all("\n" not in reason and str(data_dir) not in reason for reason in body["reasons"])
        assert httpx.get(served.url + "/api/health").json() == {"ok": True}

        sql(database_url, f"INSERT INTO alembic_version (version_num) VALUES ('{version}')")
        poll(lambda: httpx.get(served.url + "/api/ready").status_code == 200, "ready again")
    not_ready = [e for e in served.json_lines() if e.get("event") == "not_ready" and "voting db upgrade" in e["message"]]
    assert len(not_ready) == 1, "logged once per change, not per poll"


# --- item 4: metrics ----------------------------------------------------------------------------------------


def _samples(url: str) -> dict[tuple[str, tuple], float]:
    response = httpx.get(url + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


@pytest.mark.slow
def test_metrics_count_requests_ballots_refused_logins_and_the_board(pilot, pki):
    election_id = pilot.open_election(two_question_manifest("metrics-2026", min_tally_ballots=1), ["E0001"])
    voter = pilot.login(pki.enroll("E0001"))
    voter.cast(voter.prepare_ballot(election_id, {"days": ["d1"], "tools": []}))
    refused = httpx.post(pilot.server.url + "/api/auth/login", json={"token": "not.a.token"})
    assert refused.status_code in (401, 422)
    code = refused.json()["code"]

    samples = _samples(pilot.server.url)
    route = "/api/elections/{election_id}/ballots"
    assert samples[("voting_http_requests_total", (("method", "POST"), ("route", route), ("status", "201")))] == 1
    assert samples[("voting_ballots_cast_total", (("election", election_id),))] == 1
    assert samples[("voting_logins_refused_total", (("code", code),))] == 1
    assert samples[("voting_http_request_duration_seconds_count", (("method", "POST"), ("route", route)))] == 1
    board = samples[("voting_board_entries", (("election", election_id),))]
    assert board == pilot.admin.get(f"/api/elections/{election_id}/board/entries", start=0, limit=1)["size"]
    assert ("process_start_time_seconds", ()) in samples
    # An unknown path is counted as such, not by its path (unbounded).
    httpx.get(pilot.server.url + "/no/such/path")
    assert _samples(pilot.server.url)[("voting_http_requests_total", (("method", "GET"), ("route", "unmatched"), ("status", "404")))] == 1


# --- item 9: the log -------------------------------------------------------------------------------------------


def test_one_json_line_per_event_with_time_request_id_and_refusal_code(pki, data_dir, tmp_path):
    database_url = f"sqlite:///{data_dir / 'voting.sqlite3'}"
    secret = "s1.SECRETSESSION.MAC"
    with serving(data_dir, database_url) as served:
        missing = httpx.get(served.url + f"/api/elections/none-2026?token={secret}")
        refused = httpx.post(served.url + "/api/auth/login", json={"token": "eyJTOKEN.eyJBODY.SIG"})
        httpx.get(served.url + "/api/auth/me", headers={"Authorization": f"Bearer {secret}"})
    assert missing.status_code == 404 and refused.status_code in (401, 422)
    lines = served.log_lines()
    started = next(i for i, line in enumerate(lines) if line.startswith("{"))
    events = [json.loads(line) for line in lines[started:]]  # every line from uvicorn's start on is JSON
    for event in events:
        assert event["time"].endswith("Z") and "T" in event["time"]
        assert {"level", "logger", "event", "message"} <= event.keys()

    access = [e for e in events if e["event"] == "request"]
    first = next(e for e in access if e["path"] == "/api/elections/none-2026")
    assert first["request_id"] == missing.headers["x-request-id"]
    assert (first["method"], first["status"], first["code"]) == ("GET", 404, missing.json()["code"])
    assert first["duration_ms"] >= 0 and first["route"] == "/api/elections/{election_id}"
    login = next(e for e in access if e["path"] == "/api/auth/login")
    assert login["request_id"] == refused.headers["x-request-id"] != first["request_id"]
    assert (login["code"], login["reason"]) == (refused.json()["code"], refused.json()["detail"])
    login_refused = [e for e in events if e["event"] == "login_refused"]
    assert [e["code"] for e in login_refused] == [refused.json()["code"]]
    text_log = served.log_path.read_text()
    assert secret not in text_log and "SECRETSESSION" not in text_log and "eyJTOKEN" not in text_log
    assert 'HTTP/1.1"' not in text_log, "uvicorn's own access log is replaced"


# --- item 14: request timeouts --------------------------------------------------------------------------------


def _closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (bounded wait)."""
    sock.settimeout(PATIENCE_S)
    received = b""
    while chunk := sock.recv(4096):
        received += chunk
    return received


@pytest.mark.slow
def test_slow_and_silent_connections_are_closed(data_dir):
    database_url = f"sqlite:///{data_dir / 'voting.sqlite3'}"
    with serving(data_dir, database_url, header_timeout_s="1", body_timeout_s="1") as served:
        address = ("127.0.0.1", int(served.url.rsplit(":", 1)[1]))
        with socket.create_connection(address) as silent, socket.create_connection(address) as partial_head:
            partial_head.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            assert _closed(silent) == b""
            assert _closed(partial_head) == b""

        with socket.create_connection(address) as partial_body:
            partial_body.sendall(
                b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 200\r\n\r\n{\"token\": \"abc"
            )
            answer = _closed(partial_body)
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 ")
        assert json.loads(body)["code"] == "request_timeout"

        with socket.create_connection(address) as keep_alive:
            keep_alive.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
            keep_alive.settimeout(PATIENCE_S)
            first = b""
            while not first.endswith(b'{"ok":true}'):
                first += keep_alive.recv(4096)
            keep_alive.sendall(b"GET /api/health HTTP/1.1\r\nHo")
            assert _closed(keep_alive) == b""
        # The service still serves.
        assert httpx.get(served.url + "/api/health").status_code == 200
    events = served.json_lines()
    assert len([e for e in events if e["event"] == "header_timeout"]) == 2  # the two partial heads, not the silent one
    assert len([e for e in events if e.get("code") == "request_timeout"]) == 2  # the access line and the login refusal
    assert "Traceback" not in served.log_path.read_text()


# --- item 14: database outages: 503, one line each, no traceback ----------------------------------------------


def _outage_requests(served: Served, credential, count: int) -> list[httpx.Response]:
    """Logins: each writes (the challenge it spends and the session); asking for
    the challenge writes nothing, and answers whatever the database's state."""
    responses = []
    for _ in range(count):
        challenge = httpx.post(served.url + "/api/auth/challenge").json()
        token = make_login_token(
            credential.private_key, credential.chain, nonce=challenge["nonce"], audience=challenge["audience"],
            now=datetime.now(UTC),
        )
        responses.append(httpx.post(served.url + "/api/auth/login", json={"token": token}))
    return responses


@pytest.mark.slow
def test_a_full_disk_answers_503_with_one_line_per_request(pki, data_dir):
    """SQLite on a disk that fills up (the file size limit of the serving
    process stands in for it): every write answers 503 "nothing was recorded",
    each logged as one line, never a traceback."""
    database_url = f"sqlite:///{data_dir / 'voting.sqlite3'}"
    employee = pki.enroll("E0001")
    with serving(data_dir, database_url) as served:
        files = [p for p in data_dir.rglob("*") if p.is_file()]
        limit = max(p.stat().st_size for p in files) + 64 * 1024
        resource.prlimit(served.process.pid, resource.RLIMIT_FSIZE, (limit, limit))
        responses = []
        while len([r for r in responses if r.status_code == 503]) < 5:
            assert len(responses) < 500, "the disk never filled"
            responses += _outage_requests(served, employee, 1)
        failed = [r for r in responses if r.status_code != 200]
        assert {r.status_code for r in failed} == {503}
        assert {r.json()["code"] for r in failed} <= {"database_unavailable", "disk_full"}
        assert all("nothing was recorded" in r.json()["detail"] for r in failed)
        assert httpx.get(served.url + "/api/health").status_code == 200
    text_log = served.log_path.read_text()
    assert "Traceback" not in text_log
    outage_lines = [e for e in served.json_lines() if e.get("status") == 503 and e["path"] == "/api/auth/login"]
    assert len(outage_lines) == len(failed)
    assert all(e["cause"] and "INSERT" not in e["cause"] for e in outage_lines)
    # One line each in the access log, and one for the refused login (voting.auth): no other.
    outage = [line for line in text_log.splitlines() if "database_unavailable" in line or "disk_full" in line]
    assert len(outage) == 2 * len(failed)
    assert len([line for line in outage if '"event": "login_refused"' in line]) == len(failed)


@pytest.mark.postgres
def test_a_dropped_postgresql_database_answers_503_with_one_line_per_request(pki, data_dir):
    database_url = operator.create_postgres_database(os.environ[PG_ENV], "t")
    employee = pki.enroll("E0001")
    with serving(data_dir, database_url) as served:
        assert [r.status_code for r in _outage_requests(served, employee, 1)] == [200]
        operator.drop_postgres_database(os.environ[PG_ENV], database_url)
        failed = _outage_requests(served, employee, 5)
        assert [(r.status_code, r.json()["code"]) for r in failed] == [(503, "database_unavailable")] * 5
        assert all("nothing was recorded" in r.json()["detail"] for r in failed)
        ready = poll(lambda: (r := httpx.get(served.url + "/api/ready")).status_code == 503 and r, "not ready")
        assert any("database" in reason for reason in ready.json()["reasons"])
        assert httpx.get(served.url + "/api/health").status_code == 200
    text_log = served.log_path.read_text()
    assert "Traceback" not in text_log
    lines = [line for line in text_log.splitlines() if "database_unavailable" in line]
    assert len(lines) == 2 * 5, lines  # the access line and the refused login's line (voting.auth), each
    assert len([line for line in lines if '"event": "login_refused"' in line]) == 5


def test_outages_are_told_apart_from_bugs(tmp_path):
    """The classification behind the 503s, on the drivers' real errors."""
    path = tmp_path / "full.sqlite3"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x TEXT PRIMARY KEY)"))
    with engine.connect() as conn, pytest.raises(sa.OperationalError) as full:
        conn.execute(text("PRAGMA max_page_count = 2"))
        conn.execute(text("INSERT INTO t VALUES (:x)"), [{"x": "x" * 3000 + str(i)} for i in range(20)])
        conn.commit()
    with engine.connect() as conn, pytest.raises(sa.IntegrityError) as duplicate:
        conn.execute(text("INSERT INTO t VALUES ('a'), ('a')"))
    code, detail, cause = unavailable(full.value)
    assert code == "disk_full" and "nothing was recorded" in detail
    assert cause == "OperationalError: database or disk is full"
    assert unavailable(duplicate.value) is None, "a bug stays a 500 with its traceback"
    assert unavailable(ValueError("x")) is None

    async def refused_connection() -> BaseException:
        engine = create_async_engine(Settings(database_url=f"postgresql://nobody@127.0.0.1:{free_port()}/none").db_url)
        try:
            async with engine.connect():
                pass
        except Exception as exc:  # noqa: BLE001 - the error under test
            return exc
        finally:
            await engine.dispose()
        raise AssertionError("connected to a closed port")

    assert unavailable(asyncio.run(refused_connection()))[0] == "database_unavailable"


# --- the text log: one line per record, whatever a client sends ------------------------------------------


def test_a_request_path_cannot_forge_lines_in_the_text_log(data_dir):
    database_url = f"sqlite:///{data_dir / 'voting.sqlite3'}"
    forged = "2030-01-01T00:00:00.000Z INFO voting.auth login accepted employee=1001"
    with serving(data_dir, database_url, log_format="text") as served:
        for separator in ("%0A", "%0D", "%E2%80%A8", "%1B%5B2K"):
            response = httpx.get(served.url + f"/x{separator}{forged.replace(' ', '%20')}")
            assert response.status_code == 404
        httpx.get(served.url + "/last-request")  # logged after the others
        poll(lambda: "/last-request" in served.log_path.read_text(), "logs the last request")
    lines = served.log_lines()
    assert not [line for line in lines if line.startswith("2030-")], "a forged line"
    assert not [line for line in lines if "\u2028" in line or "\x1b" in line]
    assert any("/x\\n2030-01-01" in line for line in lines) and any("/x\\u2028" in line for line in lines)


def test_the_text_formatter_escapes_control_characters_in_messages_and_fields():
    import logging

    from voting.observability import TextFormatter

    record = logging.LogRecord("voting.access", logging.INFO, "", 0, "%s %s", ("GET", "/a\nb\rc\u2028d\u202ee"), None)
    record.path = "/a\nb"
    record.event = "request"
    line = TextFormatter().format(record)
    assert "\n" not in line and "\r" not in line and "\u2028" not in line and "\u202e" not in line
    assert "GET /a\\nb\\rc\\u2028d\\u202ee" in line and "path=/a\\nb" in line


def test_a_request_path_cannot_forge_fields_and_json_lines_do_not_split():
    """The attack: a path "/x status=200 employee_id=A0001" read as fields of its
    own in the text log, a typed backslash-n read as an escaped newline, and
    U+2028/U+0085 left raw in the JSON log split the record for readers that
    split lines as str.splitlines() does."""
    import logging
    import shlex

    from voting.observability import JsonFormatter, TextFormatter

    def record(path: str) -> logging.LogRecord:
        made = logging.LogRecord("voting.access", logging.INFO, "", 0, "%s %s %d", ("GET", path, 404), None)
        made.event, made.path, made.status = "request", path, 404
        return made

    line = TextFormatter().format(record('/x status=200 employee_id=A0001 "q"'))
    fields = [part for part in shlex.split(line.split(" ", 3)[3]) if "=" in part]
    assert [f for f in fields if f.startswith("status=")] == ["status=404"], line
    assert not [f for f in fields if f.startswith("employee_id=")], line
    typed, newline = (TextFormatter().format(record(p)) for p in ("/a\\nb", "/a\nb"))
    assert typed != newline and "/a\\\\nb" in typed and "/a\\nb" in newline
    line = JsonFormatter().format(record("/a\u2028b\x85c\u2029d"))
    assert len(line.splitlines()) == 1
    assert json.loads(line)["path"] == "/a\u2028b\x85c\u2029d"
