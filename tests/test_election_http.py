"""Whole elections over real HTTP (a uvicorn process on a loopback port), on
SQLite and on PostgreSQL: 50 voters with 3 trustees (t = 2, one absent), both
re-vote policies, retried casts, and the single-ballot rule across two app
processes sharing one PostgreSQL database."""

from __future__ import annotations

import itertools
import random
import statistics
import threading
import time

import pytest

from crypto.encoding import canonical_json
from crypto.log import ConsistencyProof, SignedTreeHead, leaf_hash, root_from_leaves, verify_tree_head
from tests.http_support import board_entries, board_heads, changed_tables, start_pilot, two_question_manifest
from tests.support import ServerProcess, server_settings
from voting.client import ApiError, Client, prepare_ballot

#: Whole elections: test_smoke_service is the fast tier's short one.
pytestmark = pytest.mark.slow

VOTERS = 50


def counts_of(result: dict) -> dict[str, list[int]]:
    return {q["id"]: [o["count"] for o in q["options"]] for q in result["questions"]}


def random_choices(rng: random.Random) -> list[list[int]]:
    """A valid answer to two_question_manifest: one of four, then zero to two of four."""
    days = [0, 0, 0, 0]
    days[rng.randrange(4)] = 1
    tools = [0, 0, 0, 0]
    for i in rng.sample(range(4), rng.randint(0, 2)):
        tools[i] = 1
    return [days, tools]


def add_up(choices: list[list[list[int]]]) -> dict[str, list[int]]:
    return {
        "days": [sum(c[0][i] for c in choices) for i in range(4)],
        "tools": [sum(c[1][i] for c in choices) for i in range(4)],
    }


