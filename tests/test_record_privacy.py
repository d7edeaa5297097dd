"""Acceptance test of issue 11: nothing in the public record verifies against
a voter's certificate or links a voter across elections.

Two elections of the same people are exported (synthesised with ``crypto/``
alone, the export's format, voters' certificates of every key type the pilot
issues: P-256, RSA-2048, Ed25519; and, with the server, a live election pair).
Then, as an adversary holding every voter's certificate (certificates are not
secret: they go with every login and sit in directories):

1. every signature-sized hex string of the public record (64 bytes: ES256
   r||s, Ed25519; 70-72: DER ECDSA; 256: RSA-2048) is tried against every
   voter certificate's public key over every plausible message (each
   registration message, each ballot-signature message, each board line) —
   none verifies;
2. no certificate, public key, key hash, fingerprint, serial number, employee
   id or name of a voter appears in the public record in any encoding;
3. the ECDSA public-key recovery attack: from every 64-byte signature of each
   election's board and every plausible message, recover the candidate P-256
   keys (Q = r^-1 (sR - zG), both R) — no candidate of one election equals a
   candidate of the other or any certificate's key. A positive control shows
   the attack links a voter whose certificate key signs ballots (the
   pre-issue-11 scheme), so the test is not vacuous.

The recovery is the textbook one over P-256 (SEC 1 v2, 4.1.6), in pure Python
below: ``cryptography`` does not expose point arithmetic, and the ``ecdsa``
package is not a dependency of the pilot."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Iterator

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from crypto.credentials import (
    Credential,
    ballot_signature_message,
    certificate_fingerprint,
    registration_message,
    sign_ballot,
)
from tests.record_support import ELECTION, SINGLE, board_entries, election_run, public_part, record_manifest, resign
from tests.support import fresh_database_url
from voting.record import files as F
from voting.record.bench import synthesize
from voting.verify import verify_record

KEY_TYPES = ("P-256", "RSA-2048", "Ed25519")


# --- the two elections --------------------------------------------------------------------------


class Pair:
    """Two elections' public records and every voter's certificate (with keys, for the controls)."""

    def __init__(self, first: dict[str, bytes], second: dict[str, bytes], voters: list[Credential], server_key=None) -> None:
        self.records = {json.loads(first[F.RECORD])["election_id"]: first, json.loads(second[F.RECORD])["election_id"]: second}
        self.voters = voters
        self.server_key = server_key


@pytest.fixture(scope="module")
def synthetic() -> Pair:
    first = synthesize(9, manifest_doc=record_manifest(ELECTION, "last", 5), revoters=3, audits=2, workers=1, voter_id_digits=4, key_types=KEY_TYPES)
    second = synthesize(6, manifest_doc=record_manifest(SINGLE, "single", 3), audits=1, workers=1, people=first)
    voters = first.credentials
    for kind in (ec.EllipticCurvePublicKey, rsa.RSAPublicKey, ed25519.Ed25519PublicKey):
        assert any(isinstance(c.certificate.public_key(), kind) for c in voters)
    return Pair(public_part(first.files), public_part(second.files), voters, first.server_key)


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Pair]:
    """The record tests' live election pair: record-2026 and record-single, E0000-E0002 vote in both."""
    data_dir = tmp_path_factory.mktemp("privacy") / "data"
    data_dir.mkdir(parents=True)
    with election_run(data_dir, fresh_database_url("sqlite", data_dir)) as run:
        voters = [c for employee, c in sorted(run.credentials.items()) if employee.startswith("E")]
        yield Pair(run.public, public_part(run.single_private), voters, run.server_key)


# --- what the public record holds -----------------------------------------------------------------

_HEX = set("0123456789abcdef")


def _strings(doc: object) -> Iterator[str]:
    if isinstance(doc, str):
        yield doc
    elif isinstance(doc, dict):
        for key, value in doc.items():
            yield key
            yield from _strings(value)
    elif isinstance(doc, list):
        for value in doc:
            yield from _strings(value)


