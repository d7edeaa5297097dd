"""HTTP: the public bulletin board (no login needed: it is public), and the
witnesses' cosignatures of its tree heads (docs/parts/witness.md)."""

from __future__ import annotations

import msgspec
from litestar import Controller, get, post
from litestar.params import Parameter

from crypto.errors import CosignatureError
from crypto.witness import Cosignature
from voting.errors import Invalid, ServiceError
from voting.request_body import Body, body
from voting.services import Services
from voting.wire.board import (
    MAX_POSITION,
    ConsistencyReply,
    CosignedReply,
    CosignRequest,
    CosignStored,
    EntriesReply,
    HeadReply,
    InclusionReply,
    SignedTreeHead,
    WitnessesReply,
)

MAX_PAGE = 500
COSIGN_HINT = 'send {"size": n, "cosignature": {"witness_key", "time_ms", "signature"}}'


def _cosignature(data: Body[CosignRequest]) -> tuple[int, Cosignature]:
    """The request strictly typed (``"3"`` or ``3.0`` is no size: the witness
    signed integers), or a 400 malformed_request."""
    request = data.parse()
    try:
        return request.size, Cosignature.from_json(msgspec.to_builtins(request.cosignature))
    except CosignatureError as exc:
        raise ServiceError(f"{COSIGN_HINT}: {exc}", code="malformed_request") from None


class BoardController(Controller):
    path = "/api/elections/{election_id:str}/board"
    tags = ["board"]

    @get("/entries", summary="Board entries, oldest first")
    async def entries(
        self,
        services: Services,
        election_id: str,
        start: int = Parameter(default=0, ge=0, le=MAX_POSITION),
        limit: int = Parameter(default=100, ge=1, le=MAX_PAGE),
    ) -> EntriesReply:
        async with services.database.read() as db:
            size = await services.board.size(db, election_id)
            entries = await services.board.entries(db, election_id, start, limit)
        return EntriesReply(size=size, start=start, entries=entries)

    @get("/head", summary="The newest signed tree head")
    async def head(self, services: Services, election_id: str) -> HeadReply:
        async with services.database.read() as db:
            sth = await services.board.head(db, election_id)
        return msgspec.convert({**sth.to_json(), "server_key": services.key.public_bytes.hex()}, HeadReply)

    @get("/heads", summary="The history of signed tree heads")
    async def heads(
        self,
        services: Services,
        election_id: str,
        start: int = Parameter(default=0, ge=0, le=MAX_POSITION),
        limit: int = Parameter(default=100, ge=1, le=MAX_PAGE),
    ) -> list[SignedTreeHead]:
        async with services.database.read() as db:
            await services.board.size(db, election_id)  # an unknown election is a 404, not []
            heads = await services.board.heads(db, election_id, start, limit)
        return msgspec.convert([h.to_json() for h in heads], list[SignedTreeHead])

    @get("/inclusion", summary="Inclusion proof by leaf index or tracking code")
    async def inclusion(
        self,
        services: Services,
        election_id: str,
        index: int | None = Parameter(default=None, ge=0, le=MAX_POSITION),
        tracking_code: str | None = Parameter(default=None, max_length=64),
        size: int | None = Parameter(default=None, ge=1, le=MAX_POSITION),
    ) -> InclusionReply:
        if (index is None) == (tracking_code is None):
            raise Invalid("give exactly one of index or tracking_code", code="bad_proof_request")
        async with services.database.read() as db:
            await services.board.size(db, election_id)  # election_not_found before anything else
            if tracking_code is not None:
                index = await services.board.index_of(db, election_id, tracking_code)
            assert index is not None  # exactly one of the two was given
            head = await services.board.head(db, election_id, size)
            proof = await services.board.inclusion_proof(db, election_id, index, head.head.size)
            entry = await services.board.entry(db, election_id, index)
        return msgspec.convert({"entry": entry.data, "proof": proof.to_json(), "tree_head": head.to_json()}, InclusionReply)

    @get("/consistency", summary="Consistency proof between two tree sizes")
    async def consistency(
        self,
        services: Services,
        election_id: str,
        old: int = Parameter(ge=0, le=MAX_POSITION),
        new: int | None = Parameter(default=None, ge=0, le=MAX_POSITION),
    ) -> ConsistencyReply:
        async with services.database.read() as db:
            await services.board.size(db, election_id)  # election_not_found before anything else
            head = await services.board.head(db, election_id, new)
            proof = await services.board.consistency_proof(db, election_id, old, head.head.size)
        return msgspec.convert({"proof": proof.to_json(), "tree_head": head.to_json()}, ConsistencyReply)

    # -- witnesses --------------------------------------------------------------------------

    @post(
        "/cosignatures", status_code=200, summary="Store a witness's cosignature on a signed tree head",
        dto=body(CosignRequest, COSIGN_HINT, code="malformed_request", status=400), return_dto=None,
    )
    async def cosign(self, services: Services, election_id: str, data: Body[CosignRequest]) -> CosignStored:
        """Public, like the board: only a witness the manifest names can make a
        cosignature that verifies. Storing it never waits for nor holds up casting."""
        size, cosignature = _cosignature(data)
        witness = await services.witnesses.add(election_id, size, cosignature)
        return CosignStored(size=size, witness=witness.name, stored=True)

    @get("/cosigned", summary="The newest tree head cosigned by the quorum of witnesses")
    async def cosigned(self, services: Services, election_id: str) -> CosignedReply:
        async with services.database.read() as db:
            cosigned = await services.witnesses.cosigned(db, election_id)
        return msgspec.convert(cosigned.to_json(), CosignedReply)

    @get("/witnesses", summary="The election's witnesses and the newest head each cosigned")
    async def witnesses(self, services: Services, election_id: str) -> WitnessesReply:
        async with services.database.read() as db:
            policy, views = await services.witnesses.newest(db, election_id)
        return msgspec.convert({"quorum": policy.quorum, "witnesses": [v.to_json() for v in views]}, WitnessesReply)
