// Cast receipts, mirroring crypto/receipts.py: the server's signature over the
// receipt, the tree head's signature, that the entry is this ballot at this
// index, its inclusion under the head, and (with a newer head) consistency.
// A receipt may carry `witnessed`: a head the election's witnesses cosigned
// that extends the receipt's head (witness.js); anyone may add it (it proves
// itself), so the server's signature does not cover it.

import { ed25519 } from "../vendor/noble.js";
import { ballotFromJson, electionFingerprint, parseManifest, trackingCode } from "./ballots.js";
import { fromHex, toHex } from "./bytes.js";
import { canonicalJson, encodeParts } from "./encoding.js";
import { CryptoError, EncodingError, ReceiptError } from "./errors.js";
import { Point } from "./group.js";
import {
  consistencyProofFromJson,
  inclusionProofFromJson,
  leafHash,
  signedTreeHeadFromJson,
  verifyConsistency,
  verifyInclusion,
  verifyTreeHead,
} from "./merkle.js";
import { checkQuorum, cosignedHeadFromJson } from "./witness.js";

export const RECEIPT_TAG = "votingpilot/v1/receipt";
export const RECEIPT_VERSION = 1;
const RECEIPT_FIELDS = [
  "election_id",
  "entry",
  "inclusion_proof",
  "leaf_index",
  "server_key",
  "signature",
  "tracking_code",
  "tree_head",
  "version",
];
export const WITNESSED = "witnessed";

export function receiptMessage(receipt) {
  const body = {};
  for (const [k, v] of Object.entries(receipt)) if (k !== "signature" && k !== WITNESSED) body[k] = v;
  return encodeParts(RECEIPT_TAG, canonicalJson(body));
}

function isObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/**
 * Check a receipt on its own; returns its signed tree head. `serverKey` (32
 * bytes) pins the expected key; without it the receipt's own key is used, which
 * proves integrity but not origin. `kind` is the board entry's kind: "ballot"
 * for a cast receipt, "ballot-audited" for a published audit (same shape).
 */
export function verifyReceipt(receipt, { serverKey, kind = "ballot" } = {}) {
  if (!isObject(receipt) || Object.keys(receipt).filter((k) => k !== WITNESSED).sort().join(",") !== RECEIPT_FIELDS.join(",")) {
    throw new ReceiptError(`a receipt is an object with exactly ${RECEIPT_FIELDS.join(", ")} (and optionally ${WITNESSED})`);
  }
  if (receipt.version !== RECEIPT_VERSION) throw new ReceiptError("unsupported receipt version");
  let keyBytes;
  let signature;
  try {
    keyBytes = fromHex(receipt.server_key, 32, ReceiptError, "server_key");
    signature = fromHex(receipt.signature, 64, ReceiptError, "signature");
  } catch {
    throw new ReceiptError("server_key and signature must be hex");
  }
  if (serverKey && fromHexOrBytes(serverKey).some((b, i) => b !== keyBytes[i])) {
    throw new ReceiptError("the receipt was signed by another server key");
  }
  let ok = false;
  try {
    ok = ed25519.verify(signature, receiptMessage(receipt), keyBytes, { zip215: false });
  } catch (exc) {
    if (exc instanceof CryptoError) throw new ReceiptError(`the receipt is not canonical JSON: ${exc.message}`);
    ok = false;
  }
  if (!ok) throw new ReceiptError("the server's signature on the receipt does not verify");
  const sth = signedTreeHeadFromJson(receipt.tree_head);
  verifyTreeHead(keyBytes, sth);
  const entry = receipt.entry;
  if (
    !isObject(entry) ||
    entry.kind !== kind ||
    entry.index !== receipt.leaf_index ||
    entry.election_id !== receipt.election_id ||
    !isObject(entry.body) ||
    entry.body.tracking_code !== receipt.tracking_code
  ) {
    throw new ReceiptError("the receipt's board entry is not this ballot");
  }
  if (sth.head.logId !== receipt.election_id) throw new ReceiptError("the tree head is for another election");
  const proof = inclusionProofFromJson(receipt.inclusion_proof);
  if (proof.leafIndex !== receipt.leaf_index || proof.treeSize !== sth.head.size) {
    throw new ReceiptError("the inclusion proof does not match the tree head");
  }
  let leaf;
  try {
    leaf = leafHash(canonicalJson(entry));
  } catch (exc) {
    if (exc instanceof EncodingError) throw new ReceiptError(`the entry is not canonical JSON: ${exc.message}`);
    throw exc;
  }
  verifyInclusion(leaf, proof.leafIndex, proof.treeSize, proof.path, sth.head.root);
  return sth;
}

