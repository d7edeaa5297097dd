"""The independent verifier of a published election record
(docs/election-record.md, "Checks").

It needs nothing but ``crypto/`` and the record's files: never the database,
never the service's code (a test scans its imports). The bulletin board
(``board.jsonl``, the exact bytes of every leaf) is authenticated by the
server's signed tree heads; every other public file is a view of the board and
must say exactly what the board says; the cryptography is then re-checked from
the board alone. Every limit comes from the manifest, never from a ballot.

``verify_record`` takes the files as a mapping (path -> bytes), so a record
held in memory is checked without touching the disk. Each check family is a
module of pure functions (the board and check 7 in ``board``, check 1 in
``parameters``, 2 in ``ceremony``, 3 and 4 in ``ballots``, 5 in
``eligibility``, 6 in ``revote``, 8 to 10 in ``tally``, 11 in ``audits``, 12 in
``witnesses``): each takes what it needs, immutable, and returns what it
established and its ``Findings``; ``run.verify_record`` calls them in the order
of those dependencies and folds the findings into a ``Report``, one
``CheckResult`` per numbered check. Ballot proofs and the registrations'
certificates are checked in worker processes (all cores); a small record is
checked in this process.
"""

from voting.verify.certificates import anchor_name, unpinned_anchors
from voting.verify.parse import Bad, strict_json
from voting.verify.receipt import verify_receipt_in_record
from voting.verify.report import BLOCKED, CHECKS, FAIL, PASS, SKIP, CheckResult, Report
from voting.verify.run import verify_record

__all__ = [
    "BLOCKED",
    "CHECKS",
    "FAIL",
    "PASS",
    "SKIP",
    "Bad",
    "CheckResult",
    "Report",
    "anchor_name",
    "strict_json",
    "unpinned_anchors",
    "verify_receipt_in_record",
    "verify_record",
]
