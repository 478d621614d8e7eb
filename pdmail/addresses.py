"""Email address normalization and matching: pure string functions shared by every layer."""

from __future__ import annotations

import re

# Deliberately loose: real mail carries odd but deliverable local parts.
_ADDRESS_PART_RE = re.compile(r"[^@\s<>()\[\],;:\"]+")


def normalize_address(address: str) -> str:
    """Lower-case and trim an address; comparison in pdmail is case-insensitive throughout."""
    return address.strip().strip("<>").strip().lower()


def is_valid_address(address: str) -> bool:
    """``local@domain`` with a dot inside the domain. Checked part by part: one pattern for the whole
    address tried every dot of a long domain against the rest of it, in quadratic time."""
    local, at, domain = normalize_address(address).partition("@")
    return (bool(at) and _ADDRESS_PART_RE.fullmatch(local) is not None
            and _ADDRESS_PART_RE.fullmatch(domain) is not None and "." in domain[1:-1])


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
