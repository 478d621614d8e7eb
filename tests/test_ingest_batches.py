"""Many inputs are written a batch per transaction; one failing message still leaves the rest stored."""

from __future__ import annotations

import pytest

import pdmail.capture.batch as ingest_module
from pdmail.capture.inputs import Input
from pdmail.store import open_db

pytestmark = pytest.mark.both_engines


def mail(i: int) -> bytes:
    return (
        f"From: Maria Lopez <maria@northwind.example>\r\nTo: Ada <ada@acme.example>\r\n"
        f"Subject: Offer {i}\r\nDate: Mon, 16 Nov 2026 09:{i:02d}:00 +0100\r\n"
        f"Message-ID: <batch{i}@northwind.example>\r\n\r\nOffer number {i} for the gearbox.\r\n"
    ).encode()


def count(db, sql):
    return db.scalar(sql)


def found_by_search(db, word: str) -> int:
    """How many emails the full-text index finds ``word`` in, on either engine's index."""
    return db.scalar(
        f"SELECT count(*) FROM emails WHERE {db.search_condition('id', '?')}", (db.search_value([[word]]),)
    )


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
        assert found_by_search(db, "gearbox") == 5
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
        assert found_by_search(db, "gearbox") == 10
    finally:
        db.close()


def test_nested_blocks_are_plain_only_while_flat(db_path, company):
    db = open_db(db_path)
    try:
        with db.tx():
            with db.flat(), db.tx():
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


# --- contacts a batch creates are linked to their earlier mail once per batch ----------------------

NEW_CUSTOMERS = [f"buyer{i}@newco{i}.example" for i in range(12)]


def _world(path):
    """Sam has older mail from a dozen customers nobody knows yet; then contacts are made from mail."""
    import factories as f

    from pdmail.crm import team as user_changes

    db, maria = f.company(path)
    sam = f.user(db, "sam@northwind.example")
    older = [
        f.email(db, sam, frm=a, to=(sam.email,), subject=f"Question {i}", mid=f"old{i}")
        for i, a in enumerate(NEW_CUSTOMERS)
    ]
    user_changes.set_setting(db, maria, "create-contacts", "on")
    return db, maria, sam, older


def _new_mail(maria, sam):
    """Maria writes to every customer; then Sam replies in his first conversation."""
    import factories as f

    inputs = [
        Input(f"m{i}", raw=f.raw_message(frm=maria.email, to=(a,), subject=f"Offer {i}", mid=f"new{i}"))
        for i, a in enumerate(NEW_CUSTOMERS)
    ]
    inputs.append(
        Input(
            "reply",
            raw=f.raw_message(
                frm=sam.email, to=(NEW_CUSTOMERS[0],), subject="Re: Question 0", mid="reply0", in_reply_to="old0"
            ),
        )
    )
    return inputs


def _links_and_causes(db) -> dict:
    """Every email's contacts with who caused each link and whether it waits for its owner."""
    rows = db.all(
        "SELECT e.message_id, c.email, x.rule, x.caused_by, x.is_proposed FROM emails e "
        "LEFT JOIN email_contacts x ON x.email_id = e.id LEFT JOIN contact_emails c "
        "ON c.contact_id = x.contact_id ORDER BY e.message_id, c.email"
    )
    return [tuple(r) for r in rows]


def test_contacts_made_by_a_batch_link_their_earlier_mail_once(tmp_path, monkeypatch):
    from pdmail.linking import relink

    built = []

    class CountingRelinker(relink.Relinker):
        def __init__(self, *args, **kwargs):
            built.append(kwargs.get("actor"))
            super().__init__(*args, **kwargs)

    # One message at a time, as piped mail comes: each new contact links its earlier mail at once.
    alone, maria, sam, _ = _world(tmp_path / "alone.db")
    try:
        monkeypatch.setattr(relink, "Relinker", CountingRelinker)
        for item in _new_mail(maria, sam):
            assert ingest_module.ingest_bcc(alone, item.raw, label=item.label).status == "stored"
        assert len(built) == len(NEW_CUSTOMERS)
        expected = _links_and_causes(alone)
    finally:
        alone.close()

    built.clear()
    db, maria, sam, older = _world(tmp_path / "batch.db")
    try:
        outcomes = ingest_module.ingest_many(db, _new_mail(maria, sam), workers=0)
        assert [o.status for o in outcomes] == ["stored"] * (len(NEW_CUSTOMERS) + 1)
        assert count(db, "SELECT count(*) FROM contacts") == len(NEW_CUSTOMERS)
        # One re-link for the whole batch, on behalf of the user whose mail made the contacts.
        assert [actor.email for actor in built] == [maria.email]
        # And the same links as one message at a time: Sam's older mail is only proposed to him, and
        # his reply waits with the conversation it belongs to.
        assert _links_and_causes(db) == expected
        proposed = db.all("SELECT email_id FROM email_contacts WHERE is_proposed = 1 ORDER BY email_id")
        assert [r[0] for r in proposed][: len(older)] == older
    finally:
        db.close()


# --- the full-text index is written once per batch ------------------------------------------------


@pytest.mark.sqlite_only  # a property of SQLite's full-text index
def test_the_search_index_is_written_once_per_batch_not_once_per_message(company, db_path):
    """FTS5 keeps a batch's index in memory and writes it at the commit, unless a statement in the
    batch needs a savepoint of its own: then it writes out everything at once, every time."""
    db = open_db(db_path)
    segments = []
    db.conn.set_trace_callback(
        lambda sql: segments.append(sql) if sql.startswith("-- INSERT INTO") and "_idx" in sql else None
    )
    try:
        outcomes = ingest_module.ingest_many(db, [Input(f"m{i}", raw=mail(i)) for i in range(40)], workers=0)
        assert [o.status for o in outcomes] == ["stored"] * 40
    finally:
        db.conn.set_trace_callback(None)
        db.close()
    assert len(segments) < 5, f"{len(segments)} index segments written for one batch of 40 messages"


