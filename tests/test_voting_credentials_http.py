"""Per-election voting credentials and published audits over real HTTP, played
by an attacker: the claims that no one stuffs the board with ballots of
credentials the roll does not back, that nothing public links a ballot to a
certificate, and that an audited ballot is never cast. Every refusal changes
nothing (``Pilot.refused`` compares the whole database before and after)."""

from __future__ import annotations

import hashlib

import pytest

from crypto.ballots import (
    LIMIT_KIND,
    SELECTION_KIND,
    EncryptedBallot,
    EncryptedQuestion,
    EncryptedSelection,
    _limit_context,
    _selection_context,
    tracking_code,
)
from crypto.credentials import VotingCredential, sign_ballot_with, sign_registration
from crypto.elgamal import add_all
from crypto.group import Scalar
from crypto.proofs import prove_encrypted_value
from tests.http_support import board_entries, start_pilot, two_question_manifest
from voting.client import AuditCheckError, check_audit, prepare_ballot

ROWS = [[0, 1, 0, 0], [1, 0, 0, 0]]


def _register_body(credential, voting: VotingCredential, election_id: str) -> dict:
    signature = sign_registration(credential.private_key, election_id=election_id, credential_pub=voting.public_bytes)
    return {"credential": voting.hex, "signature": signature.hex()}


def _reproved(info, voting: VotingCredential, prepared) -> dict:
    """A prepared ballot's selection ciphertexts under new proofs made for
    ``voting`` (anyone can, given the opening: an audit publishes it), signed by
    it: another tracking code, the same encrypted vote."""
    questions = []
    for qn, (eq, secrets, question) in enumerate(zip(prepared.ballot.questions, prepared.opening.selections, info.manifest.questions)):
        selections, r_total = [], Scalar(0)
        for on, (s, (m, r)) in enumerate(zip(eq.selections, secrets)):
            proof = prove_encrypted_value(
                s.ciphertext.alpha, s.ciphertext.beta, r, m, info.joint_key, (0, 1),
                kind=SELECTION_KIND, fingerprint=info.fingerprint, context=_selection_context(voting.hex, qn, on),
            )
            selections.append(EncryptedSelection(s.ciphertext, proof))
            r_total = r_total + r
        total = add_all(s.ciphertext for s in selections)
        limit = prove_encrypted_value(
            total.alpha, total.beta, r_total, sum(m for m, _ in secrets), info.joint_key, question.limit_values,
            kind=LIMIT_KIND, fingerprint=info.fingerprint, context=_limit_context(voting.hex, qn),
        )
        questions.append(EncryptedQuestion(tuple(selections), limit))
    ballot = EncryptedBallot(prepared.ballot.election_id, voting.hex, tuple(questions))
    code = tracking_code(info.fingerprint, ballot)
    assert code != prepared.tracking_code
    signature = sign_ballot_with(voting, election_fingerprint=info.fingerprint, tracking_code=code)
    return {"ballot": ballot.to_json(), "signature": signature.hex()}


