"""Roster and roll CSV files, as Excel writes them: one parser for `voting ca
issue`, `voting election roll` and the administrator page's roll import.

The file arrives as bytes. It is decoded as UTF-8 (with or without the BOM
Excel's "CSV UTF-8" writes) or, failing that, as cp932 (Shift_JIS: what Excel
on Japanese Windows writes for plain "CSV"); anything else is refused. Employee
ids are NFKC-normalised (full-width digits and letters become ASCII), Excel's
trailing empty columns and empty lines are ignored, and the header may be in
English or Japanese. Every wrong line is reported, in English and Japanese,
with its line number; a caller writes nothing unless ``errors`` is empty.

A file that is UTF-8 except for some lines (a line added with another editor)
is refused as mixed encodings, not read wholly as cp932: UTF-8 kanji are often
valid cp932 too, and the names would silently become mojibake. A name or
department that a spreadsheet would run as a formula (starting with = + - @)
is refused, since the PIN sheet written from it is opened in Excel;
``spreadsheet_cell`` neutralises such a cell on writing as well.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from crypto.credentials import MAX_NAME_LENGTH, is_valid_employee_id

MAX_ROWS = 100_000
MAX_DEPARTMENT_LENGTH = 200
ROLES = ("voter", "admin", "trustee", "auditor")
ENCODINGS = ("utf-8", "cp932")

#: The columns, in this order; each header cell may be any of its names
#: (compared after NFKC and lower-casing).
COLUMNS = ("employee_id", "name", "department", "role")
HEADER_NAMES = {
    "employee_id": ("employee_id", "職員番号", "職員id", "社員番号"),
    "name": ("name", "氏名", "名前"),
    "department": ("department", "所属", "部署"),
    "role": ("role", "役割"),
}

#: Control, format (bidirectional overrides, zero-width characters), surrogate
#: and line-separator characters: never part of a name, and PostgreSQL text
#: cannot even hold NUL.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})

#: Every message, in English and Japanese; ``{name}`` placeholders are filled from
#: the error's params. The page shows its own texts (messages.json, "roll.err.<code>").
MESSAGES: dict[str, tuple[str, str]] = {
    "encoding": (
        "the file is neither UTF-8 nor Shift_JIS (cp932) text: in Excel, save it as 'CSV UTF-8' or 'CSV'",
        "UTF-8 でも Shift_JIS (cp932) でもありません。Excel で「CSV UTF-8」または「CSV」として保存してください",
    ),
    "utf16": (
        "the file is UTF-16 ('Unicode text'): in Excel, save it as 'CSV UTF-8' or 'CSV'",
        "UTF-16（Unicode テキスト）のファイルです。Excel で「CSV UTF-8」または「CSV」として保存してください",
    ),
    "workbook": (
        "this is an Excel workbook (.xlsx), not CSV: in Excel, save it as 'CSV UTF-8' or 'CSV'",
        "Excel ブック (.xlsx) です。Excel で「CSV UTF-8」または「CSV」として保存してください",
    ),
    "csv": ("not CSV: {detail}", "CSV として読めません: {detail}"),
    "header": (
        "the first line must be the header {header} (or {header_ja})",
        "1 行目は見出し {header_ja}（または {header}）にしてください",
    ),
    "rows": ("more than {n} rows", "行数が上限（{n}）を超えています"),
    "fields": ("expected {width} fields, found {n}", "項目は {width} 個のはずですが、{n} 個あります"),
    "id": (
        "invalid employee id {id}: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        "職員番号 {id} の形式が正しくありません（英数字と . _ - で 64 文字以内、先頭は英数字）",
    ),
    "duplicate": (
        "employee {id} is already on the roll at line {first}",
        "職員番号 {id} は {first} 行目にもあります。1 人 1 行にしてください",
    ),
    "on_roll": (
        "employee {id} is already on the roll",
        "職員番号 {id} は既にこの選挙の名簿にあります",
    ),
    "lost_zeros": (
        "employee id {id} is shorter than the others ({width} digits): did Excel remove leading zeros? "
        "Format the column as text and type the ids again",
        "職員番号 {id} が他より短くなっています（{width} 桁）。Excel が先頭の 0 を消した可能性があります。"
        "列の書式を「文字列」にして入力し直してください",
    ),
    "name": (
        "the name must be 1 to {max} characters",
        "氏名は 1〜{max} 文字にしてください",
    ),
    "department": (
        "the department must be at most {max} characters",
        "所属は {max} 文字以内にしてください",
    ),
    "control": (
        "the {column} must not contain control or text-direction characters (U+{code})",
        "{column_ja}に制御文字や文字方向の制御文字 (U+{code}) は使えません",
    ),
    "private_use": (
        "the {column} contains a private-use character (外字, U+{code}) that other computers cannot show: "
        "use the standard character",
        "{column_ja}に外字 (U+{code}) があります。他のコンピューターでは表示できないため、通常の文字にしてください",
    ),
    "mixed_encoding": (
        "the file mixes encodings: lines {utf8_lines} are UTF-8, lines {other_lines} are not "
        "(a line added with another editor?): in Excel, save the whole file again as 'CSV UTF-8'",
        "文字コードが混在しています（{utf8_lines} 行目は UTF-8、{other_lines} 行目は別の文字コード）。"
        "Excel でファイル全体を「CSV UTF-8」として保存し直してください",
    ),
    "formula": (
        "the {column} must not start with {char}: a spreadsheet would run it as a formula "
        "(and no real name or department starts with a sign); remove the character",
        "{column_ja}の先頭に {char} は使えません（表計算ソフトが数式として実行します。"
        "実在の氏名や所属は記号で始まりません）。この文字を削除してください",
    ),
    "role": ("role must be one of {roles}, not {role}", "役割は {roles} のいずれかにしてください（{role} は不可）"),
    "role_column": (
        "this file has no role column: use the header employee_id,name,department",
        "このファイルに役割の列は使えません。見出しは 職員番号,氏名,所属 にしてください",
    ),
}

_COLUMN_JA = {"name": "氏名", "department": "所属"}

#: A cell starting with one of these is a formula to Excel and LibreOffice.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def is_formula(value: str) -> bool:
    """Whether a spreadsheet may take the cell for a formula: judged after NFKC,
    so full-width ＝＋－＠ (which Japanese spreadsheets may read as = + - @)
    count too."""
    return unicodedata.normalize("NFKC", value).startswith(FORMULA_STARTS)


def spreadsheet_cell(value: str) -> str:
    """A text cell as a spreadsheet shows it, never runs it: a leading ``'``
    before a formula start (for CSV files the project writes for Excel)."""
    return f"'{value}" if is_formula(value) else value


@dataclass(frozen=True)
class LineError:
    """One wrong line: ``code`` names the problem (a key of MESSAGES)."""

    line: int
    code: str
    params: dict = field(default_factory=dict)

    @property
    def message(self) -> str:
        return MESSAGES[self.code][0].format(**self.params)

    @property
    def message_ja(self) -> str:
        return MESSAGES[self.code][1].format(**self.params)

    def to_json(self) -> dict:
        return {"line": self.line, "code": self.code, "params": self.params, "error": self.message, "error_ja": self.message_ja}


@dataclass(frozen=True)
class RosterRow:
    line: int
    employee_id: str
    name: str
    department: str
    role: str = "voter"


@dataclass
class ParsedRoster:
    """What the file holds: rows are usable only when ``errors`` is empty."""

    rows: list[RosterRow]
    errors: list[LineError]
    encoding: str | None

    @property
    def ok(self) -> bool:
        return not self.errors

    def error_json(self) -> list[dict]:
        return [e.to_json() for e in self.errors]


def decode(data: bytes) -> tuple[str | None, str | None, LineError | None]:
    """(text, encoding, None), or (None, None, error): valid UTF-8 first, else cp932."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None, None, LineError(1, "utf16")
    if data.startswith(b"PK\x03\x04"):
        return None, None, LineError(1, "workbook")
    try:
        return data.decode("utf-8-sig"), "utf-8", None
    except UnicodeDecodeError as utf8_error:
        first_bad = utf8_error.start
    mixed = _mixed_encodings(data)
    if mixed is not None:
        return None, None, mixed
    try:
        text = data.decode("cp932")
    except UnicodeDecodeError:
        return None, None, LineError(data.count(b"\n", 0, first_bad) + 1, "encoding")
    # Python's cp932 maps a few undefined bytes to U+0080 and U+F8F0..U+F8F3: not Shift_JIS text.
    if any(ch == "\x80" or "\uf8f0" <= ch <= "\uf8f3" for ch in text):
        return None, None, LineError(data.count(b"\n", 0, first_bad) + 1, "encoding")
    return text, "cp932", None


