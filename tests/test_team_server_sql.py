"""The sharing law held by PostgreSQL itself: psql as an admin, a colleague or the mail server's role.

docs/spec.md, "The sharing law"; README.md, "Team server (PostgreSQL)". Each test connects with psycopg straight
to the database as one login role, as a person with `psql` would, and never through pdmail:

- ``SELECT`` from every table that holds mail or facts about mail returns only what the law lets
  that person see, and exactly the emails ``pdmail inbox --team --json`` lists for them;
- ``UPDATE`` and ``DELETE`` of another user's mail change nothing;
- switching roles, taking the session of another user, granting oneself a role, switching
  row-level security off, changing or dropping a policy or pdmail's own functions, setting
  session variables, and calling the definer functions with crafted arguments widen nothing.

The mail is the permission matrix's (tests/test_permission_matrix.py: every kind of email for an
admin and a regular user, written out by hand), plus mail accounts, a sync, a queued message and
quarantined messages. It is built once, through pdmail on the test server's superuser connection
(pdmail takes on each user's login there), and each test gets its own copy of it.
"""

from __future__ import annotations

import json
import mailbox
from pathlib import Path

import psycopg
import pytest
import rawdb
from test_permission_matrix import DOMAIN, SEEN_BY_OTHERS, USERS, World, addr
from typer.testing import CliRunner

from pdmail.cli.app import app
from pdmail.store.logins_postgres import CAPTURE_ROLE, MAIL_TABLES, role_names

pytestmark = pytest.mark.postgres

VIEWERS = tuple(USERS)  # maria and ines are admins; sam owns mail; lee owns none
# The world's emails beyond the matrix's, by subject: whose, and whether others see them.
EXTRA = {
    "synced for sam": ("sam", True),  # shared (Sam's default) and linked to Ada as it was synced
    "audited": ("maria", False),  # made private by Maria
}
MTA = "mta@northwind.example"  # the mail server's login, a member of pdmail_capture
STRANGER = "eve@evil.example"


class SqlWorld:
    """The matrix's mail and more, in a database whose name serves as the template of each test's."""

    def __init__(self, server, name: str, home: Path) -> None:
        self.server = server
        self.name = name
        self.home = home
        self.matrix = World(server.url(name), home)

    def build(self) -> None:
        self.matrix.build()
        run = self.matrix.ok
        # Sam's Maildir account, synced once: sync state, locations, a sync run.
        box = self.home / "sam-maildir"
        for sub in ("cur", "new", "tmp"):
            (box / sub).mkdir(parents=True)
        run("account", "add", "sam-box", "--address", addr("sam"), "--maildir", str(box), "--user", addr("sam"))
        mailbox.Maildir(box).add(
            b"From: Ada Byron <ada@acme.example>\r\nTo: Sam <sam@northwind.example>\r\nSubject: synced for sam\r\n"
            b"Date: Tue, 17 Nov 2026 10:00:00 +0000\r\nMessage-ID: <synced.sam@acme.example>\r\n\r\nmatrixword\r\n"
        )
        run("sync", "--user", addr("sam"))
        synced = json.loads(run("search", "synced", "--json", "--user", addr("sam")).stdout)[0]["id"]
        run("read", str(synced), "--user", addr("sam"))  # queued for the server: pending_ops
        # Maria makes a conversation of her own private: its history is in audit_log.
        audited = (
            b"From: Maria <maria@northwind.example>\r\nTo: Ada Byron <ada@acme.example>\r\nSubject: audited\r\n"
            b"Date: Tue, 17 Nov 2026 12:00:00 +0000\r\nMessage-ID: <audited@northwind.example>\r\n\r\nmatrixword\r\n"
        )
        made = json.loads(run("bcc-ingest", "--json", input=audited).stdout)[0]["id"]
        run("share", str(made), "--private", "--user", addr("maria"))
        # Maria's queued message: the outbox and its raw bytes.
        run(
            "account",
            *("add", "maria-imap", "--address", addr("maria"), "--imap-host", "127.0.0.1", "--smtp-host", "127.0.0.1"),
            *("--password-env", "PDMAIL_SQL_UNUSED", "--user", addr("maria")),
        )
        run(
            "send",
            *("--to", "ada@acme.example", "--subject", "queued by maria", "--body", "Later."),
            *("--at", "2031-01-06T09:00", "--user", addr("maria")),
        )
        # Quarantined: a stranger's message (nobody's: admins review it) and one sent under Sam's name.
        for sender, subject in (
            (f"Eve <{STRANGER}>", "from a stranger"),
            (f"Sam <{addr('sam')}>, Eve <{STRANGER}>", "two senders"),
        ):
            raw = (
                f"From: {sender}\r\nTo: capture@bcc.{DOMAIN}\r\nSubject: {subject}\r\n"
                f"Date: Tue, 17 Nov 2026 11:00:00 +0000\r\nMessage-ID: <{subject.replace(' ', '.')}@x>\r\n\r\nhi\r\n"
            ).encode()
            assert self.matrix.run("bcc-ingest", input=raw).exit_code == 3
        for name in USERS:  # every owner's pdmail has caught up with its colleagues' changes
            run("inbox", "--count", "--user", addr(name))


