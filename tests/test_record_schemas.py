"""The election record's files are defined once, as msgspec Structs
(voting/wire/record.py): the published JSON Schemas (voting/record/schemas/)
are generated from them, and the verifier reads every file with them
(voting/verify/parse.py).

* the committed schemas are the generated ones, byte for byte;
* they are valid draft 2020-12 schemas, every object closed to unknown members;
* a record made before them (the golden record) and a freshly synthesised one
  validate against them, and convert to the Structs;
* a record with an unknown member in a board entry's body, or a hex string of
  the wrong length, fails them, and fails the verifier's check of that kind
  of entry, which names the file and the path;
* the rules across members (a registration is signed or attested; an
  enrollment's proof is a token or the server's word) are the same in both.
"""

from __future__ import annotations

import json
from typing import get_args, get_type_hints

import msgspec
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from crypto.entry_kinds import BOARD_ENTRY_KINDS, STAGES
from tests.data.gen_golden_record import RECORD_DIR
from tests.record_support import board_entries, resign, synthetic_run
from voting.record import files as F
from voting.record.files import read_record
from voting.verify import verify_record
from voting.verify.board import GUARDED_BY
from voting.verify.parse import Bad, conform
from voting.wire import record
from voting.wire.record_schemas import COMMON, REGENERATE, differences, generate


@pytest.fixture(scope="module")
def generated() -> dict[str, dict]:
    return {name: json.loads(text) for name, text in generate().items()}


@pytest.fixture(scope="module")
def run():
    return synthetic_run()


def _validators(schemas: dict[str, dict]) -> dict[str, Draft202012Validator]:
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas.values())
    return {name: Draft202012Validator(schemas[filename], registry=registry) for name, filename in F.SCHEMAS.items()}


def _documents(name: str, data: bytes) -> list[object]:
    return [json.loads(line) for line in data.splitlines()] if name == F.BOARD else [json.loads(data)]


def _schema_errors(validators: dict[str, Draft202012Validator], files: dict[str, bytes]) -> list[str]:
    errors = []
    for name, data in files.items():
        for doc in _documents(name, data):
            errors += [f"{name} {list(e.absolute_path)}: {e.message}" for e in validators[name].iter_errors(doc)]
    return errors


def _struct_errors(files: dict[str, bytes]) -> list[str]:
    errors = []
    for name, data in files.items():
        for doc in _documents(name, data):
            try:
                conform(doc, name)
            except Bad as exc:
                errors.append(str(exc))
    return errors


# --- the committed schemas are the generated ones ------------------------------------------------------


def test_the_committed_schemas_are_the_generated_ones():
    wrong = differences()
    assert not wrong, (
        f"voting/record/schemas/ differs from what voting/wire/record.py generates ({', '.join(wrong)}): "
        f"regenerate them with `{REGENERATE}` and commit them"
    )


def test_the_generator_knows_every_file_of_the_record():
    assert set(record.FILES) == set(F.SCHEMAS) == set(F.ALL_FILES)
    assert set(generate()) == set(F.SCHEMAS.values()) | {COMMON}


def test_the_structs_say_what_files_py_says():
    members = get_type_hints(record.RecordFile)
    assert get_args(members["format"]) == (F.FORMAT,)
    assert get_args(members["version"]) == (F.VERSION,)
    assert set(get_args(members["stage"])) == {"empty"} | {stage for _, stage in STAGES}
    assert set(record.ENTRY_TYPES) == BOARD_ENTRY_KINDS


def test_every_generated_schema_is_valid_and_keeps_its_id(generated):
    for filename, schema in generated.items():
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"] == "urn:votingpilot:record:v1:" + filename.removesuffix(".schema.json")
        assert schema["title"]


def test_every_object_refuses_unknown_members(generated):
    """Each Struct's object is closed (``additionalProperties: false``); a map
    (``public_shares``) constrains its names and its values instead."""
    count = 0
    for filename, schema in generated.items():
        for node in (n for n in _walk(schema) if n.get("type") == "object"):
            count += 1
            closed = node.get("additionalProperties") is False
            a_map = "propertyNames" in node and isinstance(node.get("additionalProperties"), dict)
            assert closed or a_map, (filename, node.get("title"), sorted(node))
    assert count > 50


