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

    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:6])
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", 6)
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


def _before(name: str) -> int:
    return [n for n, _ in migrations.MIGRATIONS].index(name)


def test_deal_values_become_exact_text_in_their_currencys_decimals(db_path, monkeypatch):
    """Migration 011: each float becomes the amount it stood for; deals keep their ids and links."""
    import factories

    previous = _before("011_exact_money_and_first_names")
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:previous])
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", previous)
    db, maria = factories.company(db_path)
    floats = [
        (480000.1, "EUR"),  # 480000.09999999998 in binary
        (0.1 + 0.2, "USD"),  # 0.30000000000000004
        (1200000.0, "JPY"),
        (99.5, "JPY"),  # no minor unit: rounded half up
        (12.5, "KWD"),  # three decimals
        (1234.565, None),  # no currency: two decimals
        (None, "EUR"),
    ]
    with db.tx():
        db.execute("INSERT INTO contacts (id, name, created_utc) VALUES (1, 'Ada Byron', 'x')")
        db.execute("INSERT INTO contact_emails (email, contact_id, position) VALUES ('ada@acme.example', 1, 0)")
        for n, (value, currency) in enumerate(floats, start=1):
            db.execute(
                "INSERT INTO deals (id, title, contact_id, value, currency, status, created_utc, updated_utc) "
                "VALUES (?, ?, 1, ?, ?, ?, 'x', 'x')",
                (n, f"Deal {n}", value, currency, "open" if n == 1 else "won"),
            )
    email_id = factories.email(db, maria, frm="ada@acme.example", to=["maria@northwind.example"])
    assert db.scalar("SELECT deal_id FROM emails WHERE id = ?", (email_id,)) == 1
    db.close()
    monkeypatch.undo()

    db = open_db(db_path)
    rows = db.all("SELECT id, value, typeof(value) AS kind, currency FROM deals ORDER BY id")
    assert [(r["value"], r["currency"]) for r in rows] == [
        ("480000.10", "EUR"), ("0.30", "USD"), ("1200000", "JPY"), ("100", "JPY"), ("12.500", "KWD"),
        ("1234.57", None), (None, "EUR"),
    ]
    assert {r["kind"] for r in rows if r["value"] is not None} == {"text"}
    assert db.scalar("SELECT deal_id FROM emails WHERE id = ?", (email_id,)) == 1
    assert db.all("PRAGMA foreign_key_check") == []
    from pdmail.store import crm

    assert crm.get_deal(db, 1).value == "480000.10"
    assert crm.get_contact(db, 1).first_name is None
    db.close()
    assert dump_schema(db_path) == SNAPSHOT.read_text()
