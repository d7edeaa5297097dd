// The trustees' key ceremony and partial decryption, mirroring
// crypto/threshold.py (docs/parts/threshold.md): a Pedersen DKG with Feldman
// commitments over ristretto255 (group.js), shares encrypted to each
// recipient's X25519 key with HKDF-SHA256 and ChaCha20-Poly1305 — every
// primitive from the bundled @noble packages, none written here.
//
// The same draws in the same order as Python (coefficients, share key, proof
// nonces; one 32-byte ephemeral key per share), so a deterministic random
// source reproduces tests/vectors/threshold.json byte for byte.

import { chacha20poly1305, hkdf, sha256, x25519 } from "../vendor/noble.js";
import { equalBytes, fromHex, toHex } from "./bytes.js";
import { encodeParts } from "./encoding.js";
import { CryptoError, EncodingError, ProofError } from "./errors.js";
import { G, IDENTITY, ORDER, Point, Scalar, gMul, gPow } from "./group.js";
import { challenge, compactProofFromJson, verifyEqualLogs, verifySchnorr } from "./proofs.js";

export class CeremonyError extends CryptoError { static code = "ceremony_invalid"; }
export class ShareError extends CryptoError { static code = "share_invalid"; }
export class PartialDecryptionError extends CryptoError { static code = "partial_decryption_invalid"; }
export class ThresholdError extends CryptoError { static code = "threshold_not_met"; }

export const MAX_TRUSTEES = 255;
export const SHARE_KEY_TAG = "votingpilot/v1/share-key";
export const SHARE_AD_TAG = "votingpilot/v1/share";
const SHARE_NONCE = new Uint8Array(12); // each share has its own ephemeral key
const SHARE_CIPHERTEXT_BYTES = 48;
const FINGERPRINT_MIN = 16;
const FINGERPRINT_MAX = 64;

export const randomBytes = (n) => crypto.getRandomValues(new Uint8Array(n));

// --- small helpers -----------------------------------------------------------------

function object(doc, keys, what) {
  if (doc === null || typeof doc !== "object" || Array.isArray(doc) || Object.keys(doc).sort().join(",") !== [...keys].sort().join(",")) {
    throw new EncodingError(`${what} must be an object with exactly ${[...keys].sort().join(", ")}`);
  }
  return doc;
}

function int(value, what) {
  if (!Number.isInteger(value)) throw new EncodingError(`${what} must be an integer`);
  return value;
}

function list(value, what) {
  if (!Array.isArray(value)) throw new EncodingError(`${what} must be a list`);
  return value;
}

function hexAny(value, what) {
  if (typeof value !== "string" || value.length % 2) throw new EncodingError(`${what} must be an even-length hex string`);
  return fromHex(value, value.length / 2, EncodingError, what);
}

function checkIndex(index, n, what, Error = CeremonyError) {
  if (!Number.isInteger(index) || index < 1 || index > n) throw new Error(`${what} must be an integer in [1, ${n}], got ${index}`);
}

/** P(x) by Horner's rule. */
function evaluate(coefficients, x) {
  let result = new Scalar(0n);
  const xs = Scalar.reduce(x);
  for (const a of [...coefficients].reverse()) result = result.mul(xs).add(a);
  return result;
}

/** prod_j C_j^(x^j) = g^{P(x)}. */
function evaluateInExponent(commitments, x) {
  let result = IDENTITY;
  const xs = Scalar.reduce(x);
  for (const c of [...commitments].reverse()) result = result.mul(xs).add(c);
  return result;
}

function shareError(sender, message) {
  const error = new ShareError(`share from trustee ${sender}: ${message}`);
  error.sender = sender;
  return error;
}

/** Refuse a malformed or low-order X25519 key (every shared secret would be zero). */
function checkSharePublicKey(raw, index) {
  if (!(raw instanceof Uint8Array) || raw.length !== 32) throw new CeremonyError(`trustee ${index}: share key must be 32 bytes`);
  try {
    x25519.getSharedSecret(new Uint8Array(32).fill(9), raw);
  } catch {
    throw new CeremonyError(`trustee ${index}: share key is a low-order X25519 point`);
  }
}

