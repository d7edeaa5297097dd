"""The verifier's report: one ``CheckResult`` per numbered check
(docs/election-record.md, "Checks"), and the ``Findings`` each check function
returns.

A check function never touches the report: it returns its ``Findings``, the
ordered list of what it found (failures, a skip or block reason, a note, how
many items it checked). ``verify_record`` folds the findings of each check's
functions, in order, into that check's ``CheckResult``; the order matters
because a check that failed is not marked skipped afterwards, as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CHECKS: dict[int, tuple[str, str, str]] = {
    # number: (title, short title, short title in Japanese)
    1: ("Parameters and the election fingerprint", "Parameters, fingerprint", "パラメータと指紋"),
    2: ("Key ceremony: trustee proofs and the joint key", "Key ceremony, joint key", "鍵生成と共同公開鍵"),
    3: ("Ballots: well-formed, every proof, limits from the manifest", "Ballot proofs, limits", "投票の証明と上限"),
    4: ("Tracking codes: unique and matching the ballots", "Tracking codes", "追跡コード"),
    5: ("Eligibility: registered credentials within the roll, signed ballots", "Credentials, eligibility", "投票資格と認証情報"),
    6: ("Re-vote policy: which ballots count", "Re-vote policy", "再投票規則"),
    7: ("Bulletin board: Merkle roots, signed tree heads, consistency", "Board, signed tree heads", "掲示板と署名"),
    8: ("Aggregate: the sum of the counted ballots", "Aggregate = sum", "集計暗号文"),
    9: ("Partial decryptions: every trustee's proofs", "Partial decryptions", "部分復号"),
    10: ("Result: the combined decryption, counts within bounds", "Result, bounds", "結果と範囲"),
    11: ("Published audits: opened ballots, never cast", "Published audits", "公開された検査"),
    12: ("Witness cosignatures", "Witness cosignatures", "立会人の連署"),
}

PASS, FAIL, SKIP, BLOCKED = "pass", "fail", "skip", "blocked"
MAX_LISTED = 20


class Findings:
    """What one check function found, in the order it found it. Built by the
    function that owns it and returned; nothing else holds it.

    ``status`` is the status of these findings alone: a function that must
    know what an earlier function found for the same check is given it."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.status = PASS

    def fail(self, message: str) -> None:
        self.events.append(("fail", message))
        self.status = FAIL

    def skip(self, reason: str) -> None:
        self.events.append(("skip", reason))
        if self.status == PASS:
            self.status = SKIP

    def block(self, reason: str) -> None:
        self.events.append(("block", reason))
        if self.status == PASS:
            self.status = BLOCKED

    def note(self, text: str) -> None:
        """Set the check's note (what it covered)."""
        self.events.append(("note", text))

    def note_if_passing(self, text: str) -> None:
        """Set the note if the check, with every earlier finding, still passes."""
        self.events.append(("note_if_passing", text))

    def note_if_none(self, text: str) -> None:
        """Set the note unless one is set already."""
        self.events.append(("note_if_none", text))

    def items(self, count: int) -> None:
        """How many things were checked (replaces an earlier count)."""
        self.events.append(("items", count))

    def add_items(self, count: int) -> None:
        self.events.append(("add_items", count))

    def worker_seconds(self, seconds: float) -> None:
        self.events.append(("worker_seconds", seconds))


@dataclass
class CheckResult:
    number: int
    title: str
    short: str
    short_ja: str
    status: str = PASS
    items: int = 0
    """how many things were checked (ballots, heads, proofs…)"""
    failures: list[str] = field(default_factory=list)
    """the first failing items, in record order"""
    failure_count: int = 0
    note: str = ""
    """why it was skipped or blocked, or what it covered"""
    seconds: float = 0.0
    """wall-clock time of this check"""
    worker_seconds: float = 0.0
    """CPU time its worker processes spent (parallel checks only)"""

    @classmethod
    def of(cls, number: int) -> CheckResult:
        title, short, short_ja = CHECKS[number]
        return cls(number, title, short, short_ja)

    def add(self, findings: Findings) -> None:
        """Fold in one function's findings, in order."""
        for kind, value in findings.events:
            if kind == "fail":
                self.failure_count += 1
                if len(self.failures) < MAX_LISTED:
                    self.failures.append(value)
                self.status = FAIL
            elif kind in ("skip", "block"):
                if self.status == PASS:
                    self.status = SKIP if kind == "skip" else BLOCKED
                    self.note = value
            elif kind == "note":
                self.note = value
            elif kind == "note_if_passing":
                if self.status == PASS:
                    self.note = value
            elif kind == "note_if_none":
                if not self.note:
                    self.note = value
            elif kind == "items":
                self.items = value
            elif kind == "add_items":
                self.items += value
            elif kind == "worker_seconds":
                self.worker_seconds = value
            else:  # pragma: no cover - a programming error, never the record's
                raise AssertionError(f"unknown finding {kind!r}")

    @property
    def first_failure(self) -> str:
        return self.failures[0] if self.failures else ""

    def to_json(self) -> dict[str, object]:
        return {
            "number": self.number,
            "title": self.title,
            "status": self.status,
            "items": self.items,
            "failure_count": self.failure_count,
            "failures": self.failures,
            "note": self.note,
            "seconds": round(self.seconds, 3),
            "worker_seconds": round(self.worker_seconds, 3),
        }


@dataclass
class Report:
    election_id: str | None
    stage: str
    board_size: int
    ballots: int
    counted: int
    auditors_part: bool
    checks: list[CheckResult]
    seconds: float = 0.0
    workers: int = 1
    warnings: list[str] = field(default_factory=list)
    """what passed but rests on the server's word only (say it to the reader)"""
    attested_registrations: int = 0
    """registrations check 5 passed that are attested by a TLS client certificate
    login, signed by no card: the server's word only (trustees decrypt only
    once they accept this number)"""
    anchors_pinned: bool = False
    """the auditors' part's trust anchors were compared with roots the reader
    pinned (``trust_anchors``); False: they were taken from the record itself"""

    def ok(self, *, strict: bool = False) -> bool:
        """Every check passed (``strict``: a skipped check counts as not passed)."""
        allowed = {PASS} if strict else {PASS, SKIP}
        return all(c.status in allowed for c in self.checks)

    def check(self, number: int) -> CheckResult:
        return next(c for c in self.checks if c.number == number)

    def failed(self) -> list[int]:
        return [c.number for c in self.checks if c.status == FAIL]

    def to_json(self) -> dict[str, object]:
        return {
            "election_id": self.election_id,
            "stage": self.stage,
            "board_size": self.board_size,
            "ballots": self.ballots,
            "counted": self.counted,
            "auditors_part": self.auditors_part,
            "ok": self.ok(),
            "seconds": round(self.seconds, 3),
            "workers": self.workers,
            "warnings": self.warnings,
            "attested_registrations": self.attested_registrations,
            "anchors_pinned": self.anchors_pinned,
            "checks": [c.to_json() for c in self.checks],
        }
