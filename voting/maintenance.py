"""Database maintenance the operator runs on the server machine: backups,
restores, the consistency check, purging spent logins, and archiving a
published election (docs/operations.md, chapters 6 "Back up", 7 "Restore" and
9.1 "Archiving an election").

Whoever can run these on the server machine is trusted by definition (as for
voting/operator.py); each says in one line what went wrong and what to do.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import delete, func, or_, select, text
from sqlalchemy.engine import CursorResult, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from crypto import log as merkle
from crypto.entry_kinds import ELECTION_CREATED
from crypto.errors import CryptoError
from crypto.witness import Cosignature as WitnessCosignature
from crypto.witness import verify_cosignature
from voting.db.engine import Database, describe_database_error, make_engine, schema_heads, schema_revisions
from voting.db.models import (
    Ballot,
    Base,
    BoardEntry,
    BoardNode,
    BoardState,
    Cosignature,
    Election,
    LoginNonce,
    Role,
    RollEntry,
    Session,
    TreeHead,
)
from voting.operator import sqlite_path
from voting.settings import Settings

log = logging.getLogger("voting.maintenance")
T = TypeVar("T")

#: Rows read, or deleted, per statement: a large board is read in pieces, and a
#: purge never holds the (SQLite) write lock for long.
PAGE = 5000


class MaintenanceError(Exception):
    """The task could not be done; the message says why and what to do."""


# --- which database ---------------------------------------------------------------------------


def _libpq_url(settings: Settings) -> tuple[str, dict[str, str]]:
    """The database as pg_dump and pg_restore take it (a libpq URI without the
    password, which goes in PGPASSWORD so it never shows in the process list)."""
    url = make_url(settings.db_url)
    query = dict(url.query)
    if "ssl" in query and "sslmode" not in query:  # asyncpg's spelling
        query["sslmode"] = query.pop("ssl")
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None, query=query)
    return plain.render_as_string(hide_password=False), env


def _run_pg(program: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    found = shutil.which(program)
    if found is None:
        raise MaintenanceError(
            f"{program} is not installed: install the PostgreSQL client tools of the server's version "
            "(Debian: apt-get install postgresql-client)"
        )
    done = subprocess.run([found, *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit status {done.returncode}"
        raise MaintenanceError(f"{program} failed: {reason}")
    return done


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _new_private_file(directory: Path, name: str) -> Path:
    """An empty file, mode 0600, beside where ``name`` will go."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    os.close(fd)
    os.chmod(path, 0o600)
    return Path(path)


def _publish(temporary: Path, target: Path) -> None:
    """fsync, then rename into place: the target is whole or absent, never half-written."""
    _fsync_file(temporary)
    os.replace(temporary, target)
    _fsync_dir(target.parent)


# --- backup -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backup:
    path: Path
    size: int
    seconds: float


