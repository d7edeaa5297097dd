"""SQLite backups while ballots are being cast over real HTTP: how long each way
of copying the database takes, and the cast rate meanwhile.

    .venv/bin/python scripts/backup_under_load.py                 # 50 MB of padding
    .venv/bin/python scripts/backup_under_load.py --padding-mb 0 --voters 100

It starts the service on a fresh SQLite database in a temporary directory, pads
the database (a table of random bytes, so the copy has a realistic size), opens
an election and prepares ballots (re-votes count: the last one), then casts
them from several threads while it takes backups three ways, each a few times:

- ``VACUUM INTO``, what ``voting db backup`` does (one read transaction);
- the online backup API in one step (``Connection.backup(pages=-1)``);
- the online backup API in steps of 100 pages, as the ``sqlite3`` shell's
  ``.backup`` does: a cast committed between two steps restarts it.

The figures are measurements of this machine, not pass/fail thresholds.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.http_support import start_pilot, two_question_manifest
from tests.support import fresh_database_url, make_pki
from voting import maintenance
from voting.client import prepare_ballot
from voting.settings import Settings

STEP_GIVE_UP_S = 60.0


def vacuum_into(source: Path, target: Path) -> dict:
    maintenance.backup(Settings(database_url=f"sqlite:///{source}"), target)
    return {}


def one_step(source: Path, target: Path) -> dict:
    with sqlite3.connect(source, timeout=30) as src, sqlite3.connect(target) as dst:
        src.backup(dst, pages=-1)
    return {}


def stepwise(source: Path, target: Path) -> dict:
    """The shell's .backup: 100 pages a step; a write by another connection
    between two steps makes the next step start over (counted)."""
    restarts = 0
    started = time.perf_counter()
    with sqlite3.connect(source, timeout=30) as src, sqlite3.connect(target) as dst:
        last: list[int | None] = [None]

        def progress(status: int, remaining: int, total: int) -> None:
            nonlocal restarts
            if last[0] is not None and remaining > last[0]:
                restarts += 1
            last[0] = remaining
            if time.perf_counter() - started > STEP_GIVE_UP_S:
                raise TimeoutError

        try:
            src.backup(dst, pages=100, progress=progress)
            finished = True
        except TimeoutError:
            finished = False
    return {"restarts": restarts, "finished": finished}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--voters", type=int, default=150)
    parser.add_argument("--ballots-each", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--padding-mb", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        pki = make_pki(data_dir)
        pilot = start_pilot(pki, data_dir, fresh_database_url("sqlite", data_dir))
        database = data_dir / "voting.sqlite3"
        try:
            if args.padding_mb:
                with sqlite3.connect(database, timeout=30) as pad:
                    pad.execute("CREATE TABLE padding (data BLOB)")
                    pad.executemany("INSERT INTO padding VALUES (?)", ((os.urandom(64 * 1024),) for _ in range(args.padding_mb * 16)))
            voter_ids = [f"E{i:05d}" for i in range(args.voters)]
            credentials = {v: pki.enroll(v) for v in voter_ids}
            election_id = pilot.open_election(two_question_manifest("backup-load", revote="last"), voter_ids)
            info = pilot.admin.election_info(election_id)
            queue = []
            for i, employee_id in enumerate(voter_ids):
                voter = pilot.login(credentials[employee_id])
                pseudonym = voter.ensure_registered(election_id).hex
                for k in range(args.ballots_each):
                    choices = [[int(j == (i + k) % 4) for j in range(4)], [int(j == (i + k) % 3) for j in range(4)]]
                    queue.append((voter, prepare_ballot(info, pseudonym, choices, credentials[employee_id])))
            print(f"database {database.stat().st_size / 1e6:.1f} MB; {len(queue)} ballots prepared", flush=True)

            lock = threading.Lock()
            cast_times: list[float] = []
            stop = threading.Event()

            def caster() -> None:
                while not stop.is_set():
                    with lock:
                        if not queue:
                            return
                        voter, ballot = queue.pop(0)
                    voter.cast(ballot)
                    with lock:
                        cast_times.append(time.perf_counter())

            idle: dict[str, float] = {}
            for name, method in (("VACUUM INTO", vacuum_into), ("backup(pages=-1)", one_step)):
                started = time.perf_counter()
                method(database, Path(tmp) / f"idle-{len(idle)}.sqlite3")
                idle[name] = time.perf_counter() - started
            threads = [threading.Thread(target=caster, daemon=True) for _ in range(args.threads)]
            for thread in threads:
                thread.start()
            time.sleep(2)
            results: dict[str, list[tuple[float, float, dict]]] = {}
            n = 0
            for _ in range(args.runs):
                for name, method in (("VACUUM INTO", vacuum_into), ("backup(pages=-1)", one_step), (".backup stepwise (100 pages)", stepwise)):
                    if not queue:
                        break
                    n += 1
                    target = Path(tmp) / f"copy-{n}.sqlite3"
                    started = time.perf_counter()
                    extra = method(database, target)
                    ended = time.perf_counter()
                    with lock:
                        during = sum(1 for t in cast_times if started <= t <= ended)
                    rate = during / (ended - started) if ended > started else 0.0
                    results.setdefault(name, []).append((ended - started, rate, extra))
                    target.unlink(missing_ok=True)
            stop.set()
            for thread in threads:
                thread.join()
        finally:
            pilot.stop()

    print("idle: " + ", ".join(f"{name} {s:.2f} s" for name, s in idle.items()))
    print(f"under load ({args.threads} casting threads over HTTP):")
    for name, runs in results.items():
        seconds = [r[0] for r in runs]
        rates = [r[1] for r in runs]
        extras = [r[2] for r in runs if r[2]]
        more = ""
        if extras:
            more = f"; restarts {[e['restarts'] for e in extras]}, finished {[e['finished'] for e in extras]}"
        print(f"  {name:30s} median {statistics.median(seconds):.2f} s (runs {', '.join(f'{s:.2f}' for s in seconds)}), "
              f"casts meanwhile {statistics.median(rates):.0f}/s{more}")


if __name__ == "__main__":
    main()
