"""Every refused request, over real HTTP on SQLite and PostgreSQL: it gets a 4xx
problem detail with its stable error code, and the database is byte for byte
what it was before (every table's rows, read directly; only a session's
last-activity time may move).

Codes observed (HTTP status):
  login        token_malformed, token_signature_invalid, audience_invalid,
               token_expired, nonce_invalid, certificate_invalid (unknown CA,
               expired), certificate_revoked, crl_invalid (401);
               invalid_request (422, no token in the body)
  sessions     not_logged_in, bad_session, session_ended, session_idle,
               session_expired (401)
  ballots      selection_proof, selection_limit, ballot_shape, invalid_ballot
               (made for another voter), invalid_point, ballot_signature_invalid,
               invalid_signature_encoding, invalid_request (422); not_on_roll
               (403); election_not_found (404); already_voted (409)
  state        wrong_state (with ``election_status``), ceremony_unfinished,
               threshold_not_met, not_closed (409)
  roles        not_admin, not_trustee (403), checked before the state
  ceremony     invalid_request, bad_encoding, announcement_signature_invalid,
               wrong_trustee_index, ceremony_invalid, endorsement_invalid,
               invalid_shares, public_share_mismatch (422); already_announced,
               ceremony_unfinished (409)
  tally        bad_encoding, invalid_point, partial_decryption_invalid,
               wrong_trustee_index (422); already_decrypted, threshold_not_met (409)
  roll         roll_invalid (with a per-line ``errors`` list), roll_empty (422);
               election_not_found (404)
  bodies       malformed_request (400: not JSON, not UTF-8, nested too deeply,
               the wrong JSON type), payload_too_large (413, over 8 MiB, also
               when streamed without a length)
"""

from __future__ import annotations

import copy
import json
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from crypto import threshold
from crypto.ballots import (
    LIMIT_KIND,
    SELECTION_KIND,
    EncryptedBallot,
    EncryptedQuestion,
    EncryptedSelection,
    Manifest,
    _limit_context,
    _selection_context,
    ceremony_fingerprint,
    tracking_code,
)
from crypto.credentials import Credential, make_login_token, sign_announcement
from crypto.elgamal import Ciphertext, add_all, encrypt
from crypto.group import Scalar
from crypto.proofs import prove_encrypted_value
from tests.http_support import Pilot, board_entries, problem, start_pilot, two_question_manifest
from tests.support import ServerProcess, make_pki, roll_csv, server_settings
from voting import operator
from voting.client import ElectionInfo, prepare_ballot
from voting.errors import ServiceError

# --- helpers ------------------------------------------------------------------------------


def login_token(pilot: Pilot, credential: Credential, **overrides: object) -> str:
    """A login token for a fresh challenge of ``pilot`` (asking for a challenge
    writes nothing; only its use does)."""
    challenge = httpx.post(pilot.url + "/api/auth/challenge").json()
    args = {"nonce": challenge["nonce"], "audience": challenge["audience"], "now": datetime.now(UTC), **overrides}
    return make_login_token(credential.private_key, credential.chain, **args)


def post_login(pilot: Pilot, token: object) -> dict:
    return pilot.client().post("/api/auth/login", {"token": token})


def forged_ballot(info: ElectionInfo, pseudonym: str, rows: list[list[int]], limits: dict[int, tuple] | None = None) -> EncryptedBallot:
    """Encrypt ``rows`` as a cheating client would: every proof honestly computed,
    but for the values that make it go through (a selection of 2 proven "in
    (2, 1)", a question's total proven "in ``limits[q]``") instead of the
    manifest's. With honest rows and no ``limits`` it is a valid ballot."""
    questions = []
    for qn, (row, question) in enumerate(zip(rows, info.manifest.questions)):
        selections, r_total = [], Scalar(0)
        for on, m in enumerate(row):
            r = Scalar.random()
            ct = encrypt(info.joint_key, m, r)
            values = (0, 1) if m in (0, 1) else (m, 1)
            proof = prove_encrypted_value(
                ct.alpha, ct.beta, r, m, info.joint_key, values,
                kind=SELECTION_KIND, fingerprint=info.fingerprint, context=_selection_context(pseudonym, qn, on),
            )
            selections.append(EncryptedSelection(ct, proof))
            r_total = r_total + r
        total = add_all(s.ciphertext for s in selections)
        values = (limits or {}).get(qn, question.limit_values)
        limit = prove_encrypted_value(
            total.alpha, total.beta, r_total, sum(row), info.joint_key, values,
            kind=LIMIT_KIND, fingerprint=info.fingerprint, context=_limit_context(pseudonym, qn),
        )
        questions.append(EncryptedQuestion(tuple(selections), limit))
    return EncryptedBallot(info.manifest.election_id, pseudonym, tuple(questions))


def signed_body(info: ElectionInfo, ballot: EncryptedBallot | dict, credential: Credential) -> dict:
    """A cast body for ``ballot`` (an EncryptedBallot, or raw JSON that cannot be
    one: then the signature is over a made-up code, the ballot failing first)."""
    if isinstance(ballot, EncryptedBallot):
        code, doc = tracking_code(info.fingerprint, ballot), ballot.to_json()
    else:
        code, doc = b"\x01" * 32, ballot
    signature = credential.voting_credential(info.election_id).sign_ballot(
        election_fingerprint=info.fingerprint, tracking_code=code
    )
    return {"ballot": doc, "signature": signature.hex()}