def _docs(files: dict[str, bytes]) -> Iterator[object]:
    for name, data in files.items():
        if name == F.BOARD:
            yield from (json.loads(line) for line in data.splitlines())
        else:
            yield json.loads(data)


def signatures(files: dict[str, bytes]) -> set[bytes]:
    """Every hex string of a signature's size anywhere in the record's files."""
    found = set()
    for doc in _docs(files):
        for text in _strings(doc):
            if len(text) in (128, 140, 142, 144, 256 * 2) and set(text) <= _HEX:
                found.add(bytes.fromhex(text))
    return found


def messages(files: dict[str, bytes]) -> list[bytes]:
    """Every message a voter's certificate key could plausibly have signed in this
    election: registrations, ballots (cast and audited), and any board line."""
    entries = board_entries(files)
    election_id = entries[0]["election_id"]
    fingerprint = bytes.fromhex(json.loads(files[F.PARAMETERS])["fingerprint"])
    out = []
    for entry in entries:
        body = entry["body"]
        if entry["kind"] == "credential-registered":
            out.append(registration_message(election_id, bytes.fromhex(body["credential"])))
        if entry["kind"] in ("ballot", "ballot-audited"):
            out.append(ballot_signature_message(election_fingerprint=fingerprint, tracking_code=bytes.fromhex(body["tracking_code"])))
            out.append(registration_message(election_id, bytes.fromhex(body["credential"])))
    out += files[F.BOARD].splitlines()
    return out


def _verifies(public_key: object, signature: bytes, message: bytes) -> bool:
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            if len(signature) == 64:
                der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
            else:
                decode_dss_signature(signature)  # DER-shaped, or not worth trying
                der = signature
            public_key.verify(der, message, ec.ECDSA(hashes.SHA256()))
        elif isinstance(public_key, rsa.RSAPublicKey):
            if len(signature) != public_key.key_size // 8:
                return False
            try:
                public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
            except InvalidSignature:
                public_key.verify(signature, message, padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO), hashes.SHA256())
        elif isinstance(public_key, ed25519.Ed25519PublicKey):
            if len(signature) != 64:
                return False
            public_key.verify(signature, message)
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def verifying_pairs(files: dict[str, bytes], voters: Iterable[Credential]) -> list[tuple[str, str]]:
    """(employee, signature prefix) for every signature in the record that some voter's certificate verifies."""
    found = []
    candidates = messages(files)
    sigs = signatures(files)
    for voter in voters:
        key = voter.certificate.public_key()
        for signature in sigs:
            if any(_verifies(key, signature, message) for message in candidates):
                found.append((voter.employee_id, signature.hex()[:16]))
    return found


