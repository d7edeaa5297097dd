// Zero-knowledge proofs with strong Fiat-Shamir, mirroring crypto/proofs.py.
//
// Every challenge is hashToScalar("votingpilot/v1/<kind>", fingerprint,
// [context...], [statement...], [commitments...]): the domain tag, the election
// fingerprint, the caller's context (for ballots the voter's pseudonym and the
// option's position), the full statement and all commitments. Proofs are kept
// compact (challenges and responses); verifiers recompute the commitments.

import { EncodingError, ProofError } from "./errors.js";
import { G, Scalar, gMul, gPow } from "./group.js";
import { hashToScalar } from "./encoding.js";

export const TAG_PREFIX = "votingpilot/v1/";

export function challenge(kind, fingerprint, context, statement, commitments) {
  return hashToScalar(TAG_PREFIX + kind, fingerprint, [...context], [...statement], [...commitments]);
}

function expectKeys(doc, keys, what) {
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    throw new EncodingError(`${what} must be an object with exactly ${keys.join(", ")}`);
  }
  const actual = Object.keys(doc).sort();
  if (actual.length !== keys.length || actual.some((k, i) => k !== [...keys].sort()[i])) {
    throw new EncodingError(`${what} must be an object with exactly ${keys.join(", ")}`);
  }
  return doc;
}

// --- Schnorr and Chaum-Pedersen (verification: the browser never proves these) ---

/** {c, s} -> {challenge, response} */
export function compactProofFromJson(doc, what = "a proof") {
  const d = expectKeys(doc, ["c", "s"], what);
  return { challenge: Scalar.fromHex(d.c), response: Scalar.fromHex(d.s) };
}

export function verifySchnorr(publicKey, proof, { fingerprint, context = [] }) {
  if (publicKey.isIdentity()) throw new ProofError("the identity has no proof of knowledge");
  const commitment = gMul(proof.response).sub(publicKey.mul(proof.challenge));
  if (!challenge("schnorr", fingerprint, context, [G, publicKey], [commitment]).equals(proof.challenge)) {
    throw new ProofError("Schnorr proof does not verify");
  }
}

export function verifyEqualLogs(base1, a, base2, b, proof, { fingerprint, context = [] }) {
  const { challenge: c, response: s } = proof;
  const commitments = [base1.mul(s).sub(a.mul(c)), base2.mul(s).sub(b.mul(c))];
  if (!challenge("chaum-pedersen", fingerprint, context, [base1, a, base2, b], commitments).equals(c)) {
    throw new ProofError("Chaum-Pedersen proof does not verify");
  }
}

// --- Disjunctive (CDS) proof that (alpha, beta) encrypts one of several values ---

/** [{c, v}, ...] with exactly branchCount branches -> [[c, v], ...] as Scalars. */
export function disjunctiveFromJson(doc, branchCount) {
  if (!Array.isArray(doc) || doc.length !== branchCount) {
    throw new EncodingError(`a disjunctive proof must be a list of ${branchCount} branches`);
  }
  return doc.map((item) => {
    const d = expectKeys(item, ["c", "v"], "a proof branch");
    return [Scalar.fromHex(d.c), Scalar.fromHex(d.v)];
  });
}

export function disjunctiveToJson(branches) {
  return branches.map(([c, v]) => ({ c: c.hex(), v: v.hex() }));
}

function statement(publicKey, alpha, beta, values) {
  return [G, publicKey, alpha, beta, [...values]];
}

/**
 * Prove that (alpha, beta) = (g^r, g^m K^r) with m in `values`. The random
 * scalars are drawn in the order of the Python prover (w, then c_j, v_j for each
 * simulated branch), so a deterministic rng reproduces the test vectors exactly.
 */
export function proveEncryptedValue(alpha, beta, randomness, message, publicKey, values, { kind, fingerprint, context, rng }) {
  const real = values.indexOf(message);
  if (real < 0) throw new Error("the message is not among the values to prove");
  const commitments = [];
  const simulated = new Map();
  const w = rng();
  values.forEach((value, j) => {
    if (j === real) {
      commitments.push(gMul(w), publicKey.mul(w));
    } else {
      const cj = rng();
      const vj = rng();
      simulated.set(j, [cj, vj]);
      commitments.push(gMul(vj).sub(alpha.mul(cj)), publicKey.mul(vj).sub(beta.sub(gPow(value)).mul(cj)));
    }
  });
  const c = challenge(kind, fingerprint, context, statement(publicKey, alpha, beta, values), commitments);
  let cReal = c;
  for (const [cj] of simulated.values()) cReal = cReal.sub(cj);
  return values.map((_, j) => (j === real ? [cReal, w.add(cReal.mul(randomness))] : simulated.get(j)));
}

/** Check a disjunctive proof; `values` come from the verifier (the manifest), never from the proof. */
export function verifyEncryptedValue(alpha, beta, publicKey, values, branches, { kind, fingerprint, context, error = ProofError }) {
  if (branches.length !== values.length) throw new error("proof has the wrong number of branches");
  const commitments = [];
  let total = new Scalar(0n);
  values.forEach((value, j) => {
    const [cj, vj] = branches[j];
    commitments.push(gMul(vj).sub(alpha.mul(cj)), publicKey.mul(vj).sub(beta.sub(gPow(value)).mul(cj)));
    total = total.add(cj);
  });
  const expected = challenge(kind, fingerprint, context, statement(publicKey, alpha, beta, values), commitments);
  if (!expected.equals(total)) throw new error("disjunctive proof does not verify");
}

