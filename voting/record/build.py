"""Assembling the record's files from the bulletin board (docs/election-record.md).

The board (``board.jsonl``, the exact bytes of every leaf) and the signed tree
heads are the record's substance; every other public file is a *view* of the
board, written for readers, which the verifier re-derives and compares. This
module is pure (no database): the exporter feeds it what it read, and the
benchmark feeds it a synthetic election, so both produce the same format.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from crypto.entry_kinds import (
    AGGREGATE,
    BALLOT,
    BALLOT_SUPERSEDED,
    JOINT_KEY,
    PARTIAL_DECRYPTION,
    RESULT,
    TRUSTEE_ANNOUNCEMENT,
    board_stage,
)
from crypto.witness import WitnessPolicy
from voting.record import files as F

GROUP = "ristretto255"


@dataclass(frozen=True)
class AuditorsPart:
    """What reveals who voted: the roll, each employee with the voting
    credential they registered and their signed registration; the login trust
    anchors and the CRLs."""

    roll: list[dict]
    """{employee_id, name, credential: hex32 | None, registration: {chain:
    [base64 DER, leaf first], signature: hex, registered_at: iso} | None}"""
    trust_anchors: list[bytes] = field(default_factory=list)
    """DER of each root certificate"""
    crls: list[bytes] = field(default_factory=list)
    """DER of each CRL, as of the export"""
    enrollments: dict = field(default_factory=lambda: {"anchors": [], "enrollments": []})
    """{anchors: [{name, certificates: [base64 DER]}], enrollments: [...]}: the
    trust anchors whose certificates name no employee, and the card
    enrollments of the employees on the roll (``auditors/enrollments.json``)"""


def build_record(
    election_id: str,
    board: Sequence[bytes],
    tree_heads: Sequence[dict],
    *,
    exported_at: str,
    auditors: AuditorsPart | None = None,
    cosigned: Sequence[dict] = (),
) -> dict[str, bytes]:
    """All the record's files. ``board`` holds each leaf's exact bytes in
    order; ``tree_heads`` the signed heads (``SignedTreeHead.to_json()``) by size;
    ``cosigned`` the heads the witnesses cosigned (``CosignedHead.to_json()``) by size."""
    entries = [json.loads(line) for line in board]
    views = derive_views(entries)
    files = {
        F.BOARD: b"".join(bytes(line) + b"\n" for line in board),
        F.TREE_HEADS: _pretty(list(tree_heads)),
        F.COSIGNATURES: _pretty(cosignatures_file(entries[0]["body"]["manifest"], cosigned)),
        **{name: _pretty(doc) for name, doc in views.items()},
    }
    record = {
        "format": F.FORMAT,
        "version": F.VERSION,
        "election_id": election_id,
        "exported_at": exported_at,
        "board_size": len(board),
        "stage": stage_of(entries),
        "auditors_part": auditors is not None,
    }
    files[F.RECORD] = _pretty(record)
    if auditors is not None:
        files[F.ROLL] = _pretty(auditors.roll)
        files[F.TRUST] = _pretty(
            {
                "trust_anchors": [base64.b64encode(der).decode("ascii") for der in auditors.trust_anchors],
                "crls": [base64.b64encode(der).decode("ascii") for der in auditors.crls],
            }
        )
        files[F.ENROLLMENTS] = _pretty(auditors.enrollments)
    return files


def cosignatures_file(manifest: dict, cosigned: Sequence[dict]) -> dict:
    """cosignatures.json: the manifest's witnesses (what the cosignatures are
    checked against) and every cosigned head."""
    return {"witnesses": WitnessPolicy.from_json(manifest.get("witnesses")).to_json(), "heads": list(cosigned)}


def _pretty(doc: object) -> bytes:
    return (json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode("utf-8")




def stage_of(entries: Sequence[dict]) -> str:
    return board_stage({e["kind"] for e in entries})


def derive_views(entries: Sequence[dict]) -> dict[str, object]:
    """The view files, each from the board entries alone."""
    by_kind: dict[str, list[dict]] = {}
    for entry in entries:
        by_kind.setdefault(entry["kind"], []).append(entry)
    created = entries[0]["body"]
    joint = by_kind.get(JOINT_KEY, [None])[0]
    public_shares = joint["body"]["public_shares"] if joint else {}
    manifest = created["manifest"]
    parameters = {
        "election_id": manifest["election_id"],
        "group": GROUP,
        "trustees": created["trustees"],
        "trustee_ids": created["trustee_ids"],
        "threshold": created["threshold"],
        "ceremony_fingerprint": created["ceremony_fingerprint"],
        "joint_key": joint["body"]["joint_key"] if joint else None,
        "fingerprint": joint["body"]["fingerprint"] if joint else None,
        "revote_policy": manifest.get("revote_policy"),
        "server_key": created["server_key"],
    }
    trustees = [
        {"leaf_index": e["index"], **e["body"], "public_share": public_shares.get(str(e["body"]["index"]))}
        for e in by_kind.get(TRUSTEE_ANNOUNCEMENT, [])
    ]
    superseded = {
        e["body"]["tracking_code"]: {"superseded_by": e["body"]["superseded_by"], "superseded_at": e["index"]}
        for e in by_kind.get(BALLOT_SUPERSEDED, [])
    }
    ballots = []
    for e in by_kind.get(BALLOT, []):
        body = e["body"]
        later = superseded.get(body["tracking_code"])
        ballots.append(
            {
                "leaf_index": e["index"],
                "tracking_code": body["tracking_code"],
                "credential": body["credential"],
                "signature": body["signature"],
                "cast_at": e["time"],
                "counted": later is None,
                "superseded_by": later["superseded_by"] if later else None,
                "superseded_at": later["superseded_at"] if later else None,
            }
        )
    aggregate = by_kind.get(AGGREGATE, [None])[0]
    result = by_kind.get(RESULT, [None])[0]
    return {
        F.MANIFEST: manifest,
        F.PARAMETERS: parameters,
        F.TRUSTEES: trustees,
        F.BALLOTS: ballots,
        F.AGGREGATE: {"leaf_index": aggregate["index"], **aggregate["body"]} if aggregate else None,
        F.PARTIAL_DECRYPTIONS: [{"leaf_index": e["index"], **e["body"]} for e in by_kind.get(PARTIAL_DECRYPTION, [])],
        F.RESULT: {"leaf_index": result["index"], **result["body"]} if result else None,
    }
