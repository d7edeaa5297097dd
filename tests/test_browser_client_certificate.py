"""The card in this computer, in the browser: Debian's nginx with the shipped
configuration (docs/nginx/voting.conf, ``ssl_verify_client optional_no_ca``)
in front of ``voting serve``, and Chromium given a client certificate by
Playwright's ``client_certificates`` option, as the operating system gives a
browser the certificate of a card in the reader.

- a pilot CA certificate (it names the employee) logs in from the login page's
  "log in with the card in this computer", votes, and checks the receipt; the
  voting key is kept by the browser and offered as a file, which brings it back
  on another computer to vote again;
- an external CA's certificate (no name, no employee id) is enrolled on
  ``/enroll`` with a one-time code, then logs in and votes;
- a forged ``X-Client-Certificate`` (through nginx, straight to the
  service's port from an address that is not the proxy, or from the proxy's
  own address without the proxy's secret) is refused; so is a certificate
  that chains to no anchor, and a browser with no certificate; the refusals
  of a resumed TLS session and of a service without the card login are said
  in both languages;
- the login and enrollment pages pass axe-core in Japanese and English.
"""

from __future__ import annotations

import json
import re
import ssl
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from tests.browser_support import ARTIFACTS, TIMEOUT_MS, VIEWPORTS, Page, browser  # noqa: F401
from tests.client_certificate_support import (
    PROXY_SECRETS,
    ExternalCa,
    as_proxy,
    header_of,
    pilot_card,
    start_card_pilot,
)
from tests.http_support import two_question_manifest
from tests.support import free_port
from tests.test_ops_proxy import SHIPPED, Nginx, render, require_nginx, secret_include, server_cert  # noqa: F401
from voting import tls

AREA = "client-certificate"
LOGIN = "/api/auth/client-certificate"


class CardPage(Page):
    """``Page`` whose browser holds a card: Playwright presents the certificate
    to the origin when the TLS server asks for one (``card`` None: no card)."""

    def __init__(self, browser, url: str, card_files: tuple[Path, Path] | None, *, lang: str = "ja", size: str = "desktop") -> None:
        self.pilot, self.lang, self.size, self.area = SimpleNamespace(url=url), lang, size, AREA
        options = {"viewport": VIEWPORTS[size], "accept_downloads": True, "locale": "ja-JP", "ignore_https_errors": True}
        if card_files:
            cert, key = card_files
            options["client_certificates"] = [{"origin": url, "certPath": str(cert), "keyPath": str(key)}]
        self.context = browser.new_context(**options)
        self.context.set_default_timeout(TIMEOUT_MS)
        if lang != "ja":
            self.context.add_cookies([{"name": "lang", "value": lang, "url": url}])
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        (ARTIFACTS / AREA).mkdir(parents=True, exist_ok=True)

    def card_login(self, *, expect: str = r".*/vote$") -> None:
        self.goto("/login")
        self.page.click("#card-login-button")
        self.page.wait_for_url(re.compile(expect))
        self.ready()
        self.page.wait_for_selector("#session-name:visible")

    def card_refused(self, message: str) -> None:
        self.goto("/login")
        self.page.click("#card-login-button")
        self.page.wait_for_selector("#login-error:visible")
        assert self.page.locator("#login-error").inner_text() == message


@pytest.fixture
def behind_nginx(tmp_path, server_cert):
    """``voting serve`` (SQLite) behind the shipped nginx on https://localhost:PORT,
    the Python clients (administrator, trustees) trusting its certificate."""
    require_nginx()
    cert, key = server_cert
    http_port, https_port = free_port(), free_port()
    front = f"https://localhost:{https_port}"
    data_dir = tmp_path / "data"
    nginx_holder: list[Nginx] = []

    def start_nginx(service) -> None:
        include = secret_include(tmp_path / "nginx-secret", PROXY_SECRETS[service.url])
        site = render(
            SHIPPED.read_text(), http_port=http_port, https_port=https_port, upstream_port=service.port, cert=cert, key=key,
            include=include,
        )
        nginx_holder.append(Nginx(tmp_path / "nginx", site).start(https_port))

    tls.use_cacert(cert)
    try:
        cards = start_card_pilot(data_dir, f"sqlite:///{data_dir / 'voting.sqlite3'}", public_url=front, after_start=start_nginx)
        try:
            yield cards, cert
        finally:
            cards.stop()
            for nginx in nginx_holder:
                nginx.stop()
    finally:
        tls.use_cacert(None)


