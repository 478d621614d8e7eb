"""The team server's logins: who you are is the PostgreSQL role you log in as (README.md, "Team server (PostgreSQL)").

Each test sets a server up as the README does, from nothing: a database that belongs to an operator
role with CREATEROLE and no superuser power, which runs `pdmail init`; the admin and colleagues then
connect as their own login roles. The test server trusts its Unix socket (tests/pgserver.py), so a
URL naming a role logs in as it without a password; a real server asks for one (.pgpass, a service
file, PGPASSWORD). Roles belong to the whole cluster, so every test names its operator after its own
database, while people keep their addresses (and so their roles) from test to test, as a person does
across the databases of one cluster.
"""

from __future__ import annotations

import itertools
import json

import psycopg
import pytest
import rawdb
from typer.testing import CliRunner

from pdmail.cli.app import app
from pdmail.store.logins_postgres import CAPTURE_ROLE, MAIL_TABLES, role_names

pytestmark = pytest.mark.postgres

MARIA = "maria@northwind.example"
SAM = "sam@northwind.example"
LEE = "lee@northwind.example"
_operators = itertools.count(1)


class Team:
    """One pdmail database on the test server, and pdmail run as any role of it."""

    def __init__(self, server, name: str, operator: str) -> None:
        self.server = server
        self.name = name
        self.operator = operator
        self.roles = role_names(name)
        self.runner = CliRunner()

    def url(self, role: str) -> str:
        return self.server.url(self.name, role)

    def run(self, role: str, *args, input: bytes | str | None = None, env: dict | None = None):
        environment = {"PDMAIL_DB": self.url(role), "PDMAIL_USER": None, **(env or {})}
        return self.runner.invoke(app, [str(a) for a in args], input=input, env=environment, catch_exceptions=False)

    def ok(self, role: str, *args, **kw):
        result = self.run(role, *args, **kw)
        assert result.exit_code == 0, (role, args, result.stdout, result.stderr)
        return result

    def json(self, role: str, *args, **kw):
        return json.loads(self.ok(role, *args, "--json", **kw).stdout)

    def connect(self, role: str):
        """psql's view: a plain connection as ``role``, rows as tuples."""
        return psycopg.connect(self.url(role), autocommit=True)

    def superuser_sql(self, sql: str, params=()):
        return rawdb.rows(self.server.url(self.name), sql, params)


def new_operator(server) -> str:
    """A role like the README's pdmail_owner: it logs in, may create roles, and is no superuser."""
    name = f"northwind_owner_{next(_operators)}"
    server.run_sql(f'CREATE ROLE "{name}" LOGIN CREATEROLE')
    return name


@pytest.fixture
def team(pg_server):
    """A database made by its operator with `pdmail init`: Maria is its admin, Sam a colleague."""
    operator = new_operator(pg_server)
    name = pg_server.fresh_database(owner=operator)
    t = Team(pg_server, name, operator)
    t.ok(operator, "init", "--name", "Maria Lopez", "--email", MARIA, "--company", "Northwind")
    t.ok(MARIA, "user", "add", SAM, "--name", "Sam Lee")
    yield t
    pg_server.drop_database(name)
    pg_server.run_sql(f'DROP ROLE IF EXISTS "{operator}"')


def message(sender: str, subject: str, to: str = "Ada <ada@acme.example>") -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: Mon, 16 Nov 2026 09:00:00 +0000\r\n"
        f"Message-ID: <{abs(hash((sender, subject)))}@northwind.example>\r\n\r\nHello.\r\n"
    ).encode()


# --- init: the roles a team server is made of -------------------------------------------------------


def role_row(team: Team, role: str):
    found = team.superuser_sql(
        "SELECT rolcanlogin, rolsuper, rolcreaterole, rolbypassrls, rolcreatedb FROM pg_roles WHERE rolname = ?",
        (role,),
    )
    return found[0] if found else None


