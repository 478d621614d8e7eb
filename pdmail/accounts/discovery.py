"""Finding a domain's mail servers the way mail clients do, for domains without a preset.

Two sources, in this order:

1. The domain's own autoconfig file in Thunderbird's ISP database format (``config-v1.1.xml``), at
   ``https://autoconfig.DOMAIN/mail/config-v1.1.xml`` and then at
   ``https://DOMAIN/.well-known/autoconfig/mail/config-v1.1.xml``. Only over HTTPS, with the
   certificate checked, and never through a redirect to plain HTTP: a file read over plain HTTP could
   be rewritten on the way to send the password to someone else's server. Mozilla's central
   database is not asked: it would tell a third party which domain you are setting up.
2. RFC 6186 SRV records in the domain's DNS: ``_imaps._tcp`` (TLS, usually 993) before ``_imap._tcp``
   (STARTTLS), ``_submissions._tcp`` (TLS, 465, RFC 8314) before ``_submission._tcp`` (STARTTLS, 587).

A server offered only without encryption is never taken. The network is reached through two
collaborators, ``fetch`` and ``srv``, so that tests (and a closed network) give their own. The
default ones never look up the special-use names of RFC 2606 and RFC 6761 (``.example``, ``.test``,
``.invalid``, ``.localhost``, ``example.com``...): nobody serves mail settings there.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from xml.etree import ElementTree

from pdmail.accounts.providers import Endpoint

TIMEOUT_S = 10.0
MAX_CONFIG_BYTES = 1_000_000  # a config file is a few kilobytes; anything far larger is not one
SPECIAL_USE_SUFFIXES = ("example", "test", "invalid", "localhost", "local")
SPECIAL_USE_DOMAINS = ("example.com", "example.net", "example.org")

# Thunderbird's socketType values and what pdmail calls them; "plain" is left out on purpose.
_SECURITY = {"SSL": "tls", "TLS": "tls", "STARTTLS": "starttls"}

Fetch = Callable[[str, float], bytes | None]
SrvLookup = Callable[[str, float], list[tuple[int, int, int, str]]]  # (priority, weight, port, target)


@dataclass(frozen=True)
class Found:
    """Servers found for a domain, and where they were found (said to the user, who should check them)."""

    imap: Endpoint
    smtp: Endpoint | None
    source: str
    username: str | None = None  # the login name, when the server wants something else than the address
    oauth2_only: bool = False  # the file offers the IMAP server with OAuth2 only


def discover(
    address: str, *, fetch: Fetch | None = None, srv: SrvLookup | None = None, timeout: float = TIMEOUT_S
) -> Found | None:
    """The servers of the address's domain from its autoconfig file, else from its SRV records."""
    fetch = fetch or fetch_https
    srv = srv or srv_records
    domain = address.rpartition("@")[2].lower().rstrip(".")
    for url in autoconfig_urls(domain, address):
        body = fetch(url, timeout)
        found = read_autoconfig(body, address, source=f"its autoconfig file ({url})") if body else None
        if found is not None:
            return found
    return from_srv(domain, srv, timeout)


def autoconfig_urls(domain: str, address: str) -> list[str]:
    """Where a domain publishes its autoconfig file, in the order Thunderbird asks."""
    query = urllib.parse.urlencode({"emailaddress": address})
    return [
        f"https://autoconfig.{domain}/mail/config-v1.1.xml?{query}",
        f"https://{domain}/.well-known/autoconfig/mail/config-v1.1.xml",
    ]


# --- the autoconfig file -------------------------------------------------------------------------


def read_autoconfig(body: bytes, address: str, *, source: str) -> Found | None:
    """The first IMAP and SMTP servers of a ``clientConfig`` file that encrypt; None when it has no IMAP
    server that does, or is no such file. A file with a document type is refused unread: the format
    has none, and entity tricks are how XML hurts its reader."""
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        return None
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return None
    provider = root.find("emailProvider")
    if root.tag != "clientConfig" or provider is None:
        return None
    imap = _first_server(provider.findall("incomingServer"), "imap", address)
    if imap is None:
        return None
    smtp = _first_server(provider.findall("outgoingServer"), "smtp", address)
    endpoint, username, auths = imap
    login = username if username and username.lower() != address.lower() else None
    oauth2_only = bool(auths) and all(a.lower() == "oauth2" for a in auths)
    return Found(endpoint, smtp[0] if smtp else None, source, login, oauth2_only)


