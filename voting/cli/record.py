"""``voting verify``, ``voting verify-receipt`` and ``voting election export``:
the published election record (docs/election-record.md).

``export`` downloads the record over HTTP, like every other election command:
an auditor is not the server's operator and needs no access to its machine or
database, the record is byte for byte what the service publishes to anyone,
and the auditors-only part stays behind the service's role check (auditor or
administrator). ``verify`` needs nothing but the record and ``crypto/``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape

from voting.cli.common import (
    CardSpec,
    cacert_option,
    card_options,
    choose_signer,
    console,
    fail,
    login,
    plural,
    print_json,
    server_option,
)

if TYPE_CHECKING:
    from cryptography import x509
    from rich.progress import TaskID

    from voting.client import Client
    from voting.verify.report import Report

EXIT_FAILED = 1


def _server_key(value: str | None) -> bytes | None:
    if value is None:
        return None
    try:
        key = bytes.fromhex(value)
    except ValueError:
        key = b""
    if len(key) != 32 or value != value.lower():
        fail("--server-key must be the server's Ed25519 public key: 64 lowercase hex characters")
    return key


server_key_option = click.option(
    "--server-key",
    metavar="HEX",
    help="Pin the server's Ed25519 public key (64 hex characters, e.g. from your receipt or "
    "published by the election office); without it the record's own key is used.",
)


# --- voting election export ------------------------------------------------------------------


@click.command("export")
@click.argument("election_id")
@click.argument("out", type=click.Path(path_type=Path))
@click.option(
    "--private",
    is_flag=True,
    help="Include the auditors-only part (監査用: certificates, roll, CRLs); needs an auditor or admin credential.",
)
@click.option(
    "--credential",
    "-c",
    envvar="VOTING_CREDENTIAL",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Your credential file, for --private (env VOTING_CREDENTIAL).",
)
@click.option("--pin", envvar="VOTING_PIN", metavar="PIN", help="The credential's or card's PIN (env VOTING_PIN); asked for if not given.")
@card_options
@click.option("--force", is_flag=True, help="Replace a record already in OUT.")
@click.option(
    "--wait-witnesses", type=click.IntRange(0, 24 * 3600), default=60, show_default=True, metavar="SECONDS",
    help="If the election names witnesses (立会人), wait up to this long for them to cosign the whole board first.",
)
@server_option
def export(
    election_id: str, out: Path, private: bool, credential: Path | None, pin: str | None, card: CardSpec | None, force: bool,
    wait_witnesses: int, server: str,
) -> None:
    """Download ELECTION's record (選挙記録) to OUT: a directory, or a zip file
    if OUT ends in .zip. The public record needs no login; --private adds what
    reveals who voted, for auditors. Check it with 'voting verify OUT'.

    If the manifest names witnesses, it first waits (--wait-witnesses) until the
    quorum of them cosigned the whole board, and says so if they did not: the
    record's check 12 needs it."""
    from voting.client import ApiError, Client
    from voting.files import make_directory, write_file
    from voting.record import files as F

    credential, card = choose_signer(credential, card)
    if private and credential is None and card is None:
        fail(
            "--private needs your credential (--credential FILE, or a card: --pkcs11-module PATH): "
            "the auditors' part is for auditors and administrators"
        )
    _check_target(out, force)
    client = login(server, credential, pin, card=card) if private else Client(server)
    with client:
        quorum = _wait_for_witnesses(client, election_id, wait_witnesses)
        path = f"/api/elections/{election_id}/record" + ("/private" if private else "")
        response = client.http.get(path)
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {}
            raise ApiError(response.status_code, body.get("code", "http_error"), body.get("detail", response.text[:200]), body)
    files = F.read_record_zip(response.content)
    # The auditors' part reveals who voted: files 0600, directories made for them 0700.
    if out.suffix.lower() == ".zip":
        write_file(out, response.content, private=private)
    else:
        for name in F.ALL_FILES:
            (out / name).unlink(missing_ok=True)
        make_directory(out, private=private)
        for name, data in files.items():  # only the record's known file names
            write_file(out / name, data, private=private)
    record = json.loads(files[F.RECORD])
    part = " with the auditors' part (keep it confidential / 取扱注意)" if private else ""
    console.print(
        f"Wrote the record of [bold]{escape(election_id)}[/bold] ({escape(str(record['board_size']))} board entries, "
        f"stage {escape(str(record['stage']))}){part} to {escape(str(out))}"
    )
    console.print(f"Verify it with: voting verify {escape(str(out))}")
    if quorum:
        _warn_unless_cosigned(files, quorum)


