"""Card enrollment: linking a card certificate that names no employee to one
employee, once (docs/operations.md, "Trust anchors and enrollment").

A trust anchor with identity ``"enrollment"`` (such as JPKI, whose
user-authentication certificate carries neither a name nor an employee id)
says only that a card is genuine; who holds it comes from an enrollment. An
administrator issues a one-time enrollment code for an employee (12 characters
from an alphabet without look-alikes, shown as ``XXXX-XXXX-XXXX``, valid for
``VOTING_ENROLLMENT_CODE_TTL_S``, kept only as a hash); the employee's card
signs an enrollment token (crypto.credentials.make_enrollment_token) over a
fresh login challenge, the code and the employee id printed on the code slip.
The service checks the card's chain, revocation and signature, that the code
is unused, unexpired and was issued for that very employee id, and stores the
link with the signed token as its proof. The link goes, with its proof, into
the auditors' part of every election record of that employee.

An administrator revokes a link: the card logs in no more, and its open
sessions end at once.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast, overload

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crypto.credentials import certificate_fingerprint, is_valid_employee_id
from voting.db.models import Enrollment, EnrollmentCode, Session
from voting.enrollment_code import new_code, normalize_code
from voting.errors import Conflict, Invalid, NotFound, Unauthorized

CODE_HASH_TAG = b"votingpilot/v1/enrollment-code\x00"
MAX_REASON_LENGTH = 200
VIA_CLIENT_CERTIFICATE = "client-certificate"


def now_utc() -> datetime:
    return datetime.now(UTC)


@overload
def _aware(value: datetime) -> datetime: ...
@overload
def _aware(value: datetime | None) -> datetime | None: ...
def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; they were stored as UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# -- codes ------------------------------------------------------------------------------


def code_hash(code: str) -> str:
    """What the database keeps of a code (in its shown form)."""
    return hashlib.sha256(CODE_HASH_TAG + code.encode("ascii")).hexdigest()


async def issue_code(db: AsyncSession, *, employee_id: str, created_by: str, ttl_s: int) -> dict:
    """A new one-time code for ``employee_id``; the only time it is ever shown."""
    if not is_valid_employee_id(employee_id):
        raise Invalid(f"{employee_id!r} is not an employee id", code="invalid_employee_id")
    code = new_code()
    now = now_utc()
    expires = now + timedelta(seconds=ttl_s)
    db.add(
        EnrollmentCode(
            code_hash=code_hash(code), employee_id=employee_id, created_by=created_by,
            created_at=now, expires_at=expires, used_at=None,
        )
    )
    await db.commit()
    return {"code": code, "employee_id": employee_id, "expires_at": expires.isoformat()}


async def use_code(db: AsyncSession, code: object, employee_id: str, now: datetime) -> None:
    """Mark the code used, for ``employee_id`` only, in one conditional UPDATE
    (atomic across processes); refuses an unknown, used, expired or other
    employee's code with a code that says which. Does not commit."""
    shown = normalize_code(code)
    if shown is None:
        raise Invalid("the enrollment code is 12 letters and digits, XXXX-XXXX-XXXX", code="enrollment_code_malformed")
    row = await db.get(EnrollmentCode, code_hash(shown), populate_existing=True)
    if row is None:
        raise Unauthorized("this enrollment code is unknown; check it on the slip", code="enrollment_code_unknown")
    if row.employee_id != employee_id:
        raise Unauthorized(
            "this enrollment code was issued for another employee id; check the employee id on the slip",
            code="enrollment_code_other_employee",
        )
    if row.used_at is not None:
        raise Unauthorized("this enrollment code has already been used; ask for a new one", code="enrollment_code_used")
    if _aware(row.expires_at) <= now:
        raise Unauthorized("this enrollment code has expired; ask for a new one", code="enrollment_code_expired")
    used = await db.execute(
        update(EnrollmentCode)
        .where(EnrollmentCode.code_hash == row.code_hash, EnrollmentCode.used_at.is_(None))
        .values(used_at=now)
    )
    if cast(CursorResult[Any], used).rowcount != 1:
        raise Unauthorized("this enrollment code has already been used; ask for a new one", code="enrollment_code_used")


# -- links ------------------------------------------------------------------------------


def _chain_b64(chain: Sequence[x509.Certificate]) -> list[str]:
    return [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode("ascii") for c in chain]


async def link(
    db: AsyncSession,
    *,
    employee_id: str,
    anchor: str,
    chain: Sequence[x509.Certificate],
    proof: dict,
    now: datetime,
) -> Enrollment:
    """Store the link of the card certificate ``chain[0]`` (chain as the card
    sent it, leaf first) to ``employee_id``. A certificate is linked once: a
    second enrollment of the same card, even after a revocation, is refused (a
    revoked link stays revoked; a new card certificate is a new link). Does
    not commit."""
    leaf = chain[0]
    fingerprint = certificate_fingerprint(leaf)
    existing = await db.get(Enrollment, fingerprint)
    if existing is not None:
        if existing.revoked_at is not None:
            raise Conflict(
                "this card's enrollment was revoked; it cannot be enrolled again (ask the administrators)",
                code="enrollment_revoked",
            )
        raise Conflict(
            f"this card is already enrolled (for {existing.employee_id})", code="already_enrolled",
            extra={"employee_id": existing.employee_id},
        )
    row = Enrollment(
        fingerprint=fingerprint,
        employee_id=employee_id,
        anchor=anchor,
        certificate=leaf.public_bytes(serialization.Encoding.DER),
        chain=json.dumps(_chain_b64(chain)),
        proof=json.dumps(proof, sort_keys=True, separators=(",", ":")),
        enrolled_at=now,
        revoked_at=None,
        revoked_by=None,
        revoked_reason=None,
    )
    db.add(row)
    return row


