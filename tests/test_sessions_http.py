"""Logins, sessions and the API's security headers, over real HTTP on SQLite and
PostgreSQL: login rate limits per client address and per certificate
(configurable; 0 lifts them for load tests), a new session on every login, an
idle timeout that activity keeps off, a logout that ends the session; nosniff,
Referrer-Policy and (over TLS, direct or behind a proxy) HSTS on every API
response; and no GET of the API that changes anything.

Other client addresses are other loopback addresses (127.0.0.2, ...): Linux
routes all of 127.0.0.0/8 to the loopback interface.
"""

from __future__ import annotations

import ipaddress
import ssl
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from crypto.credentials import Credential, make_login_token
from tests.http_support import Pilot, changed_tables, problem, start_pilot, two_question_manifest
from tests.support import ServerProcess, free_port, server_settings
from voting import operator
from voting.client import Client
from voting.security import HSTS

RATE = 3


def login_from(url: str, credential: Credential, address: str = "127.0.0.1", audience: str | None = None) -> httpx.Response:
    """A whole login (challenge, signed token) from one client address."""
    with httpx.Client(base_url=url, transport=httpx.HTTPTransport(local_address=address)) as http:
        challenge = http.post("/api/auth/challenge").json()
        token = make_login_token(
            credential.private_key, credential.chain, nonce=challenge["nonce"],
            audience=audience or challenge["audience"], now=datetime.now(UTC),
        )
        return http.post("/api/auth/login", json={"token": token})


@pytest.mark.slow
def test_login_rate_limits_per_address_and_per_certificate(pki, data_dir, database_url):
    pilot = start_pilot(pki, data_dir, database_url)  # logs the administrator in from 127.0.0.1, unlimited
    settings, env = server_settings(data_dir, database_url, login_rate_per_minute=str(RATE))
    limited = ServerProcess(settings, env).start()
    try:
        people = {e: pki.enroll(e) for e in ("E0001", "E0002", "E0003", "E0004", "E0005", "E0006")}

        # Per address: RATE attempts from 127.0.0.2 (a failed one counts too), then
        # even another employee's valid login from there is refused; another address is not.
        assert login_from(limited.url, people["E0001"], "127.0.0.2").status_code == 200
        assert problem(login_from(limited.url, people["E0002"], "127.0.0.2", audience="https://elsewhere")) == (401, "audience_invalid")
        assert login_from(limited.url, people["E0003"], "127.0.0.2").status_code == 200
        before = pilot.snapshot()
        refused = login_from(limited.url, people["E0004"], "127.0.0.2")
        assert problem(refused) == (429, "rate_limited")
        after = pilot.snapshot()
        assert changed_tables(before, after) == []  # asking for a challenge writes nothing; no session
        assert login_from(limited.url, people["E0004"], "127.0.0.3").status_code == 200

        # Per certificate: one employee's certificate from RATE addresses, then from a fresh one.
        for n in range(10, 10 + RATE):
            assert login_from(limited.url, people["E0005"], f"127.0.0.{n}").status_code == 200
        assert problem(login_from(limited.url, people["E0005"], "127.0.0.20")) == (429, "rate_limited")
        assert login_from(limited.url, people["E0006"], "127.0.0.20").status_code == 200  # that address is fine

        # VOTING_LOGIN_RATE_PER_MINUTE=0 (the test servers' default, for load tests): no limit.
        for _ in range(3 * RATE):
            assert login_from(pilot.url, people["E0001"], "127.0.0.2").status_code == 200
    finally:
        limited.stop()
        pilot.stop()


@pytest.mark.slow
def test_sessions_new_on_login_idle_timeout_and_logout(pki, data_dir, database_url):
    pilot = start_pilot(pki, data_dir, database_url)
    settings, env = server_settings(data_dir, database_url, session_idle_s="2")
    idle_server = ServerProcess(settings, env).start()
    try:
        election_id = pilot.open_election(two_question_manifest("sessions-2026"), ["E0001"])
        alice = pki.enroll("E0001")

        # Every login is a new session, chosen by the server; each ends on its own.
        first, second = pilot.login(alice), pilot.login(alice)
        assert first.session["session_token"] != second.session["session_token"]
        # Only in the Authorization header: as a cookie (what a cross-site request could carry) it is ignored.
        cookie = {"__Host-session": first.session["session_token"], "session": first.session["session_token"]}
        assert problem(httpx.get(pilot.url + "/api/auth/me", cookies=cookie)) == (401, "not_logged_in")
        first_token = first.session["session_token"]
        first.logout()
        assert problem(httpx.get(pilot.url + "/api/auth/me", headers={"Authorization": f"Bearer {first_token}"})) == (401, "session_ended")
        assert second.get("/api/auth/me")["employee_id"] == "E0001"

        # A logged-out token is refused everywhere, a second logout too; a new login works.
        token = second.session["session_token"]
        second.logout()
        headers = {"Authorization": f"Bearer {token}"}
        assert problem(httpx.get(pilot.url + "/api/auth/me", headers=headers)) == (401, "session_ended")
        assert problem(httpx.get(pilot.url + f"/api/elections/{election_id}/voter", headers=headers)) == (401, "session_ended")
        assert problem(httpx.post(pilot.url + "/api/auth/logout", headers=headers)) == (401, "session_ended")
        third = pilot.login(alice)
        assert third.get(f"/api/elections/{election_id}/voter")["name"]

        # Idle timeout of 2 s on the second app process: a session in use every
        # 0.4 s lives on past it; one left alone meanwhile (3.2 s) has ended.
        active, idle = Client(idle_server.url), Client(idle_server.url)
        pilot.clients += [active, idle]
        active.login(alice)
        idle.login(alice)
        for _ in range(8):
            time.sleep(0.4)
            assert active.get("/api/auth/me")["employee_id"] == "E0001"
        assert problem(idle.http.get("/api/auth/me")) == (401, "session_idle")
        assert active.get("/api/auth/me")["employee_id"] == "E0001"
    finally:
        idle_server.stop()
        pilot.stop()


