"""Smart BCC end to end: authorization, quarantine, forwards, deal addresses, dedupe and threads."""

from __future__ import annotations

import json
import mailbox
import os
import subprocess
import sys

import pytest
import rawdb

pytestmark = pytest.mark.both_engines

CAPTURE = "capture@bcc.northwind.example"


def mail(
    *,
    frm="Maria Lopez <maria@northwind.example>",
    to="Ada Byron <ada@acme.example>",
    cc=None,
    subject="Quote",
    date="Mon, 16 Nov 2026 09:12:00 +0100",
    mid="<m1@northwind.example>",
    extra=(),
    body="Hello Ada,\r\nhere is the quote.\r\n",
) -> bytes:
    headers = [("From", frm)]
    if to is not None:
        headers.append(("To", to))
    if cc:
        headers.append(("Cc", cc))
    headers += [("Subject", subject), ("Date", date)]
    if mid:
        headers.append(("Message-ID", mid))
    headers += list(extra)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers)
    return (head + "\r\n" + body).encode("utf-8")


@pytest.fixture
def team(company):
    """maria (admin), sam, ines; Ada at Acme with one open deal; Bo with two open deals."""
    c = company
    c.ok("settings", "set", "bcc-address", CAPTURE)
    c.ok("org", "add", "Acme")
    c.ok("contact", "add", "Ada Byron", "--email", "ada@acme.example", "--org", "1")
    c.ok("contact", "add", "Bo Chen", "--email", "bo@acme.example", "--org", "1")
    c.ok("deal", "add", "Arms", "--contact", "1")  # 1: Ada's only open deal
    c.ok("deal", "add", "Belts", "--contact", "2")  # 2
    c.ok("deal", "add", "Cranes", "--contact", "2")  # 3
    c.ok("deal", "add", "Old", "--contact", "2", "--status", "won")  # 4
    return c


def ingest(cli, raw: bytes, *args: str):
    result = cli("bcc-ingest", "--json", *args, input=raw)
    data = json.loads(result.stdout) if result.stdout.strip() else None
    if data is not None:  # an array whatever the input (docs/spec.md, "JSON shapes"): here one message
        assert isinstance(data, list) and len(data) == 1, data
        data = data[0]
    return result.exit_code, data, result.stderr


def db_rows(db_path, sql, params=()):
    return rawdb.rows(db_path, sql, params)


# --- authorization ----------------------------------------------------------------------------


def test_login_address_is_allowed_and_owns_the_email(team, db_path):
    code, data, _ = ingest(team, mail())
    assert code == 0 and data["status"] == "stored" and data["source"] == "-"
    email = team.json("show", str(data["id"]))
    assert email["owner"] == "maria@northwind.example"
    assert email["direction"] == "outgoing" and email["source"] == "bcc"
    assert email["contacts"] == [1] and email["deal"] == 1
    assert email["message_id"] == "m1@northwind.example"


def test_alt_address_is_allowed_once_approved(team):
    team.ok("settings", "alt-address", "add", "maria.l@northwind.example", "--user", "sam@northwind.example")
    code, data, _ = ingest(team, mail(frm="Sam <Maria.L@northwind.example>"))
    assert code == 3 and data["status"] == "quarantined"  # a claim is not yet sam's address
    team.ok("settings", "alt-address", "approve", "maria.l@northwind.example")
    code, data, _ = ingest(team, mail(frm="Sam <Maria.L@northwind.example>"))
    assert code == 0
    assert team.json("show", str(data["id"]), "--user", "sam@northwind.example")["owner"] == "sam@northwind.example"


