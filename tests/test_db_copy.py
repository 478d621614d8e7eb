"""`pdmail db copy`: a company's database, copied from SQLite to PostgreSQL and back, reads the same.

The source is built with the command line as a team would build it (the demo's examples: contacts
and deals, mail through the Smart BCC address, a synced Maildir, quarantined mail, a message too
large for the database waiting in the spool folder, a deal chosen by hand, private mail, settings,
a template, a scheduled send) and copied SQLite → PostgreSQL → a new SQLite file. Every view each
user has (inbox, each email, why it is linked) must be the same in all three.
"""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import rawdb
from entrypoint import pdmail
from typer.testing import CliRunner

from pdmail.cli.app import app

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
MARIA = "maria@northwind.example"
SAM = "sam@northwind.example"
CAPTURE = "capture@bcc.northwind.example"
USERS = (MARIA, SAM)
LIMIT = 25 * 1024 * 1024
ZEROS = {"account": MARIA, "new": 0, "updated": 0, "deleted": 0, "skipped": 0, "errors": []}


# --- the source: a company's database, built with the command line ---------------------------------


class Builder:
    def __init__(self, path: Path, home: Path) -> None:
        self.path = path
        self.env = {
            "PDMAIL_DB": str(path),
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / "data"),
            "PDMAIL_USER": None,
            "COLUMNS": "200",
        }
        self.runner = CliRunner()

    def run(self, *args, input: bytes | None = None, codes=(0,)):
        result = self.runner.invoke(app, [str(a) for a in args], input=input, env=self.env, catch_exceptions=False)
        assert result.exit_code in codes, (args, result.exit_code, result.stdout, result.stderr)
        return result

    def build(self) -> None:
        self.run("init", "--name", "Maria Lopez", "--email", MARIA, "--company", "Northwind Robotics")
        self.run("user", "add", SAM, "--name", "Sam Lee")
        self.run("settings", "set", "bcc-address", CAPTURE)
        self.run("contact", "import", EXAMPLES / "contacts.csv")
        self.run("deal", "import", EXAMPLES / "deals.csv")
        for message in sorted((EXAMPLES / "mail").glob("*.eml")):
            raw = message.read_bytes()
            recipient = raw.split(b"Delivered-To: ", 1)[1].split(b"\r\n", 1)[0].split(b"\n", 1)[0].decode()
            self.run("bcc-ingest", "--recipient", recipient, input=raw, codes=(0, 3))  # 07 is quarantined (1)
        maildir = self.path.parent / "maildir"
        shutil.copytree(EXAMPLES / "maildir", maildir)
        self.run("account", "add", MARIA, "--maildir", maildir)
        self.run("sync")
        self.run("link", "7", "--deal", "6")  # a deal chosen by hand for the Zaragoza thread
        self.run("share", "5", "--private")  # Maria's private mail
        self.run("share", "3", "--private", "--user", SAM)  # Sam's, hidden from Maria, an admin, too
        self.run("read", "8")  # a synced email: a change waiting to go to the Maildir
        self.run("settings", "set", "default-visibility", "private", "--user", SAM)
        self.run("settings", "alt-address", "add", "maria.l@northwind.example")
        self.run("settings", "block", "add", "@newsletters.example")
        self.run("template", "add", "follow-up", "--subject", "{deal.title}: next steps", "--body", "Hi!")
        self.run(
            "account", "add", SAM, "--imap-host", "imap.invalid", "--smtp-host", "smtp.invalid",
            "--password-env", "SAM_PASSWORD", "--user", SAM,
        )  # fmt: skip
        self.run(
            "send", "--to", "ada@acme-industrial.example", "--subject", "Next year", "--body", "Hello Ada",
            "--at", "2030-01-07 09:00", "--user", SAM,
        )  # fmt: skip
        contact = json.loads(self.run("contact", "add", "Temp Person", "--email", "t@else.example", "--json").stdout)
        self.run("contact", "remove", contact["id"])  # the highest contact id is gone, and never given again
        big = self.path.parent / "big.eml"
        big.write_bytes(b"From: Big <big@else.example>\r\nSubject: big\r\n\r\n" + b"x" * LIMIT + b"\r\n")
        self.run("bcc-ingest", big, codes=(3,))  # quarantined (2), waiting in the spool folder
        spam = b"From: Spam <spam@else.example>\r\nTo: x@else.example\r\nSubject: spam\r\n\r\nbuy\r\n"
        self.run("bcc-ingest", input=spam, codes=(3,))  # quarantined (3) ...
        self.run("bcc-ingest", "--quarantine", "--discard", "3")  # ... and discarded: id 3 never comes again
        conn = sqlite3.connect(self.path)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("copy-source")
    builder = Builder(folder / "source.db", folder)
    builder.build()
    return builder.path


