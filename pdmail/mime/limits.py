"""Cheap byte-level checks that run before any parsing.

A message over a limit is refused whole, never half-parsed. The scan is a single pass over the lines,
without the ``email`` package, so a hostile message costs linear time and no recursion.
"""

from __future__ import annotations

import math
import re

from pdmail.core.records import Record

MB = 1024 * 1024
KB = 1024
# The largest message pdmail stores: one figure for every way in and out, said as size_text() says it
# ("25 MB") in every message and in the README. A larger one waits whole in the quarantine's spool.
MAX_MESSAGE_SIZE = 25 * MB
# SQLite keeps integers in 64 bits and raises OverflowError on a larger one: every number read from a
# message (a +dealN tag, a count in a header) is checked against this before it is used in a query.
SQLITE_INTEGER_MAX = 2**63 - 1


class ParseLimits(Record):
    max_size: int = MAX_MESSAGE_SIZE
    max_header_block: int = 1 * MB
    max_header_field: int = 256 * KB
    max_mime_depth: int = 50
    max_parts: int = 5000


DEFAULT_LIMITS = ParseLimits()

_BOM = b"\xef\xbb\xbf"
_BOUNDARY_RE = re.compile(rb'boundary\s*=\s*(?:"([^"\r\n]*)"|([^;\s"]+))', re.IGNORECASE)
_CONTENT_TYPE = b"content-type"


def message_start(raw: bytes) -> int:
    """Offset where the message proper begins: past a BOM, blank lines and an mbox ``From `` line."""
    pos = 3 if raw.startswith(_BOM) else 0
    seen_envelope = False
    n = len(raw)
    while pos < n:
        nl = raw.find(b"\n", pos)
        end = n if nl == -1 else nl + 1
        line = raw[pos:end]
        if not line.strip():
            pos = end
            continue
        if not seen_envelope and line.startswith(b"From "):
            seen_envelope = True
            pos = end
            continue
        break
    return pos


def fits_sqlite_integer(number: int) -> bool:
    """Whether a number read from a message can be stored or looked up; a larger one names nothing stored."""
    return 0 <= number <= SQLITE_INTEGER_MAX


def size_text(size: int) -> str:
    """A size as pdmail says it everywhere: 25 MB, 26.3 MB, 800 KB (binary units, as the limits are).

    Rounded up, so that a message over a limit never reads as the limit itself.
    """
    for unit, name in ((MB, "MB"), (KB, "KB")):
        if size >= unit:
            return f"{math.ceil(size * 10 / unit) / 10:g} {name}"
    return f"{size} bytes"


def too_large(size: int, limit: int = MAX_MESSAGE_SIZE) -> str:
    """The one reason given for a message over the size limit, whichever way it came in."""
    return f"message is {size_text(size)}, over the {size_text(limit)} limit"


def _boundary_of(field: bytes) -> bytes | None:
    """The multipart boundary declared in one Content-Type field (folding included), if any."""
    name, _, value = field.partition(b":")
    if name.strip().lower() != _CONTENT_TYPE or b"multipart" not in value.lower():
        return None
    match = _BOUNDARY_RE.search(value)
    if not match:
        return None
    boundary = (match.group(1) if match.group(1) is not None else match.group(2)).rstrip()
    return boundary or None


def _is_message_type(field: bytes) -> bool:
    name, _, value = field.partition(b":")
    return name.strip().lower() == _CONTENT_TYPE and value.strip().lower().startswith(b"message/rfc822")


