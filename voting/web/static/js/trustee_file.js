// The trustee file (鍵管理者ファイル) the trustee page makes and opens: the
// CLI trustee's state (voting/client.py: server key, newest head seen,
// polynomial or finished key share, announcements digest) sealed under a PIN
// as the credential file is (PBKDF2-HMAC-SHA256 -> AES-256-GCM, WebCrypto),
// with the cleartext header as associated data. Format: docs/web.md,
// "The trustee file"; voting/trustee_file.py opens it in Python.

import { b64decode, b64encode, utf8 } from "./bytes.js";
import { canonicalJson, encodeParts } from "./encoding.js";
import { CryptoError } from "./errors.js";

export class TrusteeFileError extends CryptoError { static code = "trustee_file_invalid"; }

export const TRUSTEE_FILE_FORMAT = "votingpilot-trustee-file";
export const TRUSTEE_FILE_VERSION = 1;
export const TRUSTEE_FILE_TAG = "votingpilot/v1/trustee-file";
export const DEFAULT_ITERATIONS = 600_000;
const MAX_ITERATIONS = 10_000_000;
const MIN_PIN_LENGTH = 6;
const MAX_PIN_LENGTH = 128;
const MEMBERS = "cipher,election_id,employee_id,format,kdf,state,version";

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const b64 = (text, what) => b64decode(text, TrusteeFileError, what);

function pinBytes(pin) {
  if (typeof pin !== "string" || !pin) throw new TrusteeFileError("enter the PIN");
  const normalized = pin.normalize("NFKC"); // full-width digits typed through an IME are the same PIN
  const length = [...normalized].length;
  if (length < MIN_PIN_LENGTH || length > MAX_PIN_LENGTH) throw new TrusteeFileError(`the PIN must have ${MIN_PIN_LENGTH} to ${MAX_PIN_LENGTH} characters`);
  return utf8(normalized);
}

function aad(electionId, employeeId, iterations, salt) {
  return encodeParts(TRUSTEE_FILE_TAG, TRUSTEE_FILE_VERSION, electionId, employeeId, iterations, salt);
}

async function aesKey(pin, salt, iterations, usage) {
  const base = await crypto.subtle.importKey("raw", pinBytes(pin), "PBKDF2", false, ["deriveKey"]);
  return crypto.subtle.deriveKey({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, base, { name: "AES-GCM", length: 256 }, false, [usage]);
}

/** Seal the trustee's state (a JSON object) for `electionId` and `employeeId`. */
export async function sealTrusteeFile(state, pin, { electionId, employeeId, iterations = DEFAULT_ITERATIONS }) {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const key = await aesKey(pin, salt, iterations, "encrypt");
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv: nonce, additionalData: aad(electionId, employeeId, iterations, salt), tagLength: 128 },
    key,
    canonicalJson(state),
  );
  return {
    format: TRUSTEE_FILE_FORMAT,
    version: TRUSTEE_FILE_VERSION,
    election_id: electionId,
    employee_id: employeeId,
    kdf: { name: "PBKDF2-HMAC-SHA256", iterations, salt: b64encode(salt) },
    cipher: { name: "AES-256-GCM", nonce: b64encode(nonce) },
    state: b64encode(new Uint8Array(sealed)),
  };
}

/** Is this JSON a trustee file (by its shape, before any PIN)? */
export function isTrusteeFile(doc) {
  return isObject(doc) && doc.format === TRUSTEE_FILE_FORMAT;
}

/** Open a trustee file: {electionId, employeeId, state}. A wrong PIN and a damaged file give the same error. */
export async function openTrusteeFile(doc, pin) {
  if (!isObject(doc) || Object.keys(doc).sort().join(",") !== MEMBERS || doc.format !== TRUSTEE_FILE_FORMAT) {
    throw new TrusteeFileError("this is not a trustee file");
  }
  if (doc.version !== TRUSTEE_FILE_VERSION) throw new TrusteeFileError(`trustee file version ${doc.version} is not supported`);
  const { kdf, cipher } = doc;
  if (!isObject(kdf) || Object.keys(kdf).sort().join(",") !== "iterations,name,salt" || kdf.name !== "PBKDF2-HMAC-SHA256") {
    throw new TrusteeFileError("the trustee file's kdf must be PBKDF2-HMAC-SHA256");
  }
  if (!Number.isInteger(kdf.iterations) || kdf.iterations < 1 || kdf.iterations > MAX_ITERATIONS) throw new TrusteeFileError("the trustee file's iteration count is out of range");
  if (!isObject(cipher) || Object.keys(cipher).sort().join(",") !== "name,nonce" || cipher.name !== "AES-256-GCM") {
    throw new TrusteeFileError("the trustee file's cipher must be AES-256-GCM");
  }
  if (typeof doc.election_id !== "string" || typeof doc.employee_id !== "string") throw new TrusteeFileError("the trustee file's header is malformed");
  const salt = b64(kdf.salt, "the salt");
  const nonce = b64(cipher.nonce, "the nonce");
  if (salt.length !== 16 || nonce.length !== 12) throw new TrusteeFileError("the trustee file's salt or nonce has the wrong length");
  const key = await aesKey(pin, salt, kdf.iterations, "decrypt");
  let state;
  try {
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: nonce, additionalData: aad(doc.election_id, doc.employee_id, kdf.iterations, salt), tagLength: 128 },
      key,
      b64(doc.state, "the sealed state"),
    );
    state = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(plain));
  } catch {
    throw new TrusteeFileError("wrong PIN, or the trustee file is damaged");
  }
  if (!isObject(state) || (state.election_id !== undefined && state.election_id !== doc.election_id)) {
    throw new TrusteeFileError("the trustee file's state does not belong to its election");
  }
  return { electionId: doc.election_id, employeeId: doc.employee_id, state };
}
