"""The employee certificate profile: the employee id in the subject alternative
name, the display name, key usage, and the certificates of cards that name no
employee (their login subject and usage)."""

from __future__ import annotations

import hashlib
import re
from typing import TypeGuard

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from crypto.credentials.keys import _short
from crypto.errors import (
    CertificateError,
)

#: The subject alternative name that carries the employee id: a URI
#: ``urn:x-city-hall:employee:<id>``. The verifier's client policy requires a SAN
#: on the leaf; a URI is stable (unlike an e-mail address) and needs no escaping
#: because employee ids are restricted to ``EMPLOYEE_ID_PATTERN``.
EMPLOYEE_URI_PREFIX = "urn:x-city-hall:employee:"


EMPLOYEE_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


MAX_NAME_LENGTH = 64  # X.520 ub-common-name


def is_valid_employee_id(employee_id: object) -> TypeGuard[str]:
    return isinstance(employee_id, str) and EMPLOYEE_ID_PATTERN.fullmatch(employee_id) is not None


def employee_uri(employee_id: str) -> str:
    """The SAN URI that names the employee in their certificate."""
    if not is_valid_employee_id(employee_id):
        raise ValueError(
            f"employee id {_short(employee_id)} does not match {EMPLOYEE_ID_PATTERN.pattern}"
        )
    return EMPLOYEE_URI_PREFIX + employee_id


def employee_id_of(certificate: x509.Certificate) -> str:
    """The employee id of a certificate: its one ``urn:x-city-hall:employee:`` SAN URI.

    The subject's serialNumber attribute, if present, must say the same, so a
    person reading the certificate sees the id the service uses.
    """
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        serial_attrs = certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    except x509.ExtensionNotFound:
        raise CertificateError("the certificate has no subject alternative name") from None
    except ValueError as exc:
        raise CertificateError(f"the certificate cannot be parsed: {exc}") from None
    ids = [
        uri[len(EMPLOYEE_URI_PREFIX) :]
        for uri in san.get_values_for_type(x509.UniformResourceIdentifier)
        if uri.startswith(EMPLOYEE_URI_PREFIX)
    ]
    if len(ids) != 1:
        raise CertificateError(
            f"the certificate must name exactly one employee "
            f"({EMPLOYEE_URI_PREFIX}<id>), found {len(ids)}"
        )
    employee_id = ids[0]
    if not is_valid_employee_id(employee_id):
        raise CertificateError(f"the certificate's employee id {_short(employee_id)} is not valid")
    if any(attr.value != employee_id for attr in serial_attrs):
        raise CertificateError(
            "the certificate's subject serialNumber differs from its employee id"
        )
    return employee_id


def display_name_of(certificate: x509.Certificate) -> str:
    """The employee's name, from the subject's one common name."""
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1 or not isinstance(names[0].value, str) or not names[0].value:
        raise CertificateError("the certificate's subject must have exactly one common name")
    return names[0].value


def certificate_fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, lowercase hex."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def _check_usage(leaf: x509.Certificate) -> None:
    """Key usage and clientAuth: the verifier's client policy checks neither on the
    leaf (a leaf with no EKU, or with keyEncipherment only, passes it)."""
    try:
        key_usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound as exc:
        missing = "key usage" if exc.oid == ExtensionOID.KEY_USAGE else "extended key usage"
        raise CertificateError(f"the certificate has no {missing} extension") from None
    except ValueError as exc:
        raise CertificateError(f"the certificate cannot be parsed: {exc}") from None
    if not key_usage.digital_signature:
        raise CertificateError("the certificate's key usage does not allow digital signatures")
    if ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
        raise CertificateError(
            "the certificate is not for client authentication (no clientAuth EKU)"
        )


def login_subject(leaf: x509.Certificate) -> str:
    """The login token's ``sub``: the employee id the certificate names; for one
    that names none (JPKI's user-authentication certificate), its SHA-256
    fingerprint (64 hex digits), which claims nothing: the service takes the
    employee from the card's enrollment."""
    try:
        return employee_id_of(leaf)
    except CertificateError:
        return certificate_fingerprint(leaf)


def card_name_of(certificate: x509.Certificate) -> str:
    """The subject's one common name if it has one, else "" (a JPKI
    user-authentication certificate's CN is no person's name either)."""
    try:
        return display_name_of(certificate)
    except (CertificateError, ValueError):
        return ""


def check_card_usage(leaf: x509.Certificate) -> None:
    """The usage check for a certificate that names no employee: a key usage
    extension that allows digital signatures. An extended key usage, if
    present, must include clientAuth (the chain verifier checks that)."""
    try:
        key_usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise CertificateError("the certificate has no key usage extension") from None
    except ValueError as exc:
        raise CertificateError(f"the certificate cannot be parsed: {exc}") from None
    if not key_usage.digital_signature:
        raise CertificateError("the certificate's key usage does not allow digital signatures")
