// The election key the ballot page accepts, mirroring voting/client.py
// `endorsed_election` and crypto/credentials `verify_endorsement`
// (docs/threat-model.md, "A server that serves the pages"):
//
// * the manifest comes from the board's election-created entry and the joint key
//   from its joint-key entry, never from the server's status reply;
// * the fingerprint is recomputed from both;
// * the trustees follow the policy: trustee_ids are distinct valid employee ids,
//   `trustees` (n) is their number and 2 <= `threshold` (t) <= n;
// * every trustee that election-created names (trustee_ids, in index order)
//   signed this election id, joint key and fingerprint with the key of a
//   certificate whose employee id (its urn:x-city-hall:employee: SAN URI) is
//   theirs;
// * a fingerprint pinned by the voter (from the election notice's link) matches.
//
// Not checked here: that the trustees' certificates chain to the city's CA. The
// page has no trust anchor of its own that the server could not replace (the
// server serves this very code), so a server that mints certificates passes this
// check; what catches it is the fingerprint compared with the election notice,
// and the command-line client, which pins the CA (`voting vote --trust-anchor`).

import { b64decode, fromHex, toHex } from "./bytes.js";
import { electionFingerprint, formatFingerprint, parseManifest } from "./ballots.js";
import { encodeParts } from "./encoding.js";
import { CertificateError, CryptoError, EndorsementError, WeakKeyError } from "./errors.js";
import { Point } from "./group.js";
import { verifyChain } from "./x509.js";

export const ENDORSEMENT_TAG = "votingpilot/v1/joint-key-endorsement";
export const EMPLOYEE_URI_PREFIX = "urn:x-city-hall:employee:";
const EMPLOYEE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const SIGNATURE_HEX = /^(?:[0-9a-f]{2}){64,512}$/;
const MAX_CHAIN_LENGTH = 4;
const MIN_RSA_BITS = 2048;

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const sameKeys = (doc, keys) => Object.keys(doc).sort().join(",") === [...keys].sort().join(",");

/**
 * Why the page will not encrypt to a key: `reason` names the message shown to
 * the voter (`ballot.key_reason.<reason>` in messages.json, with `params`); the
 * error's own message is the technical detail, in English.
 */
export class KeyRefusal extends Error {
  constructor(reason, params, detail) {
    super(detail);
    this.name = "KeyRefusal";
    this.reason = reason;
    this.params = params;
  }
}

// --- a small strict DER reader (X.509 only needs this much) ----------------------------

const SEQUENCE = 0x30;
const SET = 0x31;
const OID = 0x06;
const BOOLEAN = 0x01;
const OCTET_STRING = 0x04;
const BIT_STRING = 0x03;
const INTEGER = 0x02;

const OID_COMMON_NAME = "550403";
const OID_SERIAL_NUMBER = "550405";
const OID_SUBJECT_ALT_NAME = "551d11";
const OID_EC_PUBLIC_KEY = "2a8648ce3d0201";
const OID_P256 = "2a8648ce3d030107";
const OID_RSA = "2a864886f70d010101";
const OID_ED25519 = "2b6570";

const bad = (what) => new EndorsementError(`the endorsement's certificate cannot be parsed (${what})`);

/** The DER element at `offset`, inside `limit`: {tag, offset, start, end} (value = start..end). */
function element(der, offset, limit) {
  if (offset + 2 > limit) throw bad("truncated");
  const tag = der[offset];
  if ((tag & 0x1f) === 0x1f) throw bad("multi-byte tag");
  let length = der[offset + 1];
  let start = offset + 2;
  if (length === 0x80) throw bad("indefinite length");
  if (length & 0x80) {
    const n = length & 0x7f;
    if (n > 3 || start + n > limit) throw bad("length");
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + der[start + i];
    if (der[start] === 0 || length < 0x80) throw bad("non-minimal length"); // DER: the shortest form only
    start += n;
  }
  if (start + length > limit) throw bad("truncated");
  return { tag, offset, start, end: start + length };
}

/** The elements that make up a constructed element's value, exactly. */
function children(der, parent) {
  const out = [];
  for (let offset = parent.start; offset < parent.end; ) {
    const child = element(der, offset, parent.end);
    out.push(child);
    offset = child.end;
  }
  return out;
}

function expect(el, tag, what) {
  if (!el || el.tag !== tag) throw bad(what);
  return el;
}

const value = (der, el) => der.subarray(el.start, el.end);
const oidHex = (der, el) => toHex(value(der, expect(el, OID, "object identifier")));