@pytest.mark.parametrize(
    "name,raw,reason",
    [
        ("stranger", mail(frm="Eve <eve@evil.example>"), "not allowed"),
        ("spoofed display name", mail(frm='"maria@northwind.example" <eve@evil.example>'), "not allowed"),
        ("two From headers", mail(extra=[("From", "Eve <eve@evil.example>")]), "From"),
        ("two mailboxes", mail(frm="maria@northwind.example, eve@evil.example"), "mailbox"),
        ("address smuggled after the allowed one", mail(frm="maria@northwind.example<eve@evil.example>"), ""),
        ("no From at all", mail(frm=None) if False else b"To: ada@acme.example\r\nSubject: x\r\n\r\nhi\r\n", ""),
    ],
)
def test_refused_senders_are_quarantined_with_exit_3(team, name, raw, reason):
    code, data, err = ingest(team, raw)
    assert code == 3, (name, err)
    assert data["status"] == "quarantined" and data["id"] is None and reason in data["reason"]
    assert err.startswith("Error: ")
    held = team.json("bcc-ingest", "--quarantine")
    assert len(held) == 1 and held[0]["reason"] == data["reason"]
    assert team.json("inbox", "--folder", "all") == []


def test_quarantine_release_after_review(team, db_path):
    raw = mail(frm="Maria <maria.private@home.example>")
    code, _data, _ = ingest(team, raw)
    assert code == 3
    (held,) = team.json("bcc-ingest", "--quarantine")
    assert team.json("bcc-ingest", "--quarantine", "--user", "sam@northwind.example") == []
    released = team.json("bcc-ingest", "--release", str(held["id"]))
    assert released["status"] == "stored"
    assert team.json("bcc-ingest", "--quarantine") == []
    stored = db_rows(db_path, "SELECT r.data FROM emails e JOIN raw_messages r ON r.sha256 = e.raw_sha256")
    assert stored[0]["data"] == raw
    assert team("bcc-ingest", "--release", "99").exit_code == 4


def test_mta_mode_exits_0_for_refused_mail_and_keeps_it(team):
    code, data, _ = ingest(team, mail(frm="eve@evil.example"), "--mta")
    assert code == 0 and data["status"] == "quarantined"
    assert len(team.json("bcc-ingest", "--quarantine")) == 1


AR = "Authentication-Results"


@pytest.mark.parametrize(
    "headers,ok",
    [
        ([(AR, "mx.northwind.example; dmarc=pass header.from=northwind.example")], True),
        ([(AR, "mx.northwind.example; dkim=pass header.d=northwind.example")], True),
        ([(AR, "mx.northwind.example; dmarc=fail header.from=northwind.example")], False),
        ([(AR, "mx.northwind.example; spf=pass smtp.mailfrom=northwind.example")], False),
        ([(AR, "mx.northwind.example; dkim=pass header.d=evil.example")], False),
        ([(AR, "other.example; dmarc=pass header.from=northwind.example")], False),
        ([], False),
        (
            [
                (AR, "mx.northwind.example; dmarc=pass header.from=northwind.example"),
                (AR, "mx.northwind.example; dmarc=pass header.from=northwind.example"),
            ],
            False,
        ),
    ],
)
def test_trusted_authentication_results(team, headers, ok):
    team.ok("settings", "set", "bcc-authserv-id", "mx.northwind.example")
    code, data, _ = ingest(team, mail(extra=headers))
    assert (code == 0) is ok, data
    assert data["status"] == ("stored" if ok else "quarantined")