@pytest.mark.slow
def test_registration_and_casting_refuse_the_stuffer(pki, data_dir, database_url):
    pilot = start_pilot(pki, data_dir, database_url)
    try:
        voter_ids = ["E0001", "E0002", "E0003"]
        credentials = {v: pki.enroll(v) for v in voter_ids}
        election_id = pilot.open_election(two_question_manifest("creds-2026"), voter_ids)
        path = f"/api/elections/{election_id}/credential"
        info = pilot.admin.election_info(election_id)
        alice, bob, carol = (pilot.login(credentials[v]) for v in voter_ids)

        # election-opened names the frozen roll's size.
        opened = next(e for e in board_entries(pilot.client(), election_id) if e["kind"] == "election-opened")
        assert opened["body"]["roll_size"] == 3

        # Before registration: /voter says so; a ballot signed by the (not yet
        # registered) credential is refused.
        reply = alice.get(f"/api/elections/{election_id}/voter")
        assert set(reply) == {"name", "credential", "ballots"} and reply["credential"] is None and reply["ballots"] == []
        early = prepare_ballot(info, None, ROWS, credentials["E0001"])
        pilot.refused(lambda: alice.cast(early), 403, "credential_not_registered")

        # Registration signed by another certificate, for another election, over another credential.
        mine = credentials["E0001"].voting_credential(election_id)
        wrong = _register_body(credentials["E0002"], mine, election_id)
        pilot.refused(lambda: alice.post(path, wrong), 422, "registration_invalid")
        elsewhere = _register_body(credentials["E0001"], mine, "other-2026")
        pilot.refused(lambda: alice.post(path, elsewhere), 422, "registration_invalid")
        for bad, code in (
            ({"credential": mine.hex.upper(), "signature": "00"}, "voting_credential_invalid"),
            ({"credential": mine.hex[:-2], "signature": "00"}, "voting_credential_invalid"),
            ({"credential": mine.hex}, "invalid_request"),
            ({"credential": mine.hex, "signature": "zz"}, "invalid_signature_encoding"),
            ({"credential": mine.hex, "signature": "00" * 64}, "registration_invalid"),
        ):
            pilot.refused(lambda bad=bad: alice.post(path, bad), 422, code)

        # An outsider (valid certificate, not on the roll) registers nothing.
        outsider = pilot.login(pki.enroll("E0099"))
        pilot.refused(lambda: outsider.register_credential(election_id), 403, "not_on_roll")

        # Alice registers; again is idempotent; a second, different credential is refused.
        first = alice.register_credential(election_id)
        assert first["credential"] == mine.hex
        before = pilot.snapshot()
        assert alice.register_credential(election_id) == first
        assert pilot.snapshot() == before
        second = VotingCredential.derive(hashlib.sha256(b"a second device").digest(), election_id)
        pilot.refused(lambda: alice.post(path, _register_body(credentials["E0001"], second, election_id)), 409, "credential_already_registered")
        # Bob cannot register Alice's credential (with his own certificate's signature).
        pilot.refused(lambda: bob.post(path, _register_body(credentials["E0002"], mine, election_id)), 409, "credential_taken")

        # A ballot signed by an unregistered credential, with the registered one as voter_id, or as its own voter_id.
        stuffed = prepare_ballot(info, mine.hex, ROWS, second)
        pilot.refused(lambda: alice.cast(stuffed), 422, "ballot_signature_invalid")
        own_id = prepare_ballot(info, None, ROWS, second)
        pilot.refused(lambda: alice.cast(own_id), 422, "voter_id_mismatch")
        # Bob (unregistered) sends Alice's ballot; Carol registers and sends it.
        good = prepare_ballot(info, None, ROWS, credentials["E0001"])
        pilot.refused(lambda: bob.cast(good), 403, "credential_not_registered")
        carol.register_credential(election_id)
        pilot.refused(lambda: carol.cast(good), 422, "voter_id_mismatch")

        receipt = alice.cast(good)
        assert alice.get(f"/api/elections/{election_id}/voter")["credential"] == mine.hex

        # Nothing public names a certificate or a pseudonym: the board shows credentials only.
        entries = board_entries(pilot.client(), election_id)
        registered = [e["body"]["credential"] for e in entries if e["kind"] == "credential-registered"]
        assert sorted(registered) == sorted([mine.hex, carol.voting_credential(election_id).hex])
        ballot_entry = entries[receipt["leaf_index"]]
        assert set(ballot_entry["body"]) == {"tracking_code", "credential", "ballot", "signature"}
        assert ballot_entry["body"]["credential"] == ballot_entry["body"]["ballot"]["voter_id"] == mine.hex
        assert not any("voter" in e["body"] for e in entries)  # no pseudonym field any more
        text = str(entries)
        assert "E0001" not in text and "E0003" not in text  # no employee id of a voter either
    finally:
        pilot.stop()


