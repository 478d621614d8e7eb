"""The fault-injecting proxy itself: capabilities removed, bodies untouched, connections cut."""

from __future__ import annotations

import imaplib

import pytest
from faultproxy import FaultProxy
from imapclient import IMAPClient

pytestmark = pytest.mark.dovecot

# A body that quotes protocol text: the proxy must not rewrite inside literals.
TRICKY = (
    b"From: ana@customer.example\r\nSubject: IMAP notes\r\nMessage-ID: <t1@customer.example>\r\n\r\n"
    b"* CAPABILITY IMAP4rev1 CONDSTORE QRESYNC\r\nA1 OK [CAPABILITY CONDSTORE] done\r\n"
)


def connect(proxy):
    return IMAPClient(proxy.host, port=proxy.port, ssl=False, timeout=10)


def test_capabilities_lose_condstore_and_qresync_but_bodies_are_untouched(dovecot_server, mail_user):
    dovecot_server.seed(mail_user, "INBOX", [TRICKY])
    with FaultProxy(dovecot_server.imap_port, drop_capabilities=("CONDSTORE", "QRESYNC")) as proxy:
        client = connect(proxy)
        try:
            client.login(mail_user.login, mail_user.password)
            client._cached_capabilities = None
            after_login = set(client.capabilities())
            client.select_folder("INBOX")
            body = client.fetch(client.search(), ["BODY.PEEK[]"])
        finally:
            client.logout()
    assert b"IDLE" in after_login and b"CONDSTORE" not in after_login and b"QRESYNC" not in after_login
    assert [row[b"BODY[]"] for row in body.values()] == [TRICKY]


def test_starttls_can_be_hidden_before_login(dovecot_server):
    with FaultProxy(dovecot_server.imap_port, drop_capabilities=("STARTTLS",)) as proxy:
        client = IMAPClient(proxy.host, port=proxy.port, ssl=False, timeout=10)
        try:
            assert b"STARTTLS" not in client.capabilities() and b"IMAP4REV1" in client.capabilities()
        finally:
            client.shutdown()
    direct = IMAPClient(dovecot_server.host, port=dovecot_server.imap_port, ssl=False, timeout=10)
    try:
        assert b"STARTTLS" in direct.capabilities()
    finally:
        direct.shutdown()


def test_connection_is_cut_mid_fetch_once_and_the_next_one_passes(dovecot_server, mail_user):
    raws = [TRICKY.replace(b"t1@", f"t{i}@".encode()) + b"x" * 5000 + b"\r\n" for i in range(5)]
    dovecot_server.seed(mail_user, "INBOX", raws)
    with FaultProxy(dovecot_server.imap_port, cut_after_fetch_bytes=7000) as proxy:
        client = connect(proxy)
        client.login(mail_user.login, mail_user.password)
        client.select_folder("INBOX")
        uids = client.search()
        with pytest.raises((OSError, imaplib.IMAP4.error)):  # the connection drops in the middle of the second body
            client.fetch(uids, ["BODY.PEEK[]"])
        client.shutdown()
        assert proxy.cuts == 1
        again = connect(proxy)
        try:
            again.login(mail_user.login, mail_user.password)
            again.select_folder("INBOX")
            assert len(again.fetch(uids, ["BODY.PEEK[]"])) == 5
        finally:
            again.logout()
        assert proxy.connections == 2 and proxy.cuts == 1
