"""A small real election over HTTP whose record the record tests export, verify
and tamper with; and the tools of a malicious server that re-signs a tampered
board (it holds the server key), so a test can show that the checks of the
cryptography, not only the tree-head signatures, catch each change."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crypto import log as merkle
from crypto import threshold
from crypto.credentials import Credential
from crypto.encoding import canonical_json
from tests.support import Pki, make_pki, roll_csv, start_server
from voting.client import Client, trustee_ceremony_step, trustee_decrypt
from voting.record import files as F
from voting.record.build import derive_views, stage_of
from voting.record.files import read_record_zip

ADMIN, AUDITOR = "A0001", "U0001"
TRUSTEES = ("T0001", "T0002", "T0003")
THRESHOLD = 2
ELECTION = "record-2026"
SINGLE = "record-single"


def record_manifest(election_id: str = ELECTION, revote: str = "last", min_tally_ballots: int = 5) -> dict:
    """A 1-of-5 question and a 0-to-2-of-4 question, in Japanese and English."""

    def options(prefix: str, count: int) -> list[dict]:
        return [{"id": f"{prefix}{i}", "label": {"ja": f"選択肢{i}", "en": f"option {i}"}} for i in range(count)]

    return {
        "election_id": election_id,
        "title": {"ja": "記録検証のための職員アンケート", "en": "Staff survey for the record tests"},
        "revote_policy": revote,
        "min_tally_ballots": min_tally_ballots,
        "questions": [
            {
                "id": "q1",
                "text": {"ja": "一つ選んでください", "en": "Choose one"},
                "min_selections": 1,
                "max_selections": 1,
                "options": options("a", 5),
            },
            {
                "id": "q2",
                "text": {"ja": "二つまで選んでください", "en": "Choose up to two"},
                "min_selections": 0,
                "max_selections": 2,
                "options": options("b", 4),
            },
        ],
    }


@dataclass
class ElectionRun:
    url: str
    data_dir: Path
    pki: Pki
    credentials: dict[str, Credential]
    public: dict[str, bytes]
    private: dict[str, bytes]
    single_private: dict[str, bytes]
    while_open: dict[str, bytes]
    """the public record downloaded while voting was still open"""
    receipts: dict[str, list[dict]] = field(default_factory=dict)
    expected: list[list[int]] = field(default_factory=list)
    audits: list[dict] = field(default_factory=list)
    """the published audits' receipt-shaped documents (E0007 audits a ballot before voting)"""

    @property
    def server_key(self) -> Ed25519PrivateKey:
        pem = (self.data_dir / "server-signing-key.pem").read_bytes()
        return serialization.load_pem_private_key(pem, password=None)

    def trustee_key(self, trustee: str, election_id: str = ELECTION) -> threshold.TrusteeKey:
        state = json.loads((self.data_dir / f"{trustee}-{election_id}.json").read_text())
        return threshold.TrusteeKey.from_json(state["key"])


def _vote(url: str, credential: Credential, election_id: str, choices: list[list[int]]) -> dict:
    with Client(url) as voter:
        voter.login(credential)
        return voter.cast(voter.prepare_ballot(election_id, choices))


def _audit(url: str, credential: Credential, election_id: str, choices: list[list[int]]) -> dict:
    """Prepare a ballot and publish it as an audit (Benaloh challenge): it is never cast."""
    with Client(url) as voter:
        voter.login(credential)
        return voter.publish_audit(voter.prepare_ballot(election_id, choices))


