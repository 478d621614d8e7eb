"""`--past contacts`: "past" is what was in the mailbox when the account was added, judged by arrival.

Mail that arrives later is synced whoever sent it and whatever date it carries (greylisting, a
queued outbox, a sender's wrong clock). Past mail left out is remembered, and fetched as soon as one
of its people becomes a contact or the account takes everyone's past mail; nothing is lost for good.
Against a real Dovecot first, then a local Maildir.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from syncworld import OWNER, Maildir, mail

from pdmail.store import accounts as accounts_store
from pdmail.store import open_db
from pdmail.store.db import iso_utc
from pdmail.store.users import find_user
from pdmail.sync import engine as sync

pytestmark = pytest.mark.both_engines

PASSWORD_ENV = "PDMAIL_TEST_MAIL_PASSWORD"
STRANGER = "Bob Stranger <bob@elsewhere.example>"
ADDED = datetime.now(UTC) - timedelta(hours=1)  # when the accounts below were added
BEFORE_ADDED = ADDED - timedelta(hours=1)


def added_an_hour_ago(db, account):
    with db.tx():
        db.execute("UPDATE accounts SET created_utc = ? WHERE id = ?", (iso_utc(ADDED), account.id))
    return accounts_store.get_account(db, find_user(db, OWNER), account.name)


def run(db, account):
    return sync.sync_account(db, account, sync.SyncOptions())


def stored(db, n) -> bool:
    return db.one("SELECT 1 FROM emails WHERE message_id_norm = ?", (f"order-{n}@acme.example",)) is not None


def stored_numbers(db) -> list[int]:
    rows = db.all("SELECT message_id_norm FROM emails WHERE message_id_norm LIKE 'order-%'")
    return sorted(int(r[0].split("-")[1].split("@")[0]) for r in rows)


# --- a real IMAP server -----------------------------------------------------------------------------


@pytest.fixture
def imap_world(company, db_path, dovecot_server, mail_user, monkeypatch):
    """Maria's IMAP account, added an hour ago with the default choice (past mail from contacts only)."""
    monkeypatch.setenv(PASSWORD_ENV, mail_user.password)
    company.ok("contact", "add", "Jane Doe", "--email", "jane@acme.example")
    db = open_db(db_path)
    account = accounts_store.add_account(
        db,
        find_user(db, OWNER),
        name="work",
        kind="imap",
        address=OWNER,
        imap_host=dovecot_server.host,
        imap_port=dovecot_server.imaps_port,
        imap_security="tls",
        username=mail_user.login,
        secret_source={"env": PASSWORD_ENV},
        cafile=str(dovecot_server.cafile),
        past="contacts",
    )
    yield db, added_an_hour_ago(db, account), dovecot_server, mail_user
    db.close()


@pytest.mark.dovecot
def test_mail_arriving_after_the_account_was_added_is_synced_whatever_date_it_carries(imap_world):
    db, account, server, user = imap_world
    server.seed(user, "INBOX", [mail(1), mail(2, sender=STRANGER)], dates=[BEFORE_ADDED, BEFORE_ADDED])
    first = run(db, account)
    assert (first.new, first.not_from_contacts, first.skipped) == (1, 1, 0) and stored_numbers(db) == [1]
    # Dated March 2024, from someone who is no contact, but arriving now: a greylisted message...
    server.append(user, "INBOX", mail(3, sender=STRANGER))
    # ...and one from a queue that kept it since before the account was added, dates and all.
    server.append(user, "INBOX", mail(4, sender=STRANGER), date=BEFORE_ADDED)
    second = run(db, account)
    assert (second.new, second.not_from_contacts, second.skipped, second.errors) == (2, 0, 0, [])
    assert stored_numbers(db) == [1, 3, 4]


@pytest.mark.dovecot
def test_past_mail_left_out_comes_when_its_sender_becomes_a_contact(imap_world, company):
    db, account, server, user = imap_world
    server.seed(
        user,
        "INBOX",
        [mail(1, sender=STRANGER), mail(2, sender="Eve <eve@other.example>")],
        dates=[BEFORE_ADDED, BEFORE_ADDED],
    )
    assert (run(db, account).not_from_contacts, stored_numbers(db)) == (2, [])
    assert run(db, account).new == 0  # nothing changed: still left out, and nothing fetched again
    company.ok("contact", "add", "Bob Stranger", "--email", "bob@elsewhere.example")
    result = run(db, account)
    assert (result.new, result.not_from_contacts, result.errors) == (1, 0, [])
    assert stored_numbers(db) == [1]
    email_id = db.scalar("SELECT id FROM emails WHERE message_id_norm = 'order-1@acme.example'")
    assert db.scalar("SELECT COUNT(*) FROM locations WHERE email_id = ? AND is_gone = 0", (email_id,)) == 1
    assert run(db, account).new == 0


