"""Who may use the Smart BCC capture address: a pure verdict on a parsed message.

The From header alone can be forged, so when the receiving server is named (``bcc-authserv-id``) the
message must also carry exactly one Authentication-Results header from it, with a DMARC pass for the
From domain or a DKIM pass aligned with it. A compliant server deletes incoming headers claiming its
own id, so a second one means someone forged it (RFC 8601 §5). SPF alone authenticates only the envelope.

When that server evaluated DMARC, its verdict is final: DMARC already weighed DKIM and SPF against the
domain owner's policy, so a DKIM pass must not overrule a ``dmarc=fail``. Alignment is DMARC's relaxed
one (RFC 7489 §3.1.1): the same organizational domain, read from the Public Suffix List, because a
short list of suffixes would take ``attacker.com.pl`` for a relative of ``northwind.com.pl``.
"""

from __future__ import annotations

import functools
import re

from pdmail.core.addresses import domain_of
from pdmail.core.models import ParsedEmail
from pdmail.core.records import Record
from pdmail.mime.parse import DEFECT_FROM_SEVERAL_MAILBOXES

_COMMENT_RE = re.compile(r"\([^()]*\)")


class AuthzVerdict(Record):
    ok: bool
    reason: str
    sender: str | None  # the single From address, when there is one


@functools.cache
def _public_suffixes():
    """The Public Suffix List shipped inside the ``publicsuffixlist`` package: read from its own file,
    never fetched. Imported and parsed only when alignment needs it, so a piped message whose From
    domain signed or passed DMARC itself never pays for it. Parsed without punycode copies of its
    rules (twice as fast): :func:`_unicode_labels` brings names to the list's own form instead."""
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList(accept_encoded_idn=False)


def _clean_domain(domain: str) -> str:
    return domain.strip().strip(".").lower()


def _unicode_labels(name: str) -> str | None:
    """``xn--`` labels decoded, as the list writes them; None when one is not valid punycode."""
    if "xn--" not in name:
        return name
    try:
        return ".".join(
            label.encode("ascii").decode("idna") if label.startswith("xn--") else label for label in name.split(".")
        )
    except UnicodeError:
        return None


def organizational_domain(domain: str) -> str | None:
    """The registrable part of a domain (one label under its public suffix); None for a public suffix
    or a name that cannot be read, which then aligns with nothing but itself."""
    name = _unicode_labels(_clean_domain(domain))
    if not name:
        return None
    return _public_suffixes().privatesuffix(name)


def dkim_aligned(signer: str, from_domain: str) -> bool:
    """Relaxed alignment: the signer is the From domain, or shares its organizational domain."""
    signer, from_domain = _clean_domain(signer), _clean_domain(from_domain)
    if signer == from_domain:
        return True
    org = organizational_domain(from_domain)
    return org is not None and organizational_domain(signer) == org


def _authserv_id(value: str) -> str:
    """The authserv-id of a raw Authentication-Results value, read even when the rest will not parse."""
    head = _COMMENT_RE.sub(" ", value).split(";", 1)[0].split()
    return head[0].lower() if head else ""


def _property(result: object, ptype: str, name: str) -> str | None:
    for prop in getattr(result, "properties", ()):
        if prop.type == ptype and prop.name == name and prop.value:
            return str(prop.value).strip().lower()
    return None


def _check_results(value: str, from_domain: str) -> tuple[bool, str]:
    """Whether one trusted Authentication-Results value authenticates the From domain, and why not.

    Its reader is loaded here: a company that names no trusted server never reads these headers."""
    import authres

    try:
        header = authres.AuthenticationResultsHeader.parse_value(value)
    except (authres.AuthResError, ValueError, IndexError, TypeError, AttributeError):
        return False, "its Authentication-Results header could not be read"
    dmarc: list[tuple[str, str | None]] = []  # (result, header.from)
    dkim_signers: list[str | None] = []
    spf_pass = False
    for result in header.results:
        method = (result.method or "").lower()
        outcome = (result.result or "").lower()
        if method == "dmarc":
            dmarc.append((outcome, _property(result, "header", "from")))
        elif method == "dkim" and outcome == "pass":
            dkim_signers.append(_dkim_signer(result))
        elif method == "spf" and outcome == "pass":
            spf_pass = True
    if dmarc:
        return _dmarc_verdict(dmarc, from_domain)
    aligned = [s for s in dkim_signers if s and dkim_aligned(s, from_domain)]
    if aligned:
        return True, f"dkim=pass aligned ({aligned[0]})"
    if dkim_signers:
        names = ", ".join(s or "unknown domain" for s in dkim_signers)
        return False, f"DKIM not aligned with From (signed by {names})"
    if spf_pass:
        return False, "only SPF passed, which does not authenticate the From address"
    return False, "no DMARC or DKIM pass"


def _dkim_signer(result: object) -> str | None:
    signer = _property(result, "header", "d")
    if signer is None:
        identity = _property(result, "header", "i")
        signer = identity.rpartition("@")[2] if identity else None
    return signer or None


def _dmarc_verdict(dmarc: list[tuple[str, str | None]], from_domain: str) -> tuple[bool, str]:
    """The server evaluated DMARC: every result must be a pass for the From domain itself."""
    for outcome, _ in dmarc:
        if outcome != "pass":
            return False, f"DMARC did not pass for {from_domain} (dmarc={outcome or 'unreadable'})"
    elsewhere = [domain or "an unnamed domain" for _, domain in dmarc if domain != from_domain]
    if elsewhere:
        return False, f"DMARC passed for {', '.join(elsewhere)}, not for the From domain {from_domain}"
    return True, "dmarc=pass"


def authorize_bcc_sender(
    parsed: ParsedEmail, allowed_addresses: frozenset[str], authserv_id: str | None
) -> AuthzVerdict:
    """May this message be filed through the capture address? ``allowed_addresses`` are normalized."""
    if parsed.from_header_count == 0 or not parsed.from_:
        return AuthzVerdict(False, "the message has no From address", None)
    if parsed.from_header_count > 1:
        return AuthzVerdict(False, f"the message has {parsed.from_header_count} From headers", None)
    if len(parsed.from_) > 1 or DEFECT_FROM_SEVERAL_MAILBOXES in parsed.defects:
        return AuthzVerdict(False, "the From header holds more than one mailbox", None)
    sender = parsed.from_[0].email
    if sender not in allowed_addresses:
        return AuthzVerdict(False, f"{sender} is not allowed to use the capture address", sender)
    if not authserv_id:
        return AuthzVerdict(True, f"{sender} is an allowed sender", sender)

    wanted = authserv_id.strip().lower()
    trusted = [v for v in parsed.authentication_results if _authserv_id(v) == wanted]
    if not trusted:
        return AuthzVerdict(False, f"no Authentication-Results from {authserv_id}", sender)
    if len(trusted) > 1:
        return AuthzVerdict(
            False, f"ambiguous Authentication-Results: {len(trusted)} claim to be from {authserv_id}", sender
        )
    passed, why = _check_results(trusted[0], domain_of(sender))
    if not passed:
        return AuthzVerdict(False, f"{sender} is not authenticated: {why}", sender)
    return AuthzVerdict(True, f"{sender} is an allowed sender, authenticated by {authserv_id} ({why})", sender)