@contextmanager
def election_run(data_dir: Path, database_url: str) -> Iterator[ElectionRun]:
    """Two elections on one server: ``record-2026`` (re-votes: the last ballot
    counts; one voter revoked after voting; one published audit) run to publication, and
    ``record-single`` (one ballot each) closed and tallied. Yields their
    records as downloaded over HTTP, the public one and the auditors' one,
    while the server still runs."""
    data_dir.mkdir(parents=True, exist_ok=True)
    pki = make_pki(data_dir)
    people = [ADMIN, AUDITOR, *TRUSTEES] + [f"E{i:04d}" for i in range(8)]
    credentials = {p: pki.enroll(p) for p in people}
    voters = [p for p in people if p.startswith("E")]
    server = start_server(data_dir, database_url, admins=[ADMIN], auditors=[AUDITOR])
    try:
        url = server.url
        with Client(url) as admin:
            admin.login(credentials[ADMIN])
            trustees = {t: Client(url) for t in TRUSTEES}
            for t, client in trustees.items():
                client.login(credentials[t])
            # record-single tallies three ballots: its manifest lowers the minimum.
            for election_id, revote, roll, minimum in ((ELECTION, "last", voters, 5), (SINGLE, "single", voters[:3], 3)):
                admin.create_election(record_manifest(election_id, revote, minimum), list(TRUSTEES), THRESHOLD)
                admin.import_roll(election_id, roll_csv(roll))
                admin.start_ceremony(election_id)
                for _ in range(4):
                    for t, client in trustees.items():
                        trustee_ceremony_step(client, election_id, data_dir / f"{t}-{election_id}.json")
                admin.open(election_id)

            receipts: dict[str, list[dict]] = {}
            expected = [[0] * 5, [0] * 4]
            # E0007 audits a ballot first (published on the board, never cast).
            audits = [_audit(url, credentials["E0007"], ELECTION, [[0, 1, 0, 0, 0], [1, 1, 0, 0]])]
            plan = {
                v: [[[1 if o == i % 5 else 0 for o in range(5)], [1 if o in (i % 4, (i + 1) % 4) and i % 3 else 0 for o in range(4)]]]
                for i, v in enumerate(voters)
            }
            # E0001 changes their mind once, E0002 twice: the last ballot counts.
            plan["E0001"].append([[0, 0, 0, 0, 1], [0, 0, 0, 0]])
            plan["E0002"] += [[[0, 0, 0, 1, 0], [1, 0, 0, 0]], [[1, 0, 0, 0, 0], [0, 0, 1, 1]]]
            for voter, ballots in plan.items():
                for choices in ballots:
                    receipts.setdefault(voter, []).append(_vote(url, credentials[voter], ELECTION, choices))
                for q, row in enumerate(ballots[-1]):
                    for o, m in enumerate(row):
                        expected[q][o] += m
            for voter in voters[:3]:
                _vote(url, credentials[voter], SINGLE, plan[voter][0])
            while_open = read_record_zip(_download(url, f"/api/elections/{ELECTION}/record"))
            # Revoked after voting: the ballot was cast with a valid certificate and
            # counts. (X.509 dates are whole seconds: revoke in the next second.)
            time.sleep(1.01 - time.time() % 1)
            pki.revoke(credentials["E0003"])

            for election_id in (ELECTION, SINGLE):
                admin.close_election(election_id)
                for t in TRUSTEES:
                    trustee_decrypt(trustees[t], election_id, data_dir / f"{t}-{election_id}.json")
                admin.tally(election_id)
            admin.publish(ELECTION)
            for client in trustees.values():
                client.close()
        # The CA publishes a CRL after voting closed: what the audit needs.
        pki.write_crl(now=datetime.now(UTC))

        public = read_record_zip(_download(url, f"/api/elections/{ELECTION}/record"))
        with Client(url) as auditor:
            auditor.login(credentials[AUDITOR])
            private = read_record_zip(_download(auditor, f"/api/elections/{ELECTION}/record/private"))
            single_private = read_record_zip(_download(auditor, f"/api/elections/{SINGLE}/record/private"))
        yield ElectionRun(url, data_dir, pki, credentials, public, private, single_private, while_open, receipts, expected, audits)
    finally:
        server.stop()


def _download(client: Client | str, path: str) -> bytes:
    if isinstance(client, str):
        with Client(client) as anonymous:
            return _download(anonymous, path)
    response = client.http.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/zip")
    return response.content


