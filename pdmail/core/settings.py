"""The settings of docs/spec.md ("Settings"): who owns each, its default, and what values it takes."""

from __future__ import annotations

from collections.abc import Callable

from pdmail.core.addresses import is_valid_address, normalize_address
from pdmail.core.errors import UsageError
from pdmail.core.models import Visibility
from pdmail.core.records import Record


def _choice(*allowed: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        v = value.strip().lower()
        aliases = {"true": "on", "yes": "on", "1": "on", "false": "off", "no": "off", "0": "off"}
        if "on" in allowed:
            v = aliases.get(v, v)
        if v not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return v

    return check


def _address_or_empty(value: str) -> str:
    v = value.strip()
    if v in ("", "none", "off"):
        return ""
    if not is_valid_address(v):
        raise ValueError("must be an email address, such as acme@bcc.example.com")
    if "+" in v.partition("@")[0]:
        raise ValueError("give the base address; per-deal variants (+deal42) are derived from it")
    return normalize_address(v)


def _token(value: str) -> str:
    v = value.strip()
    if v in ("none", "off"):
        return ""
    if any(c.isspace() or c == ";" for c in v):
        raise ValueError("must be a single host name, such as mx.example.com")
    return v.lower()


def _time_zone(value: str) -> str:
    v = value.strip()
    if v.lower() in ("", "none", "system", "local"):
        return ""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("must be a time zone name such as Europe/Madrid or America/New_York, or 'system'") from None
    return v


class SettingDef(Record):
    key: str
    scope: str  # "user" | "company"
    default: str
    parse: Callable[[str], str]
    help: str


SETTINGS: dict[str, SettingDef] = {
    s.key: s
    for s in (
        SettingDef(
            "default-visibility",
            "user",
            "shared",
            _choice("shared", "private"),
            "visibility given to email captured from now on",
        ),
        SettingDef(
            "auto-link-deals", "user", "on", _choice("on", "off"), "link new email to the contact's single open deal"
        ),
        SettingDef(
            "accept-colleague-links",
            "user",
            "off",
            _choice("on", "off"),
            "links another user's change adds to your email count at once, without your review",
        ),
        SettingDef(
            "archive-on-server",
            "user",
            "on",
            _choice("on", "off"),
            "`pdmail archive` also moves the message on the mail server",
        ),
        SettingDef(
            "delete-on-server",
            "user",
            "on",
            _choice("on", "off"),
            "`pdmail delete` also moves the message to the server's trash",
        ),
        SettingDef(
            "time-zone",
            "user",
            "",
            _time_zone,
            "time zone for times you type, such as `send --at 'tomorrow 09:00'` (empty: the system's)",
        ),
        SettingDef("bcc-address", "company", "", _address_or_empty, "the company's Smart BCC capture address"),
        SettingDef(
            "bcc-authserv-id",
            "company",
            "",
            _token,
            "trusted receiving server whose Authentication-Results BCC mail must carry",
        ),
        SettingDef(
            "create-contacts",
            "company",
            "on",
            _choice("on", "off"),
            "Smart BCC creates contacts for unknown customer addresses",
        ),
    )
}


def validate(key: str, value: str) -> tuple[SettingDef, str]:
    """Return the setting and its normalized value, or raise a UsageError that teaches."""
    setting = SETTINGS.get(key)
    if setting is None:
        raise UsageError(f"unknown setting {key!r}; known settings: {', '.join(SETTINGS)}")
    try:
        return setting, setting.parse(value)
    except ValueError as exc:
        raise UsageError(f"invalid value {value!r} for {key}: {exc}") from None


def is_on(value: str) -> bool:
    return value == "on"


def visibility_of_setting(value: str) -> Visibility:
    """The ``default-visibility`` setting as a visibility: a value it cannot be keeps the mail private."""
    return "shared" if value == "shared" else "private"
