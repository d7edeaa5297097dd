"""Vectors for witness cosignatures: ``witness.json`` (crypto/witness.py,
crypto/receipts.py's ``witnessed`` completion and ``witness_policy_for``).

Everything is deterministic: Ed25519 keys from SHA-256 of public labels
(signatures are deterministic, RFC 8032 5.1.6), the ballot from the counter
source of gen_ballots. Each case carries ``valid`` (and, when false, the error
class the reference raises; the quorum and policy cases also carry its exact
message) set by construction; the generator checks that crypto/ reaches the
same verdict, and the browser's JavaScript (tests/js/witness.test.mjs) checks
the same cases.
"""

from __future__ import annotations

import copy
import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crypto import log as merkle
from crypto.ballots import Manifest, election_fingerprint, encrypt_ballot, tracking_code
from crypto.encoding import canonical_json, hash_to_scalar
from crypto.errors import CryptoError
from crypto.group import g_mul
from crypto.receipts import make_receipt, verify_witnessed, witness_policy_for, witnessed_json
from crypto.witness import (
    Cosignature,
    CosignedHead,
    WitnessPolicy,
    check_quorum,
    cosign,
    cosignature_message,
    verify_cosignature,
)
from tests.vectors.gen_ballots import SEED, CounterRng

ELECTION = "witness-vectors"
TIMESTAMP_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
TIME = "2026-01-01T00:00:00.000+00:00"


def _key(label: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(f"votingpilot test vectors: {label}".encode()).digest())


def _public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes_raw()


SERVER = _key("witness server key")
OTHER_SERVER = _key("another server key")
WITNESSES = [_key(f"witness {i}") for i in range(1, 4)]
STRANGER = _key("a key no election names")
NAMES = ["監査事務局", "Library witness", "情報政策課"]


def policy_doc(quorum: int = 2, count: int = 3) -> dict:
    members = []
    for i in range(count):
        member = {"name": NAMES[i], "public_key": _public(WITNESSES[i]).hex()}
        if i != 1:
            member["url"] = f"http://127.0.0.1:{9301 + i}/witness" if i else "https://witness.example.jp"
        members.append(member)
    return {"quorum": quorum, "members": members}


def _verdict(fn) -> str | None:
    try:
        fn()
    except CryptoError as exc:
        return type(exc).__name__
    return None


def _message(fn) -> str:
    try:
        fn()
    except CryptoError as exc:
        return str(exc)
    raise AssertionError("expected an error")


# --- the witness policy in the manifest -----------------------------------------------------