def identifying_strings(voter: Credential) -> dict[str, bytes]:
    """Every way a voter's certificate or key could be written into a record."""
    certificate = voter.certificate
    der = certificate.public_bytes(serialization.Encoding.DER)
    public_key = certificate.public_key()
    spki = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    raw: list[bytes] = []
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        numbers = public_key.public_numbers()
        raw += [
            public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint),
            public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint),
            numbers.x.to_bytes(32, "big"),
            numbers.y.to_bytes(32, "big"),
        ]
    elif isinstance(public_key, rsa.RSAPublicKey):
        raw.append(public_key.public_numbers().n.to_bytes(public_key.key_size // 8, "big"))
    else:
        raw.append(public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    out: dict[str, bytes] = {
        "employee id": f'"{voter.employee_id}"'.encode(),
        "name": voter.name.encode("utf-8"),
        "certificate fingerprint": certificate_fingerprint(certificate).encode(),
        "certificate SHA-1": certificate.fingerprint(hashes.SHA1()).hex().encode(),
        "SPKI SHA-256": hashlib.sha256(spki).hexdigest().encode(),
        "serial number (hex)": format(certificate.serial_number, "x").encode(),
        "serial number (decimal)": str(certificate.serial_number).encode(),
    }
    for label, data in [("certificate", der), ("SPKI", spki)] + [(f"public key {i}", r) for i, r in enumerate(raw)]:
        out[f"{label} (hex)"] = data.hex().encode()
        out[f"{label} (base64)"] = base64.b64encode(data).rstrip(b"=")
        out[f"{label} (base64url)"] = base64.urlsafe_b64encode(data).rstrip(b"=")
    return out


def appearances(files: dict[str, bytes], voters: Iterable[Credential]) -> list[tuple[str, str]]:
    text = b"\n".join(files.values())
    lowered = text.lower()
    found = []
    for voter in voters:
        for label, needle in identifying_strings(voter).items():
            hexish = set(needle.decode("utf-8", "replace")) <= _HEX
            if (needle.lower() in lowered) if hexish else (needle in text):
                found.append((voter.employee_id, label))
    return found


# --- ECDSA public-key recovery over P-256 (SEC 1 v2, 4.1.6) -------------------------------------------

P = 2**256 - 2**224 + 2**192 + 2**96 - 1
A = P - 3
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
G = (0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296, 0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5)


def _add(p1: tuple[int, int] | None, p2: tuple[int, int] | None) -> tuple[int, int] | None:
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    (x1, y1), (x2, y2) = p1, p2
    if x1 == x2:
        if (y1 + y2) % P == 0:
            return None
        slope = (3 * x1 * x1 + A) * pow(2 * y1, -1, P) % P
    else:
        slope = (y2 - y1) * pow(x2 - x1, -1, P) % P
    x3 = (slope * slope - x1 - x2) % P
    return x3, (slope * (x1 - x3) - y1) % P


def _multiply(k: int, point: tuple[int, int] | None) -> tuple[int, int] | None:
    result = None
    while k:
        if k & 1:
            result = _add(result, point)
        point = _add(point, point)
        k >>= 1
    return result


_WINDOW = 8
_G_TABLE: list[list[tuple[int, int] | None]] = []
"""_G_TABLE[w][d] = d * 2^(8w) * G: a fixed-base table, 32 additions per multiple of G."""


def _multiply_g(k: int) -> tuple[int, int] | None:
    if not _G_TABLE:
        base: tuple[int, int] | None = G
        for _ in range(256 // _WINDOW):
            row = [None]
            for _ in range(1, 2**_WINDOW):
                row.append(_add(row[-1], base))
            _G_TABLE.append(row)
            base = _add(row[-1], base)
    result = None
    for w in range(256 // _WINDOW):
        result = _add(result, _G_TABLE[w][k >> (_WINDOW * w) & (2**_WINDOW - 1)])
    return result


def _lift_x(x: int) -> list[tuple[int, int]]:
    if x >= P:
        return []
    y2 = (x * x * x + A * x + B) % P
    y = pow(y2, (P + 1) // 4, P)  # P = 3 mod 4
    if y * y % P != y2:
        return []
    return [(x, y), (x, P - y)]


def recover(signature: bytes, messages_: Iterable[bytes]) -> set[tuple[int, int]]:
    """Every P-256 key for which ``signature`` (r||s) is a valid ES256 signature of one of ``messages_``."""
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    if not (0 < r < N and 0 < s < N):
        return set()
    r_inverse = pow(r, -1, N)
    scaled = [_multiply(s * r_inverse % N, R) for x in (r, r + N) for R in _lift_x(x)]
    keys = set()
    for message in messages_:
        z = int.from_bytes(hashlib.sha256(message).digest(), "big") % N
        minus_zg = _multiply_g((-z * r_inverse) % N)
        for sr in scaled:
            q = _add(sr, minus_zg)
            if q is not None:
                keys.add(q)
    return keys


def recovered_keys(files: dict[str, bytes]) -> set[tuple[int, int]]:
    candidates = messages(files)
    voter_messages = [m for m in candidates if not m.startswith(b"{")]  # registrations and ballots
    keys: set[tuple[int, int]] = set()
    for signature in signatures(files):
        if len(signature) == 64:
            keys |= recover(signature, voter_messages)
    return keys


def certificate_points(voters: Iterable[Credential]) -> dict[tuple[int, int], str]:
    out = {}
    for voter in voters:
        key = voter.certificate.public_key()
        if isinstance(key, ec.EllipticCurvePublicKey):
            numbers = key.public_numbers()
            out[(numbers.x, numbers.y)] = voter.employee_id
    return out


def test_the_recovery_is_right():
    """The textbook recovery finds the key of an honest ES256 signature."""
    key = ec.generate_private_key(ec.SECP256R1())
    message = b"votingpilot recovery self-test"
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
    numbers = key.public_key().public_numbers()
    assert (numbers.x, numbers.y) in recover(r.to_bytes(32, "big") + s.to_bytes(32, "big"), [message])


# --- the acceptance tests --------------------------------------------------------------------------


def _check_nothing_links(pair: Pair) -> None:
    for election_id, files in pair.records.items():
        assert F.ROLL not in files and F.TRUST not in files, "the auditors' part is not public"
        assert verify_record(files, workers=1).ok(strict=True), election_id
        assert signatures(files), "the record has signatures to try"
        assert verifying_pairs(files, pair.voters) == [], f"{election_id}: a signature verifies against a voter's certificate"
        assert appearances(files, pair.voters) == [], f"{election_id}: a voter's certificate or key is in the public record"
    a, b = pair.records.values()
    keys_a, keys_b = recovered_keys(a), recovered_keys(b)
    assert keys_a and keys_b
    assert not keys_a & keys_b, "a key recovered from one election's signatures is also recovered from the other's"
    points = certificate_points(pair.voters)
    assert points, "some voters have P-256 certificates"
    assert not (keys_a | keys_b) & set(points), "a key recovered from the board is a voter's certificate key"
    # The same voter's credentials differ between the elections.
    credentials_a = {e["body"]["credential"] for e in board_entries(a) if e["kind"] == "credential-registered"}
    credentials_b = {e["body"]["credential"] for e in board_entries(b) if e["kind"] == "credential-registered"}
    assert credentials_a and credentials_b and not credentials_a & credentials_b


@pytest.mark.slow
def test_nothing_in_two_synthetic_public_records_links_a_voter(synthetic):
    _check_nothing_links(synthetic)


@pytest.mark.slow
def test_the_scanners_find_what_the_old_scheme_published(synthetic):
    """Positive control: if a voter's certificate key signed a ballot (version 2
    of the record), the signature scan finds it and the recovery links the
    voter across the two elections."""
    voter = next(v for v in synthetic.voters if isinstance(v.certificate.public_key(), ec.EllipticCurvePublicKey))
    doctored = {}
    for election_id, files in synthetic.records.items():
        entries = board_entries(files)
        fingerprint = bytes.fromhex(json.loads(files[F.PARAMETERS])["fingerprint"])
        ballot = next(e for e in entries if e["kind"] == "ballot")["body"]
        ballot["signature"] = sign_ballot(voter.private_key, election_fingerprint=fingerprint, tracking_code=bytes.fromhex(ballot["tracking_code"])).hex()
        doctored[election_id] = resign(files, entries, synthetic.server_key)
    for files in doctored.values():
        assert [employee for employee, _ in verifying_pairs(files, synthetic.voters)] == [voter.employee_id]
    a, b = doctored.values()
    linked = recovered_keys(a) & recovered_keys(b)
    numbers = voter.certificate.public_key().public_numbers()
    assert (numbers.x, numbers.y) in linked


def test_the_appearance_scan_finds_a_certificate():
    """Positive control of the string scan: a record holding a voter's certificate."""
    election = synthesize(5, workers=1, audits=0, key_types=KEY_TYPES)
    voter = election.credentials[1]
    der = voter.certificate.public_bytes(serialization.Encoding.DER)
    files = {**public_part(election.files), "extra": base64.b64encode(der)}
    assert (voter.employee_id, "certificate (base64)") in appearances(files, election.credentials)
    assert appearances(public_part(election.files), election.credentials) == []


@pytest.mark.slow
def test_nothing_in_two_live_public_records_links_a_voter(live):
    """The same, on the records a real server exports (E0000-E0002 voted in both elections)."""
    _check_nothing_links(live)
