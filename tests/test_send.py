"""`pdmail send` against a real SMTP server (aiosmtpd) on 127.0.0.1: what it received, and every way it can fail."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default

import pytest
from mailcorpus import message
from smtpserver import SmtpServer, make_certificate

from pdmail.capture.save import Origin, store_parsed
from pdmail.mime.parse import parse_message
from pdmail.send import outbox
from pdmail.store import open_db
from pdmail.store.users import find_user

pytestmark = [pytest.mark.smtp, pytest.mark.both_engines]

PASSWORD = "s3cret-Horse-42"
MARIA = "maria@northwind.example"


@pytest.fixture(scope="session")
def smtp_certificate(tmp_path_factory):
    return make_certificate(tmp_path_factory.mktemp("smtp-cert"))


@pytest.fixture
def smtp(smtp_certificate):
    server = SmtpServer(security="starttls", users={MARIA: PASSWORD}, certificate=smtp_certificate).start()
    yield server
    server.stop()


def add_account(cli, server, *, security="starttls", cafile=True, provider="gmail", user=None):
    """A Google Workspace-style account (Gmail files sent mail itself) whose SMTP server is ours."""
    args = [
        "account",
        "add",
        "work",
        "--address",
        MARIA,
        "--provider",
        provider,
        "--imap-host",
        "127.0.0.1",
        "--imap-port",
        "1",
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        str(server.port),
        "--smtp-security",
        security,
        "--password-env",
        "PDMAIL_TEST_SMTP_PASSWORD",
    ]
    if cafile:
        args += ["--cafile", str(server.cafile)]
    if user:
        args += ["--user", user]
    cli.ok(*args)


@pytest.fixture
def sender(company, smtp, monkeypatch):
    monkeypatch.setenv("PDMAIL_TEST_SMTP_PASSWORD", PASSWORD)
    add_account(company, smtp)
    return company


def db_and_user(db_path, email=MARIA):
    db = open_db(db_path)
    return db, find_user(db, email)


def outbox_rows(cli, *args):
    return cli.json("outbox", "--all", *args)


def received(server, i=0):
    return message_from_bytes(server.messages[i].data, policy=default)


def stored_raw(db_path, email_id):
    db = open_db(db_path)
    try:
        sha = db.scalar("SELECT raw_sha256 FROM emails WHERE id = ?", (email_id,))
        return db.scalar("SELECT data FROM raw_messages WHERE sha256 = ?", (sha,))
    finally:
        db.close()


# --- plain sending --------------------------------------------------------------------------------


def test_plain_send_is_received_byte_for_byte_and_stored_as_outgoing_mail(sender, smtp, db_path):
    result = sender.ok(
        "send",
        "--to",
        "Ana Ruiz <ana@acme.example>",
        "--cc",
        "bob@acme.example",
        "--bcc",
        "boss@northwind.example",
        "--subject",
        "Quote for 40 seats",
        "--body",
        "Hi Ana,\n\nthe quote follows.\n.\nMaria",
    )
    email_id = int(result.stdout.strip())
    assert len(smtp.messages) == 1
    got = smtp.messages[0]
    assert got.mail_from == MARIA and got.login == MARIA
    assert got.rcpt_tos == ["ana@acme.example", "bob@acme.example", "boss@northwind.example"]
    assert got.data == stored_raw(db_path, email_id)
    assert b"boss@northwind.example" not in got.data
    msg = received(smtp)
    assert msg["Bcc"] is None
    assert msg["From"] == f"Maria Lopez <{MARIA}>"
    assert msg["To"] == "Ana Ruiz <ana@acme.example>" and msg["Cc"] == "bob@acme.example"
    assert msg["Subject"] == "Quote for 40 seats"
    assert msg.get_content().replace("\r\n", "\n") == "Hi Ana,\n\nthe quote follows.\n.\nMaria\n"

    shown = sender.json("show", email_id)
    assert shown["direction"] == "outgoing" and shown["source"] == "sent" and shown["folder"] == "sent"
    assert msg["Message-ID"] == f"<{shown['message_id']}>"
    assert shown["message_id"].endswith("@northwind.example")
    assert [a["email"] for a in shown["to"]] == ["ana@acme.example"]
    assert shown["visibility"] == "shared" and shown["read"] is True
    [row] = outbox_rows(sender)
    assert row["status"] == "sent" and row["email_id"] == email_id and row["sent_copy"] == "by_provider"
    assert row["bcc"] == ["boss@northwind.example"]
    assert sender.json("outbox") == []


def test_sent_mail_is_linked_to_the_contact_and_deal_at_once(sender, smtp):
    contact = sender.json("contact", "add", "Ana Ruiz", "--email", "ana@acme.example")["id"]
    deal = sender.json("deal", "add", "40 seats", "--contact", contact)["id"]
    out = sender.json("send", "--to", "ana@acme.example", "--subject", "Quote", "--body", "Hi")
    assert out["status"] == "sent"
    shown = sender.json("show", out["email_id"])
    assert shown["contacts"] == [contact] and shown["deal"] == deal
    team_view = sender.json("show", out["email_id"], "--user", "sam@northwind.example")
    assert team_view["id"] == out["email_id"]


def test_private_send_is_seen_by_its_owner_only(sender, smtp):
    sender.ok("contact", "add", "Ana Ruiz", "--email", "ana@acme.example")
    out = sender.json("send", "--to", "ana@acme.example", "--subject", "Between us", "--body", "Hi", "--private")
    assert sender.json("show", out["email_id"])["visibility"] == "private"
    for other in ("sam@northwind.example", "ines@northwind.example"):
        assert sender("show", out["email_id"], "--user", other).exit_code == 4


def test_implicit_tls_works_too(company, smtp_certificate, monkeypatch):
    monkeypatch.setenv("PDMAIL_TEST_SMTP_PASSWORD", PASSWORD)
    with SmtpServer(security="tls", users={MARIA: PASSWORD}, certificate=smtp_certificate) as server:
        add_account(company, server, security="tls")
        company.ok("send", "--to", "ana@acme.example", "--subject", "Hi", "--body", "Hello")
        assert len(server.messages) == 1 and server.messages[0].login == MARIA


def test_attachments_arrive_with_their_exact_bytes(sender, smtp, tmp_path):
    pdf = tmp_path / "Angebot für Ana.pdf"
    pdf.write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 40)
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"line one\r\nline two\nno newline at the end")
    out = sender.json(
        "send",
        "--to",
        "ana@acme.example",
        "--subject",
        "Files",
        "--body",
        "See attached",
        "--attach",
        pdf,
        "--attach",
        notes,
    )
    parts = [
        (p.get_filename(), p.get_content_type(), p.get_payload(decode=True)) for p in received(smtp).iter_attachments()
    ]
    assert parts == [
        ("Angebot für Ana.pdf", "application/pdf", pdf.read_bytes()),
        ("notes.txt", "text/plain", notes.read_bytes()),
    ]
    shown = sender.json("show", out["email_id"])
    assert [(a["filename"], a["size"]) for a in shown["attachments"]] == [
        ("Angebot für Ana.pdf", pdf.stat().st_size),
        ("notes.txt", notes.stat().st_size),
    ]


def test_a_missing_attachment_sends_nothing(sender, smtp, tmp_path):
    result = sender(
        "send", "--to", "ana@acme.example", "--subject", "x", "--body", "x", "--attach", tmp_path / "nope.pdf"
    )
    assert result.exit_code == 2 and "no such file" in result.stderr
    assert smtp.messages == [] and outbox_rows(sender) == []


def test_body_from_a_file_or_stdin(sender, smtp, tmp_path):
    body = tmp_path / "body.txt"
    body.write_text("Dear Ana,\nprices below.\n", encoding="utf-8")
    sender.ok("send", "--to", "ana@acme.example", "--subject", "From a file", "--body-file", body)
    sender.ok("send", "--to", "ana@acme.example", "--subject", "From stdin", "--body-file", "-", input="Piped text\n")
    texts = [received(smtp, i).get_content().replace("\r\n", "\n") for i in range(2)]
    assert texts == ["Dear Ana,\nprices below.\n", "Piped text\n"]
    result = sender("send", "--to", "ana@acme.example", "--subject", "No text")
    assert result.exit_code == 2 and "--body" in result.stderr


# --- replies --------------------------------------------------------------------------------------


def capture_incoming(db_path, raw: bytes, owner=MARIA) -> int:
    db, user = db_and_user(db_path, owner)
    try:
        with db.tx():
            return store_parsed(db, user, parse_message(raw), raw, Origin(source="sync", folder="inbox")).id
    finally:
        db.close()


def choose_deal(db_path, email_id: int, deal_id: int) -> None:
    """What `pdmail link ID --deal N` records: the user's choice for the whole thread."""
    from pdmail.store.emails import set_thread_deal

    db, _ = db_and_user(db_path)
    try:
        with db.tx():
            thread = db.scalar("SELECT thread_id FROM emails WHERE id = ?", (email_id,))
            set_thread_deal(db, thread, deal_id, "manual", manual=True)
    finally:
        db.close()