/** A directory string as Python's cryptography reads it (the types a CA uses). */
function text(der, el) {
  const bytes = value(der, el);
  if (el.tag === 0x0c) {
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(bytes); // UTF8String
    } catch {
      throw bad("UTF8String");
    }
  }
  if (el.tag === 0x13 || el.tag === 0x16) {
    if (bytes.some((b) => b > 0x7f)) throw bad("non-ASCII PrintableString or IA5String");
    return String.fromCharCode(...bytes);
  }
  if (el.tag === 0x1e) {
    if (bytes.length % 2) throw bad("BMPString");
    return new TextDecoder("utf-16be", { fatal: true }).decode(bytes);
  }
  throw bad(`string type 0x${el.tag.toString(16)}`);
}

/** Every (type, value element) of a Name: SEQUENCE OF SET OF {type, value}. */
function nameAttributes(der, name) {
  const out = [];
  for (const rdn of children(der, expect(name, SEQUENCE, "name"))) {
    for (const attribute of children(der, expect(rdn, SET, "name"))) {
      const [type, val, ...rest] = children(der, expect(attribute, SEQUENCE, "name attribute"));
      if (!val || rest.length) throw bad("name attribute");
      out.push({ type: oidHex(der, type), value: val });
    }
  }
  return out;
}

/** A DER certificate's outer shape: SEQUENCE {tbsCertificate, signatureAlgorithm, signatureValue}, nothing after it. */
function certificateShape(der) {
  const cert = expect(element(der, 0, der.length), SEQUENCE, "certificate");
  if (cert.end !== der.length) throw bad("trailing bytes");
  const top = children(der, cert);
  if (top.length !== 3) throw bad("certificate");
  expect(top[0], SEQUENCE, "tbsCertificate");
  expect(top[1], SEQUENCE, "signature algorithm");
  expect(top[2], BIT_STRING, "signature");
  return top[0];
}

/**
 * What the endorsement check needs from a DER X.509 certificate (RFC 5280 4.1):
 * the subject's common names and serialNumber attributes, the SAN URIs, and the
 * SubjectPublicKeyInfo (DER) with its key type.
 */
export function parseCertificate(der) {
  const fields = children(der, certificateShape(der));
  let i = fields[0]?.tag === 0xa0 ? 1 : 0; // [0] version
  expect(fields[i++], INTEGER, "serial number");
  expect(fields[i++], SEQUENCE, "signature algorithm");
  expect(fields[i++], SEQUENCE, "issuer");
  expect(fields[i++], SEQUENCE, "validity");
  const subject = nameAttributes(der, fields[i++]);
  const spki = expect(fields[i++], SEQUENCE, "subjectPublicKeyInfo");
  let extensions = [];
  for (const field of fields.slice(i)) {
    if (field.tag === 0x81 || field.tag === 0x82) continue; // issuer/subject unique ids
    const [list, ...rest] = children(der, expect(field, 0xa3, "extensions"));
    if (rest.length) throw bad("extensions");
    extensions = children(der, expect(list, SEQUENCE, "extensions"));
  }
  const seen = new Set();
  let uris = null;
  for (const extension of extensions) {
    const parts = children(der, expect(extension, SEQUENCE, "extension"));
    const id = oidHex(der, parts[0]);
    if (seen.has(id)) throw bad("duplicate extension");
    seen.add(id);
    if (parts.length === 3) expect(parts[1], BOOLEAN, "critical flag");
    else if (parts.length !== 2) throw bad("extension");
    const octets = expect(parts[parts.length - 1], OCTET_STRING, "extension value");
    if (id !== OID_SUBJECT_ALT_NAME) continue;
    const names = expect(element(der, octets.start, octets.end), SEQUENCE, "subject alternative name");
    if (names.end !== octets.end) throw bad("subject alternative name");
    uris = children(der, names)
      .filter((n) => n.tag === 0x86) // uniformResourceIdentifier [6] IA5String
      .map((n) => text(der, { ...n, tag: 0x16 }));
  }
  return {
    commonNames: subject.filter((a) => a.type === OID_COMMON_NAME).map((a) => text(der, a.value)),
    serialNumbers: subject.filter((a) => a.type === OID_SERIAL_NUMBER).map((a) => text(der, a.value)),
    uris,
    ...publicKeyInfo(der, spki),
  };
}

