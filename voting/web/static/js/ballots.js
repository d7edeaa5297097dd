// Encrypted ballots, mirroring crypto/ballots.py (docs/parts/core.md, "Ballots"):
// the manifest's cryptographic view, the election fingerprint, encryption with
// proofs, strict decoding and verification, the tracking code and its short
// form, and the Benaloh audit opening. Every limit comes from the manifest.

import { base32, fromHex } from "./bytes.js";
import { canonicalJson, encodeParts, sha256 } from "./encoding.js";
import {
  AuditOpeningError,
  BallotError,
  BallotShapeError,
  EncodingError,
  InvalidScalar,
  ManifestError,
  ProofError,
  SelectionLimitError,
  SelectionProofError,
} from "./errors.js";
import { Scalar } from "./group.js";
import { encrypt, ciphertextFromJson, addAll } from "./elgamal.js";
import { disjunctiveFromJson, disjunctiveToJson, proveEncryptedValue, verifyEncryptedValue } from "./proofs.js";
import { parseWitnessPolicy } from "./witness.js";

export const BALLOT_VERSION = 1;
export const SELECTION_KIND = "selection";
export const LIMIT_KIND = "selection-limit";
const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const MAX_QUESTIONS = 50;
const MAX_OPTIONS = 50;

const isInt = (v) => typeof v === "number" && Number.isInteger(v);
const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

// --- manifest ------------------------------------------------------------------

function range(low, high) {
  const out = [];
  for (let i = low; i <= high; i++) out.push(i);
  return out;
}

/** The cryptographically relevant view of a manifest; `document` is all of it. */
export function parseManifest(doc) {
  if (!isObject(doc)) throw new ManifestError("the manifest must be a JSON object");
  let canonical;
  try {
    canonical = canonicalJson(doc);
  } catch (exc) {
    throw new ManifestError(`the manifest is not canonical JSON: ${exc.message}`);
  }
  const document = JSON.parse(new TextDecoder().decode(canonical));
  const electionId = document.election_id;
  if (typeof electionId !== "string" || !ID.test(electionId)) {
    throw new ManifestError("election_id must be 1-64 letters, digits, '.', '_' or '-'");
  }
  const raw = document.questions;
  if (!Array.isArray(raw) || raw.length < 1 || raw.length > MAX_QUESTIONS) {
    throw new ManifestError(`questions must be a list of 1 to ${MAX_QUESTIONS} questions`);
  }
  const seen = new Set();
  const questions = raw.map((q, index) => {
    const where = `question ${index + 1}`;
    if (!isObject(q)) throw new ManifestError(`${where}: must be an object`);
    if (typeof q.id !== "string" || !ID.test(q.id)) throw new ManifestError(`${where}: id must be 1-64 letters, digits, '.', '_' or '-'`);
    if (seen.has(q.id)) throw new ManifestError(`${where}: duplicate id ${JSON.stringify(q.id)}`);
    seen.add(q.id);
    if (!Array.isArray(q.options) || q.options.length < 1 || q.options.length > MAX_OPTIONS) {
      throw new ManifestError(`${where}: options must be a list of 1 to ${MAX_OPTIONS} options`);
    }
    const optionIds = [];
    q.options.forEach((option, o) => {
      const oid = isObject(option) ? option.id : undefined;
      if (typeof oid !== "string" || !ID.test(oid)) throw new ManifestError(`${where}, option ${o + 1}: id must be 1-64 letters, digits, '.', '_' or '-'`);
      if (optionIds.includes(oid)) throw new ManifestError(`${where}: duplicate option id ${JSON.stringify(oid)}`);
      optionIds.push(oid);
    });
    const low = q.min_selections;
    const high = q.max_selections;
    if (!isInt(low) || !isInt(high)) throw new ManifestError(`${where}: min_selections and max_selections must be integers`);
    if (!(0 <= low && low <= high && high <= optionIds.length) || high < 1) {
      throw new ManifestError(`${where}: need 0 <= min_selections <= max_selections <= number of options, and max_selections >= 1`);
    }
    return { questionId: q.id, optionIds, minSelections: low, maxSelections: high, limitValues: range(low, high) };
  });
  // The witnesses that cosign the board and the quorum every client requires (witness.js).
  const witnesses = parseWitnessPolicy(document.witnesses);
  return { electionId, questions, document, canonical, witnesses };
}