def test_reply_joins_the_thread_and_its_deal_with_threading_headers(sender, smtp, db_path):
    contact = sender.json("contact", "add", "Ana Ruiz", "--email", "ana@acme.example")["id"]
    first = sender.json("deal", "add", "40 seats", "--contact", contact)["id"]
    sender.json("deal", "add", "Support plan", "--contact", contact)
    incoming = capture_incoming(
        db_path,
        message(
            [
                ("From", "Ana Ruiz <ana@acme.example>"),
                ("To", f"Maria <{MARIA}>, Carl <carl@acme.example>"),
                ("Cc", "sam@northwind.example"),
                ("Subject", "Question about the quote"),
                ("Date", "Tue, 05 Mar 2024 10:15:00 +0100"),
                ("Message-ID", "<q-2@acme.example>"),
                ("References", "<q-1@northwind.example>"),
            ],
            "Can you do 45 seats?\r\n",
        ),
    )
    assert sender.json("show", incoming)["needs_deal"] is True
    choose_deal(db_path, incoming, first)

    out = sender.json("send", "--reply-to", incoming, "--body", "Yes, 45 works.")
    msg = received(smtp)
    assert msg["Subject"] == "Re: Question about the quote"
    assert msg["In-Reply-To"] == "<q-2@acme.example>"
    assert msg["References"] == "<q-1@northwind.example> <q-2@acme.example>"
    assert msg["To"] == "Ana Ruiz <ana@acme.example>"
    assert msg["Cc"] == "Carl <carl@acme.example>, sam@northwind.example"
    assert sorted(smtp.messages[0].rcpt_tos) == ["ana@acme.example", "carl@acme.example", "sam@northwind.example"]
    reply = sender.json("show", out["email_id"])
    original = sender.json("show", incoming)
    assert reply["thread_id"] == original["thread_id"]
    assert reply["deal"] == first
    assert reply["thread"] == [incoming, out["email_id"]]

    again = sender.json("send", "--reply-to", out["email_id"], "--body", "Following up.", "--sender-only")
    msg2 = received(smtp, 1)
    assert msg2["Subject"] == "Re: Question about the quote"
    assert msg2["To"] == "Ana Ruiz <ana@acme.example>" and msg2["Cc"] is None
    assert sender.json("show", again["email_id"])["thread_id"] == original["thread_id"]


