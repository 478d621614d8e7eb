"""Find the original inside a forwarded message, so Smart BCC can file the customer's own email.

Works on an already parsed message: an attached message/rfc822 is handed back as raw bytes for the
caller to parse; an inline forward is read from the text, where each mail client writes its own
separator and a small header block in the user's language.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from pdmail.core.addresses import normalize_address
from pdmail.core.models import Address, ParsedEmail
from pdmail.core.records import Record


class ForwardedOriginal(Record):
    """Either ``raw`` (an attached message to parse) or the fields of an inline forward."""

    raw: bytes | None = None
    from_: Address | None = None
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    date_utc: datetime | None = None
    subject: str = ""
    text: str = ""


# Separator lines, compared after quoting and surrounding space are stripped.
_SEPARATOR_RE = re.compile(
    r"""^(?:
        -{2,}\s*(?:forwarded\s+message|original\s+message|weitergeleitete\s+nachricht|
                  urspr(?:ü|ue)ngliche\s+nachricht|message\s+transf(?:é|e)r(?:é|e)|message\s+d'origine|
                  mensaje\s+reenviado|mensaje\s+original|messaggio\s+inoltrato|messaggio\s+originale|
                  doorgestuurd\s+bericht|oorspronkelijk\s+bericht)\s*-{2,}
      | begin\s+forwarded\s+message\s*:
      | anfang\s+der\s+weitergeleiteten\s+nachricht\s*:
      | d(?:é|e)but\s+du\s+message\s+r(?:é|e)exp(?:é|e)di(?:é|e)\s*:
      | _{10,}
    )$""",
    re.IGNORECASE | re.VERBOSE,
)

# Field names of forwarded header blocks, per language, mapped to what they mean.
_KEYS = {
    "from": "from", "von": "from", "de": "from", "van": "from", "da": "from", "från": "from", "fra": "from",
    "date": "date", "sent": "date", "gesendet": "date", "datum": "date", "envoyé": "date", "envoye": "date",
    "enviado": "date", "fecha": "date", "inviato": "date", "data": "date", "verzonden": "date",
    "to": "to", "an": "to", "à": "to", "a": "to", "para": "to", "aan": "to", "till": "to", "til": "to",
    "cc": "cc", "kopie": "cc", "copie": "cc",
    "subject": "subject", "betreff": "subject", "objet": "subject", "sujet": "subject",
    "asunto": "subject", "oggetto": "subject", "onderwerp": "subject", "ämne": "subject", "emne": "subject",
}  # fmt: skip
_FIELD_RE = re.compile(r"^\*?([A-Za-zÀ-ÿ][\w\-À-ÿ]{0,24})\s?\*?\s?:\*?\s*(.*)$")
_QUOTE_RE = re.compile(r"^((?:\s?>)*)\s?")
_MAILTO_RE = re.compile(r"\[mailto:([^\[\]\s]+)\]", re.IGNORECASE)  # no "[" inside: each scan ends at the next
_MAILTO_ANGLE_RE = re.compile(r"<mailto:[^<>\s]+>", re.IGNORECASE)
_ANGLE_RE = re.compile(r"<(?:mailto:)?([^<>\s]+@[^<>\s]+)>")
# A bare address: a run of address characters with an "@" past its first character and a dot past the
# "@". Tried only where a run starts, and from the first "@", so a long run that holds no address costs
# one scan, not one per character (or per "@").
_BARE_RE = re.compile(
    r"(?<![^\s<>()\[\],;:\"'])[^\s<>()\[\],;:\"'][^\s<>()\[\],;:\"'@]*@[^\s<>()\[\],;:\"']+\.[^\s<>()\[\],;:\"']+"
)
_MAX_BLOCK_LINES = 30
# Header-like blocks looked at before giving up: a real forward's block is among the first few, and
# each look reads up to _MAX_BLOCK_LINES lines. The message is then kept as it came, unwrapped.
_MAX_CANDIDATES = 200
_MAX_LIST_CHARS = 100_000  # of one forwarded To or Cc value: thousands of addresses
_MAX_NAME_CHARS = 256  # a display name split at commas is joined again up to this length, no further
_MAX_DATE_CHARS = 200  # a date as a mail client prints it is far shorter; a longer line is not read as one
# The zone that ends a Date header (RFC 5322: +hhmm, or an obsolete name), before any comment.
_DATE_ZONE_RE = re.compile(
    r"\d\s+(?:(?P<sign>[+-])(?P<hours>\d\d)(?P<minutes>\d\d)|(?P<name>UT|GMT|[ECMP][SD]T))(?:\s*\([^()]*\))?\s*$",
    re.IGNORECASE,
)
_ZONE_NAMES = {
    "UT": 0,
    "GMT": 0,
    "EST": -5,
    "EDT": -4,
    "CST": -6,
    "CDT": -5,
    "MST": -7,
    "MDT": -6,
    "PST": -8,
    "PDT": -7,
}


def find_forwarded(parsed: ParsedEmail) -> ForwardedOriginal | None:
    """The forwarded original, or None when the message forwards nothing."""
    if parsed.attached_messages:
        return ForwardedOriginal(raw=parsed.attached_messages[0])
    return find_inline_forward(parsed.text, zone=zone_of(parsed.date_header))


def zone_of(date_header: str | None) -> timezone | None:
    """The UTC offset a Date header was written in, or None when it names none (or ``-0000``, unknown).

    A client prints a forwarded message's date in its user's local time, most often without a zone,
    and writes its own Date header in that same local time: the forward's Date tells the zone.
    """
    match = _DATE_ZONE_RE.search(date_header or "")
    if match is None:
        return None
    if match.group("name"):
        hours = _ZONE_NAMES.get(match.group("name").upper())
        return None if hours is None else timezone(timedelta(hours=hours))
    sign, hours, minutes = match.group("sign"), int(match.group("hours")), int(match.group("minutes"))
    if (sign == "-" and hours == minutes == 0) or hours > 23 or minutes > 59:
        return None
    offset = timedelta(hours=hours, minutes=minutes)
    return timezone(-offset if sign == "-" else offset)


def _unquote(line: str) -> tuple[int, str]:
    match = _QUOTE_RE.match(line)
    prefix = match.group(1) if match else ""
    return prefix.count(">"), line[match.end() if match else 0 :].strip()


class _Lines:
    """The body's lines, each one unquoted and matched as a header field at most once: candidate blocks
    overlap (each reads up to _MAX_BLOCK_LINES lines ahead), so a body of many "From:" lines would
    otherwise have every line read again by each of the candidates before it. Only the lines ahead of
    the search are kept read."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self._read: dict[int, tuple[int, str, re.Match[str] | None]] = {}

    def __len__(self) -> int:
        return len(self.lines)

    def forget(self, index: int) -> None:
        """Line ``index`` will not be read again: blocks are read forward only."""
        self._read.pop(index, None)

    def read(self, index: int) -> tuple[int, str, re.Match[str] | None]:
        """(quote depth, content, header field match) of line ``index``."""
        found = self._read.get(index)
        if found is None:
            depth, content = _unquote(self.lines[index])
            found = self._read[index] = (depth, content, _FIELD_RE.match(content) if content else None)
        return found


