"""Benchmark: verify the record of a 10,000-ballot election.

``python -m voting.record.bench`` synthesises a whole election with ``crypto/``
alone (no server, no database): a real key ceremony among the trustees
(their announcements and endorsements signed with their certificates), real
voter certificates from a pilot CA, each voter's per-election voting
credential derived from their certificate key and registered with a
signature of that key, real encrypted ballots with their proofs and the
credentials' Ed25519 signatures, re-votes, a few published audits (opened
ballots, never cast), a real Merkle board with a signed tree head after every
entry, the aggregate, the trustees' partial decryptions and the result, and
the auditors' part (the roll with every registration). The board's entries are the service's, kind for kind,
so the verifier sees the format an export produces. It then times
``voting verify`` on the record, in a separate process as an auditor would
run it, and prints the total and the time of each check.

``synthesize`` is also what the record tests use for the records a real
server would refuse to produce (a ballot voting five times on a 1-of-5
question, with a proof that looks valid).
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crypto import ca, threshold
from crypto import log as merkle
from crypto.ballots import (
    DEFAULT_MIN_TALLY_BALLOTS,
    EncryptedBallot,
    Manifest,
    ceremony_fingerprint,
    election_fingerprint,
    encrypt_ballot,
    tracking_code,
)
from crypto.credentials import (
    Credential,
    VotingCredential,
    sign_announcement,
    sign_ballot_with,
    sign_endorsement,
    sign_registration,
)
from crypto.elgamal import Ciphertext
from crypto.encoding import canonical_json
from crypto.entry_kinds import (
    ADMIN_ACTION,
    AGGREGATE,
    BALLOT,
    BALLOT_AUDITED,
    BALLOT_SUPERSEDED,
    CREDENTIAL_REGISTERED,
    ELECTION_CLOSED,
    ELECTION_CREATED,
    ELECTION_OPENED,
    ELECTION_PUBLISHED,
    JOINT_KEY,
    PARTIAL_DECRYPTION,
    RESULT,
    TRUSTEE_ANNOUNCEMENT,
)
from crypto.group import Point, sum_columns
from voting.record import files as F
from voting.record.build import AuditorsPart, build_record

DER = serialization.Encoding.DER


def survey_manifest(election_id: str = "bench-2026", revote: str = "last") -> dict:
    """A 1-of-5 question and a 0-to-2-of-4 question: nine encrypted options per ballot."""

    def options(prefix: str, count: int) -> list[dict]:
        return [{"id": f"{prefix}{i}", "label": {"ja": f"選択肢{i}", "en": f"option {i}"}} for i in range(count)]

    return {
        "election_id": election_id,
        "title": {"ja": "職員アンケート（性能測定）", "en": "Staff survey (benchmark)"},
        "revote_policy": revote,
        "questions": [
            {"id": "q1", "text": {"ja": "一つ選択", "en": "Choose one"}, "min_selections": 1, "max_selections": 1, "options": options("a", 5)},
            {"id": "q2", "text": {"ja": "二つまで", "en": "Up to two"}, "min_selections": 0, "max_selections": 2, "options": options("b", 4)},
        ],
    }


def random_choices(manifest: Manifest, rng: random.Random) -> list[list[int]]:
    rows = []
    for q in manifest.questions:
        k = rng.randint(q.min_selections, q.max_selections)
        chosen = set(rng.sample(range(len(q.option_ids)), k))
        rows.append([1 if o in chosen else 0 for o in range(len(q.option_ids))])
    return rows


class _Board:
    """The service's board, in memory: entries as it writes them, a signed head per append."""

    def __init__(self, election_id: str, key: Ed25519PrivateKey) -> None:
        self.election_id = election_id
        self.key = key
        self.log = merkle.MemoryLog()
        self.lines: list[bytes] = []
        self.heads: list[dict] = []

    def append(self, kind: str, body: dict) -> dict:
        now = datetime.now(UTC)
        entry = {
            "election_id": self.election_id,
            "index": len(self.lines),
            "kind": kind,
            "time": now.isoformat(timespec="milliseconds"),
            "body": body,
        }
        line = canonical_json(entry)
        self.lines.append(line)
        self.log.append(line)
        head = merkle.TreeHead(self.election_id, self.log.size, self.log.root(), int(now.timestamp() * 1000))
        self.heads.append(merkle.sign_tree_head(self.key, head).to_json())
        return entry


# -- encrypting in worker processes ---------------------------------------------------------------

