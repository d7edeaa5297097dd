"""Engine set-up: durable SQLite settings on every connection; migrations (run by
``voting db upgrade``, and by ``voting serve`` before it starts the app processes);
one-line descriptions of the database failures an operator can fix."""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from importlib.metadata import version
from pathlib import Path

import aiosqlite
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from voting.errors import ServiceError
from voting.files import create_private_file

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"

log = logging.getLogger("voting")

#: Applied to every SQLite connection. WAL never loses a committed transaction when
#: the process is killed; synchronous=FULL also survives power loss.
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
)


#: Engines whose SQLite connections run inline (Database.session relies on it).
_INLINE_ENGINES: weakref.WeakSet = weakref.WeakSet()

#: The aiosqlite releases whose private internals ``InlineSqliteConnection``
#: overrides (``_execute``, ``_connect``, ``_tx``, ``_running``, ``_connection``),
#: as pinned in pyproject.toml. With another release SQLite connections keep
#: aiosqlite's worker thread, and a warning says so.
INLINE_AIOSQLITE = "0.22."


@functools.cache
def inline_sqlite() -> bool:
    """Whether the installed aiosqlite is the release the inline connection was
    written against (warns once when it is not)."""
    installed = version("aiosqlite")
    if installed.startswith(INLINE_AIOSQLITE):
        return True
    log.warning(
        "aiosqlite %s is not the %sx release the inline SQLite connection was written for: "
        "SQLite statements go through aiosqlite's worker thread, about three times slower",
        installed,
        INLINE_AIOSQLITE,
        extra={"event": "sqlite_not_inline"},
    )
    return False


