"""``voting serve``: the HTTP service under uvicorn."""

from __future__ import annotations

import os
from pathlib import Path

import click

from voting.cli.common import data_dir_option, settings_for


@click.command(short_help="Run the voting service (投票サーバ).")
@data_dir_option
@click.option("--host", envvar="VOTING_HOST", default="127.0.0.1", show_default=True, help="Address to listen on (env VOTING_HOST).")
@click.option("--port", envvar="VOTING_PORT", type=click.IntRange(1, 65535), default=8000, show_default=True, help="Port (env VOTING_PORT).")
@click.option(
    "--workers",
    envvar="VOTING_WORKERS",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="App processes (env VOTING_WORKERS). More than one needs PostgreSQL (VOTING_DATABASE_URL).",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
    help="uvicorn's log level.",
)
def serve(data_dir: Path, host: str, port: int, workers: int, log_level: str) -> None:
    """Run the voting service (投票サーバ) in the foreground; Ctrl-C stops it.

    Settings come from VOTING_* environment variables (docs/operations.md); the
    options here override them. The database schema is migrated on start.
    Logins need the trust anchor and CRL: `voting ca init` makes the pilot's own.
    """
    import uvicorn

    from voting import operator

    settings = settings_for(data_dir, host=host, port=port, workers=workers)
    sqlite = settings.db_url.startswith("sqlite")
    if workers > 1 and sqlite:
        raise click.ClickException(
            "several workers need PostgreSQL: SQLite has a single writer per file. "
            "Set VOTING_DATABASE_URL=postgresql://... or use --workers 1"
        )
    if not settings.trust_anchor_path.exists():
        click.echo(
            f"warning: no trust anchor at {settings.trust_anchor_path}; logins fail until you run "
            "'voting ca init' or set VOTING_TRUST_ANCHOR",
            err=True,
        )
    click.echo(f"Serving {settings.audience} from {settings.data_dir} ({'SQLite' if sqlite else 'PostgreSQL'}); Ctrl-C stops.", err=True)
    if workers == 1:
        from voting.app import create_app

        uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level)
        return
    # Several processes: each builds its app from the environment, so pass the
    # options on through it, and migrate once here rather than in every worker.
    operator.upgrade(settings)
    os.environ.update(
        {"VOTING_DATA_DIR": str(settings.data_dir), "VOTING_HOST": host, "VOTING_PORT": str(port), "VOTING_WORKERS": str(workers)}
    )
    uvicorn.run("voting.app:create_app", factory=True, host=host, port=port, workers=workers, log_level=log_level)