def test_init_makes_a_table_owner_nobody_logs_in_as_and_a_login_for_the_admin(team):
    for role in (team.roles.tables, team.roles.users, team.roles.definer, CAPTURE_ROLE):
        assert tuple(role_row(team, role)) == (False, False, False, False, False), role
    owners = {r[0] for r in team.superuser_sql("SELECT tableowner FROM pg_tables WHERE schemaname = 'public'")}
    assert owners == {team.roles.tables}
    forced = {
        r[0] for r in team.superuser_sql("SELECT relname FROM pg_class WHERE relforcerowsecurity AND relkind = 'r'")
    }
    assert forced == set(MAIL_TABLES)
    # The admin logs in as their own role, which can do nothing beyond an ordinary login.
    assert tuple(role_row(team, MARIA)) == (True, False, False, False, False)
    assert team.superuser_sql("SELECT db_role FROM users WHERE email = ?", (MARIA,))[0][0] == MARIA
    assert team.superuser_sql("SELECT pg_has_role(?, ?, 'MEMBER')", (MARIA, team.roles.users))[0][0]
    assert not team.superuser_sql("SELECT pg_has_role(?, ?, 'MEMBER')", (MARIA, team.roles.tables))[0][0]
    # Nobody but the users' group and the mail servers' may connect to the database.
    assert not team.superuser_sql("SELECT has_database_privilege('public', ?, 'CONNECT')", (team.name,))[0][0]


def test_the_operator_is_no_pdmail_user(team):
    result = team.run(team.operator, "inbox")
    assert result.exit_code == 2
    assert f"the role {team.operator} you logged in to" in result.stderr and "no pdmail user's login" in result.stderr


# --- who you are --------------------------------------------------------------------------------------


def test_who_you_are_is_the_role_you_logged_in_as(team):
    team.ok(SAM, "bcc-ingest", input=message(f"Sam <{SAM}>", "Sam's own"))
    assert [e["owner"] for e in team.json(SAM, "inbox", "--folder", "all")] == [SAM]
    assert team.json(SAM, "inbox", "--folder", "all", "--user", SAM)  # naming yourself is fine
    for claim in (["--user", MARIA], ["--user", "1"], ["--user", "Maria Lopez"]):
        refused = team.run(SAM, "inbox", *claim)
        assert refused.exit_code == 2, claim
        assert refused.stderr.startswith("Error: you are logged in to ") and f"as {SAM}, the login of {SAM}" in (
            refused.stderr
        )
        assert "--user (or PDMAIL_USER)" in refused.stderr and refused.stdout == ""
    by_env = team.run(SAM, "settings", "set", "default-visibility", "private", env={"PDMAIL_USER": MARIA})
    assert by_env.exit_code == 2 and "names someone else" in by_env.stderr
    assert team.superuser_sql("SELECT count(*) FROM user_settings")[0][0] == 0  # nothing was done as anyone


def test_a_login_that_is_no_users_is_told_so(team, pg_server):
    if not pg_server.run_sql("SELECT 1 FROM pg_roles WHERE rolname = 'mta@northwind.example'"):
        pg_server.run_sql('CREATE ROLE "mta@northwind.example" LOGIN')
    pg_server.run_sql(f'GRANT {CAPTURE_ROLE} TO "mta@northwind.example"')
    result = team.run("mta@northwind.example", "inbox", "--user", MARIA)
    assert result.exit_code == 2, result.stderr
    assert "the role mta@northwind.example you logged in to" in result.stderr


def test_a_role_outside_the_team_cannot_even_connect(team, pg_server):
    if not pg_server.run_sql("SELECT 1 FROM pg_roles WHERE rolname = 'outsider'"):
        pg_server.create_role("outsider")
    result = team.run("outsider", "inbox")
    assert result.exit_code == 2
    assert "permission denied for database" in result.stderr


# --- users come and go through the database's own functions -----------------------------------------


def test_an_admin_adds_users_without_being_able_to_make_roles_herself(team):
    made = team.ok(MARIA, "user", "add", LEE, "--name", "Lee")
    assert f'Their login is the PostgreSQL role "{LEE}"' in made.stderr
    assert tuple(role_row(team, LEE)) == (True, False, False, False, False)
    assert team.json(LEE, "user", "list")[-1]["login"] == LEE
    with team.connect(MARIA) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute('CREATE ROLE "made-by-maria" LOGIN')
    with team.connect(MARIA) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(f'GRANT "{team.roles.tables}" TO "{MARIA}"')