def policy_cases() -> list[dict]:
    good = policy_doc()
    key = good["members"][0]["public_key"]

    def member(**change) -> dict:
        doc = copy.deepcopy(good)
        doc["members"][0].update(change)
        doc["members"][0] = {k: v for k, v in doc["members"][0].items() if v is not _DROP}
        return doc

    cases = [
        ("absent (no witnesses)", None, True),
        ("2 of 3, two with urls", good, True),
        ("1 of 1", policy_doc(1, 1), True),
        ("3 of 3", policy_doc(3, 3), True),
        ("no members, quorum 0", {"quorum": 0, "members": []}, True),
        ("url explicitly null", member(url=None), True),
        ("a name with an inner space", member(name="監査 事務局"), True),
        ("a 64-character name", member(name="あ" * 64), True),
        ("a url of 200 characters", member(url="https://w.example/" + "a" * 182), True),
        ("not an object", [good], False),
        ("an extra member", {**good, "extra": 1}, False),
        ("quorum missing", {"members": good["members"]}, False),
        ("members not a list", {"quorum": 1, "members": {}}, False),
        ("17 members", {"quorum": 1, "members": [{"name": f"w{i}", "public_key": f"{i:064x}"} for i in range(17)]}, False),
        ("two witnesses with one key", {"quorum": 1, "members": [good["members"][0], {**good["members"][1], "public_key": key}]}, False),
        ("quorum 0 with witnesses", {**good, "quorum": 0}, False),
        ("quorum above the number of witnesses", {**good, "quorum": 4}, False),
        ("quorum 1 without witnesses", {"quorum": 1, "members": []}, False),
        ("quorum a boolean", {**policy_doc(1, 1), "quorum": True}, False),
        ("quorum a string", {**good, "quorum": "2"}, False),
        ("a member not an object", {"quorum": 1, "members": ["x"]}, False),
        ("a member without public_key", member(public_key=_DROP), False),
        ("a member with an extra key", member(role="x"), False),
        ("an empty name", member(name=""), False),
        ("a 65-character name", member(name="あ" * 65), False),
        ("a name with a leading space", member(name=" 監査事務局"), False),
        ("a name with a trailing space", member(name="監査事務局 "), False),
        ("a name with a control character", member(name="監査\u0007事務局"), False),
        ("a name with a no-break space", member(name="監査\u00a0事務局"), False),
        ("a name with a zero-width space", member(name="監査\u200b事務局"), False),
        ("a name with a line separator", member(name="監査\u2028事務局"), False),
        ("a name not a string", member(name=7), False),
        ("an upper-case key", member(public_key=key.upper()), False),
        ("a short key", member(public_key=key[:62]), False),
        ("a key not a string", member(public_key=1), False),
        ("an ftp url", member(url="ftp://witness.example.jp"), False),
        ("a url with a query", member(url="https://witness.example.jp/?x=1"), False),
        ("a url with a space", member(url="https://witness.example.jp/a b"), False),
        ("a url of 201 characters", member(url="https://w.example/" + "a" * 183), False),
        ("a url not a string", member(url=5), False),
    ]
    out = []
    for desc, doc, valid in cases:
        case: dict = {"desc": desc, "witnesses": doc, "valid": valid}
        error = _verdict(lambda d=doc: WitnessPolicy.from_json(d))
        assert (error is None) == valid, (desc, error)
        if valid:
            policy = WitnessPolicy.from_json(doc)
            case["quorum"] = policy.quorum
            case["members"] = [w.to_json() for w in policy.witnesses]
            # The manifest carries it: Manifest.from_json accepts it too.
            Manifest.from_json(_manifest(doc))
        else:
            case["error"] = error
            case["message"] = _message(lambda d=doc: WitnessPolicy.from_json(d))
            assert _verdict(lambda d=doc: Manifest.from_json(_manifest(d))) == "ManifestError", desc
        out.append(case)
    return out


_DROP = object()


def _manifest(witnesses: object = None) -> dict:
    doc = {
        "election_id": ELECTION,
        "title": {"ja": "立会人のテスト", "en": "Witness test"},
        "revote_policy": "last",
        "questions": [
            {
                "id": "q1",
                "text": {"ja": "一つ選んでください", "en": "Choose one"},
                "min_selections": 1,
                "max_selections": 1,
                "options": [{"id": f"o{i}", "label": {"ja": f"案{i}", "en": f"Plan {i}"}} for i in range(3)],
            }
        ],
    }
    if witnesses is not None:
        doc["witnesses"] = witnesses
    return doc


# --- cosignatures -------------------------------------------------------------------------


def _head(size: int, label: str = "a") -> merkle.TreeHead:
    return merkle.TreeHead(ELECTION, size, hashlib.sha256(f"root {label} {size}".encode()).digest(), TIMESTAMP_MS + size)


