"""Service settings, read from ``VOTING_*`` environment variables.

Every setting has a documented default (docs/operations.md, "Configuration"),
so ``voting serve`` works on a fresh machine with nothing set.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from voting.origin import origin_of


def _env(name: str, default: str) -> str:
    return os.environ.get(f"VOTING_{name}", default)


def _env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = _env(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"VOTING_{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise SystemExit(f"VOTING_{name} must be at least {minimum}, got {value}")
    return value


def _env_seconds(name: str, default: int) -> int:
    """A duration or a count: never negative."""
    return _env_int(name, default, minimum=0)


def _env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = _env(name, default).strip().lower()
    if raw not in choices:
        raise SystemExit(f"VOTING_{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def _env_origin(name: str) -> str:
    raw = _env(name, "")
    try:
        return origin_of(raw) if raw else ""
    except ValueError as exc:
        raise SystemExit(
            f"VOTING_{name} must be the address employees type, e.g. https://vote.city.example: {exc}"
        ) from None


def _env_addresses(name: str) -> str:
    """A comma-separated list of IP addresses or networks (``10.0.0.0/24``), checked
    here: uvicorn would silently treat a typo as a name that never matches."""
    import ipaddress

    raw = _env(name, "").strip()
    for item in filter(None, (part.strip() for part in raw.split(","))):
        try:
            if "%" in item:  # a scoped address (fe80::1%eth0): uvicorn compares without the scope
                raise ValueError(item)
            ipaddress.ip_network(item) if "/" in item else ipaddress.ip_address(item)
        except ValueError:
            raise SystemExit(
                f"VOTING_{name} must list the reverse proxy's IP addresses or networks, comma-separated "
                f"(e.g. 127.0.0.1 or 10.0.0.0/24), got {item!r}"
            ) from None
    return ",".join(part.strip() for part in raw.split(",") if part.strip())


def _env_database_url() -> str:
    """VOTING_DATABASE_URL, checked now (the scheme, the server and database, sslmode)
    rather than when the first connection fails."""
    raw = _env("DATABASE_URL", "").strip()
    if raw:
        _async_url(raw)
    return raw


#: The name of the pilot's own anchor (VOTING_TRUST_ANCHOR and VOTING_CRL).
PILOT_ANCHOR = "pilot"
#: How an anchor's certificates say who holds them.
IDENTITY_CERTIFICATE = "certificate"
"""the certificate names the employee (urn:x-city-hall:employee:<id>), as the pilot CA's do"""
IDENTITY_ENROLLMENT = "enrollment"
"""the certificate names no employee (JPKI): the link comes from an enrollment"""
IDENTITIES = (IDENTITY_CERTIFICATE, IDENTITY_ENROLLMENT)
_ANCHOR_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_ANCHOR_MEMBERS = {"name", "certificate", "crl", "identity"}


@dataclass(frozen=True)
class AnchorSetting:
    """One trust anchor of ``VOTING_TRUST_ANCHORS_FILE``."""

    name: str
    certificate: Path
    """PEM file of the anchor's root certificate(s)"""
    crl: str
    """a CRL file path or an http(s) URL, as VOTING_CRL"""
    identity: str
    """IDENTITY_CERTIFICATE or IDENTITY_ENROLLMENT"""


