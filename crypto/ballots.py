"""Encrypted ballots: the manifest model, encryption, verification, tracking
codes and the Benaloh audit opening (docs/protocol.md, "Ballots").

A ballot holds, for every option of every question in manifest order, an
ElGamal encryption of 0 or 1 with a proof that it is 0 or 1, and for every
question a proof that the sum of its options lies in [min, max]. Every limit
is taken from the manifest, never from the ballot (a proof carrying its own
bound is how a 1-of-5 ballot voting for all five slipped past ElectionGuard
1.4). All proofs bind the voter's pseudonymous id, so a ballot copied from the
bulletin board is invalid for anyone else.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from crypto.elgamal import Ciphertext, add_all, encrypt
from crypto.encoding import canonical_json, encode_parts, sha256
from crypto.errors import (
    AuditOpeningError,
    BallotError,
    BallotShapeError,
    EncodingError,
    InvalidScalar,
    ManifestError,
    ProofError,
    SelectionLimitError,
    SelectionProofError,
)
from crypto.group import Point, Scalar, sum_columns
from crypto.proofs import DisjunctiveProof, Rng, prove_encrypted_value, verify_encrypted_value
from crypto.witness import WitnessPolicy

BALLOT_VERSION = 1
SELECTION_KIND = "selection"
LIMIT_KIND = "selection-limit"
# \A...\Z rather than ^...$: "$" also matches before a final newline.
_ID = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
MAX_QUESTIONS = 50
MAX_OPTIONS = 50
DEFAULT_MIN_TALLY_BALLOTS = 5
MAX_MIN_TALLY_BALLOTS = 1_000_000


# --- manifest --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Question:
    question_id: str
    option_ids: tuple[str, ...]
    min_selections: int
    max_selections: int

    @property
    def limit_values(self) -> tuple[int, ...]:
        """The selection counts the limit proof ranges over: min..max."""
        return tuple(range(self.min_selections, self.max_selections + 1))


@dataclass(frozen=True, slots=True)
class Manifest:
    """The cryptographically relevant view of an election manifest.

    ``document`` is the whole manifest JSON (titles, texts in Japanese and
    English, schedule, re-vote policy): all of it enters the fingerprint.
    """

    election_id: str
    questions: tuple[Question, ...]
    document: dict[str, Any]
    witnesses: WitnessPolicy = WitnessPolicy()
    """The witnesses that cosign the board and the quorum of them every client
    requires (docs/parts/witness.md); none when the manifest names none."""

    @property
    def min_tally_ballots(self) -> int:
        """Trustees refuse to decrypt an aggregate of fewer counted ballots: with
        one ballot, the tally would be that voter's vote (default 5)."""
        return int(self.document.get("min_tally_ballots", DEFAULT_MIN_TALLY_BALLOTS))

    def counted_questions(self, counts: Sequence[int]) -> list[dict[str, Any]]:
        """The ``questions`` of a result entry: the counts (one per option, in
        manifest order) under their question and option ids."""
        if len(counts) != sum(len(q.option_ids) for q in self.questions):
            raise ValueError(f"{len(counts)} counts for a manifest of {sum(len(q.option_ids) for q in self.questions)} options")
        flat = iter(counts)
        return [
            {"id": q.question_id, "options": [{"id": oid, "count": next(flat)} for oid in q.option_ids]}
            for q in self.questions
        ]

    @classmethod
    def from_json(cls, doc: object) -> Manifest:
        if not isinstance(doc, dict):
            raise ManifestError("the manifest must be a JSON object")
        try:
            canonical = canonical_json(doc)
        except EncodingError as exc:
            raise ManifestError(f"the manifest is not canonical JSON: {exc}") from None
        # Keep a private copy: a caller mutating its dict later must not make
        # the fingerprint disagree with the parsed questions.
        parsed: dict[str, Any] = json.loads(canonical)
        election_id = parsed.get("election_id")
        if not isinstance(election_id, str) or not _ID.match(election_id):
            raise ManifestError("election_id must be 1-64 letters, digits, '.', '_' or '-'")
        raw_questions = parsed.get("questions")
        if not isinstance(raw_questions, list) or not 1 <= len(raw_questions) <= MAX_QUESTIONS:
            raise ManifestError(f"questions must be a list of 1 to {MAX_QUESTIONS} questions")
        questions = []
        seen: set[str] = set()
        for number, q in enumerate(raw_questions, start=1):
            question = _parse_question(q, number)
            if question.question_id in seen:
                raise ManifestError(f"question {number}: duplicate id {question.question_id!r}")
            seen.add(question.question_id)
            questions.append(question)
        minimum = parsed.get("min_tally_ballots", DEFAULT_MIN_TALLY_BALLOTS)
        if type(minimum) is not int or not 1 <= minimum <= MAX_MIN_TALLY_BALLOTS:
            raise ManifestError(f"min_tally_ballots must be an integer from 1 to {MAX_MIN_TALLY_BALLOTS}")
        return cls(election_id, tuple(questions), parsed, WitnessPolicy.from_json(parsed.get("witnesses")))


