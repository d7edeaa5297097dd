"""`voting ca issue` and `voting election roll` with the files Excel writes:
cp932 read (it was a traceback), a --dry-run preview that writes nothing, every
wrong line listed in English and Japanese, and `--remove` to correct the roll."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.support import start_server
from voting.cli import main
from voting.cli.demo import MANIFEST
from voting.client import Client

DATA = Path(__file__).resolve().parent / "data"
PIN = "246810"
WIDE = {"COLUMNS": "200"}


def invoke(*args: object, env: dict | None = None) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], env={**WIDE, **(env or {})})


def ok(*args: object, env: dict | None = None) -> str:
    result = invoke(*args, env=env)
    assert result.exit_code == 0, f"{args}: {result.output}\n{result.exception!r}"
    return result.output


def refused(*args: object, env: dict | None = None) -> str:
    """One clear message, exit status 1, never a traceback."""
    result = invoke(*args, env=env)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), f"{result.output}\n{result.exception!r}"
    assert "Traceback" not in result.output
    return result.output


def test_ca_issue_reads_a_cp932_roster_and_previews_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    ok("ca", "init", "--data-dir", data_dir)
    roster = DATA / "roster_cp932.csv"
    output = ok("ca", "issue", roster, "--data-dir", data_dir, "--pin", PIN, "--dry-run")
    assert "山田\u3000太郎" in output and "鈴木 次郎" in output and "3 credential(s) would be issued" in output
    assert not (data_dir / "credentials").exists()
    registry = json.loads((data_dir / "ca" / "registry.json").read_text(encoding="utf-8"))
    assert registry["certificates"] == []

    ok("ca", "issue", roster, "--data-dir", data_dir, "--pin", PIN)
    doc = json.loads((data_dir / "credentials" / "A0001.credential.json").read_text(encoding="utf-8"))
    assert doc["name"] == "鈴木 次郎"

    lost = tmp_path / "lost.csv"
    shutil.copy(DATA / "roll_lost_zeros.csv", lost)
    output = refused("ca", "issue", lost, "--data-dir", data_dir, "--pin", PIN, "--dry-run")
    assert "leading zeros" in output and "先頭の 0" in output and "no credential was issued" in output
    assert not (data_dir / "credentials" / "42.credential.json").exists()
    utf16 = tmp_path / "unicode.csv"
    utf16.write_bytes("職員番号,氏名,所属\n".encode("utf-16"))
    assert "CSV UTF-8" in refused("ca", "issue", utf16, "--data-dir", data_dir, "--pin", PIN)


@pytest.mark.slow
def test_election_roll_previews_imports_and_corrects_a_cp932_roll(data_dir: Path, database_url: str, tmp_path: Path) -> None:
    local = {"VOTING_DATABASE_URL": database_url, "VOTING_DATA_DIR": str(data_dir)}
    ok("ca", "init", env=local)
    ok("ca", "issue", DATA / "roster_cp932.csv", "--pin", PIN, env=local)
    trustees = tmp_path / "trustees.csv"
    trustees.write_text("employee_id,name,department,role\n" + "".join(f"T000{i},委員 {i},選管,trustee\n" for i in (1, 2)), encoding="utf-8")
    ok("ca", "issue", trustees, "--pin", PIN, env=local)
    ok("db", "upgrade", env=local)
    ok("roster", "add", "A0001", "--role", "admin", env=local)
    server = start_server(data_dir, database_url)
    try:
        http = {"VOTING_SERVER": server.url, "VOTING_PIN": PIN}
        as_admin = ("--credential", data_dir / "credentials" / "A0001.credential.json")
        manifest = {**MANIFEST, "election_id": "roster-cli"}
        manifest_path = tmp_path / "manifest.json"
        manifest_path.write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
        ok("election", "create", manifest_path, "--trustees", "T0001,T0002", "--threshold", "2", *as_admin, env=http)

        roll = DATA / "roll_cp932.csv"
        output = ok("election", "roll", "roster-cli", roll, "--dry-run", *as_admin, env=http)
        assert "cp932" in output and "髙橋 一郎" in output and "3 voter(s) would be added" in output
        assert Client(server.url).status("roster-cli")["roll_size"] == 0

        output = refused("election", "roll", "roster-cli", DATA / "roll_lost_zeros.csv", "--dry-run", *as_admin, env=http)
        assert "leading zeros" in output and "先頭の 0" in output and "nothing was written" in output

        assert "Added 3 voter(s)" in ok("election", "roll", "roster-cli", roll, *as_admin, env=http)
        output = refused("election", "roll", "roster-cli", roll, *as_admin, env=http)
        assert "already on the roll" in output and "roll_invalid" in output

        output = ok("election", "roll", "roster-cli", "--remove", "E0002", *as_admin, env=http)
        assert "Removed E0002" in output and "2 voter(s)" in output
        assert Client(server.url).status("roster-cli")["roll_size"] == 2
        assert "roll_entry_not_found" in refused("election", "roll", "roster-cli", "--remove", "E0002", *as_admin, env=http)
        assert "either ROLL" in refused("election", "roll", "roster-cli", roll, "--remove", "E0003", *as_admin, env=http)
    finally:
        server.stop()
