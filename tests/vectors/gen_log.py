"""Vectors for the bulletin-board log: ``merkle.json`` (docs/parts/log.md).

Everything is deterministic: the eight leaves of the RFC 6962 reference tests,
proofs computed by crypto.log, and tree heads signed with a fixed test key
(Ed25519 signatures are deterministic, RFC 8032 section 5.1.6). Each case
carries ``valid``; it is set by construction (a proof we produced is valid, each
mutation of it is not), never by running the verifier, so the tests and the
browser's JavaScript check the verifier against it.

A changed tree size always comes with the root of that size: a size and its
root are one claim (both are in the signed tree head). With the root kept, an
audit path can fit several sizes, e.g. leaf 5 in trees of 7 and of 8 leaves.
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from crypto.log import (
    EMPTY_ROOT,
    MemoryLog,
    SignedTreeHead,
    TreeHead,
    leaf_hash,
    sign_tree_head,
    tree_head_message,
)

#: The leaf inputs of the RFC 6962 reference tests (certificate-transparency and
#: transparency-dev/merkle use the same eight).
LEAF_DATA = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    bytes(range(0x50, 0x58)),
    bytes(range(0x60, 0x70)),
]

#: Test keys only: the seed is SHA-256 of a public label.
KEY_SEED = hashlib.sha256(b"votingpilot test vectors: tree-head key").digest()
OTHER_KEY_SEED = hashlib.sha256(b"votingpilot test vectors: some other key").digest()

LOG_ID = "votingpilot/test-log"
TIMESTAMP_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def _flip(h: bytes, bit: int = 0) -> bytes:
    return h[:-1] + bytes([h[-1] ^ (1 << bit)])


def _public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _hexes(path: list) -> list:
    """Hex of each hash; a str is kept as is (to write deliberately malformed hex)."""
    return [h.hex() if isinstance(h, bytes) else h for h in path]


def _inclusion_case(desc, valid, *, leaf, index, size, path, root) -> dict:
    return {
        "desc": desc,
        "leaf_hash": leaf.hex(),
        "root": root.hex(),
        "proof": {"leaf_index": index, "tree_size": size, "path": _hexes(path)},
        "valid": valid,
    }


def _consistency_case(desc, valid, *, old, new, old_root, new_root, path) -> dict:
    return {
        "desc": desc,
        "old_root": old_root.hex(),
        "new_root": new_root.hex(),
        "proof": {"old_size": old, "new_size": new, "path": _hexes(path)},
        "valid": valid,
    }


def _flip_each(path: list[bytes]) -> list[tuple[str, list[bytes]]]:
    return [
        (f"path[{i}] one bit flipped", [*path[:i], _flip(h), *path[i + 1 :]])
        for i, h in enumerate(path)
    ]


def _inclusion_cases(log: MemoryLog, leaves: list[bytes], roots: list[bytes]) -> list[dict]:
    cases = []
    for size in range(1, 9):
        for index in range(size):
            good = dict(leaf=leaves[index], index=index, size=size, root=roots[size])
            path = log.inclusion_proof(index, size)
            cases.append(_inclusion_case(f"leaf {index} of {size}", True, path=path, **good))
    for index, size in [(5, 8), (2, 3), (6, 7), (0, 1)]:
        path = log.inclusion_proof(index, size)
        good = dict(leaf=leaves[index], index=index, size=size, path=path, root=roots[size])
        bad = [(desc, {"path": p}) for desc, p in _flip_each(path)]
        bad += [
            ("leaf hash flipped", {"leaf": _flip(leaves[index])}),
            ("root flipped", {"root": _flip(roots[size])}),
            ("another entry's leaf hash", {"leaf": leaves[(index + 1) % len(leaves)]}),
            ("leaf_index + 1", {"index": index + 1}),
            ("tree_size - 1, with its root", {"size": size - 1, "root": roots[size - 1]}),
            ("root of another size", {"root": roots[size - 1]}),
            ("extra hash appended", {"path": [*path, roots[1]]}),
            ("leaf_index = tree_size", {"index": size}),
            ("negative leaf_index", {"index": -1}),
        ]
        if size < 8:
            bigger = {"size": size + 1, "root": roots[size + 1]}
            bad.append(("tree_size + 1, with its root", bigger))
        if path:
            bad += [
                ("last hash removed", {"path": path[:-1]}),
                ("path hash in uppercase hex", {"path": [path[0].hex().upper(), *path[1:]]}),
                ("path hash of 31 bytes", {"path": [path[0][:31], *path[1:]]}),
            ]
        if len(path) > 1:
            bad.append(("path reversed", {"path": path[::-1]}))
        if index:
            bad.append(("leaf_index - 1", {"index": index - 1}))
        name = f"leaf {index} of {size}"
        for desc, change in bad:
            cases.append(_inclusion_case(f"{name}: {desc}", False, **{**good, **change}))
    empty = dict(leaf=leaves[0], index=0, size=0, path=[], root=EMPTY_ROOT)
    cases.append(_inclusion_case("empty tree: no leaf is included", False, **empty))
    as_string = dict(leaf=leaves[0], index="0", size=1, path=[], root=roots[1])
    cases.append(_inclusion_case("leaf_index as a string", False, **as_string))
    return cases


def _consistency_cases(log: MemoryLog, roots: list[bytes]) -> list[dict]:
    def sizes(old: int, new: int, path: list) -> dict:
        return dict(old=old, new=new, old_root=roots[old], new_root=roots[new], path=path)

    cases = [_consistency_case("empty tree to itself", True, **sizes(0, 0, []))]
    for new in range(1, 9):
        for old in range(1, new + 1):
            path = log.consistency_proof(old, new)
            cases.append(_consistency_case(f"{old} to {new}", True, **sizes(old, new, path)))
    for old, new in [(3, 7), (4, 8), (6, 8), (1, 2), (5, 6)]:
        path = log.consistency_proof(old, new)
        r1, r2 = roots[old], roots[new]
        bad = [(desc, {"path": p}) for desc, p in _flip_each(path)]
        bad += [
            ("old root flipped", {"old_root": _flip(r1)}),
            ("new root flipped", {"new_root": _flip(r2)}),
            ("roots swapped", {"old_root": r2, "new_root": r1}),
            ("sizes swapped", {"old": new, "new": old, "old_root": r2, "new_root": r1}),
            ("old_size + 1, with its root", {"old": old + 1, "old_root": roots[old + 1]}),
            ("old_size - 1, with its root", {"old": old - 1, "old_root": roots[old - 1]}),
            ("new_size - 1, with its root", {"new": new - 1, "new_root": roots[new - 1]}),
            ("last hash removed", {"path": path[:-1]}),
            ("extra hash appended", {"path": [*path, r1]}),
            ("old root prepended", {"path": [r1, *path]}),
            ("empty proof", {"path": []}),
            ("path hash in uppercase hex", {"path": [path[0].hex().upper(), *path[1:]]}),
        ]
        if new < 8:
            bigger = {"new": new + 1, "new_root": roots[new + 1]}
            bad.append(("new_size + 1, with its root", bigger))
        good = sizes(old, new, path)
        for desc, change in bad:
            cases.append(_consistency_case(f"{old} to {new}: {desc}", False, **{**good, **change}))
    cases += [
        _consistency_case("empty tree to size 3: proves nothing", False, **sizes(0, 3, [])),
        _consistency_case(
            "empty tree with a non-empty root",
            False,
            **{**sizes(0, 0, []), "old_root": roots[1], "new_root": roots[1]},
        ),
        _consistency_case(
            "equal sizes, different roots", False, **{**sizes(4, 4, []), "new_root": roots[5]}
        ),
        _consistency_case("equal sizes, non-empty proof", False, **sizes(4, 4, [roots[4]])),
    ]
    return cases


def _tree_head_cases(roots: list[bytes]) -> tuple[bytes, list[dict]]:
    key = Ed25519PrivateKey.from_private_bytes(KEY_SEED)
    other = Ed25519PrivateKey.from_private_bytes(OTHER_KEY_SEED)
    public, other_public = _public(key), _public(other)
    cases = []

    def add(desc: str, pk: bytes, doc: dict, head: TreeHead | None, valid: bool) -> None:
        message = tree_head_message(head).hex() if head is not None else None
        cases.append(
            {
                "desc": desc,
                "public_key": pk.hex(),
                "signed_tree_head": doc,
                "message": message,
                "valid": valid,
            }
        )

    head = TreeHead(LOG_ID, 8, roots[8], TIMESTAMP_MS)
    sth = sign_tree_head(key, head)
    add("size 8", public, sth.to_json(), head, True)
    empty = TreeHead(LOG_ID, 0, EMPTY_ROOT, TIMESTAMP_MS)
    add("empty log", public, sign_tree_head(key, empty).to_json(), empty, True)
    japanese = TreeHead("市役所/2026-職員投票", 3, roots[3], TIMESTAMP_MS + 1)
    add("non-ASCII log_id", public, sign_tree_head(key, japanese).to_json(), japanese, True)

    changed = {
        "size changed": TreeHead(LOG_ID, 7, roots[8], TIMESTAMP_MS),
        "root changed": TreeHead(LOG_ID, 8, roots[7], TIMESTAMP_MS),
        "timestamp_ms changed": TreeHead(LOG_ID, 8, roots[8], TIMESTAMP_MS + 1),
        "log_id changed": TreeHead(LOG_ID + "2", 8, roots[8], TIMESTAMP_MS),
    }
    for desc, other_head in changed.items():
        add(desc, public, SignedTreeHead(other_head, sth.signature).to_json(), other_head, False)
    flipped = SignedTreeHead(head, sth.signature[:-1] + bytes([sth.signature[-1] ^ 1]))
    add("signature bit flipped", public, flipped.to_json(), head, False)
    add("another key's public key", other_public, sth.to_json(), head, False)
    add("signed by another key", public, sign_tree_head(other, head).to_json(), head, False)

    good = sth.to_json()
    malformed = {
        "root in uppercase hex": {**good, "root": good["root"].upper()},
        "signature of 63 bytes": {**good, "signature": good["signature"][:-2]},
        "size as a string": {**good, "size": "8"},
        "missing timestamp_ms": {k: v for k, v in good.items() if k != "timestamp_ms"},
        "extra field": {**good, "extra": 1},
        "empty tree with a non-empty root": {**good, "size": 0},
        "negative timestamp_ms": {**good, "timestamp_ms": -1},
    }
    for desc, doc in malformed.items():
        add(desc, public, doc, None, False)
    return public, cases


def generate() -> dict[str, object]:
    log = MemoryLog()
    roots = [log.root()]
    for data in LEAF_DATA:
        log.append(data)
        roots.append(log.root())
    leaves = [leaf_hash(data) for data in LEAF_DATA]
    public, tree_head_cases = _tree_head_cases(roots)
    return {
        "merkle.json": {
            "description": (
                "Bulletin-board log vectors (docs/parts/log.md): "
                "RFC 9162 Merkle tree over SHA-256, "
                "inclusion and consistency proofs, Ed25519 signed tree heads. Generated by "
                "tests/vectors/gen_log.py; every case must verify exactly when 'valid' is true."
            ),
            "leaf_data": [data.hex() for data in LEAF_DATA],
            "leaf_hashes": [h.hex() for h in leaves],
            "roots": [{"size": size, "root": root.hex()} for size, root in enumerate(roots)],
            "inclusion": _inclusion_cases(log, leaves, roots),
            "consistency": _consistency_cases(log, roots),
            "tree_heads": {
                "private_key_seed": KEY_SEED.hex(),
                "public_key": public.hex(),
                "cases": tree_head_cases,
            },
        }
    }
