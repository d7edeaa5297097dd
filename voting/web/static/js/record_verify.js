// The election record's verifier in the browser, mirroring
// voting/verify/ for the checks a trustee needs before it decrypts
// (voting/client.py REQUIRED_CHECKS: 1-8 and 11): the same check numbers, the
// same statuses (pass, fail, skip, blocked) and the same failure wording, in
// English (the page shows the check's title from the catalogue, never these
// words, in a Japanese page). Checks 9, 10 and 12 are not ported: a trustee
// decrypts before there are partial decryptions or a result, and it checks
// the witnesses live (trustee_decrypt.js), as the CLI does.
//
// No DOM and no network: `verifyRecord(files, options)` takes the record's
// files (name -> Uint8Array, as readRecordZip gives them) so node tests it
// against Python's verdicts (tests/test_record_verify_js.py).

import { unzipSync } from "../vendor/noble.js";
import { equalBytes, fromHex, toHex, b64decode } from "./bytes.js";
import {
  auditOpeningFromJson,
  ballotFromJson,
  electionFingerprint,
  parseManifest,
  trackingCode,
  verifyAuditOpening,
  verifyBallot,
} from "./ballots.js";
import { ciphertextFromJson } from "./elgamal.js";
import { canonicalJson, canonicalJsonText, encodeParts, sha256 } from "./encoding.js";
import { b64urlDecode } from "./bytes.js";
import { checkKey, employeeIdOf, fingerprint as certificateFingerprint, parseCertificate as parseX509 } from "./x509.js";
import { endorsementMessage, verifyCertificateSignature, verifyTrusteeSignature } from "./endorsements.js";
import { IDENTITY, Point } from "./group.js";
import { leafHash, nodeHash, signedTreeHeadFromJson, verifyTreeHead } from "./merkle.js";
import * as th from "./threshold.js";
import { registrationMessage, verifyCredentialSignature } from "./voting_credential.js";
import { certificateChecks } from "./record_x509.js";

// --- the record's files (voting/record/files.py) ------------------------------------------

export const FORMAT = "votingpilot-election-record";
export const VERSION = 5;
export const F = {
  RECORD: "record.json",
  MANIFEST: "manifest.json",
  PARAMETERS: "parameters.json",
  TRUSTEES: "trustees.json",
  BOARD: "board.jsonl",
  TREE_HEADS: "tree_heads.json",
  BALLOTS: "ballots.json",
  AGGREGATE: "aggregate.json",
  PARTIAL_DECRYPTIONS: "partial_decryptions.json",
  RESULT: "result.json",
  COSIGNATURES: "cosignatures.json",
  ROLL: "auditors/roll.json",
  TRUST: "auditors/trust.json",
  ENROLLMENTS: "auditors/enrollments.json",
};
export const AUDITOR_FILES = [F.ROLL, F.TRUST, F.ENROLLMENTS];
/** The auditors' files every auditors' part has (enrollments.json came with record version 5). */
const REQUIRED_AUDITOR_FILES = [F.ROLL, F.TRUST];
const ALL_FILES = Object.values(F);
/** A record larger than this is not read in a browser tab (the CLI reads up to 8 GB). */
export const MAX_RECORD_BYTES = 512 * 1024 * 1024;

export class RecordFileError extends Error {}

/** The record's known files from a zip (files.py _read_zip: exact names, one optional top directory). */
export function readRecordZip(data) {
  let names;
  try {
    const all = [];
    unzipSync(data, { filter: (file) => (all.push(file.name), false) });
    names = new Set(all);
  } catch (exc) {
    throw new RecordFileError(`not a zip archive: ${exc.message}`);
  }
  let prefix = "";
  if (!names.has(F.RECORD)) {
    const tops = [...new Set([...names].filter((n) => n.includes("/")).map((n) => n.split("/", 1)[0] + "/"))].sort();
    prefix = tops.find((top) => names.has(top + F.RECORD)) || "";
  }
  const wanted = new Set(ALL_FILES.map((n) => prefix + n));
  let total = 0;
  const inflated = unzipSync(data, {
    filter: (file) => {
      if (!wanted.has(file.name)) return false;
      total += file.originalSize;
      if (total > MAX_RECORD_BYTES) throw new RecordFileError(`the record is larger than ${MAX_RECORD_BYTES} bytes`);
      return true;
    },
  });
  const files = {};
  for (const name of ALL_FILES) if (prefix + name in inflated) files[name] = inflated[prefix + name];
  return files;
}

export const hasAuditorsPart = (files) => AUDITOR_FILES.some((name) => name in files);

/** A root as the election notice shows it: its common name and SHA-256 fingerprint as openssl prints it. */
export function anchorName(der) {
  let cn = "?";
  try {
    cn = parseX509(der).commonNames.join(", ") || "?";
  } catch {
    // named by its fingerprint alone
  }
  return `CN=${cn} (SHA-256 ${certificateFingerprint(der).toUpperCase().match(/../g).join(":")})`;
}

/**
 * Every trust anchor of the auditors' part that is not among `pinned` (DER of
 * the roots the reader pinned itself: the trustee file's), as
 * {file, name, text} (unpinned_anchors in voting/verify/): the login
 * anchors of auditors/trust.json and the card anchors of
 * auditors/enrollments.json. An anchor taken from the record is the server's
 * word: it could name a CA of its own and make the "cards" that register for
 * roll members who never vote. Throws Bad when a file cannot be read.
 */
export function unpinnedAnchors(files, pinned) {
  const out = [];
  const isPinned = (der) => pinned.some((p) => equalBytes(p, der));
  if (F.TRUST in files) {
    const trust = obj(strictJson(files[F.TRUST], F.TRUST), ["crls", "trust_anchors"], F.TRUST);
    if (!Array.isArray(trust.trust_anchors)) throw new Bad(`${F.TRUST}: trust_anchors must be a list`);
    for (const a of trust.trust_anchors) {
      const der = b64(a, "a trust anchor");
      if (!isPinned(der)) out.push({ file: F.TRUST, name: null, text: `${F.TRUST}: ${anchorName(der)}` });
    }
  }
  if (F.ENROLLMENTS in files) {
    const doc = obj(strictJson(files[F.ENROLLMENTS], F.ENROLLMENTS), ["anchors", "enrollments"], F.ENROLLMENTS);
    if (!Array.isArray(doc.anchors)) throw new Bad(`${F.ENROLLMENTS}: anchors must be a list`);
    for (const raw of doc.anchors) {
      const anchor = obj(raw, ["certificates", "name"], "an anchor");
      if (!Array.isArray(anchor.certificates)) throw new Bad(`${F.ENROLLMENTS}: the certificates of an anchor must be a list`);
      for (const a of anchor.certificates) {
        const der = b64(a, `a certificate of anchor ${anchor.name}`);
        if (!isPinned(der)) out.push({ file: F.ENROLLMENTS, name: String(anchor.name), text: `${String(anchor.name)}: ${anchorName(der)}` });
      }
    }
  }
  return out;
}

// --- the checks ----------------------------------------------------------------------------

export const CHECKS = {
  1: "Parameters and the election fingerprint",
  2: "Key ceremony: trustee proofs and the joint key",
  3: "Ballots: well-formed, every proof, limits from the manifest",
  4: "Tracking codes: unique and matching the ballots",
  5: "Eligibility: registered credentials within the roll, signed ballots",
  6: "Re-vote policy: which ballots count",
  7: "Bulletin board: Merkle roots, signed tree heads, consistency",
  8: "Aggregate: the sum of the counted ballots",
  11: "Published audits: opened ballots, never cast",
};
/** The checks that must pass before a trustee decrypts (voting/client.py). */
export const REQUIRED_CHECKS = [1, 2, 3, 4, 5, 6, 7, 8, 11];
export const PASS = "pass";
export const FAIL = "fail";
export const SKIP = "skip";
export const BLOCKED = "blocked";
const MAX_LISTED = 20;
const ENTRY_KEYS = ["body", "election_id", "index", "kind", "time"];
const CREATED_KEYS = ["ceremony_fingerprint", "manifest", "server_key", "threshold", "trustee_ids", "trustees"];
const JOINT_KEY_KEYS = ["endorsements", "fingerprint", "joint_key", "public_shares"];
const ADMIN_KINDS = ["admin-action", "election-opened", "election-closed", "election-published"];
/** The lifecycle's steps, each taken once: a second one is a board the server rewrote. */
const ONCE = ["election-created", "election-opened", "election-closed", "election-published"];
const MIN_THRESHOLD = 2;
const RECORD_KEYS = ["auditors_part", "board_size", "election_id", "exported_at", "format", "stage", "version"];
const REVOTE_POLICIES = ["single", "last"];
const CLOCK_TOLERANCE_US = 2_000_000;
const GROUP = "ristretto255";
const MAX_MIN_TALLY_BALLOTS = 1_000_000;
const EMPLOYEE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const ENTRY_KINDS = new Set([
  "election-created", "trustee-announcement", "joint-key", "election-opened", "credential-registered", "ballot",
  "ballot-superseded", "ballot-audited", "election-closed", "aggregate", "partial-decryption", "result",
  "election-published", "admin-action",
]);
const ANNOUNCEMENT_SIGNATURE_TAG = "votingpilot/v1/announcement-signature";
/** Yield to the page (progress, responsiveness) after this many ballots. */
const CHUNK = 20;

/** One item of the record fails a check; the message says which and why. */
export class Bad extends Error {}

class CheckResult {
  constructor(number) {
    Object.assign(this, { number, title: CHECKS[number], status: PASS, items: 0, failures: [], failureCount: 0, note: "" });
  }

  fail(message) {
    this.failureCount += 1;
    if (this.failures.length < MAX_LISTED) this.failures.push(message);
    this.status = FAIL;
  }

  skip(reason) {
    if (this.status === PASS) [this.status, this.note] = [SKIP, reason];
  }

  block(reason) {
    if (this.status === PASS) [this.status, this.note] = [BLOCKED, reason];
  }
}

// --- small strict parsers (verify.py's) --------------------------------------------------------

const UNUSABLE = Symbol("unusable");
const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const sortedKeys = (doc) => Object.keys(doc).sort();
const repr = (v) => JSON.stringify(v) ?? String(v);
const short = (code) => (typeof code === "string" && code.length > 12 ? code.slice(0, 12) + "…" : String(code));

