"""Accounts you can change: `account set` keeps the sync state, a wider --since fetches what the old
day left out, `account remove` asks first, hints name `account set` for an account that exists, and
`sync` says what it left out and what it sent to the server.

Each test runs the real `pdmail` in its own process, stdout a pipe (or a pseudo-terminal where a
question is asked), on both engines.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from entrypoint import MARIA, company_db
from onterminal import Conversation
from syncworld import Maildir, mail

pytestmark = pytest.mark.both_engines

STRANGER = "Bob Stranger <bob@elsewhere.example>"
PASSWORD_ENV = "PDMAIL_TEST_MAIL_PASSWORD"


def run(*args: str, env: dict | None = None):
    done = subprocess.run(
        [sys.executable, "-m", "pdmail", *map(str, args)],
        capture_output=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    return done.returncode, done.stdout.decode(), done.stderr.decode()


def ok(*args: str, env: dict | None = None) -> str:
    code, out, err = run(*args, env=env)
    assert code == 0, (args, code, out, err)
    return out


def synced(env: dict | None = None) -> dict:
    (report,) = json.loads(ok("sync", "--json", env=env))
    return report


def days_ago(days: int) -> str:
    return (datetime.now(UTC).date() - timedelta(days=days)).isoformat()


def aged(box: Maildir, folder: str, raw: bytes, arrived: datetime) -> str:
    """A message delivered into the Maildir at ``arrived`` (a file's modification time is its arrival)."""
    key = box.put(folder, raw)
    _, path = box.find(key)
    os.utime(path, (arrived.timestamp(), arrived.timestamp()))
    return key


@pytest.fixture
def box(db_path, tmp_path):
    company_db(db_path)
    return Maildir(tmp_path / "Mail")


# --- account set --------------------------------------------------------------------------------------


@pytest.mark.dovecot
def test_an_earlier_since_day_fetches_from_the_server_what_the_old_day_left_out(
    db_path, dovecot_server, mail_user, tmp_path
):
    company_db(db_path)
    env = {PASSWORD_ENV: mail_user.password}
    month_ago = datetime.now(UTC) - timedelta(days=30)
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    # Numbered 1 to 3 by the server, below the recent one: the old day's cursor passed them by.
    dovecot_server.seed(mail_user, "INBOX", [mail(n) for n in (1, 2, 3)], dates=[month_ago] * 3)
    dovecot_server.seed(mail_user, "INBOX", [mail(4)], dates=[hour_ago])
    added = json.loads(
        ok(
            "account", "add", "work", "--address", MARIA, "--username", mail_user.login,
            "--imap-host", dovecot_server.host, "--imap-port", dovecot_server.imaps_port,
            "--cafile", dovecot_server.cafile, "--password-env", PASSWORD_ENV,
            "--since", "7d", "--past", "everyone", "--json",
        )
    )  # fmt: skip

    code, out, err = run("sync", env=env)
    assert (code, err) == (0, "")
    assert out == (
        f"work: 1 new, 0 updated, 0 deleted, 0 skipped, 0 errors; left out 3 older than {days_ago(7)} "
        "(see --since in `pdmail account set --help`)\n"
    )
    again = synced(env)
    assert (again["new"], again["left_out"]["older"]) == (0, 0)  # said once, on the first read

    # Settings that are not the window change nothing that was synced.
    changed = json.loads(
        ok("account", "set", "work", "--smtp-host", dovecot_server.host, "--smtp-port", "2525", "--json")
    )
    assert (changed["id"], changed["smtp_port"], changed["smtp_security"]) == (added["id"], 2525, "tls")
    assert synced(env)["new"] == 0

    code, out, err = run("account", "set", "work", "--since", "all")
    assert code == 0 and "since" in out and "sync state is kept" in out
    assert synced(env)["new"] == 3
    assert synced(env)["new"] == 0
    listed = json.loads(ok("inbox", "--json"))
    assert sorted(e["message_id"] for e in listed) == [f"order-{n}@acme.example" for n in (1, 2, 3, 4)]


def test_an_earlier_since_day_fetches_what_a_maildir_left_out(box):
    aged(box, "INBOX", mail(1), datetime.now(UTC) - timedelta(days=40))
    aged(box, "INBOX", mail(2), datetime.now(UTC) - timedelta(hours=2))
    ok("account", "add", "home", "--address", MARIA, "--maildir", box.root, "--since", "10d", "--past", "everyone")
    first = synced()
    assert (first["new"], first["left_out"]) == (1, {"older": 1, "not_from_contacts": 0, "since": days_ago(10)})
    ok("account", "set", "home", "--since", days_ago(60))
    assert synced()["new"] == 1
    assert synced()["new"] == 0


def test_the_first_sync_says_which_past_mail_it_left_out_and_how_to_take_it(box):
    before = datetime.now(UTC) - timedelta(hours=2)
    aged(box, "INBOX", mail(1, sender=STRANGER), before)
    aged(box, "INBOX", mail(2, sender="Eve <eve@other.example>"), before)
    aged(box, "INBOX", mail(3), before)  # from Jane, a contact
    ok("contact", "add", "Jane Doe", "--email", "jane@acme.example")
    ok("account", "add", "home", "--address", MARIA, "--maildir", box.root, "--since", "all")
    code, out, err = run("sync")
    assert code == 0 and err == ""
    assert out == (
        "home: 1 new, 0 updated, 0 deleted, 0 skipped, 0 errors; left out 2 from before the account was "
        "added and not from a known contact (see --past in `pdmail account set --help`)\n"
    )
    (account,) = json.loads(ok("account", "list", "--json"))
    assert "left out 2" in account["last_sync"]["message"]
    assert synced()["left_out"] == {"older": 0, "not_from_contacts": 0, "since": None}
    ok("account", "set", "home", "--past", "everyone")
    assert synced()["new"] == 2


def test_account_set_changes_only_what_it_is_given_and_refuses_what_does_not_fit(box, tmp_path):
    ok("account", "add", "home", "--address", MARIA, "--maildir", box.root, "--folders", "INBOX")
    before = json.loads(ok("account", "list", "--json"))[0]
    code, _, err = run("account", "set", "home", "--smtp-host", "smtp.example")
    assert code == 2 and err == "Error: home is a Maildir account and has no server: drop --smtp-host\n"
    code, _, err = run("account", "set", "home")
    assert code == 2 and err.startswith("Error: say what to change")
    assert run("account", "set", "home", "--past", "nobody")[0] == 2
    assert run("account", "set", "nowhere", "--past", "everyone")[0] == 4
    after = json.loads(ok("account", "set", "home", "--folders", "all", "--rename", "mine", "--json"))
    assert (after["id"], after["name"], after["folders"]) == (before["id"], "mine", None)
    assert {k: v for k, v in after.items() if k not in ("name", "folders")} == {
        k: v for k, v in before.items() if k not in ("name", "folders", "secret", "last_sync")
    }


def test_server_settings_change_as_given_ports_follow_the_security(box):
    ok(
        "account", "add", "work", "--address", MARIA, "--imap-host", "imap.northwind.example",
        "--smtp-host", "smtp.northwind.example", "--password-env", "MAIL_PASSWORD",
    )  # fmt: skip
    account = json.loads(ok("account", "set", "work", "--imap-security", "starttls", "--json"))
    assert (account["imap_host"], account["imap_port"], account["imap_security"]) == (
        "imap.northwind.example",
        143,
        "starttls",
    )
    account = json.loads(ok("account", "set", "work", "--smtp-port", "587", "--password-command", "pass x", "--json"))
    assert (account["smtp_port"], account["smtp_security"], account["secret_source"]) == (
        587,
        "starttls",
        {"command": "pass x"},
    )
    code, _, err = run("account", "set", "work", "--cafile", "/nonexistent.pem")
    assert code == 2 and "--cafile" in err


# --- account remove -----------------------------------------------------------------------------------


def test_account_remove_in_a_script_needs_yes(box):
    ok("account", "add", "home", "--address", MARIA, "--maildir", box.root)
    code, out, err = run("account", "remove", "home")
    assert (code, out) == (2, "")
    assert err == (
        "Error: account remove asks before it forgets an account; to remove home without a question, "
        "run `pdmail account remove home --yes`\n"
    )
    assert len(json.loads(ok("account", "list", "--json"))) == 1
    assert run("account", "remove", "home", "--yes")[:2] == (0, "Removed account home.\n")
    assert json.loads(ok("account", "list", "--json")) == []


def test_account_remove_asks_on_a_terminal(box):
    ok("account", "add", "home", "--address", MARIA, "--maildir", box.root)
    no = Conversation("account", "remove", "home")
    assert "Remove account home (maria@northwind.example)?" in no.read_until("[y/N]")
    no.type("n")
    code, shown = no.finish()
    assert code == 0 and "Nothing was removed." in shown
    assert len(json.loads(ok("account", "list", "--json"))) == 1
    yes = Conversation("account", "remove", "home")
    yes.read_until("[y/N]")
    yes.type("y")
    code, shown = yes.finish()
    assert code == 0 and "Removed account home." in shown
    assert json.loads(ok("account", "list", "--json")) == []


# --- hints name the command that fixes an account that exists ------------------------------------------


def test_an_account_without_smtp_is_told_to_set_one_not_to_add_the_account(box):
    ok("account", "add", "home", "--address", MARIA, "--maildir", box.root)
    code, _, err = run("send", "--to", "ada@acme.example", "--subject", "Hi", "--body", "Hello")
    assert code == 2
    assert "`pdmail account set home --smtp-host HOST`" in err and "account add" not in err


def test_a_keyring_account_without_a_keyring_is_told_to_switch_not_to_add_the_account(box):
    ok(
        "account", "add", "work", "--address", MARIA, "--imap-host", "127.0.0.1", "--imap-port", "9",
        "--password-env", "UNUSED",
    )  # fmt: skip
    from pdmail.store import accounts as accounts_store
    from pdmail.store import open_db
    from pdmail.store.users import find_user

    db = open_db(os.environ["PDMAIL_DB"])
    maria = find_user(db, MARIA)
    accounts_store.update_account(
        db,
        maria,
        accounts_store.get_account(db, maria, "work"),
        secret_source={"keyring": {"service": "pdmail:127.0.0.1", "username": MARIA}},
    )
    db.close()
    code, _, err = run("sync", env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    assert code == 2
    assert "`pdmail account set work --password-command CMD`" in err and "account add" not in err


# --- what sync sent to the server ---------------------------------------------------------------------


def test_sync_counts_what_it_sent_to_the_server(box):
    for n in (1, 2, 3, 4):
        box.put("INBOX", mail(n))
    ok("account", "add", "home", "--address", MARIA, "--maildir", box.root, "--since", "all", "--past", "everyone")
    assert synced()["new"] == 4
    ids = {e["message_id"]: e["id"] for e in json.loads(ok("inbox", "--json"))}
    ok("read", ids["order-1@acme.example"], ids["order-2@acme.example"])
    ok("archive", ids["order-3@acme.example"])
    ok("delete", ids["order-4@acme.example"])
    code, out, err = run("sync")
    assert (code, err) == (0, "")
    assert out.startswith("home: 0 new, ") and out.endswith("; sent to the server: 2 read, 1 archived, 1 deleted\n")
    ok("restore", ids["order-4@acme.example"])
    header, row = (line.split("\t") for line in ok("sync", "--format", "tsv").splitlines())
    assert header == ["account", "new", "updated", "deleted", "skipped", "left_out", "pushed", "errors"]
    assert dict(zip(header, row))["pushed"] == "1"
    ok("unread", ids["order-1@acme.example"])
    report = synced()
    assert report["pushed"] == {"read": 0, "unread": 1, "archived": 0, "deleted": 0, "restored": 0}
    assert synced()["pushed"] == dict.fromkeys(("read", "unread", "archived", "deleted", "restored"), 0)
