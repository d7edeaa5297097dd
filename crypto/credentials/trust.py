"""The trust store (``cryptography.x509.verification`` builds and checks the
chain) and revocation against CRLs, which the chain verifier does not do."""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509 import verification
from cryptography.x509.oid import ExtensionOID

from crypto.credentials.keys import _utc
from crypto.credentials.pem import certificates_from_pem
from crypto.credentials.tokens import CLOCK_SKEW_S, _load_der_certificate
from crypto.errors import (
    CertificateError,
    CertificateRevoked,
    CrlError,
)


@dataclass(frozen=True)
class TrustStore:
    """The root certificates the service trusts (configuration, so the real JPKI
    CA can replace the pilot's CA)."""

    roots: tuple[x509.Certificate, ...]
    _store: verification.Store = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        roots = tuple(self.roots)
        if not roots:
            raise CertificateError("a trust store needs at least one root certificate")
        for root in roots:
            if not isinstance(root, x509.Certificate):
                raise TypeError("trust store roots must be x509.Certificate objects")
            try:
                constraints = root.extensions.get_extension_for_class(x509.BasicConstraints).value
            except (x509.ExtensionNotFound, ValueError):
                constraints = None
            if constraints is None or not constraints.ca:
                raise CertificateError(f"{root.subject.rfc4514_string()} is not a CA certificate")
        object.__setattr__(self, "roots", roots)
        object.__setattr__(self, "_store", verification.Store(list(roots)))

    @classmethod
    def from_pem(cls, data: str | bytes) -> TrustStore:
        return cls(tuple(certificates_from_pem(data)))

    @classmethod
    def from_der(cls, items: Iterable[bytes]) -> TrustStore:
        return cls(tuple(_load_der_certificate(item, CertificateError) for item in items))

    def verify_chain(
        self,
        leaf: x509.Certificate,
        intermediates: Sequence[x509.Certificate],
        now: datetime,
        *,
        require_san: bool = True,
    ) -> tuple[x509.Certificate, ...]:
        """The built chain, leaf first and root last; the client policy requires a
        SAN and AKI on the leaf and RSA >= 2048 with SHA-256+ on every CA.
        ``require_san=False`` (an anchor whose certificates name no employee, such
        as JPKI's user-authentication certificate) lets the leaf have no SAN;
        every other check of the policy stays."""
        builder = verification.PolicyBuilder().store(self._store).time(_utc(now))
        if not require_san:
            builder = builder.extension_policies(
                ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
                ee_policy=verification.ExtensionPolicy.webpki_defaults_ee().may_be_present(
                    x509.SubjectAlternativeName, verification.Criticality.AGNOSTIC, None
                ),
            )
        verifier = builder.build_client_verifier()
        try:
            verified = verifier.verify(leaf, list(intermediates))
        except verification.VerificationError as exc:
            detail = str(exc)
            if "not valid at validation time" in detail:
                raise CertificateError(
                    "a certificate in the chain is expired or not yet valid"
                ) from None
            raise CertificateError(f"the certificate chain is not trusted: {detail}") from None
        except ValueError as exc:
            raise CertificateError(f"the certificate chain cannot be parsed: {exc}") from None
        return tuple(verified.chain)


_UNSUPPORTED_CRL_EXTENSIONS = (
    ExtensionOID.ISSUING_DISTRIBUTION_POINT,
    ExtensionOID.DELTA_CRL_INDICATOR,
)


def check_revocation(
    chain: Sequence[x509.Certificate],
    crls: Iterable[x509.CertificateRevocationList],
    *,
    now: datetime,
) -> None:
    """Check every non-root certificate of a built chain (leaf first, root last)
    against its issuer's CRL. Fails closed: an issuer without a current CRL
    signed by its own key is an error, not a pass."""
    now = _utc(now)
    checked = [_checked(crl) for crl in crls]
    for certificate, issuer in itertools.pairwise(chain):
        issuer_name = issuer.subject.rfc4514_string()
        same_name = [c for c in checked if c.issued_by(issuer)]
        signed = [c.crl for c in same_name if c.signed_by(issuer)]
        if not signed:
            if same_name:
                raise CrlError(f"the CRL for {issuer_name} is not signed by that CA's key")
            raise CrlError(f"no CRL from {issuer_name}; revocation cannot be checked")
        try:
            _check_crls(certificate, signed, issuer_name, now)
        except ValueError as exc:
            raise CrlError(f"the CRL from {issuer_name} cannot be parsed: {exc}") from None


