"""HTTP: download an election's record as a zip (docs/election-record.md).

The public record needs no login: everything in it is on the public board.
The auditors' version adds what reveals who voted, for auditors and
administrators only.
"""

from __future__ import annotations

import asyncio

from litestar import Controller, Response, get

from voting.auth.service import ADMIN, AUDITOR, Principal
from voting.errors import Forbidden
from voting.record.export import export_record, record_filename
from voting.record.files import record_zip
from voting.services import Services

ZIP = "application/zip"


async def _download(services: Services, election_id: str, *, private: bool) -> Response[bytes]:
    async with services.database.read() as db:
        files = await export_record(db, election_id, settings=services.settings, private=private, trust=services.auth.trust)
    # Deflating a large board takes a while: not on the event loop.
    data = await asyncio.to_thread(record_zip, files)
    return Response(
        data,
        media_type=ZIP,
        headers={
            "Content-Disposition": f'attachment; filename="{record_filename(election_id, private=private)}"',
            "Cache-Control": "no-store" if private else "no-cache",
        },
    )


class RecordController(Controller):
    path = "/api/elections/{election_id:str}/record"
    tags = ["record"]

    @get("/", summary="The public election record (zip of JSON files)", media_type=ZIP)
    async def public(self, services: Services, election_id: str) -> Response[bytes]:
        return await _download(services, election_id, private=False)

    @get("/private", summary="The record with the auditors-only part (auditors, administrators, its trustees)", media_type=ZIP)
    async def private(self, services: Services, principal: Principal, election_id: str) -> Response[bytes]:
        """Trustees get it too: before decrypting they check every registered
        credential against an eligible certificate, so a server cannot pad the
        roll with credentials of its own to isolate one voter's ballot."""
        if not principal.roles & {AUDITOR, ADMIN}:
            async with services.database.read() as db:
                try:
                    await services.elections.trustee_of(db, principal, election_id)
                except Forbidden:
                    raise Forbidden(
                        "the auditors' part of the record needs the auditor or admin role, or to be this election's trustee",
                        code="not_auditor",
                    ) from None
        return await _download(services, election_id, private=True)
