"""The receipt page and the receipt check page, in Japanese
and English, on an office screen and a phone (docs/web.md, "Checking a receipt").

- Item 2: a ballot that a later ballot replaced is not all green: a warning
  mark, "if you did not vote again, report it to the audit office", never the
  all-good summary; re-sending the old ballot from the ballot page returns its
  receipt marked superseded, and the receipt page says so.
- Item 3: a credential file, an audit file (without the noted code), an
  election record, a witness's state file, another JSON or no JSON at all is
  answered "this is a … file, not a receipt" in a neutral tone: no alert, no
  failed step, no split-view alarm.
- Items 1 and 8: the answer is in the summary (role=status), which gets the focus.
- Item 9: plain words first ("your ballot is on the board and was never
  removed"); the technical steps and values only inside <details>; every
  detail of a failure from the catalogue in the page's language.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.browser_support import PIN, Page, browser, cast, election, lang_size, pilot  # noqa: F401
from voting.client import Client

ELECTION = "c-receipts"
AREA = "receipt"
#: Words a voter is not asked to understand: only inside "Technical details".
TECHNICAL = ("署名付きツリーヘッド", "ツリーヘッド", "包含証明", "整合性証明", "tree head", "inclusion proof", "consistency proof")
#: One voter per language and size for the re-sent ballot (each is replaced once).
RESENDERS = {("ja", "desktop"): "E0003", ("ja", "phone"): "E0004", ("en", "desktop"): "E0005", ("en", "phone"): "E0006"}


@pytest.fixture(scope="module")
def files(pilot):
    """An open election where E0001 voted twice (the first ballot replaced)
    and E0002 audited a ballot; the files a voter might pick, saved."""
    election(pilot, ELECTION, "open")
    replaced = cast(pilot, ELECTION, "E0001", {"q1": ["o1"]})
    counted = cast(pilot, ELECTION, "E0001", {"q1": ["o2"]})
    with Client(pilot.url) as client:
        client.login(pilot.credentials["E0002"])
        audit = client.publish_audit(client.prepare_ballot(ELECTION, {"q1": ["o3"]}))
    docs = {
        "replaced": replaced,
        "counted": counted,
        "tampered": {**counted, "signature": counted["signature"][:-2] + ("00" if counted["signature"][-2:] != "00" else "11")},
        "audit": audit,
        "record": {"format": "votingpilot-election-record", "version": 1, "election_id": ELECTION},
        "witness": {"format": "votingpilot-witness-state", "version": 1, "name": "監査事務局", "private_key": "00" * 32},
        "other": {"hello": "world"},
    }
    paths = {name: pilot.data_dir / f"c-{name}.json" for name in docs}
    for name, doc in docs.items():
        paths[name].write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    paths["credential"] = pilot.files["E0007"]
    paths["not-json"] = pilot.data_dir / "c-not-json.json"
    paths["not-json"].write_text("receipt: no", encoding="utf-8")
    return {"docs": docs, "paths": paths}


def _short(page: Page, code: str) -> str:
    return page.page.evaluate("async (code) => (await import('/static/js/ballots.js')).shortCodeFromHex(code)", code)


def _check_file(p: Page, path) -> None:
    p.goto("/receipt/check")
    p.page.set_input_files("#receipt-file", str(path))
    p.page.click("#check-button")
    p.page.wait_for_selector("#check-summary[class*='result--']")


def _marks(p: Page, list_id: str, mark: str) -> list[str]:
    return p.page.locator(f"#{list_id} li:has(span.{mark})").evaluate_all("items => items.map((li) => li.lastChild.textContent)")


def _focused(p: Page) -> str:
    return p.page.evaluate("document.activeElement && document.activeElement.id")


def _visible_text(p: Page, selector: str) -> str:
    """What is rendered (a closed <details> shows only its summary)."""
    return p.page.locator(selector).inner_text()


def _plain_first(p: Page, selector: str) -> None:
    text = _visible_text(p, selector)
    for word in TECHNICAL:
        assert word.lower() not in text.lower(), f"{word!r} outside the technical details: {text}"
    assert not re.search(r"[0-9a-f]{64}", text), "a hex value outside the technical details"
    assert p.t("check.technical_details") in text


@pytest.mark.slow
def test_a_replaced_ballot_is_a_warning_not_a_pass(pilot, browser, files, lang_size):
    """Item 2 (and 1, 8, 9): the replaced ballot's check warns and tells the
    voter to report it if they did not vote again; the counted ballot's check
    is all good; both in plain words with the focus on the summary."""
    lang, size = lang_size
    p = Page(browser, pilot, lang=lang, size=size, area=AREA)
    try:
        replaced = files["docs"]["replaced"]
        _check_file(p, files["paths"]["replaced"])
        code = _short(p, replaced["tracking_code"])
        summary = p.page.locator("#check-summary")
        assert summary.inner_text() == p.t("check.superseded", code=code)
        assert "result--warn" in summary.get_attribute("class")
        assert _focused(p) == "check-summary"
        assert _marks(p, "check-plain", "warn") == [p.t("check.plain_superseded")]
        later = files["docs"]["counted"]  # the ballot that replaced it, checked on the board (review 14a)
        assert _marks(p, "check-results", "warn") == [
            p.t("check.step_superseded_verified", code=_short(p, later["tracking_code"]), index=later["leaf_index"])
        ]
        assert p.page.locator("#check-results .fail, #check-plain .fail").count() == 0
        assert p.page.locator("#check-error").is_hidden()
        _plain_first(p, "main")
        p.check("check-replaced")

        # The ballot that counts: all good, in plain words first.
        counted = files["docs"]["counted"]
        _check_file(p, files["paths"]["counted"])
        code = _short(p, counted["tracking_code"])
        assert summary.inner_text() == p.t("check.passed", code=code)
        assert "result--good" in summary.get_attribute("class")
        assert _focused(p) == "check-summary"
        assert _marks(p, "check-plain", "ok") == [
            p.t("check.plain_genuine"),
            p.t("check.plain_on_board", index=counted["leaf_index"]),
            p.t("check.plain_never_removed", size=p.page.evaluate("async (u) => (await (await fetch(u)).json()).size", f"/api/elections/{ELECTION}/board/head")),
        ]
        # "No later ballot" is the server's unsigned word: a note, never a ✓ (review 14a).
        assert _marks(p, "check-plain", "note") == [p.t("check.plain_none_reported"), p.t("check.plain_no_witnesses")]
        assert p.page.locator("#check-results").is_hidden(), "the technical steps wait inside <details>"
        _plain_first(p, "main")
        p.page.click("details.technical > summary")
        assert p.page.locator("#check-results .ok").count() == 5
        p.check("check-counted-details")

        # The receipt page of the replaced ballot says so at once, and its check warns too.
        p.goto(f"/vote/{ELECTION}/receipt?code={replaced['tracking_code']}")
        p.page.wait_for_selector("#receipt-superseded:visible")
        assert p.page.locator("#receipt-superseded").inner_text() == p.t("receipt.superseded")
        _plain_first(p, "#receipt")
        p.page.click("#receipt-check")
        p.page.wait_for_selector("#check-summary[class*='result--']")
        assert summary.inner_text() == p.t("check.superseded", code=_short(p, replaced["tracking_code"]))
        assert "result--warn" in summary.get_attribute("class")
        assert _focused(p) == "check-summary"
        assert p.page.locator("#check-results .fail").count() == 0
        p.check("receipt-replaced-checked")
    finally:
        p.close()


def test_resending_a_replaced_ballot_says_it_is_superseded(pilot, browser, files, lang_size):
    """Item 2: the ballot page sends ballot A; the reply is lost (503
    outcome_unknown) after the server recorded it, and meanwhile the same
    voter votes again (ballot B, from the Python client). The page resends A:
    the server returns A's receipt marked superseded, the page keeps the
    receipt (without the unsigned mark) and the receipt page warns."""
    lang, size = lang_size
    voter = RESENDERS[lang_size]
    p = Page(browser, pilot, lang=lang, size=size, area=AREA)
    later = Client(pilot.url)
    try:
        later.login(pilot.credentials[voter])
        p.login_at(f"/vote/{ELECTION}", voter)
        page = p.page
        page.wait_for_selector("#step-choose:visible")
        page.check("#q0-o1")
        page.fill("#ballot-pin", PIN)
        page.click("#encrypt-button")
        page.wait_for_selector("#step-review:visible")
        replies = []

        def lose_the_first_reply(route):
            reply = route.fetch()
            replies.append(reply.json())
            if len(replies) > 1:
                return route.fulfill(response=reply)
            later.cast(later.prepare_ballot(ELECTION, {"q1": ["o4"]}))  # the voter's later ballot
            route.fulfill(status=503, json={"code": "outcome_unknown", "detail": "send the same ballot again"})

        page.route(re.compile(r".*/api/elections/[^/]+/ballots/$"), lose_the_first_reply)
        page.click("#cast-button")
        page.wait_for_url(re.compile(r".*/receipt\?code=[0-9a-f]{64}$"))
        p.ready()
        assert "superseded" not in replies[0] and replies[1] == {**replies[0], "superseded": True}
        page.wait_for_selector("#receipt-superseded:visible")
        assert page.locator("#receipt-superseded").inner_text() == p.t("receipt.superseded")
        code = page.url.rsplit("=", 1)[1]
        kept = json.loads(page.evaluate("(code) => sessionStorage.getItem(`voting.receipt.${code}`)", code))
        assert kept == replies[0], "the receipt is kept without the unsigned mark"
        p.check("receipt-resent-superseded")
    finally:
        later.close()
        p.close()


WRONG_FILES = {  # the file chosen, and the answer
    "credential": "check.kind_credential",
    "record": "check.kind_record",
    "witness": "check.kind_witness",
    "other": "check.kind_unknown",
    "not-json": "check.not_json",
}


@pytest.mark.slow
def test_a_file_that_is_not_a_receipt_is_answered_without_alarm(pilot, browser, files, lang_size):
    """Item 3: each wrong file is named in the summary, in a neutral tone, with
    the focus on it: no alert, no failed step, no alarm. An audit file without
    the noted tracking code is "an audit file, not a receipt", the field says
    what is missing and gets the focus."""
    lang, size = lang_size
    p = Page(browser, pilot, lang=lang, size=size, area=AREA)
    try:
        summary = p.page.locator("#check-summary")
        for name, key in WRONG_FILES.items():
            _check_file(p, files["paths"][name])
            assert summary.inner_text() == p.t(key), name
            assert "result--note" in summary.get_attribute("class"), name
            assert _focused(p) == "check-summary", name
            assert p.page.locator("#check-error").is_hidden(), name
            assert p.page.locator("#split-view-alarm").is_hidden(), name
            assert p.page.locator(".fail").count() == 0, name
            assert p.page.locator("#check-plain").inner_text() == p.t("check.not_yet"), name
        p.check("check-not-a-receipt")

        _check_file(p, files["paths"]["audit"])
        assert summary.inner_text() == p.t("check.kind_audit")
        assert "result--note" in summary.get_attribute("class")
        assert _focused(p) == "audit-code-input"
        field = p.page.locator("#audit-code-input")
        assert field.get_attribute("aria-invalid") == "true"
        assert "audit-code-error" in field.get_attribute("aria-describedby")
        assert p.page.locator("#audit-code-error").inner_text() == p.t("check.audit_code_needed")
        assert p.page.locator("#check-error").is_hidden()
        assert p.page.locator(".fail").count() == 0
        p.check("check-audit-without-code")
    finally:
        p.close()


def test_a_failed_check_is_in_the_pages_language(pilot, browser, files, lang_size):
    """Items 6 and 9 on these pages: a receipt whose signature was changed
    fails with the catalogue's words for why, in the page's language (no
    English error text in a Japanese page), in plain words first."""
    lang, size = lang_size
    p = Page(browser, pilot, lang=lang, size=size, area=AREA)
    try:
        _check_file(p, files["paths"]["tampered"])
        summary = p.page.locator("#check-summary")
        assert summary.inner_text() == p.t("check.failed")
        assert "result--bad" in summary.get_attribute("class")
        assert _focused(p) == "check-summary"
        assert _marks(p, "check-plain", "fail") == [p.t("check.plain_not_genuine")]
        assert _marks(p, "check-results", "fail") == [p.t("check.step_receipt_bad", detail=p.t("check.why.receipt_invalid"))]
        p.page.click("details.technical > summary")
        if lang == "ja":
            text = p.page.locator("main").inner_text()
            assert not re.search(r"[A-Za-z]{3,} [A-Za-z]{3,}", text), text
        p.check("check-tampered")
    finally:
        p.close()