@pytest.fixture(scope="module")
def sql_world(tmp_path_factory, pg_server):
    home = tmp_path_factory.mktemp("sql-world")
    world = SqlWorld(pg_server, pg_server.fresh_database(), home)
    world.build()
    if not pg_server.run_sql("SELECT 1 FROM pg_roles WHERE rolname = %s", (MTA,)):
        pg_server.run_sql(f'CREATE ROLE "{MTA}" LOGIN')
    pg_server.run_sql(f'GRANT {CAPTURE_ROLE} TO "{MTA}"')
    yield world
    pg_server.drop_database(world.name)


class Db:
    """This test's copy of the world: psql as anyone, the whole truth as the superuser, pdmail as a user."""

    def __init__(self, server, name: str, world: SqlWorld) -> None:
        self.server = server
        self.name = name
        self.ids = world.matrix.ids
        self.roles = role_names(world.name)  # a copy's policies name the roles of the database it copies

    def connect(self, role: str):
        return psycopg.connect(self.server.url(self.name, role), autocommit=True)

    def truth(self, sql: str, params=()) -> list[tuple]:
        return [tuple(r) for r in rawdb.rows(self.server.url(self.name), sql, params)]

    def user_id(self, name: str) -> int:
        return self.truth("SELECT id FROM users WHERE email = ?", (addr(name),))[0][0]

    def pdmail_json(self, role: str, *args) -> list | dict:
        env = {"PDMAIL_DB": self.server.url(self.name, role), "PDMAIL_USER": None}
        result = CliRunner().invoke(app, [*args, "--json"], env=env, catch_exceptions=False)
        assert result.exit_code == 0, (role, args, result.stderr)
        return json.loads(result.stdout)

    def visible(self, viewer: str) -> set[int]:
        """The emails the viewer may see, by the hand-written tables (the matrix's and EXTRA)."""
        law = {i for (owner, kind), i in self.ids.items() if owner == viewer or SEEN_BY_OTHERS[kind]}
        extra = {
            r[0]
            for subject, (owner, shown) in EXTRA.items()
            if owner == viewer or shown
            for r in self.truth("SELECT id FROM emails WHERE subject = ?", (subject,))
        }
        return law | extra

    def dump(self) -> str:
        return rawdb.dump(self.server.url(self.name))


@pytest.fixture
def db(sql_world, pg_server):
    """A copy of the world; a copy does not inherit its template's grants on the database itself, so
    they are given again as `pdmail init` gave them: only the users' group and capture connect."""
    name = pg_server.copy_database(sql_world.name)
    roles = role_names(sql_world.name)
    pg_server.run_sql(f'REVOKE CONNECT, TEMPORARY ON DATABASE "{name}" FROM PUBLIC')
    pg_server.run_sql(f'GRANT CONNECT ON DATABASE "{name}" TO "{roles.users}", {CAPTURE_ROLE}')
    yield Db(pg_server, name, sql_world)
    pg_server.drop_database(name)