/** JSON with no duplicate members, no fractions or exponents, no NaN (strict_json). */
export function strictJson(data, what) {
  let text;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(data);
  } catch {
    throw new Bad(`${what} is not UTF-8`);
  }
  let i = 0;
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  const fail = (why) => {
    throw new Bad(`${what} is not valid JSON: ${why} at ${i}`);
  };
  const string = () => {
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === "\\") i++;
      else if (text.charCodeAt(i) < 0x20) fail("control character in a string");
      i++;
    }
    if (i >= text.length) fail("unterminated string");
    i++;
    try {
      return JSON.parse(text.slice(start, i));
    } catch {
      return fail("bad string");
    }
  };
  const value = (depth) => {
    if (depth > 200) fail("too deep");
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      const doc = {};
      const seen = new Set();
      ws();
      if (text[i] === "}") return i++, doc;
      for (;;) {
        ws();
        if (text[i] !== '"') fail("expected a member name");
        const key = string();
        if (seen.has(key)) throw new Bad(`${what}: duplicate member ${repr(key)}`);
        seen.add(key);
        ws();
        if (text[i++] !== ":") fail("expected ':'");
        Object.defineProperty(doc, key, { value: value(depth + 1), enumerable: true, writable: true, configurable: true });
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "}") return i++, doc;
        else fail("expected ',' or '}'");
      }
    }
    if (c === "[") {
      i++;
      const list = [];
      ws();
      if (text[i] === "]") return i++, list;
      for (;;) {
        list.push(value(depth + 1));
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "]") return i++, list;
        else fail("expected ',' or ']'");
      }
    }
    if (c === '"') return string();
    for (const [word, v] of [["true", true], ["false", false], ["null", null]]) {
      if (text.startsWith(word, i)) return (i += word.length), v;
    }
    if (text.startsWith("NaN", i) || text.startsWith("Infinity", i) || text.startsWith("-Infinity", i)) {
      throw new Bad(`${what}: ${text.startsWith("-", i) ? "-Infinity" : text[i] === "N" ? "NaN" : "Infinity"} is not JSON`);
    }
    const number = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
    number.lastIndex = i;
    const m = number.exec(text);
    if (!m) return fail("unexpected character");
    i = number.lastIndex;
    if (m[1] || m[2]) throw new Bad(`${what}: a number with a fraction or exponent (${m[0]}); the record has integers only`);
    const n = Number(m[0]);
    if (!Number.isSafeInteger(n)) throw new Bad(`${what}: the integer ${m[0]} is beyond what this verifier reads exactly`);
    return n;
  };
  const doc = value(0);
  ws();
  if (i !== text.length) fail("extra data");
  return doc;
}

/** Equal as JSON (canonical forms compared). */
function same(a, b) {
  try {
    return canonicalJsonText(a) === canonicalJsonText(b);
  } catch {
    return false;
  }
}

function obj(value, keys, what) {
  if (!isObject(value)) throw new Bad(`${what} must be an object`);
  const have = sortedKeys(value);
  const want = [...keys].sort();
  if (have.join("\0") !== want.join("\0")) {
    const missing = want.filter((k) => !have.includes(k));
    const extra = have.filter((k) => !want.includes(k));
    throw new Bad(`${what}: missing ${repr(missing)}, unexpected ${repr(extra)}`);
  }
  return value;
}

function int(value, what, low = 0) {
  if (!Number.isInteger(value) || value < low) throw new Bad(`${what} must be an integer >= ${low}`);
  return value;
}

function hex(value, what, nbytes) {
  if (typeof value !== "string" || value.length % 2 || !/^[0-9a-f]*$/.test(value)) throw new Bad(`${what} must be lowercase hexadecimal`);
  if (nbytes !== undefined && value.length !== 2 * nbytes) throw new Bad(`${what} must be ${nbytes} bytes (${2 * nbytes} hex characters)`);
  return fromHex(value);
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6}))?)?(Z|[+-]\d{2}:?\d{2}(?::?\d{2}(?:\.\d{1,6})?)?)?$/;

/** An ISO 8601 time with a zone, in microseconds since the epoch (Python's fromisoformat, as the record writes it). */
export function isoTime(value, what) {
  if (typeof value !== "string") throw new Bad(`${what} must be an ISO 8601 time`);
  const m = ISO.exec(value);
  if (!m) throw new Bad(`${what} is not an ISO 8601 time: ${repr(value)}`);
  const [, y, mo, d, h, mi, s = "0", frac = "", zone] = m;
  const ms = Date.UTC(+y, +mo - 1, +d, +h, +mi, +s);
  const back = new Date(ms);
  if (back.getUTCFullYear() !== +y || back.getUTCMonth() !== +mo - 1 || back.getUTCDate() !== +d || +h > 23 || +mi > 59 || +s > 59) {
    throw new Bad(`${what} is not an ISO 8601 time: ${repr(value)}`);
  }
  if (zone === undefined) throw new Bad(`${what} has no time zone: ${repr(value)}`);
  let offsetS = 0;
  if (zone !== "Z") {
    const digits = zone.slice(1).replace(/:/g, "");
    const [oh, om, os] = [+digits.slice(0, 2), +digits.slice(2, 4), +(digits.slice(4, 6) || 0)];
    // As fromisoformat: an offset is less than a day, its minutes and seconds below 60.
    if (oh > 23 || om > 59 || os > 59) throw new Bad(`${what} is not an ISO 8601 time: ${repr(value)}`);
    offsetS = (oh * 3600 + om * 60 + os) * (zone[0] === "-" ? -1 : 1);
  }
  return ms * 1000 + Number(frac.padEnd(6, "0") || 0) - offsetS * 1_000_000;
}

function b64(value, what) {
  if (typeof value !== "string") throw new Bad(`${what} must be base64 text`);
  return b64decode(value, Bad, what);
}

/** The Struct's time (voting/wire/record.py Time): what the record writes, before fromisoformat reads it. */
const TIME = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([+-][0-9]{2}:[0-9]{2}|Z)$/;
const BALLOT_ROW_KEYS = ["leaf_index", "tracking_code", "credential", "signature", "cast_at", "counted", "superseded_by", "superseded_at"];

/**
 * ballots.json as its Struct defines it (voting/wire/record.py: list[BallotRow]),
 * else Bad naming the row: a view that does not conform is unusable for every
 * check that reads it (parse.load).
 */
function conformBallotRows(view) {
  if (!Array.isArray(view)) throw new Bad(`${F.BALLOTS} must be a list of objects, one per ballot`);
  view.forEach((raw, k) => {
    const where = `${F.BALLOTS}: row ${k}`;
    const row = obj(raw, BALLOT_ROW_KEYS, where);
    int(row.leaf_index, `${where}: leaf_index`);
    hex(row.tracking_code, `${where}: tracking_code`, 32);
    hex(row.credential, `${where}: credential`, 32);
    hex(row.signature, `${where}: signature`, 64);
    if (typeof row.cast_at !== "string" || !TIME.test(row.cast_at)) throw new Bad(`${where}: cast_at must be an ISO 8601 time with a time zone`);
    if (typeof row.counted !== "boolean") throw new Bad(`${where}: counted must be true or false`);
    if (row.superseded_by !== null) hex(row.superseded_by, `${where}: superseded_by`, 32);
    if (row.superseded_at !== null) int(row.superseded_at, `${where}: superseded_at`);
  });
  return view;
}

function selectionAlphas(ballot) {
  const alphas = new Set();
  const questions = isObject(ballot) ? ballot.questions : undefined;
  for (const q of Array.isArray(questions) ? questions : []) {
    const selections = isObject(q) ? q.selections : undefined;
    for (const s of Array.isArray(selections) ? selections : []) {
      if (isObject(s) && typeof s.alpha === "string") alphas.add(s.alpha.toLowerCase());
    }
  }
  return alphas;
}

// --- the enrollment token (crypto/credentials read_enrollment_token) ---------------------------

const TOKEN_SKEW_S = 60;
const MAX_TOKEN_LIFETIME_S = 300;
const MAX_TOKEN_LENGTH = 16384;
const MAX_NUMERIC_DATE = 2 ** 53 - 1;
const NONCE = /^[A-Za-z0-9_-]{16,128}$/;
const ALGORITHMS = ["ES256", "RS256", "EdDSA"];
const sameKeys = (doc, keys) => sortedKeys(doc).join("\0") === [...keys].sort().join("\0");

/**
 * The enrollment token a card signed: its structure, and that its leaf
 * certificate's key signed it (nothing about trust, time or the nonce).
 * Resolves to {employeeId, iat, exp, ders}; throws Bad.
 */
async function readEnrollmentToken(token) {
  if (typeof token !== "string") throw new Bad("the enrollment token must be text");
  if (token.length > MAX_TOKEN_LENGTH) throw new Bad(`the enrollment token is longer than ${MAX_TOKEN_LENGTH} characters`);
  const parts = token.split(".");
  if (parts.length !== 3 || parts.some((p) => !p)) throw new Bad("the enrollment token must be three non-empty base64url parts separated by '.'");
  const [header, payload, signature] = [
    strictJson(b64urlDecode(parts[0], Bad, "header"), "the token's header"),
    strictJson(b64urlDecode(parts[1], Bad, "payload"), "the token's payload"),
    b64urlDecode(parts[2], Bad, "signature"),
  ];
  if (!isObject(header) || !sameKeys(header, ["alg", "x5c"])) throw new Bad("the header must have exactly the members alg and x5c");
  if (!ALGORITHMS.includes(header.alg)) throw new Bad(`alg ${repr(short(String(header.alg)))} is not allowed`);
  if (!Array.isArray(header.x5c) || header.x5c.length < 1 || header.x5c.length > 4) throw new Bad("x5c must be a list of 1 to 4 certificates");
  const ders = header.x5c.map((item) => b64(item, "an x5c certificate"));
  try {
    ders.forEach(parseX509);
  } catch (exc) {
    throw new Bad(`an x5c certificate cannot be read: ${message(exc)}`);
  }
  const members = ["aud", "employee_id", "enrollment_code", "exp", "iat", "nonce"];
  if (!isObject(payload) || !sameKeys(payload, members)) throw new Bad(`the enrollment token's payload must have exactly the members ${repr(members)}`);
  const { aud, employee_id: employeeId, enrollment_code: code, iat, exp, nonce } = payload;
  if (typeof nonce !== "string" || !NONCE.test(nonce)) throw new Bad("nonce must be 16 to 128 base64url characters");
  if (typeof aud !== "string" || !aud.length || aud.length > 256) throw new Bad("aud must be one non-empty string");
  if (typeof employeeId !== "string" || !EMPLOYEE_ID.test(employeeId)) throw new Bad("employee_id must be an employee id");
  if (typeof code !== "string" || !code.length || code.length > 64) throw new Bad("enrollment_code must be 1 to 64 characters");
  for (const [label, v] of [["iat", iat], ["exp", exp]]) {
    if (!Number.isInteger(v) || v < 0 || v > MAX_NUMERIC_DATE) throw new Bad(`${label} must be an integer number of seconds since 1970`);
  }
  if (!(exp - iat > 0 && exp - iat <= MAX_TOKEN_LIFETIME_S)) throw new Bad(`exp must be 1 to ${MAX_TOKEN_LIFETIME_S} seconds after iat`);
  let checked;
  try {
    checkKey(parseX509(ders[0]));
    checked = await verifyCertificateSignature(ders[0], signature, new TextEncoder().encode(`${parts[0]}.${parts[1]}`));
  } catch (exc) {
    throw new Bad(message(exc));
  }
  if (checked.alg !== header.alg) throw new Bad(`the token says alg ${header.alg} but the certificate's key signs with ${checked.alg}`);
  if (!checked.valid) throw new Bad("the enrollment token's signature does not verify with the card's certificate");
  return { employeeId, iat, exp, ders };
}

