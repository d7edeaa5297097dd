"""Cast latency over real HTTP: median and p95 of N casts against a fresh server.

    .venv/bin/python scripts/cast_latency.py                 # 200 casts, SQLite
    .venv/bin/python scripts/cast_latency.py --casts 500
    VOTING_TEST_DATABASE_URL=postgresql://... .venv/bin/python scripts/cast_latency.py --backend postgresql

It starts the service (uvicorn on a loopback port) on an empty database in a
temporary directory, runs the key ceremony with three trustees, and gives every
voter a prepared ballot first (log in, encrypt, sign: the client's work). Then it
times each cast request alone, one after another, from sending the ballot to
holding the receipt (which the server returns only after the commit). The
figure is a measurement of this machine, not a pass/fail threshold.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.http_support import start_pilot, two_question_manifest
from tests.support import fresh_database_url, make_pki
from voting.client import prepare_ballot


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--casts", type=int, default=200, help="number of voters, each casting once (default 200)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite",
                        help="postgresql needs VOTING_TEST_DATABASE_URL (a new database is created under it)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        pki = make_pki(data_dir)
        pilot = start_pilot(pki, data_dir, fresh_database_url(args.backend, data_dir))
        try:
            voter_ids = [f"E{i:05d}" for i in range(args.casts)]
            credentials = {v: pki.enroll(v) for v in voter_ids}
            election_id = pilot.open_election(two_question_manifest("latency"), voter_ids)
            info = pilot.admin.election_info(election_id)
            prepared = []
            for i, employee_id in enumerate(voter_ids):
                voter = pilot.login(credentials[employee_id])
                pseudonym = voter.get(f"/api/elections/{election_id}/voter")["pseudonym"]
                choices = [[int(j == i % 4) for j in range(4)], [int(j == i % 3) for j in range(4)]]
                prepared.append((voter, prepare_ballot(info, pseudonym, choices, credentials[employee_id])))

            latencies = []
            started_all = time.perf_counter()
            for voter, ballot in prepared:
                started = time.perf_counter()
                voter.cast(ballot)
                latencies.append(time.perf_counter() - started)
            elapsed = time.perf_counter() - started_all
        finally:
            pilot.stop()

    latencies.sort()
    print(f"backend {args.backend}: {len(latencies)} casts, one at a time, over HTTP on 127.0.0.1")
    print(f"  median {statistics.median(latencies) * 1000:.1f} ms")
    print(f"  p95    {percentile(latencies, 0.95) * 1000:.1f} ms")
    print(f"  min    {latencies[0] * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms")
    print(f"  {len(latencies) / elapsed:.0f} casts/s sequentially")


if __name__ == "__main__":
    main()
