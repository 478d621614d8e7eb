"""A batch answers what it wrote itself: replies to its own messages, threads it folded together,
duplicates of its own messages; and on PostgreSQL each table's rows of a batch go in one statement."""

from __future__ import annotations

import contextlib

import pytest

from pdmail.capture import batch
from pdmail.capture.inputs import Input
from pdmail.store import open_db

pytestmark = pytest.mark.both_engines

MARIA = "maria@northwind.example"


def mail(name: str, subject: str, *, replies_to: tuple[str, ...] = (), minute: int = 0) -> bytes:
    """A message Maria sent, with Message-ID <name@...>; In-Reply-To the last of ``replies_to``."""
    refs = ""
    if replies_to:
        ids = " ".join(f"<{r}@northwind.example>" for r in replies_to)
        refs = f"In-Reply-To: <{replies_to[-1]}@northwind.example>\r\nReferences: {ids}\r\n"
    return (
        f"From: Maria Lopez <{MARIA}>\r\nTo: Ada <ada@acme.example>\r\nCc: Bo <bo@acme.example>\r\n"
        f"Subject: {subject}\r\nDate: Mon, 16 Nov 2026 09:{minute:02d}:00 +0100\r\n"
        f"Message-ID: <{name}@northwind.example>\r\n{refs}\r\nAbout the gearbox, part {name}.\r\n"
    ).encode()


@contextlib.contextmanager
def statements(db):
    """Every statement the store runs on ``db`` meanwhile (the connection's own calls, counted)."""
    seen: list[str] = []
    execute, executemany = db.execute, db.executemany

    def counted(sql, params=()):
        seen.append(sql)
        return execute(sql, params)

    def counted_many(sql, rows):
        rows = list(rows)
        seen.extend([sql] * len(rows))
        return executemany(sql, rows)

    db.execute, db.executemany = counted, counted_many
    try:
        yield seen
    finally:
        del db.execute, db.executemany


def thread_of(db, name: str) -> int:
    thread = db.scalar("SELECT thread_id FROM emails WHERE message_id = ?", (f"{name}@northwind.example",))
    assert thread is not None, name
    return thread


def test_replies_within_one_batch_join_the_thread_of_the_message_they_answer(company, db_path):
    db = open_db(db_path)
    try:
        items = [
            Input("first", raw=mail("a1", "Gearbox offer", minute=1)),
            Input("reply", raw=mail("a2", "Re: Gearbox offer", replies_to=("a1",), minute=2)),
            Input("other", raw=mail("b1", "Pump service", minute=3)),
            Input("again", raw=mail("a1", "Gearbox offer", minute=1)),  # the very first message again
            Input("third", raw=mail("a3", "Re: Gearbox offer", replies_to=("a1", "a2"), minute=4)),
        ]
        with statements(db) as seen:
            outcomes = batch.ingest_many(db, items, workers=0)
        assert [o.status for o in outcomes] == ["stored", "stored", "stored", "duplicate", "stored"]
        assert thread_of(db, "a1") == thread_of(db, "a2") == thread_of(db, "a3") != thread_of(db, "b1")
        assert db.scalar("SELECT count(*) FROM emails") == 4
        assert db.scalar("SELECT count(DISTINCT thread_id) FROM thread_message_ids") == 2
        assert db.scalar("SELECT count(*) FROM email_addresses") == 4 * 3
        assert (
            db.scalar(
                f"SELECT count(*) FROM emails WHERE {db.search_condition('id', '?')}", (db.search_value([["gearbox"]]),)
            )
            == 4
        )
        assert db.scalar("SELECT last_date_utc FROM threads WHERE id = ?", (thread_of(db, "a1"),)).startswith(
            "2026-11-16T08:04"
        )
        # Written in one go: no message failed, so no savepoint; and no look-up of a thread the batch made.
        assert not [s for s in seen if s.startswith("SAVEPOINT")]
        assert not [s for s in seen if "DISTINCT thread_id FROM thread_message_ids" in s]
    finally:
        db.close()


def test_a_reply_follows_threads_the_batch_folded_together(company, db_path):
    """The third message names two threads of the batch: they become one, and a later reply to the
    folded thread's message finds the thread they became."""
    db = open_db(db_path)
    try:
        items = [
            Input("a", raw=mail("c1", "Gearbox offer", minute=1)),
            Input("b", raw=mail("d1", "Delivery dates", minute=2)),
            Input("both", raw=mail("c2", "Re: Gearbox offer", replies_to=("c1", "d1"), minute=3)),
            Input("late", raw=mail("d2", "Re: Delivery dates", replies_to=("d1",), minute=4)),
        ]
        with statements(db) as seen:
            outcomes = batch.ingest_many(db, items, workers=0)
        assert [o.status for o in outcomes] == ["stored"] * 4
        assert len({thread_of(db, n) for n in ("c1", "d1", "c2", "d2")}) == 1
        assert db.scalar("SELECT count(*) FROM threads") == 1
        assert db.scalar("SELECT count(DISTINCT thread_id) FROM thread_message_ids") == 1
        assert not [s for s in seen if s.startswith("SAVEPOINT")]
    finally:
        db.close()


