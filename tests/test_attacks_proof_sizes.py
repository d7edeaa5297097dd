"""A server holding its signing key hands the Python client proofs whose sizes
or leaf index are not the ones of the signed heads (red-team finding 14b,
"CLI head binding"). ``ConsistencyProof.verify`` and ``InclusionProof.verify``
take the expected sizes and index from the caller, so a proof valid for 4 -> 8
given for 3 -> 8 (a forked board), or one for leaf 3 given for entry 0, is
refused by every caller: the trustee's ``pinned_head`` and ``ceremony_view``,
``witnessed.prove_one_board``. Also: a malformed manifest on the board is a
TrusteeRefusal, and ``voting trustee decrypt`` after ``voting trustee unseal``
uses the root CA pinned in the trustee file, refusing a --trust-anchor that
names another one."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crypto import ca
from crypto.credentials import TrustStore
from crypto.encoding import canonical_json
from crypto.errors import ConsistencyProofError, InclusionProofError
from crypto.log import (
    ConsistencyProof,
    InclusionProof,
    MemoryLog,
    SignedTreeHead,
    TreeHead,
    leaf_hash,
    node_hash,
    sign_tree_head,
    verify_consistency,
)
from voting import client as vc
from voting import witnessed
from voting.cli import common, main
from voting.trustee_file import seal_trustee_file

EID = "fork-test"


class StubClient:
    """The server's answers, as a dishonest server holding its signing key gives them."""

    def __init__(self, key: Ed25519PrivateKey, answers: dict) -> None:
        self.key, self.answers, self.credential = key, answers, None

    def get(self, path: str, **params):
        if path == "/api/server-key":
            raw = self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            return {"server_key": raw.hex()}
        return self.answers[path.rsplit("/", 1)[-1]]


def _signed(key: Ed25519PrivateKey, size: int, root: bytes) -> dict:
    return sign_tree_head(key, TreeHead(EID, size, root, 1_700_000_000_000)).to_json()


def _log(n: int) -> MemoryLog:
    log = MemoryLog()
    for i in range(n):
        log.append(f"entry {i}".encode())
    return log


def _fork(r3: bytes) -> tuple[bytes, dict]:
    """A head of 8 "entries" whose root is node(R3, X): R3 passed off as the root
    of a perfect 4-leaf subtree, with a proof that is valid for 4 -> 8. No real
    8-entry extension of the 3-entry board has this root."""
    x = bytes(range(32))
    return node_hash(r3, x), {"proof": {"old_size": 4, "new_size": 8, "path": [x.hex()]}}


def test_the_proof_objects_bind_the_sizes_and_index_the_caller_expects():
    log = _log(8)
    r3, r8 = log.root(3), log.root(8)
    forged_root, reply = _fork(r3)
    proof = ConsistencyProof.from_json(reply["proof"])
    with pytest.raises(ConsistencyProofError):
        proof.verify(r3, forged_root, old_size=3, new_size=8)
    with pytest.raises(ConsistencyProofError):
        verify_consistency(3, 8, r3, forged_root, proof.path)
    honest = ConsistencyProof(3, 8, tuple(log.consistency_proof(3, 8)))
    honest.verify(r3, r8, old_size=3, new_size=8)
    inclusion = InclusionProof(3, 8, tuple(log.inclusion_proof(3, 8)))
    inclusion.verify(leaf_hash(b"entry 3"), r8, index=3, tree_size=8)
    with pytest.raises(InclusionProofError):
        inclusion.verify(leaf_hash(b"entry 3"), r8, index=0, tree_size=8)
    with pytest.raises(TypeError):  # no caller can leave the sizes to the proof
        honest.verify(r3, r8)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        inclusion.verify(leaf_hash(b"entry 3"), r8)  # type: ignore[call-arg]


