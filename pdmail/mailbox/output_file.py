"""Files and folders the user names for pdmail to write into: checked before any work, whole or absent.

A path given on the command line is the user's, so it is checked before anything is read from the
database: a folder that does not exist or cannot be written, a folder given where a file is meant,
a file that already exists, a symbolic link. Each is a usage error that names the path and says
what to do, rather than a failure half-way through a long export. The file itself is written
under a temporary name in the same folder and takes its name only once complete, so a failure
leaves no partial file (and no temporary one) behind, and an existing file is replaced only when
asked with --force. A symbolic link at the path is never followed nor replaced: it may point at a
file the user did not mean to overwrite.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from pdmail.core.errors import UsageError

STDOUT = "-"  # --output - writes to standard output, as most tools read it


def check_file(path: Path, *, force: bool) -> Path:
    """``path`` made absolute, once it is sure a new file can take that name; else a UsageError."""
    path = Path(path).expanduser().absolute()
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        found = None
    except OSError as exc:
        raise UsageError(f"cannot use {path}: {_reason(exc)}") from None
    if found is not None:
        if stat.S_ISLNK(found.st_mode):
            raise UsageError(f"{path} is a symbolic link; pdmail does not write through one: give the real path")
        if stat.S_ISDIR(found.st_mode):
            raise UsageError(f"{path} is a folder: give a file name, such as {path / 'export.jsonl'}")
        if not stat.S_ISREG(found.st_mode):
            raise UsageError(f"{path} is not a regular file: write to standard output instead (--output -)")
        if not force:
            raise UsageError(f"{path} already exists: add --force to replace it, or give another name")
    check_folder_writable(path.parent, what="folder")
    return path


def check_folder_writable(folder: Path, *, what: str = "folder", may_create: bool = False) -> None:
    """A UsageError unless files can be made in ``folder`` (or, with ``may_create``, in what holds it)."""
    folder = Path(folder)
    existing = folder
    while may_create and not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if existing.is_symlink() and not existing.is_dir():
        raise UsageError(f"the {what} {folder} does not exist (a broken symbolic link)")
    if not existing.exists():
        raise UsageError(f"the {what} {folder} does not exist: create it first")
    if not existing.is_dir():
        raise UsageError(f"{existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write in the {what} {existing}: permission denied")


@contextmanager
def written_whole(path: Path, *, force: bool) -> Iterator[BinaryIO]:
    """A file to write that appears at ``path`` only when the block ends without an error.

    ``path`` must have passed :func:`check_file`. A write that fails for a reason of the path
    (permission, a folder gone, a name taken meanwhile) is a UsageError; disk full and the like stay
    what they are. Either way the temporary file is removed.
    """
    fd, temporary = _temporary_beside(path)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
        _take_name(temporary, path, force=force)
    except BaseException:
        with _ignoring_missing():
            os.unlink(temporary)
        raise


def _temporary_beside(path: Path) -> tuple[int, str]:
    try:
        return tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError as exc:
        raise UsageError(f"cannot write in the folder {path.parent}: {_reason(exc)}") from None


def _take_name(temporary: str, path: Path, *, force: bool) -> None:
    """The complete file takes its name: replacing a file only with ``force``, never through a link."""
    if force:
        if path.is_symlink() or path.is_dir():
            raise UsageError(f"{path} changed while pdmail was writing; nothing was replaced")
        os.replace(temporary, path)
        return
    try:
        os.link(temporary, path)  # fails if the name was taken meanwhile, whatever took it
    except FileExistsError:
        raise UsageError(f"{path} appeared while pdmail was writing: add --force to replace it") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV):
            raise
        if os.path.lexists(path):  # a file system without hard links: check, then rename
            raise UsageError(f"{path} appeared while pdmail was writing: add --force to replace it") from None
        os.replace(temporary, path)
        return
    os.unlink(temporary)


@contextmanager
def _ignoring_missing() -> Iterator[None]:
    try:
        yield
    except FileNotFoundError:
        pass


def _reason(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()
