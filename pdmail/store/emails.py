"""Captured email: raw bytes, threads, the email rows, their addresses, links and search index.

On a team server the mail server's login reads no mail (``Database.capture_only``): each function
capture uses asks the database's own capture function instead, which answers what capture must know
and nothing more (pdmail/store/logins_postgres.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from pdmail.core.models import Address, Direction, Source, Visibility
from pdmail.core.records import Record
from pdmail.store.db import BatchRows, Database


class NewEmail(Record):
    """Everything one email row needs; built by the capture pipeline."""

    owner_id: int
    thread_id: int
    message_id: str | None
    message_id_norm: str | None
    alt_message_id: str | None
    fingerprint: str
    raw_sha256: str
    wrapper_sha256: str | None
    direction: Direction
    source: Source
    from_: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    subject: str
    date_utc: str
    date_source: str
    snippet: str
    body_text: str
    attachments: tuple[dict, ...]
    folder: str
    is_read: bool
    visibility: Visibility
    deal_id: int | None
    deal_rule: str | None
    needs_deal: bool
    is_automated: bool
    link_verdict: str | None
    link_trace_json: str  # the engine's trace, serialized by LinkDecision.trace_json()
    link_input: dict
    bcc_deal_id: int | None
    contacts: tuple[tuple[int, str, str, str], ...]  # (contact id, address, rule, reason)
    parse_status: str
    captured_utc: str
    is_deal_manual: bool = False  # the thread's deal (or "no deal") was set by hand
    orgs: tuple[tuple[int, str, str, str], ...] = ()  # (organization id, address, rule, reason)
    search_document: str | None = None  # made by a parser process when the engine wants one (see search_document)


def put_raw(db: Database, sha256: str, data: bytes) -> None:
    db.execute(
        "INSERT INTO raw_messages (sha256, size, data) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        (sha256, len(data), data),
    )


def get_raw(db: Database, sha256: str) -> bytes | None:
    return db.scalar("SELECT data FROM raw_messages WHERE sha256 = ?", (sha256,))


def forget_raw(db: Database, sha256: str) -> None:
    """Delete stored bytes that no email, outbox message or quarantine entry refers to any more."""
    if db.has_logins:  # a login sees not every email that may hold these bytes: the database's own check
        db.execute("SELECT pdmail_forget_raw(?)", (sha256,))
        return
    db.execute(
        "DELETE FROM raw_messages WHERE sha256 = :sha"
        " AND NOT EXISTS (SELECT 1 FROM emails WHERE raw_sha256 = :sha)"
        " AND NOT EXISTS (SELECT 1 FROM emails WHERE wrapper_sha256 = :sha)"
        " AND NOT EXISTS (SELECT 1 FROM outbox WHERE raw_sha256 = :sha)"
        " AND NOT EXISTS (SELECT 1 FROM quarantine WHERE raw_sha256 = :sha)",
        {"sha": sha256},
    )


def find_by_fingerprint(db: Database, owner_id: int, fingerprint: str) -> int | None:
    if db.capture_only:
        return db.scalar("SELECT pdmail_capture_email_by_fingerprint(?, ?)", (owner_id, fingerprint))
    return db.scalar("SELECT id FROM emails WHERE owner_id = ? AND fingerprint = ?", (owner_id, fingerprint))


def find_by_message_id(db: Database, owner_id: int, message_id_norm: str) -> list[int]:
    if db.capture_only:
        found = db.all("SELECT * FROM pdmail_capture_emails_by_message_id(?, ?)", (owner_id, message_id_norm))
        return [r[0] for r in found]
    rows = db.all(
        # Two indexed lookups: with OR, SQLite reads every email of the owner (quadratic over a big sync).
        "SELECT id FROM emails WHERE owner_id = ? AND message_id_norm = ? "
        "UNION SELECT id FROM emails WHERE owner_id = ? AND alt_message_id = ?",
        (owner_id, message_id_norm, owner_id, message_id_norm),
    )
    return [r[0] for r in rows]


def stored_fingerprints(db: Database, owner_id: int, fingerprints: Iterable[str]) -> set[str]:
    """Those of ``fingerprints`` the owner has an email with: one query for a whole batch."""
    sql = f"SELECT fingerprint FROM emails WHERE owner_id = :owner AND {db.in_json('fingerprint', ':keys', text=True)}"
    return _owner_holds(db, owner_id, fingerprints, sql, "pdmail_capture_stored_fingerprints")


def taken_message_ids(db: Database, owner_id: int, message_ids: Iterable[str]) -> set[str]:
    """Those of ``message_ids`` that an email of the owner has, as its own or its alternative one
    (what :func:`find_by_message_id` looks up one at a time)."""
    sql = (
        "SELECT message_id_norm FROM emails WHERE owner_id = :owner AND "
        f"{db.in_json('message_id_norm', ':keys', text=True)} "
        f"UNION SELECT alt_message_id FROM emails WHERE owner_id = :owner AND {db.in_json('alt_message_id', ':keys', text=True)}"
    )
    return _owner_holds(db, owner_id, message_ids, sql, "pdmail_capture_taken_message_ids")


def threaded_message_ids(db: Database, owner_id: int, message_ids: Iterable[str]) -> set[str]:
    """Those of ``message_ids`` that tie a thread of the owner (see :func:`threads_for_message_ids`)."""
    sql = (
        "SELECT message_id FROM thread_message_ids WHERE owner_id = :owner AND "
        f"{db.in_json('message_id', ':keys', text=True)}"
    )
    return _owner_holds(db, owner_id, message_ids, sql, "pdmail_capture_threaded_message_ids")


def _owner_holds(db: Database, owner_id: int, keys: Iterable[str], sql: str, capture_function: str) -> set[str]:
    """Which of ``keys`` the owner's mail holds: ``sql`` (binding :owner and :keys, a JSON array), or
    on a team server's capture login the database's own function, which answers only that."""
    wanted = sorted(set(keys))
    if not wanted:
        return set()
    if db.capture_only:
        rows = db.all(f"SELECT * FROM {capture_function}(?, CAST(? AS text[]))", (owner_id, wanted))
    else:
        rows = db.all(sql, {"owner": owner_id, "keys": json.dumps(wanted)})
    return {r[0] for r in rows}


# --- threads ----------------------------------------------------------------------------------


class ThreadRow(Record):
    id: int
    owner_id: int
    subject_norm: str
    deal_id: int | None
    deal_rule: str | None
    is_deal_manual: bool
    visibility: Visibility


def get_thread(db: Database, thread_id: int) -> ThreadRow:
    """The thread; for the mail server's login without its subject, which capture never needs."""
    if db.capture_only:
        r = db.row("SELECT *, '' AS subject_norm FROM pdmail_capture_thread(?)", (thread_id,))
    else:
        r = db.row("SELECT * FROM threads WHERE id = ?", (thread_id,))
    return ThreadRow(
        r["id"],
        r["owner_id"],
        r["subject_norm"],
        r["deal_id"],
        r["deal_rule"],
        bool(r["is_deal_manual"]),
        r["visibility"],
    )