def _wait_for_witnesses(client: Client, election_id: str, seconds: int) -> int:
    """Wait until the quorum of the election's witnesses cosigned the whole
    board, at most ``seconds``; a line each time they get further. Returns the
    quorum (0 when the election names no witnesses)."""
    from voting.client import wait_for_cosigned_board

    def show(quorum: int, cosigned: int, size: int, left: float) -> None:
        console.print(
            f"Waiting up to {left:.0f} s for {quorum} witness(es) to cosign the whole board: "
            f"cosigned {cosigned} of {size} entries so far… / 立会人の連署を待っています",
            soft_wrap=True,
        )

    quorum, whole = wait_for_cosigned_board(client, election_id, seconds, progress=show)
    if whole is not None:
        console.print(f"The witnesses cosigned the whole board ({whole} entries). / 立会人が掲示板全体に連署しました。")
    return quorum


def _warn_unless_cosigned(files: dict, quorum: int) -> None:
    """Say so when the record just downloaded is not cosigned by the quorum up
    to its last entry (the board may also have grown since the wait)."""
    from voting.record import files as F

    size = json.loads(files[F.RECORD])["board_size"]
    heads = json.loads(files[F.COSIGNATURES])["heads"]
    final = next((h for h in heads if h["tree_head"]["size"] == size), None)
    if final is None or len(final["cosignatures"]) < quorum:
        console.print(
            f"[bold yellow]Warning / 警告[/bold yellow]: the witnesses have not cosigned this record's whole board "
            f"({size} entries) yet, so 'voting verify' fails its check 12. Export it again once they have "
            "(--wait-witnesses SECONDS waits longer). / 立会人がまだ掲示板全体に連署していません。連署の後でもう一度エクスポートしてください。",
            soft_wrap=True,
        )


def _check_target(out: Path, force: bool) -> None:
    from voting.record import files as F

    if out.suffix.lower() == ".zip":
        if out.exists() and not force:
            fail(f"{out} exists; use --force to replace it")
        return
    if out.exists() and not out.is_dir():
        fail(f"{out} is a file; give a directory or a .zip path")
    if out.is_dir() and any((out / name).exists() for name in F.ALL_FILES) and not force:
        fail(f"{out} already holds a record; choose another directory or use --force to replace it")


# --- voting verify ------------------------------------------------------------------------------


STATUS_TEXT = {
    "pass": "[green]✓ pass[/green]",
    "fail": "[bold red]✗ FAIL[/bold red]",
    "skip": "[yellow]– skip[/yellow]",
    "blocked": "[red]not run[/red]",
}


