"""The roll import over HTTP, on SQLite and PostgreSQL: the file's bytes as
Excel saved them (cp932) decoded by the server's one parser, a preview that
writes nothing, and the roll corrected (one voter removed) until voting opens,
with the board and the record right afterwards."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.http_support import board_entries, changed_tables, two_question_manifest
from voting.record import files as F
from voting.record.files import read_record_zip
from voting.verify import verify_record

DATA = Path(__file__).resolve().parent / "data"


def roll_of(pilot, election_id: str) -> list[tuple[str, str, str]]:
    doc = pilot.admin.get(f"/api/elections/{election_id}/roll")
    return [(e["employee_id"], e["name"], e["department"]) for e in doc["entries"]]


@pytest.mark.slow
def test_a_cp932_roll_is_previewed_then_imported_with_its_japanese_names(pilot):
    election_id = pilot.create(two_question_manifest("roster-cp932"), [])
    admin = pilot.admin
    data = (DATA / "roll_cp932.csv").read_bytes()

    before = pilot.snapshot()
    preview = admin.import_roll(election_id, data, dry_run=True)
    assert not changed_tables(before, pilot.snapshot()), "a preview writes nothing"
    assert (preview["dry_run"], preview["encoding"], preview["count"], preview["errors"], preview["total"]) == (True, "cp932", 3, [], 0)
    assert [(r["line"], r["employee_id"], r["name"]) for r in preview["rows"]] == [
        (2, "E0001", "山田\u3000太郎"), (3, "E0002", "佐藤 花子"), (4, "E0003", "髙橋 一郎"),
    ]

    assert admin.import_roll(election_id, data) == {"added": 3, "total": 3}
    assert roll_of(pilot, election_id) == [("E0001", "山田\u3000太郎", "総務課"), ("E0002", "佐藤 花子", "人事課"), ("E0003", "髙橋 一郎", "財政課")]

    # The same file again: the preview says which lines are already on the roll, and the import refuses them.
    again = admin.import_roll(election_id, data, dry_run=True)
    assert [(e["line"], e["code"]) for e in again["errors"]] == [(2, "on_roll"), (3, "on_roll"), (4, "on_roll")]
    assert again["errors"][0]["error_ja"] == "職員番号 E0001 は既にこの選挙の名簿にあります"
    pilot.refused(lambda: admin.import_roll(election_id, data), 422, "roll_invalid")


@pytest.mark.slow
def test_the_preview_reports_every_wrong_line_and_the_import_writes_nothing(pilot):
    election_id = pilot.create(two_question_manifest("roster-errors"), [])
    admin = pilot.admin
    for name, expected in (
        ("roll_lost_zeros.csv", [(3, "lost_zeros"), (5, "lost_zeros")]),
    ):
        data = (DATA / name).read_bytes()
        preview = admin.import_roll(election_id, data, dry_run=True)
        assert [(e["line"], e["code"]) for e in preview["errors"]] == expected
        assert "leading zeros" in preview["errors"][0]["error"]
        error = pilot.refused(lambda data=data: admin.import_roll(election_id, data), 422, "roll_invalid")
        assert [(e["line"], e["code"]) for e in error.body["errors"]] == expected
    for name in ("roll_utf8_bom.csv", "roll_trailing_columns.csv", "roll_fullwidth_ids.csv"):
        assert admin.import_roll(election_id, (DATA / name).read_bytes(), dry_run=True)["errors"] == [], name
    assert admin.import_roll(election_id, (DATA / "roll_fullwidth_ids.csv").read_bytes())["added"] == 3
    assert [e[0] for e in roll_of(pilot, election_id)] == ["01234", "E0001", "E0002"]
    # Neither UTF-8 nor cp932: refused, naming the encodings to use.
    error = pilot.refused(lambda: admin.import_roll(election_id, b"\xff\xfee\x00"), 422, "roll_invalid")
    assert "CSV UTF-8" in error.body["errors"][0]["error"]


@pytest.mark.slow
def test_the_roll_can_be_corrected_until_the_election_opens(pilot, pki):
    election_id = pilot.create(two_question_manifest("roster-fix"), [])
    admin = pilot.admin
    # The old page decoded cp932 as UTF-8: names arrived as mojibake and stayed.
    wrong = "employee_id,name,department\nE0001,\ufffd\ufffd \ufffd\ufffd,x\nE0002,佐藤 花子,人事課\nE0003,髙橋 一郎,財政課\n"
    assert admin.import_roll(election_id, wrong)["total"] == 3
    voter = pilot.login(pki.enroll("E0002"))
    pilot.refused(lambda: voter.remove_from_roll(election_id, "E0001"), 403, "not_admin")
    pilot.refused(lambda: admin.remove_from_roll(election_id, "E0099"), 404, "roll_entry_not_found")
    pilot.refused(lambda: voter.get(f"/api/elections/{election_id}/roll"), 403, "not_admin")

    size = len(board_entries(admin, election_id))
    assert admin.remove_from_roll(election_id, "E0001") == {"removed": "E0001", "total": 2}
    entries = board_entries(admin, election_id)
    assert len(entries) == size + 1
    assert entries[-1]["kind"] == "admin-action"
    assert entries[-1]["body"] == {"action": "roll-remove", "by": "A0001", "removed": 1}  # no employee on the public board
    # Now the right line goes in; E0002 is taken off as well, before the ceremony ends.
    assert admin.import_roll(election_id, (DATA / "roll_cp932.csv").read_bytes(), dry_run=True)["count"] == 1
    assert admin.import_roll(election_id, "employee_id,name,department\nE0001,山田 太郎,総務課\n")["total"] == 3
    pilot.ceremony(election_id)
    assert admin.remove_from_roll(election_id, "E0002")["total"] == 2
    admin.open(election_id)
    opened = [e for e in board_entries(admin, election_id) if e["kind"] == "election-opened"]
    assert opened[0]["body"]["roll_size"] == 2

    # Once open the roll is frozen: 409, nothing changed.
    error = pilot.refused(lambda: admin.remove_from_roll(election_id, "E0003"), 409, "wrong_state")
    assert error.body["election_status"] == "open"
    pilot.refused(lambda: admin.import_roll(election_id, "employee_id,name,department\nE0004,x,y\n"), 409, "wrong_state")
    pilot.refused(lambda: voter.get(f"/api/elections/{election_id}/voter"), 403, "not_on_roll")

    # A voter still on the roll votes; the record (auditors' part) verifies with the corrected roll.
    alice = pilot.login(pki.enroll("E0001"))
    ballot = alice.prepare_ballot(election_id, {"days": ["d1"], "tools": []})
    alice.cast(ballot)
    # The CA publishes a CRL after the last registration (X.509 times are whole seconds), as an audit needs.
    time.sleep(1.01 - time.time() % 1)
    pki.write_crl(now=datetime.now(UTC))
    response = httpx.get(f"{pilot.url}/api/elections/{election_id}/record/private", headers=admin.http.headers)
    assert response.status_code == 200, response.text
    files = read_record_zip(response.content)
    report = verify_record(files)
    assert report.ok(), [(c.number, c.failures) for c in report.checks if c.status == "fail"]
    assert sorted(r["employee_id"] for r in json.loads(files[F.ROLL])) == ["E0001", "E0003"]
