// Witness cosignatures on the bulletin board's tree heads, mirroring
// crypto/witness.py (docs/parts/witness.md): the manifest's witness policy
// (who the witnesses are and how many of them, the quorum k, must cosign),
// the exact bytes a witness signs, Ed25519 verification of a cosignature and
// the quorum rule, with the same strict JSON decoding and the same messages.
//
// A witness cosigns a newer head only after checking a consistency proof from
// the one it cosigned before, so a server that shows two groups of people two
// different boards (a split view) cannot get both cosigned by an honest witness.

import { ed25519 } from "../vendor/noble.js";
import { toHex } from "./bytes.js";
import { encodeParts } from "./encoding.js";
import { CosignatureError, ManifestError, QuorumError } from "./errors.js";
import { MAX_SIZE, signedTreeHeadFromJson, verifyTreeHead } from "./merkle.js";

export const COSIGNATURE_TAG = "votingpilot/v1/cosignature";
export const MAX_WITNESSES = 16;
const NAME_MAX = 64;
const URL_RE = /^https?:\/\/[A-Za-z0-9.\-[\]:]+(\/[A-Za-z0-9._~\-/]*)?$/;
const HEX64 = /^[0-9a-f]{64}$/;
// Python's str.isprintable(): no character of the categories Cc, Cf, Cs, Co, Cn,
// Zl, Zp or Zs, except the ASCII space.
const NOT_PRINTABLE = /(?! )[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const keysOf = (doc) => Object.keys(doc).sort().join(",");
const isInt = (v) => typeof v === "number" && Number.isInteger(v);

function hexBytes(text) {
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(2 * i, 2), 16);
  return out;
}

function parseWitness(doc, number) {
  const where = `witness ${number}`;
  const keys = isObject(doc) ? Object.keys(doc) : [];
  if (!isObject(doc) || !("name" in doc) || !("public_key" in doc) || keys.some((k) => !["name", "public_key", "url"].includes(k))) {
    throw new ManifestError(`${where}: must be an object with name, public_key and optionally url`);
  }
  const { name, public_key: key } = doc;
  const url = doc.url ?? null;
  if (typeof name !== "string" || [...name].length < 1 || [...name].length > NAME_MAX || NOT_PRINTABLE.test(name) || name !== name.replace(/^ +| +$/g, "")) {
    throw new ManifestError(`${where}: name must be 1-${NAME_MAX} printable characters`);
  }
  if (typeof key !== "string" || !HEX64.test(key)) throw new ManifestError(`${where}: public_key must be 64 lowercase hex digits`);
  if (url !== null && (typeof url !== "string" || url.length > 200 || !URL_RE.test(url))) {
    throw new ManifestError(`${where}: url must be an http(s) URL of at most 200 characters`);
  }
  return { name, publicKey: hexBytes(key), publicKeyHex: key, url };
}

/**
 * The manifest's `witnesses` member ({quorum, members: [{name, public_key, url?}]});
 * undefined or null (absent) is no witnesses, quorum 0. Returns {witnesses, quorum};
 * throws ManifestError with crypto/witness.py's messages.
 */
export function parseWitnessPolicy(doc) {
  if (doc === undefined || doc === null) return { witnesses: [], quorum: 0 };
  if (!isObject(doc) || keysOf(doc) !== "members,quorum") {
    throw new ManifestError("witnesses must be an object with exactly quorum and members");
  }
  const { members, quorum } = doc;
  if (!Array.isArray(members) || members.length > MAX_WITNESSES) {
    throw new ManifestError(`witnesses.members must be a list of at most ${MAX_WITNESSES} witnesses`);
  }
  const witnesses = members.map((m, i) => parseWitness(m, i + 1));
  if (new Set(witnesses.map((w) => w.publicKeyHex)).size !== witnesses.length) {
    throw new ManifestError("witnesses.members: two witnesses have the same public key");
  }
  if (!isInt(quorum) || quorum < (witnesses.length ? 1 : 0) || quorum > witnesses.length) {
    throw new ManifestError("witnesses.quorum must be an integer from 1 to the number of witnesses (0 without witnesses)");
  }
  return { witnesses, quorum };
}

