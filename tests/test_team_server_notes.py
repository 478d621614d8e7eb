"""What the database notes for itself about colleagues' mail is not read by a user's login.

README.md, "Team server (PostgreSQL)": a private email is its owner's alone, even at the SQL prompt.
The database keeps notes on each email so that the inbox's views answer fast (migration 18); one of
them, whether another user's conversation holds the email's Message-ID, is a fact about that
colleague's mail. Each test here connects with psycopg as one user's login, as a person with `psql`
would, after mail was captured through Smart BCC as in tests/test_cli_waiting.py.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest
import rawdb
from test_cli_waiting import BO, MARIA, SAM, received, sent
from test_cli_waiting import team as team  # the fixture, used here as it is there

from pdmail.store.migrations_postgres import HIDDEN_EMAIL_COLUMNS_020

pytestmark = [pytest.mark.both_engines, pytest.mark.postgres_only]

ZED = "zed@elsewhere.example"  # nobody's contact: mail from him is linked to nothing


def login(db_target: str, address: str):
    """psql's view of the team server as the user whose login is ``address``."""
    role = rawdb.rows(db_target, "SELECT db_role FROM users WHERE email = ?", (address,))[0][0]
    parts = urlsplit(db_target)
    url = urlunsplit(parts._replace(netloc=quote(role, safe="") + "@" + parts.netloc.split("@", 1)[1]))
    return psycopg.connect(url, autocommit=True)


def readable_columns(conn) -> list[str]:
    """The columns of emails this login may read."""
    return [
        r[0]
        for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = 'emails' AND has_column_privilege('emails', column_name, 'SELECT') "
            "ORDER BY ordinal_position"
        )
    ]


def what_she_reads_of(conn, email_id: int) -> dict:
    columns = readable_columns(conn)
    row = conn.execute(f"SELECT {', '.join(columns)} FROM emails WHERE id = %s", (email_id,)).fetchone()
    return dict(zip(columns, row, strict=True))


def test_a_colleagues_private_conversation_holding_her_message_changes_nothing_she_reads(team, db_target):
    """Ada wrote to Maria and Sam. Sam keeps his mail private: his copy, and his answer. Maria, at the
    SQL prompt, reads every column of her own email she may read, before and after: nothing tells
    her that Sam's conversation holds the message, and the database's note of it is refused."""
    team.ok("--user", SAM, "settings", "set", "default-visibility", "private")
    mine = received(team, "a1", days=4, to=(MARIA, SAM))
    with login(db_target, MARIA) as conn:
        before = what_she_reads_of(conn, mine)
    theirs = received(team, "a1", days=4, owner=SAM, to=(MARIA, SAM))
    sent(team, "s1", days=3, frm=SAM, in_reply_to="a1")
    private = rawdb.rows(
        db_target, "SELECT visibility, held_by_colleague FROM emails WHERE id IN (?, ?)", (theirs, mine)
    )
    assert sorted(tuple(r) for r in private) == [("private", 1), ("shared", 1)]  # the notes exist, and are true
    with login(db_target, MARIA) as conn:
        assert what_she_reads_of(conn, mine) == before
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT held_by_colleague FROM emails WHERE id = %s", (mine,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM emails WHERE held_by_colleague = 1")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT to_jsonb(e) FROM emails e WHERE id = %s", (mine,))
        # Nor does a change of her own email give it back.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE emails SET is_read = 1 WHERE id = %s RETURNING held_by_colleague", (mine,))
    # pdmail itself still answers as before: Sam's private answer does not answer for Maria.
    assert [e["id"] for e in team.json("--user", MARIA, "inbox", "--unanswered")] == [mine]


def test_a_login_reads_every_column_of_an_email_but_the_databases_notes(team, db_target):
    """The users' group reads emails column by column since migration 20: a column a later migration
    adds must be granted too, or pdmail's own reads would be refused. Only the notes stay hidden."""
    with login(db_target, SAM) as conn:
        every = [
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = 'emails' ORDER BY ordinal_position"
            )
        ]
        assert readable_columns(conn) == [c for c in every if c not in HIDDEN_EMAIL_COLUMNS_020]
    assert HIDDEN_EMAIL_COLUMNS_020 == ("held_by_colleague",)


def test_the_answered_elsewhere_function_answers_only_for_mail_the_caller_may_see(team, db_target):
    """Sam's conversation: his mail to Bo (shared, linked to Bo: Maria may see it), then a message
    from Zed, who is nobody's contact (shared but linked to nothing: Maria may not see it). Maria
    knows Zed's Message-ID; she may ask the database which of the emails she sees were answered
    elsewhere, and nothing about a Message-ID, an owner or a date of her choosing."""
    answer = sent(team, "s1", days=5, frm=SAM, to=(BO,))
    hidden = received(team, "z1", days=4, owner=SAM, frm=ZED, to=(SAM,), in_reply_to="s1")
    truth = rawdb.rows(db_target, "SELECT id, message_id_norm, thread_id, owner_id FROM emails ORDER BY id")
    assert [r[0] for r in truth] == [answer, hidden] and truth[0][2] == truth[1][2]
    maria = rawdb.rows(db_target, "SELECT id FROM users WHERE email = ?", (MARIA,))[0][0]
    with login(db_target, MARIA) as conn:
        assert [r[0] for r in conn.execute("SELECT id FROM emails")] == [answer]
        with pytest.raises(psycopg.errors.UndefinedFunction):  # any Message-ID, owner and date she chose
            conn.execute("SELECT pdmail_answered_elsewhere(%s, %s, %s)", (truth[1][1], maria, "1970-01-01T00:00:00Z"))
        found = conn.execute("SELECT * FROM pdmail_answered_elsewhere('9999-12-31T23:59:59Z', true)").fetchall()
        assert found == []
