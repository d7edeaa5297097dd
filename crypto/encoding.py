"""The canonical byte encodings that are hashed or signed (docs/protocol.md, "Encodings").

Two encodings, each used for one purpose:

* ``encode_parts`` – the input of every Fiat-Shamir challenge and other hash:
  a sequence of typed, length-prefixed parts, so no two different statements
  share an encoding.
* ``canonical_json`` – JSON documents that are hashed or signed (manifests,
  board entries, tree heads): the RFC 8785 (JCS) form restricted to objects,
  arrays, strings, integers, booleans and null. Floats are refused so that the
  Python and JavaScript sides produce the same bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from crypto.errors import EncodingError
from crypto.group import Point, Scalar

# One-byte type tags of encode_parts.
_TAG_BYTES = b"B"
_TAG_TEXT = b"T"
_TAG_INT = b"I"
_TAG_POINT = b"P"
_TAG_SCALAR = b"S"
_TAG_LIST = b"L"

Part = bytes | str | int | Point | Scalar | list["Part"] | tuple["Part", ...]


def encode_parts(*parts: Part) -> bytes:
    """Typed, length-prefixed concatenation: tag (1 byte) | length (4 bytes BE) | payload.

    Integers are non-negative and at most 64 bits, encoded as 8 bytes big-endian.
    A list's length field is its item count, followed by its encoded items.
    """
    out = bytearray()
    for part in parts:
        _encode_one(part, out)
    return bytes(out)


def _encode_one(part: Part, out: bytearray) -> None:
    if isinstance(part, Point):
        out += _TAG_POINT + (32).to_bytes(4, "big") + part.to_bytes()
    elif isinstance(part, Scalar):
        out += _TAG_SCALAR + (32).to_bytes(4, "big") + part.to_bytes()
    elif isinstance(part, (bytes, bytearray)):
        out += _TAG_BYTES + _length(len(part)) + bytes(part)
    elif isinstance(part, str):
        raw = _utf8(part)
        out += _TAG_TEXT + _length(len(raw)) + raw
    elif isinstance(part, bool):
        raise EncodingError("booleans are not encodable parts")
    elif isinstance(part, int):
        if not 0 <= part < 2**64:
            raise EncodingError("integer part out of range [0, 2^64)")
        out += _TAG_INT + (8).to_bytes(4, "big") + part.to_bytes(8, "big")
    elif isinstance(part, (list, tuple)):
        out += _TAG_LIST + _length(len(part))
        for item in part:
            _encode_one(item, out)
    else:
        raise EncodingError(f"cannot encode {type(part).__name__}")


def _length(n: int) -> bytes:
    if n >= 2**32:
        raise EncodingError("part too long for a 4-byte length")
    return n.to_bytes(4, "big")


def _utf8(text: str) -> bytes:
    """UTF-8 of a string; lone surrogates (which JSON's \\ud800 escapes can
    produce) have no UTF-8 form and are refused."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise EncodingError("text is not valid Unicode (lone surrogate)") from None


def hash_parts(tag: str, *parts: Part) -> bytes:
    """SHA-512 over the domain tag and the parts (64 bytes)."""
    return hashlib.sha512(encode_parts(tag, *parts)).digest()


def hash_to_scalar(tag: str, *parts: Part) -> Scalar:
    """A challenge or derived scalar: wide reduction of ``hash_parts``."""
    return Scalar.from_digest(hash_parts(tag, *parts))


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def canonical_json(value: object) -> bytes:
    """RFC 8785 JSON for the float-free subset: sorted keys, no spaces, UTF-8."""
    _check_json_subset(value)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _check_json_subset(value: object) -> None:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        _utf8(value)
        return
    if isinstance(value, int):
        if abs(value) > 2**53 - 1:
            raise EncodingError("integers in canonical JSON must be within ±(2^53-1)")
        return
    if isinstance(value, float):
        raise EncodingError("floats are not allowed in canonical JSON")
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_json_subset(item)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not key.isascii():
                # ASCII keys sort the same by code point (Python) and by UTF-16
                # unit (RFC 8785), so both sides agree on the order.
                raise EncodingError("JSON object keys must be ASCII strings")
            _check_json_subset(item)
        return
    raise EncodingError(f"{type(value).__name__} is not JSON")


def points_from_hex(items: Iterable[str], *, allow_identity: bool = False) -> list[Point]:
    return [Point.from_hex(item, allow_identity=allow_identity) for item in items]