def cast_path(election_id: str) -> str:
    return f"/api/elections/{election_id}/ballots/"


# --- login ------------------------------------------------------------------------------------


def test_login_refusals(pki, data_dir, database_url):
    pilot = start_pilot(pki, data_dir, database_url, crl_refresh_s="0")
    try:
        alice, bob = pki.enroll("E0001"), pki.enroll("E0002")

        pilot.refused(lambda: post_login(pilot, "abc"), 401, "token_malformed")
        pilot.refused(lambda: post_login(pilot, "a.b.c"), 401, "token_malformed")
        pilot.refused(lambda: post_login(pilot, 12), 422, "invalid_request")
        pilot.refused(lambda: pilot.client().post("/api/auth/login", {"jws": "x"}), 422, "invalid_request")

        token = login_token(pilot, alice, audience="https://elsewhere.example")
        pilot.refused(lambda: post_login(pilot, token), 401, "audience_invalid")
        token = login_token(pilot, alice, now=datetime.now(UTC) - timedelta(minutes=20))
        pilot.refused(lambda: post_login(pilot, token), 401, "token_expired")
        token = login_token(pilot, alice, now=datetime.now(UTC) + timedelta(minutes=20))
        pilot.refused(lambda: post_login(pilot, token), 401, "token_expired")
        token = login_token(pilot, alice, nonce="N" * 43)  # never issued
        pilot.refused(lambda: post_login(pilot, token), 401, "nonce_invalid")
        # An issued challenge altered (its expiry, its random part, its MAC), or spelled in
        # another base64url form of the same bytes (the last character's unused bits): refused.
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        nonce = httpx.post(pilot.url + "/api/auth/challenge").json()["nonce"]
        for at in (5, 30, -3):
            altered = nonce[:at] + ("A" if nonce[at] != "A" else "B") + nonce[at:][1:]
            token = login_token(pilot, alice, nonce=altered)
            pilot.refused(lambda token=token: post_login(pilot, token), 401, "nonce_invalid")
        respelled = nonce[:-1] + alphabet[alphabet.index(nonce[-1]) ^ 1]
        token = login_token(pilot, alice, nonce=respelled)
        pilot.refused(lambda: post_login(pilot, token), 401, "nonce_invalid")
        assert post_login(pilot, login_token(pilot, alice, nonce=nonce))["employee_id"] == "E0001"  # as issued

        # Alice's header and payload with Bob's signature.
        mine, theirs = login_token(pilot, alice), login_token(pilot, bob)
        spliced = mine.rsplit(".", 1)[0] + "." + theirs.rsplit(".", 1)[1]
        pilot.refused(lambda: post_login(pilot, spliced), 401, "token_signature_invalid")

        # A replayed nonce: the first login succeeds, the same token again does not.
        token = login_token(pilot, alice)
        assert post_login(pilot, token)["employee_id"] == "E0001"
        pilot.refused(lambda: post_login(pilot, token), 401, "nonce_invalid")

        # Certificates: another CA, an expired one, a revoked one.
        stranger = make_pki(data_dir / "another-city").enroll("E0003")
        token = login_token(pilot, stranger)
        pilot.refused(lambda: post_login(pilot, token), 401, "certificate_invalid")
        expired = pki.enroll("E0004", now=datetime.now(UTC) - timedelta(days=40), days=30)
        token = login_token(pilot, expired)
        pilot.refused(lambda: post_login(pilot, token), 401, "certificate_invalid")
        pki.revoke(bob)
        token = login_token(pilot, bob)
        pilot.refused(lambda: post_login(pilot, token), 401, "certificate_revoked")

        # A CRL past its nextUpdate: every login fails closed, until a new CRL.
        pki.write_crl(now=datetime.now(UTC) - timedelta(days=10), next_update=timedelta(days=1))
        token = login_token(pilot, alice)
        pilot.refused(lambda: post_login(pilot, token), 401, "crl_invalid")
        pki.write_crl()
        assert post_login(pilot, token)["employee_id"] == "E0001"  # the nonce was not burnt
    finally:
        pilot.stop()


# --- sessions -----------------------------------------------------------------------------------


