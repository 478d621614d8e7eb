"""Read, unread, archive, delete and restore an email, and the same change for its mail server.

Each action changes the email in the store and, when it changed anything, queues the operation
that the next sync applies on the server copies (2-way sync), in one transaction: the server is
never told of a change that was not saved, nor a saved change forgotten.
"""

from __future__ import annotations

from pdmail.core.models import User
from pdmail.store import actions, pending
from pdmail.store.db import Database


def _queued(db: Database, user: User, email_id: int, kind: str, done: tuple[dict, bool]) -> dict:
    result, changed = done
    if changed:
        pending.enqueue(db, user, email_id, kind)
    return result


def set_read(db: Database, user: User, email_id: int, read: bool) -> dict:
    with db.tx():
        return _queued(db, user, email_id, "read" if read else "unread", actions.set_read(db, user, email_id, read))


def archive(db: Database, user: User, email_id: int) -> dict:
    with db.tx():
        return _queued(db, user, email_id, "archive", actions.archive(db, user, email_id))


def delete(db: Database, user: User, email_id: int) -> dict:
    """Deleted email is kept, hidden from the inbox, restorable; its links stay."""
    with db.tx():
        return _queued(db, user, email_id, "delete", actions.delete(db, user, email_id))


def restore(db: Database, user: User, email_id: int) -> dict:
    with db.tx():
        return _queued(db, user, email_id, "restore", actions.restore(db, user, email_id))