def rows(conn, sql: str, params=None) -> list[tuple]:
    return conn.execute(sql, params).fetchall()


def refused(conn, sql: str, params=None) -> str:
    """Run a statement that must fail; its error, so a test can say which refusal it expects."""
    with pytest.raises(psycopg.Error) as caught:
        conn.execute(sql, params)
    return str(caught.value)


# --- reading ------------------------------------------------------------------------------------------

# The tables that are their owner's alone, each with a query giving each row's owner.
OWNED = {
    "accounts": "SELECT owner_id FROM accounts",
    "outbox": "SELECT owner_id FROM outbox",
    "sync_folders": "SELECT a.owner_id FROM sync_folders f JOIN accounts a ON a.id = f.account_id",
    "sync_runs": "SELECT a.owner_id FROM sync_runs r JOIN accounts a ON a.id = r.account_id",
    "locations": "SELECT a.owner_id FROM locations l JOIN sync_folders f ON f.id = l.folder_id "
    "JOIN accounts a ON a.id = f.account_id",
}


def test_the_world_holds_every_table_the_law_covers(db):
    """So that the reading tests below look at rows, not at empty tables (these few stay empty here:
    the sync met no failure and no past mail, no template was made, and no captured mail waited for a
    colleague's change: test_team_server.py fills that one)."""
    never_filled = {"fetch_failures", "past_skips", "past_skip_addresses", "templates", "relink_held"}
    empty = [t for t in MAIL_TABLES if t not in never_filled and not db.truth(f"SELECT 1 FROM {t} LIMIT 1")]
    assert empty == []


@pytest.mark.parametrize("viewer", VIEWERS)
def test_select_from_every_mail_table_shows_only_what_the_law_allows(db, viewer):
    me = db.user_id(viewer)
    seen = db.visible(viewer)
    listed = {e["id"] for e in db.pdmail_json(addr(viewer), "inbox", "--team", "--folder", "all", "--limit", "100")}
    assert listed == seen  # pdmail's own listing, through the policies, is the hand-written law
    with db.connect(addr(viewer)) as conn:
        assert {r[0] for r in rows(conn, "SELECT id FROM emails")} == seen
        for table in ("email_search", "email_addresses", "email_contacts"):
            theirs = {r[0] for r in rows(conn, f"SELECT email_id FROM {table}")}
            assert theirs == seen & {r[0] for r in db.truth(f"SELECT email_id FROM {table}")}, table
        threads = {r[0] for r in db.truth("SELECT thread_id FROM emails WHERE id = ANY(?)", (list(seen),))}
        own_threads = {r[0] for r in db.truth("SELECT id FROM threads WHERE owner_id = ?", (me,))}
        assert {r[0] for r in rows(conn, "SELECT id FROM threads")} == threads | own_threads
        assert {r[0] for r in rows(conn, "SELECT DISTINCT owner_id FROM thread_message_ids")} <= {me}
        raws = {
            r[0]
            for r in db.truth(
                "SELECT raw_sha256 FROM emails WHERE id = ANY(?) UNION SELECT wrapper_sha256 FROM emails "
                "WHERE id = ANY(?) AND wrapper_sha256 IS NOT NULL UNION SELECT raw_sha256 FROM outbox WHERE owner_id = ?",
                (list(seen), list(seen), me),
            )
        }
        held = {r[0] for r in rows(conn, "SELECT raw_sha256 FROM quarantine WHERE raw_sha256 IS NOT NULL")}
        assert {r[0] for r in rows(conn, "SELECT sha256 FROM raw_messages")} == raws | held
        for email_id, thread_id in rows(conn, "SELECT email_id, thread_id FROM audit_log"):
            assert email_id in seen if email_id is not None else thread_id in threads | own_threads
        # What is only ever its owner's: accounts and their sync state, the outbox.
        for table, owners in OWNED.items():
            expected = [r for r in db.truth(owners) if r[0] == me]
            assert rows(conn, f"SELECT count(*) FROM {table}")[0][0] == len(expected), table


