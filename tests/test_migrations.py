"""The schema comes only from migrations, is exactly what we expect, and old or foreign files are safe."""

from __future__ import annotations

import hashlib
import sqlite3
import stat
from pathlib import Path

import pytest

from pdmail import migrations
from pdmail.errors import UsageError
from pdmail.store import open_db

SNAPSHOT = Path(__file__).parent / "schema.sql"


def dump_schema(path: Path) -> str:
    conn = sqlite3.connect(path)
    rows = conn.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type, name"
    ).fetchall()
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    conn.close()
    return f"-- user_version {version}\n" + "".join(f"{sql.strip()};\n" for _, _, sql in rows)


def test_blank_database_has_exactly_the_expected_schema(db_path):
    open_db(db_path, create=True).close()
    assert dump_schema(db_path) == SNAPSHOT.read_text(), (
        "schema changed: if that is intended, add a migration and refresh tests/schema.sql"
    )


def test_migrating_twice_changes_nothing(db_path):
    db = open_db(db_path, create=True)
    before = dump_schema(db_path)
    assert migrations.migrate(db.conn) == []
    db.close()
    open_db(db_path).close()
    assert dump_schema(db_path) == before


def test_every_migration_is_recorded(db_path):
    db = open_db(db_path, create=True)
    names = [r[0] for r in db.all("SELECT name FROM _pdmail_migrations ORDER BY number")]
    assert names == [name for name, _ in migrations.MIGRATIONS]
    assert db.scalar("PRAGMA user_version") == migrations.SCHEMA_VERSION


def test_database_file_is_private_and_in_wal_mode(db_path):
    db = open_db(db_path, create=True)
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
    assert db.scalar("PRAGMA journal_mode") == "wal"
    assert db.scalar("PRAGMA foreign_keys") == 1


def test_database_from_a_newer_pdmail_is_refused_untouched(db_path):
    open_db(db_path, create=True).close()
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {migrations.SCHEMA_VERSION + 1}")
    conn.close()
    digest = hashlib.sha256(db_path.read_bytes()).hexdigest()
    with pytest.raises(UsageError, match="newer pdmail"):
        open_db(db_path)
    assert hashlib.sha256(db_path.read_bytes()).hexdigest() == digest


def test_a_file_that_is_not_a_database_is_refused_not_recreated(db_path):
    db_path.write_bytes(b"this is my thesis, not a database\n" * 100)
    with pytest.raises(UsageError, match="not a pdmail database"):
        open_db(db_path)
    assert db_path.read_bytes().startswith(b"this is my thesis")


def test_missing_database_without_create_is_a_usage_error(db_path):
    with pytest.raises(UsageError, match="pdmail init"):
        open_db(db_path)
    assert not db_path.exists()


def test_a_database_at_an_older_schema_is_upgraded(db_path, monkeypatch):
    """A file made when only the first migration existed opens, and gains the later ones."""
    conn = sqlite3.connect(db_path)
    conn.isolation_level = None
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:1])
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", 1)
    migrations.migrate(conn)
    conn.execute("INSERT INTO company (id, name, created_utc) VALUES (1, 'Old Co', '2020-01-01T00:00:00Z')")
    conn.close()
    monkeypatch.undo()
    db = open_db(db_path)
    assert db.scalar("PRAGMA user_version") == migrations.SCHEMA_VERSION
    assert db.scalar("SELECT name FROM company") == "Old Co"
    db.close()
    assert dump_schema(db_path) == SNAPSHOT.read_text()


def test_raw_messages_move_to_an_ordinary_table_with_every_reference_intact(db_path, monkeypatch):
    """Migration 7 rebuilds a table that emails and quarantine refer to: bytes and references survive."""
    import factories

    from pdmail import relink

    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:6])
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", 6)
    # Today's capture builds the old file; what it does with columns of later migrations is left out.
    monkeypatch.setattr(relink, "after_capture", lambda db, thread_id, email_id: None)
    db, maria = factories.company(db_path)
    email_id = factories.email(db, maria, frm="ana@harbor.example", to=["maria@northwind.example"])
    from pdmail.store import quarantine

    with db.tx():
        quarantine.hold(db, b"From: x\r\n\r\nheld", source="-", recipient=None, reason="test",
                        from_email=None, subject=None)
    before = {r[0]: bytes(r[1]) for r in db.all("SELECT sha256, data FROM raw_messages")}
    assert "WITHOUT ROWID" in db.scalar("SELECT sql FROM sqlite_master WHERE name = 'raw_messages'")
    db.close()
    monkeypatch.undo()

    db = open_db(db_path)
    assert db.scalar("PRAGMA user_version") == migrations.SCHEMA_VERSION
    assert "WITHOUT ROWID" not in db.scalar("SELECT sql FROM sqlite_master WHERE name = 'raw_messages'")
    assert {r[0]: bytes(r[1]) for r in db.all("SELECT sha256, data FROM raw_messages")} == before
    assert db.all("PRAGMA foreign_key_check") == []
    assert db.scalar("PRAGMA foreign_keys") == 1
    sha = db.scalar("SELECT raw_sha256 FROM emails WHERE id = ?", (email_id,))
    with pytest.raises(sqlite3.IntegrityError):  # the reference is enforced again, against the new table
        db.execute("DELETE FROM raw_messages WHERE sha256 = ?", (sha,))
    db.close()
    assert dump_schema(db_path) == SNAPSHOT.read_text()


def test_a_migration_that_would_break_a_reference_is_undone(db_path, monkeypatch):
    def breaks(conn):
        conn.execute("INSERT INTO users (id, email, name, is_admin, created_utc) VALUES (1, 'a@b.example', 'A', 0, 'x')")
        conn.execute("INSERT INTO user_addresses (email, user_id, created_utc) VALUES ('c@b.example', 99, 'x')")

    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, ("999_breaks", breaks)])
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", len(migrations.MIGRATIONS))
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    with pytest.raises(RuntimeError, match="999_breaks would break references"):
        migrations.migrate(conn)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == migrations.SCHEMA_VERSION - 1
    assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 0
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_a_new_database_has_big_pages_and_an_old_one_keeps_its_own(db_path, tmp_path):
    from pdmail.store.db import PAGE_SIZE

    assert open_db(db_path, create=True).scalar("PRAGMA page_size") == PAGE_SIZE
    old = tmp_path / "old.db"
    conn = sqlite3.connect(old, isolation_level=None)
    conn.execute("PRAGMA page_size=4096")
    conn.execute("PRAGMA journal_mode=WAL")
    migrations.migrate(conn)
    conn.close()
    db = open_db(old)
    assert db.scalar("PRAGMA page_size") == 4096
    with db.bulk_writes():
        assert db.scalar("PRAGMA wal_autocheckpoint") * 4096 == 64 << 20
    assert db.scalar("PRAGMA wal_autocheckpoint") == 1000
