"""``verify_record`` runs check 3 (ballot proofs) and check 5 (eligibility) in
two threads, both feeding one worker pool (``voting/verify/workers.py``; none
for ``workers <= 1``: both threads then run the cryptography in this process),
while the main thread runs check 2 and check 7's tree heads.

What an outsider would try: a hostile record that passes, or a failure of one
thread lost while its check says "pass"; a hang or a traceback when a worker
dies or a chunk raises; another verdict than the same checks run one after
another give, with or without a pool; two verifications at once in one
process. ``_sequential_verify`` (the threads' work done in the caller's
thread) is the reference the threaded verifier must agree with.

Small records only (the module's synthetic run: 10 ballots; one of 62 ballots
for chunks of both checks interleaving in the pool). The comparison over every
hostile record of the mutation suite is in the slow tier."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

import pytest

import tests.test_record_mutations as mutations
from tests.record_support import public_part, synthetic_run
from voting.record import files as F
from voting.record.bench import survey_manifest, synthesize
from voting.verify import Report, verify_record
from voting.verify import ballots as ballots_module
from voting.verify import eligibility as eligibility_module
from voting.verify import run as R
from voting.verify import workers as workers_module

#: No verification of these records may take longer (a hang fails the test, not the session).
HANG_S = 120.0


# --- the reference: the same verifier with its threads' work done one after another ------------------


class _OneAfterAnother:
    """A stand-in for ``run.py``'s ThreadPoolExecutor that runs each submitted
    call at once, in the caller's thread: checks 3 and 5, then 2 and 7, with no
    thread (the checks are independent, so the order cannot change a finding)."""

    def __init__(self, _workers: int) -> None:
        pass

    def __enter__(self) -> _OneAfterAnother:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def submit(self, function: Callable[..., Any], *args: Any) -> Future:
        done: Future = Future()
        done.set_result(function(*args))
        return done


def _sequential_verify(files: dict[str, bytes], **options: Any) -> Report:
    """``verify_record`` without its threads: the reference the threaded one
    must agree with, finding for finding."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(R, "ThreadPoolExecutor", _OneAfterAnother)
        return verify_record(files, **options)


def _verdict(report: Report, *, ordered: bool = True) -> dict[str, Any]:
    """Everything a reader of the report is told, but the times and the process count."""

    def failures(c: Any) -> tuple[str, ...]:
        return tuple(c.failures) if ordered else tuple(sorted(c.failures))

    return {
        "report": (
            report.election_id, report.stage, report.board_size, report.ballots, report.counted, report.auditors_part,
            tuple(report.warnings), report.attested_registrations, report.anchors_pinned, report.ok(), report.ok(strict=True),
        ),
        "checks": [(c.number, c.status, c.items, failures(c), c.failure_count, c.note) for c in report.checks],
    }


def _verify_within(files: dict[str, bytes], timeout: float = HANG_S, **options: Any) -> Report:
    """``verify_record`` in a thread of its own: it must come back (a hang is a
    failure of the test, not a stuck session) and must not raise."""
    out: dict[str, Any] = {}

    def work() -> None:
        try:
            out["report"] = verify_record(files, **options)
        except BaseException as exc:  # noqa: BLE001 - reported below
            out["error"] = exc

    thread = threading.Thread(target=work, daemon=True, name="verify-under-test")
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"verify_record did not return within {timeout:g} s (options {options})"
    assert "error" not in out, f"verify_record crashed: {out.get('error')!r}"
    return out["report"]


