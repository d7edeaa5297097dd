"""Zero-knowledge proofs (crypto/proofs.py): completeness, soundness against
single-field changes, strong Fiat-Shamir, and strict JSON decoding."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.elgamal import KeyPair, encrypt
from crypto.encoding import hash_to_scalar
from crypto.errors import BallotError, EncodingError, InvalidScalar, ProofError, SelectionLimitError
from crypto.group import ORDER, G, Point, Scalar, g_mul
from crypto.proofs import (
    ChaumPedersenProof,
    DisjunctiveProof,
    SchnorrProof,
    challenge,
    prove_encrypted_value,
    prove_equal_logs,
    prove_schnorr,
    verify_encrypted_value,
    verify_equal_logs,
    verify_schnorr,
)

FP = b"\x01" * 32
CTX = ("test", "voter-1", 3)
KEY = KeyPair.generate()
H = Point.hash_to_group("votingpilot/v1/test-base", b"h")

nonzero = st.integers(min_value=1, max_value=ORDER - 1).map(Scalar)


def _changed_bytes(data: bytes, position: int) -> bytes:
    raw = bytearray(data)
    raw[position % len(raw)] ^= 0x01
    return bytes(raw)


# --- Schnorr ---------------------------------------------------------------------------------


def test_schnorr_round_trip():
    secret = Scalar.random()
    proof = prove_schnorr(secret, fingerprint=FP, context=CTX)
    verify_schnorr(g_mul(secret), proof, fingerprint=FP, context=CTX)
    verify_schnorr(g_mul(secret), SchnorrProof.from_json(proof.to_json()), fingerprint=FP, context=CTX)


def test_schnorr_refuses_identity_public_key():
    proof = prove_schnorr(Scalar(0), fingerprint=FP)
    with pytest.raises(ProofError):
        verify_schnorr(g_mul(Scalar(0)), proof, fingerprint=FP)


@settings(max_examples=60, deadline=None)
@given(
    secret=nonzero,
    field=st.sampled_from(["c", "s", "public", "fingerprint", "context"]),
    delta=nonzero,
    position=st.integers(min_value=0, max_value=31),
)
def test_schnorr_any_single_change_fails(secret, field, delta, position):
    public = g_mul(secret)
    proof = prove_schnorr(secret, fingerprint=FP, context=CTX)
    args = {"public": public, "proof": proof, "fingerprint": FP, "context": CTX}
    if field == "c":
        args["proof"] = SchnorrProof(proof.challenge + delta, proof.response)
    elif field == "s":
        args["proof"] = SchnorrProof(proof.challenge, proof.response + delta)
    elif field == "public":
        args["public"] = public + g_mul(delta)
        if args["public"].is_identity():
            return
    elif field == "fingerprint":
        args["fingerprint"] = _changed_bytes(FP, position)
    else:
        args["context"] = (*CTX[:2], CTX[2] + 1 + position)
    with pytest.raises(ProofError):
        verify_schnorr(args["public"], args["proof"], fingerprint=args["fingerprint"], context=args["context"])


# --- Chaum-Pedersen --------------------------------------------------------------------------


def test_chaum_pedersen_round_trip():
    x = Scalar.random()
    proof = prove_equal_logs(x, G, H, fingerprint=FP, context=CTX)
    verify_equal_logs(G, g_mul(x), H, H * x, proof, fingerprint=FP, context=CTX)
    decoded = ChaumPedersenProof.from_json(proof.to_json())
    verify_equal_logs(G, g_mul(x), H, H * x, decoded, fingerprint=FP, context=CTX)


def test_chaum_pedersen_refuses_unequal_logs():
    x = Scalar.random()
    proof = prove_equal_logs(x, G, H, fingerprint=FP, context=CTX)
    with pytest.raises(ProofError):
        verify_equal_logs(G, g_mul(x), H, H * (x + Scalar(1)), proof, fingerprint=FP, context=CTX)


@settings(max_examples=80, deadline=None)
@given(
    x=nonzero,
    field=st.sampled_from(["c", "s", "base1", "a", "base2", "b", "fingerprint", "context"]),
    delta=nonzero,
    position=st.integers(min_value=0, max_value=31),
)
def test_chaum_pedersen_any_single_change_fails(x, field, delta, position):
    proof = prove_equal_logs(x, G, H, fingerprint=FP, context=CTX)
    statement = {"base1": G, "a": g_mul(x), "base2": H, "b": H * x}
    fingerprint, context = FP, CTX
    if field == "c":
        proof = ChaumPedersenProof(proof.challenge + delta, proof.response)
    elif field == "s":
        proof = ChaumPedersenProof(proof.challenge, proof.response + delta)
    elif field in statement:
        statement[field] = statement[field] + g_mul(delta)
    elif field == "fingerprint":
        fingerprint = _changed_bytes(FP, position)
    else:
        context = ("test", f"voter-{position + 2}", 3)
    with pytest.raises(ProofError):
        verify_equal_logs(
            statement["base1"], statement["a"], statement["base2"], statement["b"], proof,
            fingerprint=fingerprint, context=context,
        )


# --- Disjunctive (CDS) ------------------------------------------------------------------------


def _encrypted(m: int, values=(0, 1)):
    r = Scalar.random()
    ct = encrypt(KEY.public, m, r)
    proof = prove_encrypted_value(
        ct.alpha, ct.beta, r, m, KEY.public, values, kind="selection", fingerprint=FP, context=CTX
    )
    return ct, proof


@pytest.mark.parametrize("m", [0, 1])
def test_disjunctive_round_trip_bits(m):
    ct, proof = _encrypted(m)
    verify_encrypted_value(ct.alpha, ct.beta, KEY.public, (0, 1), proof, kind="selection", fingerprint=FP, context=CTX)
    decoded = DisjunctiveProof.from_json(proof.to_json(), 2)
    verify_encrypted_value(ct.alpha, ct.beta, KEY.public, (0, 1), decoded, kind="selection", fingerprint=FP, context=CTX)


@pytest.mark.parametrize("m", [0, 1, 2, 3])
def test_disjunctive_round_trip_range(m):
    values = (0, 1, 2, 3)
    ct, proof = _encrypted(m, values)
    verify_encrypted_value(ct.alpha, ct.beta, KEY.public, values, proof, kind="selection", fingerprint=FP, context=CTX)
    assert len(proof.branches) == 4


def test_disjunctive_prover_refuses_a_message_outside_the_values():
    r = Scalar.random()
    ct = encrypt(KEY.public, 2, r)
    with pytest.raises(ValueError):
        prove_encrypted_value(ct.alpha, ct.beta, r, 2, KEY.public, (0, 1), kind="selection", fingerprint=FP, context=CTX)


def test_disjunctive_values_come_from_the_verifier():
    """A proof honestly made for (1, 2) about an encryption of 2 is a valid
    proof of *that* statement, and fails against the verifier's (0, 1)."""
    ct, proof = _encrypted(2, (1, 2))
    verify_encrypted_value(ct.alpha, ct.beta, KEY.public, (1, 2), proof, kind="selection", fingerprint=FP, context=CTX)
    with pytest.raises(ProofError):
        verify_encrypted_value(ct.alpha, ct.beta, KEY.public, (0, 1), proof, kind="selection", fingerprint=FP, context=CTX)