def test_replying_to_an_email_you_may_not_see_reads_as_not_found(sender, smtp, db_path, monkeypatch):
    private = capture_incoming(
        db_path,
        message(
            [
                ("From", "Ana <ana@acme.example>"),
                ("To", "sam@northwind.example"),
                ("Subject", "Private"),
                ("Date", "Tue, 05 Mar 2024 10:15:00 +0100"),
                ("Message-ID", "<p-1@acme.example>"),
            ],
            "x\r\n",
        ),
        owner="sam@northwind.example",
    )
    result = sender("send", "--reply-to", private, "--body", "Hi")
    assert result.exit_code == 4 and smtp.messages == []


# --- scheduled sending ----------------------------------------------------------------------------


def test_scheduled_send_waits_in_the_outbox_until_send_due(sender, smtp, db_path):
    result = sender.json(
        "send", "--to", "ana@acme.example", "--subject", "Later", "--body", "Hello later", "--at", "2030-01-02T09:00"
    )
    assert result["status"] == "scheduled" and result["due_utc"] == "2030-01-02T09:00:00Z"
    assert smtp.messages == []
    [row] = sender.json("outbox")
    assert row["status"] == "queued" and row["due_utc"] == "2030-01-02T09:00:00Z"

    db, user = db_and_user(db_path)
    assert outbox.send_due(db, None, datetime(2030, 1, 2, 8, 59, tzinfo=UTC)) == []
    assert smtp.messages == []
    [sent] = outbox.send_due(db, user, datetime(2030, 1, 2, 9, 3, tzinfo=UTC))
    assert sent.status == "sent" and sent.error is None
    assert received(smtp)["Date"] == "Wed, 02 Jan 2030 09:00:00 +0000"
    assert outbox.send_due(db, None, datetime(2030, 1, 3, tzinfo=UTC)) == []
    assert len(smtp.messages) == 1
    assert sender.json("show", sent.email_id)["date"] == "2030-01-02T09:00:00Z"


