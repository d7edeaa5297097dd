"""Casting a ballot. It reads top to bottom: parse, authenticate (done by the
caller), verify, append, commit, receipt.

The expensive checks (every proof and the voting credential's Ed25519
signature) run before the
write transaction; inside it, only what must be serialized: the state and
re-vote checks, the board append and the commit. A receipt is returned only
after the commit, and a retried request with the same ballot gets the same
receipt and changes nothing.

Group commit: verified casts wait in a queue, and one task of this process
writes every cast waiting at that moment in one transaction (the election row
and the board locked once, the rows inserted together, one durable commit),
then hands each caller its receipt or its refusal. The state and re-vote checks
still run inside that serialized transaction, cast by cast, in arrival order.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from crypto.ballots import AuditOpening, EncryptedBallot, Manifest, tracking_code, verify_audit_opening, verify_ballot
from crypto.credentials import verify_credential_signature
from crypto.encoding import canonical_json
from crypto.entry_kinds import BALLOT, BALLOT_AUDITED, BALLOT_SUPERSEDED
from crypto.group import Point
from crypto.receipts import make_receipt
from voting.auth.service import Principal
from voting.board.service import Board, BoardAppender
from voting.db.engine import Database
from voting.db.models import Ballot, BoardEntry, Election, RollEntry
from voting.elections import lifecycle
from voting.elections.schedule import Schedule
from voting.errors import Conflict, Forbidden, Invalid, NotFound, ServiceError, WrongState, unavailable

log = logging.getLogger("voting.ballots")

MAX_SIGNATURE_HEX = 128  # an Ed25519 signature is 64 bytes
MAX_BATCH = 128  # casts per group-commit transaction


# The cast path's statements, built once (building one costs about 0.1 ms).
_VOTER = (  # the election's state and fingerprint, the employee's internal id and credential, if on its roll
    select(Election.status, Election.fingerprint, RollEntry.pseudonym, RollEntry.credential)
    .select_from(Election)
    .outerjoin(
        RollEntry,
        and_(RollEntry.election_id == Election.id, RollEntry.employee_id == bindparam("employee_id")),
    )
    .where(Election.id == bindparam("election_id"))
)
_LOCK_ELECTION = (  # what the serialized section reads of the election, its row locked
    select(Election.id, Election.status, Election.revote_policy).where(Election.id == bindparam("election_id")).with_for_update()
)
_STORED = (  # the ballots these voters cast before
    select(Ballot.id, Ballot.pseudonym, Ballot.tracking_code, Ballot.superseded, Ballot.receipt)
    .where(Ballot.election_id == bindparam("election_id"), Ballot.pseudonym.in_(bindparam("pseudonyms", expanding=True)))
    .order_by(Ballot.id)
)
_AUDITS_SINCE = select(BoardEntry.leaf_index, BoardEntry.data).where(  # published audits from a leaf on (a PK range)
    BoardEntry.election_id == bindparam("election_id"),
    BoardEntry.leaf_index >= bindparam("start"),
    BoardEntry.kind == BALLOT_AUDITED,
)
_COUNT_CASTS = (
    update(Election)
    .where(Election.id == bindparam("election_id"))
    .values(
        ballots_cast=Election.ballots_cast + bindparam("cast"),
        ballots_superseded=Election.ballots_superseded + bindparam("superseded"),
    )
    .execution_options(synchronize_session=False)  # no ORM object of these rows is read after it
)
_SUPERSEDE = (
    update(Ballot)
    .where(Ballot.id.in_(bindparam("ids", expanding=True)))
    .values(superseded=True)
    .execution_options(synchronize_session=False)
)
_INSERT_BALLOTS = insert(cast(Table, Ballot.__table__))  # through the table (Core): the ORM's bulk insert adds nothing
_RECEIPT = select(Ballot.receipt, Ballot.superseded, Ballot.pseudonym, Ballot.leaf_index).where(
    Ballot.election_id == bindparam("election_id"), Ballot.tracking_code == bindparam("code")
)
_NEXT_OF_VOTER = (  # the ballot that replaced one: the voter's next (docs/web.md, "A replaced ballot")
    select(Ballot.tracking_code)
    .where(
        Ballot.election_id == bindparam("election_id"),
        Ballot.pseudonym == bindparam("pseudonym"),
        Ballot.leaf_index > bindparam("leaf_index"),
    )
    .order_by(Ballot.leaf_index)
    .limit(1)
)


@dataclass(frozen=True)
class ElectionKeys:
    """What verification needs, parsed once per election (it never changes once open)."""

    manifest: Manifest
    joint_key: Point
    fingerprint: bytes
    schedule: Schedule


@dataclass
class PendingCast:
    """A verified cast waiting for the group commit."""

    principal: Principal
    election_id: str
    pseudonym: str
    credential: str
    ballot: EncryptedBallot
    code: bytes
    signature_hex: str
    outcome: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def resolve(self, receipt: dict | None = None, error: BaseException | None = None) -> None:
        if self.outcome.done():  # settled once
            return
        if error is not None:
            self.outcome.set_exception(error)
        else:
            self.outcome.set_result(receipt)


@dataclass
class KnownBallot:
    """A ballot of one voter, stored or written earlier in the same batch."""

    tracking_code: str
    superseded: bool
    receipt: dict | str
    ballot_id: int | None = None
    row: dict | None = None

    def receipt_json(self) -> dict:
        return json.loads(self.receipt) if isinstance(self.receipt, str) else self.receipt


@dataclass
class Audited:
    """An election's published audits, never castable: their tracking codes and
    their selection ciphertexts' alphas, read from the board up to ``scanned``
    (entries below it are committed: they were read under the board lock)."""

    scanned: int = 0
    codes: set[str] = field(default_factory=set)
    alphas: set[str] = field(default_factory=set)


def _alphas(ballot_doc: dict[str, Any]) -> set[str]:
    """The alphas (hex) of a ballot document's selection ciphertexts."""
    return {s["alpha"] for q in ballot_doc["questions"] for s in q["selections"]}


