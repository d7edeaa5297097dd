"""Check 2: the key ceremony. Every trustee's announcement (its proofs, and
its signature by the trustee the election names), the joint key as the
product of their commitments, the public shares, every trustee's endorsement
of the joint key, and the view ``trustees.json``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from cryptography import x509

from crypto import threshold
from crypto.credentials import Endorsement, TrustStore, verify_announcement_signature, verify_endorsement
from crypto.entry_kinds import JOINT_KEY, TRUSTEE_ANNOUNCEMENT
from crypto.errors import CryptoError
from voting.record import files as F
from voting.verify.board import Board
from voting.verify.certificates import auditors_trust, check_revoked_at, check_usage
from voting.verify.parameters import Parameters
from voting.verify.parse import Bad, compare_view, hex_bytes, same_json
from voting.verify.report import Findings

Trust = tuple[TrustStore, list[x509.CertificateRevocationList]]


def check_ceremony(
    board: Board, files: Mapping[str, bytes], parameters: Parameters, *, crls_after_events: bool
) -> tuple[list[threshold.Announcement] | None, Findings]:
    """Returns the trustees' announcements in index order (None unless every
    one parsed, with distinct indices), for check 9."""
    c = Findings()
    params = parameters.params
    if params is None:
        c.block("needs the parameters of check 1")
        return None, c
    entries = board.of_kind(TRUSTEE_ANNOUNCEMENT)
    joints = board.of_kind(JOINT_KEY)
    if not entries and not joints:
        c.skip("the key ceremony has not started")
        return None, c
    trust = auditors_trust(files)
    if trust is None and F.TRUST in files:
        c.fail(f"the trustees' certificates cannot be checked against trust anchors: {F.TRUST} is unusable (check 5 says why)")
    elif trust is None:
        c.note("the trustees' certificates were not checked against trust anchors: no auditors' part")
    announcements = []
    for entry in entries:
        try:
            fields = {k: v for k, v in entry["body"].items() if k != "signature"}
            announcement = threshold.Announcement.from_json(fields)
        except CryptoError as exc:
            c.fail(f"trustee announcement (entry {entry['index']}): {exc}")
            continue
        announcements.append(announcement)
        _check_announcement_signature(board, parameters, entry, announcement, fields, trust, crls_after_events, c)
    indices = [a.index for a in announcements]
    established = None
    if len(announcements) == len(entries) and len(set(indices)) == len(indices):
        established = sorted(announcements, key=lambda a: a.index)
    c.items(len(entries))
    ordered: Sequence[threshold.Announcement] | None
    try:
        ordered = threshold.verify_announcements(params, announcements)
    except CryptoError as exc:
        c.fail(f"the trustees' announcements: {exc}")
        ordered = None
    public_shares: dict[str, str] = {}
    if ordered is not None:
        public_shares = {str(a.index): threshold.public_share(ordered, a.index).hex() for a in ordered}
    if not joints:
        c.skip("the joint key is not on the board yet")
    elif ordered is not None:
        joint = joints[0]
        late = [e["index"] for e in entries if e["index"] > joint["index"]]
        if late:
            c.fail(f"trustee announcements at entries {late} come after the joint key (entry {joint['index']})")
        body = joint["body"]
        try:
            if body.get("joint_key") != threshold.joint_public_key(ordered).hex():
                raise Bad("the joint key is not the product of the trustees' first commitments")
            if not same_json(body.get("public_shares"), public_shares):
                raise Bad("the trustees' public shares are not the ones their commitments give")
        except (Bad, CryptoError) as exc:
            c.fail(f"joint-key (entry {joint['index']}): {exc}")
    if joints:
        _check_endorsements(board, parameters, joints[0], trust, crls_after_events, c)
    claimed = joints[0]["body"].get("public_shares") if joints else None
    claimed = claimed if isinstance(claimed, dict) else {}
    expected = [
        {"leaf_index": e["index"], **e["body"], "public_share": claimed.get(str(e["body"].get("index")))}
        for e in entries
    ]
    compare_view(files, F.TRUSTEES, expected, c, "the trustee announcements and the joint key on the board")
    return established, c


def _check_announcement_signature(
    board: Board,
    parameters: Parameters,
    entry: dict[str, Any],
    announcement: threshold.Announcement,
    fields: dict[str, Any],
    trust: Trust | None,
    crls_after_events: bool,
    c: Findings,
) -> None:
    """The trustee the election names at this index signed this very
    announcement (its fields without ``signature``) with its certificate
    key: co-trustees send their shares only to such announcements, so a
    server cannot put in one of its own and receive the shares. With the
    auditors' trust anchors, the certificate chains to one of them and was
    not revoked when the announcement went on the board."""
    where = f"trustee announcement (entry {entry['index']})"
    trustee_ids = parameters.trustee_ids
    if trustee_ids is None:
        c.block("the announcements' signatures need the trustees' employee ids (check 1)")
        return
    index = announcement.index
    if not 1 <= index <= len(trustee_ids):
        c.fail(f"{where}: index {index} names no trustee (1..{len(trustee_ids)}), so no one's signature can be checked")
        return
    employee_id = trustee_ids[index - 1]
    try:
        if "signature" not in entry["body"]:
            raise Bad("the announcement is not signed; every trustee signs its announcement with its certificate")
        _check_trustee_signature(
            lambda store, at: verify_announcement_signature(
                entry["body"]["signature"],
                election_id=str(board.election_id),
                announcement=fields,
                employee_id=employee_id,
                trust_store=store,
                now=at,
            ),
            trust,
            board.times[entry["index"]],
            "the trustee announced",
            crls_after_events,
        )
    except (Bad, CryptoError) as exc:
        c.fail(f"{where}: trustee {index} ({employee_id}): {exc}")


def _check_trustee_signature(
    verify: Callable[[TrustStore | None, datetime | None], Endorsement],
    trust: Trust | None,
    at: datetime | None,
    event: str,
    crls_after_events: bool,
) -> None:
    """A trustee's signature (``verify(trust_store, at)``: an endorsement or
    an announcement's) and, with the auditors' trust anchors, its chain at
    the entry's time, as at login: key usage, and unrevoked then."""
    if trust is not None and at is None:
        raise Bad("the entry has no valid time to judge the certificate at (check 7)")
    checked = verify(trust[0] if trust is not None else None, at)
    if trust is not None:
        assert at is not None
        check_usage(checked.chain[0])
        check_revoked_at(checked.chain, trust[1], at, event, after_event=crls_after_events)


