"""Hostile input on the cast path, over real HTTP: a corpus of more than 10,000
malformed ballots generated here from a fixed seed (nothing big is committed),
each refused with a 4xx problem detail whose code is one of the documented
codes expected for its kind, the same code when sent again, and nothing
written (every table read directly before and after each block); the server
stays up and honest voters cast between the blocks.

The corpus: bit flips in every point, proof scalar and signature; raw bit flips
in the JSON text; identity, small-order (Ed25519 torsion), non-canonical and
RFC 9496 invalid point encodings; scalars not below the group order; wrong
lengths, uppercase, prefixes and full-width digits in hex; missing and extra
options, questions and members; over-votes with forged range proofs; ballots
made for another voter or election; ballots copied from the board; oversized
payloads; malformed JSON; wrong JSON types; deep nesting; huge numbers; Unicode
tricks (homoglyphs, zero-width and bidi characters, NUL, lone surrogates,
normalization variants). On PostgreSQL a seeded quarter of the large bit-flip
classes and every other case is sent (the corpus is the same; the database does
not take part until after the checks). The whole corpus is marked slow; the
fast tier sends a seeded sample of every kind.
"""

from __future__ import annotations

import asyncio
import copy
import json
import random
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from crypto.ballots import EncryptedBallot
from crypto.group import Scalar, g_mul
from tests.http_support import Pilot, board_entries, changed_tables, problem, start_pilot, two_question_manifest
from tests.test_rejections_http import forged_ballot, signed_body
from voting.client import ElectionInfo, PreparedBallot, prepare_ballot

SEED = 20260
#: The fast tier sends a seeded sample of this many cases of each kind (a few
#: hundred in all); the whole corpus runs in the slow tier.
SAMPLE_PER_KIND = 20
BLOCK = 500
PARALLEL = 8
VECTORS = Path(__file__).parent / "vectors" / "ristretto255.json"
GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493

#: Encodings that must never be accepted as a ballot's point: the identity,
#: the Ed25519 encodings of the eight small-order (torsion) points, field
#: elements not below p = 2^255 - 19, and RFC 9496 A.2's invalid encodings.
SMALL_ORDER_ED25519 = [
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
]
NON_CANONICAL = [
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # p
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # p + 1
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # 2^255 - 1
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",  # bit 255 set
    "e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2df6",  # the generator, bit 255 set
]
IDENTITY = "00" * 32

# What each kind of case may be refused with (codes of docs/parts/core.md and
# docs/parts/service-protocol.md; status 422 unless said otherwise). A case
# passes only with one of its kind's codes.
POINT_CODES = {"invalid_point", "identity_point", "selection_proof", "selection_limit"}
SCALAR_CODES = {"invalid_scalar", "selection_proof", "selection_limit"}
PROOF_CODES = {"selection_proof", "selection_limit"}
SHAPE_CODES = {"ballot_shape", "selection_proof", "selection_limit", "invalid_ballot", "voter_id_mismatch", "bad_encoding", "invalid_point", "invalid_scalar"}
#: A ballot made for another voter's credential: refused before its proofs are checked.
OTHER_VOTER = {"voter_id_mismatch"}
SIGNATURE_CODES = {"ballot_signature_invalid", "invalid_signature_encoding"}
BODY_CODES = {"invalid_request", "malformed_request"}
ANY_CODES = POINT_CODES | SCALAR_CODES | SHAPE_CODES | SIGNATURE_CODES | BODY_CODES | {"payload_too_large"}


@dataclass(frozen=True)
class Case:
    kind: str
    body: bytes
    codes: frozenset[str]
    sender: str = "alice"


@dataclass
class Kit:
    """What the generator starts from: valid ballots of Alice (never cast), Bob's,
    ballots honest voters cast (from the board), and the election's keys."""

    info: ElectionInfo
    alice: str
    alice_credential: object
    bob: str
    bob_credential: object
    alice_ballots: list[PreparedBallot]
    bob_ballots: list[PreparedBallot]
    copied: list[dict]


def dumps(doc: object) -> bytes:
    return json.dumps(doc).encode()


