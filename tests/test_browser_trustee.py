"""The trustee page (/trustee/{id}): one trustee does the
key ceremony in chromium while the two others run the Python client, as on
their own machines; the election opens with the key the browser trustee
computed and endorsed, and the browser's PIN-sealed trustee file holds a key
share that decrypts with the CLI. With tests/mitm_support.py's Mitm in front
of the real server, the unmodified page refuses a ceremony reply that differs
from the signed board and an announcement not signed by the trustee the board
names — or signed by a certificate of another CA naming the right trustee
(the page checks every chain against the root pinned in the trustee file) —
and sends nothing that depends on them."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from playwright.sync_api import expect

from crypto import ca, threshold
from crypto.credentials import TrustStore, certificates_from_pem, sign_announcement, verify_endorsement
from tests.browser_support import TRUSTEES, Page, Pilot, browser, cast, election, lang_size, pilot  # noqa: F401
from tests.mitm_support import Mitm, Reply
from voting.client import Client, trustee_ceremony_step, trustee_decrypt
from voting.trustee_file import open_trustee_file

PIN = "246810"
AREA = "trustee"


def _page(browser, pilot: Pilot, lang: str, size: str, base_url: str, employee_id: str = "T0001") -> Page:
    """The trustee's browser, logged in (the session and the sealed credential
    file in sessionStorage, as the login page leaves them), at any origin."""
    with Client(pilot.url) as client:
        client.login(pilot.credentials[employee_id])
        session = client.session
    credential = json.loads(pilot.files[employee_id].read_text(encoding="utf-8"))
    p = Page(browser, pilot, lang=lang, size=size, area=AREA)
    p.context.add_cookies([{"name": "lang", "value": lang, "url": base_url}])
    p.context.add_init_script(
        "if (!sessionStorage.getItem('voting.session')) {"
        f" sessionStorage.setItem('voting.session', {json.dumps(json.dumps(session))});"
        f" sessionStorage.setItem('voting.credential', {json.dumps(json.dumps(credential, ensure_ascii=False))}); }}"
    )
    return p


class PythonTrustees(threading.Thread):
    """T0002 and T0003 on their own machines: the CLI's steps until confirmed."""

    def __init__(self, pilot: Pilot, election_id: str, trustees=TRUSTEES[1:]) -> None:
        super().__init__(daemon=True)
        self.pilot, self.election_id, self.trustees = pilot, election_id, trustees
        self.states: dict[str, str] = {}
        self.error: Exception | None = None
        self.stop = threading.Event()

    def state_path(self, trustee: str) -> Path:
        return self.pilot.data_dir / f"{self.election_id}-{trustee}.json"

    def step_once(self) -> None:
        for t in self.trustees:
            with Client(self.pilot.url) as client:
                client.login(self.pilot.credentials[t])
                self.states[t] = trustee_ceremony_step(client, self.election_id, self.state_path(t))

    def run(self) -> None:
        try:
            while not self.stop.is_set() and not all(self.states.get(t) == "confirmed" for t in self.trustees):
                self.step_once()
                time.sleep(0.3)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.error = exc


def _choose_root(p: Page, pilot: Pilot) -> None:
    """Choose the city's root.pem; the page shows its fingerprint as openssl prints it."""
    root = pilot.data_dir / "ca" / "root.pem"
    p.page.set_input_files("#root-file", str(root))
    der = certificates_from_pem(root.read_bytes())[0].public_bytes(serialization.Encoding.DER)
    shown = ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())
    expect(p.page.locator("#root-fingerprint")).to_have_text(p.t("trustee.root_fingerprint", fingerprint=shown))


def _save_when_asked(p: Page, tmp: Path, name: str) -> Path:
    """The page asks to save the trustee file: download it, choose it again, continue."""
    page = p.page
    page.wait_for_selector("#save-panel:visible", timeout=60_000)
    with page.expect_download() as download:
        page.click("#save-link")
    path = tmp / f"{name}.json"
    download.value.save_as(str(path))
    page.set_input_files("#saved-file", str(path))
    p.check(f"save-{name}")
    page.click("#saved-button")
    page.wait_for_selector("#save-panel", state="hidden")
    return path


