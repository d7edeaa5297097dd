"""HTTP: login challenge, login, logout, who am I."""

from __future__ import annotations

from litestar import Controller, Request, get, post

from voting.auth import enrollment
from voting.auth.service import ADMIN, Principal
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


class EnrollmentController(Controller):
    """Card enrollment (voting/auth/enrollment.py): the card holder's enrollment,
    and the administrators' codes, list and revocation."""

    path = "/api"
    tags = ["enrollment"]

    @post("/enroll", status_code=200, summary="Link a card certificate to an employee with a one-time code")
    async def enroll(self, request: Request, services: Services, data: dict) -> dict:
        token = data.get("token") if isinstance(data, dict) else None
        if not isinstance(token, str) or set(data) != {"token"}:
            raise Invalid("send {token: compact JWS signed by the card}", code="invalid_request")
        client = request.client.host if request.client else "unknown"
        async with services.database.write() as db:
            return await services.auth.enroll(db, token, client)

    @post("/admin/enrollment-codes", status_code=201, summary="A one-time enrollment code for an employee (administrators)")
    async def issue_code(self, services: Services, principal: Principal, data: dict) -> dict:
        principal.require(ADMIN)
        if not isinstance(data, dict) or set(data) != {"employee_id"}:
            raise Invalid("send {employee_id}", code="invalid_request")
        async with services.database.write() as db:
            return await enrollment.issue_code(
                db, employee_id=data["employee_id"], created_by=principal.employee_id,
                ttl_s=services.settings.enrollment_code_ttl_s,
            )

    @get("/admin/enrollments", summary="Every card enrollment (administrators)")
    async def list_enrollments(self, services: Services, principal: Principal, employee_id: str | None = None) -> dict:
        principal.require(ADMIN)
        async with services.database.read() as db:
            return {"enrollments": await enrollment.list_enrollments(db, employee_id=employee_id)}

    @post("/admin/enrollments/{fingerprint:str}/revoke", status_code=200, summary="Revoke a card enrollment (administrators)")
    async def revoke(self, services: Services, principal: Principal, fingerprint: str, data: dict) -> dict:
        principal.require(ADMIN)
        if not isinstance(data, dict) or set(data) != {"reason"}:
            raise Invalid("send {reason}", code="invalid_request")
        async with services.database.write() as db:
            return await enrollment.revoke(db, fingerprint, revoked_by=principal.employee_id, reason=data["reason"])