def _mixed_encodings(data: bytes) -> LineError | None:
    """For a file that is not UTF-8 as a whole: if some line with non-ASCII
    bytes is UTF-8 text that cp932 could hold too (Japanese text, as Excel
    writes it either way), the file mixes encodings (no line is guessed). A
    short cp932 line can be valid UTF-8 by chance, but then it reads as
    characters cp932 does not have, and is not counted."""
    utf8_lines, other_lines = [], []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if line.isascii():
            continue
        try:
            line.decode("utf-8-sig" if number == 1 else "utf-8").encode("cp932")
        except (UnicodeDecodeError, UnicodeEncodeError):
            other_lines.append(number)
        else:
            utf8_lines.append(number)
    if not utf8_lines:
        return None

    def shown(numbers: list[int]) -> str:
        return ", ".join(map(str, numbers[:10])) + (", ..." if len(numbers) > 10 else "")

    return LineError(other_lines[0], "mixed_encoding", {"utf8_lines": shown(utf8_lines), "other_lines": shown(other_lines)})


def normalize_id(cell: str) -> str:
    """NFKC (full-width ０１２ and ＡＢＣ become ASCII), then surrounding spaces removed."""
    return unicodedata.normalize("NFKC", cell).strip()


def _header_columns(cells: list[str]) -> list[str] | None:
    """The column keys a header row names, or None if it is not a header."""
    keys = []
    for cell in cells:
        name = unicodedata.normalize("NFKC", cell).strip().lower().replace(" ", "_")
        key = next((k for k, names in HEADER_NAMES.items() if name in names), None)
        if key is None:
            return None
        keys.append(key)
    return keys


