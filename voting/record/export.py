"""Exporting an election's record from the database (docs/election-record.md).

The public part is the bulletin board exactly as stored (each leaf's bytes),
every signed tree head, the witnesses' cosignatures of those heads, and the
views ``build`` derives from them. The
auditors-only part adds the roll (employee <-> registered voting credential,
with the registration the employee's certificate signed), the login trust
anchors and the CRLs as they are now, so that the verifier can check every
registering certificate at its registration time, and the card enrollments
of the roll's employees with their anchors (a card whose certificate names
no employee is the employee's its enrollment names). Ballots are signed by the
voting credentials, so no per-ballot certificate is needed. Any state of the election can be exported; the record of an election
still open simply ends where its board ends.
"""

from __future__ import annotations

import base64
import json
import logging
from datetime import UTC, datetime

from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crypto.entry_kinds import CREDENTIAL_REGISTERED
from crypto.errors import CrlError
from voting.auth.trust import TrustAnchors
from voting.board.service import signed_head
from voting.board.witnesses import cosigned_heads
from voting.db.models import BoardEntry, Election, Enrollment, RollEntry, TreeHead
from voting.errors import NotFound
from voting.record.build import AuditorsPart, build_record
from voting.settings import IDENTITY_ENROLLMENT, Settings

log = logging.getLogger("voting.record")

#: Rows read per query, so a large board is read in pieces.
PAGE = 5000


async def export_record(
    db: AsyncSession,
    election_id: str,
    *,
    settings: Settings | None = None,
    private: bool = False,
    trust: TrustAnchors | None = None,
) -> dict[str, bytes]:
    """The record's files (path -> bytes); with ``private``, the auditors' part
    too, with the trust anchor and the CRLs of ``trust`` (a serving app
    process's own), or else of ``settings``."""
    if await db.get(Election, election_id) is None:
        raise NotFound(f"no election {election_id!r}", code="election_not_found")
    # Casts may commit while this reads (PostgreSQL reads each statement at its
    # own moment): everything else is cut at the board as read, whose every
    # entry was committed with its tree head and its ballot row.
    board = await _board(db, election_id)
    heads = await _tree_heads(db, election_id, len(board))
    cosigned = [c.to_json() for c in await cosigned_heads(db, election_id, 1, len(board))]
    auditors = await _auditors_part(db, election_id, len(board), trust or _trust_source(settings)) if private else None
    if private:
        log.info("exported the auditors' part of the record of %s", election_id)
    return build_record(
        election_id,
        board,
        heads,
        exported_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
        auditors=auditors,
        cosigned=cosigned,
    )


async def _board(db: AsyncSession, election_id: str) -> list[bytes]:
    """Every leaf's bytes, in order: the stored canonical text, never re-encoded."""
    lines: list[bytes] = []
    while True:
        rows = (
            await db.scalars(
                select(BoardEntry.data)
                .where(BoardEntry.election_id == election_id, BoardEntry.leaf_index >= len(lines))
                .order_by(BoardEntry.leaf_index)
                .limit(PAGE)
            )
        ).all()
        lines += [text.encode("utf-8") for text in rows]
        if len(rows) < PAGE:
            return lines


async def _tree_heads(db: AsyncSession, election_id: str, board_size: int) -> list[dict]:
    heads: list[dict] = []
    size = 0
    while True:
        rows = (
            await db.scalars(
                select(TreeHead)
                .where(TreeHead.election_id == election_id, TreeHead.size > size, TreeHead.size <= board_size)
                .order_by(TreeHead.size)
                .limit(PAGE)
            )
        ).all()
        heads += [signed_head(row, election_id).to_json() for row in rows]
        if rows:
            size = rows[-1].size
        if len(rows) < PAGE:
            return heads


async def _auditors_part(db: AsyncSession, election_id: str, board_size: int, trust: TrustAnchors) -> AuditorsPart:
    # A registration committed after the board was read is left out with its entry.
    registered = set(
        (
            await db.scalars(
                select(BoardEntry.tracking_code).where(
                    BoardEntry.election_id == election_id,
                    BoardEntry.kind == CREDENTIAL_REGISTERED,
                    BoardEntry.leaf_index < board_size,
                )
            )
        ).all()
    )
    roll = (
        await db.execute(
            select(RollEntry.employee_id, RollEntry.name, RollEntry.credential, RollEntry.registration)
            .where(RollEntry.election_id == election_id)
            .order_by(RollEntry.employee_id)
        )
    ).all()
    anchors, crls = await _trust(db, trust)
    entries = []
    for employee_id, name, credential, registration in roll:
        if credential not in registered:
            credential, registration = None, None
        entries.append(
            {
                "employee_id": employee_id,
                "name": name,
                "credential": credential,
                "registration": json.loads(registration) if registration else None,
            }
        )
    enrollments = await _enrollments(db, trust, [row[0] for row in roll])
    return AuditorsPart(roll=entries, trust_anchors=anchors, crls=crls, enrollments=enrollments)


async def _enrollments(db: AsyncSession, trust: TrustAnchors, employees: list[str]) -> dict:
    """The anchors whose certificates name no employee (their roots), and every
    card enrollment of an employee on the roll, revoked ones too, each with its
    proof: the token the card signed, or the server's word."""
    der = serialization.Encoding.DER
    anchors = []
    for source in trust.sources:
        if source.identity != IDENTITY_ENROLLMENT:
            continue
        try:
            roots = source.store().roots
        except CrlError:
            continue  # logged; registrations under it then fail verification: fail closed
        anchors.append({"name": source.name, "certificates": [base64.b64encode(r.public_bytes(der)).decode("ascii") for r in roots]})
    rows = []
    wanted = set(employees)
    for row in await db.scalars(select(Enrollment).order_by(Enrollment.enrolled_at, Enrollment.fingerprint)):
        if row.employee_id not in wanted:
            continue
        rows.append(
            {
                "fingerprint": row.fingerprint,
                "employee_id": row.employee_id,
                "anchor": row.anchor,
                "chain": json.loads(row.chain),
                "proof": json.loads(row.proof),
                "enrolled_at": _iso(row.enrolled_at),
                "revoked_at": _iso(row.revoked_at) if row.revoked_at else None,
            }
        )
    return {"anchors": anchors, "enrollments": rows}


def _iso(value: datetime) -> str:
    """UTC, milliseconds (SQLite hands back naive datetimes; they were stored as UTC)."""
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds")


def _trust_source(settings: Settings | None) -> TrustAnchors:
    """A one-off reader's trust anchors (the archive command): it downloads a
    CRL URL asynchronously, within VOTING_CRL_TIMEOUT_S and VOTING_CRL_MAX_BYTES."""
    return TrustAnchors.from_settings(settings or Settings.from_env(), refresh_s=0)


async def _trust(db: AsyncSession, trust: TrustAnchors) -> tuple[list[bytes], list[bytes]]:
    """The trust anchors and the CRLs as of now (the verifier needs a CRL
    issued after the last ballot): each CA's newest, from the database's kept
    CRLs and the source, so an old CRL put back never replaces a newer one;
    no network on a request's path."""
    der = serialization.Encoding.DER
    crls = await trust.current_crls(db)
    return (
        [root.public_bytes(der) for root in trust.store().roots],
        [crl.public_bytes(der) for crl in crls],
    )


def record_filename(election_id: str, *, private: bool) -> str:
    return f"{election_id}-record{'-auditors' if private else ''}.zip"
