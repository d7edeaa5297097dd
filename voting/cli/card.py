"""``voting card``: the cards (ICカード) this computer's PKCS#11 module sees:
list them, make a certificate request on one, store its certificate on it.

The signing itself is voting/card.py's; every client takes the card options
(voting/cli/common.py ``card_options``). Set-up: docs/operations.md, "Cards".
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from voting.cli.common import CardSpec, ask_card_pin, card_options, console, shown_path

#: Commands of this group that live in other modules: name -> "module:attribute".
CARD_COMMANDS: dict[str, str] = {"enroll": "voting.cli.enrollment:enroll"}


class CardGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *CARD_COMMANDS])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in CARD_COMMANDS:
            module, attribute = CARD_COMMANDS[name].split(":")
            return getattr(importlib.import_module(module), attribute)
        return super().get_command(ctx, name)


def _required(card: CardSpec | None) -> CardSpec:
    if card is None:
        raise click.UsageError(
            "give the card's PKCS#11 module: --pkcs11-module PATH (env VOTING_PKCS11_MODULE), e.g. OpenSC's opensc-pkcs11.so"
        )
    return card


def _pin_once() -> Callable[[str], str]:
    """ask_pin that asks each card's PIN only once per command."""
    asked: dict[str, str] = {}

    def ask(label: str) -> str:
        if label not in asked:
            asked[label] = ask_card_pin(label)
        return asked[label]

    return ask


def _pin_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--pin", envvar="VOTING_PIN", metavar="PIN", help="The card's PIN (env VOTING_PIN). Asked for, hidden, if not given."
    )(function)


@click.group(cls=CardGroup, short_help="Cards (ICカード): list, certificate request, store the certificate.")
def card() -> None:
    """Cards (ICカード) on PKCS#11: staff IC cards, the My Number card through
    OpenSC, or any token whose module you give with --pkcs11-module.

    \b
    A staff card with a key made on it, certified by the pilot CA:
      1. voting card list --pkcs11-module PATH      (the card's label and keys)
      2. voting card csr --out NAME.csr ...         (signed on the card)
      3. voting ca issue --csr NAME.csr --employee-id ID --name NAME  (at the CA)
      4. voting card store-certificate ID.certificate.pem ...
    Then every command that signs takes the same card options instead of
    --credential, e.g. voting vote ELECTION --pkcs11-module PATH --card-key KEY.
    The private key never leaves the card; the PIN is the card's own.
    """


@card.command("list", short_help="List the cards, their keys and certificates.")
@card_options
@click.option("--login", "log_in", is_flag=True, help="Log in to the card (its PIN) to list its private keys too.")
@_pin_option
@click.option("--json", "as_json", is_flag=True, help="Print the listing as JSON.")
def list_(card: CardSpec | None, log_in: bool, pin: str | None, as_json: bool) -> None:
    """List the cards the PKCS#11 module sees: each card's label (--card-token),
    its PIN state, its keys (--card-key LABEL or id:HEX) and certificates.
    Without --login only what the card shows without a PIN."""
    from voting.card import list_cards

    card = _required(card)
    token = card.token
    if log_in:
        if token is None:
            present = list_cards(str(card.module))
            if len(present) != 1:
                labels = ", ".join(repr(c["token"]) for c in present) or "none"
                raise click.ClickException(f"--login needs one card: choose it with --card-token LABEL (present: {labels})")
            token = present[0]["token"]
        # The PIN goes to that one card only: several cards with the label are refused before it is asked.
        cards = list_cards(str(card.module), pin=pin, token=token, ask_pin=ask_card_pin)
    else:
        cards = list_cards(str(card.module), token=token)
    if as_json:
        click.echo(json.dumps(cards, ensure_ascii=False, indent=2))
        return
    if not cards:
        console.print(f"No card found through {escape(str(card.module))}; insert the card into the reader. / カードが見つかりません")
        return
    for item in cards:
        _print_card(item)


