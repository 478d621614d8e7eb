"""The sync engine end to end over a local Maildir: both directions, moves, deletions, guards, locks."""

from __future__ import annotations

import pytest
import rawdb
from mailcorpus import corpus
from syncworld import OWNER, dump, mail, run, world  # noqa: F401 (world is a fixture)

from pdmail.mailbox import actions
from pdmail.store import accounts as accounts_store
from pdmail.store import open_db
from pdmail.sync import engine as sync

pytestmark = pytest.mark.both_engines


def email_by_mid(db, n):
    return db.one("SELECT * FROM emails WHERE message_id_norm = ?", (f"order-{n}@acme.example",))


def test_initial_sync_stores_every_folder_with_its_read_state(world):
    db, _, box, account = world
    box.put("INBOX", mail(1), "S")
    box.put("INBOX", mail(2), new=True)
    box.put("Archive", mail(3), "S")
    box.put("Sent", mail(4, sender=f"Maria Lopez <{OWNER}>", to="Jane Doe <jane@acme.example>"), "S")
    box.put("Trash", mail(5))
    result = run(db, account)
    assert (result.new, result.deleted, result.errors, result.exit_code) == (5, 0, [], 0)
    got = {
        n: (email_by_mid(db, n)["folder"], email_by_mid(db, n)["is_read"], email_by_mid(db, n)["is_deleted"])
        for n in range(1, 6)
    }
    assert got == {1: ("inbox", 1, 0), 2: ("inbox", 0, 0), 3: ("archive", 1, 0), 4: ("sent", 1, 0), 5: ("trash", 0, 1)}
    assert email_by_mid(db, 4)["direction"] == "outgoing"
    assert db.scalar("SELECT source FROM emails WHERE message_id_norm = 'order-1@acme.example'") == "sync"
    run_row = db.one("SELECT * FROM sync_runs ORDER BY id DESC")
    assert (run_row["outcome"], run_row["new"]) == ("ok", 5)


def test_a_second_run_with_nothing_changed_changes_nothing(world):
    db, _, box, account = world
    for n in range(1, 4):
        box.put("INBOX", mail(n), "S" if n % 2 else "")
    run(db, account)
    before = dump(db)
    again = run(db, account)
    assert (again.new, again.updated, again.deleted, again.skipped, again.errors) == (0, 0, 0, 0, [])
    assert dump(db) == before


def test_new_mail_arrives_incrementally(world):
    db, _, box, account = world
    box.put("INBOX", mail(1))
    run(db, account)
    box.put("INBOX", mail(2))
    box.put("INBOX", mail(3), new=True)
    result = run(db, account)
    assert result.new == 2
    assert db.scalar("SELECT COUNT(*) FROM emails") == 3


def test_flags_changed_by_another_client_come_back(world):
    db, _, box, account = world
    key = box.put("INBOX", mail(1))
    run(db, account)
    assert email_by_mid(db, 1)["is_read"] == 0
    box.set_flags(key, "S")
    assert run(db, account).updated == 1
    assert email_by_mid(db, 1)["is_read"] == 1
    box.set_flags(key, "")
    run(db, account)
    assert email_by_mid(db, 1)["is_read"] == 0


def test_read_and_unread_here_reach_the_server(world):
    db, maria, box, account = world
    key = box.put("INBOX", mail(1), "F")
    run(db, account)
    email_id = email_by_mid(db, 1)["id"]
    actions.set_read(db, maria, email_id, True)
    run(db, account)
    assert box.files("INBOX")[key] == "FS"
    actions.set_read(db, maria, email_id, False)
    actions.set_read(db, maria, email_id, True)
    actions.set_read(db, maria, email_id, False)
    result = run(db, account)
    assert box.files("INBOX")[key] == "F"
    assert email_by_mid(db, 1)["is_read"] == 0 and result.updated == 0
    assert db.scalar("SELECT COUNT(*) FROM pending_ops WHERE status IN ('pending', 'inflight')") == 0


def test_archive_and_delete_here_move_the_message_on_the_server(world):
    db, maria, box, account = world
    a = box.put("INBOX", mail(1))
    b = box.put("INBOX", mail(2))
    run(db, account)
    actions.archive(db, maria, email_by_mid(db, 1)["id"])
    actions.delete(db, maria, email_by_mid(db, 2)["id"])
    result = run(db, account)
    assert a in box.files("Archive") and b in box.files("Trash") and box.files("INBOX") == {}
    assert (email_by_mid(db, 1)["folder"], email_by_mid(db, 2)["folder"]) == ("archive", "trash")
    assert (result.new, result.deleted, result.errors) == (0, 0, [])
    actions.restore(db, maria, email_by_mid(db, 2)["id"])
    run(db, account)
    assert b in box.files("INBOX")
    assert email_by_mid(db, 2)["folder"] == "inbox" and email_by_mid(db, 2)["is_deleted"] == 0
    before = dump(db)
    run(db, account)
    assert dump(db) == before