// --- parameters --------------------------------------------------------------------

/** {n, t, ceremonyFingerprint} checked as CeremonyParameters. */
export function ceremonyParameters(n, t, ceremonyFingerprint) {
  checkIndex(n, MAX_TRUSTEES, "n");
  checkIndex(t, n, "t");
  if (!(ceremonyFingerprint instanceof Uint8Array) || ceremonyFingerprint.length < FINGERPRINT_MIN || ceremonyFingerprint.length > FINGERPRINT_MAX) {
    throw new CeremonyError(`ceremony fingerprint must be ${FINGERPRINT_MIN} to ${FINGERPRINT_MAX} bytes`);
  }
  return Object.freeze({ n, t, ceremonyFingerprint });
}

export function parametersToJson(p) {
  return { n: p.n, t: p.t, ceremony_fingerprint: toHex(p.ceremonyFingerprint) };
}

export function parametersFromJson(doc) {
  const d = object(doc, ["n", "t", "ceremony_fingerprint"], "ceremony parameters");
  return ceremonyParameters(int(d.n, "n"), int(d.t, "t"), hexAny(d.ceremony_fingerprint, "ceremony_fingerprint"));
}

const sameParameters = (a, b) => a.n === b.n && a.t === b.t && equalBytes(a.ceremonyFingerprint, b.ceremonyFingerprint);

// --- announcements -----------------------------------------------------------------

function coefficientContext(params, index, j, shareKey) {
  return ["ceremony", params.n, params.t, index, j, shareKey];
}

function announcement(index, commitments, proofs, sharePublicKey) {
  checkIndex(index, MAX_TRUSTEES, "trustee index");
  if (commitments.length !== proofs.length || !commitments.length) throw new CeremonyError("an announcement needs one proof per commitment");
  return Object.freeze({ index, commitments, proofs, sharePublicKey });
}

export function announcementToJson(a) {
  return {
    index: a.index,
    commitments: a.commitments.map((c) => c.hex()),
    proofs: a.proofs.map((p) => ({ c: p.challenge.hex(), s: p.response.hex() })),
    share_public_key: toHex(a.sharePublicKey),
  };
}

export function announcementFromJson(doc) {
  const d = object(doc, ["index", "commitments", "proofs", "share_public_key"], "an announcement");
  return announcement(
    int(d.index, "index"),
    list(d.commitments, "commitments").map((c) => Point.fromHex(c)),
    list(d.proofs, "proofs").map((p) => compactProofFromJson(p, "a Schnorr proof")),
    fromHex(d.share_public_key, 32, EncodingError, "share_public_key"),
  );
}

/** One trustee's announcement: index, t commitments (none the identity), every proof, a usable share key. */
export function verifyAnnouncement(params, a) {
  const i = a.index;
  checkIndex(i, params.n, "trustee index");
  if (a.commitments.length !== params.t || a.proofs.length !== params.t) throw new CeremonyError(`trustee ${i}: expected ${params.t} commitments and proofs`);
  checkSharePublicKey(a.sharePublicKey, i);
  a.commitments.forEach((commitment, j) => {
    if (commitment.isIdentity()) throw new CeremonyError(`trustee ${i}: commitment ${j} is the identity`);
    try {
      verifySchnorr(commitment, a.proofs[j], { fingerprint: params.ceremonyFingerprint, context: coefficientContext(params, i, j, a.sharePublicKey) });
    } catch (exc) {
      if (exc instanceof ProofError) throw new CeremonyError(`trustee ${i}: proof for coefficient ${j} does not verify`);
      throw exc;
    }
  });
}

/** Exactly one valid announcement per index 1..n, distinct share keys; sorted by index. */
export function verifyAnnouncements(params, announcements) {
  const ordered = [...announcements].sort((a, b) => a.index - b.index);
  if (ordered.map((a) => a.index).join(",") !== Array.from({ length: params.n }, (_, k) => k + 1).join(",")) {
    throw new CeremonyError(`need exactly one announcement from each trustee 1..${params.n}`);
  }
  if (new Set(ordered.map((a) => toHex(a.sharePublicKey))).size !== ordered.length) throw new CeremonyError("two trustees announced the same share key");
  for (const a of ordered) verifyAnnouncement(params, a);
  return ordered;
}

