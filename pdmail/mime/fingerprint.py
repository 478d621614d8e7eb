"""Content identity of a message, for dedupe when the Message-ID is missing or was rewritten.

The fingerprint covers what the author wrote, not what relays added: Received, Authentication-Results,
Bcc and Message-ID stay out, so a Sent-folder copy, a BCC copy and a re-piped message agree.
"""

from __future__ import annotations

import hashlib
import json

from pdmail.core.models import ParsedEmail


def _collapse(text: str) -> str:
    # str.split() and the regex \s agree on what whitespace is; split is several times faster.
    return " ".join(text.split())


def fingerprint(parsed: ParsedEmail) -> str:
    """sha256 hex over sender, recipients, Date header, subject, body text and attachment shapes."""
    body_hash = hashlib.sha256(_collapse(parsed.text).encode("utf-8", "surrogatepass")).hexdigest()
    material = [
        sorted(a.email.lower() for a in parsed.from_),
        sorted(a.email.lower() for a in (*parsed.to, *parsed.cc)),
        (parsed.date_header or "").strip(),
        _collapse(parsed.subject),
        body_hash,
        sorted([a.content_type, a.size] for a in parsed.attachments),
    ]
    encoded = json.dumps(material, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("ascii")).hexdigest()


def snippet(text: str, length: int = 200) -> str:
    """A one-line preview: quoted ``>`` lines skipped when anything else is left, whitespace collapsed."""
    lines = text.splitlines()
    own = (line for line in lines if not line.lstrip().startswith(">"))
    # Only the first words matter: stop once there is more than fits (a body can be megabytes).
    collapsed = _first_words(own, length) or _first_words(lines, length)
    if len(collapsed) <= length:
        return collapsed
    cut = collapsed[: max(length - 1, 0)]
    space = cut.rfind(" ")
    if space > length // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def _first_words(lines, length: int) -> str:
    """The start of the lines' words joined by single spaces: all of it, or just past ``length``."""
    words: list[str] = []
    size = -1
    for line in lines:
        for word in line.split():
            words.append(word)
            size += len(word) + 1
            if size > length:
                return " ".join(words)
    return " ".join(words)


def sha256_hex(data: bytes) -> str:
    """The content address of raw bytes, as the raw store keys them."""
    return hashlib.sha256(data).hexdigest()