def _check_endorsements(
    board: Board, parameters: Parameters, joint: dict[str, Any], trust: Trust | None, crls_after_events: bool, c: Findings
) -> None:
    """Every trustee signed this election's joint key and fingerprint with its
    own certificate (voters accept the key only so). With the auditors' trust
    anchors, each certificate also chains to one of them and was not revoked
    when the joint key was published."""
    where = f"joint-key (entry {joint['index']})"
    assert parameters.params is not None
    n = parameters.params.n
    trustee_ids = parameters.trustee_ids
    if trustee_ids is None:
        c.block("the endorsements need the trustees' employee ids (check 1)")
        return
    body = joint["body"]
    endorsements = body.get("endorsements")
    if not isinstance(endorsements, list) or len(endorsements) != n:
        c.fail(f"{where}: endorsements must list exactly one endorsement per trustee ({n}), in index order")
        return
    try:
        joint_key = hex_bytes(body.get("joint_key"), "joint_key", 32)
        fingerprint = hex_bytes(body.get("fingerprint"), "fingerprint", 32)
    except Bad as exc:
        c.fail(f"{where}: {exc}")
        return
    at = board.times[joint["index"]]
    for position, doc in enumerate(endorsements, start=1):
        employee_id = trustee_ids[position - 1]
        try:
            if not isinstance(doc, dict) or doc.get("index") != position or isinstance(doc.get("index"), bool):
                raise Bad(f"endorsement {position} must be {{index: {position}, chain, signature}}, in index order")
            signed = {k: v for k, v in doc.items() if k != "index"}

            def verify(store: TrustStore | None, now: datetime | None, signed: dict[str, Any] = signed, employee_id: str = employee_id) -> Endorsement:
                return verify_endorsement(
                    signed,
                    election_id=str(board.election_id),
                    joint_key=joint_key,
                    fingerprint=fingerprint,
                    employee_id=employee_id,
                    trust_store=store,
                    now=now,
                )

            _check_trustee_signature(
                verify,
                trust,
                at,
                "the trustee endorsed the joint key",
                crls_after_events,
            )
        except (Bad, CryptoError) as exc:
            c.fail(f"{where}: trustee {position} ({employee_id}): {exc}")
    c.add_items(n)
