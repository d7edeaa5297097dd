"""Service settings, read from ``VOTING_*`` environment variables.

Every setting has a documented default (docs/operations.md, "Configuration"),
so ``voting serve`` works on a fresh machine with nothing set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

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

    forwarded_allow_ips: str = ""
    """The reverse proxies whose ``X-Forwarded-For``/``-Proto`` are believed
    (comma-separated addresses or networks, e.g. ``127.0.0.1``); the login rate
    limit then counts per forwarded client address. Empty: no proxy is trusted,
    the connecting address is the client's and those headers are ignored."""

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
        )

    def with_(self, **changes: object) -> Settings:
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
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("postgresql+asyncpg://") and "?" in url:
        from urllib.parse import parse_qsl, urlencode

        base, _, query = url.partition("?")
        params = []
        for name, value in parse_qsl(query, keep_blank_values=True):
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
