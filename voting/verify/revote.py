"""Check 6: the re-vote policy. Which ballots count (the supersessions on the
board, under the manifest's policy), and the status columns of ``ballots.json``."""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass

from crypto.entry_kinds import BALLOT_SUPERSEDED, ELECTION_CLOSED, ELECTION_OPENED, JOINT_KEY
from voting.record import files as F
from voting.verify.ballots import Ballots, CastBallot
from voting.verify.board import Board
from voting.verify.parse import UNUSABLE, Bad, exact_object, same_json, short
from voting.verify.report import Findings


@dataclass(frozen=True)
class Supersession:
    index: int
    tracking_code: str
    superseded_by: str
    credential: str


def check_revote(board: Board, ballots: Ballots, policy: str | None) -> tuple[tuple[CastBallot, ...], Findings]:
    """Returns the counted ballots (every ballot no entry supersedes), for checks 3, 5 and 8."""
    c = Findings()
    if policy is None:
        c.block("needs the manifest's re-vote policy (check 1)")
        return (), c
    opened = [e["index"] for e in board.of_kind(ELECTION_OPENED)]
    closed = [e["index"] for e in board.of_kind(ELECTION_CLOSED)]
    supersessions: list[Supersession] = []
    for entry in board.of_kind(BALLOT_SUPERSEDED):
        try:
            body = exact_object(entry["body"], {"tracking_code", "superseded_by", "credential"}, BALLOT_SUPERSEDED)
            if not all(isinstance(body[k], str) for k in body):
                raise Bad("tracking codes and credential must be text")
            supersessions.append(Supersession(entry["index"], body["tracking_code"], body["superseded_by"], body["credential"]))
        except Bad as exc:
            c.fail(f"entry {entry['index']}: {exc}")
    cast = ballots.cast
    if not cast and not supersessions and not opened:
        c.skip("voting has not opened")
    if len(opened) > 1:
        c.fail(f"the election was opened {len(opened)} times (entries {opened})")
    if len(closed) > 1:
        c.fail(f"the election was closed {len(closed)} times (entries {closed})")
    joints = board.of_kind(JOINT_KEY)
    if opened and (joints and opened[0] < joints[0]["index"]):
        c.fail("the election was opened before its joint key was published")
    open_at = opened[0] if opened else None
    close_at = closed[0] if closed else None
    items: list[tuple[CastBallot | Supersession, str]] = [(b, "ballot") for b in cast]
    items += [(s, "supersession") for s in supersessions]
    for item, what in items:
        if open_at is None or item.index < open_at:
            c.fail(f"{what} at entry {item.index} comes before the election opened")
        elif close_at is not None and item.index > close_at:
            c.fail(f"{what} at entry {item.index} comes after the election closed (entry {close_at})")
    by_code: dict[str, CastBallot] = {}
    for ballot in cast:
        by_code.setdefault(ballot.tracking_code, ballot)
    # The re-vote policy is keyed by the voting credential: one per registered employee.
    by_voter: dict[str, list[CastBallot]] = defaultdict(list)
    for ballot in cast:
        by_voter[ballot.credential].append(ballot)
    claimed: dict[str, Supersession] = {}
    for s in supersessions:
        if s.tracking_code in claimed:
            c.fail(f"entry {s.index} supersedes ballot {short(s.tracking_code)} a second time")
        claimed.setdefault(s.tracking_code, s)
    if policy == "single":
        for s in supersessions:
            c.fail(f"entry {s.index} supersedes a ballot, but the policy is one ballot per voter")
        for voter, own in by_voter.items():
            if len(own) > 1:
                c.fail(f"credential {short(voter)} has {len(own)} ballots (entries {[b.index for b in own]}) under the one-ballot policy")
    else:
        for voter, own in by_voter.items():
            for earlier, later in itertools.pairwise(own):
                claim = claimed.get(earlier.tracking_code)
                where = f"credential {short(voter)}'s ballot at entry {earlier.index}"
                if claim is None:
                    c.fail(f"{where} was followed by entry {later.index} but never marked superseded")
                elif claim.superseded_by != later.tracking_code:
                    c.fail(f"{where} is marked superseded by {short(claim.superseded_by)}, not by their next ballot (entry {later.index})")
                elif claim.index < later.index:
                    c.fail(f"{where} is marked superseded (entry {claim.index}) before its replacement was cast")
                elif claim.credential != voter:
                    c.fail(f"entry {claim.index} names credential {short(claim.credential)}, the ballots are {short(voter)}'s")
        for code, claim in claimed.items():
            superseded = by_code.get(code)
            if superseded is None:
                c.fail(f"entry {claim.index} supersedes {short(code)}, which is not a ballot on the board")
            elif by_voter[superseded.credential][-1] is superseded:
                c.fail(f"entry {claim.index} supersedes credential {short(superseded.credential)}'s last ballot (entry {superseded.index})")
    counted = tuple(b for b in cast if b.tracking_code not in claimed)
    c.items(len(cast) + len(supersessions))
    # The status columns of ballots.json.
    view = ballots.view
    if view is UNUSABLE:
        c.fail(f"{F.BALLOTS} is unusable (see check 4)")
        return counted, c
    expected = [
        {
            "counted": b.tracking_code not in claimed,
            "superseded_by": claimed[b.tracking_code].superseded_by if b.tracking_code in claimed else None,
            "superseded_at": claimed[b.tracking_code].index if b.tracking_code in claimed else None,
        }
        for b in cast
    ]
    shown = [{k: row[k] for k in ("counted", "superseded_by", "superseded_at")} for row in view]
    if not same_json(shown, expected):
        c.fail(f"{F.BALLOTS} shows other ballots as counted or superseded than the board does")
    return counted, c
