"""Checks 8, 9 and 10: the aggregate is the sum of the counted ballots (8),
every trustee's partial decryption proves itself against the aggregate (9),
and the result is the combined decryption, within the manifest's bounds (10);
with the views ``aggregate.json``, ``partial_decryptions.json``, ``result.json``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from crypto import threshold
from crypto.ballots import Manifest
from crypto.elgamal import Ciphertext
from crypto.entry_kinds import AGGREGATE, ELECTION_CLOSED, ELECTION_PUBLISHED, PARTIAL_DECRYPTION, RESULT
from crypto.errors import CryptoError, DecryptionError
from crypto.group import Point
from voting.record import files as F
from voting.verify.ballots import CastBallot, Recomputed
from voting.verify.board import Board
from voting.verify.parameters import Parameters
from voting.verify.parse import Bad, compare_view, exact_object, integer, same_json
from voting.verify.report import BLOCKED, Findings


@dataclass(frozen=True)
class Aggregate:
    """The aggregate on the board, as check 8 read it."""

    ciphertexts: tuple[Ciphertext, ...]
    ballots_counted: int


@dataclass(frozen=True)
class Partials:
    """The partial decryptions check 9 accepted: trustee index -> (entry index, decryption)."""

    valid: Mapping[int, tuple[int, threshold.PartialDecryption]] = field(default_factory=dict)


def check_aggregate(
    board: Board,
    files: Mapping[str, bytes],
    manifest: Manifest | None,
    counted: Sequence[CastBallot],
    recomputed: Recomputed,
) -> tuple[Aggregate | None, Findings]:
    """Check 8: one aggregate, after closing, counting the counted ballots,
    each ciphertext the sum of theirs (``recomputed.sums``, from check 3)."""
    c = Findings()
    entries = board.of_kind(AGGREGATE)
    compare_view(
        files, F.AGGREGATE, {"leaf_index": entries[0]["index"], **entries[0]["body"]} if entries else None, c,
        "the aggregate on the board",
    )
    if not entries and not board.of_kind(ELECTION_CLOSED):
        c.skip("voting has not closed")
        return None, c
    if len(entries) != 1:
        c.fail(f"{len(entries)} aggregate entries; a closed election has exactly one")
        return None, c
    entry = entries[0]
    closed = board.of_kind(ELECTION_CLOSED)
    if not closed or entry["index"] < closed[0]["index"]:
        c.fail(f"the aggregate (entry {entry['index']}) comes before the election closed")
    if manifest is None:
        c.block("needs the manifest (check 1)")
        return None, c
    width = sum(len(q.option_ids) for q in manifest.questions)
    try:
        body = exact_object(entry["body"], {"ballots_counted", "ciphertexts"}, AGGREGATE)
        count = integer(body["ballots_counted"], "ballots_counted")
        if not isinstance(body["ciphertexts"], list) or len(body["ciphertexts"]) != width:
            raise Bad(f"the aggregate must have {width} ciphertexts, one per option")
        ciphertexts = [Ciphertext.from_json(ct, allow_identity=True) for ct in body["ciphertexts"]]
    except (Bad, CryptoError) as exc:
        c.fail(f"aggregate (entry {entry['index']}): {exc}")
        return None, c
    aggregate = Aggregate(tuple(ciphertexts), count)
    c.items(width)
    if count != len(counted):
        c.fail(f"the aggregate claims {count} ballots counted; the board has {len(counted)} counted ballots")
    if recomputed.unreadable_counted:
        c.fail(f"cannot recompute the aggregate: counted ballots at entries {list(recomputed.unreadable_counted[:10])} are unreadable")
    elif recomputed.sums is None and counted:
        c.block("needs the ballots (check 3)")
    else:
        points = recomputed.sums or [Point.from_hex("00" * 32, allow_identity=True)] * (2 * width)
        for position, ct in enumerate(ciphertexts):
            if ct.alpha != points[2 * position] or ct.beta != points[2 * position + 1]:
                c.fail(f"aggregate ciphertext {position} ({_option_name(manifest, position)}) is not the sum of the counted ballots")
    return aggregate, c


def _option_name(manifest: Manifest, position: int) -> str:
    for q in manifest.questions:
        if position < len(q.option_ids):
            return f"{q.question_id}/{q.option_ids[position]}"
        position -= len(q.option_ids)
    return "?"


def check_partial_decryptions(
    board: Board,
    files: Mapping[str, bytes],
    aggregate: Aggregate | None,
    announcements: Sequence[threshold.Announcement] | None,
    fingerprint: bytes | None,
) -> tuple[Partials, Findings]:
    """Check 9: every partial decryption after the aggregate, one per
    trustee, its proofs valid against the trustee's announcement (check 2)."""
    c = Findings()
    entries = board.of_kind(PARTIAL_DECRYPTION)
    valid: dict[int, tuple[int, threshold.PartialDecryption]] = {}
    if not entries and aggregate is None:
        c.skip("there is no aggregate to decrypt yet")
    elif aggregate is None and not board.of_kind(AGGREGATE):
        c.fail("partial decryptions on the board, but no aggregate")
    elif aggregate is None:
        c.block("needs the aggregate (check 8)")
    elif announcements is None or fingerprint is None:
        c.block("needs the trustees' announcements (check 2) and the fingerprint (check 1)")
    else:
        aggregate_at = board.of_kind(AGGREGATE)[0]["index"]
        seen: set[int] = set()
        for entry in entries:
            try:
                partial = threshold.PartialDecryption.from_json(entry["body"])
                if entry["index"] < aggregate_at:
                    raise Bad("it comes before the aggregate")
                if partial.index in valid or partial.index in seen:
                    raise Bad(f"trustee {partial.index} decrypted twice")
                seen.add(partial.index)
                threshold.verify_partial_decryption(
                    list(announcements), list(aggregate.ciphertexts), partial, fingerprint=fingerprint
                )
            except (Bad, CryptoError) as exc:
                c.fail(f"partial decryption (entry {entry['index']}): {exc}")
                continue
            valid[partial.index] = (entry["index"], partial)
        c.items(len(entries))
    expected = [{"leaf_index": e["index"], **e["body"]} for e in entries]
    compare_view(files, F.PARTIAL_DECRYPTIONS, expected, c, "the partial decryptions on the board")
    return Partials(valid), c


