"""Crash safety, on SQLite and PostgreSQL: the server process is killed with
SIGKILL at random moments while voters cast, and restarted; every receipt any
voter received stays on the board, provably (tests/audit_support.py). The
durable settings hold on every database connection. A tally or a trustee step
interrupted midway (the server killed, or the trustee's own program dying
before or after a request) resumes to the identical result.

Figures are printed (pytest -s): kills survived, casts acknowledged, retries.
"""

from __future__ import annotations

import asyncio
import functools
import json
import operator
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from crypto.group import Scalar, g_mul
from crypto.log import SignedTreeHead
from tests.audit_support import audit_board
from tests.http_support import Pilot, board_entries, start_pilot
from tests.support import manifest
from voting.client import ApiError, Client, ElectionInfo, prepare_ballot, trustee_ceremony_step, trustee_decrypt
from voting.db.engine import make_engine
from voting.settings import Settings

KILLS = 10
VOTERS = 4
SEED = 7


# --- voters that keep casting while the server dies under them -----------------------------


@dataclass
class Voter:
    """One voter's program: prepares a ballot, casts it until it is acknowledged
    (the same ballot again after a failure: a retry must get the same receipt),
    keeps every receipt and every tree head it was shown."""

    client: Client
    info: ElectionInfo
    pseudonym: str
    rng: random.Random
    receipts: list[dict] = field(default_factory=list)
    heads: list[SignedTreeHead] = field(default_factory=list)
    retries: int = 0
    acknowledged_after_retry: int = 0

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            choice = self.rng.randrange(2)
            prepared = prepare_ballot(self.info, self.pseudonym, [[1 - choice, choice]], self.client.credential)
            tries = 0
            while True:
                try:
                    receipt = self.client.cast(prepared)
                    break
                except (httpx.TransportError, ApiError) as exc:
                    if isinstance(exc, ApiError) and exc.status < 500:
                        raise
                    tries += 1
                    time.sleep(0.05)
            assert receipt["tracking_code"] == prepared.tracking_code.hex()
            # Cast one after the other, each ballot lands after the ones acknowledged before it.
            assert receipt["leaf_index"] > max((r["leaf_index"] for r in self.receipts), default=-1)
            self.retries += tries
            self.acknowledged_after_retry += bool(tries)
            self.receipts.append(receipt)
            self.heads.append(SignedTreeHead.from_json(receipt["tree_head"]))


