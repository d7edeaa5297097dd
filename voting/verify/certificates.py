"""The certificate checks the auditors' part needs (checks 2 and 5): key
usage, revocation at the time of an event, the trust anchors and CRLs of
``auditors/trust.json``, and the anchors a reader pinned."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

from crypto.credentials import TrustStore
from crypto.errors import CryptoError
from voting.record import files as F
from voting.verify.parse import Bad, base64_bytes, conform, strict_json


def check_usage(leaf: x509.Certificate) -> None:
    """digitalSignature and clientAuth, as at login (the chain verifier checks neither)."""
    try:
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (x509.ExtensionNotFound, ValueError) as exc:
        raise Bad(f"the certificate lacks key usage or extended key usage: {exc}") from None
    if not usage.digital_signature or ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
        raise Bad("the certificate is not for digital signatures and client authentication")


#: (CRL, issuer certificate) -> whether the issuer's key signed the CRL: every
#: ballot's chain meets the same few CRLs, and a signature check costs more
#: than the rest of a revocation check. A memo of a pure function.
_CRL_SIGNATURES: dict[tuple[bytes, bytes], bool] = {}


def _signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    key = (crl.fingerprint(hashes.SHA256()), issuer.fingerprint(hashes.SHA256()))
    if key not in _CRL_SIGNATURES:
        _CRL_SIGNATURES[key] = crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    return _CRL_SIGNATURES[key]


_UNSUPPORTED_CRL_EXTENSIONS = (ExtensionOID.ISSUING_DISTRIBUTION_POINT, ExtensionOID.DELTA_CRL_INDICATOR)


def check_revoked_at(
    chain: Sequence[x509.Certificate],
    crls: Sequence[x509.CertificateRevocationList],
    at: datetime,
    event: str = "the ballot was cast",
    *,
    after_event: bool = True,
) -> None:
    """Revocation *at cast time* (or at the time of ``event``), from CRLs issued after it. Unlike a login,
    which needs a CRL current now, an audit long after the election needs a
    CRL that was issued after the ballot: any revocation dated up to the cast
    is then on it. Times are compared to the second (X.509's precision),
    conservatively: a revocation in the same second as the cast counts.

    ``after_event=False`` (a trustee about to decrypt right after closing,
    before the CA published its next CRL) accepts instead a CRL current now,
    as a login does; the auditors' sign-off keeps the strict rule."""
    at = at.replace(microsecond=0)
    for certificate, issuer in itertools.pairwise(chain):
        name = issuer.subject.rfc4514_string()
        signed = [crl for crl in crls if crl.issuer == issuer.subject and _signed_by(crl, issuer)]
        if not signed:
            raise Bad(f"no CRL signed by {name}: revocation cannot be checked")
        for crl in signed:
            for extension in crl.extensions:
                if extension.oid in _UNSUPPORTED_CRL_EXTENSIONS or (
                    extension.critical and isinstance(extension.value, x509.UnrecognizedExtension)
                ):
                    raise Bad(f"the CRL from {name} is partial or delta ({extension.oid.dotted_string})")
        newest = max(signed, key=lambda crl: crl.last_update_utc)
        if not after_event:
            if newest.next_update_utc is None or newest.next_update_utc <= datetime.now(UTC):
                raise Bad(f"the newest CRL from {name} is out of date (nextUpdate {newest.next_update_utc}); publish a new CRL")
        elif newest.last_update_utc < at:
            raise Bad(
                f"the newest CRL from {name} (thisUpdate {newest.last_update_utc:%Y-%m-%d %H:%M:%S}) predates the "
                f"time {event} ({at:%Y-%m-%d %H:%M:%S}); export the record with a CRL issued after voting closed"
            )
        for crl in signed:
            entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
            if entry is not None and entry.revocation_date_utc <= at:
                raise Bad(
                    f"the certificate {certificate.subject.rfc4514_string()} was revoked on "
                    f"{entry.revocation_date_utc:%Y-%m-%d %H:%M:%S}, before {event}"
                )


def auditors_trust(files: Mapping[str, bytes]) -> tuple[TrustStore, list[x509.CertificateRevocationList]] | None:
    """The trust anchors and CRLs of the auditors' part, or None when the file
    is absent or broken (check 5 says why it is broken)."""
    data = files.get(F.TRUST)
    if data is None:
        return None
    try:
        trust = strict_json(data, F.TRUST)
        conform(trust, F.TRUST)
        store = TrustStore.from_der([base64_bytes(a, "a trust anchor") for a in trust["trust_anchors"]])
        crls = [x509.load_der_x509_crl(base64_bytes(a, "a CRL")) for a in trust["crls"]]
    except (Bad, CryptoError, ValueError, TypeError):
        return None
    return store, crls


# --- the roots the reader pinned -------------------------------------------------------------


def anchor_name(certificate: x509.Certificate) -> str:
    """A root as a reader finds it on the election notice: its subject and its
    SHA-256 fingerprint as ``openssl x509 -fingerprint -sha256`` prints it."""
    digest = certificate.fingerprint(hashes.SHA256())
    return f"{certificate.subject.rfc4514_string()} (SHA-256 {':'.join(f'{b:02X}' for b in digest)})"


def unpinned(trust_anchors: Sequence[bytes], card_anchors: Mapping[str, Sequence[bytes]], pinned: set[bytes]) -> list[str]:
    """Each anchor (DER) not among ``pinned``, named: the login anchors of
    ``auditors/trust.json`` and the card anchors of ``auditors/enrollments.json``."""
    out = []
    for der in trust_anchors:
        if der not in pinned:
            out.append(f"the trust anchor {anchor_name(x509.load_der_x509_certificate(der))} of {F.TRUST}")
    for name, ders in card_anchors.items():
        for der in ders:
            if der not in pinned:
                out.append(f"the card anchor {name!r}, {anchor_name(x509.load_der_x509_certificate(der))}, of {F.ENROLLMENTS}")
    return out


def unpinned_anchors(files: Mapping[str, bytes], pinned: Iterable[bytes]) -> list[str]:
    """Every trust anchor the auditors' part judges certificates against that
    is not among ``pinned`` (the DER of the roots the reader pinned itself:
    ``--trust-anchor``, the trustee file's roots), each named: the login
    anchors of ``auditors/trust.json`` and the card anchors of
    ``auditors/enrollments.json``. An anchor taken from the record itself is
    the server's word: a server could name a CA of its own and make the
    certificates (or cards) that register for roll members who never vote.
    Without an auditors' part: none. Raises ``Bad`` when a file cannot be read."""
    pinned = set(pinned)
    trust_anchors: list[bytes] = []
    card_anchors: dict[str, list[bytes]] = {}
    try:
        if F.TRUST in files:
            trust = strict_json(files[F.TRUST], F.TRUST)
            conform(trust, F.TRUST)
            trust_anchors = [base64_bytes(a, "a trust anchor") for a in trust["trust_anchors"]]
        if F.ENROLLMENTS in files:
            doc = strict_json(files[F.ENROLLMENTS], F.ENROLLMENTS)
            conform(doc, F.ENROLLMENTS)
            for anchor in doc["anchors"]:
                name = anchor["name"]
                card_anchors.setdefault(name, []).extend(base64_bytes(a, f"a certificate of anchor {name}") for a in anchor["certificates"])
        return unpinned(trust_anchors, card_anchors, pinned)
    except ValueError as exc:  # a DER that is no certificate
        raise Bad(f"an anchor of the auditors' part is not a certificate: {exc}") from None
