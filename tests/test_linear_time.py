"""Hostile input costs linear time: each shape that once made a regular expression or a loop rescan
its input is fed here at a size where quadratic work takes minutes and linear work a fraction of a
second, so the CPU bound below sits far from both and cannot flake.

Parsing runs before the sender check, so anyone who can send mail to the capture address can send
these shapes.
"""

from __future__ import annotations

import signal
import time

import pytest

from pdmail.core.addresses import is_valid_address
from pdmail.linking import threads as threading_rules
from pdmail.mime import forward
from pdmail.mime import html_text as htmltext
from pdmail.mime.parse import parse_message

# Seconds of CPU. The linear code needs well under a tenth of this for every case; the quadratic
# code it replaced needed from 30 seconds to hours.
CPU_LIMIT = 5.0


class _TooSlow(BaseException):
    """Not an Exception: code under test may catch those (and fall back to a slower reading)."""


def cpu_seconds(work, *args) -> float:
    """CPU seconds ``work(*args)`` takes; the test fails as soon as it has taken CPU_LIMIT."""

    def stop(signum, frame):
        raise _TooSlow

    previous = signal.signal(signal.SIGPROF, stop)
    signal.setitimer(signal.ITIMER_PROF, CPU_LIMIT)
    start = time.process_time()
    try:
        work(*args)
    except _TooSlow:
        pytest.fail(f"still running after {CPU_LIMIT} s of CPU: not linear")
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)
    return time.process_time() - start


