"""Other trust anchors and card enrollment, over real HTTP on SQLite and
PostgreSQL: an external CA made here (its own root, certificates that name no
employee, its own CRL) is a second trust anchor of identity "enrollment"; its
card holders enroll with one-time codes and vote; every refusal has its code;
revoking an enrollment, or the card's certificate at its CA, refuses the card
and ends its sessions; the auditors' part of the record carries the links and
their proofs, and the verifier fails when one is altered."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import update
from sqlalchemy.ext.asyncio import create_async_engine

from crypto.credentials import certificate_fingerprint, make_enrollment_token, make_login_token
from tests.enrollment_support import anchors_file, card_with, make_external_ca
from tests.http_support import start_pilot, two_question_manifest
from voting.cli import main
from voting.cli.enrollment import enroll_with
from voting.client import ApiError, TrusteeRefusal
from voting.db.models import EnrollmentCode
from voting.record import files as F
from voting.record.files import read_record_zip
from voting.settings import Settings
from voting.verify import verify_record


@pytest.fixture
def external(tmp_path):
    return make_external_ca(tmp_path / "external")


@pytest.fixture
def card_pilot(pki, data_dir, database_url, external, tmp_path):
    pilot = start_pilot(
        pki, data_dir, database_url, trust_anchors_file=str(anchors_file(tmp_path / "external" / "anchors.json", external)),
        crl_refresh_s="1",
    )
    yield pilot
    pilot.stop()


def issue_code(pilot, employee_id: str) -> str:
    reply = pilot.admin.post("/api/admin/enrollment-codes", {"employee_id": employee_id})
    assert reply["employee_id"] == employee_id and len(reply["code"]) == 14
    return reply["code"]


def expire(database_url: str, code: str) -> None:
    """Move a code's expiry into the past, as seven days would."""
    from voting.auth.enrollment import code_hash

    async def run() -> None:
        engine = create_async_engine(Settings(database_url=database_url).db_url)
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    update(EnrollmentCode).where(EnrollmentCode.code_hash == code_hash(code))
                    .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
                )
        finally:
            await engine.dispose()

    asyncio.run(run())


def refused(call, status: int, code: str) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call()
    assert (caught.value.status, caught.value.code) == (status, code), caught.value
    return caught.value


