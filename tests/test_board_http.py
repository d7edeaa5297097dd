"""The bulletin board's public API over real HTTP, on SQLite and PostgreSQL:
paginated entries, the signed tree heads and their history, inclusion proofs by
leaf index and by tracking code (at the newest and at earlier sizes),
consistency proofs between sizes, and refusals of out-of-range requests:
malformed_request (400: negative, non-numeric or beyond 2^53 - 1 positions,
page sizes outside 1..500), bad_proof_request (422: neither or both of index
and tracking code, index >= size, old size 0 or above the new one),
tree_head_not_found, tracking_code_not_found, election_not_found (404)."""

from __future__ import annotations

import json

import httpx
import pytest

from crypto.encoding import canonical_json
from crypto.log import (
    ConsistencyProof,
    InclusionProof,
    SignedTreeHead,
    leaf_hash,
    root_from_leaves,
    verify_tree_head,
)
from tests.http_support import Pilot, board_entries, board_heads, problem, start_pilot, two_question_manifest


def run_small_election(pilot: Pilot, pki, election_id: str) -> list[dict]:
    """Four voters (one votes twice), closed, tallied by T0001 and T0002, published:
    a board with every kind of entry. Returns the receipts."""
    voter_ids = ["E0001", "E0002", "E0003", "E0004"]
    credentials = {v: pki.enroll(v) for v in voter_ids}
    pilot.open_election(two_question_manifest(election_id, revote="last", min_tally_ballots=4), voter_ids)
    receipts = []
    for employee_id, days in [("E0001", "d0"), ("E0002", "d1"), ("E0001", "d2"), ("E0003", "d3"), ("E0004", "d3")]:
        voter = pilot.login(credentials[employee_id])
        receipts.append(voter.cast(voter.prepare_ballot(election_id, {"days": [days], "tools": ["s1"]})))
    pilot.admin.close_election(election_id)
    pilot.decrypt(election_id, ["T0001", "T0002"])
    pilot.admin.tally(election_id)
    pilot.admin.publish(election_id)
    return receipts


