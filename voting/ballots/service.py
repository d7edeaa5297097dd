"""Casting a ballot. It reads top to bottom: parse, authenticate (done by the
caller), verify, append, commit, receipt.

The expensive checks (every proof and the voter's signature) run before the
write transaction; inside it, only what must be serialized: the state and
re-vote checks, the board append and the commit. A receipt is returned only
after the commit, and a retried request with the same ballot gets the same
receipt and changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crypto.ballots import EncryptedBallot, Manifest, tracking_code, verify_ballot
from crypto.credentials import verify_ballot_signature
from crypto.encoding import canonical_json
from crypto.group import Point
from crypto.receipts import make_receipt
from voting.auth.service import Principal
from voting.board.service import Board
from voting.db.engine import Database
from voting.db.models import Ballot, Election, RollEntry
from voting.elections import lifecycle
from voting.errors import Conflict, Forbidden, Invalid, NotFound

MAX_SIGNATURE_HEX = 1024  # RSA-4096 signatures are 512 bytes


@dataclass(frozen=True)
class ElectionKeys:
    """What verification needs, parsed once per election (it never changes once open)."""

    manifest: Manifest
    joint_key: Point
    fingerprint: bytes


class CastService:
    def __init__(self, board: Board, database: Database) -> None:
        self.board = board
        self.database = database
        self._keys: dict[str, ElectionKeys] = {}

    async def _election_keys(self, db: AsyncSession, election_id: str) -> tuple[Election, ElectionKeys]:
        election = await db.get(Election, election_id)
        if election is None:
            raise NotFound(f"no election {election_id!r}", code="election_not_found")
        lifecycle.require(election, lifecycle.OPEN, action="cast a ballot")
        keys = self._keys.get(election_id)
        if keys is None:
            keys = ElectionKeys(
                Manifest.from_json(json.loads(election.manifest)),
                Point.from_hex(election.joint_key),
                bytes.fromhex(election.fingerprint),
            )
            self._keys[election_id] = keys
        return election, keys

    async def cast(self, principal: Principal, election_id: str, body: object) -> dict:
        # 1. parse
        if not isinstance(body, dict) or set(body) != {"ballot", "signature"}:
            raise Invalid("send {ballot, signature}", code="invalid_request")
        signature_hex = body["signature"]
        if not isinstance(signature_hex, str) or len(signature_hex) > MAX_SIGNATURE_HEX:
            raise Invalid("the signature must be hex", code="invalid_signature_encoding")
        try:
            signature = bytes.fromhex(signature_hex)
        except ValueError:
            raise Invalid("the signature must be hex", code="invalid_signature_encoding") from None

        async with self.database.read() as db:
            _, keys = await self._election_keys(db, election_id)
            voter = await db.get(RollEntry, (election_id, principal.employee_id))
        if voter is None:
            raise Forbidden("you are not on this election's voter roll", code="not_on_roll")

        # 2. verify: every proof for this voter, then the voter's signature
        ballot = EncryptedBallot.from_json(body["ballot"], keys.manifest)
        verify_ballot(keys.manifest, keys.joint_key, keys.fingerprint, voter.pseudonym, ballot)
        code = tracking_code(keys.fingerprint, ballot)
        verify_ballot_signature(
            x509.load_der_x509_certificate(principal.certificate_der),
            signature,
            election_fingerprint=keys.fingerprint,
            tracking_code=code,
        )

        # 3. append and commit, serialized
        async with self.database.write() as db:
            receipt = await self._append(db, principal, election_id, voter.pseudonym, ballot, code, signature_hex)
            await db.commit()
        return receipt

    async def _append(
        self,
        db: AsyncSession,
        principal: Principal,
        election_id: str,
        pseudonym: str,
        ballot: EncryptedBallot,
        code: bytes,
        signature_hex: str,
    ) -> dict:
        election = await db.get(Election, election_id, populate_existing=True)
        lifecycle.require(election, lifecycle.OPEN, action="cast a ballot")
        previous = list(
            await db.scalars(
                select(Ballot).where(Ballot.election_id == election_id, Ballot.pseudonym == pseudonym)
            )
        )
        for earlier in previous:
            if earlier.tracking_code == code.hex():
                return json.loads(earlier.receipt)  # a retry: same receipt, nothing added
        counted = [b for b in previous if not b.superseded]
        if counted and election.revote_policy == "single":
            raise Conflict("you have already voted in this election", code="already_voted")

        appended = await self.board.append(
            db,
            election_id,
            "ballot",
            {
                "tracking_code": code.hex(),
                "voter": pseudonym,
                "ballot": ballot.to_json(),
                "signature": signature_hex,
            },
            tracking_code=code.hex(),
        )
        receipt = make_receipt(
            self.board.key.private_key, self.board.key.public_bytes, appended.entry, appended.tree_head, appended.inclusion
        )
        for earlier in counted:
            await db.execute(update(Ballot).where(Ballot.id == earlier.id).values(superseded=True))
            await self.board.append(
                db,
                election_id,
                "ballot-superseded",
                {"tracking_code": earlier.tracking_code, "superseded_by": code.hex(), "voter": pseudonym},
            )
        db.add(
            Ballot(
                election_id=election_id,
                pseudonym=pseudonym,
                tracking_code=code.hex(),
                ballot=canonical_json(ballot.to_json()).decode(),
                signature=signature_hex,
                certificate_chain=json.dumps(principal.chain_b64),
                leaf_index=appended.leaf_index,
                superseded=False,
                receipt=json.dumps(receipt),
                cast_at=datetime.now(UTC),
            )
        )
        return receipt

    async def receipt(self, db: AsyncSession, election_id: str, tracking_code_hex: str) -> dict:
        row = await db.scalar(
            select(Ballot).where(Ballot.election_id == election_id, Ballot.tracking_code == tracking_code_hex)
        )
        if row is None:
            raise NotFound("no ballot with this tracking code", code="tracking_code_not_found")
        return {"receipt": json.loads(row.receipt), "superseded": row.superseded}