def test_codes_link_a_card_once_and_every_refusal_says_why(card_pilot, external, tmp_path, database_url):
    pilot = card_pilot
    alice_card = external.card_credential("RSA-2048")
    bob_card = external.card_credential("P-256")

    # Before enrolling, the card's chain is good but it is nobody's.
    refused(lambda: pilot.login(alice_card), 401, "not_enrolled")

    code = issue_code(pilot, "E0001")
    client = pilot.client()
    # A code for another employee, an unknown code, a malformed one: refused, nothing linked.
    refused(lambda: enroll_with(client, alice_card, employee_id="E0002", code=code), 401, "enrollment_code_other_employee")
    refused(lambda: enroll_with(client, alice_card, employee_id="E0001", code="ABCD-EFGH-JKMN"), 401, "enrollment_code_unknown")
    # Typed as on a phone, full-width and lower case: the same code.
    typed = code.lower().replace("-", " ").translate(str.maketrans("abcdefghijklmnopqrstuvwxyz0123456789", "ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ０１２３４５６７８９"))
    reply = enroll_with(client, alice_card, employee_id="E0001", code=typed)
    assert reply == {**reply, "employee_id": "E0001", "anchor": external.name, "fingerprint": certificate_fingerprint(alice_card.certificate)}

    # The code is spent; the card is linked once.
    refused(lambda: enroll_with(client, bob_card, employee_id="E0001", code=code), 401, "enrollment_code_used")
    second = issue_code(pilot, "E0001")
    refused(lambda: enroll_with(client, alice_card, employee_id="E0001", code=second), 409, "already_enrolled")

    # An expired code.
    late = issue_code(pilot, "E0002")
    expire(database_url, late)
    refused(lambda: enroll_with(client, bob_card, employee_id="E0002", code=late), 401, "enrollment_code_expired")

    # A card of a CA the service does not trust; a pilot certificate (it names its employee).
    stranger = make_external_ca(tmp_path / "stranger", "stranger").card_credential("P-256")
    refused(lambda: enroll_with(client, stranger, employee_id="E0002", code=second), 401, "unknown_anchor")
    refused(lambda: pilot.login(stranger), 401, "unknown_anchor")
    refused(lambda: enroll_with(client, pilot.pki.enroll("E0003"), employee_id="E0003", code=second), 422, "enrollment_not_needed")

    # The enrolled card logs in as E0001; its login token's sub is its fingerprint.
    alice = pilot.login(alice_card)
    assert alice.session["employee_id"] == "E0001"

    # A token for another service, a replayed challenge: refused like a login's.
    challenge = client.post("/api/auth/challenge")
    foreign = make_enrollment_token(
        bob_card.private_key, bob_card.chain, nonce=challenge["nonce"], audience="https://elsewhere.example",
        now=datetime.now(UTC), employee_id="E0002", enrollment_code=issue_code(pilot, "E0002"),
    )
    refused(lambda: client.post("/api/enroll", {"token": foreign}), 401, "audience_invalid")
    # A login token is no enrollment token.
    login_token = make_login_token(bob_card.private_key, bob_card.chain, nonce=challenge["nonce"], audience=challenge["audience"], now=datetime.now(UTC))
    refused(lambda: client.post("/api/enroll", {"token": login_token}), 401, "token_malformed")

    # The list, for administrators only.
    listed = pilot.admin.get("/api/admin/enrollments")["enrollments"]
    assert [(e["employee_id"], e["anchor"], e["via"], e["revoked_at"]) for e in listed] == [("E0001", external.name, "card-signature", None)]
    refused(lambda: alice.get("/api/admin/enrollments"), 403, "not_admin")
    refused(lambda: alice.post("/api/admin/enrollment-codes", {"employee_id": "E0001"}), 403, "not_admin")


def test_revoking_an_enrollment_ends_the_cards_sessions_and_logins(card_pilot, external):
    pilot = card_pilot
    card = external.card_credential("P-256")
    enroll_with(pilot.client(), card, employee_id="E0001", code=issue_code(pilot, "E0001"))
    session = pilot.login(card)
    assert session.get("/api/auth/me")["employee_id"] == "E0001"
    fingerprint = certificate_fingerprint(card.certificate)

    refused(lambda: pilot.admin.post(f"/api/admin/enrollments/{fingerprint}/revoke", {"reason": ""}), 422, "invalid_reason")
    row = pilot.admin.post(f"/api/admin/enrollments/{fingerprint}/revoke", {"reason": "card lost / カード紛失"})
    assert row["revoked_by"] == "A0001" and row["revoked_at"]
    refused(lambda: session.get("/api/auth/me"), 401, "session_ended")
    refused(lambda: pilot.login(card), 401, "enrollment_revoked")
    # A revoked card stays revoked: a fresh code does not bring it back.
    refused(lambda: enroll_with(pilot.client(), card, employee_id="E0001", code=issue_code(pilot, "E0001")), 409, "enrollment_revoked")


@pytest.mark.slow
def test_a_card_revoked_at_its_own_ca_is_refused(card_pilot, external):
    pilot = card_pilot
    card = external.card_credential("RSA-2048")
    enroll_with(pilot.client(), card, employee_id="E0001", code=issue_code(pilot, "E0001"))
    session = pilot.login(card)
    external.revoke(card.certificate)  # the external CA's CRL file, which the service reads
    time.sleep(1.2)  # VOTING_CRL_REFRESH_S=1: the service reads the new CRL at the next request
    refused(lambda: pilot.login(card), 401, "certificate_revoked")
    refused(lambda: session.get("/api/auth/me"), 401, "certificate_revoked")  # its open session ends too
    # Another card of the same CA is unaffected.
    other = external.card_credential("P-256")
    enroll_with(pilot.client(), other, employee_id="E0002", code=issue_code(pilot, "E0002"))
    assert pilot.login(other).session["employee_id"] == "E0002"


