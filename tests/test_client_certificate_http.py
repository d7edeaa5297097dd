"""Logging in, and enrolling a card, with a TLS client certificate passed on by
the reverse proxy (voting/auth/client_certificate.py), over real HTTP against
``voting serve``, on SQLite and PostgreSQL.

The requests are sent as nginx sends them (tests/test_browser_client_certificate.py
runs the real nginx and browser): from the trusted proxy address, with the
certificate URL-encoded in X-Client-Certificate, the page's Origin, the proxy's
secret and "." for a full TLS handshake. The shipped nginx itself is run here
for what only it shows: a resumed TLS session.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from crypto.credentials import certificate_fingerprint, voting_credential
from tests.client_certificate_support import (
    ANCHOR,
    PROXY_SECRETS,
    CardPilot,
    as_proxy,
    pilot_card,
    start_card_pilot,
    write_issuing,
    write_proxy_secret,
)
from tests.http_support import board_entries, changed_tables, problem, two_question_manifest
from tests.support import free_port, make_pki
from tests.test_browser_client_certificate import behind_nginx  # noqa: F401 - fixture
from tests.test_ops_proxy import SHIPPED, Nginx, Service, render, secret_include, server_cert, voting_command  # noqa: F401
from voting.client import ApiError, Client, choices_from_ids, prepare_ballot
from voting.db.models import RollEntry, Session
from voting.record.files import read_record_zip
from voting.settings import Settings
from voting.verify import verify_record

LOGIN = "/api/auth/client-certificate"
ENROLL = "/api/enroll/client-certificate"


@pytest.fixture
def cards(data_dir, database_url) -> CardPilot:
    pilot = start_card_pilot(data_dir, database_url)
    yield pilot
    pilot.stop()


def read_db(database_url: str, statement):
    async def read() -> list:
        engine = create_async_engine(Settings(database_url=database_url).db_url)
        try:
            async with engine.connect() as connection:
                return list((await connection.execute(statement)).all())
        finally:
            await engine.dispose()

    return asyncio.run(read())


def session_rows(database_url: str) -> list[tuple[str, str]]:
    """(employee, login method) of every session."""
    return [tuple(row) for row in read_db(database_url, select(Session.employee_id, Session.login_method))]


def registration_of(database_url: str, election_id: str, employee_id: str) -> dict:
    statement = select(RollEntry.registration).where(RollEntry.election_id == election_id, RollEntry.employee_id == employee_id)
    return json.loads(read_db(database_url, statement)[0][0])


def card_client(cards: CardPilot, session_token: str) -> Client:
    client = Client(cards.url)
    client.http.headers["Authorization"] = f"Bearer {session_token}"
    cards.pilot.clients.append(client)
    return client


def vote_attested(client: Client, election_id: str, choice: dict) -> dict:
    """What the ballot page does for a card session: a random secret, its voting
    credential registered as attested, the ballot signed by that credential."""
    voting = voting_credential(os.urandom(32), election_id)
    client.post(f"/api/elections/{election_id}/credential", {"credential": voting.hex, "attested": "client-certificate"})
    info = client.election_info(election_id)
    return client.cast(prepare_ballot(info, voting.hex, choices_from_ids(info.manifest, choice), voting))


# --- the source, the origin, the certificate --------------------------------------------------------


@pytest.mark.slow
def test_a_pilot_card_logs_in_through_the_proxy_only(cards):
    url = cards.url
    card = pilot_card(cards.pki, "E0001", name="山田 太郎")
    before = cards.pilot.snapshot()

    # Not from the proxy: refused, whatever the header says, and nothing is written.
    forged = as_proxy(url, LOGIN, card.certificate, origin=url, source="127.0.0.2")
    assert problem(forged) == (403, "client_certificate_untrusted_source"), forged.text
    assert "reverse proxy" in forged.json()["detail"]
    # The proxy's address, but another site's page (or none): refused.
    assert problem(as_proxy(url, LOGIN, card.certificate, origin="https://evil.example")) == (403, "bad_origin")
    assert problem(as_proxy(url, LOGIN, card.certificate, origin=None)) == (403, "bad_origin")
    # The proxy passed no certificate (the browser presented none).
    assert problem(as_proxy(url, LOGIN, None, origin=url)) == (401, "no_client_certificate")
    assert problem(as_proxy(url, LOGIN, None, origin=url, header="not%20a%20certificate")) == (422, "client_certificate_malformed")
    assert not changed_tables(before, cards.pilot.snapshot())

    reply = as_proxy(url, LOGIN, card.certificate, origin=url)
    assert reply.status_code == 200, reply.text
    session = reply.json()
    assert session["employee_id"] == "E0001" and session["name"] == "山田 太郎"
    assert session["login_method"] == "client-certificate"
    with card_client(cards, session["session_token"]) as client:
        assert client.get("/api/auth/me")["employee_id"] == "E0001"
    assert ("E0001", "client-certificate") in session_rows(cards.pilot.database_url)
    assert ("A0001", "token") in session_rows(cards.pilot.database_url)


@pytest.mark.slow
def test_a_certificate_of_no_anchor_or_revoked_is_refused(cards, tmp_path):
    from tests.client_certificate_support import ExternalCa

    url = cards.url
    stranger = ExternalCa(tmp_path / "stranger", "Unknown Root").card()
    assert problem(as_proxy(url, LOGIN, stranger.certificate, origin=url))[1] == "certificate_invalid"
    revoked = cards.pki.enroll("E0002")
    cards.pki.revoke(revoked)
    assert problem(as_proxy(url, LOGIN, revoked.certificate, origin=url)) == (401, "certificate_revoked")
    assert not [row for row in session_rows(cards.pilot.database_url) if row[0] != "A0001"]


# --- an external CA's cards: enrollment -------------------------------------------------------------


@pytest.mark.slow
def test_an_external_card_enrolls_with_a_code_then_logs_in_until_revoked(cards):
    url = cards.url
    card = cards.external.card()
    assert problem(as_proxy(url, LOGIN, card.certificate, origin=url)) == (401, "not_enrolled")

    code = cards.pilot.admin.post("/api/admin/enrollment-codes", {"employee_id": "E0005"})["code"]
    # The code for another employee id, a malformed body, a pilot card (no enrollment needed): refused.
    body = {"code": code, "employee_id": "E0006"}
    assert problem(as_proxy(url, ENROLL, card.certificate, origin=url, body=body)) == (401, "enrollment_code_other_employee")
    assert problem(as_proxy(url, ENROLL, card.certificate, origin=url, body={"code": code})) == (422, "invalid_request")
    pilot = pilot_card(cards.pki, "E0005")
    assert problem(as_proxy(url, ENROLL, pilot.certificate, origin=url, body={"code": code, "employee_id": "E0005"})) == (
        422, "enrollment_not_needed",
    )
    # Not from the proxy: refused before the code is looked at.
    forged = as_proxy(url, ENROLL, card.certificate, origin=url, source="127.0.0.3", body={"code": code, "employee_id": "E0005"})
    assert problem(forged) == (403, "client_certificate_untrusted_source")

    typed = code.lower().replace("-", " ")
    enrolled = as_proxy(url, ENROLL, card.certificate, origin=url, body={"code": typed, "employee_id": "E0005"})
    assert enrolled.status_code == 200, enrolled.text
    assert enrolled.json()["employee_id"] == "E0005" and enrolled.json()["anchor"] == ANCHOR
    fingerprint = certificate_fingerprint(card.certificate)
    listed = {e["fingerprint"]: e for e in cards.pilot.admin.get("/api/admin/enrollments")["enrollments"]}
    assert listed[fingerprint]["employee_id"] == "E0005" and listed[fingerprint]["via"] == "client-certificate"
    # The code is spent.
    other = cards.external.card()
    assert problem(as_proxy(url, ENROLL, other.certificate, origin=url, body={"code": code, "employee_id": "E0005"})) == (
        401, "enrollment_code_used",
    )

    reply = as_proxy(url, LOGIN, card.certificate, origin=url)
    assert reply.status_code == 200, reply.text
    token = reply.json()["session_token"]
    assert reply.json()["employee_id"] == "E0005"
    client = card_client(cards, token)
    assert client.get("/api/auth/me")["employee_id"] == "E0005"

    # Revoked by an administrator: the open session ends, and the card logs in no more.
    cards.pilot.admin.post(f"/api/admin/enrollments/{fingerprint}/revoke", {"reason": "card reported lost"})
    with pytest.raises(ApiError) as ended:
        client.get("/api/auth/me")
    assert ended.value.status == 401
    assert problem(as_proxy(url, LOGIN, card.certificate, origin=url)) == (401, "enrollment_revoked")

    # A card whose certificate the external CA revoked: refused at login.
    code = cards.pilot.admin.post("/api/admin/enrollment-codes", {"employee_id": "E0007"})["code"]
    lost = cards.external.card()
    assert as_proxy(url, ENROLL, lost.certificate, origin=url, body={"code": code, "employee_id": "E0007"}).status_code == 200
    cards.external.revoke(lost)
    deadline = time.monotonic() + 15  # the service re-reads the CRL file when due
    while (status := problem(as_proxy(url, LOGIN, lost.certificate, origin=url))) != (401, "certificate_revoked"):
        assert time.monotonic() < deadline, status
        time.sleep(0.5)


@pytest.mark.slow
def test_a_card_without_san_or_eku_enrolls_and_logs_in(cards):
    """JPKI's user-authentication certificate names nobody and carries no SAN
    and no extended key usage: under an "enrollment" anchor it is checked as
    the token paths check it (no SAN needed, key usage digitalSignature), so it
    enrolls and logs in from the browser too. A pilot CA certificate without
    clientAuth is still refused: the anchor that names employees keeps its rule."""
    url = cards.url
    card = cards.external.jpki_card()
    assert not [e for e in card.certificate.extensions if isinstance(e.value, x509.SubjectAlternativeName | x509.ExtendedKeyUsage)]
    code = cards.pilot.admin.post("/api/admin/enrollment-codes", {"employee_id": "E0005"})["code"]
    enrolled = as_proxy(url, ENROLL, card.certificate, origin=url, body={"code": code, "employee_id": "E0005"})
    assert enrolled.status_code == 200, enrolled.text
    reply = as_proxy(url, LOGIN, card.certificate, origin=url)
    assert reply.status_code == 200 and reply.json()["employee_id"] == "E0005", reply.text

    from crypto import ca

    named = cards.pki.enroll("E0006").certificate
    key = ca.generate_key("P-256")
    leaf = (
        ca._issued_by(cards.pki.issuing, named.subject, key.public_key(), datetime.now(UTC) - timedelta(minutes=5), 365, None)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(named.extensions.get_extension_for_class(x509.SubjectAlternativeName).value, critical=False)
    )
    no_client_auth = ca._sign(leaf, cards.pki.issuing.key)
    assert problem(as_proxy(url, LOGIN, no_client_auth, origin=url))[1] == "certificate_invalid"


@pytest.mark.slow
def test_the_same_card_enrolled_by_concurrent_requests_is_linked_once(cards):
    """The same card sent to enroll by several requests at once, each with a
    code of its own (two tabs, a double click): one link wins, the others are
    told ``already_enrolled`` (409), never a server error, on PostgreSQL too
    (where they run at the same time and the loser's insert hits the key)."""
    url = cards.url
    card = cards.external.card()
    codes = [cards.pilot.admin.post("/api/admin/enrollment-codes", {"employee_id": "E0005"})["code"] for _ in range(8)]

    def enroll(code: str) -> tuple[int, str]:
        reply = as_proxy(url, ENROLL, card.certificate, origin=url, body={"code": code, "employee_id": "E0005"})
        return (200, "enrolled") if reply.status_code == 200 else problem(reply)

    for _ in range(3):  # a few rounds: the interleaving is the database's
        with ThreadPoolExecutor(len(codes)) as pool:
            outcomes = sorted(pool.map(enroll, codes))
        assert outcomes == [(200, "enrolled")] + [(409, "already_enrolled")] * (len(codes) - 1), outcomes
        card = cards.external.card()
        codes = [cards.pilot.admin.post("/api/admin/enrollment-codes", {"employee_id": "E0005"})["code"] for _ in range(8)]
    listed = cards.pilot.admin.get("/api/admin/enrollments")["enrollments"]
    assert len(listed) == 3 and {e["employee_id"] for e in listed} == {"E0005"}


# --- registration attested for a card session ------------------------------------------------------


@pytest.mark.slow
def test_only_a_card_session_has_its_registration_attested_and_the_verifier_counts_them(cards):
    """docs/threat-model.md, "What is not mitigated": a registration attested
    for a card session rests on the server's word; the verifier says how many."""
    pilot = cards.pilot
    election_id = pilot.open_election(two_question_manifest("cert-2026", min_tally_ballots=3), ["E0001", "E0002", "E0005"])
    url = cards.url

    # A token login's session must sign its registration.
    voter = pilot.login(pilot.pki.enroll("E0002"))
    voting = voting_credential(os.urandom(32), election_id)
    with pytest.raises(ApiError) as refused:
        voter.post(f"/api/elections/{election_id}/credential", {"credential": voting.hex, "attested": "client-certificate"})
    assert (refused.value.status, refused.value.code) == (403, "attestation_not_allowed")

    card = pilot_card(pilot.pki, "E0001")
    session = as_proxy(url, LOGIN, card.certificate, origin=url).json()
    client = card_client(cards, session["session_token"])
    with pytest.raises(ApiError) as wrong:
        client.post(f"/api/elections/{election_id}/credential", {"credential": voting.hex, "attested": "card"})
    assert wrong.value.code == "invalid_request"
    receipt = vote_attested(client, election_id, {"days": ["d2"]})
    assert receipt["election_id"] == election_id

    registration = registration_of(pilot.database_url, election_id, "E0001")
    assert registration["signature"] is None and registration["attested"] == "client-certificate"
    assert base64.b64decode(registration["chain"][0]) == card.certificate.public_bytes(serialization.Encoding.DER)

    # An external card, enrolled over its client certificate, votes the same way.
    external = cards.external.card()
    code = pilot.admin.post("/api/admin/enrollment-codes", {"employee_id": "E0005"})["code"]
    assert as_proxy(url, ENROLL, external.certificate, origin=url, body={"code": code, "employee_id": "E0005"}).status_code == 200
    enrolled = card_client(cards, as_proxy(url, LOGIN, external.certificate, origin=url).json()["session_token"])
    vote_attested(enrolled, election_id, {"days": ["d0"], "tools": ["s1"]})
    # The token voter signs as always.
    voter.cast(voter.prepare_ballot(election_id, {"days": ["d1"], "tools": []}))

    pilot.admin.close_election(election_id)
    # The trustees pinned the card anchor's root beside the city's, and accept the 2 attested registrations.
    pilot.pin(cards.external.root.certificate)
    pilot.decrypt(election_id, ["T0001", "T0002"], accept_attested=2)
    pilot.admin.tally(election_id)
    pilot.admin.publish(election_id)
    assert [row["count"] for row in pilot.admin.result(election_id)["questions"][0]["options"]] == [1, 1, 1, 0]
    # Each CA publishes a CRL after the last registration (X.509 times are whole seconds), as an audit needs.
    time.sleep(1.01 - time.time() % 1)
    pilot.pki.write_crl(now=datetime.now(UTC))
    cards.external.write_crl(now=datetime.now(UTC))
    response = httpx.get(f"{url}/api/elections/{election_id}/record/private", headers=pilot.admin.http.headers)
    assert response.status_code == 200, response.text
    report = verify_record(read_record_zip(response.content), workers=1)
    assert report.ok(), [(c.number, c.failures) for c in report.checks if c.status == "fail"]
    attested = [w for w in report.warnings if "attested by a TLS client certificate" in w]
    assert attested and "2 registrations attested" in attested[0], report.warnings
    assert report.attested_registrations == 2


# --- without a trusted proxy; the shipped nginx configuration ---------------------------------------


@pytest.mark.slow
def test_the_header_is_believed_from_no_address_when_no_proxy_is_trusted(tmp_path):
    """``VOTING_FORWARDED_ALLOW_IPS`` unset (the default): refused even from 127.0.0.1
    with the proxy's secret (SQLite only: no database work)."""
    data_dir = tmp_path / "data"
    pki = make_pki(data_dir)
    write_issuing(pki)
    secret_path, secret = write_proxy_secret(data_dir)
    service = Service(data_dir, login_rate_per_minute="0", proxy_secret_file=str(secret_path)).start()
    try:
        card = pilot_card(pki, "E0001")
        for source in ("127.0.0.1", "127.0.0.2"):
            refused = as_proxy(service.url, LOGIN, card.certificate, origin=service.url, source=source, secret=secret)
            assert problem(refused) == (403, "client_certificate_untrusted_source"), source
    finally:
        service.stop()


@pytest.mark.slow
def test_without_a_proxy_secret_the_card_in_the_browser_is_off(tmp_path):
    """No ``VOTING_PROXY_SECRET_FILE``: both card requests are refused with a code
    of their own, even from the trusted proxy's address; a secret file that
    others can read, or that is too short, stops the service from starting, in
    one line (SQLite only)."""
    data_dir = tmp_path / "data"
    pki = make_pki(data_dir)
    write_issuing(pki)
    service = Service(data_dir, login_rate_per_minute="0", forwarded_allow_ips="127.0.0.1").start()
    try:
        card = pilot_card(pki, "E0001")
        for path, body in ((LOGIN, None), (ENROLL, {"code": "AAAA-AAAA-AAAA", "employee_id": "E0001"})):
            refused = as_proxy(service.url, path, card.certificate, origin=service.url, body=body, secret="x" * 64)
            assert problem(refused) == (403, "client_certificate_disabled"), path
            assert "VOTING_PROXY_SECRET_FILE" in refused.json()["detail"]
    finally:
        service.stop()

    secret_path, _ = write_proxy_secret(tmp_path / "secret")
    env = {**service.env, "VOTING_PROXY_SECRET_FILE": str(secret_path)}
    secret_path.chmod(0o644)
    readable = voting_command("serve", env=env)
    assert readable.returncode != 0 and "chmod 0600" in readable.stderr and readable.stderr.strip().count("\n") == 0, readable.stderr
    secret_path.write_text("short\n")
    secret_path.chmod(0o600)
    short = voting_command("serve", env=env)
    assert short.returncode != 0 and "openssl rand -hex 32" in short.stderr, short.stderr
    missing = voting_command("serve", env={**env, "VOTING_PROXY_SECRET_FILE": str(tmp_path / "nowhere")})
    assert missing.returncode != 0 and "does not exist" in missing.stderr, missing.stderr


def _blocks(text: str) -> dict[str, str]:
    """The shipped file's HTTPS server block, and each location in it, by name."""
    server = text[text.index("listen 443 ssl;") :]
    blocks = {}
    for match in re.finditer(r"location ([^{]+)\{([^}]*)\}", server):
        blocks[match.group(1).strip()] = match.group(2)
    blocks["server"] = re.sub(r"location [^{]+\{[^}]*\}", "", server)
    return blocks


def test_the_shipped_nginx_passes_the_certificate_on_the_two_card_locations_only():
    text = SHIPPED.read_text()
    blocks = _blocks(text)
    server = blocks["server"]
    assert re.search(r"^\s*ssl_verify_client optional_no_ca;", server, re.MULTILINE)
    assert re.search(r"^\s*ssl_verify_depth \d;", server, re.MULTILINE)
    assert re.search(r'^\s*proxy_set_header X-Client-Certificate "";', server, re.MULTILINE), "cleared everywhere else"
    passing = sorted(name for name, body in blocks.items() if "$ssl_client_escaped_cert" in body)
    assert passing == sorted([f"= {LOGIN}", f"= {ENROLL}"])
    assert text.count("$ssl_client_escaped_cert") == 2
    # nginx inherits no proxy_set_header into a location that sets one: each repeats the server's.
    inherited = set(re.findall(r"^\s*proxy_set_header (\S+) (.+);", server, re.MULTILINE))
    card_headers = ("X-Client-Certificate", "X-TLS-Session-Reused", "X-Voting-Proxy-Secret")
    assert {(h, '""') for h in card_headers} <= inherited, "each cleared everywhere else"
    for name in passing:
        own = set(re.findall(r"^\s*proxy_set_header (\S+) (.+);", blocks[name], re.MULTILINE))
        assert {h for h in inherited if h[0] not in card_headers} <= own, name
        assert ("X-Client-Certificate", "$ssl_client_escaped_cert") in own
        assert ("X-TLS-Session-Reused", "$ssl_session_reused") in own
        # The proxy's secret, from a file only root reads (docs/operations.md 3.3).
        assert re.search(r"^\s*include /etc/nginx/voting-proxy-secret\.conf;", blocks[name], re.MULTILINE), name
        assert "proxy_pass http://voting_service;" in blocks[name]
    assert text.count("include /etc/nginx/voting-proxy-secret.conf;") == 2
    assert text.count("X-TLS-Session-Reused $ssl_session_reused;") == 2
    # No TLS session is kept or resumed: a resumed handshake carries no proof of the card.
    assert re.search(r"^\s*ssl_session_cache off;", server, re.MULTILINE)
    assert re.search(r"^\s*ssl_session_tickets off;", server, re.MULTILINE)
    # The paths are the service's.
    from voting.auth.client_certificate import ClientCertificateController

    paths = {next(iter(handler.paths)) for handler in ClientCertificateController.__dict__.values() if hasattr(handler, "paths")}
    assert paths == {LOGIN, ENROLL}


# --- the proxy's secret: an address proves nothing ---------------------------------------------------


@pytest.mark.slow
def test_a_local_process_without_the_proxy_secret_logs_in_as_nobody(cards):
    """Every process on the proxy's host connects from the proxy's address. One
    that is not nginx has only public certificates (a trustee's is on every
    board, anyone's in the auditors' part), not the proxy's secret: it opens no
    session, for a trustee or an administrator, and enrolls no card."""
    url = cards.url
    election_id = cards.pilot.open_election(two_question_manifest("local-2026"), ["E0001"])
    joint = next(e for e in board_entries(cards.pilot.client(), election_id) if e["kind"] == "joint-key")
    trustee = x509.load_der_x509_certificate(base64.b64decode(joint["body"]["endorsements"][0]["chain"][0]))
    admin = cards.pki.enroll("A0001").certificate
    code = cards.pilot.admin.post("/api/admin/enrollment-codes", {"employee_id": "E0005"})["code"]
    before = cards.pilot.snapshot()

    for secret in (None, "", "0" * 64, PROXY_SECRETS[cards.service.url][:-1], PROXY_SECRETS[cards.service.url] + "0"):
        for certificate in (trustee, admin):
            refused = as_proxy(url, LOGIN, certificate, origin=url, source="127.0.0.1", secret=secret)
            assert problem(refused) == (403, "client_certificate_untrusted_source"), (secret, refused.text)
        body = {"code": code, "employee_id": "E0005"}
        enrolled = as_proxy(url, ENROLL, cards.external.card().certificate, origin=url, secret=secret, body=body)
        assert problem(enrolled) == (403, "client_certificate_untrusted_source"), secret
    assert not changed_tables(before, cards.pilot.snapshot())
    # nginx, which has the secret, passes the administrator's card on.
    assert as_proxy(url, LOGIN, admin, origin=url).json()["roles"] == ["admin"]


# --- a resumed TLS session: nothing shows that the card is there ---------------------------------------


def _openssl_login(port: int, origin: str, cafile: Path, *extra: str) -> tuple[bool, dict]:
    """POST the login over one TLS connection to 127.0.0.1:``port`` made by
    ``openssl s_client``: (was the TLS session resumed, the JSON reply)."""
    request = f"POST {LOGIN} HTTP/1.1\r\nHost: localhost:{port}\r\nOrigin: {origin}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    done = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost", "-CAfile", str(cafile), "-ign_eof", *extra],
        input=request, capture_output=True, text=True, timeout=60,
    )
    # The reply's JSON body: the first object after the status line (openssl
    # prints other text, braces included, around it; headers hold none).
    head = done.stdout.find("HTTP/1.1 ")
    brace = done.stdout.find("{", head) if head >= 0 else -1
    reply = json.JSONDecoder().raw_decode(done.stdout, brace)[0] if brace >= 0 else {}
    return "Reused, TLS" in done.stdout, reply


