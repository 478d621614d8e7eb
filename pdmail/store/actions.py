"""Changing an email: visibility of its thread, read state, archive, delete and restore.

Only the owner may change an email: a colleague who may see it is told so, and to anyone else it
does not exist (exit 4 both ways). Each change that
matters for privacy or links is written to the audit log.

Read state, archive, delete and restore say whether they changed anything: the same change for
the mail server is queued above, in ``pdmail.mailbox.actions``.
"""

from __future__ import annotations

from pdmail.core.errors import UsageError
from pdmail.core.models import User
from pdmail.store import mailbox
from pdmail.store.db import Database, now_utc
from pdmail.store.emails import audit

VISIBILITIES = ("shared", "private")


def share(db: Database, user: User, email_id: int, visibility: str) -> dict:
    """Set the visibility of the whole thread the email belongs to."""
    if visibility not in VISIBILITIES:
        raise UsageError(f"visibility must be shared or private, not {visibility!r}")
    with db.tx():
        row = mailbox.get_owned_email_row(db, user, email_id, "change who sees email {email}")
        thread_id = row["thread_id"]
        before = db.scalar("SELECT visibility FROM threads WHERE id = ?", (thread_id,))
        changed = db.execute(
            "UPDATE emails SET visibility = ? WHERE thread_id = ? AND visibility != ?",
            (visibility, thread_id, visibility),
        ).rowcount
        db.execute("UPDATE threads SET visibility = ? WHERE id = ?", (visibility, thread_id))
        if changed or before != visibility:
            audit(
                db,
                user_id=user.id,
                action="visibility",
                email_id=email_id,
                thread_id=thread_id,
                before=before,
                after=visibility,
                stamp=now_utc(),
            )
    return {"id": email_id, "thread_id": thread_id, "visibility": visibility, "changed": changed}


def set_read(db: Database, user: User, email_id: int, read: bool) -> tuple[dict, bool]:
    """Mark the email read or unread; returns the result and whether it changed."""
    with db.tx():
        action = "mark email {email} " + ("read" if read else "unread")
        row = mailbox.get_owned_email_row(db, user, email_id, action)
        changed = bool(row["is_read"]) != read
        if changed:
            db.execute("UPDATE emails SET is_read = ? WHERE id = ?", (int(read), email_id))
    return {"id": email_id, "read": read}, changed


def archive(db: Database, user: User, email_id: int) -> tuple[dict, bool]:
    with db.tx():
        row = mailbox.get_owned_email_row(db, user, email_id, "archive email {email}")
        changed = row["folder"] != "archive"
        if changed:
            db.execute("UPDATE emails SET folder = 'archive', is_deleted = 0 WHERE id = ?", (email_id,))
    return {"id": email_id, "folder": "archive"}, changed


def delete(db: Database, user: User, email_id: int) -> tuple[dict, bool]:
    """Deleted email is kept, hidden from the inbox, restorable; its links stay."""
    with db.tx():
        row = mailbox.get_owned_email_row(db, user, email_id, "delete email {email}")
        changed = row["folder"] != "trash"
        if changed:
            db.execute("UPDATE emails SET folder = 'trash', is_deleted = 1 WHERE id = ?", (email_id,))
    return {"id": email_id, "folder": "trash"}, changed


def restore(db: Database, user: User, email_id: int) -> tuple[dict, bool]:
    with db.tx():
        row = mailbox.get_owned_email_row(db, user, email_id, "restore email {email}")
        folder = "sent" if row["direction"] == "outgoing" else "inbox"
        changed = row["folder"] != folder
        if changed:
            db.execute("UPDATE emails SET folder = ?, is_deleted = 0 WHERE id = ?", (folder, email_id))
    return {"id": email_id, "folder": folder}, changed