/** The leaf key's JWS alg and its SPKI bytes; key types the service refuses are refused here. */
function publicKeyInfo(der, spki) {
  const [algorithm, key, ...rest] = children(der, spki);
  expect(key, BIT_STRING, "public key");
  if (rest.length) throw bad("subjectPublicKeyInfo");
  const [id, params] = children(der, expect(algorithm, SEQUENCE, "key algorithm"));
  const type = oidHex(der, id);
  const bytes = der.subarray(spki.offset, spki.end);
  if (type === OID_EC_PUBLIC_KEY) {
    if (!params || params.tag !== OID || oidHex(der, params) !== OID_P256) throw new WeakKeyError("only P-256 EC keys are accepted");
    return { alg: "ES256", spki: bytes };
  }
  if (type === OID_RSA) return { alg: "RS256", spki: bytes };
  if (type === OID_ED25519) return { alg: "EdDSA", spki: bytes };
  throw new WeakKeyError("unsupported key type");
}

/** The employee id of a certificate: its one urn:x-city-hall:employee: SAN URI, as Python's employee_id_of. */
export function employeeIdOf(certificate) {
  if (certificate.uris === null) throw new EndorsementError("the certificate has no subject alternative name");
  const ids = certificate.uris.filter((u) => u.startsWith(EMPLOYEE_URI_PREFIX)).map((u) => u.slice(EMPLOYEE_URI_PREFIX.length));
  if (ids.length !== 1) throw new EndorsementError(`the certificate must name exactly one employee (${EMPLOYEE_URI_PREFIX}<id>), found ${ids.length}`);
  if (!EMPLOYEE_ID.test(ids[0])) throw new EndorsementError("the certificate's employee id is not valid");
  if (certificate.serialNumbers.some((s) => s !== ids[0])) throw new EndorsementError("the certificate's subject serialNumber differs from its employee id");
  return ids[0];
}

/** The employee's name: the subject's one common name. */
export function displayNameOf(certificate) {
  if (certificate.commonNames.length !== 1 || !certificate.commonNames[0]) {
    throw new EndorsementError("the certificate's subject must have exactly one common name");
  }
  return certificate.commonNames[0];
}

// --- one trustee's endorsement --------------------------------------------------------

const IMPORT = {
  ES256: { name: "ECDSA", namedCurve: "P-256" },
  RS256: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
  EdDSA: { name: "Ed25519" },
};
const VERIFY = {
  ES256: { name: "ECDSA", hash: "SHA-256" }, // raw r || s, as the trustees sign (RFC 7518 3.4)
  RS256: { name: "RSASSA-PKCS1-v1_5" },
  EdDSA: { name: "Ed25519" },
};

export function endorsementMessage(electionId, jointKey, fingerprint) {
  if (typeof electionId !== "string" || !electionId) throw new Error("electionId must be a non-empty string");
  for (const v of [jointKey, fingerprint]) {
    if (!(v instanceof Uint8Array) || v.length !== 32) throw new Error("jointKey and fingerprint must be 32 bytes");
  }
  return encodeParts(ENDORSEMENT_TAG, electionId, jointKey, fingerprint);
}

/**
 * Check one endorsement {chain, signature}: the leaf names `employeeId` and its
 * key signed this election id, joint key and fingerprint. Returns {employeeId,
 * name}; throws EndorsementError (or WeakKeyError for a key type the service refuses).
 */
export async function verifyEndorsement(doc, { electionId, jointKey, fingerprint, employeeId, roots }) {
  return verifyTrusteeSignature(doc, { message: endorsementMessage(electionId, jointKey, fingerprint), employeeId, roots });
}

/**
 * A trustee's signature {chain, signature} over `message` (an endorsement, or an
 * announcement in the key ceremony: crypto/credentials `_verify_signed`
 * without a trust store): the leaf names `employeeId` and its key signed `message`.
 * With `roots` (DER; the trustee page's pinned root), the chain must also build
 * to one of them now (x509.js, as `_verify_signed` with a trust store).
 */
