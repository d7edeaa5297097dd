"""PEM and DER conversions of certificates, keys and CRLs."""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from crypto.credentials.keys import _PRIVATE_KEY_TYPES, PrivateKey
from crypto.errors import (
    CertificateError,
    CredentialError,
    CrlError,
    WeakKeyError,
)


def certificate_to_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def certificates_from_pem(data: str | bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle (at least one)."""
    raw = data.encode("ascii") if isinstance(data, str) else data
    try:
        return x509.load_pem_x509_certificates(raw)
    except ValueError:
        raise CertificateError("no readable PEM certificate") from None


def private_key_to_pem(private_key: PrivateKey, password: str | None = None) -> str:
    """PKCS#8 PEM, encrypted when a password is given."""
    encryption = (
        serialization.BestAvailableEncryption(password.encode("utf-8"))
        if password
        else serialization.NoEncryption()
    )
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode("ascii")


def private_key_from_pem(data: str | bytes, password: str | None = None) -> PrivateKey:
    raw = data.encode("ascii") if isinstance(data, str) else data
    try:
        key = serialization.load_pem_private_key(
            raw, password.encode("utf-8") if password else None
        )
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise CredentialError("no readable PEM private key (or a wrong password)") from None
    if not isinstance(key, _PRIVATE_KEY_TYPES):
        raise WeakKeyError(f"unsupported key type {type(key).__name__}")
    return key


def crl_to_pem(crl: x509.CertificateRevocationList) -> str:
    return crl.public_bytes(serialization.Encoding.PEM).decode("ascii")


def crl_from_pem(data: str | bytes) -> x509.CertificateRevocationList:
    raw = data.encode("ascii") if isinstance(data, str) else data
    try:
        return x509.load_pem_x509_crl(raw)
    except ValueError:
        raise CrlError("no readable PEM CRL") from None


def crl_from_der(data: bytes) -> x509.CertificateRevocationList:
    try:
        return x509.load_der_x509_crl(data)
    except ValueError:
        raise CrlError("no readable DER CRL") from None
