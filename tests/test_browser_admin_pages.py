"""The administrator's pages in chromium in Japanese and
English, on an office screen and a 390 px phone:

1. closing, tallying and publishing ask first in a native <dialog> that says
   what cannot be undone (Cancel has the focus, Enter and Escape cancel); a
   voter's removal too; focus then moves to the action's result;
5. the admin list and the election page fit the phone;
7. the schedule is not shown as the coming voting period once voting is
   closed, and a status banner goes when the next step happens;
8. the create form's mistakes are words under each field (aria-invalid,
   aria-describedby, focus to the first), and the steps' "done" marks are
   words and symbols, not colour only.

Every state shown goes through ``Page.check`` (axe-core, the width, a
screenshot in test-artifacts/admin/)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.browser_support import Page, browser, cast, ceremony, decrypt, election, lang_size, pilot  # noqa: F401
from tests.support import manifest
from voting.client import Client


def admin(browser, pilot, lang: str, size: str, path: str) -> Page:
    p = Page(browser, pilot, lang=lang, size=size, area="admin")
    p.login_at(path, "A0001")
    return p


def focused(p: Page) -> dict:
    """What has the focus: its id, its text and whether it is inside an open dialog."""
    return p.page.evaluate(
        """() => { const el = document.activeElement;
            return {id: el.id, tag: el.tagName.toLowerCase(), text: (el.innerText || el.textContent || '').trim(),
                    value: el.value || '', in_dialog: Boolean(el.closest('dialog[open]'))}; }"""
    )


def status_of(pilot, election_id: str) -> str:
    with Client(pilot.url) as anyone:
        return anyone.status(election_id)["status"]


def badge_is(p: Page, status: str) -> None:
    p.page.wait_for_selector(f"[data-fact='status'] .badge:has-text('{p.t('status.' + status)}')")


def confirm_dialog(p: Page, action: str):
    """The confirmation for ``action``: open, modal, saying what cannot be undone, Cancel focused."""
    dialog = p.page.locator("dialog#confirm-dialog[open]")
    dialog.wait_for()
    assert p.page.evaluate("document.querySelector('dialog#confirm-dialog').matches(':modal')")
    text = dialog.inner_text()
    assert p.t(f"manage.confirm.{action}.title") in text and p.t(f"manage.confirm.{action}.text") in text
    now = focused(p)
    assert now["in_dialog"] and now["text"] == p.t("manage.confirm_cancel"), now
    return dialog


def acted(p: Page, action: str, status: str) -> None:
    """The action happened, and the focus is on its result."""
    badge_is(p, status)
    p.page.wait_for_selector("#manage-status:focus")
    assert focused(p)["text"] == p.t(f"manage.did.{action}")


# --- 1. irreversible actions ask first -----------------------------------------------------------


@pytest.mark.slow
def test_close_tally_and_publish_ask_first(pilot, browser, lang_size):
    lang, size = lang_size
    election_id = election(pilot, f"A-act-{lang}-{size}", "open")
    for voter, option in zip(("E0001", "E0002", "E0003", "E0004", "E0005"), ("o1", "o2", "o2", "o3", "o1"), strict=True):
        cast(pilot, election_id, voter, {"q1": [option]})
    p = admin(browser, pilot, lang, size, f"/admin/{election_id}")
    page = p.page
    try:
        close = page.locator("button[data-action='close']")
        close.wait_for(state="visible")
        page.wait_for_selector("button[data-action='close']:enabled")

        # One Enter on the button only asks; a second Enter is the focused Cancel.
        close.focus()
        page.keyboard.press("Enter")
        confirm_dialog(p, "close")
        p.check("confirm-close")
        page.keyboard.press("Enter")
        page.wait_for_selector("dialog#confirm-dialog[open]", state="detached")
        assert status_of(pilot, election_id) == "open"
        # Escape cancels too.
        close.click()
        confirm_dialog(p, "close")
        page.keyboard.press("Escape")
        page.wait_for_selector("dialog#confirm-dialog[open]", state="detached")
        assert status_of(pilot, election_id) == "open"
        assert focused(p)["text"] == p.t("manage.close")  # back on the button that asked
        # Confirmed: closed, and the focus is on what happened.
        close.click()
        confirm_dialog(p, "close").locator("button[value='confirm']").click()
        acted(p, "close", "closed")
        p.check("closed")

        decrypt(pilot, election_id)
        page.wait_for_selector("button[data-action='tally']:enabled", timeout=15_000)
        page.click("button[data-action='tally']")
        confirm_dialog(p, "tally")
        p.check("confirm-tally")
        page.locator("dialog#confirm-dialog button[value='confirm']").click()
        acted(p, "tally", "tallied")

        page.click("button[data-action='publish']")
        confirm_dialog(p, "publish")
        p.check("confirm-publish")
        page.locator("dialog#confirm-dialog button[value='confirm']").click()
        acted(p, "publish", "published")
        p.check("published")
    finally:
        p.close()


def test_removing_a_voter_asks_first_and_focuses_the_result(pilot, browser, lang_size):
    lang, size = lang_size
    election_id = election(pilot, f"A-remove-{lang}-{size}", "draft")
    p = admin(browser, pilot, lang, size, f"/admin/{election_id}")
    page = p.page
    try:
        remove = page.locator("#roll-entries button[data-remove='E0008']")
        remove.click()
        page.locator("#remove-dialog").wait_for(state="visible")
        now = focused(p)
        assert now["in_dialog"] and now["text"] == p.t("manage.roll_remove_cancel"), now
        assert p.t("manage.roll_remove_text", id="E0008", name="職員 E0008") in page.locator("#remove-dialog").inner_text()
        p.check("confirm-remove")
        page.keyboard.press("Escape")
        page.locator("#remove-dialog").wait_for(state="hidden")
        assert page.locator("#roll-entries tr").count() == 8
        remove.click()
        page.click("#remove-confirm")
        page.wait_for_selector("#manage-status:focus")
        assert focused(p)["text"] == p.t("manage.roll_removed", id="E0008", total=7)
        p.check("removed")
    finally:
        p.close()


# --- 5. the admin pages on a phone ---------------------------------------------------------------

LONG_ID = "A-fit-" + "municipal-staff-survey-on-remote-work-2026-ward-offices"


@pytest.mark.slow
def test_admin_pages_fit_a_phone(pilot, browser, lang_size):
    lang, size = lang_size
    draft = election(pilot, LONG_ID, "draft")
    published = election(pilot, "A-fit-published", "published")
    p = admin(browser, pilot, lang, size, "/admin")
    page = p.page
    try:
        page.wait_for_selector(f"#election-table a[href='/admin/{draft}']")
        page.wait_for_selector("#election-table tbody td:text-is('—')", state="detached")
        p.check("admin-list")
        p.goto("/admin/new")
        page.wait_for_selector("#create-form .question-editor")
        p.check("admin-new")
        p.goto(f"/admin/{draft}")
        page.wait_for_selector("#roll-table:visible")
        p.check("admin-election-draft")
        p.goto(f"/admin/{published}")
        badge_is(p, "published")
        p.check("admin-election-published")
    finally:
        p.close()


# --- 7. nothing stale -----------------------------------------------------------------------------


@pytest.mark.slow
def test_schedule_and_banners_follow_the_steps(pilot, browser, lang_size):
    lang, size = lang_size
    election_id = f"A-stale-{lang}-{size}"
    doc = manifest(election_id)
    # Opened yesterday with no closing time: ballots are taken now, and the election can be closed.
    doc["schedule"] = {"opens_at": (datetime.now(UTC) - timedelta(days=1)).replace(second=0, microsecond=0).isoformat()}
    election(pilot, election_id, "draft", doc=doc)
    p = admin(browser, pilot, lang, size, f"/admin/{election_id}")
    page = p.page
    schedule = page.locator("[data-fact='schedule']")
    ended = p.t("manage.schedule_past").split("{closes}")[1]  # the words after the period
    try:
        assert ended not in schedule.inner_text()
        page.click("button[data-action='ceremony/start']")
        page.wait_for_selector(f"#manage-status:has-text('{p.t('manage.did.ceremony/start')}')")
        p.check("ceremony-started")
        # The trustees finish on their own machines: the "ask the trustees" banner goes.
        ceremony(pilot, election_id)
        page.wait_for_selector("button[data-action='open']:enabled", timeout=15_000)
        page.wait_for_selector("#manage-status", state="hidden")
        page.click("button[data-action='open']")
        page.wait_for_selector(f"#manage-status:has-text('{p.t('manage.did.open')}')")
        assert ended not in schedule.inner_text()
        for voter, option in zip(("E0001", "E0002", "E0003", "E0004", "E0005"), ("o1", "o2", "o2", "o3", "o1"), strict=True):
            cast(pilot, election_id, voter, {"q1": [option]})
        open_text = schedule.inner_text()

        page.click("button[data-action='close']")
        page.locator("dialog#confirm-dialog button[value='confirm']").click()
        badge_is(p, "closed")
        # The period is a past fact now, on this page and when the page is loaded again.
        past = schedule.inner_text()
        assert past != open_text and ended in past, past
        page.wait_for_selector(f"#manage-status:has-text('{p.t('manage.did.close')}')")
        p.check("closed-schedule")
        # The "voting is closed, the trustees decrypt" banner goes once they have.
        decrypt(pilot, election_id)
        page.wait_for_selector("button[data-action='tally']:enabled", timeout=15_000)
        page.wait_for_selector("#manage-status", state="hidden")
        p.goto(f"/admin/{election_id}")
        badge_is(p, "closed")
        assert schedule.inner_text() == past
        # A "done" step says so in words and a symbol, the current one too; later ones neither.
        for step in ("draft", "key_ceremony", "open"):
            assert p.t("manage.step_done") in page.locator(f"#stepper li[data-step='{step}']").inner_text()
        assert p.t("manage.step_current") in page.locator("#stepper li[data-step='closed']").inner_text()
        for step in ("tallied", "published"):
            text = page.locator(f"#stepper li[data-step='{step}']").inner_text()
            assert p.t("manage.step_done") not in text and p.t("manage.step_current") not in text
    finally:
        p.close()


@pytest.mark.slow
def test_done_marks_after_each_step_in_the_page(pilot, browser, lang_size):
    """The stepper's marks as the server renders them, on a tallied election."""
    lang, size = lang_size
    election_id = election(pilot, "A-marks", "tallied")
    p = admin(browser, pilot, lang, size, f"/admin/{election_id}")
    page = p.page
    try:
        badge_is(p, "tallied")
        items = page.locator("#stepper li")
        for i, step in enumerate(("draft", "key_ceremony", "open", "closed", "tallied", "published")):
            text = items.nth(i).inner_text()
            assert (p.t("manage.step_done") in text) == (i < 4), (step, text)
            assert (p.t("manage.step_current") in text) == (step == "tallied"), (step, text)
        p.check("stepper-tallied")
    finally:
        p.close()


