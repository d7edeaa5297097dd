"""``voting witness``: run a witness that cosigns the bulletin board (立会人).

The logic is in voting/witness.py; this module is options, messages and the
poll loop's signals. Running one in a city hall: docs/operations.md, "Witnesses".
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.markup import escape

from voting import witness as w
from voting.cli.common import console, server_option, shown_path

STATE_HELP = "The witness's state file (立会人の状態ファイル): its private key and the newest head it cosigned per election."


def _state_option(*, exists: bool) -> click.Option:
    return click.option(
        "--state", "state_path", required=True, metavar="FILE",
        type=click.Path(dir_okay=False, exists=exists, path_type=Path), help=STATE_HELP,
    )


@click.group(short_help="Witness the bulletin board: cosign its tree heads (立会人).")
def witness() -> None:
    """Witness elections' bulletin boards (掲示板の立会人).

    A witness runs on its own machine, by a party independent of the server
    (the audit office 監査事務局, the staff union 職員組合, ...). It cosigns an
    election's newest tree head only after checking that it extends the last
    one it cosigned, so a server cannot show different boards to different
    people without the witnesses refusing.

    \b
    1. voting witness init --state FILE --name NAME [--url URL]
       then give the printed entry to the election administrator, who puts it
       in the manifest's "witnesses" before creating the election;
    2. voting witness run --state FILE --server URL --election ID  (as a service);
    3. voting witness show --state FILE  (what it cosigned, what it refused).
    """


@witness.command(short_help="Create a witness key and state file.")
@_state_option(exists=False)
@click.option("--name", required=True, help="Who runs this witness, shown to voters, e.g. '監査事務局 (audit office)'.")
@click.option("--url", metavar="URL", help="Where its HTTP log will be reachable (see run --listen), e.g. http://witness.audit.city.example:8001.")
def init(state_path: Path, name: str, url: str | None) -> None:
    """Create a new witness: an Ed25519 key in a new state file (mode 0600).

    Prints the entry for the election manifest's "witnesses" member; give it to
    the election administrator. The state file is never overwritten: back it
    up, and never restore an older copy over a newer one.
    """
    try:
        state = w.new_state(name, url)
        w.create_state_file(state_path, state)
    except (ValueError, w.WitnessStateError) as exc:
        raise click.ClickException(str(exc)) from None
    console.print(f"✓ Witness 「{name}」 created in {shown_path(state_path)} (mode 0600) / 立会人を作成しました")
    console.print("Give this entry to the election administrator for the manifest's witnesses.members")
    console.print("(選挙管理者に渡し、マニフェストの witnesses.members に加えてもらってください):")
    click.echo(json.dumps(state.member(), ensure_ascii=False, indent=2))


@witness.command(short_help="Cosign elections' tree heads, polling the server.")
@_state_option(exists=False)
@server_option
@click.option(
    "--election", "-e", "elections", multiple=True, required=True, metavar="ID",
    help="An election to witness (repeat for several). Its manifest must name this witness.",
)
@click.option("--listen", metavar="HOST:PORT", help="Serve the witness's read-only HTTP log here, e.g. 0.0.0.0:8001.")
@click.option(
    "--interval", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
    help="Seconds between polls: well under the 20 s a voter's device waits for the cosignature.",
)
@click.option("--once", is_flag=True, help="Poll once and exit: status 1 if an election was refused or could not be checked.")
def run(state_path: Path, server: str, elections: tuple[str, ...], listen: str | None, interval: float, once: bool) -> None:
    """Watch elections on a server and cosign each new tree head (連署).

    \b
    Every INTERVAL seconds, per election: fetch the server-signed tree head,
    check it extends the head cosigned before (a consistency proof), cosign it,
    write the state file, then send the cosignature to the server. At first
    contact it checks that the election's signed manifest names this witness and
    pins the server's key. It refuses an election for good, with a report file
    (FILE.refused-ID.json), when the server shows a forked or rewritten board,
    or when the state file turns out to be an older copy.
    Stop it with Ctrl-C or SIGTERM; run it again with the same state file to resume.
    """
    ids = list(dict.fromkeys(elections))
    for election_id in ids:
        if not w.ELECTION_ID.match(election_id):
            raise click.ClickException(f"{election_id!r} is not an election id (letters, digits, '.', '_', '-')")
    try:
        address = w.parse_listen(listen) if listen else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--listen") from None
    stop = threading.Event()
    with _witness_log_lines(), _stopping_on_signals(stop):
        try:
            w.load_state(state_path)  # a clear line for a missing or damaged file, before the lock file is made
            with w.StateLock(state_path):
                api = w.BoardApi(server)
                try:
                    runner = w.WitnessRunner(state_path, api)
                    outcomes = _run(runner, ids, address, interval, stop, once)
                finally:
                    api.close()
        except w.WitnessStateError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:  # the state file or a report cannot be written (disk full, permissions)
            raise click.ClickException(
                f"cannot write {exc.filename or state_path}: {exc.strerror or exc}; stopped (nothing unsaved was sent) / "
                "状態ファイルを書き込めないため停止しました"
            ) from None
    if once and not all(o.ok for o in outcomes.values()):
        raise SystemExit(1)


def _run(
    runner: w.WitnessRunner, ids: list[str], address: tuple[str, int] | None, interval: float, stop: threading.Event, once: bool
) -> dict[str, w.Outcome]:
    state = runner.state
    console.print(
        f"Witness 「{escape(state.name)}」 (key {state.public_key.hex()[:16]}…) watching {', '.join(ids)} on {runner.api.server_url}"
        + ("" if once else f", every {interval:g} s"), soft_wrap=True,
    )
    for election_id in ids:
        election = state.elections.get(election_id)
        if election and election.refused:
            w.log.error("%s was REFUSED earlier: %s; report: %s. Not cosigning it. / この選挙への連署は停止中です",
                        election_id, election.refused["reason"], election.refused["report"])
        elif election and election.cosigned:
            console.print(f"  {election_id}: resuming after head {election.cosigned.size} / 前回の連署から再開します")
    log_server = None
    if address is not None:
        try:
            log_server = w.LogServer(*address, view=lambda: runner.state).start()
        except OSError as exc:
            raise click.ClickException(f"cannot serve the witness log on {address[0]}:{address[1]}: {exc.strerror}") from None
        console.print(f"  HTTP log on {log_server.url}/ (read-only)")
    try:
        return w.run_rounds(runner, ids, interval=interval, stop=stop, once=once)
    finally:
        if log_server is not None:
            log_server.stop()
        if not once:
            console.print("Witness stopped; run the same command to resume. / 立会人を停止しました")


class _EchoHandler(logging.Handler):
    """Log records as time-stamped lines: progress on standard output,
    warnings and errors on standard error (a service manager keeps both)."""

    def emit(self, record: logging.LogRecord) -> None:
        level = "" if record.levelno < logging.WARNING else f"{record.levelname} "
        click.echo(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {level}{record.getMessage()}", err=record.levelno >= logging.WARNING)


@contextmanager
def _witness_log_lines() -> Iterator[None]:
    handler = _EchoHandler(logging.INFO)
    previous = (w.log.level, w.log.propagate)
    w.log.addHandler(handler)
    w.log.setLevel(logging.INFO)
    w.log.propagate = False
    try:
        yield
    finally:
        w.log.removeHandler(handler)
        w.log.setLevel(previous[0])
        w.log.propagate = previous[1]


@contextmanager
def _stopping_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and Ctrl-C end the wait between rounds; a round in progress
    finishes (its state write is never cut short by us)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in handlers:
        signal.signal(s, lambda *_: stop.set())
    try:
        yield
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)


@witness.command(short_help="Show the witness's key, cosigned heads and refusals.")
@_state_option(exists=False)
@click.option("--json", "as_json", is_flag=True, help="Print the public part of the state as JSON (no private key).")
def show(state_path: Path, as_json: bool) -> None:
    """Show this witness's public entry, and per election the newest head it
    cosigned and any refusal (with its report file)."""
    try:
        state = w.load_state(state_path)
    except w.WitnessStateError as exc:
        raise click.ClickException(str(exc)) from None
    public = {k: v for k, v in state.to_json().items() if k != "private_key"}
    if as_json:
        click.echo(json.dumps(public, ensure_ascii=False, indent=2))
        return
    console.print(f"Witness 「{escape(state.name)}」 / 立会人, state file {shown_path(state_path)}")
    console.print(f"  public key: {state.public_key.hex()}")
    console.print(f"  HTTP log:   {escape(state.url or '(none)')}")
    console.print("  manifest entry / マニフェスト用:")
    click.echo("  " + json.dumps(state.member(), ensure_ascii=False))
    if not state.elections:
        console.print("No elections witnessed yet. / まだ連署した選挙はありません")
    for election_id, election in sorted(state.elections.items()):
        console.print(f"[bold]{election_id}[/bold] on {escape(election.server_url)}", soft_wrap=True)
        if election.cosigned is not None:
            head, cos = election.cosigned.tree_head.head, election.cosigned.cosignature
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(cos.time_ms / 1000))
            console.print(f"  cosigned head {head.size} (root {head.root.hex()[:16]}…) at {when} / 連署済み")
        else:
            console.print("  no head cosigned / 連署なし")
        if election.refused is not None:
            console.print(
                f"  [bold red]REFUSED / 連署停止[/bold red]: {escape(election.refused['reason'])}\n"
                f"  report: {escape(election.refused['report'])}",
                soft_wrap=True,
            )
