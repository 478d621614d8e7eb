"""The IMAP layer and `pdmail account test` against a real Dovecot on 127.0.0.1.

Logins, TLS trust, STARTTLS without downgrade, OAuth2 through Dovecot's oauth2 passdb, error
mapping (77/75), and the commands sync relies on. A sentinel secret checks that no failing
path prints, logs or stores the password.
"""

from __future__ import annotations

import json
import secrets as random_tokens
import socket
import subprocess
import sys
import threading

import pytest
from faultproxy import FaultProxy

from pdmail.accounts import imap
from pdmail.accounts.providers import PROVIDERS
from pdmail.core.errors import AuthFailure, TemporaryFailure, UsageError
from pdmail.store.accounts import Account

pytestmark = pytest.mark.dovecot

RAW = (
    b"From: Ana Silva <ana@customer.example>\r\nTo: user@pdmail.test\r\nSubject: Quote %d\r\n"
    b"Date: Mon, 02 Nov 2026 10:00:00 +0000\r\nMessage-ID: <q%d@customer.example>\r\n\r\nHello %d\r\n"
)


def raw(i: int) -> bytes:
    return RAW % (i, i, i)


def account_for(server, user, **overrides) -> Account:
    """An Account as `account add` would make it, pointing at the test server's IMAPS port."""
    fields = dict(
        id=1,
        owner_id=1,
        name="work",
        kind="imap",
        provider=None,
        address=user.login,
        imap_host="127.0.0.1",
        imap_port=server.imaps_port,
        imap_security="tls",
        smtp_host=None,
        smtp_port=None,
        smtp_security=None,
        username=None,
        auth="password",
        secret_source=json.dumps({"env": "PDMAIL_TEST_IMAP_PASSWORD"}),
        cafile=str(server.cafile),
        maildir_path=None,
        since=None,
        folders_json=None,
        past=None,
        is_default=True,
        created_utc="",
    )
    fields.update(overrides)
    return Account(**fields)


@pytest.fixture
def session(dovecot_server, mail_user):
    with imap.connect(account_for(dovecot_server, mail_user), secret=mail_user.password, timeout=30) as s:
        yield s


# --- through the command line ----------------------------------------------------------------------


@pytest.fixture
def sentinel_user(dovecot_server):
    """A user whose password is a sentinel we can search every output for."""
    password = "SENTINEL-" + random_tokens.token_hex(8)
    return dovecot_server.add_user(password=password)


def add_cli_account(cli, server, user, *extra):
    return cli.json(
        "account",
        "add",
        "work",
        "--address",
        user.login,
        "--imap-host",
        "127.0.0.1",
        "--imap-port",
        str(server.imaps_port),
        "--password-env",
        "PDMAIL_TEST_IMAP_PASSWORD",
        *extra,
    )


def test_account_test_logs_in_and_shows_folders_roles_and_capabilities(
    company, dovecot_server, sentinel_user, monkeypatch, db_path
):
    monkeypatch.setenv("PDMAIL_TEST_IMAP_PASSWORD", sentinel_user.password)
    add_cli_account(company, dovecot_server, sentinel_user, "--cafile", str(dovecot_server.cafile))
    report = company.json("account", "test", "work")
    roles = {f["name"]: f["role"] for f in report["folders"]}
    assert roles == {
        "INBOX": "inbox",
        "Sent": "sent",
        "Drafts": "drafts",
        "Trash": "trash",
        "Archive": "archive",
        "Junk": "junk",
    }
    assert {"IMAP4REV1", "CONDSTORE", "IDLE", "UIDPLUS", "MOVE"} <= set(report["capabilities"])
    human = company.ok("account", "test", "work").stdout
    assert "logged in to 127.0.0.1" in human and "Sent  (sent)" in human and "Capabilities: " in human
    assert sentinel_user.password not in human + json.dumps(report)
    assert sentinel_user.password.encode() not in db_path.read_bytes()


