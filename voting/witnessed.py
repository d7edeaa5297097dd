"""What the voter's and the trustee's clients check of the witnesses (docs/parts/witness.md).

A server can show one group of people a board with a ballot and everybody else a
board without it (a *split view*); every check against the server's own heads
passes on both branches. The election's witnesses cosign a head only if it
extends the one they cosigned before, so a client that requires the quorum's
cosignatures on the head it relies on, and compares its head with the heads the
witnesses publish themselves (gossip), is on the board everybody else sees.

The witness policy is never taken on the server's word: the voter's receipt
binds it through the tracking code (``witness_policy_for``), the trustee through
the election fingerprint it endorsed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from crypto.entry_kinds import JOINT_KEY
from crypto.errors import CryptoError, QuorumError
from crypto.log import ConsistencyProof, SignedTreeHead, verify_tree_head
from crypto.receipts import WITNESSED, extend_receipt_head, verify_witnessed, witness_policy_for, witnessed_json
from crypto.witness import Cosignature, CosignedHead, Witness, WitnessPolicy, check_quorum, verify_cosignature
from voting import tls
from voting.client import ApiError, Client
from voting.files import write_file

#: A ballot the quorum has not cosigned this long after it was cast is a failure,
#: not "pending": witnesses poll every few seconds (docs/operations.md).
GRACE_MS = 10 * 60 * 1000

#: How long a trustee's client waits for the quorum to cosign the board it is
#: about to decrypt (the aggregate was appended moments before).
TRUSTEE_WAIT_S = 120.0

#: How long a client waits for a witness's own log to answer.
GOSSIP_TIMEOUT_S = 5.0


#: A receipt's head dated further ahead of this machine's clock than this is
#: refused: the grace period is measured from it, so a server could otherwise
#: postpone "not confirmed" becoming a failure for ever.
MAX_CLOCK_SKEW_MS = 5 * 60 * 1000


class SplitView(Exception):
    """Two heads the server signed for one election are not on one board."""


class Unavailable(Exception):
    """The server could not answer now (5xx, 429, the network): no verdict, try again."""


def is_unavailable(exc: BaseException) -> bool:
    """A failure that says nothing about the board: an overloaded or unreachable
    server must not raise a split-view alarm (the grace period catches one
    that stays "unavailable")."""
    if isinstance(exc, (httpx.HTTPError, Unavailable)):
        return True
    return isinstance(exc, ApiError) and (exc.status >= 500 or exc.status == 429)


def prove_one_board(client: Client, election_id: str, a: SignedTreeHead, b: SignedTreeHead, what: str) -> None:
    """The server proves that heads ``a`` and ``b`` (both already signature-checked)
    are on one board: the smaller is a prefix of the larger. Raises SplitView."""
    old, new = (a, b) if a.head.size <= b.head.size else (b, a)
    if old.head.size == new.head.size:
        if old.head.root != new.head.root:
            raise SplitView(f"{what}: two different boards of {old.head.size} entries")
        return
    try:
        reply = client.get(f"/api/elections/{election_id}/board/consistency", old=old.head.size, new=new.head.size)
        ConsistencyProof.from_json(reply["proof"]).verify(
            old.head.root, new.head.root, old_size=old.head.size, new_size=new.head.size
        )
    except (ApiError, httpx.HTTPError) as exc:
        if is_unavailable(exc):
            raise Unavailable(f"{what}: the server could not answer ({exc})") from None
        raise SplitView(f"{what}: the server cannot prove they are one board ({exc})") from None
    except (CryptoError, KeyError, TypeError) as exc:
        raise SplitView(f"{what}: the server cannot prove they are one board ({exc})") from None


def split_view_advice(policy: WitnessPolicy) -> str:
    names = "、".join(w.name for w in policy.witnesses) or "the audit office"
    return (
        "the server may be showing you a different board from everyone else (a split view). "
        f"Keep this receipt and tell the witnesses ({names}) and the audit office (監査事務局). "
        "サーバが他の人と異なる掲示板を見せている可能性があります。受付証を保管し、立会人と監査事務局に連絡してください。"
    )


@dataclass
class WitnessReport:
    """The outcome of the witness checks on one receipt."""

    status: str
    """"pass", "pending" (not cosigned yet, within the grace period), "fail" or "none" (no witnesses)"""
    detail: str
    cosigned_by: tuple[Witness, ...] = ()
    gossip: list[tuple[str, str, str]] = field(default_factory=list)
    """(witness name, "pass" / "fail" / "note", detail) for each witness's own log"""
    completed: dict | None = None
    """the receipt with a new ``witnessed`` member, when this check completed it"""


