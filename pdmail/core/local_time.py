"""The user's time zone, and stored UTC times as that user reads them.

Every time is stored and written to JSON in UTC (``2026-12-07T07:00:00Z``); a person reads it in
the zone of their ``time-zone`` setting, or of their computer when they set none. The zone is a
real zone with its daylight-saving rules, never the offset of today: an email of July read in
December must still show July's hour.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, tzinfo
from functools import lru_cache


def zone(name: str | None) -> tzinfo:
    """The named zone, or the system's when the user chose none."""
    if name:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)
    return system_zone()


@lru_cache(maxsize=1)
def system_zone() -> tzinfo:
    """The computer's zone: ``TZ`` when it names one, else /etc/localtime, read with its rules."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    named = os.environ.get("TZ", "").lstrip(":")
    candidates = [named] if named else []
    try:
        target = os.path.realpath("/etc/localtime")
        candidates.append(target.partition("/zoneinfo/")[2])
    except OSError:
        pass
    for key in candidates:
        if key and not key.startswith("/"):
            try:
                return ZoneInfo(key)
            except (ZoneInfoNotFoundError, ValueError, OSError):
                continue
    if not named:
        try:
            with open("/etc/localtime", "rb") as data:
                return ZoneInfo.from_file(data, key="localtime")
        except (OSError, ValueError):
            pass
    return datetime.now().astimezone().tzinfo or UTC


def zone_key(tz: tzinfo) -> str:
    """How to name the zone to a person: its IANA name when known (Europe/Madrid), else its abbreviation."""
    key = getattr(tz, "key", None)
    if key and key != "localtime":
        return key
    return datetime.now(tz).strftime("%Z") or "local time"


def moment(iso_utc: str) -> datetime | None:
    """A stored UTC time (``2026-12-07T07:00:00Z``, or a date alone) as an aware datetime; None if unreadable."""
    text = (iso_utc or "").strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def shown(iso_utc: str | None, tz: tzinfo, *, date_only: bool = False, seconds: bool = False) -> str:
    """``2026-12-07 08:00`` in ``tz`` (``2026-12-07`` with ``date_only``); text that is no time is kept as it is."""
    value = moment(iso_utc or "")
    if value is None:
        return iso_utc or ""
    local = value.astimezone(tz)
    if date_only:
        return local.strftime("%Y-%m-%d")
    return local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def abbreviation(iso_utc: str | None, tz: tzinfo) -> str:
    """The zone's short name at that moment: CET in winter, CEST in summer; +03 where there is none."""
    value = moment(iso_utc or "") or datetime.now(UTC)
    return value.astimezone(tz).strftime("%Z")


def shown_with_zone(iso_utc: str | None, tz: tzinfo, *, seconds: bool = False) -> str:
    """``2026-12-07 08:00 CET``: a time in a sentence says its zone."""
    if moment(iso_utc or "") is None:
        return iso_utc or ""
    return f"{shown(iso_utc, tz, seconds=seconds)} {abbreviation(iso_utc, tz)}"


def zone_label(times, tz: tzinfo) -> str:
    """The zone a column of times is shown in, for its header: ``CET``, or ``CET/CEST`` when it spans a change."""
    names: list[str] = []
    for iso in times:
        if moment(iso or "") is None:
            continue
        name = abbreviation(iso, tz)
        if name not in names:
            names.append(name)
    return "/".join(names) or abbreviation(None, tz)
