"""HTTP: login challenge, login, logout, who am I."""

from __future__ import annotations

from litestar import Controller, Request, get, post

from voting.auth.service import Principal
from voting.errors import Invalid
from voting.services import Services

def bearer_token(request: Request) -> str | None:
    """Sessions travel only in the Authorization header, never in a cookie: a
    browser never attaches it by itself, so there is nothing for a cross-site
    request to forge (docs/web.md, "Sessions")."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return None


async def provide_principal(request: Request, services: Services) -> Principal:
    return await services.auth.authenticate(services.database, bearer_token(request))


class AuthController(Controller):
    path = "/api/auth"
    tags = ["auth"]

    @post("/challenge", status_code=200, summary="A single-use login nonce")
    async def challenge(self, request: Request, services: Services) -> dict:
        client = request.client.host if request.client else "unknown"
        async with services.database.write() as db:
            return await services.auth.challenge(db, client)

    @post("/login", status_code=200, summary="Exchange a certificate-signed token for a session")
    async def login(self, request: Request, services: Services, data: dict) -> dict:
        token = data.get("token")
        if not isinstance(token, str):
            raise Invalid("send {token: compact JWS}", code="invalid_request")
        # The rate limit's key: the connecting address, or the forwarded one when the
        # connection comes from a trusted proxy (VOTING_FORWARDED_ALLOW_IPS; uvicorn
        # rewrites request.client then, and ignores the header from anyone else).
        client = request.client.host if request.client else "unknown"
        async with services.database.write() as db:
            return await services.auth.login(db, token, client)

    @post("/logout", status_code=200, summary="End this session")
    async def logout(self, services: Services, principal: Principal) -> dict:
        async with services.database.write() as db:
            await services.auth.logout(db, principal)
        return {"logged_out": True}

    @get("/me", summary="The logged-in employee and their roles")
    async def me(self, principal: Principal) -> dict:
        return {"employee_id": principal.employee_id, "roles": sorted(principal.roles)}
