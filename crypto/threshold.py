"""Trustee key ceremony and threshold decryption (docs/parts/threshold.md).

A Pedersen distributed key generation with Feldman verifiable secret sharing,
as in ElectionGuard (spec 1.x, "Key generation"), over ristretto255:

1. Each trustee i draws a secret polynomial P_i of degree t-1 and publishes an
   ``Announcement``: commitments C_ij = g^{a_ij} to its coefficients, a Schnorr
   proof of knowledge for each (so nobody can choose a commitment as a function
   of the others' and bias or control the joint key), and an X25519 key on
   which to receive shares.
2. Each trustee sends P_i(l) to every other trustee l, encrypted to l's X25519
   key (``EncryptedShare``). The recipient checks the value against C_ij, so a
   wrong share is caught and blamed on its sender.
3. Trustee l's key share is s_l = sum_i P_i(l). Its public counterpart
   K_l = g^{s_l} and the joint key K = prod_i C_i0 follow from public data.

To decrypt, each trustee publishes M_l = alpha^{s_l} per ciphertext with a
Chaum-Pedersen proof that it used the s_l behind K_l; any t verified partial
decryptions combine with Lagrange coefficients at 0 into alpha^s, the value
the (never assembled) joint secret s would give.

Everything here is pure: the trustee's private state is a value
(``TrusteeSecrets``, later ``TrusteeKey``) that the caller keeps in the
trustee's own file. Points are written multiplicatively in comments, as in the
literature; in code the group is additive (``Point + Point``, ``Point * Scalar``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto.elgamal import Ciphertext, discrete_log
from crypto.encoding import encode_parts
from crypto.errors import (
    CeremonyError,
    CryptoError,
    EncodingError,
    PartialDecryptionError,
    ProofError,
    ShareError,
    ThresholdError,
)
from crypto.group import IDENTITY, ORDER, G, Point, Scalar, g_mul
from crypto.proofs import (
    ChaumPedersenProof,
    Rng,
    SchnorrProof,
    prove_equal_logs,
    prove_schnorr,
    verify_equal_logs,
    verify_schnorr,
)

RandomBytes = Callable[[int], bytes]

MAX_TRUSTEES = 255
FINGERPRINT_MIN, FINGERPRINT_MAX = 16, 64
X25519_KEY_BYTES = 32
SHARE_CIPHERTEXT_BYTES = 32 + 16  # a scalar and the Poly1305 tag

_LOWER_HEX = re.compile(r"[0-9a-f]*")

SHARE_KEY_TAG = "votingpilot/v1/share-key"
SHARE_AD_TAG = "votingpilot/v1/share"
#: Each share has its own ephemeral key, so its AEAD key is used exactly once.
SHARE_NONCE = bytes(12)


# --- small helpers --------------------------------------------------------------------


def _evaluate(coefficients: Sequence[Scalar], x: int) -> Scalar:
    """P(x) by Horner's rule."""
    result = Scalar(0)
    xs = Scalar(x)
    for a in reversed(coefficients):
        result = result * xs + a
    return result


def _evaluate_in_exponent(commitments: Sequence[Point], x: int) -> Point:
    """prod_j C_j^(x^j) = g^{P(x)}, by Horner's rule in the group."""
    result = IDENTITY
    xs = Scalar(x)
    for c in reversed(commitments):
        result = result * xs + c
    return result


def _share_error(sender: int, message: str) -> ShareError:
    """A ShareError that names the trustee to blame (``.sender``)."""
    error = ShareError(f"share from trustee {sender}: {message}")
    error.sender = sender  # type: ignore[attr-defined]
    return error


def _object(doc: object, keys: set[str], what: str) -> dict[str, Any]:
    if not isinstance(doc, dict) or set(doc) != keys:
        raise EncodingError(f"{what} must be an object with exactly {sorted(keys)}")
    return doc


