"""`inbox`, `show`, `search`, `share`, the read-state commands and `export`, as a user runs them."""

from __future__ import annotations

import json
import mailbox
import re
from pathlib import Path

import factories
import pytest
import rawdb
from onterminal import on_terminal

pytestmark = pytest.mark.both_engines

CAPTURE = "capture@bcc.northwind.example"
MARIA = "maria@northwind.example"
SAM = "sam@northwind.example"
ESC = "\x1b"


def mail(
    *,
    frm="Maria Lopez <maria@northwind.example>",
    to="Ada Byron <ada@acme.example>",
    subject="Quote",
    date="Mon, 16 Nov 2026 09:12:00 +0000",
    mid="m1@northwind.example",
    body="Hello Ada,\r\nthe quote.\r\n",
    headers=(),
    content_type=None,
) -> bytes:
    head = [("From", frm), ("To", to), ("Subject", subject), ("Date", date), ("Message-ID", f"<{mid}>"), *headers]
    if content_type:
        head += [("MIME-Version", "1.0"), ("Content-Type", content_type)]
    return ("".join(f"{k}: {v}\r\n" for k, v in head) + "\r\n" + body).encode("utf-8")


@pytest.fixture
def team(company):
    c = company
    c.ok("settings", "set", "bcc-address", CAPTURE)
    c.ok("org", "add", "Acme")
    c.ok("contact", "add", "Ada Byron", "--email", "ada@acme.example", "--org", "1")
    c.ok("contact", "add", "Bo Chen", "--email", "bo@acme.example", "--org", "1")
    c.ok("deal", "add", "Arms", "--contact", "1")
    return c


def ingest(cli, raw: bytes, *args: str) -> int:
    result = cli("bcc-ingest", "--json", *args, input=raw)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    (outcome,) = json.loads(result.stdout)  # an array whatever the input: here one message
    return outcome["id"]


def incoming(cli, n: int, **kw) -> int:
    """An email from Ada that Maria forwards by hand (unwrapped: Ada's original is stored)."""
    original = mail(frm="Ada Byron <ada@acme.example>", to=f"Maria Lopez <{MARIA}>", mid=f"in{n}@acme.example", **kw)
    wrapper = (
        (
            f"From: Maria Lopez <{MARIA}>\r\nTo: {CAPTURE}\r\nSubject: Fwd\r\nMessage-ID: <w{n}@northwind.example>\r\n"
            "Date: Mon, 16 Nov 2026 12:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/mixed; boundary="fw"\r\n\r\n--fw\r\nContent-Type: text/plain\r\n\r\nfyi\r\n'
            "--fw\r\nContent-Type: message/rfc822\r\n\r\n"
        ).encode()
        + original
        + b"\r\n--fw--\r\n"
    )
    return ingest(cli, wrapper)


# --- inbox -------------------------------------------------------------------------------------


SPEC_KEYS = factories.EMAIL_JSON_KEYS


def test_inbox_json_is_the_spec_shape(team):
    email_id = incoming(team, 1)
    (e,) = team.json("inbox")
    assert set(e) == SPEC_KEYS
    assert e["id"] == email_id and e["direction"] == "incoming" and e["source"] == "bcc"
    assert e["from"] == {"name": "Ada Byron", "email": "ada@acme.example"}
    assert e["to"] == [{"name": "Maria Lopez", "email": MARIA}] and e["cc"] == []
    assert e["message_id"] == "in1@acme.example"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", e["date"]) and e["date"] == "2026-11-16T09:12:00Z"
    assert e["read"] is False and e["folder"] == "inbox" and e["visibility"] == "shared"
    assert e["owner"] == MARIA and e["contacts"] == [1] and e["deal"] == 1 and e["needs_deal"] is False
    assert e["attachments"] == [] and e["snippet"].startswith("Hello Ada")


