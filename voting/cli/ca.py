"""``voting ca``: the pilot's own certificate authority, kept as files."""

from __future__ import annotations

from pathlib import Path

import click
from cryptography.x509.oid import NameOID
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from crypto.ca import EMPLOYEE_DAYS, KEY_TYPES
from crypto.errors import CryptoError
from voting import pki
from voting.cli.common import console, data_dir_option, print_line_errors, shown_path


def ca_dir_option(function):  # noqa: ANN001, ANN201 - click decorator
    function = click.option(
        "--ca-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="The CA directory [default: DATA_DIR/ca, where the service looks].",
    )(function)
    return data_dir_option(function)


def _ca_dir(data_dir: Path, ca_dir: Path | None) -> Path:
    return ca_dir or data_dir / "ca"


@click.group(short_help="The pilot's own CA (認証局).")
def ca() -> None:
    """The pilot's city hall CA (認証局): root and issuing CA, employee
    credentials, revocation and CRLs.

    The service trusts only the root certificate (DATA_DIR/ca/root.pem) and reads
    the CRL (DATA_DIR/ca/crl.pem); point VOTING_TRUST_ANCHOR and VOTING_CRL at the
    real JPKI CA's instead and none of this is needed. Keep the CA's keys off the
    server in production (docs/operations.md).
    """


@ca.command(short_help="Create the root and issuing CA.")
@ca_dir_option
@click.option("--organization", default="City Hall", show_default=True, help="O= in every certificate.")
@click.option("--root-name", default="City Hall Pilot Root CA", show_default=True, help="CN of the root.")
@click.option("--issuing-name", default="City Hall Pilot Issuing CA", show_default=True, help="CN of the issuing CA.")
@click.option(
    "--crl-days", type=click.IntRange(1, 366), default=pki.DEFAULT_CRL_DAYS, show_default=True,
    help="How long each published CRL is valid.",
)
def init(data_dir: Path, ca_dir: Path | None, organization: str, root_name: str, issuing_name: str, crl_days: int) -> None:
    """Create the root and issuing CA and publish their first CRLs.

    Refuses to overwrite an existing CA: every credential issued under it would
    stop working.
    """
    directory = _ca_dir(data_dir, ca_dir)
    pilot = pki.init(
        directory, organization=organization, root_name=root_name, issuing_name=issuing_name, crl_days=crl_days
    )
    console.print(f"Created the pilot CA in {escape(shown_path(directory))}:")
    console.print(f"  trust anchor  {escape(shown_path(directory / pki.ROOT_CERT))}  (VOTING_TRUST_ANCHOR)")
    console.print(f"  CRL           {escape(shown_path(directory / pki.CRL_FILE))}  (VOTING_CRL), valid {pilot.registry.crl_days} days")
    console.print(f"  private keys  {pki.ROOT_KEY}, {pki.ISSUING_KEY} (mode 0600)")
    console.print("Next: voting ca issue ROSTER.csv")


