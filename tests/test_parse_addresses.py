"""Address headers: the fast reading of the common shapes gives exactly what the full parser gives."""

from __future__ import annotations

from email.utils import getaddresses

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pdmail.core.addresses import is_valid_address, normalize_address
from pdmail.mime import parse
from pdmail.mime.parse import _parse_addresses, _simple_mailboxes

# Pieces that real headers are made of, and pieces that break the common shapes.
_name_chars = st.sampled_from(list("AnaSilvaJoséŁódź0129 -'_!=?") + ["=?UTF-8?Q?Jos=C3=A9?=", "\t", ".", "@", "\\"])
_names = st.lists(_name_chars, max_size=12).map("".join)
_locals = st.sampled_from(["ana", "a.b", "x+tag", "o'neil", "first.last", "UPPER", ".bad", "two..dots", 'q"x'])
_domains = st.sampled_from(["x.com", "sub.example.org", "EXAMPLE.COM", "local", "x-y.test", "bad..dots", "x.com."])


@st.composite
def mailboxes(draw) -> str:
    address = f"{draw(_locals)}@{draw(_domains)}"
    shape = draw(st.sampled_from(["bare", "angle", "named", "quoted", "comment", "odd"]))
    name = draw(_names)
    pad = draw(st.sampled_from(["", " ", "  ", "\t"]))
    if shape == "bare":
        return f"{pad}{address}{pad}"
    if shape == "angle":
        return f"{pad}<{address}>{pad}"
    if shape == "named":
        return f"{pad}{name} <{address}>{pad}"
    if shape == "quoted":
        return f'{pad}"{name.replace(chr(34), "")}"{pad}<{address}>'
    if shape == "comment":
        return f"{address} ({name})"
    return draw(st.sampled_from([f"{name}:{address};", f"{address}<{address}>", f"<@relay:{address}>", ""]))


address_headers = st.lists(mailboxes(), min_size=1, max_size=4).flatmap(
    lambda parts: st.sampled_from([",", ", ", " ,", ";"]).map(lambda sep: sep.join(parts))
)


@settings(max_examples=1500, deadline=None)
@given(address_headers)
@example('"Silva, Ana" <ana@x.com>, bob@y.org')
@example("Ana  Silva   <a@x.com> ,  b@c.d")
@example("=?UTF-8?Q?Jos=C3=A9?= <j@x.com>")
def test_the_fast_reading_agrees_with_the_standard_parser(value):
    simple = _simple_mailboxes(value)
    if simple is not None:
        assert simple == getaddresses([value])


@settings(max_examples=1500, deadline=None)
@given(address_headers)
def test_mailboxes_and_hidden_address_count_are_the_same_either_way(value):
    fast = (_parse_addresses(value), _parse_addresses(value, count_hidden=True))
    original = parse._simple_mailboxes
    parse._simple_mailboxes = lambda _value: None
    try:
        slow = (_parse_addresses(value), _parse_addresses(value, count_hidden=True))
    finally:
        parse._simple_mailboxes = original
    assert fast == slow


def test_the_common_shapes_take_the_fast_way():
    for value in (
        "Ana Silva <ana@x.com>",
        '"Silva, Ana" <ana@x.com>, bob@y.org',
        "ana@x.com",
        "José Silva <j@x.com>",
        "=?UTF-8?B?Sm9zw6k=?= <j@x.com>, <k@y.org>",
    ):
        assert _simple_mailboxes(value) is not None, value


def test_unusual_shapes_go_to_the_full_parser():
    for value in (
        "a@x.com<b@y.com>",
        "Team: a@x.com, b@y.com;",
        "ana@x.com (Ana)",
        "Dr. Ana <a@x.com>",
        '"Ana \\"the boss\\"" <a@x.com>',
        "a@x.com,",
        "<@relay.example:a@x.com>",
    ):
        assert _simple_mailboxes(value) is None, value


_id_text = st.lists(
    st.sampled_from(["<a@x.com>", "b@y.org", " ", ",", '"', "(", ")", "\\", "<", ">", "note", "é"]), max_size=12
).map("".join)


@settings(max_examples=800, deadline=None)
@given(_id_text)
@example('<a@x.com> (old: <b@y.org>) "<c@z.net>"')
def test_quotes_and_comments_are_blanked_and_nothing_else_moves(value):
    blanked = parse._strip_quotes_and_comments(value)
    assert len(blanked) == len(value)
    if '"' not in value and "(" not in value:
        assert blanked == value
    else:
        assert all(b == v or b == " " for b, v in zip(blanked, value))


def test_ids_inside_comments_and_quotes_are_not_references():
    assert parse._message_ids('<a@x.com> (was <b@y.org>) "<c@z.net>" d@w.io') == ["a@x.com", "d@w.io"]


