"""HTTP: close, aggregate, partial decryptions, tally, publish, result."""

from __future__ import annotations

import msgspec
from litestar import Controller, get, post

from voting.auth.service import Principal
from voting.request_body import Body, body
from voting.services import Services
from voting.wire.elections import ElectionView
from voting.wire.tally import Aggregate, PartialAccepted, PartialDecryptionRequest, Result


class TallyController(Controller):
    path = "/api/elections/{election_id:str}"
    tags = ["tally"]

    @post("/close", status_code=200, summary="Close voting and publish the aggregate (administrators)")
    async def close(self, services: Services, principal: Principal, election_id: str) -> ElectionView:
        async with services.database.write() as db:
            return msgspec.convert(await services.tally.close(db, principal, election_id), ElectionView)

    @get("/aggregate", summary="The encrypted aggregate the trustees decrypt")
    async def aggregate(self, services: Services, election_id: str) -> Aggregate:
        async with services.database.read() as db:
            return msgspec.convert(await services.tally.aggregate(db, election_id), Aggregate)

    @post(
        "/partial-decryptions", status_code=200, summary="A trustee's partial decryption with proofs",
        dto=body(PartialDecryptionRequest, "send {index, shares, proofs}", code="bad_encoding"), return_dto=None,
    )
    async def partial(
        self, services: Services, principal: Principal, election_id: str, data: Body[PartialDecryptionRequest]
    ) -> PartialAccepted:
        async with services.database.write() as db:
            return msgspec.convert(await services.tally.submit_partial(db, principal, election_id, data.document), PartialAccepted)

    @post("/tally", status_code=200, summary="Combine t partial decryptions into the result (administrators)")
    async def tally(self, services: Services, principal: Principal, election_id: str) -> Result:
        async with services.database.write() as db:
            return msgspec.convert(await services.tally.tally(db, principal, election_id), Result)

    @post("/publish", status_code=200, summary="Publish the result (administrators)")
    async def publish(self, services: Services, principal: Principal, election_id: str) -> ElectionView:
        async with services.database.write() as db:
            return msgspec.convert(await services.tally.publish(db, principal, election_id), ElectionView)

    @get("/result", summary="The result, once tallied")
    async def result(self, services: Services, election_id: str) -> Result:
        async with services.database.read() as db:
            return msgspec.convert(await services.tally.result(db, election_id), Result)