@ca.command(short_help="Issue credentials from a roster CSV, or a certificate for a card's CSR.")
@ca_dir_option
@click.argument("roster", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
    help="Where the credential (or certificate) files go [default: DATA_DIR/credentials].",
)
@click.option(
    "--csr", type=click.Path(exists=True, dir_okay=False, path_type=Path), metavar="FILE",
    help="Certify the key of this certificate signing request (証明書署名要求, PEM or DER), e.g. made on a card "
    "with 'voting card csr', instead of issuing from a roster: needs --employee-id and --name.",
)
@click.option("--employee-id", metavar="ID", help="With --csr: the employee id (職員番号) the certificate names.")
@click.option("--name", metavar="NAME", help="With --csr: the employee's name (氏名) [default: the CSR's common name].")
@click.option("--department", default="", metavar="TEXT", help="With --csr: the department (所属), kept in the CA's registry.")
@click.option("--role", type=click.Choice(pki.ROLES), default="voter", show_default=True, help="With --csr: the role, kept in the CA's registry.")
@click.option("--pin-sheet", type=click.Path(dir_okay=False, path_type=Path), help="The PIN sheet CSV [default: OUT/pins.csv].")
@click.option("--pin", help="One PIN for everyone (demos and tests only); default: a random 6-digit PIN each.")
@click.option("--key-type", type=click.Choice(KEY_TYPES), default="P-256", show_default=True, help="The employees' key type.")
@click.option("--days", type=click.IntRange(1, 20 * 365), default=EMPLOYEE_DAYS, show_default=True, help="Certificate validity.")
@click.option("--replace", is_flag=True, help="Re-issue to employees who hold a valid certificate (the old one is revoked).")
@click.option("--dry-run", is_flag=True, help="Check ROSTER and show the employees as read (プレビュー); nothing is issued.")
def issue(
    data_dir: Path, ca_dir: Path | None, roster: Path | None, out_dir: Path | None, csr: Path | None,
    employee_id: str | None, name: str | None, department: str, role: str, pin_sheet: Path | None,
    pin: str | None, key_type: str, days: int, replace: bool, dry_run: bool,
) -> None:
    """Issue credentials to the employees of ROSTER (a CSV file), or, with
    --csr, a certificate for a key on a card.

    \b
    ROSTER's header: employee_id,name,department[,role]
              (or 職員番号,氏名,所属[,役割])
    ROSTER is CSV as Excel saves it: "CSV UTF-8" or "CSV" (Shift_JIS).
    role is voter (default), admin, trustee or auditor; it is recorded here,
    but the service takes roles only from its own rosters ('voting roster add')
    and from each election's trustees and roll.

    Each employee gets one PIN-protected credential file
    (OUT/<employee_id>.credential.json, mode 0600) that both the browser and
    `voting vote` open. Their PINs go on the PIN sheet (mode 0600): hand each
    PIN over separately from the file, then delete the sheet.

    \b
    With --csr FILE --employee-id ID --name NAME (no ROSTER): the request's
    signature and key are checked, and the employee certificate for its key is
    written to OUT/<ID>.certificate.pem (with the issuing CA's certificate),
    the same certificate a roster would give; there is no credential file and
    no PIN: the key stays on the card. Store it there with
    'voting card store-certificate'.
    """
    directory = _ca_dir(data_dir, ca_dir)
    if csr is not None:
        if roster is not None:
            raise click.UsageError("give either ROSTER or --csr FILE, not both")
        for option, value in (("--pin", pin), ("--pin-sheet", pin_sheet), ("--dry-run", dry_run or None)):
            if value is not None:
                raise click.UsageError(f"{option} is for issuing from a roster; with --csr the key and its PIN stay on the card")
        _issue_for_csr(data_dir, directory, csr, out_dir, employee_id, name, department, role, days, replace)
        return
    if roster is None:
        raise click.UsageError("give a ROSTER file, or --csr FILE --employee-id ID --name NAME")
    for option, value in (("--employee-id", employee_id), ("--name", name)):
        if value is not None:
            raise click.UsageError(f"{option} is for --csr; a roster names its employees itself")
    try:
        entries = pki.parse_roster(roster.read_bytes())
    except pki.RosterError as exc:
        print_line_errors(exc.errors, title=f"Errors in {roster.name} / 誤りのある行")
        raise
    if dry_run:
        _print_roster_preview(entries, roster.name)
        return
    pilot = pki.load(directory)
    out_dir = out_dir or data_dir / "credentials"
    pin_sheet = pin_sheet or out_dir / "pins.csv"
    with Progress(
        TextColumn("Issuing credentials / 証明書発行"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=console, transient=True, disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task("issue", total=len(entries))
        issued = pki.issue(
            pilot, entries, out_dir, pin_sheet=pin_sheet, pin=pin, key_type=key_type, days=days, replace=replace,
            progress=lambda _: progress.advance(task),
        )
    console.print(f"Issued {len(issued)} credential(s) into {escape(shown_path(out_dir))}/")
    console.print(f"PIN sheet: {escape(shown_path(pin_sheet))} (mode 0600; hand the PINs over separately, then delete it)")


def _issue_for_csr(
    data_dir: Path, directory: Path, csr: Path, out_dir: Path | None, employee_id: str | None, name: str | None,
    department: str, role: str, days: int, replace: bool,
) -> None:
    from crypto.ca import read_csr
    from crypto.credentials import certificate_fingerprint

    if employee_id is None:
        raise click.UsageError("--csr needs --employee-id ID: the employee the certificate names")
    data = csr.read_bytes()
    if name is None:
        try:
            names = read_csr(data).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        except CryptoError as exc:
            raise click.ClickException(f"{csr}: the certificate signing request is refused: {exc}") from None
        except ValueError as exc:  # cryptography reads the subject only now
            raise click.ClickException(
                f"{csr}: the request's subject cannot be read ({exc}); give the name with --name NAME, or make the request again"
            ) from None
        if not names:
            raise click.UsageError("--csr needs --name NAME: the request names no one (no common name)")
        name = str(names[0].value)
    entry = pki.roster_entry(employee_id, name, department, role)
    pilot = pki.load(directory)
    issued = pki.issue_for_csr(pilot, data, entry, out_dir or data_dir / "credentials", days=days, replace=replace)
    console.print(
        f"Issued a certificate to {escape(entry.employee_id)} ({escape(entry.name)}) for the {issued.key_type} key "
        f"of {escape(shown_path(csr))}, serial {issued.serial[:8]}…, valid until {issued.certificate.not_valid_after_utc:%Y-%m-%d}."
    )
    console.print(f"  certificate  {escape(shown_path(issued.path))}  (with the issuing CA's; SHA-256 {certificate_fingerprint(issued.certificate)[:16]}…)")
    console.print(f"  trust anchor {escape(shown_path(issued.path.parent / pki.TRUST_ANCHOR_FILE))}")
    console.print("Store it on the card (the card's PIN is asked) / カードに証明書を書き込んでください:")
    click.echo(
        f"  voting card store-certificate {shown_path(issued.path)} --pkcs11-module MODULE [--card-token LABEL] --card-key KEY"
    )


PREVIEW_SHOWN = 20


def _print_roster_preview(entries: list[pki.RosterEntry], name: str) -> None:
    table = Table(title=f"{escape(name)} as read / 読み取り結果")
    for column in ("Employee id / 職員番号", "Name / 氏名", "Department / 所属", "Role / 役割"):
        table.add_column(column, overflow="fold")
    for entry in entries[:PREVIEW_SHOWN]:
        table.add_row(escape(entry.employee_id), escape(entry.name), escape(entry.department), escape(entry.role))
    if len(entries) > PREVIEW_SHOWN:
        table.add_row(f"({len(entries) - PREVIEW_SHOWN} more)", "", "", "")
    console.print(table)
    console.print(f"{len(entries)} credential(s) would be issued; nothing was written. / {len(entries)} 名分を発行できます（まだ発行していません）。")


@ca.command(short_help="Revoke an employee's certificate.")
@ca_dir_option
@click.argument("employee_id")
@click.option("--reason", type=click.Choice(list(pki.REASONS)), default="unspecified", show_default=True, help="The CRL reason code.")
def revoke(data_dir: Path, ca_dir: Path | None, employee_id: str, reason: str) -> None:
    """Revoke EMPLOYEE_ID's certificate (証明書失効) and publish a new CRL.

    The service re-reads the CRL every VOTING_CRL_REFRESH_S seconds (300 by
    default); from then on the employee cannot log in. Permanent.
    """
    pilot = pki.load(_ca_dir(data_dir, ca_dir))
    records, crl = pki.revoke(pilot, employee_id, reason=reason)
    for record in records:
        console.print(f"Revoked {escape(record.employee_id)} ({escape(record.name)}), serial {escape(record.serial)}.")
    console.print(f"Published CRL #{crl.crl_number} ({crl.revoked} revoked) in {escape(shown_path(crl.path))}, valid until {crl.next_update:%Y-%m-%d %H:%M} UTC.")


@ca.command(short_help="Publish a fresh CRL (失効リスト).")
@ca_dir_option
@click.option("--days", type=click.IntRange(1, 366), help="Validity of this and later CRLs [default: as set at init, 7].")
def crl(data_dir: Path, ca_dir: Path | None, days: int | None) -> None:
    """Publish a fresh CRL (失効リスト). Do it before the current one's next
    update (e.g. daily from cron): past it, the service refuses every login."""
    info = pki.publish_crl(pki.load(_ca_dir(data_dir, ca_dir)), days=days)
    console.print(
        f"Published CRL #{info.crl_number} ({info.revoked} revoked) in {escape(shown_path(info.path))}, "
        f"valid until {info.next_update:%Y-%m-%d %H:%M} UTC."
    )


@ca.command("list", short_help="List issued certificates.")
@ca_dir_option
def list_(data_dir: Path, ca_dir: Path | None) -> None:
    """Every certificate this CA issued, and whether it is revoked."""
    pilot = pki.load(_ca_dir(data_dir, ca_dir))
    table = Table(title=f"Certificates issued by the {escape(pilot.registry.organization)} pilot CA")
    for column in ("Employee id", "Name", "Role", "Serial", "Valid until", "Status"):
        table.add_column(column, overflow="fold")
    for record in pilot.registry.certificates:
        status = "valid" if record.active else f"revoked {(record.revoked_at or '')[:10]}\n({record.reason})"
        table.add_row(escape(record.employee_id), escape(record.name), escape(record.role), escape(record.serial[:8]) + "…", escape(record.not_after[:10]), escape(status))
    console.print(table)
