"""Shared test helpers: a pilot CA with employees, databases, and a real server
process on a loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from crypto import ca
from crypto.credentials import Credential, certificate_to_pem, crl_to_pem
from voting import operator
from voting.settings import Settings

PG_ENV = "VOTING_TEST_DATABASE_URL"
#: PostgreSQL databases made by this test run, dropped when it ends (tests/conftest.py).
CREATED_DATABASES: list[str] = []


@dataclass
class Pki:
    """The pilot CA of one test: root and issuing CA, CRLs written into ``ca_dir``."""

    ca_dir: Path
    root: ca.Authority
    issuing: ca.Authority
    revoked: list[x509.RevokedCertificate] = field(default_factory=list)
    crl_number: int = 1

    def enroll(self, employee_id: str, name: str | None = None, key_type: str = "P-256", **kwargs) -> Credential:
        return ca.enroll_employee(
            self.issuing, employee_id=employee_id, name=name or f"職員 {employee_id}", now=kwargs.pop("now", datetime.now(UTC)),
            key_type=key_type, **kwargs,
        )

    def revoke(self, credential: Credential) -> None:
        self.revoked.append(ca.revoke(self.issuing, credential.certificate, now=datetime.now(UTC)))
        self.write_crl()

    def write_crl(self, *, next_update: timedelta = timedelta(days=7), now: datetime | None = None) -> None:
        now = now or datetime.now(UTC) - timedelta(minutes=1)
        self.crl_number += 1
        crls = [
            ca.build_crl(self.root, [], now=now, next_update=now + next_update, crl_number=self.crl_number),
            ca.build_crl(self.issuing, self.revoked, now=now, next_update=now + next_update, crl_number=self.crl_number),
        ]
        (self.ca_dir / "crl.pem").write_text("".join(crl_to_pem(c) for c in crls))


def make_pki(data_dir: Path) -> Pki:
    ca_dir = data_dir / "ca"
    ca_dir.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC) - timedelta(hours=1)
    root = ca.create_root_ca("Test City Root CA", now=now)
    issuing = ca.create_issuing_ca(root, "Test City Issuing CA", now=now)
    (ca_dir / "root.pem").write_text(certificate_to_pem(root.certificate))
    pki = Pki(ca_dir, root, issuing)
    pki.write_crl()
    return pki


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_backends() -> list:
    """Fixture params: 'sqlite', and 'postgresql' marked ``postgres`` (skipped with
    a reason when VOTING_TEST_DATABASE_URL names no server: tests/conftest.py)."""
    return ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def fresh_database_url(backend: str, data_dir: Path) -> str:
    """An empty database for one test: a new SQLite file, or a new PostgreSQL database."""
    if backend == "sqlite":
        return f"sqlite:///{data_dir / 'voting.sqlite3'}"
    url = operator.create_postgres_database(os.environ[PG_ENV], "t")
    CREATED_DATABASES.append(url)
    return url


@dataclass
class ServerProcess:
    """``uvicorn`` serving ``voting.app:create_app`` in a child process."""

    settings: Settings
    env: dict
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    factory: str = "voting.app:create_app"
    """The app factory uvicorn serves (a test may wrap the app, e.g. to inject a fault)."""

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.port}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        self.log_path = self.settings.data_dir / f"server-{self.settings.port}.log"
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", self.factory,
             "--host", self.settings.host, "--port", str(self.settings.port), "--log-level", "warning"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/api/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("server did not start in time")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def server_settings(data_dir: Path, database_url: str, **extra: str) -> tuple[Settings, dict]:
    port = free_port()
    env = {
        **os.environ,
        "VOTING_DATA_DIR": str(data_dir),
        "VOTING_DATABASE_URL": database_url,
        "VOTING_HOST": "127.0.0.1",
        "VOTING_PORT": str(port),
        "VOTING_LOGIN_RATE_PER_MINUTE": "0",
        # No background purge of spent logins, which would change the tables
        # that tests compare before and after a refusal (test_ops_db sets one).
        "VOTING_PURGE_INTERVAL_S": "0",
        **{f"VOTING_{k.upper()}": v for k, v in extra.items()},
    }
    settings = Settings(data_dir=data_dir, database_url=database_url, port=port)
    return settings, env


def start_server(
    data_dir: Path, database_url: str, admins: Sequence[str] = (), auditors: Sequence[str] = (), **extra: str
) -> ServerProcess:
    settings, env = server_settings(data_dir, database_url, **extra)
    operator.upgrade(settings)  # as `voting serve` does before it starts the app
    for employee_id in admins:
        operator.add_role(settings, employee_id, "admin")
    for employee_id in auditors:
        operator.add_role(settings, employee_id, "auditor")
    return ServerProcess(settings, env).start()


def manifest(
    election_id: str = "survey-2026", *, options: int = 5, revote: str = "last", max_selections: int = 1, min_selections: int = 1,
    min_tally_ballots: int | None = None,
) -> dict:
    """A staff survey in Japanese and English. ``min_tally_ballots``: for a test
    that tallies fewer ballots than the default minimum (5)."""
    doc: dict[str, object] = {
        "election_id": election_id,
        "title": {"ja": "テレワークに関する職員アンケート", "en": "Staff survey on remote work"},
        "revote_policy": revote,
        "questions": [
            {
                "id": "q1",
                "text": {"ja": "希望するテレワークの日数は？", "en": "How many remote-work days would you like?"},
                "min_selections": min_selections,
                "max_selections": max_selections,
                "options": [
                    {"id": f"o{i}", "label": {"ja": f"週{i}日", "en": f"{i} days a week"}} for i in range(options)
                ],
            }
        ],
    }
    if min_tally_ballots is not None:
        doc["min_tally_ballots"] = min_tally_ballots
    return doc


def roll_csv(employee_ids: list[str]) -> str:
    return "employee_id,name,department\n" + "".join(f"{e},職員 {e},総務課\n" for e in employee_ids)
