"""The pilot's city hall CA, kept as files (docs/operations.md, "The pilot CA").

The certificate operations are ``crypto.ca``'s; this module only keeps their
results on disk, under one CA directory (by default ``<data_dir>/ca/``):

``root.pem``           the root certificate: the service's trust anchor
``root-key.pem``       the root's private key (0600)
``issuing.pem``        the issuing CA's certificate (in every credential's chain)
``issuing-key.pem``    the issuing CA's private key (0600)
``crl.pem``            the root's and the issuing CA's CRLs, concatenated PEM
``registry.json``      every certificate issued, by employee id and serial, with
                       its revocation, and the CRL number
``issued/<serial>.pem`` a copy of every certificate issued (needed to revoke it)

The service reads only ``root.pem`` and ``crl.pem`` (``VOTING_TRUST_ANCHOR``,
``VOTING_CRL``), so the real JPKI CA can replace everything here. Employees get
one PIN-protected credential file each (``crypto.credentials.seal_credential``:
JSON that Python and the browser both open) and the PINs go on a separate sheet.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

from cryptography import x509

from crypto import ca
from crypto.credentials import (
    DEFAULT_PBKDF2_ITERATIONS,
    MIN_PIN_LENGTH,
    PublicKey,
    certificate_fingerprint,
    certificate_to_pem,
    certificates_from_pem,
    crl_to_pem,
    private_key_to_pem,
    seal_credential,
)
from crypto.errors import CryptoError
from voting import roster_csv
from voting.files import make_directory, write_file

ROOT_CERT = "root.pem"
TRUST_ANCHOR_FILE = "root.pem"
"""Beside the credential files: the root CA certificate the clients pin."""
ROOT_KEY = "root-key.pem"
ISSUING_CERT = "issuing.pem"
ISSUING_KEY = "issuing-key.pem"
CRL_FILE = "crl.pem"
REGISTRY = "registry.json"
ISSUED_DIR = "issued"

DEFAULT_CRL_DAYS = 7
#: Certificates start a little in the past, so a server whose clock is a few
#: minutes behind the CA's machine still accepts them. CRLs do not (publish_crl).
BACKDATE = timedelta(minutes=5)

ROSTER_HEADER = ("employee_id", "name", "department")
ROLES = roster_csv.ROLES
MAX_ROSTER_ROWS = roster_csv.MAX_ROWS
PIN_SHEET_HEADER = ("employee_id", "name", "department", "role", "pin", "credential_file", "issued_at")

REASONS = {
    "unspecified": x509.ReasonFlags.unspecified,
    "key-compromise": x509.ReasonFlags.key_compromise,
    "affiliation-changed": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessation-of-operation": x509.ReasonFlags.cessation_of_operation,
}


class PkiError(Exception):
    """A CA operation refused, with a message for the operator; nothing was changed
    unless the message says so."""


class RosterError(PkiError):
    """The roster CSV has wrong lines; ``errors`` is a list of {line, error}."""

    def __init__(self, errors: list[dict]) -> None:
        super().__init__(f"{len(errors)} line(s) of the roster are wrong; no credential was issued")
        self.errors = errors


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


# --- the registry ------------------------------------------------------------------------


@dataclass
class CertificateRecord:
    """One issued certificate, as the registry keeps it."""

    employee_id: str
    name: str
    department: str
    role: str
    serial: str
    """hex"""
    fingerprint: str
    key_type: str
    issued_at: str
    not_after: str
    revoked_at: str | None = None
    reason: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass
class Registry:
    organization: str
    crl_number: int
    crl_days: int
    certificates: list[CertificateRecord]

    def active_for(self, employee_id: str) -> list[CertificateRecord]:
        return [c for c in self.certificates if c.employee_id == employee_id and c.active]

    def to_json(self) -> dict:
        return {
            "version": 1,
            "organization": self.organization,
            "crl_number": self.crl_number,
            "crl_days": self.crl_days,
            "certificates": [asdict(c) for c in self.certificates],
        }

    @classmethod
    def from_json(cls, doc: dict) -> Registry:
        return cls(
            organization=doc["organization"],
            crl_number=doc["crl_number"],
            crl_days=doc["crl_days"],
            certificates=[CertificateRecord(**c) for c in doc["certificates"]],
        )


@dataclass
class PilotCa:
    """The CA directory, loaded: both authorities and the registry."""

    directory: Path
    root: ca.Authority
    issuing: ca.Authority
    registry: Registry

    def save_registry(self) -> None:
        write_file(self.directory / REGISTRY, json.dumps(self.registry.to_json(), ensure_ascii=False, indent=1), private=True)

    def certificate(self, record: CertificateRecord) -> x509.Certificate:
        return certificates_from_pem((self.directory / ISSUED_DIR / f"{record.serial}.pem").read_bytes())[0]


def exists(ca_dir: Path) -> bool:
    return (ca_dir / ROOT_KEY).exists() or (ca_dir / ROOT_CERT).exists()


def load(ca_dir: Path) -> PilotCa:
    if not (ca_dir / REGISTRY).exists():
        raise PkiError(f"no pilot CA in {ca_dir}; create one with 'voting ca init'")
    try:
        root = ca.Authority.from_pem((ca_dir / ROOT_KEY).read_bytes(), (ca_dir / ROOT_CERT).read_bytes())
        issuing = ca.Authority.from_pem((ca_dir / ISSUING_KEY).read_bytes(), (ca_dir / ISSUING_CERT).read_bytes())
        registry = Registry.from_json(json.loads((ca_dir / REGISTRY).read_text(encoding="utf-8")))
    except FileNotFoundError as exc:
        raise PkiError(f"the CA in {ca_dir} is incomplete: {exc.filename} is missing") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise PkiError(f"the CA registry in {ca_dir} cannot be read: {exc}") from None
    return PilotCa(ca_dir, root, issuing, registry)


# --- init and CRLs -----------------------------------------------------------------------


def init(
    ca_dir: Path,
    *,
    organization: str = ca.DEFAULT_ORGANIZATION,
    root_name: str = "City Hall Pilot Root CA",
    issuing_name: str = "City Hall Pilot Issuing CA",
    crl_days: int = DEFAULT_CRL_DAYS,
    now: datetime | None = None,
) -> PilotCa:
    """A new root and issuing CA and their first CRLs. Never overwrites a CA:
    every credential issued under it would stop working."""
    if exists(ca_dir):
        raise PkiError(f"a CA already exists in {ca_dir}; it is never overwritten (move it away first)")
    if crl_days < 1:
        raise PkiError("the CRL validity must be at least 1 day")
    start = _now(now) - BACKDATE
    root = ca.create_root_ca(root_name, now=start, organization=organization)
    issuing = ca.create_issuing_ca(root, issuing_name, now=start)
    make_directory(ca_dir, private=True)
    write_file(ca_dir / ROOT_KEY, private_key_to_pem(root.key), private=True)
    write_file(ca_dir / ISSUING_KEY, private_key_to_pem(issuing.key), private=True)
    write_file(ca_dir / ROOT_CERT, certificate_to_pem(root.certificate))
    write_file(ca_dir / ISSUING_CERT, certificate_to_pem(issuing.certificate))
    make_directory(ca_dir / ISSUED_DIR, private=True)
    pilot = PilotCa(ca_dir, root, issuing, Registry(organization, 0, crl_days, []))
    publish_crl(pilot, now=now)
    return pilot


@dataclass(frozen=True)
class CrlInfo:
    path: Path
    crl_number: int
    this_update: datetime
    next_update: datetime
    revoked: int


def publish_crl(pilot: PilotCa, *, days: int | None = None, now: datetime | None = None) -> CrlInfo:
    """Write fresh CRLs of both CAs into ``crl.pem`` (one file, concatenated PEM).
    After ``next_update`` the service refuses every login: publish before then."""
    if days is not None:
        if days < 1:
            raise PkiError("the CRL validity must be at least 1 day")
        pilot.registry.crl_days = days
    # thisUpdate is the moment of publication, never backdated (unlike the
    # certificates' notBefore): it is the time up to which the CRL vouches that a
    # certificate was not revoked, so the record's check 5 accepts it for every
    # registration made before it, including the last minutes before closing.
    # The server accepts a CRL up to a minute ahead of its own clock: keep the
    # CA machine's clock right (NTP; set it by hand on an offline machine).
    moment = _now(now).replace(microsecond=0)
    this_update = moment
    next_update = moment + timedelta(days=pilot.registry.crl_days)
    entries = []
    for record in pilot.registry.certificates:
        if record.revoked_at is not None:
            entries.append(
                ca.revoke(
                    pilot.issuing,
                    pilot.certificate(record),
                    now=datetime.fromisoformat(record.revoked_at),
                    reason=REASONS.get(record.reason or "unspecified"),
                )
            )
    pilot.registry.crl_number += 1
    number = pilot.registry.crl_number
    crls = [
        ca.build_crl(pilot.root, [], now=this_update, next_update=next_update, crl_number=number),
        ca.build_crl(pilot.issuing, entries, now=this_update, next_update=next_update, crl_number=number),
    ]
    path = pilot.directory / CRL_FILE
    write_file(path, "".join(crl_to_pem(c) for c in crls))
    pilot.save_registry()
    return CrlInfo(path, number, this_update, next_update, len(entries))


# --- the roster and issuing --------------------------------------------------------------


@dataclass(frozen=True)
class RosterEntry:
    employee_id: str
    name: str
    department: str
    role: str = "voter"


def parse_roster(data: bytes | str) -> list[RosterEntry]:
    """A roster CSV (voting/roster_csv.py: UTF-8 or cp932, English or Japanese
    header ``employee_id,name,department[,role]``); role is one of voter (the
    default), admin, trustee, auditor. Every wrong line is reported."""
    parsed = roster_csv.parse(data.encode("utf-8") if isinstance(data, str) else data, with_role=True)
    if parsed.errors:
        raise RosterError(parsed.error_json())
    if not parsed.rows:
        raise RosterError([{"line": 2, "error": "the roster has no employees", "error_ja": "職員が 1 人も記載されていません"}])
    return [RosterEntry(r.employee_id, r.name, r.department, r.role) for r in parsed.rows]


@dataclass(frozen=True)
class IssuedCredential:
    entry: RosterEntry
    path: Path
    pin: str
    serial: str


def random_pin() -> str:
    """Six random digits, the shortest PIN a credential file accepts."""
    return f"{secrets.randbelow(10**MIN_PIN_LENGTH):0{MIN_PIN_LENGTH}d}"


def credential_path(out_dir: Path, employee_id: str) -> Path:
    return out_dir / f"{employee_id}.credential.json"


def issue(
    pilot: PilotCa,
    entries: Iterable[RosterEntry],
    out_dir: Path,
    *,
    pin_sheet: Path,
    pin: str | None = None,
    key_type: str = "P-256",
    days: int = ca.EMPLOYEE_DAYS,
    replace: bool = False,
    iterations: int = DEFAULT_PBKDF2_ITERATIONS,
    now: datetime | None = None,
    progress: Callable[[IssuedCredential], None] | None = None,
) -> list[IssuedCredential]:
    """A key, certificate and PIN-sealed credential file for each employee, and a
    PIN sheet (CSV, 0600: print it, hand each PIN over separately, delete it).

    An employee who already holds a valid certificate is refused unless
    ``replace``: then the old certificate is revoked (superseded) and the CRL
    republished.
    """
    entries = list(entries)
    if pin is not None and len(pin) < MIN_PIN_LENGTH:
        raise PkiError(f"the PIN must have at least {MIN_PIN_LENGTH} characters")
    if key_type not in ca.KEY_TYPES:
        raise PkiError(f"the key type must be one of {', '.join(ca.KEY_TYPES)}")
    if days < 1:
        raise PkiError("the certificate validity must be at least 1 day")
    holders = [e.employee_id for e in entries if pilot.registry.active_for(e.employee_id)]
    if holders and not replace:
        shown = ", ".join(holders[:5]) + (" …" if len(holders) > 5 else "")
        raise PkiError(
            f"{len(holders)} employee(s) already hold a valid certificate ({shown}); "
            "revoke them first, or issue with --replace"
        )
    start = _now(now) - BACKDATE
    issued: list[IssuedCredential] = []
    superseded = False
    # The trust anchor goes out with the credentials: the voter's and trustee's
    # clients check trustees' certificates against it, never against the server.
    make_directory(out_dir, private=True)
    write_file(out_dir / TRUST_ANCHOR_FILE, certificate_to_pem(pilot.root.certificate))
    try:
        for entry in entries:
            for old in pilot.registry.active_for(entry.employee_id):
                old.revoked_at, old.reason = _now(now).isoformat(), "superseded"
                superseded = True
            credential = ca.enroll_employee(
                pilot.issuing, employee_id=entry.employee_id, name=entry.name, now=start, days=days, key_type=key_type
            )
            the_pin = pin or random_pin()
            doc = seal_credential(
                credential.private_key,
                credential.chain,
                the_pin,
                employee_id=entry.employee_id,
                name=entry.name,
                iterations=iterations,
            )
            serial = _keep_issued(pilot, entry, credential.certificate, key_type, now)
            path = credential_path(out_dir, entry.employee_id)
            write_file(path, json.dumps(doc, ensure_ascii=False, indent=1), private=True)
            issued.append(IssuedCredential(entry, path, the_pin, serial))
            if progress:
                progress(issued[-1])
    finally:
        # Whatever was issued is recorded, even if a later employee failed.
        if issued or superseded:
            pilot.save_registry()
            _append_pin_sheet(pin_sheet, issued, _now(now))
            if superseded:
                publish_crl(pilot, now=now)
    return issued


def roster_entry(employee_id: str, name: str, department: str = "", role: str = "voter") -> RosterEntry:
    """One employee, checked by the same rules as a roster's line."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([("employee_id", "name", "department", "role"), (employee_id, name, department, role)])
    try:
        return parse_roster(buffer.getvalue())[0]
    except RosterError as exc:
        raise PkiError("; ".join(str(e.get("error", "")) for e in exc.errors) or str(exc)) from None