function jointCommitments(announcements) {
  if (!announcements.length) throw new CeremonyError("no announcements");
  if (new Set(announcements.map((a) => a.index)).size !== announcements.length) throw new CeremonyError("duplicate trustee index among the announcements");
  const t = announcements[0].commitments.length;
  if (announcements.some((a) => a.commitments.length !== t)) throw new CeremonyError("announcements disagree on the threshold");
  let joint = Array(t).fill(IDENTITY);
  for (const a of announcements) joint = joint.map((d, j) => d.add(a.commitments[j]));
  return joint;
}

/** K = prod_i C_i0 (from verified announcements). */
export function jointPublicKey(announcements) {
  const key = jointCommitments(announcements)[0];
  if (key.isIdentity()) throw new CeremonyError("the joint public key is the identity");
  return key;
}

/** K_l = g^{s_l}, computable by anyone from the verified announcements. */
export function publicShare(announcements, index) {
  if (!announcements.some((a) => a.index === index)) throw new CeremonyError(`trustee ${index} is not in the ceremony`);
  return evaluateInExponent(jointCommitments(announcements), index);
}

// --- the trustee's secrets (kept only in the trustee's own file) -----------------------

function trusteeSecrets(parameters, index, coefficients, sharePrivateKey) {
  checkIndex(index, parameters.n, "trustee index");
  if (coefficients.length !== parameters.t) throw new CeremonyError(`a polynomial of degree t-1 has ${parameters.t} coefficients`);
  if (!(sharePrivateKey instanceof Uint8Array) || sharePrivateKey.length !== 32) throw new CeremonyError("share private key must be 32 bytes");
  return Object.freeze({ parameters, index, coefficients, sharePrivateKey });
}

export const sharePublicKeyOf = (secrets) => x25519.getPublicKey(secrets.sharePrivateKey);

export function secretsToJson(s) {
  return {
    parameters: parametersToJson(s.parameters),
    index: s.index,
    coefficients: s.coefficients.map((a) => a.hex()),
    share_private_key: toHex(s.sharePrivateKey),
  };
}

export function secretsFromJson(doc) {
  const d = object(doc, ["parameters", "index", "coefficients", "share_private_key"], "trustee secrets");
  return trusteeSecrets(
    parametersFromJson(d.parameters),
    int(d.index, "index"),
    list(d.coefficients, "coefficients").map((a) => Scalar.fromHex(a)),
    fromHex(d.share_private_key, 32, EncodingError, "share_private_key"),
  );
}

function checkSameCeremony(params, secrets) {
  if (!sameParameters(secrets.parameters, params)) throw new CeremonyError("these trustee secrets belong to another ceremony");
}

/** Schnorr proof of knowledge of `secret` (crypto/proofs.py prove_schnorr). */
function proveSchnorr(secret, { fingerprint, context, rng }) {
  const k = rng();
  const c = challenge("schnorr", fingerprint, context, [G, gMul(secret)], [gMul(k)]);
  return { challenge: c, response: k.add(c.mul(secret)) };
}

export function makeAnnouncement(params, secrets, { rng = Scalar.random } = {}) {
  checkSameCeremony(params, secrets);
  const shareKey = sharePublicKeyOf(secrets);
  return announcement(
    secrets.index,
    secrets.coefficients.map((a) => gMul(a)),
    secrets.coefficients.map((a, j) =>
      proveSchnorr(a, { fingerprint: params.ceremonyFingerprint, context: coefficientContext(params, secrets.index, j, shareKey), rng }),
    ),
    shareKey,
  );
}

/** Trustee `index` draws its polynomial and share key: {secrets, announcement}. Save the secrets before publishing. */
export function startCeremony(params, index, { rng = Scalar.random, random = randomBytes } = {}) {
  const coefficients = Array.from({ length: params.t }, () => rng());
  const secrets = trusteeSecrets(params, index, coefficients, random(32));
  return { secrets, announcement: makeAnnouncement(params, secrets, { rng }) };
}

