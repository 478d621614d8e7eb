"""One sync per account at a time: a lock taken without waiting.

On the team server it is a PostgreSQL advisory lock held by the sync's own connection: the server
drops it when that connection ends, however the process ended. On a SQLite file it is a lock file,
one per account, in one folder beside the database (``pdmail.db.locks/sync-ID.lock``), removed with
its account:

``flock`` on a separate file (never the database itself: closing any descriptor of a file drops
its POSIX locks) is released by the kernel when the process dies, so a killed run never leaves a
stale lock behind.

A ``flock`` belongs to the open file, and a forked process shares the open files of its parent: a
helper process forked during the run would keep the account locked after the run itself was killed,
until the helper ended too. Every descriptor taken here is therefore closed in a forked child at
once (which leaves the parent's lock as it is), and only the process that took the lock releases it.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pdmail.core.errors import TemporaryFailure

# A look by `account list` (is_running) holds the lock file for a few microseconds, and the server
# needs a moment to drop a killed run's lock: a run starting at that very moment tries again for this
# long rather than reporting a run that is not there.
CONTENDED_FOR = 0.2

_held: set[int] = set()  # this process's lock descriptors


def _close_in_child() -> None:
    for fd in _held:
        try:
            os.close(fd)
        except OSError:
            pass
    _held.clear()


os.register_at_fork(after_in_child=_close_in_child)


def lock_folder(db_path: Path) -> Path:
    """The one folder of a database file's lock files: ``pdmail.db.locks`` beside ``pdmail.db``."""
    return db_path.with_name(f"{db_path.name}.locks")


def lock_path(db_path: Path, account_id: int) -> Path:
    return lock_folder(db_path) / f"sync-{account_id}.lock"


def _former_lock_path(db_path: Path, account_id: int) -> Path:
    """Where earlier versions kept the lock file: beside the database itself."""
    return db_path.with_name(f"{db_path.name}.sync-{account_id}.lock")


def discard_lock(db, account_id: int) -> None:
    """A removed account's lock file goes with it (its id is never given again, so none will want it)."""
    if db.path is None:
        return  # the team server's locks are the connections'
    for path in (lock_path(Path(db.path), account_id), _former_lock_path(Path(db.path), account_id)):
        try:
            path.unlink()
        except FileNotFoundError:
            pass
    try:
        lock_folder(Path(db.path)).rmdir()  # only when it is empty
    except OSError:
        pass


def _remove_former_lock(db_path: Path, account_id: int) -> None:
    """Take away an earlier version's lock file of the account, unless a run of that version holds it."""
    path = _former_lock_path(db_path, account_id)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        path.unlink()
    except OSError:
        pass
    finally:
        os.close(fd)


def _take(fd: int) -> bool:
    deadline = time.monotonic() + CONTENDED_FOR
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)


@contextmanager
def account_lock(db, account) -> Iterator[None]:
    """Hold the account's sync lock for the block, or fail at once (exit 75) if a run holds it."""
    if db.path is None:
        with _server_lock(db, account):
            yield
        return
    with file_lock(db.path, account):
        yield


def _already_running(account, holder: str) -> TemporaryFailure:
    return TemporaryFailure(f"a sync of account {account.name} is already running ({holder}); this run stopped at once")


@contextmanager
def _server_lock(db, account) -> Iterator[None]:
    """The server drops a killed run's lock once it sees the connection gone, a moment after the
    kill: a run started in that moment waits it out instead of exiting 75."""
    deadline = time.monotonic() + CONTENDED_FOR
    while not db.try_lock(account.id):
        if time.monotonic() >= deadline:
            raise _already_running(account, "on this team server")
        time.sleep(0.01)
    try:
        yield
    finally:
        db.unlock(account.id)


@contextmanager
def file_lock(db_path: Path, account) -> Iterator[None]:
    path = lock_path(Path(db_path), account.id)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    owner = os.getpid()
    _held.add(fd)
    try:
        if not _take(fd):
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise _already_running(account, f"pid {holder}")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _remove_former_lock(Path(db_path), account.id)
        try:
            yield
        finally:
            if os.getpid() == owner:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        if os.getpid() == owner:
            _held.discard(fd)
            os.close(fd)


def is_running(db, account_id: int) -> bool:
    """Does a live process hold the account's lock? (A run killed outright holds nothing.)"""
    if db.path is None:
        return db.lock_taken(account_id)
    try:
        fd = os.open(lock_path(Path(db.path), account_id), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    except OSError:
        return True  # cannot tell: say what the run's record says
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
