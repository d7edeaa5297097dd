"""``voting vote``: the Python voter client (log in, encrypt, cast, keep the receipt)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from crypto.ballots import format_tracking_code, verify_audit_opening
from crypto.errors import CryptoError
from crypto.witness import WitnessPolicy
from voting.cli.common import console, login_options, shown_path, text
from voting.client import ApiError, Client, EndorsedElection, KeyRefusal, ReceiptRefusal, Replacement
from voting.elections.schedule import describe_status
from voting.files import write_file
from voting.witnessed import SplitView, complete_receipt, save_completed


def _limits(question: dict) -> str:
    low, high = question["min_selections"], question["max_selections"]
    if low == high:
        return f"choose exactly {low} / {low}つ選択"
    if low == 0:
        return f"choose up to {high} / {high}つまで選択"
    return f"choose {low} to {high} / {low}〜{high}つ選択"


def parse_choices(manifest: dict, items: tuple[str, ...]) -> dict[str, list[str]]:
    """--choose QUESTION=OPTION[,OPTION] (repeatable) -> {question: [options]},
    checked against the manifest with messages that name the valid ids."""
    questions = {q["id"]: q for q in manifest["questions"]}
    selected: dict[str, list[str]] = {}
    for item in items:
        qid, sep, options = item.partition("=")
        qid = qid.strip()
        if not sep:
            raise click.BadParameter(f"{item!r}: write QUESTION=OPTION, e.g. {manifest['questions'][0]['id']}=…", param_hint="--choose")
        if qid not in questions:
            raise click.BadParameter(f"no question {qid!r}; the questions are {', '.join(questions)}", param_hint="--choose")
        valid = [o["id"] for o in questions[qid]["options"]]
        for oid in (o.strip() for o in options.split(",") if o.strip()):
            if oid not in valid:
                raise click.BadParameter(f"question {qid} has no option {oid!r}; choose from {', '.join(valid)}", param_hint="--choose")
            if oid not in selected.setdefault(qid, []):
                selected[qid].append(oid)
        selected.setdefault(qid, [])
    for qid, question in questions.items():
        count = len(selected.get(qid, []))
        if not question["min_selections"] <= count <= question["max_selections"]:
            raise click.BadParameter(
                f"question {qid}: {_limits(question)}, got {count} (options: {', '.join(o['id'] for o in question['options'])})",
                param_hint="--choose",
            )
    return selected


def ask_choices(manifest: dict) -> dict[str, list[str]]:
    """Interactive: each question in Japanese and English, options by number."""
    selected = {}
    for number, question in enumerate(manifest["questions"], start=1):
        console.print(f"\n[bold]Q{number}. {escape(text(question['text'], 'ja'))}[/bold]\n    {escape(text(question['text'], 'en'))}  ({escape(_limits(question))})")
        for i, option in enumerate(question["options"], start=1):
            console.print(f"  {i:>2}) {escape(text(option['label'], 'ja'))} / {escape(text(option['label'], 'en'))}")
        while True:
            answer = click.prompt("Numbers, separated by commas / 番号（カンマ区切り）", default="", show_default=False)
            try:
                picks = sorted({int(a) for a in answer.replace("、", ",").split(",") if a.strip()})
            except ValueError:
                console.print("Please type option numbers, e.g. 1 or 1,3.")
                continue
            if any(not 1 <= p <= len(question["options"]) for p in picks):
                console.print(f"Choose numbers between 1 and {len(question['options'])}.")
            elif not question["min_selections"] <= len(picks) <= question["max_selections"]:
                console.print(f"Please {escape(_limits(question))}.")
            else:
                selected[question["id"]] = [question["options"][p - 1]["id"] for p in picks]
                break
    return selected


def choices_table(manifest: dict, selected: dict[str, list[str]], title: str) -> Table:
    table = Table(title=title)
    table.add_column("Question / 設問", overflow="fold")
    table.add_column("Your choice / 選択", overflow="fold")
    for question in manifest["questions"]:
        labels = {o["id"]: escape(text(o["label"])) for o in question["options"]}
        chosen = [labels[o] for o in selected.get(question["id"], [])]
        table.add_row(escape(text(question["text"])), "\n".join(chosen) or "(none / 選択なし)")
    return table


@click.command(short_help="Vote (投票) and keep the receipt.")
@click.argument("election_id")
@click.option(
    "--choose", "choose", multiple=True, metavar="QUESTION=OPTION[,OPTION…]",
    help="Your choice for one question (repeat for each question; several options comma-separated). "
    "Without --choose you are asked, question by question.",
)
@click.option(
    "--audit", is_flag=True,
    help="Audit instead of casting (Benaloh challenge / 暗号化の検証): publish this ballot with its "
    "encryption secrets on the bulletin board and save the audit file; check it on another device with "
    "'voting verify-audit'. The audited ballot is spoiled and never cast.",
)
@click.option("--yes", "-y", is_flag=True, help="Cast without asking for confirmation.")
@click.option(
    "--fingerprint", metavar="XXXX-XXXX-XXXX-XXXX",
    help="The election fingerprint printed on the election notice (選挙の指紋): refuse to vote if the "
    "server's election key does not have it. Its short form or the full 64 hex digits.",
)
@click.option(
    "--receipt", "receipt_path", type=click.Path(dir_okay=False, path_type=Path),
    help="Where to save the receipt [default: receipt-<election>-<tracking code>.json; with --audit, "
    "audit-<election>-<tracking code>.json].",
)
@click.option(
    "--wait-witnesses", type=click.FloatRange(0, 600), default=20.0, show_default=True, metavar="SECONDS",
    help="After casting, how long to wait for the election's witnesses (立会人) to cosign a head that holds "
    "the ballot; the receipt is then saved with their cosignatures (otherwise 'voting receipt check' adds them later).",
)
@login_options
def vote(
    login,  # noqa: ANN001
    election_id: str,
    choose: tuple[str, ...],
    audit: bool,
    yes: bool,
    fingerprint: str | None,
    receipt_path: Path | None,
    wait_witnesses: float,
) -> None:
    """Vote in ELECTION (投票): your ballot is encrypted and signed on this
    machine; the server never sees your choices.

    Before casting you see the ballot's tracking code (確認コード); the receipt
    saved afterwards lets you check at any time that your ballot is on the
    bulletin board ('voting receipt check').
    """
    with login() as client:
        if client.trust_store is None:
            raise click.ClickException(
                "no trust anchor: give --trust-anchor, the city's root CA certificate (root.pem) that came "
                "with your credential file / ルート証明書を --trust-anchor で指定してください"
            )
        status = client.status(election_id)
        if status["status"] != "open":
            raise click.ClickException(f"election {election_id} is {status['status']}: voting is not open")
        election = endorsed_or_fail(client, election_id, fingerprint)
        manifest = election.info.manifest.document
        voter = client.get(f"/api/elections/{election_id}/voter")
        earlier = [b for b in voter["ballots"] if not b["superseded"]]
        if earlier and manifest["revote_policy"] == "single" and not audit:
            raise click.ClickException("you have already voted in this election (one ballot per voter) / 投票済みです")
        console.print(f"{escape(str(voter['name']))} — {escape(text(manifest['title']))}")
        if period := describe_status(status.get("schedule")):
            console.print(f"Voting period / 受付期間: {escape(period)}")
            if not status["schedule"]["accepting_ballots"]:
                raise click.ClickException(
                    "the server accepts ballots only in the voting period above / 受付期間外のため投票できません"
                )
        selected = parse_choices(manifest, choose) if choose else ask_choices(manifest)
        console.print(choices_table(manifest, selected, "Your ballot / 投票内容"))
        with console.status("Encrypting your ballot on this machine / 暗号化中…"):
            prepared = client.prepare_ballot(election_id, selected, info=election.info)
        path = receipt_path or Path(f"{'audit' if audit else 'receipt'}-{election_id}-{prepared.short_code}.json")
        _require_writable(path)  # before casting: a receipt that cannot be saved is lost
        console.print(f"Tracking code / 確認コード: [bold]{prepared.short_code}[/bold]")
        console.print(f"  (full: {prepared.tracking_code.hex()})")
        console.print(
            "Write this tracking code down now / この確認コードを控えてください: "
            + (
                "you will compare it with the audited ballot on another device "
                "('voting verify-audit FILE --code CODE'). / 別の端末で検査結果と照合します。"
                if audit
                else "it identifies your ballot on the bulletin board. / 掲示板上のあなたの投票を示します。"
            )
        )
        if audit:
            info = election.info
            revealed = verify_audit_opening(info.manifest, info.joint_key, prepared.ballot, prepared.opening)
            opened = {
                q.question_id: [oid for oid, m in zip(q.option_ids, row) if m]
                for q, row in zip(info.manifest.questions, revealed)
            }
            if opened != _in_order(manifest, selected):  # this device's own mistake: never publish it
                raise click.ClickException("AUDIT FAILED: the ballot does not encrypt your choices; do not vote on this device")
            published = client.publish_audit(prepared)
            write_file(path, json.dumps(published, indent=1))
            console.print(choices_table(manifest, selected, "The audited ballot encrypts / 検査した投票用紙の内容"))
            console.print(
                f"Published on the bulletin board as entry {escape(str(published['leaf_index']))}, with its encryption "
                "secrets. 検査した投票用紙を掲示板に公開しました。It is spoiled and was NOT cast.\n"
                f"Audit file saved to {escape(shown_path(path))}. Check it on ANOTHER device (not this one) / "
                "別の端末で確認してください:"
            )
            console.print(
                f"  voting verify-audit {escape(shown_path(path))} --code <the tracking code you wrote down> "
                f"--server {escape(str(client.base_url))}",
                soft_wrap=True,
            )
            console.print(
                "Give --code the tracking code you wrote down before the audit (do not copy it from this device "
                "or the file): it must match, and the command must show the choices above. / "
                "--code には検査の前に控えた確認コードを入力してください。一致し、上の内容が表示されることを確かめます。\n"
                "Then run this command again without --audit to vote (a new encryption, with a new tracking code)."
            )
            return
        if earlier:
            console.print("You have voted before: this ballot will replace your earlier one (the last one counts).")
        if not yes:
            click.confirm("Cast this ballot? / この内容で投票しますか", abort=True)
        try:
            receipt, superseded = client.cast_marked(prepared)
        except ApiError as exc:
            if exc.status != 503:
                raise
            raise click.ClickException(
                f"the server did not confirm your ballot (tracking code {prepared.short_code}) after several "
                f"attempts: it may or may not be recorded ({exc.code}). Later, look for the tracking code on the "
                "bulletin board, or vote again. 投票が登録されたか確認できません。"
                "後で確認コードを掲示板で確認するか、もう一度投票してください。"
            ) from None
        except ReceiptRefusal as exc:
            raise click.ClickException(
                f"{exc}. Your ballot (tracking code {prepared.short_code}) may not have been recorded: keep this "
                "output and tell the election administrators and the audit office (監査事務局). "
                "受付証が投票と一致しません。監査事務局に連絡してください。"
            ) from None
        write_file(path, json.dumps(receipt, indent=1))
        console.print(f"✓ Cast. 投票しました。 Your ballot is entry {escape(str(receipt['leaf_index']))} of the bulletin board.")
        say_replacement(superseded)
        _witness(client, receipt, election.info.manifest.witnesses, path, wait_witnesses)
    console.print(f"Receipt saved to {escape(shown_path(path))}; check it any time:")
    console.print(f"  voting receipt check {escape(shown_path(path))}", soft_wrap=True)


def say_replacement(replacement: Replacement) -> None:
    """Whether a later ballot replaced this one (a ballot resent after the voter
    voted anew), claiming no more than the board proves (Client.replacement):
    the server's "no later ballot" is not signed, so nothing says "it counts"."""
    if replacement.state == "verified" and replacement.later_code is not None:
        short = format_tracking_code(bytes.fromhex(replacement.later_code))
        console.print(
            f"[bold]Warning:[/bold] a later ballot of yours ({short}, entry {replacement.later_index}, signed with "
            "your voting key) replaced this one; only the last ballot counts. If you did not vote again, "
            "tell the audit office (監査事務局). / 警告：あなたの投票用の鍵で署名された後の投票"
            f"（確認コード {short}）が、この投票を置き換えています。数えられるのは最後の投票だけです。"
            "再投票していない場合は、監査事務局に連絡してください。"
        )
    elif replacement.state == "claimed":
        console.print(
            "[bold]Warning:[/bold] the server says a later ballot of yours replaced this one, but that ballot "
            f"could not be checked on the bulletin board ({escape(str(replacement.detail))}). If you did not vote again, tell "
            "the audit office (監査事務局). / 警告：サーバーは、この投票が後の投票で置き換えられたと答えていますが、"
            "掲示板で確かめられませんでした。再投票していない場合は、監査事務局に連絡してください。"
        )
    elif replacement.state == "none":
        console.print(
            "The server reports no later ballot of yours; the published election record lets anyone check it. / "
            "サーバーは、あなたの後の投票はないと答えています。公開される選挙記録で、誰でも確かめられます。"
        )
    else:
        console.print(
            f"Whether a later ballot replaced this one could not be asked ({escape(str(replacement.detail))}); check later with "
            "'voting receipt check'. / 後の投票で置き換えられたかどうか問い合わせできませんでした。"
            "後で 'voting receipt check' で確認してください。"
        )


