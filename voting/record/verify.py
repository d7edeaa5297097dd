"""The independent verifier of a published election record
(docs/election-record.md, "Checks").

It needs nothing but ``crypto/`` and the record's files: never the database,
never the service's code (a test scans its imports). The bulletin board
(``board.jsonl``, the exact bytes of every leaf) is authenticated by the
server's signed tree heads; every other public file is a view of the board and
must say exactly what the board says; the cryptography is then re-checked from
the board alone. Every limit comes from the manifest, never from a ballot.

``verify_record`` takes the files as a mapping (path -> bytes), so a record
held in memory is checked without touching the disk. Ballot proofs and the
registrations' certificates are checked in worker processes (all cores); a
small record is checked in this process.

Record version 3 (issue 11): ballots are cast by per-election voting
credentials (Ed25519 keys registered on the board), never signed by an
employee's certificate. Check 5's public part needs only the board (every
ballot from a distinct credential registered before it, no more credentials
than ``roll_size``, every Ed25519 signature); its auditors' part checks each
registration against the employee's certificate. Check 11 re-checks the
published audits. Record version 4 (issue 12) adds the witnesses'
cosignatures of the tree heads, which check 12 re-checks. The result is a ``Report``: one ``CheckResult`` per
numbered check, with its status and its first failing items.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import multiprocessing
import os
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

from crypto import log as merkle
from crypto import threshold
from crypto.ballots import (
    AuditOpening,
    EncryptedBallot,
    Manifest,
    ceremony_fingerprint,
    election_fingerprint,
    selection_ciphertexts,
    tracking_code,
    verify_audit_opening,
    verify_ballot,
)
from crypto.credentials import (
    Endorsement,
    TrustStore,
    certificate_fingerprint,
    check_key,
    employee_id_of,
    is_valid_employee_id,
    parse_voting_credential,
    verify_announcement_signature,
    verify_credential_signature,
    verify_endorsement,
    verify_registration,
)
from crypto.credentials import CLOCK_SKEW_S as TOKEN_SKEW_S
from crypto.credentials import check_card_usage, read_enrollment_token
from crypto.elgamal import Ciphertext
from crypto.encoding import canonical_json
from crypto.errors import CryptoError, DecryptionError
from crypto.group import Point, sum_columns
from crypto.receipts import WITNESSED, verify_receipt, verify_witnessed, witness_policy_for
from crypto.receipts import BOARD_ENTRY_KINDS as ENTRY_KINDS
from crypto.witness import CosignedHead, check_quorum, verify_cosignature
from voting.record import files as F


# --- the checks ----------------------------------------------------------------------------

CHECKS: dict[int, tuple[str, str, str]] = {
    # number: (title, short title, short title in Japanese)
    1: ("Parameters and the election fingerprint", "Parameters, fingerprint", "パラメータと指紋"),
    2: ("Key ceremony: trustee proofs and the joint key", "Key ceremony, joint key", "鍵生成と共同公開鍵"),
    3: ("Ballots: well-formed, every proof, limits from the manifest", "Ballot proofs, limits", "投票の証明と上限"),
    4: ("Tracking codes: unique and matching the ballots", "Tracking codes", "追跡コード"),
    5: ("Eligibility: registered credentials within the roll, signed ballots", "Credentials, eligibility", "投票資格と認証情報"),
    6: ("Re-vote policy: which ballots count", "Re-vote policy", "再投票規則"),
    7: ("Bulletin board: Merkle roots, signed tree heads, consistency", "Board, signed tree heads", "掲示板と署名"),
    8: ("Aggregate: the sum of the counted ballots", "Aggregate = sum", "集計暗号文"),
    9: ("Partial decryptions: every trustee's proofs", "Partial decryptions", "部分復号"),
    10: ("Result: the combined decryption, counts within bounds", "Result, bounds", "結果と範囲"),
    11: ("Published audits: opened ballots, never cast", "Published audits", "公開された検査"),
    12: ("Witness cosignatures", "Witness cosignatures", "立会人の連署"),
}

PASS, FAIL, SKIP, BLOCKED = "pass", "fail", "skip", "blocked"
MAX_LISTED = 20
#: Below this many ballots, starting worker processes costs more than it saves.
PARALLEL_FROM = 200
CHUNK = 50

ENTRY_KEYS = {"election_id", "index", "kind", "time", "body"}
CREATED_KEYS = {"manifest", "trustees", "trustee_ids", "threshold", "ceremony_fingerprint", "server_key"}
JOINT_KEY_KEYS = {"joint_key", "fingerprint", "public_shares", "endorsements"}
#: The entries whose ``by`` is the administrator who acted: it must never be a trustee.
ADMIN_KINDS = ("admin-action", "election-opened", "election-closed", "election-published")
#: At least this many trustees must decrypt: with one, a single person could.
MIN_THRESHOLD = 2
RECORD_KEYS = {"format", "version", "election_id", "exported_at", "board_size", "stage", "auditors_part"}
REVOTE_POLICIES = ("single", "last")
#: How far an entry's time may precede an earlier entry's (app servers' clocks differ a little).
CLOCK_TOLERANCE = timedelta(seconds=2)
GROUP = "ristretto255"
_HEX = re.compile(r"[0-9a-f]*")

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``; called as work completes."""


class Bad(Exception):
    """One item of the record fails a check; the message says which and why."""


#: What ``load`` gives for a file that is missing or not valid JSON (``null``
#: is a valid view: no aggregate yet).
UNUSABLE = object()


@dataclass
class CheckResult:
    number: int
    title: str
    short: str
    short_ja: str
    status: str = PASS
    items: int = 0
    """how many things were checked (ballots, heads, proofs…)"""
    failures: list[str] = field(default_factory=list)
    """the first failing items, in record order"""
    failure_count: int = 0
    note: str = ""
    """why it was skipped or blocked, or what it covered"""
    seconds: float = 0.0
    """wall-clock time of this check"""
    worker_seconds: float = 0.0
    """CPU time its worker processes spent (parallel checks only)"""

    def fail(self, message: str) -> None:
        self.failure_count += 1
        if len(self.failures) < MAX_LISTED:
            self.failures.append(message)
        self.status = FAIL

    def skip(self, reason: str) -> None:
        if self.status == PASS:
            self.status = SKIP
            self.note = reason

    def block(self, reason: str) -> None:
        if self.status == PASS:
            self.status = BLOCKED
            self.note = reason

    @property
    def first_failure(self) -> str:
        return self.failures[0] if self.failures else ""

    def to_json(self) -> dict:
        return {
            "number": self.number,
            "title": self.title,
            "status": self.status,
            "items": self.items,
            "failure_count": self.failure_count,
            "failures": self.failures,
            "note": self.note,
            "seconds": round(self.seconds, 3),
            "worker_seconds": round(self.worker_seconds, 3),
        }


@dataclass
class Report:
    election_id: str | None
    stage: str
    board_size: int
    ballots: int
    counted: int
    auditors_part: bool
    checks: list[CheckResult]
    seconds: float = 0.0
    workers: int = 1
    warnings: list[str] = field(default_factory=list)
    """what passed but rests on the server's word only (say it to the reader)"""
    attested_registrations: int = 0
    """registrations check 5 passed that are attested by a TLS client certificate
    login, signed by no card: the server's word only (trustees decrypt only
    once they accept this number)"""
    anchors_pinned: bool = False
    """the auditors' part's trust anchors were compared with roots the reader
    pinned (``trust_anchors``); False: they were taken from the record itself"""

    def ok(self, *, strict: bool = False) -> bool:
        """Every check passed (``strict``: a skipped check counts as not passed)."""
        allowed = {PASS} if strict else {PASS, SKIP}
        return all(c.status in allowed for c in self.checks)

    def check(self, number: int) -> CheckResult:
        return next(c for c in self.checks if c.number == number)

    def failed(self) -> list[int]:
        return [c.number for c in self.checks if c.status == FAIL]

    def to_json(self) -> dict:
        return {
            "election_id": self.election_id,
            "stage": self.stage,
            "board_size": self.board_size,
            "ballots": self.ballots,
            "counted": self.counted,
            "auditors_part": self.auditors_part,
            "ok": self.ok(),
            "seconds": round(self.seconds, 3),
            "workers": self.workers,
            "warnings": self.warnings,
            "attested_registrations": self.attested_registrations,
            "anchors_pinned": self.anchors_pinned,
            "checks": [c.to_json() for c in self.checks],
        }


# --- the roots the reader pinned -------------------------------------------------------------


def anchor_name(certificate: x509.Certificate) -> str:
    """A root as a reader finds it on the election notice: its subject and its
    SHA-256 fingerprint as ``openssl x509 -fingerprint -sha256`` prints it."""
    digest = certificate.fingerprint(hashes.SHA256())
    return f"{certificate.subject.rfc4514_string()} (SHA-256 {':'.join(f'{b:02X}' for b in digest)})"


def _unpinned(trust_anchors: Sequence[bytes], card_anchors: Mapping[str, Sequence[bytes]], pinned: set[bytes]) -> list[str]:
    """Each anchor (DER) not among ``pinned``, named: the login anchors of
    ``auditors/trust.json`` and the card anchors of ``auditors/enrollments.json``."""
    out = []
    for der in trust_anchors:
        if der not in pinned:
            out.append(f"the trust anchor {anchor_name(x509.load_der_x509_certificate(der))} of {F.TRUST}")
    for name, ders in card_anchors.items():
        for der in ders:
            if der not in pinned:
                out.append(f"the card anchor {name!r}, {anchor_name(x509.load_der_x509_certificate(der))}, of {F.ENROLLMENTS}")
    return out


def unpinned_anchors(files: Mapping[str, bytes], pinned: Iterable[bytes]) -> list[str]:
    """Every trust anchor the auditors' part judges certificates against that
    is not among ``pinned`` (the DER of the roots the reader pinned itself:
    ``--trust-anchor``, the trustee file's roots), each named: the login
    anchors of ``auditors/trust.json`` and the card anchors of
    ``auditors/enrollments.json``. An anchor taken from the record itself is
    the server's word: a server could name a CA of its own and make the
    certificates (or cards) that register for roll members who never vote.
    Without an auditors' part: none. Raises ``Bad`` when a file cannot be read."""
    pinned = set(pinned)
    trust_anchors: list[bytes] = []
    card_anchors: dict[str, list[bytes]] = {}
    try:
        if F.TRUST in files:
            trust = _obj(strict_json(files[F.TRUST], F.TRUST), {"trust_anchors", "crls"}, F.TRUST)
            if not isinstance(trust["trust_anchors"], list):
                raise Bad(f"{F.TRUST}: trust_anchors must be a list")
            trust_anchors = [_b64(a, "a trust anchor") for a in trust["trust_anchors"]]
        if F.ENROLLMENTS in files:
            doc = _obj(strict_json(files[F.ENROLLMENTS], F.ENROLLMENTS), {"anchors", "enrollments"}, F.ENROLLMENTS)
            if not isinstance(doc["anchors"], list):
                raise Bad(f"{F.ENROLLMENTS}: anchors must be a list")
            for anchor in doc["anchors"]:
                anchor = _obj(anchor, {"name", "certificates"}, "an anchor")
                if not isinstance(anchor["certificates"], list):
                    raise Bad(f"{F.ENROLLMENTS}: the certificates of an anchor must be a list")
                name = str(anchor["name"])
                card_anchors.setdefault(name, []).extend(_b64(a, f"a certificate of anchor {name}") for a in anchor["certificates"])
        return _unpinned(trust_anchors, card_anchors, pinned)
    except ValueError as exc:  # a DER that is no certificate
        raise Bad(f"an anchor of the auditors' part is not a certificate: {exc}") from None


# --- small strict parsers --------------------------------------------------------------------


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    doc = {}
    for key, value in pairs:
        if key in doc:
            raise Bad(f"duplicate member {key!r}")
        doc[key] = value
    return doc


def _no_float(text: str) -> object:
    raise Bad(f"a number with a fraction or exponent ({text}); the record has integers only")


def _no_constant(text: str) -> object:
    raise Bad(f"{text} is not JSON")


