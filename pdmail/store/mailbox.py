"""Reading email: inbox, one email, its thread, search, and the views of contacts, deals and orgs.

Every query here filters with :func:`pdmail.visibility.sql_condition` (``Database.visible``) inside
SQL, so limits, counts and pages are computed over what the viewer may see, never trimmed afterwards.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from pdmail.core.errors import OwnerOnly, UsageError, not_found
from pdmail.core.models import User
from pdmail.store.db import Database
from pdmail.store.emails import get_raw
from pdmail.visibility import EmailFacts

FOLDERS = ("inbox", "sent", "archive", "trash", "all")


@dataclass(frozen=True)
class InboxFilter:
    folder: str = "inbox"
    team: bool = False
    unread: bool = False
    needs_deal: bool = False
    unlinked: bool = False
    proposed: bool = False  # the viewer's own email holding links that wait for their acceptance
    contact_id: int | None = None
    deal_id: int | None = None
    org_id: int | None = None
    since: str | None = None  # ISO date or date-time, UTC; inclusive
    until: str | None = None  # ISO date or date-time, UTC; exclusive
    include_trash: bool = True  # with folder "all": the record views leave deleted mail out
    # Conversations waiting on someone, each by its last email that counts, which is at or before
    # this UTC time: the viewer's own mail that no customer answered, or a customer's nobody did.
    awaiting_reply_before: str | None = None
    unanswered_before: str | None = None
    limit: int = 50
    page: int = 1


@dataclass(frozen=True)
class Page:
    emails: list[dict]
    has_more: bool
    page: int
    limit: int


_EMAIL_COLUMNS = (
    "e.id, e.thread_id, e.owner_id, e.message_id, e.direction, e.source, e.from_name, e.from_email, e.to_json, "
    "e.cc_json, e.subject, e.date_utc, e.snippet, e.is_read, e.folder, e.is_deleted, e.visibility, e.deal_id, "
    "e.needs_deal, e.attachments_json, e.link_verdict, e.is_deal_proposed, u.email AS owner_email"
)

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?Z?)?$")


def utc_bound(text: str, option: str) -> str:
    """A user's date (2026-11-01 or 2026-11-01T09:30) as the stored ``date_utc`` text compares."""
    value = text.strip()
    if not _DATE_RE.match(value):
        raise UsageError(f"{option} takes a date like 2026-11-01 or 2026-11-01T09:30 (UTC), not {text!r}")
    value = value.replace(" ", "T").rstrip("Z")
    if len(value) == 10:
        value += "T00:00:00"
    elif len(value) == 16:
        value += ":00"
    return value + "Z"


