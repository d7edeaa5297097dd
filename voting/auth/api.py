"""HTTP: login challenge, login, logout, who am I."""

from __future__ import annotations

import msgspec
from litestar import Controller, Request, get, post

from voting.auth import enrollment
from voting.auth.service import ADMIN, Principal
from voting.errors import Invalid
from voting.request_body import Body, body
from voting.services import Services
from voting.wire.auth import (
    Challenge,
    Enrolled,
    Enrollment,
    EnrollmentCode,
    EnrollmentCodeRequest,
    Enrollments,
    EnrollRequest,
    LoggedOut,
    LoginRequest,
    Me,
    RevokeRequest,
    Session,
)


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
    async def challenge(self, request: Request, services: Services) -> Challenge:
        client = request.client.host if request.client else "unknown"
        return msgspec.convert(services.auth.challenge(client), Challenge)

    @post(
        "/login", status_code=200, summary="Exchange a certificate-signed token for a session",
        dto=body(LoginRequest, "send {token: compact JWS}"), return_dto=None,
    )
    async def login(self, request: Request, services: Services, data: Body[LoginRequest]) -> Session:
        token = data.parse().token
        # The rate limit's key: the connecting address, or the forwarded one when the
        # connection comes from a trusted proxy (VOTING_FORWARDED_ALLOW_IPS; uvicorn
        # rewrites request.client then, and ignores the header from anyone else).
        client = request.client.host if request.client else "unknown"
        async with services.database.write() as db:
            return msgspec.convert(await services.auth.login(db, token, client), Session)

    @post("/logout", status_code=200, summary="End this session")
    async def logout(self, services: Services, principal: Principal) -> LoggedOut:
        async with services.database.write() as db:
            await services.auth.logout(db, principal)
        return LoggedOut(logged_out=True)

    @get("/me", summary="The logged-in employee and their roles")
    async def me(self, principal: Principal) -> Me:
        return Me(employee_id=principal.employee_id, roles=sorted(principal.roles))


class EnrollmentController(Controller):
    """Card enrollment (voting/auth/enrollment.py): the card holder's enrollment,
    and the administrators' codes, list and revocation."""

    path = "/api"
    tags = ["enrollment"]

    @post(
        "/enroll", status_code=200, summary="Link a card certificate to an employee with a one-time code",
        dto=body(EnrollRequest, "send {token: compact JWS signed by the card}"), return_dto=None,
    )
    async def enroll(self, request: Request, services: Services, data: Body[EnrollRequest]) -> Enrolled:
        token = data.parse().token
        client = request.client.host if request.client else "unknown"
        async with services.database.write() as db:
            return msgspec.convert(await services.auth.enroll(db, token, client), Enrolled)

    @post(
        "/admin/enrollment-codes", status_code=201, summary="A one-time enrollment code for an employee (administrators)",
        dto=body(EnrollmentCodeRequest, "send {employee_id}"), return_dto=None,
    )
    async def issue_code(self, services: Services, principal: Principal, data: Body[EnrollmentCodeRequest]) -> EnrollmentCode:
        principal.require(ADMIN)
        # The shape only: a wrong employee id is refused as invalid_employee_id by the service.
        document = data.document
        if set(document) != {"employee_id"}:
            raise Invalid("send {employee_id}", code="invalid_request")
        async with services.database.write() as db:
            code = await enrollment.issue_code(
                db, employee_id=document["employee_id"], created_by=principal.employee_id,
                ttl_s=services.settings.enrollment_code_ttl_s,
            )
        return msgspec.convert(code, EnrollmentCode)

    @get("/admin/enrollments", summary="Every card enrollment (administrators)")
    async def list_enrollments(self, services: Services, principal: Principal, employee_id: str | None = None) -> Enrollments:
        principal.require(ADMIN)
        async with services.database.read() as db:
            rows = await enrollment.list_enrollments(db, employee_id=employee_id)
        return msgspec.convert({"enrollments": rows}, Enrollments)

    @post(
        "/admin/enrollments/{fingerprint:str}/revoke", status_code=200, summary="Revoke a card enrollment (administrators)",
        dto=body(RevokeRequest, "send {reason}"), return_dto=None,
    )
    async def revoke(self, services: Services, principal: Principal, fingerprint: str, data: Body[RevokeRequest]) -> Enrollment:
        principal.require(ADMIN)
        # The shape only: a wrong reason is refused as invalid_reason by the service.
        document = data.document
        if set(document) != {"reason"}:
            raise Invalid("send {reason}", code="invalid_request")
        async with services.database.write() as db:
            row = await enrollment.revoke(db, fingerprint, revoked_by=principal.employee_id, reason=document["reason"])
        return msgspec.convert(row, Enrollment)