class CastService:
    def __init__(self, board: Board, database: Database) -> None:
        self.board = board
        self.database = database
        self._keys: dict[str, ElectionKeys] = {}
        self._audited: dict[str, Audited] = {}
        self._pending: list[PendingCast] = []
        self._writer: asyncio.Task | None = None

    async def _voter(
        self, election_id: str, employee_id: str, *, action: str = "cast a ballot"
    ) -> tuple[ElectionKeys, str, str, ServiceError | None]:
        """The election's keys, the voter's internal id and registered voting
        credential (one query); refuses an unknown election or one not opened
        yet, an employee who is not on its roll and one who registered no
        credential. For an opened election that is no longer open, or outside
        its schedule, the refusal is returned, not raised: a ballot resent
        after its cast's outcome was lost still gets its stored receipt."""
        async with self.database.read() as db:
            row = (await db.execute(_VOTER, {"election_id": election_id, "employee_id": employee_id})).one_or_none()
            if row is None:
                raise NotFound(f"no election {election_id!r}", code="election_not_found")
            if row.status in (lifecycle.DRAFT, lifecycle.KEY_CEREMONY):
                lifecycle.require(row, lifecycle.OPEN, action=action)
            keys = self._keys.get(election_id)
            if keys is None or keys.fingerprint.hex() != row.fingerprint:  # new, or an archived election's id used again
                election = await db.get(Election, election_id)
                assert election is not None and election.joint_key is not None and election.fingerprint is not None
                manifest = Manifest.from_json(json.loads(election.manifest))
                keys = ElectionKeys(
                    manifest,
                    Point.from_hex(election.joint_key),
                    bytes.fromhex(election.fingerprint),
                    Schedule.of(manifest.document),
                )
                self._keys[election_id] = keys
                self._audited.pop(election_id, None)  # an archived election's audits, if its id is used again
        # An early answer by this host's clock (kept within the tolerance of the
        # board's by the start-up and readiness checks), without a query: the
        # write judges each cast again by the board's own clock.
        at = datetime.fromtimestamp(self.board.clock() / 1000, UTC)
        refusal = _refusal(row.status, keys.schedule, action, at)
        if (row.pseudonym is None or row.credential is None) and refusal is not None:
            raise refusal
        if row.pseudonym is None:
            raise Forbidden("you are not on this election's voter roll", code="not_on_roll")
        if row.credential is None:
            raise Forbidden(
                "register your voting credential for this election first", code="credential_not_registered"
            )
        return keys, row.pseudonym, row.credential, refusal

    async def cast(self, principal: Principal, election_id: str, body: object) -> dict:
        # 1. parse
        if not isinstance(body, dict) or set(body) != {"ballot", "signature"}:
            raise Invalid("send {ballot, signature}", code="invalid_request")
        signature_hex = body["signature"]
        if not isinstance(signature_hex, str) or len(signature_hex) > MAX_SIGNATURE_HEX:
            raise Invalid("the signature must be hex", code="invalid_signature_encoding")
        try:
            signature = bytes.fromhex(signature_hex)
        except ValueError:
            raise Invalid("the signature must be hex", code="invalid_signature_encoding") from None
        if signature.hex() != signature_hex:  # stored as sent: only the canonical spelling the record's verifier reads
            raise Invalid("the signature must be lowercase hex", code="invalid_signature_encoding")
        keys, pseudonym, credential, refusal = await self._voter(election_id, principal.employee_id)

        # 2. verify: every proof for this voter's credential, then its signature
        ballot = EncryptedBallot.from_json(body["ballot"], keys.manifest)
        _require_voter_id(ballot, credential)
        code = tracking_code(keys.fingerprint, ballot)
        if refusal is not None:  # not open, or outside the schedule: only a resend of a stored ballot gets its receipt
            async with self.database.read() as db:
                stored = (await db.execute(_RECEIPT, {"election_id": election_id, "code": code.hex()})).one_or_none()
            if stored is None:
                raise refusal
            return _reply(json.loads(stored.receipt), stored.superseded)
        verify_ballot(keys.manifest, keys.joint_key, keys.fingerprint, credential, ballot)
        verify_credential_signature(
            bytes.fromhex(credential), signature, election_fingerprint=keys.fingerprint, tracking_code=code
        )

        # 3. append and commit, serialized (with every other cast waiting now)
        pending = PendingCast(principal, election_id, pseudonym, credential, ballot, code, signature_hex)
        self._pending.append(pending)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_pending())
        # A client that goes away does not cancel the write its cast is part of.
        return await asyncio.shield(pending.outcome)

    # -- the group commit ----------------------------------------------------------------

    async def _write_pending(self) -> None:
        """Write what is waiting, batch after batch, until nothing is."""
        while self._pending:
            async with self.database.write_lock:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                by_election: dict[str, list[PendingCast]] = defaultdict(list)
                for pending in batch:
                    by_election[pending.election_id].append(pending)
                try:
                    for election_id, casts in by_election.items():
                        await self._write_batch(election_id, casts)
                finally:  # never leave a caller waiting (e.g. on shutdown, maybe mid-commit); settled ones stay as they are
                    for pending in batch:
                        pending.resolve(error=OutcomeUnknown())

    async def _write_batch(self, election_id: str, casts: list[PendingCast], *, unknown: bool = False) -> None:
        """One transaction for ``casts``; every one is settled when this returns.
        Receipts are handed out only after the commit. If the transaction fails
        for another reason than a refusal, each cast is retried on its own, so
        that one cannot take the others down with it. A commit that raises
        (e.g. its reply was lost with the connection) may have committed: its
        casts' outcome is unknown (``unknown``) until a retry settles it, and a
        cast that fails again is answered 503 ``outcome_unknown``: resending
        the same ballot is safe, and returns its receipt if it was stored."""
        committing = False
        try:
            async with self.database.session() as db:
                outcomes = await self._append_all(db, election_id, casts)
                committing = True
                await db.commit()
        except Exception as exc:
            unknown = unknown or committing
            if len(casts) > 1:
                for pending in casts:
                    await self._write_batch(election_id, [pending], unknown=unknown)
            elif unknown and not isinstance(exc, ServiceError):
                log.warning(
                    "a cast's commit failed; its outcome is unknown: %s", type(exc).__name__,
                    extra={"event": "cast_outcome_unknown", "election_id": election_id},
                )
                casts[0].resolve(error=OutcomeUnknown())
            else:
                if not isinstance(exc, ServiceError) and unavailable(exc) is None:  # an outage: one line, by the handler
                    log.exception("writing a cast failed")
                casts[0].resolve(error=exc)
            return
        for pending, outcome in zip(casts, outcomes):
            if isinstance(outcome, BaseException):
                pending.resolve(error=outcome)
            else:
                pending.resolve(receipt=outcome)

    async def _append_all(
        self, db: AsyncSession, election_id: str, casts: list[PendingCast]
    ) -> list[dict | ServiceError]:
        # Lock the election row first: on PostgreSQL with several app processes this
        # orders the state check, the re-vote check and the append of one voter's
        # concurrent casts (and a concurrent close), which the board lock alone,
        # taken later, would not.
        election = (await db.execute(_LOCK_ELECTION, {"election_id": election_id})).one_or_none()
        if election is None:
            return [NotFound(f"no election {election_id!r}", code="election_not_found") for _ in casts]
        known: dict[str, list[KnownBallot]] = defaultdict(list)
        stored = await db.execute(
            _STORED, {"election_id": election_id, "pseudonyms": sorted({c.pseudonym for c in casts})}
        )
        for ballot_id, pseudonym, code, superseded, receipt in stored:
            known[pseudonym].append(KnownBallot(code, superseded, receipt, ballot_id=ballot_id))
        plan = self._keys[election_id].schedule
        if election.status != lifecycle.OPEN:  # closed while these were being verified: only resends get receipts
            at = await self.board.now(db)
            replies: list[dict | ServiceError] = []
            for c in casts:
                refusal = _refusal(election.status, plan, "cast a ballot", at)
                assert refusal is not None  # the election is not open
                replies.append(_resent(known[c.pseudonym], c) or refusal)
            return replies
        appender = await self.board.appender(db, election_id)
        audited = await self._audited_since(db, election_id, appender.frontier.size)
        rows: list[dict] = []
        superseded_ids: list[int] = []
        outcomes: list[dict | ServiceError] = []
        for pending in casts:
            try:
                resent = _resent(known[pending.pseudonym], pending)
                if resent is not None:  # a retry: same receipt, nothing added
                    outcomes.append(resent)
                    continue
                # The board's clock (the database server's on PostgreSQL), read for this batch
                # in its write transaction: no app host's clock ends voting early or late.
                plan.require_casting(appender.now)
                if pending.code.hex() in audited.codes:
                    raise Conflict(
                        "this ballot was audited (its encryption was revealed); it can never be cast",
                        code="ballot_audited",
                    )
                if audited.alphas and not audited.alphas.isdisjoint(s.ciphertext.alpha.hex() for q in pending.ballot.questions for s in q.selections):
                    raise Conflict(
                        "this ballot contains an encryption of an audited ballot, whose randomness (and so its "
                        "vote) was published; it can never be cast: encrypt your choices again",
                        code="ballot_audited",
                    )
                outcomes.append(
                    self._append_one(appender, election, pending, known[pending.pseudonym], rows, superseded_ids)
                )
            except ServiceError as exc:
                outcomes.append(exc)
        await appender.flush(db)
        if superseded_ids:
            await db.execute(_SUPERSEDE, {"ids": superseded_ids})
        if rows:
            await db.execute(_INSERT_BALLOTS, rows)
            # The status's counters, in the same transaction (a re-vote supersedes a stored ballot or one of this batch).
            superseded = len(superseded_ids) + sum(row["superseded"] for row in rows)
            await db.execute(_COUNT_CASTS, {"election_id": election_id, "cast": len(rows), "superseded": superseded})
        return outcomes

    async def _audited_since(self, db: AsyncSession, election_id: str, size: int) -> Audited:
        """Every audit published on this election's board (of ``size`` entries,
        locked by the caller): the ones this process knows, plus those appended
        since it last looked (one primary-key range query; audits are rare)."""
        known = self._audited.get(election_id)
        if known is None or known.scanned > size:  # first look (or a board that shrank: a new database)
            known = self._audited[election_id] = Audited()
        if known.scanned < size:
            for leaf_index, data in await db.execute(_AUDITS_SINCE, {"election_id": election_id, "start": known.scanned}):
                if leaf_index < size:
                    body = json.loads(data)["body"]
                    known.codes.add(body["tracking_code"])
                    known.alphas |= _alphas(body["ballot"])
            known.scanned = size
        return known

    def _append_one(
        self,
        appender: BoardAppender,
        election: Row,
        pending: PendingCast,
        previous: list[KnownBallot],
        rows: list[dict],
        superseded_ids: list[int],
    ) -> dict:
        code = pending.code.hex()
        counted = [b for b in previous if not b.superseded]
        if counted and election.revote_policy == "single":
            raise Conflict("you have already voted in this election", code="already_voted")

        ballot_doc = pending.ballot.to_json()
        appended = appender.append(
            BALLOT,
            {"tracking_code": code, "credential": pending.credential, "ballot": ballot_doc, "signature": pending.signature_hex},
            tracking_code=code,
        )
        receipt = make_receipt(
            self.board.key.private_key, self.board.key.public_bytes, appended.entry, appended.tree_head, appended.inclusion
        )
        for earlier in counted:
            earlier.superseded = True
            if earlier.row is not None:  # written earlier in this batch
                earlier.row["superseded"] = True
            elif earlier.ballot_id is not None:  # stored: known by its id
                superseded_ids.append(earlier.ballot_id)
            appender.append(
                BALLOT_SUPERSEDED,
                {"tracking_code": earlier.tracking_code, "superseded_by": code, "credential": pending.credential},
            )
        row = {
            "election_id": election.id,
            "pseudonym": pending.pseudonym,
            "tracking_code": code,
            "ballot": canonical_json(ballot_doc).decode(),
            "signature": pending.signature_hex,
            "certificate_chain": json.dumps(pending.principal.chain_b64),
            "leaf_index": appended.leaf_index,
            "superseded": False,
            "receipt": json.dumps(receipt),
            "cast_at": datetime.now(UTC),
        }
        rows.append(row)
        previous.append(KnownBallot(code, False, receipt, row=row))
        return receipt

    # -- published audits (Benaloh challenges) --------------------------------------------

    async def publish_audit(self, principal: Principal, election_id: str, body: object) -> dict:
        """Publish a ballot the voter chose to audit, with its opening, as a
        ``ballot-audited`` board entry (counted nowhere), so the voter can check
        it on another device. Its tracking code was never cast, and is never
        castable after; nor is any of its selection ciphertexts, cast before or
        after (re-proved, they would be a ballot of a public vote). Returns a receipt-shaped document (entry kind ``ballot-audited``)."""
        if not isinstance(body, dict) or set(body) != {"ballot", "opening"}:
            raise Invalid("send {ballot, opening}", code="invalid_request")
        keys, _, credential, refusal = await self._voter(election_id, principal.employee_id, action="publish an audited ballot")
        if refusal is not None:
            raise refusal
        ballot = EncryptedBallot.from_json(body["ballot"], keys.manifest)
        _require_voter_id(ballot, credential)
        verify_ballot(keys.manifest, keys.joint_key, keys.fingerprint, credential, ballot)
        opening = AuditOpening.from_json(body["opening"])
        verify_audit_opening(keys.manifest, keys.joint_key, ballot, opening)
        code = tracking_code(keys.fingerprint, ballot).hex()

        # Serialized with the group commit: the write lock on SQLite, the election row on PostgreSQL.
        async with self.database.write() as db:
            election = (await db.execute(_LOCK_ELECTION, {"election_id": election_id})).one_or_none()
            if election is None:
                raise NotFound(f"no election {election_id!r}", code="election_not_found")
            refusal = _refusal(election.status, keys.schedule, "publish an audited ballot", await self.board.now(db))
            if refusal is not None:
                raise refusal
            if (await db.execute(_RECEIPT, {"election_id": election_id, "code": code})).first() is not None:
                raise Conflict("this ballot was cast; a cast ballot cannot be audited", code="ballot_already_cast")
            if await _cast_with_alphas(db, election_id, _alphas(ballot.to_json())):
                raise Conflict(
                    "an encryption in this ballot was cast (under other proofs); a cast ballot cannot be audited",
                    code="ballot_already_cast",
                )
            index = await db.scalar(
                select(BoardEntry.leaf_index).where(
                    BoardEntry.election_id == election_id,
                    BoardEntry.kind == BALLOT_AUDITED,
                    BoardEntry.tracking_code == code,
                )
            )
            if index is not None:  # published before: the same entry, proven under its own head
                row = await self.board.entry(db, election_id, index)
                head = await self.board.head(db, election_id, index + 1)
                inclusion = await self.board.inclusion_proof(db, election_id, index, index + 1)
                return make_receipt(
                    self.board.key.private_key, self.board.key.public_bytes, json.loads(row.data), head, inclusion
                )
            appended = await self.board.append(
                db,
                election_id,
                BALLOT_AUDITED,
                {"tracking_code": code, "credential": credential, "ballot": ballot.to_json(), "opening": opening.to_json()},
                tracking_code=code,
            )
            receipt = make_receipt(
                self.board.key.private_key, self.board.key.public_bytes, appended.entry, appended.tree_head, appended.inclusion
            )
            await db.commit()
        return receipt

    async def receipt(self, db: AsyncSession, election_id: str, tracking_code_hex: str) -> dict:
        row = (await db.execute(_RECEIPT, {"election_id": election_id, "code": tracking_code_hex})).one_or_none()
        if row is None:
            raise NotFound("no ballot with this tracking code", code="tracking_code_not_found")
        if not row.superseded:
            return {"receipt": json.loads(row.receipt), "superseded": False}
        # Which ballot replaced it, so that a page can check that one on the board
        # (signed with the same voting credential) instead of taking this reply's word.
        later = await db.scalar(
            _NEXT_OF_VOTER, {"election_id": election_id, "pseudonym": row.pseudonym, "leaf_index": row.leaf_index}
        )
        return {"receipt": json.loads(row.receipt), "superseded": True, "superseded_by": later}


