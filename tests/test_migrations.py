"""The schema comes only from migrations, is exactly what we expect, and old or foreign files are safe."""

from __future__ import annotations

import hashlib
import sqlite3
import stat
from pathlib import Path

import pytest

from pdmail.core.errors import UsageError
from pdmail.store import migrations, open_db

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


def old_database(path: Path, version: int) -> sqlite3.Connection:
    """A file as pdmail left it at schema ``version``; its rows are written with SQL of that time, since
    today's code expects today's schema."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    known = migrations.MIGRATIONS, migrations.SCHEMA_VERSION
    migrations.MIGRATIONS, migrations.SCHEMA_VERSION = known[0][:version], version
    try:
        migrations.migrate(conn)
    finally:
        migrations.MIGRATIONS, migrations.SCHEMA_VERSION = known
    conn.execute("INSERT INTO company (id, name, created_utc) VALUES (1, 'Old Co', '2020-01-01T00:00:00Z')")
    conn.execute(
        "INSERT INTO users (id, email, name, is_admin, created_utc) "
        "VALUES (1, 'maria@northwind.example', 'Maria', 1, '2020-01-01T00:00:00Z')"
    )
    return conn


def old_email(conn: sqlite3.Connection, raw: bytes) -> tuple[int, str]:
    """An email row of an old file, with its raw message; (email id, sha256)."""
    sha = hashlib.sha256(raw).hexdigest()
    conn.execute("INSERT OR IGNORE INTO raw_messages (sha256, size, data) VALUES (?, ?, ?)", (sha, len(raw), raw))
    thread = conn.execute("INSERT INTO threads (owner_id, visibility, created_utc) VALUES (1, 'shared', 'x')").lastrowid
    email_id = conn.execute(
        "INSERT INTO emails (owner_id, thread_id, fingerprint, raw_sha256, direction, source, date_utc, visibility, "
        "captured_utc) VALUES (1, ?, ?, ?, 'incoming', 'sync', '2020-01-02T00:00:00Z', 'shared', 'x')",
        (thread, sha, sha),
    ).lastrowid
    return email_id, sha


def old_hold(
    conn: sqlite3.Connection,
    raw: bytes | None,
    *,
    spool: str | None = None,
    received="2020-01-03T00:00:00Z",
    status="held",
    email_id=None,
    reason="not allowed",
) -> int:
    """A quarantine row as pdmail up to schema 7 wrote it: the bytes in raw_messages, or a spool file."""
    sha = None
    if raw is not None:
        sha = hashlib.sha256(raw).hexdigest()
        conn.execute("INSERT OR IGNORE INTO raw_messages (sha256, size, data) VALUES (?, ?, ?)", (sha, len(raw), raw))
    return conn.execute(
        "INSERT INTO quarantine (received_utc, source, raw_sha256, spool_path, size, from_email, subject, reason, "
        "status, released_email_id) VALUES (?, '-', ?, ?, ?, 'eve@evil.example', 'Hi', ?, ?, ?)",
        (received, sha, spool, len(raw or b""), reason, status, email_id),
    ).lastrowid


def test_raw_messages_move_to_an_ordinary_table_with_every_reference_intact(db_path):
    """Migration 7 rebuilds a table that emails and quarantine refer to: bytes and references survive."""
    conn = old_database(db_path, 6)
    email_id, sha = old_email(conn, b"From: ana@harbor.example\r\n\r\nstored")
    old_hold(conn, b"From: x\r\n\r\nheld")
    before = {r[0]: bytes(r[1]) for r in conn.execute("SELECT sha256, data FROM raw_messages")}
    assert "WITHOUT ROWID" in conn.execute("SELECT sql FROM sqlite_master WHERE name = 'raw_messages'").fetchone()[0]
    conn.close()

    db = open_db(db_path)
    assert db.scalar("PRAGMA user_version") == migrations.SCHEMA_VERSION
    assert "WITHOUT ROWID" not in db.scalar("SELECT sql FROM sqlite_master WHERE name = 'raw_messages'")
    assert {r[0]: bytes(r[1]) for r in db.all("SELECT sha256, data FROM raw_messages")} == before
    assert db.all("PRAGMA foreign_key_check") == []
    assert db.scalar("PRAGMA foreign_keys") == 1
    assert db.scalar("SELECT raw_sha256 FROM emails WHERE id = ?", (email_id,)) == sha
    with pytest.raises(sqlite3.IntegrityError):  # the reference is enforced again, against the new table
        db.execute("DELETE FROM raw_messages WHERE sha256 = ?", (sha,))
    db.close()
    assert dump_schema(db_path) == SNAPSHOT.read_text()


def test_duplicate_quarantine_entries_of_an_older_file_are_held_once(db_path, tmp_path):
    """Schema 7 quarantined the same message once per delivery; migration 8 keeps the oldest held entry."""
    conn = old_database(db_path, 7)
    conn.execute("INSERT INTO user_addresses (email, user_id, created_utc) VALUES ('ml@home.example', 1, 'then')")
    spam, other, released = b"From: eve@evil.example\r\n\r\nbuy", b"From: eve@evil.example\r\n\r\nsell", b"x"
    spam_ids = [old_hold(conn, spam, received=f"2020-01-0{n}T00:00:00Z") for n in (1, 2, 3)]
    other_id = old_hold(conn, other)
    email_id, _ = old_email(conn, released)
    released_id = old_hold(conn, released, status="released", email_id=email_id)
    old_hold(conn, released)  # refused again after its release
    big = hashlib.sha256(b"big").hexdigest()
    spool = tmp_path / "pdmail.db.spool" / f"{big}.eml"
    spool_ids = [old_hold(conn, None, spool=str(spool)) for _ in range(2)]
    conn.close()

    db = open_db(db_path)
    got = {r["id"]: (r["status"], r["content_sha256"]) for r in db.all("SELECT * FROM quarantine")}
    assert got == {
        spam_ids[0]: ("held", hashlib.sha256(spam).hexdigest()),
        other_id: ("held", hashlib.sha256(other).hexdigest()),
        released_id: ("released", hashlib.sha256(released).hexdigest()),
        spool_ids[0]: ("held", big),
    }
    assert db.scalar("SELECT count(*) FROM raw_messages") == 3  # every message's bytes are still there
    assert db.all("PRAGMA foreign_key_check") == []
    with pytest.raises(sqlite3.IntegrityError):  # held once from now on
        db.execute(
            "INSERT INTO quarantine (received_utc, source, content_sha256, size, reason) "
            "VALUES ('now', '-', ?, 1, 'again')",
            (hashlib.sha256(spam).hexdigest(),),
        )
    # An alternative address from before approvals existed stays in force.
    assert db.scalar("SELECT approved_utc FROM user_addresses WHERE email = 'ml@home.example'") == "then"
    db.close()
    assert dump_schema(db_path) == SNAPSHOT.read_text()


def test_a_migration_that_would_break_a_reference_is_undone(db_path, monkeypatch):
    def breaks(conn):
        conn.execute(
            "INSERT INTO users (id, email, name, is_admin, created_utc) VALUES (1, 'a@b.example', 'A', 0, 'x')"
        )
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
        # Mail on deal 1, written as that schema's capture wrote it (today's capture reads newer tables).
        thread = db.insert(
            "INSERT INTO threads (owner_id, deal_id, visibility, created_utc) VALUES (?, 1, 'shared', 'x')", (maria.id,)
        )
        db.execute("INSERT INTO raw_messages (sha256, size, data) VALUES ('r', 1, X'0A')")
        email_id = db.insert(
            "INSERT INTO emails (owner_id, thread_id, fingerprint, raw_sha256, direction, source, date_utc, "
            "visibility, deal_id, deal_rule, captured_utc) VALUES (?, ?, 'f', 'r', 'incoming', 'sync', "
            "'2020-01-02T00:00:00Z', 'shared', 1, 'deal-single-open', 'x')",
            (maria.id, thread),
        )
    db.close()
    monkeypatch.undo()

    db = open_db(db_path)
    rows = db.all("SELECT id, value, typeof(value) AS kind, currency FROM deals ORDER BY id")
    assert [(r["value"], r["currency"]) for r in rows] == [
        ("480000.10", "EUR"),
        ("0.30", "USD"),
        ("1200000", "JPY"),
        ("100", "JPY"),
        ("12.500", "KWD"),
        ("1234.57", None),
        (None, "EUR"),
    ]
    assert {r["kind"] for r in rows if r["value"] is not None} == {"text"}
    assert db.scalar("SELECT deal_id FROM emails WHERE id = ?", (email_id,)) == 1
    assert db.all("PRAGMA foreign_key_check") == []
    from pdmail.store import crm

    assert crm.get_deal(db, 1).value == "480000.10"
    assert crm.get_contact(db, 1).first_name is None
    db.close()
    assert dump_schema(db_path) == SNAPSHOT.read_text()


def test_ids_of_an_older_file_are_never_reused_after_the_upgrade(db_path):
    """Migration 012: rows keep their ids and references; a deleted newest row's id does not come back."""
    conn = old_database(db_path, _before("012_ids_never_reused"))
    email_id, _ = old_email(conn, b"Subject: kept\r\n\r\nbody\r\n")
    held = [old_hold(conn, f"Subject: {n}\r\n\r\nx\r\n".encode(), reason=f"r{n}") for n in range(3)]
    conn.execute("INSERT INTO contacts (id, name, created_utc) VALUES (7, 'Ada', 'x')")
    conn.execute(
        "INSERT INTO email_contacts (email_id, contact_id, address, rule, reason) "
        "VALUES (?, 7, 'ada@acme.example', 'from', 'x')",
        (email_id,),
    )
    thread = conn.execute("SELECT thread_id FROM emails WHERE id = ?", (email_id,)).fetchone()[0]
    conn.close()

    db = open_db(db_path)
    assert [r["id"] for r in db.all("SELECT id FROM quarantine ORDER BY id")] == held
    assert db.scalar("SELECT contact_id FROM email_contacts WHERE email_id = ?", (email_id,)) == 7
    assert db.scalar("SELECT thread_id FROM emails WHERE id = ?", (email_id,)) == thread
    assert db.all("PRAGMA foreign_key_check") == []
    with db.tx():
        db.execute("DELETE FROM quarantine WHERE id = ?", (held[-1],))
        db.execute("DELETE FROM email_contacts WHERE contact_id = 7")
        db.execute("DELETE FROM contacts WHERE id = 7")
        again = db.execute(
            "INSERT INTO quarantine (received_utc, source, size, reason) VALUES ('x', '-', 0, 'r')"
        ).lastrowid
        contact = db.execute("INSERT INTO contacts (name, created_utc) VALUES ('Bo', 'x')").lastrowid
    assert again == held[-1] + 1 and contact == 8
    db.close()
    assert dump_schema(db_path) == SNAPSHOT.read_text()


