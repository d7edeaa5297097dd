"""Database maintenance (issue 13, items 9 and 13): ``voting db backup`` while
ballots are being cast over real HTTP, the documented restore drill, ``voting
db check`` finding a tampered board, the purge of spent logins (command, app
background task, and the cap on challenges), and ``voting election archive``;
on SQLite, and on PostgreSQL when VOTING_TEST_DATABASE_URL is set."""

from __future__ import annotations

import asyncio
import os
import stat
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import delete, func, select, update

from crypto.credentials import make_login_token
from crypto.errors import CredentialError, NonceError
from tests.http_support import problem, start_pilot, two_question_manifest
from tests.support import CREATED_DATABASES, PG_ENV, ServerProcess, server_settings
from voting import operator
from voting.auth import service as auth_service
from voting.cli import main
from voting.client import ApiError, Client
from voting.db.engine import Database, make_engine
from voting.db.models import Ballot, Base, BoardEntry, Election, LoginNonce, Role, Session, TreeHead
from voting.maintenance import purge_expired
from voting.record.files import read_record
from voting.services import Services
from voting.settings import Settings
from voting.verify import verify_record


def voting(database_url: str, data_dir: Path, *args: str, input: str | None = None):
    """``voting ARGS`` in-process, against the test's database."""
    env = {"VOTING_DATABASE_URL": database_url, "VOTING_DATA_DIR": str(data_dir)}
    return CliRunner().invoke(main, list(args), env=env, input=input, catch_exceptions=False)


def on_db(database_url: str, work):
    async def run():
        database = Database(make_engine(Settings(database_url=database_url).db_url))
        try:
            async with database.session() as db:
                result = await work(db)
                await db.commit()
                return result
        finally:
            await database.close()

    return asyncio.run(run())


def board_size(database_url: str, election_id: str) -> int:
    return on_db(database_url, lambda db: db.scalar(select(func.count()).select_from(BoardEntry).where(BoardEntry.election_id == election_id)))


class Voters:
    """Voters of an open election, each with ballots prepared beforehand
    (re-votes: the last one counts), cast from a thread on demand."""

    def __init__(self, pilot, election_id: str, count: int, ballots_each: int) -> None:
        self.queue = []
        for i in range(count):
            credential = pilot.pki.enroll(f"E{i:04d}")
            voter = pilot.login(credential)
            voter.ensure_registered(election_id)
            for k in range(ballots_each):
                choices = [[int(j == (i + k) % 4) for j in range(4)], [int(j == (i + k) % 3) for j in range(4)]]
                self.queue.append((voter, voter.prepare_ballot(election_id, choices)))
        self.receipts: list[dict] = []

    def cast(self, n: int) -> None:
        for _ in range(n):
            voter, ballot = self.queue.pop(0)
            self.receipts.append(voter.cast(ballot))

    def cast_in_background(self, until: threading.Event) -> threading.Thread:
        def run() -> None:
            while self.queue and not until.is_set():
                self.cast(1)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread


def fresh_postgres() -> str:
    url = operator.create_postgres_database(os.environ[PG_ENV], "t")
    CREATED_DATABASES.append(url)
    return url


# --- backup under load, restore drill -----------------------------------------------------------


