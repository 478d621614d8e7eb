"""`inbox --awaiting-reply` and `inbox --unanswered`: conversations waiting on a customer or on the team.

Each scenario is mail captured through Smart BCC as a user sends and forwards it, dated back from
now, then read through the command line as the user would.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

pytestmark = pytest.mark.both_engines

CAPTURE = "capture@bcc.northwind.example"
MARIA = "maria@northwind.example"
SAM = "sam@northwind.example"
ADA = "ada@acme.example"
BO = "bo@acme.example"
NOW = datetime.now(UTC)


def message(*, frm, to, subject, mid, days, in_reply_to=None, cc=(), bcc=None, headers=()) -> bytes:
    head = [
        ("From", frm),
        ("To", ", ".join(to)),
        *([("Cc", ", ".join(cc))] if cc else []),
        *([("Bcc", bcc)] if bcc else []),
        ("Subject", subject),
        ("Date", format_datetime(NOW - timedelta(days=days))),
        ("Message-ID", f"<{mid}@mail.example>"),
        *([("In-Reply-To", f"<{in_reply_to}@mail.example>")] if in_reply_to else []),
        *headers,
    ]
    return ("".join(f"{k}: {v}\r\n" for k, v in head) + "\r\nHello.\r\n").encode()


def ingest(cli, raw: bytes) -> int:
    (outcome,) = json.loads(cli.ok("bcc-ingest", "--json", input=raw).stdout)
    assert outcome["status"] == "stored", outcome
    return outcome["id"]


def sent(cli, mid, *, days, to=(ADA,), frm=MARIA, subject="Quote", in_reply_to=None, cc=()) -> int:
    """Mail a user sent with the capture address in Bcc."""
    raw = message(frm=frm, to=to, cc=cc, bcc=CAPTURE, subject=subject, mid=mid, days=days, in_reply_to=in_reply_to)
    return ingest(cli, raw)


def received(cli, mid, *, days, owner=MARIA, frm=ADA, to=None, subject="Quote", in_reply_to=None, headers=()) -> int:
    """A customer's mail that ``owner`` forwards to the capture address (its original is stored)."""
    original = message(
        frm=frm, to=to or (owner,), subject=subject, mid=mid, days=days, in_reply_to=in_reply_to, headers=headers
    )
    wrapper = (
        (
            f"From: {owner}\r\nTo: {CAPTURE}\r\nSubject: Fwd\r\nMessage-ID: <fw-{owner}-{mid}@mail.example>\r\n"
            f"Date: {format_datetime(NOW)}\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/mixed; boundary="fw"\r\n\r\n--fw\r\nContent-Type: text/plain\r\n\r\nfyi\r\n'
            "--fw\r\nContent-Type: message/rfc822\r\n\r\n"
        ).encode()
        + original
        + b"\r\n--fw--\r\n"
    )
    return ingest(cli, wrapper)


@pytest.fixture
def team(company):
    c = company
    c.ok("settings", "set", "bcc-address", CAPTURE)
    c.ok("settings", "set", "create-contacts", "off")
    c.ok("contact", "add", "Ada Byron", "--email", ADA)
    c.ok("contact", "add", "Bo Chen", "--email", BO)
    c.ok("deal", "add", "Arms", "--contact", "1")
    # On a team server each colleague's pdmail applies Maria's changes to their own mail at its next
    # command; until then, mail joining a conversation begun in the same second as a change waits
    # for it (README.md, "Team server (PostgreSQL)"). On a file this changes nothing.
    c.ok("inbox", "--count", "--user", SAM)
    return c


def waiting(cli, *args: str, user: str = MARIA) -> list[int]:
    return [e["id"] for e in cli.json("--user", user, "inbox", *args)]


# --- awaiting a reply ------------------------------------------------------------------------------


def test_mail_nobody_answered_for_three_days_awaits_a_reply_newest_first_with_its_deal(team):
    older = sent(team, "a1", days=9)
    newer = sent(team, "b1", days=5, subject="Delivery")
    recent = sent(team, "c1", days=1, subject="Call")
    listed = team.json("inbox", "--awaiting-reply")
    assert [e["id"] for e in listed] == [newer, older]
    assert all(e["deal"] == 1 and e["direction"] == "outgoing" for e in listed)
    assert waiting(team, "--awaiting-reply", "12h") == [recent, newer, older]
    assert waiting(team, "--awaiting-reply", "7d") == [older]
    assert team.json("inbox", "--awaiting-reply", "--count") == {"count": 2}
    table = team.ok("inbox", "--awaiting-reply").stdout
    assert "deal 1" in table and "Delivery" in table and "Call" not in table


def test_a_customers_answer_ends_the_wait_and_is_then_unanswered(team):
    sent(team, "a1", days=6)
    answer = received(team, "a2", days=4, in_reply_to="a1")
    assert waiting(team, "--awaiting-reply") == []
    assert waiting(team, "--unanswered") == [answer]
    sent(team, "a3", days=3, in_reply_to="a2")
    assert waiting(team, "--unanswered") == []
    assert len(waiting(team, "--awaiting-reply")) == 1


