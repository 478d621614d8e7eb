"""Opening the database file safely, and short write transactions.

Plain ``sqlite3`` rather than sqlite-utils here: importing sqlite-utils costs ~140 ms, which a
mail server's pipe transport pays on every message.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pdmail.core.errors import TemporaryFailure, UsageError
from pdmail.core.records import Record
from pdmail.store import migrations

BUSY_TIMEOUT_S = 10.0
BULK_CACHE_KB = 32 * 1024  # page cache of a bulk writer: a batch of 200 big messages fits
# Pages of a new database. Mail is tens of kilobytes a message; with SQLite's default 4 KB pages each
# one is a chain of ten pages, each written to the log on its own. 16 KB pages make storing a message
# 15 % cheaper. An existing file keeps the size it was made with.
PAGE_SIZE = 16384
BULK_CHECKPOINT_BYTES = 64 << 20  # write-ahead log a bulk writer lets grow before copying it back


class DeferredWriteFailed(Exception):
    """A statement sent ahead without waiting for its answer, inside :meth:`Database.flat`, failed.

    PostgreSQL is sent a batch's writes without a wait for each one (see ``PostgresDatabase.flat``):
    a failure is then told at the next statement whose answer is awaited, which may belong to
    another message, or to no message at all. Like any failure in a flat block it means the whole
    attempt is rolled back and the batch written again with a savepoint per message, where every
    statement is awaited and each failure belongs to its own message.
    """


class BatchRows(Record):
    """A statement a batch runs once per row of one table: the store's way to hand it many rows.

    ``each`` writes one row (``?`` markers, one per column). ``all_at_once`` writes every row in one
    statement, each column passed as one array (``CAST(? AS bigint[])``...), for an engine that pays
    a round trip and a statement's fixed cost per row (PostgreSQL, see ``PostgresDatabase.write_rows``).
    ``table``: the table the rows go to; a later statement naming it sends the rows gathered first.
    """

    table: str
    each: str
    all_at_once: str


def busy_timeout() -> float:
    """Seconds to wait for another writer (``PDMAIL_BUSY_TIMEOUT`` overrides the default)."""
    try:
        return max(0.0, float(os.environ.get("PDMAIL_BUSY_TIMEOUT", BUSY_TIMEOUT_S)))
    except ValueError:
        return BUSY_TIMEOUT_S


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_INT64_MAX = 2**63 - 1


def like_pattern(text: str) -> str:
    """A LIKE pattern that finds ``text`` anywhere, its own ``%``, ``_`` and ``\\`` taken literally
    (with ``ESCAPE '\\'``)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def page_clause(limit: int | None, offset: int = 0) -> tuple[str, tuple[int, ...]]:
    """`` LIMIT ? OFFSET ?`` and its values, or nothing for every row (``limit`` None: there is no
    offset without a limit that both engines write alike). Values are capped where 64-bit integers
    end: a page that far is past the last one."""
    if limit is None:
        return "", ()
    return " LIMIT ? OFFSET ?", (min(limit, _INT64_MAX), min(offset, _INT64_MAX))