def find_inline_forward(text: str, *, zone: timezone | None = None) -> ForwardedOriginal | None:
    """Read the first forwarded header block in a body text, behind a separator or on its own.

    ``zone``: the forwarder's UTC offset, for a forwarded date printed without one (else UTC).
    """
    lines = _Lines(text)
    candidates = 0
    for index in range(len(lines)):
        lines.forget(index - 1)
        depth, content, field_match = lines.read(index)
        if not content:
            continue
        if _SEPARATOR_RE.match(content):
            found = _read_block(lines, index + 1, depth, zone)
        elif field_match is not None and _KEYS.get(field_match.group(1).lower()) == "from":
            # Outlook's bare block: From:/Sent:/To:/Subject: with no separator above it.
            found = _read_block(lines, index, depth, zone, require_date=True)
        else:
            continue
        if found is not None:
            return found
        candidates += 1
        if candidates >= _MAX_CANDIDATES:
            break
    return None


def _read_block(
    lines: _Lines, start: int, depth: int, zone: timezone | None, *, require_date: bool = False
) -> ForwardedOriginal | None:
    index = start
    # Apple Mail and Outlook leave blank lines between the separator and the block.
    while index < len(lines) and not lines.read(index)[1] and index - start < 3:
        index += 1
    values: dict[str, str] = {}
    last: str | None = None
    end = index
    while end < len(lines) and end - index < _MAX_BLOCK_LINES:
        line_depth, content, match = lines.read(end)
        if not content or line_depth != depth:
            break
        key = _KEYS.get(match.group(1).lower()) if match else None
        if match and key is not None:
            values.setdefault(key, match.group(2).strip())
            last = key
        elif match:
            last = None  # a field we do not use (Reply-To, Importance, ...)
        elif last in ("to", "cc") and values.get(last, "").rstrip().endswith((",", ";")):
            values[last] += " " + content  # Outlook wraps long recipient lists
        else:
            break
        end += 1
    if "from" not in values or ("subject" not in values and "date" not in values):
        return None
    if require_date and "date" not in values:
        return None
    senders = parse_address_list(values["from"])
    if not senders:
        return None
    body: list[str] = []
    for line in lines.lines[end:]:
        line_depth, _ = _unquote(line)
        body.append(_strip_quotes(line, depth) if line_depth >= depth else line)
    return ForwardedOriginal(
        from_=senders[0],
        to=parse_address_list(values.get("to", "")),
        cc=parse_address_list(values.get("cc", "")),
        date_utc=parse_loose_date(values.get("date", ""), zone=zone),
        subject=values.get("subject", ""),
        text="\n".join(body).strip("\n"),
    )


