"""The database file in a hostile environment: another program's SQLite file, odd paths, files made
by someone else, read-only files and folders, and a file deleted or replaced while in use."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import factories
import pytest
from entrypoint import MARIA, company_db, mail, pdmail

from pdmail.store import open_db

# --- another program's database -------------------------------------------------------------------


@pytest.fixture
def foreign_db(tmp_path):
    """An address book some other program keeps in SQLite, with a table name pdmail also uses."""
    path = tmp_path / "theirs" / "addressbook.sqlite"
    path.parent.mkdir()
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, login TEXT)")
    conn.execute("INSERT INTO users (login) VALUES ('grace')")
    conn.commit()
    conn.close()
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["inbox"],
        ["init", "--name", "Maria", "--email", MARIA],
        ["user", "list", "--json"],
        ["bcc-ingest", "--quarantine"],
    ],
)
def test_another_programs_database_is_refused_untouched(cli, foreign_db, args):
    before = hashlib.sha256(foreign_db.read_bytes()).hexdigest()
    result = cli("--db", foreign_db, *args)
    assert result.exit_code == 2 and "another program" in result.stderr, result.stderr
    assert hashlib.sha256(foreign_db.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in foreign_db.parent.iterdir()) == ["addressbook.sqlite"]  # no -wal, no -shm
    conn = sqlite3.connect(foreign_db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()


def test_another_programs_database_is_refused_by_the_mail_servers_pipe_too(foreign_db):
    before = foreign_db.read_bytes()
    code, _, err = pdmail("--db", foreign_db, "bcc-ingest", stdin=mail())
    assert code == 2 and "another program" in err
    code, _, _ = pdmail("--db", foreign_db, "bcc-ingest", "--mta", stdin=mail())
    assert code == 75  # the mail server keeps the message
    assert foreign_db.read_bytes() == before


def test_a_database_numbered_by_another_program_is_refused(cli, tmp_path):
    path = tmp_path / "versioned.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.execute("PRAGMA user_version = 3")  # a schema number pdmail also knows
    conn.close()
    before = path.read_bytes()
    result = cli("--db", path, "inbox")
    assert result.exit_code == 2 and "another program" in result.stderr
    assert path.read_bytes() == before
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 4000")  # and one no pdmail has reached yet
    conn.close()
    result = cli("--db", path, "inbox")
    assert result.exit_code == 2 and "another program" in result.stderr and "newer pdmail" not in result.stderr


# --- paths that are not database files ------------------------------------------------------------


def test_a_folder_as_the_database_is_a_usage_error(cli, tmp_path):
    for args in (["inbox"], ["init", "--name", "M", "--email", MARIA]):
        result = cli("--db", tmp_path, *args)
        assert result.exit_code == 2 and "is a folder" in result.stderr, result.stderr


def test_a_dangling_symlink_as_the_database_is_a_usage_error(cli, tmp_path):
    link = tmp_path / "pdmail.db"
    link.symlink_to(tmp_path / "gone" / "real.db")
    for args in (["inbox"], ["init", "--name", "M", "--email", MARIA]):
        result = cli("--db", link, *args)
        assert result.exit_code == 2 and "does not exist" in result.stderr, result.stderr
    assert not (tmp_path / "gone").exists()


# --- whoever made the file, it becomes private ----------------------------------------------------


def test_a_pre_existing_empty_file_becomes_private(cli, tmp_path):
    path = tmp_path / "pdmail.db"
    path.touch(mode=0o644)
    wal = tmp_path / "pdmail.db-wal"
    wal.touch(mode=0o644)
    os.chmod(path, 0o644)
    os.chmod(wal, 0o644)
    cli.ok("--db", path, "init", "--name", "Maria", "--email", MARIA)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not wal.exists() or stat.S_IMODE(wal.stat().st_mode) == 0o600


def test_the_target_of_a_symlink_becomes_private(cli, tmp_path):
    target = tmp_path / "data" / "mail.db"
    target.parent.mkdir()
    target.touch()
    os.chmod(target, 0o664)
    link = tmp_path / "pdmail.db"
    link.symlink_to(target)
    cli.ok("--db", link, "init", "--name", "Maria", "--email", MARIA)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


# --- the database deleted or replaced while in use ------------------------------------------------


def test_a_database_deleted_mid_run_is_not_reported_as_success(db_path):
    from pdmail.capture import batch as ingest
    from pdmail.core.errors import TemporaryFailure

    company_db(db_path)
    db = open_db(db_path)
    try:
        os.unlink(db_path)
        with pytest.raises(TemporaryFailure, match="deleted or replaced"):
            ingest.ingest_stdin(db, io.BytesIO(mail()))
    finally:
        db.close()


def test_a_database_replaced_mid_run_is_not_written_through_the_old_file(db_path, tmp_path):
    from pdmail.capture import batch as ingest
    from pdmail.core.errors import TemporaryFailure

    company_db(db_path)
    company_db(tmp_path / "other.db")
    db = open_db(db_path)
    try:
        os.replace(tmp_path / "other.db", db_path)
        with pytest.raises(TemporaryFailure, match="deleted or replaced"):
            ingest.ingest_stdin(db, io.BytesIO(mail()))
    finally:
        db.close()


# --- read-only files and folders, for a user without root's powers --------------------------------


@pytest.fixture
def unprivileged(tmp_path):
    """(folder, run): a folder an unprivileged user owns, and a runner of pdmail as that user.

    root may write any file whatever its mode, so as root the commands run as `nobody` (setpriv).
    """
    setpriv = shutil.which("setpriv")
    root = os.geteuid() == 0
    if root and not setpriv:
        pytest.skip("needs setpriv to become an unprivileged user")
    folder = Path(tempfile.mkdtemp(prefix="pdmail-ro-"))
    folder.chmod(0o755)
    prefix = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"] if root else []
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(folder),
        "TZ": "UTC",
        "XDG_DATA_HOME": str(folder),
        **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"},
    }

    def run(*args: str, stdin: bytes = b""):
        done = subprocess.run(
            [*prefix, sys.executable, "-m", "pdmail", *map(str, args)],
            input=stdin,
            capture_output=True,
            env=env,
            cwd=str(folder),
            timeout=120,
        )
        return done.returncode, done.stdout.decode(), done.stderr.decode()

    def give(*paths: Path) -> None:
        if root:
            for path in paths:
                shutil.chown(path, "nobody", "nogroup")

    code, _, err = run("--help")
    if code != 0:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"pdmail cannot run as an unprivileged user here (its files are private?): {err[-300:]}")
    try:
        yield folder, run, give
    finally:
        for path in folder.rglob("*"):
            path.chmod(0o700 if path.is_dir() else 0o600)
        folder.chmod(0o700)
        shutil.rmtree(folder, ignore_errors=True)


def _made_in(folder: Path) -> Path:
    from pdmail.store import accounts, crm

    path = folder / "data" / "pdmail.db"
    path.parent.mkdir()
    db, maria = factories.company(path)
    crm.add_contact(db, "Ada Byron", ["ada@acme.example"])
    (folder / "Maildir").mkdir()
    accounts.add_account(db, maria, name="local", kind="maildir", address=MARIA, maildir_path=str(folder / "Maildir"))
    db.close()
    return path


def test_a_read_only_database_file_can_be_read_and_says_so_when_written(unprivileged):
    folder, run, give = unprivileged
    path = _made_in(folder)
    give(path.parent, path)
    path.chmod(0o400)
    before = path.read_bytes()

    code, out, err = run("--db", path, "contact", "list", "--json")
    assert code == 0, err
    assert json.loads(out)[0]["name"] == "Ada Byron"
    assert run("--db", path, "inbox", "--json")[:2] == (0, "[]\n")
    assert run("--db", path, "bcc-ingest", "--quarantine", "--json")[0] == 0

    code, _, err = run("--db", path, "contact", "add", "Bo", "--email", "bo@acme.example")
    assert code == 2 and "read-only" in err and "internal error" not in err, err
    code, _, err = run("--db", path, "bcc-ingest", stdin=mail())
    assert code == 2 and "read-only" in err, err
    assert run("--db", path, "bcc-ingest", "--mta", stdin=mail())[0] == 75
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["pdmail.db"]  # nothing left behind

    path.chmod(0o600)  # writable again: nothing from the read-only days stands in the way
    code, _, err = run("--db", path, "contact", "add", "Bo", "--email", "bo@acme.example")
    assert code == 0, err


def test_a_read_only_folder_can_be_read_and_says_so_when_written(unprivileged):
    folder, run, give = unprivileged
    path = _made_in(folder)
    give(path.parent, path)
    path.parent.chmod(0o500)
    code, out, err = run("--db", path, "contact", "list", "--json")
    assert code == 0 and json.loads(out)[0]["name"] == "Ada Byron", err
    code, _, err = run("--db", path, "contact", "add", "Bo", "--email", "bo@acme.example")
    assert code == 2 and "read-only" in err and "folder" in err, err
    code, _, err = run("--db", path, "sync")
    assert code == 2 and "read-only" in err, err


def test_a_database_this_user_cannot_read_is_a_usage_error(unprivileged):
    folder, run, give = unprivileged
    path = _made_in(folder)
    give(path.parent)
    path.chmod(0o600)
    if os.geteuid() != 0:
        path.chmod(0o000)
    code, _, err = run("--db", path, "inbox")
    assert code == 2 and "permission denied" in err and "not a pdmail database" not in err, err
