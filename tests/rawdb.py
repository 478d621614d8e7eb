"""Raw SQL on a test's database, whichever engine holds it, beside pdmail rather than through it.

Tests look at and tamper with the database directly (what a crash left, what a dry run changed);
these helpers do so with the engine's own driver: ``sqlite3`` on a file, psycopg on a
``postgresql://`` URL. Statements use SQLite's ``?`` markers on both.
"""

from __future__ import annotations

import re
import sqlite3
from contextlib import contextmanager
from pathlib import Path


def is_postgres(target) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def _pg_sql(sql: str) -> str:
    return re.sub(r"\?", "%s", sql.replace("%", "%%"))


@contextmanager
def connect(target):
    """A connection in autocommit mode: a row factory that reads columns by name, on both engines."""
    if is_postgres(target):
        import psycopg
        from psycopg.rows import dict_row

        conn = psycopg.connect(target, autocommit=True, row_factory=dict_row)
    else:
        conn = sqlite3.connect(Path(target), isolation_level=None)
        conn.row_factory = sqlite3.Row
    try:
        yield conn
    finally:
        conn.close()


def rows(target, sql: str, params=()) -> list[dict]:
    with connect(target) as conn:
        cur = conn.execute(_pg_sql(sql) if is_postgres(target) else sql, params)
        return [dict(r) for r in cur.fetchall()]


def scalar(target, sql: str, params=()):
    found = rows(target, sql, params)
    return next(iter(found[0].values())) if found else None


def execute(target, sql: str, params=()) -> int:
    """Run one statement; the number of rows it changed."""
    with connect(target) as conn:
        cur = conn.execute(_pg_sql(sql) if is_postgres(target) else sql, params)
        return cur.rowcount


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
            lines = sorted(repr(tuple(dict(r).items())) for r in cur.fetchall())
            out.append(f"-- {table}\n" + "\n".join(lines))
    return "\n".join(out)