def repeat(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


# --- HTML to text -----------------------------------------------------------------------------------

HTML_SHAPES = {
    # The reported case: an unclosed <script> is searched for its end from every later one.
    "unclosed-script": "<script>" * 20_000,
    "unclosed-style": repeat("<style>", 300_000),
    "unclosed-title": repeat("<title>", 300_000),
    # A tag, a comment or a quoted attribute that never ends is scanned again from every later "<".
    "tag-without-end": repeat("<br", 300_000),
    "tag-name-without-end": repeat("<script", 300_000),
    "comment-without-end": repeat("<!--", 300_000),
    "quote-without-end": repeat("<a href='", 300_000),
    # Markdown escaping rescans a run of blank lines from each of its lines.
    "blank-lines": repeat("\n", 300_000),
    "spaces-and-blank-lines": repeat(" \n", 300_000),
    # Every line of a deep list or quote carries the whole depth.
    "nested-lists": repeat("<ul><li>x", 300_000),
    "nested-quotes": repeat("<blockquote>x<br>", 300_000),
}


@pytest.mark.parametrize("markup", HTML_SHAPES.values(), ids=HTML_SHAPES.keys())
def test_html_to_text_is_linear(markup):
    cpu_seconds(htmltext.html_to_text, markup)


def test_html_at_the_size_cap_in_a_message_is_linear():
    """The whole 2 MB of markup a message may have converted, in the worst shapes above, mixed."""
    markup = "".join(
        HTML_SHAPES[name][:200_000] for name in ("nested-lists", "blank-lines", "nested-quotes", "tag-without-end")
    )
    markup = repeat("<p>x", htmltext.MAX_HTML_CHARS - len(markup)) + markup
    raw = (
        "From: stranger@elsewhere.example\r\nTo: capture@bcc.example\r\nSubject: x\r\n"
        "Content-Type: text/html\r\n\r\n" + markup
    ).encode()
    cpu_seconds(parse_message, raw)


def test_a_message_converts_at_most_the_cap_of_html_and_says_it_cut():
    """Every HTML part counts towards one budget: many parts of 2 MB would each cost the full price."""
    part = repeat("<i></i>", htmltext.MAX_HTML_CHARS * 3 // 4)
    body = "".join(f"--b\r\nContent-Type: text/html\r\n\r\n{part}<p>end of part {i}\r\n" for i in range(4))
    raw = (
        "From: Ana <ana@customer.example>\r\nTo: capture@bcc.example\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + body + "--b--\r\n"
    ).encode()
    parsed = cpu_seconds_and_result(parse_message, raw)
    assert "HTML cut to the size limit" in parsed.defects
    assert "end of part 0" in parsed.text and "end of part 1" not in parsed.text


def cpu_seconds_and_result(work, *args):
    result = []
    cpu_seconds(lambda: result.append(work(*args)))
    return result[0]


def test_rewritten_markup_keeps_the_text():
    """The one-pass rewrite changes what the converter reads, not what the reader sees."""
    markup = (
        "<html><head><title>T</title><style>p{}</style></head><body><!-- note -->"
        '<p>Hello <b>Ana</b>,</p><p>see <a href="https://x.example/a?b=1&amp;c=2" title="t">the offer</a></p>'
        "<ul><li>one<li>two</ul><table><tr><td>a</td><td>b</td></tr></table><script>alert(1)</script>"
        "<pre>  kept\n  as is</pre>x &lt; y</body></html>"
    )
    assert htmltext.html_to_text(markup) == (
        'Hello Ana,\n\nsee [the offer](https://x.example/a?b=1&c=2 "t")\n\n  * one\n  * two\na b   \n\n'
        "      kept\n      as is\n\nx < y"
    )


@pytest.mark.parametrize("name", ["nested-lists", "nested-quotes"])
def test_deep_nesting_gives_text_of_linear_size(name):
    """Each line carried the whole depth: 300 KB of markup made about 150 MB of text."""
    markup = HTML_SHAPES[name]
    assert len(htmltext.html_to_text(markup)) < 3 * htmltext.MAX_NESTING * len(markup) // 10


def test_broken_character_references_never_let_markup_into_the_text():
    markup = "".join(f"<p>line {i} &#; &#x; &#</p>" for i in range(5)) + "<p><b>bold</b> &#65;&#x42;</p>"
    text = htmltext.html_to_text(markup)
    assert "<" not in text and "line 4 &#; &#x; &#" in text and text.endswith("bold AB")


def test_nesting_past_the_cap_keeps_its_text():
    text = htmltext.html_to_text("<blockquote>" * 100 + "deep words" + "</blockquote>" * 100)
    assert "deep words" in text
    assert text.count(">") == htmltext.MAX_NESTING


def test_unclosed_script_drops_the_rest_and_unclosed_title_keeps_it():
    assert htmltext.html_to_text("<p>before</p><script>var x = '<p>after</p>'") == "before"
    assert htmltext.html_to_text("<p>before</p><title>after") == "before\n\nafter"


# --- header fields ----------------------------------------------------------------------------------

BIG = 240_000  # under the 256 KB limit for one header field


def message_with(name: str, value: str) -> bytes:
    fields = {
        "From": "Ana <ana@customer.example>",
        "To": "capture@bcc.example",
        "Subject": "x",
        "Date": "Mon, 4 Mar 2024 10:00:00 +0100",
        name: value,
    }
    return "".join(f"{k}: {v}\r\n" for k, v in fields.items()).encode() + b"\r\nbody\r\n"


HEADER_SHAPES = {
    # A long run of address characters without "@" was tried as an address from each character.
    "references-without-at": ("References", "a" * BIG),
    "references-of-dots": ("References", repeat("a.", BIG)),
    "in-reply-to-of-colons": ("In-Reply-To", ":" * BIG),
    "from-without-at": ("From", "a" * BIG),
    "from-of-encoded-words": ("From", repeat("=?a?q?", BIG)),
}


@pytest.mark.parametrize(("name", "value"), HEADER_SHAPES.values(), ids=HEADER_SHAPES.keys())
def test_header_fields_are_read_in_linear_time(name, value):
    cpu_seconds(parse_message, message_with(name, value))


@pytest.mark.parametrize(
    "subject",
    [repeat("Re: ", 10**6), repeat("RE:[a]", 10**6), repeat("[a]", 10**6)],
    ids=["prefixes", "prefixes-and-tags", "tags"],
)
def test_subject_prefixes_are_stepped_over_in_linear_time(subject):
    """Capture compares subjects of up to a header field's 256 KB; cut one prefix at a time, each cut
    copied the rest of the subject."""
    cpu_seconds(threading_rules.normalize_subject, subject)
    cpu_seconds(threading_rules.has_reply_prefix, subject)


def test_a_long_address_is_checked_in_linear_time():
    """Capture checks the address of each contact it creates; a dot was tried at every place."""
    assert cpu_seconds(is_valid_address, "a@" + "." * 300_000 + "@") < CPU_LIMIT
    assert not is_valid_address("a@" + "." * 300_000 + "@")
    assert is_valid_address("ada@acme.example") and not is_valid_address("ada@example.")


def test_a_message_to_many_new_customers_is_captured_in_linear_time(company, db_path):
    """Each unknown recipient becomes a contact, named from the message: the name was looked up by
    reading every recipient again for each one."""
    import sqlite3

    company.ok("settings", "set", "bcc-address", "capture@bcc.northwind.example")
    to = ", ".join(f"C{i} <c{i}@x.io>" for i in range(10_000))  # two fields under 256 KB each
    cc = ", ".join(f"C{i} <c{i}@x.io>" for i in range(10_000, 20_000))
    raw = (
        f"From: Maria Lopez <maria@northwind.example>\r\nTo: {to}\r\nCc: {cc}\r\nSubject: Price list\r\n"
        "Message-ID: <list@northwind.example>\r\n\r\nPrices attached.\r\n"
    ).encode()
    taken = cpu_seconds(lambda: company.ok("bcc-ingest", input=raw))
    print(f"{taken:.2f} s of CPU")
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("SELECT count(*) FROM contacts").fetchone()[0] == 20_000
        assert (
            conn.execute(
                "SELECT c.name FROM contacts c JOIN contact_emails e ON e.contact_id = c.id "
                "WHERE e.email = 'c19999@x.io'"
            ).fetchone()[0]
            == "C19999"
        )
    finally:
        conn.close()


# --- inline forwards --------------------------------------------------------------------------------

FORWARD_LIST_SHAPES = {
    "bare-run-without-dot": repeat("a@b", 200_000),  # every "@" was tried against every later dot
    "bare-run-of-ats": "@" * 200_000,
    "items-without-address": repeat("a,", 200_000),  # each one was joined to all those before it
    "addresses-without-dot": repeat("a@b,", 200_000),
    "unclosed-mailto": repeat("[mailto:", 200_000),
}


@pytest.mark.parametrize("value", FORWARD_LIST_SHAPES.values(), ids=FORWARD_LIST_SHAPES.keys())
def test_forwarded_address_lists_are_read_in_linear_time(value):
    cpu_seconds(forward.parse_address_list, value)


def test_forwarded_recipients_in_a_long_body_are_read_in_linear_time():
    body = "---------- Forwarded message ---------\nFrom: a@b.example\nSubject: x\nTo: " + repeat("a,", 500_000)
    found = cpu_seconds(forward.find_inline_forward, body)
    assert found >= 0


def test_many_candidate_header_blocks_are_read_in_linear_time():
    cpu_seconds(forward.find_inline_forward, "From: a@b.example\n" * 40_000)


def test_a_date_line_too_long_to_be_a_date_is_not_parsed():
    line = repeat("3 March 2025 at 10:00 ", 200_000)
    cpu_seconds(forward.parse_loose_date, line)
    assert forward.parse_loose_date(line) is None
