"""JSON for people's terminals and other programs: valid, and free of characters that rewrite a display.

``json.dumps(..., ensure_ascii=False)`` escapes C0 controls but passes C1 controls, DEL, bidi
overrides and isolates, and U+2028/U+2029 through as they are: a subject can then reorder or hide
what a terminal shows, or end a line in a JavaScript reader. Outside strings JSON text is plain
ASCII, so each such character is inside a string, where its ``\\uXXXX`` escape decodes to the very
same value. Everything else stays readable UTF-8.
"""

from __future__ import annotations

import json


def _escaped() -> list[int]:
    return [
        *range(0x7F, 0xA0),  # DEL and the C1 controls
        0x061C,
        0x200E,
        0x200F,  # directional marks
        *range(0x202A, 0x202F),  # bidi embeddings and overrides
        *range(0x2066, 0x206A),  # bidi isolates
        0x2028,
        0x2029,  # line and paragraph separators
        0xFEFF,  # zero-width no-break space (a byte order mark mid-text)
        *range(0xD800, 0xE000),  # lone surrogates: not encodable as UTF-8 at all
    ]


# Made at the first text that may need it: its two thousand entries cost a piped message's process,
# whose report is plain ASCII, a good share of what printing it costs.
_TABLE: dict[int, str] = {}


def escape(text: str) -> str:
    """JSON text (or a JSON string's inside) with the characters above written as escapes."""
    if text.isascii() and "\x7f" not in text:
        return text  # every character above is DEL or beyond ASCII
    if not _TABLE:
        _TABLE.update({code: f"\\u{code:04x}" for code in _escaped()})
    return text.translate(_TABLE)


def dumps(data: object, *, indent: int | None = None) -> str:
    return escape(json.dumps(data, ensure_ascii=False, indent=indent))