def test_emails_of_an_older_file_say_whether_a_link_counts(db_path):
    """Migration 015: the flag the sharing law reads is set from the contact and organization links
    the file already holds, and kept by the database from then on."""
    conn = old_database(db_path, _before("015_links_counted"))
    conn.execute("INSERT INTO contacts (id, name, created_utc) VALUES (1, 'Ada', 'x')")
    conn.execute("INSERT INTO orgs (id, name, created_utc) VALUES (1, 'Acme', 'x')")
    linked, _ = old_email(conn, b"Subject: linked\r\n\r\nx\r\n")
    org, _ = old_email(conn, b"Subject: org\r\n\r\nx\r\n")
    proposed, _ = old_email(conn, b"Subject: proposed\r\n\r\nx\r\n")
    alone, _ = old_email(conn, b"Subject: alone\r\n\r\nx\r\n")
    conn.execute("INSERT INTO email_contacts (email_id, contact_id, rule) VALUES (?, 1, 'address')", (linked,))
    conn.execute("INSERT INTO email_orgs (email_id, org_id, rule) VALUES (?, 1, 'domain')", (org,))
    conn.execute(
        "INSERT INTO email_contacts (email_id, contact_id, rule, is_proposed, caused_by) VALUES (?, 1, 'address', 1, 1)",
        (proposed,),
    )
    conn.execute(
        "INSERT INTO email_orgs (email_id, org_id, rule, is_proposed, caused_by) VALUES (?, 1, 'domain', 1, 1)",
        (proposed,),
    )
    conn.close()
    db = open_db(db_path)
    flags = {r["id"]: r["has_link"] for r in db.all("SELECT id, has_link FROM emails")}
    assert flags == {linked: 1, org: 1, proposed: 0, alone: 0}
    with db.tx():  # and the database keeps it from now on
        db.execute("UPDATE email_orgs SET is_proposed = 0 WHERE email_id = ?", (proposed,))
    assert db.scalar("SELECT has_link FROM emails WHERE id = ?", (proposed,)) == 1
    db.close()