# --- 8. the create form's mistakes in words ------------------------------------------------------


def field_error(p: Page, selector: str) -> str:
    """The words tied to a field marked invalid (its aria-describedby's error element)."""
    return p.page.evaluate(
        """(selector) => {
            const input = document.querySelector(selector);
            if (input.getAttribute('aria-invalid') !== 'true') return null;
            const ids = (input.getAttribute('aria-describedby') || '').split(/\\s+/).filter(Boolean);
            const errors = ids.map((id) => document.getElementById(id)).filter((el) => el && el.classList.contains('field-error') && !el.hidden);
            return errors.map((el) => el.innerText.trim()).join(' ');
        }""",
        selector,
    )


@pytest.mark.slow
def test_create_form_mistakes_are_words_next_to_fields(pilot, browser, lang_size):
    lang, size = lang_size
    p = admin(browser, pilot, lang, size, "/admin/new")
    page = p.page
    try:
        page.wait_for_selector("#create-form .question-editor")
        page.click("#create-button")
        page.wait_for_selector("#election-id[aria-invalid='true']")
        assert focused(p)["id"] == "election-id"
        for selector in ("#election-id", "#title-ja", "#title-en", "#trustees"):
            assert field_error(p, selector) == p.t("create.err.required"), selector
        first_option = page.locator(".option-editor input[data-name='label-ja']").first
        assert field_error(p, f"#{first_option.get_attribute('id')}") == p.t("create.err.required")
        assert p.t("create.fix_fields", n=page.locator("[aria-invalid='true']").count()) in page.locator("#create-error").inner_text()
        p.check("create-required")

        page.fill("#election-id", "bad id!")
        page.fill("#threshold", "9")
        page.click("#create-button")
        page.wait_for_selector("#election-id:focus")
        assert field_error(p, "#election-id") == p.t("create.err.id_pattern")
        assert field_error(p, "#threshold") == p.t("create.err.range", min=2, max=5)
        p.check("create-pattern")

        # Everything filled but the limits: the words go under the maximum.
        page.fill("#election-id", f"A-new-{lang}-{size}")
        page.fill("#threshold", "2")
        for selector, value in (("#title-ja", "調査"), ("#title-en", "Survey"), ("#trustees", "T0001 T0002 T0003")):
            page.fill(selector, value)
        q1 = page.locator(".question-editor").first
        q1.locator("[data-name='text-ja']").fill("質問")
        q1.locator("[data-name='text-en']").fill("Question")
        for i in range(2):
            q1.locator(".option-editor").nth(i).locator("[data-name='label-ja']").fill(f"案{i}")
            q1.locator(".option-editor").nth(i).locator("[data-name='label-en']").fill(f"Option {i}")
        q1.locator("[data-name='max']").fill("3")
        page.click("#create-button")
        max_id = q1.locator("[data-name='max']").get_attribute("id")
        page.wait_for_selector(f"#{max_id}:focus")
        legend = q1.locator(".question-legend").inner_text()
        assert field_error(p, f"#{max_id}") == p.t("create.bad_limits", question=legend, options=2)
        assert not page.locator("[aria-invalid='true']:not(#" + max_id + ")").count()
        p.check("create-limits")

        # Put right: the words go, and the election is made.
        q1.locator("[data-name='max']").fill("1")
        page.click("#create-button")
        page.wait_for_url(f"**/admin/A-new-{lang}-{size}")
    finally:
        p.close()
