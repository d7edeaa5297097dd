"""The ristretto255 group (RFC 9496) through libsodium, via the ``rbcl`` wheel.

This is the only module that talks to the backend, so it can be swapped.
``Point`` and ``Scalar`` are immutable and always valid: decoding raises on
non-canonical bytes, and the identity is refused unless the caller asks for it
(it is a valid encoding, but a public key, commitment or ciphertext component
that is the identity would break a proof's soundness or reveal a vote).

Encodings (see docs/protocol.md, "Encodings"): a point is its 32-byte RFC 9496
encoding; a scalar is 32 bytes little-endian, strictly below ``ORDER``. In JSON
both are 64 lowercase hex characters.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Iterable, Sequence

import rbcl

from crypto.errors import IdentityPoint, InvalidPoint, InvalidScalar

#: The prime order of ristretto255, l = 2^252 + 27742317777372353535851937790883648493.
ORDER = 2**252 + 27742317777372353535851937790883648493

_IDENTITY_BYTES = bytes(32)
_HEX64 = re.compile(r"[0-9a-f]{64}")


def _hex_to_bytes(text: str, what: type) -> bytes:
    """Exactly 64 lowercase hex digits (``bytes.fromhex`` alone would also
    accept uppercase and skip whitespace)."""
    if not isinstance(text, str) or len(text) != 64:
        raise what(f"expected 64 hex characters, got {_describe(text)}")
    if not _HEX64.fullmatch(text):
        if _HEX64.fullmatch(text.lower()):
            raise what("hex must be lowercase")
        raise what("not hexadecimal")
    return bytes.fromhex(text)


def _describe(value: object) -> str:
    if isinstance(value, (str, bytes)):
        return f"{type(value).__name__} of length {len(value)}"
    return type(value).__name__


class Scalar:
    """An integer modulo ``ORDER``. Arithmetic is modular."""

    __slots__ = ("value",)
    value: int

    def __init__(self, value: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidScalar(f"scalar must be an int, got {type(value).__name__}")
        if not 0 <= value < ORDER:
            raise InvalidScalar("scalar out of range [0, ORDER)")
        object.__setattr__(self, "value", value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Scalar is immutable")

    def __reduce__(self) -> tuple[type[Scalar], tuple[int]]:
        # copy, deepcopy and pickle go through the validating constructor.
        return (Scalar, (self.value,))

    # -- construction ---------------------------------------------------------------

    @classmethod
    def reduce(cls, value: int) -> Scalar:
        """``value mod ORDER``, for any integer (negative ones included)."""
        return cls(value % ORDER)

    @classmethod
    def random(cls) -> Scalar:
        """Uniform in [1, ORDER): never zero, so it is always usable as a secret."""
        return cls(secrets.randbelow(ORDER - 1) + 1)

    @classmethod
    def from_bytes(cls, data: bytes) -> Scalar:
        """Decode 32 little-endian bytes; values not below ``ORDER`` are refused."""
        if not isinstance(data, (bytes, bytearray)) or len(data) != 32:
            raise InvalidScalar(f"scalar must be 32 bytes, got {_describe(data)}")
        value = int.from_bytes(data, "little")
        if value >= ORDER:
            raise InvalidScalar("non-canonical scalar (not below the group order)")
        return cls(value)

    @classmethod
    def from_hex(cls, text: str) -> Scalar:
        return cls.from_bytes(_hex_to_bytes(text, InvalidScalar))

    @classmethod
    def from_digest(cls, digest: bytes) -> Scalar:
        """Wide reduction of a 64-byte hash output (as libsodium's scalar_reduce)."""
        if len(digest) != 64:
            raise InvalidScalar("wide reduction needs 64 bytes")
        return cls(int.from_bytes(digest, "little") % ORDER)

    # -- encoding -------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        return self.value.to_bytes(32, "little")

    def hex(self) -> str:
        return self.to_bytes().hex()

    # -- arithmetic -----------------------------------------------------------------

    # Operands of another type give NotImplemented, so that ``scalar * point``
    # reaches ``Point.__rmul__``.

    def __add__(self, other: Scalar) -> Scalar:
        if not isinstance(other, Scalar):
            return NotImplemented
        return Scalar((self.value + other.value) % ORDER)

    def __sub__(self, other: Scalar) -> Scalar:
        if not isinstance(other, Scalar):
            return NotImplemented
        return Scalar((self.value - other.value) % ORDER)

    def __mul__(self, other: Scalar) -> Scalar:
        if not isinstance(other, Scalar):
            return NotImplemented
        return Scalar((self.value * other.value) % ORDER)

    def __neg__(self) -> Scalar:
        return Scalar((-self.value) % ORDER)

    def inverse(self) -> Scalar:
        if self.value == 0:
            raise InvalidScalar("zero has no inverse")
        return Scalar(pow(self.value, -1, ORDER))

    def is_zero(self) -> bool:
        return self.value == 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Scalar) and secrets.compare_digest(
            self.to_bytes(), other.to_bytes()
        )

    def __hash__(self) -> int:
        return hash(("Scalar", self.value))

    def __repr__(self) -> str:
        return f"Scalar({self.hex()[:16]}…)"


