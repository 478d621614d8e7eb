"""The team server: the same store on PostgreSQL.

Everything here is what differs from SQLite, in one place: how a connection is opened and what a
lost one means, parameter markers, how rows come back, transactions, and the few SQL fragments the
two engines write differently (:class:`PostgresDatabase` overrides those of
:class:`~pdmail.store.db.Database`). Every other statement in the store is written once and runs
on both.

psycopg is an install extra (``pip install 'pdmail[postgres]'``): it is imported only when a
``postgresql://`` URL is opened, so SQLite users neither need it nor pay for importing it.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from pdmail.core.errors import TemporaryFailure, UsageError
from pdmail.store import migrations_postgres, search_words
from pdmail.store.db import Database, DeferredWriteFailed, busy_timeout
from pdmail.store.logins_postgres import CAPTURE_ROLE

# pg_advisory_xact_lock key that every write transaction takes: writers queue one after another, as
# they do on SQLite, so a check-then-insert (dedupe, threading) never races another writer. Readers
# are never held up. (The number spells "pdmail" in ASCII, to stay clear of other programs' keys.)
WRITE_LOCK_KEY = 0x70646D61696C
# The line that writers of many messages (sync, a folder of mail, a rescan) wait in, one at a time,
# before they wait for the write lock: see PostgresDatabase._begin. ("pdmaim": the next number.)
BULK_QUEUE_KEY = WRITE_LOCK_KEY + 1
# Class of the session-level advisory locks that keep one sync per account (the account id is the key).
SYNC_LOCK_CLASS = 0x7064
# A test build's switch: pdmail's own visibility condition off, the policies alone decide (see visible()).
POLICIES_ONLY_SWITCH = "PDMAIL_TEST_POLICIES_ONLY"


def safe_label(url: str) -> str:
    """The URL as it may be shown: any password in it replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


# --- turning the store's SQL into psycopg's -----------------------------------------------------

_MARKERS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|::|:(\w+)|\?|%")


@lru_cache(maxsize=2048)
def translate(sql: str) -> str:
    """SQLite's ``?`` and ``:name`` markers as psycopg's ``%s`` and ``%(name)s``; ``%`` doubled.

    Quoted strings and identifiers are kept as written, and so is a ``::`` cast.
    """

    def one(m: re.Match) -> str:
        token = m.group(0)
        if token == "?":
            return "%s"
        if token == "%":
            return "%%"
        if m.group(1) is not None:
            return f"%({m.group(1)})s"
        return token

    return _MARKERS.sub(one, sql)


class Row(tuple):
    """A row read by position or by column name, like :class:`sqlite3.Row`."""

    __slots__ = ()
    _names: ClassVar[dict[str, int]] = {}

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


@lru_cache(maxsize=512)
def _row_class(names: tuple[bytes, ...]) -> type[Row]:
    columns = {name.decode(): i for i, name in enumerate(names)}
    return type("Row", (Row,), {"__slots__": (), "_names": columns})


def _row_factory(cursor):
    """The row class of a result, by its column names as the server sent them: read straight from
    the result, as a statement runs for every few milliseconds of a bulk write."""
    result = cursor.pgresult
    count = result.nfields if result is not None else 0
    return _row_class(tuple(result.fname(i) for i in range(count)) if count else ())


# --- the connection -------------------------------------------------------------------------------


class _AwaitedCursor:
    """A cursor of a pipelined flat block: reading its rows or its row count waits for its answer,
    and a failure is told as the store tells it (see ``PostgresDatabase._told``)."""

    __slots__ = ("_cursor", "_db")

    def __init__(self, cursor, db: PostgresDatabase) -> None:
        self._cursor, self._db = cursor, db

    def fetchone(self):
        with self._db._told():
            return self._cursor.fetchone()

    def fetchall(self):
        with self._db._told():
            return self._cursor.fetchall()

    def fetchmany(self, size: int = 0):
        with self._db._told():
            return self._cursor.fetchmany(size)

    def __iter__(self):
        return iter(self.fetchall())

    @property
    def rowcount(self) -> int:
        self._db._await_sent()
        return self._cursor.rowcount

    @property
    def description(self):
        self._db._await_sent()
        return self._cursor.description


