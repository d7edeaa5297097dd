"""``voting verify-audit``: check a published audited ballot on another device
and show, in plain words, the choices it encrypts."""

from __future__ import annotations

import json
from pathlib import Path

import click

from voting.cli.common import console, print_json, read_trust_anchor, server_option, text

EXIT_FAILED = 1


@click.command("verify-audit", short_help="Check an audited ballot (検証用投票の確認) on the board.")
@click.argument("audit_file", metavar="FILE", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@server_option
@click.option(
    "--trust-anchor", envvar="VOTING_TRUST_ANCHOR", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The city's root CA certificate (PEM): the trustees' endorsements of the election key are checked against it.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def verify_audit(audit_file: Path, server: str, trust_anchor: Path | None, as_json: bool) -> None:
    """Check an audit FILE ('voting vote --audit' saved it) against the server's
    bulletin board: the audited ballot is on the board under the newest tree head
    signed by the election's server key, its proofs and its opening verify, and
    it encrypts the choices shown. Run it on another device than the one that
    made the ballot, and compare the choices with what you chose."""
    from voting.client import AuditCheckError, Client

    try:
        doc = json.loads(audit_file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise click.ClickException(f"{audit_file} is not an audit file (not JSON)") from None
    with Client(server, trust_store=read_trust_anchor(trust_anchor) if trust_anchor else None) as client:
        try:
            outcome = client.check_audit(doc)
        except AuditCheckError as exc:
            console.print(f"[bold red]The audit does NOT verify / 検証用投票の確認に失敗[/bold red]: {exc}")
            raise click.exceptions.Exit(EXIT_FAILED) from None
    manifest = outcome.pop("manifest")
    questions = manifest.document["questions"]
    if as_json:
        print_json(
            {
                **{k: v for k, v in outcome.items() if k != "choices"},
                "choices": {
                    q["id"]: [o["id"] for o, m in zip(q["options"], row) if m]
                    for q, row in zip(questions, outcome["choices"])
                },
            }
        )
        return
    console.print(
        f"[bold green]The audited ballot is on the board / 検証用投票は掲示板に公開されています[/bold green]: "
        f"{outcome['short_code']}, entry {outcome['leaf_index']} of {outcome['election_id']} "
        f"(board size {outcome['newest_tree_size']}); its proofs and secrets verify."
    )
    console.print("It encrypts these choices / この投票の内容:")
    for number, (question, row) in enumerate(zip(questions, outcome["choices"]), start=1):
        chosen = [o for o, m in zip(question["options"], row) if m]
        console.print(f"  Q{number}. {text(question['text'], 'ja')} / {text(question['text'], 'en')}")
        if not chosen:
            console.print("      (なし / none)")
        for option in chosen:
            console.print(f"      ✓ {text(option['label'], 'ja')} / {text(option['label'], 'en')}")
    console.print(
        "If these are not the choices you made, the device that made this ballot is not trustworthy: "
        "do not vote on it and tell the election administrators. / "
        "選んだ内容と違う場合は、その端末で投票せず、選挙管理者に連絡してください。"
    )
