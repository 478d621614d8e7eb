"""Pure rules that tie a message to a thread: reference ids first, a guarded subject fallback second."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from pdmail.core.addresses import is_valid_address, normalize_address, normalize_message_id

FALLBACK_WINDOW = timedelta(days=30)
MAX_REFERENCES = 100

# Reply and forward prefixes as mail clients write them in many languages. A prefix only counts when a
# colon follows (ASCII or full-width), so words like "Rex" or "AWS" are left alone.
_PREFIXES = (
    # reply
    "re",
    "res",
    "aw",
    "antw",
    "antwort",
    "sv",
    "vs",
    "vl",
    "r",
    "rif",
    "odp",
    "ynt",
    "ats",
    "atb",
    "απ",
    "σχετ",
    "отв",
    "ответ",
    "השב",
    "回复",
    "答复",
    "回覆",
    # forward
    "fwd",
    "fw",
    "wg",
    "tr",
    "rv",
    "enc",
    "pd",
    "doorst",
    "πρθ",
    "пересл",
    "הועבר",
    "转发",
    "轉寄",
    "轉發",
)
_PREFIX_ALT = "|".join(sorted((re.escape(p) for p in _PREFIXES), key=len, reverse=True))
# Counters like Re[2]: and Re(3): come from clients that number replies instead of repeating "Re:".
_PREFIX_RE = re.compile(rf"(?:{_PREFIX_ALT})\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*", re.IGNORECASE)
_TAG_RE = re.compile(r"\[[^\[\]]*\]\s*")  # used with match(): anchored where it is tried


def _after_leading_tags(text: str, pos: int = 0) -> int:
    """Where the text goes on past the list tags (``[sales] [ext]``) starting at ``pos``."""
    while (match := _TAG_RE.match(text, pos)) is not None and match.end() > pos:
        pos = match.end()
    return pos


def normalize_subject(subject: str) -> str:
    """The subject a conversation keeps however many clients and lists have prefixed it.

    Used only to compare subjects, never shown: casefolded, whitespace collapsed. Prefixes and tags
    are stepped over where they are, never cut off one copy at a time: a subject of thousands of
    them would be copied thousands of times.
    """
    text = " ".join((subject or "").split())
    pos = 0
    while True:
        pos = _after_leading_tags(text, pos)
        match = _PREFIX_RE.match(text, pos)
        if match is None or match.end() == pos:
            break
        pos = match.end()
    return " ".join(text[pos:].split()).casefold()


def has_reply_prefix(subject: str) -> bool:
    """True when the subject, after any list tags, starts with a reply or forward prefix."""
    text = " ".join((subject or "").split())
    return bool(_PREFIX_RE.match(text, _after_leading_tags(text)))


def thread_ids(
    message_id_norm: str | None,
    in_reply_to: Sequence[str],
    references: Sequence[str],
) -> tuple[str, ...]:
    """The ids that tie a message to a thread: its own, then its parents, nearest first.

    Nearest first because a split thread keeps the nearest parent's thread; References can loop or
    point at the message itself, so duplicates and self references are dropped, and only the last
    ``MAX_REFERENCES`` distinct references are kept.
    """
    own = normalize_message_id(message_id_norm)
    seen: set[str] = {own} if own else set()
    result: list[str] = [own] if own else []

    def add(value: str | None) -> bool:
        ident = normalize_message_id(value)
        if ident is None or ident in seen:
            return False
        seen.add(ident)
        result.append(ident)
        return True

    for value in in_reply_to:
        add(value)
    kept = 0
    for value in reversed(references):
        if kept >= MAX_REFERENCES:
            break
        if add(value):
            kept += 1
    return tuple(result)


def subject_fallback_allowed(parsed_has_thread_headers: bool, subject: str) -> bool:
    """Subjects repeat across unrelated mail, so they join threads only when ids cannot."""
    return not parsed_has_thread_headers and has_reply_prefix(subject)


def pick_fallback_thread(
    candidates: Iterable[tuple[int, datetime, Iterable[str]]],
    participants: Iterable[str],
    own_addresses: Iterable[str],
    now_utc: datetime,
) -> int | None:
    """The latest candidate thread, within the window, sharing someone other than the user.

    ``candidates`` are the user's threads with the same normalized subject, as
    ``(thread_id, last_date_utc, participant_addresses)``. ``now_utc`` should be the new message's
    date rather than the clock, so that importing old mail threads it as it was. The window runs
    both ways because a thread's last date can sit slightly ahead of a skewed message date.
    """
    if now_utc.tzinfo is None:
        raise ValueError("now_utc must be timezone-aware")
    own = {normalize_address(a) for a in own_addresses}
    ours = _people(participants) - own
    if not ours:
        return None
    best: tuple[datetime, int] | None = None
    for thread_id, last_date, thread_participants in candidates:
        if last_date.tzinfo is None:
            raise ValueError(f"thread {thread_id}: last date must be timezone-aware")
        if abs(now_utc - last_date) > FALLBACK_WINDOW:
            continue
        theirs = _people(thread_participants) - own
        if not ours & theirs:
            continue
        key = (last_date, thread_id)
        if best is None or key > best:
            best = key
    return best[1] if best else None


def _people(addresses: Iterable[str]) -> set[str]:
    """The addresses among ``addresses``: text kept as written (``Undisclosed recipients``) is nobody,
    and two messages sharing it share no one."""
    return {a for a in (normalize_address(x) for x in addresses) if is_valid_address(a)}
