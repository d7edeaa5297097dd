"""``voting db``: the database: schema, backups, restore, check, purge."""

from __future__ import annotations

from pathlib import Path

import click

from voting.cli.common import data_dir_option, settings_for


@click.group(short_help="The database: schema, backup, restore, check (データベース).")
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


def _maintenance_errors(function):  # noqa: ANN001, ANN202 - a click callback
    """A MaintenanceError is one line and exit status 1, never a traceback."""
    import functools

    @functools.wraps(function)
    def wrapper(*args: object, **kwargs: object) -> object:
        from voting.maintenance import MaintenanceError

        try:
            return function(*args, **kwargs)
        except MaintenanceError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


def _size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


@db.command(short_help="Back up the database while the service runs (バックアップ).")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@data_dir_option
@_maintenance_errors
def backup(file: Path, force: bool, data_dir: Path) -> None:
    """Write a consistent copy of the database to FILE while the service runs
    (バックアップ): SQLite in one read transaction (VACUUM INTO), PostgreSQL with
    pg_dump --format=custom. The copy is written to a temporary file, synced to
    disk, renamed to FILE (mode 0600) and checked. Keep it with the server key
    (server-signing-key.pem)."""
    from voting import maintenance

    done = maintenance.backup(settings_for(data_dir), file, force=force)
    click.echo(f"Backed up the database to {done.path}: {_size(done.size)} in {done.seconds:.2f} s; the copy passed its check.")


@db.command(short_help="Restore the database from a backup (復元).")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True, help="Restore even while an election is open (its ballots since the backup are lost).")
@data_dir_option
@_maintenance_errors
def restore(file: Path, yes: bool, force: bool, data_dir: Path) -> None:
    """Replace the database with the backup FILE (復元), then check it. Stop the
    service first: the restore refuses while the database is in use, and while
    an election is open unless --force. Shows the backup's time and each
    election's board size, now and in the backup, before asking. SQLite
    keeps the replaced database beside it (voting.sqlite3.replaced-TIME);
    PostgreSQL runs pg_restore --clean in one transaction."""
    from sqlalchemy.engine import make_url

    from voting import maintenance

    settings = settings_for(data_dir)
    busy = maintenance.service_running(settings)
    if busy:
        raise click.ClickException(f"{busy}: stop the service first, then restore / サービスを停止してから復元してください")
    url = make_url(settings.db_url).render_as_string(hide_password=True)
    view = maintenance.restore_view(settings, file)
    if not force:
        maintenance.require_no_open_election(view)
    for line in view.lines():
        click.echo(line)
    if not yes:
        click.confirm(f"Replace the database {url} with {file}? Everything since that backup is lost", abort=True)
    seconds = maintenance.restore(settings, file, force=force)
    click.echo(f"Restored {url} from {file} in {seconds:.2f} s. Checking it:")
    _report(maintenance.check(settings))


@db.command(short_help="Check the schema, integrity and every board (点検).")
@data_dir_option
@_maintenance_errors
def check(data_dir: Path) -> None:
    """Check the database (点検): the schema is at the newest migration, SQLite's
    integrity check (PostgreSQL keeps its own checksums), and every election's
    bulletin board re-hashed against its newest signed tree head. Exit status
    0 when all is well, 1 with one line per problem. Safe while the service runs."""
    from voting import maintenance

    settings = settings_for(data_dir)
    if maintenance.sqlite_path(settings) is None:
        click.echo("PostgreSQL: no integrity check of the files (the server checks its own pages); schema and boards:")
    _report(maintenance.check(settings))


def _report(problems: list[str]) -> None:
    for problem in problems:
        click.echo(f"PROBLEM: {problem}", err=True)
    if problems:
        raise click.ClickException(
            f"{len(problems)} problem(s) found: restore the latest sound backup, or tell the audit office / 問題が見つかりました"
        )
    click.echo("The database is sound: schema up to date, integrity ok, every board matches its signed tree head.")


@db.command(short_help="Delete expired login challenges and ended sessions.")
@data_dir_option
@_maintenance_errors
def purge(data_dir: Path) -> None:
    """Delete the spent login challenges that expired more than
    VOTING_NONCE_TTL_S ago and the expired or ended sessions. The service does
    this by itself every VOTING_PURGE_INTERVAL_S seconds."""
    from voting import maintenance

    done = maintenance.purge(settings_for(data_dir))
    click.echo(f"Deleted {done.challenges} login challenge(s) and {done.sessions} session(s).")