def test_only_an_admin_adds_or_removes_users_even_with_sql(team):
    refused = team.run(SAM, "user", "add", LEE, "--name", "Lee")
    assert refused.exit_code == 5 and "only an admin" in refused.stderr
    with team.connect(SAM) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="only an admin can add users"):
            conn.execute("SELECT pdmail_add_user(%s, 'Lee', true, NULL)", (LEE,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="only an admin can remove users"):
            conn.execute("SELECT pdmail_remove_user(1)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied for function"):
            conn.execute("SELECT pdmail_grant_login(1, %s)", (SAM,))  # Sam as Maria's login
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE users SET is_admin = 1, db_role = %s WHERE id = 1", (SAM,))
    assert team.superuser_sql("SELECT email, is_admin, db_role FROM users ORDER BY id") == [
        (MARIA, 1, MARIA),
        (SAM, 0, SAM),
    ]


def test_an_existing_role_can_be_a_users_login_unless_it_may_do_more(team, pg_server):
    if not pg_server.run_sql("SELECT 1 FROM pg_roles WHERE rolname = 'lee_login'"):
        pg_server.create_role("lee_login")
    team.ok(MARIA, "user", "add", LEE, "--name", "Lee", "--db-role", "lee_login")
    assert team.json("lee_login", "user", "list")[-1] == {
        "id": 3,
        "email": LEE,
        "name": "Lee",
        "is_admin": False,
        "alt_addresses": [],
        "default": False,
        "login": "lee_login",
        "removed": False,
    }
    for role, words in (
        ("pdmail_test_super", "may do more than a pdmail user may"),
        (team.operator, "is reserved"),
        (team.roles.tables, "is reserved"),
        (CAPTURE_ROLE, "is reserved"),
        ("pg_monitor", "is reserved"),
        (SAM, "already the login of another user"),
    ):
        refused = team.run(MARIA, "user", "add", "ann@northwind.example", "--name", "Ann", "--db-role", role)
        assert refused.exit_code == 2, (role, refused.stderr)
        assert words in refused.stderr, role
    assert len(team.json(MARIA, "user", "list")) == 3


def test_an_address_too_long_for_a_role_name_needs_one_given(team, pg_server):
    long_address = "a" * 60 + "@northwind.example"
    refused = team.run(MARIA, "user", "add", long_address, "--name", "Long")
    assert refused.exit_code == 2 and "longer than the 63 bytes PostgreSQL allows" in refused.stderr
    assert len(team.json(MARIA, "user", "list")) == 2
    if not pg_server.run_sql("SELECT 1 FROM pg_roles WHERE rolname = 'long_login'"):
        pg_server.create_role("long_login")
    team.ok(MARIA, "user", "add", long_address, "--name", "Long", "--db-role", "long_login")


def test_a_removed_user_loses_the_login_and_keeps_the_mail(team):
    team.ok(SAM, "bcc-ingest", input=message(f"Sam <{SAM}>", "Sam's quote"))
    # Ada became a contact as the mail came in: Sam's mail is shared and linked, seen by the team.
    assert [e["subject"] for e in team.json(MARIA, "inbox", "--team", "--folder", "all")] == ["Sam's quote"]
    assert team.run(MARIA, "user", "remove", MARIA).exit_code == 2  # not yourself
    assert team.run(SAM, "user", "remove", MARIA).exit_code == 5
    team.ok(MARIA, "user", "remove", SAM)
    gone = team.run(SAM, "inbox")
    assert gone.exit_code == 2 and "permission denied for database" in gone.stderr
    kept = team.json(MARIA, "inbox", "--team", "--folder", "all")
    assert [(e["subject"], e["owner"]) for e in kept] == [("Sam's quote", SAM)]
    assert team.json(MARIA, "user", "list")[1]["removed"] is True
    assert role_row(team, SAM) is not None  # the role stays: it may log in to other databases


# --- several pdmail databases in one cluster ----------------------------------------------------------


def test_two_databases_in_one_cluster_keep_apart(team, pg_server):
    operator = new_operator(pg_server)
    other = Team(pg_server, pg_server.fresh_database(owner=operator), operator)
    try:
        other.ok(operator, "init", "--name", "Maria Lopez", "--email", MARIA, "--company", "Staging")
        other.ok(MARIA, "user", "add", SAM, "--name", "Sam Lee")
        team.ok(SAM, "bcc-ingest", input=message(f"Sam <{SAM}>", "only in the first"))
        other.ok(SAM, "bcc-ingest", input=message(f"Sam <{SAM}>", "only in the second"))
        assert [e["subject"] for e in team.json(SAM, "inbox", "--folder", "all")] == ["only in the first"]
        assert [e["subject"] for e in other.json(SAM, "inbox", "--folder", "all")] == ["only in the second"]
        team.ok(MARIA, "user", "remove", SAM)
        assert team.run(SAM, "inbox").exit_code == 2
        still = other.json(SAM, "inbox", "--folder", "all")
        assert [e["subject"] for e in still] == ["only in the second"]  # still theirs there
        assert other.roles != team.roles
    finally:
        pg_server.drop_database(other.name)


def test_init_refuses_roles_left_by_an_earlier_database_of_the_same_name(pg_server):
    operator = new_operator(pg_server)
    name = pg_server.fresh_database(owner=operator)
    leftover = role_names(name).users
    pg_server.run_sql(f'CREATE ROLE "{leftover}" NOLOGIN')
    try:
        t = Team(pg_server, name, operator)
        refused = t.run(operator, "init", "--name", "M", "--email", MARIA)
        assert refused.exit_code == 2 and f"the roles {leftover} already exist" in refused.stderr
        assert rawdb.tables(pg_server.url(name)) == []
    finally:
        pg_server.drop_database(name)
        pg_server.run_sql(f'DROP ROLE IF EXISTS "{leftover}"')


# --- a team server made before logins ------------------------------------------------------------------


def schema_12_database(pg_server, operator: str) -> str:
    """A database made by the pdmail of schema 12 (no logins), owned by ``operator``, with two users."""
    name = pg_server.fresh_database(owner=operator)
    url = pg_server.url(name, operator)
    rawdb.postgres_schema_up_to(url, 12)
    rawdb.execute(url, "INSERT INTO company (id, name, created_utc) VALUES (1, 'Northwind', '2026-01-01T00:00:00Z')")
    for email, admin in ((MARIA, 1), (SAM, 0)):
        rawdb.execute(
            url,
            "INSERT INTO users (email, name, is_admin, created_utc) VALUES (?, ?, ?, '2026-01-01T00:00:00Z')",
            (email, email.split("@")[0], admin),
        )
    rawdb.execute(url, "INSERT INTO app_state (key, value) VALUES ('default_user', ?)", (MARIA,))
    return name


def test_an_older_team_server_is_upgraded_only_by_an_owner_who_may_make_roles(pg_server):
    operator = f"northwind_owner_{next(_operators)}"
    pg_server.run_sql(f'CREATE ROLE "{operator}" LOGIN')  # as the README's createuser made it: no CREATEROLE
    name = schema_12_database(pg_server, operator)
    t = Team(pg_server, name, operator)
    try:
        before = rawdb.dump(pg_server.url(name))
        refused = t.run(operator, "user", "list")
        assert refused.exit_code == 2
        assert f'ALTER ROLE "{operator}" CREATEROLE' in refused.stderr and "schema 14" in refused.stderr
        assert rawdb.dump(pg_server.url(name)) == before
        pg_server.run_sql(f'ALTER ROLE "{operator}" CREATEROLE')
        t.ok(operator, "user", "list")
        assert t.superuser_sql("SELECT email, db_role FROM users ORDER BY id") == [(MARIA, MARIA), (SAM, SAM)]
        assert t.json(SAM, "inbox") == []
        assert [u["login"] for u in t.json(MARIA, "user", "list")] == [MARIA, SAM]
    finally:
        pg_server.drop_database(name)
        pg_server.run_sql(f'DROP ROLE IF EXISTS "{operator}"')


def test_only_the_operator_upgrades_a_team_server_and_its_steps_write_past_the_policies(team, monkeypatch):
    """A pdmail one migration newer than this database, whose step changes every user's email."""
    from pdmail.store import migrations, migrations_postgres

    team.ok(SAM, "bcc-ingest", input=message(f"Sam <{SAM}>", "before the upgrade"))

    def m014(db) -> None:
        db.execute("UPDATE emails SET subject = subject || ' (upgraded)'")

    newer = len(migrations.MIGRATIONS) + 1
    monkeypatch.setattr(migrations_postgres, "MIGRATIONS", [*migrations.MIGRATIONS, ("014_pretend", None)])
    monkeypatch.setattr(migrations_postgres, "SCHEMA_VERSION", newer)
    monkeypatch.setitem(migrations_postgres.STEPS, newer, m014)
    refused = team.run(SAM, "inbox")
    assert refused.exit_code == 2
    assert f"only the role that ran `pdmail init` ({team.operator}) may do" in refused.stderr
    assert team.superuser_sql("SELECT max(number) FROM _pdmail_migrations")[0][0] == newer - 1
    team.ok(team.operator, "user", "list")
    assert team.superuser_sql("SELECT subject FROM emails") == [("before the upgrade (upgraded)",)]
    assert team.superuser_sql("SELECT max(number) FROM _pdmail_migrations")[0][0] == newer
    forced = team.superuser_sql("SELECT count(*) FROM pg_class WHERE relforcerowsecurity AND relkind = 'r'")
    assert forced == [(len(MAIL_TABLES),)]  # forced again once the step is done


# --- db copy: a file's people get their logins ------------------------------------------------------


def test_a_copy_to_a_team_server_gives_each_user_a_login_as_user_add_does(pg_server, tmp_path):
    """The README's move: a file's users (Maria, Sam, and Lee who was removed) copied by the operator."""
    from conftest import Cli

    cli = Cli()
    file = tmp_path / "pdmail.db"
    env = {"PDMAIL_DB": str(file)}
    cli.ok("init", "--name", "Maria Lopez", "--email", MARIA, env=env)
    cli.ok("user", "add", SAM, "--name", "Sam Lee", env=env)
    cli.ok("user", "add", LEE, "--name", "Lee", env=env)
    cli.ok("user", "remove", LEE, env=env)
    operator = new_operator(pg_server)
    name = pg_server.fresh_database(owner=operator)
    t = Team(pg_server, name, operator)
    try:
        t.ok(operator, "db", "copy", str(file), t.url(operator))
        assert t.superuser_sql("SELECT email, db_role FROM users ORDER BY id") == [
            (MARIA, MARIA),
            (SAM, SAM),
            (LEE, None),  # removed on the file: no login here
        ]
        assert [u["email"] for u in t.json(SAM, "user", "list")] == [MARIA, SAM, LEE]
        assert t.run(LEE, "inbox").exit_code == 2
        refused = t.run(SAM, "db", "copy", t.url(SAM), str(tmp_path / "back.db"))
        assert refused.exit_code == 2 and "only its operator reads" in refused.stderr
    finally:
        pg_server.drop_database(name)


# --- the test build's switch: the policies alone ----------------------------------------------------


def test_the_policies_only_switch_leaves_the_law_to_the_database(team, monkeypatch, tmp_path):
    """With PDMAIL_TEST_POLICIES_ONLY=1 a user's login reads with no condition of pdmail's own: what it
    then sees is what the policies give, as a widened policy shows. A file, and a connection that
    bypasses the policies, ignore the switch."""
    from pdmail.store import open_db
    from pdmail.visibility import sql_condition

    team.ok(MARIA, "bcc-ingest", input=message(f"Maria <{MARIA}>", "private to maria"))
    team.ok(MARIA, "share", "1", "--private")
    monkeypatch.setenv("PDMAIL_TEST_POLICIES_ONLY", "1")
    for url, expected in (
        (team.url(SAM), "TRUE"),
        (team.server.url(team.name), sql_condition("e")),  # the superuser's own connection
        (str(tmp_path / "file.db"), sql_condition("e")),
    ):
        if not url.startswith("postgresql"):
            CliRunner().invoke(app, ["init", "--name", "M", "--email", MARIA], env={"PDMAIL_DB": url})
        db = open_db(url)
        try:
            assert db.visible("e") == expected, url
        finally:
            db.close()
    assert team.json(SAM, "inbox", "--team", "--folder", "all") == []
    rawdb.execute(team.server.url(team.name), "ALTER POLICY pdmail_read ON emails USING (true)")
    widened = team.json(SAM, "inbox", "--team", "--folder", "all")
    assert [e["subject"] for e in widened] == ["private to maria"]  # nothing of pdmail's own stopped it
    monkeypatch.delenv("PDMAIL_TEST_POLICIES_ONLY")
    assert team.json(SAM, "inbox", "--team", "--folder", "all") == []


def test_a_draft_is_its_owners_alone_and_leaves_no_bytes_behind(team):
    """The outbox policy holds drafts too: another login neither reads nor changes one, even with SQL,
    and its owner's discarding deletes its bytes through the database's own check."""
    from datetime import UTC, datetime

    from pdmail.send import drafts
    from pdmail.send.outbox import SendRequest
    from pdmail.store import open_db
    from pdmail.store.users import find_user

    team.ok(MARIA, "account", "add", "work", "--address", MARIA, "--imap-host", "127.0.0.1", "--smtp-host",
            "127.0.0.1", "--password-env", "PDMAIL_TEAM_UNUSED")  # fmt: skip
    db = open_db(team.url(MARIA))
    try:
        request = SendRequest(to=["ana@acme.example"], subject="Quote", body="Hello Ana.\n")
        draft = drafts.save(db, find_user(db, MARIA), request, datetime.now(UTC)).id
    finally:
        db.close()
    assert [(i["id"], i["status"]) for i in team.json(MARIA, "outbox")] == [(draft, "draft")]
    assert team.json(SAM, "outbox", "--all") == []
    for args in (("outbox", "cancel", draft), ("outbox", "retry", draft)):
        assert team.run(SAM, *args).exit_code == 4
    with team.connect(SAM) as conn:
        assert conn.execute("SELECT count(*) FROM outbox").fetchone() == (0,)
        assert conn.execute("UPDATE outbox SET status = 'queued'").rowcount == 0
        assert conn.execute("DELETE FROM outbox").rowcount == 0
    assert team.superuser_sql("SELECT status FROM outbox") == [("draft",)]
    team.ok(MARIA, "outbox", "cancel", draft)
    assert team.superuser_sql("SELECT count(*) FROM outbox") == [(0,)]
    assert team.superuser_sql("SELECT count(*) FROM raw_messages") == [(0,)]


# --- the mail server's pipe ---------------------------------------------------------------------------

CAPTURE = "capture@bcc.northwind.example"


@pytest.fixture
def mta(team, pg_server):
    """The mail server's login, made by the operator as the README shows, a member of pdmail_capture."""
    role = f"mailserver_{team.name}"
    pg_server.run_sql(f'CREATE ROLE "{role}" LOGIN')
    pg_server.run_sql(f'GRANT {CAPTURE_ROLE} TO "{role}"')
    team.ok(MARIA, "settings", "set", "bcc-address", CAPTURE)
    yield role
    pg_server.drop_database(team.name)  # its grants go with it, so the role can go
    pg_server.run_sql(f'DROP ROLE IF EXISTS "{role}"')


def piped(sender: str, subject: str, mid: str, *, reply_to: str | None = None) -> bytes:
    refs = f"In-Reply-To: <{reply_to}>\r\nReferences: <{reply_to}>\r\n" if reply_to else ""
    return (
        f"From: {sender}\r\nTo: Ada Byron <ada@acme.example>\r\nBcc: {CAPTURE}\r\nSubject: {subject}\r\n"
        f"Date: Mon, 16 Nov 2026 09:00:00 +0000\r\nMessage-ID: <{mid}>\r\n{refs}\r\nThe quote, as promised.\r\n"
    ).encode()


def test_the_mail_servers_login_stores_mail_for_its_sender_and_reads_none(team, mta):
    first = team.json(mta, "bcc-ingest", input=piped(f"Sam <{SAM}>", "Quote", "q1@northwind.example"))[0]
    assert first["status"] == "stored"
    again = team.json(mta, "bcc-ingest", input=piped(f"Sam <{SAM}>", "Quote", "q1@northwind.example"))[0]
    assert (again["status"], again["id"]) == ("duplicate", first["id"])
    reply = team.json(
        mta,
        "bcc-ingest",
        input=piped(f"Sam <{SAM}>", "Re: Quote", "q2@northwind.example", reply_to="q1@northwind.example"),
    )[0]
    refused = team.run(mta, "bcc-ingest", "--json", input=piped("Eve <eve@evil.example>", "Offer", "e1@evil.example"))
    assert refused.exit_code == 3 and json.loads(refused.stdout)[0]["status"] == "quarantined"
    assert (
        team.run(
            mta, "bcc-ingest", "--mta", input=piped("Eve <eve@evil.example>", "Offer 2", "e2@evil.example")
        ).exit_code
        == 0
    )

    mine = team.json(SAM, "inbox", "--folder", "all")
    assert {e["id"] for e in mine} == {first["id"], reply["id"]}
    assert len({e["thread_id"] for e in mine}) == 1 and all(e["owner"] == SAM for e in mine)
    assert [e["contacts"] for e in mine] == [[1], [1]]  # Ada, made a contact as the mail came in
    flags = team.superuser_sql("SELECT has_link FROM emails WHERE id IN (?, ?)", (first["id"], reply["id"]))
    assert [tuple(r) for r in flags] == [(1,), (1,)]  # noted by the database, which the login may not write
    assert len(team.json(MARIA, "bcc-ingest", "--quarantine")) == 2  # strangers' refused mail: the admin's

    assert team.run(mta, "inbox").exit_code == 2  # no pdmail user
    with team.connect(mta) as conn:
        for table in MAIL_TABLES:
            try:
                assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table
            except psycopg.errors.InsufficientPrivilege:
                pass


def test_the_mail_servers_login_stores_a_folder_of_mail_in_batches(team, mta, tmp_path):
    """A folder goes in by batches, whose look-ups ahead of time would read mail: the mail server's
    login asks the database's capture functions instead, one message at a time."""
    folder = tmp_path / "spool"
    folder.mkdir()
    for n in range(3):
        (folder / f"{n}.eml").write_bytes(piped(f"Sam <{SAM}>", f"Quote {n}", f"f{n}@northwind.example"))
    (folder / "3.eml").write_bytes(piped(f"Sam <{SAM}>", "Quote 0", "f0@northwind.example"))  # the same again
    outcomes = team.json(mta, "bcc-ingest", str(folder))
    assert [o["status"] for o in outcomes] == ["stored", "stored", "stored", "duplicate"]
    stored = [o["id"] for o in outcomes[:3]]
    assert {e["id"] for e in team.json(SAM, "inbox", "--folder", "all")} == set(stored)
    flags = team.superuser_sql("SELECT has_link FROM emails WHERE id = ANY(?)", (stored,))
    assert [tuple(r) for r in flags] == [(1,)] * 3


def test_the_mail_servers_login_keeps_refused_mail_once_and_knows_what_was_released(team, mta, tmp_path):
    """Refused mail through the mail server's login: the same bytes twice in one batch are one entry,
    and bytes released from the quarantine before are already an email (a duplicate). Each refused
    message waits for the server once: its bytes go ahead of the one statement that holds it."""
    from pdmail.capture import batch
    from pdmail.capture.inputs import Input
    from pdmail.store import open_db

    first = team.run(mta, "bcc-ingest", "--json", input=piped("Eve <eve@evil.example>", "Offer", "e1@evil.example"))
    held = json.loads(first.stdout)[0]
    assert first.exit_code == 3 and held["status"] == "quarantined"
    team.ok(MARIA, "bcc-ingest", "--release", str(held["quarantine_id"]))
    email_id = team.superuser_sql("SELECT released_email_id FROM quarantine WHERE id = ?", (held["quarantine_id"],))
    assert email_id[0][0] is not None

    refused = [piped("Eve <eve@evil.example>", f"Offer {n}", f"e{n}@evil.example") for n in range(2, 22)]
    items = [Input(f"r{n}", raw=raw) for n, raw in enumerate(refused)]
    items += [
        Input("again", raw=refused[0]),
        Input("released", raw=piped("Eve <eve@evil.example>", "Offer", "e1@evil.example")),
    ]
    db = open_db(team.url(mta))
    trace = tmp_path / "libpq.trace"
    try:
        assert db.capture_only
        with open(trace, "w") as out:
            db.conn.pgconn.trace(out.fileno())
            outcomes = batch.ingest_many(db, items, workers=0)
            db.conn.pgconn.untrace()
    finally:
        db.close()
    assert [o.status for o in outcomes] == ["quarantined"] * 21 + ["duplicate"]
    assert outcomes[20].quarantine_id == outcomes[0].quarantine_id
    assert (outcomes[21].id, outcomes[21].quarantine_id) == (email_id[0][0], held["quarantine_id"])
    assert team.superuser_sql("SELECT count(*) FROM quarantine")[0][0] == 1 + 20
    # A wait starts where the client asks for the answers so far (Sync, or Flush in a pipeline) or
    # sends a statement in the simple protocol (Query): libpq's own trace of what it sent.
    sent = [line.split("\t")[3] for line in trace.read_text().splitlines() if line.split("\t")[1:2] == ["F"]]
    waits = sum(1 for message in sent if message in ("Sync", "Flush", "Query"))
    assert waits < 2 * len(items), f"{waits} waits for {len(items)} refused messages"  # three each before


def capture_functions(team: Team) -> list[tuple[str, str]]:
    """(name, argument types) of every function the mail server's login may call."""
    return team.superuser_sql(
        "SELECT p.proname, pg_get_function_identity_arguments(p.oid) FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' "
        "AND has_function_privilege(?, p.oid, 'EXECUTE') AND p.proname LIKE 'pdmail!_%' ESCAPE '!' ORDER BY 1",
        (CAPTURE_ROLE,),
    )


def test_the_capture_functions_answer_no_content_whatever_they_are_asked(team, mta):
    """Every function the mail server's login may call, asked about every thread and email with every
    subject and address of the mail stored: nothing it answers holds a subject, a body or an address."""
    team.ok(SAM, "settings", "set", "default-visibility", "private")
    stored = team.json(mta, "bcc-ingest", input=piped(f"Sam <{SAM}>", "Secret merger", "s1@northwind.example"))
    assert stored[0]["status"] == "stored"
    secrets = {"Secret merger", "secret merger", "The quote, as promised.", "ada@acme.example"}
    threads = [r[0] for r in team.superuser_sql("SELECT id FROM threads")]
    emails = [r[0] for r in team.superuser_sql("SELECT id FROM emails")]
    sam = team.superuser_sql("SELECT id FROM users WHERE email = ?", (SAM,))[0][0]
    reads = {
        "pdmail_capture_thread": [(t,) for t in threads],
        "pdmail_capture_email_deal": [(e,) for e in emails],
        "pdmail_capture_thread_has_proposals": [(t,) for t in threads],
        "pdmail_capture_subject_threads": [(sam, "secret merger", "2000-01-01T00:00:00Z", [])],
        "pdmail_capture_thread_ids": [(sam, ["s1@northwind.example"])],
        "pdmail_capture_emails_by_message_id": [(sam, "s1@northwind.example")],
        "pdmail_capture_stored_fingerprints": [(sam, ["x"])],
        "pdmail_capture_taken_message_ids": [(sam, ["s1@northwind.example"])],
        "pdmail_capture_threaded_message_ids": [(sam, ["s1@northwind.example"])],
        "pdmail_capture_held_email": [(1,)],
    }
    callable_ = {name for name, _ in capture_functions(team)}
    assert set(reads) <= callable_ and not any(name.startswith("pdmail_sees") for name in callable_)
    with team.connect(mta) as conn:
        for name, calls in reads.items():
            for args in calls:
                marks = ", ".join(["%s"] * len(args))
                answer = repr(conn.execute(f"SELECT * FROM {name}({marks})", args).fetchall())
                assert not any(secret in answer for secret in secrets), (name, args, answer)
    with team.connect(SAM) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT * FROM pdmail_capture_thread(1)")  # not for users: they read through the policies