@pytest.fixture
def source(built, tmp_path) -> Path:
    """A test's own copy of the source file (SQLite's backup), so that a test may change it."""
    path = tmp_path / "source.db"
    with sqlite3.connect(built) as original, sqlite3.connect(path) as copy:
        original.backup(copy)
    return path


# --- what each user sees ----------------------------------------------------------------------------


def run(cli, *args):
    result = cli(*args)
    return result.exit_code, result.stdout


def views(cli, db) -> dict:
    """Everything each user is shown, as JSON: inbox, each email, why it is linked, and the records."""
    ids = [r["id"] for r in rawdb.rows(db, "SELECT id FROM emails ORDER BY id")]
    assert ids
    seen = {}
    for user in USERS:
        base = ("--db", db, "--user", user)
        seen[user, "inbox"] = run(cli, *base, "inbox", "--team", "--folder", "all", "--json")
        seen[user, "own inbox"] = run(cli, *base, "inbox", "--folder", "all", "--json")
        for n in ids:
            seen[user, "show", n] = run(cli, *base, "show", "--json", n)
            seen[user, "explain", n] = run(cli, *base, "explain", "--json", n)
        for word in ("welding", "Zaragoza", "Bestückung"):
            seen[user, "search", word] = run(cli, *base, "search", word, "--json")
        for listing in (
            ("bcc-ingest", "--quarantine"),
            ("contact", "list"),
            ("deal", "list"),
            ("user", "list"),
            ("settings", "show"),
            ("settings", "alt-address", "list"),
            ("settings", "block", "list"),
            ("template", "list"),
            ("account", "list"),
            ("outbox", "list"),
        ):
            seen[user, *listing] = run(cli, *base, *listing, "--json")
        # Each database gives its users their own login (none on a file): the rest of the list is the same.
        code, text = seen[user, "user", "list"]
        seen[user, "user", "list"] = code, [{k: v for k, v in u.items() if k != "login"} for u in json.loads(text)]
    return seen


def copy(cli, source, target, *extra):
    result = cli("db", "copy", source, target, "--json", *extra)
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else None, result.stderr


def copied(cli, source, target) -> dict:
    code, figures, stderr = copy(cli, source, target)
    assert code == 0, stderr
    return figures


def rows_of(db) -> dict:
    """Every row of every copied table; a spool file by its name (each database has its own folder), and
    a user without their login role (each team server gives its own, a file none)."""
    from pdmail.store.copy import TABLES

    out = {}
    for table in TABLES:
        found = [dict(r) for r in rawdb.rows(db, f"SELECT * FROM {table.name}")]
        if table.name == "quarantine":
            for r in found:
                r["spool_path"] = r["spool_path"] and Path(r["spool_path"]).name
        if table.name == "users":
            for r in found:
                r.pop("db_role")
        out[table.name] = sorted(found, key=repr)
    return out


def sqlite_counters(path) -> dict:
    return {r["name"]: r["seq"] for r in rawdb.rows(path, "SELECT name, seq FROM sqlite_sequence")}


# --- the copy ---------------------------------------------------------------------------------------


