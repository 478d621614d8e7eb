"""Drafts: a message written in $EDITOR kept to finish later, in the outbox with the status draft.

The real `pdmail` runs on a pseudo-terminal; EDITOR is a small script that records each buffer it
was given and writes what the test says. Sending goes to a real SMTP server on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
import rawdb
from mailcorpus import message
from onterminal import Conversation, editor_script, on_terminal
from test_send import MARIA, PASSWORD, add_account, capture_incoming, received, smtp, smtp_certificate  # noqa: F401 - the test SMTP server, as the send tests start it

from pdmail.send import outbox
from pdmail.store import open_db

pytestmark = [pytest.mark.smtp, pytest.mark.both_engines]

ASK = "save as [d]raft or [q]uit without saving? "


@pytest.fixture
def desk(company, smtp, monkeypatch, tmp_path):
    """Maria's account on the test SMTP server, and an editor script: the environment to run with,
    and the folder where the editor leaves a copy of each buffer it was given."""
    monkeypatch.setenv("PDMAIL_TEST_SMTP_PASSWORD", PASSWORD)
    add_account(company, smtp)
    env, seen = editor_script(tmp_path)
    return env, seen


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pdmail", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def ok_json(*args: str):
    done = run(*args, "--json")
    assert done.returncode == 0, (args, done.stderr)
    return json.loads(done.stdout)


def buffers(seen) -> list[str]:
    return [path.read_text() for path in sorted(seen.glob("*.txt"), key=lambda p: int(p.stem))]


def answer(args: list, env: dict, *answers: str) -> tuple[int, str]:
    """Run `pdmail ARGS` on a terminal and give ``answers`` to the questions after the editor, in turn."""
    talk = Conversation(*args, env=env)
    for reply in answers:
        talk.read_until(ASK)
        talk.type(reply)
    return talk.finish()


def save_draft(env, *args: str, subject="Quote", write="Hello Ana,\nthe quote follows.\n") -> int:
    code, shown = answer(
        ["send", "--to", "ana@acme.example", *args],
        env | {"SET": f"Subject: {subject}", "WRITE": write},
        "d",
    )
    assert code == 0, shown
    (draft,) = [i for i in ok_json("outbox") if i["status"] == "draft"]
    assert f"Saved as draft {draft['id']}; `pdmail outbox edit {draft['id']}` opens it again." in shown
    return draft["id"]


def raw_bytes_count(db_path) -> int:
    return rawdb.scalar(db_path, "SELECT count(*) FROM raw_messages")


def test_a_message_saved_as_a_draft_is_listed_and_never_sent(desk, smtp, db_path):
    env, _ = desk
    draft = save_draft(env, "--bcc", "boss@northwind.example")
    (item,) = ok_json("outbox")
    assert (item["id"], item["status"], item["subject"]) == (draft, "draft", "Quote")
    assert sorted(item["recipients"]) == ["ana@acme.example", "boss@northwind.example"]
    assert item["bcc"] == ["boss@northwind.example"] and item["sent_utc"] is None
    code, table = on_terminal("outbox", columns=160)
    assert code == 0, table
    (row,) = [line for line in table.splitlines() if "Quote" in line]
    assert row.split()[:2] == [str(draft), "draft"]
    assert f"pdmail outbox edit {draft} to finish it" in " ".join(table.split())

    # What `pdmail sync` runs for everyone's outbox: a draft is not due, however late it is.
    db = open_db(db_path)
    try:
        assert outbox.send_due(db, None, datetime(2099, 1, 1, tzinfo=UTC)) == []
    finally:
        db.close()
    retried = run("outbox", "retry", draft)
    assert retried.returncode == 2 and f"`pdmail outbox edit {draft}` opens it to send" in retried.stderr
    assert smtp.messages == []
    assert [i["status"] for i in ok_json("outbox", "--all")] == ["draft"]


def test_a_draft_reply_is_finished_later_and_sent_as_the_same_outbox_message(desk, smtp, db_path):
    env, seen = desk
    incoming = capture_incoming(
        db_path,
        message(
            [
                ("From", "Ana Ruiz <ana@acme.example>"),
                ("To", f"Maria <{MARIA}>"),
                ("Subject", "Question about the quote"),
                ("Date", "Tue, 05 Mar 2024 10:15:00 +0100"),
                ("Message-ID", "<q-2@acme.example>"),
                ("References", "<q-1@northwind.example>"),
            ],
            "Can you do 45 seats?\r\n",
        ),
    )
    code, shown = answer(["send", "--reply-to", incoming], env | {"WRITE": "Yes, 45 works.\n"}, "d")
    assert code == 0, shown
    (draft,) = ok_json("outbox")
    assert draft["status"] == "draft" and draft["subject"] == "Re: Question about the quote"

    code, shown = answer(["outbox", "edit", draft["id"]], env | {"WRITE": "Dear Ana,\n"}, "s")
    assert code == 0, shown
    first, second = buffers(seen)
    assert second.startswith("To: Ana Ruiz <ana@acme.example>\nCc: \nSubject: Re: Question about the quote\n#")
    assert second.split("\n\n", 1)[1] == "Yes, 45 works.\n" + first.split("\n\n", 1)[1]  # as it was saved
    assert "> Can you do 45 seats?" in second
    msg = received(smtp)
    assert msg["In-Reply-To"] == "<q-2@acme.example>"
    assert msg["References"] == "<q-1@northwind.example> <q-2@acme.example>"
    assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n").startswith("Dear Ana,\nYes, 45 works.\n")
    (sent,) = ok_json("outbox", "--all")
    assert (sent["id"], sent["status"]) == (draft["id"], "sent")
    reply = ok_json("show", sent["email_id"])
    assert reply["thread_id"] == ok_json("show", incoming)["thread_id"]
    assert raw_bytes_count(db_path) == 2  # the original and the reply: the draft's first bytes are gone


def test_a_draft_that_cannot_be_delivered_waits_like_any_queued_message(desk, smtp):
    env, _ = desk
    draft = save_draft(env)
    code, shown = answer(["outbox", "edit", draft], env | {"PDMAIL_TEST_SMTP_PASSWORD": "wrong"}, "s")
    assert code == 77, shown
    (item,) = ok_json("outbox")
    assert (item["id"], item["status"], item["subject"]) == (draft, "queued", "Quote")
    assert smtp.messages == []


def test_a_draft_saved_again_keeps_the_changes_and_quitting_keeps_it_as_it_was(desk, smtp, db_path):
    env, seen = desk
    draft = save_draft(env)
    code, shown = answer(["outbox", "edit", draft], env | {"SET": "Cc: ken@cust.example", "WRITE": "PS.\n"}, "d")
    assert code == 0 and f"Saved draft {draft}." in shown, shown
    code, shown = answer(["outbox", "edit", draft], env | {"SET": "Subject: Changed", "WRITE": "Lost.\n"}, "q")
    assert code == 0 and f"Draft {draft} is as it was." in shown, shown
    (item,) = ok_json("outbox")
    assert (item["id"], item["status"], item["subject"]) == (draft, "draft", "Quote")
    assert sorted(item["recipients"]) == ["ana@acme.example", "ken@cust.example"]
    last = buffers(seen)[-1]
    assert last.startswith("To: ana@acme.example\nCc: ken@cust.example\nSubject: Quote\n")
    assert last.split("\n\n", 1)[1] == "PS.\nHello Ana,\nthe quote follows.\n"
    assert raw_bytes_count(db_path) == 1  # one draft, its latest bytes only
    assert smtp.messages == []


def test_quitting_a_new_message_saves_nothing(desk):
    env, _ = desk
    code, shown = answer(["send", "--to", "ana@acme.example"], env | {"WRITE": "Not this one.\n"}, "q")
    assert code == 0 and "Discarded; nothing was sent or saved." in shown
    assert ok_json("outbox", "--all") == []


def test_a_message_without_a_recipient_can_be_kept_but_not_sent(desk, smtp):
    env, _ = desk
    talk = Conversation("send", env=env | {"SET": "Subject: Later", "WRITE": "Who gets this?\n"})
    talk.read_until(ASK)
    talk.type("s")
    assert "the To line is empty" in talk.read_until(ASK)
    talk.type("d")
    code, shown = talk.finish()
    assert code == 0, shown
    (item,) = ok_json("outbox")
    assert (item["status"], item["recipients"], item["subject"]) == ("draft", [], "Later")
    assert smtp.messages == []


def test_cancel_deletes_a_draft_with_its_bytes(desk, db_path):
    env, _ = desk
    draft = save_draft(env)
    assert raw_bytes_count(db_path) == 1
    done = run("outbox", "cancel", draft)
    assert done.returncode == 0 and f"Deleted draft {draft}." in done.stderr + done.stdout
    assert ok_json("outbox", "--all") == []
    assert raw_bytes_count(db_path) == 0
    again = save_draft(env, subject="Another")
    assert again > draft  # a deleted draft's id is never given to another message


def test_a_draft_is_its_owners_only(desk):
    env, _ = desk
    draft = save_draft(env)
    sam = ["--user", "sam@northwind.example"]
    assert ok_json("outbox", "--all", *sam) == []
    for args in (["outbox", "edit", draft], ["outbox", "cancel", draft], ["outbox", "retry", draft]):
        done = run(*args, *sam, env=env)
        assert done.returncode == 4 and f"outbox message {draft}" in done.stderr, (args, done.stderr)
    assert [i["id"] for i in ok_json("outbox")] == [draft]


def test_outbox_edit_opens_only_a_draft_and_only_on_a_terminal(desk, smtp):
    env, _ = desk
    draft = save_draft(env)
    done = run("outbox", "edit", draft, env=env)
    assert done.returncode == 2 and "run it on a terminal" in done.stderr
    run("send", "--to", "ana@acme.example", "--subject", "Now", "--body", "Sent at once.")
    sent = next(i for i in ok_json("outbox", "--all") if i["status"] == "sent")
    done = run("outbox", "edit", sent["id"], env=env)
    assert done.returncode == 2 and "only a draft can be edited" in done.stderr


def test_a_mistyped_address_is_told_before_anything_is_lost(desk, smtp):
    env, seen = desk
    talk = Conversation("send", env=env | {"SET": "To: ana@acme..example|Subject: Quote", "WRITE": "Long text.\n"})
    talk.read_until(ASK)
    talk.type("s")
    assert "'ana@acme..example' is not an email address; nothing was sent or saved yet" in talk.read_until(ASK)
    talk.type("e")  # the editor opens again on what was written
    talk.read_until(ASK)
    talk.type("q")
    code, shown = talk.finish()
    assert code == 0, shown
    assert buffers(seen)[1].split("\n\n", 1)[1] == "Long text.\n"
    assert ok_json("outbox", "--all") == [] and smtp.messages == []


def test_a_mistyped_send_time_is_told_before_the_editor_opens(desk, smtp):
    """`send --at` read only after the editor closed would refuse both sending and keeping the draft,
    and lose what was typed: the time is read first, and the editor never opens."""
    env, seen = desk
    talk = Conversation(
        "send", "--to", "ana@acme.example", "--at", "tomorow 09:00", env=env | {"WRITE": "Long text.\n"}
    )
    code, shown = talk.finish(timeout=20)
    assert buffers(seen) == [], shown  # no editor
    assert code == 2 and "tomorow" in shown, shown
    assert ok_json("outbox", "--all") == [] and smtp.messages == []