def load_trust_anchors(path: Path) -> tuple[AnchorSetting, ...]:
    """The trust anchors listed in ``path``: a JSON list of
    ``{"name", "certificate", "crl", "identity"}``; relative paths are taken
    from the file's own directory. Anything wrong is one line naming the fix."""
    import json

    where = f"VOTING_TRUST_ANCHORS_FILE ({path})"
    fix = 'a JSON list of {"name": "jpki", "certificate": "jpki-root.pem", "crl": "PATH-or-URL", "identity": "enrollment"}'
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise SystemExit(f"{where} does not exist: write {fix}, or unset it (docs/operations.md, Trust anchors and enrollment)") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SystemExit(f"{where} cannot be read as JSON ({exc}): it must be {fix}") from None
    if not isinstance(doc, list):
        raise SystemExit(f"{where} must be {fix}")
    anchors: list[AnchorSetting] = []
    for number, item in enumerate(doc, start=1):
        at = f"{where}, entry {number}"
        if not isinstance(item, dict) or set(item) != _ANCHOR_MEMBERS:
            raise SystemExit(f"{at}: each entry has exactly the members name, certificate, crl and identity")
        name, certificate, crl, identity = (item[k] for k in ("name", "certificate", "crl", "identity"))
        if not isinstance(name, str) or not _ANCHOR_NAME.fullmatch(name) or name == PILOT_ANCHOR:
            raise SystemExit(
                f"{at}: name must be 1 to 32 lowercase letters, digits, '-' or '_' (not {PILOT_ANCHOR!r}, the pilot's own anchor), got {name!r}"
            )
        if any(a.name == name for a in anchors):
            raise SystemExit(f"{at}: the name {name!r} is used twice")
        if identity not in IDENTITIES:
            raise SystemExit(f"{at}: identity must be {' or '.join(map(repr, IDENTITIES))}, got {identity!r}")
        for member, value in (("certificate", certificate), ("crl", crl)):
            if not isinstance(value, str) or not value.strip():
                raise SystemExit(f"{at}: {member} must be a file path{' or an http(s) URL' if member == 'crl' else ''}")
        certificate_path = Path(certificate)
        if not certificate_path.is_absolute():
            certificate_path = path.parent / certificate_path
        if not certificate_path.is_file():
            raise SystemExit(f"{at}: the certificate {certificate_path} does not exist: put the anchor's root certificate (PEM) there")
        if not crl.startswith(("http://", "https://")) and not Path(crl).is_absolute():
            crl = str(path.parent / crl)
        anchors.append(AnchorSetting(name, certificate_path, crl, identity))
    return tuple(anchors)


#: What a proxy secret may hold: letters, digits, '-' and '_' only (nginx would read a
#: "$" as a variable, a quote or ";" as syntax), 32 to 256 of them.
_PROXY_SECRET = re.compile(r"[A-Za-z0-9_-]{32,256}")


