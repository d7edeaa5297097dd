"""Check 5: eligibility. The public part needs only the board: every ballot
from a distinct credential registered before it, no more credentials than
``roll_size``, every credential's Ed25519 signature. The auditors' part checks
each registration against the employee's certificate (or enrolled card) at
the registration's time, and the card enrollments of
``auditors/enrollments.json``.

Three steps, in this order: ``collect_registrations`` (the board's
registrations, which check 11 also needs), ``trust_inputs`` (the auditors'
anchors, CRLs and enrollments, which the worker processes are set up with),
``check_eligibility``."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from crypto.credentials import CLOCK_SKEW_S as TOKEN_SKEW_S
from crypto.credentials import (
    TrustStore,
    certificate_fingerprint,
    check_card_usage,
    check_key,
    employee_id_of,
    is_valid_employee_id,
    parse_voting_credential,
    read_enrollment_token,
    verify_credential_signature,
    verify_registration,
)
from crypto.entry_kinds import CREDENTIAL_REGISTERED, ELECTION_OPENED
from crypto.errors import CryptoError
from voting.record import files as F
from voting.verify.ballots import CastBallot
from voting.verify.board import CLOCK_TOLERANCE, Board
from voting.verify.certificates import check_revoked_at, check_usage, unpinned
from voting.verify.parse import UNUSABLE, Bad, base64_bytes, exact_object, hex_bytes, integer, iso_time, load, short
from voting.verify.report import Findings
from voting.verify.workers import EligibilityInputs, Progress, Workers, eligibility_context

#: A registration attested by a TLS client certificate login (no signature by
#: the card): the server's word only.
ATTESTED_BY_CLIENT_CERTIFICATE = "client-certificate"
#: What of a registration rests on the server's word (``_registered``).
WORD_ATTESTED = "attested"
WORD_ENROLLED = "enrolled-by-client-certificate"


@dataclass(frozen=True)
class Eligibility:
    """What check 5 tells the reader beyond pass or fail."""

    attested: int = 0
    """registrations attested by a TLS client certificate login only (the server's word)"""
    warnings: tuple[str, ...] = ()


# --- step 1: the board's registrations -----------------------------------------------------------


def collect_registrations(board: Board) -> tuple[dict[str, int], Findings]:
    """The ``credential-registered`` entries: credential -> its entry's index.
    A credential registered twice fails (registrations are distinct)."""
    c = Findings()
    registrations: dict[str, int] = {}
    for entry in board.of_kind(CREDENTIAL_REGISTERED):
        where = f"credential-registered (entry {entry['index']})"
        try:
            body = exact_object(entry["body"], {"credential"}, CREDENTIAL_REGISTERED)
            hex_bytes(body["credential"], "credential", 32)
            parse_voting_credential(body["credential"])
        except (Bad, CryptoError) as exc:
            c.fail(f"{where}: {exc}")
            continue
        credential = body["credential"]
        if credential in registrations:
            c.fail(f"{where}: credential {short(credential)} is registered a second time (first at entry {registrations[credential]})")
            continue
        registrations[credential] = entry["index"]
    return registrations, c


def _roll_size(board: Board, c: Findings | None = None) -> int | None:
    """``roll_size`` of the ``election-opened`` entry (None, and a failure of ``c``, if it has none)."""
    opened = board.of_kind(ELECTION_OPENED)
    if not opened:
        return None
    try:
        return integer(opened[0]["body"].get("roll_size"), "roll_size")
    except Bad as exc:
        if c is not None:
            c.fail(f"election-opened (entry {opened[0]['index']}): {exc} (the number of voters on the frozen roll)")
        return None


# --- step 2: the auditors' trust anchors, CRLs and card enrollments ------------------------------------


def trust_inputs(
    board: Board, files: Mapping[str, bytes], pinned_roots: set[bytes] | None, *, crls_after_events: bool
) -> tuple[EligibilityInputs | None, Findings]:
    """The auditors' trust anchors, CRLs and enrollments, or None (no auditors'
    part, or a broken one: check 5 then fails). ``pinned_roots``: the DER of
    the roots the reader pinned; every anchor must be one of them."""
    c = Findings()
    present = [name for name in F.AUDITOR_FILES if name in files]
    if not present:
        return None, c
    missing = [name for name in F.REQUIRED_AUDITOR_FILES if name not in files]
    if missing:
        c.fail(f"the auditors' part is incomplete: {', '.join(missing)} missing")
        return None, c
    if board.election_id is None:
        c.block("needs the board (check 7)")
        return None, c
    trust = load(files, F.TRUST, c)
    if trust is UNUSABLE:
        return None, c
    try:
        anchors = [base64_bytes(a, "a trust anchor") for a in trust["trust_anchors"]]
        crls = [base64_bytes(a, "a CRL") for a in trust["crls"]]
        TrustStore.from_der(anchors)
        loaded = [x509.load_der_x509_crl(der) for der in crls]
    except (Bad, CryptoError, ValueError, TypeError) as exc:
        c.fail(f"{F.TRUST}: {exc}")
        return None, c
    card_anchors, enrollments = _enrollments(files, loaded, crls_after_events, c)
    if pinned_roots is not None:
        for anchor in unpinned(anchors, card_anchors, pinned_roots):
            c.fail(f"{anchor} is not among the roots you pinned (--trust-anchor): it is the server's word")
    return EligibilityInputs(anchors, crls, board.election_id, crls_after_events, card_anchors, enrollments), c


def _enrollments(
    files: Mapping[str, bytes], crls: list[x509.CertificateRevocationList], after_events: bool, c: Findings
) -> tuple[dict[str, list[bytes]], dict[str, dict[str, Any]]]:
    """The anchors whose certificates name no employee ({name: [root DER]})
    and every enrollment ({fingerprint: what ``_registered`` needs}) of
    ``auditors/enrollments.json``; each enrollment is checked here
    (``_check_enrollment``), and a failing one fails check 5 and every
    registration that rests on it. Without the file (a record from before
    card enrollment): none."""
    if F.ENROLLMENTS not in files:
        return {}, {}
    doc = load(files, F.ENROLLMENTS, c)
    if doc is UNUSABLE:
        return {}, {}
    card_anchors: dict[str, list[bytes]] = {}
    try:
        for anchor in doc["anchors"]:
            name = anchor["name"]
            if name in card_anchors:
                raise Bad(f"anchor name {name!r} is repeated")
            card_anchors[name] = [base64_bytes(a, f"a certificate of anchor {name}") for a in anchor["certificates"]]
            TrustStore.from_der(card_anchors[name])
    except (Bad, CryptoError, ValueError, TypeError) as exc:
        c.fail(f"{F.ENROLLMENTS}: {exc}")
        return {}, {}
    stores = {name: TrustStore.from_der(ders) for name, ders in card_anchors.items()}
    enrollments: dict[str, dict[str, Any]] = {}
    for number, entry in enumerate(doc["enrollments"]):
        fingerprint, employee = entry["fingerprint"], entry["employee_id"]
        where = f"{F.ENROLLMENTS}: enrollment {number} (card {short(fingerprint)}, {employee})"
        try:
            fingerprint, link = _check_enrollment(entry, stores, crls, after_events)
        except Bad as exc:
            c.fail(f"{where}: {exc}")
            if fingerprint not in enrollments:
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
    c.add_items(len(doc["enrollments"]))
    return card_anchors, enrollments


def _check_enrollment(
    doc: dict[str, Any], card_stores: Mapping[str, TrustStore], crls: Sequence[x509.CertificateRevocationList], after_events: bool
) -> tuple[str, dict[str, Any]]:
    """One enrollment of ``auditors/enrollments.json``: its card certificate
    (chain as the card sent it) builds to the anchor it names at the enrollment
    time and was not revoked then, and, with a card-signed proof, the
    enrollment token's certificate is that card's, its key signed the token,
    the token names the same employee, and the enrollment happened within the
    token's lifetime. ``doc`` is well-formed (``auditors/enrollments.json``
    was read with its Struct). Returns the fingerprint and what registrations
    need (times as datetimes, ``error`` None); raises Bad."""
    fingerprint, employee, anchor = doc["fingerprint"], doc["employee_id"], doc["anchor"]
    if not is_valid_employee_id(employee):
        raise Bad(f"{short(employee)!r} is not an employee id")
    if anchor not in card_stores:
        raise Bad(f"trust anchor {short(anchor)!r} is not among the anchors of {F.ENROLLMENTS}")
    certificates = _read_chain(doc["chain"])
    leaf = certificates[0]
    if certificate_fingerprint(leaf) != fingerprint:
        raise Bad("the fingerprint is not the SHA-256 of the card certificate")
    enrolled_at = iso_time(doc["enrolled_at"], "enrolled_at")
    revoked_at = None if doc["revoked_at"] is None else iso_time(doc["revoked_at"], "revoked_at")
    if revoked_at is not None and revoked_at < enrolled_at:
        raise Bad("it was revoked before it was made")
    try:
        built = card_stores[anchor].verify_chain(leaf, certificates[1:], enrolled_at, require_san=False)
        check_card_usage(leaf)
    except CryptoError as exc:
        raise Bad(f"the card certificate was not valid when it was enrolled: {exc}") from None
    check_revoked_at(built, crls, enrolled_at, "the card was enrolled", after_event=after_events)
    proof = doc["proof"]
    if "via" in proof:  # the only one there is: ATTESTED_BY_CLIENT_CERTIFICATE
        via = ATTESTED_BY_CLIENT_CERTIFICATE
    else:
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


# --- step 3: the check ------------------------------------------------------------------------------


def check_eligibility(
    board: Board,
    files: Mapping[str, bytes],
    registrations: Mapping[str, int],
    ballots: Sequence[CastBallot],
    counted: Sequence[CastBallot],
    fingerprint: bytes | None,
    inputs: EligibilityInputs | None,
    workers: Workers,
    progress: Progress,
) -> tuple[Eligibility, Findings]:
    """The public part (``_check_credentials``) and, with the auditors' part
    (``inputs``), every registration (``_check_registrations``)."""
    c = Findings()
    eligibility = Eligibility()
    _check_credentials(board, registrations, ballots, counted, fingerprint, c)
    if inputs is not None:
        eligibility = _check_registrations(board, files, registrations, workers, progress, c)
    elif not F.has_auditors_part(files):
        c.note_if_passing("public part only: the registrations were not checked against the employees' certificates (no auditors' part)")
    return eligibility, c


def _check_credentials(
    board: Board,
    registrations: Mapping[str, int],
    ballots: Sequence[CastBallot],
    counted: Sequence[CastBallot],
    fingerprint: bytes | None,
    c: Findings,
) -> None:
    """The public part: every ballot comes from a credential registered
    before it, no more credentials are registered than the roll has voters,
    each ballot is signed by its credential, and no credential has two
    counted ballots."""
    roll_size = _roll_size(board, c)
    opened = board.of_kind(ELECTION_OPENED)
    open_at, close_at = board.open_and_close()
    for index in registrations.values():
        if open_at is None or index < open_at:
            c.fail(f"credential-registered (entry {index}): registered before the election opened")
        elif close_at is not None and index > close_at:
            c.fail(f"credential-registered (entry {index}): registered after the election closed (entry {close_at})")
    if roll_size is not None and len(registrations) > roll_size:
        c.fail(
            f"{len(registrations)} credentials are registered, more than the {roll_size} voters on the roll "
            "(roll_size of election-opened): credentials were made up"
        )
    cast = ballots
    if not cast and not registrations and not opened:
        c.skip("voting has not opened")
        return
    if fingerprint is None and cast:
        c.block("the ballots' signatures need the election fingerprint (check 1)")
    counted_at = {b.index for b in counted}
    first_counted: dict[str, int] = {}
    for ballot in cast:
        where = f"ballot at entry {ballot.index}"
        registered = registrations.get(ballot.credential)
        if registered is None:
            c.fail(f"{where}: its credential {short(ballot.credential)} was never registered: it is no voter's credential")
        elif registered > ballot.index:
            c.fail(f"{where}: its credential {short(ballot.credential)} was registered only later (entry {registered})")
        if fingerprint is not None:
            try:
                signature = hex_bytes(ballot.signature, "its signature", 64)
                verify_credential_signature(
                    bytes.fromhex(ballot.credential), signature,
                    election_fingerprint=fingerprint, tracking_code=bytes.fromhex(ballot.tracking_code),
                )
            except (Bad, CryptoError) as exc:
                c.fail(f"{where}: {exc}")
        if ballot.index in counted_at:
            if ballot.credential in first_counted:
                c.fail(
                    f"counted ballots at entries {first_counted[ballot.credential]} and {ballot.index} are from one "
                    f"credential {short(ballot.credential)}: a voter counted twice"
                )
            first_counted.setdefault(ballot.credential, ballot.index)
    c.items(len(cast) + len(registrations))


def _check_registrations(
    board: Board,
    files: Mapping[str, bytes],
    registrations: Mapping[str, int],
    workers: Workers,
    progress: Progress,
    c: Findings,
) -> Eligibility:
    """The auditors' part: every registered credential was registered by an
    employee on the roll, with a certificate trusted and unrevoked at the
    registration entry's time; one credential per employee."""
    roll_doc = load(files, F.ROLL, c)
    if roll_doc is UNUSABLE:
        return Eligibility()
    rows: dict[str, tuple[str, object]] = {}
    employees: set[str] = set()
    try:
        for row in roll_doc:
            employee = row["employee_id"]
            if not is_valid_employee_id(employee):
                raise Bad(f"{F.ROLL}: {short(employee)!r} is not an employee id")
            if employee in employees:
                raise Bad(f"{F.ROLL}: employee {employee} appears twice")
            employees.add(employee)
            if row["credential"] is None:
                if row["registration"] is not None:
                    raise Bad(f"{F.ROLL}: {employee} has a registration but no credential")
                continue
            if row["credential"] in rows:
                raise Bad(f"{F.ROLL}: credential {short(row['credential'])} is given to {rows[row['credential']][0]} and to {employee}")
            if row["registration"] is None:
                raise Bad(f"{F.ROLL}: {employee}'s credential has no registration")
            rows[row["credential"]] = (employee, row["registration"])
    except Bad as exc:
        c.fail(str(exc))
        return Eligibility()
    roll_size = _roll_size(board)
    if roll_size is not None and len(employees) != roll_size:
        c.fail(f"{F.ROLL} lists {len(employees)} voters; the board froze a roll of {roll_size} (election-opened)")
    for credential, index in registrations.items():
        if credential not in rows:
            c.fail(f"credential-registered (entry {index}): no one on {F.ROLL} registered credential {short(credential)}")
    for credential, (employee, _) in rows.items():
        if credential not in registrations:
            c.fail(f"{F.ROLL}: {employee}'s credential {short(credential)} is not registered on the board")
    items = [
        (credential, employee, board.entries[registrations[credential]]["time"], registration)  # type: ignore[index]
        for credential, (employee, registration) in rows.items()
        if credential in registrations
    ]
    outcomes: dict[str, tuple[Any, ...]] = {}

    def collect(outcome: tuple[Any, ...]) -> None:
        for credential, error, fingerprint, word in outcome[0]:
            outcomes[credential] = (error, fingerprint, word)

    c.worker_seconds(workers.run_chunks(progress, "registrations", check_registration_chunk, items, collect))
    seen_certificates: dict[str, str] = {}
    words: dict[str, int] = defaultdict(int)
    for credential, employee, _, _ in items:
        error, fingerprint, word = outcomes[credential]
        where = f"credential {short(credential)} (entry {registrations[credential]}, {employee})"
        if error:
            c.fail(f"{where}: {error}")
            continue
        for kind in word:
            words[kind] += 1
        if fingerprint in seen_certificates:
            c.fail(f"{where}: its certificate also registered credential {short(seen_certificates[fingerprint])}")
        seen_certificates.setdefault(fingerprint, credential)
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
    warnings = []
    if said:
        warning = "rests on the server's word only: " + "; ".join(said)
        warnings.append(f"check 5: {warning}")
        c.note_if_none(warning)
    return Eligibility(words[WORD_ATTESTED], tuple(warnings))


def check_registration_chunk(items: Sequence[tuple[str, str, str, object]]) -> tuple[Any, ...]:
    """Check 5 (auditors' part) for a chunk of registrations (in a worker):
    (credential, error or None, certificate fingerprint, server's word) each,
    where the last says what of it rests on the server's word only (see
    ``_registered``). An item is (credential hex, the employee the roll names,
    the time of its credential-registered entry, the registration)."""
    start = time.process_time()
    context = eligibility_context()
    results: list[tuple[str, str | None, str | None, tuple[str, ...]]] = []
    for credential, employee, registered_at, registration in items:
        try:
            fingerprint, word = _registered(
                context.store, context.crls, context.election_id, credential, employee, registered_at, registration,
                context.after_events, card_stores=context.card_stores, enrollments=context.enrollments,
            )
            results.append((credential, None, fingerprint, word))
        except Bad as exc:
            results.append((credential, str(exc), None, ()))
        except Exception as exc:  # noqa: BLE001 - hostile input
            results.append((credential, f"{type(exc).__name__}: {exc}", None, ()))
    return results, time.process_time() - start


def _registered(
    store: TrustStore,
    crls: Sequence[x509.CertificateRevocationList],
    election_id: str,
    credential: str,
    employee: str,
    registered_at: str,
    registration: object,
    after_events: bool = True,
    *,
    card_stores: Mapping[str, TrustStore] | None = None,
    enrollments: Mapping[str, Mapping[str, Any]] | None = None,
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
    not signed by the card), ``WORD_ENROLLED`` (the card's enrollment was).

    ``registration`` is well-formed (``auditors/roll.json`` was read with its
    Struct): signed, or attested (``attested: "client-certificate"``, no signature)."""
    doc = cast(dict[str, Any], registration)
    word: list[str] = []
    iso_time(doc["registered_at"], "registered_at")
    certificates = _read_chain(doc["chain"])
    leaf = certificates[0]
    at = iso_time(registered_at, "the registration time")
    try:
        built = store.verify_chain(leaf, certificates[1:], at)
    except CryptoError as exc:
        card = _card_chain(card_stores or {}, leaf, certificates[1:], at)
        if card is None:
            raise Bad(f"the certificate was not valid when the credential was registered ({registered_at}): {exc}") from None
        anchor, built = card
        links = enrollments or {}
        signer = _enrolled_employee(links, leaf, anchor, at, employee)
        if links[certificate_fingerprint(leaf)]["via"] == ATTESTED_BY_CLIENT_CERTIFICATE:
            word.append(WORD_ENROLLED)
        try:
            check_card_usage(leaf)
        except CryptoError as usage:
            raise Bad(str(usage)) from None
    else:
        check_usage(leaf)
        try:
            signer = employee_id_of(leaf)
        except (CryptoError, ValueError) as not_employee:
            raise Bad(f"not an employee certificate: {not_employee}") from None
        if signer != employee:
            raise Bad(f"the registration is signed by {signer}'s certificate, but the roll gives the credential to {employee}")
    check_revoked_at(built, crls, at, "the credential was registered", after_event=after_events)
    try:
        check_key(leaf.public_key())
    except (CryptoError, ValueError) as weak:
        raise Bad(f"not an employee certificate: {weak}") from None
    if "attested" in doc:
        word.append(WORD_ATTESTED)
        return certificate_fingerprint(leaf), tuple(word)
    signature = bytes.fromhex(doc["signature"])
    try:
        verify_registration(leaf, signature, election_id=election_id, credential_pub=bytes.fromhex(credential))
    except CryptoError as exc:
        raise Bad(f"{exc} ({signer})") from None
    return certificate_fingerprint(leaf), tuple(word)


def _read_chain(chain: list[str]) -> list[x509.Certificate]:
    """A chain as published (well-formed: 1 to 4 base64 DER certificates, leaf first)."""
    try:
        return [x509.load_der_x509_certificate(base64_bytes(c, "a certificate")) for c in chain]
    except ValueError as exc:
        raise Bad(f"a certificate cannot be read: {exc}") from None


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


def _enrolled_employee(
    enrollments: Mapping[str, Mapping[str, Any]], leaf: x509.Certificate, anchor: str, at: datetime, employee: str
) -> str:
    """The employee a card certificate was linked to at ``at``: its enrollment
    verified, is under ``anchor``, names ``employee``, came before ``at`` and
    was not revoked by then."""
    fingerprint = certificate_fingerprint(leaf)
    link = enrollments.get(fingerprint)
    if link is None:
        raise Bad(f"the card certificate {short(fingerprint)} names no employee and has no enrollment in {F.ENROLLMENTS}")
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
