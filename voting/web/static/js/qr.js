// The printed receipt's QR code (docs/web.md, "The printed receipt"): made on
// the receipt page, read on /receipt/check from a picture or the camera.
//
// A full receipt holds the whole encrypted ballot (several kB): too much for a
// QR code that prints and scans reliably. The code holds the compact receipt
// `VPR1:<election_id>:<tracking code>:<signature>` (base64url, about 150
// bytes; crypto/receipts.py compact_receipt). The check fetches the receipt by
// its tracking code and keeps it only if it carries that signature; it is then
// checked as a receipt (check.js checkReceipt, with the pinned server key,
// whose strict verifyReceipt refuses any member the server added), never
// sorted by fileKind. The server's signature covers the whole receipt, so a
// server cannot hand back another.
import { get } from "./api.js";
import { shortCodeFromHex } from "./ballots.js";
import { b64urlDecode, b64urlEncode, fromHex, toHex } from "./bytes.js";
import { $, show } from "./dom.js";
import { errorText, PageError, t } from "./i18n.js";
import { decodeQR, encodeQR } from "../vendor/noble.js";

export const COMPACT_PREFIX = "VPR1:";
const COMPACT = /^VPR1:([A-Za-z0-9][A-Za-z0-9_.-]{0,63}):([A-Za-z0-9_-]{43}):([A-Za-z0-9_-]{86})$/;
const SVG = "http://www.w3.org/2000/svg";
const MAX_SIDE = 2000; // pixels: a larger picture is scaled down before decoding (speed)
const FRAME_MS = 250; // camera frames are decoded at most this often

/** The compact form of a cast receipt (what its QR code holds). */
export function compactReceipt(receipt) {
  const code = b64urlEncode(fromHex(receipt.tracking_code, 32));
  const signature = b64urlEncode(fromHex(receipt.signature, 64));
  return `${COMPACT_PREFIX}${receipt.election_id}:${code}:${signature}`;
}

/** `{electionId, code, signature}` (hex) of a compact receipt, or null. */
export function parseCompactReceipt(text) {
  const match = COMPACT.exec(String(text).trim());
  if (!match) return null;
  try {
    return { electionId: match[1], code: toHex(b64urlDecode(match[2])), signature: toHex(b64urlDecode(match[3])) };
  } catch {
    return null; // not canonical base64url
  }
}

/** The full receipt of a compact one, from the server, kept only if it is that receipt. */
export async function expandCompactReceipt(text) {
  const compact = parseCompactReceipt(text);
  if (!compact) throw new PageError(t("qr.not_receipt"));
  let reply;
  try {
    reply = await get(`/api/elections/${encodeURIComponent(compact.electionId)}/ballots/${compact.code}`, { auth: false });
  } catch (exc) {
    if (exc.status === 404) throw new PageError(t("qr.not_on_server", { code: shortCodeFromHex(compact.code) }));
    throw new PageError(t("qr.fetch_failed", { detail: errorText(exc) }));
  }
  const receipt = reply?.receipt;
  if (
    receipt?.election_id !== compact.electionId ||
    receipt?.tracking_code !== compact.code ||
    receipt?.signature !== compact.signature
  ) {
    throw new PageError(t("qr.mismatch", { code: shortCodeFromHex(compact.code) }));
  }
  return receipt;
}

