"""Witness cosignatures on the bulletin board's tree heads (docs/parts/witness.md).

A witness is an independent party that remembers the newest tree head it
cosigned for an election and cosigns a newer head only after checking a
consistency proof from the old one. A server that shows two groups of people
two different boards (a *split view*) then cannot get both branches cosigned by
the same honest witness. An election names its witnesses and how many must
cosign (the quorum k) in its manifest, so the election fingerprint, which the
trustees endorse and voters pin, fixes them.

A cosignature is Ed25519 (RFC 8032) by the witness's key over the typed,
length-prefixed parts of the tree head and the witness's own clock; it never
covers anything the witness did not check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from crypto import log as merkle
from crypto.encoding import encode_parts
from crypto.errors import CosignatureError, ManifestError, QuorumError

COSIGNATURE_TAG = "votingpilot/v1/cosignature"
"""Domain tag of the cosigned message: a cosignature can mean nothing else."""

MAX_WITNESSES = 16
_NAME_MAX = 64
_URL = re.compile(r"\Ahttps?://[A-Za-z0-9.\-\[\]:]+(/[A-Za-z0-9._~\-/]*)?\Z")
_HEX64 = re.compile(r"\A[0-9a-f]{64}\Z")


@dataclass(frozen=True, slots=True)
class Witness:
    name: str
    """who runs it, e.g. 監査事務局 (the audit office): shown to voters"""
    public_key: bytes
    """raw Ed25519 public key, 32 bytes"""
    url: str | None = None
    """where it serves its newest cosigned heads (for voters' gossip), if anywhere"""

    def to_json(self) -> dict[str, object]:
        doc: dict[str, object] = {"name": self.name, "public_key": self.public_key.hex()}
        if self.url is not None:
            doc["url"] = self.url
        return doc


@dataclass(frozen=True, slots=True)
class WitnessPolicy:
    """An election's witnesses and the quorum k of them that must cosign a head
    before a voter, a trustee or an auditor relies on it. No witnesses means
    k = 0: nothing can then detect a split view (clients say so)."""

    witnesses: tuple[Witness, ...] = ()
    quorum: int = 0

    def witness(self, public_key: bytes) -> Witness | None:
        return next((w for w in self.witnesses if w.public_key == public_key), None)

    def to_json(self) -> dict[str, object]:
        return {"quorum": self.quorum, "members": [w.to_json() for w in self.witnesses]}

    @classmethod
    def from_json(cls, doc: object) -> WitnessPolicy:
        """The manifest's ``witnesses`` member; None (absent) is no witnesses.
        Raises ManifestError: it is part of the manifest."""
        if doc is None:
            return cls()
        if not isinstance(doc, dict) or set(doc) != {"quorum", "members"}:
            raise ManifestError("witnesses must be an object with exactly quorum and members")
        members, quorum = doc["members"], doc["quorum"]
        if not isinstance(members, list) or len(members) > MAX_WITNESSES:
            raise ManifestError(f"witnesses.members must be a list of at most {MAX_WITNESSES} witnesses")
        witnesses = tuple(_parse_witness(m, number) for number, m in enumerate(members, start=1))
        if len({w.public_key for w in witnesses}) != len(witnesses):
            raise ManifestError("witnesses.members: two witnesses have the same public key")
        if type(quorum) is not int or not (1 if witnesses else 0) <= quorum <= len(witnesses):
            raise ManifestError("witnesses.quorum must be an integer from 1 to the number of witnesses (0 without witnesses)")
        return cls(witnesses, quorum)


def _parse_witness(doc: object, number: int) -> Witness:
    where = f"witness {number}"
    if not isinstance(doc, dict) or not {"name", "public_key"} <= set(doc) <= {"name", "public_key", "url"}:
        raise ManifestError(f"{where}: must be an object with name, public_key and optionally url")
    name, key, url = doc["name"], doc["public_key"], doc.get("url")
    if not isinstance(name, str) or not 1 <= len(name) <= _NAME_MAX or not name.isprintable() or name != name.strip():
        raise ManifestError(f"{where}: name must be 1-{_NAME_MAX} printable characters")
    if not isinstance(key, str) or not _HEX64.match(key):
        raise ManifestError(f"{where}: public_key must be 64 lowercase hex digits")
    if url is not None and (not isinstance(url, str) or len(url) > 200 or not _URL.match(url)):
        raise ManifestError(f"{where}: url must be an http(s) URL of at most 200 characters")
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(key))
    except ValueError:
        raise ManifestError(f"{where}: public_key is not an Ed25519 public key") from None
    return Witness(name, bytes.fromhex(key), url)


