"""``emails.has_link``: whether an email has a contact or organization link that counts, as the
sharing law reads it.

The database keeps it right itself, whoever changes the links: checked here against the links of
both tables after every kind of change, on both engines, and against the store's own writes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

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
    with db.tx():
        orgs = [db.insert("INSERT INTO orgs (name, created_utc) VALUES (?, 'x')", (f"Org {n}",)) for n in range(3)]
    emails = [factories.email(db, maria, frm=f"Maria <{maria.email}>", to=[f"x{n}@other.example"]) for n in range(5)]
    yield World(db, maria, sam, contacts, orgs, emails)
    db.close()


@dataclass
class World:
    db: object
    maria: object
    sam: object
    contacts: list[int]
    orgs: list[int]
    emails: list[int]


# The link tables, each with the column that names what it links to.
LINK_TABLES = (("email_contacts", "contact_id"), ("email_orgs", "org_id"))


def mismatches(db) -> list[int]:
    """Emails whose flag disagrees with their links."""
    rows = db.all(
        "SELECT id FROM emails e WHERE has_link != CASE WHEN EXISTS (SELECT 1 FROM email_contacts c "
        "WHERE c.email_id = e.id AND c.is_proposed = 0) OR EXISTS (SELECT 1 FROM email_orgs o "
        "WHERE o.email_id = e.id AND o.is_proposed = 0) THEN 1 ELSE 0 END"
    )
    return [r[0] for r in rows]


def test_every_change_of_the_links_keeps_the_flag_right(world):
    db, emails = world.db, world.emails
    rng = random.Random(15)
    for step in range(200):
        table, key = rng.choice(LINK_TABLES)
        email_id = rng.choice(emails)
        target = rng.choice(world.contacts if table == "email_contacts" else world.orgs)
        with db.tx():
            kind = rng.randrange(5)
            if kind == 0:
                db.execute(
                    f"INSERT INTO {table} (email_id, {key}, rule, is_proposed) VALUES (?, ?, 'address', ?) "
                    "ON CONFLICT DO NOTHING",
                    (email_id, target, rng.randrange(2)),
                )
            elif kind == 1:
                db.execute(
                    f"UPDATE {table} SET is_proposed = 1 - is_proposed WHERE email_id = ? AND {key} = ?",
                    (email_id, target),
                )
            elif kind == 2:
                db.execute(f"DELETE FROM {table} WHERE email_id = ? AND {key} = ?", (email_id, target))
            elif kind == 3:  # a link moved to another email
                db.execute(
                    f"UPDATE {table} SET email_id = ? WHERE email_id = ? AND {key} = ? AND NOT EXISTS "
                    f"(SELECT 1 FROM {table} o WHERE o.email_id = ? AND o.{key} = ?)",
                    (rng.choice(emails), email_id, target, email_id, target),
                )
            else:  # every link to one contact or organization goes, as when it is deleted
                db.execute(f"DELETE FROM {table} WHERE {key} = ?", (target,))
        assert mismatches(db) == [], step
    assert db.scalar("SELECT count(*) FROM emails WHERE has_link = 1")  # the walk did set some
    for table, _ in LINK_TABLES:  # and both kinds of link took part
        assert db.scalar(f"SELECT count(*) FROM {table}")


def test_a_counted_link_of_either_kind_keeps_the_flag_while_the_other_goes(world):
    db, email_id = world.db, world.emails[0]
    flag = "SELECT has_link FROM emails WHERE id = ?"
    with db.tx():
        db.execute(
            "INSERT INTO email_contacts (email_id, contact_id, rule) VALUES (?, ?, 'address')",
            (email_id, world.contacts[0]),
        )
        db.execute("INSERT INTO email_orgs (email_id, org_id, rule) VALUES (?, ?, 'domain')", (email_id, world.orgs[0]))
    with db.tx():
        db.execute("DELETE FROM email_contacts WHERE email_id = ?", (email_id,))
    assert db.scalar(flag, (email_id,)) == 1  # the organization's link still counts
    with db.tx():
        db.execute("UPDATE email_orgs SET is_proposed = 1 WHERE email_id = ?", (email_id,))
    assert db.scalar(flag, (email_id,)) == 0  # a proposal counts for nothing
    with db.tx():
        db.execute("UPDATE email_orgs SET is_proposed = 0 WHERE email_id = ?", (email_id,))
    assert db.scalar(flag, (email_id,)) == 1


def test_the_law_reads_the_flag_as_it_read_the_links(world):
    db, maria, sam, contacts, emails = world.db, world.maria, world.sam, world.contacts, world.emails
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
    with db.tx():  # an organization's link counts as a contact's does, once it is not a proposal
        db.execute(
            "INSERT INTO email_orgs (email_id, org_id, rule) VALUES (?, ?, 'domain')", (emails[2], world.orgs[0])
        )
        db.execute(
            "INSERT INTO email_orgs (email_id, org_id, rule, is_proposed) VALUES (?, ?, 'domain', 1)",
            (emails[3], world.orgs[0]),
        )
    assert count_emails(db, sam, team) == 2
    assert [e for e in emails if can_view(sam.id, facts(db, e))] == [emails[1], emails[2]]
    assert count_emails(db, maria, team) == 5


def without_the_triggers(db) -> None:
    """The database's own upkeep of the flag switched off: what is left is what the writer wrote."""
    with db.tx():
        if db.engine == "postgres":
            for table, _ in LINK_TABLES:
                db.execute(f"ALTER TABLE {table} DISABLE TRIGGER pdmail_keep_has_link")
        else:
            for table, _ in LINK_TABLES:
                for change in ("added", "removed", "changed"):
                    db.execute(f"DROP TRIGGER {table}_counted_{change}")


