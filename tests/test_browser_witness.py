"""The pages and the election's witnesses (issue 12), in chromium, with the
fixtures of tests/test_browser.py (a real server on a loopback port).

The witnesses here are keys the test holds: it cosigns the heads it chooses
(crypto.witness.cosign) and posts them to the server (POST …/board/cosignatures),
and a small HTTP server in the test plays one witness's own log (its manifest
`url`, served with CORS), so the page's gossip has someone to ask.

- The voter casts in the browser: the receipt is shown at once; once the
  quorum cosigns, the receipt page adds `witnessed` to the receipt it offers
  ("witnesses confirmed"). The receipt check page completes a plain receipt from
  the server's cosigned head, offers the completed receipt, compares with the
  witness's own log, notes an unreachable witness, and says "check again in a
  few minutes" for a ballot not yet cosigned.
- An election without witnesses: a visible note, not a failure.
- A server stand-in (tests/mitm_support.Mitm) that serves as cosigned a head
  of another board (signed with the server's key, cosigned by the witnesses):
  the split-view alarm, in Japanese and English. The same when a witness's own
  log shows a head of another board.
- The administrator names the witnesses on the new-election page: pasted as
  `voting witness init` prints them (one after another, or a JSON array), with
  the quorum; malformed entries are refused next to the field, in words, and
  the server's own refusal (a witness with the server's key) is shown too.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crypto import log as merkle
from crypto.receipts import WITNESSED, verify_witnessed, witness_policy_for
from crypto.witness import CosignedHead, WitnessPolicy, cosign
from tests.mitm_support import Mitm, Reply, Request
from tests.support import free_port, manifest, roll_csv
from tests.test_browser import PIN, TRUSTEES, VOTERS, Pilot, Session, _ceremony, _voter, browser, msg, pilot  # noqa: F401
from voting.client import ApiError, Client
from voting.keys import load_or_create

NAMES = ["監査事務局", "職員組合", "情報政策課"]


class WitnessLog:
    """One witness's own read-only log (`GET /elections/{id}`), as the witness
    process serves it with --listen: {server_key, tree_head, cosignature}, CORS."""

    def __init__(self) -> None:
        self.heads: dict[str, dict] = {}
        self.requests: list[str] = []
        log = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                log.requests.append(self.path)
                match = re.fullmatch(r"/w/elections/([A-Za-z0-9_.-]+)", self.path)
                doc = log.heads.get(match.group(1)) if match else None
                body = json.dumps(doc if doc else {"detail": "nothing cosigned"}).encode()
                self.send_response(200 if doc else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/w"

    def publish(self, election_id: str, server_key: bytes, sth: merkle.SignedTreeHead, key: Ed25519PrivateKey) -> None:
        cosignature = cosign(key, sth.head, sth.head.timestamp_ms + 7)
        self.heads[election_id] = {"server_key": server_key.hex(), "tree_head": sth.to_json(), "cosignature": cosignature.to_json()}

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def witness_log():
    log = WitnessLog()
    yield log
    log.stop()


@pytest.fixture(scope="module")
def keys() -> list[Ed25519PrivateKey]:
    return [Ed25519PrivateKey.generate() for _ in NAMES]


def _policy_doc(keys: list[Ed25519PrivateKey], log_url: str) -> dict:
    """2 of 3: the first serves its own log (the test's), the second names an
    address where nothing answers, the third publishes no log."""
    unreachable = f"http://127.0.0.1:{free_port()}/nobody"
    urls = [log_url, unreachable, None]
    members = []
    for name, key, url in zip(NAMES, keys, urls, strict=True):
        member = {"name": name, "public_key": key.public_key().public_bytes_raw().hex()}
        if url:
            member["url"] = url
        members.append(member)
    return {"quorum": 2, "members": members}


def _open(pilot: Pilot, election_id: str, witnesses: dict | None) -> dict:
    doc = manifest(election_id)
    if witnesses is not None:
        doc["witnesses"] = witnesses
    with Client(pilot.url) as admin:
        admin.login(pilot.credentials["A0001"])
        admin.create_election(doc, list(TRUSTEES), 2)
        admin.import_roll(election_id, roll_csv(list(VOTERS)))
        admin.start_ceremony(election_id)
        _ceremony(pilot, election_id)
        admin.open(election_id)
        return admin.status(election_id)


def _newest(pilot: Pilot, election_id: str) -> merkle.SignedTreeHead:
    with Client(pilot.url) as client:
        doc = client.get(f"/api/elections/{election_id}/board/head")
    return merkle.SignedTreeHead.from_json({k: v for k, v in doc.items() if k != "server_key"})


def _cosign(pilot: Pilot, election_id: str, sth: merkle.SignedTreeHead, keys: list[Ed25519PrivateKey]) -> None:
    """Play honest witnesses: cosign this head and post the cosignatures."""
    with Client(pilot.url) as client:
        for key in keys:
            cosignature = cosign(key, sth.head, sth.head.timestamp_ms + 1)
            client.post(f"/api/elections/{election_id}/board/cosignatures", {"size": sth.head.size, "cosignature": cosignature.to_json()})


def _cast(pilot: Pilot, election_id: str, employee_id: str, option: str = "o1") -> dict:
    with Client(pilot.url) as client:
        client.login(pilot.credentials[employee_id])
        return client.cast(client.prepare_ballot(election_id, {"q1": [option]}))


def _server_key(pilot: Pilot) -> Ed25519PrivateKey:
    return load_or_create(pilot.data_dir / "server-signing-key.pem").private_key


def _save(pilot: Pilot, name: str, doc: dict) -> Path:
    path = pilot.data_dir / name
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def _check(s: Session, base_url: str, path: Path) -> str:
    """The receipt check page on a saved file; returns the summary's tone."""
    page = s.page
    page.goto(f"{base_url}/receipt/check")
    s.ready()
    page.set_input_files("#receipt-file", str(path))
    page.click("#check-button")
    page.wait_for_selector("#check-summary.result--good, #check-summary.result--bad, #check-summary.result--pending, #check-error:visible")
    assert page.locator("#check-error").is_hidden(), page.locator("#check-error").inner_text()
    return re.search(r"result--(\w+)", page.locator("#check-summary").get_attribute("class")).group(1)


def _steps(s: Session, mark: str) -> list[str]:
    """The texts of the steps with this mark (ok, fail, note, wait), without the mark."""
    return s.page.locator(f"#check-results li:has(span.{mark})").evaluate_all("items => items.map((li) => li.lastChild.textContent)")


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.slow
def test_witnessed_receipt_in_the_browser(pilot, browser, witness_log, keys, lang):
    election_id = f"witnessed-{lang}"
    policy_doc = _policy_doc(keys, witness_log.url)
    status = _open(pilot, election_id, policy_doc)
    server_key = bytes.fromhex(_newest_key(pilot, election_id))

    # The voter casts in the browser: the receipt is there at once, the witnesses not yet.
    s = _voter(browser, pilot, "E0001", lang, pilot.url)
    page = s.page
    s.goto(f"/vote/{election_id}")
    page.wait_for_selector("#step-choose:visible")
    page.check("#q0-o2")
    page.fill("#ballot-pin", PIN)
    page.click("#encrypt-button")
    page.wait_for_selector("#step-review:visible")
    page.click("#cast-button")
    page.wait_for_url(re.compile(rf".*/vote/{election_id}/receipt\?code=[0-9a-f]{{64}}$"))
    s.ready()
    page.wait_for_selector("#receipt:visible")
    status_line = page.locator("#witness-status")
    page.wait_for_selector(f"#witness-status:has-text('{s.t('receipt.witnesses_waiting')}')")
    s.shot("receipt-waiting-for-witnesses")
    with page.expect_download() as download:
        page.click("#receipt-download")
    plain_path = pilot.data_dir / f"witnessed-{lang}-plain.json"
    download.value.save_as(plain_path)
    plain = json.loads(plain_path.read_text(encoding="utf-8"))
    assert WITNESSED not in plain, "the receipt is offered before the witnesses confirm"

    # Two of the three witnesses cosign the board with the ballot; the first publishes it in its own log.
    head = _newest(pilot, election_id)
    assert head.head.size >= plain["tree_head"]["size"]
    _cosign(pilot, election_id, head, keys[:2])
    witness_log.publish(election_id, server_key, head, keys[0])
    page.wait_for_selector(f"#witness-status:has-text('{s.t('receipt.witnesses_confirmed')}')", timeout=25_000)
    assert status_line.get_attribute("role") == "status" and status_line.get_attribute("aria-live") == "polite"
    s.shot("receipt-witnesses-confirmed")
    with page.expect_download() as download:
        page.click("#receipt-download")
    witnessed_path = pilot.data_dir / f"witnessed-{lang}-completed.json"
    download.value.save_as(witnessed_path)
    completed = json.loads(witnessed_path.read_text(encoding="utf-8"))
    created, joint = _created_and_joint(pilot, election_id)
    policy = witness_policy_for(completed, created, joint)
    assert policy == WitnessPolicy.from_json(policy_doc)
    _cosigned, names = verify_witnessed(completed, policy, server_key=server_key)
    assert [w.name for w in names] == NAMES[:2] or sorted(w.name for w in names) == sorted(NAMES[:2])
    assert {k: v for k, v in completed.items() if k != WITNESSED} == plain

    # Another ballot after the cosigned head: the board grows.
    later = _cast(pilot, election_id, "E0002")
    assert later["tree_head"]["size"] > head.head.size

    # The check page completes the plain receipt from the server's cosigned head.
    checker = Session(browser, pilot, lang, "checker")
    checker.context.add_cookies([{"name": "lang", "value": lang, "url": pilot.url}])
    assert _check(checker, pilot.url, plain_path) == "good"
    cpage = checker.page
    code = cpage.evaluate("async (hex) => (await import('/static/js/ballots.js')).shortCodeFromHex(hex)", plain["tracking_code"])
    assert cpage.locator("#check-summary").inner_text() == checker.t("check.passed_witnessed", code=code)
    assert cpage.locator("#check-results .fail").count() == 0
    separator = checker.t("ballot.list_separator")
    ok = _steps(checker, "ok")
    assert checker.t("check.step_policy_ok", n=3, k=2, names=separator.join(NAMES)) in ok
    assert {checker.t("check.step_witnessed_ok", names=separator.join(n), count=2, k=2, size=head.head.size) for n in (NAMES[:2], NAMES[1::-1])} & set(ok), ok
    assert checker.t("check.step_gossip_ok", name=NAMES[0], size=head.head.size) in ok
    notes = [n for n in _steps(checker, "note") if n != checker.t("check.step_none_reported")]  # the server's unsigned word
    assert len(notes) == 1 and notes[0].startswith(checker.t("check.step_gossip_unreachable", name=NAMES[1], detail="").split("（")[0].split("(")[0])
    assert any(p.startswith(f"/w/elections/{election_id}") for p in witness_log.requests), "the page asked the witness itself"
    assert cpage.locator("#split-view-alarm").is_hidden()
    assert cpage.locator("#completed").is_visible()
    checker.shot("check-completed")
    with cpage.expect_download() as download:
        cpage.click("#completed-download")
    from_check = pilot.data_dir / f"witnessed-{lang}-from-check.json"
    download.value.save_as(from_check)
    verify_witnessed(json.loads(from_check.read_text(encoding="utf-8")), policy, server_key=server_key)

    # The completed receipt proves itself: it passes with its own witnessed member, nothing to complete.
    assert _check(checker, pilot.url, witnessed_path) == "good"
    assert cpage.locator("#completed").is_hidden()

    # The later ballot is not under a cosigned head yet: not an alarm, "check again in a few minutes".
    later_path = _save(pilot, f"witnessed-{lang}-later.json", later)
    assert _check(checker, pilot.url, later_path) == "pending"
    later_code = cpage.evaluate("async (hex) => (await import('/static/js/ballots.js')).shortCodeFromHex(hex)", later["tracking_code"])
    assert cpage.locator("#check-summary").inner_text() == checker.t("check.passed_pending", code=later_code)
    assert _steps(checker, "wait") == [checker.t("check.step_witnessed_pending")]
    assert cpage.locator("#check-results .fail").count() == 0
    assert cpage.locator("#split-view-alarm").is_hidden()
    checker.shot("check-pending")
    for session in (s, checker):
        session.close()
    assert status["manifest"]["witnesses"] == policy_doc


def _newest_key(pilot: Pilot, election_id: str) -> str:
    with Client(pilot.url) as client:
        return client.get(f"/api/elections/{election_id}/board/head")["server_key"]


def _created_and_joint(pilot: Pilot, election_id: str) -> tuple[dict, dict]:
    with Client(pilot.url) as client:
        entries = client.get(f"/api/elections/{election_id}/board/entries", start=0, limit=50)["entries"]
    return entries[0], next(e for e in entries if e["kind"] == "joint-key")


@pytest.mark.slow
def test_an_election_without_witnesses_is_noted_not_failed(pilot, browser):
    election_id = "no-witnesses"
    _open(pilot, election_id, None)
    receipt = _cast(pilot, election_id, "E0003")
    s = Session(browser, pilot, "en", "checker")
    s.context.add_cookies([{"name": "lang", "value": "en", "url": pilot.url}])
    assert _check(s, pilot.url, _save(pilot, "no-witnesses.json", receipt)) == "good"
    assert _steps(s, "note") == [s.t("check.step_none_reported"), s.t("check.step_witnesses_none")]
    assert s.page.locator("#check-results .fail").count() == 0
    assert s.page.locator("#completed").is_hidden()
    s.shot("check-no-witnesses")
    s.close()


def _forged_branch(pilot: Pilot, election_id: str, size: int, keys: list[Ed25519PrivateKey]) -> CosignedHead:
    """A head of `size` entries of another board, signed with the server's own
    key and cosigned by the witnesses (who were shown that board)."""
    other = merkle.sign_tree_head(_server_key(pilot), merkle.TreeHead(election_id, size, bytes(range(32)), 1_767_225_600_000 + size))
    return CosignedHead(other, tuple(cosign(k, other.head, other.head.timestamp_ms + 1) for k in keys))


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.slow
def test_a_cosigned_head_of_another_board_raises_the_split_view_alarm(pilot, browser, witness_log, keys, lang):
    """The server stand-in serves, as the newest cosigned head, one of another
    board: the witnesses cosigned the board everybody else sees, and the voter's
    receipt is not on it. The real server's consistency proof does not lead from
    the receipt's head to that head: the alarm, in both languages; nothing is
    offered for download. Then the stand-in serves the honest cosigned head but
    a witness's own log shows the other board: the same alarm."""
    election_id = f"split-{lang}"
    _open(pilot, election_id, _policy_doc(keys, witness_log.url))
    receipt = _cast(pilot, election_id, "E0004")
    path = _save(pilot, f"split-{lang}.json", receipt)
    _cast(pilot, election_id, "E0005")
    head = _newest(pilot, election_id)
    assert head.head.size > receipt["tree_head"]["size"]
    _cosign(pilot, election_id, head, keys[:2])
    server_key = _server_key(pilot).public_key().public_bytes_raw()
    witness_log.publish(election_id, server_key, head, keys[0])
    forged = _forged_branch(pilot, election_id, head.head.size, keys[:2])

    def serve_other_branch(request: Request) -> Reply | None:
        if request.path == f"/api/elections/{election_id}/board/cosigned":
            return Reply(200, {"content-type": "application/json"}, json.dumps(forged.to_json()).encode())
        return None

    def expect_alarm(s: Session) -> None:
        page = s.page
        alarm = page.locator("#split-view-alarm")
        assert alarm.is_visible()
        assert alarm.get_attribute("role") == "alert"
        text = alarm.inner_text()
        for code in ("ja", "en"):
            assert msg(key="check.split_view", lang=code) in text
        assert "監査事務局" in text and "audit office" in text
        assert page.locator("#check-summary").inner_text() == s.t("check.split_view")
        assert page.locator("#completed").is_hidden()

    with Mitm(pilot.url, on_request=serve_other_branch) as mitm:
        s = Session(browser, pilot, lang, "voter")
        s.context.add_cookies([{"name": "lang", "value": lang, "url": url} for url in (mitm.url, pilot.url)])
        assert _check(s, mitm.url, path) == "bad"
        expect_alarm(s)
        failed = _steps(s, "fail")
        assert len(failed) == 1 and failed[0].startswith(s.t("check.step_split_view", detail="").rstrip())
        assert any(r.path.endswith("/board/consistency") for r in mitm.requests), "the page asked the server for the proof"
        s.shot("split-view-alarm")

    # The honest cosigned head, but the witness's own log shows another board.
    other = _forged_branch(pilot, election_id, head.head.size + 2, keys[:1]).tree_head
    witness_log.publish(election_id, server_key, other, keys[0])
    try:
        assert _check(s, pilot.url, path) == "bad"
        expect_alarm(s)
        assert [t for t in _steps(s, "fail") if t.startswith(s.t("check.step_gossip_bad", name=NAMES[0], detail="").rstrip())]
        confirmed = {s.t("check.step_witnessed_ok", names=s.t("ballot.list_separator").join(n), count=2, k=2, size=head.head.size) for n in (NAMES[:2], NAMES[1::-1])}
        assert confirmed & set(_steps(s, "ok"))
        s.shot("split-view-gossip")
    finally:
        witness_log.publish(election_id, server_key, head, keys[0])
    s.close()


# --- the administrator names the witnesses (the new-election page) ------------------------


def _admin(browser, pilot: Pilot, lang: str) -> Session:
    s = _voter(browser, pilot, "A0001", lang, pilot.url)
    s.who = "admin"
    return s


def _fill_election(page, election_id: str) -> None:
    page.fill("#election-id", election_id)
    page.fill("#title-ja", "立会人のいる職員アンケート")
    page.fill("#title-en", "Staff survey with witnesses")
    page.fill("#trustees", "\n".join(TRUSTEES))
    page.fill("#threshold", "2")
    question = page.locator(".question-editor").nth(0)
    question.locator("[data-name='text-ja']").fill("新しい勤務制度に賛成ですか？")
    question.locator("[data-name='text-en']").fill("Do you agree with the new working arrangements?")
    for i, (ja, en) in enumerate([("賛成", "Agree"), ("反対", "Disagree")]):
        option = question.locator(".option-editor").nth(i)
        option.locator("[data-name='label-ja']").fill(ja)
        option.locator("[data-name='label-en']").fill(en)


def _field_error(s: Session, field_id: str, text: str) -> None:
    """The message under the field, in words, tied to it by aria-describedby, the field marked invalid."""
    from playwright.sync_api import expect

    page = s.page
    error = page.locator(f"#{field_id}-error")
    expect(error).to_have_text(text)
    expect(error).to_be_visible()
    field = page.locator(f"#{field_id}")
    expect(field).to_have_attribute("aria-invalid", "true")
    assert f"{field_id}-error" in field.get_attribute("aria-describedby").split()


def _not_created(pilot: Pilot, election_id: str) -> None:
    with Client(pilot.url) as client:
        client.login(pilot.credentials["A0001"])
        with pytest.raises(ApiError) as refused:
            client.status(election_id)
    assert refused.value.status == 404


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_administrator_names_the_witnesses_in_the_form(pilot, browser, keys, lang):
    from playwright.sync_api import expect

    election_id = f"form-witnesses-{lang}"
    members = [
        {"name": "監査事務局 (audit office)", "public_key": keys[0].public_key().public_bytes_raw().hex(), "url": "https://witness.audit.city.example"},
        {"name": "職員組合", "public_key": keys[1].public_key().public_bytes_raw().hex()},
    ]
    # As `voting witness init` prints them (json.dumps(..., ensure_ascii=False, indent=2)), one after
    # another; in English as a JSON array, with a quorum of 1 given (2 of 2 by default in Japanese).
    printed = "\n".join(json.dumps(m, ensure_ascii=False, indent=2) for m in members)
    pasted, quorum = (printed, 2) if lang == "ja" else (json.dumps(members, ensure_ascii=False), 1)
    s = _admin(browser, pilot, lang)
    page = s.page
    s.goto("/admin/new")
    page.wait_for_selector("#create-form .question-editor")
    entries, quorum_field, note = page.locator("#witnesses"), page.locator("#witness-quorum"), page.locator("#witnesses-none")
    assert page.locator("#witnesses-fieldset legend").inner_text() == s.t("create.witnesses")
    assert page.locator("#witnesses-about").inner_text() == s.t("create.witnesses_about")

    # No witnesses (allowed): the note says what that means, and the field points to it.
    expect(note).to_be_visible()
    assert note.inner_text() == s.t("create.witnesses_none")
    assert "witnesses-none" in entries.get_attribute("aria-describedby").split()
    _fill_election(page, election_id)

    # A malformed entry (the second key cut short): refused in the page, next to the field.
    entries.fill(printed.replace(members[1]["public_key"], members[1]["public_key"][:-2]))
    page.click("#create-button")
    _field_error(s, "witnesses", s.t("create.witness_err_key", n=2))
    expect(page.locator("#create-error")).to_have_text(s.t("create.fix_witnesses"))
    expect(note).to_be_hidden()
    s.shot("witnesses-malformed")
    # Text that is not an entry, after the two (9 lines): refused, with its line.
    entries.fill(printed + "\nname: 職員組合")
    _field_error(s, "witnesses", s.t("create.witness_err_syntax", line=10))
    # A witness's state file, with its private key: refused, and said why.
    entries.fill(json.dumps({"format": "votingpilot-witness-state", "name": "職員組合", "private_key": "00" * 32, "public_key": members[1]["public_key"]}))
    _field_error(s, "witnesses", s.t("create.witness_err_state_file", n=1))
    # More witnesses needed than there are: refused next to the quorum field.
    entries.fill(pasted)
    expect(page.locator("#witnesses-error")).to_be_hidden()
    assert entries.get_attribute("aria-invalid") is None
    quorum_field.fill("3")
    page.click("#create-button")
    _field_error(s, "witness-quorum", s.t("create.witness_err_quorum", count=2))
    _not_created(pilot, election_id)

    # The server's own check: no witness may have the server's key. Its refusal is shown, and at the field.
    server_entry = {"name": "サーバー", "public_key": _server_key(pilot).public_key().public_bytes_raw().hex()}
    entries.fill(printed + "\n" + json.dumps(server_entry, ensure_ascii=False))
    quorum_field.fill("")
    page.click("#create-button")
    detail = "a witness cannot have the server's own key: witnesses are independent of it"
    # The server's English reason only in an English page: a Japanese page says it in its words.
    refused = s.t("create.server_refused", reason=s.t("error.code.invalid_manifest"), detail=detail) if lang == "en" else s.t("error.code.invalid_manifest")
    expect(page.locator("#create-error")).to_have_text(refused)
    _field_error(s, "witnesses", s.t("create.witness_err_server_key"))
    s.shot("witnesses-server-refused")
    _not_created(pilot, election_id)

    # The two witnesses: the page says who they are (first key digits) and how many must cosign.
    entries.fill(pasted)
    quorum_field.fill("" if lang == "ja" else str(quorum))
    named = [s.t("create.witness_named", name=m["name"], digits=m["public_key"][:8]) for m in members]
    summary = s.t("create.witnesses_summary", count=2, names=s.t("ballot.list_separator").join(named), quorum=quorum)
    expect(page.locator("#witnesses-summary")).to_have_text(summary)
    low = page.locator("#witness-quorum-low")
    if quorum == 1:  # 1 of 2 is not more than half: a warning, not a refusal
        expect(low).to_have_text(s.t("create.witness_quorum_low", quorum=1, count=2))
        assert "witness-quorum-low" in quorum_field.get_attribute("aria-describedby").split()
    else:
        expect(low).to_be_hidden()
    expect(page.locator("#witnesses-error")).to_be_hidden()
    expect(note).to_be_hidden()
    # (Nothing focused for the full-page screenshot: chromium would scroll back to the field on the next focus change.)
    quorum_field.blur()
    s.shot("witnesses-named")
    page.click("#create-button")
    page.wait_for_url(f"**/admin/{election_id}")
    s.ready()
    s.close()

    # Stored: the status, the board's election-created entry (signed, in the fingerprint), the witnesses endpoint.
    expected = {"quorum": quorum, "members": members}
    with Client(pilot.url) as client:
        client.login(pilot.credentials["A0001"])
        assert client.status(election_id)["manifest"]["witnesses"] == expected
        created = client.get(f"/api/elections/{election_id}/board/entries", start=0, limit=1)["entries"][0]
        listed = client.get(f"/api/elections/{election_id}/board/witnesses")
    assert created["kind"] == "election-created"
    assert created["body"]["manifest"]["witnesses"] == expected
    assert WitnessPolicy.from_json(created["body"]["manifest"]["witnesses"]) == WitnessPolicy.from_json(expected)
    assert listed["quorum"] == quorum
    assert [(w["name"], w["public_key"], w["url"]) for w in listed["witnesses"]] == [(m["name"], m["public_key"], m.get("url")) for m in members]