def test_pinned_head_refuses_a_head_that_does_not_extend_the_seen_board():
    key = Ed25519PrivateKey.generate()
    log = _log(8)
    r3 = log.root(3)
    state: dict = {}
    vc.pinned_head(StubClient(key, {"head": _signed(key, 3, r3)}), EID, state)
    assert state["seen_head"]["size"] == 3
    forged_root, reply = _fork(r3)
    with pytest.raises(vc.TrusteeRefusal, match="forked board"):
        vc.pinned_head(StubClient(key, {"head": _signed(key, 8, forged_root), "consistency": reply}), EID, state)
    assert state["seen_head"]["size"] == 3  # the fork is not pinned
    # The honest extension is accepted.
    honest = {"proof": ConsistencyProof(3, 8, tuple(log.consistency_proof(3, 8))).to_json()}
    vc.pinned_head(StubClient(key, {"head": _signed(key, 8, log.root(8)), "consistency": honest}), EID, state)
    assert state["seen_head"]["size"] == 8


def test_ceremony_view_refuses_election_created_read_from_a_leaf_other_than_0():
    key = Ed25519PrivateKey.generate()
    log = MemoryLog()
    fake = canonical_json({"index": 0, "kind": "election-created", "body": {"manifest": {}}})
    for e in (b"real election-created", b"e1", b"e2", fake):
        log.append(e)
    answers = {
        "head": _signed(key, 4, log.root(4)),
        "inclusion": {
            "entry": fake.decode(),
            "proof": {"leaf_index": 3, "tree_size": 4, "path": [h.hex() for h in log.inclusion_proof(3, 4)]},
        },
    }
    with pytest.raises(vc.TrusteeRefusal, match="not on the signed board"):
        vc.ceremony_view(StubClient(key, answers), EID, {})


def test_ceremony_view_refuses_a_malformed_manifest_without_a_traceback():
    key = Ed25519PrivateKey.generate()
    log = MemoryLog()
    entry = canonical_json({"index": 0, "kind": "election-created", "body": {"manifest": {}}})
    log.append(entry)
    answers = {
        "head": _signed(key, 1, log.root(1)),
        "inclusion": {"entry": entry.decode(), "proof": {"leaf_index": 0, "tree_size": 1, "path": []}},
    }
    with pytest.raises(vc.TrusteeRefusal, match="manifest is malformed"):
        vc.ceremony_view(StubClient(key, answers), EID, {})


def test_prove_one_board_refuses_two_boards_passed_off_as_one():
    key = Ed25519PrivateKey.generate()
    log = _log(8)
    r3 = log.root(3)
    forged_root, reply = _fork(r3)
    a = SignedTreeHead.from_json(_signed(key, 3, r3))
    b = SignedTreeHead.from_json(_signed(key, 8, forged_root))
    with pytest.raises(witnessed.SplitView):
        witnessed.prove_one_board(StubClient(key, {"consistency": reply}), EID, a, b, "test")
    honest = {"proof": ConsistencyProof(3, 8, tuple(log.consistency_proof(3, 8))).to_json()}
    good = SignedTreeHead.from_json(_signed(key, 8, log.root(8)))
    witnessed.prove_one_board(StubClient(key, {"consistency": honest}), EID, a, good, "test")


# --- voting trustee unseal, then decrypt: the pinned root CA ------------------------------


def _root(name: str) -> bytes:
    """A root CA certificate's DER."""
    authority = ca.create_root_ca(name, now=datetime.now(UTC))
    return authority.certificate.public_bytes(serialization.Encoding.DER)