def test_session_refusals(pki, data_dir, database_url):
    """Bad, forged, logged-out, idle and expired sessions, each trying to cast a
    valid ballot; and an expired login challenge. Expiry is shown with a second
    app process on the same database whose session and nonce lifetimes are one
    second (sessions and nonces live in the database, so either process honours
    them)."""
    pilot = start_pilot(pki, data_dir, database_url)
    settings, env = server_settings(data_dir, database_url, session_ttl_s="1", session_idle_s="1", nonce_ttl_s="1")
    short = ServerProcess(settings, env).start()
    try:
        voter_ids = ["E0001", "E0002", "E0003", "E0004"]
        credentials = {v: pki.enroll(v) for v in voter_ids}
        election_id = pilot.open_election(two_question_manifest("sessions-2026"), voter_ids)
        voters = {v: pilot.login(credentials[v]) for v in voter_ids}
        ballots = {v: c.prepare_ballot(election_id, {"days": ["d1"], "tools": []}) for v, c in voters.items()}
        body = ballots["E0001"].cast_body()
        real_token = voters["E0001"].session["session_token"]

        def cast_with(token: str | None, url: str = pilot.url) -> httpx.Response:
            headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
            return httpx.post(url + cast_path(election_id), json=body, headers=headers)

        pilot.refused_raw(lambda: cast_with(None), 401, "not_logged_in")
        pilot.refused_raw(lambda: cast_with("garbage"), 401, "bad_session")
        pilot.refused_raw(lambda: cast_with(real_token[:-2] + ("AA" if real_token[-2:] != "AA" else "BB")), 401, "bad_session")
        prefix, session_id, mac = real_token.split(".")
        pilot.refused_raw(lambda: cast_with(f"{prefix}.{session_id[::-1]}.{mac}"), 401, "bad_session")
        pilot.refused_raw(lambda: cast_with("s1." + "A" * 300 + "." + mac), 401, "bad_session")

        voters["E0001"].logout()
        pilot.refused_raw(lambda: cast_with(real_token), 401, "session_ended")
        pilot.refused_raw(
            lambda: httpx.get(pilot.url + "/api/auth/me", headers={"Authorization": f"Bearer {real_token}"}),
            401, "session_ended",
        )

        # E0002 logged in on the normal server (30 min), E0003 on the short one (1 s).
        voters["E0003"].http.base_url = short.url
        voters["E0003"].login(credentials["E0003"])
        challenge = httpx.post(short.url + "/api/auth/challenge").json()
        late_token = make_login_token(
            credentials["E0004"].private_key, credentials["E0004"].chain,
            nonce=challenge["nonce"], audience=pilot.server.settings.audience, now=datetime.now(UTC),
        )
        time.sleep(1.3)
        idle_token = voters["E0002"].session["session_token"]
        pilot.refused_raw(lambda: cast_with(idle_token, short.url), 401, "session_idle")
        pilot.refused_raw(lambda: cast_with(voters["E0003"].session["session_token"]), 401, "session_expired")
        pilot.refused(lambda: post_login(pilot, late_token), 401, "nonce_invalid")

        # Nothing of the above voted: E0002 still can, with its ballot, on the normal server.
        assert voters["E0002"].cast(ballots["E0002"])["tracking_code"] == ballots["E0002"].tracking_code.hex()
    finally:
        short.stop()
        pilot.stop()


# --- ballots ------------------------------------------------------------------------------------


