"""The lock ``voting serve`` holds on its data directory for as long as it runs.

Commands that must not run beside the service on the same data directory
(``voting keys rotate``: the running service would keep signing with the old
key; ``voting db restore``) take the lock exclusively, so they refuse while the
service runs, even idle, and the service cannot start while they work. A lock
(``flock``), not a file's presence: it goes when the process ends, however it
ends.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

from voting.files import make_directory

LOCK_NAME = "serve.lock"


class Locked(Exception):
    """The other side holds the lock; the message says what to do."""


class UnsafeLockFile(Locked):
    """The lock file is a symbolic link, or cannot be opened; the message says what to do."""


def _open(data_dir: Path) -> int:
    """The lock file, never through a symbolic link (which could point the
    service at any file its user may write)."""
    make_directory(data_dir, private=True)
    path = data_dir / LOCK_NAME
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        if path.is_symlink():
            raise UnsafeLockFile(f"{path} is a symbolic link: remove it (the service creates the file itself)") from None
        raise UnsafeLockFile(f"cannot open {path}: {exc.strerror}") from None


@contextmanager
def _held(data_dir: Path, mode: int, refusal: str) -> Iterator[None]:
    """``flock`` of ``mode`` on the lock file for the block; ``Locked(refusal)``
    at once if the other side holds it."""
    fd = _open(data_dir)
    try:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Locked(refusal) from None
        yield
    finally:
        os.close(fd)


def serving(data_dir: Path) -> AbstractContextManager[None]:
    """Held (shared: several services may run on one data directory) while the
    service runs."""
    return _held(
        data_dir,
        fcntl.LOCK_SH,
        f"a maintenance command (voting keys rotate, voting db restore) is running on {data_dir}: "
        "wait for it to finish, then start the service",
    )


def stopped(data_dir: Path, what: str) -> AbstractContextManager[None]:
    """Held (exclusively) while ``what`` runs: refused while a service runs on
    ``data_dir``."""
    if not data_dir.is_dir():  # no data directory: nothing serves from it
        return nullcontext()
    return _held(
        data_dir,
        fcntl.LOCK_EX,
        f"cannot {what}: the service is running on {data_dir} ({LOCK_NAME} is held): stop the service first "
        "/ サービスを停止してから実行してください",
    )