def test_backup_while_ballots_are_cast_finishes_and_the_copy_checks(pki, data_dir, database_url, backend, tmp_path):
    pilot = start_pilot(pki, data_dir, database_url)
    try:
        election_id = pilot.open_election(two_question_manifest("backup-2026"), [f"E{i:04d}" for i in range(8)])
        voters = Voters(pilot, election_id, 8, 3)
        voters.cast(2)
        stop = threading.Event()
        thread = voters.cast_in_background(stop)
        while len(voters.receipts) < 5:
            time.sleep(0.01)
        copy = tmp_path / "backup.db"
        backed_up = voting(database_url, data_dir, "db", "backup", str(copy))
        cast_during = len(voters.receipts)
        stop.set()
        thread.join()
        assert backed_up.exit_code == 0, backed_up.output
        assert "Backed up the database" in backed_up.output and " s;" in backed_up.output
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600
        assert not list(tmp_path.glob(".backup.db.*")), "the temporary file was left behind"
        assert cast_during >= 5

        # The copy passes the checks: integrity, schema, the board against its signed head.
        if backend == "sqlite":
            copy_url = f"sqlite:///{copy}"
        else:
            copy_url = fresh_postgres()
            restored = voting(copy_url, data_dir, "db", "restore", str(copy), "--yes")
            assert restored.exit_code == 0, restored.output
        checked = voting(copy_url, data_dir, "db", "check")
        assert checked.exit_code == 0, checked.output
        assert "The database is sound" in checked.output
        size = board_size(copy_url, election_id)
        assert size >= 5  # what the backup holds is a board whose newest head it verified

        # A second backup to the same name is refused, and leaves the first one alone.
        again = voting(database_url, data_dir, "db", "backup", str(copy))
        assert again.exit_code == 1 and "exists" in again.output
        assert len(again.output.strip().splitlines()) == 1
    finally:
        pilot.stop()


@pytest.mark.slow
def test_restore_drill_back_up_cast_restore_check(pki, data_dir, database_url, backend, tmp_path):
    """The drill of docs/operations.md: back up, cast, (refused while running),
    stop, restore, check, start again: the board is the backup's."""
    pilot = start_pilot(pki, data_dir, database_url)
    try:
        election_id = pilot.open_election(two_question_manifest("drill-2026"), [f"E{i:04d}" for i in range(4)])
        voters = Voters(pilot, election_id, 4, 2)
        voters.cast(3)
        backup_file = tmp_path / "drill.backup"
        assert voting(database_url, data_dir, "db", "backup", str(backup_file)).exit_code == 0
        size_at_backup = board_size(database_url, election_id)
        voters.cast(2)
        size_after = board_size(database_url, election_id)
        assert size_after > size_at_backup

        refused = voting(database_url, data_dir, "db", "restore", str(backup_file), "--yes")
        assert refused.exit_code == 1
        assert "stop the service first" in refused.output
        assert board_size(database_url, election_id) == size_after
    finally:
        pilot.stop()

    # The attack: the drill typed on production with an election open lost every ballot since the
    # backup. A restore is now refused while an election is open, and shows what it replaces first.
    unforced = voting(database_url, data_dir, "db", "restore", str(backup_file), "--yes")
    assert unforced.exit_code == 1 and f"election {election_id} is open" in unforced.output and "--force" in unforced.output
    assert len(unforced.output.strip().splitlines()) == 1
    assert board_size(database_url, election_id) == size_after
    unconfirmed = voting(database_url, data_dir, "db", "restore", str(backup_file), "--force", input="n\n")
    assert unconfirmed.exit_code == 1 and board_size(database_url, election_id) == size_after
    assert "Backup taken" in unconfirmed.output
    assert f"{election_id}: board size now {size_after} (open), in the backup {size_at_backup}" in unconfirmed.output
    restored = voting(database_url, data_dir, "db", "restore", str(backup_file), "--yes", "--force")
    assert restored.exit_code == 0, restored.output
    assert "The database is sound" in restored.output
    assert board_size(database_url, election_id) == size_at_backup
    if backend == "sqlite":
        assert list(data_dir.glob("voting.sqlite3.replaced-*")), "the replaced database was not kept"
    assert voting(database_url, data_dir, "db", "check").exit_code == 0

    settings, env = server_settings(data_dir, database_url)
    server = ServerProcess(settings, env).start()
    try:
        with Client(server.url) as client:
            assert client.get(f"/api/elections/{election_id}/board/head")["size"] == size_at_backup
    finally:
        server.stop()