def _parse_question(q: object, number: int) -> Question:
    where = f"question {number}"
    if not isinstance(q, dict):
        raise ManifestError(f"{where}: must be an object")
    qid = q.get("id")
    if not isinstance(qid, str) or not _ID.match(qid):
        raise ManifestError(f"{where}: id must be 1-64 letters, digits, '.', '_' or '-'")
    options = q.get("options")
    if not isinstance(options, list) or not 1 <= len(options) <= MAX_OPTIONS:
        raise ManifestError(f"{where}: options must be a list of 1 to {MAX_OPTIONS} options")
    option_ids = []
    for o_number, option in enumerate(options, start=1):
        oid = option.get("id") if isinstance(option, dict) else None
        if not isinstance(oid, str) or not _ID.match(oid):
            raise ManifestError(f"{where}, option {o_number}: id must be 1-64 letters, digits, '.', '_' or '-'")
        if oid in option_ids:
            raise ManifestError(f"{where}: duplicate option id {oid!r}")
        option_ids.append(oid)
    low = _selection_count(q, "min_selections", where)
    high = _selection_count(q, "max_selections", where)
    if not 0 <= low <= high <= len(option_ids) or high < 1:
        raise ManifestError(
            f"{where}: need 0 <= min_selections <= max_selections <= number of options, and max_selections >= 1"
        )
    return Question(qid, tuple(option_ids), low, high)


def _selection_count(q: dict[str, Any], name: str, where: str) -> int:
    value = q.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ManifestError(f"{where}: {name} must be an integer")
    return value


def election_fingerprint(manifest: Manifest, joint_key: Point) -> bytes:
    """SHA-256 over the canonical manifest and the joint public key: every proof's
    challenge hashes it, so a proof is valid for exactly one election."""
    if joint_key.is_identity():
        raise ManifestError("the joint key must not be the identity")
    return sha256(encode_parts("votingpilot/v1/election-fingerprint", canonical_json(manifest.document), joint_key))


def ceremony_fingerprint(manifest: Manifest, n: int, t: int) -> bytes:
    """SHA-256 over the canonical manifest and the ceremony's n and t: binds the
    trustees' key-ceremony proofs to this election before the joint key (which
    the election fingerprint includes) exists. The service derives it when the
    election is created; the verifier recomputes it from the record."""
    return sha256(encode_parts("votingpilot/v1/ceremony-fingerprint", canonical_json(manifest.document), n, t))


# --- ballot value types ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EncryptedSelection:
    ciphertext: Ciphertext
    proof: DisjunctiveProof
    """m in {0, 1}"""


@dataclass(frozen=True, slots=True)
class EncryptedQuestion:
    selections: tuple[EncryptedSelection, ...]
    limit_proof: DisjunctiveProof
    """sum of the selections in [min, max] of the manifest"""

    def total(self) -> Ciphertext:
        return add_all(s.ciphertext for s in self.selections)


