"""Attacks on card enrollment by a malicious server stand-in (tests/mitm_support.py)
in front of the real server: whatever it rewrites (the challenge, the request,
the employee the reply names), it cannot get a card linked to another employee.
The client signs only the employee id and the code its holder typed, for the
origin it connected to; the server checks the card's signature over both; and
a link a dishonest server writes itself shows in the record (the card-signed
proof names someone else: test_enrollment_http.py).

A dishonest server that makes its own "cards" (a card anchor of its own, in
its configuration or slipped into the record by the stand-in) gets nothing
decrypted: every anchor of the record must be a root the trustee pinned, and
the refusal names the one that is not. Registrations attested by a TLS client
certificate login (the server's word only) are decrypted only once the
trustee accepts exactly their number."""

from __future__ import annotations

import base64
import json
import os

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization

from crypto.credentials import certificate_fingerprint, certificate_to_pem, seal_credential, voting_credential
from tests.client_certificate_support import as_proxy, pilot_card, start_card_pilot
from tests.enrollment_support import anchors_file, make_external_ca
from tests.http_support import board_entries, start_pilot, two_question_manifest
from tests.mitm_support import Mitm, Reply
from tests.test_record_verify_js import _run_node
from voting.cli import main
from voting.cli.enrollment import enroll_with
from voting.client import (
    ApiError,
    Client,
    TrusteeRefusal,
    check_trust_anchors,
    choices_from_ids,
    prepare_ballot,
    verified_aggregate,
)
from voting.record import files as F
from voting.verify import verify_record


@pytest.fixture
def setting(pki, data_dir, database_url, front, tmp_path):
    external = make_external_ca(tmp_path / "external")
    pilot = start_pilot(pki, data_dir, database_url, front=front, trust_anchors_file=str(anchors_file(tmp_path / "external" / "anchors.json", external)))
    yield pilot, front, external
    pilot.stop()


def code_for(pilot, employee_id: str) -> str:
    return pilot.admin.post("/api/admin/enrollment-codes", {"employee_id": employee_id})["code"]


def enrolled(pilot) -> list[tuple[str, str]]:
    return [(e["employee_id"], e["fingerprint"]) for e in pilot.admin.get("/api/admin/enrollments")["enrollments"]]


def test_a_relayed_challenge_for_the_real_server_is_not_signed(setting):
    """A phishing site relays the real server's challenge: its audience names the
    real origin, not the site the card holder connected to; the card signs nothing."""
    pilot, front, external = setting
    card = external.card_credential("P-256")
    code = code_for(pilot, "E0001")
    with Mitm(upstream=front.url) as phish, Client(phish.url) as client:
        with pytest.raises(ApiError) as caught:
            enroll_with(client, card, employee_id="E0001", code=code)
        assert caught.value.code == "audience_mismatch"
        assert not any(r.path == "/api/enroll" for r in phish.requests)
    assert enrolled(pilot) == []


def test_the_stand_in_cannot_change_whom_the_card_is_linked_to(setting):
    pilot, front, external = setting
    alice_card = external.card_credential("RSA-2048")
    alice_code = code_for(pilot, "E0001")
    mallory_code = code_for(pilot, "E0666")

    # 1. It rewrites the signed token's employee id and code to Mallory's: the signature breaks.
    def to_mallory(request):
        if request.path != "/api/enroll":
            return None
        header, payload, signature = request.json()["token"].split(".")
        claim = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claim.update(employee_id="E0666", enrollment_code=mallory_code)
        forged = base64.urlsafe_b64encode(json.dumps(claim, separators=(",", ":"), sort_keys=True).encode()).rstrip(b"=").decode()
        body = json.dumps({"token": f"{header}.{forged}.{signature}"}).encode()
        response = Client(pilot.server.url).http.post("/api/enroll", content=body, headers={"Content-Type": "application/json"})
        return Reply(response.status_code, dict(response.headers), response.content)

    front.on_request = to_mallory
    with Client(front.url) as client, pytest.raises(ApiError) as caught:
        enroll_with(client, alice_card, employee_id="E0001", code=alice_code)
    assert caught.value.code == "token_signature_invalid"
    assert enrolled(pilot) == []

    # 2. It relays faithfully but tells the holder the card is linked to someone else
    #    (say, to cover a link it made itself): the client refuses the reply and says so.
    front.on_request = None
    front.on_response = lambda request, reply: (
        reply.with_json({**reply.json(), "employee_id": "E0666"}) if request.path == "/api/enroll" else reply
    )
    with Client(front.url) as client, pytest.raises(ApiError) as caught:
        enroll_with(client, alice_card, employee_id="E0001", code=alice_code)
    assert caught.value.code == "enrollment_reply_mismatch" and "tell the administrators" in caught.value.detail
    # The real server linked the card to the employee the card signed for, and to no one else.
    assert enrolled(pilot) == [("E0001", certificate_fingerprint(alice_card.certificate))]

    # 3. The card logs in as the employee it signed for; Mallory's code is still unspent.
    front.on_response = None
    with Client(front.url) as login:
        login.login(alice_card)
        assert login.session["employee_id"] == "E0001"


