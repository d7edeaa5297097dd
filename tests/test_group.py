"""ristretto255 points and scalars (crypto/group.py) against RFC 9496 and the
project's own decoding rules; vectors in tests/vectors/ristretto255.json."""

from __future__ import annotations

import copy
import hashlib
import json
import pickle
from pathlib import Path

import pytest
import rbcl
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.errors import CryptoError, IdentityPoint, InvalidPoint, InvalidScalar
from crypto.group import IDENTITY, ORDER, G, Point, Scalar, g_mul, small_scalar, sum_columns
from tests.vectors import gen_group

VECTORS = json.loads((Path(__file__).parent / "vectors" / "ristretto255.json").read_text(encoding="utf-8"))

scalars = st.integers(min_value=0, max_value=ORDER - 1).map(Scalar)
nonzero_scalars = st.integers(min_value=1, max_value=ORDER - 1).map(Scalar)


def test_checked_in_vectors_equal_generator_output():
    generated = json.loads(json.dumps(gen_group.generate()["ristretto255.json"]))
    assert generated == VECTORS


# --- RFC 9496 Appendix A ----------------------------------------------------------------


@pytest.mark.parametrize("case", VECTORS["rfc9496_a1_generator_multiples"]["cases"], ids=lambda c: f"{c['k']}B")
def test_rfc9496_a1_multiples_of_the_generator(case):
    k, encoding = case["k"], case["encoding"]
    assert (G * Scalar(k)).hex() == encoding
    assert g_mul(small_scalar(k)).hex() == encoding
    repeated = IDENTITY
    for _ in range(k):
        repeated = repeated + G
    assert repeated.hex() == encoding
    # Every multiple decodes and re-encodes to itself (the identity only when allowed).
    assert Point.from_hex(encoding, allow_identity=True).hex() == encoding


def test_rfc9496_generator_is_the_conventional_one():
    assert G.hex() == VECTORS["rfc9496_a1_generator_multiples"]["cases"][1]["encoding"] == VECTORS["generator"]


@pytest.mark.parametrize(
    "case", VECTORS["rfc9496_a2_invalid_encodings"]["cases"], ids=lambda c: f"{c['reason']}:{c['encoding'][:8]}"
)
def test_rfc9496_a2_invalid_encodings_are_rejected(case):
    assert case["valid"] is False
    with pytest.raises(InvalidPoint) as info:
        Point.from_hex(case["encoding"], allow_identity=True)
    assert type(info.value).__name__ == case["error"]
    with pytest.raises(InvalidPoint):
        Point.from_bytes(bytes.fromhex(case["encoding"]), allow_identity=True)


def test_rfc9496_a2_covers_every_reason():
    reasons = {c["reason"] for c in VECTORS["rfc9496_a2_invalid_encodings"]["cases"]}
    assert reasons == {
        "non-canonical field encoding",
        "negative field element",
        "non-square x^2",
        "negative xy",
        "s = -1, which causes y = 0",
    }


@pytest.mark.parametrize("case", VECTORS["rfc9496_a3_from_uniform_bytes"]["cases"], ids=lambda c: c["input"][:8])
def test_rfc9496_a3_element_derivation(case):
    """libsodium's from_hash is the RFC's element derivation (Point.hash_to_group
    feeds it SHA-512 of a tagged input, so the raw function is tested here)."""
    uniform = bytes.fromhex(case["input"])
    if case["label"] is not None:
        assert hashlib.sha512(case["label"].encode("utf-8")).digest() == uniform
    assert rbcl.crypto_core_ristretto255_from_hash(uniform).hex() == case["output"]


def test_rfc9496_a3_has_the_seven_labels_and_the_four_colliding_inputs():
    cases = VECTORS["rfc9496_a3_from_uniform_bytes"]["cases"]
    assert sum(c["label"] is not None for c in cases) == 7
    colliding = [c for c in cases if c["label"] is None]
    assert len(colliding) == 4 and len({c["output"] for c in colliding}) == 1


@pytest.mark.parametrize("case", VECTORS["hash_to_group"]["cases"], ids=lambda c: c["data"][:8] or "empty")
def test_hash_to_group_vectors(case):
    data = bytes.fromhex(case["data"])
    tag = case["tag"].encode()
    assert hashlib.sha512(len(tag).to_bytes(4, "big") + tag + data).hexdigest() == case["uniform_bytes"]
    assert Point.hash_to_group(case["tag"], data).hex() == case["output"]