def _base_where(db: Database, viewer: User, f: InboxFilter) -> tuple[list[str], dict]:
    where = [db.visible("e")]
    params: dict = {"viewer": viewer.id}
    if not f.team:
        where.append("e.owner_id = :viewer")
    if f.folder not in FOLDERS:
        raise UsageError(f"unknown folder {f.folder!r}: use one of {', '.join(FOLDERS)}")
    if f.folder != "all":
        where.append("e.folder = :folder")
        params["folder"] = f.folder
    elif not f.include_trash:
        where.append("e.folder != 'trash'")
    if f.unread:
        where.append("e.is_read = 0")
    if f.needs_deal:
        where.append("e.needs_deal = 1")
    if f.unlinked:
        where.append(
            "e.deal_id IS NULL AND NOT EXISTS (SELECT 1 FROM email_contacts x WHERE x.email_id = e.id) "
            "AND NOT EXISTS (SELECT 1 FROM email_orgs xo WHERE xo.email_id = e.id)"
        )
    if f.proposed:
        where.append(
            "e.owner_id = :viewer AND (e.is_deal_proposed = 1 OR EXISTS "
            "(SELECT 1 FROM email_contacts p WHERE p.email_id = e.id AND p.is_proposed = 1) OR EXISTS "
            "(SELECT 1 FROM email_orgs po WHERE po.email_id = e.id AND po.is_proposed = 1))"
        )
    # Record filters are written as `e.id IN (...)` so that SQLite can start from the link tables
    # instead of walking every email by date. A link that waits for its owner's acceptance is a
    # link for the owner alone.
    if f.contact_id is not None:
        where.append("e.id IN (SELECT x.email_id FROM email_contacts x WHERE x.contact_id = :contact)")
        where.append(
            "(e.owner_id = :viewer OR EXISTS (SELECT 1 FROM email_contacts y WHERE y.email_id = e.id "
            "AND y.contact_id = :contact AND y.is_proposed = 0))"
        )
        params["contact"] = f.contact_id
    if f.deal_id is not None:
        where.append("e.deal_id = :deal")
        where.append("(e.owner_id = :viewer OR e.is_deal_proposed = 0)")
        params["deal"] = f.deal_id
    if f.org_id is not None:
        # Linked to the organization itself (by domain or by hand), to one of its contacts, or to one of its deals.
        where.append(
            "(e.id IN (SELECT x.email_id FROM email_contacts x JOIN contacts c ON c.id = x.contact_id "
            "WHERE c.org_id = :org) OR e.id IN (SELECT xo.email_id FROM email_orgs xo WHERE xo.org_id = :org) "
            "OR e.deal_id IN (SELECT d.id FROM deals d WHERE d.org_id = :org))"
        )
        where.append(
            "(e.owner_id = :viewer OR EXISTS (SELECT 1 FROM email_contacts y JOIN contacts c ON c.id = y.contact_id "
            "WHERE y.email_id = e.id AND c.org_id = :org AND y.is_proposed = 0) OR EXISTS (SELECT 1 FROM email_orgs yo "
            "WHERE yo.email_id = e.id AND yo.org_id = :org AND yo.is_proposed = 0) OR (e.is_deal_proposed = 0 AND "
            "e.deal_id IN (SELECT d.id FROM deals d WHERE d.org_id = :org)))"
        )
        params["org"] = f.org_id
    if f.awaiting_reply_before is not None:
        where += _awaiting_reply(f.team)
        params["awaiting"] = f.awaiting_reply_before
    if f.unanswered_before is not None:
        where += _unanswered(db, f.team)
        params["unanswered"] = f.unanswered_before
    if f.since:
        where.append("e.date_utc >= :since")
        params["since"] = utc_bound(f.since, "--since")
    if f.until:
        where.append("e.date_utc < :until")
        params["until"] = utc_bound(f.until, "--until")
    return where, params


# Mail that counts in a conversation: not internal (colleagues only), automated or bulk, or from a
# blocked sender; those carry a verdict. Written as the partial indexes of migration 13 are.
_CONVERSING = "link_verdict IS NULL"


def _last_in_thread(team: bool) -> list[str]:
    """The email is the last of its thread that counts, among those the viewer may see.

    A thread is one owner's, and anyone else sees the same emails of it (shared and linked), so the
    answer is kept on the email, one for its owner and one for everyone else (migration 18): an
    index of the last emails alone is walked, instead of looking for a newer email per candidate.
    """
    if not team:
        return ["e.is_last_for_owner = 1"]  # with e.owner_id = :viewer, from the base condition
    return [
        "(e.is_last_for_owner = 1 OR e.is_last_for_team = 1)",  # the partial index's own words
        "(CASE WHEN e.owner_id = :viewer THEN e.is_last_for_owner ELSE e.is_last_for_team END) = 1",
    ]


def _awaiting_reply(team: bool) -> list[str]:
    """Threads whose last email that counts is the owner's own, to a customer, sent at or before :awaiting."""
    return [f"e.{_CONVERSING}", "e.direction = 'outgoing'", "e.date_utc <= :awaiting", *_last_in_thread(team)]


