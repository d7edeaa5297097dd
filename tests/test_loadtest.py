"""The load test's own tests: a short smoke load with reconciliation, on SQLite
(one server process, one Locust process) and, when VOTING_TEST_DATABASE_URL is
set, on PostgreSQL (two server processes, a Locust master and one worker), and
the reconciliation catching every way a run can lose or double a ballot.

No speed is asserted (no latency or rate criterion is checked here): figures
are printed, and the run's summary.json is kept in the test's directory.
About 30 s per backend.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

from loadtests import reconcile, report
from loadtests.audit import RecordFigures
from loadtests.common import ACKS_GLOB, RunFiles
from loadtests.prepare import ELECTION_ID, OPTIONS
from loadtests.run import Server, free_port, parse_args, run_all
from tests.support import PG_ENV

VOTERS = 100


def smoke_args(tmp_path: Path, *extra: str) -> list[str]:
    """100 voters at 10 ballots/s: a 2 s ramp, then the plateau until all have voted."""
    return [
        "--voters", str(VOTERS), "--rate", "10", "--users", "5", "--ramp", "2", "--plateau", "40",
        "--max-p95-ms", "0", "--min-plateau", "0", "--out", str(tmp_path), "--no-progress", *extra,
    ]


def check_smoke(summary: dict) -> None:
    figures, rec = summary["figures"], summary["reconciliation"]
    print(
        f"\n{figures['backend']}, {figures['server_processes']} server process(es), Locust {figures['locust_processes']}: "
        f"{figures['acknowledged']} casts, {figures['sustained_rate']}/s on the plateau, "
        f"p50/p95 {figures['cast_p50_ms']}/{figures['cast_p95_ms']} ms, {figures['failures']} failures of {figures['requests']}"
    )
    assert rec["ok"], rec["problems"]
    assert figures["failures"] == 0, figures["failures_by_name"]
    assert 0 < figures["acknowledged"] == rec["acknowledged"] == rec["board_ballots"] == rec["receipts_proven"]
    assert rec["lost"] == rec["unacknowledged"] == rec["doubled"] == [] and rec["superseded"] == 0
    assert rec["tally_counts"] == rec["expected_counts"] and sum(rec["tally_counts"]) == figures["acknowledged"]
    assert {c["name"]: c["passed"] for c in summary["criteria"]} == {
        "failures": True, "plateau": True, "reconciliation": True, "record verifies": True,
    }
    record = summary["record"]
    assert record["verify_ok"] and record["verify_failed"] == "", record
    assert record["ballots"] == figures["acknowledged"] and record["board_size"] == rec["board_size"]
    assert record["bound_s"] > 0 and record["bound_ratio"] > 0 and record["export_s"] > 0
    assert figures["server_rss_mb"] > 0 and figures["server_peak_rss_mb"] > 0 and figures["tally_s"] > 0
    assert summary["passed"]


def run_dir_of(tmp_path: Path) -> Path:
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    return run_dir


@pytest.mark.slow
def test_smoke_load_sqlite_one_process(tmp_path):
    (summary,) = run_all(parse_args(smoke_args(tmp_path)))
    check_smoke(summary)
    files = RunFiles(run_dir_of(tmp_path))
    # Locust's reports are written, and every simulated voter's cast is in them.
    for name in ("locust_stats.csv", "locust-report.html", "summary.txt", "shape.json"):
        assert (files.root / name).stat().st_size > 0
    cast_row = [line for line in (files.root / "locust_stats.csv").read_text().splitlines() if "(cast)" in line]
    assert cast_row and int(cast_row[0].split(",")[2]) == summary["figures"]["acknowledged"]


@pytest.mark.slow
@pytest.mark.postgres
def test_smoke_load_postgresql_two_processes_distributed_locust(tmp_path):
    (summary,) = run_all(parse_args(smoke_args(tmp_path, "--backend", "postgresql", "--database-url", os.environ[PG_ENV],
                                        "--server-workers", "2", "--locust-workers", "1")))
    check_smoke(summary)
    assert summary["figures"]["locust_processes"] == "master + 1 worker(s)"
    # Each voter's login, registration and cast commit at least once between them.
    assert summary["figures"]["commits_per_ballot"] >= 1 and summary["figures"]["wal_syncs_per_ballot"] > 0
    # The worker wrote the acknowledgements (worker index 0 of 1): its share was every voter.
    files = RunFiles(run_dir_of(tmp_path))
    assert [p.name for p in files.root.glob(ACKS_GLOB)] == ["acks-0.jsonl"]


@pytest.mark.slow
def test_reconciliation_finds_lost_doubled_forged_and_miscounted_ballots(tmp_path):
    """After a real (tiny) run, the server is started again on its data directory,
    and the reconciliation is fed acknowledgements that do not match the board."""
    (summary,) = run_all(parse_args([*smoke_args(tmp_path), "--voters", "12", "--rate", "6", "--users", "3"]))
    assert summary["reconciliation"]["ok"]
    files = RunFiles(run_dir_of(tmp_path))
    acks = files.read_jsonl(ACKS_GLOB)
    election = files.read_election()
    server_key = bytes.fromhex(election["server_key"])
    result = {"ballots_counted": len(acks), "questions": [{"options": [{"count": c} for c in summary["reconciliation"]["tally_counts"]]}]}
    port = free_port()
    data_dir = files.root / "data"
    env = {**os.environ, "VOTING_DATA_DIR": str(data_dir), "VOTING_DATABASE_URL": f"sqlite:///{data_dir / 'voting.sqlite3'}",
           "VOTING_HOST": "127.0.0.1", "VOTING_PORT": str(port)}
    server = Server(env, port, 1, files.root / "server-again.log")
    server.start()
    try:
        def check(tampered: list[dict], tally: dict = result) -> reconcile.Reconciliation:
            return reconcile.reconcile(server.url, ELECTION_ID, server_key, tampered, tally)

        assert check(acks).ok  # the untouched run reconciles

        missing = check(acks[1:])  # a ballot on the board the clients never saw acknowledged
        assert missing.unacknowledged == [acks[0]["tracking_code"]] and not missing.ok

        forged = copy.deepcopy(acks[0])
        forged["tracking_code"] = forged["receipt"]["tracking_code"] = "ab" * 32
        lost = check([*acks, forged])  # an acknowledgement whose ballot is not on the board
        assert lost.lost == ["ab" * 32] and lost.bad_receipts and not lost.ok

        doubled = check([*acks, acks[2]])  # one cast acknowledged twice
        assert doubled.doubled == [acks[2]["tracking_code"]] and not doubled.ok

        signature = copy.deepcopy(acks)
        signature[3]["receipt"]["signature"] = "00" * 64
        bad = check(signature)  # a receipt the server never signed
        assert len(bad.bad_receipts) == 1 and "signature" in bad.bad_receipts[0] and not bad.ok

        moved = copy.deepcopy(acks)
        moved[4]["receipt"]["leaf_index"] = moved[4]["receipt"]["entry"]["index"] = moved[5]["receipt"]["leaf_index"]
        assert len(check(moved).bad_receipts) == 1  # a receipt pointing at another entry

        wrong_truth = copy.deepcopy(acks)
        wrong_truth[0]["choice"] = (wrong_truth[0]["choice"] + 1) % OPTIONS
        miscount = check(wrong_truth)  # the tally is not what was cast
        assert miscount.tally_counts != miscount.expected_counts and not miscount.ok
    finally:
        server.stop()


# --- the figures: plateau, percentiles, criteria ---------------------------------------------------


def test_sustained_rate_is_measured_over_the_plateau_only(tmp_path):
    start = 1_000_000.0
    # Ramp (0..5 s): 1 cast a second; plateau (5..15 s): 20 a second; the shares
    # ran out at 15 s, the shape noticed at 15.8 s.
    acks = [{"acked_at": start + t + 0.5, "latency_ms": 10.0} for t in range(5)]
    acks += [{"acked_at": start + 5 + i / 20, "latency_ms": 20.0 + i % 10} for i in range(200)]
    shape = {"started_at": start, "ramp_s": 5, "plateau_s": 60, "ended_at": start + 15.8, "shares_used_up": True}
    stats = tmp_path / "stats.csv"
    stats.write_text(
        "Type,Name,Request Count,Failure Count\n"
        "POST,POST /api/elections/[id]/ballots/ (cast),205,1\nGET,GET /api/elections/[id],300,1\n,Aggregated,1000,2\n"
    )
    figures = report.compute(report.Figures("sqlite", 1, "1 process", 205, 20, 10), acks, shape, stats, 2.0)
    assert figures.plateau_casts == 200
    assert figures.plateau_s == pytest.approx(9.95)
    assert figures.sustained_rate == pytest.approx(200 / 9.95, abs=0.1)
    assert (figures.requests, figures.failures, figures.failure_ratio) == (1000, 2, 0.002)
    assert figures.failures_by_name == {"POST /api/elections/[id]/ballots/ (cast)": 1, "GET /api/elections/[id]": 1}
    assert figures.crypto_bound == 500.0 and figures.bound_ratio == pytest.approx(figures.sustained_rate / 500, abs=1e-3)
    assert figures.cast_p50_ms == 24.0 and figures.cast_p99_ms == 29.0

    figures.cpu(load_s=10.0, server_cpu_s=2.05, locust_cpu_s=1.0, machine_busy_s=10.0, machine_total_s=20.0)
    assert figures.server_cpu_ms_per_ballot == 10.0 and figures.cpu_ratio == 5.0  # 10 ms per voter, 2 ms to verify

    checks = report.criteria(
        figures, True, "ok", max_failure_ratio=0.0, max_p95_ms=25.0, min_rate=15.0, min_plateau_s=5, max_cpu_ratio=4.0
    )
    assert {c.name: c.passed for c in checks} == {
        "failures": False, "plateau": True, "p95 cast latency": False, "sustained rate": True,
        "server CPU per voter": False, "reconciliation": True,
    }
    relaxed = report.criteria(figures, True, "ok", max_failure_ratio=0.0, max_p95_ms=None, min_rate=None,
                              min_plateau_s=5, max_cpu_ratio=5.0)
    assert {c.name: c.passed for c in relaxed}["server CPU per voter"]
    record = RecordFigures(export_s=1.5, record_mb=2.0, board_size=410, verify_s=3.0, verify_ok=False,
                           verify_failed="7 Bulletin board: fail", verify_workers=2, ballots=205, bound_s=2.0, bound_ratio=1.5)
    with_record = report.criteria(figures, True, "ok", max_failure_ratio=0.0, max_p95_ms=None, min_rate=None,
                                  min_plateau_s=5, record=record)
    assert not {c.name: c for c in with_record}["record verifies"].passed
    assert "7 Bulletin board: fail" in {c.name: c for c in with_record}["record verifies"].detail
    text = report.summary_text(figures, checks, {"acknowledged": 205}, record, tmp_path)
    assert "`voting verify` 3.0 s for 205 ballots on 2 process(es) = 1.50x the bound of 2.0 s" in text
    assert "Result: FAIL" in text and "[FAIL] failures" in text and "[PASS] sustained rate" in text
    assert "10.0 ms = 5.00x the verification of one ballot" in text


def test_runs_with_one_and_two_server_processes_are_printed_side_by_side():
    def figures(processes: int, rate: float, cpu_ms: float) -> dict:
        f = report.Figures("postgresql", processes, "1 process", 2000, 200, 24)
        f.sustained_rate, f.server_cpu_ms_per_ballot, f.cast_p95_ms = rate, cpu_ms, 250.0
        f.server_cpu_s, f.load_s, f.machine_busy_cores, f.machine_cores = 30.0, 20.0, 1.9, 2
        return f.to_json()

    text = report.side_by_side([figures(1, 40.0, 20.0), figures(2, 50.0, 25.0)])
    first, second = text.strip().splitlines()[-2:]
    assert first.split()[:5] == ["1", "40.0", "1.00", "20.0", "ms"]
    assert second.split()[:6] == ["2", "50.0", "1.25", "25.0", "ms", "1.25"]
    assert "1.50" in second and "1.90 of 2" in second  # server cores (30 s of CPU in 20 s), machine busy


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert [report.percentile(values, p) for p in (50, 95, 99, 100)] == [50.0, 95.0, 99.0, 100.0]
    assert report.percentile([7.0], 95) == 7.0 and report.percentile([], 95) == 0.0


def test_each_locust_worker_takes_a_disjoint_share(tmp_path):
    files = RunFiles(tmp_path)
    files.voters.write_text("".join(json.dumps({"employee_id": f"E{i:06d}"}) + "\n" for i in range(10)))
    shares = [[v["employee_id"] for v in files.voter_share(w, 3)] for w in range(3)]
    assert sorted(v for share in shares for v in share) == [f"E{i:06d}" for i in range(10)]
    assert all(not set(a) & set(b) for i, a in enumerate(shares) for b in shares[i + 1 :])
    assert [len(s) for s in shares] == [4, 3, 3]


@pytest.mark.slow
def test_flow_cost_reports_each_step_of_every_voter(tmp_path, capsys):
    from loadtests import flow_cost

    assert flow_cost.main(["--voters", "12", "--out", str(tmp_path)]) == 0
    (run_dir,) = tmp_path.iterdir()
    doc = json.loads((run_dir / "flow-cost.json").read_text())
    assert set(doc["cpu_ms"]) == set(flow_cost.STEPS)
    assert all(len(values) == 12 and all(v >= 0 for v in values) for values in doc["cpu_ms"].values())
    assert sum(map(sum, doc["cpu_ms"].values())) > 0 and doc["verify_ms_1of5"] > 0
    out = capsys.readouterr().out
    assert "whole flow" in out and "x the verification of one ballot" in out
