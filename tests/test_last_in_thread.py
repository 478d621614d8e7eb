"""``inbox --awaiting-reply`` and ``--unanswered`` read the last email of each conversation from flags
the database keeps (``is_last_for_owner``, ``is_last_for_team``, ``held_by_colleague``, migration 18).

The views must find exactly what their definition finds, for every viewer, alone or with the team.
The definition is kept here as it was written before the flags, in Python, as the oracle: an email
is the last of its thread when no newer email of the thread that counts is one the viewer may see;
an email from a customer was answered elsewhere when a colleague's conversation holding its
Message-ID has a newer reply of theirs that the viewer may see. Random conversations are built and
changed the ways mail changes (new mail, dates, verdicts, sharing, links, deals, the trash, merged
and split threads, deleted rows, Message-IDs a colleague's thread takes), and after each change the
views and the flags are compared with the oracle, on both engines.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from urllib.parse import quote, urlsplit, urlunsplit

import factories
import pytest

from pdmail.store import emails as emails_store
from pdmail.store import links as links_store
from pdmail.store import open_db
from pdmail.store.mailbox import awaiting_filter, count_emails, page_emails
from pdmail.visibility import EmailFacts, can_view

pytestmark = pytest.mark.both_engines

STAMP = "2026-11-01T00:00:00Z"
DATES = [f"2026-11-{day:02d}T09:00:00Z" for day in range(1, 9)]  # few, so that dates tie often
CUTOFFS = ("2026-11-03T09:00:00Z", "2026-11-06T12:00:00Z", "2026-12-01T00:00:00Z")
MESSAGE_IDS = [f"m{n}@mail.example" for n in range(12)]  # few, so that colleagues hold the same ones
CUSTOMERS = ("ada@customer.example", "bob@customer.example")
SAMS_OTHER = "sam.lee@home.example"  # an approved alternative address: a colleague's
PATS_UNAPPROVED = "pat@home.example"  # not approved: as good as a customer's


@dataclass
class World:
    db: object
    users: list
    contacts: list[int]
    deal: int
    raw: str
    readers: dict  # each user's own connection: on the team server, their login


@pytest.fixture
def world(db_path):
    w = make_world(db_path)
    yield w
    close_world(w)


def make_world(db_path) -> World:
    db, maria = factories.company(db_path)
    sam = factories.user(db, "sam@northwind.example")
    pat = factories.user(db, "pat@northwind.example", "Pat Kim")
    contacts = [factories.contact(db, f"Customer {n}", CUSTOMERS[n], relink=False).id for n in range(2)]
    deal = factories.deal(db, "Gearbox", contacts[0], relink=False).id
    raw = "0" * 64
    with db.tx():
        db.execute("INSERT INTO raw_messages (sha256, size, data) VALUES (?, 1, ?)", (raw, b"x"))
        for address, user, approved in ((SAMS_OTHER, sam, STAMP), (PATS_UNAPPROVED, pat, None)):
            db.execute(
                "INSERT INTO user_addresses (email, user_id, created_utc, approved_utc) VALUES (?, ?, ?, ?)",
                (address, user.id, STAMP, approved),
            )
    users = [maria, sam, pat]
    return World(db, users, contacts, deal, raw, readers(db, db_path, users))


def readers(db, db_path, users) -> dict:
    return {u.id: open_db(login_url(db, db_path, u)) for u in users} if db.engine == "postgres" else {}


def close_world(w: World) -> None:
    for reader in w.readers.values():
        reader.close()
    w.db.close()


def login_url(db, url: str, user) -> str:
    """The team server's URL as the user's own login: the database's policies and functions answer for them."""
    role = db.scalar("SELECT db_role FROM users WHERE id = ?", (user.id,))
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=quote(role, safe="") + "@" + parts.netloc.split("@", 1)[1]))


# --- the oracle: the views' definition before the flags -------------------------------------------


