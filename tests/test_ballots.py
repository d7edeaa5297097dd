"""Encrypted ballots (crypto/ballots.py): manifest rules, encryption and
verification, every way a ballot can be wrong, audit openings, tracking codes,
aggregation; and the shared vectors in tests/vectors/ballots.json."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.ballots import (
    AuditOpening,
    EncryptedBallot,
    EncryptedQuestion,
    EncryptedSelection,
    Manifest,
    aggregate,
    check_choices,
    choices_from_ids,
    election_fingerprint,
    encrypt_ballot,
    format_tracking_code,
    selection_ciphertexts,
    tracking_code,
    verify_audit_opening,
    verify_ballot,
)
from crypto.elgamal import Ciphertext, KeyPair, decrypt
from crypto.encoding import canonical_json, encode_parts, hash_to_scalar, sha256
from crypto.errors import (
    AuditOpeningError,
    BallotError,
    BallotShapeError,
    CryptoError,
    EncodingError,
    IdentityPoint,
    InvalidPoint,
    ManifestError,
    SelectionLimitError,
    SelectionProofError,
)
from crypto.group import IDENTITY, G, Point, Scalar, g_mul
from crypto.proofs import ChaumPedersenProof, DisjunctiveProof, SchnorrProof, verify_equal_logs, verify_schnorr
from tests.vectors import gen_ballots
from tests.vectors.gen_ballots import CounterRng, forge_ballot, parse_part

VECTORS = json.loads((Path(__file__).parent / "vectors" / "ballots.json").read_text(encoding="utf-8"))
KEY = KeyPair.generate()


def _manifest(*questions: tuple[int, int, int], election_id: str = "poll-1") -> Manifest:
    """questions: (options, min, max)."""
    return Manifest.from_json({
        "election_id": election_id,
        "questions": [
            {"id": f"q{qn}", "options": [{"id": f"o{on}"} for on in range(n)], "min_selections": lo, "max_selections": hi}
            for qn, (n, lo, hi) in enumerate(questions)
        ],
    })


ONE_OF_FIVE = _manifest((5, 1, 1))
THREE_BY_EIGHT = _manifest((8, 0, 3), (8, 0, 3), (8, 0, 3), election_id="poll-3x8")
FP_1 = election_fingerprint(ONE_OF_FIVE, KEY.public)
FP_3 = election_fingerprint(THREE_BY_EIGHT, KEY.public)


def _one_hot(i: int, n: int = 5) -> list[int]:
    return [1 if j == i else 0 for j in range(n)]


def _ballot_1of5(voter: str = "voter-1", choice: int = 2):
    return encrypt_ballot(ONE_OF_FIVE, KEY.public, FP_1, voter, [_one_hot(choice)])


def _verify_json(manifest: Manifest, fp: bytes, voter: str, doc: dict) -> None:
    verify_ballot(manifest, KEY.public, fp, voter, EncryptedBallot.from_json(doc, manifest))


# --- manifest rules (each its own test) ------------------------------------------------------------


def _doc(**changes) -> dict:
    doc = {
        "election_id": "poll-1",
        "title": {"ja": "テスト", "en": "Test"},
        "questions": [
            {"id": "q1", "options": [{"id": "a"}, {"id": "b"}, {"id": "c"}], "min_selections": 1, "max_selections": 2}
        ],
    }
    doc.update(changes)
    return doc


def _q(**changes) -> dict:
    q = {"id": "q1", "options": [{"id": "a"}, {"id": "b"}, {"id": "c"}], "min_selections": 1, "max_selections": 2}
    q.update(changes)
    return q


def test_manifest_valid_example():
    m = Manifest.from_json(_doc())
    assert m.election_id == "poll-1"
    assert m.questions[0].option_ids == ("a", "b", "c")
    assert m.questions[0].limit_values == (1, 2)


def test_manifest_must_be_an_object():
    with pytest.raises(ManifestError):
        Manifest.from_json([_doc()])


def test_manifest_must_be_canonical_json():
    with pytest.raises(ManifestError, match="canonical"):
        Manifest.from_json(_doc(weight=0.5))


def test_manifest_refuses_non_ascii_keys():
    with pytest.raises(ManifestError):
        Manifest.from_json(_doc(題名="x"))


@pytest.mark.parametrize("election_id", [None, "", "-starts-with-dash", "has space", "a" * 65, "poll\n", "投票", 5])
def test_manifest_election_id_rules(election_id):
    with pytest.raises(ManifestError, match="election_id"):
        Manifest.from_json(_doc(election_id=election_id))


def test_manifest_election_id_trailing_newline():
    """'$' in a regex also matches before a final newline; the id pattern must not."""
    with pytest.raises(ManifestError):
        Manifest.from_json(_doc(election_id="poll-1\n"))


def test_manifest_election_id_longest():
    assert Manifest.from_json(_doc(election_id="a" * 64)).election_id == "a" * 64


@pytest.mark.parametrize("questions", [None, {}, [], "q"])
def test_manifest_questions_must_be_a_non_empty_list(questions):
    with pytest.raises(ManifestError, match="questions"):
        Manifest.from_json(_doc(questions=questions))


def test_manifest_at_most_50_questions():
    qs = [_q(id=f"q{i}") for i in range(51)]
    with pytest.raises(ManifestError, match="questions"):
        Manifest.from_json(_doc(questions=qs))
    assert len(Manifest.from_json(_doc(questions=qs[:50])).questions) == 50


def test_manifest_question_must_be_an_object():
    with pytest.raises(ManifestError, match="question 1"):
        Manifest.from_json(_doc(questions=["q1"]))


@pytest.mark.parametrize("qid", [None, "", "a b", "x" * 65, "q1\n"])
def test_manifest_question_id_rules(qid):
    with pytest.raises(ManifestError, match="id"):
        Manifest.from_json(_doc(questions=[_q(id=qid)]))


def test_manifest_duplicate_question_ids():
    with pytest.raises(ManifestError, match="duplicate"):
        Manifest.from_json(_doc(questions=[_q(), _q()]))


@pytest.mark.parametrize("options", [None, [], {"id": "a"}])
def test_manifest_options_must_be_a_non_empty_list(options):
    with pytest.raises(ManifestError, match="options"):
        Manifest.from_json(_doc(questions=[_q(options=options, min_selections=0, max_selections=1)]))


def test_manifest_at_most_50_options():
    options = [{"id": f"o{i}"} for i in range(51)]
    with pytest.raises(ManifestError, match="options"):
        Manifest.from_json(_doc(questions=[_q(options=options)]))


@pytest.mark.parametrize("option", ["a", {"name": "a"}, {"id": ""}, {"id": "a/b"}, {"id": 1}])
def test_manifest_option_id_rules(option):
    with pytest.raises(ManifestError, match="option"):
        Manifest.from_json(_doc(questions=[_q(options=[{"id": "x"}, option, {"id": "y"}])]))


def test_manifest_duplicate_option_ids():
    with pytest.raises(ManifestError, match="duplicate option"):
        Manifest.from_json(_doc(questions=[_q(options=[{"id": "a"}, {"id": "a"}, {"id": "b"}])]))


@pytest.mark.parametrize("field", ["min_selections", "max_selections"])
@pytest.mark.parametrize("value", [None, "1", True])
def test_manifest_limits_must_be_integers(field, value):
    with pytest.raises(ManifestError, match=field):
        Manifest.from_json(_doc(questions=[_q(**{field: value})]))


def test_manifest_limits_missing():
    q = _q()
    del q["max_selections"]
    with pytest.raises(ManifestError, match="max_selections"):
        Manifest.from_json(_doc(questions=[q]))


def test_manifest_min_above_max():
    with pytest.raises(ManifestError):
        Manifest.from_json(_doc(questions=[_q(min_selections=3, max_selections=2)]))


def test_manifest_max_above_option_count():
    with pytest.raises(ManifestError):
        Manifest.from_json(_doc(questions=[_q(min_selections=0, max_selections=4)]))


def test_manifest_max_zero():
    with pytest.raises(ManifestError):
        Manifest.from_json(_doc(questions=[_q(min_selections=0, max_selections=0)]))


def test_manifest_negative_min():
    with pytest.raises(ManifestError):
        Manifest.from_json(_doc(questions=[_q(min_selections=-1, max_selections=1)]))


def test_manifest_keeps_its_own_copy():
    doc = _doc()
    manifest = Manifest.from_json(doc)
    before = election_fingerprint(manifest, KEY.public)
    doc["questions"][0]["options"].append({"id": "d"})
    doc["title"]["en"] = "changed"
    assert election_fingerprint(manifest, KEY.public) == before
    assert len(manifest.document["questions"][0]["options"]) == 3


# --- fingerprint -------------------------------------------------------------------------------------


def test_fingerprint_layout():
    expected = sha256(encode_parts("votingpilot/v1/election-fingerprint", canonical_json(ONE_OF_FIVE.document), KEY.public))
    assert expected == FP_1 and len(FP_1) == 32


def test_fingerprint_covers_every_manifest_field_and_the_key():
    other_title = Manifest.from_json({**ONE_OF_FIVE.document, "title": "x"})
    assert election_fingerprint(other_title, KEY.public) != FP_1
    assert election_fingerprint(ONE_OF_FIVE, KEY.public + G) != FP_1


def test_fingerprint_refuses_identity_key():
    with pytest.raises(ManifestError):
        election_fingerprint(ONE_OF_FIVE, IDENTITY)


# --- encrypt and verify ------------------------------------------------------------------------------


@pytest.mark.parametrize("choice", range(5))
def test_one_of_five_round_trip(choice):
    ballot, opening = _ballot_1of5(choice=choice)
    verify_ballot(ONE_OF_FIVE, KEY.public, FP_1, "voter-1", ballot)
    _verify_json(ONE_OF_FIVE, FP_1, "voter-1", json.loads(json.dumps(ballot.to_json())))
    assert opening.choices() == [_one_hot(choice)]
    assert [decrypt(KEY.secret, c, 5) for c in selection_ciphertexts(ballot)] == _one_hot(choice)


@pytest.mark.parametrize(
    "choices",
    [
        [[0] * 8, [0] * 8, [0] * 8],
        [[1, 1, 1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 1], [0, 1, 0, 1, 0, 1, 0, 0]],
        [[0, 0, 0, 0, 0, 1, 1, 1], [1, 0, 0, 0, 0, 0, 0, 0], [0] * 8],
    ],
)
def test_three_questions_of_eight_round_trip(choices):
    ballot, opening = encrypt_ballot(THREE_BY_EIGHT, KEY.public, FP_3, "voter-9", choices)
    _verify_json(THREE_BY_EIGHT, FP_3, "voter-9", ballot.to_json())
    assert verify_audit_opening(THREE_BY_EIGHT, KEY.public, ballot, opening) == choices
    assert len(ballot.questions[0].limit_proof.branches) == 4


def test_encrypt_refuses_choices_outside_the_manifest():
    with pytest.raises(SelectionLimitError):
        encrypt_ballot(ONE_OF_FIVE, KEY.public, FP_1, "v", [[1, 1, 0, 0, 0]])
    with pytest.raises(SelectionLimitError):
        encrypt_ballot(ONE_OF_FIVE, KEY.public, FP_1, "v", [[0, 0, 0, 0, 0]])
    with pytest.raises(BallotShapeError):
        encrypt_ballot(ONE_OF_FIVE, KEY.public, FP_1, "v", [[0, 0, 1, 0]])
    with pytest.raises(BallotShapeError):
        encrypt_ballot(ONE_OF_FIVE, KEY.public, FP_1, "v", [[0, 0, 2, 0, 0]])
    with pytest.raises(BallotShapeError):
        encrypt_ballot(ONE_OF_FIVE, KEY.public, FP_1, "v", [[0, 0, True, 0, 0]])
    with pytest.raises(BallotShapeError):
        encrypt_ballot(ONE_OF_FIVE, KEY.public, FP_1, "v", [])


def test_check_choices_refuses_floats():
    with pytest.raises(BallotShapeError):
        check_choices(ONE_OF_FIVE, [[0, 0, 1.0, 0, 0]])


def test_choices_from_ids():
    assert choices_from_ids(ONE_OF_FIVE, {"q0": ["o3"]}) == [_one_hot(3)]
    assert choices_from_ids(THREE_BY_EIGHT, {}) == [[0] * 8] * 3
    with pytest.raises(BallotShapeError):
        choices_from_ids(ONE_OF_FIVE, {"q9": ["o1"]})
    with pytest.raises(BallotShapeError):
        choices_from_ids(ONE_OF_FIVE, {"q0": ["o9"]})


# --- moved, copied, other election ----------------------------------------------------------------


def test_ballot_presented_for_another_voter():
    ballot, _ = _ballot_1of5("voter-1")
    with pytest.raises(BallotError, match="another voter"):
        verify_ballot(ONE_OF_FIVE, KEY.public, FP_1, "voter-2", ballot)


def test_copied_ballot_with_voter_id_changed_fails_its_proofs():
    ballot, _ = _ballot_1of5("voter-1")
    doc = {**ballot.to_json(), "voter_id": "voter-2"}
    with pytest.raises(SelectionProofError):
        _verify_json(ONE_OF_FIVE, FP_1, "voter-2", doc)


def test_proofs_reused_under_another_voter_id():
    ballot, _ = _ballot_1of5("voter-1")
    moved = EncryptedBallot(ballot.election_id, "voter-2", ballot.questions)
    with pytest.raises(SelectionProofError):
        verify_ballot(ONE_OF_FIVE, KEY.public, FP_1, "voter-2", moved)


def test_limit_proof_reused_under_another_voter_id():
    """Selections honestly re-made for voter-2, the limit proof copied from voter-1."""
    b1 = forge_ballot(ONE_OF_FIVE, KEY.public, FP_1, "voter-1", [_one_hot(0)], CounterRng("t1"))
    b2 = forge_ballot(ONE_OF_FIVE, KEY.public, FP_1, "voter-2", [_one_hot(0)], CounterRng("t1"))
    # Same rng stream: same ciphertexts, so only the voter binding differs.
    assert selection_ciphertexts(b1) == selection_ciphertexts(b2)
    mixed = EncryptedBallot(
        b2.election_id, "voter-2", (EncryptedQuestion(b2.questions[0].selections, b1.questions[0].limit_proof),)
    )
    with pytest.raises(SelectionLimitError):
        verify_ballot(ONE_OF_FIVE, KEY.public, FP_1, "voter-2", mixed)


def test_ballot_for_another_election_id():
    ballot, _ = _ballot_1of5()
    with pytest.raises(BallotShapeError):
        EncryptedBallot.from_json({**ballot.to_json(), "election_id": "poll-2"}, ONE_OF_FIVE)
    other = EncryptedBallot("poll-2", ballot.voter_id, ballot.questions)
    with pytest.raises(BallotShapeError):
        verify_ballot(ONE_OF_FIVE, KEY.public, FP_1, "voter-1", other)


def test_ballot_for_another_fingerprint():
    ballot, _ = _ballot_1of5()
    other_fp = election_fingerprint(ONE_OF_FIVE, KEY.public + G)
    with pytest.raises(SelectionProofError):
        verify_ballot(ONE_OF_FIVE, KEY.public, other_fp, "voter-1", ballot)


def test_same_manifest_text_other_election_key():
    other = KeyPair.generate()
    ballot, _ = encrypt_ballot(
        ONE_OF_FIVE, other.public, election_fingerprint(ONE_OF_FIVE, other.public), "voter-1", [_one_hot(1)]
    )
    with pytest.raises(SelectionProofError):
        verify_ballot(ONE_OF_FIVE, KEY.public, FP_1, "voter-1", ballot)


# --- over-votes, under-votes, bad plaintexts ------------------------------------------------------


def test_over_vote_with_limit_proof_for_zero_to_five():
    """The ElectionGuard 1.4 failure: a proof carrying its own range [0, 5]."""
    forged = forge_ballot(
        ONE_OF_FIVE, KEY.public, FP_1, "voter-1", [[1, 1, 1, 1, 1]], CounterRng("ov1"), limit_values=lambda q: range(6)
    )
    with pytest.raises(SelectionLimitError):
        verify_ballot(ONE_OF_FIVE, KEY.public, FP_1, "voter-1", forged)
    with pytest.raises(SelectionLimitError):
        _verify_json(ONE_OF_FIVE, FP_1, "voter-1", forged.to_json())


def test_over_vote_with_valid_looking_proof_for_sum_five():
    """One branch, as the manifest's [1, 1] expects, honestly proving the count 5."""
    forged = forge_ballot(
        ONE_OF_FIVE, KEY.public, FP_1, "voter-1", [[1, 1, 1, 1, 1]], CounterRng("ov2"), limit_values=lambda q: (5,)
    )
    assert len(forged.questions[0].limit_proof.branches) == 1
    with pytest.raises(SelectionLimitError):
        _verify_json(ONE_OF_FIVE, FP_1, "voter-1", forged.to_json())


