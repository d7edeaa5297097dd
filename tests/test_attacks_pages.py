"""The web pages (and the CLI) against a server that lies (security review of
the pages). The real server sits behind tests/mitm_support.py's Mitm,
which plays the malicious server: its VOTING_PUBLIC_URL is the Mitm's address
(as behind a reverse proxy), so the unmodified login page signs for it.

1. "Replaced by a later ballot" rests on the server's unsigned `superseded`:
   the check and the CLI claim only what the board proves (a replacement is
   checked and a warning; "no later ballot" is the server's word: a note; a
   failed lookup is never the all-good summary).
2. A QR-code receipt (and a receipt-shaped file) with a stray `format` member
   is checked as a receipt and fails, never "this is a credential file".
3. The audit file the ballot page saves, and the receipt a fresh receipt tab
   fetches, are verified under the server's key before they are offered.
4. Kept choices go to the employee of the opened credential file, not to
   whoever the server's login reply names.
5. No open redirect after login through `next`.
"""

from __future__ import annotations

import json

import httpx
import pytest
from click.testing import CliRunner

from crypto.ballots import format_tracking_code
from crypto.credentials import seal_credential
from crypto.receipts import compact_receipt
from tests.browser_support import OFF_ROLL, PIN, TRUSTEES, VOTERS, Page, Pilot, browser, cast, election, make_pki  # noqa: F401
from tests.mitm_support import Mitm
from tests.support import fresh_database_url, start_server
from voting.cli import main
from voting.client import Client

AREA = "attacks"
LANGS = ("ja", "en")


@pytest.fixture(scope="module")
def front():
    mitm = Mitm(upstream="").start()
    yield mitm
    mitm.stop()


@pytest.fixture(scope="module")
def pilot(tmp_path_factory, front):
    """browser_support.start_pilot, with the Mitm in front (the public URL is the Mitm's)."""
    data_dir = tmp_path_factory.mktemp("attacks") / "data"
    data_dir.mkdir(parents=True)
    pki = make_pki(data_dir)
    credentials, files = {}, {}
    for employee_id in ("A0001", "U0001", *TRUSTEES, *VOTERS, OFF_ROLL):
        credential = pki.enroll(employee_id)
        credentials[employee_id] = credential
        sealed = seal_credential(credential.private_key, credential.chain, PIN, employee_id=employee_id, name=credential.name, iterations=20_000)
        files[employee_id] = data_dir / f"{employee_id}.credential.json"
        files[employee_id].write_text(json.dumps(sealed, ensure_ascii=False), encoding="utf-8")
    server = start_server(data_dir, fresh_database_url("sqlite", data_dir), admins=["A0001"], auditors=["U0001"], public_url=front.url)
    front.upstream = server.url
    try:
        yield Pilot(front.url, data_dir, files, credentials, server)
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _honest_by_default(front):
    front.on_request = front.on_response = None
    yield
    front.on_request = front.on_response = None


def _summary(p: Page) -> tuple[str, str]:
    p.page.wait_for_function("() => document.querySelector('#check-summary').textContent.trim() !== ''")
    p.page.wait_for_function("() => !document.querySelector('#check-button').disabled")
    loc = p.page.locator("#check-summary")
    return loc.inner_text(), loc.get_attribute("class")


def _check_file(p: Page, path, audit_code: str | None = None) -> tuple[str, str]:
    p.goto("/receipt/check")
    p.page.set_input_files("#receipt-file", str(path))
    if audit_code:
        p.page.fill("#audit-code-input", audit_code)
    p.page.click("#check-button")
    return _summary(p)


def _steps(p: Page) -> list[str]:
    """The technical steps (inside a closed <details>)."""
    return p.page.eval_on_selector_all("#check-results li", "items => items.map((li) => li.textContent)")


def _plain(p: Page) -> list[str]:
    return p.page.locator("#check-plain li").all_inner_texts()


def _receipt(pilot: Pilot, election_id: str, voter: str, option: str = "o1") -> dict:
    """The receipt of `voter`'s ballot, cast once per module."""
    key = f"receipt:{election_id}:{voter}:{option}"
    if key not in pilot.made:
        pilot.made[key] = cast(pilot, election_id, voter, {"q1": [option]})
    return pilot.made[key]