def cosignature_cases() -> list[dict]:
    head = _head(7)
    time_ms = TIMESTAMP_MS + 60_000
    good = cosign(WITNESSES[0], head, time_ms)
    assert cosignature_message(head, time_ms) == cosignature_message(head, time_ms)
    other = _head(7, "b")
    flipped = bytearray(good.signature)
    flipped[0] ^= 1

    def doc(cos: Cosignature, **change) -> dict:
        return {**cos.to_json(), **change}

    cases = [
        ("a witness's cosignature", head, doc(good), True),
        ("at time 0", head, cosign(WITNESSES[1], head, 0).to_json(), True),
        ("at the largest time", head, cosign(WITNESSES[2], head, merkle.MAX_SIZE).to_json(), True),
        ("a flipped signature bit", head, doc(good, signature=bytes(flipped).hex()), False),
        ("another time than signed", head, doc(good, time_ms=time_ms + 1), False),
        ("another head (root) than signed", other, doc(good), False),
        ("another witness's key", head, doc(good, witness_key=_public(WITNESSES[1]).hex()), False),
        ("an all-zero key", head, doc(good, witness_key="00" * 32), False),
        ("upper-case hex", head, doc(good, signature=good.signature.hex().upper()), False),
        ("a short signature", head, doc(good, signature=good.signature.hex()[:126]), False),
        ("a negative time", head, doc(good, time_ms=-1), False),
        ("a time beyond 2^53 - 1", head, doc(good, time_ms=merkle.MAX_SIZE + 1), False),
        ("a time as a string", head, doc(good, time_ms=str(time_ms)), False),
        ("an extra member", head, {**doc(good), "extra": 1}, False),
        ("no signature", head, {k: v for k, v in doc(good).items() if k != "signature"}, False),
    ]
    out = []
    for desc, h, cos_doc, valid in cases:

        def run(h=h, cos_doc=cos_doc) -> None:
            verify_cosignature(h, Cosignature.from_json(cos_doc))

        error = _verdict(run)
        assert (error is None) == valid, (desc, error)
        case = {"desc": desc, "head": h.to_json(), "cosignature": cos_doc, "valid": valid}
        if not valid:
            case["error"] = error
        case["message"] = cosignature_message(h, cos_doc["time_ms"]).hex() if desc == "a witness's cosignature" else None
        out.append({k: v for k, v in case.items() if v is not None})
    return out


# --- the quorum -----------------------------------------------------------------------------


def quorum_cases() -> list[dict]:
    head = _head(12)
    sth = merkle.sign_tree_head(SERVER, head)
    times = [TIMESTAMP_MS + 1000 * i for i in range(1, 4)]
    cos = [cosign(w, head, t) for w, t in zip(WITNESSES, times, strict=True)]
    bad = Cosignature(cos[2].witness_key, cos[2].time_ms, bytes(64))
    stranger = cosign(STRANGER, head, times[0])
    forged_sth = merkle.SignedTreeHead(merkle.TreeHead(ELECTION, 12, bytes(32), head.timestamp_ms), sth.signature)
    two, three = policy_doc(2), policy_doc(3)
    cases = [
        ("2 of 3, two cosigned", two, sth, [cos[0], cos[1]], True),
        ("2 of 3, all three cosigned", two, sth, cos, True),
        ("3 of 3, all three", three, sth, list(reversed(cos)), True),
        ("1 of 1", policy_doc(1, 1), sth, [cos[0]], True),
        ("no witnesses: nothing needed", {"quorum": 0, "members": []}, sth, [], True),
        ("2 of 3, one cosigned", two, sth, [cos[1]], False),
        ("2 of 3, none", two, sth, [], False),
        ("one witness counted once", two, sth, [cos[0], cos[0]], False),
        ("a key the election does not name counts for nothing", two, sth, [cos[0], stranger], False),
        ("a bad cosignature counts for nothing", two, sth, [cos[0], bad], False),
        ("3 of 3, two cosigned", three, sth, [cos[0], cos[2]], False),
        ("the head not signed by the server", two, forged_sth, cos, False),
        ("the head signed by another key", two, merkle.sign_tree_head(OTHER_SERVER, head), cos, False),
    ]
    out = []
    for desc, policy_json, signed, cosignatures, valid in cases:
        cosigned = CosignedHead(signed, tuple(cosignatures))
        policy = WitnessPolicy.from_json(policy_json)

        def run(policy=policy, cosigned=cosigned) -> None:
            check_quorum(policy, _public(SERVER), cosigned)

        error = _verdict(run)
        assert (error is None) == valid, (desc, error)
        case = {"desc": desc, "witnesses": policy_json, "server_key": _public(SERVER).hex(), "cosigned": cosigned.to_json(), "valid": valid}
        if valid:
            case["cosigned_by"] = [w.name for w in check_quorum(policy, _public(SERVER), cosigned)]
        else:
            case["error"] = error
            case["message"] = _message(run)
        out.append(case)
    # Malformed cosigned heads: refused before any signature is checked.
    malformed = [
        ("no cosignatures member", {"tree_head": sth.to_json()}, "CosignatureError"),
        ("cosignatures not a list", {"tree_head": sth.to_json(), "cosignatures": {}}, "CosignatureError"),
        ("17 cosignatures", {"tree_head": sth.to_json(), "cosignatures": [cos[0].to_json()] * 17}, "CosignatureError"),
        ("a malformed tree head", {"tree_head": {**sth.to_json(), "size": "12"}, "cosignatures": []}, "EncodingError"),
        ("a malformed cosignature", {"tree_head": sth.to_json(), "cosignatures": [{**cos[0].to_json(), "time_ms": 1.5}]}, "CosignatureError"),
    ]
    for desc, doc, expected in malformed:
        error = _verdict(lambda doc=doc: CosignedHead.from_json(doc))
        assert error == expected, (desc, error)
        out.append({"desc": desc, "witnesses": two, "server_key": _public(SERVER).hex(), "cosigned": doc, "valid": False, "error": error})
    return out