def _unanswered(db: Database, team: bool) -> list[str]:
    """Threads whose last email that counts came from a customer at or before :unanswered, and that
    nobody on the team answered: not in the thread, and not in a thread of their own that the viewer
    may see (a colleague who had the same message and replied to it)."""
    return [
        f"e.{_CONVERSING}",
        "e.direction = 'incoming'",
        "e.date_utc <= :unanswered",
        *_last_in_thread(team),
        # NOT IN a colleague's addresses (never NULL, which would make NOT IN answer nothing): each
        # engine looks them up once, in a hash or an index of its own, where PostgreSQL would
        # otherwise compare each candidate with every user.
        "e.from_email NOT IN (SELECT tu.email FROM users tu)",
        "e.from_email NOT IN (SELECT ta.email FROM user_addresses ta "
        "WHERE ta.approved_utc IS NOT NULL AND ta.email IS NOT NULL)",
        _not_answered_elsewhere(db, team),
    ]


def _not_answered_elsewhere(db: Database, team: bool) -> str:
    """No colleague who had the same message answered it in a conversation of their own, by a reply
    the viewer may see. Only an email whose Message-ID a colleague's conversation holds can have
    such an answer (``held_by_colleague``, kept by the database): the others are never looked into.

    On a team server that flag, the colleague's copy of the message and its Message-IDs are for the
    database alone (migration 20): a user's login cannot read them. So the database's own function
    answers, once per statement, with the emails the viewer may see that were answered elsewhere as
    of the cut-off (:unanswered), among the viewer's own candidates or, with ``team``, the team's;
    and nothing else. A file has no logins: it asks per email.

    Written as NOT EXISTS, an anti-join: the planner then reckons that few candidates drop out, as
    they do, and a page keeps walking the index of last emails by date and stops after a page
    (``NOT IN`` is reckoned to drop half, and a team's page at a million emails read the whole table)."""
    if db.has_logins:
        mine_or_team = "true" if team else "false"  # the viewer's own candidates alone, or the team's too
        return f"NOT EXISTS (SELECT 1 FROM pdmail_answered_elsewhere(:unanswered, {mine_or_team}) AS a(id) WHERE a.id = e.id)"
    return (
        "(e.message_id_norm IS NULL OR e.held_by_colleague = 0 OR NOT EXISTS (SELECT 1 FROM thread_message_ids m "
        "JOIN emails r ON r.thread_id = m.thread_id WHERE m.message_id = e.message_id_norm "
        f"AND m.owner_id != e.owner_id AND r.direction = 'outgoing' AND r.{_CONVERSING} "
        f"AND r.date_utc > e.date_utc AND {db.visible('r')}))"
    )


_INT64_MAX = 2**63 - 1


def inbox_query(db: Database, viewer: User, f: InboxFilter, *, extra: int = 0) -> tuple[str, dict]:
    """The SQL of one page (``extra`` more rows to learn whether another page follows)."""
    if f.limit < 1 or f.page < 1:
        raise UsageError("--limit and --page must be at least 1")
    where, params = _base_where(db, viewer, f)
    # Capped where SQLite's integers end: a page that far is simply past the last one.
    params.update(limit=min(f.limit + extra, _INT64_MAX), offset=min((f.page - 1) * f.limit, _INT64_MAX))
    sql = (
        f"SELECT {_EMAIL_COLUMNS} FROM emails e JOIN users u ON u.id = e.owner_id "
        f"WHERE {' AND '.join(where)} ORDER BY e.date_utc DESC, e.id DESC LIMIT :limit OFFSET :offset"
    )
    return sql, params


def awaiting_filter(*, awaiting: str | None = None, unanswered: str | None = None, team: bool = False) -> InboxFilter:
    """The filter of ``inbox --awaiting-reply`` or ``--unanswered`` (UTC cut-offs), every folder but the trash."""
    return InboxFilter(
        folder="all", include_trash=False, team=team, awaiting_reply_before=awaiting, unanswered_before=unanswered
    )


def page_emails(db: Database, viewer: User, f: InboxFilter) -> Page:
    """One page, newest first, and whether there is a next one (without counting everything)."""
    sql, params = inbox_query(db, viewer, f, extra=1)
    rows = db.all(sql, params)
    return Page(_to_json(db, viewer, rows[: f.limit]), len(rows) > f.limit, f.page, f.limit)


