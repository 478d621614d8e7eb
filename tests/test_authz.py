"""Smart BCC sender authorization, one row per rule."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mailcorpus import message

from pdmail.capture.sender_check import authorize_bcc_sender, organizational_domain
from pdmail.mime.parse import parse_message

pytestmark = pytest.mark.both_engines

ALLOWED = frozenset({"alice@allowed.example", "alice.alt@other-allowed.example"})
MX = "mx.bcc.example"


def mail(
    *extra: tuple[str, str], sender: str = "Alice <alice@allowed.example>", extra_from: str | None = None
) -> bytes:
    fields = [("From", sender)]
    if extra_from is not None:
        fields.append(("From", extra_from))
    fields += [
        ("To", "Carl <carl@customer.example>"),
        ("Bcc", "acme@bcc.example"),
        ("Subject", "Quote"),
        ("Date", "Tue, 05 Mar 2024 10:15:00 +0000"),
        ("Message-ID", "<q-1@allowed.example>"),
        *extra,
    ]
    return message(fields)


def verdict(raw: bytes, authserv_id: str | None = None):
    return authorize_bcc_sender(parse_message(raw), ALLOWED, authserv_id)


def ar(value: str) -> tuple[str, str]:
    return ("Authentication-Results", value)


# Without a configured authserv-id only the From header is checked.
@pytest.mark.parametrize(
    ("raw", "ok", "reason_has"),
    [
        (mail(), True, "alice@allowed.example is an allowed sender"),
        (mail(sender="ALICE@Allowed.Example"), True, "allowed sender"),
        (mail(sender="Alice Alt <alice.alt@other-allowed.example>"), True, "allowed sender"),
        (mail(sender="Stranger <stranger@elsewhere.example>"), False, "stranger@elsewhere.example is not allowed"),
        (mail(sender='"alice@allowed.example" <evil@attacker.example>'), False, "evil@attacker.example is not allowed"),
        (mail(extra_from="Alice <alice@allowed.example>"), False, "2 From headers"),
        (mail(sender="alice@allowed.example, evil@attacker.example"), False, "more than one mailbox"),
        (mail(sender="alice@allowed.example<evil@attacker.example>"), False, "more than one mailbox"),
        (mail(sender="undisclosed-recipients:;"), False, "no From address"),
    ],
    ids=[
        "login-address", "login-address-any-case", "alt-address", "stranger", "spoofed-display-name",
        "two-from-headers", "two-mailboxes", "address-glued-to-address", "group-only",
    ],
)  # fmt: skip
def test_from_rules(raw, ok, reason_has):
    result = verdict(raw)
    assert result.ok is ok
    assert reason_has in result.reason


def test_missing_from_header_is_refused():
    raw = message([("To", "carl@customer.example"), ("Subject", "no sender")])
    result = authorize_bcc_sender(parse_message(raw), ALLOWED, None)
    assert not result.ok and result.reason == "the message has no From address"


@pytest.mark.parametrize(
    ("results", "ok", "reason_has"),
    [
        ([f"{MX}; dmarc=pass (p=REJECT) header.from=allowed.example"], True, "dmarc=pass"),
        ([f"{MX}; dkim=fail header.d=allowed.example; dmarc=fail header.from=allowed.example"], False, "dmarc=fail"),
        ([f"{MX}; dmarc=pass header.from=attacker.example"], False, "not for the From domain allowed.example"),
        ([f"{MX}; dkim=pass header.d=mail.allowed.example header.s=s1"], True, "dkim=pass aligned"),
        ([f"{MX}; dkim=pass header.i=@allowed.example header.s=s1"], True, "dkim=pass aligned"),
        ([f"{MX}; dkim=pass header.d=attacker.example; spf=pass smtp.mailfrom=allowed.example"], False, "DKIM not aligned with From"),
        ([f"{MX}; spf=pass smtp.mailfrom=allowed.example"], False, "only SPF passed"),
        ([f"{MX}; none"], False, "no DMARC or DKIM pass"),
        ([], False, f"no Authentication-Results from {MX}"),
        (["other.example; dmarc=pass header.from=allowed.example"], False, f"no Authentication-Results from {MX}"),
        (
            [f"{MX}; dmarc=fail header.from=allowed.example", f"{MX}; dmarc=pass header.from=allowed.example"],
            False, "ambiguous Authentication-Results",
        ),
        (
            ["other.example; dmarc=fail header.from=allowed.example", f"{MX}; dmarc=pass header.from=allowed.example"],
            True, "dmarc=pass",
        ),
        ([f"{MX}; dmarc==pass;; header.from"], False, "could not be read"),
        ([f"{MX.upper()}; dmarc=pass header.from=allowed.example"], True, "dmarc=pass"),
        ([f"{MX}; dkim=pass header.d=allowed.example; dmarc=fail header.from=allowed.example"], False, "dmarc=fail"),
        ([f"{MX}; dmarc=fail header.from=allowed.example; dkim=pass header.d=allowed.example"], False, "dmarc=fail"),
        ([f"{MX}; dkim=pass header.d=allowed.example; dmarc=none header.from=allowed.example"], False, "dmarc=none"),
        ([f"{MX}; dkim=pass header.d=allowed.example; dmarc=temperror header.from=allowed.example"], False,
         "dmarc=temperror"),
        (
            [f"{MX}; dmarc=pass header.from=allowed.example; dmarc=fail header.from=allowed.example"],
            False, "dmarc=fail",
        ),
        ([f"{MX}; dkim=pass header.d=allowed.example; dmarc=pass header.from=attacker.example"], False,
         "not for the From domain"),
    ],
    ids=[
        "dmarc-pass", "dmarc-fail", "dmarc-pass-for-another-domain", "dkim-pass-aligned-subdomain",
        "dkim-pass-aligned-by-identity", "dkim-pass-unaligned", "spf-only-pass", "no-results",
        "no-authentication-results", "results-from-another-server-only", "forged-second-trusted-header",
        "results-from-another-server-ignored", "unreadable-trusted-header", "authserv-id-any-case",
        "dkim-pass-does-not-overrule-dmarc-fail", "dmarc-fail-before-dkim-pass", "dmarc-none-is-not-a-pass",
        "dmarc-temperror-is-not-a-pass", "one-dmarc-fail-among-passes", "dmarc-pass-for-another-domain-with-dkim",
    ],
)  # fmt: skip
def test_authentication_results_rules(results, ok, reason_has):
    result = verdict(mail(*(ar(r) for r in results)), MX)
    assert result.ok is ok
    assert reason_has in result.reason
    assert result.sender == "alice@allowed.example"


def test_authenticated_stranger_is_still_refused():
    raw = mail(ar(f"{MX}; dmarc=pass header.from=elsewhere.example"), sender="stranger@elsewhere.example")
    assert not verdict(raw, MX).ok


NORTHWIND = frozenset({"maria@northwind.com.pl"})


@pytest.mark.parametrize(
    ("signer", "ok"),
    [
        ("northwind.com.pl", True),
        ("mail.northwind.com.pl", True),
        ("attacker.com.pl", False),  # a sibling under the public suffix com.pl, not a relative
        ("com.pl", False),  # a public suffix signs for nobody
        ("northwind.com.pl.evil.example", False),
    ],
)
def test_dkim_alignment_follows_the_public_suffix_list(signer, ok):
    raw = mail(ar(f"{MX}; dkim=pass header.d={signer} header.s=s1"), sender="Maria <maria@northwind.com.pl>")
    result = authorize_bcc_sender(parse_message(raw), NORTHWIND, MX)
    assert result.ok is ok, result.reason
    assert ("dkim=pass aligned" if ok else "DKIM not aligned with From") in result.reason


@pytest.mark.parametrize(
    ("domain", "org"),
    [
        ("allowed.example", "allowed.example"),
        ("mail.eu.allowed.example", "allowed.example"),
        ("mail.acme.co.uk", "acme.co.uk"),
        ("acme.com.au", "acme.com.au"),
        ("Mail.ACME.com.", "acme.com"),
        ("mail.attacker.com.pl", "attacker.com.pl"),
        ("shop.city.kawasaki.jp", "city.kawasaki.jp"),  # an exception rule of the list
        ("victim.blogspot.com", "victim.blogspot.com"),  # private suffixes count too: blogs are not one org
        ("com.pl", None),
        ("", None),
        ("shop.xn--85x722f.xn--55qx5d.cn", "食狮.公司.cn"),  # punycode, read as the list writes it
        ("shop.食狮.公司.cn", "食狮.公司.cn"),
        ("xn--55qx5d.cn", None),  # 公司.cn is a public suffix in either spelling
        ("a.xn--zz-bad.example", None),  # not valid punycode: aligns with nothing but itself
    ],
)
def test_organizational_domain(domain, org):
    assert organizational_domain(domain) == org


def test_the_suffix_list_is_read_from_the_installed_package_without_the_network(monkeypatch):
    import socket

    from pdmail.capture import sender_check as authz

    def no_network(*args, **kwargs):
        raise AssertionError("the Public Suffix List must never be fetched")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    authz._public_suffixes.cache_clear()
    assert organizational_domain("a.b.northwind.com.pl") == "northwind.com.pl"


def test_the_suffix_list_is_loaded_only_when_alignment_needs_it():
    """bcc-ingest runs once per piped message: a DMARC pass or a signature by the From domain itself
    must not pay for reading the list."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from pdmail.capture.sender_check import authorize_bcc_sender\n"
        "from pdmail.mime.parse import parse_message\n"
        "from test_authz import ALLOWED, MX, ar, mail\n"
        "for results in (f'{MX}; dmarc=pass header.from=allowed.example',"
        " f'{MX}; dkim=pass header.d=allowed.example'):\n"
        "    assert authorize_bcc_sender(parse_message(mail(ar(results))), ALLOWED, MX).ok\n"
        "print('publicsuffixlist' in sys.modules)\n"
        "assert authorize_bcc_sender(parse_message(mail(ar(f'{MX}; dkim=pass header.d=eu.allowed.example'))),"
        " ALLOWED, MX).ok\n"
        "print('publicsuffixlist' in sys.modules)\n"
    )
    tests = str(Path(__file__).parent)
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tests,
        env={**os.environ, "PYTHONPATH": tests},
        check=True,
    ).stdout
    assert out.split() == ["False", "True"]


_AR_WORDS = st.sampled_from(
    list('abc.=;()"@ -_/\\') + ["dmarc", "dkim", "pass", "header.d", "header.from", MX, "spf", "smtp.mailfrom"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_AR_WORDS, max_size=40).map("".join))
def test_any_authentication_results_value_gives_a_verdict(value):
    raw = mail(ar(value.strip() or "x"))
    result = verdict(raw, MX)
    assert isinstance(result.ok, bool) and result.reason
