"""Reading an address header the way it was written, for the shapes the fast reading leaves out.

Real headers carry comments, groups, quoted pairs, source routes, unquoted commas in names, and text
that is no address at all (``a@b.example@host``, ``@list.example``, ``Undisclosed recipients``). Each
mailbox comes back with its display name and either its address or, when it holds none, its text as
written, so that nothing in the header is lost or turned into a different address. Pure and linear:
one pass over the value to cut it into mailboxes, one over each mailbox.
"""

from __future__ import annotations

import re

from pdmail.core.addresses import is_valid_address, normalize_address
from pdmail.core.records import Record

# Obsolete syntax allows folding whitespace around the dots and the @ of an address (RFC 5322 §4.4).
_SPACED_DOT_OR_AT_RE = re.compile(r"\s*([.@])\s*")


class Mailbox(Record):
    name: str  # the display name as written: quotes and quoted pairs undone, encoded words not yet decoded
    address: str  # normalized when ``is_address``; else the mailbox's text as written, spaces collapsed
    is_address: bool


def read_mailboxes(value: str) -> list[Mailbox]:
    """Every mailbox of an address header, in order; empty entries and group names are not mailboxes."""
    found = []
    items = _items(value)
    i = 0
    while i < len(items):
        item = items[i]
        if i + 1 < len(items) and _is_bare_words(item) and "<" in items[i + 1]:
            item = f"{item},{items[i + 1]}"  # Smith, John <j@x.example>: an unquoted comma in a name
            i += 1
        mailbox = _mailbox(item)
        if mailbox is not None:
            found.append(mailbox)
        i += 1
    return found


def _is_bare_words(item: str) -> bool:
    return not any(ch in item for ch in '@<>"()')


def _items(value: str) -> list[str]:
    """The value cut at commas and semicolons outside quotes, comments and ``<...>``.

    A ``name:`` before a group's members is dropped (the group's name is no mailbox), unless an ``@``
    came before the colon: then the colon is part of whatever was written.
    """
    items: list[str] = []
    start = 0
    depth = 0
    quoted = angle = escape = at_seen = False
    for i, ch in enumerate(value):
        if escape:
            escape = False
        elif quoted:
            if ch == "\\":
                escape = True
            elif ch == '"':
                quoted = False
        elif depth:
            if ch == "\\":
                escape = True
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
        elif ch == '"':
            quoted = True
        elif ch == "(":
            depth = 1
        elif ch == "@":
            at_seen = True
        elif angle:
            if ch == ">":
                angle = False
        elif ch == "<":
            angle = True
        elif ch in ",;":
            items.append(value[start:i])
            start, at_seen = i + 1, False
        elif ch == ":" and not at_seen:
            start = i + 1
    items.append(value[start:])
    return [item for item in items if item.strip()]


def _mailbox(item: str) -> Mailbox | None:
    """One mailbox: ``name <address>``, ``address (comment)``, or text that holds no address."""
    outside: list[str] = []  # the item with comments taken out, quotes kept
    comments: list[str] = []
    angle_open = angle_close = -1
    depth = 0
    quoted = escape = False
    comment: list[str] = []
    for ch in item:
        if depth:
            if escape:
                escape = False
                comment.append(ch)
            elif ch == "\\":
                escape = True
            elif ch == "(":
                depth += 1
                comment.append(ch)
            elif ch == ")":
                depth -= 1
                if depth:
                    comment.append(ch)
                else:
                    comments.append("".join(comment))
                    outside.append(" ")
            else:
                comment.append(ch)
            continue
        if escape:
            escape = False
        elif quoted:
            if ch == "\\":
                escape = True
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "(":
            depth, comment = 1, []
            continue
        elif ch == "<":
            angle_open, angle_close = len(outside), -1
        elif ch == ">" and angle_open != -1:
            angle_close = len(outside)
        outside.append(ch)
    if depth:  # an unclosed comment runs to the end
        comments.append("".join(comment))
    text = "".join(outside)
    if angle_open != -1:  # an unclosed < runs to the end
        phrase, spec = text[:angle_open], text[angle_open + 1 : angle_close if angle_close != -1 else None]
        spec = _without_route(spec.strip())
    else:
        phrase, spec = "", text.strip()
    if not spec and not phrase.strip() and angle_open == -1:
        return None  # nothing but comments
    whole = " ".join(item.split())
    if angle_close != -1 and text[angle_close + 1 :].strip():  # text after <...>: no name-addr at all
        return Mailbox("", whole, False)
    name = _phrase_text(phrase) or " ".join(c.strip() for c in comments if c.strip())
    address = _address(spec)
    if address is not None:
        return Mailbox(name, normalize_address(address), True)
    written = " ".join(spec.split())
    if not written or written == whole:
        return Mailbox("", whole, False)
    return Mailbox(name, written, False)


def _without_route(spec: str) -> str:
    """``@relay.example:ann@x.example`` (an obsolete source route) is ``ann@x.example``."""
    if spec.startswith("@") and ":" in spec:
        return spec.partition(":")[2].strip()
    return spec


def _address(spec: str) -> str | None:
    """The address ``spec`` holds, allowing the obsolete spaces around its dots and ``@``; else None."""
    if not spec or "@" not in spec:
        return None
    if is_valid_address(spec):
        return spec
    if '"' not in spec and any(ch.isspace() for ch in spec):
        joined = _SPACED_DOT_OR_AT_RE.sub(r"\1", spec)
        if is_valid_address(joined):
            return joined
    return None


def _phrase_text(phrase: str) -> str:
    """A display name: quoted strings unquoted as they are, the words between them spaced singly."""
    if '"' not in phrase and "\\" not in phrase:
        return " ".join(phrase.split())
    words: list[str] = []
    plain: list[str] = []
    quoted: list[str] | None = None  # the quoted string being read, if any
    escape = False
    for ch in phrase:
        if escape:
            escape = False
            (plain if quoted is None else quoted).append(ch)
        elif ch == "\\":
            escape = True
        elif quoted is not None:
            if ch == '"':
                words.append("".join(quoted))
                quoted = None
            else:
                quoted.append(ch)
        elif ch == '"':
            words.extend("".join(plain).split())
            plain.clear()
            quoted = []
        else:
            plain.append(ch)
    if quoted is not None:
        words.append("".join(quoted))
    words.extend("".join(plain).split())
    return " ".join(words)