/** Python's str(exc) for what the JavaScript crypto throws. */
const message = (exc) => (exc instanceof Error ? exc.message || exc.name : String(exc));

// --- the verifier --------------------------------------------------------------------------

class Verifier {
  constructor(files, { serverKey = null, crlsAfterEvents = true, now = Date.now(), progress = () => {}, trustAnchors = null }) {
    Object.assign(this, { files, pinnedKey: serverKey, crlsAfterEvents, nowMs: now, progress, pinnedRoots: trustAnchors, attested: 0 });
    this.results = Object.fromEntries(Object.keys(CHECKS).map((n) => [n, new CheckResult(Number(n))]));
    Object.assign(this, {
      entries: [], lines: [], times: [], electionId: null, manifest: null, params: null, trusteeIds: null, policy: null,
      serverKey: null, jointKey: null, fingerprint: null, ballots: [], registrations: new Map(), counted: [], warnings: [],
      ballotsView: UNUSABLE, recomputed: new Map(), sums: null, unreadableCounted: [], aggregate: null,
      malformed: [], // [check, why]: board entries whose bodies their kinds' Structs refuse (Board.malformed)
    });
  }

  check(n) {
    return this.results[n];
  }

  load(name, result) {
    const data = this.files[name];
    if (data === undefined) {
      result.fail(`${name} is missing from the record`);
      return UNUSABLE;
    }
    try {
      return strictJson(data, name);
    } catch (exc) {
      if (!(exc instanceof Bad)) throw exc;
      result.fail(exc.message);
      return UNUSABLE;
    }
  }

  compareView(name, expected, result, source) {
    const view = this.load(name, result);
    if (view !== UNUSABLE && !same(view, expected)) result.fail(`${name} differs from ${source}`);
  }

  ofKind(kind) {
    return this.entries.filter((e) => e !== null && e.kind === kind);
  }

  /** A hostile record's exception is a failure of that check, never a crash. */
  async timed(n, work) {
    try {
      await work();
    } catch (exc) {
      this.results[n].fail(`the check could not finish: ${exc?.name || "Error"}: ${message(exc)}`);
    }
  }

  async run() {
    await this.timed(7, () => this.parseBoard());
    await this.timed(1, () => this.checkParameters());
    await this.timed(2, () => this.checkCeremony());
    await this.timed(7, () => this.checkBoard());
    await this.timed(6, () => this.checkRevote());
    await this.timed(5, () => this.collectRegistrations());
    const eligibility = this.eligibilityContext();
    await this.timed(3, () => this.checkBallots());
    await this.timed(4, () => this.checkTrackingCodes());
    await this.timed(5, () => this.checkEligibility(eligibility));
    await this.timed(8, () => this.checkAggregate());
    await this.timed(11, () => this.checkAudits());
    // Board entries whose bodies their kinds' Structs refuse: failures of the
    // checks that guard those kinds, after what those checks said of them.
    for (const [number, why] of this.malformed) this.results[number].fail(why);
    return {
      electionId: this.electionId,
      stage: this.stage(),
      boardSize: this.lines.length,
      ballots: this.ballots.length,
      counted: this.counted.length,
      checks: Object.values(this.results).sort((a, b) => a.number - b.number),
      warnings: this.warnings,
      attestedRegistrations: this.attested,
      anchorsPinned: this.pinnedRoots !== null && hasAuditorsPart(this.files),
    };
  }

  stage() {
    const kinds = new Set(this.entries.filter((e) => e !== null).map((e) => e.kind));
    for (const [kind, stage] of [
      ["election-published", "published"], ["result", "tallied"], ["election-closed", "closed"], ["election-opened", "open"],
      ["joint-key", "keys_ready"], ["trustee-announcement", "key_ceremony"], ["election-created", "created"],
    ]) {
      if (kinds.has(kind)) return stage;
    }
    return "empty";
  }

  // -- check 7, part 1: reading the board --------------------------------------------------

  parseBoard() {
    const c = this.check(7);
    const data = this.files[F.BOARD];
    if (data === undefined) return c.fail(`${F.BOARD} is missing from the record`);
    if (!data.length) return c.fail(`${F.BOARD} is empty`);
    const lines = [];
    let start = 0;
    for (let k = 0; k < data.length; k++) {
      if (data[k] === 0x0a) {
        lines.push(data.subarray(start, k));
        start = k + 1;
      }
    }
    if (start < data.length) {
      lines.push(data.subarray(start));
      c.fail(`${F.BOARD} must end with a newline`);
    }
    this.lines = lines;
    this.times = lines.map(() => null);
    let firstId = null;
    lines.forEach((line, index) => {
      let entry = null;
      try {
        entry = strictJson(line, `entry ${index}`);
        if (!equalBytes(canonicalJson(entry), line)) throw new Bad(`entry ${index} is not in canonical JSON (the exact bytes its leaf hashes)`);
        obj(entry, ENTRY_KEYS, `entry ${index}`);
        if (entry.index !== index) throw new Bad(`entry ${index} says it is entry ${repr(entry.index)}`);
        if (firstId === null) firstId = entry.election_id;
        if (typeof entry.election_id !== "string" || entry.election_id !== firstId) {
          throw new Bad(`entry ${index} belongs to election ${repr(entry.election_id)}, not ${repr(firstId)}`);
        }
        if (!ENTRY_KINDS.has(entry.kind)) throw new Bad(`entry ${index} has an unknown kind ${repr(entry.kind)}`);
        if (!isObject(entry.body)) throw new Bad(`entry ${index}: body must be an object`);
        this.times[index] = isoTime(entry.time, `entry ${index}: time`);
      } catch (exc) {
        c.fail(exc instanceof Bad ? exc.message : `entry ${index} is malformed: ${message(exc)}`);
        entry = null;
      }
      this.entries.push(entry);
    });
    for (const kind of ONCE) {
      const where = this.entries.filter((e) => e !== null && e.kind === kind).map((e) => e.index);
      if (where.length > 1) c.fail(`the board has ${where.length} ${kind} entries (entries ${where.join(", ")}); an election has one`);
    }
    const created = this.entries.filter((e) => e !== null && e.kind === "election-created").map((e) => e.index);
    if (created.length && !(created.length === 1 && created[0] === 0)) {
      c.fail(`an election-created entry must be entry 0 and only there (found at ${created.join(", ")})`);
    }
    this.electionId = firstId;
  }

  // -- check 1 --------------------------------------------------------------------------------

  checkParameters() {
    const c = this.check(1);
    const record = this.load(F.RECORD, c);
    if (record !== UNUSABLE) {
      try {
        if (!isObject(record) || record.format !== FORMAT) throw new Bad(`${F.RECORD}: not a ${FORMAT}`);
        obj(record, RECORD_KEYS, F.RECORD);
        isoTime(record.exported_at, `${F.RECORD}: exported_at`);
        if (record.stage !== this.stage()) throw new Bad(`${F.RECORD} says the election is ${repr(record.stage)}; its board shows ${repr(this.stage())}`);
        if (record.auditors_part !== hasAuditorsPart(this.files)) throw new Bad(`${F.RECORD} says auditors_part is ${repr(record.auditors_part)}, which the files contradict`);
        if (record.version !== VERSION) throw new Bad(`${F.RECORD}: unsupported version ${repr(record.version)} (this verifier reads ${VERSION})`);
        if (record.election_id !== this.electionId) throw new Bad(`${F.RECORD} names election ${repr(record.election_id)}, the board ${repr(this.electionId)}`);
        if (record.board_size !== this.lines.length) throw new Bad(`${F.RECORD} says the board has ${repr(record.board_size)} entries, it has ${this.lines.length}`);
      } catch (exc) {
        if (!(exc instanceof Bad)) throw exc;
        c.fail(exc.message);
      }
    }
    const first = this.entries[0] ?? null;
    if (first === null || first.kind !== "election-created") return c.fail("the board does not start with an election-created entry");
    let manifest, n, t, claimed, params, serverKey, body;
    try {
      body = obj(first.body, CREATED_KEYS, "election-created");
      manifest = parseManifest(body.manifest);
      const minimum = manifest.document.min_tally_ballots ?? 5;
      if (!Number.isInteger(minimum) || minimum < 1 || minimum > MAX_MIN_TALLY_BALLOTS) {
        throw new Bad(`min_tally_ballots must be an integer from 1 to ${MAX_MIN_TALLY_BALLOTS}`);
      }
      n = int(body.trustees, "trustees", 1);
      t = int(body.threshold, "threshold", 1);
      claimed = hex(body.ceremony_fingerprint, "ceremony_fingerprint", 32);
      params = th.ceremonyParameters(n, t, claimed);
      serverKey = hex(body.server_key, "server_key", 32);
    } catch (exc) {
      return c.fail(`election-created (entry 0): ${message(exc)}`);
    }
    Object.assign(this, { manifest, params, serverKey });
    const policy = manifest.document.revote_policy;
    if (REVOTE_POLICIES.includes(policy)) this.policy = policy;
    else c.fail(`election-created (entry 0): the manifest's revote_policy ${repr(policy)} is not one of ${repr(REVOTE_POLICIES)}`);
    if (manifest.electionId !== this.electionId) {
      c.fail(`election-created (entry 0): the manifest is for election ${repr(manifest.electionId)}, the board for ${repr(this.electionId)}`);
    }
    if (!equalBytes(sha256(encodeParts("votingpilot/v1/ceremony-fingerprint", manifest.canonical, n, t)), claimed)) {
      c.fail("election-created (entry 0): the ceremony fingerprint is not SHA-256 of this manifest, n and t");
    }
    if (this.pinnedKey !== null && !equalBytes(serverKey, this.pinnedKey)) {
      c.fail("the record's server key is not the one you gave (--server-key): another server signed it");
      this.serverKey = this.pinnedKey; // the tree heads must carry the pinned key's signatures
    }
    this.checkPolicy(c, body.trustee_ids, n, t);
    c.items = 1;
    const joints = this.ofKind("joint-key");
    if (joints.length > 1) c.fail(`${joints.length} joint-key entries; there must be one`);
    let jointBody = {};
    if (joints.length) {
      jointBody = joints[0].body;
      try {
        const jb = obj(jointBody, JOINT_KEY_KEYS, "joint-key");
        const jointKey = Point.fromHex(jb.joint_key);
        this.jointKey = jointKey;
        this.fingerprint = electionFingerprint(manifest, jointKey);
        c.items += 1;
        if (!equalBytes(hex(jb.fingerprint, "fingerprint", 32), this.fingerprint)) {
          throw new Bad("the election fingerprint is not SHA-256 of the manifest and the joint key");
        }
      } catch (exc) {
        c.fail(`joint-key (entry ${joints[0].index}): ${message(exc)}`);
      }
    }
    this.compareView(F.MANIFEST, manifest.document, c, "the manifest on the board (entry 0)");
    const expected = {
      election_id: manifest.electionId,
      group: GROUP,
      trustees: n,
      trustee_ids: first.body.trustee_ids,
      threshold: t,
      ceremony_fingerprint: toHex(claimed),
      joint_key: jointBody.joint_key ?? null,
      fingerprint: jointBody.fingerprint ?? null,
      revote_policy: policy ?? null,
      server_key: toHex(serverKey),
    };
    this.compareView(F.PARAMETERS, expected, c, "the board's election-created and joint-key entries");
    return undefined;
  }