# --- headers ------------------------------------------------------------------------------


def sqlite_url(data_dir) -> str:
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{data_dir / 'voting.sqlite3'}"


def api_responses(url: str, http: httpx.Client, headers: dict | None = None) -> list[httpx.Response]:
    """A success, a refusal, a 404, a 405 and a page."""
    headers = headers or {}
    return [
        http.get(url + "/api/health", headers=headers),
        http.post(url + "/api/auth/logout", headers=headers),
        http.get(url + "/api/elections/nowhere", headers=headers),
        http.get(url + "/api/no-such-thing", headers=headers),
        http.delete(url + "/api/health", headers=headers),
        http.get(url + "/schema/openapi.json", headers=headers),
    ]


@pytest.mark.slow
def test_security_headers_on_api_responses(pki, data_dir):
    pilot = start_pilot(pki, data_dir, sqlite_url(data_dir))  # headers do not depend on the database
    try:
        with httpx.Client() as http:
            for response in api_responses(pilot.url, http):
                assert response.headers["x-content-type-options"] == "nosniff", response.url
                assert response.headers["referrer-policy"] == "no-referrer", response.url
                assert "strict-transport-security" not in response.headers  # plain HTTP: meaningless, left out
            assert http.delete(pilot.url + "/api/health").headers["allow"]
            # Behind a TLS-terminating proxy.
            for response in api_responses(pilot.url, http, {"X-Forwarded-Proto": "https"}):
                assert response.headers["strict-transport-security"] == HSTS, response.url
            page = http.get(pilot.url + "/", headers={"X-Forwarded-Proto": "https"})
            assert page.headers["strict-transport-security"] == HSTS
            assert "content-security-policy" in page.headers  # the page's own headers are kept
            assert page.headers.get_list("x-content-type-options") == ["nosniff"]
            assert "strict-transport-security" not in http.get(pilot.url + "/api/health", headers={"X-Forwarded-Proto": "http"}).headers
    finally:
        pilot.stop()


def self_signed_tls(directory) -> tuple:
    """A certificate for 127.0.0.1, for uvicorn's own TLS."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = directory / "tls-key.pem", directory / "tls-cert.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


@pytest.mark.slow
def test_hsts_when_served_over_tls(data_dir):
    """uvicorn serving TLS itself: every response says HSTS."""
    data_dir.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = self_signed_tls(data_dir)
    settings, env = server_settings(data_dir, sqlite_url(data_dir))
    operator.upgrade(settings)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "voting.app:create_app", "--host", "127.0.0.1", "--port", str(port),
         "--ssl-keyfile", str(key_path), "--ssl-certfile", str(cert_path), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"https://127.0.0.1:{port}"
    try:
        with httpx.Client(verify=ssl.create_default_context(cafile=str(cert_path))) as http:
            for _ in range(300):
                try:
                    http.get(url + "/api/health")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            for response in api_responses(url, http):
                assert response.headers["strict-transport-security"] == HSTS, response.url
                assert response.headers["x-content-type-options"] == "nosniff"
    finally:
        process.terminate()
        process.wait(10)


# --- no GET changes anything ------------------------------------------------------------------


@pytest.mark.slow
def test_no_api_get_changes_state(pki, data_dir, database_url):
    """Every GET operation of the OpenAPI document, called by an administrator
    who is also a voter and a trustee, with real ids: the database is unchanged."""
    pilot: Pilot = start_pilot(pki, data_dir, database_url)
    try:
        election_id = pilot.open_election(two_question_manifest("gets-2026"), ["A0001"])
        receipt = pilot.admin.cast(pilot.admin.prepare_ballot(election_id, {"days": ["d0"], "tools": []}))
        values = {"election_id": election_id, "tracking_code": receipt["tracking_code"]}
        query = {"index": 1, "old": 1, "start": 0}
        schema = pilot.admin.get("/schema/openapi.json")
        calls = 0
        before = pilot.snapshot()
        for path, operations in schema["paths"].items():
            if "get" not in operations:
                continue
            response = pilot.admin.http.get(path.format(**values), params=query)
            assert response.status_code < 500, (path, response.text[:300])
            calls += 1
        assert not changed_tables(before, pilot.snapshot())
        assert calls >= 15
    finally:
        pilot.stop()