def _require_writable(path: Path) -> None:
    """Refuse (before anything is cast) a receipt path that cannot be written: a
    directory, or one whose nearest existing directory this user may not write
    to (missing directories are created when the receipt is saved)."""
    if path.is_dir():
        raise click.ClickException(f"--receipt {path} is a directory: name a file. Nothing was cast. 何も投票されていません。")
    directory = path.absolute().parent
    while not directory.exists():
        directory = directory.parent
    if not directory.is_dir() or not os.access(directory, os.W_OK | os.X_OK):
        raise click.ClickException(
            f"cannot save the receipt to {path}: {directory} is not a directory you may write to; choose another "
            "--receipt. Nothing was cast. 受付証を保存できません。何も投票されていません。"
        )


def _witness(client: Client, receipt: dict, policy: WitnessPolicy, path: Path, wait_s: float) -> None:
    """Complete the saved receipt with the witnesses' cosigned head when they
    confirm the ballot within ``wait_s``; the ballot is cast either way."""
    if policy.quorum == 0:
        return
    try:
        with console.status("Waiting for the witnesses to confirm the ballot / 立会人の確認を待っています…"):
            completed = complete_receipt(client, receipt, policy, wait_s=wait_s)
    except (SplitView, ApiError, CryptoError) as exc:
        console.print(f"[red]WARNING: the witnesses' board does not hold your ballot: {escape(str(exc))}[/red]")
        return
    if completed is None:
        console.print("Not confirmed by the witnesses yet; 'voting receipt check' completes the receipt later. 立会人の確認待ちです。")
        return
    save_completed(path, completed)
    names = escape(", ".join(w.name for w in policy.witnesses))
    console.print(f"✓ Confirmed by the witnesses ({names}). 立会人が確認しました。")