@pytest.mark.parametrize("debug", [False, True])
def test_wrong_password_exits_77_and_never_shows_the_secret(
    company, dovecot_server, sentinel_user, monkeypatch, debug, db_path
):
    wrong = sentinel_user.password + "-wrong"
    monkeypatch.setenv("PDMAIL_TEST_IMAP_PASSWORD", wrong)
    add_cli_account(company, dovecot_server, sentinel_user, "--cafile", str(dovecot_server.cafile))
    result = company(*(["--debug"] if debug else []), "account", "test", "work")
    assert result.exit_code == 77
    assert "refused the login" in result.stderr and "AUTHENTICATIONFAILED" in result.stderr
    assert "SENTINEL" not in result.stdout + result.stderr
    assert b"SENTINEL" not in db_path.read_bytes()


def test_wrong_password_from_a_command_exits_77_without_the_secret(company, dovecot_server, sentinel_user, monkeypatch):
    monkeypatch.setenv("PDMAIL_TEST_WRONG", sentinel_user.password + "-wrong")
    command = f"{sys.executable} -c \"import os; print(os.environ['PDMAIL_TEST_WRONG'])\""
    company.json(
        "account",
        "add",
        "work",
        "--address",
        sentinel_user.login,
        "--imap-host",
        "127.0.0.1",
        "--imap-port",
        str(dovecot_server.imaps_port),
        "--cafile",
        str(dovecot_server.cafile),
        "--password-command",
        command,
    )
    result = company("--debug", "account", "test", "work")
    assert result.exit_code == 77 and "SENTINEL" not in result.stdout + result.stderr


def test_an_internal_error_after_login_shows_a_traceback_with_debug_but_never_the_secret(
    company, dovecot_server, sentinel_user, monkeypatch
):
    monkeypatch.setenv("PDMAIL_TEST_IMAP_PASSWORD", sentinel_user.password)
    add_cli_account(company, dovecot_server, sentinel_user, "--cafile", str(dovecot_server.cafile))

    def broken(self):
        raise RuntimeError("a bug while listing folders")

    monkeypatch.setattr(imap.ImapSession, "folders", broken)
    result = company("--debug", "account", "test", "work")
    assert result.exit_code == 1 and "Traceback" in result.stderr and "a bug while listing" in result.stderr
    assert "SENTINEL" not in result.stdout + result.stderr


def test_self_signed_certificate_is_refused_then_accepted_with_cafile(
    company, dovecot_server, sentinel_user, monkeypatch
):
    monkeypatch.setenv("PDMAIL_TEST_IMAP_PASSWORD", sentinel_user.password)
    add_cli_account(company, dovecot_server, sentinel_user)
    refused = company("account", "test", "work")
    assert refused.exit_code == 77
    assert "not trusted" in refused.stderr and "`pdmail account set work --cafile PEM`" in refused.stderr
    assert "account add" not in refused.stderr  # the account exists: it is changed, not added again
    company.ok("account", "set", "work", "--cafile", str(dovecot_server.cafile))
    assert company("account", "test", "work").exit_code == 0


def test_a_trusted_certificate_for_another_name_is_refused(dovecot_server, mail_user, tmp_path):
    cert, key = tmp_path / "other.pem", tmp_path / "other.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=other.example",
            "-addext",
            "subjectAltName=DNS:other.example",
        ],
        check=True,
        capture_output=True,
    )
    with FaultProxy(dovecot_server.imap_port, tls_cert=(cert, key)) as proxy:
        account = account_for(dovecot_server, mail_user, imap_port=proxy.port, cafile=str(cert))
        with pytest.raises(AuthFailure, match=r"not trusted.*--cafile"):
            imap.connect(account, secret=mail_user.password, timeout=5)
    assert "LOGIN" not in proxy.commands


# --- STARTTLS ----------------------------------------------------------------------------------------


def test_starttls_port_works_with_starttls_security(dovecot_server, mail_user):
    account = account_for(dovecot_server, mail_user, imap_port=dovecot_server.imap_port, imap_security="starttls")
    with imap.connect(account, secret=mail_user.password) as s:
        assert s.client._starttls_done and s.select("INBOX").exists == 0


