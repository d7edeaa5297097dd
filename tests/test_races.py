"""Races, over real HTTP: one voter's fifty casts at the same moment, round after
round, under both re-voting policies; and two app processes appending to one
PostgreSQL board at once. Figures are printed (pytest -s).
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter

import httpx
import pytest

from crypto.log import SignedTreeHead
from tests.audit_support import audit_board
from tests.http_support import Pilot, board_entries, start_pilot
from tests.support import ServerProcess, manifest, server_settings
from voting.client import Client, ElectionInfo, PreparedBallot, prepare_ballot

CONCURRENT = 50
#: The full run (marked slow): 100 rounds on SQLite, 50 on PostgreSQL (a round takes longer there).
ROUNDS = {"sqlite": 100, "postgresql": 50}
#: The fast tier's rounds: enough for every kind of outcome, not for a rare interleaving.
QUICK_ROUNDS = 8
LAST_ROUNDS = 5
SEED = 11


def fifty_ballots(info: ElectionInfo, pseudonym: str, credential, rng: random.Random) -> list[PreparedBallot]:
    """40 different ballots and 10 copies of two of them (a client retrying)."""
    distinct = [prepare_ballot(info, pseudonym, _choice(rng), credential) for _ in range(CONCURRENT - 10)]
    return distinct + [distinct[0]] * 5 + [distinct[1]] * 5


def _choice(rng: random.Random) -> list[list[int]]:
    row = [0, 0, 0]
    row[rng.randrange(3)] = 1
    return [row]


async def cast_all(url: str, token: str, election_id: str, ballots: list[PreparedBallot]) -> list[httpx.Response]:
    """Every ballot sent at once, each on its own connection."""
    limits = httpx.Limits(max_connections=len(ballots), max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as http:
        headers = {"Authorization": f"Bearer {token}"}
        path = f"/api/elections/{election_id}/ballots/"
        return await asyncio.gather(*(http.post(path, json=b.cast_body(), headers=headers) for b in ballots))


def voters_of(pilot: Pilot, election_id: str, employee_ids: list[str], credentials: dict) -> list[tuple[Client, str]]:
    result = []
    for employee_id in employee_ids:
        client = pilot.login(credentials[employee_id])
        result.append((client, client.ensure_registered(election_id).hex))
    return result


@pytest.mark.parametrize("full", [pytest.param(False, id="quick"), pytest.param(True, id="full", marks=pytest.mark.slow)])
@pytest.mark.slow
def test_fifty_concurrent_casts_by_one_voter(pki, data_dir, database_url, backend, full):
    rng = random.Random(SEED)
    rounds = ROUNDS[backend] if full else QUICK_ROUNDS
    pilot = start_pilot(pki, data_dir, database_url)
    try:
        employee_ids = [f"E{n:04d}" for n in range(rounds)]
        credentials = {e: pki.enroll(e) for e in employee_ids}
        started = time.monotonic()

        # One ballot per voter: exactly one of the fifty is counted, every other
        # different ballot gets 409 already_voted, a copy of the winner its receipt.
        single = pilot.open_election(manifest("race-single", options=3, revote="single"), employee_ids)
        info = pilot.admin.election_info(single)
        receipts, statuses = [], Counter()
        for client, pseudonym in voters_of(pilot, single, employee_ids, credentials):
            ballots = fifty_ballots(info, pseudonym, client.credential, rng)
            responses = asyncio.run(cast_all(pilot.url, client.session["session_token"], single, ballots))
            statuses.update(r.status_code for r in responses)
            accepted = [(b, r.json()) for b, r in zip(ballots, responses) if r.status_code == 201]
            refused = [r for r in responses if r.status_code != 201]
            assert {r.status_code for r in refused} <= {409}, [r.text for r in refused if r.status_code != 409]
            assert {r.json()["code"] for r in refused} <= {"already_voted"}
            winners = {b.tracking_code for b, _ in accepted}
            assert len(winners) == 1, "more than one ballot of one voter was counted"
            winner = accepted[0][1]
            assert all(receipt == winner for _, receipt in accepted), "a copy got another receipt"
            assert len(accepted) == sum(b.tracking_code in winners for b in ballots)
            receipts.append(winner)
        status = pilot.admin.status(single)
        assert (status["ballots_cast"], status["ballots_counted"]) == (rounds, rounds)
        heads = [SignedTreeHead.from_json(r["tree_head"]) for r in receipts]
        audit = audit_board(pilot.admin, single, receipts, heads)
        assert audit.ballots == rounds
        single_s = time.monotonic() - started

        # The last ballot counts: all fifty are recorded (the copies once), and
        # exactly one per voter, the latest on the board, is not superseded.
        last = pilot.open_election(manifest("race-last", options=3, revote="last"), employee_ids[:LAST_ROUNDS])
        info = pilot.admin.election_info(last)
        last_receipts = []
        for client, pseudonym in voters_of(pilot, last, employee_ids[:LAST_ROUNDS], credentials):
            ballots = fifty_ballots(info, pseudonym, client.credential, rng)
            responses = asyncio.run(cast_all(pilot.url, client.session["session_token"], last, ballots))
            assert {r.status_code for r in responses} == {201}, [r.text for r in responses if r.status_code != 201]
            by_code: dict[str, dict] = {}
            for _ballot, response in zip(ballots, responses):
                # A copy answered after a later ballot replaced it says so, outside the signed receipt.
                receipt = {k: v for k, v in response.json().items() if k != "superseded"}
                assert by_code.setdefault(receipt["tracking_code"], receipt) == receipt, "a copy got another receipt"
            assert len(by_code) == CONCURRENT - 10
            mine = client.get(f"/api/elections/{last}/voter")["ballots"]
            counted = [b["tracking_code"] for b in mine if not b["superseded"]]
            newest = max(by_code.values(), key=lambda r: r["leaf_index"])
            assert counted == [newest["tracking_code"]]
            last_receipts += by_code.values()
        status = pilot.admin.status(last)
        assert (status["ballots_cast"], status["ballots_counted"]) == (LAST_ROUNDS * (CONCURRENT - 10), LAST_ROUNDS)
        entries = board_entries(pilot.admin, last)
        assert sum(e["kind"] == "ballot-superseded" for e in entries) == LAST_ROUNDS * (CONCURRENT - 11)
        audit_board(pilot.admin, last, last_receipts, [SignedTreeHead.from_json(r["tree_head"]) for r in last_receipts])
        print(
            f"\nraces on {backend}: {rounds} rounds of {CONCURRENT} concurrent casts by one voter under 'single' "
            f"in {single_s:.0f} s (responses {dict(statuses)}: one counted per round); {LAST_ROUNDS} rounds under "
            f"'last': {LAST_ROUNDS * (CONCURRENT - 10)} ballots recorded, one counted per voter"
        )
    finally:
        pilot.stop()


def test_two_processes_append_to_one_board(pki, data_dir, database_url, backend):
    """Two app processes on one PostgreSQL database; voters cast through both at
    once. No leaf index is handed out twice or skipped, and every receipt is
    provably on the board."""
    if backend != "postgresql":
        pytest.skip("several app processes share a PostgreSQL database, not an embedded SQLite one")
    voters, casts_each = 12, 12
    pilot = start_pilot(pki, data_dir, database_url)
    settings, env = server_settings(data_dir, database_url)
    second = ServerProcess(settings, env).start()
    try:
        employee_ids = [f"E{n:04d}" for n in range(voters)]
        credentials = {e: pki.enroll(e) for e in employee_ids}
        election_id = pilot.open_election(manifest("race-two-processes", options=3, revote="last"), employee_ids)
        info = pilot.admin.election_info(election_id)
        rng = random.Random(SEED)
        plans = []
        for employee_id in employee_ids:
            clients = [pilot.login(credentials[employee_id]), Client(second.url)]
            pilot.clients.append(clients[1])
            clients[1].login(credentials[employee_id])
            pseudonym = clients[0].ensure_registered(election_id).hex
            ballots = [prepare_ballot(info, pseudonym, _choice(rng), credentials[employee_id]) for _ in range(casts_each)]
            plans.append((clients, ballots))
        receipts: list[dict] = []
        errors: list[BaseException] = []
        start = threading.Barrier(voters)

        def vote(clients: list[Client], ballots: list[PreparedBallot]) -> None:
            try:
                start.wait()
                for k, ballot in enumerate(ballots):
                    receipts.append(clients[k % 2].cast(ballot))  # alternately through each process
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=vote, args=plan) for plan in plans]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        elapsed = time.monotonic() - started
        assert not errors, errors
        assert len(receipts) == voters * casts_each
        heads = [SignedTreeHead.from_json(r["tree_head"]) for r in receipts]
        audit = audit_board(pilot.admin, election_id, receipts, heads)
        assert audit.ballots == voters * casts_each
        assert len({r["leaf_index"] for r in receipts}) == len(receipts)
        status = pilot.admin.status(election_id)
        assert (status["ballots_cast"], status["ballots_counted"]) == (voters * casts_each, voters)
        print(
            f"\ntwo app processes on {backend}: {len(receipts)} casts in {elapsed:.1f} s through both at once; "
            f"board {audit.size} entries, indices 0..{audit.size - 1} exactly, {audit.heads_seen} tree heads "
            f"from receipts all consistent"
        )
    finally:
        second.stop()
        pilot.stop()
