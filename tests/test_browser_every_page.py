"""Issue 14's acceptance sweep: every page and state, in Japanese and English,
on an office screen and a 390 px phone, gets Page.check() — axe-core with no
violation, nothing wider than the viewport, a screenshot in
test-artifacts/every-page/.

One test per area (public pages, voter, administrator, auditor, trustee) and
language/size, so that a failure names its area. Within a test every page is
visited even after one fails: the failure lists them all.
"""

from __future__ import annotations

import json

import pytest

from tests.browser_support import (  # noqa: F401
    OFF_ROLL,
    PIN,
    STATES,
    Page,
    browser,
    cast,
    election,
    lang_size,
    pilot,
)

#: One election per state, made once by the Python client.
ELECTIONS = {state: f"D-every-{state}" for state in STATES}
#: The voter who casts in the browser, one per language and size (none of them voted before).
VOTER = {("ja", "desktop"): "E0006", ("ja", "phone"): "E0007", ("en", "desktop"): "E0008", ("en", "phone"): "E0005"}


@pytest.fixture(scope="module")
def elections(pilot):
    """Every state, and a receipt (cast by the Python client in the open election) for the check page."""
    for state, election_id in ELECTIONS.items():
        election(pilot, election_id, state)
    receipt = cast(pilot, ELECTIONS["open"], "E0001", {"q1": ["o2"]})
    path = pilot.data_dir / "D-every-receipt.json"
    path.write_text(json.dumps(receipt), encoding="utf-8")
    tampered = pilot.data_dir / "D-every-receipt-tampered.json"
    tampered.write_text(json.dumps({**receipt, "leaf_index": receipt["leaf_index"] + 1}), encoding="utf-8")
    return {"receipt": path, "tampered": tampered, "code": receipt["tracking_code"]}


class Sweep:
    """A Page whose checks are gathered rather than raised, so one run lists every failing page."""

    def __init__(self, browser, pilot, lang: str, size: str) -> None:
        self.page = Page(browser, pilot, lang=lang, size=size, area="every-page")
        self.failures: list[str] = []

    def visit(self, name: str, path: str | None = None, *, wait: str | None = None, then=None) -> None:
        """Go to ``path`` (or stay), wait for ``wait``, do ``then()``, and check the page as it is."""
        p = self.page
        try:
            if path is not None:
                p.goto(path)
            if then is not None:
                then(p.page)
            if wait is not None:
                p.page.wait_for_selector(wait)
            p.check(name)
        except Exception as exc:  # noqa: BLE001 — every page is tried; the test fails at the end with all of them
            self.failures.append(f"{name} [{p.lang}, {p.size}] {path or ''}: {str(exc).splitlines()[0] if not isinstance(exc, AssertionError) else exc}")

    def login(self, path: str, employee_id: str) -> bool:
        try:
            self.page.login_at(path, employee_id)
            return True
        except Exception as exc:  # noqa: BLE001
            self.failures.append(f"login of {employee_id} at {path} [{self.page.lang}, {self.page.size}]: {str(exc).splitlines()[0]}")
            return False

    def finish(self) -> None:
        try:
            self.page.close()
        except AssertionError as exc:
            self.failures.append(f"console [{self.page.lang}, {self.page.size}]: {exc}")
        assert not self.failures, "\n\n".join(self.failures)


@pytest.fixture
def sweep(elections, browser, pilot, lang_size):
    s = Sweep(browser, pilot, *lang_size)
    yield s
    s.finish()


@pytest.mark.slow
def test_public_pages(sweep, elections):
    s = sweep
    s.visit("home", "/")
    s.visit("login", "/login")
    s.visit(
        "login-wrong-pin",
        "/login",
        then=lambda page: (
            page.set_input_files("#credential-file", str(s.page.pilot.files["E0002"])),
            page.fill("#pin", "000000"),
            page.click("#login-button"),
        ),
        wait="#login-error:visible",
    )
    s.visit("receipt-check", "/receipt/check")
    for name, file in (("receipt-check-good", elections["receipt"]), ("receipt-check-tampered", elections["tampered"])):
        s.visit(
            name,
            "/receipt/check",
            then=lambda page, file=file: (page.set_input_files("#receipt-file", str(file)), page.click("#check-button")),
            wait="#check-summary.result--good" if name.endswith("good") else "#check-summary.result--bad",
        )
    s.visit(
        "receipt-check-credential-file",
        "/receipt/check",
        then=lambda page: (page.set_input_files("#receipt-file", str(s.page.pilot.files["E0002"])), page.click("#check-button")),
        wait="#check-error:visible, #check-summary:not(:empty)",
    )
    for state in ("open", "tallied", "published"):
        s.visit(f"results-{state}", f"/elections/{ELECTIONS[state]}/results")
    s.visit("audit-home", "/audit")
    s.visit("error-not-found", "/audit/no-such-election")
    s.visit("error-malformed", f"/audit/{ELECTIONS['open']}?start=abc")


