"""Times typed by people (`send --at`) and template merge fields: pure functions, fixed clocks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pdmail.core.errors import UsageError
from pdmail.core.time_phrases import parse_when
from pdmail.send.merge_fields import fields_in, first_name, last_name, render

pytestmark = pytest.mark.both_engines

NOW = datetime(2026, 3, 5, 22, 30, tzinfo=UTC)  # Thursday; 23:30 in Madrid, 17:30 in New York


@pytest.mark.parametrize(
    "text,zone,expected",
    [
        ("tomorrow 09:00", "Europe/Madrid", "2026-03-06T08:00:00+00:00"),
        ("tomorrow 9am", "America/New_York", "2026-03-06T14:00:00+00:00"),
        ("in 2 hours", "Europe/Madrid", "2026-03-06T00:30:00+00:00"),
        ("monday 10:00", "Europe/Madrid", "2026-03-09T09:00:00+00:00"),
        ("2026-03-10 14:00", "Europe/Madrid", "2026-03-10T13:00:00+00:00"),
        ("2026-03-10T14:00", None, "2026-03-10T14:00:00+00:00"),
        ("2026-03-10T14:00:00Z", "Europe/Madrid", "2026-03-10T14:00:00+00:00"),
        ("2026-03-10T14:00:00-05:00", "Europe/Madrid", "2026-03-10T19:00:00+00:00"),
        ("2026-07-01 09:00", "Europe/Madrid", "2026-07-01T07:00:00+00:00"),
    ],
)
def test_times_are_read_in_the_users_zone_against_a_fixed_now(text, zone, expected):
    assert parse_when(text, NOW, zone).isoformat() == expected


def test_past_times_and_nonsense_are_usage_errors():
    with pytest.raises(UsageError, match="has passed"):
        parse_when("2026-03-01 09:00", NOW, "Europe/Madrid")
    with pytest.raises(UsageError, match="cannot read"):
        parse_when("when pigs fly", NOW, "Europe/Madrid")
    with pytest.raises(UsageError, match="needs a time"):
        parse_when("  ", NOW)
    assert parse_when("2026-03-05T22:29:30Z", NOW) < NOW  # a few seconds late is still "now"
    with pytest.raises(ValueError):
        parse_when("tomorrow", NOW.replace(tzinfo=None))


def test_merge_fields_fill_and_escape():
    values = {"contact.first_name": "Ana", "deal.title": "40 seats"}
    assert render("Hi {contact.first_name}, {deal.title} {{literal}}", values) == "Hi Ana, 40 seats {literal}"
    assert render("{ contact.first_name }", values) == "Ana"
    assert fields_in("{deal.title} {contact.first_name} {deal.title}") == ["deal.title", "contact.first_name"]


@pytest.mark.parametrize(
    "text",
    [
        "{contact.nickname}",
        "{contact}",
        "{contact.__class__}",
        "{0}",
        "{}",
        "{deal.title.__globals__}",
        "{user.password}",
    ],
)
def test_unknown_fields_are_named_never_evaluated(text):
    with pytest.raises(UsageError, match="unknown merge field") as info:
        fields_in(text)
    assert text.strip("{}").strip() in info.value.message


def test_a_field_without_a_value_says_why():
    with pytest.raises(UsageError, match=r"\{deal.title\} but no deal is linked"):
        render("About {deal.title}", {}, missing={"deal": "no deal is linked"})


def test_first_and_last_names():
    assert (first_name("Ana María Ruiz"), last_name("Ana María Ruiz")) == ("Ana", "Ruiz")
    assert (first_name("Cher"), last_name("Cher")) == ("Cher", "")
    assert first_name("") == "" and last_name("  ") == ""


@pytest.mark.parametrize(
    "name,first,last",
    [
        ("Dr. Ada Byron", "Ada", "Byron"),
        ("Byron, Ada", "Ada", "Byron"),
        ("Prof. Dr. Hans-Peter Müller", "Hans-Peter", "Müller"),
        ("Ms Kate Smith-Jones III", "Kate", "Smith-Jones"),
        ("van der Berg, Jan", "Jan", "van der Berg"),
        ("José Ángel de la Fuente", "José", "de la Fuente"),
        ("Dr. Byron", "", "Byron"),  # no first name to tell: a template using it refuses, it never says "Dr."
    ],
)
def test_names_are_read_with_titles_suffixes_and_last_first_order(name, first, last):
    assert (first_name(name), last_name(name)) == (first, last)


def test_a_first_name_given_wins_over_the_one_read_from_the_name():
    assert first_name("Dr. Byron", "Ada") == "Ada"
    assert first_name("Lovelace, Ada", "  Augusta ") == "Augusta"
    assert first_name("Byron, Ada", "  ") == "Ada"


def test_a_field_can_say_why_it_alone_has_no_value():
    with pytest.raises(UsageError, match=r"\{contact.first_name\} but contact 3 has no first name"):
        render(
            "Hi {contact.first_name}",
            {"contact.name": "Dr. Byron"},
            missing={"contact.first_name": "contact 3 has no first name", "contact": "no contact"},
        )
