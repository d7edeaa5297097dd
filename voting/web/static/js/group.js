// The ristretto255 group (RFC 9496) through @noble/curves, mirroring
// crypto/group.py: a Point or Scalar that exists is valid; decoding refuses
// non-canonical bytes and (unless asked) the identity. Encodings: a point is its
// 32-byte RFC 9496 encoding, a scalar 32 bytes little-endian below ORDER; in
// JSON both are 64 lowercase hex characters.

import { ristretto255, ristretto255_hasher, sha512 } from "../vendor/noble.js";
import { bigIntToBytesLE, bytesToBigIntLE, concat, equalBytes, fromHex, toHex, utf8 } from "./bytes.js";
import { IdentityPoint, InvalidPoint, InvalidScalar } from "./errors.js";

const RP = ristretto255.Point;

/** l = 2^252 + 27742317777372353535851937790883648493 */
export const ORDER = RP.Fn.ORDER;

const mod = (v) => ((v % ORDER) + ORDER) % ORDER;

export class Scalar {
  /** @param {bigint} value in [0, ORDER) */
  constructor(value) {
    if (typeof value !== "bigint") throw new InvalidScalar(`scalar must be a bigint, got ${typeof value}`);
    if (value < 0n || value >= ORDER) throw new InvalidScalar("scalar out of range [0, ORDER)");
    this.value = value;
    Object.freeze(this);
  }

  static reduce(value) {
    return new Scalar(mod(BigInt(value)));
  }

  /** Uniform in [1, ORDER): 64 random bytes reduced (bias below 2^-250). */
  static random() {
    const bytes = crypto.getRandomValues(new Uint8Array(64));
    return new Scalar((bytesToBigIntLE(bytes) % (ORDER - 1n)) + 1n);
  }

  static fromBytes(data) {
    if (!(data instanceof Uint8Array) || data.length !== 32) {
      throw new InvalidScalar(`scalar must be 32 bytes, got ${data?.length ?? typeof data}`);
    }
    const value = bytesToBigIntLE(data);
    if (value >= ORDER) throw new InvalidScalar("non-canonical scalar (not below the group order)");
    return new Scalar(value);
  }

  static fromHex(text) {
    return Scalar.fromBytes(fromHex(text, 32, InvalidScalar, "scalar"));
  }

  /** Wide reduction of a 64-byte hash output (as libsodium's scalar_reduce). */
  static fromDigest(digest) {
    if (digest.length !== 64) throw new InvalidScalar("wide reduction needs 64 bytes");
    return new Scalar(bytesToBigIntLE(digest) % ORDER);
  }

  toBytes() {
    return bigIntToBytesLE(this.value, 32);
  }

  hex() {
    return toHex(this.toBytes());
  }

  add(other) {
    return new Scalar(mod(this.value + other.value));
  }

  sub(other) {
    return new Scalar(mod(this.value - other.value));
  }

  mul(other) {
    return new Scalar(mod(this.value * other.value));
  }

  neg() {
    return new Scalar(mod(-this.value));
  }

  isZero() {
    return this.value === 0n;
  }

  equals(other) {
    return other instanceof Scalar && other.value === this.value;
  }
}

export class Point {
  /** Use Point.fromBytes / fromHex or group operations; `ep` is a noble RistrettoPoint. */
  constructor(ep, encoded) {
    this.ep = ep;
    this._encoded = encoded;
  }

  static fromBytes(data, { allowIdentity = false } = {}) {
    if (!(data instanceof Uint8Array) || data.length !== 32) {
      throw new InvalidPoint(`point must be 32 bytes, got ${data?.length ?? typeof data}`);
    }
    if (data.every((b) => b === 0)) {
      if (allowIdentity) return IDENTITY;
      throw new IdentityPoint("the identity element is not allowed here");
    }
    if (data[31] & 0x80) throw new InvalidPoint("non-canonical encoding (bit 255 set)");
    let ep;
    try {
      ep = RP.fromBytes(data);
    } catch {
      throw new InvalidPoint("not a canonical ristretto255 encoding");
    }
    return new Point(ep, Uint8Array.from(data));
  }

  static fromHex(text, options) {
    return Point.fromBytes(fromHex(text, 32, InvalidPoint, "point"), options);
  }

  /** RFC 9496 element derivation from SHA-512(uint32_be(len(tag)) || tag || data). */
  static hashToGroup(tag, data) {
    const rawTag = utf8(tag);
    const length = new Uint8Array(4);
    new DataView(length.buffer).setUint32(0, rawTag.length);
    const ep = ristretto255_hasher.deriveToCurve(sha512(concat([length, rawTag, data])));
    if (ep.is0()) throw new IdentityPoint("hash_to_group produced the identity");
    return new Point(ep);
  }

  toBytes() {
    if (!this._encoded) this._encoded = this.ep.toBytes();
    return this._encoded;
  }

  hex() {
    return toHex(this.toBytes());
  }

  isIdentity() {
    return this.ep.is0();
  }

  add(other) {
    return new Point(this.ep.add(other.ep));
  }

  sub(other) {
    return new Point(this.ep.subtract(other.ep));
  }

  neg() {
    return new Point(this.ep.negate());
  }

  /** Scalar multiplication (constant time); a zero scalar or the identity give the identity. */
  mul(scalar) {
    if (!(scalar instanceof Scalar)) throw new TypeError("multiply by a Scalar");
    if (scalar.isZero() || this.isIdentity()) return IDENTITY;
    return new Point(this.ep.multiply(scalar.value));
  }

  /** Build a precomputed table for a point that is multiplied many times (the joint key). */
  precompute() {
    this.ep.precompute(8, false);
    return this;
  }

  equals(other) {
    return other instanceof Point && equalBytes(this.toBytes(), other.toBytes());
  }
}

export const IDENTITY = new Point(RP.ZERO, new Uint8Array(32));
/** The conventional generator of ristretto255 (RFC 9496, section 4.4). */
export const G = new Point(RP.BASE);

export function gMul(scalar) {
  return G.mul(scalar);
}

const smallPowers = new Map();

/** g^j for a small non-negative integer (vote counts, proof values). */
export function gPow(j) {
  let p = smallPowers.get(j);
  if (!p) {
    p = gMul(Scalar.reduce(BigInt(j)));
    smallPowers.set(j, p);
  }
  return p;
}
