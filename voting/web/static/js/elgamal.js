// Exponential ElGamal over ristretto255, mirroring crypto/elgamal.py:
// m is encrypted as (alpha, beta) = (g^r, g^m K^r); ciphertexts add component-wise.

import { EncodingError, IdentityPoint } from "./errors.js";
import { IDENTITY, Point, gMul, gPow } from "./group.js";

export function encrypt(publicKey, message, randomness) {
  if (publicKey.isIdentity()) throw new IdentityPoint("the public key must not be the identity");
  if (randomness.isZero()) throw new Error("encryption randomness must not be zero");
  if (!Number.isInteger(message) || message < 0) throw new Error("exponential ElGamal encrypts non-negative integers");
  return { alpha: gMul(randomness), beta: gPow(message).add(publicKey.mul(randomness)) };
}

export function addAll(ciphertexts) {
  let alpha = IDENTITY;
  let beta = IDENTITY;
  for (const c of ciphertexts) {
    alpha = alpha.add(c.alpha);
    beta = beta.add(c.beta);
  }
  return { alpha, beta };
}

/** A ballot's ciphertext: exactly {alpha, beta}, neither the identity (unless allowed). */
export function ciphertextFromJson(doc, { allowIdentity = false } = {}) {
  if (doc === null || typeof doc !== "object" || Object.keys(doc).sort().join(",") !== "alpha,beta") {
    throw new EncodingError("a ciphertext is an object with exactly 'alpha' and 'beta'");
  }
  return {
    alpha: Point.fromHex(doc.alpha, { allowIdentity }),
    beta: Point.fromHex(doc.beta, { allowIdentity }),
  };
}