def test_copy_to_postgresql_and_back_shows_everyone_the_same(cli, source, pg_url, tmp_path):
    back = tmp_path / "back.db"
    there = copied(cli, source, pg_url)
    back_again = copied(cli, pg_url, back)
    for figures in (there, back_again):
        assert figures["verified"] and figures["copied"] > 100
        tables = {t["table"]: t for t in figures["tables"]}
        assert tables["emails"]["copied"] == tables["emails"]["total"] == 8
        assert tables["raw_messages"]["copied"] >= 8
        assert all(t["copied"] == t["total"] and t["already_there"] == 0 for t in figures["tables"])
    before = views(cli, source)
    assert before[SAM, "show", 5][0] == 4 and before[MARIA, "show", 3][0] == 4  # the private mail stays so
    assert before[MARIA, "explain", 7][0] == 0 and '"deal": 6' in before[MARIA, "show", 7][1]
    assert views(cli, pg_url) == before
    assert views(cli, back) == before
    assert rows_of(back) == rows_of(source)
    assert sqlite_counters(back) == sqlite_counters(source)


def test_a_second_copy_adds_nothing_and_checks_again(cli, source, pg_url):
    first = copied(cli, source, pg_url)
    second = copied(cli, source, pg_url)
    assert second["earlier_copy"] and not first["earlier_copy"] and second["verified"] and second["copied"] == 0
    assert [(t["table"], t["copied"], t["already_there"]) for t in second["tables"]] == [
        (t["table"], 0, t["total"]) for t in first["tables"]
    ]
    assert rows_of(pg_url) == rows_of(source)


def test_a_target_holding_other_data_is_refused_untouched(cli, source, pg_url, tmp_path):
    other = tmp_path / "other.db"
    for target in (pg_url, other):
        cli.ok("init", "--name", "Olga", "--email", "olga@other.example", "--company", "Other", "--db", target)
        cli.ok("org", "add", "Olga's customer", "--db", target)
        before = rawdb.dump(target)
        code, _, stderr = copy(cli, source, target)
        assert code == 2
        assert "already holds pdmail data (the company 'Other', 0 emails)" in stderr
        assert "Nothing was changed" in stderr
        assert rawdb.dump(target) == before


def test_a_copy_over_an_earlier_copy_of_a_changed_source_keeps_nothing(cli, source, pg_url):
    """The earlier copy differs from the source now: the check finds it, and the new rows are not kept."""
    copied(cli, source, pg_url)
    cli.ok("--db", source, "unread", "7")  # changes email 7 and adds a change waiting for the Maildir
    before = rawdb.dump(pg_url)
    code, figures, stderr = copy(cli, source, pg_url)
    assert code == 7
    assert "does not match the source in table(s) emails; nothing was kept" in stderr
    assert [t["table"] for t in figures["tables"] if not t["verified"]] == ["emails"]
    assert {t["table"]: t["copied"] for t in figures["tables"]}["pending_ops"] == 1  # added, then rolled back
    assert rawdb.dump(pg_url) == before


def test_sync_on_the_copy_downloads_nothing(cli, source, pg_url, tmp_path):
    back = tmp_path / "back.db"
    copied(cli, source, pg_url)
    copied(cli, pg_url, back)
    for target in (pg_url, back):
        (report,) = cli.json("--db", target, "sync", "--account", MARIA)  # one report per account
        assert {key: report[key] for key in ZEROS} == ZEROS
        assert rawdb.scalar(target, "SELECT count(*) FROM emails") == 8
        assert rawdb.scalar(target, "SELECT status FROM pending_ops") == "done"  # the change waiting went out


def test_ids_go_on_past_every_id_the_source_gave(cli, source, pg_url, tmp_path):
    """The removed contact (7) and the discarded quarantine entry (3) keep their ids to themselves."""
    back = tmp_path / "back.db"
    copied(cli, source, pg_url)
    copied(cli, pg_url, back)
    spam = b"From: Spam <spam@else.example>\r\nTo: x@else.example\r\nSubject: spam\r\n\r\nbuy now\r\n"
    for target in (source, pg_url, back):
        assert cli.json("--db", target, "contact", "add", "New Person", "--email", "new@else.example")["id"] == 8
        assert cli.json("--db", target, "org", "add", "New Org")["id"] == 6
        result = cli("--db", target, "bcc-ingest", "--json", input=spam)
        assert result.exit_code == 3 and "quarantined as 4" in result.stderr