def _replaced(pilot: Pilot, election_id: str, voter: str) -> tuple[dict, dict]:
    """The receipts of `voter`'s first ballot and of the second, which replaced it."""
    return _receipt(pilot, election_id, voter, "o1"), _receipt(pilot, election_id, voter, "o2")


def _short(hex_code: str) -> str:
    return format_tracking_code(bytes.fromhex(hex_code))


def _ballot_reply(election_id: str, code: str, change):
    """The server answers GET …/ballots/{code} as `change(doc)` says (None: a 503)."""
    def on_response(request, reply):
        if request.method == "GET" and request.path == f"/api/elections/{election_id}/ballots/{code}" and reply.status == 200:
            doc = change(reply.json())
            if doc is None:
                return reply.__class__(503, {"content-type": "application/problem+json"}, b'{"status":503,"code":"unavailable","detail":"busy"}')
            return reply.with_json(doc)
        return reply
    return on_response


# --- 1. replaced or not: only what the board proves ---------------------------------------


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("how", ["flag_false", "flag_removed", "lookup_fails"])
@pytest.mark.slow
def test_a_server_hiding_a_replacement_gets_no_all_good_claim(pilot, front, browser, lang, how):
    election_id = election(pilot, "x-hide", "open")
    replaced, _ = _replaced(pilot, election_id, "E0001")
    path = pilot.data_dir / f"replaced-{how}-{lang}.json"
    path.write_text(json.dumps(replaced), encoding="utf-8")
    change = {
        "flag_false": lambda doc: {"receipt": doc["receipt"], "superseded": False},
        "flag_removed": lambda doc: {"receipt": doc["receipt"]},
        "lookup_fails": lambda doc: None,
    }[how]
    front.on_response = _ballot_reply(election_id, replaced["tracking_code"], change)
    p = Page(browser, pilot, lang=lang, area=AREA)
    text, tone = _check_file(p, path)
    p.shot(f"hidden-replacement-{how}")
    plain = _plain(p)
    code = _short(replaced["tracking_code"])
    if how == "flag_false":
        # Only what was verified: on the board, never removed; the server's "no later ballot" is a note.
        assert (text, tone) == (p.t("check.passed", code=code), "result result--good")
        assert any(p.t("check.plain_none_reported") in line and line.startswith("ℹ") for line in plain), plain
    else:
        assert "result--good" not in tone, f"all-good summary when whether it was replaced is unknown: {text!r} ({tone})"
        assert text == p.t("check.passed_unknown", code=code)
    assert not any(line.startswith("✓") and ("数えられる" in line or "counts" in line) for line in plain), plain
    p.close()


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.slow
def test_a_replacement_is_checked_on_the_board(pilot, front, browser, lang):
    """Honest: the later ballot, with the same voting credential, is proven on the
    board (a warning). Forged: a server that calls a counted ballot replaced,
    naming a ballot of another voter, is still a warning, but not "verified"."""
    election_id = election(pilot, "x-verify", "open")
    replaced, later = _replaced(pilot, election_id, "E0002")
    counted = _receipt(pilot, election_id, "E0003", "o3")
    p = Page(browser, pilot, lang=lang, area=AREA)
    path = pilot.data_dir / f"replaced-verify-{lang}.json"
    path.write_text(json.dumps(replaced), encoding="utf-8")
    _text, tone = _check_file(p, path)
    assert "result--warn" in tone
    steps = _steps(p)
    verified = p.t("check.step_superseded_verified", code=_short(later["tracking_code"]), index=later["leaf_index"])
    assert any(line.startswith("⚠") and line.endswith(verified) for line in steps), steps

    forged = {"receipt": counted, "superseded": True, "superseded_by": replaced["tracking_code"]}  # E0002's, not E0003's
    front.on_response = _ballot_reply(election_id, counted["tracking_code"], lambda doc: forged)
    path = pilot.data_dir / f"counted-forged-{lang}.json"
    path.write_text(json.dumps(counted), encoding="utf-8")
    _text, tone = _check_file(p, path)
    p.shot("forged-replacement")
    assert "result--warn" in tone
    steps = _steps(p)
    assert any(line.startswith("⚠") and p.t("check.step_superseded_unverified", detail="X").split("X")[0] in line for line in steps), steps
    p.close()


