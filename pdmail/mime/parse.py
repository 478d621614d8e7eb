"""Raw message bytes → ``ParsedEmail``. Pure, and the only importer of the ``email`` package.

Real mail breaks strict parsers, so this module decodes defensively and never raises on bad content:
anything odd becomes a defect string and a best-effort value. Only input that is not a message at all,
or is over a limit, is refused with ``MessageRefused``.

The MIME tree is walked over the raw bytes with an explicit stack rather than through
``email.parser``: no recursion however deep the nesting, no re-serialization of parsed trees, and an
attached message/rfc822 part is kept byte for byte, so a forwarded original can be parsed on its own.
"""

from __future__ import annotations

import binascii
import codecs
import re
from datetime import UTC, datetime, timedelta, timezone
from email._parseaddr import parsedate_tz  # type: ignore[import-not-found]  # what email.utils exports, unstubbed here
from functools import lru_cache
from urllib.parse import unquote_to_bytes

from pdmail.core.addresses import normalize_address, normalize_message_id
from pdmail.core.errors import InputRefused
from pdmail.core.models import Address, Attachment, ParsedEmail
from pdmail.mime.address_list import read_mailboxes
from pdmail.mime.fingerprint import sha256_hex
from pdmail.mime.limits import DEFAULT_LIMITS, ParseLimits, check_limits, message_start

__all__ = [
    "DEFECT_FROM_SEVERAL_HEADERS",
    "DEFECT_FROM_SEVERAL_MAILBOXES",
    "MAX_REFERENCES",
    "MAX_TEXT_CHARS",
    "MessageRefused",
    "attachment_payloads",
    "decode_header_text",
    "parse_message",
    "without_surrogates",
]

MAX_TEXT_CHARS = 1_000_000
MAX_REFERENCES = 100

DEFECT_FROM_SEVERAL_HEADERS = "duplicate From"
DEFECT_FROM_SEVERAL_MAILBOXES = "From header with several mailboxes"

# Headers of which at least one must be present for the input to count as a message.
_MESSAGE_FIELDS = frozenset(
    {
        "from", "to", "cc", "subject", "date", "message-id", "received", "mime-version",
        "content-type", "return-path", "delivered-to", "sender", "reply-to", "in-reply-to",
    }
)  # fmt: skip


class MessageRefused(InputRefused):
    """The bytes are over a parsing limit or are not an email message; the caller quarantines them."""


# ---------------------------------------------------------------------------------------------------
# Text decoding


@lru_cache(maxsize=256)
def _codec(label: str) -> str | None:
    """A Python text codec for a declared charset, or None when the label names none."""
    name = label.strip().strip("\"'").lower()
    name = _CHARSET_ALIASES.get(name, name)
    if not name:
        return None
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_CHARSETS:
        return None
    return info.name


