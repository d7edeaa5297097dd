"""What the browser tests share: a pilot server with employees' credential
files, Debian's chromium through Playwright, and a `Page` per person that
watches the console for CSP violations and errors, runs axe-core on demand,
measures that nothing is wider than the viewport, and saves screenshots.

axe-core comes from the npm registry (package.json's devDependencies). The
pages' Content-Security-Policy forbids any script but our own modules, so it is
evaluated through the DevTools protocol (Playwright's ``evaluate``), which the
CSP does not govern, rather than added as a <script>.

Elections in a given state (draft, open, closed, tallied, published) are made
through the Python client, as the administrator's and trustees' own machines
would, so that a page test starts where it needs to.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from crypto.credentials import seal_credential
from tests.support import fresh_database_url, make_pki, manifest, roll_csv, start_server
from voting.client import Client, trustee_ceremony_step, trustee_decrypt
from voting.web.i18n import plural_key

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PIN = "246810"
MESSAGES = json.loads((ROOT / "voting" / "web" / "messages.json").read_text(encoding="utf-8"))
TRUSTEES = ("T0001", "T0002", "T0003")
VOTERS = tuple(f"E{i:04d}" for i in range(1, 9))
OFF_ROLL = "E0099"
TIMEOUT_MS = 20_000
#: The two sizes every page is tried at: an office screen and a phone.
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
STATES = ("draft", "key_ceremony", "open", "closed", "tallied", "published")


def msg(key: str, lang: str, **params: object) -> str:
    """A catalogue message as the page shows it ("KEY#one" for a count of 1, as t() picks it)."""
    text = MESSAGES[plural_key(key, params, MESSAGES)][lang]
    for name, value in params.items():
        text = text.replace("{" + name + "}", str(value))
    return text


@dataclass
class Pilot:
    url: str
    data_dir: Path
    files: dict[str, Path]
    credentials: dict
    server: object
    made: dict[str, str] = field(default_factory=dict)


def start_pilot(data_dir: Path, backend: str = "sqlite") -> Pilot:
    """A server with an administrator (A0001), an auditor (U0001), three
    trustees, eight voters and one employee on no roll, each with a
    PIN-sealed credential file (PIN 246810)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    pki = make_pki(data_dir)
    names = {"A0001": "管理 花子", "U0001": "監査 次郎", **{t: f"鍵管理 {t}" for t in TRUSTEES}, "E0001": "山田 太郎"}
    credentials, files = {}, {}
    for employee_id in ("A0001", "U0001", *TRUSTEES, *VOTERS, OFF_ROLL):
        credential = pki.enroll(employee_id, name=names.get(employee_id))
        credentials[employee_id] = credential
        sealed = seal_credential(
            credential.private_key, credential.chain, PIN, employee_id=employee_id, name=credential.name, iterations=20_000
        )
        files[employee_id] = data_dir / f"{employee_id}.credential.json"
        files[employee_id].write_text(json.dumps(sealed, ensure_ascii=False), encoding="utf-8")
    server = start_server(data_dir, fresh_database_url(backend, data_dir), admins=["A0001"], auditors=["U0001"])
    return Pilot(server.url, data_dir, files, credentials, server)


@pytest.fixture(scope="module")
def pilot(tmp_path_factory) -> Iterator[Pilot]:
    pilot = start_pilot(tmp_path_factory.mktemp("pilot") / "data")
    try:
        yield pilot
    finally:
        pilot.server.stop()


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: the browser tests need Debian's chromium (apt-get install -y chromium)"
    assert AXE.exists(), f"{AXE} is missing: run make install (npm ci) first"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# --- elections in a given state, made by the Python client -------------------------------------


def _admin(pilot: Pilot) -> Client:
    client = Client(pilot.url)
    client.login(pilot.credentials["A0001"])
    return client


def ceremony(pilot: Pilot, election_id: str) -> None:
    clients = {}
    for t in TRUSTEES:
        clients[t] = Client(pilot.url)
        clients[t].login(pilot.credentials[t])
    for _ in range(6):
        states = [trustee_ceremony_step(c, election_id, pilot.data_dir / f"{election_id}-{t}.json") for t, c in clients.items()]
        if all(s == "confirmed" for s in states):
            break
    for c in clients.values():
        c.close()


def decrypt(pilot: Pilot, election_id: str, trustees: tuple[str, ...] = TRUSTEES[:2]) -> None:
    for t in trustees:
        with Client(pilot.url) as client:
            client.login(pilot.credentials[t])
            trustee_decrypt(client, election_id, pilot.data_dir / f"{election_id}-{t}.json")


def cast(pilot: Pilot, election_id: str, employee_id: str, selected: dict) -> dict:
    """The receipt of a ballot cast by the Python client."""
    with Client(pilot.url) as client:
        client.login(pilot.credentials[employee_id])
        return client.cast(client.prepare_ballot(election_id, selected))


def election(pilot: Pilot, election_id: str, state: str, *, voters: tuple[str, ...] = VOTERS, doc: dict | None = None) -> str:
    """An election ``election_id`` brought to ``state`` (one of STATES), made
    once per pilot. From "closed" on, the first five voters have voted (o1,
    o2, o2, o3, o1) so that the tally has the manifest's minimum of 5 ballots."""
    assert state in STATES, state
    if election_id in pilot.made:
        assert pilot.made[election_id] == state, f"{election_id} was made {pilot.made[election_id]}, not {state}"
        return election_id
    doc = doc or manifest(election_id)
    with _admin(pilot) as admin:
        admin.create_election(doc, list(TRUSTEES), 2)
        admin.import_roll(election_id, roll_csv(list(voters)))
        if state != "draft":
            admin.start_ceremony(election_id)
        if STATES.index(state) >= STATES.index("open"):
            ceremony(pilot, election_id)
            admin.open(election_id)
        if STATES.index(state) >= STATES.index("closed"):
            for voter, option in zip(voters[:5], ("o1", "o2", "o2", "o3", "o1"), strict=False):
                cast(pilot, election_id, voter, {"q1": [option]})
            admin.close_election(election_id)
        if STATES.index(state) >= STATES.index("tallied"):
            decrypt(pilot, election_id)
            admin.tally(election_id)
        if state == "published":
            admin.publish(election_id)
    pilot.made[election_id] = state
    return election_id


