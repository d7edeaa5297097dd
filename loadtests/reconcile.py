"""After the load: close the election, tally with two of the three trustees,
and prove that nothing acknowledged was lost or counted twice.

Checked, each independently of the server's own bookkeeping:

1. The whole board, downloaded page by page and rebuilt as a Merkle tree here,
   has the root of the newest tree head the server signed (pinned key).
2. Every receipt a simulated voter got verifies (server signature, tree-head
   signature, inclusion under its own head), its entry is exactly the entry
   at its leaf index on the board, the server's inclusion proof for that leaf
   verifies under the newest head, and the receipt's head is consistent with
   the newest head (a proof computed from the rebuilt tree).
3. Ballots on the board = acknowledged casts, as sets of tracking codes:
   none lost (acknowledged, not on the board), none unacknowledged (on the
   board, never acknowledged), none doubled (a tracking code or a voter twice),
   none superseded.
4. The decrypted tally equals the ground truth: the choices the acknowledged
   ballots were prepared with.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from crypto import log as merkle
from crypto.encoding import canonical_json
from crypto.entry_kinds import BALLOT, BALLOT_SUPERSEDED, CREDENTIAL_REGISTERED
from crypto.receipts import verify_receipt
from loadtests.prepare import ADMIN_ID, OPTIONS, LoadTestCa
from voting.client import Client, trustee_decrypt

PAGE = 500
TALLY_TRUSTEES = ("T0001", "T0003")  # any two of the three


@dataclass
class Reconciliation:
    acknowledged: int = 0
    board_ballots: int = 0
    board_size: int = 0
    receipts_proven: int = 0
    lost: list[str] = field(default_factory=list)
    unacknowledged: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    superseded: int = 0
    bad_receipts: list[str] = field(default_factory=list)
    expected_counts: list[int] = field(default_factory=list)
    tally_counts: list[int] = field(default_factory=list)
    ballots_counted: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict:
        doc = asdict(self)
        for name in ("lost", "unacknowledged", "doubled", "bad_receipts"):
            doc[name] = doc[name][:20]  # the first few, for a person to look up
        return {**doc, "ok": self.ok}


def close_and_tally(url: str, pki: LoadTestCa, election_id: str, state_dir: Path) -> dict:
    """Close the election, have two trustees decrypt the aggregate, combine."""
    with Client(url) as admin:
        admin.login(pki.enroll(ADMIN_ID))
        admin.close_election(election_id)
        for employee_id in TALLY_TRUSTEES:
            with Client(url) as trustee:
                trustee.login(pki.enroll(employee_id))
                trustee_decrypt(trustee, election_id, state_dir / f"trustee-{employee_id}.json")
        return admin.tally(election_id)


def reconcile(url: str, election_id: str, server_key: bytes, acks: list[dict], result: dict) -> Reconciliation:
    rec = Reconciliation(acknowledged=len(acks))
    with Client(url) as client:
        newest = merkle.SignedTreeHead.from_json(
            {k: v for k, v in client.get(f"/api/elections/{election_id}/board/head").items() if k != "server_key"}
        )
        merkle.verify_tree_head(server_key, newest)
        size = newest.head.size
        rec.board_size = size
        entries, tree = _download_board(client, election_id, size)
        if tree.root() != newest.head.root:
            rec.problems.append("the board's entries do not hash to the newest signed tree head")
            return rec

        # Ballots on the board, and acknowledged casts, as sets of tracking codes.
        board_codes = Counter(e["body"]["tracking_code"] for e in entries if e["kind"] == BALLOT)
        board_voters = Counter(e["body"]["credential"] for e in entries if e["kind"] == BALLOT)
        registered = Counter(e["body"]["credential"] for e in entries if e["kind"] == CREDENTIAL_REGISTERED)
        unregistered = set(board_voters) - set(registered)
        if unregistered or any(n > 1 for n in registered.values()):
            rec.problems.append(
                f"{len(unregistered)} ballots' credentials were never registered, "
                f"{sum(1 for n in registered.values() if n > 1)} credentials registered twice"
            )
        rec.board_ballots = sum(board_codes.values())
        rec.superseded = sum(1 for e in entries if e["kind"] == BALLOT_SUPERSEDED)
        acked_codes = Counter(a["tracking_code"] for a in acks)
        rec.doubled = sorted(
            {c for c, n in board_codes.items() if n > 1}
            | {c for c, n in acked_codes.items() if n > 1}
            | {f"credential {v}" for v, n in board_voters.items() if n > 1}
        )
        rec.lost = sorted(set(acked_codes) - set(board_codes))
        rec.unacknowledged = sorted(set(board_codes) - set(acked_codes))

        # Every receipt: on its own, against the board, and under the newest head.
        def check(ack: dict) -> str | None:
            return _check_receipt(client, election_id, server_key, ack, entries, tree, newest)

        with ThreadPoolExecutor(4) as pool:
            failures = [f for f in pool.map(check, acks) if f]
        rec.bad_receipts = failures
        rec.receipts_proven = len(acks) - len(failures)

    # The tally against the ground truth.
    expected = [0] * OPTIONS
    for ack in acks:
        expected[ack["choice"]] += 1
    rec.expected_counts = expected
    rec.tally_counts = [o["count"] for o in result["questions"][0]["options"]]
    rec.ballots_counted = result["ballots_counted"]

    if rec.lost:
        rec.problems.append(f"{len(rec.lost)} acknowledged ballots are not on the board")
    if rec.unacknowledged:
        rec.problems.append(f"{len(rec.unacknowledged)} ballots on the board were never acknowledged")
    if rec.doubled:
        rec.problems.append(f"{len(rec.doubled)} tracking codes or voters appear twice")
    if rec.superseded:
        rec.problems.append(f"{rec.superseded} ballots were superseded (every voter cast once)")
    if rec.bad_receipts:
        rec.problems.append(f"{len(rec.bad_receipts)} receipts do not check out")
    if rec.board_ballots != len(set(acked_codes)):
        rec.problems.append(f"{rec.board_ballots} ballots on the board, {len(set(acked_codes))} acknowledged")
    if rec.tally_counts != expected or rec.ballots_counted != len(acks):
        rec.problems.append(
            f"the tally {rec.tally_counts} ({rec.ballots_counted} ballots) is not the ground truth {expected} ({len(acks)})"
        )
    return rec


def _download_board(client: Client, election_id: str, size: int) -> tuple[list[dict], merkle.MemoryLog]:
    entries: list[dict] = []
    tree = merkle.MemoryLog()
    while len(entries) < size:
        page = client.get(f"/api/elections/{election_id}/board/entries", start=len(entries), limit=PAGE)["entries"]
        if not page:
            break
        for entry in page:
            if entry["index"] != len(entries):
                raise RuntimeError(f"board entry {entry['index']} where {len(entries)} was expected")
            entries.append(entry)
            tree.append(canonical_json(entry))
    return entries[:size], tree


def _check_receipt(
    client: Client,
    election_id: str,
    server_key: bytes,
    ack: dict,
    entries: list[dict],
    tree: merkle.MemoryLog,
    newest: merkle.SignedTreeHead,
) -> str | None:
    code = ack["tracking_code"]
    receipt = ack["receipt"]
    try:
        own = verify_receipt(receipt, server_key=server_key)
        index = receipt["leaf_index"]
        if index >= len(entries) or entries[index] != receipt["entry"]:
            return f"{code}: the board's entry {index} is not the receipt's"
        reply = client.get(
            f"/api/elections/{election_id}/board/inclusion", index=index, size=newest.head.size
        )
        proof = merkle.InclusionProof.from_json(reply["proof"])
        if (proof.leaf_index, proof.tree_size) != (index, newest.head.size):
            return f"{code}: the server's inclusion proof is for another leaf or size"
        proof.verify(
            merkle.leaf_hash(canonical_json(receipt["entry"])), newest.head.root, index=index, tree_size=newest.head.size
        )
        old = own.head.size
        merkle.verify_consistency(
            old, newest.head.size, own.head.root, newest.head.root, tree.consistency_proof(old, newest.head.size)
        )
    except Exception as exc:  # noqa: BLE001 - every way a receipt can be wrong is a finding
        return f"{code}: {type(exc).__name__}: {exc}"
    return None
