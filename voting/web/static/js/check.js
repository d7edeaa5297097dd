// Checking a receipt against the server's newest signed tree head, step by
// step, in this browser: the receipt's signature, its tree head's signature,
// the ballot's inclusion under that head, the newest head's signature, and
// consistency between the two heads (the ballot was never removed).
// checkAudit does the same for a published audit (audits.js) and gives the
// choices the audited ballot encrypts.
//
// When the election names witnesses (witness.js), a receipt also needs a head
// that the quorum of them cosigned and that extends the receipt's head: from
// the receipt's own `witnessed` member, else from the server's newest cosigned
// head (GET …/board/cosigned) and a consistency proof, which completes the
// receipt. Then each witness's own log (gossip, at its manifest `url`) must be
// consistent with the receipt's head too. A cosigned head that does not extend
// the receipt's is a split view: the server may be showing this voter a
// different board than everyone else.
//
// Each step is reported twice: `report` gets the technical step
// (signatures, inclusion, consistency, tree heads), which the pages keep inside
// a <details>; `fact` gets the same outcome in plain words ("your ballot is on
// the board", "it was never removed", "it was replaced by a later ballot").
// Every detail is a catalogue message in the page's language (detailOf), never
// an error's English text.
import { ApiError, get } from "./api.js";
import { AUDIT_KIND, auditedChoices, describeChoices, verifyAuditFile } from "./audits.js";
import { fromHex, toHex, utf8 } from "./bytes.js";
import { canonicalJson, canonicalJsonText } from "./encoding.js";
import { endorsedElection } from "./endorsements.js";
import {
  AuditOpeningError,
  ConsistencyProofError,
  CosignatureError,
  InclusionProofError,
  LogError,
  ReceiptError,
  TreeHeadSignatureError,
} from "./errors.js";
import {
  consistencyProofFromJson,
  inclusionProofFromJson,
  leafHash,
  signedTreeHeadFromJson,
  verifyConsistency,
  verifyInclusion,
  verifyTreeHead,
} from "./merkle.js";
import { verifyReceipt, verifyReceiptAgainst, verifyWitnessed, WITNESSED, witnessPolicyFor } from "./receipts.js";
import { electionFingerprint, parseManifest, shortCodeFromHex } from "./ballots.js";
import { Point } from "./group.js";
import { verifyCredentialSignature } from "./voting_credential.js";
import { checkQuorum, cosignatureFromJson, cosignedHeadFromJson, verifyCosignature, witnessLogUrl } from "./witness.js";
import { errorText, t } from "./i18n.js";

/** The step a failure belongs to, by its error class. */
function stepOf(exc) {
  if (exc instanceof InclusionProofError) return "inclusion";
  if (exc instanceof ConsistencyProofError) return "consistency";
  if (exc instanceof TreeHeadSignatureError) return "head";
  return "receipt";
}

/**
 * Why something failed, in words from the catalogue in the page's language: a
 * check.why.<code> message for the log and receipt errors, else the
 * catalogue's message for the error's code (i18n.js errorText).
 */
export function detailOf(exc) {
  const key = `check.why.${exc?.code}`;
  const text = t(key);
  if (text !== key) return text;
  if (exc instanceof ApiError || exc?.code) return errorText(exc);
  return t("check.why.other", { name: exc?.name || "Error" });
}

/**
 * Run every check; `report(status, text)` is called once per technical step,
 * `fact(status, text)` once per outcome in plain words (status: true, false,
 * "warn", "note" or "wait", as reporter() shows them). Returns {ok, tone,
 * summary, superseded, ...}. Network failures are reported, never shown as a pass.
 */
export async function checkReceipt(receipt, report, fact = () => {}) {
  const result = await receiptSteps(receipt, report, fact);
  // A ballot a later one replaced is on the board, but does not count: never
  // the all-good summary (the voter who did not vote again must report it).
  if (result.ok && result.superseded) {
    return { ...result, tone: "warn", summary: t("check.superseded", { code: shortCodeFromHex(receipt.tracking_code) }) };
  }
  // Whether it was replaced could not be asked: not the all-good summary.
  if (result.ok && result.replacement === "unknown" && result.tone === "good") {
    return { ...result, tone: "pending", summary: t("check.passed_unknown", { code: shortCodeFromHex(receipt.tracking_code) }) };
  }
  return result;
}

