"""How the command-line clients check a server's TLS certificate.

By default they trust what the operating system trusts (through
``truststore``: the city's own CA, once IT installs it on the machine, works
without anything else), not only the certificates bundled with Python. A CA
certificate or a self-signed server certificate that is not installed can be
named with ``--cacert FILE`` (env ``VOTING_CACERT``): then that file, and only
it, is trusted, as with curl's option of the same name.

The CLI sets the choice once per command (``use_cacert``); every HTTP client
the command builds asks ``client_context()``.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import truststore

CACERT_HINT = "if the server uses the city's own CA or a self-signed certificate, pass it with --cacert FILE (env VOTING_CACERT)"

_cacert: Path | None = None


class CacertError(ValueError):
    """The --cacert file cannot be used."""


def use_cacert(path: Path | None) -> None:
    """Trust only the certificate(s) in ``path`` from now on (None: the system's
    trust store). Checks the file at once, so a wrong path is reported before
    any request."""
    global _cacert
    if path is not None:
        _load(path)
    _cacert = path


def client_context() -> ssl.SSLContext:
    """A fresh TLS context for an HTTP client, as chosen by ``use_cacert``."""
    if _cacert is not None:
        return _load(_cacert)
    return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def _load(path: Path) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=str(path))
    except FileNotFoundError:
        raise CacertError(f"--cacert: no file {path}") from None
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise CacertError(f"--cacert: {path} holds no PEM certificate ({exc})") from None


def verify_failure(exc: BaseException) -> str | None:
    """The reason, when ``exc`` (an httpx error) comes from a server
    certificate this machine does not trust; else None."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen.verify_message or str(seen)
        if "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return str(seen).split("certificate verify failed: ", 1)[-1].split(" (_ssl.c")[0]
        seen = seen.__cause__ or seen.__context__
    return None


def describe(exc: BaseException, url: object) -> str | None:
    """One line for an untrusted server certificate, naming --cacert; else None."""
    reason = verify_failure(exc)
    if reason is None:
        return None
    if isinstance(url, httpx.URL):  # its origin is what the user typed
        url = f"{url.scheme}://{url.netloc.decode('ascii')}"
    return f"the TLS certificate of {url} is not trusted ({reason}): {CACERT_HINT}"