@pytest.mark.parametrize("viewer", VIEWERS)
def test_the_quarantine_shows_each_login_its_own_and_admins_nobodys(db, viewer):
    with db.connect(addr(viewer)) as conn:
        subjects = {r[0] for r in rows(conn, "SELECT subject FROM quarantine")}
    expected = {"sam": {"two senders"}, "maria": {"from a stranger"}, "ines": {"from a stranger"}, "lee": set()}
    assert subjects == expected[viewer]


def test_the_mail_servers_role_reads_no_mail_at_all(db):
    with db.connect(MTA) as conn:
        for table in MAIL_TABLES:
            try:
                found = rows(conn, f"SELECT count(*) FROM {table}")[0][0]
            except psycopg.errors.InsufficientPrivilege:
                continue
            assert found == 0, table


# --- writing ------------------------------------------------------------------------------------------

# Every way of changing someone else's email row, thread, index, history, settings and quarantine with
# plain SQL. On mail a colleague may see, re-linking may change its automatic links (a contact or deal
# change of theirs, which never shows it to more people): those statements go to invisible mail only.
TAMPERING = (
    "UPDATE emails SET visibility = 'shared' WHERE id = %(id)s",
    "UPDATE emails SET visibility = 'private' WHERE id = %(id)s",
    "UPDATE emails SET is_read = 1 - is_read, folder = 'trash', subject = 'changed' WHERE id = %(id)s",
    "UPDATE emails SET owner_id = %(me)s WHERE id = %(id)s",
    "UPDATE emails SET is_deal_proposed = 0, deal_id = 1 WHERE id = %(id)s AND NOT %(visible)s",
    "UPDATE emails SET has_link = 1 - has_link WHERE id = %(id)s",
    "DELETE FROM emails WHERE id = %(id)s",
    "UPDATE threads SET visibility = 'shared', owner_id = %(me)s WHERE id = %(thread)s",
    "UPDATE threads SET visibility = 'shared' WHERE owner_id <> %(me)s",
    "DELETE FROM threads WHERE owner_id <> %(me)s",
    "DELETE FROM email_contacts WHERE email_id = %(id)s AND is_manual = 1",
    "DELETE FROM email_contacts WHERE email_id = %(id)s AND NOT %(visible)s",
    "UPDATE email_contacts SET is_proposed = 0 WHERE email_id = %(id)s AND NOT %(visible)s",
    "INSERT INTO email_contacts (email_id, contact_id, rule) SELECT %(id)s, 2, 'in psql' WHERE NOT %(visible)s",
    "INSERT INTO email_contacts (email_id, contact_id, rule, is_manual) VALUES (%(id)s, 2, 'in psql', 1)",
    "DELETE FROM email_search WHERE email_id = %(id)s",
    "DELETE FROM email_addresses WHERE email_id = %(id)s",
    "UPDATE email_addresses SET address = 'x@x.example' WHERE email_id = %(id)s",
    "INSERT INTO audit_log (at_utc, user_id, action, email_id) VALUES ('x', %(owner)s, 'share', %(id)s)",
    "DELETE FROM audit_log WHERE email_id = %(id)s",
    "UPDATE outbox SET status = 'cancelled' WHERE owner_id <> %(me)s",
    "DELETE FROM accounts WHERE owner_id <> %(me)s",
    "UPDATE sync_folders SET last_uid = 0 WHERE NOT pdmail_owns_account(account_id)",
    "UPDATE user_settings SET value = 'on' WHERE user_id <> %(me)s",
    "INSERT INTO user_settings (user_id, key, value) VALUES (%(owner)s, 'accept-colleague-links', 'on')",
    "UPDATE relink_progress SET request_id = 0 WHERE user_id <> %(me)s",
    "UPDATE quarantine SET status = 'released' WHERE owner_id <> %(me)s OR from_email = %(owner_address)s",
    "DELETE FROM quarantine WHERE owner_id <> %(me)s OR from_email = %(owner_address)s",
    "DELETE FROM raw_messages WHERE sha256 = (SELECT raw_sha256 FROM emails WHERE id = %(id)s)",
)


