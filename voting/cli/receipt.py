"""``voting receipt check``: anyone checks a receipt against the bulletin board."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from crypto.ballots import format_tracking_code
from crypto.errors import CryptoError
from crypto.receipts import verify_receipt
from voting.cli.common import console, describe_api_error, server_option
from voting.client import ApiError, Client


@click.group(short_help="Check a receipt (受付証).")
def receipt() -> None:
    """Receipts (投票受付証) voters keep after casting."""


@receipt.command(short_help="Check receipts against the bulletin board.")
@server_option
@click.argument(
    "receipt_files", metavar="RECEIPT.json...", nargs=-1, required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
def check(server: str, receipt_files: tuple[Path, ...]) -> None:
    """Check receipts (受付証の検証): signed by the server, the ballot included in
    the bulletin board, and still there now (the newest tree head extends the
    one in the receipt). No login: anyone, e.g. an auditor, can check any
    receipt. Exits with status 1 if a check fails."""
    failed = [path.name for path in receipt_files if not _check_one(server, path)]
    if failed:
        raise click.ClickException(
            f"{', '.join(failed)} did not check out; keep the receipt and tell the election administrator"
        )


def _check_one(server: str, receipt_file: Path) -> bool:
    doc = json.loads(receipt_file.read_text(encoding="utf-8"))
    rows: list[tuple[str, bool, str]] = []
    included = "Receipt signed, ballot included in its tree head / 署名と包含証明"
    try:
        head = verify_receipt(doc)
        rows.append((included, True, f"entry {doc['leaf_index']} of {head.head.size}"))
    except CryptoError as exc:
        rows.append((included, False, str(exc)))
    if rows[-1][1]:
        try:
            with Client(server) as client:
                summary = client.check_receipt(doc)
            rows.append(("Signed by this server's key / サーバ鍵", True, server))
            rows.append((
                "Still on the bulletin board / 掲示板に記録",
                True,
                f"tree head {summary['newest_tree_size']} is consistent with the receipt's {summary['receipt_tree_size']}",
            ))
        except (CryptoError, ApiError) as exc:
            message = describe_api_error(exc) if isinstance(exc, ApiError) else str(exc)
            rows.append(("Checked against the server's bulletin board / 掲示板との照合", False, message))
    table = Table(title=f"Receipt {receipt_file.name}")
    table.add_column("Check / 検証項目", overflow="fold")
    table.add_column("Result / 結果", overflow="fold")
    table.add_column("Detail / 詳細", overflow="fold")
    for name, ok, detail in rows:
        table.add_row(name, "[green]PASS[/green]" if ok else "[red]FAIL[/red]", detail)
    console.print(table)
    ok = all(ok for _, ok, _ in rows)
    if ok:
        short = format_tracking_code(bytes.fromhex(doc["tracking_code"]))
        console.print(f"✓ Ballot {short} is on the bulletin board. 確認できました。")
    return ok