function fromHexOrBytes(key) {
  if (key instanceof Uint8Array) {
    if (key.length !== 32) throw new ReceiptError("a server key is 32 bytes");
    return key;
  }
  return fromHex(key, 32, ReceiptError, "server key");
}

/**
 * The receipt checks out and its head is a prefix of `newest` (a decoded signed
 * tree head), by the consistency proof document {old_size, new_size, path}.
 */
export function verifyReceiptAgainst(receipt, newest, consistencyDoc, { serverKey } = {}) {
  const sth = verifyReceipt(receipt, { serverKey });
  const key = serverKey ? fromHexOrBytes(serverKey) : fromHex(receipt.server_key, 32);
  verifyTreeHead(key, newest);
  if (newest.head.logId !== sth.head.logId) throw new ReceiptError("the newest tree head is for another election");
  const consistency = consistencyProofFromJson(consistencyDoc);
  if (consistency.oldSize !== sth.head.size || consistency.newSize !== newest.head.size) {
    throw new ReceiptError("the consistency proof is for other tree sizes");
  }
  verifyConsistency(consistency.oldSize, consistency.newSize, sth.head.root, newest.head.root, consistency.path);
  return { receiptHead: sth, newestHead: newest };
}

// --- witnesses -------------------------------------------------------------------------

/**
 * The witness policy ({witnesses, quorum}) of the election the receipt's ballot
 * was made for. `created` and `joint` are the board's election-created and
 * joint-key entries, as any server hands them out: they are trusted only
 * because the receipt's tracking code, which the voter noted, recomputes from
 * the fingerprint of that manifest and joint key. A server cannot show the
 * voter a manifest with witnesses of its own choosing.
 */
export function witnessPolicyFor(receipt, created, joint) {
  let manifest;
  let fingerprint;
  let ballot;
  try {
    manifest = parseManifest(created.body.manifest);
    const key = Point.fromHex(joint.body.joint_key);
    fingerprint = electionFingerprint(manifest, key);
    ballot = receipt.entry.body.ballot;
    ballotFromJson(ballot, manifest);
  } catch (exc) {
    if (exc instanceof CryptoError || exc instanceof TypeError) {
      throw new ReceiptError(`the election's manifest or key on the board is malformed: ${exc.message}`);
    }
    throw exc;
  }
  if (manifest.electionId !== receipt.election_id || toHex(trackingCode(fingerprint, ballot)) !== receipt.tracking_code) {
    throw new ReceiptError("the board's manifest and election key are not the ones this ballot was made for");
  }
  return manifest.witnesses;
}

/** The `witnessed` member to add to a receipt, from the JSON forms of the cosigned head and the consistency proof. */
export function witnessedJson(cosignedDoc, consistencyDoc) {
  return { cosigned: cosignedDoc, consistency: consistencyDoc };
}

/**
 * `later` (a decoded signed tree head) is signed by `serverKey`, for the same
 * election, and extends `sth` by the decoded consistency proof `proof`.
 */
export function extendReceiptHead(sth, later, proof, serverKey) {
  verifyTreeHead(serverKey, later);
  if (later.head.logId !== sth.head.logId) throw new ReceiptError("the witnessed head is for another election");
  if (proof.oldSize !== sth.head.size || proof.newSize !== later.head.size) throw new ReceiptError("the consistency proof is for other tree sizes");
  verifyConsistency(proof.oldSize, proof.newSize, sth.head.root, later.head.root, proof.path);
}

/**
 * Check the receipt and its `witnessed` completion: a head signed by the
 * server and cosigned by the quorum of `policy` that extends the receipt's
 * head (so the ballot is under it). Returns {cosigned, witnesses}. Throws
 * ReceiptError (ConsistencyProofError, TreeHeadSignatureError), or QuorumError
 * when too few cosigned.
 */
export function verifyWitnessed(receipt, policy, { serverKey } = {}) {
  const sth = verifyReceipt(receipt, { serverKey });
  const doc = receipt[WITNESSED];
  if (!isObject(doc) || Object.keys(doc).sort().join(",") !== "consistency,cosigned") {
    throw new ReceiptError("the receipt has no head cosigned by the witnesses yet");
  }
  const key = serverKey ? fromHexOrBytes(serverKey) : fromHex(receipt.server_key, 32);
  let cosigned;
  let proof;
  try {
    cosigned = cosignedHeadFromJson(doc.cosigned);
    proof = consistencyProofFromJson(doc.consistency);
  } catch (exc) {
    if (exc instanceof CryptoError) throw new ReceiptError(`the receipt's witnessed head is malformed: ${exc.message}`);
    throw exc;
  }
  extendReceiptHead(sth, cosigned.treeHead, proof, key);
  return { cosigned, witnesses: checkQuorum(policy, key, cosigned) };
}