def count_emails(db: Database, viewer: User, f: InboxFilter) -> int:
    """How many emails the filter finds. A team's count by folder, read or deal-less state reads the
    narrow index of what the sharing law looks at (``emails_visibility_facts``), never the emails."""
    where, params = _base_where(db, viewer, f)
    facts_only = f.team and not (
        f.contact_id
        or f.deal_id
        or f.org_id
        or f.since
        or f.until
        or f.unlinked
        or f.proposed
        or f.awaiting_reply_before
        or f.unanswered_before
    )
    index = db.index_hint("emails_visibility_facts") if facts_only else ""
    return db.scalar(f"SELECT count(*) FROM emails e{index} WHERE {' AND '.join(where)}", params)


def thread_summaries(db: Database, viewer: User, thread_ids: list[int]) -> dict[int, tuple[int, int]]:
    """For each thread: how many of its emails the viewer may see, and how many of those are unread."""
    if not thread_ids:
        return {}
    marks = ",".join(f":t{i}" for i in range(len(thread_ids)))
    params: dict = {f"t{i}": t for i, t in enumerate(thread_ids)} | {"viewer": viewer.id}
    rows = db.all(
        f"SELECT e.thread_id, count(*), sum(CASE WHEN e.is_read = 0 THEN 1 ELSE 0 END) FROM emails e "
        f"WHERE e.thread_id IN ({marks}) AND {db.visible('e')} GROUP BY e.thread_id",
        params,
    )
    return {r[0]: (r[1], r[2] or 0) for r in rows}


def with_proposals(db: Database, viewer: User, email_ids: list[int]) -> set[int]:
    """Which of these emails are the viewer's own and hold links that wait for the viewer's acceptance."""
    if not email_ids:
        return set()
    rows = db.all(
        f"SELECT e.id FROM emails e WHERE {db.in_json('e.id', ':ids')} AND e.owner_id = :viewer "
        "AND (e.is_deal_proposed = 1 OR EXISTS (SELECT 1 FROM email_contacts p WHERE p.email_id = e.id "
        "AND p.is_proposed = 1) OR EXISTS (SELECT 1 FROM email_orgs po WHERE po.email_id = e.id "
        "AND po.is_proposed = 1))",
        {"ids": json.dumps(sorted(set(email_ids))), "viewer": viewer.id},
    )
    return {r[0] for r in rows}


def record_emails(
    db: Database,
    viewer: User,
    *,
    contact_id: int | None = None,
    deal_id: int | None = None,
    org_id: int | None = None,
    limit: int = 50,
) -> Page:
    """The emails linked to a contact, deal or organization that this viewer may see, newest first."""
    f = InboxFilter(
        folder="all", team=True, include_trash=False, contact_id=contact_id, deal_id=deal_id, org_id=org_id, limit=limit
    )
    return page_emails(db, viewer, f)


def _to_json(db: Database, viewer: User, rows) -> list[dict]:
    if not rows:
        return []
    ids = [r["id"] for r in rows]
    contacts: dict[int, list[tuple[int, bool]]] = {}
    marks = ",".join("?" * len(ids))
    for link in db.all(
        f"SELECT email_id, contact_id, is_proposed FROM email_contacts WHERE email_id IN ({marks}) ORDER BY contact_id",
        tuple(ids),
    ):
        contacts.setdefault(link[0], []).append((link[1], bool(link[2])))
    orgs: dict[int, list[tuple[int, bool]]] = {}
    for link in db.all(
        f"SELECT email_id, org_id, is_proposed FROM email_orgs WHERE email_id IN ({marks}) ORDER BY org_id",
        tuple(ids),
    ):
        orgs.setdefault(link[0], []).append((link[1], bool(link[2])))
    return [
        email_json(r, contacts.get(r["id"], []), own=r["owner_id"] == viewer.id, org_links=orgs.get(r["id"], []))
        for r in rows
    ]


