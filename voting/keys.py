"""The server's Ed25519 signing key (tree heads, receipts, session tokens).

Created on the first start of a new deployment, with mode 0600; it never leaves
the data directory, except as a copy to every other host of the deployment:
every app process reads the same key. A host without the key file, whose
database already holds a board, refuses to start instead of signing with a new
key that receipts and ``voting verify`` would then refuse.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from voting.files import make_directory


@dataclass(frozen=True)
class ServerKey:
    private_key: Ed25519PrivateKey

    @functools.cached_property
    def public_bytes(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)

    @functools.cached_property
    def _mac_key(self) -> bytes:
        """Derived once: every authenticated request checks its session token's MAC."""
        raw = self.private_key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return hashlib.sha256(b"votingpilot/v1/session-mac-key" + raw).digest()

    def mac(self, message: bytes) -> bytes:
        """HMAC-SHA256 under a key derived from the signing key (session tokens)."""
        return hmac.new(self._mac_key, message, hashlib.sha256).digest()


def fingerprint(public_bytes: bytes) -> str:
    """How a server key is shown to operators: the start of its hex."""
    return f"{public_bytes.hex()[:16]}…"


def missing_key_message(path: Path, board_key: bytes) -> str:
    return (
        f"no server key at {path}, but the database holds a board signed with key {fingerprint(board_key)}: "
        "copy server-signing-key.pem from the first host (mode 0600; docs/operations.md, Several hosts); "
        "a new key would make every receipt and 'voting verify' fail"
    )


def load_or_create(path: Path, *, board_key: Callable[[], bytes | None] | None = None) -> ServerKey:
    """The key at ``path``; when there is none, a new one, unless ``board_key()``
    names the key the database's board is already signed with (then refuse:
    this host lacks the deployment's key)."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise SystemExit(f"{path} is not an Ed25519 private key")
        return ServerKey(key)
    if board_key is not None and (signed_with := board_key()) is not None:
        raise SystemExit(missing_key_message(path, signed_with))
    make_directory(path.parent, private=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Written whole to a private temporary file, then linked into place: the link
    # fails if another process starting at the same moment won, and nobody ever
    # reads a half-written key.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(tmp, path)
    except FileExistsError:
        return load_or_create(path)
    finally:
        tmp.unlink()
    return ServerKey(key)
