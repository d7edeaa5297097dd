"""``voting serve``: the HTTP service under uvicorn."""

from __future__ import annotations

import contextlib
import os
import socket
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
    options here override them. Before serving, the database schema is migrated
    and the host checked (the server key and clock match the board); it exits
    non-zero whenever the service cannot serve.
    Logins need the trust anchor and CRL: `voting ca init` makes the pilot's own.
    """
    import uvicorn

    from voting import observability, operator, servelock

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
    if (problem := port_problem(host, port)) is not None:
        raise click.ClickException(problem)
    # Held until this process ends: 'voting keys rotate' and 'voting db restore'
    # refuse meanwhile (voting/servelock.py).
    click.get_current_context().with_resource(servelock.serving(settings.data_dir))
    # Migrations, the server key and the start-up checks run here, once, before
    # any app process starts: a worker restarted while the database is down
    # starts anyway and answers 503 until it is back.
    problems = operator.prepare_to_serve(settings)
    if problems:
        raise click.ClickException("; ".join(problems))
    click.echo(f"Serving {settings.audience} from {settings.data_dir} ({'SQLite' if sqlite else 'PostgreSQL'}); Ctrl-C stops.", err=True)
    options = {"host": host, "port": port, "log_level": log_level, **_proxy_options(settings)}
    options |= observability.uvicorn_options(settings, workers=workers, log_level=log_level)
    if workers == 1:
        server = uvicorn.Server(uvicorn.Config(served_app(settings), **options))
        with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the Ctrl-C it handled: a normal stop
            server.run()
        if not server.started:
            raise click.ClickException("the service did not start (the reason is above)")
        return
    # Several processes: each builds its app from the environment, so pass the
    # options on through it.
    os.environ.update(
        {"VOTING_DATA_DIR": str(settings.data_dir), "VOTING_HOST": host, "VOTING_PORT": str(port), "VOTING_WORKERS": str(workers)}
    )
    run_workers(uvicorn.Config("voting.cli.serve:served_app", factory=True, workers=workers, **options))


def served_app(settings=None):  # noqa: ANN001, ANN201 - voting.settings.Settings, an ASGI app
    """The app as served: inside the proxy-headers layer and the one that
    records the address that connected (voting/auth/client_certificate.py),
    so that a client certificate is believed from the trusted proxies only."""
    from voting.app import create_app
    from voting.auth.client_certificate import behind_proxies
    from voting.settings import Settings

    settings = settings or Settings.from_env()
    return behind_proxies(create_app(settings), settings.forwarded_allow_ips)


def port_problem(host: str, port: int) -> str | None:
    """Why the service cannot listen on ``host:port`` (in use, no such address), or
    None. Bound as uvicorn binds (SO_REUSEADDR), so only a listener counts."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return f"cannot listen on {host}:{port}: {reason}: stop what uses the port, or choose another --port (VOTING_PORT)"
    return None


def run_workers(config) -> None:  # noqa: ANN001 - uvicorn.Config
    """uvicorn's worker supervisor, which restarts a worker that dies, but stops
    every worker when one fails to start; it then returns normally, so say so
    here and exit non-zero (a restart-on-failure supervisor restarts us)."""
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    try:
        sock = config.bind_socket()
    except SystemExit:
        raise click.ClickException(f"cannot listen on {config.host}:{config.port} (the reason is above)") from None
    supervisor = Multiprocess(config, sockets=[sock])
    try:
        supervisor.run()
    finally:
        sock.close()
    failed = [p.pid for p in supervisor.processes if p.exitcode == STARTUP_FAILURE]
    if failed:
        raise click.ClickException(f"an app process failed to start (process {failed[0]}; the reason is above): the service stopped")


def _proxy_options(settings) -> dict:  # noqa: ANN001 - voting.settings.Settings
    """Believe X-Forwarded-For/-Proto only from the proxies named in
    VOTING_FORWARDED_ALLOW_IPS (none by default: uvicorn's own default trusts
    127.0.0.1, so any local process could pose as any client). ``served_app``
    applies them, inside the layer that records the connecting address;
    uvicorn's own layer is off, so they are applied once."""
    return {"proxy_headers": False, "forwarded_allow_ips": settings.forwarded_allow_ips}
