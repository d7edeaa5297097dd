"""The bulletin board's Merkle tree (RFC 9162 section 2.1) and its signed tree heads.

Every public event of an election is a leaf of one append-only log. The tree is
the RFC 9162 Merkle Tree Hash over SHA-256 with the 0x00 / 0x01 domain
separation of leaves and interior nodes, so that a leaf can never be passed off
as a node (RFC 9162 section 2.1.1).

The service stores the tree as *perfect nodes*: ``Node(level, index, hash)``
covers the leaves ``[index * 2**level, (index + 1) * 2**level)`` and exists once
all of them are in. A node never changes after it is complete, so the table is
append-only like the log itself. ``Frontier`` is the small state needed to
append (the roots of the perfect subtrees along the right edge); proofs are
computed from perfect nodes only, with O(log n) look-ups, by splitting the one
ragged right-edge subtree they may need into perfect pieces.

Verification follows RFC 9162 sections 2.1.3.2 (inclusion) and 2.1.4.2
(consistency) step by step, after checking every input's type and length, and
raises ``InclusionProofError`` or ``ConsistencyProofError``; nothing here returns
``False``. The wire format is specified in docs/parts/log.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from crypto.encoding import encode_parts
from crypto.errors import (
    ConsistencyProofError,
    EncodingError,
    InclusionProofError,
    LogError,
    TreeHeadSignatureError,
)

HASH_SIZE = 32
"""SHA-256 output length: every leaf hash, node hash and root is exactly this long."""

MAX_SIZE = 2**53 - 1
"""Largest tree size and timestamp we accept: exact in JSON numbers and JavaScript."""

TREE_HEAD_TAG = "votingpilot/v1/tree-head"
"""Domain tag of the signed tree-head message (docs/parts/log.md)."""

PerfectNodes = Callable[[int, int], bytes]
"""``perfect(level, index)``: hash of the perfect node covering leaves
``[index * 2**level, (index + 1) * 2**level)``; level 0 is the leaf hash."""


# --- hashing (RFC 9162 section 2.1.1) ------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d)."""
    return hashlib.sha256(b"\x00" + bytes(data)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """An interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}) = SHA-256(), the root of the tree with no leaves."""


def root_from_leaves(leaf_hashes: Sequence[bytes]) -> bytes:
    """Reference Merkle Tree Hash, written as the recursive definition of RFC 9162
    section 2.1.1 (O(n)); tests and the offline verifier compare against it."""
    leaves = list(leaf_hashes)
    if not leaves:
        return EMPTY_ROOT
    return _mth(leaves)


def _mth(leaves: list[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    k = _split_point(len(leaves))
    return node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


def _split_point(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


# --- perfect nodes and the frontier ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Node:
    """A perfect subtree: leaves [index * 2**level, (index + 1) * 2**level)."""

    level: int
    index: int
    hash: bytes


@dataclass(frozen=True, slots=True)
class Frontier:
    """Everything needed to append: the tree size and the roots of the perfect
    subtrees along the right edge, largest (leftmost) first.

    Those subtrees are the binary digits of ``size``: a tree of 6 = 4 + 2 leaves
    has a 4-leaf and a 2-leaf subtree. Hence ``len(hashes) == popcount(size)``.
    """

    size: int
    hashes: tuple[bytes, ...]

    def __post_init__(self) -> None:
        _check_size(self.size, "frontier size", LogError)
        if not isinstance(self.hashes, tuple):
            raise LogError("frontier hashes must be a tuple")
        if len(self.hashes) != self.size.bit_count():
            raise LogError(
                f"a frontier of size {self.size} has {self.size.bit_count()} hashes,"
                f" got {len(self.hashes)}"
            )
        for h in self.hashes:
            _check_hash(h, "frontier hash", LogError)

    @classmethod
    def empty(cls) -> Frontier:
        return cls(0, ())

    def levels(self) -> list[int]:
        """The level of each hash in ``hashes``: the set bits of size, high to low."""
        levels = reversed(range(self.size.bit_length()))
        return [level for level in levels if self.size >> level & 1]

    def append(self, leaf: bytes) -> tuple[Frontier, list[Node]]:
        """Add one leaf hash. Returns the new frontier and every perfect node this
        append completed, leaf first, in O(log n): merging two equal subtrees is
        binary addition of 1 to the size, carrying through its trailing ones."""
        _check_hash(leaf, "leaf hash", LogError)
        if self.size >= MAX_SIZE:
            raise LogError("the log is full")
        hashes = list(self.hashes)
        current = Node(0, self.size, leaf)
        completed = [current]
        level = 0
        while self.size >> level & 1:
            left = hashes.pop()
            current = Node(level + 1, current.index // 2, node_hash(left, current.hash))
            completed.append(current)
            level += 1
        hashes.append(current.hash)
        return Frontier(self.size + 1, tuple(hashes)), completed

    def root(self) -> bytes:
        """The tree's root: the right-edge subtrees folded right to left (the
        recursive MTH of RFC 9162 2.1.1 splits off the largest one first)."""
        if not self.hashes:
            return EMPTY_ROOT
        root = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            root = node_hash(h, root)
        return root

    def to_dict(self) -> dict[str, object]:
        return {"size": self.size, "hashes": [h.hex() for h in self.hashes]}

    @classmethod
    def from_dict(cls, doc: object) -> Frontier:
        if not isinstance(doc, dict) or set(doc) != {"size", "hashes"}:
            raise EncodingError("a frontier is an object with exactly 'size' and 'hashes'")
        size = _json_int(doc["size"], "frontier size")
        hashes = doc["hashes"]
        if not isinstance(hashes, list):
            raise EncodingError("frontier 'hashes' must be an array")
        return cls(size, tuple(_hash_from_hex(h, "frontier hash") for h in hashes))


# --- proofs from perfect nodes (RFC 9162 sections 2.1.3.1 and 2.1.4.1) -----------------


def subtree_root(start: int, end: int, perfect: PerfectNodes) -> bytes:
    """MTH(D[start:end]) from perfect nodes. The range splits into perfect pieces,
    one per binary digit of its length, largest first, which fold right to left
    (RFC 9162 2.1.1 splits the same way); O(log n) look-ups. ``start`` must be a
    multiple of the largest piece, as every proof element's range is."""
    if not (isinstance(start, int) and isinstance(end, int)) or not 0 <= start <= end:
        raise LogError(f"invalid leaf range [{start}, {end})")
    if start == end:
        if start == 0:
            return EMPTY_ROOT
        raise LogError("an empty range is only the empty tree [0, 0)")
    pieces = []
    offset = start
    length = end - start
    for level in reversed(range(length.bit_length())):
        if length >> level & 1:
            if offset % (1 << level):
                raise LogError(f"[{start}, {end}) is not a subtree: not aligned at {offset}")
            pieces.append(perfect(level, offset >> level))
            offset += 1 << level
    root = pieces[-1]
    for piece in reversed(pieces[:-1]):
        root = node_hash(piece, root)
    return root


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose roots form PATH(index, D[size]), leaf upwards.

    RFC 9162 2.1.3.1, unrolled from the root down: with k the split point, the
    path into the left half ends with MTH(D[k:n]) and the path into the right
    half with MTH(D[0:k]).
    """
    ranges = []
    start, end = 0, size
    while end - start > 1:
        middle = start + _split_point(end - start)
        if index < middle:
            ranges.append((middle, end))
            end = middle
        else:
            ranges.append((start, middle))
            start = middle
    ranges.reverse()
    return ranges


def _consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose roots form PROOF(old_size, D[new_size]), 0 < old < new.

    RFC 9162 2.1.4.1, SUBPROOF(m, D[n], b) unrolled from the root down. The
    recursion stops at the subtree D[old_size - m : old_size]; its root is part
    of the proof unless it is the whole old tree (b still true).
    """
    ranges = []
    start, end = 0, new_size
    whole_old_tree = True
    while end != old_size:
        middle = start + _split_point(end - start)
        if old_size <= middle:
            ranges.append((middle, end))
            end = middle
        else:
            ranges.append((start, middle))
            start = middle
            whole_old_tree = False
    if not whole_old_tree:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def inclusion_proof(index: int, size: int, perfect: PerfectNodes) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of the first ``size`` leaves
    (RFC 9162 2.1.3.1), leaf upwards. At most one element is a ragged right-edge
    subtree, so this costs O(log n) look-ups."""
    _check_size(index, "leaf index", LogError)
    _check_size(size, "tree size", LogError)
    if index >= size:
        raise LogError(f"leaf index {index} is not in a tree of size {size}")
    return [subtree_root(a, b, perfect) for a, b in _inclusion_ranges(index, size)]


def consistency_proof(old_size: int, new_size: int, perfect: PerfectNodes) -> list[bytes]:
    """The proof that the tree of ``old_size`` leaves is a prefix of the tree of
    ``new_size`` leaves (RFC 9162 2.1.4.1); empty when the sizes are equal.
    O(log n) look-ups."""
    _check_size(old_size, "old size", LogError)
    _check_size(new_size, "new size", LogError)
    if not 0 < old_size <= new_size:
        raise LogError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size == new_size:
        return []
    return [subtree_root(a, b, perfect) for a, b in _consistency_ranges(old_size, new_size)]


# --- verification (RFC 9162 sections 2.1.3.2 and 2.1.4.2) ------------------------------


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` leaves
    whose root is ``root``. Raises InclusionProofError."""
    err = InclusionProofError
    _check_hash(leaf_hash, "leaf hash", err)
    _check_size(index, "leaf index", err)
    _check_size(size, "tree size", err)
    _check_hash(root, "root", err)
    path = _check_path(proof, err)
    # Step 1.
    if index >= size:
        raise err(f"leaf index {index} is not in a tree of size {size}")
    expected = len(_inclusion_ranges(index, size))
    if len(path) != expected:
        raise err(f"proof has {len(path)} hashes, leaf {index} of {size} needs {expected}")
    # Steps 2 to 5. (With the length checked above, the two "sn" failures
    # cannot happen; they stay because they are steps of the RFC.)
    fn, sn = index, size - 1
    r = leaf_hash
    for p in path:
        if sn == 0:
            raise err("proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise err("proof is shorter than the path to the root")
    if r != root:
        raise err("proof does not lead to the root")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of ``old_size`` leaves with root ``old_root`` is a prefix
    of the tree of ``new_size`` leaves with root ``new_root``. Raises
    ConsistencyProofError.

    Equal sizes need an empty proof and equal roots (and the empty tree's root
    is EMPTY_ROOT). A proof from the empty tree is refused: RFC 9162 defines
    proofs for 0 < old_size < new_size only, and every tree extends the empty one,
    so such a check proves nothing.
    """
    err = ConsistencyProofError
    _check_size(old_size, "old size", err)
    _check_size(new_size, "new size", err)
    _check_hash(old_root, "old root", err)
    _check_hash(new_root, "new root", err)
    path = _check_path(proof, err)
    if old_size > new_size:
        raise err(f"old size {old_size} is larger than new size {new_size}")
    if old_size == new_size:
        if path:
            raise err("equal sizes need an empty proof")
        if old_root != new_root:
            raise err("equal sizes but different roots")
        if old_size == 0 and old_root != EMPTY_ROOT:
            raise err("the root of the empty tree is SHA-256 of nothing")
        return
    if old_size == 0:
        raise err("a consistency proof from the empty tree proves nothing")
    expected = len(_consistency_ranges(old_size, new_size))
    if len(path) != expected:
        raise err(f"proof has {len(path)} hashes, {old_size} to {new_size} needs {expected}")
    # Step 1 (already implied by the length check, kept for the reader).
    if not path:
        raise err("empty proof")
    # Step 2: a perfect old tree is itself the first node of the proof.
    if old_size & (old_size - 1) == 0:
        path = [old_root, *path]
    # Steps 3 to 6.
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise err("proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # Step 7.
    if sn != 0:
        raise err("proof is shorter than the path to the root")
    if fr != old_root:
        raise err("proof does not lead to the old root")
    if sr != new_root:
        raise err("proof does not lead to the new root")


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """An audit path with the coordinates it proves, as carried in a receipt."""

    leaf_index: int
    tree_size: int
    path: tuple[bytes, ...]

    def verify(self, leaf: bytes, root: bytes, *, index: int, tree_size: int) -> None:
        """Check the proof for leaf ``index`` of the tree of ``tree_size`` leaves.

        The caller names the index and the size it expects (the signed head's
        size, the entry it asked for): the ones the proof carries come from
        whoever sent it, and a proof valid for other coordinates proves
        nothing about these. Raises InclusionProofError."""
        if (self.leaf_index, self.tree_size) != (index, tree_size):
            raise InclusionProofError(
                f"the proof is for leaf {self.leaf_index} of {self.tree_size}, not leaf {index} of {tree_size}"
            )
        verify_inclusion(leaf, index, tree_size, self.path, root)

    def to_json(self) -> dict[str, object]:
        return {
            "leaf_index": self.leaf_index,
            "tree_size": self.tree_size,
            "path": [h.hex() for h in self.path],
        }

    @classmethod
    def from_json(cls, doc: object) -> InclusionProof:
        if not isinstance(doc, dict) or set(doc) != {"leaf_index", "tree_size", "path"}:
            raise EncodingError(
                "an inclusion proof is an object with exactly 'leaf_index', 'tree_size' and 'path'"
            )
        return cls(
            _json_int(doc["leaf_index"], "leaf_index"),
            _json_int(doc["tree_size"], "tree_size"),
            _path_from_hex(doc["path"]),
        )


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    """A consistency proof with the two sizes it links."""

    old_size: int
    new_size: int
    path: tuple[bytes, ...]

    def verify(self, old_root: bytes, new_root: bytes, *, old_size: int, new_size: int) -> None:
        """Check that the tree of ``old_size`` leaves with ``old_root`` is a prefix
        of the tree of ``new_size`` leaves with ``new_root``.

        The caller names the sizes of the two signed heads: the ones the proof
        carries come from whoever sent it (a proof valid for 4 -> 8 passes a
        forked board off as an extension of 3 entries). Raises
        ConsistencyProofError."""
        if (self.old_size, self.new_size) != (old_size, new_size):
            raise ConsistencyProofError(
                f"the proof is for sizes {self.old_size} -> {self.new_size}, not {old_size} -> {new_size}"
            )
        verify_consistency(old_size, new_size, old_root, new_root, self.path)

    def to_json(self) -> dict[str, object]:
        return {
            "old_size": self.old_size,
            "new_size": self.new_size,
            "path": [h.hex() for h in self.path],
        }

    @classmethod
    def from_json(cls, doc: object) -> ConsistencyProof:
        if not isinstance(doc, dict) or set(doc) != {"old_size", "new_size", "path"}:
            raise EncodingError(
                "a consistency proof is an object with exactly 'old_size', 'new_size' and 'path'"
            )
        return cls(
            _json_int(doc["old_size"], "old_size"),
            _json_int(doc["new_size"], "new_size"),
            _path_from_hex(doc["path"]),
        )


# --- an in-memory log ---------------------------------------------------------------


class MemoryLog:
    """The whole log in a dict of perfect nodes: for tests and the offline
    verifier. The service keeps the same nodes in its database instead."""

    def __init__(self) -> None:
        self.frontier = Frontier.empty()
        self.nodes: dict[tuple[int, int], bytes] = {}

    @property
    def size(self) -> int:
        return self.frontier.size

    def append(self, data: bytes) -> int:
        """Append an entry's bytes; returns its leaf index."""
        return self.append_leaf_hash(leaf_hash(data))

    def append_leaf_hash(self, leaf: bytes) -> int:
        index = self.frontier.size
        self.frontier, completed = self.frontier.append(leaf)
        for node in completed:
            self.nodes[(node.level, node.index)] = node.hash
        return index

    def perfect(self, level: int, index: int) -> bytes:
        try:
            return self.nodes[(level, index)]
        except KeyError:
            raise LogError(f"no perfect node at level {level}, index {index}") from None

    def root(self, size: int | None = None) -> bytes:
        """The root of the current tree, or of the tree of its first ``size`` leaves."""
        if size is None:
            return self.frontier.root()
        if not 0 <= size <= self.size:
            raise LogError(f"size {size} is beyond the log's {self.size} leaves")
        return subtree_root(0, size, self.perfect)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        size = self.size if size is None else size
        if size > self.size:
            raise LogError(f"size {size} is beyond the log's {self.size} leaves")
        return inclusion_proof(index, size, self.perfect)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        new_size = self.size if new_size is None else new_size
        if new_size > self.size:
            raise LogError(f"size {new_size} is beyond the log's {self.size} leaves")
        return consistency_proof(old_size, new_size, self.perfect)


# --- signed tree heads ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TreeHead:
    """What the server commits to: the log had ``size`` entries with this root."""

    log_id: str
    size: int
    root: bytes
    timestamp_ms: int
    """milliseconds since the Unix epoch, UTC"""

    def __post_init__(self) -> None:
        if not isinstance(self.log_id, str) or not self.log_id:
            raise LogError("log_id must be a non-empty string")
        try:
            self.log_id.encode("utf-8")
        except UnicodeEncodeError:
            raise LogError("log_id is not valid Unicode text") from None
        _check_size(self.size, "tree size", LogError)
        _check_hash(self.root, "root", LogError)
        _check_size(self.timestamp_ms, "timestamp_ms", LogError)
        if self.size == 0 and self.root != EMPTY_ROOT:
            raise LogError("the root of the empty tree is SHA-256 of nothing")

    def to_json(self) -> dict[str, object]:
        return {
            "log_id": self.log_id,
            "size": self.size,
            "root": self.root.hex(),
            "timestamp_ms": self.timestamp_ms,
        }


def tree_head_message(head: TreeHead) -> bytes:
    """The exact bytes that are signed: typed, length-prefixed parts under the
    domain tag, so a tree-head signature can mean nothing else."""
    return encode_parts(TREE_HEAD_TAG, head.log_id, head.size, head.root, head.timestamp_ms)


@dataclass(frozen=True, slots=True)
class SignedTreeHead:
    head: TreeHead
    signature: bytes
    """Ed25519 (RFC 8032) over tree_head_message(head), 64 bytes"""

    def __post_init__(self) -> None:
        if not isinstance(self.head, TreeHead):
            raise LogError("head must be a TreeHead")
        if not isinstance(self.signature, bytes) or len(self.signature) != 64:
            raise TreeHeadSignatureError("an Ed25519 signature is 64 bytes")

    def to_json(self) -> dict[str, object]:
        """The tree head's fields and ``signature``, flat, bytes as lowercase hex."""
        return {**self.head.to_json(), "signature": self.signature.hex()}

    @classmethod
    def from_json(cls, doc: object) -> SignedTreeHead:
        keys = {"log_id", "size", "root", "timestamp_ms", "signature"}
        if not isinstance(doc, dict) or set(doc) != keys:
            raise EncodingError(f"a signed tree head is an object with exactly {sorted(keys)}")
        if not isinstance(doc["log_id"], str):
            raise EncodingError("log_id must be a string")
        head = TreeHead(
            doc["log_id"],
            _json_int(doc["size"], "size"),
            _hash_from_hex(doc["root"], "root"),
            _json_int(doc["timestamp_ms"], "timestamp_ms"),
        )
        return cls(head, _hex_bytes(doc["signature"], 64, "signature"))


def sign_tree_head(private_key: Ed25519PrivateKey, head: TreeHead) -> SignedTreeHead:
    return SignedTreeHead(head, private_key.sign(tree_head_message(head)))


def verify_tree_head(public_key: bytes, sth: SignedTreeHead) -> None:
    """Check the log's Ed25519 signature; ``public_key`` is the raw 32 bytes.
    Raises TreeHeadSignatureError."""
    if not isinstance(public_key, bytes) or len(public_key) != 32:
        raise TreeHeadSignatureError("an Ed25519 public key is 32 bytes")
    if not isinstance(sth, SignedTreeHead):
        raise TreeHeadSignatureError("not a SignedTreeHead")
    try:
        key = Ed25519PublicKey.from_public_bytes(public_key)
        key.verify(sth.signature, tree_head_message(sth.head))
    except (InvalidSignature, ValueError):
        raise TreeHeadSignatureError("tree head signature does not verify") from None


# --- checks and hex -----------------------------------------------------------------


def _check_size(value: object, what: str, error: type[Exception]) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_SIZE:
        raise error(f"{what} must be an integer in [0, 2^53 - 1], got {value!r}")


def _check_hash(value: object, what: str, error: type[Exception]) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise error(f"{what} must be {HASH_SIZE} bytes")


def _check_path(proof: object, error: type[Exception]) -> list[bytes]:
    if not isinstance(proof, (list, tuple)):
        raise error("proof must be a list of hashes")
    for h in proof:
        _check_hash(h, "proof hash", error)
    return list(proof)


def _json_int(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise EncodingError(f"{what} must be an integer")
    return value


_HEX_DIGITS = frozenset("0123456789abcdef")


def _hex_bytes(text: object, length: int, what: str) -> bytes:
    if not isinstance(text, str) or len(text) != 2 * length:
        raise EncodingError(f"{what} must be {2 * length} hex characters")
    if not set(text) <= _HEX_DIGITS:
        raise EncodingError(f"{what} must be lowercase hexadecimal")
    return bytes.fromhex(text)


def _hash_from_hex(text: object, what: str) -> bytes:
    return _hex_bytes(text, HASH_SIZE, what)


def _path_from_hex(doc: object) -> tuple[bytes, ...]:
    if not isinstance(doc, list):
        raise EncodingError("proof 'path' must be an array")
    return tuple(_hash_from_hex(h, "proof hash") for h in doc)
