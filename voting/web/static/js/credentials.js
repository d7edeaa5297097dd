// The employee's credential in the browser, with WebCrypto only, mirroring
// crypto/credentials (docs/parts/credentials.md):
//
// * openCredential: the PIN-protected credential file (PBKDF2-HMAC-SHA256 ->
//   AES-256-GCM with the cleartext fields as associated data -> PKCS#8 key);
// * makeLoginToken: the compact JWS that answers the server's challenge;
// * signRegistration: the certificate key's signature registering the
//   per-election voting credential (voting_credential.js), which signs ballots.
//
// The private key is imported non-extractable and never leaves WebCrypto. The
// decrypted PKCS#8 bytes are kept only long enough to compute the credential
// secret (credentialSecret), from which each election's voting credential is
// derived, then zeroed.

import { sha256 } from "../vendor/noble.js";
import { b64decode, b64urlEncode, utf8 } from "./bytes.js";
import { canonicalJsonText, encodeParts } from "./encoding.js";
import { CredentialError, WeakKeyError } from "./errors.js";

export const ALGORITHMS = ["ES256", "RS256", "EdDSA"];
export const BALLOT_SIGNATURE_TAG = "votingpilot/v1/ballot-signature";
export const CREDENTIAL_SECRET_TAG = "votingpilot/v1/credential-secret";
export const CREDENTIAL_FILE_TAG = "votingpilot/v1/credential-file";
export const CREDENTIAL_FORMAT = "votingpilot-credential";
export const CREDENTIAL_VERSION = 1;
export const DEFAULT_TOKEN_LIFETIME_S = 120;
const MAX_PBKDF2_ITERATIONS = 10_000_000;
const MAX_CHAIN_LENGTH = 4;
const MAX_NAME_LENGTH = 64;
const MAX_PIN_LENGTH = 128;
const MEMBERS = ["alg", "chain", "cipher", "employee_id", "format", "kdf", "key", "name", "version"];
const EMPLOYEE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const NONCE = /^[A-Za-z0-9_-]{16,128}$/;

const IMPORT = {
  ES256: { name: "ECDSA", namedCurve: "P-256" },
  RS256: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
  EdDSA: { name: "Ed25519" },
};
const SIGN = {
  ES256: { name: "ECDSA", hash: "SHA-256" }, // WebCrypto returns the raw r || s of RFC 7518 3.4
  RS256: { name: "RSASSA-PKCS1-v1_5" },
  EdDSA: { name: "Ed25519" },
};

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const b64 = (text, what) => b64decode(text, CredentialError, what);

function checkName(name) {
  if (typeof name !== "string" || name.length < 1 || name.length > MAX_NAME_LENGTH) {
    throw new CredentialError(`the name must be 1 to ${MAX_NAME_LENGTH} characters`);
  }
}

/** NFKC (full-width digits typed through a Japanese IME are the same PIN), then UTF-8. */
function normalizePin(pin) {
  if (typeof pin !== "string" || !pin) throw new CredentialError("enter the PIN of the credential file");
  const normalized = pin.normalize("NFKC");
  if ([...normalized].length > MAX_PIN_LENGTH) throw new CredentialError(`the PIN must have at most ${MAX_PIN_LENGTH} characters`);
  return utf8(normalized, CredentialError);
}

function credentialAad(alg, employeeId, name, chainDer, iterations, salt) {
  return encodeParts(CREDENTIAL_FILE_TAG, CREDENTIAL_VERSION, alg, employeeId, name, chainDer, iterations, salt);
}