class PostgresDatabase(Database):
    """A connection to a PostgreSQL database, in autocommit mode; writes go through :meth:`tx`."""

    engine = "postgres"

    def __init__(self, conn, url: str) -> None:
        self.conn = conn
        self.url = url
        self.label = safe_label(url)
        self.path = None
        self.read_only = None
        self._depth = 0
        self._flat = False
        self._bulk = False
        self._bulk_commits = 0
        self._roles: dict[str, str] | None = None
        self._capture: bool | None = None
        self._pipeline = None  # psycopg's pipeline while a flat block sends its writes ahead
        import psycopg

        self._errors = psycopg

    updates_row_by_row = False

    def execute(self, sql: str, params: tuple | dict = ()):
        with self._told():
            cursor = self.conn.execute(translate(sql), params or None)
        return cursor if self._pipeline is None else _AwaitedCursor(cursor, self)

    def executemany(self, sql: str, rows):
        rows = list(rows)
        if not rows:
            return None
        with self._told(), self.conn.cursor() as cur:
            cur.executemany(translate(sql), rows)
            return cur

    @contextmanager
    def _told(self) -> Iterator[None]:
        """The driver's failures as the store tells them: a lost connection or a busy database is a
        TemporaryFailure; inside a pipelined flat block any other failure is a DeferredWriteFailed
        (it may be that of a statement sent earlier, for another message)."""
        try:
            yield
        except self._errors.Error as exc:
            told = self._told_as(exc)
            if told is exc:
                raise
            if isinstance(told, TemporaryFailure):
                raise told from None
            raise told from exc

    def _told_as(self, exc: BaseException) -> BaseException:
        aborted = isinstance(exc, self._errors.errors.PipelineAborted)  # a statement after a failed one
        if self.conn.broken or (isinstance(exc, self._errors.OperationalError) and not aborted):
            return self._translate(exc)
        if self._pipeline is not None or aborted:
            return DeferredWriteFailed(f"a write sent ahead in this batch failed: {exc}")
        return exc

    def _translate(self, exc: BaseException) -> TemporaryFailure:
        """A lock waited for longer than ``lock_timeout`` (another writer) or a lost connection."""
        if isinstance(exc, self._errors.errors.LockNotAvailable):
            return TemporaryFailure(f"database {self.label} stayed busy; try again in a moment")
        return connection_lost(self.label, exc)

    @contextmanager
    def flat(self) -> Iterator[Database]:
        """A flat block (see :meth:`Database.flat`) that sends its statements without waiting for each
        one's answer (psycopg's pipeline mode): a statement whose answer is read (a query, an id
        returned) waits for those sent before it, all of them in one round trip. A batch then waits
        on the server a few times a message, not once per statement (about 18 for a new message).
        A failure may be told late, at a later statement: it is raised as :class:`DeferredWriteFailed`,
        and the batch is written again with savepoints, every statement awaited. The block ends
        with every answer read, so that the commit follows only writes that went through."""
        with super().flat():
            if self._pipeline is not None:
                yield self
                return
            with self._told(), self.conn.pipeline() as pipeline:
                self._pipeline = pipeline
                try:
                    yield self
                finally:
                    self._pipeline = None

    def _await_sent(self) -> None:
        """Wait for the answers of every statement sent so far (their failures raised now)."""
        if self._pipeline is not None:
            with self._told():
                self._pipeline.sync()

    def insert(self, sql: str, params: tuple | dict = ()) -> int:
        row = self.execute(sql + " RETURNING id", params).fetchone()
        if row is None:
            raise LookupError(f"no row inserted: {sql}")
        return row[0]

    def require_writable(self) -> None:
        return None

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self.conn.info.transaction_status != TransactionStatus.IDLE

    def _begin(self) -> None:
        """Start a write transaction: wait for the write lock, and hold it until commit.

        Writers of many messages wait in a line of their own first, and only the first of that line
        waits for the write lock itself. The write lock is granted in turn, so without that line a
        message piped by the mail server would wait behind a batch of every sync running; with it,
        behind two at most (the one writing and the one next in line).
        """
        if not self._bulk:
            self._begin_and_lock()
            return
        self.execute("SELECT pg_advisory_lock(?)", (BULK_QUEUE_KEY,))
        try:
            self._begin_and_lock()
        finally:
            self._leave_queue()

    def _begin_and_lock(self) -> None:
        self.execute("BEGIN")
        try:
            self.execute("SELECT pg_advisory_xact_lock(?)", (WRITE_LOCK_KEY,))
        except BaseException:
            self._rollback()  # the transaction is aborted: nothing more may run on it
            raise

    def _leave_queue(self) -> None:
        try:
            self.conn.execute("SELECT pg_advisory_unlock(%s)", (BULK_QUEUE_KEY,))
        except self._errors.OperationalError:
            pass  # the connection is gone, and the session's locks with it

    def _commit(self) -> None:
        self.execute("COMMIT")
        if self._bulk:
            self._bulk_commits += 1
            if self._bulk_commits & (self._bulk_commits - 1) == 0:  # the 1st, 2nd, 4th, 8th...
                self._plan_again()

    def _plan_again(self) -> None:
        """Forget this session's prepared statements, so that the next batches plan them anew.

        A statement run often is prepared, and PostgreSQL then keeps one plan for it. Made while the
        first messages went into a new database, that plan reads the whole of what were tiny tables
        (the duplicate check, the thread lookups): at 10,000 messages every lookup walks 10,000 rows.
        Planned again after the 1st, 2nd, 4th, 8th... commit of a bulk write, a plan is used while
        the tables it reads grow to twice their size at most, and indexes are used as soon as they
        pay. (psycopg forgets its own record of them on seeing this statement.)
        """
        self.execute("DEALLOCATE ALL")

    def _rollback(self) -> None:
        try:
            self.conn.execute("ROLLBACK")
        except self._errors.OperationalError:
            pass  # the connection is gone, and the transaction with it

    @contextmanager
    def bulk_writes(self, *, refetchable: bool = False) -> Iterator[Database]:
        """Writing many messages: the transactions wait in the line of such writers (see :meth:`_begin`),
        statements are planned again as the tables grow (see :meth:`_plan_again`), and a sync (whose
        mail the server keeps) may skip waiting for the commit record to be flushed."""
        if refetchable:
            self.execute("SET synchronous_commit = off")
        outer = self._bulk, self._bulk_commits
        self._bulk, self._bulk_commits = True, 0
        try:
            yield self
        finally:
            self._bulk, self._bulk_commits = outer
            if refetchable:
                self.execute("RESET synchronous_commit")

    def spool_folder(self) -> Path:
        """Messages too large for the database wait on the machine that received them, in the
        user's data folder, one folder per database (named by a hash of its URL without password)."""
        from platformdirs import user_data_dir

        digest = hashlib.sha256(self.label.encode()).hexdigest()[:16]
        return Path(user_data_dir("pdmail", appauthor=False)) / "spool" / digest

    # --- the fragments the engines write differently ---

    def in_json(self, column: str, marker: str, *, text: bool = False) -> str:
        """As an array the planner sees as one value: ``IN (SELECT ... json ...)`` it estimated at 100
        rows and, for fifty ids, joined to a whole user's mail by hash (250 ms at a million emails)
        where ``= ANY`` walks the index (1 ms)."""
        cast = "text" if text else "bigint"
        return f"{column} = ANY (ARRAY(SELECT value::{cast} FROM json_array_elements_text(CAST({marker} AS json))))"

    like = "ILIKE"

    writes_json = False  # json_build_object() spaces its output differently: the JSON is written in Python

    def text_list(self, value: str, source: str, order: str) -> str:
        return f"(SELECT string_agg({value}, chr(10) ORDER BY {order}) FROM {source})"

    cuts_search_words = False

    def index_for_search(
        self, email_id: int, subject: str, body_text: str, addresses: str, *, document: str | None = None
    ) -> None:
        if document is None:
            document = search_words.document((subject, body_text, addresses))
        self.execute("INSERT INTO email_search (email_id, words) VALUES (?, CAST(? AS tsvector))", (email_id, document))

    def search_condition(self, column: str, marker: str) -> str:
        return f"{column} IN (SELECT email_id FROM email_search WHERE words @@ CAST({marker} AS tsquery))"

    def search_value(self, phrases: Sequence[Sequence[str]]) -> str:
        return search_words.query(phrases)

    def query_plan(self, sql: str, params: tuple | dict = ()) -> list[str]:
        return [r[0] for r in self.all("EXPLAIN " + sql, params)]

    def index_hint(self, index: str) -> str:
        return ""

    def defer_foreign_keys(self) -> None:
        self.execute("SET CONSTRAINTS ALL DEFERRED")

    def try_lock(self, key: int) -> bool:
        return bool(self.scalar("SELECT pg_try_advisory_lock(?, ?)", (SYNC_LOCK_CLASS, key)))

    def unlock(self, key: int) -> None:
        self.execute("SELECT pg_advisory_unlock(?, ?)", (SYNC_LOCK_CLASS, key))

    def lock_taken(self, key: int) -> bool:
        return bool(
            self.scalar(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database()) AND classid = ? AND objid = ? "
                "AND granted)",
                (SYNC_LOCK_CLASS, key),
            )
        )

    def integrity_errors(self) -> tuple[type[BaseException], ...]:
        return (self._errors.IntegrityError,)

    def table_names(self) -> list[str]:
        sql = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename"
        return [r[0] for r in self.all(sql)]

    # --- logins (migration 14, pdmail/store/logins_postgres.py) ---

    has_logins = True

    def visible(self, alias: str = "e") -> str:
        """The law as pdmail writes it, or, in a test build that proves the policies alone state it
        (``PDMAIL_TEST_POLICIES_ONLY=1``), nothing: the database's policies are then the only filter.

        The switch holds only on a connection that is a user's login, which the policies bind; one
        that bypasses them (a superuser's own, the operator's) keeps pdmail's condition.
        """
        if os.environ.get(POLICIES_ONLY_SWITCH) == "1" and self.login_user_id() is not None:
            return "TRUE"
        return super().visible(alias)

    def kept_flag(self, column: str, value: str) -> str:
        """Only an email's owner (and the operator) may change more than its links (the guard on
        emails): on anyone else's email the flag is left as it is, for the database's triggers to set
        as the links change."""
        operator = "(SELECT pg_has_role(current_user, role, 'USAGE') FROM pdmail_team_roles() WHERE kind = 'tables')"
        return f"CASE WHEN owner_id = (SELECT pdmail_me()) OR {operator} THEN {value} ELSE {column} END"

    def team_roles(self) -> dict[str, str]:
        """This database's own roles by kind: tables, users, definer, capture, operator."""
        if self._roles is None:
            self._roles = {r[0]: r[1] for r in self.all("SELECT kind, role FROM pdmail_team_roles()")}
        return self._roles

    def login_user_id(self) -> int | None:
        return self.scalar("SELECT pdmail_me()")

    def login_role(self) -> str:
        return self.scalar("SELECT CAST(session_user AS text)")

    def may_act_as_anyone(self) -> bool:
        """A superuser may become any role (SET SESSION AUTHORIZATION), and reads everything anyway."""
        return self.scalar("SELECT current_setting('is_superuser')") == "on"

    def become(self, role: str) -> None:
        """From here on this connection is ``role``'s, as if it had logged in as it: the policies see
        that user, and only a superuser's connection can do this."""
        self.execute("SET SESSION AUTHORIZATION " + quote_ident(role))
        self._roles = None
        self._capture = None

    @property
    def capture_only(self) -> bool:  # type: ignore[override]
        """The mail server's login: a member of pdmail_capture that is no user's (and no superuser). It
        reads no mail: the store asks the database's capture functions what capture must know."""
        if self._capture is None:
            self._capture = (
                bool(
                    self.scalar(
                        "SELECT NOT rolsuper AND pg_has_role(session_user, ?, 'MEMBER') FROM pg_roles "
                        "WHERE rolname = session_user",
                        (CAPTURE_ROLE,),
                    )
                )
                and self.login_user_id() is None
            )
        return self._capture

    def act_for_capture(self) -> None:
        """The mail server's pipe logs in as a member of pdmail_capture; a user's login stores its own
        mail; a superuser's connection takes on pdmail_capture's, so that piping mail in tests what a
        mail server does. Any other login is refused before anything is read."""
        if self.capture_only or self.login_user_id() is not None:
            return
        if self.may_act_as_anyone():
            self.become(CAPTURE_ROLE)
            return
        raise UsageError(
            f"the role {self.login_role()} is neither a pdmail user's login nor a member of {CAPTURE_ROLE}; "
            f"the mail server's pipe logs in as a role the operator made a member of {CAPTURE_ROLE}"
        )

    def is_operator(self) -> bool:
        """The role that ran ``pdmail init`` (a member of the tables' owner), or a superuser."""
        return bool(self.scalar("SELECT pg_has_role(current_user, ?, 'USAGE')", (self.team_roles()["tables"],)))

    def require_operator(self, what: str) -> None:
        if not self.is_operator():
            raise UsageError(
                f"{what} needs the whole database, which only its operator reads: connect as the role that "
                f"ran `pdmail init` ({self.team_roles()['operator']}); you are connected as {self.login_role()}"
            )

    @contextmanager
    def writing_past_policies(self) -> Iterator[Database]:
        """The tables' owner writes past the policies, for this transaction only: the forced ones are
        lifted and forced again before it ends (each ALTER holds its table until the commit)."""
        self.require_operator("writing every user's rows")
        forced = [
            r[0]
            for r in self.all(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relforcerowsecurity ORDER BY 1"
            )
        ]
        for table in forced:
            self.execute(f"ALTER TABLE {quote_ident(table)} NO FORCE ROW LEVEL SECURITY")
        yield self
        self.execute(
            "SET CONSTRAINTS ALL IMMEDIATE"
        )  # deferred checks now: a table with some pending cannot be altered
        for table in forced:
            self.execute(f"ALTER TABLE {quote_ident(table)} FORCE ROW LEVEL SECURITY")

    def call(self, sql: str, params: tuple | dict = ()):
        """One of the definer functions that manage logins; its refusals are the user's errors."""
        try:
            return self.scalar(sql, params)
        except self._errors.errors.InsufficientPrivilege as exc:
            from pdmail.core.errors import NotPermitted

            raise NotPermitted(_first_line(exc)) from None
        except (
            self._errors.errors.InvalidParameterValue,
            self._errors.errors.UniqueViolation,
            self._errors.errors.NoDataFound,
        ) as exc:
            raise UsageError(_first_line(exc)) from None

    def begin_snapshot(self) -> None:
        self.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def id_high_water(self, table: str) -> int:
        highest = int(self.scalar(f"SELECT coalesce(max(id), 0) FROM {table}"))
        sequence = self.scalar("SELECT pg_get_serial_sequence(?, 'id')", (table,))
        if sequence is None:
            return highest
        row = self.row(f"SELECT last_value, is_called FROM {sequence}")
        return max(highest, int(row[0]) if row[1] else int(row[0]) - 1)

    def raise_id_counter(self, table: str, highest: int) -> None:
        self.execute("SELECT setval(pg_get_serial_sequence(?, 'id'), ?, true)", (table, highest))

    def close(self) -> None:
        self.conn.close()


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _first_line(exc: BaseException) -> str:
    diag = getattr(exc, "diag", None)
    text = (diag.message_primary if diag is not None else None) or str(exc)
    return text.strip().splitlines()[0]


