"""Attacks on login, each played against the real server over HTTP, with the
unmodified clients (voting.client.Client, the CLI, the login page in chromium):

- a phishing server that relays the real server's login challenge, to get a
  token the real server accepts and log in as the victim (an administrator);
- a revoked employee who puts the previous CRL back (a file restored, an old
  CRL replayed at the CRL's URL), before and after a server restart;
- a revoked issuing CA, whose employees still hold open sessions;
- tokens that carry a victim's certificate but not the victim's signature, sent
  to use up the victim's per-certificate login limit.

Other client addresses are other loopback addresses (127.0.0.2, ...), as in
tests/test_sessions_http.py.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization

from crypto import ca
from crypto.credentials import Credential, crl_to_pem, make_login_token, seal_credential
from crypto.encoding import canonical_json
from tests.http_support import ADMIN, changed_tables, problem, start_pilot, two_question_manifest
from tests.mitm_support import Mitm
from tests.support import Pki, fresh_database_url, make_pki
from tests.test_browser import CHROMIUM, LAUNCH_ARGS, msg
from voting.cli import main
from voting.client import ApiError, Client
from voting.origin import origin_of
from voting.settings import Settings

PIN = "246810"
RATE = 3


def logins_seen(mitm: Mitm) -> list:
    return [r for r in mitm.requests if r.method == "POST" and r.path == "/api/auth/login"]


def sealed_file(credential: Credential, path: Path) -> Path:
    doc = seal_credential(
        credential.private_key, credential.chain, PIN, employee_id=credential.employee_id, name=credential.name,
        iterations=20_000,
    )
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


# --- the audience: one origin, written one way ------------------------------------------------------------


def test_the_audience_is_the_origin_as_a_browser_writes_it():
    assert origin_of("https://Vote.City.example:443/login?next=/vote") == "https://vote.city.example"
    assert origin_of("http://127.0.0.1:8000/") == "http://127.0.0.1:8000"
    assert origin_of("HTTP://LOCALHOST:80") == "http://localhost"
    assert origin_of("http://[::1]:8000/x") == "http://[::1]:8000"
    assert origin_of("https://市役所.jp") == "https://xn--7sto6a74d.jp"
    for bad in ("ftp://vote.city.example", "vote.city.example", "https://", "https://vote:99999"):
        with pytest.raises(ValueError):
            origin_of(bad)
    assert Settings(public_url="https://Vote.City.example/").audience == "https://vote.city.example"
    assert Settings(host="127.0.0.1", port=8000).audience == "http://127.0.0.1:8000"
    assert Settings(host="::1", port=80).audience == "http://[::1]"


# --- attack: a phishing server relays the real server's challenge ------------------------------------------


def test_the_client_refuses_to_sign_a_relayed_challenge(pki, data_dir, database_url, tmp_path):
    """The administrator is lured to the phisher's address. The phisher relays
    the challenge, which names the real server: the client refuses before it
    signs, so the phisher gets no token and the real server no login."""
    pilot = start_pilot(pki, data_dir, database_url)
    admin = pki.enroll(ADMIN)
    try:
        with Mitm(pilot.url) as phisher:
            before = pilot.snapshot()
            with Client(phisher.url) as lured, pytest.raises(ApiError) as refused:
                lured.login(admin)
            assert (refused.value.status, refused.value.code) == (0, "audience_mismatch")
            assert pilot.url in refused.value.detail and phisher.url in refused.value.detail
            assert "phishing" in refused.value.detail and "フィッシング" in refused.value.detail
            assert [r.path for r in phisher.requests] == ["/api/auth/challenge"]
            assert not logins_seen(phisher)
            # The real server saw the challenge only (which writes nothing): no session was opened.
            assert changed_tables(before, pilot.snapshot()) == []

            # The same through the command line: one clear line, nothing signed.
            path = sealed_file(admin, tmp_path / "admin.credential.json")
            result = CliRunner().invoke(
                main, ["election", "close", "survey-2026", "-c", str(path), "--server", phisher.url],
                env={"VOTING_PIN": PIN},
            )
            assert result.exit_code == 1, result.output
            assert "[audience_mismatch]" in result.output and "possible phishing" in result.output
            assert "Traceback" not in result.output
            assert not logins_seen(phisher)

        # At the real address the same client logs in, however the address is written.
        for url in (pilot.url, pilot.url + "/", pilot.url.replace("http://", "HTTP://") + "/"):
            with Client(url) as direct:
                assert direct.login(admin)["employee_id"] == ADMIN
    finally:
        pilot.stop()


@pytest.mark.browser
def test_the_login_page_refuses_a_relayed_challenge(data_dir, tmp_path):
    """The login page served by the phisher (its origin is the phisher's) gets
    the real server's challenge: it signs nothing and says why."""
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: the browser tests need Debian's chromium"
    from playwright.sync_api import sync_playwright

    data_dir.mkdir(parents=True, exist_ok=True)
    pki = make_pki(data_dir)
    pilot = start_pilot(pki, data_dir, fresh_database_url("sqlite", data_dir))
    path = sealed_file(pki.enroll(ADMIN), tmp_path / "admin.credential.json")
    try:
        with Mitm(pilot.url) as phisher, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
            try:
                page = browser.new_page()
                page.set_default_timeout(20_000)
                for lang in ("ja", "en"):
                    page.context.add_cookies([{"name": "lang", "value": lang, "url": phisher.url}])
                    page.goto(phisher.url + "/login")
                    page.wait_for_selector("body[data-ready]", state="attached")
                    page.set_input_files("#credential-file", str(path))
                    page.fill("#pin", PIN)
                    page.click("#login-button")
                    page.wait_for_selector("#login-error:visible")
                    expected = msg("login.wrong_server", lang, audience=pilot.url, origin=phisher.url)
                    assert page.locator("#login-error").inner_text() == expected
                    assert page.url == phisher.url + "/login"
                assert not logins_seen(phisher)

                # The same page at the real address logs in.
                page.goto(pilot.url + "/login")
                page.wait_for_selector("body[data-ready]", state="attached")
                page.set_input_files("#credential-file", str(path))
                page.fill("#pin", PIN)
                page.click("#login-button")
                page.wait_for_url(re.compile(r".*/admin$"))
            finally:
                browser.close()
    finally:
        pilot.stop()


# --- attack: the previous CRL put back ----------------------------------------------------------------------


@pytest.mark.slow
def test_a_crl_put_back_does_not_lift_a_revocation(pki, data_dir, database_url):
    pilot = start_pilot(pki, data_dir, database_url, crl_refresh_s="0")
    crl_file = pki.ca_dir / "crl.pem"
    try:
        election_id = pilot.open_election(two_question_manifest("rollback-1"), ["E0001", "E0002"])
        mallory = pki.enroll("E0001")
        previous_crl = crl_file.read_bytes()
        idle = pilot.login(mallory)  # an open session, unused until the old CRL is back
        prepared = idle.prepare_ballot(election_id, {"days": ["d1"]})

        pki.revoke(mallory)
        with pytest.raises(ApiError) as refused:
            pilot.client().login(mallory)
        assert (refused.value.status, refused.value.code) == (401, "certificate_revoked")

        crl_file.write_bytes(previous_crl)
        for attempt in (lambda: pilot.client().login(mallory), lambda: idle.cast(prepared)):
            with pytest.raises(ApiError) as refused:
                attempt()
            assert (refused.value.status, refused.value.code) == (401, "certificate_revoked")
        assert "older than one already seen" in pilot.server.log_path.read_text()

        # A restart remembers the newest CRL (it is in the database).
        pilot.server.stop()
        pilot.server.start()
        with pytest.raises(ApiError) as refused:
            pilot.client().login(mallory)
        assert (refused.value.status, refused.value.code) == (401, "certificate_revoked")

        # Everyone else logs in and votes: the CRL kept is current.
        other = pilot.login(pki.enroll("E0002"))
        assert other.cast(other.prepare_ballot(election_id, {"days": ["d2"]}))["leaf_index"] > 0
        assert pilot.admin.status(election_id)["ballots_cast"] == 1
    finally:
        pilot.stop()


# --- attack: sessions under a revoked issuing CA -------------------------------------------------------------


def write_crls(pki: Pki, *, root_revoked: list) -> None:
    """Like Pki.write_crl, with entries on the root's CRL too."""
    now = datetime.now(UTC) - timedelta(minutes=1)
    pki.crl_number += 1
    crls = [
        ca.build_crl(pki.root, root_revoked, now=now, next_update=now + timedelta(days=7), crl_number=pki.crl_number),
        ca.build_crl(pki.issuing, pki.revoked, now=now, next_update=now + timedelta(days=7), crl_number=pki.crl_number),
    ]
    (pki.ca_dir / "crl.pem").write_text("".join(crl_to_pem(c) for c in crls))


def test_revoking_the_issuing_ca_ends_open_sessions(pki, data_dir, database_url):
    pilot = start_pilot(pki, data_dir, database_url, crl_refresh_s="0")
    try:
        voter = pilot.login(pki.enroll("E0001"))
        assert voter.get("/api/auth/me")["employee_id"] == "E0001"

        write_crls(pki, root_revoked=[ca.revoke(pki.root, pki.issuing.certificate, now=datetime.now(UTC))])
        for session in (voter, pilot.admin):
            with pytest.raises(ApiError) as refused:
                session.get("/api/auth/me")
            assert (refused.value.status, refused.value.code) == (401, "certificate_revoked")
        with pytest.raises(ApiError) as refused:
            pilot.client().login(pki.enroll("E0002"))
        assert (refused.value.status, refused.value.code) == (401, "certificate_revoked")
    finally:
        pilot.stop()


# --- attack: locking a victim out with tokens that carry their certificate ------------------------------------


def forged_token(credential: Credential, *, nonce: str, audience: str) -> str:
    """The victim's certificate chain (public: it travels in every token) and a
    well-formed payload, under a signature made without the victim's key."""
    now = int(datetime.now(UTC).timestamp())
    chain = [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in credential.chain]
    header = {"alg": "ES256", "x5c": chain}
    payload = {"aud": audience, "exp": now + 120, "iat": now, "nonce": nonce, "sub": credential.employee_id}

    def b64url(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return f"{b64url(canonical_json(header))}.{b64url(canonical_json(payload))}.{b64url(secrets.token_bytes(64))}"


def login_from(url: str, address: str, credential: Credential, *, forge: bool = False) -> httpx.Response:
    with httpx.Client(base_url=url, transport=httpx.HTTPTransport(local_address=address)) as http:
        challenge = http.post("/api/auth/challenge").json()
        if forge:
            token = forged_token(credential, nonce=challenge["nonce"], audience=challenge["audience"])
        else:
            token = make_login_token(
                credential.private_key, credential.chain, nonce=challenge["nonce"], audience=challenge["audience"],
                now=datetime.now(UTC),
            )
        return http.post("/api/auth/login", json={"token": token})


def test_tokens_with_a_victims_certificate_do_not_lock_the_victim_out(pki, data_dir, database_url):
    pilot = start_pilot(pki, data_dir, database_url, login_rate_per_minute=str(RATE))
    try:
        victim = pki.enroll("E0001")
        # Three times the limit, each from its own address (within the per-address limit).
        for n in range(10, 10 + 3 * RATE):
            refused = login_from(pilot.url, f"127.0.0.{n}", victim, forge=True)
            assert problem(refused) == (401, "token_signature_invalid")
        assert login_from(pilot.url, "127.0.0.50", victim).status_code == 200

        # The victim's own logins still count: RATE in a minute, then refused.
        for n in range(51, 50 + RATE):
            assert login_from(pilot.url, f"127.0.0.{n}", victim).status_code == 200
        assert problem(login_from(pilot.url, "127.0.0.60", victim)) == (429, "rate_limited")
    finally:
        pilot.stop()
