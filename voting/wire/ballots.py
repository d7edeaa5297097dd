"""Bodies of casting a ballot and publishing an audited one (/api/elections/{id}/ballots, /audits)."""

from __future__ import annotations

from typing import Any

import msgspec

from voting.wire.board import InclusionProof, SignedTreeHead
from voting.wire.common import Reply


class CastRequest(msgspec.Struct, forbid_unknown_fields=True):
    ballot: dict[str, Any]
    """The encrypted ballot with its proofs (crypto/ballots.py)."""
    signature: str
    """Hex: the voting credential's signature over the election and the tracking code."""


class AuditRequest(msgspec.Struct, forbid_unknown_fields=True):
    ballot: dict[str, Any]
    opening: dict[str, Any]
    """The ballot's randomness and selections, which anyone can check against it."""


# -- replies -----------------------------------------------------------------------------


class Receipt(Reply):
    """The server's signed receipt of a board entry (crypto/receipts.py): the
    entry, a tree head and the proof the entry is under it."""

    version: int
    election_id: str
    tracking_code: str
    leaf_index: int
    entry: dict[str, Any]
    tree_head: SignedTreeHead
    inclusion_proof: InclusionProof
    server_key: str
    signature: str


class CastReply(Receipt):
    superseded: bool | msgspec.UnsetType = msgspec.UNSET
    """Present (true) on a resent ballot that a later one replaced; not signed:
    clients remove it before checking the receipt."""


class ReceiptLookup(Reply):
    receipt: Receipt
    superseded: bool
    superseded_by: str | msgspec.UnsetType | None = msgspec.UNSET
    """The tracking code of the ballot that replaced this one, if any."""
