"""``voting keys``: the server's signing key (docs/operations.md, "Rotating the
server key").

One Ed25519 key signs every election's board heads and receipts (and keys the
session tokens); each election's ``election-created`` entry names it, and the
trustees and witnesses pin it for that election. A board cannot change keys
half-way, so a new key starts only with new elections: ``rotate`` refuses while
an election in the database is not yet published. The records of earlier
elections keep verifying: each one carries the key that signed it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.markup import escape

from voting.cli.common import console, data_dir_option, fail, settings_for, shown_path


@click.group()
def keys() -> None:
    """The server's signing key (サーバ署名鍵): show it, rotate it between elections."""


@keys.command("show")
@data_dir_option
def show(data_dir: Path) -> None:
    """Print the server's public key (publish it, so voters and auditors can
    pin it with --server-key)."""
    key = _load(settings_for(data_dir).signing_key_path)
    console.print(key.public_bytes.hex(), soft_wrap=True)


@keys.command("rotate")
@data_dir_option
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def rotate(data_dir: Path, yes: bool) -> None:
    """Replace the server's signing key by a new one, between elections.

    Refused while any election in the database is not yet published: its board
    is signed with the current key to the end. Stop the service on every host
    first; the old key file is kept beside the new one, renamed
    server-signing-key.retired-<time>.pem (mode 0600). Then copy the new
    server-signing-key.pem to every host, start the service, and publish the
    new public key. Refused while the service runs on this data directory."""
    from voting.servelock import stopped

    settings = settings_for(data_dir)
    with stopped(settings.data_dir, "rotate the server key"):
        _rotate(settings, yes)


def _rotate(settings, yes: bool) -> None:  # noqa: ANN001 - Settings
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from voting.files import write_file

    pending = asyncio.run(_unpublished_elections(settings))
    if pending:
        shown = ", ".join(f"{election_id} ({status})" for election_id, status in pending[:5])
        fail(
            f"cannot rotate the server key: {shown} {'is' if len(pending) == 1 else 'are'} not published yet and "
            "signed with the current key to the end; rotate once every election in the database is published. "
            "/ 公開前の選挙があるため鍵を更新できません。"
        )
    path = settings.signing_key_path
    if not yes:
        click.confirm(
            "Rotate the server key? The service must be stopped on every host, and every session ends. / "
            "サーバ署名鍵を更新しますか",
            abort=True,
        )
    old = _load(path) if path.exists() else None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    retired = path.with_name(f"{path.stem}.retired-{stamp}{path.suffix}")
    if old is not None:
        try:
            write_file(retired, path.read_bytes(), private=True, exclusive=True)
        except FileExistsError:
            fail(f"{retired} exists already: nothing was changed; try again in a second")
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_file(path, pem, private=True)
    new = _load(path)
    console.print(f"New server key / 新しいサーバ署名鍵: {new.public_bytes.hex()}", soft_wrap=True)
    if old is not None:
        console.print(
            f"The old key {old.public_bytes.hex()} is kept as {escape(shown_path(retired))}: the records of the elections it "
            "signed carry it; check their receipts against the record ('voting verify-receipt RECEIPT --record "
            "RECORD'). Move the old file offline or delete it.",
            soft_wrap=True,
        )
    console.print(
        f"Next: copy {escape(shown_path(path))} (mode 0600) to every other host, start the service, and publish the new key.",
        soft_wrap=True,
    )


def _load(path: Path):  # noqa: ANN202 - voting.keys.ServerKey, imported lazily
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from voting.keys import ServerKey

    if not path.exists():
        fail(f"there is no server key at {path} yet: 'voting serve' creates it on the first start (see --data-dir)")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError:
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        fail(f"{path} is not an Ed25519 private key in PEM: restore server-signing-key.pem from its backup")
    return ServerKey(key)


async def _unpublished_elections(settings) -> list[tuple[str, str]]:  # noqa: ANN001 - Settings
    """(id, status) of every election in the database not yet published; none
    when there is no database yet (a SQLite file that does not exist is not
    created)."""
    from sqlalchemy import inspect, select

    from voting.db.engine import Database, make_engine
    from voting.db.models import Election
    from voting.elections.lifecycle import PUBLISHED

    url = settings.db_url
    if url.startswith("sqlite") and not Path(url.split(":///", 1)[-1].split("?", 1)[0]).exists():  # noqa: ASYNC240 - one stat before connecting
        return []
    database = Database(make_engine(url))
    try:
        async with database.read() as db:
            connection = await db.connection()
            if not await connection.run_sync(lambda sync: inspect(sync).has_table(Election.__tablename__)):
                return []
            rows = await db.execute(select(Election.id, Election.status).where(Election.status != PUBLISHED).order_by(Election.id))
            return [(row.id, row.status) for row in rows]
    finally:
        await database.close()
