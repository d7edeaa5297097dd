// Checking a receipt against the server's newest signed tree head, step by
// step, in this browser: the receipt's signature, its tree head's signature,
// the ballot's inclusion under that head, the newest head's signature, and
// consistency between the two heads (the ballot was never removed).
import { get } from "./api.js";
import { fromHex } from "./bytes.js";
import { ConsistencyProofError, InclusionProofError, TreeHeadSignatureError } from "./errors.js";
import { signedTreeHeadFromJson, verifyTreeHead } from "./merkle.js";
import { verifyReceipt, verifyReceiptAgainst } from "./receipts.js";
import { shortCodeFromHex } from "./ballots.js";
import { t } from "./i18n.js";

/** The step a failure belongs to, by its error class. */
function stepOf(exc) {
  if (exc instanceof InclusionProofError) return "inclusion";
  if (exc instanceof ConsistencyProofError) return "consistency";
  if (exc instanceof TreeHeadSignatureError) return "head";
  return "receipt";
}

/**
 * Run every check; `report(ok, text)` is called once per step. Returns
 * {ok, summary}. Network failures are reported, never shown as a pass.
 */
export async function checkReceipt(receipt, report) {
  const election = receipt && typeof receipt === "object" ? receipt.election_id : null;
  if (typeof election !== "string" || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(election)) {
    report(false, t("check.step_receipt_bad", { detail: "election_id" }));
    return { ok: false, summary: t("check.failed") };
  }
  const base = `/api/elections/${encodeURIComponent(election)}`;
  const serverKey = fromHex((await get("/api/server-key", { auth: false })).server_key, 32);
  let sth;
  try {
    sth = verifyReceipt(receipt, { serverKey });
  } catch (exc) {
    const step = stepOf(exc);
    if (step !== "receipt") report(true, t("check.step_receipt_ok"));
    if (step === "inclusion") report(true, t("check.step_head_ok"));
    report(false, t(`check.step_${step}_bad`, { detail: exc.message }));
    return { ok: false, summary: t("check.failed") };
  }
  report(true, t("check.step_receipt_ok"));
  report(true, t("check.step_head_ok"));
  report(true, t("check.step_inclusion_ok", { index: receipt.leaf_index, size: sth.head.size }));
  const newestDoc = await get(`${base}/board/head`, { auth: false });
  const { server_key: newestKey, ...newestHead } = newestDoc;
  let newest;
  try {
    if (newestKey !== receipt.server_key) throw new TreeHeadSignatureError("the board is signed by another key");
    newest = signedTreeHeadFromJson(newestHead);
    verifyTreeHead(serverKey, newest);
  } catch (exc) {
    report(false, t("check.step_newest_bad", { detail: exc.message }));
    return { ok: false, summary: t("check.failed") };
  }
  report(true, t("check.step_newest_ok", { size: newest.head.size }));
  try {
    const reply = await get(`${base}/board/consistency?old=${sth.head.size}&new=${newest.head.size}`, { auth: false });
    verifyReceiptAgainst(receipt, newest, reply.proof, { serverKey });
  } catch (exc) {
    report(false, t("check.step_consistency_bad", { detail: exc.message }));
    return { ok: false, summary: t("check.failed") };
  }
  report(true, t("check.step_consistency_ok", { old: sth.head.size, size: newest.head.size }));
  let superseded = false;
  try {
    superseded = (await get(`${base}/ballots/${receipt.tracking_code}`, { auth: false })).superseded;
  } catch {
    superseded = false;
  }
  report(true, superseded ? t("check.step_superseded") : t("check.step_counted"));
  return { ok: true, summary: t("check.passed", { code: shortCodeFromHex(receipt.tracking_code) }) };
}

/** Render the steps into an <ol>. */
export function reporter(list) {
  list.replaceChildren();
  return (ok, text) => {
    const item = document.createElement("li");
    const mark = document.createElement("span");
    mark.className = ok ? "ok" : "fail";
    mark.textContent = ok ? `✓ ${t("check.ok")}` : `✗ ${t("check.bad")}`;
    item.append(mark, " ", text);
    list.append(item);
  };
}