/** SHA-256 over the canonical manifest and the joint key: every proof hashes it. */
export function electionFingerprint(manifest, jointKey) {
  if (jointKey.isIdentity()) throw new ManifestError("the joint key must not be the identity");
  return sha256(encodeParts("votingpilot/v1/election-fingerprint", manifest.canonical, jointKey));
}

// --- contexts and choices ---------------------------------------------------------

const selectionContext = (voterId, q, o) => ["ballot-selection", voterId, q, o];
const limitContext = (voterId, q) => ["ballot-question", voterId, q];

/** The voter's 0/1 choices (one row per question) must fit the manifest. */
export function checkChoices(manifest, choices) {
  if (!Array.isArray(choices) || choices.length !== manifest.questions.length) {
    throw new BallotShapeError(`expected choices for ${manifest.questions.length} questions`);
  }
  choices.forEach((row, qn) => {
    const question = manifest.questions[qn];
    if (!Array.isArray(row) || row.length !== question.optionIds.length || row.some((m) => m !== 0 && m !== 1)) {
      throw new BallotShapeError(`question ${qn + 1}: one 0 or 1 per option expected`);
    }
    const count = row.reduce((a, b) => a + b, 0);
    if (count < question.minSelections || count > question.maxSelections) {
      throw new SelectionLimitError(`question ${qn + 1}: choose between ${question.minSelections} and ${question.maxSelections} options`);
    }
  });
}

/** {question id: [option ids]} -> 0/1 rows in manifest order. */
export function choicesFromIds(manifest, selected) {
  return manifest.questions.map((q) => {
    const chosen = new Set(selected[q.questionId] || []);
    for (const id of chosen) if (!q.optionIds.includes(id)) throw new BallotShapeError(`${q.questionId}: unknown option ${id}`);
    return q.optionIds.map((id) => (chosen.has(id) ? 1 : 0));
  });
}

// --- encryption -----------------------------------------------------------------------

/**
 * Encrypt the voter's choices. Returns {ballot, opening}: the ballot as its JSON
 * document (what is cast) and the audit opening (the secrets; revealing them
 * spoils the ballot). `rng` defaults to fresh randomness.
 */
export function encryptBallot(manifest, jointKey, fingerprint, voterId, choices, { rng = Scalar.random } = {}) {
  checkChoices(manifest, choices);
  const questions = [];
  const opening = [];
  choices.forEach((row, qn) => {
    const question = manifest.questions[qn];
    const selections = [];
    const secrets = [];
    let rTotal = new Scalar(0n);
    const cts = [];
    row.forEach((m, on) => {
      const r = rng();
      const ct = encrypt(jointKey, m, r);
      const proof = proveEncryptedValue(ct.alpha, ct.beta, r, m, jointKey, [0, 1], {
        kind: SELECTION_KIND,
        fingerprint,
        context: selectionContext(voterId, qn, on),
        rng,
      });
      cts.push(ct);
      selections.push({ alpha: ct.alpha.hex(), beta: ct.beta.hex(), proof: disjunctiveToJson(proof) });
      secrets.push({ m, r: r.hex() });
      rTotal = rTotal.add(r);
    });
    const total = addAll(cts);
    const count = row.reduce((a, b) => a + b, 0);
    const limit = proveEncryptedValue(total.alpha, total.beta, rTotal, count, jointKey, question.limitValues, {
      kind: LIMIT_KIND,
      fingerprint,
      context: limitContext(voterId, qn),
      rng,
    });
    questions.push({ selections, limit_proof: disjunctiveToJson(limit) });
    opening.push(secrets);
  });
  const ballot = { version: BALLOT_VERSION, election_id: manifest.electionId, voter_id: voterId, questions };
  return { ballot, opening: { version: BALLOT_VERSION, selections: opening } };
}

// --- strict decoding, in the order of EncryptedBallot.from_json --------------------------