def test_sync_finds_waiting_outbox_mail_exactly_when_send_due_has_something_to_do(sender, smtp, db_path):
    """`pdmail sync` asks this first, and loads the sending code only when it says yes."""
    from pdmail.send.waiting import anything_waits

    db, user = db_and_user(db_path)
    assert not anything_waits(db, user, datetime(2030, 1, 2, 9, 3, tzinfo=UTC))
    sender.ok("send", "--to", "ana@acme.example", "--subject", "Later", "--body", "x", "--at", "2030-01-02T09:00")
    assert not anything_waits(db, user, datetime(2030, 1, 2, 8, 59, tzinfo=UTC))
    assert anything_waits(db, user, datetime(2030, 1, 2, 9, 3, tzinfo=UTC))
    assert anything_waits(db, None, datetime(2030, 1, 2, 9, 3, tzinfo=UTC))
    with db.tx():
        db.execute(
            "UPDATE outbox SET status = 'sending', claimed_by = 'nohost:1', claimed_utc = '2030-01-02T09:00:00Z'"
        )
    assert anything_waits(db, user, datetime(2030, 1, 1, tzinfo=UTC))  # a send cut short: looked at at once
    with db.tx():
        db.execute("UPDATE outbox SET status = 'queued', claimed_by = NULL, claimed_utc = NULL")
    [sent] = outbox.send_due(db, user, datetime(2030, 1, 2, 9, 3, tzinfo=UTC))
    assert sent.status == "sent"
    assert not anything_waits(db, user, datetime(2030, 1, 3, tzinfo=UTC))
    assert outbox.send_due(db, user, datetime(2030, 1, 3, tzinfo=UTC)) == []


def test_at_is_read_in_the_users_time_zone(sender, smtp, db_path):
    sender.ok("settings", "set", "time-zone", "Europe/Madrid")
    db, user = db_and_user(db_path)
    now = datetime(2026, 3, 5, 22, 30, tzinfo=UTC)  # 23:30 in Madrid
    req = outbox.SendRequest(to=["ana@acme.example"], subject="Morning", body="Hi", at="tomorrow 09:00")
    result = outbox.send(db, user, req, now)
    assert result.status == "scheduled" and result.due == "2026-03-06T08:00:00Z"
    iso = outbox.send(
        db, user, outbox.SendRequest(to=["ana@acme.example"], subject="x", body="x", at="2026-07-01 09:00"), now
    )
    assert iso.due == "2026-07-01T07:00:00Z"  # summer time
    with pytest.raises(Exception, match="has passed"):
        outbox.send(
            db, user, outbox.SendRequest(to=["ana@acme.example"], subject="x", body="x", at="2026-03-01 09:00"), now
        )
    result = sender("send", "--to", "ana@acme.example", "--subject", "x", "--body", "x", "--at", "whenever-ish")
    assert result.exit_code == 2 and "cannot read" in result.stderr
    assert smtp.messages == []


def test_cancel_keeps_a_scheduled_message_from_going_out(sender, smtp, db_path):
    item = sender.json(
        "send", "--to", "ana@acme.example", "--subject", "Oops", "--body", "x", "--at", "2030-01-02T09:00"
    )["outbox_id"]
    assert sender("outbox", "cancel", item, "--user", "sam@northwind.example").exit_code == 4
    assert sender.json("outbox", "cancel", item)["status"] == "cancelled"
    db, _ = db_and_user(db_path)
    assert outbox.send_due(db, None, datetime(2031, 1, 1, tzinfo=UTC)) == []
    assert smtp.messages == []
    result = sender("outbox", "cancel", item)
    assert result.exit_code == 2 and "cancelled" in result.stderr
    assert sender.json("outbox") == []
    assert sender("outbox", "cancel", 999).exit_code == 4


def test_other_users_never_see_my_outbox(sender, smtp):
    sender.ok("send", "--to", "ana@acme.example", "--subject", "Mine", "--body", "x", "--at", "2030-01-02T09:00")
    assert len(sender.json("outbox")) == 1
    for other in ("sam@northwind.example", "ines@northwind.example"):
        assert sender.json("outbox", "--all", "--user", other) == []


# --- hostile input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "option,value",
    [
        ("--subject", "Hello\r\nBcc: victim@evil.example"),
        ("--subject", "Hello\nX-Injected: yes"),
        ("--to", "ana@acme.example\r\nBcc: victim@evil.example"),
        ("--cc", "Bob\n <bob@acme.example>"),
    ],
)
def test_header_injection_is_refused_and_nothing_is_sent(sender, smtp, option, value):
    args = {"--to": "ana@acme.example", "--subject": "Hi"}
    args[option] = value
    flat = [x for k, v in args.items() for x in (k, v)]
    result = sender("send", *flat, "--body", "x")
    assert result.exit_code == 2
    assert "line break" in result.stderr
    assert smtp.messages == [] and outbox_rows(sender) == []


