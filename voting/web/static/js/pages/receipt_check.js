// "Check my receipt": a receipt file (or pasted JSON) checked in this browser.
import { $, busy, readFile, ready, say } from "../dom.js";
import { errorText, t } from "../i18n.js";
import { checkReceipt, reporter } from "../check.js";

$("#check-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const error = $("#check-error");
  const summary = $("#check-summary");
  say(error, "");
  summary.textContent = "";
  busy($("#check-button"), async () => {
    const pasted = $("#receipt-text").value.trim();
    const text = pasted || (await readFile($("#receipt-file")));
    if (!text) return say(error, t("check.need_file"));
    let receipt;
    try {
      receipt = JSON.parse(text);
    } catch {
      return say(error, t("check.not_json"));
    }
    const list = $("#check-results");
    try {
      const result = await checkReceipt(receipt, reporter(list));
      summary.textContent = result.summary;
      summary.className = `result ${result.ok ? "result--good" : "result--bad"}`;
    } catch (exc) {
      say(error, exc.code ? errorText(exc) : exc.message);
    }
  });
});

ready();