def test_disjunctive_wrong_branch_count_uses_callers_error():
    ct, proof = _encrypted(1)
    with pytest.raises(SelectionLimitError):
        verify_encrypted_value(
            ct.alpha, ct.beta, KEY.public, (0, 1, 2), proof,
            kind="selection", fingerprint=FP, context=CTX, error=SelectionLimitError,
        )
    assert issubclass(SelectionLimitError, BallotError)


def test_disjunctive_kind_is_bound():
    ct, proof = _encrypted(1)
    with pytest.raises(ProofError):
        verify_encrypted_value(ct.alpha, ct.beta, KEY.public, (0, 1), proof, kind="selection-limit", fingerprint=FP, context=CTX)


@settings(max_examples=100, deadline=None)
@given(
    m=st.sampled_from([0, 1]),
    field=st.sampled_from(
        ["c0", "v0", "c1", "v1", "alpha", "beta", "key", "values", "fingerprint", "context", "swap"]
    ),
    delta=nonzero,
    position=st.integers(min_value=0, max_value=31),
)
def test_disjunctive_any_single_change_fails(m, field, delta, position):
    ct, proof = _encrypted(m)
    alpha, beta, key, values = ct.alpha, ct.beta, KEY.public, (0, 1)
    fingerprint, context = FP, CTX
    branches = [list(b) for b in proof.branches]
    if field[0] in "cv" and field[1:].isdigit():
        j, k = int(field[1]), 0 if field[0] == "c" else 1
        branches[j][k] = branches[j][k] + delta
    elif field == "swap":
        branches.reverse()
    elif field == "alpha":
        alpha = alpha + g_mul(delta)
    elif field == "beta":
        beta = beta + g_mul(delta)
    elif field == "key":
        key = key + g_mul(delta)
    elif field == "values":
        values = (0, 2) if m == 0 else (2, 1)  # the true branch intact, the other one moved
    elif field == "fingerprint":
        fingerprint = _changed_bytes(FP, position)
    else:
        context = (*CTX[:2], CTX[2] + 1 + position)
    tampered = DisjunctiveProof(tuple((c, v) for c, v in branches))
    with pytest.raises(ProofError):
        verify_encrypted_value(alpha, beta, key, values, tampered, kind="selection", fingerprint=fingerprint, context=context)


# --- strong versus weak Fiat-Shamir -------------------------------------------------------------


