"""The login trust anchor and the CRLs, both configuration.

The pilot ships its own CA; a real deployment points ``VOTING_TRUST_ANCHOR`` at
the JPKI roots and ``VOTING_CRL`` at their CRL (a file, or a URL refreshed every
``VOTING_CRL_REFRESH_S`` seconds). A CRL that cannot be read keeps the last good
one; a CRL past its nextUpdate makes logins fail closed (crypto.credentials).

A CRL URL is only ever downloaded by a background task (``start``), with a
time limit (``VOTING_CRL_TIMEOUT_S``): a CRL host that hangs delays the next
refresh, never a request. Requests check against the CRLs held in memory and
in the database. A CRL file is local configuration and is re-read when due.

A CRL never goes back in time. For each CA the newest CRL seen (highest CRL
number, then latest thisUpdate) is kept in the database (table ``crl_state``),
and an older one read later, such as an old file put back or an old CRL replayed
at the URL, is ignored with a warning. A revoked certificate therefore stays
revoked, after a restart and in every app process. Only a CRL whose signature
verifies with a CA certificate the service trusts is kept: a root of the trust
anchor, a CA of a chain verified at a login, or the signer of a CRL kept before.
A forged CRL cannot become "the newest" and make the genuine ones look old.
Only verified CRLs count for the sessions (``is_revoked``), the readiness and
the warnings; a CRL that names a trusted CA but does not verify with its key is
dropped. A CRL of a CA not met yet is only passed to a login, which checks its
signature against the login's chain.

A download is cut off past ``VOTING_CRL_MAX_BYTES`` and follows at most
``MAX_REDIRECTS`` redirects (http -> https is common for CRLs).

Voters never see where the files are: a missing trust anchor or CRL is
refused with a line that names no path, and the path goes to the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPublicKeyTypes
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from crypto.credentials import TrustStore, certificate_fingerprint, crl_from_der, crl_from_pem
from crypto.errors import CertificateError, CrlError, CryptoError
from voting.db.engine import Database
from voting.db.models import CrlState
from voting.settings import IDENTITY_CERTIFICATE, PILOT_ANCHOR, Settings

log = logging.getLogger("voting.auth")


_PEM_END = b"-----END X509 CRL-----"

#: Why logins cannot be checked, as voters and /api/ready are told (no path: the log has it).
NO_ANCHOR = "no trust anchor configured"
BAD_ANCHOR = "the trust anchor cannot be read"
NO_CRL = "no CRL available"

#: The background refresh runs at most this often, whatever VOTING_CRL_REFRESH_S says.
MIN_INTERVAL_S = 1.0
#: The longest chain of CAs walked up to a root.
MAX_CHAIN = 4
#: Redirects followed for a CRL URL.
MAX_REDIRECTS = 3
#: A problem seen on every request is logged once in this time.
PROBLEM_LOG_EVERY_S = 300.0
#: The CRL expiry warning is repeated in the log this often while it holds.
WARN_LOG_EVERY_S = 3600.0


def cannot_check(reason: str) -> str:
    return f"the service cannot check logins right now ({reason}); tell the administrators"


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
    against. ``refresh`` re-reads a CRL file when due (a URL: takes the last
    download) and keeps the newest CRLs in the database; it takes the caller's
    database session, so the caller decides the transaction (a login refreshes
    inside its own). ``start`` runs the downloads and refreshes in the
    background, so that every app process works from the database's kept CRLs
    even when nobody logs in."""

    def __init__(
        self,
        anchor_path: Path,
        crl_location: str,
        refresh_s: int,
        *,
        timeout_s: float = 5.0,
        warn_s: int = 259200,
        max_bytes: int = 20_000_000,
        name: str = PILOT_ANCHOR,
        identity: str = IDENTITY_CERTIFICATE,
    ) -> None:
        self.name = name
        self.identity = identity
        self.anchor_path = anchor_path
        self.crl_location = crl_location
        self.refresh_s = refresh_s
        self.timeout_s = timeout_s
        self.warn_s = warn_s
        self.max_bytes = max_bytes
        self._store: TrustStore | None = None
        self._crls: list[x509.CertificateRevocationList] = []
        self._loaded_at = 0.0
        self._cas: dict[str, x509.Certificate] = {}
        """CA certificates of verified chains and signers of kept CRLs, by fingerprint"""
        self._kept: dict[str, str] = {}
        """the sort key of the CRL the database holds, per CA, as last read"""
        self._held: dict[str, tuple[str, x509.CertificateRevocationList]] = {}
        """the newest kept CRL of each CA held in memory: it only ever moves forward"""
        self._unverified: list[x509.CertificateRevocationList] = []
        self._downloaded: list[x509.CertificateRevocationList] | None = None
        """the last good download of a CRL URL"""
        self._download_error: str | None = None
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self._logged: dict[str, float] = {}
        self.shared = False
        """Set by ``TrustAnchors`` when other anchors keep their CRLs in the same
        table: then only the rows of this anchor's own CAs are taken."""

    @property
    def remote(self) -> bool:
        return self.crl_location.startswith(("http://", "https://"))

    # -- the trust anchor -----------------------------------------------------------------

    def store(self) -> TrustStore:
        if self._store is None:
            try:
                self._store = TrustStore.from_pem(self.anchor_path.read_bytes())
            except FileNotFoundError:
                self._log_once(
                    logging.ERROR, "the trust anchor %s is missing; run 'voting ca init' or set VOTING_TRUST_ANCHOR",
                    self.anchor_path, event="trust_anchor_missing",
                )
                raise CrlError(cannot_check(NO_ANCHOR)) from None
            except (OSError, CryptoError, ValueError) as exc:
                self._log_once(
                    logging.ERROR, "the trust anchor %s cannot be read: %s", self.anchor_path, exc, event="trust_anchor_unreadable"
                )
                raise CrlError(cannot_check(BAD_ANCHOR)) from None
        return self._store

    # -- the CRLs in use ------------------------------------------------------------------

    def crls(self) -> list[x509.CertificateRevocationList]:
        """The CRLs as of the last ``refresh``, for a login (which verifies
        each against its chain). Without one: in a serving app process, a
        refusal; in a one-off user, a CRL file as it is now. A URL is never
        fetched here (``refresh`` or ``start`` download it, asynchronously)."""
        if not self._crls:
            source = None if self._task is not None or self.remote else self._read_source()
            if not source:
                self._log_once(logging.ERROR, "no CRL available from %s", self.crl_location, event="crl_missing")
                raise CrlError(cannot_check(NO_CRL))
            self._crls = source
        return self._crls

    def due(self) -> bool:
        return not self._loaded_at or time.monotonic() - self._loaded_at >= self.refresh_s

    def learn(self, chain: Sequence[x509.Certificate]) -> bool:
        """Remember the CAs of a chain verified to a root (leaf first), so that
        the CRLs they sign can be kept; True if one was new (then a refresh is
        due, to keep its CRL, and the background task is woken for it)."""
        new = [self._remember(ca) for ca in chain[1:]]
        if any(new):
            self._loaded_at = 0.0
            self._wake.set()
        return any(new)

    def _remember(self, ca: x509.Certificate) -> bool:
        fingerprint = certificate_fingerprint(ca)
        if fingerprint in self._cas:
            return False
        self._cas[fingerprint] = ca
        return True

    async def refresh(self, db: AsyncSession) -> None:
        """If due: read the CRL file (a URL: take the last download, no network),
        keep each CA's newest CRL in the database (an older one is ignored, with
        a warning), and check against the kept ones from now on. Commits ``db``."""
        if not self.due():
            return
        source = await self._source_now()
        if source is None and self._crls:
            return  # keep the last good CRLs; try again at the next request
        await self._keep(db, source)

    async def _keep(self, db: AsyncSession, source: list[x509.CertificateRevocationList] | None) -> None:
        """Keep the newest verified CRLs of ``source`` (None: nothing new was
        read) in the database, then hold the database's newest in memory."""
        verified: dict[str, _Verified] = {}
        unverified = []
        for crl in source or []:
            checked = self._verify(crl)
            if checked is None:
                if not self._names_known_ca(crl):
                    unverified.append(crl)  # a CA not met yet: crypto.credentials still checks it
                else:
                    self._log_once(
                        logging.WARNING, "a CRL in %s names %s but does not verify with its key; ignored",
                        self.crl_location, crl.issuer.rfc4514_string(), event="crl_forged",
                    )
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
                    extra={"event": "crl_older_ignored"},
                )
        for row in rows:
            signer = x509.load_der_x509_certificate(row.signer)
            if not self._ours(signer):
                continue
            self._remember(signer)
            # Merged, never replaced: a concurrent refresh that read the table
            # earlier cannot take a newer CRL back out of memory.
            if row.sort_key > self._held.get(row.issuer, ("", None))[0]:
                self._held[row.issuer] = (row.sort_key, x509.load_der_x509_crl(row.crl))
        if source is not None:
            self._unverified = unverified
        self._unverified = [crl for crl in self._unverified if self._not_held_yet(crl)]
        crls = [crl for _, crl in self._held.values()] + self._unverified
        if not crls:
            self._log_once(logging.ERROR, "no CRL available from %s", self.crl_location, event="crl_missing")
            raise CrlError(cannot_check(NO_CRL))
        self._crls = crls
        self._loaded_at = time.monotonic()

    def is_revoked(self, chain: Sequence[x509.Certificate]) -> bool:
        """Is any certificate of a session's chain (the employee's, the CA that
        issued it) on a CRL of its issuer? Checked on every authenticated request,
        so revoking an employee, or their CA, also ends their open sessions (at the
        next CRL refresh), not only their next login. Only the kept CRLs count,
        whose signatures verified with a trusted CA's key: a forged entry ends
        no session."""
        self.crls()  # refuses when there is none
        return any(
            crl.issuer == certificate.issuer
            and crl.get_revoked_certificate_by_serial_number(certificate.serial_number) is not None
            for certificate in chain
            for _, crl in self._held.values()
        )

    def _ours(self, ca: x509.Certificate) -> bool:
        """Is this CA certificate (a kept CRL's signer) one of this anchor's: a
        root, or issued, through CAs it met, by one? Always, for a lone anchor."""
        if not self.shared:
            return True
        try:
            roots = self.store().roots
        except CrlError:
            return False
        names = {root.subject for root in roots}
        for _ in range(MAX_CHAIN):
            if ca in roots or ca.issuer in names:
                return True
            parent = next((c for c in self._cas.values() if c.subject == ca.issuer and c != ca), None)
            if parent is None:
                return False
            ca = parent
        return False

    def _not_held_yet(self, crl: x509.CertificateRevocationList) -> bool:
        """Does a CRL read while its CA was not met yet stay in use for logins?
        Yes while its CA is unknown; once a login met the CA, until a kept CRL
        of that CA is held, if it verifies with the CA's key (else it is forged
        and dropped). A refresh that began before a concurrent login met the CA
        must not leave the logins meanwhile without the CA's CRL."""
        if not self._names_known_ca(crl):
            return True
        checked = self._verify(crl)
        return checked is not None and checked.issuer not in self._held

    def _names_known_ca(self, crl: x509.CertificateRevocationList) -> bool:
        """Does the CRL name a CA the service trusts (then it must verify with its key)?"""
        try:
            roots = self.store().roots
        except CrlError:
            roots = ()
        return any(ca.subject == crl.issuer for ca in [*roots, *self._cas.values()])

    async def current_crls(self, db: AsyncSession) -> list[x509.CertificateRevocationList]:
        """The CRLs as they are now, for the auditors' part of the record: each
        CA's newest verified CRL among those kept in the database (every app
        process's), held in memory, and the source now (a file read in a
        thread; a URL's last download, or in a one-off user a download within
        ``timeout_s``), plus those of CAs not met yet. Writes nothing."""
        source = await self._source_now()
        rows = list(await db.scalars(select(CrlState)))
        newest = dict(self._held)
        for row in rows:
            signer = x509.load_der_x509_certificate(row.signer)
            if not self._ours(signer):
                continue
            self._remember(signer)
            if row.sort_key > newest.get(row.issuer, ("", None))[0]:
                newest[row.issuer] = (row.sort_key, x509.load_der_x509_crl(row.crl))
        unverified = list(self._unverified)
        if source is not None:
            unverified = []
            for crl in source:
                checked = self._verify(crl)
                if checked is None:
                    unverified.append(crl)
                elif checked.sort_key > newest.get(checked.issuer, ("", None))[0]:
                    newest[checked.issuer] = (checked.sort_key, crl)
        crls = [crl for _, crl in newest.values()] + [crl for crl in unverified if not self._names_known_ca(crl)]
        if not crls:
            self._log_once(logging.ERROR, "no CRL available from %s", self.crl_location, event="crl_missing")
            raise CrlError(cannot_check(NO_CRL))
        return crls

    def _verify(self, crl: x509.CertificateRevocationList) -> _Verified | None:
        """The CRL with the trusted CA whose key signed it, or None."""
        for ca in [*self.store().roots, *self._cas.values()]:
            if ca.subject != crl.issuer:
                continue
            try:
                if not crl.is_signature_valid(cast(CertificateIssuerPublicKeyTypes, ca.public_key())):
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

    # -- reading the source ---------------------------------------------------------------

    async def _source_now(self) -> list[x509.CertificateRevocationList] | None:
        """A file as it is now (read in a thread); a URL's last download, or, in
        a one-off user without the background task, a download now."""
        if not self.remote:
            return await asyncio.to_thread(self._read_source)
        if self._task is None and self._downloaded is None:
            return await self._download()
        return self._downloaded

    def _read_source(self) -> list[x509.CertificateRevocationList] | None:
        """A CRL file, read synchronously (a local file; a URL is never fetched
        this way: see ``_download``)."""
        if self.remote:
            return None
        try:
            return parse_crls(Path(self.crl_location).read_bytes())
        except (OSError, ValueError, CrlError) as exc:
            self._log_once(logging.WARNING, "cannot load the CRL from %s: %s", self.crl_location, exc, event="crl_unreadable")
            return None

    async def _download(self) -> list[x509.CertificateRevocationList] | None:
        """The CRLs at the URL, within ``timeout_s`` for the whole download (a
        host that trickles bytes is cut off too) and ``max_bytes``; None, with a
        warning, if not. Only an unencoded body is taken: a compressed one could
        decode to far more than ``max_bytes`` before any check (a few hundred
        bytes of brotli make hundreds of MB)."""
        try:
            async with asyncio.timeout(self.timeout_s):
                async with httpx.AsyncClient(
                    timeout=self.timeout_s, follow_redirects=True, max_redirects=MAX_REDIRECTS
                ) as client, client.stream(
                    "GET", self.crl_location, headers={"Accept-Encoding": "identity"}
                ) as response:
                    response.raise_for_status()
                    body = await self._read_body(response)
            crls = parse_crls(body)
        except (TimeoutError, httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, ValueError, CrlError) as exc:
            reason = str(exc) or type(exc).__name__
            if isinstance(exc, TimeoutError | httpx.TimeoutException):
                reason = f"no complete answer within {self.timeout_s:g} s (VOTING_CRL_TIMEOUT_S)"
            self._download_error = f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC: {reason}"
            log.warning(
                "cannot download the CRL from %s: %s; keeping the last good CRLs", self.crl_location, reason,
                extra={"event": "crl_download_failed"},
            )
            return None
        self._download_error = None
        self._downloaded = crls
        return crls

    async def _read_body(self, response: httpx.Response) -> bytes:
        """The body as sent (never decoded), refused as soon as it is known to
        exceed ``max_bytes``, or if it is sent with a Content-Encoding."""
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise ValueError(f"the CRL host sent the CRL with Content-Encoding {encoding[:40]!r}; only an unencoded CRL is taken")
        too_large = f"the CRL is larger than {self.max_bytes} bytes (VOTING_CRL_MAX_BYTES)"
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise ValueError(too_large)
        body = bytearray()
        async for chunk in response.aiter_raw():
            body += chunk
            if len(body) > self.max_bytes:
                raise ValueError(too_large)
        return bytes(body)

    # -- the background task --------------------------------------------------------------

    def start(self, database: Database) -> None:
        """Keep the CRLs fresh in a background task of this app process, from
        now (the first refresh at once) until ``stop``. Never waits: a CRL host
        or a database that is down delays the CRLs, not the start."""
        if self._task is None:
            self._task = asyncio.create_task(self.run_refresh(database), name="crl-refresh")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run_refresh(self, database: Database) -> None:
        """At once, then every ``refresh_s`` seconds (at least one) or soon after
        a login met a new CA: download or read the source, keep the newest CRLs
        in the database, take the other processes' from it, and warn before
        nextUpdate."""
        while True:
            await self.refresh_once(database)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(self.refresh_s, MIN_INTERVAL_S))
            self._wake.clear()

    async def refresh_once(self, database: Database) -> None:
        """One background refresh; never raises (a database or CA problem is
        logged and tried again at the next one)."""
        try:
            source = await self._download() if self.remote else await asyncio.to_thread(self._read_source)
            async with database.write() as db:
                await self._keep(db, source)
        except CrlError:
            pass  # logged where raised; the readiness says it
        except Exception as exc:  # noqa: BLE001 - a failing database must not end the refreshes
            self._log_once(logging.WARNING, "cannot refresh the CRLs: %s", exc, event="crl_refresh_failed")
        warning = self.crl_warning()
        if warning:
            self._log_once(logging.WARNING, "%s", warning, event="crl_expiring", every_s=WARN_LOG_EVERY_S)

    # -- state, for readiness, metrics, the administrators --------------------------------

    def _newest_per_ca(self) -> list[x509.CertificateRevocationList]:
        """Each CA's newest verified CRL (a forged one never counts); while no
        CA's CRL verified yet (its CA not met at a login), the others'."""
        verified = [crl for _, crl in self._held.values()]
        newest: dict[bytes, x509.CertificateRevocationList] = {}
        for crl in verified or self._unverified:
            name = crl.issuer.public_bytes()
            if name not in newest or crl.last_update_utc > newest[name].last_update_utc:
                newest[name] = crl
        return list(newest.values())

    def crl_next_update(self) -> datetime | None:
        """When the first CA's newest CRL runs out (logins then fail closed)."""
        times = [crl.next_update_utc for crl in self._newest_per_ca() if crl.next_update_utc is not None]
        return min(times, default=None)

    def crl_age_s(self) -> float | None:
        """Seconds since the thisUpdate of the oldest CA's newest CRL: how old
        the revocation information logins are checked against is."""
        newest = self._newest_per_ca()
        if not newest:
            return None
        return max((datetime.now(UTC) - crl.last_update_utc).total_seconds() for crl in newest)

    def readiness(self) -> str | None:
        """None when the trust anchor is loaded and every CA's newest CRL is
        current; else why logins are refused, in one line without file paths."""
        if self._store is None:
            try:
                self.store()
            except CrlError:
                return NO_ANCHOR if not self.anchor_path.exists() else BAD_ANCHOR
        if not self._crls:
            return NO_CRL
        now = datetime.now(UTC)
        for crl in self._newest_per_ca():
            if crl.next_update_utc is None or crl.next_update_utc <= now:
                return (
                    f"the CRL from {crl.issuer.rfc4514_string()} is out of date (nextUpdate "
                    f"{crl.next_update_utc:%Y-%m-%d %H:%M} UTC): every login is refused; publish a new CRL"
                )
        return None

    def crl_warning(self) -> str | None:
        """What the administrators must do, well before logins fail: the
        readiness problem, or a CRL whose nextUpdate is within ``warn_s``."""
        problem = self.readiness()
        if problem:
            return problem
        now = datetime.now(UTC)
        for crl in self._newest_per_ca():
            if crl.next_update_utc is None:  # reported by readiness() above
                continue
            left = (crl.next_update_utc - now).total_seconds()
            if left <= self.warn_s:
                return (
                    f"the CRL from {crl.issuer.rfc4514_string()} expires at {crl.next_update_utc:%Y-%m-%d %H:%M} UTC "
                    f"(in {left / 3600:.0f} h): after that every login is refused; publish a new CRL now "
                    "('voting ca crl', or at the CA) and check that the service reads it"
                )
        return None

    def crl_status(self) -> dict:
        """The CRL state for the administrators (the election status, the admin
        page): no file path or URL."""
        next_update = self.crl_next_update()
        age = self.crl_age_s()
        return {
            "source": "url" if self.remote else "file",
            "next_update": next_update.isoformat() if next_update else None,
            "age_s": round(age) if age is not None else None,
            "warning": self.crl_warning(),
            "download_error": self._download_error,
        }

    def _log_once(self, level: int, message: str, *args: object, event: str, every_s: float = PROBLEM_LOG_EVERY_S) -> None:
        """Log a recurring problem once per ``every_s``, not on every request."""
        key = message % args
        now = time.monotonic()
        if now - self._logged.get(key, -every_s) < every_s:
            return
        self._logged[key] = now
        log.log(level, message, *args, extra={"event": event})


