"""Which engine a ``--db`` names: a ``postgresql://`` URL is the team server, anything else a SQLite file."""

from __future__ import annotations

import os

from pdmail.store.db import Database, open_sqlite

URL_SCHEMES = ("postgresql://", "postgres://")


def is_server_url(target: object) -> bool:
    return isinstance(target, str) and target.startswith(URL_SCHEMES)


def open_db(target: str | os.PathLike | None = None, *, create: bool = False) -> Database:
    """Open (or, with ``create``, make) the database and bring its schema up to date.

    PostgreSQL's driver is imported only here, for a URL: SQLite users need not install it, and a
    piped message does not pay for loading it.
    """
    if is_server_url(target):
        from pdmail.store.postgres import open_postgres

        return open_postgres(str(target), create=create)
    return open_sqlite(target, create=create)
