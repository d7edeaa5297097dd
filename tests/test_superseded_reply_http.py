"""Issue 14, item 2, server side: re-sending a ballot that a later ballot of the
same voter replaced returns its receipt marked ``"superseded": true`` (over real
HTTP), a member outside the signed receipt that the Python client removes; the
ballot that counts comes back unmarked, and nothing is added either way."""

from __future__ import annotations

import pytest

from crypto.receipts import verify_receipt
from tests.http_support import start_pilot, two_question_manifest


@pytest.mark.slow
def test_a_resent_replaced_ballot_is_marked_superseded(pki, data_dir, database_url):
    pilot = start_pilot(pki, data_dir, database_url)
    try:
        voter = pilot.login(pki.enroll("E0001"))
        election_id = pilot.open_election(two_question_manifest("c-superseded", revote="last"), ["E0001", "E0002"])
        path = f"/api/elections/{election_id}/ballots/"
        first = voter.prepare_ballot(election_id, {"days": ["d0"], "tools": []})
        first_receipt = voter.cast(first)
        assert "superseded" not in voter.post(path, first.cast_body()), "a counted ballot resent is not marked"

        second = voter.prepare_ballot(election_id, {"days": ["d1"], "tools": ["s0"]})
        second_receipt = voter.cast(second)
        before = pilot.snapshot()
        reply = voter.post(path, first.cast_body())
        assert reply == {**first_receipt, "superseded": True}
        assert pilot.snapshot() == before, "a resend adds nothing"
        # The mark is not part of the receipt: without it the receipt verifies, with it it does not.
        verify_receipt({k: v for k, v in reply.items() if k != "superseded"})
        assert voter.cast(first) == first_receipt, "the Python client keeps the receipt without the mark"
        assert "superseded" not in voter.post(path, second.cast_body())

        # Closed: only resends get receipts, still marked.
        pilot.admin.close_election(election_id)
        assert voter.post(path, first.cast_body()) == {**first_receipt, "superseded": True}
        assert voter.post(path, second.cast_body()) == second_receipt
    finally:
        pilot.stop()
