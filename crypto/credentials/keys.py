"""The key types employees sign with (in a file or on a token), the algorithm
for each, signing and verifying, and the key strength every certificate needs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol, cast, runtime_checkable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from crypto.errors import (
    CredentialError,
    WeakKeyError,
)

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
#: Any key a certificate may hold; ``check_key`` says which are accepted.
CertificateKey = CertificatePublicKeyTypes
_PRIVATE_KEY_TYPES = (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)


@runtime_checkable
class TokenKey(Protocol):
    """A private key that never leaves its token (a smart card, an HSM): it
    signs on request. ``voting.card.CardKey`` is one; this module never talks to
    a token itself."""

    def public_key(self) -> PublicKey: ...

    def sign_jws(self, message: bytes) -> bytes:
        """The signature in the JWS form: ES256 raw r||s (64 bytes), RS256
        PKCS#1 v1.5 over SHA-256, EdDSA raw (64 bytes)."""
        ...


SigningKey = PrivateKey | TokenKey
MIN_RSA_BITS = 2048


def _utc(now: datetime) -> datetime:
    """Naive datetimes are a programming error: their zone is a guess."""
    if not isinstance(now, datetime) or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now.astimezone(UTC)


def _short(value: object) -> str:
    """A value from outside, cut short enough to put into an error message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_key(public_key: object) -> None:
    """Refuse leaf keys the service does not accept: the chain verifier checks
    only the keys that sign certificates, not the leaf's own key."""
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < MIN_RSA_BITS:
            raise WeakKeyError(
                f"RSA key of {public_key.key_size} bits is too short; "
                f"at least {MIN_RSA_BITS} bits are required"
            )
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        if not isinstance(public_key.curve, ec.SECP256R1):
            raise WeakKeyError(f"only P-256 EC keys are accepted, not {public_key.curve.name}")
    elif not isinstance(public_key, ed25519.Ed25519PublicKey):
        raise WeakKeyError(f"unsupported key type {type(public_key).__name__}")


def accepted_key(public_key: object) -> PublicKey:
    """The key, if the service accepts it (``check_key``), typed as one it accepts."""
    check_key(public_key)
    return cast(PublicKey, public_key)  # check_key accepts no other type


def algorithm_for_key(key: object) -> str:
    """The one JWS alg a key may sign with: ES256, RS256 or EdDSA."""
    public_key: object = key.public_key() if isinstance(key, (*_PRIVATE_KEY_TYPES, TokenKey)) else key
    check_key(public_key)
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return "ES256"
    if isinstance(public_key, rsa.RSAPublicKey):
        return "RS256"
    return "EdDSA"


def _sign(private_key: SigningKey, message: bytes) -> bytes:
    """Sign in the JWS form: ES256 as raw r||s (RFC 7518 3.4, as WebCrypto), not DER.

    ECDSA is deterministic (RFC 6979) so that test vectors are reproducible and
    a weak random generator cannot leak the key.

    A key on a token signs there; its signature is checked with the public key
    before it leaves this function, so a faulty token (a wrong RSA-CRT half
    would reveal the key) or a wrong key never yields a published signature.
    """
    if not isinstance(private_key, _PRIVATE_KEY_TYPES) and isinstance(private_key, TokenKey):
        algorithm_for_key(private_key)  # refuses a weak key before the token signs
        signature = private_key.sign_jws(message)
        if not isinstance(signature, bytes) or not _signature_valid(
            private_key.public_key(), signature, message
        ):
            raise CredentialError(
                "the token's signature does not verify with its public key; "
                "the token or its key is faulty"
            )
        return signature
    algorithm_for_key(private_key)  # refuses a weak key
    if isinstance(private_key, ec.EllipticCurvePrivateKey):  # ES256
        der = private_key.sign(message, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    if isinstance(private_key, rsa.RSAPrivateKey):  # RS256
        return private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    return private_key.sign(message)  # EdDSA


def _signature_valid(public_key: CertificateKey, signature: bytes, message: bytes) -> bool:
    """Exact lengths first: a DER ECDSA signature or a short RSA one is refused."""
    key = accepted_key(public_key)
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):  # ES256
            if len(signature) != 64:
                return False
            r = int.from_bytes(signature[:32], "big")
            s = int.from_bytes(signature[32:], "big")
            key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):  # RS256
            if len(signature) != (key.key_size + 7) // 8:
                return False
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        else:  # EdDSA
            if len(signature) != 64:
                return False
            key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def _same_public_key(a: CertificateKey, b: CertificateKey) -> bool:
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return a.public_bytes(*spki) == b.public_bytes(*spki)
