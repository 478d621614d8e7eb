"""Cheap byte-level checks that run before any parsing.

A message over a limit is refused whole, never half-parsed. The scan is a single pass over the lines,
without the ``email`` package, so a hostile message costs linear time and no recursion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MB = 1024 * 1024
KB = 1024


@dataclass(frozen=True)
class ParseLimits:
    max_size: int = 25 * MB
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


def _size_text(size: int) -> str:
    if size >= MB:
        return f"{size // MB} MB" if size % MB == 0 else f"{size / MB:.1f} MB"
    if size >= KB:
        return f"{size // KB} KB" if size % KB == 0 else f"{size / KB:.1f} KB"
    return f"{size} bytes"


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


def check_limits(raw: bytes, limits: ParseLimits = DEFAULT_LIMITS) -> str | None:
    """Why the message must be refused before parsing, or None when it is within every limit.

    Nesting is tracked the way a MIME parser would meet it: each multipart pushes its boundary when its
    header ends, a delimiter line closes any deeper level, and an attached message/rfc822 adds a level.
    """
    size = len(raw)
    if size > limits.max_size:
        return f"message is {_size_text(size)}, over the {_size_text(limits.max_size)} limit"

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

    pos = start
    n = size
    while pos < n:
        nl = raw.find(b"\n", pos)
        end = n if nl == -1 else nl + 1
        line = raw[pos:end]
        pos = end
        if in_header:
            if top_header:
                header_bytes += len(line)
                if header_bytes > limits.max_header_block:
                    return f"header block is over the {_size_text(limits.max_header_block)} limit"
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
                if len(stack) > limits.max_mime_depth:
                    return f"MIME nesting deeper than {limits.max_mime_depth}"
                pending_boundary = None
                pending_message = False
                continue
            if line[:1] in (b" ", b"\t"):
                field_len += len(line)
                # Only a Content-Type field needs its text; the rest just need a length.
                if field and len(field) < 64:
                    field.append(line)
            else:
                close_field()
                field_len = len(line)
                if line[:1] in (b"C", b"c"):
                    field.append(line)
            if field_len > limits.max_header_field:
                return f"a header field is over the {_size_text(limits.max_header_field)} limit"
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
            if stack:
                _forget(open_count, stack.pop())
            # Past the closing delimiter we are in the epilogue of the enclosing entity.
            continue
        parts += 1
        if parts > limits.max_parts:
            return f"more than {limits.max_parts} MIME parts"
        in_header = True
        pending_boundary = None
        pending_message = False
    return None


def _forget(open_count: dict[bytes, int], boundary: bytes) -> None:
    left = open_count.get(boundary, 0) - 1
    if left <= 0:
        open_count.pop(boundary, None)
    else:
        open_count[boundary] = left
