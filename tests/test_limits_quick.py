"""The quick reading of header blocks in the limit check gives the verdict of the line-by-line reading."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st
from mailcorpus import corpus, multipart, part

from pdmail.mime.limits import DEFAULT_LIMITS, ParseLimits, check_limits

# Lines that matter to the check, and lines that do not; a message is any sequence of them.
_LINES = [
    "From: a@x.com",
    "Subject: hello",
    "X-Long: " + "y" * 150,
    "Cc: b@y.org",
    "C",
    "c: x",
    'Content-Type: multipart/mixed; boundary="b1"',
    "content-type: MULTIPART/alternative;",
    "\tboundary=b2",
    ' boundary="b1"',
    "CONTENT-TYPE: message/rfc822",
    "Content-Type: text/plain",
    "Content-Types: multipart/mixed; boundary=b1",
    "Content-Type:multipart/digest; boundary=b2",
    " folded continuation",
    "\tmore",
    "",
    "\r",
    "\r\r",
    "--b1",
    "--b1--",
    "--b2",
    "--b2--",
    "---",
    "--",
    "body text",
    "-- ",
    "=?utf-8?q?caf=C3=A9?=",
]
_lines = st.lists(st.sampled_from(_LINES), max_size=40)
_endings = st.sampled_from(["\r\n", "\n"])
_limits = st.builds(
    ParseLimits,
    max_size=st.just(DEFAULT_LIMITS.max_size),
    max_header_block=st.sampled_from([60, 300, 1 << 20]),
    max_header_field=st.sampled_from([30, 160, 256 * 1024]),
    max_mime_depth=st.sampled_from([0, 1, 2, 50]),
    max_parts=st.sampled_from([0, 1, 3, 5000]),
)


@st.composite
def messages(draw) -> bytes:
    ending = draw(_endings)
    raw = ending.join(draw(_lines)).encode()
    if draw(st.booleans()):
        raw += ending.encode()
    return raw


@settings(max_examples=3000, deadline=None)
@given(messages(), _limits)
@example(b"Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\n\r\nx\r\n--b1--\r\n", DEFAULT_LIMITS)
@example(b"Subject: x\n\r", ParseLimits(max_mime_depth=0))
def test_quick_and_line_by_line_readings_agree(raw, limits):
    assert check_limits(raw, limits) == check_limits(raw, limits, quick=False)


def test_they_agree_on_the_corpus_and_nested_messages():
    cases = dict(corpus())
    inner = b"Subject: inner\r\n\r\nbottom\r\n"
    for level in range(6):
        inner = multipart("mixed", [part("message/rfc822", inner), part("text/plain", "x")], f"m{level}")
        cases[f"nested {level}"] = inner
    for name, raw in cases.items():
        for limits in (
            DEFAULT_LIMITS,
            ParseLimits(max_header_field=200, max_mime_depth=3, max_parts=4, max_header_block=600),
        ):
            assert check_limits(raw, limits) == check_limits(raw, limits, quick=False), name