function checkOwnAnnouncement(secrets, ordered) {
  const own = ordered[secrets.index - 1];
  const mine = secrets.coefficients.map((a) => gMul(a));
  if (own.commitments.some((c, j) => !c.equals(mine[j])) || !equalBytes(own.sharePublicKey, sharePublicKeyOf(secrets))) {
    throw new CeremonyError(`the announcement for trustee ${secrets.index} is not this trustee's`);
  }
}

// --- encrypted shares ---------------------------------------------------------------

export function shareToJson(s) {
  return { sender: s.sender, recipient: s.recipient, ephemeral_public_key: toHex(s.ephemeralPublicKey), ciphertext: toHex(s.ciphertext) };
}

export function shareFromJson(doc) {
  const d = object(doc, ["sender", "recipient", "ephemeral_public_key", "ciphertext"], "an encrypted share");
  const sender = int(d.sender, "sender");
  const recipient = int(d.recipient, "recipient");
  checkIndex(sender, MAX_TRUSTEES, "sender");
  checkIndex(recipient, MAX_TRUSTEES, "recipient");
  return Object.freeze({
    sender,
    recipient,
    ephemeralPublicKey: fromHex(d.ephemeral_public_key, 32, EncodingError, "ephemeral_public_key"),
    ciphertext: fromHex(d.ciphertext, SHARE_CIPHERTEXT_BYTES, EncodingError, "ciphertext"),
  });
}

function shareAead(params, sender, recipient, sharedSecret, ephemeralPublicKey, recipientPublicKey) {
  const info = encodeParts(SHARE_KEY_TAG, params.ceremonyFingerprint, sender, recipient, ephemeralPublicKey, recipientPublicKey);
  const key = hkdf(sha256, sharedSecret, undefined, info, 32);
  const ad = encodeParts(SHARE_AD_TAG, params.ceremonyFingerprint, params.n, params.t, sender, recipient);
  return chacha20poly1305(key, SHARE_NONCE, ad);
}

/** P_i(l) encrypted to trustee l; `value` overrides P_i(l) (tests of a wrong share only). */
export function encryptShare(params, secrets, recipient, { value, random = randomBytes } = {}) {
  const i = secrets.index;
  const l = recipient.index;
  if (i === l) throw new CeremonyError("a trustee does not send a share to itself");
  const share = value ?? evaluate(secrets.coefficients, l);
  const ephemeral = random(32);
  const ephemeralPublic = x25519.getPublicKey(ephemeral);
  let shared;
  try {
    shared = x25519.getSharedSecret(ephemeral, recipient.sharePublicKey);
  } catch {
    throw new CeremonyError(`trustee ${l}: share key is a low-order X25519 point`);
  }
  const aead = shareAead(params, i, l, shared, ephemeralPublic, recipient.sharePublicKey);
  return Object.freeze({ sender: i, recipient: l, ephemeralPublicKey: ephemeralPublic, ciphertext: aead.encrypt(share.toBytes()) });
}

/** One share for every other trustee, only after all n announcements verify. Sorted by recipient. */
export function makeShares(params, secrets, announcements, { random = randomBytes } = {}) {
  checkSameCeremony(params, secrets);
  const ordered = verifyAnnouncements(params, announcements);
  checkOwnAnnouncement(secrets, ordered);
  return ordered.filter((a) => a.index !== secrets.index).map((a) => encryptShare(params, secrets, a, { random }));
}