def test_invalid_ballots(pki, data_dir, database_url):
    pilot = start_pilot(pki, data_dir, database_url)
    try:
        voter_ids = ["E0001", "E0002"]
        credentials = {v: pki.enroll(v) for v in voter_ids}
        election_id = pilot.open_election(two_question_manifest("ballots-2026", revote="single"), voter_ids)
        info = pilot.admin.election_info(election_id)
        alice, bob = (pilot.login(credentials[v]) for v in voter_ids)
        alice_id = alice.ensure_registered(election_id).hex
        bob_id = bob.ensure_registered(election_id).hex
        good = prepare_ballot(info, alice_id, [[0, 1, 0, 0], [1, 0, 0, 0]], credentials["E0001"])
        good_json = good.ballot.to_json()

        def cast(client, body):
            return lambda: client.post(cast_path(election_id), body)

        def tampered(change) -> dict:
            doc = copy.deepcopy(good_json)
            change(doc)
            return {"ballot": doc, "signature": good.signature.hex()}

        # A proof that does not verify.
        def swap_challenge(doc: dict) -> None:
            sel = doc["questions"][0]["selections"]
            sel[0]["proof"][0]["c"] = sel[1]["proof"][0]["c"]

        pilot.refused(cast(alice, tampered(swap_challenge)), 422, "selection_proof")

        def swap_ciphertexts(doc: dict) -> None:
            sel = doc["questions"][1]["selections"]
            sel[0]["alpha"], sel[1]["alpha"] = sel[1]["alpha"], sel[0]["alpha"]

        pilot.refused(cast(alice, tampered(swap_ciphertexts)), 422, "selection_proof")

        # Over-votes with forged proofs: two of a 1-of-4 question (its total proven
        # to be "in (2)"; or proven in 0..4, a proof of the wrong width); three of
        # the 0-to-2 question (three branches, for 3, 1, 2); one option worth 2.
        for rows, limits, code in (
            ([[1, 1, 0, 0], [0, 0, 0, 0]], {0: (2,)}, "selection_limit"),
            ([[1, 1, 0, 0], [0, 0, 0, 0]], {0: (0, 1, 2, 3, 4)}, "selection_limit"),
            ([[1, 0, 0, 0], [1, 1, 1, 0]], {1: (3, 1, 2)}, "selection_limit"),
            ([[2, 0, 0, 0], [0, 0, 0, 0]], {0: (2,)}, "selection_proof"),
        ):
            forged = forged_ballot(info, alice_id, rows, limits)
            pilot.refused(cast(alice, signed_body(info, forged, credentials["E0001"])), 422, code)

        # Another voter's ballot (made for Alice's credential): as Alice sent it, and re-signed by Bob.
        pilot.refused(cast(bob, good.cast_body()), 422, "voter_id_mismatch")
        pilot.refused(cast(bob, signed_body(info, good.ballot, credentials["E0002"])), 422, "voter_id_mismatch")

        # Wrong shapes.
        pilot.refused(cast(alice, tampered(lambda d: d["questions"].pop())), 422, "ballot_shape")
        pilot.refused(cast(alice, tampered(lambda d: d["questions"][0]["selections"].pop())), 422, "ballot_shape")
        pilot.refused(cast(alice, tampered(lambda d: d.update(extra=1))), 422, "ballot_shape")
        pilot.refused(cast(alice, tampered(lambda d: d.update(election_id="another-2026"))), 422, "ballot_shape")
        pilot.refused(cast(alice, tampered(lambda d: d.update(version=2))), 422, "ballot_shape")
        pilot.refused(cast(alice, {"ballot": "a ballot", "signature": good.signature.hex()}), 422, "ballot_shape")
        pilot.refused(
            cast(alice, tampered(lambda d: d["questions"][0]["selections"][0].update(alpha="zz"))), 422, "invalid_point"
        )
        pilot.refused(cast(alice, {"ballot": good_json}), 422, "invalid_request")
        pilot.refused(cast(alice, {**good.cast_body(), "note": "hi"}), 422, "invalid_request")

        # Signatures: none that verifies, not hex, by another voter's key.
        pilot.refused(cast(alice, {"ballot": good_json, "signature": "00" * 64}), 422, "ballot_signature_invalid")
        pilot.refused(cast(alice, {"ballot": good_json, "signature": "not hex"}), 422, "invalid_signature_encoding")
        pilot.refused(cast(alice, {"ballot": good_json, "signature": 7}), 422, "invalid_signature_encoding")
        pilot.refused(cast(alice, signed_body(info, good.ballot, credentials["E0002"])), 422, "ballot_signature_invalid")
        bobs = prepare_ballot(info, bob_id, [[1, 0, 0, 0], [0, 0, 0, 0]], credentials["E0001"])  # signed by Alice's key
        pilot.refused(cast(bob, bobs.cast_body()), 422, "ballot_signature_invalid")

        # A valid certificate that is not on the roll; an election that does not exist.
        outsider = pilot.login(pki.enroll("E0099"))
        pilot.refused(lambda: outsider.get(f"/api/elections/{election_id}/voter"), 403, "not_on_roll")
        theirs = prepare_ballot(info, "v-made-up", [[1, 0, 0, 0], [0, 0, 0, 0]], outsider.credential)
        pilot.refused(lambda: outsider.cast(theirs), 403, "not_on_roll")
        pilot.refused(lambda: alice.post(cast_path("no-such-election"), good.cast_body()), 404, "election_not_found")

        # None of that counted against Alice: her ballot (and a ballot made by the
        # forging helper with honest values, for Bob) go through; then 'single' holds.
        assert alice.cast(good)["tracking_code"] == good.tracking_code.hex()
        honest = forged_ballot(info, bob_id, [[0, 0, 1, 0], [0, 1, 0, 1]])
        bob.post(cast_path(election_id), signed_body(info, honest, credentials["E0002"]))
        again = prepare_ballot(info, alice_id, [[1, 0, 0, 0], [0, 0, 0, 0]], credentials["E0001"])
        pilot.refused(lambda: alice.cast(again), 409, "already_voted")
        status = pilot.admin.status(election_id)
        assert (status["ballots_cast"], status["ballots_counted"]) == (2, 2)
    finally:
        pilot.stop()


# --- election state -------------------------------------------------------------------------