def backup(settings: Settings, target: Path, *, force: bool = False) -> Backup:
    """A consistent copy of the database while the service runs: SQLite by
    ``VACUUM INTO`` (one read transaction, so casts committing meanwhile never
    restart it, and the copy is compact), PostgreSQL by ``pg_dump
    --format=custom``. Written to a temporary file, fsynced, renamed, mode
    0600, then checked (SQLite: ``PRAGMA integrity_check``; PostgreSQL:
    ``pg_restore --list`` reads the whole archive's table of contents)."""
    target = Path(target)
    if target.exists() and not force:
        raise MaintenanceError(f"{target} exists: choose another file name (e.g. with the date), or use --force")
    if target.is_dir():
        raise MaintenanceError(f"{target} is a directory: give a file name")
    started = time.perf_counter()
    temporary = _new_private_file(target.parent, target.name)
    try:
        source = sqlite_path(settings)
        if source is not None:
            _backup_sqlite(source, temporary)
        else:
            url, env = _libpq_url(settings)
            _run_pg("pg_dump", ["--format=custom", "--no-password", f"--file={temporary}", f"--dbname={url}"], env)
            _run_pg("pg_restore", ["--list", str(temporary)], env)
        _publish(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return Backup(target, target.stat().st_size, time.perf_counter() - started)


def _backup_sqlite(source: Path, temporary: Path) -> None:
    if not source.is_file():
        raise MaintenanceError(f"there is no database at {source}: check --data-dir or VOTING_DATABASE_URL")
    connection = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        connection.execute("VACUUM INTO ?", (str(temporary),))
    except sqlite3.Error as exc:
        raise MaintenanceError(f"the backup of {source} failed: {exc}") from None
    finally:
        connection.close()
    problems = sqlite_integrity(temporary)
    if problems:
        raise MaintenanceError(f"the copy fails SQLite's integrity check: {problems[0]}; nothing was written")


def sqlite_integrity(path: Path) -> list[str]:
    """``PRAGMA integrity_check`` of a SQLite file: empty when it is sound."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        rows = [row[0] for row in connection.execute("PRAGMA integrity_check")]
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    finally:
        connection.close()
    return [] if rows == ["ok"] else rows


# --- restore ------------------------------------------------------------------------------------


def service_running(settings: Settings) -> str | None:
    """Why the database looks in use (the service, or any other program), or
    None. SQLite: every open connection to a WAL database holds a shared lock,
    so an exclusive lock is refused while the service runs, even idle.
    PostgreSQL: another session is connected to the database. First of all:
    ``voting serve`` holds its lock on this data directory (voting.servelock)."""
    from voting.servelock import LOCK_NAME, Locked, UnsafeLockFile, stopped

    try:
        with stopped(settings.data_dir, "restore"):
            pass
    except UnsafeLockFile as exc:
        raise MaintenanceError(str(exc)) from None
    except Locked:
        return f"the service is running on {settings.data_dir} ({LOCK_NAME} is held)"
    return _database_in_use(settings)


def _database_in_use(settings: Settings) -> str | None:
    path = sqlite_path(settings)
    if path is not None:
        if not path.exists():
            return None
        connection = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            connection.execute("PRAGMA locking_mode=EXCLUSIVE")
            connection.execute("BEGIN EXCLUSIVE")
            connection.execute("SELECT count(*) FROM sqlite_master").fetchall()
            connection.execute("COMMIT")
        except sqlite3.OperationalError:
            return f"{path} is in use (is the service running?)"
        finally:
            connection.close()
        return None

    async def others(database: Database) -> int:
        async with database.read() as db:
            return await db.scalar(
                text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
            )

    count = _run(settings, others)
    if count:
        return f"{count} other session(s) are connected to the database (is the service running?)"
    return None


@dataclass(frozen=True)
class RestoreView:
    """What a restore would replace, shown before the operator confirms it."""

    backup_time: datetime
    """the backup file's modification time"""
    current: dict[str, tuple[str, int]]
    """each election of the current database: its status and board size"""
    backup_sizes: dict[str, int] | None
    """each election's board size in the backup (None: it cannot be read before restoring)"""

    @property
    def open_elections(self) -> list[str]:
        return sorted(e for e, (status, _) in self.current.items() if status == "open")

    def lines(self) -> list[str]:
        lines = [f"Backup taken {self.backup_time.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC (the file's time)."]
        for election_id in sorted(set(self.current) | set(self.backup_sizes or {})):
            status, size = self.current.get(election_id, ("absent", 0))
            backup = "?" if self.backup_sizes is None else str(self.backup_sizes.get(election_id, "absent"))
            lines.append(f"  {election_id}: board size now {size} ({status}), in the backup {backup}")
        return lines


def restore_view(settings: Settings, source: Path) -> RestoreView:
    """The backup's time and each election's board size, now and in the backup."""
    source = Path(source)
    if not source.is_file():
        raise MaintenanceError(f"there is no backup file {source}")
    backup_time = datetime.fromtimestamp(source.stat().st_mtime, UTC)
    current: dict[str, tuple[str, int]] = {}
    path = sqlite_path(settings)
    if path is None or path.is_file():

        async def read(database: Database) -> dict[str, tuple[str, int]]:
            if not await schema_revisions(database.engine):
                return {}
            async with database.read() as db:
                rows = await db.execute(
                    select(Election.id, Election.status, BoardState.size).join(BoardState, BoardState.election_id == Election.id)
                )
                return {row.id: (row.status, row.size) for row in rows}

        current = _run(settings, read)
    return RestoreView(backup_time, current, _backup_sizes(source, postgres=path is None))


def _backup_sizes(source: Path, *, postgres: bool) -> dict[str, int] | None:
    """Each election's board size in a backup file, or None if it cannot be read."""
    if not postgres:
        try:
            with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as connection:
                rows = connection.execute("SELECT election_id, size FROM board_state").fetchall()
            connection.close()
        except sqlite3.Error:
            return None
        return dict(rows)
    program = shutil.which("pg_restore")
    if program is None:
        return None
    done = subprocess.run(
        [program, "--data-only", "--table=board_state", "--file=-", str(source)], capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        return None
    sizes: dict[str, int] = {}
    columns: list[str] | None = None
    for line in done.stdout.splitlines():
        if line.startswith("COPY ") and "board_state" in line:
            columns = [c.strip().strip('"') for c in line[line.index("(") + 1 : line.index(")")].split(",")]
        elif columns is not None:
            if line == "\\.":
                break
            values = dict(zip(columns, line.split("\t")))
            sizes[values["election_id"]] = int(values["size"])
    return sizes


def restore(settings: Settings, source: Path, *, force: bool = False) -> float:
    """Replace the database with a backup; the service must be stopped, and no
    election may be open (every ballot cast since the backup would be lost)
    unless ``force``. SQLite:
    the backup is copied (through SQLite, so a backup left with its own WAL is
    read whole) to a temporary file, fsynced, and renamed over the database,
    whose WAL and shared-memory files go first; the replaced database is kept
    beside it as ``<name>.replaced-<time>``. PostgreSQL: ``pg_restore --clean
    --if-exists`` in one transaction. Returns the seconds taken."""
    source = Path(source)
    if not source.is_file():
        raise MaintenanceError(f"there is no backup file {source}")
    from voting.servelock import Locked, stopped

    try:
        with stopped(settings.data_dir, "restore the database"):
            if not force:
                require_no_open_election(restore_view(settings, source))
            return _restore(settings, source)
    except Locked as exc:
        raise MaintenanceError(str(exc)) from None


def require_no_open_election(view: RestoreView) -> None:
    """Refuses a restore while an election is open: the ballots cast since the
    backup would be gone, and the voters' receipts would no longer match."""
    if view.open_elections:
        raise MaintenanceError(
            f"election {', '.join(view.open_elections)} is open: a restore would lose every ballot cast since the "
            "backup; restore only when the election committee has decided to, then add --force / "
            "投票受付中の選挙があります: 選挙管理委員会の判断の上で --force を付けてください"
        )


def _restore(settings: Settings, source: Path) -> float:
    busy = _database_in_use(settings)  # this process holds the lock now
    if busy:
        raise MaintenanceError(f"{busy}: stop the service first, then restore")
    started = time.perf_counter()
    path = sqlite_path(settings)
    if path is None:
        url, env = _libpq_url(settings)
        _run_pg(
            "pg_restore",
            ["--clean", "--if-exists", "--no-owner", "--single-transaction", "--exit-on-error", "--no-password",
             f"--dbname={url}", str(source)],
            env,
        )
        return time.perf_counter() - started
    problems = sqlite_integrity(source)
    if problems:
        raise MaintenanceError(f"{source} is not a sound SQLite database ({problems[0]}); nothing was restored")
    temporary = _new_private_file(path.parent, path.name)
    try:
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as reader, sqlite3.connect(temporary) as writer:
            reader.backup(writer, pages=-1)
        writer.close()
        reader.close()
        problems = _check_copy(temporary)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise MaintenanceError(
                f"{source} fails the database check: {problems[0]}{more}; nothing was restored, "
                "the current database is untouched: restore another backup"
            )
        if path.exists():
            _set_aside(path)
        _publish(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return time.perf_counter() - started


def _check_copy(path: Path) -> list[str]:
    """'voting db check' on the copy about to be restored: the schema, and
    every election's board against its heads and the witnesses' cosignatures."""

    url = f"sqlite+aiosqlite:///{path.resolve()}"

    async def main() -> list[str]:
        database = Database(make_engine(url))
        try:
            return await check_database(database)
        except (OSError, SQLAlchemyError) as exc:
            return [f"it cannot be read as this service's database ({type(exc).__name__})"]
        finally:
            await database.close()

    return asyncio.run(main())


def _set_aside(path: Path) -> None:
    """Fold the WAL into the database file, then move it aside (kept, never deleted)."""
    connection = sqlite3.connect(path, timeout=0)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    os.replace(path, path.with_name(f"{path.name}.replaced-{stamp}"))
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


# --- check --------------------------------------------------------------------------------------


def check(settings: Settings) -> list[str]:
    """Every problem found, one line each (empty: the database is sound): the
    schema is at the newest migration, SQLite's integrity check, and every
    election's board re-hashed against its newest signed tree head."""
    path = sqlite_path(settings)
    if path is not None and not path.is_file():
        raise MaintenanceError(f"there is no database at {path}: check --data-dir or VOTING_DATABASE_URL")
    problems = []
    if path is not None:
        problems += [f"SQLite integrity check: {line}" for line in sqlite_integrity(path)]
    return problems + _run(settings, check_database)


async def check_database(database: Database) -> list[str]:
    problems = await _schema_problems(database)
    if problems:
        return problems  # the board tables may not be what this code reads
    async with database.read() as db:
        elections = list(await db.scalars(select(Election.id).order_by(Election.id)))
    for election_id in elections:
        problems += [f"election {election_id}: {p}" for p in await check_board(database, election_id)]
        problems += [f"election {election_id}: {p}" for p in await check_counters(database, election_id)]
    return problems


async def check_counters(database: Database, election_id: str) -> list[str]:
    """The counters the status shows (kept by the roll import and the casts)
    equal the rows they count: one statement, so one snapshot of the database
    while casts may commit."""

    def count(table: Any, *where: Any) -> Any:
        return select(func.count()).select_from(table).where(table.election_id == Election.id, *where).scalar_subquery()

    async with database.read() as db:
        row = (
            await db.execute(
                select(
                    Election.roll_size, count(RollEntry),
                    Election.ballots_cast, count(Ballot),
                    Election.ballots_superseded, count(Ballot, Ballot.superseded.is_(True)),
                ).where(Election.id == election_id)
            )
        ).one()
    names = ("voters on the roll", "ballots cast", "ballots superseded")
    return [
        f"its status shows {row[2 * i]} {name}, its tables hold {row[2 * i + 1]}: the database was changed outside "
        "the service; restore the newest backup and find out who had write access to the database"
        for i, name in enumerate(names)
        if row[2 * i] != row[2 * i + 1]
    ]


async def _schema_problems(database: Database) -> list[str]:
    current, newest = await schema_revisions(database.engine), schema_heads()
    if current != newest:
        at = ", ".join(sorted(current)) or "none"
        return [f"the schema is at migration {at}, not the newest ({', '.join(sorted(newest))}): run 'voting db upgrade'"]
    return []


async def check_board(database: Database, election_id: str) -> list[str]:
    """Re-hash one election's board: every leaf's stored hash is the hash of its
    stored bytes, each entry names its election and index, the root of the
    leaves equals the newest signed tree head's, that head's signature verifies
    under the server key the board's first entry names, and the stored
    subtree hashes (used for proofs) and frontier agree. And the heads the
    witnesses cosigned: none is larger than the board's newest head, and each
    is the root of the board's prefix of its size, so removing the last
    entries together with their heads is found once a witness cosigned them.

    The newest head is read first: casts may commit meanwhile (the service can
    run), but they only add entries after it."""
    async with database.read() as db:
        head_row = (
            await db.execute(
                select(TreeHead).where(TreeHead.election_id == election_id).order_by(TreeHead.size.desc()).limit(1)
            )
        ).scalar_one_or_none()
        state = await db.get(BoardState, election_id)
        cosigned = (
            await db.execute(
                select(Cosignature, TreeHead)
                .outerjoin(TreeHead, (TreeHead.election_id == Cosignature.election_id) & (TreeHead.size == Cosignature.size))
                .where(Cosignature.election_id == election_id)
                .order_by(Cosignature.size)
            )
        ).all()
    size = head_row.size if head_row is not None else 0
    problems = _cosigned_beyond(election_id, cosigned, size)
    if state is None:
        return ["it has no board state", *problems]
    if head_row is None:
        return problems + ([] if state.size == 0 else [f"the board holds {state.size} entries but no signed tree head"])
    prefix_roots: dict[int, bytes | None] = {row.size: None for row, head in cosigned if row.size <= size and head is not None}
    if state.size < size:
        problems.append(f"the board state says {state.size} entries, the newest tree head {size}")
    frontier = merkle.Frontier.empty()
    nodes: dict[tuple[int, int], bytes] = {}
    server_key: bytes | None = None
    while frontier.size < size:
        async with database.read() as db:
            rows = (
                await db.execute(
                    select(BoardEntry.leaf_index, BoardEntry.data, BoardEntry.leaf_hash)
                    .where(BoardEntry.election_id == election_id, BoardEntry.leaf_index >= frontier.size, BoardEntry.leaf_index < size)
                    .order_by(BoardEntry.leaf_index)
                    .limit(PAGE)
                )
            ).all()
        if not rows or rows[0].leaf_index != frontier.size:
            problems.append(f"board entry {frontier.size} is missing (the newest signed tree head has {size})")
            return problems
        for index, data, stored_hash in rows:
            if index != frontier.size:
                problems.append(f"board entry {frontier.size} is missing (the newest signed tree head has {size})")
                return problems
            raw = data.encode("utf-8")
            leaf = merkle.leaf_hash(raw)
            if bytes(stored_hash) != leaf:
                problems.append(f"board entry {index}: its stored leaf hash is not the hash of its stored bytes")
            try:
                entry = json.loads(raw)
            except ValueError:
                entry = None
            if not isinstance(entry, dict) or entry.get("election_id") != election_id or entry.get("index") != index:
                problems.append(f"board entry {index}: it does not name this election and index")
            elif index == 0 and entry.get("kind") == ELECTION_CREATED:
                key = (entry.get("body") or {}).get("server_key")
                server_key = bytes.fromhex(key) if isinstance(key, str) and len(key) == 64 else None
            frontier, completed = frontier.append(leaf)
            for node in completed:
                nodes[(node.level, node.index)] = node.hash
            if frontier.size in prefix_roots:
                prefix_roots[frontier.size] = frontier.root()
    differing = sorted(
        {row.size for row, head in cosigned if head is not None and prefix_roots.get(row.size, bytes(head.root)) != bytes(head.root)}
    )
    if differing:
        problems.append(
            f"the head of {differing[0]} entries the witnesses cosigned is not the root of the board's first {differing[0]} entries"
        )
    if frontier.root() != bytes(head_row.root):
        problems.append(f"the board's {size} entries do not hash to the root of its newest signed tree head")
    sth = merkle.SignedTreeHead(merkle.TreeHead(election_id, size, bytes(head_row.root), head_row.timestamp_ms), bytes(head_row.signature))
    if server_key is None:
        problems.append("board entry 0 is not an election-created entry naming the server key")
    else:
        try:
            merkle.verify_tree_head(server_key, sth)
        except CryptoError:
            problems.append(f"the signature of the newest tree head ({size}) does not verify under the board's server key")
    problems += await _node_problems(database, election_id, nodes)
    if state.size == size and json.loads(state.frontier) != frontier.to_dict():
        problems.append("the stored frontier (the next append's starting point) is not the board's")
    return problems


def _cosigned_beyond(election_id: str, cosigned: Sequence[Any], size: int) -> list[str]:
    """The cosigned heads the board no longer has: larger than its newest head,
    or whose stored head is gone or altered (its cosignature no longer verifies)."""
    problems: list[str] = []
    beyond = sorted({row.size for row, _ in cosigned if row.size > size})
    if beyond:
        problems.append(
            f"the witnesses cosigned a head of {beyond[-1]} entries, but the board's newest signed tree head has {size}: "
            "entries were removed; restore the newest backup"
        )
    gone = sorted({row.size for row, head in cosigned if head is None and row.size <= size})
    if gone:
        problems.append(f"the tree head of {gone[0]} entries the witnesses cosigned is missing")
    altered = set()
    for row, head in cosigned:
        if head is None:
            continue
        tree_head = merkle.TreeHead(election_id, head.size, bytes(head.root), head.timestamp_ms)
        try:
            verify_cosignature(tree_head, WitnessCosignature(bytes(row.witness_key), row.time_ms, bytes(row.signature)))
        except CryptoError:
            altered.add(head.size)
    if altered:
        problems.append(f"a witness's cosignature of the head of {min(altered)} entries does not verify: the stored head was altered")
    return problems


async def _node_problems(database: Database, election_id: str, expected: dict[tuple[int, int], bytes]) -> list[str]:
    """Every stored subtree hash within the checked board equals the re-hashed one, and none is missing."""
    problems: list[str] = []
    seen = 0
    differing: list[tuple[int, int]] = []
    last = (-1, -1)
    while True:
        async with database.read() as db:
            rows = (
                await db.execute(
                    select(BoardNode.level, BoardNode.index, BoardNode.hash)
                    .where(
                        BoardNode.election_id == election_id,
                        or_(BoardNode.level > last[0], (BoardNode.level == last[0]) & (BoardNode.index > last[1])),
                    )
                    .order_by(BoardNode.level, BoardNode.index)
                    .limit(PAGE)
                )
            ).all()
        for level, index, stored in rows:
            want = expected.get((level, index))
            if want is None:
                continue  # a node completed by entries after the checked head
            seen += 1
            if bytes(stored) != want:
                differing.append((level, index))
        if len(rows) < PAGE:
            break
        last = (rows[-1][0], rows[-1][1])  # level, index
    if differing:
        level, index = differing[0]
        problems.append(
            f"{len(differing)} stored subtree hash(es) differ from the board's, the first {level}/{index} (proofs would fail)"
        )
    if seen < len(expected):
        problems.append(f"{len(expected) - seen} stored subtree hash(es) are missing (proofs would fail)")
    return problems


# --- purge --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Purged:
    challenges: int
    sessions: int


async def purge_expired(database: Database, now: datetime, *, spent_kept: timedelta) -> Purged:
    """Delete the spent login challenges that expired more than ``spent_kept``
    ago, and the sessions that have expired or were ended (logout, revocation):
    neither can ever be accepted again, and a table that only grows slows every
    login. In pieces of ``PAGE`` rows, each its own short write transaction.

    A spent challenge's row is what refuses it a second time, and every app
    process judges the challenge's expiry by its own clock: the row is kept for
    one more challenge lifetime (``VOTING_NONCE_TTL_S``) after the expiry, so
    a process whose clock is behind the purging host's still finds it."""
    challenges = await _delete_in_pieces(
        database, LoginNonce, LoginNonce.nonce, LoginNonce.expires_at <= now - spent_kept
    )
    sessions = await _delete_in_pieces(database, Session, Session.id, or_(Session.revoked.is_(True), Session.expires_at <= now))
    if challenges or sessions:
        log.info(
            "purged %d used or expired login challenges and %d ended sessions", challenges, sessions,
            extra={"event": "purge", "challenges": challenges, "sessions": sessions},
        )
    return Purged(challenges, sessions)


async def _rows_deleted(db: AsyncSession, statement: Executable) -> int:
    """How many rows a DELETE removed: its result is a CursorResult, which the
    session's signature does not say."""
    return cast(CursorResult[Any], await db.execute(statement)).rowcount


async def _delete_in_pieces(database: Database, model: type, key, condition) -> int:  # noqa: ANN001 - columns
    total = 0
    while True:
        async with database.write() as db:
            doomed = select(key).where(condition).limit(PAGE).scalar_subquery()
            deleted = await _rows_deleted(db, delete(model).where(key.in_(doomed)))
            await db.commit()
        total += deleted
        if deleted < PAGE:
            return total


async def run_purge(database: Database, interval_s: int, spent_kept: timedelta) -> None:
    """Purge every ``interval_s`` seconds for as long as the app runs (0: never).
    A failure (the database briefly unreachable) is one log line, and the next
    round tries again."""
    if interval_s <= 0:
        return
    while True:
        await asyncio.sleep(interval_s)
        try:
            await purge_expired(database, datetime.now(UTC), spent_kept=spent_kept)
        except Exception as exc:  # noqa: BLE001 - logged; the next round retries
            log.warning("purge failed: %s", exc.__class__.__name__, extra={"event": "purge_failed"})


def start_purging(database: Database, settings: Settings) -> asyncio.Task:
    """The app's background purge (started at app start-up, cancelled with the loop)."""
    work = run_purge(database, settings.purge_interval_s, timedelta(seconds=settings.nonce_ttl_s))
    task = asyncio.get_running_loop().create_task(work, name="purge")
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)
    return task


#: Running background tasks (the event loop keeps only weak references).
_TASKS: set[asyncio.Task] = set()


def purge(settings: Settings) -> Purged:
    async def work(database: Database) -> Purged:
        return await purge_expired(database, datetime.now(UTC), spent_kept=timedelta(seconds=settings.nonce_ttl_s))

    return _run(settings, work)


# --- archive ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Archived:
    path: Path
    board_size: int
    rows: int


def archive(settings: Settings, election_id: str, out: Path) -> Archived:
    """Export a published election's whole record (with the auditors' part)
    to ``out``, verify the file written, then delete every row of the election
    from every table in one transaction. Refused for an election not yet
    published, or when the record does not verify; nothing is deleted then."""
    from voting.elections import lifecycle
    from voting.record.export import export_record, record_filename
    from voting.record.files import read_record, record_zip
    from voting.verify import verify_record

    out = Path(out)
    target = out / record_filename(election_id, private=True)
    if target.exists():
        raise MaintenanceError(f"{target} exists: choose another --out directory")

    async def work(database: Database) -> Archived:
        async with database.read() as db:
            election = await db.get(Election, election_id)
            if election is None:
                raise MaintenanceError(f"there is no election {election_id!r} in this database")
            if election.status != lifecycle.PUBLISHED:
                raise MaintenanceError(
                    f"election {election_id} is {election.status}, not published: only a published election can be archived"
                )
            files = await export_record(db, election_id, settings=settings, private=True)
        out.mkdir(parents=True, exist_ok=True)
        temporary = _new_private_file(out, target.name)
        try:
            temporary.write_bytes(await asyncio.to_thread(record_zip, files))
            _publish(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        written = read_record(target)
        report = await asyncio.to_thread(verify_record, written)
        if not report.ok():
            failed = [c for c in report.checks if c.status == "fail"]
            first = failed[0] if failed else report.checks[0]
            raise MaintenanceError(
                f"the exported record {target} fails check {first.number} ({first.title}: {first.first_failure or first.note}); "
                "nothing was deleted"
            )
        rows = await _delete_election(database, election_id)
        log.info("archived election %s", election_id, extra={"event": "election_archived", "election_id": election_id})
        return Archived(target, report.board_size, rows)

    return _run(settings, work)


async def _delete_election(database: Database, election_id: str) -> int:
    """Every row of the election, children first and the election itself last,
    in one transaction; the trustee roles scoped to it too."""
    rows = 0
    async with database.write() as db:
        for table in reversed(Base.metadata.sorted_tables):
            if "election_id" in table.columns:
                rows += await _rows_deleted(db, table.delete().where(table.c.election_id == election_id))
        rows += await _rows_deleted(db, delete(Role).where(Role.scope == election_id))
        rows += await _rows_deleted(db, delete(Election).where(Election.id == election_id))
        await db.commit()
    return rows


# --- running ------------------------------------------------------------------------------------


def _run(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run ``work`` on the database (never migrating it: that is 'voting db upgrade');
    a connection failure is one line saying what to do."""

    path = sqlite_path(settings)
    if path is not None and not path.is_file():
        raise MaintenanceError(f"there is no database at {path}: check --data-dir or VOTING_DATABASE_URL")

    async def main() -> T:
        database = Database(make_engine(settings.db_url))
        try:
            return await work(database)
        except (OSError, TypeError, SQLAlchemyError) as exc:
            message = describe_database_error(exc, settings.db_url)
            if message is None:
                raise
            raise MaintenanceError(message) from None
        finally:
            await database.close()

    return asyncio.run(main())
