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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from cryptography.exceptions import InvalidSignature
from rich.markup import escape

from voting import witness as w
from voting.cli.common import CardSpec, ask_card_pin, card_options, console, server_option, shown_path

if TYPE_CHECKING:
    from voting.card import CardKey

STATE_HELP = (
    "The witness's state file (立会人の状態ファイル): its private key (or which card holds it) and the newest head "
    "it cosigned per election."
)
PIN_HELP = "The card's PIN (env VOTING_PIN), for a witness whose key is on a card; asked for, hidden, at start if not given."

#: Exit statuses of ``witness run`` (sysexits.h) for a service manager:
#: EX_CONFIG for what a restart cannot fix (a wrong or locked card PIN, another
#: card's key, an unusable state file or option): the shipped unit has
#: RestartPreventExitStatus=78, so a wrong PIN in VOTING_PIN is tried once, not
#: every RestartSec until the card locks. EX_TEMPFAIL when the card is absent or
#: has stopped signing: a restart opens it again. Anything else: status 1.
EX_TEMPFAIL = 75
EX_CONFIG = 78


class _Stopped(click.ClickException):
    """One line, and a given exit status."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click reads it from the instance


def _state_option(*, exists: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
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
       [--pkcs11-module PATH --card-key LABEL: the key on a card]
       then give the printed entry to the election administrator, who puts it
       in the manifest's "witnesses" before creating the election;
    2. voting witness run --state FILE --server URL --election ID  (as a service);
    3. voting witness show --state FILE  (what it cosigned, what it refused).
    """


@witness.command(short_help="Create a witness key and state file.")
@_state_option(exists=False)
@click.option("--name", required=True, help="Who runs this witness, shown to voters, e.g. '監査事務局 (audit office)'.")
@click.option("--url", metavar="URL", help="Where its HTTP log will be reachable (see run --listen), e.g. http://witness.audit.city.example:8001.")
@card_options
@click.option("--pin", envvar="VOTING_PIN", metavar="PIN", help=PIN_HELP)
def init(state_path: Path, name: str, url: str | None, card: CardSpec | None, pin: str | None) -> None:
    """Create a new witness: an Ed25519 key in a new state file (mode 0600),
    or, with --pkcs11-module, the witness's Ed25519 key on a card: the state
    file then records the card (module, token, key) instead of a private key,
    and every cosignature is made on the card.

    Prints the entry for the election manifest's "witnesses" member; give it to
    the election administrator. The state file is never overwritten: back it
    up, and never restore an older copy over a newer one.
    """
    try:
        if card is None:
            state = w.new_state(name, url)
        else:
            w.new_state(name, url)  # the name and URL are checked before the card's PIN is asked
            state = w.new_card_state(name, url, _card_ref(card, pin))
        w.create_state_file(state_path, state)
    except (ValueError, w.WitnessStateError) as exc:
        raise click.ClickException(str(exc)) from None
    where = f" on card 「{escape(state.card.token)}」 (key {escape(state.card.key)})" if state.card else ""
    console.print(f"✓ Witness 「{escape(name)}」 created in {escape(shown_path(state_path))} (mode 0600){where} / 立会人を作成しました")
    console.print("Give this entry to the election administrator for the manifest's witnesses.members")
    console.print("(選挙管理者に渡し、マニフェストの witnesses.members に加えてもらってください):")
    click.echo(json.dumps(state.member(), ensure_ascii=False, indent=2))


