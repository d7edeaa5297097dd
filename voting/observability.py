"""Request ids, the JSON log format, the access log and the Prometheus metrics.

Every HTTP request gets a fresh id (the ``X-Request-Id`` response header, and
``request_id`` in every log line written while it is served), one access-log
line when it ends (route, status, duration, and for a refusal its ``code`` and
reason), and its share of the metrics served at ``/metrics`` (voting.health).

Other modules log through ``logging.getLogger("voting.<area>")``, naming the
event: ``log.info("...", extra={"event": "...", ...})``. Never log a PIN, a
token, a key, or a ballot together with an identity.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import secrets
import tempfile
import time
import unicodedata
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from litestar.exceptions import HTTPException
from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess

log = logging.getLogger("voting.access")
auth_log = logging.getLogger("voting.auth")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LOGIN_ROUTE = "/api/auth/login"
#: Polled by load balancers and monitoring: their access lines are logged at debug level.
PROBE_ROUTES = {"/api/health", "/api/ready", "/metrics"}
CAST_ROUTE = "/api/elections/{election_id}/ballots"


# --- the request being served -------------------------------------------------------------


@dataclass
class RequestInfo:
    """What the access-log line of one request needs besides its status."""

    id: str
    code: str | None = None
    reason: str | None = None
    cause: str | None = None
    """for an outage: the error behind it, in one line"""


_current: ContextVar[RequestInfo | None] = ContextVar("voting_request", default=None)


def request_id() -> str | None:
    """The id of the request being served, if any."""
    info = _current.get()
    return info.id if info else None


def note_refusal(code: str, reason: str, cause: str | None = None) -> bool:
    """Record the problem ``code`` and reason a request is refused with, for its
    access-log line; False outside a request (nothing will log it)."""
    info = _current.get()
    if info is None:
        return False
    info.code, info.reason, info.cause = code, reason, cause
    return True


# --- log formats ------------------------------------------------------------------------------

_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "color_message", "event"}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The ``extra`` a record was logged with, and the request id."""
    fields = {key: value for key, value in vars(record).items() if key not in _RECORD_FIELDS}
    rid = request_id()
    if rid and "request_id" not in fields:
        fields["request_id"] = rid
    return fields


def _utc(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601, UTC), level, logger, event,
    message, the request id, the record's ``extra``, and a traceback (as one
    string) if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": getattr(record, "event", None) or "message",
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # json.dumps leaves these raw with ensure_ascii=False; readers splitting lines
        # the way str.splitlines() does would cut the record there.
        return json.dumps(entry, ensure_ascii=False, default=str).translate(_JSON_LINE_BREAKS)


_JSON_LINE_BREAKS = str.maketrans({"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def _escaped(value: object) -> str:
    """Control and line-separator characters as escapes (``\\n``, ``\\x1b``,
    ``\\u2028``), and a backslash doubled (a client typing ``\\n`` reads
    differently from an escaped newline): a request path with %0A must not
    start a forged log line."""
    text = str(value).replace("\\", "\\\\")
    if text.isprintable():
        return text
    return "".join(
        ch.encode("unicode_escape").decode("ascii") if unicodedata.category(ch) in _ESCAPED_CATEGORIES else ch for ch in text
    )


#: Control, format (text direction) and line/paragraph separator characters.
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def _quoted(text: str, specials: str) -> str:
    """``text`` in double quotes (a quote inside escaped) when it holds one of
    ``specials``: a client-chosen path like ``/x status=200`` must not read as a
    field of its own."""
    if any(ch in text for ch in specials):
        return '"' + text.replace('"', '\\"') + '"'
    return text


#: A field's value is quoted when it holds one of these; the message (free text, spaces expected) for the others.
_VALUE_SPECIALS = ' ="'
_MESSAGE_SPECIALS = '="'


class TextFormatter(logging.Formatter):
    """The same fields for a human reader: ``time level logger message key=value...``,
    one line per record whatever a client sent (control characters escaped);
    a traceback follows on lines indented by two spaces."""

    def format(self, record: logging.LogRecord) -> str:
        extra = " ".join(f"{_escaped(key)}={_quoted(_escaped(value), _VALUE_SPECIALS)}" for key, value in _fields(record).items())
        message = _quoted(_escaped(record.getMessage()), _MESSAGE_SPECIALS)
        line = f"{_utc(record.created)} {record.levelname} {record.name} {message}"
        line = f"{line} {extra}" if extra else line
        if record.exc_info:
            trace = self.formatException(record.exc_info).splitlines()
            line = "\n".join([line, *(f"  {_escaped(part)}" for part in trace)])
        return line


LOG_FORMATS = {"json": JsonFormatter, "text": TextFormatter}


def log_config(log_format: str = "json", level: str = "info") -> dict:
    """uvicorn's ``log_config``: every logger to stderr in ``log_format``;
    uvicorn's access log off (the app writes its own, with the request id)."""
    formatter = {"()": f"{__name__}.{LOG_FORMATS[log_format].__name__}"}
    handler = {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter, "access": formatter},
        "handlers": {"stderr": handler},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "voting": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
        },
        "root": {"handlers": ["stderr"], "level": "WARNING"},
    }


# --- metrics -----------------------------------------------------------------------------------

