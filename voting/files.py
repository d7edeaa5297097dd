"""Writing the project's files: atomically, durably, and the private ones for
their owner only (docs/operations.md, "Where the keys live").

Private means a secret or personal file: keys, trustee and witness states,
credentials, the PIN sheet, the CA's registry (names and departments), issued
certificates, the database, the auditors' part of a record. Such a file is
0600 and a directory created for it 0700, set explicitly so the modes hold
whatever the umask. Public files (certificates of the CAs, CRLs, the public
record) keep the umask's say.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIRECTORY = 0o700
PUBLIC_FILE = 0o644


def make_directory(path: Path, *, private: bool) -> None:
    """Create ``path`` and its missing parents. Private: each directory created
    here is 0700; existing directories are left as they are (they may be a
    home directory or one an administrator set up)."""
    missing = []
    for directory in (path, *path.parents):
        if directory.exists():
            break
        missing.append(directory)
    for directory in reversed(missing):
        try:
            os.mkdir(directory, PRIVATE_DIRECTORY if private else 0o777)
        except FileExistsError:
            continue  # made meanwhile by another process: its mode is its own
        if private:
            os.chmod(directory, PRIVATE_DIRECTORY)
    if not path.is_dir():
        raise NotADirectoryError(f"{path} is not a directory")


def write_file(path: Path, data: str | bytes, *, private: bool = False, exclusive: bool = False) -> None:
    """Write atomically and durably (a synced temporary file, then renamed, and
    the rename synced): a crash leaves the old file or the new one, never a mix.
    Private files are 0600, in directories created 0700. ``exclusive``: never
    replace an existing file (raises FileExistsError, also if one appears
    meanwhile)."""
    make_directory(path.parent, private=private)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE if private else PUBLIC_FILE)
    try:
        with os.fdopen(fd, "wb") as handle:
            if private:
                os.fchmod(handle.fileno(), PRIVATE_FILE)
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        if exclusive:
            os.link(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_directory(path.parent)


def create_private_file(path: Path) -> None:
    """Create ``path`` empty and 0600 (in directories created 0700) unless it
    exists: for a file another library then fills, such as the SQLite database,
    whose journal files take the database file's mode."""
    make_directory(path.parent, private=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)


def fsync_directory(directory: Path) -> None:
    """Make a rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