/** Decrypt P_i(l) and check it against the sender's commitments (Feldman); ShareError names the sender. */
export function openShare(params, secrets, senderAnnouncement, share) {
  checkSameCeremony(params, secrets);
  const i = share.sender;
  const l = secrets.index;
  if (share.recipient !== l) throw shareError(i, `addressed to trustee ${share.recipient}, not ${l}`);
  if (senderAnnouncement.index !== i) throw new CeremonyError(`share from trustee ${i} checked against trustee ${senderAnnouncement.index}'s`);
  if (i === l) throw shareError(i, "a trustee does not send a share to itself");
  let shared;
  try {
    shared = x25519.getSharedSecret(secrets.sharePrivateKey, share.ephemeralPublicKey);
  } catch {
    throw shareError(i, "low-order ephemeral key");
  }
  const aead = shareAead(params, i, l, shared, share.ephemeralPublicKey, sharePublicKeyOf(secrets));
  let value;
  try {
    value = Scalar.fromBytes(aead.decrypt(share.ciphertext));
  } catch {
    throw shareError(i, "cannot be decrypted");
  }
  if (!gMul(value).equals(evaluateInExponent(senderAnnouncement.commitments, l))) throw shareError(i, "does not match the sender's commitments");
  return value;
}

// --- the finished key -----------------------------------------------------------------

function trusteeKey(parameters, index, secretShare, publicShareValue, jointKey) {
  checkIndex(index, parameters.n, "trustee index");
  if (!gMul(secretShare).equals(publicShareValue)) throw new CeremonyError("the public share does not match the secret share");
  if (jointKey.isIdentity()) throw new CeremonyError("the joint public key is the identity");
  return Object.freeze({ parameters, index, secretShare, publicShare: publicShareValue, jointPublicKey: jointKey });
}

export function keyToJson(k) {
  return {
    parameters: parametersToJson(k.parameters),
    index: k.index,
    secret_share: k.secretShare.hex(),
    public_share: k.publicShare.hex(),
    joint_public_key: k.jointPublicKey.hex(),
  };
}

export function keyFromJson(doc) {
  const d = object(doc, ["parameters", "index", "secret_share", "public_share", "joint_public_key"], "a trustee key");
  return trusteeKey(parametersFromJson(d.parameters), int(d.index, "index"), Scalar.fromHex(d.secret_share), Point.fromHex(d.public_share), Point.fromHex(d.joint_public_key));
}

/** Open one share from every other trustee and sum them into s_l. */
export function finishCeremony(params, secrets, announcements, sharesForMe) {
  checkSameCeremony(params, secrets);
  const ordered = verifyAnnouncements(params, announcements);
  checkOwnAnnouncement(secrets, ordered);
  const l = secrets.index;
  const bySender = new Map();
  for (const share of sharesForMe) {
    if (bySender.has(share.sender)) throw shareError(share.sender, "sent twice");
    bySender.set(share.sender, share);
  }
  let s = evaluate(secrets.coefficients, l);
  for (const a of ordered) {
    if (a.index === l) continue;
    const share = bySender.get(a.index);
    if (!share) throw shareError(a.index, "missing");
    bySender.delete(a.index);
    s = s.add(openShare(params, secrets, a, share));
  }
  if (bySender.size) throw shareError(Math.min(...bySender.keys()), "not expected");
  const pub = gMul(s);
  if (!pub.equals(publicShare(ordered, l))) throw new CeremonyError("the key share does not match the commitments");
  return trusteeKey(params, l, s, pub, jointPublicKey(ordered));
}

// --- partial decryption ---------------------------------------------------------------

const decryptionContext = (index, position) => ["partial-decryption", index, position];

export function partialToJson(p) {
  return { index: p.index, shares: p.shares.map((m) => m.hex()), proofs: p.proofs.map((q) => ({ c: q.challenge.hex(), s: q.response.hex() })) };
}

export function partialFromJson(doc) {
  const d = object(doc, ["index", "shares", "proofs"], "a partial decryption");
  const index = int(d.index, "index");
  checkIndex(index, MAX_TRUSTEES, "trustee index", PartialDecryptionError);
  const shares = list(d.shares, "shares").map((m) => Point.fromHex(m, { allowIdentity: true }));
  const proofs = list(d.proofs, "proofs").map((q) => compactProofFromJson(q, "a Chaum-Pedersen proof"));
  if (shares.length !== proofs.length) throw new PartialDecryptionError("a partial decryption needs one proof per share");
  return Object.freeze({ index, shares, proofs });
}

