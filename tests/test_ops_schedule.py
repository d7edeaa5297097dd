"""The manifest's schedule is enforced by the server: ballots (and published
audits) only from ``opens_at`` to before ``closes_at``, by the server's clock
when the cast is written; closing only at or after ``closes_at``; opening
before ``opens_at`` is allowed. Shown by ``voting election status``, the ballot
page and the admin page."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from crypto.credentials import seal_credential
from tests.http_support import ADMIN, TRUSTEES, Pilot, board_entries, two_question_manifest
from tests.support import ServerProcess, server_settings
from voting import operator
from voting.cli import main
from voting.client import Client
from voting.elections.schedule import shown

CLOCK_ENV = "VOTING_TEST_CLOCK"
CHOICES = {"days": ["d1"], "tools": []}


def scheduled(election_id: str, opens: datetime, closes: datetime) -> dict:
    return {**two_question_manifest(election_id), "schedule": {"opens_at": opens.isoformat(), "closes_at": closes.isoformat()}}


def voter_with_ballot(pilot: Pilot, election_id: str, employee_id: str):
    voter = pilot.login(pilot.pki.enroll(employee_id))
    voter.register_credential(election_id)  # before closes_at (before opens_at too)
    return voter, voter.prepare_ballot(election_id, CHOICES)


@pytest.mark.slow
def test_before_opens_at_casting_and_closing_are_refused(pilot):
    now = datetime.now(UTC).replace(microsecond=0)
    opens, closes = now + timedelta(days=1), now + timedelta(days=2)
    election_id = pilot.open_election(scheduled("early-2026", opens, closes), ["E0001"])  # opening early: allowed
    voter, prepared = voter_with_ballot(pilot, election_id, "E0001")

    error = pilot.refused(lambda: voter.cast(prepared), 409, "outside_schedule")
    assert "voting has not started" in error.detail and shown(opens) in error.detail
    error = pilot.refused(lambda: pilot.admin.close_election(election_id), 409, "outside_schedule")
    assert "cannot close before the scheduled end" in error.detail and shown(closes) in error.detail
    assert pilot.admin.status(election_id)["status"] == "open"

    # `voting vote` shows the period and stops before encrypting anything.
    credential = pilot.pki.enroll("E0001")
    sealed = seal_credential(credential.private_key, credential.chain, "246810", employee_id="E0001", name=credential.name, iterations=20_000)
    credential_file = pilot.data_dir / "E0001.credential.json"
    credential_file.write_text(json.dumps(sealed, ensure_ascii=False), encoding="utf-8")
    voted = CliRunner().invoke(
        main,
        ["vote", election_id, "--credential", str(credential_file), "--trust-anchor", str(pilot.pki.ca_dir / "root.pem"),
         "--server", pilot.url, "--choose", "days=d1", "--yes"],
        env={"VOTING_PIN": "246810", "COLUMNS": "200"},
    )
    assert voted.exit_code == 1 and "Traceback" not in voted.output, voted.output
    assert "受付期間" in voted.output and shown(opens) in voted.output and "Tracking code" not in voted.output
    assert pilot.admin.status(election_id)["ballots_cast"] == 0

    page = voter.http.get(f"/vote/{election_id}")  # the ballot page shows the period and why no ballot is accepted
    assert "受付期間" in page.text and 'id="outside-schedule"' in page.text
    admin_page = pilot.admin.http.get(f"/admin/{election_id}", headers={"Accept-Language": "en"})
    assert 'data-fact="schedule"' in admin_page.text


def create_clocked_app():
    """The service with its clocks (the board's, which decides the schedule, and
    the host's, which the status shows) read from a file: "<ISO time>" moves
    them everywhere, "write <ISO time>" only where a cast is written (after the
    checks made before the write passed on the real clock)."""
    import contextvars

    from voting.app import create_app
    from voting.ballots.service import CastService
    from voting.board.service import Board
    from voting.elections import schedule

    clock_file = Path(os.environ.pop(CLOCK_ENV))
    writing = contextvars.ContextVar("writing", default=False)
    real_now, append_all, board_now_ms = schedule.now, CastService._append_all, Board.now_ms

    async def marked_append_all(self, db, election_id, casts):
        token = writing.set(True)
        try:
            return await append_all(self, db, election_id, casts)
        finally:
            writing.reset(token)

    def moved() -> datetime | None:
        text = clock_file.read_text().strip() if clock_file.exists() else ""
        if text.startswith("write "):
            return datetime.fromisoformat(text.removeprefix("write ")) if writing.get() else None
        return datetime.fromisoformat(text) if text else None

    async def moved_board_now_ms(self, db):
        moment = moved()
        return int(moment.timestamp() * 1000) if moment else await board_now_ms(self, db)

    schedule.now = lambda: moved() or real_now()
    Board.now_ms = moved_board_now_ms
    CastService._append_all = marked_append_all
    return create_app()


@pytest.fixture
def clocked(pki, data_dir, database_url):
    clock_file = data_dir / "clock"
    settings, env = server_settings(data_dir, database_url)
    env[CLOCK_ENV] = str(clock_file)
    operator.upgrade(settings)
    operator.add_role(settings, ADMIN, "admin")
    server = ServerProcess(settings, env, factory=f"{__name__}:create_clocked_app").start()
    pilot = Pilot(pki, data_dir, database_url, server, Client(server.url), {t: pki.enroll(t) for t in TRUSTEES})
    try:
        pilot.admin.login(pki.enroll(ADMIN))
        yield pilot, clock_file
    finally:
        pilot.stop()


@pytest.mark.slow
def test_the_clock_is_read_when_the_cast_is_written_and_closing_waits_for_closes_at(clocked):
    pilot, clock = clocked
    now = datetime.now(UTC).replace(microsecond=0)
    closes = now + timedelta(hours=1)
    election_id = pilot.open_election(scheduled("window-2026", now - timedelta(hours=1), closes), ["E0001", "E0002"])
    (alice, alices), (bob, bobs) = (voter_with_ballot(pilot, election_id, e) for e in ("E0001", "E0002"))
    assert pilot.admin.status(election_id)["schedule"]["accepting_ballots"] is True
    receipt = alice.cast(alices)  # within the schedule
    pilot.refused(lambda: pilot.admin.close_election(election_id), 409, "outside_schedule")

    # Bob's cast passes the checks before the write; it is written a second after closes_at.
    clock.write_text(f"write {(closes + timedelta(seconds=1)).isoformat()}")
    error = pilot.refused(lambda: bob.cast(bobs), 409, "outside_schedule")
    assert "voting has ended" in error.detail
    assert alice.cast(alices) == receipt  # a resend of a stored ballot still gets its receipt

    clock.write_text(closes.isoformat())  # at closes_at exactly
    pilot.refused(lambda: bob.cast(bobs), 409, "outside_schedule")
    assert alice.cast(alices) == receipt
    pilot.admin.close_election(election_id)
    assert alice.cast(alices) == receipt  # closed: still the receipt of the stored ballot
    pilot.refused(lambda: bob.cast(bobs), 409, "wrong_state")
    assert pilot.admin.status(election_id)["ballots_cast"] == 1


@pytest.mark.slow
def test_a_cast_after_closes_at_is_refused_and_nothing_is_written(clocked):
    pilot, clock = clocked
    now = datetime.now(UTC).replace(microsecond=0)
    closes = now + timedelta(hours=1)
    election_id = pilot.open_election(scheduled("late-2026", now - timedelta(hours=1), closes), ["E0001"])
    voter, prepared = voter_with_ballot(pilot, election_id, "E0001")
    size = pilot.admin.status(election_id)["board_size"]
    clock.write_text((closes + timedelta(hours=1)).isoformat())

    error = pilot.refused(lambda: voter.cast(prepared), 409, "outside_schedule")
    assert "voting has ended" in error.detail and shown(closes) in error.detail
    assert datetime.fromisoformat(error.body["closes_at"]) == closes
    audited = voter.prepare_ballot(election_id, CHOICES)
    pilot.refused(lambda: voter.publish_audit(audited), 409, "outside_schedule")
    status = pilot.admin.status(election_id)
    assert status["board_size"] == size and status["ballots_cast"] == 0
    assert status["schedule"]["accepting_ballots"] is False

    shown_status = CliRunner().invoke(main, ["election", "status", election_id, "--server", pilot.url], env={"COLUMNS": "200"})
    assert shown_status.exit_code == 0, shown_status.output
    assert "受付期間" in shown_status.output and "not accepting ballots now" in shown_status.output
    assert shown(closes) in shown_status.output

    pilot.admin.close_election(election_id)  # after closes_at: allowed
    assert [e["kind"] for e in board_entries(pilot.admin, election_id) if e["kind"] == "ballot"] == []


@pytest.mark.slow
def test_registering_a_credential_at_closes_at_is_refused_by_the_boards_clock(clocked):
    """The attack: a voter (or a host whose clock ran fast) registered a voting
    credential after closes_at, dating the board past the close: every host
    then refused to write. Registering is refused at or after closes_at, by the
    board's clock, as a cast; the board is unchanged."""
    pilot, clock = clocked
    now = datetime.now(UTC).replace(microsecond=0)
    closes = now + timedelta(hours=1)
    election_id = pilot.open_election(scheduled("register-2026", now - timedelta(hours=1), closes), ["E0001", "E0002"])
    voter_with_ballot(pilot, election_id, "E0001")  # before closes_at: registered
    size = pilot.admin.status(election_id)["board_size"]
    late = pilot.login(pilot.pki.enroll("E0002"))
    clock.write_text(closes.isoformat())
    error = pilot.refused(lambda: late.register_credential(election_id), 409, "outside_schedule")
    assert "register a voting credential" in error.detail and "voting has ended" in error.detail
    assert pilot.admin.status(election_id)["board_size"] == size