def check_result(
    board: Board,
    files: Mapping[str, bytes],
    parameters: Parameters,
    aggregate: Aggregate | None,
    partials: Partials,
    check_9_status: str,
) -> Findings:
    """Check 10: one result, before publication, combining the valid partial
    decryptions of at least t trustees, equal to the decryption of the
    aggregate, every count within the manifest's bounds and the tally not
    below its minimum."""
    c = Findings()
    entries = board.of_kind(RESULT)
    published = board.of_kind(ELECTION_PUBLISHED)
    compare_view(
        files, F.RESULT, {"leaf_index": entries[0]["index"], **entries[0]["body"]} if entries else None, c,
        "the result on the board",
    )
    if not entries:
        if published:
            c.fail("the election was published without a result")
        else:
            c.skip("the election has not been tallied")
        return c
    if len(entries) > 1:
        c.fail(f"{len(entries)} result entries; there must be one")
    entry = entries[0]
    for p in published:
        if p["index"] < entry["index"]:
            c.fail(f"the election was published (entry {p['index']}) before its result")
    manifest, params = parameters.manifest, parameters.params
    if aggregate is None or manifest is None or params is None:
        c.block("needs the aggregate (check 8)")
        return c
    if check_9_status == BLOCKED:
        c.block("needs the partial decryptions (check 9)")
        return c
    valid = partials.valid
    try:
        body = exact_object(entry["body"], {"ballots_counted", "questions", "trustees"}, RESULT)
        n = integer(body["ballots_counted"], "ballots_counted")
        if n != aggregate.ballots_counted:
            raise Bad(f"it counts {n} ballots; the aggregate {aggregate.ballots_counted}")
        if n < manifest.min_tally_ballots:
            raise Bad(
                f"it decrypts a tally of {n} ballots; the manifest allows no tally of fewer than "
                f"{manifest.min_tally_ballots} (min_tally_ballots): so few ballots reveal how people voted"
            )
        trustees: Any = body["trustees"]
        if (
            not isinstance(trustees, list)
            or not all(isinstance(i, int) and not isinstance(i, bool) for i in trustees)
            or len(set(trustees)) != len(trustees)
            or len(trustees) < params.t
        ):
            raise Bad(f"it must name at least {params.t} distinct trustees whose partial decryptions it combined")
        missing = [i for i in trustees if i not in valid]
        if missing:
            raise Bad(f"trustees {missing} have no valid partial decryption (check 9)")
        late = [valid[i][0] for i in trustees if valid[i][0] > entry["index"]]
        if late:
            raise Bad(f"it combines partial decryptions published after it (entries {late})")
        used = [valid[i][1] for i in trustees]
        try:
            counts = threshold.combine(list(aggregate.ciphertexts), used, threshold=params.t, bound=n)
        except DecryptionError:
            raise Bad(f"a combined count is not in [0, {n}]: the aggregate does not decrypt to a valid tally") from None
        if not same_json(body["questions"], manifest.counted_questions(counts)):
            raise Bad("its counts are not the combined decryption of the aggregate")
        position = 0
        for q in manifest.questions:
            total = sum(counts[position : position + len(q.option_ids)])
            position += len(q.option_ids)
            if not q.min_selections * n <= total <= q.max_selections * n:
                raise Bad(
                    f"question {q.question_id}: {total} selections from {n} ballots is outside "
                    f"[{q.min_selections * n}, {q.max_selections * n}] ({q.min_selections} to {q.max_selections} each)"
                )
    except (Bad, CryptoError) as exc:
        c.fail(f"result (entry {entry['index']}): {exc}")
        return c
    c.items(sum(len(q.option_ids) for q in manifest.questions))
    return c
