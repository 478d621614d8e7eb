"""The privacy law, checked as a matrix: every command that reads or changes email, for every viewer
(the owner, a colleague, an admin, another admin) and every kind of email.

docs/spec.md, "The sharing law": the owner sees all of their own email; another user sees an email only if it is shared
and linked to a contact or a deal; a private email is its owner's alone, admins included. Asking for
an email you may not see must read exactly like asking for one that does not exist (exit 4). And no
action of one user makes another user's email visible to more people: a link a colleague's change
added to mail nobody else saw is only proposed, and counts for nothing until its owner accepts it.

The expected answers below are written out by hand, not computed with ``pdmail.visibility``, so
the law's implementation is checked against the law, not against itself. A new command fails
``test_every_command_is_classified`` until it is placed in the matrix.
"""

from __future__ import annotations

import json
import mailbox
import re
import shutil
from pathlib import Path

import pytest
import rawdb
from clitree import all_commands
from typer.testing import CliRunner

from pdmail.cli.app import app

pytestmark = pytest.mark.both_engines

CAPTURE = "capture@bcc.northwind.example"
DOMAIN = "northwind.example"
USERS = {"maria": True, "sam": False, "ines": True, "lee": False}  # name -> is admin
OWNERS = ("sam", "maria")  # a regular user's mail and an admin's mail
KINDS = (
    "private_linked",
    "private_unlinked",
    "shared_contact",
    "shared_deal",
    "shared_org",
    "shared_unlinked",
    "shared_proposed",
)
MISSING = 987654

# Who may see an email of each kind, besides its owner: written out, not computed.
SEEN_BY_OTHERS = {
    "private_linked": False,
    "private_unlinked": False,
    "shared_contact": True,
    "shared_deal": True,
    "shared_org": True,  # linked to org 2 by its domain alone: no contact, no deal
    "shared_unlinked": False,
    "shared_proposed": False,  # linked to contact 1 only by a colleague's change its owner has not accepted
}
# Which records each kind is linked to (contact 1 = Ada at org 1; deal 1 = Bo's deal at org 1), for
# its owner; a proposed link is a link for nobody else.
LINKED = {
    "contact": {"private_linked", "shared_contact", "shared_proposed"},
    "deal": {"shared_deal"},
    "org": {"private_linked", "shared_contact", "shared_deal", "shared_proposed"},
}

# --- every command, classified -------------------------------------------------------------------

READS_EMAIL = {"inbox", "search", "export", "show", "contact show", "deal show", "org show", "send", "explain"}
CHANGES_EMAIL = {"share", "read", "unread", "archive", "delete", "restore", "link"}
# Commands that neither list nor show nor change a stored email (they manage people, records,
# settings, or bring mail in). Each is here on purpose; a new command must be placed somewhere.
NO_EMAIL_ACCESS = {
    "help",
    "init",
    "user add",
    "user remove",
    "user list",
    "user default",
    "settings show",
    "settings set",
    "settings alt-address add",
    "settings alt-address remove",
    "settings alt-address list",
    "settings alt-address approve",
    "settings alt-address reject",
    "settings block add",
    "settings block remove",
    "settings block list",
    "contact add",
    "contact add-address",
    "contact list",
    "contact import",
    "contact remove",
    "org add",
    "org list",
    "org domain add",
    "org domain remove",
    "deal add",
    "deal list",
    "deal import",
    "deal set-status",
    "bcc-ingest",
    "account add",
    "account default",
    "account list",
    "account remove",
    "account set",
    "account test",
    "sync",
    "outbox list",
    "outbox edit",
    "outbox cancel",
    "outbox retry",
    "template add",
    "template list",
    "template show",
    "template remove",
}


# Commands on the database as a whole, for whoever holds the file or the server's credentials (who can
# read every email anyway, see README.md "Moving to a team server"): no user's view applies to them.
WHOLE_DATABASE = {"db copy", "db backup"}


def all_command_paths() -> set[str]:
    return {" ".join(path) for path, _ in all_commands()}


