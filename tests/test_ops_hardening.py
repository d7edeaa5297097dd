"""Mistakes and attacks found in review: settings refused in one line, a receipt
path checked before the ballot is cast, the database driver's settings errors.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from crypto.credentials import certificate_to_pem, seal_credential
from tests.support import manifest
from voting.cli import main
from voting.settings import Settings

PG = os.environ.get("VOTING_TEST_DATABASE_URL")


def voting(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VOTING_")}
    clean.update({"VOTING_DATA_DIR": str(tmp_path / "data"), **{f"VOTING_{k}": v for k, v in env.items()}})
    return subprocess.run([sys.executable, "-m", "voting.cli", *args], env=clean, cwd=tmp_path, capture_output=True, text=True, timeout=60)


def one_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# --- settings refused in one line ----------------------------------------------------------------


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("MAX_CLOCK_SKEW_S", "-5", "VOTING_MAX_CLOCK_SKEW_S must be at least 0"),
        ("SESSION_TTL_S", "-1", "VOTING_SESSION_TTL_S must be at least 0"),
        ("HEADER_TIMEOUT_S", "-10", "VOTING_HEADER_TIMEOUT_S must be at least 0"),
        ("FORWARDED_ALLOW_IPS", "fe80::1%lo", "'fe80::1%lo'"),
        ("DATABASE_URL", "postgres://", "names no database server or no database"),
        ("DATABASE_URL", "postgresql://db.example", "names no database server or no database"),
        ("DATABASE_URL", "mysql://voting@db.example/voting", "must be postgresql://"),
        ("DATABASE_URL", "postgresql://voting@db.example/voting?sslmode=bogus", "sslmode must be one of"),
    ],
)
def test_bad_settings_are_refused_in_one_line(tmp_path, name, value, expected):
    line = one_line(voting("serve", "--port", "1", tmp_path=tmp_path, **{name: value}))
    assert expected in line, line
    assert not (tmp_path / "data").exists()


def test_good_database_urls_are_accepted():
    assert Settings(database_url="postgresql:///voting?host=/run/postgresql").db_url.startswith("postgresql+asyncpg:///voting")
    assert Settings(database_url="postgres://u@h/db?sslmode=verify-full").db_url.endswith("?ssl=verify-full")
    assert Settings(database_url="sqlite:///x.sqlite3").db_url == "sqlite+aiosqlite:///x.sqlite3"


@pytest.mark.postgres
@pytest.mark.parametrize("mode", ["verify-full", "verify-ca"])
def test_a_missing_root_certificate_is_one_line(tmp_path, mode):
    """asyncpg's ClientConfigurationError used to print a 200-line traceback."""
    env = {"DATABASE_URL": f"{PG}?sslmode={mode}"}
    home = tmp_path / "home"  # no ~/.postgresql/root.crt
    home.mkdir()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("VOTING_", "PGSSL"))}
    clean.update({"HOME": str(home), "VOTING_DATA_DIR": str(tmp_path / "data"), "VOTING_DATABASE_URL": env["DATABASE_URL"]})
    result = subprocess.run([sys.executable, "-m", "voting.cli", "db", "upgrade"], env=clean, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    line = one_line(result)
    assert "root certificate" in line and "PGSSLROOTCERT" in line, line


# --- the receipt path is checked before casting ----------------------------------------------------


@pytest.mark.slow
def test_a_receipt_path_is_checked_before_the_ballot_is_cast(pilot, tmp_path):
    election_id = pilot.open_election(manifest(), ["E0001"])
    credential = pilot.pki.enroll("E0001")
    path = tmp_path / "E0001.credential.json"
    path.write_text(json.dumps(seal_credential(credential.private_key, credential.chain, "123456", employee_id="E0001", name="職員", iterations=1000)))
    (tmp_path / "root.pem").write_text(certificate_to_pem(pilot.pki.root.certificate))
    args = ["vote", election_id, "-c", str(path), "--pin", "123456", "--server", pilot.url, "--choose", "q1=o1",
            "--trust-anchor", str(tmp_path / "root.pem"), "--yes"]
    runner = CliRunner()
    # A path under a file: cannot be written; refused before anything is cast.
    (tmp_path / "a-file").write_text("x")
    refused = runner.invoke(main, [*args, "--receipt", str(tmp_path / "a-file" / "r.json")], env={"COLUMNS": "200"})
    assert refused.exit_code == 1 and "Nothing was cast" in refused.output, refused.output
    assert pilot.admin.status(election_id)["ballots_cast"] == 0
    # A directory that does not exist yet: created, and the receipt kept.
    receipt = tmp_path / "receipts" / "r.json"
    voted = runner.invoke(main, [*args, "--receipt", str(receipt)], env={"COLUMNS": "200"})
    assert voted.exit_code == 0, voted.output
    assert json.loads(receipt.read_text())["leaf_index"] >= 1
    assert pilot.admin.status(election_id)["ballots_cast"] == 1


@pytest.mark.slow
def test_a_file_that_is_not_a_receipt_is_a_failed_check_not_a_traceback(pilot, tmp_path):
    """``verify-receipt --server`` reads the file before anything else: an empty
    object (or another JSON file) is refused as not a receipt, exit status 1."""
    not_a_receipt = tmp_path / "empty.json"
    not_a_receipt.write_text("{}")
    result = CliRunner().invoke(main, ["verify-receipt", str(not_a_receipt), "--server", pilot.url], env={"COLUMNS": "200"})
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "does NOT verify" in result.output and "a receipt is an object" in result.output, result.output
