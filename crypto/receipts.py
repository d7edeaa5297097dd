"""Cast receipts: what a voter keeps, and how anyone checks one (docs/protocol.md,
"Receipts").

A receipt holds the board entry of the ballot, the signed tree head right after
it was appended and the inclusion proof under that head, all signed by the
server. Later tree heads prove, by consistency proofs, that the entry was never
removed.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from crypto import log as merkle
from crypto.ballots import EncryptedBallot, Manifest, election_fingerprint, tracking_code
from crypto.encoding import canonical_json, encode_parts
from crypto.entry_kinds import BALLOT
from crypto.errors import CryptoError, EncodingError, LogError
from crypto.group import Point
from crypto.witness import CosignedHead, Witness, WitnessPolicy, check_quorum

RECEIPT_TAG = "votingpilot/v1/receipt"
RECEIPT_VERSION = 1
RECEIPT_FIELDS = {
    "version",
    "election_id",
    "tracking_code",
    "leaf_index",
    "entry",
    "tree_head",
    "inclusion_proof",
    "server_key",
    "signature",
}
WITNESSED = "witnessed"
"""The optional completion of a receipt: a head the election's witnesses cosigned
that extends the receipt's head. Anyone may add it (it proves itself), so the
server's signature does not cover it."""


class ReceiptError(LogError):
    code = "receipt_invalid"


def receipt_message(receipt: dict[str, Any]) -> bytes:
    body = {k: v for k, v in receipt.items() if k not in ("signature", WITNESSED)}
    return encode_parts(RECEIPT_TAG, canonical_json(body))


def make_receipt(
    key: Ed25519PrivateKey,
    server_key: bytes,
    entry: dict[str, Any],
    tree_head: merkle.SignedTreeHead,
    inclusion: merkle.InclusionProof,
) -> dict[str, Any]:
    receipt = {
        "version": RECEIPT_VERSION,
        "election_id": entry["election_id"],
        "tracking_code": entry["body"]["tracking_code"],
        "leaf_index": entry["index"],
        "entry": entry,
        "tree_head": tree_head.to_json(),
        "inclusion_proof": inclusion.to_json(),
        "server_key": server_key.hex(),
    }
    receipt["signature"] = key.sign(receipt_message(receipt)).hex()
    return receipt


def verify_receipt(
    receipt: object, *, server_key: bytes | None = None, kind: str = BALLOT
) -> merkle.SignedTreeHead:
    """Check a receipt on its own: the server's signature, the tree head's
    signature, that the entry is the ballot with this tracking code at this
    index, and its inclusion under the head. Returns the head, so the caller
    can then check consistency with a newer one. ``kind`` is the entry's kind:
    ``ballot`` for a cast receipt, ``ballot-audited`` for a published audit.
    ``server_key`` pins the
    expected key (from the election record); without it the receipt's own key
    is used, which proves integrity but not origin."""
    if not isinstance(receipt, dict) or set(receipt) - {WITNESSED} != RECEIPT_FIELDS:
        raise ReceiptError(f"a receipt is an object with exactly {sorted(RECEIPT_FIELDS)} (and optionally {WITNESSED})")
    if receipt["version"] != RECEIPT_VERSION:
        raise ReceiptError("unsupported receipt version")
    try:
        key_bytes = bytes.fromhex(receipt["server_key"])
        signature = bytes.fromhex(receipt["signature"])
    except (TypeError, ValueError):
        raise ReceiptError("server_key and signature must be hex") from None
    if server_key is not None and key_bytes != server_key:
        raise ReceiptError("the receipt was signed by another server key")
    try:
        Ed25519PublicKey.from_public_bytes(key_bytes).verify(signature, receipt_message(receipt))
    except (InvalidSignature, ValueError):
        raise ReceiptError("the server's signature on the receipt does not verify") from None
    sth = merkle.SignedTreeHead.from_json(receipt["tree_head"])
    merkle.verify_tree_head(key_bytes, sth)
    entry = receipt["entry"]
    if (
        not isinstance(entry, dict)
        or entry.get("kind") != kind
        or entry.get("index") != receipt["leaf_index"]
        or entry.get("election_id") != receipt["election_id"]
        or not isinstance(entry.get("body"), dict)
        or entry["body"].get("tracking_code") != receipt["tracking_code"]
    ):
        raise ReceiptError("the receipt's board entry is not this ballot")
    if sth.head.log_id != receipt["election_id"]:
        raise ReceiptError("the tree head is for another election")
    proof = merkle.InclusionProof.from_json(receipt["inclusion_proof"])
    if proof.leaf_index != receipt["leaf_index"] or proof.tree_size != sth.head.size:
        raise ReceiptError("the inclusion proof does not match the tree head")
    try:
        proof.verify(
            merkle.leaf_hash(canonical_json(entry)), sth.head.root, index=receipt["leaf_index"], tree_size=sth.head.size
        )
    except EncodingError as exc:
        raise ReceiptError(f"the entry is not canonical JSON: {exc}") from None
    return sth


def verify_receipt_against(
    receipt: dict[str, Any],
    newest: merkle.SignedTreeHead,
    consistency: merkle.ConsistencyProof,
    *,
    server_key: bytes | None = None,
) -> None:
    """The receipt checks out and its head is a prefix of ``newest``: the ballot
    is still on the board."""
    sth = verify_receipt(receipt, server_key=server_key)
    key = server_key or bytes.fromhex(receipt["server_key"])
    extend_receipt_head(sth, newest, consistency, key, what="the newest tree head")


# --- witnesses ----------------------------------------------------------------------------


