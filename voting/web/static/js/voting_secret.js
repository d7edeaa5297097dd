// The voting secret of a session that logged in with the card in this computer
// (a TLS client certificate): the page holds no key that could derive the
// per-election voting credential (voting_credential.js) or sign its
// registration, so this browser makes a random 32-byte secret per employee and
// election, keeps it in IndexedDB, and offers it as a file to keep. The voting
// credential is votingCredential(secret, electionId) as for a credential file;
// the server attests the registration (docs/web.md, "The card in this computer").
//
// Without the secret (another computer, a cleared browser) the registered
// credential cannot sign again: the kept file brings it back. The secret alone
// casts nothing: every cast also needs the card's session.

import { fromHex, toHex } from "./bytes.js";
import { CredentialError } from "./errors.js";
import { votingCredential } from "./voting_credential.js";

export const SECRET_FORMAT = "votingpilot-voting-secret";
export const SECRET_VERSION = 1;
const DATABASE = "votingpilot";
const STORE = "voting-secrets";
const HEX_32 = /^[0-9a-f]{64}$/;

const keyOf = (employeeId, electionId) => `${electionId}\n${employeeId}`;

function open() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DATABASE, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function transact(mode, work) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = work(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

/** The secret this browser keeps for the employee and election (32 bytes), or null. */
export async function keptSecret(employeeId, electionId) {
  const value = await transact("readonly", (store) => store.get(keyOf(employeeId, electionId)));
  return typeof value === "string" && HEX_32.test(value) ? fromHex(value, 32) : null;
}

export async function keepSecret(employeeId, electionId, secret) {
  await transact("readwrite", (store) => store.put(toHex(secret), keyOf(employeeId, electionId)));
}

/** A fresh random secret (WebCrypto). */
export function newSecret() {
  return crypto.getRandomValues(new Uint8Array(32));
}

/** The file offered to keep: the secret, whose it is, and the credential it gives. */
export function secretFile(employeeId, electionId, secret) {
  return {
    format: SECRET_FORMAT,
    version: SECRET_VERSION,
    employee_id: employeeId,
    election_id: electionId,
    secret: toHex(secret),
    credential: votingCredential(secret, electionId).hex,
  };
}

/** A kept file that is not this employee's secret for this election; `reason` says why. */
export class SecretFileError extends CredentialError {
  constructor(reason) {
    super(`not this election's voting secret (${reason})`);
    this.reason = reason;
  }
}

/**
 * The secret of a kept file, for this employee and election; a SecretFileError
 * whose reason says what is wrong: "not_secret_file", "other_employee",
 * "other_election", "damaged" (the secret does not give the credential it names).
 */
export function secretFromFile(doc, employeeId, electionId) {
  const refuse = (reason) => new SecretFileError(reason);
  if (!doc || typeof doc !== "object" || doc.format !== SECRET_FORMAT || doc.version !== SECRET_VERSION) throw refuse("not_secret_file");
  if (typeof doc.secret !== "string" || !HEX_32.test(doc.secret) || typeof doc.credential !== "string") throw refuse("damaged");
  if (doc.employee_id !== employeeId) throw refuse("other_employee");
  if (doc.election_id !== electionId) throw refuse("other_election");
  const secret = fromHex(doc.secret, 32);
  if (votingCredential(secret, electionId).hex !== doc.credential) throw refuse("damaged");
  return secret;
}