def test_hostile_display_name_stays_inside_the_to_header(sender, smtp):
    sender.ok("send", "--to", '"Evil, Bcc: victim@evil.example" <ana@acme.example>', "--subject", "Hi", "--body", "x")
    assert smtp.messages[0].rcpt_tos == ["ana@acme.example"]
    assert received(smtp)["Bcc"] is None


# --- failures -------------------------------------------------------------------------------------


def test_wrong_password_exits_77_without_showing_it_and_keeps_the_message(sender, smtp, db_path, monkeypatch):
    monkeypatch.setenv("PDMAIL_TEST_SMTP_PASSWORD", "Wrong-Password-99")
    result = sender("send", "--to", "ana@acme.example", "--subject", "Hi", "--body", "x")
    assert result.exit_code == 77
    assert "refused the login" in result.stderr
    assert "Wrong-Password-99" not in result.stderr + result.stdout
    assert PASSWORD not in result.stderr + result.stdout
    assert smtp.messages == []
    [row] = sender.json("outbox")
    assert row["status"] == "queued" and "refused the login" in row["last_error"]
    assert "Wrong-Password-99" not in json.dumps(row)

    monkeypatch.setenv("PDMAIL_TEST_SMTP_PASSWORD", PASSWORD)
    db, _ = db_and_user(db_path)
    [done] = outbox.send_due(db, None, datetime.now(UTC) + timedelta(minutes=1))
    assert done.status == "sent" and len(smtp.messages) == 1


def test_a_server_that_echoes_the_login_leaks_no_form_of_the_password(company, smtp_certificate, monkeypatch):
    import base64

    monkeypatch.setenv("PDMAIL_TEST_SMTP_PASSWORD", PASSWORD)
    echoed = base64.b64encode(f"\0{MARIA}\0{PASSWORD}".encode()).decode()  # AUTH PLAIN's answer
    with SmtpServer(
        security="starttls", users={MARIA: PASSWORD}, echo_auth=True, certificate=smtp_certificate
    ) as server:
        add_account(company, server)
        result = company("send", "--to", "ana@acme.example", "--subject", "Hi", "--body", "x")
        assert result.exit_code == 77 and "refused the login" in result.stderr
        assert "Authentication credentials invalid" in result.stderr  # the server's words are kept
        [row] = company.json("outbox")
    shown = result.stdout + result.stderr + json.dumps(row)
    assert echoed not in shown and echoed.rstrip("=") not in shown and PASSWORD not in shown
    assert server.messages == []


def test_a_server_without_starttls_gets_nothing_in_plaintext(company, smtp_certificate, monkeypatch):
    monkeypatch.setenv("PDMAIL_TEST_SMTP_PASSWORD", PASSWORD)
    with SmtpServer(security="plain", users={MARIA: PASSWORD}, certificate=smtp_certificate) as server:
        add_account(company, server)
        result = company("send", "--to", "ana@acme.example", "--subject", "Hi", "--body", "x")
        assert result.exit_code == 77 and "STARTTLS" in result.stderr
        assert server.messages == [] and server.auth_attempts == []


def test_an_untrusted_certificate_exits_77_and_names_cafile(company, smtp, monkeypatch):
    monkeypatch.setenv("PDMAIL_TEST_SMTP_PASSWORD", PASSWORD)
    add_account(company, smtp, cafile=False)
    result = company("send", "--to", "ana@acme.example", "--subject", "Hi", "--body", "x")
    assert result.exit_code == 77 and "--cafile" in result.stderr
    assert smtp.messages == [] and smtp.auth_attempts == []


def test_an_unreachable_server_exits_75_and_the_message_waits(company, smtp, monkeypatch):
    monkeypatch.setenv("PDMAIL_TEST_SMTP_PASSWORD", PASSWORD)
    add_account(company, smtp)
    smtp.stop()
    result = company("send", "--to", "ana@acme.example", "--subject", "Hi", "--body", "x")
    assert result.exit_code == 75 and "cannot reach" in result.stderr
    [row] = company.json("outbox")
    assert row["status"] == "queued" and row["attempts"] == 1


