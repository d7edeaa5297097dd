"""Service errors and their one mapping to RFC 9457 problem details.

Every refusal carries a stable ``code`` (documented in docs/api.md) so clients
and tests never match on message text. Errors of the crypto core are mapped
here too, by their own ``code``.
"""

from __future__ import annotations

import logging

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from crypto.errors import CredentialError, CryptoError

log = logging.getLogger("voting")

PROBLEM_JSON = "application/problem+json"


class ServiceError(Exception):
    """A request the service refuses; nothing was changed."""

    status = 400
    code = "bad_request"

    def __init__(
        self, detail: str, *, code: str | None = None, status: int | None = None, extra: dict | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra or {}
        if code:
            self.code = code
        if status:
            self.status = status


class Unauthorized(ServiceError):
    status = 401
    code = "unauthorized"


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class WrongState(Conflict):
    code = "wrong_state"


class Invalid(ServiceError):
    status = 422
    code = "invalid"


class TooLarge(ServiceError):
    status = 413
    code = "payload_too_large"


class TooManyRequests(ServiceError):
    status = 429
    code = "rate_limited"


def problem(status: int, code: str, detail: str, extra: dict | None = None) -> Response:
    return Response(
        {
            "type": f"urn:voting-pilot:error:{code}",
            "title": code.replace("_", " "),
            "status": status,
            "detail": detail,
            "code": code,
            **(extra or {}),
        },
        status_code=status,
        media_type=PROBLEM_JSON,
    )


def _service_error(_: Request, exc: ServiceError) -> Response:
    return problem(exc.status, exc.code, exc.detail, exc.extra)


def _crypto_error(_: Request, exc: CryptoError) -> Response:
    status = 401 if isinstance(exc, CredentialError) else 422
    return problem(status, exc.code, str(exc) or exc.code)


def _http_error(_: Request, exc: HTTPException) -> Response:
    if isinstance(exc, ValidationException):
        detail = exc.detail
        if exc.extra:
            detail = f"{detail}: {exc.extra}"
        return problem(400, "malformed_request", str(detail))
    if isinstance(exc, NotFoundException):
        return problem(404, "not_found", "no such resource")
    code = {405: "method_not_allowed", 413: "payload_too_large", 429: "rate_limited"}.get(
        exc.status_code, "http_error"
    )
    return problem(exc.status_code, code, str(exc.detail))


def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", "internal error; nothing was acknowledged")


EXCEPTION_HANDLERS = {
    ServiceError: _service_error,
    CryptoError: _crypto_error,
    HTTPException: _http_error,
    Exception: _unexpected,
}