@pytest.mark.parametrize("viewer", ("sam", "ines", "lee"))
def test_update_and_delete_of_another_users_mail_change_nothing(db, viewer):
    """Against every email of another user, those the viewer may see (whose flags, visibility, owner
    and links chosen by hand stay the owner's) and those they may not."""
    me = db.user_id(viewer)
    seen = db.visible(viewer)
    before = db.dump()
    with db.connect(addr(viewer)) as conn:
        for (owner, _kind), email_id in db.ids.items():
            if owner == viewer:
                continue
            thread = db.truth("SELECT thread_id FROM emails WHERE id = ?", (email_id,))[0][0]
            params = {
                "id": email_id,
                "thread": thread,
                "me": me,
                "owner": db.user_id(owner),
                "owner_address": addr(owner),
                "visible": email_id in seen,
            }
            for statement in TAMPERING:
                try:
                    conn.execute(statement, params)
                except psycopg.Error:
                    pass  # refused outright: as good as changing nothing
    assert db.dump() == before


def test_the_owner_is_not_hampered(db):
    """The same statements on one's own mail work: the policies stop others, not the owner."""
    email_id = db.ids[("sam", "private_linked")]
    with db.connect(addr("sam")) as conn:
        assert (
            conn.execute("UPDATE emails SET is_read = 1, folder = 'archive' WHERE id = %s", (email_id,)).rowcount == 1
        )
        assert (
            conn.execute(
                "UPDATE threads SET visibility = 'shared' WHERE id = (SELECT thread_id FROM emails WHERE id = %s)",
                (email_id,),
            ).rowcount
            == 1
        )


# --- the flag the law reads ---------------------------------------------------------------------------

# Emails whose has_link disagrees with their links (a contact or organization link that counts).
FLAG_MISMATCHES = (
    "SELECT id FROM emails e WHERE has_link != CASE WHEN EXISTS (SELECT 1 FROM email_contacts c "
    "WHERE c.email_id = e.id AND c.is_proposed = 0) OR EXISTS (SELECT 1 FROM email_orgs o "
    "WHERE o.email_id = e.id AND o.is_proposed = 0) THEN 1 ELSE 0 END"
)


def test_the_flag_agrees_with_the_links_of_mail_written_by_logins_and_the_mail_server(db):
    """The world was written by each user's login, their colleagues' re-links and the mail server's
    role through its functions: the database kept every email's flag, as none of them may write it."""
    assert db.truth(FLAG_MISMATCHES) == []
    assert db.truth("SELECT count(*) FROM emails WHERE has_link = 1")[0][0] > 0


def test_a_colleague_changing_the_links_of_mail_they_see_changes_its_flag(db):
    """Sam may re-link Maria's mail he sees (its automatic links only); the flag, which he may not
    write, follows: Maria's email linked to an organization alone leaves his view once that link is
    only proposed."""
    email_id = db.ids[("maria", "shared_org")]
    assert db.truth("SELECT has_link FROM emails WHERE id = ?", (email_id,)) == [(1,)]
    with db.connect(addr("sam")) as conn:
        changed = conn.execute(
            "UPDATE email_orgs SET is_proposed = 1 WHERE email_id = %s AND is_manual = 0", (email_id,)
        ).rowcount
        assert changed == 1
        assert rows(conn, "SELECT count(*) FROM emails WHERE id = %s", (email_id,)) == [(0,)]
    assert db.truth("SELECT has_link FROM emails WHERE id = ?", (email_id,)) == [(0,)]
    assert db.truth(FLAG_MISMATCHES) == []