def test_every_command_is_classified():
    known = READS_EMAIL | CHANGES_EMAIL | NO_EMAIL_ACCESS | WHOLE_DATABASE
    unknown = sorted(all_command_paths() - known)
    assert unknown == [], (
        f"classify {unknown} in tests/test_permission_matrix.py: a command that reads or changes email "
        "must be checked against every viewer and every kind of email"
    )
    assert not (READS_EMAIL & CHANGES_EMAIL) and not (
        (READS_EMAIL | CHANGES_EMAIL) & (NO_EMAIL_ACCESS | WHOLE_DATABASE)
    )
    assert sorted(known - all_command_paths()) == [], "the matrix names a command that no longer exists"


# --- the world ---------------------------------------------------------------------------------------


def addr(name: str) -> str:
    return f"{name}@{DOMAIN}"


def raw_mail(owner: str, kind: str, n: int) -> bytes:
    recipient = {
        "private_linked": "Ada Byron <ada@acme.example>",
        "shared_contact": "Ada Byron <ada@acme.example>",
        "shared_deal": "Zed <zed@elsewhere.example>",  # filed on deal 1 by its capture address
        "shared_org": "Cy <cy@globex.example>",  # org 2's domain, and nobody's contact
        "shared_proposed": "Ada Byron <ada.b@acme.example>",  # Ada's second address, given to her later
    }.get(kind, "Nobody <nobody@elsewhere.example>")
    boundary = "b0undary"
    return (
        f"From: {owner.title()} <{addr(owner)}>\r\nTo: {recipient}\r\nSubject: {kind} of {owner}\r\n"
        f"Date: Mon, 16 Nov 2026 {9 + n // 60:02d}:{n % 60:02d}:00 +0000\r\n"
        f"Message-ID: <{kind}.{owner}@{DOMAIN}>\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nmatrixword {token(owner, kind)}\r\n"
        f'--{boundary}\r\nContent-Type: text/plain; name="note.txt"\r\n'
        f'Content-Disposition: attachment; filename="note.txt"\r\n\r\n'
        f"attachment of {owner} {kind}\r\n--{boundary}--\r\n"
    ).encode()


def token(owner: str, kind: str) -> str:
    return "tok" + owner + kind.replace("_", "")


class World:
    """Every kind of email for every owner, built once per module and engine: a SQLite file, or a
    PostgreSQL database that serves as the template of each test's own."""

    def __init__(self, target: Path | str, home: Path) -> None:
        self.target = target
        self.env = {"PDMAIL_DB": str(target), "HOME": str(home), "COLUMNS": "200", "PDMAIL_USER": None}
        self.runner = CliRunner()
        self.ids: dict[tuple[str, str], int] = {}

    def run(self, *args, input=None):
        return self.runner.invoke(app, [str(a) for a in args], input=input, env=self.env, catch_exceptions=False)

    def ok(self, *args, input=None):
        result = self.run(*args, input=input)
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
        return result

    def build(self) -> None:
        self.ok("init", "--name", "Maria Lopez", "--email", addr("maria"), "--company", "Northwind")
        for name, admin in USERS.items():
            if name != "maria":
                self.ok("user", "add", addr(name), "--name", name.title(), *(["--admin"] if admin else []))
        self.ok("settings", "set", "bcc-address", CAPTURE)
        self.ok("settings", "set", "create-contacts", "off")
        self.ok("org", "add", "Acme")
        self.ok("org", "add", "Globex", "--domain", "globex.example")
        self.ok("contact", "add", "Ada Byron", "--email", "ada@acme.example", "--org", "1")
        self.ok("contact", "add", "Bo Chen", "--email", "bo@acme.example", "--org", "1")
        self.ok("deal", "add", "Cranes", "--contact", "2")
        n = 0
        for owner in OWNERS:
            for kind in KINDS:
                n += 1
                visibility = "private" if kind.startswith("private") else "shared"
                self.ok("settings", "set", "default-visibility", visibility, "--user", addr(owner))
                extra = ["--recipient", CAPTURE.replace("@", "+deal1@")] if kind == "shared_deal" else []
                out = self.ok("bcc-ingest", "--json", *extra, input=raw_mail(owner, kind, n))
                self.ids[(owner, kind)] = json.loads(out.stdout)[0]["id"]
            self.ok("settings", "set", "default-visibility", "shared", "--user", addr(owner))
        # Lee, who owns no mail, gives Ada her second address: a colleague's change on others' mail.
        self.ok("contact", "add-address", "1", "ada.b@acme.example", "--user", addr("lee"))
        # On a team server each owner's pdmail re-links their own mail for a colleague's change at its
        # next command (a login sees only what the law shows it): one command each, and the world is
        # the same on both engines, whatever a test then does to it.
        for name in USERS:
            self.ok("inbox", "--count", "--user", addr(name))
        if not rawdb.is_postgres(self.target):  # the whole database in the one file, to be copied
            rawdb.execute(self.target, "PRAGMA wal_checkpoint(TRUNCATE)")


