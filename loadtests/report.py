"""Figures of a run and the summary a person reads at a glance.

- Sustained ballots/s: acknowledged casts whose receipt arrived during the
  plateau, divided by the plateau's length. The plateau starts when the ramp
  ends and ends when the shape's time is up or, if every share of voters was
  used up first, at the last acknowledgement.
- Cast latency: p50/p95/p99 over every acknowledged cast, measured by the
  client around the HTTP request (exact, from acks-*.jsonl; Locust's own
  report rounds its percentiles).
- Failures: Locust's failures over all requests, including checks made after a
  response (a receipt that does not verify counts as a failed cast).
- The crypto bound: what one core could accept if verifying a 1-of-5 ballot
  were the only work, 1000 / verify_ms_1of5 (``crypto.bench``'s measurement,
  made in this process before the load starts).
- Server CPU per voter: the server processes' CPU time during the load divided
  by the acknowledged casts (each simulated voter logs in, reads the status,
  registers a credential, casts and fetches the receipt once), and its ratio to
  the time to verify one 1-of-5 ballot: the whole flow's cost in units of the
  one piece of work that cannot be avoided.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loadtests.audit import RecordFigures


def verify_ms_1of5(repeats: int = 100, rounds: int = 3) -> float:
    """The time to decode and verify one 1-of-5 ballot as crypto.bench measures
    it (the median of its ``bench_ballots``); the lowest of ``rounds`` medians,
    since other processes on the machine can only make it slower."""
    from crypto import bench
    from crypto.elgamal import KeyPair

    def choices(i: int) -> list[list[int]]:
        return [[1 if j == i % 5 else 0 for j in range(5)]]

    key = KeyPair.generate().public
    with contextlib.redirect_stderr(io.StringIO()):  # its progress lines
        return min(
            bench.bench_ballots("1-of-5", bench.manifest_1of5(), choices, key, repeats)[1] for _ in range(rounds)
        )


@dataclass
class Figures:
    backend: str
    server_processes: int
    locust_processes: str
    voters: int
    offered_rate: float
    users: int
    acknowledged: int = 0
    plateau_s: float = 0.0
    plateau_casts: int = 0
    sustained_rate: float = 0.0
    overall_rate: float = 0.0
    cast_p50_ms: float = 0.0
    cast_p95_ms: float = 0.0
    cast_p99_ms: float = 0.0
    cast_max_ms: float = 0.0
    requests: int = 0
    failures: int = 0
    failure_ratio: float = 0.0
    failures_by_name: dict[str, int] = field(default_factory=dict)
    voters_with_errors: int = 0
    verify_ms_1of5: float = 0.0
    crypto_bound: float = 0.0
    bound_ratio: float = 0.0
    load_s: float = 0.0
    server_cpu_s: float = 0.0
    locust_cpu_s: float = 0.0
    server_cpu_ms_per_ballot: float = 0.0
    cpu_ratio: float = 0.0
    server_rss_mb: float = 0.0
    """resident memory of the server's processes when the load ends"""
    server_peak_rss_mb: float = 0.0
    """the largest peak resident memory of one server process"""
    tally_s: float = 0.0
    """closing, two trustees' partial decryptions and the tally, over HTTP"""
    commits_per_ballot: float = 0.0
    """PostgreSQL: transactions committed in the run's database during the load
    (reads included), per acknowledged ballot"""
    wal_syncs_per_ballot: float = 0.0
    """PostgreSQL: the server's WAL flushes to disk during the load, per acknowledged ballot"""

    machine_cores: int = 0
    machine_busy_cores: float = 0.0
    load_average: float = 0.0

    def cpu(
        self, load_s: float, server_cpu_s: float, locust_cpu_s: float, machine_busy_s: float, machine_total_s: float
    ) -> None:
        """CPU seconds the server processes, the Locust processes and the whole
        machine (the database server and anything else running too) used
        during the load."""
        self.load_s = round(load_s, 2)
        self.server_cpu_s = round(server_cpu_s, 2)
        self.locust_cpu_s = round(locust_cpu_s, 2)
        if self.acknowledged:
            self.server_cpu_ms_per_ballot = round(1000 * server_cpu_s / self.acknowledged, 2)
            if self.verify_ms_1of5:
                self.cpu_ratio = round(self.server_cpu_ms_per_ballot / self.verify_ms_1of5, 2)
        self.machine_cores = os.cpu_count() or 1
        if machine_total_s:
            self.machine_busy_cores = round(self.machine_cores * machine_busy_s / machine_total_s, 2)
        self.load_average = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else 0.0

    def to_json(self) -> dict:
        return asdict(self)