/** M_l = alpha^{s_l} with a Chaum-Pedersen proof, per ciphertext; `fingerprint` is the election fingerprint. */
export function partialDecrypt(key, ciphertexts, { fingerprint, rng = Scalar.random }) {
  const s = key.secretShare;
  const shares = [];
  const proofs = [];
  ciphertexts.forEach((c, position) => {
    const k = rng();
    const statement = [G, gMul(s), c.alpha, c.alpha.mul(s)];
    const ch = challenge("chaum-pedersen", fingerprint, decryptionContext(key.index, position), statement, [gMul(k), c.alpha.mul(k)]);
    shares.push(statement[3]);
    proofs.push({ challenge: ch, response: k.add(ch.mul(s)) });
  });
  return Object.freeze({ index: key.index, shares, proofs });
}

export function verifyPartialDecryption(announcements, ciphertexts, partial, { fingerprint }) {
  const l = partial.index;
  let kl;
  try {
    kl = publicShare(announcements, l);
  } catch (exc) {
    if (exc instanceof CeremonyError) throw new PartialDecryptionError(`trustee ${l} is not in the ceremony`);
    throw exc;
  }
  if (partial.shares.length !== ciphertexts.length || partial.proofs.length !== ciphertexts.length) {
    throw new PartialDecryptionError(`trustee ${l}: ${partial.shares.length} shares for ${ciphertexts.length} ciphertexts`);
  }
  ciphertexts.forEach((c, position) => {
    const m = partial.shares[position];
    if (c.alpha.isIdentity() && !m.isIdentity()) throw new PartialDecryptionError(`trustee ${l}, position ${position}: must be the identity`);
    try {
      verifyEqualLogs(G, kl, c.alpha, m, partial.proofs[position], { fingerprint, context: decryptionContext(l, position) });
    } catch (exc) {
      if (exc instanceof ProofError) throw new PartialDecryptionError(`trustee ${l}, position ${position}: proof does not verify`);
      throw exc;
    }
  });
}

// --- combination ------------------------------------------------------------------------

function inverse(scalar) {
  if (scalar.isZero()) throw new ThresholdError("zero has no inverse");
  let result = 1n;
  let base = scalar.value;
  for (let e = ORDER - 2n; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * base) % ORDER;
    base = (base * base) % ORDER;
  }
  return new Scalar(result);
}

/** lambda_l = prod_{j != l} j / (j - l) mod q. */
export function lagrangeCoefficient(index, indices) {
  if (new Set(indices).size !== indices.length) throw new ThresholdError("duplicate trustee index");
  if (!indices.includes(index)) throw new ThresholdError(`trustee ${index} is not among ${indices}`);
  if (indices.some((j) => !Number.isInteger(j) || j < 1)) throw new ThresholdError("trustee indices are positive integers");
  let numerator = Scalar.reduce(1);
  let denominator = Scalar.reduce(1);
  for (const j of indices) {
    if (j === index) continue;
    numerator = numerator.mul(Scalar.reduce(j));
    denominator = denominator.mul(Scalar.reduce(j - index));
  }
  return numerator.mul(inverse(denominator));
}

/** The plaintexts (each in [0, bound]) from at least `threshold` verified partial decryptions. */
export function combine(ciphertexts, partials, { threshold, bound }) {
  const indices = partials.map((p) => p.index);
  if (new Set(indices).size !== indices.length) throw new ThresholdError("duplicate trustee among the partial decryptions");
  if (indices.length < threshold || threshold < 1) throw new ThresholdError(`need ${threshold} trustees, have ${indices.length}`);
  for (const p of partials) {
    if (p.shares.length !== ciphertexts.length) throw new PartialDecryptionError(`trustee ${p.index}: wrong number of shares`);
  }
  const weights = indices.map((l) => lagrangeCoefficient(l, indices));
  return ciphertexts.map((c, position) => {
    let m = IDENTITY;
    partials.forEach((p, k) => {
      m = m.add(p.shares[position].mul(weights[k]));
    });
    const target = c.beta.sub(m);
    for (let value = 0; value <= bound; value++) if (gPow(value).equals(target)) return value;
    throw new ThresholdError(`a plaintext is not in [0, ${bound}]`);
  });
}