# --- a whole election with enrolled cards -------------------------------------------------------


def write_credential(path, pki, employee_id: str) -> None:
    """A credential file, as 'voting ca issue' writes it, for the test CA."""
    from crypto.credentials import seal_credential

    credential = pki.enroll(employee_id)
    sealed = seal_credential(credential.private_key, credential.chain, "123456", employee_id=employee_id, name=employee_id, iterations=1000)
    path.write_text(json.dumps(sealed), encoding="utf-8")


def cli(*args, env: dict | None = None):
    result = CliRunner().invoke(main, [str(a) for a in args], env=env, catch_exceptions=False)
    return result


@pytest.mark.slow
def test_card_holders_enroll_with_codes_from_the_cli_and_vote(card_pilot, external, tmp_path, backend):
    from tests.card_support import PIN, SoftHsm
    from tests.test_record_verify_js import _run_node
    from voting.card import open_card
    from voting.client import REQUIRED_CHECKS

    pilot = card_pilot
    with SoftHsm(tmp_path / "hsm") as softhsm:
        cards = {"E0001": card_with(softhsm, external, "jpki-E0001", "rsa2048"), "E0002": card_with(softhsm, external, "jpki-E0002", "p256")}

        # The administrator's codes from an Excel CSV (cp932, Japanese header), through the CLI.
        admin_file = tmp_path / "A0001.credential.json"
        write_credential(admin_file, pilot.pki, "A0001")
        employees = tmp_path / "employees.csv"
        employees.write_bytes("職員番号,氏名\r\nＥ0001,山田 花子\r\nE0002,佐藤 一郎\r\n".encode("cp932"))
        codes_file = tmp_path / "codes.csv"
        admin_env = {"VOTING_PIN": "123456"}
        out = cli("enrollment", "code", "--csv", employees, "--out", codes_file, "-c", admin_file, "--server", pilot.url, env=admin_env)
        assert out.exit_code == 0, out.output
        rows = list(csv.DictReader(io.StringIO(codes_file.read_bytes().decode("utf-8-sig"))))
        assert [(r["employee_id"], r["name"]) for r in rows] == [("E0001", "山田 花子"), ("E0002", "佐藤 一郎")]
        codes = {r["employee_id"]: r["enrollment_code"] for r in rows}
        again = cli("enrollment", "code", "--csv", employees, "--out", codes_file, "-c", admin_file, "--server", pilot.url, env=admin_env)
        assert again.exit_code == 1 and "exists" in again.output  # never written over

        # Each holder enrolls the card on the card: `voting card enroll`.
        for employee, choice in cards.items():
            out = cli(
                "card", "enroll", "--code", codes[employee], "--employee-id", employee, "--pkcs11-module", softhsm.module,
                "--card-token", choice.token, "--server", pilot.url, env={"VOTING_PIN": PIN},
            )
            assert out.exit_code == 0, out.output
            assert f"enrolled for {employee}" in out.output
        wrong = cli(
            "card", "enroll", "--code", codes["E0001"], "--employee-id", "E0001", "--pkcs11-module", softhsm.module,
            "--card-token", "jpki-E0002", "--server", pilot.url, env={"VOTING_PIN": PIN},
        )
        assert wrong.exit_code == 1 and "enrollment_code_used" in wrong.output and "Traceback" not in wrong.output
        listed = cli("enrollment", "list", "--json", "-c", admin_file, "--server", pilot.url, env=admin_env)
        assert sorted(e["employee_id"] for e in json.loads(listed.output)) == ["E0001", "E0002"]

        # An election: the two card holders and a pilot-certificate holder vote.
        voters = ["E0001", "E0002", "E0003"]
        election_id = pilot.open_election(two_question_manifest("cards-2026", min_tally_ballots=3), voters)
        choices = {"E0001": [[0, 1, 0, 0], [1, 0, 0, 0]], "E0002": [[0, 1, 0, 0], [0, 0, 1, 1]], "E0003": [[1, 0, 0, 0], []]}
        choices["E0003"][1] = [0, 0, 0, 0]
        opened = {}
        for employee, choice in cards.items():
            opened[employee] = open_card(choice, PIN)
            assert opened[employee].employee_id is None  # the certificate names no one
        signers = {**opened, "E0003": pilot.pki.enroll("E0003")}
        for employee in voters:
            voter = pilot.login(signers[employee])
            assert voter.session["employee_id"] == employee
            voter.cast(voter.prepare_ballot(election_id, choices[employee]))
        for card in opened.values():
            card.close()

        # The trustees verify the record (check 5 with the enrollments) before decrypting,
        # with the card anchor's root pinned beside the city's (docs/operations.md 4.7).
        pilot.admin.close_election(election_id)
        with pytest.raises(TrusteeRefusal, match=f"the card anchor '{external.name}'.*which this trustee did not pin"):
            pilot.decrypt(election_id, ["T0001"])
        pilot.pin(external.root.certificate)
        pilot.decrypt(election_id, ["T0001", "T0003"])
        result = pilot.admin.tally(election_id)
        assert {q["id"]: [o["count"] for o in q["options"]] for q in result["questions"]} == {
            "days": [1, 2, 0, 0], "tools": [1, 0, 1, 1],
        }

        # The auditors' part: the links with their card-signed proofs; the verifier passes
        # (with CRLs of both CAs issued after the last registration, as auditors export it).
        time.sleep(1)  # CRL times are to the second
        pilot.pki.write_crl(now=datetime.now(UTC))
        external.write_crl(now=datetime.now(UTC))
        record_file = tmp_path / "record.zip"
        out = cli("election", "export", election_id, record_file, "--private", "-c", admin_file, "--server", pilot.url, env=admin_env)
        assert out.exit_code == 0, out.output
        files = read_record_zip(record_file.read_bytes())
        doc = json.loads(files[F.ENROLLMENTS])
        assert [a["name"] for a in doc["anchors"]] == [external.name]
        assert sorted(e["employee_id"] for e in doc["enrollments"]) == ["E0001", "E0002"]
        assert all(set(e["proof"]) == {"token"} for e in doc["enrollments"])
        report = verify_record(files, workers=1)
        assert report.ok(), [(c.number, c.failures) for c in report.checks if c.status == "fail"]
        assert report.warnings == []
        verified = cli("verify", record_file)
        assert verified.exit_code == 0 and "WARNING" not in verified.output
        assert "taken from the record itself" in verified.output  # no --trust-anchor: said so
        # An auditor pins the city's root and the card anchor's root; the city's alone fails check 5, naming the card anchor.
        city_root = pilot.pki.ca_dir / "root.pem"
        pinned = cli("verify", record_file, "--trust-anchor", city_root, "--trust-anchor", external.root_path)
        assert pinned.exit_code == 0 and "taken from the record itself" not in pinned.output, pinned.output
        unpinned = verify_record(files, workers=1, trust_anchors=[pilot.pki.root.certificate])
        assert unpinned.check(5).status == "fail" and not unpinned.ok()
        assert f"the card anchor '{external.name}'" in unpinned.check(5).first_failure, unpinned.check(5).failures
        city_only = cli("verify", record_file, "--trust-anchor", city_root, "--json")
        check5 = next(c for c in json.loads(city_only.output)["checks"] if c["number"] == 5)
        assert city_only.exit_code == 1 and f"the card anchor '{external.name}'" in check5["failures"][0], check5

        # Altered links or proofs fail check 5.
        def altered(change) -> dict:
            copy = json.loads(files[F.ENROLLMENTS])
            change(copy["enrollments"])
            return {**files, F.ENROLLMENTS: json.dumps(copy).encode()}

        def other_employee(entries: list) -> None:
            entries[0]["employee_id"] = "E0003"

        def forged_proof(entries: list) -> None:
            header, payload, signature = entries[0]["proof"]["token"].split(".")
            claim = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            claim["employee_id"] = "E0003"
            entries[0]["employee_id"] = "E0003"
            forged = base64.urlsafe_b64encode(json.dumps(claim, separators=(",", ":"), sort_keys=True).encode()).rstrip(b"=").decode()
            entries[0]["proof"]["token"] = f"{header}.{forged}.{signature}"

        def revoked_before(entries: list) -> None:
            entries[0]["revoked_at"] = entries[0]["enrolled_at"]

        def enrolled_late(entries: list) -> None:
            entries[0]["enrolled_at"] = "2099-01-01T00:00:00.000+00:00"

        def server_word(entries: list) -> None:
            entries[0]["proof"] = {"via": "client-certificate"}

        cases = {
            "other-employee": (altered(other_employee), "the link names E0003"),
            "forged-proof": (altered(forged_proof), "does not verify"),
            "revoked-before": (altered(revoked_before), "revoked"),
            "enrolled-late": (altered(enrolled_late), ""),
            "no-enrollments": ({k: v for k, v in files.items() if k != F.ENROLLMENTS}, "not valid when the credential was registered"),
        }
        for name, (mutated, words) in cases.items():
            check = verify_record(mutated, workers=1).check(5)
            assert check.status == "fail" and any(words in f for f in check.failures), (name, check.failures)
        word = verify_record(altered(server_word), workers=1)
        assert word.ok() and word.warnings and "server's word" in word.warnings[0] and "1 registration by a card enrolled" in word.warnings[0]
        F.write_record(altered(server_word), tmp_path / "server-word")
        said = cli("verify", tmp_path / "server-word")
        assert said.exit_code == 0 and "WARNING" in said.output and "server's word" in said.output

        # The trustee page's verifier (record_verify.js) gives the same verdicts.
        items = [{"name": "clean", "files": files, "server_key": None, "crls_after_events": True}]
        items += [{"name": n, "files": m, "server_key": None, "crls_after_events": True} for n, (m, _) in cases.items()]
        items.append({"name": "server-word", "files": altered(server_word), "server_key": None, "crls_after_events": True})
        js = _run_node(items, tmp_path)
        for item in items:
            python = verify_record(item["files"], workers=1)
            for number in REQUIRED_CHECKS:
                assert js[item["name"]][str(number)][0] == python.check(number).status, (item["name"], number, js[item["name"]][str(number)], python.check(number).failures)

        # An administrator revokes a card from the CLI: it logs in no more.
        fingerprint = certificate_fingerprint(opened["E0002"].certificate)
        out = cli("enrollment", "revoke", fingerprint, "--reason", "カード紛失", "-c", admin_file, "--server", pilot.url, env=admin_env)
        assert out.exit_code == 0 and "revoked" in out.output, out.output
        with open_card(cards["E0002"], PIN) as card:
            refused(lambda: pilot.login(card), 401, "enrollment_revoked")
        out = cli("enrollment", "revoke", "0" * 64, "--reason", "x", "-c", admin_file, "--server", pilot.url, env=admin_env)
        assert out.exit_code == 1 and "enrollment_not_found" in out.output and out.output.count("\n") == 1