def vote_in_browser(p: CardPage, election_id: str, option: str) -> tuple[str, dict]:
    """Choose ``option`` of the first question, encrypt, cast; the receipt checked
    on its page. Returns the tracking code and the voting key file offered."""
    page = p.page
    p.goto(f"/vote/{election_id}")
    page.wait_for_selector("#step-choose:visible")
    assert page.locator("#pin-field").is_hidden(), "no PIN: the card logged in, the page holds no key"
    page.check(f"#q0-o{option}")
    page.click("#encrypt-button")
    page.wait_for_selector("#step-review:visible")
    code = page.locator("#tracking-short").inner_text()
    assert page.locator("#secret-keep").is_visible()
    with page.expect_download() as download:
        page.click("#secret-download")
    kept = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert kept["format"] == "votingpilot-voting-secret" and kept["election_id"] == election_id
    assert page.locator("#credential-short").inner_text() == kept["credential"][:16]
    p.shot(f"review-{election_id}")
    page.click("#cast-button")
    page.wait_for_url(re.compile(rf".*/vote/{election_id}/receipt\?code=[0-9a-f]{{64}}$"))
    p.ready()
    page.wait_for_selector("#receipt:visible")
    assert page.locator("#receipt-short").inner_text() == code
    page.click("#receipt-check")
    page.wait_for_selector("#check-summary.result--good")
    assert page.locator("#check-summary").inner_text() == p.t("check.passed", code=code)
    return code, kept


@pytest.mark.slow
def test_card_holders_log_in_through_nginx_enroll_and_vote(behind_nginx, browser, tmp_path):
    cards, _ = behind_nginx
    pilot = cards.pilot
    url = cards.url
    election_id = pilot.open_election(two_question_manifest("card-web-2026", min_tally_ballots=2), ["E0001", "E0005"])

    # A pilot CA certificate: it names the employee, and logs in at once.
    staff = pilot_card(pilot.pki, "E0001", name="山田 太郎").write(tmp_path / "cards", "E0001")
    p = CardPage(browser, url, staff)
    p.goto("/login")
    p.check("login-ja")
    p.card_login()
    assert "山田 太郎" in p.page.locator("#session-name").inner_text()
    session = json.loads(p.page.evaluate("sessionStorage.getItem('voting.session')"))
    assert session["login_method"] == "client-certificate" and session["employee_id"] == "E0001"
    assert p.page.evaluate("sessionStorage.getItem('voting.credential')") is None
    _first_code, kept = vote_in_browser(p, election_id, "2")
    registered = [e for e in pilot.admin.board_until(election_id, "none") if e["kind"] == "credential-registered"]
    assert [e["body"]["credential"] for e in registered] == [kept["credential"]]
    p.close()

    # Another computer: the same card, no key in this browser. The saved file brings it back.
    kept_path = tmp_path / "voting-key.json"
    kept_path.write_text(json.dumps(kept), encoding="utf-8")
    again = CardPage(browser, url, staff, lang="en")
    again.card_login()
    again.goto(f"/vote/{election_id}")
    again.page.wait_for_selector("#step-choose:visible")
    again.page.check("#q0-o1")
    again.page.click("#encrypt-button")
    again.page.wait_for_selector("#ballot-error:visible")
    assert again.page.locator("#ballot-error").inner_text() == again.t("ballot.secret_needed")
    assert again.page.locator("#secret-field").is_visible()
    again.check("ballot-key-needed")
    wrong = tmp_path / "other-key.json"
    wrong.write_text(json.dumps({**kept, "employee_id": "E0002"}), encoding="utf-8")
    again.page.set_input_files("#secret-file", str(wrong))
    again.page.wait_for_selector("#ballot-error:visible")
    assert again.page.locator("#ballot-error").inner_text() == again.t("ballot.secret_other_employee")
    again.page.set_input_files("#secret-file", str(kept_path))
    again.page.wait_for_selector("#ballot-status:visible")
    again.page.click("#encrypt-button")
    again.page.wait_for_selector("#step-review:visible")
    assert again.page.locator("#credential-short").inner_text() == kept["credential"][:16]
    again.page.click("#cast-button")
    again.page.wait_for_url(re.compile(rf".*/vote/{election_id}/receipt\?code=[0-9a-f]{{64}}$"))
    again.close()

    # An external CA's card names nobody: enrolled once on /enroll with the code from the slip.
    holder = cards.external.card().write(tmp_path / "cards", "external")
    code = pilot.admin.post("/api/admin/enrollment-codes", {"employee_id": "E0005"})["code"]
    e = CardPage(browser, url, holder)
    e.card_refused(e.t("login.card_not_enrolled"))
    e.goto("/enroll")
    e.check("enroll-ja")
    e.page.fill("#employee-id", "Ｅ０００５")  # full-width, as a Japanese IME types it
    e.page.fill("#enrollment-code", "XXXX-XXXX-XXXX")
    e.page.click("#enroll-button")
    e.page.wait_for_selector("#enroll-error:visible")
    assert e.page.locator("#enroll-error").inner_text() == e.t("enroll.code_unknown")
    assert e.page.get_attribute("#enrollment-code", "aria-invalid") == "true"
    e.page.fill("#enrollment-code", code.lower())
    e.page.click("#enroll-button")
    e.page.wait_for_selector("#enroll-done:visible")
    assert e.page.locator("#enroll-status").inner_text() == e.t("enroll.done", id="E0005")
    e.check("enrolled-ja")
    e.card_login()
    session = json.loads(e.page.evaluate("sessionStorage.getItem('voting.session')"))
    assert session["employee_id"] == "E0005"
    vote_in_browser(e, election_id, "0")
    e.close()

    listed = pilot.admin.get("/api/admin/enrollments")["enrollments"]
    assert [(x["employee_id"], x["via"]) for x in listed] == [("E0005", "client-certificate")]
    # Three ballots cast, two counted: E0001's second replaced its first.
    status = pilot.admin.status(election_id)
    assert (status["ballots_cast"], status["ballots_counted"]) == (3, 2)