def certificate_path(out_dir: Path, employee_id: str) -> Path:
    return out_dir / f"{employee_id}.certificate.pem"


def describe_key(public_key: object) -> str:
    """The key type as ``KEY_TYPES`` names it ("P-256", "RSA-2048", "Ed25519")."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA-{public_key.key_size}"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return "P-256" if public_key.curve.name == "secp256r1" else public_key.curve.name
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    return type(public_key).__name__


@dataclass(frozen=True)
class IssuedCertificate:
    entry: RosterEntry
    path: Path
    """the certificate, then the issuing CA's (PEM): what goes on the card"""
    serial: str
    key_type: str
    certificate: x509.Certificate


def _keep_issued(pilot: PilotCa, entry: RosterEntry, certificate: x509.Certificate, key_type: str, now: datetime | None) -> str:
    """Keep a copy of an issued certificate (revoking it needs it) and its
    registry line; returns its serial (hex). The caller saves the registry."""
    serial = f"{certificate.serial_number:x}"
    write_file(pilot.directory / ISSUED_DIR / f"{serial}.pem", certificate_to_pem(certificate), private=True)
    pilot.registry.certificates.append(
        CertificateRecord(
            employee_id=entry.employee_id,
            name=entry.name,
            department=entry.department,
            role=entry.role,
            serial=serial,
            fingerprint=certificate_fingerprint(certificate),
            key_type=key_type,
            issued_at=_now(now).isoformat(),
            not_after=certificate.not_valid_after_utc.isoformat(),
        )
    )
    return serial


