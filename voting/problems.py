"""The one mapping of refusals to RFC 9457 problem details: service errors,
the crypto core's errors (by their own ``code``), Litestar's own errors, and
outages of the database."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from litestar import Litestar, Request, Response
from litestar.exceptions import ClientException, HTTPException, NotFoundException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.routes import HTTPRoute
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap

from crypto.errors import BallotSignatureError, CredentialError, CryptoError, RegistrationError, VotingCredentialError
from voting.errors import ServiceError, unavailable
from voting.observability import note_refusal

log = logging.getLogger("voting")

PROBLEM_JSON = "application/problem+json"


@dataclass
class ProblemDetail:
    """An RFC 9457 problem detail, as every refusal is sent (some add members,
    e.g. ``election_status`` or a roll's per-line ``errors``)."""

    type: str
    title: str
    status: int
    detail: str
    code: str


#: What any API operation may answer besides its success, for the OpenAPI document.
PROBLEM_STATUSES = {
    400: "Malformed request (not JSON, wrong JSON type, bad parameter)",
    401: "Not logged in, or the login or session was refused",
    403: "The employee lacks the role or is not on the roll",
    404: "No such election, entry or ballot",
    409: "Not in this state of the election, or already done",
    413: "The body is too large",
    422: "The content is refused (proof, signature, manifest, roll)",
    429: "Too many login attempts",
    500: "Internal error; nothing was acknowledged",
    503: "Not recorded (database_unavailable), or a cast that may or may not be recorded (outcome_unknown): send the same request again",
}


def document_problems(app: Litestar) -> None:
    """Declare the problem details in the OpenAPI document of every API operation
    (Litestar's default 400 response describes another body)."""
    responses = {
        status: ResponseSpec(data_container=ProblemDetail, description=text, media_type=PROBLEM_JSON, generate_examples=False)
        for status, text in PROBLEM_STATUSES.items()
    }
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                handler.responses = {**responses, **(handler.responses or {})}


def problem(status: int, code: str, detail: str, extra: dict | None = None, headers: dict | None = None) -> Response:
    note_refusal(code, detail)
    return Response(
        {
            **(extra or {}),  # first: never overrides the RFC 9457 members
            "type": f"urn:voting-pilot:error:{code}",
            "title": code.replace("_", " "),
            "status": status,
            "detail": detail,
            "code": code,
        },
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _service_error(_: Request, exc: ServiceError) -> Response:
    return problem(exc.status, exc.code, exc.detail, exc.extra)


def _crypto_error(_: Request, exc: CryptoError) -> Response:
    # A ballot signature or a credential registration is part of the request body,
    # not of the login: 422, so a client does not take it for an ended session.
    body_errors = (BallotSignatureError, RegistrationError, VotingCredentialError)
    status = 401 if isinstance(exc, CredentialError) and not isinstance(exc, body_errors) else 422
    return problem(status, exc.code, str(exc) or exc.code)


def _http_error(_: Request, exc: HTTPException) -> Response:
    if isinstance(exc, ValidationException):
        detail = exc.detail
        if exc.extra:
            detail = f"{detail}: {exc.extra}"
        return problem(400, "malformed_request", str(detail))
    if isinstance(exc, NotFoundException):
        return problem(404, "not_found", "no such resource")
    code = {
        400: "malformed_request", 405: "method_not_allowed", 408: "request_timeout", 413: "payload_too_large", 429: "rate_limited"
    }.get(
        exc.status_code, "http_error"
    )
    # exc.headers: e.g. the Allow header a 405 must carry (RFC 9110, 15.5.6).
    return problem(exc.status_code, code, str(exc.detail), headers=exc.headers)


def _unexpected(request: Request, exc: Exception) -> Response:
    outage = unavailable(exc)
    if outage is not None:
        code, detail, cause = outage
        response = problem(503, code, detail, headers={"Retry-After": "5"})
        # One line per request, not a traceback: the access-log line carries the cause.
        if not note_refusal(code, detail, cause):
            log.warning("%s on %s %s: %s", code, request.method, request.url.path, cause, extra={"event": code})
        return response
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", "internal error; nothing was acknowledged")


class ApiRequest(Request):
    """Litestar's request, with a body that is not UTF-8 or is nested too deeply
    for the JSON decoder refused as a malformed request instead of a 500."""

    async def json(self) -> Any:
        try:
            return await super().json()
        except (UnicodeDecodeError, RecursionError):
            raise ClientException("the body is not UTF-8 JSON of a reasonable depth") from None


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ServiceError: _service_error,
    CryptoError: _crypto_error,
    HTTPException: _http_error,
    Exception: _unexpected,
}

