"""The printed receipt carries a QR code, and /receipt/check
reads it (docs/web.md, "The printed receipt").

A ballot is cast by the Python client (a real cast on the real server); its
receipt page, in both languages at both sizes, shows the QR code of the
compact receipt (`VPR1:…`, crypto/receipts.py) and prints it; a screenshot of
the page in print media, uploaded on /receipt/check as a picture, is decoded in
the browser and passes the check; a QR code of a tampered compact receipt fails
with the page's words. The camera: chromium's fake camera shows the printed
QR code and the page reads it from the video. Only /receipt/check may use the
camera (Permissions-Policy); every other page's policy is unchanged. The
compact form has a test vector, and `voting receipt check` accepts it.
"""

from __future__ import annotations

import json
import re

import httpx
import pytest
from click.testing import CliRunner

from crypto.receipts import ReceiptError, compact_receipt, expand_compact_receipt, parse_compact_receipt, verify_receipt
from tests.browser_support import CHROMIUM, LAUNCH_ARGS, VOTERS, Page, browser, cast, election, lang_size, pilot  # noqa: F401
from voting.cli.receipt import receipt as receipt_cli
from voting.web.pages import CONTENT_SECURITY_POLICY

ELECTION = "g-qr"
#: What a QR code holds at most (version 40, error correction L, bytes): a
#: code that large does not print at receipt size nor scan reliably.
QR_MAX_BYTES = 2953


@pytest.fixture(scope="module")
def open_election(pilot):
    return election(pilot, ELECTION, "open")


_voters = iter(VOTERS)


def _receipt_png(page: Page) -> bytes:
    """The receipt page as printed: print media, a full-page screenshot."""
    page.page.emulate_media(media="print")
    try:
        png = page.page.screenshot(full_page=True)
        page.shot("receipt-print")
        return png
    finally:
        page.page.emulate_media(media="screen")


def _check_picture(page: Page, png: bytes):
    page.goto("/receipt/check")
    page.page.set_input_files("#qr-image", files=[{"name": "receipt.png", "mimeType": "image/png", "buffer": png}])


@pytest.mark.slow
def test_printed_receipt_qr_checks_out(pilot, open_election, browser, lang_size):
    lang, size = lang_size
    receipt = cast(pilot, ELECTION, next(_voters), {"q1": ["o2"]})
    full = len(json.dumps(receipt, separators=(",", ":")))
    compact = compact_receipt(receipt)
    assert full > QR_MAX_BYTES and len(compact) < 200, (full, len(compact))
    print(f"\nreceipt {full} bytes of JSON; its compact form (the QR code) {len(compact)} bytes")

    page = Page(browser, pilot, lang=lang, size=size, area="receipt-qr")
    try:
        page.goto(f"/vote/{ELECTION}/receipt?code={receipt['tracking_code']}")
        qr = page.page.locator("#receipt-qr svg[role=img]")
        qr.wait_for()
        short = page.page.locator("#receipt-short").inner_text()
        assert short in qr.get_attribute("aria-label")
        assert page.t("qr.receipt_caption") in page.page.locator("#receipt-qr").inner_text()
        page.check("receipt")
        png = _receipt_png(page)

        _check_picture(page, png)
        page.page.wait_for_selector("#check-summary.result--good")
        assert page.t("qr.read_ok", code=short) == page.page.locator("#qr-status").inner_text()
        assert page.page.locator("#check-error").inner_text().strip() == ""
        page.check("check-from-qr")

        # A tampered receipt: one character of the signature changed; the QR
        # code drawn by the page's own encoder, photographed, uploaded.
        name, code, signature = compact.rsplit(":", 2)[0], *compact.rsplit(":", 2)[1:]
        tampered = f"{name}:{code}:{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
        page.page.evaluate(
            """async (text) => {
                const { qrSvg } = await import('/static/js/qr.js');
                const svg = qrSvg(text);
                svg.id = 'tampered-qr';
                svg.setAttribute('width', '300');
                svg.setAttribute('height', '300');
                document.body.prepend(svg);
            }""",
            tampered,
        )
        forged = page.page.locator("#tampered-qr").screenshot()
        _check_picture(page, forged)
        error = page.page.locator("#check-error")
        error.wait_for(state="visible")
        assert page.t("qr.mismatch", code=short) in error.inner_text()
        assert "result--good" not in (page.page.locator("#check-summary").get_attribute("class") or "")
        page.check("check-tampered-qr")
    finally:
        page.close()