def test_connection_dropped_before_data_is_retried_safely(sender, smtp, db_path):
    smtp.drop_once("rcpt")
    result = sender("send", "--to", "ana@acme.example", "--subject", "Retry me", "--body", "x")
    assert result.exit_code == 75 and "nothing was sent" in result.stderr
    assert smtp.messages == []
    [row] = sender.json("outbox")
    assert row["status"] == "queued" and row["attempts"] == 1
    db, _ = db_and_user(db_path)
    assert outbox.send_due(db, None, datetime.now(UTC)) == []  # not due yet: it waits a minute
    [done] = outbox.send_due(db, None, datetime.now(UTC) + timedelta(minutes=2))
    assert done.status == "sent"
    assert len(smtp.messages) == 1
    assert sender.json("outbox", "--all")[0]["attempts"] == 2


def test_connection_dropped_after_the_final_dot_is_ambiguous_and_never_retried_alone(sender, smtp, db_path):
    smtp.drop_once("after_dot")
    result = sender("send", "--to", "ana@acme.example", "--subject", "Did it go?", "--body", "x")
    assert result.exit_code == 75
    assert "may have been delivered" in result.stderr and "outbox retry" in result.stderr
    assert len(smtp.messages) == 1  # the server did get it
    [row] = sender.json("outbox")
    assert row["status"] == "ambiguous" and row["email_id"] is None
    db, _ = db_and_user(db_path)
    assert outbox.send_due(db, None, datetime.now(UTC) + timedelta(days=2)) == []
    assert len(smtp.messages) == 1

    out = sender.json("outbox", "retry", row["id"])  # the user's word
    assert out["status"] == "sent"
    assert len(smtp.messages) == 2
    assert smtp.messages[0].data == smtp.messages[1].data  # the same message, same Message-ID


def test_an_ambiguous_message_is_confirmed_by_its_copy_in_the_mailbox(sender, smtp, db_path):
    smtp.drop_once("after_dot")
    sender("send", "--to", "ana@acme.example", "--subject", "Did it go?", "--body", "x")
    [row] = sender.json("outbox")
    raw = smtp.messages[0].data
    # The provider filed the sent message and rewrote its Message-ID; sync captures that copy.
    rewritten = raw.replace(f"<{row['message_id']}>".encode(), b"<REWRITTEN-1@mail.provider.example>")
    email_id = capture_incoming_as_sent(db_path, rewritten)
    [confirmed] = sender.json("outbox", "--all")
    assert confirmed["status"] == "sent" and confirmed["email_id"] == email_id
    assert sender("outbox", "retry", row["id"]).exit_code == 2
    assert len(smtp.messages) == 1


def capture_incoming_as_sent(db_path, raw: bytes) -> int:
    db, user = db_and_user(db_path)
    try:
        with db.tx():
            return store_parsed(db, user, parse_message(raw), raw, Origin(source="sync", folder="sent")).id
    finally:
        db.close()


def test_a_refused_recipient_among_others_is_reported(sender, smtp):
    smtp.refuse = {"nobody@acme.example"}
    out = sender(
        "send", "--to", "ana@acme.example", "--cc", "nobody@acme.example", "--subject", "Hi", "--body", "x", "--json"
    )
    assert out.exit_code == 0
    assert "nobody@acme.example" in out.stderr and "550" in out.stderr
    assert smtp.messages[0].rcpt_tos == ["ana@acme.example"]


def test_every_recipient_refused_fails_with_exit_3_and_is_kept(sender, smtp):
    smtp.refuse = {"nobody@acme.example"}
    result = sender("send", "--to", "nobody@acme.example", "--subject", "Hi", "--body", "x")
    assert result.exit_code == 3 and "refused every recipient" in result.stderr
    [row] = sender.json("outbox")
    assert row["status"] == "failed"
    assert smtp.messages == []


def test_a_sending_claim_left_by_a_dead_process_is_resolved_safely(sender, smtp, db_path):
    for subject in ("before body", "after body"):
        sender.ok("send", "--to", "ana@acme.example", "--subject", subject, "--body", "x", "--at", "2030-01-02T09:00")
    db, _ = db_and_user(db_path)
    ids = [r["id"] for r in sender.json("outbox")]
    dead = "nohost-for-this-test:1"
    with db.tx():
        db.execute(
            "UPDATE outbox SET status = 'sending', claimed_by = ?, claimed_utc = '2030-01-02T09:00:00Z'", (dead,)
        )
        db.execute("UPDATE outbox SET body_sent_utc = '2030-01-02T09:00:01Z' WHERE id = ?", (ids[1],))
    later = datetime(2030, 1, 2, 11, tzinfo=UTC)
    results = outbox.send_due(db, None, later)
    by_id = {r.item_id: r.status for r in results}
    assert by_id == {ids[1]: "ambiguous", ids[0]: "sent"}
    assert [received(smtp)["Subject"]] == ["before body"]


# --- the Sent copy seen again by sync ---------------------------------------------------------------


