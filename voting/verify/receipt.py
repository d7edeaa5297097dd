"""A voter's receipt against a record (``voting verify-receipt --record``):
the server's signatures, the entry's inclusion and the board's consistency
since, and the witnesses' quorum. Not the whole record: ``verify_record``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crypto import log as merkle
from crypto.encoding import canonical_json
from crypto.entry_kinds import BALLOT, BALLOT_AUDITED, BALLOT_SUPERSEDED, ELECTION_CREATED, JOINT_KEY
from crypto.receipts import WITNESSED, verify_receipt, verify_witnessed, witness_policy_for
from crypto.witness import CosignedHead, check_quorum
from voting.record import files as F
from voting.verify.parse import Bad, hex_bytes, strict_json


def verify_receipt_in_record(receipt: object, files: Mapping[str, bytes], *, server_key: bytes | None = None) -> dict[str, Any]:
    """Check one voter's receipt against a record: the server's signatures, the
    entry's inclusion under the receipt's tree head, that the record's board
    holds exactly that entry at that index, and that the record's newest head
    is consistent with the receipt's (the ballot was never removed). A
    published audit's document (a ``ballot-audited`` entry) is checked the same
    way, and is never counted. This does not verify the whole record:
    ``verify_record`` does. Raises ``Bad`` or a
    ``CryptoError``; returns what was established."""
    board, heads_data = files.get(F.BOARD), files.get(F.TREE_HEADS)
    if board is None or heads_data is None:
        raise Bad(f"the record needs {F.BOARD} and {F.TREE_HEADS}")
    lines = board.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    created = strict_json(lines[0], "entry 0") if lines else None
    if not isinstance(created, dict) or created.get("kind") != ELECTION_CREATED or not isinstance(created.get("body"), dict):
        raise Bad("the record's board does not start with election-created")
    record_key = hex_bytes(created["body"].get("server_key"), "the record's server_key", 32)
    key = server_key or record_key
    if key != record_key:
        raise Bad("the record was signed by another server key than the one given")
    if not isinstance(receipt, dict):
        raise Bad("a receipt is a JSON object")
    # A published audit's document has a receipt's shape, with a ballot-audited entry.
    entry = receipt.get("entry")
    kind = BALLOT_AUDITED if isinstance(entry, dict) and entry.get("kind") == BALLOT_AUDITED else BALLOT
    sth = verify_receipt(receipt, server_key=key, kind=kind)
    if receipt["election_id"] != created.get("election_id"):
        raise Bad(f"the receipt is for election {receipt['election_id']!r}, the record for {created.get('election_id')!r}")
    heads = strict_json(heads_data, F.TREE_HEADS)
    if not isinstance(heads, list) or not heads:
        raise Bad(f"{F.TREE_HEADS} has no tree heads")
    newest = merkle.SignedTreeHead.from_json(heads[-1])
    merkle.verify_tree_head(key, newest)
    if newest.head.log_id != created.get("election_id") or newest.head.size != len(lines):
        raise Bad(f"the record's newest tree head covers {newest.head.size} entries, its board has {len(lines)}")
    if sth.head.size > newest.head.size:
        raise Bad(f"the receipt (tree size {sth.head.size}) is newer than the record (size {newest.head.size}): export it again")
    index = receipt["leaf_index"]
    if canonical_json(receipt["entry"]) != lines[index]:
        raise Bad(f"the record's entry {index} is not the ballot on the receipt")
    log = merkle.MemoryLog()
    for line in lines:
        log.append(line)
    if log.root() != newest.head.root:
        raise Bad("the record's newest tree head is not the root of its board")
    path = tuple(log.consistency_proof(sth.head.size, newest.head.size))
    # The receipt's head is a prefix of the record's newest (both verified under ``key`` above).
    if newest.head.log_id != sth.head.log_id:
        raise Bad("the record's newest tree head is for another election than the receipt's")
    merkle.ConsistencyProof(sth.head.size, newest.head.size, path).verify(
        sth.head.root, newest.head.root, old_size=sth.head.size, new_size=newest.head.size
    )
    cosigned_by = _receipt_witnesses(receipt, lines, files, log, key, newest.head.size)
    superseded_by = None
    for line in lines[index + 1 :]:
        entry = strict_json(line, "a board entry")
        body = entry.get("body") if isinstance(entry, dict) else None
        if entry.get("kind") == BALLOT_SUPERSEDED and isinstance(body, dict) and body.get("tracking_code") == receipt["tracking_code"]:
            superseded_by = body.get("superseded_by")
    return {
        "election_id": receipt["election_id"],
        "tracking_code": receipt["tracking_code"],
        "leaf_index": index,
        "receipt_tree_size": sth.head.size,
        "newest_tree_size": newest.head.size,
        "counted": superseded_by is None and kind == BALLOT,
        "superseded_by": superseded_by,
        "audited": kind == BALLOT_AUDITED,
        "witnesses": cosigned_by,
    }


def _receipt_witnesses(
    receipt: dict[str, Any], lines: list[bytes], files: Mapping[str, bytes], log: merkle.MemoryLog, key: bytes, board_size: int
) -> list[str]:
    """With witnesses (the manifest the receipt's tracking code binds): the
    record's whole board is cosigned by the quorum, and a head the receipt
    carries as ``witnessed`` is a head of this board. Returns who cosigned."""
    joint = next(
        (e for e in (strict_json(line, "a board entry") for line in lines) if isinstance(e, dict) and e.get("kind") == JOINT_KEY),
        None,
    )
    if joint is None:
        raise Bad("the record's board has no joint-key entry")
    policy = witness_policy_for(receipt, strict_json(lines[0], "entry 0"), joint)
    if policy.quorum == 0:
        return []
    if WITNESSED in receipt:
        carried, _ = verify_witnessed(receipt, policy, server_key=key)
        size = carried.tree_head.head.size
        if size > board_size or log.root(size) != carried.tree_head.head.root:
            raise Bad(
                "the witnessed head on the receipt is not a head of this record's board: "
                "the voter and the record were shown different boards (a split view)"
            )
    doc = strict_json(files[F.COSIGNATURES], F.COSIGNATURES) if F.COSIGNATURES in files else None
    heads = doc.get("heads") if isinstance(doc, dict) else None
    if not isinstance(heads, list):
        raise Bad(f"{F.COSIGNATURES} has no list of cosigned heads")
    final = next((h for h in heads if isinstance(h, dict) and isinstance(h.get("tree_head"), dict) and h["tree_head"].get("size") == board_size), None)
    if final is None:
        raise Bad(f"the witnesses' quorum has not cosigned this record's board ({F.COSIGNATURES}): export the record again once they have")
    cosigned = CosignedHead.from_json(final)
    if cosigned.tree_head.head.root != log.root(board_size):
        raise Bad("the record's cosigned final head is not the root of its board")
    return [w.name for w in check_quorum(policy, key, cosigned)]
