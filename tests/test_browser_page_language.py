"""The pages' language in chromium, both languages at both sizes:
no English exception text in a Japanese page (create-election refusals, the
receipt page), and the administrator's election page: commands and CSV columns
in <code>, the trustee page linked, "you may vote again" gone once voting ended."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from tests.browser_support import Page, browser, election, lang_size, pilot  # noqa: F401

ENGLISH_WORDS = re.compile(r"[A-Za-z]{4,}")


def admin(browser, pilot, lang: str, size: str, path: str) -> Page:
    p = Page(browser, pilot, lang=lang, size=size, area="language")
    p.login_at(path, "A0001")
    return p


@pytest.mark.slow
def test_admin_election_page_words(pilot, browser, lang_size):
    lang, size = lang_size
    draft = election(pilot, "H-draft", "draft")
    closed = election(pilot, "H-closed", "closed")
    live = election(pilot, f"H-open-{lang}-{size}", "open")
    p = admin(browser, pilot, lang, size, f"/admin/{draft}")
    page = p.page
    try:
        hint = page.locator("#trustees-hint")
        assert hint.locator("code").all_inner_texts() == ["voting trustee ceremony", "voting trustee decrypt"]
        assert hint.locator("a").get_attribute("href") == f"/trustee/{draft}"
        assert hint.locator("a").inner_text() == p.t("manage.trustee_page_link")
        assert page.locator("#roll-file-hint code").all_inner_texts() == (
            ["職員番号,氏名,所属", "employee_id,name,department"] if lang == "ja" else ["employee_id,name,department", "職員番号,氏名,所属"]
        )
        assert page.locator("#revote-policy").inner_text() == p.t("revote.last")
        p.check("admin-draft")

        p.goto(f"/admin/{closed}")
        assert page.locator("#revote-policy").inner_text() == p.t("revote.last_past")
        p.check("admin-closed")

        # Closed from the page: the policy's words change with the stage, without a reload.
        p.goto(f"/admin/{live}")
        assert page.locator("#revote-policy").inner_text() == p.t("revote.last")
        page.click("button[data-action='close']")
        page.locator("dialog#confirm-dialog button[value='confirm']").click()
        page.wait_for_selector(f"#revote-policy:has-text('{p.t('revote.last_past')}')")
    finally:
        p.close()


def test_a_refused_election_is_explained_in_the_pages_language(pilot, browser, lang_size):
    """The server refuses a witness with its own key (invalid_manifest, an English detail)."""
    lang, size = lang_size
    server_key = httpx.get(pilot.url + "/api/server-key").json()["server_key"]
    p = admin(browser, pilot, lang, size, "/admin/new")
    page = p.page
    try:
        page.wait_for_selector("#create-form .question-editor")
        page.fill("#election-id", f"H-refused-{lang}-{size}")
        for selector, value in (("#title-ja", "調査"), ("#title-en", "Survey"), ("#trustees", "T0001 T0002 T0003"), ("#threshold", "2")):
            page.fill(selector, value)
        q1 = page.locator(".question-editor").first
        q1.locator("[data-name='text-ja']").fill("質問")
        q1.locator("[data-name='text-en']").fill("Question")
        for i in range(2):
            q1.locator(".option-editor").nth(i).locator("[data-name='label-ja']").fill(f"案{i}")
            q1.locator(".option-editor").nth(i).locator("[data-name='label-en']").fill(f"Option {i}")
        page.fill("#witnesses", json.dumps({"name": "Server", "public_key": server_key}))
        page.click("#create-button")
        page.wait_for_selector("#witnesses-error:not([hidden])")
        error = page.locator("#create-error").inner_text()
        assert page.locator("#witnesses-error").inner_text() == p.t("create.witness_err_server_key")
        if lang == "ja":
            assert error == p.t("error.code.invalid_manifest"), error
            assert not ENGLISH_WORDS.search(error), error
        else:
            assert p.t("error.code.invalid_manifest") in error and "server" in error.lower(), error
        p.check("create-refused")
    finally:
        p.close()


@pytest.mark.slow
def test_a_broken_receipt_is_explained_in_the_pages_language(pilot, browser, lang_size):
    """A receipt kept in this tab that no longer reads (JSON.parse throws an English SyntaxError)."""
    lang, size = lang_size
    election_id = election(pilot, "H-receipt", "open")
    code = "ab" * 32
    p = Page(browser, pilot, lang=lang, size=size, area="language")
    page = p.page
    try:
        p.goto(f"/vote/{election_id}/receipt?code={code}")
        page.evaluate("(key) => sessionStorage.setItem(key, '{not json')", f"voting.receipt.{code}")
        page.reload()
        p.ready()
        page.wait_for_selector("#receipt-error:not(:empty)")
        text = page.locator("#receipt-error").inner_text()
        if lang == "ja":
            assert text == p.t("error.unknown"), text
        assert "JSON" not in text or lang == "en", text
        p.check("receipt-broken")
    finally:
        p.close()
