"""The browser's JavaScript cryptography (voting/web/static/js) against the
Python core: node's test runner over tests/vectors/, then ballots, login
tokens and receipt checks made by the JavaScript and judged by Python (and
the other way round).

Needs Node.js and the bundle that ``make install`` builds (npm ci, npm run
build); a missing one fails these tests rather than skipping them.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from crypto import ca
from crypto import log as merkle
from crypto.ballots import (
    AuditOpening,
    EncryptedBallot,
    Manifest,
    election_fingerprint,
    format_fingerprint,
    format_tracking_code,
    tracking_code,
    verify_audit_opening,
    verify_ballot,
)
from crypto.credentials import (
    MemoryNonceRegistry,
    TrustStore,
    employee_uri,
    endorsement_message,
    seal_credential,
    sign_endorsement,
    verify_ballot_signature,
    verify_login_token,
)
from crypto.elgamal import KeyPair
from crypto.encoding import canonical_json
from crypto.receipts import make_receipt
from tests.support import manifest as survey_manifest
from voting.client import KeyRefusal, endorsed_election

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


@pytest.mark.slow
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
    _credential, sealed = pki.credential_file("E0100", key_type)
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
    server_hex = public.hex()

    def add(receipt, newest_size, *, consistency=None, newest=None, server_key=server_hex, want=None):
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


# --- the trustees' endorsements of the election key (the ballot page's check) -----------


def _raw_signature(key, message: bytes) -> bytes:
    """A signature in the endorsement's form for any key, even one the service
    refuses (crypto.credentials signs only with accepted keys)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
        size = (key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(message)


def _der_b64(certificate: x509.Certificate) -> str:
    return base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()


def _custom_leaf(pki: _Pki, key, *, uris: list[str], serials=(), names=("鍵管理 特別",), others=(), name_type=None):
    """A leaf issued by the test CA with exactly the subject and SAN given."""
    subject = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "City Hall")]
        + [x509.NameAttribute(NameOID.SERIAL_NUMBER, s) for s in serials]
        + [x509.NameAttribute(NameOID.COMMON_NAME, n, _type=name_type) if name_type else x509.NameAttribute(NameOID.COMMON_NAME, n) for n in names]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(pki.issuing.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(pki.now)
        .not_valid_after(pki.now + timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(u) for u in uris] + list(others)), critical=False)
        .sign(pki.issuing.key, hashes.SHA256())
    )