def read_locust_stats(csv_path: Path) -> tuple[int, int, dict[str, int]]:
    """(requests, failures, failures per request name) from Locust's stats CSV."""
    requests = failures = 0
    by_name: dict[str, int] = {}
    with csv_path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["Name"] == "Aggregated":
                requests, failures = int(row["Request Count"]), int(row["Failure Count"])
            elif int(row["Failure Count"]):  # names carry the method; checks after a response are type CHECK
                name = row["Name"] if row["Type"] != "CHECK" else f"check: {row['Name']}"
                by_name[name] = by_name.get(name, 0) + int(row["Failure Count"])
    return requests, failures, by_name


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (0 < p <= 100)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def compute(figures: Figures, acks: list[dict], shape: dict, stats_csv: Path, verify_ms: float) -> Figures:
    figures.acknowledged = len(acks)
    times = sorted(a["acked_at"] for a in acks)
    latencies = [a["latency_ms"] for a in acks]
    if latencies:
        figures.cast_p50_ms = round(statistics.median(latencies), 1)
        figures.cast_p95_ms = round(percentile(latencies, 95), 1)
        figures.cast_p99_ms = round(percentile(latencies, 99), 1)
        figures.cast_max_ms = round(max(latencies), 1)
    if len(times) > 1:
        figures.overall_rate = round((len(times) - 1) / (times[-1] - times[0]), 1)
    if shape.get("started_at") and times:
        start = shape["started_at"] + shape["ramp_s"]
        end = shape["started_at"] + shape["ramp_s"] + shape["plateau_s"]
        if shape.get("ended_at"):
            end = min(end, shape["ended_at"])
        if shape.get("shares_used_up"):
            end = min(end, times[-1])
        in_plateau = [t for t in times if start <= t <= end]
        figures.plateau_s = round(max(0.0, end - start), 2)
        figures.plateau_casts = len(in_plateau)
        if end - start > 0:
            figures.sustained_rate = round(len(in_plateau) / (end - start), 1)
    if stats_csv.exists():
        figures.requests, figures.failures, figures.failures_by_name = read_locust_stats(stats_csv)
        figures.failure_ratio = figures.failures / figures.requests if figures.requests else 0.0
    figures.verify_ms_1of5 = round(verify_ms, 3)
    figures.crypto_bound = round(1000 / verify_ms, 1) if verify_ms else 0.0
    figures.bound_ratio = round(figures.sustained_rate / figures.crypto_bound, 3) if figures.crypto_bound else 0.0
    return figures


@dataclass
class Criterion:
    name: str
    passed: bool
    detail: str


def criteria(
    figures: Figures, reconciliation_ok: bool, reconciliation_detail: str, *, max_failure_ratio: float,
    max_p95_ms: float | None, min_rate: float | None, min_plateau_s: float, max_cpu_ratio: float | None = None,
    record: RecordFigures | None = None,
) -> list[Criterion]:
    result = [
        Criterion(
            "failures",
            figures.failure_ratio <= max_failure_ratio and figures.acknowledged > 0,
            f"{figures.failures} of {figures.requests} requests ({figures.failure_ratio:.2%}), at most {max_failure_ratio:.2%}",
        ),
        Criterion(
            "plateau",
            figures.plateau_s >= min_plateau_s,
            f"{figures.plateau_s:.1f} s with {figures.plateau_casts} casts, at least {min_plateau_s:g} s",
        ),
    ]
    if max_p95_ms:
        result.append(
            Criterion("p95 cast latency", figures.cast_p95_ms < max_p95_ms, f"{figures.cast_p95_ms:.0f} ms, under {max_p95_ms:g} ms")
        )
    if min_rate:
        result.append(
            Criterion("sustained rate", figures.sustained_rate >= min_rate, f"{figures.sustained_rate:.1f}/s, at least {min_rate:g}/s")
        )
    if max_cpu_ratio:
        result.append(
            Criterion(
                "server CPU per voter",
                0 < figures.cpu_ratio <= max_cpu_ratio,
                f"{figures.cpu_ratio:.2f}x the verification of one ballot, at most {max_cpu_ratio:g}x",
            )
        )
    result.append(Criterion("reconciliation", reconciliation_ok, reconciliation_detail))
    if record is not None:
        result.append(
            Criterion(
                "record verifies",
                record.verify_ok,
                f"`voting verify` on the exported record: {record.verify_failed or 'every check passed'}",
            )
        )
    return result