def test_the_outbox_of_an_older_file_keeps_its_messages_and_takes_drafts(db_path):
    """Migration 016: outbox rows keep their ids and fields; a draft may be stored, and a deleted
    draft's id is never given to another message."""
    conn = old_database(db_path, _before("016_outbox_drafts"))
    _, sha = old_email(conn, b"Subject: queued\r\n\r\nbody\r\n")
    outbox_row = (
        "INSERT INTO outbox (owner_id, account_id, raw_sha256, message_id, token, envelope_from, recipients_json, "
        "subject, due_utc, status, created_utc) VALUES (1, 1, ?, ?, ?, 'maria@northwind.example', "
        "'[\"ana@acme.example\"]', 'Quote', '2030-01-02T09:00:00Z', ?, 'x')"
    )
    queued = conn.execute(outbox_row, (sha, "m1@x", "a" * 32, "queued")).lastrowid
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(outbox_row, (sha, "m2@x", "b" * 32, "draft"))
    conn.close()

    db = open_db(db_path)
    row = db.one("SELECT id, status, subject, recipients_json FROM outbox")
    assert tuple(row) == (queued, "queued", "Quote", '["ana@acme.example"]')
    with db.tx():
        draft = db.execute(outbox_row, (sha, "m2@x", "b" * 32, "draft")).lastrowid
        db.execute("DELETE FROM outbox WHERE id = ?", (draft,))
        after = db.execute(outbox_row, (sha, "m3@x", "c" * 32, "draft")).lastrowid
    assert (draft, after) == (queued + 1, queued + 2)
    assert db.all("PRAGMA foreign_key_check") == []
    db.close()
    assert dump_schema(db_path) == SNAPSHOT.read_text()
