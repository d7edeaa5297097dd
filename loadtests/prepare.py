"""Everything before the load: a pilot CA, an election with its roll and
trustees, and every voter's credential and ballot prepared in advance.

Encrypting a ballot costs milliseconds of CPU, which would block a Locust
process's event loop, so it happens here, spread over every core, with a
progress bar; so do deriving each voter's voting credential and signing its
registration. The Locust processes only sign login challenges (an ES256
signature, tens of microseconds), send the registration and the cast, and check
receipts.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import select

from crypto import ca
from crypto.credentials import Credential, certificate_to_pem, crl_to_pem, private_key_to_pem, sign_registration
from loadtests.common import RunFiles
from voting.client import Client, ElectionInfo, prepare_ballot, trustee_ceremony_step
from voting.db.engine import Database, make_engine
from voting.db.models import RollEntry
from voting.settings import Settings

ELECTION_ID = "loadtest"
ADMIN_ID = "A0001"
TRUSTEE_IDS = ("T0001", "T0002", "T0003")
THRESHOLD = 2
OPTIONS = 5


def voter_id(number: int) -> str:
    return f"E{number:06d}"


def manifest(election_id: str = ELECTION_ID, witnesses: list[dict] | None = None) -> dict:
    """A 1-of-5 staff survey (the ballot shape of crypto's verification benchmark),
    cosigned by ``witnesses`` (manifest entries; all of them are the quorum)."""
    doc = {
        "election_id": election_id,
        "title": {"ja": "負荷試験用の職員アンケート", "en": "Staff survey (load test)"},
        "revote_policy": "last",
        "questions": [
            {
                "id": "q1",
                "text": {"ja": "希望するテレワークの日数は？", "en": "How many remote-work days would you like?"},
                "min_selections": 1,
                "max_selections": 1,
                "options": [
                    {"id": f"o{i}", "label": {"ja": f"週{i}日", "en": f"{i} days a week"}} for i in range(OPTIONS)
                ],
            }
        ],
    }
    if witnesses:
        doc["witnesses"] = {"quorum": len(witnesses), "members": witnesses}
    return doc


def make_witnesses(state_dir: Path, count: int) -> list[tuple[Path, dict]]:
    """``count`` witness state files, and each one's manifest entry."""
    from voting.witness import create_state_file, new_state

    made = []
    for number in range(1, count + 1):
        state = new_state(f"負荷試験の立会人 {number} (load-test witness {number})")
        path = state_dir / f"witness-{number}.json"
        create_state_file(path, state)
        made.append((path, state.member()))
    return made


# --- the CA --------------------------------------------------------------------------------


@dataclass
class LoadTestCa:
    root: ca.Authority
    issuing: ca.Authority
    ca_dir: Path

    def enroll(self, employee_id: str) -> Credential:
        return ca.enroll_employee(
            self.issuing, employee_id=employee_id, name=f"職員 {employee_id}", now=datetime.now(UTC) - timedelta(minutes=5)
        )

    def publish_crls(self, number: int, now: datetime) -> None:
        """Both CAs' CRLs (none revoked), where the server reads them. The
        record's verifier wants CRLs issued after the election's events, as an
        office publishes them once voting closed."""
        crls = [
            ca.build_crl(authority, [], now=now, next_update=now + timedelta(days=7), crl_number=number)
            for authority in (self.root, self.issuing)
        ]
        (self.ca_dir / "crl.pem").write_text("".join(crl_to_pem(c) for c in crls))


def make_ca(data_dir: Path) -> LoadTestCa:
    """A root and an issuing CA; the trust anchor and the CRLs go where the
    server looks by default (``<data dir>/ca/``)."""
    ca_dir = data_dir / "ca"
    ca_dir.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC) - timedelta(hours=1)
    root = ca.create_root_ca("Load Test City Root CA", now=now)
    issuing = ca.create_issuing_ca(root, "Load Test City Issuing CA", now=now)
    (ca_dir / "root.pem").write_text(certificate_to_pem(root.certificate))
    pki = LoadTestCa(root, issuing, ca_dir)
    pki.publish_crls(1, now)
    return pki


# --- the election ------------------------------------------------------------------------


def setup_election(
    url: str, pki: LoadTestCa, voters: int, state_dir: Path, election_id: str = ELECTION_ID, *, witnesses: list[dict] | None = None
) -> dict:
    """Create, import the roll, run the trustees' key ceremony, open. Over HTTP,
    as the administrator and the three trustees would. Returns the election's
    public status."""
    admin = Client(url)
    admin.login(pki.enroll(ADMIN_ID))
    admin.create_election(manifest(election_id, witnesses), list(TRUSTEE_IDS), THRESHOLD)
    roll = "employee_id,name,department\n" + "".join(
        f"{voter_id(i)},職員 {voter_id(i)},負荷試験課\n" for i in range(voters)
    )
    imported = admin.import_roll(election_id, roll)
    if imported["total"] != voters:
        raise RuntimeError(f"the roll has {imported['total']} voters, expected {voters}")
    admin.start_ceremony(election_id)
    trustees = {}
    for employee_id in TRUSTEE_IDS:
        trustees[employee_id] = Client(url)
        trustees[employee_id].login(pki.enroll(employee_id))
    for _ in range(4):
        for employee_id, client in trustees.items():
            trustee_ceremony_step(client, election_id, state_dir / f"trustee-{employee_id}.json")
    admin.open(election_id)
    status = admin.status(election_id)
    ElectionInfo.from_status(status)  # the fingerprint matches the manifest and the joint key
    for client in (admin, *trustees.values()):
        client.close()
    return status


