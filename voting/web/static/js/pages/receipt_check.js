// "Check my receipt": a receipt or an audit file (or pasted JSON) checked in
// this browser. A receipt: its signatures, inclusion and consistency with the
// newest head (check.js checkReceipt). An audit file: the entry read from the
// board under the newest signed head, the ballot's proofs and the opening, then
// the choices the audited ballot encrypts in Japanese and English, to compare
// with what the voter chose on the voting device (check.js checkAudit).
// Any other file (a credential file, say) is "not a receipt or audit file",
// not a failed check.
import { fileKind } from "../audits.js";
import { $, busy, readFile, ready, say, show } from "../dom.js";
import { errorText, t } from "../i18n.js";
import { checkAudit, checkReceipt, reporter } from "../check.js";

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

$("#check-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const error = $("#check-error");
  const summary = $("#check-summary");
  say(error, "");
  summary.textContent = "";
  summary.className = "result";
  showChoices(null);
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
    try {
      const result = kind === "audit" ? await checkAudit(doc, reporter(list)) : await checkReceipt(doc, reporter(list));
      summary.textContent = result.summary;
      summary.className = `result ${result.ok ? "result--good" : "result--bad"}`;
      if (result.ok && result.choices) showChoices(result.choices);
    } catch (exc) {
      say(error, exc.code ? errorText(exc) : exc.message);
    }
  });
});

ready();
