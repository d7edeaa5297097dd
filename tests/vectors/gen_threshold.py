"""Test vectors for the trustee ceremony and threshold decryption (crypto/threshold.py).

A deterministic ceremony with n = 3, t = 2: its parameters, every trustee's
secrets, announcements, encrypted shares and finished key, a tally, the three
partial decryptions and the expected counts. ``cases`` lists valid and invalid
messages (Wycheproof style, ``valid`` plus the expected error ``code``); each
is checked against the top-level data, as tests/test_threshold.py does.
"""

from __future__ import annotations

import functools
import hashlib

from crypto import threshold as th
from crypto.elgamal import ZERO, Ciphertext, add_all, encrypt
from crypto.encoding import encode_parts, hash_to_scalar
from crypto.errors import CryptoError
from crypto.group import G, Point, Scalar

SEED = b"votingpilot threshold vectors v1"
BOUND = 100
VOTES = [[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1], [1, 0, 0]]


class DeterministicRandom:
    """Reproducible stand-ins for ``Scalar.random`` and ``os.urandom``."""

    def __init__(self, seed: bytes) -> None:
        self.seed, self.counter = seed, 0

    def _next(self) -> int:
        self.counter += 1
        return self.counter

    def scalar(self) -> Scalar:
        return hash_to_scalar("votingpilot/v1/test-vector-rng", self.seed, self._next())

    def bytes(self, n: int) -> bytes:
        parts = encode_parts("votingpilot/v1/test-vector-bytes", self.seed, self._next())
        return hashlib.sha512(parts).digest()[:n]


def _bump(proof: dict, key: str) -> dict:
    """The proof with scalar ``key`` increased by one."""
    return {**proof, key: (Scalar.from_hex(proof[key]) + Scalar(1)).hex()}


def _set(items: list, position: int, value: object) -> list:
    copy = list(items)
    copy[position] = value
    return copy


def _swap(items: list) -> list:
    return [items[1], items[0], *items[2:]]


def _flip(hex_bytes: str, position: int) -> str:
    raw = bytearray.fromhex(hex_bytes)
    raw[position] ^= 0x01
    return raw.hex()


def _with(doc: dict, **changes: object) -> dict:
    return {**doc, **changes}


def check_case(vector: dict, case: dict) -> object:
    """Run one case against the vector's data; raises on an invalid message.
    Returns the decrypted counts for a ``combine`` case."""
    params = th.CeremonyParameters.from_json(vector["parameters"])
    announcements = [th.Announcement.from_json(a) for a in vector["announcements"]]
    kind = case["kind"]
    if kind == "announcement":
        th.verify_announcement(params, th.Announcement.from_json(case["announcement"]))
        return None
    if kind == "share":
        share = th.EncryptedShare.from_json(case["share"])
        secrets = th.TrusteeSecrets.from_json(vector["trustee_secrets"][share.recipient - 1])
        return th.open_share(params, secrets, announcements[share.sender - 1], share).hex()
    tally = [Ciphertext.from_json(c, allow_identity=True) for c in vector["tally"]]
    fingerprint = bytes.fromhex(vector["election_fingerprint"])
    if kind == "partial_decryption":
        partial = th.PartialDecryption.from_json(case["partial_decryption"])
        th.verify_partial_decryption(announcements, tally, partial, fingerprint=fingerprint)
        return None
    if kind == "combine":
        partials = [
            th.PartialDecryption.from_json(vector["partial_decryptions"][i - 1])
            for i in case["combine"]
        ]
        return th.combine(tally, partials, threshold=params.t, bound=vector["bound"])
    raise ValueError(f"unknown case kind {kind!r}")