def test_over_vote_in_an_up_to_three_question():
    four = [[1, 1, 1, 1, 0, 0, 0, 0], [0] * 8, [0] * 8]
    forged = forge_ballot(
        THREE_BY_EIGHT, KEY.public, FP_3, "voter-1", four, CounterRng("ov3"),
        limit_values=lambda q: range(1, 5) if q == 0 else range(4),
    )
    with pytest.raises(SelectionLimitError, match=r"\[0, 3\]"):
        _verify_json(THREE_BY_EIGHT, FP_3, "voter-1", forged.to_json())


def test_under_vote_below_min():
    manifest = _manifest((6, 2, 3))
    fp = election_fingerprint(manifest, KEY.public)
    forged = forge_ballot(
        manifest, KEY.public, fp, "voter-1", [[1, 0, 0, 0, 0, 0]], CounterRng("uv"), limit_values=lambda q: (1, 2)
    )
    with pytest.raises(SelectionLimitError):
        verify_ballot(manifest, KEY.public, fp, "voter-1", forged)


def test_under_vote_zero_on_choose_exactly_one():
    forged = forge_ballot(
        ONE_OF_FIVE, KEY.public, FP_1, "voter-1", [[0] * 5], CounterRng("uv0"), limit_values=lambda q: (0,)
    )
    with pytest.raises(SelectionLimitError):
        _verify_json(ONE_OF_FIVE, FP_1, "voter-1", forged.to_json())