def test_archive_stays_local_when_the_setting_is_off(world, cli):
    db, maria, box, account = world
    key = box.put("INBOX", mail(1))
    run(db, account)
    cli.ok("settings", "set", "archive-on-server", "off", "--user", OWNER)
    actions.archive(db, maria, email_by_mid(db, 1)["id"])
    run(db, account)
    assert key in box.files("INBOX")
    assert email_by_mid(db, 1)["folder"] == "archive"
    assert db.scalar("SELECT status FROM pending_ops") == "skipped"


def test_a_move_on_the_server_is_a_move_here(world):
    db, _, box, account = world
    key = box.put("INBOX", mail(1), "S")
    run(db, account)
    email_id = email_by_mid(db, 1)["id"]
    box.move(key, "Archive")
    result = run(db, account)
    assert (result.new, result.updated, result.deleted) == (0, 1, 0)
    row = email_by_mid(db, 1)
    assert (row["id"], row["folder"], row["is_deleted"]) == (email_id, "archive", 0)


def test_deleted_on_the_server_is_tombstoned_here_with_its_links(world, cli):
    db, maria, box, account = world
    cli.ok("contact", "add", "Jane Doe", "--email", "jane@acme.example")
    key = box.put("INBOX", mail(1))
    box.put("INBOX", mail(2))
    run(db, account)
    email_id = email_by_mid(db, 1)["id"]
    links = db.all("SELECT * FROM email_contacts WHERE email_id = ?", (email_id,))
    assert links
    box.remove(key)
    result = run(db, account)
    assert result.deleted == 1
    row = email_by_mid(db, 1)
    assert (row["folder"], row["is_deleted"]) == ("trash", 1)
    assert len(db.all("SELECT * FROM email_contacts WHERE email_id = ?", (email_id,))) == len(links)
    actions.restore(db, maria, email_id)
    run(db, account)
    assert email_by_mid(db, 1)["folder"] == "inbox"


def test_most_of_a_folder_vanishing_stops_and_asks(world):
    db, _, box, account = world
    keys = [box.put("INBOX", mail(n)) for n in range(1, 11)]
    run(db, account)
    for key in keys[:8]:
        box.remove(key)
    result = run(db, account)
    assert result.exit_code == 7 and result.deleted == 0
    assert "INBOX" in result.folder_errors and "--confirm-deletions" in result.folder_errors["INBOX"]
    assert db.scalar("SELECT COUNT(*) FROM emails WHERE is_deleted = 1") == 0
    assert run(db, account).exit_code == 7
    confirmed = run(db, account, confirm_deletions=True)
    assert (confirmed.exit_code, confirmed.deleted) == (0, 8)
    assert db.scalar("SELECT last_error FROM sync_folders WHERE name = 'INBOX'") is None


def test_emptying_the_trash_elsewhere_is_not_a_mass_deletion(world):
    db, _, box, account = world
    keys = [box.put("Trash", mail(n)) for n in range(1, 8)]
    run(db, account)
    for key in keys:
        box.remove(key)
    result = run(db, account)
    assert result.exit_code == 0
    assert db.scalar("SELECT COUNT(*) FROM emails WHERE folder = 'trash'") == 7


def test_the_same_message_in_two_folders_is_one_email(world):
    db, _, box, account = world
    box.put("INBOX", mail(1))
    box.put("Archive", mail(1))
    result = run(db, account)
    assert (result.new, result.skipped) == (1, 1)
    assert db.scalar("SELECT COUNT(*) FROM emails") == 1
    assert db.scalar("SELECT COUNT(*) FROM locations WHERE is_gone = 0") == 2


def test_a_message_captured_by_bcc_first_is_counted_as_skipped_not_lost(world, cli):
    db, _, box, account = world
    raw = mail(1, sender=f"Maria Lopez <{OWNER}>", to="Jane Doe <jane@acme.example>")
    assert cli("bcc-ingest", input=raw).exit_code == 0
    box.put("Sent", raw, "S")
    result = run(db, account)
    assert (result.new, result.skipped, result.errors) == (0, 1, [])
    assert db.scalar("SELECT COUNT(*) FROM emails") == 1
    assert db.scalar("SELECT COUNT(*) FROM locations WHERE is_gone = 0") == 1