# --- card anchors the trustees did not pin ------------------------------------------------------


@pytest.fixture
def rogue_pilot(pki, data_dir, database_url, tmp_path):
    """A dishonest server: its operator configures a CA of its own as a card anchor nobody agreed to."""
    rogue = make_external_ca(tmp_path / "rogue", "rogue")
    pilot = start_pilot(pki, data_dir, database_url, trust_anchors_file=str(anchors_file(tmp_path / "rogue" / "anchors.json", rogue)))
    yield pilot, rogue
    pilot.stop()


def test_trustees_refuse_a_record_whose_card_anchor_they_did_not_pin(rogue_pilot, tmp_path):
    """The server mints "cards" under its own card anchor, enrolls them with codes it
    issues itself and votes for roll members who never vote. The record verifies on
    its own anchors (check 5 passes silently); the trustees, who pinned the city's root
    only, refuse before decrypting and name the card anchor; the verifier given the
    auditor's pinned roots fails check 5 naming it."""
    pilot, rogue = rogue_pilot
    election_id = pilot.open_election(two_question_manifest("rogue-2026", min_tally_ballots=3), ["E0001", "E0002", "E0003", "E0004"])
    honest = pilot.login(pilot.pki.enroll("E0001"))
    honest.cast(honest.prepare_ballot(election_id, [[1, 0, 0, 0], [0, 0, 0, 0]]))
    for employee in ["E0002", "E0003", "E0004"]:
        card = rogue.card_credential("P-256")
        enroll_with(pilot.client(), card, employee_id=employee, code=code_for(pilot, employee))
        stuffed = pilot.login(card)
        stuffed.cast(stuffed.prepare_ballot(election_id, [[0, 0, 0, 1], [0, 0, 0, 0]]))
    pilot.admin.close_election(election_id)

    trustee = pilot.trustees["T0001"]
    assert {r.subject for r in trustee.trust_store.roots} == {pilot.pki.root.certificate.subject}
    files = F.read_record_zip(trustee.http.get(f"/api/elections/{election_id}/record/private").content)
    assert [a["name"] for a in json.loads(files[F.ENROLLMENTS])["anchors"]] == ["rogue"]
    assert verify_record(files, workers=1, crls_after_events=False).check(5).status == "pass"  # on the record's own anchors

    with pytest.raises(TrusteeRefusal) as refused:
        check_trust_anchors(files, trustee.trust_store)
    assert "the card anchor 'rogue'" in str(refused.value) and "CN=rogue Root CA" in str(refused.value)
    state = json.loads(pilot.trustee_file("T0001", election_id).read_text())
    with pytest.raises(TrusteeRefusal, match="the card anchor 'rogue'.*which this trustee did not pin"):
        verified_aggregate(trustee, election_id, state)
    with pytest.raises(TrusteeRefusal, match="the card anchor 'rogue'"):
        pilot.decrypt(election_id, ["T0002"])
    assert "partial_decryption" not in json.loads(pilot.trustee_file("T0002", election_id).read_text())
    assert [e for e in board_entries(pilot.admin, election_id) if e["kind"] == "partial-decryption"] == []

    city = [pilot.pki.root.certificate]
    audited = verify_record(files, workers=1, crls_after_events=False, trust_anchors=city)
    assert audited.check(5).status == "fail" and "the card anchor 'rogue'" in audited.check(5).first_failure
    # The trustee page's verifier (record_verify.js) gives the same verdicts, pinned or not.
    der = [c.public_bytes(serialization.Encoding.DER) for c in city]
    js = _run_node(
        [{"name": "own", "files": files, "server_key": None, "crls_after_events": False},
         {"name": "pinned", "files": files, "server_key": None, "crls_after_events": False, "trust_anchors": der}],
        tmp_path,
    )
    assert js["own"]["5"][0] == "pass"
    assert js["pinned"]["5"][0] == "fail" and "the card anchor rogue: CN=rogue Root CA" in js["pinned"]["5"][1], js["pinned"]["5"]


