"""A quick reading of the usual answer to a body fetch, with imapclient's reading as the fallback.

imapclient's response parser walks a FETCH response a token at a time in Python, and in a big
download that was a fifth of a download process's work. Servers answer ``UID FETCH (BODY.PEEK[] FLAGS
INTERNALDATE [MODSEQ])`` in one shape, message after message::

    12 (UID 40 FLAGS (\\Seen) INTERNALDATE "05-Mar-2024 10:15:00 +0100" MODSEQ (7) BODY[] {2310}
    <2310 bytes>)

:func:`read_bodies` reads that shape with one regular expression per message and gives what
imapclient's ``parse_fetch_response`` gives. Any other shape (another order, quoted flags, an
unsolicited update, ``NIL`` for a body) makes it return None, and the caller asks imapclient.

The two short fetches of a sync are read the same way: sizes (``UID FETCH (RFC822.SIZE)``, asked for
every new message before a big download) with :func:`read_sizes`, flags (``UID FETCH (FLAGS [MODSEQ])``)
with :func:`read_flags`; imapclient reading them a token at a time cost about as much as reading the
bodies of the same messages.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_HEAD_RE = re.compile(
    rb"(\d+) \(UID (\d+) FLAGS \(([^()\"{}\[\]]*)\) "
    rb'INTERNALDATE "( ?\d{1,2})-([A-Z][a-z]{2})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})"'
    rb"(?: MODSEQ \((\d+)\))? BODY\[\] \{(\d+)\}"
)
_MONTHS = {
    name: number
    for number, name in enumerate(
        (b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"), start=1
    )
}
_ZONES: dict[bytes, timezone] = {}
_SIZE_RE = re.compile(rb"(\d+) \(UID (\d+) RFC822\.SIZE (\d+)\)")
_FLAGS_RE = re.compile(rb"(\d+) \(UID (\d+) FLAGS \(([^()\"{}\[\]]*)\)(?: MODSEQ \((\d+)\))?\)")


def read_bodies(data: list) -> dict[int, dict[bytes, object]] | None:
    """{uid: {b"SEQ", b"FLAGS", b"INTERNALDATE", [b"MODSEQ"], b"BODY[]"}} as imapclient would give it,
    or None when ``data`` (imaplib's FETCH data) holds anything but the usual shape."""
    if len(data) % 2:
        return None
    rows: dict[int, dict[bytes, object]] = {}
    for i in range(0, len(data), 2):
        item, tail = data[i], data[i + 1]
        if tail != b")" or not isinstance(item, tuple) or len(item) != 2:
            return None
        head, body = item
        m = _HEAD_RE.fullmatch(head)
        if m is None or int(m[14]) != len(body):
            return None
        flags = tuple(m[3].split())
        if any(flag.isdigit() or flag.upper() == b"NIL" for flag in flags):
            return None  # imapclient reads these as a number or None: leave them to it
        month = _MONTHS.get(m[5])
        when = _internaldate(m, month) if month else None
        if when is None:
            return None
        row: dict[bytes, object] = {b"SEQ": int(m[1]), b"FLAGS": flags, b"INTERNALDATE": when}
        if m[13] is not None:
            row[b"MODSEQ"] = (int(m[13]),)
        row[b"BODY[]"] = body
        uid = int(m[2])
        if uid in rows:
            return None  # imapclient merges the two answers; rare enough to leave to it
        rows[uid] = row
    return rows


def _internaldate(m: re.Match[bytes], month: int) -> datetime | None:
    sign, hours, minutes = m[10], m[11], m[12]
    if sign == b"-" and hours == minutes == b"00":
        return None  # "-0000" means "zone unknown", which imapclient reads as a naive time
    try:
        zone = _ZONES.get(sign + hours + minutes)
        if zone is None:
            offset = timedelta(hours=int(hours), minutes=int(minutes))
            zone = _ZONES.setdefault(sign + hours + minutes, timezone(-offset if sign == b"-" else offset))
        return datetime(int(m[6]), month, int(m[4]), int(m[7]), int(m[8]), int(m[9]), tzinfo=zone)
    except ValueError:  # no such day or time, or an offset of a day or more
        return None


def read_sizes(data: list) -> dict[int, dict[bytes, object]] | None:
    """{uid: {b"SEQ", b"RFC822.SIZE"}} as imapclient would give it, or None for any other shape."""
    rows: dict[int, dict[bytes, object]] = {}
    for line in data:
        m = _SIZE_RE.fullmatch(line) if isinstance(line, bytes) else None
        if m is None:
            return None
        uid = int(m[2])
        if uid in rows:
            return None
        rows[uid] = {b"SEQ": int(m[1]), b"RFC822.SIZE": int(m[3])}
    return rows


def read_flags(data: list) -> dict[int, dict[bytes, object]] | None:
    """{uid: {b"SEQ", b"FLAGS", [b"MODSEQ"]}} as imapclient would give it, or None for any other shape."""
    rows: dict[int, dict[bytes, object]] = {}
    for line in data:
        m = _FLAGS_RE.fullmatch(line) if isinstance(line, bytes) else None
        if m is None:
            return None
        flags = tuple(m[3].split())
        if any(flag.isdigit() or flag.upper() == b"NIL" for flag in flags):
            return None  # imapclient reads these as a number or None: leave them to it
        uid = int(m[2])
        if uid in rows:
            return None
        row: dict[bytes, object] = {b"SEQ": int(m[1]), b"FLAGS": flags}
        if m[4] is not None:
            row[b"MODSEQ"] = (int(m[4]),)
        rows[uid] = row
    return rows
