"""The trustee page's record verifier (static/js/record_verify.js) against
Python's (voting/verify/): the same verdict, check by check, for the
checks a trustee needs before decrypting (voting/client.py REQUIRED_CHECKS),
on records made by Python — clean ones, and every mutation of
tests/test_record_mutations.py (byte changes, re-signed board entries, field
changes) — in the auditors' mode (CRLs issued after each event) and in the
trustee's (CRLs current now, the server key pinned).

One node process verifies the whole corpus (about a minute)."""

from __future__ import annotations

import base64
import json
import os
import random
import re
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization

from tests import test_record_mutations as M
from tests.record_support import resign, synthetic_run
from tests.test_web_js import ROOT, node
from voting.client import REQUIRED_CHECKS
from voting.record import files as F
from voting.record.files import record_zip
from voting.verify import verify_record

RUNNER = ROOT / "tests" / "js" / "record_verify_run.mjs"


def _byte_case(clean: dict[str, bytes], name: str, k: int) -> dict[str, bytes]:
    """test_record_mutations.test_one_byte_changed's record."""
    rng = random.Random(f"{name}/{k}")
    candidates = M._candidates(clean[name], M.BYTE_TARGETS[name])
    position, _ = random.Random(name).sample(candidates, M.PER_FILE)[k]
    data = bytearray(clean[name])
    data[position] = ord(M._other(chr(data[position]), rng))
    return {**clean, name: bytes(data)}


def _resigned_case(run, clean: dict[str, bytes], kind: str, k: int) -> dict[str, bytes]:
    """test_record_mutations.test_one_byte_of_a_board_entry_changed_and_re_signed's record."""
    rng = random.Random(f"resigned/{kind}/{k}")
    pattern, _ = M.RESIGNED_TARGETS[kind]
    lines = clean[F.BOARD].splitlines()
    candidates = [
        (number, position)
        for number, line in enumerate(lines)
        if json.loads(line)["kind"] == kind
        for match in re.finditer(pattern, line.decode())
        for position in range(*match.span(1))
        if line[position : position + 1].isalnum()
    ]
    number, position = random.Random(kind).sample(candidates, M.PER_KIND)[k]
    line = bytearray(lines[number])
    line[position] = ord(M._other(chr(line[position]), rng))
    entries = [json.loads(x) for x in lines]
    entries[number] = json.loads(bytes(line))
    return resign(clean, entries, run.server_key)


#: The whole corpus takes about 15 minutes of node (a ballot's proofs cost about
#: 0.1 s in JavaScript); by default a fixed sample of it runs (about 2 minutes):
#: every field mutation of checks 2, 5 and 11 and of the trust anchors and CRLs,
#: every third other field mutation, one byte change per file and one re-signed
#: change per kind of entry. RECORD_VERIFY_JS_FULL=1 runs all of it.
FULL = os.environ.get("RECORD_VERIFY_JS_FULL") == "1"


def _sampled(number: int, name: str, expected: int) -> bool:
    return FULL or expected in (2, 5, 11) or name.startswith(("trust_", "registration_")) or number % 3 == 0


@pytest.fixture(scope="module")
def corpus():
    run = synthetic_run()
    clean = dict(run.private)
    pinned = run.server_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    cases: dict[str, dict[str, bytes]] = {"clean": clean, "clean-public": run.public, "clean-single": dict(run.single_private)}
    for name, k in M.BYTE_CASES:
        if FULL or k == 0:
            cases[f"byte/{name}/{k}"] = _byte_case(clean, name, k)
    for kind, k in M.RESIGNED_CASES:
        if FULL or k == 0:
            cases[f"resigned/{kind}/{k}"] = _resigned_case(run, clean, kind, k)
    ctx = M.Ctx(run)
    for number, (name, (expected, mutate, _)) in enumerate(M.FIELD_CASES.items()):
        if _sampled(number, name, expected):
            cases[f"field/{name}"] = mutate(ctx)
    items = []
    for name, files in cases.items():
        items.append({"name": name, "files": files, "server_key": None, "crls_after_events": True})
    # The trustee's mode: the server key pinned, CRLs current now.
    trustee = [n for n in cases if FULL and n.startswith("field/")] or [n for n in cases if n.startswith(("field/trust_", "field/registration_"))]
    for name in ["clean", "clean-single", *trustee]:
        items.append({"name": f"trustee:{name}", "files": cases[name], "server_key": pinned, "crls_after_events": False})
    # And a record signed by another server than the pinned one.
    items.append({"name": "trustee:other-server", "files": clean, "server_key": bytes(32), "crls_after_events": False})
    return items