@pytest.fixture(scope="module")
def sqlite_world(tmp_path_factory) -> World:
    base = tmp_path_factory.mktemp("matrix")
    w = World(base / "world.db", base)
    w.build()
    return w


@pytest.fixture(scope="module")
def postgres_world(tmp_path_factory, pg_server) -> World:
    base = tmp_path_factory.mktemp("matrix-pg")
    name = pg_server.fresh_database()
    w = World(pg_server.url(name), base)
    w.build()
    yield w
    pg_server.drop_database(name)


@pytest.fixture
def mx(request, engine, db_path, cli):
    """The world copied into this test's own database (PDMAIL_DB), so changes stay in the test."""
    world = request.getfixturevalue(f"{engine}_world")
    if engine == "postgres":
        pg_server = request.getfixturevalue("pg_server")
        name = pg_server.database_in(db_path)
        pg_server.drop_database(name)  # the test's empty database, made again as a copy of the world
        pg_server.copy_database(pg_server.database_in(world.target), name)
    else:
        shutil.copyfile(world.target, db_path)
    return Matrix(world, cli, db_path)


class Matrix:
    def __init__(self, world: World, cli, db_path: Path | str) -> None:
        self.ids = world.ids
        self.cli = cli
        self.db_path = db_path

    def run(self, viewer: str, *args):
        return self.cli(*args, "--user", addr(viewer))

    def json(self, viewer: str, *args):
        result = self.run(viewer, *args, "--json")
        assert result.exit_code == 0, (viewer, args, result.stdout, result.stderr)
        return json.loads(result.stdout)

    def visible(self, viewer: str, kinds=KINDS) -> set[int]:
        return {
            i for (owner, kind), i in self.ids.items() if kind in kinds and (owner == viewer or SEEN_BY_OTHERS[kind])
        }

    def owned(self, viewer: str) -> set[int]:
        return {i for (owner, _), i in self.ids.items() if owner == viewer}

    def row(self, email_id: int) -> tuple:
        email = rawdb.rows(self.db_path, "SELECT * FROM emails WHERE id = ?", (email_id,))
        thread = rawdb.rows(
            self.db_path, "SELECT t.* FROM threads t JOIN emails e ON e.thread_id = t.id WHERE e.id = ?", (email_id,)
        )
        audits = rawdb.scalar(self.db_path, "SELECT count(*) FROM audit_log")
        return [tuple(r) for r in email], [tuple(r) for r in thread], audits


def same_as_missing(hidden, missing, email_id: int) -> None:
    """A hidden email and a missing one: same exit code, same words, nothing on stdout."""
    assert hidden.exit_code == missing.exit_code == 4
    assert hidden.stdout == missing.stdout == ""
    assert hidden.stderr.replace(str(email_id), "N") == missing.stderr.replace(str(MISSING), "N")
    assert re.fullmatch(r"Error: email N not found\n", hidden.stderr.replace(str(email_id), "N"))


VIEWERS = tuple(USERS)