@pytest.mark.slow
def test_published_audits_are_never_cast(pki, data_dir, database_url):
    pilot = start_pilot(pki, data_dir, database_url)
    try:
        voter_ids = ["E0001", "E0002"]
        credentials = {v: pki.enroll(v) for v in voter_ids}
        election_id = pilot.open_election(two_question_manifest("audits-2026"), voter_ids)
        path = f"/api/elections/{election_id}/audits/"
        alice, bob = (pilot.login(credentials[v]) for v in voter_ids)
        spoiled = alice.prepare_ballot(election_id, {"days": ["d1"], "tools": ["s0"]})

        # A wrong opening, an opening of another ballot, another voter's ballot: refused.
        other = alice.prepare_ballot(election_id, {"days": ["d2"], "tools": []})
        pilot.refused(lambda: alice.post(path, {"ballot": spoiled.ballot.to_json(), "opening": other.opening.to_json()}), 422, "audit_opening")
        pilot.refused(lambda: alice.post(path, {"ballot": spoiled.ballot.to_json()}), 422, "invalid_request")
        bob.register_credential(election_id)
        pilot.refused(lambda: bob.publish_audit(spoiled), 422, "voter_id_mismatch")

        published = alice.publish_audit(spoiled)
        assert published["entry"]["kind"] == "ballot-audited"
        assert published["tracking_code"] == spoiled.tracking_code.hex()
        assert set(published["entry"]["body"]) == {"tracking_code", "credential", "ballot", "opening"}
        before = pilot.snapshot()
        again = alice.publish_audit(spoiled)  # a retry: the same entry, nothing appended
        assert (again["leaf_index"], again["entry"]) == (published["leaf_index"], published["entry"])
        assert pilot.snapshot() == before

        # The audited ballot can never be cast; a cast ballot can never be audited.
        pilot.refused(lambda: alice.cast(spoiled), 409, "ballot_audited")
        receipt = alice.cast(other)
        pilot.refused(lambda: alice.publish_audit(other), 409, "ballot_already_cast")
        assert pilot.admin.status(election_id)["ballots_cast"] == 1

        # Nor its ciphertexts under new proofs (another tracking code; the opening gives every r):
        # by Alice (a receipt of her vote to sell) or by Bob (a public vote counted as his).
        info = alice.election_info(election_id)
        ballots = f"/api/elections/{election_id}/ballots/"
        for voter, employee in ((alice, "E0001"), (bob, "E0002")):
            reproved = _reproved(info, credentials[employee].voting_credential(election_id), spoiled)
            pilot.refused(lambda voter=voter, reproved=reproved: voter.post(ballots, reproved), 409, "ballot_audited")
        # And a cast ballot's ciphertexts, re-proved, are never audited (published with their r).
        recast = _reproved(info, credentials["E0001"].voting_credential(election_id), other)
        pilot.refused(lambda: alice.post(path, {"ballot": recast["ballot"], "opening": other.opening.to_json()}), 409, "ballot_already_cast")
        assert pilot.admin.status(election_id)["ballots_cast"] == 1

        # Anyone checks the audit on the board and reads the choices it encrypts.
        checked = check_audit(pilot.client(), published)
        assert checked["choices"] == [[0, 1, 0, 0], [1, 0, 0, 0]]
        assert checked["newest_tree_size"] > receipt["leaf_index"]
        forged = {**published, "entry": {**published["entry"], "body": {**published["entry"]["body"], "opening": other.opening.to_json()}}}
        try:
            check_audit(pilot.client(), forged)
        except AuditCheckError:
            pass
        else:
            raise AssertionError("a forged audit checked out")
        # Not when the election is closed.
        pilot.admin.close_election(election_id)
        late = prepare_ballot(alice.election_info(election_id), None, ROWS, credentials["E0001"])
        pilot.refused(lambda: alice.publish_audit(late), 409, "wrong_state")
    finally:
        pilot.stop()