@click.command("verify")
@click.argument("record", type=click.Path(exists=True, path_type=Path))
@server_key_option
@click.option("--workers", type=click.IntRange(1, 256), help="Processes for ballot proofs and certificates (default: all cores).")
@click.option("--strict", is_flag=True, help="Also fail when a check was skipped (e.g. no auditors' part).")
@click.option(
    "--trust-anchor",
    "trust_anchors",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The roots you pinned (信頼するルート証明書), PEM, one or more per file, the option repeatable: the city's "
    "root and the root of every card anchor (such as JPKI) the election notice names. Every trust anchor of the "
    "auditors' part must be one of them, or check 5 fails naming it. Without it the record's own anchors are used.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify(
    record: Path, server_key: str | None, workers: int | None, strict: bool, trust_anchors: tuple[Path, ...], as_json: bool
) -> None:
    """Verify an election RECORD (a directory or a .zip) independently (選挙記録の検証).

    Runs the numbered checks of docs/election-record.md using nothing but the
    record: the parameters, the key ceremony, every ballot's proofs (limits
    from the manifest), tracking codes, eligibility (with the auditors' part),
    the re-vote policy, the signed bulletin board, the aggregate, the
    trustees' decryptions and the result. Exit status 0 only if every check
    passes (a skipped check passes unless --strict); 1 if any fails.
    """
    from crypto.credentials import TrustStore
    from crypto.errors import CryptoError
    from voting.record.files import RecordFileError, read_record
    from voting.verify import verify_record

    pinned = _server_key(server_key)
    roots: list[x509.Certificate] = []
    for path in trust_anchors:
        try:
            roots.extend(TrustStore.from_pem(path.read_bytes()).roots)
        except (CryptoError, ValueError) as exc:
            fail(f"{path} is not a root CA certificate (PEM): {exc}")
    try:
        files = read_record(record)
    except RecordFileError as exc:
        fail(str(exc))
    with _Progress(enabled=not as_json) as progress:
        report = verify_record(files, server_key=pinned, workers=workers, progress=progress, trust_anchors=roots or None)
    ok = report.ok(strict=strict)
    if as_json:
        print_json({**report.to_json(), "ok": ok})
    else:
        _print_report(report, ok)
    if not ok:
        raise click.exceptions.Exit(EXIT_FAILED)


