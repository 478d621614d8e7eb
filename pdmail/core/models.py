"""Plain, frozen records passed between layers. No I/O, no behaviour beyond small helpers.

They are named tuples (``Record``, see pdmail/core/records.py) rather than dataclasses: a dataclass
compiles its methods each time pdmail starts, and a mail server starts it once per message. Copy one
with ``_replace``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pdmail.core.records import Record

# The words the database's CHECK constraints allow, as types: a misspelt one is a type error where it is
# passed around. The values stored are these very strings.
Direction = Literal["incoming", "outgoing"]
Source = Literal["sync", "bcc", "sent"]  # how an email came in
Visibility = Literal["shared", "private"]
DealStatus = Literal["open", "won", "lost", "deleted"]
OutboxStatus = Literal["draft", "queued", "sending", "sent", "failed", "ambiguous", "cancelled"]
SentCopyStatus = Literal["pending", "done", "by_provider", "none", "failed"]
QuarantineStatus = Literal["held", "released", "stored"]


class Address(Record):
    """A mailbox: display name as decoded, ``email`` normalized (lower-case, no brackets)."""

    name: str
    email: str

    def to_json(self) -> dict:
        return {"name": self.name, "email": self.email}


class Attachment(Record):
    filename: str
    content_type: str
    size: int  # decoded bytes
    is_inline: bool = False

    def to_json(self) -> dict:
        return {"filename": self.filename, "size": self.size, "content_type": self.content_type}


class ParsedEmail(Record):
    """Everything pdmail needs from one message, decoded defensively.

    Built only by ``parse.parse_message``; the raw bytes stay the source of truth.
    """

    raw_sha256: str
    size: int
    message_id: str | None  # as written, without angle brackets
    message_id_norm: str | None  # normalize_message_id(message_id)
    alt_message_id: str | None  # X-Microsoft-Original-Message-ID, normalized
    in_reply_to: tuple[str, ...]  # normalized ids
    references: tuple[str, ...]  # normalized ids, oldest first, capped
    from_: tuple[Address, ...]  # every mailbox of every From header
    from_header_count: int
    sender: Address | None
    reply_to: tuple[Address, ...]
    x_original_from: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    bcc: tuple[Address, ...]
    delivered_to: tuple[str, ...]  # Delivered-To and X-Original-To, normalized
    subject: str
    date_header: str | None  # raw Date header, for the fingerprint
    date_utc: datetime | None  # aware UTC
    date_source: str  # "header" | "received" | "none" (caller falls back to capture time)
    text: str  # the readable body: text/plain, or HTML converted to text
    attachments: tuple[Attachment, ...]
    attached_messages: tuple[bytes, ...]  # raw bytes of message/rfc822 parts, in order
    list_id: str | None
    list_unsubscribe: str | None
    precedence: str | None
    auto_submitted: str | None
    authentication_results: tuple[str, ...]  # raw header values, top first
    defects: tuple[str, ...]
    parse_status: str = "ok"  # "ok" | "defects"
    pdmail_token: str | None = None  # X-Pdmail-Token of mail pdmail sent: finds it again if a relay rewrote it

    @property
    def sender_address(self) -> Address | None:
        """The single From mailbox, or None when there are none or several."""
        return self.from_[0] if len(self.from_) == 1 and self.from_header_count == 1 else None


class Contact(Record):
    id: int
    name: str
    emails: tuple[str, ...]
    org_id: int | None = None


class Organization(Record):
    """An organization as linking sees it: who it is, and the email domains it claims."""

    id: int
    name: str
    domains: tuple[str, ...] = ()


class Deal(Record):
    id: int
    title: str
    status: DealStatus
    contact_id: int | None = None
    org_id: int | None = None
    value: str | None = None  # exact decimal text with the currency's decimals, e.g. "480000.10"
    currency: str | None = None


class User(Record):
    id: int
    email: str
    name: str
    is_admin: bool
    alt_addresses: tuple[str, ...] = ()

    @property
    def addresses(self) -> frozenset[str]:
        return frozenset((self.email, *self.alt_addresses))


class LinkCause(Record):
    """Another user's change that made a link to someone's email (rule 4 of the sharing law).

    ``by`` is that user (None: no user, such as a library call with nobody acting); ``proposed``
    says the link waits for the owner's acceptance and counts for nothing until then.
    """

    by: int | None
    at: str
    proposed: bool