def test_selection_encrypting_two():
    forged = forge_ballot(
        ONE_OF_FIVE, KEY.public, FP_1, "voter-1", [[2, 0, 0, 0, 0]], CounterRng("two"),
        selection_values=(1, 2), limit_values=lambda q: (2,),
    )
    with pytest.raises(SelectionProofError, match="option 1"):
        _verify_json(ONE_OF_FIVE, FP_1, "voter-1", forged.to_json())


def test_selection_proof_with_three_branches():
    forged = forge_ballot(
        ONE_OF_FIVE, KEY.public, FP_1, "voter-1", [[2, 0, 0, 0, 0]], CounterRng("two3"),
        selection_values=(0, 1, 2), limit_values=lambda q: (2,),
    )
    with pytest.raises(SelectionProofError):
        _verify_json(ONE_OF_FIVE, FP_1, "voter-1", forged.to_json())
    with pytest.raises(SelectionProofError):
        verify_ballot(ONE_OF_FIVE, KEY.public, FP_1, "voter-1", forged)


# --- shapes and encodings -----------------------------------------------------------------------------


def test_identity_in_a_decoded_ballot():
    doc = _ballot_1of5()[0].to_json()
    for field in ("alpha", "beta"):
        bad = copy.deepcopy(doc)
        bad["questions"][0]["selections"][1][field] = "00" * 32
        with pytest.raises(IdentityPoint):
            EncryptedBallot.from_json(bad, ONE_OF_FIVE)