# Python text codecs that no mail charset names: they read escape sequences (``\ud800``) or labels
# rather than mapping bytes to characters, so a sender could make the text say something else or
# hold what no text may (a lone surrogate). Such a label reads as an unknown charset.
_NOT_CHARSETS = frozenset({"unicode-escape", "raw-unicode-escape", "punycode", "idna", "undefined"})
# Charsets written in 7-bit bytes with shifts or escapes of their own: ASCII bytes are not ASCII text.
_SEVEN_BIT_CODECS = frozenset(
    {"utf-7", "hz", *(f"iso2022_{v}" for v in ("jp", "jp_1", "jp_2", "jp_2004", "jp_3", "jp_ext", "kr"))}
)
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def without_surrogates(text: str) -> str:
    """Lone UTF-16 surrogates (UTF-7 can encode them) replaced: no stored or printed text may hold one.

    Every decoded body passes here, so the usual case is asked of the UTF-8 encoder, which refuses
    surrogates and nothing else: several times faster than searching for them with a pattern.
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE_RE.sub("\ufffd", text)
    return text


_CHARSET_ALIASES = {
    "unknown-8bit": "",
    "x-unknown": "",
    "unknown": "",
    "default": "",
    "charset": "",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "iso-8859-8-i": "iso-8859-8",
    "windows-874": "cp874",
    "x-mac-roman": "mac-roman",
    "ansi_x3.4-1968": "ascii",
    "utf-8-sig": "utf-8",
}


def _decode_bytes(data: bytes, charset: str | None) -> tuple[str, str | None]:
    """Text and an optional defect. Declared charset first, then UTF-8, then cp1252; never raises."""
    codec = _codec(charset) if charset else None
    if data.isascii() and codec not in _SEVEN_BIT_CODECS:
        return data.decode("ascii"), None
    defect = None
    if charset:
        if codec is None:
            return _decode_replacing(data, None), f"unknown charset {charset.strip()[:40]!r}"
        try:
            return without_surrogates(data.decode(codec)), None
        except (UnicodeError, LookupError, ValueError, TypeError):
            defect = f"text does not match its declared charset {charset.strip()[:40]!r}"
    for fallback in ("utf-8", "cp1252"):
        try:
            return data.decode(fallback), defect
        except UnicodeError:
            continue
    return data.decode("latin-1"), defect


def _decode_replacing(data: bytes, codec: str | None) -> str:
    """Decode with replacement characters; a label naming no usable codec reads as UTF-8."""
    if codec:
        try:
            return without_surrogates(data.decode(codec, "replace"))
        except (UnicodeError, LookupError, ValueError, TypeError):
            pass
    return data.decode("utf-8", "replace")


def _header_bytes_to_text(value: bytes) -> str:
    """Raw 8-bit header bytes (outside RFC 2047) as text: UTF-8 when valid, else Windows-1252."""
    if value.isascii():
        text = value.decode("ascii")
    else:
        text, _ = _decode_bytes(value, None)
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text


_ENCODED_WORD_RE = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_JUNK = bytes(sorted(set(range(256)) - set(_B64_ALPHABET)))


def _b64decode(data: bytes) -> tuple[bytes, bool]:
    """Decoded bytes and whether the input was damaged. Bad base64 never raises."""
    try:
        return binascii.a2b_base64(data), False
    except (binascii.Error, ValueError):
        pass
    clean = data.translate(None, _B64_JUNK)
    cut = len(clean) % 4
    if cut == 1:
        clean = clean[:-1]
    elif cut:
        clean += b"=" * (4 - cut)
    try:
        return binascii.a2b_base64(clean), True
    except (binascii.Error, ValueError):
        return b"", True


def _decode_word(charset: str, encoding: str, payload: str) -> tuple[bytes, str]:
    data = payload.encode("ascii", "replace")
    if encoding in "bB":
        raw, _ = _b64decode(data)
    else:
        raw = binascii.a2b_qp(data, header=True)
    # RFC 2231 allows a language after the charset: utf-8*en.
    return raw, charset.partition("*")[0].lower()


def decode_header_text(value: str) -> str:
    """RFC 2047 encoded words decoded, in one linear pass; unknown charsets give replacement characters.

    Adjacent encoded words in the same charset are joined before decoding, so a character split across
    two words survives; the whitespace between encoded words is dropped, as the RFC says.
    """
    if "=?" not in value:
        return value
    out: list[str] = []
    pos = 0
    pending = bytearray()
    pending_charset: str | None = None

    def flush() -> None:
        nonlocal pending_charset
        if pending_charset is not None:
            out.append(_decode_replacing(bytes(pending), _codec(pending_charset)))
            pending.clear()
            pending_charset = None

    for match in _ENCODED_WORD_RE.finditer(value):
        gap = value[pos : match.start()]
        raw, charset = _decode_word(match.group(1), match.group(2), match.group(3))
        after_word = pending_charset is not None
        if after_word and not gap.strip() and charset == pending_charset:
            pending.extend(raw)
        else:
            flush()
            if gap and not (after_word and not gap.strip()):
                out.append(gap)
            pending.extend(raw)
            pending_charset = charset
        pos = match.end()
    flush()
    out.append(value[pos:])
    return "".join(out)


# ---------------------------------------------------------------------------------------------------
# Header blocks

_FIELD_RE = re.compile(rb"([!-9;-~]+)[ \t]*:")
_BLANK_LINE_RE = re.compile(rb"\n\r?\n")


class _Header:
    """Fields of one entity, in order; names lower-case, values unfolded raw bytes."""

    __slots__ = ("_index", "fields")

    def __init__(self, fields: list[tuple[str, bytes]]) -> None:
        self.fields = fields
        index: dict[str, list[bytes]] = {}
        for name, value in fields:
            index.setdefault(name, []).append(value)
        self._index = index

    def count(self, name: str) -> int:
        return len(self._index.get(name, ()))

    def all(self, name: str) -> list[str]:
        return [_header_bytes_to_text(v).strip() for v in self._index.get(name, ())]

    def first(self, name: str) -> str | None:
        values = self._index.get(name)
        return _header_bytes_to_text(values[0]).strip() if values else None

    def names(self) -> set[str]:
        return set(self._index)


# A header block cut where a line does not start with white space: one piece per field, with its
# continuation lines. Nearly every header is read this way, without a look at each of its lines.
_FIELD_START_RE = re.compile(rb"\n(?![ \t])")
_FIELD_NAME_RE = re.compile(rb"[!-9;-~]+[ \t]*")


def _split_header(buf: bytes, start: int, end: int, *, quick: bool = True) -> tuple[_Header, int, list[str]]:
    """The header of the entity in ``buf[start:end]``, where its body starts, and header defects.

    Lines that are not fields are skipped when a field follows them before the blank line; after the
    last field they start the body, which is where a strict parser would put them too. A block of
    well-formed fields alone is cut field by field (:func:`_whole_fields`); any other, or every one
    with ``quick=False`` (the reference the quick reading is tested against), line by line.
    """
    if buf.startswith(b"\n", start) or buf.startswith(b"\r\n", start):
        return _Header([]), buf.find(b"\n", start) + 1, []
    blank = _BLANK_LINE_RE.search(buf, start, end)
    block_end = blank.start() + 1 if blank else end
    body_start = blank.end() if blank else end
    fields = _whole_fields(buf, start, block_end) if quick else None
    if fields is not None:
        return _Header(fields), min(body_start, end), []
    return _split_header_lines(buf, start, block_end, body_start, end)


def _whole_fields(buf: bytes, start: int, block_end: int) -> list[tuple[str, bytes]] | None:
    """The fields of a header block that holds nothing but well-formed fields (no NUL, no stray line,
    no CR but before an LF), as :func:`_split_header_lines` reads them; None for any other block."""
    block = buf[start:block_end]
    if b"\r" in block:
        block = block.replace(b"\r\n", b"\n")
        if b"\r" in block:
            return None
    if b"\x00" in block:
        return None
    pieces = _FIELD_START_RE.split(block)
    if pieces[-1] == b"":
        pieces.pop()
    fields: list[tuple[str, bytes]] = []
    is_name = _FIELD_NAME_RE.fullmatch
    for piece in pieces:
        name, colon, value = piece.partition(b":")
        if not colon or is_name(name) is None:
            return None
        if b"\n" in value:
            value = value.replace(b"\n", b"")
        fields.append((name.rstrip(b" \t").decode("ascii").lower(), value))
    return fields


def _split_header_lines(
    buf: bytes, start: int, block_end: int, body_start: int, end: int
) -> tuple[_Header, int, list[str]]:
    """:func:`_split_header` line by line: for a block with a stray line, a NUL or a field without a name."""
    defects: list[str] = []
    lines = buf[start:block_end].split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()

    # Each line is a field (its name match), a continuation (True) or something else (None).
    kinds: list[re.Match[bytes] | bool | None] = []
    last_field = -1
    for i, line in enumerate(lines):
        if line[:1] in (b" ", b"\t"):
            kinds.append(True)
            continue
        match = _FIELD_RE.match(line)
        kinds.append(match)
        if match:
            last_field = i

    fields: list[tuple[str, bytes]] = []
    name: str | None = None
    parts: list[bytes] = []
    offset = start
    for i, line in enumerate(lines):
        kind = kinds[i]
        if i > last_field and kind is None:
            body_start = offset
            break
        offset += len(line) + 1
        if kind is True and name is not None:
            parts.append(line.rstrip(b"\r"))
            continue
        if name is not None:
            fields.append((name, b"".join(parts)))
            name = None
        if isinstance(kind, re.Match):
            name = kind.group(1).decode("ascii").lower()
            parts = [line[kind.end() :].rstrip(b"\r")]
            if b"\x00" in line:
                defects.append("NUL byte in a header")
        elif kind is True:
            defects.append("continuation line before the first header field")
        elif line.strip():
            defects.append("non-header line in header block")
    if name is not None:
        fields.append((name, b"".join(parts)))
    return _Header(fields), min(body_start, end), defects


# ---------------------------------------------------------------------------------------------------
# Structured header values

_PARAM_RE = re.compile(r';\s*([^\s=;"]+)\s*=\s*("(?:[^"\\]|\\.)*"?|[^;]*)')
_QUOTED_PAIR_RE = re.compile(r"\\(.)")


def _content_params(value: str) -> tuple[str, dict[str, str]]:
    """(lower-case token before the first ';', parameters with RFC 2231 and 2047 decoded)."""
    head, sep, _ = value.partition(";")
    token = head.strip().lower()
    if not sep:
        return token, {}
    plain: dict[str, str] = {}
    pieces: dict[str, dict[int, tuple[str, bool]]] = {}
    for match in _PARAM_RE.finditer(value, len(head)):
        key = match.group(1).lower()
        raw = match.group(2).strip()
        if raw.startswith('"'):
            raw = _QUOTED_PAIR_RE.sub(r"\1", raw[1:-1] if raw.endswith('"') and len(raw) > 1 else raw[1:])
        if "*" in key:
            base, _, rest = key.partition("*")
            encoded = rest.endswith("*") or rest == ""
            digits = rest.rstrip("*")
            index = int(digits) if digits.isdigit() and len(digits) < 5 else 0
            pieces.setdefault(base, {})[index] = (raw, encoded)
        else:
            plain.setdefault(key, raw)
    for base, chunks in pieces.items():
        plain[base] = _join_rfc2231(chunks)
    return token, plain


def _join_rfc2231(chunks: dict[int, tuple[str, bool]]) -> str:
    charset = None
    data = bytearray()
    order = sorted(chunks)
    for index in order:
        raw, encoded = chunks[index]
        if encoded:
            if index == order[0] and raw.count("'") >= 2:
                charset, _language, raw = raw.split("'", 2)
            data.extend(unquote_to_bytes(raw))
        else:
            data.extend(raw.encode("utf-8", "surrogateescape"))
    text, _ = _decode_bytes(bytes(data), charset or None)
    return text


def _strip_quotes_and_comments(value: str) -> str:
    """The value with quoted strings and (nested) comments blanked out; <...> spans are left alone."""
    if '"' not in value and "(" not in value:
        return value  # nothing to blank: the walk below would copy it unchanged, a character at a time
    out: list[str] = []
    depth = 0
    quoted = False
    angle = False
    escape = False
    for ch in value:
        if escape:
            escape = False
            out.append(" ")
            continue
        if quoted:
            if ch == "\\":
                escape = True
            elif ch == '"':
                quoted = False
            out.append(" ")
            continue
        if depth:
            if ch == "\\":
                escape = True
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            out.append(" ")
            continue
        if angle:
            if ch == ">":
                angle = False
            out.append(ch)
            continue
        if ch == '"':
            quoted = True
            out.append(" ")
        elif ch == "(":
            depth = 1
            out.append(" ")
        elif ch == "<":
            angle = True
            out.append(ch)
        else:
            out.append(ch)
    return "".join(out)


_WHITESPACE_RE = re.compile(r"\s")
# A token is tried only from the start of a run of its characters (the look-behind): tried from every
# character, a long run without "@" would be scanned again from each one, in quadratic time.
_ADDR_TOKEN_RE = re.compile(r"(?<![^\s<>(),;:\"\[\]])[^\s<>(),;:\"\[\]]+@[^\s<>(),;:\"\[\]]+")


# The shapes nearly every address header has: ``Name <local@domain>``, ``"Last, First" <local@domain>``
# and a bare ``local@domain``, separated by commas; no comments, groups, escapes or source routes.
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_DOMAIN = r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_PHRASE = r"[^\s\"<>()\[\]\\,;:@.]+(?:[ \t]+[^\s\"<>()\[\]\\,;:@.]+)*"


def _mailbox(group: str) -> str:
    """One mailbox of the common shapes; ``group`` names its parts (``(?P<quoted>``...) or is ``(?:``."""
    named = group != "(?:"
    quoted, phrase, angle, bare = ((f"(?P<{n}>" if named else "(?:") for n in ("quoted", "phrase", "angle", "bare"))
    return (
        rf'[ \t]*(?:(?:"{quoted}[^"\\\r\n]*)"|{phrase}{_PHRASE}))?[ \t]*<{angle}{_LOCAL}@{_DOMAIN})>'
        rf"|{bare}{_LOCAL}@{_DOMAIN}))[ \t]*"
    )


_MAILBOX_RE = re.compile(_mailbox("(?P<"))
_MAILBOX_LIST_RE = re.compile(rf"(?:{_mailbox('(?:')},)*{_mailbox('(?:')}")


def _simple_mailboxes(value: str) -> list[tuple[str, str]] | None:
    """(name, address) pairs as ``getaddresses`` gives them, when ``value`` has only the common shapes.

    A regular expression reads those at C speed; the standard parser walks the text a character at
    a time in Python, which made addresses a third of the time spent parsing a message.
    """
    if not _MAILBOX_LIST_RE.fullmatch(value):
        return None
    pairs = []
    for m in _MAILBOX_RE.finditer(value):
        if m["bare"] is not None:
            pairs.append(("", m["bare"]))
        else:
            name = m["quoted"] if m["quoted"] is not None else " ".join((m["phrase"] or "").split())
            pairs.append((name, m["angle"]))
    return pairs


def _parse_addresses(value: str, *, count_hidden: bool = False) -> tuple[list[Address], int]:
    """Mailboxes of one address header, and (with ``count_hidden``) how many distinct addresses its
    text really holds, which catches values like ``a@x.com<b@y.com>`` that a parser may read as one.

    A mailbox that holds no address (``a@b.example@host``, ``@list.example``) is kept with its text as
    written in place of the address: shown and searchable like the rest, it matches no one.
    """
    simple = _simple_mailboxes(value)
    if simple is not None:
        pairs = [(name, normalize_address(addr)) for name, addr in simple]
    else:
        pairs = [(m.name, m.address) for m in read_mailboxes(value)]
    found: list[Address] = []
    seen: set[str] = set()
    for name, email in pairs:
        if email in seen:
            continue
        seen.add(email)
        name = decode_header_text(name).strip().strip('"').strip()
        found.append(Address(name=name, email=email))
    if not count_hidden or simple is not None:  # the simple shapes hide no address outside <...>
        return found, len(found)
    distinct = {normalize_address(t) for t in _ADDR_TOKEN_RE.findall(_strip_quotes_and_comments(value))}
    return found, max(len(found), len(distinct))


def _address_list(values: list[str]) -> tuple[Address, ...]:
    out: list[Address] = []
    for value in values:
        out.extend(_parse_addresses(value)[0])
    return tuple(out)


# Bare ids are tried only from the start of a run, as in _ADDR_TOKEN_RE.
_ID_RE = re.compile(r"<([^<>]*)>|(?<![^\s<>,;\"()\[\]])([^\s<>,;\"()\[\]]+@[^\s<>,;\"()\[\]]+)")


def _message_ids(value: str) -> list[str]:
    """Every id in an In-Reply-To/References value: bracketed ones, and bare ``local@domain`` ones."""
    ids: list[str] = []
    for match in _ID_RE.finditer(_strip_quotes_and_comments(value)):
        norm = normalize_message_id(match.group(1) if match.group(1) is not None else match.group(2))
        if norm:
            ids.append(norm)
    return ids


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _written_message_id(value: str | None) -> str | None:
    if not value:
        return None
    match = re.search(r"<([^<>]*)>", value)
    text = (match.group(1) if match else value).strip()
    if not text:
        return None
    return text.split()[0]


def _header_date(value: str) -> datetime | None:
    """The moment a Date header names, as ``email.utils.parsedate_to_datetime`` reads it (a date without
    a zone, or ``-0000``, is UTC). Read with the parser underneath it: ``email.utils`` also loads the
    socket, random and MIME-encoding modules, a tenth of what a piped message costs to start."""
    fields = parsedate_tz(value)
    if fields is None:
        return None
    year, month, day, hour, minute, second = fields[:6]
    offset = fields[9] or 0
    return datetime(year, month, day, hour, minute, second, tzinfo=timezone(timedelta(seconds=offset)))


def _parse_date(value: str | None) -> datetime | None:
    """Aware UTC, or None when missing, unparseable or outside 1990–2100."""
    if not value:
        return None
    try:
        parsed = _header_date(value)
        if parsed is None:
            return None
        parsed = parsed.astimezone(UTC)
    except (TypeError, ValueError, IndexError, OverflowError, AttributeError):
        return None
    if not 1990 <= parsed.year <= 2100:
        return None
    return parsed


def _clean_line(text: str) -> str:
    """A single-line header value: unfolded, no CR/LF/NUL, trimmed."""
    if "\r" in text or "\n" in text:
        text = text.replace("\r", " ").replace("\n", " ")
    return text.strip()


# ---------------------------------------------------------------------------------------------------
# MIME walk


def _split_multipart(buf: bytes, start: int, end: int, boundary: bytes) -> tuple[list[tuple[int, int]], bool]:
    """Byte ranges of the parts between ``--boundary`` lines, and whether a closing line was seen."""
    delimiter = b"--" + boundary
    parts: list[tuple[int, int]] = []
    part_start: int | None = None
    pos = start
    while True:
        i = buf.find(delimiter, pos, end)
        if i == -1:
            break
        after = i + len(delimiter)
        if i != start and buf[i - 1] != 0x0A:  # not at a line start
            pos = after
            continue
        nl = buf.find(b"\n", after, end)
        line_end = end if nl == -1 else nl + 1
        rest = buf[after:line_end].rstrip()
        closing = rest[:2] == b"--" and not rest[2:].strip()
        if rest and not closing:
            pos = after
            continue
        if part_start is not None:
            part_end = i
            if part_end > part_start and buf[part_end - 1] == 0x0A:
                part_end -= 1
                if part_end > part_start and buf[part_end - 1] == 0x0D:
                    part_end -= 1
            parts.append((part_start, part_end))
        if closing:
            return parts, True
        part_start = line_end
        pos = line_end
    if part_start is not None:
        parts.append((part_start, end))
    return parts, False


def _transfer_decode(data: bytes, cte: str) -> tuple[bytes, bool]:
    if cte == "base64":
        return _b64decode(data)
    if cte == "quoted-printable":
        return binascii.a2b_qp(data), False
    return data, False


def _decoded_size(data: bytes, cte: str) -> int:
    """Size of a part once decoded, computed without keeping the decoded bytes."""
    if cte == "base64":
        return len(data.translate(None, _B64_JUNK)) * 3 // 4
    if cte == "quoted-printable":
        return len(binascii.a2b_qp(data))
    return len(data)


_UNSAFE_NAME_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _safe_filename(name: str) -> str:
    """A display and save name: the last path component, no control characters, no leading dots."""
    name = _UNSAFE_NAME_RE.sub("", name).replace("\\", "/")
    name = name.rsplit("/", 1)[-1].strip().lstrip(".").strip()
    return name[:255]


class _Body:
    """What the walk gathers from the parts."""

    def __init__(self) -> None:
        self.plain: list[str] = []
        self.html: list[str] = []
        self.attachments: list[Attachment] = []
        self.payloads: list[bytes] | None = None  # decoded bytes of each attachment, when asked for
        self.messages: list[bytes] = []
        self.defects: list[str] = []
        self.parts = 0


def _walk(buf: bytes, top: _Header, top_body: int, limits: ParseLimits, *, payloads: bool = False) -> _Body:
    """Visit every MIME entity with an explicit stack (document order, no recursion)."""
    found = _Body()
    if payloads:
        found.payloads = []
    # (start, end, depth, default content type, may give text, pre-split header or None)
    stack: list[tuple[int, int, int, str, bool, tuple[_Header, int] | None]] = [
        (0, len(buf), 0, "text/plain", True, (top, top_body))
    ]
    while stack:
        start, end, depth, default_type, text_ok, pre = stack.pop()
        if pre is None:
            header, body_start, defects = _split_header(buf, start, end)
            found.defects.extend(defects)
        else:
            header, body_start = pre
        ctype_value = header.first("content-type")
        ctype, params = _content_params(ctype_value) if ctype_value else (default_type, {})
        if "/" not in ctype:
            ctype, params = "text/plain", params
        cte = (header.first("content-transfer-encoding") or "").strip().lower()
        disposition_value = header.first("content-disposition")
        disposition, dparams = _content_params(disposition_value) if disposition_value else ("", {})
        body_start = min(body_start, end)

        if ctype.startswith("multipart/"):
            boundary = params.get("boundary", "").rstrip()
            if boundary:
                if depth >= limits.max_mime_depth:
                    found.defects.append("MIME nesting too deep; inner parts skipped")
                    continue
                ranges, closed = _split_multipart(buf, body_start, end, boundary.encode("utf-8", "replace"))
                if not closed:
                    found.defects.append("multipart without closing boundary")
                if found.parts + len(ranges) > limits.max_parts:
                    found.defects.append("too many MIME parts; the rest skipped")
                    ranges = ranges[: max(0, limits.max_parts - found.parts)]
                found.parts += len(ranges)
                child_default = "message/rfc822" if ctype == "multipart/digest" else "text/plain"
                children = [(s, e, *_split_header(buf, s, e)) for s, e in ranges]
                chosen = _preferred_alternative(children) if ctype == "multipart/alternative" else None
                for index in range(len(children) - 1, -1, -1):
                    s, e, child_header, child_body, child_defects = children[index]
                    found.defects.extend(child_defects)
                    child_text_ok = text_ok and (chosen is None or index == chosen)
                    stack.append((s, e, depth + 1, child_default, child_text_ok, (child_header, child_body)))
                continue
            found.defects.append("multipart without boundary")
            ctype = "text/plain"

        filename = dparams.get("filename") or params.get("name") or ""
        filename = _safe_filename(decode_header_text(filename)) if filename else ""
        is_inline = disposition == "inline" or (not disposition and header.count("content-id") > 0)
        data = buf[body_start:end]

        if ctype in ("message/rfc822", "message/global"):
            raw_message, damaged = _transfer_decode(data, cte)
            if damaged:
                found.defects.append("bad base64 in an attached message")
            found.messages.append(raw_message)
            found.attachments.append(Attachment(filename or "message.eml", ctype, len(raw_message), is_inline))
            if found.payloads is not None:
                found.payloads.append(raw_message)
            continue

        is_body_text = ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename
        if is_body_text and text_ok:
            decoded, damaged = _transfer_decode(data, cte)
            if damaged:
                found.defects.append("bad base64 in a text part")
            text, defect = _decode_bytes(decoded, params.get("charset"))
            if defect:
                found.defects.append(defect)
            if "\r" in text:
                text = text.replace("\r\n", "\n").replace("\r", "\n")
            if text.strip():
                (found.plain if ctype == "text/plain" else found.html).append(text)
            continue
        if is_body_text:
            continue  # the alternative we did not choose
        if not filename:
            if ctype == "application/ms-tnef":
                filename = "winmail.dat"
            elif ctype == "text/calendar":
                filename = "invite.ics"
        found.attachments.append(Attachment(filename, ctype, _decoded_size(data, cte), is_inline))
        if found.payloads is not None:
            found.payloads.append(_transfer_decode(data, cte)[0])
    return found


def _preferred_alternative(children: list[tuple[int, int, _Header, int, list[str]]]) -> int | None:
    """Index of the alternative to read: plain text first, then a nested multipart, then HTML."""
    types = []
    for _, _, header, _, _ in children:
        value = header.first("content-type")
        types.append(_content_params(value)[0] if value else "text/plain")
    for wanted in ("text/plain", "multipart/", "text/html"):
        for index, ctype in enumerate(types):
            if ctype == wanted or (wanted.endswith("/") and ctype.startswith(wanted)):
                return index
    return len(children) - 1 if children else None


# ---------------------------------------------------------------------------------------------------
# The message


def parse_message(raw: bytes, *, limits: ParseLimits = DEFAULT_LIMITS) -> ParsedEmail:
    """Parse one message. Raises ``MessageRefused`` only for input over a limit or not a message."""
    if not raw or not raw.strip():
        raise MessageRefused("empty input: not an email message")
    reason = check_limits(raw, limits)
    if reason:
        raise MessageRefused(reason)
    start = message_start(raw)
    buf = raw[start:] if start else raw
    header, body_start, defects = _split_header(buf, 0, len(buf))
    if not header.names() & _MESSAGE_FIELDS:
        raise MessageRefused("not an email message: no header fields")

    from_values = header.all("from")
    from_: list[Address] = []
    for value in from_values:
        mailboxes, distinct = _parse_addresses(value, count_hidden=True)
        from_.extend(mailboxes)
        if distinct > 1 or len(mailboxes) > 1:
            defects.append(DEFECT_FROM_SEVERAL_MAILBOXES)
    if len(from_values) > 1:
        defects.append(DEFECT_FROM_SEVERAL_HEADERS)

    subjects = header.all("subject")
    if len(subjects) > 1:
        defects.append("duplicate Subject")
    subject = _clean_line(decode_header_text(subjects[0])) if subjects else ""

    date_header = header.first("date")
    if header.count("date") > 1:
        defects.append("duplicate Date")
    date_utc = _parse_date(date_header)
    date_source = "header"
    if date_utc is None:
        if date_header:
            defects.append("unparseable Date")
        received = header.first("received")
        date_utc = _parse_date(received.rpartition(";")[2]) if received and ";" in received else None
        date_source = "received" if date_utc else "none"

    message_id = _written_message_id(header.first("message-id"))
    message_id_norm = normalize_message_id(message_id)
    alt = header.first("x-microsoft-original-message-id")
    alt_message_id = normalize_message_id(_written_message_id(alt))

    own = {message_id_norm} if message_id_norm else set()
    in_reply_to = [i for i in _dedupe([i for v in header.all("in-reply-to") for i in _message_ids(v)]) if i not in own]
    references = [i for i in _dedupe([i for v in header.all("references") for i in _message_ids(v)]) if i not in own]
    if len(references) > MAX_REFERENCES:
        references = references[-MAX_REFERENCES:]

    senders = _address_list(header.all("sender"))
    x_original = _address_list(header.all("x-original-from"))
    delivered = _dedupe([a.email for a in _address_list(header.all("delivered-to") + header.all("x-original-to"))])

    body = _walk(buf, header, body_start, limits)
    defects.extend(body.defects)
    if body.plain:
        text = "\n\n".join(t.strip("\n") for t in body.plain)
    elif body.html:
        text = "\n\n".join(_html_texts(body.html, defects))
    else:
        text = ""
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS]
        defects.append("text cut to the size limit")

    defects = _dedupe(defects)
    return ParsedEmail(
        raw_sha256=sha256_hex(raw),
        size=len(raw),
        message_id=message_id,
        message_id_norm=message_id_norm,
        alt_message_id=alt_message_id,
        in_reply_to=tuple(in_reply_to),
        references=tuple(references),
        from_=tuple(from_),
        from_header_count=len(from_values),
        sender=senders[0] if senders else None,
        reply_to=_address_list(header.all("reply-to")),
        x_original_from=x_original[0] if x_original else None,
        to=_address_list(header.all("to")),
        cc=_address_list(header.all("cc")),
        bcc=_address_list(header.all("bcc")),
        delivered_to=tuple(delivered),
        subject=subject,
        date_header=date_header,
        date_utc=date_utc,
        date_source=date_source,
        text=text,
        attachments=tuple(body.attachments),
        attached_messages=tuple(body.messages),
        list_id=_optional(header, "list-id"),
        list_unsubscribe=_optional(header, "list-unsubscribe"),
        precedence=_optional(header, "precedence"),
        auto_submitted=_optional(header, "auto-submitted"),
        authentication_results=tuple(_clean_line(v) for v in header.all("authentication-results")),
        defects=tuple(defects),
        parse_status="defects" if defects else "ok",
        pdmail_token=_token(header),
    )


def _html_texts(parts: list[str], defects: list[str]) -> list[str]:
    """Each HTML part as text, converting at most MAX_HTML_CHARS of markup for the whole message: the
    cost of conversion grows with the markup, and a message may hold many parts. The converter is
    loaded here, by mail that has HTML: plain text mail (most of what a mail server pipes) does not pay
    for compiling its patterns."""
    from pdmail.mime.html_text import MAX_HTML_CHARS, html_to_text

    texts: list[str] = []
    left = MAX_HTML_CHARS
    for markup in parts:
        if len(markup) > left:
            defects.append("HTML cut to the size limit")
        if left <= 0:
            break
        texts.append(html_to_text(markup[:left]))
        left -= len(markup)
    return texts


def attachment_payloads(raw: bytes, *, limits: ParseLimits = DEFAULT_LIMITS) -> list[tuple[Attachment, bytes]]:
    """Each attachment of the message with its decoded bytes, in the order ``parse_message`` lists them.

    Decoding is left out of ``parse_message`` on purpose: capture needs only names and sizes, and
    an attachment is decoded only when someone asks to save it.
    """
    if not raw or not raw.strip() or check_limits(raw, limits):
        return []
    start = message_start(raw)
    buf = raw[start:] if start else raw
    header, body_start, _ = _split_header(buf, 0, len(buf))
    body = _walk(buf, header, body_start, limits, payloads=True)
    return list(zip(body.attachments, body.payloads or []))


def _token(header: _Header) -> str | None:
    value = header.first("x-pdmail-token")
    token = value.strip().lower() if value else ""
    return token if len(token) == 32 and all(c in "0123456789abcdef" for c in token) else None


def _optional(header: _Header, name: str) -> str | None:
    value = header.first(name)
    if value is None:
        return None
    return _clean_line(decode_header_text(value)) or None
