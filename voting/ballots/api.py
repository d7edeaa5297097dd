"""HTTP: cast a ballot, look up its receipt, publish an audited ballot."""

from __future__ import annotations

import msgspec
from litestar import Controller, get, post

from voting.auth.service import Principal
from voting.request_body import Body, body
from voting.services import Services
from voting.wire.ballots import AuditRequest, CastReply, CastRequest, Receipt, ReceiptLookup


class BallotController(Controller):
    path = "/api/elections/{election_id:str}/ballots"
    tags = ["ballots"]

    @post(
        "/", status_code=201, summary="Cast an encrypted, signed ballot; returns the receipt",
        dto=body(CastRequest, "send {ballot, signature}"), return_dto=None,
    )
    async def cast(self, services: Services, principal: Principal, election_id: str, data: Body[CastRequest]) -> CastReply:
        return msgspec.convert(await services.cast.cast(principal, election_id, data.document), CastReply)

    @get("/{tracking_code:str}", summary="The receipt of a ballot, by tracking code")
    async def receipt(self, services: Services, election_id: str, tracking_code: str) -> ReceiptLookup:
        async with services.database.read() as db:
            lookup = await services.cast.receipt(db, election_id, tracking_code)
        return msgspec.convert(lookup, ReceiptLookup)


class AuditController(Controller):
    path = "/api/elections/{election_id:str}/audits"
    tags = ["ballots"]

    @post(
        "/", status_code=201, summary="Publish an audited (spoiled) ballot with its opening; returns its receipt",
        dto=body(AuditRequest, "send {ballot, opening}"), return_dto=None,
    )
    async def publish(self, services: Services, principal: Principal, election_id: str, data: Body[AuditRequest]) -> Receipt:
        return msgspec.convert(await services.cast.publish_audit(principal, election_id, data.document), Receipt)