def _pem(der: bytes) -> bytes:
    body = base64.encodebytes(der).decode().replace("\n", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return ("-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n").encode()


class _Seen:
    """The trust store the decrypt command went on with (it stops right after)."""

    def __init__(self, trust_store: TrustStore | None) -> None:
        self.trust_store = trust_store
        self.used: TrustStore | None = None

    def ceremony(self, election_id: str) -> dict:
        self.used = self.trust_store
        return {"index": 99}  # not this state's trustee: the command stops here, nothing sent


def test_decrypt_after_unseal_uses_the_root_pinned_in_the_trustee_file(tmp_path: Path, monkeypatch):
    city, other = _root("City Root CA"), _root("Server's own CA")
    # The page pins the root as the base64 of its DER (trustee.js pinRoots).
    state = {"election_id": EID, "key": {"index": 1}, "trust_anchors": [base64.b64encode(city).decode()]}
    sealed = tmp_path / "trustee-file.json"
    sealed.write_text(json.dumps(seal_trustee_file(state, "246810", election_id=EID, employee_id="T0001", iterations=1000)))
    credential = tmp_path / "T0001.credential.json"
    credential.write_text("{}")
    other_pem, city_pem = tmp_path / "other.pem", tmp_path / "city.pem"
    other_pem.write_bytes(_pem(other))
    city_pem.write_bytes(_pem(city))
    clients: list[_Seen] = []

    @contextlib.contextmanager
    def fake_login(server, credential_path, pin, anchor, card=None):
        clients.append(_Seen(common.read_trust_anchor(anchor) if anchor else None))
        yield clients[-1]

    monkeypatch.setattr(common, "login", fake_login)
    runner = CliRunner()
    state_path = tmp_path / "state.json"
    result = runner.invoke(main, ["trustee", "unseal", EID, "--file", str(sealed), "--state", str(state_path), "--pin", "246810"])
    assert result.exit_code == 0, result.output
    shown = hashlib.sha256(city).hexdigest().upper()
    assert ":".join(shown[i : i + 2] for i in range(0, 64, 2)) in result.output.replace("\n", "")
    # A trustee file whose pinned root is unreadable is refused at unseal.
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(seal_trustee_file(
        {**state, "trust_anchors": ["not base64!"]}, "246810", election_id=EID, employee_id="T0001", iterations=1000
    )))
    result = runner.invoke(main, ["trustee", "unseal", EID, "--file", str(broken), "--state", str(tmp_path / "b.json"), "--pin", "246810"])
    assert result.exit_code != 0 and "trust_anchors" in result.output and not (tmp_path / "b.json").exists()

    decrypt = ["trustee", "decrypt", EID, "--state", str(state_path), "--credential", str(credential)]
    # Another CA's root given as --trust-anchor: refused before anything is verified or sent.
    result = runner.invoke(main, [*decrypt, "--trust-anchor", str(other_pem)])
    assert result.exit_code != 0 and "not the root CA pinned in the trustee file" in result.output, result.output
    assert clients[-1].used is None
    # No --trust-anchor (no root.pem beside the credential): the pinned root is used.
    result = runner.invoke(main, decrypt)
    assert "no trust anchor" not in result.output and "trustee 1" in result.output, result.output
    assert [r.public_bytes(serialization.Encoding.DER) for r in clients[-1].used.roots] == [city]
    # The same root given again: agreed, used.
    result = runner.invoke(main, [*decrypt, "--trust-anchor", str(city_pem)])
    assert "trustee 1" in result.output and clients[-1].used is not None, result.output


@pytest.mark.parametrize("encode", [lambda der: base64.b64encode(der).decode(), lambda der: _pem(der).decode()])
def test_the_pinned_root_reads_as_der_or_pem_and_a_broken_one_is_refused(encode):
    city, other = _root("City Root CA"), _root("Server's own CA")
    client = _Seen(None)
    vc.bind_trust_anchors(client, {"trust_anchors": [encode(city)]})
    assert [r.public_bytes(serialization.Encoding.DER) for r in client.trust_store.roots] == [city]
    with pytest.raises(vc.TrusteeRefusal, match="not the root CA pinned"):
        vc.bind_trust_anchors(_Seen(TrustStore.from_der([other])), {"trust_anchors": [encode(city)]})
    for broken in ([], ["not base64!"], [base64.b64encode(b"junk").decode()], "x", 5):
        with pytest.raises(vc.TrusteeRefusal, match="trust_anchors"):
            vc.bind_trust_anchors(_Seen(None), {"trust_anchors": broken})
    untouched = _Seen(None)
    vc.bind_trust_anchors(untouched, {})  # a state the CLI's ceremony made pins none
    assert untouched.trust_store is None