# --- a batch's facts are read for the whole batch ----------------------------------------------------


def _raw(mid: str, *, to: str = "ada@acme.example", subject: str = "Offer", body: str = "Hello", reply_to_mid=None):
    import factories as f

    return f.raw_message(
        frm="Maria Lopez <maria@northwind.example>",
        to=(to,),
        subject=subject,
        mid=mid,
        in_reply_to=reply_to_mid,
        body=body + "\r\n",
    )


def test_a_batch_decides_each_message_as_the_store_would_one_at_a_time(company, db_path):
    """Messages of one batch that depend on stored mail and on each other: read for the whole batch,
    the facts still see what the store holds and what the batch wrote before each message."""
    company.ok("contact", "add", "Ada Byron", "--email", "ada@acme.example")
    stored = _raw("s1", body="The first offer")
    db = open_db(db_path)
    try:
        before = ingest_module.ingest_bcc(db, stored, label="before")
        assert before.status == "stored"
        new_b = _raw("b1", subject="Belts", body="Belts offer")
        batch = [
            ("dup-of-stored", stored, "duplicate"),
            ("b", new_b, "stored"),
            ("b-again", new_b, "duplicate"),
            ("taken-id", _raw("s1", body="Other content, same Message-ID"), "stored"),
            ("reply-to-stored", _raw("r1", subject="Re: Offer", body="Thanks", reply_to_mid="s1"), "stored"),
            ("reply-to-b", _raw("r2", subject="Re: Belts", body="More belts", reply_to_mid="b1"), "stored"),
            ("new-customer", _raw("n1", to="zoe@newco.example", body="Hello Zoe"), "stored"),
            ("new-customer-again", _raw("n2", to="zoe@newco.example", body="Hello again Zoe"), "stored"),
        ]
        outcomes = ingest_module.ingest_many(db, [Input(label, raw=raw) for label, raw, _ in batch], workers=0)
        assert [(o.source, o.status) for o in outcomes] == [(label, status) for label, _, status in batch]
        by_label = {o.source: o for o in outcomes}
        assert any("differs in content" in w for w in by_label["taken-id"].warnings)

        def thread_of(email_id):
            return db.scalar("SELECT thread_id FROM emails WHERE id = ?", (email_id,))

        assert thread_of(by_label["reply-to-stored"].id) == thread_of(before.id)
        assert thread_of(by_label["reply-to-b"].id) == thread_of(by_label["b"].id)
        zoe = db.all("SELECT contact_id FROM contact_emails WHERE email = 'zoe@newco.example'")
        assert len(zoe) == 1  # made by the first message, found by the second
        linked = {r[0] for r in db.all("SELECT x.email_id FROM email_contacts x WHERE x.contact_id = ?", (zoe[0][0],))}
        assert {by_label["new-customer"].id, by_label["new-customer-again"].id} <= linked
    finally:
        db.close()


@pytest.mark.sqlite_only  # counted with SQLite's statement trace; PostgreSQL runs the same code
def test_a_batch_of_new_mail_asks_the_store_a_few_questions_not_a_few_per_message(company, db_path):
    import re

    db = open_db(db_path)
    asked: list[str] = []  # each statement as run, its values written back as markers
    db.conn.set_trace_callback(lambda sql: asked.append(re.sub(r"'[^']*'|\b\d+\b", "?", " ".join(sql.split()))))
    new_mail = [_raw(f"q{i}", to=f"buyer{i}@newco{i}.example", body=f"Offer {i}") for i in range(40)]
    try:
        outcomes = ingest_module.ingest_many(db, [Input(f"m{i}", raw=raw) for i, raw in enumerate(new_mail)], workers=0)
        assert [o.status for o in outcomes] == ["stored"] * 40
    finally:
        db.conn.set_trace_callback(None)
        db.close()

    def times(start: str) -> int:
        return sum(1 for sql in asked if sql.startswith(start))

    assert times("SELECT id FROM emails WHERE owner_id = ? AND fingerprint = ?") <= 1  # was one per message
    assert times("SELECT id FROM emails WHERE owner_id = ? AND message_id_norm = ?") <= 1
    assert times("SELECT e.email, c.id, c.name, c.org_id FROM contact_emails") <= 2


@pytest.mark.sqlite_only  # counted with SQLite's statement trace; PostgreSQL runs the same code
def test_a_reply_reads_its_thread_once_when_nothing_changed_it_since(company, db_path):
    """The thread a message joins is read with its facts; storing it reads it again only when the
    decision wrote to it first (threads folded together, new contacts' mail linked)."""
    first = _raw("t0", subject="Gearbox", body="The offer")
    replies = [_raw(f"t{i}", subject="Re: Gearbox", body=f"Reply {i}", reply_to_mid=f"t{i - 1}") for i in range(1, 11)]
    db = open_db(db_path)
    read: list[str] = []
    db.conn.set_trace_callback(
        lambda sql: read.append(sql) if sql.startswith("SELECT * FROM threads WHERE id") else None
    )
    try:
        outcomes = ingest_module.ingest_many(
            db, [Input(f"m{i}", raw=r) for i, r in enumerate([first, *replies])], workers=0
        )
        assert [o.status for o in outcomes] == ["stored"] * 11
        assert len({db.scalar("SELECT thread_id FROM emails WHERE id = ?", (o.id,)) for o in outcomes}) == 1
    finally:
        db.conn.set_trace_callback(None)
        db.close()
    assert len(read) <= 10, f"the thread was read {len(read)} times for 10 replies"
