"""Test vectors for the PIN-sealed trustee file (voting/trustee_file.py,
static/js/trustee_file.js): files sealed with a fixed salt and nonce that the
browser must open to the same state, and damaged ones it must refuse."""

from __future__ import annotations

import json
from pathlib import Path

from voting.trustee_file import seal_trustee_file

PIN = "１２３４５６"  # full-width digits: NFKC makes them "123456"
STATE = json.loads((Path(__file__).parent / "threshold.json").read_text(encoding="utf-8"))["trustee_secrets"][0]


def generate() -> dict[str, object]:
    state = {"election_id": "F-VECTOR", "server_key": "ab" * 32, "secrets": STATE}
    good = seal_trustee_file(
        state, PIN, election_id="F-VECTOR", employee_id="T0001", iterations=1000, salt=bytes(range(16)), nonce=bytes(range(12))
    )
    flipped = {**good, "employee_id": "T0002"}
    return {"trustee_file.json": {"pin": "123456", "state": state, "file": good, "refused": [flipped, {**good, "format": "x"}]}}
