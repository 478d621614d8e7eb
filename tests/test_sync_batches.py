"""How sync writes a batch: one transaction without per-message savepoints, redone with them when a
message fails; downloads run ahead of the store; settings are read again for every batch."""

from __future__ import annotations

import pytest
import rawdb
from syncworld import OWNER, dump, mail, run, world  # noqa: F401 (world is a fixture)

from pdmail.capture import save as capture
from pdmail.core.errors import TemporaryFailure
from pdmail.store import accounts as accounts_store
from pdmail.store import open_db
from pdmail.store.users import find_user, set_setting
from pdmail.sync.maildir_source import MaildirSource

pytestmark = pytest.mark.both_engines


def count(db, sql):
    return db.scalar(f"SELECT COUNT(*) FROM {sql}")


def test_a_message_failing_mid_batch_leaves_nothing_behind_and_the_rest_is_stored(world, monkeypatch):
    db, _, box, account = world
    for n in range(1, 6):
        box.put("INBOX", mail(n))
    real = capture.store_parsed
    calls = []

    def breaks_on_order_3(db_, owner, parsed, raw, origin, **kw):
        calls.append(parsed.message_id_norm)
        outcome = real(db_, owner, parsed, raw, origin, **kw)  # written in full, then the failure
        if parsed.message_id_norm == "order-3@acme.example":
            raise RuntimeError("disk says no")
        return outcome

    monkeypatch.setattr(capture, "store_parsed", breaks_on_order_3)
    commits = []
    result = run(db, account, batch=10, checkpoint=lambda kind, n: commits.append(kind))

    assert result.new == 4 and result.exit_code == 7
    assert len(result.errors) == 1 and "UID 3 could not be stored (RuntimeError: disk says no)" in result.errors[0]
    assert calls.count("order-1@acme.example") == 2  # the batch was written a second time, with savepoints
    assert count(db, "emails") == 4 and count(db, rawdb.search_index(db.engine)) == 4
    assert db.scalar("SELECT COUNT(*) FROM emails WHERE message_id_norm = 'order-3@acme.example'") == 0
    assert count(db, "fetch_failures") == 1 and count(db, "locations") == 4
    assert db.scalar("SELECT last_uid FROM sync_folders WHERE name = 'INBOX'") == 5
    assert commits.count("commit") == len(commits)  # one commit per batch, failed attempt or not

    monkeypatch.setattr(capture, "store_parsed", real)
    second = run(db, account)
    assert (second.new, second.exit_code) == (1, 0)
    assert count(db, "fetch_failures") == 0 and count(db, "locations") == 5


def test_a_batch_that_fails_then_succeeds_gives_what_a_clean_run_gives(world, monkeypatch, tmp_path, db_path):
    db, maria, box, account = world
    for n in range(1, 8):
        box.put("INBOX", mail(n), "S" if n % 2 else "")
        box.put("Trash", mail(100 + n))
    box.put("Trash", mail(1))  # also in the inbox: one email, two locations
    real = capture.store_parsed
    failed = []

    def fails_once(db_, owner, parsed, raw, origin, **kw):
        if parsed.message_id_norm == "order-5@acme.example" and not failed:
            failed.append(1)
            raise RuntimeError("once")
        return real(db_, owner, parsed, raw, origin, **kw)

    monkeypatch.setattr(capture, "store_parsed", fails_once)
    run(db, account, batch=3)
    monkeypatch.setattr(capture, "store_parsed", real)
    run(db, account, batch=3)
    retried = dump(db)

    accounts_store.remove_account(db, maria, "local")
    with db.tx():
        index = rawdb.search_index(db.engine)
        for table in ("email_contacts", "email_addresses", "thread_message_ids", index, "emails", "threads"):
            db.execute(f"DELETE FROM {table}")
    again = accounts_store.add_account(
        db, maria, name="local", kind="maildir", address=OWNER, maildir_path=str(box.root)
    )
    assert run(db, again, batch=3).exit_code == 0
    clean = dump(db)
    assert retried == clean


def test_downloads_ahead_of_the_store_fail_in_order(world):
    db, _, box, account = world
    for n in range(1, 8):
        box.put("INBOX", mail(n))

    class DropsOnThirdBatch(MaildirSource):
        fetched_batches = 0

        def fetch(self, uids):
            DropsOnThirdBatch.fetched_batches += 1
            if DropsOnThirdBatch.fetched_batches == 3:
                raise TemporaryFailure("connection reset while downloading")
            yield from super().fetch(uids)

    result = run(db, account, batch=2, source_factory=lambda acc: DropsOnThirdBatch(acc.maildir_path))
    assert result.exit_code == 75 and result.outcome == "tempfail"
    # Both batches downloaded before the failure are stored, with the cursor they reach; nothing after.
    assert result.new == 4 and count(db, "emails") == 4
    assert db.scalar("SELECT last_uid FROM sync_folders WHERE name = 'INBOX'") == 4
    assert run(db, account, batch=2).new == 3


def test_a_changed_setting_applies_from_the_next_batch(world):
    db, maria, box, account = world
    for n in range(1, 5):
        box.put("INBOX", mail(n, subject=f"Separate subject {n}"))

    def after_commit(kind, n):
        if kind == "commit" and db.scalar("SELECT COUNT(*) FROM emails") == 2:
            set_setting(db, maria, "default-visibility", "private")

    run(db, account, batch=2, checkpoint=after_commit)
    seen = [
        r[0] for r in db.all("SELECT t.visibility FROM emails e JOIN threads t ON t.id = e.thread_id ORDER BY e.id")
    ]
    assert seen == ["shared", "shared", "private", "private"]


def test_company_settings_are_read_once_per_snapshot(company, db_path):
    db = open_db(db_path)
    maria = find_user(db, OWNER)
    snapshot = capture.Company.load(db)
    assert snapshot.setting(db, "default-visibility", maria) == "shared"
    set_setting(db, maria, "default-visibility", "private")
    assert snapshot.setting(db, "default-visibility", maria) == "shared"
    assert capture.Company.load(db).setting(db, "default-visibility", maria) == "private"
    db.close()