def test_hash_to_group_separates_tags():
    assert Point.hash_to_group("a", b"bc") != Point.hash_to_group("ab", b"c")


# --- project decoding rules ---------------------------------------------------------------


@pytest.mark.parametrize("case", VECTORS["point_decoding"]["cases"], ids=lambda c: c["comment"])
def test_point_decoding_cases(case):
    if case["valid"]:
        assert Point.from_hex(case["hex"], allow_identity=case["allow_identity"]).hex() == case["hex"]
    else:
        with pytest.raises(CryptoError) as info:
            Point.from_hex(case["hex"], allow_identity=case["allow_identity"])
        assert type(info.value).__name__ == case["error"]


@pytest.mark.parametrize("case", VECTORS["scalar_decoding"]["cases"], ids=lambda c: c["comment"])
def test_scalar_decoding_cases(case):
    if case["valid"]:
        scalar = Scalar.from_hex(case["hex"])
        assert scalar.value == int(case["value"]) and scalar.hex() == case["hex"]
    else:
        with pytest.raises(InvalidScalar):
            Scalar.from_hex(case["hex"])


def test_identity_refused_unless_allowed():
    with pytest.raises(IdentityPoint):
        Point.from_bytes(bytes(32))
    with pytest.raises(IdentityPoint):
        Point.from_hex("00" * 32)
    assert Point.from_bytes(bytes(32), allow_identity=True) is IDENTITY
    assert IDENTITY.is_identity() and not G.is_identity()


def test_identity_point_is_an_invalid_point_subclass():
    """Callers that catch InvalidPoint also catch the identity."""
    assert issubclass(IdentityPoint, InvalidPoint)


def test_bit_255_is_refused_even_though_libsodium_1_0_18_ignores_it():
    high = bytearray(G.to_bytes())
    high[31] |= 0x80
    assert rbcl.crypto_core_ristretto255_is_valid_point(bytes(high))  # the backend's gap
    with pytest.raises(InvalidPoint, match="bit 255"):
        Point.from_bytes(bytes(high))


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_point_wrong_length(length):
    with pytest.raises(InvalidPoint):
        Point.from_bytes(b"\x01" * length)


@pytest.mark.parametrize("value", [None, 3, "e2" * 32, ["x"]])
def test_point_from_bytes_wrong_type(value):
    with pytest.raises(InvalidPoint):
        Point.from_bytes(value)


@pytest.mark.parametrize("value", [None, 3, b"\x00" * 64])
def test_point_from_hex_wrong_type(value):
    with pytest.raises(InvalidPoint):
        Point.from_hex(value)


def test_point_constructor_is_closed():
    with pytest.raises(TypeError):
        Point(b"\x00" * 32)


# --- scalars ------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [31, 33, 0, 64])
def test_scalar_wrong_length_bytes(length):
    with pytest.raises(InvalidScalar):
        Scalar.from_bytes(b"\x01" * length)


def test_scalar_31_and_33_byte_hex():
    one = Scalar(1).hex()
    with pytest.raises(InvalidScalar):
        Scalar.from_hex(one[:62])
    with pytest.raises(InvalidScalar):
        Scalar.from_hex(one + "00")


@pytest.mark.parametrize("value", [ORDER, ORDER + 1, 2**256 - 1])
def test_scalar_not_below_order(value):
    with pytest.raises(InvalidScalar):
        Scalar.from_bytes(value.to_bytes(32, "little"))
    with pytest.raises(InvalidScalar):
        Scalar(value)


def test_scalar_largest_is_order_minus_one():
    assert Scalar.from_bytes((ORDER - 1).to_bytes(32, "little")).value == ORDER - 1


def test_scalar_uppercase_hex_rejected():
    text = Scalar(ORDER - 1).hex()
    assert text != text.upper()
    with pytest.raises(InvalidScalar, match="lowercase"):
        Scalar.from_hex(text.upper())


@pytest.mark.parametrize("text", ["zz" + "00" * 31, " " + "0" * 63, "0x" + "0" * 62, "０" * 64])
def test_scalar_non_hex_rejected(text):
    with pytest.raises(InvalidScalar):
        Scalar.from_hex(text)


@pytest.mark.parametrize("value", [-1, True, 1.0, "1", None])
def test_scalar_constructor_refuses_non_ints_and_negatives(value):
    with pytest.raises(InvalidScalar):
        Scalar(value)