_CONTEXT: tuple[Manifest, Point, bytes] | None = None


def _init_encryptor(manifest_doc: dict, joint_key_hex: str, fingerprint_hex: str) -> None:
    global _CONTEXT
    _CONTEXT = (Manifest.from_json(manifest_doc), Point.from_hex(joint_key_hex), bytes.fromhex(fingerprint_hex))


def _encrypt(items: list[tuple[str, list[list[int]]]]) -> list[tuple[dict, str]]:
    manifest, joint_key, fingerprint = _CONTEXT  # type: ignore[misc]
    out = []
    for credential, choices in items:
        ballot, _ = encrypt_ballot(manifest, joint_key, fingerprint, credential, choices)
        out.append((ballot.to_json(), tracking_code(fingerprint, ballot).hex()))
    return out


Forge = Callable[[Manifest, Point, bytes, str], EncryptedBallot]
"""Makes a voter's ballot instead of an honest encryption (tests of hostile records)."""


@dataclass
class Synthetic:
    election_id: str
    files: dict[str, bytes]
    server_key: Ed25519PrivateKey
    trustee_keys: list[threshold.TrusteeKey]
    credentials: list[Credential]
    """the roll's employee credentials (certificates and keys), voter i at
    position i; the abstainers after the voters"""
    voting_credentials: list[VotingCredential]
    """voter i's voting credential for this election (``.hex`` is the ballots' voter_id)"""
    issuing: ca.Authority
    root: ca.Authority
    trustee_credentials: list[Credential] = field(default_factory=list)
    """trustee i's credential at position i-1 (its employee id is trustee_ids[i-1])"""
    timings: dict[str, float] = field(default_factory=dict)


