"""The voter's pages (login, vote list, ballot), in Japanese
and English at an office screen and a phone size:

- item 4: a session that ends mid-vote says so with a login link back to the
  ballot, clears the header, and the choices come back after the re-login
  (kept in this tab's sessionStorage, for this election and employee only,
  never the PIN; gone after casting or logging out);
- item 7: a closed or published election never offers to vote again; an
  employee not on the roll is told before any ballot is shown; the "(N ms)"
  after encrypting includes fetching the election;
- item 9: in the review step the cast box comes first, the audit box is in
  plain words, the technical words and hex values only inside <details>;
- item 6: login and credential-file errors in the page's language.
"""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest

from tests.browser_support import (  # noqa: F401
    PIN,
    Page,
    browser,
    election,
    lang_size,
    pilot,
)
from tests.support import manifest

AREA = "voter"
HEX64 = re.compile(r"[0-9a-f]{64}")


def _vote_page(browser, pilot, lang_size, election_id: str, employee_id: str = "E0001") -> Page:
    lang, size = lang_size
    p = Page(browser, pilot, lang=lang, size=size, area=AREA)
    p.login_at(f"/vote/{election_id}", employee_id)
    p.page.wait_for_selector("#step-choose:visible")
    return p


def _storage(p: Page) -> dict:
    return p.page.evaluate("() => Object.fromEntries(Object.entries(sessionStorage))")


def _choices_kept(p: Page) -> dict:
    return {k: v for k, v in _storage(p).items() if k.startswith("voting.choices.")}