def snapshot(db) -> dict:
    emails = [
        dict(r)
        for r in db.all(
            "SELECT id, owner_id, thread_id, date_utc, link_verdict, direction, folder, visibility, deal_id, "
            "is_deal_proposed, from_email, message_id_norm, is_last_for_owner, is_last_for_team, held_by_colleague "
            "FROM emails ORDER BY id"
        )
    ]
    linked = {r[0] for r in db.all("SELECT email_id FROM email_contacts WHERE is_proposed = 0")}
    for e in emails:
        e["facts"] = EmailFacts(
            e["owner_id"],
            e["visibility"],
            has_contact=e["id"] in linked,
            has_deal=e["deal_id"] is not None and not e["is_deal_proposed"],
        )
    team_addresses = {r[0] for r in db.all("SELECT email FROM users")} | {
        r[0] for r in db.all("SELECT email FROM user_addresses WHERE approved_utc IS NOT NULL")
    }
    held = [tuple(r) for r in db.all("SELECT owner_id, message_id, thread_id FROM thread_message_ids")]
    return {"emails": emails, "team": team_addresses, "held": held}


def _newer(a: dict, b: dict) -> bool:
    return (a["date_utc"], a["id"]) > (b["date_utc"], b["id"])


def last_in_thread(s: dict, viewer: int, e: dict) -> bool:
    return not any(
        other["thread_id"] == e["thread_id"]
        and other["link_verdict"] is None
        and _newer(other, e)
        and can_view(viewer, other["facts"])
        for other in s["emails"]
    )


def answered_elsewhere(s: dict, viewer: int, e: dict) -> bool:
    threads = {t for owner, mid, t in s["held"] if mid == e["message_id_norm"] and owner != e["owner_id"]}
    return any(
        r["thread_id"] in threads
        and r["direction"] == "outgoing"
        and r["link_verdict"] is None
        and r["date_utc"] > e["date_utc"]
        and can_view(viewer, r["facts"])
        for r in s["emails"]
    )


def expected(s: dict, viewer: int, *, team: bool, awaiting: str | None = None, unanswered: str | None = None):
    found = []
    for e in s["emails"]:
        if not can_view(viewer, e["facts"]) or (not team and e["owner_id"] != viewer):
            continue
        if e["folder"] == "trash" or e["link_verdict"] is not None:
            continue
        if awaiting is not None and not (e["direction"] == "outgoing" and e["date_utc"] <= awaiting):
            continue
        if unanswered is not None and not (
            e["direction"] == "incoming" and e["date_utc"] <= unanswered and e["from_email"] not in s["team"]
        ):
            continue
        if not last_in_thread(s, viewer, e):
            continue
        if unanswered is not None and e["message_id_norm"] is not None and answered_elsewhere(s, viewer, e):
            continue
        found.append(e)
    found.sort(key=lambda e: (e["date_utc"], e["id"]), reverse=True)
    return [e["id"] for e in found]


def flag_mismatches(s: dict) -> list:
    """Emails whose kept flags disagree with their definition."""
    wrong = []
    for e in s["emails"]:
        counts = e["link_verdict"] is None
        others_see = e["facts"].visibility == "shared" and (e["facts"].has_contact or e["facts"].has_deal)
        mine = counts and not any(
            other["thread_id"] == e["thread_id"] and other["link_verdict"] is None and _newer(other, e)
            for other in s["emails"]
        )
        team = (
            counts
            and others_see
            and not any(
                other["thread_id"] == e["thread_id"]
                and other["link_verdict"] is None
                and _newer(other, e)
                and other["facts"].visibility == "shared"
                and (other["facts"].has_contact or other["facts"].has_deal)
                for other in s["emails"]
            )
        )
        colleague = any(mid == e["message_id_norm"] and owner != e["owner_id"] for owner, mid, _ in s["held"])
        # held_by_colleague is never cleared: it must be set wherever a colleague holds the Message-ID
        if (bool(e["is_last_for_owner"]), bool(e["is_last_for_team"])) != (mine, team) or (
            colleague and not e["held_by_colleague"]
        ):
            wrong.append((e["id"], e["is_last_for_owner"], e["is_last_for_team"], e["held_by_colleague"], mine, team))
    return wrong