def endorsed_or_fail(client: Client, election_id: str, fingerprint: str | None) -> EndorsedElection:
    """The election key every trustee endorsed (checked against the pinned trust
    anchor), shown with its fingerprint to compare with the election notice."""
    pinned = None
    if fingerprint:
        pinned = parse_fingerprint(fingerprint)
    client.fingerprint = None  # compared below, by short or full form
    try:
        election = client.endorsed_election(election_id)
    except KeyRefusal as exc:
        raise click.ClickException(
            f"DO NOT VOTE: {exc}. 選挙の鍵を確認できません。投票せず、選挙管理者に連絡してください。"
        ) from None
    computed = election.info.fingerprint
    if pinned is not None and pinned not in (computed.hex(), election.short_fingerprint):
        raise click.ClickException(
            f"DO NOT VOTE: the election fingerprint is {election.short_fingerprint}, not {fingerprint} as on your "
            "notice. 選挙の指紋がお知らせと一致しません。投票せず、選挙管理者に連絡してください。"
        )
    names = escape(", ".join(f"{name} ({employee_id})" for _, employee_id, name in election.trustees))
    console.print(f"Election key endorsed by every trustee / すべての鍵管理者が署名した選挙の公開鍵: {names}")
    n = len(election.trustees)
    console.print(f"Any {election.threshold} of these {n} decrypt the tally together / {n}人中{election.threshold}人で集計を復号")
    console.print(
        f"Election fingerprint / 選挙の指紋: [bold]{election.short_fingerprint}[/bold]"
        + (" ✓ as pinned / 指定どおり" if pinned else " — compare it with the election notice / お知らせと照合してください")
    )
    return election


def parse_fingerprint(value: str) -> str:
    """The short form (XXXX-XXXX-XXXX-XXXX, any case, spaces allowed) or 64 hex digits."""
    cleaned = value.strip().replace(" ", "")
    if re.fullmatch(r"[0-9a-fA-F]{64}", cleaned):
        return cleaned.lower()
    cleaned = cleaned.upper().replace("-", "")
    if not re.fullmatch(r"[A-Z2-7]{16}", cleaned):
        raise click.BadParameter("write the fingerprint as on the notice: XXXX-XXXX-XXXX-XXXX", param_hint="--fingerprint")
    return "-".join(cleaned[i : i + 4] for i in range(0, 16, 4))


def _in_order(manifest: dict, selected: dict[str, list[str]]) -> dict[str, list[str]]:
    """Every question, its chosen options in manifest order."""
    return {
        q["id"]: [o["id"] for o in q["options"] if o["id"] in selected.get(q["id"], [])] for q in manifest["questions"]
    }
