"""The Sent copy on a real Dovecot: filed once, even across a crash, and not captured twice by a later sync."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from smtpserver import SmtpServer, free_port

from pdmail.capture.save import Origin, store_parsed
from pdmail.mime.parse import parse_message
from pdmail.send import outbox
from pdmail.store import open_db
from pdmail.store import outbox as outbox_store
from pdmail.store.users import find_user

pytestmark = [pytest.mark.dovecot, pytest.mark.smtp, pytest.mark.both_engines]

MARIA = "maria@northwind.example"


@pytest.fixture
def mailhost(dovecot_server, mail_user):
    """One mail host: IMAP from the test Dovecot, SMTP from aiosmtpd, sharing Dovecot's certificate."""
    key = dovecot_server.cafile.parent / "key.pem"
    smtp = SmtpServer(
        security="starttls", users={mail_user.login: mail_user.password}, certificate=(dovecot_server.cafile, key)
    ).start()
    yield dovecot_server, mail_user, smtp
    smtp.stop()


@pytest.fixture
def sender(company, mailhost, monkeypatch):
    dovecot, user, smtp = mailhost
    monkeypatch.setenv("PDMAIL_TEST_MAIL_PASSWORD", user.password)
    company.ok(
        "account",
        "add",
        "work",
        "--address",
        user.address,
        "--imap-host",
        "127.0.0.1",
        "--imap-port",
        str(dovecot.imaps_port),
        "--imap-security",
        "tls",
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        str(smtp.port),
        "--smtp-security",
        "starttls",
        "--password-env",
        "PDMAIL_TEST_MAIL_PASSWORD",
        "--cafile",
        str(dovecot.cafile),
    )
    return company


def sent_folder(dovecot, user) -> list[tuple[bytes, tuple]]:
    client = dovecot.client(user)
    try:
        client.select_folder("Sent", readonly=True)
        uids = client.search(["ALL"])
        fetched = client.fetch(uids, ["BODY.PEEK[]", "FLAGS"]) if uids else {}
        return [(fetched[u][b"BODY[]"], fetched[u][b"FLAGS"]) for u in sorted(fetched)]
    finally:
        client.logout()


def test_sent_mail_is_filed_in_the_sent_folder_once(sender, mailhost, db_path):
    dovecot, user, smtp = mailhost
    out = sender.json("send", "--to", "ana@acme.example", "--subject", "Filed", "--body", "Hello")
    assert out["status"] == "sent" and out["warnings"] == []
    [(raw, flags)] = sent_folder(dovecot, user)
    assert raw == smtp.messages[0].data
    assert b"\\Seen" in flags
    [row] = sender.json("outbox", "--all")
    assert row["sent_copy"] == "done"
    db = open_db(db_path)
    assert outbox.send_due(db, None, datetime.now(UTC) + timedelta(days=1)) == []
    assert len(sent_folder(dovecot, user)) == 1


def test_a_crash_after_the_append_never_makes_a_second_copy(sender, mailhost, db_path, monkeypatch):
    dovecot, user, smtp = mailhost
    db = open_db(db_path)
    me = find_user(db, MARIA)
    real_set_copy = outbox_store.set_copy

    def crash_once(db_, item_id, status, error=None):
        if status == "done":
            monkeypatch.setattr(outbox_store, "set_copy", real_set_copy)
            raise KeyboardInterrupt("power cut right after the APPEND")
        real_set_copy(db_, item_id, status, error)

    monkeypatch.setattr(outbox_store, "set_copy", crash_once)
    req = outbox.SendRequest(to=["ana@acme.example"], subject="Crash test", body="x")
    with pytest.raises(KeyboardInterrupt):
        outbox.send(db, me, req, datetime.now(UTC))
    assert len(sent_folder(dovecot, user)) == 1
    [row] = sender.json("outbox", "--all")
    assert row["status"] == "sent" and row["sent_copy"] == "pending"

    assert outbox.send_due(db, None, datetime.now(UTC)) == []
    [row] = sender.json("outbox", "--all")
    assert row["sent_copy"] == "done"
    assert len(sent_folder(dovecot, user)) == 1
    assert len(smtp.messages) == 1


def test_the_copy_waits_for_the_next_run_when_imap_is_down(sender, mailhost, db_path):
    dovecot, user, smtp = mailhost
    db = open_db(db_path)
    real_port = db.scalar("SELECT imap_port FROM accounts")
    with db.tx():
        db.execute("UPDATE accounts SET imap_port = ?", (free_port(),))
    out = sender.json("send", "--to", "ana@acme.example", "--subject", "Copy later", "--body", "x")
    assert out["status"] == "sent" and "Sent folder waits" in out["warnings"][0]
    assert sent_folder(dovecot, user) == []
    with db.tx():
        db.execute("UPDATE accounts SET imap_port = ?", (real_port,))
    assert outbox.send_due(db, None, datetime.now(UTC)) == []
    assert [raw for raw, _ in sent_folder(dovecot, user)] == [smtp.messages[0].data]
    assert sender.json("outbox", "--all")[0]["sent_copy"] == "done"


def test_syncing_the_sent_folder_later_finds_the_same_email(sender, mailhost, db_path):
    dovecot, user, _smtp = mailhost
    out = sender.json("send", "--to", "ana@acme.example", "--subject", "Seen twice", "--body", "x")
    [(raw, _)] = sent_folder(dovecot, user)
    db = open_db(db_path)
    me = find_user(db, MARIA)
    with db.tx():
        again = store_parsed(db, me, parse_message(raw), raw, Origin(source="sync", folder="sent"))
    assert again.status == "duplicate" and again.id == out["email_id"]
    assert db.scalar("SELECT count(*) FROM emails") == 1


def test_pdmail_sync_sends_what_is_due_and_captures_its_copy_only_once(sender, mailhost, db_path):
    dovecot, user, smtp = mailhost
    db = open_db(db_path)
    me = find_user(db, MARIA)
    queued = outbox.queue(
        db,
        me,
        outbox.SendRequest(to=["ana@acme.example"], subject="Due now", body="x"),
        datetime.now(UTC) - timedelta(minutes=5),
    )
    later = outbox.queue(
        db,
        me,
        outbox.SendRequest(to=["ana@acme.example"], subject="Not yet", body="x"),
        datetime.now(UTC) + timedelta(days=1),
    )
    assert smtp.messages == []
    result = sender("sync", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)[0]["new"] == 0  # the copy in Sent is the email already stored
    assert [received.data for received in smtp.messages] == [raw for raw, _ in sent_folder(dovecot, user)]
    assert len(smtp.messages) == 1
    rows = {r["id"]: r for r in sender.json("outbox", "--all")}
    assert rows[queued.id]["status"] == "sent" and rows[queued.id]["sent_copy"] == "done"
    assert rows[later.id]["status"] == "queued"
    assert db.scalar("SELECT count(*) FROM emails") == 1
    assert sender("sync").exit_code == 0
    assert len(smtp.messages) == 1 and db.scalar("SELECT count(*) FROM emails") == 1