def test_wrong_election_state(pki, data_dir, database_url):
    pilot = start_pilot(pki, data_dir, database_url)
    try:
        voter_ids = ["E0001", "E0002"]
        credentials = {v: pki.enroll(v) for v in voter_ids}
        admin = pilot.admin
        election_id = pilot.create(two_question_manifest("state-2026", revote="single", min_tally_ballots=1), voter_ids)
        alice, bob = (pilot.login(credentials[v]) for v in voter_ids)
        t1 = pilot.trustees["T0001"] = pilot.login(pilot.trustee_credentials["T0001"])  # used by ceremony_steps too
        placeholder = {"ballot": {}, "signature": "00"}

        # draft
        error = pilot.refused(lambda: admin.open(election_id), 409, "ceremony_unfinished")
        for call in (admin.close_election, admin.tally, admin.publish):
            error = pilot.refused(lambda call=call: call(election_id), 409, "wrong_state")
            assert error.body["election_status"] == "draft"
        pilot.refused(lambda: alice.post(cast_path(election_id), placeholder), 409, "wrong_state")
        pilot.refused(lambda: t1.post(f"/api/elections/{election_id}/ceremony/announcement", {}), 409, "wrong_state")
        pilot.refused(lambda: admin.aggregate(election_id), 409, "not_closed")
        pilot.refused(lambda: admin.result(election_id), 409, "wrong_state")

        # key ceremony: started, then finished but not open
        admin.start_ceremony(election_id)
        pilot.refused(lambda: admin.start_ceremony(election_id), 409, "wrong_state")
        pilot.refused(lambda: admin.open(election_id), 409, "ceremony_unfinished")
        pilot.ceremony_steps(election_id)
        info = alice.election_info(election_id)
        ballot = prepare_ballot(info, None, [[1, 0, 0, 0], [0, 0, 0, 0]], credentials["E0001"])
        error = pilot.refused(lambda: alice.cast(ballot), 409, "wrong_state")
        assert error.body["election_status"] == "key_ceremony"
        # No voting credential is registered before the election opens.
        pilot.refused(lambda: alice.register_credential(election_id), 409, "wrong_state")
        pilot.refused(lambda: t1.post(f"/api/elections/{election_id}/partial-decryptions", {}), 409, "wrong_state")

        # open
        admin.open(election_id)
        for call in (admin.open, admin.start_ceremony, admin.tally, admin.publish):
            pilot.refused(lambda call=call: call(election_id), 409, "wrong_state")
        pilot.refused(lambda: admin.import_roll(election_id, roll_csv(["E0003"])), 409, "wrong_state")
        pilot.refused(lambda: t1.post(f"/api/elections/{election_id}/partial-decryptions", {}), 409, "wrong_state")
        pilot.refused(lambda: alice.cast(ballot), 403, "credential_not_registered")
        alice.register_credential(election_id)
        alice.cast(ballot)

        # closed: no casting; no tally before t = 2 trustees have decrypted
        admin.close_election(election_id)
        late = prepare_ballot(info, None, [[0, 1, 0, 0], [0, 0, 0, 0]], credentials["E0002"])
        error = pilot.refused(lambda: bob.cast(late), 409, "wrong_state")
        assert error.body["election_status"] == "closed"
        error = pilot.refused(lambda: bob.register_credential(election_id), 409, "wrong_state")
        assert error.body["election_status"] == "closed"
        pilot.refused(lambda: admin.tally(election_id), 409, "threshold_not_met")
        pilot.decrypt(election_id, ["T0001"])
        pilot.refused(lambda: admin.tally(election_id), 409, "threshold_not_met")
        pilot.refused(lambda: admin.publish(election_id), 409, "wrong_state")
        pilot.refused(lambda: admin.result(election_id), 409, "wrong_state")

        # tallied, then published
        pilot.decrypt(election_id, ["T0003"])
        assert admin.tally(election_id)["ballots_counted"] == 1
        pilot.refused(lambda: admin.tally(election_id), 409, "wrong_state")
        pilot.refused(lambda: admin.close_election(election_id), 409, "wrong_state")
        admin.publish(election_id)
        for call in (admin.publish, admin.open, admin.close_election):
            pilot.refused(lambda call=call: call(election_id), 409, "wrong_state")
        pilot.refused(lambda: bob.cast(late), 409, "wrong_state")
    finally:
        pilot.stop()


# --- roles ----------------------------------------------------------------------------------------


def test_roles_come_from_the_rosters(pki, data_dir, database_url):
    pilot = start_pilot(pki, data_dir, database_url)
    try:
        voter_ids = ["E0001", "E0002"]
        credentials = {v: pki.enroll(v) for v in voter_ids}
        election_id = pilot.create(two_question_manifest("roles-2026"), voter_ids)
        pilot.admin.start_ceremony(election_id)
        voter = pilot.login(credentials["E0001"])
        trustee = pilot.login(pilot.trustee_credentials["T0001"])
        assert voter.get("/api/auth/me")["roles"] == ["voter"]
        assert trustee.get("/api/auth/me")["roles"] == ["trustee"]
        e = f"/api/elections/{election_id}"

        # Administrators' endpoints, called by a voter and by a trustee.
        admin_calls = [
            ("/api/elections/", {"manifest": two_question_manifest("mine-2026"), "trustees": ["E0001"], "threshold": 1}),
            (f"{e}/ceremony/start", None),
            (f"{e}/open", None),
            (f"{e}/close", None),
            (f"{e}/tally", None),
            (f"{e}/publish", None),
        ]
        for client in (voter, trustee):
            for path, body in admin_calls:
                pilot.refused(lambda client=client, path=path, body=body: client.post(path, body), 403, "not_admin")
            pilot.refused(lambda client=client: client.import_roll(election_id, roll_csv(["E0009"])), 403, "not_admin")
        pilot.refused(lambda: pilot.client().post(f"{e}/open"), 401, "not_logged_in")

        # Trustees' endpoints, called by a voter and by the administrator.
        trustee_calls = [
            (f"{e}/ceremony/announcement", {}),
            (f"{e}/ceremony/shares", []),
            (f"{e}/ceremony/confirm", {"public_share": "00" * 32}),
            (f"{e}/partial-decryptions", {}),
        ]
        for client in (voter, pilot.admin):
            pilot.refused(lambda client=client: client.ceremony(election_id), 403, "not_trustee")
            for path, body in trustee_calls:
                pilot.refused(lambda client=client, path=path, body=body: client.post(path, body), 403, "not_trustee")
        # A trustee of one election is not a trustee of another.
        other = pilot.create(two_question_manifest("other-2026"), [], trustees=["T0002", "T0003"])
        pilot.admin.start_ceremony(other)
        pilot.refused(lambda: trustee.ceremony(other), 403, "not_trustee")
        pilot.refused(lambda: trustee.post(f"/api/elections/{other}/ceremony/announcement", {}), 403, "not_trustee")
    finally:
        pilot.stop()


# --- the election policy ---------------------------------------------------------------------------