def check(world: World, step) -> None:
    s = snapshot(world.db)
    assert flag_mismatches(s) == [], step
    for viewer in world.users:
        for team in (False, True):
            for cutoff in CUTOFFS:
                for kind in ("awaiting", "unanswered"):
                    f = replace(awaiting_filter(team=team, **{kind: cutoff}), limit=1000)
                    want = expected(s, viewer.id, team=team, **{kind: cutoff})
                    reader = world.readers.get(viewer.id, world.db)
                    got = [e["id"] for e in page_emails(reader, viewer, f).emails]
                    assert got == want, (step, viewer.email, team, kind, cutoff)
                    assert count_emails(reader, viewer, f) == len(want), (step, viewer.email, team, kind, cutoff)


# --- the changes ----------------------------------------------------------------------------------


class Changes:
    def __init__(self, world: World, rng: random.Random) -> None:
        self.w, self.db, self.rng = world, world.db, rng
        self.n = 0

    def _email_id(self):
        return self.db.scalar(
            "SELECT id FROM emails ORDER BY id LIMIT 1 OFFSET ?", (self.rng.randrange(self._count()),)
        )

    def _count(self) -> int:
        return self.db.scalar("SELECT count(*) FROM emails")

    def new_thread(self, owner) -> int:
        visibility = self.rng.choice(("shared", "shared", "private"))
        return emails_store.create_thread(self.db, owner.id, "quote", visibility, STAMP)

    def new_email(self) -> None:
        rng = self.rng
        owner = rng.choice(self.w.users)
        threads = [r[0] for r in self.db.all("SELECT id FROM threads WHERE owner_id = ?", (owner.id,))]
        thread = rng.choice(threads) if threads and rng.random() < 0.75 else self.new_thread(owner)
        visibility = self.db.scalar("SELECT visibility FROM threads WHERE id = ?", (thread,))
        direction = rng.choice(("incoming", "outgoing"))
        colleague = rng.choice([u for u in self.w.users if u.id != owner.id])
        sender = (
            owner.email
            if direction == "outgoing"
            else rng.choice((*CUSTOMERS, *CUSTOMERS, colleague.email, SAMS_OTHER, PATS_UNAPPROVED))
        )
        mid = rng.choice((*MESSAGE_IDS, None))
        self.n += 1
        email_id = self.db.insert(
            "INSERT INTO emails (owner_id, thread_id, message_id, message_id_norm, fingerprint, raw_sha256, direction, "
            "source, from_email, date_utc, folder, visibility, link_verdict, captured_utc) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 'sync', ?, ?, ?, ?, ?, ?)",
            (
                owner.id,
                thread,
                mid and f"<{mid}>",
                mid,
                f"f{self.n}",
                self.w.raw,
                direction,
                sender,
                rng.choice(DATES),
                rng.choice(("inbox", "inbox", "archive", "sent", "trash")),
                visibility,
                rng.choice((None, None, None, "internal", "automated")),
                STAMP,
            ),
        )
        if rng.random() < 0.6:
            self.db.execute(
                "INSERT INTO email_contacts (email_id, contact_id, rule, is_proposed) VALUES (?, ?, 'address', ?)",
                (email_id, rng.choice(self.w.contacts), int(rng.random() < 0.2)),
            )
        if mid is not None:
            emails_store.register_message_ids(self.db, owner.id, [mid], thread)

    def new_date(self) -> None:
        self.db.execute("UPDATE emails SET date_utc = ? WHERE id = ?", (self.rng.choice(DATES), self._email_id()))

    def new_verdict(self) -> None:
        verdict = self.rng.choice((None, "internal", "blocked"))
        self.db.execute("UPDATE emails SET link_verdict = ? WHERE id = ?", (verdict, self._email_id()))

    def share_or_not(self) -> None:
        visibility = self.rng.choice(("shared", "private"))
        if self.rng.random() < 0.5:  # a whole thread, as `pdmail share` does
            thread = self.db.scalar("SELECT thread_id FROM emails WHERE id = ?", (self._email_id(),))
            self.db.execute("UPDATE threads SET visibility = ? WHERE id = ?", (visibility, thread))
            self.db.execute("UPDATE emails SET visibility = ? WHERE thread_id = ?", (visibility, thread))
        else:
            self.db.execute("UPDATE emails SET visibility = ? WHERE id = ?", (visibility, self._email_id()))

    def relink(self) -> None:
        email_id, contact = self._email_id(), self.rng.choice(self.w.contacts)
        kind = self.rng.randrange(3)
        if kind == 0:
            self.db.execute(
                "INSERT INTO email_contacts (email_id, contact_id, rule) VALUES (?, ?, 'address') ON CONFLICT DO NOTHING",
                (email_id, contact),
            )
        elif kind == 1:
            self.db.execute("DELETE FROM email_contacts WHERE email_id = ?", (email_id,))
        else:
            self.db.execute("UPDATE email_contacts SET is_proposed = 1 - is_proposed WHERE email_id = ?", (email_id,))

    def deal(self) -> None:
        email_id = self._email_id()
        if self.rng.random() < 0.5:
            deal = self.rng.choice((None, self.w.deal))
            self.db.execute("UPDATE emails SET deal_id = ?, is_deal_proposed = 0 WHERE id = ?", (deal, email_id))
        else:
            self.db.execute("UPDATE emails SET is_deal_proposed = 1 - is_deal_proposed WHERE id = ?", (email_id,))

    def trash(self) -> None:
        folder = self.rng.choice(("trash", "inbox", "archive"))
        self.db.execute("UPDATE emails SET folder = ? WHERE id = ?", (folder, self._email_id()))

    def merge(self) -> None:
        owner = self.rng.choice(self.w.users)
        threads = [r[0] for r in self.db.all("SELECT DISTINCT thread_id FROM emails WHERE owner_id = ?", (owner.id,))]
        if len(threads) >= 2:
            target, other = self.rng.sample(threads, 2)
            emails_store.merge_threads(self.db, target, [other])

    def split(self) -> None:
        email_id = self._email_id()
        row = self.db.one("SELECT owner_id, thread_id, message_id_norm FROM emails WHERE id = ?", (email_id,))
        links_store.split_thread(
            self.db,
            owner_id=row["owner_id"],
            old_thread=row["thread_id"],
            email_ids=[email_id],
            message_ids=[row["message_id_norm"]] if row["message_id_norm"] else [],
            subject_norm="quote",
            stamp=STAMP,
        )

    def delete(self) -> None:
        email_id = self._email_id()
        search = ("email_search",) if self.db.engine == "postgres" else ()  # SQLite's index follows by trigger
        for table in ("email_contacts", "email_orgs", "email_addresses", *search):
            self.db.execute(f"DELETE FROM {table} WHERE email_id = ?", (email_id,))
        self.db.execute("DELETE FROM emails WHERE id = ?", (email_id,))

    def colleague_takes_message_id(self) -> None:
        """A colleague's conversation comes to hold a Message-ID (a reply that references it)."""
        owner = self.rng.choice(self.w.users)
        threads = [r[0] for r in self.db.all("SELECT id FROM threads WHERE owner_id = ?", (owner.id,))]
        if threads:
            emails_store.register_message_ids(
                self.db, owner.id, [self.rng.choice(MESSAGE_IDS)], self.rng.choice(threads)
            )