@pytest.mark.parametrize(
    "results,reason",
    [
        ("dkim=pass header.d=attacker.com.pl", "DKIM not aligned with From (signed by attacker.com.pl)"),
        (
            "dkim=pass header.d=northwind.com.pl; dmarc=fail header.from=northwind.com.pl",
            "DMARC did not pass for northwind.com.pl (dmarc=fail)",
        ),
    ],
)
def test_forged_sender_under_a_shared_public_suffix_is_quarantined(team, db_path, results, reason):
    """A signature by a neighbour under com.pl is no relative of northwind.com.pl, and DKIM never
    overrules the DMARC verdict of the same trusted server."""
    team.ok("user", "add", "marek@northwind.com.pl", "--name", "Marek Nowak")
    team.ok("settings", "set", "bcc-authserv-id", "mx.northwind.example")
    raw = mail(
        frm="Marek Nowak <marek@northwind.com.pl>",
        mid="<forged-1@attacker.com.pl>",
        extra=[(AR, f"mx.northwind.example; {results}")],
    )
    code, data, _ = ingest(team, raw)
    assert code == 3 and data["status"] == "quarantined"
    assert data["reason"] == f"marek@northwind.com.pl is not authenticated: {reason}"
    assert db_rows(db_path, "SELECT count(*) FROM emails")[0][0] == 0
    assert len(db_rows(db_path, "SELECT id FROM quarantine")) == 1
    signed = mail(
        frm="Marek Nowak <marek@northwind.com.pl>",
        mid="<real-1@northwind.com.pl>",
        extra=[(AR, "mx.northwind.example; dkim=pass header.d=mail.northwind.com.pl")],
    )
    code, data, _ = ingest(team, signed)
    assert code == 0 and data["status"] == "stored"


# --- forwards, deal addresses, contacts, visibility -------------------------------------------

GMAIL_FORWARD = (
    "FYI\r\n\r\n---------- Forwarded message ---------\r\n"
    "From: Ada Byron <ada@acme.example>\r\nDate: Mon, Nov 16, 2026 at 5:40 PM\r\n"
    "Subject: Re: Quote\r\nTo: Maria Lopez <maria@northwind.example>\r\n\r\n"
    "Numbers work for us.\r\nAda\r\n"
)


def test_inline_forward_without_to_stores_the_customers_original(team, db_path):
    raw = mail(to=CAPTURE, subject="Fwd: Re: Quote", mid="<fwd1@northwind.example>", body=GMAIL_FORWARD)
    code, data, _ = ingest(team, raw)
    assert code == 0
    email = team.json("show", str(data["id"]))
    assert email["direction"] == "incoming"
    assert email["from"] == {"name": "Ada Byron", "email": "ada@acme.example"}
    assert email["to"] == [{"name": "Maria Lopez", "email": "maria@northwind.example"}]
    # 5:40 PM as Maria's client printed it, in her zone: her own Date header says +0100.
    assert email["subject"] == "Re: Quote" and email["date"] == "2026-11-16T16:40:00Z"
    assert "Numbers work for us." in email["text"] and "FYI" not in email["text"]
    assert email["contacts"] == [1] and email["deal"] == 1
    (row,) = db_rows(db_path, "SELECT raw_sha256, wrapper_sha256 FROM emails")
    (raw_row,) = db_rows(db_path, "SELECT data FROM raw_messages WHERE sha256 = ?", (row["raw_sha256"],))
    assert raw_row["data"] == raw  # the forwarding wrapper is kept byte for byte


def test_attached_forward_stores_the_original_message(team, db_path):
    original = mail(
        frm="Bo Chen <bo@acme.example>",
        to="maria@northwind.example",
        subject="PO 7781",
        mid="<po-7781@acme.example>",
        body="Purchase order attached.\r\n",
    )
    body = (
        "--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        "--b1\r\nContent-Type: message/rfc822\r\n\r\n" + original.decode() + "\r\n--b1--\r\n"
    )
    raw = mail(
        to=CAPTURE,
        subject="Fwd: PO 7781",
        mid="<fwd2@northwind.example>",
        extra=[("MIME-Version", "1.0"), ("Content-Type", 'multipart/mixed; boundary="b1"')],
        body=body,
    )
    code, data, _ = ingest(team, raw)
    assert code == 0
    email = team.json("show", str(data["id"]))
    assert email["message_id"] == "po-7781@acme.example" and email["from"]["email"] == "bo@acme.example"
    assert email["contacts"] == [2] and email["deal"] is None and email["needs_deal"] is True
    (row,) = db_rows(db_path, "SELECT wrapper_sha256 FROM emails")
    assert db_rows(db_path, "SELECT data FROM raw_messages WHERE sha256 = ?", (row[0],))[0][0] == raw