def test_a_server_without_starttls_is_refused_before_any_credential_is_sent(dovecot_server, mail_user):
    with FaultProxy(dovecot_server.imap_port, drop_capabilities=("STARTTLS",)) as proxy:
        account = account_for(dovecot_server, mail_user, imap_port=proxy.port, imap_security="starttls")
        with pytest.raises(AuthFailure, match="does not offer STARTTLS"):
            imap.connect(account, secret=mail_user.password)
    assert not {"LOGIN", "AUTHENTICATE", "STARTTLS"} & set(proxy.commands)


def test_tls_security_on_a_plain_port_is_a_temporary_failure_not_a_plaintext_login(dovecot_server, mail_user):
    account = account_for(dovecot_server, mail_user, imap_port=dovecot_server.imap_port)
    with pytest.raises(TemporaryFailure, match="TLS"):
        imap.connect(account, secret=mail_user.password, timeout=5)


# --- OAuth2 through Dovecot's oauth2 passdb ------------------------------------------------------------


@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
def test_oauth2_token_logs_in_with_each_sasl_mechanism(oauth2_dovecot, mechanism):
    server, endpoint = oauth2_dovecot
    user = server.add_user()
    token = "tok-" + random_tokens.token_hex(12)
    endpoint.grant(token, user.login)
    account = account_for(server, user, auth="oauth2")
    with imap.connect(account, secret=token, sasl=mechanism) as s:
        assert s.select("INBOX").exists == 0
    assert endpoint.seen[-1] == token


def test_oauth2_bad_or_foreign_token_exits_77_without_showing_it(oauth2_dovecot, company, monkeypatch):
    server, endpoint = oauth2_dovecot
    user, other = server.add_user(), server.add_user()
    foreign = "SENTINEL-foreign-" + random_tokens.token_hex(6)
    endpoint.grant(foreign, other.login)
    monkeypatch.setenv("PDMAIL_TEST_TOKEN", foreign)
    command = f"{sys.executable} -c \"import os; print(os.environ['PDMAIL_TEST_TOKEN'])\""
    company.json(
        "account",
        "add",
        "work",
        "--address",
        user.login,
        "--imap-host",
        "127.0.0.1",
        "--imap-port",
        str(server.imaps_port),
        "--cafile",
        str(server.cafile),
        "--oauth2-token-command",
        command,
    )
    for token in (foreign, "SENTINEL-never-granted"):
        monkeypatch.setenv("PDMAIL_TEST_TOKEN", token)
        result = company("--debug", "account", "test", "work")
        assert result.exit_code == 77, result.stderr
        assert "token" in result.stderr and "SENTINEL" not in result.stdout + result.stderr
    assert endpoint.seen[-2:] == [foreign, "SENTINEL-never-granted"]
    good = "tok-" + random_tokens.token_hex(12)
    endpoint.grant(good, user.login)
    monkeypatch.setenv("PDMAIL_TEST_TOKEN", good)
    assert company.json("account", "test", "work")["login"] == user.login


def test_password_over_oauth2_only_server_is_not_tried_as_a_token(dovecot_server, mail_user):
    account = account_for(dovecot_server, mail_user, auth="oauth2")
    with pytest.raises(UsageError, match="neither OAUTHBEARER nor XOAUTH2"):
        imap.connect(account, secret="irrelevant")


# --- network failures ----------------------------------------------------------------------------------


def test_a_server_that_never_answers_times_out_as_a_temporary_failure(dovecot_server, mail_user):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        account = account_for(dovecot_server, mail_user, imap_port=silent.getsockname()[1])
        with pytest.raises(TemporaryFailure, match="did not answer"):
            imap.connect(account, secret=mail_user.password, timeout=0.5)


def test_nothing_listening_is_a_temporary_failure(dovecot_server, mail_user):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(TemporaryFailure, match="cannot reach"):
        imap.connect(account_for(dovecot_server, mail_user, imap_port=port), secret=mail_user.password)


