"""HTTP: cast a ballot, look up its receipt, publish an audited ballot."""

from __future__ import annotations

from litestar import Controller, get, post

from voting.auth.service import Principal
from voting.services import Services


class BallotController(Controller):
    path = "/api/elections/{election_id:str}/ballots"
    tags = ["ballots"]

    @post("/", status_code=201, summary="Cast an encrypted, signed ballot; returns the receipt")
    async def cast(self, services: Services, principal: Principal, election_id: str, data: dict) -> dict:
        return await services.cast.cast(principal, election_id, data)

    @get("/{tracking_code:str}", summary="The receipt of a ballot, by tracking code")
    async def receipt(self, services: Services, election_id: str, tracking_code: str) -> dict:
        async with services.database.read() as db:
            return await services.cast.receipt(db, election_id, tracking_code)


class AuditController(Controller):
    path = "/api/elections/{election_id:str}/audits"
    tags = ["ballots"]

    @post("/", status_code=201, summary="Publish an audited (spoiled) ballot with its opening; returns its receipt")
    async def publish(self, services: Services, principal: Principal, election_id: str, data: dict) -> dict:
        return await services.cast.publish_audit(principal, election_id, data)
