"""The pages over real HTTP without a browser: the schedule's time,
the error page for an unknown address over real HTTP, and the CLI's word for a
re-sent ballot that a later one replaced."""

from __future__ import annotations

import json

import httpx
import pytest
from click.testing import CliRunner

from tests.browser_support import PIN, cast, election, msg, pilot  # noqa: F401
from voting.cli import main
from voting.client import Client
from voting.web.views import schedule


def test_the_schedule_says_jst_once_with_or_without_seconds():
    doc = {"manifest": {"schedule": {"opens_at": "2026-05-01T13:53:42+09:00", "closes_at": "2026-05-08T08:00:00Z"}}}
    assert schedule(doc) == {"opens": "2026-05-01 13:53:42 JST", "closes": "2026-05-08 17:00 JST"}
    assert schedule({"manifest": {"schedule": {"opens_at": "2026-05-01T09:30:00+09:00"}}}) == {"opens": "2026-05-01 09:30 JST", "closes": "—"}


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("path", ["/nope", "/vote/x/y/z", "/admin/a/b", "/audit/x/heads/more"])
@pytest.mark.slow
def test_an_unknown_page_is_the_error_page_in_the_readers_language(pilot, lang, path):
    reply = httpx.get(pilot.url + path, cookies={"lang": lang})
    assert reply.status_code == 404
    assert reply.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in reply.headers["content-security-policy"]
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["referrer-policy"] == "no-referrer"
    assert f'<html lang="{lang}"' in reply.text
    assert msg("error.page_not_found", lang) in reply.text
    assert "no such resource" not in reply.text


@pytest.mark.parametrize("path", ["/api/nope", "/api/elections/x/nope/more", "/static/js/nope.js", "/schema-assets/nope.js", "/metrics/nope"])
def test_an_unknown_api_address_keeps_the_json_problem(pilot, path):
    reply = httpx.get(pilot.url + path, cookies={"lang": "ja"})
    assert reply.status_code == 404
    assert reply.headers["content-type"].startswith("application/problem+json"), reply.headers["content-type"]
    assert reply.json()["code"] == "not_found"


def _vote(pilot, election_id: str, employee_id: str, receipt) -> str:
    result = CliRunner().invoke(
        main,
        ["vote", election_id, "--credential", str(pilot.files[employee_id]), "--trust-anchor", str(pilot.data_dir / "ca" / "root.pem"),
         "--choose", "q1=o1", "--yes", "--receipt", str(receipt), "--wait-witnesses", "0"],
        env={"VOTING_SERVER": pilot.url, "VOTING_PIN": PIN},
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_the_cli_says_when_a_resent_ballot_was_replaced(pilot, tmp_path, monkeypatch):
    election_id = election(pilot, "h-cli-superseded", "open")
    # A plain vote: no note.
    assert "replaced" not in _vote(pilot, election_id, "E0002", tmp_path / "plain.json")
    # The reply to the first sending is lost; meanwhile the voter votes again elsewhere; the
    # client's resend of the first ballot gets its old receipt back, marked superseded.
    real_send = Client._send_cast
    resent = []

    def lost_reply_then_revote(self, prepared):
        receipt = real_send(self, prepared)
        if not resent:
            resent.append(prepared)
            cast(pilot, election_id, "E0001", {"q1": ["o2"]})
            receipt = real_send(self, prepared)
            assert receipt.get("superseded") is True
        return receipt

    monkeypatch.setattr(Client, "_send_cast", lost_reply_then_revote)
    output = _vote(pilot, election_id, "E0001", tmp_path / "resent.json")
    # The replacement is checked on the board (the later ballot, signed with the voter's credential).
    assert "Warning: a later ballot of yours" in output
    assert "置き換えています" in output and "監査事務局" in output
    assert "superseded" not in json.loads((tmp_path / "resent.json").read_text())  # the saved receipt is the signed one