REQUESTS = Counter("voting_http_requests", "HTTP requests answered, by route template, method and status", ["route", "method", "status"])
LATENCY = Histogram(
    "voting_http_request_duration_seconds",
    "Time from the request head to the end of the response, by route template",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BALLOTS_CAST = Counter("voting_ballots_cast", "Casts answered 201 (a resent ballot's stored receipt included), by election", ["election"])
LOGINS_REFUSED = Counter("voting_logins_refused", "Logins refused, by problem code", ["code"])


def registry() -> CollectorRegistry:
    """What ``/metrics`` serves: this process's metrics (with the process and
    Python collectors), or, with several workers, every worker's metrics summed
    from ``PROMETHEUS_MULTIPROC_DIR``."""
    if os.environ.get(MULTIPROC_ENV):
        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined)
        return combined
    from prometheus_client import REGISTRY

    return REGISTRY


def prepare_workers(workers: int) -> None:
    """Before uvicorn starts several worker processes: give them a fresh, shared
    directory for the metrics (prometheus_client's multiprocess mode), unless the
    operator named one; files left there by an earlier run are removed."""
    if workers <= 1:
        return
    named = os.environ.get(MULTIPROC_ENV)
    if not named:
        os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="voting-metrics-")
        return
    directory = Path(named)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


def worker_stopped() -> None:
    """Drop this process's live gauges from the shared metrics (multiprocess mode)."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(os.getpid())


# --- the access log and the body deadline --------------------------------------------------------


class ObservedApp:
    """Wraps the app's ASGI handler (outside routing, so unknown paths are seen
    too): request id, access-log line, metrics, and the body deadline."""

    def __init__(self, app: Any, body_timeout_s: float) -> None:
        self.app = app
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        info = RequestInfo(secrets.token_hex(8))
        token = _current.set(info)
        status = 500
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout_s
        body_done = False

        async def timed_receive() -> dict:
            nonlocal body_done
            if body_done:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0))
            except TimeoutError:
                # Answered 408 by the app's error handler; the connection is then closed.
                raise HTTPException(
                    status_code=408,
                    detail=f"the request body did not arrive within {self.body_timeout_s:g} s",
                    headers={"Connection": "close"},
                ) from None
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        async def observed_send(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", info.id.encode())]}
            await send(message)

        try:
            await self.app(scope, timed_receive, observed_send)
        finally:
            self._record(scope, info, status, time.perf_counter() - started)
            _current.reset(token)

    def _record(self, scope: dict, info: RequestInfo, status: int, duration: float) -> None:
        route = _route(scope.get("path_template") or "")
        method = scope["method"]
        REQUESTS.labels(route, method, str(status)).inc()
        LATENCY.labels(route, method).observe(duration)
        election = scope.get("path_params", {}).get("election_id", "")
        if route == CAST_ROUTE and method == "POST" and status == 201:
            BALLOTS_CAST.labels(str(election)).inc()
        fields: dict[str, Any] = {
            "event": "request",
            "method": method,
            "path": scope["path"],  # never the query string
            "route": route,
            "status": status,
            "duration_ms": round(duration * 1000, 1),
            "client": (scope.get("client") or ("", 0))[0],
        }
        if info.code:
            fields |= {"code": info.code, "reason": info.reason}
        if info.cause:
            fields["cause"] = info.cause
        if route in PROBE_ROUTES:
            level = logging.DEBUG
        elif status >= 500:
            level = logging.WARNING if status == 503 else logging.ERROR
        else:
            level = logging.INFO
        log.log(level, "%s %s %d", method, scope["path"], status, extra=fields)
        if route == LOGIN_ROUTE and status >= 400:
            LOGINS_REFUSED.labels(info.code or str(status)).inc()
            auth_log.warning(
                "login refused: %s", info.code or status, extra={"event": "login_refused", "code": info.code, "reason": info.reason}
            )


@functools.lru_cache(maxsize=256)  # the app's route templates: a bounded set, met on every request
def _route(template: str) -> str:
    """``/api/elections/{election_id:str}/ballots`` -> ``/api/elections/{election_id}/ballots``;
    a path no route matched is counted as ``unmatched`` (not by path: unbounded)."""
    if not template:
        return "unmatched"
    parts = []
    for part in template.rstrip("/").split("/"):
        if part.startswith("{") and ":" in part:
            part = part.split(":", 1)[0] + "}"
        parts.append(part)
    return "/".join(parts) or "/"


def instrument(app: Any, body_timeout_s: float) -> None:
    """Put ``ObservedApp`` around a Litestar app's handler (routing and the
    app-wide exception handlers included)."""
    app.asgi_handler = ObservedApp(app.asgi_handler, body_timeout_s)
    app.on_shutdown.append(worker_stopped)


# --- uvicorn -------------------------------------------------------------------------------------------


def uvicorn_options(settings: Any, *, workers: int = 1, log_level: str = "info") -> dict:
    """The options ``voting serve`` hands uvicorn: the log format, no uvicorn
    access log (the app writes one), and the header timeout."""
    from voting.timeouts import TimedHTTPProtocol

    prepare_workers(workers)
    return {
        "log_config": log_config(settings.log_format, log_level),
        "access_log": False,
        "http": functools.partial(TimedHTTPProtocol, header_timeout_s=settings.header_timeout_s),
    }
