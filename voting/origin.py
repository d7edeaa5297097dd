"""The origin of an address, ``scheme://host[:port]``: the audience of a login.

The server's audience (``VOTING_PUBLIC_URL``), the command-line client's
(``--server``) and the web page's (``location.origin``) must be the same text,
so both Python sides normalise with this one function, the way a browser
writes ``location.origin``: lowercase scheme and host, no default port, no
path, no trailing slash.
"""

from __future__ import annotations

from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str:
    """``https://Vote.City.example:443/login`` -> ``https://vote.city.example``;
    ValueError for anything but an http(s) address with a host."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"{url!r} is not an http:// or https:// address")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{url!r} has an invalid port") from None
    host = parts.hostname  # lowercase, IPv6 without its brackets
    if not host.isascii():
        host = host.encode("idna").decode("ascii")  # as the browser writes a Japanese domain name
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" if port in (None, DEFAULT_PORTS[scheme]) else f"{scheme}://{host}:{port}"