def test_identity_in_a_constructed_ballot():
    ballot, _ = _ballot_1of5()
    q = ballot.questions[0]
    s = q.selections[0]
    sel = EncryptedSelection(Ciphertext(IDENTITY, s.ciphertext.beta), s.proof)
    bad = EncryptedBallot(ballot.election_id, ballot.voter_id, (EncryptedQuestion((sel, *q.selections[1:]), q.limit_proof),))
    with pytest.raises(SelectionProofError, match="identity"):
        verify_ballot(ONE_OF_FIVE, KEY.public, FP_1, "voter-1", bad)


def test_non_canonical_point_in_a_ballot():
    doc = _ballot_1of5()[0].to_json()
    alpha = doc["questions"][0]["selections"][0]["alpha"]
    doc["questions"][0]["selections"][0]["alpha"] = alpha[:62] + format(int(alpha[62:], 16) | 0x80, "02x")
    with pytest.raises(InvalidPoint):
        EncryptedBallot.from_json(doc, ONE_OF_FIVE)


def test_swapped_selections():
    doc = _ballot_1of5(choice=0)[0].to_json()
    sels = doc["questions"][0]["selections"]
    sels[0], sels[1] = sels[1], sels[0]
    with pytest.raises(SelectionProofError, match="option 1"):
        _verify_json(ONE_OF_FIVE, FP_1, "voter-1", doc)


