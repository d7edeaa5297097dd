"""crypto/bench.py runs (``--quick``) and ends with the JSON line scripts read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEYS = {
    "encrypt_ms_1of5",
    "verify_ms_1of5",
    "encrypt_ms_3x8",
    "verify_ms_3x8",
    "aggregate_ms_10k",
    "decrypt_ms_tally",
    "ballot_json_bytes_1of5",
}


def test_quick_bench_last_line_is_the_figures():
    done = subprocess.run(
        [sys.executable, "-m", "crypto.bench", "--quick"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(figures) >= KEYS
    for key in KEYS - {"ballot_json_bytes_1of5"}:
        assert isinstance(figures[key], (int, float)) and figures[key] > 0, key
    assert 0 < figures["ballot_json_bytes_1of5"] < 4096
    assert done.stderr, "progress goes to stderr"


def test_importing_the_bench_has_no_side_effects():
    done = subprocess.run(
        [sys.executable, "-c", "import crypto.bench"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout == "" and done.stderr == ""
