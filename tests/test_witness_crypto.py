"""Witness cosignatures, the manifest's witness policy and witnessed receipts
(crypto/witness.py, crypto/receipts.py): vectors and properties."""

from __future__ import annotations

import copy

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import log as merkle
from crypto.ballots import Manifest, election_fingerprint, encrypt_ballot, tracking_code
from crypto.elgamal import KeyPair
from crypto.encoding import canonical_json, encode_parts
from crypto.errors import CosignatureError, ManifestError, QuorumError
from crypto.receipts import (
    ReceiptError,
    make_receipt,
    verify_receipt,
    verify_witnessed,
    witness_policy_for,
    witnessed_json,
)
from crypto.witness import (
    COSIGNATURE_TAG,
    Cosignature,
    CosignedHead,
    WitnessPolicy,
    check_quorum,
    cosign,
    cosignature_message,
    verify_cosignature,
)
from tests.support import manifest as make_manifest

SEED = bytes(range(32))
HEAD = merkle.TreeHead("council-2026", 7, bytes.fromhex("11" * 32), 1767225600000)


def _key(n: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes([n]) * 32)


def _pub(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes_raw()


def _policy(keys: list[Ed25519PrivateKey], quorum: int) -> WitnessPolicy:
    return WitnessPolicy.from_json(
        {"quorum": quorum, "members": [{"name": f"witness {i}", "public_key": _pub(k).hex()} for i, k in enumerate(keys)]}
    )


# --- the cosignature -----------------------------------------------------------------------


def test_the_cosigned_message_is_the_typed_parts_of_the_head_and_the_witness_time():
    assert cosignature_message(HEAD, 42) == encode_parts(COSIGNATURE_TAG, "council-2026", 7, bytes.fromhex("11" * 32), 1767225600000, 42)
    # It can never be taken for a tree-head signature of the same head.
    assert cosignature_message(HEAD, HEAD.timestamp_ms) != merkle.tree_head_message(HEAD)


def test_cosignature_vector():
    """Ed25519 is deterministic: a fixed key, head and time give one signature."""
    cosignature = cosign(Ed25519PrivateKey.from_private_bytes(SEED), HEAD, 1767225601000)
    assert cosignature.witness_key.hex() == "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
    assert cosignature.to_json() == {
        "witness_key": cosignature.witness_key.hex(),
        "time_ms": 1767225601000,
        "signature": cosignature.signature.hex(),
    }
    verify_cosignature(HEAD, cosignature)
    assert cosign(Ed25519PrivateKey.from_private_bytes(SEED), HEAD, 1767225601000) == cosignature


@pytest.mark.parametrize(
    "change",
    [
        lambda h: merkle.TreeHead("council-2027", h.size, h.root, h.timestamp_ms),
        lambda h: merkle.TreeHead(h.log_id, h.size + 1, h.root, h.timestamp_ms),
        lambda h: merkle.TreeHead(h.log_id, h.size, bytes.fromhex("12" * 32), h.timestamp_ms),
        lambda h: merkle.TreeHead(h.log_id, h.size, h.root, h.timestamp_ms + 1),
    ],
    ids=["election", "size", "root", "server time"],
)
def test_a_cosignature_covers_every_part_of_the_head(change):
    cosignature = cosign(_key(1), HEAD, 5)
    with pytest.raises(CosignatureError):
        verify_cosignature(change(HEAD), cosignature)


def test_a_cosignature_covers_the_witness_time_and_key():
    cosignature = cosign(_key(1), HEAD, 5)
    with pytest.raises(CosignatureError):
        verify_cosignature(HEAD, Cosignature(cosignature.witness_key, 6, cosignature.signature))
    with pytest.raises(CosignatureError):
        verify_cosignature(HEAD, Cosignature(_pub(_key(2)), 5, cosignature.signature))


@pytest.mark.parametrize(
    "doc",
    [
        None,
        [],
        {"witness_key": "00" * 32, "time_ms": 1},
        {"witness_key": "00" * 32, "time_ms": 1, "signature": "00" * 64, "extra": 1},
        {"witness_key": "00" * 31, "time_ms": 1, "signature": "00" * 64},
        {"witness_key": "AA" * 32, "time_ms": 1, "signature": "00" * 64},
        {"witness_key": "00" * 32, "time_ms": -1, "signature": "00" * 64},
        {"witness_key": "00" * 32, "time_ms": True, "signature": "00" * 64},
        {"witness_key": "00" * 32, "time_ms": 1.0, "signature": "00" * 64},
        {"witness_key": "00" * 32, "time_ms": 2**53, "signature": "00" * 64},
    ],
)
def test_malformed_cosignatures_are_refused(doc):
    with pytest.raises(CosignatureError):
        Cosignature.from_json(doc)


@settings(max_examples=25, deadline=None)
@given(size=st.integers(0, 2**53 - 1), time_ms=st.integers(0, 2**53 - 1), root=st.binary(min_size=32, max_size=32))
def test_cosignatures_round_trip_and_verify(size, time_ms, root):
    root = merkle.EMPTY_ROOT if size == 0 else root
    head = merkle.TreeHead("e", size, root, 3)
    cosignature = cosign(_key(3), head, time_ms)
    assert Cosignature.from_json(cosignature.to_json()) == cosignature
    verify_cosignature(head, Cosignature.from_json(cosignature.to_json()))


# --- the policy ---------------------------------------------------------------------------


def test_no_witnesses_is_quorum_zero():
    assert WitnessPolicy.from_json(None) == WitnessPolicy((), 0)
    assert WitnessPolicy.from_json({"quorum": 0, "members": []}).quorum == 0
    assert Manifest.from_json(make_manifest("plain")).witnesses == WitnessPolicy()


@pytest.mark.parametrize(
    "doc",
    [
        {"quorum": 1},
        {"quorum": 1, "members": [], "extra": 1},
        {"quorum": 0, "members": [{"name": "a", "public_key": "KEY"}]},
        {"quorum": 2, "members": [{"name": "a", "public_key": "KEY"}]},
        {"quorum": True, "members": [{"name": "a", "public_key": "KEY"}]},
        {"quorum": 1, "members": [{"name": "", "public_key": "KEY"}]},
        {"quorum": 1, "members": [{"name": " a", "public_key": "KEY"}]},
        {"quorum": 1, "members": [{"name": "a\u202e", "public_key": "KEY"}]},
        {"quorum": 1, "members": [{"name": "a", "public_key": "KEY".lower()}]},
        {"quorum": 1, "members": [{"name": "a", "public_key": "00" * 31}]},
        {"quorum": 1, "members": [{"name": "a", "public_key": "KEY", "url": "javascript:alert(1)"}]},
        {"quorum": 1, "members": [{"name": "a", "public_key": "KEY", "url": "http://x/\"onload"}]},
        {"quorum": 1, "members": [{"name": "a", "public_key": "KEY", "extra": 1}]},
        {"quorum": 2, "members": [{"name": "a", "public_key": "KEY"}, {"name": "b", "public_key": "KEY"}]},
    ],
)
def test_bad_witness_policies_are_refused_in_the_manifest(doc):
    doc = copy.deepcopy(doc)
    for member in doc.get("members", []):
        if member.get("public_key") == "KEY":
            member["public_key"] = _pub(_key(1)).hex()
        elif member.get("public_key") == "key":
            member["public_key"] = _pub(_key(1)).hex().upper()
    manifest = make_manifest("with-witnesses")
    manifest["witnesses"] = doc
    with pytest.raises(ManifestError):
        Manifest.from_json(manifest)


def test_the_witnesses_enter_the_election_fingerprint():
    key = KeyPair.generate().public
    plain = make_manifest("w")
    witnessed = {**plain, "witnesses": _policy([_key(1)], 1).to_json()}
    other = {**plain, "witnesses": _policy([_key(2)], 1).to_json()}
    prints = {election_fingerprint(Manifest.from_json(m), key) for m in (plain, witnessed, other)}
    assert len(prints) == 3
    assert Manifest.from_json(witnessed).witnesses == _policy([_key(1)], 1)


# --- the quorum ---------------------------------------------------------------------------


def _signed(server: Ed25519PrivateKey, *cosigners: Ed25519PrivateKey) -> CosignedHead:
    return CosignedHead(merkle.sign_tree_head(server, HEAD), tuple(cosign(k, HEAD, 9) for k in cosigners))


def test_the_quorum_counts_distinct_valid_cosignatures_by_the_elections_witnesses():
    server, a, b, c, outsider = _key(9), _key(1), _key(2), _key(3), _key(4)
    policy = _policy([a, b, c], 2)
    assert {w.name for w in check_quorum(policy, _pub(server), _signed(server, a, c))} == {"witness 0", "witness 2"}
    for cosigned in (
        _signed(server, a),  # one short
        _signed(server, a, a),  # the same witness twice
        _signed(server, a, outsider),  # a key the election does not name
        _signed(server),
    ):
        with pytest.raises(QuorumError):
            check_quorum(policy, _pub(server), cosigned)
    forged = _signed(server, a, b)
    bad = Cosignature(forged.cosignatures[1].witness_key, 10, forged.cosignatures[1].signature)
    with pytest.raises(QuorumError, match="not cosigned by: witness 1, witness 2"):
        check_quorum(policy, _pub(server), CosignedHead(forged.tree_head, (forged.cosignatures[0], bad)))


def test_the_quorum_needs_the_servers_signature_on_the_head():
    a = _key(1)
    with pytest.raises(merkle.TreeHeadSignatureError):
        check_quorum(_policy([a], 1), _pub(_key(8)), _signed(_key(9), a))


def test_cosigned_heads_round_trip():
    cosigned = _signed(_key(9), _key(1), _key(2))
    assert CosignedHead.from_json(cosigned.to_json()) == cosigned
    with pytest.raises(CosignatureError):
        CosignedHead.from_json({**cosigned.to_json(), "extra": 1})
    with pytest.raises(CosignatureError):
        CosignedHead.from_json({**cosigned.to_json(), "cosignatures": [cosigned.cosignatures[0].to_json()] * 17})


# --- witnessed receipts ---------------------------------------------------------------------


class Board:
    """A board with an election (its manifest names the witnesses), a joint key
    and one ballot, and a receipt for it; then more entries."""

    def __init__(self, witnesses: list[Ed25519PrivateKey], quorum: int) -> None:
        self.server = _key(9)
        self.election_id = "witnessed-2026"
        document = {**make_manifest(self.election_id), "witnesses": _policy(witnesses, quorum).to_json()}
        manifest = Manifest.from_json(document)
        key = KeyPair.generate().public
        fingerprint = election_fingerprint(manifest, key)
        ballot, _ = encrypt_ballot(manifest, key, fingerprint, "ab" * 32, _choices(manifest))
        self.log = merkle.MemoryLog()
        self.created = self._append("election-created", {"manifest": document})
        self.joint = self._append("joint-key", {"joint_key": key.to_bytes().hex(), "fingerprint": fingerprint.hex()})
        entry = self._append("ballot", {"tracking_code": tracking_code(fingerprint, ballot).hex(), "credential": "ab" * 32, "ballot": ballot.to_json(), "signature": "00" * 64})
        head = self.head()
        inclusion = merkle.InclusionProof(2, 3, tuple(self.log.inclusion_proof(2, 3)))
        self.receipt = make_receipt(self.server, _pub(self.server), entry, head, inclusion)

    def _append(self, kind: str, body: dict) -> dict:
        entry = {"election_id": self.election_id, "index": self.log.size, "kind": kind, "time": "2026-01-01T00:00:00.000+00:00", "body": body}
        self.log.append(canonical_json(entry))
        return entry

    def head(self) -> merkle.SignedTreeHead:
        return merkle.sign_tree_head(self.server, merkle.TreeHead(self.election_id, self.log.size, self.log.root(), 1767225600000 + self.log.size))

    def witnessed(self, *cosigners: Ed25519PrivateKey) -> dict:
        for _ in range(3):
            self._append("admin-action", {"action": "x", "by": "A1"})
        head = self.head()
        cosigned = CosignedHead(head, tuple(cosign(k, head.head, 1) for k in cosigners))
        proof = merkle.ConsistencyProof(3, head.head.size, tuple(self.log.consistency_proof(3, head.head.size)))
        return {**self.receipt, "witnessed": witnessed_json(cosigned, proof)}


def _choices(manifest: Manifest) -> list[list[int]]:
    return [[1] + [0] * (len(q.option_ids) - 1) for q in manifest.questions]


def test_a_receipt_completed_by_the_quorum_verifies_and_its_server_signature_still_holds():
    a, b = _key(1), _key(2)
    board = Board([a, b], 2)
    policy = witness_policy_for(board.receipt, board.created, board.joint)
    assert policy.quorum == 2
    completed = board.witnessed(a, b)
    verify_receipt(completed)  # the completion is outside the server's signature
    cosigned, names = verify_witnessed(completed, policy)
    assert cosigned.tree_head.head.size == 6 and len(names) == 2
    with pytest.raises(ReceiptError, match="no head cosigned"):
        verify_witnessed(board.receipt, policy)
    with pytest.raises(QuorumError):
        verify_witnessed(board.witnessed(a), policy)


def test_a_witnessed_head_that_does_not_extend_the_receipts_head_is_refused():
    a = _key(1)
    board = Board([a], 1)
    policy = witness_policy_for(board.receipt, board.created, board.joint)
    completed = board.witnessed(a)
    other = Board([a], 1)  # another board: same election, different ballot and key
    forked = {**completed, "witnessed": other.witnessed(a)["witnessed"]}
    with pytest.raises(Exception) as caught:
        verify_witnessed(forked, policy)
    assert isinstance(caught.value, (ReceiptError, merkle.ConsistencyProofError, merkle.TreeHeadSignatureError))
    bad_proof = copy.deepcopy(completed)
    bad_proof["witnessed"]["consistency"]["path"][0] = "00" * 32
    with pytest.raises(merkle.ConsistencyProofError):
        verify_witnessed(bad_proof, policy)


def test_the_witness_policy_is_the_one_the_ballot_was_made_for():
    """A server cannot hand the voter a manifest with witnesses of its choice:
    the tracking code binds the manifest through the fingerprint."""
    a, mine = _key(1), _key(5)
    board = Board([a], 1)
    swapped = copy.deepcopy(board.created)
    swapped["body"]["manifest"]["witnesses"] = _policy([mine], 1).to_json()
    with pytest.raises(ReceiptError, match="not the ones this ballot was made for"):
        witness_policy_for(board.receipt, swapped, board.joint)
    other_key = copy.deepcopy(board.joint)
    other_key["body"]["joint_key"] = KeyPair.generate().public.to_bytes().hex()
    with pytest.raises(ReceiptError):
        witness_policy_for(board.receipt, board.created, other_key)
    with pytest.raises(ReceiptError):
        witness_policy_for(board.receipt, {}, board.joint)
