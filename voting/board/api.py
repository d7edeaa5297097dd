"""HTTP: the public bulletin board (no login needed: it is public), and the
witnesses' cosignatures of its tree heads (docs/parts/witness.md)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, get, post
from litestar.params import Parameter

from crypto.errors import CosignatureError
from crypto.log import MAX_SIZE
from crypto.witness import Cosignature
from voting.errors import Invalid, ServiceError
from voting.services import Services

MAX_PAGE = 500
#: Sizes and indices beyond any board (2^53 - 1) are refused as malformed, not
#: passed on to the database (whose integer columns would overflow).
MAX_POSITION = MAX_SIZE

_HEX32 = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]
_HEX64 = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{128}$")]
_POSITION = Annotated[int, msgspec.Meta(ge=0, le=MAX_POSITION)]


class _CosignatureBody(msgspec.Struct, forbid_unknown_fields=True):
    witness_key: _HEX32
    time_ms: _POSITION
    signature: _HEX64


class _CosignRequest(msgspec.Struct, forbid_unknown_fields=True):
    size: Annotated[int, msgspec.Meta(ge=1, le=MAX_POSITION)]
    cosignature: _CosignatureBody


def _cosign_request(body: dict) -> tuple[int, Cosignature]:
    """``{"size", "cosignature"}``, strictly typed (``"3"`` or ``3.0`` is no
    size: the witness signed integers), or a 400 malformed_request."""
    try:
        request = msgspec.convert(body, _CosignRequest, strict=True)
        return request.size, Cosignature.from_json(msgspec.to_builtins(request.cosignature))
    except (msgspec.ValidationError, CosignatureError) as exc:
        raise ServiceError(
            f'send {{"size": n, "cosignature": {{"witness_key", "time_ms", "signature"}}}}: {exc}',
            code="malformed_request",
        ) from None


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
    ) -> dict:
        async with services.database.read() as db:
            size = await services.board.size(db, election_id)
            entries = await services.board.entries(db, election_id, start, limit)
        return {"size": size, "start": start, "entries": entries}

    @get("/head", summary="The newest signed tree head")
    async def head(self, services: Services, election_id: str) -> dict:
        async with services.database.read() as db:
            sth = await services.board.head(db, election_id)
        return {**sth.to_json(), "server_key": services.key.public_bytes.hex()}

    @get("/heads", summary="The history of signed tree heads")
    async def heads(
        self,
        services: Services,
        election_id: str,
        start: int = Parameter(default=0, ge=0, le=MAX_POSITION),
        limit: int = Parameter(default=100, ge=1, le=MAX_PAGE),
    ) -> list[dict]:
        async with services.database.read() as db:
            await services.board.size(db, election_id)  # an unknown election is a 404, not []
            return [h.to_json() for h in await services.board.heads(db, election_id, start, limit)]

    @get("/inclusion", summary="Inclusion proof by leaf index or tracking code")
    async def inclusion(
        self,
        services: Services,
        election_id: str,
        index: int | None = Parameter(default=None, ge=0, le=MAX_POSITION),
        tracking_code: str | None = Parameter(default=None, max_length=64),
        size: int | None = Parameter(default=None, ge=1, le=MAX_POSITION),
    ) -> dict:
        if (index is None) == (tracking_code is None):
            raise Invalid("give exactly one of index or tracking_code", code="bad_proof_request")
        async with services.database.read() as db:
            await services.board.size(db, election_id)  # election_not_found before anything else
            if tracking_code is not None:
                index = await services.board.index_of(db, election_id, tracking_code)
            head = await services.board.head(db, election_id, size)
            proof = await services.board.inclusion_proof(db, election_id, index, head.head.size)
            entry = await services.board.entry(db, election_id, index)
        return {"entry": entry.data, "proof": proof.to_json(), "tree_head": head.to_json()}

    @get("/consistency", summary="Consistency proof between two tree sizes")
    async def consistency(
        self,
        services: Services,
        election_id: str,
        old: int = Parameter(ge=0, le=MAX_POSITION),
        new: int | None = Parameter(default=None, ge=0, le=MAX_POSITION),
    ) -> dict:
        async with services.database.read() as db:
            await services.board.size(db, election_id)  # election_not_found before anything else
            head = await services.board.head(db, election_id, new)
            proof = await services.board.consistency_proof(db, election_id, old, head.head.size)
        return {"proof": proof.to_json(), "tree_head": head.to_json()}

    # -- witnesses --------------------------------------------------------------------------

    @post("/cosignatures", status_code=200, summary="Store a witness's cosignature on a signed tree head")
    async def cosign(self, services: Services, election_id: str, data: dict) -> dict:
        """Public, like the board: only a witness the manifest names can make a
        cosignature that verifies. Storing it never waits for nor holds up casting."""
        size, cosignature = _cosign_request(data)
        witness = await services.witnesses.add(election_id, size, cosignature)
        return {"size": size, "witness": witness.name, "stored": True}

    @get("/cosigned", summary="The newest tree head cosigned by the quorum of witnesses")
    async def cosigned(self, services: Services, election_id: str) -> dict:
        async with services.database.read() as db:
            return (await services.witnesses.cosigned(db, election_id)).to_json()

    @get("/witnesses", summary="The election's witnesses and the newest head each cosigned")
    async def witnesses(self, services: Services, election_id: str) -> dict:
        async with services.database.read() as db:
            policy, views = await services.witnesses.newest(db, election_id)
        return {"quorum": policy.quorum, "witnesses": [v.to_json() for v in views]}
