"""Tasks the machine's operator runs directly on the database (no HTTP, no login):
migrating the schema and keeping the global rosters (administrators, auditors).
Whoever can run these on the server machine is trusted by definition."""

from __future__ import annotations

import asyncio

from sqlalchemy import delete, select

from voting.db.engine import Database, make_engine, migrate
from voting.db.models import Election, Role, Trustee
from voting.elections import lifecycle
from voting.elections.service import set_role
from voting.errors import Conflict
from voting.settings import Settings


async def _with_database(settings: Settings, work) -> object:  # noqa: ANN001 - a coroutine function
    database = Database(make_engine(settings.db_url))
    try:
        await migrate(database.engine)
        return await work(database)
    finally:
        await database.close()


def upgrade(settings: Settings) -> None:
    asyncio.run(_with_database(settings, lambda database: asyncio.sleep(0)))


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
            return [tuple(r) for r in rows]

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
