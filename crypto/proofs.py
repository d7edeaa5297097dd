"""Zero-knowledge proofs with strong Fiat-Shamir (docs/protocol.md, "Proofs").

Every challenge is ``hash_to_scalar("votingpilot/v1/<kind>", fingerprint,
context, statement, commitments)``: the domain tag, the election fingerprint,
a caller-chosen context (for ballots, the voter's pseudonymous id and the
position of the option), the *full* statement and all commitments. Leaving the
statement out (weak Fiat-Shamir, as in Helios) lets a prover pick the statement
after the challenge; binding the voter makes a copied ballot invalid for anyone
else.

Proofs are kept in compact form (challenges and responses); the verifier
recomputes the commitments and checks the challenge. Verifiers raise
``ProofError`` (or the caller's subclass) and return nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from crypto.encoding import Part, hash_to_scalar
from crypto.errors import EncodingError, ProofError
from crypto.group import G, Point, Scalar, g_mul, small_scalar

Context = tuple[Part, ...]
Rng = Callable[[], Scalar]

TAG_PREFIX = "votingpilot/v1/"


def challenge(
    kind: str,
    fingerprint: bytes,
    context: Context,
    statement: Sequence[Part],
    commitments: Sequence[Part],
) -> Scalar:
    """The strong Fiat-Shamir challenge shared by every proof in this module."""
    return hash_to_scalar(
        TAG_PREFIX + kind, fingerprint, list(context), list(statement), list(commitments)
    )


def _scalar_field(doc: dict[str, Any], key: str) -> Scalar:
    return Scalar.from_hex(doc[key])


def _expect_keys(doc: object, keys: set[str], what: str) -> dict[str, Any]:
    if not isinstance(doc, dict) or set(doc) != keys:
        raise EncodingError(f"{what} must be an object with exactly {sorted(keys)}")
    return doc


# --- Schnorr proof of knowledge of a discrete log ----------------------------------


@dataclass(frozen=True, slots=True)
class SchnorrProof:
    """Knowledge of x with X = g^x."""

    challenge: Scalar
    """c"""
    response: Scalar
    """s = k + c x"""

    def to_json(self) -> dict[str, str]:
        return {"c": self.challenge.hex(), "s": self.response.hex()}

    @classmethod
    def from_json(cls, doc: object) -> SchnorrProof:
        d = _expect_keys(doc, {"c", "s"}, "a Schnorr proof")
        return cls(_scalar_field(d, "c"), _scalar_field(d, "s"))


def prove_schnorr(
    secret: Scalar, *, fingerprint: bytes, context: Context = (), rng: Rng = Scalar.random
) -> SchnorrProof:
    public = g_mul(secret)
    k = rng()
    commitment = g_mul(k)
    c = challenge("schnorr", fingerprint, context, [G, public], [commitment])
    return SchnorrProof(c, k + c * secret)


def verify_schnorr(
    public: Point, proof: SchnorrProof, *, fingerprint: bytes, context: Context = ()
) -> None:
    if public.is_identity():
        raise ProofError("the identity has no proof of knowledge")
    commitment = g_mul(proof.response) - public * proof.challenge
    if challenge("schnorr", fingerprint, context, [G, public], [commitment]) != proof.challenge:
        raise ProofError("Schnorr proof does not verify")


# --- Chaum-Pedersen proof of equal discrete logs ----------------------------------


@dataclass(frozen=True, slots=True)
class ChaumPedersenProof:
    """log_{base1}(A) = log_{base2}(B) = x."""

    challenge: Scalar
    """c"""
    response: Scalar
    """s = k + c x"""

    def to_json(self) -> dict[str, str]:
        return {"c": self.challenge.hex(), "s": self.response.hex()}

    @classmethod
    def from_json(cls, doc: object) -> ChaumPedersenProof:
        d = _expect_keys(doc, {"c", "s"}, "a Chaum-Pedersen proof")
        return cls(_scalar_field(d, "c"), _scalar_field(d, "s"))


def prove_equal_logs(
    secret: Scalar,
    base1: Point,
    base2: Point,
    *,
    fingerprint: bytes,
    context: Context = (),
    rng: Rng = Scalar.random,
) -> ChaumPedersenProof:
    statement = [base1, base1 * secret, base2, base2 * secret]
    k = rng()
    c = challenge("chaum-pedersen", fingerprint, context, statement, [base1 * k, base2 * k])
    return ChaumPedersenProof(c, k + c * secret)


def verify_equal_logs(
    base1: Point,
    a: Point,
    base2: Point,
    b: Point,
    proof: ChaumPedersenProof,
    *,
    fingerprint: bytes,
    context: Context = (),
) -> None:
    c, s = proof.challenge, proof.response
    commitments = [base1 * s - a * c, base2 * s - b * c]
    if challenge("chaum-pedersen", fingerprint, context, [base1, a, base2, b], commitments) != c:
        raise ProofError("Chaum-Pedersen proof does not verify")


# --- Disjunctive (CDS) proof that a ciphertext encrypts one of several values -------


@dataclass(frozen=True, slots=True)
class DisjunctiveProof:
    """(alpha, beta) encrypts some m in ``values`` under K (Cramer-Damgård-Schoenmakers).

    One branch per candidate value j: a Chaum-Pedersen proof that
    log_g(alpha) = log_K(beta / g^j). All branches but the true one are
    simulated; their challenges sum to the Fiat-Shamir challenge.
    """

    branches: tuple[tuple[Scalar, Scalar], ...]
    """(c_j, v_j) for each candidate value, in the order of ``values``"""

    def to_json(self) -> list[dict[str, str]]:
        return [{"c": c.hex(), "v": v.hex()} for c, v in self.branches]

    @classmethod
    def from_json(cls, doc: object, branch_count: int) -> DisjunctiveProof:
        if not isinstance(doc, list) or len(doc) != branch_count:
            raise EncodingError(f"a disjunctive proof must be a list of {branch_count} branches")
        branches = []
        for item in doc:
            d = _expect_keys(item, {"c", "v"}, "a proof branch")
            branches.append((_scalar_field(d, "c"), _scalar_field(d, "v")))
        return cls(tuple(branches))


@functools.lru_cache(maxsize=256)
def _g_pow(j: int) -> Point:
    return g_mul(small_scalar(j))


def _statement(public_key: Point, alpha: Point, beta: Point, values: Sequence[int]) -> list[Part]:
    return [G, public_key, alpha, beta, list(values)]


def prove_encrypted_value(
    alpha: Point,
    beta: Point,
    randomness: Scalar,
    message: int,
    public_key: Point,
    values: Sequence[int],
    *,
    kind: str,
    fingerprint: bytes,
    context: Context,
    rng: Rng = Scalar.random,
) -> DisjunctiveProof:
    """Prove that (alpha, beta) = (g^r, g^m K^r) with m in ``values``."""
    if message not in values:
        raise ValueError("the message is not among the values to prove")
    real = values.index(message)
    commitments: list[Part] = []
    simulated: dict[int, tuple[Scalar, Scalar]] = {}
    w = rng()
    for j, value in enumerate(values):
        if j == real:
            commitments += [g_mul(w), public_key * w]
        else:
            c_j, v_j = rng(), rng()
            simulated[j] = (c_j, v_j)
            commitments += [
                g_mul(v_j) - alpha * c_j,
                public_key * v_j - (beta - _g_pow(value)) * c_j,
            ]
    c = challenge(kind, fingerprint, context, _statement(public_key, alpha, beta, values), commitments)
    c_real = c
    for c_j, _ in simulated.values():
        c_real = c_real - c_j
    branches = [
        (c_real, w + c_real * randomness) if j == real else simulated[j] for j in range(len(values))
    ]
    return DisjunctiveProof(tuple(branches))


def verify_encrypted_value(
    alpha: Point,
    beta: Point,
    public_key: Point,
    values: Sequence[int],
    proof: DisjunctiveProof,
    *,
    kind: str,
    fingerprint: bytes,
    context: Context,
    error: type[ProofError] = ProofError,
) -> None:
    """Check a disjunctive proof; ``values`` comes from the verifier (the manifest),
    never from the proof."""
    if len(proof.branches) != len(values):
        raise error("proof has the wrong number of branches")
    commitments: list[Part] = []
    total = Scalar(0)
    for (c_j, v_j), value in zip(proof.branches, values):
        commitments += [
            g_mul(v_j) - alpha * c_j,
            public_key * v_j - (beta - _g_pow(value)) * c_j,
        ]
        total = total + c_j
    expected = challenge(kind, fingerprint, context, _statement(public_key, alpha, beta, values), commitments)
    if expected != total:
        raise error("disjunctive proof does not verify")