def test_a_reply_to_mail_of_an_earlier_batch_still_asks_the_store(company, db_path, monkeypatch):
    monkeypatch.setattr(batch, "BATCH", 2)
    db = open_db(db_path)
    try:
        items = [
            Input("first", raw=mail("e1", "Gearbox offer", minute=1)),
            Input("second", raw=mail("f1", "Pump service", minute=2)),
            Input("reply", raw=mail("e2", "Re: Gearbox offer", replies_to=("e1",), minute=3)),
            Input("reply-2", raw=mail("e3", "Re: Gearbox offer", replies_to=("e1", "e2"), minute=4)),
        ]
        outcomes = batch.ingest_many(db, items, workers=0)
        assert [o.status for o in outcomes] == ["stored"] * 4
        assert thread_of(db, "e1") == thread_of(db, "e2") == thread_of(db, "e3") != thread_of(db, "f1")
    finally:
        db.close()


def test_a_batch_sends_each_tables_rows_in_one_statement_on_postgresql(company, db_path, engine):
    """On PostgreSQL the addresses, Message-IDs, search words and quarantine releases of a whole
    batch go in one statement per table; on SQLite each row is a function call, written as before."""
    db = open_db(db_path)
    try:
        items = [Input(f"m{i}", raw=mail(f"g{i}", f"Offer {i}", minute=i)) for i in range(20)]
        with statements(db) as seen:
            outcomes = batch.ingest_many(db, items, workers=0)
        assert [o.status for o in outcomes] == ["stored"] * 20
        written = {
            table: sum(1 for s in seen if s.startswith(("INSERT", "UPDATE")) and f" {table} " in s)
            for table in ("email_addresses", "thread_message_ids", "email_search", "quarantine")
        }
        if engine == "postgres":
            assert written == {"email_addresses": 1, "thread_message_ids": 1, "email_search": 1, "quarantine": 1}
        else:
            assert written["email_addresses"] == 20 * 3 and written["thread_message_ids"] == 20
        assert db.scalar("SELECT count(*) FROM email_addresses") == 20 * 3
        assert db.scalar("SELECT count(*) FROM thread_message_ids") == 20
    finally:
        db.close()


def test_rows_waiting_are_sent_before_a_statement_that_reads_their_table(company, db_path, engine):
    """A statement naming a table whose rows wait in a batch sees them: they go first."""
    db = open_db(db_path)
    try:
        batch.ingest_many(db, [Input("m", raw=mail("h1", "Gearbox offer"))], workers=0)
        email_id = db.scalar("SELECT id FROM emails")
        from pdmail.store.emails import _EMAIL_ADDRESSES

        with db.tx(), db.flat():
            db.write_rows(_EMAIL_ADDRESSES, [("zoe@acme.example", email_id, "cc")])
            assert db.scalar("SELECT count(*) FROM email_addresses WHERE address = ?", ("zoe@acme.example",)) == 1
            db.write_rows(_EMAIL_ADDRESSES, [("yves@acme.example", email_id, "cc")])
        assert db.scalar("SELECT count(*) FROM email_addresses") == 3 + 2
        with contextlib.suppress(RuntimeError), db.tx(), db.flat():  # a failed block leaves nothing behind
            db.write_rows(_EMAIL_ADDRESSES, [("xena@acme.example", email_id, "cc")])
            raise RuntimeError("the batch failed")
        assert db.scalar("SELECT count(*) FROM email_addresses WHERE address = ?", ("xena@acme.example",)) == 0
    finally:
        db.close()


def test_a_row_refused_when_the_batch_sends_its_rows_makes_the_batch_start_again_with_savepoints(company, db_path):
    """Rows waiting for the end of a batch fail there, outside any message: the batch is written
    again with a savepoint per message, and only the message whose row was refused is left out."""
    from pdmail.capture.batch_writer import write_batch, write_message
    from pdmail.store.emails import _EMAIL_ADDRESSES

    db = open_db(db_path)
    try:
        batch.ingest_many(db, [Input("m", raw=mail("k1", "Gearbox offer"))], workers=0)
        email_id = db.scalar("SELECT id FROM emails")
        attempts: list[bool] = []
        failures: list[str] = []

        def write(fail_fast: bool) -> list:
            attempts.append(fail_fast)

            def one(address: str, role: str):
                def store():
                    db.write_rows(_EMAIL_ADDRESSES, [(address, email_id, role)])
                    return address

                return write_message(db, store, fail_fast=fail_fast, on_failure=lambda exc: failures.append(address))

            return [
                one("zoe@acme.example", "cc"),
                one("yves@acme.example", "no such role"),
                one("xena@acme.example", "to"),
            ]

        write_batch(db, write)
        assert attempts == [True, False]
        assert failures == ["yves@acme.example"]
        added = db.all(
            "SELECT address FROM email_addresses WHERE address IN (?, ?, ?) ORDER BY address",
            (
                "xena@acme.example",
                "yves@acme.example",
                "zoe@acme.example",
            ),
        )
        assert [r[0] for r in added] == ["xena@acme.example", "zoe@acme.example"]
    finally:
        db.close()
