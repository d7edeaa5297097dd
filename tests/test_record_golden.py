"""The golden record: a small complete election record committed under
``tests/data/golden-record/`` (made once by ``tests/data/gen_golden_record.py``)
and the report the verifier gave for it, committed beside it. Verifying the
committed files must give that report again, check by check, so a change of
the record format or of the verifier that would reject (or read differently)
records already published fails here, in a second.

Its certificates expire (employees' after three years), but the verifier never
judges a certificate at today's date: every chain is verified at the time of
the board entry that used it (the registration, the announcement, the
endorsement of the joint key) and against CRLs issued after that time, so the
record keeps verifying after its certificates expire.
"""

from __future__ import annotations

import json

from click.testing import CliRunner
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from tests.data.gen_golden_record import RECORD_DIR, REPORT, expected_report
from voting.cli import main
from voting.record import files as F
from voting.record.files import read_record
from voting.verify import verify_record


def test_the_golden_record_gives_its_committed_report():
    expected = json.loads(REPORT.read_text(encoding="utf-8"))
    report = verify_record(read_record(RECORD_DIR), workers=1)
    assert expected_report(report.to_json()) == expected
    assert report.ok(strict=True)


def test_voting_verify_gives_the_committed_report_and_exit_status_0():
    expected = json.loads(REPORT.read_text(encoding="utf-8"))
    result = CliRunner().invoke(main, ["verify", str(RECORD_DIR), "--json", "--strict"])
    assert result.exit_code == 0, result.output
    assert expected_report(json.loads(result.stdout)) == expected


def test_a_changed_byte_of_the_golden_record_fails():
    """The comparison above is not vacuous: the same record with one ballot's
    tracking code changed no longer gives the committed report."""
    files = read_record(RECORD_DIR)
    files["ballots.json"] = files["ballots.json"].replace(b'"tracking_code": "', b'"tracking_code": "0', 1)
    report = verify_record(files, workers=1)
    assert not report.ok()
    assert expected_report(report.to_json()) != json.loads(REPORT.read_text(encoding="utf-8"))


def test_every_file_of_the_golden_record_matches_its_published_schema():
    """The JSON Schemas published for the record still accept a record made before them."""
    schemas = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in F.SCHEMA_DIR.glob("*.schema.json")}
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas.values())
    files = read_record(RECORD_DIR)
    assert set(files) == set(F.ALL_FILES)
    for name, data in files.items():
        validator = Draft202012Validator(schemas[F.SCHEMAS[name]], registry=registry)
        docs = [json.loads(line) for line in data.splitlines()] if name == F.BOARD else [json.loads(data)]
        for doc in docs:
            errors = [f"{name} {list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
            assert not errors, errors[:5]
