"""Merge fields in templates: ``{contact.first_name}``, ``{deal.title}``... filled from CRM records.

Deliberately not ``str.format``: a template is user text, and format strings can reach into
attributes. Here a field is one of a fixed list, and anything else is an error that names it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pdmail.errors import UsageError

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
            raise UsageError(f"unknown merge field {{{name}}}; known fields: "
                             + ", ".join(f"{{{f}}}" for f in known_fields())
                             + " (write {{ and }} for literal braces)")
        if name not in found:
            found.append(name)
    return found


def render(text: str, values: Mapping[str, str | None], *, missing: Mapping[str, str] | None = None) -> str:
    """Fill every field. A field without a value raises a UsageError saying why it has none."""
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
            why = missing.get(group) or f"no value for {{{name}}}"
            raise UsageError(f"the template uses {{{name}}} but {why}")
        return str(value)

    return _FIELD_RE.sub(fill, text)


def first_name(name: str) -> str:
    parts = name.split()
    return parts[0] if parts else ""


def last_name(name: str) -> str:
    parts = name.split()
    return parts[-1] if len(parts) > 1 else ""
