"""Local changes waiting to be applied on the mail server by the next sync.

Until an email has a location on a server (it came by Smart BCC, or its account syncs nothing),
there is nothing to apply and nothing is queued.
"""

from __future__ import annotations

from pdmail.core.models import User
from pdmail.store.db import Database


def enqueue(db: Database, user: User, email_id: int, kind: str) -> None:
    """Queue ``kind`` (read, unread, archive, delete, restore) for the email's server copies."""
    from pdmail.store import sync_state

    sync_state.enqueue_for_email(db, user, email_id, kind)
