"""Bodies of the public bulletin board and its witnesses (/api/elections/{id}/board)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

# The constrained scalars are shared with the election record's definitions (voting/wire/record.py).
from voting.wire.common import MAX_POSITION, Hex32, Hex64, Position, Reply


class Cosignature(msgspec.Struct, forbid_unknown_fields=True):
    """A witness's Ed25519 signature over a signed tree head (crypto/witness.py)."""

    witness_key: Hex32
    time_ms: Position
    signature: Hex64


class CosignRequest(msgspec.Struct, forbid_unknown_fields=True):
    size: Annotated[int, msgspec.Meta(ge=1, le=MAX_POSITION)]
    """The size of the signed tree head cosigned."""
    cosignature: Cosignature


# -- replies -----------------------------------------------------------------------------


class SignedTreeHead(Reply):
    """The server's signed tree head (crypto/log.py)."""

    log_id: str
    size: int
    root: str
    timestamp_ms: int
    signature: str


class HeadReply(SignedTreeHead):
    server_key: str


class InclusionProof(Reply):
    leaf_index: int
    tree_size: int
    path: list[str]


class ConsistencyProof(Reply):
    old_size: int
    new_size: int
    path: list[str]


class EntriesReply(Reply):
    size: int
    start: int
    entries: list[dict[str, Any]]
    """Board entries as appended: ``{election_id, index, kind, time, body}``."""


class InclusionReply(Reply):
    entry: str
    """The entry's JSON text, the leaf's exact bytes."""
    proof: InclusionProof
    tree_head: SignedTreeHead


class ConsistencyReply(Reply):
    proof: ConsistencyProof
    tree_head: SignedTreeHead


class CosignedReply(Reply):
    tree_head: SignedTreeHead
    cosignatures: list[Cosignature]


class CosignStored(Reply):
    size: int
    witness: str
    stored: bool


class WitnessView(Reply):
    name: str
    public_key: str
    url: str | None
    """Where it serves its newest cosigned heads, if anywhere."""
    newest: dict[str, Any] | None
    """The newest tree head this witness cosigned, with its cosignature; null before any."""


class WitnessesReply(Reply):
    quorum: int
    witnesses: list[WitnessView]