class Database:
    """One connection, in autocommit mode; writes go through :meth:`tx`.

    This class is the SQLite file; :class:`pdmail.store.postgres.PostgresDatabase` the team server.
    Both take the same statements; the few fragments they write differently are methods here
    (:meth:`in_json`, :attr:`like`, :meth:`index_hint`, ...), so that a query states its dialect
    needs where it is written.

    ``read_only`` says why this user cannot write the file (None when they can): reading commands
    work, and the first write says so instead of failing obscurely.
    """

    engine = "sqlite"
    # Change rows one UPDATE each, never several in one: a statement that may change several rows
    # opens a statement journal, which makes the full-text index write out its buffer (PostgreSQL
    # has neither, and one statement there is one wait fewer).
    updates_row_by_row = True
    like = "LIKE"  # SQLite's LIKE already ignores the case of ASCII letters

    def __init__(self, conn: sqlite3.Connection, path: Path, *, read_only: str | None = None) -> None:
        self.conn: Any = conn  # sqlite3's here, psycopg's in PostgresDatabase
        self.path: Path | None = path
        self.label = str(path)
        self.read_only = read_only
        self._identity = _file_identity(path)
        self._depth = 0
        self._flat = False

    def execute(self, sql: str, params: tuple | dict = ()) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, params)
        except sqlite3.OperationalError as exc:
            raise _translate(exc, self.label, self.read_only) from None

    def executemany(self, sql: str, rows) -> sqlite3.Cursor:
        try:
            return self.conn.executemany(sql, rows)
        except sqlite3.OperationalError as exc:
            raise _translate(exc, self.label, self.read_only) from None

    def write_rows(self, statement: BatchRows, rows: Sequence[tuple]) -> None:
        """Rows of one table: on SQLite each written at once (a function call each, nothing to save)."""
        if rows:
            self.executemany(statement.each, rows)

    def require_writable(self) -> None:
        """Before a write that happens outside the database (a spool file, a lock file beside it)."""
        if self.read_only:
            raise read_only_error(self.label, self.read_only)

    def _check_still_there(self) -> None:
        """The file this connection writes is still the one at its path.

        Deleted or replaced while open, SQLite goes on writing into a file nobody can open again:
        committing there would report success for data that is already lost.
        """
        if self.path is not None and _file_identity(self.path) != self._identity:
            raise TemporaryFailure(
                f"database {self.path} was deleted or replaced while pdmail was using it; "
                "nothing more was written to it"
            )

    def one(self, sql: str, params: tuple | dict = ()) -> sqlite3.Row | None:
        return self.execute(sql, params).fetchone()

    def row(self, sql: str, params: tuple | dict = ()) -> sqlite3.Row:
        """The one row a query must find: the caller has made sure it exists (by id, inside its transaction)."""
        found = self.execute(sql, params).fetchone()
        if found is None:
            raise LookupError(f"no row where one must be: {sql}")
        return found

    def insert(self, sql: str, params: tuple | dict = ()) -> int:
        """Run an INSERT of one row; the row's id."""
        row_id = self.execute(sql, params).lastrowid
        if row_id is None:  # sqlite3 has none only for a statement that inserted nothing
            raise LookupError(f"no row inserted: {sql}")
        return row_id

    def next_id(self, table: str) -> int | None:
        """The id the next row of ``table`` will take, handed out before it is written; None where
        the row's insert gives it (here: a function call, with nothing to wait for)."""
        return None

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
                self.execute(f"ROLLBACK TO {name}")
                self.execute(f"RELEASE {name}")
                raise
            else:
                self.execute(f"RELEASE {name}")
            finally:
                self._depth -= 1
            return
        self._begin()
        self._depth = 1
        try:
            yield self
        except BaseException:
            if self.in_transaction:
                self._rollback()
            raise
        else:
            try:
                self._check_still_there()
            except TemporaryFailure:
                self._rollback()
                raise
            self._commit()
        finally:
            self._depth = 0

    @property
    def in_transaction(self) -> bool:
        return self.conn.in_transaction

    def _begin(self) -> None:
        self.execute("BEGIN IMMEDIATE")

    def _commit(self) -> None:
        self.execute("COMMIT")

    def _rollback(self) -> None:
        self.conn.execute("ROLLBACK")

    @property
    def is_flat(self) -> bool:
        """Inside :meth:`flat`: a failure anywhere undoes the whole transaction, never one message."""
        return self._flat

    @contextmanager
    def flat(self) -> Iterator[Database]:
        """Inside an open transaction, make nested :meth:`tx` blocks plain blocks instead of savepoints.

        For bulk writes: every savepoint makes SQLite's full-text index write out what it has
        buffered, so one savepoint per message multiplies its work several times over. Without
        them a failure can no longer be undone message by message: the caller rolls the whole
        transaction back (and may redo it with savepoints).

        The full-text entries are written together at the end of the block, for the same reason: a
        statement that fires a trigger (the links of an email, see migration 15) has a savepoint of
        its own, and would make the index write out what it buffered, once per message.
        """
        if not self._depth:
            raise RuntimeError("flat() needs an open transaction")
        previous, self._flat = self._flat, True
        gathers = self._search_rows is None
        if gathers:
            self._search_rows = []
        try:
            yield self
            if gathers:
                self._write_search_rows()
        finally:
            self._flat = previous
            if gathers:
                self._search_rows = None

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

    def spool_folder(self) -> Path:
        """Where messages too large for the database wait: beside the file."""
        assert self.path is not None
        return self.path.with_name(self.path.name + ".spool")

    # --- the fragments the engines write differently (see pdmail.store.postgres) ---

    def in_json(self, column: str, marker: str, *, text: bool = False) -> str:
        """``column`` is one of the values of a JSON array passed as one parameter.

        A list goes to the database as one JSON text rather than one marker per value: statements
        stay small, and a list of any length stays within the engine's limit on parameters.
        """
        return f"{column} IN (SELECT value FROM json_each({marker}))"

    writes_json = True  # json_object() here writes what json.dumps(separators=(",", ":")) writes

    def text_list(self, value: str, source: str, order: str) -> str:
        """A subquery: ``value`` of each row of ``source`` in ``order``, one a line."""
        return f"(SELECT group_concat({value}, char(10)) FROM (SELECT {value} FROM {source} ORDER BY {order}))"

    # FTS5 cuts the words of the full-text index itself, in C; PostgreSQL is handed them cut
    # (:mod:`pdmail.store.search_words`), and capture has its parser processes do that work.
    cuts_search_words = True
    _search_rows: list[tuple] | None = None  # full-text entries waiting for the end of a flat block

    def index_for_search(
        self, email_id: int, subject: str, body_text: str, addresses: str, *, document: str | None = None
    ) -> None:
        """Add an email to the full-text index (FTS5 here; see :mod:`pdmail.store.search_words`).

        ``document``: the words already cut, for an engine that does not cut them (ignored here).
        Inside :meth:`flat` the entry waits for the end of the block."""
        if self._search_rows is not None:
            self._search_rows.append((email_id, subject, body_text, addresses))
            return
        self.execute(
            "INSERT INTO email_fts (rowid, subject, body_text, addresses) VALUES (?, ?, ?, ?)",
            (email_id, subject, body_text, addresses),
        )

    def _write_search_rows(self) -> None:
        rows, self._search_rows = self._search_rows or [], []
        if rows:
            self.executemany("INSERT INTO email_fts (rowid, subject, body_text, addresses) VALUES (?, ?, ?, ?)", rows)

    def search_condition(self, column: str, marker: str) -> str:
        """``column`` is the id of an email whose words match the query passed as ``marker``."""
        return f"{column} IN (SELECT rowid FROM email_fts WHERE email_fts MATCH {marker})"

    def search_value(self, phrases: Sequence[Sequence[str]]) -> str:
        """The query that every phrase appears: FTS5's syntax, each phrase quoted so that none of
        the user's text can be read as an operator."""
        return " AND ".join('"' + " ".join(p).replace('"', '""') + '"' for p in phrases)

    def query_plan(self, sql: str, params: tuple | dict = ()) -> list[str]:
        """How the engine will run ``sql``, a line a step (for benchmarks and index checks)."""
        return [r[3] for r in self.all("EXPLAIN QUERY PLAN " + sql, params)]

    def index_hint(self, index: str) -> str:
        """Make SQLite walk ``index`` (PostgreSQL's planner takes no hints, and needs none here)."""
        return f" INDEXED BY {index}"

    def defer_foreign_keys(self) -> None:
        """Check references at commit, not statement by statement, for the rest of the transaction."""
        self.execute("PRAGMA defer_foreign_keys = ON")

    def integrity_errors(self) -> tuple[type[BaseException], ...]:
        return (sqlite3.IntegrityError,)

    def table_names(self) -> list[str]:
        """The tables of the database, the engine's own included, by name."""
        return [r[0] for r in self.all("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]

    def visible(self, alias: str = "e") -> str:
        """The sharing law as the WHERE fragment every read path filters with (:func:`pdmail.visibility.sql_condition`)."""
        from pdmail.visibility import sql_condition

        return sql_condition(alias)

    def kept_flag(self, column: str, value: str) -> str:
        """What an UPDATE of emails writes into a flag the database keeps itself (``has_link``, see
        migration 15), to spare its triggers the work: ``value``, as here anyone may write it."""
        return value

    # --- who is connected (the team server's logins; a file has none) ---

    has_logins = False  # True where who you are is the database login, and the law is the database's own

    def login_user_id(self) -> int | None:
        """The pdmail user whose login this connection is; None without logins or for any other login."""
        return None

    def login_role(self) -> str | None:
        """The database role this connection logged in as; None for a file."""
        return None

    def may_act_as_anyone(self) -> bool:
        """Whether this connection may take on any user's login (PostgreSQL's superuser); a file's
        reader always may, and says who they are with ``--user``."""
        return True

    def become(self, role: str) -> None:
        """Take on ``role`` for the rest of the connection (see :meth:`may_act_as_anyone`)."""

    capture_only = False  # the mail server's login on a team server: it stores mail and reads none

    def act_for_capture(self) -> None:
        """Before storing piped mail: on a team server, act as the mail server's login (see PostgreSQL's)."""

    def require_operator(self, what: str) -> None:
        """Refuse ``what`` unless this connection may read and write every row (a file: always)."""

    def call(self, sql: str, params: tuple | dict = ()):
        """A function of the database that manages logins (PostgreSQL's); its value."""
        return self.scalar(sql, params)

    @contextmanager
    def writing_past_policies(self) -> Iterator[Database]:
        """Inside a transaction: writes that policies would stop (a whole database copied in)."""
        yield self

    def begin_snapshot(self) -> None:
        """Start a read-only transaction that sees one moment and does not hold up writers.

        A deferred transaction reads one snapshot of the write-ahead log; ``ROLLBACK`` ends it.
        """
        self.execute("BEGIN")

    def id_high_water(self, table: str) -> int:
        """The highest id ``table`` ever gave: its highest id, or its counter's when that is further."""
        highest = int(self.scalar(f"SELECT coalesce(max(id), 0) FROM {table}"))
        if not self._autoincrement(table):
            return highest
        counter = self.scalar("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,))
        return max(highest, int(counter or 0))

    def raise_id_counter(self, table: str, highest: int) -> None:
        """Make ``table`` give ids above ``highest`` from now on.

        Only AUTOINCREMENT tables keep a counter (``sqlite_sequence``); the others give max(id) + 1,
        which is already past every id they hold.
        """
        if self._autoincrement(table):
            self.execute("DELETE FROM sqlite_sequence WHERE name = ?", (table,))
            self.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, highest))

    def _autoincrement(self, table: str) -> bool:
        sql = self.scalar("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
        return sql is not None and "AUTOINCREMENT" in sql.upper()

    def close(self) -> None:
        self.conn.close()


def _translate(exc: sqlite3.OperationalError, path: Path | str, read_only: str | None = None) -> Exception:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return TemporaryFailure(f"database {path} stayed busy; try again in a moment")
    if "disk is full" in text or "database or disk is full" in text:
        return TemporaryFailure(f"database {path} is full (disk full?); nothing was half-written")
    if "readonly" in text or "read-only" in text:
        return read_only_error(path, read_only or "the file, its folder or its -wal/-shm files are not writable")
    return exc


def read_only_error(path: Path | str, reason: str) -> UsageError:
    return UsageError(
        f"{path} is read-only for this user ({reason}); reading commands work, "
        "this one needs to write. Nothing was changed."
    )


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


# What SQLite says when the machine, not the data, is in the way.
_MACHINE_TROUBLE = (
    "i/o",
    "unable to open",
    "readonly",
    "read-only",
    "locked",
    "busy",
    "full",
    "interrupt",
    "out of memory",
)
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
    if isinstance(exc, sqlite3.DatabaseError):
        return not isinstance(exc, _DATA_ERRORS)
    psycopg = sys.modules.get("psycopg")  # loaded only by a PostgreSQL database
    if psycopg is not None and isinstance(exc, psycopg.Error):
        return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)
    return False


def default_db_path() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("pdmail", appauthor=False)) / "pdmail.db"