async def enroll(
    db: AsyncSession,
    *,
    code: object,
    employee_id: str,
    anchor: str,
    chain: Sequence[x509.Certificate],
    proof: dict,
    now: datetime,
) -> None:
    """Spend the code and store the link, in one commit, whichever way the
    card proved itself (a signed enrollment token, or a TLS client
    certificate). Two requests enrolling the same card at once: one link wins,
    the other is refused as already enrolled. Rolls back on any failure."""
    try:
        await use_code(db, code, employee_id, now)
        await link(db, employee_id=employee_id, anchor=anchor, chain=chain, proof=proof, now=now)
        await db.commit()
    except IntegrityError:
        await db.rollback()
        raise Conflict("this card is already enrolled", code="already_enrolled") from None
    except BaseException:
        await db.rollback()
        raise


async def employee_for(db: AsyncSession, certificate: x509.Certificate, anchor: str) -> str:
    """The employee a card certificate of the trust anchor named ``anchor``
    (identity "enrollment") is linked to; refuses a card never enrolled
    (``not_enrolled``) or whose link was revoked (``enrollment_revoked``).
    A plain read: a login asks it first, and again with ``hold_link`` in the
    transaction that opens the session."""
    return await _linked(db, certificate, anchor, lock=False)


async def hold_link(db: AsyncSession, certificate: x509.Certificate, anchor: str) -> str:
    """``employee_for``, read with the link's row locked (``SELECT … FOR
    UPDATE`` on PostgreSQL; SQLite's writes are serialized anyway) until ``db``
    commits: the caller opens the session in that transaction. ``revoke``
    takes the same lock before it ends the card's sessions, so a revocation
    either comes first (and this refuses) or waits for the session and ends
    it: no session outlives its card's link."""
    return await _linked(db, certificate, anchor, lock=True)


async def _linked(db: AsyncSession, certificate: x509.Certificate, anchor: str, *, lock: bool) -> str:
    fingerprint = certificate_fingerprint(certificate)
    if lock:
        row = await db.get(Enrollment, fingerprint, with_for_update=True, populate_existing=True)
    else:
        row = await db.get(Enrollment, fingerprint)
    if row is None or row.anchor != anchor:
        raise Unauthorized(
            "this card is not enrolled yet: enroll it once with the enrollment code from the administrators "
            "('voting card enroll', or the enrollment page)",
            code="not_enrolled",
        )
    if row.revoked_at is not None:
        raise Unauthorized(
            "this card's enrollment has been revoked; ask the administrators", code="enrollment_revoked"
        )
    return row.employee_id


def describe(row: Enrollment) -> dict:
    """An enrollment as the administrators see it."""
    certificate = x509.load_der_x509_certificate(row.certificate)
    return {
        "fingerprint": row.fingerprint,
        "employee_id": row.employee_id,
        "anchor": row.anchor,
        "subject": certificate.subject.rfc4514_string(),
        "issuer": certificate.issuer.rfc4514_string(),
        "not_after": certificate.not_valid_after_utc.isoformat(),
        "via": json.loads(row.proof).get("via", "card-signature"),
        "enrolled_at": _aware(row.enrolled_at).isoformat(),
        "revoked_at": _aware(row.revoked_at).isoformat() if row.revoked_at else None,
        "revoked_by": row.revoked_by,
        "revoked_reason": row.revoked_reason,
    }


async def list_enrollments(db: AsyncSession, *, employee_id: str | None = None) -> list[dict]:
    query = select(Enrollment).order_by(Enrollment.enrolled_at, Enrollment.fingerprint)
    if employee_id is not None:
        query = query.where(Enrollment.employee_id == employee_id)
    return [describe(row) for row in await db.scalars(query)]


async def revoke(db: AsyncSession, fingerprint: str, *, revoked_by: str, reason: object) -> dict:
    """Revoke a link: the card logs in no more, and every session opened with
    its certificate ends now (in every app process: the sessions are rows).
    The link's row is locked first, as a login's ``hold_link`` locks it: a
    login that holds it has its session ended here once it commits."""
    if not isinstance(fingerprint, str) or len(fingerprint) != 64 or any(c not in "0123456789abcdef" for c in fingerprint):
        raise Invalid("the fingerprint is 64 lowercase hex digits (SHA-256 of the certificate)", code="invalid_fingerprint")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON_LENGTH:
        raise Invalid(f"give a reason (1 to {MAX_REASON_LENGTH} characters)", code="invalid_reason")
    row = await db.get(Enrollment, fingerprint, with_for_update=True)
    if row is None:
        raise NotFound("no enrollment with this fingerprint", code="enrollment_not_found")
    if row.revoked_at is None:
        row.revoked_at = now_utc()
        row.revoked_by = revoked_by
        row.revoked_reason = reason.strip()
    await db.execute(update(Session).where(Session.certificate == row.certificate).values(revoked=True))
    await db.commit()
    return describe(row)