def test_a_connection_cut_mid_fetch_is_a_temporary_failure(dovecot_server, mail_user):
    dovecot_server.seed(mail_user, "INBOX", [raw(i) + b"x" * 4000 for i in range(6)])
    with (
        FaultProxy(dovecot_server.imap_port, cut_after_fetch_bytes=9000, tls_cert=dovecot_server.tls_cert) as proxy,
        imap.connect(account_for(dovecot_server, mail_user, imap_port=proxy.port), secret=mail_user.password) as s,
    ):
        s.select("INBOX")
        uids = s.search_uids()
        with pytest.raises(TemporaryFailure, match=r"broke|stopped"):
            list(s.fetch_bodies(uids))
    assert proxy.cuts == 1


def test_without_condstore_there_is_no_modseq_and_no_changedsince(dovecot_server, mail_user):
    dovecot_server.seed(mail_user, "INBOX", [raw(1), raw(2)], flags=["\\Seen"])
    with (
        FaultProxy(
            dovecot_server.imap_port, drop_capabilities=("CONDSTORE", "QRESYNC"), tls_cert=dovecot_server.tls_cert
        ) as proxy,
        imap.connect(account_for(dovecot_server, mail_user, imap_port=proxy.port), secret=mail_user.password) as s,
    ):
        assert not s.condstore and s.has("IDLE")
        info = s.select("INBOX")
        assert info.highestmodseq is None and info.exists == 2
        flags = s.fetch_flags(s.search_uids())
        assert [("\\Seen" in f, modseq) for f, modseq in flags.values()] == [(True, None), (True, None)]
        with pytest.raises(UsageError, match="CONDSTORE"):
            s.fetch_flags([1], changedsince=1)


# --- the commands sync uses ---------------------------------------------------------------------------


def test_select_search_and_peek_never_marks_read(session, dovecot_server, mail_user):
    dovecot_server.seed(mail_user, "INBOX", [raw(i) for i in range(3)])
    info = session.select("INBOX")
    assert info.exists == 3 and info.uidnext == 4 and info.highestmodseq and info.uidvalidity
    uids = session.search_uids()
    fetched = list(session.fetch_bodies(uids, chunk=2))
    assert [f.uid for f in fetched] == uids == [1, 2, 3]
    assert fetched[0].raw == raw(0) and fetched[0].internaldate.utcoffset() is not None
    assert all("\\Seen" not in flags for flags, _ in session.fetch_flags(uids).values())
    assert session.search_uids(since=fetched[0].internaldate) == uids


def test_status_matches_select_without_selecting(session, dovecot_server, mail_user):
    dovecot_server.seed(mail_user, "Archive", [raw(1), raw(2)])
    status = session.status("Archive")
    assert session.selected is None
    assert status == session.select("Archive", readonly=True)
    assert status.exists == 2 and status.uidnext == 3 and status.highestmodseq


def test_flags_changedsince_move_and_append(session, dovecot_server, mail_user):
    dovecot_server.seed(mail_user, "INBOX", [raw(i) for i in range(4)])
    before = session.select("INBOX").highestmodseq
    session.add_flags([1, 2], ["\\Seen", "\\Flagged"])
    session.remove_flags([2], ["\\Flagged"])
    changed = session.fetch_flags([1, 2, 3, 4], changedsince=before)
    assert sorted(changed) == [1, 2] and set(changed[1][0]) >= {"\\Seen", "\\Flagged"}
    assert session.move([3], "Archive") == {3: 1}
    assert session.append("Sent", raw(9), ["\\Seen"]) == 1
    assert session.select("Archive").exists == 1


def test_moving_to_a_missing_folder_is_an_imap_error_with_its_code(session, dovecot_server, mail_user):
    dovecot_server.seed(mail_user, "INBOX", [raw(1)])
    session.select("INBOX")
    with pytest.raises(imap.ImapError) as caught:
        session.move([1], "No such folder")
    assert caught.value.code == "TRYCREATE"
    with pytest.raises(imap.ImapError, match="doesn't exist"):
        session.select("Nope")


