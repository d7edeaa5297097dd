"""The election's counters (roll size, ballots cast and superseded) that the
status reads instead of counting rows: migration 0009 fills them from the rows
of an existing database, and every write path keeps them equal to the counts
(the HTTP tests compare the status with what was cast, re-votes included)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from alembic import command
from sqlalchemy import text

from tests.http_support import two_question_manifest
from voting.db.engine import alembic_config, make_engine
from voting.settings import Settings


async def _at(url: str, revision: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:

            def upgrade(connection) -> None:
                config = alembic_config()
                config.attributes["connection"] = connection
                command.upgrade(config, revision)

            await conn.run_sync(upgrade)
    finally:
        await engine.dispose()


async def _execute(url: str, *statements: str, params: dict | None = None) -> list:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            result = None
            for statement in statements:
                result = await conn.execute(text(statement), params or {})
            return list(result) if result is not None and result.returns_rows else []
    finally:
        await engine.dispose()


def test_migration_counts_the_rows_of_existing_elections(database_url, data_dir):
    url = Settings(data_dir=data_dir, database_url=database_url).db_url
    asyncio.run(_at(url, "0008"))
    now = {"now": datetime.now(UTC)}
    inserts = [
        "INSERT INTO elections (id, manifest, status, revote_policy, trustee_count, threshold, ceremony_fingerprint, created_at) "
        f"VALUES ('{e}', '{{}}', 'open', 'last', 3, 2, '', :now)"
        for e in ("a", "b", "empty")
    ]
    inserts += [
        f"INSERT INTO roll (election_id, employee_id, name, department, pseudonym) VALUES ('{e}', 'E{i}', 'n', 'd', 'p{e}{i}')"
        for e, n in (("a", 5), ("b", 2)) for i in range(n)
    ]
    inserts += [
        "INSERT INTO ballots (election_id, pseudonym, tracking_code, ballot, signature, certificate_chain, leaf_index, "
        f"superseded, receipt, cast_at) VALUES ('{e}', 'p', '{e}{i}', '{{}}', '', '[]', {i}, {'TRUE' if superseded else 'FALSE'}, '{{}}', :now)"
        for e, i, superseded in (("a", 0, True), ("a", 1, True), ("a", 2, False), ("a", 3, False), ("b", 0, False))
    ]
    asyncio.run(_execute(url, *inserts, params=now))

    asyncio.run(_at(url, "head"))
    rows = asyncio.run(
        _execute(url, "SELECT id, roll_size, ballots_cast, ballots_superseded FROM elections ORDER BY id")
    )
    assert [tuple(r) for r in rows] == [("a", 5, 4, 2), ("b", 2, 1, 0), ("empty", 0, 0, 0)]


def test_removing_a_voter_lowers_the_status_roll_size(pilot):
    """The roll import and the removal of a voter both keep the roll's counter."""
    election_id = pilot.create(two_question_manifest("roll-counter-2026"), ["E0001", "E0002", "E0003"])
    admin = pilot.admin
    assert admin.status(election_id)["roll_size"] == 3
    assert admin.remove_from_roll(election_id, "E0001")["total"] == 2
    assert admin.status(election_id)["roll_size"] == 2