def test_election_policy_at_creation(pki, data_dir, database_url):
    """At least two trustees must decrypt, and no trustee is an administrator or
    an auditor: no one person can decrypt, nor run the server and decrypt."""
    pilot = start_pilot(pki, data_dir, database_url)
    try:
        settings = pilot.server.settings
        operator.add_role(settings, "A0002", "admin")
        operator.add_role(settings, "U0001", "auditor")
        create = lambda trustees, t, doc=None: lambda: pilot.admin.create_election(  # noqa: E731
            doc or two_question_manifest("policy-2026"), trustees, t
        )
        pilot.refused(create(["T0001", "T0002"], 1), 422, "invalid_threshold")
        pilot.refused(create(["T0001", "T0002"], 3), 422, "invalid_threshold")
        pilot.refused(create(["T0001"], 1), 422, "invalid_trustees")
        pilot.refused(create(["T0001", "T0001"], 2), 422, "invalid_trustees")
        pilot.refused(create(["T0001", "not an id"], 2), 422, "invalid_trustees")
        pilot.refused(create([f"T{i:04d}" for i in range(1, 7)], 2), 422, "invalid_trustees")
        error = pilot.refused(create(["T0001", "A0001"], 2), 422, "trustee_is_admin")
        assert "you (A0001)" in error.body["detail"]
        error = pilot.refused(create(["A0002", "T0001"], 2), 422, "trustee_is_admin")
        assert "A0002 is an administrator" in error.body["detail"]
        error = pilot.refused(create(["T0001", "U0001"], 2), 422, "trustee_is_auditor")
        assert "U0001 is an auditor" in error.body["detail"]
        for bad in (0, -1, "5", 5.0, True, 1_000_001):
            doc = {**two_question_manifest("policy-2026"), "min_tally_ballots": bad}
            pilot.refused(create(["T0001", "T0002"], 2, doc), 422, "invalid_manifest")

        # Accepted: the board names the trustees in index order, and the signed
        # manifest states the minimum to tally (the default, 5, when left out).
        pilot.admin.create_election(two_question_manifest("policy-2026"), ["T0003", "T0001"], 2)
        created = board_entries(pilot.client(), "policy-2026")[0]
        assert created["kind"] == "election-created"
        assert created["body"]["trustee_ids"] == ["T0003", "T0001"] and created["body"]["trustees"] == 2
        assert created["body"]["manifest"]["min_tally_ballots"] == 5
        manifest = Manifest.from_json(created["body"]["manifest"])
        assert created["body"]["ceremony_fingerprint"] == ceremony_fingerprint(manifest, 2, 2).hex()
        assert pilot.admin.status("policy-2026")["manifest"]["min_tally_ballots"] == 5
        pilot.admin.create_election(two_question_manifest("policy-2027", min_tally_ballots=12), ["T0001", "T0002"], 2)
        assert board_entries(pilot.client(), "policy-2027")[0]["body"]["manifest"]["min_tally_ballots"] == 12

        # A trustee of an election not yet published cannot become an administrator or an auditor.
        for role in ("admin", "auditor"):
            with pytest.raises(ServiceError, match="T0001 is a trustee of policy-2026, policy-2027") as refused:
                operator.add_role(settings, "T0001", role)
            assert refused.value.code == "trustee_of_unpublished_election"
        assert ("T0001", "admin") not in operator.list_roles(settings)
        operator.add_role(settings, "E0042", "auditor")  # anyone else may
        assert ("E0042", "auditor") in operator.list_roles(settings)
    finally:
        pilot.stop()


def test_too_few_ballots_are_not_decrypted(pki, data_dir, database_url):
    """With fewer counted ballots than the manifest's minimum (here the default,
    5), closing works but the server takes no partial decryption and no tally."""
    pilot = start_pilot(pki, data_dir, database_url)
    try:
        voter_ids = ["E0001", "E0002"]
        credentials = {v: pki.enroll(v) for v in voter_ids}
        election_id = pilot.open_election(two_question_manifest("few-2026"), voter_ids)
        for v in voter_ids:
            voter = pilot.login(credentials[v])
            voter.cast(voter.prepare_ballot(election_id, {"days": ["d1"], "tools": []}))
        pilot.admin.close_election(election_id)
        aggregate = pilot.admin.aggregate(election_id)
        assert aggregate["ballots_counted"] == 2
        ciphertexts = [Ciphertext.from_json(c, allow_identity=True) for c in aggregate["ciphertexts"]]
        key = threshold.TrusteeKey.from_json(json.loads(pilot.trustee_file("T0001", election_id).read_text())["key"])
        partial = threshold.partial_decrypt(key, ciphertexts, fingerprint=bytes.fromhex(aggregate["fingerprint"]))
        error = pilot.refused(
            lambda: pilot.trustees["T0001"].post(f"/api/elections/{election_id}/partial-decryptions", partial.to_json()),
            409, "too_few_ballots",
        )
        assert "only 2 ballots were counted" in error.body["detail"] and "at least 5" in error.body["detail"]
        pilot.refused(lambda: pilot.admin.tally(election_id), 409, "too_few_ballots")
        assert pilot.admin.status(election_id)["status"] == "closed"
    finally:
        pilot.stop()


# --- ceremony and tally messages ----------------------------------------------------------------