def load_proxy_secret(path: Path) -> str:
    """The secret the reverse proxy shows on the client-certificate requests
    (``VOTING_PROXY_SECRET_FILE``): one line, from ``openssl rand -hex 32``.
    The file must be the service's own (mode 0600 or stricter: nobody else on
    the host may read it). Anything wrong is one line naming the fix."""
    where = f"VOTING_PROXY_SECRET_FILE ({path})"
    make = "make it with: sudo sh -c 'umask 077; openssl rand -hex 32 > FILE' (docs/operations.md, chapter 2)"
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise SystemExit(f"{where} does not exist: {make}, or unset it (no card login in the browser)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SystemExit(f"{where} cannot be read ({exc}): it must be readable by the service's user only") from None
    if mode & 0o077:
        raise SystemExit(f"{where} can be read by other users (mode {mode & 0o777:04o}): chmod 0600 it (owner: the service's user)")
    secret = text.strip()
    if not _PROXY_SECRET.fullmatch(secret):
        raise SystemExit(f"{where} must hold one line of 32 to 256 letters, digits, '-' or '_': {make}")
    return secret


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("var")
    """Where the embedded database, the server's signing key and the CA files live."""
    database_url: str = ""
    """SQLAlchemy URL; empty means SQLite at ``<data_dir>/voting.sqlite3``."""
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = ""
    """The address employees type, e.g. ``https://vote.city.example``: its origin
    is the audience login tokens must name; empty means ``http://<host>:<port>``."""
    trust_anchor: Path | None = None
    """PEM file of the root CA(s) trusted for logins; default ``<data_dir>/ca/root.pem``."""
    crl_source: str = ""
    """A CRL file path or an http(s) URL (DER, or concatenated PEM CRLs of every CA
    in the chain); default ``<data_dir>/ca/crl.pem``."""
    crl_refresh_s: int = 300
    crl_timeout_s: int = 5
    """The longest (seconds) a CRL download from a URL may take, all of it; it runs
    in the background, so a hanging CRL host delays the next refresh, never a request."""
    crl_max_bytes: int = 20_000_000
    """The largest CRL download (bytes) accepted; a larger one is cut off and the last
    good CRLs stay in use. 20 MB holds several hundred thousand revoked certificates."""
    crl_warn_s: int = 259200
    """Warn (log, election status, admin page) when a CRL's nextUpdate is this close
    (seconds): 3 days, so that with the pilot CA's 7-day CRLs published daily it only
    shows after 4 missed publications, and still leaves a weekend and a holiday to act."""
    session_ttl_s: int = 1800
    session_idle_s: int = 900
    nonce_ttl_s: int = 120
    login_rate_per_minute: int = 30
    """Login attempts per client address, and logins per certificate (counted once the
    token's signature verified, so others cannot use up a victim's); 0 disables (load tests)."""
    workers: int = 1
    purge_interval_s: int = 60
    """How often (seconds) each app process deletes used or expired login
    challenges and ended sessions (``voting db purge`` does it once); 0: never."""
    log_format: str = "json"
    """``voting serve``'s log lines: ``json`` (one object per line, for a log
    collector) or ``text`` (for reading in a terminal)."""
    header_timeout_s: int = 10
    """A connection whose request head (request line and headers) is not complete
    this many seconds after it opened, or after the previous response, is closed."""
    body_timeout_s: int = 30
    """A request body not complete this many seconds after its head is refused
    (408) and the connection closed."""
    max_clock_skew_s: int = 2
    """How far (seconds) the board's newest entry may be ahead of the board's clock
    (the database server's on PostgreSQL, this host's on SQLite): appends are then
    dated at that entry's time, so the board's clock never runs backwards; further,
    writes are refused (503 ``clock_behind``) and ``voting serve`` refuses to start.
    On PostgreSQL also how far this host's clock may differ from the database
    server's. A few seconds at most (the record verifier allows 2 s); never the way
    to recover from a wrong clock. Keep every clock in sync (NTP)."""

    trust_anchors: tuple[AnchorSetting, ...] = ()
    """Trust anchors besides the pilot's (``VOTING_TRUST_ANCHORS_FILE``), each with
    its CRL source and identity kind; see ``load_trust_anchors``."""
    enrollment_code_ttl_s: int = 604800
    """How long (seconds) an enrollment code stays valid: 7 days."""

    forwarded_allow_ips: str = ""
    """The reverse proxies whose ``X-Forwarded-For``/``-Proto`` are believed
    (comma-separated addresses or networks, e.g. ``127.0.0.1``); the login rate
    limit then counts per forwarded client address. Empty: no proxy is trusted,
    the connecting address is the client's and those headers are ignored.
    Their ``X-Client-Certificate`` too (voting/auth/client_certificate.py)."""
    issuing_cas: Path | None = None
    """PEM file of the issuing (intermediate) CA certificates under the trust
    anchors: a TLS client certificate arrives alone (the proxy passes the card's
    certificate only), and its chain is completed from here. Candidates only,
    never trusted by themselves. Default ``<data_dir>/ca/issuing.pem``."""
    proxy_secret_file: Path | None = None
    """``VOTING_PROXY_SECRET_FILE``: the file holding ``proxy_secret``."""
    proxy_secret: str | None = field(default=None, repr=False)
    """The secret the reverse proxy sends in ``X-Voting-Proxy-Secret`` on the two
    client-certificate requests, which proves that the request came through its
    TLS client authentication (voting/auth/client_certificate.py). None: the
    card in the browser is turned off (403 ``client_certificate_disabled``)."""

    @classmethod
    def from_env(cls) -> Settings:
        data_dir = Path(_env("DATA_DIR", "var"))
        return cls(
            data_dir=data_dir,
            database_url=_env_database_url(),
            host=_env("HOST", "127.0.0.1"),
            port=_env_int("PORT", 8000),
            public_url=_env_origin("PUBLIC_URL"),
            trust_anchor=Path(p) if (p := _env("TRUST_ANCHOR", "")) else None,
            crl_source=_env("CRL", ""),
            crl_refresh_s=_env_seconds("CRL_REFRESH_S", 300),
            crl_timeout_s=_env_seconds("CRL_TIMEOUT_S", 5),
            crl_max_bytes=_env_int("CRL_MAX_BYTES", 20_000_000, minimum=1),
            crl_warn_s=_env_seconds("CRL_WARN_S", 259200),
            session_ttl_s=_env_seconds("SESSION_TTL_S", 1800),
            session_idle_s=_env_seconds("SESSION_IDLE_S", 900),
            nonce_ttl_s=_env_seconds("NONCE_TTL_S", 120),
            login_rate_per_minute=_env_seconds("LOGIN_RATE_PER_MINUTE", 30),
            workers=_env_int("WORKERS", 1),
            purge_interval_s=_env_seconds("PURGE_INTERVAL_S", 60),
            log_format=_env_choice("LOG_FORMAT", "json", ("json", "text")),
            header_timeout_s=_env_seconds("HEADER_TIMEOUT_S", 10),
            body_timeout_s=_env_seconds("BODY_TIMEOUT_S", 30),
            forwarded_allow_ips=_env_addresses("FORWARDED_ALLOW_IPS"),
            max_clock_skew_s=_env_seconds("MAX_CLOCK_SKEW_S", 2),
            trust_anchors=load_trust_anchors(Path(p)) if (p := _env("TRUST_ANCHORS_FILE", "").strip()) else (),
            enrollment_code_ttl_s=_env_int("ENROLLMENT_CODE_TTL_S", 604800, minimum=60),
            issuing_cas=Path(p) if (p := _env("ISSUING_CAS", "").strip()) else None,
            proxy_secret_file=Path(p) if (p := _env("PROXY_SECRET_FILE", "").strip()) else None,
            proxy_secret=load_proxy_secret(Path(p)) if (p := _env("PROXY_SECRET_FILE", "").strip()) else None,
        )

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    # -- derived values ---------------------------------------------------------------

    @property
    def db_url(self) -> str:
        if self.database_url:
            return _async_url(self.database_url)
        return f"sqlite+aiosqlite:///{(self.data_dir / 'voting.sqlite3').resolve()}"

    @property
    def audience(self) -> str:
        """The origin clients connect to, normalised as voting.origin does (and as
        the browser's ``location.origin``): the clients refuse to sign for any other."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return origin_of(self.public_url or f"http://{host}:{self.port}")

    @property
    def trust_anchor_path(self) -> Path:
        return self.trust_anchor or self.data_dir / "ca" / "root.pem"

    @property
    def crl_location(self) -> str:
        return self.crl_source or str(self.data_dir / "ca" / "crl.pem")

    @property
    def issuing_cas_path(self) -> Path:
        return self.issuing_cas or self.data_dir / "ca" / "issuing.pem"

    @property
    def signing_key_path(self) -> Path:
        return self.data_dir / "server-signing-key.pem"


#: The URL schemes of the databases the service runs on.
_SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg", "sqlite", "sqlite+aiosqlite")
#: libpq's sslmode values (asyncpg takes the same).
_SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
#: libpq's TLS file parameters, which asyncpg reads from these environment variables instead.
_LIBPQ_SSL_FILES = {"sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY", "sslcrl": "PGSSLCRL"}


def _async_url(url: str) -> str:
    """Accept plain ``postgresql://`` and ``sqlite://`` URLs and pick the async driver.

    libpq's ``sslmode`` (as in ``?sslmode=require``) becomes asyncpg's ``ssl``,
    which takes the same values; asyncpg has no keyword for libpq's TLS file
    parameters, so those are refused with the environment variable to use; so
    are other databases, unknown sslmode values, and a URL without a server or
    database (libpq's defaults would reach whatever they reach)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in _SCHEMES:
        raise SystemExit(
            f"VOTING_DATABASE_URL must be postgresql://USER@HOST:5432/DATABASE or sqlite:///PATH, got {scheme or url!r}"
            " (docs/operations.md, Configuration)"
        )
    if scheme.startswith("postgres"):
        from urllib.parse import parse_qs, urlsplit

        parts = urlsplit(url)
        query = parse_qs(parts.query)
        if not (parts.hostname or query.get("host")) or not (parts.path.strip("/") or query.get("dbname")):
            raise SystemExit(
                "VOTING_DATABASE_URL names no database server or no database: "
                "write postgresql://USER@HOST:5432/DATABASE (docs/operations.md, Configuration)"
            )
        for mode in query.get("sslmode", []):
            if mode not in _SSLMODES:
                raise SystemExit(f"VOTING_DATABASE_URL: sslmode must be one of {', '.join(_SSLMODES)}, got {mode!r}")
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("postgresql+asyncpg://") and "?" in url:
        from urllib.parse import parse_qsl, urlencode

        base, _, query_string = url.partition("?")
        params = []
        for name, value in parse_qsl(query_string, keep_blank_values=True):
            if name in _LIBPQ_SSL_FILES:
                raise SystemExit(
                    f"VOTING_DATABASE_URL: remove {name}= from the URL and set {_LIBPQ_SSL_FILES[name]}={value} "
                    "in the environment instead (docs/operations.md, PostgreSQL over TLS)"
                )
            params.append(("ssl" if name == "sslmode" else name, value))
        return f"{base}?{urlencode(params)}"
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url.split("://", 1)[1]
    return url
