"""Installation and the state beside the database: the README's install and cron lines, a package
that builds without deprecation warnings, a demo that writes plain text into a pipe, lock files in
one folder that go with their account, and `pdmail db backup` (a consistent copy of the file and its
spool; a clear pointer to pg_dump on a team server).

Each test of a command runs the real `pdmail` in its own process with stdout a pipe.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from entrypoint import MARIA, company_db, mail
from syncworld import Maildir
from syncworld import mail as customer_mail

from pdmail.mime.limits import MAX_MESSAGE_SIZE

pytestmark = pytest.mark.both_engines

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, stdin: bytes = b"", env: dict | None = None):
    done = subprocess.run(
        [sys.executable, "-m", "pdmail", *map(str, args)],
        input=stdin,
        capture_output=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )
    return done.returncode, done.stdout.decode(), done.stderr.decode()


def ok(*args: str, stdin: bytes = b"") -> str:
    code, out, err = run(*args, stdin=stdin)
    assert code == 0, (args, code, out, err)
    return out


def oversized() -> bytes:
    line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghij\r\n"
    return mail(7, subject="Drawings") + line * (MAX_MESSAGE_SIZE // len(line) + 1000)


# --- installing ---------------------------------------------------------------------------------------


def readme_block(after: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(after)
    return text[text.index("```", start) : text.index("```", text.index("```", start) + 3)]


def test_the_readme_installs_with_pipx_or_a_venv_and_cron_runs_what_that_put_in_place():
    install = readme_block("## Install")
    commands = [line.split("#")[0].strip() for line in install.splitlines()[1:] if line.strip()]
    assert "pipx install ." in commands
    # A bare pip install into the system's Python fails on current Debian and Ubuntu.
    assert not [c for c in commands if re.match(r"(python3 -m )?pip3? install", c)]
    venv = readme_block("Without\npipx, a virtual environment does the same")
    assert "python3 -m venv" in venv and "/venv/bin/pip install ." in venv
    cron = readme_block("### From cron")
    (line,) = [row for row in cron.splitlines() if row.startswith("*/5")]
    assert "$HOME/.local/bin/pdmail sync" in line  # where pipx puts the command, and the venv's link


def test_the_package_builds_without_deprecation_warnings(tmp_path):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"  # an SPDX expression, not a table
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "deprecat" not in (done.stdout + done.stderr).lower()


@pytest.mark.sqlite_only  # the demo makes its own SQLite file
def test_the_demo_writes_plain_text_into_a_pipe(tmp_path):
    env = {**os.environ, "PDMAIL_DB": str(tmp_path / "demo.db")}
    done = subprocess.run([str(ROOT / "scripts/demo")], capture_output=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr.decode()
    assert b"\x1b" not in done.stdout + done.stderr
    assert b"\n$ pdmail sync\n" in done.stdout


# --- lock files ---------------------------------------------------------------------------------------


@pytest.mark.sqlite_only  # on a team server the lock is the sync's connection: no file
def test_lock_files_live_in_one_folder_and_go_with_their_account(db_path, tmp_path):
    company_db(db_path)
    box = Maildir(tmp_path / "Mail")
    box.put("INBOX", customer_mail(1))
    ok("account", "add", "home", "--address", MARIA, "--maildir", box.root, "--since", "all")
    ok("account", "add", "work", "--address", MARIA, "--maildir", box.root, "--since", "all")
    account_id = json.loads(ok("account", "list", "--json"))[0]["id"]
    former = db_path.with_name(f"{db_path.name}.sync-{account_id}.lock")
    former.write_text("")  # where an earlier version kept it
    ok("sync")
    locks = db_path.with_name(f"{db_path.name}.locks")
    assert sorted(p.name for p in locks.iterdir()) == ["sync-1.lock", "sync-2.lock"]
    assert not former.exists()
    assert sorted(p.name for p in db_path.parent.iterdir() if p.name.startswith(db_path.name)) == [
        "pdmail.db",
        "pdmail.db.locks",
    ]  # nothing else beside the file
    ok("account", "remove", "home", "--yes")
    assert sorted(p.name for p in locks.iterdir()) == ["sync-2.lock"]
    ok("account", "remove", "work", "--yes")
    assert not locks.exists()


# --- db backup ----------------------------------------------------------------------------------------


@pytest.mark.sqlite_only
def test_db_backup_copies_the_file_at_one_moment_and_its_spool(db_path, tmp_path):
    company_db(db_path)
    ok("bcc-ingest", stdin=mail(1))
    assert run("bcc-ingest", stdin=oversized())[0] == 3  # quarantined whole, in the spool
    # Another process holds a write transaction open: what it has not committed is not in the backup.
    writer = sqlite3.connect(db_path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO app_state (key, value) VALUES ('uncommitted', 'yes')")
    target = tmp_path / "backups" / "monday.db"
    target.parent.mkdir()
    code, out, err = run("db", "backup", target, "--json")
    writer.execute("ROLLBACK")
    writer.close()
    assert (code, err) == (0, ""), err
    report = json.loads(out)
    assert (report["backup"], report["spool"], report["spool_files"]) == (str(target), f"{target}.spool", 1)
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    copy = sqlite3.connect(target)
    assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert copy.execute("SELECT count(*) FROM app_state WHERE key = 'uncommitted'").fetchone() == (0,)
    copy.close()
    # The backup is a database of its own, with the quarantined message's bytes, even once the
    # original spool is gone.
    for spooled in db_path.with_name(f"{db_path.name}.spool").iterdir():
        spooled.unlink()
    assert len(json.loads(ok("--db", target, "inbox", "--folder", "all", "--json"))) == 1
    (held,) = json.loads(ok("--db", target, "bcc-ingest", "--quarantine", "--json"))
    code, _, err = run("--db", target, "bcc-ingest", "--release", str(held["id"]))
    assert code == 3 and "over the 25 MB limit" in err  # its bytes were read from the backup's spool


@pytest.mark.sqlite_only
def test_db_backup_never_replaces_a_file_unless_forced_nor_the_database_itself(db_path, tmp_path):
    company_db(db_path)
    target = tmp_path / "backup.db"
    target.write_text("an older backup")
    code, out, err = run("db", "backup", target)
    assert (code, out) == (2, "") and "already exists: add --force" in err
    assert target.read_text() == "an older backup"
    code, out, err = run("db", "backup", target, "--force")
    assert code == 0 and out == f"Backed up {db_path} ({target.stat().st_size:,} bytes) to {target}.\n"
    assert run("db", "backup", db_path, "--force")[0] == 2
    (tmp_path / "link.db").symlink_to(target)
    assert run("db", "backup", tmp_path / "link.db", "--force")[0] == 2
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no partial copy left


def test_db_backup_of_a_team_server_points_to_pg_dump(db_path, engine, tmp_path):
    company_db(db_path)
    code, out, err = run("db", "backup", tmp_path / "server.db")
    if engine == "sqlite":
        assert code == 0
        return
    assert (code, out) == (2, "")
    assert err.startswith("Error: a team server's PostgreSQL database is backed up with PostgreSQL's own tool: ")
    assert "`pg_dump --format=custom DBNAME > pdmail.dump`" in err and len(err.splitlines()) <= 2
    assert not (tmp_path / "server.db").exists()