def test_the_flag_is_kept_by_the_definer_role_alone(db):
    """The trigger function runs as the database's definer role, with a search path of its own, and
    nobody else may run, change or replace it."""
    owner, definer, path, executable = db.truth(
        "SELECT pg_get_userbyid(p.proowner), p.prosecdef, p.proconfig, p.proacl FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' AND p.proname = 'pdmail_keep_has_link'"
    )[0]
    assert owner == db.roles.definer and definer
    assert path == ["search_path=pg_catalog, public, pg_temp"]
    assert executable == [f"{db.roles.definer}=X/{db.roles.definer}"]  # PUBLIC's right to run it taken away


# --- no way round ------------------------------------------------------------------------------------


def what_a_login_sees(db: Db, role: str) -> dict[str, set]:
    with db.connect(role) as conn:
        return {
            "emails": {r[0] for r in rows(conn, "SELECT id FROM emails")},
            "threads": {r[0] for r in rows(conn, "SELECT id FROM threads")},
            "raw": {r[0] for r in rows(conn, "SELECT sha256 FROM raw_messages")},
            "quarantine": {r[0] for r in rows(conn, "SELECT id FROM quarantine")},
            "outbox": {r[0] for r in rows(conn, "SELECT id FROM outbox")},
        }


def escalations(db: Db, viewer: str) -> list[str]:
    other = addr("maria" if viewer != "maria" else "sam")
    r = db.roles
    return [
        f'SET ROLE "{r.tables}"',
        f'SET ROLE "{r.definer}"',
        f'SET ROLE "{other}"',
        f"SET ROLE {CAPTURE_ROLE}",
        f'SET SESSION AUTHORIZATION "{other}"',
        "SET SESSION AUTHORIZATION pdmail_test_super",
        f'GRANT "{r.tables}" TO "{addr(viewer)}"',
        f'GRANT "{r.definer}" TO "{addr(viewer)}"',
        f'GRANT "{other}" TO "{addr(viewer)}"',
        f'ALTER ROLE "{addr(viewer)}" BYPASSRLS',
        f'ALTER ROLE "{addr(viewer)}" CREATEROLE',
        f'ALTER ROLE "{addr(viewer)}" SUPERUSER',
        "ALTER TABLE emails DISABLE ROW LEVEL SECURITY",
        "ALTER TABLE emails NO FORCE ROW LEVEL SECURITY",
        f'ALTER TABLE emails OWNER TO "{addr(viewer)}"',
        "ALTER POLICY pdmail_read ON emails USING (true)",
        "DROP POLICY pdmail_read ON emails",
        "CREATE POLICY everything ON emails FOR SELECT USING (true)",
        "DROP TRIGGER pdmail_guard ON emails",
        "DROP TRIGGER pdmail_keep_has_link ON email_contacts",
        "ALTER TABLE email_orgs DISABLE TRIGGER pdmail_keep_has_link",
        "CREATE OR REPLACE FUNCTION pdmail_keep_has_link() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END'",
        "CREATE OR REPLACE FUNCTION pdmail_me() RETURNS bigint LANGUAGE sql AS 'SELECT 1::bigint'",
        "ALTER FUNCTION pdmail_me() OWNER TO CURRENT_USER",
        "CREATE FUNCTION public.pdmail_counts_link(integer) RETURNS boolean LANGUAGE sql AS 'SELECT true'",
        "CREATE TEMP TABLE emails (id bigint)",
        "CREATE SCHEMA mine",
        "UPDATE users SET db_role = CAST(session_user AS text), is_admin = 1 WHERE id = 1",
        "INSERT INTO users (email, name, created_utc, db_role) VALUES ('x@x.example', 'x', 'x', 'x')",
        "SELECT pdmail_grant_login(1, CAST(session_user AS text))",
    ]


