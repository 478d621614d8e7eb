"""Which writers sync the log at every commit: capture always; sync not, since the server keeps the mail."""

from __future__ import annotations

import factories

from pdmail.capture.batch import ingest_many
from pdmail.capture.inputs import Input

FULL, NORMAL = 2, 1


def test_capture_commits_are_durable_even_in_bulk(db_path):
    db, _maria = factories.company(db_path)
    raw = factories.raw_message(frm="maria@northwind.example", to=["ana@harbor.example"])
    outcomes = ingest_many(db, [Input("one.eml", raw=raw)], workers=0)
    assert [o.status for o in outcomes] == ["stored"]
    assert db.scalar("PRAGMA synchronous") == FULL


def test_a_refetchable_bulk_writer_skips_syncing_the_log_until_it_is_done(db_path):
    db, _ = factories.company(db_path)
    assert db.scalar("PRAGMA synchronous") == FULL
    with db.bulk_writes(refetchable=True):
        assert db.scalar("PRAGMA synchronous") == NORMAL
    assert db.scalar("PRAGMA synchronous") == FULL


def test_sync_writes_refetchable(tmp_path, db_path):
    from syncworld import Maildir, mail, run

    from pdmail.store import accounts as accounts_store

    db, maria = factories.company(db_path)
    box = Maildir(tmp_path / "Mail")
    box.put("INBOX", mail(1))
    account = accounts_store.add_account(
        db, maria, name="local", kind="maildir", address=maria.email, maildir_path=str(box.root)
    )
    seen = []
    assert run(db, account, checkpoint=lambda kind, n: seen.append(db.scalar("PRAGMA synchronous"))).new == 1
    assert NORMAL in seen  # while downloading...
    assert db.scalar("PRAGMA synchronous") == FULL  # ...and durable again for what comes after (the outbox)