def test_each_file_s_schema_stands_alone(generated):
    """No file's schema refers to another document: a reader validates one file with one schema."""
    for filename, schema in generated.items():
        refs = {value for node in _walk(schema) for key, value in node.items() if key == "$ref"}
        assert all(ref.startswith("#/$defs/") for ref in refs), (filename, refs)


def _walk(node: object):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def test_common_keeps_the_names_of_the_shared_definitions(generated):
    """A $ref into common.schema.json by an earlier name still resolves."""
    definitions = generated[COMMON]["$defs"]
    for name in ("hex32", "hex", "point", "point_or_identity", "scalar", "ciphertext", "challenge_response",
                 "disjunctive_proof", "id", "text", "time", "index", "trustee_index", "employee_id", "base64",
                 "trustee_signature", "witnesses", "signed_tree_head", "cosignature"):
        assert name in definitions, name
    registry = Registry().with_resource(generated[COMMON]["$id"], Resource.from_contents(generated[COMMON]))
    hex32 = Draft202012Validator({"$ref": "urn:votingpilot:record:v1:common#/$defs/hex32"}, registry=registry)
    assert hex32.is_valid("ab" * 32) and not hex32.is_valid("AB" * 32) and not hex32.is_valid("ab" * 32 + "\n")


# --- real records validate; mutated ones do not -------------------------------------------------------


def test_the_golden_record_matches_the_generated_schemas_and_structs(generated):
    files = read_record(RECORD_DIR)
    assert set(files) == set(F.ALL_FILES)
    assert _schema_errors(_validators(generated), files) == []
    assert _struct_errors(files) == []


def test_a_freshly_built_record_matches_the_generated_schemas_and_structs(generated, run):
    kinds = {e["kind"] for e in board_entries(run.private)}
    assert {"credential-registered", "ballot-audited", "ballot-superseded", "admin-action"} <= kinds
    validators = _validators(generated)
    for files in (run.private, run.single_private, run.public):
        assert _schema_errors(validators, files) == []
        assert _struct_errors(files) == []


def _mutated_board(run, edit) -> dict[str, bytes]:
    entries = board_entries(run.private)
    edit(entries)
    return resign(run.private, entries, run.server_key)


def _ballot(entries: list[dict]) -> dict:
    return next(e for e in entries if e["kind"] == "ballot")


@pytest.mark.parametrize(
    ("case", "path", "says"),
    [
        ("unknown member in a body", ["body"], "Object contains unknown field `note` - at `$.body`"),
        ("hex of the wrong length", ["body", "ballot", "questions", 0, "selections", 0, "alpha"], "at `$.body.ballot.questions[0].selections[0].alpha`"),
    ],
)
def test_a_mutated_board_entry_fails_the_schema_and_the_verifier(generated, run, case, path, says):
    def edit(entries: list[dict]) -> None:
        body = _ballot(entries)["body"]
        if case == "unknown member in a body":
            body["note"] = "trust me"
        else:
            selection = body["ballot"]["questions"][0]["selections"][0]
            selection["alpha"] = selection["alpha"][:-2]

    files = _mutated_board(run, edit)
    index = _ballot(board_entries(files))["index"]
    board = _validators(generated)[F.BOARD]
    line = board_entries(files)[index]
    assert not board.is_valid(line)
    assert _struct_errors({F.BOARD: files[F.BOARD]}) != []
    report = verify_record(files, workers=1)
    # A ballot's body is check 3's to judge (well-formed ballots); the board itself (check 7) is sound.
    assert 3 in report.failed() and report.check(7).status == "pass"
    failures = report.check(3).failures
    assert any(f.startswith(f"{F.BOARD}: entry {index} (ballot): ") and says in f for f in failures), failures


def test_every_kind_of_entry_is_guarded_by_a_check():
    assert set(GUARDED_BY) == BOARD_ENTRY_KINDS