def connection_lost(label: str, exc: BaseException) -> TemporaryFailure:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return TemporaryFailure(f"the database server {label} cannot be reached or went away ({detail}); try again later")


def _import_psycopg():
    try:
        import psycopg
    except ImportError:
        raise UsageError(
            "a postgresql:// database needs the PostgreSQL driver: pip install 'pdmail[postgres]'"
        ) from None
    return psycopg


def _configure(conn) -> None:
    """Adapt values as SQLite gives and takes them: flags as 0/1, whole numbers as int."""
    from psycopg.adapt import Loader
    from psycopg.types.numeric import IntDumper

    class BoolAsInt(IntDumper):
        def dump(self, obj):
            return b"1" if obj else b"0"

    class NumericAsNumber(Loader):
        def load(self, data):
            text = bytes(data).decode()
            if text.lstrip("-").isdigit():
                return int(text)
            return float(text)

    conn.adapters.register_dumper(bool, BoolAsInt)
    conn.adapters.register_loader("numeric", NumericAsNumber)


def _session_settings(db: PostgresDatabase) -> bool:
    """Settings of pdmail's sessions, in one round trip, which also tells whether pdmail's ledger of
    migrations is there (every command asks, to open the database).

    Waiting for another writer's lock: as long as SQLite would (``PDMAIL_BUSY_TIMEOUT``), then fail
    as busy. Without a limit a mail server's pipe would wait behind a long writer until the mail
    server itself gives up, and the message's fate would be its choice. PostgreSQL's
    ``lock_timeout`` of 0 means waiting forever, so the shortest wait is a millisecond.

    No JIT compilation: pdmail's queries read a page of rows through an index, and compiling
    one to machine code costs more than running it (75 ms for an inbox page of a million emails,
    over 400 ms for a count).
    """
    row = db.row(
        "SELECT set_config('lock_timeout', ?, false), set_config('jit', 'off', false), to_regclass(?) IS NOT NULL",
        (f"{max(1, round(busy_timeout() * 1000))}ms", migrations_postgres.LEDGER),
    )
    return bool(row[2])


