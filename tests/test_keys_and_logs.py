"""Keys and logs: the server's signing key file is its owner's only; after a
whole election the database holds no trustee secret in any table or column;
every administrator action is an entry of the append-only bulletin board.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from crypto.encoding import canonical_json
from crypto.log import ConsistencyProof
from tests.http_support import ADMIN, board_entries, board_heads, start_pilot, two_question_manifest
from voting.client import trustee_ceremony_step
from voting.db.models import Base
from voting.keys import load_or_create
from voting.settings import Settings


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_server_signing_key_file_is_private(tmp_path):
    """Created 0600 even under a permissive umask; loaded again, the same key."""
    path = tmp_path / "data" / "server-signing-key.pem"
    old = os.umask(0)
    try:
        key = load_or_create(path)
    finally:
        os.umask(old)
    assert mode_of(path) == 0o600
    assert load_or_create(path).public_bytes == key.public_bytes
    assert mode_of(path) == 0o600


def test_server_creates_its_key_file_private(pki, data_dir, database_url):
    pilot = start_pilot(pki, data_dir, database_url)
    try:
        path = pilot.server.settings.signing_key_path
        assert mode_of(path) == 0o600
        assert pilot.admin.get("/api/server-key")["server_key"] == load_or_create(path).public_bytes.hex()
    finally:
        pilot.stop()


# --- no trustee secret in the database ----------------------------------------------------


def secrets_in(state: dict) -> set[bytes]:
    """The secret values of a trustee file: polynomial coefficients, the share
    key for the ceremony, the finished key share."""
    found = set()
    if "secrets" in state:
        found |= {bytes.fromhex(a) for a in state["secrets"]["coefficients"]}
        found.add(bytes.fromhex(state["secrets"]["share_private_key"]))
    if "key" in state:
        found.add(bytes.fromhex(state["key"]["secret_share"]))
    return found


def spellings(secret: bytes) -> list[bytes]:
    """How a 32-byte secret could sit in a column: raw (either byte order), hex,
    base64, base64url."""
    forms = [secret, secret[::-1]]
    for raw in (secret, secret[::-1]):
        forms += [raw.hex().encode(), raw.hex().upper().encode(), base64.b64encode(raw).rstrip(b"="), base64.urlsafe_b64encode(raw).rstrip(b"=")]
    return forms


def database_cells(database_url: str) -> list[tuple[str, str, bytes]]:
    """Every value of every column of every table, as bytes."""

    async def read() -> list[tuple[str, str, bytes]]:
        engine = create_async_engine(Settings(database_url=database_url).db_url)
        cells = []
        try:
            async with engine.connect() as conn:
                for table in Base.metadata.sorted_tables:
                    for row in (await conn.execute(select(table))).mappings():
                        for column, value in row.items():
                            if value is None:
                                continue
                            data = value if isinstance(value, bytes) else str(value).encode()
                            cells.append((table.name, column, data))
        finally:
            await engine.dispose()
        return cells

    return asyncio.run(read())


@pytest.mark.slow
def test_database_holds_no_trustee_secret(pki, data_dir, database_url):
    """A whole election, every trustee file read after every step of the
    ceremony; then no cell of the database contains any of their secrets (the
    same scan finds them in the trustees' own files)."""
    pilot = start_pilot(pki, data_dir, database_url)
    try:
        voter_ids = ["E0001", "E0002", "E0003"]
        election_id = pilot.create(two_question_manifest("secrets-2026", min_tally_ballots=3), voter_ids)
        pilot.admin.start_ceremony(election_id)
        secrets: set[bytes] = set()
        for _ in range(4):
            for name in pilot.trustee_credentials:
                if name not in pilot.trustees:
                    pilot.trustees[name] = pilot.login(pilot.trustee_credentials[name])
                path = pilot.trustee_file(name, election_id)
                trustee_ceremony_step(pilot.trustees[name], election_id, path)
                secrets |= secrets_in(json.loads(path.read_text()))
        pilot.admin.open(election_id)
        for v in voter_ids:
            voter = pilot.login(pki.enroll(v))
            voter.cast(voter.prepare_ballot(election_id, {"days": ["d1"], "tools": ["s2"]}))
        pilot.admin.close_election(election_id)
        pilot.decrypt(election_id, ["T0001", "T0002", "T0003"])
        pilot.admin.tally(election_id)
        pilot.admin.publish(election_id)
        # 3 trustees: 2 coefficients and a share key each, then a key share each.
        assert len(secrets) == 3 * 3 + 3

        needles = {form: secret for secret in secrets for form in spellings(secret)}
        cells = database_cells(database_url)
        assert len(cells) > 100
        leaks = [(table, column) for table, column, data in cells for form in needles if form in data]
        assert not leaks, f"trustee secrets found in {sorted(set(leaks))}"
        log = pilot.server.log_path.read_bytes()
        assert not [form for form in needles if form in log]
        # The scan would see them: the trustees' own files hold their key shares.
        files = b"".join(pilot.trustee_file(name, election_id).read_bytes() for name in pilot.trustee_credentials)
        assert sum(form in files for form in needles) >= 3
    finally:
        pilot.stop()


# --- administrator actions on the board ----------------------------------------------------


@pytest.mark.slow
def test_administrator_actions_are_on_the_board(pki, data_dir, database_url):
    """Create, roll import, ceremony start, open, close, tally, publish: each
    leaves a board entry naming the administrator, in order, and the board
    only grew (each head consistent with the one before)."""
    pilot = start_pilot(pki, data_dir, database_url)
    try:
        election_id = pilot.open_election(two_question_manifest("admin-log-2026", min_tally_ballots=1), ["E0001"])
        voter = pilot.login(pki.enroll("E0001"))
        voter.cast(voter.prepare_ballot(election_id, {"days": ["d3"], "tools": []}))
        pilot.admin.close_election(election_id)
        pilot.decrypt(election_id, ["T0001", "T0002"])
        pilot.admin.tally(election_id)
        pilot.admin.publish(election_id)

        entries = board_entries(pilot.admin, election_id)
        by_admin = [e for e in entries if e["body"].get("by") == ADMIN]
        actions = [e["body"].get("action", e["kind"]) for e in by_admin]
        assert actions == [
            "create", "roll-import", "key_ceremony", "election-opened", "election-closed", "tally", "election-published",
        ], actions
        assert all(e["kind"] in ("admin-action", "election-opened", "election-closed", "election-published") for e in by_admin)
        # Nobody else's action is logged as the administrator's, and the log is append-only.
        assert {e["body"]["by"] for e in entries if "by" in e["body"]} == {ADMIN}
        heads = board_heads(pilot.admin, election_id)
        for old, new in itertools.pairwise(heads):
            reply = pilot.admin.get(f"/api/elections/{election_id}/board/consistency", old=old.head.size, new=new.head.size)
            ConsistencyProof.from_json(reply["proof"]).verify(
                old.head.root, new.head.root, old_size=old.head.size, new_size=new.head.size
            )
        assert canonical_json(entries[0])  # entries are canonical JSON documents
    finally:
        pilot.stop()
