"""Fixtures shared by the service tests: see tests/support.py."""

from __future__ import annotations

import contextlib
import os

import pytest

from tests.http_support import start_pilot
from tests.mitm_support import Mitm
from tests.support import CREATED_DATABASES, PG_ENV, database_backends, fresh_database_url, make_pki
from voting import operator

# pytest-xdist's workers start with COLUMNS=80 and LINES=24 set; the command line's
# console would keep that width for good, whereas a test that wants a width sets
# COLUMNS for its own CliRunner.invoke.
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the browser tests (``test_browser*`` modules and users of the ``browser``
    fixture), and skip the ``postgres`` ones, saying why, when no server is named."""
    no_postgres = pytest.mark.skip(reason=f"PostgreSQL: {PG_ENV} is not set")
    for item in items:
        if item.module.__name__.rpartition(".")[2].startswith("test_browser") or "browser" in item.fixturenames:
            item.add_marker(pytest.mark.browser)
        if item.get_closest_marker("postgres") and not os.environ.get(PG_ENV):
            item.add_marker(no_postgres)


@pytest.fixture(params=database_backends())
def backend(request: pytest.FixtureRequest) -> str:
    """Every service test runs on SQLite, and on PostgreSQL when VOTING_TEST_DATABASE_URL is set."""
    return request.param


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


@pytest.fixture
def database_url(backend, data_dir):
    data_dir.mkdir(parents=True, exist_ok=True)
    return fresh_database_url(backend, data_dir)


@pytest.fixture
def pki(data_dir):
    return make_pki(data_dir)


@pytest.fixture
def front():
    """A malicious server stand-in (tests/mitm_support.py): it relays everything
    until a test installs a hook."""
    mitm = Mitm(upstream="").start()
    yield mitm
    mitm.stop()


@pytest.fixture
def pilot(pki, data_dir, database_url, front):
    """The real server behind ``front``, as behind a reverse proxy: every client
    goes through the stand-in (modules may define their own ``pilot``)."""
    pilot = start_pilot(pki, data_dir, database_url, front=front)
    yield pilot
    pilot.stop()


@pytest.fixture
def softhsm(tmp_path):
    """A SoftHSM2 token directory standing in for the cards (tests/card_support.py)."""
    from tests.card_support import SoftHsm

    hsm = SoftHsm(tmp_path / "hsm")
    yield hsm
    hsm.close()


@pytest.fixture(scope="session", autouse=True)
def _drop_test_databases():
    """Leave the PostgreSQL server as the run found it."""
    yield
    for url in CREATED_DATABASES:
        # A server process may still hold it: not a test failure.
        with contextlib.suppress(Exception):
            operator.drop_postgres_database(os.environ[PG_ENV], url)
