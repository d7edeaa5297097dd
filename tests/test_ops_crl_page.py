"""The administrator's election page warns, in the page's language, well
before the CRL runs out (issue 13, item 2); Debian's chromium via Playwright."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.http_support import start_pilot, two_question_manifest
from tests.test_ops_crl import PIN, write_credential

CHROMIUM = Path("/usr/bin/chromium")
MESSAGES = json.loads((Path(__file__).resolve().parent.parent / "voting" / "web" / "messages.json").read_text(encoding="utf-8"))


@pytest.mark.browser
@pytest.mark.parametrize("warn_s", [str(8 * 86400), None], ids=["crl-expiring", "crl-fresh"])
@pytest.mark.slow
def test_the_admin_page_shows_the_crl_warning(pki, data_dir, database_url, tmp_path, warn_s):
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install -y chromium"
    from playwright.sync_api import sync_playwright

    settings = {"crl_warn_s": warn_s} if warn_s else {}
    pilot = start_pilot(pki, data_dir, database_url, **settings)
    try:
        election_id = pilot.create(two_question_manifest("crl-page"), ["E0001"])
        admin_file = tmp_path / "A0001.credential.json"
        write_credential(admin_file, pki, "A0001")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--headless", "--no-sandbox"])
            try:
                page = browser.new_context(locale="ja-JP").new_page()
                page.set_default_timeout(20_000)
                page.goto(pilot.url + "/admin")
                page.wait_for_selector("#login-form")
                page.set_input_files("#credential-file", str(admin_file))
                page.fill("#pin", PIN)
                page.click("#login-button")
                page.wait_for_url(re.compile(r".*/admin$"))
                page.goto(pilot.url + f"/admin/{election_id}")
                # Ready once the first status (with the session: the CRL state) is shown.
                page.wait_for_selector("body[data-ready]", state="attached")
                warning = page.locator("#crl-warning")
                if warn_s:
                    warning.wait_for(state="visible")
                    text = warning.inner_text()
                    assert MESSAGES["manage.crl_warning"]["ja"].split("{detail}")[0] in text
                    assert "expires at" in text
                else:
                    assert warning.is_hidden()
            finally:
                browser.close()
    finally:
        pilot.stop()