SESSION_SETTINGS = (
    "SET pdmail.viewer_id = '1'",
    "SELECT set_config('pdmail.viewer', '1', false)",
    "SET search_path = pg_temp, public",
    "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ UNCOMMITTED",
)


@pytest.mark.parametrize("viewer", ("sam", "maria", "lee"))
def test_no_statement_a_login_may_send_widens_what_it_sees(db, viewer):
    role = addr(viewer)
    before = what_a_login_sees(db, role)
    everything = db.dump()
    with db.connect(role) as conn:
        for statement in escalations(db, viewer):
            refused(conn, statement)
            assert what_a_login_sees_on(conn) == before, statement
        for statement in SESSION_SETTINGS:
            conn.execute(statement)
            assert what_a_login_sees_on(conn) == before, statement
        conn.execute(f'SET ROLE "{db.roles.users}"')  # the one role it may become: its own group
        assert what_a_login_sees_on(conn) == before
        conn.execute("RESET ROLE")
        conn.execute("SET row_security = off")  # then a query the policies govern fails, rather than widens
        assert "row-level security" in refused(conn, "SELECT id FROM emails")
        conn.execute("RESET row_security")
    assert what_a_login_sees(db, role) == before
    assert db.dump() == everything


def what_a_login_sees_on(conn) -> dict[str, set]:
    return {
        "emails": {r[0] for r in rows(conn, "SELECT id FROM emails")},
        "threads": {r[0] for r in rows(conn, "SELECT id FROM threads")},
        "raw": {r[0] for r in rows(conn, "SELECT sha256 FROM raw_messages")},
        "quarantine": {r[0] for r in rows(conn, "SELECT id FROM quarantine")},
        "outbox": {r[0] for r in rows(conn, "SELECT id FROM outbox")},
    }


@pytest.mark.parametrize("viewer", ("sam", "ines"))
def test_the_definer_functions_answer_crafted_arguments_with_nothing_more(db, viewer):
    """Every function a login may call, with the ids, hashes and addresses of mail it may not see."""
    me = db.user_id(viewer)
    seen = db.visible(viewer)
    everything = db.dump()
    hidden = [i for i in db.ids.values() if i not in seen]
    assert hidden
    with db.connect(addr(viewer)) as conn:
        for email_id in db.ids.values():
            assert rows(conn, "SELECT pdmail_sees_email(%s)", (email_id,))[0][0] == (email_id in seen)
        for email_id in hidden:
            owner, sha, thread = db.truth(
                "SELECT owner_id, raw_sha256, thread_id FROM emails WHERE id = ?", (email_id,)
            )[0]
            assert rows(conn, "SELECT pdmail_counts_link(%s)", (email_id,))[0][0] is False or email_id in seen
            assert rows(conn, "SELECT pdmail_owns_email(%s), pdmail_owns_thread(%s)", (email_id, thread))[0] == (
                False,
                False,
            )
            assert rows(conn, "SELECT pdmail_sees_thread(%s)", (thread,))[0][0] is False
            assert rows(conn, "SELECT pdmail_sees_raw(%s)", (sha,))[0][0] is False
            assert rows(conn, "SELECT pdmail_forget_raw(%s)", (sha,))[0][0] is False
            assert rows(conn, "SELECT pdmail_leave_quarantine(%s)", (email_id,))[0][0] == 0
            assert rows(conn, "SELECT pdmail_sees_held(%s, %s)", (owner, addr("maria")))[0][0] is False
        assert rows(conn, "SELECT pdmail_forget_contact_links(1)")[0][0] == 0  # Ada still exists
        for account_id in (r[0] for r in db.truth("SELECT id FROM accounts WHERE owner_id <> ?", (me,))):
            assert rows(conn, "SELECT pdmail_owns_account(%s)", (account_id,))[0][0] is False
        for statement in (
            "SELECT pdmail_add_user('x@northwind.example', 'X', true, NULL)",
            "SELECT pdmail_remove_user(1)",
        ):
            if viewer == "sam":
                refused(conn, statement)
    assert db.dump() == everything