def check_limits(raw: bytes, limits: ParseLimits = DEFAULT_LIMITS, *, quick: bool = True) -> str | None:
    """Why the message must be refused before parsing, or None when it is within every limit.

    Nesting is tracked the way a MIME parser would meet it: each multipart pushes its boundary when its
    header ends, a delimiter line closes any deeper level, and an attached message/rfc822 adds a level.

    A header block is read line by line only when it is long enough to break a limit; a shorter one,
    nearly every header, is read whole by :func:`_short_header` (``quick=False`` reads every header
    line by line, the reference the quick reading is tested against).
    """
    size = len(raw)
    if size > limits.max_size:
        return too_large(size, limits.max_size)

    start = message_start(raw)
    stack: list[bytes | None] = []  # open boundaries; None marks an attached message
    open_count: dict[bytes, int] = {}
    parts = 0
    in_header = True
    top_header = True
    header_bytes = 0
    field: list[bytes] = []
    field_len = 0
    pending_boundary: bytes | None = None
    pending_message = False

    def close_field() -> None:
        nonlocal pending_boundary, pending_message, field_len
        if field:
            joined = b"".join(field)
            if joined[:13].lower().startswith(_CONTENT_TYPE):
                boundary = _boundary_of(joined)
                if boundary is not None:
                    pending_boundary = boundary
                elif _is_message_type(joined):
                    pending_message = True
            field.clear()
        field_len = 0

    pos = header_start = start
    n = size
    while pos < n:
        # Read whole only from its first line: part-way through, lines already read count too.
        short = _short_header(raw, pos, limits, top_header) if in_header and quick and pos == header_start else None
        if short is not None:  # read whole, up to the blank line that ends it
            pos, pending_boundary, pending_message = short
            line = b"\n"
        else:
            nl = raw.find(b"\n", pos)
            end = n if nl == -1 else nl + 1
            line = raw[pos:end]
            pos = end
        if in_header:
            if top_header and short is None:
                header_bytes += len(line)
                if header_bytes > limits.max_header_block:
                    return f"header block is over the {size_text(limits.max_header_block)} limit"
            if line in (b"\n", b"\r\n") or not line.strip(b"\r\n"):
                close_field()
                in_header = False
                top_header = False
                if pending_boundary is not None:
                    stack.append(pending_boundary)
                    open_count[pending_boundary] = open_count.get(pending_boundary, 0) + 1
                elif pending_message:
                    stack.append(None)
                    in_header = True  # the attached message's own header follows
                    header_start = pos
                if len(stack) > limits.max_mime_depth:
                    return f"MIME nesting deeper than {limits.max_mime_depth}"
                pending_boundary = None
                pending_message = False
                continue
            if line[:1] in (b" ", b"\t"):
                field_len += len(line)
                # Only a Content-Type field needs its text; the rest just need a length.
                if field and len(field) < _FIELD_LINES:
                    field.append(line)
            else:
                close_field()
                field_len = len(line)
                if line[:1] in (b"C", b"c"):
                    field.append(line)
            if field_len > limits.max_header_field:
                return f"a header field is over the {size_text(limits.max_header_field)} limit"
            continue
        if not open_count:
            break  # no boundary left to find: nothing in the rest can change the verdict
        if not line.startswith(b"--"):
            # Only a line starting with "--" matters in a body; jump straight to the next one.
            nxt = raw.find(b"\n--", pos - 1)
            pos = n if nxt == -1 else nxt + 1
            continue
        body = line[2:].rstrip()
        closing = False
        if body in open_count:
            boundary = body
        elif body.endswith(b"--") and body[:-2] in open_count:
            boundary = body[:-2]
            closing = True
        else:
            continue
        # A delimiter ends every deeper level (and attached messages inside them).
        while stack and stack[-1] != boundary:
            popped = stack.pop()
            if popped is not None:
                _forget(open_count, popped)
        if closing:
            if stack:  # the loop above left this delimiter's own level on top
                stack.pop()
                _forget(open_count, boundary)
            # Past the closing delimiter we are in the epilogue of the enclosing entity.
            continue
        parts += 1
        if parts > limits.max_parts:
            return f"more than {limits.max_parts} MIME parts"
        in_header = True
        header_start = pos
        pending_boundary = None
        pending_message = False
    return None


_FIELD_LINES = 64  # lines of a Content-Type field kept for reading its type and boundary
_NEWLINE_CONTENT_TYPE = b"\n" + _CONTENT_TYPE
_BLANK_HERE_RE = re.compile(rb"\r*\n|\r+\Z")  # a blank line: nothing but CRs before its LF (or the end)
_BLANK_NEXT_RE = re.compile(rb"\n(?:\r*\n|\r+\Z)")


def _short_header(raw: bytes, pos: int, limits: ParseLimits, top: bool) -> tuple[int, bytes | None, bool] | None:
    """For the header starting at ``pos``, when it ends at a blank line and is too short to break a
    limit: where its blank line ends, the boundary it declares, and whether it declares an attached
    message, as the line-by-line reading would find them. None for any other header."""
    here = _BLANK_HERE_RE.match(raw, pos)
    if here is not None:
        block_end, blank_end = pos, here.end()
    else:
        found = _BLANK_NEXT_RE.search(raw, pos)
        if found is None:
            return None
        block_end, blank_end = found.start() + 1, found.end()
    if block_end - pos > limits.max_header_field or (top and blank_end - pos > limits.max_header_block):
        return None
    block = raw[pos:block_end]
    lowered = block.lower()
    boundary: bytes | None = None
    message = False
    starts = [0] if lowered.startswith(_CONTENT_TYPE) else []
    at = lowered.find(_NEWLINE_CONTENT_TYPE)
    while at != -1:
        starts.append(at + 1)
        at = lowered.find(_NEWLINE_CONTENT_TYPE, at + 1)
    for at in starts:  # the Content-Type fields, in order: the last one that declares something wins
        lines: list[bytes] = []
        line_start = at
        while line_start < len(block) and len(lines) < _FIELD_LINES:
            nl = block.find(b"\n", line_start)
            line_end = len(block) if nl == -1 else nl + 1
            lines.append(block[line_start:line_end])
            line_start = line_end
            if block[line_start : line_start + 1] not in (b" ", b"\t"):
                break
        joined = b"".join(lines)
        declared = _boundary_of(joined)
        if declared is not None:
            boundary = declared
        elif _is_message_type(joined):
            message = True
    return blank_end, boundary, message


def _forget(open_count: dict[bytes, int], boundary: bytes) -> None:
    left = open_count.get(boundary, 0) - 1
    if left <= 0:
        open_count.pop(boundary, None)
    else:
        open_count[boundary] = left
