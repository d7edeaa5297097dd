"""``voting verify-audit``: check a published audited ballot on another device
and show, in plain words, the choices it encrypts.

The audited entry must also be the ballot the voter saw: a cheating device
could show one tracking code for a ballot with wrong choices and, once the
voter chooses to audit, publish an honest ballot with another code. So the
voter notes the tracking code before choosing to audit, and this command
compares it (``--code``) with the audited entry's code."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import click
from rich.markup import escape

from voting.cli.common import console, print_json, read_trust_anchor, server_option, text

EXIT_FAILED = 1

_HEX_CODE = re.compile(r"[0-9a-f]{64}")
_SHORT_CODE = re.compile(r"[A-Z2-7]{16}")


def normalize_code(value: str) -> str | None:
    """A tracking code as the voter typed it: the full form (64 hex digits) in
    lower case, or the short form (XXXX-XXXX-XXXX-XXXX) as 16 upper-case base32
    letters without separators; None if it is neither."""
    compact = re.sub(r"[\s\-]", "", value)
    if _HEX_CODE.fullmatch(compact.lower()):
        return compact.lower()
    if _SHORT_CODE.fullmatch(compact.upper()):
        return compact.upper()
    return None


def code_matches(noted: str, full_hex: str, short_code: str) -> bool:
    """Whether the normalized code the voter noted is this tracking code (full or short form)."""
    return noted in (full_hex.lower(), short_code.replace("-", "").upper())


def _check_code_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    noted = normalize_code(value)
    if noted is None:
        raise click.BadParameter(
            "a tracking code is XXXX-XXXX-XXXX-XXXX (16 letters and digits) or 64 hex digits / "
            "確認コードの形式が正しくありません"
        )
    return noted


@click.command("verify-audit", short_help="Check an audited ballot (投票用紙の検査の確認) on the board.")
@click.argument("audit_file", metavar="FILE", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@server_option
@click.option(
    "--trust-anchor", envvar="VOTING_TRUST_ANCHOR", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The city's root CA certificate (PEM): the trustees' endorsements of the election key are checked against it.",
)
@click.option(
    "--code", metavar="XXXX-XXXX-XXXX-XXXX", callback=_check_code_option,
    help="The tracking code (確認コード) you noted on the voting device BEFORE choosing to audit "
    "(short form or the full 64 hex digits). The audited ballot must have this code. "
    "Asked for when not given and this is a terminal.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def verify_audit(audit_file: Path, server: str, trust_anchor: Path | None, code: str | None, as_json: bool) -> None:
    """Check an audit FILE ('voting vote --audit' saved it) against the server's
    bulletin board: the audited ballot is on the board under the newest tree head
    signed by the election's server key, that head extends the one in the file,
    its proofs and its opening verify, it has the tracking code you noted
    (--code) and it encrypts the choices shown. Run it on another device than
    the one that made the ballot, and compare the choices with what you chose."""
    from voting.client import AuditCheckError, Client

    try:
        doc = json.loads(audit_file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise click.ClickException(f"{audit_file} is not an audit file (not JSON)") from None
    if code is None and not as_json and sys.stdin.isatty():
        code = click.prompt(
            "Tracking code you noted before choosing to audit / 検査を選ぶ前に控えた確認コード",
            value_proc=lambda v: _check_code_option(click.get_current_context(), None, v),  # type: ignore[arg-type]
        )
    with Client(server, trust_store=read_trust_anchor(trust_anchor) if trust_anchor else None) as client:
        try:
            outcome = client.check_audit(doc)
        except AuditCheckError as exc:
            console.print(f"[bold red]The audit does NOT verify / 投票用紙の検査の確認に失敗[/bold red]: {escape(str(exc))}")
            raise click.exceptions.Exit(EXIT_FAILED) from None
    manifest = outcome.pop("manifest")
    questions = manifest.document["questions"]
    matches = None if code is None else code_matches(code, outcome["tracking_code"], outcome["short_code"])
    if matches is False:
        # The device may have shown one ballot and published another: no choices are shown.
        if as_json:
            print_json({**{k: v for k, v in outcome.items() if k != "choices"}, "code_matches": False})
            raise click.exceptions.Exit(EXIT_FAILED)
        console.print(
            f"[bold red]TRACKING CODE MISMATCH / 確認コードが一致しません[/bold red]: the audited ballot on the board "
            f"has tracking code [bold]{outcome['short_code']}[/bold], not the code you noted before choosing to audit. "
            "The device that made your ballot may be cheating: do not vote on it and tell the election "
            "administrators. / 検査された投票用紙は、検査を選ぶ前に表示された投票用紙ではありません。"
            "その端末で投票せず、選挙管理者に連絡してください。"
        )
        raise click.exceptions.Exit(EXIT_FAILED)
    if as_json:
        print_json(
            {
                **{k: v for k, v in outcome.items() if k != "choices"},
                "code_matches": matches,
                "choices": {
                    q["id"]: [o["id"] for o, m in zip(q["options"], row) if m]
                    for q, row in zip(questions, outcome["choices"])
                },
            }
        )
        return
    console.print(
        f"[bold green]The audited ballot is on the board / 検査した投票用紙は掲示板に公開されています[/bold green]: "
        f"{escape(str(outcome['short_code']))}, entry {escape(str(outcome['leaf_index']))} of {escape(str(outcome['election_id']))} "
        f"(board size {escape(str(outcome['newest_tree_size']))}, extending the board in the audit file); "
        "its proofs and secrets verify."
    )
    if matches:
        console.print(
            f"[bold green]✓ Tracking code {outcome['short_code']} matches the code you noted / "
            "控えた確認コードと一致しました[/bold green]"
        )
    else:
        console.print(
            f"[bold yellow]Tracking code / 確認コード: {outcome['short_code']}[/bold yellow]\n"
            f"  (full: {escape(str(outcome['tracking_code']))})\n"
            "[bold yellow]NOT COMPARED: compare it with the tracking code the voting device showed BEFORE you "
            "chose to audit. If it differs, the audit proves nothing about your ballot: do not vote on that "
            "device and tell the election administrators. (Give --code to have it compared.) / "
            "検査を選ぶ前に投票端末に表示された確認コードと同じか確かめてください。違う場合はその端末で投票せず、"
            "選挙管理者に連絡してください。[/bold yellow]"
        )
    console.print("It encrypts these choices / この投票の内容:")
    for number, (question, row) in enumerate(zip(questions, outcome["choices"]), start=1):
        chosen = [o for o, m in zip(question["options"], row) if m]
        console.print(f"  Q{number}. {escape(text(question['text'], 'ja'))} / {escape(text(question['text'], 'en'))}")
        if not chosen:
            console.print("      (なし / none)")
        for option in chosen:
            console.print(f"      ✓ {escape(text(option['label'], 'ja'))} / {escape(text(option['label'], 'en'))}")
    console.print(
        "If the tracking code is not the one you noted, or these are not the choices you made, the device that made this ballot is not trustworthy: "
        "do not vote on it and tell the election administrators. / "
        "確認コードが控えたものと違う場合や、選んだ内容と違う場合は、その端末で投票せず、選挙管理者に連絡してください。"
    )