def test_show_json_adds_text_and_thread(team):
    first = ingest(team, mail())
    reply = ingest(
        team,
        mail(
            mid="m2@northwind.example",
            subject="Re: Quote",
            date="Tue, 17 Nov 2026 09:00:00 +0000",
            headers=[("In-Reply-To", "<m1@northwind.example>")],
            body="Second\r\n",
        ),
    )
    shown = team.json("show", str(reply))
    assert set(shown) == SPEC_KEYS | {"text", "thread"}
    assert shown["text"] == "Second" and shown["thread"] == [first, reply]


def test_inbox_is_newest_first_and_pages(team):
    ids = [
        ingest(
            team,
            mail(mid=f"p{n}@northwind.example", subject=f"Subject {n}", date=f"Mon, {10 + n} Nov 2026 09:00:00 +0000"),
        )
        for n in range(5)
    ]
    newest_first = list(reversed(ids))
    assert [e["id"] for e in team.json("inbox", "--folder", "sent")] == newest_first
    pages = [
        [e["id"] for e in team.json("inbox", "--folder", "sent", "--limit", "2", "--page", str(p))]
        for p in (1, 2, 3, 4)
    ]
    assert pages == [newest_first[:2], newest_first[2:4], newest_first[4:], []]
    human = team.ok("inbox", "--folder", "sent", "--limit", "2")
    assert "--page 2" in human.stderr
    last = team.ok("inbox", "--folder", "sent", "--limit", "2", "--page", "3")
    assert "--page" not in last.stderr
    assert (
        team.ok("inbox", "--folder", "sent", "--limit", "2", "--page", "9", "--format", "table").stdout
        == "No more email.\n"
    )


def test_inbox_filters(team):
    a = incoming(team, 1)  # Ada, deal 1, inbox
    b = ingest(
        team, mail(to="Bo Chen <bo@acme.example>", mid="b@northwind.example", date="Sun, 01 Nov 2026 08:00:00 +0000")
    )  # Bo, no deal, sent
    team.ok("settings", "set", "create-contacts", "off")
    c = ingest(team, mail(to="x@else.example", mid="c@northwind.example"))  # unlinked, sent
    assert ids(team, "inbox", "--folder", "all") == {a, b, c}
    assert ids(team, "inbox", "--folder", "all", "--contact", "1") == {a}
    assert ids(team, "inbox", "--folder", "all", "--contact", "2") == {b}
    assert ids(team, "inbox", "--folder", "all", "--deal", "1") == {a}
    assert ids(team, "inbox", "--folder", "all", "--org", "1") == {a, b}
    assert ids(team, "inbox", "--folder", "all", "--unlinked") == {c}
    assert ids(team, "inbox", "--folder", "all", "--unread") == {a}
    assert ids(team, "inbox", "--folder", "all", "--since", "2026-11-10") == {a, c}
    assert ids(team, "inbox", "--folder", "all", "--until", "2026-11-10") == {b}
    assert ids(team, "inbox", "--folder", "all", "--since", "2026-11-01T08:00", "--until", "2026-11-01T08:01") == {b}
    assert ids(team, "inbox") == {a}
    assert ids(team, "inbox", "--folder", "sent") == {b, c}
    assert team.json("inbox", "--folder", "all", "--count") == {"count": 3}
    assert team.ok("inbox", "--folder", "all", "--unread", "--count").stdout.strip() == "1"


def ids(cli, *args) -> set[int]:
    return {e["id"] for e in cli.json(*args)}


@pytest.mark.parametrize(
    "args,words",
    [
        (["--folder", "drafts"], "unknown folder"),
        (["--limit", "0"], "at least 1"),
        (["--page", "0"], "at least 1"),
        (["--since", "2026-13-45"], "--since '2026-13-45' is not a date on the calendar"),
        (["--until", "2026-13"], "--until '2026-13' is not a date on the calendar"),
        (["--since", "soon"], "cannot read --since 'soon'"),
    ],
)
def test_inbox_usage_errors_exit_2(team, args, words):
    result = team("inbox", *args)
    assert result.exit_code == 2 and result.stderr.startswith("Error: ") and words in result.stderr
    assert result.stdout == ""