def test_swapped_questions():
    ballot, _ = encrypt_ballot(THREE_BY_EIGHT, KEY.public, FP_3, "v", [[1] + [0] * 7, [0] * 8, [0] * 8])
    doc = ballot.to_json()
    doc["questions"][0], doc["questions"][1] = doc["questions"][1], doc["questions"][0]
    with pytest.raises(SelectionProofError, match="question 1"):
        _verify_json(THREE_BY_EIGHT, FP_3, "v", doc)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["questions"][0]["selections"].pop(), "exactly 5 selections"),
        (lambda d: d["questions"][0]["selections"].append(d["questions"][0]["selections"][0]), "exactly 5 selections"),
        (lambda d: d["questions"].append(d["questions"][0]), "exactly 1 questions"),
        (lambda d: d["questions"].clear(), "exactly 1 questions"),
        (lambda d: d.update(extra=1), "unexpected"),
        (lambda d: d.pop("voter_id"), "missing"),
        (lambda d: d["questions"][0].update(note="x"), "unexpected"),
        (lambda d: d["questions"][0].pop("limit_proof"), "missing"),
        (lambda d: d["questions"][0]["selections"][0].pop("proof"), "missing"),
        (lambda d: d["questions"][0]["selections"][0].update(m=1), "unexpected"),
        (lambda d: d.update(version=2), "version"),
        (lambda d: d.update(version=True), "version"),
        (lambda d: d.update(version="1"), "version"),
        (lambda d: d.update(voter_id=""), "voter_id"),
        (lambda d: d.update(voter_id="x" * 129), "voter_id"),
        (lambda d: d.update(voter_id=7), "voter_id"),
        (lambda d: d.update(voter_id="\ud800"), "voter_id"),
        (lambda d: d.update(questions={}), "questions"),
        (lambda d: d["questions"].__setitem__(0, []), "question 1"),
    ],
)
def test_ballot_shape_errors(mutate, message):
    doc = _ballot_1of5()[0].to_json()
    mutate(doc)
    with pytest.raises(BallotShapeError, match=message):
        EncryptedBallot.from_json(doc, ONE_OF_FIVE)


def test_ballot_must_be_an_object():
    with pytest.raises(BallotShapeError):
        EncryptedBallot.from_json([], ONE_OF_FIVE)


def test_wrong_branch_counts_are_that_proofs_error():
    doc = _ballot_1of5()[0].to_json()
    bad = copy.deepcopy(doc)
    bad["questions"][0]["limit_proof"] *= 2
    with pytest.raises(SelectionLimitError):
        EncryptedBallot.from_json(bad, ONE_OF_FIVE)
    bad = copy.deepcopy(doc)
    bad["questions"][0]["selections"][2]["proof"] = bad["questions"][0]["selections"][2]["proof"][:1]
    with pytest.raises(SelectionProofError):
        EncryptedBallot.from_json(bad, ONE_OF_FIVE)


def test_malformed_proof_is_an_encoding_error():
    doc = _ballot_1of5()[0].to_json()
    doc["questions"][0]["limit_proof"] = {"c": "00"}
    with pytest.raises(EncodingError):
        EncryptedBallot.from_json(doc, ONE_OF_FIVE)


def test_constructed_ballot_shape_errors():
    ballot, _ = _ballot_1of5()
    q = ballot.questions[0]
    short = EncryptedBallot(ballot.election_id, ballot.voter_id, (EncryptedQuestion(q.selections[:4], q.limit_proof),))
    with pytest.raises(BallotShapeError):
        verify_ballot(ONE_OF_FIVE, KEY.public, FP_1, "voter-1", short)
    extra = EncryptedBallot(ballot.election_id, ballot.voter_id, (q, q))
    with pytest.raises(BallotShapeError):
        verify_ballot(ONE_OF_FIVE, KEY.public, FP_1, "voter-1", extra)


