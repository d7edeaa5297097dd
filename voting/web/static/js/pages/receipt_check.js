// "Check my receipt": a receipt or an audit file (or pasted JSON) checked in
// this browser. A receipt: its signatures, inclusion and consistency with the
// newest head (check.js checkReceipt). An audit file: the entry read from the
// board under the newest signed head, the ballot's proofs and the opening, then
// the choices the audited ballot encrypts in Japanese and English, to compare
// with what the voter chose on the voting device (check.js checkAudit).
// Any other file (a credential file, an election record, a witness's state
// file) is answered "this is a … file, not a receipt" in the summary, in a
// neutral tone: not an alert, not a failed check. The summary is in
// plain words, with a plain list of what was found; the technical steps are
// inside a <details>. Focus moves to the summary when the check is done.
//
// When the receipt's election names witnesses, the check needs their quorum on
// a head that covers the ballot (check.js): the receipt's own `witnessed`
// member, or the server's newest cosigned head, which completes the receipt
// (offered for download). Not yet cosigned is "check again in a few minutes",
// not an alarm; a cosigned head that is not one board with the receipt's, here
// or in a witness's own log, raises the split-view alarm in Japanese and English.
//
// An audit file also needs the tracking code the voter noted on the voting
// device BEFORE choosing to audit: the audited entry must have that code (a
// cheating device could show one ballot's code and publish another, honest
// ballot for the audit). And, as for receipts, the head in the audit file must
// be a prefix of the newest signed head (a consistency proof): a forked board
// is refused. Only then are the choices shown.
import { get } from "../api.js";
import { fileKind, normalizeTrackingCode, trackingCodeMatches, verifyAuditAgainst } from "../audits.js";
import { shortCodeFromHex } from "../ballots.js";
import { fromHex } from "../bytes.js";
import { $, busy, clone, focusResult, jsonDownload, readFile, ready, say, show } from "../dom.js";
import { errorText, t } from "../i18n.js";
import { checkAudit, checkReceipt, detailOf, reporter } from "../check.js";
import { TreeHeadSignatureError } from "../errors.js";
import { signedTreeHeadFromJson } from "../merkle.js";
import { wireQrCheck } from "../qr.js";

const LANGUAGES = [
  ["ja", "日本語"],
  ["en", "English"],
];

function showChoices(choices) {
  const box = $("#audit-choices");
  const list = $("#audit-choice-list");
  list.replaceChildren();
  for (const { question, chosen } of choices || []) {
    const dt = document.createElement("dt");
    dt.textContent = question.ja === question.en ? question.ja : `${question.ja} / ${question.en}`;
    list.append(dt);
    for (const [code, name] of LANGUAGES) {
      const dd = document.createElement("dd");
      dd.lang = code;
      dd.dataset.lang = code;
      const words = chosen.length ? chosen.map((c) => c[code]).join(code === "ja" ? "、" : ", ") : code === "ja" ? "（選択なし）" : "(none chosen)";
      dd.textContent = `${name}: ${words}`;
      list.append(dd);
    }
  }
  show(box, !!choices);
}

/**
 * After checkAudit passed: the audit file's head is a prefix of the newest
 * signed head (consistency), then the audited entry's tracking code is the
 * one the voter noted. Returns the failure summary, or null when both pass.
 */
async function auditAgainstBoardAndCode(doc, noted, report) {
  const base = `/api/elections/${encodeURIComponent(doc.election_id)}`;
  let newest;
  let serverKey;
  try {
    serverKey = fromHex((await get("/api/server-key", { auth: false })).server_key, 32);
    const { server_key: newestKey, ...newestHead } = await get(`${base}/board/head`, { auth: false });
    if (newestKey !== doc.server_key) throw new TreeHeadSignatureError("the board is signed by another key");
    newest = signedTreeHeadFromJson(newestHead);
  } catch (exc) {
    report(false, t("check.step_newest_bad", { detail: detailOf(exc) }));
    return t("check.audit_failed");
  }
  try {
    const reply = await get(`${base}/board/consistency?old=${doc.tree_head.size}&new=${newest.head.size}`, { auth: false });
    verifyAuditAgainst(doc, newest, reply.proof, { serverKey });
  } catch (exc) {
    report(false, t("check.step_consistency_bad", { detail: detailOf(exc) }));
    return t("check.audit_failed");
  }
  report(true, t("check.step_newest_ok", { size: newest.head.size }));
  report(true, t("check.step_consistency_ok", { old: doc.tree_head.size, size: newest.head.size }));
  const code = doc.entry.body.tracking_code;
  const short = shortCodeFromHex(code);
  if (doc.tracking_code !== code || !trackingCodeMatches(noted, code)) {
    report(false, t("check.step_code_mismatch", { code: short }));
    return t("check.audit_code_mismatch", { code: short });
  }
  report(true, t("check.step_code_ok", { code: short }));
  return null;
}