export async function verifyTrusteeSignature(doc, { message, employeeId, roots }) {
  if (!isObject(doc) || !sameKeys(doc, ["chain", "signature"])) throw new EndorsementError("an endorsement must be {chain, signature}");
  const { chain, signature } = doc;
  if (!Array.isArray(chain) || chain.length < 1 || chain.length > MAX_CHAIN_LENGTH) {
    throw new EndorsementError(`an endorsement's chain must hold 1 to ${MAX_CHAIN_LENGTH} certificates`);
  }
  const ders = chain.map((item) => b64decode(item, EndorsementError, "an endorsement certificate"));
  if (typeof signature !== "string" || !SIGNATURE_HEX.test(signature)) throw new EndorsementError("an endorsement's signature must be lowercase hex");
  const leaf = parseCertificate(ders[0]);
  for (const der of ders.slice(1)) certificateShape(der); // Python loads every certificate of the chain
  const signer = employeeIdOf(leaf);
  if (signer !== employeeId) throw new EndorsementError(`the endorsement is signed by ${signer}, not by trustee ${employeeId}`);
  const name = displayNameOf(leaf);
  let key;
  try {
    key = await crypto.subtle.importKey("spki", leaf.spki, IMPORT[leaf.alg], false, ["verify"]);
  } catch {
    throw new EndorsementError("the endorsement's certificate key cannot be read");
  }
  const raw = fromHex(signature, undefined, EndorsementError, "signature");
  // Exact lengths first, as in Python: a DER ECDSA signature or a short RSA one is refused.
  let length = 64;
  if (leaf.alg === "RS256") {
    if (key.algorithm.modulusLength < MIN_RSA_BITS) throw new WeakKeyError(`RSA key of ${key.algorithm.modulusLength} bits is too short`);
    length = Math.ceil(key.algorithm.modulusLength / 8);
  }
  let valid = raw.length === length;
  if (valid) {
    try {
      valid = await crypto.subtle.verify(VERIFY[leaf.alg], key, raw, message);
    } catch {
      valid = false;
    }
  }
  if (!valid) throw new EndorsementError(`trustee ${employeeId}'s signature does not verify for this message`);
  if (roots) {
    try {
      await verifyChain(ders, roots, { now: new Date(), employeeId });
    } catch (exc) {
      if (!(exc instanceof CertificateError)) throw exc;
      throw new EndorsementError(`trustee ${employeeId}'s certificate is not trusted: ${exc.message}`);
    }
  }
  return { employeeId: signer, name };
}

// --- the election key from the board ---------------------------------------------------

/**
 * Did the key of the certificate `der` sign `message` (`signature`: bytes, in
 * the JWS form)? For a card whose certificate names no employee (an enrollment
 * token, a registration): crypto/credentials `_signature_valid`, exact
 * lengths first. Resolves to {alg, valid}; a key the service refuses throws.
 */
export async function verifyCertificateSignature(der, signature, message) {
  const leaf = parseCertificate(der);
  let key;
  try {
    key = await crypto.subtle.importKey("spki", leaf.spki, IMPORT[leaf.alg], false, ["verify"]);
  } catch {
    throw new EndorsementError("the certificate key cannot be read");
  }
  let length = 64;
  if (leaf.alg === "RS256") {
    if (key.algorithm.modulusLength < MIN_RSA_BITS) throw new WeakKeyError(`RSA key of ${key.algorithm.modulusLength} bits is too short`);
    length = Math.ceil(key.algorithm.modulusLength / 8);
  }
  let valid = signature.length === length;
  if (valid) {
    try {
      valid = await crypto.subtle.verify(VERIFY[leaf.alg], key, signature, message);
    } catch {
      valid = false;
    }
  }
  return { alg: leaf.alg, valid };
}

/**
 * The election key from the board's entries (the first must be election-created;
 * the first joint-key entry is used): {manifest, key, fingerprint, threshold,
 * trustees: [{index, employeeId, name}]}, or a KeyRefusal. `pins` (from parsePinned)
 * are fingerprints the voter brought from the election notice; `roots` (DER),
 * when given, the roots every endorsement's certificate must chain to.
 */
