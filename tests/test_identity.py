from __future__ import annotations

import pytest
from mailcorpus import message, multipart, part

from pdmail.mime.fingerprint import fingerprint, snippet
from pdmail.mime.parse import parse_message

pytestmark = pytest.mark.both_engines

FIELDS = [
    ("From", "Jane Doe <jane@acme.example>"),
    ("To", "Carl <carl@customer.example>, Dana <dana@customer.example>"),
    ("Cc", "ops@customer.example"),
    ("Subject", "Quote for 40 seats"),
    ("Date", "Tue, 05 Mar 2024 10:15:00 +0100"),
    ("Message-ID", "<q-1@acme.example>"),
    ("MIME-Version", "1.0"),
]
BODY = [part("text/plain", "Hi Carl,\r\n\r\nthe quote is attached.\r\n"), part("application/pdf", b"%PDF-1.4 quote")]


def build(fields=FIELDS, body=BODY) -> bytes:
    return multipart("mixed", body, "q1", list(fields))


def fp(raw: bytes) -> str:
    return fingerprint(parse_message(raw))


ORIGINAL = fp(build())


def test_same_bytes_twice_give_the_same_fingerprint():
    assert fp(build()) == ORIGINAL
    assert len(ORIGINAL) == 64 and int(ORIGINAL, 16) >= 0


def test_relay_headers_and_bcc_do_not_change_the_fingerprint():
    extra = [
        ("Received", "from mx.acme.example by mx.customer.example; Tue, 05 Mar 2024 09:15:02 +0000"),
        ("Authentication-Results", "mx.customer.example; dkim=pass header.d=acme.example"),
        ("Bcc", "acme@bcc.example"),
        ("X-Mailer", "Something 1.0"),
    ]
    assert fp(build(extra + FIELDS)) == ORIGINAL


def test_rewritten_message_id_does_not_change_the_fingerprint():
    fields = [(k, "<REWRITTEN-9@outlook.example>" if k == "Message-ID" else v) for k, v in FIELDS]
    assert fp(build(fields)) == ORIGINAL


def test_recipient_order_case_and_folding_do_not_change_the_fingerprint():
    fields = [(k, "ops@customer.example") if k == "To" else (k, v) for k, v in FIELDS]
    fields = [
        (k, "Dana <DANA@customer.example>,\r\n Carl <carl@customer.example>") if k == "Cc" else (k, v)
        for k, v in fields
    ]
    assert fp(build(fields)) == ORIGINAL


def test_body_whitespace_does_not_change_the_fingerprint():
    body = [part("text/plain", "Hi Carl,\r\n\r\n  the quote   is attached.  \r\n\r\n"), BODY[1]]
    assert fp(build(body=body)) == ORIGINAL


def test_different_body_changes_the_fingerprint():
    body = [part("text/plain", "Hi Carl,\r\n\r\nthe quote is NOT attached.\r\n"), BODY[1]]
    assert fp(build(body=body)) != ORIGINAL


def test_different_attachment_size_changes_the_fingerprint():
    body = [BODY[0], part("application/pdf", b"%PDF-1.4 quote, revised")]
    assert fp(build(body=body)) != ORIGINAL


def test_different_date_or_subject_changes_the_fingerprint():
    later = [(k, "Tue, 05 Mar 2024 10:16:00 +0100" if k == "Date" else v) for k, v in FIELDS]
    other = [(k, "Quote for 41 seats" if k == "Subject" else v) for k, v in FIELDS]
    assert fp(build(later)) != ORIGINAL
    assert fp(build(other)) != ORIGINAL


def test_snippet_skips_quoted_lines_and_collapses_space():
    text = "Thanks,   that works.\n\nOn Mon Jane wrote:\n> the old\n> message\n"
    assert snippet(text) == "Thanks, that works. On Mon Jane wrote:"


def test_snippet_of_only_quoted_text_keeps_it():
    assert snippet("> only\n> quoted") == "> only > quoted"


def test_snippet_is_cut_at_a_word_with_an_ellipsis():
    cut = snippet("word " * 100, length=50)
    assert len(cut) <= 50 and cut.endswith("word…")


def test_snippet_of_plain_message():
    assert snippet(parse_message(message()).text) == "Hello Rep,"