def test_one_of_five_ballot_json_is_under_4kb():
    ballot, _ = _ballot_1of5()
    size = len(json.dumps(ballot.to_json(), separators=(",", ":")).encode())
    assert size < 4096
    assert len(canonical_json(ballot.to_json())) < 4096


# --- audit openings -----------------------------------------------------------------------------------


def test_audit_opening_verifies_and_round_trips():
    ballot, opening = _ballot_1of5(choice=3)
    decoded = AuditOpening.from_json(json.loads(json.dumps(opening.to_json())))
    assert verify_audit_opening(ONE_OF_FIVE, KEY.public, ballot, decoded) == [_one_hot(3)]


def test_audit_opening_of_another_ballot_fails():
    ballot, _ = _ballot_1of5(choice=3)
    _, other_opening = _ballot_1of5(choice=3)
    with pytest.raises(AuditOpeningError):
        verify_audit_opening(ONE_OF_FIVE, KEY.public, ballot, other_opening)


def test_audit_opening_claiming_another_choice_fails():
    ballot, opening = _ballot_1of5(choice=3)
    lie = AuditOpening(((tuple((1 - m, r) for m, r in opening.selections[0])),))
    with pytest.raises(AuditOpeningError):
        verify_audit_opening(ONE_OF_FIVE, KEY.public, ballot, lie)


def test_audit_opening_shape_mismatch():
    ballot, opening = _ballot_1of5()
    with pytest.raises(AuditOpeningError):
        verify_audit_opening(ONE_OF_FIVE, KEY.public, ballot, AuditOpening((opening.selections[0][:4],)))
    with pytest.raises(AuditOpeningError):
        verify_audit_opening(ONE_OF_FIVE, KEY.public, ballot, AuditOpening(()))


def test_audit_opening_zero_randomness_refused():
    ballot, opening = _ballot_1of5()
    zero = AuditOpening(((tuple((m, Scalar(0)) for m, _ in opening.selections[0])),))
    with pytest.raises(AuditOpeningError):
        verify_audit_opening(ONE_OF_FIVE, KEY.public, ballot, zero)


@pytest.mark.parametrize(
    "doc",
    [
        None,
        {"selections": []},
        {"version": 2, "selections": []},
        {"version": True, "selections": []},
        {"version": 1, "selections": [[{"m": 2, "r": Scalar(1).hex()}]]},
        {"version": 1, "selections": [[{"m": 1.0, "r": Scalar(1).hex()}]]},
        {"version": 1, "selections": [[{"m": True, "r": Scalar(1).hex()}]]},
        {"version": 1, "selections": [[{"m": 1, "r": "ff" * 32}]]},
        {"version": 1, "selections": [[{"m": 1}]]},
        {"version": 1, "selections": "abc"},
        {"version": 1, "selections": [["x"]]},
        {"version": 1, "selections": [], "extra": 1},
    ],
)
def test_audit_opening_json_strict(doc):
    with pytest.raises(AuditOpeningError):
        AuditOpening.from_json(doc)


# --- tracking codes ----------------------------------------------------------------------------------


def test_tracking_code_layout():
    ballot, _ = _ballot_1of5()
    code = tracking_code(FP_1, ballot)
    assert code == sha256(encode_parts("votingpilot/v1/tracking-code", FP_1, canonical_json(ballot.to_json())))


def test_tracking_code_short_form():
    ballot, _ = _ballot_1of5()
    short = format_tracking_code(tracking_code(FP_1, ballot))
    assert re.fullmatch(r"[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}", short)
    assert format_tracking_code(bytes(32)) == "AAAA-AAAA-AAAA-AAAA"
    assert format_tracking_code(b"\xff" * 32) == "7777-7777-7777-7777"


@pytest.mark.parametrize("length", [0, 10, 31, 33])
def test_tracking_code_short_form_needs_32_bytes(length):
    with pytest.raises(EncodingError):
        format_tracking_code(bytes(length))


BALLOT_FOR_CODES, _ = _ballot_1of5()
CODE = tracking_code(FP_1, BALLOT_FOR_CODES)


@settings(max_examples=60, deadline=None)
@given(
    option=st.integers(min_value=0, max_value=4),
    field=st.sampled_from(["alpha", "beta", "c0", "v0", "c1", "v1", "limit-c", "limit-v"]),
)
def test_tracking_code_changes_with_any_field(option, field):
    ballot = BALLOT_FOR_CODES
    q = ballot.questions[0]
    sels = list(q.selections)
    limit = q.limit_proof
    s = sels[option]
    bump = Scalar(1)
    if field == "alpha":
        sels[option] = EncryptedSelection(Ciphertext(s.ciphertext.alpha + G, s.ciphertext.beta), s.proof)
    elif field == "beta":
        sels[option] = EncryptedSelection(Ciphertext(s.ciphertext.alpha, s.ciphertext.beta + G), s.proof)
    elif field.startswith("limit"):
        c, v = limit.branches[0]
        limit = DisjunctiveProof(((c + bump, v) if field == "limit-c" else (c, v + bump),))
    else:
        branches = [list(b) for b in s.proof.branches]
        j, k = int(field[1]), 0 if field[0] == "c" else 1
        branches[j][k] = branches[j][k] + bump
        sels[option] = EncryptedSelection(s.ciphertext, DisjunctiveProof(tuple(tuple(b) for b in branches)))
    changed = EncryptedBallot(ballot.election_id, ballot.voter_id, (EncryptedQuestion(tuple(sels), limit),))
    assert tracking_code(FP_1, changed) != CODE


