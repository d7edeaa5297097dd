"""The verifier benchmark (``python -m voting.record.bench``) runs end to end on
a tiny election: it synthesises the record, times ``voting verify`` on it in a
separate process and prints the figures. (The 10,000-ballot figure itself is
measured by running the module; no test asserts a time.) About 5 s."""

from __future__ import annotations

import json

import pytest

from voting.record import files as F
from voting.record.bench import main, survey_manifest, synthesize
from voting.verify import verify_record


@pytest.mark.slow
def test_the_benchmark_runs_and_prints_its_figures(tmp_path, capsys):
    assert main(["--ballots", "24", "--revoters", "3", "--keep", str(tmp_path / "record")]) == 0
    out = capsys.readouterr().out
    assert "synthesised 24 voters' election" in out
    assert "voting verify: 27 ballots (24 counted)" in out
    for number in range(1, 13):
        assert f"\n{number:>3}  " in out
    assert "`voting verify` took" in out and "all checks passed" in out
    assert "verifying one ballot on one core: " in out
    assert "bound: 27 ballots x " in out and " / 1 processes = " in out and "x the bound" in out
    assert "baseline" not in out  # a record this small is verified in one process already
    # Run again on the kept record: it is reused, not rebuilt; two processes, then one for the baseline.
    assert main(["--keep", str(tmp_path / "record"), "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "reusing the record" in out and "2 processes" in out
    assert " / 2 processes = " in out and "baseline: `voting verify --workers 1` took" in out


@pytest.mark.slow
def test_a_synthetic_record_in_worker_processes():
    """Enough ballots to encrypt and verify in worker processes on both sides."""
    manifest = survey_manifest("pool-2026")
    manifest["questions"] = manifest["questions"][:1]
    election = synthesize(210, revoters=5, workers=2, manifest_doc=manifest)
    report = verify_record(election.files, workers=2)
    assert report.workers == 2 and report.ok(strict=True)
    assert (report.ballots, report.counted) == (215, 210)
    roll = json.loads(election.files[F.ROLL])
    assert len(roll) == 210 and all(row["credential"] and row["registration"] for row in roll)
    assert report.check(5).items == 215 + 210  # every ballot and every registration
