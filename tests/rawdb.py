"""Raw SQL on a test's database, whichever engine holds it, beside pdmail rather than through it.

Tests look at and tamper with the database directly (what a crash left, what a dry run changed);
these helpers do so with the engine's own driver: ``sqlite3`` on a file, psycopg on a
``postgresql://`` URL. Statements use SQLite's ``?`` markers on both, and rows read by column name
or by position on both, as :class:`sqlite3.Row` reads them.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path

# The table of the full-text index: SQLite's FTS5 table, PostgreSQL's table of tsvector documents.
SEARCH_INDEX = {"sqlite": "email_fts", "postgres": "email_search"}


def is_postgres(target) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def engine_of(target) -> str:
    return "postgres" if is_postgres(target) else "sqlite"


def search_index(target) -> str:
    """The full-text index table of the database at ``target`` (a path, a URL, or an engine name)."""
    return SEARCH_INDEX[target if target in SEARCH_INDEX else engine_of(target)]


def _pg_sql(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


class Row(tuple):
    """A PostgreSQL row read by position or by column name, like :class:`sqlite3.Row`."""

    names: dict[str, int]

    def __new__(cls, values, names: dict[str, int]):
        row = super().__new__(cls, values)
        row.names = names
        return row

    def __getitem__(self, key):
        if isinstance(key, str):
            return tuple.__getitem__(self, self.names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self.names)


def _pg_row(cursor):
    names = {column.name: i for i, column in enumerate(cursor.description or ())}
    return lambda values: Row(values, names)


@contextmanager
def connect(target):
    """A connection in autocommit mode whose rows read by column name and by position, on both engines."""
    if is_postgres(target):
        import psycopg

        conn = psycopg.connect(target, autocommit=True, row_factory=_pg_row)
    else:
        conn = sqlite3.connect(Path(target), isolation_level=None)
        conn.row_factory = sqlite3.Row
    try:
        yield conn
    finally:
        conn.close()


def run(conn, target, sql: str, params=()):
    """One statement on an open connection of :func:`connect`; its cursor."""
    return conn.execute(_pg_sql(sql) if is_postgres(target) else sql, params)


def rows(target, sql: str, params=()) -> list:
    with connect(target) as conn:
        return run(conn, target, sql, params).fetchall()


def scalar(target, sql: str, params=()):
    found = rows(target, sql, params)
    return found[0][0] if found else None


def execute(target, sql: str, params=()) -> int:
    """Run one statement; the number of rows it changed."""
    with connect(target) as conn:
        return run(conn, target, sql, params).rowcount


def tables(target) -> list[str]:
    if is_postgres(target):
        found = rows(target, "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()")
    else:
        found = rows(target, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    return sorted(r["name"] for r in found)


def dump(target) -> str:
    """Every row of every table, in a fixed order: equal text, equal contents."""
    out = []
    with connect(target) as conn:
        for table in tables(target):
            cur = conn.execute(f'SELECT * FROM "{table}"')
            lines = sorted(repr(tuple(zip(r.keys(), r, strict=True))) for r in cur.fetchall())
            out.append(f"-- {table}\n" + "\n".join(lines))
    return "\n".join(out)


@contextmanager
def another_writer(target):
    """Hold the database's write lock from another connection, as a long writer would, until the block ends.

    SQLite: a write transaction (``BEGIN IMMEDIATE``). PostgreSQL: the advisory lock every pdmail
    write transaction takes first (:data:`pdmail.store.postgres.WRITE_LOCK_KEY`).
    """
    with connect(target) as conn:
        if is_postgres(target):
            from pdmail.store.postgres import WRITE_LOCK_KEY

            conn.execute("BEGIN")
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))
        else:
            conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        finally:
            conn.execute("ROLLBACK")


def mark_newer_schema(target, version: int) -> None:
    """Record schema ``version`` as a newer pdmail would: SQLite's user_version, PostgreSQL's ledger."""
    if is_postgres(target):
        execute(
            target,
            "INSERT INTO _pdmail_migrations (number, name, applied_utc) VALUES (?, 'newer', '2030-01-01T00:00:00Z')",
            (version,),
        )
    else:
        execute(target, f"PRAGMA user_version = {int(version)}")


def postgres_schema_up_to(target: str, number: int) -> None:
    """Make pdmail's schema of migration ``number`` in the empty PostgreSQL database at ``target``, as
    the pdmail of that time did (its migrations' PostgreSQL steps, recorded in the ledger)."""
    import psycopg

    from pdmail.store import migrations, migrations_postgres
    from pdmail.store.postgres import PostgresDatabase, _configure, _row_factory

    conn = psycopg.connect(target, autocommit=True, row_factory=_row_factory)
    _configure(conn)
    db = PostgresDatabase(conn, target)
    try:
        for n, (name, _) in enumerate(migrations.MIGRATIONS[:number], start=1):
            migrations_postgres.apply(db, n, name)
    finally:
        db.close()