def test_the_world_has_every_kind_for_every_owner(mx):
    assert len(mx.ids) == len(OWNERS) * len(KINDS)
    for (owner, kind), email_id in mx.ids.items():
        e = mx.json(owner, "show", str(email_id))
        assert e["owner"] == addr(owner)
        assert e["visibility"] == ("private" if kind.startswith("private") else "shared")
        assert bool(e["contacts"]) == (kind in LINKED["contact"])
        assert (e["deal"] is not None) == (kind == "shared_deal")


def test_the_predicate_agrees_with_the_matrix_for_every_user(mx):
    """`can_view` (what `explain` and the SQL are built from) gives the hand-written answers here too."""
    from pdmail.store import open_db
    from pdmail.store.mailbox import facts
    from pdmail.store.users import find_user
    from pdmail.visibility import can_view

    db = open_db(mx.db_path)
    try:
        for viewer in VIEWERS:
            user = find_user(db, addr(viewer))
            assert {i for i in mx.ids.values() if can_view(user.id, facts(db, i))} == mx.visible(viewer)
    finally:
        db.close()


# --- reads ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("viewer", VIEWERS)
def test_inbox_lists_only_the_viewers_own_email(mx, viewer):
    ids = {e["id"] for e in mx.json(viewer, "inbox", "--folder", "all", "--limit", "100")}
    assert ids == mx.owned(viewer)
    assert {e["id"] for e in mx.json(viewer, "inbox", "--folder", "sent")} == mx.owned(viewer)  # all outgoing


@pytest.mark.parametrize("viewer", VIEWERS)
def test_inbox_team_lists_exactly_what_the_viewer_may_see(mx, viewer):
    emails = mx.json(viewer, "inbox", "--team", "--folder", "all", "--limit", "100")
    assert {e["id"] for e in emails} == mx.visible(viewer)
    assert all(e["owner"] == addr(viewer) or e["visibility"] == "shared" for e in emails)


@pytest.mark.parametrize("viewer", VIEWERS)
def test_inbox_pages_are_cut_after_the_law_applies(mx, viewer):
    seen: list[int] = []
    page = 1
    while True:
        batch = mx.json(viewer, "inbox", "--team", "--folder", "all", "--limit", "1", "--page", str(page))
        if not batch:
            break
        assert len(batch) == 1
        seen += [e["id"] for e in batch]
        page += 1
    assert sorted(seen) == sorted(mx.visible(viewer)) and len(seen) == len(set(seen))


@pytest.mark.parametrize("viewer", VIEWERS)
def test_inbox_counts_only_what_the_viewer_may_see(mx, viewer):
    team = mx.json(viewer, "inbox", "--team", "--folder", "all", "--count")
    own = mx.json(viewer, "inbox", "--folder", "all", "--count")
    assert team == {"count": len(mx.visible(viewer))}
    assert own == {"count": len(mx.owned(viewer))}
    human = mx.run(viewer, "inbox", "--team", "--folder", "all", "--count")
    assert human.exit_code == 0 and human.stdout.strip() == str(len(mx.visible(viewer)))


@pytest.mark.parametrize("viewer", VIEWERS)
@pytest.mark.parametrize("record", ["contact", "deal", "org"])
def test_inbox_record_filters_obey_the_law(mx, viewer, record):
    got = {e["id"] for e in mx.json(viewer, "inbox", "--team", "--folder", "all", f"--{record}", "1")}
    assert got == mx.visible(viewer, LINKED[record])


@pytest.mark.parametrize("viewer", VIEWERS)
@pytest.mark.parametrize("record", ["contact", "deal", "org"])
def test_record_views_list_only_visible_linked_email(mx, viewer, record):
    data = mx.json(viewer, record, "show", "1")
    assert {e["id"] for e in data["linked_emails"]} == mx.visible(viewer, LINKED[record])
    human = mx.run(viewer, record, "show", "1")
    assert human.exit_code == 0
    for (owner, kind), email_id in mx.ids.items():
        subject = f"{kind} of {owner}"
        assert (subject in human.stdout) == (email_id in mx.visible(viewer, LINKED[record])), subject


