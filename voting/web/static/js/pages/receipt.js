// The receipt just received: show it, download it as JSON, print it, check it.
import { get } from "../api.js";
import { shortCodeFromHex } from "../ballots.js";
import { $, busy, formatTime, jsonDownload, pageData, ready, say, show } from "../dom.js";
import { errorText, t } from "../i18n.js";
import { checkReceipt, reporter } from "../check.js";

const { election_id: electionId } = pageData();
const code = new URLSearchParams(location.search).get("code") || "";

async function loadReceipt() {
  if (!/^[0-9a-f]{64}$/.test(code)) throw new Error(t("receipt.no_code"));
  const stored = sessionStorage.getItem(`voting.receipt.${code}`);
  if (stored) return JSON.parse(stored);
  return (await get(`/api/elections/${encodeURIComponent(electionId)}/ballots/${code}`, { auth: false })).receipt;
}

async function main() {
  let receipt;
  try {
    receipt = await loadReceipt();
  } catch (exc) {
    return say($("#receipt-error"), exc.code ? errorText(exc) : exc.message);
  }
  $("#receipt-short").textContent = shortCodeFromHex(receipt.tracking_code);
  $("#receipt-full").textContent = receipt.tracking_code;
  $("#receipt-index").textContent = String(receipt.leaf_index);
  $("#receipt-head").textContent = t("receipt.head_value", { size: receipt.tree_head.size, root: receipt.tree_head.root.slice(0, 16) });
  $("#receipt-time").textContent = formatTime(receipt.entry.time);
  $("#receipt-key").textContent = receipt.server_key;
  jsonDownload($("#receipt-download"), receipt, `receipt-${electionId}-${shortCodeFromHex(receipt.tracking_code)}.json`);
  show($("#receipt"));
  $("#receipt-print").addEventListener("click", () => window.print());
  $("#receipt-check").addEventListener("click", (event) =>
    busy(event.currentTarget, async () => {
      const list = $("#check-results");
      try {
        await checkReceipt(receipt, reporter(list));
      } catch (exc) {
        reporter(list)(false, exc.code ? errorText(exc) : exc.message);
      }
    }),
  );
}

main().finally(ready);
