"""The sharing law as a truth table, and its SQL form agreeing with the predicate on random data."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pdmail.core.models import User
from pdmail.store import migrations
from pdmail.store.db import Database
from pdmail.store.mailbox import InboxFilter, count_emails, facts, page_emails
from pdmail.visibility import EmailFacts, can_view, sql_condition, why

pytestmark = pytest.mark.both_engines

OWNER, OTHER = 1, 2

# One row per case of docs/spec.md ("The sharing law") and its rule 4: (visibility, contact link, deal link, may another user see it).
# A link is absent, counts ("linked"), or was proposed by another user's change and waits for the owner.
TRUTH = [
    ("shared", None, None, False),
    ("shared", "linked", None, True),
    ("shared", None, "linked", True),
    ("shared", "linked", "linked", True),
    ("shared", "proposed", None, False),
    ("shared", None, "proposed", False),
    ("shared", "proposed", "proposed", False),
    ("shared", "linked", "proposed", True),
    ("shared", "proposed", "linked", True),
    ("private", None, None, False),
    ("private", "linked", None, False),
    ("private", None, "linked", False),
    ("private", "linked", "linked", False),
    ("private", "proposed", None, False),
    ("private", None, "proposed", False),
    ("private", "proposed", "proposed", False),
    ("private", "linked", "proposed", False),
    ("private", "proposed", "linked", False),
]


def facts_of(owner, visibility, contact, deal) -> EmailFacts:
    return EmailFacts(
        owner, visibility, contact == "linked", deal == "linked", has_proposal="proposed" in (contact, deal)
    )


@pytest.mark.parametrize("visibility,contact,deal,others", TRUTH)
def test_truth_table(visibility, contact, deal, others):
    email = facts_of(OWNER, visibility, contact, deal)
    assert can_view(OWNER, email) is True
    assert can_view(OTHER, email) is others
    assert why(OWNER, email).startswith("owner")
    assert ("private" in why(OTHER, email)) == (visibility == "private")
    assert ("not accepted" in why(OTHER, email)) == (
        visibility == "shared" and not others and "proposed" in (contact, deal)
    )


@pytest.mark.parametrize("visibility,contact,deal,others", TRUTH)
def test_truth_table_in_sql(visibility, contact, deal, others):
    """The same rows through the SQL condition and the store's facts."""
    contacts = [] if contact is None else [(1, contact == "proposed")]
    db = make_db([(OWNER, visibility, deal, contacts, "inbox")])
    try:
        for viewer, expected in ((OWNER, True), (OTHER, others)):
            found = db.all(f"SELECT e.id FROM emails e WHERE {sql_condition('e')}", {"viewer": viewer})
            assert bool(found) is expected
        assert facts(db, 1) == facts_of(OWNER, visibility, contact, deal)
    finally:
        db.close()


# An organization link (by a customer address's domain, or by hand) counts for rule 2 as a contact link
# does, and waits for the owner as one does when another user's change proposed it:
# (visibility, contact link, deal link, organization link, may another user see it).
ORG_TRUTH = [
    ("shared", None, None, "linked", True),
    ("shared", None, None, "proposed", False),
    ("shared", "proposed", "proposed", "linked", True),
    ("shared", "linked", None, "proposed", True),
    ("shared", "proposed", None, "proposed", False),
    ("private", None, None, "linked", False),
    ("private", None, None, "proposed", False),
    ("private", "linked", "linked", "linked", False),
]


def org_facts_of(owner, visibility, contact, deal, org) -> EmailFacts:
    return EmailFacts(
        owner,
        visibility,
        contact == "linked",
        deal == "linked",
        has_proposal="proposed" in (contact, deal, org),
        has_org=org == "linked",
    )


@pytest.mark.parametrize("visibility,contact,deal,org,others", ORG_TRUTH)
def test_an_organization_link_counts_as_a_link(visibility, contact, deal, org, others):
    email = org_facts_of(OWNER, visibility, contact, deal, org)
    assert can_view(OWNER, email) is True
    assert can_view(OTHER, email) is others
    assert ("an organization" in why(OTHER, email)) == (others and org == "linked")
    contacts = [] if contact is None else [(1, contact == "proposed")]
    db = make_db([(OWNER, visibility, deal, contacts, "inbox", [(1, org == "proposed")])])
    try:
        for viewer, expected in ((OWNER, True), (OTHER, others)):
            found = db.all(f"SELECT e.id FROM emails e WHERE {sql_condition('e')}", {"viewer": viewer})
            assert bool(found) is expected
        assert facts(db, 1) == org_facts_of(OWNER, visibility, contact, deal, org)
    finally:
        db.close()


