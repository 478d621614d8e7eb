"""`pdmail sync` from the command line: summary lines, JSON, exit codes for cron."""

from __future__ import annotations

import json

import pytest
from syncworld import OWNER, Maildir, mail

from pdmail.accounts.sync_lock import account_lock
from pdmail.store import accounts as accounts_store
from pdmail.store import open_db
from pdmail.store.users import find_user

pytestmark = pytest.mark.both_engines


@pytest.fixture
def box(company, db_path, tmp_path):
    db = open_db(db_path)
    maildir = Maildir(tmp_path / "Mail")
    accounts_store.add_account(
        db, find_user(db, OWNER), name="local", kind="maildir", address=OWNER, maildir_path=str(maildir.root)
    )
    db.close()
    return maildir


def test_sync_prints_one_summary_line_per_account(cli, box):
    box.put("INBOX", mail(1))
    box.put("INBOX", mail(2), "S")
    result = cli("sync", "--user", OWNER)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "local: 2 new, 0 updated, 0 deleted, 0 skipped, 0 errors"
    assert result.stderr == ""


def test_sync_json_summary(cli, box):
    box.put("INBOX", mail(1))
    data = cli.json("sync", "--user", OWNER, "--account", "local")
    assert data == [
        {
            "account": "local",
            "new": 1,
            "updated": 0,
            "deleted": 0,
            "skipped": 0,
            "left_out": {"older": 0, "not_from_contacts": 0, "since": None},
            "pushed": {"read": 0, "unread": 0, "archived": 0, "deleted": 0, "restored": 0},
            "errors": [],
        }
    ]
    assert cli.json("sync", "--user", OWNER)[0]["new"] == 0  # one account or many: an array


def test_a_second_run_exits_75_with_a_clear_message(cli, box, db_path):
    db = open_db(db_path)
    account = accounts_store.get_account(db, find_user(db, OWNER), "local")
    with account_lock(db, account):
        result = cli("sync", "--user", OWNER)
    db.close()
    assert result.exit_code == 75
    assert "already running" in result.stderr and result.stderr.startswith("Error: ")


def test_a_mass_deletion_exits_7_and_names_the_flag(cli, box):
    keys = [box.put("INBOX", mail(n)) for n in range(1, 8)]
    cli.ok("sync", "--user", OWNER)
    for key in keys:
        box.remove(key)
    result = cli("sync", "--user", OWNER, "--json")
    assert result.exit_code == 7
    assert "--confirm-deletions" in json.loads(result.stdout)[0]["errors"][0]
    assert "--confirm-deletions" in result.stderr
    confirmed = cli("sync", "--user", OWNER, "--confirm-deletions", "--json")
    assert confirmed.exit_code == 0 and json.loads(confirmed.stdout)[0]["deleted"] == 7


def test_no_account_is_a_usage_error(cli, company):
    result = cli("sync", "--user", OWNER)
    assert result.exit_code == 2 and "account add" in result.stderr


def test_account_list_shows_the_last_run_and_folder_errors(company, tmp_path):
    box = Maildir(tmp_path / "Mail")
    company.ok(
        "account",
        "add",
        "home",
        "--address",
        OWNER,
        "--maildir",
        str(box.root),
        "--since",
        "all",
        "--past",
        "everyone",
        "--user",
        OWNER,
    )
    assert company.json("account", "list", "--user", OWNER)[0]["last_sync"] is None
    keys = [box.put("INBOX", mail(n)) for n in range(1, 8)]
    company.ok("sync", "--user", OWNER)
    run = company.json("account", "list", "--user", OWNER)[0]["last_sync"]
    assert (run["outcome"], run["new"], run["folder_errors"]) == ("ok", 7, {})
    for key in keys:
        box.remove(key)
    assert company("sync", "--user", OWNER).exit_code == 7
    run = company.json("account", "list", "--user", OWNER)[0]["last_sync"]
    assert run["outcome"] == "partial" and "--confirm-deletions" in run["folder_errors"]["INBOX"]
    table = company.ok("account", "list", "--user", OWNER).stdout
    assert "partial" in table and "INBOX" in table


def test_since_window_leaves_older_mail_out(company, tmp_path):
    import os

    box = Maildir(tmp_path / "Mail")
    old = box.put("INBOX", mail(1))
    box.put("INBOX", mail(2))
    _, path = box.find(old)
    os.utime(path, (1_600_000_000, 1_600_000_000))
    company.ok(
        "account",
        "add",
        "home",
        "--address",
        OWNER,
        "--maildir",
        str(box.root),
        "--since",
        "2024-01-01",
        "--past",
        "everyone",
        "--user",
        OWNER,
    )
    assert company.json("sync", "--user", OWNER)[0]["new"] == 1
    assert company.json("sync", "--user", OWNER)[0]["new"] == 0


def test_past_mail_only_from_known_contacts_by_default(company, tmp_path):
    box = Maildir(tmp_path / "Mail")
    box.put("INBOX", mail(1))
    box.put("INBOX", mail(2, sender="Bob Stranger <bob@elsewhere.example>"))
    company.ok("contact", "add", "Jane Doe", "--email", "jane@acme.example")
    company.ok(
        "account", "add", "home", "--address", OWNER, "--maildir", str(box.root), "--since", "all", "--user", OWNER
    )
    (data,) = company.json("sync", "--user", OWNER)
    assert (data["new"], data["skipped"], data["left_out"]["not_from_contacts"]) == (1, 0, 1)
    assert company.json("sync", "--user", OWNER)[0]["left_out"]["not_from_contacts"] == 0


def test_a_sync_with_an_empty_outbox_never_loads_the_sending_code(cli, box):
    """Every run looks at the outbox first; with nothing there, composing and SMTP stay unloaded."""
    import os
    import subprocess
    import sys

    box.put("INBOX", mail(1))
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pdmail", "sync", "--user", OWNER],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "1 new" in done.stdout
    loaded = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "pdmail.send.waiting" in loaded
    assert not loaded & {"pdmail.send.outbox", "pdmail.send.compose", "pdmail.send.smtp", "smtplib"}
