"""Building outgoing mail: headers from user values, replies, attachments, and hostile input refused."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default

import pytest

from pdmail.core.errors import UsageError
from pdmail.core.models import Address
from pdmail.mime.limits import ParseLimits
from pdmail.mime.parse import parse_message
from pdmail.send.compose import (
    TOKEN_HEADER,
    Draft,
    FileAttachment,
    Original,
    check_header_value,
    compose,
    parse_addresses,
    reply_fields,
    reply_subject,
)

pytestmark = pytest.mark.both_engines

WHEN = datetime(2026, 3, 5, 9, 30, tzinfo=UTC)
MARIA = Address("María López", "maria@northwind.example")


def draft(**kw) -> Draft:
    base = dict(
        sender=MARIA,
        to=(Address("Ana Ruiz", "ana@acme.example"),),
        subject="Quote for 40 seats",
        body="Hi Ana,\n\nthe quote is attached.\n",
        date=WHEN,
    )
    base.update(kw)
    return Draft(**base)


def header_names(raw: bytes) -> list[str]:
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    return [line.split(":", 1)[0].lower() for line in head.split("\r\n") if line and line[0] not in " \t"]


def test_plain_message_has_the_headers_a_mail_client_expects():
    c = compose(draft(cc=(Address("", "bob@acme.example"),)))
    assert b"\r\n" in c.raw and b"\n" not in c.raw.replace(b"\r\n", b"")
    assert c.raw.isascii()
    msg = message_from_bytes(c.raw, policy=default)
    assert msg["From"] == "María López <maria@northwind.example>"
    assert msg["To"] == "Ana Ruiz <ana@acme.example>"
    assert msg["Cc"] == "bob@acme.example"
    assert msg["Subject"] == "Quote for 40 seats"
    assert msg["Date"] == "Thu, 05 Mar 2026 09:30:00 +0000"
    assert msg["Message-ID"] == f"<{c.message_id}>"
    assert c.message_id.endswith("@northwind.example")
    assert msg[TOKEN_HEADER] == c.token and len(c.token) == 32
    assert msg.get_content().replace("\r\n", "\n") == "Hi Ana,\n\nthe quote is attached.\n"
    assert c.envelope_from == "maria@northwind.example"
    assert c.recipients == ("ana@acme.example", "bob@acme.example")


def test_message_id_and_token_are_new_each_time_unless_given():
    a, b = compose(draft()), compose(draft())
    assert a.message_id != b.message_id and a.token != b.token
    fixed = compose(draft(message_id="<fixed-1@northwind.example>", token="ab" * 16))
    assert fixed.message_id == "fixed-1@northwind.example" and fixed.token == "ab" * 16
    assert compose(draft(message_id="fixed-1@northwind.example", token="ab" * 16)).raw == fixed.raw


def test_bcc_is_in_the_envelope_never_in_the_headers():
    c = compose(draft(bcc=(Address("Boss", "boss@northwind.example"), Address("", "ana@acme.example"))))
    assert "bcc" not in header_names(c.raw)
    assert b"boss@" not in c.raw
    assert c.recipients == ("ana@acme.example", "boss@northwind.example")
    assert c.bcc == ("boss@northwind.example", "ana@acme.example")


def test_the_store_reads_back_what_was_composed():
    c = compose(draft(subject="Añadido — ✓", attachments=(FileAttachment("Angebot für Ana.pdf", b"%PDF-1.4 x" * 50),)))
    parsed = parse_message(c.raw)
    assert parsed.subject == "Añadido — ✓"
    assert parsed.from_ == (MARIA,)
    assert parsed.message_id == c.message_id
    assert parsed.text.strip() == "Hi Ana,\n\nthe quote is attached."
    assert [(a.filename, a.content_type, a.size) for a in parsed.attachments] == [
        ("Angebot für Ana.pdf", "application/pdf", 500)
    ]


def test_attachments_keep_their_exact_bytes_and_a_guessed_type():
    payloads = [
        FileAttachment("notes.txt", b"line one\r\nline two\nno final newline"),
        FileAttachment("photo.jpeg", bytes(range(256)) * 4),
        FileAttachment("data.unknownext", b"\x00\x01\x02"),
        FileAttachment("archive.tar.gz", b"\x1f\x8b\x08\x00"),
    ]
    c = compose(draft(attachments=tuple(payloads)))
    msg = message_from_bytes(c.raw, policy=default)
    got = [(p.get_filename(), p.get_content_type(), p.get_payload(decode=True)) for p in msg.iter_attachments()]
    assert got == [
        ("notes.txt", "text/plain", payloads[0].data),
        ("photo.jpeg", "image/jpeg", payloads[1].data),
        ("data.unknownext", "application/octet-stream", b"\x00\x01\x02"),
        ("archive.tar.gz", "application/octet-stream", b"\x1f\x8b\x08\x00"),
    ]


def test_a_message_over_the_size_limit_is_refused_before_sending():
    with pytest.raises(UsageError, match="over the 1 KB limit"):
        compose(draft(attachments=(FileAttachment("big.bin", b"x" * 2000),)), limits=ParseLimits(max_size=1024))


def test_a_body_line_with_a_single_dot_and_long_lines_survive():
    body = ".\n..\n" + "x" * 2000 + "\nend"
    parsed = parse_message(compose(draft(body=body)).raw)
    assert parsed.text.replace("\r\n", "\n").rstrip("\n") == body


@pytest.mark.parametrize(
    "field,value",
    [
        ("subject", "Hello\r\nBcc: victim@evil.example"),
        ("subject", "Hello\nX-Injected: 1"),
        ("subject", "Hello\rX-Injected: 1"),
        ("subject", "Hello\x00world"),
        ("subject", "Hello\x1b[31m"),
        ("subject", "Hello\u2028Bcc: x@evil.example"),
        ("subject", "Hello\x85Bcc: x@evil.example"),
        ("to", "ana@acme.example\r\nBcc: victim@evil.example"),
        ("to", "Ana\r\n <ana@acme.example>"),
        ("sender", "María\r\nBcc: victim@evil.example"),
        ("filename", "quote.pdf\r\nContent-Type: text/html"),
    ],
)
def test_line_breaks_and_control_characters_never_make_a_header(field, value):
    with pytest.raises(UsageError, match=r"line break|control character"):
        if field == "subject":
            compose(draft(subject=value))
        elif field == "to":
            parse_addresses("--to", [value])
        elif field == "sender":
            compose(draft(sender=Address(value, "maria@northwind.example")))
        else:
            compose(draft(attachments=(FileAttachment(value, b"x"),)))


def test_hostile_but_printable_values_stay_inside_their_own_header():
    name = 'Evil", Bcc: victim@evil.example <x@y>'
    c = compose(draft(to=(Address(name, "ana@acme.example"),), subject="Bcc: victim@evil.example; " + "word " * 40))
    names = header_names(c.raw)
    assert "bcc" not in names
    assert names.count("to") == 1 and names.count("subject") == 1
    assert c.recipients == ("ana@acme.example",)
    parsed = parse_message(c.raw)
    assert [a.email for a in parsed.to] == ["ana@acme.example"]
    assert parsed.to[0].name == name


def test_format_characters_such_as_emoji_joiners_are_fine():
    subject = "Team \U0001f468\u200d\U0001f469\u200d\U0001f467 offsite"
    assert parse_message(compose(draft(subject=subject)).raw).subject == subject


def test_addresses_parse_names_lists_and_refuse_junk():
    got = parse_addresses("--to", ["Ana Ruiz <Ana@Acme.example>, bob@acme.example", "ana@acme.example"])
    assert got == (Address("Ana Ruiz", "ana@acme.example"), Address("", "bob@acme.example"))
    for bad in ["not an address", "ana@", "ana@acme@example.com", "@acme.example", "<>", "ánä@acme.example"]:
        with pytest.raises(UsageError):
            parse_addresses("--to", [bad])
    # What RFC 5321 allows is an address: a host without dots, a quoted local part, an address literal.
    assert parse_addresses("--to", ["root@localhost", '"ana ruiz"@acme.example', "ops@[192.0.2.1]"]) == (
        Address("", "root@localhost"),
        Address("", '"ana ruiz"@acme.example'),
        Address("", "ops@[192.0.2.1]"),
    )
    assert check_header_value("x", "tab\there") == "tab here"


def test_reply_subject_gets_re_once():
    assert reply_subject("Quote") == "Re: Quote"
    assert reply_subject("Re: Quote") == "Re: Quote"
    assert reply_subject("RE:Quote") == "RE:Quote"
    assert reply_subject("AW: Angebot") == "AW: Angebot"
    assert reply_subject("Fwd: Quote") == "Re: Fwd: Quote"
    assert reply_subject("Rex: the dog") == "Re: Rex: the dog"
    assert reply_subject("") == "Re:"


def original(**kw) -> Original:
    base = dict(
        message_id="q-2@acme.example",
        references=("q-0@northwind.example", "q-1@northwind.example"),
        subject="Quote",
        direction="incoming",
        from_=(Address("Ana", "ana@acme.example"),),
        reply_to=(),
        to=(Address("Maria", "maria@northwind.example"), Address("Carl", "carl@acme.example")),
        cc=(Address("", "sam@northwind.example"), Address("", "ana@acme.example")),
    )
    base.update(kw)
    return Original(**base)


def test_reply_to_incoming_goes_to_the_sender_and_copies_the_others():
    r = reply_fields(original(), {"maria@northwind.example"})
    assert [a.email for a in r.to] == ["ana@acme.example"]
    assert [a.email for a in r.cc] == ["carl@acme.example", "sam@northwind.example"]
    assert r.subject == "Re: Quote"
    assert r.in_reply_to == "q-2@acme.example"
    assert r.references == ("q-0@northwind.example", "q-1@northwind.example", "q-2@acme.example")
    only = reply_fields(original(), {"maria@northwind.example"}, reply_all=False)
    assert [a.email for a in only.to] == ["ana@acme.example"] and only.cc == ()


def test_reply_honours_reply_to_and_never_addresses_the_user():
    r = reply_fields(
        original(reply_to=(Address("Sales", "sales@acme.example"),)),
        {"maria@northwind.example", "sam@northwind.example"},
    )
    assert [a.email for a in r.to] == ["sales@acme.example"]
    assert [a.email for a in r.cc] == ["carl@acme.example", "ana@acme.example"]


def test_reply_all_leaves_out_what_the_original_held_that_is_no_address():
    r = reply_fields(
        original(
            to=(Address("Maria", "maria@northwind.example"), Address("", "@mailman.acme.example")),
            cc=(Address("", "Undisclosed recipients"), Address("", "root@localhost")),
        ),
        {"maria@northwind.example"},
    )
    assert [a.email for a in r.to] == ["ana@acme.example"]
    assert [a.email for a in r.cc] == ["root@localhost"]


def test_reply_to_own_sent_mail_is_a_follow_up_to_the_same_people():
    sent = original(
        direction="outgoing",
        from_=(Address("Maria", "maria@northwind.example"),),
        to=(Address("Ana", "ana@acme.example"),),
        cc=(Address("", "carl@acme.example"),),
    )
    r = reply_fields(sent, {"maria@northwind.example"})
    assert [a.email for a in r.to] == ["ana@acme.example"]
    assert [a.email for a in r.cc] == ["carl@acme.example"]


def test_reply_references_are_capped_keeping_the_root_and_the_nearest():
    refs = tuple(f"r{i}@x.example" for i in range(50))
    r = reply_fields(original(references=refs), set())
    assert len(r.references) == 20
    assert r.references[0] == "r0@x.example" and r.references[-1] == "q-2@acme.example"
    assert r.references[-2] == "r49@x.example"


def test_reply_headers_are_written_and_thread_the_parsed_message():
    r = reply_fields(original(), {"maria@northwind.example"})
    c = compose(draft(to=r.to, cc=r.cc, subject=r.subject, in_reply_to=r.in_reply_to, references=r.references))
    parsed = parse_message(c.raw)
    assert parsed.in_reply_to == ("q-2@acme.example",)
    assert parsed.references == r.references
    assert parsed.subject == "Re: Quote"


def test_no_recipient_is_a_usage_error():
    with pytest.raises(UsageError, match="no recipient"):
        compose(draft(to=()))