def test_board_entries_heads_and_proofs(pki, data_dir, database_url):
    pilot = start_pilot(pki, data_dir, database_url)
    try:
        election_id = "board-2026"
        receipts = run_small_election(pilot, pki, election_id)
        public = pilot.client()  # the board needs no login
        board = f"/api/elections/{election_id}/board"
        server_key = bytes.fromhex(public.get("/api/server-key")["server_key"])

        # Entries: every page size gives the same sequence, in index order.
        entries = board_entries(public, election_id)
        size = len(entries)
        assert [e["index"] for e in entries] == list(range(size))
        for limit in (1, 3, 7, 500):
            paged, start = [], 0
            while start < size:
                page = public.get(f"{board}/entries", start=start, limit=limit)
                assert page["size"] == size and page["start"] == start
                assert 1 <= len(page["entries"]) <= limit
                paged += page["entries"]
                start += len(page["entries"])
            assert paged == entries
        assert public.get(f"{board}/entries", start=size)["entries"] == []
        assert public.get(f"{board}/entries", start=size + 10**6) == {"size": size, "start": size + 10**6, "entries": []}
        kinds = [e["kind"] for e in entries]
        assert kinds[0] == "election-created" and kinds[-1] == "election-published"
        assert {"trustee-announcement", "joint-key", "election-opened", "ballot", "ballot-superseded",
                "election-closed", "aggregate", "partial-decryption", "result"} <= set(kinds)
        assert entries[0]["body"]["server_key"] == server_key.hex()

        # Heads: one signed head per size, paginated; the newest is /head.
        heads = board_heads(public, election_id)
        assert [h.head.size for h in heads] == list(range(1, size + 1))
        assert [SignedTreeHead.from_json(h) for h in public.get(f"{board}/heads", start=3, limit=2)] == heads[2:4]
        assert public.get(f"{board}/heads", start=size + 1) == []
        newest = public.get(f"{board}/head")
        assert newest["server_key"] == server_key.hex()
        assert SignedTreeHead.from_json({k: v for k, v in newest.items() if k != "server_key"}) == heads[-1]
        leaves = [leaf_hash(canonical_json(e)) for e in entries]
        for head in heads:
            verify_tree_head(server_key, head)
            assert head.head.log_id == election_id
            assert head.head.root == root_from_leaves(leaves[: head.head.size])

        # Inclusion by index, under the newest head and under every earlier one
        # that contains the entry; the entry comes back as the exact hashed text.
        for index in range(size):
            for at in sorted({index + 1, (index + size + 1) // 2, size}):
                reply = public.get(f"{board}/inclusion", index=index, size=at if at != size else None)
                tree_head = SignedTreeHead.from_json(reply["tree_head"])
                assert tree_head == heads[at - 1]
                assert json.loads(reply["entry"]) == entries[index]
                proof = InclusionProof.from_json(reply["proof"])
                assert (proof.leaf_index, proof.tree_size) == (index, at)
                proof.verify(leaf_hash(reply["entry"].encode()), tree_head.head.root, index=index, tree_size=at)

        # Inclusion by tracking code: every ballot, superseded or not.
        for receipt in receipts:
            reply = public.get(f"{board}/inclusion", tracking_code=receipt["tracking_code"])
            assert json.loads(reply["entry"]) == receipt["entry"]
            InclusionProof.from_json(reply["proof"]).verify(
                leaf_hash(reply["entry"].encode()), heads[-1].head.root, index=receipt["leaf_index"], tree_size=size
            )
            assert public.check_receipt(receipt)["newest_tree_size"] == size

        # Consistency between any two sizes (equal sizes: the empty proof).
        for old in range(1, size + 1):
            for new in sorted({old, old + 1, (old + size) // 2, size} - {size + 1}):
                reply = public.get(f"{board}/consistency", old=old, new=new)
                assert SignedTreeHead.from_json(reply["tree_head"]) == heads[new - 1]
                proof = ConsistencyProof.from_json(reply["proof"])
                assert (proof.old_size, proof.new_size) == (old, new)
                proof.verify(heads[old - 1].head.root, heads[new - 1].head.root, old_size=old, new_size=new)
        assert public.get(f"{board}/consistency", old=1)["tree_head"] == heads[-1].to_json()
    finally:
        pilot.stop()


@pytest.mark.slow
def test_board_refuses_out_of_range_requests(pki, data_dir, database_url):
    pilot = start_pilot(pki, data_dir, database_url)
    try:
        voter = pki.enroll("E0001")
        election_id = pilot.open_election(two_question_manifest("range-2026"), ["E0001"])
        client = pilot.login(voter)
        receipt = client.cast(client.prepare_ballot(election_id, {"days": ["d0"], "tools": []}))
        size = pilot.client().get(f"/api/elections/{election_id}/board/head")["size"]
        board = f"{pilot.url}/api/elections/{election_id}/board"
        huge = 2**63

        def refused(path: str, status: int, code: str, **params: object) -> None:
            pilot.refused_raw(lambda: httpx.get(board + path, params=params), status, code)

        # Entries and heads: malformed pages.
        for params in ({"start": -1}, {"limit": 0}, {"limit": 501}, {"start": "x"}, {"start": huge}):
            refused("/entries", 400, "malformed_request", **params)
            refused("/heads", 400, "malformed_request", **params)

        # Inclusion.
        refused("/inclusion", 422, "bad_proof_request")
        refused("/inclusion", 422, "bad_proof_request", index=0, tracking_code=receipt["tracking_code"])
        refused("/inclusion", 422, "bad_proof_request", index=size)
        refused("/inclusion", 422, "bad_proof_request", index=5, size=5)
        refused("/inclusion", 404, "tree_head_not_found", index=0, size=size + 1)
        refused("/inclusion", 404, "tracking_code_not_found", tracking_code="00" * 32)
        refused("/inclusion", 404, "tracking_code_not_found", tracking_code="not hex")
        refused("/inclusion", 400, "malformed_request", tracking_code="a" * 65)
        refused("/inclusion", 400, "malformed_request", index=-1)
        refused("/inclusion", 400, "malformed_request", index=0, size=0)
        refused("/inclusion", 400, "malformed_request", index=huge)
        refused("/inclusion", 400, "malformed_request", index=0, size=huge)

        # Consistency.
        refused("/consistency", 400, "malformed_request")
        refused("/consistency", 422, "bad_proof_request", old=0)
        refused("/consistency", 422, "bad_proof_request", old=3, new=2)
        refused("/consistency", 422, "bad_proof_request", old=size + 1)
        refused("/consistency", 404, "tree_head_not_found", old=1, new=size + 1)
        refused("/consistency", 400, "malformed_request", old=-1)
        refused("/consistency", 400, "malformed_request", old=1, new=huge)

        # An election that does not exist, whatever is asked of its board.
        missing = f"{pilot.url}/api/elections/no-such-election/board"
        for path, params in (
            ("/entries", {}), ("/head", {}), ("/heads", {}), ("/inclusion", {"index": 0}),
            ("/inclusion", {"tracking_code": receipt["tracking_code"]}), ("/consistency", {"old": 1}),
        ):
            pilot.refused_raw(lambda path=path, params=params: httpx.get(missing + path, params=params), 404, "election_not_found")
        assert problem(httpx.get(f"{pilot.url}/api/elections/{election_id}/ballots/{'00' * 32}")) == (
            404, "tracking_code_not_found",
        )
    finally:
        pilot.stop()
