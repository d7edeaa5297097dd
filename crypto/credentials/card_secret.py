"""The card secret. A key on a card cannot be read, so the secret a voting
credential derives from is a value only the card's key can compute, the same
every time."""

from __future__ import annotations

import functools
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from crypto.encoding import encode_parts

#
# A key on a card cannot be read, so ``credential_secret`` (a hash of the key's
# PKCS#8) is out of reach. The card computes a value only its key can compute,
# the same every time: an RSA key signs a fixed message (PKCS#1 v1.5 is
# deterministic), an EC key does ECDH with a fixed point nobody knows the
# discrete logarithm of. The secret is a hash of that value; the voting
# credentials derive from it as from a file's secret.
CARD_SECRET_TAG = "votingpilot/v1/card-secret"


CARD_SECRET_MESSAGE_TAG = "votingpilot/v1/card-secret-message"


CARD_SECRET_POINT_TAG = "votingpilot/v1/card-secret-point"


CARD_SECRET_KINDS = ("rsa-signature", "ecdh", "eddsa-signature")


def card_secret_message(certificate: x509.Certificate) -> bytes:
    """What an RSA (or Ed25519) card signs to make its secret: the domain tag
    and the SHA-256 of its key's SubjectPublicKeyInfo DER (the key, not the
    certificate: a certificate renewed for the same key keeps the secret)."""
    if not isinstance(certificate, x509.Certificate):
        raise TypeError("certificate must be an x509.Certificate")
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashlib.sha256(spki).digest()
    return encode_parts(CARD_SECRET_MESSAGE_TAG, digest)


@functools.lru_cache(maxsize=1)
def card_secret_point() -> bytes:
    """The P-256 point an EC card does ECDH with, as 65 bytes uncompressed
    (04 || x || y). Nothing-up-my-sleeve: x is the first SHA-256 of
    (tag, counter as 4 bytes big-endian), counter = 0, 1, ..., that is the
    x-coordinate of a curve point; of the two points with that x, the one
    with even y (SEC 1 compressed prefix 02)."""
    for counter in range(2**32):
        x = hashlib.sha256(encode_parts(CARD_SECRET_POINT_TAG, counter.to_bytes(4, "big"))).digest()
        try:
            point = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x02" + x)
        except ValueError:
            continue
        return point.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    raise AssertionError("unreachable: about half of all x are on the curve")  # pragma: no cover


def card_secret(kind: str, value: bytes) -> bytes:
    """The 32-byte secret of a card, the source of its voting credentials.

    ``kind`` "rsa-signature": ``value`` is the RS256 signature of
    ``card_secret_message``; "ecdh": the 32-byte x-coordinate of d times
    ``card_secret_point()``; "eddsa-signature": the Ed25519 signature of
    ``card_secret_message`` (deterministic, RFC 8032).
    """
    if kind not in CARD_SECRET_KINDS:
        raise ValueError(f"kind must be one of {', '.join(CARD_SECRET_KINDS)}")
    if not isinstance(value, bytes) or not value:
        raise ValueError("value must be non-empty bytes")
    if kind == "ecdh" and len(value) != 32:
        raise ValueError("an ECDH value is the 32-byte x-coordinate")
    return hashlib.sha256(encode_parts(CARD_SECRET_TAG, kind, value)).digest()
