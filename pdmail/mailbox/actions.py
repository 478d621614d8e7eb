"""Read, unread, archive, delete and restore an email, and the same change for its mail server.

Each action changes the email in the store and, when it changed anything, queues the operation
that the next sync applies on the server copies (2-way sync), in one transaction: the server is
never told of a change that was not saved, nor a saved change forgotten.

The ``*_all`` forms act on several emails (or on each one's whole thread) in one transaction, and
check every email before changing any: one id that is not yours (or does not exist) changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pdmail.core.models import User
from pdmail.store import actions, mailbox, pending
from pdmail.store.db import Database


def _queued(db: Database, user: User, email_id: int, kind: str, done: tuple[dict, bool]) -> dict:
    result, changed = done
    if changed:
        pending.enqueue(db, user, email_id, kind)
    return result | {"changed": changed}


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
    """Back to the inbox (or sent mail); ``changed`` is False for an email neither archived nor deleted."""
    with db.tx():
        return _queued(db, user, email_id, "restore", actions.restore(db, user, email_id))


def targets(db: Database, user: User, email_ids: Sequence[int], *, thread: bool, action: str) -> list[int]:
    """The emails a command acts on: each one given, or with ``thread`` every email of its thread;
    once each, in the order given. Each is checked to be the user's (``action`` says what they may not
    do with a colleague's) before the caller changes anything."""
    chosen: dict[int, None] = {}
    for email_id in email_ids:
        row = mailbox.get_owned_email_row(db, user, email_id, action)
        for member in mailbox.thread_member_ids(db, row["thread_id"]) if thread else [email_id]:
            chosen[member] = None
    return list(chosen)


def _all(db: Database, user: User, email_ids: Sequence[int], thread: bool, action: str, one: Callable) -> list[dict]:
    with db.tx():
        return [one(email_id) for email_id in targets(db, user, email_ids, thread=thread, action=action)]


def set_read_all(db: Database, user: User, email_ids: Sequence[int], read: bool, *, thread: bool = False) -> list[dict]:
    word = "read" if read else "unread"
    return _all(db, user, email_ids, thread, f"mark email {{email}} {word}", lambda e: set_read(db, user, e, read))


def archive_all(db: Database, user: User, email_ids: Sequence[int], *, thread: bool = False) -> list[dict]:
    return _all(db, user, email_ids, thread, "archive email {email}", lambda e: archive(db, user, e))


def delete_all(db: Database, user: User, email_ids: Sequence[int], *, thread: bool = False) -> list[dict]:
    return _all(db, user, email_ids, thread, "delete email {email}", lambda e: delete(db, user, e))


def restore_all(db: Database, user: User, email_ids: Sequence[int], *, thread: bool = False) -> list[dict]:
    return _all(db, user, email_ids, thread, "restore email {email}", lambda e: restore(db, user, e))


def share_all(db: Database, user: User, email_ids: Sequence[int], visibility: str) -> list[dict]:
    """Make the thread of each email private or shared (a thread has one visibility), each thread once."""
    with db.tx():
        ids = targets(db, user, email_ids, thread=False, action="change who sees email {email}")
        done: dict[int, dict] = {}
        for email_id in ids:
            thread_id = mailbox.get_owned_email_row(db, user, email_id)["thread_id"]
            if thread_id not in done:
                done[thread_id] = actions.share(db, user, email_id, visibility)
        return list(done.values())