RELINK = {
    "deal_id": None,
    "deal_rule": None,
    "deal_cause": None,
    "is_deal_manual": False,
    "needs_deal": False,
    "is_automated": False,
    "verdict": None,
    "trace_json": "[]",
}


@pytest.mark.parametrize("triggers", ("with the triggers", "without them"))
def test_relinking_writes_the_links_and_the_flag_together(world, triggers):
    db, sam, contacts = world.db, world.sam, world.contacts
    email_id = world.emails[0]
    if triggers == "without them":
        without_the_triggers(db)
    proposal = LinkCause(sam.id, "2026-11-02T09:00:00Z", True)

    def write(pairs, *, manual=False):
        rows = [(cid, f"c{cid}@acme.example", "address", "because", cause) for cid, cause in pairs]
        with db.tx():
            links_store.write_email_links(db, email_id, contacts=rows, contacts_manual=manual, **RELINK)

    def stored():
        rows = db.all(
            "SELECT contact_id, is_manual, is_proposed FROM email_contacts WHERE email_id = ? ORDER BY contact_id",
            (email_id,),
        )
        return [tuple(r) for r in rows], db.scalar("SELECT has_link FROM emails WHERE id = ?", (email_id,))

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


@pytest.mark.parametrize("triggers", ("with the triggers", "without them"))
def test_relinking_writes_organization_links_and_the_flag_together(world, triggers):
    """The same for organizations, and for both kinds at once: one kind's link that counts keeps the
    flag while the other's goes or becomes a proposal."""
    db, sam, contacts, orgs = world.db, world.sam, world.contacts, world.orgs
    email_id = world.emails[1]
    if triggers == "without them":
        without_the_triggers(db)
    proposal = LinkCause(sam.id, "2026-11-02T09:00:00Z", True)

    def write(org_pairs, contact_pairs=(), *, manual=False, contacts_manual=False):
        org_rows = [(oid, f"x@org{oid}.example", "domain", "because", cause) for oid, cause in org_pairs]
        contact_rows = [(cid, f"c{cid}@acme.example", "address", "because", cause) for cid, cause in contact_pairs]
        with db.tx():
            links_store.write_email_links(
                db,
                email_id,
                contacts=contact_rows,
                contacts_manual=contacts_manual,
                orgs=org_rows,
                orgs_manual=manual,
                **RELINK,
            )

    def stored():
        rows = db.all(
            "SELECT org_id, is_manual, is_proposed FROM email_orgs WHERE email_id = ? ORDER BY org_id", (email_id,)
        )
        return [tuple(r) for r in rows], db.scalar("SELECT has_link FROM emails WHERE id = ?", (email_id,))

    write([(orgs[0], None), (orgs[1], proposal)])
    assert stored() == ([(orgs[0], 0, 0), (orgs[1], 0, 1)], 1)
    write([(orgs[1], proposal)])  # the link that counted goes: only a proposal is left
    assert stored() == ([(orgs[1], 0, 1)], 0)
    write([(orgs[2], None)], manual=True)  # chosen by hand: the other kind stays
    assert stored() == ([(orgs[1], 0, 1), (orgs[2], 1, 0)], 1)
    write([(orgs[2], None)])  # an organization chosen by hand keeps its hand-made row
    assert stored() == ([(orgs[2], 1, 0)], 1)
    write([(orgs[0], proposal)], manual=True)
    write([(orgs[0], None)])  # a counted new link whose organization has a hand-made row is not written
    assert stored() == ([(orgs[0], 1, 1)], 0)
    write([(orgs[0], proposal)], [(contacts[0], None)], manual=True)  # a contact's link counts
    assert stored() == ([(orgs[0], 1, 1)], 1)
    write([(orgs[1], None)], manual=True)  # the contact's link goes as an organization's comes
    assert stored() == ([(orgs[1], 1, 0)], 1)
    write([], [(contacts[0], proposal)], manual=True)
    assert stored() == ([], 0)
    assert mismatches(db) == []


@pytest.mark.parametrize("triggers", ("with the triggers", "without them"))
def test_capture_writes_the_flag_with_the_email(world, triggers):
    db, maria = world.db, world.maria
    if triggers == "without them":
        without_the_triggers(db)
    with db.tx():
        db.execute(
            "INSERT INTO org_domains (domain, org_id, created_utc) VALUES ('globex.example', ?, 'x')", (world.orgs[0],)
        )
    sent = {"frm": f"Maria <{maria.email}>"}
    to_contact = factories.email(db, maria, to=["c0@acme.example"], subject="to a contact", **sent)
    to_org = factories.email(db, maria, to=["buyer@globex.example"], subject="to an organization", **sent)
    alone = factories.email(db, maria, to=["x@nowhere.example"], subject="to nobody known", **sent)
    flags = {
        r[0]: r[1] for r in db.all("SELECT id, has_link FROM emails WHERE id IN (?, ?, ?)", (to_contact, to_org, alone))
    }
    assert flags == {to_contact: 1, to_org: 1, alone: 0}
    assert db.scalar("SELECT count(*) FROM email_orgs WHERE email_id = ?", (to_org,)) == 1
    assert db.scalar("SELECT count(*) FROM email_contacts WHERE email_id = ?", (to_org,)) == 0
    assert mismatches(db) == []