def test_tracking_code_changes_with_voter_and_fingerprint():
    moved = EncryptedBallot(BALLOT_FOR_CODES.election_id, "voter-2", BALLOT_FOR_CODES.questions)
    assert tracking_code(FP_1, moved) != CODE
    assert tracking_code(bytes(32), BALLOT_FOR_CODES) != CODE


def test_tracking_code_is_stable_through_json():
    decoded = EncryptedBallot.from_json(json.loads(json.dumps(BALLOT_FOR_CODES.to_json())), ONE_OF_FIVE)
    assert tracking_code(FP_1, decoded) == CODE


def test_tracking_code_differs_between_encryptions_of_the_same_vote():
    again, _ = _ballot_1of5()
    assert tracking_code(FP_1, again) != CODE


# --- aggregation --------------------------------------------------------------------------------------


@settings(max_examples=12, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=4), max_size=8))
def test_aggregate_equals_the_sum_of_choices(votes):
    ballots = [_ballot_1of5(f"v{i}", choice)[0] for i, choice in enumerate(votes)]
    totals = aggregate(ONE_OF_FIVE, ballots)
    assert [decrypt(KEY.secret, c, 100) for c in totals] == [votes.count(i) for i in range(5)]


@settings(max_examples=5, deadline=None)
@given(st.lists(st.lists(st.lists(st.booleans(), min_size=8, max_size=8), min_size=3, max_size=3), max_size=3))
def test_aggregate_question_major_order(raw):
    choices = [[[int(b) for b in row] for row in ballot] for ballot in raw]
    choices = [[row if sum(row) <= 3 else [0] * 8 for row in ballot] for ballot in choices]
    ballots = [encrypt_ballot(THREE_BY_EIGHT, KEY.public, FP_3, f"v{i}", c)[0] for i, c in enumerate(choices)]
    totals = aggregate(THREE_BY_EIGHT, ballots)
    expected = [sum(c[q][o] for c in choices) for q in range(3) for o in range(8)]
    assert len(totals) == 24
    assert [decrypt(KEY.secret, c, 10) for c in totals] == expected


def test_aggregate_of_no_ballots_is_all_zero():
    totals = aggregate(ONE_OF_FIVE, [])
    assert len(totals) == 5
    assert all(c.alpha.is_identity() and c.beta.is_identity() for c in totals)
    assert [decrypt(KEY.secret, c, 10) for c in totals] == [0] * 5


def test_aggregate_refuses_a_ballot_of_another_shape():
    other, _ = encrypt_ballot(THREE_BY_EIGHT, KEY.public, FP_3, "v", [[0] * 8] * 3)
    with pytest.raises(BallotShapeError):
        aggregate(ONE_OF_FIVE, [other])


# --- shared vectors ---------------------------------------------------------------------------------


def test_checked_in_vectors_equal_generator_output():
    generated = json.loads(json.dumps(gen_ballots.generate()["ballots.json"]))
    assert generated == VECTORS


ELECTIONS = VECTORS["elections"]


def _setup(election: dict):
    manifest = Manifest.from_json(election["manifest"])
    key = Point.from_hex(election["joint_key"])
    return manifest, key, bytes.fromhex(election["fingerprint"])


@pytest.mark.parametrize("election", ELECTIONS, ids=lambda e: e["name"])
def test_vector_fingerprint(election):
    manifest, key, fp = _setup(election)
    assert canonical_json(election["manifest"]).decode() == election["canonical_manifest"]
    assert encode_parts("votingpilot/v1/election-fingerprint", canonical_json(election["manifest"]), key).hex() == (
        election["fingerprint_input_hex"]
    )
    assert sha256(bytes.fromhex(election["fingerprint_input_hex"])) == fp
    assert election_fingerprint(manifest, key) == fp
    assert g_mul(Scalar.from_hex(election["joint_secret"])) == key


@pytest.mark.parametrize(
    "election, case",
    [(e, c) for e in ELECTIONS for c in e["ballots"]],
    ids=lambda x: x["name"] if "name" in x else x["comment"],
)
def test_vector_valid_ballots(election, case):
    manifest, key, fp = _setup(election)
    assert case["valid"] is True
    ballot = EncryptedBallot.from_json(case["ballot"], manifest)
    verify_ballot(manifest, key, fp, case["voter_id"], ballot)
    code = tracking_code(fp, ballot)
    assert code.hex() == case["tracking_code"]
    assert format_tracking_code(code) == case["tracking_code_short"]
    if "canonical_ballot_json" in case:
        assert canonical_json(case["ballot"]).decode() == case["canonical_ballot_json"]
        assert sha256(bytes.fromhex(case["tracking_code_input_hex"])) == code
    opening = AuditOpening.from_json(case["audit_opening"])
    assert verify_audit_opening(manifest, key, ballot, opening) == case["choices"]