def email_json(
    r, contact_links: list[tuple[int, bool]], *, own: bool, org_links: Sequence[tuple[int, bool]] = ()
) -> dict:
    """The one JSON shape of an email (docs/spec.md, "An email").

    Links that wait for the owner's acceptance (rule 4) are the owner's to see: they are listed to
    the owner only (`pdmail explain` and `pdmail link --review` tell which they are).
    """
    deal_proposed = bool(r["is_deal_proposed"]) and r["deal_id"] is not None
    return {
        "id": r["id"],
        "thread_id": r["thread_id"],
        "message_id": r["message_id"],
        "direction": r["direction"],
        "source": r["source"],
        "from": {"name": r["from_name"], "email": r["from_email"]},
        "to": json.loads(r["to_json"]),
        "cc": json.loads(r["cc_json"]),
        "subject": r["subject"],
        "date": r["date_utc"],
        "snippet": r["snippet"],
        "read": bool(r["is_read"]),
        "folder": r["folder"],
        "visibility": r["visibility"],
        "owner": r["owner_email"],
        "contacts": [cid for cid, proposed in contact_links if own or not proposed],
        "orgs": [oid for oid, proposed in org_links if own or not proposed],
        "deal": r["deal_id"] if own or not deal_proposed else None,
        "needs_deal": bool(r["needs_deal"]),
        "attachments": json.loads(r["attachments_json"]),
    }


def get_email_row(db: Database, viewer: User, email_id: int):
    """The row, if this viewer may see it; otherwise exactly what a missing email looks like."""
    row = db.one(
        f"SELECT {_EMAIL_COLUMNS}, e.body_text, e.raw_sha256, e.wrapper_sha256, e.link_trace_json, e.deal_rule, "
        f"e.is_deal_manual, e.is_automated, e.date_source, e.parse_status, e.message_id_norm "
        f"FROM emails e JOIN users u ON u.id = e.owner_id WHERE e.id = :id AND {db.visible('e')}",
        {"id": email_id, "viewer": viewer.id},
    )
    if row is None:
        raise not_found("email", email_id)
    return row


def get_email(db: Database, viewer: User, email_id: int) -> dict:
    row = get_email_row(db, viewer, email_id)
    data = _to_json(db, viewer, [row])[0]
    data["text"] = row["body_text"]
    data["thread"] = thread_ids(db, viewer, row["thread_id"])
    return data


def get_owned_email_row(db: Database, user: User, email_id: int, action: str = "change email {email}"):
    """For commands that change an email: only its owner may.

    A colleague who may see the email is told that only its owner may ``action`` it; to anyone else it
    reads exactly like an email that does not exist. Both exit 4.
    """
    # Named columns: on a team server a login reads every column of an email but the database's own
    # notes of colleagues' mail (migration 20), so ``*`` is refused there.
    row = db.one(
        f"SELECT {_EMAIL_COLUMNS} FROM emails e JOIN users u ON u.id = e.owner_id WHERE e.id = ? AND e.owner_id = ?",
        (email_id, user.id),
    )
    if row is not None:
        return row
    owner = db.scalar(
        f"SELECT u.email FROM emails e JOIN users u ON u.id = e.owner_id WHERE e.id = :id AND {db.visible('e')}",
        {"id": email_id, "viewer": user.id},
    )
    if owner is None:
        raise not_found("email", email_id)
    raise OwnerOnly(f"only its owner ({owner}) may {action.format(email=email_id)}")


def thread_member_ids(db: Database, thread_id: int) -> list[int]:
    """Every email of a thread, oldest first: a thread has one owner, so all of them are theirs."""
    return [r[0] for r in db.all("SELECT id FROM emails WHERE thread_id = ? ORDER BY date_utc, id", (thread_id,))]


def thread_ids(db: Database, viewer: User, thread_id: int) -> list[int]:
    rows = db.all(
        f"SELECT e.id FROM emails e WHERE e.thread_id = :thread AND {db.visible('e')} ORDER BY e.date_utc, e.id",
        {"thread": thread_id, "viewer": viewer.id},
    )
    return [r[0] for r in rows]


