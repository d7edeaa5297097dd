"""One word per thing: the rejected variants listed in docs/glossary.md appear
nowhere the employees read — the message catalogue, the templates, the page
modules, the CLI, README.md and docs/ (the glossary itself excepted).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GLOSSARY = ROOT / "docs" / "glossary.md"


def glossary_rows() -> list[tuple[str, str, list[str]]]:
    """(English, Japanese, rejected variants) of every row of the glossary's table."""
    rows = []
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0] in ("English", "") or set(cells[0]) <= {"-"}:
            continue
        rows.append((cells[0], cells[1], re.findall(r"`([^`]+)`", cells[3])))
    return rows


def checked_files() -> list[Path]:
    web = ROOT / "voting" / "web"
    files = [web / "messages.json", ROOT / "README.md"]
    files += sorted((web / "templates").glob("*.html"))
    files += sorted((web / "static" / "js").rglob("*.js"))
    files += sorted((ROOT / "voting" / "cli").glob("*.py"))
    files += sorted(p for p in (ROOT / "docs").rglob("*.md") if p != GLOSSARY)
    return files


def test_the_glossary_fixes_the_words_the_issue_names():
    words = {english: japanese for english, japanese, _ in glossary_rows()}
    assert words["receipt"] == "受付証" and words["tracking code"] == "確認コード"
    rejected = {v for _, _, variants in glossary_rows() for v in variants}
    assert {"レシート", "受付番号"} <= rejected
    # A variant must not be (part of) a chosen word, or the test could never pass.
    chosen = [japanese for _, japanese, _ in glossary_rows()] + [english for english, _, _ in glossary_rows()]
    assert not [(v, c) for v in rejected for c in chosen if v.lower() in c.lower()]


@pytest.mark.parametrize("path", checked_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_rejected_variant_appears(path):
    text = path.read_text(encoding="utf-8")
    lower = text.lower()
    found = []
    for english, japanese, variants in glossary_rows():
        for variant in variants:
            # English variants match whole words, case-insensitively; Japanese ones anywhere.
            if variant.isascii():
                hit = re.search(rf"\b{re.escape(variant.lower())}\b", lower)
                at, say = (hit.start() if hit else -1), english
            else:
                at, say = text.find(variant), japanese
            if at >= 0:
                found.append(f"line {text.count(chr(10), 0, at) + 1}: {variant!r} (say {say!r})")
    assert not found, f"{path.relative_to(ROOT)}: " + "; ".join(found)