def _run_node(items: list[dict], tmp_path) -> dict:
    docs = []
    for item in items:
        doc = {"name": item["name"], "crls_after_events": item["crls_after_events"], "server_key": item["server_key"].hex() if item["server_key"] else None}
        if item.get("trust_anchors") is not None:  # the roots the reader pinned (DER)
            doc["trust_anchors"] = [base64.b64encode(der).decode() for der in item["trust_anchors"]]
        if item["name"] == "clean":  # one record through the zip reader the page uses
            doc["zip"] = base64.b64encode(record_zip(item["files"])).decode()
        else:
            doc["files"] = {k: base64.b64encode(v).decode() for k, v in item["files"].items()}
        docs.append(doc)
    path = tmp_path / "corpus.json"
    path.write_text(json.dumps(docs))
    result = subprocess.run([node(), str(RUNNER), str(path)], capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.timeout(3600 if FULL else 900)
@pytest.mark.slow
def test_the_browser_verifier_gives_python_s_verdict_on_every_record(corpus, tmp_path):
    js = _run_node(corpus, tmp_path)
    differences = []
    for item in corpus:
        report = verify_record(item["files"], workers=1, server_key=item["server_key"], crls_after_events=item["crls_after_events"])
        mine = js[item["name"]]
        for number in REQUIRED_CHECKS:
            python = report.check(number)
            status, first = mine[str(number)]
            if status != python.status:
                differences.append(f"{item['name']} check {number}: python {python.status} ({python.first_failure or python.note}), js {status} ({first})")
    assert not differences, f"{len(differences)} differences:\n" + "\n".join(differences[:60])
    # The corpus is not trivially all-pass: every required check fails somewhere.
    failing = {n for item in corpus for n in REQUIRED_CHECKS if js[item["name"]][str(n)][0] == "fail"}
    assert failing == set(REQUIRED_CHECKS)
    assert all(js["clean"][str(n)][0] == "pass" for n in REQUIRED_CHECKS)
    assert all(js["trustee:clean"][str(n)][0] == "pass" for n in REQUIRED_CHECKS)


@pytest.mark.slow
def test_a_file_its_struct_refuses_is_unusable_as_in_python(tmp_path):
    """A board ballot whose signature is not 64 bytes (its body, and the
    ballots.json row that copies it, refused by their Structs) and a
    ballots.json row with an extra column: the same failed checks as Python
    (the default corpus samples only the first)."""
    run = synthetic_run()
    ctx = M.Ctx(run)
    names = ["board_signature_by_the_certificate", "ballots_extra_column"]
    items = [{"name": n, "files": M.FIELD_CASES[n][1](ctx), "server_key": None, "crls_after_events": True} for n in names]
    # auditors/trust.json present and refused: check 2 cannot check the trustees' certificates.
    trust = json.loads(ctx.files[F.TRUST])
    broken_trust = {**ctx.files, F.TRUST: json.dumps({**trust, "crls": {}}).encode()}
    items.append({"name": "trust_crls_not_a_list", "files": broken_trust, "server_key": None, "crls_after_events": True})
    js = _run_node(items, tmp_path)
    for item in items:
        report = verify_record(item["files"], workers=1)
        verdicts = {n: (report.check(n).status, js[item["name"]][str(n)][0]) for n in REQUIRED_CHECKS}
        assert all(python == script for python, script in verdicts.values()), (item["name"], verdicts)
    failed = {item["name"]: {n for n in REQUIRED_CHECKS if js[item["name"]][str(n)][0] == "fail"} for item in items}
    assert failed == {"board_signature_by_the_certificate": {3, 4, 5, 6}, "ballots_extra_column": {4, 6}, "trust_crls_not_a_list": {2, 5}}