const HEX64 = /^[0-9a-f]{64}$/;

/** The server's newest signed tree head, checked to extend the receipt's (throws otherwise). */
export async function checkedNewestHead(base, receipt, serverKey) {
  const { server_key: newestKey, ...newestHead } = await get(`${base}/board/head`, { auth: false });
  if (newestKey !== receipt.server_key) throw new TreeHeadSignatureError("the board is signed by another key");
  const newest = signedTreeHeadFromJson(newestHead);
  const sth = verifyReceipt(receipt, { serverKey });
  const reply = await get(`${base}/board/consistency?old=${sth.head.size}&new=${newest.head.size}`, { auth: false });
  verifyReceiptAgainst(receipt, newest, reply.proof, { serverKey });
  return newest;
}

/**
 * Whether a later ballot replaced the receipt's, as far as this page can tell
 *: {state} is
 * - "verified": the server reports it, and the later ballot is on the board
 *   under the checked newest head `newest`, cast after this one with the same
 *   voting credential and signed by it (the server cannot make that ballot:
 *   it needs the voter's credential). {code, index};
 * - "claimed": the server reports it, but the later ballot does not check out
 *   ({detail}): still a warning, the voter must know;
 * - "none": the server reports no later ballot (its word only: the published
 *   election record shows every replacement);
 * - "unknown": the server could not be asked or its reply is malformed ({detail}).
 */
export async function replacement(base, receipt, serverKey, newest) {
  let reply;
  try {
    reply = await get(`${base}/ballots/${receipt.tracking_code}`, { auth: false });
    if (reply?.receipt?.tracking_code !== receipt.tracking_code || typeof reply.superseded !== "boolean") {
      throw new ReceiptError("the server's reply about this ballot is malformed");
    }
  } catch (exc) {
    return { state: "unknown", detail: detailOf(exc) };
  }
  if (!reply.superseded) return { state: "none" };
  try {
    return { state: "verified", ...(await laterBallotOnBoard(base, receipt, serverKey, newest, reply.superseded_by)) };
  } catch (exc) {
    return { state: "claimed", detail: detailOf(exc) };
  }
}

/** The ballot `code` is on the board under `newest`, after the receipt's, with its voting credential's signature. */
async function laterBallotOnBoard(base, receipt, serverKey, newest, code) {
  if (typeof code !== "string" || !HEX64.test(code)) throw new ReceiptError("the server names no later ballot");
  const reply = await get(`${base}/board/inclusion?tracking_code=${code}&size=${newest.head.size}`, { auth: false });
  const head = signedTreeHeadFromJson(reply?.tree_head);
  if (head.head.size !== newest.head.size || toHex(head.head.root) !== toHex(newest.head.root)) {
    throw new InclusionProofError("the proof is not under the newest tree head");
  }
  const proof = inclusionProofFromJson(reply.proof);
  const entryBytes = typeof reply.entry === "string" ? utf8(reply.entry) : canonicalJson(reply.entry);
  const entry = typeof reply.entry === "string" ? JSON.parse(reply.entry) : reply.entry;
  verifyInclusion(leafHash(entryBytes), proof.leafIndex, proof.treeSize, proof.path, newest.head.root);
  const credential = receipt.entry.body.credential;
  if (
    entry?.kind !== "ballot" ||
    entry.index !== proof.leafIndex ||
    entry.election_id !== receipt.election_id ||
    entry.index <= receipt.leaf_index ||
    entry.body?.tracking_code !== code ||
    entry.body.credential !== credential
  ) {
    throw new LogError("the board's entry is not a later ballot of the same voting credential");
  }
  const entries = await boardUntilJointKey(base);
  const created = entries.find((e) => e.kind === "election-created");
  const joint = entries.find((e) => e.kind === "joint-key");
  witnessPolicyFor(receipt, created, joint); // the receipt's code recomputes from them: this election's key
  const fingerprint = electionFingerprint(parseManifest(created.body.manifest), Point.fromHex(joint.body.joint_key));
  if (!verifyCredentialSignature(fromHex(credential, 32), fromHex(String(entry.body.signature), 64), fingerprint, fromHex(code, 32))) {
    throw new LogError("the later ballot is not signed with this voting credential");
  }
  return { code, index: entry.index };
}

