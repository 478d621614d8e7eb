"""Writing a message in $EDITOR: a buffer with To, Cc and Subject, an instruction comment and, for a
reply, the original quoted; after the editor, a question: send, edit again, save as a draft or quit
(drafts themselves: tests/test_drafts.py).

The real `pdmail` runs on a pseudo-terminal; EDITOR is a small script that records each buffer it was
given and writes what the test says. Messages are scheduled (`--at`), so nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from entrypoint import MARIA, company_db, mail
from onterminal import Conversation, editor_script

from pdmail.send import editor_buffer

pytestmark = pytest.mark.both_engines

LATER = "2030-01-02T09:00"


def ok(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pdmail", *map(str, args)], capture_output=True, env=os.environ, timeout=120
    )
    assert done.returncode == 0, (args, done.stderr.decode())
    return done.stdout.decode()


@pytest.fixture
def desk(db_path, tmp_path):
    """Maria's company, an account that sends, a synced email from Ada, and an editor script."""
    company_db(db_path)
    maildir = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (maildir / "new" / "1.eml").write_bytes(
        mail(
            1, frm="Ada Byron <ada@acme.example>", subject="Arms", body="Can you deliver in March?\r\nAda\r\n"
        ).replace(b"To: Ada <ada@acme.example>", f"To: Maria <{MARIA}>".encode())
    )
    ok("account", "add", "home", "--address", MARIA, "--maildir", maildir, "--since", "all", "--past", "everyone")
    ok("sync")
    ok("account", "add", "smtp", "--address", MARIA, "--imap-host", "127.0.0.1", "--smtp-host", "127.0.0.1",
       "--password-env", "NOT_SET_ANYWHERE")  # fmt: skip
    env, seen = editor_script(tmp_path)
    (reply_to,) = [e["id"] for e in json.loads(ok("inbox", "--json"))]
    return env, seen, reply_to


def buffers(seen) -> list[str]:
    return [path.read_text() for path in sorted(seen.glob("*.txt"))]


def test_a_new_message_opens_with_its_headers_and_is_sent_when_chosen(desk):
    env, seen, _ = desk
    env = env | {"SET": "Cc: ken@cust.example|Subject: Delivery dates", "WRITE": "Hello Ana,\nMarch it is.\n"}
    talk = Conversation("send", "--account", "smtp", "--to", "ana@acme.example", "--at", LATER, env=env)
    assert "[s]end, [e]dit again, save as [d]raft or [q]uit without saving?" in talk.read_until("saving? ")
    talk.type("s")
    code, shown = talk.finish()
    assert code == 0, shown
    (first,) = buffers(seen)
    head = first.split("\n\n")[0].split("\n")
    assert head[:3] == ["To: ana@acme.example", "Cc: ", "Subject: "]
    assert head[3:] == list(editor_buffer.INSTRUCTIONS)
    (queued,) = json.loads(ok("outbox", "--json"))
    assert (queued["subject"], sorted(queued["recipients"])) == (
        "Delivery dates",
        ["ana@acme.example", "ken@cust.example"],
    )


def test_a_reply_quotes_the_original_and_can_be_edited_again_before_it_goes(desk):
    env, seen, reply_to = desk
    env = env | {"WRITE": "Yes, March works.\n"}
    talk = Conversation("send", "--account", "smtp", "--reply-to", reply_to, "--at", LATER, env=env)
    talk.read_until("saving? ")
    talk.type("e")  # the editor opens again on what was written
    talk.read_until("saving? ")
    talk.type("s")
    code, shown = talk.finish()
    assert code == 0, shown
    first, second = buffers(seen)
    assert first.startswith("To: Ada Byron <ada@acme.example>\nCc: \nSubject: Re: Arms\n#")
    body = first.split("\n\n", 1)[1]
    assert "wrote:\n> Can you deliver in March?\n> Ada\n" in body and "Ada Byron <ada@acme.example> wrote:" in body
    assert second.split("\n\n", 1)[1].startswith("Yes, March works.\n")  # the first edit, kept
    (queued,) = json.loads(ok("outbox", "--json"))
    assert (queued["subject"], queued["recipients"]) == ("Re: Arms", ["ada@acme.example"])


def test_quitting_sends_nothing_and_an_untouched_reply_is_empty(desk):
    env, _seen, reply_to = desk
    talk = Conversation("send", "--account", "smtp", "--to", "ana@acme.example", "--at", LATER, env=env | {
        "SET": "Subject: Draft", "WRITE": "Not this one.\n"})  # fmt: skip
    talk.read_until("saving? ")
    talk.type("q")
    code, shown = talk.finish()
    assert code == 0 and "Discarded; nothing was sent or saved." in shown
    code, shown = Conversation("send", "--account", "smtp", "--reply-to", reply_to, env=env).finish()
    assert code == 2 and "the message is empty; nothing was sent or saved" in shown
    assert json.loads(ok("outbox", "--json", "--all")) == []


def test_the_buffer_reads_back_folded_headers_and_keeps_hash_lines_of_the_body():
    text = "To: a@x.example,\n  b@y.example\nCc:\nSubject: Hi\n# a comment\n\n# 1 priority\nbody\n"
    written = editor_buffer.read(text)
    assert (written.to, written.cc, written.subject) == (["a@x.example, b@y.example"], [], "Hi")
    assert written.body == "# 1 priority\nbody\n"
    with pytest.raises(ValueError, match="not To:, Cc: or Subject:"):
        editor_buffer.read("To: a@x.example\nBcc: b@y.example\n\nbody")