def test_an_unreadable_message_is_quarantined_not_lost(world):
    db, _, box, account = world
    box.put("INBOX", corpus()["nested_5000_deep"])
    box.put("INBOX", mail(1))
    result = run(db, account)
    assert result.new == 1 and result.skipped == 1 and result.exit_code == 7
    assert db.scalar("SELECT COUNT(*) FROM quarantine") == 1
    again = run(db, account)
    assert (again.new, again.skipped, again.exit_code) == (0, 0, 0)


def test_a_second_concurrent_run_exits_75_at_once(world, db_path):
    db, _, box, account = world
    from pdmail.accounts.sync_lock import account_lock
    from pdmail.core.errors import TemporaryFailure

    box.put("INBOX", mail(1))
    running = open_db(db_path)  # the other run: a connection (and lock) of its own
    try:
        with account_lock(running, account), pytest.raises(TemporaryFailure, match="already running"):
            run(db, account)
    finally:
        running.close()
    assert run(db, account).new == 1


def test_watch_reconnects_with_backoff_after_a_dropped_connection(world):
    from pdmail.core.errors import TemporaryFailure
    from pdmail.sync import watch
    from pdmail.sync.maildir_source import MaildirSource

    db, maria, box, _account = world
    box.put("INBOX", mail(1))
    opened, sleeps, reports = [], [], []

    def flaky(acc):
        opened.append(acc.name)
        if len(opened) in (1, 2):
            raise TemporaryFailure("the connection broke during UID FETCH")
        return MaildirSource(acc.maildir_path)

    def sleep(seconds):
        sleeps.append(seconds)
        if len(reports) == 3:
            box.put("INBOX", mail(2))

    watch.watch(
        db,
        maria,
        "local",
        sync.SyncOptions(source_factory=flaky),
        reports.append,
        timing=watch.WatchTiming(full_every=60, first_backoff=1, max_backoff=8),
        sleep=sleep,
        should_stop=lambda: len(reports) >= 4,
    )
    assert [r.outcome for r in reports] == ["tempfail", "tempfail", "ok", "ok"]
    assert sleeps == [1, 2, 60]  # backoff doubles, then the regular pass interval
    assert [r.new for r in reports] == [0, 0, 1, 1]


def test_a_message_the_server_did_not_send_is_retried_until_it_comes(world):
    from pdmail.sync.maildir_source import MaildirSource

    db, _, box, account = world
    for n in range(1, 4):
        box.put("INBOX", mail(n))
    withheld = []

    class Flaky(MaildirSource):
        def fetch(self, uids):
            for item in super().fetch(uids):
                if item.uid == 2 and not withheld:
                    withheld.append(item.uid)  # the server answered OK without the body
                    continue
                yield item

    first = run(db, account, source_factory=lambda acc: Flaky(acc.maildir_path))
    assert (first.new, first.exit_code) == (2, 7) and "retried" in first.errors[0]
    assert db.scalar("SELECT COUNT(*) FROM fetch_failures") == 1
    second = run(db, account)
    assert (second.new, second.exit_code) == (1, 0)
    assert db.scalar("SELECT COUNT(*) FROM fetch_failures") == 0 and email_by_mid(db, 2) is not None


def test_parsing_in_worker_processes_gives_the_same_result(world, monkeypatch):
    db, maria, box, account = world
    for n in range(1, 41):
        box.put("INBOX", mail(n), "S" if n % 4 == 0 else "")
    monkeypatch.setattr(sync, "PARALLEL_FROM", 10)
    result = run(db, account, workers=2, batch=7)
    assert (result.new, result.errors) == (40, [])
    parallel = dump(db)
    accounts_store.remove_account(db, maria, "local")
    with db.tx():
        for table in ("email_contacts", "email_addresses", "thread_message_ids"):
            db.execute(f"DELETE FROM {table}")
        db.execute(f"DELETE FROM {rawdb.search_index(db.engine)}")
        db.execute("DELETE FROM emails")
        db.execute("DELETE FROM threads")
    again = accounts_store.add_account(
        db, maria, name="local", kind="maildir", address=OWNER, maildir_path=str(box.root)
    )
    assert run(db, again, workers=1, batch=7).new == 40
    assert dump(db) == parallel