  checkPolicy(c, trusteeIds, n, t) {
    if (t < MIN_THRESHOLD) c.fail(`election-created (entry 0): threshold ${t}: at least ${MIN_THRESHOLD} trustees must decrypt`);
    try {
      if (!Array.isArray(trusteeIds) || trusteeIds.length !== n) throw new Bad(`trustee_ids must list the ${n} trustees' employee ids`);
      const invalid = trusteeIds.filter((e) => typeof e !== "string" || !EMPLOYEE_ID.test(e));
      if (invalid.length) throw new Bad(`trustee_ids holds ${repr(short(String(invalid[0])))}, which is not an employee id`);
      if (new Set(trusteeIds).size !== n) throw new Bad("trustee_ids names an employee twice: the trustees must be n distinct people");
      this.trusteeIds = [...trusteeIds];
    } catch (exc) {
      if (!(exc instanceof Bad)) throw exc;
      c.fail(`election-created (entry 0): ${exc.message}`);
    }
    const named = new Map();
    if (Array.isArray(trusteeIds)) trusteeIds.forEach((e, i) => typeof e === "string" && !named.has(e) && named.set(e, i + 1));
    for (const entry of this.entries) {
      if (entry === null || !ADMIN_KINDS.includes(entry.kind)) continue;
      const by = entry.body.by;
      if (typeof by !== "string" || !EMPLOYEE_ID.test(by)) {
        // Otherwise a "by" of another type would slip past the rule below.
        c.fail(`${entry.kind} (entry ${entry.index}) does not name the administrator who acted (by: ${repr(by)})`);
      } else if (named.has(by)) {
        c.fail(`${entry.kind} (entry ${entry.index}) is by ${by}, who is trustee ${named.get(by)}: a trustee must not administer the election`);
      }
    }
  }

  // -- check 2 --------------------------------------------------------------------------------

  async checkCeremony() {
    const c = this.check(2);
    if (this.params === null) return c.block("needs the parameters of check 1");
    const entries = this.ofKind("trustee-announcement");
    const joints = this.ofKind("joint-key");
    if (!entries.length && !joints.length) return c.skip("the key ceremony has not started");
    const trust = this.auditorsTrust();
    if (trust === null && this.files[F.TRUST] !== undefined) {
      c.fail(`the trustees' certificates cannot be checked against trust anchors: ${F.TRUST} is unusable (check 5 says why)`);
    } else if (trust === null) c.note = "the trustees' certificates were not checked against trust anchors: no auditors' part";
    const announcements = [];
    for (const entry of entries) {
      const fields = Object.fromEntries(Object.entries(entry.body).filter(([k]) => k !== "signature"));
      let announcement;
      try {
        announcement = th.announcementFromJson(fields);
      } catch (exc) {
        c.fail(`trustee announcement (entry ${entry.index}): ${message(exc)}`);
        continue;
      }
      announcements.push(announcement);
      await this.checkAnnouncementSignature(c, entry, announcement, fields, trust);
    }
    c.items = entries.length;
    let ordered = null;
    try {
      ordered = th.verifyAnnouncements(this.params, announcements);
    } catch (exc) {
      c.fail(`the trustees' announcements: ${message(exc)}`);
    }
    const publicShares = {};
    if (ordered !== null) for (const a of ordered) publicShares[String(a.index)] = th.publicShare(ordered, a.index).hex();
    if (!joints.length) c.skip("the joint key is not on the board yet");
    else if (ordered !== null) {
      const joint = joints[0];
      const late = entries.filter((e) => e.index > joint.index).map((e) => e.index);
      if (late.length) c.fail(`trustee announcements at entries ${repr(late)} come after the joint key (entry ${joint.index})`);
      try {
        if (joint.body.joint_key !== th.jointPublicKey(ordered).hex()) throw new Bad("the joint key is not the product of the trustees' first commitments");
        if (!same(joint.body.public_shares, publicShares)) throw new Bad("the trustees' public shares are not the ones their commitments give");
      } catch (exc) {
        c.fail(`joint-key (entry ${joint.index}): ${message(exc)}`);
      }
    }
    if (joints.length) await this.checkEndorsements(c, joints[0], trust);
    let claimed = joints.length ? joints[0].body.public_shares : null;
    claimed = isObject(claimed) ? claimed : {};
    const expected = entries.map((e) => ({ leaf_index: e.index, ...e.body, public_share: claimed[String(e.body.index)] ?? null }));
    this.compareView(F.TRUSTEES, expected, c, "the trustee announcements and the joint key on the board");
    return undefined;
  }

  async checkAnnouncementSignature(c, entry, announcement, fields, trust) {
    const where = `trustee announcement (entry ${entry.index})`;
    if (this.trusteeIds === null) return c.block("the announcements' signatures need the trustees' employee ids (check 1)");
    const index = announcement.index;
    if (!(index >= 1 && index <= this.trusteeIds.length)) {
      return c.fail(`${where}: index ${index} names no trustee (1..${this.trusteeIds.length}), so no one's signature can be checked`);
    }
    const employeeId = this.trusteeIds[index - 1];
    try {
      if (!("signature" in entry.body)) throw new Bad("the announcement is not signed; every trustee signs its announcement with its certificate");
      const msg = encodeParts(ANNOUNCEMENT_SIGNATURE_TAG, this.electionId, canonicalJson(fields));
      await this.checkTrusteeSignature(entry.body.signature, msg, employeeId, trust, this.times[entry.index], "the trustee announced");
    } catch (exc) {
      c.fail(`${where}: trustee ${index} (${employeeId}): ${message(exc)}`);
    }
    return undefined;
  }

  /** A trustee's signature and, with the auditors' trust anchors, its chain at the entry's time (check_trustee_signature). */
  async checkTrusteeSignature(doc, msg, employeeId, trust, at, event) {
    if (trust !== null && at === null) throw new Bad("the entry has no valid time to judge the certificate at (check 7)");
    if (trust !== null) await trust.checker.trustee(doc, at, event); // the chain first, as _verify_signed with a trust store
    await verifyTrusteeSignature(doc, { message: msg, employeeId });
  }

  async checkEndorsements(c, joint, trust) {
    const where = `joint-key (entry ${joint.index})`;
    const n = this.params.n;
    if (this.trusteeIds === null) return c.block("the endorsements need the trustees' employee ids (check 1)");
    const body = joint.body;
    const endorsements = body.endorsements;
    if (!Array.isArray(endorsements) || endorsements.length !== n) {
      return c.fail(`${where}: endorsements must list exactly one endorsement per trustee (${n}), in index order`);
    }
    let jointKey, fingerprint;
    try {
      jointKey = hex(body.joint_key, "joint_key", 32);
      fingerprint = hex(body.fingerprint, "fingerprint", 32);
    } catch (exc) {
      return c.fail(`${where}: ${message(exc)}`);
    }
    const at = this.times[joint.index];
    for (const [i, doc] of endorsements.entries()) {
      const position = i + 1;
      const employeeId = this.trusteeIds[i];
      try {
        if (!isObject(doc) || doc.index !== position) throw new Bad(`endorsement ${position} must be {index: ${position}, chain, signature}, in index order`);
        const rest = Object.fromEntries(Object.entries(doc).filter(([k]) => k !== "index"));
        const msg = endorsementMessage(this.electionId, jointKey, fingerprint);
        await this.checkTrusteeSignature(rest, msg, employeeId, trust, at, "the trustee endorsed the joint key");
      } catch (exc) {
        c.fail(`${where}: trustee ${position} (${employeeId}): ${message(exc)}`);
      }
    }
    c.items += n;
    return undefined;
  }

  /** The auditors' trust anchors and CRLs as a certificate checker, or null (a broken trust.json is check 5's). */
  auditorsTrust() {
    const data = this.files[F.TRUST];
    if (data === undefined) return null;
    try {
      const trust = obj(strictJson(data, F.TRUST), ["crls", "trust_anchors"], F.TRUST);
      const anchors = trust.trust_anchors.map((a) => b64(a, "a trust anchor"));
      const crls = trust.crls.map((a) => b64(a, "a CRL"));
      return { checker: certificateChecks(anchors, crls, { afterEvent: this.crlsAfterEvents, nowMs: this.nowMs }) };
    } catch {
      return null;
    }
  }