def _endorsement_cases(pki: _Pki) -> list[dict]:
    """Board entries as the ballot page reads them, honest and attacked: each
    case says what the page must conclude (a reason of refusal, or None)."""
    election_id = "key-js"
    document = survey_manifest(election_id, options=3)
    manifest = Manifest.from_json(document)
    joint = KeyPair.generate().public
    fingerprint = election_fingerprint(manifest, joint)
    ids = ["T0101", "T0102", "T0103"]
    trustees = {
        e: ca.enroll_employee(pki.issuing, employee_id=e, name=f"鍵管理 {e}", now=pki.now, key_type=k)
        for e, k in zip(ids, KEY_TYPES, strict=True)
    }
    message = endorsement_message(election_id=election_id, joint_key=joint.to_bytes(), fingerprint=fingerprint)

    def endorse(credential, *, key=joint, fp=fingerprint, eid=election_id):
        return sign_endorsement(credential, election_id=eid, joint_key=key.to_bytes(), fingerprint=fp)

    def honest() -> list[dict]:
        return [endorse(trustees[e]) for e in ids]

    def board(docs=None, *, key=joint, fp=fingerprint, trustee_ids=ids, n=None, t=2) -> list[dict]:
        docs = honest() if docs is None else docs
        n = len(trustee_ids) if n is None else n
        return [
            {"election_id": election_id, "index": 0, "kind": "election-created",
             "body": {"manifest": document, "trustees": n, "trustee_ids": trustee_ids, "threshold": t}},
            {"election_id": election_id, "index": 1, "kind": "joint-key",
             "body": {"joint_key": key.hex(), "fingerprint": fp.hex(), "public_shares": {},
                      "endorsements": [{"index": i, **d} for i, d in enumerate(docs, start=1)]}},
        ]

    def first(**change) -> list[dict]:
        docs = honest()
        docs[0] = {**docs[0], **change}
        return board(docs)

    def custom(key, **leaf) -> list[dict]:
        docs = honest()
        certificate = _custom_leaf(pki, key, **leaf)
        docs[0] = {"chain": [_der_b64(certificate), _der_b64(pki.issuing.certificate)], "signature": _raw_signature(key, message).hex()}
        return board(docs)

    p256 = ec.generate_private_key(ec.SECP256R1())
    uri = employee_uri("T0101")
    attacker = KeyPair.generate().public
    attacker_fp = election_fingerprint(manifest, attacker)
    # Someone else's CA, with certificates naming the same trustees: no anchor on the page.
    mint = _Pki()
    minted = [
        sign_endorsement(
            ca.enroll_employee(mint.issuing, employee_id=e, name=f"鍵管理 {e}", now=mint.now),
            election_id=election_id, joint_key=attacker.to_bytes(), fingerprint=attacker_fp,
        )
        for e in ids
    ]
    swapped = honest()
    swapped[0], swapped[1] = swapped[1], swapped[0]
    wrong_index = board()
    wrong_index[1]["body"]["endorsements"][0]["index"] = 2
    leaf_der = base64.b64decode(honest()[0]["chain"][0])
    der_signature = trustees["T0101"].private_key.sign(message, ec.ECDSA(hashes.SHA256())).hex()
    short = format_fingerprint(fingerprint)
    issuing_as_leaf = {"chain": [_der_b64(pki.issuing.certificate)], "signature": _raw_signature(pki.issuing.key, message).hex()}
    cases = [
        ("honest: P-256, RSA-2048 and Ed25519 trustees", board(), None, None),
        ("pinned short form", board(), short, None),
        ("pinned short form, lower case without dashes", board(), short.lower().replace("-", ""), None),
        ("pinned full form", board(), fingerprint.hex(), None),
        ("pinned fingerprint differs", board(), format_fingerprint(attacker_fp), "pinned"),
        ("pinned fingerprint malformed", board(), "ABCD-EFGH", "pin_malformed"),
        ("no joint-key entry yet", board()[:1], None, "no_key"),
        ("server's key, fingerprint recomputed, trustees' endorsements kept", board(key=attacker, fp=attacker_fp), None, "endorsement"),
        ("server's key, fingerprint not recomputed", board(key=attacker), None, "fingerprint"),
        ("server's key endorsed by certificates of another CA", board(minted, key=attacker, fp=attacker_fp), None, None),
        ("the same, with the notice's fingerprint pinned", board(minted, key=attacker, fp=attacker_fp), short, "pinned"),
        ("signature changed", first(signature=honest()[0]["signature"][:-1] + ("0" if honest()[0]["signature"][-1] != "0" else "1")), None, "endorsement"),
        ("signature in upper case", first(signature=honest()[0]["signature"].upper()), None, "endorsement"),
        ("ES256 signature in DER form", first(signature=der_signature), None, "endorsement"),
        ("endorsement made for another election", board([endorse(trustees["T0101"], eid="other-election"), *honest()[1:]]), None, "endorsement"),
        ("endorsements of trustees 1 and 2 swapped", board(swapped), None, "endorsement"),
        ("another trustee named on election-created", board(trustee_ids=["T0101", "T0199", "T0103"]), None, "endorsement"),
        ("an endorsement missing", board(honest()[:2]), None, "endorsements"),
        ("an endorsement's index wrong", wrong_index, None, "endorsement"),
        ("an extra member", first(extra=1), None, "endorsement"),
        ("empty chain", first(chain=[]), None, "endorsement"),
        ("chain of five", first(chain=honest()[0]["chain"] * 5), None, "endorsement"),
        ("chain not base64", first(chain=[honest()[0]["chain"][0] + "\n"]), None, "endorsement"),
        ("leaf not a certificate", first(chain=[base64.b64encode(b"\x30\x03\x02\x01\x01").decode()]), None, "endorsement"),
        ("leaf with a trailing byte", first(chain=[base64.b64encode(leaf_der + b"\x00").decode()]), None, "endorsement"),
        ("the issuing CA's certificate as leaf (no SAN)", board([issuing_as_leaf, *honest()[1:]]), None, "endorsement"),
        ("leaf naming two employees", custom(p256, uris=[uri, employee_uri("T0199")]), None, "endorsement"),
        ("leaf serialNumber differs", custom(p256, uris=[uri], serials=["T0199"]), None, "endorsement"),
        ("leaf without a common name", custom(p256, uris=[uri], names=()), None, "endorsement"),
        ("leaf with two common names", custom(p256, uris=[uri], names=("甲", "乙")), None, "endorsement"),
        ("leaf with a P-384 key", custom(ec.generate_private_key(ec.SECP384R1()), uris=[uri]), None, "endorsement"),
        ("leaf with an RSA-1024 key", custom(rsa.generate_private_key(public_exponent=65537, key_size=1024), uris=[uri]), None, "endorsement"),
        # The trustee policy: n distinct valid employee ids, n == len(trustee_ids), 2 <= t <= n.
        ("two of two trustees", board(honest()[:2], trustee_ids=ids[:2], t=2), None, None),
        ("three of three trustees", board(t=3), None, None),
        ("one trustee, threshold 1", board(honest()[:1], trustee_ids=ids[:1], t=1), None, "threshold"),
        ("one trustee, threshold 2", board(honest()[:1], trustee_ids=ids[:1], t=2), None, "threshold"),
        ("threshold 0", board(t=0), None, "threshold"),
        ("threshold 1 of 3", board(t=1), None, "threshold"),
        ("threshold above n", board(t=4), None, "threshold"),
        ("threshold negative", board(t=-1), None, "threshold"),
        ("threshold a string", board(t="2"), None, "malformed"),
        ("threshold true", board(t=True), None, "malformed"),
        ("threshold missing", board(t=None), None, "malformed"),
        ("trustees fewer than the ids", board(n=2), None, "trustees"),
        ("trustees more than the ids", board(n=4), None, "trustees"),
        ("trustees a string", board(n="3"), None, "malformed"),
        ("a trustee named twice", board([*honest()[:2], endorse(trustees["T0101"])], trustee_ids=["T0101", "T0102", "T0101"]), None, "trustees"),
        ("a trustee named twice, n counting them once",
         board([*honest()[:2], endorse(trustees["T0101"])], trustee_ids=["T0101", "T0102", "T0101"], n=2), None, "trustees"),
        ("an invalid employee id", board(trustee_ids=["T0101", "T 0102", "T0103"]), None, "trustees"),
        ("no trustees at all", board([], trustee_ids=[], t=0), None, "threshold"),
        ("leaf with other names, a serialNumber and a BMPString name",
         custom(p256, uris=["https://city.example/staff", uri], serials=["T0101"],
                others=[x509.RFC822Name("t0101@city.example"), x509.DNSName("city.example")], name_type=_ASN1Type.BMPString),
         None, None),
    ]
    return [{"name": n, "entries": e, "election_id": election_id, "pinned": p, "want": w} for n, e, p, w in cases]