def open_sqlite(path: str | os.PathLike | None = None, *, create: bool = False) -> Database:
    """Open (or, with ``create``, make) the database file and bring its schema up to date.

    The file is created with mode 0600: it holds everyone's mail. A file from a newer pdmail is
    refused untouched, and so is a file that is not a pdmail database: it is never recreated,
    migrated or switched to WAL. A file this user cannot write is opened for reading only.
    """
    db_path = Path(path) if path else default_db_path()
    new = _existing_or_created(db_path, create)
    read_only = None if new else _why_read_only(db_path)
    timeout = busy_timeout()
    try:
        conn = _connect(db_path, read_only, timeout)
    except sqlite3.DatabaseError as exc:
        raise UsageError(f"cannot open {db_path} ({exc})") from None
    conn.row_factory = sqlite3.Row
    try:
        try:
            blank = _refuse_foreign(conn, db_path)  # first: another program's numbering means nothing here
            migrations.check_version(conn)
            if blank and not read_only:
                _make_private(db_path)
            if new:  # only before the first page is written, which WAL mode does
                conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
            if not read_only:
                conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.DatabaseError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise TemporaryFailure(f"database {db_path} stayed busy; try again in a moment") from None
            raise UsageError(f"{db_path} is not a pdmail database ({exc})") from None
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        if read_only and blank:
            raise UsageError(
                f"{db_path} is empty and read-only for this user ({read_only}); pdmail cannot make a database of it"
            )
        if read_only and migrations.schema_version(conn) < migrations.SCHEMA_VERSION:
            raise UsageError(
                f"{db_path} was made by an older pdmail and must be upgraded, but it is read-only "
                f"for this user ({read_only}); run any command once as a user who can write it"
            )
        try:
            migrations.migrate(conn)
        except sqlite3.OperationalError as exc:
            raise _translate(exc, db_path, read_only) from None
    except migrations.NewerSchema as exc:
        conn.close()
        raise UsageError(
            f"{db_path} was written by a newer pdmail (schema {exc.found}; this pdmail knows "
            f"{exc.known}); upgrade pdmail. The file was not changed."
        ) from None
    except BaseException:
        conn.close()
        raise
    return Database(conn, db_path, read_only=read_only)


