"""The bulletin board, the tree heads, the results and the
error page, in Japanese and English, on an office screen and a 390 px phone.

- item 5: the board and tree-head pages are no wider than the phone; the
  results chart's words render at 12 px or more;
- item 6: every board entry and administrative action in words (no raw
  "tally"); the error page's details in the page's language;
- item 8: the board's two pagers are distinct landmarks;
- item 1: focus moves to the result after "verify this page" and "verify heads".

Every page and state also gets Page.check(): axe-core, width, screenshot in
test-artifacts/audit/.
"""

from __future__ import annotations

import re

import pytest

from tests.browser_support import (  # noqa: F401
    MESSAGES,
    Page,
    browser,
    election,
    lang_size,
    pilot,
)

ELECTION = "D-audit-pages"


@pytest.fixture(scope="module")
def published(pilot):
    return election(pilot, ELECTION, "published")


@pytest.fixture
def page(published, browser, pilot, lang_size):
    lang, size = lang_size
    p = Page(browser, pilot, lang=lang, size=size, area="audit")
    yield p
    p.close()


@pytest.mark.slow
def test_board_and_heads_fit_the_screen(page):
    """Item 5: nothing wider than the viewport (the phone measured 545–664 px before)."""
    page.goto(f"/audit/{ELECTION}")
    assert page.overflow() == []
    page.check("board")
    page.page.locator("table.board details summary").first.click()  # an entry's JSON opened
    page.check("board-entry-open")
    page.goto(f"/audit/{ELECTION}/heads")
    assert page.overflow() == []
    page.check("heads")


def _rendered_font_sizes(page: Page, selector: str) -> list[tuple[str, float]]:
    """Each text's font size as drawn on screen (an SVG's text is scaled with its viewBox)."""
    return page.page.evaluate(
        """(selector) => {
            const out = [];
            for (const root of document.querySelectorAll(selector)) {
              const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
              for (let node = walker.nextNode(); node; node = walker.nextNode()) {
                const el = node.parentElement;
                if (!node.textContent.trim() || el.closest('title, desc, caption, [hidden]')) continue;
                const style = getComputedStyle(el);
                if (style.display === 'none' || style.visibility === 'hidden') continue;
                let size = parseFloat(style.fontSize);
                if (el instanceof SVGElement && el.ownerSVGElement) size *= el.getScreenCTM().a;
                out.push([node.textContent.trim(), size]);
              }
            }
            return out;
        }""",
        selector,
    )


def test_results_chart_words_are_legible(page):
    """Item 5: every label and figure of the chart renders at 12 px or more (about 8 px on a phone before)."""
    page.goto(f"/elections/{ELECTION}/results")
    sizes = _rendered_font_sizes(page, ".chart, .turnout")
    assert sizes, "no chart text"
    small = [(text, round(size, 1)) for text, size in sizes if size < 12]
    assert not small, f"text under 12 px: {small}"
    chart = page.page.locator(".chart").first.inner_text()
    assert page.t("results.count", count=2) in chart  # o2 has two votes
    assert page.t("results.count", count=1) in chart
    page.check("results")


def test_every_board_entry_and_action_in_words(page, pilot):
    """Item 6: the kind and summary of every entry in words; no action shown by its raw name."""
    page.goto(f"/audit/{ELECTION}")
    rows = page.page.evaluate(
        """() => [...document.querySelectorAll('table.board tbody tr')].map((tr) => ({
            kind: tr.cells[1].innerText.trim(),
            summary: tr.cells[3].querySelector('summary').innerText.trim(),
            json: JSON.parse(tr.cells[3].querySelector('pre').textContent)}))"""
    )
    assert len(rows) > 20
    for row in rows:
        assert row["kind"] != page.t("board.kind.other"), row
        assert row["json"]["kind"] not in row["kind"] + " " + row["summary"], row  # "admin-action", "joint-key"…
    admin = [row for row in rows if row["json"]["kind"] == "admin-action"]
    assert {row["json"]["body"]["action"] for row in admin} >= {"create", "roll-import", "key_ceremony", "tally"}
    for row in admin:
        action, by = row["json"]["body"]["action"], row["json"]["body"]["by"]
        words = row["summary"].replace(by, "")
        # Not the action's own name, nor one bare word: a phrase that says what was done, and who did it.
        assert not re.search(rf"(?<![\w-]){re.escape(action)}(?![\w-])", words), row
        assert page.t("board.sum_by", by=by) in row["summary"], row
        if page.lang == "ja":
            assert not re.search(r"[A-Za-z]", words), row
    tally = next(row for row in admin if row["json"]["body"]["action"] == "tally")
    assert tally["summary"].startswith(page.t("board.action.tally"))


#: Refusals rendered as the error page (the last two had no message of their own before).
ERRORS = (
    (f"/audit/no-such-{ELECTION}", "election_not_found"),
    ("/elections/bad%20id/results", "election_not_found"),
    (f"/audit/{ELECTION}?start=abc", "malformed_request"),
    ("/lang/fr", "language_not_found"),
)


def test_error_page_in_the_pages_language(page):
    """Item 6: the reason in the page's language (the server's English detail was shown in Japanese pages)."""
    for path, code in ERRORS:
        page.page.goto(page.pilot.url + path)
        main = page.page.locator("main").inner_text()
        assert code in main  # the code stays visible, for the help desk
        assert "no election" not in main and "no such" not in main, main  # the services' English details
        key = f"error.code.{code}"
        assert page.t(key if key in MESSAGES else "error.generic", code=code) in main
        if page.lang == "ja":
            assert not re.search(r"[A-Za-z]{3,}", main.replace(code, "")), main
        page.check(f"error-{code}")


def test_board_pagers_are_distinct_landmarks(page):
    """Item 8: the pagers above and below the table have their own names (axe landmark-unique)."""
    page.goto(f"/audit/{ELECTION}")
    names = page.page.eval_on_selector_all("nav.pager", "(navs) => navs.map((n) => n.getAttribute('aria-label'))")
    assert len(names) == 2 and len(set(names)) == 2 and all(names), names
    assert not [v for v in page.axe() if v["id"] == "landmark-unique"]


@pytest.mark.slow
def test_focus_moves_to_the_verification_result(page):
    """Item 1: after "verify this page" and "verify heads" focus is on the result, not the body."""
    page.goto(f"/audit/{ELECTION}")
    page.page.click("#verify-page")
    page.page.wait_for_selector("#verify-status:visible")
    page.page.wait_for_function("document.activeElement && document.activeElement.id === 'verify-status'")
    assert page.page.locator("td.check-cell.fail").count() == 0
    page.check("board-verified")
    page.goto(f"/audit/{ELECTION}/heads")
    page.page.click("#verify-heads")
    page.page.wait_for_selector("#heads-status:visible", timeout=30_000)
    page.page.wait_for_function("document.activeElement && document.activeElement.id === 'heads-status'")
    page.check("heads-verified")