def test_a_resumed_tls_session_logs_nobody_in(behind_nginx, server_cert, tmp_path):
    """A resumed TLS handshake asks for no client certificate: nginx passes on
    the certificate of the session it resumes, so whoever can resume the card
    holder's session (the same browser after the card was pulled) would log in
    without the card. The shipped nginx keeps no session: a connection that
    offers the card holder's session back makes a full handshake, without the
    card, and logs nobody in. A site that turned the session cache back on gets
    a resumed session refused with ``tls_session_resumed`` (nginx's
    ``$ssl_session_reused``)."""
    cards, cafile = behind_nginx
    card = pilot_card(cards.pki, "E0001")
    cert_path, key_path = card.write(tmp_path / "card", "E0001")
    with_card = ("-cert", str(cert_path), "-key", str(key_path))
    origin = cards.url
    shipped_port = int(cards.url.rsplit(":", 1)[1])

    # The shipped file: the card logs in; the same TLS session offered back, without the card, is not resumed.
    session = tmp_path / "shipped-session.pem"
    reused, reply = _openssl_login(shipped_port, origin, cafile, *with_card, "-sess_out", str(session))
    assert not reused and reply.get("employee_id") == "E0001", reply
    reused, reply = _openssl_login(shipped_port, origin, cafile, "-sess_in", str(session))
    assert (reused, reply.get("code")) == (False, "no_client_certificate"), reply

    # The same file with a session cache, as a site might adapt it: resumed, and refused.
    cert, key = server_cert
    cached_port = free_port()
    site = render(
        SHIPPED.read_text(), http_port=free_port(), https_port=cached_port, upstream_port=cards.service.port, cert=cert,
        key=key, include=secret_include(tmp_path / "cached-secret", PROXY_SECRETS[cards.service.url]),
    )
    assert "ssl_session_cache off;" in site
    cached = Nginx(tmp_path / "nginx-cached", site.replace("ssl_session_cache off;", "ssl_session_cache shared:voting_tls:1m;"))
    cached.start(cached_port)
    try:
        session = tmp_path / "cached-session.pem"
        reused, reply = _openssl_login(cached_port, origin, cafile, *with_card, "-sess_out", str(session))
        assert not reused and reply.get("employee_id") == "E0001", reply
        reused, reply = _openssl_login(cached_port, origin, cafile, "-sess_in", str(session))
        assert (reused, reply.get("code")) == (True, "tls_session_resumed"), reply
        assert "close every window of the browser" in reply["detail"]
    finally:
        cached.stop()
