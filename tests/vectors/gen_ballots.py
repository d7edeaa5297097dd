"""Encoding, proof and ballot vectors: ``tests/vectors/ballots.json``.

Everything is deterministic: every random scalar comes from a counter-based
source, ``hash_to_scalar("votingpilot/v1/test-vector-rng", SEED, label, i)``
for i = 0, 1, 2, ... with one label per ballot or proof, so adding a case does
not change the others. The file is self-describing (docs/parts/core.md is the
specification): the browser's JavaScript checks the same cases, so every byte
the two sides hash or compare is here, with the inputs that produce it.

Cases are Wycheproof-style: ``valid`` plus, when false, the expected error
class name (``error``) and its stable ``code`` (crypto/errors.py).
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Sequence

from crypto import errors
from crypto.ballots import (
    LIMIT_KIND,
    SELECTION_KIND,
    AuditOpening,
    EncryptedBallot,
    EncryptedQuestion,
    EncryptedSelection,
    Manifest,
    aggregate,
    election_fingerprint,
    encrypt_ballot,
    format_tracking_code,
    tracking_code,
    verify_audit_opening,
    verify_ballot,
)
from crypto.elgamal import Ciphertext, decrypt, encrypt
from crypto.encoding import canonical_json, encode_parts, hash_to_scalar
from crypto.errors import CryptoError
from crypto.group import ORDER, G, Point, Scalar, g_mul
from crypto.proofs import (
    TAG_PREFIX,
    prove_encrypted_value,
    prove_equal_logs,
    prove_schnorr,
)

SEED = b"votingpilot ballot vectors v1"
RNG_TAG = "votingpilot/v1/test-vector-rng"
BOUND = 1000


class CounterRng:
    """``rng`` for encrypt_ballot and the provers: scalar i of a labelled stream."""

    def __init__(self, label: str) -> None:
        self.label, self.counter = label, 0

    def __call__(self) -> Scalar:
        value = hash_to_scalar(RNG_TAG, SEED, self.label, self.counter)
        self.counter += 1
        return value


# --- elections -------------------------------------------------------------------


def manifest_1of5() -> dict:
    return {
        "election_id": "poll-2025-lunch",
        "title": {"ja": "忘年会の会場", "en": "Year-end party venue"},
        "questions": [
            {
                "id": "venue",
                "title": {"ja": "会場を一つ選んでください", "en": "Choose one venue"},
                "min_selections": 1,
                "max_selections": 1,
                "options": [
                    {"id": f"venue-{i}", "title": {"ja": ja, "en": en}}
                    for i, (ja, en) in enumerate(
                        [("市役所食堂", "City hall canteen"), ("駅前ホテル", "Station hotel"),
                         ("公民館", "Community centre"), ("居酒屋「さくら」", "Izakaya Sakura"),
                         ("屋形船", "Yakatabune boat")],
                        start=1,
                    )
                ],
            }
        ],
        "revote": "last-ballot-counts",
    }


def manifest_3x8() -> dict:
    return {
        "election_id": "poll-2025-committee",
        "title": {"ja": "委員会の選出", "en": "Committee selection"},
        "questions": [
            {
                "id": f"committee-{q}",
                "title": {"ja": f"委員会{q}（3名まで）", "en": f"Committee {q} (up to 3)"},
                "min_selections": 0,
                "max_selections": 3,
                "options": [{"id": f"c{q}-member-{o}"} for o in range(1, 9)],
            }
            for q in range(1, 4)
        ],
        "revote": "one-ballot-per-voter",
    }


def joint_secret(election_id: str) -> Scalar:
    """A fixed secret so the vectors can show decrypted tallies (a real election
    has no such secret anywhere: the trustees hold shares)."""
    return hash_to_scalar("votingpilot/v1/test-vector-joint-secret", SEED, election_id)


# --- forgeries (also used by tests/test_ballots.py) ----------------------------------


def selection_context(voter_id: str, q: int, o: int) -> tuple:
    """Restated from docs/parts/core.md (not imported), so drift is caught."""
    return ("ballot-selection", voter_id, q, o)


def limit_context(voter_id: str, q: int) -> tuple:
    return ("ballot-question", voter_id, q)


def forge_ballot(
    manifest: Manifest,
    joint_key: Point,
    fingerprint: bytes,
    voter_id: str,
    choices: Sequence[Sequence[int]],
    rng: Callable[[], Scalar],
    *,
    selection_values: Sequence[int] = (1, 2),
    limit_values: Callable[[int], Sequence[int]] | None = None,
) -> EncryptedBallot:
    """Build a ballot the way a cheating client would: any plaintexts, and
    proofs over values of its choosing (``limit_values(question_index)``; by
    default the manifest's). Each proof is honestly computed for the values it
    claims, so only the verifier's insistence on the manifest's values stops it."""
    questions = []
    for qn, (row, question) in enumerate(zip(choices, manifest.questions)):
        selections = []
        r_total = Scalar(0)
        for on, m in enumerate(row):
            r = rng()
            ct = encrypt(joint_key, m, r)
            # Honest (0, 1) proofs for honest plaintexts; the cheat's own values otherwise.
            values = (0, 1) if m in (0, 1) else tuple(selection_values)
            proof = prove_encrypted_value(
                ct.alpha, ct.beta, r, m, joint_key, values,
                kind=SELECTION_KIND, fingerprint=fingerprint,
                context=selection_context(voter_id, qn, on), rng=rng,
            )
            selections.append(EncryptedSelection(ct, proof))
            r_total = r_total + r
        values = tuple(limit_values(qn)) if limit_values else question.limit_values
        total = Ciphertext(
            sum((s.ciphertext.alpha for s in selections[1:]), selections[0].ciphertext.alpha),
            sum((s.ciphertext.beta for s in selections[1:]), selections[0].ciphertext.beta),
        )
        limit = prove_encrypted_value(
            total.alpha, total.beta, r_total, sum(row), joint_key, values,
            kind=LIMIT_KIND, fingerprint=fingerprint,
            context=limit_context(voter_id, qn), rng=rng,
        )
        questions.append(EncryptedQuestion(tuple(selections), limit))
    return EncryptedBallot(manifest.election_id, voter_id, tuple(questions))


# --- JSON helpers ----------------------------------------------------------------


def describe_part(part: object) -> dict:
    """A typed, self-describing JSON form of one encode_parts input."""
    if isinstance(part, Point):
        return {"type": "point", "hex": part.hex()}
    if isinstance(part, Scalar):
        return {"type": "scalar", "hex": part.hex()}
    if isinstance(part, (bytes, bytearray)):
        return {"type": "bytes", "hex": bytes(part).hex()}
    if isinstance(part, str):
        return {"type": "text", "value": part}
    if isinstance(part, int) and not isinstance(part, bool):
        return {"type": "int", "value": str(part)}
    if isinstance(part, (list, tuple)):
        return {"type": "list", "items": [describe_part(item) for item in part]}
    raise TypeError(type(part).__name__)


def parse_part(doc: dict) -> object:
    """Inverse of ``describe_part`` (the tests use it to recompute the bytes)."""
    kind = doc["type"]
    if kind == "point":
        return Point.from_hex(doc["hex"], allow_identity=True)
    if kind == "scalar":
        return Scalar.from_hex(doc["hex"])
    if kind == "bytes":
        return bytes.fromhex(doc["hex"])
    if kind == "text":
        return doc["value"]
    if kind == "int":
        return int(doc["value"])
    if kind == "list":
        return [parse_part(item) for item in doc["items"]]
    raise ValueError(kind)


def _error_of(call: Callable[[], object]) -> CryptoError | None:
    try:
        call()
    except CryptoError as exc:
        return exc
    return None


def _flagged(case: dict, call: Callable[[], object], expected: str | None) -> dict:
    """Run ``call``, insist it fails with exactly ``expected`` (or passes), and
    add the Wycheproof-style flags to ``case``."""
    exc = _error_of(call)
    actual = type(exc).__name__ if exc else None
    assert actual == expected, f"{case.get('comment')}: expected {expected}, got {actual} ({exc})"
    case["valid"] = expected is None
    if expected is not None:
        case["error"] = expected
        case["code"] = getattr(errors, expected).code
    return case


# --- encodings -------------------------------------------------------------------


def _encoding_section() -> dict:
    encode_cases = []
    examples: list[tuple[str, tuple]] = [
        ("text 'ab' then text 'c'", ("ab", "c")),
        ("text 'a' then text 'bc' (differs from the case above)", ("a", "bc")),
        ("bytes 'ab'", (b"ab",)),
        ("text 'ab' (differs from bytes 'ab' by its tag)", ("ab",)),
        ("empty text, empty bytes, empty list", ("", b"", [])),
        ("integers 0, 1 and 2^64-1 (8 bytes big-endian each)", (0, 1, 2**64 - 1)),
        ("a list [1, [2]]", ([1, [2]],)),
        ("a list [[1], 2] (differs from [1, [2]])", ([[1], 2],)),
        ("UTF-8 text", ("投票",)),
        ("the generator and the scalar 1", (G, Scalar(1))),
        ("the identity point", (Point.from_bytes(bytes(32), allow_identity=True),)),
    ]
    for comment, parts in examples:
        encode_cases.append({
            "comment": comment,
            "parts": [describe_part(p) for p in parts],
            "hex": encode_parts(*parts).hex(),
            "valid": True,
        })
    invalid_parts = [
        ("a negative integer", {"type": "int", "value": "-1"}),
        ("an integer of 2^64", {"type": "int", "value": str(2**64)}),
    ]
    for comment, part in invalid_parts:
        encode_cases.append(
            _flagged({"comment": comment, "parts": [part]}, lambda p=part: encode_parts(parse_part(p)), "EncodingError")
        )

    hash_cases = []
    for tag, parts in [
        ("votingpilot/v1/test", ()),
        ("votingpilot/v1/test", ("abc",)),
        ("votingpilot/v1/test", (b"\x00" * 32, 7, [G])),
    ]:
        data = encode_parts(tag, *parts)
        digest = hashlib.sha512(data).digest()
        hash_cases.append({
            "tag": tag,
            "parts": [describe_part(p) for p in parts],
            "encoded_hex": data.hex(),
            "sha512_hex": digest.hex(),
            "scalar_hex": hash_to_scalar(tag, *parts).hex(),
        })

    json_cases = []
    valid_json = [
        ("keys sorted, no spaces", '{"b": 1, "a": [true, false, null, "x"]}'),
        ("nested objects sorted at every level", '{"z": {"y": 1, "x": 2}, "a": {}}'),
        ("UTF-8 text stays literal, never \\\\u-escaped", '{"title": "忘年会の会場"}'),
        ("escapes: control characters, quote, backslash; '/' and U+2028 literal",
         '{"s": "a\\nb\\t\\u0001\\"\\\\/\\u2028\\u007f"}'),
        ("the largest safe integers", '[9007199254740991, -9007199254740991, 0, -1]'),
        ("uppercase sorts before lowercase (code point order)", '{"b": 1, "B": 2, "_": 3, "1": 4}'),
        ("empty containers", '[{}, []]'),
    ]
    import json as _json  # local: only the vectors need parsing from text

    for comment, text in valid_json:
        value = _json.loads(text)
        canonical = canonical_json(value)
        json_cases.append({
            "comment": comment,
            "input_json": text,
            "canonical": canonical.decode("utf-8"),
            "canonical_hex": canonical.hex(),
            "valid": True,
        })
    invalid_json = [
        ("a number with a fraction", '{"a": 1.5}'),
        ("an integer beyond 2^53-1", '[9007199254740992]'),
        ("a non-ASCII object key", '{"投票": 1}'),
        ("a lone surrogate (no UTF-8 form)", '["\\ud800"]'),
    ]
    for comment, text in invalid_json:
        json_cases.append(
            _flagged({"comment": comment, "input_json": text},
                     lambda t=text: canonical_json(_json.loads(t)), "EncodingError")
        )
    return {
        "encode_parts": {
            "description": (
                "encode_parts(*parts): per part, a 1-byte type tag ('B' bytes, 'T' UTF-8 text, "
                "'I' integer, 'P' point, 'S' scalar, 'L' list), a 4-byte big-endian length "
                "(byte count; 8 for integers, 32 for points and scalars; item count for lists), "
                "then the payload (list items encoded recursively). Integers are in [0, 2^64) "
                "as 8 bytes big-endian. 'int' values are decimal strings."
            ),
            "cases": encode_cases,
        },
        "hash_to_scalar": {
            "description": (
                "hash_to_scalar(tag, *parts) = SHA-512(encode_parts(tag, *parts)) read as a "
                "512-bit little-endian integer, reduced mod l, as a 32-byte little-endian scalar"
            ),
            "cases": hash_cases,
        },
        "canonical_json": {
            "description": (
                "canonical_json(value): RFC 8785 (JCS) for objects, arrays, strings, integers in "
                "[-(2^53-1), 2^53-1], booleans and null; ASCII object keys only; UTF-8 output"
            ),
            "cases": json_cases,
        },
    }


# --- proofs ----------------------------------------------------------------------


def _proof_section(fingerprint: bytes) -> dict:
    rng = CounterRng("proofs")
    secret = rng()
    public = g_mul(secret)
    context = ("example-context", 1)
    schnorr = prove_schnorr(secret, fingerprint=fingerprint, context=context, rng=CounterRng("schnorr"))
    h = Point.hash_to_group("votingpilot/v1/test-vector-base", b"h")
    cp = prove_equal_logs(secret, G, h, fingerprint=fingerprint, context=context, rng=CounterRng("cp"))

    from crypto.proofs import (
        ChaumPedersenProof,
        SchnorrProof,
        verify_equal_logs,
        verify_schnorr,
    )

    def bump(doc: dict, key: str) -> dict:
        return {**doc, key: (Scalar.from_hex(doc[key]) + Scalar(1)).hex()}

    schnorr_cases = []
    for comment, pub, proof_doc, ctx, expected in [
        ("valid", public, schnorr.to_json(), context, None),
        ("challenge + 1", public, bump(schnorr.to_json(), "c"), context, "ProofError"),
        ("response + 1", public, bump(schnorr.to_json(), "s"), context, "ProofError"),
        ("another public key (2X)", public + public, schnorr.to_json(), context, "ProofError"),
        ("another context", public, schnorr.to_json(), ("example-context", 2), "ProofError"),
    ]:
        case = {"comment": comment, "public": pub.hex(), "context": [describe_part(p) for p in ctx],
                "proof": proof_doc}
        schnorr_cases.append(_flagged(
            case,
            lambda pub=pub, d=proof_doc, ctx=ctx: verify_schnorr(
                pub, SchnorrProof.from_json(d), fingerprint=fingerprint, context=ctx),
            expected,
        ))

    cp_cases = []
    a, b = public, h * secret
    for comment, stmt, proof_doc, expected in [
        ("valid", (G, a, h, b), cp.to_json(), None),
        ("challenge + 1", (G, a, h, b), bump(cp.to_json(), "c"), "ProofError"),
        ("response + 1", (G, a, h, b), bump(cp.to_json(), "s"), "ProofError"),
        ("B replaced by B + h (unequal logs)", (G, a, h, b + h), cp.to_json(), "ProofError"),
        ("bases swapped", (h, b, G, a), cp.to_json(), "ProofError"),
    ]:
        case = {"comment": comment, "statement": [p.hex() for p in stmt],
                "context": [describe_part(p) for p in context], "proof": proof_doc}
        cp_cases.append(_flagged(
            case,
            lambda stmt=stmt, d=proof_doc: verify_equal_logs(
                *stmt, ChaumPedersenProof.from_json(d), fingerprint=fingerprint, context=context),
            expected,
        ))
    return {
        "description": (
            "Schnorr and Chaum-Pedersen proofs under the 1-of-5 election's fingerprint. "
            "Challenge = hash_to_scalar('votingpilot/v1/<kind>', fingerprint, [context...], "
            "[statement...], [commitments...]) with kind 'schnorr' (statement [G, X]) or "
            "'chaum-pedersen' (statement [base1, A, base2, B])."
        ),
        "fingerprint": fingerprint.hex(),
        "schnorr": schnorr_cases,
        "chaum_pedersen": cp_cases,
    }


# --- challenge walk-through --------------------------------------------------------


def _challenge_example(
    kind: str, fingerprint: bytes, context: tuple, statement: list, commitments: list, proof_doc: list
) -> dict:
    tag = TAG_PREFIX + kind
    data = encode_parts(tag, fingerprint, list(context), statement, commitments)
    challenge = hash_to_scalar(tag, fingerprint, list(context), statement, commitments)
    total = Scalar(0)
    for branch in proof_doc:
        total = total + Scalar.from_hex(branch["c"])
    assert total == challenge
    return {
        "tag": tag,
        "fingerprint": fingerprint.hex(),
        "context": [describe_part(p) for p in context],
        "statement": [describe_part(p) for p in statement],
        "commitments": [describe_part(p) for p in commitments],
        "encoded_hex": data.hex(),
        "challenge": challenge.hex(),
        "proof": proof_doc,
        "note": "the sum of the proof's branch challenges c_j (mod l) equals the challenge",
    }


def _commitments(alpha: Point, beta: Point, key: Point, values, proof_doc: list) -> list[Point]:
    out = []
    for value, branch in zip(values, proof_doc):
        c, v = Scalar.from_hex(branch["c"]), Scalar.from_hex(branch["v"])
        out += [g_mul(v) - alpha * c, key * v - (beta - g_mul(Scalar(value))) * c]
    return out


def _challenges(manifest: Manifest, key: Point, fingerprint: bytes, ballot: EncryptedBallot) -> list[dict]:
    q = ballot.questions[0]
    s = q.selections[0]
    sel_doc = s.proof.to_json()
    selection = _challenge_example(
        SELECTION_KIND, fingerprint, selection_context(ballot.voter_id, 0, 0),
        [G, key, s.ciphertext.alpha, s.ciphertext.beta, [0, 1]],
        _commitments(s.ciphertext.alpha, s.ciphertext.beta, key, (0, 1), sel_doc), sel_doc,
    )
    total = q.total()
    values = list(manifest.questions[0].limit_values)
    lim_doc = q.limit_proof.to_json()
    limit = _challenge_example(
        LIMIT_KIND, fingerprint, limit_context(ballot.voter_id, 0),
        [G, key, total.alpha, total.beta, values],
        _commitments(total.alpha, total.beta, key, values, lim_doc), lim_doc,
    )
    selection["comment"] = f"{ballot.voter_id}: question 0, option 0, selection proof"
    limit["comment"] = f"{ballot.voter_id}: question 0, limit proof over the sum of its selections"
    return [selection, limit]


# --- ballots -----------------------------------------------------------------------


def _mutate(doc: dict, path: Sequence, change: Callable[[object], object]) -> dict:
    out = copy.deepcopy(doc)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = change(target[path[-1]])
    return out


def _bump_hex(value: str) -> str:
    return (Scalar.from_hex(value) + Scalar(1)).hex()


def _election(
    name: str,
    document: dict,
    voters: list[tuple[str, list[list[int]]]],
    invalid: Callable[..., list[tuple[str, str, dict]]],
) -> dict:
    manifest = Manifest.from_json(document)
    secret = joint_secret(manifest.election_id)
    key = g_mul(secret)
    fingerprint = election_fingerprint(manifest, key)
    fp_input = encode_parts("votingpilot/v1/election-fingerprint", canonical_json(document), key)
    assert hashlib.sha256(fp_input).digest() == fingerprint

    ballots, objects = [], []
    for voter_id, choices in voters:
        ballot, opening = encrypt_ballot(
            manifest, key, fingerprint, voter_id, choices, rng=CounterRng(f"{name}/{voter_id}")
        )
        verify_ballot(manifest, key, fingerprint, voter_id, ballot)
        assert verify_audit_opening(manifest, key, ballot, opening) == choices
        code = tracking_code(fingerprint, ballot)
        doc = ballot.to_json()
        case = {
            "comment": f"{voter_id} votes {choices}",
            "voter_id": voter_id,
            "choices": choices,
            "ballot": doc,
            "tracking_code": code.hex(),
            "tracking_code_short": format_tracking_code(code),
            "audit_opening": opening.to_json(),
            "valid": True,
        }
        if not ballots:  # the bytes the tracking code hashes, spelled out once
            canonical = canonical_json(doc)
            case["canonical_ballot_json"] = canonical.decode("utf-8")
            case["tracking_code_input_hex"] = encode_parts(
                "votingpilot/v1/tracking-code", fingerprint, canonical
            ).hex()
        ballots.append(case)
        objects.append(ballot)

    invalid_ballots = []
    for comment, expected_voter, bad_doc, error in invalid(manifest, key, fingerprint, ballots, objects):

        def check(d=bad_doc, v=expected_voter) -> None:
            verify_ballot(manifest, key, fingerprint, v, EncryptedBallot.from_json(d, manifest))

        invalid_ballots.append(_flagged({"comment": comment, "voter_id": expected_voter, "ballot": bad_doc}, check, error))

    first = ballots[0]
    opening_doc = first["audit_opening"]
    bad_openings = [
        ("a plaintext flipped", _mutate(opening_doc, ["selections", 0, 0, "m"], lambda m: 1 - m)),
        ("a randomness changed", _mutate(opening_doc, ["selections", 0, 0, "r"], _bump_hex)),
        ("randomness and plaintext of two options swapped",
         _mutate(opening_doc, ["selections", 0], lambda q: [q[1], q[0], *q[2:]])),
        ("an option missing", _mutate(opening_doc, ["selections", 0], lambda q: q[:-1])),
        ("a plaintext of 2", _mutate(opening_doc, ["selections", 0, 0, "m"], lambda m: 2)),
    ]
    openings = [{
        "comment": "the opening of the first ballot", "voter_id": first["voter_id"],
        "opening": opening_doc, "choices": first["choices"], "valid": True,
    }]
    for comment, doc in bad_openings:
        openings.append(_flagged(
            {"comment": comment, "voter_id": first["voter_id"], "opening": doc},
            lambda d=doc: verify_audit_opening(manifest, key, objects[0], AuditOpening.from_json(d)),
            "AuditOpeningError",
        ))

    totals = aggregate(manifest, objects)
    counts = [decrypt(secret, c, BOUND) for c in totals]
    flat = [m for _, choices in voters for m in [x for row in choices for x in row]]
    width = len(totals)
    assert counts == [sum(flat[i::width]) for i in range(width)]
    return {
        "name": name,
        "manifest": document,
        "canonical_manifest": canonical_json(document).decode("utf-8"),
        "joint_secret": secret.hex(),
        "joint_key": key.hex(),
        "fingerprint_input_hex": fp_input.hex(),
        "fingerprint": fingerprint.hex(),
        "challenges": _challenges(manifest, key, fingerprint, objects[0]),
        "ballots": ballots,
        "invalid_ballots": invalid_ballots,
        "audit_openings": openings,
        "aggregate": {
            "comment": "sum of the valid ballots, per option, question-major order",
            "ciphertexts": [c.to_json() for c in totals],
            "counts": counts,
        },
    }


def _invalid_1of5(manifest: Manifest, key: Point, fp: bytes, ballots: list[dict], objects) -> list:
    good = ballots[0]["ballot"]
    voter = ballots[0]["voter_id"]
    other = ballots[1]["ballot"]
    rng = CounterRng("invalid-1of5")
    sel = ["questions", 0, "selections"]
    cases: list[tuple[str, str, dict, str]] = []

    def forged(choices, **kw) -> dict:
        return forge_ballot(manifest, key, fp, voter, choices, rng, **kw).to_json()

    cases += [
        ("over-vote: all five options, with a limit proof over counts 0..5 (6 branches)",
         voter, forged([[1, 1, 1, 1, 1]], limit_values=lambda q: range(6)), "SelectionLimitError"),
        ("over-vote: all five options, with a one-branch limit proof honestly made for count 5",
         voter, forged([[1, 1, 1, 1, 1]], limit_values=lambda q: (5,)), "SelectionLimitError"),
        ("over-vote: two options, limit proof made for counts (2,)",
         voter, forged([[1, 1, 0, 0, 0]], limit_values=lambda q: (2,)), "SelectionLimitError"),
        ("under-vote: no option on a choose-exactly-1 question, limit proof made for (0,)",
         voter, forged([[0, 0, 0, 0, 0]], limit_values=lambda q: (0,)), "SelectionLimitError"),
        ("a selection encrypting 2 with a two-branch proof honestly made for the values (1, 2)",
         voter, forged([[2, 0, 0, 0, 0]], selection_values=(1, 2), limit_values=lambda q: (2,)),
         "SelectionProofError"),
        ("a selection encrypting 2 with a proof over (0, 1, 2) (3 branches)",
         voter, forged([[2, 0, 0, 0, 0]], selection_values=(0, 1, 2), limit_values=lambda q: (2,)),
         "SelectionProofError"),
        ("copied ballot: another voter's ballot with voter_id changed to this voter",
         "voter-0099", {**good, "voter_id": "voter-0099"}, "SelectionProofError"),
        ("a valid ballot presented for a different voter (voter_id mismatch)",
         "voter-0099", good, "BallotError"),
        ("ballot for another election id", voter, {**good, "election_id": "poll-2025-other"}, "BallotShapeError"),
        ("ballot made under another joint key (another fingerprint)", voter,
         forge_ballot(manifest, key + G, election_fingerprint(manifest, key + G), voter,
                      [[0, 0, 1, 0, 0]], rng).to_json(), "SelectionProofError"),
        ("ballot made for the right key but a different fingerprint", voter,
         forge_ballot(manifest, key, bytes(32), voter, [[0, 0, 1, 0, 0]], rng).to_json(),
         "SelectionProofError"),
        ("two selections swapped", voter,
         _mutate(good, sel, lambda s: [s[1], s[0], *s[2:]]), "SelectionProofError"),
        ("a selection's beta replaced by beta + G (now encrypts m + 1), proof unchanged", voter,
         _mutate(good, [*sel, 0, "beta"], lambda b: (Point.from_hex(b) + G).hex()), "SelectionProofError"),
        ("a selection proof's first challenge + 1", voter,
         _mutate(good, [*sel, 0, "proof", 0, "c"], _bump_hex), "SelectionProofError"),
        ("a selection proof's second response + 1", voter,
         _mutate(good, [*sel, 0, "proof", 1, "v"], _bump_hex), "SelectionProofError"),
        ("a selection proof's branches swapped", voter,
         _mutate(good, [*sel, 0, "proof"], lambda p: [p[1], p[0]]), "SelectionProofError"),
        ("the limit proof's response + 1", voter,
         _mutate(good, ["questions", 0, "limit_proof", 0, "v"], _bump_hex), "SelectionLimitError"),
        ("the limit proof taken from another ballot", voter,
         _mutate(good, ["questions", 0, "limit_proof"], lambda _: other["questions"][0]["limit_proof"]),
         "SelectionLimitError"),
        ("the limit proof with two branches (counts 1..2)", voter,
         _mutate(good, ["questions", 0, "limit_proof"], lambda p: p + p), "SelectionLimitError"),
        ("alpha is the identity", voter,
         _mutate(good, [*sel, 0, "alpha"], lambda _: "00" * 32), "IdentityPoint"),
        ("beta is the identity", voter,
         _mutate(good, [*sel, 0, "beta"], lambda _: "00" * 32), "IdentityPoint"),
        ("alpha with bit 255 set (non-canonical)", voter,
         _mutate(good, [*sel, 0, "alpha"], lambda a: a[:62] + format(int(a[62:], 16) | 0x80, "02x")),
         "InvalidPoint"),
        ("alpha not a valid encoding (RFC 9496 A.2, negative field element)", voter,
         _mutate(good, [*sel, 0, "alpha"], lambda _: "01" + "00" * 31), "InvalidPoint"),
        ("beta in uppercase hex", voter, _mutate(good, [*sel, 0, "beta"], str.upper), "InvalidPoint"),
        ("a proof scalar equal to the group order l", voter,
         _mutate(good, [*sel, 0, "proof", 0, "v"], lambda _: ORDER.to_bytes(32, "little").hex()),
         "InvalidScalar"),
        ("an option missing (4 selections)", voter, _mutate(good, sel, lambda s: s[:4]), "BallotShapeError"),
        ("an extra option (6 selections)", voter, _mutate(good, sel, lambda s: s + s[:1]), "BallotShapeError"),
        ("an extra question", voter, _mutate(good, ["questions"], lambda q: q + q), "BallotShapeError"),
        ("no questions", voter, {**good, "questions": []}, "BallotShapeError"),
        ("an extra field in the ballot", voter, {**good, "note": "x"}, "BallotShapeError"),
        ("an extra field in a selection", voter,
         _mutate(good, [*sel, 0], lambda s: {**s, "m": 1}), "BallotShapeError"),
        ("version 2", voter, {**good, "version": 2}, "BallotShapeError"),
        ("version true (a boolean is not the integer 1)", voter, {**good, "version": True}, "BallotShapeError"),
        ("an empty voter_id", voter, {**good, "voter_id": ""}, "BallotShapeError"),
    ]
    return cases


def _invalid_3x8(manifest: Manifest, key: Point, fp: bytes, ballots: list[dict], objects) -> list:
    voter = ballots[0]["voter_id"]
    rng = CounterRng("invalid-3x8")
    four = [[1, 1, 1, 1, 0, 0, 0, 0], [0] * 8, [0] * 8]
    return [
        ("over-vote: four options in question 0 (max 3), limit proof over 0..4", voter,
         forge_ballot(manifest, key, fp, voter, four, rng, limit_values=lambda q: range(5) if q == 0 else range(4)).to_json(),
         "SelectionLimitError"),
        ("over-vote: four options in question 0, a 4-branch proof made for counts 1..4", voter,
         forge_ballot(manifest, key, fp, voter, four, rng, limit_values=lambda q: range(1, 5) if q == 0 else range(4)).to_json(),
         "SelectionLimitError"),
        ("question 2's limit proof replaced by question 1's", voter,
         _mutate(ballots[0]["ballot"], ["questions", 2, "limit_proof"],
                 lambda _: ballots[0]["ballot"]["questions"][1]["limit_proof"]),
         "SelectionLimitError"),
        ("questions 0 and 1 swapped", voter,
         _mutate(ballots[0]["ballot"], ["questions"], lambda q: [q[1], q[0], q[2]]),
         "SelectionProofError"),
    ]


def generate() -> dict[str, object]:
    one = _election(
        "1-of-5",
        manifest_1of5(),
        [("voter-0001", [[0, 0, 1, 0, 0]]), ("voter-0002", [[1, 0, 0, 0, 0]]),
         ("voter-0003", [[0, 0, 1, 0, 0]]), ("voter-0004", [[0, 0, 0, 0, 1]])],
        _invalid_1of5,
    )
    three = _election(
        "3-questions-8-options-up-to-3",
        manifest_3x8(),
        [("voter-0101", [[1, 0, 1, 0, 0, 0, 1, 0], [0] * 8, [0, 0, 0, 0, 0, 0, 0, 1]]),
         ("voter-0102", [[1, 1, 0, 0, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0, 0, 0], [0] * 8])],
        _invalid_3x8,
    )
    document = {
        "description": (
            "Ballot vectors for the cryptographic core (specification: docs/parts/core.md). "
            "Points and scalars are 64 lowercase hex characters. For each election: the "
            "manifest and its canonical JSON, a fixed joint secret (test only) and key, the "
            "election fingerprint and the bytes it hashes, challenge computations spelled out, "
            "valid ballots with tracking codes and audit openings, invalid ballots and openings "
            "with the expected error (class name and stable code), and the aggregate with its "
            "decrypted counts. A ballot case is checked by decoding 'ballot' against the "
            "manifest and verifying it for 'voter_id'."
        ),
        "rng": {
            "description": (
                "every random scalar: hash_to_scalar(tag, seed, label, i) for i = 0, 1, ... "
                "(one stream per label: '<election>/<voter_id>' for valid ballots)"
            ),
            "tag": RNG_TAG,
            "seed_hex": SEED.hex(),
        },
        "tags": {
            "election_fingerprint": "votingpilot/v1/election-fingerprint",
            "tracking_code": "votingpilot/v1/tracking-code",
            "selection_proof": TAG_PREFIX + SELECTION_KIND,
            "limit_proof": TAG_PREFIX + LIMIT_KIND,
            "schnorr": TAG_PREFIX + "schnorr",
            "chaum_pedersen": TAG_PREFIX + "chaum-pedersen",
        },
        "encodings": _encoding_section(),
        "proofs": _proof_section(bytes.fromhex(one["fingerprint"])),
        "elections": [one, three],
    }
    return {"ballots.json": document}
