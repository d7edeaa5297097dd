"""``voting receipt check``: anyone checks a receipt against the bulletin board."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import httpx
from rich.markup import escape
from rich.table import Table

from crypto.ballots import format_tracking_code
from crypto.errors import CryptoError
from crypto.receipts import COMPACT_PREFIX, expand_compact_receipt, parse_compact_receipt, verify_receipt
from voting import tls
from voting.cli.common import console, describe_api_error, server_option
from voting.client import ApiError, Client
from voting.witnessed import GRACE_MS, SplitView, Unavailable, check_receipt_witnesses, is_unavailable, save_completed


@click.group(short_help="Check a receipt (受付証).")
def receipt() -> None:
    """Receipts (受付証) voters keep after casting."""


def _expand_compact(server: str, text: str) -> dict:
    """The full receipt of a compact one (the printed receipt's QR code), read
    from the server and kept only if it carries the same signature."""
    election_id, code, _ = parse_compact_receipt(text)
    with Client(server) as client:
        reply = client.get(f"/api/elections/{election_id}/ballots/{code}")
    return expand_compact_receipt(text, reply.get("receipt") if isinstance(reply, dict) else None)


#: Exit status of ``voting receipt check`` when a receipt is not confirmed by
#: the witnesses yet (and nothing failed): run it again later.
PENDING_EXIT = 3


@receipt.command(short_help="Check receipts against the bulletin board and its witnesses.")
@server_option
@click.option(
    "--no-update", is_flag=True,
    help="Do not add the witnesses' cosigned head to the receipt file when it is confirmed.",
)
@click.argument(
    "receipt_files", metavar="RECEIPT.json...", nargs=-1, required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
def check(server: str, no_update: bool, receipt_files: tuple[Path, ...]) -> None:
    """Check receipts (受付証の検証): signed by the server, the ballot included in
    the bulletin board and still there now (the newest tree head extends the
    one in the receipt), and, when the election names witnesses (立会人), a head
    that extends the receipt's is cosigned by the quorum of them and the
    witnesses' own logs show the same board. A confirmed receipt is completed in
    place with the cosigned head (the signed part is unchanged), so it can
    later be checked without the server.

    A file may also hold the text of the printed receipt's QR code
    (VPR1:…): the receipt is then read from the server by its tracking code
    and kept only if it carries the QR code's signature.

    No login: anyone, e.g. an auditor, can check any receipt. Exit status 0:
    every receipt checks out; 1: a check failed (keep the receipt and tell the
    people named); 3: not confirmed by the witnesses yet, check again in a few
    minutes."""
    outcomes = {path: _check_one(server, path, update=not no_update) for path in receipt_files}
    failed = [path.name for path, outcome in outcomes.items() if outcome == "fail"]
    if failed:
        raise click.ClickException(
            f"{', '.join(failed)} did not check out; keep the receipt and tell the election administrator "
            "and the audit office (監査事務局)"
        )
    if any(outcome == "pending" for outcome in outcomes.values()):
        console.print("Not confirmed by the witnesses yet: run this again in a few minutes. 立会人の確認待ちです。")
        raise SystemExit(PENDING_EXIT)


#: How each outcome is shown in the table.
_SHOWN = {
    "pass": "[green]PASS[/green]", "fail": "[red]FAIL[/red]", "pending": "[yellow]WAIT[/yellow]",
    "note": "[yellow]NOTE[/yellow]", "none": "[yellow]NOTE[/yellow]", "warn": "[bold yellow]WARN[/bold yellow]",
}
_REPLACED = "Replaced by a later ballot? / 後の投票による置き換え"


def _replacement_row(client: Client, doc: dict) -> tuple[str, str, str]:
    """Whether a later ballot replaced this one, claiming only what the board
    proves (Client.replacement): a replacement is a warning; the server's "no
    later ballot" is a note (its word), never a pass."""
    found = client.replacement(doc)
    if found.state == "verified" and found.later_code is not None:
        short = format_tracking_code(bytes.fromhex(found.later_code))
        return (_REPLACED, "warn", f"yes: ballot {short} (entry {found.later_index}), signed with the same voting key, "
                "replaced it; if you did not vote again, tell the audit office (監査事務局)")
    if found.state == "claimed":
        return (_REPLACED, "warn", f"the server says so, but the later ballot does not check out ({found.detail}); "
                "if you did not vote again, tell the audit office (監査事務局)")
    if found.state == "none":
        return (_REPLACED, "note", "the server reports no later ballot; the published election record lets anyone check it")
    return (_REPLACED, "note", f"could not be asked ({found.detail}); check again later")


def _check_one(server: str, receipt_file: Path, *, update: bool) -> str:
    """Check one receipt; returns "pass", "pending" or "fail"."""
    try:
        text = receipt_file.read_text(encoding="utf-8")
        compact = text.strip().startswith(COMPACT_PREFIX)
        doc = _expand_compact(server, text) if compact else json.loads(text)
    except (UnicodeDecodeError, ValueError):
        console.print(f"[red]{escape(receipt_file.name)}: not a receipt (not JSON text) / 受付証ではありません[/red]")
        return "fail"
    except (CryptoError, ApiError, httpx.HTTPError) as exc:
        message = describe_api_error(exc) if isinstance(exc, ApiError) else str(exc)
        console.print(f"[red]{escape(receipt_file.name)}: the compact receipt (QR code) did not check out / 受付証を確認できません: {escape(message)}[/red]")
        return "fail"
    rows: list[tuple[str, str, str]] = []
    included = "Receipt signed, ballot included in its tree head / 署名と包含証明"
    try:
        head = verify_receipt(doc)
        rows.append((included, "pass", f"entry {doc['leaf_index']} of {head.head.size}"))
    except CryptoError as exc:
        rows.append((included, "fail", str(exc)))
    if rows[-1][1] == "pass":
        try:
            with Client(server) as client:
                summary = client.check_receipt(doc)
                rows.append(("Signed by this server's key / サーバ鍵", "pass", server))
                rows.append((
                    "Still on the bulletin board / 掲示板に記録",
                    "pass",
                    f"tree head {summary['newest_tree_size']} is consistent with the receipt's {summary['receipt_tree_size']}",
                ))
                rows.append(_replacement_row(client, doc))
                witnesses = check_receipt_witnesses(client, doc, head, bytes.fromhex(doc["server_key"]))
            rows.append(("Cosigned by the witnesses / 立会人の連署", witnesses.status, witnesses.detail))
            rows += [(f"Same board as {name}'s log / 立会人の記録と一致", status, detail) for name, status, detail in witnesses.gossip]
            if witnesses.completed is not None and update and not compact:  # a QR code's text stays as it is
                save_completed(receipt_file, witnesses.completed)
                rows.append(("Receipt completed / 受付証を更新", "pass", f"the cosigned head was added to {receipt_file.name}"))
        except (CryptoError, ApiError, SplitView, Unavailable, httpx.HTTPError) as exc:
            message = describe_api_error(exc) if isinstance(exc, ApiError) else tls.describe(exc, server) or str(exc)
            status = "fail"
            if is_unavailable(exc) and time.time() * 1000 - head.head.timestamp_ms < GRACE_MS:
                status, message = "pending", f"the server could not answer now ({message}); try again later"
            rows.append(("Checked against the server's bulletin board / 掲示板との照合", status, message))
    table = Table(title=f"Receipt {escape(receipt_file.name)}")
    table.add_column("Check / 検証項目", overflow="fold")
    table.add_column("Result / 結果", overflow="fold")
    table.add_column("Detail / 詳細", overflow="fold")
    for name, status, detail in rows:
        table.add_row(escape(name), _SHOWN[status], escape(str(detail)))
    console.print(table)
    statuses = {status for _, status, _ in rows}
    if "fail" in statuses:
        return "fail"
    if "pending" in statuses:
        return "pending"
    short = format_tracking_code(bytes.fromhex(doc["tracking_code"]))
    console.print(f"✓ Ballot {short} is on the bulletin board. 確認できました。")
    return "pass"