@pytest.mark.slow
def test_trustee_takes_part_in_the_ceremony_in_the_browser(pilot, browser, lang_size, tmp_path):
    lang, size = lang_size
    election_id = election(pilot, f"F-{lang}-{size}", "key_ceremony")
    p = _page(browser, pilot, lang, size, pilot.url)
    page = p.page
    p.goto("/trustee")
    page.wait_for_selector(f"#trustee-elections a[href='/trustee/{election_id}']")
    p.check("list")
    page.click(f"#trustee-elections a[href='/trustee/{election_id}']")
    p.ready()
    p.check("unlock")

    # A wrong PIN is said in the page's language; nothing is sent.
    page.fill("#pin", "000000")
    page.click("#unlock-button")
    page.wait_for_selector("#trustee-error:visible")
    assert page.locator("#trustee-error").inner_text() == p.t("trustee.file_wrong_pin")

    # Without the city's root certificate the page does not go on.
    page.fill("#pin", PIN)
    page.click("#unlock-button")
    expect(page.locator("#trustee-error")).to_have_text(p.t("trustee.root_needed"))
    _choose_root(p, pilot)
    page.click("#unlock-button")
    page.wait_for_selector("#confirm-panel:visible")
    assert page.evaluate("document.activeElement.id") == "confirm-panel"
    assert page.locator("#confirm-threshold").inner_text() == p.t("trustee.confirm_threshold", t=2, n=3)
    assert "T0002" in page.locator("#co-trustees").inner_text()
    p.check("confirm")
    page.click("#accept-button")

    first = _save_when_asked(p, tmp_path, "1-secrets")
    python = PythonTrustees(pilot, election_id)
    python.start()
    try:
        _save_when_asked(p, tmp_path, "2-announcements")
        final = _save_when_asked(p, tmp_path, "3-key")
        page.wait_for_selector("#done-panel:visible", timeout=60_000)
    finally:
        python.stop.set()
        python.join(30)
    assert python.error is None, python.error
    assert page.evaluate("document.activeElement.id") == "done-panel"
    p.check("done")

    # The secrets never reached the server: only the sealed file holds them.
    assert "secrets" in open_trustee_file(json.loads(first.read_text()), PIN)
    state = open_trustee_file(json.loads(final.read_text()), PIN)
    key = threshold.TrusteeKey.from_json(state["key"])
    with Client(pilot.url) as admin:
        admin.login(pilot.credentials["A0001"])
        admin.open(election_id)
        entries = admin.board_until(election_id, "joint-key")
    joint = next(e for e in entries if e["kind"] == "joint-key")["body"]
    assert joint["joint_key"] == key.joint_public_key.hex()
    assert joint["public_shares"]["1"] == key.public_share.hex()
    trust = TrustStore.from_pem((pilot.data_dir / "ca" / "root.pem").read_bytes())
    endorsement = verify_endorsement(
        {k: v for k, v in joint["endorsements"][0].items() if k != "index"},
        election_id=election_id, joint_key=bytes.fromhex(joint["joint_key"]), fingerprint=bytes.fromhex(joint["fingerprint"]),
        employee_id="T0001", trust_store=trust,
    )
    assert endorsement.employee_id == "T0001"
    fingerprint = page.locator("#done-fingerprint").inner_text()
    with Client(pilot.url) as voter:
        voter.login(pilot.credentials["E0001"])
        assert voter.endorsed_election(election_id).short_fingerprint in fingerprint

    if (lang, size) == ("ja", "desktop"):
        # The browser trustee's key share decrypts with the CLI (after `voting trustee unseal`).
        for voter_id, option in zip(("E0001", "E0002", "E0003", "E0004", "E0005"), ("o1", "o2", "o2", "o3", "o1"), strict=True):
            cast(pilot, election_id, voter_id, {"q1": [option]})
        with Client(pilot.url) as admin:
            admin.login(pilot.credentials["A0001"])
            admin.close_election(election_id)
        unsealed = tmp_path / "T0001-state.json"
        unsealed.write_text(json.dumps(state))
        for t, path in (("T0001", unsealed), ("T0002", python.state_path("T0002"))):
            with Client(pilot.url) as client:
                client.login(pilot.credentials[t])
                trustee_decrypt(client, election_id, path)
        with Client(pilot.url) as admin:
            admin.login(pilot.credentials["A0001"])
            admin.tally(election_id)
            counts = admin.result(election_id)
        assert counts["trustees"] == [1, 2]
        assert {o["id"]: o["count"] for o in counts["questions"][0]["options"]} == {"o0": 0, "o1": 2, "o2": 2, "o3": 1, "o4": 0}
    p.close()