@pytest.mark.parametrize("how", ["recipient", "delivered-to", "bcc-header"])
def test_per_deal_address_files_on_that_deal_even_when_won(team, how):
    tagged = "capture+deal4@bcc.northwind.example"
    args, extra = (), []
    if how == "recipient":
        args = ("--recipient", tagged)
    elif how == "delivered-to":
        extra = [("Delivered-To", tagged)]
    else:
        extra = [("Bcc", tagged)]
    code, data, _ = ingest(team, mail(to="bo@acme.example", extra=extra), *args)
    assert code == 0
    email = team.json("show", str(data["id"]))
    assert email["deal"] == 4 and email["needs_deal"] is False


def test_tag_naming_no_deal_warns_and_links_as_usual(team):
    code, data, err = ingest(team, mail(), "--recipient", "capture+deal99@bcc.northwind.example")
    assert code == 0 and "deal 99" in err and err.startswith("Warning:")
    assert team.json("show", str(data["id"]))["deal"] == 1


HUGE_TAG = "capture+deal99999999999999999999@bcc.northwind.example"


@pytest.mark.parametrize("how", ["recipient", "delivered-to", "bcc-header"])
def test_tag_too_large_for_any_deal_warns_and_stores(team, how):
    args = ("--mta", "--recipient", HUGE_TAG) if how == "recipient" else ("--mta",)
    extra = {"recipient": [], "delivered-to": [("Delivered-To", HUGE_TAG)], "bcc-header": [("Bcc", HUGE_TAG)]}[how]
    code, data, err = ingest(team, mail(extra=extra), *args)
    assert code == 0 and data["status"] == "stored", err
    assert "deal 99999999999999999999, which does not exist; linked as usual" in err
    assert team.json("show", str(data["id"]))["deal"] == 1
    assert team.json("bcc-ingest", "--quarantine") == []


def test_unknown_customer_becomes_a_contact_unless_turned_off(team):
    ingest(team, mail(to="Carla New <carla@newco.example>", mid="<a@n>"))
    contacts = {c["emails"][0]: c for c in team.json("contact", "list")}
    assert contacts["carla@newco.example"]["name"] == "Carla New"
    team.ok("settings", "set", "create-contacts", "off")
    ingest(team, mail(to="dan@newco.example", mid="<b@n>"))
    assert "dan@newco.example" not in {c["emails"][0] for c in team.json("contact", "list")}


def test_default_visibility_applies_at_capture_and_never_rewrites(team):
    _, first, _ = ingest(team, mail(mid="<v1@n>", subject="one"))
    team.ok("settings", "set", "default-visibility", "private")
    _, second, _ = ingest(team, mail(mid="<v2@n>", subject="two", to="bo@acme.example"))
    assert team.json("show", str(first["id"]))["visibility"] == "shared"
    assert team.json("show", str(second["id"]))["visibility"] == "private"


def test_blocked_only_sender_is_not_captured(team):
    team.ok("settings", "block", "add", "@acme.example")
    fwd = GMAIL_FORWARD
    code, data, _ = ingest(team, mail(to=CAPTURE, subject="Fwd: x", body=fwd))
    assert code == 0 and data["status"] == "skipped" and data["id"] is None
    assert team.json("inbox", "--folder", "all") == []


# --- dedupe -----------------------------------------------------------------------------------


def test_same_message_twice_is_one_email(team):
    raw = mail()
    _, first, _ = ingest(team, raw)
    code, again, _ = ingest(team, raw)
    assert code == 0 and again == {
        "source": "-",
        "status": "duplicate",
        "id": first["id"],
        "reason": "already captured",
        "quarantine_id": None,
    }
    assert len(team.json("inbox", "--folder", "all")) == 1