def test_inbox_rejects_a_non_number_with_exit_2(team):
    result = team("inbox", "--limit", "many")
    assert result.exit_code == 2 and "many" in result.stderr


def test_inbox_groups_by_thread_with_counts_and_marks(team):
    first = ingest(team, mail(subject="Robot arms"))
    ingest(
        team,
        mail(
            mid="m2@northwind.example",
            subject="Re: Robot arms",
            date="Tue, 17 Nov 2026 09:00:00 +0000",
            headers=[("In-Reply-To", "<m1@northwind.example>")],
        ),
    )
    team.ok("share", str(first), "--private")
    out = team.ok("inbox", "--folder", "sent", "--format", "table").stdout
    rows = [line for line in out.splitlines() if "Robot arms" in line]
    assert len(rows) == 1 and re.search(r"\bP\s+2\s+2026-11-17", rows[0]) and "deal 1" in rows[0]


# --- the table at 80 columns -----------------------------------------------------------------


def test_table_at_80_columns_keeps_ids_dates_and_links_readable(team):
    long_subject = "A very long subject about fifty industrial robot arms and their maintenance contract " * 2
    email_id = ingest(
        team, mail(subject=long_subject.strip(), to="Bartholomew Maximilian Fitzgerald-Worthington <ada@acme.example>")
    )
    code, out = on_terminal("inbox", "--folder", "sent", columns=80)
    lines = [line for line in out.splitlines() if line.strip()]
    assert code == 0 and all(len(line) <= 80 for line in lines), lines
    row = next(line for line in lines if line.lstrip().startswith(str(email_id)))
    assert "2026-11-16" in row and row.rstrip().endswith("deal 1") and "A very long" in row and "…" in row
    code, wide = on_terminal("inbox", "--folder", "sent", columns=160)
    assert "2026-11-16 09:12" in wide and "deal 1, contact 1" in wide


def test_needs_deal_mark_is_shown(team):
    team.ok("deal", "add", "Belts", "--contact", "1")  # Ada now has two open deals
    incoming(team, 7)
    out = team.ok("inbox", env={"COLUMNS": "80"}).stdout
    assert "needs deal" in out
    (e,) = team.json("inbox", "--needs-deal")
    assert e["needs_deal"] is True and e["deal"] is None


# --- show ----------------------------------------------------------------------------------------


def test_show_prints_headers_links_attachments_and_the_thread(team):
    raw = mail(
        content_type='multipart/mixed; boundary="x"',
        body=(
            "--x\r\nContent-Type: text/plain\r\n\r\nPlease find the offer.\r\n"
            '--x\r\nContent-Type: application/pdf; name="offer.pdf"\r\nContent-Transfer-Encoding: base64\r\n'
            'Content-Disposition: attachment; filename="offer.pdf"\r\n\r\nJVBERi0xLjQK\r\n--x--\r\n'
        ),
    )
    email_id = ingest(team, raw)
    out = team.ok("show", str(email_id)).stdout
    for text in (
        "From: Maria Lopez <maria@northwind.example>",
        "To: Ada Byron <ada@acme.example>",
        "Subject: Quote",
        "deal 1",
        "Visibility: shared",
        "offer.pdf (application/pdf, 9 bytes)",
        "Please find the offer.",
    ):
        assert text in out, text
    shown = team.json("show", str(email_id))
    assert shown["attachments"] == [{"filename": "offer.pdf", "size": 9, "content_type": "application/pdf"}]


def test_show_converts_html_and_never_prints_it_raw(team):
    html = (
        "<html><head><style>p{color:red}</style><script>alert(1)</script></head><body>"
        "<p>Budget is <b>40k</b>.</p><img src='https://tracker.example/p.gif'></body></html>"
    )
    email_id = ingest(team, mail(content_type="text/html; charset=utf-8", body=html))
    out = team.ok("show", str(email_id)).stdout
    assert "Budget is 40k." in out
    for raw_bit in ("<p>", "<script", "alert(1)", "color:red", "tracker.example"):
        assert raw_bit not in out