class Point:
    """A ristretto255 group element, held as its canonical 32-byte encoding."""

    __slots__ = ("encoded",)
    encoded: bytes

    def __init__(self, *_: object) -> None:  # pragma: no cover - guard
        raise TypeError("use Point.from_bytes, Point.from_hex, or group operations")

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Point is immutable")

    def __reduce__(self) -> tuple[Callable[[bytes], Point], tuple[bytes]]:
        # copy, deepcopy and pickle re-validate the encoding.
        return (_point_from_encoding, (self.encoded,))

    @classmethod
    def _trusted(cls, encoded: bytes) -> Point:
        """Wrap bytes that libsodium itself produced (already canonical)."""
        point = object.__new__(cls)
        object.__setattr__(point, "encoded", encoded)
        return point

    @classmethod
    def from_bytes(cls, data: bytes, *, allow_identity: bool = False) -> Point:
        """Decode and validate; the identity only with ``allow_identity=True``."""
        if not isinstance(data, (bytes, bytearray)) or len(data) != 32:
            raise InvalidPoint(f"point must be 32 bytes, got {_describe(data)}")
        data = bytes(data)
        if data == _IDENTITY_BYTES:
            if allow_identity:
                return IDENTITY
            raise IdentityPoint("the identity element is not allowed here")
        if data[31] & 0x80:
            # RFC 9496 4.3.1: the 32 bytes are a field element below p < 2^255.
            # libsodium 1.0.18 (the one rbcl bundles) ignores bit 255 instead of
            # refusing it, which would give every element a second encoding.
            raise InvalidPoint("non-canonical encoding (bit 255 set)")
        if not rbcl.crypto_core_ristretto255_is_valid_point(data):
            raise InvalidPoint("not a canonical ristretto255 encoding")
        return cls._trusted(data)

    @classmethod
    def from_hex(cls, text: str, *, allow_identity: bool = False) -> Point:
        return cls.from_bytes(_hex_to_bytes(text, InvalidPoint), allow_identity=allow_identity)

    @classmethod
    def random(cls) -> Point:
        """A uniformly random element (nobody knows its discrete log)."""
        return cls._trusted(rbcl.crypto_core_ristretto255_random())

    @classmethod
    def hash_to_group(cls, tag: str, data: bytes) -> Point:
        """RFC 9496 element derivation from 64 uniform bytes (SHA-512 of tag and data)."""
        digest = hashlib.sha512(_tagged(tag) + data).digest()
        encoded = rbcl.crypto_core_ristretto255_from_hash(digest)
        if encoded == _IDENTITY_BYTES:  # pragma: no cover - probability ~2^-252
            raise IdentityPoint("hash_to_group produced the identity")
        return cls._trusted(encoded)

    def to_bytes(self) -> bytes:
        return self.encoded

    def hex(self) -> str:
        return self.encoded.hex()

    def is_identity(self) -> bool:
        return self.encoded == _IDENTITY_BYTES

    def __add__(self, other: Point) -> Point:
        if not isinstance(other, Point):
            return NotImplemented
        return Point._trusted(rbcl.crypto_core_ristretto255_add(self.encoded, other.encoded))

    def __sub__(self, other: Point) -> Point:
        if not isinstance(other, Point):
            return NotImplemented
        return Point._trusted(rbcl.crypto_core_ristretto255_sub(self.encoded, other.encoded))

    def __neg__(self) -> Point:
        return IDENTITY - self

    def __mul__(self, scalar: Scalar) -> Point:
        """Scalar multiplication; zero scalar or identity point give the identity."""
        if not isinstance(scalar, Scalar):
            return NotImplemented
        if scalar.value == 0 or self.encoded == _IDENTITY_BYTES:
            return IDENTITY
        if self.encoded == _BASE_BYTES:
            return Point._trusted(rbcl.crypto_scalarmult_ristretto255_base(scalar.to_bytes()))
        return Point._trusted(rbcl.crypto_scalarmult_ristretto255(scalar.to_bytes(), self.encoded))

    __rmul__ = __mul__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and secrets.compare_digest(self.encoded, other.encoded)

    def __hash__(self) -> int:
        return hash(("Point", self.encoded))

    def __repr__(self) -> str:
        return f"Point({self.hex()[:16]}…)"


def _point_from_encoding(encoded: bytes) -> Point:
    return Point.from_bytes(encoded, allow_identity=True)


def _tagged(tag: str) -> bytes:
    raw = tag.encode("utf-8")
    return len(raw).to_bytes(4, "big") + raw


_BASE_BYTES = rbcl.crypto_scalarmult_ristretto255_base(b"\x01" + bytes(31))
IDENTITY = Point._trusted(_IDENTITY_BYTES)
#: The generator of ristretto255: the B of RFC 9496 (its encoding is Appendix A.1's 1*B).
G = Point._trusted(_BASE_BYTES)


def g_mul(scalar: Scalar) -> Point:
    """g^scalar (fixed-base multiplication)."""
    return G * scalar


def sum_columns(rows: Iterable[Sequence[Point]], width: int) -> list[Point]:
    """Column-wise sums of many rows of points (the tally's inner loop).

    Works on encodings directly: one libsodium addition per point and no
    intermediate objects, since aggregation dominates the tally's cost.
    """
    add = rbcl.crypto_core_ristretto255_add
    totals = [_IDENTITY_BYTES] * width
    for row in rows:
        if len(row) != width:
            raise ValueError(f"expected rows of {width} points")
        totals = [add(t, p.encoded) for t, p in zip(totals, row)]
    return [Point._trusted(t) for t in totals]


def small_scalar(n: int) -> Scalar:
    """A scalar from a (possibly negative) small integer such as a vote count."""
    return Scalar.reduce(n)