@pytest.mark.slow
def test_voter_pages(sweep, elections):
    s = sweep
    p = s.page
    voter = VOTER[(p.lang, p.size)]
    if s.login("/vote", voter):
        s.visit("vote-list", wait=f"a[href='/vote/{ELECTIONS['open']}']")
        s.visit("ballot", f"/vote/{ELECTIONS['open']}", wait="#step-choose:visible")
        s.visit("ballot-refused", then=lambda page: page.click("#encrypt-button"), wait="#q0-error:visible")
        s.visit(
            "ballot-review",
            then=lambda page: (page.check("#q0-o1"), page.fill("#ballot-pin", PIN), page.click("#encrypt-button")),
            wait="#step-review:visible",
        )
        s.visit("ballot-audited", then=lambda page: page.click("#audit-button"), wait="#step-audit:visible")
        s.visit(
            "ballot-review-again",
            then=lambda page: (page.click("#new-ballot-button"), page.wait_for_selector("#step-choose:visible"), page.click("#encrypt-button")),
            wait="#step-review:visible",
        )
        s.visit("receipt", then=lambda page: page.click("#cast-button"), wait="#receipt:visible")
        s.visit("receipt-print", then=lambda page: page.emulate_media(media="print"))
        p.page.emulate_media(media="screen")
        s.visit("receipt-checked", then=lambda page: page.click("#receipt-check"), wait="#check-summary.result--good")
        s.visit("ballot-closed", f"/vote/{ELECTIONS['closed']}")
        s.visit("ballot-published", f"/vote/{ELECTIONS['published']}")


def test_off_roll_voter(sweep):
    s = sweep
    if s.login(f"/vote/{ELECTIONS['open']}", OFF_ROLL):
        s.visit("ballot-off-roll", wait="[role='alert']:visible, .notice:visible")
        s.visit("vote-list-empty", "/vote")


@pytest.mark.slow
def test_admin_pages(sweep):
    s = sweep
    p = s.page
    if s.login("/admin", "A0001"):
        s.visit("admin-list", wait=f"a[href='/admin/{ELECTIONS['open']}']")
        s.visit("admin-new", "/admin/new")
        s.visit("admin-new-refused", then=lambda page: page.click("#create-form [type='submit']"), wait="[aria-invalid='true']")
        s.visit("admin-enrollments", "/admin/enrollments", wait="#cards-none:visible, #cards-table:visible")
        for state, election_id in ELECTIONS.items():
            s.visit(f"admin-election-{state}", f"/admin/{election_id}", wait="[data-fact='status'] .badge")
        # The confirmation asked before closing (nothing is closed: Escape cancels).
        s.visit(
            "admin-election-open-confirm",
            f"/admin/{ELECTIONS['open']}",
            then=lambda page: page.click("button[data-action='close']:visible"),
            wait="dialog[open]",
        )
        p.page.keyboard.press("Escape")


@pytest.mark.slow
def test_audit_pages(sweep, elections):
    s = sweep
    board = ELECTIONS["published"]
    s.visit("board-anonymous", f"/audit/{board}")
    if s.login("/audit", "U0001"):
        s.visit("audit-home-auditor", wait=f"#audit-list a[href='/audit/{board}']")
        s.visit("board", f"/audit/{board}")
        s.visit("board-verified", then=lambda page: page.click("#verify-page"), wait="#verify-status:visible")
        s.visit("board-search-invalid", f"/audit/{board}?code=nonsense")
        s.visit("board-search-none", f"/audit/{board}?code=AAAA-AAAA-AAAA-AAAA")
        s.visit("board-search-found", f"/audit/{ELECTIONS['open']}?code={elections['code']}", wait="tr.highlight")
        s.visit("board-empty-draft", f"/audit/{ELECTIONS['draft']}")
        s.visit("heads", f"/audit/{board}/heads")
        s.visit("heads-verified", then=lambda page: page.click("#verify-heads"), wait="#heads-status:visible")


@pytest.mark.slow
def test_trustee_pages(sweep):
    s = sweep
    s.visit("trustee-list-anonymous", "/trustee")
    if s.login("/trustee", "T0001"):
        s.visit("trustee-list")
        for state in ("key_ceremony", "closed"):
            s.visit(f"trustee-{state}", f"/trustee/{ELECTIONS[state]}")

