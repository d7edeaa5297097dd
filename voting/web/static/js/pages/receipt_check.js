// "Check my receipt": a receipt or an audit file (or pasted JSON) checked in
// this browser. A receipt: its signatures, inclusion and consistency with the
// newest head (check.js checkReceipt). An audit file: the entry read from the
// board under the newest signed head, the ballot's proofs and the opening, then
// the choices the audited ballot encrypts in Japanese and English, to compare
// with what the voter chose on the voting device (check.js checkAudit).
// Any other file (a credential file, say) is "not a receipt or audit file",
// not a failed check.
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
import { ApiError, get } from "../api.js";
import { fileKind, normalizeTrackingCode, trackingCodeMatches, verifyAuditAgainst } from "../audits.js";
import { shortCodeFromHex } from "../ballots.js";
import { fromHex } from "../bytes.js";
import { $, busy, clone, jsonDownload, readFile, ready, say, show } from "../dom.js";
import { errorText, t } from "../i18n.js";
import { checkAudit, checkReceipt, reporter } from "../check.js";
import { signedTreeHeadFromJson } from "../merkle.js";

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
    if (newestKey !== doc.server_key) throw new Error("the board is signed by another key");
    newest = signedTreeHeadFromJson(newestHead);
  } catch (exc) {
    report(false, t("check.step_newest_bad", { detail: exc instanceof ApiError ? `${exc.status} ${exc.code}` : exc.message }));
    return t("check.audit_failed");
  }
  try {
    const reply = await get(`${base}/board/consistency?old=${doc.tree_head.size}&new=${newest.head.size}`, { auth: false });
    verifyAuditAgainst(doc, newest, reply.proof, { serverKey });
  } catch (exc) {
    report(false, t("check.step_consistency_bad", { detail: exc instanceof ApiError ? `${exc.status} ${exc.code}` : exc.message }));
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

$("#check-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const error = $("#check-error");
  const summary = $("#check-summary");
  say(error, "");
  summary.textContent = "";
  summary.className = "result";
  showChoices(null);
  showAlarm(false);
  offerCompleted(null);
  busy($("#check-button"), async () => {
    const pasted = $("#receipt-text").value.trim();
    const text = pasted || (await readFile($("#receipt-file")));
    if (!text) return say(error, t("check.need_file"));
    let doc;
    try {
      doc = JSON.parse(text);
    } catch {
      return say(error, t("check.not_json"));
    }
    const list = $("#check-results");
    const kind = fileKind(doc);
    if (kind === "credential" || kind === "unknown") {
      list.replaceChildren();
      return say(error, t("check.not_receipt", { what: t(kind === "credential" ? "check.what_credential" : "check.what_unknown") }));
    }
    let noted = null;
    if (kind === "audit") {
      const typed = $("#audit-code-input").value.trim();
      if (!typed) {
        list.replaceChildren();
        $("#audit-code-input").focus();
        return say(error, t("check.audit_code_needed"));
      }
      noted = normalizeTrackingCode(typed);
      if (!noted) {
        list.replaceChildren();
        $("#audit-code-input").focus();
        return say(error, t("check.audit_code_malformed"));
      }
    }
    try {
      const report = reporter(list);
      const result = kind === "audit" ? await checkAudit(doc, report) : await checkReceipt(doc, report);
      if (kind === "audit" && result.ok) {
        const failure = await auditAgainstBoardAndCode(doc, noted, report);
        if (failure) Object.assign(result, { ok: false, summary: failure, choices: null });
      }
      summary.textContent = result.summary;
      summary.className = `result result--${result.tone || (result.ok ? "good" : "bad")}`;
      if (result.ok && result.choices) showChoices(result.choices);
      if (result.alarm) showAlarm(true);
      if (result.ok && result.completed) offerCompleted(result.completed);
    } catch (exc) {
      say(error, exc.code ? errorText(exc) : exc.message);
    }
  });
});

ready();