def test_the_law_does_not_know_about_admins():
    """Admins are no exception: nothing in the predicate or the SQL can ask whether one is."""
    assert "admin" not in sql_condition("e")
    assert can_view.__code__.co_argcount == 2


# --- the SQL and the predicate agree -------------------------------------------------------------

emails_strategy = st.lists(
    st.tuples(
        st.integers(1, 4),  # owner
        st.sampled_from(["shared", "private"]),  # visibility
        st.sampled_from([None, "linked", "proposed"]),  # deal
        st.lists(
            st.tuples(st.integers(1, 3), st.booleans()), max_size=3, unique_by=lambda c: c[0]
        ),  # contacts: (id, proposed)
        st.sampled_from(["inbox", "sent", "archive", "trash"]),
        st.lists(
            st.tuples(st.integers(1, 2), st.booleans()), max_size=2, unique_by=lambda o: o[0]
        ),  # organizations: (id, proposed)
    ),
    max_size=25,
)


def make_db(rows) -> Database:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.row_factory = sqlite3.Row
    migrations.migrate(conn)
    conn.execute("PRAGMA foreign_keys=OFF")
    for user in range(1, 5):
        conn.execute(
            "INSERT INTO users (id, email, name, is_admin, created_utc) VALUES (?, ?, ?, ?, 'x')",
            (user, f"u{user}@example.com", f"U{user}", int(user % 2 == 1)),
        )
    for contact in range(1, 4):
        conn.execute("INSERT INTO contacts (id, name, created_utc) VALUES (?, 'c', 'x')", (contact,))
    conn.execute("INSERT INTO deals (id, title, status, created_utc, updated_utc) VALUES (1, 'd', 'open', 'x', 'x')")
    for org in (1, 2):
        conn.execute("INSERT INTO orgs (id, name, created_utc) VALUES (?, 'o', 'x')", (org,))
    for n, (owner, visibility, deal, contacts, folder, *more) in enumerate(rows, start=1):
        orgs = more[0] if more else []
        conn.execute(
            "INSERT INTO threads (id, owner_id, visibility, created_utc) VALUES (?, ?, ?, 'x')", (n, owner, visibility)
        )
        conn.execute(
            "INSERT INTO emails (id, owner_id, thread_id, fingerprint, raw_sha256, direction, source, date_utc, "
            "visibility, deal_id, is_deal_proposed, deal_caused_by, folder, captured_utc) "
            "VALUES (?, ?, ?, ?, 'r', 'incoming', 'bcc', ?, ?, ?, ?, ?, ?, 'x')",
            (
                n,
                owner,
                n,
                f"f{n}",
                f"2026-01-{1 + n % 28:02d}T00:00:00Z",
                visibility,
                1 if deal else None,
                int(deal == "proposed"),
                1 + owner % 4 if deal == "proposed" else None,
                folder,
            ),
        )
        for c, proposed in contacts:
            conn.execute(
                "INSERT INTO email_contacts (email_id, contact_id, rule, is_proposed, caused_by) "
                "VALUES (?, ?, 'address', ?, ?)",
                (n, c, int(proposed), 1 + owner % 4 if proposed else None),
            )
        for o, proposed in orgs:
            conn.execute(
                "INSERT INTO email_orgs (email_id, org_id, rule, is_proposed, caused_by) VALUES (?, ?, 'org-domain', ?, ?)",
                (n, o, int(proposed), 1 + owner % 4 if proposed else None),
            )
    return Database(conn, ":memory:")


@settings(max_examples=150, deadline=None)
@given(emails_strategy)
def test_sql_condition_agrees_with_can_view(rows):
    db = make_db(rows)
    try:
        for viewer in range(1, 5):
            in_sql = {r[0] for r in db.all(f"SELECT e.id FROM emails e WHERE {sql_condition('e')}", {"viewer": viewer})}
            by_rule = {
                n
                for n, (owner, visibility, deal, contacts, _, orgs) in enumerate(rows, start=1)
                if can_view(
                    viewer,
                    EmailFacts(
                        owner,
                        visibility,
                        any(not p for _, p in contacts),
                        deal == "linked",
                        has_org=any(not p for _, p in orgs),
                    ),
                )
            }
            assert in_sql == by_rule
            # the store's own facts give the same answer as the rows they came from
            assert {n for n in range(1, len(rows) + 1) if can_view(viewer, facts(db, n))} == by_rule
            # and every read built on the condition: pages and counts over all folders
            user = User(viewer, f"u{viewer}@example.com", f"U{viewer}", viewer % 2 == 1)
            f = InboxFilter(folder="all", team=True, limit=100)
            assert {e["id"] for e in page_emails(db, user, f).emails} == by_rule
            assert count_emails(db, user, f) == len(by_rule)
    finally:
        db.close()
