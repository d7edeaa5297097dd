"""HTTP: elections, rolls, lifecycle and the key ceremony."""

from __future__ import annotations

from litestar import Controller, Request, get, post

from voting.auth.service import Principal
from voting.elections import lifecycle
from voting.errors import Invalid
from voting.services import Services

MAX_ROLL_BYTES = 8 * 1024 * 1024


class ElectionController(Controller):
    path = "/api/elections"
    tags = ["elections"]

    @get("/", summary="Elections visible to the logged-in employee")
    async def list_elections(self, services: Services, principal: Principal) -> list[dict]:
        async with services.database.read() as db:
            return await services.elections.list_for(db, principal)

    @post("/", status_code=201, summary="Create an election (administrators)")
    async def create(self, services: Services, principal: Principal, data: dict) -> dict:
        async with services.database.write() as db:
            return await services.elections.create(db, principal, data)

    @get("/{election_id:str}", summary="An election's public data and status")
    async def status(self, services: Services, election_id: str) -> dict:
        async with services.database.read() as db:
            return await services.elections.status(db, election_id)

    @get("/{election_id:str}/voter", summary="The logged-in voter's voting credential and ballots")
    async def voter(self, services: Services, principal: Principal, election_id: str) -> dict:
        async with services.database.read() as db:
            return await services.elections.voter_info(db, principal, election_id)

    @post("/{election_id:str}/credential", status_code=200, summary="Register the voter's voting credential")
    async def credential(self, services: Services, principal: Principal, election_id: str, data: dict) -> dict:
        async with services.database.write() as db:
            return await services.elections.register_credential(db, principal, election_id, data)

    @post("/{election_id:str}/roll", status_code=200, summary="Import voters from CSV (administrators)")
    async def roll(self, request: Request, services: Services, principal: Principal, election_id: str) -> dict:
        raw = await request.body()
        if len(raw) > MAX_ROLL_BYTES:
            raise Invalid("the roll file is too large", code="payload_too_large", status=413)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Invalid("the roll must be UTF-8 CSV", code="roll_invalid") from None
        async with services.database.write() as db:
            return await services.elections.import_roll(db, principal, election_id, text)

    @post("/{election_id:str}/ceremony/start", status_code=200, summary="Start the key ceremony (administrators)")
    async def start_ceremony(self, services: Services, principal: Principal, election_id: str) -> dict:
        async with services.database.write() as db:
            return await services.elections.transition(db, principal, election_id, lifecycle.KEY_CEREMONY)

    @post("/{election_id:str}/open", status_code=200, summary="Open for voting (administrators)")
    async def open_election(self, services: Services, principal: Principal, election_id: str) -> dict:
        async with services.database.write() as db:
            return await services.elections.transition(db, principal, election_id, lifecycle.OPEN)

    @get("/{election_id:str}/ceremony", summary="Ceremony state for the logged-in trustee")
    async def ceremony(self, services: Services, principal: Principal, election_id: str) -> dict:
        async with services.database.read() as db:
            return await services.elections.ceremony(db, principal, election_id)

    @post("/{election_id:str}/ceremony/announcement", status_code=200, summary="Publish a trustee's announcement")
    async def announce(self, services: Services, principal: Principal, election_id: str, data: dict) -> dict:
        async with services.database.write() as db:
            return await services.elections.announce(db, principal, election_id, data)

    @post("/{election_id:str}/ceremony/shares", status_code=200, summary="Relay encrypted key shares")
    async def shares(self, services: Services, principal: Principal, election_id: str, data: list) -> dict:
        async with services.database.write() as db:
            return await services.elections.submit_shares(db, principal, election_id, data)

    @post("/{election_id:str}/ceremony/confirm", status_code=200, summary="Confirm a trustee's public share")
    async def confirm(self, services: Services, principal: Principal, election_id: str, data: dict) -> dict:
        async with services.database.write() as db:
            return await services.elections.confirm(db, principal, election_id, data)


