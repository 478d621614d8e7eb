from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mailcorpus import INNER_MESSAGE, message, multipart, part

from pdmail.core.models import Address
from pdmail.mime.forward import find_forwarded, find_inline_forward, parse_address_list
from pdmail.mime.parse import parse_message


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


GMAIL = """\
FYI, see below.

---------- Forwarded message ---------
From: Carl Customer <carl@customer.example>
Date: Mon, Mar 4, 2024 at 9:12 AM
Subject: Quote for 40 seats
To: Jane Doe <jane@acme.example>
Cc: Dana Buyer <dana@customer.example>, ops@customer.example


Hi Jane,

Could you send a quote for 40 seats?

Carl
"""

OUTLOOK_EN = """\
Adding this to the deal.

-----Original Message-----
From: Carl Customer [mailto:carl@customer.example]
Sent: Tuesday, March 5, 2024 10:15 AM
To: Jane Doe <jane@acme.example>; Dana Buyer
Cc: "Ops, Team" <ops@customer.example>
Subject: RE: Quote for 40 seats

Hi Jane, we accept the quote.
"""

OUTLOOK_UNDERSCORE = """\
See below.

________________________________
From: Carl Customer <carl@customer.example>
Sent: Tuesday, March 5, 2024 10:15 AM
To: Jane Doe <jane@acme.example>
Subject: Signed contract

Attached is the signed contract.
"""

OUTLOOK_DE = """\
Zur Info.

Von: Carl Kunde <carl@kunde.example>
Gesendet: Dienstag, 5. März 2024 10:15
An: Jane Doe <jane@acme.example>
Cc: Dana Einkauf <dana@kunde.example>
Betreff: Angebot für 40 Lizenzen

Hallo Jane, bitte um ein Angebot.
"""

OUTLOOK_FR = """\
Pour info.

De : Carl Client <carl@client.example>
Envoyé : mardi 5 mars 2024 10:15
À : Jane Doe <jane@acme.example>
Objet : Devis pour 40 licences

Bonjour Jane, pouvez-vous nous envoyer un devis ?
"""

APPLE = """\
Forwarding for the record.

Begin forwarded message:

From: Carl Customer <carl@customer.example>
Subject: Quote for 40 seats
Date: March 4, 2024 at 9:12:00 AM GMT+1
To: Jane Doe <jane@acme.example>

Hi Jane, could you send a quote?
"""

THUNDERBIRD = """\



-------- Forwarded Message --------
Subject: \tQuote for 40 seats
Date: \tMon, 4 Mar 2024 09:12:00 +0100
From: \tCarl Customer <carl@customer.example>
To: \tJane Doe <jane@acme.example>



Hi Jane, could you send a quote?
"""

QUOTED = """\
On Tue, Mar 5, 2024 at 11:00 AM Jane Doe <jane@acme.example> wrote:
> Passing this on.
>
> ---------- Forwarded message ---------
> From: Carl Customer <carl@customer.example>
> Date: Mon, Mar 4, 2024 at 9:12 AM
> Subject: Quote for 40 seats
> To: Jane Doe <jane@acme.example>
>
> Hi Jane,
> > an older quote line
> Could you send a quote?
"""


@pytest.mark.parametrize(
    ("text", "sender", "to", "cc", "date", "subject", "body_start"),
    [
        (
            GMAIL, Address("Carl Customer", "carl@customer.example"), ["jane@acme.example"],
            ["dana@customer.example", "ops@customer.example"], utc(2024, 3, 4, 9, 12), "Quote for 40 seats", "Hi Jane,",
        ),
        (
            OUTLOOK_EN, Address("Carl Customer", "carl@customer.example"), ["jane@acme.example"],
            ["ops@customer.example"], utc(2024, 3, 5, 10, 15), "RE: Quote for 40 seats", "Hi Jane, we accept",
        ),
        (
            OUTLOOK_UNDERSCORE, Address("Carl Customer", "carl@customer.example"), ["jane@acme.example"], [],
            utc(2024, 3, 5, 10, 15), "Signed contract", "Attached is the signed contract.",
        ),
        (
            OUTLOOK_DE, Address("Carl Kunde", "carl@kunde.example"), ["jane@acme.example"], ["dana@kunde.example"],
            utc(2024, 3, 5, 10, 15), "Angebot für 40 Lizenzen", "Hallo Jane",
        ),
        (
            OUTLOOK_FR, Address("Carl Client", "carl@client.example"), ["jane@acme.example"], [],
            utc(2024, 3, 5, 10, 15), "Devis pour 40 licences", "Bonjour Jane",
        ),
        (
            APPLE, Address("Carl Customer", "carl@customer.example"), ["jane@acme.example"], [],
            utc(2024, 3, 4, 8, 12), "Quote for 40 seats", "Hi Jane, could you",
        ),
        (
            THUNDERBIRD, Address("Carl Customer", "carl@customer.example"), ["jane@acme.example"], [],
            utc(2024, 3, 4, 8, 12), "Quote for 40 seats", "Hi Jane, could you",
        ),
        (
            QUOTED, Address("Carl Customer", "carl@customer.example"), ["jane@acme.example"], [],
            utc(2024, 3, 4, 9, 12), "Quote for 40 seats", "Hi Jane,\n> an older quote line\nCould you",
        ),
    ],
    ids=["gmail", "outlook-en", "outlook-underscore", "outlook-de", "outlook-fr", "apple-mail", "thunderbird", "quoted-gmail"],
)  # fmt: skip
def test_inline_forward_formats(text, sender, to, cc, date, subject, body_start):
    found = find_inline_forward(text)
    assert found is not None and found.raw is None
    assert found.from_ == sender
    assert [a.email for a in found.to] == to
    assert [a.email for a in found.cc] == cc
    assert found.date_utc == date
    assert found.subject == subject
    assert found.text.startswith(body_start)
    assert "Forwarded message" not in found.text and "From:" not in found.text