def _card_ref(card: CardSpec, pin: str | None) -> w.CardRef:
    """Open the card's key, check it is Ed25519 and signs, and say where it is."""
    import os

    from voting.card import close_key, open_key

    if card.chain is not None:
        raise click.UsageError("--card-chain is not used by a witness: its key has no certificate")
    key = open_key(card.choice(), pin, ask_pin=ask_card_pin)
    try:
        signer = w.CardSigner(key)
        probe = b"votingpilot/v1/witness-card-check"
        signer.public_key().verify(signer.sign(probe), probe)
        chosen = card.key or (key.label if key.label else f"id:{key.key_id.hex()}")
        return w.CardRef(os.path.abspath(card.module), key.token_label, chosen, signer.public_key().public_bytes_raw())
    except w.SignerUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    except InvalidSignature:
        raise click.ClickException(f"card {key.token_label!r} made an Ed25519 signature that does not verify") from None
    finally:
        close_key(key)


def _open_signer(state: w.WitnessState, module: Path | None, pin: str | None) -> tuple[w.CardSigner, CardKey]:
    """The card's key, or a line with EX_TEMPFAIL (no card in the reader: a
    restart may find it) or EX_CONFIG (everything else, a wrong PIN above all:
    trying it again would spend the card's tries)."""
    from voting.card import CardAbsentError, CardChoice, CardError, close_key, open_key

    assert state.card is not None
    choice = CardChoice(module=str(module) if module else state.card.module, token=state.card.token, key=state.card.key)

    def ask(label: str) -> str:
        try:
            return ask_card_pin(label)
        except click.Abort:  # no terminal (a service): never a loop of prompts
            raise _Stopped(f"no PIN for card {label!r}: set VOTING_PIN for the service (or run it in a terminal)", EX_CONFIG) from None

    try:
        key = open_key(choice, pin, ask_pin=ask)
    except CardAbsentError as exc:
        raise _Stopped(str(exc), EX_TEMPFAIL) from None
    except CardError as exc:
        raise _Stopped(str(exc), EX_CONFIG) from None
    try:
        return w.CardSigner(key), key
    except ValueError as exc:
        close_key(key)
        raise _Stopped(str(exc), EX_CONFIG) from None


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
@click.option("--pin", envvar="VOTING_PIN", metavar="PIN", help=PIN_HELP)
@click.option(
    "--pkcs11-module", envvar="VOTING_PKCS11_MODULE", type=click.Path(dir_okay=False, path_type=Path), metavar="PATH",
    help="For a witness on a card: the PKCS#11 module, if not the one recorded at init (env VOTING_PKCS11_MODULE).",
)
def run(
    state_path: Path, server: str, elections: tuple[str, ...], listen: str | None, interval: float, once: bool,
    pin: str | None, pkcs11_module: Path | None,
) -> None:
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
    A witness whose key is on a card asks the card's PIN once, at start
    (or takes VOTING_PIN), and keeps the card's session open while it runs.

    \b
    Exit status: 78 (EX_CONFIG) for what starting again cannot fix: a wrong or
    locked card PIN, another card's key, an unusable state file; 75
    (EX_TEMPFAIL) when the card is absent or has not signed for 3 rounds in a
    row (starting again opens it again); 1 otherwise.
    """
    ids = list(dict.fromkeys(elections))
    for election_id in ids:
        if not w.ELECTION_ID.match(election_id):
            raise _Stopped(f"{election_id!r} is not an election id (letters, digits, '.', '_', '-')", EX_CONFIG)
    try:
        address = w.parse_listen(listen) if listen else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--listen") from None
    stop = threading.Event()
    try:
        state = w.load_state(state_path)  # a clear line for a missing or damaged file, before the lock file is made
    except w.WitnessStateError as exc:
        raise _Stopped(str(exc), EX_CONFIG) from None
    signer, key = _open_signer(state, pkcs11_module, pin) if state.card is not None else (None, None)
    try:
        outcomes = _run_locked(state_path, server, signer, ids, address, interval, stop, once)
    finally:
        if key is not None:
            from voting.card import close_key

            close_key(key)
    if once and not all(o.ok for o in outcomes.values()):
        raise SystemExit(1)


def _run_locked(
    state_path: Path, server: str, signer: w.CardSigner | None, ids: list[str], address: tuple[str, int] | None,
    interval: float, stop: threading.Event, once: bool,
) -> dict[str, w.Outcome]:
    with _witness_log_lines(), _stopping_on_signals(stop):
        try:
            with w.StateLock(state_path):
                api = w.BoardApi(server)
                try:
                    try:
                        runner = w.WitnessRunner(state_path, api, signer=signer)
                    except w.WitnessStateError as exc:  # another card's key, or the file changed: a restart cannot fix it
                        raise _Stopped(str(exc), EX_CONFIG) from None
                    return _run(runner, ids, address, interval, stop, once)
                finally:
                    api.close()
        except w.WitnessStateError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:  # the state file or a report cannot be written (disk full, permissions)
            raise click.ClickException(
                f"cannot write {exc.filename or state_path}: {exc.strerror or exc}; stopped (nothing unsaved was sent) / "
                "状態ファイルを書き込めないため停止しました"
            ) from None


def _run(
    runner: w.WitnessRunner, ids: list[str], address: tuple[str, int] | None, interval: float, stop: threading.Event, once: bool
) -> dict[str, w.Outcome]:
    state = runner.state
    console.print(
        f"Witness 「{escape(state.name)}」 (key {state.public_key.hex()[:16]}…) watching {escape(', '.join(ids))} on {escape(str(runner.api.server_url))}"
        + ("" if once else f", every {interval:g} s"), soft_wrap=True,
    )
    for election_id in ids:
        election = state.elections.get(election_id)
        if election and election.refused:
            w.log.error("%s was REFUSED earlier: %s; report: %s. Not cosigning it. / この選挙への連署は停止中です",
                        election_id, election.refused["reason"], election.refused["report"])
        elif election and election.cosigned:
            console.print(f"  {escape(election_id)}: resuming after head {election.cosigned.size} / 前回の連署から再開します")
    log_server = None
    if address is not None:
        try:
            log_server = w.LogServer(*address, view=lambda: runner.state).start()
        except OSError as exc:
            raise click.ClickException(f"cannot serve the witness log on {address[0]}:{address[1]}: {exc.strerror}") from None
        console.print(f"  HTTP log on {log_server.url}/ (read-only)")
    try:
        return w.run_rounds(
            runner, ids, interval=interval, stop=stop, once=once,
            signer_gone_rounds=w.SIGNER_GONE_ROUNDS if runner.signer is not None else None,
        )
    except w.SignerGone as exc:
        raise _Stopped(str(exc), EX_TEMPFAIL) from None
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
    console.print(f"Witness 「{escape(state.name)}」 / 立会人, state file {escape(shown_path(state_path))}")
    console.print(f"  public key: {state.public_key.hex()}")
    if state.card is not None:
        console.print(
            f"  key on card: {escape(state.card.token)} (key {escape(state.card.key)}, module {escape(state.card.module)})",
            soft_wrap=True,
        )
    console.print(f"  HTTP log:   {escape(state.url or '(none)')}")
    console.print("  manifest entry / マニフェスト用:")
    click.echo("  " + json.dumps(state.member(), ensure_ascii=False))
    if not state.elections:
        console.print("No elections witnessed yet. / まだ連署した選挙はありません")
    for election_id, election in sorted(state.elections.items()):
        console.print(f"[bold]{escape(election_id)}[/bold] on {escape(election.server_url)}", soft_wrap=True)
        if election.cosigned is not None:
            head, cos = election.cosigned.tree_head.head, election.cosigned.cosignature
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(cos.time_ms / 1000))
            console.print(f"  cosigned head {head.size} (root {head.root.hex()[:16]}…) at {when} / 連署済み")
        else:
            console.print("  no head cosigned / 連署なし")
        if election.refused is not None:
            console.print(
                f"  [bold red]REFUSED / 連署停止[/bold red]: {escape(str(election.refused['reason']))}\n"
                f"  report: {escape(str(election.refused['report']))}",
                soft_wrap=True,
            )
