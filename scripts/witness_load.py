"""Does casting wait for witnesses? The load test with and without them, side by side.

Runs ``voting loadtest`` alternately with no witnesses and with ``--witnesses``
witness processes cosigning every second (interleaved, so the machine's drift
hits both alike) and prints the median of each figure and the ratio
with/without. Casting must not wait for the witnesses: the ratios of accepted
ballots/s and p95 cast latency should stay within a few percent of 1.

    .venv/bin/python scripts/witness_load.py --runs 3 --voters 2000
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loadtests import run as loadtest  # noqa: E402

FIGURES = ("sustained_rate", "cast_p50_ms", "cast_p95_ms", "server_cpu_ms_per_ballot", "failures")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each configuration")
    parser.add_argument("--voters", type=int, default=2000)
    parser.add_argument("--witnesses", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "witness-load")
    options = parser.parse_args()
    results: dict[int, list[dict]] = {0: [], options.witnesses: []}
    for number in range(options.runs):
        for witnesses in results:
            print(f"run {number + 1}/{options.runs}, {witnesses} witness(es)", flush=True)
            args = loadtest.parse_args(
                ["--voters", str(options.voters), "--witnesses", str(witnesses), "--out", str(options.out), "--no-progress"]
            )
            results[witnesses].append(loadtest.run(args)["figures"])
    print(f"\nmedians of {options.runs} runs, {options.voters} voters, SQLite, 1 server process")
    print(f"{'figure':28} {'no witnesses':>14} {f'{options.witnesses} witnesses':>14} {'ratio':>8}")
    for name in FIGURES:
        without = statistics.median(r[name] for r in results[0])
        with_ = statistics.median(r[name] for r in results[options.witnesses])
        ratio = f"{with_ / without:.3f}" if without else "-"
        print(f"{name:28} {without:>14.1f} {with_:>14.1f} {ratio:>8}")


if __name__ == "__main__":
    main()
