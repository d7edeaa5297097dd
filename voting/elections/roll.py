"""Voter roll import from CSV (employee_id, name, department), all or nothing.

Every line is checked and every error reported with its line number; if any
line is wrong, nothing is imported.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass

from crypto.credentials import is_valid_employee_id

HEADER = ["employee_id", "name", "department"]
MAX_ROWS = 100_000


#: Control, format (e.g. bidirectional overrides) and line-separator characters:
#: never part of a name, and PostgreSQL text cannot even hold NUL.
_CONTROL_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def _has_control_characters(text: str) -> bool:
    return any(unicodedata.category(ch) in _CONTROL_CATEGORIES for ch in text)


@dataclass(frozen=True)
class RollRow:
    employee_id: str
    name: str
    department: str


def parse_roll(text: str, existing: set[str]) -> tuple[list[RollRow], list[dict]]:
    """Rows to add and a list of {line, error}; rows are only valid if errors is empty."""
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text))
    rows: list[RollRow] = []
    errors: list[dict] = []
    seen = set(existing)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        return [], [{"line": 1, "error": f"not CSV: {exc}"}]
    if header is None or [h.strip().lower() for h in header] != HEADER:
        return [], [{"line": 1, "error": f"the first line must be the header {','.join(HEADER)}"}]
    try:
        for record in reader:
            line = reader.line_num
            if not record or all(not cell.strip() for cell in record):
                continue
            if len(rows) + len(errors) >= MAX_ROWS:
                errors.append({"line": line, "error": f"more than {MAX_ROWS} rows"})
                break
            if len(record) != 3:
                errors.append({"line": line, "error": f"expected 3 fields, found {len(record)}"})
                continue
            employee_id, name, department = (cell.strip() for cell in record)
            if not is_valid_employee_id(employee_id):
                errors.append({"line": line, "error": f"invalid employee id {employee_id[:40]!r}"})
            elif employee_id in seen:
                errors.append({"line": line, "error": f"employee {employee_id} is already on the roll"})
            elif not name or len(name) > 200:
                errors.append({"line": line, "error": "the name must be 1 to 200 characters"})
            elif len(department) > 200:
                errors.append({"line": line, "error": "the department must be at most 200 characters"})
            elif _has_control_characters(name + department):
                errors.append({"line": line, "error": "the name and the department must not contain control characters"})
            else:
                seen.add(employee_id)
                rows.append(RollRow(employee_id, name, department))
    except csv.Error as exc:
        errors.append({"line": reader.line_num, "error": f"not CSV: {exc}"})
    return rows, errors
