// Byte helpers with the strictness of the Python side: hex is exactly lowercase,
// base64 is canonical, text must be well-formed Unicode (a lone surrogate has no
// UTF-8 form, as in crypto/encoding.py).

import { EncodingError } from "./errors.js";

const HEX = /^[0-9a-f]*$/;
const B64 = /^[A-Za-z0-9+/]*={0,2}$/;
const B64URL = /^[A-Za-z0-9_-]*$/;
const encoder = new TextEncoder();

export function isWellFormed(text) {
  return typeof text === "string" && !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(text);
}

/** UTF-8 of a string; a lone surrogate is refused (TextEncoder would replace it). */
export function utf8(text, error = EncodingError) {
  if (!isWellFormed(text)) throw new error("text is not valid Unicode (lone surrogate)");
  return encoder.encode(text);
}

export function toHex(bytes) {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

/** Lowercase hex of an exact byte length (or any even length when omitted). */
export function fromHex(text, length, error = EncodingError, what = "value") {
  if (typeof text !== "string" || text.length % 2 || (length !== undefined && text.length !== 2 * length)) {
    throw new error(`${what} must be ${length === undefined ? "an even number of" : 2 * length} hex characters`);
  }
  if (!HEX.test(text)) {
    throw new error(HEX.test(text.toLowerCase()) ? `${what}: hex must be lowercase` : `${what} is not hexadecimal`);
  }
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(2 * i, 2), 16);
  return out;
}

export function concat(chunks) {
  let length = 0;
  for (const c of chunks) length += c.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

export function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

export function b64encode(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** Standard padded base64, canonical (as the credential file and x5c use it). */
export function b64decode(text, error = EncodingError, what = "value") {
  if (typeof text !== "string" || !B64.test(text) || text.length % 4) throw new error(`${what} is not base64`);
  let binary;
  try {
    binary = atob(text);
  } catch {
    throw new error(`${what} is not base64`);
  }
  const out = Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
  if (b64encode(out) !== text) throw new error(`${what} is not canonical base64`);
  return out;
}

export function b64urlEncode(bytes) {
  return b64encode(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function b64urlDecode(text, error = EncodingError, what = "value") {
  if (typeof text !== "string" || !B64URL.test(text) || text.length % 4 === 1) {
    throw new error(`${what} is not base64url without padding`);
  }
  const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4);
  const out = b64decode(padded, error, what);
  if (b64urlEncode(out) !== text) throw new error(`${what} is not canonical base64url`);
  return out;
}

/** Little-endian bytes to a non-negative BigInt. */
export function bytesToBigIntLE(bytes) {
  let value = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]);
  return value;
}

export function bigIntToBytesLE(value, length) {
  const out = new Uint8Array(length);
  let v = value;
  for (let i = 0; i < length; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  if (v !== 0n) throw new EncodingError(`integer does not fit in ${length} bytes`);
  return out;
}

/** RFC 4648 base32 (upper case, with padding) — used for the short tracking code. */
export function base32(bytes) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  let out = "";
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  while (out.length % 8) out += "=";
  return out;
}