/** The policy's witness with this raw public key, or null. */
export function witnessOf(policy, publicKey) {
  const hex = toHex(publicKey);
  return policy.witnesses.find((w) => w.publicKeyHex === hex) || null;
}

function hexField(text, length, what) {
  if (typeof text !== "string" || text.length !== 2 * length || !/^[0-9a-f]*$/.test(text)) {
    throw new CosignatureError(`${what} must be ${2 * length} lowercase hex digits`);
  }
  return hexBytes(text);
}

/** {witness_key, time_ms, signature} -> {witnessKey, timeMs, signature}; CosignatureError when malformed. */
export function cosignatureFromJson(doc) {
  if (!isObject(doc) || keysOf(doc) !== "signature,time_ms,witness_key") {
    throw new CosignatureError("a cosignature is an object with exactly ['signature', 'time_ms', 'witness_key']");
  }
  const timeMs = doc.time_ms;
  if (!isInt(timeMs) || timeMs < 0 || timeMs > MAX_SIZE) throw new CosignatureError("time_ms must be an integer in [0, 2^53 - 1]");
  return { witnessKey: hexField(doc.witness_key, 32, "witness_key"), timeMs, signature: hexField(doc.signature, 64, "signature") };
}

/** The exact bytes a witness signs: the tree head's parts and its own time. */
export function cosignatureMessage(head, timeMs) {
  return encodeParts(COSIGNATURE_TAG, head.logId, head.size, head.root, head.timestampMs, timeMs);
}

/** Throws CosignatureError unless `cosignature` is its key's signature on `head` (Ed25519, strict RFC 8032). */
export function verifyCosignature(head, cosignature) {
  let ok = false;
  try {
    ok = ed25519.verify(cosignature.signature, cosignatureMessage(head, cosignature.timeMs), cosignature.witnessKey, { zip215: false });
  } catch {
    ok = false;
  }
  if (!ok) throw new CosignatureError("the witness's cosignature does not verify");
}

/** {tree_head, cosignatures} -> {treeHead (a signed tree head), cosignatures}. */
export function cosignedHeadFromJson(doc) {
  if (!isObject(doc) || keysOf(doc) !== "cosignatures,tree_head") {
    throw new CosignatureError("a cosigned head is an object with exactly tree_head and cosignatures");
  }
  const { cosignatures } = doc;
  if (!Array.isArray(cosignatures) || cosignatures.length > MAX_WITNESSES) {
    throw new CosignatureError(`cosignatures must be a list of at most ${MAX_WITNESSES}`);
  }
  const treeHead = signedTreeHeadFromJson(doc.tree_head);
  return { treeHead, cosignatures: cosignatures.map(cosignatureFromJson) };
}

/**
 * The head is signed by `serverKey` (32 bytes) and cosigned by at least
 * `policy.quorum` distinct witnesses of the election. Cosignatures by keys the
 * election does not name, or that do not verify, count for nothing. Returns
 * the witnesses that cosigned; throws QuorumError (or TreeHeadSignatureError).
 */
export function checkQuorum(policy, serverKey, cosigned) {
  verifyTreeHead(serverKey, cosigned.treeHead);
  const head = cosigned.treeHead.head;
  const signed = new Map();
  for (const cosignature of cosigned.cosignatures) {
    const witness = witnessOf(policy, cosignature.witnessKey);
    if (witness === null || signed.has(witness.publicKeyHex)) continue;
    try {
      verifyCosignature(head, cosignature);
    } catch (exc) {
      if (exc instanceof CosignatureError) continue;
      throw exc;
    }
    signed.set(witness.publicKeyHex, witness);
  }
  if (signed.size < policy.quorum) {
    const missing = policy.witnesses.filter((w) => !signed.has(w.publicKeyHex)).map((w) => w.name);
    throw new QuorumError(
      `tree head ${head.size} is cosigned by ${signed.size} of the election's witnesses, ` +
        `${policy.quorum} are needed (not cosigned by: ${missing.join(", ")})`,
    );
  }
  return [...signed.values()];
}

/** Where a witness serves the newest head it cosigned for an election (its `--listen` log), or null. */
export function witnessLogUrl(witness, electionId) {
  if (!witness.url) return null;
  return `${witness.url.replace(/\/+$/, "")}/elections/${encodeURIComponent(electionId)}`;
}
