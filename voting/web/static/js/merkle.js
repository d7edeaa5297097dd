// The bulletin board's Merkle tree (RFC 9162 section 2.1) and signed tree heads,
// mirroring crypto/log.py and docs/parts/log.md: the same strict JSON decoding,
// the verification steps of RFC 9162 2.1.3.2 and 2.1.4.2, and Ed25519 with the
// strict RFC 8032 rules (zip215: false), as the server (OpenSSL) applies them.

import { ed25519, sha256 } from "../vendor/noble.js";
import { concat, equalBytes, fromHex, isWellFormed } from "./bytes.js";
import { encodeParts } from "./encoding.js";
import { ConsistencyProofError, EncodingError, InclusionProofError, LogError, TreeHeadSignatureError } from "./errors.js";

export const HASH_SIZE = 32;
export const MAX_SIZE = Number.MAX_SAFE_INTEGER;
export const TREE_HEAD_TAG = "votingpilot/v1/tree-head";
export const EMPTY_ROOT = sha256(new Uint8Array(0));

export function leafHash(data) {
  return sha256(concat([Uint8Array.of(0), data]));
}

export function nodeHash(left, right) {
  return sha256(concat([Uint8Array.of(1), left, right]));
}

/** Reference Merkle Tree Hash (RFC 9162 2.1.1), O(n): for tests and small checks. */
export function rootFromLeaves(leafHashes) {
  if (!leafHashes.length) return EMPTY_ROOT;
  const mth = (leaves) => {
    if (leaves.length === 1) return leaves[0];
    const k = splitPoint(leaves.length);
    return nodeHash(mth(leaves.slice(0, k)), mth(leaves.slice(k)));
  };
  return mth(leafHashes);
}

// Sizes go up to 2^53 - 1, beyond 32-bit bitwise operators: use arithmetic.
const half = (n) => Math.floor(n / 2);
const isOdd = (n) => n % 2 === 1;

function isPowerOfTwo(n) {
  let k = 1;
  while (k < n) k *= 2;
  return k === n;
}

function splitPoint(n) {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function checkSize(value, what, error) {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > MAX_SIZE) {
    throw new error(`${what} must be an integer in [0, 2^53 - 1], got ${JSON.stringify(value)}`);
  }
}

function checkHash(value, what, error) {
  if (!(value instanceof Uint8Array) || value.length !== HASH_SIZE) throw new error(`${what} must be ${HASH_SIZE} bytes`);
}

function checkPath(proof, error) {
  if (!Array.isArray(proof)) throw new error("proof must be a list of hashes");
  for (const h of proof) checkHash(h, "proof hash", error);
  return [...proof];
}

function inclusionLength(index, size) {
  let count = 0;
  let start = 0;
  let end = size;
  while (end - start > 1) {
    const middle = start + splitPoint(end - start);
    if (index < middle) end = middle;
    else start = middle;
    count++;
  }
  return count;
}

function consistencyLength(oldSize, newSize) {
  let count = 0;
  let start = 0;
  let end = newSize;
  let wholeOldTree = true;
  while (end !== oldSize) {
    const middle = start + splitPoint(end - start);
    if (oldSize <= middle) end = middle;
    else {
      start = middle;
      wholeOldTree = false;
    }
    count++;
  }
  return count + (wholeOldTree ? 0 : 1);
}

/** Leaf `index` of the tree of `size` leaves with this root (RFC 9162 2.1.3.2). */
export function verifyInclusion(leaf, index, size, proof, root) {
  const err = InclusionProofError;
  checkHash(leaf, "leaf hash", err);
  checkSize(index, "leaf index", err);
  checkSize(size, "tree size", err);
  checkHash(root, "root", err);
  const path = checkPath(proof, err);
  if (index >= size) throw new err(`leaf index ${index} is not in a tree of size ${size}`);
  const expected = inclusionLength(index, size);
  if (path.length !== expected) throw new err(`proof has ${path.length} hashes, leaf ${index} of ${size} needs ${expected}`);
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) throw new err("proof is longer than the path to the root");
    if (isOdd(fn) || fn === sn) {
      r = nodeHash(p, r);
      while (fn !== 0 && !isOdd(fn)) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) throw new err("proof is shorter than the path to the root");
  if (!equalBytes(r, root)) throw new err("proof does not lead to the root");
}