def check_receipt_witnesses(
    client: Client,
    receipt: dict,
    receipt_head: SignedTreeHead,
    server_key: bytes,
    *,
    now_ms: int | None = None,
    fetch: Callable[[str], Any] | None = None,
) -> WitnessReport:
    """Require the election's quorum of witnesses on a head that extends the
    receipt's head (from the receipt's ``witnessed`` member, or completing it
    from the server's newest cosigned head), then compare the receipt's head
    with each witness's own published log. ``fetch(url)`` reads a witness's log
    (a plain HTTP GET by default)."""
    election_id = receipt["election_id"]
    entries = client.board_until(election_id, JOINT_KEY)
    created = entries[0] if entries else {}
    joint = next((e for e in entries if e.get("kind") == JOINT_KEY), {})
    try:
        policy = witness_policy_for(receipt, created, joint)
    except CryptoError as exc:
        return WitnessReport("fail", f"the election's manifest on the board does not match this ballot: {exc}")
    if policy.quorum == 0:
        return WitnessReport("none", "the election names no witnesses: a split view could not be detected")
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    ahead_ms = receipt_head.head.timestamp_ms - now_ms
    if ahead_ms > MAX_CLOCK_SKEW_MS:
        return WitnessReport(
            "fail",
            f"the receipt's tree head is dated {ahead_ms // 60000} minutes ahead of this computer's clock: "
            + split_view_advice(policy),
        )
    try:
        report = _quorum(client, receipt, receipt_head, server_key, policy, now_ms)
    except SplitView as exc:
        report = WitnessReport("fail", f"{exc}: {split_view_advice(policy)}")
    except (Unavailable, ApiError, httpx.HTTPError) as exc:
        if not is_unavailable(exc):
            raise
        report = _pending(receipt_head, now_ms, f"the server could not answer ({exc})", policy)
    report.gossip = _gossip(client, receipt_head, server_key, policy, fetch or _http_get)
    if any(status == "fail" for _, status, _ in report.gossip) and report.status != "fail":
        report.status = "fail"
        report.detail = f"a witness's own log shows another board: {split_view_advice(policy)}"
    return report


