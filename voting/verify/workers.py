"""Worker processes for the costly checks: ballot proofs (checks 3, 4 and the
sums of check 8) and registrations' certificates (check 5).

Each worker (or this process, for a small record) is set up once with what
every task needs, so tasks carry only their own items. That set-up is the only
module state of the verifier, and it lives in the worker: ``init_worker``
builds it from picklable inputs, the task functions read it.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, TypeVar

from cryptography import x509

from crypto.ballots import Manifest
from crypto.credentials import TrustStore
from crypto.group import Point

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``; called as work completes."""

CHUNK = 50

Item = TypeVar("Item")


@dataclass(frozen=True)
class BallotInputs:
    """What checking a ballot needs (picklable): from check 1."""

    manifest_doc: Mapping[str, Any]
    joint_key_hex: str
    fingerprint_hex: str


@dataclass(frozen=True)
class EligibilityInputs:
    """What checking a registration needs (picklable): the auditors' part."""

    anchors: Sequence[bytes]
    """DER of the login trust anchors"""
    crls: Sequence[bytes]
    """DER of the CRLs"""
    election_id: str
    after_events: bool
    """CRLs must be issued after each event (else: current now)"""
    card_anchors: Mapping[str, Sequence[bytes]]
    """the anchors whose certificates name no employee: name -> DER of its roots"""
    enrollments: Mapping[str, Mapping[str, Any]]
    """card certificate fingerprint -> its checked enrollment"""


@dataclass(frozen=True)
class BallotContext:
    manifest: Manifest
    joint_key: Point
    fingerprint: bytes
    width: int
    """encrypted options per ballot"""


@dataclass(frozen=True)
class EligibilityContext:
    store: TrustStore
    crls: list[x509.CertificateRevocationList]
    election_id: str
    after_events: bool
    card_stores: dict[str, TrustStore]
    enrollments: Mapping[str, Mapping[str, Any]]


_BALLOTS: BallotContext | None = None
_ELIGIBILITY: EligibilityContext | None = None


def init_worker(ballots: BallotInputs | None, eligibility: EligibilityInputs | None) -> None:
    global _BALLOTS, _ELIGIBILITY  # the worker's set-up, once per process
    if ballots is not None:
        manifest = Manifest.from_json(dict(ballots.manifest_doc))
        width = sum(len(q.option_ids) for q in manifest.questions)
        _BALLOTS = BallotContext(manifest, Point.from_hex(ballots.joint_key_hex), bytes.fromhex(ballots.fingerprint_hex), width)
    if eligibility is not None:
        _ELIGIBILITY = EligibilityContext(
            TrustStore.from_der(eligibility.anchors),
            [x509.load_der_x509_crl(der) for der in eligibility.crls],
            eligibility.election_id,
            eligibility.after_events,
            {name: TrustStore.from_der(ders) for name, ders in eligibility.card_anchors.items()},
            eligibility.enrollments,
        )


def ballot_context() -> BallotContext:
    assert _BALLOTS is not None, "init_worker was not given the ballots' context"
    return _BALLOTS


def eligibility_context() -> EligibilityContext:
    assert _ELIGIBILITY is not None, "init_worker was not given the eligibility context"
    return _ELIGIBILITY


#: Held while this process's own set-up is in use (no pool): a second
#: verification in another thread would replace it under the first one's checks.
_IN_PROCESS = threading.Lock()


class Workers:
    """A pool of ``wanted`` processes (none if ``wanted`` <= 1: the work then
    runs in this process, one verification at a time), each set up by
    ``init_worker``."""

    def __init__(self, wanted: int, ballots: BallotInputs | None, eligibility: EligibilityInputs | None) -> None:
        self.pool: ProcessPoolExecutor | None = None
        self.count = 1
        self.holds_process = wanted <= 1
        if self.holds_process:
            _IN_PROCESS.acquire()
            try:
                init_worker(ballots, eligibility)
            except BaseException:
                _IN_PROCESS.release()
                raise
            return
        self.count = wanted
        self.pool = ProcessPoolExecutor(
            max_workers=wanted,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=init_worker,
            initargs=(ballots, eligibility),
        )

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown()
        if self.holds_process:
            _IN_PROCESS.release()

    def run_chunks(
        self,
        progress: Progress,
        stage: str,
        function: Callable[[Sequence[Item]], tuple[Any, ...]],
        items: Sequence[Item],
        on_result: Callable[[tuple[Any, ...]], None],
    ) -> float:
        """Apply ``function`` to chunks of ``items`` (in the pool when there is
        one); ``on_result`` gets each chunk's result in completion order. A
        result's last member is the CPU seconds it took; returns their sum."""
        chunks = [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]
        done, cpu = 0, 0.0
        progress(stage, 0, len(items))
        sized: Iterable[tuple[Sequence[Item], tuple[Any, ...]]]
        if self.pool is None:
            sized = ((chunk, function(chunk)) for chunk in chunks)
        else:
            futures = {self.pool.submit(function, chunk): chunk for chunk in chunks}
            sized = ((futures[f], f.result()) for f in as_completed(futures))
        for chunk, outcome in sized:
            cpu += outcome[-1]
            on_result(outcome)
            done += len(chunk)
            progress(stage, done, len(items))
        return cpu
