"""Building an outgoing message from what a user typed: pure, so hostile input is tested without a server.

Every user value is checked before it reaches a header: a line break or another control character is
refused, never folded into a new header. The Message-ID and the idempotency token are fixed here, before
any network traffic, so a retry sends the very same message and a Sent copy can be found again.
"""

from __future__ import annotations

import mimetypes
import re
import secrets
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, getaddresses

from pdmail.core.addresses import is_valid_address, normalize_address, normalize_message_id
from pdmail.core.errors import UsageError
from pdmail.core.models import Address, Direction
from pdmail.mime.limits import DEFAULT_LIMITS, ParseLimits, check_limits, size_text

TOKEN_HEADER = "X-Pdmail-Token"
MAX_REFERENCES = 20
# 7bit on the wire: bodies go out quoted-printable or base64, so no server needs 8BITMIME.
POLICY = SMTP.clone(cte_type="7bit")
_REPLY_PREFIX = re.compile(r"^\s*(?:re|aw|sv|antw|vs|odp|r)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]", re.IGNORECASE)
_TOKEN_RE = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class FileAttachment:
    filename: str
    data: bytes
    content_type: str | None = None  # guessed from the file name when None


@dataclass(frozen=True)
class Draft:
    """What the user asked to send; ``date``, ``message_id`` and ``token`` are fixed by the caller or here."""

    sender: Address  # the account's address and the user's name
    to: tuple[Address, ...]
    subject: str
    body: str
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    attachments: tuple[FileAttachment, ...] = ()
    in_reply_to: str | None = None  # normalized, without brackets
    references: tuple[str, ...] = ()
    date: datetime | None = None
    message_id: str | None = None
    token: str | None = None


@dataclass(frozen=True)
class Composed:
    """The bytes to transmit (no Bcc header) and the envelope that carries them."""

    raw: bytes
    message_id: str  # without angle brackets
    token: str
    envelope_from: str
    recipients: tuple[str, ...]  # To, Cc and Bcc, each once
    bcc: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Original:
    """What a reply needs from the message it answers."""

    message_id: str | None
    references: tuple[str, ...]
    subject: str
    direction: Direction
    from_: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]


@dataclass(frozen=True)
class ReplyFields:
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    subject: str
    in_reply_to: str | None
    references: tuple[str, ...]


# --- checking user values ---------------------------------------------------------------------


def check_header_value(what: str, value: str) -> str:
    """Refuse line breaks and control characters: they are how one header turns into two."""
    for ch in value:
        if ch != "\t" and unicodedata.category(ch) in ("Cc", "Zl", "Zp"):
            shown = "a line break" if ch in "\r\n\u2028\u2029" else f"a control character (U+{ord(ch):04X})"
            raise UsageError(f"{what} contains {shown}; remove it and try again")
    return value.replace("\t", " ")


def parse_addresses(what: str, values: Iterable[str]) -> tuple[Address, ...]:
    """``Name <addr>`` or bare addresses, several per value separated by commas; each checked."""
    out: list[Address] = []
    seen: set[str] = set()
    for value in values:
        check_header_value(what, value)
        if not value.strip():
            continue
        pairs = getaddresses([value])
        if not pairs or any(not addr for _, addr in pairs):
            raise UsageError(f"{what}: cannot read {value!r} as email addresses")
        for name, addr in pairs:
            out_addr = _checked_address(what, name, addr)
            if out_addr.email not in seen:
                seen.add(out_addr.email)
                out.append(out_addr)
    return tuple(out)


def format_address(address: Address) -> str:
    """``Name <addr>`` as a person types it (the name quoted when it needs to be), or the bare address.
    Unlike a header, a name in another script stays as it is, for the person to read."""
    if not address.name:
        return address.email
    name = address.name
    if any(ch in name for ch in ',;<>@"()[]:\\.'):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{address.email}>"


def _checked_address(what: str, name: str, addr: str) -> Address:
    addr = addr.strip()
    if not addr.isascii():
        raise UsageError(f"{what}: {addr!r} has non-ASCII characters, which pdmail cannot send yet")
    if not is_valid_address(addr):
        raise UsageError(f"{what}: {addr!r} is not an email address")
    check_header_value(what, name)
    return Address(" ".join(name.split()), normalize_address(addr))


# --- replies ----------------------------------------------------------------------------------


def reply_subject(subject: str) -> str:
    """``Re: `` once: a subject that already starts with a reply prefix keeps it as it is."""
    text = " ".join((subject or "").split())
    return text if _REPLY_PREFIX.match(text) else f"Re: {text}".rstrip()


