"""Many inputs are written a batch per transaction; one failing message still leaves the rest stored."""

from __future__ import annotations

import pdmail.capture.batch as ingest_module
from pdmail.capture.inputs import Input
from pdmail.store import open_db


def mail(i: int) -> bytes:
    return (f"From: Maria Lopez <maria@northwind.example>\r\nTo: Ada <ada@acme.example>\r\n"
            f"Subject: Offer {i}\r\nDate: Mon, 16 Nov 2026 09:{i:02d}:00 +0100\r\n"
            f"Message-ID: <batch{i}@northwind.example>\r\n\r\nOffer number {i} for the gearbox.\r\n").encode()


def count(db, sql):
    return db.scalar(sql)


def test_a_failure_midway_rolls_back_only_that_message(company, db_path, monkeypatch):
    real = ingest_module.ingest_bcc

    def fails_after_writing(db, raw, *, label, **kw):
        outcome = real(db, raw, label=label, **kw)  # the message's rows are written, then it fails
        if label == "m3":
            raise RuntimeError("disk gremlin")
        return outcome

    monkeypatch.setattr(ingest_module, "ingest_bcc", fails_after_writing)
    db = open_db(db_path)
    try:
        outcomes = ingest_module.ingest_many(db, [Input(f"m{i}", raw=mail(i)) for i in range(6)], workers=0)
        assert [o.status for o in outcomes] == ["stored", "stored", "stored", "failed", "stored", "stored"]
        assert "disk gremlin" in outcomes[3].reason
        assert count(db, "SELECT count(*) FROM emails") == 5
        assert count(db, "SELECT count(*) FROM emails WHERE subject = 'Offer 3'") == 0
        assert count(db, "SELECT count(*) FROM email_fts WHERE email_fts MATCH 'gearbox'") == 5
    finally:
        db.close()


def test_batches_without_failures_store_everything_once(company, db_path, monkeypatch):
    monkeypatch.setattr(ingest_module, "BATCH", 4)
    db = open_db(db_path)
    try:
        items = [Input(f"m{i}", raw=mail(i)) for i in range(10)] + [Input("again", raw=mail(2))]
        outcomes = ingest_module.ingest_many(db, items, workers=0)
        assert [o.status for o in outcomes] == ["stored"] * 10 + ["duplicate"]
        assert count(db, "SELECT count(*) FROM emails") == 10
        assert count(db, "SELECT count(*) FROM email_fts WHERE email_fts MATCH 'gearbox'") == 10
    finally:
        db.close()


def test_nested_blocks_are_plain_only_while_flat(db_path, company):
    db = open_db(db_path)
    try:
        with db.tx():
            with db.flat():
                with db.tx():
                    db.execute("INSERT INTO company_settings (key, value) VALUES ('probe', '1')")
            try:
                with db.tx():
                    db.execute("INSERT INTO company_settings (key, value) VALUES ('probe2', '1')")
                    raise ValueError
            except ValueError:
                pass
        keys = {r[0] for r in db.all("SELECT key FROM company_settings WHERE key LIKE 'probe%'")}
        assert keys == {"probe"}  # the savepoint outside flat() undid its own block only
    finally:
        db.close()
