"""Revoking an employee ends their open sessions, not only their next login."""

from __future__ import annotations

import pytest

from tests.http_support import changed_tables, start_pilot, two_question_manifest
from voting.client import ApiError


@pytest.mark.slow
def test_revoked_certificate_ends_an_open_session(pki, data_dir, database_url):
    pilot = start_pilot(pki, data_dir, database_url, crl_refresh_s="0")
    try:
        election_id = pilot.open_election(two_question_manifest("revoke-1"), ["E0001", "E0002"])
        credential = pki.enroll("E0001")
        voter = pilot.login(credential)
        prepared = voter.prepare_ballot(election_id, {"days": ["d1"]})
        pki.revoke(credential)

        before = pilot.snapshot()
        with pytest.raises(ApiError) as refused:
            voter.cast(prepared)
        assert (refused.value.status, refused.value.code) == (401, "certificate_revoked")
        # Only the session was ended; no ballot, no board entry.
        assert changed_tables(before, pilot.snapshot()) == ["sessions"]
        # The session is over for good, even if the CRL were later lost.
        pilot.refused(lambda: voter.get("/api/auth/me"), 401, "session_ended")
        # Another voter's session is unaffected.
        other = pilot.login(pki.enroll("E0002"))
        assert other.cast(other.prepare_ballot(election_id, {"days": ["d2"]}))["leaf_index"] > 0
    finally:
        pilot.stop()