def test_scalar_reduce_and_from_digest():
    assert Scalar.reduce(-1).value == ORDER - 1
    assert Scalar.reduce(ORDER + 5).value == 5
    digest = bytes(range(64))
    assert Scalar.from_digest(digest).value == int.from_bytes(digest, "little") % ORDER
    assert Scalar.from_digest(digest).to_bytes() == rbcl.crypto_core_ristretto255_scalar_reduce(digest)
    with pytest.raises(InvalidScalar):
        Scalar.from_digest(bytes(32))


def test_zero_has_no_inverse():
    with pytest.raises(InvalidScalar):
        Scalar(0).inverse()


def test_random_scalars_are_nonzero_and_distinct():
    values = {Scalar.random().value for _ in range(50)}
    assert 0 not in values and len(values) == 50


# --- arithmetic properties (hypothesis) -----------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(scalars, scalars, scalars)
def test_scalar_field_laws(a, b, c):
    assert a * (b + c) == a * b + a * c
    assert (a + b) + c == a + (b + c)
    assert a + b == b + a and a * b == b * a
    assert a - a == Scalar(0) and a + (-a) == Scalar(0)


@settings(max_examples=60, deadline=None)
@given(nonzero_scalars)
def test_scalar_inverse(a):
    assert a * a.inverse() == Scalar(1)
    assert a.inverse().inverse() == a


@settings(max_examples=40, deadline=None)
@given(scalars, scalars)
def test_base_multiplication_is_a_homomorphism(a, b):
    assert g_mul(a + b) == g_mul(a) + g_mul(b)
    assert g_mul(a - b) == g_mul(a) - g_mul(b)
    assert g_mul(a * b) == g_mul(a) * b == (G * b) * a


@settings(max_examples=30, deadline=None)
@given(nonzero_scalars, scalars, scalars)
def test_variable_base_distributes(p, a, b):
    point = g_mul(p)
    assert point * (a + b) == point * a + point * b
    assert a * point == point * a  # Scalar * Point reaches Point.__rmul__


@settings(max_examples=30, deadline=None)
@given(nonzero_scalars)
def test_point_negation_and_identity(a):
    point = g_mul(a)
    assert point + (-point) == IDENTITY
    assert point - point == IDENTITY
    assert point + IDENTITY == point
    assert point * Scalar(0) == IDENTITY
    assert IDENTITY * a == IDENTITY
    assert point * Scalar(ORDER - 1) == -point


@settings(max_examples=30, deadline=None)
@given(nonzero_scalars)
def test_point_round_trips_through_its_encoding(a):
    point = g_mul(a)
    assert Point.from_bytes(point.to_bytes()) == point
    assert Point.from_hex(point.hex()) == point
    assert hash(Point.from_hex(point.hex())) == hash(point)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(nonzero_scalars, min_size=3, max_size=3), max_size=6))
def test_sum_columns_matches_repeated_addition(rows):
    points = [[g_mul(s) for s in row] for row in rows]
    expected = [IDENTITY] * 3
    for row in points:
        expected = [e + p for e, p in zip(expected, row)]
    assert sum_columns(points, 3) == expected


def test_sum_columns_rejects_ragged_rows():
    with pytest.raises(ValueError):
        sum_columns([[G, G], [G]], 2)


# --- immutability and copying ------------------------------------------------------------------


def test_point_is_immutable():
    point = g_mul(Scalar(7))
    with pytest.raises(AttributeError):
        point.encoded = bytes(32)
    with pytest.raises(AttributeError):
        point.other = 1
    assert point == g_mul(Scalar(7))


def test_scalar_is_immutable():
    scalar = Scalar(7)
    with pytest.raises(AttributeError):
        scalar.value = 8
    assert scalar.value == 7


def test_arithmetic_returns_new_objects():
    a, b = Scalar(2), g_mul(Scalar(3))
    before = (a.value, b.encoded)
    _ = a + Scalar(1), b + G, -b, b * a
    assert (a.value, b.encoded) == before


@pytest.mark.parametrize("clone", [copy.copy, copy.deepcopy, lambda x: pickle.loads(pickle.dumps(x))])
def test_copy_and_pickle(clone):
    for value in (Scalar(12345), g_mul(Scalar(99)), IDENTITY):
        assert clone(value) == value


def test_mixed_type_operations_raise_type_error():
    with pytest.raises(TypeError):
        _ = G + Scalar(1)
    with pytest.raises(TypeError):
        _ = Scalar(1) + G
    with pytest.raises(TypeError):
        _ = G * 3


def test_equality_is_by_value_and_type():
    assert Scalar(1) != 1 and G.to_bytes() != G
    assert Scalar(0) == Scalar.from_bytes(bytes(32))