def _keep_if_newer(db: AsyncSession, checked: _Verified):  # noqa: ANN202 - a dialect's insert statement
    """One atomic statement, so concurrent app processes never put an older CRL
    over a newer one: insert, or replace the kept CRL only if this one sorts after it."""
    assert db.bind is not None, "the service's sessions are bound to its engine"
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


class UnknownAnchor(CertificateError):
    """A chain that builds to no configured trust anchor."""

    code = "unknown_anchor"


class TrustAnchors:
    """Every trust anchor of the service, each a ``TrustSource`` with its own CRL
    source: the pilot's (``VOTING_TRUST_ANCHOR`` and ``VOTING_CRL``, identity
    "certificate") first, then those of ``VOTING_TRUST_ANCHORS_FILE``.

    The anchor whose roots a login's chain builds to decides how the employee
    is known: identity "certificate", from the certificate's employee id;
    identity "enrollment", from an enrollment (voting/auth/enrollment.py),
    whatever the certificate says. Only the "certificate" anchors are trusted to
    name employees, so ``store`` and ``crls`` (trustees' signatures, the
    auditors' part) are theirs alone.

    The pilot anchor behaves exactly as a lone ``TrustSource``: its problems
    refuse logins and make the service not ready. Another anchor's problems
    (a missing CRL, one out of date) refuse only its own card holders, and
    show as warnings to the administrators."""

    def __init__(self, sources: Sequence[TrustSource]) -> None:
        if not sources:
            raise ValueError("at least the pilot's trust anchor")
        self.sources = list(sources)
        for source in self.sources:
            source.shared = len(self.sources) > 1
        self._union: tuple[tuple[int, ...], TrustStore] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, refresh_s: int | None = None) -> TrustAnchors:
        """The anchors of ``settings``; ``refresh_s=0`` for a one-off reader."""
        every = settings.crl_refresh_s if refresh_s is None else refresh_s
        common: dict[str, Any] = {"timeout_s": settings.crl_timeout_s, "warn_s": settings.crl_warn_s, "max_bytes": settings.crl_max_bytes}
        sources = [TrustSource(settings.trust_anchor_path, settings.crl_location, every, **common)]
        for anchor in settings.trust_anchors:
            sources.append(
                TrustSource(anchor.certificate, anchor.crl, every, name=anchor.name, identity=anchor.identity, **common)
            )
        return cls(sources)

    @property
    def pilot(self) -> TrustSource:
        return self.sources[0]

    def source(self, name: str) -> TrustSource | None:
        return next((s for s in self.sources if s.name == name), None)

    def _named(self) -> list[TrustSource]:
        return [s for s in self.sources if s.identity == IDENTITY_CERTIFICATE]

    def _others(self) -> list[TrustSource]:
        return [s for s in self.sources if s is not self.pilot]

    # -- for logins -------------------------------------------------------------------------

    def anchor_for(
        self, leaf: x509.Certificate, intermediates: Sequence[x509.Certificate], now: datetime
    ) -> TrustSource:
        """The anchor a token's chain builds to (the pilot's first, then in
        configuration order). Else the refusal of the anchor whose root issued
        a certificate of the chain (an expired certificate, a broken chain), or
        ``UnknownAnchor``. Only the chain: usage, revocation and the rest are
        the login's checks, with that anchor's rules."""
        refusals: list[tuple[TrustSource, Exception]] = []
        for source in self.sources:
            try:
                source.store().verify_chain(
                    leaf, intermediates, now, require_san=source.identity == IDENTITY_CERTIFICATE
                )
            except (CrlError, CryptoError) as exc:
                refusals.append((source, exc))
                continue
            return source
        issuers = {c.issuer for c in [leaf, *intermediates]}
        for source, refusal in refusals:
            with contextlib.suppress(CrlError):
                if any(root.subject in issuers for root in source.store().roots):
                    raise refusal
        if isinstance(refusals[0][1], CrlError):
            raise refusals[0][1]  # the pilot anchor cannot be read: every login is refused, as always
        raise UnknownAnchor(
            "the certificate chains to none of the service's trust anchors: this card or certificate is not "
            "accepted here"
        )

    def owner(self, chain: Sequence[x509.Certificate]) -> TrustSource | None:
        """The anchor a session's chain (leaf first; the root may be left out)
        was built to: the one whose root issued its last certificate."""
        top = chain[-1]
        for source in self.sources:
            try:
                roots = source.store().roots
            except CrlError:
                continue
            for root in roots:
                if root == top:
                    return source
                if root.subject == top.issuer:
                    try:
                        top.verify_directly_issued_by(root)
                    except (ValueError, TypeError, InvalidSignature):
                        continue
                    return source
        return None

    # -- what a single TrustSource offers, over every anchor ------------------------------------

    def store(self) -> TrustStore:
        """The roots of the anchors whose certificates name employees."""
        named = self._named()
        if len(named) == 1:
            return named[0].store()
        stores = [s.store() for s in named]
        key = tuple(id(s) for s in stores)
        if self._union is None or self._union[0] != key:
            self._union = (key, TrustStore(tuple(root for s in stores for root in s.roots)))
        return self._union[1]

    def crls(self) -> list[x509.CertificateRevocationList]:
        crls = list(self.pilot.crls())
        for source in self._named():
            if source is not self.pilot:
                with contextlib.suppress(CrlError):
                    crls += source.crls()
        return crls

    def due(self) -> bool:
        return any(s.due() for s in self.sources)

    def learn(self, chain: Sequence[x509.Certificate]) -> bool:
        owner = self.pilot if len(self.sources) == 1 else self.owner(chain)
        return owner.learn(chain) if owner is not None else False

    async def refresh(self, db: AsyncSession) -> None:
        """Each anchor's ``refresh``; only the pilot's problems raise (the
        others' are logged, and refuse their own card holders at login)."""
        for source in self._others():
            with contextlib.suppress(CrlError):
                await source.refresh(db)
        await self.pilot.refresh(db)

    def is_revoked(self, chain: Sequence[x509.Certificate]) -> bool:
        owner = self.pilot if len(self.sources) == 1 else self.owner(chain)
        if owner is None:
            raise CrlError("the certificate's trust anchor is no longer configured; log in again")
        return owner.is_revoked(chain)

    async def current_crls(self, db: AsyncSession) -> list[x509.CertificateRevocationList]:
        """Every anchor's CRLs as they are now (the auditors' part), each once."""
        crls = list(await self.pilot.current_crls(db))
        for source in self._others():
            with contextlib.suppress(CrlError):
                crls += await source.current_crls(db)
        seen: set[bytes] = set()
        unique = []
        for crl in crls:
            der = crl.public_bytes(serialization.Encoding.DER)
            if der not in seen:
                seen.add(der)
                unique.append(crl)
        return unique

    def start(self, database: Database) -> None:
        for source in self.sources:
            source.start(database)

    async def stop(self) -> None:
        for source in self.sources:
            await source.stop()

    async def refresh_once(self, database: Database) -> None:
        for source in self.sources:
            await source.refresh_once(database)

    def readiness(self) -> str | None:
        return self.pilot.readiness()

    def crl_next_update(self) -> datetime | None:
        return self.pilot.crl_next_update()

    def crl_age_s(self) -> float | None:
        return self.pilot.crl_age_s()

    def crl_warning(self) -> str | None:
        """The pilot anchor's warning, then each other anchor's, named."""
        warnings = [self.pilot.crl_warning()]
        for source in self._others():
            warning = source.crl_warning()
            if warning:
                warnings.append(f"trust anchor {source.name}: {warning}")
        return "; ".join(w for w in warnings if w) or None

    def crl_status(self) -> dict:
        status = self.pilot.crl_status()
        status["warning"] = self.crl_warning()
        status["anchors"] = [
            {"name": s.name, "identity": s.identity, **{k: v for k, v in s.crl_status().items() if k != "source"}}
            for s in self._others()
        ]
        return status