def test_spool_files_are_copied_into_the_targets_spool_folder(cli, source, pg_url, tmp_path, built):
    back = tmp_path / "back.db"
    assert copied(cli, source, pg_url)["spool_files"] == 1
    assert copied(cli, pg_url, back)["spool_files"] == 1
    original = Path(rawdb.scalar(source, "SELECT spool_path FROM quarantine WHERE id = 2"))
    assert original.parent == built.with_name("source.db.spool")
    for target, folder in ((pg_url, tmp_path / "home/.local/share/pdmail/spool"), (back, Path(f"{back}.spool"))):
        held = Path(rawdb.scalar(target, "SELECT spool_path FROM quarantine WHERE id = 2"))
        assert held.is_relative_to(folder) and held.name == original.name
        assert held.read_bytes() == original.read_bytes()
        assert held.stat().st_mode & 0o777 == 0o600
    cli.ok("--db", back, "bcc-ingest", "--quarantine", "--discard", "2")
    assert not Path(f"{back}.spool", original.name).exists() and original.exists()


# --- what the copy refuses, and what it knows ------------------------------------------------------


def test_every_table_is_copied_parents_first_or_is_the_engines_own(cli, pg_url, tmp_path):
    from pdmail.store import open_db
    from pdmail.store.copy import TABLES, uncopied_tables

    names = [t.name for t in TABLES]
    for target in (tmp_path / "fresh.db", pg_url):
        db = open_db(target, create=True)
        try:
            assert uncopied_tables(db) == []
            assert set(names) <= set(db.table_names())
        finally:
            db.close()
    conn = sqlite3.connect(tmp_path / "fresh.db")
    for position, name in enumerate(names):
        parents = {row[2] for row in conn.execute(f"PRAGMA foreign_key_list({name})")} - {name}
        assert parents <= set(names[:position]), f"{name} comes before {parents - set(names[:position])}"
    conn.close()


def test_a_table_the_copy_does_not_know_stops_it(cli, source, pg_url):
    rawdb.execute(source, "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    code, _, stderr = copy(cli, source, pg_url)
    assert code == 2 and "tables this pdmail does not copy (notes)" in stderr
    assert rawdb.tables(pg_url) == []  # not even migrated: the source was refused first


def test_the_same_database_is_not_copied_onto_itself(cli, source):
    code, _, stderr = copy(cli, source, source)
    assert code == 2 and "SOURCE and TARGET are the same database" in stderr


def test_the_real_command_on_a_pipe_prints_the_figures_and_no_progress_bar(source, pg_url):
    code, out, err = pdmail("db", "copy", source, pg_url)
    assert code == 0, err
    assert "emails" in out and "raw_messages" in out and "same" in out
    assert err.startswith("Copied ") and "checked: every table holds the same rows in both" in err
    assert "\x1b" not in err and "━" not in err and len(err.strip().splitlines()) <= 3


def test_on_a_terminal_a_progress_bar_shows_each_table(source, pg_url):
    leader, follower = pty.openpty()
    env = dict(os.environ, COLUMNS="120", TERM="xterm")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pdmail", "db", "copy", str(source), pg_url],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    seen = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        try:
            chunk = os.read(leader, 65536) if ready else b""
        except OSError:  # the command ended and closed its terminal
            chunk = b""
        if not chunk:
            break
        seen += chunk
    out, _ = proc.communicate(timeout=60)
    os.close(leader)
    assert proc.returncode == 0, seen.decode(errors="replace")
    assert b"emails" in seen and b"checking raw_messages" in seen and "━".encode() in seen
    assert b"emails" in out and b"checking" not in out  # the figures on stdout, the bar on the terminal only


def test_help_teaches_both_directions(cli):
    result = cli.ok("db", "copy", "--help")
    assert "Examples" in result.stdout
    assert "pdmail db copy pdmail.db postgresql://" in result.stdout
    assert "backup.db" in result.stdout