@dataclass(frozen=True, slots=True)
class EncryptedBallot:
    election_id: str
    voter_id: str
    """the voter's pseudonymous id, bound into every proof"""
    questions: tuple[EncryptedQuestion, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": BALLOT_VERSION,
            "election_id": self.election_id,
            "voter_id": self.voter_id,
            "questions": [
                {
                    "selections": [
                        {**s.ciphertext.to_json(), "proof": s.proof.to_json()} for s in q.selections
                    ],
                    "limit_proof": q.limit_proof.to_json(),
                }
                for q in self.questions
            ],
        }

    @classmethod
    def from_json(cls, doc: object, manifest: Manifest) -> EncryptedBallot:
        """Strict decoding against the manifest's shape; any deviation raises."""
        d = _object(doc, {"version", "election_id", "voter_id", "questions"}, "ballot")
        if not _is_int(d["version"]) or d["version"] != BALLOT_VERSION:
            raise BallotShapeError(f"unsupported ballot version {d['version']!r}")
        if d["election_id"] != manifest.election_id:
            raise BallotShapeError("ballot is for another election")
        voter_id = d["voter_id"]
        if not isinstance(voter_id, str) or not 1 <= len(voter_id) <= 128:
            raise BallotShapeError("voter_id must be a string of 1 to 128 characters")
        try:
            encode_parts(voter_id)
        except EncodingError:
            raise BallotShapeError("voter_id is not valid Unicode") from None
        raw_questions = d["questions"]
        if not isinstance(raw_questions, list) or len(raw_questions) != len(manifest.questions):
            raise BallotShapeError(f"ballot must answer exactly {len(manifest.questions)} questions")
        questions = []
        for qn, (raw, question) in enumerate(zip(raw_questions, manifest.questions), start=1):
            rq = _object(raw, {"selections", "limit_proof"}, f"question {qn}")
            raw_sel = rq["selections"]
            if not isinstance(raw_sel, list) or len(raw_sel) != len(question.option_ids):
                raise BallotShapeError(f"question {qn} must have exactly {len(question.option_ids)} selections")
            selections = []
            for on, rs in enumerate(raw_sel, start=1):
                s = _object(rs, {"alpha", "beta", "proof"}, f"question {qn}, selection {on}")
                ct = Ciphertext.from_json({"alpha": s["alpha"], "beta": s["beta"]})
                proof = _branches(s["proof"], 2, SelectionProofError, f"question {qn}, selection {on}")
                selections.append(EncryptedSelection(ct, proof))
            limit = _branches(
                rq["limit_proof"], len(question.limit_values), SelectionLimitError,
                f"question {qn}: the limit proof (one branch per count in "
                f"[{question.min_selections}, {question.max_selections}])",
            )
            questions.append(EncryptedQuestion(tuple(selections), limit))
        return cls(manifest.election_id, voter_id, tuple(questions))


def _branches(doc: object, count: int, error: type[BallotError], what: str) -> DisjunctiveProof:
    """A disjunctive proof with exactly ``count`` branches, the count coming from
    the manifest; a proof for other values (e.g. an over-vote's limit proof
    covering 0..5 on a 1-of-5 question) is refused as that proof's failure."""
    if isinstance(doc, list) and len(doc) != count:
        raise error(f"{what} must have {count} branches, not {len(doc)}")
    return DisjunctiveProof.from_json(doc, count)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _object(doc: object, keys: set[str], what: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise BallotShapeError(f"{what} must be a JSON object")
    if set(doc) != keys:
        missing, extra = keys - set(doc), set(doc) - keys
        raise BallotShapeError(f"{what}: missing {sorted(missing)}, unexpected {sorted(extra)}")
    return doc


@dataclass(frozen=True, slots=True)
class AuditOpening:
    """The secrets of a ballot the voter chose to audit (Benaloh challenge):
    for each option its plaintext m and randomness r. Revealing them spoils the
    ballot: it can never be cast."""

    selections: tuple[tuple[tuple[int, Scalar], ...], ...]

    def choices(self) -> list[list[int]]:
        return [[m for m, _ in q] for q in self.selections]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": BALLOT_VERSION,
            "selections": [[{"m": m, "r": r.hex()} for m, r in q] for q in self.selections],
        }

    @classmethod
    def from_json(cls, doc: object) -> AuditOpening:
        d = doc if isinstance(doc, dict) else {}
        if set(d) != {"version", "selections"} or not _is_int(d["version"]) or d["version"] != BALLOT_VERSION:
            raise AuditOpeningError("an audit opening is {version: 1, selections: [...]}")
        try:
            return cls(
                tuple(
                    tuple((_bit(item["m"]), Scalar.from_hex(item["r"])) for item in q) for q in d["selections"]
                )
            )
        except (TypeError, KeyError, InvalidScalar) as exc:
            raise AuditOpeningError(f"malformed audit opening: {exc}") from None


