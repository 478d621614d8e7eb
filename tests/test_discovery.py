"""Finding a domain's servers as mail clients do: its autoconfig file (Thunderbird's format), then its
RFC 6186 SRV records, before asking for --imap-host. And the presets named in the README's table.

The network is never reached beyond this machine: autoconfig files are served by a local HTTP server on
127.0.0.1 (the HTTPS addresses a domain would use are mapped onto it by the ``fetch`` collaborator,
which then reads it with pdmail's own HTTP code), and DNS answers come from a resolver the test gives.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from entrypoint import company_db

from pdmail.accounts import discovery
from pdmail.accounts.providers import PROVIDERS, Endpoint, get_provider, provider_for_address

pytestmark = pytest.mark.both_engines

ADDRESS = "maria@northwind.test"


def config(*servers: str) -> bytes:
    return (
        '<?xml version="1.0"?>\n<clientConfig version="1.1"><emailProvider id="northwind.test">'
        "<domain>northwind.test</domain>" + "".join(servers) + "</emailProvider></clientConfig>"
    ).encode()


def incoming(host, port, socket_type, *, kind="imap", username="%EMAILADDRESS%", auth="password-cleartext"):
    return (
        f'<incomingServer type="{kind}"><hostname>{host}</hostname><port>{port}</port>'
        f"<socketType>{socket_type}</socketType><username>{username}</username>"
        f"<authentication>{auth}</authentication></incomingServer>"
    )


def outgoing(host, port, socket_type):
    return (
        f'<outgoingServer type="smtp"><hostname>{host}</hostname><port>{port}</port>'
        f"<socketType>{socket_type}</socketType><username>%EMAILADDRESS%</username></outgoingServer>"
    )


STANDARD = config(
    incoming("pop.northwind.test", 995, "SSL", kind="pop3"),
    incoming("imap.northwind.test", 143, "plain"),  # never taken: no encryption
    incoming("imap.northwind.test", 993, "SSL"),
    outgoing("smtp.northwind.test", 587, "STARTTLS"),
)


class Site:
    """A local HTTP server holding files by path; it records every path asked for, in order."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.asked: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                path = urllib.parse.urlsplit(self.path).path
                site.asked.append(path)
                body = site.files.get(path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def fetch(self, url: str, timeout: float):
        """pdmail's own reading of a URL, with the domain's https://HOST/PATH served here as /HOST/PATH."""
        parts = urllib.parse.urlsplit(url)
        assert parts.scheme == "https"  # a domain's file is only ever asked for over HTTPS
        return discovery.fetch_given(self.url(f"/{parts.hostname}{parts.path}"), timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site():
    served = Site()
    yield served
    served.close()


class Dns:
    """SRV answers by name; every name asked for is recorded."""

    def __init__(self, records: dict[str, list[tuple[int, int, int, str]]] | None = None) -> None:
        self.records = records or {}
        self.asked: list[str] = []

    def __call__(self, name: str, timeout: float):
        self.asked.append(name)
        return self.records.get(name, [])


# --- the autoconfig file -------------------------------------------------------------------------------


def test_the_autoconfig_subdomain_is_asked_first_and_its_first_encrypted_servers_are_taken(site):
    site.files["/autoconfig.northwind.test/mail/config-v1.1.xml"] = STANDARD
    dns = Dns()
    found = discovery.discover(ADDRESS, fetch=site.fetch, srv=dns)
    assert (found.imap, found.smtp) == (
        Endpoint("imap.northwind.test", 993, "tls"),
        Endpoint("smtp.northwind.test", 587, "starttls"),
    )
    assert found.username is None and not found.oauth2_only
    assert "https://autoconfig.northwind.test/mail/config-v1.1.xml?emailaddress=maria%40northwind.test" in found.source
    assert site.asked == ["/autoconfig.northwind.test/mail/config-v1.1.xml"] and dns.asked == []


def test_the_well_known_path_of_the_domain_comes_second(site):
    site.files["/northwind.test/.well-known/autoconfig/mail/config-v1.1.xml"] = config(
        incoming("mx.hosting.example", 143, "STARTTLS", username="%EMAILLOCALPART%")
    )
    found = discovery.discover(ADDRESS, fetch=site.fetch, srv=Dns())
    assert (found.imap, found.smtp, found.username) == (Endpoint("mx.hosting.example", 143, "starttls"), None, "maria")
    assert site.asked == [
        "/autoconfig.northwind.test/mail/config-v1.1.xml",
        "/northwind.test/.well-known/autoconfig/mail/config-v1.1.xml",
    ]


@pytest.mark.parametrize(
    "body",
    [
        config(incoming("imap.northwind.test", 143, "plain")),  # nothing encrypted
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><clientConfig/>',  # entities: refused unread
        b"<html>Not found, but said with 200</html>",
        b"\x00\xff not xml",
    ],
)
def test_a_file_without_an_encrypted_imap_server_is_no_answer_and_srv_records_are_asked(site, body):
    site.files["/autoconfig.northwind.test/mail/config-v1.1.xml"] = body
    dns = Dns({"_imaps._tcp.northwind.test": [(0, 1, 993, "imap.northwind.test.")]})
    found = discovery.discover(ADDRESS, fetch=site.fetch, srv=dns)
    assert found.imap == Endpoint("imap.northwind.test", 993, "tls") and "SRV records" in found.source


def test_a_server_offered_with_oauth2_only_is_said_so():
    body = config(incoming("imap.northwind.test", 993, "SSL", auth="OAuth2"))
    assert discovery.read_autoconfig(body, ADDRESS, source="test").oauth2_only


# --- SRV records --------------------------------------------------------------------------------------


def test_srv_records_tls_first_lowest_priority_then_highest_weight():
    dns = Dns(
        {
            "_imaps._tcp.northwind.test": [
                (20, 0, 993, "backup.northwind.test."),
                (10, 5, 993, "imap.northwind.test."),
            ],
            "_imap._tcp.northwind.test": [(0, 0, 143, "plain-first.northwind.test.")],
            "_submissions._tcp.northwind.test": [(0, 0, 0, ".")],  # "not offered here"
            "_submission._tcp.northwind.test": [(0, 0, 587, "smtp.northwind.test.")],
        }
    )
    found = discovery.discover(ADDRESS, fetch=lambda url, timeout: None, srv=dns)
    assert (found.imap, found.smtp) == (
        Endpoint("imap.northwind.test", 993, "tls"),
        Endpoint("smtp.northwind.test", 587, "starttls"),
    )
    assert dns.asked == [
        "_imaps._tcp.northwind.test",
        "_submissions._tcp.northwind.test",
        "_submission._tcp.northwind.test",
    ]


def test_starttls_imap_from_srv_and_nothing_at_all():
    dns = Dns({"_imap._tcp.northwind.test": [(0, 0, 143, "mail.northwind.test")]})
    found = discovery.discover(ADDRESS, fetch=lambda url, timeout: None, srv=dns)
    assert (found.imap, found.smtp) == (Endpoint("mail.northwind.test", 143, "starttls"), None)
    assert discovery.discover(ADDRESS, fetch=lambda url, timeout: None, srv=Dns()) is None


def test_the_default_lookups_never_ask_the_network_about_special_use_names(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the network was asked")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket, "socket", no_network)
    assert discovery.discover("maria@northwind.example") is None
    assert discovery.discover("maria@mail.example.com") is None
    assert discovery.fetch_https("http://autoconfig.acme.org/mail/config-v1.1.xml", 1) is None  # plain HTTP


def test_only_https_or_this_machine_may_be_named():
    assert discovery.is_allowed_url("https://autoconfig.acme.org/mail/config-v1.1.xml")
    assert discovery.is_allowed_url("http://127.0.0.1:8080/config.xml")
    assert discovery.is_allowed_url("http://localhost/config.xml")
    assert not discovery.is_allowed_url("http://autoconfig.acme.org/mail/config-v1.1.xml")
    assert not discovery.is_allowed_url("file:///etc/passwd")


# --- through pdmail account add -----------------------------------------------------------------------


def run(*args: str):
    done = subprocess.run(
        [sys.executable, "-m", "pdmail", *map(str, args)], capture_output=True, env=os.environ, timeout=120
    )
    return done.returncode, done.stdout.decode(), done.stderr.decode()


def test_account_add_reads_the_servers_from_an_autoconfig_file_and_says_where_it_found_them(db_path, site):
    company_db(db_path)
    site.files["/config-v1.1.xml"] = STANDARD
    code, out, err = run(
        "account", "add", "work", "--address", ADDRESS, "--autoconfig-url", site.url("/config-v1.1.xml"),
        "--password-env", "MAIL_PASSWORD", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert err == (
        f"Found the servers of northwind.test in the autoconfig file {site.url('/config-v1.1.xml')}: "
        "IMAP imap.northwind.test:993 (tls), SMTP smtp.northwind.test:587 (starttls).\n"
    )
    account = json.loads(out)
    assert (account["imap_host"], account["imap_port"], account["imap_security"]) == ("imap.northwind.test", 993, "tls")
    assert (account["smtp_host"], account["smtp_port"], account["smtp_security"]) == (
        "smtp.northwind.test",
        587,
        "starttls",
    )
    assert account["provider"] is None and account["username"] is None


def test_account_add_refuses_a_plain_http_file_elsewhere_and_says_what_it_tried_for_a_domain(db_path):
    company_db(db_path)
    code, out, err = run(
        "account", "add", "work", "--address", ADDRESS, "--autoconfig-url", "http://192.0.2.1/config.xml",
        "--password-env", "MAIL_PASSWORD",
    )  # fmt: skip
    assert (code, out) == (2, "") and "give an https:// address" in err
    code, out, err = run("account", "add", "work", "--address", "maria@northwind.example", "--password-env", "A")
    assert (code, out) == (2, "")
    assert err.startswith(
        "Error: pdmail has no preset for northwind.example and found no server settings for it (no autoconfig "
        "file over HTTPS, no SRV records in its DNS): give --imap-host"
    )


# --- presets --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, imap, smtp",
    [
        ("gandi", ("mail.gandi.net", 993, "tls"), ("mail.gandi.net", 465, "tls")),
        ("hover", ("mail.hover.com", 993, "tls"), ("mail.hover.com", 465, "tls")),
        ("soverin", ("imap.soverin.net", 993, "tls"), ("smtp.soverin.net", 465, "tls")),
        ("123-reg", ("imap.123-reg.co.uk", 993, "tls"), ("smtp.123-reg.co.uk", 465, "tls")),
    ],
)
def test_presets_of_the_providers_the_crm_names(key, imap, smtp):
    provider = get_provider(key)
    assert (provider.imap, provider.smtp) == (Endpoint(*imap), Endpoint(*smtp))


def test_a_soverin_address_needs_no_provider_and_gandi_serves_your_own_domain(db_path):
    company_db(db_path)
    assert provider_for_address("ana@soverin.net").key == "soverin"
    code, out, _ = run("account", "add", "ana@soverin.net", "--password-env", "A", "--json")
    assert code == 0 and json.loads(out)["imap_host"] == "imap.soverin.net"
    code, out, _ = run(
        "account", "add", "work", "--provider", "gandi", "--address", "maria@northwind.example",
        "--password-env", "A", "--json",
    )  # fmt: skip
    assert code == 0 and (json.loads(out)["imap_host"], json.loads(out)["smtp_port"]) == ("mail.gandi.net", 465)


def test_the_readme_preset_table_is_the_presets():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    rows = re.findall(
        r"^\| `([^`]+)` \| ([^|]+) \| `([^`]+)` (\w+) \| (?:`([^`]+)` (\w+)|-) \| ([^|]+) \|$", readme, re.M
    )
    table = {
        key: (label.strip(), imap, isec, smtp, ssec, domains.strip())
        for key, label, imap, isec, smtp, ssec, domains in rows
    }
    expected = {
        key: (
            p.label,
            f"{p.imap.host}:{p.imap.port}",
            p.imap.security,
            f"{p.smtp.host}:{p.smtp.port}" if p.smtp else "",
            p.smtp.security if p.smtp else "",
            ", ".join(p.domains) or "-",
        )
        for key, p in PROVIDERS.items()
    }
    assert table == expected
