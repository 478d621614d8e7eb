"""The outbox and templates tables: every state change of a message on its way out is one short write.

A row only ever moves forward through ``queued → sending → sent``, or aside to ``failed``,
``ambiguous`` or ``cancelled``; the transitions are conditional UPDATEs, so two processes can never
both claim the same message. A ``draft`` is its owner's unfinished message: nothing sends it until
its owner turns it into a ``queued`` one, and discarding it deletes it with its bytes.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from typing import Literal

from pdmail.core.errors import NotFound, UsageError, not_found
from pdmail.core.models import OutboxStatus, SentCopyStatus, User, Visibility
from pdmail.store.db import Database, like_pattern, now_utc, page_clause
from pdmail.store.emails import forget_raw, get_raw, put_raw

OPEN_STATUSES: tuple[OutboxStatus, ...] = ("draft", "queued", "sending", "failed", "ambiguous")


@dataclass(frozen=True)
class OutboxItem:
    id: int
    owner_id: int
    account_id: int
    raw_sha256: str
    message_id: str
    token: str
    envelope_from: str
    recipients: tuple[str, ...]
    bcc: tuple[str, ...]
    subject: str
    visibility: Visibility | None
    reply_to_email_id: int | None
    due_utc: str
    status: OutboxStatus
    attempts: int
    last_error: str | None
    claimed_by: str | None
    claimed_utc: str | None
    body_sent_utc: str | None
    sent_utc: str | None
    email_id: int | None
    sent_copy: str
    sent_copy_error: str | None
    created_utc: str

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "status": self.status,
            "due_utc": self.due_utc,
            "subject": self.subject,
            "from": self.envelope_from,
            "recipients": list(self.recipients),
            "bcc": list(self.bcc),
            "message_id": self.message_id,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "sent_utc": self.sent_utc,
            "email_id": self.email_id,
            "sent_copy": self.sent_copy,
            "visibility": self.visibility,
        }


def _item(r) -> OutboxItem:
    return OutboxItem(
        r["id"],
        r["owner_id"],
        r["account_id"],
        r["raw_sha256"],
        r["message_id"],
        r["token"],
        r["envelope_from"],
        tuple(json.loads(r["recipients_json"])),
        tuple(json.loads(r["bcc_json"])),
        r["subject"],
        r["visibility"],
        r["reply_to_email_id"],
        r["due_utc"],
        r["status"],
        r["attempts"],
        r["last_error"],
        r["claimed_by"],
        r["claimed_utc"],
        r["body_sent_utc"],
        r["sent_utc"],
        r["email_id"],
        r["sent_copy"],
        r["sent_copy_error"],
        r["created_utc"],
    )


def claimer() -> str:
    """Who holds a claim: enough to tell, on this machine, whether that process is still alive."""
    return f"{socket.gethostname()}:{os.getpid()}"


def claim_is_dead(claimed_by: str | None) -> bool:
    host, _, pid = (claimed_by or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


# --- queueing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxFields:
    """A composed message as the outbox keeps it: what queueing a message and saving a draft again write."""

    account_id: int
    raw: bytes
    raw_sha256: str
    message_id: str
    token: str
    envelope_from: str
    recipients: tuple[str, ...]
    bcc: tuple[str, ...]
    subject: str
    visibility: Visibility | None
    reply_to_email_id: int | None
    due_utc: str

    COLUMNS = (
        "account_id",
        "raw_sha256",
        "message_id",
        "token",
        "envelope_from",
        "recipients_json",
        "bcc_json",
        "subject",
        "visibility",
        "reply_to_email_id",
        "due_utc",
    )

    def values(self) -> tuple:
        """The values of :attr:`COLUMNS`, in order."""
        return (
            self.account_id,
            self.raw_sha256,
            self.message_id,
            self.token,
            self.envelope_from,
            json.dumps(list(self.recipients)),
            json.dumps(list(self.bcc)),
            self.subject,
            self.visibility,
            self.reply_to_email_id,
            self.due_utc,
        )


def enqueue(
    db: Database, owner: User, fields: OutboxFields, *, status: Literal["queued", "draft"] = "queued"
) -> OutboxItem:
    columns = ("owner_id", *OutboxFields.COLUMNS, "status", "created_utc")
    with db.tx():
        put_raw(db, fields.raw_sha256, fields.raw)
        item_id = db.insert(
            f"INSERT INTO outbox ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            (owner.id, *fields.values(), status, now_utc()),
        )
    return get_any(db, item_id)


def replace_draft(
    db: Database, owner: User, item_id: int, fields: OutboxFields, *, status: Literal["queued", "draft"]
) -> OutboxItem:
    """The draft's row takes the newly written message: saved again (``draft``) or on its way
    (``queued``), in place, so a draft is never both kept and sent. Only a draft changes; its old
    bytes go when nothing else holds them."""
    before = get(db, owner, item_id)
    assignments = ", ".join(f"{c} = ?" for c in (*OutboxFields.COLUMNS, "status"))
    with db.tx():
        put_raw(db, fields.raw_sha256, fields.raw)
        cur = db.execute(
            f"UPDATE outbox SET {assignments} WHERE id = ? AND owner_id = ? AND status = 'draft' AND raw_sha256 = ?",
            (*fields.values(), status, item_id, owner.id, before.raw_sha256),
        )
        if cur.rowcount != 1:
            raise _not_a_draft(db, owner, item_id)
        if before.raw_sha256 != fields.raw_sha256:
            forget_raw(db, before.raw_sha256)
    return get(db, owner, item_id)


def delete_draft(db: Database, owner: User, item_id: int) -> OutboxItem:
    """Discard a draft for good: the row and the bytes nothing else holds. It was never sent."""
    item = get(db, owner, item_id)
    with db.tx():
        cur = db.execute("DELETE FROM outbox WHERE id = ? AND owner_id = ? AND status = 'draft'", (item_id, owner.id))
        if cur.rowcount != 1:
            raise _not_a_draft(db, owner, item_id)
        forget_raw(db, item.raw_sha256)
    return item


def _not_a_draft(db: Database, owner: User, item_id: int) -> UsageError:
    status = get(db, owner, item_id).status
    if status == "draft":
        return UsageError(f"draft {item_id} was saved again meanwhile; nothing was changed: open it again")
    return UsageError(f"outbox message {item_id} is {_status_words(status)}, not a draft; it was left as it is")


def get_any(db: Database, item_id: int) -> OutboxItem:
    r = db.one("SELECT * FROM outbox WHERE id = ?", (item_id,))
    if r is None:
        raise not_found("outbox message", item_id)
    return _item(r)


def get(db: Database, owner: User, item_id: int) -> OutboxItem:
    """Only the owner sees an outbox message; anyone else is told it does not exist."""
    r = db.one("SELECT * FROM outbox WHERE id = ? AND owner_id = ?", (item_id, owner.id))
    if r is None:
        raise not_found("outbox message", item_id)
    return _item(r)


def raw_of(db: Database, item: OutboxItem) -> bytes:
    data = get_raw(db, item.raw_sha256)
    if data is None:
        raise NotFound(f"the bytes of outbox message {item.id} are missing")
    return data


def _items_where(db: Database, owner: User, everything: bool, search: str | None) -> tuple[str, tuple]:
    where = "owner_id = ?"
    params: tuple = (owner.id,)
    if not everything:
        where += f" AND status IN ({','.join('?' * len(OPEN_STATUSES))})"
        params += OPEN_STATUSES
    if search:
        # Recipients are a JSON list of plain addresses: a search for text in it finds the address.
        where += f" AND (subject {db.like} ? ESCAPE '\\' OR recipients_json {db.like} ? ESCAPE '\\')"
        params += (like_pattern(search),) * 2
    return where, params


def list_items(
    db: Database,
    owner: User,
    *,
    everything: bool = False,
    limit: int | None = 100,
    offset: int = 0,
    search: str | None = None,
) -> list[OutboxItem]:
    """The owner's outbox, soonest due first: the messages still on their way (``everything``: all);
    ``search`` finds a subject or recipient containing it; ``limit`` None for all."""
    where, params = _items_where(db, owner, everything, search)
    tail, tail_params = page_clause(limit, offset)
    rows = db.all(f"SELECT * FROM outbox WHERE {where} ORDER BY due_utc, id{tail}", (*params, *tail_params))
    return [_item(r) for r in rows]


def count_items(db: Database, owner: User, *, everything: bool = False, search: str | None = None) -> int:
    where, params = _items_where(db, owner, everything, search)
    return db.scalar(f"SELECT count(*) FROM outbox WHERE {where}", params)


def due_ids(db: Database, owner_id: int | None, now_utc_text: str, account_id: int | None = None) -> list[int]:
    rows = db.all(
        "SELECT id FROM outbox WHERE status = 'queued' AND due_utc <= ? AND (CAST(? AS BIGINT) IS NULL OR owner_id = ?) "
        "AND (CAST(? AS BIGINT) IS NULL OR account_id = ?) ORDER BY due_utc, id",
        (now_utc_text, owner_id, owner_id, account_id, account_id),
    )
    return [r[0] for r in rows]


def sending_ids(db: Database, owner_id: int | None) -> list[int]:
    rows = db.all(
        "SELECT id FROM outbox WHERE status = 'sending' AND (CAST(? AS BIGINT) IS NULL OR owner_id = ?) ORDER BY id",
        (owner_id, owner_id),
    )
    return [r[0] for r in rows]


def copy_pending_ids(db: Database, owner_id: int | None, account_id: int | None = None) -> list[int]:
    rows = db.all(
        "SELECT id FROM outbox WHERE status = 'sent' AND sent_copy = 'pending' AND (CAST(? AS BIGINT) IS NULL OR owner_id = ?) "
        "AND (CAST(? AS BIGINT) IS NULL OR account_id = ?) ORDER BY id",
        (owner_id, owner_id, account_id, account_id),
    )
    return [r[0] for r in rows]


# --- transitions ------------------------------------------------------------------------------


def claim(db: Database, item_id: int, who: str, stamp: str) -> bool:
    """queued → sending, for exactly one process."""
    with db.tx():
        cur = db.execute(
            "UPDATE outbox SET status = 'sending', claimed_by = ?, claimed_utc = ?, body_sent_utc = NULL, "
            "attempts = attempts + 1 WHERE id = ? AND status = 'queued'",
            (who, stamp, item_id),
        )
    return cur.rowcount == 1


def mark_body_sent(db: Database, item_id: int, stamp: str) -> None:
    """From here on a lost connection leaves us not knowing whether the server took the message."""
    with db.tx():
        db.execute("UPDATE outbox SET body_sent_utc = ? WHERE id = ? AND status = 'sending'", (stamp, item_id))


def requeue(db: Database, item_id: int, error: str, due_utc: str) -> None:
    with db.tx():
        db.execute(
            "UPDATE outbox SET status = 'queued', last_error = ?, due_utc = ?, claimed_by = NULL, claimed_utc = NULL, "
            "body_sent_utc = NULL WHERE id = ? AND status = 'sending'",
            (error, due_utc, item_id),
        )


def set_aside(
    db: Database,
    item_id: int,
    status: Literal["failed", "ambiguous"],
    error: str,
    *,
    from_status: OutboxStatus = "sending",
) -> None:
    """sending → failed | ambiguous: waits for the user (``outbox retry`` / ``outbox cancel``)."""
    assert status in ("failed", "ambiguous")
    with db.tx():
        db.execute(
            "UPDATE outbox SET status = ?, last_error = ?, claimed_by = NULL WHERE id = ? AND status = ?",
            (status, error, item_id, from_status),
        )


def mark_sent(
    db: Database, item_id: int, email_id: int | None, stamp: str, note: str | None, sent_copy: SentCopyStatus
) -> None:
    """Call inside the transaction that stores the sent email, so the two are never apart."""
    db.execute(
        "UPDATE outbox SET status = 'sent', sent_utc = ?, email_id = ?, last_error = ?, claimed_by = NULL, "
        "sent_copy = ? WHERE id = ?",
        (stamp, email_id, note, sent_copy, item_id),
    )


def set_copy(db: Database, item_id: int, status: SentCopyStatus, error: str | None = None) -> None:
    with db.tx():
        db.execute("UPDATE outbox SET sent_copy = ?, sent_copy_error = ? WHERE id = ?", (status, error, item_id))


def cancel(db: Database, owner: User, item_id: int) -> OutboxItem:
    """A queued, failed or ambiguous message is kept, marked cancelled; a draft is deleted."""
    item = get(db, owner, item_id)
    if item.status == "draft":
        return delete_draft(db, owner, item_id)
    with db.tx():
        cur = db.execute(
            "UPDATE outbox SET status = 'cancelled', claimed_by = NULL WHERE id = ? AND owner_id = ? "
            "AND status IN ('queued', 'failed', 'ambiguous')",
            (item_id, owner.id),
        )
    if cur.rowcount != 1:
        raise UsageError(
            f"outbox message {item_id} is {_status_words(get(db, owner, item_id).status)}; "
            "only a message that is queued, failed or ambiguous can be cancelled"
        )
    return get(db, owner, item.id)


def retry(db: Database, owner: User, item_id: int, due_utc: str) -> OutboxItem:
    """failed | ambiguous → queued, on the user's word: an ambiguous one may reach its recipients twice."""
    get(db, owner, item_id)
    with db.tx():
        cur = db.execute(
            "UPDATE outbox SET status = 'queued', due_utc = ?, claimed_by = NULL, body_sent_utc = NULL "
            "WHERE id = ? AND owner_id = ? AND status IN ('failed', 'ambiguous', 'queued')",
            (due_utc, item_id, owner.id),
        )
    if cur.rowcount != 1:
        status = get(db, owner, item_id).status
        if status == "draft":
            raise UsageError(
                f"outbox message {item_id} is a draft, which only you send: "
                f"`pdmail outbox edit {item_id}` opens it to send"
            )
        raise UsageError(
            f"outbox message {item_id} is {_status_words(status)}; "
            "only a failed, ambiguous or queued message can be retried"
        )
    return get(db, owner, item_id)


