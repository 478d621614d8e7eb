"""The quick reading of a header block (field by field) gives what the line-by-line reading gives."""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st
from mailcorpus import corpus

from pdmail.mime.parse import _split_header

# Lines of every kind a header block meets: fields, folded lines, stray lines, odd line ends, NULs.
_LINES = [
    "From: Maria <maria@northwind.example>",
    "Subject: hello",
    "Subject : spaced name",
    "subject:no space",
    "X-Empty:",
    "X-Tab:\tvalue",
    " folded continuation",
    "\tmore",
    " ",
    "not a field",
    ": no name",
    "X Bad: space in the name",
    "Cc: b@y.org\r",
    "To: c@z.org\r\r",
    "Lone: carriage\rreturn",
    "X-Nul: a\x00b",
    "Caf\xe9: eight-bit name",
    "X-Eight: caf\xe9",
    "",
    "\r",
    "body text",
]
_lines = st.lists(st.sampled_from(_LINES), max_size=30)
_endings = st.sampled_from(["\r\n", "\n"])


def _both(raw: bytes) -> None:
    quick = _split_header(raw, 0, len(raw))
    lines = _split_header(raw, 0, len(raw), quick=False)
    assert (quick[0].fields, quick[1], quick[2]) == (lines[0].fields, lines[1], lines[2])


@st.composite
def blocks(draw) -> bytes:
    ending = draw(_endings)
    raw = ending.join(draw(_lines)).encode("latin-1")
    if draw(st.booleans()):
        raw += (ending + ending + "body").encode()
    return raw


@settings(max_examples=3000, deadline=None)
@given(blocks())
@example(b"Subject: a\r\n b\r\n\r\nbody")
@example(b"Subject: a\r\r\n b\r\n\r\nbody")
@example(b"Subject: a\r\n \r\nTo: x\r\n\r\n")
@example(b" folded first\r\nSubject: a\r\n\r\n")
@example(b"Subject: a\r\nstray\r\n\r\n")
@example(b"Subject: a")
def test_quick_and_line_by_line_readings_agree(raw):
    _both(raw)


def test_they_agree_on_the_corpus_and_its_parts():
    for name, raw in corpus().items():
        part_starts = [m.end() for m in re.finditer(rb"^--[^\r\n]*\r?\n", raw, re.MULTILINE)]
        for at in (0, *part_starts[:50]):  # the message's header, then those after a boundary line
            quick = _split_header(raw, at, len(raw))
            lines = _split_header(raw, at, len(raw), quick=False)
            assert (quick[0].fields, quick[1], quick[2]) == (lines[0].fields, lines[1], lines[2]), (name, at)