def test_bad_ceremony_and_decryption_messages(pki, data_dir, database_url):
    pilot = start_pilot(pki, data_dir, database_url)
    try:
        voter_ids = ["E0001", "E0002"]
        credentials = {v: pki.enroll(v) for v in voter_ids}
        election_id = pilot.create(two_question_manifest("messages-2026", min_tally_ballots=2), voter_ids)
        pilot.admin.start_ceremony(election_id)
        e = f"/api/elections/{election_id}"
        t = {name: pilot.login(c) for name, c in pilot.trustee_credentials.items()}
        pilot.trustees.update(t)
        params = threshold.CeremonyParameters.from_json(t["T0001"].ceremony(election_id)["parameters"])

        def signed(name: str, announcement) -> dict:
            doc = announcement.to_json()
            credential = pilot.trustee_credentials[name]
            return {"announcement": doc, "signature": sign_announcement(credential, election_id=election_id, announcement=doc)}

        announce = f"{e}/ceremony/announcement"
        pilot.refused(lambda: t["T0001"].post(announce, {}), 422, "invalid_request")
        pilot.refused(lambda: t["T0001"].post(announce, {"announcement": {}, "signature": {}}), 422, "bad_encoding")
        _, own = threshold.start_ceremony(params, 1)
        pilot.refused(lambda: t["T0001"].post(announce, {"announcement": own.to_json()}), 422, "invalid_request")
        pilot.refused(lambda: t["T0001"].post(announce, signed("T0002", own)), 422, "announcement_signature_invalid")
        _, as_trustee_2 = threshold.start_ceremony(params, 2)
        pilot.refused(lambda: t["T0001"].post(announce, signed("T0001", as_trustee_2)), 422, "wrong_trustee_index")
        wrong_params = threshold.CeremonyParameters(3, 2, b"\x00" * 32)
        _, other_ceremony = threshold.start_ceremony(wrong_params, 1)
        pilot.refused(lambda: t["T0001"].post(announce, signed("T0001", other_ceremony)), 422, "ceremony_invalid")
        pilot.refused(lambda: t["T0001"].post(f"{e}/ceremony/shares", []), 422, "invalid_shares")
        pilot.refused(lambda: t["T0001"].post(f"{e}/ceremony/confirm", {"public_share": "00" * 32}), 409, "ceremony_unfinished")

        for name in t:  # everyone announces
            assert pilot.ceremony_step(name, election_id) == "announced"
        _, again = threshold.start_ceremony(params, 1)
        pilot.refused(lambda: t["T0001"].post(announce, signed("T0001", again)), 409, "already_announced")
        pilot.refused(lambda: t["T0001"].post(f"{e}/ceremony/confirm", {"public_share": "00" * 32}), 422, "public_share_mismatch")
        pilot.refused(lambda: t["T0001"].post(f"{e}/ceremony/confirm", ["x"]), 400, "malformed_request")
        pilot.ceremony_steps(election_id)
        pilot.admin.open(election_id)
        for v in voter_ids:
            voter = pilot.login(credentials[v])
            voter.cast(voter.prepare_ballot(election_id, {"days": ["d2"], "tools": ["s1"]}))
        pilot.admin.close_election(election_id)

        aggregate = t["T0001"].aggregate(election_id)
        ciphertexts = [Ciphertext.from_json(c, allow_identity=True) for c in aggregate["ciphertexts"]]
        fingerprint = bytes.fromhex(aggregate["fingerprint"])
        keys = {
            name: threshold.TrusteeKey.from_json(json.loads(pilot.trustee_file(name, election_id).read_text())["key"])
            for name in t
        }
        own = threshold.partial_decrypt(keys["T0001"], ciphertexts, fingerprint=fingerprint).to_json()
        partials = f"{e}/partial-decryptions"

        pilot.refused(lambda: t["T0001"].post(partials, {}), 422, "bad_encoding")
        pilot.refused(lambda: t["T0001"].post(partials, {**own, "shares": "nope"}), 422, "bad_encoding")
        pilot.refused(lambda: t["T0001"].post(partials, {**own, "shares": ["zz"] * len(own["shares"])}), 422, "invalid_point")
        swapped = {**own, "shares": [own["shares"][1], own["shares"][0], *own["shares"][2:]]}
        pilot.refused(lambda: t["T0001"].post(partials, swapped), 422, "partial_decryption_invalid")
        short = {**own, "shares": own["shares"][:-1], "proofs": own["proofs"][:-1]}
        pilot.refused(lambda: t["T0001"].post(partials, short), 422, "partial_decryption_invalid")
        elsewhere = threshold.partial_decrypt(keys["T0001"], ciphertexts, fingerprint=b"\x00" * 32).to_json()
        pilot.refused(lambda: t["T0001"].post(partials, elsewhere), 422, "partial_decryption_invalid")
        theirs = threshold.partial_decrypt(keys["T0002"], ciphertexts, fingerprint=fingerprint).to_json()
        pilot.refused(lambda: t["T0001"].post(partials, theirs), 422, "wrong_trustee_index")
        pilot.refused(lambda: t["T0001"].post(partials, [own]), 400, "malformed_request")

        assert t["T0001"].post(partials, own) == {"index": 1, "accepted": True}
        before = pilot.snapshot()
        assert t["T0001"].post(partials, own) == {"index": 1, "accepted": True}  # a retry changes nothing
        assert pilot.snapshot() == before
        fresh = threshold.partial_decrypt(keys["T0001"], ciphertexts, fingerprint=fingerprint).to_json()
        pilot.refused(lambda: t["T0001"].post(partials, fresh), 409, "already_decrypted")
        pilot.refused(lambda: pilot.admin.tally(election_id), 409, "threshold_not_met")
        assert t["T0002"].post(partials, theirs)["accepted"]
        result = pilot.admin.tally(election_id)
        assert [o["count"] for o in result["questions"][0]["options"]] == [0, 0, 2, 0]
    finally:
        pilot.stop()