def threads_for_message_ids(db: Database, owner_id: int, ids: Sequence[str]) -> list[int]:
    if not ids:
        return []
    if db.capture_only:
        return sorted(set(thread_by_message_id(db, owner_id, ids).values()))
    marks = ",".join("?" * len(ids))
    rows = db.all(
        f"SELECT DISTINCT thread_id FROM thread_message_ids WHERE owner_id = ? AND message_id IN ({marks}) "
        "ORDER BY thread_id",
        (owner_id, *ids),
    )
    return [r[0] for r in rows]


def thread_by_message_id(db: Database, owner_id: int, ids: Sequence[str]) -> dict[str, int]:
    if not ids:
        return {}
    if db.capture_only:
        found = db.all("SELECT * FROM pdmail_capture_thread_ids(?, CAST(? AS text[]))", (owner_id, list(ids)))
        return {r[0]: r[1] for r in found}
    marks = ",".join("?" * len(ids))
    rows = db.all(
        f"SELECT message_id, thread_id FROM thread_message_ids WHERE owner_id = ? AND message_id IN ({marks})",
        (owner_id, *ids),
    )
    return {r[0]: r[1] for r in rows}


SPLIT_ACTIONS = ("split", "split-off")


def threads_split_by_hand(db: Database, thread_ids: Sequence[int]) -> set[int]:
    """Threads made by ``link --split`` or that had mail split off: never merged automatically."""
    if not thread_ids:
        return set()
    if db.capture_only:
        return {
            r[0] for r in db.all("SELECT * FROM pdmail_capture_split_by_hand(CAST(? AS bigint[]))", (list(thread_ids),))
        }
    marks = ",".join("?" * len(thread_ids))
    rows = db.all(
        f"SELECT DISTINCT thread_id FROM audit_log WHERE thread_id IN ({marks}) AND action IN (?, ?)",
        (*thread_ids, *SPLIT_ACTIONS),
    )
    return {r[0] for r in rows}


