"""Locust users doing the real voting flow over HTTP (docs/loadtest.md).

A simulated employee takes the next prepared voter of this Locust process's
share, gets a challenge, logs in with a token signed by the employee's key
(made now: nonces are single-use), fetches the election, registers the voting
credential (its signature made beforehand; the request is part of every voter's
measured flow, as in the browser), casts the ballot prepared beforehand, checks the receipt (the server's signatures and the
inclusion proof, under the server key pinned in election.json), fetches the
stored receipt by tracking code, and on a sample checks consistency with the
newest tree head. Every acknowledged cast is written to acks-<worker>.jsonl for
the reconciliation. Auditors read the board: heads, consistency between the
heads they saw, and pages of entries.

Run by ``python -m loadtests.run`` (``voting loadtest``), which prepares the run
directory and sets the LOADTEST_* variables of loadtests/common.py.
"""

from __future__ import annotations

import base64
import json
import os
import random
import sys
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO, cast

if __package__ in (None, ""):  # Locust imports this file by path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from locust import FastHttpUser, LoadTestShape, between, constant_pacing, events, task
from locust.runners import MasterRunner, WorkerRunner

from crypto.credentials import PrivateKey, make_login_token
from crypto.log import ConsistencyProof, SignedTreeHead, verify_tree_head
from crypto.receipts import verify_receipt, verify_receipt_against
from loadtests.common import (
    CAST,
    CHALLENGE,
    CONSISTENCY,
    ELECTION,
    ENTRIES,
    ENV_AUDITORS,
    ENV_CONSISTENCY_SAMPLE,
    ENV_PLATEAU_S,
    ENV_RAMP_S,
    ENV_RATE,
    ENV_RUN_DIR,
    ENV_USERS,
    ENV_WORKERS,
    HEAD,
    LOGIN,
    RECEIPT,
    REGISTER,
    RunFiles,
    env_float,
    env_int,
)

USERS = env_int(ENV_USERS, 20)
RATE = env_float(ENV_RATE, 50.0)
RAMP_S = env_float(ENV_RAMP_S, 5.0)
PLATEAU_S = env_float(ENV_PLATEAU_S, 30.0)
AUDITORS = env_int(ENV_AUDITORS, 1)
CONSISTENCY_SAMPLE = env_float(ENV_CONSISTENCY_SAMPLE, 0.1)
SHARE_DONE = "loadtest_share_done"


@dataclass
class Voter:
    employee_id: str
    key: PrivateKey
    chain: tuple[x509.Certificate, ...]
    tracking_code: str
    body: bytes
    choice: int
    registration: bytes


class FlowError(Exception):
    """A step of the voter's flow failed; Locust has already counted the failure."""


class Share:
    """This Locust process's share of the prepared voters, and its output files."""

    def __init__(self) -> None:
        self.loaded = False
        self.voters: deque[Voter] = deque()
        self.in_flight = 0
        self.reported_done = False
        self.files: RunFiles | None = None
        self.election: dict = {}
        self.server_key = b""
        self.worker = 0
        self.acks: TextIO | None = None
        self.errors: TextIO | None = None

    def load(self, environment) -> None:  # noqa: ANN001 - Locust's Environment
        if self.loaded:
            return
        self.loaded = True
        self.files = RunFiles(Path(_required_env(ENV_RUN_DIR)))
        self.election = self.files.read_election()
        self.server_key = bytes.fromhex(self.election["server_key"])
        runner = environment.runner
        self.worker = runner.worker_index if isinstance(runner, WorkerRunner) else 0
        workers = env_int(ENV_WORKERS, 1)
        intermediates: dict[str, x509.Certificate] = {}
        for doc in self.files.voter_share(self.worker, workers):
            leaf, *rest = doc["chain"]
            chain = [x509.load_der_x509_certificate(base64.b64decode(leaf))]
            for item in rest:
                if item not in intermediates:
                    intermediates[item] = x509.load_der_x509_certificate(base64.b64decode(item))
                chain.append(intermediates[item])
            self.voters.append(
                Voter(
                    doc["employee_id"],
                    cast(PrivateKey, serialization.load_pem_private_key(doc["key"].encode(), password=None)),
                    tuple(chain),
                    doc["tracking_code"],
                    json.dumps(doc["body"], separators=(",", ":")).encode(),
                    doc["choice"],
                    json.dumps(doc["registration"], separators=(",", ":")).encode(),
                )
            )
        self.acks = self.files.acks(self.worker).open("a", encoding="utf-8")
        self.errors = self.files.errors(self.worker).open("a", encoding="utf-8")

    def next_voter(self) -> Voter | None:
        if self.voters:
            self.in_flight += 1
            return self.voters.popleft()
        return None

    def finished(self, environment) -> None:  # noqa: ANN001
        self.in_flight -= 1
        if not self.voters and self.in_flight == 0 and not self.reported_done:
            self.reported_done = True
            environment.runner.send_message(SHARE_DONE, {"worker": self.worker})

    def record(self, handle: TextIO | None, doc: dict) -> None:
        if handle is None:
            raise RuntimeError("the share is not loaded")
        handle.write(json.dumps(doc, separators=(",", ":")) + "\n")
        handle.flush()


