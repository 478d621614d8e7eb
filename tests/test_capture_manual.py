"""Capture respects what the user decided by hand: split threads stay apart, "no deal" stays no deal."""

from __future__ import annotations

import factories as f
import pytest

from pdmail.linking import manual as manual_links
from pdmail.linking.manual import LinkRequest

pytestmark = pytest.mark.both_engines

ME = "maria@northwind.example"
JANE = "jane@cust.example"


@pytest.fixture
def world(tmp_path):
    db, maria = f.company(tmp_path / "pdmail.db")
    jane = f.contact(db, "Jane Doe", JANE)
    yield db, maria, jane
    db.close()


def thread_of(db, email_id):
    return db.scalar("SELECT thread_id FROM emails WHERE id = ?", (email_id,))


def conversation(db, maria):
    """root ← a (reply to root) ← b (reply to a); a is the one that got joined by mistake."""
    root = f.email(db, maria, frm=JANE, to=(ME,), mid="root", subject="Quote")
    a = f.email(
        db,
        maria,
        frm=f"Maria <{ME}>",
        to=(JANE,),
        mid="a",
        in_reply_to="root",
        references=("root",),
        subject="Re: Quote",
    )
    b = f.email(db, maria, frm=JANE, to=(ME,), mid="b", in_reply_to="a", references=("root", "a"), subject="Re: Quote")
    return root, a, b


def test_reply_to_a_split_message_follows_it_and_does_not_merge_back(world):
    db, maria, _ = world
    root, a, b = conversation(db, maria)
    manual_links.apply(db, maria, a, LinkRequest(split=True))
    old, new = thread_of(db, root), thread_of(db, a)
    assert old != new and thread_of(db, b) == new

    # names both threads (References: root, a, b): follows b, its nearest parent
    c = f.email(
        db,
        maria,
        frm=f"Maria <{ME}>",
        to=(JANE,),
        mid="c",
        in_reply_to="b",
        references=("root", "a", "b"),
        subject="Re: Quote",
    )
    # a reply to the root only stays in the old thread
    d = f.email(db, maria, frm=JANE, to=(ME,), mid="d", in_reply_to="root", references=("root",), subject="Re: Quote")

    assert thread_of(db, c) == new and thread_of(db, d) == old
    assert thread_of(db, root) == old and thread_of(db, a) == new  # nothing merged


def test_reply_naming_only_the_root_but_in_reply_to_the_split_message(world):
    db, maria, _ = world
    root, a, _ = conversation(db, maria)
    manual_links.apply(db, maria, a, LinkRequest(split=True))
    e = f.email(db, maria, frm=JANE, to=(ME,), mid="e", in_reply_to="a", references=("root",), subject="Re: Quote")
    assert thread_of(db, e) == thread_of(db, a) != thread_of(db, root)


def test_threads_that_were_never_split_still_merge(world):
    db, maria, _ = world
    late_child = f.email(db, maria, frm=JANE, to=(ME,), mid="k2", in_reply_to="k1", subject="Re: Other")
    other = f.email(db, maria, frm=JANE, to=(ME,), mid="x9", subject="Other")
    joiner = f.email(
        db, maria, frm=JANE, to=(ME,), mid="k3", in_reply_to="k2", references=("x9", "k2"), subject="Re: Other"
    )
    assert thread_of(db, late_child) == thread_of(db, other) == thread_of(db, joiner)


def test_subject_fallback_does_not_merge_split_threads(world):
    db, maria, _ = world
    root, a, _ = conversation(db, maria)
    manual_links.apply(db, maria, a, LinkRequest(split=True))
    bare = f.email(db, maria, frm=JANE, to=(ME,), mid="bare", subject="RE: Quote")  # no ids: the fallback
    assert thread_of(db, bare) in (thread_of(db, root), thread_of(db, a))
    assert thread_of(db, root) != thread_of(db, a)


def test_split_takes_the_email_off_a_manual_deal(world):
    db, maria, jane = world
    f.deal(db, "Rollout", jane.id)
    d2 = f.deal(db, "Pilot", jane.id)
    root, a, b = conversation(db, maria)
    manual_links.set_deal(db, maria, root, d2.id)
    manual_links.apply(db, maria, a, LinkRequest(split=True))
    assert f.links(db, root)["deal"] == d2.id
    moved = f.links(db, a)
    # both deals are open: the split-off thread asks for a choice again
    assert moved["deal"] is None and moved["needs_deal"] and not moved["manual"]
    assert f.links(db, b)["needs_deal"]


def test_no_deal_by_hand_is_seen_by_capture(world):
    db, maria, jane = world
    f.deal(db, "Rollout", jane.id)
    first = f.email(db, maria, frm=JANE, to=(ME,), mid="p1", subject="Private matter")
    assert f.links(db, first)["deal"] is not None
    manual_links.set_deal(db, maria, first, None)
    assert f.links(db, first)["deal"] is None

    reply = f.email(db, maria, frm=JANE, to=(ME,), mid="p2", in_reply_to="p1", subject="Re: Private matter")
    got = f.links(db, reply)
    assert got["deal"] is None and not got["needs_deal"]
    assert got["deal_rule"] == "thread-no-deal-manual" and got["manual"]


def test_manual_deal_is_marked_on_new_mail(world):
    db, maria, jane = world
    d1 = f.deal(db, "Rollout", jane.id)
    first = f.email(db, maria, frm=JANE, to=(ME,), mid="m1", subject="Order")
    manual_links.set_deal(db, maria, first, d1.id)
    reply = f.email(db, maria, frm=JANE, to=(ME,), mid="m2", in_reply_to="m1", subject="Re: Order")
    got = f.links(db, reply)
    assert got["deal"] == d1.id and got["manual"] and got["deal_rule"] == "thread-deal-manual"