def _forged_announcement(pilot: Pilot, election_id: str, params: threshold.CeremonyParameters) -> dict:
    """Trustee 2's place taken by an announcement of the server's own, signed
    with another trustee's certificate (T0003's, not T0002's)."""
    _, announcement = threshold.start_ceremony(params, 2)
    signature = sign_announcement(pilot.credentials["T0003"], election_id=election_id, announcement=announcement.to_json())
    return {**announcement.to_json(), "signature": signature}


def _parameters(pilot: Pilot, election_id: str) -> threshold.CeremonyParameters:
    with Client(pilot.url) as client:
        client.login(pilot.credentials["T0002"])
        return threshold.CeremonyParameters.from_json(client.get(f"/api/elections/{election_id}/ceremony")["parameters"])


def _impostor_announcement(election_id: str, params: threshold.CeremonyParameters) -> dict:
    """Trustee 2's place taken by an announcement signed with a certificate that
    names T0002, issued by a CA of the server's own (same names as the city's)."""
    now = datetime.now(UTC)
    root = ca.create_root_ca("City Hall Root CA", now=now)
    issuing = ca.create_issuing_ca(root, "City Hall Issuing CA", now=now)
    impostor = ca.enroll_employee(issuing, employee_id="T0002", name="Trustee Two", now=now)
    _, announcement = threshold.start_ceremony(params, 2)
    return {**announcement.to_json(), "signature": sign_announcement(impostor, election_id=election_id, announcement=announcement.to_json())}


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.slow
def test_page_refuses_what_a_dishonest_server_relays(pilot, browser, lang, tmp_path):
    election_id = election(pilot, f"F-mitm-{lang}", "key_ceremony")
    ceremony_path = f"/api/elections/{election_id}/ceremony"
    attack = {"kind": "parameters"}
    forged: dict = {}

    def on_response(request, reply: Reply) -> Reply:
        if request.path != ceremony_path or request.method != "GET" or reply.status != 200:
            return reply
        doc = reply.json()
        if attack["kind"] == "parameters":  # the reply says t = 3 where the board says 2
            return reply.with_json({**doc, "parameters": {**doc["parameters"], "t": 3}})
        if len(doc["announcements"]) == 3:  # trustee 2's announcement replaced
            if not forged:
                forged.update(_forged_announcement(pilot, election_id, threshold.CeremonyParameters.from_json(doc["parameters"])))
            doc["announcements"] = [forged if a["index"] == 2 else a for a in doc["announcements"]]
            return reply.with_json(doc)
        return reply

    with Mitm(pilot.url, on_response=on_response) as mitm:
        p = _page(browser, pilot, lang, "desktop", mitm.url)
        page = p.page
        page.goto(f"{mitm.url}/trustee/{election_id}")
        p.ready()
        page.fill("#pin", PIN)
        _choose_root(p, pilot)
        page.click("#unlock-button")
        page.wait_for_selector("#trustee-error:visible")
        refused = page.locator("#trustee-error").inner_text()
        assert refused.startswith(p.t("trustee.refusal.reply_differs", index=1, n=3, t=2)), refused
        assert page.evaluate("document.activeElement.id") == "trustee-error"
        assert page.locator("#confirm-panel").is_hidden()
        assert not [r for r in mitm.requests if r.method == "POST"], "nothing sent"
        p.check("refused-parameters")
        p.close()

        # The others announce; the server swaps trustee 2's announcement for its own.
        attack["kind"] = "announcement"
        python = PythonTrustees(pilot, election_id)
        python.step_once()
        p = _page(browser, pilot, lang, "desktop", mitm.url)
        page = p.page
        page.goto(f"{mitm.url}/trustee/{election_id}")
        p.ready()
        page.fill("#pin", PIN)
        _choose_root(p, pilot)
        page.click("#unlock-button")
        page.click("#accept-button")
        saved = _save_when_asked(p, tmp_path, f"mitm-{lang}")
        page.wait_for_selector("#trustee-error:visible", timeout=30_000)
        refused = page.locator("#trustee-error").inner_text()
        assert refused.startswith(p.t("trustee.refusal.announcement_signature", index=2, id="T0002")), refused
        posts = [r.path for r in mitm.requests if r.method == "POST"]
        assert posts == [f"{ceremony_path}/announcement"], posts  # its own announcement, never shares
        p.check("refused-announcement")
        p.close()

        # The server's own CA issues a certificate naming T0002 and signs trustee 2's place
        # with it; the page, continuing from its trustee file, checks the chain against the
        # pinned root and refuses before any share is made.
        attack["kind"] = "announcement"
        forged.clear()
        forged.update(_impostor_announcement(election_id, _parameters(pilot, election_id)))
        p = _page(browser, pilot, lang, "desktop", mitm.url)
        page = p.page
        page.goto(f"{mitm.url}/trustee/{election_id}")
        p.ready()
        page.set_input_files("#trustee-file", str(saved))
        page.fill("#pin", PIN)
        mitm.requests.clear()
        page.click("#unlock-button")
        page.wait_for_selector("#trustee-error:visible", timeout=30_000)
        refused = page.locator("#trustee-error").inner_text()
        assert refused.startswith(p.t("trustee.refusal.announcement_untrusted", index=2, id="T0002")), refused
        assert not [r for r in mitm.requests if r.method == "POST"], "nothing sent"
        p.check("refused-impostor")
        p.close()


