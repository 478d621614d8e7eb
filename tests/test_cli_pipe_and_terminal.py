"""At the terminal and in the pipe: what the real `pdmail` prints to a pipe, a file and a terminal.

Nothing is cut off a terminal (tab-separated rows with a header), nothing but free text is shortened
on one, every listing takes --format, JSON has one shape per command, notes and errors are lines a
log keeps whole, and help reads like other command-line tools'. Each test runs the installed entry
point in its own process: stdout a pipe, or a pseudo-terminal of a given width.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys

import pytest
from entrypoint import MARIA, company_db, mail
from onterminal import on_terminal

LONG_ADDRESS = "grace.hopper-the-admiral@acme-industrial-holdings.example"
CAPTURE = "capture@bcc.northwind-robotics-international.example"
SAM = "sam@northwind.example"


def run(*args: str, stdin: bytes = b"", drop_columns: bool = True):
    """`pdmail ARGS` with stdout and stderr pipes, as cron or a script runs it: no COLUMNS either."""
    env = {k: v for k, v in os.environ.items() if not (drop_columns and k == "COLUMNS")}
    done = subprocess.run(
        [sys.executable, "-m", "pdmail", *map(str, args)], input=stdin, capture_output=True, env=env, timeout=120
    )
    return done.returncode, done.stdout.decode(), done.stderr.decode()


def ok(*args: str, stdin: bytes = b"") -> str:
    code, out, err = run(*args, stdin=stdin)
    assert code == 0, (args, code, err)
    return out


@pytest.fixture
def world(db_path, tmp_path):
    """A company with a contact whose address is long, a long capture address, a synced Maildir
    account, a quarantined message and a scheduled one in the outbox."""
    company_db(db_path)
    ok("user", "add", SAM, "--name", "Sam Lee")
    ok("settings", "set", "bcc-address", CAPTURE)
    ok("org", "add", "Acme Industrial Holdings")
    ok("contact", "add", "Grace Hopper", "--email", LONG_ADDRESS, "--email", "g.hopper@acme.example", "--org", "1")
    ok("contact", "add", "Ada Byron", "--email", "ada@acme.example", "--org", "1")
    ok("deal", "add", "Forty welding arms for the new plant in Zaragoza", "--contact", "2", "--value", "480000.10")
    maildir = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (maildir / "new" / "1.eml").write_bytes(mail(1, frm="Ada <ada@acme.example>", subject="Arms"))
    ok("account", "add", "maildir-of-maria-at-northwind", "--address", MARIA, "--maildir", maildir, "--since", "all")
    ok("sync")
    ok("bcc-ingest", stdin=mail(2, subject="Arms again"))
    assert run("bcc-ingest", stdin=mail(3, frm="Eve <eve@elsewhere.example>"))[0] == 3  # quarantined
    ok(
        "account", "add", "smtp", "--address", MARIA, "--imap-host", "127.0.0.1", "--smtp-host", "127.0.0.1",
        "--password-env", "NOT_SET_ANYWHERE",
    )  # fmt: skip
    subject = "The contract for the first batch of forty welding arms, with the delivery schedule"
    ok(
        "send",
        "--account",
        "smtp",
        "--to",
        LONG_ADDRESS,
        "--subject",
        subject,
        "--body",
        "Hi",
        "--at",
        "2030-01-02T09:00",
    )
    return maildir


def tsv(out: str) -> list[dict]:
    header, *lines = out.splitlines()
    names = header.split("\t")
    rows = [dict(zip(names, line.split("\t"), strict=True)) for line in lines]
    return rows


# --- nothing is cut -----------------------------------------------------------------------------------


def test_outbox_in_a_pipe_keeps_the_id_and_status_that_outbox_cancel_needs(world):
    (row,) = tsv(ok("outbox"))
    assert row["status"] == "queued" and row["to"] == LONG_ADDRESS and row["due_utc"] == "2030-01-02T09:00:00Z"
    assert row["subject"].endswith("with the delivery schedule")
    ok("outbox", "cancel", row["id"])
    assert tsv(ok("outbox", "list", "--all"))[0]["status"] == "cancelled"


def test_contact_list_saved_to_a_file_keeps_every_address(world, tmp_path):
    saved = tmp_path / "contacts.tsv"
    with saved.open("w") as out:
        done = subprocess.run([sys.executable, "-m", "pdmail", "contact", "list"], stdout=out, timeout=120)
    assert done.returncode == 0
    rows = tsv(saved.read_text())
    assert [r["id"] for r in rows] == ["1", "2"]
    assert rows[0]["emails"] == f"{LONG_ADDRESS}, g.hopper@acme.example" and "…" not in saved.read_text()


def test_settings_show_and_account_list_in_a_pipe_are_one_line_per_row(world):
    settings = {r["setting"]: r for r in tsv(ok("settings", "show"))}
    assert settings["bcc-address"]["value"] == CAPTURE and settings["bcc-address"]["scope"] == "company"
    lines = ok("account", "list").splitlines()
    assert len(lines) == 3  # a header and one line per account
    accounts = {r["name"]: r for r in tsv("\n".join(lines))}
    synced = accounts["maildir-of-maria-at-northwind"]
    assert synced["address"] == MARIA and synced["default"] == "default"
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ok: 1 new, 0 updated, 0 deleted, 0 skipped, 0 errors", synced["last_sync"]
    )


def test_every_listing_in_a_pipe_is_a_header_and_whole_rows(world):
    for args in (
        ["org", "list"],
        ["deal", "list"],
        ["user", "list"],
        ["settings", "block", "list"],
        ["template", "list"],
        ["inbox"],
        ["search", "Arms"],
        ["bcc-ingest", "--quarantine"],
        ["link", "--review"],
    ):
        out = ok(*args)
        header, *rows = out.splitlines()
        assert header and " " not in header.replace("\t", ""), (args, header)  # names, not a drawn table
        assert all(line.count("\t") == header.count("\t") for line in rows), (args, out)
        assert "…" not in out and "┃" not in out and "│" not in out, (args, out)
    (deal,) = tsv(ok("deal", "list"))
    assert deal["title"] == "Forty welding arms for the new plant in Zaragoza" and deal["value"] == "480000.10"
    (held,) = tsv(ok("bcc-ingest", "--quarantine"))
    assert held["from"] == "eve@elsewhere.example" and held["reason"].endswith("not allowed to use the capture address")


def column_text(out: str, title: str, next_title: str | None) -> str:
    """What one column of a drawn table holds, its wrapped pieces joined."""
    lines = out.splitlines()
    header = next(line for line in lines if title in line and (next_title is None or next_title in line))
    start = header.index(title)
    end = header.index(next_title) if next_title else None
    return "".join(line[start:end].strip() for line in lines[lines.index(header) + 1 :])


def test_on_a_narrow_terminal_addresses_and_values_wrap_and_are_never_shortened(world):
    code, out = on_terminal("contact", "list", columns=44)
    assert code == 0 and "…" not in out
    assert all(len(line) <= 44 for line in out.splitlines()), out
    assert LONG_ADDRESS in column_text(out, "emails", "organization")
    code, out = on_terminal("settings", "show", columns=60)
    assert code == 0 and all(len(line) <= 60 for line in out.splitlines()), out
    assert CAPTURE in column_text(out, "value", "scope")


def test_on_a_wide_terminal_a_listing_is_a_table_on_one_line_per_row(world):
    code, out = on_terminal("deal", "list", columns=160)
    assert code == 0 and "\t" not in out
    (row,) = [line for line in out.splitlines() if "Zaragoza" in line]
    assert re.search(r"^\s*1\s+Forty welding arms for the new plant in Zaragoza\s+open\s+480,000\.10\s+Ada Byron$", row)


# --- --format ------------------------------------------------------------------------------------------


def test_every_format_of_one_listing_holds_the_same_rows(world):
    as_json = json.loads(ok("contact", "list", "--json"))
    assert json.loads(ok("contact", "list", "--format", "json")) == as_json
    assert [json.loads(line) for line in ok("contact", "list", "--nl").splitlines()] == as_json
    assert [json.loads(line) for line in ok("contact", "list", "--format", "nl").splitlines()] == as_json
    rows = list(csv.DictReader(io.StringIO(ok("contact", "list", "--format", "csv"))))
    assert [(int(r["id"]), r["name"], r["emails"].split(", ")) for r in rows] == [
        (c["id"], c["name"], c["emails"]) for c in as_json
    ]
    assert tsv(ok("contact", "list", "--format", "tsv")) == tsv(ok("contact", "list"))
    drawn = ok("contact", "list", "--format", "table")  # asked for in a pipe: as wide as its rows
    assert LONG_ADDRESS in drawn and "\t" not in drawn and "…" not in drawn


def test_two_formats_or_an_unknown_one_are_a_usage_error(world):
    code, out, err = run("contact", "list", "--json", "--format", "csv")
    assert (code, out) == (2, "") and err.startswith("Error: give one output format")
    code, out, err = run("contact", "list", "--format", "yaml")
    assert code == 2 and "unknown format 'yaml'" in err


# --- one JSON shape per command ------------------------------------------------------------------------

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?Z$")
LISTINGS = [
    ["contact", "list"],
    ["org", "list"],
    ["deal", "list"],
    ["user", "list"],
    ["settings", "alt-address", "list"],
    ["settings", "block", "list"],
    ["account", "list"],
    ["inbox", "--folder", "all"],
    ["search", "Arms"],
    ["link", "--review"],
    ["link"],
    ["outbox"],
    ["outbox", "list", "--all"],
    ["template", "list"],
    ["bcc-ingest", "--quarantine"],
]


def walk(value, path=""):
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from walk(inner, f"{path}.{key}")
            yield f"{path}.{key}", key, inner
    elif isinstance(value, list):
        for inner in value:
            yield from walk(inner, f"{path}[]")


def test_every_listing_is_an_array_and_field_names_agree(world):
    documents = {" ".join(args): json.loads(ok(*args, "--json")) for args in LISTINGS}
    assert {name: type(doc).__name__ for name, doc in documents.items()} == {name: "list" for name in documents}
    assert isinstance(json.loads(ok("settings", "show", "--json")), dict)
    documents["explain"] = json.loads(ok("explain", "1", "--json"))
    documents["show"] = json.loads(ok("show", "1", "--json"))
    for name, doc in documents.items():
        for where, key, value in walk(doc):
            if isinstance(value, str) and ISO_UTC.match(value):
                assert key.endswith("_utc") or key == "date", f"{name}: {where} is a time; its name ends in _utc"
            if key == "errors":
                assert isinstance(value, list), f"{name}: {where} is a count, not a list of errors"


def test_bcc_ingest_json_is_an_array_for_one_message_and_for_many(db_path, tmp_path):
    company_db(db_path)
    (stored,) = json.loads(ok("bcc-ingest", "--json", stdin=mail(1)))
    assert stored["status"] == "stored" and stored["source"] == "-"
    assert json.loads(ok("bcc-ingest", "--mta", "--json", stdin=mail(1)))[0]["status"] == "duplicate"
    folder = tmp_path / "in"
    folder.mkdir()
    for n in (2, 3):
        (folder / f"{n}.eml").write_bytes(mail(n))
    assert [o["status"] for o in json.loads(ok("bcc-ingest", "--json", folder))] == ["duplicate", "duplicate"]
    lines = ok("bcc-ingest", "--nl", stdin=mail(4, subject="Another")).splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["status"] == "stored"
    assert [json.loads(line)["status"] for line in ok("bcc-ingest", folder, "--nl").splitlines()] == ["duplicate"] * 2


def test_sync_json_is_an_array_for_one_account_and_for_many(world, tmp_path):
    (one,) = json.loads(ok("sync", "--account", "maildir-of-maria-at-northwind", "--json"))
    assert one == {
        "account": "maildir-of-maria-at-northwind",
        "new": 0,
        "updated": 0,
        "deleted": 0,
        "skipped": 0,
        "left_out": {"older": 0, "not_from_contacts": 0, "since": None},
        "pushed": {"read": 0, "unread": 0, "archived": 0, "deleted": 0, "restored": 0},
        "errors": [],
    }
    other = tmp_path / "Other"
    for sub in ("cur", "new", "tmp"):
        (other / sub).mkdir(parents=True)
    ok("account", "add", "other", "--address", MARIA, "--maildir", other)
    ok("account", "remove", "smtp", "--yes")
    both = json.loads(ok("sync", "--json"))
    assert sorted(r["account"] for r in both) == ["maildir-of-maria-at-northwind", "other"]
    lines = ok("sync", "--nl").splitlines()
    assert sorted(json.loads(line)["account"] for line in lines) == ["maildir-of-maria-at-northwind", "other"]


def test_sync_watch_json_prints_one_line_per_pass(world):
    process = subprocess.Popen(
        [sys.executable, "-m", "pdmail", "sync", "--watch", "--json", "--account", "maildir-of-maria-at-northwind"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        line = process.stdout.readline()  # the first pass, as soon as it ends: nobody waits for the watch to stop
        assert json.loads(line)["account"] == "maildir-of-maria-at-northwind" and line.endswith(b"}\n")
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)


# --- messages: one line, unwrapped ---------------------------------------------------------------------


def test_notes_are_one_line_in_a_log_and_keep_commands_whole_on_a_terminal(db_path, tmp_path):
    company_db(db_path)
    maildir = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    name = "maria.lopez@northwind-robotics-international.example"
    code, _, err = run("account", "add", name, "--maildir", maildir)
    assert code == 0 and err == f"Added account {name}; check it with `pdmail account test {name}`.\n"
    code, out = on_terminal("account", "add", "second", "--address", name, "--maildir", maildir, columns=50)
    assert code == 0
    assert "`pdmail account test second`." in out
    code, out = on_terminal("account", "add", name + ".x", "--maildir", maildir, columns=50)
    assert code == 0 and f"`pdmail account test {name}.x`." in out.splitlines()  # whole, on a line of its own


def test_explain_in_a_pipe_is_not_wrapped(world):
    out = ok("explain", "2")
    assert any(len(line) > 80 for line in out.splitlines())
    assert (
        "belongs to contact 2 (Ada Byron)." in out and "\n  " not in out.split("Rules, in order:")[1].split("\n", 2)[1]
    )


def test_a_usage_error_is_one_error_line_and_a_hint(world):
    for args, words in (
        (["inbox", "--limt", "3"], "no such option: --limt"),
        (["contact", "show"], "missing argument 'contact'"),
        (["inbox", "--limit", "ten"], "'ten' is not an integer"),
        (["nosuchcommand"], "no such command 'nosuchcommand'"),
    ):
        code, out, err = run(*args)
        lines = err.splitlines()
        assert code == 2 and out == "" and len(lines) == 2, (args, err)
        assert lines[0].startswith("Error: ") and words in lines[0].lower(), (args, err)
        assert "--help`" in lines[1] and "╭" not in err and "Usage:" not in err


def test_quiet_and_debug_after_the_command(world, tmp_path):
    other = tmp_path / "Quiet"
    for sub in ("cur", "new", "tmp"):
        (other / sub).mkdir(parents=True)
    code, out, err = run("account", "add", "quiet", "--address", MARIA, "--maildir", other, "-q")
    assert (code, err) == (0, "") and out.strip().isdigit()
    code, _, err = run("user", "list", "--debug", "--quiet")
    assert (code, err) == (0, "")


def test_a_permission_refusal_exits_5_not_2(world):
    code, out, err = run("--user", SAM, "settings", "set", "bcc-address", "x@bcc.example")
    assert (code, out) == (5, "") and err == "Error: bcc-address is a company setting; only an admin can change it\n"
    assert run("--user", SAM, "settings", "sett", "bcc-address", "x")[0] == 2  # a typo is still 2


# --- help ----------------------------------------------------------------------------------------------


def test_pdmail_alone_prints_help_and_exits_0(tmp_path):
    code, out, err = run()
    assert code == 0 and err == "" and out.startswith("Usage: pdmail [OPTIONS] COMMAND [ARGS]...")
    assert "Commands:" in out and "inbox" in out
    code, out, _ = run("contact")
    assert code == 0 and out.startswith("Usage: pdmail contact [OPTIONS] COMMAND [ARGS]...")


def test_pdmail_help_command_is_the_commands_help(tmp_path):
    assert ok("help", "contact", "list") == ok("contact", "list", "--help")
    assert ok("help", "inbox") == ok("inbox", "--help")
    assert ok("help") == ok("--help")
    code, _, err = run("help", "nosuch")
    assert code == 2 and err.startswith("Error: no command 'nosuch'")


def test_help_on_a_narrow_terminal_names_kinds_and_cuts_no_option(tmp_path):
    code, out = on_terminal("inbox", "--help", columns=60)
    assert code == 0 and all(len(line) <= 60 for line in out.split("Examples:")[0].splitlines()), out
    assert re.search(r"^  --limit INTEGER\s", out, re.M) and re.search(r"^  --folder TEXT\s", out, re.M)
    assert re.search(r"^  --format table\|tsv\|csv\|json\|nl$", out, re.M)  # too long for the column: help below
    assert "<bool>" not in out and "<int>" not in out and "…" not in out
    examples = out.split("Examples:\n", 1)[1].splitlines()
    assert examples[:2] == ["  $ pdmail inbox --unread", "  $ pdmail inbox --team --deal 7 --json"]
