"""Drafts: messages their owner saved to finish later, kept in the outbox with the status ``draft``.

A draft is composed like any message (the same checks on every header, the bytes stored the same
way), so opening it again gives back what was written, with its Bcc, attachments and the email it
answers; it may still lack a recipient. Nothing ever sends a draft by itself: sending one composes
it again through the path of ``pdmail send`` and turns the draft's own row into the queued message,
so it is never both kept and sent, and a message that then fails waits in the outbox like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default

from pdmail.core.errors import UsageError
from pdmail.core.models import Address, User
from pdmail.send import compose
from pdmail.send.outbox import NETWORK, Network, SendRequest, SendResult, attempt, outbox_fields
from pdmail.store import outbox as outbox_store
from pdmail.store.db import Database, iso_utc


@dataclass(frozen=True)
class Opened:
    """A draft as its owner edits it: the written part, and the rest of what ``send`` was asked."""

    item: outbox_store.OutboxItem
    to: list[str]
    cc: list[str]
    subject: str
    body: str
    request: SendRequest  # account, Bcc, attachments, the email it answers, privacy; To/Cc/Subject/body empty


def save(db: Database, user: User, req: SendRequest, now: datetime, *, draft_id: int | None = None):
    """Keep ``req`` as the user's draft: a new one, or ``draft_id`` saved again in place."""
    if draft_id is None:
        return outbox_store.enqueue(db, user, outbox_fields(db, user, req, now, unfinished=True), status="draft")
    item = _draft(db, user, draft_id)
    fields = outbox_fields(db, user, req, now, unfinished=True, due=_moment(item.due_utc))
    return outbox_store.replace_draft(db, user, draft_id, fields, status="draft")


def open_draft(db: Database, user: User, draft_id: int) -> Opened:
    """The user's draft as it was saved; anyone else's reads as not found, like any outbox message."""
    item = _draft(db, user, draft_id)
    message = message_from_bytes(outbox_store.raw_of(db, item), policy=default)
    assert isinstance(message, EmailMessage)
    text = message.get_body(("plain",))
    body = text.get_content() if text is not None else ""
    attached = [_attachment(part) for part in message.iter_attachments()]
    request = SendRequest(
        bcc=list(item.bcc),
        reply_to=item.reply_to_email_id,
        private=item.visibility == "private",
        account=f"#{item.account_id}",
        attached=attached,
    )
    return Opened(
        item,
        to=_addresses(message, "To"),
        cc=_addresses(message, "Cc"),
        subject=str(message.get("Subject", "")),
        body=body.replace("\r\n", "\n"),
        request=request,
    )


def send(
    db: Database, user: User, draft_id: int, req: SendRequest, now: datetime, *, network: Network = NETWORK
) -> SendResult:
    """Send the draft as ``req`` now has it: every check of ``pdmail send``, then its row is queued
    and delivered; a draft saved with a later time (``send --at``) waits for it instead."""
    item = _draft(db, user, draft_id)
    due = max(now, _moment(item.due_utc))
    fields = outbox_fields(db, user, req, now, due=due)
    queued = outbox_store.replace_draft(db, user, draft_id, fields, status="queued")
    if queued.due_utc > iso_utc(now):
        return SendResult(
            queued.id, "scheduled", f"scheduled for {queued.due_utc}", due=queued.due_utc, message_id=queued.message_id
        )
    return attempt(db, queued.id, now, network=network)


def discard(db: Database, user: User, draft_id: int) -> outbox_store.OutboxItem:
    return outbox_store.delete_draft(db, user, draft_id)


def _draft(db: Database, user: User, draft_id: int) -> outbox_store.OutboxItem:
    item = outbox_store.get(db, user, draft_id)
    if item.status != "draft":
        raise UsageError(f"outbox message {draft_id} is {item.status}, not a draft: only a draft can be edited")
    return item


def _moment(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _addresses(message: EmailMessage, name: str) -> list[str]:
    header = message.get(name)
    if header is None:
        return []
    return [compose.format_address(Address(a.display_name, a.addr_spec)) for a in header.addresses]


def _attachment(part) -> compose.FileAttachment:
    data = part.get_payload(decode=True)
    return compose.FileAttachment(
        part.get_filename() or "attachment", data if isinstance(data, bytes) else b"", part.get_content_type()
    )
