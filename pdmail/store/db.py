"""Opening the database file safely, and short write transactions.

Plain ``sqlite3`` rather than sqlite-utils here: importing sqlite-utils costs ~140 ms, which a
mail server's pipe transport pays on every message.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from pdmail import migrations
from pdmail.errors import TemporaryFailure, UsageError

BUSY_TIMEOUT_S = 10.0
BULK_CACHE_KB = 32 * 1024  # page cache of a bulk writer: a batch of 200 big messages fits
# Pages of a new database. Mail is tens of kilobytes a message; with SQLite's default 4 KB pages each
# one is a chain of ten pages, each written to the log on its own. 16 KB pages make storing a message
# 15 % cheaper. An existing file keeps the size it was made with.
PAGE_SIZE = 16384
BULK_CHECKPOINT_BYTES = 64 << 20  # write-ahead log a bulk writer lets grow before copying it back


def busy_timeout() -> float:
    """Seconds to wait for another writer (``PDMAIL_BUSY_TIMEOUT`` overrides the default)."""
    try:
        return max(0.0, float(os.environ.get("PDMAIL_BUSY_TIMEOUT", BUSY_TIMEOUT_S)))
    except ValueError:
        return BUSY_TIMEOUT_S


def now_utc() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Database:
    """One connection, in autocommit mode; writes go through :meth:`tx`."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self._depth = 0
        self._flat = False

    def execute(self, sql: str, params: tuple | dict = ()) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, params)
        except sqlite3.OperationalError as exc:
            raise _translate(exc, self.path) from None

    def executemany(self, sql: str, rows) -> sqlite3.Cursor:
        try:
            return self.conn.executemany(sql, rows)
        except sqlite3.OperationalError as exc:
            raise _translate(exc, self.path) from None

    def one(self, sql: str, params: tuple | dict = ()) -> sqlite3.Row | None:
        return self.execute(sql, params).fetchone()

    def all(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        return self.execute(sql, params).fetchall()

    def scalar(self, sql: str, params: tuple | dict = ()):
        row = self.execute(sql, params).fetchone()
        return None if row is None else row[0]

    @contextmanager
    def tx(self) -> Iterator[Database]:
        """A write transaction (BEGIN IMMEDIATE), or a savepoint when nested (a plain block under :meth:`flat`)."""
        if self._depth and self._flat:
            yield self
            return
        if self._depth:
            name = f"sp{self._depth}"
            self.execute(f"SAVEPOINT {name}")
            self._depth += 1
            try:
                yield self
            except BaseException:
                self.conn.execute(f"ROLLBACK TO {name}")
                self.conn.execute(f"RELEASE {name}")
                raise
            else:
                self.execute(f"RELEASE {name}")
            finally:
                self._depth -= 1
            return
        self.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        else:
            self.execute("COMMIT")
        finally:
            self._depth = 0

    @contextmanager
    def flat(self) -> Iterator[Database]:
        """Inside an open transaction, make nested :meth:`tx` blocks plain blocks instead of savepoints.

        For bulk writes: every savepoint makes SQLite's full-text index write out what it has
        buffered, so one savepoint per message multiplies its work several times over. Without
        them a failure can no longer be undone message by message: the caller rolls the whole
        transaction back (and may redo it with savepoints).
        """
        if not self._depth:
            raise RuntimeError("flat() needs an open transaction")
        previous, self._flat = self._flat, True
        try:
            yield self
        finally:
            self._flat = previous

    @contextmanager
    def bulk_writes(self, *, refetchable: bool = False) -> Iterator[Database]:
        """Settings for writing many big messages (capture, sync) on this connection, undone after.

        With SQLite's default 2 MB page cache a batch of 200 such messages overflows it, and pages
        are written out mid-transaction; with room for it, each batch is written once, at commit.
        The default checkpoint (at 1,000 pages of log) would copy every batch back into the database
        file, with a sync, right after its commit; at 64 MB that happens once every ten batches or so.

        ``refetchable``: everything written meanwhile can be read again from where it came from
        (sync: the server keeps the mail, and the cursor is committed with the messages it covers).
        Commits then skip syncing the log to disk; a power cut may undo the last few, never corrupt the
        file, and the next run fetches them again. Capture keeps every commit durable: once it exits,
        the mail server has handed the message over and may have dropped its copy.
        """
        before = {name: self.scalar(f"PRAGMA {name}") for name in ("cache_size", "wal_autocheckpoint", "synchronous")}
        self.execute(f"PRAGMA cache_size=-{BULK_CACHE_KB}")
        self.execute(f"PRAGMA wal_autocheckpoint={BULK_CHECKPOINT_BYTES // self.scalar('PRAGMA page_size')}")
        if refetchable:
            self.execute("PRAGMA synchronous=NORMAL")
        try:
            yield self
        finally:
            for name, value in before.items():
                self.execute(f"PRAGMA {name}={int(value)}")

    def close(self) -> None:
        self.conn.close()


def _translate(exc: sqlite3.OperationalError, path: Path) -> Exception:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return TemporaryFailure(f"database {path} stayed busy; try again in a moment")
    if "disk is full" in text or "database or disk is full" in text:
        return TemporaryFailure(f"database {path} is full (disk full?); nothing was half-written")
    return exc


# What SQLite says when the machine, not the data, is in the way.
_MACHINE_TROUBLE = ("i/o", "unable to open", "readonly", "read-only", "locked", "busy", "full", "interrupt",
                    "out of memory")
# Errors about the values written: caused by what a message holds, not by the machine.
_DATA_ERRORS = (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.ProgrammingError, sqlite3.InterfaceError)


def is_machine_failure(exc: BaseException) -> bool:
    """Whether ``exc`` comes from the machine (database busy, unreadable or full, disk, memory), so
    that the same work may succeed later; anything else was caused by the data being written."""
    if isinstance(exc, (TemporaryFailure, OSError, MemoryError)):
        return True
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc).lower()
        return any(word in text for word in _MACHINE_TROUBLE)
    return isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, _DATA_ERRORS)


def default_db_path() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("pdmail", appauthor=False)) / "pdmail.db"


def open_db(path: str | os.PathLike | None = None, *, create: bool = False) -> Database:
    """Open (or, with ``create``, make) the database and bring its schema up to date.

    The file is created with mode 0600: it holds everyone's mail. A file from a newer pdmail is
    refused untouched, and a file that is not a pdmail database is never recreated.
    """
    db_path = Path(path) if path else default_db_path()
    if not db_path.exists():
        if not create:
            raise UsageError(f"no database at {db_path}; create one with `pdmail init`")
        db_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(db_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(fd)
        new = True
    else:
        new = False
    timeout = busy_timeout()
    conn = sqlite3.connect(db_path, timeout=timeout, isolation_level=None)
    conn.row_factory = sqlite3.Row
    try:
        try:
            migrations.check_version(conn)
            if new:  # only before the first page is written, which WAL mode does
                conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
            conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.DatabaseError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise TemporaryFailure(f"database {db_path} stayed busy; try again in a moment") from None
            raise UsageError(f"{db_path} is not a pdmail database ({exc})") from None
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        try:
            migrations.migrate(conn)
        except sqlite3.OperationalError as exc:
            raise _translate(exc, db_path) from None
    except migrations.NewerSchema as exc:
        conn.close()
        raise UsageError(
            f"{db_path} was written by a newer pdmail (schema {exc.found}; this pdmail knows "
            f"{exc.known}); upgrade pdmail. The file was not changed."
        ) from None
    except BaseException:
        conn.close()
        raise
    return Database(conn, db_path)
