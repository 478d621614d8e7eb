"""Contacts, deals, organizations and users named as a person names them: by id, or by address,
title or name.

A number is always an id, and an id that does not exist is "not found" (exit 4), never an empty
list. Otherwise the text is an address (contacts and users), a domain (organizations), or a name or
title, exactly as written or else with letters' case aside. A name that several records share is
an error that lists them (exit 2): pdmail never picks one for you.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pdmail.core.addresses import normalize_address
from pdmail.core.domains import normalize_domain
from pdmail.core.errors import UsageError, not_found
from pdmail.store.db import Database

SHOWN_CANDIDATES = 10  # an ambiguous name lists this many of the records it could mean


def as_id(text: str) -> int | None:
    """The id ``text`` gives (``12`` or ``#12``), or None when it is a name."""
    value = text.strip().removeprefix("#")
    return int(value) if value.isdigit() else None


def contact_id(db: Database, text: str) -> int:
    """The contact with this id, address (any of theirs) or name."""
    number = as_id(text)
    if number is not None:
        if db.scalar("SELECT 1 FROM contacts WHERE id = ?", (number,)) is None:
            raise not_found("contact", number)
        return number
    value = text.strip()
    if "@" in value:
        found = db.scalar("SELECT contact_id FROM contact_emails WHERE email = ?", (normalize_address(value),))
        if found is None:
            raise not_found("contact with address", value)
        return found
    rows = _by_name(
        db,
        "SELECT c.id, c.name, (SELECT min(email) FROM contact_emails e WHERE e.contact_id = c.id) AS email "
        "FROM contacts c WHERE {match} ORDER BY c.id",
        "c.name",
        value,
    )
    return _one(rows, "contact", "named", value, lambda r: f"{r['id']} ({r['email'] or 'no address'})")


def deal_id(db: Database, text: str) -> int:
    """The deal with this id or title."""
    number = as_id(text)
    if number is not None:
        if db.scalar("SELECT 1 FROM deals WHERE id = ? AND status != 'deleted'", (number,)) is None:
            raise not_found("deal", number)
        return number
    value = text.strip()
    rows = _by_name(
        db,
        "SELECT d.id, d.status, c.name AS contact FROM deals d LEFT JOIN contacts c ON c.id = d.contact_id "
        "WHERE d.status != 'deleted' AND {match} ORDER BY d.id",
        "d.title",
        value,
    )
    return _one(rows, "deal", "titled", value, lambda r: f"{r['id']} ({r['status']}, {r['contact'] or 'no contact'})")


def org_id(db: Database, text: str) -> int:
    """The organization with this id, name or email domain."""
    number = as_id(text)
    if number is not None:
        if db.scalar("SELECT 1 FROM orgs WHERE id = ?", (number,)) is None:
            raise not_found("org", number)
        return number
    value = text.strip()
    rows = _by_name(db, "SELECT id, name, name AS domain FROM orgs WHERE {match} ORDER BY id", "name", value)
    if not rows and "." in value and " " not in value:
        rows = db.all(
            "SELECT o.id, o.name, d.domain FROM org_domains d JOIN orgs o ON o.id = d.org_id "
            "WHERE d.domain = ? ORDER BY o.id",
            (normalize_domain(value),),
        )
    return _one(rows, "organization", "named", value, lambda r: f"{r['id']} ({r['domain'] or r['name']})")


def user_id(db: Database, text: str) -> int:
    """The user with this id, login or approved alternative address, or name."""
    number = as_id(text)
    if number is not None:
        if db.scalar("SELECT 1 FROM users WHERE id = ?", (number,)) is None:
            raise not_found("user", number)
        return number
    value = text.strip()
    if "@" in value:
        address = normalize_address(value)
        found = db.scalar("SELECT id FROM users WHERE email = ?", (address,))
        if found is None:
            found = db.scalar(
                "SELECT user_id FROM user_addresses WHERE email = ? AND approved_utc IS NOT NULL", (address,)
            )
        if found is None:
            raise not_found("user", value)
        return found
    rows = _by_name(db, "SELECT id, email FROM users WHERE {match} ORDER BY id", "name", value)
    return _one(rows, "user", "named", value, lambda r: f"{r['id']} ({r['email']})")


def _by_name(db: Database, sql: str, column: str, value: str) -> Sequence:
    """The rows whose ``column`` is ``value`` exactly, or else with letters' case aside."""
    if not value:
        return []
    exact = db.all(sql.format(match=f"{column} = ?"), (value,))
    if exact:
        return exact
    return db.all(sql.format(match=f"lower({column}) = lower(?)"), (value,))


def _one(rows: Sequence, kind: str, named: str, value: str, describe: Callable) -> int:
    if len(rows) == 1:
        return rows[0]["id"]
    if not rows:
        raise not_found(f"{kind} {named}", repr(value))
    shown = ", ".join(describe(r) for r in rows[:SHOWN_CANDIDATES])
    more = f" and {len(rows) - SHOWN_CANDIDATES} more" if len(rows) > SHOWN_CANDIDATES else ""
    raise UsageError(f"{len(rows)} {kind}s are {named} {value!r}: {shown}{more}; give the id instead")