export async function endorsedElection(entries, electionId, { pins = [], roots } = {}) {
  const created = entries[0]?.kind === "election-created" ? entries[0] : null;
  const joint = entries.find((e) => e?.kind === "joint-key");
  if (!created || !joint) throw new KeyRefusal("no_key", {}, "the board has no election-created or joint-key entry");
  let manifest, ids, key, endorsements, fingerprint;
  try {
    manifest = parseManifest(created.body.manifest);
    ids = created.body.trustee_ids;
    key = Point.fromHex(joint.body.joint_key);
    endorsements = joint.body.endorsements;
    fingerprint = electionFingerprint(manifest, key);
  } catch (exc) {
    throw new KeyRefusal("malformed", {}, `the board's election entries are malformed: ${exc.message}`);
  }
  if (manifest.electionId !== electionId || joint.body.fingerprint !== toHex(fingerprint)) {
    throw new KeyRefusal("fingerprint", {}, "the board's fingerprint does not recompute from its manifest and joint key");
  }
  const threshold = trusteePolicy(created.body);
  if (!Array.isArray(endorsements) || endorsements.length !== ids.length) {
    throw new KeyRefusal("endorsements", { count: ids.length }, "the joint key does not carry one endorsement per trustee");
  }
  const trustees = [];
  for (const [i, employeeId] of ids.entries()) {
    const index = i + 1;
    const doc = endorsements[i];
    try {
      if (!isObject(doc) || !sameKeys(doc, ["chain", "index", "signature"]) || doc.index !== index) {
        throw new EndorsementError(`the endorsement of trustee ${index} is missing or not {index, chain, signature}`);
      }
      const checked = await verifyEndorsement(
        { chain: doc.chain, signature: doc.signature },
        { electionId, jointKey: key.toBytes(), fingerprint, employeeId, roots },
      );
      trustees.push({ index, ...checked });
    } catch (exc) {
      if (!(exc instanceof CryptoError)) throw exc;
      throw new KeyRefusal("endorsement", { index, id: employeeId }, `the election key is not endorsed by trustee ${index} (${employeeId}): ${exc.message}`);
    }
  }
  for (const pinned of pins) {
    if (!pinnedMatches(pinned, fingerprint)) {
      throw new KeyRefusal(
        "pinned",
        { actual: formatFingerprint(fingerprint), pinned: pinned.display },
        `the election's fingerprint ${formatFingerprint(fingerprint)} is not the pinned ${pinned.display}`,
      );
    }
  }
  return { manifest, key, fingerprint, threshold, trustees };
}

/**
 * The election's trustees must follow the policy, as voting/client.py
 * `endorsed_election` and the trustees' `ceremony_view` require: trustee_ids
 * are distinct valid employee ids, `trustees` (n) is their number, and
 * 2 <= `threshold` (t) <= n. A board that names one trustee, or lets one
 * trustee (t < 2) or nobody (t > n) decrypt, is refused. Returns t.
 */
export function trusteePolicy(body) {
  const ids = body.trustee_ids;
  const n = body.trustees;
  const t = body.threshold;
  if (!Array.isArray(ids) || !ids.every((id) => typeof id === "string") || !Number.isInteger(n) || !Number.isInteger(t)) {
    throw new KeyRefusal("malformed", {}, "the election-created entry's trustee_ids, trustees or threshold is malformed");
  }
  if (!ids.every((id) => EMPLOYEE_ID.test(id)) || new Set(ids).size !== ids.length || n !== ids.length) {
    throw new KeyRefusal(
      "trustees",
      { n, count: ids.length },
      `the election's trustees break the policy: trustee_ids must be ${n} distinct valid employee ids, one per trustee (${ids.length} given)`,
    );
  }
  if (!(2 <= t && t <= n)) {
    throw new KeyRefusal("threshold", { t, n }, `the election's trustees break the policy: a threshold of ${t} of ${n} trustees is not allowed (2 <= t <= n)`);
  }
  return t;
}

// --- a fingerprint the voter pinned ----------------------------------------------------

/**
 * A fingerprint from the election notice: the short form (XXXX-XXXX-XXXX-XXXX,
 * any case, dashes and spaces optional) or the full 64 hex digits. Returns
 * {short} or {full} with `display`; anything else is a KeyRefusal (a typo must
 * not silently turn the check off).
 */
export function parsePinned(textValue) {
  const compact = String(textValue).replace(/[\s-]/g, "");
  if (/^[A-Za-z2-7]{16}$/.test(compact)) {
    const short = compact.toUpperCase().match(/.{4}/g).join("-");
    return { short, display: short };
  }
  if (/^[0-9A-Fa-f]{64}$/.test(compact)) return { full: compact.toLowerCase(), display: compact.toLowerCase() };
  throw new KeyRefusal("pin_malformed", { value: String(textValue).slice(0, 80) }, "the pinned fingerprint is not XXXX-XXXX-XXXX-XXXX nor 64 hex digits");
}

export function pinnedMatches(pinned, fingerprint) {
  return pinned.full ? pinned.full === toHex(fingerprint) : pinned.short === formatFingerprint(fingerprint);
}

/** The pinned fingerprints of a page address: `fp=` in the fragment (#fp=…) or the query (?fp=…). */
export function pinnedFromUrl(url) {
  const found = [new URLSearchParams(url.hash.replace(/^#/, "")).get("fp"), url.searchParams.get("fp")];
  return found.filter((v) => v !== null).map(parsePinned);
}
