"""`read`, `unread`, `archive`, `delete`, `restore` and `share` take several ids, and --thread; every email is
checked before any changes, and `restore` says so when there is nothing to restore."""

from __future__ import annotations

import json

import factories
import pytest
from entrypoint import MARIA, ok, pdmail

from pdmail.mailbox import actions
from pdmail.store import open_db
from pdmail.store.mailbox import thread_member_ids
from pdmail.store.users import find_user

pytestmark = pytest.mark.both_engines

SAM = "sam@northwind.example"


@pytest.fixture
def mail(db_path):
    """Maria's thread of three emails (a question and two replies), two other emails of hers, and one of
    Sam's that she may see (shared, and linked to Ada) but not change."""
    db, maria = factories.company(db_path)
    sam = factories.user(db, SAM)
    factories.contact(db, "Ada Byron", "ada@acme.example")
    ids = {
        "first": factories.email(db, maria, frm="ada@acme.example", to=[MARIA], mid="t1", subject="Arms"),
        "reply": factories.email(db, maria, frm=MARIA, to=["ada@acme.example"], mid="t2", in_reply_to="t1"),
        "again": factories.email(db, maria, frm="ada@acme.example", to=[MARIA], mid="t3", in_reply_to="t2"),
        "other": factories.email(db, maria, frm="ada@acme.example", to=[MARIA], mid="o1", subject="Belts"),
        "third": factories.email(db, maria, frm="ada@acme.example", to=[MARIA], mid="o2", subject="Cranes"),
        "sams": factories.email(db, sam, frm="ada@acme.example", to=[SAM], mid="s1", subject="Sam's"),
    }
    db.close()
    return ids


def state(email_id: int) -> dict:
    return json.loads(ok("show", str(email_id), "--json"))


def test_several_ids_at_once(mail):
    out = ok("read", str(mail["other"]), str(mail["third"]))
    assert out == f"Email {mail['other']} marked read.\nEmail {mail['third']} marked read.\n"
    assert state(mail["other"])["read"] and state(mail["third"])["read"]
    assert ok("read", str(mail["other"])) == f"Email {mail['other']} was already read.\n"
    archived = json.loads(ok("archive", str(mail["other"]), str(mail["third"]), "--json"))
    assert [(a["id"], a["folder"], a["changed"]) for a in archived] == [
        (mail["other"], "archive", True),
        (mail["third"], "archive", True),
    ]
    single = json.loads(ok("unread", str(mail["other"]), "--json"))  # one id: the same shape, an array of one
    assert single == [{"id": mail["other"], "read": False, "changed": True}]


def test_thread_acts_on_every_email_of_the_thread(mail):
    thread = [mail["first"], mail["reply"], mail["again"]]
    ok("delete", "--thread", str(mail["again"]))
    assert [state(i)["folder"] for i in thread] == ["trash"] * 3
    assert state(mail["other"])["folder"] == "inbox"
    restored = json.loads(ok("restore", "--thread", str(mail["first"]), "--json"))
    assert [(r["id"], r["folder"]) for r in restored] == [
        (mail["first"], "inbox"),
        (mail["reply"], "sent"),
        (mail["again"], "inbox"),
    ]
    out = ok("read", "--thread", str(mail["first"]), str(mail["reply"]))  # the same thread twice: once each
    assert out.count("marked read") == 2 and out.count("already read") == 1  # Maria's own reply was read


def test_restore_says_when_there_is_nothing_to_restore(mail):
    out = ok("restore", str(mail["other"]))
    assert (
        out == f"Email {mail['other']} is not in the trash or the archive (it is in the inbox): nothing to restore.\n"
    )
    assert [r["changed"] for r in json.loads(ok("restore", str(mail["other"]), "--json"))] == [False]
    ok("delete", str(mail["third"]))
    out = ok("restore", str(mail["third"]), str(mail["other"]))
    assert out.splitlines() == [
        f"Email {mail['third']} restored to the inbox.",
        f"Email {mail['other']} is not in the trash or the archive (it is in the inbox): nothing to restore.",
    ]


def test_one_email_that_is_not_yours_changes_nothing(mail):
    code, out, err = pdmail("archive", str(mail["other"]), str(mail["sams"]))
    assert code == 4 and out == "" and f"only its owner ({SAM}) may archive email {mail['sams']}" in err
    code, _, err = pdmail("archive", str(mail["other"]), "999")
    assert code == 4 and "email 999 not found" in err
    assert state(mail["other"])["folder"] == "inbox"


def test_share_takes_several_threads(mail):
    shared = json.loads(ok("share", str(mail["first"]), str(mail["again"]), str(mail["other"]), "--private", "--json"))
    assert [(s["thread_id"], s["visibility"]) for s in shared] == [
        (state(mail["first"])["thread_id"], "private"),
        (state(mail["other"])["thread_id"], "private"),
    ]
    assert state(mail["reply"])["visibility"] == "private" and state(mail["third"])["visibility"] == "shared"


def test_the_service_checks_every_email_before_changing_any(mail, db_path, engine):
    db = open_db(db_path)
    try:
        maria = find_user(db, MARIA)
        thread = state(mail["first"])["thread_id"]
        assert thread_member_ids(db, thread) == [mail["first"], mail["reply"], mail["again"]]
        with pytest.raises(Exception, match="only its owner"):
            actions.delete_all(db, maria, [mail["third"], mail["sams"]])
        assert db.scalar("SELECT folder FROM emails WHERE id = ?", (mail["third"],)) == "inbox"
        assert db.scalar("SELECT count(*) FROM pending_ops") == 0  # nothing queued for the server either
    finally:
        db.close()
