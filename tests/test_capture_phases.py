"""Capture reads, then decides, then writes: reading the facts of a message changes nothing, and what
the decision says to write first (threads to fold together, another user's new contacts to link)
is written by the save phase, for stored mail only."""

from __future__ import annotations

import factories as f
import pytest

from pdmail.capture import decision as rules
from pdmail.capture import save as capture
from pdmail.mime.parse import parse_message
from pdmail.store import emails as store
from pdmail.store import users as users_store
from pdmail.store.company import Company

ME = "maria@northwind.example"
SAM = "sam@northwind.example"
JANE = "jane@cust.example"
KEN = "ken@cust.example"


@pytest.fixture
def world(tmp_path):
    db, maria = f.company(tmp_path / "pdmail.db")
    sam = f.user(db, SAM)
    yield db, maria, sam
    db.close()


def thread_of(db, email_id):
    return db.scalar("SELECT thread_id FROM emails WHERE id = ?", (email_id,))


def test_reading_the_facts_writes_nothing(world):
    """Two threads its References name, and a contact Sam's mail made in this batch that it names:
    the facts say so, and the database is as it was."""
    db, maria, sam = world
    a = f.email(db, maria, frm=JANE, to=(ME,), mid="a1", subject="Quote")
    b = f.email(db, maria, frm=JANE, to=(ME,), mid="b1", subject="Other quote")
    f.email(db, maria, frm=KEN, to=(ME,), mid="k1", subject="Hello")  # before Ken was a contact
    f.contact(db, "Ken", KEN, relink=False)  # made by Sam's mail in this batch, earlier mail not linked yet
    batch = capture.NewContacts()
    batch.add(sam, KEN)
    raw = f.raw_message(frm=KEN, to=(ME,), mid="c1", references=("a1", "b1"), subject="Re: Quote")
    parsed = parse_message(raw)
    origin = capture.Origin(source="sync")

    with db.tx():
        before = db.conn.total_changes
        facts = capture._identity_facts(db, maria, parsed, origin, capture.Derived.of(parsed).fingerprint)
        facts, _ = capture._read_facts(db, maria, parsed, origin, Company.load(db), facts, None, batch)
        assert db.conn.total_changes == before

    assert facts.thread.id == thread_of(db, a) and [t.id for t in facts.joins] == [thread_of(db, b)]
    assert facts.others_new_contacts == {KEN}
    decided = rules.decide(facts)
    assert decided.join_threads == (thread_of(db, b),) and decided.link_new_contacts_first


def test_a_skipped_message_folds_no_threads_together(world):
    """A message nobody keeps (every sender blocked) leaves no trace: the conversations it names stay apart."""
    db, maria, _ = world
    a = f.email(db, maria, frm=JANE, to=(ME,), mid="a1", subject="Quote")
    b = f.email(db, maria, frm=JANE, to=(ME,), mid="b1", subject="Other quote")
    users_store.add_block(db, "@spam.example")
    skipped = f.email(db, maria, frm="x@spam.example", to=(ME,), mid="s1", references=("a1", "b1"), subject="Re: Quote")
    assert skipped is None
    assert thread_of(db, a) != thread_of(db, b)

    joined = f.email(db, maria, frm=JANE, to=(ME,), mid="c1", references=("a1", "b1"), subject="Re: Quote")
    assert thread_of(db, a) == thread_of(db, b) == thread_of(db, joined)


DEALS = [(None, False), (None, True), ("first", False), ("first", True), ("second", False), ("second", True)]


@pytest.mark.parametrize("target", DEALS, ids=lambda d: f"{d[0]}{'-manual' if d[1] else ''}")
@pytest.mark.parametrize("other", DEALS, ids=lambda d: f"{d[0]}{'-manual' if d[1] else ''}")
def test_the_decided_fold_is_the_one_the_store_writes(world, target, other):
    """The decision folds threads by the rule the store applies when it merges them: the thread the
    message is linked against is the one that is written."""
    db, maria, _ = world
    jane = f.contact(db, "Jane", JANE)
    deals = {"first": f.deal(db, "First", jane.id).id, "second": f.deal(db, "Second", jane.id).id, None: None}
    ids = []
    for n, (deal, manual) in enumerate((target, other)):
        email_id = f.email(db, maria, frm=JANE, to=(ME,), mid=f"t{n}", subject=f"Thread {n}")
        ids.append(thread_of(db, email_id))
        with db.tx():
            db.execute(
                "UPDATE threads SET deal_id = ?, deal_rule = ?, is_deal_manual = ? WHERE id = ?",
                (deals[deal], "test" if deal or manual else None, int(manual), ids[-1]),
            )
    facts = rules.CaptureFacts(
        source="sync",
        message_id=None,
        thread=capture._thread_facts(db, ids[0]),
        joins=(capture._thread_facts(db, ids[1]),),
    )

    decided, joined = rules.joined_thread(facts)
    with db.tx():
        store.merge_threads(db, ids[0], joined)
    assert joined == (ids[1],)
    assert decided == capture._thread_facts(db, ids[0])


@pytest.mark.parametrize(("stored", "visibility"), [("shared", "shared"), ("private", "private"), ("", "private")])
def test_a_default_visibility_setting_it_cannot_read_keeps_mail_private(stored, visibility):
    from pdmail.core.settings import visibility_of_setting

    assert visibility_of_setting(stored) == visibility


def test_only_mail_joining_a_thread_looks_for_proposals_to_follow(world, monkeypatch):
    """A thread made for the message holds no proposal: capture does not ask (one query per message saved)."""
    from pdmail.linking import relink

    db, maria, _ = world
    asked = []
    real = relink.after_capture
    monkeypatch.setattr(
        relink,
        "after_capture",
        lambda db_, thread_id, email_id: asked.append(email_id) or real(db_, thread_id, email_id),
    )
    first = f.email(db, maria, frm=JANE, to=(ME,), mid="q1", subject="Quote")
    assert asked == []
    reply = f.email(db, maria, frm=JANE, to=(ME,), mid="q2", in_reply_to="q1", subject="Re: Quote")
    assert asked == [reply] and thread_of(db, reply) == thread_of(db, first)