  // -- check 7, part 2: the tree heads ------------------------------------------------------------

  checkBoard() {
    const c = this.check(7);
    const docs = this.load(F.TREE_HEADS, c);
    if (docs === UNUSABLE) return undefined;
    if (!Array.isArray(docs) || !docs.length) return c.fail(`${F.TREE_HEADS} must be a non-empty list of signed tree heads`);
    const heads = [];
    docs.forEach((doc, number) => {
      try {
        heads.push(signedTreeHeadFromJson(doc));
      } catch (exc) {
        c.fail(`tree head ${number}: ${message(exc)}`);
      }
    });
    const sizes = heads.map((h) => h.head.size);
    if (sizes.some((s, k) => k > 0 && s <= sizes[k - 1])) c.fail("the tree heads are not in strictly increasing order of size (a repeated size is a fork)");
    if (sizes.length && sizes[sizes.length - 1] !== this.lines.length) {
      c.fail(`the newest signed tree head covers ${sizes[sizes.length - 1]} entries; the board has ${this.lines.length}`);
    }
    const key = this.serverKey;
    if (key === null) c.block("needs the server key (check 1) to check the tree heads' signatures");
    this.progress("tree heads", 0, heads.length);
    for (const sth of heads) {
      if (sth.head.logId !== this.electionId) c.fail(`tree head of size ${sth.head.size} is for log ${repr(sth.head.logId)}`);
      if (key !== null) {
        try {
          verifyTreeHead(key, sth);
        } catch (exc) {
          c.fail(`tree head of size ${sth.head.size}: ${message(exc)}`);
        }
      }
    }
    this.progress("tree heads", heads.length, heads.length);
    // Every head's root against the root of the board's first `size` leaves.
    // (Python then checks consistency proofs between successive heads, built
    // from the same leaves: with every root matching they always hold.)
    const log = prefixRoots(this.lines);
    for (const sth of [...heads].sort((a, b) => a.head.size - b.head.size)) {
      const size = sth.head.size;
      if (size > this.lines.length) {
        c.fail(`tree head of size ${size} is beyond the board's ${this.lines.length} entries`);
        continue;
      }
      if (!equalBytes(log.root(size), sth.head.root)) {
        c.fail(`tree head of size ${size}: its root is not the Merkle root of the board's first ${size} entries`);
      }
    }
    let latest = null;
    this.times.forEach((moment, index) => {
      if (moment === null) return;
      if (latest !== null && moment < latest[0] - CLOCK_TOLERANCE_US) {
        c.fail(`entry ${index} is dated ${this.entries[index]?.time}, before entry ${latest[1]}: the board's clock ran backwards`);
      }
      if (latest === null || moment > latest[0]) latest = [moment, index];
    });
    this.checkSchedule(c);
    c.items = this.lines.length + heads.length;
    return undefined;
  }

  checkSchedule(c) {
    const schedule = this.manifest?.document.schedule || {};
    let opens = null;
    let closes = null;
    try {
      if (schedule.opens_at) opens = isoTime(schedule.opens_at, "schedule.opens_at");
      if (schedule.closes_at) closes = isoTime(schedule.closes_at, "schedule.closes_at");
    } catch (exc) {
      return c.fail(`the manifest's ${message(exc)}`);
    }
    this.entries.forEach((entry, index) => {
      const moment = this.times[index];
      if (moment === null || entry === null || !["ballot", "ballot-audited"].includes(entry.kind)) return;
      if ((opens !== null && moment < opens - CLOCK_TOLERANCE_US) || (closes !== null && moment >= closes + CLOCK_TOLERANCE_US)) {
        c.fail(`entry ${index} (${entry.kind}) is dated ${entry.time}, outside the schedule (${schedule.opens_at ?? "…"} to ${schedule.closes_at ?? "…"})`);
      }
    });
    return undefined;
  }

  // -- check 6 --------------------------------------------------------------------------------

  collectBallots() {
    const c3 = this.check(3);
    const c4 = this.check(4);
    this.ballotsView = this.load(F.BALLOTS, c4);
    if (this.ballotsView !== UNUSABLE) {
      try {
        conformBallotRows(this.ballotsView);
      } catch (exc) {
        if (!(exc instanceof Bad)) throw exc;
        c4.fail(exc.message);
        this.ballotsView = UNUSABLE;
      }
    }
    for (const entry of this.ofKind("ballot")) {
      try {
        const body = obj(entry.body, ["ballot", "credential", "signature", "tracking_code"], "ballot entry");
        hex(body.tracking_code, "tracking_code", 32);
        hex(body.credential, "credential", 32);
        if (typeof body.signature !== "string" || body.signature.length > 1024) throw new Bad("signature must be hex text");
        this.ballots.push({
          index: entry.index, trackingCode: body.tracking_code, credential: body.credential, signature: body.signature,
          time: entry.time, body,
        });
        try {
          hex(body.signature, "signature", 64); // the Struct's Hex64: a body it refuses fails check 3 (run)
        } catch (bad) {
          this.malformed.push([3, `${F.BOARD}: entry ${entry.index} (ballot): ${bad.message} - at \`$.body.signature\``]);
        }
      } catch (exc) {
        if (!(exc instanceof Bad)) throw exc;
        c3.fail(`ballot (entry ${entry.index}): ${exc.message}`);
      }
    }
  }

  checkRevote() {
    this.collectBallots();
    const c = this.check(6);
    if (this.policy === null) return c.block("needs the manifest's re-vote policy (check 1)");
    const opened = this.ofKind("election-opened").map((e) => e.index);
    const closed = this.ofKind("election-closed").map((e) => e.index);
    const supersessions = [];
    for (const entry of this.ofKind("ballot-superseded")) {
      try {
        const body = obj(entry.body, ["credential", "superseded_by", "tracking_code"], "ballot-superseded");
        if (!Object.values(body).every((v) => typeof v === "string")) throw new Bad("tracking codes and credential must be text");
        supersessions.push({ index: entry.index, trackingCode: body.tracking_code, supersededBy: body.superseded_by, credential: body.credential });
      } catch (exc) {
        if (!(exc instanceof Bad)) throw exc;
        c.fail(`entry ${entry.index}: ${exc.message}`);
      }
    }
    if (!this.ballots.length && !supersessions.length && !opened.length) c.skip("voting has not opened");
    if (opened.length > 1) c.fail(`the election was opened ${opened.length} times (entries ${repr(opened)})`);
    if (closed.length > 1) c.fail(`the election was closed ${closed.length} times (entries ${repr(closed)})`);
    const joints = this.ofKind("joint-key");
    if (opened.length && joints.length && opened[0] < joints[0].index) c.fail("the election was opened before its joint key was published");
    const openAt = opened.length ? opened[0] : null;
    const closeAt = closed.length ? closed[0] : null;
    for (const [item, what] of [...this.ballots.map((b) => [b, "ballot"]), ...supersessions.map((s) => [s, "supersession"])]) {
      if (openAt === null || item.index < openAt) c.fail(`${what} at entry ${item.index} comes before the election opened`);
      else if (closeAt !== null && item.index > closeAt) c.fail(`${what} at entry ${item.index} comes after the election closed (entry ${closeAt})`);
    }
    const byCode = new Map();
    for (const b of this.ballots) if (!byCode.has(b.trackingCode)) byCode.set(b.trackingCode, b);
    const byVoter = new Map();
    for (const b of this.ballots) byVoter.set(b.credential, [...(byVoter.get(b.credential) || []), b]);
    const claimed = new Map();
    for (const s of supersessions) {
      if (claimed.has(s.trackingCode)) c.fail(`entry ${s.index} supersedes ballot ${short(s.trackingCode)} a second time`);
      if (!claimed.has(s.trackingCode)) claimed.set(s.trackingCode, s);
    }
    if (this.policy === "single") {
      for (const s of supersessions) c.fail(`entry ${s.index} supersedes a ballot, but the policy is one ballot per voter`);
      for (const [voter, ballots] of byVoter) {
        if (ballots.length > 1) {
          c.fail(`credential ${short(voter)} has ${ballots.length} ballots (entries ${repr(ballots.map((b) => b.index))}) under the one-ballot policy`);
        }
      }
    } else {
      for (const [voter, ballots] of byVoter) {
        for (let k = 0; k + 1 < ballots.length; k++) {
          const [earlier, later] = [ballots[k], ballots[k + 1]];
          const s = claimed.get(earlier.trackingCode);
          const where = `credential ${short(voter)}'s ballot at entry ${earlier.index}`;
          if (s === undefined) c.fail(`${where} was followed by entry ${later.index} but never marked superseded`);
          else if (s.supersededBy !== later.trackingCode) c.fail(`${where} is marked superseded by ${short(s.supersededBy)}, not by their next ballot (entry ${later.index})`);
          else if (s.index < later.index) c.fail(`${where} is marked superseded (entry ${s.index}) before its replacement was cast`);
          else if (s.credential !== voter) c.fail(`entry ${s.index} names credential ${short(s.credential)}, the ballots are ${short(voter)}'s`);
        }
      }
      for (const [code, s] of claimed) {
        const ballot = byCode.get(code);
        if (ballot === undefined) c.fail(`entry ${s.index} supersedes ${short(code)}, which is not a ballot on the board`);
        else {
          const mine = byVoter.get(ballot.credential);
          if (mine[mine.length - 1] === ballot) c.fail(`entry ${s.index} supersedes credential ${short(ballot.credential)}'s last ballot (entry ${ballot.index})`);
        }
      }
    }
    this.counted = this.ballots.filter((b) => !claimed.has(b.trackingCode));
    c.items = this.ballots.length + supersessions.length;
    const view = this.ballotsView;
    if (view === UNUSABLE) return c.fail(`${F.BALLOTS} is unusable (see check 4)`);
    const expected = this.ballots.map((b) => ({
      counted: !claimed.has(b.trackingCode),
      superseded_by: claimed.has(b.trackingCode) ? claimed.get(b.trackingCode).supersededBy : null,
      superseded_at: claimed.has(b.trackingCode) ? claimed.get(b.trackingCode).index : null,
    }));
    const status = ["counted", "superseded_by", "superseded_at"];
    const shown = view.map((row) => Object.fromEntries(status.map((k) => [k, row[k]])));
    if (!same(shown, expected)) c.fail(`${F.BALLOTS} shows other ballots as counted or superseded than the board does`);
    return undefined;
  }