def test_backup_of_postgresql_without_pg_dump_is_one_line(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no pg_dump on it
    result = voting("postgresql://postgres@127.0.0.1:1/none", data_dir, "db", "backup", str(tmp_path / "x.dump"))
    assert result.exit_code == 1
    assert "pg_dump is not installed" in result.output and len(result.output.strip().splitlines()) == 1
    assert not list(tmp_path.glob("*.dump*"))


# --- check ------------------------------------------------------------------------------------------


def test_check_finds_a_tampered_board_row(pki, data_dir, database_url):
    pilot = start_pilot(pki, data_dir, database_url)
    try:
        election_id = pilot.open_election(two_question_manifest("check-2026"), [f"E{i:04d}" for i in range(3)])
        Voters(pilot, election_id, 3, 1).cast(3)
    finally:
        pilot.stop()
    sound = voting(database_url, data_dir, "db", "check")
    assert sound.exit_code == 0, sound.output

    # One ballot entry's stored bytes changed (its stored hash left as it was).
    async def tamper(db):
        row = await db.scalar(
            select(BoardEntry).where(BoardEntry.election_id == election_id, BoardEntry.kind == "ballot").order_by(BoardEntry.leaf_index)
        )
        await db.execute(
            update(BoardEntry)
            .where(BoardEntry.election_id == election_id, BoardEntry.leaf_index == row.leaf_index)
            .values(data=row.data.replace('"ballot"', '"ballot" ', 1))
        )
        return row.leaf_index

    index = on_db(database_url, tamper)
    found = voting(database_url, data_dir, "db", "check")
    assert found.exit_code == 1
    assert f"election {election_id}: board entry {index}: its stored leaf hash is not the hash of its stored bytes" in found.output

    # The status's counters no longer match the rows: a ballot row deleted (its board entry left as it was).
    async def delete_ballot(db):
        await db.execute(delete(Ballot).where(Ballot.election_id == election_id, Ballot.tracking_code == code))

    code = on_db(database_url, lambda db: db.scalar(select(Ballot.tracking_code).where(Ballot.election_id == election_id)))
    on_db(database_url, delete_ballot)
    found = voting(database_url, data_dir, "db", "check")
    assert found.exit_code == 1
    assert f"election {election_id}: its status shows 3 ballots cast, its tables hold 2" in found.output

    # Hash and bytes changed together: the root no longer matches the signed head.
    async def rehash(db):
        from crypto.log import leaf_hash

        row = await db.get(BoardEntry, (election_id, index))
        await db.execute(
            update(BoardEntry)
            .where(BoardEntry.election_id == election_id, BoardEntry.leaf_index == index)
            .values(leaf_hash=leaf_hash(row.data.encode()))
        )

    on_db(database_url, rehash)
    found = voting(database_url, data_dir, "db", "check")
    assert found.exit_code == 1
    assert "do not hash to the root of its newest signed tree head" in found.output
    assert "stored leaf hash" not in found.output


def test_check_finds_a_forged_tree_head(pki, data_dir, database_url):
    pilot = start_pilot(pki, data_dir, database_url)
    try:
        election_id = pilot.create(two_question_manifest("head-2026"), ["E0001"])
    finally:
        pilot.stop()

    async def forge(db):
        newest = await db.scalar(select(func.max(TreeHead.size)).where(TreeHead.election_id == election_id))
        await db.execute(
            update(TreeHead).where(TreeHead.election_id == election_id, TreeHead.size == newest).values(timestamp_ms=TreeHead.timestamp_ms + 1)
        )

    on_db(database_url, forge)
    found = voting(database_url, data_dir, "db", "check")
    assert found.exit_code == 1
    assert "does not verify under the board's server key" in found.output


# --- purge ------------------------------------------------------------------------------------------


def test_purge_removes_expired_rows_and_keeps_live_ones(data_dir, database_url):
    settings = Settings(data_dir=data_dir, database_url=database_url)
    operator.upgrade(settings)
    now = datetime.now(UTC)
    later, earlier = now + timedelta(minutes=5), now - timedelta(seconds=1)

    async def fill(db):
        db.add_all(
            [
                LoginNonce(nonce="live", expires_at=later, used=True),
                LoginNonce(nonce="just-expired", expires_at=earlier, used=True),
                LoginNonce(nonce="expired", expires_at=now - timedelta(hours=1), used=True),
            ]
        )
        for name, expires, revoked in (("live", later, False), ("expired", earlier, False), ("ended", later, True)):
            db.add(
                Session(
                    id=name, employee_id="E0001", certificate=b"", certificate_chain="[]", created_at=earlier - timedelta(hours=1),
                    expires_at=expires, last_seen=earlier, revoked=revoked,
                )
            )

    on_db(database_url, fill)
    purged = voting(database_url, data_dir, "db", "purge")
    assert purged.exit_code == 0, purged.output
    assert "Deleted 1 login challenge(s) and 2 session(s)." in purged.output

    async def left(db):
        return set(await db.scalars(select(LoginNonce.nonce))), set(await db.scalars(select(Session.id)))

    # A spent challenge is kept until one more lifetime (VOTING_NONCE_TTL_S) after it expired:
    # its row is what refuses its second use, and each host judges the expiry by its own clock.
    assert on_db(database_url, left) == ({"live", "just-expired"}, {"live"})
    assert voting(database_url, data_dir, "db", "purge").output.startswith("Deleted 0 login challenge(s) and 0 session(s).")


def count_challenges(database_url: str) -> int:
    return on_db(database_url, lambda db: db.scalar(select(func.count()).select_from(LoginNonce)))


@pytest.mark.slow
def test_the_service_purges_spent_challenges_by_itself(pki, data_dir, database_url):
    pilot = start_pilot(pki, data_dir, database_url, purge_interval_s="1", nonce_ttl_s="2")
    try:
        voter = pki.enroll("E0001")
        for _ in range(3):
            pilot.login(voter)  # each spends a challenge: a row until it expires
        assert count_challenges(database_url) >= 3
        deadline = time.monotonic() + 60
        while count_challenges(database_url) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert count_challenges(database_url) == 0
        assert pilot.admin.get("/api/auth/me")["employee_id"]  # the administrator's live session was kept
    finally:
        pilot.stop()


def test_an_anonymous_client_cannot_pile_up_challenges(pki, data_dir, database_url):
    rate = 4
    pilot = start_pilot(pki, data_dir, database_url, login_rate_per_minute=str(rate))
    try:
        before = count_challenges(database_url)
        # From an address of its own (the administrator logged in from 127.0.0.1).
        with httpx.Client(base_url=pilot.url, transport=httpx.HTTPTransport(local_address="127.0.0.3")) as http:
            statuses = [http.post("/api/auth/challenge").status_code for _ in range(2 * rate + 5)]
            assert statuses[: 2 * rate] == [200] * (2 * rate)
            assert set(statuses[2 * rate :]) == {429}
            assert problem(http.post("/api/auth/challenge")) == (429, "rate_limited")
        assert count_challenges(database_url) == before  # a challenge is written only when it is spent
        # Another address still gets its own.
        local = httpx.Client(base_url=pilot.url, transport=httpx.HTTPTransport(local_address="127.0.0.2"))
        with local:
            assert local.post("/api/auth/challenge").status_code == 200
    finally:
        pilot.stop()


# --- archive ----------------------------------------------------------------------------------------


def fresh_crl(pki) -> None:
    """A CRL issued after the last event, as the verifier's eligibility check needs
    (docs/operations.md: publish one after publication, before archiving)."""
    time.sleep(1.1)  # CRL times are whole seconds
    pki.write_crl(now=datetime.now(UTC))


def rows_of(database_url: str, election_id: str) -> dict[str, int]:
    async def count(db):
        found = {}
        for table in Base.metadata.sorted_tables:
            if "election_id" in table.columns:
                found[table.name] = await db.scalar(select(func.count()).select_from(table).where(table.c.election_id == election_id))
        found["roles"] = await db.scalar(select(func.count()).select_from(Role).where(Role.scope == election_id))
        found["elections"] = await db.scalar(select(func.count()).select_from(Election).where(Election.id == election_id))
        return found

    return on_db(database_url, count)


@pytest.mark.slow
def test_archive_exports_verifies_then_deletes_a_published_election(pki, data_dir, database_url, tmp_path):
    pilot = start_pilot(pki, data_dir, database_url)
    try:
        voters_ids = ["E0000", "E0001"]
        done_id = pilot.open_election(two_question_manifest("archive-2026", min_tally_ballots=2), voters_ids)
        Voters(pilot, done_id, 2, 1).cast(2)
        pilot.admin.close_election(done_id)
        pilot.decrypt(done_id, ["T0001", "T0002"])
        pilot.admin.tally(done_id)
        pilot.admin.publish(done_id)
        fresh_crl(pki)
        open_id = pilot.open_election(two_question_manifest("still-open-2026"), ["E0000"])
        before_open = rows_of(database_url, open_id)
        assert sum(rows_of(database_url, done_id).values()) > 0

        # Not published: refused, nothing deleted, nothing written.
        refused = voting(database_url, data_dir, "election", "archive", open_id, "--out", str(tmp_path / "refused"), "--yes")
        assert refused.exit_code == 1
        assert "not published" in refused.output and len(refused.output.strip().splitlines()) == 1
        assert rows_of(database_url, open_id) == before_open
        assert not (tmp_path / "refused").exists()

        # Published: exported, verified, deleted (while the service runs).
        out = tmp_path / "archive"
        archived = voting(database_url, data_dir, "election", "archive", done_id, "--out", str(out), "--yes")
        assert archived.exit_code == 0, archived.output
        record = out / f"{done_id}-record-auditors.zip"
        assert stat.S_IMODE(record.stat().st_mode) == 0o600
        report = verify_record(read_record(record))
        assert report.ok(strict=True), [(c.number, c.failures, c.note) for c in report.checks if c.status != "pass"]
        assert report.stage == "published"
        assert set(rows_of(database_url, done_id).values()) == {0}
        assert rows_of(database_url, open_id) == before_open
        with Client(pilot.url) as public:
            assert public.status(open_id)["status"] == "open"
            assert problem(httpx.get(f"{pilot.url}/api/elections/{done_id}")) == (404, "election_not_found")
        assert voting(database_url, data_dir, "db", "check").exit_code == 0

        # Again: the election is gone.
        again = voting(database_url, data_dir, "election", "archive", done_id, "--out", str(tmp_path / "again"), "--yes")
        assert again.exit_code == 1 and "no election" in again.output
    finally:
        pilot.stop()


@pytest.mark.slow
def test_archive_refuses_a_record_that_does_not_verify(pki, data_dir, database_url, tmp_path, monkeypatch):
    """A record that fails verification deletes nothing."""
    pilot = start_pilot(pki, data_dir, database_url)
    try:
        election_id = pilot.open_election(two_question_manifest("unverified-2026", min_tally_ballots=1), ["E0000"])
        Voters(pilot, election_id, 1, 1).cast(1)
        pilot.admin.close_election(election_id)
        pilot.decrypt(election_id, ["T0001", "T0002"])
        pilot.admin.tally(election_id)
        pilot.admin.publish(election_id)
        fresh_crl(pki)
    finally:
        pilot.stop()
    before = rows_of(database_url, election_id)

    async def tamper(db):
        row = await db.scalar(select(BoardEntry).where(BoardEntry.election_id == election_id, BoardEntry.kind == "result"))
        await db.execute(
            update(BoardEntry)
            .where(BoardEntry.election_id == election_id, BoardEntry.leaf_index == row.leaf_index)
            .values(data=row.data.replace('"time":"2', '"time":"1', 1))
        )

    on_db(database_url, tamper)
    refused = voting(database_url, data_dir, "election", "archive", election_id, "--out", str(tmp_path / "out"), "--yes")
    assert refused.exit_code == 1
    assert "fails check" in refused.output and "nothing was deleted" in refused.output
    assert rows_of(database_url, election_id) == before


@pytest.fixture(autouse=True)
def _no_stray_environment(monkeypatch):
    """The CLI reads VOTING_* variables: only the ones each call sets."""
    for name in list(os.environ):
        if name.startswith("VOTING_") and name != PG_ENV:
            monkeypatch.delenv(name)


# --- restore checks the copy; check compares the board with the witnesses' cosigned heads -------------------


def _cast_election(pilot, name: str) -> str:
    election_id = pilot.open_election(two_question_manifest(name), [f"E{i:04d}" for i in range(3)])
    Voters(pilot, election_id, 3, 1).cast(3)
    return election_id


@pytest.mark.slow
def test_restore_refuses_a_backup_that_fails_the_check_and_keeps_the_database(pki, data_dir, database_url, backend, tmp_path):
    if backend != "sqlite":
        pytest.skip("the copy checked before it is put in place is SQLite's")
    import sqlite3

    pilot = start_pilot(pki, data_dir, database_url)
    try:
        election_id = _cast_election(pilot, "restore-check-2026")
    finally:
        pilot.stop()
    backup_file = tmp_path / "tampered.backup"
    assert voting(database_url, data_dir, "db", "backup", str(backup_file)).exit_code == 0
    # A sound SQLite file whose board was altered (a ballot's bytes changed).
    with sqlite3.connect(backup_file) as tampered:
        tampered.execute(
            "UPDATE board_entries SET data = replace(data, '\"ballot\"', '\"ballot\" ') WHERE election_id = ? AND kind = 'ballot'",
            (election_id,),
        )
    tampered.close()
    size = board_size(database_url, election_id)
    database_file = data_dir / "voting.sqlite3"
    before = database_file.read_bytes()

    refused = voting(database_url, data_dir, "db", "restore", str(backup_file), "--yes", "--force")
    assert refused.exit_code == 1
    assert "fails the database check" in refused.output and "stored leaf hash" in refused.output
    assert "nothing was restored" in refused.output
    assert database_file.read_bytes() == before and not list(data_dir.glob("voting.sqlite3.replaced-*"))
    assert board_size(database_url, election_id) == size
    assert voting(database_url, data_dir, "db", "check").exit_code == 0


def test_check_finds_entries_removed_with_their_heads_after_a_witness_cosigned_them(pki, data_dir, database_url, backend):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from crypto import log as merkle
    from crypto.witness import cosign
    from voting.db.models import BoardState, Cosignature

    pilot = start_pilot(pki, data_dir, database_url)
    try:
        election_id = _cast_election(pilot, "cosigned-2026")
    finally:
        pilot.stop()
    witness = Ed25519PrivateKey.generate()

    async def cosign_newest(db):
        head = await db.scalar(select(TreeHead).where(TreeHead.election_id == election_id).order_by(TreeHead.size.desc()).limit(1))
        signed = cosign(witness, merkle.TreeHead(election_id, head.size, bytes(head.root), head.timestamp_ms), head.timestamp_ms + 5)
        db.add(Cosignature(election_id=election_id, size=head.size, witness_key=signed.witness_key, time_ms=signed.time_ms, signature=signed.signature))
        state = await db.get(BoardState, election_id)
        return head.size, state.size

    cosigned_size, state_size = on_db(database_url, cosign_newest)
    assert cosigned_size == state_size
    assert voting(database_url, data_dir, "db", "check").exit_code == 0

    # The last ballot removed with its tree head and the board state rewound
    # (with the tool of the database, which leaves the cosignature behind).
    keep = cosigned_size - 1
    statements = [
        "DELETE FROM board_entries WHERE election_id = :e AND leaf_index >= :k",
        "DELETE FROM tree_heads WHERE election_id = :e AND size > :k",
        "UPDATE board_state SET size = :k WHERE election_id = :e",
    ]
    if backend == "sqlite":
        import sqlite3

        with sqlite3.connect(data_dir / "voting.sqlite3") as raw:  # foreign keys are off by default
            for statement in statements:
                raw.execute(statement, {"e": election_id, "k": keep})
        raw.close()
    else:
        async def remove(db):
            from sqlalchemy import text

            await db.execute(text("SET session_replication_role = replica"))
            for statement in statements:
                await db.execute(text(statement), {"e": election_id, "k": keep})

        on_db(database_url, remove)
    found = voting(database_url, data_dir, "db", "check")
    assert found.exit_code == 1
    assert (
        f"election {election_id}: the witnesses cosigned a head of {cosigned_size} entries, "
        f"but the board's newest signed tree head has {keep}: entries were removed"
    ) in found.output


def test_a_symlinked_serve_lock_is_refused_in_one_line(tmp_path):
    """The attack: serve.lock replaced by a symbolic link made the service (and
    restore, rotate) open and create whatever file it points to. The lock is
    opened with O_NOFOLLOW: one line, the target untouched."""
    from voting import servelock

    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    target = tmp_path / "elsewhere"
    (data_dir / servelock.LOCK_NAME).symlink_to(target)
    with pytest.raises(servelock.UnsafeLockFile, match="symbolic link"), servelock.serving(data_dir):
        pass
    backup = tmp_path / "backup.db"
    backup.write_bytes(b"")
    refused = voting("", data_dir, "db", "restore", str(backup), "--yes")
    assert refused.exit_code == 1 and "symbolic link" in refused.output
    assert len(refused.output.strip().splitlines()) == 1
    assert not target.exists()

def test_a_spent_login_token_is_refused_after_a_purge_by_a_host_whose_clock_is_ahead(
    pki, data_dir, database_url, monkeypatch
):
    """A spent challenge's row is what refuses it a second time, and each app
    process judges the challenge's expiry by its own clock: the purge keeps the
    row for one more challenge lifetime after the expiry, so a process whose
    clock is behind the purging host's still refuses a captured token."""
    settings = Settings(data_dir=data_dir, database_url=database_url, nonce_ttl_s=30)
    operator.upgrade(settings)
    alice = pki.enroll("E0001")

    async def attack() -> tuple[dict, object]:
        services = Services.build(settings)
        auth, database = services.auth, services.database
        try:
            challenge = auth.challenge("192.0.2.1")
            expires = auth.challenge_expiry(challenge["nonce"])
            token = make_login_token(
                alice.private_key, alice.chain, nonce=challenge["nonce"], audience=settings.audience,
                now=datetime.now(UTC),
            )
            async with database.write() as db:
                first = await auth.login(db, token, "192.0.2.1")  # the employee's own login

            # Host A (clock 1 s past the expiry) runs its periodic purge ...
            await purge_expired(database, expires + timedelta(seconds=1), spent_kept=timedelta(seconds=30))
            # ... host B (clock 1 s before it: 2 s apart, the tolerated skew) gets the same token again.
            monkeypatch.setattr(auth_service, "now_utc", lambda: expires - timedelta(seconds=1))
            try:
                async with database.write() as db:
                    second: object = await auth.login(db, token, "198.51.100.7")
            except CredentialError as exc:
                second = exc
            return first, second
        finally:
            await services.database.close()

    first, second = asyncio.run(attack())
    assert first["employee_id"] == "E0001"
    assert isinstance(second, NonceError), f"the replayed token opened a second session: {second}"


def run_and_archive(pilot, pki, data_dir, database_url, tmp_path, election_id: str, *, ballots_each: int) -> int:
    """Two voters cast ``ballots_each`` ballots each in a new election, which is
    then tallied, published and archived while the service runs (its id free
    again); returns the size its board had after the casts."""
    pilot.open_election(two_question_manifest(election_id, min_tally_ballots=2), ["E0000", "E0001"])
    Voters(pilot, election_id, 2, ballots_each).cast(2 * ballots_each)
    size = board_size(database_url, election_id)
    pilot.admin.close_election(election_id)
    pilot.decrypt(election_id, ["T0001", "T0002"])
    pilot.admin.tally(election_id)
    pilot.admin.publish(election_id)
    fresh_crl(pki)
    archived = voting(database_url, data_dir, "election", "archive", election_id, "--out", str(tmp_path / "a"), "--yes")
    assert archived.exit_code == 0, archived.output
    for name in pilot.trustee_credentials:  # the trustees' files of the archived election
        pilot.trustee_file(name, election_id).unlink(missing_ok=True)
    return size


@pytest.mark.slow
def test_a_reused_election_id_is_registered_by_its_own_schedule(pki, data_dir, database_url, tmp_path):
    """``voting election archive`` deletes a published election while the
    service runs, so its id can be used again: the running service judges the
    new election's registrations by the new manifest's schedule, not by one it
    read for the archived election."""
    pilot = start_pilot(pki, data_dir, database_url)
    try:
        election_id = "reused-2026"
        # 1. An unscheduled election, its voters registered (the process caches its schedule), run to publication.
        run_and_archive(pilot, pki, data_dir, database_url, tmp_path, election_id, ballots_each=1)

        # 2. A new election under the same id, with a schedule that ends shortly.
        now = datetime.now(UTC).replace(microsecond=0)
        closes = now + timedelta(seconds=40)
        manifest = {
            **two_question_manifest(election_id),
            "schedule": {"opens_at": (now - timedelta(hours=1)).isoformat(), "closes_at": closes.isoformat()},
        }
        pilot.open_election(manifest, ["E0005"])
        voter = pilot.login(pki.enroll("E0005"))
        time.sleep(max(0.0, (closes - datetime.now(UTC)).total_seconds()) + 1.5)
        assert pilot.admin.status(election_id)["schedule"]["accepting_ballots"] is False  # the status reads the new manifest

        # 3. Past its closes_at, a registration must be refused as on any other election.
        with pytest.raises(ApiError) as refused:
            voter.register_credential(election_id)
        assert (refused.value.status, refused.value.code) == (409, "outside_schedule")
    finally:
        pilot.stop()


@pytest.mark.slow
def test_an_audit_of_a_reused_election_id_is_never_castable(pki, data_dir, database_url, tmp_path):
    """The audits a service has read of an archived election are forgotten when
    its id is used again: an audit published on the new board, below the size
    the service had scanned of the old one, still makes its ballot uncastable."""
    pilot = start_pilot(pki, data_dir, database_url)
    try:
        election_id = "reused-audits-2026"
        # 1. An election run to publication; its casts make this process scan its board for audits.
        scanned = run_and_archive(pilot, pki, data_dir, database_url, tmp_path, election_id, ballots_each=2)

        # 2. A new election under the same id: Alice publishes an audit early on the new board ...
        voters = [f"E{i:04d}" for i in range(10, 10 + scanned)]
        pilot.open_election(two_question_manifest(election_id), voters)
        alice = pilot.login(pki.enroll(voters[0]))
        spoiled = alice.prepare_ballot(election_id, {"days": ["d1"], "tools": []})
        audit = alice.publish_audit(spoiled)
        assert audit["leaf_index"] < scanned
        # ... and other voters register until the board is larger than the archived one was.
        for employee_id in voters[1:]:
            if board_size(database_url, election_id) > scanned:
                break
            pilot.login(pki.enroll(employee_id)).register_credential(election_id)
        assert board_size(database_url, election_id) > scanned

        # 3. The audited ballot must be refused, as on any election.
        with pytest.raises(ApiError) as refused:
            alice.cast(spoiled)
        assert (refused.value.status, refused.value.code) == (409, "ballot_audited")
    finally:
        pilot.stop()