def test_an_anchor_without_its_crl_refuses_only_its_own_cards(pki, data_dir, database_url, external, tmp_path):
    external.crl_path.unlink()  # the external CA's CRL is not there (yet)
    pilot = start_pilot(pki, data_dir, database_url, trust_anchors_file=str(anchors_file(tmp_path / "external" / "anchors.json", external)))
    try:
        # The pilot's logins and readiness are the pilot anchor's: they go on.
        assert pilot.login(pki.enroll("E0001")).session["employee_id"] == "E0001"
        assert httpx.get(pilot.url + "/api/ready").status_code == 200
        # The external anchor's cards are refused, fail closed, and the administrators are told which anchor.
        card = external.card_credential("P-256")
        refused(lambda: enroll_with(pilot.client(), card, employee_id="E0002", code=issue_code(pilot, "E0002")), 401, "crl_invalid")
        election_id = pilot.create(two_question_manifest("anchor-crl"), ["E0001"])
        warning = pilot.admin.status(election_id)["crl"]["warning"]
        assert warning.startswith(f"trust anchor {external.name}: ") and "no CRL available" in warning
        assert [a["name"] for a in pilot.admin.status(election_id)["crl"]["anchors"]] == [external.name]
    finally:
        pilot.stop()


# --- races, on PostgreSQL (several requests at once, each in its own transaction) -----------------------