@pytest.mark.parametrize(
    "election, case",
    [(e, c) for e in ELECTIONS for c in e["invalid_ballots"]],
    ids=lambda x: x["name"] if "name" in x else x["comment"],
)
def test_vector_invalid_ballots(election, case):
    manifest, key, fp = _setup(election)
    assert case["valid"] is False
    with pytest.raises(CryptoError) as info:
        verify_ballot(manifest, key, fp, case["voter_id"], EncryptedBallot.from_json(case["ballot"], manifest))
    assert type(info.value).__name__ == case["error"]
    assert info.value.code == case["code"]


@pytest.mark.parametrize(
    "election, case",
    [(e, c) for e in ELECTIONS for c in e["audit_openings"]],
    ids=lambda x: x["name"] if "name" in x else x["comment"],
)
def test_vector_audit_openings(election, case):
    manifest, key, _ = _setup(election)
    ballots = {b["voter_id"]: b for b in election["ballots"]}
    ballot = EncryptedBallot.from_json(ballots[case["voter_id"]]["ballot"], manifest)
    if case["valid"]:
        assert verify_audit_opening(manifest, key, ballot, AuditOpening.from_json(case["opening"])) == case["choices"]
    else:
        with pytest.raises(AuditOpeningError):
            verify_audit_opening(manifest, key, ballot, AuditOpening.from_json(case["opening"]))


@pytest.mark.parametrize("election", ELECTIONS, ids=lambda e: e["name"])
def test_vector_aggregate(election):
    manifest, _key, _ = _setup(election)
    ballots = [EncryptedBallot.from_json(b["ballot"], manifest) for b in election["ballots"]]
    totals = aggregate(manifest, ballots)
    assert [c.to_json() for c in totals] == election["aggregate"]["ciphertexts"]
    secret = Scalar.from_hex(election["joint_secret"])
    assert [decrypt(secret, c, 1000) for c in totals] == election["aggregate"]["counts"]


@pytest.mark.parametrize("election", ELECTIONS, ids=lambda e: e["name"])
def test_vector_challenges(election):
    for example in election["challenges"]:
        parts = [
            bytes.fromhex(example["fingerprint"]),
            [parse_part(p) for p in example["context"]],
            [parse_part(p) for p in example["statement"]],
            [parse_part(p) for p in example["commitments"]],
        ]
        assert encode_parts(example["tag"], *parts).hex() == example["encoded_hex"]
        c = hash_to_scalar(example["tag"], *parts)
        assert c.hex() == example["challenge"]
        total = Scalar(0)
        for branch in example["proof"]:
            total = total + Scalar.from_hex(branch["c"])
        assert total == c


def test_vector_invalid_cases_cover_the_issue():
    errors_seen = {c["error"] for e in ELECTIONS for c in e["invalid_ballots"]}
    assert {
        "SelectionLimitError", "SelectionProofError", "BallotShapeError", "BallotError",
        "IdentityPoint", "InvalidPoint", "InvalidScalar",
    } <= errors_seen


def test_vector_proofs_section():
    section = VECTORS["proofs"]
    fp = bytes.fromhex(section["fingerprint"])
    for case in section["schnorr"]:
        ctx = tuple(parse_part(p) for p in case["context"])

        def run(case=case, ctx=ctx):
            verify_schnorr(Point.from_hex(case["public"]), SchnorrProof.from_json(case["proof"]), fingerprint=fp, context=ctx)

        if case["valid"]:
            run()
        else:
            with pytest.raises(CryptoError) as info:
                run()
            assert type(info.value).__name__ == case["error"]
    for case in section["chaum_pedersen"]:
        ctx = tuple(parse_part(p) for p in case["context"])
        stmt = [Point.from_hex(h) for h in case["statement"]]

        def run(case=case, ctx=ctx, stmt=stmt):
            verify_equal_logs(*stmt, ChaumPedersenProof.from_json(case["proof"]), fingerprint=fp, context=ctx)

        if case["valid"]:
            run()
        else:
            with pytest.raises(CryptoError) as info:
                run()
            assert type(info.value).__name__ == case["error"]


def test_audit_opening_constructed_with_a_bad_plaintext():
    """Built in code rather than decoded: still AuditOpeningError, not ValueError."""
    ballot, opening = _ballot_1of5()
    for bad in (-1, 2, True):
        lie = AuditOpening((((bad, opening.selections[0][0][1]), *opening.selections[0][1:]),))
        assert len(lie.selections) == 1 and len(lie.selections[0]) == 5
        with pytest.raises(AuditOpeningError, match="option 1"):
            verify_audit_opening(ONE_OF_FIVE, KEY.public, ballot, lie)