@pytest.mark.parametrize("viewer", VIEWERS)
def test_search_finds_only_what_the_viewer_may_see(mx, viewer):
    assert {e["id"] for e in mx.json(viewer, "search", "matrixword", "--limit", "100")} == mx.visible(viewer)
    assert {e["id"] for e in mx.json(viewer, "search", "matrixword", "--mine")} == mx.owned(viewer)
    for (owner, kind), email_id in mx.ids.items():
        found = [e["id"] for e in mx.json(viewer, "search", token(owner, kind))]
        assert found == ([email_id] if email_id in mx.visible(viewer) else []), (owner, kind)
        by_address = {e["id"] for e in mx.json(viewer, "search", f"from:{addr(owner)}")}
        assert by_address == {i for i in mx.visible(viewer) if i in mx.owned(owner)}


@pytest.mark.parametrize("viewer", VIEWERS)
def test_search_walking_by_date_finds_the_same(mx, viewer, monkeypatch):
    """A common word switches search to walking email newest first; the law holds there too."""
    from pdmail.store import mailbox as store_mailbox

    monkeypatch.setattr(store_mailbox, "MANY_MATCHES", 1)
    assert {e["id"] for e in mx.json(viewer, "search", "matrixword", "--limit", "100")} == mx.visible(viewer)
    assert {e["id"] for e in mx.json(viewer, "search", "matrixword", "--mine")} == mx.owned(viewer)
    newest_first = [e["date"] for e in mx.json(viewer, "search", "matrixword")]
    assert newest_first == sorted(newest_first, reverse=True)


@pytest.mark.parametrize("viewer", VIEWERS)
def test_export_jsonl_holds_only_what_the_viewer_may_see(mx, viewer):
    result = mx.run(viewer, "export", "--format", "jsonl")
    assert result.exit_code == 0
    assert {json.loads(line)["id"] for line in result.stdout.splitlines()} == mx.visible(viewer)
    mine = mx.run(viewer, "export", "--mine")
    assert {json.loads(line)["id"] for line in mine.stdout.splitlines()} == mx.owned(viewer)


@pytest.mark.parametrize("viewer", VIEWERS)
def test_export_mbox_holds_only_what_the_viewer_may_see(mx, viewer, tmp_path):
    out = tmp_path / f"{viewer}.mbox"
    assert mx.run(viewer, "export", "--format", "mbox", "--output", str(out)).exit_code == 0
    ids = {m["Message-ID"] for m in mailbox.mbox(out)}
    expected = {f"<{kind}.{owner}@{DOMAIN}>" for (owner, kind), i in mx.ids.items() if i in mx.visible(viewer)}
    assert ids == expected


@pytest.mark.parametrize("viewer", VIEWERS)
def test_show_shows_visible_email_and_hides_the_rest_like_missing_email(mx, viewer):
    missing_json = mx.run(viewer, "show", str(MISSING), "--json")
    missing_human = mx.run(viewer, "show", str(MISSING))
    for (owner, kind), email_id in mx.ids.items():
        as_json = mx.run(viewer, "show", str(email_id), "--json")
        human = mx.run(viewer, "show", str(email_id))
        if email_id in mx.visible(viewer):
            assert as_json.exit_code == 0 and json.loads(as_json.stdout)["id"] == email_id
            assert human.exit_code == 0 and token(owner, kind) in human.stdout
        else:
            same_as_missing(as_json, missing_json, email_id)
            same_as_missing(human, missing_human, email_id)


@pytest.mark.parametrize("viewer", VIEWERS)
def test_a_reply_can_answer_only_visible_email(mx, viewer):
    """`send --reply-to` reads the original (recipients, subject, thread): the law applies to it too."""
    mx.cli.ok(
        "account",
        "add",
        addr(viewer),
        "--imap-host",
        "127.0.0.1",
        "--smtp-host",
        "127.0.0.1",
        "--password-env",
        "PDMAIL_MATRIX_UNUSED",
        "--user",
        addr(viewer),
    )
    queue = ("--body", "Thanks.", "--at", "2031-01-06T09:00")  # queued only: nothing goes on the network
    missing = mx.run(viewer, "send", "--reply-to", str(MISSING), *queue)
    for email_id in mx.ids.values():
        result = mx.run(viewer, "send", "--reply-to", str(email_id), *queue)
        if email_id in mx.visible(viewer):
            assert result.exit_code == 0, (email_id, result.stderr)
        else:
            same_as_missing(result, missing, email_id)
    queued = mx.json(viewer, "outbox")
    assert len(queued) == len(mx.visible(viewer))


