"""The verifier is ``voting.verify``; this module keeps its old import path
working for the callers that still use it."""

from voting.verify import (
    CHECKS,
    Bad,
    CheckResult,
    Report,
    anchor_name,
    strict_json,
    unpinned_anchors,
    verify_receipt_in_record,
    verify_record,
)

__all__ = [
    "CHECKS",
    "Bad",
    "CheckResult",
    "Report",
    "anchor_name",
    "strict_json",
    "unpinned_anchors",
    "verify_receipt_in_record",
    "verify_record",
]