SHARE = Share()


def _required_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise SystemExit(f"set {name} (see docs/loadtest.md)")
    return value


class VoterUser(FastHttpUser):
    """One employee after another from this process's share, each voting once."""

    wait_time = constant_pacing(USERS / RATE if RATE > 0 else 0)

    def on_start(self) -> None:
        SHARE.load(self.environment)
        self.election_id = SHARE.election["election_id"]
        self.base = f"/api/elections/{self.election_id}"

    @task
    def vote(self) -> None:
        voter = SHARE.next_voter()
        if voter is None:
            self.wait()  # the share is used up; the shape ends the run when every share is
            return
        try:
            self._vote(voter)
        except FlowError as exc:  # Locust has counted the failed request or check
            SHARE.record(SHARE.errors, {"employee_id": voter.employee_id, "error": str(exc), "time": time.time()})
        except Exception as exc:  # noqa: BLE001 - anything else is a failure too
            message = f"{type(exc).__name__}: {exc}"
            SHARE.record(SHARE.errors, {"employee_id": voter.employee_id, "error": message, "time": time.time()})
            self._fail("voter flow", message, raise_=False)
        finally:
            SHARE.finished(self.environment)

    def _vote(self, voter: Voter) -> None:
        challenge = self._json("POST", "/api/auth/challenge", CHALLENGE)
        token = make_login_token(
            voter.key, voter.chain, nonce=challenge["nonce"], audience=challenge["audience"], now=datetime.now(UTC)
        )
        session = self._json("POST", "/api/auth/login", LOGIN, json={"token": token})
        headers = {"Authorization": f"Bearer {session['session_token']}"}

        election = self._json("GET", self.base, ELECTION)
        if election["status"] != "open" or election["fingerprint"] != SHARE.election["fingerprint"]:
            raise FlowError(f"the election is {election['status']} with fingerprint {election['fingerprint']}")

        with self.client.post(
            self.base + "/credential",
            data=voter.registration,  # type: ignore[arg-type]  # bytes are sent as they are
            headers={**headers, "Content-Type": "application/json"},
            name=REGISTER,
            catch_response=True,
        ) as response:
            problem = _problem(response, 200)
            if problem:
                response.failure(problem)
            else:
                response.success()
        if problem:
            raise FlowError(f"register: {problem}")

        started = time.perf_counter()
        with self.client.post(
            self.base + "/ballots/",
            data=voter.body,  # type: ignore[arg-type]  # bytes are sent as they are
            headers={**headers, "Content-Type": "application/json"},
            name=CAST,
            catch_response=True,
        ) as response:
            latency_ms = (time.perf_counter() - started) * 1000
            acked_at = time.time()
            problem = _problem(response, 201)
            receipt: Any = None
            if problem is None:
                receipt = response.json()
                try:
                    sth = verify_receipt(receipt, server_key=SHARE.server_key)
                    if receipt["tracking_code"] != voter.tracking_code:
                        raise ValueError("the receipt is for another tracking code")
                except Exception as exc:  # noqa: BLE001 - any way a receipt can be wrong
                    problem = f"receipt does not verify: {exc}"
            if problem:
                response.failure(problem)
            else:
                response.success()
        if problem:
            raise FlowError(f"cast: {problem}")
        # The server acknowledged and the receipt checks out: this ballot must be counted.
        SHARE.record(
            SHARE.acks,
            {
                "employee_id": voter.employee_id,
                "tracking_code": voter.tracking_code,
                "choice": voter.choice,
                "leaf_index": receipt["leaf_index"],
                "acked_at": acked_at,
                "latency_ms": round(latency_ms, 3),
                "receipt": receipt,
            },
        )

        stored = self._json("GET", f"{self.base}/ballots/{voter.tracking_code}", RECEIPT)
        if stored.get("receipt") != receipt or stored.get("superseded"):
            raise FlowError("the stored receipt differs from the one the cast returned")

        if random.random() < CONSISTENCY_SAMPLE:
            newest = _head(self._json("GET", self.base + "/board/head", HEAD))
            reply = self._json(
                "GET",
                f"{self.base}/board/consistency?old={sth.head.size}&new={newest.head.size}",
                CONSISTENCY,
            )
            try:
                verify_receipt_against(
                    receipt, newest, ConsistencyProof.from_json(reply["proof"]), server_key=SHARE.server_key
                )
            except Exception as exc:  # noqa: BLE001
                self._fail(CONSISTENCY, f"the receipt is not consistent with the newest head: {exc}")

    def _json(self, method: str, path: str, name: str, **kwargs: Any) -> Any:
        with self.client.request(method, path, name=name, catch_response=True, **kwargs) as response:
            problem = _problem(response, 200)
            doc = None
            if problem is None:
                try:
                    doc = response.json()
                except ValueError:
                    problem = "the response is not JSON"
            if problem:
                response.failure(problem)
            else:
                response.success()
        if problem:
            raise FlowError(f"{name}: {problem}")
        return doc

    def _fail(self, name: str, message: str, *, raise_: bool = True) -> None:
        """A failed check after a response (the request itself succeeded)."""
        self.environment.events.request.fire(
            request_type="CHECK", name=name, response_time=0, response_length=0, exception=AssertionError(message)
        )
        if raise_:
            raise FlowError(message)