function object(doc, keys, what) {
  if (!isObject(doc)) throw new BallotShapeError(`${what} must be a JSON object`);
  const actual = Object.keys(doc);
  const missing = keys.filter((k) => !actual.includes(k));
  const extra = actual.filter((k) => !keys.includes(k));
  if (missing.length || extra.length) throw new BallotShapeError(`${what}: missing [${missing}], unexpected [${extra}]`);
  return doc;
}

function branches(doc, count, error, what) {
  if (Array.isArray(doc) && doc.length !== count) throw new error(`${what} must have ${count} branches, not ${doc.length}`);
  return disjunctiveFromJson(doc, count);
}

/** Decode a ballot document against the manifest's shape; any deviation throws. */
export function ballotFromJson(doc, manifest) {
  const d = object(doc, ["version", "election_id", "voter_id", "questions"], "ballot");
  if (!isInt(d.version) || d.version !== BALLOT_VERSION) throw new BallotShapeError(`unsupported ballot version ${JSON.stringify(d.version)}`);
  if (d.election_id !== manifest.electionId) throw new BallotShapeError("ballot is for another election");
  const voterId = d.voter_id;
  if (typeof voterId !== "string" || voterId.length < 1 || voterId.length > 128) {
    throw new BallotShapeError("voter_id must be a string of 1 to 128 characters");
  }
  try {
    encodeParts(voterId);
  } catch {
    throw new BallotShapeError("voter_id is not valid Unicode");
  }
  if (!Array.isArray(d.questions) || d.questions.length !== manifest.questions.length) {
    throw new BallotShapeError(`ballot must answer exactly ${manifest.questions.length} questions`);
  }
  const questions = d.questions.map((raw, q) => {
    const question = manifest.questions[q];
    const rq = object(raw, ["selections", "limit_proof"], `question ${q + 1}`);
    if (!Array.isArray(rq.selections) || rq.selections.length !== question.optionIds.length) {
      throw new BallotShapeError(`question ${q + 1} must have exactly ${question.optionIds.length} selections`);
    }
    const selections = rq.selections.map((rs, o) => {
      const s = object(rs, ["alpha", "beta", "proof"], `question ${q + 1}, selection ${o + 1}`);
      const ciphertext = ciphertextFromJson({ alpha: s.alpha, beta: s.beta });
      const proof = branches(s.proof, 2, SelectionProofError, `question ${q + 1}, selection ${o + 1}`);
      return { ciphertext, proof };
    });
    const limitProof = branches(rq.limit_proof, question.limitValues.length, SelectionLimitError, `question ${q + 1}: the limit proof`);
    return { selections, limitProof };
  });
  return { electionId: manifest.electionId, voterId, questions };
}

/** Check every proof of a decoded ballot for this election and voter; throws the precise BallotError. */
export function verifyBallot(manifest, jointKey, fingerprint, voterId, ballot) {
  if (ballot.electionId !== manifest.electionId) throw new BallotShapeError("ballot is for another election");
  if (ballot.voterId !== voterId) throw new BallotError("ballot was made for another voter");
  if (ballot.questions.length !== manifest.questions.length) throw new BallotShapeError("wrong number of questions");
  ballot.questions.forEach((eq, qn) => {
    const question = manifest.questions[qn];
    if (eq.selections.length !== question.optionIds.length) throw new BallotShapeError(`question ${qn + 1}: wrong number of selections`);
    eq.selections.forEach((s, on) => {
      if (s.ciphertext.alpha.isIdentity() || s.ciphertext.beta.isIdentity()) {
        throw new SelectionProofError(`question ${qn + 1}, option ${on + 1}: identity in ciphertext`);
      }
      try {
        verifyEncryptedValue(s.ciphertext.alpha, s.ciphertext.beta, jointKey, [0, 1], s.proof, {
          kind: SELECTION_KIND,
          fingerprint,
          context: selectionContext(voterId, qn, on),
        });
      } catch (exc) {
        if (exc instanceof ProofError) throw new SelectionProofError(`question ${qn + 1}, option ${on + 1}: not proven to encrypt 0 or 1`);
        throw exc;
      }
    });
    const total = addAll(eq.selections.map((s) => s.ciphertext));
    try {
      verifyEncryptedValue(total.alpha, total.beta, jointKey, question.limitValues, eq.limitProof, {
        kind: LIMIT_KIND,
        fingerprint,
        context: limitContext(voterId, qn),
      });
    } catch (exc) {
      if (exc instanceof ProofError) {
        throw new SelectionLimitError(
          `question ${qn + 1}: the selection count is not proven to lie in [${question.minSelections}, ${question.maxSelections}]`,
        );
      }
      throw exc;
    }
  });
}

