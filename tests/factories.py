"""Small helpers that make users, contacts, deals and emails through the real store and capture path."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from pdmail.capture import save as capture
from pdmail.crm import changes as crm_changes
from pdmail.crm import team as user_changes
from pdmail.mime.parse import parse_message
from pdmail.store import crm, open_db
from pdmail.store import users as users_store

BASE_DATE = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
_counter = itertools.count(1)


def company(path, *, admin="maria@northwind.example", name="Maria Lopez"):
    """A fresh database with its first admin; returns (db, admin user)."""
    db = open_db(path, create=True)
    user = users_store.init_company(db, company="Northwind", name=name, email=admin)
    return db, user


def user(db, email, name="Sam Lee", *, admin=False):
    """Added by the company's first admin, as `pdmail user add` would."""
    first_admin = next(u for u in users_store.list_users(db) if u.is_admin)
    return user_changes.add_user(db, first_admin, email, name=name, is_admin=admin)


def contact(db, name, *emails, relink=True):
    """A new contact; ``relink=False`` writes only its rows, leaving stored email as it was linked."""
    if relink:
        return crm_changes.add_contact(db, name, list(emails))
    return crm.add_contact(db, name, list(emails))


def deal(db, title, contact_id, *, status="open", relink=True):
    if relink:
        return crm_changes.add_deal(db, title, contact_id=contact_id, status=status)
    return crm.add_deal(db, title, contact_id=contact_id, status=status)


def raw_message(
    *,
    frm,
    to=(),
    cc=(),
    subject="Quote",
    mid=None,
    in_reply_to=None,
    references=(),
    date=None,
    headers=(),
    body="Hello,\r\nsee below.\r\n",
) -> bytes:
    n = next(_counter)
    lines = [("From", frm)]
    if to:
        lines.append(("To", ", ".join(to)))
    if cc:
        lines.append(("Cc", ", ".join(cc)))
    lines.append(("Subject", subject))
    lines.append(("Date", format_datetime(date or BASE_DATE + timedelta(minutes=n))))
    lines.append(("Message-ID", f"<{mid or f'm{n}'}@mail.example>"))
    if in_reply_to:
        lines.append(("In-Reply-To", f"<{in_reply_to}@mail.example>"))
    if references:
        lines.append(("References", " ".join(f"<{r}@mail.example>" for r in references)))
    lines += list(headers)
    return ("".join(f"{k}: {v}\r\n" for k, v in lines) + "\r\n" + body).encode()


def email(db, owner, **fields) -> int:
    """Capture one message for ``owner`` as sync would; returns the email id (None if not captured)."""
    raw = raw_message(**fields)
    parsed = parse_message(raw)
    with db.tx():
        outcome = capture.store_parsed(db, owner, parsed, raw, capture.Origin(source="sync"))
    return outcome.id


def links(db, email_id) -> dict:
    """An email's links as a plain dict, for comparing databases."""
    row = db.one(
        "SELECT deal_id, deal_rule, needs_deal, link_verdict, is_deal_manual, link_trace_json, thread_id "
        "FROM emails WHERE id = ?",
        (email_id,),
    )
    contacts = [
        tuple(r)
        for r in db.all(
            "SELECT contact_id, address, rule, is_manual FROM email_contacts WHERE email_id = ? ORDER BY contact_id",
            (email_id,),
        )
    ]
    return {
        "deal": row["deal_id"],
        "deal_rule": row["deal_rule"],
        "needs_deal": bool(row["needs_deal"]),
        "verdict": row["link_verdict"],
        "manual": bool(row["is_deal_manual"]),
        "contacts": contacts,
        "trace": row["link_trace_json"],
    }


def all_links(db) -> dict:
    return {r[0]: links(db, r[0]) for r in db.all("SELECT id FROM emails ORDER BY id")}


# The keys of an email's JSON (docs/spec.md, "An email"): every command that prints an email gives these.
EMAIL_JSON_KEYS = {
    "id",
    "thread_id",
    "message_id",
    "direction",
    "source",
    "from",
    "to",
    "cc",
    "subject",
    "date",
    "snippet",
    "read",
    "folder",
    "visibility",
    "owner",
    "contacts",
    "orgs",  # the organizations it is linked to itself (by a domain, or by hand)
    "deal",
    "needs_deal",
    "attachments",
}