def _print_card(item: dict) -> None:
    state = []
    if item.get("pin_locked"):
        state.append("[bold red]PIN LOCKED / PINロック中[/bold red]")
    elif item.get("pin_final_try"):
        state.append("[bold red]one PIN try left / PIN残り1回[/bold red]")
    elif item.get("pin_count_low"):
        state.append("[yellow]few PIN tries left / PIN残り回数わずか[/yellow]")
    if item.get("pin_pad"):
        state.append("PIN on the reader's pad")
    maker = " ".join(str(item.get(k) or "").strip() for k in ("manufacturer", "model")).strip()
    console.print(
        f"[bold]Card 「{escape(item['token'])}」[/bold] {escape(maker)} serial {escape(str(item.get('serial', '')).strip())}"
        + (f" — {', '.join(state)}" if state else ""),
        soft_wrap=True,
    )
    if item.get("error"):
        console.print(f"  cannot read it: {escape(item['error'])}")
        return
    keys = Table(title="Keys / 鍵", title_justify="left")
    for column in ("--card-key", "Type", "Certificate"):
        keys.add_column(column, overflow="fold")
    for key in item["keys"]:
        chosen = key["label"] or f"id:{key['id']}"
        keys.add_row(escape(f"{chosen} (id:{key['id']})" if key["label"] else chosen), key["type"], key.get("certificate", "")[:16] or "none")
    if item["keys"]:
        console.print(keys)
    else:
        console.print("  no keys shown (log in with --login to list private keys) / 鍵が表示されません")
    if item["certificates"]:
        certificates = Table(title="Certificates / 証明書", title_justify="left")
        for column in ("id", "Subject", "Issuer", "Valid until", "Employee id"):
            certificates.add_column(column, overflow="fold")
        for cert in item["certificates"]:
            if cert.get("unreadable"):
                certificates.add_row(
                    cert["id"], f"unreadable / 読み取れません: {escape(cert['unreadable'])}", "", "", "—"
                )
                continue
            certificates.add_row(
                cert["id"], escape(cert["subject"]), escape(cert["issuer"]), cert["not_after"][:10], escape(cert.get("employee_id") or "—")
            )
        console.print(certificates)


@card.command(short_help="Make a certificate request (CSR) on the card.")
@card_options
@_pin_option
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), metavar="FILE", help="Where the request (PEM) goes.")
@click.option(
    "--common-name", metavar="NAME",
    help="The name in the request (the CA may set another with 'voting ca issue --name') [default: the card's label].",
)
def csr(card: CardSpec | None, pin: str | None, out: Path, common_name: str | None) -> None:
    """Make a certificate signing request (証明書署名要求) for the key on the card,
    signed on the card: the CA certifies that key with 'voting ca issue --csr'.
    The private key never leaves the card."""
    from voting.card import close_key, make_csr, open_key

    card = _required(card)
    if out.exists() and out.is_dir():
        raise click.UsageError(f"--out {out} is a directory; give a file name")
    key = open_key(card.choice(), pin, ask_pin=ask_card_pin)
    try:
        request = make_csr(key, common_name=common_name or key.token_label)
        described = f"{key.key_type} key {key.label or f'id:{key.key_id.hex()}'} on card 「{key.token_label}」"
    finally:
        close_key(key)
    out.write_bytes(request)
    console.print(f"✓ Certificate request for the {escape(described)} written to {escape(shown_path(out))}")
    console.print("Next, at the CA / 次に認証局で:")
    click.echo(f"  voting ca issue --csr {shown_path(out)} --employee-id ID --name NAME")


@card.command("store-certificate", short_help="Store an issued certificate on the card.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@card_options
@_pin_option
@click.option(
    "--replace", is_flag=True,
    help="Also remove the key's certificates from other issuers (e.g. the card's own certificate from the city's other CA); "
    "without it they stay on the card beside the new one.",
)
def store_certificate(file: Path, card: CardSpec | None, pin: str | None, replace: bool) -> None:
    """Store the certificate in FILE (PEM, as 'voting ca issue --csr' wrote it:
    the certificate first, then the issuing CA's) on the card, beside its key;
    the CA certificates go on the card too, so no --card-chain is needed. Then
    the card is opened as the clients will open it, to check.

    An older certificate for the key from the same CA is replaced. A
    certificate for the key from another issuer is kept beside the new one
    (other applications may use it); --replace removes it."""
    from crypto.credentials import certificates_from_pem
    from crypto.errors import CredentialError
    from voting.card import open_card
    from voting.card import store_certificate as store

    card = _required(card)
    try:
        chain = certificates_from_pem(file.read_bytes())
    except (CredentialError, ValueError):
        raise click.ClickException(f"{file} holds no PEM certificate") from None
    ask = _pin_once()
    done = store(card.choice(), pin, chain, ask_pin=ask, replace=replace)
    for issuer in done.kept:
        console.print(
            f"Kept the key's certificate from another issuer ({escape(issuer)}) beside the new one; "
            "--replace would remove it. / 別の発行者の証明書はそのまま残しました",
            soft_wrap=True,
        )
    for issuer in done.removed_foreign:
        console.print(f"Removed the key's certificate from another issuer ({escape(issuer)}) (--replace). / 別の発行者の証明書を削除しました", soft_wrap=True)
    with open_card(card.choice(), pin, chain_file=card.chain, ask_pin=ask) as opened:
        if opened.certificate != chain[0]:
            raise click.ClickException(
                f"stored, but the clients choose the key's other certificate ({opened.certificate.issuer.rfc4514_string()}) "
                "on this card: give the issuing CA's certificate with --card-chain, or store again with --replace"
            )
        who = opened.employee_id or "no employee id (enroll the card: voting card enroll)"
        console.print(
            f"✓ Stored on card 「{escape(opened.token_label)}」: {escape(opened.certificate.subject.rfc4514_string())} "
            f"(employee id {escape(who)}), chain of {len(opened.chain)} / カードに証明書を書き込みました",
            soft_wrap=True,
        )
