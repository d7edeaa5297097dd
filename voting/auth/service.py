"""Login (challenge, certificate-signed token, session) and who may do what.

Roles come from the rosters in the database, never from the client or the
certificate: administrators and auditors are global, trustees are per
election, voters are whoever is on an election's roll.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import (
    CompoundSelect,
    CursorResult,
    Table,
    bindparam,
    exists,
    insert,
    literal_column,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crypto.credentials import token_chain, verify_enrollment_token, verify_login_token
from crypto.errors import CredentialError, NonceError
from voting.auth import enrollment
from voting.auth.enrollment import employee_for
from voting.auth.trust import TrustAnchors
from voting.db.engine import Database
from voting.db.models import LoginNonce, Role, RollEntry, Session, Trustee
from voting.errors import Forbidden, Invalid, ServiceError, TooManyRequests, Unauthorized
from voting.keys import ServerKey
from voting.settings import IDENTITY_ENROLLMENT, Settings

ADMIN, AUDITOR, TRUSTEE = "admin", "auditor", "trustee"
#: A login challenge: base64url of its expiry (8 bytes), 16 random bytes and a 16-byte MAC.
NONCE_LENGTH = 54
CHALLENGE_MAC_CONTEXT = b"votingpilot/v1/login-challenge|"
ROLES = (ADMIN, AUDITOR, TRUSTEE)
TOKEN_PREFIX = "s1"


def now_utc() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were stored as UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Principal:
    """An authenticated employee, with the roles the rosters give them."""

    employee_id: str
    session_id: str
    certificate_der: bytes
    chain_b64: tuple[str, ...]
    roles: frozenset[str] = field(default_factory=frozenset)

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.certificate_der)

    def require(self, role: str) -> None:
        if role not in self.roles:
            raise Forbidden(f"this needs the {role} role", code=f"not_{role}")


log = logging.getLogger("voting.auth")

#: The one key of every client "address" that is not an IP address.
UNPARSEABLE = "unparseable"
_unparseable_logged = False


def client_key(address: str) -> str:
    """The rate limits' key for a client address: an IPv6 client by its /64 (one
    host or one customer network is given a whole /64, so counting each address
    apart would give it unlimited attempts), an IPv4 client (or an IPv4-mapped
    IPv6 address) by its address. Anything else (what a trusted proxy forwards
    that is not an address: "unknown", a name, junk) shares one key, so that
    varying the string gains no allowance; logged once per process."""
    global _unparseable_logged
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        if not _unparseable_logged:
            _unparseable_logged = True
            log.warning(
                "a client address is not an IP address (%r): every such client shares one rate limit; check "
                "what the proxy in VOTING_FORWARDED_ALLOW_IPS sends in X-Forwarded-For",
                address[:60],
                extra={"event": "client_address_unparseable"},
            )
        return UNPARSEABLE
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class RateLimiter:
    """A sliding one-minute window per key; ``per_minute == 0`` turns it off
    (load tests from one address would trip it). Keys idle for a minute are
    forgotten (swept once a minute), so rotating addresses cannot grow it
    without bound."""

    WINDOW_S = 60.0

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._hits: dict[str, deque[float]] = {}
        self._swept = time.monotonic()

    def hit(self, key: str) -> None:
        if self.per_minute <= 0:
            return
        now = time.monotonic()
        if now - self._swept > self.WINDOW_S:
            self._sweep(now)
        hits = self._hits.setdefault(key, deque())
        while hits and now - hits[0] > self.WINDOW_S:
            hits.popleft()
        if len(hits) >= self.per_minute:
            raise TooManyRequests("too many login attempts; wait a minute and try again")
        hits.append(now)

    def _sweep(self, now: float) -> None:
        self._swept = now
        for key in [k for k, hits in self._hits.items() if not hits or now - hits[-1] > self.WINDOW_S]:
            del self._hits[key]

    def __len__(self) -> int:
        """How many keys are remembered."""
        return len(self._hits)


class AuthService:
    def __init__(self, settings: Settings, key: ServerKey, trust: TrustAnchors) -> None:
        self.settings = settings
        self.key = key
        self.trust = trust
        self.by_address = RateLimiter(settings.login_rate_per_minute)
        self.by_certificate = RateLimiter(settings.login_rate_per_minute)
        # Each challenge is a row written: bounded per address (twice the logins, as
        # a login refused for the rate got its challenge first), and removed by the
        # purge once used or expired. No cap shared by all clients: anyone rotating
        # addresses could use it up and lock every employee out.
        self.challenges_by_address = RateLimiter(2 * settings.login_rate_per_minute)
        # Enrollments, and the codes typed into them, per client address: a code
        # has about 59 bits, so this only keeps a guesser from flooding the database.
        self.enrollments_by_address = RateLimiter(settings.login_rate_per_minute)

    # -- login ----------------------------------------------------------------------

    def challenge(self, client: str = "unknown") -> dict:
        """A single-use nonce that the service can recognise without storing it:
        its expiry and 16 random bytes, with a MAC under the server key. Only
        its use is written (``consume_nonce``), so asking for challenges writes
        nothing, whoever asks and however often."""
        self.challenges_by_address.hit(client_key(client))
        expires = now_utc() + timedelta(seconds=self.settings.nonce_ttl_s)
        body = int(expires.timestamp() * 1000).to_bytes(8, "big") + secrets.token_bytes(16)
        nonce = base64.urlsafe_b64encode(body + self._challenge_tag(body)).rstrip(b"=").decode()
        return {"nonce": nonce, "audience": self.settings.audience, "expires_at": expires.isoformat()}

    def _challenge_tag(self, body: bytes) -> bytes:
        return self.key.mac(CHALLENGE_MAC_CONTEXT + body)[:16]

    def challenge_expiry(self, nonce: str) -> datetime | None:
        """When a challenge this service issued expires; None for any other string
        (made up, altered, or spelled in another base64url form of the same bytes,
        which would otherwise be a second nonce for one challenge)."""
        if len(nonce) != NONCE_LENGTH:
            return None
        try:
            raw = base64.urlsafe_b64decode(nonce + "==")
        except ValueError:
            return None
        body, tag = raw[:24], raw[24:]
        if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != nonce:
            return None
        if not hmac.compare_digest(tag, self._challenge_tag(body)):
            return None
        return datetime.fromtimestamp(int.from_bytes(body[:8], "big") / 1000, UTC)

    async def consume_nonce(self, db: AsyncSession, nonce: str, refusal: str) -> None:
        """Spend a challenge once: it must be one of ours and unexpired, and its
        row, inserted now, must not exist yet (a primary key, so atomic across
        processes). The purge keeps the row one more lifetime after the
        challenge expires (``maintenance.purge_expired``)."""
        expires = self.challenge_expiry(nonce)
        if expires is None or expires <= now_utc():
            await db.rollback()
            raise NonceError(refusal)
        spend = _SPEND_NONCE_POSTGRESQL if db.get_bind().dialect.name == "postgresql" else _SPEND_NONCE_SQLITE
        spent = await db.execute(spend, {"nonce": nonce, "expires_at": expires, "used": True})
        if cast(CursorResult[Any], spent).rowcount != 1:
            await db.rollback()
            raise NonceError(refusal)

    async def login(self, db: AsyncSession, token: str, client: str) -> dict:
        self.by_address.hit(client_key(client))
        await self.trust.refresh(db)
        seen: list[str] = []

        def remember(nonce: str) -> bool:
            seen.append(nonce)
            return True

        now = now_utc()
        # The anchor that builds the token's chain decides how the employee is
        # known: from the certificate, or from the card's enrollment.
        if len(self.trust.sources) == 1:
            anchor = self.trust.pilot
        else:
            sent = token_chain(token)
            anchor = self.trust.anchor_for(sent[0], sent[1:], now)
        enrolled = anchor.identity == IDENTITY_ENROLLMENT
        login = verify_login_token(
            token,
            trust_store=anchor.store(),
            crls=anchor.crls(),
            audience=self.settings.audience,
            now=now,
            consume_nonce=remember,
            require_employee_id=not enrolled,
        )
        if enrolled:
            employee_id = await employee_for(db, login.certificate, anchor.name)
        else:
            assert login.employee_id is not None  # required of the pilot's own certificates
            employee_id = login.employee_id
        if self.trust.learn(login.chain):
            await self.trust.refresh(db)  # the first login under a CA: keep its CRL now
        await self.consume_nonce(db, seen[0], "the login challenge is unknown, expired or already used; start the login again")
        # Counted only now, once the certificate's own key signed this token for
        # this service and a fresh challenge: anyone can send tokens that carry a
        # victim's certificate, and must not lock the victim out with them.
        try:
            self.by_certificate.hit(login.fingerprint)
        except TooManyRequests:
            await db.rollback()
            raise
        return await self.open_session(
            db, employee_id=employee_id, name=login.name, chain=login.chain,
            enrolled_under=anchor.name if enrolled else None,
        )

    async def open_session(
        self,
        db: AsyncSession,
        *,
        employee_id: str,
        name: str,
        chain: Sequence[x509.Certificate],
        login_method: str = "token",
        enrolled_under: str | None = None,
    ) -> dict:
        """A new session for an employee whose certificate chain (leaf first, as
        built to a trust anchor; a self-signed root at the end is not kept) was
        checked by the caller: a login token, or a TLS client certificate
        (``login_method``). ``enrolled_under``: the name of the "enrollment"
        anchor the card's link was read under; the link is read again, locked,
        in the transaction that inserts the session (``enrollment.hold_link``),
        so a revocation that committed since the caller's read refuses the
        login, and one that comes later ends the session. Commits; the same
        reply as ``login``."""
        if enrolled_under is not None:
            try:
                linked = await enrollment.hold_link(db, chain[0], enrolled_under)
            except BaseException:
                await db.rollback()
                raise
            if linked != employee_id:  # a link is never moved to another employee; refuse if it ever were
                await db.rollback()
                raise Unauthorized("this card's enrollment has changed; log in again", code="enrollment_revoked")
        session_id = secrets.token_urlsafe(32)
        now = now_utc()
        kept = list(chain)
        if len(kept) > 1 and kept[-1].subject == kept[-1].issuer:
            kept = kept[:-1]
        der = serialization.Encoding.DER
        await db.execute(
            _INSERT_SESSION,
            {
                "id": _session_key(session_id),
                "employee_id": employee_id,
                "certificate": kept[0].public_bytes(der),
                "certificate_chain": json.dumps([base64.b64encode(c.public_bytes(der)).decode() for c in kept]),
                "created_at": now,
                "expires_at": now + timedelta(seconds=self.settings.session_ttl_s),
                "last_seen": now,
                "revoked": False,
                "login_method": login_method,
            },
        )
        await db.commit()
        roles = await self.roles_of(db, employee_id)
        return {
            "session_token": self._token(session_id),
            "employee_id": employee_id,
            "name": name,
            "roles": sorted(roles),
            "expires_at": (now + timedelta(seconds=self.settings.session_ttl_s)).isoformat(),
        }

    # -- enrollment -----------------------------------------------------------------

    async def enroll(self, db: AsyncSession, token: str, client: str) -> dict:
        """Link a card certificate of an "enrollment" trust anchor to the
        employee its signed enrollment token names, if the one-time code in it
        was issued for that employee (voting/auth/enrollment.py)."""
        self.enrollments_by_address.hit(client_key(client))
        await self.trust.refresh(db)
        now = now_utc()
        sent = token_chain(token)
        anchor = self.trust.anchor_for(sent[0], sent[1:], now)
        if anchor.identity != IDENTITY_ENROLLMENT:
            raise Invalid(
                "this certificate names its employee itself and needs no enrollment: log in with it",
                code="enrollment_not_needed",
            )
        seen: list[str] = []

        def remember(nonce: str) -> bool:
            seen.append(nonce)
            return True

        claim = verify_enrollment_token(
            token, trust_store=anchor.store(), crls=anchor.crls(), audience=self.settings.audience, now=now,
            consume_nonce=remember,
        )
        if self.trust.learn(claim.chain):
            await self.trust.refresh(db)
        await self.consume_nonce(db, seen[0], "the challenge is unknown, expired or already used; start the enrollment again")
        try:
            self.by_certificate.hit(claim.fingerprint)
        except TooManyRequests:
            await db.rollback()
            raise
        await enrollment.enroll(
            db, code=claim.enrollment_code, employee_id=claim.employee_id, anchor=anchor.name, chain=sent,
            proof={"token": token}, now=now,
        )
        log.info(
            "card %s… (trust anchor %s) enrolled for %s", claim.fingerprint[:16], anchor.name, claim.employee_id,
            extra={"event": "enrolled", "employee_id": claim.employee_id, "anchor": anchor.name},
        )
        return {
            "employee_id": claim.employee_id,
            "fingerprint": claim.fingerprint,
            "anchor": anchor.name,
            "enrolled_at": now.isoformat(),
        }

    def _token(self, session_id: str) -> str:
        mac = base64.urlsafe_b64encode(self.key.mac(session_id.encode())).rstrip(b"=").decode()
        return f"{TOKEN_PREFIX}.{session_id}.{mac}"

    # -- sessions ---------------------------------------------------------------------

    async def authenticate(self, database: Database, token: str | None, *, touch: bool = True) -> Principal:
        """The session's employee; ``touch=False`` does not count the request as
        activity (a page polling the public status must not keep a session alive)."""
        if not token:
            raise Unauthorized("log in first", code="not_logged_in")
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != TOKEN_PREFIX or len(token) > 200:
            raise Unauthorized("malformed session token", code="bad_session")
        expected = self._token(parts[1])
        if not hmac.compare_digest(expected.encode(), token.encode()):
            raise Unauthorized("invalid session token", code="bad_session")
        async with database.read() as db:
            row = (await db.execute(_SESSION, {"id": _session_key(parts[1])})).one_or_none()
            roles = await self.roles_of(db, row.employee_id) if row is not None else set()
        now = now_utc()
        if row is None or row.revoked:
            raise Unauthorized("the session has ended; log in again", code="session_ended")
        if _aware(row.expires_at) <= now:
            raise Unauthorized("the session has expired; log in again", code="session_expired")
        if _aware(row.last_seen) + timedelta(seconds=self.settings.session_idle_s) <= now:
            raise Unauthorized("the session timed out after inactivity; log in again", code="session_idle")
        # The whole chain: revoking the issuing CA ends its employees' sessions too.
        chain = _parsed_chain(row.certificate_chain)
        if self.trust.learn(chain) or self.trust.due():
            async with database.write() as db:
                await self.trust.refresh(db)
        if self.trust.is_revoked(chain):
            async with database.write() as db:
                await db.execute(update(Session).where(Session.id == row.id).values(revoked=True))
                await db.commit()
            raise Unauthorized("your certificate has been revoked", code="certificate_revoked")
        # Recording every request's time would make each one a write; a coarse
        # granularity (at most a quarter of the idle timeout) is enough.
        if touch and (now - _aware(row.last_seen)).total_seconds() > min(30, self.settings.session_idle_s / 4):
            async with database.write() as db:
                await db.execute(update(Session).where(Session.id == row.id).values(last_seen=now))
                await db.commit()
        return Principal(row.employee_id, row.id, row.certificate, tuple(json.loads(row.certificate_chain)), frozenset(roles))

    async def is_admin(self, database: Database, token: str | None) -> bool:
        """Does this request carry an administrator's session? For public pages
        that show administrators more (the CRL state); any refusal means no."""
        if not token:
            return False
        try:
            principal = await self.authenticate(database, token, touch=False)
        except (ServiceError, CredentialError):
            return False
        return ADMIN in principal.roles

    async def logout(self, db: AsyncSession, principal: Principal) -> None:
        await db.execute(update(Session).where(Session.id == principal.session_id).values(revoked=True))
        await db.commit()

    # -- rosters --------------------------------------------------------------------

    async def roles_of(self, db: AsyncSession, employee_id: str) -> set[str]:
        # One query (it runs on every authenticated request): the global roles,
        # then "trustee" and "voter" if any election names the employee so.
        return set(await db.scalars(_ROLES, {"employee_id": employee_id}))


#: Built once (building a statement costs about 0.1 ms).
_INSERT_SESSION = insert(cast(Table, Session.__table__))
_NONCES = cast(Table, LoginNonce.__table__)  # the table, not the entity: a Core insert, with a rowcount
_SPEND_NONCE_SQLITE = sqlite_insert(_NONCES).on_conflict_do_nothing()
_SPEND_NONCE_POSTGRESQL = postgresql_insert(_NONCES).on_conflict_do_nothing()
_SESSION = select(
    Session.id, Session.employee_id, Session.certificate, Session.certificate_chain, Session.expires_at,
    Session.last_seen, Session.revoked,
).where(Session.id == bindparam("id"))
_ROLES: CompoundSelect = union_all(
    select(Role.role).where(Role.employee_id == bindparam("employee_id")),
    select(literal_column(f"'{TRUSTEE}'")).where(exists().where(Trustee.employee_id == bindparam("employee_id"))),
    select(literal_column("'voter'")).where(exists().where(RollEntry.employee_id == bindparam("employee_id"))),
)


@functools.lru_cache(maxsize=4096)
def _parsed_chain(chain_json: str) -> tuple[x509.Certificate, ...]:
    """A session's stored chain, parsed once per chain while it is in use
    (every authenticated request checks it against the CRLs)."""
    return tuple(x509.load_der_x509_certificate(base64.b64decode(c)) for c in json.loads(chain_json))


def _session_key(session_id: str) -> str:
    """The database keeps a hash, so a copy of it holds no usable session."""
    return hashlib.sha256(session_id.encode()).hexdigest()