/** The tree (oldSize, oldRoot) is a prefix of (newSize, newRoot) (RFC 9162 2.1.4.2). */
export function verifyConsistency(oldSize, newSize, oldRoot, newRoot, proof) {
  const err = ConsistencyProofError;
  checkSize(oldSize, "old size", err);
  checkSize(newSize, "new size", err);
  checkHash(oldRoot, "old root", err);
  checkHash(newRoot, "new root", err);
  let path = checkPath(proof, err);
  if (oldSize > newSize) throw new err(`old size ${oldSize} is larger than new size ${newSize}`);
  if (oldSize === newSize) {
    if (path.length) throw new err("equal sizes need an empty proof");
    if (!equalBytes(oldRoot, newRoot)) throw new err("equal sizes but different roots");
    if (oldSize === 0 && !equalBytes(oldRoot, EMPTY_ROOT)) throw new err("the root of the empty tree is SHA-256 of nothing");
    return;
  }
  if (oldSize === 0) throw new err("a consistency proof from the empty tree proves nothing");
  const expected = consistencyLength(oldSize, newSize);
  if (path.length !== expected) throw new err(`proof has ${path.length} hashes, ${oldSize} to ${newSize} needs ${expected}`);
  if (!path.length) throw new err("empty proof");
  // Step 2: a perfect old tree (a power of two) is itself the first node of the proof.
  if (isPowerOfTwo(oldSize)) path = [oldRoot, ...path];
  let fn = oldSize - 1;
  let sn = newSize - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) throw new err("proof is longer than the path to the root");
    if (isOdd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (fn !== 0 && !isOdd(fn)) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) throw new err("proof is shorter than the path to the root");
  if (!equalBytes(fr, oldRoot)) throw new err("proof does not lead to the old root");
  if (!equalBytes(sr, newRoot)) throw new err("proof does not lead to the new root");
}

// --- JSON forms (docs/parts/log.md, "JSON conventions") --------------------------------

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

function exactKeys(doc, keys) {
  return isObject(doc) && Object.keys(doc).sort().join(",") === [...keys].sort().join(",");
}

function jsonInt(value, what) {
  if (typeof value !== "number" || !Number.isInteger(value)) throw new EncodingError(`${what} must be an integer`);
  return value;
}

const hashFromHex = (text, what) => fromHex(text, HASH_SIZE, EncodingError, what);

function pathFromHex(doc) {
  if (!Array.isArray(doc)) throw new EncodingError("proof 'path' must be an array");
  return doc.map((h) => hashFromHex(h, "proof hash"));
}

export function inclusionProofFromJson(doc) {
  if (!exactKeys(doc, ["leaf_index", "tree_size", "path"])) {
    throw new EncodingError("an inclusion proof is an object with exactly 'leaf_index', 'tree_size' and 'path'");
  }
  return { leafIndex: jsonInt(doc.leaf_index, "leaf_index"), treeSize: jsonInt(doc.tree_size, "tree_size"), path: pathFromHex(doc.path) };
}

export function consistencyProofFromJson(doc) {
  if (!exactKeys(doc, ["old_size", "new_size", "path"])) {
    throw new EncodingError("a consistency proof is an object with exactly 'old_size', 'new_size' and 'path'");
  }
  return { oldSize: jsonInt(doc.old_size, "old_size"), newSize: jsonInt(doc.new_size, "new_size"), path: pathFromHex(doc.path) };
}

/** Strict decoding of a flat signed tree head {log_id, size, root, timestamp_ms, signature}. */
export function signedTreeHeadFromJson(doc) {
  const keys = ["log_id", "size", "root", "timestamp_ms", "signature"];
  if (!exactKeys(doc, keys)) throw new EncodingError(`a signed tree head is an object with exactly ${keys.sort().join(", ")}`);
  if (typeof doc.log_id !== "string") throw new EncodingError("log_id must be a string");
  const head = {
    logId: doc.log_id,
    size: jsonInt(doc.size, "size"),
    root: hashFromHex(doc.root, "root"),
    timestampMs: jsonInt(doc.timestamp_ms, "timestamp_ms"),
  };
  if (!head.logId) throw new LogError("log_id must be a non-empty string");
  if (!isWellFormed(head.logId)) throw new LogError("log_id is not valid Unicode text");
  checkSize(head.size, "tree size", LogError);
  checkSize(head.timestampMs, "timestamp_ms", LogError);
  if (head.size === 0 && !equalBytes(head.root, EMPTY_ROOT)) throw new LogError("the root of the empty tree is SHA-256 of nothing");
  return { head, signature: fromHex(doc.signature, 64, EncodingError, "signature") };
}

/** The exact bytes the server signs. */
export function treeHeadMessage(head) {
  return encodeParts(TREE_HEAD_TAG, head.logId, head.size, head.root, head.timestampMs);
}

/** Ed25519 (RFC 8032, strict) by the log's raw 32-byte public key. */
export function verifyTreeHead(publicKey, sth) {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) throw new TreeHeadSignatureError("an Ed25519 public key is 32 bytes");
  let ok = false;
  try {
    ok = ed25519.verify(sth.signature, treeHeadMessage(sth.head), publicKey, { zip215: false });
  } catch {
    ok = false;
  }
  if (!ok) throw new TreeHeadSignatureError("tree head signature does not verify");
}