class AuditorUser(FastHttpUser):
    """Reads the public board while employees vote: the newest head (signature
    under the pinned key), consistency with the head seen before, and a page of
    entries."""

    fixed_count = AUDITORS
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        SHARE.load(self.environment)
        self.base = f"/api/elections/{SHARE.election['election_id']}/board"
        self.seen: SignedTreeHead | None = None

    @task
    def read_board(self) -> None:
        with self.client.get(self.base + "/head", name=HEAD, catch_response=True) as response:
            problem = _problem(response, 200)
            head = None
            if problem is None:
                try:
                    head = _head(response.json())
                    verify_tree_head(SHARE.server_key, head)
                except Exception as exc:  # noqa: BLE001
                    problem = f"the tree head does not verify: {exc}"
            if problem:
                response.failure(problem)
                return
            response.success()
        assert head is not None  # read and verified above
        if self.seen is not None and head.head.size >= self.seen.head.size:
            with self.client.get(
                f"{self.base}/consistency?old={self.seen.head.size}&new={head.head.size}",
                name=CONSISTENCY,
                catch_response=True,
            ) as response:
                problem = _problem(response, 200)
                if problem is None:
                    try:
                        ConsistencyProof.from_json(response.json()["proof"]).verify(
                            self.seen.head.root, head.head.root, old_size=self.seen.head.size, new_size=head.head.size
                        )
                    except Exception as exc:  # noqa: BLE001
                        problem = f"the board is not consistent with the head seen before: {exc}"
                if problem:
                    response.failure(problem)
                    return
                response.success()
        self.seen = head
        start = random.randrange(max(1, head.head.size - 50))
        with self.client.get(f"{self.base}/entries?start={start}&limit=50", name=ENTRIES, catch_response=True) as response:
            problem = _problem(response, 200)
            if problem is None:
                entries = response.json()["entries"]
                if [e["index"] for e in entries] != list(range(start, start + len(entries))):
                    problem = "the page of entries is not contiguous"
            if problem:
                response.failure(problem)
            else:
                response.success()


def _problem(response, expected: int) -> str | None:  # noqa: ANN001 - Locust's response
    if response.status_code == expected:
        return None
    if response.status_code == 0 or response.status_code is None:
        return f"no response: {response.error}"
    try:
        body = response.json()
        return f"{response.status_code} {body.get('code')}: {body.get('detail')}"
    except Exception:  # noqa: BLE001
        return f"{response.status_code}: {(response.text or '')[:200]}"


def _head(doc: dict) -> SignedTreeHead:
    return SignedTreeHead.from_json({k: v for k, v in doc.items() if k != "server_key"})


# --- the shape: ramp up, hold a plateau, end when every share is used up ---------------------


class RampPlateau(LoadTestShape):
    """Ramp to USERS simulated voters over RAMP_S seconds (each paced to
    USERS/RATE seconds per vote, so the offered load rises to RATE ballots/s),
    hold for PLATEAU_S, and stop early once every Locust process has used up
    its share of voters. Writes shape.json for the summary."""

    done_workers: set[int] = set()
    record: dict = {}

    def tick(self) -> tuple[int, float] | None:
        run_time = self.get_run_time()
        if not self.record:
            self.record = {"started_at": time.time(), "ramp_s": RAMP_S, "plateau_s": PLATEAU_S}
            self._write()
        expected = env_int(ENV_WORKERS, 1)
        if len(self.done_workers) >= expected or run_time > RAMP_S + PLATEAU_S:
            if "ended_at" not in self.record:
                self.record["ended_at"] = time.time()
                self.record["shares_used_up"] = len(self.done_workers) >= expected
                self._write()
            return None
        return USERS + AUDITORS, max(1.0, USERS / RAMP_S if RAMP_S > 0 else USERS)

    def _write(self) -> None:
        RunFiles(Path(_required_env(ENV_RUN_DIR))).shape.write_text(json.dumps(self.record), encoding="utf-8")


@events.init.add_listener
def _on_init(environment, **_: object) -> None:  # noqa: ANN001
    runner = environment.runner
    if runner is None or isinstance(runner, WorkerRunner):
        return

    def share_done(environment, msg, **_: object) -> None:  # noqa: ANN001
        RampPlateau.done_workers.add(msg.data["worker"])

    runner.register_message(SHARE_DONE, share_done)


@events.test_start.add_listener
def _on_test_start(environment, **_: object) -> None:  # noqa: ANN001
    if not isinstance(environment.runner, MasterRunner):
        SHARE.load(environment)