def _status_words(status: str) -> str:
    words = {"sending": "being sent right now", "sent": "already sent", "cancelled": "cancelled", "draft": "a draft"}
    return words.get(status, status)


# --- matching captured mail to what pdmail sent -------------------------------------------------


def email_for_token(db: Database, owner_id: int, token: str) -> int | None:
    if db.capture_only:  # the mail server's login reads no outbox: the database answers this one question
        return db.scalar("SELECT pdmail_capture_sent_copy(?, ?)", (owner_id, token))
    return db.scalar(
        "SELECT email_id FROM outbox WHERE owner_id = ? AND token = ? AND email_id IS NOT NULL", (owner_id, token)
    )


def confirm_by_copy(db: Database, owner_id: int, token: str, email_id: int, stamp: str) -> int | None:
    """A copy of an unconfirmed message turned up in the mailbox: it was sent. Call inside a transaction."""
    if db.capture_only:
        return db.scalar("SELECT pdmail_capture_confirm_sent(?, ?, ?, ?)", (owner_id, token, email_id, stamp)) or None
    cur = db.execute(
        "UPDATE outbox SET status = 'sent', email_id = ?, sent_utc = coalesce(sent_utc, ?), sent_copy = 'done', "
        "last_error = 'confirmed by its copy in the mailbox', claimed_by = NULL "
        "WHERE owner_id = ? AND token = ? AND status IN ('sending', 'ambiguous', 'failed', 'queued') "
        "AND email_id IS NULL",
        (email_id, stamp, owner_id, token),
    )
    return cur.rowcount or None