async function receiptSteps(receipt, report, fact) {
  const election = receipt && typeof receipt === "object" ? receipt.election_id : null;
  if (typeof election !== "string" || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(election)) {
    report(false, t("check.step_receipt_bad", { detail: t("check.why.receipt_invalid") }));
    fact(false, t("check.plain_not_genuine"));
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
    report(false, t(`check.step_${step}_bad`, { detail: detailOf(exc) }));
    if (step === "inclusion") fact(true, t("check.plain_genuine"));
    fact(false, t(step === "inclusion" ? "check.plain_not_on_board" : "check.plain_not_genuine"));
    return { ok: false, summary: t("check.failed") };
  }
  report(true, t("check.step_receipt_ok"));
  report(true, t("check.step_head_ok"));
  report(true, t("check.step_inclusion_ok", { index: receipt.leaf_index, size: sth.head.size }));
  fact(true, t("check.plain_genuine"));
  fact(true, t("check.plain_on_board", { index: receipt.leaf_index }));
  const newestDoc = await get(`${base}/board/head`, { auth: false });
  const { server_key: newestKey, ...newestHead } = newestDoc;
  let newest;
  try {
    if (newestKey !== receipt.server_key) throw new TreeHeadSignatureError("the board is signed by another key");
    newest = signedTreeHeadFromJson(newestHead);
    verifyTreeHead(serverKey, newest);
  } catch (exc) {
    report(false, t("check.step_newest_bad", { detail: detailOf(exc) }));
    fact(false, t("check.plain_board_changed"));
    return { ok: false, summary: t("check.failed") };
  }
  report(true, t("check.step_newest_ok", { size: newest.head.size }));
  try {
    const reply = await get(`${base}/board/consistency?old=${sth.head.size}&new=${newest.head.size}`, { auth: false });
    verifyReceiptAgainst(receipt, newest, reply.proof, { serverKey });
  } catch (exc) {
    report(false, t("check.step_consistency_bad", { detail: detailOf(exc) }));
    fact(false, t("check.plain_board_changed"));
    return { ok: false, summary: t("check.failed") };
  }
  report(true, t("check.step_consistency_ok", { old: sth.head.size, size: newest.head.size }));
  fact(true, t("check.plain_never_removed", { size: newest.head.size }));
  // Whether a later ballot replaced it: the server's reply is not signed, so
  // a replacement it reports is checked on the board where possible, and "no
  // later ballot" stays the server's word (a note, never a pass).
  const replaced = await replacement(base, receipt, serverKey, newest);
  const superseded = replaced.state === "verified" || replaced.state === "claimed";
  if (replaced.state === "verified") {
    report("warn", t("check.step_superseded_verified", { code: shortCodeFromHex(replaced.code), index: replaced.index }));
  } else if (replaced.state === "claimed") {
    report("warn", t("check.step_superseded_unverified", { detail: replaced.detail }));
  } else if (replaced.state === "none") {
    report("note", t("check.step_none_reported"));
    fact("note", t("check.plain_none_reported"));
  } else {
    report("note", t("check.step_counted_unknown", { detail: replaced.detail }));
    fact("note", t("check.plain_counts_unknown"));
  }
  if (superseded) fact("warn", t("check.plain_superseded"));
  const code = shortCodeFromHex(receipt.tracking_code);
  const passed = { ok: true, tone: "good", superseded, replacement: replaced.state, summary: t("check.passed", { code }) };
  // The witnesses: the policy the ballot was made under, then their confirmation.
  let policy;
  try {
    policy = await electionWitnesses(base, receipt);
  } catch (exc) {
    report(false, t("check.step_policy_bad", { detail: detailOf(exc) }));
    fact(false, t("check.plain_witnesses_bad"));
    return { ok: false, tone: "bad", summary: t("check.failed") };
  }
  if (!policy.quorum) {
    report("note", t("check.step_witnesses_none"));
    fact("note", t("check.plain_no_witnesses"));
    return passed;
  }
  report(true, t("check.step_policy_ok", { n: policy.witnesses.length, k: policy.quorum, names: namesOf(policy.witnesses) }));
  const outcome = await witnessConfirmation(base, receipt, sth, policy, serverKey);
  const alarm = { ok: false, tone: "bad", alarm: true, summary: t("check.split_view") };
  if (outcome.state === "alarm") {
    report(false, t("check.step_split_view", { detail: outcome.detail }));
    fact(false, t("check.plain_split_view"));
    return alarm;
  }
  if (outcome.state === "failed") {
    report(false, t("check.step_witnessed_bad", { detail: outcome.detail }));
    fact(false, t("check.plain_witnesses_bad"));
    return { ok: false, tone: "bad", summary: t("check.failed") };
  }
  if (outcome.state === "confirmed") {
    report(true, t("check.step_witnessed_ok", {
      names: namesOf(outcome.witnesses), count: outcome.witnesses.length, k: policy.quorum, size: outcome.size,
    }));
    fact(true, t("check.plain_witnessed"));
  } else if (outcome.state === "unreachable") {
    report("wait", t("check.step_witnessed_unreachable", { detail: outcome.detail }));
    fact("wait", t("check.plain_witnesses_pending"));
  } else {
    report("wait", t("check.step_witnessed_pending"));
    fact("wait", t("check.plain_witnesses_pending"));
  }
  // Gossip: each witness's own newest head must be consistent with the receipt's.
  let split = false;
  for (const result of await gossip(base, receipt, sth, policy, serverKey)) {
    const name = result.witness.name;
    if (result.state === "ok") report(true, t("check.step_gossip_ok", { name, size: result.size }));
    else if (result.state === "none") report("note", t("check.step_gossip_none", { name }));
    else if (result.state === "unreachable") report("note", t("check.step_gossip_unreachable", { name, detail: result.detail }));
    else {
      split = true;
      report(false, t("check.step_gossip_bad", { name, detail: result.detail }));
    }
  }
  if (split) {
    fact(false, t("check.plain_split_view"));
    return alarm;
  }
  if (outcome.state === "confirmed") {
    return {
      ...passed, witnessed: true, completed: outcome.completed, summary: t("check.passed_witnessed", { code }),
    };
  }
  return { ...passed, tone: "pending", pending: true, summary: t("check.passed_pending", { code }) };
}

