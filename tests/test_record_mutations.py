"""Mutation testing of the verifier (issues 5, 11 and 12): one election's record
is made once for the module, and each test changes one byte or one field of
one kind of artifact in a copy held in memory; the verifier must fail, and the
check it names must be the one that guards that artifact.

The record is synthesised with ``crypto/`` alone (``record_support.
synthetic_run``: real certificates, registered voting credentials, ballots,
audits, ceremony and tally, in the export's format, which
``test_an_honest_synthetic_record_passes_and_matches_the_export_format``
compares with a live server's export), so these tests need no server.

Two kinds of change:

* byte mutations: one character of a hash, key, signature, proof, count or
  certificate in each file, picked at random (seeded, so reproducible);
* field mutations: a meaningful change to each kind of artifact. Changes to
  the board are made the way a dishonest server would: it holds the signing
  key, so it re-signs every tree head and rewrites the views; the check of the
  cryptography must catch what the signatures no longer can.

And the ballot that ElectionGuard 1.4 let through: a 1-of-5 question voted five
times, with a limit proof that verifies if the verifier takes the limit from
the ballot.

And the attacks of issue 11 on the voting credentials: ballot stuffing from
made-up credentials, a credential counted twice, forged signatures, forged
registrations, audited ballots tampered with or cast; the public ones must
fail from the public record alone (``test_the_public_record_alone_catches``).

About 300 verifications of a 50-entry record, in this process."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crypto import ca, threshold
from crypto.ballots import (
    LIMIT_KIND,
    SELECTION_KIND,
    EncryptedBallot,
    EncryptedQuestion,
    EncryptedSelection,
    Manifest,
    encrypt_ballot,
    tracking_code,
)
from crypto.credentials import (
    VotingCredential,
    sign_announcement,
    sign_ballot_with,
    sign_endorsement,
    sign_registration,
)
from crypto.elgamal import add_all, encrypt
from crypto.group import Point, Scalar
from crypto.proofs import prove_encrypted_value, verify_encrypted_value
from tests.record_support import TRUSTEES, board_entries, election_run, public_part, resign, synthetic_run
from tests.support import fresh_database_url
from voting.record import files as F
from voting.record.bench import survey_manifest, synthesize
from voting.verify import verify_record

DER = serialization.Encoding.DER


@pytest.fixture(scope="module")
def run():
    return synthetic_run()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A real election over HTTP (only to compare the export's format with the synthetic one)."""
    data_dir = tmp_path_factory.mktemp("mutations") / "data"
    data_dir.mkdir(parents=True)
    with election_run(data_dir, fresh_database_url("sqlite", data_dir)) as election:
        yield election


@pytest.fixture(scope="module")
def clean(run):
    report = verify_record(run.private, workers=1)
    assert report.ok(strict=True)
    return run.private


def assert_fails(files: dict[str, bytes], expected: int, says: str | None = None, **options: object) -> None:
    """Check ``expected`` fails; with ``says``, one of its failures says so (the reason, not only a failure)."""
    report = verify_record(files, workers=1, **options)
    failed = report.failed()
    assert not report.ok(), "the verifier accepted a mutated record"
    assert expected in failed, (
        f"expected check {expected} to fail; failed: "
        + "; ".join(f"{c.number}: {c.first_failure}" for c in report.checks if c.status != "pass")
    )
    assert report.check(expected).first_failure
    if says is not None:
        failures = report.check(expected).failures
        assert any(says in f for f in failures), f"check {expected} does not say {says!r}: {failures}"


# --- byte mutations ----------------------------------------------------------------------------

HEX = r"[0-9a-f]"
B64 = r"[A-Za-z0-9+/]"
#: Per file: (regex whose group 1 spans mutable characters, the check that guards them).
BYTE_TARGETS: dict[str, list[tuple[str, int]]] = {
    F.RECORD: [(r'"election_id": "([^"]+)"', 1), (r'"board_size": (\d+)', 1), (r'"version": (\d+)', 1)],
    F.MANIFEST: [(r'"(?:id|election_id)": "([^"]+)"', 1), (r'"(?:min|max)_selections": (\d+)', 1), (r'"en": "([^"]+)"', 1)],
    F.PARAMETERS: [(r'"(?:ceremony_fingerprint|fingerprint|joint_key|server_key)": "([0-9a-f]+)"', 1), (r'"(?:threshold|trustees)": (\d+)', 1)],
    F.TRUSTEES: [(r'"([0-9a-f]{64})"', 2), (r'"(?:index|leaf_index)": (\d+)', 2)],
    F.BOARD: [(r'"([0-9a-f]{64,})"', 7), (r'"(?:index|count|ballots_counted)":(\d+)', 7)],
    F.TREE_HEADS: [(r'"(?:root|signature)": "([0-9a-f]+)"', 7), (r'"(?:size|timestamp_ms)": (\d+)', 7)],
    F.BALLOTS: [(r'"(?:tracking_code|signature|credential)": "([^"]+)"', 4), (r'"superseded_by": "([0-9a-f]+)"', 6), (r'"superseded_at": (\d+)', 6)],
    F.AGGREGATE: [(r'"([0-9a-f]{64})"', 8), (r'"ballots_counted": (\d+)', 8)],
    F.PARTIAL_DECRYPTIONS: [(r'"([0-9a-f]{64})"', 9), (r'"index": (\d+)', 9)],
    F.RESULT: [(r'"count": (\d+)', 10), (r'"ballots_counted": (\d+)', 10), (r'"trustees": \[\s*(\d+)', 10)],
    F.ROLL: [(r'"(' + B64 + r'{200,})={0,2}"', 5), (r'"(?:credential|employee_id|signature)": "([^"]+)"', 5)],
    # The CRLs (every byte is signed); a trust anchor's own serial number or signature means nothing.
    F.TRUST: [(r'"(' + B64 + r'{200,})={0,2}"(?=[\s\S]*"trust_anchors")', 5)],
}
PER_FILE = 10


def _candidates(data: bytes, targets: list[tuple[str, int]]) -> list[tuple[int, int]]:
    """(byte position, expected check) of every mutable ASCII character; in
    base64 the last four characters are skipped (they may hold padding bits)."""
    text = data.decode("utf-8")
    offsets = [0]
    for char in text:
        offsets.append(offsets[-1] + len(char.encode("utf-8")))
    found = []
    for pattern, expected in targets:
        for match in re.finditer(pattern, text):
            start, end = match.span(1)
            if "A-Z" in pattern:
                end -= 4
            found += [(offsets[i], expected) for i in range(start, end) if text[i].isascii() and (text[i].isalnum() or text[i] in "+/")]
    return found


