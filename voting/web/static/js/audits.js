// Published audits (Benaloh challenges), checked on any device: an audit file
// is the server's signed reply to POST …/audits, shaped as a cast receipt whose
// board entry is `ballot-audited` {tracking_code, credential, ballot, opening}.
// No DOM and no network here (check.js does the fetching), so node tests it.
//
// * fileKind: a receipt, an audit file, a credential file (a common mistake)
//   or something else — so the check page says "not a receipt or audit file"
//   instead of reporting a failed check;
// * verifyAuditFile: the server's signature and the entry's inclusion under the
//   file's tree head (receipts.js, kind "ballot-audited");
// * auditedChoices: with the election key taken from the board, the ballot's
//   proofs verify for its credential (voter_id), its tracking code recomputes,
//   and the opening re-encrypts to it: returns the 0/1 choices it encrypts;
// * describeChoices: those choices in plain words, Japanese and English.

import { auditOpeningFromJson, ballotFromJson, trackingCode, verifyBallot, verifyAuditOpening } from "./ballots.js";
import { toHex } from "./bytes.js";
import { AuditOpeningError, BallotError } from "./errors.js";
import { verifyReceipt } from "./receipts.js";

export const AUDIT_KIND = "ballot-audited";
const HEX64 = /^[0-9a-f]{64}$/;
const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

/** "receipt", "audit", "credential" or "unknown": what a chosen file claims to be (nothing verified yet). */
export function fileKind(doc) {
  if (!isObject(doc)) return "unknown";
  if (doc.format === "votingpilot-credential" || ("kdf" in doc && "cipher" in doc && "chain" in doc)) return "credential";
  const entry = doc.entry;
  if (!isObject(entry) || !("signature" in doc) || !("tree_head" in doc) || !("inclusion_proof" in doc)) return "unknown";
  if (entry.kind === AUDIT_KIND) return "audit";
  if (entry.kind === "ballot") return "receipt";
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