def _end_session_on_the_server(p: Page) -> None:
    """The session ends (as on expiry or a logout elsewhere) while the page still holds its token."""
    token = json.loads(p.page.evaluate("sessionStorage.getItem('voting.session')"))["session_token"]
    reply = httpx.post(p.pilot.url + "/api/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 200, reply.text


@pytest.mark.slow
def test_session_that_ends_mid_vote_keeps_the_choices(pilot, browser, lang_size):
    lang, size = lang_size
    election_id = election(pilot, f"b4-{lang}-{size}", "open", doc=manifest(f"b4-{lang}-{size}", max_selections=2, min_selections=0))
    p = _vote_page(browser, pilot, lang_size, election_id)
    page = p.page
    page.check("#q0-o1")
    page.check("#q0-o3")
    _end_session_on_the_server(p)
    page.fill("#ballot-pin", PIN)
    page.click("#encrypt-button")

    # Told, with a link back to this ballot; the header no longer names anyone.
    link = page.locator("#ballot-error a")
    link.wait_for()
    assert page.locator("#ballot-error").inner_text().startswith(p.t("error.code.session_ended"))
    assert link.get_attribute("href") == f"/login?next=%2Fvote%2F{election_id}"
    assert page.locator("#session-box").is_hidden()
    assert page.locator("#login-link").is_visible()
    assert page.evaluate("document.activeElement.id") == "ballot-error", "focus moves to the message"
    kept = _choices_kept(p)
    assert list(kept) == [f"voting.choices.{election_id}.E0001"], kept
    assert PIN not in json.dumps(_storage(p)), "the PIN is never stored"
    assert json.loads(kept[f"voting.choices.{election_id}.E0001"]) == {
        "election_id": election_id, "employee_id": "E0001", "choices": [[0, 1, 0, 1, 0]]
    }
    p.check("session-ended")

    # Logging in again brings the voter back to the ballot with the choices restored.
    link.click()
    p.ready()
    p.login("E0001", expect=f".*/vote/{election_id}$")
    page.wait_for_selector("#step-choose:visible")
    page.wait_for_selector("#ballot-status:visible")
    assert page.locator("#ballot-status").inner_text() == p.t("ballot.choices_restored")
    assert [page.is_checked(f"#q0-o{i}") for i in range(5)] == [False, True, False, True, False]
    assert _choices_kept(p) == {}, "used once, then forgotten"
    p.check("choices-restored")

    # Cast: nothing of the choices stays in the tab.
    page.fill("#ballot-pin", PIN)
    page.click("#encrypt-button")
    page.wait_for_selector("#step-review:visible")
    page.click("#cast-button")
    page.wait_for_url(re.compile(r".*/receipt\?code=.*"))
    p.ready()
    assert _choices_kept(p) == {}
    p.close()


@pytest.mark.slow
def test_choices_are_kept_for_that_employee_only_and_forgotten_at_logout(pilot, browser, lang_size):
    election_id = election(pilot, "b4-shared", "open")
    p = _vote_page(browser, pilot, lang_size, election_id, "E0006")
    page = p.page
    page.check("#q0-o4")
    _end_session_on_the_server(p)
    page.fill("#ballot-pin", PIN)
    page.click("#encrypt-button")
    page.locator("#ballot-error a").wait_for()
    assert list(_choices_kept(p)) == [f"voting.choices.{election_id}.E0006"]

    # Another employee logging in in this tab neither sees nor keeps them.
    p.goto(f"/login?next=/vote/{election_id}")
    p.login("E0007", expect=f".*/vote/{election_id}$")
    page.wait_for_selector("#step-choose:visible")
    assert not any(page.is_checked(f"#q0-o{i}") for i in range(5))
    assert _choices_kept(p) == {}

    # Kept while logged in elsewhere than the ballot, and gone after logging out.
    _end_session_on_the_server(p)
    page.check("#q0-o2")
    page.fill("#ballot-pin", PIN)
    page.click("#encrypt-button")
    page.locator("#ballot-error a").wait_for()
    assert list(_choices_kept(p)) == [f"voting.choices.{election_id}.E0007"]
    p.goto("/login?next=/vote")
    p.login("E0007", expect=r".*/vote$")
    assert list(_choices_kept(p)) == [f"voting.choices.{election_id}.E0007"]
    page.click("#logout-button")
    page.wait_for_url(re.compile(r".*/$"))
    p.ready()
    assert _choices_kept(p) == {} and "voting.session" not in _storage(p)
    p.close()


@pytest.mark.slow
def test_a_closed_or_published_election_never_offers_to_vote_again(pilot, browser, lang_size):
    lang, size = lang_size
    states = {state: election(pilot, f"b7-{state}", state) for state in ("closed", "published")}  # E0001 voted in both
    p = Page(browser, pilot, lang=lang, size=size, area=AREA)
    page = p.page
    p.login_at("/vote", "E0001")
    for election_id in states.values():
        item = page.locator("li.card", has=page.locator(".election-id", has_text=re.compile(f"^{election_id}$")))
        item.wait_for()
        text = item.inner_text()
        assert p.t("vote.voted") in text
        assert p.t("vote.voted_can_revote") not in text and p.t("vote.revote_link") not in text
    p.check("vote-list-closed-published")

    for state, election_id in states.items():
        p.goto(f"/vote/{election_id}")
        body = page.locator("main").inner_text()
        assert p.t("revote.last") not in body, "no 'you may vote again' once the election is closed"
        assert p.t("revote.last_past") in body
        p.check(f"ballot-{state}")
    p.close()


def test_an_employee_off_the_roll_is_told_before_the_ballot(pilot, browser, lang_size):
    lang, size = lang_size
    election_id = election(pilot, "b7-open", "open")
    p = Page(browser, pilot, lang=lang, size=size, area=AREA)
    page = p.page
    p.login_at(f"/vote/{election_id}", "E0099")
    page.wait_for_selector("#ballot-error:visible")
    assert page.locator("#ballot-error").inner_text() == p.t("ballot.not_on_roll")
    assert page.locator("#step-choose").count() == 0, "no ballot to fill"
    assert page.locator("#election-key").count() == 0
    p.check("off-roll")
    p.close()


def _encrypt(p: Page, option: int) -> None:
    p.page.check(f"#q0-o{option}")
    p.page.fill("#ballot-pin", PIN)
    p.page.click("#encrypt-button")
    p.page.wait_for_selector("#step-review:visible")


@pytest.mark.slow
def test_the_time_shown_includes_fetching_the_election(pilot, browser, lang_size):
    lang, size = lang_size
    election_id = election(pilot, "b7-open", "open")
    voter = {"ja-desktop": "E0002", "ja-phone": "E0003", "en-desktop": "E0004", "en-phone": "E0005"}[f"{lang}-{size}"]
    p = _vote_page(browser, pilot, lang_size, election_id, voter)

    def slow(route):  # the server takes 1.5 s to answer what the page fetches at "encrypt"
        time.sleep(1.5)
        route.continue_()

    p.page.route(re.compile(r".*/api/elections/[^/]+/voter$"), slow)
    _encrypt(p, 2)
    shown = p.page.locator("#ballot-status").inner_text()
    ms = int(re.search(r"(\d+)", shown.replace(",", "")).group(1))
    assert ms >= 1500, shown
    p.check("encrypted")
    p.close()


@pytest.mark.slow
def test_the_cast_box_comes_first_and_the_audit_box_is_in_plain_words(pilot, browser, lang_size):
    lang, size = lang_size
    election_id = election(pilot, "b9-open", "open")
    voter = {"ja-desktop": "E0002", "ja-phone": "E0003", "en-desktop": "E0004", "en-phone": "E0005"}[f"{lang}-{size}"]
    p = _vote_page(browser, pilot, lang_size, election_id, voter)
    page = p.page
    _encrypt(p, 1)
    first = page.evaluate(
        "document.querySelector('#cast-button').compareDocumentPosition(document.querySelector('#audit-button'))"
        " & Node.DOCUMENT_POSITION_FOLLOWING"
    )
    assert first, "the cast box comes before the audit box"
    technical = ["乱数", "randomness", "Benaloh", "opening"]
    review = page.locator("#step-review").inner_text()  # closed <details> are not in innerText
    assert not HEX64.search(review) and not any(word in review for word in technical), review
    details = page.locator("#audit-box details")
    assert details.locator("summary").inner_text() == p.t("ballot.technical_details")
    p.check("review")
    details.locator("summary").click()
    assert p.t("ballot.audit_technical") in details.inner_text()
    p.check("review-details")

    page.click("#audit-button")
    page.wait_for_selector("#step-audit:visible")
    audited = page.locator("#step-audit").inner_text()
    assert not HEX64.search(audited) and not any(word in audited for word in technical), audited
    p.check("audited")
    p.close()


def _bad_file(pilot, name: str, doc: dict):
    path = pilot.data_dir / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_login_errors_are_in_the_page_language(pilot, browser, lang_size):
    lang, size = lang_size
    good = json.loads(pilot.files["E0001"].read_text(encoding="utf-8"))
    cases = [
        (_bad_file(pilot, "receipt.json", {"election_id": "x", "tracking_code": "00"}), PIN, "login.not_credential", {}),
        (_bad_file(pilot, "v9.json", {**good, "version": 99}), PIN, "login.bad_file", {"code": "credential_invalid"}),
        (_bad_file(pilot, "short.json", {**good, "ciphertext": "AAAA"}), PIN, "login.bad_file", {"code": "credential_invalid"}),
        (pilot.files["E0001"], "999999", "login.wrong_pin", {}),
    ]
    p = Page(browser, pilot, lang=lang, size=size, area=AREA)
    page = p.page
    p.goto("/login")
    for number, (path, pin, key, params) in enumerate(cases):
        page.set_input_files("#credential-file", str(path))
        page.fill("#pin", pin)
        page.click("#login-button")
        page.wait_for_selector("#login-error:visible")
        text = page.locator("#login-error").inner_text()
        assert text == p.t(key, **params), text
        if lang == "ja":
            words = re.sub(r"(?i)pin|json", "", text.replace(params.get("code", "-"), ""))
            assert not re.search(r"[A-Za-z]{3,}", words), text
        p.check(f"login-error-{number}")
        page.evaluate("document.querySelector('#login-error').hidden = true")
    p.close()
