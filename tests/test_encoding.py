"""Canonical encodings (crypto/encoding.py): encode_parts is injective, and
canonical_json is RFC 8785 on the float-free subset both sides agree on."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.encoding import canonical_json, encode_parts, hash_parts, hash_to_scalar, points_from_hex
from crypto.errors import EncodingError, IdentityPoint
from crypto.group import ORDER, G, Point, Scalar
from tests.vectors.gen_ballots import parse_part

VECTORS = json.loads((Path(__file__).parent / "vectors" / "ballots.json").read_text(encoding="utf-8"))["encodings"]


# --- encode_parts --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "left, right",
    [
        (("ab", "c"), ("a", "bc")),
        ((b"ab", b"c"), (b"a", b"bc")),
        ((b"ab",), ("ab",)),
        (("",), (b"",)),
        (([],), ("",)),
        (([1, [2]],), ([[1], 2],)),
        (([1, 2],), (1, 2)),
        (([[]],), ([], [])),
        ((["a", "b"],), (["ab"],)),
        ((1,), (b"\x00" * 7 + b"\x01",)),
        ((G,), (G.to_bytes(),)),
        ((Scalar(1),), (Scalar(1).to_bytes(),)),
        ((Scalar(1),), (1,)),
        ((G,), (Scalar.from_bytes(G.to_bytes()[:31] + b"\x00"),)),
        (("a", ["b"]), (["a", "b"],)),
        ((), ("",)),
    ],
)
def test_encode_parts_separates_tricky_pairs(left, right):
    assert encode_parts(*left) != encode_parts(*right)


def test_encode_parts_byte_layout():
    assert encode_parts("ab") == b"T" + (2).to_bytes(4, "big") + b"ab"
    assert encode_parts(b"\x01") == b"B\x00\x00\x00\x01\x01"
    assert encode_parts(5) == b"I\x00\x00\x00\x08" + (5).to_bytes(8, "big")
    assert encode_parts(G) == b"P\x00\x00\x00\x20" + G.to_bytes()
    assert encode_parts(Scalar(1)) == b"S\x00\x00\x00\x20" + (1).to_bytes(32, "little")
    assert encode_parts([1, "x"]) == b"L\x00\x00\x00\x02" + encode_parts(1) + encode_parts("x")
    assert encode_parts((1, "x")) == encode_parts([1, "x"])
    assert encode_parts("投") == b"T\x00\x00\x00\x03" + "投".encode()
    assert encode_parts() == b""


parts = st.recursive(
    st.one_of(
        st.binary(max_size=8),
        st.text(max_size=8),
        st.integers(min_value=0, max_value=2**64 - 1),
    ),
    lambda inner: st.lists(inner, max_size=4),
    max_leaves=12,
)


def _decode(data: bytes) -> list:
    """A parser for encode_parts output: if it exists and is total, the
    encoding is injective (decode(encode(x)) == x)."""
    out, pos = [], 0

    def one(pos: int):
        tag, length = data[pos : pos + 1], int.from_bytes(data[pos + 1 : pos + 5], "big")
        pos += 5
        if tag == b"L":
            items = []
            for _ in range(length):
                item, pos = one(pos)
                items.append(item)
            return items, pos
        payload = data[pos : pos + length]
        assert len(payload) == length
        pos += length
        if tag == b"B":
            return payload, pos
        if tag == b"T":
            return payload.decode("utf-8"), pos
        if tag == b"I":
            assert length == 8
            return int.from_bytes(payload, "big"), pos
        raise AssertionError(tag)

    while pos < len(data):
        item, pos = one(pos)
        out.append(item)
    return out


def _normalise(value):
    if isinstance(value, tuple):
        return [_normalise(v) for v in value]
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


@settings(max_examples=200, deadline=None)
@given(st.lists(parts, max_size=5))
def test_encode_parts_is_injective(items):
    assert _decode(encode_parts(*items)) == _normalise(items)


@settings(max_examples=200, deadline=None)
@given(st.lists(parts, max_size=4), st.lists(parts, max_size=4))
def test_encode_parts_distinct_inputs_distinct_bytes(a, b):
    if _normalise(a) != _normalise(b):
        assert encode_parts(*a) != encode_parts(*b)


@pytest.mark.parametrize("bad", [-1, 2**64, True, False, 1.0, None, {"a": 1}, {1}, "\ud800", object()])
def test_encode_parts_refuses(bad):
    with pytest.raises(EncodingError):
        encode_parts(bad)
    with pytest.raises(EncodingError):
        encode_parts([bad])


def test_integer_bounds_inclusive():
    assert encode_parts(0)[-8:] == bytes(8)
    assert encode_parts(2**64 - 1)[-8:] == b"\xff" * 8


# --- hashing ---------------------------------------------------------------------------------


def test_hash_parts_is_sha512_of_tag_and_parts():
    assert hash_parts("t", "x", 1) == hashlib.sha512(encode_parts("t", "x", 1)).digest()


def test_hash_to_scalar_is_wide_reduction():
    digest = hash_parts("t", b"data")
    assert hash_to_scalar("t", b"data").value == int.from_bytes(digest, "little") % ORDER


def test_hash_to_scalar_depends_on_tag_and_part_boundaries():
    assert hash_to_scalar("ta", "g") != hash_to_scalar("t", "ag")
    assert hash_to_scalar("t", "ab", "c") != hash_to_scalar("t", "a", "bc")


# --- canonical_json ---------------------------------------------------------------------------


def test_canonical_json_key_order_and_spacing():
    assert canonical_json({"b": 1, "a": [True, None, "x"], "B": {"d": 1, "c": 2}}) == (
        b'{"B":{"c":2,"d":1},"a":[true,null,"x"],"b":1}'
    )


def test_canonical_json_independent_of_insertion_order():
    assert canonical_json({"a": 1, "b": 2}) == canonical_json({"b": 2, "a": 1})


def test_canonical_json_keeps_unicode_literal_and_escapes_controls():
    assert canonical_json({"t": "投票\n\u0001\"\\/"}) == '{"t":"投票\\n\\u0001\\"\\\\/"}'.encode()


@pytest.mark.parametrize("value", [1.5, 1.0, float("nan"), float("inf"), -0.0, [0.5], {"a": 2.0}])
def test_canonical_json_refuses_floats(value):
    with pytest.raises(EncodingError):
        canonical_json(value)


@pytest.mark.parametrize("key", ["投票", "é", "Ω"])
def test_canonical_json_refuses_non_ascii_keys(key):
    with pytest.raises(EncodingError):
        canonical_json({key: 1})


@pytest.mark.parametrize("key", [1, None, ("a",)])
def test_canonical_json_refuses_non_string_keys(key):
    with pytest.raises(EncodingError):
        canonical_json({key: 1})


@pytest.mark.parametrize("value", [2**53, -(2**53), 10**30, [2**63]])
def test_canonical_json_refuses_huge_ints(value):
    with pytest.raises(EncodingError):
        canonical_json(value)


def test_canonical_json_accepts_the_largest_safe_ints():
    assert canonical_json([2**53 - 1, -(2**53 - 1)]) == b"[9007199254740991,-9007199254740991]"


@pytest.mark.parametrize("value", [b"bytes", {1, 2}, object(), G, "\ud800", {"a": "\udfff"}])
def test_canonical_json_refuses_non_json(value):
    with pytest.raises(EncodingError):
        canonical_json(value)


json_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.text(max_size=6),
        st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(alphabet=st.characters(max_codepoint=127), max_size=4), inner, max_size=4),
    ),
    max_leaves=15,
)


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_canonical_json_round_trips_and_is_idempotent(value):
    try:
        text = canonical_json(value)
    except EncodingError:
        return  # a lone surrogate drawn by hypothesis
    assert json.loads(text) == value
    assert canonical_json(json.loads(text)) == text


def test_points_from_hex():
    assert points_from_hex([G.hex()]) == [G]
    with pytest.raises(IdentityPoint):
        points_from_hex(["00" * 32])
    assert points_from_hex(["00" * 32], allow_identity=True)[0].is_identity()


# --- the shared vectors (also checked by the browser) -------------------------------------------


@pytest.mark.parametrize("case", VECTORS["encode_parts"]["cases"], ids=lambda c: c["comment"])
def test_encode_parts_vectors(case):
    if case["valid"]:
        assert encode_parts(*[parse_part(p) for p in case["parts"]]).hex() == case["hex"]
    else:
        with pytest.raises(EncodingError):
            encode_parts(*[parse_part(p) for p in case["parts"]])


@pytest.mark.parametrize("case", VECTORS["hash_to_scalar"]["cases"], ids=lambda c: c["encoded_hex"][:20])
def test_hash_to_scalar_vectors(case):
    parts_ = [parse_part(p) for p in case["parts"]]
    assert encode_parts(case["tag"], *parts_).hex() == case["encoded_hex"]
    assert hashlib.sha512(bytes.fromhex(case["encoded_hex"])).hexdigest() == case["sha512_hex"]
    assert hash_to_scalar(case["tag"], *parts_).hex() == case["scalar_hex"]


@pytest.mark.parametrize("case", VECTORS["canonical_json"]["cases"], ids=lambda c: c["comment"])
def test_canonical_json_vectors(case):
    value = json.loads(case["input_json"])
    if case["valid"]:
        assert canonical_json(value).decode("utf-8") == case["canonical"]
        assert canonical_json(value).hex() == case["canonical_hex"]
    else:
        with pytest.raises(EncodingError):
            canonical_json(value)


def test_point_part_is_the_canonical_encoding():
    point = Point.from_hex(G.hex())
    assert encode_parts(point)[5:] == G.to_bytes()
