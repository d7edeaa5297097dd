"""Exponential ElGamal (crypto/elgamal.py): round trips, the homomorphism the
tally relies on, and the bounded discrete log."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.elgamal import (
    ZERO,
    Ciphertext,
    KeyPair,
    add_all,
    decrypt,
    decrypt_with_share,
    discrete_log,
    encrypt,
    partial_decrypt,
)
from crypto.errors import DecryptionError, EncodingError, IdentityPoint, InvalidPoint
from crypto.group import IDENTITY, ORDER, G, Scalar, g_mul, small_scalar

KEY = KeyPair.generate()
randomness = st.integers(min_value=1, max_value=ORDER - 1).map(Scalar)
messages = st.integers(min_value=0, max_value=2000)


def test_keypair_public_matches_secret():
    assert KEY.public == g_mul(KEY.secret) and not KEY.secret.is_zero()


@settings(max_examples=50, deadline=None)
@given(messages, randomness)
def test_decrypt_inverts_encrypt(m, r):
    ct = encrypt(KEY.public, m, r)
    assert ct.alpha == g_mul(r)
    assert decrypt(KEY.secret, ct, 2000) == m


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(min_value=0, max_value=50), randomness), min_size=1, max_size=8))
def test_sum_of_ciphertexts_encrypts_sum_of_messages(items):
    cts = [encrypt(KEY.public, m, r) for m, r in items]
    total = add_all(cts)
    r_total = Scalar(0)
    for _, r in items:
        r_total = r_total + r
    assert decrypt(KEY.secret, total, 400) == sum(m for m, _ in items)
    # The sum is exactly the encryption of the sum under the summed randomness.
    if not r_total.is_zero():
        assert total == encrypt(KEY.public, sum(m for m, _ in items), r_total)


def test_add_all_of_nothing_is_zero_and_neutral():
    assert add_all([]) == ZERO
    ct = encrypt(KEY.public, 3, Scalar(5))
    assert ct + ZERO == ct
    assert decrypt(KEY.secret, ZERO, 10) == 0


def test_partial_decryption_share():
    ct = encrypt(KEY.public, 7, Scalar(11))
    share = partial_decrypt(KEY.secret, ct)
    assert share == ct.alpha * KEY.secret
    assert decrypt_with_share(ct, share, 10) == 7


def test_encryption_of_zero_has_no_identity():
    ct = encrypt(KEY.public, 0, Scalar(3))
    assert not ct.alpha.is_identity() and not ct.beta.is_identity()


def test_encrypt_refuses_zero_randomness_negative_and_non_int_messages():
    with pytest.raises(ValueError):
        encrypt(KEY.public, 1, Scalar(0))
    with pytest.raises(ValueError):
        encrypt(KEY.public, -1, Scalar(1))
    with pytest.raises(ValueError):
        encrypt(KEY.public, True, Scalar(1))
    with pytest.raises(ValueError):
        encrypt(KEY.public, 1.0, Scalar(1))


def test_encrypt_refuses_identity_public_key():
    """Under the identity key beta = g^m: the vote would be readable by anyone."""
    with pytest.raises(IdentityPoint):
        encrypt(IDENTITY, 1, Scalar(1))


# --- discrete log ---------------------------------------------------------------------------


@pytest.mark.parametrize("m", [0, 1, 2, 999, 1000, 1001, 999_999])
def test_discrete_log_small_values(m):
    assert discrete_log(g_mul(small_scalar(m)), 1_000_000) == m


def test_discrete_log_of_exactly_one_million():
    assert discrete_log(g_mul(small_scalar(1_000_000)), 1_000_000) == 1_000_000


def test_decrypt_one_million():
    ct = encrypt(KEY.public, 1_000_000, Scalar(123))
    assert decrypt(KEY.secret, ct, 1_000_000) == 1_000_000


def test_discrete_log_just_above_the_bound_fails():
    with pytest.raises(DecryptionError):
        discrete_log(g_mul(small_scalar(1_000_001)), 1_000_000)
    with pytest.raises(DecryptionError):
        discrete_log(g_mul(small_scalar(1_000_000)), 999_999)


@pytest.mark.parametrize("bound", [0, 1, 2, 3, 4, 15, 16, 17, 99, 100])
def test_discrete_log_bound_is_inclusive_for_every_bound_shape(bound):
    for m in range(bound + 1):
        assert discrete_log(g_mul(small_scalar(m)), bound) == m
    for m in (bound + 1, bound + 2, 2 * bound + 5):
        with pytest.raises(DecryptionError):
            discrete_log(g_mul(small_scalar(m)), bound)


def test_discrete_log_out_of_range_points():
    with pytest.raises(DecryptionError):
        discrete_log(G * Scalar(ORDER - 1), 1_000_000)  # g^-1
    with pytest.raises(DecryptionError):
        discrete_log(g_mul(Scalar.random()), 1_000_000)


def test_decrypt_out_of_bound_raises():
    ct = encrypt(KEY.public, 11, Scalar(9))
    with pytest.raises(DecryptionError):
        decrypt(KEY.secret, ct, 10)


def test_decrypt_with_wrong_key_raises():
    ct = encrypt(KEY.public, 1, Scalar(9))
    with pytest.raises(DecryptionError):
        decrypt(KeyPair.generate().secret, ct, 1000)


def test_negative_bound_is_a_programming_error():
    with pytest.raises(ValueError):
        discrete_log(G, -1)


# --- JSON ----------------------------------------------------------------------------------


def test_ciphertext_json_round_trip():
    ct = encrypt(KEY.public, 1, Scalar(42))
    assert Ciphertext.from_json(ct.to_json()) == ct


@pytest.mark.parametrize(
    "doc",
    [None, [], {"alpha": G.hex()}, {"alpha": G.hex(), "beta": G.hex(), "gamma": G.hex()},
     {"alpha": G.hex(), "beta": 5}],
)
def test_ciphertext_json_strict(doc):
    with pytest.raises(EncodingError):
        Ciphertext.from_json(doc)


def test_ciphertext_json_identity_only_when_allowed():
    doc = {"alpha": "00" * 32, "beta": G.hex()}
    with pytest.raises(IdentityPoint):
        Ciphertext.from_json(doc)
    assert Ciphertext.from_json(doc, allow_identity=True).alpha.is_identity()
    assert Ciphertext.from_json(ZERO.to_json(), allow_identity=True) == ZERO


def test_ciphertext_json_uppercase_refused():
    ct = encrypt(KEY.public, 1, Scalar(42)).to_json()
    with pytest.raises(InvalidPoint):
        Ciphertext.from_json({**ct, "beta": ct["beta"].upper()})
