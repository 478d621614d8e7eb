"""A consistent copy of a database file while pdmail may be using it: ``pdmail db backup FILE``.

Copying ``pdmail.db`` with ``cp`` while a sync or the mail server writes can give a file that is
neither the old state nor the new one, and misses what still sits in the write-ahead log. SQLite's
online backup API copies one moment of the database, the log included. The copy is written under a
temporary name beside the target and takes its name only once complete, readable by its owner only.

The spool folder goes along: the quarantine keeps messages too large for the database there only, so
a backup without it would lose them. Its files go to ``FILE.spool``, where the copy, opened as a
database of its own, looks for them.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pdmail.core.errors import UsageError
from pdmail.store.db import Database


@dataclass(frozen=True)
class Backup:
    source: str
    target: str
    size: int
    spool: str | None  # the folder the spool files went to; None when there were none
    spool_files: int

    def to_json(self) -> dict:
        return {
            "source": self.source,
            "backup": self.target,
            "bytes": self.size,
            "spool": self.spool,
            "spool_files": self.spool_files,
        }


def backup(db: Database, target: Path) -> Backup:
    """Copy the database file and its spool files to ``target`` (a path the caller checked)."""
    if db.path is None:
        raise UsageError(
            "a team server's PostgreSQL database is backed up with PostgreSQL's own tool: "
            "`pg_dump --format=custom DBNAME > pdmail.dump` (restore with pg_restore into an empty database); "
            f"messages too large for the database wait in {db.spool_folder()} on the machine that received "
            "them: back that folder up too"
        )
    source = Path(db.path).resolve()
    if target.resolve() == source:
        raise UsageError(f"{target} is the database itself: give another file")
    _copy_database(db, target)
    spool_target = target.with_name(target.name + ".spool")
    files = _copy_spool(db.spool_folder(), spool_target)
    return Backup(str(source), str(target), target.stat().st_size, str(spool_target) if files else None, files)


def _copy_database(db: Database, target: Path) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(handle)  # mode 0600 from mkstemp: the copy holds every email, as the file does
    try:
        copy = sqlite3.connect(temporary)
        try:
            db.conn.backup(copy)  # one step: a single read of one moment, the write-ahead log included
        finally:
            copy.close()
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def _copy_spool(folder: Path, target: Path) -> int:
    """The spool's message files into ``target`` (made readable by its owner only); how many there are.
    Files of an earlier backup that the spool no longer holds are taken away."""
    try:
        names = sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix == ".eml")
    except FileNotFoundError:
        names = []
    if not names and not target.exists():
        return 0
    target.mkdir(mode=0o700, exist_ok=True)
    for name in names:
        if not (target / name).is_file():  # named by their content's hash: one there is the same
            partial = target / f".{name}.partial"
            shutil.copyfile(folder / name, partial)
            os.chmod(partial, 0o600)
            os.replace(partial, target / name)
    for stale in target.iterdir():
        if stale.name not in names:
            stale.unlink()
    return len(names)