@pytest.mark.parametrize("viewer", VIEWERS)
def test_attachments_are_saved_only_from_visible_email(mx, viewer, tmp_path):
    missing = mx.run(viewer, "show", str(MISSING), "--save-attachments", str(tmp_path / "missing"))
    for (owner, kind), email_id in mx.ids.items():
        folder = tmp_path / f"{owner}-{kind}"
        result = mx.run(viewer, "show", str(email_id), "--save-attachments", str(folder))
        if email_id in mx.visible(viewer):
            assert result.exit_code == 0
            assert (folder / "note.txt").read_bytes() == f"attachment of {owner} {kind}".encode()
        else:
            same_as_missing(result, missing, email_id)
            assert not folder.exists()


@pytest.mark.parametrize("viewer", VIEWERS)
def test_explain_explains_visible_email_and_hides_the_rest_like_missing_email(mx, viewer):
    missing_json = mx.run(viewer, "explain", str(MISSING), "--json")
    missing_human = mx.run(viewer, "explain", str(MISSING))
    for (owner, kind), email_id in mx.ids.items():
        as_json = mx.run(viewer, "explain", str(email_id), "--json")
        human = mx.run(viewer, "explain", str(email_id))
        if email_id in mx.visible(viewer):
            assert as_json.exit_code == 0 and json.loads(as_json.stdout)["id"] == email_id
            assert human.exit_code == 0 and f"{kind} of {owner}" in human.stdout
        else:
            same_as_missing(as_json, missing_json, email_id)
            same_as_missing(human, missing_human, email_id)


def forget_every_link(mx) -> None:
    from pdmail.store import open_db

    db = open_db(mx.db_path)
    try:
        with db.tx():  # so that a rescan has a change for every linked email
            db.execute("DELETE FROM email_contacts")
            db.execute("DELETE FROM email_orgs")
            db.execute("UPDATE emails SET deal_id = NULL, link_trace_json = '[]'")
    finally:
        db.close()


@pytest.mark.parametrize("viewer", VIEWERS)
def test_rescan_counts_and_lists_only_what_the_viewer_may_see(mx, viewer):
    """An admin's rescan re-links everyone's email, anyone else's only their own; either way the
    numbers cover only what the viewer may see, and the links it adds to others' mail (seen by
    nobody but its owner now) are only proposed."""
    forget_every_link(mx)
    linked = {i for (_, kind), i in mx.ids.items() if kind in LINKED["contact"] | LINKED["deal"] | {"shared_org"}}
    report = mx.json(viewer, "link", "--rescan", "--dry-run")
    assert report["emails"] == len(mx.owned(viewer))  # nobody else's email is visible without links
    assert report["changed"] == len(linked & mx.owned(viewer))
    assert {c["id"] for c in report["changes"]} == linked & mx.owned(viewer)
    human = mx.run(viewer, "link", "--rescan", "--dry-run").stdout
    for email_id in set(mx.ids.values()) - mx.owned(viewer):
        assert f"email {email_id}:" not in human


@pytest.mark.parametrize("admin", [name for name, is_admin in USERS.items() if is_admin])
def test_an_admins_rescan_widens_nobodys_view_of_others_mail(mx, admin):
    forget_every_link(mx)
    mx.json(admin, "link", "--rescan")
    shared_and_linked = ("shared_contact", "shared_deal", "shared_org", "shared_proposed")
    own = {i for (owner, kind), i in mx.ids.items() if owner == admin and kind in shared_and_linked}
    for viewer in VIEWERS:  # the admin's own links count at once; everyone else's mail stays theirs
        seen = {e["id"] for e in mx.json(viewer, "inbox", "--team", "--folder", "all", "--limit", "100")}
        assert seen == mx.owned(viewer) | own
    others = {i for (owner, kind), i in mx.ids.items() if owner != admin and kind in shared_and_linked}
    for (owner, _kind), email_id in mx.ids.items():
        if email_id in others:
            mx.json(owner, "link", str(email_id), "--accept")
    for viewer in VIEWERS:
        seen = {e["id"] for e in mx.json(viewer, "inbox", "--team", "--folder", "all", "--limit", "100")}
        assert seen == mx.owned(viewer) | own | others


