"""Checks that a host may serve this database, before it serves and in /api/ready.

Each refusal is a one-line reason an operator can act on: a host with another
server key would sign heads and receipts that every check refuses; a host whose
clock differs from the database server's would misjudge sessions, tokens and log
times; a board dated ahead of its clock refuses writes until then; a schema
behind the code would fail requests one by one.
"""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import and_, select, text

from crypto.entry_kinds import ELECTION_CREATED
from voting.db.engine import Database, describe_database_error, make_engine, schema_heads, schema_revisions
from voting.db.models import BoardEntry, BoardState, Election, TreeHead
from voting.keys import ServerKey, fingerprint

#: Elections still written to; a published one's board is final (the server key
#: may be rotated once every election is published).
_FINAL = ("published",)


async def board_server_key(database: Database) -> bytes | None:
    """The server key the newest election's ``election-created`` entry names;
    None when the database holds no board (a new deployment, or no schema yet)."""
    if not await schema_revisions(database.engine):
        return None
    async with database.read() as db:
        data = await db.scalar(
            select(BoardEntry.data)
            .join(Election, Election.id == BoardEntry.election_id)
            .where(BoardEntry.leaf_index == 0, BoardEntry.kind == ELECTION_CREATED)
            .order_by(Election.created_at.desc(), Election.id.desc())
            .limit(1)
        )
    return None if data is None else bytes.fromhex(json.loads(data)["body"]["server_key"])


def board_server_key_now(database_url: str) -> bytes | None:
    """``board_server_key`` for synchronous callers (the app factory, which may run
    inside an event loop): on a thread of its own, with an engine of its own."""
    if database_url.startswith("sqlite"):
        path = database_url.split(":///", 1)[-1].split("?", 1)[0]
        if path and path != ":memory:" and not Path(path).exists():
            return None
    result: list[bytes | None] = []
    failure: list[BaseException] = []

    async def read() -> None:
        database = Database(make_engine(database_url))
        try:
            result.append(await board_server_key(database))
        finally:
            await database.close()

    def run() -> None:
        try:
            asyncio.run(read())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            failure.append(exc)

    thread = threading.Thread(target=run, name="board-server-key")
    thread.start()
    thread.join()
    if failure:
        message = describe_database_error(failure[0], database_url)
        if message is None:
            raise failure[0]
        raise SystemExit(f"no server key yet, and the database cannot be read to tell whether it holds a board: {message}")
    return result[0]


async def database_clock_ms(database: Database) -> int | None:
    """The database server's clock (milliseconds since the epoch), the clock every
    host of a deployment shares; None on SQLite (one host, no other clock)."""
    if database.engine.dialect.name != "postgresql":
        return None
    async with database.read() as db:
        moment = await db.scalar(text("SELECT clock_timestamp()"))
    return int(moment.timestamp() * 1000)


def retired_key_for(data_dir: Path, public_hex: str) -> Path | None:
    """The ``server-signing-key.retired-*.pem`` in ``data_dir`` whose key is
    ``public_hex`` (a rotation the board did not follow), or None."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    for path in sorted(data_dir.glob("server-signing-key.retired-*.pem")):
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError):
            continue
        if isinstance(key, Ed25519PrivateKey) and ServerKey(key).public_bytes.hex() == public_hex:
            return path
    return None


async def startup_problems(
    database: Database, key: ServerKey, *, now_ms: int, max_clock_skew_s: float = 2, data_dir: Path | None = None
) -> list[str]:
    """Why this host must not serve this database (empty: it may). ``data_dir`` is
    named in the wrong-key message when given (not in /api/ready's answer).

    The clocks: on PostgreSQL the board is dated by the database server's clock
    (voting.board.service), and this host's is compared with it both ways (it
    judges sessions, login tokens and log times); and the board's newest entry
    must not be ahead of the board's clock (the database server's, or on SQLite
    this host's) by more than the tolerance, or every write is refused."""
    database_ms = await database_clock_ms(database)
    revisions = await schema_revisions(database.engine)
    if revisions != schema_heads():
        state = "has no schema" if not revisions else f"is at migration {', '.join(sorted(revisions))}"
        return [f"the database {state}, not the newest ({', '.join(sorted(schema_heads()))}): run 'voting db upgrade'"]
    problems = []
    async with database.read() as db:
        created = await db.scalars(
            select(BoardEntry.data)
            .join(Election, Election.id == BoardEntry.election_id)
            .where(BoardEntry.leaf_index == 0, BoardEntry.kind == ELECTION_CREATED, Election.status.not_in(_FINAL))
        )
        board_keys = {json.loads(data)["body"]["server_key"] for data in created}
        # The newest head of each election: one row per election, by primary key.
        newest_ms = await db.scalar(
            select(TreeHead.timestamp_ms)
            .join(BoardState, and_(BoardState.election_id == TreeHead.election_id, BoardState.size == TreeHead.size))
            .join(Election, Election.id == TreeHead.election_id)
            .where(Election.status.not_in(_FINAL))
            .order_by(TreeHead.timestamp_ms.desc())
            .limit(1)
        )
    ours = key.public_bytes.hex()
    others = sorted(k for k in board_keys if k != ours)
    if others:
        where = f"in {data_dir} " if data_dir is not None else ""
        retired = retired_key_for(data_dir, others[0]) if data_dir is not None else None
        if retired is not None:
            problems.append(
                f"the server key {where}is not the key this board was signed with ({fingerprint(bytes.fromhex(others[0]))}), "
                f"which is {retired}, retired by 'voting keys rotate' while an election was still signed with it: "
                "move server-signing-key.pem aside, put that file back as server-signing-key.pem (mode 0600) and "
                "start again; rotate once every election is published (docs/operations.md, Rotating the server key)"
            )
        else:
            problems.append(
                f"the server key {where}is not the key this board was signed with ({fingerprint(bytes.fromhex(others[0]))}): "
                "copy server-signing-key.pem from the first host (docs/operations.md, Several hosts)"
            )
    skew_ms = max_clock_skew_s * 1000
    setting = f"VOTING_MAX_CLOCK_SKEW_S={max_clock_skew_s:g}"
    if database_ms is not None and abs(now_ms - database_ms) > skew_ms:
        offset = now_ms - database_ms
        problems.append(
            f"this host's clock is {abs(offset) / 1000:.1f} s {'ahead of' if offset > 0 else 'behind'} the database "
            f"server's (more than {setting}): synchronise it with NTP (chrony) and start again "
            "(docs/operations.md, Several hosts)"
        )
    board_ms = database_ms if database_ms is not None else now_ms
    if newest_ms is not None and newest_ms - board_ms > skew_ms:
        gap_s = (newest_ms - board_ms) / 1000
        until = datetime.fromtimestamp(newest_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
        if database_ms is not None:
            clock = "the database server's clock, which dates the board"
            fix = "synchronise the database server's clock with NTP"
        else:
            clock = "this host's clock, which dates the board"
            fix = "synchronise this host's clock with NTP (chrony)"
        problems.append(
            f"the board's newest entry is dated {gap_s:.1f} s ahead of {clock} (more than {setting}): that clock is "
            f"slow now, or ran fast when the entry was written; {fix}; if it is right now, writes resume at "
            f"{until} UTC (docs/operations.md, A board dated in the future)"
        )
    return problems