@pytest.mark.slow
def test_receipts_survive_server_kills(pki, data_dir, database_url, backend):
    rng = random.Random(SEED)
    pilot = start_pilot(pki, data_dir, database_url)
    stop = threading.Event()
    threads: list[threading.Thread] = []
    try:
        voter_ids = [f"E{n:04d}" for n in range(1, VOTERS + 1)]
        credentials = {v: pki.enroll(v) for v in voter_ids}
        election_id = pilot.open_election(manifest("crash-2026", options=2, revote="last"), voter_ids)
        info = pilot.admin.election_info(election_id)
        voters = []
        for n, v in enumerate(voter_ids):
            client = pilot.login(credentials[v])
            pseudonym = client.ensure_registered(election_id).hex
            voters.append(Voter(client, info, pseudonym, random.Random(SEED + n)))
        errors: list[BaseException] = []

        def run(voter: Voter) -> None:
            try:
                voter.run(stop)
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(v,), daemon=True) for v in voters]
        for thread in threads:
            thread.start()
        started = time.monotonic()
        acknowledged_at_kill = []
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.1, 0.6))
            pilot.server.kill()  # SIGKILL: no shutdown hook, no flush, mid-transaction
            acknowledged_at_kill.append(sum(len(v.receipts) for v in voters))
            pilot.server.start()
            assert not errors, errors
        time.sleep(0.5)
        stop.set()
        for thread in threads:
            thread.join(60)
        assert not errors, errors
        elapsed = time.monotonic() - started

        receipts = [r for v in voters for r in v.receipts]
        heads = [h for v in voters for h in v.heads]
        newest = pilot.admin.get(f"/api/elections/{election_id}/board/head")
        heads.append(SignedTreeHead.from_json({k: v for k, v in newest.items() if k != "server_key"}))
        audit = audit_board(pilot.admin, election_id, receipts, heads)
        assert audit.receipts == len({r["tracking_code"] for r in receipts}), "two receipts for one ballot"
        # Nothing lost, nothing twice: the voters retried each ballot until it was
        # acknowledged, so the board's ballots are exactly the ones they hold receipts for
        # (one committed just before a kill came back with its receipt on the retry).
        ballots = [e["body"]["tracking_code"] for e in board_entries(pilot.admin, election_id) if e["kind"] == "ballot"]
        assert sorted(ballots) == sorted(r["tracking_code"] for r in receipts)
        # Under "last ballot counts", each voter's newest acknowledged ballot is the one counted.
        status = pilot.admin.status(election_id)
        assert status["ballots_counted"] == VOTERS
        for voter in voters:
            mine = voter.client.get(f"/api/elections/{election_id}/voter")["ballots"]
            assert [b["tracking_code"] for b in mine if not b["superseded"]] == [voter.receipts[-1]["tracking_code"]]
        assert pilot.server.process.poll() is None
        print(
            f"\ncrash safety on {backend}: {KILLS} SIGKILLs survived in {elapsed:.0f} s; "
            f"{len(receipts)} casts acknowledged (at the kills: {acknowledged_at_kill}), "
            f"{sum(v.retries for v in voters)} failed attempts retried, "
            f"{sum(v.acknowledged_after_retry for v in voters)} casts acknowledged after a retry; "
            f"board {audit.size} entries, {audit.ballots} ballots, each with its receipt in a voter's hands; "
            f"{audit.heads_seen} tree heads seen by clients, "
            f"{audit.consistency_proofs} consistency proofs checked"
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
        pilot.stop()


# --- durable settings ------------------------------------------------------------------


def test_durable_settings_on_every_connection(data_dir, database_url, backend):
    """Every connection the service's engine opens: SQLite in WAL mode with
    synchronous=FULL and foreign keys on; PostgreSQL with fsync and synchronous
    commit on (a receipt is only issued after a durable commit)."""
    engine = make_engine(Settings(data_dir=data_dir, database_url=database_url).db_url)

    async def settings_of_connections(count: int) -> list[tuple]:
        async def one() -> tuple:
            async with engine.connect() as conn:
                await asyncio.sleep(0.05)  # hold it, so the others open their own
                if backend == "sqlite":
                    return (
                        (await conn.execute(text("PRAGMA journal_mode"))).scalar(),
                        (await conn.execute(text("PRAGMA synchronous"))).scalar(),
                        (await conn.execute(text("PRAGMA foreign_keys"))).scalar(),
                    )
                return (
                    (await conn.execute(text("SHOW fsync"))).scalar(),
                    (await conn.execute(text("SHOW synchronous_commit"))).scalar(),
                    (await conn.execute(text("SHOW full_page_writes"))).scalar(),
                )

        try:
            return await asyncio.gather(*(one() for _ in range(count)))
        finally:
            await engine.dispose()

    found = asyncio.run(settings_of_connections(8))
    expected = ("wal", 2, 1) if backend == "sqlite" else ("on", "on", "on")
    assert found == [expected] * 8


# --- tally and trustee steps, interrupted ------------------------------------------------------


class ClientCrash(Exception):
    """The trustee's program dies: before its request leaves, or after the server
    answered but before the answer was read."""


class CrashingTransport(httpx.HTTPTransport):
    """Dies once, at the ``at``-th POST, ``when`` "before" or "after" sending it."""

    def __init__(self, at: int, when: str) -> None:
        super().__init__()
        self.at, self.when, self.posts = at, when, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and "/api/auth/" not in request.url.path:
            self.posts += 1
            if self.posts == self.at and self.when == "before":
                raise ClientCrash(f"before POST {self.at}")
            if self.posts == self.at and self.when == "after":
                super().handle_request(request).close()
                raise ClientCrash(f"after POST {self.at}")
        return super().handle_request(request)


def trustee_program(pilot: Pilot, name: str, crash: tuple[int, str] | None) -> Client:
    """A trustee's program, logged in; with ``crash`` its transport dies once."""
    client = Client(pilot.url, transport=CrashingTransport(*crash) if crash else None)
    pilot.clients.append(client)
    client.login(pilot.trustee_credentials[name])
    return client


def run_until_done(step, pilot: Pilot, name: str, crash: tuple[int, str]) -> Counter:
    """Run ``step(client)`` with a program that crashes once, then with fresh
    programs (a restart: only the trustee's file survives) until it returns."""
    seen: Counter = Counter()
    client = trustee_program(pilot, name, crash)
    for _ in range(10):
        try:
            result = step(client)
        except ClientCrash:
            seen["crashes"] += 1
            client = trustee_program(pilot, name, None)
            continue
        seen[str(result)] += 1
        if result in ("confirmed", "decrypted"):
            return seen
    raise AssertionError(f"{name} never finished: {seen}")


@pytest.mark.slow
def test_trustee_steps_resume_after_client_crashes(pki, data_dir, database_url):
    """For each POST of the ceremony (announcement, shares, confirmation) and of
    the decryption: the trustee's program dies before it, or after it without
    reading the answer; run again from its file, it finishes, the joint key is
    the one the first saved secrets determine, and the result is the true count."""
    pilot = start_pilot(pki, data_dir, database_url)
    figures: Counter = Counter()
    try:
        voter_ids = ["E0001", "E0002", "E0003"]
        credentials = {v: pki.enroll(v) for v in voter_ids}
        voters = {v: pilot.login(credentials[v]) for v in voter_ids}
        for step in (1, 2, 3):
            election_id = f"resume-{step}"
            pilot.create(manifest(election_id, options=3, revote="single", min_tally_ballots=3), voter_ids, threshold=2)
            pilot.admin.start_ceremony(election_id)
            crashes = {"T0001": (step, "before"), "T0002": (step, "after"), "T0003": (step, "after")}
            first_secrets: dict[str, list[str]] = {}
            pending = set(pilot.trustee_credentials)
            clients = {name: trustee_program(pilot, name, crashes[name]) for name in pending}
            for _ in range(20):  # rounds: every trustee steps once per round
                for name in sorted(pending):
                    path = pilot.trustee_file(name, election_id)
                    try:
                        result = trustee_ceremony_step(clients[name], election_id, path)
                    except ClientCrash:
                        figures["ceremony crashes"] += 1
                        clients[name] = trustee_program(pilot, name, None)
                        result = None
                    state = json.loads(path.read_text()) if path.exists() else {}
                    if "secrets" in state and name not in first_secrets:
                        first_secrets[name] = state["secrets"]["coefficients"]
                    if result == "confirmed":
                        pending.discard(name)
                if not pending:
                    break
            assert not pending, f"trustees {pending} never finished"
            constants = [g_mul(Scalar.from_hex(coefficients[0])) for coefficients in first_secrets.values()]
            expected_key = functools.reduce(operator.add, constants)
            status = pilot.admin.status(election_id)
            assert status["joint_key"] == expected_key.hex()
            for name in pilot.trustee_credentials:
                key = json.loads(pilot.trustee_file(name, election_id).read_text())["key"]
                assert key["joint_public_key"] == status["joint_key"]
            kinds = Counter(e["kind"] for e in board_entries(pilot.admin, election_id))
            assert (kinds["trustee-announcement"], kinds["joint-key"]) == (3, 1)

            pilot.admin.open(election_id)
            choices = {"E0001": "o0", "E0002": "o2", "E0003": "o2"}
            for v, option in choices.items():
                voters[v].cast(voters[v].prepare_ballot(election_id, {"q1": [option]}))
            pilot.admin.close_election(election_id)

            # Decryption: T0001 dies before its POST, T0002 after it (answer lost).
            for name, crash in (("T0001", (1, "before")), ("T0002", (1, "after"))):
                path = pilot.trustee_file(name, election_id)

                def decrypt(client: Client, path: Path = path, election_id: str = election_id) -> str:
                    trustee_decrypt(client, election_id, path)
                    return "decrypted"

                figures["decryption crashes"] += run_until_done(decrypt, pilot, name, crash)["crashes"]
            result = pilot.admin.tally(election_id)
            assert [o["count"] for o in result["questions"][0]["options"]] == [1, 0, 2]
            assert sorted(result["trustees"]) == [1, 2]
            kinds = Counter(e["kind"] for e in board_entries(pilot.admin, election_id))
            assert (kinds["partial-decryption"], kinds["result"]) == (2, 1)
        print(f"\ntrustee programs crashed and resumed: {dict(figures)}; 3 ceremonies, 3 tallies identical to the count")
    finally:
        pilot.stop()


@pytest.mark.slow
def test_tally_resumes_after_server_kills(pki, data_dir, database_url, backend):
    """The server is killed after one partial decryption was accepted, then while
    the tally runs; after each restart the trustees and the administrator carry
    on, and the result is the true count, published once."""
    rng = random.Random(SEED)
    pilot = start_pilot(pki, data_dir, database_url)
    try:
        voter_ids = ["E0001", "E0002", "E0003", "E0004"]
        credentials = {v: pki.enroll(v) for v in voter_ids}
        election_id = pilot.open_election(manifest("tally-crash-2026", options=3, revote="single", min_tally_ballots=4), voter_ids)
        for v, option in zip(voter_ids, ["o1", "o1", "o0", "o2"]):
            voter = pilot.login(credentials[v])
            voter.cast(voter.prepare_ballot(election_id, {"q1": [option]}))
        pilot.admin.close_election(election_id)

        pilot.decrypt(election_id, ["T0001"])
        pilot.server.kill()
        pilot.server.start()
        pilot.decrypt(election_id, ["T0001", "T0002"])  # T0001 again: a re-run is harmless

        outcome: dict = {}

        def tally() -> None:
            try:
                outcome["result"] = pilot.admin.tally(election_id)
            except (httpx.TransportError, ApiError) as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=tally)
        thread.start()
        time.sleep(rng.uniform(0.0, 0.02))
        pilot.server.kill()
        thread.join(30)
        pilot.server.start()
        status = pilot.admin.status(election_id)
        if status["status"] == "closed":  # the kill came first: tally again
            result = pilot.admin.tally(election_id)
        else:
            assert status["status"] == "tallied"
            result = pilot.admin.result(election_id)
        assert [o["count"] for o in result["questions"][0]["options"]] == [1, 2, 1]
        assert result == pilot.admin.result(election_id)
        pilot.admin.publish(election_id)
        kinds = Counter(e["kind"] for e in board_entries(pilot.admin, election_id))
        assert (kinds["partial-decryption"], kinds["result"], kinds["election-published"]) == (2, 1, 1)
        print(
            f"\ntally on {backend}: killed after 1 of 2 partial decryptions and during the tally "
            f"({'before' if 'error' in outcome else 'after'} it answered); result identical after restart"
        )
    finally:
        pilot.stop()