# --- receipts: the witnessed completion and the policy's binding ------------------------------


class _Election:
    """A board: election-created (a manifest naming the witnesses), joint-key,
    then ballots and other entries; heads signed at every size."""

    def __init__(self, witnesses: dict | None, *, fork_at: int | None = None) -> None:
        self.document = _manifest(witnesses)
        self.manifest = Manifest.from_json(self.document)
        self.joint = g_mul(hash_to_scalar("votingpilot/v1/test-vector-joint-secret", SEED, ELECTION))
        self.fingerprint = election_fingerprint(self.manifest, self.joint)
        self.log = merkle.MemoryLog()
        self.entries: list[dict] = []
        self.heads: dict[int, merkle.SignedTreeHead] = {}
        self.append("election-created", {"manifest": self.document, "trustees": 3, "trustee_ids": ["T0001", "T0002", "T0003"],
                                         "threshold": 2, "server_key": _public(SERVER).hex()})
        self.append("joint-key", {"joint_key": self.joint.hex(), "fingerprint": self.fingerprint.hex(), "public_shares": {}, "endorsements": []})
        self.append("election-opened", {})

    def append(self, kind: str, body: dict) -> dict:
        entry = {"election_id": ELECTION, "index": self.log.size, "kind": kind, "time": TIME, "body": body}
        self.log.append(canonical_json(entry))
        self.entries.append(entry)
        self.heads[self.log.size] = merkle.sign_tree_head(SERVER, merkle.TreeHead(ELECTION, self.log.size, self.log.root(), TIMESTAMP_MS + self.log.size))
        return entry

    def cast(self, label: str, choice: int) -> dict:
        voter = hashlib.sha256(label.encode()).hexdigest()
        choices = [[1 if o == choice else 0 for o in range(3)]]
        ballot, _ = encrypt_ballot(self.manifest, self.joint, self.fingerprint, voter, choices, rng=CounterRng(f"witness {label}"))
        code = tracking_code(self.fingerprint, ballot)
        entry = self.append("ballot", {"tracking_code": code.hex(), "credential": voter, "ballot": ballot.to_json(), "signature": "00" * 64})
        size = self.log.size
        inclusion = merkle.InclusionProof(entry["index"], size, tuple(self.log.inclusion_proof(entry["index"], size)))
        return make_receipt(SERVER, _public(SERVER), entry, self.heads[size], inclusion)

    def cosigned(self, size: int, witnesses=WITNESSES[:2], *, key=SERVER) -> CosignedHead:
        sth = self.heads[size] if key is SERVER else merkle.sign_tree_head(key, self.heads[size].head)
        return CosignedHead(sth, tuple(cosign(w, sth.head, TIMESTAMP_MS + 10_000 + size) for w in witnesses))

    def consistency(self, old: int, new: int) -> merkle.ConsistencyProof:
        return merkle.ConsistencyProof(old, new, tuple(self.log.consistency_proof(old, new)))