def thread_emails(db: Database, viewer: User, thread_id: int) -> list[dict]:
    rows = db.all(
        f"SELECT {_EMAIL_COLUMNS} FROM emails e JOIN users u ON u.id = e.owner_id "
        f"WHERE e.thread_id = :thread AND {db.visible('e')} ORDER BY e.date_utc, e.id",
        {"thread": thread_id, "viewer": viewer.id},
    )
    return _to_json(db, viewer, rows)


def facts(db: Database, email_id: int) -> EmailFacts:
    r = db.row(
        "SELECT owner_id, visibility, deal_id, is_deal_proposed, "
        "EXISTS (SELECT 1 FROM email_contacts WHERE email_id = :id AND is_proposed = 0) AS linked, "
        "EXISTS (SELECT 1 FROM email_orgs WHERE email_id = :id AND is_proposed = 0) AS org_linked, "
        "(EXISTS (SELECT 1 FROM email_contacts WHERE email_id = :id AND is_proposed = 1) OR "
        "EXISTS (SELECT 1 FROM email_orgs WHERE email_id = :id AND is_proposed = 1)) AS proposed "
        "FROM emails WHERE id = :id",
        {"id": email_id},
    )
    deal = r["deal_id"] is not None
    deal_proposed = deal and bool(r["is_deal_proposed"])
    return EmailFacts(
        r["owner_id"],
        r["visibility"],
        bool(r["linked"]),
        deal and not deal_proposed,
        has_proposal=bool(r["proposed"]) or deal_proposed,
        has_org=bool(r["org_linked"]),
    )


# --- search -----------------------------------------------------------------------------------

_TOKEN = re.compile(r'(?P<field>from|to):(?P<fvalue>"[^"]*"|\S+)|"(?P<phrase>[^"]*)"?|(?P<word>\S+)', re.IGNORECASE)


@dataclass(frozen=True)
class SearchQuery:
    phrases: tuple[tuple[str, ...], ...]  # words that must appear side by side, each phrase somewhere
    from_terms: tuple[str, ...]
    to_terms: tuple[str, ...]


def parse_search(text: str) -> SearchQuery:
    """User text → words and phrases only: no syntax of the full-text engine can leak through."""
    phrases: list[tuple[str, ...]] = []
    from_terms: list[str] = []
    to_terms: list[str] = []
    for m in _TOKEN.finditer(text):
        if m["field"]:
            value = m["fvalue"].strip('"').strip().lower()
            if value:
                (from_terms if m["field"].lower() == "from" else to_terms).append(value)
            continue
        chunk = m["phrase"] if m["phrase"] is not None else m["word"]
        words = re.findall(r"\w+", chunk or "")
        if words:
            phrases.append(tuple(words))
    return SearchQuery(tuple(phrases), tuple(from_terms), tuple(to_terms))


# Above this many full-text matches, walking emails newest first and keeping the matches beats
# fetching every match and sorting them all (a common word matches a good part of the mailbox).
MANY_MATCHES = 2000


def search_query(
    db: Database, viewer: User, text: str, *, limit: int = 50, team: bool = True, by_date: bool = False
) -> tuple[str, dict]:
    q = parse_search(text)
    if not (q.phrases or q.from_terms or q.to_terms):
        raise UsageError('nothing to search for: give a word, a "phrase", from:ADDR or to:ADDR')
    if limit < 1:
        raise UsageError("--limit must be at least 1")
    where = [db.visible("e")]
    params: dict = {"viewer": viewer.id, "limit": limit}
    if not team:
        where.append("e.owner_id = :viewer")
    if q.phrases:
        where.append(db.search_condition("e.id", ":fts"))
        params["fts"] = db.search_value(q.phrases)
    for i, term in enumerate(q.from_terms):
        where.append(f"(e.from_email {db.like} :f{i} ESCAPE '\\' OR e.from_name {db.like} :f{i} ESCAPE '\\')")
        params[f"f{i}"] = _like(term)
    for i, term in enumerate(q.to_terms):
        where.append(
            f"EXISTS (SELECT 1 FROM email_addresses a WHERE a.email_id = e.id AND a.role IN ('to', 'cc') "
            f"AND a.address {db.like} :t{i} ESCAPE '\\')"
        )
        params[f"t{i}"] = _like(term)
    index = db.index_hint("emails_by_date" if team else "emails_by_owner_date") if by_date else ""
    sql = (
        f"SELECT {_EMAIL_COLUMNS} FROM emails e{index} JOIN users u ON u.id = e.owner_id "
        f"WHERE {' AND '.join(where)} ORDER BY e.date_utc DESC, e.id DESC LIMIT :limit"
    )
    return sql, params