@pytest.mark.dovecot
def test_choosing_everyone_later_fetches_what_was_left_out(imap_world, company):
    db, account, server, user = imap_world
    server.seed(user, "INBOX", [mail(n, sender=STRANGER) for n in (1, 2)], dates=[BEFORE_ADDED] * 2)
    server.seed(user, "Archive", [mail(3, sender=STRANGER)], dates=[BEFORE_ADDED])
    assert run(db, account).not_from_contacts == 3
    changed = company.json("account", "set", "work", "--past", "everyone", "--user", OWNER)
    assert changed["past"] == "everyone"
    result = run(db, accounts_store.get_account(db, find_user(db, OWNER), "work"))
    assert (result.new, result.errors) == (3, [])
    assert stored_numbers(db) == [1, 2, 3]


@pytest.mark.dovecot
def test_past_mail_moved_to_another_folder_stays_past_and_can_still_come(imap_world, company):
    db, account, server, user = imap_world
    server.seed(user, "INBOX", [mail(1, sender=STRANGER)], dates=[BEFORE_ADDED])
    run(db, account)
    server.doveadm("move", "-u", user.login, "Archive", "mailbox", "INBOX", "ALL")
    moved = run(db, account)
    assert (moved.new, moved.not_from_contacts, moved.errors) == (0, 1, [])
    assert stored_numbers(db) == []
    company.ok("contact", "add", "Bob Stranger", "--email", "bob@elsewhere.example")
    assert run(db, account).new == 1
    assert db.scalar("SELECT folder FROM emails WHERE message_id_norm = 'order-1@acme.example'") == "archive"


@pytest.mark.dovecot
def test_after_the_server_renumbers_a_folder_past_mail_stays_past_and_can_still_come(imap_world, company):
    db, account, server, user = imap_world
    server.seed(user, "INBOX", [mail(1), mail(2, sender=STRANGER)], dates=[BEFORE_ADDED] * 2)
    run(db, account)
    server.append(user, "INBOX", mail(3, sender=STRANGER), date=BEFORE_ADDED)  # arrived later
    assert run(db, account).new == 1
    old = db.scalar("SELECT uidvalidity FROM sync_folders WHERE name = 'INBOX'")
    server.doveadm("mailbox", "update", "-u", user.login, "--uid-validity", str(old + 1000), "INBOX")
    renumbered = run(db, account)
    assert (renumbered.new, renumbered.deleted, renumbered.errors) == (0, 0, [])
    assert stored_numbers(db) == [1, 3]
    server.append(user, "INBOX", mail(4, sender=STRANGER), date=BEFORE_ADDED)
    assert run(db, account).new == 1
    company.ok("contact", "add", "Bob Stranger", "--email", "bob@elsewhere.example")
    assert run(db, account).new == 1
    assert stored_numbers(db) == [1, 2, 3, 4]


# --- a local Maildir: arrival is the file's modification time -----------------------------------------


@pytest.fixture
def maildir_world(company, db_path, tmp_path):
    box = Maildir(tmp_path / "Mail")
    company.ok(
        "account", "add", "home", "--address", OWNER, "--maildir", str(box.root), "--since", "all", "--user", OWNER
    )
    db = open_db(db_path)
    account = added_an_hour_ago(db, accounts_store.get_account(db, find_user(db, OWNER), "home"))
    yield db, account, box
    db.close()


def put(box: Maildir, folder: str, raw: bytes, arrived: datetime | None = None) -> str:
    key = box.put(folder, raw)
    if arrived is not None:
        _, path = box.find(key)
        os.utime(path, (arrived.timestamp(), arrived.timestamp()))
    return key


def test_maildir_mail_delivered_after_the_account_was_added_is_synced_whatever_its_date(maildir_world):
    db, account, box = maildir_world
    put(box, "INBOX", mail(1, sender=STRANGER), BEFORE_ADDED)
    put(box, "INBOX", mail(2, sender=STRANGER))  # dated March 2024, delivered now
    result = run(db, account)
    assert (result.new, result.not_from_contacts) == (1, 1)
    assert stored_numbers(db) == [2]


