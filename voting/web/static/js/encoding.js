// The canonical byte encodings that are hashed or signed, mirroring
// crypto/encoding.py (docs/parts/core.md, "Encodings"):
//
// * encodeParts: typed, length-prefixed parts — the input of every challenge;
// * canonicalJson: RFC 8785 (JCS) for the float-free subset of JSON.
//
// Parts: Point ('P'), Scalar ('S'), Uint8Array ('B'), string ('T', UTF-8),
// number or bigint ('I', an integer in [0, 2^64), 8 bytes big-endian), Array ('L',
// its item count, then the items).

import { sha256, sha512 } from "../vendor/noble.js";
import { concat, isWellFormed, utf8 } from "./bytes.js";
import { EncodingError } from "./errors.js";
import { Point, Scalar } from "./group.js";

const TAG_BYTES = 0x42; // B
const TAG_TEXT = 0x54; // T
const TAG_INT = 0x49; // I
const TAG_POINT = 0x50; // P
const TAG_SCALAR = 0x53; // S
const TAG_LIST = 0x4c; // L
const MAX_U64 = (1n << 64n) - 1n;

function header(tag, length) {
  if (length >= 2 ** 32) throw new EncodingError("part too long for a 4-byte length");
  const out = new Uint8Array(5);
  out[0] = tag;
  new DataView(out.buffer).setUint32(1, length);
  return out;
}

function encodeOne(part, out) {
  if (part instanceof Point) {
    out.push(header(TAG_POINT, 32), part.toBytes());
  } else if (part instanceof Scalar) {
    out.push(header(TAG_SCALAR, 32), part.toBytes());
  } else if (part instanceof Uint8Array) {
    out.push(header(TAG_BYTES, part.length), part);
  } else if (typeof part === "string") {
    const raw = utf8(part);
    out.push(header(TAG_TEXT, raw.length), raw);
  } else if (typeof part === "boolean") {
    throw new EncodingError("booleans are not encodable parts");
  } else if (typeof part === "number" || typeof part === "bigint") {
    if (typeof part === "number" && !Number.isSafeInteger(part)) throw new EncodingError("integer part must be a safe integer");
    const value = BigInt(part);
    if (value < 0n || value > MAX_U64) throw new EncodingError("integer part out of range [0, 2^64)");
    const payload = new Uint8Array(8);
    new DataView(payload.buffer).setBigUint64(0, value);
    out.push(header(TAG_INT, 8), payload);
  } else if (Array.isArray(part)) {
    out.push(header(TAG_LIST, part.length));
    for (const item of part) encodeOne(item, out);
  } else {
    throw new EncodingError(`cannot encode ${part === null ? "null" : typeof part}`);
  }
}

/** tag (1 byte) | length (4 bytes BE) | payload, for each part. */
export function encodeParts(...parts) {
  const out = [];
  for (const part of parts) encodeOne(part, out);
  return concat(out);
}

/** SHA-512 over the domain tag and the parts (64 bytes). */
export function hashParts(tag, ...parts) {
  return sha512(encodeParts(tag, ...parts));
}

/** A challenge or derived scalar: wide reduction of hashParts. */
export function hashToScalar(tag, ...parts) {
  return Scalar.fromDigest(hashParts(tag, ...parts));
}

export { sha256, sha512 };

function serialize(value) {
  if (value === null) return "null";
  if (value === true) return "true";
  if (value === false) return "false";
  if (typeof value === "string") {
    if (!isWellFormed(value)) throw new EncodingError("text is not valid Unicode (lone surrogate)");
    return JSON.stringify(value);
  }
  if (typeof value === "number") {
    if (!Number.isInteger(value)) throw new EncodingError("floats are not allowed in canonical JSON");
    if (Math.abs(value) > Number.MAX_SAFE_INTEGER) {
      throw new EncodingError("integers in canonical JSON must be within ±(2^53-1)");
    }
    return Object.is(value, -0) ? "0" : String(value);
  }
  if (Array.isArray(value)) return "[" + value.map(serialize).join(",") + "]";
  if (typeof value === "object") {
    const keys = Object.keys(value);
    for (const key of keys) {
      // ASCII keys sort the same by UTF-16 unit (here) and by code point (Python).
      if (!/^[\x00-\x7f]*$/.test(key)) throw new EncodingError("JSON object keys must be ASCII strings");
    }
    keys.sort();
    return "{" + keys.map((k) => JSON.stringify(k) + ":" + serialize(value[k])).join(",") + "}";
  }
  throw new EncodingError(`${typeof value} is not JSON`);
}

/** RFC 8785 JSON text for the float-free subset: sorted keys, no spaces. */
export function canonicalJsonText(value) {
  return serialize(value);
}

/** The UTF-8 bytes of canonicalJsonText. */
export function canonicalJson(value) {
  return utf8(serialize(value));
}