def test_two_deliveries_of_one_message_at_the_same_moment_store_it_once(team, db_path):
    """Two mail servers (or two recipients of one message) start bcc-ingest together: each checks
    whether the message is stored and stores it if not, one after the other, never both at once."""
    for attempt in range(4):
        raw = mail(mid=f"<twice{attempt}@northwind.example>", subject=f"Twice {attempt}")
        both = [
            subprocess.Popen(
                [sys.executable, "-m", "pdmail", "bcc-ingest", "--mta", "--json"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=dict(os.environ),
            )
            for _ in range(2)
        ]
        for proc in both:  # each is started and waits for its message: both get it at once
            proc.stdin.write(raw)
        for proc in both:
            proc.stdin.close()
        results = [(proc.wait(timeout=120), proc.stdout.read(), proc.stderr.read()) for proc in both]
        for proc in both:
            proc.stdout.close()
            proc.stderr.close()
        assert [code for code, _, _ in results] == [0, 0], results
        outcomes = [report for _, out, _ in results for report in json.loads(out)]  # one report each
        assert sorted(o["status"] for o in outcomes) == ["duplicate", "stored"], outcomes
        assert outcomes[0]["id"] == outcomes[1]["id"]
    assert rawdb.scalar(db_path, "SELECT count(*) FROM emails") == 4
    assert rawdb.scalar(db_path, "SELECT count(*) FROM raw_messages") == 4
    assert rawdb.scalar(db_path, "SELECT count(*) FROM quarantine") == 0


def test_copy_with_relay_headers_and_rewritten_message_id_is_the_same_email(team):
    _, first, _ = ingest(team, mail())
    relayed = mail(
        mid="<REWRITTEN-123@outlook.example>",
        extra=[
            ("Received", "from mx by relay; Mon, 16 Nov 2026 09:13:00 +0100"),
            ("X-Microsoft-Original-Message-ID", "<m1@northwind.example>"),
            ("Bcc", CAPTURE),
        ],
    )
    _code, data, _ = ingest(team, relayed)
    assert data["status"] == "duplicate" and data["id"] == first["id"]


def test_no_message_id_deduped_by_content(team):
    _, first, _ = ingest(team, mail(mid=None))
    _, again, _ = ingest(team, mail(mid=None))
    assert again["status"] == "duplicate" and again["id"] == first["id"]


def test_same_message_id_different_content_keeps_both(team):
    _, first, _ = ingest(team, mail(body="first text\r\n"))
    _code, second, err = ingest(team, mail(body="entirely different text\r\n"))
    assert second["status"] == "stored" and second["id"] != first["id"]
    assert "differs in content" in err


# --- threads ----------------------------------------------------------------------------------


def _thread(cli, email_id):
    return cli.json("show", str(email_id))["thread_id"]


def test_reply_joins_by_in_reply_to_even_without_brackets(team):
    _, a, _ = ingest(team, mail(mid="<t1@n>", subject="Plan"))
    _, b, _ = ingest(
        team, mail(to="ada@acme.example", mid="<t2@n>", subject="Re: Plan", extra=[("In-Reply-To", "t1@n")])
    )
    assert _thread(team, a["id"]) == _thread(team, b["id"])


def test_reply_before_its_parent_still_threads(team):
    _, child, _ = ingest(team, mail(mid="<c@n>", subject="Re: Plan", extra=[("References", "<p@n>")]))
    _, parent, _ = ingest(team, mail(mid="<p@n>", subject="Plan"))
    assert _thread(team, child["id"]) == _thread(team, parent["id"])


def test_two_threads_joined_by_a_later_message_merge(team):
    _, a, _ = ingest(team, mail(mid="<x1@n>", subject="A"))
    _, b, _ = ingest(team, mail(mid="<x2@n>", subject="B"))
    _, c, _ = ingest(team, mail(mid="<x3@n>", subject="Re: A", extra=[("References", "<x1@n> <x2@n>")]))
    assert _thread(team, a["id"]) == _thread(team, b["id"]) == _thread(team, c["id"])
    assert team.json("show", str(c["id"]))["thread"] == [a["id"], b["id"], c["id"]]


def test_references_loop_does_not_hang(team):
    _, a, _ = ingest(team, mail(mid="<l1@n>", extra=[("References", "<l2@n>")]))
    _, b, _ = ingest(team, mail(mid="<l2@n>", subject="other", extra=[("References", "<l1@n> <l2@n>")]))
    assert _thread(team, a["id"]) == _thread(team, b["id"])


def test_subject_fallback_needs_a_shared_participant_and_30_days(team):
    _, a, _ = ingest(team, mail(mid="<s1@n>", subject="Pricing"))
    _, same, _ = ingest(
        team, mail(mid="<s2@n>", body="again\r\n", subject="RE: pricing", date="Tue, 17 Nov 2026 09:00:00 +0100")
    )
    _, stranger, _ = ingest(
        team,
        mail(
            frm="maria@northwind.example",
            to="bo@acme.example",
            mid="<s3@n>",
            subject="Re: Pricing",
            date="Tue, 17 Nov 2026 10:00:00 +0100",
        ),
    )
    _, late, _ = ingest(
        team, mail(mid="<s4@n>", body="later\r\n", subject="Re: Pricing", date="Mon, 28 Dec 2026 09:00:00 +0100")
    )
    assert _thread(team, same["id"]) == _thread(team, a["id"])
    assert _thread(team, stranger["id"]) != _thread(team, a["id"])
    assert _thread(team, late["id"]) != _thread(team, a["id"])


def test_thread_deal_is_inherited_even_when_the_contact_now_has_two_open_deals(team):
    _, a, _ = ingest(team, mail(mid="<d1@n>", subject="Arms"))
    assert team.json("show", str(a["id"]))["deal"] == 1
    team.ok("deal", "add", "More arms", "--contact", "1")
    _, b, _ = ingest(team, mail(mid="<d2@n>", subject="Re: Arms", extra=[("In-Reply-To", "<d1@n>")]))
    reply = team.json("show", str(b["id"]))
    assert reply["deal"] == 1 and reply["needs_deal"] is False


# --- many inputs ------------------------------------------------------------------------------


def test_maildir_with_a_bad_message_exits_7_and_lists_the_failure(team, tmp_path):
    box = mailbox.Maildir(tmp_path / "md", create=True)
    box.add(mail(mid="<md1@n>", subject="one"))
    box.add(mail(mid="<md2@n>", subject="two"))
    box.add(mail(frm="eve@evil.example", mid="<md3@n>"))
    box.close()
    result = team("bcc-ingest", str(tmp_path / "md"), "--json")
    assert result.exit_code == 7
    statuses = sorted(o["status"] for o in json.loads(result.stdout))
    assert statuses == ["quarantined", "stored", "stored"]
    assert "refused" in result.stderr


def test_mbox_and_eml_paths_and_a_missing_path(team, tmp_path):
    box = mailbox.mbox(tmp_path / "in.mbox")
    for i in range(3):
        box.add(mail(mid=f"<mb{i}@n>", subject=f"m{i}", body=f"From the desk of Maria\r\nnumber {i}\r\n"))
    box.close()
    eml = tmp_path / "one.eml"
    eml.write_bytes(b"From maria@northwind.example Mon Nov 16 09:00:00 2026\n" + mail(mid="<e1@n>", subject="eml"))
    result = team("bcc-ingest", str(tmp_path / "in.mbox"), str(eml), str(tmp_path / "nope.eml"), "--json")
    assert result.exit_code == 7
    out = json.loads(result.stdout)
    assert [o["status"] for o in out] == ["stored", "stored", "stored", "stored", "failed"]
    assert "no such file" in out[-1]["reason"]
    assert len(team.json("inbox", "--folder", "all")) == 4


def test_a_plain_folder_reads_every_file_and_reports_what_it_leaves_out(team, tmp_path):
    folder = tmp_path / "mh"
    folder.mkdir()
    (folder / "1").write_bytes(mail(mid="<f1@n>", subject="one"))
    (folder / "2.EML").write_bytes(mail(mid="<f2@n>", subject="two"))
    (folder / "3.msg").write_bytes(mail(mid="<f3@n>", subject="three"))
    box = mailbox.mbox(folder / "x.mbox")
    for i in (4, 5):
        box.add(mail(mid=f"<f{i}@n>", subject=f"m{i}"))
    box.close()
    (folder / "readme.txt").write_text("These are Maria's messages.\n")
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (folder / "sub").mkdir()
    result = team("bcc-ingest", str(folder), "--json")
    assert result.exit_code == 7
    out = {o["source"]: o for o in json.loads(result.stdout)}
    assert sorted(label.rsplit("/", 1)[-1] for label, o in out.items() if o["status"] == "stored") == [
        "1",
        "2.EML",
        "3.msg",
        "x.mbox#1",
        "x.mbox#2",
    ]
    assert out[str(folder / "readme.txt")]["status"] in ("quarantined", "failed")
    assert out[str(folder / "readme.txt")]["reason"]
    assert out[str(folder / "sub")]["status"] == "failed" and "folder inside" in out[str(folder / "sub")]["reason"]
    assert not any(".DS_Store" in label for label in out)  # hidden files are not mail
    assert "sub" in result.stderr


def test_an_empty_folder_is_reported(team, tmp_path):
    (tmp_path / "empty").mkdir()
    result = team("bcc-ingest", str(tmp_path / "empty"))
    assert result.exit_code != 0 and "no message files" in result.stderr


def test_every_input_refused_exits_3(team, tmp_path):
    for i in range(2):
        (tmp_path / f"{i}.eml").write_bytes(mail(frm="eve@evil.example", mid=f"<e{i}@n>"))
    result = team("bcc-ingest", str(tmp_path / "0.eml"), str(tmp_path / "1.eml"))
    assert result.exit_code == 3


def test_oversized_stdin_is_spooled_and_quarantined(team, db_path, monkeypatch):
    import pdmail.capture.piped as stdin_module  # one message on stdin
    from pdmail.mime.limits import ParseLimits

    monkeypatch.setattr(stdin_module, "DEFAULT_LIMITS", ParseLimits(max_size=10_000))
    big = mail(body="x" * 50_000 + "\r\n")
    code, data, _ = ingest(team, big)
    assert code == 3 and "limit" in data["reason"]
    (held,) = db_rows(db_path, "SELECT spool_path, size FROM quarantine")
    assert held["size"] == len(big)
    with open(held["spool_path"], "rb") as spooled:
        assert spooled.read() == big


def test_parallel_parsing_gives_the_same_result(team, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(80):
        (folder / f"{i:03}.eml").write_bytes(mail(mid=f"<p{i}@n>", subject=f"n{i}"))
    result = team("bcc-ingest", str(folder), "--json", "--workers", "2")
    assert result.exit_code == 0
    out = json.loads(result.stdout)
    assert len(out) == 80 and {o["status"] for o in out} == {"stored"}
    assert [o["source"] for o in out] == [str(folder / f"{i:03}.eml") for i in range(80)]


def test_busy_database_exits_75_and_mta_keeps_the_message(team, db_path, monkeypatch):
    """A long writer holds the database: the mail server is told to retry, nothing half-written."""
    monkeypatch.setenv("PDMAIL_BUSY_TIMEOUT", "0.2")
    with rawdb.another_writer(db_path):
        result = team("bcc-ingest", "--mta", input=mail())
        assert result.exit_code == 75, result.stderr
        assert "busy" in result.stderr
        plain = team("bcc-ingest", input=mail())
        assert plain.exit_code == 75
    assert team.json("inbox", "--folder", "all") == []
    code, data, _ = ingest(team, mail())
    assert code == 0 and data["status"] == "stored"
