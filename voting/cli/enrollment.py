"""``voting enrollment`` (administrators: enrollment codes, the enrolled cards,
revocation) and ``voting card enroll`` (a card holder links the card to
themselves with the code from the slip). Set-up: docs/operations.md, "Trust
anchors and enrollment"; the service: voting/auth/enrollment.py."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.markup import escape
from rich.table import Table

from voting.cli.common import (
    CardSpec,
    card_options,
    choose_signer,
    console,
    login_options,
    read_credential,
    server_option,
    shown_path,
)
from voting.client import ApiError, Client, check_audience

if TYPE_CHECKING:
    from crypto.credentials import Credential
    from voting.card import CardCredential


@click.group(short_help="Card enrollment codes, enrolled cards, revocation (administrators).")
def enrollment() -> None:
    """Card enrollment (カード登録): link a card whose certificate names no
    employee to an employee, once: the My Number card's user-authentication
    certificate (利用者証明用電子証明書), for one.

    \b
    1. An administrator issues a one-time code per employee:
         voting enrollment code --employee-id E0001 -c ADMIN.credential.json
       (or --csv EMPLOYEES.csv --out CODES.csv for many), and hands each employee
       their slip (the code and the employee id).
    2. The employee enrolls their card once:
         voting card enroll --code XXXX-XXXX-XXXX --employee-id E0001 --pkcs11-module PATH
       (or on the enrollment page of the web site).
    3. The card then logs in as that employee. 'voting enrollment list' shows
       every enrolled card; 'voting enrollment revoke' ends one.
    """


# --- codes ----------------------------------------------------------------------------------


def read_employee_ids(data: bytes) -> list[tuple[str, str]]:
    """(employee id, name) from a CSV file as Excel writes it (UTF-8 or cp932):
    a header naming an employee id column (employee_id, 職員番号, ...) and
    optionally a name column, or no header and the ids in the first column.
    Every wrong line is one error line, in English and Japanese."""
    from crypto.credentials import is_valid_employee_id
    from voting.roster_csv import HEADER_NAMES, LineError, decode, normalize_id

    text, _, error = decode(data)
    if error is not None:
        raise click.ClickException(f"line {error.line}: {error.message} / {error.line} 行目: {error.message_ja}")
    rows = [r for r in csv.reader(io.StringIO(text, newline="")) if any(cell.strip() for cell in r)]
    if not rows:
        raise click.ClickException("the CSV file lists no employee id / 職員番号がありません")
    header = [normalize_id(c).lower().replace(" ", "_") for c in rows[0]]
    id_column = next((i for i, c in enumerate(header) if c in HEADER_NAMES["employee_id"]), None)
    name_column = next((i for i, c in enumerate(header) if c in HEADER_NAMES["name"]), None)
    start = 1 if id_column is not None else 0
    id_column = id_column or 0
    people: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    problems: list[str] = []
    for number, row in enumerate(rows[start:], start=start + 1):
        employee = normalize_id(row[id_column]) if id_column < len(row) else ""
        name = row[name_column].strip() if name_column is not None and name_column < len(row) else ""
        if not is_valid_employee_id(employee):
            problems.append(f"line {number}: {LineError(number, 'id', {'id': repr(employee)}).message}")
        elif employee in seen:
            problems.append(f"line {number}: employee {employee} is already at line {seen[employee]} / 職員番号 {employee} は {seen[employee]} 行目にもあります")
        else:
            seen[employee] = number
            people.append((employee, name))
    if problems:
        raise click.ClickException("no code was issued:\n" + "\n".join(problems[:20]))
    return people


@enrollment.command(short_help="Issue one-time enrollment codes.")
@click.option("--employee-id", "employee_ids", multiple=True, metavar="ID", help="The employee (職員番号) to issue a code for; repeatable.")
@click.option(
    "--csv", "csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), metavar="FILE",
    help="A CSV file of employee ids (Excel 'CSV UTF-8' or 'CSV'; a header 'employee_id'/'職員番号', optionally 'name'/'氏名'): a code for each.",
)
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
    help="Write the codes to this CSV file (UTF-8 with BOM, for Excel and mail merge) instead of printing them; needed with --csv.",
)
@login_options
def code(employee_ids: tuple[str, ...], csv_file: Path | None, out: Path | None, login) -> None:  # noqa: ANN001
    """Issue a one-time enrollment code (登録コード) for each employee: 12
    characters, XXXX-XXXX-XXXX, valid for 7 days (VOTING_ENROLLMENT_CODE_TTL_S),
    shown only now (the service keeps a hash). Hand each employee their own,
    with their employee id, on a slip; a code works only for that employee."""
    people = [(e, "") for e in employee_ids]
    if csv_file is not None:
        if out is None:
            raise click.UsageError("--csv needs --out FILE: the codes of many employees go to a file, not the screen")
        people += read_employee_ids(csv_file.read_bytes())
    if not people:
        raise click.UsageError("give --employee-id ID or --csv FILE")
    if out is not None and out.exists():
        raise click.ClickException(f"{shown_path(out)} exists; codes are never written over a file (move it away first)")
    with login() as client:
        issued = [
            (employee, name, client.post("/api/admin/enrollment-codes", {"employee_id": employee})) for employee, name in people
        ]
    if out is not None:
        from voting.roster_csv import spreadsheet_cell

        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(["employee_id", "name", "enrollment_code", "expires_at"])
        for employee, name, reply in issued:
            writer.writerow([employee, spreadsheet_cell(name), reply["code"], reply["expires_at"]])
        out.write_bytes(b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8"))
        console.print(f"✓ {len(issued)} enrollment code{'s' if len(issued) != 1 else ''} written to {escape(shown_path(out))} / 登録コードを書き出しました")
        console.print("Each code is secret until used: hand each employee only their own. / コードは本人にのみ渡してください")
        return
    table = Table(title="Enrollment codes / 登録コード")
    for column in ("Employee id / 職員番号", "Code / 登録コード", "Valid until / 有効期限"):
        table.add_column(column, no_wrap=True)
    for employee, _, reply in issued:
        table.add_row(escape(employee), escape(str(reply["code"])), escape(str(reply["expires_at"])[:16].replace("T", " ")) + " UTC")
    console.print(table)


@enrollment.command("list", short_help="The enrolled cards.")
@click.option("--employee-id", metavar="ID", help="Only this employee's cards.")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@login_options
def list_(employee_id: str | None, as_json: bool, login) -> None:  # noqa: ANN001
    """Every enrolled card: its fingerprint (for 'revoke'), the employee, the
    trust anchor, when, and whether it was revoked."""
    import json

    with login() as client:
        rows = client.get("/api/admin/enrollments", employee_id=employee_id)["enrollments"]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        console.print("No card is enrolled. / 登録されたカードはありません")
        return
    table = Table(title="Enrolled cards / 登録済みカード")
    for column in ("Fingerprint / 指紋", "Employee id / 職員番号", "Anchor", "Enrolled / 登録日時", "Revoked / 失効"):
        table.add_column(column, overflow="fold")
    for row in rows:
        revoked = f"{row['revoked_at'][:16]} by {row['revoked_by']}: {row['revoked_reason']}" if row["revoked_at"] else "—"
        table.add_row(
            escape(str(row["fingerprint"])), escape(str(row["employee_id"])), escape(str(row["anchor"])),
            escape(str(row["enrolled_at"])[:16].replace("T", " ")), escape(revoked),
        )
    console.print(table)


@enrollment.command(short_help="Revoke a card's enrollment.")
@click.argument("fingerprint")
@click.option("--reason", required=True, metavar="TEXT", help="Why (kept with the enrollment, shown in the list).")
@login_options
def revoke(fingerprint: str, reason: str, login) -> None:  # noqa: ANN001
    """Revoke the enrollment of the card with FINGERPRINT (SHA-256 of its
    certificate, from 'voting enrollment list'): the card logs in no more,
    and its open sessions end now. A revoked card cannot be enrolled again."""
    with login() as client:
        row = client.post(f"/api/admin/enrollments/{fingerprint.strip().lower()}/revoke", {"reason": reason})
    console.print(f"✓ The card {escape(str(row['fingerprint'])[:16])}… of {escape(str(row['employee_id']))} is revoked; its sessions have ended. / 失効しました")


# --- voting card enroll ----------------------------------------------------------------------


def enroll_with(client: Client, credential: Credential | CardCredential, *, employee_id: str, code: str) -> dict:
    """Sign an enrollment token with the card (``credential``: a card or a
    credential, anything with ``private_key`` and ``chain``) for the address this
    client connected to, and send it. The card signs the employee id and the
    code as the employee typed them, never anything the server said; the
    reply must name that employee and that card, or it is refused."""
    from crypto.credentials import certificate_fingerprint, make_enrollment_token
    from voting.enrollment_code import normalize_code

    shown = normalize_code(code)
    if shown is None:
        raise click.ClickException("the enrollment code is 12 letters and digits, XXXX-XXXX-XXXX (as on the slip) / 登録コードの形式が正しくありません")
    challenge = client.post("/api/auth/challenge")
    audience = challenge.get("audience") if isinstance(challenge, dict) else None
    audience = check_audience(audience, str(client.http.base_url))
    try:
        token = make_enrollment_token(
            credential.private_key, credential.chain, nonce=challenge["nonce"], audience=audience,
            now=datetime.now(UTC), employee_id=employee_id, enrollment_code=shown,
        )
    except (KeyError, TypeError, ValueError):
        raise ApiError(0, "challenge_malformed", "the server's challenge is malformed; nothing was signed") from None
    reply = client.post("/api/enroll", {"token": token})
    fingerprint = certificate_fingerprint(credential.chain[0])
    if not isinstance(reply, dict) or reply.get("employee_id") != employee_id or reply.get("fingerprint") != fingerprint:
        raise ApiError(
            0, "enrollment_reply_mismatch",
            f"the server's reply does not confirm this card ({fingerprint[:16]}…) for {employee_id}: do not use the card "
            "here; tell the administrators / サーバーの応答が一致しません。管理者に連絡してください",
        )
    return reply


@click.command(short_help="Enroll this card with the code from the slip.")
@click.option("--code", "enrollment_code", required=True, metavar="XXXX-XXXX-XXXX", help="The enrollment code (登録コード) on your slip.")
@click.option("--employee-id", required=True, metavar="ID", help="Your employee id (職員番号), as on the slip.")
@click.option("--pin", envvar="VOTING_PIN", metavar="PIN", help="The card's PIN (env VOTING_PIN). Asked for, hidden, if not given.")
@click.option(
    "--credential", "-c", envvar="VOTING_CREDENTIAL", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A credential file instead of a card (env VOTING_CREDENTIAL).",
)
@card_options
@server_option
def enroll(enrollment_code: str, employee_id: str, pin: str | None, credential: Path | None, card: CardSpec | None, server: str) -> None:
    """Link this card to you, once (カード登録): the card signs your employee id
    and the one-time code from your slip for this server. Needed only for a card
    whose certificate names no employee, such as the My Number card's
    user-authentication certificate; afterwards the card logs in as you."""
    from crypto.credentials import is_valid_employee_id

    employee_id = employee_id.strip()
    if not is_valid_employee_id(employee_id):
        raise click.BadParameter(f"{employee_id!r} is not an employee id", param_hint="--employee-id")
    credential, card = choose_signer(credential, card)
    if credential is None and card is None:
        raise click.UsageError("give your card's PKCS#11 module (--pkcs11-module PATH, env VOTING_PKCS11_MODULE)")
    signer: Credential | CardCredential
    if card is not None:
        signer = opened = card.open(pin)
    else:
        assert credential is not None  # one of the two, checked above
        signer, opened = read_credential(credential, pin), None
    try:
        with Client(server) as client:
            reply = enroll_with(client, signer, employee_id=employee_id, code=enrollment_code)
    finally:
        if opened is not None:
            opened.close()
    console.print(
        f"✓ The card {escape(str(reply['fingerprint'])[:16])}… is enrolled for {escape(reply['employee_id'])} (trust anchor "
        f"{escape(reply['anchor'])}); log in with it from now on. / カードを登録しました"
    )
