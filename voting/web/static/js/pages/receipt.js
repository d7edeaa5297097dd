// The receipt just received: show it, download it as JSON, print it, check it.
//
// The receipt is shown at once, never held back for the witnesses. When the
// election names witnesses, the page then asks in the background, for up to
// 30 seconds, for the newest head the quorum of them cosigned (check.js
// witnessConfirmation); once one covers the ballot and extends the receipt's
// head, the receipt the voter downloads carries it (`witnessed`) and a status
// line says so. Otherwise the plain receipt is offered and the receipt check
// page completes it later. A cosigned head that does not extend the receipt's
// head raises the split-view alarm.
//
// The receipt is shown only once it verifies under the server's key (a fresh
// tab fetches it from the server). A ballot that a later one replaced (the
// server says so, and the later ballot is checked on the board: check.js
// replacement) is said at once, with "if you did not vote again, report it".
// "Check it now" answers in plain words in a summary that gets the focus, a
// plain list of what was found, and the technical steps inside a <details>.
import { get } from "../api.js";
import { shortCodeFromHex } from "../ballots.js";
import { fromHex } from "../bytes.js";
import { $, busy, clone, focusResult, formatTime, jsonDownload, pageData, ready, say, show } from "../dom.js";
import { errorText, PageError, t } from "../i18n.js";
import { checkedNewestHead, checkReceipt, detailOf, electionWitnesses, replacement, reporter, witnessConfirmation } from "../check.js";
import { verifyReceipt } from "../receipts.js";
import { showReceiptQr } from "../qr.js";

const { election_id: electionId } = pageData();
const base = `/api/elections/${encodeURIComponent(electionId)}`;
const code = new URLSearchParams(location.search).get("code") || "";
const WATCH_MS = 30_000;
const POLL_MS = 3_000;

let receipt = null;
let serverKey = null; // the server's key, as /api/server-key gives it (what every check pins)

async function loadReceipt() {
  if (!/^[0-9a-f]{64}$/.test(code)) throw new PageError(t("receipt.no_code"));
  const stored = sessionStorage.getItem(`voting.receipt.${code}`);
  const found = stored ? JSON.parse(stored) : (await get(`${base}/ballots/${code}`, { auth: false })).receipt;
  // Only the receipt of the ballot with this tracking code is shown as the voter's.
  if (found?.tracking_code !== code) throw new PageError(t("ballot.receipt_mismatch", { code: shortCodeFromHex(code) }));
  // Shown, offered and put in a QR code only as the server's key signed it (a
  // fresh tab fetches it from the server: never shown on its word).
  serverKey = fromHex((await get("/api/server-key", { auth: false })).server_key, 32);
  try {
    verifyReceipt(found, { serverKey });
  } catch {
    throw new PageError(t("receipt.not_genuine", { code: shortCodeFromHex(code) }));
  }
  return found;
}

/** The download link always gives the receipt as it stands (with `witnessed` once added). */
function offerDownload() {
  jsonDownload($("#receipt-download"), receipt, `receipt-${electionId}-${shortCodeFromHex(receipt.tracking_code)}.json`);
}

function completed(doc) {
  receipt = doc;
  sessionStorage.setItem(`voting.receipt.${code}`, JSON.stringify(receipt));
  offerDownload();
}

function showAlarm() {
  const box = $("#split-view-alarm");
  box.replaceChildren(clone("split-view-alarm-text"));
  show(box);
}

/** When this device first saw the receipt of ``code`` (kept across tabs and
 * visits): the witnesses' grace period runs from it at the latest. */
function firstSeen(code) {
  const key = `voting.receipt-seen.${code}`;
  const seen = Number(localStorage.getItem(key));
  if (Number.isFinite(seen) && seen > 0) return seen;
  localStorage.setItem(key, String(Date.now()));
  return Date.now();
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** In the background: the witnesses' confirmation, added to the receipt when it comes. */
async function watchWitnesses() {
  const status = $("#witness-status");
  let sth;
  let policy;
  try {
    sth = verifyReceipt(receipt, { serverKey });
    policy = await electionWitnesses(base, receipt);
  } catch (exc) {
    return say(status, t("receipt.witnesses_error", { detail: detailOf(exc) }));
  }
  if (!policy.quorum) return say(status, t("receipt.witnesses_none"));
  say(status, t("receipt.witnesses_waiting"));
  const deadline = Date.now() + WATCH_MS;
  for (;;) {
    const outcome = await witnessConfirmation(base, receipt, sth, policy, serverKey, { seenAt: firstSeen(code) });
    if (outcome.state === "confirmed") {
      if (outcome.completed) completed(outcome.completed);
      return say(status, t("receipt.witnesses_confirmed"));
    }
    if (outcome.state === "alarm") {
      showAlarm();
      return say(status, t("check.split_view"));
    }
    if (outcome.state === "failed") return say(status, t("receipt.witnesses_error", { detail: outcome.detail }));
    if (Date.now() + POLL_MS > deadline) break;
    await sleep(POLL_MS);
  }
  say(status, t("receipt.witnesses_later"));
}

/** Whether a later ballot replaced this one: a warning when the server says so,
 * checked on the board where possible (check.js replacement); its "no" is no claim. */
async function sayIfSuperseded() {
  const newest = await checkedNewestHead(base, receipt, serverKey);
  const { state } = await replacement(base, receipt, serverKey, newest);
  if (state === "verified") say($("#receipt-superseded"), t("receipt.superseded"));
  else if (state === "claimed") say($("#receipt-superseded"), t("receipt.superseded_claimed"));
}

async function main() {
  try {
    receipt = await loadReceipt();
  } catch (exc) {
    return say($("#receipt-error"), exc.code ? detailOf(exc) : errorText(exc));
  }
  $("#receipt-short").textContent = shortCodeFromHex(receipt.tracking_code);
  $("#receipt-full").textContent = receipt.tracking_code;
  $("#receipt-index").textContent = String(receipt.leaf_index);
  $("#receipt-head").textContent = t("receipt.head_value", { size: receipt.tree_head.size, root: receipt.tree_head.root.slice(0, 16) });
  $("#receipt-time").textContent = formatTime(receipt.entry.time);
  $("#receipt-key").textContent = receipt.server_key;
  offerDownload();
  show($("#receipt"));
  showReceiptQr($("#receipt-qr"), receipt); // the QR code, printed with the receipt
  $("#receipt-print").addEventListener("click", () => window.print());
  $("#receipt-check").addEventListener("click", (event) =>
    busy(event.currentTarget, async () => {
      const summary = $("#check-summary");
      summary.textContent = "";
      const report = reporter($("#check-results"));
      const fact = reporter($("#check-plain"));
      try {
        const result = await checkReceipt(receipt, report, fact);
        summary.textContent = result.summary;
        summary.className = `result result--${result.tone || (result.ok ? "good" : "bad")}`;
        if (result.alarm) showAlarm();
        if (result.ok && result.completed) completed(result.completed);
      } catch (exc) {
        // The server could not be asked: not a verdict, and no alarm.
        summary.textContent = t("check.could_not", { detail: detailOf(exc) });
        summary.className = "result result--note";
      }
      focusResult(summary);
    }),
  );
  sayIfSuperseded().catch(() => {}); // the check says it too, or that it could not be asked
  watchWitnesses().catch((exc) => say($("#witness-status"), t("receipt.witnesses_error", { detail: detailOf(exc) })));
}

main().finally(ready);
