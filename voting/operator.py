"""Tasks the machine's operator runs directly on the database (no HTTP, no login):
migrating the schema, preparing a host to serve, and keeping the global rosters
(administrators, auditors). Whoever can run these on the server machine is
trusted by definition.

Only ``upgrade`` (``voting db upgrade``, and ``voting serve``/``voting demo``
before they start the app) changes the schema or creates the SQLite file; the
other tasks refuse a database that is missing or not at the newest migration,
so that one run in the wrong directory cannot create an empty database."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError

from voting import keys, startup
from voting.db.engine import (
    Database,
    DatabaseUnavailable,
    describe_database_error,
    make_engine,
    migrate,
    schema_heads,
    schema_revisions,
)
from voting.db.models import Election, Role, Trustee
from voting.elections import lifecycle
from voting.elections.service import set_role
from voting.errors import Conflict, ServiceError
from voting.settings import Settings

T = TypeVar("T")


class NotReady(ServiceError):
    """The database is missing, or its schema is not the newest: nothing was done."""

    code = "database_not_ready"


def sqlite_path(settings: Settings) -> Path | None:
    url = settings.db_url
    if not url.startswith("sqlite"):
        return None
    path = url.split(":///", 1)[-1].split("?", 1)[0]
    return None if not path or path == ":memory:" else Path(path)


async def _with_database(settings: Settings, work: Callable[[Database], Awaitable[T]], *, upgrade: bool = False) -> T:
    path = sqlite_path(settings)
    if not upgrade and path is not None and not path.exists():
        raise NotReady(
            f"no database at {path}: run it in the service's directory, set VOTING_DATA_DIR, "
            "or create the database with 'voting db upgrade'"
        )
    database = Database(make_engine(settings.db_url))
    try:
        if upgrade:
            await migrate(database.engine)
        elif await schema_revisions(database.engine) != schema_heads():
            raise NotReady("the database schema is not the newest: run 'voting db upgrade' first")
        return await work(database)
    except (OSError, TypeError, SQLAlchemyError) as exc:
        message = describe_database_error(exc, settings.db_url)
        if message is None:
            raise
        raise DatabaseUnavailable(message) from None
    finally:
        await database.close()


def upgrade(settings: Settings) -> None:
    asyncio.run(_with_database(settings, lambda database: asyncio.sleep(0), upgrade=True))


def prepare_to_serve(settings: Settings) -> list[str]:
    """What ``voting serve`` does before it starts the app processes: migrate the
    schema, create the server key on a new deployment (never beside a board
    signed with another key), and return ``startup.startup_problems``."""

    async def work(database: Database) -> list[str]:
        board_key = await startup.board_server_key(database)
        key = keys.load_or_create(settings.signing_key_path, board_key=lambda: board_key)
        return await startup.startup_problems(
            database, key, now_ms=int(time.time() * 1000), max_clock_skew_s=settings.max_clock_skew_s, data_dir=settings.data_dir
        )

    return asyncio.run(_with_database(settings, work, upgrade=True))


def add_role(settings: Settings, employee_id: str, role: str) -> None:
    """Refused for a trustee of an election not yet published: the rule that no
    trustee is an administrator or auditor (checked when the election is
    created) must hold until the election is over."""

    async def work(database: Database) -> None:
        async with database.write() as db:
            elections = list(
                await db.scalars(
                    select(Trustee.election_id)
                    .join(Election, Election.id == Trustee.election_id)
                    .where(Trustee.employee_id == employee_id, Election.status != lifecycle.PUBLISHED)
                    .order_by(Trustee.election_id)
                )
            )
            if elections:
                raise Conflict(
                    f"{employee_id} is a trustee of {', '.join(elections)}, not yet published; "
                    f"give the {role} role to someone else, or after publication",
                    code="trustee_of_unpublished_election",
                )
            await set_role(db, employee_id, role)

    asyncio.run(_with_database(settings, work))


def remove_role(settings: Settings, employee_id: str, role: str) -> None:
    async def work(database: Database) -> None:
        async with database.write() as db:
            await db.execute(delete(Role).where(Role.employee_id == employee_id, Role.role == role))
            await db.commit()

    asyncio.run(_with_database(settings, work))


def list_roles(settings: Settings) -> list[tuple[str, str]]:
    async def work(database: Database) -> list[tuple[str, str]]:
        async with database.read() as db:
            rows = await db.execute(select(Role.employee_id, Role.role).order_by(Role.role, Role.employee_id))
            return [(employee_id, role) for employee_id, role in rows]

    return asyncio.run(_with_database(settings, work))


def create_postgres_database(base_url: str, prefix: str) -> str:
    """A new, empty PostgreSQL database beside the one ``base_url`` names (for
    tests and load tests); returns its URL."""
    import secrets

    import asyncpg

    name = f"{prefix}_{secrets.token_hex(6)}"

    async def create() -> None:
        conn = await asyncpg.connect(base_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return base_url.rsplit("/", 1)[0] + "/" + name


def postgres_activity(url: str) -> tuple[int, int]:
    """(transactions committed in ``url``'s database, WAL flushes of the whole
    PostgreSQL server) so far, from its statistics views: the database work per
    ballot of the load test's capacity model. PostgreSQL publishes them within
    a second or so."""
    import asyncpg

    async def read() -> tuple[int, int]:
        conn = await asyncpg.connect(url)
        try:
            commits = await conn.fetchval("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
            syncs = await conn.fetchval("SELECT wal_sync FROM pg_stat_wal")
            return int(commits), int(syncs)
        finally:
            await conn.close()

    return asyncio.run(read())


def drop_postgres_database(base_url: str, url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]

    async def drop() -> None:
        conn = await asyncpg.connect(base_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())
