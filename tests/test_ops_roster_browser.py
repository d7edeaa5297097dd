"""The administrator page's roll import in chromium: the file's bytes go to the
server (a cp932 file from Excel shows its Japanese names, not mojibake), a
preview with every wrong line comes before anything is imported, and a voter is
removed after a native <dialog> confirmation. Runs as tests/test_browser.py does."""

from __future__ import annotations

import pytest

from tests.support import manifest
from tests.test_browser import TRUSTEES, Session, browser, pilot  # noqa: F401 - the module's fixtures
from tests.test_ops_roster import DATA
from voting.client import Client


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.slow
def test_the_roll_preview_import_and_removal_in_the_page(pilot, browser, lang):
    election_id = f"roster-page-{lang}"
    with Client(pilot.url) as admin:
        admin.login(pilot.credentials["A0001"])
        admin.create_election(manifest(election_id), list(TRUSTEES), 2)
    s = Session(browser, pilot, lang, "admin")
    page = s.page
    try:
        page.context.add_cookies([{"name": "lang", "value": lang, "url": pilot.url}])
        s.goto(f"/admin/{election_id}")
        s.login("A0001")
        if not page.url.endswith(f"/admin/{election_id}"):
            s.goto(f"/admin/{election_id}")
        page.wait_for_selector("#roll-none:visible")

        # Ids that lost their zeros: every wrong line, with the hint, and no import button.
        page.set_input_files("#roll-file", str(DATA / "roll_lost_zeros.csv"))
        page.click("#roll-button")
        page.wait_for_selector("#roll-report:visible")
        assert page.locator("#roll-errors tr").count() == 2
        assert s.t("roll.err.lost_zeros", id="42", width=5) in page.locator("#roll-errors").inner_text()
        assert not page.locator("#roll-confirm").is_visible()
        s.shot("roll-lost-zeros")

        # Excel's cp932: the preview shows the names as read; nothing is imported until confirmed.
        page.set_input_files("#roll-file", str(DATA / "roll_cp932.csv"))
        page.click("#roll-button")
        page.wait_for_selector("#roll-confirm:visible")
        assert not page.locator("#roll-report").is_visible()
        preview = page.locator("#roll-rows").inner_text()
        assert "髙橋 一郎" in preview and "山田\u3000太郎" in preview
        assert "Shift_JIS" in page.locator("#roll-preview-summary").inner_text()
        with Client(pilot.url) as anyone:
            assert anyone.status(election_id)["roll_size"] == 0
        s.shot("roll-preview")
        page.click("#roll-confirm")
        page.wait_for_selector(f"#manage-status:has-text('{s.t('manage.roll_added', added=3, total=3)}')")
        page.wait_for_selector("#roll-table:visible")
        assert page.locator("#roll-entries tr").count() == 3

        # Remove E0002, after the dialog says it cannot be undone; cancelling removes nothing.
        page.click("#roll-entries button[data-remove='E0002']")
        dialog = page.locator("#remove-dialog")
        dialog.wait_for(state="visible")
        assert s.t("manage.roll_remove_text", id="E0002", name="佐藤 花子") in dialog.inner_text()
        s.shot("roll-remove-dialog")
        dialog.locator("button[value='cancel']").click()
        dialog.wait_for(state="hidden")
        assert page.locator("#roll-entries tr").count() == 3
        page.click("#roll-entries button[data-remove='E0002']")
        dialog.wait_for(state="visible")
        page.click("#remove-confirm")
        page.wait_for_selector(f"#manage-status:has-text('{s.t('manage.roll_removed', id='E0002', total=2)}')")
        page.locator("#roll-entries button[data-remove='E0002']").wait_for(state="detached")  # no eval: the CSP forbids it
        assert page.locator("#roll-entries tr").count() == 2
        with Client(pilot.url) as anyone:
            assert anyone.status(election_id)["roll_size"] == 2
        s.shot("roll-removed")
    finally:
        s.close()