def witnessed_cases() -> list[dict]:
    policy_json = policy_doc(2)
    policy = WitnessPolicy.from_json(policy_json)
    board = _Election(policy_json)
    receipt = board.cast("voter 1", 1)
    for i in range(4):
        board.append("admin-action", {"action": "x", "by": f"A{i}"})
    later = board.cast("voter 2", 2)
    old = receipt["tree_head"]["size"]
    new = board.log.size
    # A split view: the same board up to the receipt, then other entries the voter never sees cosigned.
    fork = _Election(policy_json)
    fork_receipt = fork.cast("voter 1", 1)
    assert fork_receipt == receipt
    for i in range(5):
        fork.append("admin-action", {"action": "hidden", "by": f"X{i}"})
    other_branch = _Election(policy_json)
    other_branch.append("admin-action", {"action": "first", "by": "X"})
    other_branch.cast("voter 1", 1)
    for i in range(4):
        other_branch.append("admin-action", {"action": "x", "by": f"A{i}"})
    other_size = other_branch.log.size
    assert other_size == new and other_branch.log.root() != board.log.root()

    def with_witnessed(cosigned: CosignedHead | dict, proof: merkle.ConsistencyProof | dict, base: dict = receipt) -> dict:
        c = cosigned.to_json() if isinstance(cosigned, CosignedHead) else cosigned
        p = proof.to_json() if isinstance(proof, merkle.ConsistencyProof) else proof
        return {**base, "witnessed": {"cosigned": c, "consistency": p}}

    good = board.cosigned(new)
    good_proof = board.consistency(old, new)
    bad_path = merkle.ConsistencyProof(old, new, tuple(bytes(32) for _ in good_proof.path))
    other_election = CosignedHead(
        merkle.sign_tree_head(SERVER, merkle.TreeHead("another-election", new, board.log.root(), TIMESTAMP_MS)),
        tuple(cosign(w, merkle.TreeHead("another-election", new, board.log.root(), TIMESTAMP_MS), 1) for w in WITNESSES[:2]),
    )
    cases = [
        ("cosigned by 2 of 3, later head", with_witnessed(good, good_proof), True),
        ("cosigned by 3 of 3", with_witnessed(board.cosigned(new, WITNESSES), good_proof), True),
        ("the receipt's own head cosigned (empty proof)", with_witnessed(board.cosigned(old), board.consistency(old, old)), True),
        ("a later ballot's receipt, its own head", with_witnessed(board.cosigned(new), board.consistency(new, new), later), True),
        ("no witnessed member", receipt, False),
        ("witnessed not an object", {**receipt, "witnessed": []}, False),
        ("witnessed with an extra member", {**with_witnessed(good, good_proof), "witnessed": {**with_witnessed(good, good_proof)["witnessed"], "x": 1}}, False),
        ("a malformed cosigned head", with_witnessed({"tree_head": good.tree_head.to_json()}, good_proof), False),
        ("a malformed proof", with_witnessed(good, {"old_size": old, "new_size": new}), False),
        ("one witness only", with_witnessed(board.cosigned(new, WITNESSES[:1]), good_proof), False),
        ("cosigned by a key the election does not name", with_witnessed(board.cosigned(new, [WITNESSES[0], STRANGER]), good_proof), False),
        ("a proof for other sizes", with_witnessed(good, board.consistency(old - 1, new)), False),
        ("a proof with wrong hashes", with_witnessed(good, bad_path), False),
        ("the head signed by another key", with_witnessed(board.cosigned(new, key=OTHER_SERVER), good_proof), False),
        ("a head for another election", with_witnessed(other_election, good_proof), False),
        ("a cosigned head smaller than the receipt's", with_witnessed(board.cosigned(old - 1), board.consistency(old, old)), False),
        ("split view: a cosigned fork with its own proof", with_witnessed(fork.cosigned(fork.log.size), fork.consistency(old, fork.log.size)), True),
        ("split view: a cosigned other branch, the honest proof", with_witnessed(other_branch.cosigned(other_size), board.consistency(old, other_size)), False),
        ("the receipt changed (its signature fails)", {**with_witnessed(good, good_proof), "leaf_index": receipt["leaf_index"] + 1}, False),
    ]
    out = []
    for desc, doc, valid in cases:

        def run(doc=doc) -> None:
            verify_witnessed(doc, policy, server_key=_public(SERVER))

        error = _verdict(run)
        assert (error is None) == valid, (desc, error)
        case = {"desc": desc, "receipt": doc, "witnesses": policy_json, "server_key": _public(SERVER).hex(), "valid": valid}
        if valid:
            cosigned, names = verify_witnessed(doc, policy, server_key=_public(SERVER))
            case["cosigned_size"] = cosigned.tree_head.head.size
            case["cosigned_by"] = [w.name for w in names]
        else:
            case["error"] = error
        out.append(case)
    # The witnessed member is not covered by the server's signature: the plain receipt's is unchanged.
    assert with_witnessed(good, good_proof)["signature"] == receipt["signature"]
    assert witnessed_json(good, good_proof) == with_witnessed(good, good_proof)["witnessed"]
    return out