// --- witnesses --------------------------------------------------------------------------

const namesOf = (witnesses) => witnesses.map((w) => w.name).join(t("ballot.list_separator"));

/** Network trouble (or a server error) is "could not check", never a verdict. */
/** No verdict on the board: the network, an overloaded server or a rate limit
 * (voting/witnessed.py is_unavailable); the grace period catches one that stays so. */
const unreachable = (exc) => exc instanceof ApiError && (exc.status === 0 || exc.status === 429 || exc.status >= 500);

/**
 * The witness policy of the receipt's election ({witnesses, quorum}): the
 * manifest of the board's election-created entry, believed only because the
 * receipt's tracking code recomputes from it and the joint-key entry.
 */
export async function electionWitnesses(base, receipt) {
  const entries = await boardUntilJointKey(base);
  const created = entries.find((e) => e.kind === "election-created");
  const joint = entries.find((e) => e.kind === "joint-key");
  return witnessPolicyFor(receipt, created, joint);
}

/**
 * `other` (a decoded signed tree head, its signature already checked) and the
 * receipt's head `sth` are one board: the smaller is a prefix of the larger, by
 * a consistency proof the server gives. Returns the proof document from `sth`
 * to `other` when `other` is not smaller. Throws ConsistencyProofError or
 * ReceiptError when they are not one board; ApiError when the server gives no proof.
 */