def reply_fields(original: Original, own_addresses: Iterable[str], *, reply_all: bool = True) -> ReplyFields:
    """Recipients, subject and threading headers of a reply.

    Answering incoming mail goes to its Reply-To (else its From); with ``reply_all`` the other To/Cc
    recipients go to Cc. Answering one's own sent mail goes to the same To and Cc again (a follow-up).
    The user's own addresses are never recipients.
    """
    own = {normalize_address(a) for a in own_addresses}
    if original.direction == "outgoing":
        to = _without(original.to, own)
        cc = _without(original.cc, own) if reply_all else ()
    else:
        to = _without(original.reply_to or original.from_, own)
        cc = _without((*original.to, *original.cc), own | {a.email for a in to}) if reply_all else ()
    if not to and cc:
        to, cc = cc[:1], cc[1:]
    parent = normalize_message_id(original.message_id)
    refs = [r for r in original.references if r != parent]
    if parent:
        refs.append(parent)
    if len(refs) > MAX_REFERENCES:
        refs = refs[:1] + refs[-(MAX_REFERENCES - 1) :]
    return ReplyFields(to, cc, reply_subject(original.subject), parent, tuple(refs))


def _without(group: Sequence[Address], skip: set[str]) -> tuple[Address, ...]:
    """The group less ``skip``, and less what the original held that is no address (kept as written)."""
    out: list[Address] = []
    seen = set(skip)
    for a in group:
        if a.email and a.email not in seen and is_valid_address(a.email):
            seen.add(a.email)
            out.append(a)
    return tuple(out)


# --- building ---------------------------------------------------------------------------------


def new_token() -> str:
    return secrets.token_hex(16)


def new_message_id(sender_address: str) -> str:
    """Random left part, the sender's domain on the right: unique without asking any server."""
    domain = sender_address.rpartition("@")[2] or "localhost"
    return f"{secrets.token_hex(12)}@{domain}"


def is_token(value: str | None) -> bool:
    return bool(value and _TOKEN_RE.match(value.strip()))


def guess_type(filename: str) -> str:
    guessed, encoding = mimetypes.guess_type(filename, strict=False)
    if guessed is None or encoding is not None:
        return "application/octet-stream"
    return guessed


def compose(draft: Draft, *, limits: ParseLimits = DEFAULT_LIMITS, unfinished: bool = False) -> Composed:
    """The message as bytes with CRLF line ends, ready for SMTP and for the Sent folder.

    ``unfinished``: a draft kept to finish later, which may have no recipient yet (it is never sent
    as it is)."""
    if not (draft.to or draft.cc or draft.bcc or unfinished):
        raise UsageError("no recipient: give --to (or --reply-to ID)")
    subject = check_header_value("the subject", draft.subject)
    sender = _checked_address("the sender", draft.sender.name, draft.sender.email)
    to = tuple(_checked_address("--to", a.name, a.email) for a in draft.to)
    cc = tuple(_checked_address("--cc", a.name, a.email) for a in draft.cc)
    bcc = tuple(_checked_address("--bcc", a.name, a.email) for a in draft.bcc)
    message_id = normalize_message_id(draft.message_id) if draft.message_id else new_message_id(sender.email)
    if not message_id or not message_id.isascii():
        raise UsageError(f"not a usable Message-ID: {draft.message_id!r}")
    token = draft.token or new_token()
    if not is_token(token):
        raise UsageError(f"not a usable idempotency token: {token!r}")
    date = draft.date or datetime.now(UTC)
    if date.tzinfo is None:
        raise ValueError("the Date must be timezone-aware")

    msg = EmailMessage(policy=POLICY)
    msg["From"] = _header_address(sender)
    if to:
        msg["To"] = [_header_address(a) for a in to]
    if cc:
        msg["Cc"] = [_header_address(a) for a in cc]
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date.astimezone(UTC))
    msg["Message-ID"] = f"<{message_id}>"
    parent = normalize_message_id(draft.in_reply_to) if draft.in_reply_to else None
    if parent:
        msg["In-Reply-To"] = f"<{parent}>"
    refs = [normalize_message_id(r) for r in draft.references]
    refs = [r for r in refs if r and r.isascii()]
    if refs:
        msg["References"] = " ".join(f"<{r}>" for r in refs)
    msg[TOKEN_HEADER] = token
    msg.set_content(_body_text(draft.body))
    for item in draft.attachments:
        name = check_header_value("an attachment's file name", item.filename)
        ctype = item.content_type or guess_type(name)
        maintype, _, subtype = ctype.partition("/")
        if not subtype or not re.fullmatch(r"[\w.+-]+", maintype + subtype):
            raise UsageError(f"not a content type: {ctype!r}")
        msg.add_attachment(item.data, maintype=maintype, subtype=subtype, filename=name)
        *_, attachment = msg.iter_parts()
        del attachment["MIME-Version"]

    raw = msg.as_bytes(policy=POLICY)
    if len(raw) > limits.max_size:
        raise UsageError(
            f"the message would be {size_text(len(raw))} with its attachments, over the "
            f"{size_text(limits.max_size)} limit; send large files as links"
        )
    reason = check_limits(raw, limits)
    if reason:
        raise UsageError(f"the message cannot be sent: {reason}")
    recipients: list[str] = []
    for a in (*to, *cc, *bcc):
        if a.email not in recipients:
            recipients.append(a.email)
    return Composed(raw, message_id, token, sender.email, tuple(recipients), tuple(a.email for a in bcc))


def _header_address(a: Address) -> HeaderAddress:
    return HeaderAddress(display_name=a.name, addr_spec=a.email)


def _body_text(body: str) -> str:
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    return text if text.endswith("\n") else text + "\n"