/** The split-view alarm (both languages), or none. */
function showAlarm(on) {
  const box = $("#split-view-alarm");
  box.replaceChildren(...(on ? [clone("split-view-alarm-text")] : []));
  show(box, on);
}

/** The receipt completed with the witnesses' confirmation, to keep instead of the old one. */
function offerCompleted(receipt) {
  const link = $("#completed-download");
  if (receipt) jsonDownload(link, receipt, `receipt-${receipt.election_id}-${shortCodeFromHex(receipt.tracking_code)}.json`);
  show($("#completed"), !!receipt);
}

/** The files that are not receipts, each answered in words (not an alarm). */
const NOT_A_RECEIPT = {
  credential: "check.kind_credential",
  record: "check.kind_record",
  witness: "check.kind_witness",
  unknown: "check.kind_unknown",
};

/** The check's answer in the summary (role=status, announced), which gets the focus. */
function answer(text, tone) {
  const summary = $("#check-summary");
  summary.textContent = text;
  summary.className = `result result--${tone}`;
  focusResult(summary);
}

/** Both lists back to "not checked yet", the audit code field without its error. */
function resetResults() {
  for (const list of [$("#check-plain"), $("#check-results")]) {
    const item = document.createElement("li");
    item.textContent = t("check.not_yet");
    list.replaceChildren(item);
    show(list);
  }
  const input = $("#audit-code-input");
  input.removeAttribute("aria-invalid");
  say($("#audit-code-error"), "");
}

/** The audit code is missing or malformed: said under the field, which gets the focus. */
function auditCodeProblem(key) {
  const input = $("#audit-code-input");
  input.setAttribute("aria-invalid", "true");
  say($("#audit-code-error"), t(key));
  answer(t("check.kind_audit"), "note");
  input.focus();
}

// a printed receipt's QR code (a picture or the camera) names the receipt to check.
const receiptText = wireQrCheck($("#check-form"));

$("#check-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const error = $("#check-error");
  const summary = $("#check-summary");
  say(error, "");
  summary.textContent = "";
  summary.className = "result";
  resetResults();
  showChoices(null);
  showAlarm(false);
  offerCompleted(null);
  busy($("#check-button"), async () => {
    const pasted = $("#receipt-text").value.trim();
    let given;
    try {
      given = await receiptText(pasted || (await readFile($("#receipt-file"))));
    } catch (exc) {
      return say(error, errorText(exc)); // the server has no such receipt, or another one (a PageError)
    }
    let doc = given.receipt;
    if (!doc) {
      if (!given.text) return answer(t("check.need_file"), "note");
      try {
        doc = JSON.parse(given.text);
      } catch {
        return answer(t("check.not_json"), "note");
      }
    }
    // A receipt a QR code names is checked as a receipt, whatever members it has.
    const kind = given.receipt ? "receipt" : fileKind(doc);
    if (kind in NOT_A_RECEIPT) return answer(t(NOT_A_RECEIPT[kind]), "note");
    let noted = null;
    if (kind === "audit") {
      const typed = $("#audit-code-input").value.trim();
      if (!typed) return auditCodeProblem("check.audit_code_needed");
      noted = normalizeTrackingCode(typed);
      if (!noted) return auditCodeProblem("check.audit_code_malformed");
    }
    try {
      const report = reporter($("#check-results"));
      const fact = reporter($("#check-plain"));
      show($("#check-plain"), kind !== "audit"); // an audit's outcome is its summary and the choices
      const result = kind === "audit" ? await checkAudit(doc, report) : await checkReceipt(doc, report, fact);
      if (kind === "audit" && result.ok) {
        const failure = await auditAgainstBoardAndCode(doc, noted, report);
        if (failure) Object.assign(result, { ok: false, summary: failure, choices: null });
      }
      answer(result.summary, result.tone || (result.ok ? "good" : "bad"));
      if (result.ok && result.choices) showChoices(result.choices);
      if (result.alarm) showAlarm(true);
      if (result.ok && result.completed) offerCompleted(result.completed);
    } catch (exc) {
      // The server could not be asked: not a verdict, and no alarm.
      answer(t("check.could_not", { detail: detailOf(exc) }), "note");
    }
  });
});

ready();
