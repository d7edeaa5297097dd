"""The administrators' card enrollment page (/admin/enrollments) in chromium,
in Japanese and English, on an office screen and a 390 px phone: issue a code
(shown once, with its expiry), list the enrolled cards, revoke one after a
modal confirmation that asks for the reason; the enrolled card then no longer
logs in. Every state goes through ``Page.check`` (axe-core, the width, a
screenshot in test-artifacts/admin/)."""

from __future__ import annotations

import os
import re

import pytest

from tests.browser_support import Page, browser, lang_size, start_pilot  # noqa: F401
from tests.enrollment_support import anchors_file, make_external_ca
from voting.cli.enrollment import enroll_with
from voting.client import ApiError, Client


@pytest.fixture(scope="module")
def card_site(tmp_path_factory):
    """The browser tests' pilot, with an external CA as a second trust anchor."""
    root = tmp_path_factory.mktemp("cards")
    external = make_external_ca(root / "external")
    previous = os.environ.get("VOTING_TRUST_ANCHORS_FILE")
    os.environ["VOTING_TRUST_ANCHORS_FILE"] = str(anchors_file(root / "external" / "anchors.json", external))
    try:
        pilot = start_pilot(root / "data")
    finally:
        if previous is None:
            os.environ.pop("VOTING_TRUST_ANCHORS_FILE")
        else:
            os.environ["VOTING_TRUST_ANCHORS_FILE"] = previous
    try:
        yield pilot, external
    finally:
        pilot.server.stop()


def enrolled_card(pilot, external, employee_id: str):
    card = external.card_credential("P-256")
    with Client(pilot.url) as admin:
        admin.login(pilot.credentials["A0001"])
        code = admin.post("/api/admin/enrollment-codes", {"employee_id": employee_id})["code"]
    with Client(pilot.url) as holder:
        enroll_with(holder, card, employee_id=employee_id, code=code)
    return card


@pytest.mark.slow
def test_issue_a_code_list_and_revoke_a_card(card_site, browser, lang_size):
    pilot, external = card_site
    lang, size = lang_size
    employee = {"ja-desktop": "E0001", "ja-phone": "E0002", "en-desktop": "E0003", "en-phone": "E0004"}[f"{lang}-{size}"]
    card = enrolled_card(pilot, external, employee)
    p = Page(browser, pilot, lang=lang, size=size, area="admin")
    page = p.page
    try:
        # From the administrators' list.
        p.login_at("/admin", "A0001")
        page.click("a[href='/admin/enrollments']")
        page.wait_for_url(re.compile(r".*/admin/enrollments$"))
        p.ready()
        page.wait_for_selector("#cards-table:visible")
        assert p.t("cards.title") in page.title()
        row = page.locator("#cards-table tbody tr", has_text=employee)
        assert row.count() == 1 and p.t("cards.state_active") in row.inner_text()
        p.check("cards-list")

        # A wrong employee id is said in words; a good one gets its code, once.
        page.fill("#code-employee", "E 01")
        page.click("#code-button")
        page.wait_for_selector("#cards-error:visible")
        assert page.inner_text("#cards-error") == p.t("cards.bad_employee_id")
        page.fill("#code-employee", "Ｅ０１２３")  # full-width, as a Japanese IME types it
        page.click("#code-button")
        page.wait_for_selector("#code-result:focus")
        code = page.inner_text("#code-value")
        assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", code), code
        assert p.t("cards.code_for", id="E0123") in page.inner_text("#code-result")
        assert page.input_value("#code-employee") == ""
        p.check("cards-code")

        # Revoking asks first, in a modal dialog that needs a reason.
        row.get_by_role("button", name=p.t("cards.revoke_label", id=employee, card=card_fingerprint(card)[:16])).click()
        dialog = page.locator("dialog#revoke-dialog[open]")
        dialog.wait_for()
        assert page.evaluate("document.querySelector('dialog#revoke-dialog').matches(':modal')")
        assert employee in dialog.inner_text()
        p.check("cards-revoke-dialog")
        page.click("#revoke-confirm")  # no reason yet: the dialog stays
        assert dialog.is_visible()
        page.fill("#revoke-reason", "紛失 / lost")
        page.click("#revoke-confirm")
        page.wait_for_selector("#cards-status:focus")
        assert page.inner_text("#cards-status") == p.t("cards.revoked", id=employee)
        assert "紛失 / lost" in page.locator("#cards-table tbody tr", has_text=employee).inner_text()
        p.check("cards-revoked")
    finally:
        p.close()
    with pytest.raises(ApiError) as refused:
        Client(pilot.url).login(card)
    assert refused.value.code == "enrollment_revoked"


def card_fingerprint(card) -> str:
    from crypto.credentials import certificate_fingerprint

    return certificate_fingerprint(card.certificate)


@pytest.mark.slow
def test_the_page_is_for_administrators(card_site, browser):
    pilot, _ = card_site
    p = Page(browser, pilot, lang="en", area="admin")
    try:
        p.login_at("/admin/enrollments", "E0005")
        p.page.wait_for_selector("#cards-error:visible")
        assert p.page.inner_text("#cards-error") == p.t("admin.not_admin")
        assert not p.page.locator("#cards-table").is_visible()
    finally:
        p.close()