class _Progress:
    """Progress bars on standard error while the checks run (gone when done)."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> Callable[[str, int, int], None] | None:
        if not self.enabled:
            return None
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.bars = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=Console(stderr=True, emoji=False), transient=True,
        )
        self.bars.__enter__()
        return self.update

    def update(self, stage: str, done: int, total: int) -> None:
        if stage not in self.tasks:
            self.tasks[stage] = self.bars.add_task(f"Checking {stage}", total=total)
        self.bars.update(self.tasks[stage], completed=done, total=total)

    def __exit__(self, *exc: Any) -> None:
        if self.enabled:
            self.bars.__exit__(*exc)


def _print_report(report: Report, ok: bool) -> None:
    from rich.table import Table

    console.print(
        f"Election [bold]{escape(str(report.election_id))}[/bold]: stage {escape(str(report.stage))}, {plural(report.board_size, 'board entry', 'board entries')}, "
        f"{plural(report.ballots, 'ballot', 'ballots')} ({report.counted} counted); auditors' part: {'yes' if report.auditors_part else 'no'}"
    )
    table = Table(title="Election record checks / 選挙記録の検査")
    table.add_column("#", justify="right")
    table.add_column("Check / 検査", no_wrap=True)
    table.add_column("Result\n結果", no_wrap=True)
    table.add_column("Items\n件数", justify="right")
    table.add_column("Time\n時間", justify="right", no_wrap=True)
    table.add_column("First failure or note / 最初の不合格項目")
    for c in report.checks:
        detail = c.first_failure or c.note
        if c.failure_count > 1:
            detail += f" (+{c.failure_count - 1} more)"
        table.add_row(
            str(c.number), f"{c.short}\n{c.short_ja}", STATUS_TEXT[c.status], str(c.items), f"{c.seconds:.2f}s", escape(detail),
            end_section=True,
        )
    console.print(table)
    for c in report.checks:
        if len(c.failures) > 1:
            console.print(f"[bold]Check {c.number}[/bold] failures (first {len(c.failures)} of {c.failure_count}):")
            for message in c.failures:
                console.print(f"  - {escape(message)}")
    for warning in getattr(report, "warnings", []):
        console.print(f"[bold yellow]WARNING / 注意[/bold yellow]: {escape(str(warning))}")
    if report.auditors_part and not report.anchors_pinned:
        console.print(
            "Note / 注記: the auditors' part's trust anchors were taken from the record itself; give --trust-anchor "
            "(the city's root and every card anchor's root, from the election notice) to check them against roots you "
            "pinned. / 信頼点は記録自身のものです。--trust-anchor で固定したルート証明書と照合できます。",
            soft_wrap=True,
        )
    workers = f" with {report.workers} processes" if report.workers > 1 else ""
    if ok:
        console.print(f"[bold green]All checks passed / すべての検査に合格[/bold green] ({report.seconds:.1f} s{workers})")
    else:
        failed = [str(c.number) for c in report.checks if c.status in ("fail", "blocked")]
        skipped = [str(c.number) for c in report.checks if c.status == "skip"]
        reason = f"checks {', '.join(failed)} did not pass" if failed else f"checks {', '.join(skipped)} were skipped (--strict)"
        console.print(f"[bold red]The record does NOT verify / 検証に失敗[/bold red]: {reason} ({report.seconds:.1f} s{workers})")


# --- voting verify-receipt --------------------------------------------------------------------------


@click.command("verify-receipt")
@click.argument("receipt", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--record", type=click.Path(exists=True, path_type=Path), help="Check against this election record.")
@click.option("--server", metavar="URL", help="Check against this live server's newest tree head.")
@cacert_option
@server_key_option
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def verify_receipt(receipt: Path, record: Path | None, server: str | None, server_key: str | None, as_json: bool) -> None:
    """Check a ballot RECEIPT (受付証, the JSON file a voter kept) against an
    election record or a live server: the server's signatures, the ballot's
    inclusion in the bulletin board, that the board still holds it
    (consistency with the newest tree head) and, when the election names
    witnesses (立会人), that their quorum cosigned a head holding it."""
    from crypto.errors import CryptoError
    from voting.verify import Bad

    if (record is None) == (server is None):
        fail("give exactly one of --record RECORD or --server URL")
    doc = json.loads(receipt.read_text(encoding="utf-8"))
    pinned = _server_key(server_key)
    try:
        if record is not None:
            outcome = _receipt_in_record(doc, record, pinned)
        else:
            assert server is not None  # exactly one of the two, checked above
            outcome = _receipt_on_server(doc, server, pinned)
    except (Bad, CryptoError) as exc:
        console.print(f"[bold red]The receipt does NOT verify / 受付証の検証に失敗[/bold red]: {escape(str(exc))}")
        raise click.exceptions.Exit(EXIT_FAILED) from None
    if as_json:
        print_json(outcome)
        return
    from crypto.ballots import format_tracking_code

    console.print(
        f"[bold green]The receipt verifies / 受付証は有効です[/bold green]: ballot "
        f"{format_tracking_code(bytes.fromhex(outcome['tracking_code']))} is entry {escape(str(outcome['leaf_index']))} of "
        f"{escape(str(outcome['election_id']))}'s board, which still holds it at size {escape(str(outcome['newest_tree_size']))}."
    )
    if outcome.get("counted") is False:
        console.print("It was superseded by a later ballot of the same voter, which counts instead (再投票).")


def _receipt_in_record(receipt: dict, record: Path, pinned: bytes | None) -> dict:
    from voting.record.files import RecordFileError, read_record
    from voting.verify import verify_receipt_in_record

    try:
        files = read_record(record)
    except RecordFileError as exc:
        fail(str(exc))
    return verify_receipt_in_record(receipt, files, server_key=pinned)


def _receipt_on_server(receipt: dict, server: str, pinned: bytes | None) -> dict:
    from crypto.log import SignedTreeHead
    from voting.client import Client
    from voting.verify import Bad
    from voting.witnessed import SplitView, check_receipt_witnesses

    with Client(server) as client:
        if pinned is not None and client.get("/api/server-key")["server_key"] != pinned.hex():
            raise Bad("the server's key is not the one you gave (--server-key)")
        outcome = client.check_receipt(receipt)
        key = bytes.fromhex(receipt["server_key"])
        try:
            witnesses = check_receipt_witnesses(client, receipt, SignedTreeHead.from_json(receipt["tree_head"]), key)
        except SplitView as exc:
            raise Bad(str(exc)) from None
    if witnesses.status in ("fail", "pending"):
        raise Bad(f"the election's witnesses: {witnesses.detail}")
    return {
        **outcome,
        "election_id": receipt.get("election_id"),
        "witnesses": {"status": witnesses.status, "detail": witnesses.detail, "cosigned_by": [w.name for w in witnesses.cosigned_by]},
    }