def test_more_uids_than_one_command_takes_are_sent_in_chunks(session, dovecot_server, mail_user):
    count = 12_500
    dovecot_server.seed(mail_user, "INBOX", [b"Subject: %d\r\n\r\nx\r\n" % i for i in range(count)])
    session.select("INBOX")
    uids = session.search_uids()
    assert len(uids) == count
    session.add_flags(uids, ["\\Seen"])
    flags = session.fetch_flags(uids)
    assert len(flags) == count and all("\\Seen" in f for f, _ in flags.values())


def test_idle_returns_when_another_client_delivers(session, dovecot_server, mail_user):
    session.select("INBOX")
    assert session.idle(0.2) == []
    delivery = threading.Timer(0.5, dovecot_server.append, (mail_user, "INBOX", raw(1)))
    delivery.start()
    try:
        responses = session.idle(30)
    finally:
        delivery.join()
    assert (1, b"EXISTS") in responses


def test_messages_expunged_between_search_and_fetch_are_skipped(session, dovecot_server, mail_user):
    dovecot_server.seed(mail_user, "INBOX", [raw(i) for i in range(4)])
    session.select("INBOX")
    uids = session.search_uids()
    dovecot_server.doveadm("expunge", "-u", mail_user.login, "mailbox", "INBOX", "uid", "2:3")
    assert [m.uid for m in session.fetch_bodies(uids)] == [1, 4]
    assert sorted(session.fetch_flags(uids)) == [1, 4]


def test_debug_logging_of_the_imap_library_never_holds_the_secret(
    dovecot_server, sentinel_user, oauth2_dovecot, caplog
):
    caplog.set_level("DEBUG")
    with imap.connect(account_for(dovecot_server, sentinel_user), secret=sentinel_user.password) as s:
        s.select("INBOX")
    server, endpoint = oauth2_dovecot
    user = server.add_user()
    token = "SENTINEL-token-" + random_tokens.token_hex(6)
    endpoint.grant(token, user.login)
    for mechanism in ("XOAUTH2", "OAUTHBEARER"):
        with imap.connect(account_for(server, user, auth="oauth2"), secret=token, sasl=mechanism):
            pass
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "Logged in as" in logged  # the application's debug log is on...
    assert "AUTHENTICATE" not in logged  # ...but the wire is not logged at all (see the test below)
    assert "SENTINEL" not in logged
    import base64

    assert base64.b64encode(f"user={user.login}\x01auth=Bearer {token}\x01\x01".encode()).decode()[:40] not in logged


def test_roles_are_asked_for_when_plain_list_does_not_give_them(session, monkeypatch):
    # Some servers name special-use folders only for LIST ... RETURN (SPECIAL-USE) (RFC 6154).
    plain = session.client.list_folders()
    stripped = [
        (tuple(f for f in flags if f.lower() in (b"\\haschildren", b"\\hasnochildren")), delim, name)
        for flags, delim, name in plain
    ]
    monkeypatch.setattr(session.client, "list_folders", lambda *a: stripped)
    monkeypatch.setattr(session, "provider", PROVIDERS["gmail"])  # no guessing by name
    roles = {f.name: f.role for f in session.folders()}
    assert roles["Sent"] == "sent" and roles["Archive"] == "archive" and roles["Junk"] == "junk"


def test_no_message_content_is_formatted_for_the_wire_log(session, dovecot_server, mail_user, caplog):
    """imapclient asks imaplib to log every response, whole messages included, and filters them in
    its logger. pdmail turns that log off: with debug logging enabled by the application, the bytes
    of a downloaded message still never reach a log record (and were never formatted for one)."""
    marker = b"BODY-MARKER-" + random_tokens.token_hex(6).encode()
    dovecot_server.seed(mail_user, "INBOX", [raw(1) + marker + b"\r\n"])
    session.select("INBOX", readonly=True)
    with caplog.at_level("DEBUG"):
        fetched = list(session.fetch_bodies(session.search_uids()))
    assert marker in fetched[0].raw
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert marker.decode() not in logged
