"""The pilot's city hall CA: root, issuing CA, employee certificates, revocation
and CRLs (docs/parts/credentials.md, "Certificate profile").

The pilot ships this because there is no card reader; the service only ever
trusts the root through configuration, so the real JPKI CA can replace it.
Certificates are issued to fit ``cryptography.x509.verification``'s client
policy (SAN and AKI on the leaf, clientAuth EKU) plus the checks it leaves to
us (digitalSignature key usage, the leaf key's type and size).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import overload

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from crypto.credentials import (
    MAX_NAME_LENGTH,
    Credential,
    PrivateKey,
    PublicKey,
    _same_public_key,
    _utc,
    certificates_from_pem,
    check_key,
    employee_uri,
    private_key_from_pem,
)
from crypto.errors import CertificateError

KEY_TYPES = ("P-256", "RSA-2048", "RSA-3072", "RSA-4096", "Ed25519")
DEFAULT_ORGANIZATION = "City Hall"
ROOT_DAYS = 20 * 365
ISSUING_DAYS = 10 * 365
EMPLOYEE_DAYS = 3 * 365


def generate_key(key_type: str = "P-256") -> PrivateKey:
    """A fresh key of one of ``KEY_TYPES``; P-256 is the pilot's default."""
    if key_type == "P-256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "Ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if key_type in ("RSA-2048", "RSA-3072", "RSA-4096"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[4:]))
    raise ValueError(f"key type must be one of {', '.join(KEY_TYPES)}")


@dataclass(frozen=True)
class Authority:
    """A CA's signing key and its certificate (the root or the issuing CA)."""

    key: PrivateKey
    certificate: x509.Certificate

    def __post_init__(self) -> None:
        if not _same_public_key(self.key.public_key(), self.certificate.public_key()):
            raise CertificateError("the CA key does not belong to the CA certificate")

    @classmethod
    def from_pem(
        cls, key_pem: str | bytes, certificate_pem: str | bytes, password: str | None = None
    ) -> Authority:
        certificates = certificates_from_pem(certificate_pem)
        if len(certificates) != 1:
            raise CertificateError("expected exactly one CA certificate")
        return cls(private_key_from_pem(key_pem, password), certificates[0])


def create_root_ca(
    common_name: str,
    *,
    now: datetime,
    days: int = ROOT_DAYS,
    organization: str = DEFAULT_ORGANIZATION,
    key: PrivateKey | None = None,
    serial: int | None = None,
) -> Authority:
    """A self-signed root; it signs only the issuing CA (pathLen 1) and CRLs."""
    key = key or generate_key()
    _check_ca_key(key)
    now = _utc(now)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return Authority(key, _sign(builder, key))


