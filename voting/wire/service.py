"""Bodies of the service's own operations: health, readiness, its key, the web bundle's hash."""

from __future__ import annotations

import msgspec

from voting.wire.common import Reply


class Health(Reply):
    ok: bool


class Ready(Reply):
    ready: bool
    reasons: list[str] | msgspec.UnsetType = msgspec.UNSET
    """When not ready (503): why."""


class ServerKey(Reply):
    server_key: str
    """Hex Ed25519 public key that signs tree heads and receipts."""


class WebBundleHash(Reply):
    algorithm: str
    bundle: str
    files: dict[str, str]
    """Each file of the pages' code (path without the leading slash) and its hash."""
    import_map_sha256: str