def _quorum(
    client: Client, receipt: dict, sth: SignedTreeHead, server_key: bytes, policy: WitnessPolicy, now_ms: int
) -> WitnessReport:
    election_id = receipt["election_id"]
    if WITNESSED in receipt:
        try:
            cosigned, names = verify_witnessed(receipt, policy, server_key=server_key)
        except CryptoError as exc:
            return WitnessReport("fail", f"the receipt's witnessed head does not verify: {exc}")
        return WitnessReport("pass", _cosigned_text(cosigned, names), names)
    try:
        doc = client.get(f"/api/elections/{election_id}/board/cosigned")
    except ApiError as exc:
        if exc.status != 404:
            raise
        return _pending(sth, now_ms, "no head is cosigned by the witnesses yet", policy)
    # (5xx and network errors propagate: the caller makes them "pending".)
    try:
        cosigned = CosignedHead.from_json(doc)
        names = check_quorum(policy, server_key, cosigned)
    except CryptoError as exc:
        # The server calls this head cosigned by the quorum; it is not.
        return WitnessReport("fail", f"the server's cosigned head does not hold: {exc}")
    if cosigned.tree_head.head.log_id != election_id:
        return WitnessReport("fail", "the server's cosigned head is for another election")
    if cosigned.tree_head.head.size < sth.head.size:
        prove_one_board(client, election_id, cosigned.tree_head, sth, "the witnesses' newest head and your receipt's")
        return _pending(sth, now_ms, f"the witnesses have cosigned up to entry {cosigned.tree_head.head.size}", policy)
    try:
        reply = client.get(
            f"/api/elections/{election_id}/board/consistency", old=sth.head.size, new=cosigned.tree_head.head.size
        )
        proof = ConsistencyProof.from_json(reply["proof"])
        extend_receipt_head(sth, cosigned.tree_head, proof, server_key)
    except (ApiError, httpx.HTTPError) as exc:
        if is_unavailable(exc):
            raise Unavailable(f"the server could not answer ({exc})") from None
        raise SplitView(f"the head the witnesses cosigned does not contain your receipt's board ({exc})") from None
    except (CryptoError, KeyError, TypeError) as exc:
        raise SplitView(f"the head the witnesses cosigned does not contain your receipt's board ({exc})") from None
    completed = {**receipt, WITNESSED: witnessed_json(cosigned, proof)}
    return WitnessReport("pass", _cosigned_text(cosigned, names), names, completed=completed)


def _pending(sth: SignedTreeHead, now_ms: int, why: str, policy: WitnessPolicy) -> WitnessReport:
    age_ms = now_ms - sth.head.timestamp_ms
    if age_ms > GRACE_MS:
        return WitnessReport(
            "fail",
            f"{why}, {age_ms // 60000} minutes after your ballot was cast: the witnesses have not seen your ballot; "
            + split_view_advice(policy),
        )
    return WitnessReport(
        "pending",
        f"{why}; your ballot (entry {sth.head.size - 1}) is not confirmed by the witnesses yet: check again in a few minutes "
        "(立会人の確認待ちです。数分後にもう一度確認してください)",
    )


def _cosigned_text(cosigned: CosignedHead, names: tuple[Witness, ...]) -> str:
    return f"tree head {cosigned.tree_head.head.size} cosigned by {', '.join(w.name for w in names)}"


def _http_get(url: str) -> Any:
    response = httpx.get(url, timeout=GOSSIP_TIMEOUT_S, follow_redirects=False, verify=tls.client_context())
    response.raise_for_status()
    return response.json()


