"""Voter roll import from CSV (employee_id, name, department), all or nothing.

The file is read by the one roster parser (voting/roster_csv.py): every line is
checked and every error reported with its line number; if any line is wrong,
nothing is imported. A preview (dry run) gives the same answer and writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from voting import roster_csv
from voting.roster_csv import ParsedRoster, RosterRow

MAX_ROWS = roster_csv.MAX_ROWS
#: How many rows a preview sends back to the page (the count is always whole).
PREVIEW_ROWS = 1000

RollRow = RosterRow


def parse_roll(data: bytes | str, existing: Iterable[str]) -> ParsedRoster:
    """The rows of a roll file, and its wrong lines; ``existing`` ids are already on the roll."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return roster_csv.parse(raw, existing=existing)


def preview(parsed: ParsedRoster) -> dict:
    """What the administrator checks before importing: the rows as read (names
    decoded), how many, the encoding, and every wrong line."""
    return {
        "dry_run": True,
        "encoding": parsed.encoding,
        "count": len(parsed.rows),
        "rows": [
            {"line": r.line, "employee_id": r.employee_id, "name": r.name, "department": r.department}
            for r in parsed.rows[:PREVIEW_ROWS]
        ],
        "errors": parsed.error_json()[:1000],
    }