# --- what is an address, and what is kept as written --------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "greg@inbucket",
        "alice@localhost",
        "root@intern",  # a host name without dots
        '"bguste"@enron.com',
        '"a,b"@example.com',
        '"ann lee"@example.com',  # quoted local parts
        '"e-mail <.annette@enron.com>"@enron.com',
        '"say \\"hi\\""@example.com',
        "user@[192.0.2.1]",
        "ops@[IPv6:2001:db8::1]",  # address literals
        "jörg@bücher.example",
        "j@xn--bcher-kva.example",
        "用户@例子.广告",  # internationalized
        "first.last+tag@sub.example.com",
        "o'neil@example.com",
        ".annette@enron.com",
        "two..dots@example.com",  # loose dots, always accepted
    ],
)
def test_what_rfc_5321_and_5322_allow_is_an_address(address):
    assert is_valid_address(address)


@pytest.mark.parametrize(
    "text",
    [
        "brian.r.vassigh@accenture.com@enron",  # two @ outside quotes
        "@mailman.enron.com",  # no local part
        "ann@",
        "ann",
        "",  # no domain, no @
        "e-mail <.annette@enron.com>@enron",  # brackets and spaces outside quotes
        "ann lee@example.com",
        "ann@exa mple.com",
        "ann@example..com",
        "ann@.example.com",
        "ann@example.com.",
        "ann@[300.1.1.1]",
        "ann@[IPv6:not-an-address]",
        '"unclosed@example.com',
        "ann\\lee@example.com",
        "ann@example.com<",  # a lone bracket: text as written
        "<ann@example.com",
    ],
)
def test_anything_else_is_no_address(text):
    assert not is_valid_address(text)


def test_a_quoted_local_part_that_needs_no_quotes_is_the_plain_address():
    assert normalize_address('"BGuste"@Enron.com') == "bguste@enron.com"
    assert normalize_address('"a,b"@Example.com') == '"a,b"@example.com'
    assert normalize_address('"a..b"@example.com') == '"a..b"@example.com'


@pytest.mark.parametrize(
    "value, expected",
    [
        ("greg@inbucket", [("", "greg@inbucket")]),
        ('"bguste"@enron.com', [("", "bguste@enron.com")]),
        ('Ann <"ann lee"@example.com>', [("Ann", '"ann lee"@example.com')]),
        ('"a,b"@example.com, c@example.com', [("", '"a,b"@example.com'), ("", "c@example.com")]),
        ("user@[192.0.2.1]", [("", "user@[192.0.2.1]")]),
        # no address: the text stays as written, never a different address (this was "@enron")
        ("brian.r.vassigh@accenture.com@enron", [("", "brian.r.vassigh@accenture.com@enron")]),
        ("@mailman.enron.com, ann@example.com", [("", "@mailman.enron.com"), ("", "ann@example.com")]),
        ("e-mail <.annette@enron.com>@ENRON", [("", "e-mail <.annette@enron.com>@ENRON")]),
        ("Pat <pat@host@relay>", [("Pat", "pat@host@relay")]),
        ("Undisclosed recipients", [("", "Undisclosed recipients")]),
        # shapes the standard parser misread
        ("Smith, John <j@x.example>, bob@y.example", [("Smith, John", "j@x.example"), ("", "bob@y.example")]),
        ("j . smith @ x . example", [("", "j.smith@x.example")]),
        ("Ann <ann@x.example>; bob@y.example", [("Ann", "ann@x.example"), ("", "bob@y.example")]),
        # what holds no mailbox at all
        ("undisclosed-recipients:;", []),
        ("unlisted-recipients:; (no To-header on input)", []),
    ],
)
def test_each_mailbox_is_read_or_kept_as_written(value, expected):
    found, _ = _parse_addresses(value)
    assert [(a.name, a.email) for a in found] == expected


def test_text_that_is_no_address_still_counts_as_a_mailbox_in_from():
    found, count = _parse_addresses("maria@northwind.example@evil.example", count_hidden=True)
    assert [a.email for a in found] == ["maria@northwind.example@evil.example"] and count == 1


_header_text = st.lists(
    st.sampled_from(
        [
            "a",
            "@",
            ".",
            ",",
            ";",
            ":",
            '"',
            "\\",
            "(",
            ")",
            "<",
            ">",
            "[",
            "]",
            " ",
            "x.example",
            "é",
            "=?utf-8?q?A?=",
            "\t",
        ]
    ),
    max_size=40,
).map("".join)


@settings(max_examples=1500, deadline=None)
@given(_header_text)
@example("a@a<")
def test_any_header_text_reads_without_error_into_addresses_or_text_as_written(value):
    found, count = _parse_addresses(value, count_hidden=True)
    assert count >= len(found)
    for a in found:
        assert a.email.strip() == a.email and a.email
        if is_valid_address(a.email):  # an address is always in the one form contacts are compared in
            assert a.email == normalize_address(a.email)