def _strip_quotes(line: str, depth: int) -> str:
    for _ in range(depth):
        stripped = line.lstrip(" ")
        if not stripped.startswith(">"):
            break
        line = stripped[1:]
        if line.startswith(" "):
            line = line[1:]
    return line


def _split_list(value: str) -> list[str]:
    """Split on commas and semicolons outside quotes, angle brackets and square brackets."""
    items: list[str] = []
    current: list[str] = []
    quoted = False
    depth = 0
    for ch in value:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in "<[":
            depth += 1
        elif not quoted and ch in ">]" and depth:
            depth -= 1
        if ch in ",;" and not quoted and not depth:
            items.append("".join(current))
            current = []
        else:
            current.append(ch)
    items.append("".join(current))
    return items


def parse_address_list(value: str) -> tuple[Address, ...]:
    """Addresses as mail clients print them: ``Name <a@b>``, ``"Doe, Jane" <a@b>``, ``Name [mailto:a@b]``."""
    found: list[Address] = []
    carry = ""
    for item in _split_list(value[:_MAX_LIST_CHARS]):
        item = (carry + "," + item).strip() if carry else item.strip()
        if not item:
            continue
        item = _MAILTO_RE.sub(lambda m: f"<{m.group(1)}>", item)
        # Outlook's HTML-to-text turns links into "a@b.com<mailto:a@b.com>": keep one copy.
        without_links = _MAILTO_ANGLE_RE.sub("", item)
        if "@" in without_links:
            item = without_links
        match = _ANGLE_RE.search(item)
        if match:
            email = match.group(1)
            name = (item[: match.start()] + item[match.end() :]).strip()
        else:
            bare = _BARE_RE.search(item)
            if not bare:
                # "Doe, Jane <...>" written without quotes: the next item may need this one. Only its
                # end is kept, so that a list of many items without an address costs linear time.
                carry = item[-_MAX_NAME_CHARS:]
                continue
            email = bare.group(0)
            name = (item[: bare.start()] + item[bare.end() :]).strip()
        carry = ""
        name = name.strip().strip("\"'").strip()
        address = normalize_address(email.removeprefix("mailto:"))
        if name.lower() == address:
            name = ""
        found.append(Address(name=name, email=address))
    return tuple(found)


_AT_TIME_RE = re.compile(r"\s(?:at|um|à|a las|alle|om)\s(?=\d)", re.IGNORECASE)


def parse_loose_date(value: str, *, zone: timezone | None = None) -> datetime | None:
    """A date as a mail client prints it, as aware UTC. A date with no zone is read in ``zone`` (the
    forwarder's, see :func:`zone_of`), or as UTC when that is unknown. Too long a value is not a date."""
    value = value.strip()
    if not value or len(value) > _MAX_DATE_CHARS:
        return None
    import dateparser  # slow to import, and only forwarded mail needs it

    cleaned = _AT_TIME_RE.sub(" ", value)
    try:
        # No TIMEZONE setting: a date with a zone comes back aware, one without comes back naive.
        parsed = dateparser.parse(
            cleaned,
            languages=["en", "de", "fr", "es", "it", "nl", "sv", "da", "nb", "pt"],
            settings={"PREFER_DATES_FROM": "past"},
        )
    except (ValueError, TypeError, OverflowError, AttributeError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone or UTC)
    try:
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # a zone that puts the date outside what a datetime holds
        return None
