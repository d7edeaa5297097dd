"""The pages over real HTTP (no browser): every page in both languages, with
the strict Content-Security-Policy and nothing inline; the message catalogue
complete in Japanese and English; the language switch; search and errors.
The browser itself is tests/test_browser.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support import fresh_database_url, make_pki, manifest, roll_csv, start_server
from voting.client import Client, trustee_ceremony_step, trustee_decrypt
from voting.web.i18n import LANGUAGES, catalogue
from voting.web.pages import CONTENT_SECURITY_POLICY, content_security_policy, witness_origins

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "voting" / "web"
ELECTION = "pages-2026"

# Keys built at run time from a prefix: each prefix must have these members.
DYNAMIC_KEYS = {
    "status.": ["draft", "key_ceremony", "open", "closed", "tallied", "published"],
    "revote.": ["last", "single"],
    "lang.switch_to_": list(LANGUAGES),
    "manage.did.": ["ceremony/start", "open", "close", "tally", "publish"],
    "check.step_": [
        f"{step}_bad" for step in ("receipt", "head", "inclusion", "newest", "consistency", "audit", "board_entry", "key", "ballot", "opening")
    ],
    "ballot.key_reason.": ["no_key", "malformed", "fingerprint", "endorsements", "endorsement", "pinned", "pin_malformed", "form", "trustees", "threshold"],
    "board.kind.": sorted(
        ["election-created", "trustee-announcement", "joint-key", "election-opened", "ballot", "ballot-superseded",
         "election-closed", "aggregate", "partial-decryption", "result", "election-published", "admin-action",
         "credential-registered", "ballot-audited", "other"]
    ),
}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A server with one published election (one ballot) and one open one."""
    data_dir = tmp_path_factory.mktemp("pages") / "data"
    data_dir.mkdir(parents=True)
    pki = make_pki(data_dir)
    admin_cred = pki.enroll("A0001")
    trustees = {t: pki.enroll(t) for t in ("T0001", "T0002")}
    voter_cred = pki.enroll("E0001")
    server = start_server(data_dir, fresh_database_url("sqlite", data_dir), admins=["A0001"])
    try:
        admin = Client(server.url)
        admin.login(admin_cred)
        for election_id in (ELECTION, "pages-open"):
            admin.create_election(manifest(election_id, min_tally_ballots=1), list(trustees), 2)
            admin.import_roll(election_id, roll_csv(["E0001"]))
            admin.start_ceremony(election_id)
            clients = {t: Client(server.url) for t in trustees}
            for t, c in clients.items():
                c.login(trustees[t])
            for _ in range(4):
                for t, c in clients.items():
                    trustee_ceremony_step(c, election_id, data_dir / f"{election_id}-{t}.json")
            admin.open(election_id)
        voter = Client(server.url)
        voter.login(voter_cred)
        receipt = voter.cast(voter.prepare_ballot(ELECTION, {"q1": ["o3"]}))
        admin.close_election(ELECTION)
        for t, c in clients.items():
            trustee_decrypt(c, ELECTION, data_dir / f"{ELECTION}-{t}.json")
        admin.tally(ELECTION)
        admin.publish(ELECTION)
        yield server.url, receipt
    finally:
        server.stop()


def pages(receipt: dict) -> list[str]:
    return [
        "/",
        "/login",
        "/vote",
        f"/vote/{ELECTION}",
        "/vote/pages-open",
        f"/vote/{ELECTION}/receipt?code={receipt['tracking_code']}",
        "/receipt/check",
        "/admin",
        "/admin/new",
        "/admin/enrollments",
        f"/admin/{ELECTION}",
        f"/elections/{ELECTION}/results",
        "/audit",
        f"/audit/{ELECTION}",
        f"/audit/{ELECTION}?code={receipt['tracking_code']}",
        f"/audit/{ELECTION}/heads",
    ]


def assert_strict(html: str, path: str) -> None:
    """No inline script or style, no event-handler attributes, nothing from elsewhere.
    The one inline script is the import map of integrity hashes, which the CSP
    allows by its SHA-256 alone."""
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag or tag == '<script type="importmap">', f"{path}: inline script {tag}"
    maps = re.findall(r'<script type="importmap">(.*?)</script>', html, re.S)
    assert len(maps) == 1, f"{path}: {len(maps)} import maps"
    digest = base64.b64encode(hashlib.sha256(maps[0].encode()).digest()).decode()
    assert f"'sha256-{digest}'" in CONTENT_SECURITY_POLICY, f"{path}: the import map is not the one the CSP allows"
    assert list(json.loads(maps[0])) == ["integrity"], f"{path}: the import map maps nothing, it only pins hashes"
    for block in re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', html, re.S):
        json.loads(block)  # a data block, never code
        assert "</" not in block
    assert "<style" not in html, f"{path}: a style element"
    assert not re.search(r"\sstyle\s*=", html), f"{path}: a style attribute"
    assert not re.search(r"\son[a-z]+\s*=", html), f"{path}: an event-handler attribute"
    assert "javascript:" not in html
    for url in re.findall(r'(?:src|href|action)="([^"]*)"', html):
        assert not re.match(r"(?i)(https?:)?//", url), f"{path}: {url} is not on this server"


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.slow
def test_every_page_in_both_languages_with_a_strict_policy(site, lang):
    url, receipt = site
    with httpx.Client(base_url=url, cookies={"lang": lang}) as http:
        for path in pages(receipt):
            response = http.get(path)
            assert response.status_code == 200, path
            assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["cache-control"] == "no-store"
            html = response.text
            assert f'<html lang="{lang}">' in html, path
            assert catalogue()["site.name"][lang] in html
            assert_strict(html, path)


