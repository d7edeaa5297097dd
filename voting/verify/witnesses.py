"""Check 12: the witnesses' cosignatures. Every cosignature is by a witness
the manifest names and verifies; every cosigned head is the server's and a
prefix of this board (so the witnesses saw no other board); the quorum
cosigned the whole board."""

from __future__ import annotations

from collections.abc import Mapping

from crypto import log as merkle
from crypto.ballots import Manifest
from crypto.errors import CryptoError
from crypto.witness import CosignedHead, verify_cosignature
from voting.record import files as F
from voting.verify.board import Board
from voting.verify.parse import UNUSABLE, Bad, load, same_json, short
from voting.verify.report import Findings


def check_witnesses(
    board: Board,
    files: Mapping[str, bytes],
    manifest: Manifest | None,
    server_key: bytes | None,
    log: merkle.MemoryLog | None,
) -> Findings:
    """``log``: the board's Merkle tree as far as check 7 built it (a whole
    one is built here if it does not cover the board)."""
    c = Findings()
    doc = load(files, F.COSIGNATURES, c)
    if doc is UNUSABLE:
        return c
    if manifest is None or server_key is None:
        c.block("needs the manifest and the server key (check 1)")
        return c
    policy = manifest.witnesses
    if not same_json(doc["witnesses"], policy.to_json()):
        c.fail(f"{F.COSIGNATURES}: its witnesses are not the ones the manifest names (entry 0)")
    board_size, previous, final = len(board.lines), 0, 0
    if log is None or log.size < board_size:
        log = merkle.MemoryLog()
        for line in board.lines:
            log.append(line)
    for number, item in enumerate(doc["heads"]):
        try:
            cosigned = CosignedHead.from_json(item)
        except CryptoError as exc:
            c.fail(f"cosigned head {number}: {exc}")
            continue
        head = cosigned.tree_head.head
        where = f"cosigned head of size {head.size}"
        try:
            if head.size <= previous:
                raise Bad("the cosigned heads are not in strictly increasing order of size")
            previous = head.size
            if head.log_id != board.election_id:
                raise Bad(f"it is for log {head.log_id!r}")
            merkle.verify_tree_head(server_key, cosigned.tree_head)
            if not 1 <= head.size <= board_size:
                raise Bad(f"it is beyond the board's {board_size} entries")
            if log.root(head.size) != head.root:
                raise Bad(
                    f"its root is not the Merkle root of the board's first {head.size} entries: "
                    "the witnesses were shown another board (a split view)"
                )
        except (Bad, CryptoError) as exc:
            c.fail(f"{where}: {exc}")
            continue
        valid: set[bytes] = set()
        for cosignature in cosigned.cosignatures:
            c.add_items(1)
            witness = policy.witness(cosignature.witness_key)
            if witness is None:
                c.fail(f"{where}: cosigned by key {short(cosignature.witness_key.hex())}, which is no witness the manifest names")
            elif witness.public_key in valid:
                c.fail(f"{where}: cosigned twice by {witness.name}")
            else:
                try:
                    verify_cosignature(head, cosignature)
                except CryptoError:
                    c.fail(f"{where}: the cosignature by {witness.name} does not verify")
                    continue
                valid.add(witness.public_key)
        if head.size == board_size:
            final = len(valid)
    if not policy.witnesses:
        c.note_if_passing("the election names no witnesses: a split view would go undetected")
    elif final < policy.quorum:
        c.fail(
            "the witnesses have not cosigned the final board yet: export the record again once they have "
            f"({final} of the {policy.quorum} needed cosigned its {board_size} entries)"
        )
    else:
        c.note_if_passing(f"{final} of {len(policy.witnesses)} witnesses cosigned the whole board ({policy.quorum} needed)")
    return c