def witness_policy_for(receipt: dict[str, Any], created: dict[str, Any], joint: dict[str, Any]) -> WitnessPolicy:
    """The witness policy of the election the receipt's ballot was made for.

    ``created`` and ``joint`` are the board's ``election-created`` and
    ``joint-key`` entries, as any server hands them out: they are trusted only
    because the receipt's tracking code, which the voter noted, recomputes from
    the fingerprint of that manifest and joint key. A server cannot show the
    voter a manifest with witnesses of its own choosing."""
    try:
        manifest = Manifest.from_json(created["body"]["manifest"])
        key = Point.from_hex(joint["body"]["joint_key"])
        fingerprint = election_fingerprint(manifest, key)
        ballot = EncryptedBallot.from_json(receipt["entry"]["body"]["ballot"], manifest)
    except (CryptoError, KeyError, TypeError) as exc:
        raise ReceiptError(f"the election's manifest or key on the board is malformed: {exc}") from None
    if manifest.election_id != receipt["election_id"] or tracking_code(fingerprint, ballot).hex() != receipt["tracking_code"]:
        raise ReceiptError("the board's manifest and election key are not the ones this ballot was made for")
    return manifest.witnesses


def witnessed_json(cosigned: CosignedHead, consistency: merkle.ConsistencyProof) -> dict[str, Any]:
    """The ``witnessed`` member to add to a receipt."""
    return {"cosigned": cosigned.to_json(), "consistency": consistency.to_json()}


def verify_witnessed(
    receipt: dict[str, Any], policy: WitnessPolicy, *, server_key: bytes | None = None
) -> tuple[CosignedHead, tuple[Witness, ...]]:
    """Check the receipt and its ``witnessed`` completion: a head signed by the
    server and cosigned by the quorum of ``policy`` that extends the receipt's
    head (so the ballot is under it). Returns the cosigned head and who
    cosigned. Raises ReceiptError, or QuorumError when too few cosigned."""
    sth = verify_receipt(receipt, server_key=server_key)
    doc = receipt.get(WITNESSED)
    if not isinstance(doc, dict) or set(doc) != {"cosigned", "consistency"}:
        raise ReceiptError("the receipt has no head cosigned by the witnesses yet")
    key = server_key or bytes.fromhex(receipt["server_key"])
    try:
        cosigned = CosignedHead.from_json(doc["cosigned"])
        proof = merkle.ConsistencyProof.from_json(doc["consistency"])
    except CryptoError as exc:
        raise ReceiptError(f"the receipt's witnessed head is malformed: {exc}") from None
    extend_receipt_head(sth, cosigned.tree_head, proof, key)
    return cosigned, check_quorum(policy, key, cosigned)


def extend_receipt_head(
    sth: merkle.SignedTreeHead,
    later: merkle.SignedTreeHead,
    proof: merkle.ConsistencyProof,
    server_key: bytes,
    *,
    what: str = "the witnessed head",
) -> None:
    """``later`` is signed by ``server_key``, for the same election, and extends ``sth``."""
    merkle.verify_tree_head(server_key, later)
    if later.head.log_id != sth.head.log_id:
        raise ReceiptError(f"{what} is for another election")
    if (proof.old_size, proof.new_size) != (sth.head.size, later.head.size):
        raise ReceiptError("the consistency proof is for other tree sizes")
    proof.verify(sth.head.root, later.head.root, old_size=sth.head.size, new_size=later.head.size)


# --- the compact receipt (the printed receipt's QR code) ---------------------------------

COMPACT_PREFIX = "VPR1:"
"""The compact receipt: ``VPR1:<election_id>:<tracking code>:<signature>``, the
two binary fields in unpadded base64url (docs/web.md, "The printed receipt").
A full receipt (several kB: the whole encrypted ballot) does not fit a QR code
that prints and scans reliably; this one (about 150 bytes) does. It holds no
body: the checker fetches the receipt by tracking code from any server and
keeps it only if its signature is this one and it verifies (verify_receipt,
with the pinned key). The server's signature covers the whole body, so a
server cannot hand back another receipt under the same signature."""
_COMPACT = re.compile(r"VPR1:([A-Za-z0-9][A-Za-z0-9_.-]{0,63}):([A-Za-z0-9_-]{43}):([A-Za-z0-9_-]{86})")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str, length: int) -> bytes:
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if len(data) != length or _b64url(data) != text:  # canonical: no stray low bits
        raise ReceiptError("the compact receipt is not canonical base64url")
    return data


def compact_receipt(receipt: dict[str, Any]) -> str:
    """The compact form of a (cast) receipt, for its QR code."""
    code = bytes.fromhex(receipt["tracking_code"])
    signature = bytes.fromhex(receipt["signature"])
    return f"{COMPACT_PREFIX}{receipt['election_id']}:{_b64url(code)}:{_b64url(signature)}"


def parse_compact_receipt(text: str) -> tuple[str, str, str]:
    """``(election_id, tracking_code_hex, signature_hex)`` of a compact receipt
    (surrounding white space ignored), or ReceiptError."""
    match = _COMPACT.fullmatch(text.strip())
    if match is None:
        raise ReceiptError("not a compact receipt (VPR1:election:code:signature)")
    election_id, code, signature = match.groups()
    return election_id, _unb64url(code, 32).hex(), _unb64url(signature, 64).hex()


def expand_compact_receipt(text: str, fetched: object) -> dict[str, Any]:
    """The full receipt a server returned for a compact one, kept only if it is
    that receipt: same election, tracking code and signature (which the caller
    then checks with verify_receipt, as any receipt)."""
    election_id, code, signature = parse_compact_receipt(text)
    if (
        not isinstance(fetched, dict)
        or fetched.get("election_id") != election_id
        or fetched.get("tracking_code") != code
        or fetched.get("signature") != signature
    ):
        raise ReceiptError("the server's receipt for this tracking code is not the one in the compact receipt")
    return fetched
