"""``voting db``: the database schema."""

from __future__ import annotations

from pathlib import Path

import click

from voting.cli.common import data_dir_option, settings_for


@click.group(short_help="The database schema (データベース).")
def db() -> None:
    """The service's database (データベース): SQLite under the data directory, or
    PostgreSQL from VOTING_DATABASE_URL."""


@db.command(short_help="Apply every schema migration.")
@data_dir_option
def upgrade(data_dir: Path) -> None:
    """Apply every schema migration (Alembic). `voting serve` does this on start
    too; run it yourself before starting several app processes."""
    from sqlalchemy.engine import make_url

    from voting import operator

    settings = settings_for(data_dir)
    operator.upgrade(settings)
    url = make_url(settings.db_url).render_as_string(hide_password=True)
    click.echo(f"The database schema is up to date: {url}")
