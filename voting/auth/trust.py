"""The login trust anchor and the CRLs, both configuration.

The pilot ships its own CA; a real deployment points ``VOTING_TRUST_ANCHOR`` at
the JPKI roots and ``VOTING_CRL`` at their CRL (a file, or a URL refreshed every
``VOTING_CRL_REFRESH_S`` seconds). A CRL that cannot be read keeps the last good
one; a CRL past its nextUpdate makes logins fail closed (crypto.credentials).

A CRL never goes back in time. For each CA the newest CRL seen (highest CRL
number, then latest thisUpdate) is kept in the database (table ``crl_state``),
and an older one read later, such as an old file put back or an old CRL replayed
at the URL, is ignored with a warning. A revoked certificate therefore stays
revoked, after a restart and in every app process. Only a CRL whose signature
verifies with a CA certificate the service trusts is kept: a root of the trust
anchor, a CA of a chain verified at a login, or the signer of a CRL kept before.
A forged CRL cannot become "the newest" and make the genuine ones look old.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from crypto.credentials import TrustStore, certificate_fingerprint, crl_from_der, crl_from_pem
from crypto.errors import CrlError
from voting.db.models import CrlState

log = logging.getLogger("voting.auth")


_PEM_END = b"-----END X509 CRL-----"

#: A CRL number has at most 20 octets (RFC 5280 5.2.3): below 10**49.
_NUMBER_DIGITS = 49


def parse_crls(data: bytes) -> list[x509.CertificateRevocationList]:
    """One DER CRL, or one or more concatenated PEM CRLs (the pilot's CA
    publishes the root's and the issuing CA's CRL in one file)."""
    if not data.lstrip().startswith(b"-----BEGIN"):
        return [crl_from_der(data)]
    blocks = [block + _PEM_END for block in data.split(_PEM_END) if block.strip()]
    return [crl_from_pem(block) for block in blocks]


def crl_sort_key(crl: x509.CertificateRevocationList) -> str:
    """Orders one CA's CRLs, oldest first, as text (so the database compares
    them): the CRL number, which the CA increases with every CRL, then
    thisUpdate. A CRL without a number sorts before any numbered one."""
    try:
        number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        digits = "-" * _NUMBER_DIGITS
    else:
        if not 0 <= number < 10**_NUMBER_DIGITS:
            raise ValueError(f"CRL number {number} is out of range")
        digits = f"{number:0{_NUMBER_DIGITS}d}"
    return f"{digits} {crl.last_update_utc:%Y%m%dT%H%M%SZ}"


@dataclass(frozen=True)
class _Verified:
    """A CRL whose signature verified with ``signer``'s key."""

    crl: x509.CertificateRevocationList
    signer: x509.Certificate
    issuer: str
    """the CA: hash of the issuer name and the signer's public key"""
    sort_key: str