@dataclass(frozen=True, slots=True)
class Cosignature:
    witness_key: bytes
    """the witness's raw Ed25519 public key"""
    time_ms: int
    """the witness's clock when it cosigned, milliseconds since the Unix epoch"""
    signature: bytes
    """Ed25519 over cosignature_message(head, time_ms), 64 bytes"""

    def to_json(self) -> dict[str, object]:
        return {"witness_key": self.witness_key.hex(), "time_ms": self.time_ms, "signature": self.signature.hex()}

    @classmethod
    def from_json(cls, doc: object) -> Cosignature:
        keys = {"witness_key", "time_ms", "signature"}
        if not isinstance(doc, dict) or set(doc) != keys:
            raise CosignatureError(f"a cosignature is an object with exactly {sorted(keys)}")
        time_ms = doc["time_ms"]
        if type(time_ms) is not int or not 0 <= time_ms <= merkle.MAX_SIZE:
            raise CosignatureError("time_ms must be an integer in [0, 2^53 - 1]")
        return cls(_hex(doc["witness_key"], 32, "witness_key"), time_ms, _hex(doc["signature"], 64, "signature"))


def cosignature_message(head: merkle.TreeHead, time_ms: int) -> bytes:
    """The exact bytes a witness signs: the tree head's parts and its own time."""
    return encode_parts(COSIGNATURE_TAG, head.log_id, head.size, head.root, head.timestamp_ms, time_ms)


class Ed25519Signer(Protocol):
    """What cosigning needs of a key: an Ed25519PrivateKey, or a key on a card."""

    def public_key(self) -> Ed25519PublicKey: ...

    def sign(self, data: bytes) -> bytes: ...


def cosign(private_key: Ed25519Signer, head: merkle.TreeHead, time_ms: int) -> Cosignature:
    """Cosign ``head``. The caller (the witness) must first have checked it is
    consistent with every head it cosigned before for this log."""
    public = private_key.public_key().public_bytes_raw()
    return Cosignature(public, time_ms, private_key.sign(cosignature_message(head, time_ms)))


def verify_cosignature(head: merkle.TreeHead, cosignature: Cosignature) -> None:
    """Raises CosignatureError unless ``cosignature`` is its key's signature on ``head``."""
    try:
        Ed25519PublicKey.from_public_bytes(cosignature.witness_key).verify(
            cosignature.signature, cosignature_message(head, cosignature.time_ms)
        )
    except (InvalidSignature, ValueError):
        raise CosignatureError("the witness's cosignature does not verify") from None


@dataclass(frozen=True, slots=True)
class CosignedHead:
    """A server-signed tree head with the witnesses' cosignatures on it."""

    tree_head: merkle.SignedTreeHead
    cosignatures: tuple[Cosignature, ...]

    def to_json(self) -> dict[str, object]:
        return {"tree_head": self.tree_head.to_json(), "cosignatures": [c.to_json() for c in self.cosignatures]}

    @classmethod
    def from_json(cls, doc: object) -> CosignedHead:
        if not isinstance(doc, dict) or set(doc) != {"tree_head", "cosignatures"}:
            raise CosignatureError("a cosigned head is an object with exactly tree_head and cosignatures")
        cosignatures = doc["cosignatures"]
        if not isinstance(cosignatures, list) or len(cosignatures) > MAX_WITNESSES:
            raise CosignatureError(f"cosignatures must be a list of at most {MAX_WITNESSES}")
        return cls(merkle.SignedTreeHead.from_json(doc["tree_head"]), tuple(Cosignature.from_json(c) for c in cosignatures))


def check_quorum(policy: WitnessPolicy, server_key: bytes, cosigned: CosignedHead) -> tuple[Witness, ...]:
    """The head is signed by ``server_key`` and cosigned by at least ``policy.quorum``
    distinct witnesses of the election. Cosignatures by keys the election does
    not name, or that do not verify, count for nothing. Returns the witnesses
    that cosigned; raises QuorumError (or TreeHeadSignatureError)."""
    merkle.verify_tree_head(server_key, cosigned.tree_head)
    head = cosigned.tree_head.head
    signed: dict[bytes, Witness] = {}
    for cosignature in cosigned.cosignatures:
        witness = policy.witness(cosignature.witness_key)
        if witness is None or witness.public_key in signed:
            continue
        try:
            verify_cosignature(head, cosignature)
        except CosignatureError:
            continue
        signed[witness.public_key] = witness
    if len(signed) < policy.quorum:
        missing = [w.name for w in policy.witnesses if w.public_key not in signed]
        raise QuorumError(
            f"tree head {head.size} is cosigned by {len(signed)} of the election's witnesses, "
            f"{policy.quorum} are needed (not cosigned by: {', '.join(missing)})"
        )
    return tuple(signed.values())


def _hex(text: object, length: int, what: str) -> bytes:
    if not isinstance(text, str) or len(text) != 2 * length or not re.fullmatch(r"[0-9a-f]*", text):
        raise CosignatureError(f"{what} must be {2 * length} lowercase hex digits")
    return bytes.fromhex(text)