def test_the_policy_is_the_one_the_issue_asks_for():
    for directive in ("script-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "form-action 'self'", "style-src 'self'"):
        assert directive in CONTENT_SECURITY_POLICY
    assert "unsafe" not in CONTENT_SECURITY_POLICY


def test_receipt_pages_may_connect_to_the_witnesses_logs_only():
    """The receipt pages ask the witnesses' own logs directly (gossip): their
    origins, and nothing else, are added to connect-src."""
    key = "11" * 32
    manifests = [
        {"witnesses": {"quorum": 1, "members": [
            {"name": "監査事務局", "public_key": key, "url": "https://Witness.example.jp/log/"},
            {"name": "組合", "public_key": "22" * 32, "url": "http://127.0.0.1:9301"},
            {"name": "課", "public_key": "33" * 32},
            {"name": "v6", "public_key": "44" * 32, "url": "http://[::1]:9302/w"},
        ]}},
        {"witnesses": {"quorum": 9, "members": [{"name": "x", "public_key": key, "url": "https://bad.example"}]}},
        {},
        None,
    ]
    assert witness_origins(manifests) == ["http://127.0.0.1:9301", "https://witness.example.jp"]
    policy = content_security_policy(witness_origins(manifests))
    assert "connect-src 'self' http://127.0.0.1:9301 https://witness.example.jp;" in policy
    assert policy.replace(" http://127.0.0.1:9301 https://witness.example.jp", "") == CONTENT_SECURITY_POLICY
    assert content_security_policy() == CONTENT_SECURITY_POLICY


def test_results_page_shows_the_chart_and_turnout(site):
    url, _ = site
    html = httpx.get(f"{url}/elections/{ELECTION}/results", cookies={"lang": "en"}).text
    assert '<ul class="bars">' in html and 'class="bars__label">3 days a week</span>' in html  # the chart's words in HTML
    assert "1 of 1 on the roll (100.0%)" in html  # not "1 of 1 voters"
    assert "1 vote (100.0%)" in html


def test_scripted_forms_never_submit_by_themselves(site):
    """A form handled by a page script has method=dialog and its buttons start
    disabled: a click before the script runs sends nothing (no PIN or choice
    ever goes into a URL)."""
    url, receipt = site
    for path in pages(receipt):
        html = httpx.get(url + path).text
        for form in re.findall(r"<form\b[^>]*>", html):
            assert 'method="dialog"' in form or 'method="get"' in form, f"{path}: {form}"
            if 'method="get"' in form:
                assert "pin" not in form.lower()
        for button in re.findall(r"<button\b[^>]*data-needs-js[^>]*>", html):
            assert " disabled" in button, f"{path}: {button}"


def test_static_files_are_served_from_here(site):
    url, _ = site
    for path in ("/static/js/ballots.js", "/static/js/pages/ballot.js", "/static/vendor/noble.js", "/static/css/site.css"):
        response = httpx.get(url + path)
        assert response.status_code == 200, f"{path} (run make install to build the vendor bundle)"
        assert response.headers["x-content-type-options"] == "nosniff"
        expected = "text/css" if path.endswith(".css") else "javascript"
        assert expected in response.headers["content-type"]


def test_every_module_a_page_loads_exists():
    for template in (WEB / "templates").glob("*.html"):
        for src in re.findall(r'<script type="module" src="/static/([^"]+)"', template.read_text()):
            assert (WEB / "static" / src).exists(), f"{template.name}: {src}"
    for module in (WEB / "static" / "js").rglob("*.js"):
        for target in re.findall(r'from "(\.[^"]+)"', module.read_text()):
            assert (module.parent / target).resolve().exists() or "vendor" in target, f"{module.name}: {target}"


def test_language_switch_follows_local_paths_only(site):
    url, _ = site
    with httpx.Client(base_url=url) as http:
        response = http.get("/lang/en", params={"next": "/vote?x=1"})
        assert response.status_code == 303 and response.headers["location"] == "/vote?x=1"
        assert "lang=en" in response.headers["set-cookie"] and "SameSite=lax" in response.headers["set-cookie"]
        for hostile in ("//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
            assert http.get("/lang/ja", params={"next": hostile}).headers["location"] == "/"
        assert http.get("/lang/fr").status_code == 404


def test_unknown_election_is_a_page_not_a_stack_trace(site):
    url, _ = site
    for path in ("/vote/no-such-election", "/admin/no-such-election", "/audit/no-such-election", "/audit/bad%20id!"):
        response = httpx.get(url + path, cookies={"lang": "en"})
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert catalogue()["error.not_found_title"]["en"] in response.text


def test_board_search_by_short_and_full_tracking_code(site):
    url, receipt = site
    from crypto.ballots import format_tracking_code

    short = format_tracking_code(bytes.fromhex(receipt["tracking_code"]))
    for query in (short, short.lower().replace("-", " "), receipt["tracking_code"].upper()):
        html = httpx.get(f"{url}/audit/{ELECTION}", params={"code": query}, cookies={"lang": "en"}).text
        assert f'id="entry-{receipt["leaf_index"]}" data-index="{receipt["leaf_index"]}" class="highlight"' in html, query
    html = httpx.get(f"{url}/audit/{ELECTION}", params={"code": "not a code"}, cookies={"lang": "en"}).text
    assert catalogue()["board.search_invalid"]["en"] in html
    html = httpx.get(f"{url}/audit/{ELECTION}", params={"code": "A" * 16}, cookies={"lang": "en"}).text
    assert catalogue()["board.search_none"]["en"] in html
    assert httpx.get(f"{url}/audit/{ELECTION}", params={"start": -1}).status_code == 400
    assert httpx.get(f"{url}/audit", params={"election": ELECTION}).headers["location"] == f"/audit/{ELECTION}"


# --- the message catalogue -------------------------------------------------------------------


def used_keys() -> set[str]:
    keys = set()
    for path in list((WEB / "templates").glob("*.html")) + list((WEB / "static" / "js").rglob("*.js")) + list(WEB.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        keys |= set(re.findall(r"""\bt\(\s*["']([a-z0-9_.]+)["']""", text))
        keys |= set(re.findall(r"""title="([a-z_]+\.[a-z_.]+)\"""", text))
    return keys


def test_catalogue_has_every_message_in_japanese_and_english():
    messages = catalogue()
    assert len(messages) > 300
    for key, texts in messages.items():
        assert set(texts) == set(LANGUAGES), key
        assert all(texts[lang].strip() for lang in LANGUAGES), key
    japanese = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
    untranslated = [k for k, v in messages.items() if v["ja"] == v["en"] and japanese.search(v["en"]) is None and not k.startswith("lang.") and not re.fullmatch(r"[{}\w\s/().,:-]*", v["en"])]
    assert not untranslated, untranslated


def test_every_message_the_pages_use_is_in_the_catalogue():
    messages = catalogue()
    used = used_keys()
    prefixes = {k for k in used if k.endswith((".", "_"))}
    assert prefixes <= set(DYNAMIC_KEYS), prefixes - set(DYNAMIC_KEYS)
    missing = sorted(k for k in used - prefixes if k not in messages)
    assert not missing, missing
    for prefix, members in DYNAMIC_KEYS.items():
        for member in members:
            assert f"{prefix}{member}" in messages, f"{prefix}{member}"
    titles = re.findall(r'title="([a-z_.]+)"', (WEB / "pages.py").read_text())
    assert titles and all(t in messages for t in titles)


def _luminance(color: str) -> float:
    r, g, b = (int(color[i : i + 2], 16) / 255 for i in (1, 3, 5))
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_palette_meets_wcag_aa_contrast():
    """Text colours at least 4.5:1 on white (WCAG 1.4.3); the form borders and
    the focus ring at least 3:1 (1.4.11); white on the header and buttons 4.5:1."""
    css = (WEB / "static" / "css" / "site.css").read_text()
    palette = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-f]{6})", css))
    for name in ("text", "muted", "primary", "focus", "good", "bad"):
        assert contrast(palette[name], "#ffffff") >= 4.5, name
    assert contrast(palette["border"], "#ffffff") >= 3
    for name in ("primary", "header", "primary-dark"):
        assert contrast("#ffffff", palette[name]) >= 4.5, name


# --- Subresource Integrity and the web bundle's published hash --------------------------------


def test_every_script_and_stylesheet_carries_its_integrity(site):
    """Each <script src> and stylesheet of every page names the SHA-384 of what
    the server serves there, and the import map names one for every ES module
    (those a page's module imports included): a changed file is not run."""
    url, receipt = site
    modules = sorted("/" + p.relative_to(WEB).as_posix() for p in (WEB / "static").rglob("*.js"))
    with httpx.Client(base_url=url) as http:
        served = {}

        def sha384(path: str) -> str:
            if path not in served:
                response = http.get(path)
                assert response.status_code == 200, path
                served[path] = "sha384-" + base64.b64encode(hashlib.sha384(response.content).digest()).decode()
            return served[path]

        for path in pages(receipt):
            html = http.get(path).text
            tags = re.findall(r"<script\b[^>]*\bsrc=[^>]*>|<link\b[^>]*rel=\"stylesheet\"[^>]*>", html)
            assert len(tags) >= 3, path  # two stylesheets and common.js at least
            for tag in tags:
                target = re.search(r'(?:src|href)="([^"]+)"', tag).group(1)
                integrity = re.search(r'integrity="([^"]+)"', tag)
                assert integrity and integrity.group(1) == sha384(target), f"{path}: {tag}"
            pinned = json.loads(re.search(r'<script type="importmap">(.*?)</script>', html, re.S).group(1))["integrity"]
            assert sorted(pinned) == modules, path
            assert all(pinned[m] == sha384(m) for m in modules), path


def test_the_web_bundle_hash_is_published_and_recomputable(site):
    """GET /api/web-bundle-hash lists every static file's SHA-384 and the hash of
    the listing, which an auditor recomputes from a release with one shell line
    (docs/web.md)."""
    url, _ = site
    published = httpx.get(url + "/api/web-bundle-hash").json()
    files = sorted(p for p in (WEB / "static").rglob("*") if p.is_file())
    assert published["algorithm"] == "sha384"
    assert published["files"] == {p.relative_to(WEB).as_posix(): hashlib.sha384(p.read_bytes()).hexdigest() for p in files}
    listing = "".join(f"{digest}  {name}\n" for name, digest in sorted(published["files"].items()))
    assert published["bundle"] == hashlib.sha384(listing.encode()).hexdigest()
    if shutil.which("sha384sum"):
        line = "find static -type f | LC_ALL=C sort | xargs sha384sum | sha384sum"
        output = subprocess.run(["sh", "-c", line], cwd=WEB, capture_output=True, text=True, check=True).stdout
        assert output.split()[0] == published["bundle"]
    page = httpx.get(url + "/").text
    importmap = re.search(r'<script type="importmap">(.*?)</script>', page, re.S).group(1)
    assert published["import_map_sha256"] == base64.b64encode(hashlib.sha256(importmap.encode()).digest()).decode()


# --- the board explorer's rows (issue 11) -------------------------------------------------------


def test_board_rows_show_credentials_and_new_kinds_in_words():
    """Ballots show the voting credential's short form (never a voter or
    pseudonym), registrations and published audits have their own words, and
    no raw action or kind name is shown as a summary or kind."""
    from voting.web.views import board_row

    credential = "ab" * 32
    code = "cd" * 32

    def row(kind, body, lang="en"):
        return board_row({"index": 7, "kind": kind, "time": "2026-01-01T00:00:00+00:00", "body": body}, lang)

    ballot = row("ballot", {"tracking_code": code, "credential": credential, "ballot": {}, "signature": "00"})
    assert credential[:16] in ballot["summary"] and "voter" not in ballot["summary"].lower()
    assert ballot["kind_label"] == catalogue()["board.kind.ballot"]["en"]
    registered = row("credential-registered", {"credential": credential}, "ja")
    assert registered["kind_label"] == catalogue()["board.kind.credential-registered"]["ja"]
    assert registered["summary"] == catalogue()["board.sum_registered"]["ja"].replace("{credential}", credential[:16])
    audited = row("ballot-audited", {"tracking_code": code, "credential": credential, "ballot": {}, "opening": {}})
    assert audited["kind_label"] == catalogue()["board.kind.ballot-audited"]["en"]
    assert credential[:16] in audited["summary"] and audited["tracking_code"] == code
    superseded = row("ballot-superseded", {"tracking_code": code, "superseded_by": code, "credential": credential})
    assert credential[:16] in superseded["summary"]
    opened = row("election-opened", {"roll_size": 12})
    assert opened["summary"] == catalogue()["board.sum_opened"]["en"].replace("{roll}", "12")
    unknown_action = row("admin-action", {"action": "frobnicate_everything", "by": "A0001"})
    assert "frobnicate_everything" not in unknown_action["summary"]
    assert catalogue()["board.action.other"]["en"] in unknown_action["summary"]
    for action in ("create", "roll-import", "key_ceremony", "open", "closed", "tally", "published"):
        assert f"board.action.{action}" in catalogue(), action
    unknown_kind = row("something-new", {})
    assert unknown_kind["kind_label"] == catalogue()["board.kind.other"]["en"]
    assert '"something-new"' in unknown_kind["json"], "the raw entry stays in the JSON view"