def issue_for_csr(
    pilot: PilotCa,
    csr_data: bytes,
    entry: RosterEntry,
    out_dir: Path,
    *,
    days: int = ca.EMPLOYEE_DAYS,
    replace: bool = False,
    now: datetime | None = None,
) -> IssuedCertificate:
    """The employee certificate for the key of a certificate signing request
    (made on a card: the key never leaves it), exactly as ``issue`` certifies a
    key it generates; no credential file, no PIN. Writes
    ``OUT/<employee_id>.certificate.pem`` (the certificate and the issuing CA's)
    and the trust anchor beside it. The CSR's signature and key are checked first."""
    from crypto.errors import CredentialError

    if days < 1:
        raise PkiError("the certificate validity must be at least 1 day")
    try:
        csr = ca.read_csr(csr_data)
    except CredentialError as exc:
        raise PkiError(f"the certificate signing request is refused: {exc}") from None
    holders = pilot.registry.active_for(entry.employee_id)
    if holders and not replace:
        raise PkiError(
            f"employee {entry.employee_id} already holds a valid certificate; revoke it first, or issue with --replace"
        )
    public_key = cast(PublicKey, csr.public_key())  # read_csr refused any other kind (check_key)
    other = key_certified_for_another(pilot, public_key, entry.employee_id, now=_now(now))
    if other is not None:
        raise PkiError(
            f"the key of this request already holds a valid certificate for employee {other.employee_id} "
            f"(serial {other.serial[:8]}…): one key (one card) is certified for one employee only. Nothing was issued; "
            f"if the card now belongs to {entry.employee_id}, revoke the other first (voting ca revoke {other.employee_id})"
        )
    certificate = ca.issue_employee_certificate(
        pilot.issuing, public_key, employee_id=entry.employee_id, name=entry.name, now=_now(now) - BACKDATE, days=days
    )
    for old in holders:
        old.revoked_at, old.reason = _now(now).isoformat(), "superseded"
    key_type = describe_key(public_key)
    serial = _keep_issued(pilot, entry, certificate, key_type, now)
    make_directory(out_dir, private=True)
    write_file(out_dir / TRUST_ANCHOR_FILE, certificate_to_pem(pilot.root.certificate))
    path = certificate_path(out_dir, entry.employee_id)
    write_file(path, certificate_to_pem(certificate) + certificate_to_pem(pilot.issuing.certificate))
    pilot.save_registry()
    if holders:
        publish_crl(pilot, now=now)
    return IssuedCertificate(entry, path, serial, key_type, certificate)


