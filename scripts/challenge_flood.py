"""Cast latency while an anonymous client floods the login challenge endpoint,
with the challenge limits off and on: median cast time, and how many
challenge rows the flood left in the database (none since challenges are
stored only when spent).

    .venv/bin/python scripts/challenge_flood.py
    .venv/bin/python scripts/challenge_flood.py --casts 200 --flood-threads 4

For each setting (VOTING_LOGIN_RATE_PER_MINUTE=0, the limits off, as before
they existed; then the default 30) it starts the service on a fresh SQLite
database, opens an election, prepares every ballot, and casts them one at a
time, in alternating blocks: with no flood, and while other threads post
``/api/auth/challenge`` as fast as they can from one address. The figures are
measurements of this machine, not pass/fail thresholds.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.http_support import start_pilot, two_question_manifest
from tests.support import fresh_database_url, make_pki
from voting.client import Client

#: Casts per quiet or flooded block.
BLOCK = 10


def run(rate: str, casts: int, flood_threads: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        pki = make_pki(data_dir)
        pilot = start_pilot(pki, data_dir, fresh_database_url("sqlite", data_dir), login_rate_per_minute=rate)
        try:
            voter_ids = [f"E{i:05d}" for i in range(casts)]
            election_id = pilot.open_election(two_question_manifest("flood"), voter_ids)
            prepared = []
            for i, employee_id in enumerate(voter_ids):
                # Each voter from an address of its own, as in an office: the limits are per address.
                voter = Client(pilot.url, transport=httpx.HTTPTransport(local_address=f"127.0.1.{1 + i % 250}"))
                pilot.clients.append(voter)
                voter.login(pki.enroll(employee_id))
                voter.ensure_registered(election_id)
                choices = [[int(j == i % 4) for j in range(4)], [int(j == i % 3) for j in range(4)]]
                prepared.append((voter, voter.prepare_ballot(election_id, choices)))

            def cast_all(batch: list) -> list[float]:
                times = []
                for voter, ballot in batch:
                    started = time.perf_counter()
                    voter.cast(ballot)
                    times.append(time.perf_counter() - started)
                return times

            database = data_dir / "voting.sqlite3"
            with sqlite3.connect(database) as db:
                rows_before = db.execute("SELECT count(*) FROM login_nonces").fetchone()[0]
            stop, flooding = threading.Event(), threading.Event()
            answers: dict[int, int] = {}
            lock = threading.Lock()

            def flood() -> None:
                # From an address of its own, apart from the voters'.
                with httpx.Client(base_url=pilot.url, transport=httpx.HTTPTransport(local_address="127.0.0.9")) as http:
                    while not stop.is_set():
                        if not flooding.wait(0.05):
                            continue
                        status = http.post("/api/auth/challenge").status_code
                        with lock:
                            answers[status] = answers.get(status, 0) + 1

            threads = [threading.Thread(target=flood, daemon=True) for _ in range(flood_threads)]
            for thread in threads:
                thread.start()
            # Quiet and flooded blocks alternate, so that a change in the machine's
            # load meanwhile weighs on both alike.
            quiet, flooded, seconds = [], [], 0.0
            for start in range(0, len(prepared), 2 * BLOCK):
                quiet += cast_all(prepared[start : start + BLOCK])
                flooding.set()
                time.sleep(0.2)
                began = time.perf_counter()
                flooded += cast_all(prepared[start + BLOCK : start + 2 * BLOCK])
                flooding.clear()
                seconds += time.perf_counter() - began + 0.2
            stop.set()
            for thread in threads:
                thread.join()
            with sqlite3.connect(database) as db:
                rows_after = db.execute("SELECT count(*) FROM login_nonces").fetchone()[0]
        finally:
            pilot.stop()
    return {
        "quiet": statistics.median(quiet),
        "flooded": statistics.median(flooded),
        "rows": rows_after - rows_before,
        "seconds": seconds,
        "answers": answers,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--casts", type=int, default=200, help="voters, each casting once (alternately quiet and flooded)")
    parser.add_argument("--flood-threads", type=int, default=4)
    args = parser.parse_args()
    for label, rate in (("limits off (VOTING_LOGIN_RATE_PER_MINUTE=0)", "0"), ("limits on (the default, 30)", "30")):
        r = run(rate, args.casts, args.flood_threads)
        print(
            f"{label}: median cast {r['quiet'] * 1000:.1f} ms quiet, {r['flooded'] * 1000:.1f} ms under the flood "
            f"({r['flooded'] / r['quiet']:.1f}x); the flood added {r['rows']} challenge rows in {r['seconds']:.0f} s; "
            f"answers {dict(sorted(r['answers'].items()))}",
            flush=True,
        )


if __name__ == "__main__":
    main()
