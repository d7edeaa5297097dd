"""Checks 3 and 4: every ballot well-formed with every proof valid, limits
from the manifest (3); tracking codes unique and the hash of their ballots,
and the view ``ballots.json`` (4). The same pass sums the counted ballots for
check 8."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from crypto.ballots import EncryptedBallot, selection_ciphertexts, tracking_code, verify_ballot
from crypto.entry_kinds import BALLOT
from crypto.group import Point, sum_columns
from voting.record import files as F
from voting.verify.board import Board
from voting.verify.parameters import Parameters
from voting.verify.parse import UNUSABLE, Bad, exact_object, hex_bytes, load, same_json, short
from voting.verify.report import BLOCKED, SKIP, Findings
from voting.verify.workers import Progress, Workers, ballot_context


@dataclass(frozen=True)
class CastBallot:
    """A ``ballot`` entry of the board, in a usable shape."""

    index: int
    tracking_code: str
    credential: str
    signature: str
    time: str
    line: bytes


@dataclass(frozen=True)
class Ballots:
    """The board's ballots and the view ``ballots.json`` (UNUSABLE if it is not one)."""

    cast: tuple[CastBallot, ...] = ()
    view: Any = UNUSABLE


@dataclass(frozen=True)
class Recomputed:
    """What check 3 recomputed from the ballots."""

    tracking_codes: Mapping[int, str | None] = field(default_factory=dict)
    """entry index -> the hash of its ballot (None: unreadable)"""
    sums: list[Point] | None = None
    """the column sums (alpha, beta per option) of the counted ballots"""
    unreadable_counted: tuple[int, ...] = ()
    """counted ballots that could not be read"""


def read_ballots_view(files: Mapping[str, bytes]) -> tuple[Any, Findings]:
    """``ballots.json``, the view of the ballots that checks 4 and 6 compare
    (UNUSABLE if it is not one, a row per ballot: check 4 says why)."""
    c4 = Findings()
    return load(files, F.BALLOTS, c4), c4


def collect_ballots(board: Board) -> tuple[tuple[CastBallot, ...], Findings]:
    """The ballot entries in a usable shape (a malformed one fails check 3)."""
    c3 = Findings()
    cast = []
    for entry in board.of_kind(BALLOT):
        try:
            body = exact_object(entry["body"], {"tracking_code", "credential", "ballot", "signature"}, "ballot entry")
            hex_bytes(body["tracking_code"], "tracking_code", 32)
            hex_bytes(body["credential"], "credential", 32)
            if not isinstance(body["signature"], str) or len(body["signature"]) > 1024:
                raise Bad("signature must be hex text")
        except Bad as exc:
            c3.fail(f"ballot (entry {entry['index']}): {exc}")
            continue
        cast.append(
            CastBallot(entry["index"], body["tracking_code"], body["credential"], body["signature"], entry["time"], board.lines[entry["index"]])
        )
    return tuple(cast), c3


def verify_ballot_chunk(items: Sequence[tuple[int, bytes, bool]]) -> tuple[Any, ...]:
    """Checks 3 and 4 for a chunk of ballot entries (in a worker), and the sum
    of the counted ones for check 8. Returns (per ballot: index, error or None,
    recomputed tracking code or None), the column sums (hex), how many were
    summed, the counted ballots that could not be read, and the seconds spent."""
    start = time.process_time()
    context = ballot_context()
    manifest, joint_key, fingerprint = context.manifest, context.joint_key, context.fingerprint
    results: list[tuple[int, str | None, str | None]] = []
    rows: list[list[Point]] = []
    unreadable: list[int] = []
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
    sums = [p.hex() for p in sum_columns(rows, 2 * context.width)]
    return results, sums, len(rows), unreadable, time.process_time() - start


def check_ballots(
    board: Board,
    parameters: Parameters,
    ballots: Ballots,
    counted: Sequence[CastBallot],
    workers: Workers,
    progress: Progress,
) -> tuple[Recomputed, Findings]:
    """Check 3: every ballot's proofs, with the limits of the manifest (never
    the ballot's own). ``counted``: the ballots check 6 counts, to sum."""
    c3 = Findings()
    manifest = parameters.manifest
    if manifest is None or parameters.fingerprint is None:
        if manifest is not None and not board.of_kind(BALLOT):
            c3.skip("the key ceremony has not finished: no ballots yet")
        else:
            c3.block("needs the manifest and the election fingerprint (check 1)")
        return Recomputed(), c3
    counted_at = {b.index for b in counted}
    items = [(b.index, b.line, b.index in counted_at) for b in ballots.cast]
    recomputed: dict[int, str | None] = {}
    sums: list[list[Point]] = []
    unreadable: list[int] = []

    def collect(outcome: tuple[Any, ...]) -> None:
        results, chunk_sums, _, chunk_unreadable, _ = outcome
        for index, error, code in results:
            if error:
                c3.fail(f"ballot at entry {index}: {error}")
            recomputed[index] = code
        sums.append([Point.from_hex(h, allow_identity=True) for h in chunk_sums])
        unreadable.extend(chunk_unreadable)

    c3.worker_seconds(workers.run_chunks(progress, "ballot proofs", verify_ballot_chunk, items, collect))
    c3.items(len(items))
    width = sum(len(q.option_ids) for q in manifest.questions)
    total = sum_columns(sums, 2 * width) if sums else None
    if not ballots.cast:
        c3.note("no ballots were cast")
    return Recomputed(recomputed, total, tuple(unreadable)), c3


def check_tracking_codes(ballots: Ballots, recomputed: Recomputed, check_3_status: str) -> Findings:
    """Check 4: each tracking code is the hash of its ballot (as check 3
    recomputed it; ``check_3_status`` says whether it could) and unique; the
    view ``ballots.json`` lists the board's ballots."""
    c = Findings()
    ready = check_3_status not in (SKIP, BLOCKED)
    seen: dict[str, int] = {}
    for ballot in ballots.cast:
        code = recomputed.tracking_codes.get(ballot.index)
        if not ready:
            pass
        elif code is None:
            c.fail(f"ballot at entry {ballot.index}: unreadable, so its tracking code cannot be recomputed")
        elif code != ballot.tracking_code:
            c.fail(f"ballot at entry {ballot.index}: tracking code {short(ballot.tracking_code)} is not the hash of the ballot ({short(code)})")
        if ballot.tracking_code in seen:
            c.fail(f"ballot at entry {ballot.index} repeats the tracking code of entry {seen[ballot.tracking_code]}")
        seen.setdefault(ballot.tracking_code, ballot.index)
    c.items(len(ballots.cast))
    view = ballots.view
    if view is not UNUSABLE:
        expected = [
            {"leaf_index": b.index, "tracking_code": b.tracking_code, "credential": b.credential, "signature": b.signature, "cast_at": b.time}
            for b in ballots.cast
        ]
        keys = ("leaf_index", "tracking_code", "credential", "signature", "cast_at")
        shown = [{k: row[k] for k in keys} for row in view]
        if not same_json(shown, expected):
            c.fail(f"{F.BALLOTS} differs from the ballots on the board (index, tracking code, credential, signature, time)")
    if not ready:
        (c.skip if check_3_status == SKIP else c.block)("the ballots could not be recomputed (check 3)")
    return c