def test_an_entry_s_envelope_of_the_wrong_shape_fails_check_7(run):
    """A time Python's fromisoformat reads but the record's format does not allow (a space for the T)."""
    files = _mutated_board(run, lambda entries: entries[3].update(time=entries[3]["time"].replace("T", " ")))
    report = verify_record(files, workers=1)
    assert report.failed() == [7]
    assert any(f.startswith(f"{F.BOARD}: entry 3 (") and "at `$.time`" in f for f in report.check(7).failures)


def test_a_view_of_the_wrong_shape_fails_its_check_with_the_file_and_the_path(generated, run):
    trustees = json.loads(run.private[F.TRUSTEES])
    trustees[1]["share_public_key"] = trustees[1]["share_public_key"][:40]
    files = {**run.private, F.TRUSTEES: json.dumps(trustees).encode()}
    assert not _validators(generated)[F.TRUSTEES].is_valid(trustees)
    report = verify_record(files, workers=1)
    assert report.failed() == [2]
    assert any(f.startswith(f"{F.TRUSTEES}: ") and "at `$[1].share_public_key`" in f for f in report.check(2).failures)


def test_strict_json_still_comes_first(run):
    """Duplicate members and floats are refused before any Struct sees the document."""
    doubled = run.private[F.RECORD].replace(b'"stage"', b'"stage": "open", "stage"', 1)
    report = verify_record({**run.private, F.RECORD: doubled}, workers=1)
    assert any("duplicate member 'stage'" in f for f in report.check(1).failures)
    floats = run.private[F.TREE_HEADS].replace(b'"size": 1,', b'"size": 1.0,', 1)
    assert floats != run.private[F.TREE_HEADS]
    report = verify_record({**run.private, F.TREE_HEADS: floats}, workers=1)
    assert any("a number with a fraction or exponent" in f for f in report.check(7).failures)


# --- the rules across members ------------------------------------------------------------------------


def _agree(generated: dict, name: str, doc: object) -> bool:
    """Whether the schema and the Struct both accept ``doc`` (they must agree)."""
    schema_ok = _validators(generated)[name].is_valid(doc)
    try:
        msgspec.convert(doc, record.FILES[name].type, strict=True)
        struct_ok = True
    except msgspec.ValidationError:
        struct_ok = False
    assert schema_ok == struct_ok, (name, doc, schema_ok, struct_ok)
    return schema_ok


def test_a_registration_is_signed_or_attested(generated):
    chain = ["TUlJQg=="]
    at = "2026-01-01T00:00:00.000Z"

    def roll(registration: dict) -> list[dict]:
        return [{"employee_id": "E0001", "name": "x", "credential": "ab" * 32, "registration": registration}]

    assert _agree(generated, F.ROLL, roll({"chain": chain, "signature": "00" * 64, "registered_at": at}))
    assert _agree(generated, F.ROLL, roll({"chain": chain, "signature": None, "attested": "client-certificate", "registered_at": at}))
    assert not _agree(generated, F.ROLL, roll({"chain": chain, "signature": None, "registered_at": at}))
    assert not _agree(generated, F.ROLL, roll({"chain": chain, "signature": "00", "attested": "client-certificate", "registered_at": at}))
    assert not _agree(generated, F.ROLL, roll({"chain": chain, "signature": None, "attested": "card", "registered_at": at}))


def test_an_enrollment_proof_is_a_token_or_the_server_s_word(generated):
    def enrollments(proof: dict) -> dict:
        return {
            "anchors": [{"name": "cards", "certificates": ["TUlJQg=="]}],
            "enrollments": [
                {
                    "fingerprint": "ab" * 32, "employee_id": "E0001", "anchor": "cards", "chain": ["TUlJQg=="],
                    "proof": proof, "enrolled_at": "2026-01-01T00:00:00Z", "revoked_at": None,
                }
            ],
        }

    assert _agree(generated, F.ENROLLMENTS, enrollments({"token": "a.b.c"}))
    assert _agree(generated, F.ENROLLMENTS, enrollments({"via": "client-certificate"}))
    assert not _agree(generated, F.ENROLLMENTS, enrollments({}))
    assert not _agree(generated, F.ENROLLMENTS, enrollments({"token": "a.b.c", "via": "client-certificate"}))
    assert not _agree(generated, F.ENROLLMENTS, enrollments({"via": "telepathy"}))