def test_fifty_voters_three_trustees_one_absent(pki, data_dir, database_url, backend):
    pilot = start_pilot(pki, data_dir, database_url)
    try:
        voter_ids = [f"E{i:04d}" for i in range(VOTERS)]
        credentials = {v: pki.enroll(v) for v in voter_ids}
        election_id = pilot.open_election(two_question_manifest("workstyle-2026", revote="single"), voter_ids)
        assert pilot.admin.status(election_id)["roll_size"] == VOTERS

        # Prepare every ballot first (log in, fetch the pseudonym, encrypt, sign),
        # so that the timed part below is the cast request alone.
        rng = random.Random(20261126)
        info = pilot.admin.election_info(election_id)
        prepared = []
        for employee_id in voter_ids:
            voter = pilot.login(credentials[employee_id])
            pseudonym = voter.ensure_registered(election_id).hex
            choices = random_choices(rng)
            prepared.append((voter, prepare_ballot(info, pseudonym, choices, credentials[employee_id]), choices))

        receipts, latencies = [], []
        for voter, ballot, _ in prepared:
            started = time.perf_counter()
            receipt = voter.cast(ballot)
            latencies.append(time.perf_counter() - started)
            assert receipt["tracking_code"] == ballot.tracking_code.hex()
            receipts.append((voter, receipt))
        latencies.sort()
        print(
            f"\n[{backend}] cast latency over {len(latencies)} casts: "
            f"median {statistics.median(latencies) * 1000:.1f} ms, "
            f"p95 {latencies[int(0.95 * (len(latencies) - 1))] * 1000:.1f} ms, "
            f"max {latencies[-1] * 1000:.1f} ms"
        )
        status = pilot.admin.status(election_id)
        assert (status["ballots_cast"], status["ballots_counted"]) == (VOTERS, VOTERS)

        # Close; T0002 stays away, T0001 and T0003 decrypt on their own machines.
        pilot.admin.close_election(election_id)
        assert pilot.admin.aggregate(election_id)["ballots_counted"] == VOTERS
        pilot.decrypt(election_id, ["T0001", "T0003"])
        result = pilot.admin.tally(election_id)
        assert result["ballots_counted"] == VOTERS
        assert result["trustees"] == [1, 3]
        assert counts_of(result) == add_up([c for _, _, c in prepared])
        published = pilot.admin.publish(election_id)
        assert published["status"] == "published"
        assert pilot.client().result(election_id) == result

        # Every receipt verifies against the newest head (signatures, inclusion,
        # consistency from the receipt's head to the newest).
        for voter, receipt in receipts:
            checked = voter.check_receipt(receipt)
            assert checked["leaf_index"] == receipt["leaf_index"]
            assert checked["newest_tree_size"] >= checked["receipt_tree_size"]

        # The board as a whole: its leaves give the signed root, every head is
        # signed, and each head is consistent with the next and with the last.
        public = pilot.client()
        server_key = bytes.fromhex(public.get("/api/server-key")["server_key"])
        entries = board_entries(public, election_id)
        heads = board_heads(public, election_id)
        assert [e["index"] for e in entries] == list(range(len(entries)))
        assert [h.head.size for h in heads] == list(range(1, len(entries) + 1))
        for head in heads:
            verify_tree_head(server_key, head)
        assert root_from_leaves([leaf_hash(canonical_json(e)) for e in entries]) == heads[-1].head.root
        kinds = [e["kind"] for e in entries]
        assert kinds.count("ballot") == VOTERS
        assert kinds.count("trustee-announcement") == 3 and kinds.count("partial-decryption") == 2
        assert kinds[-2:] == ["result", "election-published"]
        assert entries[-2]["body"] == result
        pairs = list(itertools.pairwise(heads)) + [(h, heads[-1]) for h in heads[:: max(1, len(heads) // 10)]]
        for old, new in pairs:
            reply = public.get(f"/api/elections/{election_id}/board/consistency", old=old.head.size, new=new.head.size)
            assert SignedTreeHead.from_json(reply["tree_head"]) == new
            ConsistencyProof.from_json(reply["proof"]).verify(
                old.head.root, new.head.root, old_size=old.head.size, new_size=new.head.size
            )
    finally:
        pilot.stop()


def test_single_ballot_policy(pki, data_dir, database_url):
    """'single': a second ballot is refused and the first still counts; a retried
    identical cast returns the identical receipt and adds nothing."""
    pilot = start_pilot(pki, data_dir, database_url)
    try:
        voter_ids = ["E0001", "E0002", "E0003"]
        credentials = {v: pki.enroll(v) for v in voter_ids}
        election_id = pilot.open_election(two_question_manifest("single-2026", revote="single", min_tally_ballots=3), voter_ids)
        voters = {v: pilot.login(credentials[v]) for v in voter_ids}

        first = voters["E0001"].prepare_ballot(election_id, {"days": ["d1"], "tools": ["s0"]})
        empty = pilot.snapshot()
        receipt = voters["E0001"].cast(first)
        # The snapshot sees a cast (so the "nothing changed" checks below mean something).
        assert {"ballots", "board_entries", "board_state", "tree_heads"} <= set(changed_tables(empty, pilot.snapshot()))
        second = voters["E0001"].prepare_ballot(election_id, {"days": ["d3"], "tools": []})
        pilot.refused(lambda: voters["E0001"].cast(second), 409, "already_voted")
        before = pilot.snapshot()
        assert voters["E0001"].cast(first) == receipt  # a retry: same receipt
        assert pilot.snapshot() == before  # ... and nothing added
        voters["E0002"].cast(voters["E0002"].prepare_ballot(election_id, {"days": ["d1"], "tools": ["s0", "s1"]}))
        voters["E0003"].cast(voters["E0003"].prepare_ballot(election_id, {"days": ["d2"], "tools": []}))

        mine = voters["E0001"].get(f"/api/elections/{election_id}/voter")["ballots"]
        assert mine == [{"tracking_code": receipt["tracking_code"], "superseded": False}]
        pilot.admin.close_election(election_id)
        pilot.decrypt(election_id, ["T0002", "T0003"])
        result = pilot.admin.tally(election_id)
        assert result["ballots_counted"] == 3
        assert counts_of(result) == {"days": [0, 2, 1, 0], "tools": [2, 1, 0, 0]}
    finally:
        pilot.stop()


def test_last_ballot_counts_policy(pki, data_dir, database_url):
    """'last': every ballot stays on the board, earlier ones marked superseded by a
    ballot-superseded entry, and only each voter's last ballot is counted."""
    pilot = start_pilot(pki, data_dir, database_url)
    try:
        voter_ids = ["E0001", "E0002", "E0003"]
        credentials = {v: pki.enroll(v) for v in voter_ids}
        election_id = pilot.open_election(two_question_manifest("last-2026", revote="last", min_tally_ballots=3), voter_ids)
        voters = {v: pilot.login(credentials[v]) for v in voter_ids}
        board = f"/api/elections/{election_id}/board"

        casts = [  # (voter, selection); the last per voter is what counts
            ("E0001", {"days": ["d0"], "tools": ["s0"]}),
            ("E0002", {"days": ["d1"], "tools": []}),
            ("E0001", {"days": ["d2"], "tools": ["s1", "s2"]}),
            ("E0003", {"days": ["d3"], "tools": ["s3"]}),
            ("E0001", {"days": ["d3"], "tools": ["s2"]}),
            ("E0002", {"days": ["d3"], "tools": ["s0", "s3"]}),
        ]
        receipts: dict[str, list[dict]] = {v: [] for v in voter_ids}
        prepared = {}
        for employee_id, selection in casts:
            ballot = voters[employee_id].prepare_ballot(election_id, selection)  # registers the credential first
            size_before = pilot.client().get(f"{board}/head")["size"]
            receipt = voters[employee_id].cast(ballot)
            prepared[receipt["tracking_code"]] = (employee_id, ballot)
            earlier = receipts[employee_id][-1] if receipts[employee_id] else None
            receipts[employee_id].append(receipt)
            new_entries = pilot.client().get(f"{board}/entries", start=size_before)["entries"]
            if earlier is None:
                assert [e["kind"] for e in new_entries] == ["ballot"]
                continue
            # The ballot, then the supersession of the voter's previous ballot.
            assert [e["kind"] for e in new_entries] == ["ballot", "ballot-superseded"]
            assert new_entries[1]["body"]["tracking_code"] == earlier["tracking_code"]
            assert new_entries[1]["body"]["superseded_by"] == receipt["tracking_code"]
            assert new_entries[1]["body"]["credential"] == new_entries[0]["body"]["credential"]
            looked_up = pilot.client().get(f"/api/elections/{election_id}/ballots/{earlier['tracking_code']}")
            assert looked_up == {"receipt": earlier, "superseded": True, "superseded_by": receipt["tracking_code"]}

        mine = voters["E0001"].get(f"/api/elections/{election_id}/voter")["ballots"]
        assert [b["superseded"] for b in mine] == [True, True, False]
        assert [b["tracking_code"] for b in mine] == [r["tracking_code"] for r in receipts["E0001"]]
        status = pilot.admin.status(election_id)
        assert (status["ballots_cast"], status["ballots_counted"]) == (6, 3)

        # Retries, of the counted ballot and of a superseded one: the identical
        # receipt, nothing added, nothing un-superseded.
        for receipt in (receipts["E0001"][-1], receipts["E0001"][0]):
            employee_id, ballot = prepared[receipt["tracking_code"]]
            before = pilot.snapshot()
            assert voters[employee_id].cast(ballot) == receipt
            assert pilot.snapshot() == before

        # Superseded ballots stay on the board: their receipts still verify.
        for employee_id, theirs in receipts.items():
            for receipt in theirs:
                voters[employee_id].check_receipt(receipt)

        pilot.admin.close_election(election_id)
        pilot.decrypt(election_id, ["T0001", "T0002"])
        result = pilot.admin.tally(election_id)
        assert result["ballots_counted"] == 3
        assert counts_of(result) == {"days": [0, 0, 0, 3], "tools": [1, 0, 1, 2]}
    finally:
        pilot.stop()


def test_single_ballot_holds_across_two_app_processes(pki, data_dir, database_url, backend):
    """Two app processes on one PostgreSQL database, each voter sending two
    different ballots at the same moment, one to each: exactly one is accepted."""
    if backend != "postgresql":
        pytest.skip("several app processes share a PostgreSQL database, not an embedded SQLite one")
    pilot = start_pilot(pki, data_dir, database_url)
    settings, env = server_settings(data_dir, database_url)
    second = ServerProcess(settings, env).start()
    try:
        voter_ids = [f"E{i:04d}" for i in range(20)]
        credentials = {v: pki.enroll(v) for v in voter_ids}
        election_id = pilot.open_election(two_question_manifest("race-2026", revote="single"), voter_ids)
        info = pilot.admin.election_info(election_id)
        outcomes = []
        for employee_id in voter_ids:
            here, there = pilot.login(credentials[employee_id]), Client(second.url)
            pilot.clients.append(there)
            there.login(credentials[employee_id])
            pseudonym = here.ensure_registered(election_id).hex
            ballots = [
                prepare_ballot(info, pseudonym, [[1, 0, 0, 0], [0, 0, 0, 0]], credentials[employee_id]),
                prepare_ballot(info, pseudonym, [[0, 1, 0, 0], [1, 0, 0, 0]], credentials[employee_id]),
            ]
            results: list[str] = []
            start = threading.Barrier(2)

            def cast(client: Client, ballot, results=results, start=start) -> None:
                start.wait()
                try:
                    client.cast(ballot)
                    results.append("accepted")
                except ApiError as exc:
                    results.append(exc.code)

            threads = [threading.Thread(target=cast, args=pair) for pair in zip((here, there), ballots)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            outcomes.append(sorted(results))
        assert outcomes == [["accepted", "already_voted"]] * len(voter_ids)
        status = pilot.admin.status(election_id)
        assert (status["ballots_cast"], status["ballots_counted"]) == (len(voter_ids), len(voter_ids))
    finally:
        second.stop()
        pilot.stop()