def test_forward_found_through_a_parsed_message():
    raw = message(Subject="Fwd: Quote for 40 seats", body=GMAIL.replace("\n", "\r\n"))
    found = find_forwarded(parse_message(raw))
    assert found is not None and found.from_.email == "carl@customer.example"


def test_attached_message_is_returned_raw_for_the_caller_to_parse():
    raw = multipart("mixed", [part("text/plain", "FYI"), part("message/rfc822", INNER_MESSAGE)], "f1")
    found = find_forwarded(parse_message(raw))
    assert found is not None and found.raw is not None
    assert found.raw == INNER_MESSAGE
    original = parse_message(found.raw)
    assert (original.from_[0].email, original.subject) == ("carl@customer.example", "Original question")


def test_plain_message_is_not_a_forward():
    text = "Hi Jane,\n\nFrom: our side, the plan is fine.\nSubject: to approval.\n\nThanks\n"
    assert find_inline_forward(text) is None
    assert find_forwarded(parse_message(message(body=text))) is None


def test_separator_without_a_header_block_is_not_a_forward():
    assert find_inline_forward("---------- Forwarded message ---------\nnothing here\n") is None


def test_from_line_without_address_is_not_a_forward():
    text = "-----Original Message-----\nFrom: Carl Customer\nSent: Tuesday, March 5, 2024 10:15 AM\nSubject: x\n\nbody"
    assert find_inline_forward(text) is None


@pytest.mark.parametrize(
    ("outer_date", "expected"),
    [
        ("Tue, 5 Mar 2024 11:00:00 +0100", utc(2024, 3, 4, 8, 12)),
        ("Tue, 5 Mar 2024 11:00:00 -0500 (EST)", utc(2024, 3, 4, 14, 12)),
        ("Tue, 5 Mar 2024 11:00:00 +0530", utc(2024, 3, 4, 3, 42)),
        ("Tue, 5 Mar 2024 11:00:00 PST", utc(2024, 3, 4, 17, 12)),
        ("Tue, 5 Mar 2024 11:00:00 -0000", utc(2024, 3, 4, 9, 12)),  # -0000: zone unknown, UTC
        ("Tue, 5 Mar 2024 11:00:00", utc(2024, 3, 4, 9, 12)),
    ],
)
def test_forwarded_date_without_zone_is_read_in_the_forwarders_zone(outer_date, expected):
    """Gmail prints "Mon, Mar 4, 2024 at 9:12 AM" in the forwarder's local time; their client wrote
    the forward's own Date header in that same time."""
    raw = message(Subject="Fwd: Quote for 40 seats", Date=outer_date, body=GMAIL.replace("\n", "\r\n"))
    found = find_forwarded(parse_message(raw))
    assert found is not None and found.date_utc == expected


def test_forwarded_date_with_its_own_zone_keeps_it():
    raw = message(
        Subject="Fwd: Quote for 40 seats", Date="Tue, 5 Mar 2024 11:00:00 -0800", body=THUNDERBIRD.replace("\n", "\r\n")
    )
    found = find_forwarded(parse_message(raw))
    assert found is not None and found.date_utc == utc(2024, 3, 4, 8, 12)


def test_unparseable_date_leaves_date_empty():
    found = find_inline_forward(GMAIL.replace("Mon, Mar 4, 2024 at 9:12 AM", "sometime last week-ish, zz"))
    assert found is not None and found.date_utc is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Jane Doe <jane@acme.example>", [("Jane Doe", "jane@acme.example")]),
        ('"Doe, Jane" <Jane@Acme.example>', [("Doe, Jane", "jane@acme.example")]),
        ("jane@acme.example", [("", "jane@acme.example")]),
        ("Jane Doe [mailto:jane@acme.example]", [("Jane Doe", "jane@acme.example")]),
        (
            "Doe, Jane <jane@acme.example>; Bo <bo@acme.example>",
            [("Doe, Jane", "jane@acme.example"), ("Bo", "bo@acme.example")],
        ),
        ("Jane <jane@acme.example<mailto:jane@acme.example>>", [("Jane", "jane@acme.example")]),
        ("Dana Buyer", []),
    ],
)
def test_forwarded_address_forms(value, expected):
    assert [(a.name, a.email) for a in parse_address_list(value)] == expected


_LINES = st.sampled_from(
    ["---------- Forwarded message ---------", "From: a <a@b.example>", "De : x@y.example", "Sent: Monday",
     "Date: 5 March 2024", "Subject: x", "To: a@b.example;", " c@d.example", "> ", ">> From: q@r.example", "",
     "Begin forwarded message:", "____________", "À : ", "Von:", "text"]
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(_LINES, max_size=20).map("\n".join))
def test_any_arrangement_of_forward_lines_never_raises(text):
    found = find_inline_forward(text)
    assert found is None or "@" in found.from_.email