def test_javascript_checks_the_election_key_as_python_does(pki):
    """The ballot page's check of the trustees' endorsements (endorsements.js)
    against voting.client.endorsed_election, the Python voter's: the same
    verdict on honest boards, attacked boards and odd certificates, and the same
    trustees and fingerprint when both accept."""
    cases = _endorsement_cases(pki)
    verdicts = run_tool("endorsements", {"cases": [{k: c[k] for k in ("entries", "election_id", "pinned")} for c in cases]})
    for case, verdict in zip(cases, verdicts, strict=True):
        name, want = case["name"], case["want"]
        assert verdict.get("reason") == want, (name, verdict)
        pinned = case["pinned"]
        if pinned is not None and not re.fullmatch(r"[0-9a-f]{64}", pinned):
            continue  # Python pins the full fingerprint only
        try:
            python = endorsed_election(
                case["entries"], case["election_id"], fingerprint=bytes.fromhex(pinned) if pinned else None
            )
        except KeyRefusal as exc:
            assert not verdict["valid"], (name, str(exc))
            continue
        assert verdict["valid"], (name, verdict)
        assert verdict["fingerprint"] == python.info.fingerprint.hex(), name
        assert verdict["short"] == python.short_fingerprint, name
        assert verdict["threshold"] == python.threshold == case["entries"][0]["body"]["threshold"], name
        assert [tuple(t) for t in verdict["trustees"]] == list(python.trustees), name