async def _cast_with_alphas(db: AsyncSession, election_id: str, alphas: set[str]) -> bool:
    """Whether a ballot cast in this election (superseded or not) contains a
    selection ciphertext with one of these alphas. Only publishing an audit asks
    this (rare): a text search of the election's stored ballots, confirmed on
    the parsed ballots it finds."""
    rows = await db.scalars(
        select(Ballot.ballot).where(
            Ballot.election_id == election_id,
            or_(*(Ballot.ballot.contains(f'"alpha":"{alpha}"', autoescape=True) for alpha in sorted(alphas))),
        )
    )
    return any(not alphas.isdisjoint(_alphas(json.loads(text))) for text in rows)


def _require_voter_id(ballot: EncryptedBallot, credential: str) -> None:
    if ballot.voter_id != credential:
        raise Invalid(
            "the ballot's voter_id must be your registered voting credential", code="voter_id_mismatch"
        )


def _resent(previous: list[KnownBallot], pending: PendingCast) -> dict | None:
    """The stored receipt when this voter cast this very ballot before."""
    code = pending.code.hex()
    earlier = next((b for b in previous if b.tracking_code == code), None)
    return None if earlier is None else _reply(earlier.receipt_json(), earlier.superseded)


def _reply(receipt: dict, superseded: bool) -> dict:
    """The reply to a resent ballot: its receipt, with ``"superseded": true``
    when a later ballot replaced it since, so that the voter is told it no
    longer counts. The member is not part of the receipt (not signed): clients
    remove it before checking and keeping the receipt."""
    return {**receipt, "superseded": True} if superseded else receipt


def _refusal(status: str, plan: Schedule, action: str, at: datetime) -> ServiceError | None:
    """Why a ballot cannot be cast (or audited) at ``at`` (the board's clock):
    the election is not open, or that time is outside the manifest's schedule."""
    try:
        if status != lifecycle.OPEN:
            raise WrongState(
                f"cannot {action} while the election is {status} (needs {lifecycle.OPEN})",
                extra={"election_status": status},
            )
        plan.require_casting(at, action=action)
    except ServiceError as exc:
        return exc
    return None


class OutcomeUnknown(ServiceError):
    """The cast's commit failed in a way that leaves it unknown whether it
    committed (e.g. the connection was lost awaiting its reply)."""

    status = 503
    code = "outcome_unknown"

    def __init__(self) -> None:
        super().__init__("your ballot may or may not be recorded: send the same ballot again, it is safe")
