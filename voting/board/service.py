"""Appending to and proving from an election's bulletin board.

The append is the service's one serialization point. Inside the caller's
transaction it locks the election's ``board_state`` row (``SELECT … FOR
UPDATE`` on PostgreSQL, so several app processes never hand out one leaf index
twice; SQLite has one writer per database and the app holds an in-process lock
around write transactions), appends the leaf in O(log n) from the stored
frontier, stores the perfect nodes it completes, and signs the new tree head.
Nothing is acknowledged until the caller's transaction commits.

The board has one clock, read once per append batch (``Board.now_ms``): on
PostgreSQL the database server's (``clock_timestamp()`` inside the write
transaction), so no app host's clock dates an entry or decides the schedule,
however many hosts write; on SQLite (one host) this host's. Entries and heads
are dated by it, but never before the board's newest entry: so the board's
clock never runs backwards, which ``voting verify`` checks. When the newest
entry is ahead of the board's clock by more than ``VOTING_MAX_CLOCK_SKEW_S``
(that clock ran fast once, or was set back), writes are refused (503
``clock_behind``) until that time.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, bindparam, insert, select, text, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session as SyncSession

from crypto import log as merkle
from crypto.encoding import canonical_json
from crypto.entry_kinds import BALLOT
from crypto.entry_kinds import BOARD_ENTRY_KINDS as ENTRY_KINDS
from voting.db.models import BoardEntry, BoardNode, BoardState, TreeHead
from voting.errors import Invalid, NotFound, ServiceError
from voting.keys import ServerKey

log = logging.getLogger("voting.board")


def now_ms() -> int:
    return int(time.time() * 1000)


class ClockBehind(ServiceError):
    """The board's clock is further behind the board's newest entry than the tolerance."""

    status = 503
    code = "clock_behind"


@dataclass(frozen=True)
class Appended:
    leaf_index: int
    entry: dict
    tree_head: merkle.SignedTreeHead
    inclusion: merkle.InclusionProof


def signed_head(row: TreeHead | Row, election_id: str) -> merkle.SignedTreeHead:
    head = merkle.TreeHead(election_id, row.size, row.root, row.timestamp_ms)
    return merkle.SignedTreeHead(head, row.signature)



# The statements of the hot paths, built once: building a statement and its cache
# key costs about 0.1 ms, as much as running it on the embedded SQLite.
_LOCK_STATE = select(BoardState.size, BoardState.frontier).where(BoardState.election_id == bindparam("election_id")).with_for_update()
_SET_STATE = (  # an UPDATE's parameters may not be named after the table's columns
    update(BoardState)
    .where(BoardState.election_id == bindparam("b_election_id"))
    .values(size=bindparam("b_size"), frontier=bindparam("b_frontier"))
    .execution_options(synchronize_session=False)
)
#: The board's rows are inserted through their tables (Core): the ORM's bulk insert costs more and adds nothing here.
_INSERTS = tuple(insert(cast(Table, model.__table__)) for model in (BoardEntry, BoardNode, TreeHead))
_SIZE = select(BoardState.size).where(BoardState.election_id == bindparam("election_id"))
_HEAD = select(TreeHead.size, TreeHead.root, TreeHead.timestamp_ms, TreeHead.signature).where(
    TreeHead.election_id == bindparam("election_id"), TreeHead.size == bindparam("size")
)
_ENTRIES = (
    select(BoardEntry.data)
    .where(BoardEntry.election_id == bindparam("election_id"), BoardEntry.leaf_index >= bindparam("start"))
    .order_by(BoardEntry.leaf_index)
    .limit(bindparam("limit"))
)
_LAST_TIME = select(TreeHead.timestamp_ms).where(
    TreeHead.election_id == bindparam("election_id"), TreeHead.size == bindparam("size")
)
_DATABASE_CLOCK = text("SELECT clock_timestamp()")
_NODE = select(BoardNode.hash).where(
    BoardNode.election_id == bindparam("election_id"),
    BoardNode.level == bindparam("level"),
    BoardNode.index == bindparam("index"),
)

class Board:
    def __init__(self, key: ServerKey, *, max_clock_skew_s: float = 2, clock: Callable[[], int] = now_ms) -> None:
        self.key = key
        self.max_clock_skew_ms = int(max_clock_skew_s * 1000)
        self.clock = clock
        """This host's clock, milliseconds since the epoch: the board's on SQLite (tests set another)."""

    async def now_ms(self, db: AsyncSession) -> int:
        """The board's clock (see the module's docstring): on PostgreSQL the
        database server's, read in the caller's transaction; on SQLite this host's."""
        if db.get_bind().dialect.name == "postgresql":
            moment = await db.scalar(_DATABASE_CLOCK)
            return int(moment.timestamp() * 1000)
        return self.clock()

    async def now(self, db: AsyncSession) -> datetime:
        """``now_ms`` as a time, for the schedule."""
        return datetime.fromtimestamp(await self.now_ms(db) / 1000, UTC)

    async def create(self, db: AsyncSession, election_id: str) -> None:
        """An empty log for a new election (same transaction as the election row)."""
        db.add(BoardState(election_id=election_id, size=0, frontier=json.dumps(merkle.Frontier.empty().to_dict())))
        await db.flush()

    async def append(
        self, db: AsyncSession, election_id: str, kind: str, body: dict, *, tracking_code: str | None = None
    ) -> Appended:
        appender = await self.appender(db, election_id)
        appended = appender.append(kind, body, tracking_code=tracking_code)
        await appender.flush(db)
        return appended

    async def appender(self, db: AsyncSession, election_id: str) -> BoardAppender:
        """Lock the election's board for this transaction and append to it in memory;
        ``flush`` writes every appended row at once (the cast path's group commit)."""
        state = (await db.execute(_LOCK_STATE, {"election_id": election_id})).one_or_none()
        if state is None:
            raise NotFound(f"election {election_id!r} has no board")
        now = await self.now_ms(db)
        latest = 0
        if state.size:
            latest = (await db.execute(_LAST_TIME, {"election_id": election_id, "size": state.size})).scalar_one()
            behind = latest - now
            if behind > self.max_clock_skew_ms:
                postgres = db.get_bind().dialect.name == "postgresql"
                log.error(
                    "refused a board write: the board's newest entry is dated %.1f s ahead of the board's clock "
                    "(%s; tolerance %.1f s): that clock ran fast when the entry was written, or was set back; "
                    "writes to this board resume at %s UTC (docs/operations.md, A board dated in the future)",
                    behind / 1000,
                    "the database server's" if postgres else "this host's",
                    self.max_clock_skew_ms / 1000,
                    datetime.fromtimestamp(latest / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S"),
                    extra={"event": "clock_behind", "election_id": election_id, "behind_ms": behind},
                )
                raise ClockBehind(
                    "the server's clock is behind the bulletin board's; nothing was recorded: try again later",
                )
        return BoardAppender(self.key, election_id, state, now_ms=now, latest_ms=latest)

    # -- reading ------------------------------------------------------------------------

    async def entries(self, db: AsyncSession, election_id: str, start: int, limit: int) -> list[dict]:
        rows = await db.scalars(_ENTRIES, {"election_id": election_id, "start": start, "limit": limit})
        return [json.loads(data) for data in rows]

    async def entry(self, db: AsyncSession, election_id: str, index: int) -> BoardEntry:
        row = await db.get(BoardEntry, (election_id, index))
        if row is None:
            raise NotFound(f"no board entry {index}", code="entry_not_found")
        return row

    async def index_of(self, db: AsyncSession, election_id: str, tracking_code: str) -> int:
        index = await db.scalar(
            select(BoardEntry.leaf_index).where(
                BoardEntry.election_id == election_id,
                BoardEntry.tracking_code == tracking_code,
                BoardEntry.kind == BALLOT,
            )
        )
        if index is None:
            raise NotFound("no ballot with this tracking code", code="tracking_code_not_found")
        return index

    async def size(self, db: AsyncSession, election_id: str) -> int:
        size = (await db.execute(_SIZE, {"election_id": election_id})).scalar_one_or_none()
        if size is None:
            raise NotFound(f"no election {election_id!r}", code="election_not_found")
        return size

    async def head(self, db: AsyncSession, election_id: str, size: int | None = None) -> merkle.SignedTreeHead:
        if size is None:
            size = await self.size(db, election_id)
        row = (await db.execute(_HEAD, {"election_id": election_id, "size": size})).one_or_none()
        if row is None:
            raise NotFound(f"no tree head of size {size}", code="tree_head_not_found")
        return signed_head(row, election_id)

    async def heads(self, db: AsyncSession, election_id: str, start: int, limit: int) -> list[merkle.SignedTreeHead]:
        rows = await db.scalars(
            select(TreeHead)
            .where(TreeHead.election_id == election_id, TreeHead.size >= start)
            .order_by(TreeHead.size)
            .limit(limit)
        )
        return [signed_head(r, election_id) for r in rows]

    async def inclusion_proof(self, db: AsyncSession, election_id: str, index: int, size: int) -> merkle.InclusionProof:
        if not 0 <= index < size or size > await self.size(db, election_id):
            raise Invalid("need 0 <= index < size <= board size", code="bad_proof_request")
        path = await db.run_sync(lambda s: merkle.inclusion_proof(index, size, _node_source(s, election_id)))
        return merkle.InclusionProof(index, size, tuple(path))

    async def consistency_proof(
        self, db: AsyncSession, election_id: str, old_size: int, new_size: int
    ) -> merkle.ConsistencyProof:
        # RFC 9162 2.1.4: a consistency proof exists for 0 < old <= new.
        if not 1 <= old_size <= new_size or new_size > await self.size(db, election_id):
            raise Invalid("need 1 <= old <= new <= board size", code="bad_proof_request")
        path = await db.run_sync(lambda s: merkle.consistency_proof(old_size, new_size, _node_source(s, election_id)))
        return merkle.ConsistencyProof(old_size, new_size, tuple(path))


class BoardAppender:
    """Appends to one election's board inside the caller's transaction, which
    holds the ``board_state`` row lock: each append computes its entry, the
    perfect nodes it completes, its signed tree head and its inclusion proof in
    memory; ``flush`` inserts all their rows in one statement per table and
    stores the new frontier."""

    def __init__(self, key: ServerKey, election_id: str, state: Row, *, now_ms: int, latest_ms: int = 0) -> None:
        self.key = key
        self.now = datetime.fromtimestamp(now_ms / 1000, UTC)
        """The board's clock, read once for this batch: the schedule is judged by it."""
        self.moment_ms = max(now_ms, latest_ms)
        """Every entry of this batch is dated at this time: the board's clock, never before its newest entry."""
        self.election_id = election_id
        self.frontier = merkle.Frontier.from_dict(json.loads(state.frontier))
        self._entries: list[dict] = []
        self._nodes: list[dict] = []
        self._heads: list[dict] = []

    def append(self, kind: str, body: dict, *, tracking_code: str | None = None) -> Appended:
        if kind not in ENTRY_KINDS:
            raise ValueError(f"unknown board entry kind {kind!r}")
        frontier = self.frontier
        moment_ms = self.moment_ms
        entry = {
            "election_id": self.election_id,
            "index": frontier.size,
            "kind": kind,
            "time": datetime.fromtimestamp(moment_ms / 1000, UTC).isoformat(timespec="milliseconds"),
            "body": body,
        }
        data = canonical_json(entry)
        leaf = merkle.leaf_hash(data)
        new_frontier, nodes = frontier.append(leaf)
        # The audit path of the newest leaf is the old frontier, nearest subtree first.
        inclusion = merkle.InclusionProof(frontier.size, new_frontier.size, tuple(reversed(frontier.hashes)))
        head = merkle.TreeHead(self.election_id, new_frontier.size, new_frontier.root(), moment_ms)
        sth = merkle.sign_tree_head(self.key.private_key, head)
        self._entries.append(
            {
                "election_id": self.election_id,
                "leaf_index": frontier.size,
                "kind": kind,
                "data": data.decode("utf-8"),
                "leaf_hash": leaf,
                "tracking_code": tracking_code,
            }
        )
        self._nodes += [{"election_id": self.election_id, "level": n.level, "index": n.index, "hash": n.hash} for n in nodes]
        self._heads.append(
            {
                "election_id": self.election_id,
                "size": head.size,
                "root": head.root,
                "timestamp_ms": head.timestamp_ms,
                "signature": sth.signature,
            }
        )
        self.frontier = new_frontier
        return Appended(frontier.size, entry, sth, inclusion)

    async def flush(self, db: AsyncSession) -> None:
        for statement, rows in zip(_INSERTS, (self._entries, self._nodes, self._heads)):
            if rows:
                await db.execute(statement, rows)
        self._entries, self._nodes, self._heads = [], [], []
        frontier = json.dumps(self.frontier.to_dict())
        await db.execute(_SET_STATE, {"b_election_id": self.election_id, "b_size": self.frontier.size, "b_frontier": frontier})


def _node_source(session: SyncSession, election_id: str) -> Callable[[int, int], bytes]:
    def perfect(level: int, index: int) -> bytes:
        node = session.execute(_NODE, {"election_id": election_id, "level": level, "index": index}).scalar_one_or_none()
        if node is None:  # pragma: no cover - would mean a corrupted board
            raise LookupError(f"missing board node {level}/{index}")
        return node

    return perfect