/** Check the file's shape (everything that can be checked without the PIN). */
export function parseCredentialFile(doc) {
  if (!isObject(doc)) throw new CredentialError("the credential file must be a JSON object");
  if (Object.keys(doc).sort().join(",") !== MEMBERS.join(",")) {
    throw new CredentialError("the credential file's members are not those of a credential file");
  }
  if (doc.format !== CREDENTIAL_FORMAT || !Number.isInteger(doc.version)) throw new CredentialError("this is not a voting pilot credential file");
  if (doc.version !== CREDENTIAL_VERSION) throw new CredentialError(`credential file version ${doc.version} is not supported`);
  if (!ALGORITHMS.includes(doc.alg)) throw new CredentialError("the credential file's alg is not supported");
  if (typeof doc.employee_id !== "string" || !EMPLOYEE_ID.test(doc.employee_id)) {
    throw new CredentialError("the credential file's employee id is not valid");
  }
  checkName(doc.name);
  if (!Array.isArray(doc.chain) || doc.chain.length < 1 || doc.chain.length > MAX_CHAIN_LENGTH) {
    throw new CredentialError(`the credential file's chain must hold 1 to ${MAX_CHAIN_LENGTH} certificates`);
  }
  const chainDer = doc.chain.map((item) => b64(item, "a certificate in the credential file"));
  const kdf = doc.kdf;
  if (!isObject(kdf) || Object.keys(kdf).sort().join(",") !== "iterations,name,salt" || kdf.name !== "PBKDF2-HMAC-SHA256") {
    throw new CredentialError("the credential file's kdf must be PBKDF2-HMAC-SHA256 with iterations and salt");
  }
  if (!Number.isInteger(kdf.iterations) || kdf.iterations < 1 || kdf.iterations > MAX_PBKDF2_ITERATIONS) {
    throw new CredentialError(`the credential file's iteration count must be in 1..${MAX_PBKDF2_ITERATIONS}`);
  }
  const salt = b64(kdf.salt, "the credential file's salt");
  if (salt.length !== 16) throw new CredentialError("the credential file's salt must be 16 bytes");
  const cipher = doc.cipher;
  if (!isObject(cipher) || Object.keys(cipher).sort().join(",") !== "name,nonce" || cipher.name !== "AES-256-GCM") {
    throw new CredentialError("the credential file's cipher must be AES-256-GCM with a nonce");
  }
  const nonce = b64(cipher.nonce, "the credential file's nonce");
  if (nonce.length !== 12) throw new CredentialError("the credential file's nonce must be 12 bytes");
  const ciphertext = b64(doc.key, "the credential file's key");
  if (ciphertext.length <= 16) throw new CredentialError("the credential file's key is too short");
  return { alg: doc.alg, employeeId: doc.employee_id, name: doc.name, chain: [...doc.chain], chainDer, iterations: kdf.iterations, salt, nonce, ciphertext };
}

/**
 * The employee credential's secret (32 bytes): SHA-256 of the tagged PKCS#8 DER
 * exactly as sealed in the credential file (crypto/credentials credential_secret).
 */
export function credentialSecret(pkcs8) {
  if (!(pkcs8 instanceof Uint8Array) || !pkcs8.length) throw new CredentialError("the PKCS#8 key must be non-empty bytes");
  return sha256(encodeParts(CREDENTIAL_SECRET_TAG, pkcs8));
}

/**
 * Open a credential file with its PIN: {alg, employeeId, name, chain (base64
 * DER, leaf first), privateKey (non-extractable CryptoKey), secret (the
 * credential secret, 32 bytes, from the decrypted PKCS#8 bytes)}. A wrong PIN and a
 * damaged file give the same error, as in Python.
 */
export async function openCredential(doc, pin) {
  const f = parseCredentialFile(doc);
  const pinBytes = normalizePin(pin);
  const subtle = crypto.subtle;
  const base = await subtle.importKey("raw", pinBytes, "PBKDF2", false, ["deriveKey"]);
  const aesKey = await subtle.deriveKey(
    { name: "PBKDF2", hash: "SHA-256", salt: f.salt, iterations: f.iterations },
    base,
    { name: "AES-GCM", length: 256 },
    false,
    ["decrypt"],
  );
  let pkcs8;
  try {
    const aad = credentialAad(f.alg, f.employeeId, f.name, f.chainDer, f.iterations, f.salt);
    pkcs8 = new Uint8Array(await subtle.decrypt({ name: "AES-GCM", iv: f.nonce, additionalData: aad, tagLength: 128 }, aesKey, f.ciphertext));
  } catch {
    throw new CredentialError("wrong PIN, or the credential file is damaged");
  }
  let privateKey;
  let check;
  const secret = credentialSecret(pkcs8);
  try {
    check = await subtle.importKey("pkcs8", pkcs8, IMPORT[f.alg], true, ["sign"]);
    privateKey = await subtle.importKey("pkcs8", pkcs8, IMPORT[f.alg], false, ["sign"]);
  } catch {
    throw new CredentialError("the credential file's alg does not match its key");
  } finally {
    pkcs8.fill(0);
  }
  await checkKeyMatchesCertificate(check, f.alg, f.chainDer[0]);
  return { alg: f.alg, employeeId: f.employeeId, name: f.name, chain: f.chain, privateKey, secret };
}

// --- the key belongs to the certificate -----------------------------------------------

