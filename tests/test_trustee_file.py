"""The trustee file (voting/trustee_file.py): the vectors are the generator's
output, Python opens them, and refuses a changed header or a wrong PIN. The
browser's side: tests/js/trustee_file.test.mjs, tests/test_browser_trustee.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.vectors import gen_trustee_file
from voting.trustee_file import TrusteeFileError, open_trustee_file

VECTORS = Path(__file__).parent / "vectors" / "trustee_file.json"


def test_vectors_are_the_generators_output_and_open():
    doc = json.loads(VECTORS.read_text(encoding="utf-8"))
    assert doc == gen_trustee_file.generate()["trustee_file.json"]
    assert open_trustee_file(doc["file"], doc["pin"]) == doc["state"]
    for bad in doc["refused"]:
        with pytest.raises(TrusteeFileError):
            open_trustee_file(bad, doc["pin"])
    with pytest.raises(TrusteeFileError, match="wrong PIN"):
        open_trustee_file(doc["file"], "654321")
