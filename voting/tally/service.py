"""Closing, tallying and publishing an election.

On close the server adds up the counted ballots (the homomorphic aggregate)
and publishes it. Trustees decrypt that aggregate on their own machines and
submit partial decryptions with proofs, which are checked here against their
public shares. With any t of them the server combines the result; it never
holds a key share and never decrypts a single ballot.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crypto import threshold
from crypto.ballots import EncryptedBallot, aggregate
from crypto.elgamal import Ciphertext
from crypto.encoding import canonical_json
from crypto.entry_kinds import ADMIN_ACTION, AGGREGATE, ELECTION_CLOSED, ELECTION_PUBLISHED, PARTIAL_DECRYPTION, RESULT
from voting.auth.service import ADMIN, Principal
from voting.board.service import Board
from voting.db.models import Ballot, Election, Trustee
from voting.elections import lifecycle
from voting.elections.schedule import Schedule
from voting.elections.service import ElectionService, manifest_of, public_view
from voting.errors import Conflict, Invalid


def _aggregate_doc(election: Election) -> dict[str, Any]:
    """The aggregate written when voting closed: callers require a closed election."""
    assert election.aggregate is not None, f"election {election.id} has no aggregate"
    doc: dict[str, Any] = json.loads(election.aggregate)
    return doc


def aggregate_of(election: Election) -> list[Ciphertext]:
    return [Ciphertext.from_json(c, allow_identity=True) for c in _aggregate_doc(election)["ciphertexts"]]


def _require_enough_ballots(election: Election) -> None:
    """With fewer counted ballots than the manifest's minimum the tally would
    reveal individual votes (with one ballot, that voter's): neither decrypt it
    nor combine it. Trustees' clients and the verifier apply the same rule."""
    counted = _aggregate_doc(election)["ballots_counted"]
    minimum = manifest_of(election).min_tally_ballots
    if counted < minimum:
        raise Conflict(
            f"only {counted} ballots were counted; the manifest requires at least {minimum} to decrypt the tally",
            code="too_few_ballots",
        )


class TallyService:
    def __init__(self, board: Board, elections: ElectionService) -> None:
        self.board = board
        self.elections = elections

    async def close(self, db: AsyncSession, admin: Principal, election_id: str) -> dict:
        admin.require(ADMIN)
        election = await self.elections.get(db, election_id, for_update=True)
        if election.status == lifecycle.OPEN:
            # The board's clock, as for casts (the database server's on PostgreSQL).
            Schedule.of(json.loads(election.manifest)).require_closable(await self.board.now(db))
        lifecycle.advance(election, lifecycle.CLOSED)
        # Any cast waiting for the election row lock now sees "closed" and is refused.
        await self.board.append(db, election_id, ELECTION_CLOSED, {"by": admin.employee_id})
        manifest = manifest_of(election)
        rows = await db.scalars(
            select(Ballot.ballot).where(Ballot.election_id == election_id, Ballot.superseded.is_(False))
        )
        ballots = [EncryptedBallot.from_json(json.loads(text), manifest) for text in rows]
        totals = aggregate(manifest, ballots)
        doc = {"ballots_counted": len(ballots), "ciphertexts": [c.to_json() for c in totals]}
        election.aggregate = canonical_json(doc).decode()
        await self.board.append(db, election_id, AGGREGATE, doc)
        await db.commit()
        return public_view(election)

    async def aggregate(self, db: AsyncSession, election_id: str) -> dict:
        election = await self.elections.get(db, election_id)
        if election.aggregate is None:
            raise Conflict("the election is not closed yet", code="not_closed")
        return {"fingerprint": election.fingerprint, **json.loads(election.aggregate)}

    async def submit_partial(self, db: AsyncSession, principal: Principal, election_id: str, doc: object) -> dict:
        election = await self.elections.get(db, election_id, for_update=True)
        trustee = await self.elections.trustee_of(db, principal, election_id)
        lifecycle.require(election, lifecycle.CLOSED, action="submit a partial decryption")
        _require_enough_ballots(election)
        partial = threshold.PartialDecryption.from_json(doc)
        if partial.index != trustee.index:
            raise Invalid(f"you are trustee {trustee.index}", code="wrong_trustee_index")
        announcements = await self._announcements(db, election_id)
        assert election.fingerprint is not None  # set when the key ceremony finished
        threshold.verify_partial_decryption(
            announcements, aggregate_of(election), partial, fingerprint=bytes.fromhex(election.fingerprint)
        )
        if trustee.partial_decryption is not None:
            if json.loads(trustee.partial_decryption) == partial.to_json():
                return {"index": trustee.index, "accepted": True}
            raise Conflict("you have already submitted a partial decryption", code="already_decrypted")
        trustee.partial_decryption = canonical_json(partial.to_json()).decode()
        await self.board.append(db, election_id, PARTIAL_DECRYPTION, partial.to_json())
        await db.commit()
        return {"index": trustee.index, "accepted": True}

    async def tally(self, db: AsyncSession, admin: Principal, election_id: str) -> dict:
        """Combine the partial decryptions of any t trustees into the result."""
        admin.require(ADMIN)
        election = await self.elections.get(db, election_id, for_update=True)
        lifecycle.require(election, lifecycle.CLOSED, action="tally")
        _require_enough_ballots(election)
        trustees = list(await db.scalars(select(Trustee).where(Trustee.election_id == election_id).order_by(Trustee.index)))
        partials = [
            threshold.PartialDecryption.from_json(json.loads(t.partial_decryption))
            for t in trustees
            if t.partial_decryption is not None
        ]
        if len(partials) < election.threshold:
            raise Conflict(
                f"{len(partials)} of the {election.threshold} trustees needed have decrypted",
                code="threshold_not_met",
            )
        partials = partials[: election.threshold]
        aggregate_doc = _aggregate_doc(election)
        counts = threshold.combine(
            aggregate_of(election), partials, threshold=election.threshold, bound=aggregate_doc["ballots_counted"]
        )
        result = self._result(election, counts, aggregate_doc["ballots_counted"], [p.index for p in partials])
        election.result = canonical_json(result).decode()
        lifecycle.advance(election, lifecycle.TALLIED)
        # The result names no one: who ran the tally goes to the administrators' log.
        await self.board.append(db, election_id, ADMIN_ACTION, {"action": "tally", "by": admin.employee_id})
        await self.board.append(db, election_id, RESULT, result)
        await db.commit()
        return result

    async def publish(self, db: AsyncSession, admin: Principal, election_id: str) -> dict:
        admin.require(ADMIN)
        election = await self.elections.get(db, election_id, for_update=True)
        lifecycle.advance(election, lifecycle.PUBLISHED)
        await self.board.append(db, election_id, ELECTION_PUBLISHED, {"by": admin.employee_id})
        await db.commit()
        return public_view(election)

    async def result(self, db: AsyncSession, election_id: str) -> dict:
        election = await self.elections.get(db, election_id)
        lifecycle.require(election, lifecycle.TALLIED, lifecycle.PUBLISHED, action="show the result")
        assert election.result is not None  # written with the tally
        result: dict[str, Any] = json.loads(election.result)
        return result

    @staticmethod
    def _result(election: Election, counts: list[int], ballots_counted: int, trustees: list[int]) -> dict:
        questions = manifest_of(election).counted_questions(counts)
        return {"ballots_counted": ballots_counted, "questions": questions, "trustees": trustees}

    async def _announcements(self, db: AsyncSession, election_id: str) -> list[threshold.Announcement]:
        rows = await db.scalars(select(Trustee.announcement).where(Trustee.election_id == election_id).order_by(Trustee.index))
        announcements = []
        for a in rows:
            assert a is not None, "every trustee announced before voting opened"
            announcements.append(threshold.Announcement.from_json(json.loads(a)))
        return announcements