# --- a malicious server: edit the board, re-sign every head, rewrite the views ------------------


def board_entries(files: dict[str, bytes]) -> list[dict]:
    return [json.loads(line) for line in files[F.BOARD].splitlines()]


def resign(files: dict[str, bytes], entries: list[dict], key: Ed25519PrivateKey, *, renumber: bool = True) -> dict[str, bytes]:
    """The record a server holding ``key`` would publish for this board: entries
    renumbered, a signed head for every size, the views derived from the board
    (kept as they were where the board is too broken to derive them). The
    auditors' roll needs no re-indexing: registrations are by credential."""
    out = dict(files)
    if renumber:
        entries = [{**e, "index": i} for i, e in enumerate(entries)]
    lines = [canonical_json(e) for e in entries]
    election_id = entries[0]["election_id"]
    log = merkle.MemoryLog()
    heads = []
    timestamp = 1_767_225_600_000
    for line in lines:
        log.append(line)
        head = merkle.TreeHead(election_id, log.size, log.root(), timestamp + log.size)
        heads.append(merkle.sign_tree_head(key, head).to_json())
    out[F.BOARD] = b"".join(line + b"\n" for line in lines)
    out[F.TREE_HEADS] = _pretty(heads)
    try:
        views = derive_views(entries)
    except (KeyError, TypeError, IndexError, AttributeError):
        views = {}
    for name, doc in views.items():
        out[name] = _pretty(doc)
    record = json.loads(files[F.RECORD])
    record.update(board_size=len(lines), stage=stage_of(entries))
    out[F.RECORD] = _pretty(record)
    return out


def _pretty(doc: object) -> bytes:
    return (json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode("utf-8")


# --- the same elections, synthesised with crypto/ alone (no server) ---------------------------


@dataclass
class SyntheticRun:
    """``record-2026`` (8 voters and one employee on the roll who never
    registers; E0000 and E0001 re-vote; E0006 and E0007 publish an audited
    ballot first) and ``record-single`` (3 voters, one ballot each) of the same
    people under one server key, as ``voting.record.bench.synthesize`` makes
    them: the records a real export gives, without the service. The mutation
    tests use them, so they do not depend on the server."""

    private: dict[str, bytes]
    single_private: dict[str, bytes]
    server_key: Ed25519PrivateKey
    pki: object
    """``root``, ``issuing`` (``crypto.ca.Authority``) and ``revoked`` (CRL entries, none)"""
    credentials: dict[str, Credential]
    elections: dict[str, object]
    """election id -> its ``Synthetic``"""

    @property
    def public(self) -> dict[str, bytes]:
        return public_part(self.private)

    def trustee_key(self, trustee: str, election_id: str = ELECTION) -> threshold.TrusteeKey:
        return self.elections[election_id].trustee_keys[TRUSTEES.index(trustee)]


def synthetic_run() -> SyntheticRun:
    from types import SimpleNamespace

    from voting.record.bench import synthesize

    main = synthesize(8, manifest_doc=record_manifest(ELECTION, "last", 5), revoters=2, abstainers=1, audits=2, workers=1, voter_id_digits=4)
    single = synthesize(3, manifest_doc=record_manifest(SINGLE, "single", 3), audits=0, workers=1, people=main)
    credentials = {c.employee_id: c for c in [*main.credentials, *main.trustee_credentials]}
    pki = SimpleNamespace(root=main.root, issuing=main.issuing, revoked=[])
    return SyntheticRun(main.files, single.files, main.server_key, pki, credentials, {ELECTION: main, SINGLE: single})


def public_part(files: dict[str, bytes]) -> dict[str, bytes]:
    """The public record of a record with the auditors' part: what anyone downloads."""
    public = {k: v for k, v in files.items() if k not in F.AUDITOR_FILES}
    public[F.RECORD] = _pretty({**json.loads(files[F.RECORD]), "auditors_part": False})
    return public
