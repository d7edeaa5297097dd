"""The shared witness vectors (tests/vectors/witness.json): the checked-in file
is what tests/vectors/gen_witness.py produces, and building it checks every
verdict against crypto/witness.py and crypto/receipts.py. The browser's
JavaScript checks the same cases (tests/js/witness.test.mjs, run by
tests/test_web_js.py)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.vectors import gen_witness

VECTORS = Path(__file__).parent / "vectors" / "witness.json"


def test_checked_in_vectors_equal_generator_output():
    assert json.loads(VECTORS.read_text(encoding="utf-8")) == gen_witness.generate()["witness.json"]


def test_the_vectors_cover_every_verdict():
    doc = json.loads(VECTORS.read_text(encoding="utf-8"))
    errors = {c.get("error") for area in ("policies", "cosignatures", "quorum", "witnessed", "bindings") for c in doc[area]}
    assert {None, "ManifestError", "CosignatureError", "QuorumError", "TreeHeadSignatureError", "ReceiptError", "ConsistencyProofError"} <= errors
    assert all(c["message"] for c in doc["quorum"] if c.get("error") == "QuorumError")
