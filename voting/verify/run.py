"""``verify_record``: every check function, in the order of what each needs
from the others (the board first, then check 1's parameters, …), each one's
findings folded into its numbered check."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from voting.record import files as F
from voting.verify.audits import check_audits
from voting.verify.ballots import (
    Ballots,
    CastBallot,
    Recomputed,
    check_ballots,
    check_tracking_codes,
    collect_ballots,
    read_ballots_view,
)
from voting.verify.board import Board, body_findings, check_tree_heads, parse_board
from voting.verify.ceremony import check_ceremony
from voting.verify.eligibility import Eligibility, check_eligibility, collect_registrations, trust_inputs
from voting.verify.parameters import Parameters, check_parameters
from voting.verify.parse import UNUSABLE
from voting.verify.report import CHECKS, CheckResult, Findings, Report
from voting.verify.revote import check_revote
from voting.verify.tally import Partials, check_aggregate, check_partial_decryptions, check_result
from voting.verify.witnesses import check_witnesses
from voting.verify.workers import BallotInputs, Progress, Workers

#: Below this many ballots, starting worker processes costs more than it saves.
PARALLEL_FROM = 200

T = TypeVar("T")

_NO_BALLOTS: tuple[CastBallot, ...] = ()
_NO_REGISTRATIONS: dict[str, int] = {}


class _Checks:
    """The numbered results, and the one way a check function is run."""

    def __init__(self) -> None:
        self.results = {n: CheckResult.of(n) for n in CHECKS}

    def run(self, number: int, work: Callable[[], tuple[T, Findings]], default: T) -> T:
        """Run one check function and fold its findings into check ``number``.
        Whatever a hostile record makes it raise is a failure of that check,
        never a crash of the verifier; the checks after it get ``default``
        (nothing established) from it."""
        result = self.results[number]
        start = time.perf_counter()
        try:
            value, findings = work()
        except Exception as exc:  # noqa: BLE001 - hostile input
            crashed = Findings()
            crashed.fail(f"the check could not finish: {type(exc).__name__}: {exc}")
            result.add(crashed)
            return default
        else:
            result.add(findings)
            return value
        finally:
            result.seconds += time.perf_counter() - start

    def only(self, number: int, work: Callable[[], Findings]) -> None:
        """Run a check function that establishes nothing for the others."""
        self.run(number, lambda: (None, work()), None)


def _silent(stage: str, done: int, total: int) -> None:
    pass


def verify_record(
    files: Mapping[str, bytes],
    *,
    server_key: bytes | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    crls_after_events: bool = True,
    trust_anchors: Sequence[x509.Certificate] | None = None,
) -> Report:
    """Run every check on a record (path -> bytes, as ``files.read_record`` gives).

    ``server_key`` pins the server's Ed25519 key (from a receipt, or published
    out of band); without it the record's own key is used, which proves the
    record is self-consistent but not who signed it. ``workers``: processes for
    ballot proofs and certificates (default: all cores for a large record, none
    for a small one). ``crls_after_events=False``: certificates are judged
    against CRLs current now instead of CRLs issued after each event (what a
    trustee can have right after closing; see ``certificates.check_revoked_at``).
    ``trust_anchors``: the roots the reader pinned (the city's root and every
    card anchor's root it accepts); check 5 then fails for every anchor of
    the auditors' part that is not one of them, naming it. Without it the
    record's own anchors are used (``Report.anchors_pinned`` is False).
    """
    start = time.perf_counter()
    say = progress or _silent
    pinned_roots = None if trust_anchors is None else {c.public_bytes(Encoding.DER) for c in trust_anchors}
    checks = _Checks()
    run, only = checks.run, checks.only

    board = run(7, lambda: parse_board(files), Board())
    parameters = run(1, lambda: check_parameters(board, files, server_key), Parameters())
    view = run(4, lambda: read_ballots_view(files), UNUSABLE)
    ballots = Ballots(run(3, lambda: collect_ballots(board), _NO_BALLOTS), view)
    counted = run(6, lambda: check_revote(board, ballots, parameters.policy), _NO_BALLOTS)
    registrations = run(5, lambda: collect_registrations(board), _NO_REGISTRATIONS)
    inputs = run(5, lambda: trust_inputs(board, files, pinned_roots, crls_after_events=crls_after_events), None)

    wanted = workers
    if wanted is None:
        wanted = (os.cpu_count() or 1) if len(ballots.cast) >= PARALLEL_FROM else 1
    ballot_inputs = None
    if parameters.manifest_doc is not None and parameters.joint_key is not None and parameters.fingerprint is not None:
        ballot_inputs = BallotInputs(parameters.manifest_doc, parameters.joint_key.hex(), parameters.fingerprint.hex())
    with Workers(wanted, ballot_inputs, inputs) as pool, ThreadPoolExecutor(2) as waiting:
        # The worker processes check the ballots' proofs and then the
        # registrations while this process checks the key ceremony, the board's
        # signed heads and (in check 5's thread) the ballots' signatures: two
        # threads hand the workers their chunks and gather what they return. On
        # a machine whose cores the workers fill, this process's work would
        # otherwise add its time to theirs.
        proofs = waiting.submit(
            run, 3, lambda: check_ballots(board, parameters, ballots, counted, pool, say), Recomputed()
        )
        eligible = waiting.submit(
            run,
            5,
            lambda: check_eligibility(
                board, files, registrations, ballots.cast, counted, parameters.fingerprint, inputs, pool, say
            ),
            Eligibility(),
        )
        announcements = run(2, lambda: check_ceremony(board, files, parameters, crls_after_events=crls_after_events), None)
        log = run(7, lambda: check_tree_heads(board, files, parameters.server_key, parameters.manifest_doc, say), None)
        recomputed, eligibility = proofs.result(), eligible.result()
        only(4, lambda: check_tracking_codes(ballots, recomputed, checks.results[3].status))

    aggregate = run(8, lambda: check_aggregate(board, files, parameters.manifest, counted, recomputed), None)
    partials = run(
        9, lambda: check_partial_decryptions(board, files, aggregate, announcements, parameters.fingerprint), Partials()
    )
    only(10, lambda: check_result(board, files, parameters, aggregate, partials, checks.results[9].status))
    only(11, lambda: check_audits(board, parameters, registrations))
    only(12, lambda: check_witnesses(board, files, parameters.manifest, parameters.server_key, log))
    # Board entries whose bodies their kinds' Structs refuse: failures of the
    # checks that guard those kinds, after what those checks said of them.
    for number, findings in body_findings(board).items():
        checks.results[number].add(findings)

    auditors_part = F.has_auditors_part(files)
    return Report(
        election_id=board.election_id,
        stage=board.stage(),
        board_size=len(board.lines),
        ballots=len(ballots.cast),
        counted=len(counted),
        auditors_part=auditors_part,
        checks=[checks.results[n] for n in sorted(checks.results)],
        seconds=time.perf_counter() - start,
        workers=pool.count,
        warnings=list(eligibility.warnings),
        attested_registrations=eligibility.attested,
        anchors_pinned=pinned_roots is not None and auditors_part,
    )
