"""How the team server is written to: plans that follow growing tables, raw mail stored as it is,
sessions without JIT, and the full-text words cut by the parser processes."""

from __future__ import annotations

import contextlib
import threading
import time

import pytest
import rawdb
from entrypoint import mail, pdmail

from pdmail.capture.parse_pool import parse_raws
from pdmail.store import open_db, search_words
from pdmail.store.emails import addresses_text

pytestmark = pytest.mark.postgres

MARIA = "maria@northwind.example"


def init(db: str) -> None:
    code, _, err = pdmail("init", "--name", "Maria Lopez", "--email", MARIA, "--db", db)
    assert code == 0, err


def prepared_statements(db) -> int:
    return db.scalar("SELECT count(*) FROM pg_prepared_statements")


def test_a_bulk_writers_commit_forgets_the_plans_made_for_smaller_tables(pg_url):
    """A plan kept from the first messages into a new database reads whole tables ever after."""
    init(pg_url)
    db = open_db(pg_url)
    try:
        with db.bulk_writes(), db.tx():
            for n in range(10):  # often enough for the driver to prepare it
                db.scalar("SELECT id FROM emails WHERE owner_id = ? AND fingerprint = ?", (1, str(n)))
            assert prepared_statements(db) >= 1
        assert prepared_statements(db) == 0
        with db.tx():  # outside a bulk write nothing is forgotten
            for n in range(10):
                db.scalar("SELECT id FROM emails WHERE owner_id = ? AND fingerprint = ?", (1, str(n)))
        assert prepared_statements(db) >= 1
    finally:
        db.close()


def test_raw_messages_are_stored_uncompressed(pg_url):
    init(pg_url)
    compressible = "quote line for Ada, the same again and again\r\n" * 4000
    code, _, err = pdmail("bcc-ingest", "--db", pg_url, stdin=mail(1, body=compressible))
    assert code == 0, err
    rows = rawdb.rows(pg_url, "SELECT size, pg_column_compression(data) AS method FROM raw_messages")
    assert len(rows) == 1 and rows[0]["size"] > 100_000
    assert rows[0]["method"] is None


def test_pdmail_sessions_run_without_jit(pg_url):
    init(pg_url)
    db = open_db(pg_url)
    try:
        assert db.scalar("SHOW jit") == "off"
    finally:
        db.close()


def test_the_parser_processes_cut_the_words_the_store_would_cut(pg_url, tmp_path):
    raws = [
        mail(n, subject=f"Gearbox quote {n}", body=f"Hello Zoë,\r\nthe naïve price is {n * 7} EUR.\r\n")
        for n in range(3)
    ]
    for parsed, derived in parse_raws(raws, cut_words=True):
        sender = parsed.from_[0] if parsed.from_ else None
        fields = (parsed.subject, parsed.text, addresses_text(sender, parsed.to, parsed.cc))
        assert derived.search_document == search_words.document(fields)
    assert all(derived.search_document is None for _, derived in parse_raws(raws))

    # End to end: enough files for parser processes; each entry is what the writer would have cut.
    init(pg_url)
    folder = tmp_path / "sent"
    folder.mkdir()
    for n in range(80):
        (folder / f"{n:03}.eml").write_bytes(mail(n, subject=f"Gearbox {n}", body=f"Zoë's naïve quote {n}\r\n"))
    code, _, err = pdmail("bcc-ingest", "--workers", "1", str(folder), "--db", pg_url)
    assert code == 0, err
    rows = rawdb.rows(
        pg_url,
        "SELECT e.subject, e.body_text, e.addresses, s.words::text AS words FROM emails e "
        "JOIN email_search s ON s.email_id = e.id",
    )
    assert len(rows) == 80
    for r in rows:
        expected = search_words.document((r["subject"], r["body_text"], r["addresses"]))
        assert r["words"] == rawdb.scalar(pg_url, "SELECT CAST(? AS tsvector)::text", (expected,))


def test_long_documents_keep_within_the_limits_of_tsvector():
    # Past 16,383 positions: a word's later positions stop at the last one, kept once.
    many = " ".join(["gear"] * 20_000)
    assert search_words.document([many]).startswith("'gear':1,2,3,")
    assert len(search_words.document([many]).split(",")) == search_words.MAX_POSITIONS_PER_WORD
    late = " ".join([f"w{n}" for n in range(17_000)])
    document = search_words.document([late])
    assert f"'w{search_words.MAX_POSITION - 1}':{search_words.MAX_POSITION}" in document
    assert f"'w16999':{search_words.MAX_POSITION}" in document
    # A word too long for PostgreSQL is left out; the rest is indexed.
    assert search_words.document(["ok " + "x" * 3000 + " fine"]) == "'ok':1 'fine':3"


def test_the_quick_and_the_careful_paths_cut_alike():
    fields = ["Re: Angebot für Zoë", "Hallo Zoë,\nder Preis: 1.234,50 EUR. Grüße\n" * 40, "zoe@acme.example Zoë Müller"]
    cut = [search_words.words(f) for f in fields]
    assert search_words._within_limits(cut)
    assert search_words._positions(cut) == search_words._positions_capped(cut)


def waiting_for_locks(pg_url) -> int:
    return rawdb.scalar(
        pg_url,
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )


def test_a_piped_message_waits_behind_one_bulk_writer_not_all_of_them(pg_url):
    """The write lock goes to writers in turn. Writers of many messages queue in a line of their
    own, so a single message waits for the batch being written and the next one, not for one batch
    of every sync that runs."""
    init(pg_url)
    order: list[str] = []
    dbs = [open_db(pg_url) for _ in range(3)]

    def write(db, name: str, bulk: bool) -> None:
        with db.bulk_writes() if bulk else contextlib.nullcontext(), db.tx():
            order.append(name)

    def start(db, name: str, bulk: bool, waiting: int) -> threading.Thread:
        thread = threading.Thread(target=write, args=(db, name, bulk))
        thread.start()
        deadline = time.monotonic() + 10
        while waiting_for_locks(pg_url) < waiting:
            assert time.monotonic() < deadline, f"{name} never waited"
            time.sleep(0.02)
        return thread

    try:
        with rawdb.another_writer(pg_url):  # a batch being written
            threads = [
                start(dbs[0], "first sync batch", True, 1),
                start(dbs[1], "second sync batch", True, 2),
                start(dbs[2], "piped message", False, 3),
            ]
        for thread in threads:
            thread.join(timeout=20)
        assert order == ["first sync batch", "piped message", "second sync batch"]
    finally:
        for db in dbs:
            db.close()


# --- a batch's writes are sent ahead, not awaited one by one ------------------------------------------


def _new_mail(count: int) -> list:
    from pdmail.capture.inputs import Input

    return [
        Input(
            f"m{i}",
            raw=(
                f"From: Maria Lopez <{MARIA}>\r\nTo: Buyer {i} <buyer{i}@newco{i}.example>\r\n"
                f"Subject: Offer {i}\r\nDate: Mon, 16 Nov 2026 09:{i:02d}:00 +0100\r\n"
                f"Message-ID: <ahead{i}@northwind.example>\r\n\r\nOffer number {i} for the gearbox.\r\n"
            ).encode(),
        )
        for i in range(count)
    ]


@contextlib.contextmanager
def round_trips(db, tmp_path):
    """How many times the client waited for the server, read from libpq's own trace of the protocol:
    a wait starts when the client asks for the answers so far (Sync, or Flush in a pipeline) or sends
    a statement in the simple protocol (Query)."""
    trace = tmp_path / "libpq.trace"
    waits: list[int] = []
    with open(trace, "w") as out:
        db.conn.pgconn.trace(out.fileno())
        try:
            yield waits
        finally:
            db.conn.pgconn.untrace()
    asks = [line.split("\t")[3] for line in trace.read_text().splitlines() if line.split("\t")[1:2] == ["F"]]
    waits.append(sum(1 for message in asks if message in ("Sync", "Flush", "Query")))


def test_a_batch_waits_for_the_server_a_few_times_a_message_not_once_per_statement(pg_url, tmp_path):
    """About 18 statements store a new message (its row, addresses, links, search words, thread,
    raw bytes...); sent one by one, each is a wait for the server. In a batch, only the statements
    whose answers are read wait, and each such wait takes every write sent before it along."""
    from pdmail.capture import batch

    init(pg_url)
    db = open_db(pg_url)
    try:
        with round_trips(db, tmp_path) as waits:
            outcomes = batch.ingest_many(db, _new_mail(40), workers=0)
        assert [o.status for o in outcomes] == ["stored"] * 40
        assert db.scalar("SELECT count(*) FROM email_addresses") == 80
        assert db.scalar("SELECT count(*) FROM email_search") == 40
    finally:
        db.close()
    # 7 a message once the writes were sent ahead; 5 once each new email and thread is sent with its
    # id and the batch's rows of a table go together at its end. What is left: the contact each
    # message makes and its CRM facts, read back.
    assert waits[0] / 40 <= 6, f"{waits[0]} waits for the server to store 40 messages"


def test_a_write_that_fails_late_in_a_batch_leaves_out_only_its_message(pg_url):
    """Sent ahead, a failing write is told at a later statement, perhaps another message's or none
    at all (the end of the batch): the batch is written again with savepoints, and only the message
    whose write failed is left out."""
    from pdmail.capture.batch_writer import write_batch, write_message

    init(pg_url)
    db = open_db(pg_url)
    db.execute("CREATE TABLE batch_rows (n integer PRIMARY KEY, value text NOT NULL)")
    attempts: list[bool] = []
    failures: list[int] = []

    def write(fail_fast: bool) -> list:
        attempts.append(fail_fast)

        def one(n: int, value: str | None):
            def store():
                db.execute("INSERT INTO batch_rows (n, value) VALUES (?, ?)", (n, value))
                if n == 3:  # this message also reads: told here, the failure is the previous message's
                    db.scalar("SELECT count(*) FROM batch_rows")
                return n

            return write_message(db, store, fail_fast=fail_fast, on_failure=lambda exc: failures.append(n))

        return [one(n, value) for n, value in ((1, "a"), (2, None), (3, "c"), (4, None))]

    try:
        write_batch(db, write)
        assert attempts == [True, False]
        assert failures == [2, 4]
        assert [r[0] for r in db.all("SELECT n FROM batch_rows ORDER BY n")] == [1, 3]
    finally:
        db.close()