@pytest.fixture
def busy_switching() -> Iterator[None]:
    """Make the interpreter switch threads as often as it can, so that any
    interleaving of the three threads' Python code is tried."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


@pytest.fixture(scope="module")
def run():
    return synthetic_run()


@pytest.fixture(scope="module")
def clean(run):
    report = verify_record(run.private, workers=1)
    assert report.ok(strict=True)
    return run.private


@pytest.fixture(scope="module")
def two_chunk_record() -> dict[str, bytes]:
    """62 ballots (60 voters, 2 re-votes), so that check 3 and check 5 each give
    the pool two chunks of at most 50 that interleave; hostile in both checks
    and in both chunks of each: over-votes by voters 3 and 57 (check 3), the
    registration signatures of voters 4 and 58 altered in the roll (check 5)."""
    manifest = survey_manifest("threads-2026")
    manifest["questions"] = manifest["questions"][:1]  # the over-vote forges the 1-of-5 question
    overvote = mutations._overvote((5,))
    election = synthesize(60, manifest_doc=manifest, revoters=2, audits=1, workers=1, forge={3: overvote, 57: overvote})
    files = dict(election.files)
    roll = json.loads(files[F.ROLL])
    for position in (4, 58):
        signature = roll[position]["registration"]["signature"]
        roll[position]["registration"]["signature"] = ("0" if signature[0] != "0" else "1") + signature[1:]
    files[F.ROLL] = json.dumps(roll, ensure_ascii=False, indent=1).encode()
    return files


# --- the same verdict as before the change -----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", list(mutations.FIELD_CASES))
def test_in_process_threads_give_the_sequential_verdict_on_every_hostile_record(run, clean, busy_switching, name):
    """workers=1: both threads run check 3's and check 5's cryptography in this
    process, against module state ``init_worker`` set, concurrently with
    checks 2 and 7 in the main thread. Every hostile record of the mutation
    suite must get the very report the same checks give one after another: the same
    status, failures (in order), note and item count for every check."""
    mutated = mutations.FIELD_CASES[name][1](mutations.Ctx(run))
    threaded = verify_record(mutated, workers=1)
    assert _verdict(threaded) == _verdict(_sequential_verify(mutated, workers=1))
    assert not threaded.ok()


@pytest.mark.slow
@pytest.mark.parametrize("name", mutations.PUBLIC_CASES)
def test_in_process_threads_give_the_sequential_verdict_on_the_public_part(run, clean, busy_switching, name):
    """The same without the auditors' part (check 5 public only: its thread has no registrations to give the workers)."""
    mutated = public_part(mutations.FIELD_CASES[name][1](mutations.Ctx(run)))
    threaded = verify_record(mutated, workers=1)
    assert _verdict(threaded) == _verdict(_sequential_verify(mutated, workers=1))
    assert not threaded.ok()


#: The hostile records whose guard runs in a thread or beside one (checks 2 to 5 and 7), a few of each.
POOL_CASES = [
    name
    for check in (2, 3, 4, 5, 7)
    for name in [n for n, (expected, _, _) in mutations.FIELD_CASES.items() if expected == check][:4]
]


@pytest.mark.parametrize("name", POOL_CASES)
def test_the_pool_gives_the_sequential_verdict(run, clean, name):
    """workers=2: both threads hand the same process pool their chunks. Same
    report as the same checks one after another without a pool."""
    mutated = mutations.FIELD_CASES[name][1](mutations.Ctx(run))
    pooled = _verify_within(mutated, workers=2)
    assert pooled.workers == 2
    assert _verdict(pooled) == _verdict(_sequential_verify(mutated, workers=1))
    assert not pooled.ok()


def test_interleaved_chunks_of_both_checks_in_the_pool_lose_no_failure(two_chunk_record, busy_switching):
    """Two chunks per check, the four interleaving in a pool of two: every
    failure of check 3 (both over-votes) and of check 5 (both altered
    registrations) is reported, with and without a pool, as the sequential
    verifier reports them; and repeatedly, so no interleaving drops one."""
    reference = _sequential_verify(two_chunk_record, workers=1)
    assert reference.ballots == 62
    assert reference.check(3).failure_count == 2 and reference.check(5).failure_count == 2
    assert _verdict(verify_record(two_chunk_record, workers=1)) == _verdict(reference)
    for _ in range(3):
        pooled = _verify_within(two_chunk_record, workers=2)
        # The pool gathers chunks as they complete: compare the failures as sets.
        assert _verdict(pooled, ordered=False) == _verdict(reference, ordered=False)


def test_an_honest_record_passes_every_time_under_contention(clean, busy_switching):
    """The honest record, many times over, with threads switching constantly:
    never a spurious failure (a race would show as one), never a crash."""
    for _ in range(20):
        assert verify_record(clean, workers=1).ok(strict=True)


# --- a thread's failure is never lost ------------------------------------------------------------


def _raising_ballot_chunk(items: Any) -> Any:
    raise ValueError("a ballot chunk exploded")


def _raising_registration_chunk(items: Any) -> Any:
    raise ValueError("a registration chunk exploded")


def _killing_chunk(items: Any) -> Any:
    """A worker dying mid-task (killed by the OOM killer, a crash in native code)."""
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.parametrize("workers", [1, 2])
def test_both_threads_crashing_at_once_both_fail(clean, monkeypatch, workers):
    """A chunk of check 3 and a chunk of check 5 raise at the same time: each
    check fails ("could not finish"), check 4 cannot pass without check 3's
    hashes, and the verifier returns a failing report instead of raising."""
    monkeypatch.setattr(ballots_module, "verify_ballot_chunk", _raising_ballot_chunk)
    monkeypatch.setattr(eligibility_module, "check_registration_chunk", _raising_registration_chunk)
    report = _verify_within(clean, workers=workers)
    assert not report.ok()
    assert "could not finish: ValueError: a ballot chunk exploded" in report.check(3).first_failure
    assert "could not finish: ValueError: a registration chunk exploded" in report.check(5).first_failure
    assert report.check(4).status == "fail"