# --- the partial decryption in the browser ---------------------------------------------


def _sealed_cli_state(pilot: Pilot, election_id: str, trustee: str, tmp: Path, extra_roots=()) -> Path:
    """The trustee file of a trustee whose ceremony the CLI did (`voting trustee
    seal`'s format), with the city's root pinned, as the page pins it (and
    ``extra_roots``, card anchors' roots chosen in the same root.pem)."""
    from voting.trustee_file import seal_trustee_file

    state = json.loads((pilot.data_dir / f"{election_id}-{trustee}.json").read_text())
    root = certificates_from_pem((pilot.data_dir / "ca" / "root.pem").read_bytes())[0]
    state["trust_anchors"] = [base64.b64encode(r.public_bytes(serialization.Encoding.DER)).decode() for r in (root, *extra_roots)]
    path = tmp / f"{election_id}-{trustee}{'-pinned' if extra_roots else ''}-sealed.json"
    path.write_text(json.dumps(seal_trustee_file(state, PIN, election_id=election_id, employee_id=trustee)))
    return path


def _unlock_with_file(p: Page, path: Path, url: str, election_id: str) -> None:
    page = p.page
    page.goto(f"{url}/trustee/{election_id}")
    p.ready()
    page.set_input_files("#trustee-file", str(path))
    page.fill("#pin", PIN)
    page.click("#unlock-button")
    page.wait_for_selector("#decrypt-button:visible", timeout=60_000)


@pytest.mark.slow
def test_trustee_decrypts_in_the_browser(pilot, browser, lang_size, tmp_path):
    """T0001 decrypts in the browser (after checking the record as the CLI
    does), T0002 with the CLI; the tally is right."""
    lang, size = lang_size
    election_id = election(pilot, f"F3-{lang}-{size}", "closed")
    sealed = _sealed_cli_state(pilot, election_id, "T0001", tmp_path)
    p = _page(browser, pilot, lang, size, pilot.url)
    page = p.page
    _unlock_with_file(p, sealed, pilot.url, election_id)
    p.check("decrypt-ready")
    page.click("#decrypt-button")
    saved = _save_when_asked(p, tmp_path, f"partial-{lang}-{size}")
    page.wait_for_selector("#decrypt-result:visible", timeout=60_000)
    assert page.locator("#decrypt-result").inner_text() == p.t("trustee.decrypt_done", count=5)
    assert page.evaluate("document.activeElement.id") == "decrypt-result"
    checks = page.locator("#decrypt-checks li").all_inner_texts()
    assert len(checks) == 9 and all(c.startswith(p.t("trustee.decrypt_check_pass", title="")) for c in checks), checks
    p.check("decrypted")
    # Saved before it was sent: the file holds the partial decryption the server has.
    state = open_trustee_file(json.loads(saved.read_text()), PIN)
    with Client(pilot.url) as client:
        client.login(pilot.credentials["T0002"])
        trustee_decrypt(client, election_id, pilot.data_dir / f"{election_id}-T0002.json")
    with Client(pilot.url) as admin:
        admin.login(pilot.credentials["A0001"])
        admin.tally(election_id)
        counts = admin.result(election_id)
        partials = [e for e in admin.board_until(election_id, "result") if e["kind"] == "partial-decryption"]
    assert counts["trustees"] == [1, 2]
    assert {o["id"]: o["count"] for o in counts["questions"][0]["options"]} == {"o0": 0, "o1": 2, "o2": 2, "o3": 1, "o4": 0}
    assert next(e["body"] for e in partials if e["body"]["index"] == 1)["shares"] == state["partial_decryption"]["shares"]
    p.close()


