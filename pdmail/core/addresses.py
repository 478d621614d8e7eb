"""Email address normalization and matching: pure string functions shared by every layer."""

from __future__ import annotations

import functools
import re

# RFC 5322 atext: what a local part or domain may hold without quotes.
_ATEXT = "A-Za-z0-9!#$%&'*+/=?^_`{|}~\\-"
# A strict dot-atom: a quoted local part made of one says nothing the plain form does not.
_DOT_ATOM_RE = re.compile(rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*")
# Unquoted local part, deliberately loose about dots: real providers have handed out addresses with a
# leading, trailing or doubled dot, mail to them is delivered, and pdmail always accepted them.
_LOOSE_LOCAL_RE = re.compile(rf"[{_ATEXT}.]+")
# Quoted local part: any printable text, with ``\\`` and ``\"`` written as quoted pairs.
_QUOTED_LOCAL_RE = re.compile(r'"(?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\[^\x00\r\n])*"')
# Host name: labels of letters, digits, hyphens and underscores (found in real host names), dotless
# names (``localhost``, an intranet host) included.
_HOST_RE = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")
_IPV4_RE = re.compile(r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}")
_GENERAL_LITERAL_RE = re.compile(r"[A-Za-z0-9-]*[A-Za-z0-9]:[!-Z^-~]+")


@functools.lru_cache(maxsize=1 << 16)
def normalize_address(address: str) -> str:
    """Lower-case and trim an address; comparison in pdmail is case-insensitive throughout.

    A quoted local part that needs no quotes (``"ann"@x``) is the same mailbox as the plain one
    (RFC 5321 §4.1.2), so it is written plainly and matches the contact who has it.

    Remembered: linking asks for the same few thousand addresses millions of times over a rescan.
    """
    value = address.strip().strip("<>").strip().lower()
    if value.startswith('"'):
        local, domain = _split_quoted(value)
        if local is not None and _DOT_ATOM_RE.fullmatch(local[1:-1]):
            return f"{local[1:-1]}@{domain}"
    return value


def is_valid_address(address: str) -> bool:
    """Whether this is a mailbox address: RFC 5322/5321 shapes, with non-ASCII (RFC 6531) allowed.

    Addresses: dotless domains (``root@localhost``), quoted local parts (``"a b"@x.example``),
    internationalized domains, and address literals (``user@[192.0.2.1]``, ``[IPv6:...]``).
    Not addresses: two unquoted ``@``, an empty local part or domain, whitespace or brackets outside
    quotes. Capture keeps those as written; they match no contact.
    """
    text = address.strip()
    if text[:1] == "<" and text[-1:] == ">":
        text = text[1:-1].strip()
    if text[:1] in "<>" or text[-1:] in "<>":
        return False  # a lone bracket (``a@b.example<``) is text as written, not an address
    value = normalize_address(text)
    if value.startswith('"'):
        local, domain = _split_quoted(value)
        if local is None:
            return False
    else:
        local, at, domain = value.partition("@")
        if not at or not _LOOSE_LOCAL_RE.fullmatch(_ascii_stand_in(local)):
            return False
    return _is_domain(domain)


def _split_quoted(value: str) -> tuple[str | None, str]:
    """(quoted local part with its quotes, domain) of ``"..."@domain``; (None, "") when it is not that."""
    match = _QUOTED_LOCAL_RE.match(value)
    if not match or value[match.end() : match.end() + 1] != "@":
        return None, ""
    return match.group(0), value[match.end() + 1 :]


def _is_domain(domain: str) -> bool:
    if domain.startswith("[") and domain.endswith("]"):
        return _is_address_literal(domain[1:-1])
    return bool(_HOST_RE.fullmatch(_ascii_stand_in(domain)))


def _is_address_literal(text: str) -> bool:
    """RFC 5321 §4.1.3: an IPv4 address, ``IPv6:`` and an IPv6 address, or ``tag:content``."""
    if _IPV4_RE.fullmatch(text):
        return True
    tag, colon, rest = text.partition(":")
    if colon and tag.lower() == "ipv6":
        import ipaddress

        try:
            ipaddress.IPv6Address(rest)
        except ValueError:
            return False
        return True
    return bool(_GENERAL_LITERAL_RE.fullmatch(text))


def _ascii_stand_in(text: str) -> str:
    """``text`` with each printable non-ASCII character replaced by ``a``, for the ASCII patterns.

    Internationalized addresses (RFC 6531) may use any such character where a letter may stand;
    spaces, controls and unassigned code points stay and make the pattern fail.
    """
    if text.isascii():
        return text
    return "".join("a" if not ch.isascii() and ch.isprintable() and not ch.isspace() else ch for ch in text)


def domain_of(address: str) -> str:
    return normalize_address(address).rpartition("@")[2]


def normalize_block_pattern(pattern: str) -> str:
    """A block entry is an exact address or ``@domain`` (which covers its subdomains)."""
    value = pattern.strip().lower()
    if value.startswith("@"):
        domain = value[1:].strip(".")
        if not domain or "@" in domain or "." not in domain or any(c.isspace() for c in domain):
            raise ValueError(f"not a domain: {pattern!r} (write it as @example.com)")
        return "@" + domain
    if not is_valid_address(value):
        raise ValueError(f"not an email address or @domain: {pattern!r}")
    return normalize_address(value)


def is_blocked(address: str, patterns: frozenset[str] | set[str]) -> bool:
    """True when the address, or its domain or any parent domain, is on the block list."""
    if not patterns:  # the usual case: nobody is blocked
        return False
    addr = normalize_address(address)
    if addr in patterns:
        return True
    domain = domain_of(addr)
    while domain:
        if "@" + domain in patterns:
            return True
        _, dot, rest = domain.partition(".")
        domain = rest if dot else ""
    return False


def normalize_message_id(value: str | None) -> str | None:
    """Angle brackets and surrounding space dropped, domain part lower-cased.

    The local part stays as written: some servers treat it case-sensitively.
    """
    if not value:
        return None
    text = value.strip()
    if text.startswith("<"):
        end = text.find(">")
        text = text[1:end] if end != -1 else text[1:]
    text = text.strip()
    # Stripped, so any whitespace left is inside: split() finds it in C (same whitespace as isspace).
    if not text or len(text.split()) != 1:
        return None
    local, at, domain = text.rpartition("@")
    if not at:
        return text
    return f"{local}@{domain.lower()}"