CHANGES = (
    "new_email",
    "new_email",
    "new_email",
    "new_date",
    "new_verdict",
    "share_or_not",
    "relink",
    "deal",
    "trash",
    "merge",
    "split",
    "delete",
    "colleague_takes_message_id",
)


@pytest.mark.parametrize("seed", (18, 1018))
def test_the_views_find_what_their_definition_finds_after_every_change(world, seed):
    rng = random.Random(seed)
    changes = Changes(world, rng)
    with world.db.tx():
        for _ in range(12):
            changes.new_email()
    check(world, "start")
    for step in range(45):
        change = rng.choice(CHANGES) if changes._count() > 3 else "new_email"
        with world.db.tx():
            getattr(changes, change)()
        check(world, (step, change))
    s = snapshot(world.db)  # the walk met what it is about
    assert any(e["is_last_for_team"] for e in s["emails"]) and any(e["held_by_colleague"] for e in s["emails"])
    assert any(not e["is_last_for_team"] and e["is_last_for_owner"] for e in s["emails"])


def test_a_colleagues_reply_in_their_own_thread_answers_for_the_team_only_where_it_may_be_seen(world):
    """The one answer that depends on who looks: a colleague's private reply answers for themselves."""
    db = world.db
    maria, sam, pat = world.users
    with db.tx():
        mine = emails_store.create_thread(db, maria.id, "quote", "shared", STAMP)
        theirs = emails_store.create_thread(db, sam.id, "quote", "private", STAMP)
    changes = Changes(world, random.Random(0))

    def add(owner, thread, direction, date, mid):
        changes.n += 1
        email_id = db.insert(
            "INSERT INTO emails (owner_id, thread_id, message_id_norm, fingerprint, raw_sha256, direction, source, "
            "from_email, date_utc, visibility, captured_utc) VALUES (?, ?, ?, ?, ?, ?, 'sync', ?, ?, ?, ?)",
            (
                owner.id,
                thread,
                mid,
                f"g{changes.n}",
                world.raw,
                direction,
                CUSTOMERS[0] if direction == "incoming" else owner.email,
                date,
                db.scalar("SELECT visibility FROM threads WHERE id = ?", (thread,)),
                STAMP,
            ),
        )
        db.execute(
            "INSERT INTO email_contacts (email_id, contact_id, rule) VALUES (?, ?, 'address')",
            (email_id, world.contacts[0]),
        )
        emails_store.register_message_ids(db, owner.id, [mid], thread)
        return email_id

    with db.tx():
        question = add(maria, mine, "incoming", DATES[0], "q@mail.example")
        add(sam, theirs, "incoming", DATES[0], "q@mail.example")
        add(sam, theirs, "outgoing", DATES[1], "a@mail.example")
    assert db.scalar("SELECT held_by_colleague FROM emails WHERE id = ?", (question,)) == 1
    team = awaiting_filter(unanswered=CUTOFFS[-1], team=True)
    found = {u.email: [e["id"] for e in page_emails(world.readers.get(u.id, db), u, team).emails] for u in world.users}
    assert question not in found[sam.email]  # sam answered it, in a thread only sam sees
    assert question in found[maria.email] and question in found[pat.email]
    check(world, "one answer")