def create_thread(
    db: Database, owner_id: int, subject_norm: str, visibility: Visibility, stamp: str, *, last_date: str | None = None
) -> int:
    """A new thread; ``last_date``: the date of the email it is made for (else set by :func:`touch_thread`)."""
    if db.capture_only:
        thread_id = db.scalar(
            "SELECT pdmail_capture_new_thread(?, ?, ?, ?)", (owner_id, subject_norm, visibility, stamp)
        )
        if last_date is not None:
            touch_thread(db, thread_id, last_date)
        return thread_id
    row = {
        "owner_id": owner_id,
        "subject_norm": subject_norm,
        "visibility": visibility,
        "last_date_utc": last_date,
        "created_utc": stamp,
    }
    return _insert_row(db, "threads", row)


def _insert_row(db: Database, table: str, row: dict) -> int:
    """Insert one row of ``table`` (columns and values of ``row``); its id. Where the engine hands
    out an id before the row is written (``Database.next_id``), the row goes with it and nothing
    waits for the server's answer."""
    new_id = db.next_id(table)
    if new_id is None:
        return db.insert(
            f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", tuple(row.values())
        )
    db.execute(
        f"INSERT INTO {table} (id, {', '.join(row)}) VALUES (?, {', '.join('?' * len(row))})", (new_id, *row.values())
    )
    return new_id


_THREAD_MESSAGE_IDS = BatchRows(
    "thread_message_ids",
    "INSERT INTO thread_message_ids (owner_id, message_id, thread_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
    "INSERT INTO thread_message_ids (owner_id, message_id, thread_id) SELECT * FROM "
    "unnest(CAST(? AS bigint[]), CAST(? AS text[]), CAST(? AS bigint[])) ON CONFLICT DO NOTHING",
)


def register_message_ids(db: Database, owner_id: int, ids: Iterable[str], thread_id: int) -> None:
    """Tie the Message-IDs to the thread; one already tied keeps its thread (the first one wins)."""
    if db.capture_only:
        db.execute("SELECT pdmail_capture_register(?, CAST(? AS text[]), ?)", (owner_id, list(ids), thread_id))
        return
    db.write_rows(_THREAD_MESSAGE_IDS, [(owner_id, mid, thread_id) for mid in ids])


def merge_threads(db: Database, target: int, others: Sequence[int]) -> None:
    """Fold ``others`` into ``target``: one conversation that arrived out of order."""
    if db.capture_only:  # the same steps, in the database's function
        db.execute("SELECT pdmail_capture_merge_threads(?, CAST(? AS bigint[]))", (target, list(others)))
        return
    t = get_thread(db, target)
    for other in others:
        o = get_thread(db, other)
        if (t.deal_id is None and o.deal_id is not None) or (o.is_deal_manual and not t.is_deal_manual):
            db.execute(
                "UPDATE threads SET deal_id = ?, deal_rule = ?, is_deal_manual = ? WHERE id = ?",
                (o.deal_id, o.deal_rule, int(o.is_deal_manual), target),
            )
            t = get_thread(db, target)
        db.execute("UPDATE emails SET thread_id = ? WHERE thread_id = ?", (target, other))
        db.execute("UPDATE thread_message_ids SET thread_id = ? WHERE thread_id = ?", (target, other))
        db.execute("UPDATE audit_log SET thread_id = ? WHERE thread_id = ?", (target, other))
        db.execute("DELETE FROM threads WHERE id = ?", (other,))
    refresh_thread_date(db, target)


