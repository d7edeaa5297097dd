"""Plurals: an English message may have a sibling "KEY#one" for a count of 1
("1 vote", not "1 votes"), picked by translate() here and by t() in the pages
(tests/js/i18n.test.mjs); every English count the pages show has one; the CLI
counts its nouns too. In the browser: a one-line roll on the election page,
and errorText() with the page's own catalogue.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.browser_support import VOTERS, Page, browser, election, lang_size, pilot, roll_csv  # noqa: F401
from voting.cli.common import plural
from voting.web.i18n import CATALOGUE, ONE, catalogue, translate

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
# Placeholders that are never 1 where a plural noun follows: limits.
NOT_A_COUNT = {"max", "width"}
NOUNS = ["ballots", "votes", "voters", "employees", "lines", "rows", "fields", "characters", "digits", "trustees", "witnesses", "entries", "heads", "signatures", "files", "choices", "options", "questions", "codes", "keys", "pages", "minutes", "seconds", "hours", "days", "times"]


def test_translate_picks_the_one_form_for_a_count_of_1():
    assert translate("en", "results.count", count=1) == "1 vote"
    assert translate("en", "results.count", count=2) == "2 votes"
    assert translate("en", "results.count", count=0) == "0 votes"
    assert translate("en", "manage.roll_rejected", n=1).startswith("1 line of the roll is wrong")
    assert translate("ja", "results.count", count=1) == translate("ja", "results.count", count=2).replace("2", "1")
    assert translate("en", "admin.none", count=1) == catalogue()["admin.none"]["en"]  # no "#one": the key itself


def test_every_one_form_has_its_key_and_the_same_placeholders():
    ones = [key for key in catalogue() if key.endswith(ONE)]
    assert len(ones) > 10
    for key in ones:
        base = catalogue()[key.removesuffix(ONE)]
        for lang in ("ja", "en"):
            assert set(_PLACEHOLDER.findall(catalogue()[key][lang])) == set(_PLACEHOLDER.findall(base[lang])), key
        assert catalogue()[key]["ja"] == base["ja"], f"{key}: Japanese has no plural, repeat {key.removesuffix(ONE)}'s text"


def test_a_one_form_without_its_key_is_refused(tmp_path, monkeypatch):
    from voting.web import i18n

    broken = json.loads(CATALOGUE.read_text(encoding="utf-8"))
    broken["nowhere.count#one"] = {"ja": "{count}件", "en": "{count} thing"}
    path = tmp_path / "messages.json"
    path.write_text(json.dumps(broken, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setattr(i18n, "CATALOGUE", path)
    i18n.catalogue.cache_clear()
    try:
        with pytest.raises(ValueError, match="nowhere.count"):
            i18n.catalogue()
    finally:
        monkeypatch.undo()
        i18n.catalogue.cache_clear()


def test_no_english_message_says_1_with_a_plural_noun():
    """A number followed by a plural noun is the {count} or {n} of a key with a
    "#one" form ("1 voters" is what the issue saw); any other number is reworded."""
    wrong = []
    for key, texts in catalogue().items():
        if key.endswith(ONE):
            continue
        for match in re.finditer(rf"\{{([a-z_]+)\}}\)? (?:\w+ )?({'|'.join(NOUNS)})\b", texts["en"]):
            name, noun = match.groups()
            if name not in NOT_A_COUNT and (name not in ("count", "n") or key + ONE not in catalogue()):
                wrong.append(f"{key}: {{{name}}} {noun}")
    assert not wrong, wrong


def test_the_cli_counts_its_nouns():
    assert plural(1, "ballot", "ballots") == "1 ballot"
    assert plural(0, "ballot", "ballots") == "0 ballots"
    assert plural(27, "board entry", "board entries") == "27 board entries"


def test_a_page_says_1_voter_and_no_english_detail_in_japanese(pilot, browser, lang_size):
    lang, size = lang_size
    election_id = election(pilot, f"e-plural-{lang}-{size}", "draft", voters=VOTERS[:1])
    s = Page(browser, pilot, lang=lang, size=size, area="language")
    page = s.page
    try:
        s.login_at(f"/admin/{election_id}", "A0001")
        one_line = pilot.data_dir / f"{election_id}-one.csv"
        one_line.write_text(roll_csv([VOTERS[1]]), encoding="utf-8")
        page.set_input_files("#roll-file", str(one_line))
        page.click("#roll-button")
        confirm = page.locator("#roll-confirm:visible")
        assert confirm.inner_text() == s.t("manage.roll_confirm", count=1)
        assert "voters" not in page.locator("#roll-preview-summary").inner_text()
        s.shot("roll-preview-one-voter")
        confirm.click()
        page.wait_for_selector(f"#manage-status:has-text('{s.t('manage.roll_added', added=1, total=2)}')")

        # The page's errorText(): an error code the catalogue lacks, with an English detail.
        shown = page.evaluate(
            """async () => (await import("/static/js/i18n.js")).errorText({code: "brand_new", detail: "The server said this in English"})"""
        )
        if lang == "ja":
            assert shown == s.t("error.generic", code="brand_new") and "English" not in shown
        else:
            assert shown == "The server said this in English"
    finally:
        s.close()