def _bit(value: object) -> int:
    if not _is_int(value) or value not in (0, 1):
        raise AuditOpeningError("each plaintext must be 0 or 1")
    return int(value)


# --- encryption and verification --------------------------------------------------


def _selection_context(voter_id: str, q: int, o: int) -> tuple[str, str, int, int]:
    return ("ballot-selection", voter_id, q, o)


def _limit_context(voter_id: str, q: int) -> tuple[str, str, int]:
    return ("ballot-question", voter_id, q)


def check_choices(manifest: Manifest, choices: Sequence[Sequence[int]]) -> None:
    """The voter's own choices must fit the manifest before anything is encrypted."""
    if len(choices) != len(manifest.questions):
        raise BallotShapeError(f"expected choices for {len(manifest.questions)} questions")
    for qn, (row, question) in enumerate(zip(choices, manifest.questions), start=1):
        if len(row) != len(question.option_ids) or any(not _is_int(m) or m not in (0, 1) for m in row):
            raise BallotShapeError(f"question {qn}: one 0 or 1 per option expected")
        if not question.min_selections <= sum(row) <= question.max_selections:
            raise SelectionLimitError(
                f"question {qn}: choose between {question.min_selections} and {question.max_selections} options"
            )


def choices_from_ids(manifest: Manifest, selected: Mapping[str, Sequence[str]]) -> list[list[int]]:
    """{question id: [selected option ids]} -> 0/1 rows in manifest order."""
    unknown = set(selected) - {q.question_id for q in manifest.questions}
    if unknown:
        raise BallotShapeError(f"unknown questions: {sorted(unknown)}")
    rows = []
    for question in manifest.questions:
        chosen = set(selected.get(question.question_id, ()))
        if chosen - set(question.option_ids):
            raise BallotShapeError(f"{question.question_id}: unknown options {sorted(chosen - set(question.option_ids))}")
        rows.append([1 if oid in chosen else 0 for oid in question.option_ids])
    return rows


def encrypt_ballot(
    manifest: Manifest,
    joint_key: Point,
    fingerprint: bytes,
    voter_id: str,
    choices: Sequence[Sequence[int]],
    *,
    rng: Rng = Scalar.random,
) -> tuple[EncryptedBallot, AuditOpening]:
    """Encrypt the voter's 0/1 choices (one row per question, manifest order)."""
    check_choices(manifest, choices)
    questions, opening = [], []
    for qn, (row, question) in enumerate(zip(choices, manifest.questions)):
        selections, secrets = [], []
        r_total = Scalar(0)
        for on, m in enumerate(row):
            r = rng()
            ct = encrypt(joint_key, m, r)
            proof = prove_encrypted_value(
                ct.alpha, ct.beta, r, m, joint_key, (0, 1),
                kind=SELECTION_KIND, fingerprint=fingerprint,
                context=_selection_context(voter_id, qn, on), rng=rng,
            )
            selections.append(EncryptedSelection(ct, proof))
            secrets.append((m, r))
            r_total = r_total + r
        total = add_all(s.ciphertext for s in selections)
        limit = prove_encrypted_value(
            total.alpha, total.beta, r_total, sum(row), joint_key, question.limit_values,
            kind=LIMIT_KIND, fingerprint=fingerprint,
            context=_limit_context(voter_id, qn), rng=rng,
        )
        questions.append(EncryptedQuestion(tuple(selections), limit))
        opening.append(tuple(secrets))
    return EncryptedBallot(manifest.election_id, voter_id, tuple(questions)), AuditOpening(tuple(opening))


