"""docs/parts/core.md states facts the code must keep: check them, so the
specification cannot drift from crypto/."""

from __future__ import annotations

import json
import re
from pathlib import Path

from crypto import errors
from crypto.ballots import LIMIT_KIND, SELECTION_KIND, format_tracking_code
from crypto.encoding import encode_parts
from crypto.group import ORDER, G
from crypto.proofs import TAG_PREFIX

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "parts" / "core.md").read_text(encoding="utf-8")


def test_error_table_matches_crypto_errors():
    rows = re.findall(r"^\| `(\w+)` \| `(\w+)` \|", DOC, flags=re.MULTILINE)
    assert len(rows) >= 10
    for name, code in rows:
        assert getattr(errors, name).code == code, name


def test_domain_tags_are_the_ones_the_code_uses():
    """Every tag literal in the five core modules, and every proof kind, is in
    the doc's table, and the table lists nothing else."""
    documented = set(re.findall(r"^\| `(votingpilot/v1/[\w-]+)` \|", DOC, flags=re.MULTILINE))
    in_code = {TAG_PREFIX + kind for kind in ("schnorr", "chaum-pedersen", SELECTION_KIND, LIMIT_KIND)}
    for module in ("group", "encoding", "elgamal", "proofs", "ballots"):
        source = (ROOT / "crypto" / f"{module}.py").read_text(encoding="utf-8")
        in_code |= set(re.findall(r'"(votingpilot/v1/[\w-]+)"', source))
    assert documented == in_code


def test_constants_and_examples():
    assert G.hex() in DOC
    assert "l = 2^252 +\n  27742317777372353535851937790883648493" in DOC
    assert ORDER == 2**252 + 27742317777372353535851937790883648493
    assert encode_parts("ab", 5).hex() == "54" "00000002" "6162" "49" "00000008" "0000000000000005"
    assert "`54 00000002 6162 49 00000008 0000000000000005`" in DOC


def test_short_form_example_is_from_the_vectors():
    vectors = json.loads((ROOT / "tests" / "vectors" / "ballots.json").read_text(encoding="utf-8"))
    first = vectors["elections"][0]["ballots"][0]
    assert first["tracking_code"][:20] in DOC and first["tracking_code_short"] in DOC
    assert format_tracking_code(bytes.fromhex(first["tracking_code"])) == first["tracking_code_short"]
