"""The inline SQLite connection (voting/db/engine.py) overrides aiosqlite's
private internals, so aiosqlite is pinned to the release it was written for:
with the installed aiosqlite the inline path is the one taken, and with any
other release the engine keeps aiosqlite's worker thread and says so once."""

from __future__ import annotations

import asyncio
import logging
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from sqlalchemy import text

from voting.db import engine as db

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


@pytest.fixture
def warnings_of_voting():
    """The ``voting`` logger's warnings (it may not propagate to the root logger)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logger = logging.getLogger("voting")
    logger.addHandler(handler)
    db.inline_sqlite.cache_clear()
    yield records
    logger.removeHandler(handler)
    db.inline_sqlite.cache_clear()


def test_the_pin_is_the_release_the_inline_connection_was_written_for():
    extras = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    (pin,) = [Requirement(r).specifier for r in extras["server"] if Requirement(r).name == "aiosqlite"]
    minor = db.INLINE_AIOSQLITE.rstrip(".")
    major, number = minor.split(".")
    assert f"{minor}.0" in pin and f"{minor}.99" in pin
    assert f"{major}.{int(number) - 1}.99" not in pin and f"{major}.{int(number) + 1}.0" not in pin
    assert version("aiosqlite") in pin


def test_the_installed_aiosqlite_takes_the_inline_path(tmp_path, warnings_of_voting):
    engine = db.make_engine(f"sqlite+aiosqlite:///{tmp_path / 'inline.sqlite3'}")
    assert db.Database(engine).inline

    async def connect() -> None:
        async with engine.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            assert type(driver) is db.InlineSqliteConnection
            assert not driver._thread.is_alive()  # aiosqlite's worker thread never started
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        await engine.dispose()

    asyncio.run(connect())
    assert warnings_of_voting == []


def test_another_aiosqlite_keeps_the_worker_thread_and_warns_once(tmp_path, monkeypatch, warnings_of_voting):
    monkeypatch.setattr(db, "version", lambda _: "0.23.0")
    engines = [db.make_engine(f"sqlite+aiosqlite:///{tmp_path / f'{n}.sqlite3'}") for n in range(2)]
    assert not any(db.Database(engine).inline for engine in engines)
    assert [r.getMessage() for r in warnings_of_voting] == [
        "aiosqlite 0.23.0 is not the 0.22.x release the inline SQLite connection was written for: "
        "SQLite statements go through aiosqlite's worker thread, about three times slower"
    ]

    async def connect() -> None:
        async with engines[0].connect() as conn:
            assert type((await conn.get_raw_connection()).driver_connection) is not db.InlineSqliteConnection
            assert (await conn.execute(text("SELECT 1"))).scalar() == 1
        for engine in engines:
            await engine.dispose()

    asyncio.run(connect())