@pytest.mark.parametrize("viewer", VIEWERS)
def test_review_lists_only_the_viewers_own_proposed_links(mx, viewer):
    waiting = {e["id"] for e in mx.json(viewer, "link", "--review")}
    assert waiting == {i for (owner, kind), i in mx.ids.items() if owner == viewer and kind == "shared_proposed"}
    assert {e["id"] for e in mx.json(viewer, "inbox", "--proposed", "--folder", "all")} == waiting


@pytest.mark.parametrize("viewer", VIEWERS)
def test_threads_shown_hold_only_visible_email(mx, viewer):
    for email_id in mx.visible(viewer):
        shown = mx.json(viewer, "show", str(email_id))
        assert set(shown["thread"]) <= mx.visible(viewer) and email_id in shown["thread"]


# --- changes: only the owner; a colleague who may see the email is told so, to anyone else it does
# not exist -----------------------------------------------------------------------------------------

CHANGES = {
    "share": [("--private",), ("--shared",)],
    "read": [()],
    "unread": [()],
    "archive": [()],
    "delete": [()],
    "restore": [()],
    "link": [("--accept",), ("--deal", "1"), ("--none",), ("--contact", "2"), ("--reject",)],
}


def test_every_change_command_is_in_the_change_matrix():
    assert set(CHANGES) == CHANGES_EMAIL == set(OWNER_ONLY)


# What a colleague who may see the email is told each command would do, written out by hand.
OWNER_ONLY = {
    "share": "change who sees email {id}",
    "read": "mark email {id} read",
    "unread": "mark email {id} unread",
    "archive": "archive email {id}",
    "delete": "delete email {id}",
    "restore": "restore email {id}",
    "link": "change the links of email {id}",
}


def told_only_the_owner_may(result, command: str, owner: str, email_id: int) -> None:
    assert result.exit_code == 4
    assert result.stdout == ""
    action = OWNER_ONLY[command].format(id=email_id)
    assert result.stderr == f"Error: only its owner ({addr(owner)}) may {action}\n"


@pytest.mark.parametrize("command", sorted(CHANGES))
def test_only_the_owner_changes_an_email(mx, command):
    """Every refusal first, while the world is as written out above; then the owners' own changes,
    which move emails between kinds (a thread made private, an email linked by hand)."""
    for variant in CHANGES[command]:
        for (owner, kind), email_id in mx.ids.items():
            for viewer in VIEWERS:
                if viewer == owner:
                    continue
                before = mx.row(email_id)
                refused = mx.run(viewer, command, str(email_id), *variant)
                refused_json = mx.run(viewer, command, str(email_id), *variant, "--json")
                if email_id in mx.visible(viewer):
                    told_only_the_owner_may(refused, command, owner, email_id)
                    told_only_the_owner_may(refused_json, command, owner, email_id)
                else:
                    same_as_missing(refused, mx.run(viewer, command, str(MISSING), *variant), email_id)
                    same_as_missing(refused_json, mx.run(viewer, command, str(MISSING), *variant, "--json"), email_id)
                assert mx.row(email_id) == before, (command, viewer, owner, kind)
    for variant in CHANGES[command]:
        for (owner, kind), email_id in mx.ids.items():
            done = mx.run(owner, command, str(email_id), *variant, "--json")
            assert done.exit_code == 0, (command, owner, kind, done.stderr)
            reported = json.loads(done.stdout)
            if command != "link":  # a report per email given: an array, also for one id
                (reported,) = reported
            assert reported["id"] == email_id
