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


def _env_int(name: str, default: int) -> int:
    raw = _env(name, str(default))
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"VOTING_{name} must be an integer, got {raw!r}") from None


def _env_origin(name: str) -> str:
    raw = _env(name, "")
    try:
        return origin_of(raw) if raw else ""
    except ValueError as exc:
        raise SystemExit(
            f"VOTING_{name} must be the address employees type, e.g. https://vote.city.example: {exc}"
        ) from None


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
    session_ttl_s: int = 1800
    session_idle_s: int = 900
    nonce_ttl_s: int = 120
    login_rate_per_minute: int = 30
    """Login attempts per client address, and logins per certificate (counted once the
    token's signature verified, so others cannot use up a victim's); 0 disables (load tests)."""
    workers: int = 1

    @classmethod
    def from_env(cls) -> Settings:
        data_dir = Path(_env("DATA_DIR", "var"))
        return cls(
            data_dir=data_dir,
            database_url=_env("DATABASE_URL", ""),
            host=_env("HOST", "127.0.0.1"),
            port=_env_int("PORT", 8000),
            public_url=_env_origin("PUBLIC_URL"),
            trust_anchor=Path(p) if (p := _env("TRUST_ANCHOR", "")) else None,
            crl_source=_env("CRL", ""),
            crl_refresh_s=_env_int("CRL_REFRESH_S", 300),
            session_ttl_s=_env_int("SESSION_TTL_S", 1800),
            session_idle_s=_env_int("SESSION_IDLE_S", 900),
            nonce_ttl_s=_env_int("NONCE_TTL_S", 120),
            login_rate_per_minute=_env_int("LOGIN_RATE_PER_MINUTE", 30),
            workers=_env_int("WORKERS", 1),
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


def _async_url(url: str) -> str:
    """Accept plain ``postgresql://`` and ``sqlite://`` URLs and pick the async driver."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url.split("://", 1)[1]
    return url