def verify_ballot(
    manifest: Manifest, joint_key: Point, fingerprint: bytes, voter_id: str, ballot: EncryptedBallot
) -> None:
    """Check every proof of the ballot for this election and this voter.

    Raises the precise ``BallotError`` subclass; returns nothing when valid.
    """
    if ballot.election_id != manifest.election_id:
        raise BallotShapeError("ballot is for another election")
    if ballot.voter_id != voter_id:
        raise BallotError("ballot was made for another voter")
    if len(ballot.questions) != len(manifest.questions):
        raise BallotShapeError("wrong number of questions")
    for qn, (eq, question) in enumerate(zip(ballot.questions, manifest.questions)):
        if len(eq.selections) != len(question.option_ids):
            raise BallotShapeError(f"question {qn + 1}: wrong number of selections")
        for on, s in enumerate(eq.selections):
            if s.ciphertext.alpha.is_identity() or s.ciphertext.beta.is_identity():
                raise SelectionProofError(f"question {qn + 1}, option {on + 1}: identity in ciphertext")
            try:
                verify_encrypted_value(
                    s.ciphertext.alpha, s.ciphertext.beta, joint_key, (0, 1), s.proof,
                    kind=SELECTION_KIND, fingerprint=fingerprint,
                    context=_selection_context(voter_id, qn, on),
                )
            except ProofError as exc:
                raise SelectionProofError(
                    f"question {qn + 1}, option {on + 1}: not proven to encrypt 0 or 1"
                ) from exc
        total = eq.total()
        try:
            verify_encrypted_value(
                total.alpha, total.beta, joint_key, question.limit_values, eq.limit_proof,
                kind=LIMIT_KIND, fingerprint=fingerprint,
                context=_limit_context(voter_id, qn),
            )
        except ProofError as exc:
            raise SelectionLimitError(
                f"question {qn + 1}: the selection count is not proven to lie in "
                f"[{question.min_selections}, {question.max_selections}]"
            ) from exc


def verify_audit_opening(
    manifest: Manifest, joint_key: Point, ballot: EncryptedBallot, opening: AuditOpening
) -> list[list[int]]:
    """Re-encrypt the revealed choices with the revealed randomness and compare:
    the check that the device encrypted what the voter chose. Returns the choices."""
    if len(opening.selections) != len(ballot.questions):
        raise AuditOpeningError("the opening does not match the ballot's questions")
    for qn, (secrets, eq) in enumerate(zip(opening.selections, ballot.questions), start=1):
        if len(secrets) != len(eq.selections):
            raise AuditOpeningError(f"question {qn}: the opening does not match the options")
        for on, ((m, r), s) in enumerate(zip(secrets, eq.selections), start=1):
            if not _is_int(m) or m not in (0, 1) or r.is_zero() or s.ciphertext != encrypt(joint_key, m, r):
                raise AuditOpeningError(f"question {qn}, option {on}: the encryption does not match")
    choices = opening.choices()
    try:
        check_choices(manifest, choices)
    except BallotError as exc:
        raise AuditOpeningError(f"the revealed choices break the manifest: {exc}") from None
    return choices


# --- tracking codes ----------------------------------------------------------------


def tracking_code(fingerprint: bytes, ballot: EncryptedBallot) -> bytes:
    """SHA-256 of the election fingerprint and the canonical ballot JSON."""
    return sha256(encode_parts("votingpilot/v1/tracking-code", fingerprint, canonical_json(ballot.to_json())))


def format_tracking_code(code: bytes) -> str:
    """The short form shown to voters: base32 of the first 10 bytes in 4 groups of 4.

    The full 32-byte code (hex) is what receipts and the board carry; the short
    form is for reading aloud and comparing by eye.
    """
    if len(code) != 32:
        raise EncodingError("a tracking code is 32 bytes")
    text = base64.b32encode(code[:10]).decode("ascii")
    return "-".join(text[i : i + 4] for i in range(0, 16, 4))


def format_fingerprint(fingerprint: bytes) -> str:
    """The election fingerprint's short form, printed on the election notice and
    shown before voting, in the tracking code's groups (compare by eye)."""
    return format_tracking_code(fingerprint)


def selection_ciphertexts(ballot: EncryptedBallot) -> list[Ciphertext]:
    """All option ciphertexts, question-major: the order of the tally."""
    return [s.ciphertext for q in ballot.questions for s in q.selections]


def aggregate(manifest: Manifest, ballots: Iterable[EncryptedBallot]) -> list[Ciphertext]:
    """The homomorphic tally: per option (question-major), the sum of every
    counted ballot's ciphertext. No ballots give encryptions of 0 with the identity."""
    width = sum(len(q.option_ids) for q in manifest.questions)
    rows = (
        [p for c in selection_ciphertexts(b) for p in (c.alpha, c.beta)] for b in ballots
    )
    try:
        sums = sum_columns(rows, 2 * width)
    except ValueError:
        raise BallotShapeError("ballot does not match the manifest") from None
    return [Ciphertext(sums[i], sums[i + 1]) for i in range(0, 2 * width, 2)]