async function provenConsistent(base, sth, other) {
  const mine = sth.head;
  const theirs = other.head;
  if (theirs.logId !== mine.logId) throw new ReceiptError("the head is for another election");
  const [old, next] = theirs.size >= mine.size ? [mine, theirs] : [theirs, mine];
  if (old.size === next.size) {
    verifyConsistency(old.size, next.size, old.root, next.root, []);
    return { old_size: old.size, new_size: next.size, path: [] };
  }
  if (old.size === 0) return null; // the empty board is a prefix of every board
  let reply;
  try {
    reply = await get(`${base}/board/consistency?old=${old.size}&new=${next.size}`, { auth: false });
  } catch (exc) {
    if (unreachable(exc)) throw exc;
    throw new ConsistencyProofError(`the server gives no consistency proof from size ${old.size} to ${next.size} (${detailOf(exc)})`);
  }
  const proof = consistencyProofFromJson(reply?.proof);
  if (proof.oldSize !== old.size || proof.newSize !== next.size) throw new ReceiptError("the consistency proof is for other tree sizes");
  verifyConsistency(proof.oldSize, proof.newSize, old.root, next.root, proof.path);
  return theirs.size >= mine.size ? reply.proof : null;
}

/**
 * A ballot the quorum has not cosigned this long after it was cast is a split
 * view, not "pending": witnesses poll every few seconds (docs/operations.md;
 * voting/witnessed.py GRACE_MS, the Python client's rule).
 */
export const GRACE_MS = 10 * 60 * 1000;

/** A head dated further ahead of this device's clock is refused: the grace
 * period runs from it (voting/witnessed.py MAX_CLOCK_SKEW_MS). */
export const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;

function pending(sth, now, seenAt = Infinity) {
  // From the head's time, or from when this device first saw the receipt if
  // earlier: a server re-dating fresh receipts cannot postpone the alarm.
  const age = now - Math.min(sth.head.timestampMs, seenAt);
  if (age > GRACE_MS) {
    return { state: "alarm", detail: t("check.witnesses_late", { minutes: Math.floor(age / 60000) }) };
  }
  return { state: "pending" };
}

/** The server could not be asked: no verdict yet, but a server that stays
 * unreachable past the grace period is hiding the ballot from the witnesses. */
function unreachableOrLate(sth, now, detail, seenAt) {
  const late = pending(sth, now, seenAt);
  return late.state === "alarm" ? late : { state: "unreachable", detail };
}

/**
 * Whether the quorum of the election's witnesses confirmed a head that covers
 * the receipt's ballot (as voting/witnessed.py does for the Python voter).
 * Returns {state, ...}:
 * - "confirmed": {witnesses, size, completed}, where `completed` is the receipt
 *   with a new `witnessed` member (null when the receipt's own one sufficed);
 * - "pending": no cosigned head covers the ballot yet (not an alarm), within
 *   GRACE_MS of the receipt's head;
 * - "alarm": a head the quorum cosigned and the receipt's head are not one
 *   board, or the witnesses still have not seen the ballot after GRACE_MS: a
 *   split view. {detail};
 * - "failed": the receipt's `witnessed` member, or the server's cosigned head,
 *   is not what it claims. {detail};
 * - "unreachable": the server could not be asked. {detail}.
 */