def generate() -> dict[str, object]:
    rnd = DeterministicRandom(SEED)
    params = th.CeremonyParameters(3, 2, hashlib.sha256(b"threshold vectors: ceremony").digest())
    started = [th.start_ceremony(params, i, rng=rnd.scalar, random_bytes=rnd.bytes) for i in (1, 2, 3)]
    secrets = [s for s, _ in started]
    announcements = [a for _, a in started]
    shares = [sh for s in secrets for sh in th.make_shares(params, s, announcements, random_bytes=rnd.bytes)]
    keys = [
        th.finish_ceremony(params, s, announcements, [sh for sh in shares if sh.recipient == s.index])
        for s in secrets
    ]
    joint = th.joint_public_key(announcements)
    fingerprint = hashlib.sha256(encode_parts("threshold vectors: election", joint)).digest()

    ballots = [[encrypt(joint, v, rnd.scalar()) for v in ballot] for ballot in VOTES]
    tally = [add_all(column) for column in zip(*ballots)] + [ZERO]
    expected = [sum(column) for column in zip(*VOTES)] + [0]
    partials = [th.partial_decrypt(k, tally, fingerprint=fingerprint, rng=rnd.scalar) for k in keys]

    vector: dict = {
        "description": __doc__.strip().splitlines()[0] + " See docs/parts/threshold.md.",
        "parameters": params.to_json(),
        "trustee_secrets": [s.to_json() for s in secrets],
        "announcements": [a.to_json() for a in announcements],
        "shares": [sh.to_json() for sh in shares],
        "trustee_keys": [k.to_json() for k in keys],
        "public_shares": [th.public_share(announcements, i).hex() for i in (1, 2, 3)],
        "joint_public_key": joint.hex(),
        "election_fingerprint": fingerprint.hex(),
        "bound": BOUND,
        "tally": [c.to_json() for c in tally],
        "expected": expected,
        "partial_decryptions": [p.to_json() for p in partials],
    }

    cases: list[dict] = []

    def add(kind: str, description: str, message: object, error: str | None = None, **extra: object) -> None:
        """One case; ``message`` goes under the key named by ``kind``."""
        case = {"kind": kind, "description": description, kind: message, **extra, "valid": error is None}
        if error is not None:
            case["error"] = error
        cases.append(case)

    # -- announcements
    ann, bad = "announcement", "ceremony_invalid"
    a1, a2 = vector["announcements"][0], vector["announcements"][1]
    c1, p1 = a1["commitments"], a1["proofs"]
    for doc in vector["announcements"]:
        add(ann, f"trustee {doc['index']}'s announcement", doc)
    add(ann, "commitment C_11 replaced by C_21", _with(a1, commitments=_set(c1, 1, a2["commitments"][1])), bad)
    add(ann, "challenge of proof 0 changed", _with(a1, proofs=_set(p1, 0, _bump(p1[0], "c"))), bad)
    add(ann, "response of proof 1 changed", _with(a1, proofs=_set(p1, 1, _bump(p1[1], "s"))), bad)
    add(ann, "one commitment and proof (t = 2)", _with(a1, commitments=c1[:1], proofs=p1[:1]), bad)
    add(ann, "relabelled as trustee 2", _with(a1, index=2), bad)
    add(ann, "index beyond n", _with(a1, index=4), bad)
    add(ann, "share key of trustee 2", _with(a1, share_public_key=a2["share_public_key"]), bad)
    add(ann, "low-order share key", _with(a1, share_public_key=bytes(32).hex()), bad)
    add(ann, "identity commitment", _with(a1, commitments=_set(c1, 0, bytes(32).hex())), "identity_point")
    add(ann, "commitment not a canonical point", _with(a1, commitments=_set(c1, 0, "ff" * 32)), "invalid_point")

    # -- shares: the recipient opens them with its trustee_secrets
    bad = "share_invalid"
    for share in shares:
        value = th.open_share(params, secrets[share.recipient - 1], announcements[share.sender - 1], share)
        add("share", f"share from {share.sender} to {share.recipient}", share.to_json(), value=value.hex())
    s12 = shares[0].to_json()
    assert (s12["sender"], s12["recipient"]) == (1, 2)
    add("share", "ciphertext bit flipped", _with(s12, ciphertext=_flip(s12["ciphertext"], 0)), bad)
    add("share", "tag bit flipped", _with(s12, ciphertext=_flip(s12["ciphertext"], 47)), bad)
    add("share", "ephemeral key changed", _with(s12, ephemeral_public_key=_flip(s12["ephemeral_public_key"], 1)), bad)
    add("share", "relabelled as sent by trustee 3", _with(s12, sender=3), bad)
    wrong = th.encrypt_share(params, secrets[0], announcements[1], value=Scalar(12345), random_bytes=rnd.bytes)
    add("share", "well encrypted, but not P_1(2)", wrong.to_json(), bad)

    # -- partial decryptions, against the tally and the election fingerprint
    pd, bad = "partial_decryption", "partial_decryption_invalid"
    d1 = vector["partial_decryptions"][0]
    m1, q1 = d1["shares"], d1["proofs"]
    for doc in vector["partial_decryptions"]:
        add(pd, f"trustee {doc['index']}'s partial decryption", doc)
    add(pd, "share M_1 at position 0 times g", _with(d1, shares=_set(m1, 0, (Point.from_hex(m1[0]) + G).hex())), bad)
    add(pd, "challenge at position 1 changed", _with(d1, proofs=_set(q1, 1, _bump(q1[1], "c"))), bad)
    add(pd, "response at position 2 changed", _with(d1, proofs=_set(q1, 2, _bump(q1[2], "s"))), bad)
    add(pd, "relabelled as trustee 2", _with(d1, index=2), bad)
    add(pd, "index not in the ceremony", _with(d1, index=4), bad)
    add(pd, "positions 0 and 1 swapped", _with(d1, shares=_swap(m1), proofs=_swap(q1)), bad)
    add(pd, "last position missing", _with(d1, shares=m1[:-1], proofs=q1[:-1]), bad)
    add(pd, "non-identity share where alpha is the identity", _with(d1, shares=_set(m1, -1, G.hex())), bad)
    elsewhere = hashlib.sha256(b"another election").digest()
    other = th.partial_decrypt(keys[0], tally, fingerprint=elsewhere, rng=rnd.scalar)
    add(pd, "made for another election fingerprint", other.to_json(), bad)

    # -- combination of the partial decryptions of the trustees in "combine"
    for indices in ([1, 2], [1, 3], [2, 3], [1, 2, 3]):
        weights = [th.lagrange_coefficient(i, indices).hex() for i in indices]
        add("combine", f"trustees {indices}", indices, result=expected, lagrange=weights)
    add("combine", "one trustee of t = 2", [1], "threshold_not_met")
    add("combine", "trustee 1 twice", [1, 1], "threshold_not_met")

    vector["cases"] = cases
    _self_check(vector)
    return {"threshold.json": vector}


def _self_check(vector: dict) -> None:
    """Refuse to write a vector whose flags the implementation disagrees with."""
    for case in vector["cases"]:
        outcome = functools.partial(check_case, vector, case)
        if case["valid"]:
            result = outcome()
            want = case.get("result", case.get("value"))
            if want is not None and result != want:
                raise AssertionError(f"{case['description']}: got {result}, want {want}")
        else:
            try:
                outcome()
            except CryptoError as error:
                if error.code != case["error"]:
                    raise AssertionError(f"{case['description']}: {error.code} != {case['error']}") from error
            else:
                raise AssertionError(f"{case['description']}: accepted")