def strict_json(data: bytes, what: str) -> object:
    """JSON with no duplicate members, no floats, no NaN: one text, one meaning."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Bad(f"{what} is not UTF-8") from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_float=_no_float, parse_constant=_no_constant)
    except Bad as exc:
        raise Bad(f"{what}: {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise Bad(f"{what} is not valid JSON: {exc}") from None


def _same(a: object, b: object) -> bool:
    """Equal as JSON (``true`` is not ``1``, unlike Python's ``==``)."""
    try:
        return canonical_json(a) == canonical_json(b)
    except CryptoError:
        return False


def _obj(value: object, keys: set[str], what: str) -> dict:
    if not isinstance(value, dict):
        raise Bad(f"{what} must be an object")
    if set(value) != keys:
        missing, extra = sorted(keys - set(value)), sorted(set(value) - keys)
        raise Bad(f"{what}: missing {missing}, unexpected {extra}")
    return value


def _int(value: object, what: str, low: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise Bad(f"{what} must be an integer >= {low}")
    return value


def _hex(value: object, what: str, nbytes: int | None = None) -> bytes:
    if not isinstance(value, str) or len(value) % 2 or not _HEX.fullmatch(value):
        raise Bad(f"{what} must be lowercase hexadecimal")
    if nbytes is not None and len(value) != 2 * nbytes:
        raise Bad(f"{what} must be {nbytes} bytes ({2 * nbytes} hex characters)")
    return bytes.fromhex(value)


def _time(value: object, what: str) -> datetime:
    if not isinstance(value, str):
        raise Bad(f"{what} must be an ISO 8601 time")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Bad(f"{what} is not an ISO 8601 time: {value!r}") from None
    if moment.utcoffset() is None:
        raise Bad(f"{what} has no time zone: {value!r}")
    return moment


def _selection_alphas(ballot: object) -> set[str]:
    """The alphas (lowercase hex) of a ballot document's selection ciphertexts;
    what is malformed is left to the checks that parse the ballot."""
    alphas: set[str] = set()
    questions = ballot.get("questions") if isinstance(ballot, dict) else None
    for question in questions if isinstance(questions, list) else ():
        selections = question.get("selections") if isinstance(question, dict) else None
        for selection in selections if isinstance(selections, list) else ():
            alpha = selection.get("alpha") if isinstance(selection, dict) else None
            if isinstance(alpha, str):
                alphas.add(alpha.lower())  # a ristretto255 encoding is unique: lowercase hex is canonical
    return alphas


def _short(code: str) -> str:
    return code[:12] + "…" if isinstance(code, str) and len(code) > 12 else str(code)


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise Bad(f"{what} must be base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Bad(f"{what} is not base64") from None


# --- the board, as parsed ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Ballot:
    index: int
    tracking_code: str
    credential: str
    signature: str
    time: str
    line: bytes


@dataclass(frozen=True)
class _Supersession:
    index: int
    tracking_code: str
    superseded_by: str
    credential: str


# --- worker processes ------------------------------------------------------------------------------

# Each worker (or this process, for a small record) is set up once with what
# every task needs; tasks then carry only their own items.
_BALLOT_CONTEXT: tuple[Manifest, Point, bytes, int] | None = None
_ELIGIBILITY_CONTEXT: tuple[TrustStore, list, str, bool, dict, dict] | None = None


def _init_worker(ballot_context: tuple | None, eligibility_context: tuple | None) -> None:
    global _BALLOT_CONTEXT, _ELIGIBILITY_CONTEXT
    if ballot_context is not None:
        manifest_doc, joint_key_hex, fingerprint_hex = ballot_context
        manifest = Manifest.from_json(manifest_doc)
        width = sum(len(q.option_ids) for q in manifest.questions)
        _BALLOT_CONTEXT = (manifest, Point.from_hex(joint_key_hex), bytes.fromhex(fingerprint_hex), width)
    if eligibility_context is not None:
        anchors, crls, election_id, after_events, card_anchors, enrollments = eligibility_context
        store = TrustStore.from_der(anchors)
        loaded = [x509.load_der_x509_crl(der) for der in crls]
        card_stores = {name: TrustStore.from_der(ders) for name, ders in card_anchors.items()}
        _ELIGIBILITY_CONTEXT = (store, loaded, election_id, after_events, card_stores, enrollments)


def _verify_ballots(items: Sequence[tuple[int, bytes, bool]]) -> tuple[list, list[str], int, list[int], float]:
    """Checks 3 and 4 for a chunk of ballot entries, and the sum of the counted
    ones for check 8. Returns (per ballot: index, error or None, recomputed
    tracking code or None), the column sums (hex), how many were summed, the
    counted ballots that could not be read, and the seconds spent."""
    start = time.process_time()
    manifest, joint_key, fingerprint, width = _BALLOT_CONTEXT  # type: ignore[misc]
    results, rows, unreadable = [], [], []
    for index, line, counted in items:
        body = json.loads(line)["body"]
        try:
            ballot = EncryptedBallot.from_json(body["ballot"], manifest)
        except Exception as exc:  # noqa: BLE001 - hostile input: any failure is this ballot's
            results.append((index, f"malformed ballot: {exc}", None))
            if counted:
                unreadable.append(index)
            continue
        code = tracking_code(fingerprint, ballot).hex()
        error = None
        try:
            verify_ballot(manifest, joint_key, fingerprint, body["credential"], ballot)
        except Exception as exc:  # noqa: BLE001
            error = str(exc) or type(exc).__name__
        results.append((index, error, code))
        if counted:
            rows.append([p for c in selection_ciphertexts(ballot) for p in (c.alpha, c.beta)])
    sums = [p.hex() for p in sum_columns(rows, 2 * width)]
    return results, sums, len(rows), unreadable, time.process_time() - start


def _check_eligibility(items: Sequence[tuple[str, str, str, object]]) -> tuple[list, float]:
    """Check 5 (auditors' part) for a chunk of registrations: (credential, error
    or None, certificate fingerprint, server's word) each, where the last says
    what of it rests on the server's word only (see ``_registered``). An item is
    (credential hex, the employee the roll names, the time of its
    credential-registered entry, the registration)."""
    start = time.process_time()
    store, crls, election_id, after_events, card_stores, enrollments = _ELIGIBILITY_CONTEXT  # type: ignore[misc]
    results = []
    for credential, employee, registered_at, registration in items:
        try:
            fingerprint, word = _registered(
                store, crls, election_id, credential, employee, registered_at, registration, after_events,
                card_stores=card_stores, enrollments=enrollments,
            )
            results.append((credential, None, fingerprint, word))
        except Bad as exc:
            results.append((credential, str(exc), None, ()))
        except Exception as exc:  # noqa: BLE001 - hostile input
            results.append((credential, f"{type(exc).__name__}: {exc}", None, ()))
    return results, time.process_time() - start


REGISTRATION_KEYS = {"chain", "signature", "registered_at"}
#: A registration attested by a TLS client certificate login (no signature by
#: the card): the server's word only.
ATTESTED_KEYS = REGISTRATION_KEYS | {"attested"}
ATTESTED_BY_CLIENT_CERTIFICATE = "client-certificate"
#: What of a registration rests on the server's word (``_registered``).
WORD_ATTESTED = "attested"
WORD_ENROLLED = "enrolled-by-client-certificate"


def _registered(  # noqa: PLR0913
    store: TrustStore,
    crls: list,
    election_id: str,
    credential: str,
    employee: str,
    registered_at: str,
    registration: object,
    after_events: bool = True,
    *,
    card_stores: Mapping[str, TrustStore] | None = None,
    enrollments: Mapping[str, dict] | None = None,
) -> tuple[str, tuple[str, ...]]:
    """The registration of ``credential``: its certificate chain builds to a
    trust anchor at the registration entry's time, was not revoked then, is an
    employee certificate for digital signatures and client authentication,
    names ``employee``, and its key signed the registration message.

    A card certificate that names no employee (an anchor of
    ``auditors/enrollments.json``) is an employee's through its enrollment
    instead: one that verified (``_check_enrollment``), for ``employee``, made
    before the registration and not revoked by then.

    Returns the leaf certificate's fingerprint, and what rests on the server's
    word only: ``WORD_ATTESTED`` (attested by a TLS client certificate login,
    not signed by the card), ``WORD_ENROLLED`` (the card's enrollment was)."""
    if isinstance(registration, dict) and "attested" in registration:
        doc = _obj(registration, ATTESTED_KEYS, "the registration")
        if doc["attested"] != ATTESTED_BY_CLIENT_CERTIFICATE or doc["signature"] is not None:
            raise Bad(f"an attested registration says attested {ATTESTED_BY_CLIENT_CERTIFICATE!r} and has no signature")
    else:
        doc = _obj(registration, REGISTRATION_KEYS, "the registration")
    word: list[str] = []
    _time(doc["registered_at"], "registered_at")
    chain = doc["chain"]
    if not isinstance(chain, list) or not 1 <= len(chain) <= 4:
        raise Bad("the registration's chain must list 1 to 4 certificates, leaf first")
    try:
        certificates = [x509.load_der_x509_certificate(_b64(c, "a certificate")) for c in chain]
    except ValueError as exc:
        raise Bad(f"a certificate cannot be read: {exc}") from None
    leaf = certificates[0]
    at = _time(registered_at, "the registration time")
    try:
        built = store.verify_chain(leaf, certificates[1:], at)
    except CryptoError as exc:
        card = _card_chain(card_stores or {}, leaf, certificates[1:], at)
        if card is None:
            raise Bad(f"the certificate was not valid when the credential was registered ({registered_at}): {exc}") from None
        anchor, built = card
        signer = _enrolled_employee(enrollments or {}, leaf, anchor, at, employee)
        if enrollments[certificate_fingerprint(leaf)]["via"] == ATTESTED_BY_CLIENT_CERTIFICATE:  # type: ignore[index]
            word.append(WORD_ENROLLED)
        try:
            check_card_usage(leaf)
        except CryptoError as usage:
            raise Bad(str(usage)) from None
    else:
        _check_usage(leaf)
        try:
            signer = employee_id_of(leaf)
        except (CryptoError, ValueError) as not_employee:
            raise Bad(f"not an employee certificate: {not_employee}") from None
        if signer != employee:
            raise Bad(f"the registration is signed by {signer}'s certificate, but the roll gives the credential to {employee}")
    _check_revoked_at(built, crls, at, "the credential was registered", after_event=after_events)
    try:
        check_key(leaf.public_key())
    except (CryptoError, ValueError) as weak:
        raise Bad(f"not an employee certificate: {weak}") from None
    if "attested" in doc:
        word.append(WORD_ATTESTED)
        return certificate_fingerprint(leaf), tuple(word)
    signature = _hex(doc["signature"], "the registration's signature")
    try:
        verify_registration(leaf, signature, election_id=election_id, credential_pub=bytes.fromhex(credential))
    except CryptoError as exc:
        raise Bad(f"{exc} ({signer})") from None
    return certificate_fingerprint(leaf), tuple(word)


def _card_chain(
    card_stores: Mapping[str, TrustStore], leaf: x509.Certificate, intermediates: Sequence[x509.Certificate], at: datetime
) -> tuple[str, tuple[x509.Certificate, ...]] | None:
    """The anchor of ``auditors/enrollments.json`` the chain builds to at ``at``, and the built chain."""
    for name, card_store in card_stores.items():
        try:
            return name, card_store.verify_chain(leaf, intermediates, at, require_san=False)
        except CryptoError:
            continue
    return None


def _enrolled_employee(enrollments: Mapping[str, dict], leaf: x509.Certificate, anchor: str, at: datetime, employee: str) -> str:
    """The employee a card certificate was linked to at ``at``: its enrollment
    verified, is under ``anchor``, names ``employee``, came before ``at`` and
    was not revoked by then."""
    fingerprint = certificate_fingerprint(leaf)
    link = enrollments.get(fingerprint)
    if link is None:
        raise Bad(f"the card certificate {_short(fingerprint)} names no employee and has no enrollment in {F.ENROLLMENTS}")
    if link["error"]:
        raise Bad(f"the card's enrollment does not verify: {link['error']}")
    if link["anchor"] != anchor:
        raise Bad(f"the card's enrollment says trust anchor {link['anchor']!r}, but its chain builds to {anchor!r}")
    if link["employee_id"] != employee:
        raise Bad(f"the card is enrolled for {link['employee_id']}, but the roll gives the credential to {employee}")
    if link["enrolled_at"] > at + CLOCK_TOLERANCE:
        raise Bad(f"the card was enrolled ({link['enrolled_at']:%Y-%m-%d %H:%M:%S}) only after the credential was registered")
    if link["revoked_at"] is not None and link["revoked_at"] <= at:
        raise Bad(f"the card's enrollment was revoked ({link['revoked_at']:%Y-%m-%d %H:%M:%S}) before the credential was registered")
    return employee


ENROLLMENT_KEYS = {"fingerprint", "employee_id", "anchor", "chain", "proof", "enrolled_at", "revoked_at"}


def _check_enrollment(
    doc: object, card_stores: Mapping[str, TrustStore], crls: list, after_events: bool
) -> tuple[str, dict]:
    """One enrollment of ``auditors/enrollments.json``: its card certificate
    (chain as the card sent it) builds to the anchor it names at the enrollment
    time and was not revoked then, and, with a card-signed proof, the
    enrollment token's certificate is that card's, its key signed the token,
    the token names the same employee, and the enrollment happened within the
    token's lifetime. Returns the fingerprint and what registrations need
    (times as datetimes, ``error`` None); raises Bad."""
    doc = _obj(doc, ENROLLMENT_KEYS, "an enrollment")
    fingerprint = _hex(doc["fingerprint"], "its fingerprint", 32).hex()
    employee, anchor = doc["employee_id"], doc["anchor"]
    if not is_valid_employee_id(employee):
        raise Bad(f"{_short(str(employee))!r} is not an employee id")
    if anchor not in card_stores:
        raise Bad(f"trust anchor {_short(str(anchor))!r} is not among the anchors of {F.ENROLLMENTS}")
    chain = doc["chain"]
    if not isinstance(chain, list) or not 1 <= len(chain) <= 4:
        raise Bad("the chain must list 1 to 4 certificates, leaf first")
    try:
        certificates = [x509.load_der_x509_certificate(_b64(c, "a certificate")) for c in chain]
    except ValueError as exc:
        raise Bad(f"a certificate cannot be read: {exc}") from None
    leaf = certificates[0]
    if certificate_fingerprint(leaf) != fingerprint:
        raise Bad("the fingerprint is not the SHA-256 of the card certificate")
    enrolled_at = _time(doc["enrolled_at"], "enrolled_at")
    revoked_at = None if doc["revoked_at"] is None else _time(doc["revoked_at"], "revoked_at")
    if revoked_at is not None and revoked_at < enrolled_at:
        raise Bad("it was revoked before it was made")
    try:
        built = card_stores[anchor].verify_chain(leaf, certificates[1:], enrolled_at, require_san=False)
        check_card_usage(leaf)
    except CryptoError as exc:
        raise Bad(f"the card certificate was not valid when it was enrolled: {exc}") from None
    _check_revoked_at(built, crls, enrolled_at, "the card was enrolled", after_event=after_events)
    proof = doc["proof"]
    if isinstance(proof, dict) and set(proof) == {"via"}:
        if proof["via"] != ATTESTED_BY_CLIENT_CERTIFICATE:
            raise Bad(f"its proof says via {_short(str(proof['via']))!r}; only {ATTESTED_BY_CLIENT_CERTIFICATE!r} is known")
        via = ATTESTED_BY_CLIENT_CERTIFICATE
    else:
        proof = _obj(proof, {"token"}, "its proof")
        try:
            claim = read_enrollment_token(proof["token"])
        except CryptoError as exc:
            raise Bad(f"the enrollment token the card signed does not verify: {exc}") from None
        if [c.public_bytes(Encoding.DER) for c in claim.chain] != [c.public_bytes(Encoding.DER) for c in certificates]:
            raise Bad("the enrollment token was signed with another certificate chain than the enrolled card's")
        if claim.employee_id != employee:
            raise Bad(f"the card signed an enrollment for {claim.employee_id}, but the link names {employee}")
        moment = enrolled_at.timestamp()
        if not claim.iat - TOKEN_SKEW_S <= moment < claim.exp + TOKEN_SKEW_S:
            raise Bad("the enrollment was not made within the lifetime of the token the card signed")
        via = "card"
    return fingerprint, {
        "employee_id": employee, "anchor": anchor, "enrolled_at": enrolled_at, "revoked_at": revoked_at,
        "via": via, "error": None,
    }


def _check_usage(leaf: x509.Certificate) -> None:
    """digitalSignature and clientAuth, as at login (the chain verifier checks neither)."""
    try:
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (x509.ExtensionNotFound, ValueError) as exc:
        raise Bad(f"the certificate lacks key usage or extended key usage: {exc}") from None
    if not usage.digital_signature or ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
        raise Bad("the certificate is not for digital signatures and client authentication")


#: (CRL, issuer certificate) -> whether the issuer's key signed the CRL: every
#: ballot's chain meets the same few CRLs, and a signature check costs more
#: than the rest of a revocation check.
_CRL_SIGNATURES: dict[tuple[bytes, bytes], bool] = {}


def _signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    key = (crl.fingerprint(hashes.SHA256()), issuer.fingerprint(hashes.SHA256()))
    if key not in _CRL_SIGNATURES:
        _CRL_SIGNATURES[key] = crl.is_signature_valid(issuer.public_key())
    return _CRL_SIGNATURES[key]


_UNSUPPORTED_CRL_EXTENSIONS = (ExtensionOID.ISSUING_DISTRIBUTION_POINT, ExtensionOID.DELTA_CRL_INDICATOR)


def _check_revoked_at(
    chain: Sequence[x509.Certificate], crls: list, at: datetime, event: str = "the ballot was cast", *, after_event: bool = True
) -> None:
    """Revocation *at cast time* (or at the time of ``event``), from CRLs issued after it. Unlike a login,
    which needs a CRL current now, an audit long after the election needs a
    CRL that was issued after the ballot: any revocation dated up to the cast
    is then on it. Times are compared to the second (X.509's precision),
    conservatively: a revocation in the same second as the cast counts.

    ``after_event=False`` (a trustee about to decrypt right after closing,
    before the CA published its next CRL) accepts instead a CRL current now,
    as a login does; the auditors' sign-off keeps the strict rule."""
    at = at.replace(microsecond=0)
    for certificate, issuer in itertools.pairwise(chain):
        name = issuer.subject.rfc4514_string()
        signed = [crl for crl in crls if crl.issuer == issuer.subject and _signed_by(crl, issuer)]
        if not signed:
            raise Bad(f"no CRL signed by {name}: revocation cannot be checked")
        for crl in signed:
            for extension in crl.extensions:
                if extension.oid in _UNSUPPORTED_CRL_EXTENSIONS or (
                    extension.critical and isinstance(extension.value, x509.UnrecognizedExtension)
                ):
                    raise Bad(f"the CRL from {name} is partial or delta ({extension.oid.dotted_string})")
        newest = max(signed, key=lambda crl: crl.last_update_utc)
        if not after_event:
            if newest.next_update_utc is None or newest.next_update_utc <= datetime.now(UTC):
                raise Bad(f"the newest CRL from {name} is out of date (nextUpdate {newest.next_update_utc}); publish a new CRL")
        elif newest.last_update_utc < at:
            raise Bad(
                f"the newest CRL from {name} (thisUpdate {newest.last_update_utc:%Y-%m-%d %H:%M:%S}) predates the "
                f"time {event} ({at:%Y-%m-%d %H:%M:%S}); export the record with a CRL issued after voting closed"
            )
        for crl in signed:
            entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
            if entry is not None and entry.revocation_date_utc <= at:
                raise Bad(
                    f"the certificate {certificate.subject.rfc4514_string()} was revoked on "
                    f"{entry.revocation_date_utc:%Y-%m-%d %H:%M:%S}, before {event}"
                )


# --- the verifier ---------------------------------------------------------------------------------


class _Verifier:
    def __init__(
        self,
        files: Mapping[str, bytes],
        *,
        server_key: bytes | None,
        workers: int | None,
        progress: Progress | None,
        crls_after_events: bool = True,
        trust_anchors: Sequence[x509.Certificate] | None = None,
    ) -> None:
        self.files = files
        self.crls_after_events = crls_after_events
        self.pinned_key = server_key
        self.pinned_roots = None if trust_anchors is None else {c.public_bytes(Encoding.DER) for c in trust_anchors}
        """the DER of the roots the reader pinned: every anchor of the auditors' part must be one"""
        self.attested = 0
        self.workers_wanted = workers
        self.progress = progress or (lambda stage, done, total: None)
        self.results = {n: CheckResult(n, *CHECKS[n]) for n in CHECKS}
        # What the checks establish for the ones after them.
        self.entries: list[dict | None] = []
        self.lines: list[bytes] = []
        self.times: list[datetime | None] = []
        self.election_id: str | None = None
        self.manifest: Manifest | None = None
        self.manifest_doc: dict | None = None
        self.params: threshold.CeremonyParameters | None = None
        self.trustee_ids: tuple[str, ...] | None = None
        self.policy: str | None = None
        self.server_key: bytes | None = None
        self.joint_key: Point | None = None
        self.fingerprint: bytes | None = None
        self.announcements: list[threshold.Announcement] | None = None
        self.ballots: list[_Ballot] = []
        self.registrations: dict[str, int] = {}
        self.warnings: list[str] = []
        """registered credential (hex) -> the index of its credential-registered entry"""
        self.counted: list[_Ballot] = []
        self.aggregate: list[Ciphertext] | None = None
        self.aggregate_count: int | None = None
        self.valid_partials: dict[int, tuple[int, threshold.PartialDecryption]] = {}
        self.ballots_view: object = UNUSABLE
        self.recomputed: dict[int, str | None] = {}
        self.sums: list[Point] | None = None
        self.summed = 0
        self.unreadable_counted: list[int] = []
        self.log: merkle.MemoryLog | None = None
        """the board's Merkle tree, as far as check 7 built it"""
        self.pool: ProcessPoolExecutor | None = None
        self.workers = 1

    # -- helpers ------------------------------------------------------------------------

    def check(self, number: int) -> CheckResult:
        return self.results[number]

    def load(self, name: str, result: CheckResult) -> object:
        """A JSON file of the record, or UNUSABLE after recording why."""
        data = self.files.get(name)
        if data is None:
            result.fail(f"{name} is missing from the record")
            return UNUSABLE
        try:
            return strict_json(data, name)
        except Bad as exc:
            result.fail(str(exc))
            return UNUSABLE

    def compare_view(self, name: str, expected: object, result: CheckResult, source: str) -> None:
        """A view file must say exactly what the board says."""
        view = self.load(name, result)
        if view is not UNUSABLE and not _same(view, expected):
            result.fail(f"{name} differs from {source}")

    def of_kind(self, kind: str) -> list[dict]:
        return [e for e in self.entries if e is not None and e["kind"] == kind]

    def timed(self, number: int, work: Callable[[], None]) -> None:
        """Run one check's work; whatever a hostile record makes it raise is a
        failure of that check, never a crash of the verifier."""
        start = time.perf_counter()
        try:
            work()
        except Exception as exc:  # noqa: BLE001
            self.results[number].fail(f"the check could not finish: {type(exc).__name__}: {exc}")
        finally:
            self.results[number].seconds += time.perf_counter() - start

    # -- the run ----------------------------------------------------------------------------

    def run(self) -> Report:
        start = time.perf_counter()
        self.timed(7, self.parse_board)
        self.timed(1, self.check_parameters)
        self.timed(2, self.check_ceremony)
        self.timed(7, self.check_board)
        self.timed(6, self.check_revote)
        self.timed(5, self.collect_registrations)
        eligibility = self.eligibility_context()
        try:
            self.start_workers(eligibility)
            self.timed(3, self.check_ballots)
            self.timed(4, self.check_tracking_codes)
            self.timed(5, lambda: self.check_eligibility(eligibility))
        finally:
            if self.pool is not None:
                self.pool.shutdown()
        self.timed(8, self.check_aggregate)
        self.timed(9, self.check_partial_decryptions)
        self.timed(10, self.check_result)
        self.timed(11, self.check_audits)
        self.timed(12, self.check_witnesses)
        return Report(
            election_id=self.election_id,
            stage=self.stage(),
            board_size=len(self.lines),
            ballots=len(self.ballots),
            counted=len(self.counted),
            auditors_part=F.has_auditors_part(self.files),
            checks=[self.results[n] for n in sorted(self.results)],
            seconds=time.perf_counter() - start,
            workers=self.workers,
            warnings=self.warnings,
            attested_registrations=self.attested,
            anchors_pinned=self.pinned_roots is not None and F.has_auditors_part(self.files),
        )

    def stage(self) -> str:
        kinds = {e["kind"] for e in self.entries if e is not None}
        for kind, stage in (
            ("election-published", "published"),
            ("result", "tallied"),
            ("election-closed", "closed"),
            ("election-opened", "open"),
            ("joint-key", "keys_ready"),
            ("trustee-announcement", "key_ceremony"),
            ("election-created", "created"),
        ):
            if kind in kinds:
                return stage
        return "empty"

    def start_workers(self, eligibility: tuple | None) -> None:
        wanted = self.workers_wanted
        if wanted is None:
            wanted = (os.cpu_count() or 1) if len(self.ballots) >= PARALLEL_FROM else 1
        ballot_context = None
        if self.manifest_doc is not None and self.joint_key is not None and self.fingerprint is not None:
            ballot_context = (self.manifest_doc, self.joint_key.hex(), self.fingerprint.hex())
        if wanted <= 1:
            _init_worker(ballot_context, eligibility)
            return
        self.workers = wanted
        self.pool = ProcessPoolExecutor(
            max_workers=wanted,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(ballot_context, eligibility),
        )

    def run_chunks(self, stage: str, function: Callable, items: list, on_result: Callable) -> float:
        """Apply ``function`` to chunks of ``items`` (in the pool when there is
        one); ``on_result`` gets each chunk's result in completion order.
        Returns the CPU seconds the work took."""
        chunks = [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]
        done, cpu = 0, 0.0
        self.progress(stage, 0, len(items))
        if self.pool is None:
            outcomes: Iterable = (function(chunk) for chunk in chunks)
            sized = zip(chunks, outcomes)
        else:
            futures = {self.pool.submit(function, chunk): chunk for chunk in chunks}
            sized = ((futures[f], f.result()) for f in as_completed(futures))
        for chunk, outcome in sized:
            cpu += outcome[-1]
            on_result(outcome)
            done += len(chunk)
            self.progress(stage, done, len(items))
        return cpu

    # -- check 7, part 1: reading the board (every other check stands on it) -------------------

    def parse_board(self) -> None:
        c = self.check(7)
        data = self.files.get(F.BOARD)
        if data is None:
            c.fail(f"{F.BOARD} is missing from the record")
            return
        if not data:
            c.fail(f"{F.BOARD} is empty")
            return
        lines = data.split(b"\n")
        if lines[-1] != b"":
            c.fail(f"{F.BOARD} must end with a newline")
        else:
            lines.pop()
        self.lines = lines
        self.times = [None] * len(lines)
        first_id = None
        for index, line in enumerate(lines):
            try:
                entry = strict_json(line, f"entry {index}")
                if canonical_json(entry) != line:
                    raise Bad(f"entry {index} is not in canonical JSON (the exact bytes its leaf hashes)")
                _obj(entry, ENTRY_KEYS, f"entry {index}")
                if entry["index"] != index or isinstance(entry["index"], bool):
                    raise Bad(f"entry {index} says it is entry {entry['index']!r}")
                if first_id is None:
                    first_id = entry["election_id"]
                if not isinstance(entry["election_id"], str) or entry["election_id"] != first_id:
                    raise Bad(f"entry {index} belongs to election {entry['election_id']!r}, not {first_id!r}")
                if entry["kind"] not in ENTRY_KINDS:
                    raise Bad(f"entry {index} has an unknown kind {entry['kind']!r}")
                if not isinstance(entry["body"], dict):
                    raise Bad(f"entry {index}: body must be an object")
                self.times[index] = _time(entry["time"], f"entry {index}: time")
            except (Bad, CryptoError, TypeError) as exc:  # TypeError: e.g. an unhashable kind
                c.fail(str(exc) if not isinstance(exc, TypeError) else f"entry {index} is malformed: {exc}")
                entry = None
            self.entries.append(entry)
        self.election_id = first_id

    # -- check 1 ------------------------------------------------------------------------------

    def check_parameters(self) -> None:
        c = self.check(1)
        record = self.load(F.RECORD, c)
        if record is not UNUSABLE:
            try:
                if not isinstance(record, dict) or record.get("format") != F.FORMAT:
                    raise Bad(f"{F.RECORD}: not a {F.FORMAT}")
                _obj(record, RECORD_KEYS, F.RECORD)
                _time(record["exported_at"], f"{F.RECORD}: exported_at")
                if record["stage"] != self.stage():
                    raise Bad(f"{F.RECORD} says the election is {record['stage']!r}; its board shows {self.stage()!r}")
                if record["auditors_part"] is not F.has_auditors_part(self.files):
                    raise Bad(f"{F.RECORD} says auditors_part is {record['auditors_part']!r}, which the files contradict")
                if record.get("version") != F.VERSION or isinstance(record.get("version"), bool):
                    raise Bad(f"{F.RECORD}: unsupported version {record.get('version')!r} (this verifier reads {F.VERSION})")
                if record.get("election_id") != self.election_id:
                    raise Bad(f"{F.RECORD} names election {record.get('election_id')!r}, the board {self.election_id!r}")
                if record.get("board_size") != len(self.lines) or isinstance(record.get("board_size"), bool):
                    raise Bad(f"{F.RECORD} says the board has {record.get('board_size')!r} entries, it has {len(self.lines)}")
            except Bad as exc:
                c.fail(str(exc))
        first = self.entries[0] if self.entries else None
        if first is None or first["kind"] != "election-created":
            c.fail("the board does not start with an election-created entry")
            return
        try:
            body = _obj(first["body"], CREATED_KEYS, "election-created")
            manifest = Manifest.from_json(body["manifest"])
            n, t = _int(body["trustees"], "trustees", 1), _int(body["threshold"], "threshold", 1)
            claimed = _hex(body["ceremony_fingerprint"], "ceremony_fingerprint", 32)
            params = threshold.CeremonyParameters(n, t, claimed)
            server_key = _hex(body["server_key"], "server_key", 32)
        except (Bad, CryptoError) as exc:
            c.fail(f"election-created (entry 0): {exc}")
            return
        # What the other checks stand on is established; what follows can fail
        # without stopping them.
        self.manifest, self.manifest_doc, self.params, self.server_key = manifest, manifest.document, params, server_key
        policy = manifest.document.get("revote_policy")
        if policy in REVOTE_POLICIES:
            self.policy = policy
        else:
            c.fail(f"election-created (entry 0): the manifest's revote_policy {policy!r} is not one of {REVOTE_POLICIES}")
        if manifest.election_id != self.election_id:
            c.fail(f"election-created (entry 0): the manifest is for election {manifest.election_id!r}, the board for {self.election_id!r}")
        if ceremony_fingerprint(manifest, n, t) != claimed:
            c.fail("election-created (entry 0): the ceremony fingerprint is not SHA-256 of this manifest, n and t")
        if self.pinned_key is not None and server_key != self.pinned_key:
            c.fail("the record's server key is not the one you gave (--server-key): another server signed it")
            self.server_key = self.pinned_key  # the tree heads must carry the pinned key's signatures
        self.check_policy(c, body["trustee_ids"], n, t)
        c.items = 1
        joints = self.of_kind("joint-key")
        if len(joints) > 1:
            c.fail(f"{len(joints)} joint-key entries; there must be one")
        joint_body: dict = {}
        if joints:
            joint_body = joints[0]["body"]
            try:
                body = _obj(joint_body, JOINT_KEY_KEYS, "joint-key")
                joint_key = Point.from_hex(body["joint_key"])
                # The fingerprint every proof must be bound to, whatever the board claims.
                self.joint_key, self.fingerprint = joint_key, election_fingerprint(manifest, joint_key)
                c.items += 1
                if _hex(body["fingerprint"], "fingerprint", 32) != self.fingerprint:
                    raise Bad("the election fingerprint is not SHA-256 of the manifest and the joint key")
            except (Bad, CryptoError) as exc:
                c.fail(f"joint-key (entry {joints[0]['index']}): {exc}")
        # The views: manifest.json and parameters.json say what the board says.
        self.compare_view(F.MANIFEST, manifest.document, c, "the manifest on the board (entry 0)")
        expected = {
            "election_id": manifest.election_id,
            "group": GROUP,
            "trustees": n,
            "trustee_ids": first["body"]["trustee_ids"],
            "threshold": t,
            "ceremony_fingerprint": claimed.hex(),
            "joint_key": joint_body.get("joint_key"),
            "fingerprint": joint_body.get("fingerprint"),
            "revote_policy": policy,
            "server_key": server_key.hex(),
        }
        self.compare_view(F.PARAMETERS, expected, c, "the board's election-created and joint-key entries")

    def check_policy(self, c: CheckResult, trustee_ids: object, n: int, t: int) -> None:
        """The election policy (docs/parts/service-protocol.md): at least two
        trustees must decrypt, the trustees are n distinct employees, and none of
        them acted as an administrator on this board."""
        if t < MIN_THRESHOLD:
            c.fail(f"election-created (entry 0): threshold {t}: at least {MIN_THRESHOLD} trustees must decrypt")
        try:
            if not isinstance(trustee_ids, list) or len(trustee_ids) != n:
                raise Bad(f"trustee_ids must list the {n} trustees' employee ids")
            invalid = [e for e in trustee_ids if not is_valid_employee_id(e)]
            if invalid:
                raise Bad(f"trustee_ids holds {_short(str(invalid[0]))!r}, which is not an employee id")
            if len(set(trustee_ids)) != n:
                raise Bad("trustee_ids names an employee twice: the trustees must be n distinct people")
            self.trustee_ids = tuple(trustee_ids)
        except Bad as exc:
            c.fail(f"election-created (entry 0): {exc}")
        named = {e: i for i, e in enumerate(trustee_ids, start=1) if isinstance(e, str)} if isinstance(trustee_ids, list) else {}
        for entry in self.entries:
            if entry is None or entry["kind"] not in ADMIN_KINDS:
                continue
            by = entry["body"].get("by")
            if isinstance(by, str) and by in named:
                c.fail(f"{entry['kind']} (entry {entry['index']}) is by {by}, who is trustee {named[by]}: a trustee must not administer the election")

    # -- check 2 ------------------------------------------------------------------------------

    def check_ceremony(self) -> None:
        c = self.check(2)
        if self.params is None:
            c.block("needs the parameters of check 1")
            return
        entries = self.of_kind("trustee-announcement")
        joints = self.of_kind("joint-key")
        if not entries and not joints:
            c.skip("the key ceremony has not started")
            return
        trust = self.auditors_trust()
        if trust is None:
            c.note = "the trustees' certificates were not checked against trust anchors: no auditors' part"
        announcements = []
        for entry in entries:
            try:
                fields = {k: v for k, v in entry["body"].items() if k != "signature"}
                announcement = threshold.Announcement.from_json(fields)
            except CryptoError as exc:
                c.fail(f"trustee announcement (entry {entry['index']}): {exc}")
                continue
            announcements.append(announcement)
            self.check_announcement_signature(c, entry, announcement, fields, trust)
        indices = [a.index for a in announcements]
        if len(announcements) == len(entries) and len(set(indices)) == len(indices):
            self.announcements = sorted(announcements, key=lambda a: a.index)
        c.items = len(entries)
        try:
            ordered = threshold.verify_announcements(self.params, announcements)
        except CryptoError as exc:
            c.fail(f"the trustees' announcements: {exc}")
            ordered = None
        public_shares: dict[str, str] = {}
        if ordered is not None:
            public_shares = {str(a.index): threshold.public_share(ordered, a.index).hex() for a in ordered}
        if not joints:
            c.skip("the joint key is not on the board yet")
        elif ordered is not None:
            joint = joints[0]
            late = [e["index"] for e in entries if e["index"] > joint["index"]]
            if late:
                c.fail(f"trustee announcements at entries {late} come after the joint key (entry {joint['index']})")
            body = joint["body"]
            try:
                if body.get("joint_key") != threshold.joint_public_key(ordered).hex():
                    raise Bad("the joint key is not the product of the trustees' first commitments")
                if not _same(body.get("public_shares"), public_shares):
                    raise Bad("the trustees' public shares are not the ones their commitments give")
            except (Bad, CryptoError) as exc:
                c.fail(f"joint-key (entry {joint['index']}): {exc}")
        if joints:
            self.check_endorsements(c, joints[0], trust)
        claimed = joints[0]["body"].get("public_shares") if joints else None
        claimed = claimed if isinstance(claimed, dict) else {}
        expected = [
            {"leaf_index": e["index"], **e["body"], "public_share": claimed.get(str(e["body"].get("index")))}
            for e in entries
        ]
        self.compare_view(F.TRUSTEES, expected, c, "the trustee announcements and the joint key on the board")

    def check_announcement_signature(
        self, c: CheckResult, entry: dict, announcement: threshold.Announcement, fields: dict, trust: tuple[TrustStore, list] | None
    ) -> None:
        """The trustee the election names at this index signed this very
        announcement (its fields without ``signature``) with its certificate
        key: co-trustees send their shares only to such announcements, so a
        server cannot put in one of its own and receive the shares. With the
        auditors' trust anchors, the certificate chains to one of them and was
        not revoked when the announcement went on the board."""
        where = f"trustee announcement (entry {entry['index']})"
        if self.trustee_ids is None:
            c.block("the announcements' signatures need the trustees' employee ids (check 1)")
            return
        index = announcement.index
        if not 1 <= index <= len(self.trustee_ids):
            c.fail(f"{where}: index {index} names no trustee (1..{len(self.trustee_ids)}), so no one's signature can be checked")
            return
        employee_id = self.trustee_ids[index - 1]
        try:
            if "signature" not in entry["body"]:
                raise Bad("the announcement is not signed; every trustee signs its announcement with its certificate")
            self.check_trustee_signature(
                lambda store, at: verify_announcement_signature(
                    entry["body"]["signature"],
                    election_id=self.election_id,
                    announcement=fields,
                    employee_id=employee_id,
                    trust_store=store,
                    now=at,
                ),
                trust,
                self.times[entry["index"]],
                "the trustee announced",
            )
        except (Bad, CryptoError) as exc:
            c.fail(f"{where}: trustee {index} ({employee_id}): {exc}")

    def check_trustee_signature(
        self,
        verify: Callable[[TrustStore | None, datetime | None], Endorsement],
        trust: tuple[TrustStore, list] | None,
        at: datetime | None,
        event: str,
    ) -> None:
        """A trustee's signature (``verify(trust_store, at)``: an endorsement or
        an announcement's) and, with the auditors' trust anchors, its chain at
        the entry's time, as at login: key usage, and unrevoked then."""
        if trust is not None and at is None:
            raise Bad("the entry has no valid time to judge the certificate at (check 7)")
        checked = verify(trust[0] if trust is not None else None, at)
        if trust is not None:
            assert at is not None
            _check_usage(checked.chain[0])
            _check_revoked_at(checked.chain, trust[1], at, event, after_event=self.crls_after_events)

    def check_endorsements(self, c: CheckResult, joint: dict, trust: tuple[TrustStore, list] | None) -> None:
        """Every trustee signed this election's joint key and fingerprint with its
        own certificate (voters accept the key only so). With the auditors' trust
        anchors, each certificate also chains to one of them and was not revoked
        when the joint key was published."""
        where = f"joint-key (entry {joint['index']})"
        assert self.params is not None
        n = self.params.n
        if self.trustee_ids is None:
            c.block("the endorsements need the trustees' employee ids (check 1)")
            return
        body = joint["body"]
        endorsements = body.get("endorsements")
        if not isinstance(endorsements, list) or len(endorsements) != n:
            c.fail(f"{where}: endorsements must list exactly one endorsement per trustee ({n}), in index order")
            return
        try:
            joint_key = _hex(body.get("joint_key"), "joint_key", 32)
            fingerprint = _hex(body.get("fingerprint"), "fingerprint", 32)
        except Bad as exc:
            c.fail(f"{where}: {exc}")
            return
        at = self.times[joint["index"]]
        for position, doc in enumerate(endorsements, start=1):
            employee_id = self.trustee_ids[position - 1]
            try:
                if not isinstance(doc, dict) or doc.get("index") != position or isinstance(doc.get("index"), bool):
                    raise Bad(f"endorsement {position} must be {{index: {position}, chain, signature}}, in index order")
                self.check_trustee_signature(
                    lambda store, now, doc=doc, employee_id=employee_id: verify_endorsement(
                        {k: v for k, v in doc.items() if k != "index"},
                        election_id=self.election_id,
                        joint_key=joint_key,
                        fingerprint=fingerprint,
                        employee_id=employee_id,
                        trust_store=store,
                        now=now,
                    ),
                    trust,
                    at,
                    "the trustee endorsed the joint key",
                )
            except (Bad, CryptoError) as exc:
                c.fail(f"{where}: trustee {position} ({employee_id}): {exc}")
        c.items += n

    def auditors_trust(self) -> tuple[TrustStore, list] | None:
        """The trust anchors and CRLs of the auditors' part, or None without them
        (a broken ``auditors/trust.json`` is check 5's to report)."""
        data = self.files.get(F.TRUST)
        if data is None:
            return None
        try:
            trust = _obj(strict_json(data, F.TRUST), {"trust_anchors", "crls"}, F.TRUST)
            store = TrustStore.from_der([_b64(a, "a trust anchor") for a in trust["trust_anchors"]])
            crls = [x509.load_der_x509_crl(_b64(a, "a CRL")) for a in trust["crls"]]
        except (Bad, CryptoError, ValueError, TypeError):
            return None
        return store, crls

    # -- check 7, part 2: the tree heads ------------------------------------------------------------

    def check_board(self) -> None:
        c = self.check(7)
        docs = self.load(F.TREE_HEADS, c)
        if docs is UNUSABLE:
            return
        if not isinstance(docs, list) or not docs:
            c.fail(f"{F.TREE_HEADS} must be a non-empty list of signed tree heads")
            return
        heads: list[merkle.SignedTreeHead] = []
        for number, doc in enumerate(docs):
            try:
                heads.append(merkle.SignedTreeHead.from_json(doc))
            except CryptoError as exc:
                c.fail(f"tree head {number}: {exc}")
        sizes = [h.head.size for h in heads]
        if any(b <= a for a, b in itertools.pairwise(sizes)):
            c.fail("the tree heads are not in strictly increasing order of size (a repeated size is a fork)")
        if sizes and sizes[-1] != len(self.lines):
            c.fail(f"the newest signed tree head covers {sizes[-1]} entries; the board has {len(self.lines)}")
        key = self.server_key
        if key is None:
            c.block("needs the server key (check 1) to check the tree heads' signatures")
        self.progress("tree heads", 0, len(heads))
        for number, sth in enumerate(heads):
            if sth.head.log_id != self.election_id:
                c.fail(f"tree head of size {sth.head.size} is for log {sth.head.log_id!r}")
            if key is not None:
                try:
                    merkle.verify_tree_head(key, sth)
                except CryptoError as exc:
                    c.fail(f"tree head of size {sth.head.size}: {exc}")
            if number % 1000 == 999:
                self.progress("tree heads", number + 1, len(heads))
        self.progress("tree heads", len(heads), len(heads))
        # Every head's root against the root recomputed from the board's leaves.
        log = merkle.MemoryLog()
        for sth in sorted(heads, key=lambda h: h.head.size):
            size = sth.head.size
            if size > len(self.lines):
                c.fail(f"tree head of size {size} is beyond the board's {len(self.lines)} entries")
                continue
            while log.size < size:
                log.append(self.lines[log.size])
            if log.root() != sth.head.root:
                c.fail(f"tree head of size {size}: its root is not the Merkle root of the board's first {size} entries")
        self.log = log
        # And pairwise, as a receipt holder checks them: each head extends the one before.
        ordered = sorted((h for h in heads if h.head.size <= len(self.lines)), key=lambda h: h.head.size)
        for old, new in itertools.pairwise(ordered):
            if old.head.size == 0 or old.head.size == new.head.size:
                continue
            proof = log.consistency_proof(old.head.size, new.head.size)
            try:
                merkle.verify_consistency(old.head.size, new.head.size, old.head.root, new.head.root, proof)
            except CryptoError as exc:
                c.fail(f"tree heads of sizes {old.head.size} and {new.head.size} are not consistent: {exc}")
        # The entries' times are the cast times check 5 judges certificates by:
        # the board's clock must not run backwards (beyond the skew between
        # the clocks of several app servers).
        latest: tuple[datetime, int] | None = None
        for index, moment in enumerate(self.times):
            if moment is None:
                continue
            if latest is not None and moment < latest[0] - CLOCK_TOLERANCE:
                c.fail(f"entry {index} is dated {moment.isoformat()}, before entry {latest[1]} ({latest[0].isoformat()}): the board's clock ran backwards")
            if latest is None or moment > latest[0]:
                latest = (moment, index)
        self.check_schedule(c)
        c.items = len(self.lines) + len(heads)

    def check_schedule(self, c: CheckResult) -> None:
        """Ballots and audits only within the manifest's schedule, as the server
        enforces it (with the clock skew allowed above: an entry's time is read
        a moment after the server's check, perhaps on another app server)."""
        schedule = (self.manifest_doc or {}).get("schedule") or {}
        try:
            opens = _time(schedule["opens_at"], "schedule.opens_at") if schedule.get("opens_at") else None
            closes = _time(schedule["closes_at"], "schedule.closes_at") if schedule.get("closes_at") else None
        except Bad as exc:
            c.fail(f"the manifest's {exc}")
            return
        for index, (entry, moment) in enumerate(zip(self.entries, self.times)):
            if moment is None or entry is None or entry["kind"] not in ("ballot", "ballot-audited"):
                continue
            if (opens is not None and moment < opens - CLOCK_TOLERANCE) or (closes is not None and moment >= closes + CLOCK_TOLERANCE):
                c.fail(
                    f"entry {index} ({entry['kind']}) is dated {moment.isoformat()}, outside the schedule "
                    f"({schedule.get('opens_at', '…')} to {schedule.get('closes_at', '…')})"
                )

    # -- check 6 (before the ballots: which of them count is needed by check 8) --------------------

    def collect_ballots(self) -> None:
        """The ballot entries in a usable shape (a malformed one fails check 3),
        and ballots.json, the view of them that checks 4 and 6 compare."""
        c3 = self.check(3)
        self.ballots_view = self.load(F.BALLOTS, self.check(4))
        if self.ballots_view is not UNUSABLE and not (
            isinstance(self.ballots_view, list) and all(isinstance(row, dict) for row in self.ballots_view)
        ):
            self.check(4).fail(f"{F.BALLOTS} must be a list of objects, one per ballot")
            self.ballots_view = UNUSABLE
        for entry in self.of_kind("ballot"):
            try:
                body = _obj(entry["body"], {"tracking_code", "credential", "ballot", "signature"}, "ballot entry")
                _hex(body["tracking_code"], "tracking_code", 32)
                _hex(body["credential"], "credential", 32)
                if not isinstance(body["signature"], str) or len(body["signature"]) > 1024:
                    raise Bad("signature must be hex text")
            except Bad as exc:
                c3.fail(f"ballot (entry {entry['index']}): {exc}")
                continue
            self.ballots.append(
                _Ballot(entry["index"], body["tracking_code"], body["credential"], body["signature"], entry["time"], self.lines[entry["index"]])
            )

    def check_revote(self) -> None:
        self.collect_ballots()
        c = self.check(6)
        if self.policy is None:
            c.block("needs the manifest's re-vote policy (check 1)")
            return
        opened = [e["index"] for e in self.of_kind("election-opened")]
        closed = [e["index"] for e in self.of_kind("election-closed")]
        supersessions: list[_Supersession] = []
        for entry in self.of_kind("ballot-superseded"):
            try:
                body = _obj(entry["body"], {"tracking_code", "superseded_by", "credential"}, "ballot-superseded")
                if not all(isinstance(body[k], str) for k in body):
                    raise Bad("tracking codes and credential must be text")
                supersessions.append(_Supersession(entry["index"], body["tracking_code"], body["superseded_by"], body["credential"]))
            except Bad as exc:
                c.fail(f"entry {entry['index']}: {exc}")
        if not self.ballots and not supersessions and not opened:
            c.skip("voting has not opened")
        if len(opened) > 1:
            c.fail(f"the election was opened {len(opened)} times (entries {opened})")
        if len(closed) > 1:
            c.fail(f"the election was closed {len(closed)} times (entries {closed})")
        if opened and (self.of_kind("joint-key") and opened[0] < self.of_kind("joint-key")[0]["index"]):
            c.fail("the election was opened before its joint key was published")
        open_at = opened[0] if opened else None
        close_at = closed[0] if closed else None
        for item, what in [(b, "ballot") for b in self.ballots] + [(s, "supersession") for s in supersessions]:
            if open_at is None or item.index < open_at:
                c.fail(f"{what} at entry {item.index} comes before the election opened")
            elif close_at is not None and item.index > close_at:
                c.fail(f"{what} at entry {item.index} comes after the election closed (entry {close_at})")
        by_code: dict[str, _Ballot] = {}
        for ballot in self.ballots:
            by_code.setdefault(ballot.tracking_code, ballot)
        # The re-vote policy is keyed by the voting credential: one per registered employee.
        by_voter: dict[str, list[_Ballot]] = defaultdict(list)
        for ballot in self.ballots:
            by_voter[ballot.credential].append(ballot)
        claimed: dict[str, _Supersession] = {}
        for s in supersessions:
            if s.tracking_code in claimed:
                c.fail(f"entry {s.index} supersedes ballot {_short(s.tracking_code)} a second time")
            claimed.setdefault(s.tracking_code, s)
        if self.policy == "single":
            for s in supersessions:
                c.fail(f"entry {s.index} supersedes a ballot, but the policy is one ballot per voter")
            for voter, ballots in by_voter.items():
                if len(ballots) > 1:
                    c.fail(f"credential {_short(voter)} has {len(ballots)} ballots (entries {[b.index for b in ballots]}) under the one-ballot policy")
        else:
            for voter, ballots in by_voter.items():
                for earlier, later in itertools.pairwise(ballots):
                    s = claimed.get(earlier.tracking_code)
                    where = f"credential {_short(voter)}'s ballot at entry {earlier.index}"
                    if s is None:
                        c.fail(f"{where} was followed by entry {later.index} but never marked superseded")
                    elif s.superseded_by != later.tracking_code:
                        c.fail(f"{where} is marked superseded by {_short(s.superseded_by)}, not by their next ballot (entry {later.index})")
                    elif s.index < later.index:
                        c.fail(f"{where} is marked superseded (entry {s.index}) before its replacement was cast")
                    elif s.credential != voter:
                        c.fail(f"entry {s.index} names credential {_short(s.credential)}, the ballots are {_short(voter)}'s")
            for code, s in claimed.items():
                ballot = by_code.get(code)
                if ballot is None:
                    c.fail(f"entry {s.index} supersedes {_short(code)}, which is not a ballot on the board")
                elif by_voter[ballot.credential][-1] is ballot:
                    c.fail(f"entry {s.index} supersedes credential {_short(ballot.credential)}'s last ballot (entry {ballot.index})")
        self.counted = [b for b in self.ballots if b.tracking_code not in claimed]
        c.items = len(self.ballots) + len(supersessions)
        # The status columns of ballots.json.
        view = self.ballots_view
        if view is UNUSABLE:
            c.fail(f"{F.BALLOTS} is unusable (see check 4)")
            return
        expected = [
            {
                "counted": b.tracking_code not in claimed,
                "superseded_by": claimed[b.tracking_code].superseded_by if b.tracking_code in claimed else None,
                "superseded_at": claimed[b.tracking_code].index if b.tracking_code in claimed else None,
            }
            for b in self.ballots
        ]
        try:
            shown = [{k: row[k] for k in ("counted", "superseded_by", "superseded_at")} for row in view]
        except (TypeError, KeyError):
            c.fail(f"{F.BALLOTS} does not list each ballot's status (counted, superseded_by, superseded_at)")
            return
        if not _same(shown, expected):
            c.fail(f"{F.BALLOTS} shows other ballots as counted or superseded than the board does")

    # -- checks 3 and 4 --------------------------------------------------------------------------

    def check_ballots(self) -> None:
        c3 = self.check(3)
        if self.manifest is None or self.fingerprint is None:
            if self.manifest is not None and not self.of_kind("ballot"):
                c3.skip("the key ceremony has not finished: no ballots yet")
            else:
                c3.block("needs the manifest and the election fingerprint (check 1)")
            return
        counted = {b.index for b in self.counted}
        items = [(b.index, b.line, b.index in counted) for b in self.ballots]
        recomputed = self.recomputed
        sums: list[list[Point]] = []

        def collect(outcome: tuple) -> None:
            results, chunk_sums, summed, unreadable, _ = outcome
            for index, error, code in results:
                if error:
                    c3.fail(f"ballot at entry {index}: {error}")
                recomputed[index] = code
            sums.append([Point.from_hex(h, allow_identity=True) for h in chunk_sums])
            self.summed += summed
            self.unreadable_counted += unreadable

        c3.worker_seconds = self.run_chunks("ballot proofs", _verify_ballots, items, collect)
        c3.items = len(items)
        width = sum(len(q.option_ids) for q in self.manifest.questions)
        self.sums = sum_columns(sums, 2 * width) if sums else None
        if not self.ballots:
            c3.note = "no ballots were cast"

    def check_tracking_codes(self) -> None:
        c = self.check(4)
        ready = self.check(3).status not in (SKIP, BLOCKED)
        seen: dict[str, int] = {}
        for ballot in self.ballots:
            code = self.recomputed.get(ballot.index)
            if not ready:
                pass
            elif code is None:
                c.fail(f"ballot at entry {ballot.index}: unreadable, so its tracking code cannot be recomputed")
            elif code != ballot.tracking_code:
                c.fail(f"ballot at entry {ballot.index}: tracking code {_short(ballot.tracking_code)} is not the hash of the ballot ({_short(code)})")
            if ballot.tracking_code in seen:
                c.fail(f"ballot at entry {ballot.index} repeats the tracking code of entry {seen[ballot.tracking_code]}")
            seen.setdefault(ballot.tracking_code, ballot.index)
        c.items = len(self.ballots)
        view = self.ballots_view
        if view is not UNUSABLE:
            expected = [
                {"leaf_index": b.index, "tracking_code": b.tracking_code, "credential": b.credential, "signature": b.signature, "cast_at": b.time}
                for b in self.ballots
            ]
            keys = ("leaf_index", "tracking_code", "credential", "signature", "cast_at")
            status = ("counted", "superseded_by", "superseded_at")
            try:
                if any(set(row) != set(keys + status) for row in view):
                    raise TypeError
                shown = [{k: row[k] for k in keys} for row in view]
            except (TypeError, KeyError, AttributeError):
                c.fail(f"{F.BALLOTS} must list, per ballot, exactly {sorted(keys + status)}")
                return
            if not _same(shown, expected):
                c.fail(f"{F.BALLOTS} differs from the ballots on the board (index, tracking code, credential, signature, time)")
        if not ready:
            (c.skip if self.check(3).status == SKIP else c.block)("the ballots could not be recomputed (check 3)")

    # -- check 5 ---------------------------------------------------------------------------------

    def collect_registrations(self) -> None:
        """The ``credential-registered`` entries: credential -> its entry's index.
        A credential registered twice fails (registrations are distinct)."""
        c = self.check(5)
        for entry in self.of_kind("credential-registered"):
            where = f"credential-registered (entry {entry['index']})"
            try:
                body = _obj(entry["body"], {"credential"}, "credential-registered")
                _hex(body["credential"], "credential", 32)
                parse_voting_credential(body["credential"])
            except (Bad, CryptoError) as exc:
                c.fail(f"{where}: {exc}")
                continue
            credential = body["credential"]
            if credential in self.registrations:
                c.fail(f"{where}: credential {_short(credential)} is registered a second time (first at entry {self.registrations[credential]})")
                continue
            self.registrations[credential] = entry["index"]

    def roll_size(self, c: CheckResult | None = None) -> int | None:
        """``roll_size`` of the ``election-opened`` entry (None, and a failure of ``c``, if it has none)."""
        opened = self.of_kind("election-opened")
        if not opened:
            return None
        try:
            return _int(opened[0]["body"].get("roll_size"), "roll_size")
        except Bad as exc:
            if c is not None:
                c.fail(f"election-opened (entry {opened[0]['index']}): {exc} (the number of voters on the frozen roll)")
            return None

    def eligibility_context(self) -> tuple | None:
        """The auditors' trust anchors and CRLs, or None (no auditors' part, or a
        broken one: check 5 then fails)."""
        c = self.check(5)
        start = time.perf_counter()
        try:
            present = [name for name in F.AUDITOR_FILES if name in self.files]
            if not present:
                return None
            missing = [name for name in F.REQUIRED_AUDITOR_FILES if name not in self.files]
            if missing:
                c.fail(f"the auditors' part is incomplete: {', '.join(missing)} missing")
                return None
            if self.election_id is None:
                c.block("needs the board (check 7)")
                return None
            trust = self.load(F.TRUST, c)
            if trust is UNUSABLE:
                return None
            try:
                trust = _obj(trust, {"trust_anchors", "crls"}, F.TRUST)
                anchors = [_b64(a, "a trust anchor") for a in trust["trust_anchors"]]
                crls = [_b64(a, "a CRL") for a in trust["crls"]]
                TrustStore.from_der(anchors)
                for der in crls:
                    x509.load_der_x509_crl(der)
            except (Bad, CryptoError, ValueError, TypeError) as exc:
                c.fail(f"{F.TRUST}: {exc}")
                return None
            card_anchors, enrollments = self.enrollments(c, [x509.load_der_x509_crl(der) for der in crls])
            if self.pinned_roots is not None:
                for anchor in _unpinned(anchors, card_anchors, self.pinned_roots):
                    c.fail(f"{anchor} is not among the roots you pinned (--trust-anchor): it is the server's word")
            return (anchors, crls, self.election_id, self.crls_after_events, card_anchors, enrollments)
        finally:
            c.seconds += time.perf_counter() - start

    def enrollments(self, c: CheckResult, crls: list) -> tuple[dict[str, list[bytes]], dict[str, dict]]:
        """The anchors whose certificates name no employee ({name: [root DER]})
        and every enrollment ({fingerprint: what ``_registered`` needs}) of
        ``auditors/enrollments.json``; each enrollment is checked here
        (``_check_enrollment``), and a failing one fails check 5 and every
        registration that rests on it. Without the file (a record from before
        card enrollment): none."""
        if F.ENROLLMENTS not in self.files:
            return {}, {}
        doc = self.load(F.ENROLLMENTS, c)
        if doc is UNUSABLE:
            return {}, {}
        card_anchors: dict[str, list[bytes]] = {}
        try:
            doc = _obj(doc, {"anchors", "enrollments"}, F.ENROLLMENTS)
            if not isinstance(doc["anchors"], list) or not isinstance(doc["enrollments"], list):
                raise Bad("anchors and enrollments must be lists")
            for anchor in doc["anchors"]:
                anchor = _obj(anchor, {"name", "certificates"}, "an anchor")
                name = anchor["name"]
                if not isinstance(name, str) or not name or name in card_anchors:
                    raise Bad(f"anchor name {_short(str(name))!r} is empty or repeated")
                if not isinstance(anchor["certificates"], list):
                    raise Bad(f"anchor {name}: certificates must be a list")
                card_anchors[name] = [_b64(a, f"a certificate of anchor {name}") for a in anchor["certificates"]]
                TrustStore.from_der(card_anchors[name])
        except (Bad, CryptoError, ValueError, TypeError) as exc:
            c.fail(f"{F.ENROLLMENTS}: {exc}")
            return {}, {}
        stores = {name: TrustStore.from_der(ders) for name, ders in card_anchors.items()}
        enrollments: dict[str, dict] = {}
        for number, entry in enumerate(doc["enrollments"]):
            fingerprint = entry.get("fingerprint") if isinstance(entry, dict) else None
            employee = entry.get("employee_id") if isinstance(entry, dict) else None
            where = f"{F.ENROLLMENTS}: enrollment {number} (card {_short(str(fingerprint))}, {employee})"
            try:
                fingerprint, link = _check_enrollment(entry, stores, crls, self.crls_after_events)
            except Bad as exc:
                c.fail(f"{where}: {exc}")
                if isinstance(fingerprint, str) and fingerprint not in enrollments:
                    enrollments[fingerprint] = {"error": str(exc), "via": None}
                continue
            except Exception as exc:  # noqa: BLE001 - hostile input
                c.fail(f"{where}: {type(exc).__name__}: {exc}")
                continue
            if fingerprint in enrollments:
                c.fail(f"{where}: the card is enrolled twice")
                enrollments[fingerprint] = {"error": "the card is enrolled twice", "via": None}
                continue
            enrollments[fingerprint] = link
        c.items += len(doc["enrollments"])
        return card_anchors, enrollments

    def check_eligibility(self, context: tuple | None) -> None:
        c = self.check(5)
        self.check_credentials(c)
        if context is not None:
            self.check_registrations(c, context)
        elif not F.has_auditors_part(self.files) and c.status == PASS:
            c.note = "public part only: the registrations were not checked against the employees' certificates (no auditors' part)"

    def check_credentials(self, c: CheckResult) -> None:
        """The public part: every ballot comes from a credential registered
        before it, no more credentials are registered than the roll has voters,
        each ballot is signed by its credential, and no credential has two
        counted ballots."""
        roll_size = self.roll_size(c)
        opened = self.of_kind("election-opened")
        closed = self.of_kind("election-closed")
        open_at = opened[0]["index"] if opened else None
        close_at = closed[0]["index"] if closed else None
        for credential, index in self.registrations.items():
            if open_at is None or index < open_at:
                c.fail(f"credential-registered (entry {index}): registered before the election opened")
            elif close_at is not None and index > close_at:
                c.fail(f"credential-registered (entry {index}): registered after the election closed (entry {close_at})")
        if roll_size is not None and len(self.registrations) > roll_size:
            c.fail(
                f"{len(self.registrations)} credentials are registered, more than the {roll_size} voters on the roll "
                "(roll_size of election-opened): credentials were made up"
            )
        if not self.ballots and not self.registrations and not opened:
            c.skip("voting has not opened")
            return
        if self.fingerprint is None and self.ballots:
            c.block("the ballots' signatures need the election fingerprint (check 1)")
        counted = {b.index for b in self.counted}
        first_counted: dict[str, int] = {}
        for ballot in self.ballots:
            where = f"ballot at entry {ballot.index}"
            registered = self.registrations.get(ballot.credential)
            if registered is None:
                c.fail(f"{where}: its credential {_short(ballot.credential)} was never registered: it is no voter's credential")
            elif registered > ballot.index:
                c.fail(f"{where}: its credential {_short(ballot.credential)} was registered only later (entry {registered})")
            if self.fingerprint is not None:
                try:
                    signature = _hex(ballot.signature, "its signature", 64)
                    verify_credential_signature(
                        bytes.fromhex(ballot.credential), signature,
                        election_fingerprint=self.fingerprint, tracking_code=bytes.fromhex(ballot.tracking_code),
                    )
                except (Bad, CryptoError) as exc:
                    c.fail(f"{where}: {exc}")
            if ballot.index in counted:
                if ballot.credential in first_counted:
                    c.fail(
                        f"counted ballots at entries {first_counted[ballot.credential]} and {ballot.index} are from one "
                        f"credential {_short(ballot.credential)}: a voter counted twice"
                    )
                first_counted.setdefault(ballot.credential, ballot.index)
        c.items = len(self.ballots) + len(self.registrations)

    def check_registrations(self, c: CheckResult, context: tuple) -> None:
        """The auditors' part: every registered credential was registered by an
        employee on the roll, with a certificate trusted and unrevoked at the
        registration entry's time; one credential per employee."""
        roll_doc = self.load(F.ROLL, c)
        if roll_doc is UNUSABLE:
            return
        rows: dict[str, tuple[str, object]] = {}
        employees: set[str] = set()
        try:
            if not isinstance(roll_doc, list):
                raise Bad(f"{F.ROLL} must be a list")
            for row in roll_doc:
                row = _obj(row, {"employee_id", "name", "credential", "registration"}, f"{F.ROLL} entry")
                employee = row["employee_id"]
                if not is_valid_employee_id(employee):
                    raise Bad(f"{F.ROLL}: {_short(str(employee))!r} is not an employee id")
                if employee in employees:
                    raise Bad(f"{F.ROLL}: employee {employee} appears twice")
                employees.add(employee)
                if row["credential"] is None:
                    if row["registration"] is not None:
                        raise Bad(f"{F.ROLL}: {employee} has a registration but no credential")
                    continue
                _hex(row["credential"], f"{F.ROLL}: {employee}'s credential", 32)
                if row["credential"] in rows:
                    raise Bad(f"{F.ROLL}: credential {_short(row['credential'])} is given to {rows[row['credential']][0]} and to {employee}")
                if row["registration"] is None:
                    raise Bad(f"{F.ROLL}: {employee}'s credential has no registration")
                rows[row["credential"]] = (employee, row["registration"])
        except (Bad, TypeError) as exc:
            c.fail(str(exc))
            return
        roll_size = self.roll_size()
        if roll_size is not None and len(employees) != roll_size:
            c.fail(f"{F.ROLL} lists {len(employees)} voters; the board froze a roll of {roll_size} (election-opened)")
        for credential, index in self.registrations.items():
            if credential not in rows:
                c.fail(f"credential-registered (entry {index}): no one on {F.ROLL} registered credential {_short(credential)}")
        for credential, (employee, _) in rows.items():
            if credential not in self.registrations:
                c.fail(f"{F.ROLL}: {employee}'s credential {_short(credential)} is not registered on the board")
        items = [
            (credential, employee, self.entries[self.registrations[credential]]["time"], registration)
            for credential, (employee, registration) in rows.items()
            if credential in self.registrations
        ]
        outcomes: dict[str, tuple] = {}

        def collect(outcome: tuple) -> None:
            for credential, error, fingerprint, word in outcome[0]:
                outcomes[credential] = (error, fingerprint, word)

        c.worker_seconds = self.run_chunks("registrations", _check_eligibility, items, collect)
        seen_certificates: dict[str, str] = {}
        words: dict[str, int] = defaultdict(int)
        for credential, employee, _, _ in items:
            error, fingerprint, word = outcomes[credential]
            where = f"credential {_short(credential)} (entry {self.registrations[credential]}, {employee})"
            if error:
                c.fail(f"{where}: {error}")
                continue
            for kind in word:
                words[kind] += 1
            if fingerprint in seen_certificates:
                c.fail(f"{where}: its certificate also registered credential {_short(seen_certificates[fingerprint])}")
            seen_certificates.setdefault(fingerprint, credential)
        self.attested = words[WORD_ATTESTED]
        said = []
        if words[WORD_ATTESTED]:
            said.append(
                f"{words[WORD_ATTESTED]} registration{'s' if words[WORD_ATTESTED] != 1 else ''} attested by a TLS client "
                "certificate login, not signed by the card"
            )
        if words[WORD_ENROLLED]:
            said.append(
                f"{words[WORD_ENROLLED]} registration{'s' if words[WORD_ENROLLED] != 1 else ''} by a card enrolled over a "
                "TLS client certificate login, without a card-signed enrollment"
            )
        if said:
            warning = "rests on the server's word only: " + "; ".join(said)
            self.warnings.append(f"check 5: {warning}")
            if not c.note:
                c.note = warning

    # -- check 11 ---------------------------------------------------------------------------------

    def check_audits(self) -> None:
        """Every published audit: a ballot of a registered credential, proofs
        valid, the opening re-encrypts to it, and neither its tracking code nor
        any of its selection ciphertexts (compared by alpha) ever cast."""
        c = self.check(11)
        entries = self.of_kind("ballot-audited")
        if not entries:
            c.note = "no ballot was audited"
            return
        if self.manifest is None or self.joint_key is None or self.fingerprint is None:
            c.block("needs the manifest, the joint key and the election fingerprint (check 1)")
            return
        opened = self.of_kind("election-opened")
        closed = self.of_kind("election-closed")
        open_at = opened[0]["index"] if opened else None
        close_at = closed[0]["index"] if closed else None
        cast: dict[object, int] = {}
        cast_alphas: dict[str, int] = {}  # every cast selection ciphertext's alpha, at its first ballot
        for entry in self.of_kind("ballot"):
            code = entry["body"].get("tracking_code")
            if isinstance(code, str):
                cast.setdefault(code, entry["index"])
            for alpha in _selection_alphas(entry["body"].get("ballot")):
                cast_alphas.setdefault(alpha, entry["index"])
        audited: dict[str, int] = {}
        for entry in entries:
            index = entry["index"]
            try:
                body = _obj(entry["body"], {"tracking_code", "credential", "ballot", "opening"}, "ballot-audited")
                code, credential = body["tracking_code"], body["credential"]
                _hex(code, "tracking_code", 32)
                _hex(credential, "credential", 32)
                if open_at is None or index < open_at:
                    raise Bad("it comes before the election opened")
                if close_at is not None and index > close_at:
                    raise Bad(f"it comes after the election closed (entry {close_at})")
                registered = self.registrations.get(credential)
                if registered is None or registered > index:
                    raise Bad(f"its credential {_short(credential)} was not registered before it")
                if code in audited:
                    raise Bad(f"tracking code {_short(code)} was already audited at entry {audited[code]}")
                audited[code] = index
                if code in cast:
                    raise Bad(f"its tracking code {_short(code)} was also cast (ballot at entry {cast[code]}): an audited ballot must never be cast")
                reused = sorted({cast_alphas[a] for a in _selection_alphas(body["ballot"]) if a in cast_alphas})
                if reused:
                    raise Bad(
                        f"a selection ciphertext of it was also cast (ballot at entry {reused[0]}), under other "
                        "proofs: its opening makes that vote public; an audited ciphertext must never be cast"
                    )
                ballot = EncryptedBallot.from_json(body["ballot"], self.manifest)
                if tracking_code(self.fingerprint, ballot).hex() != code:
                    raise Bad(f"tracking code {_short(code)} is not the hash of the ballot")
                verify_ballot(self.manifest, self.joint_key, self.fingerprint, credential, ballot)
                verify_audit_opening(self.manifest, self.joint_key, ballot, AuditOpening.from_json(body["opening"]))
            except (Bad, CryptoError) as exc:
                c.fail(f"audited ballot (entry {index}): {exc}")
            except Exception as exc:  # noqa: BLE001 - hostile input
                c.fail(f"audited ballot (entry {index}): {type(exc).__name__}: {exc}")
        c.items = len(entries)

    # -- check 8 ----------------------------------------------------------------------------------

    def check_aggregate(self) -> None:
        c = self.check(8)
        entries = self.of_kind("aggregate")
        self.compare_view(
            F.AGGREGATE, {"leaf_index": entries[0]["index"], **entries[0]["body"]} if entries else None, c,
            "the aggregate on the board",
        )
        if not entries and not self.of_kind("election-closed"):
            c.skip("voting has not closed")
            return
        if len(entries) != 1:
            c.fail(f"{len(entries)} aggregate entries; a closed election has exactly one")
            return
        entry = entries[0]
        closed = self.of_kind("election-closed")
        if not closed or entry["index"] < closed[0]["index"]:
            c.fail(f"the aggregate (entry {entry['index']}) comes before the election closed")
        if self.manifest is None:
            c.block("needs the manifest (check 1)")
            return
        width = sum(len(q.option_ids) for q in self.manifest.questions)
        try:
            body = _obj(entry["body"], {"ballots_counted", "ciphertexts"}, "aggregate")
            count = _int(body["ballots_counted"], "ballots_counted")
            if not isinstance(body["ciphertexts"], list) or len(body["ciphertexts"]) != width:
                raise Bad(f"the aggregate must have {width} ciphertexts, one per option")
            ciphertexts = [Ciphertext.from_json(ct, allow_identity=True) for ct in body["ciphertexts"]]
        except (Bad, CryptoError) as exc:
            c.fail(f"aggregate (entry {entry['index']}): {exc}")
            return
        self.aggregate, self.aggregate_count = ciphertexts, count
        c.items = width
        if count != len(self.counted):
            c.fail(f"the aggregate claims {count} ballots counted; the board has {len(self.counted)} counted ballots")
        if self.unreadable_counted:
            c.fail(f"cannot recompute the aggregate: counted ballots at entries {self.unreadable_counted[:10]} are unreadable")
        elif self.sums is None and self.counted:
            c.block("needs the ballots (check 3)")
        else:
            points = self.sums or [Point.from_hex("00" * 32, allow_identity=True)] * (2 * width)
            for position, ct in enumerate(ciphertexts):
                if ct.alpha != points[2 * position] or ct.beta != points[2 * position + 1]:
                    c.fail(f"aggregate ciphertext {position} ({self._option_name(position)}) is not the sum of the counted ballots")

    def _option_name(self, position: int) -> str:
        assert self.manifest is not None
        for q in self.manifest.questions:
            if position < len(q.option_ids):
                return f"{q.question_id}/{q.option_ids[position]}"
            position -= len(q.option_ids)
        return "?"

    # -- check 9 ----------------------------------------------------------------------------------

    def check_partial_decryptions(self) -> None:
        c = self.check(9)
        entries = self.of_kind("partial-decryption")
        if not entries and self.aggregate is None:
            c.skip("there is no aggregate to decrypt yet")
        elif self.aggregate is None and not self.of_kind("aggregate"):
            c.fail("partial decryptions on the board, but no aggregate")
        elif self.aggregate is None:
            c.block("needs the aggregate (check 8)")
        elif self.announcements is None or self.fingerprint is None:
            c.block("needs the trustees' announcements (check 2) and the fingerprint (check 1)")
        else:
            aggregate_at = self.of_kind("aggregate")[0]["index"]
            seen: set[int] = set()
            for entry in entries:
                try:
                    partial = threshold.PartialDecryption.from_json(entry["body"])
                    if entry["index"] < aggregate_at:
                        raise Bad("it comes before the aggregate")
                    if partial.index in self.valid_partials or partial.index in seen:
                        raise Bad(f"trustee {partial.index} decrypted twice")
                    seen.add(partial.index)
                    threshold.verify_partial_decryption(self.announcements, self.aggregate, partial, fingerprint=self.fingerprint)
                except (Bad, CryptoError) as exc:
                    c.fail(f"partial decryption (entry {entry['index']}): {exc}")
                    continue
                self.valid_partials[partial.index] = (entry["index"], partial)
            c.items = len(entries)
        expected = [{"leaf_index": e["index"], **e["body"]} for e in entries]
        self.compare_view(F.PARTIAL_DECRYPTIONS, expected, c, "the partial decryptions on the board")

    # -- check 10 ---------------------------------------------------------------------------------

    def check_result(self) -> None:
        c = self.check(10)
        entries = self.of_kind("result")
        published = self.of_kind("election-published")
        self.compare_view(
            F.RESULT, {"leaf_index": entries[0]["index"], **entries[0]["body"]} if entries else None, c,
            "the result on the board",
        )
        if not entries:
            if published:
                c.fail("the election was published without a result")
            else:
                c.skip("the election has not been tallied")
            return
        if len(entries) > 1:
            c.fail(f"{len(entries)} result entries; there must be one")
        entry = entries[0]
        for p in published:
            if p["index"] < entry["index"]:
                c.fail(f"the election was published (entry {p['index']}) before its result")
        if self.aggregate is None or self.manifest is None or self.params is None:
            c.block("needs the aggregate (check 8)")
            return
        if self.check(9).status == BLOCKED:
            c.block("needs the partial decryptions (check 9)")
            return
        try:
            body = _obj(entry["body"], {"ballots_counted", "questions", "trustees"}, "result")
            n = _int(body["ballots_counted"], "ballots_counted")
            if n != self.aggregate_count:
                raise Bad(f"it counts {n} ballots; the aggregate {self.aggregate_count}")
            if n < self.manifest.min_tally_ballots:
                raise Bad(
                    f"it decrypts a tally of {n} ballots; the manifest allows no tally of fewer than "
                    f"{self.manifest.min_tally_ballots} (min_tally_ballots): so few ballots reveal how people voted"
                )
            trustees = body["trustees"]
            if (
                not isinstance(trustees, list)
                or not all(isinstance(i, int) and not isinstance(i, bool) for i in trustees)
                or len(set(trustees)) != len(trustees)
                or len(trustees) < self.params.t
            ):
                raise Bad(f"it must name at least {self.params.t} distinct trustees whose partial decryptions it combined")
            missing = [i for i in trustees if i not in self.valid_partials]
            if missing:
                raise Bad(f"trustees {missing} have no valid partial decryption (check 9)")
            late = [self.valid_partials[i][0] for i in trustees if self.valid_partials[i][0] > entry["index"]]
            if late:
                raise Bad(f"it combines partial decryptions published after it (entries {late})")
            used = [self.valid_partials[i][1] for i in trustees]
            try:
                counts = threshold.combine(self.aggregate, used, threshold=self.params.t, bound=n)
            except DecryptionError:
                raise Bad(f"a combined count is not in [0, {n}]: the aggregate does not decrypt to a valid tally") from None
            expected_questions, position = [], 0
            for q in self.manifest.questions:
                options = []
                for oid in q.option_ids:
                    options.append({"id": oid, "count": counts[position]})
                    position += 1
                expected_questions.append({"id": q.question_id, "options": options})
            if not _same(body["questions"], expected_questions):
                raise Bad("its counts are not the combined decryption of the aggregate")
            position = 0
            for q in self.manifest.questions:
                total = sum(counts[position : position + len(q.option_ids)])
                position += len(q.option_ids)
                if not q.min_selections * n <= total <= q.max_selections * n:
                    raise Bad(
                        f"question {q.question_id}: {total} selections from {n} ballots is outside "
                        f"[{q.min_selections * n}, {q.max_selections * n}] ({q.min_selections} to {q.max_selections} each)"
                    )
        except (Bad, CryptoError) as exc:
            c.fail(f"result (entry {entry['index']}): {exc}")
            return
        c.items = sum(len(q.option_ids) for q in self.manifest.questions)


    # -- check 12 ---------------------------------------------------------------------------------

    def check_witnesses(self) -> None:
        """Every cosignature is by a witness the manifest names and verifies;
        every cosigned head is the server's and a prefix of this board (so the
        witnesses saw no other board); the quorum cosigned the whole board."""
        c = self.check(12)
        doc = self.load(F.COSIGNATURES, c)
        if doc is UNUSABLE:
            return
        if self.manifest is None or self.server_key is None:
            c.block("needs the manifest and the server key (check 1)")
            return
        policy = self.manifest.witnesses
        try:
            doc = _obj(doc, {"witnesses", "heads"}, F.COSIGNATURES)
            if not isinstance(doc["heads"], list):
                raise Bad(f"{F.COSIGNATURES}: heads must be a list of cosigned tree heads")
        except Bad as exc:
            c.fail(str(exc))
            return
        if not _same(doc["witnesses"], policy.to_json()):
            c.fail(f"{F.COSIGNATURES}: its witnesses are not the ones the manifest names (entry 0)")
        log = self.log or merkle.MemoryLog()
        while log.size < len(self.lines):
            log.append(self.lines[log.size])
        board_size, previous, final = len(self.lines), 0, 0
        for number, item in enumerate(doc["heads"]):
            try:
                cosigned = CosignedHead.from_json(item)
            except CryptoError as exc:
                c.fail(f"cosigned head {number}: {exc}")
                continue
            head = cosigned.tree_head.head
            where = f"cosigned head of size {head.size}"
            try:
                if head.size <= previous:
                    raise Bad("the cosigned heads are not in strictly increasing order of size")
                previous = head.size
                if head.log_id != self.election_id:
                    raise Bad(f"it is for log {head.log_id!r}")
                merkle.verify_tree_head(self.server_key, cosigned.tree_head)
                if not 1 <= head.size <= board_size:
                    raise Bad(f"it is beyond the board's {board_size} entries")
                if log.root(head.size) != head.root:
                    raise Bad(
                        f"its root is not the Merkle root of the board's first {head.size} entries: "
                        "the witnesses were shown another board (a split view)"
                    )
            except (Bad, CryptoError) as exc:
                c.fail(f"{where}: {exc}")
                continue
            valid: set[bytes] = set()
            for cosignature in cosigned.cosignatures:
                c.items += 1
                witness = policy.witness(cosignature.witness_key)
                if witness is None:
                    c.fail(f"{where}: cosigned by key {_short(cosignature.witness_key.hex())}, which is no witness the manifest names")
                elif witness.public_key in valid:
                    c.fail(f"{where}: cosigned twice by {witness.name}")
                else:
                    try:
                        verify_cosignature(head, cosignature)
                    except CryptoError:
                        c.fail(f"{where}: the cosignature by {witness.name} does not verify")
                        continue
                    valid.add(witness.public_key)
            if head.size == board_size:
                final = len(valid)
        if not policy.witnesses:
            if c.status == PASS:
                c.note = "the election names no witnesses: a split view would go undetected"
        elif final < policy.quorum:
            c.fail(
                "the witnesses have not cosigned the final board yet: export the record again once they have "
                f"({final} of the {policy.quorum} needed cosigned its {board_size} entries)"
            )
        elif c.status == PASS:
            c.note = f"{final} of {len(policy.witnesses)} witnesses cosigned the whole board ({policy.quorum} needed)"


def verify_record(
    files: Mapping[str, bytes],
    *,
    server_key: bytes | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    crls_after_events: bool = True,
    trust_anchors: Sequence[x509.Certificate] | None = None,
) -> Report:
    """Run every check on a record (path -> bytes, as ``files.read_record`` gives).

    ``server_key`` pins the server's Ed25519 key (from a receipt, or published
    out of band); without it the record's own key is used, which proves the
    record is self-consistent but not who signed it. ``workers``: processes for
    ballot proofs and certificates (default: all cores for a large record, none
    for a small one). ``crls_after_events=False``: certificates are judged
    against CRLs current now instead of CRLs issued after each event (what a
    trustee can have right after closing; see ``_check_revoked_at``).
    ``trust_anchors``: the roots the reader pinned (the city's root and every
    card anchor's root it accepts); check 5 then fails for every anchor of
    the auditors' part that is not one of them, naming it. Without it the
    record's own anchors are used (``Report.anchors_pinned`` is False).
    """
    return _Verifier(
        files, server_key=server_key, workers=workers, progress=progress, crls_after_events=crls_after_events,
        trust_anchors=trust_anchors,
    ).run()


# --- receipts -------------------------------------------------------------------------------------


def verify_receipt_in_record(receipt: object, files: Mapping[str, bytes], *, server_key: bytes | None = None) -> dict:
    """Check one voter's receipt against a record: the server's signatures, the
    entry's inclusion under the receipt's tree head, that the record's board
    holds exactly that entry at that index, and that the record's newest head
    is consistent with the receipt's (the ballot was never removed). A
    published audit's document (a ``ballot-audited`` entry) is checked the same
    way, and is never counted. This does not verify the whole record:
    ``verify_record`` does. Raises ``Bad`` or a
    ``CryptoError``; returns what was established."""
    board, heads_data = files.get(F.BOARD), files.get(F.TREE_HEADS)
    if board is None or heads_data is None:
        raise Bad(f"the record needs {F.BOARD} and {F.TREE_HEADS}")
    lines = board.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    created = strict_json(lines[0], "entry 0") if lines else None
    if not isinstance(created, dict) or created.get("kind") != "election-created" or not isinstance(created.get("body"), dict):
        raise Bad("the record's board does not start with election-created")
    record_key = _hex(created["body"].get("server_key"), "the record's server_key", 32)
    key = server_key or record_key
    if key != record_key:
        raise Bad("the record was signed by another server key than the one given")
    if not isinstance(receipt, dict):
        raise Bad("a receipt is a JSON object")
    # A published audit's document has a receipt's shape, with a ballot-audited entry.
    entry = receipt.get("entry")
    kind = "ballot-audited" if isinstance(entry, dict) and entry.get("kind") == "ballot-audited" else "ballot"
    sth = verify_receipt(receipt, server_key=key, kind=kind)
    if receipt["election_id"] != created.get("election_id"):
        raise Bad(f"the receipt is for election {receipt['election_id']!r}, the record for {created.get('election_id')!r}")
    heads = strict_json(heads_data, F.TREE_HEADS)
    if not isinstance(heads, list) or not heads:
        raise Bad(f"{F.TREE_HEADS} has no tree heads")
    newest = merkle.SignedTreeHead.from_json(heads[-1])
    merkle.verify_tree_head(key, newest)
    if newest.head.log_id != created.get("election_id") or newest.head.size != len(lines):
        raise Bad(f"the record's newest tree head covers {newest.head.size} entries, its board has {len(lines)}")
    if sth.head.size > newest.head.size:
        raise Bad(f"the receipt (tree size {sth.head.size}) is newer than the record (size {newest.head.size}): export it again")
    index = receipt["leaf_index"]
    if canonical_json(receipt["entry"]) != lines[index]:
        raise Bad(f"the record's entry {index} is not the ballot on the receipt")
    log = merkle.MemoryLog()
    for line in lines:
        log.append(line)
    if log.root() != newest.head.root:
        raise Bad("the record's newest tree head is not the root of its board")
    path = tuple(log.consistency_proof(sth.head.size, newest.head.size))
    # The receipt's head is a prefix of the record's newest (both verified under ``key`` above).
    if newest.head.log_id != sth.head.log_id:
        raise Bad("the record's newest tree head is for another election than the receipt's")
    merkle.ConsistencyProof(sth.head.size, newest.head.size, path).verify(
        sth.head.root, newest.head.root, old_size=sth.head.size, new_size=newest.head.size
    )
    cosigned_by = _receipt_witnesses(receipt, lines, files, log, key, newest.head.size)
    superseded_by = None
    for line in lines[index + 1 :]:
        entry = strict_json(line, "a board entry")
        body = entry.get("body") if isinstance(entry, dict) else None
        if entry.get("kind") == "ballot-superseded" and isinstance(body, dict) and body.get("tracking_code") == receipt["tracking_code"]:
            superseded_by = body.get("superseded_by")
    return {
        "election_id": receipt["election_id"],
        "tracking_code": receipt["tracking_code"],
        "leaf_index": index,
        "receipt_tree_size": sth.head.size,
        "newest_tree_size": newest.head.size,
        "counted": superseded_by is None and kind == "ballot",
        "superseded_by": superseded_by,
        "audited": kind == "ballot-audited",
        "witnesses": cosigned_by,
    }


def _receipt_witnesses(
    receipt: dict, lines: list[bytes], files: Mapping[str, bytes], log: merkle.MemoryLog, key: bytes, board_size: int
) -> list[str]:
    """With witnesses (the manifest the receipt's tracking code binds): the
    record's whole board is cosigned by the quorum, and a head the receipt
    carries as ``witnessed`` is a head of this board. Returns who cosigned."""
    joint = next(
        (e for e in (strict_json(line, "a board entry") for line in lines) if isinstance(e, dict) and e.get("kind") == "joint-key"),
        None,
    )
    if joint is None:
        raise Bad("the record's board has no joint-key entry")
    policy = witness_policy_for(receipt, strict_json(lines[0], "entry 0"), joint)
    if policy.quorum == 0:
        return []
    if WITNESSED in receipt:
        carried, _ = verify_witnessed(receipt, policy, server_key=key)
        size = carried.tree_head.head.size
        if size > board_size or log.root(size) != carried.tree_head.head.root:
            raise Bad(
                "the witnessed head on the receipt is not a head of this record's board: "
                "the voter and the record were shown different boards (a split view)"
            )
    doc = strict_json(files[F.COSIGNATURES], F.COSIGNATURES) if F.COSIGNATURES in files else None
    heads = doc.get("heads") if isinstance(doc, dict) else None
    if not isinstance(heads, list):
        raise Bad(f"{F.COSIGNATURES} has no list of cosigned heads")
    final = next((h for h in heads if isinstance(h, dict) and isinstance(h.get("tree_head"), dict) and h["tree_head"].get("size") == board_size), None)
    if final is None:
        raise Bad(f"the witnesses' quorum has not cosigned this record's board ({F.COSIGNATURES}): export the record again once they have")
    cosigned = CosignedHead.from_json(final)
    if cosigned.tree_head.head.root != log.root(board_size):
        raise Bad("the record's cosigned final head is not the root of its board")
    return [w.name for w in check_quorum(policy, key, cosigned)]