# --- the voting credential and published audits (issue 11) ----------------------------------


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_voting_credential_derived_in_javascript_matches_python(pki, key_type):
    """The ballot page opens the credential file and derives the election's
    voting credential from the decrypted PKCS#8 bytes: the same secret, seed
    and Ed25519 key as Python's Credential.secret / voting_credential; the
    registration verifies with the certificate and the ballot signature with
    the credential; two elections give unrelated credentials."""
    from crypto.credentials import (
        open_credential,
        registration_message,
        verify_credential_signature,
        verify_registration,
    )

    credential, sealed = pki.credential_file("E0300", key_type)
    python = open_credential(sealed, PIN)
    fingerprint, code = bytes(range(32)), bytes(range(32, 64))
    elections = ["2026-union-board", "2027-union-board"]
    answer = run_tool(
        "voting_credential",
        {"credential": sealed, "pin": PIN, "election_ids": elections, "fingerprint": fingerprint.hex(), "tracking_code": code.hex()},
    )
    assert answer["secret"] == python.secret.hex()
    keys = set()
    for election_id in elections:
        js = answer["elections"][election_id]
        voting = python.voting_credential(election_id)
        assert js["public_key"] == voting.hex
        keys.add(js["public_key"])
        assert bytes.fromhex(js["registration_message"]) == registration_message(election_id, voting.public_bytes)
        verify_registration(
            credential.certificate, bytes.fromhex(js["registration_signature"]), election_id=election_id, credential_pub=voting.public_bytes
        )
        verify_credential_signature(voting.public_bytes, bytes.fromhex(js["ballot_signature"]), election_fingerprint=fingerprint, tracking_code=code)
        assert js["ballot_signature"] == voting.sign_ballot(election_fingerprint=fingerprint, tracking_code=code).hex()
    assert len(keys) == 2


def _audit_file(document: dict, key: KeyPair, choices: list[list[int]]) -> tuple[dict, bytes]:
    """A published audit as the server answers POST …/audits: a receipt-shaped
    document whose entry is `ballot-audited`, for a ballot made by Python."""
    from crypto.ballots import encrypt_ballot

    manifest = Manifest.from_json(document)
    fingerprint = election_fingerprint(manifest, key.public)
    credential = Ed25519PrivateKey.generate().public_key().public_bytes_raw().hex()
    ballot, opening = encrypt_ballot(manifest, key.public, fingerprint, credential, choices)
    server = Ed25519PrivateKey.generate()
    public = server.public_key().public_bytes_raw()
    log = merkle.MemoryLog()
    eid = document["election_id"]
    for i in range(3):
        log.append(canonical_json({"election_id": eid, "index": i, "kind": "admin-action", "time": "2026-01-01T00:00:00.000+00:00", "body": {"action": "x", "by": "A1"}}))
    entry = {
        "election_id": eid,
        "index": 3,
        "kind": "ballot-audited",
        "time": "2026-01-01T00:00:01.000+00:00",
        "body": {"tracking_code": tracking_code(fingerprint, ballot).hex(), "credential": credential, "ballot": ballot.to_json(), "opening": opening.to_json()},
    }
    log.append(canonical_json(entry))
    head = merkle.sign_tree_head(server, merkle.TreeHead(eid, log.size, log.root(), 1767225600000))
    inclusion = merkle.InclusionProof(3, log.size, tuple(log.inclusion_proof(3, log.size)))
    return make_receipt(server, public, entry, head, inclusion), public


def test_javascript_checks_an_audit_published_by_python():
    """The receipt check page's audit checks: a good audit file gives the
    choices in Japanese and English; a changed opening fails the server's
    signature, and the changed entry's opening does not re-encrypt to the
    ballot; a credential file is recognised as not a receipt or audit file."""
    document = survey_manifest("audit-js", options=3)
    key = KeyPair.generate()
    choices = [[0, 1, 0]]
    audit, server_key = _audit_file(document, key, choices)
    request = {"manifest": document, "joint_key": key.public.hex(), "server_key": server_key.hex()}
    good = run_tool("audit", {**request, "file": audit})
    labels = document["questions"][0]["options"][1]["label"]
    assert good == {
        "kind": "audit",
        "file": "ok",
        "choices": [{"question": {"ja": document["questions"][0]["text"]["ja"], "en": document["questions"][0]["text"]["en"]}, "chosen": [{"ja": labels["ja"], "en": labels["en"]}]}],
    }
    tampered = json.loads(json.dumps(audit))
    selections = tampered["entry"]["body"]["opening"]["selections"][0]
    selections[0]["m"], selections[1]["m"] = 1, 0  # claims another choice
    bad = run_tool("audit", {**request, "file": tampered})
    assert bad["kind"] == "audit" and bad["file"] == "ReceiptError" and bad["choices"] == "AuditOpeningError"
    _, sealed = _Pki().credential_file("E0400", "P-256")
    assert run_tool("audit", {**request, "file": sealed})["kind"] == "credential"
    # The shape first: an audit file with a stray `format` is an audit file that fails its check (review 14a).
    stray = run_tool("audit", {**request, "file": {**audit, "format": "votingpilot-credential"}})
    assert stray["kind"] == "audit" and stray["file"] == "ReceiptError"