export async function witnessConfirmation(base, receipt, sth, policy, serverKey, { now = Date.now(), seenAt = Infinity } = {}) {
  const ahead = sth.head.timestampMs - now;
  if (ahead > MAX_CLOCK_SKEW_MS) {
    return { state: "alarm", detail: t("check.head_in_future", { minutes: Math.floor(ahead / 60000) }) };
  }
  // 1. The receipt's own completion: it proves itself, or the check fails.
  if (receipt[WITNESSED] !== undefined) {
    try {
      const { cosigned, witnesses } = verifyWitnessed(receipt, policy, { serverKey });
      return { state: "confirmed", witnesses, size: cosigned.treeHead.head.size, completed: null };
    } catch (exc) {
      // A head the quorum did cosign, whose proof fails: is it one board with the receipt's at all?
      if (exc instanceof ConsistencyProofError) {
        try {
          const cosigned = cosignedHeadFromJson(receipt[WITNESSED].cosigned);
          checkQuorum(policy, serverKey, cosigned);
          await provenConsistent(base, sth, cosigned.treeHead);
        } catch (again) {
          if (unreachable(again)) return unreachableOrLate(sth, now, detailOf(again), seenAt);
          if (again instanceof ConsistencyProofError) return { state: "alarm", detail: detailOf(again) };
        }
      }
      return { state: "failed", detail: t("check.witnessed_invalid", { detail: detailOf(exc) }) };
    }
  }
  // 2. The server's newest head cosigned by the quorum.
  let doc;
  try {
    doc = await get(`${base}/board/cosigned`, { auth: false });
  } catch (exc) {
    if (exc instanceof ApiError && exc.status === 404 && exc.code === "not_cosigned") return pending(sth, now, seenAt);
    if (unreachable(exc)) return unreachableOrLate(sth, now, detailOf(exc), seenAt);
    return { state: "failed", detail: detailOf(exc) };
  }
  let cosigned;
  let witnesses;
  try {
    cosigned = cosignedHeadFromJson(doc);
    witnesses = checkQuorum(policy, serverKey, cosigned);
    if (cosigned.treeHead.head.logId !== receipt.election_id) throw new ReceiptError("the cosigned head is for another election");
  } catch (exc) {
    // The server calls this head cosigned by the quorum; it is not.
    return { state: "failed", detail: detailOf(exc) };
  }
  let proof;
  try {
    proof = await provenConsistent(base, sth, cosigned.treeHead);
  } catch (exc) {
    if (unreachable(exc)) return unreachableOrLate(sth, now, detailOf(exc), seenAt);
    return { state: "alarm", detail: detailOf(exc) };
  }
  const size = cosigned.treeHead.head.size;
  if (size < sth.head.size) return pending(sth, now, seenAt);
  const completed = { ...receipt, [WITNESSED]: { cosigned: doc, consistency: proof } };
  try {
    verifyWitnessed(completed, policy, { serverKey });
  } catch (exc) {
    return { state: "failed", detail: detailOf(exc) };
  }
  return { state: "confirmed", witnesses, size, completed };
}

const GOSSIP_TIMEOUT_MS = 8000;

/** One witness's own log, straight from it (CORS), not through the server. */
async function witnessLog(url) {
  let response;
  try {
    response = await fetch(url, {
      headers: { Accept: "application/json" },
      credentials: "omit",
      cache: "no-store",
      referrerPolicy: "no-referrer",
      signal: AbortSignal.timeout(GOSSIP_TIMEOUT_MS),
    });
  } catch (exc) {
    return { state: "unreachable", detail: t(exc.name === "TimeoutError" ? "check.why.timeout" : "check.why.network_error") };
  }
  if (response.status === 404) return { state: "none" };
  if (!response.ok) return { state: "unreachable", detail: t("check.why.http", { status: response.status }) };
  try {
    return { state: "reply", doc: await response.json() };
  } catch {
    return { state: "unreachable", detail: t("check.why.not_json") };
  }
}

/**
 * Each witness with a `url`: its newest cosigned head (`{server_key, tree_head,
 * cosignature}` at `url/elections/{id}`, fetched from the witness itself, not
 * through the server), its cosignature and the server's signature checked,
 * then consistency with the receipt's head in whichever direction (the server
 * gives the proof). Returns one {witness, state, detail, size} per witness with
 * a url: "ok"; "none" (it has cosigned nothing for this election yet);
 * "unreachable" (not reached, or a reply that does not verify: not compared, a
 * note); "alarm" (a head the server signed and the witness cosigned that is
 * not one board with the receipt's: a split view).
 */