def summary_text(
    figures: Figures, checks: list[Criterion], reconciliation: dict, record: RecordFigures, run_dir: Path
) -> str:
    f = figures
    passed = all(c.passed for c in checks)
    mark = {True: "PASS", False: "FAIL"}
    lines = [
        "",
        f"Load test: {f.backend}, {f.server_processes} server process(es), Locust {f.locust_processes}; "
        f"{f.voters} voters, {f.users} simulated voters at once, offered {f.offered_rate:g} ballots/s",
        f"  accepted ballots/s, plateau   {f.sustained_rate:8.1f}   ({f.plateau_casts} casts in {f.plateau_s:.1f} s; "
        f"{f.overall_rate:.1f}/s first to last)",
        f"  cast latency p50/p95/p99      {f.cast_p50_ms:.0f} / {f.cast_p95_ms:.0f} / {f.cast_p99_ms:.0f} ms   (max {f.cast_max_ms:.0f} ms)",
        f"  failures                      {f.failures} of {f.requests} requests ({f.failure_ratio:.2%})"
        + (f"  {f.failures_by_name}; {f.voters_with_errors} voters saw an error (errors-*.jsonl)" if f.failures else ""),
        f"  crypto bound                  {f.crypto_bound:.0f} ballots/s per core (verify 1-of-5: {f.verify_ms_1of5:.3f} ms)"
        f"  ratio {f.bound_ratio:.2f}",
        f"  server CPU per voter          {f.server_cpu_ms_per_ballot:.1f} ms = {f.cpu_ratio:.2f}x the verification of one ballot",
        f"  CPU during the load           server "
        f"{f.server_cpu_s / f.load_s if f.load_s else 0:.2f} cores; Locust {f.locust_cpu_s / f.load_s if f.load_s else 0:.2f} "
        f"cores; machine {f.machine_busy_cores:.2f} of {f.machine_cores} cores busy (load average {f.load_average:g})",
        f"  server memory                 {f.server_rss_mb:.0f} MB resident at the end of the load "
        f"(largest process peak {f.server_peak_rss_mb:.0f} MB)",
        *(
            [f"  PostgreSQL per ballot         {f.commits_per_ballot:.2f} transactions committed, "
             f"{f.wal_syncs_per_ballot:.2f} WAL flushes"]
            if f.backend == "postgresql" else []
        ),
        f"  close and tally               {f.tally_s:.1f} s",
        f"  record                        exported in {record.export_s:.1f} s ({record.record_mb:g} MB, "
        f"{record.board_size} board entries); `voting verify` {record.verify_s:.1f} s for {record.ballots} ballots "
        f"on {record.verify_workers} process(es) = {record.bound_ratio:.2f}x the bound of {record.bound_s:.1f} s",
        f"  reconciliation                {reconciliation.get('acknowledged', 0)} acknowledged, "
        f"{reconciliation.get('board_ballots', 0)} on the board, {len(reconciliation.get('lost', []))} lost, "
        f"{len(reconciliation.get('doubled', []))} doubled, {reconciliation.get('receipts_proven', 0)} receipts proven "
        f"under head {reconciliation.get('board_size', 0)}, tally {reconciliation.get('tally_counts')} "
        f"vs ground truth {reconciliation.get('expected_counts')}",
        "",
    ]
    for c in checks:
        lines.append(f"  [{mark[c.passed]}] {c.name}: {c.detail}")
    lines += ["", f"Result: {mark[passed]}    reports in {run_dir}", ""]
    return "\n".join(lines)


def side_by_side(runs: list[dict]) -> str:
    """The figures of runs with different numbers of server processes (each
    summary.json's ``figures``), a line each, with each run's throughput and
    CPU per voter relative to the first run's."""
    first = runs[0]
    lines = ["", "Side by side:", "  processes  ballots/s  (x first)  CPU per voter  (x first)  cast p95  server cores  machine busy"]
    for f in runs:
        rate = f["sustained_rate"] / first["sustained_rate"] if first["sustained_rate"] else 0.0
        cpu = f["server_cpu_ms_per_ballot"] / first["server_cpu_ms_per_ballot"] if first["server_cpu_ms_per_ballot"] else 0.0
        cores = f["server_cpu_s"] / f["load_s"] if f["load_s"] else 0.0
        lines.append(
            f"  {f['server_processes']:>9}  {f['sustained_rate']:>9.1f}  {rate:>9.2f}  {f['server_cpu_ms_per_ballot']:>10.1f} ms"
            f"  {cpu:>9.2f}  {f['cast_p95_ms']:>5.0f} ms  {cores:>12.2f}  {f['machine_busy_cores']:>5.2f} of {f['machine_cores']}"
        )
    return "\n".join(lines) + "\n"


def write_summary(
    run_dir: Path, figures: Figures, checks: list[Criterion], reconciliation: dict, record: RecordFigures, text: str
) -> None:
    (run_dir / "summary.json").write_text(
        json.dumps(
            {
                "figures": figures.to_json(),
                "criteria": [asdict(c) for c in checks],
                "reconciliation": reconciliation,
                "record": record.to_json(),
                "passed": all(c.passed for c in checks),
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    (run_dir / "summary.txt").write_text(text, encoding="utf-8")