def _tampered_record(data: bytes, attack: str) -> bytes:
    """What a dishonest server serves as the record: its aggregate replaced, or a ballot dropped."""
    from voting.record import files as F
    from voting.record.files import read_record_zip, record_zip

    files = read_record_zip(data)
    entries = [json.loads(line) for line in files[F.BOARD].splitlines()]
    if attack == "aggregate":  # two options' sums swapped: a different result
        aggregate = next(e for e in entries if e["kind"] == "aggregate")
        cts = aggregate["body"]["ciphertexts"]
        cts[1], cts[2] = cts[2], cts[1]
        files[F.AGGREGATE] = json.dumps({"leaf_index": aggregate["index"], **aggregate["body"]}).encode()
    else:  # the first ballot left out of the board and of ballots.json
        dropped = next(e for e in entries if e["kind"] == "ballot")
        entries = [e for e in entries if e is not dropped]
        ballots = [b for b in json.loads(files[F.BALLOTS]) if b["leaf_index"] != dropped["index"]]
        files[F.BALLOTS] = json.dumps(ballots).encode()
    from crypto.encoding import canonical_json

    files[F.BOARD] = b"".join(canonical_json(e) + b"\n" for e in entries)
    return record_zip(files)


@pytest.mark.parametrize(("lang", "attack"), [("ja", "aggregate"), ("en", "ballot")])
@pytest.mark.slow
def test_page_refuses_to_decrypt_a_record_the_server_changed(pilot, browser, lang, attack, tmp_path):
    election_id = election(pilot, f"F3-mitm-{lang}", "closed")
    sealed = _sealed_cli_state(pilot, election_id, "T0001", tmp_path)
    record_path = f"/api/elections/{election_id}/record/private"

    def on_response(request, reply: Reply) -> Reply:
        if request.path == record_path and reply.status == 200:
            return Reply(reply.status, {k: v for k, v in reply.headers.items() if k.lower() != "etag"}, _tampered_record(reply.body, attack))
        return reply

    with Mitm(pilot.url, on_response=on_response) as mitm:
        p = _page(browser, pilot, lang, "desktop", mitm.url)
        page = p.page
        _unlock_with_file(p, sealed, mitm.url, election_id)
        mitm.requests.clear()
        page.click("#decrypt-button")
        page.wait_for_selector("#trustee-error:visible", timeout=60_000)
        refused = page.locator("#trustee-error").inner_text()
        assert refused.startswith(p.t("trustee.refusal.record_checks", checks="@").split("@")[0]), refused
        assert page.evaluate("document.activeElement.id") == "trustee-error"
        assert page.locator("#save-panel").is_hidden(), "nothing decrypted, nothing to save"
        failed = [li for li in page.locator("#decrypt-checks li").all_inner_texts() if li.startswith(p.t("trustee.decrypt_check_fail", title=""))]
        assert any(p.t("trustee.record_check.7") in li for li in failed), failed
        if attack == "aggregate":
            assert any(p.t("trustee.record_check.8") in li for li in failed), failed
        assert [r.path for r in mitm.requests if r.method == "POST"] == [], "nothing sent"
        assert any(r.path == record_path for r in mitm.requests)
        p.check(f"refused-record-{attack}")
        p.close()


def _private_record_hook(record_path: str, change):
    """A stand-in hook that changes the files of the record it relays (``change(files)``)."""
    from voting.record.files import read_record_zip, record_zip

    def on_response(request, reply: Reply) -> Reply:
        if request.path != record_path or reply.status != 200:
            return reply
        files = read_record_zip(reply.body)
        change(files)
        return Reply(reply.status, {k: v for k, v in reply.headers.items() if k.lower() != "etag"}, record_zip(files))

    return on_response