def refusing(status: int, body: dict):
    """Answers a request as the service refuses it (an RFC 9457 problem)."""

    def handle(route) -> None:
        route.fulfill(status=status, content_type="application/problem+json", body=json.dumps(body))

    return handle


@pytest.mark.slow
def test_forged_headers_and_strange_certificates_are_refused(behind_nginx, browser, tmp_path):
    cards, cert = behind_nginx
    url = cards.url
    staff = pilot_card(cards.pki, "E0001")

    # Through nginx with no client certificate, but a header of one's own: nginx clears it.
    context = ssl.create_default_context(cafile=str(cert))
    with httpx.Client(verify=context, timeout=30) as http:
        forged = http.post(url + LOGIN, headers={"X-Client-Certificate": header_of(staff.certificate), "Origin": url})
    assert (forged.status_code, forged.json()["code"]) == (401, "no_client_certificate"), forged.text
    # Straight to the service's port, from an address that is not the proxy: refused.
    direct = as_proxy(cards.service.url, LOGIN, staff.certificate, origin=url, source="127.0.0.2")
    assert (direct.status_code, direct.json()["code"]) == (403, "client_certificate_untrusted_source")
    # From the proxy's own address, as any other process on its host, without nginx's secret: refused.
    local = as_proxy(cards.service.url, LOGIN, staff.certificate, origin=url, source="127.0.0.1", secret=None)
    assert (local.status_code, local.json()["code"]) == (403, "client_certificate_untrusted_source")
    # The header on any other path is never passed on: a token login with it is just a bad token.
    with httpx.Client(verify=context, timeout=30) as http:
        other = http.post(url + "/api/auth/login", json={"token": "x"}, headers={"X-Client-Certificate": header_of(staff.certificate)})
    assert other.json()["code"] == "token_malformed"

    # A certificate that chains to no trust anchor, and a browser with no certificate.
    stranger = ExternalCa(tmp_path / "stranger", "Somebody Else's Root").card().write(tmp_path / "cards", "stranger")
    for lang in ("ja", "en"):
        p = CardPage(browser, url, stranger, lang=lang)
        p.card_refused(p.t("login.card_invalid"))
        p.check(f"login-refused-{lang}")
        p.close()
        p = CardPage(browser, url, None, lang=lang)
        p.card_refused(p.t("login.card_none"))
        p.goto("/enroll")
        p.check(f"enroll-{lang}")
        p.close()
    p = CardPage(browser, url, None, lang="en", size="phone")
    p.goto("/login")
    p.check("login-en")
    p.close()

    # What the service answers on a resumed TLS session (a site whose nginx keeps
    # sessions), or without the card login set up, in words for the employee.
    card_files = staff.write(tmp_path / "cards", "E0001")
    for lang in ("ja", "en"):
        for code, status, key in (("tls_session_resumed", 401, "login.card_resumed"), ("client_certificate_disabled", 403, "login.card_disabled")):
            p = CardPage(browser, url, card_files, lang=lang)
            body = {"type": f"urn:voting-pilot:error:{code}", "title": "refused", "status": status, "detail": "x", "code": code}
            p.page.route(re.compile(r".*/api/(auth|enroll)/client-certificate$"), refusing(status, body))
            p.card_refused(p.t(key))
            p.goto("/enroll")
            p.page.fill("#employee-id", "E0001")
            p.page.fill("#enrollment-code", "AAAA-BBBB-CCCC")
            p.page.click("#enroll-button")
            p.page.wait_for_selector("#enroll-error:visible")
            assert p.page.locator("#enroll-error").inner_text() == p.t(key)
            p.close()