def _weak_challenge(commitments: list[Point]) -> Scalar:
    """Helios-style: the challenge hashes the commitments only."""
    return hash_to_scalar("weak-fiat-shamir", *commitments)


def _weak_verify(base1, a, base2, b, proof: ChaumPedersenProof) -> bool:
    c, s = proof.challenge, proof.response
    commitments = [base1 * s - a * c, base2 * s - b * c]
    return _weak_challenge(commitments) == c


def _forge_after_the_challenge():
    """Pick the commitments first, take the challenge, then solve for a
    statement (A, B) that satisfies the verification equations. The logs of
    A and B are unequal: the 'proven' statement is false."""
    y = Scalar.random()
    base2 = g_mul(y)  # a second base with a known log, only to check the result is false
    t1, t2, s = Scalar.random(), Scalar.random(), Scalar.random()
    commitments = [g_mul(t1), g_mul(t2)]
    c = _weak_challenge(commitments)
    c_inv = c.inverse()
    # Verification needs  G*s - A*c = T1  and  base2*s - B*c = T2.
    a = (g_mul(s) - commitments[0]) * c_inv
    b = (base2 * s - commitments[1]) * c_inv
    return G, a, base2, b, ChaumPedersenProof(c, s), y


def test_statement_chosen_after_the_challenge_passes_weak_fs_only():
    base1, a, base2, b, proof, y = _forge_after_the_challenge()
    # The statement is false: B != base2 * log_G(A), i.e. B != A * y.
    assert b != a * y
    assert _weak_verify(base1, a, base2, b, proof), "the weak check accepts the forgery"
    with pytest.raises(ProofError):
        verify_equal_logs(base1, a, base2, b, proof, fingerprint=FP, context=CTX)


def test_challenge_hashes_every_input():
    base = challenge("k", FP, CTX, [G], [H])
    assert challenge("k2", FP, CTX, [G], [H]) != base
    assert challenge("k", b"\x02" * 32, CTX, [G], [H]) != base
    assert challenge("k", FP, ("other",), [G], [H]) != base
    assert challenge("k", FP, CTX, [H], [H]) != base
    assert challenge("k", FP, CTX, [G], [G]) != base
    # Parts move between statement and commitments: still a different challenge.
    assert challenge("k", FP, CTX, [G, H], []) != challenge("k", FP, CTX, [G], [H])


# --- JSON strictness ------------------------------------------------------------------------------


GOOD_SCALAR = Scalar(0xABCDEF).hex()  # has hex letters, so .upper() changes it


@pytest.mark.parametrize(
    "doc",
    [
        None,
        [],
        {"c": GOOD_SCALAR},
        {"c": GOOD_SCALAR, "s": GOOD_SCALAR, "extra": GOOD_SCALAR},
        {"c": GOOD_SCALAR, "v": GOOD_SCALAR},
        {"c": GOOD_SCALAR.upper(), "s": GOOD_SCALAR},
        {"c": GOOD_SCALAR, "s": ORDER.to_bytes(32, "little").hex()},
        {"c": GOOD_SCALAR, "s": GOOD_SCALAR[:62]},
        {"c": GOOD_SCALAR, "s": 5},
    ],
)
def test_schnorr_and_chaum_pedersen_json_strict(doc):
    with pytest.raises(EncodingError):
        SchnorrProof.from_json(doc)
    with pytest.raises(EncodingError):
        ChaumPedersenProof.from_json(doc)


def test_scalar_errors_are_encoding_errors():
    with pytest.raises(InvalidScalar):
        SchnorrProof.from_json({"c": GOOD_SCALAR, "s": "ff" * 32})


@pytest.mark.parametrize(
    "doc, count",
    [
        (None, 2),
        ({"c": GOOD_SCALAR, "v": GOOD_SCALAR}, 1),
        ([{"c": GOOD_SCALAR, "v": GOOD_SCALAR}], 2),
        ([{"c": GOOD_SCALAR, "v": GOOD_SCALAR}] * 3, 2),
        ([{"c": GOOD_SCALAR, "s": GOOD_SCALAR}] * 2, 2),
        ([{"c": GOOD_SCALAR, "v": GOOD_SCALAR, "x": 1}] * 2, 2),
        ([{"c": GOOD_SCALAR}] * 2, 2),
        ([[GOOD_SCALAR, GOOD_SCALAR]] * 2, 2),
        ([{"c": GOOD_SCALAR, "v": "zz" * 32}] * 2, 2),
    ],
)
def test_disjunctive_json_strict(doc, count):
    with pytest.raises(EncodingError):
        DisjunctiveProof.from_json(doc, count)


def test_proof_json_is_lowercase_hex():
    _ct, proof = _encrypted(1)
    for branch in proof.to_json():
        assert set(branch) == {"c", "v"}
        for value in branch.values():
            assert value == value.lower() and len(value) == 64