def create_issuing_ca(
    root: Authority,
    common_name: str,
    *,
    now: datetime,
    days: int = ISSUING_DAYS,
    key: PrivateKey | None = None,
    serial: int | None = None,
) -> Authority:
    """The CA that issues employee certificates (pathLen 0), signed by the root."""
    key = key or generate_key()
    _check_ca_key(key)
    subject = x509.Name(
        root.certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        + [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )
    builder = (
        _issued_by(root, subject, key.public_key(), now, days, serial)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
    )
    return Authority(key, _sign(builder, root.key))


def issue_employee_certificate(
    issuer: Authority,
    public_key: PublicKey,
    *,
    employee_id: str,
    name: str,
    now: datetime,
    days: int = EMPLOYEE_DAYS,
    serial: int | None = None,
) -> x509.Certificate:
    """An employee's certificate, the same for every role (voter, admin, trustee,
    auditor): roles come from the service's rosters, never from the certificate.

    Subject: the issuer's O, serialNumber = employee id, CN = name. SAN: the URI
    ``urn:x-city-hall:employee:<id>``. EKU clientAuth; KU digitalSignature.
    """
    check_key(public_key)
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_LENGTH:
        raise ValueError(f"name must be 1 to {MAX_NAME_LENGTH} characters")
    uri = employee_uri(employee_id)
    subject = x509.Name(
        issuer.certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        + [
            x509.NameAttribute(NameOID.SERIAL_NUMBER, employee_id),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    builder = (
        _issued_by(issuer, subject, public_key, now, days, serial)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), critical=False
        )
    )
    return _sign(builder, issuer.key)


MAX_CSR_BYTES = 64 * 1024
"""A CSR is well under a few kilobytes; anything larger is not one."""


def read_csr(data: bytes) -> x509.CertificateSigningRequest:
    """A certificate signing request (PEM or DER) whose signature verifies with
    its own key, and whose key the service accepts (``check_key``): the proof
    that whoever made it holds the private key, e.g. on a card, without the key
    ever leaving it. Raises CertificateError or WeakKeyError saying which."""
    if not isinstance(data, bytes) or not data or len(data) > MAX_CSR_BYTES:
        raise CertificateError("not a certificate signing request (empty or too large)")
    try:
        pem = data.lstrip().startswith(b"-----BEGIN")
        csr = x509.load_pem_x509_csr(data) if pem else x509.load_der_x509_csr(data)
    except ValueError:
        raise CertificateError("not a certificate signing request (PEM or DER)") from None
    try:
        public_key = csr.public_key()
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise CertificateError(f"the request's key cannot be read: {exc}") from None
    check_key(public_key)
    try:
        valid = csr.is_signature_valid
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise CertificateError(f"the request's signature cannot be checked: {exc}") from None
    if not valid:
        raise CertificateError("the request's signature does not verify with its key: it was not made with that key")
    return csr


def enroll_employee(
    issuer: Authority,
    *,
    employee_id: str,
    name: str,
    now: datetime,
    days: int = EMPLOYEE_DAYS,
    key_type: str = "P-256",
) -> Credential:
    """A new key and certificate for an employee in any role (voters, and the
    admins, trustees and auditors of the service's rosters alike); seal it with
    ``crypto.credentials.seal_credential`` to hand it over."""
    key = generate_key(key_type)
    certificate = issue_employee_certificate(
        issuer, key.public_key(), employee_id=employee_id, name=name, now=now, days=days
    )
    return Credential(
        private_key=key, chain=(certificate, issuer.certificate), employee_id=employee_id, name=name
    )


def revoke(
    issuer: Authority,
    certificate: x509.Certificate,
    *,
    now: datetime,
    reason: x509.ReasonFlags | None = None,
) -> x509.RevokedCertificate:
    """The CRL entry for a certificate this CA issued; keep it and pass every
    entry to ``build_crl`` (revocation is permanent)."""
    if certificate.issuer != issuer.certificate.subject:
        raise ValueError("this CA did not issue that certificate")
    builder = (
        x509.RevokedCertificateBuilder()
        .serial_number(certificate.serial_number)
        .revocation_date(_utc(now))
    )
    if reason is not None:
        builder = builder.add_extension(x509.CRLReason(reason), critical=False)
    return builder.build()


def build_crl(
    issuer: Authority,
    revoked: Iterable[x509.RevokedCertificate],
    *,
    now: datetime,
    next_update: datetime,
    crl_number: int,
) -> x509.CertificateRevocationList:
    """A complete CRL (thisUpdate = now). After ``next_update`` the service refuses
    every login under this CA, so publish a new one before then."""
    now, next_update = _utc(now), _utc(next_update)
    if next_update <= now:
        raise ValueError("next_update must be after now")
    if type(crl_number) is not int or crl_number < 0:
        raise ValueError("crl_number must be a non-negative integer")
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.certificate.subject)
        .last_update(now)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(crl_number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    )
    for entry in revoked:
        builder = builder.add_revoked_certificate(entry)
    return _sign(builder, issuer.key)


def _issued_by(
    issuer: Authority,
    subject: x509.Name,
    public_key: PublicKey,
    now: datetime,
    days: int,
    serial: int | None,
) -> x509.CertificateBuilder:
    """The common part: names, validity (never beyond the issuer's), key identifiers.
    A random serial unless one is given (fixed serials make reproducible test vectors)."""
    now = _utc(now)
    if type(days) is not int or days <= 0:
        raise ValueError("days must be a positive integer")
    not_after = min(now + timedelta(days=days), issuer.certificate.not_valid_after_utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject)
        .public_key(public_key)
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    )


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _check_ca_key(key: PrivateKey) -> None:
    """The keys the verifier's policy accepts for signing certificates: P-256,
    P-384 or RSA >= 2048 (it forbids Ed25519 CA keys)."""
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(
        key.curve, (ec.SECP256R1, ec.SECP384R1)
    ):
        return
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 2048:
        return
    raise ValueError("a CA key must be EC P-256, EC P-384 or RSA of at least 2048 bits")


@overload
def _sign(builder: x509.CertificateBuilder, key: PrivateKey) -> x509.Certificate: ...
@overload
def _sign(builder: x509.CertificateRevocationListBuilder, key: PrivateKey) -> x509.CertificateRevocationList: ...
def _sign(
    builder: x509.CertificateBuilder | x509.CertificateRevocationListBuilder, key: PrivateKey
) -> x509.Certificate | x509.CertificateRevocationList:
    """SHA-256 (the verifier refuses SHA-1); ECDSA deterministic (RFC 6979), so
    fixed keys and dates give fixed certificates for the test vectors."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return builder.sign(key, hashes.SHA256(), ecdsa_deterministic=True)
    return builder.sign(key, hashes.SHA256())
