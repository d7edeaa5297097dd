"""Key custody: every secret or personal file the project writes is for its
owner only (0600, directories it creates 0700), whatever the umask. A pilot is
set up through the command line as docs/operations.md says (the CA, the
credentials, the database, the server, an election, a trustee's ceremony
step, a witness, the auditors' export), then the data directory and every
output are walked."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tests.cli_support import run
from tests.support import fresh_database_url, manifest, start_server

PIN = "246810"
#: Public by nature: the CAs' certificates and the CRLs (the service and every
#: client read them); everything else in the data directory is private.
PUBLIC_IN_DATA_DIR = {"ca/root.pem", "ca/issuing.pem", "ca/crl.pem", "credentials/root.pem"}


@pytest.fixture
def open_umask():
    """The common default umask, under which files were world-readable."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def too_open(root: Path, public: set[str] = frozenset(), ignore: tuple[str, ...] = ()) -> list[str]:
    """Every directory under ``root`` (itself included) not 0700 and every file
    others may read or write, except ``public`` (relative paths)."""
    found = [] if mode(root) == 0o700 else [f"{root.name}/ {mode(root):o}"]
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        if name in public or path.name.startswith(ignore):
            continue
        if path.is_dir() and mode(path) != 0o700:
            found.append(f"{name}/ {mode(path):o}")
        elif path.is_file() and mode(path) & 0o077:
            found.append(f"{name} {mode(path):o}")
    return found


@pytest.mark.slow
def test_secret_and_personal_files_are_for_their_owner_only(open_umask, backend: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "server" / "data"
    database_url = "" if backend == "sqlite" else fresh_database_url(backend, tmp_path)
    local = {"VOTING_DATA_DIR": str(data_dir), "VOTING_DATABASE_URL": database_url}
    run("ca", "init", env=local)
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "employee_id,name,department,role\nA0001,佐藤 健一,事務局,admin\n"
        + "".join(f"T000{i},委員 {i},選挙管理委員会,trustee\n" for i in (1, 2, 3)),
        encoding="utf-8",
    )
    run("ca", "issue", roster, "--pin", PIN, env=local)
    run("db", "upgrade", env=local)
    run("roster", "add", "A0001", "--role", "admin", env=local)

    server = start_server(data_dir, database_url)
    try:
        http = {"VOTING_SERVER": server.url, "VOTING_PIN": PIN}
        as_admin = ("--credential", data_dir / "credentials" / "A0001.credential.json")
        manifest_path = tmp_path / "manifest.json"
        manifest_path.write_text(json.dumps(manifest("custody-2026"), ensure_ascii=False), encoding="utf-8")
        run("election", "create", manifest_path, "--trustees", "T0001,T0002,T0003", "--threshold", "2", *as_admin, env=http)
        run("election", "ceremony-start", "custody-2026", *as_admin, env=http)
        # The trustee's machine: a new directory for its state file.
        trustee_state = tmp_path / "trustee-machine" / "voting" / "state.json"
        output = run(
            "trustee", "ceremony", "custody-2026", "--credential", data_dir / "credentials" / "T0001.credential.json",
            "--state", trustee_state, "--no-wait", input="y\n", env=http,
        ).output
        assert trustee_state.exists(), output
        exports = tmp_path / "auditor-machine"
        run("election", "export", "custody-2026", exports / "private", "--private", *as_admin, env=http)
        run("election", "export", "custody-2026", exports / "zip" / "private.zip", "--private", *as_admin, env=http)
        run("election", "export", "custody-2026", tmp_path / "public" / "record.zip", env=http)
    finally:
        server.stop()
    witness_state = tmp_path / "witness-machine" / "voting" / "state.json"
    run("witness", "init", "--state", witness_state, "--name", "監査事務局")

    assert (data_dir / "ca" / "registry.json").exists() and (data_dir / "server-signing-key.pem").exists()
    if backend == "sqlite":
        assert (data_dir / "voting.sqlite3").exists()
    # The test's own server log sits in the data directory too.
    assert too_open(data_dir, PUBLIC_IN_DATA_DIR, ignore=("server-",)) == []
    assert too_open(trustee_state.parent.parent) == []
    assert too_open(witness_state.parent.parent) == []
    assert (exports / "private" / "auditors").is_dir()
    assert too_open(exports) == []
    # The public record is for everyone: it keeps the umask's mode.
    assert mode(tmp_path / "public" / "record.zip") == 0o644


def test_modes_hold_whatever_the_umask(tmp_path: Path) -> None:
    """A umask that would leave group bits (or none at all) changes nothing."""
    from voting import keys
    from voting.files import create_private_file, write_file

    old = os.umask(0)
    try:
        write_file(tmp_path / "a" / "b" / "secret.json", "{}", private=True)
        keys.load_or_create(tmp_path / "data" / "server-signing-key.pem")
        create_private_file(tmp_path / "db" / "voting.sqlite3")
        write_file(tmp_path / "public" / "crl.pem", "x")
    finally:
        os.umask(old)
    assert too_open(tmp_path / "a") == []
    assert too_open(tmp_path / "data") == []
    assert too_open(tmp_path / "db") == []
    assert mode(tmp_path / "public" / "crl.pem") == 0o644
    # An existing directory is not changed (it may be a home directory).
    before = mode(tmp_path / "public")
    write_file(tmp_path / "public" / "key.pem", "k", private=True)
    assert mode(tmp_path / "public") == before and mode(tmp_path / "public" / "key.pem") == 0o600