def _enrollment_service(tmp_path, **settings):
    """An app process's services on a fresh PostgreSQL database, with an external
    CA of identity "enrollment" (in-process: the interleavings are forced)."""
    from tests.support import fresh_database_url, make_pki
    from voting import operator
    from voting.settings import load_trust_anchors

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    make_pki(data_dir)
    external = make_external_ca(tmp_path / "external-race")
    config = Settings(
        data_dir=data_dir, database_url=fresh_database_url("postgresql", data_dir),
        trust_anchors=load_trust_anchors(anchors_file(tmp_path / "external-race" / "anchors.json", external)), **settings,
    )
    operator.upgrade(config)
    return config, external


@pytest.mark.postgres
def test_a_login_racing_the_revocation_of_its_enrollment_keeps_no_session(tmp_path, monkeypatch):
    """A card's login reads its enrollment early and opens the session at the
    end; a revocation committed in between refuses the login (the link is read
    again, locked, where the session is inserted), and a revocation that comes
    while a login holds the link waits for its session and ends it. On the
    token path and on the client-certificate path (``open_session``), which
    share that code."""
    from voting.auth import enrollment
    from voting.auth import service as auth_service
    from voting.errors import Unauthorized
    from voting.services import Services

    settings, external = _enrollment_service(tmp_path)
    card = external.card_credential("P-256")
    fingerprint = certificate_fingerprint(card.certificate)

    async def run() -> dict:
        services = Services.build(settings)
        auth, database = services.auth, services.database
        outcomes: dict = {}

        async def enroll(credential, employee_id: str) -> None:
            async with database.write() as db:
                code = (await enrollment.issue_code(db, employee_id=employee_id, created_by="A0001", ttl_s=600))["code"]
            nonce = auth.challenge()["nonce"]
            token = make_enrollment_token(
                credential.private_key, credential.chain, nonce=nonce, audience=settings.audience, now=datetime.now(UTC),
                employee_id=employee_id, enrollment_code=code,
            )
            async with database.write() as db:
                await auth.enroll(db, token, "192.0.2.1")

        async def revoke(target: str) -> None:
            async with database.write() as other:  # another request, another connection
                await enrollment.revoke(other, target, revoked_by="A0001", reason="card lost")

        async def session_outcome(reply: dict | None) -> str:
            if reply is None:
                return "no session"
            try:
                return f"alive as {(await auth.authenticate(database, reply['session_token'])).employee_id}"
            except Unauthorized as exc:
                return f"ended: {exc.code}"

        try:
            # 1. The token login: the revocation commits right after the login read the link.
            await enroll(card, "E0001")
            original = auth_service.employee_for

            async def read_then_revoked(db, certificate, anchor):
                employee = await original(db, certificate, anchor)
                await revoke(certificate_fingerprint(certificate))
                return employee

            monkeypatch.setattr(auth_service, "employee_for", read_then_revoked)
            nonce = auth.challenge()["nonce"]
            login = make_login_token(card.private_key, card.chain, nonce=nonce, audience=settings.audience, now=datetime.now(UTC))
            reply = None
            try:
                async with database.write() as db:
                    reply = await auth.login(db, login, "192.0.2.1")
            except Unauthorized as exc:
                outcomes["token login"] = f"refused: {exc.code}"
            monkeypatch.setattr(auth_service, "employee_for", original)
            outcomes["token session"] = await session_outcome(reply)
            listed = {e["fingerprint"]: e for e in await _listed(database)}
            outcomes["revoked"] = listed[fingerprint]["revoked_at"] is not None

            # 2. The client-certificate route's order: the link read, the revocation, then open_session.
            second = external.card_credential("P-256")
            await enroll(second, "E0002")
            reply = None
            try:
                async with database.write() as db:
                    employee = await enrollment.employee_for(db, second.certificate, external.name)
                    await revoke(certificate_fingerprint(second.certificate))
                    reply = await auth.open_session(
                        db, employee_id=employee, name="", chain=second.chain, login_method="client-certificate",
                        enrolled_under=external.name,
                    )
            except Unauthorized as exc:
                outcomes["card login"] = f"refused: {exc.code}"
            outcomes["card session"] = await session_outcome(reply)

            # 3. The revocation comes while a login holds the link: it waits, then ends the new session.
            third = external.card_credential("P-256")
            await enroll(third, "E0003")
            async with database.write() as db:
                employee = await enrollment.hold_link(db, third.certificate, external.name)
                revoking = asyncio.create_task(revoke(certificate_fingerprint(third.certificate)))
                await asyncio.sleep(0.5)
                outcomes["revocation waited"] = not revoking.done()
                reply = await auth.open_session(
                    db, employee_id=employee, name="", chain=third.chain, enrolled_under=external.name
                )
            await revoking
            outcomes["held session"] = await session_outcome(reply)
        finally:
            await database.close()
        return outcomes

    assert asyncio.run(run()) == {
        "token login": "refused: enrollment_revoked",
        "token session": "no session",
        "revoked": True,
        "card login": "refused: enrollment_revoked",
        "card session": "no session",
        "revocation waited": True,
        "held session": "ended: session_ended",
    }