# --- templates --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    id: int
    name: str
    subject: str
    body: str
    company_wide: bool

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "subject": self.subject,
            "body": self.body,
            "scope": "company" if self.company_wide else "mine",
        }


def _template(r) -> Template:
    return Template(r["id"], r["name"], r["subject"], r["body"], r["owner_id"] is None)


def check_template_name(name: str) -> str:
    name = name.strip()
    if not name or any(c.isspace() for c in name) or len(name) > 64:
        raise UsageError("a template name is one word of at most 64 characters, such as follow-up")
    return name


def save_template(
    db: Database, user: User, name: str, subject: str, body: str, *, company_wide: bool = False, replace: bool = False
) -> Template:
    """Save the user's template, or with ``company_wide`` everyone's (who may is decided above)."""
    name = check_template_name(name)
    owner = None if company_wide else user.id
    stamp = now_utc()
    with db.tx():
        existing = db.scalar(
            "SELECT id FROM templates WHERE coalesce(owner_id, 0) = ? AND name = ?", (owner or 0, name)
        )
        if existing is not None and not replace:
            raise UsageError(f"template {name!r} already exists; add --replace to change it")
        if existing is not None:
            db.execute(
                "UPDATE templates SET subject = ?, body = ?, updated_utc = ? WHERE id = ?",
                (subject, body, stamp, existing),
            )
        else:
            existing = db.insert(
                "INSERT INTO templates (owner_id, name, subject, body, created_utc, updated_utc) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (owner, name, subject, body, stamp, stamp),
            )
    return _template(db.one("SELECT * FROM templates WHERE id = ?", (existing,)))


