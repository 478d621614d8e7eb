"""HTML mail bodies as readable plain text, for the terminal and the search index.

Nothing is fetched: images are dropped and links are kept as text. Scripts and styles never reach the text.
"""

from __future__ import annotations

import html
import re

# Converting a huge HTML body costs seconds; the readable text is capped far below this anyway.
MAX_HTML_CHARS = 2_000_000

_DROP_RE = re.compile(r"<(script|style|head|title)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG_RE = re.compile(r"<[^>]*>")
_BLOCK_RE = re.compile(r"<\s*(?:br|/p|/div|/tr|/li|/h[1-6]|/table)\b[^>]*>", re.IGNORECASE)
_BLANKS_RE = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")
_CELL_END_RE = re.compile(r"</t[dh]\s*>", re.IGNORECASE)


def html_to_text(markup: str) -> str:
    markup = _DROP_RE.sub(" ", markup[:MAX_HTML_CHARS])
    # Layout tables are read as text: keep neighbouring cells apart.
    markup = _CELL_END_RE.sub(" \\g<0>", markup)
    try:
        text = _convert(markup)
    except Exception:  # noqa: BLE001 - a third-party converter on hostile markup; fall back, never fail
        text = _strip_tags(markup)
    return _BLANKS_RE.sub("\n\n", text).strip()


def _convert(markup: str) -> str:
    import html2text

    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.ignore_tables = True
    converter.inline_links = True
    converter.protect_links = False
    converter.unicode_snob = True
    return converter.handle(markup)


def _strip_tags(markup: str) -> str:
    text = _BLOCK_RE.sub("\n", markup)
    return html.unescape(_TAG_RE.sub("", text))