class _CheckedCrl:
    """What ``check_revocation`` learns of one CRL object: whether it names
    each CA it was checked for as its issuer, and whether each CA key it was
    checked with signed it. A service checks the same few CRLs at every login;
    a CRL such as JPKI's runs to megabytes, and verifying its signature means
    hashing all of it."""

    def __init__(self, crl: x509.CertificateRevocationList) -> None:
        self.crl = crl  # held, so that the id this is filed under is not reused while it is
        self._names: dict[bytes, bool] = {}
        self._signed: dict[bytes, bool] = {}

    def issued_by(self, issuer: x509.Certificate) -> bool:
        """Does the CRL name this CA as its issuer? As ``Name`` compares them
        (not byte for byte: a CA may encode its name in its CRLs with other
        string types), remembered per encoding of the CA's name."""
        encoded = issuer.subject.public_bytes()
        verdict = self._names.get(encoded)
        if verdict is None:
            verdict = self._names[encoded] = self.crl.issuer == issuer.subject
        return verdict

    def signed_by(self, issuer: x509.Certificate) -> bool:
        key = issuer.public_key()
        spki = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        verdict = self._signed.get(spki)
        if verdict is None:
            verdict = self._signed[spki] = self.crl.is_signature_valid(key)  # type: ignore[arg-type]  # a CA key of another type raises
        return verdict


#: The CRL objects checked most recently, by id (each entry holds its CRL).
_CHECKED: OrderedDict[int, _CheckedCrl] = OrderedDict()
_CHECKED_KEPT = 16
_CHECKED_LOCK = threading.Lock()


def _checked(crl: x509.CertificateRevocationList) -> _CheckedCrl:
    with _CHECKED_LOCK:
        entry = _CHECKED.get(id(crl))
        if entry is None or entry.crl is not crl:
            entry = _CHECKED[id(crl)] = _CheckedCrl(crl)
            while len(_CHECKED) > _CHECKED_KEPT:
                _CHECKED.popitem(last=False)
        return entry


def _check_crls(
    certificate: x509.Certificate,
    signed: list[x509.CertificateRevocationList],
    issuer_name: str,
    now: datetime,
) -> None:
    """The newest CRL must be current; an entry in any of them revokes."""
    for crl in signed:
        _check_crl_kind(crl, issuer_name)
    latest = max(signed, key=lambda crl: crl.last_update_utc)
    if latest.last_update_utc > now + timedelta(seconds=CLOCK_SKEW_S):
        raise CrlError(
            f"the CRL from {issuer_name} is not valid yet (thisUpdate {latest.last_update_utc})"
        )
    if latest.next_update_utc is None:
        raise CrlError(f"the CRL from {issuer_name} has no nextUpdate")
    if now >= latest.next_update_utc:
        raise CrlError(
            f"the CRL from {issuer_name} is out of date (nextUpdate {latest.next_update_utc}); "
            "publish a new CRL"
        )
    for crl in signed:
        entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
        if entry is not None:
            raise CertificateRevoked(
                f"the certificate {certificate.subject.rfc4514_string()} "
                f"(serial {certificate.serial_number:x}) was revoked on {entry.revocation_date_utc}"
            )


def _check_crl_kind(crl: x509.CertificateRevocationList, issuer_name: str) -> None:
    """Only complete CRLs: a partitioned (IDP) or delta CRL might not list a
    revoked certificate, so reading it as complete would fail open."""
    for extension in crl.extensions:
        if extension.oid in _UNSUPPORTED_CRL_EXTENSIONS or (
            extension.critical and isinstance(extension.value, x509.UnrecognizedExtension)
        ):
            raise CrlError(
                f"the CRL from {issuer_name} has an unsupported extension "
                f"{extension.oid.dotted_string}"
            )
