"""Helpers of the HTTP suites (tests/test_*_http.py): an election brought to a
given state over the real API, direct database snapshots that prove a refused
request changed nothing, and raw requests that expect a problem detail."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from cryptography import x509
from sqlalchemy import Connection, Engine, create_engine, select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from crypto.credentials import Credential, TrustStore
from crypto.log import SignedTreeHead
from tests.mitm_support import Mitm
from tests.support import Pki, ServerProcess, roll_csv, start_server
from voting.client import ApiError, Client, trustee_ceremony_step, trustee_decrypt
from voting.db.models import Base
from voting.settings import Settings

TRUSTEES = ("T0001", "T0002", "T0003")
ADMIN = "A0001"

#: Columns that legitimately move on any authenticated request (activity time).
#: Written when the server first reads a newly published CRL, not by the request under test.
VOLATILE_TABLES = {"crl_state"}
VOLATILE_COLUMNS = {("sessions", "last_seen")}


def two_question_manifest(election_id: str, revote: str = "last", *, min_tally_ballots: int | None = None) -> dict:
    """A staff survey with a 1-of-4 and a 0-to-2-of-4 question (Japanese and English).
    ``min_tally_ballots``: for a test that tallies fewer ballots than the default minimum (5)."""

    def options(prefix: str, labels: list[tuple[str, str]]) -> list[dict]:
        return [{"id": f"{prefix}{i}", "label": {"ja": ja, "en": en}} for i, (ja, en) in enumerate(labels)]

    doc: dict[str, object] = {
        "election_id": election_id,
        "title": {"ja": "働き方に関する職員アンケート", "en": "Staff survey on ways of working"},
        "revote_policy": revote,
        "questions": [
            {
                "id": "days",
                "text": {"ja": "希望するテレワークの日数は？", "en": "How many remote-work days would you like?"},
                "min_selections": 1,
                "max_selections": 1,
                "options": options("d", [("なし", "none"), ("週1日", "1 day"), ("週2日", "2 days"), ("週3日以上", "3+ days")]),
            },
            {
                "id": "tools",
                "text": {"ja": "必要な支援（2つまで）", "en": "Support you need (up to two)"},
                "min_selections": 0,
                "max_selections": 2,
                "options": options("s", [("ノートPC", "laptop"), ("VPN", "VPN"), ("研修", "training"), ("手当", "allowance")]),
            },
        ],
    }
    if min_tally_ballots is not None:
        doc["min_tally_ballots"] = min_tally_ballots
    return doc


# --- the database, read directly ------------------------------------------------------


def snapshot(database_url: str) -> dict[str, tuple[int, str]]:
    """Per table: row count and a digest of every row (ordered by primary key),
    read straight from the database the server uses."""
    if database_url.startswith("sqlite"):
        # Two snapshots frame every refusal a test checks: one engine per SQLite
        # file, read synchronously, costs a few milliseconds where a new asyncio
        # engine each time cost about thirty.
        engine = _sqlite_engines.get(database_url)
        if engine is None:
            engine = _sqlite_engines[database_url] = create_engine(database_url.replace("+aiosqlite", ""), poolclass=NullPool)
        with engine.connect() as conn:
            return _digests(conn)

    async def read() -> dict[str, tuple[int, str]]:
        engine = create_async_engine(Settings(database_url=database_url).db_url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(_digests)
        finally:
            await engine.dispose()

    return asyncio.run(read())


_sqlite_engines: dict[str, Engine] = {}


def _digests(conn: Connection) -> dict[str, tuple[int, str]]:
    result = {}
    for table in Base.metadata.sorted_tables:
        if table.name in VOLATILE_TABLES:
            continue
        columns = [c for c in table.columns if (table.name, c.name) not in VOLATILE_COLUMNS]
        rows = conn.execute(select(*columns).order_by(*table.primary_key.columns)).all()
        digest = hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()
        result[table.name] = (len(rows), digest)
    return result


def changed_tables(before: dict, after: dict) -> list[str]:
    return sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))


# --- the public board -------------------------------------------------------------------


def board_entries(client: Client, election_id: str) -> list[dict]:
    """Every entry of an election's board, page by page."""
    entries: list[dict] = []
    while True:
        page = client.get(f"/api/elections/{election_id}/board/entries", start=len(entries), limit=100)
        entries += page["entries"]
        if len(entries) >= page["size"]:
            return entries


def board_heads(client: Client, election_id: str) -> list[SignedTreeHead]:
    """Every signed tree head of an election's board (sizes 1, 2, ...), page by page."""
    heads: list[dict] = []
    while True:
        page = client.get(f"/api/elections/{election_id}/board/heads", start=len(heads) + 1, limit=100)
        if not page:
            return [SignedTreeHead.from_json(h) for h in heads]
        heads += page


# --- raw requests -----------------------------------------------------------------------


def problem(response: httpx.Response) -> tuple[int, str]:
    """(status, code) of a refusal, after checking it is an RFC 9457 problem detail."""
    assert response.headers["content-type"].startswith("application/problem+json"), response.text[:300]
    body = response.json()
    assert body["status"] == response.status_code
    assert body["type"] == f"urn:voting-pilot:error:{body['code']}"
    assert body["detail"]
    return response.status_code, body["code"]


# --- a pilot: server, CA, administrator, trustees ---------------------------------------------