def test_missing_email_exits_4(team):
    for command in (["show", "99"], ["share", "99", "--private"], ["read", "99"], ["archive", "99"]):
        result = team(*command)
        assert result.exit_code == 4 and result.stderr == "Error: email 99 not found\n" and result.stdout == ""


# --- terminal safety -------------------------------------------------------------------------------


HOSTILE_SUBJECT = f"{ESC}[2J[b]x[/b] \u202egnp.exe\r\x07"


def test_escape_sequences_and_markup_in_mail_never_reach_the_terminal(team):
    email_id = ingest(
        team,
        mail(
            subject=HOSTILE_SUBJECT.replace("\r", ""),
            to='"[red]Ada[/red]" <ada@acme.example>',
            body=f"line one{ESC}[31m red\r\nline two\rover\u202e\r\n",
        ),
    )
    outputs = [
        team.ok("inbox", "--folder", "sent").stdout,
        team.ok("show", str(email_id)).stdout,
        team.ok("search", "line").stdout,
        team.ok("contact", "show", "1").stdout,
        team.ok("deal", "show", "1").stdout,
        team.ok("org", "show", "1").stdout,
    ]
    for out in outputs:
        assert ESC not in out and "\u202e" not in out and "\x07" not in out
        assert "\r" not in out
        assert "[b]x[/b]" in out  # markup prints as itself
    assert "[red]Ada[/red]" in outputs[1]


def test_emoji_codes_in_mail_print_as_written(team):
    email_id = ingest(team, mail(subject=":warning: pay now :smile:"))
    for out in (team.ok("inbox", "--folder", "sent").stdout, team.ok("show", str(email_id)).stdout):
        assert ":warning: pay now :smile:" in out


# --- search ----------------------------------------------------------------------------------------


def test_search_words_phrases_and_address_filters(team):
    a = ingest(team, mail(subject="Robot arm offer", body="fifty robot arms for the plant\r\n"))
    b = ingest(
        team,
        mail(
            mid="m2@northwind.example", to="Bo Chen <bo@acme.example>", subject="Belts", body="arms and robot belts\r\n"
        ),
    )
    assert ids(team, "search", "robot") == {a, b}
    assert ids(team, "search", '"robot arms"') == {a}
    assert ids(team, "search", "robot to:bo@acme") == {b}
    assert ids(team, "search", "to:ada@acme.example") == {a}
    assert ids(team, "search", "from:maria") == {a, b}
    assert ids(team, "search", "Chen") == {b}  # addresses and names are indexed
    assert ids(team, "search", "nothinglikethis") == set()
    assert team.ok("search", "nothinglikethis", "--format", "table").stdout.strip() == "Nothing found."


@pytest.mark.parametrize(
    "text",
    ['"', "AND", "robot OR", "NEAR(", "*", "col:x", "'; DROP TABLE emails; --", "from:%", "to:_", "(((", "\\", "ü-ñ"],
)
def test_any_search_text_is_safe(team, text):
    ingest(team, mail())
    result = team("search", text, "--json")
    assert result.exit_code in (0, 2), result.stderr
    if result.exit_code == 2:
        assert result.stderr.startswith("Error: nothing to search for")
    else:
        assert isinstance(json.loads(result.stdout), list)
    assert len(team.json("inbox", "--folder", "all")) == 1


# --- share, read state, archive, delete, restore ---------------------------------------------------