def _trimmed(record: list[str]) -> list[str]:
    """The cells without Excel's trailing empty columns."""
    cells = list(record)
    while cells and not cells[-1].strip():
        cells.pop()
    return cells


def _refused_character(text: str) -> tuple[str, str] | None:
    for ch in text:
        category = unicodedata.category(ch)
        if category in _REFUSED_CATEGORIES:
            return "control", f"{ord(ch):04X}"
        if category == "Co":
            return "private_use", f"{ord(ch):04X}"
    return None


def _shown(value: str) -> str:
    return repr(value[:40])


def parse(data: bytes, *, existing: Iterable[str] = (), with_role: bool = False) -> ParsedRoster:
    """Parse a roster (``with_role``: an optional role column, for `voting ca
    issue`) or a roll (a role column is refused). ``existing``: employee ids
    already on the roll, refused again. Never raises on bad input."""
    text, encoding, error = decode(data)
    if error is not None:
        return ParsedRoster([], [error], None)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[RosterRow] = []
    errors: list[LineError] = []
    allowed = COLUMNS if with_role else COLUMNS[:3]
    header_params = {"header": ",".join(allowed), "header_ja": ",".join(HEADER_NAMES[k][1] for k in allowed)}
    existing = set(existing)
    first_line: dict[str, int] = {}
    ids: list[tuple[int, str]] = []
    columns: list[str] | None = None
    end = 0
    try:
        for record in reader:
            line, end = end + 1, reader.line_num
            cells = _trimmed(record)
            if not cells:
                continue
            if columns is None:
                columns = _header_columns(cells)
                if columns == ["employee_id", "name", "department", "role"] and not with_role:
                    return ParsedRoster([], [LineError(line, "role_column")], encoding)
                if columns not in (list(allowed[:3]), list(allowed)):
                    return ParsedRoster([], [LineError(line, "header", header_params)], encoding)
                continue
            if len(rows) + len(errors) >= MAX_ROWS:
                errors.append(LineError(line, "rows", {"n": MAX_ROWS}))
                break
            if len(cells) > len(columns):
                errors.append(LineError(line, "fields", {"width": len(columns), "n": len(cells)}))
                continue
            cells += [""] * (len(allowed) - len(cells))
            employee_id = normalize_id(cells[0])
            name, department = cells[1].strip(), cells[2].strip()
            role = cells[3].strip().lower() if with_role else ""
            problems: list[LineError] = []
            if not is_valid_employee_id(employee_id):
                problems.append(LineError(line, "id", {"id": _shown(employee_id)}))
            elif employee_id in existing:
                problems.append(LineError(line, "on_roll", {"id": employee_id}))
            elif employee_id in first_line:
                problems.append(LineError(line, "duplicate", {"id": employee_id, "first": first_line[employee_id]}))
            if not name or len(name) > MAX_NAME_LENGTH:
                problems.append(LineError(line, "name", {"max": MAX_NAME_LENGTH}))
            if len(department) > MAX_DEPARTMENT_LENGTH:
                problems.append(LineError(line, "department", {"max": MAX_DEPARTMENT_LENGTH}))
            # The cells as written: strip() would remove U+2028 and U+001C..U+001F unseen.
            for column, value in (("name", cells[1]), ("department", cells[2])):
                bad = _refused_character(value)
                if bad:
                    problems.append(LineError(line, bad[0], {"column": column, "column_ja": _COLUMN_JA[column], "code": bad[1]}))
                elif is_formula(value.strip()):
                    char = repr(value.strip()[0])
                    problems.append(LineError(line, "formula", {"column": column, "column_ja": _COLUMN_JA[column], "char": char}))
            if with_role and role and role not in ROLES:
                problems.append(LineError(line, "role", {"roles": ", ".join(ROLES), "role": _shown(role)}))
            if is_valid_employee_id(employee_id):
                first_line.setdefault(employee_id, line)
                ids.append((line, employee_id))
            if problems:
                errors.extend(problems)
            else:
                rows.append(RosterRow(line, employee_id, name, department, role or "voter"))
    except csv.Error as exc:
        errors.append(LineError(end + 1, "csv", {"detail": str(exc)}))
    if columns is None:
        return ParsedRoster([], [LineError(1, "header", header_params)], encoding)
    errors.extend(_lost_zeros(ids, existing))
    errors.sort(key=lambda e: e.line)
    return ParsedRoster(rows, errors, encoding)


def _lost_zeros(ids: list[tuple[int, str]], existing: set[str]) -> list[LineError]:
    """All-digit ids shorter than the longest all-digit id (of the file and the
    roll): Excel drops the leading zeros of a number column, and the shortened id
    would never match the employee's certificate."""
    digits = [i for i in (*existing, *(i for _, i in ids)) if i.isascii() and i.isdigit()]
    if not digits:
        return []
    width = max(map(len, digits))
    return [
        LineError(line, "lost_zeros", {"id": i, "width": width})
        for line, i in ids
        if i.isascii() and i.isdigit() and len(i) < width
    ]