@pytest.mark.slow
def test_the_stand_in_cannot_slip_a_card_anchor_into_the_record(setting):
    """With the honest card anchor pinned (the city's root and jpki-test's root in one
    file), a stand-in that adds a CA of its own to the record's card anchors, or to its
    login anchors, is refused before anything is decrypted, naming what it added."""
    pilot, front, external = setting
    voters = ["E0001", "E0002", "E0003"]
    election_id = pilot.open_election(two_question_manifest("slipped-2026", min_tally_ballots=3), voters)
    card = external.card_credential("RSA-2048")
    enroll_with(pilot.client(), card, employee_id="E0001", code=code_for(pilot, "E0001"))
    for signer in [card, pilot.pki.enroll("E0002"), pilot.pki.enroll("E0003")]:
        voter = pilot.login(signer)
        voter.cast(voter.prepare_ballot(election_id, [[0, 1, 0, 0], [0, 0, 0, 0]]))
    pilot.admin.close_election(election_id)
    pilot.pin(external.root.certificate)

    own = make_external_ca(pilot.data_dir / "own", "own").root.certificate
    own_b64 = base64.b64encode(own.public_bytes(serialization.Encoding.DER)).decode()
    attack = {"file": F.ENROLLMENTS}

    def slipped(request, reply: Reply) -> Reply:
        if not request.path.endswith("/record/private") or reply.status != 200:
            return reply
        files = F.read_record_zip(reply.body)
        doc = json.loads(files[attack["file"]])
        if attack["file"] == F.ENROLLMENTS:
            doc["anchors"].append({"name": "own", "certificates": [own_b64]})
        else:
            doc["trust_anchors"].append(own_b64)
        files[attack["file"]] = json.dumps(doc).encode()
        return Reply(reply.status, {k: v for k, v in reply.headers.items() if k.lower() != "etag"}, F.record_zip(files))

    front.on_response = slipped
    with pytest.raises(TrusteeRefusal, match="the card anchor 'own', .*CN=own Root CA"):
        pilot.decrypt(election_id, ["T0001"])
    attack["file"] = F.TRUST
    with pytest.raises(TrusteeRefusal, match=f"the trust anchor CN=own Root CA.* of {F.TRUST}"):
        pilot.decrypt(election_id, ["T0001"])
    assert "partial_decryption" not in json.loads(pilot.trustee_file("T0001", election_id).read_text())

    # Relayed faithfully, the record's anchors are the pinned ones: the trustees decrypt.
    front.on_response = None
    pilot.decrypt(election_id, ["T0001", "T0002"])
    result = pilot.admin.tally(election_id)
    assert [o["count"] for o in result["questions"][0]["options"]] == [0, 3, 0, 0]


# --- registrations attested by a TLS client certificate -----------------------------------------


@pytest.fixture
def cards(data_dir, database_url):
    pilot = start_card_pilot(data_dir, database_url)
    yield pilot
    pilot.stop()


def _write_credential(path, pki, employee_id: str) -> None:
    """A credential file, as 'voting ca issue' writes it (PIN 123456)."""
    credential = pki.enroll(employee_id)
    sealed = seal_credential(credential.private_key, credential.chain, "123456", employee_id=employee_id, name=employee_id, iterations=1000)
    path.write_text(json.dumps(sealed), encoding="utf-8")


