"""HTTP: close, aggregate, partial decryptions, tally, publish, result."""

from __future__ import annotations

from litestar import Controller, get, post

from voting.auth.service import Principal
from voting.services import Services


class TallyController(Controller):
    path = "/api/elections/{election_id:str}"
    tags = ["tally"]

    @post("/close", status_code=200, summary="Close voting and publish the aggregate (administrators)")
    async def close(self, services: Services, principal: Principal, election_id: str) -> dict:
        async with services.database.write() as db:
            return await services.tally.close(db, principal, election_id)

    @get("/aggregate", summary="The encrypted aggregate the trustees decrypt")
    async def aggregate(self, services: Services, election_id: str) -> dict:
        async with services.database.read() as db:
            return await services.tally.aggregate(db, election_id)

    @post("/partial-decryptions", status_code=200, summary="A trustee's partial decryption with proofs")
    async def partial(self, services: Services, principal: Principal, election_id: str, data: dict) -> dict:
        async with services.database.write() as db:
            return await services.tally.submit_partial(db, principal, election_id, data)

    @post("/tally", status_code=200, summary="Combine t partial decryptions into the result (administrators)")
    async def tally(self, services: Services, principal: Principal, election_id: str) -> dict:
        async with services.database.write() as db:
            return await services.tally.tally(db, principal, election_id)

    @post("/publish", status_code=200, summary="Publish the result (administrators)")
    async def publish(self, services: Services, principal: Principal, election_id: str) -> dict:
        async with services.database.write() as db:
            return await services.tally.publish(db, principal, election_id)

    @get("/result", summary="The result, once tallied")
    async def result(self, services: Services, election_id: str) -> dict:
        async with services.database.read() as db:
            return await services.tally.result(db, election_id)
