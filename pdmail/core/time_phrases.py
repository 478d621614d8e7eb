"""Reading a time a person typed, in their own time zone: one grammar for every option that takes one.

``--since``, ``--until``, ``--older-than``, ``send --at`` and ``account add --since`` all read:

- a date or a date and time: ``2026-11-01`` (``2026-11``: the month), ``2026-11-01 09:30``, ``2026-11-01T09:30:00Z`` (a date alone
  is the start of that day; an offset or ``Z`` written in it wins over the user's zone);
- a span: ``45min``, ``12h``, ``30d``, ``2w``, ``3mo`` (also ``30 days``, ``2 weeks ago``): back from now,
  or forward for ``--at`` (``--at 2h``: in two hours);
- words: ``today``, ``yesterday``, ``tomorrow 09:00``, ``monday 10:00``, ``in 2 hours``, ``3 days ago``.
  A day without a time of day is the start of that day; a weekday is the last one before now, or for
  ``--at`` the next one.

A date that is not on the calendar (``2026-13-45``, ``2026-02-30``) is an error, never a guess. The
clock is a parameter, never read here, so "yesterday" is tested against any fixed moment.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from pdmail.core.errors import UsageError
from pdmail.core.local_time import zone

PAST_GRACE = timedelta(minutes=1)
EXAMPLES = "2026-11-01, '2026-11-01 09:30', 30d, 12h, yesterday or 'monday 10:00'"

_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_ISO_MONTH = re.compile(r"(\d{4})-(\d{1,2})")
_SPAN = re.compile(
    r"(?P<n>\d{1,6})\s*(?P<unit>min|mins|minutes?|h|hours?|d|days?|w|weeks?|mo|months?|m)(?P<ago>\s+ago)?",
    re.IGNORECASE,
)
_SPAN_UNITS = {"min": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def read_time(
    text: str, now: datetime, zone_name: str | None = None, *, option: str, forward: bool = False
) -> datetime:
    """The moment ``text`` means, as an aware UTC datetime. Naive times are read in the user's zone.

    ``forward``: spans count forward from now and weekdays mean the next one (``--at``); otherwise
    spans count back and weekdays mean the last one.
    """
    return _read(text, now, zone_name, option=option, forward=forward)[0]


def _read(text: str, now: datetime, zone_name: str | None, *, option: str, forward: bool) -> tuple[datetime, bool]:
    """(the moment, whether ``text`` gave a time of day or an exact span rather than a day)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    value = " ".join(str(text).split())
    if not value:
        raise UsageError(f"{option} needs a time, such as {EXAMPLES}")
    tz = zone(zone_name)
    month = _ISO_MONTH.fullmatch(value)
    if month:
        return _month(month, tz, option, text), False
    if _ISO_DATE.match(value):
        found = _iso(value, tz, option, text)
        if found is not None:
            return found
    span = _SPAN.fullmatch(value)
    if span:
        return _span(span, now, forward, option, text), True
    if value.isdigit():
        raise UsageError(f"{option} {text!r} is a number, not a time; try {EXAMPLES}")
    found = _words(value, now, tz, forward)
    if found is None:
        raise UsageError(f"cannot read {option} {text!r} as a time; try {EXAMPLES}")
    return found


def _iso(value: str, tz: tzinfo, option: str, text: str) -> tuple[datetime, bool] | None:
    """An ISO date or date-time; None when only the time part is written otherwise (``2026-11-01 9:30``)."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        year, month, day = (int(part) for part in _ISO_DATE.match(value).groups())  # type: ignore[union-attr]
        try:
            date(year, month, day)
        except ValueError:
            raise UsageError(f"{option} {text!r} is not a date on the calendar; try {EXAMPLES}") from None
        return None
    has_time = len(value) > 10
    local = moment.replace(tzinfo=tz) if moment.tzinfo is None else moment
    return local.astimezone(UTC), has_time


def _month(match: re.Match, tz: tzinfo, option: str, text: str) -> datetime:
    """``2026-11``: the start of that month."""
    try:
        first = date(int(match[1]), int(match[2]), 1)
    except ValueError:
        raise UsageError(f"{option} {text!r} is not a date on the calendar; try {EXAMPLES}") from None
    return datetime.combine(first, time(0), tz).astimezone(UTC)


def _span(match: re.Match, now: datetime, forward: bool, option: str, text: str) -> datetime:
    unit = match["unit"].lower()
    count = int(match["n"])
    if unit == "m":
        raise UsageError(f"{option} {text!r}: write {count}min for minutes or {count}mo for months")
    try:
        if unit.startswith("mo"):
            length = timedelta(days=30 * count)
        else:
            length = timedelta(**{_SPAN_UNITS[_unit_key(unit)]: count})
        return now + length if forward and not match["ago"] else now - length
    except OverflowError:
        raise UsageError(f"{option} {text!r} reaches beyond the calendar") from None


def _unit_key(unit: str) -> str:
    return "min" if unit.startswith("min") else unit[0]


def _words(value: str, now: datetime, tz: tzinfo, forward: bool) -> tuple[datetime, bool] | None:
    """Words read by dateparser against the user's own clock; a day alone is the start of that day."""
    from dateparser.date import DateDataParser

    local_now = now.astimezone(tz).replace(tzinfo=None)
    parser = DateDataParser(
        settings={
            "RELATIVE_BASE": local_now,
            "PREFER_DATES_FROM": "future" if forward else "past",
            "RETURN_TIME_AS_PERIOD": True,
        }
    )
    try:
        found = parser.get_date_data(value)
    except (ValueError, OverflowError):
        return None
    if found is None or found.date_obj is None:
        return None
    moment = found.date_obj
    if moment.tzinfo is not None:  # a zone written in the text ("10:00 UTC") wins
        return moment.astimezone(UTC), True
    if found.period != "time":
        return datetime.combine(moment.date(), time(0), tz).astimezone(UTC), False
    return moment.replace(tzinfo=tz).astimezone(UTC), True


def parse_when(text: str, now: datetime, zone_name: str | None = None) -> datetime:
    """When to send (``--at``): an aware UTC moment with a time of day, not in the past."""
    moment, has_time = _read(text, now, zone_name, option="--at", forward=True)
    tz = zone(zone_name)
    if not has_time:
        day = moment.astimezone(tz).strftime("%Y-%m-%d")
        raise UsageError(f"--at {text!r} gives a day but no time: write '{day} 09:00' or 'tomorrow 09:00'")
    if moment < now - PAST_GRACE:
        shown = moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")
        raise UsageError(f"--at {text!r} means {shown}, which has passed; give a later time")
    return moment


def cutoff(text: str, now: datetime, zone_name: str | None = None, *, option: str = "--older-than") -> datetime:
    """The moment before which something counts as older than ``text``: an age (30d, 12h, 2w) or a date."""
    return read_time(text, now, zone_name, option=option)


def local_day(text: str, now: datetime, zone_name: str | None = None, *, option: str = "--since") -> date:
    """The day ``text`` falls on in the user's zone (a sync start: mail servers search by day)."""
    return read_time(text, now, zone_name, option=option).astimezone(zone(zone_name)).date()
