"""``voting trustee``: a trustee's part, run on the trustee's own machine."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
from cryptography.hazmat.primitives import hashes
from rich.markup import escape

from crypto.witness import WitnessPolicy
from voting.cli.common import console, login_options
from voting.client import (
    CeremonyView,
    TrusteeRefusal,
    bind_trust_anchors,
    load_trustee_state,
    pinned_trust_store,
    trustee_ceremony_step,
    trustee_decrypt,
)

STEP_TEXT = {
    "announced": "published my commitments",
    "waiting_for_announcements": "waiting for the other trustees' commitments",
    "shares_sent": "sent my encrypted key shares",
    "waiting_for_shares": "waiting for the other trustees' key shares",
    "confirmed": "confirmed my key share",
}


def state_option(function):  # noqa: ANN001, ANN201 - click decorator
    return click.option(
        "--state",
        "state_path",
        required=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="This trustee's state file (鍵管理者の状態ファイル): holds the key share. Keep it on this "
        "machine only, mode 0600, and back it up offline; the election cannot be "
        "decrypted without enough of them.",
    )(function)


@click.group(short_help="Trustee: key ceremony, decryption.")
def trustee() -> None:
    """A trustee's part (鍵管理者): the key ceremony and the decryption of the
    tally. Run these on the trustee's own machine with the trustee's own
    credential; the key share never leaves the state file."""


def witnesses_text(policy: WitnessPolicy) -> str:
    """The election's witnesses as the trustee endorses them: each one's name
    and the start of its key, to compare with the election notice (a server
    could otherwise swap in keys of its own under the same names)."""
    if not policy.witnesses:
        return "Witnesses / 立会人: none (a split view could not be detected) / なし"
    listed = "; ".join(f"{w.name} (key {w.public_key.hex()[:16]}…)" for w in policy.witnesses)
    return f"Witnesses / 立会人 ({policy.quorum} of {len(policy.witnesses)} must cosign): {listed}"


@trustee.command(short_help="Take part in the key ceremony.")
@click.argument("election_id")
@state_option
@click.option("--no-wait", is_flag=True, help="Do what can be done now, once, and exit (run again later).")
@click.option("--yes", "-y", is_flag=True, help="Accept the ceremony's parameters without asking (they are still checked and printed).")
@click.option("--interval", type=click.FloatRange(0.1, 60), default=1.0, show_default=True, help="Seconds between polls.")
@click.option("--timeout", type=click.FloatRange(1), default=3600, show_default=True, help="Give up waiting after this many seconds.")
@login_options
def ceremony(login, election_id: str, state_path: Path, no_wait: bool, yes: bool, interval: float, timeout: float) -> None:  # noqa: ANN001
    """Take part in ELECTION's key ceremony (鍵生成) until this trustee's key
    share is confirmed.

    Resumable: the state file records every step, so after an interruption
    just run the same command again. The other trustees run it at the same
    time on their machines; this one waits for them.

    The number of trustees, the threshold, your co-trustees and the witnesses
    (立会人, with the start of each one's key: compare them with the election
    notice) are read from the board's signed election-created entry (the
    server key is pinned in the state file at first contact) and shown for
    your confirmation before anything leaves this machine.
    """
    deadline = time.monotonic() + timeout
    spinner = console.status("Key ceremony / 鍵生成…")

    def confirm(view: CeremonyView) -> bool:
        spinner.stop()
        console.print(
            f"Election {escape(str(view.manifest.election_id))}: {view.params.t} of {view.params.n} trustees decrypt "
            f"(閾値 {view.params.t}/{view.params.n}); you are trustee {view.index}."
        )
        console.print("Your co-trustees / 他の鍵管理者: " + escape(", ".join(f"{i}: {e}" for i, e in view.co_trustees)))
        console.print(escape(witnesses_text(view.manifest.witnesses)))
        accepted = yes or click.confirm(
            "Are these the trustees, threshold and witnesses you were told? / この内容で参加しますか", default=False
        )
        spinner.start()
        return accepted

    with login() as client, spinner:
        while True:
            if client.ceremony(election_id)["status"] == "draft":
                step = "not_started"
                spinner.update("Waiting for the administrator to start the key ceremony…")
            else:
                step = trustee_ceremony_step(client, election_id, state_path, confirm=confirm)
                spinner.update(f"Key ceremony: {STEP_TEXT.get(step, step)}…")
                if step in ("announced", "shares_sent"):
                    console.print(f"  ✓ {STEP_TEXT[step]}")
                    continue  # the next step may be possible at once
            if step == "confirmed" or no_wait:
                break
            if time.monotonic() > deadline:
                raise click.ClickException(f"gave up after {timeout:.0f} s: {STEP_TEXT.get(step, step)}")
            time.sleep(interval)
        joint_key = client.ceremony(election_id)["joint_key"]
    if step == "confirmed":
        console.print(f"  ✓ {STEP_TEXT['confirmed']}; the key share is in {escape(str(state_path))} (keep it safe).")
        console.print(
            "The joint election key is published." if joint_key else "Waiting for the other trustees to confirm theirs."
        )
    else:
        console.print(f"Ceremony: {STEP_TEXT.get(step, 'not started yet')}. Run this again later.")


@trustee.command(short_help="Decrypt the tally with your key share.")
@click.argument("election_id")
@state_option
@click.option(
    "--accept-attested",
    type=click.IntRange(min=0),
    metavar="N",
    help="Decrypt although N registrations of the record are attested by a TLS client certificate login "
    "(カードの署名のない登録): no card signed them, they rest on the server's word only. N must be exactly their "
    "number, which the refusal without this option says.",
)
@login_options
def decrypt(login, election_id: str, state_path: Path, accept_attested: int | None) -> None:  # noqa: ANN001
    """Verify the board, then decrypt ELECTION's encrypted tally (部分復号) with
    this trustee's key share and submit it with its proof.

    Before decrypting, the whole public record is verified as an auditor would
    ('voting verify'), under the server key pinned at the ceremony and
    consistent with every board this trustee saw: the aggregate is recomputed
    from the counted ballots, and fewer than the manifest's minimum number of
    ballots is refused. Only that aggregate is ever decrypted, never a single
    ballot or anything the server merely says is the aggregate.

    Every trust anchor of the record (the city's root, and the root of every
    card anchor such as JPKI) must be among the roots you pinned
    (--trust-anchor, a PEM file that may hold several, or those pinned in the
    trustee file). Registrations attested by a TLS client certificate login
    rest on the server's word: with any, nothing is decrypted unless
    --accept-attested gives their exact number."""
    if not state_path.exists():
        raise click.ClickException(f"no trustee state file at {state_path}")
    state = load_trustee_state(state_path)
    if state.get("election_id") != election_id:
        raise click.ClickException(f"{state_path} belongs to election {state.get('election_id')!r}, not {election_id!r}")
    if "key" not in state:
        raise click.ClickException(f"{state_path} holds no finished key share: complete 'voting trustee ceremony' first")
    with login() as client, console.status("Verifying the board / 掲示板を検証中…") as spinner:
        # A trustee file from the page (voting trustee unseal) pins the root CA:
        # that one is used, and a --trust-anchor naming another is refused.
        bind_trust_anchors(client, state)
        if client.trust_store is None:
            raise click.ClickException(
                "no trust anchor: give --trust-anchor, the city's root CA certificate (root.pem), against which "
                "the voters' registrations are checked / ルート証明書を --trust-anchor で指定してください"
            )
        mine = client.ceremony(election_id)["index"]
        if state["key"].get("index") != mine:
            raise click.ClickException(
                f"{state_path} holds the key share of trustee {state['key'].get('index')}, "
                f"but your credential is trustee {mine}'s: use your own state file"
            )
        def progress(stage: str, done: int, total: int) -> None:
            spinner.update(f"Verifying the board / 掲示板を検証中: {escape(stage)} {done}/{total}")

        reply = trustee_decrypt(client, election_id, state_path, progress=progress, accept_attested=accept_attested)
    counted = json.loads(state_path.read_text(encoding="utf-8")).get("ballots_counted")
    console.print(f"✓ The board verifies; the aggregate of {escape(str(counted))} counted ballots was decrypted. 掲示板を検証しました。")
    if accept_attested:
        console.print(
            f"  {accept_attested} of the registrations rest on the server's word (attested by a TLS client certificate "
            "login), as you accepted. カードの署名のない登録を承知のうえで復号しました。"
        )
    console.print(f"Partial decryption of trustee {escape(str(reply['index']))} accepted. 部分復号を送信しました。")


@trustee.command(short_help="Turn the trustee file saved by the web page into a state file.")
@click.argument("election_id")
@click.option(
    "--file", "file_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The trustee file (鍵管理者ファイル) the trustee page made, sealed with your PIN.",
)
@state_option
@click.option("--pin", envvar="VOTING_PIN", prompt="PIN", hide_input=True, help="The PIN the trustee file is sealed with.")
def unseal(election_id: str, file_path: Path, state_path: Path, pin: str) -> None:
    """Open the PIN-sealed trustee file that the trustee page (/trustee/ELECTION)
    made, and write the state file 'voting trustee decrypt' uses (0600): the
    same server key, newest head and key share the page kept."""
    from voting.files import write_file
    from voting.trustee_file import TrusteeFileError, open_trustee_file

    try:
        state = open_trustee_file(json.loads(file_path.read_text(encoding="utf-8")), pin)
    except (TrusteeFileError, ValueError) as exc:
        raise click.ClickException(f"{file_path}: {exc}") from None
    if state.get("election_id") != election_id:
        raise click.ClickException(f"{file_path} belongs to election {state.get('election_id')!r}, not {election_id!r}")
    if state_path.exists():
        raise click.ClickException(f"{state_path} exists already: choose another --state")
    try:
        pinned = pinned_trust_store(state)
    except TrusteeRefusal as exc:
        raise click.ClickException(f"{file_path}: {exc}") from None
    write_file(state_path, json.dumps(state), private=True)
    console.print(f"✓ Wrote {escape(str(state_path))}; keep it on this machine only. 状態ファイルを書き出しました。")
    if pinned is not None:
        fingerprints = ", ".join(":".join(f"{b:02X}" for b in root.fingerprint(hashes.SHA256())) for root in pinned.roots)
        console.print(
            f"'voting trustee decrypt' checks certificates against the root CA pinned in the file (SHA-256 {fingerprints}); "
            "a different --trust-anchor is refused. ルート証明書は鍵管理者ファイルに固定されています。"
        )