def _attested(files: dict, count: int) -> None:
    """The server says the first ``count`` registrations were attested by a TLS
    client certificate login: their chains stay, their signatures go."""
    from voting.record import files as F

    roll = json.loads(files[F.ROLL])
    for row in [r for r in roll if r["registration"]][:count]:
        row["registration"] = {**row["registration"], "signature": None, "attested": "client-certificate"}
    files[F.ROLL] = json.dumps(roll).encode()


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.slow
def test_page_decrypts_attested_registrations_only_once_the_trustee_accepts_their_number(pilot, browser, lang, tmp_path):
    """Registrations attested by a TLS client certificate login rest on the
    server's word: the page refuses, shows how many with a box to tick, and
    decrypts once the trustee ticks it (the same number), never before."""
    election_id = election(pilot, f"F3-attested-{lang}", "closed")
    sealed = _sealed_cli_state(pilot, election_id, "T0001", tmp_path)
    record_path = f"/api/elections/{election_id}/record/private"
    partials = f"/api/elections/{election_id}/partial-decryptions"
    with Mitm(pilot.url, on_response=_private_record_hook(record_path, lambda files: _attested(files, 2))) as mitm:
        p = _page(browser, pilot, lang, "desktop", mitm.url)
        page = p.page
        _unlock_with_file(p, sealed, mitm.url, election_id)
        assert page.locator("#attested-box").is_hidden()
        page.click("#decrypt-button")
        page.wait_for_selector("#trustee-error:visible", timeout=60_000)
        refused = page.locator("#trustee-error").inner_text()
        assert refused.startswith(p.t("trustee.refusal.attested_not_accepted", count=2)), refused
        assert page.locator("#attested-text").inner_text() == p.t("trustee.attested_text", count=2)
        assert page.locator("#attested-accept-label").inner_text() == p.t("trustee.attested_accept", count=2)
        assert not page.locator("#attested-accept").is_checked()
        assert page.locator("#save-panel").is_hidden(), "nothing decrypted, nothing to save"
        p.check("attested-refused")

        # Not ticked: refused again; ticked: decrypted and sent.
        page.click("#decrypt-button")
        page.wait_for_selector("#trustee-error:visible", timeout=60_000)
        assert page.locator("#trustee-error").inner_text().startswith(p.t("trustee.refusal.attested_not_accepted", count=2))
        assert not [r for r in mitm.requests if r.method == "POST" and r.path == partials], "nothing sent"
        page.check("#attested-accept")
        page.click("#decrypt-button")
        _save_when_asked(p, tmp_path, f"attested-{lang}")
        page.wait_for_selector("#decrypt-result:visible", timeout=60_000)
        assert page.locator("#decrypt-result").inner_text() == p.t("trustee.decrypt_done", count=5)
        assert page.locator("#attested-box").is_hidden()
        assert [r.path for r in mitm.requests if r.method == "POST"] == [partials]
        p.check("attested-accepted")
        p.close()


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.slow
def test_page_refuses_a_card_anchor_it_did_not_pin(pilot, browser, lang, tmp_path):
    """The server names a card anchor of its own in the record
    (auditors/enrollments.json): the page refuses, naming it, unless the
    trustee pinned that root too (in the root.pem chosen at the ceremony)."""
    from datetime import timedelta

    from voting.record import files as F

    election_id = election(pilot, f"F3-anchor-{lang}", "closed")
    own = ca.create_root_ca("own Root CA", now=datetime.now(UTC) - timedelta(hours=1))
    der = own.certificate.public_bytes(serialization.Encoding.DER)

    def slip(files: dict) -> None:
        doc = json.loads(files[F.ENROLLMENTS])
        doc["anchors"].append({"name": "own", "certificates": [base64.b64encode(der).decode()]})
        files[F.ENROLLMENTS] = json.dumps(doc).encode()

    record_path = f"/api/elections/{election_id}/record/private"
    with Mitm(pilot.url, on_response=_private_record_hook(record_path, slip)) as mitm:
        p = _page(browser, pilot, lang, "desktop", mitm.url)
        page = p.page
        _unlock_with_file(p, _sealed_cli_state(pilot, election_id, "T0001", tmp_path), mitm.url, election_id)
        page.click("#decrypt-button")
        page.wait_for_selector("#trustee-error:visible", timeout=60_000)
        refused = page.locator("#trustee-error").inner_text()
        shown = ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())
        anchor = f"own: CN=own Root CA (SHA-256 {shown})"
        assert refused.startswith(p.t("trustee.refusal.record_foreign_ca", anchor=anchor)), refused
        assert not [r for r in mitm.requests if r.method == "POST"], "nothing sent"
        p.check("anchor-refused")
        p.close()

        # A trustee who pinned that root with the city's decrypts.
        pinned = _sealed_cli_state(pilot, election_id, "T0001", tmp_path, extra_roots=(own.certificate,))
        p = _page(browser, pilot, lang, "desktop", mitm.url)
        page = p.page
        _unlock_with_file(p, pinned, mitm.url, election_id)
        page.click("#decrypt-button")
        _save_when_asked(p, tmp_path, f"anchor-{lang}")
        page.wait_for_selector("#decrypt-result:visible", timeout=60_000)
        assert page.locator("#decrypt-result").inner_text() == p.t("trustee.decrypt_done", count=5)
        p.close()