@pytest.mark.slow
def test_qr_read_by_the_camera(pilot, open_election, browser, tmp_path):
    """Chromium's fake camera films the receipt's QR code (a Y4M file); the
    page reads it from the video (BarcodeDetector or the decoder) and checks."""
    receipt = cast(pilot, ELECTION, next(_voters), {"q1": ["o1"]})
    page = Page(browser, pilot, area="receipt-qr")
    page.goto("/receipt/check")
    rows = page.page.evaluate(
        "async (text) => (await import('/static/vendor/noble.js')).encodeQR(text, 'raw', {ecc: 'medium', border: 4})",
        compact_receipt(receipt),
    )
    page.close()
    video = tmp_path / "qr.y4m"
    video.write_bytes(_y4m(rows))
    camera = browser.browser_type.launch(
        executable_path=str(CHROMIUM), headless=True,
        args=[*LAUNCH_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
              f"--use-file-for-fake-video-capture={video}"],
    )
    try:
        page = Page(camera, pilot, lang="en", size="phone", area="receipt-qr")
        page.context.grant_permissions(["camera"], origin=pilot.url)
        page.goto("/receipt/check")
        page.page.click("#qr-camera")
        page.page.wait_for_selector("#check-summary.result--good")
        assert page.page.locator("#qr-video").is_hidden()  # the camera is off again
        page.check("check-from-camera")
        page.close()
    finally:
        camera.close()


def _y4m(rows: list[list[bool]], scale: int = 8, frames: int = 30) -> bytes:
    """A still video of a QR code (black on white) for chromium's fake camera: Y4M, 4:2:0."""
    side = len(rows) * scale
    luma = bytes(16 if rows[y // scale][x // scale] else 235 for y in range(side) for x in range(side))
    chroma = bytes([128]) * (2 * (side // 2) ** 2)
    return f"YUV4MPEG2 W{side} H{side} F10:1 Ip A1:1 C420jpeg\n".encode() + (b"FRAME\n" + luma + chroma) * frames


def test_only_the_receipt_check_may_use_the_camera(pilot, open_election):
    code = cast(pilot, ELECTION, next(_voters), {"q1": ["o3"]})["tracking_code"]
    paths = ["/", "/login", "/vote", f"/vote/{ELECTION}", f"/vote/{ELECTION}/receipt?code={code}", "/admin", "/admin/new",
             f"/admin/{ELECTION}", "/audit", f"/audit/{ELECTION}", f"/audit/{ELECTION}/heads",
             "/static/js/qr.js"]
    with httpx.Client(base_url=pilot.url) as client:
        check = client.get("/receipt/check")
        assert check.headers["permissions-policy"] == "camera=(self), microphone=(), geolocation=(), payment=()"
        assert "img-src 'self';" in check.headers["content-security-policy"]
        for path in paths:
            headers = client.get(path).headers
            assert headers.get("permissions-policy") == "camera=(), microphone=(), geolocation=(), payment=()", path
        assert client.get("/").headers["content-security-policy"] == CONTENT_SECURITY_POLICY


# --- the compact form: a test vector, and the command line --------------------------------------

def _vector_receipt() -> dict:
    from pathlib import Path

    doc = json.loads((Path(__file__).parent / "vectors" / "witness.json").read_text(encoding="utf-8"))
    return {k: v for k, v in doc["witnessed"][0]["receipt"].items() if k != "witnessed"}


def test_compact_receipt_vector():
    receipt = _vector_receipt()
    verify_receipt(receipt)
    compact = compact_receipt(receipt)
    documented = re.search(r"`(VPR1:witness-vectors:[^`]+)`", (_docs()).read_text(encoding="utf-8")).group(1)
    assert compact == documented
    assert parse_compact_receipt(f" {compact}\n") == (receipt["election_id"], receipt["tracking_code"], receipt["signature"])
    assert expand_compact_receipt(compact, receipt) is receipt
    other = dict(receipt, signature="00" * 64)
    with pytest.raises(ReceiptError):
        expand_compact_receipt(compact, other)
    for bad in (compact[:-1], compact + "A", compact.replace("VPR1", "VPR2"), compact[:-1] + "B",  # B: stray low bits
                compact.replace("witness-vectors", "bad:id")):
        with pytest.raises(ReceiptError):
            parse_compact_receipt(bad)


def _docs():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "docs" / "web.md"


def test_command_line_checks_a_compact_receipt(pilot, open_election, tmp_path):
    receipt = cast(pilot, ELECTION, next(_voters), {"q1": ["o4"]})
    good = tmp_path / "qr.txt"
    good.write_text(compact_receipt(receipt) + "\n", encoding="utf-8")
    result = CliRunner().invoke(receipt_cli, ["check", "--server", pilot.url, str(good)])
    assert result.exit_code == 0, result.output
    assert good.read_text(encoding="utf-8").startswith("VPR1:")  # left as it is
    bad = tmp_path / "tampered.txt"
    bad.write_text(compact_receipt(dict(receipt, signature="00" * 64)), encoding="utf-8")
    result = CliRunner().invoke(receipt_cli, ["check", "--server", pilot.url, str(bad)])
    assert result.exit_code == 1, result.output