class TrustSource:
    """The trust store, and the CRLs that logins and sessions are checked
    against. ``refresh`` re-reads the CRL source when due and keeps the newest
    CRLs in the database; it takes the caller's database session, so the caller
    decides the transaction (a login refreshes inside its own)."""

    def __init__(self, anchor_path: Path, crl_location: str, refresh_s: int) -> None:
        self.anchor_path = anchor_path
        self.crl_location = crl_location
        self.refresh_s = refresh_s
        self._store: TrustStore | None = None
        self._crls: list[x509.CertificateRevocationList] = []
        self._loaded_at = 0.0
        self._cas: dict[str, x509.Certificate] = {}
        """CA certificates of verified chains and signers of kept CRLs, by fingerprint"""
        self._kept: dict[str, str] = {}
        """the sort key of the CRL the database holds, per CA, as last read"""

    def store(self) -> TrustStore:
        if self._store is None:
            if not self.anchor_path.exists():
                raise CrlError(f"the trust anchor {self.anchor_path} is missing; run 'voting ca init'")
            self._store = TrustStore.from_pem(self.anchor_path.read_bytes())
        return self._store

    def crls(self) -> list[x509.CertificateRevocationList]:
        """The CRLs as of the last ``refresh``. Without one (a one-off reader
        such as the record export), the source as it is now."""
        if not self._crls:
            source = self._read_source()
            if not source:
                raise CrlError(f"no CRL available from {self.crl_location}")
            self._crls = source
        return self._crls

    def due(self) -> bool:
        return not self._loaded_at or time.monotonic() - self._loaded_at >= self.refresh_s

    def learn(self, chain: Sequence[x509.Certificate]) -> bool:
        """Remember the CAs of a chain verified to a root (leaf first), so that
        the CRLs they sign can be kept; True if one was new (then a refresh is
        due, to keep its CRL)."""
        new = [self._remember(ca) for ca in chain[1:]]
        if any(new):
            self._loaded_at = 0.0
        return any(new)

    def _remember(self, ca: x509.Certificate) -> bool:
        fingerprint = certificate_fingerprint(ca)
        if fingerprint in self._cas:
            return False
        self._cas[fingerprint] = ca
        return True

    async def refresh(self, db: AsyncSession) -> None:
        """If due: read the CRL source, keep each CA's newest CRL in the database
        (an older one is ignored, with a warning), and check against the kept
        ones from now on. Commits ``db``."""
        if not self.due():
            return
        source = self._read_source()
        if source is None and self._crls:
            return  # keep the last good CRLs; try again at the next request
        verified: dict[str, _Verified] = {}
        unverified = []
        for crl in source or []:
            checked = self._verify(crl)
            if checked is None:
                unverified.append(crl)  # a CA not met yet: crypto.credentials still checks it
            elif checked.issuer not in verified or checked.sort_key > verified[checked.issuer].sort_key:
                verified[checked.issuer] = checked
        for checked in verified.values():
            if checked.sort_key > self._kept.get(checked.issuer, ""):
                await db.execute(_keep_if_newer(db, checked))
        rows = list(await db.scalars(select(CrlState)))
        await db.commit()
        self._kept = {row.issuer: row.sort_key for row in rows}
        for checked in verified.values():
            newest = self._kept.get(checked.issuer, "")
            if checked.sort_key < newest:
                log.warning(
                    "the CRL from %s in %s (%s) is older than one already seen (%s); keeping the newer one",
                    checked.crl.issuer.rfc4514_string(), self.crl_location, checked.sort_key, newest,
                )
        for row in rows:
            self._remember(x509.load_der_x509_certificate(row.signer))
        crls = [x509.load_der_x509_crl(row.crl) for row in rows] + unverified
        if not crls:
            raise CrlError(f"no CRL available from {self.crl_location}")
        self._crls = crls
        self._loaded_at = time.monotonic()

    def is_revoked(self, chain: Sequence[x509.Certificate]) -> bool:
        """Is any certificate of a session's chain (the employee's, the CA that
        issued it) on a CRL of its issuer? Checked on every authenticated request,
        so revoking an employee, or their CA, also ends their open sessions (at the
        next CRL refresh), not only their next login. The CRLs' signatures were
        checked when kept or at login; an entry can only make this stricter."""
        return any(
            crl.issuer == certificate.issuer
            and crl.get_revoked_certificate_by_serial_number(certificate.serial_number) is not None
            for certificate in chain
            for crl in self.crls()
        )

    def _verify(self, crl: x509.CertificateRevocationList) -> _Verified | None:
        """The CRL with the trusted CA whose key signed it, or None."""
        for ca in [*self.store().roots, *self._cas.values()]:
            if ca.subject != crl.issuer:
                continue
            try:
                if not crl.is_signature_valid(ca.public_key()):
                    continue
                sort_key = crl_sort_key(crl)
            except (TypeError, ValueError):
                continue
            spki = ca.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            issuer = hashlib.sha256(crl.issuer.public_bytes() + spki).hexdigest()
            return _Verified(crl, ca, issuer, sort_key)
        return None

    def _read_source(self) -> list[x509.CertificateRevocationList] | None:
        try:
            return parse_crls(self._fetch())
        except (OSError, httpx.HTTPError, ValueError, CrlError) as exc:
            log.warning("cannot load the CRL from %s: %s", self.crl_location, exc)
            return None

    def _fetch(self) -> bytes:
        if self.crl_location.startswith(("http://", "https://")):
            response = httpx.get(self.crl_location, timeout=10)
            response.raise_for_status()
            return response.content
        return Path(self.crl_location).read_bytes()


def _keep_if_newer(db: AsyncSession, checked: _Verified):  # noqa: ANN202 - a dialect's insert statement
    """One atomic statement, so concurrent app processes never put an older CRL
    over a newer one: insert, or replace the kept CRL only if this one sorts after it."""
    dialect = postgresql if db.bind.dialect.name == "postgresql" else sqlite
    der = serialization.Encoding.DER
    statement = dialect.insert(CrlState).values(
        issuer=checked.issuer,
        issuer_name=checked.crl.issuer.rfc4514_string(),
        sort_key=checked.sort_key,
        crl=checked.crl.public_bytes(der),
        signer=checked.signer.public_bytes(der),
        stored_at=datetime.now(UTC),
    )
    columns = ("issuer_name", "sort_key", "crl", "signer", "stored_at")
    return statement.on_conflict_do_update(
        index_elements=[CrlState.issuer],
        set_={name: statement.excluded[name] for name in columns},
        where=CrlState.sort_key < statement.excluded.sort_key,
    )