export async function gossip(base, receipt, sth, policy, serverKey) {
  const electionId = receipt.election_id;
  const checks = policy.witnesses
    .filter((w) => w.url)
    .map(async (witness) => {
      const reply = await witnessLog(witnessLogUrl(witness, electionId));
      if (reply.state !== "reply") return { witness, ...reply };
      let head;
      try {
        const doc = reply.doc;
        head = signedTreeHeadFromJson(doc?.tree_head);
        const cosignature = cosignatureFromJson(doc.cosignature);
        if (toHex(cosignature.witnessKey) !== witness.publicKeyHex) throw new CosignatureError("the log's cosignature is by another key");
        verifyCosignature(head.head, cosignature);
        verifyTreeHead(serverKey, head);
        if (head.head.logId !== electionId) throw new ReceiptError("the log's head is for another election");
      } catch (exc) {
        return { witness, state: "unreachable", detail: t("check.gossip_unverified", { detail: detailOf(exc) }) };
      }
      try {
        await provenConsistent(base, sth, head);
      } catch (exc) {
        if (unreachable(exc)) return { witness, state: "unreachable", detail: detailOf(exc) };
        return { witness, state: "alarm", detail: detailOf(exc) };
      }
      return { witness, state: "ok", size: head.head.size };
    });
  return Promise.all(checks);
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
  if (typeof election !== "string" || !ELECTION_ID.test(election)) return failed("audit", t("check.why.receipt_invalid"));
  const base = `/api/elections/${encodeURIComponent(election)}`;
  const serverKey = fromHex((await get("/api/server-key", { auth: false })).server_key, 32);
  // 1. The file is what the server signed: a changed opening, ballot or code fails here.
  try {
    verifyAuditFile(doc, { serverKey });
  } catch (exc) {
    return failed("audit", detailOf(exc));
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
    if (canonicalJsonText(entry) !== canonicalJsonText(doc.entry)) throw new LogError("the board's entry is not the one in the file");
    boardEntry = entry;
    report(true, t("check.step_board_entry_ok", { index: doc.leaf_index, size: newest.head.size }));
  } catch (exc) {
    return failed("board_entry", detailOf(exc));
  }
  // 3. The election key from the board, endorsed by every trustee.
  let checked;
  try {
    const entries = await boardUntilJointKey(base);
    const named = entries[0]?.kind === "election-created" ? entries[0].body?.server_key : undefined;
    if (named !== undefined && named !== toHex(serverKey)) throw new LogError("the board's election-created entry names another server key");
    checked = await endorsedElection(entries, election);
  } catch (exc) {
    return failed("key", detailOf(exc));
  }
  report(true, t("check.step_key_ok", { n: checked.trustees.length }));
  // 4. The ballot's proofs, then the opening: the choices it encrypts.
  let choices;
  try {
    choices = auditedChoices(checked, boardEntry);
  } catch (exc) {
    return failed(exc instanceof AuditOpeningError ? "opening" : "ballot", detailOf(exc));
  }
  report(true, t("check.step_ballot_ok", { credential: boardEntry.body.credential.slice(0, 16) }));
  report(true, t("check.step_opening_ok"));
  // 5. Never cast: an audited tracking code is refused by the server.
  let cast = false;
  try {
    const found = await get(`${base}/ballots/${doc.tracking_code}`, { auth: false });
    cast = found?.receipt?.entry?.kind === "ballot";
  } catch (exc) {
    if (!(exc instanceof ApiError && exc.status === 404)) return failed("board_entry", detailOf(exc));
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

const MARKS = {
  ok: ["ok", "✓", "check.ok"],
  fail: ["fail", "✗", "check.bad"],
  warn: ["warn", "⚠", "check.warn"],
  note: ["note", "ℹ", "check.note"],
  wait: ["wait", "…", "check.wait"],
};

/**
 * Render the steps into a list: `report(status, text)` with status true
 * (passed), false (failed), "warn" (not a failure, but the voter must act:
 * a replaced ballot), "note" (information, e.g. no witnesses) or "wait" (not
 * yet, e.g. not yet confirmed by the witnesses); marked in words, not colour
 * alone.
 */
export function reporter(list) {
  list.replaceChildren();
  return (status, text) => {
    const [className, sign, key] = MARKS[status === true ? "ok" : status === false ? "fail" : status];
    const item = document.createElement("li");
    const mark = document.createElement("span");
    mark.className = className;
    mark.textContent = `${sign} ${t(key)}`;
    item.append(mark, " ", text);
    list.append(item);
  };
}
