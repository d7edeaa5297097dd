"""The trustee page's record verifier (static/js/record_verify.js, run by
node on records made by Python) against a dishonest server's record: its
verdict on check 5 and on the board's times must be Python's.

- A stale but genuine CRL plus a copy of it with fresh dates and the old
  signature: the copy is not signed by the CA, so a revocation published
  after the stale CRL cannot be hidden (the CRL's signature verdict is kept
  per CRL and issuer by their whole bytes).
- A board entry dated with a UTC offset of a day or more ("+99:99"), which
  Python's fromisoformat refuses: both fail it.
"""

from __future__ import annotations

import base64
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import Encoding

from crypto import ca
from tests.record_support import board_entries, resign, synthetic_run
from tests.test_web_js import ROOT, node
from voting.client import REQUIRED_CHECKS
from voting.record import files as F
from voting.verify import verify_record


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _utctime(when: datetime) -> bytes:
    return b"\x17\x0d" + when.astimezone(UTC).strftime("%y%m%d%H%M%SZ").encode()


def _pinned(run) -> bytes:
    return run.server_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _js_verdicts(tmp_path: Path, corpus: list[dict]) -> dict:
    path = tmp_path / "corpus.json"
    path.write_text(json.dumps(corpus))
    result = subprocess.run(
        [node(), str(ROOT / "tests/js/record_verify_run.mjs"), str(path)], capture_output=True, text=True, cwd=ROOT, timeout=900
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
def test_a_forged_copy_of_a_stale_crl_does_not_hide_a_revocation(tmp_path):
    run = synthetic_run()
    files = dict(run.private)
    pinned = _pinned(run)
    entries = [json.loads(x) for x in files[F.BOARD].splitlines()]
    row = next(r for r in json.loads(files[F.ROLL]) if r["credential"] is not None)
    registered = next(e for e in entries if e["kind"] == "credential-registered" and e["body"]["credential"] == row["credential"])
    registered_at = datetime.fromisoformat(registered["time"])
    # The CA revoked this employee's certificate 5 s before the server registered a credential with it.
    revoked = ca.revoke(run.pki.issuing, run.credentials[row["employee_id"]].certificate, now=registered_at - timedelta(seconds=5))
    now = datetime.now(UTC)
    root_crl = ca.build_crl(run.pki.root, [], now=now, next_update=now + timedelta(days=7), crl_number=90).public_bytes(Encoding.DER)
    real = ca.build_crl(run.pki.issuing, [revoked], now=now, next_update=now + timedelta(days=7), crl_number=91).public_bytes(Encoding.DER)
    old_this, old_next = registered_at - timedelta(minutes=10), registered_at - timedelta(minutes=9)
    stale = ca.build_crl(run.pki.issuing, [], now=old_this, next_update=old_next, crl_number=80).public_bytes(Encoding.DER)
    forged = stale.replace(_utctime(old_this), _utctime(now)).replace(_utctime(old_next), _utctime(now + timedelta(days=7)))
    assert forged != stale and len(forged) == len(stale)

    trust = json.loads(files[F.TRUST])
    cases = {"real": [root_crl, real], "stale": [root_crl, stale], "stale+forged": [root_crl, stale, forged]}
    records = {name: {**files, F.TRUST: json.dumps({**trust, "crls": [_b64(c) for c in crls]}).encode()} for name, crls in cases.items()}
    corpus = [
        {"name": f"{name}/{after}", "files": {k: _b64(v) for k, v in record.items()}, "server_key": pinned.hex(), "crls_after_events": after}
        for name, record in records.items()
        for after in (False, True)
    ]
    js = _js_verdicts(tmp_path, corpus)
    for item in corpus:
        name, after = item["name"].split("/")[0], item["crls_after_events"]
        python = verify_record(records[name], workers=1, server_key=pinned, crls_after_events=after).check(5)
        assert python.status == "fail", (name, after)
        assert js[item["name"]]["5"][0] == "fail", (item["name"], js[item["name"]]["5"])


@pytest.mark.slow
def test_a_time_offset_of_a_day_or_more_fails_as_in_python(tmp_path):
    run = synthetic_run()
    pinned = _pinned(run)
    entries = board_entries(run.private)
    last = entries[-1]
    moment = datetime.fromisoformat(last["time"])
    last["time"] = (moment.replace(tzinfo=None) + timedelta(hours=99, minutes=99)).isoformat(timespec="milliseconds") + "+99:99"
    files = resign(run.private, entries, run.server_key)
    corpus = [{"name": "x", "files": {k: _b64(v) for k, v in files.items()}, "server_key": pinned.hex(), "crls_after_events": False}]
    js = _js_verdicts(tmp_path, corpus)["x"]
    report = verify_record(files, workers=1, server_key=pinned, crls_after_events=False)
    verdicts = {n: (report.check(n).status, js[str(n)][0]) for n in REQUIRED_CHECKS}
    assert all(python == script for python, script in verdicts.values()), verdicts
    assert "fail" in {python for python, _ in verdicts.values()}