def test_a_later_sync_of_the_sent_folder_does_not_duplicate_the_sent_email(sender, smtp, db_path):
    out = sender.json("send", "--to", "ana@acme.example", "--subject", "Once", "--body", "x")
    raw = smtp.messages[0].data
    db, user = db_and_user(db_path)
    with db.tx():
        same = store_parsed(db, user, parse_message(raw), raw, Origin(source="sync", folder="sent"))
    assert same.status == "duplicate" and same.id == out["email_id"]
    # A server that rewrote the Message-ID and the Date (as some relays do) is matched by the token.
    row = sender.json("outbox", "--all")[0]
    rewritten = raw.replace(f"<{row['message_id']}>".encode(), b"<NEW-ID@relay.example>")
    rewritten = rewritten.replace(b"Date: ", b"Date: Mon, 01 Jan 2029 00:00:00 +0000\r\nX-Old-Date: ", 1)
    with db.tx():
        again = store_parsed(db, user, parse_message(rewritten), rewritten, Origin(source="sync", folder="sent"))
    assert again.status == "duplicate" and again.id == out["email_id"]
    assert db.scalar("SELECT count(*) FROM emails") == 1


# --- templates ------------------------------------------------------------------------------------


def test_template_fills_merge_fields_from_the_contact_and_deal(sender, smtp):
    org = sender.json("org", "add", "Acme", "--domain", "acme.example")["id"]
    contact = sender.json("contact", "add", "Ana Ruiz", "--email", "ana@acme.example", "--org", org)["id"]
    sender.json("deal", "add", "40 seats", "--contact", contact, "--value", "12000")
    sender.ok(
        "template",
        "add",
        "follow-up",
        "--subject",
        "{deal.title}: next steps",
        "--body",
        "Hi {contact.first_name},\n\n{org.name} and {deal.title} ({deal.value}) {{ok}}.\n{user.first_name}",
    )
    assert [t["name"] for t in sender.json("template", "list")] == ["follow-up"]
    assert sender.json("template", "show", "follow-up")["subject"] == "{deal.title}: next steps"
    sender.ok("send", "--to", "ana@acme.example", "--template", "follow-up")
    msg = received(smtp)
    assert msg["Subject"] == "40 seats: next steps"
    assert msg.get_content().replace("\r\n", "\n") == "Hi Ana,\n\nAcme and 40 seats (12,000.00) {ok}.\nMaria\n"


@pytest.mark.parametrize(
    "name,given,called",
    [
        ("Dr. Ada Byron", None, "Ada"),
        ("Byron, Ada", None, "Ada"),
        ("Dr. Byron", "Ada", "Ada"),
    ],
)
def test_template_calls_a_contact_by_their_first_name_and_prints_money_in_its_currency(
    sender, smtp, name, given, called
):
    contact = sender.json(
        "contact", "add", name, "--email", "ada@acme.example", *(["--first-name", given] if given else [])
    )["id"]
    sender.json("deal", "add", "40 welding arms", "--contact", contact, "--value", "480000.10", "--currency", "EUR")
    sender.ok(
        "template",
        "add",
        "quote",
        "--subject",
        "{deal.title}",
        "--body",
        "Dear {contact.first_name} {contact.last_name}: {deal.value}.",
    )
    sender.ok("send", "--to", "ada@acme.example", "--template", "quote")
    assert received(smtp).get_content().strip() == f"Dear {called} Byron: EUR 480,000.10."


def test_template_refuses_a_first_name_it_cannot_tell(sender, smtp):
    sender.json("contact", "add", "Dr. Byron", "--email", "byron@acme.example")
    sender.ok("template", "add", "hi", "--subject", "Hello", "--body", "Dear {contact.first_name},")
    result = sender("send", "--to", "byron@acme.example", "--template", "hi")
    assert result.exit_code == 2
    assert "contact 1 (Dr. Byron) has no first name" in result.stderr and "--first-name" in result.stderr
    assert smtp.messages == []


def test_template_errors_name_the_field(sender, smtp):
    result = sender("template", "add", "bad", "--subject", "Hi {contact.nickname}", "--body", "x")
    assert result.exit_code == 2 and "{contact.nickname}" in result.stderr
    sender.ok("template", "add", "needs-deal", "--subject", "About {deal.title}", "--body", "Hi {contact.name}")
    result = sender("send", "--to", "stranger@else.example", "--template", "needs-deal")
    assert result.exit_code == 2 and "{deal.title}" in result.stderr
    contact = sender.json("contact", "add", "Ana Ruiz", "--email", "ana@acme.example")["id"]
    for title in ("One", "Two"):
        sender.json("deal", "add", title, "--contact", contact)
    result = sender("send", "--to", "ana@acme.example", "--template", "needs-deal")
    assert result.exit_code == 2 and "--deal" in result.stderr and "2 open deals" in result.stderr
    sender.ok("send", "--to", "ana@acme.example", "--template", "needs-deal", "--deal", "2")
    assert received(smtp)["Subject"] == "About Two"
    assert sender("template", "show", "nope").exit_code == 4


