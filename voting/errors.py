"""Service errors: what the service refuses, each with its HTTP status and a
stable ``code`` so clients and tests never match on message text.

Free of the web framework, so the client and the verifier can share these
classes; ``voting.problems`` sends them as RFC 9457 problem details.
"""

from __future__ import annotations

import socket


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


class TooManyRequests(ServiceError):
    status = 429
    code = "rate_limited"


#: Refusals for an outage of the database or its disk: (code, what the client is told).
DATABASE_UNAVAILABLE = ("database_unavailable", "the database is unavailable; nothing was recorded; try again")
DISK_FULL = ("disk_full", "the server's disk is full; nothing was recorded; try again later")


def unavailable(exc: BaseException) -> tuple[str, str, str] | None:
    """(code, detail, cause) when ``exc`` is an outage of the database (down,
    restarting, unreachable, dropped, locked, read-only) or of its disk (full),
    which the service answers 503 with one log line rather than a traceback; None
    for anything else. ``cause`` is one line naming the driver's error, never the
    SQL statement or its parameters."""
    import asyncpg
    from sqlalchemy import exc as sa

    chain = _chain(exc)
    causes = [e for e in chain if not isinstance(e, sa.SQLAlchemyError)] or chain
    cause = f"{type(causes[0]).__name__}: {(str(causes[0]).strip().splitlines() or [''])[0][:200]}"
    text = " ".join(str(e).split("\n", 1)[0].lower() for e in causes)
    if any(isinstance(e, asyncpg.DiskFullError) for e in chain) or "disk is full" in text or "no space left" in text:
        return (*DISK_FULL, cause)
    outage = (
        sa.OperationalError,
        sa.InterfaceError,
        sa.DisconnectionError,
        sa.TimeoutError,  # no pooled connection came free
        ConnectionError,
        TimeoutError,
        socket.gaierror,
        asyncpg.PostgresConnectionError,
        asyncpg.ConnectionDoesNotExistError,
        asyncpg.CannotConnectNowError,
        asyncpg.InvalidCatalogNameError,  # the database was dropped
        asyncpg.exceptions.OperatorInterventionError,  # server shut down, statement cancelled
        asyncpg.exceptions.InsufficientResourcesError,  # too many connections
    )
    invalidated = any(isinstance(e, sa.DBAPIError) and e.connection_invalidated for e in chain)
    if invalidated or any(isinstance(e, outage) for e in chain):
        return (*DATABASE_UNAVAILABLE, cause)
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc``, the DBAPI error it wraps, and their causes."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 8:
        chain.append(current)
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return chain
