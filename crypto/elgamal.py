"""Exponential ElGamal over ristretto255 (docs/protocol.md, "ElGamal").

A message m is encrypted as (alpha, beta) = (g^r, g^m K^r). Ciphertexts add
component-wise, which adds their messages: the tally is the sum of the ballots,
decrypted once, and no single ballot is ever decrypted.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass

from crypto.errors import DecryptionError, EncodingError, IdentityPoint
from crypto.group import IDENTITY, G, Point, Scalar, g_mul, small_scalar


@dataclass(frozen=True, slots=True)
class KeyPair:
    secret: Scalar
    """s in the spec"""
    public: Point
    """K = g^s"""

    @classmethod
    def generate(cls) -> KeyPair:
        secret = Scalar.random()
        return cls(secret, g_mul(secret))


@dataclass(frozen=True, slots=True)
class Ciphertext:
    alpha: Point
    """g^r"""
    beta: Point
    """g^m K^r"""

    def __add__(self, other: Ciphertext) -> Ciphertext:
        return Ciphertext(self.alpha + other.alpha, self.beta + other.beta)

    def to_json(self) -> dict[str, str]:
        return {"alpha": self.alpha.hex(), "beta": self.beta.hex()}

    @classmethod
    def from_json(cls, doc: object, *, allow_identity: bool = False) -> Ciphertext:
        """Decode a ciphertext; a ballot's must not contain the identity, an
        aggregate's may (the sum of no ballots is the identity)."""
        if not isinstance(doc, dict) or set(doc) != {"alpha", "beta"}:
            raise EncodingError("a ciphertext is an object with exactly 'alpha' and 'beta'")
        return cls(
            Point.from_hex(doc["alpha"], allow_identity=allow_identity),
            Point.from_hex(doc["beta"], allow_identity=allow_identity),
        )


#: The encryption of zero with zero randomness: the neutral element of addition.
ZERO = Ciphertext(IDENTITY, IDENTITY)


def encrypt(public_key: Point, message: int, randomness: Scalar) -> Ciphertext:
    """Encrypt a small non-negative integer with explicit randomness r != 0.

    The identity as public key would make beta = g^m: the vote in the clear.
    """
    if public_key.is_identity():
        raise IdentityPoint("the public key must not be the identity")
    if randomness.is_zero():
        raise ValueError("encryption randomness must not be zero")
    if not isinstance(message, int) or isinstance(message, bool) or message < 0:
        raise ValueError("exponential ElGamal encrypts non-negative integers")
    return Ciphertext(g_mul(randomness), g_mul(small_scalar(message)) + public_key * randomness)


def add_all(ciphertexts: Iterable[Ciphertext]) -> Ciphertext:
    """Homomorphic sum (ZERO for an empty iterable)."""
    total = ZERO
    for c in ciphertexts:
        total = total + c
    return total


def partial_decrypt(secret: Scalar, ciphertext: Ciphertext) -> Point:
    """A key holder's decryption share alpha^s (or alpha^{s_i} for a trustee)."""
    return ciphertext.alpha * secret


def decrypt_with_share(ciphertext: Ciphertext, combined_share: Point, bound: int) -> int:
    """Recover m from beta / alpha^s, for m in [0, bound]."""
    return discrete_log(ciphertext.beta - combined_share, bound)


def decrypt(secret: Scalar, ciphertext: Ciphertext, bound: int) -> int:
    return decrypt_with_share(ciphertext, partial_decrypt(secret, ciphertext), bound)


@functools.lru_cache(maxsize=8)
def _baby_steps(step: int) -> dict[bytes, int]:
    """Table g^j -> j for 0 <= j < step."""
    table: dict[bytes, int] = {}
    point = IDENTITY
    for j in range(step):
        table[point.to_bytes()] = j
        point = point + G
    return table


def discrete_log(target: Point, bound: int) -> int:
    """The m in [0, bound] with g^m = target, by baby-step giant-step.

    O(sqrt(bound)) group additions: a count up to 1,000,000 takes 1,000 baby
    steps (cached) and at most 1,000 giant steps.
    """
    if bound < 0:
        raise ValueError("bound must be non-negative")
    step = max(1, math.isqrt(bound) + 1)
    table = _baby_steps(step)
    giant = g_mul(small_scalar(step))
    point = target
    for i in range(step + 1):
        j = table.get(point.to_bytes())
        if j is not None:
            m = i * step + j
            if m <= bound:
                return m
            break
        point = point - giant
    raise DecryptionError(f"plaintext is not in [0, {bound}]")