// --- the Benaloh audit -------------------------------------------------------------------

/** Decode an audit opening {version: 1, selections: [[{m, r}, ...], ...]}. */
export function auditOpeningFromJson(doc) {
  const d = isObject(doc) ? doc : {};
  const keys = Object.keys(d).sort();
  if (keys.join(",") !== "selections,version" || !isInt(d.version) || d.version !== BALLOT_VERSION) {
    throw new AuditOpeningError("an audit opening is {version: 1, selections: [...]}");
  }
  try {
    if (!Array.isArray(d.selections)) throw new TypeError("selections must be a list");
    return d.selections.map((q) => {
      if (!Array.isArray(q)) throw new TypeError("a question's opening must be a list");
      return q.map((item) => {
        if (!isObject(item)) throw new TypeError("an option's opening must be an object");
        if (!isInt(item.m) || (item.m !== 0 && item.m !== 1)) throw new AuditOpeningError("each plaintext must be 0 or 1");
        return [item.m, Scalar.fromHex(item.r)];
      });
    });
  } catch (exc) {
    if (exc instanceof AuditOpeningError) throw exc;
    if (exc instanceof TypeError || exc instanceof InvalidScalar) throw new AuditOpeningError(`malformed audit opening: ${exc.message}`);
    throw exc;
  }
}

/**
 * Re-encrypt the revealed choices with the revealed randomness and compare with
 * the ballot: the check that this device encrypted what the voter chose.
 * Returns the choices (0/1 rows).
 */
export function verifyAuditOpening(manifest, jointKey, ballot, opening) {
  if (opening.length !== ballot.questions.length) throw new AuditOpeningError("the opening does not match the ballot's questions");
  opening.forEach((secrets, q) => {
    const eq = ballot.questions[q];
    if (secrets.length !== eq.selections.length) throw new AuditOpeningError(`question ${q + 1}: the opening does not match the options`);
    secrets.forEach(([m, r], o) => {
      const ct = eq.selections[o].ciphertext;
      if (r.isZero()) throw new AuditOpeningError(`question ${q + 1}, option ${o + 1}: the encryption does not match`);
      const again = encrypt(jointKey, m, r);
      if (!again.alpha.equals(ct.alpha) || !again.beta.equals(ct.beta)) {
        throw new AuditOpeningError(`question ${q + 1}, option ${o + 1}: the encryption does not match`);
      }
    });
  });
  const choices = opening.map((q) => q.map(([m]) => m));
  try {
    checkChoices(manifest, choices);
  } catch (exc) {
    if (exc instanceof BallotError) throw new AuditOpeningError(`the revealed choices break the manifest: ${exc.message}`);
    throw exc;
  }
  return choices;
}

// --- tracking codes ------------------------------------------------------------------------

/** SHA-256 of the election fingerprint and the canonical ballot JSON (32 bytes). */
export function trackingCode(fingerprint, ballotDoc) {
  return sha256(encodeParts("votingpilot/v1/tracking-code", fingerprint, canonicalJson(ballotDoc)));
}

/** The short form shown to voters: base32 of the first 10 bytes in 4 groups of 4. */
export function formatTrackingCode(code) {
  if (!(code instanceof Uint8Array) || code.length !== 32) throw new EncodingError("a tracking code is 32 bytes");
  const text = base32(code.subarray(0, 10));
  return [0, 4, 8, 12].map((i) => text.slice(i, i + 4)).join("-");
}

/** The election fingerprint's short form (as printed on the election notice): the tracking code's groups. */
export function formatFingerprint(fingerprint) {
  return formatTrackingCode(fingerprint);
}

export function shortCodeFromHex(hex) {
  return formatTrackingCode(fromHex(hex, 32, EncodingError, "tracking code"));
}