def test_company_templates_are_for_everyone_and_only_admins_add_them(sender, smtp):
    sender.ok("template", "add", "hello", "--subject", "Hello", "--body", "Hi", "--company")
    result = sender(
        "template", "add", "x", "--subject", "x", "--body", "x", "--company", "--user", "sam@northwind.example"
    )
    assert result.exit_code == 5 and "admin" in result.stderr
    assert sender.json("template", "show", "hello", "--user", "sam@northwind.example")["scope"] == "company"


def test_oauth2_accounts_sign_in_with_xoauth2_and_a_bad_token_exits_77(company, smtp_certificate):
    with SmtpServer(security="starttls", tokens={MARIA: "ya29.good-token"}, certificate=smtp_certificate) as server:
        company.ok(
            "account",
            "add",
            "work",
            "--address",
            MARIA,
            "--provider",
            "gmail",
            "--imap-host",
            "127.0.0.1",
            "--imap-port",
            "1",
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            str(server.port),
            "--smtp-security",
            "starttls",
            "--oauth2-token-command",
            "echo ya29.good-token",
            "--cafile",
            str(server.cafile),
        )
        company.ok("send", "--to", "ana@acme.example", "--subject", "Token", "--body", "x")
        assert server.messages[0].login == MARIA
        assert server.auth_attempts == [("XOAUTH2", MARIA)]
        company.ok(
            "account",
            "add",
            "stale",
            "--address",
            MARIA,
            "--provider",
            "gmail",
            "--imap-host",
            "127.0.0.1",
            "--imap-port",
            "1",
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            str(server.port),
            "--smtp-security",
            "starttls",
            "--oauth2-token-command",
            "echo ya29.expired",
            "--cafile",
            str(server.cafile),
        )
        result = company("send", "--account", "stale", "--to", "ana@acme.example", "--subject", "x", "--body", "x")
        assert result.exit_code == 77 and "ya29.expired" not in result.stderr
        assert len(server.messages) == 1


def test_a_deferred_recipient_sends_nothing_and_waits(sender, smtp):
    smtp.defer = {"later@acme.example"}
    result = sender("send", "--to", "ana@acme.example", "--cc", "later@acme.example", "--subject", "Hi", "--body", "x")
    assert result.exit_code == 75 and "450" in result.stderr
    assert smtp.messages == []
    assert sender.json("outbox")[0]["status"] == "queued"


def test_a_message_refused_after_the_final_dot_fails_and_is_kept(sender, smtp):
    smtp.reject_data = True
    result = sender("send", "--to", "ana@acme.example", "--subject", "Hi", "--body", "x")
    assert result.exit_code == 3 and "554" in result.stderr
    [row] = sender.json("outbox")
    assert row["status"] == "failed" and row["email_id"] is None
    assert sender.json("inbox", "--folder", "sent") == []


def test_an_interrupt_is_recorded_as_far_as_sending_got(sender, smtp, db_path):
    """Ctrl-C while logging in: nothing was handed over, so it waits in the queue. Ctrl-C once the body
    is out: ambiguous, whatever the server did with it (here it got no final dot, so it kept nothing)."""
    db, user = db_and_user(db_path)

    def interrupt_at_login(account):
        raise KeyboardInterrupt

    def interrupt_after_body(*args, on_body_sent, **kw):
        def then_interrupt():
            on_body_sent()
            raise KeyboardInterrupt

        return outbox.smtp_send.deliver(*args, on_body_sent=then_interrupt, **kw)

    now = datetime.now(UTC)
    req = outbox.SendRequest(to=["ana@acme.example"], subject="Interrupted", body="x")
    with pytest.raises(KeyboardInterrupt):
        outbox.send(db, user, req, now, network=outbox.Network(secret_for=interrupt_at_login))
    with pytest.raises(KeyboardInterrupt):
        outbox.send(db, user, req, now, network=outbox.Network(deliver=interrupt_after_body))
    rows = sender.json("outbox")
    assert [(r["status"], r["attempts"]) for r in rows] == [("queued", 1), ("ambiguous", 1)]
    assert smtp.messages == []