@pytest.mark.parametrize(
    "value",
    ["ab" * 32 + "\n", "AB" * 32, "ab" * 31, "00" * 32],
    ids=["trailing-newline", "uppercase", "short", "identity"],
)
def test_a_point_is_exactly_64_lowercase_hex_characters_and_never_the_identity(generated, value):
    parameters = {
        "election_id": "e-2026", "group": "ristretto255", "trustees": 3, "trustee_ids": ["T1", "T2", "T3"], "threshold": 2,
        "ceremony_fingerprint": "ab" * 32, "joint_key": "cd" * 32, "fingerprint": None, "revote_policy": "last",
        "server_key": "ef" * 32,
    }
    assert _agree(generated, F.PARAMETERS, parameters)
    assert not _agree(generated, F.PARAMETERS, {**parameters, "joint_key": value})


# --- hostile input (the attack review of the Structs) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "edit"),
    [
        (F.RECORD, lambda doc: doc.update(stage="\ud800" + doc["stage"])),
        (F.MANIFEST, lambda doc: doc.update(revote_policy="\udc00last")),
        (F.PARAMETERS, lambda doc: doc.update(group="ristretto255\ud800")),
    ],
    ids=["record-stage", "manifest-policy", "parameters-group"],
)
def test_a_lone_surrogate_where_a_literal_is_expected_is_a_finding_not_a_crash(name, edit):
    """msgspec encodes a string to compare it with a Literal; a lone surrogate
    (the JSON escape ``\\ud800``, valid JSON) cannot be: that must be check 1's
    finding, not a crash of check 1 that blocks every other check."""
    files = read_record(RECORD_DIR)
    doc = json.loads(files[name])
    edit(doc)
    files[name] = json.dumps(doc).encode()  # ensure_ascii: the lone surrogate is written as its escape
    with pytest.raises(Bad, match="not valid Unicode"):
        conform(doc, name)
    report = verify_record(files, workers=1)
    assert [c.number for c in report.checks if c.status == "fail"] == [1]
    assert not [f for c in report.checks for f in c.failures if "could not finish" in f]
    assert not [c.number for c in report.checks if c.status == "blocked"]


def test_a_hex_signature_is_refused_by_its_length_before_its_pattern(generated):
    """Matching ``([0-9a-f]{2})*`` costs Python's ``re`` a backtracking frame
    per repeat (tens of bytes per character): a hostile record's megabytes-long
    "signature" took gigabytes. Its length is checked first, in the Struct and
    in the schema, which agree."""
    roll = json.loads(read_record(RECORD_DIR)[F.ROLL])
    row = next(r for r in roll if r["registration"] and r["registration"]["signature"])
    row["registration"]["signature"] = "ab" * (record.MAX_HEX // 2)
    assert _agree(generated, F.ROLL, roll)
    row["registration"]["signature"] = "ab" * (record.MAX_HEX // 2 + 1)
    assert not _agree(generated, F.ROLL, roll)
    row["registration"]["signature"] = "a" * (10**6 + 1)
    with pytest.raises(Bad, match=r"length <= 2048 - at `\$\[\d+\]\.registration\.signature`"):
        conform(roll, F.ROLL)


def test_a_broken_trust_file_fails_check_2_rather_than_passing_as_public_only():
    """``auditors/trust.json`` its Struct refuses (``crls`` an object, not a
    list): the trustees' certificates cannot be checked, and check 2 says so
    instead of passing with the note of a record that has no auditors' part."""
    files = read_record(RECORD_DIR)
    trust = json.loads(files[F.TRUST])
    files[F.TRUST] = json.dumps({**trust, "crls": {}}).encode()
    report = verify_record(files, workers=1)
    assert report.check(2).status == "fail"
    assert any(f"{F.TRUST} is unusable" in f for f in report.check(2).failures)
    assert report.check(5).status == "fail"