def _spki(public_key: object) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)  # type: ignore[attr-defined]


def key_certified_for_another(
    pilot: PilotCa, public_key: object, employee_id: str, *, now: datetime
) -> CertificateRecord | None:
    """A valid certificate (not revoked, not expired) of this CA for the same key
    (SubjectPublicKeyInfo) that names another employee, or None. A CSR proves
    possession of a key, not whose it is: without this, one card could be
    certified for two employees (and share one card secret)."""
    wanted = _spki(public_key)
    key_type = describe_key(public_key)
    for record in pilot.registry.certificates:
        if not record.active or record.employee_id == employee_id or record.key_type != key_type:
            continue
        if datetime.fromisoformat(record.not_after) <= now:
            continue
        try:
            certificate = pilot.certificate(record)
        except (OSError, ValueError, CryptoError):
            continue  # a copy missing from issued/ cannot be compared
        if _spki(certificate.public_key()) == wanted:
            return record
    return None


def _append_pin_sheet(path: Path, issued: list[IssuedCredential], now: datetime) -> None:
    """Rows are appended (header once), so a later batch never erases an earlier one."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    if not existing:
        writer.writerow(PIN_SHEET_HEADER)
    for item in issued:
        e = item.entry
        cells = (e.employee_id, e.name, e.department, e.role)  # checked by roster_csv; neutralised again for Excel
        writer.writerow((*map(roster_csv.spreadsheet_cell, cells), item.pin, item.path.name, now.isoformat()))
    write_file(path, existing + buffer.getvalue(), private=True)


# --- revocation -------------------------------------------------------------------------


def revoke(
    pilot: PilotCa, employee_id: str, *, reason: str = "unspecified", now: datetime | None = None
) -> tuple[list[CertificateRecord], CrlInfo]:
    """Revoke every valid certificate of an employee and republish the CRL.
    Revocation is permanent; issue a new credential if the employee returns."""
    if reason not in REASONS:
        raise PkiError(f"the reason must be one of {', '.join(REASONS)}")
    records = pilot.registry.active_for(employee_id)
    if not records:
        known = any(c.employee_id == employee_id for c in pilot.registry.certificates)
        raise PkiError(
            f"employee {employee_id} has no valid certificate (already revoked)"
            if known
            else f"this CA never issued a certificate to employee {employee_id}"
        )
    for record in records:
        record.revoked_at, record.reason = _now(now).isoformat(), reason
    return records, publish_crl(pilot, now=now)
