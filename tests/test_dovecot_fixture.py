"""The test Dovecot itself: logins, special-use folders, seeding, APPEND and doveadm."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.dovecot

RAW = (
    b"From: Ana <ana@customer.example>\r\nTo: user@pdmail.test\r\nSubject: Quote\r\n"
    b"Date: Mon, 02 Nov 2026 10:00:00 +0000\r\nMessage-ID: <q1@customer.example>\r\n\r\nHello\r\n"
)


def test_imapclient_logs_in_and_sees_the_special_use_folders(dovecot_server, mail_user):
    client = dovecot_server.client(mail_user)
    try:
        roles = {name: set(flags) for flags, _delim, name in client.list_folders()}
    finally:
        client.logout()
    for name, role in (
        ("Sent", b"\\Sent"),
        ("Drafts", b"\\Drafts"),
        ("Trash", b"\\Trash"),
        ("Archive", b"\\Archive"),
        ("Junk", b"\\Junk"),
    ):
        assert role in roles[name], (name, roles[name])
    assert "INBOX" in roles


def test_imaps_port_serves_the_self_signed_certificate(dovecot_server, mail_user):
    client = dovecot_server.client(mail_user, tls=True)
    try:
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
    finally:
        client.logout()


def test_seed_writes_messages_with_flags_and_dates_from_the_header(dovecot_server, mail_user):
    second = RAW.replace(b"q1@", b"q2@")
    assert dovecot_server.seed(mail_user, "Archive/2024", [RAW, second], flags=[["\\Seen"], ["\\Flagged"]]) == 2
    client = dovecot_server.client(mail_user)
    try:
        client.normalise_times = False
        client.select_folder("Archive/2024", readonly=True)
        uids = client.search()
        data = client.fetch(uids, ["FLAGS", "INTERNALDATE", "BODY.PEEK[]"])
    finally:
        client.logout()
    assert [b"\\Seen" in data[u][b"FLAGS"] for u in uids] == [True, False]
    assert [b"\\Flagged" in data[u][b"FLAGS"] for u in uids] == [False, True]
    assert {data[u][b"BODY[]"] for u in uids} == {RAW, second}
    assert data[uids[0]][b"INTERNALDATE"].isoformat() == "2026-11-02T10:00:00+00:00"


def test_users_do_not_see_each_other(dovecot_server, mail_user):
    other = dovecot_server.add_user()
    dovecot_server.seed(other, "INBOX", [RAW])
    client = dovecot_server.client(mail_user)
    try:
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
    finally:
        client.logout()


def test_append_returns_the_uid_and_doveadm_acts_as_another_client(dovecot_server, mail_user):
    uid = dovecot_server.append(mail_user, "INBOX", RAW, flags=["\\Seen"])
    assert uid == 1
    dovecot_server.doveadm("flags", "add", "-u", mail_user.login, "\\Flagged", "mailbox", "INBOX", "uid", "1")
    dovecot_server.doveadm("expunge", "-u", mail_user.login, "mailbox", "INBOX", "uid", "1")
    status = dovecot_server.doveadm("mailbox", "status", "-u", mail_user.login, "messages", "INBOX").stdout
    assert "messages=0" in status


def test_wrong_password_is_refused(dovecot_server, mail_user):
    from imapclient import IMAPClient
    from imapclient.exceptions import LoginError

    client = IMAPClient(dovecot_server.host, port=dovecot_server.imap_port, ssl=False, timeout=10)
    with pytest.raises(LoginError):
        client.login(mail_user.login, "not-" + mail_user.password)
    client.shutdown()


def test_missing_dovecot_skips_with_the_reason_or_fails_when_required(monkeypatch):
    import conftest
    import dovecot

    monkeypatch.setattr(dovecot, "unavailable_reason", lambda: "/usr/sbin/dovecot not found (install it)")
    monkeypatch.delenv("PDMAIL_REQUIRE_DOVECOT", raising=False)
    with pytest.raises(pytest.skip.Exception, match="dovecot not found"):
        conftest._started_dovecot()
    monkeypatch.setenv("PDMAIL_REQUIRE_DOVECOT", "1")
    with pytest.raises(pytest.fail.Exception, match="PDMAIL_REQUIRE_DOVECOT is set but /usr/sbin/dovecot not found"):
        conftest._started_dovecot()