def _existing_or_created(db_path: Path, create: bool) -> bool:
    """Check that ``db_path`` can be a database file; with ``create``, make it when missing. True if made."""
    if db_path.is_symlink() and not db_path.exists():
        raise UsageError(f"{db_path} is a symbolic link to {os.readlink(db_path)}, which does not exist")
    if db_path.is_dir():
        raise UsageError(f"{db_path} is a folder; --db takes the path of a database file")
    if db_path.exists():
        if not stat.S_ISREG(db_path.stat().st_mode):
            raise UsageError(f"{db_path} is not a regular file; --db takes the path of a database file")
        if not os.access(db_path, os.R_OK):
            raise UsageError(f"cannot read {db_path}: permission denied")
        return False
    if not create:
        raise UsageError(f"no database at {db_path}; create one with `pdmail init`")
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.close(os.open(db_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except OSError as exc:
        raise UsageError(f"cannot create {db_path}: {exc.strerror}") from None
    return True


def _why_read_only(db_path: Path) -> str | None:
    """Why this user cannot write the database, or None. (root may write anything but a read-only mount.)"""
    if not os.access(db_path, os.W_OK):
        return "the file is not writable"
    if not os.access(db_path.absolute().parent, os.W_OK | os.X_OK):
        return "its folder is not writable, and SQLite keeps its write-ahead log there"
    return None


def _connect(db_path: Path, read_only: str | None, timeout: float) -> sqlite3.Connection:
    """A connection; for a file this user cannot write, one that reads only and leaves nothing behind.

    Opened for reading, SQLite would create its -wal and -shm files with the database's own
    (read-only) mode and leave them there, and they would make the file unwritable even after its
    owner makes it writable again. So it is opened as immutable, which creates neither, unless a
    write-ahead log already exists: then another process may be writing it, and it is read through
    that log.
    """
    if not read_only:
        return sqlite3.connect(db_path, timeout=timeout, isolation_level=None)
    from urllib.parse import quote

    options = "mode=ro" if Path(f"{db_path}-wal").exists() else "mode=ro&immutable=1"
    uri = f"file:{quote(str(db_path.absolute()))}?{options}"
    return sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)


def _refuse_foreign(conn: sqlite3.Connection, db_path: Path) -> bool:
    """Refuse, before anything is written, a database some other program made; True for a blank one.

    pdmail's own files record their migrations; a blank file (new, empty, or left by a first
    migration that did not finish) has no other table. Anything else belongs to someone else.
    """
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master") if not r[0].startswith("sqlite_")}
    ours = migrations.LEDGER in names
    if migrations.schema_version(conn) == 0:
        if names - {migrations.LEDGER}:
            raise UsageError(f"{db_path} is a database of another program, not of pdmail; it was left untouched")
        return True
    if not ours:
        raise UsageError(f"{db_path} is a database of another program, not of pdmail; it was left untouched")
    return False


def _make_private(db_path: Path) -> None:
    """A file pdmail adopts as its database becomes readable by its owner only, whoever made it.

    ``chmod`` follows a symbolic link to the file itself; SQLite's -wal and -shm files take the
    database's mode when they are made, and any already there are made private too.
    """
    for path in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
        try:
            if path.exists() and stat.S_IMODE(path.stat().st_mode) & 0o077:
                os.chmod(path, 0o600)
        except PermissionError:
            raise UsageError(
                f"{path} is readable by others and this user cannot change that; `chmod 600 {path}` as its owner first"
            ) from None
