"""Benchmarks of the cryptographic core: ``python -m crypto.bench [--quick]``.

Prints medians (milliseconds) of per-ballot encryption and verification for a
1-of-5 question and for 3 questions of 8 options (choose up to 3), the
aggregation of 10,000 ballots, and a 2-of-3 trustee decryption of a tally;
progress goes to stderr. The last line of stdout is one JSON object with the
figures, for scripts and the test that runs ``--quick``.

Verification includes decoding the ballot from its JSON dict, as the server
does on the cast path. Nothing runs on import.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from crypto import threshold as th
from crypto.ballots import (
    EncryptedBallot,
    Manifest,
    aggregate,
    election_fingerprint,
    encrypt_ballot,
    verify_ballot,
)
from crypto.elgamal import Ciphertext, KeyPair, decrypt
from crypto.group import Point

TALLY_BALLOTS = 10_000
TRUSTEES, THRESHOLD = 3, 2


def manifest_1of5() -> Manifest:
    return Manifest.from_json({
        "election_id": "bench-1of5",
        "questions": [{
            "id": "q1",
            "options": [{"id": f"o{i}"} for i in range(1, 6)],
            "min_selections": 1,
            "max_selections": 1,
        }],
    })


def manifest_3x8() -> Manifest:
    return Manifest.from_json({
        "election_id": "bench-3x8",
        "questions": [
            {
                "id": f"q{q}",
                "options": [{"id": f"q{q}o{o}"} for o in range(1, 9)],
                "min_selections": 0,
                "max_selections": 3,
            }
            for q in range(1, 4)
        ],
    })


def _choices_1of5(i: int) -> list[list[int]]:
    return [[1 if j == i % 5 else 0 for j in range(5)]]


def _choices_3x8(i: int) -> list[list[int]]:
    return [[1 if (j + i + q) % 8 < (i + q) % 4 else 0 for j in range(8)] for q in range(3)]


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _median_ms(run: Callable[[int], object], repeats: int) -> float:
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        run(i)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def bench_ballots(
    name: str, manifest: Manifest, choices: Callable[[int], list[list[int]]], key: Point, repeats: int
) -> tuple[float, float, int]:
    """(encrypt ms, verify ms incl. JSON decoding, JSON bytes of one ballot)."""
    fingerprint = election_fingerprint(manifest, key)
    _progress(f"{name}: encrypting {repeats} ballots")
    docs: list[dict[str, Any]] = []

    def encrypt_one(i: int) -> None:
        ballot, _ = encrypt_ballot(manifest, key, fingerprint, f"voter-{i}", choices(i))
        docs.append(ballot.to_json())

    encrypt_ms = _median_ms(encrypt_one, repeats)
    _progress(f"{name}: verifying {repeats} ballots")

    def verify_one(i: int) -> None:
        ballot = EncryptedBallot.from_json(docs[i], manifest)
        verify_ballot(manifest, key, fingerprint, f"voter-{i}", ballot)

    verify_ms = _median_ms(verify_one, repeats)
    size = len(json.dumps(docs[0], separators=(",", ":")).encode("utf-8"))
    return encrypt_ms, verify_ms, size


def bench_aggregate(
    manifest: Manifest, key: Point, count: int, distinct: int, repeats: int
) -> tuple[float, list[Ciphertext], list[EncryptedBallot]]:
    """Median time to aggregate ``count`` ballots (``distinct`` real ballots,
    repeated: the cost is one group addition per point, whatever the values)."""
    fingerprint = election_fingerprint(manifest, key)
    _progress(f"aggregate: preparing {distinct} distinct 1-of-5 ballots")
    pool = [
        encrypt_ballot(manifest, key, fingerprint, f"voter-{i}", _choices_1of5(i))[0] for i in range(distinct)
    ]
    ballots = [pool[i % distinct] for i in range(count)]
    _progress(f"aggregate: summing {count} ballots x {repeats}")
    result: list[list[Ciphertext]] = []
    ms = _median_ms(lambda _: result.append(aggregate(manifest, ballots)), repeats)
    return ms, result[-1], ballots


def _threshold_setup(fingerprint: bytes) -> tuple[list[th.Announcement], list[th.TrusteeKey]]:
    """A 2-of-3 key ceremony run in memory (not timed)."""
    params = th.CeremonyParameters(TRUSTEES, THRESHOLD, fingerprint)
    started = [th.start_ceremony(params, i) for i in range(1, TRUSTEES + 1)]
    announcements = [a for _, a in started]
    shares = [s for secrets, _ in started for s in th.make_shares(params, secrets, announcements)]
    keys = [
        th.finish_ceremony(params, secrets, announcements, [s for s in shares if s.recipient == secrets.index])
        for secrets, _ in started
    ]
    return announcements, keys


def bench_decryption(manifest: Manifest, count: int, repeats: int) -> tuple[float, str, list[int]]:
    """Decrypting the 1-of-5 tally of ``count`` ballots: with crypto.threshold,
    trustees 1 and 3 each publish partial decryptions with proofs, the server
    verifies both and combines (Lagrange + discrete log); without it, plain
    ElGamal decryption with a single key."""
    try:
        return _bench_threshold_decryption(manifest, count, repeats)
    except (ImportError, AttributeError, TypeError) as exc:
        _progress(f"decrypt: crypto.threshold unusable ({exc!r}); single-key ElGamal instead")
    return _bench_single_key_decryption(manifest, count, repeats)


def _bench_threshold_decryption(manifest: Manifest, count: int, repeats: int) -> tuple[float, str, list[int]]:
    ceremony_fp = b"bench ceremony fingerprint".ljust(32, b".")
    _progress(f"decrypt: {THRESHOLD}-of-{TRUSTEES} key ceremony (not timed)")
    announcements, keys = _threshold_setup(ceremony_fp)
    key = keys[0].joint_public_key
    fingerprint = election_fingerprint(manifest, key)
    _, tally, _ = bench_aggregate(manifest, key, count, min(count, 50), 1)
    chosen = [keys[0], keys[2]]
    _progress(f"decrypt: partial decryptions, verification, combination x {repeats}")
    counts: list[list[int]] = []

    def run(_: int) -> None:
        partials = [th.partial_decrypt(k, tally, fingerprint=fingerprint) for k in chosen]
        for p in partials:
            th.verify_partial_decryption(announcements, tally, p, fingerprint=fingerprint)
        counts.append(th.combine(tally, partials, threshold=THRESHOLD, bound=count))

    ms = _median_ms(run, repeats)
    return ms, f"threshold {THRESHOLD}-of-{TRUSTEES} (partial decryptions with proofs, verified, combined)", counts[-1]


def _bench_single_key_decryption(manifest: Manifest, count: int, repeats: int) -> tuple[float, str, list[int]]:
    pair = KeyPair.generate()
    _, tally, _ = bench_aggregate(manifest, pair.public, count, min(count, 50), 1)
    counts: list[list[int]] = []
    ms = _median_ms(lambda _: counts.append([decrypt(pair.secret, c, count) for c in tally]), repeats)
    return ms, "single-key ElGamal decryption (crypto.threshold not available)", counts[-1]


def run(quick: bool = False) -> dict[str, object]:
    """All figures as a dict (the JSON of the last output line)."""
    r_small, r_large = (5, 3) if quick else (200, 60)
    agg_count, agg_repeats = (1_000, 1) if quick else (TALLY_BALLOTS, 5)
    dec_repeats = 1 if quick else 5
    key = KeyPair.generate().public
    m1, m3 = manifest_1of5(), manifest_3x8()

    enc1, ver1, size1 = bench_ballots("1-of-5", m1, _choices_1of5, key, r_small)
    enc3, ver3, size3 = bench_ballots("3x8 up to 3", m3, _choices_3x8, key, r_large)
    agg_ms, _, _ = bench_aggregate(m1, key, agg_count, min(agg_count, 100), agg_repeats)
    agg_10k = agg_ms * TALLY_BALLOTS / agg_count
    dec_ms, method, counts = bench_decryption(m1, agg_count, dec_repeats)
    expected = [sum(1 for i in range(agg_count) if i % 50 % 5 == j) for j in range(5)]
    if counts != expected:  # the tally decrypted to the wrong counts: the figure is meaningless
        raise AssertionError(f"tally decrypted to {counts}, expected {expected}")

    print(f"runs: {'quick' if quick else 'full'} (medians; {r_small} ballots 1-of-5, {r_large} ballots 3x8)")
    print(f"1-of-5 (choose exactly 1):      encrypt {enc1:8.2f} ms   verify {ver1:8.2f} ms   JSON {size1} bytes")
    print(f"3 questions x 8 (choose 0..3):  encrypt {enc3:8.2f} ms   verify {ver3:8.2f} ms   JSON {size3} bytes")
    scaled = "" if agg_count == TALLY_BALLOTS else f" (measured on {agg_count:,}, scaled)"
    print(f"aggregate 10,000 1-of-5 ballots: {agg_10k:8.1f} ms{scaled}")
    print(f"decrypt the 1-of-5 tally of {agg_count:,} ballots: {dec_ms:8.1f} ms, {method}")
    print(f"  counts {counts}")
    return {
        "encrypt_ms_1of5": round(enc1, 3),
        "verify_ms_1of5": round(ver1, 3),
        "encrypt_ms_3x8": round(enc3, 3),
        "verify_ms_3x8": round(ver3, 3),
        "aggregate_ms_10k": round(agg_10k, 3),
        "decrypt_ms_tally": round(dec_ms, 3),
        "decrypt_method": method,
        "ballot_json_bytes_1of5": size1,
        "ballot_json_bytes_3x8": size3,
        "quick": quick,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crypto.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repetitions (seconds, for tests)")
    args = parser.parse_args(argv)
    figures = run(quick=args.quick)
    print(json.dumps(figures, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