def search(db: Database, viewer: User, text: str, *, limit: int = 50, team: bool = True) -> list[dict]:
    """The newest matches the viewer may see. With many full-text matches, walking the mail newest
    first is the faster plan: SQLite is told so, after counting up to MANY_MATCHES of them. Where
    the engine takes no such hint (PostgreSQL's planner chooses for itself) both are one statement,
    and nothing is counted."""
    sql, params = search_query(db, viewer, text, limit=limit, team=team)
    if "fts" in params:
        by_date, by_date_params = search_query(db, viewer, text, limit=limit, team=team, by_date=True)
        if by_date != sql and _matches_at_least(db, params["fts"], MANY_MATCHES):
            sql, params = by_date, by_date_params
    return _to_json(db, viewer, db.all(sql, params))


def _matches_at_least(db: Database, fts: str, n: int) -> bool:
    found = f"SELECT 1 FROM emails e WHERE {db.search_condition('e.id', '?')} LIMIT ?"
    return db.scalar(f"SELECT count(*) FROM ({found}) AS hits", (fts, n)) >= n


def explain_plans(db: Database, viewer: User, *, search_word: str) -> dict[str, list[str]]:
    """The query plans of the main reads, for benchmarks and for checking an index is used."""
    cases = {
        "inbox": inbox_query(db, viewer, InboxFilter(), extra=1),
        "inbox --unread": inbox_query(db, viewer, InboxFilter(unread=True), extra=1),
        "inbox --team": inbox_query(db, viewer, InboxFilter(team=True), extra=1),
        "inbox --awaiting-reply": inbox_query(db, viewer, awaiting_filter(awaiting="9999"), extra=1),
        "inbox --unanswered": inbox_query(db, viewer, awaiting_filter(unanswered="9999"), extra=1),
        "contact 1": inbox_query(db, viewer, InboxFilter(folder="all", team=True, include_trash=False, contact_id=1)),
        "deal 1": inbox_query(db, viewer, InboxFilter(folder="all", team=True, include_trash=False, deal_id=1)),
        "org 1": inbox_query(db, viewer, InboxFilter(folder="all", team=True, include_trash=False, org_id=1)),
        f"search {search_word}": search_query(db, viewer, search_word),
        f"search {search_word}, many matches": search_query(db, viewer, search_word, by_date=True),
    }
    return {name: db.query_plan(sql, params) for name, (sql, params) in cases.items()}


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def export_rows(db: Database, viewer: User, *, mine: bool, with_raw: bool, batch: int = 500):
    """Every email the viewer may see, oldest first, in batches so memory stays flat."""
    where = db.visible("e") + (" AND e.owner_id = :viewer" if mine else "")
    last = (" ", 0)
    while True:
        rows = db.all(
            f"SELECT {_EMAIL_COLUMNS}, e.body_text, e.raw_sha256 FROM emails e JOIN users u ON u.id = e.owner_id "
            f"WHERE {where} AND (e.date_utc, e.id) > (:d, :i) ORDER BY e.date_utc, e.id LIMIT :n",
            {"viewer": viewer.id, "d": last[0], "i": last[1], "n": batch},
        )
        if not rows:
            return
        for data, row in zip(_to_json(db, viewer, rows), rows):
            data["text"] = row["body_text"]
            raw = get_raw(db, row["raw_sha256"]) if with_raw else None
            yield data, raw
        last = (rows[-1]["date_utc"], rows[-1]["id"])