def _first_server(elements, kind: str, address: str) -> tuple[Endpoint, str | None, list[str]] | None:
    for element in elements:
        if (element.get("type") or "").lower() != kind:
            continue
        host = _text(element, "hostname")
        security = _SECURITY.get(_text(element, "socketType").upper())
        port = _text(element, "port")
        if not host or security is None or not port.isdigit() or not 0 < int(port) < 65536:
            continue
        host = _placeholders(host, address)
        auths = [a.text.strip() for a in element.findall("authentication") if a.text and a.text.strip()]
        username = _placeholders(_text(element, "username"), address) or None
        return Endpoint(host.lower(), int(port), security), username, auths
    return None


def _text(element, tag: str) -> str:
    child = element.find(tag)
    return (child.text or "").strip() if child is not None else ""


def _placeholders(text: str, address: str) -> str:
    local, _, domain = address.rpartition("@")
    return (
        text.replace("%EMAILADDRESS%", address)
        .replace("%EMAILLOCALPART%", local)
        .replace("%EMAILDOMAIN%", domain.lower())
    )


# --- SRV records --------------------------------------------------------------------------------


def from_srv(domain: str, srv: SrvLookup, timeout: float) -> Found | None:
    """RFC 6186: the IMAP server of the domain's SRV records (TLS first), and its submission server."""
    imap = _best_srv(srv, [(f"_imaps._tcp.{domain}", "tls"), (f"_imap._tcp.{domain}", "starttls")], timeout)
    if imap is None:
        return None
    smtp = _best_srv(srv, [(f"_submissions._tcp.{domain}", "tls"), (f"_submission._tcp.{domain}", "starttls")], timeout)
    return Found(imap, smtp, f"the SRV records of {domain} in DNS")


def _best_srv(srv: SrvLookup, names: list[tuple[str, str]], timeout: float) -> Endpoint | None:
    for name, security in names:
        records = [r for r in srv(name, timeout) if r[3].strip(".")]  # a target of "." means "not offered"
        if records:
            _priority, _weight, port, target = min(records, key=lambda r: (r[0], -r[1]))
            return Endpoint(target.rstrip(".").lower(), int(port), security)
    return None


# --- the network, by default ---------------------------------------------------------------------


def is_special_use(host: str) -> bool:
    """A name reserved for examples, tests and local networks, which nobody's DNS answers for."""
    name = host.lower().rstrip(".")
    return name.rpartition(".")[2] in SPECIAL_USE_SUFFIXES or any(
        name == d or name.endswith("." + d) for d in SPECIAL_USE_DOMAINS
    )


def fetch_https(url: str, timeout: float) -> bytes | None:
    """The body of an HTTPS URL (certificate checked, redirects only to HTTPS), or None on any failure."""
    host = urllib.parse.urlsplit(url).hostname or ""
    if urllib.parse.urlsplit(url).scheme != "https" or is_special_use(host):
        return None
    return _get(url, timeout, allow=lambda target: urllib.parse.urlsplit(target).scheme == "https")


def fetch_given(url: str, timeout: float) -> bytes | None:
    """The body of an autoconfig URL the user named: HTTPS, or plain HTTP to this machine only."""
    return _get(url, timeout, allow=is_allowed_url)


def is_allowed_url(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        return True
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def _get(url: str, timeout: float, *, allow: Callable[[str], bool]) -> bytes | None:
    import urllib.error
    import urllib.request

    class _Redirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):
            if not allow(newurl):
                return None  # not followed: the answer is the redirect itself, not a config file
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    if not allow(url):
        return None
    opener = urllib.request.build_opener(_Redirects)
    request = urllib.request.Request(url, headers={"User-Agent": "pdmail", "Accept": "application/xml, text/xml"})
    try:
        with opener.open(request, timeout=timeout) as response:
            if response.status != 200:
                return None
            body = response.read(MAX_CONFIG_BYTES + 1)
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return body if len(body) <= MAX_CONFIG_BYTES else None


def srv_records(name: str, timeout: float) -> list[tuple[int, int, int, str]]:
    """The SRV records of a name from the system's resolver; none for a special-use name or on any failure."""
    if is_special_use(name):
        return []
    import dns.exception
    import dns.resolver

    try:
        answer = dns.resolver.resolve(name, "SRV", lifetime=timeout)
    except dns.exception.DNSException:
        return []
    return [(r.priority, r.weight, r.port, r.target.to_text()) for r in answer]