@pytest.mark.slow
def test_trustees_decrypt_a_tally_with_attested_registrations_only_once_they_accept_their_number(cards, tmp_path):
    """The server pads the tally with "attested" registrations for employees who never
    voted: it needs only their certificates, and opens a client-certificate session for
    anybody (here as the proxy). The record verifies (check 5 warns); the trustee gates
    refuse until the trustee accepts exactly that number (CLI --accept-attested N)."""
    pilot, url = cards.pilot, cards.url
    voters = ["E0001", "E0002", "E0003", "E0004", "E0005"]
    election_id = pilot.open_election(two_question_manifest("padded-2026"), voters)  # min_tally_ballots 5
    real = pilot.login(pilot.pki.enroll("E0001"))
    real.cast(real.prepare_ballot(election_id, {"days": ["d2"], "tools": []}))
    for employee in voters[1:]:
        session = as_proxy(url, "/api/auth/client-certificate", pilot_card(pilot.pki, employee).certificate, origin=url).json()
        client = Client(url)
        client.http.headers["Authorization"] = f"Bearer {session['session_token']}"
        pilot.clients.append(client)
        fake = voting_credential(os.urandom(32), election_id)
        client.post(f"/api/elections/{election_id}/credential", {"credential": fake.hex, "attested": "client-certificate"})
        info = client.election_info(election_id)
        client.cast(prepare_ballot(info, fake.hex, choices_from_ids(info.manifest, {"days": ["d0"], "tools": []}), fake))
    pilot.admin.close_election(election_id)
    pilot.pin(cards.external.root.certificate)  # the card anchor of this server, from the notice

    trustee = pilot.trustees["T0001"]
    state = json.loads(pilot.trustee_file("T0001", election_id).read_text())
    with pytest.raises(TrusteeRefusal, match=r"holds 4 registrations attested by a TLS client certificate login.*--accept-attested 4$"):
        verified_aggregate(trustee, election_id, state)
    with pytest.raises(TrusteeRefusal, match=r"\(--accept-attested 3 was given\)"):
        verified_aggregate(trustee, election_id, state, accept_attested=3)
    files = F.read_record_zip(trustee.http.get(f"/api/elections/{election_id}/record/private").content)
    report = verify_record(files, workers=1, crls_after_events=False)
    assert report.check(5).status == "pass" and report.attested_registrations == 4
    assert any("4 registrations attested" in w for w in report.warnings)  # voting verify keeps its warning
    assert _run_node([{"name": "padded", "files": files, "server_key": None, "crls_after_events": False}], tmp_path)["padded"]["attested"] == 4

    # The CLI: one line saying how many and what they mean; exactly that number decrypts.
    credential = tmp_path / "T0001.credential.json"
    _write_credential(credential, pilot.pki, "T0001")
    roots = tmp_path / "roots.pem"
    roots.write_text(certificate_to_pem(pilot.pki.root.certificate) + certificate_to_pem(cards.external.root.certificate))
    base = ["trustee", "decrypt", election_id, "--state", str(pilot.trustee_file("T0001", election_id)), "-c", str(credential),
            "--trust-anchor", str(roots), "--server", url]
    run = lambda *extra: CliRunner().invoke(main, [*base, *extra], env={"VOTING_PIN": "123456"})  # noqa: E731
    refused = run()
    line = refused.output.strip()
    assert refused.exit_code == 1 and "Traceback" not in refused.output, refused.output
    assert "4 registrations attested by a TLS client certificate login" in line and "server's word" in line
    assert "--accept-attested 4" in line and len(line.splitlines()) == 1, line
    assert run("--accept-attested", "5").exit_code == 1
    assert "partial_decryption" not in json.loads(pilot.trustee_file("T0001", election_id).read_text())
    accepted = run("--accept-attested", "4")
    assert accepted.exit_code == 0, accepted.output
    assert "4 of the registrations rest on the server's word" in accepted.output

    pilot.decrypt(election_id, ["T0002"], accept_attested=4)
    result = pilot.admin.tally(election_id)
    assert [o["count"] for o in result["questions"][0]["options"]] == [4, 0, 1, 0]
