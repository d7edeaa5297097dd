"""The witnesses' cosignatures of an election's tree heads (docs/parts/witness.md).

Witnesses poll the board and post a cosignature for each newer head they
checked. That must never hold up casting: a cosignature is checked against the
stored head (an immutable row) in a read session, and only then stored, as one
row of a table of its own, in a short write transaction. The ``board_state``
row, which every append locks, is never touched.

Only cosignatures that verify, by witnesses the election's manifest names, are
stored, so every count of stored cosignatures is a count of distinct, valid
witnesses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from crypto import log as merkle
from crypto.ballots import Manifest
from crypto.errors import CosignatureError
from crypto.witness import Cosignature, CosignedHead, Witness, WitnessPolicy, verify_cosignature
from voting.board.service import Board, signed_head
from voting.db.engine import Database
from voting.db.models import Cosignature as CosignatureRow
from voting.db.models import Election, TreeHead
from voting.errors import Forbidden, NotFound, ServiceError


@dataclass(frozen=True)
class WitnessView:
    """One witness of an election and the largest head it cosigned (as stored here)."""

    witness: Witness
    tree_head: merkle.SignedTreeHead | None
    cosignature: Cosignature | None

    def to_json(self) -> dict:
        newest = None
        if self.tree_head is not None and self.cosignature is not None:
            newest = {"tree_head": self.tree_head.to_json(), "cosignature": self.cosignature.to_json()}
        return {**self.witness.to_json(), "url": self.witness.url, "newest": newest}


def _cosignature(row: CosignatureRow) -> Cosignature:
    return Cosignature(row.witness_key, row.time_ms, row.signature)


async def cosigned_heads(db: AsyncSession, election_id: str, low: int, high: int) -> list[CosignedHead]:
    """Every head of size ``low`` to ``high`` with at least one stored
    cosignature, by size, each with all of them (ordered by witness key)."""
    rows = (
        await db.execute(
            select(CosignatureRow, TreeHead)
            .join(TreeHead, (TreeHead.election_id == CosignatureRow.election_id) & (TreeHead.size == CosignatureRow.size))
            .where(CosignatureRow.election_id == election_id, CosignatureRow.size >= low, CosignatureRow.size <= high)
            .order_by(CosignatureRow.size, CosignatureRow.witness_key)
        )
    ).all()
    heads: dict[int, tuple[merkle.SignedTreeHead, list[Cosignature]]] = {}
    for cosignature, head in rows:
        heads.setdefault(head.size, (signed_head(head, election_id), []))[1].append(_cosignature(cosignature))
    return [CosignedHead(sth, tuple(cosignatures)) for sth, cosignatures in heads.values()]


class Witnesses:
    def __init__(self, board: Board, database: Database) -> None:
        self.board = board
        self.database = database
        # A manifest never changes once the election exists: parse it once.
        self._policies: dict[str, WitnessPolicy] = {}

    async def policy(self, db: AsyncSession, election_id: str) -> WitnessPolicy:
        """The election's witnesses and quorum, from its manifest (404 for no election)."""
        policy = self._policies.get(election_id)
        if policy is None:
            manifest = await db.scalar(select(Election.manifest).where(Election.id == election_id))
            if manifest is None:
                raise NotFound(f"no election {election_id!r}", code="election_not_found")
            policy = self._policies[election_id] = Manifest.from_json(json.loads(manifest)).witnesses
        return policy

    async def add(self, election_id: str, size: int, cosignature: Cosignature) -> Witness:
        """Store a witness's cosignature on the head of ``size``, once per
        (election, size, witness); a repeat changes nothing. Refuses a key the
        manifest does not name (403), a head that does not exist (404) and a
        signature that does not verify over it (400)."""
        async with self.database.read() as db:
            witness = (await self.policy(db, election_id)).witness(cosignature.witness_key)
            if witness is None:
                raise Forbidden(
                    "the cosignature's key is not one of the witnesses the election's manifest names",
                    code="unknown_witness",
                )
            head = await self.board.head(db, election_id, size)
            stored = await db.scalar(
                select(CosignatureRow.size).where(
                    CosignatureRow.election_id == election_id,
                    CosignatureRow.size == size,
                    CosignatureRow.witness_key == cosignature.witness_key,
                )
            )
        try:
            verify_cosignature(head.head, cosignature)
        except CosignatureError:
            raise ServiceError(
                f"the cosignature by {witness.name} does not verify over the tree head of size {size}",
                code="cosignature_invalid",
                status=400,
            ) from None
        if stored is not None:
            # A repeat (anyone can replay a public cosignature) never takes the
            # write lock that casting shares on SQLite.
            return witness
        row = {
            "election_id": election_id,
            "size": size,
            "witness_key": cosignature.witness_key,
            "time_ms": cosignature.time_ms,
            "signature": cosignature.signature,
        }
        dialect = postgresql if self.database.engine.dialect.name == "postgresql" else sqlite
        async with self.database.write() as db:
            await db.execute(dialect.insert(CosignatureRow).values(row).on_conflict_do_nothing())
            await db.commit()
        return witness

    async def cosigned(self, db: AsyncSession, election_id: str) -> CosignedHead:
        """The newest head that at least the quorum of witnesses cosigned, with
        every cosignature stored on it."""
        policy = await self.policy(db, election_id)
        if not policy.quorum:
            raise NotFound("the election's manifest names no witnesses", code="no_witnesses")
        size = await db.scalar(
            select(CosignatureRow.size)
            .where(CosignatureRow.election_id == election_id)
            .group_by(CosignatureRow.size)
            .having(func.count() >= policy.quorum)
            .order_by(CosignatureRow.size.desc())
            .limit(1)
        )
        if size is None:
            raise NotFound(f"no tree head is cosigned by {policy.quorum} witnesses yet", code="not_cosigned")
        return (await cosigned_heads(db, election_id, size, size))[0]

    async def newest(self, db: AsyncSession, election_id: str) -> tuple[WitnessPolicy, list[WitnessView]]:
        """Each witness of the election with the largest head it cosigned."""
        policy = await self.policy(db, election_id)
        largest = dict(
            (
                await db.execute(
                    select(CosignatureRow.witness_key, func.max(CosignatureRow.size))
                    .where(CosignatureRow.election_id == election_id)
                    .group_by(CosignatureRow.witness_key)
                )
            ).all()
        )
        views = []
        for witness in policy.witnesses:
            size = largest.get(witness.public_key)
            if size is None:
                views.append(WitnessView(witness, None, None))
                continue
            row = await db.get(CosignatureRow, (election_id, size, witness.public_key))
            assert row is not None  # read in this transaction just above
            views.append(WitnessView(witness, await self.board.head(db, election_id, size), _cosignature(row)))
        return policy, views
