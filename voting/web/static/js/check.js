// Checking a receipt against the server's newest signed tree head, step by
// step, in this browser: the receipt's signature, its tree head's signature,
// the ballot's inclusion under that head, the newest head's signature, and
// consistency between the two heads (the ballot was never removed).
// checkAudit does the same for a published audit (audits.js) and gives the
// choices the audited ballot encrypts.
import { ApiError, get } from "./api.js";
import { AUDIT_KIND, auditedChoices, describeChoices, verifyAuditFile } from "./audits.js";
import { fromHex, toHex, utf8 } from "./bytes.js";
import { canonicalJson, canonicalJsonText } from "./encoding.js";
import { endorsedElection } from "./endorsements.js";
import { AuditOpeningError, ConsistencyProofError, InclusionProofError, TreeHeadSignatureError } from "./errors.js";
import { inclusionProofFromJson, leafHash, signedTreeHeadFromJson, verifyInclusion, verifyTreeHead } from "./merkle.js";
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

// --- published audits -----------------------------------------------------------------

const BOARD_PAGE = 500;
const ELECTION_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** The board's entries from the first up to the first joint-key entry. */
async function boardUntilJointKey(base) {
  const entries = [];
  for (;;) {
    const page = await get(`${base}/board/entries?start=${entries.length}&limit=${BOARD_PAGE}`, { auth: false });
    entries.push(...page.entries);
    if (page.entries.some((e) => e.kind === "joint-key") || !page.entries.length || entries.length >= page.size) return entries;
  }
}

/**
 * Check an audit file through the board, step by step; `report(ok, text)` per
 * step. Returns {ok, summary, choices} where choices (describeChoices: Japanese
 * and English) are given only when every step passed. The choices are read from
 * the board's entry, which must be the file's (a changed file fails).
 */
export async function checkAudit(doc, report) {
  const failed = (step, detail) => {
    report(false, t(`check.step_${step}_bad`, { detail }));
    return { ok: false, summary: t("check.audit_failed"), choices: null };
  };
  const election = doc?.election_id;
  if (typeof election !== "string" || !ELECTION_ID.test(election)) return failed("audit", "election_id");
  const base = `/api/elections/${encodeURIComponent(election)}`;
  const serverKey = fromHex((await get("/api/server-key", { auth: false })).server_key, 32);
  // 1. The file is what the server signed: a changed opening, ballot or code fails here.
  try {
    verifyAuditFile(doc, { serverKey });
  } catch (exc) {
    return failed("audit", exc.message);
  }
  report(true, t("check.step_audit_ok"));
  // 2. The board holds that entry now, under its newest signed head.
  let boardEntry;
  try {
    const reply = await get(`${base}/board/inclusion?index=${doc.leaf_index}`, { auth: false });
    const newest = signedTreeHeadFromJson(reply.tree_head);
    verifyTreeHead(serverKey, newest);
    if (newest.head.logId !== election) throw new TreeHeadSignatureError("the newest tree head is for another election");
    const proof = inclusionProofFromJson(reply.proof);
    if (proof.leafIndex !== doc.leaf_index || proof.treeSize !== newest.head.size) throw new InclusionProofError("the proof is not for this entry and head");
    if (newest.head.size < doc.tree_head.size) throw new InclusionProofError("the board is smaller than when the audit was published");
    // The entry comes as the exact text the leaf hashes (a string), or as JSON hashed in canonical form.
    const entryBytes = typeof reply.entry === "string" ? utf8(reply.entry) : canonicalJson(reply.entry);
    const entry = typeof reply.entry === "string" ? JSON.parse(reply.entry) : reply.entry;
    verifyInclusion(leafHash(entryBytes), proof.leafIndex, proof.treeSize, proof.path, newest.head.root);
    if (canonicalJsonText(entry) !== canonicalJsonText(doc.entry)) throw new Error("the board's entry is not the one in the file");
    boardEntry = entry;
    report(true, t("check.step_board_entry_ok", { index: doc.leaf_index, size: newest.head.size }));
  } catch (exc) {
    return failed("board_entry", exc instanceof ApiError ? `${exc.status} ${exc.code}` : exc.message);
  }
  // 3. The election key from the board, endorsed by every trustee.
  let checked;
  try {
    const entries = await boardUntilJointKey(base);
    const named = entries[0]?.kind === "election-created" ? entries[0].body?.server_key : undefined;
    if (named !== undefined && named !== toHex(serverKey)) throw new Error("the board's election-created entry names another server key");
    checked = await endorsedElection(entries, election);
  } catch (exc) {
    return failed("key", exc.message);
  }
  report(true, t("check.step_key_ok", { n: checked.trustees.length }));
  // 4. The ballot's proofs, then the opening: the choices it encrypts.
  let choices;
  try {
    choices = auditedChoices(checked, boardEntry);
  } catch (exc) {
    return failed(exc instanceof AuditOpeningError ? "opening" : "ballot", exc.message);
  }
  report(true, t("check.step_ballot_ok", { credential: boardEntry.body.credential.slice(0, 16) }));
  report(true, t("check.step_opening_ok"));
  // 5. Never cast: an audited tracking code is refused by the server.
  let cast = false;
  try {
    const found = await get(`${base}/ballots/${doc.tracking_code}`, { auth: false });
    cast = found?.receipt?.entry?.kind === "ballot";
  } catch (exc) {
    if (!(exc instanceof ApiError && exc.status === 404)) return failed("board_entry", exc.message);
  }
  if (cast) {
    report(false, t("check.step_was_cast"));
    return { ok: false, summary: t("check.audit_failed"), choices: null };
  }
  report(true, t("check.step_never_cast"));
  return {
    ok: true,
    summary: t("check.audit_passed", { code: shortCodeFromHex(doc.tracking_code) }),
    choices: describeChoices(checked.manifest, choices),
    kind: AUDIT_KIND,
  };
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
