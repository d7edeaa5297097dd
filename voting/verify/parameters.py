"""Check 1: the parameters and the election fingerprint. ``record.json``, the
``election-created`` entry (manifest, trustees, threshold, ceremony
fingerprint, server key), the election policy, the joint key's fingerprint,
and the views ``manifest.json`` and ``parameters.json``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crypto import threshold
from crypto.ballots import Manifest, ceremony_fingerprint, election_fingerprint
from crypto.credentials import is_valid_employee_id
from crypto.entry_kinds import (
    ADMIN_ACTION,
    ELECTION_CLOSED,
    ELECTION_CREATED,
    ELECTION_OPENED,
    ELECTION_PUBLISHED,
    JOINT_KEY,
)
from crypto.errors import CryptoError
from crypto.group import Point
from voting.record import files as F
from voting.verify.board import Board
from voting.verify.parse import (
    UNUSABLE,
    Bad,
    compare_view,
    conform,
    exact_object,
    hex_bytes,
    integer,
    iso_time,
    load_json,
    short,
)
from voting.verify.report import Findings

CREATED_KEYS = {"manifest", "trustees", "trustee_ids", "threshold", "ceremony_fingerprint", "server_key"}
JOINT_KEY_KEYS = {"joint_key", "fingerprint", "public_shares", "endorsements"}
#: The entries whose ``by`` is the administrator who acted: it must never be a trustee.
ADMIN_KINDS = (ADMIN_ACTION, ELECTION_OPENED, ELECTION_CLOSED, ELECTION_PUBLISHED)
#: At least this many trustees must decrypt: with one, a single person could.
MIN_THRESHOLD = 2
REVOTE_POLICIES = ("single", "last")
GROUP = "ristretto255"


@dataclass(frozen=True)
class Parameters:
    """What check 1 established for the checks after it (None: it could not)."""

    manifest: Manifest | None = None
    params: threshold.CeremonyParameters | None = None
    server_key: bytes | None = None
    """the key the tree heads must be signed with: the pinned one if given"""
    policy: str | None = None
    """the re-vote policy"""
    trustee_ids: tuple[str, ...] | None = None
    joint_key: Point | None = None
    fingerprint: bytes | None = None
    """the election fingerprint every proof must be bound to, recomputed"""

    @property
    def manifest_doc(self) -> dict[str, Any] | None:
        return self.manifest.document if self.manifest is not None else None


def check_parameters(board: Board, files: Mapping[str, bytes], pinned_key: bytes | None) -> tuple[Parameters, Findings]:
    c = Findings()
    _check_record_file(board, files, c)
    first = board.entries[0] if board.entries else None
    if first is None or first["kind"] != ELECTION_CREATED:
        c.fail("the board does not start with an election-created entry")
        return Parameters(), c
    try:
        body = exact_object(first["body"], CREATED_KEYS, ELECTION_CREATED)
        manifest = Manifest.from_json(body["manifest"])
        n, t = integer(body["trustees"], "trustees", 1), integer(body["threshold"], "threshold", 1)
        claimed = hex_bytes(body["ceremony_fingerprint"], "ceremony_fingerprint", 32)
        params = threshold.CeremonyParameters(n, t, claimed)
        server_key = hex_bytes(body["server_key"], "server_key", 32)
    except (Bad, CryptoError) as exc:
        c.fail(f"election-created (entry 0): {exc}")
        return Parameters(), c
    # What the other checks stand on is established; what follows can fail
    # without stopping them.
    policy = manifest.document.get("revote_policy")
    if policy not in REVOTE_POLICIES:
        c.fail(f"election-created (entry 0): the manifest's revote_policy {policy!r} is not one of {REVOTE_POLICIES}")
    if manifest.election_id != board.election_id:
        c.fail(f"election-created (entry 0): the manifest is for election {manifest.election_id!r}, the board for {board.election_id!r}")
    if ceremony_fingerprint(manifest, n, t) != claimed:
        c.fail("election-created (entry 0): the ceremony fingerprint is not SHA-256 of this manifest, n and t")
    signing_key = server_key
    if pinned_key is not None and server_key != pinned_key:
        c.fail("the record's server key is not the one you gave (--server-key): another server signed it")
        signing_key = pinned_key  # the tree heads must carry the pinned key's signatures
    trustee_ids = _check_policy(board, body["trustee_ids"], n, t, c)
    c.items(1)
    joints = board.of_kind(JOINT_KEY)
    if len(joints) > 1:
        c.fail(f"{len(joints)} joint-key entries; there must be one")
    joint_body: dict[str, Any] = {}
    joint_key = fingerprint = None
    if joints:
        joint_body = joints[0]["body"]
        try:
            joint = exact_object(joint_body, JOINT_KEY_KEYS, JOINT_KEY)
            point = Point.from_hex(joint["joint_key"])
            # The fingerprint every proof must be bound to, whatever the board claims.
            joint_key, fingerprint = point, election_fingerprint(manifest, point)
            c.add_items(1)
            if hex_bytes(joint["fingerprint"], "fingerprint", 32) != fingerprint:
                raise Bad("the election fingerprint is not SHA-256 of the manifest and the joint key")
        except (Bad, CryptoError) as exc:
            c.fail(f"joint-key (entry {joints[0]['index']}): {exc}")
    # The views: manifest.json and parameters.json say what the board says.
    compare_view(files, F.MANIFEST, manifest.document, c, "the manifest on the board (entry 0)")
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
    compare_view(files, F.PARAMETERS, expected, c, "the board's election-created and joint-key entries")
    established = Parameters(
        manifest, params, signing_key, policy if policy in REVOTE_POLICIES else None, trustee_ids, joint_key, fingerprint
    )
    return established, c


def _check_record_file(board: Board, files: Mapping[str, bytes], c: Findings) -> None:
    record = load_json(files, F.RECORD, c)
    if record is UNUSABLE:
        return
    try:
        # What the record is and which version, before its shape: a record of
        # another format or version is named as such, not as malformed.
        if not isinstance(record, dict) or record.get("format") != F.FORMAT:
            raise Bad(f"{F.RECORD}: not a {F.FORMAT}")
        if record.get("version") != F.VERSION or isinstance(record.get("version"), bool):
            raise Bad(f"{F.RECORD}: unsupported version {record.get('version')!r} (this verifier reads {F.VERSION})")
        conform(record, F.RECORD)
        iso_time(record["exported_at"], f"{F.RECORD}: exported_at")
        if record["stage"] != board.stage():
            raise Bad(f"{F.RECORD} says the election is {record['stage']!r}; its board shows {board.stage()!r}")
        if record["auditors_part"] is not F.has_auditors_part(files):
            raise Bad(f"{F.RECORD} says auditors_part is {record['auditors_part']!r}, which the files contradict")
        if record["election_id"] != board.election_id:
            raise Bad(f"{F.RECORD} names election {record['election_id']!r}, the board {board.election_id!r}")
        if record["board_size"] != len(board.lines):
            raise Bad(f"{F.RECORD} says the board has {record['board_size']!r} entries, it has {len(board.lines)}")
    except Bad as exc:
        c.fail(str(exc))


def _check_policy(board: Board, trustee_ids: object, n: int, t: int, c: Findings) -> tuple[str, ...] | None:
    """The election policy (docs/parts/service-protocol.md): at least two
    trustees must decrypt, the trustees are n distinct employees, and none of
    them acted as an administrator on this board. Returns the trustees'
    employee ids, if they are valid."""
    valid = None
    if t < MIN_THRESHOLD:
        c.fail(f"election-created (entry 0): threshold {t}: at least {MIN_THRESHOLD} trustees must decrypt")
    try:
        if not isinstance(trustee_ids, list) or len(trustee_ids) != n:
            raise Bad(f"trustee_ids must list the {n} trustees' employee ids")
        invalid = [e for e in trustee_ids if not is_valid_employee_id(e)]
        if invalid:
            raise Bad(f"trustee_ids holds {short(str(invalid[0]))!r}, which is not an employee id")
        if len(set(trustee_ids)) != n:
            raise Bad("trustee_ids names an employee twice: the trustees must be n distinct people")
        valid = tuple(trustee_ids)
    except Bad as exc:
        c.fail(f"election-created (entry 0): {exc}")
    named = {e: i for i, e in enumerate(trustee_ids, start=1) if isinstance(e, str)} if isinstance(trustee_ids, list) else {}
    for entry in board.entries:
        if entry is None or entry["kind"] not in ADMIN_KINDS:
            continue
        by = entry["body"].get("by")
        if not isinstance(by, str) or not is_valid_employee_id(by):
            # Otherwise a "by" of another type would slip past the rule below.
            c.fail(f"{entry['kind']} (entry {entry['index']}) does not name the administrator who acted (by: {by!r})")
        elif by in named:
            c.fail(f"{entry['kind']} (entry {entry['index']}) is by {by}, who is trustee {named[by]}: a trustee must not administer the election")
    return valid