def synthesize(
    voters: int,
    *,
    manifest_doc: dict | None = None,
    trustees: int = 3,
    threshold_t: int = 2,
    revoters: int = 0,
    abstainers: int = 0,
    audits: int = 2,
    workers: int | None = None,
    seed: int = 2026,
    forge: dict[int, Forge] | None = None,
    say: Callable[[str], None] = lambda message: None,
    people: Synthetic | None = None,
    voter_id_digits: int = 5,
    key_types: Sequence[str] = ("P-256",),
) -> Synthetic:
    """A complete, published election of ``voters`` voters (the first
    ``revoters`` of them vote twice; the last ballot counts), as a record
    with the auditors' part. Every voter registers a voting credential before
    casting; ``abstainers`` more employees are on the roll and never register;
    the last ``audits`` voters each first publish an audited ballot (opened,
    never cast). ``forge`` replaces given voters' ballots. ``people``: an
    earlier election's server key, CAs, voters and trustees, for a second
    election of the same people (its first ``voters + abstainers`` voters).
    ``key_types``: the voters' certificate key types, in turn."""
    forge = forge or {}
    rng = random.Random(seed)
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    # As the service stores it: the minimum to tally is always written out.
    manifest_doc = {"min_tally_ballots": DEFAULT_MIN_TALLY_BALLOTS, **(manifest_doc or survey_manifest())}
    manifest = Manifest.from_json(manifest_doc)
    election_id = manifest.election_id
    server_key = people.server_key if people else Ed25519PrivateKey.generate()
    board = _Board(election_id, server_key)
    issued_at = datetime.now(UTC) - timedelta(days=1)
    root = people.root if people else ca.create_root_ca("Bench City Root CA", now=issued_at)
    issuing = people.issuing if people else ca.create_issuing_ca(root, "Bench City Issuing CA", now=issued_at)

    n, t = trustees, threshold_t
    params = threshold.CeremonyParameters(n, t, ceremony_fingerprint(manifest, n, t))
    server_public = server_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    trustee_credentials = people.trustee_credentials[:n] if people else [
        ca.enroll_employee(issuing, employee_id=f"T{i:04d}", name=f"立会人 {i}", now=issued_at) for i in range(1, n + 1)
    ]
    board.append(
        ELECTION_CREATED,
        {
            "manifest": manifest.document,
            "trustees": n,
            "trustee_ids": [c.employee_id for c in trustee_credentials],
            "threshold": t,
            "ceremony_fingerprint": params.ceremony_fingerprint.hex(),
            "server_key": server_public.hex(),
        },
    )
    board.append(ADMIN_ACTION, {"action": "create", "by": "A0001"})

    say(f"enrolling {voters} voters")
    everyone = people.credentials[: voters + abstainers] if people else [
        ca.enroll_employee(
            issuing, employee_id=f"E{i:0{voter_id_digits}d}", name=f"職員 {i:05d}", now=issued_at, key_type=key_types[i % len(key_types)]
        )
        for i in range(voters + abstainers)
    ]
    credentials = everyone[:voters]
    voting = [c.voting_credential(election_id) for c in credentials]
    ids = [v.hex for v in voting]
    board.append(ADMIN_ACTION, {"action": "roll-import", "by": "A0001", "added": len(everyone)})
    board.append(ADMIN_ACTION, {"action": "key_ceremony", "by": "A0001"})
    timings["voters"] = time.perf_counter() - clock

    clock = time.perf_counter()
    started = [threshold.start_ceremony(params, i) for i in range(1, n + 1)]
    announcements = [a for _, a in started]
    for a in announcements:  # each signed by its trustee, as the trustee client sends it
        signed = sign_announcement(trustee_credentials[a.index - 1], election_id=election_id, announcement=a.to_json())
        board.append(TRUSTEE_ANNOUNCEMENT, {**a.to_json(), "signature": signed})
    shares = {s.index: threshold.make_shares(params, s, announcements) for s, _ in started}
    trustee_keys = [
        threshold.finish_ceremony(params, s, announcements, [x for sent in shares.values() for x in sent if x.recipient == s.index])
        for s, _ in started
    ]
    joint_key = threshold.joint_public_key(announcements)
    fingerprint = election_fingerprint(manifest, joint_key)
    endorsements = [
        {"index": i, **sign_endorsement(c, election_id=election_id, joint_key=joint_key.to_bytes(), fingerprint=fingerprint)}
        for i, c in enumerate(trustee_credentials, start=1)
    ]
    board.append(
        JOINT_KEY,
        {
            "joint_key": joint_key.hex(),
            "fingerprint": fingerprint.hex(),
            "public_shares": {str(a.index): threshold.public_share(announcements, a.index).hex() for a in announcements},
            "endorsements": endorsements,
        },
    )
    board.append(ELECTION_OPENED, {"by": "A0001", "roll_size": len(everyone)})
    timings["ceremony"] = time.perf_counter() - clock

    # Every voter registers their voting credential, signed by their certificate key.
    clock = time.perf_counter()
    registrations: dict[int, dict] = {}
    for i, credential in enumerate(credentials):
        signature = sign_registration(credential.private_key, election_id=election_id, credential_pub=voting[i].public_bytes)
        entry = board.append(CREDENTIAL_REGISTERED, {"credential": ids[i]})
        registrations[i] = {
            "chain": [base64.b64encode(c.public_bytes(DER)).decode() for c in credential.chain if c.issuer != c.subject],
            "signature": signature.hex(),
            "registered_at": entry["time"],
        }
    # Some voters audit a ballot first: it is opened on the board and never cast.
    for i in range(max(0, voters - audits), voters):
        ballot, opening = encrypt_ballot(manifest, joint_key, fingerprint, ids[i], random_choices(manifest, rng))
        board.append(
            BALLOT_AUDITED,
            {"tracking_code": tracking_code(fingerprint, ballot).hex(), "credential": ids[i], "ballot": ballot.to_json(), "opening": opening.to_json()},
        )
    timings["registrations"] = time.perf_counter() - clock

    # Who casts what, in order: everyone once, then the re-voters again.
    casts = [(i, random_choices(manifest, rng)) for i in range(voters)]
    casts += [(i, random_choices(manifest, rng)) for i in range(min(revoters, voters))]
    say(f"encrypting {len(casts)} ballots")
    clock = time.perf_counter()
    honest = [(k, (ids[i], choices)) for k, (i, choices) in enumerate(casts) if i not in forge]
    encrypted: dict[int, tuple[dict, str]] = {}
    workers = workers or os.cpu_count() or 1
    context = (manifest_doc, joint_key.hex(), fingerprint.hex())
    chunks = [honest[j : j + 100] for j in range(0, len(honest), 100)]
    if workers > 1 and len(honest) >= 200:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_encryptor, initargs=context) as pool:
            for chunk, out in zip(chunks, pool.map(_encrypt, [[item for _, item in c] for c in chunks])):
                encrypted.update((k, result) for (k, _), result in zip(chunk, out))
    else:
        _init_encryptor(*context)
        for chunk in chunks:
            encrypted.update((k, result) for (k, _), result in zip(chunk, _encrypt([item for _, item in chunk])))
    for k, (i, _) in enumerate(casts):
        if i in forge:
            ballot = forge[i](manifest, joint_key, fingerprint, ids[i])
            encrypted[k] = (ballot.to_json(), tracking_code(fingerprint, ballot).hex())
    timings["encryption"] = time.perf_counter() - clock

    clock = time.perf_counter()
    last_cast: dict[int, int] = {}
    counted_code: dict[int, str] = {}
    for k, (i, _) in enumerate(casts):
        ballot_doc, code = encrypted[k]
        signature = sign_ballot_with(voting[i], election_fingerprint=fingerprint, tracking_code=bytes.fromhex(code))
        board.append(BALLOT, {"tracking_code": code, "credential": ids[i], "ballot": ballot_doc, "signature": signature.hex()})
        if i in counted_code:
            board.append(BALLOT_SUPERSEDED, {"tracking_code": counted_code[i], "superseded_by": code, "credential": ids[i]})
        counted_code[i] = code
        last_cast[i] = k
    board.append(ELECTION_CLOSED, {"by": "A0001"})
    counted = sorted(last_cast.values())
    width = sum(len(q.option_ids) for q in manifest.questions)
    rows = (
        [p for c in _ciphertexts(encrypted[k][0]) for p in (c.alpha, c.beta)]
        for k in counted
    )
    sums = sum_columns(rows, 2 * width)
    aggregate = [Ciphertext(sums[j], sums[j + 1]) for j in range(0, 2 * width, 2)]
    board.append(AGGREGATE, {"ballots_counted": len(counted), "ciphertexts": [c.to_json() for c in aggregate]})
    partials = [threshold.partial_decrypt(key, aggregate, fingerprint=fingerprint) for key in trustee_keys]
    for p in partials:
        board.append(PARTIAL_DECRYPTION, p.to_json())
    counts = threshold.combine(aggregate, partials[:t], threshold=t, bound=len(counted))
    questions, position = [], 0
    for q in manifest.questions:
        questions.append({"id": q.question_id, "options": [{"id": o, "count": counts[position + j]} for j, o in enumerate(q.option_ids)]})
        position += len(q.option_ids)
    board.append(ADMIN_ACTION, {"action": "tally", "by": "A0001"})
    board.append(RESULT, {"ballots_counted": len(counted), "questions": questions, "trustees": [p.index for p in partials[:t]]})
    board.append(ELECTION_PUBLISHED, {"by": "A0001"})
    # The CA's CRLs, issued after voting closed (what the audit of check 5 needs).
    crl_time = datetime.now(UTC) + timedelta(seconds=1)
    crls = [ca.build_crl(authority, [], now=crl_time, next_update=crl_time + timedelta(days=7), crl_number=2) for authority in (root, issuing)]
    roll = [
        {
            "employee_id": c.employee_id,
            "name": c.name,
            "credential": ids[i] if i < voters else None,
            "registration": registrations.get(i),
        }
        for i, c in enumerate(everyone)
    ]
    files = build_record(
        election_id,
        board.lines,
        board.heads,
        exported_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
        auditors=AuditorsPart(roll, [root.certificate.public_bytes(DER)], [crl.public_bytes(DER) for crl in crls]),
    )
    timings["board"] = time.perf_counter() - clock
    return Synthetic(election_id, files, server_key, trustee_keys, everyone, voting, issuing, root, trustee_credentials, timings)


