"""`pdmail link`, `pdmail explain` and `pdmail contact add-address` from the command line."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time

import pytest

import factories as f
from pdmail.store import open_db
from pdmail.store import users as users_store

MARIA = "maria@northwind.example"
SAM = "sam@northwind.example"
JANE = "jane@cust.example"
EMAIL_KEYS = {"id", "thread_id", "message_id", "direction", "source", "from", "to", "cc", "subject", "date",
              "snippet", "read", "folder", "visibility", "owner", "contacts", "deal", "needs_deal", "attachments"}


def capture(db_path, owner=MARIA, **fields) -> int:
    db = open_db(db_path)
    try:
        return f.email(db, users_store.find_user(db, owner), **fields)
    finally:
        db.close()


@pytest.fixture
def crm(company, db_path):
    """Jane with two open deals (1, 2) and a won one (3); Ken with none; a thread of two from Jane."""
    c = company
    c.ok("contact", "add", "Jane Doe", "--email", JANE)            # contact 1
    c.ok("contact", "add", "Ken Ito", "--email", "ken@cust.example")  # contact 2
    c.ok("deal", "add", "Rollout", "--contact", "1", "--value", "1200")
    c.ok("deal", "add", "Pilot", "--contact", "1")
    c.ok("deal", "add", "Old", "--contact", "1", "--status", "won")
    first = capture(db_path, frm=JANE, to=(MARIA,), mid="q1", subject="Quote")
    reply = capture(db_path, frm=f"Maria <{MARIA}>", to=(JANE,), mid="q2", in_reply_to="q1", references=("q1",),
                    subject="Re: Quote")
    return c, first, reply


def show(cli, email_id, user=MARIA):
    return cli.json("show", str(email_id), "--user", user)


# --- link ID ------------------------------------------------------------------------------------


def test_deal_by_hand_applies_to_the_thread_and_prints_the_email(crm):
    cli, first, reply = crm
    assert show(cli, first)["needs_deal"] is True
    data = cli.json("link", str(reply), "--deal", "2")
    assert EMAIL_KEYS <= set(data) and data["id"] == reply and data["deal"] == 2 and data["needs_deal"] is False
    assert show(cli, first)["deal"] == 2
    why = cli.json("explain", str(first))
    assert why["manual"]["deal"] is True and why["thread"]["manual"] is True
    assert why["history"][-1]["action"] == "deal" and why["history"][-1]["to"] == "deal 2 (by hand)"


def test_a_won_deal_may_be_chosen_by_hand(crm):
    cli, first, _ = crm
    assert cli.json("link", str(first), "--deal", "3")["deal"] == 3


def test_none_by_hand(crm):
    cli, first, reply = crm
    data = cli.json("link", str(first), "--none")
    assert data["deal"] is None and data["needs_deal"] is False
    assert show(cli, reply)["needs_deal"] is False
    assert cli.json("explain", str(reply))["deal_rule"] == "thread-no-deal-manual"


def test_contacts_by_hand_are_exactly_those_given(crm):
    cli, first, _ = crm
    data = cli.json("link", str(first), "--contact", "2", "--contact", "1")
    assert data["contacts"] == [1, 2]
    explained = cli.json("explain", str(first))
    assert explained["manual"]["contacts"] is True
    assert {c["id"] for c in explained["contacts"] if c["manual"]} == {1, 2}


def test_split_moves_the_email_and_its_replies(crm, db_path):
    cli, first, reply = crm
    answer = capture(db_path, frm=JANE, to=(MARIA,), mid="q3", in_reply_to="q2", references=("q1", "q2"),
                     subject="Re: Quote")
    old_thread = show(cli, first)["thread_id"]
    data = cli.json("link", str(reply), "--split")
    assert data["thread_id"] != old_thread
    assert show(cli, answer)["thread_id"] == data["thread_id"]
    assert show(cli, first)["thread_id"] == old_thread
    assert show(cli, first)["thread"] == [first]


def test_split_then_deal_in_one_call(crm):
    cli, first, reply = crm
    data = cli.json("link", str(reply), "--split", "--deal", "1")
    assert data["deal"] == 1 and show(cli, first)["deal"] is None


@pytest.mark.parametrize("args,code,message", [
    (["1", "--deal", "1", "--none"], 2, "not both"),
    (["--deal", "1"], 2, "give the email's ID"),
    (["1"], 2, "say what to link"),
    (["--dry-run"], 2, "--dry-run goes with --rescan"),
    (["1", "--rescan"], 2, "takes no ID"),
    (["999", "--deal", "1"], 4, "email 999 not found"),
    (["1", "--deal", "999"], 4, "deal 999 not found"),
    (["1", "--contact", "999"], 4, "contact 999 not found"),
    (["1", "--split"], 2, "whole thread"),
])
def test_errors_and_exit_codes(crm, args, code, message):
    cli, _, _ = crm
    result = cli("link", *args)
    assert result.exit_code == code, result.stderr
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1


# --- privacy ------------------------------------------------------------------------------------


def test_another_user_cannot_link_a_shared_email(crm):
    cli, first, _ = crm
    assert cli("show", str(first), "--user", SAM).exit_code == 0  # Sam may read it, not change it
    result = cli("link", str(first), "--deal", "1", "--user", SAM)
    assert result.exit_code == 4
    assert result.stderr == f"Error: only its owner ({MARIA}) may change the links of email {first}\n"
    assert show(cli, first)["deal"] is None


def test_another_user_cannot_explain_a_private_email(crm):
    cli, first, _ = crm
    cli.ok("share", str(first), "--private")
    for user in (SAM, "ines@northwind.example"):  # an admin is no exception
        result = cli("explain", str(first), "--user", user)
        assert result.exit_code == 4 and result.stderr == f"Error: email {first} not found\n"
    missing = cli("explain", "999", "--user", SAM)
    assert missing.exit_code == 4 and missing.stderr == "Error: email 999 not found\n"


def test_explain_says_who_sees_a_shared_linked_email(crm):
    cli, first, _ = crm
    data = cli.json("explain", str(first), "--user", SAM)
    assert data["visibility"]["viewer"] == {"user": SAM, "can_view": True, "why": "shared and linked to a contact"}
    seen = {u["user"]: u for u in data["visibility"]["users"]}
    assert seen[MARIA]["why"].startswith("owner") and seen[SAM]["can_view"]
    cli.ok("share", str(first), "--private")
    seen = {u["user"]: u["can_view"] for u in cli.json("explain", str(first))["visibility"]["users"]}
    assert seen == {MARIA: True, SAM: False, "ines@northwind.example": False}


def test_explain_trace_in_words(crm, db_path):
    cli, first, _ = crm
    data = cli.json("explain", str(first))
    rules = [step["rule"] for step in data["trace"]]
    assert rules == ["customer-side", "contact-match", "deal-several-open"]
    assert data["contacts"][0] == {"id": 1, "name": "Jane Doe", "address": JANE, "rule": "contact-match",
                                   "reason": "jane@cust.example belongs to contact 1 (Jane Doe).", "manual": False}
    assert data["needs_deal"] and [c["id"] for c in data["candidates"]] == [1, 2]
    assert any("needs a deal" in n for n in data["notes"])
    news = capture(db_path, frm="news@cust.example", to=(MARIA,), subject="News",
                   headers=(("List-Id", "<news.cust.example>"),))
    assert cli.json("explain", str(news))["verdict"] == "automated"
    human = cli.ok("explain", str(first)).stdout
    assert "deal-several-open" in human and "Jane Doe" in human and "sees it" in human


# --- the chooser and the list -------------------------------------------------------------------


def test_off_a_terminal_link_lists_and_never_asks(crm):
    cli, first, reply = crm
    result = cli.ok("link", input="1\n")
    assert "Deal number" not in result.stdout + result.stderr
    assert str(reply) in result.stdout and "Rollout" in result.stdout
    data = cli.json("link")
    assert [e["id"] for e in data] == [reply, first]  # newest first
    assert [c["id"] for c in data[0]["candidates"]] == [1, 2] and EMAIL_KEYS <= set(data[0])
    assert show(cli, first)["needs_deal"] is True  # nothing was chosen


def test_chooser_saves_each_answer(crm, monkeypatch):
    from pdmail.cli import link as link_cli

    cli, first, reply = crm
    monkeypatch.setattr(link_cli, "on_terminal", lambda: True)
    result = cli.ok("link", input="7\n2\n")  # 7 is not a choice: asked again
    assert "Saved: email" in result.stdout
    assert show(cli, reply)["deal"] == 2 and show(cli, first)["deal"] == 2


@pytest.mark.parametrize("answers,deal,needs", [("n\n", None, False), ("s\ns\n", None, True), ("q\n", None, True)])
def test_chooser_none_skip_quit(crm, monkeypatch, answers, deal, needs):
    from pdmail.cli import link as link_cli

    cli, first, _ = crm
    monkeypatch.setattr(link_cli, "on_terminal", lambda: True)
    cli.ok("link", input=answers)
    assert show(cli, first)["deal"] == deal and show(cli, first)["needs_deal"] is needs


def test_chooser_on_a_real_terminal(crm, db_path):
    cli, first, reply = crm
    env = dict(os.environ, PDMAIL_DB=str(db_path), COLUMNS="120", TERM="dumb")
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "pdmail", "link"], stdin=follower, stdout=follower,
                            stderr=follower, env=env, close_fds=True)
    os.close(follower)
    seen = b""

    def read_until(text: bytes) -> None:
        nonlocal seen
        deadline = time.monotonic() + 30
        while text not in seen:
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} in {seen[-500:]!r}")
            ready, _, _ = select.select([leader], [], [], 1)
            if ready:
                try:
                    seen += os.read(leader, 4096)
                except OSError:
                    break

    try:
        read_until(b"Deal number")
        os.write(leader, b"1\n")
        read_until(b"Saved: email")
        read_until(b"Deal number")
        os.write(leader, b"q\n")
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(leader)
    assert b"Rollout" in seen
    assert show(cli, reply)["deal"] == 1 and show(cli, first)["deal"] == 1


def test_link_id_without_options_on_a_terminal_asks_about_that_email(crm, monkeypatch):
    from pdmail.cli import link as link_cli

    cli, first, _ = crm
    monkeypatch.setattr(link_cli, "on_terminal", lambda: True)
    cli.ok("link", str(first), input="1\n")
    assert show(cli, first)["deal"] == 1


# --- rescan and retroactive commands ------------------------------------------------------------


def test_rescan_dry_run_then_rescan(company, db_path):
    cli = company
    mail = capture(db_path, frm=JANE, to=(MARIA,))
    db = open_db(db_path)
    f.contact(db, "Jane Doe", JANE, relink=False)
    db.close()
    preview = cli.json("link", "--rescan", "--dry-run")
    assert preview["dry_run"] is True and preview["changed"] == 1
    assert preview["changes"][0]["id"] == mail and preview["changes"][0]["after"]["contacts"] == [1]
    assert show(cli, mail)["contacts"] == []
    human = cli.ok("link", "--rescan", "--dry-run").stdout
    assert f"email {mail}: contacts [] → [1]" in human and "nothing was written" in human
    done = cli.json("link", "--rescan")
    assert done["dry_run"] is False and done["changed"] == 1
    assert show(cli, mail)["contacts"] == [1]
    assert cli.json("link", "--rescan")["changed"] == 0


def test_contact_add_address_links_earlier_mail(company, db_path):
    cli = company
    cli.ok("contact", "add", "Jane Doe", "--email", JANE)
    mail = capture(db_path, frm="jane@home.example", to=(MARIA,))
    data = cli.json("contact", "add-address", "1", "Jane@Home.example")
    assert data["emails"] == [JANE, "jane@home.example"]
    assert show(cli, mail)["contacts"] == [1]
    assert cli("contact", "add-address", "9", "x@y.example").exit_code == 4
    assert cli("contact", "add-address", "1", "not-an-address").exit_code == 2


def test_deal_commands_relink(company, db_path):
    cli = company
    cli.ok("contact", "add", "Jane Doe", "--email", JANE)
    mail = capture(db_path, frm=JANE, to=(MARIA,))
    cli.ok("deal", "add", "Rollout", "--contact", "1")
    assert show(cli, mail)["deal"] == 1
    cli.ok("deal", "add", "Pilot", "--contact", "1")
    other = capture(db_path, frm=JANE, to=(MARIA,), subject="Another")
    assert show(cli, other)["needs_deal"] is True
    cli.ok("deal", "set-status", "2", "lost")
    assert show(cli, other)["deal"] == 1


def test_rescan_json_is_one_document(company, db_path):
    cli = company
    capture(db_path, frm=JANE, to=(MARIA,))
    result = cli.ok("link", "--rescan", "--json")
    assert set(json.loads(result.stdout)) == {"dry_run", "threads", "emails", "changed", "reworded", "changes",
                                              "more_changes"}


def test_explain_tells_a_colleague_only_of_the_thread_mail_they_may_see(crm, db_path):
    """An internal note in a customer thread links to nobody, so a colleague does not see it: neither
    the thread's size nor its history may give it away."""
    cli, first, reply = crm
    note = capture(db_path, frm=f"Maria <{MARIA}>", to=("ines@northwind.example",), mid="q3", in_reply_to="q1",
                   references=("q1",), subject="Re: Quote")
    cli.ok("link", str(note), "--none")
    own = cli.json("explain", str(first))
    assert own["thread"]["emails"] == 3
    assert note in {entry["email"] for entry in own["history"]}
    seen = cli.json("explain", str(first), "--user", SAM)
    assert seen["thread"]["emails"] == 2
    assert note not in {entry["email"] for entry in seen["history"]}
    assert cli("show", str(note), "--user", SAM).exit_code == 4