def read_pseudonyms(settings: Settings, election_id: str) -> dict[str, str]:
    """The roll's employees (with their internal ids), read as the operator of
    this throw-away deployment. Ballots no longer use the pseudonym: each voter's
    ballot is made for the voting credential derived from their credential, which
    the Locust flow registers right before casting (as the browser does)."""

    async def read() -> dict[str, str]:
        database = Database(make_engine(settings.db_url))
        try:
            async with database.read() as db:
                rows = await db.execute(
                    select(RollEntry.employee_id, RollEntry.pseudonym).where(RollEntry.election_id == election_id)
                )
                return dict(rows.all())
        finally:
            await database.close()

    return asyncio.run(read())


# --- the voters: credentials and ballots ------------------------------------------------------

_worker_state: dict = {}


def _init_worker(issuing_key_pem: str, issuing_cert_pem: str, status: dict) -> None:
    _worker_state["issuing"] = ca.Authority.from_pem(issuing_key_pem, issuing_cert_pem)
    _worker_state["info"] = ElectionInfo.from_status(status)


def _prepare_chunk(jobs: list[tuple[str, str, int]]) -> list[str]:
    """Enroll, encrypt and sign for a chunk of voters; returns lines of voters.jsonl."""
    issuing: ca.Authority = _worker_state["issuing"]
    info: ElectionInfo = _worker_state["info"]
    lines = []
    now = datetime.now(UTC) - timedelta(minutes=5)
    for employee_id, _, choice in jobs:
        credential = ca.enroll_employee(issuing, employee_id=employee_id, name=f"職員 {employee_id}", now=now)
        row = [1 if i == choice else 0 for i in range(len(info.manifest.questions[0].option_ids))]
        # Client-side work done ahead, like the encryption: derive the voting
        # credential and sign its registration with the certificate key. The
        # registration request itself is part of each voter's measured flow.
        voting = credential.voting_credential(info.election_id)
        registration = sign_registration(
            credential.private_key, election_id=info.election_id, credential_pub=voting.public_bytes
        )
        prepared = prepare_ballot(info, None, [row], voting)
        lines.append(
            json.dumps(
                {
                    "employee_id": employee_id,
                    "key": private_key_to_pem(credential.private_key),
                    "chain": [
                        base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode("ascii")
                        for c in credential.chain
                    ],
                    "credential": voting.hex,
                    "registration": {"credential": voting.hex, "signature": registration.hex()},
                    "choice": choice,
                    "tracking_code": prepared.tracking_code.hex(),
                    "body": prepared.cast_body(),
                },
                separators=(",", ":"),
            )
        )
    return lines


def prepare_voters(
    files: RunFiles,
    pki: LoadTestCa,
    status: dict,
    pseudonyms: dict[str, str],
    *,
    seed: int = 2026,
    processes: int | None = None,
    progress: bool = True,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Write voters.jsonl: every voter's key, chain, ballot and its choice (the
    ground truth), in roll order, choices drawn from ``seed``."""
    rng = random.Random(seed)
    jobs = [(employee_id, pseudonyms[employee_id], rng.randrange(OPTIONS)) for employee_id in sorted(pseudonyms)]
    chunks = [jobs[i : i + 50] for i in range(0, len(jobs), 50)]
    key_pem = private_key_to_pem(pki.issuing.key)
    cert_pem = certificate_to_pem(pki.issuing.certificate)
    processes = processes or os.cpu_count() or 1
    columns = (TextColumn("preparing ballots"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with (
        Progress(*columns, disable=not progress) as bar,
        ProcessPoolExecutor(processes, initializer=_init_worker, initargs=(key_pem, cert_pem, status)) as pool,
        files.voters.open("w", encoding="utf-8") as out,
    ):
        task = bar.add_task("voters", total=len(jobs))
        done = 0
        for lines in pool.map(_prepare_chunk, chunks):
            out.write("".join(line + "\n" for line in lines))
            done += len(lines)
            bar.update(task, completed=done)
            if on_progress:
                on_progress(done)
    return len(jobs)


def write_election_file(files: RunFiles, info: ElectionInfo, server_key: bytes, url: str) -> None:
    files.election.write_text(
        json.dumps(
            {
                "election_id": info.election_id,
                "fingerprint": info.fingerprint.hex(),
                "joint_key": info.joint_key.hex(),
                "server_key": server_key.hex(),
                "url": url,
            },
            indent=2,
        ),
        encoding="utf-8",
    )


