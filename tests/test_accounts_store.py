"""Accounts in the database: validation, the per-user default, lookup, removal."""

from __future__ import annotations

import json

import pytest

from pdmail.core.errors import NotFound, UsageError
from pdmail.store import open_db
from pdmail.store.accounts import add_account, get_account, last_sync, list_accounts, remove_account
from pdmail.store.users import find_user

pytestmark = pytest.mark.both_engines

IMAP = dict(
    kind="imap",
    imap_host="imap.example.com",
    imap_port=993,
    imap_security="tls",
    secret_source={"env": "WORK_MAIL_PASSWORD"},
)


@pytest.fixture
def db(company, db_path):
    database = open_db(db_path)
    yield database
    database.close()


def users(db):
    return find_user(db, "maria@northwind.example"), find_user(db, "sam@northwind.example")


def test_first_account_becomes_the_default_and_default_moves_on_request(db):
    maria, _ = users(db)
    work = add_account(db, maria, name="work", address="Maria@Northwind.example", **IMAP)
    assert work.is_default and work.address == "maria@northwind.example" and work.login == work.address
    side = add_account(db, maria, name="side", address="maria@side.example", **IMAP)
    assert not side.is_default
    assert get_account(db, maria).name == "work"
    add_account(db, maria, name="new", address="maria@new.example", is_default=True, **IMAP)
    assert get_account(db, maria).name == "new"
    assert [a.name for a in list_accounts(db, maria) if a.is_default] == ["new"]


def test_secret_source_is_stored_as_json_and_never_a_secret_value(db):
    maria, _ = users(db)
    account = add_account(db, maria, name="work", address="maria@northwind.example", **IMAP)
    assert account.source == {"env": "WORK_MAIL_PASSWORD"}
    assert json.loads(db.scalar("SELECT secret_source FROM accounts")) == {"env": "WORK_MAIL_PASSWORD"}
    with pytest.raises(UsageError):
        add_account(
            db,
            maria,
            name="bad",
            address="maria@northwind.example",
            **{**IMAP, "secret_source": {"password": "hunter2"}},
        )


def test_accounts_are_per_user(db):
    maria, sam = users(db)
    add_account(db, maria, name="work", address="maria@northwind.example", **IMAP)
    add_account(db, sam, name="work", address="sam@northwind.example", **IMAP)
    assert get_account(db, sam, "work").address == "sam@northwind.example"
    assert [a.owner_id for a in list_accounts(db, maria)] == [maria.id]
    with pytest.raises(UsageError, match="already have an account"):
        add_account(db, maria, name="work", address="maria@other.example", **IMAP)


def test_lookup_by_name_or_unambiguous_address_and_not_found(db):
    maria, sam = users(db)
    add_account(db, maria, name="work", address="maria@northwind.example", **IMAP)
    assert get_account(db, maria, "maria@northwind.example").name == "work"
    with pytest.raises(NotFound):
        get_account(db, maria, "nope")
    with pytest.raises(NotFound):
        get_account(db, sam, "work")
    with pytest.raises(UsageError, match="no mail account"):
        get_account(db, sam)


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(IMAP, imap_host=None), "needs a host"),
        (dict(IMAP, imap_security="ssl"), "tls or starttls"),
        (dict(IMAP, imap_port=70000), "port number"),
        (dict(IMAP, past="nobody"), "contacts or everyone"),
        (dict(kind="maildir"), "--maildir PATH"),
        (dict(kind="maildir", maildir_path="/m", imap_host="x"), "no IMAP server"),
    ],
)
def test_bad_configurations_are_usage_errors(db, fields, message):
    maria, _ = users(db)
    with pytest.raises(UsageError, match=message):
        add_account(db, maria, name="x", address="maria@northwind.example", **fields)


def test_maildir_account_and_bad_address(db):
    maria, _ = users(db)
    account = add_account(
        db,
        maria,
        name="local",
        kind="maildir",
        address="maria@northwind.example",
        maildir_path="/srv/mail/maria",
        folders_json=["INBOX", "Sent"],
    )
    assert account.kind == "maildir" and account.folders == ["INBOX", "Sent"]
    with pytest.raises(UsageError, match="not an email address"):
        add_account(db, maria, name="x", address="maria", **IMAP)


def test_removing_the_default_promotes_the_oldest_remaining(db):
    maria, _ = users(db)
    add_account(db, maria, name="work", address="maria@northwind.example", **IMAP)
    add_account(db, maria, name="side", address="maria@side.example", **IMAP)
    add_account(db, maria, name="third", address="maria@third.example", **IMAP)
    remove_account(db, maria, "work")
    assert get_account(db, maria).name == "side"
    with pytest.raises(NotFound):
        remove_account(db, maria, "work")


def test_last_sync_is_empty_until_the_sync_engine_records_runs(db):
    maria, _ = users(db)
    account = add_account(db, maria, name="work", address="maria@northwind.example", **IMAP)
    assert last_sync(db, [account]) == {}
    db.execute(
        "INSERT INTO sync_runs (account_id, started_utc, outcome) VALUES (?, 'x', 'ok'), (?, 'y', 'partial')",
        (account.id, account.id),
    )
    assert last_sync(db, [account])[account.id]["outcome"] == "partial"


def test_removing_an_account_drops_the_sync_state_that_points_at_it(db):
    maria, _ = users(db)
    account = add_account(db, maria, name="work", address="maria@northwind.example", **IMAP)
    other = add_account(db, maria, name="side", address="maria@side.example", **IMAP)
    for owner in (account, other):
        folder = db.insert("INSERT INTO sync_folders (account_id, name) VALUES (?, 'INBOX')", (owner.id,))
        db.execute("INSERT INTO locations (folder_id, uidvalidity, uid, updated_utc) VALUES (?, 1, 1, 'x')", (folder,))
        db.execute("INSERT INTO sync_runs (account_id, started_utc) VALUES (?, 'x')", (owner.id,))
    remove_account(db, maria, "work")
    for table in ("sync_folders", "sync_runs"):
        assert db.scalar(f"SELECT count(*) FROM {table} WHERE account_id = ?", (account.id,)) == 0
        assert db.scalar(f"SELECT count(*) FROM {table} WHERE account_id = ?", (other.id,)) == 1
    assert db.scalar("SELECT count(*) FROM locations") == 1
