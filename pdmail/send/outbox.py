"""Sending mail: compose → queue → deliver → store as outgoing mail → file a copy in Sent.

Every message goes through the outbox, sent now or later. The row is written, with its Message-ID
and token, before any network traffic; each step after that is recorded, so after a crash we know
whether the server may have the message. A message whose fate is unknown is never sent again
without the user (``outbox retry``), because sending it twice is worse than asking.

``send_due`` is what ``pdmail sync`` calls: it sends what is due and files missing Sent copies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pdmail.core import money
from pdmail.core.errors import (
    EXIT_PARTIAL,
    AuthFailure,
    InputRefused,
    NotFound,
    PdmailError,
    TemporaryFailure,
    UsageError,
    combine_exit_codes,
)
from pdmail.core.models import Address, User
from pdmail.mime.limits import DEFAULT_LIMITS, size_text
from pdmail.send import compose, merge_fields, sent_copy
from pdmail.send import smtp as smtp_send
from pdmail.store import outbox as outbox_store
from pdmail.store.db import Database, iso_utc

MAX_ATTEMPTS = 8
RETRY_DELAYS = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1))
STALE_CLAIM = timedelta(hours=1)


@dataclass
class SendRequest:
    """What ``pdmail send`` was asked to do, as typed."""

    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    subject: str | None = None
    body: str | None = None
    attachments: list[Path] = field(default_factory=list)
    reply_to: int | None = None
    reply_all: bool = True
    private: bool = False
    template: str | None = None
    deal: int | None = None
    at: str | None = None
    account: str | None = None
    attached: list[compose.FileAttachment] = field(default_factory=list)  # files already read, as a draft kept them


@dataclass
class SendResult:
    item_id: int
    status: str  # sent | scheduled | queued | failed | ambiguous | busy
    detail: str = ""
    email_id: int | None = None
    due: str | None = None
    message_id: str | None = None
    warnings: list[str] = field(default_factory=list)
    error: PdmailError | None = None

    def to_json(self) -> dict:
        return {
            "outbox_id": self.item_id,
            "status": self.status,
            "email_id": self.email_id,
            "due_utc": self.due,
            "message_id": self.message_id,
            "detail": self.detail,
            "warnings": self.warnings,
        }


@dataclass(frozen=True)
class Network:
    """The outside world, replaceable where a test needs to stand in for it."""

    deliver: Callable = smtp_send.deliver
    secret_for: Callable | None = None  # default: pdmail.accounts.secrets.secret_for
    save_copy: Callable = sent_copy.save
    timeout: float = smtp_send.DEFAULT_TIMEOUT_S

    def secret(self, account) -> str:
        if self.secret_for is not None:
            return self.secret_for(account)
        from pdmail.accounts.secrets import secret_for

        return secret_for(account)


NETWORK = Network()


# --- queueing ---------------------------------------------------------------------------------


def queue(db: Database, user: User, req: SendRequest, now: datetime) -> outbox_store.OutboxItem:
    """Compose the message and put it in the outbox, due now or at ``--at``. No network traffic."""
    return outbox_store.enqueue(db, user, outbox_fields(db, user, req, now))


def outbox_fields(
    db: Database, user: User, req: SendRequest, now: datetime, *, unfinished: bool = False, due: datetime | None = None
) -> outbox_store.OutboxFields:
    """The composed message as the outbox stores it, after every check a message to send gets.

    ``unfinished``: for a draft, which may still lack a recipient, a subject or a text; the checks
    that remain are those that keep the stored bytes sound (header injection, sizes). ``due``: when
    it goes, already decided (a draft's time), instead of now or ``req.at``."""
    from pdmail.store import accounts as accounts_store

    account = accounts_store.get_account(db, user, req.account)
    smtp_send.SmtpTarget.from_account(account)  # fail early on an account that cannot send
    if due is None:
        due = now
    elif req.at:
        raise ValueError("give either a due time or --at")
    if req.at:
        due = send_time(db, user, req.at, now)

    original = _original(db, user, req.reply_to) if req.reply_to is not None else None
    own = set(user.addresses) | {account.address}
    to = compose.parse_addresses("--to", req.to)
    cc = compose.parse_addresses("--cc", req.cc)
    bcc = compose.parse_addresses("--bcc", req.bcc)
    subject, body = req.subject, req.body
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    if original is not None:
        reply = compose.reply_fields(original.fields, own, reply_all=req.reply_all)
        if not to:
            to, cc = reply.to, _merge(reply.cc, cc)
        subject = subject if subject is not None else reply.subject
        in_reply_to, references = reply.in_reply_to, reply.references
    if req.template:
        template = outbox_store.get_template(db, user, req.template)
        values, missing = _merge_values(db, user, to, original, req.deal)
        subject = subject if subject is not None else template.subject
        subject = merge_fields.render(subject, values, missing=missing)
        body = merge_fields.render(body if body is not None else template.body, values, missing=missing)
    if unfinished:
        subject, body = subject or "", body or ""
    if not to and not cc and not bcc and not unfinished:
        raise UsageError("no recipient: give --to ADDR (or --reply-to ID to answer an email)")
    if subject is None:
        raise UsageError("give --subject TEXT (or --template NAME, or --reply-to ID)")
    if body is None:
        raise UsageError("give the text with --body TEXT or --body-file PATH (or --template NAME)")

    draft = compose.Draft(
        sender=Address(user.name, account.address),
        to=to,
        cc=cc,
        bcc=bcc,
        subject=subject,
        body=body,
        attachments=(*req.attached, *read_attachments(req.attachments)),
        in_reply_to=in_reply_to,
        references=references,
        date=due,
    )
    composed = compose.compose(draft, unfinished=unfinished)
    from pdmail.mime.fingerprint import sha256_hex

    return outbox_store.OutboxFields(
        account_id=account.id,
        raw=composed.raw,
        raw_sha256=sha256_hex(composed.raw),
        message_id=composed.message_id,
        token=composed.token,
        envelope_from=composed.envelope_from,
        recipients=composed.recipients,
        bcc=composed.bcc,
        subject=subject,
        visibility="private" if req.private else None,
        reply_to_email_id=original.email_id if original is not None else None,
        due_utc=iso_utc(due),
    )


def send_time(db: Database, user: User, at: str, now: datetime) -> datetime:
    """The moment ``--at`` names, read in the user's time zone; a usage error when it names none, or
    one past. ``pdmail send`` asks before opening the editor, so that a mistyped time costs no typing."""
    from pdmail.core.time_phrases import parse_when
    from pdmail.store import users as users_store

    return parse_when(at, now, users_store.get_setting(db, "time-zone", user) or None)


def send(db: Database, user: User, req: SendRequest, now: datetime, *, network: Network = NETWORK) -> SendResult:
    """``pdmail send``: queue, then deliver at once unless ``--at`` puts it later."""
    item = queue(db, user, req, now)
    if item.due_utc > iso_utc(now):
        return SendResult(
            item.id, "scheduled", f"scheduled for {item.due_utc}", due=item.due_utc, message_id=item.message_id
        )
    return attempt(db, item.id, now, network=network)


@dataclass(frozen=True)
class Prefill:
    """What the editor opens with for ``pdmail send`` without a body: the request's own recipients
    and subject, or for a reply those of the reply and the original's text to quote."""

    to: list[str]
    cc: list[str]
    subject: str
    quoted_from: str | None = None  # who wrote the answered email ("Ada Byron <ada@acme.example>")
    quoted_date: str | None = None  # its Date, as stored (UTC)
    quoted_text: str | None = None


def prefill(db: Database, user: User, req: SendRequest) -> Prefill:
    """The editor's first text: nothing is composed, queued or sent."""
    from pdmail.store import accounts as accounts_store
    from pdmail.store import mailbox

    if req.reply_to is None:
        return Prefill(list(req.to), list(req.cc), req.subject or "")
    account = accounts_store.get_account(db, user, req.account)
    original = _original(db, user, req.reply_to)
    reply = compose.reply_fields(original.fields, set(user.addresses) | {account.address}, reply_all=req.reply_all)
    to = list(req.to) or [compose.format_address(a) for a in reply.to]
    cc = list(req.cc) or ([compose.format_address(a) for a in reply.cc] if not req.to else [])
    data = mailbox.get_email(db, user, req.reply_to)
    sender = data["from"]
    who = compose.format_address(Address(sender["name"] or "", sender["email"] or "")) if sender["email"] else None
    return Prefill(to, cc, req.subject or reply.subject, who, data.get("date"), data.get("text") or "")


def _merge(first, second):
    seen = {a.email for a in first}
    return tuple(first) + tuple(a for a in second if a.email not in seen)


def read_attachments(paths: list[Path]):
    """Files as bytes, refusing early what would make the message too large to send or to store."""
    total = 0
    out = []
    for path in paths:
        p = Path(path).expanduser()
        if not p.is_file():
            raise UsageError(f"--attach {path}: no such file")
        size = p.stat().st_size
        total += size
        # base64 makes a file about 4/3 its size on the wire.
        if total * 4 // 3 > DEFAULT_LIMITS.max_size:
            raise UsageError(
                f"--attach {path}: the attachments add up to more than the "
                f"{size_text(DEFAULT_LIMITS.max_size)} a message may have"
            )
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise UsageError(f"--attach {path}: cannot read it ({exc.strerror})") from None
        out.append(compose.FileAttachment(p.name, data))
    return out


@dataclass(frozen=True)
class _Reply:
    email_id: int
    fields: compose.Original
    deal_id: int | None
    contact_ids: tuple[int, ...]


def _original(db: Database, user: User, email_id: int) -> _Reply:
    """The email being answered, read through the visibility law like every other read."""
    from pdmail.mime.parse import MessageRefused, parse_message
    from pdmail.store import emails as emails_store
    from pdmail.store import mailbox

    row = mailbox.get_email_row(db, user, email_id)
    data = mailbox.get_email(db, user, email_id)
    raw = emails_store.get_raw(db, row["raw_sha256"])
    refs: tuple[str, ...] = ()
    reply_to: tuple[Address, ...] = ()
    if raw is not None:
        try:
            parsed = parse_message(raw)
            refs, reply_to = parsed.references, parsed.reply_to
        except MessageRefused:
            pass
    fields = compose.Original(
        message_id=row["message_id"],
        references=refs,
        subject=row["subject"],
        direction=row["direction"],
        from_=(Address(row["from_name"], row["from_email"]),) if row["from_email"] else (),
        reply_to=reply_to,
        to=tuple(Address(a["name"], a["email"]) for a in data["to"]),
        cc=tuple(Address(a["name"], a["email"]) for a in data["cc"]),
    )
    return _Reply(email_id, fields, data["deal"], tuple(data["contacts"]))


def _merge_values(db: Database, user: User, to, original: _Reply | None, deal_id: int | None):
    """Field values from the contact of the first recipient (or of the answered email) and its deal."""
    from pdmail.store import crm

    values: dict[str, str | None] = {
        "user.name": user.name,
        "user.first_name": merge_fields.first_name(user.name),
        "user.email": user.email,
    }
    missing: dict[str, str] = {}
    contact = None
    contact_id = None
    for a in to:
        contact_id = crm.contact_for_address(db, a.email)
        if contact_id is not None:
            break
    if contact_id is None and original is not None and original.contact_ids:
        contact_id = original.contact_ids[0]
    if contact_id is not None:
        contact = crm.get_contact(db, contact_id)
        values.update(
            {
                "contact.name": contact.name,
                "contact.first_name": merge_fields.first_name(contact.name, contact.first_name),
                "contact.last_name": merge_fields.last_name(contact.name),
                "contact.email": contact.emails[0] if contact.emails else None,
                "contact.title": contact.title,
                "contact.phone": contact.phone,
            }
        )
        missing["contact.first_name"] = (
            f"contact {contact.id} ({contact.name}) has no first name that pdmail "
            "can tell from the name (`contact add --first-name` gives one)"
        )
        if contact.org_id is not None:
            org = crm.get_org(db, contact.org_id)
            values.update({"org.name": org.name, "org.domain": org.domain})
        else:
            missing["org"] = f"contact {contact.id} ({contact.name}) belongs to no organization"
    else:
        missing["contact"] = "no recipient is a known contact"
        missing["org"] = missing["contact"]
    if deal_id is None and original is not None:
        deal_id = original.deal_id
    if deal_id is None and contact is not None:
        open_deals = crm.list_deals(db, status="open", contact_id=contact.id)
        if len(open_deals) == 1:
            deal_id = open_deals[0].id
        elif open_deals:
            missing["deal"] = (
                f"contact {contact.id} has {len(open_deals)} open deals "
                f"({', '.join(str(d.id) for d in open_deals)}); choose one with --deal N"
            )
    if deal_id is not None:
        deal = crm.get_deal(db, deal_id)
        values.update(
            {
                "deal.title": deal.title,
                "deal.id": str(deal.id),
                "deal.status": deal.status,
                "deal.currency": deal.currency,
                "deal.value": money.display(deal.value, deal.currency) or None,
            }
        )
        missing["deal.value"] = f"deal {deal.id} ({deal.title}) has no value"
        missing["deal.currency"] = f"deal {deal.id} ({deal.title}) has no currency"
    missing.setdefault("deal", "no deal is linked (pass --deal N)")
    return values, missing


# --- delivering -------------------------------------------------------------------------------


def attempt(db: Database, item_id: int, now: datetime, *, network: Network = NETWORK) -> SendResult:
    """Try to deliver one queued message, and record exactly how far it got."""
    from pdmail.store import accounts as accounts_store
    from pdmail.store import users as users_store

    item = outbox_store.get_any(db, item_id)
    owner = users_store.get_user(db, item.owner_id)
    account = next((a for a in accounts_store.list_accounts(db, owner) if a.id == item.account_id), None)
    if account is None:
        return _fail_now(db, item, "its account was removed; send it again from another account")
    try:
        target = smtp_send.SmtpTarget.from_account(account)
    except UsageError as exc:
        return _fail_now(db, item, exc.message)
    stamp = iso_utc(now)
    if not outbox_store.claim(db, item.id, outbox_store.claimer(), stamp):
        current = outbox_store.get_any(db, item.id)
        why = "another pdmail is sending it right now" if current.status == "sending" else f"it is {current.status}"
        return SendResult(
            item.id,
            "busy" if current.status == "sending" else current.status,
            why,
            email_id=current.email_id,
            message_id=item.message_id,
        )
    raw = outbox_store.raw_of(db, item)
    body_sent = False

    def on_body_sent() -> None:
        nonlocal body_sent
        outbox_store.mark_body_sent(db, item.id, stamp)  # if this write fails, the final dot is never sent
        body_sent = True

    try:
        delivery = network.deliver(
            target,
            item.envelope_from,
            item.recipients,
            raw,
            secret=lambda: network.secret(account),
            timeout=network.timeout,
            on_body_sent=on_body_sent,
        )
    except BaseException:
        if body_sent:
            outbox_store.set_aside(db, item.id, "ambiguous", "interrupted after the message was handed over")
        else:
            outbox_store.requeue(db, item.id, "interrupted before the message was handed over", stamp)
        raise
    return _record(db, owner, account, outbox_store.get_any(db, item.id), raw, delivery, now, network)


def _fail_now(db: Database, item: outbox_store.OutboxItem, why: str) -> SendResult:
    stamp = iso_utc(datetime.now(UTC))
    if item.status == "queued" and outbox_store.claim(db, item.id, outbox_store.claimer(), stamp):
        outbox_store.set_aside(db, item.id, "failed", why)
    return SendResult(item.id, "failed", why, message_id=item.message_id, error=UsageError(why))


def _record(db, owner, account, item, raw, delivery, now, network) -> SendResult:
    stamp = iso_utc(now)
    if delivery.outcome == smtp_send.SENT:
        email_id, warnings = _store_sent(db, owner, item, raw, delivery, stamp)
        result = SendResult(
            item.id, "sent", delivery.detail, email_id=email_id, message_id=item.message_id, warnings=warnings
        )
        if delivery.refused:
            refused = "; ".join(f"{r}: {why}" for r, why in delivery.refused.items())
            result.warnings.append(f"the server refused some recipients ({refused}); the others got it")
        copy_warning = file_copy(db, account, outbox_store.get_any(db, item.id), network=network)
        if copy_warning:
            result.warnings.append(copy_warning)
        return result
    if delivery.outcome == smtp_send.AMBIGUOUS:
        outbox_store.set_aside(db, item.id, "ambiguous", delivery.detail)
        why = (
            f"{delivery.detail}. It is not sent again automatically: check with a recipient or your Sent "
            f"folder, then `pdmail outbox retry {item.id}` to send it again or `pdmail outbox cancel {item.id}`"
        )
        return SendResult(item.id, "ambiguous", why, message_id=item.message_id, error=TemporaryFailure(why))
    if delivery.outcome == smtp_send.REJECTED:
        outbox_store.set_aside(db, item.id, "failed", delivery.detail)
        why = (
            f"{delivery.detail}; the message stays in the outbox as failed (`pdmail outbox retry {item.id}` "
            "after fixing it, or `pdmail outbox cancel`)"
        )
        return SendResult(item.id, "failed", why, message_id=item.message_id, error=InputRefused(why))
    if delivery.outcome == smtp_send.AUTH:
        outbox_store.requeue(db, item.id, delivery.detail, item.due_utc)
        why = f"{delivery.detail}; the message waits in the outbox and the next `pdmail sync` tries again"
        return SendResult(item.id, "queued", why, message_id=item.message_id, error=AuthFailure(why))
    # RETRY: the server surely does not have it.
    if item.attempts >= MAX_ATTEMPTS:
        outbox_store.set_aside(db, item.id, "failed", f"gave up after {item.attempts} attempts: {delivery.detail}")
        why = f"{delivery.detail}; gave up after {item.attempts} attempts (`pdmail outbox retry {item.id}`)"
        return SendResult(item.id, "failed", why, message_id=item.message_id, error=TemporaryFailure(why))
    delay = RETRY_DELAYS[min(max(item.attempts, 1), len(RETRY_DELAYS)) - 1]
    due = iso_utc(now + delay)
    outbox_store.requeue(db, item.id, delivery.detail, due)
    why = f"{delivery.detail}; nothing was sent, and the next `pdmail sync` after {due} tries again"
    return SendResult(item.id, "queued", why, due=due, message_id=item.message_id, error=TemporaryFailure(why))


def _store_sent(db, owner, item, raw, delivery, stamp) -> tuple[int | None, list[str]]:
    """Store the message as outgoing mail and mark the row sent, in one transaction."""
    from pdmail.capture.save import store_parsed
    from pdmail.mime.parse import MessageRefused, parse_message

    warnings: list[str] = []
    note = delivery.detail if delivery.refused else None
    try:
        parsed = parse_message(raw)
    except MessageRefused as exc:  # compose checked the limits, so this is a bug; the mail did go out
        parsed = None
        warnings.append(f"sent, but not stored: {exc.message}")
    with db.tx():
        email_id = None
        if parsed is not None:
            outcome = store_parsed(db, owner, parsed, raw, sent_origin(item))
            email_id = outcome.id
            warnings.extend(outcome.warnings)
        outbox_store.mark_sent(db, item.id, email_id, stamp, note, "pending")
    return email_id, warnings


def sent_origin(item: outbox_store.OutboxItem):
    from pdmail.capture.save import Origin

    return Origin(source="sent", label=f"outbox:{item.id}", folder="sent", is_read=True, visibility=item.visibility)


def file_copy(db: Database, account, item: outbox_store.OutboxItem, *, network: Network = NETWORK) -> str | None:
    """Put the Sent copy in place (or find it there); a warning when it must wait for the next sync."""
    skip = sent_copy.needs_copy(account)
    if skip is not None:
        outbox_store.set_copy(db, item.id, skip)
        return None
    raw = outbox_store.raw_of(db, item)
    date = datetime.fromisoformat(item.due_utc.replace("Z", "+00:00"))
    try:
        status = network.save_copy(account, raw, item.token, item.message_id, date)
    except (UsageError, NotFound) as exc:
        outbox_store.set_copy(db, item.id, "failed", exc.message)
        return f"sent, but no copy was filed in Sent: {exc.message}"
    except PdmailError as exc:
        outbox_store.set_copy(db, item.id, "pending", exc.message)
        return f"sent; the copy for the Sent folder waits for the next `pdmail sync` ({exc.message})"
    outbox_store.set_copy(db, item.id, status)
    return None


# --- the outbox, for sync and for the user -------------------------------------------------------


def send_due(
    db: Database, user_or_all: User | None, now: datetime, *, account: str | None = None, network: Network = NETWORK
) -> list[SendResult]:
    """Send every queued message that is due, and file Sent copies still missing. Called by ``pdmail sync``.

    ``user_or_all`` is one user, or None for everyone's outbox; ``account`` (a name, with a user)
    narrows it to one account. One message failing never stops the others; each result says what
    happened (``error`` holds the exception a CLI would raise). Nothing due: an empty list.
    """
    owner_id = user_or_all.id if user_or_all is not None else None
    account_id = None
    if account is not None and user_or_all is not None:
        from pdmail.store import accounts as accounts_store

        account_id = accounts_store.get_account(db, user_or_all, account).id
    results = recover_stale(db, owner_id, now)
    for item_id in outbox_store.due_ids(db, owner_id, iso_utc(now), account_id):
        try:
            results.append(attempt(db, item_id, now, network=network))
        except PdmailError as exc:
            results.append(SendResult(item_id, "queued", exc.message, error=exc))
    for item_id in outbox_store.copy_pending_ids(db, owner_id, account_id):
        results.extend(_retry_copy(db, item_id, network))
    return results


def _retry_copy(db: Database, item_id: int, network: Network) -> list[SendResult]:
    from pdmail.store import accounts as accounts_store
    from pdmail.store import users as users_store

    item = outbox_store.get_any(db, item_id)
    owner = users_store.get_user(db, item.owner_id)
    account = next((a for a in accounts_store.list_accounts(db, owner) if a.id == item.account_id), None)
    if account is None:
        outbox_store.set_copy(db, item.id, "failed", "its account was removed")
        return []
    warning = file_copy(db, account, item, network=network)
    if warning is None:
        return []
    return [
        SendResult(item.id, "sent", warning, email_id=item.email_id, message_id=item.message_id, warnings=[warning])
    ]


def exit_code(results: list[SendResult]) -> int:
    """One code for a batch, ranked as sync ranks them; any other failure leaves the batch partial."""
    return combine_exit_codes((r.error.exit_code for r in results if r.error is not None), otherwise=EXIT_PARTIAL)


def recover_stale(db: Database, owner_id: int | None, now: datetime) -> list[SendResult]:
    """Messages left 'sending' by a process that died: safe ones go back to the queue, the rest wait."""
    results = []
    for item_id in outbox_store.sending_ids(db, owner_id):
        item = outbox_store.get_any(db, item_id)
        claimed = datetime.fromisoformat((item.claimed_utc or iso_utc(now)).replace("Z", "+00:00"))
        if not (outbox_store.claim_is_dead(item.claimed_by) or now - claimed > STALE_CLAIM):
            continue
        if item.body_sent_utc:
            why = (
                "the pdmail that was sending it stopped after handing the message over; it may have been "
                f"delivered. `pdmail outbox retry {item.id}` sends it again, `pdmail outbox cancel {item.id}` "
                "drops it"
            )
            outbox_store.set_aside(db, item.id, "ambiguous", why)
            results.append(
                SendResult(item.id, "ambiguous", why, message_id=item.message_id, error=TemporaryFailure(why))
            )
        else:
            why = "the pdmail that was sending it stopped before handing it over"
            outbox_store.requeue(db, item.id, why, item.due_utc)
    return results


def cancel(db: Database, user: User, item_id: int) -> outbox_store.OutboxItem:
    return outbox_store.cancel(db, user, item_id)


def retry(db: Database, user: User, item_id: int, now: datetime, *, network: Network = NETWORK) -> SendResult:
    """The user's word that a failed or ambiguous message should go again: now."""
    item = outbox_store.retry(db, user, item_id, iso_utc(now))
    return attempt(db, item.id, now, network=network)


def list_outbox(
    db: Database,
    user: User,
    *,
    everything: bool = False,
    limit: int | None = None,
    offset: int = 0,
    search: str | None = None,
) -> list[outbox_store.OutboxItem]:
    return outbox_store.list_items(db, user, everything=everything, limit=limit, offset=offset, search=search)


def count_outbox(db: Database, user: User, *, everything: bool = False, search: str | None = None) -> int:
    return outbox_store.count_items(db, user, everything=everything, search=search)