@pytest.mark.slow
def test_the_cli_claims_only_what_the_board_proves(pilot, front, tmp_path):
    election_id = election(pilot, "x-cli", "open")
    with Client(pilot.url) as client:
        client.login(pilot.credentials["E0004"])
        first = client.prepare_ballot(election_id, {"q1": ["o1"]})
        client.cast(first)
        second = client.prepare_ballot(election_id, {"q1": ["o2"]})
        client.cast(second)
        _, honest = client.cast_marked(first)  # the resend of the replaced ballot (what `voting vote` does)
        assert (honest.state, honest.later_code) == ("verified", second.tracking_code.hex())

        code = first.tracking_code.hex()

        def hide(request, reply):  # the server hides the replacement everywhere it could say it
            if request.method == "POST" and request.path.endswith("/ballots/") and reply.status in (200, 201):
                return reply.with_json({k: v for k, v in reply.json().items() if k != "superseded"})
            if request.method == "GET" and request.path.endswith(f"/ballots/{code}") and reply.status == 200:
                return reply.with_json({"receipt": reply.json()["receipt"], "superseded": False})
            return reply
        front.on_response = hide
        receipt, hidden = client.cast_marked(first)
        assert hidden.state == "none" and not hidden.replaced  # the server's word, said as such (no "it counts")

        front.on_response = _ballot_reply(election_id, code, lambda doc: {**doc, "superseded_by": "00" * 32})
        _, forged = client.cast_marked(first)
        assert forged.state == "claimed" and forged.replaced

    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(receipt), encoding="utf-8")
    front.on_response = hide
    output = CliRunner().invoke(main, ["receipt", "check", "--server", pilot.url, str(path)]).output
    assert "NOTE" in output and "WARN" not in output and "FAIL" not in output, output  # "no later ballot": the server's word
    front.on_response = None
    output = CliRunner().invoke(main, ["receipt", "check", "--server", pilot.url, str(path)]).output
    assert "WARN" in output and "FAIL" not in output, output


# --- 2. a real receipt is checked as a receipt ----------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("source", ["qr", "file"])
@pytest.mark.slow
def test_a_receipt_with_a_stray_format_is_a_failed_check(pilot, front, browser, lang, source):
    election_id = election(pilot, "x-qr", "open")
    receipt = _receipt(pilot, election_id, "E0005")
    path = pilot.data_dir / f"qr-{source}-{lang}.txt"
    if source == "qr":  # what the printed QR code holds; the server adds a member to the receipt it returns
        path.write_text(compact_receipt(receipt), encoding="utf-8")
        front.on_response = _ballot_reply(
            election_id, receipt["tracking_code"], lambda doc: {**doc, "receipt": {**doc["receipt"], "format": "votingpilot-credential"}}
        )
    else:
        path.write_text(json.dumps({**receipt, "format": "votingpilot-credential"}), encoding="utf-8")
    p = Page(browser, pilot, lang=lang, area=AREA)
    text, tone = _check_file(p, path)
    p.shot(f"receipt-with-format-{source}")
    assert (text, tone) == (p.t("check.failed"), "result result--bad"), (text, tone)
    p.close()