def test_share_changes_the_whole_thread_and_is_recorded(team, db_path):
    first = ingest(team, mail())
    reply = ingest(
        team, mail(mid="m2@northwind.example", subject="Re: Quote", headers=[("In-Reply-To", "<m1@northwind.example>")])
    )
    (result,) = team.json("share", str(reply), "--private")
    assert result["visibility"] == "private" and result["changed"] == 2
    assert {team.json("show", str(i))["visibility"] for i in (first, reply)} == {"private"}
    assert team("show", str(first), "--user", SAM).exit_code == 4
    assert [r["changed"] for r in team.json("share", str(first), "--shared")] == [2]
    assert team.json("show", str(first), "--user", SAM)["id"] == first
    log = rawdb.rows(
        db_path, "SELECT user_id, action, from_value, to_value FROM audit_log WHERE action = 'visibility' ORDER BY id"
    )
    assert [tuple(r) for r in log] == [(1, "visibility", "shared", "private"), (1, "visibility", "private", "shared")]
    assert team("share", str(first)).exit_code == 2
    assert team("share", str(first), "--private", "--shared").exit_code == 2


def test_default_visibility_applies_only_to_mail_captured_afterwards(team):
    before = ingest(team, mail())
    team.ok("settings", "set", "default-visibility", "private")
    after = ingest(team, mail(mid="m2@northwind.example", subject="Other"))
    assert team.json("show", str(before))["visibility"] == "shared"
    assert team.json("show", str(after))["visibility"] == "private"


def test_read_unread_archive_delete_restore(team):
    email_id = incoming(team, 1)
    assert team.json("show", str(email_id))["read"] is False
    team.ok("read", str(email_id))
    assert team.json("show", str(email_id))["read"] is True
    team.ok("unread", str(email_id))
    assert ids(team, "inbox", "--unread") == {email_id}
    team.ok("archive", str(email_id))
    assert ids(team, "inbox") == set() and ids(team, "inbox", "--folder", "archive") == {email_id}
    team.ok("delete", str(email_id))
    assert ids(team, "inbox", "--folder", "trash") == {email_id}
    assert team.json("contact", "show", "1")["linked_emails"] == []  # deleted mail leaves the record views
    assert team.json("show", str(email_id))["contacts"] == [1]  # but keeps its links
    (restored,) = team.json("restore", str(email_id))
    assert restored["folder"] == "inbox" and ids(team, "inbox") == {email_id}


# --- record views ----------------------------------------------------------------------------------


def test_contact_deal_and_org_views_list_their_email(team):
    a = incoming(team, 1)
    b = ingest(team, mail(to="Bo Chen <bo@acme.example>", mid="b@northwind.example"))
    assert [e["id"] for e in team.json("contact", "show", "1")["linked_emails"]] == [a]
    assert [e["id"] for e in team.json("contact", "show", "2")["linked_emails"]] == [b]
    assert [e["id"] for e in team.json("deal", "show", "1")["linked_emails"]] == [a]
    assert {e["id"] for e in team.json("org", "show", "1")["linked_emails"]} == {a, b}
    assert len(team.json("org", "show", "1", "--limit", "1")["linked_emails"]) == 1
    out = team.ok("deal", "show", "1").stdout
    assert "Arms" in out and "[open]" in out and "Quote" in out
    assert (
        "No email you may see." in team.ok("contact", "show", "2", "--user", "ines@northwind.example").stdout
        or str(b) in team.ok("contact", "show", "2", "--user", "ines@northwind.example").stdout
    )


# --- export ----------------------------------------------------------------------------------------


def test_export_mbox_reads_back_byte_exact(team, tmp_path):
    plain = mail()
    with_from_lines = mail(mid="m2@northwind.example", subject="From the start", body="From here on\r\n>From x\r\n")
    for raw in (plain, with_from_lines):
        ingest(team, raw)
    out = tmp_path / "all.mbox"
    team.ok("export", "--format", "mbox", "--output", str(out))
    assert (out.stat().st_mode & 0o777) == 0o600
    box = mailbox.mbox(out)
    got = sorted((box.get_bytes(key) for key in box.iterkeys()), key=len)  # a mailbox iterates messages
    assert len(got) == 2 and got[0] == plain
    # mboxrd: a reader that undoes the quoting of "From " lines gets the exact bytes back
    assert re.sub(rb"(?m)^>(>*From )", rb"\1", got[1]) == with_from_lines


