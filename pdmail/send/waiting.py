"""Whether the outbox holds anything for `pdmail sync` to do, asked before the sending code loads.

Every sync starts with the outbox (mail due, a send interrupted, a copy in Sent still to file), and
nearly every time there is nothing: composing and SMTP code then need not load at all, which a
run with nothing new would otherwise spend a tenth of its time on.
"""

from __future__ import annotations

from datetime import datetime

from pdmail.core.models import User
from pdmail.store import outbox as outbox_store
from pdmail.store.db import Database, iso_utc


def anything_waits(db: Database, user_or_all: User | None, now: datetime) -> bool:
    """Any message of the user (None: of anyone) that :func:`pdmail.send.outbox.send_due` would
    look at: one left 'sending', one due, or a sent one whose copy in Sent is still pending."""
    owner_id = user_or_all.id if user_or_all is not None else None
    return bool(
        outbox_store.sending_ids(db, owner_id)
        or outbox_store.due_ids(db, owner_id, iso_utc(now))
        or outbox_store.copy_pending_ids(db, owner_id)
    )