def binding_cases() -> list[dict]:
    """witness_policy_for: the board's election-created and joint-key entries are
    believed only when the receipt's tracking code recomputes from them."""
    policy_json = policy_doc(2)
    board = _Election(policy_json)
    receipt = board.cast("voter 1", 0)
    created, joint = board.entries[0], board.entries[1]
    theirs = copy.deepcopy(created)
    theirs["body"]["manifest"]["witnesses"] = {"quorum": 1, "members": [{"name": "偽の立会人", "public_key": _public(STRANGER).hex()}]}
    none = copy.deepcopy(created)
    del none["body"]["manifest"]["witnesses"]
    other_key = copy.deepcopy(joint)
    other_key["body"]["joint_key"] = g_mul(hash_to_scalar("votingpilot/v1/test-vector-joint-secret", SEED, "other")).hex()
    bad_key = copy.deepcopy(joint)
    bad_key["body"]["joint_key"] = "ff" * 32
    bad_manifest = copy.deepcopy(created)
    bad_manifest["body"]["manifest"]["witnesses"]["quorum"] = 9
    renamed = copy.deepcopy(created)
    renamed["body"]["manifest"]["election_id"] = "another-election"
    plain = _Election(None)
    plain_receipt = plain.cast("voter 1", 0)
    cases = [
        ("the election's own entries", receipt, created, joint, True),
        ("an election without witnesses", plain_receipt, plain.entries[0], plain.entries[1], True),
        ("the server's own witnesses in the manifest", receipt, theirs, joint, False),
        ("the witnesses removed from the manifest", receipt, none, joint, False),
        ("another election key", receipt, created, other_key, False),
        ("a malformed election key", receipt, created, bad_key, False),
        ("a malformed witness policy", receipt, bad_manifest, joint, False),
        ("the manifest of another election id", receipt, renamed, joint, False),
        ("no manifest", receipt, {"body": {}}, joint, False),
        ("the entries swapped", receipt, joint, created, False),
    ]
    out = []
    for desc, r, c, j, valid in cases:
        error = _verdict(lambda r=r, c=c, j=j: witness_policy_for(r, c, j))
        assert (error is None) == valid, (desc, error)
        case = {"desc": desc, "receipt": r, "created": c, "joint": j, "valid": valid}
        if valid:
            policy = witness_policy_for(r, c, j)
            case["quorum"] = policy.quorum
            case["members"] = [w.to_json() for w in policy.witnesses]
        else:
            case["error"] = error
        out.append(case)
    return out


def generate() -> dict[str, object]:
    return {
        "witness.json": {
            "description": "Witness cosignatures (crypto/witness.py) and receipts' witnessed completion (crypto/receipts.py); tests/vectors/gen_witness.py",
            "cosignature_tag": "votingpilot/v1/cosignature",
            "policies": policy_cases(),
            "cosignatures": cosignature_cases(),
            "quorum": quorum_cases(),
            "witnessed": witnessed_cases(),
            "bindings": binding_cases(),
        }
    }
