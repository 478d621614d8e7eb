"""What the team server does itself for each message written: each email row written once, plans that
read indexes from a new database on, and the functions every statement asks kept planned."""

from __future__ import annotations

import factories
import pytest

from pdmail.store import emails as emails_store

pytestmark = pytest.mark.postgres

STAMP = "2026-11-01T00:00:00Z"
RAW = "0" * 64


def rows_written(db) -> tuple[int, int]:
    """(rows inserted, rows updated) in the emails table by this transaction so far."""
    row = db.one("SELECT n_tup_ins, n_tup_upd FROM pg_stat_xact_user_tables WHERE relid = CAST('emails' AS regclass)")
    return (row[0], row[1]) if row else (0, 0)


def add_email(db, owner, thread, date, n) -> int:
    return db.insert(
        "INSERT INTO emails (owner_id, thread_id, fingerprint, raw_sha256, direction, source, date_utc, visibility, "
        "deal_id, captured_utc) VALUES (?, ?, ?, ?, 'incoming', 'sync', ?, 'shared', ?, ?)",
        (owner.id, thread, f"w{n}", RAW, date, db.scalar("SELECT min(id) FROM deals"), STAMP),
    )


def flags(db, thread) -> dict[int, tuple[int, int]]:
    rows = db.all("SELECT id, is_last_for_owner, is_last_for_team FROM emails WHERE thread_id = ?", (thread,))
    return {r[0]: (r[1], r[2]) for r in rows}


def test_a_new_email_is_written_once_and_only_the_email_it_follows_again(pg_url):
    """Each update of an email rewrites the row and every index entry (its flags are in the indexes
    the views read): a new email takes its flags as it is inserted, and only the email that held them
    before gives them up; one older than the last touches no other email."""
    db, maria = factories.company(pg_url)
    try:
        contact = factories.contact(db, "Ada", "ada@customer.example", relink=False).id
        factories.deal(db, "Gearbox", contact, relink=False)
        with db.tx():
            db.execute("INSERT INTO raw_messages (sha256, size, data) VALUES (?, 1, ?)", (RAW, b"x"))
            thread = emails_store.create_thread(db, maria.id, "quote", "shared", STAMP)
        with db.tx():
            first = add_email(db, maria, thread, "2026-11-02T09:00:00Z", 1)
            assert rows_written(db) == (1, 0)
            assert flags(db, thread) == {first: (1, 1)}
            newer = add_email(db, maria, thread, "2026-11-03T09:00:00Z", 2)
            assert rows_written(db) == (2, 1)  # the first gave its flags up
            older = add_email(db, maria, thread, "2026-11-01T09:00:00Z", 3)
            assert rows_written(db) == (3, 1)
            assert flags(db, thread) == {first: (0, 0), newer: (1, 1), older: (0, 0)}
    finally:
        db.close()


def test_a_conversation_is_dated_again_only_by_newer_mail(pg_url):
    """Mail joining a conversation with an older date leaves the conversation's row as it is: no new
    version of it is written (each one a copy of the row and its index entries)."""
    db, maria = factories.company(pg_url)
    try:
        with db.tx():
            thread = emails_store.create_thread(db, maria.id, "quote", "shared", STAMP)
        updated = "SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relid = CAST('threads' AS regclass)"
        with db.tx():
            emails_store.touch_thread(db, thread, "2026-11-03T09:00:00Z")
            assert db.scalar(updated) == 1
            emails_store.touch_thread(db, thread, "2026-11-02T09:00:00Z")
            emails_store.touch_thread(db, thread, "2026-11-03T09:00:00Z")
            assert db.scalar(updated) == 1
            emails_store.touch_thread(db, thread, "2026-11-04T09:00:00Z")
            assert db.scalar(updated) == 2
            assert db.scalar("SELECT last_date_utc FROM threads WHERE id = ?", (thread,)) == "2026-11-04T09:00:00Z"
    finally:
        db.close()


def test_a_new_database_does_not_take_its_emails_table_for_empty_for_good(pg_url):
    """A plan made while a first sync's first emails go in is kept for the session. Made on a table
    the planner believes empty, it reads the whole table for each look-up: each row that refers to an
    email checks it that way, every one of them reading every email stored before."""
    db, _ = factories.company(pg_url)
    try:
        with db.tx():
            db.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            db.execute("PREPARE email_by_id (bigint) AS SELECT 1 FROM ONLY emails x WHERE id = $1 FOR KEY SHARE OF x")
            plan = "\n".join(r[0] for r in db.all("EXPLAIN EXECUTE email_by_id(1)"))
            db.execute("DEALLOCATE email_by_id")
        assert "Index" in plan and "Seq Scan" not in plan, plan
    finally:
        db.close()


# Asked by every policy (who is asking), for each row of sync state (whose folder, whose account), and
# by the mail server's pipe for each message it stores or holds.
ASKED_FOR_EACH_MESSAGE = (
    "pdmail_me",
    "pdmail_owns_folder",
    "pdmail_owns_account",
    "pdmail_capture_new_thread",
    "pdmail_capture_register",
    "pdmail_capture_touch_thread",
    "pdmail_capture_thread_has_proposals",
    "pdmail_capture_held",
    "pdmail_capture_held_email",
    "pdmail_capture_quarantine",
)


def test_the_functions_asked_for_each_message_keep_their_plans_for_the_session(pg_url):
    """PostgreSQL plans the query of an SQL function again in each statement that calls it, and keeps
    a PL/pgSQL function's plans for the session."""
    db, _ = factories.company(pg_url)
    try:
        languages = dict(
            db.all(
                "SELECT p.proname, l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang "
                "WHERE p.pronamespace = CAST(current_schema() AS regnamespace) AND p.proname = ANY (?)",
                (list(ASKED_FOR_EACH_MESSAGE),),
            )
        )
        assert languages == dict.fromkeys(ASKED_FOR_EACH_MESSAGE, "plpgsql")
    finally:
        db.close()
