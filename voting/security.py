"""Transport-level protections that hold for every response and request.

Headers: every response, API or page, says ``nosniff`` and sends no referrer;
over TLS (the scheme is https, or the reverse proxy in front says so with
``X-Forwarded-Proto: https``) it also carries HSTS. A page's own stricter
headers (the Content-Security-Policy and the rest, voting/web/pages.py) are
left as they are: this only adds what is missing.

Requests: PostgreSQL text cannot hold a NUL character, so a NUL in a path or
query parameter is refused as a malformed request before any handler runs
(on SQLite it would merely match nothing; both now answer alike).
"""

from __future__ import annotations

from litestar import Request
from litestar.datastructures import MutableScopeHeaders
from litestar.exceptions import ClientException
from litestar.types import Message, Scope

#: Two years, subdomains included: the pilot is served from the city hall's own host name.
HSTS = "max-age=63072000; includeSubDomains"
BASELINE_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def served_over_tls(scope: Scope) -> bool:
    if scope.get("scheme") in ("https", "wss"):
        return True
    for name, value in scope.get("headers", ()):
        if name == b"x-forwarded-proto":
            # A chain of proxies appends: the first value is what the client used.
            return value.split(b",", 1)[0].strip().lower() == b"https"
    return False


async def add_security_headers(message: Message, scope: Scope) -> None:
    """A ``before_send`` hook: runs for every response, errors and 404s included."""
    if message["type"] != "http.response.start":
        return
    headers = MutableScopeHeaders.from_message(message)
    for name, value in BASELINE_HEADERS.items():
        if name not in headers:
            headers[name] = value
    if served_over_tls(scope) and "strict-transport-security" not in headers:
        headers["strict-transport-security"] = HSTS


async def refuse_nul_characters(request: Request) -> None:
    """A ``before_request`` hook: no NUL in the path or the query string."""
    if "\x00" in request.scope["path"] or any(
        "\x00" in key or "\x00" in value for key, value in request.query_params.multi_items()
    ):
        raise ClientException("a NUL character is not allowed in a path or query parameter")
