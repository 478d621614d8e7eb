"""Deal values as exact decimal text: read from what people type or export, and printed back.

Money is never a float here: 0.1 + 0.2 is not 0.3 in binary floating point, and a value that a CRM
export spelled ``1.234,50`` must not become 1.2345. A value is kept as decimal text with exactly as
many decimals as its currency has (ISO 4217 minor units: JPY none, EUR two, KWD three), so the text
that is stored is the amount, with nothing rounded on the way.

Reading follows one rule, chosen so that a thousands separator is never taken for a decimal point
or the other way round: when both ``,`` and ``.`` appear, the last one is the decimal point; a
separator that appears several times groups thousands; a single ``,`` or ``.`` before exactly three
digits (``1,234``) could be either, and is refused as ambiguous. Spaces and apostrophes only group.

Printing uses the ISO code and plain grouping (``EUR 480,000.00``) rather than a locale's symbol and
separators: pdmail does not know the reader's locale, and the code reads the same everywhere.
"""

from __future__ import annotations

import re
from decimal import Decimal

# ISO 4217 currencies whose minor unit is not the usual two decimals.
_MINOR_UNITS = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
                     "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}  # fmt: skip
DEFAULT_MINOR_UNITS = 2  # most currencies, and a value given without one
_SYMBOLS = {"€": "EUR", "$": "USD", "£": "GBP", "¥": "JPY"}
_MAX_WHOLE_DIGITS = 15
_CODE_RE = re.compile(r"[A-Za-z]{3}")
_AMOUNT_RE = re.compile(r"(?P<before>[A-Za-z]{3}|[€$£¥])?\s*(?P<number>\d[\d.,' ]*)\s*(?P<after>[A-Za-z]{3}|[€$£¥])?")
_GROUP_MARKS = ",. '"


def minor_units(currency: str | None) -> int:
    """How many decimals an amount in this currency has."""
    return _MINOR_UNITS.get((currency or "").upper(), DEFAULT_MINOR_UNITS)


def currency_code(text: str | None) -> str | None:
    """A three-letter currency code, upper case; None for none given."""
    if text is None or not text.strip():
        return None
    code = text.strip()
    if not _CODE_RE.fullmatch(code):
        raise ValueError(f"not a currency code: {text!r} (write three letters, such as EUR)")
    return code.upper()


def parse(text: str, currency: str | None = None) -> tuple[str | None, str | None]:
    """``text`` as (exact decimal text, currency code); (None, currency) for an empty cell.

    A code or symbol written in ``text`` gives the currency when ``currency`` is None; a code that
    disagrees with ``currency`` is refused, since one of the two is wrong.
    """
    currency = currency_code(currency)
    cleaned = text.strip().replace("\u00a0", " ").replace("\u202f", " ")
    if not cleaned:
        return None, currency
    if cleaned.startswith("-"):
        raise ValueError(f"a deal value cannot be negative: {text!r}")
    match = _AMOUNT_RE.fullmatch(cleaned)
    if match is None or (match["before"] and match["after"]):
        raise ValueError(f"not an amount: {text!r}")
    currency = _currency_of(match["before"] or match["after"], currency, text)
    amount = _read_number(match["number"].strip(), text, currency)
    return exact_text(amount, currency, text), currency


def _currency_of(written: str | None, given: str | None, text: str) -> str | None:
    if not written:
        return given
    if written in _SYMBOLS:
        return given or _SYMBOLS[written]  # "$" is written for many dollars: a given code wins
    code = written.upper()
    if given and code != given:
        raise ValueError(f"{text!r} says {code} but the currency is {given}")
    return code


def _read_number(number: str, text: str, currency: str | None = None) -> Decimal:
    """Digits with grouping marks and at most one decimal point, read by the module's rule."""
    whole, point, fraction = _split_decimal(number, text, currency)
    marks = {ch for ch in whole if not ch.isdigit()}
    if len(marks) > 1 or (marks and not re.fullmatch(rf"\d{{1,3}}(?:{re.escape(next(iter(marks)))}\d{{3}})+", whole)):
        raise ValueError(f"not an amount: {text!r} (thousands are grouped by threes, with one kind of mark)")
    digits = re.sub(r"\D", "", whole)
    if len(digits.lstrip("0")) > _MAX_WHOLE_DIGITS:
        raise ValueError(f"too large for a deal value: {text!r}")
    if point and not fraction.isdigit():
        raise ValueError(f"not an amount: {text!r}")
    return Decimal(f"{digits}.{fraction}" if point else digits)


def _split_decimal(number: str, text: str, currency: str | None = None) -> tuple[str, str, str]:
    """(whole part, decimal point or '', fraction) of a number written with grouping marks."""
    last = max(number.rfind(","), number.rfind("."))
    if last < 0:
        return number, "", ""
    mark = number[last]
    other = "." if mark == "," else ","
    if other in number or (number.count(mark) == 1 and not _could_group(number, last)):
        return number[:last], mark, number[last + 1 :]
    if number.count(mark) > 1:
        return number, "", ""
    raise ValueError(
        f"ambiguous amount {text!r}: a single {mark!r} before three digits may group thousands or be the "
        f"decimal point; {_ambiguity_hint(number, mark, currency)}"
    )


def _ambiguity_hint(number: str, mark: str, currency: str | None) -> str:
    """How to write ``number`` so that it reads one way, in a form this currency accepts."""
    thousands = number.replace(mark, "")
    places = minor_units(currency)
    what = currency or "a value without a currency"
    if places < 3:  # three decimals are more than the currency has: only the thousands reading is an amount
        return f"write {thousands} (without grouping); {what} has {places} decimals"
    # a fourth decimal digit (a zero) makes the point a decimal point, and the currency has room for it
    return f"write it without grouping (e.g. {thousands}) or as {number.replace(mark, '.')}0 for a decimal"


def _could_group(number: str, at: int) -> bool:
    """Whether the one separator at ``at`` could be a thousands separator as well as a decimal point."""
    before, after = number[:at], number[at + 1 :]
    return len(after) == 3 and before.isdigit() and 1 <= len(before) <= 3 and before != "0"


def exact_text(amount: Decimal, currency: str | None, text: str | None = None) -> str:
    """The amount as stored: exactly the currency's decimals; more decimals than it has are refused."""
    places = minor_units(currency)
    quantum = Decimal(1).scaleb(-places)
    exact = amount.quantize(quantum)
    if exact != amount:
        what = currency or "a value without a currency"
        raise ValueError(f"too many decimals in {text if text is not None else str(amount)!r} ({what} has {places})")
    return f"{exact:f}"


def display(value: str | None, currency: str | None) -> str:
    """``EUR 480,000.00``: the ISO code, then the amount with its decimals and thousands grouped."""
    if value is None:
        return ""
    amount = f"{Decimal(value):,.{minor_units(currency)}f}"
    return f"{currency} {amount}" if currency else amount
