"""Check 7: the bulletin board. ``parse_board`` reads ``board.jsonl`` into the
immutable ``Board`` every other check stands on; ``check_tree_heads`` checks
the signed tree heads against it (Merkle roots, signatures, consistency), the
entries' clock and the manifest's schedule."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from crypto import log as merkle
from crypto.encoding import canonical_json
from crypto.entry_kinds import (
    ADMIN_ACTION,
    AGGREGATE,
    BALLOT,
    BALLOT_AUDITED,
    BALLOT_SUPERSEDED,
    CREDENTIAL_REGISTERED,
    ELECTION_CLOSED,
    ELECTION_CREATED,
    ELECTION_OPENED,
    ELECTION_PUBLISHED,
    JOINT_KEY,
    PARTIAL_DECRYPTION,
    RESULT,
    TRUSTEE_ANNOUNCEMENT,
    board_stage,
)
from crypto.entry_kinds import BOARD_ENTRY_KINDS as ENTRY_KINDS
from crypto.errors import CryptoError
from voting.record import files as F
from voting.verify.parse import UNUSABLE, Bad, conform, exact_object, iso_time, load, strict_json
from voting.verify.report import Findings
from voting.verify.workers import Progress

ENTRY_KEYS = {"election_id", "index", "kind", "time", "body"}
#: How far an entry's time may precede an earlier entry's (app servers' clocks differ a little).
CLOCK_TOLERANCE = timedelta(seconds=2)

#: The lifecycle's steps, each taken once: a second one is a board the server rewrote.
ONCE = (ELECTION_CREATED, ELECTION_OPENED, ELECTION_CLOSED, ELECTION_PUBLISHED)

#: The check that judges each kind of entry: a body its kind's Struct
#: (voting/wire/record.py) refuses fails that check (``body_findings``).
GUARDED_BY = {
    ELECTION_CREATED: 1,
    ELECTION_CLOSED: 1,
    ELECTION_PUBLISHED: 1,
    ADMIN_ACTION: 1,
    TRUSTEE_ANNOUNCEMENT: 2,
    JOINT_KEY: 2,
    BALLOT: 3,
    ELECTION_OPENED: 5,
    CREDENTIAL_REGISTERED: 5,
    BALLOT_SUPERSEDED: 6,
    AGGREGATE: 8,
    PARTIAL_DECRYPTION: 9,
    RESULT: 10,
    BALLOT_AUDITED: 11,
}
_IN_BODY = re.compile(r" - at `\$\.body(?:[.\[]|`)")


@dataclass(frozen=True)
class Board:
    """The board as read: the exact bytes of every leaf, each entry that is
    well-formed (None where it is not: check 7 says why) and its time.

    An entry whose body its kind's Struct refuses stays here as read (the
    checks of its kind judge what it means); ``malformed`` says why, for the
    check that guards its kind (``body_findings``)."""

    lines: tuple[bytes, ...] = ()
    entries: tuple[dict[str, Any] | None, ...] = ()
    times: tuple[datetime | None, ...] = ()
    election_id: str | None = None
    malformed: tuple[tuple[int, str], ...] = ()
    """(entry index, why its body is malformed)"""

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.entries if e is not None and e["kind"] == kind]

    def stage(self) -> str:
        kinds = {e["kind"] for e in self.entries if e is not None}
        return board_stage(kinds)

    def open_and_close(self) -> tuple[int | None, int | None]:
        """The indices of the first election-opened and election-closed entries."""
        opened, closed = self.of_kind(ELECTION_OPENED), self.of_kind(ELECTION_CLOSED)
        return (opened[0]["index"] if opened else None, closed[0]["index"] if closed else None)


def parse_board(files: Mapping[str, bytes]) -> tuple[Board, Findings]:
    """Check 7, part 1: every line is one canonical JSON entry of this
    election, numbered in order, of a known kind, with a time; each entry is
    then read with its kind's Struct (a malformed body is for the check of
    its kind: ``Board.malformed``)."""
    c = Findings()
    data = files.get(F.BOARD)
    if data is None:
        c.fail(f"{F.BOARD} is missing from the record")
        return Board(), c
    if not data:
        c.fail(f"{F.BOARD} is empty")
        return Board(), c
    lines = data.split(b"\n")
    if lines[-1] != b"":
        c.fail(f"{F.BOARD} must end with a newline")
    else:
        lines.pop()
    entries: list[dict[str, Any] | None] = []
    times: list[datetime | None] = [None] * len(lines)
    malformed: list[tuple[int, str]] = []
    first_id = None
    for index, line in enumerate(lines):
        entry: Any
        try:
            entry = strict_json(line, f"entry {index}")
            if canonical_json(entry) != line:
                raise Bad(f"entry {index} is not in canonical JSON (the exact bytes its leaf hashes)")
            exact_object(entry, ENTRY_KEYS, f"entry {index}")
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
            times[index] = iso_time(entry["time"], f"entry {index}: time")
        except (Bad, CryptoError, TypeError) as exc:  # TypeError: e.g. an unhashable kind
            c.fail(str(exc) if not isinstance(exc, TypeError) else f"entry {index} is malformed: {exc}")
            entry = None
        if entry is not None:
            try:
                conform(entry, F.BOARD, f"{F.BOARD}: entry {index} ({entry['kind']})")
            except Bad as exc:
                if _IN_BODY.search(str(exc)):
                    malformed.append((index, str(exc)))
                else:
                    c.fail(str(exc))
        entries.append(entry)
    steps = {kind: [e["index"] for e in entries if e is not None and e["kind"] == kind] for kind in ONCE}
    for kind, where in steps.items():
        if len(where) > 1:
            c.fail(f"the board has {len(where)} {kind} entries (entries {', '.join(map(str, where))}); an election has one")
    created = steps[ELECTION_CREATED]
    if created and created != [0]:
        c.fail(f"an election-created entry must be entry 0 and only there (found at {', '.join(map(str, created))})")
    return Board(tuple(lines), tuple(entries), tuple(times), first_id, tuple(malformed)), c


def body_findings(board: Board) -> dict[int, Findings]:
    """The malformed bodies of ``board``, as failures of the checks that guard their kinds (``GUARDED_BY``)."""
    found: dict[int, Findings] = {}
    for index, why in board.malformed:
        entry = board.entries[index]
        assert entry is not None
        found.setdefault(GUARDED_BY[entry["kind"]], Findings()).fail(why)
    return found


def check_tree_heads(
    board: Board,
    files: Mapping[str, bytes],
    server_key: bytes | None,
    manifest_doc: Mapping[str, Any] | None,
    progress: Progress,
) -> tuple[merkle.MemoryLog | None, Findings]:
    """Check 7, part 2: the signed tree heads (under ``server_key``, from check
    1), each head's root against the board's leaves, consistency between
    heads, the board's clock, the schedule. Returns the board's Merkle tree
    as far as the heads cover it."""
    c = Findings()
    docs = load(files, F.TREE_HEADS, c)
    if docs is UNUSABLE:
        return None, c
    lines = board.lines
    heads: list[merkle.SignedTreeHead] = []
    for number, doc in enumerate(docs):
        try:
            heads.append(merkle.SignedTreeHead.from_json(doc))
        except CryptoError as exc:
            c.fail(f"tree head {number}: {exc}")
    sizes = [h.head.size for h in heads]
    if any(b <= a for a, b in itertools.pairwise(sizes)):
        c.fail("the tree heads are not in strictly increasing order of size (a repeated size is a fork)")
    if sizes and sizes[-1] != len(lines):
        c.fail(f"the newest signed tree head covers {sizes[-1]} entries; the board has {len(lines)}")
    if server_key is None:
        c.block("needs the server key (check 1) to check the tree heads' signatures")
    progress("tree heads", 0, len(heads))
    for number, sth in enumerate(heads):
        if sth.head.log_id != board.election_id:
            c.fail(f"tree head of size {sth.head.size} is for log {sth.head.log_id!r}")
        if server_key is not None:
            try:
                merkle.verify_tree_head(server_key, sth)
            except CryptoError as exc:
                c.fail(f"tree head of size {sth.head.size}: {exc}")
        if number % 1000 == 999:
            progress("tree heads", number + 1, len(heads))
    progress("tree heads", len(heads), len(heads))
    # Every head's root against the root recomputed from the board's leaves.
    log = merkle.MemoryLog()
    for sth in sorted(heads, key=lambda h: h.head.size):
        size = sth.head.size
        if size > len(lines):
            c.fail(f"tree head of size {size} is beyond the board's {len(lines)} entries")
            continue
        while log.size < size:
            log.append(lines[log.size])
        if log.root() != sth.head.root:
            c.fail(f"tree head of size {size}: its root is not the Merkle root of the board's first {size} entries")
    # And pairwise, as a receipt holder checks them: each head extends the one before.
    ordered = sorted((h for h in heads if h.head.size <= len(lines)), key=lambda h: h.head.size)
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
    for index, moment in enumerate(board.times):
        if moment is None:
            continue
        if latest is not None and moment < latest[0] - CLOCK_TOLERANCE:
            c.fail(f"entry {index} is dated {moment.isoformat()}, before entry {latest[1]} ({latest[0].isoformat()}): the board's clock ran backwards")
        if latest is None or moment > latest[0]:
            latest = (moment, index)
    _check_schedule(board, manifest_doc, c)
    c.items(len(lines) + len(heads))
    return log, c


def _check_schedule(board: Board, manifest_doc: Mapping[str, Any] | None, c: Findings) -> None:
    """Ballots and audits only within the manifest's schedule, as the server
    enforces it (with the clock skew allowed above: an entry's time is read
    a moment after the server's check, perhaps on another app server)."""
    schedule = (manifest_doc or {}).get("schedule") or {}
    try:
        opens = iso_time(schedule["opens_at"], "schedule.opens_at") if schedule.get("opens_at") else None
        closes = iso_time(schedule["closes_at"], "schedule.closes_at") if schedule.get("closes_at") else None
    except Bad as exc:
        c.fail(f"the manifest's {exc}")
        return
    for index, (entry, moment) in enumerate(zip(board.entries, board.times, strict=False)):
        if moment is None or entry is None or entry["kind"] not in (BALLOT, BALLOT_AUDITED):
            continue
        if (opens is not None and moment < opens - CLOCK_TOLERANCE) or (closes is not None and moment >= closes + CLOCK_TOLERANCE):
            c.fail(
                f"entry {index} ({entry['kind']}) is dated {moment.isoformat()}, outside the schedule "
                f"({schedule.get('opens_at', '…')} to {schedule.get('closes_at', '…')})"
            )