# --- one person's browser ------------------------------------------------------------------------


class Page:
    """One person's browser context, in one language at one size.

    ``problems`` gathers console errors and CSP refusals; ``close`` fails the
    test on any. ``check(name)`` is what every page and state gets: axe-core
    with no violation, nothing wider than the viewport, and a screenshot in
    test-artifacts/<area>/."""

    def __init__(self, browser, pilot: Pilot, *, lang: str = "ja", size: str = "desktop", area: str = "pages") -> None:
        self.pilot, self.lang, self.size, self.area = pilot, lang, size, area
        self.context = browser.new_context(viewport=VIEWPORTS[size], accept_downloads=True, locale="ja-JP")
        self.context.set_default_timeout(TIMEOUT_MS)
        if lang != "ja":
            self.context.add_cookies([{"name": "lang", "value": lang, "url": pilot.url}])
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        (ARTIFACTS / area).mkdir(parents=True, exist_ok=True)

    def _console(self, message) -> None:
        text = message.text
        if message.type == "error" or "Content Security Policy" in text or "Refused to" in text:
            if "Failed to load resource" in text:  # a refused API call the page handles
                return
            self.problems.append(f"console {message.type}: {text}")

    def t(self, key: str, **params: object) -> str:
        return msg(key, self.lang, **params)

    def goto(self, path: str) -> None:
        self.page.goto(self.pilot.url + path)
        self.ready()

    def ready(self) -> None:
        """The page's script has wired its buttons (they are disabled until then)."""
        self.page.wait_for_selector("body[data-ready]", state="attached")

    def login(self, employee_id: str, *, expect: str = r".*/(vote|admin|audit|trustee)(/.*)?$") -> None:
        page = self.page
        page.wait_for_selector("#login-form")
        page.set_input_files("#credential-file", str(self.pilot.files[employee_id]))
        page.fill("#pin", PIN)
        page.click("#login-button")
        page.wait_for_url(re.compile(expect))
        self.ready()
        page.wait_for_selector("#session-name:visible")

    def login_at(self, path: str, employee_id: str) -> None:
        """Log in, then land on ``path`` (the login page's ``next``)."""
        self.goto(f"/login?next={path}")
        self.login(employee_id, expect=".*" + re.escape(path.split("?")[0].split("#")[0]) + ".*")

    # -- what every page and state is checked for --

    def axe(self) -> list[dict]:
        """axe-core's violations (WCAG 2.x A and AA, best practices) on the page as it is now."""
        if not self.page.evaluate("typeof window.axe === 'object'"):
            self.page.evaluate(AXE.read_text(encoding="utf-8"))
        result = self.page.evaluate(
            """async () => {
                const r = await axe.run(document, {resultTypes: ['violations']});
                return r.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ') + ' :: ' + (n.failureSummary || ''))}));
            }"""
        )
        return result

    def overflow(self) -> list[str]:
        """The page's width beyond the viewport, and the widest elements that stick out."""
        return self.page.evaluate(
            """() => {
                const width = document.documentElement.clientWidth;
                const out = [];
                if (document.documentElement.scrollWidth > width) out.push(`page scrollWidth ${document.documentElement.scrollWidth} > ${width}`);
                for (const el of document.querySelectorAll('body *')) {
                  const r = el.getBoundingClientRect();
                  if (r.width && r.right > width + 1 && getComputedStyle(el).position !== 'fixed') {
                    // Inside a scroll container of its own (a wide table's wrapper) is fine.
                    let p = el.parentElement, inside = false;
                    while (p) { const o = getComputedStyle(p).overflowX; if (o === 'auto' || o === 'scroll') { inside = true; break; } p = p.parentElement; }
                    if (!inside) out.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${el.className && typeof el.className === 'string' ? '.' + el.className.split(' ').join('.') : ''} right=${Math.round(r.right)}`);
                  }
                }
                return out.slice(0, 10);
            }"""
        )

    def shot(self, name: str) -> Path:
        path = ARTIFACTS / self.area / f"{name}-{self.lang}-{self.size}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def check(self, name: str) -> None:
        """axe-core finds nothing, nothing is wider than the viewport, and a screenshot is kept."""
        self.shot(name)
        violations = self.axe()
        assert not violations, f"{name} ({self.lang}, {self.size}): axe-core: " + json.dumps(violations, ensure_ascii=False, indent=1)
        wide = self.overflow()
        assert not wide, f"{name} ({self.lang}, {self.size}) is wider than the viewport: {wide}"

    def close(self) -> None:
        self.context.close()
        assert not self.problems, "\n".join(self.problems)


#: Each language and each size once: the fast tier's share of the four combinations.
FAST_LANG_SIZES = {("ja", "desktop"), ("en", "phone")}


@pytest.fixture(
    params=[
        pytest.param((lang, size), id=f"{lang}-{size}", marks=() if (lang, size) in FAST_LANG_SIZES else pytest.mark.slow)
        for lang in ("ja", "en")
        for size in VIEWPORTS
    ]
)
def lang_size(request) -> tuple[str, str]:
    """Both languages at both sizes; `make test` tries the diagonal only (FAST_LANG_SIZES)."""
    return request.param

