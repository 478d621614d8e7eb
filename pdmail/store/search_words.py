"""The words of the full-text index on PostgreSQL, cut as SQLite's FTS5 index cuts them.

pdmail's search finds the same emails on both engines. SQLite's index (FTS5, ``unicode61`` with
``remove_diacritics 2``) splits text at anything that is not a letter or a digit, folds case and
drops accents. PostgreSQL's own text parser splits differently (it keeps ``ann@acme.example`` and
``foo-bar`` whole, among others), so the words are cut here, the same way for an email and for a
query, and handed to PostgreSQL already cut, as a ``tsvector`` and a ``tsquery`` written out.

Two limits of PostgreSQL's ``tsvector`` remain: positions stop counting at 16,383 (a phrase further
into a long email can be missed; single words are still found) and a document holds at most 1 MB of
words (an email with more distinct words than that is indexed by its first ones).
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence

_WORD = re.compile(r"[^\W_]+")
# The combining marks that Latin letters decompose into: what FTS5's remove_diacritics drops.
_LATIN_DIACRITICS = re.compile("[\u0300-\u036f]+")
MAX_POSITION = 16383
MAX_POSITIONS_PER_WORD = 256
MAX_WORD_BYTES = 2046
MAX_DOCUMENT_BYTES = 900_000  # under PostgreSQL's 1 MB, with room for its own overhead


def words(text: str) -> list[str]:
    """``text`` as the index sees it: lower case, accents dropped, cut at non-letters."""
    folded = text.lower()
    if not folded.isascii():
        decomposed = unicodedata.normalize("NFD", folded)
        folded = unicodedata.normalize("NFC", _LATIN_DIACRITICS.sub("", decomposed))
    return _WORD.findall(folded)


def _quoted(word: str) -> str:
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


def document(fields: Iterable[str]) -> str:
    """The ``tsvector`` of an email's fields, written out: each word with its positions.

    A gap of one position between fields keeps a phrase from matching across two of them, as
    FTS5's columns do. A word is letters and digits only, so it is quoted without escaping.
    """
    cut = [words(field) for field in fields]
    if _within_limits(cut):
        return _written(_positions(cut))
    return _written(_positions_capped(cut))


def _within_limits(cut: list[list[str]]) -> bool:
    """Whether no limit of ``tsvector`` can be reached: positions below MAX_POSITION, no word longer
    than MAX_WORD_BYTES and the whole under MAX_DOCUMENT_BYTES, counted generously (each character
    as 4 bytes). Nearly every email is; the rest take the slower, careful path."""
    count = sum(map(len, cut)) + len(cut)
    if count >= MAX_POSITION:
        return False
    longest = max((len(max(ws, key=len)) for ws in cut if ws), default=0)
    letters = sum(sum(map(len, ws)) for ws in cut)
    return 4 * longest <= MAX_WORD_BYTES and 4 * letters + 10 * count <= MAX_DOCUMENT_BYTES


def _positions(cut: list[list[str]]) -> dict[str, list[int]]:
    """Each word's positions, in the order words first appear (no new list per occurrence: a list
    only for a word seen for the first time; the few over the limit are cut where they are)."""
    positions: defaultdict[str, list[int]] = defaultdict(list)
    start = 1
    for ws in cut:
        for position, word in enumerate(ws, start):
            positions[word].append(position)
        start += len(ws) + 1
    for at in positions.values():
        if len(at) > MAX_POSITIONS_PER_WORD:
            del at[MAX_POSITIONS_PER_WORD:]
    return positions


def _positions_capped(cut: list[list[str]]) -> dict[str, list[int]]:
    """Positions kept within every limit of ``tsvector``, word by word."""
    positions: dict[str, list[int]] = {}
    size = 0
    position = 0
    for ws in cut:
        for word in ws:
            position += 1
            seen = positions.get(word)
            if seen is None:
                cost = len(word.encode()) + 8
                if len(word.encode()) > MAX_WORD_BYTES or size + cost > MAX_DOCUMENT_BYTES:
                    continue
                size += cost
                positions[word] = seen = []
            if len(seen) < MAX_POSITIONS_PER_WORD and (not seen or seen[-1] < MAX_POSITION):
                seen.append(min(position, MAX_POSITION))
                size += 2
        position += 1
    return positions


_NUMBERS = [str(n) for n in range(MAX_POSITION + 1)]


def _written(positions: dict[str, list[int]]) -> str:
    numbers = _NUMBERS
    return " ".join(
        [
            f"'{word}':{numbers[at[0]]}" if len(at) == 1 else f"'{word}':{','.join([numbers[p] for p in at])}"
            for word, at in positions.items()
        ]
    )


def query(phrases: Sequence[Sequence[str]]) -> str:
    """The ``tsquery`` that every phrase appears, its words side by side; "" when none has a word."""
    parts = []
    for phrase in phrases:
        cut = [w for text in phrase for w in words(text)]
        if cut:
            parts.append("(" + " <-> ".join(_quoted(w) for w in cut) + ")")
    return " & ".join(parts)