/** An SVG of the QR code of ``text``: one path of dark modules, 4 modules of quiet zone. */
export function qrSvg(text) {
  const rows = encodeQR(text, "raw", { ecc: "medium", border: 4 });
  const size = rows.length;
  let d = "";
  rows.forEach((row, y) => row.forEach((dark, x) => { if (dark) d += `M${x} ${y}h1v1h-1z`; }));
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${size} ${size}`);
  svg.setAttribute("shape-rendering", "crispEdges");
  const background = document.createElementNS(SVG, "rect");
  background.setAttribute("width", String(size));
  background.setAttribute("height", String(size));
  background.setAttribute("fill", "#fff");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", d);
  path.setAttribute("fill", "#000");
  svg.append(background, path);
  return svg;
}

/** The receipt page: the QR code of the receipt, to print with it. */
export function showReceiptQr(figure, receipt) {
  const svg = qrSvg(compactReceipt(receipt));
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", t("qr.receipt_alt", { code: shortCodeFromHex(receipt.tracking_code) }));
  $(".qr-code", figure).replaceChildren(svg);
  show(figure);
}

/** The text of the QR code in a drawable (image or video frame), or null. */
function decodeDrawable(source, width, height, cropToSquare) {
  const scale = Math.min(1, MAX_SIDE / Math.max(width, height));
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  const canvas = new OffscreenCanvas(w, h);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(source, 0, 0, w, h);
  try {
    return decodeQR(context.getImageData(0, 0, w, h), { cropToSquare });
  } catch {
    return null; // no QR code found in it
  }
}

/** The text of the QR code in a picture file, or null. Decoded here: the file is never sent. */
export async function decodeImageFile(file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file); // no <img>, no blob: URL: the CSP stays as it is
  } catch {
    return null; // not a picture the browser reads
  }
  try {
    return decodeDrawable(bitmap, bitmap.width, bitmap.height, false);
  } finally {
    bitmap.close();
  }
}

/** Whether this browser may offer the camera. */
export const cameraAvailable = () => !!navigator.mediaDevices?.getUserMedia;

/**
 * Read QR codes from the camera into ``video`` until ``onText`` returns true
 * or the returned stop() is called. The browser's BarcodeDetector where it
 * reads QR codes, else frames decoded by @paulmillr/qr.
 */
export async function scanCamera(video, onText) {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
  let stopped = false;
  const stop = () => {
    stopped = true;
    for (const track of stream.getTracks()) track.stop();
    video.srcObject = null;
  };
  video.srcObject = stream;
  await video.play();
  let detector = null;
  if ("BarcodeDetector" in window && (await window.BarcodeDetector.getSupportedFormats()).includes("qr_code")) {
    detector = new window.BarcodeDetector({ formats: ["qr_code"] });
  }
  const frame = async () => {
    if (stopped) return;
    let text = null;
    if (video.videoWidth) {
      if (detector) text = (await detector.detect(video).catch(() => []))[0]?.rawValue ?? null;
      else text = decodeDrawable(video, video.videoWidth, video.videoHeight, true);
    }
    if (text && onText(text)) return stop();
    setTimeout(frame, FRAME_MS);
  };
  frame();
  return stop;
}

/** The receipt check page's QR input: a picture or the camera, then the check. */
export function wireQrCheck(form) {
  const status = $("#qr-status");
  const video = $("#qr-video");
  const start = $("#qr-camera");
  const end = $("#qr-camera-stop");
  let scanned = null; // the compact receipt last read here
  let stopCamera = null;

  const found = (text) => {
    if (!parseCompactReceipt(text)) {
      status.textContent = t("qr.not_receipt");
      return false;
    }
    scanned = text.trim();
    status.textContent = t("qr.read_ok", { code: shortCodeFromHex(parseCompactReceipt(text).code) });
    form.requestSubmit();
    return true;
  };
  const cameraOff = () => {
    stopCamera?.();
    stopCamera = null;
    show(video, false);
    show(end, false);
    show(start);
  };

  $("#qr-image").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    scanned = null;
    if (!file) return;
    status.textContent = t("qr.reading");
    const text = await decodeImageFile(file);
    if (text === null) status.textContent = t("qr.not_found");
    else found(text);
  });
  // A file chosen or text pasted afterwards is what the voter means to check.
  for (const id of ["#receipt-file", "#receipt-text"]) $(id).addEventListener("input", () => { scanned = null; });

  show(start, cameraAvailable());
  start.addEventListener("click", async () => {
    scanned = null;
    show(start, false);
    show(video);
    show(end);
    end.focus();
    status.textContent = t("qr.camera_looking");
    try {
      stopCamera = await scanCamera(video, (text) => {
        if (!found(text)) return false;
        cameraOff();
        return true;
      });
    } catch {
      cameraOff();
      status.textContent = t("qr.camera_error");
    }
  });
  end.addEventListener("click", () => {
    cameraOff();
    status.textContent = "";
    start.focus();
  });

  /** What to check: {receipt} when a QR code read here (or ``given``, pasted
   * or chosen, in the compact form) names a receipt (fetched and matched: a
   * receipt, checked as one whatever else the server put in it), else {text}
   * (``given``). Throws with a message in the page's language. */
  return async function receiptText(given) {
    const compact = scanned || (given && given.trim().startsWith(COMPACT_PREFIX) ? given : null);
    if (!compact) return { text: given };
    return { receipt: await expandCompactReceipt(compact) };
  };
}
