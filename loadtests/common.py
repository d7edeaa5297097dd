"""What the preparation step, the Locust processes and the reconciliation share:
the files of a run directory, the environment that configures the Locust
processes, and the names under which Locust reports each request.

A run directory holds:

- ``election.json``: the election's id, fingerprint and the server's public key
  (every receipt is checked against this pinned key);
- ``voters.jsonl``: one prepared voter per line (key, certificate chain,
  the encrypted and signed ballot, and the choice it encrypts: the ground truth);
- ``acks-<worker>.jsonl``: one line per acknowledged cast, written by the Locust
  process that got the receipt (the receipt itself, the time, the latency);
- ``errors-<worker>.jsonl``: anything a simulated voter saw go wrong;
- ``shape.json``: when the load shape started, its ramp and plateau, when it ended.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ELECTION_FILE = "election.json"
VOTERS_FILE = "voters.jsonl"
SHAPE_FILE = "shape.json"
ACKS_GLOB = "acks-*.jsonl"
ERRORS_GLOB = "errors-*.jsonl"

# Environment of the Locust processes (set by loadtests.run; documented in docs/loadtest.md).
ENV_RUN_DIR = "LOADTEST_RUN_DIR"
ENV_WORKERS = "LOADTEST_WORKERS"  # Locust processes that simulate voters (1 without a master)
ENV_USERS = "LOADTEST_USERS"  # simulated voters at once on the plateau
ENV_RATE = "LOADTEST_RATE"  # offered ballots per second on the plateau
ENV_RAMP_S = "LOADTEST_RAMP_S"
ENV_PLATEAU_S = "LOADTEST_PLATEAU_S"
ENV_AUDITORS = "LOADTEST_AUDITORS"
ENV_CONSISTENCY_SAMPLE = "LOADTEST_CONSISTENCY_SAMPLE"  # share of voters that also check consistency

# Request names in Locust's statistics (ids are folded so each step is one row).
CHALLENGE = "POST /api/auth/challenge"
LOGIN = "POST /api/auth/login"
ELECTION = "GET /api/elections/[id]"
REGISTER = "POST /api/elections/[id]/credential (register)"
CAST = "POST /api/elections/[id]/ballots/ (cast)"
RECEIPT = "GET /api/elections/[id]/ballots/[tracking_code]"
HEAD = "GET /api/elections/[id]/board/head"
CONSISTENCY = "GET /api/elections/[id]/board/consistency"
ENTRIES = "GET /api/elections/[id]/board/entries"


@dataclass(frozen=True)
class RunFiles:
    root: Path

    @property
    def election(self) -> Path:
        return self.root / ELECTION_FILE

    @property
    def voters(self) -> Path:
        return self.root / VOTERS_FILE

    @property
    def shape(self) -> Path:
        return self.root / SHAPE_FILE

    def acks(self, worker: int) -> Path:
        return self.root / f"acks-{worker}.jsonl"

    def errors(self, worker: int) -> Path:
        return self.root / f"errors-{worker}.jsonl"

    def read_election(self) -> dict:
        return json.loads(self.election.read_text(encoding="utf-8"))

    def voter_share(self, worker: int, workers: int) -> Iterator[dict]:
        """This worker's disjoint share: every ``workers``-th voter from ``worker``."""
        with self.voters.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle):
                if number % workers == worker:
                    yield json.loads(line)

    def read_jsonl(self, pattern: str) -> list[dict]:
        rows: list[dict] = []
        for path in sorted(self.root.glob(pattern)):
            with path.open(encoding="utf-8") as handle:
                rows.extend(json.loads(line) for line in handle if line.strip())
        return rows


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))
