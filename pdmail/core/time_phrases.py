"""Reading a time a person typed ("tomorrow 09:00", "2026-03-10 14:00") in their own time zone.

The clock is a parameter, never read here, so "tomorrow" is tested against any fixed moment.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

from pdmail.core.errors import UsageError

PAST_GRACE = timedelta(minutes=1)


def zone(name: str | None) -> tzinfo:
    """The named zone, or the system's when the user chose none."""
    if name:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)
    return datetime.now().astimezone().tzinfo or UTC


def parse_when(text: str, now: datetime, zone_name: str | None = None) -> datetime:
    """An aware UTC moment, not in the past. Naive times are read in the user's zone."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    value = " ".join(text.split())
    if not value:
        raise UsageError("--at needs a time, such as 'tomorrow 09:00' or 2026-03-10T14:00")
    tz = zone(zone_name)
    moment = _iso(value, tz)
    if moment is None:
        moment = _natural(value, now, tz, zone_name)
    if moment is None:
        raise UsageError(
            f"cannot read {text!r} as a time; try 'tomorrow 09:00', 'monday 10:00', 'in 2 hours' or 2026-03-10T14:00"
        )
    moment = moment.astimezone(UTC)
    if moment < now - PAST_GRACE:
        shown = moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")
        raise UsageError(f"--at {text!r} means {shown}, which has passed; give a later time")
    return moment


def _iso(value: str, tz: tzinfo) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment


def _natural(value: str, now: datetime, tz: tzinfo, zone_name: str | None) -> datetime | None:
    import dateparser

    local_now = now.astimezone(tz)
    settings = {
        "RELATIVE_BASE": local_now.replace(tzinfo=None),
        "PREFER_DATES_FROM": "future",
        "RETURN_AS_TIMEZONE_AWARE": True,
        "TIMEZONE": zone_name or _offset_name(local_now),
        "TO_TIMEZONE": "UTC",
    }
    try:
        return dateparser.parse(value, settings=settings)
    except (ValueError, OverflowError):
        return None


def _offset_name(moment: datetime) -> str:
    offset = moment.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


_AGE_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def cutoff(text: str, now: datetime) -> datetime:
    """The moment before which something counts as older than ``text``: an age (30d, 12h, 2w, 45m) or a date."""
    import re

    value = text.strip().lower()
    match = re.fullmatch(r"(\d{1,6})\s*([mhdw])", value)
    if match:
        try:
            return now - timedelta(**{_AGE_UNITS[match[2]]: int(match[1])})
        except OverflowError:
            raise UsageError(f"{text!r} reaches back before the calendar does") from None
    moment = _iso(text.strip(), UTC)
    if moment is None:
        raise UsageError(f"cannot read {text!r} as an age or a date; try 30d, 12h, 2w or 2026-11-01")
    return moment.astimezone(UTC)
