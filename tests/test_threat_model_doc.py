"""docs/threat-model.md backs each claim with a test: every test it names exists.

It cites ``test_file.py::test_name``, ``::test_name`` for another test of the
file named just before, and ``test_file.py`` alone for a whole file.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "threat-model.md"
CITATION = re.compile(r"`(test_\w+\.py)?(?:::(test_\w+))?`")


def test_every_test_the_threat_model_cites_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    current: str | None = None
    cited = []
    for match in CITATION.finditer(text):
        file, name = match.groups()
        if not file and not name:
            continue
        current = file or current
        assert current, f"{match.group(0)} cites a test before any file"
        cited.append((current, name))
    assert len(cited) >= 30
    missing = []
    for file, name in cited:
        path = ROOT / "tests" / file
        if not path.exists():
            missing.append(file)
        elif name and not re.search(rf"^def {name}\(", path.read_text(encoding="utf-8"), re.MULTILINE):
            missing.append(f"{file}::{name}")
    assert not missing, missing