def _int(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise EncodingError(f"{what} must be an integer")
    return value


def _list(value: object, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise EncodingError(f"{what} must be a list")
    return value


def _hex(value: object, length: int, what: str) -> bytes:
    """Exactly ``length`` bytes as lowercase hex (``bytes.fromhex`` alone would
    also take uppercase and skip whitespace)."""
    if not isinstance(value, str) or len(value) != 2 * length or not _LOWER_HEX.fullmatch(value):
        raise EncodingError(f"{what} must be {2 * length} lowercase hex characters")
    return bytes.fromhex(value)


def _hex_any(value: object, what: str) -> bytes:
    if not isinstance(value, str) or len(value) % 2:
        raise EncodingError(f"{what} must be an even-length hex string")
    return _hex(value, len(value) // 2, what)


def _check_index(
    index: object, n: int, what: str, error: type[CryptoError] = CeremonyError
) -> None:
    if not isinstance(index, int) or isinstance(index, bool) or not 1 <= index <= n:
        raise error(f"{what} must be an integer in [1, {n}], got {index!r}")


def _check_share_public_key(raw: bytes, index: int) -> None:
    """Refuse a malformed or low-order X25519 key: with one, every sender's
    shared secret would be all zeros and the share readable by anyone."""
    if not isinstance(raw, bytes) or len(raw) != X25519_KEY_BYTES:
        raise CeremonyError(f"trustee {index}: share key must be {X25519_KEY_BYTES} bytes")
    probe = X25519PrivateKey.from_private_bytes(bytes([9]) * 32)
    try:
        probe.exchange(X25519PublicKey.from_public_bytes(raw))
    except ValueError:
        raise CeremonyError(f"trustee {index}: share key is a low-order X25519 point") from None


# --- parameters -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CeremonyParameters:
    """What all trustees agree on before the ceremony starts."""

    n: int
    """number of trustees, indexed 1..n"""
    t: int
    """threshold: any t trustees can decrypt, t-1 learn nothing"""
    ceremony_fingerprint: bytes
    """binds every ceremony message to this election's manifest and parameters
    (derived by the service; the joint key that the election fingerprint
    includes does not exist yet)"""

    def __post_init__(self) -> None:
        _check_index(self.n, MAX_TRUSTEES, "n")
        _check_index(self.t, self.n, "t")
        fp = self.ceremony_fingerprint
        if not isinstance(fp, bytes) or not FINGERPRINT_MIN <= len(fp) <= FINGERPRINT_MAX:
            raise CeremonyError(
                f"ceremony fingerprint must be {FINGERPRINT_MIN} to {FINGERPRINT_MAX} bytes"
            )

    def to_json(self) -> dict[str, object]:
        return {"n": self.n, "t": self.t, "ceremony_fingerprint": self.ceremony_fingerprint.hex()}

    @classmethod
    def from_json(cls, doc: object) -> CeremonyParameters:
        d = _object(doc, {"n", "t", "ceremony_fingerprint"}, "ceremony parameters")
        return cls(
            _int(d["n"], "n"),
            _int(d["t"], "t"),
            _hex_any(d["ceremony_fingerprint"], "ceremony_fingerprint"),
        )


# --- announcement ---------------------------------------------------------------------


def _coefficient_context(params: CeremonyParameters, index: int, j: int, share_key: bytes) -> tuple[str, int, int, int, int, bytes]:
    """Binds a coefficient's proof to its place and to the trustee's share key,
    so an announcement cannot be re-labelled or re-keyed piecewise."""
    return ("ceremony", params.n, params.t, index, j, share_key)


@dataclass(frozen=True, slots=True)
class Announcement:
    """Trustee i's public ceremony message."""

    index: int
    """i"""
    commitments: tuple[Point, ...]
    """C_ij = g^{a_ij} for j = 0..t-1; C_i0 is i's contribution to the joint key"""
    proofs: tuple[SchnorrProof, ...]
    """proof of knowledge of a_ij, one per commitment"""
    share_public_key: bytes
    """X25519 public key on which i receives shares"""

    def __post_init__(self) -> None:
        _check_index(self.index, MAX_TRUSTEES, "trustee index")
        if len(self.commitments) != len(self.proofs) or not self.commitments:
            raise CeremonyError("an announcement needs one proof per commitment")

    def to_json(self) -> dict[str, object]:
        return {
            "index": self.index,
            "commitments": [c.hex() for c in self.commitments],
            "proofs": [p.to_json() for p in self.proofs],
            "share_public_key": self.share_public_key.hex(),
        }

    @classmethod
    def from_json(cls, doc: object) -> Announcement:
        d = _object(doc, {"index", "commitments", "proofs", "share_public_key"}, "an announcement")
        return cls(
            _int(d["index"], "index"),
            tuple(Point.from_hex(c) for c in _list(d["commitments"], "commitments")),
            tuple(SchnorrProof.from_json(p) for p in _list(d["proofs"], "proofs")),
            _hex(d["share_public_key"], X25519_KEY_BYTES, "share_public_key"),
        )


def verify_announcement(params: CeremonyParameters, announcement: Announcement) -> None:
    """Check one trustee's announcement: index, t commitments, none the identity,
    every proof of knowledge, a usable share key. Raises CeremonyError."""
    i = announcement.index
    _check_index(i, params.n, "trustee index")
    if len(announcement.commitments) != params.t or len(announcement.proofs) != params.t:
        raise CeremonyError(f"trustee {i}: expected {params.t} commitments and proofs")
    _check_share_public_key(announcement.share_public_key, i)
    for j, (commitment, proof) in enumerate(zip(announcement.commitments, announcement.proofs)):
        if commitment.is_identity():
            raise CeremonyError(f"trustee {i}: commitment {j} is the identity")
        try:
            verify_schnorr(
                commitment,
                proof,
                fingerprint=params.ceremony_fingerprint,
                context=_coefficient_context(params, i, j, announcement.share_public_key),
            )
        except ProofError:
            raise CeremonyError(f"trustee {i}: proof for coefficient {j} does not verify") from None


def verify_announcements(
    params: CeremonyParameters, announcements: Iterable[Announcement]
) -> tuple[Announcement, ...]:
    """Check a complete ceremony: exactly one valid announcement per index 1..n,
    distinct share keys. Returns them sorted by index."""
    ordered = tuple(sorted(announcements, key=lambda a: a.index))
    if [a.index for a in ordered] != list(range(1, params.n + 1)):
        raise CeremonyError(f"need exactly one announcement from each trustee 1..{params.n}")
    if len({a.share_public_key for a in ordered}) != len(ordered):
        raise CeremonyError("two trustees announced the same share key")
    for announcement in ordered:
        verify_announcement(params, announcement)
    return ordered


def _joint_commitments(announcements: Sequence[Announcement]) -> list[Point]:
    """D_j = prod_i C_ij: the commitments to the joint polynomial sum_i P_i."""
    if not announcements:
        raise CeremonyError("no announcements")
    if len({a.index for a in announcements}) != len(announcements):
        raise CeremonyError("duplicate trustee index among the announcements")
    t = len(announcements[0].commitments)
    if any(len(a.commitments) != t for a in announcements):
        raise CeremonyError("announcements disagree on the threshold")
    joint = [IDENTITY] * t
    for a in announcements:
        joint = [d + c for d, c in zip(joint, a.commitments)]
    return joint


def joint_public_key(announcements: Sequence[Announcement]) -> Point:
    """K = prod_i C_i0. The announcements must have passed ``verify_announcements``."""
    key = _joint_commitments(announcements)[0]
    if key.is_identity():
        raise CeremonyError("the joint public key is the identity")
    return key


def public_share(announcements: Sequence[Announcement], index: int) -> Point:
    """K_l = g^{s_l} = prod_i prod_j C_ij^(l^j), computable by anyone; the
    announcements must have passed ``verify_announcements``."""
    if index not in {a.index for a in announcements}:
        raise CeremonyError(f"trustee {index} is not in the ceremony")
    return _evaluate_in_exponent(_joint_commitments(announcements), index)


# --- trustee's private state ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrusteeSecrets:
    """Trustee i's state during the ceremony; lives only in the trustee's own file."""

    parameters: CeremonyParameters
    index: int
    """i"""
    coefficients: tuple[Scalar, ...] = field(repr=False)
    """a_i0..a_i,t-1 of P_i; a_i0 is i's part of the joint secret"""
    share_private_key: bytes = field(repr=False)
    """X25519 private key for receiving shares"""

    def __post_init__(self) -> None:
        _check_index(self.index, self.parameters.n, "trustee index")
        if len(self.coefficients) != self.parameters.t:
            raise CeremonyError(f"a polynomial of degree t-1 has {self.parameters.t} coefficients")
        if not isinstance(self.share_private_key, bytes) or len(self.share_private_key) != 32:
            raise CeremonyError("share private key must be 32 bytes")

    def share_public_key(self) -> bytes:
        private = X25519PrivateKey.from_private_bytes(self.share_private_key)
        return private.public_key().public_bytes_raw()

    def to_json(self) -> dict[str, object]:
        return {
            "parameters": self.parameters.to_json(),
            "index": self.index,
            "coefficients": [a.hex() for a in self.coefficients],
            "share_private_key": self.share_private_key.hex(),
        }

    @classmethod
    def from_json(cls, doc: object) -> TrusteeSecrets:
        d = _object(
            doc, {"parameters", "index", "coefficients", "share_private_key"}, "trustee secrets"
        )
        return cls(
            CeremonyParameters.from_json(d["parameters"]),
            _int(d["index"], "index"),
            tuple(Scalar.from_hex(a) for a in _list(d["coefficients"], "coefficients")),
            _hex(d["share_private_key"], 32, "share_private_key"),
        )


def _check_same_ceremony(params: CeremonyParameters, secrets: TrusteeSecrets) -> None:
    if secrets.parameters != params:
        raise CeremonyError("these trustee secrets belong to another ceremony")


def make_announcement(
    params: CeremonyParameters, secrets: TrusteeSecrets, *, rng: Rng = Scalar.random
) -> Announcement:
    """The public message for ``secrets`` (fresh proofs on every call)."""
    _check_same_ceremony(params, secrets)
    share_key = secrets.share_public_key()
    return Announcement(
        secrets.index,
        tuple(g_mul(a) for a in secrets.coefficients),
        tuple(
            prove_schnorr(
                a,
                fingerprint=params.ceremony_fingerprint,
                context=_coefficient_context(params, secrets.index, j, share_key),
                rng=rng,
            )
            for j, a in enumerate(secrets.coefficients)
        ),
        share_key,
    )


def start_ceremony(
    params: CeremonyParameters,
    index: int,
    *,
    rng: Rng = Scalar.random,
    random_bytes: RandomBytes = os.urandom,
) -> tuple[TrusteeSecrets, Announcement]:
    """Trustee ``index`` draws its polynomial and share key. Save the secrets
    in the trustee's file before publishing the announcement."""
    coefficients = tuple(rng() for _ in range(params.t))
    secrets = TrusteeSecrets(params, index, coefficients, random_bytes(32))
    return secrets, make_announcement(params, secrets, rng=rng)


def _check_own_announcement(secrets: TrusteeSecrets, announcements: Sequence[Announcement]) -> None:
    """A trustee confirms that the published announcement under its index is its own."""
    own = announcements[secrets.index - 1]
    if own.commitments != tuple(g_mul(a) for a in secrets.coefficients) or (
        own.share_public_key != secrets.share_public_key()
    ):
        raise CeremonyError(f"the announcement for trustee {secrets.index} is not this trustee's")


# --- shares ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EncryptedShare:
    """P_i(l), from trustee i to trustee l, readable only by l."""

    sender: int
    """i"""
    recipient: int
    """l"""
    ephemeral_public_key: bytes
    """E, a fresh X25519 public key for this share alone"""
    ciphertext: bytes
    """ChaCha20-Poly1305 of P_i(l) (32 bytes little-endian) with its 16-byte tag"""

    def to_json(self) -> dict[str, object]:
        return {
            "sender": self.sender,
            "recipient": self.recipient,
            "ephemeral_public_key": self.ephemeral_public_key.hex(),
            "ciphertext": self.ciphertext.hex(),
        }

    @classmethod
    def from_json(cls, doc: object) -> EncryptedShare:
        d = _object(
            doc, {"sender", "recipient", "ephemeral_public_key", "ciphertext"}, "an encrypted share"
        )
        sender, recipient = _int(d["sender"], "sender"), _int(d["recipient"], "recipient")
        _check_index(sender, MAX_TRUSTEES, "sender")
        _check_index(recipient, MAX_TRUSTEES, "recipient")
        return cls(
            sender,
            recipient,
            _hex(d["ephemeral_public_key"], X25519_KEY_BYTES, "ephemeral_public_key"),
            _hex(d["ciphertext"], SHARE_CIPHERTEXT_BYTES, "ciphertext"),
        )


def _share_aead(
    params: CeremonyParameters,
    sender: int,
    recipient: int,
    shared_secret: bytes,
    ephemeral_public_key: bytes,
    recipient_public_key: bytes,
) -> tuple[ChaCha20Poly1305, bytes]:
    """The AEAD keyed by HKDF-SHA256 of the X25519 secret, and the associated data."""
    info = encode_parts(
        SHARE_KEY_TAG,
        params.ceremony_fingerprint,
        sender,
        recipient,
        ephemeral_public_key,
        recipient_public_key,
    )
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(shared_secret)
    ad = encode_parts(
        SHARE_AD_TAG, params.ceremony_fingerprint, params.n, params.t, sender, recipient
    )
    return ChaCha20Poly1305(key), ad


def encrypt_share(
    params: CeremonyParameters,
    secrets: TrusteeSecrets,
    recipient: Announcement,
    *,
    value: Scalar | None = None,
    random_bytes: RandomBytes = os.urandom,
) -> EncryptedShare:
    """Encrypt P_i(l) to trustee l. ``value`` overrides P_i(l); it exists for
    tests that need a well-encrypted but wrong share."""
    i, l = secrets.index, recipient.index
    if i == l:
        raise CeremonyError("a trustee does not send a share to itself")
    share = _evaluate(secrets.coefficients, l) if value is None else value
    ephemeral = X25519PrivateKey.from_private_bytes(random_bytes(32))
    ephemeral_public = ephemeral.public_key().public_bytes_raw()
    try:
        shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient.share_public_key))
    except ValueError:
        raise CeremonyError(f"trustee {l}: share key is a low-order X25519 point") from None
    aead, ad = _share_aead(params, i, l, shared, ephemeral_public, recipient.share_public_key)
    return EncryptedShare(i, l, ephemeral_public, aead.encrypt(SHARE_NONCE, share.to_bytes(), ad))


def make_shares(
    params: CeremonyParameters,
    secrets: TrusteeSecrets,
    announcements: Iterable[Announcement],
    *,
    random_bytes: RandomBytes = os.urandom,
) -> list[EncryptedShare]:
    """One encrypted share for every other trustee, after checking all n
    announcements (never encrypt to an unverified key). Sorted by recipient."""
    _check_same_ceremony(params, secrets)
    ordered = verify_announcements(params, announcements)
    _check_own_announcement(secrets, ordered)
    return [
        encrypt_share(params, secrets, a, random_bytes=random_bytes)
        for a in ordered
        if a.index != secrets.index
    ]


def open_share(
    params: CeremonyParameters,
    secrets: TrusteeSecrets,
    sender_announcement: Announcement,
    share: EncryptedShare,
) -> Scalar:
    """Decrypt P_i(l) and check g^{P_i(l)} = prod_j C_ij^(l^j) (Feldman), against
    the sender's verified announcement. Raises ShareError naming the sender
    (``.sender``)."""
    _check_same_ceremony(params, secrets)
    i, l = share.sender, secrets.index
    if share.recipient != l:
        raise _share_error(i, f"addressed to trustee {share.recipient}, not {l}")
    if sender_announcement.index != i:
        raise CeremonyError(
            f"share from trustee {i} checked against trustee {sender_announcement.index}'s"
        )
    if i == l:
        raise _share_error(i, "a trustee does not send a share to itself")
    private = X25519PrivateKey.from_private_bytes(secrets.share_private_key)
    try:
        shared = private.exchange(X25519PublicKey.from_public_bytes(share.ephemeral_public_key))
    except ValueError:
        raise _share_error(i, "low-order ephemeral key") from None
    aead, ad = _share_aead(
        params, i, l, shared, share.ephemeral_public_key, secrets.share_public_key()
    )
    try:
        plaintext = aead.decrypt(SHARE_NONCE, share.ciphertext, ad)
        value = Scalar.from_bytes(plaintext)
    except (InvalidTag, EncodingError):
        raise _share_error(i, "cannot be decrypted") from None
    if g_mul(value) != _evaluate_in_exponent(sender_announcement.commitments, l):
        raise _share_error(i, "does not match the sender's commitments")
    return value


# --- the finished key -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrusteeKey:
    """Trustee l's key after the ceremony; lives only in the trustee's own file.
    The polynomial and the X25519 key are no longer needed and can be deleted."""

    parameters: CeremonyParameters
    index: int
    """l"""
    secret_share: Scalar = field(repr=False)
    """s_l = sum_i P_i(l)"""
    public_share: Point
    """K_l = g^{s_l}"""
    joint_public_key: Point
    """K = prod_i C_i0, the election public key"""

    def __post_init__(self) -> None:
        _check_index(self.index, self.parameters.n, "trustee index")
        if g_mul(self.secret_share) != self.public_share:
            raise CeremonyError("the public share does not match the secret share")
        if self.joint_public_key.is_identity():
            raise CeremonyError("the joint public key is the identity")

    def to_json(self) -> dict[str, object]:
        return {
            "parameters": self.parameters.to_json(),
            "index": self.index,
            "secret_share": self.secret_share.hex(),
            "public_share": self.public_share.hex(),
            "joint_public_key": self.joint_public_key.hex(),
        }

    @classmethod
    def from_json(cls, doc: object) -> TrusteeKey:
        keys = {"parameters", "index", "secret_share", "public_share", "joint_public_key"}
        d = _object(doc, keys, "a trustee key")
        return cls(
            CeremonyParameters.from_json(d["parameters"]),
            _int(d["index"], "index"),
            Scalar.from_hex(d["secret_share"]),
            Point.from_hex(d["public_share"]),
            Point.from_hex(d["joint_public_key"]),
        )


def finish_ceremony(
    params: CeremonyParameters,
    secrets: TrusteeSecrets,
    announcements: Iterable[Announcement],
    shares_for_me: Iterable[EncryptedShare],
) -> TrusteeKey:
    """Open and check one share from every other trustee and sum them into s_l.
    Raises ShareError naming the first sender whose share is missing or bad."""
    _check_same_ceremony(params, secrets)
    ordered = verify_announcements(params, announcements)
    _check_own_announcement(secrets, ordered)
    l = secrets.index
    by_sender: dict[int, EncryptedShare] = {}
    for share in shares_for_me:
        if share.sender in by_sender:
            raise _share_error(share.sender, "sent twice")
        by_sender[share.sender] = share
    s = _evaluate(secrets.coefficients, l)
    for a in ordered:
        if a.index == l:
            continue
        if a.index not in by_sender:
            raise _share_error(a.index, "missing")
        share = by_sender.pop(a.index)
        s = s + open_share(params, secrets, a, share)
    if by_sender:
        raise _share_error(min(by_sender), "not expected")
    public = g_mul(s)
    if public != public_share(ordered, l):  # cannot happen once every share checked out
        raise CeremonyError("the key share does not match the commitments")
    return TrusteeKey(params, l, s, public, joint_public_key(ordered))


# --- partial decryption ---------------------------------------------------------------


def _decryption_context(index: int, position: int) -> tuple[str, int, int]:
    return ("partial-decryption", index, position)


@dataclass(frozen=True, slots=True)
class PartialDecryption:
    """Trustee l's share of the decryption of a list of ciphertexts."""

    index: int
    """l"""
    shares: tuple[Point, ...]
    """M_l = alpha^{s_l}, one per ciphertext (the identity where alpha is)"""
    proofs: tuple[ChaumPedersenProof, ...]
    """log_g(K_l) = log_alpha(M_l), one per ciphertext"""

    def __post_init__(self) -> None:
        _check_index(self.index, MAX_TRUSTEES, "trustee index", PartialDecryptionError)
        if len(self.shares) != len(self.proofs):
            raise PartialDecryptionError("a partial decryption needs one proof per share")

    def to_json(self) -> dict[str, object]:
        return {
            "index": self.index,
            "shares": [m.hex() for m in self.shares],
            "proofs": [p.to_json() for p in self.proofs],
        }

    @classmethod
    def from_json(cls, doc: object) -> PartialDecryption:
        d = _object(doc, {"index", "shares", "proofs"}, "a partial decryption")
        return cls(
            _int(d["index"], "index"),
            tuple(Point.from_hex(m, allow_identity=True) for m in _list(d["shares"], "shares")),
            tuple(ChaumPedersenProof.from_json(p) for p in _list(d["proofs"], "proofs")),
        )


def partial_decrypt(
    key: TrusteeKey,
    ciphertexts: Sequence[Ciphertext],
    *,
    fingerprint: bytes,
    rng: Rng = Scalar.random,
) -> PartialDecryption:
    """M_l = alpha^{s_l} with its proof, for each ciphertext of the (flattened)
    aggregate; ``fingerprint`` is the election fingerprint."""
    s = key.secret_share
    shares, proofs = [], []
    for position, c in enumerate(ciphertexts):
        shares.append(c.alpha * s)
        proofs.append(
            prove_equal_logs(
                s,
                G,
                c.alpha,
                fingerprint=fingerprint,
                context=_decryption_context(key.index, position),
                rng=rng,
            )
        )
    return PartialDecryption(key.index, tuple(shares), tuple(proofs))


def verify_partial_decryption(
    announcements: Sequence[Announcement],
    ciphertexts: Sequence[Ciphertext],
    partial: PartialDecryption,
    *,
    fingerprint: bytes,
) -> None:
    """Check a partial decryption against K_l from the (verified) announcements.
    Where alpha is the identity (an aggregate of no ballots), M_l must be the
    identity too; the proof is checked the same way in every position."""
    l = partial.index
    try:
        k_l = public_share(announcements, l)
    except CeremonyError:
        raise PartialDecryptionError(f"trustee {l} is not in the ceremony") from None
    if len(partial.shares) != len(ciphertexts) or len(partial.proofs) != len(ciphertexts):
        raise PartialDecryptionError(
            f"trustee {l}: {len(partial.shares)} shares for {len(ciphertexts)} ciphertexts"
        )
    for position, (c, m, proof) in enumerate(zip(ciphertexts, partial.shares, partial.proofs)):
        if c.alpha.is_identity() and not m.is_identity():
            raise PartialDecryptionError(f"trustee {l}, position {position}: must be the identity")
        try:
            verify_equal_logs(
                G,
                k_l,
                c.alpha,
                m,
                proof,
                fingerprint=fingerprint,
                context=_decryption_context(l, position),
            )
        except ProofError:
            raise PartialDecryptionError(
                f"trustee {l}, position {position}: proof does not verify"
            ) from None


# --- combination ----------------------------------------------------------------------


def lagrange_coefficient(index: int, indices: Sequence[int]) -> Scalar:
    """lambda_l = prod_{j != l} j / (j - l) mod q: the weight of P(l) in P(0)."""
    if len(set(indices)) != len(indices):
        raise ThresholdError("duplicate trustee index")
    if index not in indices:
        raise ThresholdError(f"trustee {index} is not among {sorted(indices)}")
    if any(not isinstance(j, int) or isinstance(j, bool) or not 1 <= j < ORDER for j in indices):
        raise ThresholdError("trustee indices are positive integers")
    numerator, denominator = Scalar(1), Scalar(1)
    for j in indices:
        if j != index:
            numerator = numerator * Scalar(j)
            denominator = denominator * Scalar.reduce(j - index)
    return numerator * denominator.inverse()


def combine(
    ciphertexts: Sequence[Ciphertext],
    partials: Sequence[PartialDecryption],
    *,
    threshold: int,
    bound: int,
) -> list[int]:
    """The plaintexts m (each in [0, bound]) from at least ``threshold`` verified
    partial decryptions: M = prod_l M_l^{lambda_l}, g^m = beta / M. All given
    partials are used; any t of them give the same M."""
    indices = [p.index for p in partials]
    if len(set(indices)) != len(indices):
        raise ThresholdError("duplicate trustee among the partial decryptions")
    if len(indices) < threshold or threshold < 1:
        raise ThresholdError(f"need {threshold} trustees, have {len(indices)}")
    for p in partials:
        if len(p.shares) != len(ciphertexts):
            raise PartialDecryptionError(f"trustee {p.index}: wrong number of shares")
    weights = [lagrange_coefficient(l, indices) for l in indices]
    results = []
    for position, c in enumerate(ciphertexts):
        m_point = IDENTITY
        for p, weight in zip(partials, weights):
            m_point = m_point + p.shares[position] * weight
        results.append(discrete_log(c.beta - m_point, bound))
    return results
