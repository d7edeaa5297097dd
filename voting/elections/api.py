"""HTTP: elections, rolls, lifecycle and the key ceremony."""

from __future__ import annotations

import msgspec
from litestar import Controller, Request, delete, get, post

from voting.auth.api import bearer_token
from voting.auth.service import Principal
from voting.elections import lifecycle
from voting.errors import Invalid
from voting.request_body import Body, body
from voting.services import Services
from voting.wire.elections import (
    Announced,
    AnnouncementRequest,
    Ceremony,
    Confirmed,
    ConfirmRequest,
    CreateElectionRequest,
    CredentialRegistered,
    CredentialRequest,
    ElectionStatus,
    ElectionView,
    EncryptedShare,
    Roll,
    RollImported,
    RollPreview,
    RollRemoved,
    SharesSent,
    VoterInfo,
)

MAX_ROLL_BYTES = 8 * 1024 * 1024


class ElectionController(Controller):
    path = "/api/elections"
    tags = ["elections"]

    @get("/", summary="Elections visible to the logged-in employee")
    async def list_elections(self, services: Services, principal: Principal) -> list[ElectionView]:
        async with services.database.read() as db:
            return msgspec.convert(await services.elections.list_for(db, principal), list[ElectionView])

    @post(
        "/", status_code=201, summary="Create an election (administrators)",
        dto=body(CreateElectionRequest, "send {manifest, trustees: [employee ids], threshold}"), return_dto=None,
    )
    async def create(self, services: Services, principal: Principal, data: Body[CreateElectionRequest]) -> ElectionView:
        async with services.database.write() as db:
            return msgspec.convert(await services.elections.create(db, principal, data.document), ElectionView)

    @get("/{election_id:str}", summary="An election's public data and status (administrators: and the CRL state)")
    async def status(self, request: Request, services: Services, election_id: str) -> ElectionStatus:
        async with services.database.read() as db:
            doc = await services.elections.status(db, election_id)
        if await services.auth.is_admin(services.database, bearer_token(request)):
            doc["crl"] = services.auth.trust.crl_status()
        return msgspec.convert(doc, ElectionStatus)

    @get("/{election_id:str}/voter", summary="The logged-in voter's voting credential and ballots")
    async def voter(self, services: Services, principal: Principal, election_id: str) -> VoterInfo:
        async with services.database.read() as db:
            return msgspec.convert(await services.elections.voter_info(db, principal, election_id), VoterInfo)

    @post(
        "/{election_id:str}/credential", status_code=200, summary="Register the voter's voting credential",
        dto=body(CredentialRequest, "send {credential, signature}"), return_dto=None,
    )
    async def credential(
        self, services: Services, principal: Principal, election_id: str, data: Body[CredentialRequest]
    ) -> CredentialRegistered:
        async with services.database.write() as db:
            registered = await services.elections.register_credential(db, principal, election_id, data.document)
        return msgspec.convert(registered, CredentialRegistered)

    @post("/{election_id:str}/roll", status_code=200, summary="Import voters from CSV (administrators)")
    async def roll(
        self, request: Request, services: Services, principal: Principal, election_id: str, dry_run: bool = False
    ) -> RollImported | RollPreview:
        """The body is the CSV file's bytes as saved (UTF-8 or cp932: the server
        decodes). ``?dry_run=true``: the preview, nothing written."""
        raw = await request.body()
        if len(raw) > MAX_ROLL_BYTES:
            raise Invalid("the roll file is too large", code="payload_too_large", status=413)
        if dry_run:
            async with services.database.read() as db:
                preview = await services.elections.import_roll(db, principal, election_id, raw, dry_run=True)
            return msgspec.convert(preview, RollPreview)
        async with services.database.write() as db:
            return msgspec.convert(await services.elections.import_roll(db, principal, election_id, raw), RollImported)

    @get("/{election_id:str}/roll", summary="The voter roll (administrators)")
    async def roll_entries(self, services: Services, principal: Principal, election_id: str) -> Roll:
        async with services.database.read() as db:
            return msgspec.convert(await services.elections.roll_entries(db, principal, election_id), Roll)

    @delete(
        "/{election_id:str}/roll/{employee_id:str}", status_code=200,
        summary="Remove a voter from the roll before voting opens (administrators)",
    )
    async def remove_from_roll(self, services: Services, principal: Principal, election_id: str, employee_id: str) -> RollRemoved:
        async with services.database.write() as db:
            return msgspec.convert(await services.elections.remove_from_roll(db, principal, election_id, employee_id), RollRemoved)

    @post("/{election_id:str}/ceremony/start", status_code=200, summary="Start the key ceremony (administrators)")
    async def start_ceremony(self, services: Services, principal: Principal, election_id: str) -> ElectionView:
        async with services.database.write() as db:
            election = await services.elections.transition(db, principal, election_id, lifecycle.KEY_CEREMONY)
        return msgspec.convert(election, ElectionView)

    @post("/{election_id:str}/open", status_code=200, summary="Open for voting (administrators)")
    async def open_election(self, services: Services, principal: Principal, election_id: str) -> ElectionView:
        async with services.database.write() as db:
            election = await services.elections.transition(db, principal, election_id, lifecycle.OPEN)
        return msgspec.convert(election, ElectionView)

    @get("/{election_id:str}/ceremony", summary="Ceremony state for the logged-in trustee")
    async def ceremony(self, services: Services, principal: Principal, election_id: str) -> Ceremony:
        async with services.database.read() as db:
            return msgspec.convert(await services.elections.ceremony(db, principal, election_id), Ceremony)

    @post(
        "/{election_id:str}/ceremony/announcement", status_code=200, summary="Publish a trustee's announcement",
        dto=body(AnnouncementRequest, "send {announcement, signature}"), return_dto=None,
    )
    async def announce(
        self, services: Services, principal: Principal, election_id: str, data: Body[AnnouncementRequest]
    ) -> Announced:
        async with services.database.write() as db:
            return msgspec.convert(await services.elections.announce(db, principal, election_id, data.document), Announced)

    @post(
        "/{election_id:str}/ceremony/shares", status_code=200, summary="Relay encrypted key shares",
        dto=body(list[EncryptedShare], "send a list of encrypted shares"), return_dto=None,
    )
    async def shares(
        self, services: Services, principal: Principal, election_id: str, data: Body[list[EncryptedShare]]
    ) -> SharesSent:
        async with services.database.write() as db:
            return msgspec.convert(await services.elections.submit_shares(db, principal, election_id, data.document), SharesSent)

    @post(
        "/{election_id:str}/ceremony/confirm", status_code=200, summary="Confirm a trustee's public share",
        dto=body(ConfirmRequest, "send {public_share, endorsement}"), return_dto=None,
    )
    async def confirm(self, services: Services, principal: Principal, election_id: str, data: Body[ConfirmRequest]) -> Confirmed:
        async with services.database.write() as db:
            return msgspec.convert(await services.elections.confirm(db, principal, election_id, data.document), Confirmed)


