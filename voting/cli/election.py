"""``voting election``: an administrator runs an election over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from crypto.entry_kinds import ELECTION_CREATED
from voting.cli.common import (
    CardSpec,
    card_options,
    choose_signer,
    console,
    fail,
    given_on_command_line,
    login,
    login_options,
    plural,
    print_json,
    print_line_errors,
    result_table,
    server_option,
    text,
)
from voting.client import ApiError, Client
from voting.elections.schedule import describe_status


@click.group(short_help="Run an election, as administrator.")
def election() -> None:
    """Run an election as its administrator (選挙管理者), over HTTP.

    \b
    The lifecycle, in order:
      create -> roll -> ceremony-start -> (trustees: voting trustee ceremony)
      -> open -> (voters: voting vote) -> close
      -> (trustees: voting trustee decrypt) -> tally -> publish
    Every command but status and result logs in with your credential
    (--credential, --pin or VOTING_PIN, or a hidden prompt) or your card
    (--pkcs11-module, see 'voting card'); your employee id must be on the
    admin roster ('voting roster add ID --role admin').
    """


def _print_summary(status: dict, message: str | None = None) -> None:
    if message:
        console.print(message)
    console.print(
        f"Election [bold]{escape(str(status['election_id']))}[/bold] — {escape(text(status['manifest'].get('title')))}: "
        f"status [bold]{escape(str(status['status']))}[/bold]"
    )


@election.command(short_help="Create an election from a manifest.")
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--trustees", required=True, metavar="ID,ID,...", help="The trustees' employee ids (鍵管理者), comma-separated, in order.")
@click.option("--threshold", type=int, required=True, help="How many trustees must decrypt the tally (t of n).")
@click.option(
    "--witness",
    "witness_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    help="A witness that cosigns the bulletin board (立会人): the JSON entry 'voting witness init' printed, "
    "{name, public_key, url}. Repeat for each witness.",
)
@click.option(
    "--witness-quorum",
    type=int,
    metavar="K",
    help="How many of the witnesses must cosign a tree head before anyone relies on it (default: all of them).",
)
@login_options
def create(
    login, manifest: Path, trustees: str, threshold: int, witness_files: tuple[Path, ...], witness_quorum: int | None  # noqa: ANN001 - login callable
) -> None:
    """Create an election from MANIFEST (JSON: election_id, title, questions,
    revote_policy; texts in Japanese and English — see docs/). The witnesses
    (--witness) go into the manifest, so the election fingerprint that trustees
    endorse and voters pin names them."""
    try:
        doc = json.loads(manifest.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"{manifest} is not valid JSON: {exc}") from None
    if witness_files or witness_quorum is not None:
        if not isinstance(doc, dict):
            fail(f"{manifest} is not a JSON object")
        if "witnesses" in doc:
            fail(f"{manifest} already names witnesses: give them in the manifest or with --witness, not both")
        doc["witnesses"] = _witness_policy(witness_files, witness_quorum).to_json()
    ids = [t.strip() for t in trustees.split(",") if t.strip()]
    with login() as client:
        status = client.create_election(doc, ids, threshold)
        created = client.get(f"/api/elections/{status['election_id']}/board/entries", start=0, limit=1)["entries"][0]
    signed = created["body"]["manifest"] if created.get("kind") == ELECTION_CREATED else {}
    changed = sorted(k for k in doc.keys() | signed.keys() if signed.get(k) != doc.get(k) and k != "min_tally_ballots")
    if changed:
        # The trustees endorse, and voters pin, the board's manifest: it must be the one sent.
        fail(
            f"the election's signed manifest on the board differs from yours in {', '.join(changed)}: do not use this "
            "election; tell the audit office (監査事務局) / 掲示板のマニフェストが送信内容と異なります"
        )
    _print_summary(status, f"Created with trustees {', '.join(ids)} (any {threshold} of {len(ids)} can decrypt).")
    witnesses = status["manifest"].get("witnesses")
    if witnesses and witnesses["members"]:
        names = escape(", ".join(str(w["name"]) for w in witnesses["members"]))
        console.print(f"Witnesses / 立会人: {names} (any {escape(str(witnesses['quorum']))} of {len(witnesses['members'])} must cosign the board).")
    console.print(f"Next: voting election roll {escape(str(status['election_id']))} ROLL.csv", soft_wrap=True)


def _witness_policy(files: tuple[Path, ...], quorum: int | None):  # noqa: ANN202 - crypto.witness.WitnessPolicy
    """The manifest's ``witnesses`` member from the witnesses' entry files."""
    from crypto.errors import ManifestError
    from crypto.witness import WitnessPolicy

    if not files:
        fail("--witness-quorum needs the witnesses: give each with --witness FILE")
    members = []
    for path in files:
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            fail(f"--witness {path}: not valid JSON: {exc}")
        if isinstance(entry, dict) and "private_key" in entry:
            fail(f"--witness {path} is a witness's state file, with its private key: give the entry 'voting witness init' printed")
        if not isinstance(entry, dict) or not {"name", "public_key"} <= set(entry) <= {"name", "public_key", "url"}:
            fail(f'--witness {path}: expected {{"name", "public_key", "url"}}, as \'voting witness init\' prints it')
        members.append({k: v for k, v in entry.items() if v is not None or k != "url"})
    try:
        return WitnessPolicy.from_json({"quorum": len(members) if quorum is None else quorum, "members": members})
    except ManifestError as exc:
        fail(f"--witness: {exc}")


@election.command(short_help="Import, preview or correct the voter roll (選挙人名簿).")
@click.argument("election_id")
@click.argument("roll", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check ROLL and show what would be imported (プレビュー); nothing is written.")
@click.option(
    "--remove", "remove", multiple=True, metavar="ID",
    help="Remove employee ID from the roll (名簿から削除), before voting opens; repeat for several.",
)
@login_options
def roll(login, election_id: str, roll: Path | None, dry_run: bool, remove: tuple[str, ...]) -> None:  # noqa: ANN001
    """Import the voter roll (選挙人名簿) from ROLL, a CSV file saved by Excel as
    "CSV UTF-8" or "CSV" (Shift_JIS), with the header
    employee_id,name,department (or 職員番号,氏名,所属). All or nothing: if any
    line is wrong, the errors are listed by line and nothing is imported.
    --dry-run shows the rows as the server reads them and every wrong line.
    --remove ID corrects the roll until the election opens."""
    if remove and (roll or dry_run):
        fail("give either ROLL (with --dry-run to preview) or --remove ID, not both")
    if not remove and roll is None:
        fail("give the roll file ROLL.csv, or --remove ID to take an employee off the roll")
    with login() as client:
        if remove:
            for employee_id in remove:
                reply = client.remove_from_roll(election_id, employee_id.strip())
                console.print(f"Removed {escape(str(reply['removed']))} from the roll; it now has {reply['total']} voter(s). / 名簿から削除しました。")
            return
        assert roll is not None  # checked above
        data = roll.read_bytes()
        if dry_run:
            _print_preview(client.import_roll(election_id, data, dry_run=True), roll.name)
            return
        try:
            reply = client.import_roll(election_id, data)
        except ApiError as exc:
            if exc.code == "roll_invalid" and exc.body.get("errors"):
                print_line_errors(exc.body["errors"], title=f"Errors in {escape(roll.name)}; nothing was imported / 何も登録していません")
            raise
    console.print(f"Added {escape(str(reply['added']))} voter(s); the roll now has {escape(str(reply['total']))}.")


PREVIEW_SHOWN = 20


def _print_preview(preview: dict, name: str) -> None:
    rows = preview["rows"]
    table = Table(title=f"{escape(name)} as read ({escape(str(preview['encoding']))}) / 読み取り結果")
    for column in ("Line / 行", "Employee id / 職員番号", "Name / 氏名", "Department / 所属"):
        table.add_column(column, overflow="fold")
    for row in rows[:PREVIEW_SHOWN]:
        table.add_row(escape(str(row["line"])), escape(str(row["employee_id"])), escape(str(row["name"])), escape(str(row["department"])))
    if len(rows) > PREVIEW_SHOWN:
        table.add_row("…", f"({preview['count'] - PREVIEW_SHOWN} more)", "", "")
    console.print(table)
    if preview["errors"]:
        print_line_errors(preview["errors"], title=f"Errors in {escape(name)} / 誤りのある行")
        raise click.ClickException(
            f"{len(preview['errors'])} line(s) of {name} are wrong ({preview['count']} good row(s)); "
            "correct them and check again / 誤りを直してから再度確認してください (nothing was written)"
        )
    console.print(
        f"{preview['count']} voter(s) would be added (the roll has {preview['total']} now); nothing was written. "
        f"/ {preview['count']} 名を登録できます（まだ登録していません）。"
    )


def _transition(name: str, method: str, done: str, next_step: str | None, doc: str) -> None:
    @election.command(name, help=doc, short_help=doc.split(" (")[0] + ".")
    @click.argument("election_id")
    @login_options
    def command(login, election_id: str) -> None:  # noqa: ANN001
        with login() as client:
            status = getattr(client, method)(election_id)
        _print_summary(status, done)
        if next_step:
            console.print("Next: " + next_step.format(election_id=escape(election_id)), soft_wrap=True)


_transition(
    "ceremony-start", "start_ceremony", "The key ceremony has started.",
    "each trustee runs: voting trustee ceremony {election_id} --state MY-STATE.json",
    "Start the trustees' key ceremony (鍵生成). Then every trustee runs "
    "'voting trustee ceremony' on their own machine.",
)
_transition(
    "open", "open", "Voting is open.", "voters run: voting vote {election_id}",
    "Open the election for voting (投票開始); needs the finished key ceremony and a roll.",
)
_transition(
    "close", "close_election", "Voting is closed; the encrypted tally is on the bulletin board.",
    "trustees run: voting trustee decrypt {election_id} --state MY-STATE.json",
    "Close voting (投票終了) and publish the encrypted aggregate for the trustees; "
    "refused before the schedule's closes_at (see 'voting election status').",
)
_transition(
    "publish", "publish", "The result is published.", None,
    "Publish the tallied result (結果公表); the board then holds the complete election record.",
)


@election.command(short_help="Combine partial decryptions (開票).")
@click.argument("election_id")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@login_options
def tally(login, election_id: str, as_json: bool) -> None:  # noqa: ANN001
    """Combine the trustees' partial decryptions into the result (開票).
    Needs partial decryptions from at least the threshold of trustees."""
    with login() as client:
        result = client.tally(election_id)
        manifest = client.status(election_id)["manifest"]
    if as_json:
        print_json(result)
        return
    console.print(result_table(manifest, result))
    console.print(
        f"Decrypted by trustees {escape(', '.join(map(str, result['trustees'])))}. Next: voting election publish {escape(election_id)}",
        soft_wrap=True,
    )


@election.command(short_help="Show an election's state (状態).")
@server_option
@click.argument("election_id")
@click.option("--json", "as_json", is_flag=True, help="Print the full status as JSON.")
@click.option(
    "--credential", "-c", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="An administrator's credential file: also shows the service's CRL state (失効リスト).",
)
@click.option("--pin", envvar="VOTING_PIN", metavar="PIN", help="The credential's or card's PIN (env VOTING_PIN); asked for if not given.")
@card_options
def status(server: str, election_id: str, as_json: bool, credential: Path | None, pin: str | None, card: CardSpec | None) -> None:
    """Show an election's state (状態): roll, ballots, board, trustees, result.
    Public: no login. With an administrator's --credential (or card), also the
    CRL the service checks logins against: its next update, its age, and a
    warning well before logins start to fail."""
    if card is not None and not given_on_command_line("pkcs11_module"):
        card = None  # a public command: VOTING_PKCS11_MODULE alone does not make it ask for the card's PIN
    credential, card = choose_signer(credential, card)
    with login(server, credential, pin, card=card) if credential or card else Client(server) as client:
        doc = client.status(election_id)
    if as_json:
        print_json(doc)
        return
    _print_summary(doc)
    facts = Table(show_header=False, box=None)
    facts.add_column(style="bold")
    facts.add_column()
    if period := describe_status(doc.get("schedule")):
        facts.add_row("Voting period / 受付期間", escape(period))
    facts.add_row("Voters on the roll / 選挙人数", str(doc["roll_size"]))
    facts.add_row("Ballots cast / 投票数", str(doc["ballots_cast"]))
    facts.add_row("Ballots counted / 有効票", str(doc["ballots_counted"]))
    facts.add_row("Bulletin board entries / 掲示板", str(doc["board_size"]))
    facts.add_row("Threshold / 閾値", f"{escape(str(doc['threshold']))} of {escape(str(doc['trustee_count']))} trustees")
    if doc.get("fingerprint"):
        facts.add_row("Election fingerprint", escape(str(doc["fingerprint"])[:32]) + "…")
    console.print(facts)
    trustees = Table(title="Trustees / 鍵管理者")
    for column in ("#", "Employee id", "Announced", "Confirmed key", "Decrypted"):
        trustees.add_column(column, overflow="fold")
    mark = lambda flag: "✓" if flag else "·"  # noqa: E731
    for t in doc["trustees"]:
        trustees.add_row(escape(str(t["index"])), escape(str(t["employee_id"])), mark(t["announced"]), mark(t["confirmed"]), mark(t["decrypted"]))
    console.print(trustees)
    if doc.get("result"):
        console.print(result_table(doc["manifest"], doc["result"]))
    if "crl" in doc:
        _print_crl(doc["crl"])


def _print_crl(crl: dict) -> None:
    """The service's CRL state, as the administrators see it."""
    age = crl.get("age_s")
    facts = Table(title="CRL / 失効リスト", show_header=False, box=None)
    facts.add_column(style="bold")
    facts.add_column(overflow="fold")
    facts.add_row("Next update / 次回更新", escape(str(crl.get("next_update") or "none loaded / 未読込")))
    facts.add_row("Age / 経過", f"{age / 3600:.1f} h" if age is not None else "-")
    if crl.get("download_error"):
        facts.add_row("Last download / 取得", f"failed / 失敗: {escape(str(crl['download_error']))}")
    console.print(facts)
    if crl.get("warning"):
        console.print(f"[bold red]WARNING / 警告:[/bold red] {escape(str(crl['warning']))}", soft_wrap=True)


