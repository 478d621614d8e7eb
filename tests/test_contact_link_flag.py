"""``emails.has_contact``: whether an email has a contact link that counts, as the sharing law reads it.

The database keeps it right itself, whoever changes the links: checked here against the links
after every kind of change, on both engines, and against the store's own writes.
"""

from __future__ import annotations

import random

import factories
import pytest

from pdmail.core.models import LinkCause
from pdmail.store import links as links_store
from pdmail.store.mailbox import InboxFilter, count_emails, facts
from pdmail.visibility import can_view

pytestmark = pytest.mark.both_engines

JANE, BOB = "jane@acme.example", "bob@acme.example"


@pytest.fixture
def world(db_path):
    db, maria = factories.company(db_path)
    sam = factories.user(db, "sam@northwind.example")
    contacts = [factories.contact(db, f"Customer {n}", f"c{n}@acme.example", relink=False).id for n in range(4)]
    emails = [factories.email(db, maria, frm=f"Maria <{maria.email}>", to=[f"x{n}@other.example"]) for n in range(5)]
    yield db, maria, sam, contacts, emails
    db.close()


def mismatches(db) -> list[int]:
    """Emails whose flag disagrees with their links."""
    rows = db.all(
        "SELECT id FROM emails e WHERE has_contact != CASE WHEN EXISTS (SELECT 1 FROM email_contacts c "
        "WHERE c.email_id = e.id AND c.is_proposed = 0) THEN 1 ELSE 0 END"
    )
    return [r[0] for r in rows]


def test_every_change_of_the_links_keeps_the_flag_right(world):
    db, _maria, _sam, contacts, emails = world
    rng = random.Random(15)
    for step in range(120):
        email_id, contact_id = rng.choice(emails), rng.choice(contacts)
        with db.tx():
            kind = rng.randrange(5)
            if kind == 0:
                db.execute(
                    "INSERT INTO email_contacts (email_id, contact_id, rule, is_proposed) VALUES (?, ?, 'address', ?) "
                    "ON CONFLICT DO NOTHING",
                    (email_id, contact_id, rng.randrange(2)),
                )
            elif kind == 1:
                db.execute(
                    "UPDATE email_contacts SET is_proposed = 1 - is_proposed WHERE email_id = ? AND contact_id = ?",
                    (email_id, contact_id),
                )
            elif kind == 2:
                db.execute("DELETE FROM email_contacts WHERE email_id = ? AND contact_id = ?", (email_id, contact_id))
            elif kind == 3:  # a link moved to another email
                db.execute(
                    "UPDATE email_contacts SET email_id = ? WHERE email_id = ? AND contact_id = ? AND NOT EXISTS "
                    "(SELECT 1 FROM email_contacts o WHERE o.email_id = ? AND o.contact_id = ?)",
                    (rng.choice(emails), email_id, contact_id, email_id, contact_id),
                )
            else:  # every link of one contact goes, as when the contact is deleted
                db.execute("DELETE FROM email_contacts WHERE contact_id = ?", (contact_id,))
        assert mismatches(db) == [], step
    assert db.scalar("SELECT count(*) FROM emails WHERE has_contact = 1")  # the walk did set some


def test_the_law_reads_the_flag_as_it_read_the_links(world):
    db, maria, sam, contacts, emails = world
    with db.tx():
        db.execute("UPDATE emails SET visibility = 'shared'")
        db.execute(
            "INSERT INTO email_contacts (email_id, contact_id, rule) VALUES (?, ?, 'address')", (emails[0], contacts[0])
        )
        db.execute(
            "INSERT INTO email_contacts (email_id, contact_id, rule, is_proposed) VALUES (?, ?, 'address', 1)",
            (emails[1], contacts[0]),
        )
    team = InboxFilter(folder="all", team=True)
    assert count_emails(db, sam, team) == 1  # only the email whose link counts
    assert [e for e in emails if can_view(sam.id, facts(db, e))] == [emails[0]]
    with db.tx():
        db.execute("UPDATE email_contacts SET is_proposed = 0 WHERE email_id = ?", (emails[1],))  # accepted
    assert count_emails(db, sam, team) == 2
    with db.tx():
        db.execute("DELETE FROM email_contacts WHERE email_id = ?", (emails[0],))
    assert count_emails(db, sam, team) == 1
    assert count_emails(db, maria, team) == 5


def test_relinking_writes_the_links_and_the_flag_together(world):
    db, _maria, sam, contacts, emails = world
    email_id = emails[0]
    kw = {
        "deal_id": None,
        "deal_rule": None,
        "deal_cause": None,
        "is_deal_manual": False,
        "needs_deal": False,
        "is_automated": False,
        "verdict": None,
        "trace_json": "[]",
    }
    proposal = LinkCause(sam.id, "2026-11-02T09:00:00Z", True)

    def write(pairs, *, manual=False):
        rows = [(cid, f"c{cid}@acme.example", "address", "because", cause) for cid, cause in pairs]
        with db.tx():
            links_store.write_email_links(db, email_id, contacts=rows, contacts_manual=manual, **kw)

    def stored():
        rows = db.all(
            "SELECT contact_id, is_manual, is_proposed FROM email_contacts WHERE email_id = ? ORDER BY contact_id",
            (email_id,),
        )
        return [tuple(r) for r in rows], db.scalar("SELECT has_contact FROM emails WHERE id = ?", (email_id,))

    write([(contacts[0], None), (contacts[1], proposal)])
    assert stored() == ([(contacts[0], 0, 0), (contacts[1], 0, 1)], 1)
    write([(contacts[1], proposal)])  # the link that counted goes: only a proposal is left
    assert stored() == ([(contacts[1], 0, 1)], 0)
    write([(contacts[2], None)], manual=True)  # chosen by hand: the other kind stays
    assert stored() == ([(contacts[1], 0, 1), (contacts[2], 1, 0)], 1)
    write([(contacts[2], None)])  # a contact the owner chose by hand keeps its hand-made row...
    assert stored() == ([(contacts[2], 1, 0)], 1)
    write([(contacts[2], None)], manual=True)
    write([(contacts[3], proposal)], manual=True)  # ...and the hand-made choice may become a proposal
    assert stored() == ([(contacts[3], 1, 1)], 0)
    write([(contacts[3], None)])  # a counted new link whose contact has a hand-made row is not written
    assert stored() == ([(contacts[3], 1, 1)], 0)
    write([])
    write([], manual=True)
    assert stored() == ([], 0)
    assert mismatches(db) == []