def _blank(db: PostgresDatabase, found: int) -> bool:
    """An empty database: what a missing file is on SQLite, where only ``init`` makes one."""
    return found == 0 and not migrations_postgres.foreign_tables(db)


def open_postgres(url: str, *, create: bool = False) -> PostgresDatabase:
    """Connect and bring the schema up to date; a newer schema is refused untouched, and so is an
    empty database unless ``create`` (``pdmail init``) says to make pdmail's tables there."""
    psycopg = _import_psycopg()
    label = safe_label(url)
    try:
        conn = psycopg.connect(url, autocommit=True, row_factory=_row_factory, connect_timeout=10)
    except psycopg.OperationalError as exc:
        text = str(exc)
        if any(words in text for words in ("does not exist", "authentication failed", "password", "permission denied")):
            raise UsageError(f"cannot connect to {label}: {text.strip().splitlines()[0]}") from None
        raise connection_lost(label, exc) from None
    except psycopg.ProgrammingError as exc:
        raise UsageError(f"{label} is not a usable PostgreSQL URL ({exc})") from None
    _configure(conn)
    db = PostgresDatabase(conn, url)
    try:
        found = migrations_postgres.ledger_version(db) if _session_settings(db) else 0
        if not create and _blank(db, found):
            raise UsageError(f"no pdmail database at {label} yet; create one with `pdmail init`")
        migrations_postgres.migrate(db, found)
    except migrations_postgres.NewerSchema as exc:
        conn.close()
        raise UsageError(
            f"{label} was written by a newer pdmail (schema {exc.found}; this pdmail knows "
            f"{exc.known}); upgrade pdmail. The database was not changed."
        ) from None
    except migrations_postgres.ForeignDatabase:
        conn.close()
        raise UsageError(f"{label} holds tables of another program, not of pdmail; it was left untouched") from None
    except BaseException:
        conn.close()
        raise
    return db
