"""The browser's JavaScript cryptography (voting/web/static/js) against the
Python core: node's test runner over tests/vectors/, then ballots, login
tokens and receipt checks made by the JavaScript and judged by Python (and
the other way round).

Needs Node.js and the bundle that ``make install`` builds (npm ci, npm run
build); a missing one fails these tests rather than skipping them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crypto import ca
from crypto import log as merkle
from crypto.ballots import (
    AuditOpening,
    EncryptedBallot,
    Manifest,
    election_fingerprint,
    format_tracking_code,
    tracking_code,
    verify_audit_opening,
    verify_ballot,
)
from crypto.credentials import (
    MemoryNonceRegistry,
    TrustStore,
    seal_credential,
    verify_ballot_signature,
    verify_login_token,
)
from crypto.elgamal import KeyPair
from crypto.encoding import canonical_json
from crypto.receipts import make_receipt
from tests.support import manifest as survey_manifest

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "voting" / "web" / "static" / "vendor" / "noble.js"
TOOLS = ROOT / "tests" / "js" / "tools.mjs"
PIN = "135790"


def node() -> str:
    path = shutil.which("node")
    assert path, "Node.js is missing: install it (apt-get install nodejs npm), then run make install"
    assert BUNDLE.exists(), f"{BUNDLE.relative_to(ROOT)} is missing: run make install (npm ci && npm run build)"
    return path


def run_tool(command: str, request: dict) -> object:
    result = subprocess.run(
        [node(), str(TOOLS), command], input=json.dumps(request), capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_javascript_against_the_vectors():
    """node --test tests/js/: every vector file, checked by the browser's modules."""
    result = subprocess.run([node(), "--test", "tests/js/"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    summary = [line for line in result.stdout.splitlines() if line.startswith("# ")]
    print("\n".join(summary))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    counts = {line.split()[1]: int(line.split()[2]) for line in summary if len(line.split()) == 3 and line.split()[2].isdigit()}
    assert counts.get("pass", 0) >= 30 and counts.get("fail") == 0


# --- a small pilot CA for the cross-language checks ------------------------------------


class _Pki:
    def __init__(self) -> None:
        now = datetime.now(UTC) - timedelta(hours=1)
        self.now = now
        self.root = ca.create_root_ca("JS Test Root CA", now=now)
        self.issuing = ca.create_issuing_ca(self.root, "JS Test Issuing CA", now=now)
        self.trust = TrustStore((self.root.certificate,))
        self.crls = [
            ca.build_crl(self.root, [], now=now, next_update=now + timedelta(days=2), crl_number=1),
            ca.build_crl(self.issuing, [], now=now, next_update=now + timedelta(days=2), crl_number=1),
        ]

    def credential_file(self, employee_id: str, key_type: str) -> tuple[object, dict]:
        credential = ca.enroll_employee(self.issuing, employee_id=employee_id, name=f"職員 {employee_id}", now=self.now, key_type=key_type)
        sealed = seal_credential(
            credential.private_key, credential.chain, PIN, employee_id=employee_id, name=credential.name, iterations=2000
        )
        return credential, sealed


@pytest.fixture(scope="module")
def pki() -> _Pki:
    return _Pki()


KEY_TYPES = ["P-256", "RSA-2048", "Ed25519"]


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_login_token_made_in_javascript_verifies_in_python(pki, key_type):
    credential, sealed = pki.credential_file("E0100", key_type)
    nonces = MemoryNonceRegistry()
    now = datetime.now(UTC)
    nonce = nonces.issue(now)
    audience = "http://127.0.0.1:8000"
    token = run_tool("token", {"credential": sealed, "pin": PIN, "nonce": nonce, "audience": audience, "now": int(now.timestamp())})["token"]
    login = verify_login_token(
        token, trust_store=pki.trust, crls=pki.crls, audience=audience, now=now, consume_nonce=nonces.consumer(now)
    )
    assert login.employee_id == "E0100"
    # The header and payload are canonical JSON, as the Python client writes them.
    assert token.count(".") == 2


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_ballot_made_in_javascript_verifies_in_python(pki, key_type):
    credential, sealed = pki.credential_file("E0200", key_type)
    document = survey_manifest("survey-js", options=5)
    document["questions"].append(
        {
            "id": "q2",
            "text": {"ja": "複数選択", "en": "Several"},
            "min_selections": 0,
            "max_selections": 3,
            "options": [{"id": f"p{i}", "label": {"ja": f"案{i}", "en": f"Plan {i}"}} for i in range(4)],
        }
    )
    manifest = Manifest.from_json(document)
    key = KeyPair.generate()
    choices = [[0, 0, 0, 1, 0], [1, 0, 1, 0]]
    answer = run_tool(
        "ballot",
        {"manifest": document, "joint_key": key.public.hex(), "voter_id": "v-0123abcd", "choices": choices,
         "credential": sealed, "pin": PIN},
    )
    fingerprint = election_fingerprint(manifest, key.public)
    assert answer["fingerprint"] == fingerprint.hex()
    ballot = EncryptedBallot.from_json(answer["ballot"], manifest)
    verify_ballot(manifest, key.public, fingerprint, "v-0123abcd", ballot)
    code = tracking_code(fingerprint, ballot)
    assert answer["tracking_code"] == code.hex()
    assert answer["short_code"] == format_tracking_code(code)
    assert verify_audit_opening(manifest, key.public, ballot, AuditOpening.from_json(answer["opening"])) == choices
    verify_ballot_signature(
        credential.certificate, bytes.fromhex(answer["signature"]), election_fingerprint=fingerprint, tracking_code=code
    )
    # The ballot document is exactly the canonical form Python would produce.
    assert canonical_json(answer["ballot"]) == canonical_json(ballot.to_json())


def _receipts() -> tuple[list[dict], list[str]]:
    """Receipts made by the Python core, and tampered copies, with what the
    browser must say about each."""
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes_raw()
    log = merkle.MemoryLog()
    heads: dict[int, merkle.SignedTreeHead] = {}
    entries = []
    for i in range(11):
        kind = "ballot" if i % 3 == 1 else "admin-action"
        body = {"tracking_code": f"{i:064x}", "voter": f"v-{i}"} if kind == "ballot" else {"action": "x", "by": "A1"}
        entry = {"election_id": "e-js", "index": i, "kind": kind, "time": "2026-01-01T00:00:00.000+00:00", "body": body}
        log.append(canonical_json(entry))
        heads[log.size] = merkle.sign_tree_head(key, merkle.TreeHead("e-js", log.size, log.root(), 1767225600000 + i))
        entries.append(entry)
    cases, expected = [], []

    def add(receipt, newest_size, *, consistency=None, newest=None, server_key=public.hex(), want=None):
        newest = newest or heads[newest_size].to_json()
        old = receipt["tree_head"]["size"] if isinstance(receipt.get("tree_head"), dict) else 1
        if consistency is None:
            consistency = merkle.ConsistencyProof(old, newest_size, tuple(log.consistency_proof(old, newest_size))).to_json()
        cases.append({"receipt": receipt, "newest": newest, "consistency": consistency, "server_key": server_key})
        expected.append(want)

    receipts = []
    for entry in entries:
        if entry["kind"] != "ballot":
            continue
        size = entry["index"] + 1
        inclusion = merkle.InclusionProof(entry["index"], size, tuple(log.inclusion_proof(entry["index"], size)))
        receipts.append(make_receipt(key, public, entry, heads[size], inclusion))
    for receipt in receipts:
        add(receipt, log.size)  # valid against the newest head
        add(receipt, receipt["tree_head"]["size"])  # valid against its own head (empty proof)
    r = receipts[1]
    add({**r, "leaf_index": r["leaf_index"] + 1}, log.size, want="ReceiptError")
    add({**r, "tracking_code": "f" * 64}, log.size, want="ReceiptError")
    add({**r, "signature": "0" * 128}, log.size, want="ReceiptError")
    add(r, log.size, server_key=Ed25519PrivateKey.generate().public_key().public_bytes_raw().hex(), want="ReceiptError")
    add({**r, "extra": 1}, log.size, want="ReceiptError")
    forged_head = {**heads[log.size].to_json(), "root": "00" * 32}
    add(r, log.size, newest=forged_head, want="TreeHeadSignatureError")
    bad = merkle.ConsistencyProof(r["tree_head"]["size"], log.size, tuple(bytes(32) for _ in log.consistency_proof(r["tree_head"]["size"], log.size))).to_json()
    add(r, log.size, consistency=bad, want="ConsistencyProofError")
    add(r, log.size, consistency={**bad, "old_size": 1}, want="ReceiptError")
    # A receipt re-signed by the right key but with an inclusion proof for another leaf.
    other = receipts[2]
    forged = {k: v for k, v in r.items() if k != "signature"}
    forged["inclusion_proof"] = {**other["inclusion_proof"], "leaf_index": r["leaf_index"], "tree_size": r["tree_head"]["size"]}
    from crypto.receipts import receipt_message

    forged["signature"] = key.sign(receipt_message(forged)).hex()
    add(forged, log.size, want="InclusionProofError")
    return cases, expected


def test_javascript_checks_receipts_made_by_python():
    cases, expected = _receipts()
    verdicts = run_tool("receipts", {"cases": cases})
    assert [v["error"] for v in verdicts] == expected, verdicts
