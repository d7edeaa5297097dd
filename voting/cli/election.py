"""``voting election``: an administrator runs an election over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from voting.cli.common import (
    console,
    fail,
    login_options,
    print_json,
    print_line_errors,
    result_table,
    server_option,
    text,
)
from voting.client import ApiError, Client


@click.group(short_help="Run an election, as administrator.")
def election() -> None:
    """Run an election as its administrator (選挙管理者), over HTTP.

    \b
    The lifecycle, in order:
      create -> roll -> ceremony-start -> (trustees: voting trustee ceremony)
      -> open -> (voters: voting vote) -> close
      -> (trustees: voting trustee decrypt) -> tally -> publish
    Every command but status and result logs in with your credential
    (--credential, --pin or VOTING_PIN, or a hidden prompt); your employee id
    must be on the admin roster ('voting roster add ID --role admin').
    """


def _print_summary(status: dict, message: str | None = None) -> None:
    if message:
        console.print(message)
    console.print(
        f"Election [bold]{status['election_id']}[/bold] — {text(status['manifest'].get('title'))}: "
        f"status [bold]{status['status']}[/bold]"
    )


@election.command(short_help="Create an election from a manifest.")
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--trustees", required=True, metavar="ID,ID,...", help="The trustees' employee ids (選挙管理委員), comma-separated, in order.")
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
    signed = created["body"]["manifest"] if created.get("kind") == "election-created" else {}
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
        names = ", ".join(w["name"] for w in witnesses["members"])
        console.print(f"Witnesses / 立会人: {names} (any {witnesses['quorum']} of {len(witnesses['members'])} must cosign the board).")
    console.print(f"Next: voting election roll {status['election_id']} ROLL.csv", soft_wrap=True)


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


@election.command(short_help="Import the voter roll (選挙人名簿).")
@click.argument("election_id")
@click.argument("roll", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@login_options
def roll(login, election_id: str, roll: Path) -> None:  # noqa: ANN001
    """Import the voter roll (選挙人名簿) from ROLL, a CSV file with the header
    employee_id,name,department. All or nothing: if any line is wrong, the
    errors are listed by line and nothing is imported."""
    body = roll.read_text(encoding="utf-8")
    with login() as client:
        try:
            reply = client.import_roll(election_id, body)
        except ApiError as exc:
            if exc.code == "roll_invalid" and exc.body.get("errors"):
                print_line_errors(exc.body["errors"], title=f"Errors in {roll.name}; nothing was imported")
            raise
    console.print(f"Added {reply['added']} voter(s); the roll now has {reply['total']}.")


def _transition(name: str, method: str, done: str, next_step: str | None, doc: str) -> None:
    @election.command(name, help=doc, short_help=doc.split(" (")[0] + ".")
    @click.argument("election_id")
    @login_options
    def command(login, election_id: str) -> None:  # noqa: ANN001
        with login() as client:
            status = getattr(client, method)(election_id)
        _print_summary(status, done)
        if next_step:
            console.print("Next: " + next_step.format(election_id=election_id), soft_wrap=True)


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
    "Close voting (投票終了) and publish the encrypted aggregate for the trustees.",
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
        f"Decrypted by trustees {', '.join(map(str, result['trustees']))}. Next: voting election publish {election_id}",
        soft_wrap=True,
    )


@election.command(short_help="Show an election's state (状態).")
@server_option
@click.argument("election_id")
@click.option("--json", "as_json", is_flag=True, help="Print the full status as JSON.")
def status(server: str, election_id: str, as_json: bool) -> None:
    """Show an election's state (状態): roll, ballots, board, trustees, result.
    Public: no login."""
    with Client(server) as client:
        doc = client.status(election_id)
    if as_json:
        print_json(doc)
        return
    _print_summary(doc)
    facts = Table(show_header=False, box=None)
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("Voters on the roll / 選挙人数", str(doc["roll_size"]))
    facts.add_row("Ballots cast / 投票数", str(doc["ballots_cast"]))
    facts.add_row("Ballots counted / 有効票", str(doc["ballots_counted"]))
    facts.add_row("Bulletin board entries / 掲示板", str(doc["board_size"]))
    facts.add_row("Threshold / 閾値", f"{doc['threshold']} of {doc['trustee_count']} trustees")
    if doc.get("fingerprint"):
        facts.add_row("Election fingerprint", doc["fingerprint"][:32] + "…")
    console.print(facts)
    trustees = Table(title="Trustees / 選挙管理委員")
    for column in ("#", "Employee id", "Announced", "Confirmed key", "Decrypted"):
        trustees.add_column(column, overflow="fold")
    mark = lambda flag: "✓" if flag else "·"  # noqa: E731
    for t in doc["trustees"]:
        trustees.add_row(str(t["index"]), t["employee_id"], mark(t["announced"]), mark(t["confirmed"]), mark(t["decrypted"]))
    console.print(trustees)
    if doc.get("result"):
        console.print(result_table(doc["manifest"], doc["result"]))


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