  // -- checks 3 and 4 -------------------------------------------------------------------------

  async checkBallots() {
    const c3 = this.check(3);
    if (this.manifest === null || this.fingerprint === null) {
      if (this.manifest !== null && !this.ofKind("ballot").length) c3.skip("the key ceremony has not finished: no ballots yet");
      else c3.block("needs the manifest and the election fingerprint (check 1)");
      return;
    }
    const counted = new Set(this.counted.map((b) => b.index));
    const width = this.manifest.questions.reduce((sum, q) => sum + q.optionIds.length, 0);
    const sums = Array.from({ length: 2 * width }, () => IDENTITY);
    let done = 0;
    this.progress("ballot proofs", 0, this.ballots.length);
    for (const b of this.ballots) {
      let ballot;
      try {
        ballot = ballotFromJson(b.body.ballot, this.manifest);
      } catch (exc) {
        c3.fail(`ballot at entry ${b.index}: malformed ballot: ${message(exc)}`);
        this.recomputed.set(b.index, null);
        if (counted.has(b.index)) this.unreadableCounted.push(b.index);
        continue;
      }
      this.recomputed.set(b.index, toHex(trackingCode(this.fingerprint, b.body.ballot)));
      try {
        verifyBallot(this.manifest, this.jointKey, this.fingerprint, b.credential, ballot);
      } catch (exc) {
        c3.fail(`ballot at entry ${b.index}: ${message(exc)}`);
      }
      if (counted.has(b.index)) {
        let k = 0;
        for (const q of ballot.questions) {
          for (const s of q.selections) {
            sums[k] = sums[k].add(s.ciphertext.alpha);
            sums[k + 1] = sums[k + 1].add(s.ciphertext.beta);
            k += 2;
          }
        }
      }
      done += 1;
      if (done % CHUNK === 0) {
        this.progress("ballot proofs", done, this.ballots.length);
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    }
    this.progress("ballot proofs", this.ballots.length, this.ballots.length);
    c3.items = this.ballots.length;
    this.sums = this.ballots.length ? sums : null;
    if (!this.ballots.length) c3.note = "no ballots were cast";
  }

  checkTrackingCodes() {
    const c = this.check(4);
    const ready = ![SKIP, BLOCKED].includes(this.check(3).status);
    const seen = new Map();
    for (const b of this.ballots) {
      const code = this.recomputed.get(b.index);
      if (!ready);
      else if (code === null || code === undefined) c.fail(`ballot at entry ${b.index}: unreadable, so its tracking code cannot be recomputed`);
      else if (code !== b.trackingCode) c.fail(`ballot at entry ${b.index}: tracking code ${short(b.trackingCode)} is not the hash of the ballot (${short(code)})`);
      if (seen.has(b.trackingCode)) c.fail(`ballot at entry ${b.index} repeats the tracking code of entry ${seen.get(b.trackingCode)}`);
      if (!seen.has(b.trackingCode)) seen.set(b.trackingCode, b.index);
    }
    c.items = this.ballots.length;
    const view = this.ballotsView;
    if (view !== UNUSABLE) {
      const keys = ["leaf_index", "tracking_code", "credential", "signature", "cast_at"];
      const expected = this.ballots.map((b) => ({ leaf_index: b.index, tracking_code: b.trackingCode, credential: b.credential, signature: b.signature, cast_at: b.time }));
      const shown = view.map((row) => Object.fromEntries(keys.map((k) => [k, row[k]])));
      if (!same(shown, expected)) c.fail(`${F.BALLOTS} differs from the ballots on the board (index, tracking code, credential, signature, time)`);
    }
    if (!ready) {
      if (this.check(3).status === SKIP) c.skip("the ballots could not be recomputed (check 3)");
      else c.block("the ballots could not be recomputed (check 3)");
    }
  }

  // -- check 5 --------------------------------------------------------------------------------

  collectRegistrations() {
    const c = this.check(5);
    for (const entry of this.ofKind("credential-registered")) {
      const where = `credential-registered (entry ${entry.index})`;
      let credential;
      try {
        const body = obj(entry.body, ["credential"], "credential-registered");
        hex(body.credential, "credential", 32);
        checkVotingCredential(body.credential);
        credential = body.credential;
      } catch (exc) {
        c.fail(`${where}: ${message(exc)}`);
        continue;
      }
      if (this.registrations.has(credential)) {
        c.fail(`${where}: credential ${short(credential)} is registered a second time (first at entry ${this.registrations.get(credential)})`);
        continue;
      }
      this.registrations.set(credential, entry.index);
    }
  }

  rollSize(c = null) {
    const opened = this.ofKind("election-opened");
    if (!opened.length) return null;
    try {
      return int(opened[0].body.roll_size, "roll_size");
    } catch (exc) {
      if (c !== null) c.fail(`election-opened (entry ${opened[0].index}): ${message(exc)} (the number of voters on the frozen roll)`);
      return null;
    }
  }

  eligibilityContext() {
    const c = this.check(5);
    const present = AUDITOR_FILES.filter((name) => name in this.files);
    if (!present.length) return null;
    const missing = REQUIRED_AUDITOR_FILES.filter((name) => !(name in this.files));
    if (missing.length) {
      c.fail(`the auditors' part is incomplete: ${missing.join(", ")} missing`);
      return null;
    }
    if (this.electionId === null) {
      c.block("needs the board (check 7)");
      return null;
    }
    const trust = this.load(F.TRUST, c);
    if (trust === UNUSABLE) return null;
    try {
      obj(trust, ["crls", "trust_anchors"], F.TRUST);
      if (!Array.isArray(trust.trust_anchors) || !Array.isArray(trust.crls)) throw new Bad("trust_anchors and crls must be lists");
      const anchors = trust.trust_anchors.map((a) => b64(a, "a trust anchor"));
      const crls = trust.crls.map((a) => b64(a, "a CRL"));
      const checker = certificateChecks(anchors, crls, { afterEvent: this.crlsAfterEvents, nowMs: this.nowMs, strict: true });
      checker.crls = crls;
      if (this.pinnedRoots !== null) {
        for (const anchor of unpinnedAnchors(this.files, this.pinnedRoots)) {
          c.fail(`${anchor.name === null ? "the trust anchor" : "the card anchor"} ${anchor.text} is not among the roots you pinned: it is the server's word`);
        }
      }
      return checker;
    } catch (exc) {
      c.fail(`${F.TRUST}: ${message(exc)}`);
      return null;
    }
  }

  /**
   * The anchors of auditors/enrollments.json (name -> checker) and every
   * enrollment (fingerprint -> what a registration needs), each checked here
   * (Verifier.enrollments, _check_enrollment); a failing one fails check 5 and
   * every registration resting on it.
   */
  async enrollments(c, checker) {
    checker.cards = new Map();
    checker.enrollments = new Map();
    if (!(F.ENROLLMENTS in this.files)) return;
    const doc = this.load(F.ENROLLMENTS, c);
    if (doc === UNUSABLE) return;
    try {
      obj(doc, ["anchors", "enrollments"], F.ENROLLMENTS);
      if (!Array.isArray(doc.anchors) || !Array.isArray(doc.enrollments)) throw new Bad("anchors and enrollments must be lists");
      for (const raw of doc.anchors) {
        const anchor = obj(raw, ["certificates", "name"], "an anchor");
        const name = anchor.name;
        if (typeof name !== "string" || !name || checker.cards.has(name)) throw new Bad(`anchor name ${repr(short(String(name)))} is empty or repeated`);
        if (!Array.isArray(anchor.certificates)) throw new Bad(`anchor ${name}: certificates must be a list`);
        const ders = anchor.certificates.map((a) => b64(a, `a certificate of anchor ${name}`));
        checker.cards.set(name, certificateChecks(ders, checker.crls, { afterEvent: this.crlsAfterEvents, nowMs: this.nowMs, card: true }));
      }
    } catch (exc) {
      checker.cards = new Map();
      c.fail(`${F.ENROLLMENTS}: ${message(exc)}`);
      return;
    }
    for (const [number, entry] of doc.enrollments.entries()) {
      const fingerprint = isObject(entry) ? entry.fingerprint : undefined;
      const where = `${F.ENROLLMENTS}: enrollment ${number} (card ${short(String(fingerprint))}, ${isObject(entry) ? entry.employee_id : undefined})`;
      let link;
      try {
        link = await this.checkEnrollment(entry, checker.cards);
      } catch (exc) {
        c.fail(`${where}: ${message(exc)}`);
        if (typeof fingerprint === "string" && !checker.enrollments.has(fingerprint)) checker.enrollments.set(fingerprint, { error: message(exc), via: null });
        continue;
      }
      if (checker.enrollments.has(link.fingerprint)) {
        c.fail(`${where}: the card is enrolled twice`);
        checker.enrollments.set(link.fingerprint, { error: "the card is enrolled twice", via: null });
        continue;
      }
      checker.enrollments.set(link.fingerprint, link);
    }
    c.items += doc.enrollments.length;
  }

  /** One enrollment (_check_enrollment). */
  async checkEnrollment(raw, cards) {
    const doc = obj(raw, ["anchor", "chain", "employee_id", "enrolled_at", "fingerprint", "proof", "revoked_at"], "an enrollment");
    const fingerprint = toHex(hex(doc.fingerprint, "its fingerprint", 32));
    const { employee_id: employee, anchor } = doc;
    if (typeof employee !== "string" || !EMPLOYEE_ID.test(employee)) throw new Bad(`${repr(short(String(employee)))} is not an employee id`);
    if (!cards.has(anchor)) throw new Bad(`trust anchor ${repr(short(String(anchor)))} is not among the anchors of ${F.ENROLLMENTS}`);
    const chain = doc.chain;
    if (!Array.isArray(chain) || chain.length < 1 || chain.length > 4) throw new Bad("the chain must list 1 to 4 certificates, leaf first");
    const ders = chain.map((cert) => b64(cert, "a certificate"));
    if (toHex(sha256(ders[0])) !== fingerprint) throw new Bad("the fingerprint is not the SHA-256 of the card certificate");
    const enrolledAt = isoTime(doc.enrolled_at, "enrolled_at");
    const revokedAt = doc.revoked_at === null ? null : isoTime(doc.revoked_at, "revoked_at");
    if (revokedAt !== null && revokedAt < enrolledAt) throw new Bad("it was revoked before it was made");
    await cards.get(anchor).voter(ders, enrolledAt, "the card was enrolled");
    const proof = doc.proof;
    let via;
    if (isObject(proof) && sameKeys(proof, ["via"])) {
      if (proof.via !== "client-certificate") throw new Bad(`its proof says via ${repr(short(String(proof.via)))}; only "client-certificate" is known`);
      via = "client-certificate";
    } else {
      obj(proof, ["token"], "its proof");
      const claim = await readEnrollmentToken(proof.token);
      if (claim.ders.length !== ders.length || claim.ders.some((d, k) => toHex(d) !== toHex(ders[k]))) {
        throw new Bad("the enrollment token was signed with another certificate chain than the enrolled card's");
      }
      if (claim.employeeId !== employee) throw new Bad(`the card signed an enrollment for ${claim.employeeId}, but the link names ${employee}`);
      const moment = enrolledAt / 1e6;
      if (!(claim.iat - TOKEN_SKEW_S <= moment && moment < claim.exp + TOKEN_SKEW_S)) throw new Bad("the enrollment was not made within the lifetime of the token the card signed");
      via = "card";
    }
    return { fingerprint, employeeId: employee, anchor, enrolledAt, revokedAt, via, error: null };
  }

  async checkEligibility(context) {
    const c = this.check(5);
    this.checkCredentials(c);
    if (context !== null) await this.checkRegistrations(c, context);
    else if (!hasAuditorsPart(this.files) && c.status === PASS) {
      c.note = "public part only: the registrations were not checked against the employees' certificates (no auditors' part)";
    }
  }

  checkCredentials(c) {
    const rollSize = this.rollSize(c);
    const opened = this.ofKind("election-opened");
    const closed = this.ofKind("election-closed");
    const openAt = opened.length ? opened[0].index : null;
    const closeAt = closed.length ? closed[0].index : null;
    for (const [, index] of this.registrations) {
      if (openAt === null || index < openAt) c.fail(`credential-registered (entry ${index}): registered before the election opened`);
      else if (closeAt !== null && index > closeAt) c.fail(`credential-registered (entry ${index}): registered after the election closed (entry ${closeAt})`);
    }
    if (rollSize !== null && this.registrations.size > rollSize) {
      c.fail(`${this.registrations.size} credentials are registered, more than the ${rollSize} voters on the roll (roll_size of election-opened): credentials were made up`);
    }
    if (!this.ballots.length && !this.registrations.size && !opened.length) return c.skip("voting has not opened");
    if (this.fingerprint === null && this.ballots.length) c.block("the ballots' signatures need the election fingerprint (check 1)");
    const counted = new Set(this.counted.map((b) => b.index));
    const firstCounted = new Map();
    for (const b of this.ballots) {
      const where = `ballot at entry ${b.index}`;
      const registered = this.registrations.get(b.credential);
      if (registered === undefined) c.fail(`${where}: its credential ${short(b.credential)} was never registered: it is no voter's credential`);
      else if (registered > b.index) c.fail(`${where}: its credential ${short(b.credential)} was registered only later (entry ${registered})`);
      if (this.fingerprint !== null) {
        try {
          const signature = hex(b.signature, "its signature", 64);
          if (!verifyCredentialSignature(fromHex(b.credential), signature, this.fingerprint, fromHex(b.trackingCode))) {
            throw new Bad("the ballot's signature does not verify with its voting credential");
          }
        } catch (exc) {
          c.fail(`${where}: ${message(exc)}`);
        }
      }
      if (counted.has(b.index)) {
        if (firstCounted.has(b.credential)) {
          c.fail(`counted ballots at entries ${firstCounted.get(b.credential)} and ${b.index} are from one credential ${short(b.credential)}: a voter counted twice`);
        }
        if (!firstCounted.has(b.credential)) firstCounted.set(b.credential, b.index);
      }
    }
    c.items = this.ballots.length + this.registrations.size;
    return undefined;
  }

  async checkRegistrations(c, checker) {
    await this.enrollments(c, checker);
    const rollDoc = this.load(F.ROLL, c);
    if (rollDoc === UNUSABLE) return;
    const rows = new Map();
    const employees = new Set();
    try {
      if (!Array.isArray(rollDoc)) throw new Bad(`${F.ROLL} must be a list`);
      for (const raw of rollDoc) {
        const row = obj(raw, ["credential", "employee_id", "name", "registration"], `${F.ROLL} entry`);
        const employee = row.employee_id;
        if (typeof employee !== "string" || !EMPLOYEE_ID.test(employee)) throw new Bad(`${F.ROLL}: ${repr(short(String(employee)))} is not an employee id`);
        if (employees.has(employee)) throw new Bad(`${F.ROLL}: employee ${employee} appears twice`);
        employees.add(employee);
        if (row.credential === null) {
          if (row.registration !== null) throw new Bad(`${F.ROLL}: ${employee} has a registration but no credential`);
          continue;
        }
        hex(row.credential, `${F.ROLL}: ${employee}'s credential`, 32);
        if (rows.has(row.credential)) throw new Bad(`${F.ROLL}: credential ${short(row.credential)} is given to ${rows.get(row.credential)[0]} and to ${employee}`);
        if (row.registration === null) throw new Bad(`${F.ROLL}: ${employee}'s credential has no registration`);
        rows.set(row.credential, [employee, row.registration]);
      }
    } catch (exc) {
      c.fail(message(exc));
      return;
    }
    const rollSize = this.rollSize();
    if (rollSize !== null && employees.size !== rollSize) c.fail(`${F.ROLL} lists ${employees.size} voters; the board froze a roll of ${rollSize} (election-opened)`);
    for (const [credential, index] of this.registrations) {
      if (!rows.has(credential)) c.fail(`credential-registered (entry ${index}): no one on ${F.ROLL} registered credential ${short(credential)}`);
    }
    for (const [credential, [employee]] of rows) {
      if (!this.registrations.has(credential)) c.fail(`${F.ROLL}: ${employee}'s credential ${short(credential)} is not registered on the board`);
    }
    const items = [...rows].filter(([credential]) => this.registrations.has(credential));
    const seenCertificates = new Map();
    const words = { attested: 0, enrolled: 0 };
    let done = 0;
    this.progress("registrations", 0, items.length);
    for (const [credential, [employee, registration]] of items) {
      const index = this.registrations.get(credential);
      const where = `credential ${short(credential)} (entry ${index}, ${employee})`;
      try {
        const [fingerprint, word] = await this.registered(checker, credential, employee, this.entries[index].time, registration);
        for (const kind of word) words[kind] += 1;
        if (seenCertificates.has(fingerprint)) c.fail(`${where}: its certificate also registered credential ${short(seenCertificates.get(fingerprint))}`);
        if (!seenCertificates.has(fingerprint)) seenCertificates.set(fingerprint, credential);
      } catch (exc) {
        c.fail(`${where}: ${message(exc)}`);
      }
      done += 1;
      if (done % CHUNK === 0) this.progress("registrations", done, items.length);
    }
    this.progress("registrations", items.length, items.length);
    this.attested = words.attested;
    const said = [];
    const s = (n) => (n !== 1 ? "s" : "");
    if (words.attested) said.push(`${words.attested} registration${s(words.attested)} attested by a TLS client certificate login, not signed by the card`);
    if (words.enrolled) said.push(`${words.enrolled} registration${s(words.enrolled)} by a card enrolled over a TLS client certificate login, without a card-signed enrollment`);
    if (said.length) {
      const warning = "rests on the server's word only: " + said.join("; ");
      this.warnings.push(`check 5: ${warning}`);
      if (!c.note) c.note = warning;
    }
  }

  /**
   * One registration (_registered): chain, usage and revocation at the
   * registration's time, the roll's employee (by the certificate, or by the
   * card's enrollment), the signature (none when attested by a TLS client
   * certificate). Resolves to [fingerprint, what rests on the server's word].
   */
  async registered(checker, credential, employee, registeredAt, registration) {
    const attested = isObject(registration) && "attested" in registration;
    const doc = obj(registration, attested ? ["attested", "chain", "registered_at", "signature"] : ["chain", "registered_at", "signature"], "the registration");
    if (attested && (doc.attested !== "client-certificate" || doc.signature !== null)) {
      throw new Bad('an attested registration says attested "client-certificate" and has no signature');
    }
    isoTime(doc.registered_at, "registered_at");
    const chain = doc.chain;
    if (!Array.isArray(chain) || chain.length < 1 || chain.length > 4) throw new Bad("the registration's chain must list 1 to 4 certificates, leaf first");
    const ders = chain.map((cert) => b64(cert, "a certificate"));
    const at = isoTime(registeredAt, "the registration time");
    if (!(await checker.builds(ders, at))) {
      let anchor = null;
      for (const [name, card] of checker.cards || []) {
        if (await card.builds(ders, at)) {
          anchor = name;
          break;
        }
      }
      if (anchor === null) {
        await checker.voter(ders, at, "the credential was registered"); // throws: the chain builds nowhere
        throw new Bad("the certificate was not valid when the credential was registered");
      }
      return this.registeredByCard(checker, anchor, credential, employee, at, doc, ders);
    }
    await checker.voter(ders, at, "the credential was registered");
    if (attested) {
      let signer;
      try {
        const leaf = parseX509(ders[0]);
        checkKey(leaf);
        signer = employeeIdOf(leaf);
      } catch (exc) {
        throw new Bad(`not an employee certificate: ${message(exc)}`);
      }
      if (signer !== employee) throw new Bad(`the registration is attested for ${signer}'s certificate, but the roll gives the credential to ${employee}`);
      return [toHex(sha256(ders[0])), ["attested"]];
    }
    const signature = hex(doc.signature, "the registration's signature");
    // The leaf names the employee the roll gives the credential to, and its key signed the registration.
    const signer = await verifyTrusteeSignature(
      { chain, signature: toHex(signature) },
      { message: registrationMessage(this.electionId, fromHex(credential)), employeeId: employee },
    ).catch((exc) => {
      throw new Bad(message(exc));
    });
    if (signer.employeeId !== employee) throw new Bad(`the registration is signed by ${signer.employeeId}'s certificate, but the roll gives the credential to ${employee}`);
    return [toHex(sha256(ders[0])), []];
  }

  /** A registration by a card whose certificate names no employee: the employee is its enrollment's (_enrolled_employee). */
  async registeredByCard(checker, anchor, credential, employee, at, doc, ders) {
    const fingerprint = toHex(sha256(ders[0]));
    const link = checker.enrollments.get(fingerprint);
    if (link === undefined) throw new Bad(`the card certificate ${short(fingerprint)} names no employee and has no enrollment in ${F.ENROLLMENTS}`);
    if (link.error) throw new Bad(`the card's enrollment does not verify: ${link.error}`);
    if (link.anchor !== anchor) throw new Bad(`the card's enrollment says trust anchor ${repr(link.anchor)}, but its chain builds to ${repr(anchor)}`);
    if (link.employeeId !== employee) throw new Bad(`the card is enrolled for ${link.employeeId}, but the roll gives the credential to ${employee}`);
    if (link.enrolledAt > at + CLOCK_TOLERANCE_US) throw new Bad("the card was enrolled only after the credential was registered");
    if (link.revokedAt !== null && link.revokedAt <= at) throw new Bad("the card's enrollment was revoked before the credential was registered");
    const word = link.via === "client-certificate" ? ["enrolled"] : [];
    await checker.cards.get(anchor).voter(ders, at, "the credential was registered");
    try {
      checkKey(parseX509(ders[0]));
    } catch (exc) {
      throw new Bad(`not an employee certificate: ${message(exc)}`);
    }
    if ("attested" in doc) return [fingerprint, [...word, "attested"]];
    const signature = hex(doc.signature, "the registration's signature");
    let checked;
    try {
      checked = await verifyCertificateSignature(ders[0], signature, registrationMessage(this.electionId, fromHex(credential)));
    } catch (exc) {
      throw new Bad(message(exc));
    }
    if (!checked.valid) throw new Bad(`the registration of the voting credential does not verify with the voter's certificate (${employee})`);
    return [fingerprint, word];
  }

  // -- check 11 -------------------------------------------------------------------------------

  checkAudits() {
    const c = this.check(11);
    const entries = this.ofKind("ballot-audited");
    if (!entries.length) {
      c.note = "no ballot was audited";
      return;
    }
    if (this.manifest === null || this.jointKey === null || this.fingerprint === null) {
      c.block("needs the manifest, the joint key and the election fingerprint (check 1)");
      return;
    }
    const opened = this.ofKind("election-opened");
    const closed = this.ofKind("election-closed");
    const openAt = opened.length ? opened[0].index : null;
    const closeAt = closed.length ? closed[0].index : null;
    const cast = new Map();
    const castAlphas = new Map();
    for (const entry of this.ofKind("ballot")) {
      const code = entry.body.tracking_code;
      if (typeof code === "string" && !cast.has(code)) cast.set(code, entry.index);
      for (const alpha of selectionAlphas(entry.body.ballot)) if (!castAlphas.has(alpha)) castAlphas.set(alpha, entry.index);
    }
    const audited = new Map();
    for (const entry of entries) {
      const index = entry.index;
      try {
        const body = obj(entry.body, ["ballot", "credential", "opening", "tracking_code"], "ballot-audited");
        const { tracking_code: code, credential } = body;
        hex(code, "tracking_code", 32);
        hex(credential, "credential", 32);
        if (openAt === null || index < openAt) throw new Bad("it comes before the election opened");
        if (closeAt !== null && index > closeAt) throw new Bad(`it comes after the election closed (entry ${closeAt})`);
        const registered = this.registrations.get(credential);
        if (registered === undefined || registered > index) throw new Bad(`its credential ${short(credential)} was not registered before it`);
        if (audited.has(code)) throw new Bad(`tracking code ${short(code)} was already audited at entry ${audited.get(code)}`);
        audited.set(code, index);
        if (cast.has(code)) throw new Bad(`its tracking code ${short(code)} was also cast (ballot at entry ${cast.get(code)}): an audited ballot must never be cast`);
        const reused = [...selectionAlphas(body.ballot)].filter((a) => castAlphas.has(a)).map((a) => castAlphas.get(a)).sort((a, b) => a - b);
        if (reused.length) {
          throw new Bad(`a selection ciphertext of it was also cast (ballot at entry ${reused[0]}), under other proofs: its opening makes that vote public; an audited ciphertext must never be cast`);
        }
        const ballot = ballotFromJson(body.ballot, this.manifest);
        if (toHex(trackingCode(this.fingerprint, body.ballot)) !== code) throw new Bad(`tracking code ${short(code)} is not the hash of the ballot`);
        verifyBallot(this.manifest, this.jointKey, this.fingerprint, credential, ballot);
        verifyAuditOpening(this.manifest, this.jointKey, ballot, auditOpeningFromJson(body.opening));
      } catch (exc) {
        c.fail(`audited ballot (entry ${index}): ${message(exc)}`);
      }
    }
    c.items = entries.length;
  }

  // -- check 8 --------------------------------------------------------------------------------

  checkAggregate() {
    const c = this.check(8);
    const entries = this.ofKind("aggregate");
    this.compareView(F.AGGREGATE, entries.length ? { leaf_index: entries[0].index, ...entries[0].body } : null, c, "the aggregate on the board");
    if (!entries.length && !this.ofKind("election-closed").length) return c.skip("voting has not closed");
    if (entries.length !== 1) return c.fail(`${entries.length} aggregate entries; a closed election has exactly one`);
    const entry = entries[0];
    const closed = this.ofKind("election-closed");
    if (!closed.length || entry.index < closed[0].index) c.fail(`the aggregate (entry ${entry.index}) comes before the election closed`);
    if (this.manifest === null) return c.block("needs the manifest (check 1)");
    const width = this.manifest.questions.reduce((sum, q) => sum + q.optionIds.length, 0);
    let ciphertexts, count;
    try {
      const body = obj(entry.body, ["ballots_counted", "ciphertexts"], "aggregate");
      count = int(body.ballots_counted, "ballots_counted");
      if (!Array.isArray(body.ciphertexts) || body.ciphertexts.length !== width) throw new Bad(`the aggregate must have ${width} ciphertexts, one per option`);
      ciphertexts = body.ciphertexts.map((ct) => ciphertextFromJson(ct, { allowIdentity: true }));
    } catch (exc) {
      return c.fail(`aggregate (entry ${entry.index}): ${message(exc)}`);
    }
    this.aggregate = { ciphertexts, count, index: entry.index };
    c.items = width;
    if (count !== this.counted.length) c.fail(`the aggregate claims ${count} ballots counted; the board has ${this.counted.length} counted ballots`);
    if (this.unreadableCounted.length) {
      c.fail(`cannot recompute the aggregate: counted ballots at entries ${repr(this.unreadableCounted.slice(0, 10))} are unreadable`);
    } else if (this.sums === null && this.counted.length) {
      c.block("needs the ballots (check 3)");
    } else {
      const points = this.sums || Array.from({ length: 2 * width }, () => IDENTITY);
      ciphertexts.forEach((ct, position) => {
        if (!ct.alpha.equals(points[2 * position]) || !ct.beta.equals(points[2 * position + 1])) {
          c.fail(`aggregate ciphertext ${position} (${this.optionName(position)}) is not the sum of the counted ballots`);
        }
      });
    }
    return undefined;
  }

  optionName(position) {
    for (const q of this.manifest.questions) {
      if (position < q.optionIds.length) return `${q.questionId}/${q.optionIds[position]}`;
      position -= q.optionIds.length;
    }
    return "?";
  }
}

/** The roots of every prefix of the board, from one pass over its leaves (RFC 9162's MTH of a prefix). */
function prefixRoots(lines) {
  const leaves = lines.map((line) => leafHash(line));
  const cache = new Map();
  // MTH(D[0:n]) by the compact range of perfect subtrees; each is hashed once.
  const perfect = (start, size) => {
    const key = `${start}/${size}`;
    if (!cache.has(key)) cache.set(key, size === 1 ? leaves[start] : nodeHash(perfect(start, size / 2), perfect(start + size / 2, size / 2)));
    return cache.get(key);
  };
  return {
    root(size) {
      if (size === 0) return sha256(new Uint8Array(0));
      const parts = [];
      let start = 0;
      while (start < size) {
        let k = 1;
        while (k * 2 <= size - start) k *= 2;
        parts.push(perfect(start, k));
        start += k;
      }
      let root = parts.pop();
      while (parts.length) root = nodeHash(parts.pop(), root);
      return root;
    },
  };
}

// Ed25519 encodings of small-order points (libsodium's blocklist, as crypto/credentials).
const P = 2n ** 255n - 19n;
const SMALL_ORDER_Y = new Set([
  0n, 1n, P - 1n,
  2707385501144840649318225287225658788936804267575313519463743609750303402022n,
  55188659117513257062467267217118295137698188065244968500265048394206261417927n,
]);

/** A voting credential is a canonical Ed25519 key of large order (parse_voting_credential). */
function checkVotingCredential(value) {
  if (typeof value !== "string" || !/^[0-9a-f]{64}$/.test(value)) throw new Bad("a voting credential is 64 lowercase hex digits");
  const raw = fromHex(value);
  let y = 0n;
  for (let k = 31; k >= 0; k--) y = (y << 8n) | BigInt(raw[k]);
  y &= (1n << 255n) - 1n;
  if (y >= P) throw new Bad("the voting credential is not a canonical Ed25519 encoding");
  if (SMALL_ORDER_Y.has(y)) throw new Bad("the voting credential is a small-order point, not a key");
}

/**
 * Run checks 1-8 and 11 on a record. `serverKey` (32 bytes) pins the server's
 * key; `crlsAfterEvents: false` judges certificates against CRLs current at
 * `now` (a trustee right after closing), as verify_record's option.
 * Returns {electionId, stage, boardSize, ballots, counted, checks: [CheckResult]}.
 */
export async function verifyRecord(files, options = {}) {
  return new Verifier(files, options).run();
}

/** The required checks that did not pass, as [number, status, first failure]. */
export function notPassed(report) {
  return report.checks.filter((c) => REQUIRED_CHECKS.includes(c.number) && c.status !== PASS).map((c) => [c.number, c.status, c.failures[0] || c.note]);
}