def test_an_older_database_gets_the_flags_of_the_mail_it_holds(db_path, monkeypatch):
    """Migration 18 sets the flags from the conversations a database already holds."""
    from pdmail.store import migrations, migrations_postgres

    before = [n for n, _ in migrations.MIGRATIONS].index("018_thread_last_counting")
    for module in (migrations, migrations_postgres):
        monkeypatch.setattr(module, "MIGRATIONS", migrations.MIGRATIONS[:before])
        monkeypatch.setattr(module, "SCHEMA_VERSION", before)
    w = make_world(db_path)
    rng = random.Random(17)
    changes = Changes(w, rng)
    with w.db.tx():
        for _ in range(25):
            changes.new_email()
        for change in ("merge", "split", "new_verdict", "share_or_not", "relink", "deal", "colleague_takes_message_id"):
            for _ in range(3):
                getattr(changes, change)()
    close_world(w)
    monkeypatch.undo()
    db = open_db(db_path)
    upgraded = db.all("SELECT number FROM _pdmail_migrations WHERE number > ? ORDER BY number", (before,))
    assert [r[0] for r in upgraded] == list(range(before + 1, migrations.SCHEMA_VERSION + 1))  # 18 and any later
    w = World(db, w.users, w.contacts, w.deal, w.raw, readers(db, db_path, w.users))
    try:
        check(w, "upgraded")
        s = snapshot(db)
        assert any(e["is_last_for_team"] for e in s["emails"]) and any(e["held_by_colleague"] for e in s["emails"])
    finally:
        close_world(w)


