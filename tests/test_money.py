"""Deal values read from what people type and export, kept exact, printed in the currency's decimals."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pdmail.core.money import display, minor_units, parse


@pytest.mark.parametrize(
    "text,currency,expected",
    [
        ("480000.10", "EUR", ("480000.10", "EUR")),
        ("480000.1", "eur", ("480000.10", "EUR")),
        ("1,234.50", "EUR", ("1234.50", "EUR")),
        ("1.234,50", "EUR", ("1234.50", "EUR")),
        ("1 234,50", None, ("1234.50", None)),
        ("1\u00a0234,5 EUR", None, ("1234.50", "EUR")),
        ("1'234.50", "CHF", ("1234.50", "CHF")),
        ("1,234,567", "JPY", ("1234567", "JPY")),
        ("1.234.567,891", "KWD", ("1234567.891", "KWD")),
        ("1200,50", None, ("1200.50", None)),
        ("0.125", "KWD", ("0.125", "KWD")),  # "0" cannot start a group of thousands
        ("1.2340", "KWD", ("1.234", "KWD")),  # the way to write a small three-decimal amount
        ("€99", None, ("99.00", "EUR")),
        ("$99", "CAD", ("99.00", "CAD")),  # many dollars are written "$"
        ("usd 5", None, ("5.00", "USD")),
        ("", "EUR", (None, "EUR")),
        ("  ", None, (None, None)),
    ],
)
def test_amounts_are_read_exactly(text, currency, expected):
    assert parse(text, currency) == expected


@pytest.mark.parametrize(
    "text,currency,error",
    [
        ("1,234", "EUR", "ambiguous"),
        ("1.234", "KWD", "ambiguous"),
        ("12.500", "EUR", "ambiguous"),
        ("1,234.5.6", "EUR", "not an amount"),
        ("1.2.3,4,5", "EUR", "not an amount"),
        ("12 34", None, "not an amount"),
        ("1e5", None, "not an amount"),
        ("EUR 5 USD", None, "not an amount"),
        ("5.", None, "not an amount"),
        ("5.5", "JPY", "too many decimals"),
        ("1" * 16, None, "too large"),
        ("-0.5", None, "negative"),
    ],
)
def test_unclear_amounts_are_refused(text, currency, error):
    with pytest.raises(ValueError, match=error):
        parse(text, currency)


def test_minor_units_and_display():
    assert [minor_units(c) for c in ("EUR", "jpy", "KWD", "CLF", None, "XYZ")] == [2, 0, 3, 4, 2, 2]
    assert display("480000.10", "EUR") == "EUR 480,000.10"
    assert display("1200000", "JPY") == "JPY 1,200,000"
    assert display("12.500", "KWD") == "KWD 12.500"
    assert display("12000.00", None) == "12,000.00"
    assert display(None, "EUR") == ""


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=10**13), st.sampled_from(["EUR", "JPY", "KWD"]))
def test_both_grouping_conventions_read_back_the_same_amount(minor, currency):
    places = minor_units(currency)
    amount = Decimal(minor).scaleb(-places)
    english = f"{amount:,.{places}f}"
    german = english.replace(",", "_").replace(".", ",").replace("_", ".")
    stored = f"{amount:.{places}f}"
    for text in (english, german, stored):
        try:
            assert parse(text, currency) == (stored, currency), text
        except ValueError as exc:  # only a lone separator before three digits may be refused
            assert "ambiguous" in str(exc), text


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789.,' -€$EURjpy\u00a0", max_size=20))
def test_any_text_is_read_or_refused_with_a_reason(text):
    try:
        value, _ = parse(text, None)
    except ValueError as exc:
        assert str(exc)
    else:
        assert value is None or Decimal(value) >= 0