def hex_paths(doc: object, path: tuple = ()) -> list[tuple]:
    """Paths to every hex field of a ballot document, with its kind."""
    found = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key in ("alpha", "beta"):
                found.append((path + (key,), "point"))
            elif key in ("c", "v"):
                found.append((path + (key,), "scalar"))
            else:
                found += hex_paths(value, path + (key,))
    elif isinstance(doc, list):
        for n, value in enumerate(doc):
            found += hex_paths(value, path + (n,))
    return found


def get_in(doc: object, path: tuple) -> object:
    for step in path:
        doc = doc[step]
    return doc


def set_in(doc: object, path: tuple, value: object) -> None:
    get_in(doc, path[:-1])[path[-1]] = value


def flip_hex(text: str, bit: int) -> str:
    raw = bytearray(bytes.fromhex(text))
    raw[bit // 8] ^= 1 << (bit % 8)
    return raw.hex()


def generate(kit: Kit, rng: random.Random) -> list[Case]:
    cases: list[Case] = []
    bases = [b.cast_body() for b in kit.alice_ballots]

    def base() -> dict:
        return copy.deepcopy(rng.choice(bases))

    def add(kind: str, doc: object, codes: set[str], sender: str = "alice") -> None:
        cases.append(Case(kind, doc if isinstance(doc, bytes) else dumps(doc), frozenset(codes), sender))

    paths = hex_paths(bases[0]["ballot"])
    points = [p for p, kind in paths if kind == "point"]
    scalars = [p for p, kind in paths if kind == "scalar"]

    # Bit flips in the decoded bytes of every kind of field.
    for _ in range(2600):
        body, path = base(), rng.choice(points)
        set_in(body["ballot"], path, flip_hex(get_in(body["ballot"], path), rng.randrange(256)))
        add("bit flip in a point", body, POINT_CODES)
    for _ in range(2600):
        body, path = base(), rng.choice(scalars)
        set_in(body["ballot"], path, flip_hex(get_in(body["ballot"], path), rng.randrange(256)))
        add("bit flip in a proof scalar", body, SCALAR_CODES)
    for _ in range(1000):
        body = base()
        body["signature"] = flip_hex(body["signature"], rng.randrange(len(body["signature"]) * 4))
        add("bit flip in the signature", body, {"ballot_signature_invalid"})
    for _ in range(300):
        body = base()
        field = rng.choice(["voter_id", "election_id"])
        text = body["ballot"][field]
        at = rng.randrange(len(text))
        body["ballot"][field] = text[:at] + chr(ord(text[at]) ^ (1 << rng.randrange(7))) + text[at + 1 :]
        add("bit flip in an id", body, {"voter_id_mismatch", "ballot_shape"} if field == "voter_id" else {"ballot_shape"})

    # Bit flips in the raw JSON text (whatever still parses to the same document is skipped).
    made = 0
    while made < 1500:
        body = base()
        raw = bytearray(dumps(body))
        at = rng.randrange(len(raw))
        raw[at] ^= 1 << rng.randrange(8)
        try:
            if json.loads(bytes(raw).decode("utf-8")) == body:
                continue
        except (UnicodeDecodeError, ValueError):
            pass
        add("bit flip in the JSON text", bytes(raw), ANY_CODES)
        made += 1

    # Points that are no points, or not allowed.
    vectors = json.loads(VECTORS.read_text())
    bad_points = [c["encoding"] for c in vectors["rfc9496_a2_invalid_encodings"]["cases"]]
    for encoding in [IDENTITY, *SMALL_ORDER_ED25519, *NON_CANONICAL, *bad_points]:
        for path in rng.sample(points, 4):
            body = base()
            set_in(body["ballot"], path, encoding)
            add("identity, small-order or invalid point", body, POINT_CODES)
    for _ in range(60):  # a valid point, but not the one proven
        body = base()
        set_in(body["ballot"], rng.choice(points), g_mul(Scalar.random()).hex())
        add("another valid point", body, PROOF_CODES)

    # Scalars not below the group order.
    too_big = [GROUP_ORDER, GROUP_ORDER + 1, GROUP_ORDER + 2**200, 2**253, 2**255 - 19, 2**256 - 1]
    for vector in vectors["scalar_decoding"]["cases"]:  # the project's own invalid scalars of 32 bytes
        if re.fullmatch("[0-9a-f]{64}", vector["hex"]) and int.from_bytes(bytes.fromhex(vector["hex"]), "little") >= GROUP_ORDER:
            too_big.append(int.from_bytes(bytes.fromhex(vector["hex"]), "little"))
    for value in too_big:
        for path in rng.sample(scalars, 30):
            body = base()
            set_in(body["ballot"], path, value.to_bytes(32, "little").hex())
            add("scalar not below the group order", body, {"invalid_scalar"})
    for _ in range(100):  # the original plus the order: the same residue, a different encoding
        body, path = base(), rng.choice(scalars)
        value = int.from_bytes(bytes.fromhex(get_in(body["ballot"], path)), "little") + GROUP_ORDER
        if value < 2**256:
            set_in(body["ballot"], path, value.to_bytes(32, "little").hex())
            add("scalar not below the group order", body, {"invalid_scalar"})

    # Hex that is not canonical lowercase hex of the right length.
    def bad_hex(text: str) -> str:
        return rng.choice(
            [
                text[:-2], text + "00", text[:-1], text.upper(), "0x" + text[2:], " " + text[1:],
                text[:10] + "zz" + text[12:], text.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
                text[:32] + "\u200b" + text[33:], "",
            ]
        )

    for _ in range(300):
        body, path = base(), rng.choice(paths)
        set_in(body["ballot"], path[0], bad_hex(get_in(body["ballot"], path[0])))
        add("malformed hex in the ballot", body, {"invalid_point", "invalid_scalar", "bad_encoding"})
    for _ in range(150):
        body = base()
        body["signature"] = bad_hex(body["signature"])
        add("malformed hex in the signature", body, SIGNATURE_CODES)

    # Shapes: missing and extra options, questions, members.
    def mutations(doc: dict) -> list:
        q = lambda: rng.randrange(len(doc["questions"]))  # noqa: E731
        return [
            lambda: doc["questions"][q()]["selections"].pop(),
            lambda: doc["questions"][q()]["selections"].append(copy.deepcopy(doc["questions"][0]["selections"][0])),
            lambda: doc["questions"].pop(),
            lambda: doc["questions"].append(copy.deepcopy(doc["questions"][0])),
            lambda: doc["questions"].reverse(),
            lambda: doc["questions"][q()]["selections"].reverse(),
            lambda: doc["questions"][q()].pop("limit_proof"),
            lambda: doc["questions"][q()]["limit_proof"].append(copy.deepcopy(doc["questions"][0]["limit_proof"][0])),
            lambda: doc["questions"][q()]["selections"][0]["proof"].pop(),
            lambda: doc["questions"][q()]["selections"][0]["proof"].append({"c": IDENTITY, "v": IDENTITY}),
            lambda: doc.update(extra=1),
            lambda: doc["questions"][q()].update(note="x"),
            lambda: doc["questions"][q()]["selections"][0].update(gamma=doc["questions"][0]["selections"][0]["alpha"]),
            lambda: doc["questions"][q()]["selections"][0]["proof"][0].update(d=IDENTITY),
            lambda: doc.pop(rng.choice(["version", "election_id", "voter_id", "questions"])),
            lambda: doc["questions"][q()]["selections"][0].pop(rng.choice(["alpha", "beta", "proof"])),
            lambda: doc.update(questions=[]),
            lambda: doc.update(questions={}),
            lambda: doc["questions"][q()].update(selections=[]),
            lambda: doc.update(version=rng.choice([0, 2, "1", 1.0, True, None, -1])),
            lambda: doc.update(election_id=rng.choice(["", "hostile-2027", "HOSTILE-2026", "hostile-2026 ", "hostile-2026\u200b"])),
            lambda: doc.update(voter_id=rng.choice(["", "x" * 129, "職" * 129, kit.bob, "v-" + "0" * 24])),
            lambda: doc["questions"][q()]["selections"][0].update(proof={"c": IDENTITY, "v": IDENTITY}),
            lambda: doc["questions"][q()].update(limit_proof=[]),
        ]

    for _ in range(700):
        body = base()
        rng.choice(mutations(body["ballot"]))()
        add("missing or extra options, questions or members", body, SHAPE_CODES)

    # Over-votes with forged range proofs (each proof honestly computed for the forged values).
    forgeries = [
        ([[1, 1, 0, 0], [0, 0, 0, 0]], {0: (2,)}, "selection_limit"),
        ([[1, 1, 0, 0], [0, 0, 0, 0]], {0: (0, 1, 2, 3, 4)}, "selection_limit"),
        ([[1, 0, 0, 0], [1, 1, 1, 0]], {1: (3, 1, 2)}, "selection_limit"),
        ([[2, 0, 0, 0], [0, 0, 0, 0]], {0: (2,)}, "selection_proof"),
        ([[0, 0, 0, 0], [0, 0, 0, 0]], {0: (0,)}, "selection_limit"),
    ]
    for _ in range(12):
        for rows, limits, code in forgeries:
            forged = forged_ballot(kit.info, kit.alice, rows, limits)
            add("over-vote with a forged range proof", signed_body(kit.info, forged, kit.alice_credential), {code})

    # Proofs made for another voter or another election; ballots copied from the board.
    for prepared in kit.bob_ballots:
        add("proofs made for another voter", prepared.cast_body(), OTHER_VOTER)
        add("proofs made for another voter", signed_body(kit.info, prepared.ballot, kit.alice_credential), OTHER_VOTER)
    other = ElectionInfo(kit.info.election_id, kit.info.manifest, kit.info.joint_key, b"\x07" * 32)
    for _ in range(20):
        prepared = prepare_ballot(other, kit.alice, [[1, 0, 0, 0], [0, 0, 0, 0]], kit.alice_credential)
        add("proofs made for another election", prepared.cast_body(), PROOF_CODES)
    for copied in kit.copied:
        add("ballot copied from the board", copied, OTHER_VOTER)
        ballot = EncryptedBallot.from_json(copied["ballot"], kit.info.manifest)
        add("ballot copied from the board", signed_body(kit.info, ballot, kit.alice_credential), OTHER_VOTER)
        add("ballot copied from the board", copied, OTHER_VOTER, sender="bob")

    # Oversized payloads.
    big = base()
    big["ballot"]["questions"][0]["selections"] *= 20_000  # about 8.5 MiB
    add("oversized payload", big, {"payload_too_large"})
    add("oversized payload", b'{"ballot": "' + b"A" * (9 * 1024 * 1024) + b'", "signature": ""}', {"payload_too_large"})
    wide = base()
    wide["ballot"]["questions"][0]["selections"] *= 2_000  # under the limit, far over the manifest
    add("oversized payload", wide, {"ballot_shape"})
    long_id = base()
    long_id["ballot"]["voter_id"] = "v" * 1_000_000
    add("oversized payload", long_id, {"ballot_shape"})
    long_signature = base()
    long_signature["signature"] *= 4096
    add("oversized payload", long_signature, {"invalid_signature_encoding"})
    add("oversized payload", {**base(), "padding": ["x"] * 200_000}, {"invalid_request"})

    # Malformed JSON and wrong body types (built from flipped ballots, so a lenient parse is still refused).
    def flipped() -> dict:
        body, path = base(), rng.choice(points)
        set_in(body["ballot"], path, flip_hex(get_in(body["ballot"], path), rng.randrange(256)))
        return body

    for _ in range(250):
        raw = dumps(flipped())
        add("malformed JSON", raw[: rng.randrange(len(raw))], {"malformed_request"})
    for raw in [
        b"", b" ", b"{", b"}", b"{}}", b"[", b"nul", b"{'ballot': 1}", b'{"ballot": NaN, "signature": ""}',
        b'{"ballot": Infinity, "signature": ""}', b'{"ballot": -Infinity, "signature": ""}', b"\xff\xfe{}",
        b'{"ballot": "\xc3\x28", "signature": ""}', b'{"ballot": 1, "signature": ""} trailing', b"/* c */ {}",
        b'{"ballot": 01, "signature": ""}', b'{"ballot": 1,, "signature": ""}', b'{"ballot" 1}', b"\x00",
        b'{"ballot": "\\x41", "signature": ""}', b'{"ballot": "\\ud800\\u", "signature": ""}',
    ]:
        add("malformed JSON", raw, {"malformed_request"})
    for value in [None, True, 0, 1.5, "ballot", [], [flipped()]]:
        add("wrong JSON type", value, {"malformed_request"})

    # Wrong JSON types in every field.
    slots = [("ballot",), ("signature",), ("ballot", "questions"), ("ballot", "questions", 0), ("ballot", "questions", 0, "selections"),
             ("ballot", "questions", 0, "selections", 0), ("ballot", "questions", 0, "selections", 0, "alpha"),
             ("ballot", "questions", 0, "selections", 0, "proof"), ("ballot", "questions", 0, "selections", 0, "proof", 0),
             ("ballot", "questions", 0, "selections", 0, "proof", 0, "c"), ("ballot", "questions", 1, "limit_proof"),
             ("ballot", "version"), ("ballot", "voter_id"), ("ballot", "election_id")]
    for slot in slots:
        for value in [None, True, False, 0, -1, 1.5, "", "x", [], {}, [[]], {"": None}]:
            body = base()
            set_in(body, slot, value)
            add("wrong JSON type", body, SHAPE_CODES | SIGNATURE_CODES)

    # Deep nesting.
    for depth in (10, 100, 1_000, 10_000, 100_000, 1_000_000):
        add("deep nesting", b'{"ballot": ' + b"[" * depth + b"]" * depth + b', "signature": "00"}', {"ballot_shape", "malformed_request"})
        add("deep nesting", b'{"ballot": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b', "signature": "00"}', {"ballot_shape", "malformed_request"})

    # Huge numbers.
    for text in ["1" + "0" * 20, "1" + "0" * 400, "-" + "9" * 5000, "1e400", "-1e400", "1e-400", "1.0", "-0", "18446744073709551617", "2e308"]:
        for slot in ('"version": ', '"alpha": '):
            body = dumps(base()).decode()
            at = body.index(slot) + len(slot)
            end = body.index(",", at)
            add("huge number", (body[:at] + text + body[end:]).encode(), SHAPE_CODES | {"malformed_request"})

    # Unicode tricks in the ids, the member names and the hex.
    tricks = [
        lambda s: s.replace("v", "ｖ", 1), lambda s: s.replace("v", "\u0432", 1), lambda s: s + "\u200b",
        lambda s: "\u202e" + s, lambda s: s + "\u0000", lambda s: s + "\ud800", lambda s: s + "\u0301",
        lambda s: s.upper(), lambda s: s.replace("-", "\u2010"), lambda s: s + "\ufeff", lambda s: s[:-1] + "\U0001f600",
        lambda s: s.replace("e", "e\u0301"), lambda s: s.replace("0", "\u0660"),
    ]
    def trick(text: str) -> str:
        while (changed := rng.choice(tricks)(text)) == text:  # some tricks find nothing to change
            pass
        return changed

    for _ in range(120):
        body = base()
        body["ballot"]["voter_id"] = trick(body["ballot"]["voter_id"])
        add("unicode trick", body, {"voter_id_mismatch", "ballot_shape", "malformed_request"})
    for _ in range(60):
        body = base()
        body["ballot"]["election_id"] = trick(body["ballot"]["election_id"])
        add("unicode trick", body, {"ballot_shape", "malformed_request"})
    for _ in range(60):
        body = base()
        name = rng.choice(["ballot", "signature"])
        body[trick(name)] = body.pop(name)
        add("unicode trick", body, {"invalid_request", "malformed_request"})
    for _ in range(60):
        body, path = base(), rng.choice(paths)
        set_in(body["ballot"], path[0], trick(get_in(body["ballot"], path[0])))
        add("unicode trick", body, {"invalid_point", "invalid_scalar", "bad_encoding", "malformed_request"})
    return cases


# --- sending ---------------------------------------------------------------------------------


async def send_all(url: str, path: str, tokens: dict[str, str], cases: list[Case]) -> list[tuple[int, str]]:
    limits = httpx.Limits(max_connections=PARALLEL)
    semaphore = asyncio.Semaphore(PARALLEL)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as http:

        async def send(case: Case) -> tuple[int, str]:
            async with semaphore:
                response = await http.post(
                    path, content=case.body,
                    headers={"Authorization": f"Bearer {tokens[case.sender]}", "Content-Type": "application/json"},
                )
            if response.status_code < 400:
                return response.status_code, f"ACCEPTED {response.text[:200]}"
            return problem(response)

        return await asyncio.gather(*(send(case) for case in cases))


def build_kit(pilot: Pilot, pki, election_id: str) -> tuple[Kit, dict[str, str], list]:
    alice_credential, bob_credential = pki.enroll("E0001"), pki.enroll("E0002")
    alice, bob = pilot.login(alice_credential), pilot.login(bob_credential)
    info = pilot.admin.election_info(election_id)
    alice_id = alice.ensure_registered(election_id).hex
    bob_id = bob.ensure_registered(election_id).hex
    rows = [[[0, 1, 0, 0], [1, 0, 0, 0]], [[1, 0, 0, 0], [0, 0, 0, 0]], [[0, 0, 0, 1], [0, 1, 1, 0]]]
    honest = [pilot.login(pki.enroll(f"H{n:04d}")) for n in range(1, 5)]
    for client in honest:
        client.cast(client.prepare_ballot(election_id, {"days": ["d2"], "tools": ["s1"]}))
    copied = [e["body"] for e in board_entries(pilot.admin, election_id) if e["kind"] == "ballot"]
    kit = Kit(
        info, alice_id, alice_credential, bob_id, bob_credential,
        alice_ballots=[prepare_ballot(info, alice_id, rows[n % 3], alice_credential) for n in range(8)],
        bob_ballots=[prepare_ballot(info, bob_id, rows[n % 3], bob_credential) for n in range(10)],
        copied=[{"ballot": c["ballot"], "signature": c["signature"]} for c in copied],
    )
    tokens = {"alice": alice.session["session_token"], "bob": bob.session["session_token"]}
    return kit, tokens, honest


def sample_by_kind(corpus: list[Case], per_kind: int, rng: random.Random) -> list[Case]:
    """At most ``per_kind`` cases of each kind, in corpus order."""
    by_kind: dict[str, list[int]] = {}
    for n, case in enumerate(corpus):
        by_kind.setdefault(case.kind, []).append(n)
    chosen = sorted(n for indices in by_kind.values() for n in rng.sample(indices, min(per_kind, len(indices))))
    return [corpus[n] for n in chosen]


@pytest.mark.parametrize("full", [pytest.param(False, id="sample"), pytest.param(True, id="full", marks=pytest.mark.slow)])
def test_malformed_ballots_are_refused_and_change_nothing(pki, data_dir, database_url, backend, full):
    rng = random.Random(SEED)
    pilot = start_pilot(pki, data_dir, database_url)
    try:
        election_id = pilot.open_election(two_question_manifest("hostile-2026", revote="last"), ["E0001", "E0002", "H0001", "H0002", "H0003", "H0004"])
        kit, tokens, honest = build_kit(pilot, pki, election_id)
        corpus = generate(kit, rng)
        assert len(corpus) >= 10_000
        if not full:
            corpus = sample_by_kind(corpus, SAMPLE_PER_KIND, rng)
        elif backend == "postgresql":
            large = Counter(c.kind for c in corpus)
            corpus = [c for n, c in enumerate(corpus) if large[c.kind] < 1000 or n % 4 == 0]
        path = f"/api/elections/{election_id}/ballots/"
        started = time.monotonic()
        outcomes: dict[str, Counter] = {}
        wrong: list[str] = []
        first: list[tuple[int, str]] = []
        honest_casts = 0
        for start in range(0, len(corpus), BLOCK):
            block = corpus[start : start + BLOCK]
            before = pilot.snapshot()
            results = asyncio.run(send_all(pilot.url, path, tokens, block))
            after = pilot.snapshot()
            first += results
            for case, (status, code) in zip(block, results):
                outcomes.setdefault(case.kind, Counter())[code] += 1
                if not (400 <= status < 500 and code in case.codes):
                    wrong.append(f"{case.kind}: {status} {code} (expected one of {sorted(case.codes)}): {case.body[-400:]!r}")
            assert not wrong, "\n".join(wrong[:20])
            assert not changed_tables(before, after), f"block at {start}: tables changed: {changed_tables(before, after)}"
            # An honest voter casts between the blocks, and it counts.
            voter = honest[honest_casts % len(honest)]
            receipt = voter.cast(voter.prepare_ballot(election_id, {"days": [rng.choice(["d0", "d1", "d2", "d3"])], "tools": []}))
            voter.check_receipt(receipt)
            honest_casts += 1
        elapsed = time.monotonic() - started

        # The same case gets the same code again (a seeded sample).
        sample = rng.sample(range(len(corpus)), min(300, len(corpus)))
        again = asyncio.run(send_all(pilot.url, path, tokens, [corpus[n] for n in sample]))
        assert again == [first[n] for n in sample], "a refusal changed its code"
        status = pilot.admin.status(election_id)
        assert status["ballots_cast"] == 4 + honest_casts
        assert status["ballots_counted"] == 4
        assert pilot.server.process.poll() is None and httpx.get(pilot.url + "/api/health").status_code == 200
        print(
            f"\nhostile input on {backend}: {len(corpus)} malformed ballots refused (100%, all 4xx with an expected "
            f"code, nothing written) in {elapsed:.0f} s with {honest_casts} honest casts in between; by kind:"
        )
        for kind, codes in outcomes.items():
            print(f"  {kind}: {sum(codes.values())} -> {dict(codes.most_common())}")
    finally:
        pilot.stop()


def test_signature_hex_must_be_canonical(pki, data_dir, database_url):
    """The board keeps the signature as sent, and the election record's verifier
    reads it as lowercase hex: an uppercase or spaced spelling of a valid
    signature is refused, not stored (one voter could otherwise make the
    published record fail verification)."""
    pilot = start_pilot(pki, data_dir, database_url)
    try:
        election_id = pilot.open_election(two_question_manifest("canonical-2026"), ["E0001"])
        voter = pilot.login(pki.enroll("E0001"))
        prepared = voter.prepare_ballot(election_id, {"days": ["d1"], "tools": []})
        signature = prepared.signature.hex()
        path = f"/api/elections/{election_id}/ballots/"
        for spelling in (signature.upper(), " ".join(signature[i : i + 2] for i in range(0, len(signature), 2)), signature + " "):
            body = {"ballot": prepared.ballot.to_json(), "signature": spelling}
            pilot.refused(lambda body=body: voter.post(path, body), 422, "invalid_signature_encoding")
        assert voter.cast(prepared)["tracking_code"] == prepared.tracking_code.hex()
    finally:
        pilot.stop()


def test_text_with_nul_or_control_characters_is_refused(pki, data_dir, database_url):
    """PostgreSQL text cannot hold NUL: a NUL in a roll's name, or in any path or
    query parameter, is refused as bad input (it was a 500 there), and so are the
    other control characters in a roll, on both databases alike."""
    pilot = start_pilot(pki, data_dir, database_url)
    try:
        election_id = pilot.create(two_question_manifest("nul-2026"), [])
        for name, department in (("職員\x00一", "総務課"), ("職員 一", "総務\x00課"), ("職員\x1b[31m一", "総務課"), ("職員 一", "総務\u2028課"), ("\u202e職員 一", "総務課")):
            roll = f"employee_id,name,department\nE0001,{name},{department}\n"
            error = pilot.refused(lambda roll=roll: pilot.admin.import_roll(election_id, roll), 422, "roll_invalid")
            assert error.body["errors"][0]["line"] == 2
        headers = pilot.admin.http.headers
        for path in ("/api/elections/a%00b", f"/api/elections/{election_id}/ballots/a%00b", f"/api/elections/{election_id}/board/inclusion?tracking_code=a%00b"):
            pilot.refused_raw(lambda path=path: httpx.get(pilot.url + path, headers=headers), 400, "malformed_request")
        assert pilot.admin.import_roll(election_id, "employee_id,name,department\nE0001,職員 一,総務課\n") == {"added": 1, "total": 1}
    finally:
        pilot.stop()