@pytest.mark.parametrize("workers", [1, 2])
def test_a_crash_in_the_main_thread_does_not_pass_the_threads_checks_off(clean, monkeypatch, workers):
    """Checks 2 and 7 raise in the main thread while the two threads work:
    they fail, and checks 3 and 5 still give their own (passing) verdict."""

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("main thread exploded")

    monkeypatch.setattr(R, "check_ceremony", boom)
    monkeypatch.setattr(R, "check_tree_heads", boom)
    report = _verify_within(clean, workers=workers)
    assert not report.ok()
    assert "main thread exploded" in report.check(2).first_failure
    assert "main thread exploded" in report.check(7).first_failure
    assert report.check(3).status == "pass" and report.check(3).items == 10
    assert report.check(5).status == "pass"


def test_a_progress_callback_that_raises_in_one_thread_fails_that_check_only(clean):
    """The reader's progress callback is now called from three threads; one
    that raises for the registrations fails check 5, nothing else."""

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "registrations":
            raise RuntimeError("progress bar broke")

    report = _verify_within(clean, workers=1, progress=progress)
    assert report.failed() == [5]
    assert "progress bar broke" in report.check(5).first_failure


@pytest.mark.parametrize(
    ("target", "check"),
    [(ballots_module, 3), (eligibility_module, 5)],
    ids=["worker-dies-in-check-3", "worker-dies-in-check-5"],
)
def test_a_worker_killed_mid_check_neither_hangs_nor_passes(clean, monkeypatch, target, check):
    """A worker process dies while both threads wait on the shared pool
    (BrokenProcessPool for every pending chunk): no hang, no traceback, and the
    check whose chunk died fails."""
    name = "verify_ballot_chunk" if check == 3 else "check_registration_chunk"
    monkeypatch.setattr(target, name, _killing_chunk)
    report = _verify_within(clean, workers=2)
    assert not report.ok()
    assert "BrokenProcessPool" in report.check(check).first_failure
    if check == 3:
        assert report.check(4).status == "fail"


def test_a_thread_that_cannot_start_never_yields_a_passing_report(clean, monkeypatch):
    """Where no thread can be started (a pids limit), the verifier must fail
    closed: raise, or report failure; never report a record verified with
    checks 3 or 5 left undone."""
    original = threading.Thread.start

    def start(self: threading.Thread) -> None:
        if self.name.startswith("ThreadPoolExecutor"):
            raise RuntimeError("can't start new thread")
        original(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    try:
        report = verify_record(clean, workers=1)
    except RuntimeError as exc:
        assert "can't start new thread" in str(exc)
    else:
        assert not report.ok()


# --- the module state of workers.py, with no pool ---------------------------------------------------------


def test_no_thread_of_one_verification_sees_another_records_set_up(run):
    """With no pool, ``init_worker`` sets the module globals ``_BALLOTS`` and
    ``_ELIGIBILITY`` of workers.py in this process, and check 3's and check 5's
    threads read them. Two verifications at once in one process (two records,
    each honest) must each judge their own record: each passes.

    Fails today: the second ``init_worker`` replaces the first record's
    manifest, joint key, election id and trust store while its threads still
    check it, so honest ballots are "for another election" and honest
    registrations "do not verify" (a false failure; a record made for this
    could pass against the other record's set-up instead). Not introduced by
    the threads of this change (the state was shared before), and no caller
    verifies two records at once today (``voting verify``, the trustee,
    ``archive`` each verify one)."""
    records = {"record-2026": run.private, "record-single": run.single_private}
    assert all(verify_record(files, workers=1).ok(strict=True) for files in records.values())
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    wrong: list[str] = []
    try:
        for attempt in range(8):
            reports: dict[str, Report] = {}
            threads = [
                threading.Thread(target=lambda k=k, f=f, out=reports: out.__setitem__(k, verify_record(f, workers=1)))
                for k, f in records.items()
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(HANG_S)
            for k, report in reports.items():
                if not report.ok():
                    wrong.append(
                        f"attempt {attempt}, {k}: "
                        + "; ".join(f"check {c.number}: {c.first_failure}" for c in report.checks if c.status != "pass")
                    )
    finally:
        sys.setswitchinterval(before)
    assert not wrong, "an honest record failed while another was verified at once:\n" + "\n".join(wrong[:4])


def test_in_process_set_up_is_that_of_the_record_being_verified(run):
    """One after another (the supported use): the second record's threads see
    the second record's set-up, not the first's left behind."""
    assert verify_record(run.private, workers=1).ok(strict=True)
    assert verify_record(run.single_private, workers=1).ok(strict=True)
    context = workers_module.ballot_context()
    assert context.manifest.election_id == "record-single"
    assert workers_module.eligibility_context().election_id == "record-single"
    assert verify_record(run.private, workers=1).ok(strict=True)