class InlineSqliteConnection(aiosqlite.Connection):
    """aiosqlite's connection without its worker thread: every call except the
    commit runs at once on the event loop's thread.

    Handing each call to aiosqlite's worker thread and back costs two GIL
    hand-offs, and SQLAlchemy makes about four calls per statement: some 0.3 ms
    per statement, against about 0.1 ms inline (docs/loadtest.md). The embedded
    SQLite serves one app process whose writes are serialized by
    ``Database.write_lock``, and WAL readers never wait, so a statement holds
    the loop only for its own work (or while another process, an operator
    command, holds the write lock: ``busy_timeout``). A commit waits for its
    fsync (``synchronous=FULL``), so it runs in a worker thread while the loop
    serves other requests; the write lock stays held until it returns.
    """

    def __init__(self, connector: Callable[[], sqlite3.Connection], iter_chunk_size: int = 64) -> None:
        super().__init__(connector, iter_chunk_size)
        # For callers that queue work for the thread directly (SQLAlchemy's isolation_level).
        self._tx = _RunAtOnce()  # type: ignore[assignment]  # stands in for aiosqlite's SimpleQueue

    def __await__(self):  # noqa: ANN204 - aiosqlite's signature
        return self._connect().__await__()

    async def _connect(self) -> InlineSqliteConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    async def _execute(self, fn, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202 - aiosqlite's signature
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        if fn == self._connection.commit:
            # A commit waits for fsync (synchronous=FULL): the loop works meanwhile.
            return await asyncio.to_thread(fn, *args, **kwargs)
        return fn(*args, **kwargs)

    def stop(self) -> None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class _RunAtOnce:
    """Stands in for aiosqlite's queue to its worker thread: runs the work now."""

    def put_nowait(self, item: tuple[asyncio.Future | None, Callable[[], object]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
            if future is not None:
                future.set_exception(exc)
            return
        if future is not None:
            future.set_result(result)


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            # 0600 before SQLite opens it (its -wal and -shm files follow), in a 0700 directory.
            create_private_file(Path(path.split("?", 1)[0]))
        if path and path != ":memory:" and "?" not in path and inline_sqlite():

            async def connect() -> aiosqlite.Connection:
                return await InlineSqliteConnection(partial(sqlite3.connect, path, timeout=30, check_same_thread=False))

            # Sessions give their connection back in a task of its own (SQLAlchemy's
            # cleanup on exit), so under load many are briefly out at once: a
            # pool smaller than that opens and closes connections all the time.
            engine = create_async_engine(url, async_creator=connect, pool_size=32, max_overflow=32)
            _INLINE_ENGINES.add(engine.sync_engine)
        else:
            engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DBAPI hook
            cursor = dbapi_connection.cursor()
            for pragma in SQLITE_PRAGMAS:
                cursor.execute(pragma)
            cursor.close()

        return engine
    # At most 30 connections per app process, as before; 20 kept open, since
    # under load many sessions are out at once (see above) and a new
    # PostgreSQL connection costs milliseconds.
    return create_async_engine(url, pool_size=20, max_overflow=10, pool_pre_ping=True)


class Database:
    """Sessions for reading, and for writing under one in-process lock.

    SQLite allows one writer; a write that starts as a read can also fail at
    once (SQLITE_BUSY_SNAPSHOT) when another write commits in between. Taking
    this lock around every write transaction avoids both. On PostgreSQL the
    row locks taken inside the transactions keep several processes correct,
    and they keep one process's concurrent transactions correct the same way:
    ``write`` takes no lock there (the cast path's group commit still uses
    ``write_lock`` to gather a process's casts into one transaction).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.write_lock = asyncio.Lock()
        self.inline = engine.sync_engine in _INLINE_ENGINES
        self.serialize_writes = engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session, closed (rolled back unless committed) before this returns.

        SQLAlchemy's own ``async with`` closes in a task of its own, so the
        caller resumes only on a later turn of the event loop; on the inline
        SQLite nothing in the close waits, and closing directly gives the
        connection back (and ``write`` the lock) without that turn.
        """
        if not self.inline:
            async with self.sessions() as session:
                yield session
            return
        session = self.sessions()
        try:
            yield session
        finally:
            await session.close()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self.session() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session for one write transaction; the caller commits (or the
        transaction is rolled back on exit). Serialized by ``write_lock`` on
        SQLite; on PostgreSQL the transactions' own row locks order them, as
        they must across processes anyway, and concurrent commits share the
        server's WAL flushes."""
        if not self.serialize_writes:
            async with self.session() as session:
                yield session
            return
        async with self.write_lock, self.session() as session:
            yield session

    async def close(self) -> None:
        await self.engine.dispose()


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _upgrade(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


@functools.cache
def schema_heads() -> frozenset[str]:
    """The newest migration(s) this code knows."""
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


async def schema_revisions(engine: AsyncEngine) -> frozenset[str]:
    """The migrations the database is at (empty: no schema yet)."""
    async with engine.connect() as conn:
        return frozenset(await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_heads()))


class DatabaseUnavailable(ServiceError):
    """The database cannot be reached or refuses the connection (an operator can fix it)."""

    status = 503
    code = "database_unavailable"


#: asyncpg's errors that say the connection itself failed (by name: asyncpg is
#: only imported when PostgreSQL is used).
_CONNECT_REFUSALS = {
    "InvalidCatalogNameError": "create the database, or correct its name in VOTING_DATABASE_URL",
    "InvalidAuthorizationSpecificationError": "correct the user in VOTING_DATABASE_URL, or create the role",
    "InvalidPasswordError": "correct the password in VOTING_DATABASE_URL",
    "CannotConnectNowError": "PostgreSQL is starting or stopping: try again in a moment",
    "TooManyConnectionsError": "PostgreSQL has no free connections: raise max_connections or run fewer workers",
    "ConnectionDoesNotExistError": "PostgreSQL closed the connection: is it being restarted?",
}


def describe_database_error(exc: BaseException, url: str) -> str | None:
    """One line saying what is wrong with the database connection and what to do,
    or None when ``exc`` is not a connection failure (then it is a bug)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        where = f"the SQLite database {parsed.database}"
    else:
        where = f"PostgreSQL at {parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"
    if isinstance(exc, TypeError) and "unexpected keyword argument" in str(exc):
        name = str(exc).rsplit("argument", 1)[-1].strip(" '\"")
        return f"VOTING_DATABASE_URL has a parameter the database driver does not know: {name} (docs/operations.md, Configuration)"
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc) or type(exc).__name__
        if "SSL" in reason:
            return f"cannot connect to {where}: {reason}: turn TLS on in PostgreSQL, or change sslmode in VOTING_DATABASE_URL"
        return f"cannot connect to {where}: {reason}: is the database server running, and is VOTING_DATABASE_URL right?"
    if isinstance(exc, DBAPIError):
        cause = exc.orig.__cause__ if exc.orig is not None and exc.orig.__cause__ is not None else exc.orig
        if type(cause).__name__ in ("ClientConfigurationError", "InternalClientError"):
            # The driver refused the settings before connecting (asyncpg's TLS files, sslmode).
            detail = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
            fix = (
                "set PGSSLROOTCERT to the CA certificate of the database server, or use sslmode=require "
                "(docs/operations.md, PostgreSQL over TLS)"
                if "root certificate" in detail
                else "correct VOTING_DATABASE_URL (docs/operations.md, Configuration)"
            )
            return f"cannot connect to {where}: {detail}: {fix}"
        advice = _CONNECT_REFUSALS.get(type(cause).__name__)
        if advice is None and isinstance(cause, sqlite3.OperationalError) and "unable to open" in str(cause):
            advice = "check that the data directory exists and this user may write to it"
        if advice is None and not exc.connection_invalidated:
            return None
        detail = str(cause).splitlines()[0] if cause is not None and str(cause) else type(cause).__name__
        return f"{where} refused the connection: {detail}: {advice or 'is the database server running?'}"
    return None


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest migration (safe to run from several processes
    on PostgreSQL: an advisory lock lets one of them do it)."""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(7263401)"))
        await conn.run_sync(_upgrade)
