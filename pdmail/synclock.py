"""One sync per account at a time: a lock file beside the database, taken without waiting.

``flock`` on a separate file (never the database itself: closing any descriptor of a file drops
its POSIX locks) is released by the kernel when the process dies, so a killed run never leaves a
stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pdmail.errors import TemporaryFailure


def lock_path(db_path: Path, account_id: int) -> Path:
    return db_path.with_name(f"{db_path.name}.sync-{account_id}.lock")


@contextmanager
def account_lock(db_path: Path, account) -> Iterator[None]:
    path = lock_path(Path(db_path), account.id)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise TemporaryFailure(
                f"a sync of account {account.name} is already running (pid {holder}); this run stopped at once"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