@election.command(short_help="Show the result (結果).")
@server_option
@click.argument("election_id")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def result(server: str, election_id: str, as_json: bool) -> None:
    """Show the result (結果) of a tallied election. Public: no login."""
    with Client(server) as client:
        doc = client.result(election_id)
        manifest = client.status(election_id)["manifest"]
    if as_json:
        print_json(doc)
        return
    console.print(result_table(manifest, doc))


# `voting election export` lives with the record's other commands.
from voting.cli.record import export  # noqa: E402

election.add_command(export)


@election.command(short_help="Archive a published election, then delete its data (保存・削除).")
@click.argument("election_id")
@click.option(
    "--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the archived record (ELECTION-record-auditors.zip, mode 0600).",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar="VOTING_DATA_DIR", default="var",
    show_default=True, help="The service's data directory (env VOTING_DATA_DIR).",
)
def archive(election_id: str, out: Path, yes: bool, data_dir: Path) -> None:
    """Archive a published election (保存) and delete its data (削除): an operator
    command, run on the server machine against the database. It exports the
    whole record with the auditors' part (names and registered credentials:
    keep it confidential) to --out, verifies the file written with the
    verifier, and only then deletes every row of the election from every table,
    in one transaction. Refused for an election not yet published, or when the
    record does not verify; nothing is deleted then."""
    from voting import maintenance
    from voting.cli.common import settings_for

    if not yes:
        click.confirm(f"Archive election {election_id} to {out}, then delete it from the database?", abort=True)
    try:
        done = maintenance.archive(settings_for(data_dir), election_id, out)
    except maintenance.MaintenanceError as exc:
        raise click.ClickException(str(exc)) from None
    console.print(
        f"Archived election [bold]{escape(election_id)}[/bold] ({plural(done.board_size, 'board entry', 'board entries')}) to {escape(str(done.path))}: the record "
        f"verifies; deleted its {plural(done.rows, 'row', 'rows')} from the database. Keep the file confidential (取扱注意).",
        soft_wrap=True,
    )