def refresh_thread_date(db: Database, thread_id: int) -> None:
    """The thread's date after mail moved in or out of it: its newest email's."""
    db.execute(
        "UPDATE threads SET last_date_utc = (SELECT max(date_utc) FROM emails WHERE thread_id = ?) WHERE id = ?",
        (thread_id, thread_id),
    )


def subject_candidates(db: Database, owner_id: int, subject_norm: str, since_utc: str, participants: Iterable[str]):
    """Recent threads of this user with the same subject, each with its participants (for the mail
    server's login only those of ``participants`` it has: all that choosing among them needs)."""
    wanted = frozenset(participants)
    if db.capture_only:
        found = db.all(
            "SELECT * FROM pdmail_capture_subject_threads(?, ?, ?, CAST(? AS text[]))",
            (owner_id, subject_norm, since_utc, sorted(wanted)),
        )
        return [(r[0], _as_datetime(r[1]), frozenset(r[2])) for r in found]
    rows = db.all(
        "SELECT id, last_date_utc FROM threads WHERE owner_id = ? AND subject_norm = ? AND last_date_utc >= ? "
        "ORDER BY last_date_utc DESC LIMIT 20",
        (owner_id, subject_norm, since_utc),
    )
    out = []
    for r in rows:
        addresses = frozenset(
            a[0]
            for a in db.all(
                "SELECT DISTINCT ea.address FROM email_addresses ea JOIN emails e ON e.id = ea.email_id "
                "WHERE e.thread_id = ?",
                (r["id"],),
            )
        )
        out.append((r["id"], _as_datetime(r["last_date_utc"]), addresses))
    return out


