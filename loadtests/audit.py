"""After the tally: export the election's record as an auditor would, verify it
with ``voting verify`` in a process of its own, and time both.

The load test's record is the one the server really produced under load, so its
verification is also a last reconciliation, by the auditors' tool instead of
the load test's own. Its time is compared with the bound an auditor can
expect: the ballots times the time to verify one ballot on one core, divided by
the verifier's processes (docs/loadtest.md, "Verifying the record").
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from loadtests.prepare import ADMIN_ID, LoadTestCa
from voting.client import Client, wait_for_cosigned_board

#: A verifier that has not finished by then is a failure (about 30 times what
#: 100,000 ballots take on two cores).
VERIFY_TIMEOUT_S = 3 * 3600.0

#: How long to wait for the witnesses to cosign the board's last entries before
#: the export (they poll every second; check 12 needs the whole board cosigned).
WITNESS_WAIT_S = 30.0


@dataclass
class RecordFigures:
    export_s: float = 0.0
    record_mb: float = 0.0
    board_size: int = 0
    verify_s: float = 0.0
    verify_ok: bool = False
    verify_failed: str = ""
    """the numbers and titles of the checks that did not pass"""
    verify_workers: int = 0
    ballots: int = 0
    bound_s: float = 0.0
    """ballots x the one-core time to verify one ballot / the verifier's processes"""
    bound_ratio: float = 0.0

    def to_json(self) -> dict:
        return asdict(self)


def export_and_verify(
    url: str, pki: LoadTestCa, election_id: str, server_key: bytes, out: Path, verify_ms: float
) -> RecordFigures:
    """The record with its auditors' part (an administrator may read it), written
    to ``out`` as a zip, then ``voting verify --json --strict`` on it with the
    server key and the root CA the load test pinned. First the CAs publish new CRLs, as an office does once
    voting closed: the verifier judges each certificate by a CRL issued after
    the event it signed."""
    figures = RecordFigures()
    time.sleep(1.0)  # a CRL's time has whole seconds: after the tally's second
    pki.publish_crls(2, datetime.now(UTC))
    with Client(url, timeout=600) as admin:
        admin.login(pki.enroll(ADMIN_ID))
        wait_for_cosigned_board(admin, election_id, WITNESS_WAIT_S, poll_s=0.5)
        started = time.perf_counter()
        response = admin.http.get(f"/api/elections/{election_id}/record/private")
        figures.export_s = round(time.perf_counter() - started, 2)
    response.raise_for_status()
    out.write_bytes(response.content)
    figures.record_mb = round(len(response.content) / 1e6, 1)

    command = [
        sys.executable, "-m", "voting.cli", "verify", str(out), "--json", "--strict",
        "--server-key", server_key.hex(), "--trust-anchor", str(pki.ca_dir / "root.pem"),
    ]
    started = time.perf_counter()
    try:
        completed = subprocess.run(command, capture_output=True, text=True, check=False, timeout=VERIFY_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        figures.verify_failed = f"voting verify did not finish in {VERIFY_TIMEOUT_S:.0f} s"
        return figures
    figures.verify_s = round(time.perf_counter() - started, 2)
    try:
        report = json.loads(completed.stdout)
    except ValueError:
        figures.verify_failed = f"voting verify exited {completed.returncode}: {completed.stderr.strip()[-300:]}"
        return figures
    figures.verify_ok = bool(report["ok"])
    figures.verify_failed = "; ".join(
        f"{c['number']} {c['title']}: {c['status']}" for c in report["checks"] if c["status"] != "pass"
    )
    figures.board_size = report["board_size"]
    figures.ballots = report["ballots"]
    figures.verify_workers = report["workers"]
    figures.bound_s = round(figures.ballots * verify_ms / 1000 / max(1, figures.verify_workers), 2)
    if figures.bound_s:
        figures.bound_ratio = round(figures.verify_s / figures.bound_s, 2)
    return figures