def get_template(db: Database, user: User, name: str) -> Template:
    """The user's own template of that name, else the company's."""
    r = db.one(
        "SELECT * FROM templates WHERE name = ? AND (owner_id = ? OR owner_id IS NULL) "
        "ORDER BY owner_id IS NULL LIMIT 1",
        (name.strip(), user.id),
    )
    if r is None:
        raise not_found("template", repr(name))
    return _template(r)


def _templates_where(db: Database, user: User, search: str | None) -> tuple[str, tuple]:
    where = "(owner_id = ? OR owner_id IS NULL)"
    params: tuple = (user.id,)
    if search:
        where += f" AND (name {db.like} ? ESCAPE '\\' OR subject {db.like} ? ESCAPE '\\')"
        params += (like_pattern(search),) * 2
    return where, params


def list_templates(
    db: Database, user: User, *, search: str | None = None, limit: int | None = None, offset: int = 0
) -> list[Template]:
    """The user's templates and the company's, by name (theirs first of two with one name);
    ``search`` finds a name or subject containing it."""
    where, params = _templates_where(db, user, search)
    tail, tail_params = page_clause(limit, offset)
    rows = db.all(
        f"SELECT * FROM templates WHERE {where} ORDER BY name, owner_id IS NULL{tail}", (*params, *tail_params)
    )
    return [_template(r) for r in rows]


def count_templates(db: Database, user: User, *, search: str | None = None) -> int:
    where, params = _templates_where(db, user, search)
    return db.scalar(f"SELECT count(*) FROM templates WHERE {where}", params)


def remove_template(db: Database, user: User, name: str, *, company_wide: bool = False) -> None:
    with db.tx():
        cur = db.execute(
            "DELETE FROM templates WHERE coalesce(owner_id, 0) = ? AND name = ?",
            (0 if company_wide else user.id, name.strip()),
        )
    if cur.rowcount == 0:
        raise not_found("template", repr(name))