def test_maildir_past_mail_comes_when_its_sender_becomes_a_contact_or_everyone_is_chosen(maildir_world, company):
    db, account, box = maildir_world
    put(box, "INBOX", mail(1, sender=STRANGER), BEFORE_ADDED)
    key = put(box, "INBOX", mail(2, sender="Eve <eve@other.example>"), BEFORE_ADDED)
    box.move(key, "Archive")  # moved before the first sync: a rename keeps its arrival time
    assert run(db, account).not_from_contacts == 2
    company.ok("contact", "add", "Bob Stranger", "--email", "bob@elsewhere.example")
    assert (run(db, account).new, stored_numbers(db)) == (1, [1])
    company.ok("account", "set", "home", "--past", "everyone", "--user", OWNER)
    account = accounts_store.get_account(db, find_user(db, OWNER), "home")
    assert (run(db, account).new, stored_numbers(db)) == (1, [1, 2])
    assert run(db, account).new == 0


def test_account_set_refuses_an_unknown_choice_and_an_unknown_account(company, maildir_world):
    result = company("account", "set", "home", "--past", "nobody", "--user", OWNER)
    assert result.exit_code == 2 and "contacts or everyone" in result.stderr
    assert company("account", "set", "nowhere", "--past", "everyone", "--user", OWNER).exit_code == 4
    # Another user cannot change Maria's account: to them it does not exist.
    assert company("account", "set", "home", "--past", "everyone", "--user", "sam@northwind.example").exit_code == 4
    assert company.json("account", "list", "--user", OWNER)[0]["past"] == "contacts"


@pytest.mark.sqlite_only  # every PostgreSQL database starts at migration 12: none was ever written before 010
def test_mail_an_older_version_left_out_as_past_is_judged_again_after_the_upgrade(db_path, tmp_path, monkeypatch):
    """Before, the Date header decided and nothing recorded who a skipped message involved: what such
    a version left out is read once more after the upgrade; what it quarantined stays as it was."""
    import factories

    from pdmail.store import migrations

    box = Maildir(tmp_path / "Mail")
    greylisted = box.put("INBOX", mail(1, sender=STRANGER))  # delivered after the account was added
    broken = box.put("INBOX", b"quarantined by the older version")
    truly_past = put(box, "INBOX", mail(3, sender=STRANGER), BEFORE_ADDED)
    older = [m for m in migrations.MIGRATIONS if m[0] < "010"]
    monkeypatch.setattr(migrations, "MIGRATIONS", older)
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", len(older))
    db, maria = factories.company(db_path)
    account = accounts_store.add_account(
        db, maria, name="home", kind="maildir", address=OWNER, maildir_path=str(box.root), past="contacts", since="all"
    )
    with db.tx():  # what the older version's first sync left: three messages seen, none stored
        db.execute("UPDATE accounts SET created_utc = ?", (iso_utc(ADDED),))
        folder = db.insert(
            "INSERT INTO sync_folders (account_id, name, role, uidvalidity, last_uid) "
            "VALUES (?, 'INBOX', 'inbox', 1, 3)",
            (account.id,),
        )
        for uid, key in enumerate((greylisted, broken, truly_past), start=1):
            db.execute(
                "INSERT INTO locations (folder_id, uidvalidity, uid, source_key, updated_utc) "
                "VALUES (?, 1, ?, ?, '2026-01-01T00:00:00Z')",
                (folder, uid, key),
            )
        db.execute(
            "INSERT INTO quarantine (received_utc, source, size, reason) "
            "VALUES ('2026-01-01T00:00:00Z', 'sync:home:INBOX/1/2', 0, 'not a message')"
        )
    db.close()
    monkeypatch.undo()

    db = open_db(db_path)
    assert db.scalar("SELECT COUNT(*) FROM past_skips WHERE recheck = 1") == 2
    account = accounts_store.get_account(db, find_user(db, OWNER), "home")
    result = run(db, account)
    assert (result.new, result.skipped, result.not_from_contacts, result.errors) == (1, 0, 1, [])
    assert stored_numbers(db) == [1]
    assert db.scalar("SELECT COUNT(*) FROM quarantine") == 1
    assert [tuple(r) for r in db.all("SELECT uid, recheck FROM past_skips")] == [(3, 0)]
    assert run(db, account).new == 0
    db.close()