def _gossip(
    client: Client, sth: SignedTreeHead, server_key: bytes, policy: WitnessPolicy, fetch: Callable[[str], Any]
) -> list[tuple[str, str, str]]:
    """Compare the receipt's head with the newest head each witness publishes
    itself: a fork is caught even if the server hides the witnesses' heads."""
    election_id = sth.head.log_id
    results = []
    for witness in policy.witnesses:
        if witness.url is None:
            continue
        try:
            doc = fetch(f"{witness.url.rstrip('/')}/elections/{election_id}")
            head = SignedTreeHead.from_json(doc["tree_head"])
            cosignature = Cosignature.from_json(doc["cosignature"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError, CryptoError) as exc:
            results.append((witness.name, "note", f"its log could not be read ({type(exc).__name__}); not compared"))
            continue
        try:
            if cosignature.witness_key != witness.public_key:
                raise CryptoError("the log's cosignature is by another key")
            verify_cosignature(head.head, cosignature)
            verify_tree_head(server_key, head)
            if head.head.log_id != election_id:
                raise CryptoError("the log's head is for another election")
        except CryptoError as exc:
            results.append((witness.name, "note", f"its log's head does not verify ({exc}); not compared"))
            continue
        try:
            prove_one_board(client, election_id, sth, head, f"your receipt's head and {witness.name}'s newest head")
        except SplitView as exc:
            results.append((witness.name, "fail", str(exc)))
            continue
        except Unavailable as exc:
            results.append((witness.name, "note", f"{exc}; not compared"))
            continue
        results.append((witness.name, "pass", f"one board with its newest cosigned head {head.head.size}"))
    return results


def save_completed(path: Path, receipt: dict) -> None:
    """Replace the receipt file by its completed form, atomically: the signed
    part is unchanged, so the old form is never lost half-written."""
    write_file(path, json.dumps(receipt, indent=1, ensure_ascii=False))


def complete_receipt(
    client: Client,
    receipt: dict,
    policy: WitnessPolicy,
    *,
    wait_s: float,
    sleep: Callable[[float], None] = time.sleep,
) -> dict | None:
    """Right after casting: wait (up to ``wait_s``) for the quorum to cosign a
    head that covers the ballot and return the receipt completed with it, or
    None (the receipt is then completed later by ``voting receipt check``).
    ``policy`` is the one of the election the voter's client checked. Raises
    SplitView if the witnesses' head is not on the voter's board."""
    if policy.quorum == 0:
        return None
    server_key = bytes.fromhex(receipt["server_key"])
    sth = SignedTreeHead.from_json(receipt["tree_head"])
    plain = {k: v for k, v in receipt.items() if k != WITNESSED}  # completed from the server's cosigned head only
    deadline = time.monotonic() + wait_s
    while True:
        try:
            # "now" is the cast itself: just cast, the ballot is within its grace period.
            report = _quorum(client, plain, sth, server_key, policy, sth.head.timestamp_ms)
        except (Unavailable, ApiError, httpx.HTTPError) as exc:
            if not is_unavailable(exc):
                raise
            report = WitnessReport("pending", str(exc))
        if report.status == "fail":
            raise SplitView(report.detail)
        if report.completed is not None:
            return report.completed
        if time.monotonic() >= deadline:
            return None
        sleep(1.0)


# --- the trustee, before decrypting ------------------------------------------------------


class WitnessWait(Exception):
    """The quorum has not cosigned the board the trustee is about to rely on."""


def witnessed_board(
    client: Client,
    election_id: str,
    policy: WitnessPolicy,
    server_key: bytes,
    head: SignedTreeHead,
    covering: int,
    *,
    wait_s: float = TRUSTEE_WAIT_S,
    progress: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> CosignedHead | None:
    """Wait (up to ``wait_s``) until the quorum cosigned a head with more than
    ``covering`` entries, and prove it is on one board with ``head``, the head
    the trustee verified. None when the election names no witnesses. Raises
    WitnessWait on timeout, SplitView on a fork."""
    if policy.quorum == 0:
        return None
    deadline = time.monotonic() + wait_s
    while True:
        cosigned = None
        try:
            cosigned = CosignedHead.from_json(client.get(f"/api/elections/{election_id}/board/cosigned"))
        except (ApiError, httpx.HTTPError) as exc:
            if not (isinstance(exc, ApiError) and exc.status == 404) and not is_unavailable(exc):
                raise
        if cosigned is not None:
            try:
                check_quorum(policy, server_key, cosigned)
            except (QuorumError, CryptoError) as exc:
                raise SplitView(f"the server's cosigned head does not hold: {exc}") from None
            if cosigned.tree_head.head.log_id != election_id:
                raise SplitView("the server's cosigned head is for another election")
            if cosigned.tree_head.head.size > covering:
                prove_one_board(client, election_id, cosigned.tree_head, head, "the witnesses' head and the verified board")
                return cosigned
        if time.monotonic() >= deadline:
            raise WitnessWait(
                f"the election's witnesses have not cosigned the board up to entry {covering} yet "
                f"(they cosigned up to {cosigned.tree_head.head.size if cosigned else 'nothing'}); run this again in a few minutes. "
                "If it persists, the server may be keeping the board from the witnesses: tell the audit office (監査事務局)."
            )
        if progress is not None:
            progress("waiting for the witnesses to cosign the board / 立会人の連署を待っています")
        sleep(2.0)