def _ciphertexts(ballot_doc: dict) -> list[Ciphertext]:
    return [Ciphertext.from_json({"alpha": s["alpha"], "beta": s["beta"]}) for q in ballot_doc["questions"] for s in q["selections"]]


# -- the benchmark ------------------------------------------------------------------------------


def one_core_ms_per_ballot(record: Path, sample: int = 100, rounds: int = 3) -> float:
    """CPU milliseconds to verify one of the record's ballots on one core: the
    verifier's own work for a ballot (check 3's proofs and tracking code, the
    sum of check 8), in this process, on ``sample`` ballots; the lowest of
    ``rounds``, since other processes can only make it slower."""
    from voting.verify.ballots import collect_ballots, verify_ballot_chunk
    from voting.verify.board import parse_board
    from voting.verify.parameters import check_parameters
    from voting.verify.workers import BallotInputs, init_worker

    files = F.read_record(record)
    board, _ = parse_board(files)
    parameters, _ = check_parameters(board, files, None)
    assert parameters.manifest_doc is not None and parameters.joint_key is not None and parameters.fingerprint is not None
    init_worker(BallotInputs(parameters.manifest_doc, parameters.joint_key.hex(), parameters.fingerprint.hex()), None)
    cast, _ = collect_ballots(board)
    items = [(b.index, b.line, True) for b in cast[:sample]]
    if not items:
        raise SystemExit("the record has no ballots to time")
    return 1000 * min(verify_ballot_chunk(items)[-1] for _ in range(rounds)) / len(items)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m voting.record.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--ballots", type=int, default=10_000, help="voters, each casting one ballot (default 10000)")
    parser.add_argument("--revoters", type=int, default=100, help="voters who vote a second time (default 100)")
    parser.add_argument("--simple", action="store_true", help="one 1-of-5 question instead of the two-question survey")
    parser.add_argument("--workers", type=int, help="processes for `voting verify` (default: all cores)")
    parser.add_argument("--keep", type=Path, help="write the record here (and reuse it if it is already there)")
    args = parser.parse_args(argv)

    cores = os.cpu_count() or 1
    target = args.keep or Path(tempfile.mkdtemp(prefix="record-bench-"))
    if args.keep and (target / F.RECORD).exists():
        print(f"reusing the record in {target}")
    else:
        manifest = survey_manifest()
        if args.simple:
            manifest["questions"] = manifest["questions"][:1]
        clock = time.perf_counter()
        synthetic = synthesize(args.ballots, manifest_doc=manifest, revoters=args.revoters, say=lambda m: print(m, flush=True))
        print(f"synthesised {args.ballots} voters' election in {time.perf_counter() - clock:.1f} s "
              f"({', '.join(f'{k} {v:.1f} s' for k, v in synthetic.timings.items())})")
        F.write_record(synthetic.files, target)
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    print(f"record: {target} ({size / 1e6:.1f} MB)")
    per_ballot_ms = one_core_ms_per_ballot(target)
    print(f"verifying one ballot on one core: {per_ballot_ms:.2f} ms (the lowest of three rounds of 100)")

    timed = _timed_verify(target, args.workers)
    if timed is None:
        return 2
    report, wall = timed
    print(f"\nvoting verify: {report['ballots']} ballots ({report['counted']} counted), {report['board_size']} board entries, "
          f"{report['workers']} processes on {cores} cores")
    print(f"{'#':>3}  {'check':<60} {'result':<7} {'items':>7} {'wall s':>8} {'worker cpu s':>13}")
    for c in report["checks"]:
        print(f"{c['number']:>3}  {c['title']:<60} {c['status']:<7} {c['items']:>7} {c['seconds']:>8.2f} {c['worker_seconds']:>13.2f}")
    one_core_s = report["ballots"] * per_ballot_ms / 1000
    bound = one_core_s / report["workers"]
    print(f"\nverified in {report['seconds']:.1f} s inside the verifier; `voting verify` took {wall:.1f} s wall-clock "
          f"— {'all checks passed' if report['ok'] else 'NOT all checks passed'}")
    print(f"bound: {report['ballots']} ballots x {per_ballot_ms:.2f} ms / {report['workers']} processes = {bound:.1f} s; "
          f"`voting verify` took {wall / bound:.2f}x the bound (target: at most 1.2x)")
    if report["workers"] > 1:
        baseline = _timed_verify(target, 1)
        if baseline is not None:
            one = baseline[1]
            print(f"baseline: `voting verify --workers 1` took {one:.1f} s = {one / one_core_s:.2f}x "
                  f"the one-core bound; {report['workers']} processes ran {one / wall:.2f} times as fast")
    if not args.keep:
        import shutil

        shutil.rmtree(target, ignore_errors=True)
    return 0 if report["ok"] else 1


def _timed_verify(record: Path, workers: int | None) -> tuple[dict, float] | None:
    """``voting verify --json`` on ``record`` in a process of its own, as an
    auditor runs it: (its report, the wall-clock seconds), or None if it crashed."""
    command = [sys.executable, "-c", "from voting.cli import main; main()", "verify", str(record), "--json"]
    if workers:
        command += ["--workers", str(workers)]
    clock = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - clock
    if completed.returncode not in (0, 1) or not completed.stdout.strip():
        print(completed.stderr, file=sys.stderr)
        return None
    return json.loads(completed.stdout), wall


if __name__ == "__main__":
    raise SystemExit(main())
