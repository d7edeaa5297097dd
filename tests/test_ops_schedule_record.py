"""The record verifier (check 7) holds the board to the manifest's schedule:
a ballot or audit dated outside it fails, as the server would have refused it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.record_support import ELECTION, record_manifest
from voting.record.bench import synthesize
from voting.verify import verify_record


def _record(opens: timedelta, closes: timedelta) -> dict[str, bytes]:
    """A synthetic election (its entries dated now) with this schedule around now."""
    now = datetime.now(UTC)
    manifest = {
        **record_manifest(ELECTION, "last", 3),
        "schedule": {"opens_at": (now + opens).isoformat(), "closes_at": (now + closes).isoformat()},
    }
    return synthesize(3, manifest_doc=manifest, audits=1, workers=1).files


def test_a_board_within_the_schedule_passes():
    report = verify_record(_record(timedelta(hours=-1), timedelta(hours=1)), workers=1)
    assert report.check(7).status == "pass", report.check(7).failures


@pytest.mark.parametrize(
    ("opens", "closes"),
    [(timedelta(hours=-2), timedelta(hours=-1)), (timedelta(hours=1), timedelta(hours=2))],
    ids=["after-closes_at", "before-opens_at"],
)
def test_ballots_dated_outside_the_schedule_fail_check_7(opens, closes):
    report = verify_record(_record(opens, closes), workers=1)
    failures = report.check(7).failures
    assert not report.ok()
    assert any("(ballot) is dated" in f and "outside the schedule" in f for f in failures), failures
    assert any("(ballot-audited) is dated" in f for f in failures), failures
