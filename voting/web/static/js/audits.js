// Published audits (Benaloh challenges), checked on any device: an audit file
// is the server's signed reply to POST …/audits, shaped as a cast receipt whose
// board entry is `ballot-audited` {tracking_code, credential, ballot, opening}.
// No DOM and no network here (check.js does the fetching), so node tests it.
//
// * fileKind: a receipt, an audit file, a credential file (a common mistake),
//   an election record, a witness's state file, or something else — so the
//   check page says "this is a … file, not a receipt" instead of reporting a
//   failed check;
// * verifyAuditFile: the server's signature and the entry's inclusion under the
//   file's tree head (receipts.js, kind "ballot-audited");
// * auditedChoices: with the election key taken from the board, the ballot's
//   proofs verify for its credential (voter_id), its tracking code recomputes,
//   and the opening re-encrypts to it: returns the 0/1 choices it encrypts;
// * describeChoices: those choices in plain words, Japanese and English;
// * verifyAuditAgainst: the file's tree head is a prefix of a newer signed head
//   (a consistency proof), so a forked board is refused, as for receipts;
// * normalizeTrackingCode / trackingCodeMatches: the tracking code the voter
//   noted on the voting device BEFORE choosing to audit, compared with the
//   audited entry's code. Without it a cheating device could show one code
//   (a ballot with wrong choices) and publish an honest ballot for the audit.

import { auditOpeningFromJson, ballotFromJson, shortCodeFromHex, trackingCode, verifyBallot, verifyAuditOpening } from "./ballots.js";
import { fromHex, toHex } from "./bytes.js";
import { AuditOpeningError, BallotError, ConsistencyProofError } from "./errors.js";
import { consistencyProofFromJson, verifyConsistency, verifyTreeHead } from "./merkle.js";
import { verifyReceipt } from "./receipts.js";

export const AUDIT_KIND = "ballot-audited";
const HEX64 = /^[0-9a-f]{64}$/;
const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

/** The files the project writes that are not receipts, by their `format`. */
const FORMATS = {
  "votingpilot-credential": "credential",
  "votingpilot-election-record": "record",
  "votingpilot-witness-state": "witness",
};

/**
 * "receipt", "audit", "credential", "record", "witness" or "unknown": what a
 * chosen file claims to be (nothing verified yet). The receipt and audit
 * shapes come first: a receipt with a stray `format` (or credential-like)
 * member is a receipt that fails its check, never "not a receipt".
 */
export function fileKind(doc) {
  if (!isObject(doc)) return "unknown";
  const entry = doc.entry;
  if (isObject(entry) && "signature" in doc && "tree_head" in doc && "inclusion_proof" in doc) {
    if (entry.kind === AUDIT_KIND) return "audit";
    if (entry.kind === "ballot") return "receipt";
  }
  if (Object.hasOwn(FORMATS, doc.format)) return FORMATS[doc.format];
  if ("kdf" in doc && "cipher" in doc && "chain" in doc) return "credential";
  return "unknown";
}

/** The server's signature over the audit file and the entry's inclusion under its head; returns the signed tree head. */
export function verifyAuditFile(doc, { serverKey } = {}) {
  return verifyReceipt(doc, { serverKey, kind: AUDIT_KIND });
}

/**
 * The choices an audited entry's ballot encrypts, after every check: the
 * entry's body is {tracking_code, credential, ballot, opening}; the ballot is
 * for this election and made for that credential (voter_id), its tracking code
 * is the entry's, its proofs verify, and the opening re-encrypts to it.
 * Throws BallotError (ballot) or AuditOpeningError (opening).
 */
export function auditedChoices({ manifest, key, fingerprint }, entry) {
  const body = entry?.body;
  if (!isObject(body) || !isObject(body.ballot) || !isObject(body.opening)) throw new BallotError("the audited entry has no ballot and opening");
  if (typeof body.credential !== "string" || !HEX64.test(body.credential)) throw new BallotError("the audited entry's credential is not 64 hex digits");
  if (body.ballot.voter_id !== body.credential) throw new BallotError("the ballot was not made for the entry's credential");
  const ballot = ballotFromJson(body.ballot, manifest);
  if (toHex(trackingCode(fingerprint, body.ballot)) !== body.tracking_code) throw new BallotError("the tracking code does not recompute from the ballot");
  verifyBallot(manifest, key, fingerprint, body.credential, ballot);
  let opening;
  try {
    opening = auditOpeningFromJson(body.opening);
  } catch (exc) {
    throw new AuditOpeningError(`the opening is malformed: ${exc.message}`);
  }
  return verifyAuditOpening(manifest, key, ballot, opening);
}

const both = (value) => (isObject(value) ? { ja: String(value.ja ?? value.en ?? ""), en: String(value.en ?? value.ja ?? "") } : { ja: String(value ?? ""), en: String(value ?? "") });

/** [{question: {ja, en}, chosen: [{ja, en}, …]}] for the choices (0/1 rows), from the manifest's texts. */
export function describeChoices(manifest, choices) {
  const doc = manifest.document || {};
  return choices.map((row, q) => {
    const question = doc.questions?.[q] || {};
    return {
      question: both(question.text ?? manifest.questions[q].id),
      chosen: row.flatMap((m, o) => (m ? [both(question.options?.[o]?.label ?? manifest.questions[q].optionIds[o])] : [])),
    };
  });
}

/**
 * The audit file checks out and its tree head is a prefix of `newest` (a
 * signed tree head, already parsed): `consistencyDoc` is the board's proof
 * from the file's head size to newest's. Throws ConsistencyProofError (or the
 * file's own errors). Returns {auditHead, newestHead}.
 */
export function verifyAuditAgainst(doc, newest, consistencyDoc, { serverKey } = {}) {
  const sth = verifyAuditFile(doc, { serverKey });
  const key = serverKey instanceof Uint8Array ? serverKey : fromHex(serverKey ?? doc.server_key, 32);
  verifyTreeHead(key, newest);
  if (newest.head.logId !== sth.head.logId) throw new ConsistencyProofError("the newest tree head is for another election");
  if (newest.head.size < sth.head.size) throw new ConsistencyProofError(`the board shrank from ${sth.head.size} to ${newest.head.size} entries`);
  const consistency = consistencyProofFromJson(consistencyDoc);
  if (consistency.oldSize !== sth.head.size || consistency.newSize !== newest.head.size) {
    throw new ConsistencyProofError("the consistency proof is for other tree sizes");
  }
  verifyConsistency(consistency.oldSize, consistency.newSize, sth.head.root, newest.head.root, consistency.path);
  return { auditHead: sth, newestHead: newest };
}

/**
 * A tracking code as the voter typed it: the full form (64 hex digits) in
 * lower case, or the short form (XXXX-XXXX-XXXX-XXXX) as 16 upper-case base32
 * characters without separators; null when it is neither.
 */
export function normalizeTrackingCode(text) {
  const compact = String(text ?? "").normalize("NFKC").replace(/[\s\-‐-―ー]/gu, "");
  if (/^[0-9a-f]{64}$/i.test(compact)) return compact.toLowerCase();
  if (/^[A-Z2-7]{16}$/i.test(compact)) return compact.toUpperCase();
  return null;
}

/** Whether the code the voter noted (as normalizeTrackingCode gives it) is the tracking code `hex`. */
export function trackingCodeMatches(noted, hex) {
  if (!noted || typeof hex !== "string" || !HEX64.test(hex)) return false;
  return noted === hex || noted === shortCodeFromHex(hex).replaceAll("-", "");
}