/** Read one DER TLV at `offset`: {tag, start (of the value), end}. */
function tlv(der, offset) {
  const tag = der[offset];
  let length = der[offset + 1];
  let start = offset + 2;
  if (length & 0x80) {
    const n = length & 0x7f;
    if (n < 1 || n > 3) throw new CredentialError("the certificate cannot be parsed");
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + der[start + i];
    start += n;
  }
  if (tag === undefined || start + length > der.length) throw new CredentialError("the certificate cannot be parsed");
  return { tag, start, end: start + length };
}

/** The SubjectPublicKeyInfo of an X.509 certificate (RFC 5280 4.1), as DER bytes. */
export function certificateSpki(der) {
  const cert = tlv(der, 0);
  const tbs = tlv(der, cert.start);
  let offset = tbs.start;
  let field = tlv(der, offset);
  if (field.tag === 0xa0) {
    offset = field.end; // [0] version
    field = tlv(der, offset);
  }
  // serialNumber, signature, issuer, validity, subject, then subjectPublicKeyInfo
  for (let i = 0; i < 5; i++) {
    offset = field.end;
    field = tlv(der, offset);
  }
  if (field.tag !== 0x30) throw new CredentialError("the certificate cannot be parsed");
  return der.subarray(offset, field.end);
}

async function checkKeyMatchesCertificate(privateKey, alg, leafDer) {
  const subtle = crypto.subtle;
  let certJwk;
  try {
    const publicKey = await subtle.importKey("spki", certificateSpki(leafDer), IMPORT[alg], true, ["verify"]);
    certJwk = await subtle.exportKey("jwk", publicKey);
  } catch (exc) {
    if (exc instanceof CredentialError) throw exc;
    throw new WeakKeyError("the certificate's key is not of the credential file's alg");
  }
  const keyJwk = await subtle.exportKey("jwk", privateKey);
  const fields = alg === "RS256" ? ["n", "e"] : alg === "ES256" ? ["crv", "x", "y"] : ["crv", "x"];
  if (fields.some((f) => certJwk[f] !== keyJwk[f])) {
    throw new CredentialError("the credential file's key does not belong to its certificate");
  }
}

// --- signing ---------------------------------------------------------------------------

async function sign(credential, message) {
  return new Uint8Array(await crypto.subtle.sign(SIGN[credential.alg], credential.privateKey, message));
}

/**
 * A compact JWS answering the server's challenge {nonce, audience}: header
 * {alg, x5c}, payload {aud, exp, iat, nonce, sub}, both canonical JSON.
 * `now` is in seconds since 1970 (the device's clock by default).
 */
export async function makeLoginToken(credential, { nonce, audience, now = Math.floor(Date.now() / 1000), lifetimeS = DEFAULT_TOKEN_LIFETIME_S }) {
  if (typeof nonce !== "string" || !NONCE.test(nonce)) throw new Error("nonce must be 16 to 128 base64url characters");
  if (typeof audience !== "string" || !audience || audience.length > 256) throw new Error("audience must be a non-empty string");
  if (!(lifetimeS > 0 && lifetimeS <= 300)) throw new Error("lifetimeS must be in 1..300");
  const header = { alg: credential.alg, x5c: credential.chain };
  const payload = { aud: audience, exp: now + lifetimeS, iat: now, nonce, sub: credential.employeeId };
  const signingInput = b64urlEncode(utf8(canonicalJsonText(header))) + "." + b64urlEncode(utf8(canonicalJsonText(payload)));
  const signature = await sign(credential, utf8(signingInput));
  return signingInput + "." + b64urlEncode(signature);
}

export function ballotSignatureMessage(electionFingerprint, trackingCode) {
  for (const value of [electionFingerprint, trackingCode]) {
    if (!(value instanceof Uint8Array) || !value.length) throw new Error("fingerprint and tracking code must be non-empty bytes");
  }
  return encodeParts(BALLOT_SIGNATURE_TAG, electionFingerprint, trackingCode);
}

/** The voter's key signs the tracking code of the ballot they cast (eligibility verifiability). */
export async function signBallot(credential, electionFingerprint, trackingCode) {
  return sign(credential, ballotSignatureMessage(electionFingerprint, trackingCode));
}


/**
 * The certificate key's signature (JWS form, as Python's _sign) registering a
 * voting credential: over registrationMessage(electionId, credentialPub).
 */
export async function signRegistration(credential, message) {
  if (!(message instanceof Uint8Array) || !message.length) throw new Error("the registration message must be non-empty bytes");
  return sign(credential, message);
}
