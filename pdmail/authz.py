"""Who may use the Smart BCC capture address: a pure verdict on a parsed message.

The From header alone can be forged, so when the receiving server is named (``bcc-authserv-id``) the
message must also carry exactly one Authentication-Results header from it, with a DMARC pass for the
From domain or a DKIM pass aligned with it. A compliant server deletes incoming headers claiming its
own id, so a second one means someone forged it (RFC 8601 §5). SPF alone authenticates only the envelope.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import authres

from pdmail.addresses import domain_of
from pdmail.models import ParsedEmail
from pdmail.parse import DEFECT_FROM_SEVERAL_MAILBOXES

# Second-level labels under which registrations sit one level deeper (co.uk, com.au, ...).
# A small list on purpose: pdmail needs organizational domains of senders, not a full public suffix list.
_TWO_LABEL_SUFFIXES = frozenset(
    {
        "co.uk", "org.uk", "ac.uk", "gov.uk", "me.uk", "ltd.uk", "plc.uk",
        "com.au", "net.au", "org.au", "edu.au", "gov.au",
        "co.nz", "org.nz", "net.nz",
        "co.jp", "ne.jp", "or.jp", "ac.jp",
        "co.za", "org.za",
        "com.br", "net.br", "org.br",
        "com.cn", "net.cn", "org.cn",
        "com.mx", "com.ar", "com.tr", "com.sg", "com.hk", "com.tw", "com.my",
        "co.in", "net.in", "org.in", "co.kr", "co.il", "co.id", "co.th",
    }
)  # fmt: skip

_COMMENT_RE = re.compile(r"\([^()]*\)")


@dataclass(frozen=True)
class AuthzVerdict:
    ok: bool
    reason: str
    sender: str | None  # the single From address, when there is one


def organizational_domain(domain: str) -> str:
    """The registrable part of a domain: its last two labels, or three under a known two-label suffix."""
    labels = domain.strip().strip(".").lower().split(".")
    keep = 3 if ".".join(labels[-2:]) in _TWO_LABEL_SUFFIXES else 2
    return ".".join(labels[-keep:])


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
    """Whether one trusted Authentication-Results value authenticates the From domain, and why not."""
    try:
        header = authres.AuthenticationResultsHeader.parse_value(value)
    except (authres.AuthResError, ValueError, IndexError, TypeError, AttributeError):
        return False, "its Authentication-Results header could not be read"
    dmarc_results: list[str] = []
    dmarc_elsewhere: list[str] = []
    dkim_unaligned: list[str] = []
    spf_pass = False
    for result in header.results:
        method = (result.method or "").lower()
        outcome = (result.result or "").lower()
        if method == "dmarc":
            dmarc_results.append(outcome)
            header_from = _property(result, "header", "from")
            if outcome == "pass" and header_from == from_domain:
                return True, "dmarc=pass"
            if outcome == "pass":
                dmarc_elsewhere.append(header_from or "an unnamed domain")
        elif method == "dkim" and outcome == "pass":
            signer = _property(result, "header", "d")
            if signer is None:
                identity = _property(result, "header", "i")
                signer = identity.rpartition("@")[2] if identity else None
            if signer and organizational_domain(signer) == organizational_domain(from_domain):
                return True, f"dkim=pass aligned ({signer})"
            dkim_unaligned.append(signer or "unknown domain")
        elif method == "spf" and outcome == "pass":
            spf_pass = True
    if dmarc_elsewhere:
        return False, f"DMARC passed for {', '.join(dmarc_elsewhere)}, not for the From domain {from_domain}"
    if dkim_unaligned:
        return False, f"DKIM not aligned with From (signed by {', '.join(dkim_unaligned)})"
    if dmarc_results:
        return False, f"DMARC did not pass for {from_domain} (dmarc={dmarc_results[0]})"
    if spf_pass:
        return False, "only SPF passed, which does not authenticate the From address"
    return False, "no DMARC or DKIM pass"


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
