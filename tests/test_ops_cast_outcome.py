"""A cast whose commit fails: its outcome is unknown (the reply to COMMIT may
have been lost after the ballot was committed), so the server answers 503
``outcome_unknown`` (never "nothing was acknowledged"), and the client sends
the same ballot again by itself: one receipt, the ballot on the board once.

The fault is injected in the real server process: uvicorn serves
``create_faulty_app``, whose cast commits fail once when a test arms the fault
file ("after": commit, then lose the connection; "before": lose it without
committing).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.http_support import ADMIN, TRUSTEES, Pilot, board_entries, problem, two_question_manifest
from tests.support import ServerProcess, server_settings
from voting import client as client_module
from voting import operator
from voting.client import ApiError, Client

FAULT_ENV = "VOTING_TEST_COMMIT_FAULT"
CHOICES = {"days": ["d1"], "tools": []}


def create_faulty_app():
    """The service, with the cast's commit failing once when the fault file says so."""
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.ext.asyncio import AsyncSession

    from voting.app import create_app
    from voting.ballots.service import CastService

    fault_file = Path(os.environ.pop(FAULT_ENV))  # not a setting of the service
    append_all, commit = CastService._append_all, AsyncSession.commit

    async def marked_append_all(self, db, election_id, casts):
        db.info["cast"] = True
        return await append_all(self, db, election_id, casts)

    async def faulty_commit(self):
        fault = fault_file.read_text() if self.info.get("cast") and fault_file.exists() else ""
        if not fault:
            return await commit(self)
        fault_file.write_text("")  # once
        if fault == "after":
            await commit(self)
        raise OperationalError("COMMIT", None, ConnectionResetError("connection lost awaiting the reply"))

    CastService._append_all = marked_append_all
    AsyncSession.commit = faulty_commit
    return create_app()


@pytest.fixture
def faulty(pki, data_dir, database_url):
    """A pilot served by ``create_faulty_app``, and its fault file."""
    fault_file = data_dir / "commit-fault"
    settings, env = server_settings(data_dir, database_url)
    env[FAULT_ENV] = str(fault_file)
    operator.upgrade(settings)
    operator.add_role(settings, ADMIN, "admin")
    server = ServerProcess(settings, env, factory=f"{__name__}:create_faulty_app").start()
    admin = Client(server.url)
    pilot = Pilot(pki, data_dir, database_url, server, admin, {t: pki.enroll(t) for t in TRUSTEES})
    try:
        admin.login(pki.enroll(ADMIN))
        yield pilot, fault_file
    finally:
        pilot.stop()


def _ballots_on_board(pilot: Pilot, election_id: str, code: str) -> int:
    return sum(1 for e in board_entries(pilot.admin, election_id) if e["kind"] == "ballot" and e["body"]["tracking_code"] == code)


@pytest.mark.parametrize("fault", ["after", "before"])
def test_commit_fault_is_outcome_unknown_and_the_resent_ballot_is_recorded_once(faulty, fault):
    pilot, fault_file = faulty
    election_id = pilot.open_election(two_question_manifest(f"outcome-{fault}"), ["E0001"])
    voter = pilot.login(pilot.pki.enroll("E0001"))
    voter.register_credential(election_id)
    prepared = voter.prepare_ballot(election_id, CHOICES)
    code = prepared.tracking_code.hex()

    fault_file.write_text(fault)
    response = voter.http.post(f"/api/elections/{election_id}/ballots/", json=prepared.cast_body())
    assert problem(response) == (503, "outcome_unknown")
    assert response.json()["detail"] == "your ballot may or may not be recorded: send the same ballot again, it is safe"
    assert fault_file.read_text() == ""  # the fault fired
    assert _ballots_on_board(pilot, election_id, code) == (1 if fault == "after" else 0)

    receipt = voter.cast(prepared)  # the same ballot again: its receipt, recorded once
    assert receipt["tracking_code"] == code
    assert _ballots_on_board(pilot, election_id, code) == 1
    assert voter.cast(prepared) == receipt
    status = pilot.admin.status(election_id)
    assert (status["ballots_cast"], status["ballots_counted"]) == (1, 1)
    log = pilot.server.log_path.read_text()
    assert "Traceback" not in log and "outcome is unknown" in log


@pytest.mark.parametrize("fault", ["after", "before"])
def test_the_client_resends_by_itself(faulty, fault, monkeypatch):
    """The unmodified client's cast: the 503 is never shown, one receipt comes back."""
    pilot, fault_file = faulty
    monkeypatch.setattr(client_module, "CAST_RETRY_DELAYS_S", (0.05, 0.05))
    election_id = pilot.open_election(two_question_manifest(f"resend-{fault}", revote="single"), ["E0001"])
    voter = pilot.login(pilot.pki.enroll("E0001"))
    voter.register_credential(election_id)
    prepared = voter.prepare_ballot(election_id, CHOICES)

    fault_file.write_text(fault)
    receipt = voter.cast(prepared)
    assert fault_file.read_text() == ""
    assert receipt["tracking_code"] == prepared.tracking_code.hex()
    assert _ballots_on_board(pilot, election_id, prepared.tracking_code.hex()) == 1
    assert voter.get(f"/api/elections/{election_id}/ballots/{receipt['tracking_code']}")["receipt"] == receipt


def test_the_client_stops_resending_and_never_resends_a_refusal(faulty, monkeypatch):
    """A bounded number of resends; a refusal (409) is not resent."""
    pilot, fault_file = faulty
    monkeypatch.setattr(client_module, "CAST_RETRY_DELAYS_S", (0.01, 0.01))
    election_id = pilot.open_election(two_question_manifest("bounded", revote="single"), ["E0001"])
    voter = pilot.login(pilot.pki.enroll("E0001"))
    voter.register_credential(election_id)
    sent, failing = [], [True]
    original = voter.http.request

    def counting(method, path, **kwargs):
        if path.endswith("/ballots/"):
            sent.append(path)
            if failing:
                fault_file.write_text("before")  # every attempt fails
        return original(method, path, **kwargs)

    monkeypatch.setattr(voter.http, "request", counting)
    prepared = voter.prepare_ballot(election_id, CHOICES)
    with pytest.raises(ApiError) as refused:
        voter.cast(prepared)
    assert (refused.value.status, refused.value.code, len(sent)) == (503, "outcome_unknown", 3)

    failing.clear()
    voter.cast(prepared)
    other = voter.prepare_ballot(election_id, {"days": ["d2"], "tools": []})
    sent.clear()
    with pytest.raises(ApiError) as refused:
        voter.cast(other)
    assert (refused.value.code, len(sent)) == ("already_voted", 1)