# --- 3. what the pages offer is verified first -----------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.slow
def test_the_ballot_page_offers_no_audit_file_that_does_not_verify(pilot, front, browser, lang):
    election_id = election(pilot, "x-audit", "open")

    def add_format(request, reply):
        if request.method == "POST" and request.path == f"/api/elections/{election_id}/audits" and reply.status in (200, 201):
            return reply.with_json({**reply.json(), "format": "votingpilot-witness-state"})
        return reply
    front.on_response = add_format
    p = Page(browser, pilot, lang=lang, area=AREA)
    page = p.page
    p.login_at(f"/vote/{election_id}", "E0006")
    page.wait_for_selector("#step-choose:visible")
    page.check("#q0-o2")
    page.fill("#ballot-pin", PIN)
    page.click("#encrypt-button")
    page.wait_for_selector("#step-review:visible")
    page.click("#audit-button")
    page.wait_for_function("() => document.querySelector('#ballot-error').textContent.trim() !== ''")
    p.shot("audit-file-refused")
    assert page.locator("#ballot-error").inner_text() == p.t("ballot.audit_invalid")
    assert not page.is_visible("#step-audit")
    p.close()


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.slow
def test_a_fresh_receipt_tab_shows_no_receipt_that_does_not_verify(pilot, front, browser, lang):
    election_id = election(pilot, "x-tab", "open")
    receipt = _receipt(pilot, election_id, "E0007")
    front.on_response = _ballot_reply(
        election_id, receipt["tracking_code"], lambda doc: {**doc, "receipt": {**doc["receipt"], "leaf_index": doc["receipt"]["leaf_index"] + 1}}
    )
    p = Page(browser, pilot, lang=lang, area=AREA)
    p.goto(f"/vote/{election_id}/receipt?code={receipt['tracking_code']}")
    p.page.wait_for_function("() => document.querySelector('#receipt-error').textContent.trim() !== ''")
    p.shot("fresh-tab-receipt-refused")
    assert p.page.locator("#receipt-error").inner_text() == p.t("receipt.not_genuine", code=_short(receipt["tracking_code"]))
    assert not p.page.is_visible("#receipt") and not p.page.is_visible("#receipt-qr")
    p.close()


# --- 4. kept choices: the opened file's employee, not the server's word ------------------------


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.slow
def test_kept_choices_never_go_to_the_employee_the_server_names(pilot, front, browser, lang):
    election_id = election(pilot, f"x-choices-{lang}", "open")
    p = Page(browser, pilot, lang=lang, area=AREA)
    page = p.page
    p.login_at(f"/vote/{election_id}", "E0006")
    page.wait_for_selector("#step-choose:visible")
    page.check("#q0-o4")  # E0006's choice
    token = json.loads(page.evaluate("sessionStorage.getItem('voting.session')"))["session_token"]
    httpx.post(pilot.url + "/api/auth/logout", headers={"Authorization": f"Bearer {token}"})
    page.fill("#ballot-pin", PIN)
    page.click("#encrypt-button")
    page.locator("#ballot-error a").wait_for()  # kept under E0006, who walks away

    def claim_e0006(request, reply):  # E0007 logs in; the server's reply names E0006
        if request.path == "/api/auth/login" and reply.status == 200:
            return reply.with_json({**reply.json(), "employee_id": "E0006"})
        return reply
    front.on_response = claim_e0006
    p.goto(f"/login?next=/vote/{election_id}")
    page.set_input_files("#credential-file", str(pilot.files["E0007"]))
    page.fill("#pin", PIN)
    page.click("#login-button")
    page.wait_for_function("() => document.querySelector('#login-error').textContent.trim() !== ''")
    p.shot("login-other-employee")
    assert page.locator("#login-error").inner_text() == p.t("login.other_employee")
    assert page.evaluate("sessionStorage.getItem('voting.session')") is None

    front.on_response = None  # E0007 logs in for real: E0006's choices are forgotten, not shown
    p.login("E0007", expect=f".*/vote/{election_id}$")
    page.wait_for_selector("#step-choose:visible")
    assert not any(page.is_checked(f"#q0-o{i}") for i in range(5))
    assert page.evaluate("Object.keys(sessionStorage).filter((k) => k.startsWith('voting.choices.'))") == []
    p.close()


# --- 5. no open redirect ----------------------------------------------------------------------


@pytest.mark.parametrize("next_path", ["/%09/evil.example/x", "/%0a/evil.example/x", "/%5C/evil.example/x"])
def test_login_next_stays_on_this_site(pilot, browser, next_path):
    p = Page(browser, pilot, lang="en", area=AREA)
    p.context.route("http://evil.example/**", lambda route: route.fulfill(status=200, body="phished", content_type="text/plain"))
    p.goto(f"/login?next={next_path}")
    p.login("E0008", expect=r".*/vote$")
    assert p.page.url == pilot.url + "/vote"
    p.close()
