"""An auditor's check of a whole board after crashes and races (tests/test_crash_safety.py,
tests/test_races.py): what every receipt promised is there, and nothing moved.

``audit_board`` checks, against the server's public API only:
- the entries are indexed 0..n-1, without a gap or a repeat;
- the stored head history holds one head per size 1..n, each signed by the
  server, each root recomputed from the entries themselves (so every pair of
  successive heads is consistent);
- every receipt verifies on its own, its entry is the one at its index, and the
  server's inclusion proof of it under the newest head verifies;
- every tree head a client saw is the stored head of its size, and the server's
  consistency proof between each pair of successive ones verifies.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from crypto import log as merkle
from crypto.encoding import canonical_json
from crypto.log import ConsistencyProof, InclusionProof, SignedTreeHead
from crypto.receipts import verify_receipt
from tests.http_support import board_entries, board_heads
from voting.client import Client


@dataclass(frozen=True)
class BoardAudit:
    size: int
    ballots: int
    receipts: int
    heads_seen: int
    consistency_proofs: int


def audit_board(
    client: Client, election_id: str, receipts: list[dict], heads_seen: list[SignedTreeHead]
) -> BoardAudit:
    server_key = bytes.fromhex(client.get("/api/server-key")["server_key"])
    entries = board_entries(client, election_id)
    assert [e["index"] for e in entries] == list(range(len(entries))), "leaf indices are not 0..n-1"
    assert {e["election_id"] for e in entries} == {election_id}

    log = merkle.MemoryLog()
    for entry in entries:
        log.append(canonical_json(entry))
    stored = board_heads(client, election_id)
    assert [h.head.size for h in stored] == list(range(1, len(entries) + 1)), "the head history has gaps"
    for sth in stored:
        merkle.verify_tree_head(server_key, sth)
        assert sth.head.root == log.root(sth.head.size), f"stored head {sth.head.size} is not the board's"
    newest = SignedTreeHead.from_json({k: v for k, v in client.get(f"/api/elections/{election_id}/board/head").items() if k != "server_key"})
    assert newest == stored[-1]

    by_size = {sth.head.size: sth for sth in stored}
    for receipt in receipts:
        verify_receipt(receipt, server_key=server_key)
        index = receipt["leaf_index"]
        assert entries[index] == receipt["entry"], f"entry {index} is not the receipt's"
        reply = client.get(f"/api/elections/{election_id}/board/inclusion", index=index, size=newest.head.size)
        proof = InclusionProof.from_json(reply["proof"])
        assert (proof.leaf_index, proof.tree_size) == (index, newest.head.size)
        proof.verify(
            merkle.leaf_hash(canonical_json(receipt["entry"])), newest.head.root, index=index, tree_size=newest.head.size
        )

    sizes = sorted({sth.head.size for sth in heads_seen})
    for sth in heads_seen:
        merkle.verify_tree_head(server_key, sth)
        assert by_size[sth.head.size].head.root == sth.head.root, f"two different heads of size {sth.head.size}"
    proofs = 0
    for old, new in itertools.pairwise(sizes):
        reply = client.get(f"/api/elections/{election_id}/board/consistency", old=old, new=new)
        ConsistencyProof.from_json(reply["proof"]).verify(
            by_size[old].head.root, by_size[new].head.root, old_size=old, new_size=new
        )
        proofs += 1
    return BoardAudit(
        size=len(entries),
        ballots=sum(e["kind"] == "ballot" for e in entries),
        receipts=len(receipts),
        heads_seen=len(sizes),
        consistency_proofs=proofs,
    )