# --- the voter roll ---------------------------------------------------------------------------


def test_roll_with_errors_imports_nothing(pki, data_dir, database_url):
    pilot = start_pilot(pki, data_dir, database_url)
    try:
        election_id = pilot.create(two_question_manifest("roll-2026"), [])
        admin = pilot.admin
        roll = (
            "employee_id,name,department\n"
            "E0001,職員 一,総務課\n"
            "bad id!,職員 二,総務課\n"
            "E0002,,総務課\n"
            "E0001,職員 一 again,総務課\n"
            "E0003,職員 三,総務課,extra\n"
            "\n"
            "E0004,職員 四,総務課\n"
        )
        error = pilot.refused(lambda: admin.import_roll(election_id, roll), 422, "roll_invalid")
        assert [(e["line"], e["error"].split(" ")[0]) for e in error.body["errors"]] == [
            (3, "invalid"), (4, "the"), (5, "employee"), (6, "expected"),
        ]
        assert "already on the roll" in error.body["errors"][2]["error"]
        assert error.body["errors"][3]["error"] == "expected 3 fields, found 4"

        error = pilot.refused(lambda: admin.import_roll(election_id, "id,name\nE0001,x\n"), 422, "roll_invalid")
        assert [e["line"] for e in error.body["errors"]] == [1]
        pilot.refused(lambda: admin.import_roll(election_id, "employee_id,name,department\n"), 422, "roll_empty")
        pilot.refused(lambda: admin.import_roll(election_id, ""), 422, "roll_invalid")
        pilot.refused(
            lambda: admin.post(f"/api/elections/{election_id}/roll", content=b"employee_id,name,department\nE0001,\x81\x20,x\n"),  # neither UTF-8 nor cp932
            422, "roll_invalid",
        )
        pilot.refused(lambda: admin.import_roll("no-such-election", roll_csv(["E0001"])), 404, "election_not_found")
        assert admin.status(election_id)["roll_size"] == 0

        assert admin.import_roll(election_id, roll_csv(["E0001", "E0002"])) == {"added": 2, "total": 2}
        error = pilot.refused(lambda: admin.import_roll(election_id, roll_csv(["E0003", "E0002"])), 422, "roll_invalid")
        assert [(e["line"], e["code"], e["error"]) for e in error.body["errors"]] == [(3, "on_roll", "employee E0002 is already on the roll")]
        assert admin.status(election_id)["roll_size"] == 2
    finally:
        pilot.stop()


# --- malformed and oversized bodies ----------------------------------------------------------------


def test_malformed_and_oversized_bodies(pki, data_dir, database_url):
    pilot = start_pilot(pki, data_dir, database_url)
    try:
        election_id = pilot.open_election(two_question_manifest("bodies-2026"), ["E0001"])
        voter = pilot.login(pki.enroll("E0001"))
        headers = {"Authorization": pilot.admin.http.headers["Authorization"], "Content-Type": "application/json"}
        voter_headers = {"Authorization": voter.http.headers["Authorization"], "Content-Type": "application/json"}
        e = f"/api/elections/{election_id}"
        targets = [
            ("/api/elections/", headers),
            ("/api/auth/login", {"Content-Type": "application/json"}),
            (cast_path(election_id), voter_headers),
            (f"{e}/partial-decryptions", headers),
        ]
        bodies = [
            b'{"manifest": ',  # cut short
            b"{'manifest': 1}",  # not JSON
            b'{"manifest": NaN}',
            b'{"token": "\xff\xfe"}',  # not UTF-8
            b"[" * 100_000 + b"]" * 100_000,  # nested beyond reason
            b"",
            b'"a string"',
            b"[1, 2]",
        ]
        for path, hdrs in targets:
            for content in bodies:
                pilot.refused_raw(
                    lambda path=path, hdrs=hdrs, content=content: httpx.post(pilot.url + path, content=content, headers=hdrs),
                    400, "malformed_request",
                )
        huge = b'{"x": "' + b"a" * (9 * 1024 * 1024) + b'"}'
        for path, hdrs in [*targets, (f"{e}/roll", {**headers, "Content-Type": "text/csv"})]:
            pilot.refused_raw(lambda path=path, hdrs=hdrs: httpx.post(pilot.url + path, content=huge, headers=hdrs), 413, "payload_too_large")

        def chunks():
            for _ in range(9):
                yield b"a" * (1024 * 1024)

        pilot.refused_raw(lambda: httpx.post(pilot.url + "/api/elections/", content=chunks(), headers=headers), 413, "payload_too_large")
        # The server is unharmed.
        assert voter.cast(voter.prepare_ballot(election_id, {"days": ["d0"], "tools": []}))["leaf_index"] > 0
        assert problem(httpx.get(pilot.url + "/api/no-such-thing")) == (404, "not_found")
        assert problem(httpx.delete(pilot.url + e)) == (405, "method_not_allowed")
    finally:
        pilot.stop()
