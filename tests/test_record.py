"""The published election record (issues 5 and 11): a real election over HTTP on each
database backend is exported, downloaded and verified; its files match their
JSON Schemas; the download is public but the auditors' part is not; the CLI
exports, verifies and checks receipts; and the verifier stands apart from the
service (it imports none of it).

One election per backend for the whole module (about 4 s each)."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from crypto.credentials import seal_credential
from tests.record_support import (
    AUDITOR,
    ELECTION,
    SINGLE,
    board_entries,
    election_run,
    resign,
    synthetic_run,
)
from tests.support import database_backends, fresh_database_url
from voting.cli import main
from voting.record import files as F
from voting.record.build import derive_views, stage_of
from voting.verify import Bad, verify_receipt_in_record, verify_record

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module", params=database_backends())
def run(request, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp(f"record-{request.param}") / "data"
    data_dir.mkdir(parents=True)
    with election_run(data_dir, fresh_database_url(request.param, data_dir)) as election:
        yield election


def statuses(report) -> dict[int, str]:
    return {c.number: c.status for c in report.checks}


# --- a clean record passes ---------------------------------------------------------------------


@pytest.mark.slow
def test_the_auditors_record_passes_every_check(run):
    report = verify_record(run.private)
    assert report.ok(strict=True), [(c.number, c.failures) for c in report.checks if c.status != "pass"]
    assert statuses(report) == dict.fromkeys(range(1, 13), "pass")
    assert (report.election_id, report.stage, report.ballots, report.counted) == (ELECTION, "published", 11, 8)
    assert report.check(5).items == 11 + 8  # every ballot (the superseded ones too) and every registered credential
    assert not report.check(5).note
    assert report.check(11).items == 1  # E0007's published audit


def test_the_published_audit_is_on_the_board_and_never_cast(run):
    (audit,) = run.audits
    entries = board_entries(run.public)
    entry = entries[audit["leaf_index"]]
    assert entry == audit["entry"] and entry["kind"] == "ballot-audited"
    assert entry["body"]["tracking_code"] not in {e["body"].get("tracking_code") for e in entries if e["kind"] == "ballot"}
    assert entry["body"]["opening"]["selections"][0][1]["m"] == 1  # the choices are public: it was never cast
    outcome = verify_receipt_in_record(audit, run.public)
    assert outcome["audited"] and not outcome["counted"] and outcome["leaf_index"] == audit["leaf_index"]


def test_the_public_record_checks_the_credentials_without_the_auditors_part(run):
    """From the public record alone: every ballot from a distinct registered
    credential, no more credentials than the roll, every signature."""
    assert not any(name.startswith(F.AUDITORS_DIR) for name in run.public)
    report = verify_record(run.public)
    assert report.ok(strict=True)
    assert report.check(5).status == "pass" and report.check(5).items == 11 + 8
    assert "no auditors' part" in report.check(5).note


def test_worker_processes_give_the_same_report(run):
    """The ballots and certificates checked in two worker processes."""
    report = verify_record(run.private, workers=2)
    assert report.workers == 2 and report.ok(strict=True)
    assert report.check(3).worker_seconds > 0


def test_the_one_ballot_policy_record_passes(run):
    report = verify_record(run.single_private)
    assert report.ok(strict=True), [(c.number, c.failures) for c in report.checks if c.status != "pass"]
    assert (report.election_id, report.stage, report.ballots, report.counted) == (SINGLE, "tallied", 3, 3)


def test_the_record_holds_the_election_as_it_happened(run):
    result = json.loads(run.public[F.RESULT])
    assert [[o["count"] for o in q["options"]] for q in result["questions"]] == run.expected
    ballots = json.loads(run.public[F.BALLOTS])
    counted = [b["counted"] for b in ballots]
    assert counted.count(False) == 3 and len(ballots) == 11  # E0001 re-voted once, E0002 twice
    board = [json.loads(line) for line in run.public[F.BOARD].splitlines()]
    assert [e["index"] for e in board] == list(range(len(board)))
    heads = json.loads(run.public[F.TREE_HEADS])
    assert [h["size"] for h in heads] == list(range(1, len(board) + 1))  # one signed head per append
    parameters = json.loads(run.public[F.PARAMETERS])
    assert parameters["server_key"] == httpx.get(run.url + "/api/server-key").json()["server_key"]
    roll = json.loads(run.private[F.ROLL])
    assert sorted(r["employee_id"] for r in roll) == [f"E{i:04d}" for i in range(8)]


def test_a_record_downloaded_while_voting_is_open_verifies_so_far(run):
    report = verify_record(run.while_open)
    assert report.stage == "open" and report.ok()
    assert {n for n, s in statuses(report).items() if s == "skip"} == {8, 9, 10}
    # It is a prefix of the final board.
    assert run.public[F.BOARD].startswith(run.while_open[F.BOARD])


def test_a_record_exported_before_the_close_verifies_up_to_its_end(run):
    """A record is a prefix of the board: cut before the close, checks 8-10 have nothing to check yet."""
    entries = board_entries(run.private)
    cut = next(e["index"] for e in entries if e["kind"] == "election-closed")
    files = _prefix(run.private, cut)
    report = verify_record(files)
    assert report.stage == "open" and report.ok()
    assert {n for n, s in statuses(report).items() if s == "skip"} == {8, 9, 10}


def _prefix(files: dict[str, bytes], size: int) -> dict[str, bytes]:
    """The record exactly as it would have been exported when the board had ``size`` entries."""
    lines = files[F.BOARD].splitlines()[:size]
    entries = [json.loads(line) for line in lines]
    out = dict(files)
    out[F.BOARD] = b"".join(line + b"\n" for line in lines)
    out[F.TREE_HEADS] = _json(json.loads(files[F.TREE_HEADS])[:size])
    for name, doc in derive_views(entries).items():
        out[name] = _json(doc)
    record = json.loads(files[F.RECORD])
    record.update(board_size=size, stage=stage_of(entries))
    out[F.RECORD] = _json(record)
    return out


def _json(doc: object) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode()


# --- the files and their schemas ---------------------------------------------------------------


def _schemas() -> tuple[dict[str, dict], Registry]:
    schemas = {path.name: json.loads(path.read_text(encoding="utf-8")) for path in F.SCHEMA_DIR.glob("*.schema.json")}
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas.values())
    return schemas, registry


def test_every_schema_is_a_valid_json_schema():
    schemas, _ = _schemas()
    assert set(F.SCHEMAS.values()) | {"common.schema.json"} == set(schemas)
    for schema in schemas.values():
        Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("which", ["private", "single_private"])
def test_every_file_matches_its_schema(run, which):
    _matches_the_schemas(getattr(run, which))


def test_every_file_of_a_synthetic_record_matches_its_schema():
    """The synthetic record has what a small live election may not: published
    audits and a roll member who never registered."""
    synthetic = synthetic_run()
    kinds = {e["kind"] for e in board_entries(synthetic.private)}
    assert {"credential-registered", "ballot-audited", "ballot-superseded"} <= kinds
    assert any(r["credential"] is None for r in json.loads(synthetic.private[F.ROLL]))
    _matches_the_schemas(synthetic.private)
    _matches_the_schemas(synthetic.single_private)


def _matches_the_schemas(files: dict[str, bytes]) -> None:
    schemas, registry = _schemas()
    assert set(files) == set(F.ALL_FILES)
    for name, data in files.items():
        validator = Draft202012Validator(schemas[F.SCHEMAS[name]], registry=registry)
        docs = [json.loads(line) for line in data.splitlines()] if name == F.BOARD else [json.loads(data)]
        for doc in docs:
            errors = [f"{name} {list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
            assert not errors, errors[:5]


def test_the_schemas_refuse_what_the_record_never_holds(run):
    """The schemas are not vacuous: a wrong field fails them."""
    schemas, registry = _schemas()
    entry = next(e for e in board_entries(run.public) if e["kind"] == "ballot")
    entry["body"]["ballot"]["questions"][0]["selections"][0]["alpha"] = "00" * 32  # the identity
    board = Draft202012Validator(schemas[F.SCHEMAS[F.BOARD]], registry=registry)
    assert not board.is_valid(entry)
    heads = Draft202012Validator(schemas[F.SCHEMAS[F.TREE_HEADS]], registry=registry)
    doc = json.loads(run.public[F.TREE_HEADS])
    doc[0]["root"] = doc[0]["root"].upper()
    assert not heads.is_valid(doc)


# --- the download ------------------------------------------------------------------------------


def test_the_auditors_part_needs_an_auditor_or_admin(run):
    url = f"{run.url}/api/elections/{ELECTION}/record/private"
    anonymous = httpx.get(url)
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "not_logged_in"
    from voting.client import Client

    with Client(run.url) as voter:
        voter.login(run.credentials["E0000"])
        refused = voter.http.get(f"/api/elections/{ELECTION}/record/private")
        assert refused.status_code == 403 and refused.json()["code"] == "not_auditor"
        assert "auditors/roll.json" not in refused.text
        public = voter.http.get(f"/api/elections/{ELECTION}/record")
        assert public.status_code == 200
        assert F.read_record_zip(public.content).keys() == set(F.PUBLIC_FILES)


def test_an_unknown_election_has_no_record(run):
    reply = httpx.get(f"{run.url}/api/elections/no-such-election/record")
    assert reply.status_code == 404 and reply.json()["code"] == "election_not_found"


# --- the command line --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def auditor_credential(run, tmp_path_factory) -> Path:
    credential = run.credentials[AUDITOR]
    path = tmp_path_factory.mktemp("auditor") / "auditor.json"
    doc = seal_credential(credential.private_key, credential.chain, "135790", employee_id=AUDITOR, name=credential.name, iterations=1000)
    path.write_text(json.dumps(doc))
    return path


def invoke(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_cli_exports_and_verifies_the_record(run, tmp_path, auditor_credential):
    out = tmp_path / "public"
    result = invoke("election", "export", ELECTION, out, "--server", run.url)
    assert result.exit_code == 0, result.output
    assert (out / F.BOARD).is_file() and not (out / F.AUDITORS_DIR).exists()
    assert invoke("election", "export", ELECTION, out, "--server", run.url).exit_code == 1  # no silent overwrite
    result = invoke("verify", out)
    assert result.exit_code == 0, result.output
    assert "All checks passed" in result.output
    assert invoke("verify", out, "--strict").exit_code == 0  # check 5's public part needs no auditors' part

    archive = tmp_path / "auditors.zip"
    result = invoke("election", "export", ELECTION, archive, "--private", "--credential", auditor_credential, "--pin", "135790", "--server", run.url)
    assert result.exit_code == 0, result.output
    result = invoke("verify", archive, "--json", "--strict", "--workers", "1")
    assert result.exit_code == 0, result.output
    assert [c["status"] for c in json.loads(result.output)["checks"]] == ["pass"] * 12

    assert invoke("election", "export", ELECTION, tmp_path / "x", "--private", "--server", run.url).exit_code == 1


def test_cli_verify_fails_on_a_tampered_record_and_names_the_check(run, tmp_path):
    result = json.loads(run.private[F.RESULT])
    result["questions"][0]["options"][0]["count"] += 1
    F.write_record({**run.private, F.RESULT: _json(result)}, tmp_path / "tampered")
    outcome = invoke("verify", tmp_path / "tampered")
    assert outcome.exit_code == 1
    assert "does NOT verify" in outcome.output and "checks 10" in outcome.output
    report = json.loads(invoke("verify", tmp_path / "tampered", "--json").output)
    assert [c["number"] for c in report["checks"] if c["status"] == "fail"] == [10]
    assert "result.json differs" in report["checks"][9]["failures"][0]


def test_cli_verify_pins_the_server_key(run, tmp_path):
    F.write_record(run.public, tmp_path / "record")
    key = json.loads(run.public[F.PARAMETERS])["server_key"]
    assert invoke("verify", tmp_path / "record", "--server-key", key).exit_code == 0
    other = ("0" if key[0] != "0" else "1") + key[1:]
    result = invoke("verify", tmp_path / "record", "--server-key", other, "--json")
    assert result.exit_code == 1
    checks = json.loads(result.output)["checks"]
    assert "another server signed it" in checks[0]["failures"][0]
    assert checks[6]["status"] == "fail"  # and no tree head carries the pinned key's signature
    assert invoke("verify", tmp_path / "record", "--server-key", "xyz").exit_code == 1


def test_cli_verify_refuses_what_is_not_a_record(tmp_path):
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    result = invoke("verify", tmp_path / "junk.zip")
    assert result.exit_code == 1 and "neither a record directory nor a zip" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = invoke("verify", empty, "--json")
    assert result.exit_code == 1
    assert "board.jsonl is missing" in json.loads(result.output)["checks"][6]["failures"][0]


# --- receipts ----------------------------------------------------------------------------------


def test_every_receipt_verifies_against_the_record(run):
    for voter, receipts in run.receipts.items():
        for number, receipt in enumerate(receipts):
            outcome = verify_receipt_in_record(receipt, run.public)
            assert outcome["leaf_index"] == receipt["leaf_index"]
            assert outcome["counted"] == (number == len(receipts) - 1), voter  # the last ballot counts


def test_a_receipt_detects_a_board_rewritten_without_its_ballot(run):
    """A server that drops a ballot and re-signs a whole new board (a fork)
    fools the record's own checks of the board, but not the voter's receipt."""
    receipt = run.receipts["E0005"][0]
    entries = [e for e in board_entries(run.public) if e["index"] != receipt["leaf_index"]]
    forged = resign(run.public, entries, run.server_key)
    with pytest.raises(Bad, match="not the ballot on the receipt|newer than the record"):
        verify_receipt_in_record(receipt, forged)
    tampered = json.loads(json.dumps(receipt))
    tampered["leaf_index"] += 1
    with pytest.raises(Exception, match="signature"):
        verify_receipt_in_record(tampered, run.public)


def test_cli_checks_a_receipt_against_a_record_and_a_server(run, tmp_path):
    receipt_path = tmp_path / "receipt.json"
    receipt_path.write_text(json.dumps(run.receipts["E0001"][0]))
    F.write_record(run.public, tmp_path / "record")
    result = invoke("verify-receipt", receipt_path, "--record", tmp_path / "record")
    assert result.exit_code == 0, result.output
    assert "superseded" in result.output
    result = invoke("verify-receipt", receipt_path, "--server", run.url, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["leaf_index"] == run.receipts["E0001"][0]["leaf_index"]
    assert invoke("verify-receipt", receipt_path).exit_code == 1  # needs --record or --server
    bad = json.loads(receipt_path.read_text())
    bad["tracking_code"] = "00" * 32
    receipt_path.write_text(json.dumps(bad))
    result = invoke("verify-receipt", receipt_path, "--record", tmp_path / "record")
    assert result.exit_code == 1 and "does NOT verify" in result.output


# --- the verifier stands apart ------------------------------------------------------------------

#: What the verifier must never use: the service's database and code paths.
FORBIDDEN = (
    "voting.db", "voting.board", "voting.ballots", "voting.tally", "voting.elections", "voting.auth",
    "voting.services", "voting.app", "sqlalchemy", "litestar", "alembic", "aiosqlite", "asyncpg",
)
VERIFIER_MODULES = [*sorted((ROOT / "voting" / "verify").glob("*.py")), ROOT / "voting" / "record" / "files.py"]


@pytest.mark.parametrize("path", VERIFIER_MODULES, ids=lambda p: p.name)
def test_the_verifier_source_imports_nothing_of_the_service(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {
        f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }
    bad = sorted(name for name in imported if name.startswith(FORBIDDEN))
    assert not bad
    # voting.wire.record: the record's files as Structs, the one definition the verifier reads them with.
    allowed = ("crypto", "voting.verify", "voting.record.files", "voting.wire.record", "cryptography")
    project = sorted(name for name in imported if name.split(".")[0] in ("crypto", "voting"))
    assert all(name.startswith(allowed) for name in project), project


def test_loading_the_verifier_loads_nothing_of_the_service():
    """The transitive check: a fresh interpreter imports the verifier (and the
    benchmark's synthesiser) and none of the service's modules appear."""
    code = (
        "import sys, json, voting.verify, voting.record.bench;"
        "print(json.dumps(sorted(sys.modules)))"
    )
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout)
    assert not [m for m in loaded if m.startswith(FORBIDDEN)]


# --- the documentation cannot drift -------------------------------------------------------------

DOC = (ROOT / "docs" / "election-record.md").read_text(encoding="utf-8")


def test_the_documented_checks_are_the_verifiers():
    from voting.verify import CHECKS

    documented = dict(re.findall(r"^### (\d+)\. (.+?)(?: \(auditors' part\))?$", DOC, flags=re.MULTILINE))
    assert {int(n): title for n, title in documented.items()} == {n: titles[0] for n, titles in CHECKS.items()}
    for name in F.ALL_FILES:
        assert name in DOC, name


def test_the_documented_validation_example_runs(run, tmp_path, monkeypatch):
    code = re.search(r"```python\n(.*?)```", DOC, flags=re.DOTALL).group(1)
    F.write_record(run.private, tmp_path / "record")
    (tmp_path / "voting").symlink_to(ROOT / "voting")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "docs/election-record.md", "exec"), {})