def test_mail_to_colleagues_and_automated_mail_never_count(team):
    mine = sent(team, "a1", days=6)
    sent(team, "a2", days=5, to=(SAM,), in_reply_to="a1", subject="Fwd: Quote")  # a note to a colleague
    received(
        team, "a3", days=4, in_reply_to="a1", frm="noreply@acme.example", headers=[("Auto-Submitted", "auto-replied")]
    )
    received(team, "a4", days=4, in_reply_to="a1", headers=[("List-Id", "<news.acme.example>")])
    assert waiting(team, "--awaiting-reply") == [mine]
    sent(team, "b1", days=5, to=(SAM,), subject="Lunch")  # colleagues only: nothing awaits a customer
    assert waiting(team, "--awaiting-reply") == [mine]
    assert team("inbox", "--awaiting-reply").stderr.strip() == ""
    assert waiting(team, "--unanswered") == []


def test_usual_filters_apply(team):
    ada = sent(team, "a1", days=5)
    bo = sent(team, "b1", days=5, to=(BO,))
    assert waiting(team, "--awaiting-reply", "--contact", "Ada Byron") == [ada]
    assert waiting(team, "--awaiting-reply", "--deal", "Arms") == [ada]
    assert waiting(team, "--awaiting-reply", "--contact", BO) == [bo]
    assert waiting(team, "--awaiting-reply", "--since", "4d") == []
    assert waiting(team, "--awaiting-reply", "--folder", "inbox") == []  # sent mail is in the sent folder


def test_team_adds_colleagues_conversations_they_may_see(team):
    mine = sent(team, "a1", days=5)
    sams = sent(team, "s1", days=5, frm=SAM, subject="Sam's quote")
    hidden = sent(team, "s2", days=5, frm=SAM, subject="Sam's private quote")
    team.ok("--user", SAM, "share", str(hidden), "--private")
    unlinked = sent(team, "s3", days=5, frm=SAM, to=("x@elsewhere.example",), subject="Not linked")
    assert waiting(team, "--awaiting-reply") == [mine]
    got = waiting(team, "--awaiting-reply", "--team")
    assert set(got) == {mine, sams} and hidden not in got and unlinked not in got
    assert team.json("inbox", "--awaiting-reply", "--team", "--count") == {"count": 2}
    assert set(waiting(team, "--awaiting-reply", user=SAM)) == {sams, hidden, unlinked}


# --- unanswered ------------------------------------------------------------------------------------


def test_a_customers_mail_nobody_answered_for_two_days_is_unanswered(team):
    old = received(team, "a1", days=3)
    received(team, "b1", days=1, subject="Fresh")
    assert waiting(team, "--unanswered") == [old]
    assert team.json("inbox", "--unanswered", "--count") == {"count": 1}
    assert len(waiting(team, "--unanswered", "12h")) == 2


def test_a_colleague_who_answered_in_their_own_mailbox_answered_for_the_team(team):
    """Ada wrote to Maria and Sam; Sam answered from his own mailbox, which Maria may see."""
    mine = received(team, "a1", days=4, to=(MARIA, SAM))
    received(team, "a1", days=4, owner=SAM, to=(MARIA, SAM))
    assert waiting(team, "--unanswered") == [mine]
    reply = sent(team, "s1", days=3, frm=SAM, in_reply_to="a1")
    assert waiting(team, "--unanswered") == []
    assert waiting(team, "--unanswered", user=SAM) == []
    # A reply Maria may not see does not answer for her: she learns nothing of Sam's private mail.
    team.ok("--user", SAM, "share", str(reply), "--private")
    assert waiting(team, "--unanswered") == [mine]


def test_a_colleague_writing_last_in_the_thread_is_an_answer(team):
    received(team, "a1", days=4)
    received(team, "a2", days=3, frm=SAM, to=(MARIA, ADA), in_reply_to="a1")  # Sam answered Ada, Maria in copy
    assert waiting(team, "--unanswered") == []


# --- the options themselves ------------------------------------------------------------------------


def test_the_age_is_optional_and_read_with_the_time_grammar(team):
    sent(team, "a1", days=5)
    assert team.json("inbox", "--awaiting-reply", "--json")  # --json right after it: the age is the default
    assert team.json("inbox", "--awaiting-reply=2026-01-01") == []  # a date: older than that
    bad = team("inbox", "--awaiting-reply", "3m")
    assert bad.exit_code == 2 and "3min" in bad.stderr and "3mo" in bad.stderr
    both = team("inbox", "--awaiting-reply", "--unanswered")
    assert both.exit_code == 2 and "not both" in both.stderr


def test_nothing_waiting_says_so(team):
    result = team.ok("inbox", "--awaiting-reply")
    assert "Nothing awaits a reply." in result.stderr
    assert "Nothing is unanswered." in team.ok("inbox", "--unanswered").stderr