def _as_datetime(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def touch_thread(db: Database, thread_id: int, date_utc: str) -> None:
    if db.capture_only:
        db.execute("SELECT pdmail_capture_touch_thread(?, ?)", (thread_id, date_utc))
        return
    # Only a newer date writes: a row rewritten to the value it holds still costs a new version of it
    # (on PostgreSQL with its index entries), and much mail joins a conversation with an older date.
    db.execute(
        "UPDATE threads SET last_date_utc = :d WHERE id = :id AND coalesce(last_date_utc, '') < :d",
        {"d": date_utc, "id": thread_id},
    )


def set_thread_deal(db: Database, thread_id: int, deal_id: int | None, rule: str | None, manual: bool) -> None:
    """A thread has at most one deal, and every email in it carries that deal."""
    if db.capture_only and not manual:  # capture's own choice; a choice by hand is a user's
        db.execute("SELECT pdmail_capture_set_thread_deal(?, ?, ?)", (thread_id, deal_id, rule))
        return
    db.execute(
        "UPDATE threads SET deal_id = ?, deal_rule = ?, is_deal_manual = ? WHERE id = ?",
        (deal_id, rule, int(manual), thread_id),
    )
    # An email that changes deal here gets it from its owner's capture: whatever another user's
    # change had caused on its old deal link does not carry over.
    db.execute(
        "UPDATE emails SET deal_id = :deal, deal_rule = :rule, is_deal_manual = :manual, "
        "needs_deal = CASE WHEN CAST(:deal AS BIGINT) IS NULL THEN needs_deal ELSE 0 END, "
        "deal_caused_by = CASE WHEN deal_id IS NOT DISTINCT FROM CAST(:deal AS BIGINT) THEN deal_caused_by END, "
        "deal_caused_utc = CASE WHEN deal_id IS NOT DISTINCT FROM CAST(:deal AS BIGINT) THEN deal_caused_utc END, "
        "is_deal_proposed = CASE WHEN deal_id IS NOT DISTINCT FROM CAST(:deal AS BIGINT) THEN is_deal_proposed ELSE 0 END "
        "WHERE thread_id = :thread AND coalesce(link_verdict, '') != 'internal'",
        {"deal": deal_id, "rule": rule, "manual": int(manual), "thread": thread_id},
    )


# --- email rows -------------------------------------------------------------------------------


def addresses_text(from_: Address | None, to: Sequence[Address], cc: Sequence[Address]) -> str:
    """The addresses and names an email is found by in a search, as one text."""
    parts = []
    for a in ((from_,) if from_ else ()) + tuple(to) + tuple(cc):
        parts.append(a.email)
        if a.name:
            parts.append(a.name)
    return " ".join(parts)


def search_document(
    subject: str, body_text: str, from_: Address | None, to: Sequence[Address], cc: Sequence[Address]
) -> str:
    """The words of an email's full-text entry, cut, for an engine that does not cut them itself
    (``not db.cuts_search_words``: PostgreSQL). Pure work, so parser processes do it, not the one
    process that writes."""
    from pdmail.store import search_words

    return search_words.document((subject, body_text, addresses_text(from_, to, cc)))


def _email_row(e: NewEmail, addresses: str) -> dict:
    """The emails row's columns and values, in the order the table lists them."""
    return {
        "owner_id": e.owner_id,
        "thread_id": e.thread_id,
        "message_id": e.message_id,
        "message_id_norm": e.message_id_norm,
        "alt_message_id": e.alt_message_id,
        "fingerprint": e.fingerprint,
        "raw_sha256": e.raw_sha256,
        "wrapper_sha256": e.wrapper_sha256,
        "direction": e.direction,
        "source": e.source,
        "from_name": e.from_.name if e.from_ else "",
        "from_email": e.from_.email if e.from_ else "",
        "to_json": json.dumps([a.to_json() for a in e.to], ensure_ascii=False),
        "cc_json": json.dumps([a.to_json() for a in e.cc], ensure_ascii=False),
        "addresses": addresses,
        "subject": e.subject,
        "date_utc": e.date_utc,
        "date_source": e.date_source,
        "snippet": e.snippet,
        "body_text": e.body_text,
        "attachments_json": json.dumps(list(e.attachments), ensure_ascii=False),
        "folder": e.folder,
        "is_read": int(e.is_read),
        "visibility": e.visibility,
        "deal_id": e.deal_id,
        "deal_rule": e.deal_rule,
        "needs_deal": int(e.needs_deal),
        "is_automated": int(e.is_automated),
        "link_verdict": e.link_verdict,
        "link_trace_json": e.link_trace_json,
        "link_input_json": json.dumps(e.link_input, ensure_ascii=False),
        "bcc_deal_id": e.bcc_deal_id,
        "parse_status": e.parse_status,
        "captured_utc": e.captured_utc,
        "is_deal_manual": int(e.is_deal_manual),
        # Its links, written next, all count (see _insert_contact_links): the database's own upkeep
        # of the flag then finds nothing to change.
        "has_link": int(bool(e.contacts or e.orgs)),
    }


def _address_roles(e: NewEmail) -> list[tuple[str, str]]:
    """(address, role) of every address the email names, each once."""
    found = set()
    if e.from_:
        found.add((e.from_.email, "from"))
    for role, group in (("to", e.to), ("cc", e.cc), ("reply_to", e.reply_to)):
        for a in group:
            if a.email:
                found.add((a.email, role))
    return sorted(found)


_EMAIL_ADDRESSES = BatchRows(
    "email_addresses",
    "INSERT INTO email_addresses (address, email_id, role) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
    "INSERT INTO email_addresses (address, email_id, role) SELECT * FROM "
    "unnest(CAST(? AS text[]), CAST(? AS bigint[]), CAST(? AS text[])) ON CONFLICT DO NOTHING",
)


def insert_email(db: Database, e: NewEmail) -> int:
    addresses = addresses_text(e.from_, e.to, e.cc)
    row = _email_row(e, addresses)
    if db.capture_only:  # the email, its addresses, links and index, and the quarantine it leaves: one call
        from pdmail.store import search_words

        return db.scalar(
            "SELECT pdmail_capture_store_email(CAST(? AS jsonb), CAST(? AS jsonb), CAST(? AS jsonb), "
            "CAST(? AS jsonb), ?)",
            (
                json.dumps(row, ensure_ascii=False),
                json.dumps(_address_roles(e), ensure_ascii=False),
                json.dumps([list(c) for c in e.contacts], ensure_ascii=False),
                json.dumps([list(o) for o in e.orgs], ensure_ascii=False),
                e.search_document or search_words.document((e.subject, e.body_text, addresses)),
            ),
        )
    email_id = _insert_row(db, "emails", row)
    db.write_rows(_EMAIL_ADDRESSES, sorted((address, email_id, role) for address, role in _address_roles(e)))
    if e.contacts:  # a new row has no links yet: nothing to replace
        _insert_contact_links(db, email_id, e.contacts)
    if e.orgs:
        db.executemany(
            "INSERT INTO email_orgs (email_id, org_id, address, rule, reason, is_manual) "
            "VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT DO NOTHING",
            [(email_id, oid, addr, rule, reason) for oid, addr, rule, reason in e.orgs],
        )
    db.index_for_search(email_id, e.subject, e.body_text, addresses, document=e.search_document)
    _leave_quarantine(db, email_id, e)
    return email_id


_RELEASED = BatchRows(
    "quarantine",
    "UPDATE quarantine SET status = 'stored', released_email_id = ?, released_utc = ? "
    "WHERE status = 'held' AND content_sha256 = ?",
    # An entry the batch's emails name twice is released by the first of them, as row by row.
    "UPDATE quarantine q SET status = 'stored', released_email_id = r.email_id, released_utc = r.stamp "
    "FROM (SELECT DISTINCT ON (sha) email_id, stamp, sha FROM unnest(CAST(? AS bigint[]), CAST(? AS text[]), "
    "CAST(? AS text[])) WITH ORDINALITY AS u(email_id, stamp, sha, n) ORDER BY sha, n) AS r "
    "WHERE q.status = 'held' AND q.content_sha256 = r.sha",
)


def _leave_quarantine(db: Database, email_id: int, e: NewEmail) -> None:
    """A message refused earlier and now stored another way (sync, an allowed sender) is no longer held.

    On SQLite looked up first, then released row by row: an UPDATE that may change several rows makes
    SQLite open a statement journal, and that makes the full-text index write out its whole buffer,
    for every message of a batch (several times the cost of the batch's own writes). Elsewhere an
    UPDATE by content, which a batch sends with those of its other emails, in one statement.
    """
    if not db.updates_row_by_row:
        db.write_rows(
            _RELEASED, [(email_id, e.captured_utc, sha) for sha in (e.raw_sha256, e.wrapper_sha256) if sha is not None]
        )
        return
    held = db.all(
        "SELECT id FROM quarantine WHERE status = 'held' AND content_sha256 IN (?, ?)",
        (e.raw_sha256, e.wrapper_sha256),
    )
    for (entry,) in held:
        db.execute(
            "UPDATE quarantine SET status = 'stored', released_email_id = ?, released_utc = ? WHERE id = ?",
            (email_id, e.captured_utc, entry),
        )


def _insert_contact_links(db: Database, email_id: int, links: Iterable[tuple[int, str, str, str]]) -> None:
    db.executemany(
        "INSERT INTO email_contacts (email_id, contact_id, address, rule, reason, is_manual) "
        "VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT DO NOTHING",
        [(email_id, cid, addr, rule, reason) for cid, addr, rule, reason in links],
    )


def audit(
    db: Database,
    *,
    user_id: int | None,
    action: str,
    email_id: int | None,
    thread_id: int | None,
    before: object,
    after: object,
    stamp: str,
) -> None:
    db.execute(
        "INSERT INTO audit_log (at_utc, user_id, action, email_id, thread_id, from_value, to_value) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            stamp,
            user_id,
            action,
            email_id,
            thread_id,
            None if before is None else str(before),
            None if after is None else str(after),
        ),
    )
