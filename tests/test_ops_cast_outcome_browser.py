"""The ballot page resends a cast whose outcome is unknown (a 503 after the
ballot was committed, its reply lost): one receipt, the ballot on the board
once; and when every resend fails it says so in the voter's language, and
pressing Cast again sends the same ballot. In chromium, through a relay that
plays the lost replies (tests/mitm_support.py)."""

from __future__ import annotations

import json
import re

import pytest

from tests.mitm_support import Mitm, Reply
from tests.test_browser import PIN, _open_survey, _voter, browser, msg, pilot  # noqa: F401 - fixtures
from voting.client import Client

LOST = {
    "type": "urn:voting-pilot:error:outcome_unknown", "title": "outcome unknown", "status": 503, "code": "outcome_unknown",
    "detail": "your ballot may or may not be recorded: send the same ballot again, it is safe",
}


def _lost_reply() -> Reply:
    return Reply(503, {"content-type": "application/problem+json"}, json.dumps(LOST).encode())


def _is_cast(request) -> bool:
    return request.method == "POST" and request.path.endswith("/ballots/")


def _ballots(pilot, election_id: str) -> list[str]:
    with Client(pilot.url) as client:
        entries = client.get(f"/api/elections/{election_id}/board/entries", start=0, limit=500)["entries"]
    return [e["body"]["tracking_code"] for e in entries if e["kind"] == "ballot"]


def _encrypt(s, election_id: str, base: str) -> None:
    page = s.page
    page.goto(f"{base}/vote/{election_id}")
    s.ready()
    page.check("#q0-o1")
    page.fill("#ballot-pin", PIN)
    page.click("#encrypt-button")
    page.wait_for_selector("#step-review:visible")


@pytest.mark.slow
def test_page_resends_a_ballot_whose_reply_was_lost(pilot, browser):
    election_id = "outcome-page"
    _open_survey(pilot, election_id)
    lost: list[bytes] = []

    def on_response(request, reply: Reply) -> Reply:
        if _is_cast(request) and not lost:  # committed by the server; the voter never sees its reply
            lost.append(reply.body)
            return _lost_reply()
        return reply

    with Mitm(pilot.url, on_response=on_response) as mitm:
        s = _voter(browser, pilot, "E0001", "en", mitm.url)
        _encrypt(s, election_id, mitm.url)
        s.page.click("#cast-button")
        s.page.wait_for_url(re.compile(rf".*/vote/{election_id}/receipt\?code=[0-9a-f]{{64}}$"))
        casts = [r for r in mitm.requests if _is_cast(r)]
        code = s.page.url.rsplit("=", 1)[1]
        s.close()
    assert len(casts) == 2 and casts[0].body == casts[1].body, "the very same ballot, sent again"
    assert json.loads(lost[0])["tracking_code"] == code
    assert _ballots(pilot, election_id) == [code], "recorded once"


@pytest.mark.slow
def test_page_says_so_when_every_resend_fails_and_cast_sends_the_same_ballot(pilot, browser):
    election_id = "outcome-page-down"
    _open_survey(pilot, election_id)
    down = [True]

    def on_request(request) -> Reply | None:
        return _lost_reply() if _is_cast(request) and down else None

    with Mitm(pilot.url, on_request=on_request) as mitm:
        s = _voter(browser, pilot, "E0002", "ja", mitm.url)
        _encrypt(s, election_id, mitm.url)
        s.page.click("#cast-button")
        error = s.page.locator("#ballot-error")
        error.wait_for(state="visible", timeout=30_000)
        s.page.wait_for_function("document.querySelector('#ballot-error').textContent.length > 0", timeout=30_000)
        assert error.inner_text() == msg("error.code.outcome_unknown", "ja")
        tries = [r for r in mitm.requests if _is_cast(r)]
        assert len(tries) == 5 and len({r.body for r in tries}) == 1
        assert _ballots(pilot, election_id) == []

        down.clear()
        s.page.click("#cast-button")
        s.page.wait_for_url(re.compile(rf".*/vote/{election_id}/receipt\?code=[0-9a-f]{{64}}$"))
        code = s.page.url.rsplit("=", 1)[1]
        again = [r for r in mitm.requests if _is_cast(r)][5:]
        s.close()
    assert len(again) == 1 and again[0].body == tries[0].body
    assert _ballots(pilot, election_id) == [code]