@pytest.mark.postgres_only
def test_two_writers_into_one_conversation_leave_one_last_email(db_path):
    """pdmail's own writers take turns on the team server; a program writing there with SQL of its own
    does not. Two transactions that write into one conversation at once still leave one last email:
    the second waits for the first, so that it sees the first's email."""
    import threading

    import psycopg

    w = make_world(db_path)
    maria = w.users[0]
    with w.db.tx():
        thread = emails_store.create_thread(w.db, maria.id, "quote", "shared", STAMP)
    insert = (
        "INSERT INTO emails (owner_id, thread_id, fingerprint, raw_sha256, direction, source, date_utc, "
        "visibility, captured_utc) VALUES (%s, %s, %s, %s, 'incoming', 'sync', %s, 'shared', %s)"
    )
    first, second = psycopg.connect(str(db_path)), psycopg.connect(str(db_path))
    try:

        def later():
            second.execute(insert, (maria.id, thread, "w2", w.raw, DATES[5], STAMP))
            second.commit()

        first.execute(insert, (maria.id, thread, "w1", w.raw, DATES[1], STAMP))
        writer = threading.Thread(target=later)
        writer.start()
        writer.join(timeout=1.5)  # the second has written, or waits for the first
        first.commit()
        writer.join(timeout=30)
        last = w.db.all("SELECT date_utc FROM emails WHERE thread_id = ? AND is_last_for_owner = 1", (thread,))
        assert [r[0] for r in last] == [DATES[5]]
    finally:
        first.close()
        second.close()
        close_world(w)


@pytest.mark.parametrize("newest_first", (False, True))
def test_statements_that_write_several_emails_of_a_thread_at_once_leave_the_flags_right(world, newest_first):
    """The team server sets an email's flags as its row is written, from the emails of its thread
    written before it, and clears the older ones afterwards: one statement that writes several emails
    of one thread, in either order, or moves several of them at once, must still leave one last
    email, as the definition says."""
    db = world.db
    maria = world.users[0]
    with db.tx():
        thread = emails_store.create_thread(db, maria.id, "quote", "shared", STAMP)
        other = emails_store.create_thread(db, maria.id, "quote", "shared", STAMP)
    order = "DESC" if newest_first else "ASC"
    with db.tx():  # five emails in one statement, dates tying, the newest first or last
        db.execute(
            "INSERT INTO emails (owner_id, thread_id, fingerprint, raw_sha256, direction, source, date_utc, "
            "visibility, deal_id, captured_utc) "
            f"SELECT ?, ?, 'several' || n, ?, 'incoming', 'sync', d, 'shared', CASE WHEN n % 2 = 1 THEN ? END, ? FROM ("
            "SELECT 1 AS n, ? AS d UNION ALL SELECT 2, ? UNION ALL SELECT 3, ? UNION ALL SELECT 4, ? "
            f"UNION ALL SELECT 5, ?) AS rows ORDER BY d {order}, n {order}",
            (maria.id, thread, world.raw, world.deal, STAMP, DATES[1], DATES[3], DATES[3], DATES[2], DATES[0]),
        )
    assert flag_mismatches(snapshot(db)) == [], "inserted together"
    ids = [r[0] for r in db.all("SELECT id FROM emails WHERE thread_id = ? ORDER BY id", (thread,))]
    with db.tx():  # the oldest become the newest, all in one statement
        db.execute(
            "UPDATE emails SET date_utc = CASE WHEN date_utc < ? THEN ? ELSE ? END WHERE thread_id = ?",
            (DATES[2], DATES[7], DATES[4], thread),
        )
    assert flag_mismatches(snapshot(db)) == [], "dates changed together"
    with db.tx():  # half of them move to another thread at once, then the rest are made private
        db.execute(f"UPDATE emails SET thread_id = ? WHERE id IN ({ids[0]}, {ids[3]}, {ids[4]})", (other,))
        db.execute("UPDATE emails SET visibility = 'private' WHERE thread_id = ?", (thread,))
    assert flag_mismatches(snapshot(db)) == [], "moved together"
    with db.tx():
        db.execute(f"DELETE FROM emails WHERE id IN ({ids[3]}, {ids[4]})")
    assert flag_mismatches(snapshot(db)) == [], "removed together"
    check(world, "several at once")