async def _listed(database) -> list[dict]:
    from voting.auth import enrollment

    async with database.read() as db:
        return await enrollment.list_enrollments(db)


@pytest.mark.postgres
def test_concurrent_first_enrollments_under_a_new_card_ca_all_succeed(tmp_path):
    """The morning enrollment opens: several holders enroll at once, the first
    requests under the card CA. None is refused ``crl_invalid`` while the first
    request that met the CA keeps its CRL (voting/auth/trust.py)."""
    from voting.services import Services

    settings, external = _enrollment_service(tmp_path, login_rate_per_minute=0)
    employees = [f"E{n:04d}" for n in range(1, 9)]

    async def run() -> list[str]:
        from voting.auth import enrollment

        services = Services.build(settings)
        auth, database = services.auth, services.database
        tokens = []
        for employee in employees:
            card = external.card_credential("P-256")
            async with database.write() as db:
                code = (await enrollment.issue_code(db, employee_id=employee, created_by="A0001", ttl_s=600))["code"]
            nonce = auth.challenge()["nonce"]
            tokens.append(make_enrollment_token(
                card.private_key, card.chain, nonce=nonce, audience=settings.audience, now=datetime.now(UTC),
                employee_id=employee, enrollment_code=code,
            ))

        async def enroll(token: str) -> str:
            try:
                async with database.write() as db:
                    return "enrolled " + (await auth.enroll(db, token, "192.0.2.1"))["employee_id"]
            except Exception as exc:  # noqa: BLE001 - what the holder is told
                return f"{getattr(exc, 'code', type(exc).__name__)}: {str(exc)[:90]}"

        try:
            return await asyncio.gather(*(enroll(t) for t in tokens))
        finally:
            await database.close()

    assert sorted(asyncio.run(run())) == [f"enrolled {e}" for e in employees]