def _other(char: str, rng: random.Random) -> str:
    for alphabet in ("0123456789", "0123456789abcdef", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"):
        if char in alphabet:
            break
    return rng.choice([c for c in alphabet if c != char])


BYTE_CASES = [(name, k) for name in BYTE_TARGETS for k in range(PER_FILE)]


@pytest.mark.parametrize(("name", "k"), BYTE_CASES, ids=[f"{name}-{k:02d}" for name, k in BYTE_CASES])
def test_one_byte_changed(clean, name, k):
    rng = random.Random(f"{name}/{k}")
    candidates = _candidates(clean[name], BYTE_TARGETS[name])
    assert len(candidates) >= PER_FILE, name
    position, expected = random.Random(name).sample(candidates, PER_FILE)[k]
    data = bytearray(clean[name])
    data[position] = ord(_other(chr(data[position]), rng))
    assert bytes(data) != clean[name]
    assert_fails({**clean, name: bytes(data)}, expected)


#: One character of one kind of board entry, changed by a server that then
#: re-signs the board: the check of that entry's cryptography must catch it.
RESIGNED_TARGETS: dict[str, tuple[str, int]] = {
    "trustee-announcement": (r'"([0-9a-f]{64})"', 2),
    "joint-key": (r'"public_shares":\{([^}]+)\}', 2),
    "ballot": (r'"(?:alpha|beta|c|v)":"([0-9a-f]{64})"', 3),
    "aggregate": (r'"(?:alpha|beta)":"([0-9a-f]{64})"', 8),
    "partial-decryption": (r'"([0-9a-f]{64})"', 9),
    "result": (r'"count":(\d+)', 10),
    "credential-registered": (r'"credential":"([0-9a-f]{64})"', 5),
    "ballot-audited": (r'"r":"([0-9a-f]{64})"', 11),
}
PER_KIND = 8
RESIGNED_CASES = [(kind, k) for kind in RESIGNED_TARGETS for k in range(PER_KIND)]


@pytest.mark.parametrize(("kind", "k"), RESIGNED_CASES, ids=[f"{kind}-{k:02d}" for kind, k in RESIGNED_CASES])
def test_one_byte_of_a_board_entry_changed_and_re_signed(run, clean, kind, k):
    rng = random.Random(f"resigned/{kind}/{k}")
    pattern, expected = RESIGNED_TARGETS[kind]
    lines = clean[F.BOARD].splitlines()
    candidates = [
        (number, position)
        for number, line in enumerate(lines)
        if json.loads(line)["kind"] == kind
        for match in re.finditer(pattern, line.decode())
        for position in range(*match.span(1))
        if line[position : position + 1].isalnum()
    ]
    number, position = random.Random(kind).sample(candidates, PER_KIND)[k]
    line = bytearray(lines[number])
    line[position] = ord(_other(chr(line[position]), rng))
    entries = [json.loads(x) for x in lines]
    entries[number] = json.loads(bytes(line))
    assert entries[number] != json.loads(lines[number])
    assert_fails(resign(clean, entries, run.server_key), expected)


# --- field mutations ---------------------------------------------------------------------------

Mutation = Callable[["Ctx"], dict[str, bytes]]
FIELD_CASES: dict[str, tuple[int, Mutation, str | None]] = {}


def mutation(expected: int, says: str | None = None) -> Callable[[Mutation], Mutation]:
    """Register a mutation that check ``expected`` must catch (with ``says``: for that reason)."""

    def register(function: Mutation) -> Mutation:
        FIELD_CASES[function.__name__] = (expected, function, says)
        return function

    return register


class Ctx:
    """The clean records and what a dishonest server (or a test) holds."""

    def __init__(self, run) -> None:
        self.run = run
        self.files = dict(run.private)
        self.single = dict(run.single_private)
        self.key = run.server_key

    def entries(self, files: dict | None = None) -> list[dict]:
        return board_entries(files or self.files)

    def board(self, edit: Callable[[list[dict]], object], files: dict | None = None, **options: object) -> dict[str, bytes]:
        """Edit the board entries and publish them as the server would: re-signed, views rewritten."""
        files = dict(files or self.files)
        entries = self.entries(files)
        replaced = edit(entries)  # a list replaces the entries; anything else was an edit in place
        return resign(files, replaced if isinstance(replaced, list) else entries, options.pop("key", self.key), **options)

    def fingerprint(self) -> bytes:
        return bytes.fromhex(json.loads(self.files[F.PARAMETERS])["fingerprint"])

    def manifest(self) -> Manifest:
        return Manifest.from_json(json.loads(self.files[F.MANIFEST]))

    def joint_key(self) -> Point:
        return Point.from_hex(json.loads(self.files[F.PARAMETERS])["joint_key"])

    def employee_of(self, credential: str, files: dict | None = None) -> str:
        roll = json.loads((files or self.files)[F.ROLL])
        return next(r["employee_id"] for r in roll if r["credential"] == credential)

    def voting_credential(self, credential: str, files: dict | None = None):
        """The voting credential's private key, derived as the voter's device does."""
        files = files or self.files
        election_id = json.loads(files[F.RECORD])["election_id"]
        derived = self.run.credentials[self.employee_of(credential, files)].voting_credential(election_id)
        assert derived.hex == credential
        return derived


def view(files: dict[str, bytes], name: str, edit: Callable[[object], object]) -> dict[str, bytes]:
    """Edit a JSON file in place (``edit`` mutates it, or returns a replacement of the same type)."""
    doc = json.loads(files[name])
    replaced = edit(doc)
    return replace(files, name, replaced if isinstance(replaced, type(doc)) else doc)


def replace(files: dict[str, bytes], name: str, doc: object) -> dict[str, bytes]:
    return {**files, name: json.dumps(doc, ensure_ascii=False, indent=1).encode()}


def of(entries: list[dict], kind: str) -> list[dict]:
    return [e for e in entries if e["kind"] == kind]


def other_hex(value: str) -> str:
    return ("1" if value[0] == "0" else "0") + value[1:]


def random_point() -> str:
    return Point.random().hex()


def move(entries: list[dict], entry: dict, to: int) -> list[dict]:
    rest = [e for e in entries if e is not entry]
    return rest[:to] + [entry] + rest[to:]


# check 1: parameters and fingerprint ---------------------------------------------------------


@mutation(1)
def record_format(c: Ctx):
    return view(c.files, F.RECORD, lambda d: d.update(format="something-else"))


@mutation(1)
def record_version(c: Ctx):
    return view(c.files, F.RECORD, lambda d: d.update(version=F.VERSION + 1))


@mutation(1)
def record_election_id(c: Ctx):
    return view(c.files, F.RECORD, lambda d: d.update(election_id="other-2026"))


@mutation(1)
def record_stage(c: Ctx):
    return view(c.files, F.RECORD, lambda d: d.update(stage="open"))


@mutation(1)
def record_claims_no_auditors_part(c: Ctx):
    return view(c.files, F.RECORD, lambda d: d.update(auditors_part=False))


@mutation(1)
def record_extra_member(c: Ctx):
    return view(c.files, F.RECORD, lambda d: d.update(note="trust me"))


@mutation(1)
def record_missing(c: Ctx):
    return {k: v for k, v in c.files.items() if k != F.RECORD}


@mutation(1)
def manifest_limit_raised(c: Ctx):
    return view(c.files, F.MANIFEST, lambda d: d["questions"][0].update(max_selections=5))


@mutation(1)
def manifest_question_removed(c: Ctx):
    return view(c.files, F.MANIFEST, lambda d: d["questions"].pop())


@mutation(1)
def manifest_title_changed(c: Ctx):
    return view(c.files, F.MANIFEST, lambda d: d["title"].update(en="Another survey"))


@mutation(1)
def manifest_not_json(c: Ctx):
    return {**c.files, F.MANIFEST: c.files[F.MANIFEST][:-3]}


@mutation(1)
def parameters_threshold(c: Ctx):
    return view(c.files, F.PARAMETERS, lambda d: d.update(threshold=1))


@mutation(1)
def parameters_joint_key(c: Ctx):
    return view(c.files, F.PARAMETERS, lambda d: d.update(joint_key=random_point()))


@mutation(1)
def parameters_policy(c: Ctx):
    return view(c.files, F.PARAMETERS, lambda d: d.update(revote_policy="single"))


@mutation(1)
def parameters_group(c: Ctx):
    return view(c.files, F.PARAMETERS, lambda d: d.update(group="P-256"))


@mutation(1)
def parameters_missing(c: Ctx):
    return {k: v for k, v in c.files.items() if k != F.PARAMETERS}


@mutation(1)
def board_manifest_limit_raised(c: Ctx):
    return c.board(lambda es: es[0]["body"]["manifest"]["questions"][0].update(max_selections=5))


@mutation(1)
def board_threshold_lowered(c: Ctx):
    return c.board(lambda es: es[0]["body"].update(threshold=1))


@mutation(1)
def board_fingerprint_replaced(c: Ctx):
    return c.board(lambda es: of(es, "joint-key")[0]["body"].update(fingerprint="ab" * 32))


@mutation(1)
def board_policy_changed(c: Ctx):
    return c.board(lambda es: es[0]["body"]["manifest"].update(revote_policy="single"))


@mutation(1)
def board_created_not_first(c: Ctx):
    return c.board(lambda es: move(es, es[0], 1))


@mutation(1)
def board_second_joint_key(c: Ctx):
    def edit(es: list[dict]) -> list[dict]:
        copy = json.loads(json.dumps(of(es, "joint-key")[0]))
        return move(es + [copy], copy, of(es, "election-opened")[0]["index"])

    return c.board(edit)


@mutation(7, says="an election has one")
def board_second_election_created(c: Ctx):
    return c.board(lambda es: es + [json.loads(json.dumps(es[0]))])


@mutation(7, says="an election has one")
def board_published_twice(c: Ctx):
    def edit(es: list[dict]) -> list[dict]:
        published = of(es, "election-published")[0]
        copy = json.loads(json.dumps(published))
        return move(es + [copy], copy, published["index"] + 1)

    return c.board(edit)


@mutation(1, says="does not name the administrator")
def board_admin_action_by_a_list(c: Ctx):
    # A "by" of another type once slipped past the rule that a trustee must not administer.
    return c.board(lambda es: of(es, "admin-action")[0]["body"].update(by=[TRUSTEES[0]]))


@mutation(1)
def board_trustee_ids_missing(c: Ctx):
    return c.board(lambda es: es[0]["body"].pop("trustee_ids") and None)


@mutation(1)
def board_trustee_ids_one_short(c: Ctx):
    return c.board(lambda es: es[0]["body"]["trustee_ids"].pop())


@mutation(1)
def board_trustee_ids_duplicate(c: Ctx):
    """One person holding two of the three shares: two of them decrypt alone."""
    return c.board(lambda es: es[0]["body"]["trustee_ids"].__setitem__(1, es[0]["body"]["trustee_ids"][0]))


@mutation(1)
def board_trustee_id_invalid(c: Ctx):
    return c.board(lambda es: es[0]["body"]["trustee_ids"].__setitem__(2, "not an id"))


@mutation(1)
def board_trustee_is_an_acting_admin(c: Ctx):
    """A trustee who also runs the election (here: created it)."""
    return c.board(lambda es: of(es, "admin-action")[0]["body"].update(by=es[0]["body"]["trustee_ids"][1]))


@mutation(1)
def board_trustee_opens_the_election(c: Ctx):
    return c.board(lambda es: of(es, "election-opened")[0]["body"].update(by=es[0]["body"]["trustee_ids"][2]))


@mutation(1)
def board_trustee_publishes_the_result(c: Ctx):
    return c.board(lambda es: of(es, "election-published")[0]["body"].update(by=es[0]["body"]["trustee_ids"][0]))


@mutation(1)
def board_manifest_minimum_invalid(c: Ctx):
    return c.board(lambda es: es[0]["body"]["manifest"].update(min_tally_ballots=0))


@mutation(1)
def parameters_trustee_ids(c: Ctx):
    return view(c.files, F.PARAMETERS, lambda d: d["trustee_ids"].reverse())


@mutation(2)
def board_manifest_and_ceremony_fingerprint_rewritten(c: Ctx):
    """The server recomputes every hash it can after changing the manifest: the
    trustees' proofs, bound to the old ceremony fingerprint, give it away."""
    from crypto.ballots import ceremony_fingerprint, election_fingerprint

    def edit(es: list[dict]) -> None:
        created = es[0]["body"]
        created["manifest"]["questions"][0]["max_selections"] = 5
        manifest = Manifest.from_json(created["manifest"])
        created["ceremony_fingerprint"] = ceremony_fingerprint(manifest, created["trustees"], created["threshold"]).hex()
        joint = of(es, "joint-key")[0]["body"]
        joint["fingerprint"] = election_fingerprint(manifest, Point.from_hex(joint["joint_key"])).hex()

    return c.board(edit)


def test_the_server_key_pin_catches_a_record_signed_by_someone_else(clean, run):
    """Re-signed under another key, the whole record is self-consistent: only
    pinning the real server's key (from a receipt) reveals it."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    other = Ed25519PrivateKey.generate()
    raw = other.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    forged = Ctx(run).board(lambda es: es[0]["body"].update(server_key=raw.hex()), key=other)
    assert verify_record(forged, workers=1).ok(strict=True)
    real = bytes.fromhex(json.loads(clean[F.PARAMETERS])["server_key"])
    assert_fails(forged, 1, server_key=real)
    assert_fails(clean, 1, server_key=raw)


# check 2: key ceremony --------------------------------------------------------------------------


@mutation(2)
def trustees_commitment_replaced(c: Ctx):
    return view(c.files, F.TRUSTEES, lambda d: d[0]["commitments"].__setitem__(0, random_point()))


@mutation(2)
def trustees_public_share_replaced(c: Ctx):
    return view(c.files, F.TRUSTEES, lambda d: d[1].update(public_share=random_point()))


@mutation(2)
def trustees_one_dropped(c: Ctx):
    return view(c.files, F.TRUSTEES, lambda d: d.pop())


@mutation(2)
def trustees_reordered(c: Ctx):
    return view(c.files, F.TRUSTEES, lambda d: d.reverse())


def _announcement(es: list[dict], n: int) -> dict:
    """The body of trustee n's announcement (n from 1)."""
    return next(e["body"] for e in of(es, "trustee-announcement") if e["body"]["index"] == n)


def _sign_announcement(c: Ctx, credential, body: dict) -> dict:
    """``credential``'s valid signature over the announcement ``body`` (its fields but the signature)."""
    fields = {k: v for k, v in body.items() if k != "signature"}
    return sign_announcement(credential, election_id=c.entries()[0]["election_id"], announcement=fields)


def _edit_signed(c: Ctx, n: int, edit: Callable[[dict], object]) -> dict[str, bytes]:
    """Trustee n's announcement edited, then signed again with trustee n's own
    key (a trustee, or whoever holds its key, signs a bad announcement): the
    signature verifies, so the proofs must catch the change."""

    def apply(es: list[dict]) -> None:
        body = _announcement(es, n)
        edit(body)
        body["signature"] = _sign_announcement(c, c.run.credentials[TRUSTEES[n - 1]], body)

    return c.board(apply)


@mutation(2, says="does not verify")
def board_commitment_replaced(c: Ctx):
    return _edit_signed(c, 2, lambda body: body["commitments"].__setitem__(1, random_point()))


@mutation(2, says="trustee 1: proof for coefficient 0 does not verify")
def board_commitment_proof_changed(c: Ctx):
    return _edit_signed(c, 1, lambda body: body["proofs"][0].update(s="01" + "00" * 31))


@mutation(2, says="trustee 3: proof for coefficient")
def board_share_key_changed(c: Ctx):
    return _edit_signed(c, 3, lambda body: body.update(share_public_key="09" * 32))


@mutation(2)
def board_joint_key_replaced(c: Ctx):
    """A joint key whose secret the server knows, with the fingerprint recomputed."""
    from crypto.ballots import election_fingerprint

    def edit(es: list[dict]) -> None:
        joint = of(es, "joint-key")[0]["body"]
        point = Point.random()
        joint["joint_key"] = point.hex()
        joint["fingerprint"] = election_fingerprint(c.manifest(), point).hex()

    return c.board(edit)


@mutation(2)
def board_public_share_replaced(c: Ctx):
    return c.board(lambda es: of(es, "joint-key")[0]["body"]["public_shares"].update({"2": random_point()}))


@mutation(2)
def board_announcement_dropped(c: Ctx):
    return c.board(lambda es: [e for e in es if e is not of(es, "trustee-announcement")[2]])


@mutation(2)
def board_announcement_after_joint_key(c: Ctx):
    return c.board(lambda es: move(es, of(es, "trustee-announcement")[2], of(es, "joint-key")[0]["index"]))


@mutation(2)
def board_announcement_relabelled(c: Ctx):
    return c.board(lambda es: of(es, "trustee-announcement")[2]["body"].update(index=2))


# The announcements' signatures (F1: a server that slips in an announcement of
# its own receives the co-trustees' shares for it; co-trustees, and the
# verifier, take only announcements signed by the trustee the board names).


@mutation(2, says="trustee 2 (T0002): the announcement is not signed")
def board_announcement_signature_dropped(c: Ctx):
    return c.board(lambda es: _announcement(es, 2).pop("signature"))


@mutation(2, says="trustee 3 (T0003): trustee T0003's announcement signature does not verify")
def board_announcement_signature_forged(c: Ctx):
    return c.board(lambda es: _announcement(es, 3)["signature"].update(signature=other_hex(_announcement(es, 3)["signature"]["signature"])))


@mutation(2, says="trustee 2 (T0002): the announcement signature is signed by T0001, not by trustee T0002")
def board_announcement_signed_by_another_trustee(c: Ctx):
    """Trustee 1's valid signature over trustee 2's very announcement."""

    def edit(es: list[dict]) -> None:
        body = _announcement(es, 2)
        body["signature"] = _sign_announcement(c, c.run.credentials[TRUSTEES[0]], body)

    return c.board(edit)


@mutation(2, says="trustee 2 (T0002): the announcement signature is signed by E0000, not by trustee T0002")
def board_announcement_signed_by_an_employee(c: Ctx):
    def edit(es: list[dict]) -> None:
        body = _announcement(es, 2)
        body["signature"] = _sign_announcement(c, c.run.credentials["E0000"], body)

    return c.board(edit)


@mutation(2, says="trustee 1 (T0001): trustee T0001's announcement signature does not verify")
def board_announcement_changed_after_signing(c: Ctx):
    """F1: the server's own announcement for trustee 1 (fresh polynomial and
    share key, every proof valid, so it would receive trustee 1's shares),
    under trustee 1's signature of the announcement it replaced."""
    parameters = json.loads(c.files[F.PARAMETERS])
    params = threshold.CeremonyParameters(parameters["trustees"], parameters["threshold"], bytes.fromhex(parameters["ceremony_fingerprint"]))
    _, substitute = threshold.start_ceremony(params, 1)
    return c.board(lambda es: _announcement(es, 1).update(substitute.to_json()))


@mutation(2, says="trustee 2 (T0002): trustee T0002's announcement signature does not verify")
def board_announcement_one_member_changed_after_signing(c: Ctx):
    return c.board(lambda es: _announcement(es, 2)["commitments"].__setitem__(0, random_point()))


@mutation(2, says="the announcement signature is signed by T0002, not by trustee T0001")
def board_announcement_signatures_swapped(c: Ctx):
    def edit(es: list[dict]) -> None:
        first, second = _announcement(es, 1), _announcement(es, 2)
        first["signature"], second["signature"] = second["signature"], first["signature"]

    return c.board(edit)


@mutation(2, says="trustee T0003's certificate is not trusted")
def board_announcement_signed_under_another_ca(c: Ctx):
    """Trustee 3's employee id in a certificate from a CA the auditors do not trust."""
    now = datetime.now(UTC) - timedelta(hours=1)
    issuing = ca.create_issuing_ca(ca.create_root_ca("Test City Root CA", now=now), "Test City Issuing CA", now=now)
    stranger = ca.enroll_employee(issuing, employee_id=TRUSTEES[2], name="same id, other CA", now=now)

    def edit(es: list[dict]) -> None:
        body = _announcement(es, 3)
        body["signature"] = _sign_announcement(c, stranger, body)

    return c.board(edit)


@mutation(2, says="before the trustee announced")
def trust_crl_revokes_a_trustee_before_it_announced(c: Ctx):
    """Trustee 2's certificate revoked (on a CRL issued after the election) before its announcement."""
    announced = datetime.fromisoformat(_announcement_entry(c, 2)["time"])
    entry = ca.revoke(c.run.pki.issuing, c.run.credentials[TRUSTEES[1]].certificate, now=announced - timedelta(seconds=5))
    return view(c.files, F.TRUST, lambda d: d.update(crls=_crls(c, now=datetime.now(UTC), revoked=[entry])))


def _announcement_entry(c: Ctx, n: int) -> dict:
    return next(e for e in of(c.entries(), "trustee-announcement") if e["body"]["index"] == n)


def _endorsements(es: list[dict]) -> list[dict]:
    return of(es, "joint-key")[0]["body"]["endorsements"]


def _endorse(c: Ctx, credential, *, joint_key: bytes | None = None) -> dict:
    """``credential``'s valid signature over this election's joint key (or another key)."""
    return sign_endorsement(
        credential, election_id=c.entries()[0]["election_id"], joint_key=joint_key or c.joint_key().to_bytes(), fingerprint=c.fingerprint()
    )


@mutation(2)
def board_endorsement_dropped(c: Ctx):
    return c.board(lambda es: _endorsements(es).pop())


@mutation(2)
def board_endorsements_missing(c: Ctx):
    return c.board(lambda es: of(es, "joint-key")[0]["body"].pop("endorsements") and None)


@mutation(2)
def board_endorsement_signature_forged(c: Ctx):
    return c.board(lambda es: _endorsements(es)[1].update(signature=other_hex(_endorsements(es)[1]["signature"])))


@mutation(2)
def board_endorsement_by_another_employee(c: Ctx):
    """A valid signature over the right key and fingerprint, by someone who is not trustee 2."""
    forged = _endorse(c, c.run.credentials["E0000"])
    return c.board(lambda es: _endorsements(es)[1].update(forged))


@mutation(2)
def board_endorsement_of_another_joint_key(c: Ctx):
    """Trustee 1's own signature, but over a key the server chose."""
    forged = _endorse(c, c.run.credentials[TRUSTEES[0]], joint_key=Point.random().to_bytes())
    return c.board(lambda es: _endorsements(es)[0].update(forged))


@mutation(2)
def board_endorsement_under_another_ca(c: Ctx):
    """Trustee 3's employee id in a certificate from a CA the auditors do not trust."""
    now = datetime.now(UTC) - timedelta(hours=1)
    issuing = ca.create_issuing_ca(ca.create_root_ca("Test City Root CA", now=now), "Test City Issuing CA", now=now)
    stranger = ca.enroll_employee(issuing, employee_id=TRUSTEES[2], name="same id, other CA", now=now)
    forged = _endorse(c, stranger)
    return c.board(lambda es: _endorsements(es)[2].update(forged))


@mutation(2)
def board_endorsements_swapped(c: Ctx):
    def edit(es: list[dict]) -> None:
        first, second = _endorsements(es)[0], _endorsements(es)[1]
        for key in ("chain", "signature"):
            first[key], second[key] = second[key], first[key]

    return c.board(edit)


@mutation(2)
def board_endorsement_index_changed(c: Ctx):
    return c.board(lambda es: _endorsements(es)[2].update(index=1))


# check 3: ballots ---------------------------------------------------------------------------------


def _ballot(es: list[dict], n: int = 0) -> dict:
    return of(es, "ballot")[n]["body"]


@mutation(3)
def ballot_alpha_replaced(c: Ctx):
    return c.board(lambda es: _ballot(es, 3)["ballot"]["questions"][0]["selections"][2].update(alpha=random_point()))


@mutation(3)
def ballot_beta_swapped_with_another_option(c: Ctx):
    def edit(es: list[dict]) -> None:
        selections = _ballot(es, 4)["ballot"]["questions"][0]["selections"]
        selections[0], selections[1] = selections[1], selections[0]

    return c.board(edit)


@mutation(3)
def ballot_selection_proof_changed(c: Ctx):
    return c.board(lambda es: _ballot(es, 0)["ballot"]["questions"][1]["selections"][3]["proof"][0].update(c="02" + "00" * 31))


@mutation(3)
def ballot_limit_proof_changed(c: Ctx):
    return c.board(lambda es: _ballot(es, 5)["ballot"]["questions"][1]["limit_proof"][1].update(v="03" + "00" * 31))


@mutation(3)
def ballot_limit_proof_extra_branch(c: Ctx):
    return c.board(lambda es: _ballot(es, 5)["ballot"]["questions"][0]["limit_proof"].append({"c": "00" * 32, "v": "00" * 32}))


@mutation(3)
def ballot_selection_removed(c: Ctx):
    return c.board(lambda es: _ballot(es, 1)["ballot"]["questions"][1]["selections"].pop())


@mutation(3)
def ballot_extra_member(c: Ctx):
    return c.board(lambda es: _ballot(es, 2)["ballot"].update(comment="hello"))


@mutation(3)
def ballot_version(c: Ctx):
    return c.board(lambda es: _ballot(es, 2)["ballot"].update(version=2))


@mutation(3)
def ballot_inner_voter_changed(c: Ctx):
    return c.board(lambda es: _ballot(es, 6)["ballot"].update(voter_id=_ballot(es, 7)["credential"]))


@mutation(3)
def ballot_entry_voter_changed(c: Ctx):
    return c.board(lambda es: _ballot(es, 6).update(credential=_ballot(es, 7)["credential"]))


@mutation(3)
def ballot_copied_to_another_voter(c: Ctx):
    """Replay: voter 7's ballot re-labelled as voter 0's; the proofs bind voter 7."""

    def edit(es: list[dict]) -> None:
        copied = json.loads(json.dumps(_ballot(es, 7)["ballot"]))
        copied["voter_id"] = _ballot(es, 0)["credential"]
        _ballot(es, 0)["ballot"] = copied

    return c.board(edit)


@mutation(3)
def ballot_for_another_election(c: Ctx):
    return c.board(lambda es: _ballot(es, 3)["ballot"].update(election_id="other-2026"))


@mutation(3)
def ballot_entry_without_signature(c: Ctx):
    return c.board(lambda es: _ballot(es, 3).pop("signature"))


@mutation(3)
def ballot_identity_ciphertext(c: Ctx):
    return c.board(lambda es: _ballot(es, 3)["ballot"]["questions"][0]["selections"][0].update(alpha="00" * 32))


# check 4: tracking codes --------------------------------------------------------------------------


@mutation(4)
def board_tracking_code_changed(c: Ctx):
    return c.board(lambda es: _ballot(es, 3).update(tracking_code=other_hex(_ballot(es, 3)["tracking_code"])))


@mutation(4)
def board_ballot_cast_twice(c: Ctx):
    """The same ballot entry twice (a replayed request appended again)."""
    return c.board(lambda es: move(es, json.loads(json.dumps(of(es, "ballot")[7])), of(es, "ballot")[7]["index"] + 1))


@mutation(4)
def ballots_row_dropped(c: Ctx):
    return view(c.files, F.BALLOTS, lambda d: d.pop(4))


@mutation(4)
def ballots_rows_swapped(c: Ctx):
    return view(c.files, F.BALLOTS, lambda d: d.insert(0, d.pop(1)))


@mutation(4)
def ballots_cast_time_changed(c: Ctx):
    return view(c.files, F.BALLOTS, lambda d: d[3].update(cast_at="2020-01-01T00:00:00.000+00:00"))


@mutation(4)
def ballots_extra_column(c: Ctx):
    return view(c.files, F.BALLOTS, lambda d: d[0].update(choice="a0"))


@mutation(4)
def ballots_not_a_list(c: Ctx):
    return replace(c.files, F.BALLOTS, {"ballots": json.loads(c.files[F.BALLOTS])})


@mutation(4)
def ballots_missing(c: Ctx):
    return {k: v for k, v in c.files.items() if k != F.BALLOTS}


# check 5: eligibility: registered credentials (public), registrations (the auditors' part) ---------


def _roll(c: Ctx, files: dict | None = None) -> list[dict]:
    return json.loads((files or c.files)[F.ROLL])


def _registered(c: Ctx, employee: str) -> dict:
    return next(r for r in _roll(c) if r["employee_id"] == employee)


def _register_with(c: Ctx, employee: str, credential, *, files: dict | None = None) -> dict[str, bytes]:
    """``employee``'s registration signed by ``credential``'s certificate instead."""
    files = files or c.files
    row = next(r for r in _roll(c, files) if r["employee_id"] == employee)
    signature = sign_registration(credential.private_key, election_id=json.loads(files[F.RECORD])["election_id"], credential_pub=bytes.fromhex(row["credential"]))
    chain = [base64.b64encode(cert.public_bytes(DER)).decode() for cert in credential.chain if cert.issuer != cert.subject]

    def edit(doc: list[dict]) -> None:
        target = next(r for r in doc if r["employee_id"] == employee)
        target["registration"].update(chain=chain, signature=signature.hex())

    return view(files, F.ROLL, edit)


def _new_credential(label: str) -> VotingCredential:
    """A voting credential nobody on the roll holds (a made-up one)."""
    return VotingCredential.derive(hashlib.sha256(label.encode()).digest(), "record-2026")


def _cast(c: Ctx, es: list[dict], voting, *, at: dict, choices=None, register: bool = True) -> list[dict]:
    """A valid ballot of ``voting`` (a VotingCredential) inserted before the entry ``at``,
    with its registration just after the election opened (``register``)."""
    manifest, key, fp = c.manifest(), c.joint_key(), c.fingerprint()
    ballot, _ = encrypt_ballot(manifest, key, fp, voting.hex, choices or [[1, 0, 0, 0, 0], [0, 0, 0, 0]])
    code = tracking_code(fp, ballot)
    signature = sign_ballot_with(voting, election_fingerprint=fp, tracking_code=code)
    template = of(es, "ballot")[0]
    entry = {**template, "body": {"tracking_code": code.hex(), "credential": voting.hex, "ballot": ballot.to_json(), "signature": signature.hex()}}
    es = move(es + [entry], entry, es.index(at))
    if register:
        opened = of(es, "election-opened")[0]
        registration = {**opened, "kind": "credential-registered", "body": {"credential": voting.hex}}
        es = move(es + [registration], registration, es.index(opened) + 1)
    return es


# The public attacks of issue 11: each must fail check 5 (or 11) from the public record alone.
PUBLIC_CASES: list[str] = []


def public(expected: int, says: str | None = None) -> Callable[[Mutation], Mutation]:
    def register(function: Mutation) -> Mutation:
        PUBLIC_CASES.append(function.__name__)
        return mutation(expected, says)(function)

    return register


@public(5, says="more than the 9 voters on the roll")
def board_stuffed_ballots_beyond_the_roll(c: Ctx):
    """The server makes up two credentials, registers them and casts a valid,
    signed ballot from each: the board now has more credentials than the roll
    has voters (8 registered of 9, plus 2)."""

    def edit(es: list[dict]) -> list[dict]:
        for label in ("stuffed-1", "stuffed-2"):
            es = _cast(c, es, _new_credential(label), at=of(es, "election-closed")[0])
        return es

    return c.board(edit)


@public(5, says="was never registered")
def board_ballot_from_an_unregistered_credential(c: Ctx):
    return c.board(lambda es: _cast(c, es, _new_credential("unregistered"), at=of(es, "election-closed")[0], register=False))


@public(5, says="was registered only later")
def board_ballot_before_its_registration(c: Ctx):
    def edit(es: list[dict]) -> list[dict]:
        es = _cast(c, es, _new_credential("late"), at=of(es, "election-closed")[0], register=False)
        registration = {**of(es, "election-closed")[0], "kind": "credential-registered", "body": {"credential": _new_credential("late").hex}}
        return move(es + [registration], registration, es.index(of(es, "election-closed")[0]))

    return c.board(edit)


@public(5, says="a voter counted twice")
def board_credential_used_twice(c: Ctx):
    """E0004's credential casts a second valid, signed ballot and nothing
    supersedes the first: two counted ballots from one credential."""
    credential = _ballot(c.entries(), 4)["credential"]
    voting = c.voting_credential(credential)
    return c.board(lambda es: _cast(c, es, voting, at=of(es, "election-closed")[0], register=False, choices=[[0, 1, 0, 0, 0], [0, 0, 0, 0]]))


@public(5, says="registered a second time")
def board_credential_registered_twice(c: Ctx):
    def edit(es: list[dict]) -> list[dict]:
        copy = json.loads(json.dumps(of(es, "credential-registered")[2]))
        return move(es + [copy], copy, of(es, "credential-registered")[5]["index"])

    return c.board(edit)


@public(5, says="the ballot signature does not verify with the voter's credential")
def board_credential_signature_forged(c: Ctx):
    """Ballot 3's signature made by another credential (a forger without the voter's key)."""

    def edit(es: list[dict]) -> None:
        body = _ballot(es, 3)
        forged = sign_ballot_with(_new_credential("forger"), election_fingerprint=c.fingerprint(), tracking_code=bytes.fromhex(body["tracking_code"]))
        body["signature"] = forged.hex()

    return c.board(edit)


@public(5, says="the ballot signature does not verify")
def board_signature_replaced(c: Ctx):
    return c.board(lambda es: _ballot(es, 2).update(signature=_ballot(es, 3)["signature"]))


@public(5, says="must be 64 bytes")
def board_signature_by_the_certificate(c: Ctx):
    """The old format: an RSA/ECDSA-sized signature is not a credential's."""
    return c.board(lambda es: _ballot(es, 2).update(signature=_ballot(es, 2)["signature"] * 4))


@public(5, says="roll_size")
def board_opened_without_roll_size(c: Ctx):
    return c.board(lambda es: of(es, "election-opened")[0]["body"].pop("roll_size"))


@public(5, says="registered before the election opened")
def board_registration_before_opening(c: Ctx):
    return c.board(lambda es: move(es, of(es, "credential-registered")[0], of(es, "election-opened")[0]["index"]))


@public(11, says="the encryption does not match")
def board_audit_opening_tampered(c: Ctx):
    """The audited ballot's opening says another choice than the ballot encrypts."""

    def edit(es: list[dict]) -> None:
        row = of(es, "ballot-audited")[0]["body"]["opening"]["selections"][0]
        row[0]["m"] = 1 - row[0]["m"]

    return c.board(edit)


@public(11, says="was also cast")
def board_audited_ballot_cast(c: Ctx):
    """The audited ballot (its secrets public) is also cast, signed by its credential."""

    def edit(es: list[dict]) -> list[dict]:
        audited = of(es, "ballot-audited")[0]["body"]
        voting = c.voting_credential(audited["credential"])
        signature = sign_ballot_with(voting, election_fingerprint=c.fingerprint(), tracking_code=bytes.fromhex(audited["tracking_code"]))
        entry = {**of(es, "ballot")[0], "body": {"tracking_code": audited["tracking_code"], "credential": audited["credential"], "ballot": audited["ballot"], "signature": signature.hex()}}
        return move(es + [entry], entry, of(es, "ballot-audited")[0]["index"] + 1)

    return c.board(edit)


def _reproved(c: Ctx, audited: dict, voter_id: str) -> dict:
    """The audited ballot's selection ciphertexts under new proofs made for
    ``voter_id`` (anyone can: the opening publishes every r); a new tracking code."""
    from crypto.ballots import AuditOpening, _limit_context, _selection_context

    manifest, key, fp = c.manifest(), c.joint_key(), c.fingerprint()
    ballot = EncryptedBallot.from_json(audited["ballot"], manifest)
    opening = AuditOpening.from_json(audited["opening"])
    questions = []
    for qn, (eq, secrets, question) in enumerate(zip(ballot.questions, opening.selections, manifest.questions)):
        selections, r_total = [], Scalar(0)
        for on, (s, (m, r)) in enumerate(zip(eq.selections, secrets)):
            proof = prove_encrypted_value(s.ciphertext.alpha, s.ciphertext.beta, r, m, key, (0, 1), kind=SELECTION_KIND, fingerprint=fp, context=_selection_context(voter_id, qn, on))
            selections.append(EncryptedSelection(s.ciphertext, proof))
            r_total = r_total + r
        total = add_all(s.ciphertext for s in selections)
        limit = prove_encrypted_value(total.alpha, total.beta, r_total, sum(m for m, _ in secrets), key, question.limit_values, kind=LIMIT_KIND, fingerprint=fp, context=_limit_context(voter_id, qn))
        questions.append(EncryptedQuestion(tuple(selections), limit))
    return EncryptedBallot(ballot.election_id, voter_id, tuple(questions)).to_json()


@public(11, says="a selection ciphertext of it was also cast")
def board_audited_ciphertexts_cast_under_new_proofs(c: Ctx):
    """The audited ballot's ciphertexts, re-proved (a new tracking code), are cast by its own
    credential after the audit: the voter's vote is then public (a receipt to sell it)."""

    def edit(es: list[dict]) -> list[dict]:
        audited = of(es, "ballot-audited")[0]["body"]
        ballot = _reproved(c, audited, audited["credential"])
        code = tracking_code(c.fingerprint(), EncryptedBallot.from_json(ballot, c.manifest()))
        assert code.hex() != audited["tracking_code"]
        signature = sign_ballot_with(c.voting_credential(audited["credential"]), election_fingerprint=c.fingerprint(), tracking_code=code)
        entry = {**of(es, "ballot")[0], "body": {"tracking_code": code.hex(), "credential": audited["credential"], "ballot": ballot, "signature": signature.hex()}}
        return move(es + [entry], entry, of(es, "ballot-audited")[0]["index"] + 1)

    return c.board(edit)


@public(11, says="a selection ciphertext of it was also cast")
def board_audited_ciphertexts_cast_by_another_voter(c: Ctx):
    """Ballot 3 replaced by the audited ballot's ciphertexts re-proved for ballot 3's credential
    (all of its proofs and its signature valid): another voter casts a public vote."""

    def edit(es: list[dict]) -> None:
        audited = of(es, "ballot-audited")[0]["body"]
        body = _ballot(es, 3)
        assert body["credential"] != audited["credential"]
        ballot = _reproved(c, audited, body["credential"])
        code = tracking_code(c.fingerprint(), EncryptedBallot.from_json(ballot, c.manifest()))
        signature = sign_ballot_with(c.voting_credential(body["credential"]), election_fingerprint=c.fingerprint(), tracking_code=code)
        body.update(tracking_code=code.hex(), ballot=ballot, signature=signature.hex())

    return c.board(edit)


@public(11, says="is not the hash of the ballot")
def board_audit_tracking_code_changed(c: Ctx):
    return c.board(lambda es: of(es, "ballot-audited")[1]["body"].update(tracking_code=other_hex(of(es, "ballot-audited")[1]["body"]["tracking_code"])))


@public(11, says="made for another voter")
def board_audit_of_another_credential(c: Ctx):
    return c.board(lambda es: of(es, "ballot-audited")[0]["body"].update(credential=_ballot(es, 3)["credential"]))


@public(11, says="was not registered before it")
def board_audit_from_an_unregistered_credential(c: Ctx):
    def edit(es: list[dict]) -> None:
        body = of(es, "ballot-audited")[1]["body"]
        manifest, key, fp = c.manifest(), c.joint_key(), c.fingerprint()
        ballot, opening = encrypt_ballot(manifest, key, fp, _new_credential("auditor").hex, [[1, 0, 0, 0, 0], [0, 0, 0, 0]])
        body.update(credential=_new_credential("auditor").hex, ballot=ballot.to_json(), opening=opening.to_json(), tracking_code=tracking_code(fp, ballot).hex())

    return c.board(edit)


@public(11)
def board_audit_without_opening(c: Ctx):
    return c.board(lambda es: of(es, "ballot-audited")[0]["body"].pop("opening"))


# The auditors' part: registrations by certificates.


@mutation(5, says="but the roll gives the credential to")
def roll_registrations_swapped(c: Ctx):
    def edit(doc: list[dict]) -> None:
        doc[0]["registration"], doc[1]["registration"] = doc[1]["registration"], doc[0]["registration"]

    return view(c.files, F.ROLL, edit)


@mutation(5, says="does not verify")
def roll_credentials_swapped(c: Ctx):
    def edit(doc: list[dict]) -> None:
        doc[2]["credential"], doc[3]["credential"] = doc[3]["credential"], doc[2]["credential"]

    return view(c.files, F.ROLL, edit)


@mutation(5, says="has no registration")
def roll_registration_dropped(c: Ctx):
    return view(c.files, F.ROLL, lambda d: d[2].update(registration=None))


@mutation(5, says="is not registered on the board")
def roll_credential_not_on_the_board(c: Ctx):
    """The abstainer is given a credential and a registration the board never saw."""
    abstainer = next(r for r in _roll(c) if r["credential"] is None)
    voting = c.run.credentials[abstainer["employee_id"]].voting_credential("record-2026")
    files = view(c.files, F.ROLL, lambda d: next(r for r in d if r["employee_id"] == abstainer["employee_id"]).update(
        credential=voting.hex, registration=dict(d[0]["registration"])))
    return _register_with(c, abstainer["employee_id"], c.run.credentials[abstainer["employee_id"]], files=files)


@mutation(5, says="no one on auditors/roll.json registered")
def roll_registered_credential_unaccounted(c: Ctx):
    return view(c.files, F.ROLL, lambda d: d[4].update(credential=None, registration=None))


@mutation(5, says="certificate")
def roll_registration_leaf_of_another_voter(c: Ctx):
    def edit(doc: list[dict]) -> None:
        doc[5]["registration"]["chain"][0] = doc[6]["registration"]["chain"][0]

    return view(c.files, F.ROLL, edit)


@mutation(5, says="was not valid when the credential was registered")
def roll_registration_without_the_issuing_ca(c: Ctx):
    return view(c.files, F.ROLL, lambda d: d[3]["registration"].update(chain=d[3]["registration"]["chain"][:1]))


@mutation(5)
def roll_registration_chain_empty(c: Ctx):
    return view(c.files, F.ROLL, lambda d: d[3]["registration"].update(chain=[]))


@mutation(5)
def roll_registration_not_base64(c: Ctx):
    return view(c.files, F.ROLL, lambda d: d[3]["registration"]["chain"].__setitem__(0, "not base64!"))


@mutation(5, says="appears twice")
def roll_employee_twice(c: Ctx):
    return view(c.files, F.ROLL, lambda d: d.append({**d[0], "credential": None, "registration": None}))


@mutation(5, says="froze a roll of 9")
def roll_voter_dropped(c: Ctx):
    """The abstainer dropped from the auditors' roll: it no longer has the roll's size."""
    return view(c.files, F.ROLL, lambda d: [r for r in d if r["credential"] is not None])


@mutation(5)
def roll_missing(c: Ctx):
    return {k: v for k, v in c.files.items() if k != F.ROLL}


@mutation(5)
def trust_without_crls(c: Ctx):
    return view(c.files, F.TRUST, lambda d: d.update(crls=[]))


@mutation(5)
def trust_another_root(c: Ctx):
    other = ca.create_root_ca("Another Root CA", now=datetime.now(UTC) - timedelta(days=1))
    der = base64.b64encode(other.certificate.public_bytes(DER)).decode()
    return view(c.files, F.TRUST, lambda d: d.update(trust_anchors=[der]))


def _crls(c: Ctx, *, now: datetime, revoked: list) -> list[str]:
    pki = c.run.pki
    crls = [
        ca.build_crl(pki.root, [], now=now, next_update=now + timedelta(days=7), crl_number=90),
        ca.build_crl(pki.issuing, [*pki.revoked, *revoked], now=now, next_update=now + timedelta(days=7), crl_number=90),
    ]
    return [base64.b64encode(crl.public_bytes(DER)).decode() for crl in crls]


def _registered_at(c: Ctx, credential: str) -> datetime:
    entry = next(e for e in of(c.entries(), "credential-registered") if e["body"]["credential"] == credential)
    return datetime.fromisoformat(entry["time"])


@mutation(5, says="predates the time the credential was registered")
def trust_crl_older_than_the_registrations(c: Ctx):
    """A CRL from before the registrations cannot show a revocation up to them
    (it is still after the trustees' announcements, so check 2 passes)."""
    first = min(datetime.fromisoformat(e["time"]) for e in of(c.entries(), "credential-registered"))
    return view(c.files, F.TRUST, lambda d: d.update(crls=_crls(c, now=first - timedelta(seconds=2), revoked=[])))


@mutation(5, says="before the credential was registered")
def trust_crl_revokes_a_voter_before_they_registered(c: Ctx):
    """A registration signed by a certificate revoked before it: fails check 5
    with the auditors' part (the public record cannot know)."""
    row = _roll(c)[4]
    certificate = c.run.credentials[row["employee_id"]].certificate
    entry = ca.revoke(c.run.pki.issuing, certificate, now=_registered_at(c, row["credential"]) - timedelta(seconds=5))
    return view(c.files, F.TRUST, lambda d: d.update(crls=_crls(c, now=datetime.now(UTC) + timedelta(seconds=2), revoked=[entry])))


@mutation(5)
def trust_crl_signed_by_another_key(c: Ctx):
    """A CRL under the issuing CA's name, signed with another key: not that CA's CRL."""
    impostor = ca.create_issuing_ca(ca.create_root_ca("Impostor Root", now=datetime.now(UTC)), "Bench City Issuing CA", now=datetime.now(UTC))
    crl = ca.build_crl(impostor, [], now=datetime.now(UTC), next_update=datetime.now(UTC) + timedelta(days=1), crl_number=99)
    assert crl.issuer == c.run.pki.issuing.certificate.subject
    root_crl = json.loads(c.files[F.TRUST])["crls"][0]
    return view(c.files, F.TRUST, lambda d: d.update(crls=[root_crl, base64.b64encode(crl.public_bytes(DER)).decode()]))


@mutation(5, says="was not valid when the credential was registered")
def registration_with_an_expired_certificate(c: Ctx):
    """The voter's own employee id, a certificate from the right CA, but one
    that had expired a day before the credential was registered."""
    employee = _roll(c)[5]["employee_id"]
    expired = ca.enroll_employee(c.run.pki.issuing, employee_id=employee, name="expired", now=datetime.now(UTC) - timedelta(days=2), days=1)
    return _register_with(c, employee, expired)


@mutation(5, says="was not valid when the credential was registered")
def registration_signed_under_an_unknown_ca(c: Ctx):
    """A registration by a certificate of a CA nobody trusts (the voter's own employee id)."""
    employee = _roll(c)[6]["employee_id"]
    now = datetime.now(UTC) - timedelta(hours=1)
    root = ca.create_root_ca("Bench City Root CA", now=now)
    issuing = ca.create_issuing_ca(root, "Bench City Issuing CA", now=now)
    stranger = ca.enroll_employee(issuing, employee_id=employee, name="same id, other CA", now=now)
    return _register_with(c, employee, stranger)


@mutation(5, says="but the roll gives the credential to E0000")
def registration_signed_by_another_voter(c: Ctx):
    """A colluding voter's certificate registers someone else's credential."""
    return _register_with(c, "E0000", c.run.credentials["E0007"])


# check 6: the re-vote policy ------------------------------------------------------------------------


@mutation(6)
def board_supersession_dropped(c: Ctx):
    return c.board(lambda es: [e for e in es if e is not of(es, "ballot-superseded")[0]])


@mutation(6)
def board_supersession_points_elsewhere(c: Ctx):
    return c.board(lambda es: of(es, "ballot-superseded")[0]["body"].update(superseded_by=_ballot(es, 0)["tracking_code"]))


@mutation(6)
def board_supersession_before_its_replacement(c: Ctx):
    def edit(es: list[dict]) -> list[dict]:
        s = of(es, "ballot-superseded")[0]
        replacement = next(e for e in of(es, "ballot") if e["body"]["tracking_code"] == s["body"]["superseded_by"])
        return move(es, s, replacement["index"])

    return c.board(edit)


@mutation(6)
def board_last_ballot_superseded(c: Ctx):
    def edit(es: list[dict]) -> list[dict]:
        only = _ballot(es, 3)
        fake = {**of(es, "ballot-superseded")[0], "body": {"tracking_code": only["tracking_code"], "superseded_by": _ballot(es, 4)["tracking_code"], "credential": only["credential"]}}
        return move(es + [fake], fake, of(es, "election-closed")[0]["index"])

    return c.board(edit)


@mutation(6)
def board_supersession_voter_changed(c: Ctx):
    return c.board(lambda es: of(es, "ballot-superseded")[1]["body"].update(credential=_ballot(es, 4)["credential"]))


@mutation(6)
def board_ballot_after_close(c: Ctx):
    return c.board(lambda es: move(es, of(es, "ballot")[0], of(es, "election-closed")[0]["index"]))


@mutation(6)
def board_ballot_before_opening(c: Ctx):
    return c.board(lambda es: move(es, of(es, "election-opened")[0], of(es, "ballot")[0]["index"]))


@mutation(6)
def board_opened_twice(c: Ctx):
    def edit(es: list[dict]) -> list[dict]:
        copy = dict(of(es, "election-opened")[0])
        return move(es + [copy], copy, of(es, "ballot")[3]["index"])

    return c.board(edit)


@mutation(6)
def board_published_twice(c: Ctx):
    def edit(es: list[dict]) -> list[dict]:
        copy = dict(of(es, "election-closed")[0])
        return move(es + [copy], copy, of(es, "ballot")[3]["index"])

    return c.board(edit)


@mutation(6)
def ballots_counted_flag_flipped(c: Ctx):
    return view(c.files, F.BALLOTS, lambda d: d[1].update(counted=not d[1]["counted"]))


@mutation(6)
def ballots_superseded_by_changed(c: Ctx):
    def edit(doc: list[dict]) -> None:
        row = next(r for r in doc if r["superseded_by"])
        row["superseded_by"] = other_hex(row["superseded_by"])

    return view(c.files, F.BALLOTS, edit)


@mutation(6)
def ballots_superseded_at_changed(c: Ctx):
    def edit(doc: list[dict]) -> None:
        next(r for r in doc if r["superseded_at"])["superseded_at"] += 1

    return view(c.files, F.BALLOTS, edit)


@mutation(6)
def single_policy_supersession_added(c: Ctx):
    def edit(es: list[dict]) -> list[dict]:
        first, second = _ballot(es, 0), _ballot(es, 1)
        fake = {**of(es, "election-closed")[0], "kind": "ballot-superseded", "body": {"tracking_code": first["tracking_code"], "superseded_by": second["tracking_code"], "credential": first["credential"]}}
        return move(es + [fake], fake, of(es, "election-closed")[0]["index"])

    return c.board(edit, c.single)


@mutation(6)
def single_policy_second_ballot(c: Ctx):
    """A voter's second valid, signed ballot under the one-ballot policy (the
    service refuses it; a dishonest one appends it)."""
    single = c.single
    manifest = Manifest.from_json(json.loads(single[F.MANIFEST]))
    parameters = json.loads(single[F.PARAMETERS])
    fp, key = bytes.fromhex(parameters["fingerprint"]), Point.from_hex(parameters["joint_key"])
    first = of(board_entries(single), "ballot")[0]["body"]
    ballot, _ = encrypt_ballot(manifest, key, fp, first["credential"], [[0, 1, 0, 0, 0], [0, 0, 0, 0]])
    code = tracking_code(fp, ballot)
    signature = sign_ballot_with(c.voting_credential(first["credential"], single), election_fingerprint=fp, tracking_code=code)

    def edit(es: list[dict]) -> list[dict]:
        entry = {**of(es, "ballot")[0], "body": {"tracking_code": code.hex(), "credential": first["credential"], "ballot": ballot.to_json(), "signature": signature.hex()}}
        return move(es + [entry], entry, of(es, "election-closed")[0]["index"])

    return c.board(edit, single)


# check 7: the board and its signed tree heads --------------------------------------------------------


@mutation(7)
def heads_newest_dropped(c: Ctx):
    return view(c.files, F.TREE_HEADS, lambda d: d.pop())


@mutation(7)
def heads_one_repeated(c: Ctx):
    return view(c.files, F.TREE_HEADS, lambda d: d.insert(5, d[5]))


@mutation(7)
def heads_two_swapped(c: Ctx):
    return view(c.files, F.TREE_HEADS, lambda d: d.insert(3, d.pop(4)))


@mutation(7)
def heads_root_replaced(c: Ctx):
    return view(c.files, F.TREE_HEADS, lambda d: d[10].update(root="cd" * 32))


@mutation(7)
def heads_log_id_changed(c: Ctx):
    return view(c.files, F.TREE_HEADS, lambda d: d[2].update(log_id="other-2026"))


@mutation(7)
def heads_timestamp_changed(c: Ctx):
    return view(c.files, F.TREE_HEADS, lambda d: d[7].update(timestamp_ms=d[7]["timestamp_ms"] + 1))


@mutation(7)
def heads_signature_of_another_head(c: Ctx):
    return view(c.files, F.TREE_HEADS, lambda d: d[7].update(signature=d[8]["signature"]))


@mutation(7)
def heads_empty(c: Ctx):
    return view(c.files, F.TREE_HEADS, lambda d: [])


@mutation(7)
def heads_missing(c: Ctx):
    return {k: v for k, v in c.files.items() if k != F.TREE_HEADS}


@mutation(7)
def heads_fork(c: Ctx):
    """A validly signed head of an existing size with another root: a fork."""
    from crypto import log as merkle

    def edit(doc: list[dict]) -> None:
        head = merkle.TreeHead(doc[12]["log_id"], doc[12]["size"], bytes(32), doc[12]["timestamp_ms"])
        doc.insert(13, merkle.sign_tree_head(c.key, head).to_json())

    return view(c.files, F.TREE_HEADS, edit)


@mutation(7)
def board_last_line_dropped(c: Ctx):
    lines = c.files[F.BOARD].splitlines(keepends=True)
    return {**c.files, F.BOARD: b"".join(lines[:-1])}


@mutation(7)
def board_two_lines_swapped(c: Ctx):
    lines = c.files[F.BOARD].splitlines(keepends=True)
    lines[10], lines[11] = lines[11], lines[10]
    return {**c.files, F.BOARD: b"".join(lines)}


@mutation(7)
def board_line_not_canonical(c: Ctx):
    lines = c.files[F.BOARD].splitlines(keepends=True)
    lines[1] = json.dumps(json.loads(lines[1]), indent=1).replace("\n", " ").encode() + b"\n"
    return {**c.files, F.BOARD: b"".join(lines)}


@mutation(7)
def board_without_final_newline(c: Ctx):
    return {**c.files, F.BOARD: c.files[F.BOARD].rstrip(b"\n")}


@mutation(7)
def board_duplicate_member(c: Ctx):
    lines = c.files[F.BOARD].splitlines(keepends=True)
    lines[1] = lines[1].replace(b'"kind":"admin-action"', b'"kind":"admin-action","kind":"admin-action"')
    return {**c.files, F.BOARD: b"".join(lines)}


@mutation(7)
def board_missing(c: Ctx):
    return {k: v for k, v in c.files.items() if k != F.BOARD}


@mutation(7)
def board_unknown_kind(c: Ctx):
    return c.board(lambda es: es[1].update(kind="note"))


@mutation(7)
def board_entry_numbered_wrongly(c: Ctx):
    return c.board(lambda es: [e for e in es if e is not es[2]], renumber=False)


@mutation(7)
def board_entry_time_not_iso(c: Ctx):
    return c.board(lambda es: es[2].update(time="yesterday"))


@mutation(7)
def board_entry_of_another_election(c: Ctx):
    return c.board(lambda es: es[3].update(election_id="other-2026"))


@mutation(7)
def board_clock_runs_backwards(c: Ctx):
    """A ballot dated before the entries that precede it (e.g. to pass it off as
    cast before its certificate was revoked)."""
    return c.board(lambda es: of(es, "ballot")[6].update(time="2020-01-01T00:00:00.000+00:00"))


@mutation(7)
def board_float_in_an_entry(c: Ctx):
    lines = c.files[F.BOARD].splitlines(keepends=True)
    lines[2] = re.sub(rb'"added":(\d+)', rb'"added":\1.0', lines[2])
    assert lines[2] != c.files[F.BOARD].splitlines(keepends=True)[2]
    return {**c.files, F.BOARD: b"".join(lines)}


# check 8: the aggregate ----------------------------------------------------------------------------


@mutation(8)
def aggregate_ciphertext_replaced(c: Ctx):
    return view(c.files, F.AGGREGATE, lambda d: d["ciphertexts"][0].update(beta=random_point()))


@mutation(8)
def aggregate_count_changed(c: Ctx):
    return view(c.files, F.AGGREGATE, lambda d: d.update(ballots_counted=d["ballots_counted"] + 1))


@mutation(8)
def aggregate_null(c: Ctx):
    return replace(c.files, F.AGGREGATE, None)


@mutation(8)
def aggregate_missing(c: Ctx):
    return {k: v for k, v in c.files.items() if k != F.AGGREGATE}


@mutation(8)
def board_aggregate_with_an_extra_vote(c: Ctx):
    """An extra encrypted vote folded into the tally: everything downstream
    (decryptions, result) could be made consistent, the sum cannot."""
    from crypto.elgamal import Ciphertext

    extra = encrypt(c.joint_key(), 1, Scalar.random())

    def edit(es: list[dict]) -> None:
        ct = of(es, "aggregate")[0]["body"]["ciphertexts"][1]
        ct.update((Ciphertext.from_json(ct) + extra).to_json())

    return c.board(edit)


@mutation(8)
def board_aggregate_count_changed(c: Ctx):
    return c.board(lambda es: of(es, "aggregate")[0]["body"].update(ballots_counted=11))


@mutation(8)
def board_aggregate_before_close(c: Ctx):
    return c.board(lambda es: move(es, of(es, "aggregate")[0], of(es, "election-closed")[0]["index"]))


@mutation(8)
def board_aggregate_dropped(c: Ctx):
    return c.board(lambda es: [e for e in es if e["kind"] != "aggregate"])


@mutation(8)
def board_aggregate_wrong_width(c: Ctx):
    return c.board(lambda es: of(es, "aggregate")[0]["body"]["ciphertexts"].pop())


@mutation(8)
def board_aggregate_of_all_ballots(c: Ctx):
    """The superseded ballots counted too, with the count adjusted."""
    from crypto.ballots import aggregate

    def edit(es: list[dict]) -> None:
        manifest = c.manifest()
        ballots = [EncryptedBallot.from_json(e["body"]["ballot"], manifest) for e in of(es, "ballot")]
        body = of(es, "aggregate")[0]["body"]
        body["ciphertexts"] = [ct.to_json() for ct in aggregate(manifest, ballots)]

    return c.board(edit)


# check 9: partial decryptions -----------------------------------------------------------------------


@mutation(9)
def partials_share_replaced(c: Ctx):
    return view(c.files, F.PARTIAL_DECRYPTIONS, lambda d: d[0]["shares"].__setitem__(2, random_point()))


@mutation(9)
def partials_one_dropped(c: Ctx):
    return view(c.files, F.PARTIAL_DECRYPTIONS, lambda d: d.pop())


@mutation(9)
def partials_missing(c: Ctx):
    return {k: v for k, v in c.files.items() if k != F.PARTIAL_DECRYPTIONS}


@mutation(9)
def board_partial_share_replaced(c: Ctx):
    return c.board(lambda es: of(es, "partial-decryption")[2]["body"]["shares"].__setitem__(0, random_point()))


@mutation(9)
def board_partial_proof_changed(c: Ctx):
    return c.board(lambda es: of(es, "partial-decryption")[1]["body"]["proofs"][3].update(c="05" + "00" * 31))


@mutation(9)
def board_partial_relabelled_as_another_trustee(c: Ctx):
    return c.board(lambda es: of(es, "partial-decryption")[2]["body"].update(index=1))


@mutation(9)
def board_partial_of_an_unknown_trustee(c: Ctx):
    return c.board(lambda es: of(es, "partial-decryption")[2]["body"].update(index=4))


@mutation(9)
def board_partial_before_the_aggregate(c: Ctx):
    return c.board(lambda es: move(es, of(es, "partial-decryption")[2], of(es, "aggregate")[0]["index"]))


@mutation(9)
def board_partial_one_share_short(c: Ctx):
    def edit(es: list[dict]) -> None:
        body = of(es, "partial-decryption")[2]["body"]
        body["shares"].pop()
        body["proofs"].pop()

    return c.board(edit)


@mutation(9)
def board_partial_with_a_wrong_key_share(c: Ctx):
    """Decrypted honestly, but with another trustee's key share: the proof is
    valid for that share, not for this trustee's public share."""
    from crypto.elgamal import Ciphertext

    aggregate = [Ciphertext.from_json(ct, allow_identity=True) for ct in json.loads(c.files[F.AGGREGATE])["ciphertexts"]]
    key = c.run.trustee_key("T0002")
    wrong = threshold.TrusteeKey(key.parameters, 3, key.secret_share, key.public_share, key.joint_public_key)
    partial = threshold.partial_decrypt(wrong, aggregate, fingerprint=c.fingerprint())
    return c.board(lambda es: of(es, "partial-decryption")[2].update(body=partial.to_json()))


# check 10: the result -------------------------------------------------------------------------------


@mutation(10)
def result_count_changed(c: Ctx):
    return view(c.files, F.RESULT, lambda d: d["questions"][1]["options"][2].update(count=d["questions"][1]["options"][2]["count"] + 1))


@mutation(10)
def result_null(c: Ctx):
    return replace(c.files, F.RESULT, None)


@mutation(10)
def result_missing(c: Ctx):
    return {k: v for k, v in c.files.items() if k != F.RESULT}


@mutation(10)
def board_result_count_changed(c: Ctx):
    return c.board(lambda es: of(es, "result")[0]["body"]["questions"][0]["options"][0].update(count=0))


@mutation(10)
def board_result_counts_moved(c: Ctx):
    def edit(es: list[dict]) -> None:
        options = of(es, "result")[0]["body"]["questions"][0]["options"]
        a, b = next((a, b) for a in options for b in options if a["count"] != b["count"])
        a["count"], b["count"] = b["count"], a["count"]

    return c.board(edit)


@mutation(10)
def board_result_option_ids_swapped(c: Ctx):
    def edit(es: list[dict]) -> None:
        options = of(es, "result")[0]["body"]["questions"][0]["options"]
        options[0]["id"], options[1]["id"] = options[1]["id"], options[0]["id"]

    return c.board(edit)


@mutation(10)
def board_result_below_threshold(c: Ctx):
    return c.board(lambda es: of(es, "result")[0]["body"].update(trustees=[1]))


@mutation(10)
def board_result_unknown_trustee(c: Ctx):
    return c.board(lambda es: of(es, "result")[0]["body"].update(trustees=[1, 4]))


@mutation(10)
def board_result_ballot_count_changed(c: Ctx):
    return c.board(lambda es: of(es, "result")[0]["body"].update(ballots_counted=9))


@mutation(10)
def board_result_dropped_but_published(c: Ctx):
    return c.board(lambda es: [e for e in es if e["kind"] != "result"])


@mutation(10)
def board_published_before_result(c: Ctx):
    return c.board(lambda es: move(es, of(es, "election-published")[0], of(es, "result")[0]["index"]))


@mutation(10)
def board_result_question_missing(c: Ctx):
    return c.board(lambda es: of(es, "result")[0]["body"]["questions"].pop())


@mutation(10)
def board_result_before_its_decryptions(c: Ctx):
    return c.board(lambda es: move(es, of(es, "result")[0], of(es, "partial-decryption")[0]["index"]))


# check 12: the witnesses' cosignatures (the synthetic elections name no witnesses) -----------------------


def _cosigned(head: dict, key: Ed25519PrivateKey | None = None) -> dict:
    """A head cosigned by ``key`` (a new witness key by default)."""
    from crypto import log as merkle
    from crypto.witness import cosign

    sth = merkle.SignedTreeHead.from_json(head)
    return {"tree_head": head, "cosignatures": [cosign(key or Ed25519PrivateKey.generate(), sth.head, 1).to_json()]}


@public(12, says="is missing from the record")
def cosignatures_missing(c: Ctx):
    return {k: v for k, v in c.files.items() if k != F.COSIGNATURES}


@public(12, says="not the ones the manifest names")
def cosignatures_witnesses_the_manifest_does_not_name(c: Ctx):
    witness = {"name": "監査事務局", "public_key": Ed25519PrivateKey.generate().public_key().public_bytes_raw().hex()}
    return view(c.files, F.COSIGNATURES, lambda d: d.update(witnesses={"quorum": 1, "members": [witness]}))


@public(12, says="no witness the manifest names")
def cosignatures_by_a_key_the_manifest_does_not_name(c: Ctx):
    final = json.loads(c.files[F.TREE_HEADS])[-1]
    return view(c.files, F.COSIGNATURES, lambda d: d["heads"].append(_cosigned(final)))


@public(12, says="a split view")
def cosigned_head_of_another_board(c: Ctx):
    """The server signed a head of another board of the same size, and a key cosigned it."""
    from crypto import log as merkle

    head = json.loads(c.files[F.TREE_HEADS])[9]
    other = merkle.sign_tree_head(c.key, merkle.TreeHead(head["log_id"], head["size"], bytes(32), head["timestamp_ms"]))
    return view(c.files, F.COSIGNATURES, lambda d: d["heads"].append(_cosigned(other.to_json())))


@pytest.mark.parametrize("name", list(FIELD_CASES))
def test_one_field_changed(run, clean, name):
    expected, function, says = FIELD_CASES[name]
    mutated = function(Ctx(run))
    assert mutated != clean
    assert_fails(mutated, expected, says)


@pytest.mark.parametrize("name", PUBLIC_CASES)
def test_the_public_record_alone_catches(run, clean, name):
    """The attacks on the voting credentials and the audits that the design
    says anyone can see: they fail the public record's verification, without
    the auditors' part."""
    expected, function, says = FIELD_CASES[name]
    mutated = public_part(function(Ctx(run)))
    assert F.ROLL not in mutated and not json.loads(mutated[F.RECORD])["auditors_part"]
    assert verify_record(public_part(clean), workers=1).ok()
    assert_fails(mutated, expected, says)


@pytest.mark.parametrize(
    "name",
    ["registration_signed_under_an_unknown_ca", "trust_crl_revokes_a_voter_before_they_registered", "registration_signed_by_another_voter"],
)
def test_a_forged_registration_passes_the_public_record_and_fails_check_5_with_the_auditors_part(run, clean, name):
    """What only the auditors can see: a registration signed by an unknown or
    revoked certificate, or by another employee. The public record is the
    same as the honest one (the board shows credentials only)."""
    _, function, says = FIELD_CASES[name]
    mutated = function(Ctx(run))
    assert mutated[F.BOARD] == clean[F.BOARD]
    assert verify_record(public_part(mutated), workers=1).ok()
    report = verify_record(mutated, workers=1)
    assert report.failed() == [5], report.failed()
    assert says in report.check(5).first_failure


def test_there_are_enough_mutations():
    assert len(BYTE_CASES) + len(RESIGNED_CASES) + len(FIELD_CASES) >= 200
    assert {expected for expected, _, _ in FIELD_CASES.values()} == set(range(1, 13))
    byte_checks = {expected for targets in BYTE_TARGETS.values() for _, expected in targets}
    assert byte_checks | {expected for _, expected in RESIGNED_TARGETS.values()} == set(range(1, 12))


def test_the_dishonest_server_tools_change_nothing_by_themselves(run, clean):
    """Re-signing an unchanged board gives a record that passes: so every
    failure above comes from the mutation, not from the re-signing."""
    assert verify_record(Ctx(run).board(lambda es: None), workers=1).ok(strict=True)
    assert verify_record(Ctx(run).board(lambda es: None, Ctx(run).single), workers=1).ok(strict=True)


# --- the over-vote that ElectionGuard 1.4 accepted ------------------------------------------------------


def _overvote(values: tuple[int, ...]):
    """A ballot selecting all five options of the 1-of-5 question: every option
    has a valid 0-or-1 proof, and the question a valid proof that the sum lies
    in ``values`` (instead of the manifest's [1, 1])."""

    def forge(manifest: Manifest, joint_key: Point, fingerprint: bytes, voter: str) -> EncryptedBallot:
        question = manifest.questions[0]
        selections, r_total = [], Scalar(0)
        for on in range(len(question.option_ids)):
            r = Scalar.random()
            ct = encrypt(joint_key, 1, r)
            proof = prove_encrypted_value(
                ct.alpha, ct.beta, r, 1, joint_key, (0, 1),
                kind=SELECTION_KIND, fingerprint=fingerprint, context=("ballot-selection", voter, 0, on),
            )
            selections.append(EncryptedSelection(ct, proof))
            r_total = r_total + r
        total = add_all(s.ciphertext for s in selections)
        limit = prove_encrypted_value(
            total.alpha, total.beta, r_total, 5, joint_key, values,
            kind=LIMIT_KIND, fingerprint=fingerprint, context=("ballot-question", voter, 0),
        )
        return EncryptedBallot(manifest.election_id, voter, (EncryptedQuestion(tuple(selections), limit),))

    return forge


@pytest.mark.parametrize("values", [(5,), (0, 1, 2, 3, 4, 5)], ids=["proof-for-5..5", "proof-for-0..5"])
def test_a_ballot_voting_five_times_on_a_1_of_5_question_fails_check_3(values):
    manifest_doc = survey_manifest("overvote-2026")
    manifest_doc["questions"] = manifest_doc["questions"][:1]
    assert manifest_doc["questions"][0]["max_selections"] == 1 and len(manifest_doc["questions"][0]["options"]) == 5
    election = synthesize(6, manifest_doc=manifest_doc, forge={2: _overvote(values)}, workers=1)
    entries = board_entries(election.files)
    forged = next(e for e in entries if e["kind"] == "ballot" and e["body"]["credential"] == election.voting_credentials[2].hex)

    # The proof is valid-looking: it verifies against the limits it carries.
    parameters = json.loads(election.files[F.PARAMETERS])
    manifest = Manifest.from_json(manifest_doc)
    ballot = EncryptedBallot.from_json(forged["body"]["ballot"], manifest) if len(values) == 1 else None
    if ballot is not None:
        total = ballot.questions[0].total()
        verify_encrypted_value(
            total.alpha, total.beta, Point.from_hex(parameters["joint_key"]), values, ballot.questions[0].limit_proof,
            kind=LIMIT_KIND, fingerprint=bytes.fromhex(parameters["fingerprint"]),
            context=("ballot-question", election.voting_credentials[2].hex, 0),
        )

    report = verify_record(election.files, workers=1)
    assert report.failed()[0] == 3
    assert f"entry {forged['index']}" in report.check(3).first_failure
    assert "[1, 1]" in report.check(3).first_failure
    assert report.check(3).failure_count == 1
    # Everything else about the record is consistent (the server counted the
    # ballot); the result's bounds catch it a second time. A proof with six
    # branches does not even parse against the manifest's one, so the ballot's
    # tracking code and the aggregate cannot be recomputed either.
    unreadable = (4, 8) if len(values) > 1 else ()
    consistent = [n for n in (1, 2, 4, 5, 6, 7, 8, 9, 11) if n not in unreadable]
    assert {n: report.check(n).status for n in consistent} == dict.fromkeys(consistent, "pass")
    assert all("unreadable" in report.check(n).first_failure for n in unreadable)
    assert report.check(10).status == "fail" and "outside" in report.check(10).first_failure


# --- the election policy, on honest synthetic records (a real server refuses to make them) -------------


def test_a_threshold_of_one_fails_check_1():
    """A real ceremony with t = 1: every proof verifies, but one trustee alone
    could decrypt any ballot."""
    report = verify_record(synthesize(6, threshold_t=1, workers=1).files, workers=1)
    assert report.failed() == [1]
    assert "at least 2 trustees must decrypt" in report.check(1).first_failure


def test_a_result_below_the_minimum_fails_check_10():
    """Four ballots tallied under the default minimum of five: everything else
    about the record is right."""
    election = synthesize(4, workers=1)
    assert Manifest.from_json(json.loads(election.files[F.MANIFEST])).min_tally_ballots == 5
    report = verify_record(election.files, workers=1)
    assert report.failed() == [10]
    assert "4 ballots" in report.check(10).first_failure and "fewer than 5" in report.check(10).first_failure
    lowered = {**survey_manifest("four-2026"), "min_tally_ballots": 4}
    assert verify_record(synthesize(4, manifest_doc=lowered, workers=1).files, workers=1).ok(strict=True)


def test_endorsements_are_checked_against_the_trust_anchors_only_with_the_auditors_part():
    """An endorsement from a CA nobody trusts: the public record cannot tell
    (it has no trust anchors); the auditors' part can."""
    election = synthesize(6, workers=1)
    now = datetime.now(UTC) - timedelta(hours=1)
    issuing = ca.create_issuing_ca(ca.create_root_ca("Bench City Root CA", now=now), "Bench City Issuing CA", now=now)
    stranger = ca.enroll_employee(issuing, employee_id="T0002", name="same id, other CA", now=now)
    entries = board_entries(election.files)
    joint = of(entries, "joint-key")[0]["body"]
    joint["endorsements"][1].update(
        sign_endorsement(
            stranger, election_id=election.election_id, joint_key=bytes.fromhex(joint["joint_key"]),
            fingerprint=bytes.fromhex(joint["fingerprint"]),
        )
    )
    forged = resign(election.files, entries, election.server_key)
    report = verify_record(forged, workers=1)
    assert report.failed() == [2] and "T0002" in report.check(2).first_failure
    public = {k: v for k, v in forged.items() if not k.startswith("auditors/")}
    public[F.RECORD] = json.dumps({**json.loads(forged[F.RECORD]), "auditors_part": False}).encode()
    report = verify_record(public, workers=1)
    assert report.ok() and "not checked against trust anchors" in report.check(2).note


def test_announcement_signatures_are_checked_against_the_trust_anchors_only_with_the_auditors_part():
    """Trustee 2's announcement signed under a CA nobody trusts (its own
    employee id in the certificate): only the auditors' part can tell."""
    election = synthesize(6, workers=1)
    now = datetime.now(UTC) - timedelta(hours=1)
    issuing = ca.create_issuing_ca(ca.create_root_ca("Bench City Root CA", now=now), "Bench City Issuing CA", now=now)
    stranger = ca.enroll_employee(issuing, employee_id="T0002", name="same id, other CA", now=now)
    entries = board_entries(election.files)
    body = next(e["body"] for e in of(entries, "trustee-announcement") if e["body"]["index"] == 2)
    fields = {k: v for k, v in body.items() if k != "signature"}
    body["signature"] = sign_announcement(stranger, election_id=election.election_id, announcement=fields)
    forged = resign(election.files, entries, election.server_key)
    report = verify_record(forged, workers=1)
    assert report.failed() == [2]
    assert "trustee 2 (T0002): trustee T0002's certificate is not trusted" in report.check(2).first_failure
    public = {k: v for k, v in forged.items() if not k.startswith("auditors/")}
    public[F.RECORD] = json.dumps({**json.loads(forged[F.RECORD]), "auditors_part": False}).encode()
    report = verify_record(public, workers=1)
    assert report.ok() and "not checked against trust anchors" in report.check(2).note


@pytest.mark.slow
def test_an_honest_synthetic_record_passes_and_matches_the_export_format(live):
    election = synthesize(12, revoters=3, workers=1)
    report = verify_record(election.files, workers=1)
    assert report.ok(strict=True), [(c.number, c.failures) for c in report.checks if c.status != "pass"]
    assert (report.ballots, report.counted) == (15, 12)
    assert report.check(11).items == 2  # the synthetic election publishes two audits
    assert set(election.files) == set(live.private)
    # The same events in the same order (the administrators' log aside).
    ignored = {"ballot", "ballot-superseded", "admin-action", "credential-registered", "ballot-audited"}
    exported = [json.loads(line)["kind"] for line in live.private[F.BOARD].splitlines()]
    synthetic = [json.loads(line)["kind"] for line in election.files[F.BOARD].splitlines()]
    assert [k for k in synthetic if k not in ignored] == [k for k in exported if k not in ignored]
