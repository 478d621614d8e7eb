"""Merge fields in templates: ``{contact.first_name}``, ``{deal.title}``... filled from CRM records.

Deliberately not ``str.format``: a template is user text, and format strings can reach into
attributes. Here a field is one of a fixed list, and anything else is an error that names it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pdmail.core.errors import UsageError

FIELDS = {
    "contact": ("name", "first_name", "last_name", "email", "title", "phone"),
    "org": ("name", "domain"),
    "deal": ("title", "value", "currency", "status", "id"),
    "user": ("name", "first_name", "email"),
}
_FIELD_RE = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


def known_fields() -> list[str]:
    return [f"{group}.{name}" for group, names in FIELDS.items() for name in names]


def fields_in(text: str) -> list[str]:
    """The fields a text uses, in order; an unknown one raises a UsageError naming it."""
    found: list[str] = []
    for m in _FIELD_RE.finditer(text):
        if m.group(0) in ("{{", "}}"):
            continue
        name = m.group(1).strip()
        group, dot, attr = name.partition(".")
        if not dot or attr not in FIELDS.get(group, ()):
            raise UsageError(
                f"unknown merge field {{{name}}}; known fields: "
                + ", ".join(f"{{{f}}}" for f in known_fields())
                + " (write {{ and }} for literal braces)"
            )
        if name not in found:
            found.append(name)
    return found


def render(text: str, values: Mapping[str, str | None], *, missing: Mapping[str, str] | None = None) -> str:
    """Fill every field. A field without a value raises a UsageError saying why it has none.

    ``missing`` says why, by field name or by group ("contact", "deal"...).
    """
    fields_in(text)
    missing = missing or {}

    def fill(m: re.Match) -> str:
        token = m.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        name = m.group(1).strip()
        value = values.get(name)
        if value is None or value == "":
            group = name.partition(".")[0]
            why = missing.get(name) or missing.get(group) or f"no value for {{{name}}}"
            raise UsageError(f"the template uses {{{name}}} but {why}")
        return str(value)

    return _FIELD_RE.sub(fill, text)


def _parsed(name: str):
    """The name read by ``nameparser``, which knows titles ("Dr.", "Prof."), suffixes ("Jr.", "III"),
    "Last, First" order and particles ("van der"), so "Dr. Ada Byron" is called Ada, not "Dr.".
    Imported here so that only a command that fills a template pays for its tables."""
    from nameparser import HumanName

    return HumanName(name)


def first_name(name: str, given: str | None = None) -> str:
    """The first name a contact was given, else the one read from the name ("" when it has none)."""
    if given and given.strip():
        return given.strip()
    return _parsed(name).first if name.strip() else ""


def last_name(name: str) -> str:
    """The family name read from the full name, particles included ("de la Fuente"); "" for one word."""
    return _parsed(name).last if name.strip() else ""