def test_export_jsonl_is_one_spec_email_per_line(team):
    ingest(team, mail())
    lines = team.ok("export").stdout.splitlines()
    assert len(lines) == 1 and set(json.loads(lines[0])) == SPEC_KEYS | {"text"}
    assert team("export", "--format", "csv").exit_code == 2


def _no_partial_files(*folders) -> list[str]:
    return [str(p) for folder in folders for p in folder.iterdir() if p.name.endswith(".part")]


def test_export_output_paths_are_checked_before_any_work(team, tmp_path):
    ingest(team, mail())
    missing = team("export", "--output", str(tmp_path / "nodir" / "x.jsonl"))
    assert missing.exit_code == 2 and "does not exist" in missing.stderr
    folder = tmp_path / "w"
    folder.mkdir()
    into_folder = team("export", "--output", str(folder))
    assert into_folder.exit_code == 2 and "is a folder" in into_folder.stderr
    assert not (tmp_path / "w.part").exists() and _no_partial_files(tmp_path, folder) == []


def test_export_never_replaces_a_file_silently_nor_writes_through_a_link(team, tmp_path):
    ingest(team, mail())
    out = tmp_path / "x.jsonl"
    out.write_text("mine\n")
    refused = team("export", "--output", str(out))
    assert refused.exit_code == 2 and "already exists" in refused.stderr and "--force" in refused.stderr
    assert out.read_text() == "mine\n"
    team.ok("export", "--output", str(out), "--force")
    assert json.loads(out.read_text().splitlines()[0])["subject"] == "Quote"
    victim = tmp_path / "victim"
    victim.write_text("keep")
    link = tmp_path / "link.jsonl"
    link.symlink_to(victim)
    for extra in ((), ("--force",)):
        result = team("export", "--output", str(link), *extra)
        assert result.exit_code == 2 and "symbolic link" in result.stderr
    assert victim.read_text() == "keep" and link.is_symlink()
    assert _no_partial_files(tmp_path) == []


def test_export_output_dash_is_stdout(team, tmp_path, monkeypatch):
    ingest(team, mail())
    monkeypatch.chdir(tmp_path)
    result = team.ok("export", "--output", "-")
    assert json.loads(result.stdout.splitlines()[0])["subject"] == "Quote"
    assert not (tmp_path / "-").exists()


def test_unprivileged_user_gets_usage_errors_for_read_only_folders(tmp_path):
    """Without root's power to write anywhere, a read-only folder is a clear usage error, and nothing is left."""
    import os
    import shutil
    import subprocess
    import sys

    from test_attachments import multipart

    drop = []  # root writes anywhere: run the real command without that power
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root and setpriv is not installed")
        drop = [setpriv, "--bounding-set=-dac_override,-dac_read_search"]
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    env = {**os.environ, "PDMAIL_DB": str(tmp_path / "pdmail.db"), "PDMAIL_USER": MARIA}

    def run(*args, input=None):
        return subprocess.run(
            [*drop, str(Path(sys.executable).parent / "pdmail"), *args],
            input=input,
            capture_output=True,
            env=env,
            cwd=tmp_path,
        )

    assert run("init", "--name", "Maria", "--email", MARIA, "--company", "N").returncode == 0
    assert run("settings", "set", "bcc-address", CAPTURE).returncode == 0
    stored = run("bcc-ingest", "--json", input=multipart(("a.txt", "text/plain", b"one")))
    assert stored.returncode == 0, stored.stderr
    email_id = json.loads(stored.stdout)[0]["id"]
    try:
        exported = run("export", "--output", str(ro / "x.jsonl"))
        assert exported.returncode == 2 and b"permission denied" in exported.stderr, exported.stderr
        saved = run("show", str(email_id), "--save-attachments", str(ro / "att"))
        assert saved.returncode == 2 and b"permission denied" in saved.stderr, saved.stderr
        assert os.listdir(ro) == []
    finally:
        ro.chmod(0o755)
