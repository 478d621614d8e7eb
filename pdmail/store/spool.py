"""Files for messages too large for the database: each is complete under its final name, or gone.

A message is written under a temporary name, synced, then renamed. A write that fails removes its
temporary file; one that cannot (the process was killed) leaves it behind, and the next capture
sweeps it once nobody has written to it for STALE_AFTER seconds. A full disk is a temporary failure
(exit 75), said as such: the mail server keeps the message and delivers it again later.
"""

from __future__ import annotations

import errno
import hashlib
import os
import time
from collections.abc import Iterable
from pathlib import Path

from pdmail.core.errors import TemporaryFailure

TEMP_PREFIX = ".incoming-"
STALE_AFTER = 3600  # a write in progress touches its file every few milliseconds
_NO_ROOM: dict[int | None, str] = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large",
}


def write(folder: Path, chunks: Iterable[bytes]) -> tuple[str, int, str]:
    """Stream a message into ``folder`` as ``<sha256>.eml``; returns (path, size, sha256)."""
    sweep(folder)
    digest = hashlib.sha256()
    size = 0
    # Readable by its owner only; a disk out of inodes says "no space" here already.
    import tempfile  # here: a message that fits the database never writes the spool

    handle, temporary = _no_room_is_temporary(tempfile.mkstemp, prefix=TEMP_PREFIX, dir=folder, folder=folder)
    try:
        with open(handle, "wb") as out:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                _no_room_is_temporary(out.write, chunk, folder=folder)
            _no_room_is_temporary(out.flush, folder=folder)
            _no_room_is_temporary(os.fsync, out.fileno(), folder=folder)
        final = folder / f"{digest.hexdigest()}.eml"
        _no_room_is_temporary(os.replace, temporary, final, folder=folder)
    except BaseException:
        _remove(temporary)
        raise
    _sync_folder(folder)
    return str(final), size, digest.hexdigest()


def sweep(folder: Path) -> int:
    """Remove temporary files that no write has touched for STALE_AFTER seconds; how many went."""
    removed = 0
    cutoff = time.time() - STALE_AFTER
    try:
        entries = list(os.scandir(folder))
    except OSError:  # no spool folder yet, or not readable: nothing to sweep
        return 0
    for entry in entries:
        if not entry.name.startswith(TEMP_PREFIX):
            continue
        try:
            if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                os.unlink(entry.path)
                removed += 1
        except OSError:  # gone meanwhile, or not ours to remove
            continue
    return removed


def _no_room_is_temporary(step, *args, folder: Path, **kwargs):
    try:
        return step(*args, **kwargs)
    except OSError as exc:
        what = _NO_ROOM.get(exc.errno)
        if what is None:
            raise
        raise TemporaryFailure(
            f"{what}: a message too large for the database could not be written to {folder} "
            f"({exc.strerror}); nothing was kept, free some space and deliver it again "
            "(a mail server does so by itself)"
        ) from None


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable: the quarantine row that names the file is committed next."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