@dataclass
class Pilot:
    """One running server with its CA, a logged-in administrator and the trustees."""

    pki: Pki
    data_dir: Path
    database_url: str
    server: ServerProcess
    admin: Client
    trustee_credentials: dict[str, Credential]
    trustees: dict[str, Client] = field(default_factory=dict)
    clients: list[Client] = field(default_factory=list)
    front_url: str | None = None
    """The origin clients use when the server sits behind a proxy (its VOTING_PUBLIC_URL)."""

    @property
    def url(self) -> str:
        return self.front_url or self.server.url

    def client(self) -> Client:
        """A client that pinned the city's root, as the CLI does with root.pem."""
        client = Client(self.url, trust_store=TrustStore((self.pki.root.certificate,)))
        self.clients.append(client)
        return client

    def login(self, credential: Credential) -> Client:
        client = self.client()
        client.login(credential)
        return client

    def snapshot(self) -> dict[str, tuple[int, str]]:
        return snapshot(self.database_url)

    def refused(self, call, status: int, code: str) -> ApiError:
        """Run ``call``; it must be refused with ``status``/``code`` and change nothing."""
        before = self.snapshot()
        try:
            call()
        except ApiError as exc:
            error = exc
        else:
            raise AssertionError(f"expected {status} {code}, the request succeeded")
        after = self.snapshot()
        assert (error.status, error.code) == (status, code), f"expected {status} {code}, got {error}"
        assert error.body.get("type") == f"urn:voting-pilot:error:{code}"
        assert not changed_tables(before, after), f"{code}: tables changed: {changed_tables(before, after)}"
        return error

    def refused_raw(self, send, status: int, code: str) -> httpx.Response:
        """Like ``refused`` for a raw httpx request (malformed bodies and the like)."""
        before = self.snapshot()
        response = send()
        after = self.snapshot()
        assert problem(response) == (status, code), f"expected {status} {code}, got {response.text[:300]}"
        assert not changed_tables(before, after), f"{code}: tables changed: {changed_tables(before, after)}"
        return response

    # -- bringing an election along its lifecycle --------------------------------------

    def create(self, manifest: dict, voters: list[str], *, threshold: int = 2, trustees: list[str] | None = None) -> str:
        election_id = manifest["election_id"]
        self.admin.create_election(manifest, trustees or list(self.trustee_credentials), threshold)
        if voters:
            self.admin.import_roll(election_id, roll_csv(voters))
        return election_id

    def ceremony_step(self, name: str, election_id: str) -> str:
        """One step of trustee ``name``'s part of the ceremony, from its own machine."""
        if name not in self.trustees:
            self.trustees[name] = self.login(self.trustee_credentials[name])
        return trustee_ceremony_step(self.trustees[name], election_id, self.trustee_file(name, election_id))

    def ceremony_steps(self, election_id: str) -> None:
        """Every trustee steps until the joint key is published."""
        for _ in range(4):
            steps = [self.ceremony_step(name, election_id) for name in self.trustee_credentials]
        assert set(steps) == {"confirmed"}, steps
        assert self.admin.status(election_id)["joint_key"]

    def ceremony(self, election_id: str) -> None:
        self.admin.start_ceremony(election_id)
        self.ceremony_steps(election_id)

    def open_election(self, manifest: dict, voters: list[str], *, threshold: int = 2) -> str:
        election_id = self.create(manifest, voters, threshold=threshold)
        self.ceremony(election_id)
        self.admin.open(election_id)
        return election_id

    def trustee_file(self, name: str, election_id: str) -> Path:
        return self.data_dir / f"trustee-{name}-{election_id}.json"

    def pin(self, *roots: x509.Certificate) -> None:
        """The trustees pin these roots too, as a --trust-anchor file holding the
        city's root and the root of every card anchor the election notice names."""
        for client in self.trustees.values():
            assert client.trust_store is not None  # every client of a pilot pins the city's root
            client.trust_store = TrustStore(tuple(client.trust_store.roots) + tuple(roots))

    def decrypt(self, election_id: str, names: list[str], *, accept_attested: int | None = None) -> None:
        for name in names:
            trustee_decrypt(self.trustees[name], election_id, self.trustee_file(name, election_id), accept_attested=accept_attested)

    def stop(self) -> None:
        for client in self.clients:
            client.close()
        self.admin.close()
        self.server.stop()


def start_pilot(pki: Pki, data_dir: Path, database_url: str, *, front: Mitm | None = None, **settings: str) -> Pilot:
    """A server on a loopback port with A0001 as administrator and T0001-T0003 enrolled.

    With ``front`` (a started malicious server stand-in) the server's public URL
    is the stand-in's, as behind a reverse proxy, and every client goes through it."""
    if front is not None:
        settings["public_url"] = front.url
    admin_credential = pki.enroll(ADMIN)
    trustee_credentials = {t: pki.enroll(t) for t in TRUSTEES}
    server = start_server(data_dir, database_url, admins=[ADMIN], **settings)
    if front is not None:
        front.upstream = server.url
    front_url = front.url if front is not None else None
    admin = Client(front_url or server.url)
    try:
        admin.login(admin_credential)
    except Exception:
        server.stop()
        raise
    return Pilot(pki, data_dir, database_url, server, admin, trustee_credentials, front_url=front_url)
