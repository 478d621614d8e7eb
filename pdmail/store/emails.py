"""Captured email: raw bytes, threads, the email rows, their addresses, links and search index."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pdmail.core.models import Address, Direction, Source, Visibility
from pdmail.store.db import Database


@dataclass(frozen=True)
class NewEmail:
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
    search_document: str | None = None  # made by a parser process when the engine wants one (see search_document)


def put_raw(db: Database, sha256: str, data: bytes) -> None:
    db.execute(
        "INSERT INTO raw_messages (sha256, size, data) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        (sha256, len(data), data),
    )


def get_raw(db: Database, sha256: str) -> bytes | None:
    return db.scalar("SELECT data FROM raw_messages WHERE sha256 = ?", (sha256,))


def find_by_fingerprint(db: Database, owner_id: int, fingerprint: str) -> int | None:
    return db.scalar("SELECT id FROM emails WHERE owner_id = ? AND fingerprint = ?", (owner_id, fingerprint))


def find_by_message_id(db: Database, owner_id: int, message_id_norm: str) -> list[int]:
    rows = db.all(
        # Two indexed lookups: with OR, SQLite reads every email of the owner (quadratic over a big sync).
        "SELECT id FROM emails WHERE owner_id = ? AND message_id_norm = ? "
        "UNION SELECT id FROM emails WHERE owner_id = ? AND alt_message_id = ?",
        (owner_id, message_id_norm, owner_id, message_id_norm),
    )
    return [r[0] for r in rows]


# --- threads ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ThreadRow:
    id: int
    owner_id: int
    subject_norm: str
    deal_id: int | None
    deal_rule: str | None
    is_deal_manual: bool
    visibility: Visibility


def get_thread(db: Database, thread_id: int) -> ThreadRow:
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
    marks = ",".join("?" * len(thread_ids))
    rows = db.all(
        f"SELECT DISTINCT thread_id FROM audit_log WHERE thread_id IN ({marks}) AND action IN (?, ?)",
        (*thread_ids, *SPLIT_ACTIONS),
    )
    return {r[0] for r in rows}


def create_thread(db: Database, owner_id: int, subject_norm: str, visibility: Visibility, stamp: str) -> int:
    return db.insert(
        "INSERT INTO threads (owner_id, subject_norm, visibility, last_date_utc, created_utc) VALUES (?, ?, ?, ?, ?)",
        (owner_id, subject_norm, visibility, None, stamp),
    )


def register_message_ids(db: Database, owner_id: int, ids: Iterable[str], thread_id: int) -> None:
    db.executemany(
        "INSERT INTO thread_message_ids (owner_id, message_id, thread_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        [(owner_id, mid, thread_id) for mid in ids],
    )


def merge_threads(db: Database, target: int, others: Sequence[int]) -> None:
    """Fold ``others`` into ``target``: one conversation that arrived out of order."""
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


def subject_candidates(db: Database, owner_id: int, subject_norm: str, since_utc: str):
    """Recent threads of this user with the same subject, each with its participants."""
    rows = db.all(
        "SELECT id, last_date_utc FROM threads WHERE owner_id = ? AND subject_norm = ? AND last_date_utc >= ? "
        "ORDER BY last_date_utc DESC LIMIT 20",
        (owner_id, subject_norm, since_utc),
    )
    from datetime import datetime

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
        last = datetime.fromisoformat(r["last_date_utc"].replace("Z", "+00:00"))
        out.append((r["id"], last, addresses))
    return out


def touch_thread(db: Database, thread_id: int, date_utc: str) -> None:
    db.execute(
        "UPDATE threads SET last_date_utc = CASE WHEN coalesce(last_date_utc, '') < :d THEN :d "
        "ELSE last_date_utc END WHERE id = :id",
        {"d": date_utc, "id": thread_id},
    )


def set_thread_deal(db: Database, thread_id: int, deal_id: int | None, rule: str | None, manual: bool) -> None:
    """A thread has at most one deal, and every email in it carries that deal."""
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


def insert_email(db: Database, e: NewEmail) -> int:
    addresses = addresses_text(e.from_, e.to, e.cc)
    email_id = db.insert(
        """INSERT INTO emails (owner_id, thread_id, message_id, message_id_norm, alt_message_id, fingerprint,
            raw_sha256, wrapper_sha256, direction, source, from_name, from_email, to_json, cc_json, addresses,
            subject, date_utc, date_source, snippet, body_text, attachments_json, folder, is_read, visibility,
            deal_id, deal_rule, needs_deal, is_automated, link_verdict, link_trace_json, link_input_json,
            bcc_deal_id, parse_status, captured_utc, is_deal_manual, has_contact)
           VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
        (
            e.owner_id,
            e.thread_id,
            e.message_id,
            e.message_id_norm,
            e.alt_message_id,
            e.fingerprint,
            e.raw_sha256,
            e.wrapper_sha256,
            e.direction,
            e.source,
            e.from_.name if e.from_ else "",
            e.from_.email if e.from_ else "",
            json.dumps([a.to_json() for a in e.to], ensure_ascii=False),
            json.dumps([a.to_json() for a in e.cc], ensure_ascii=False),
            addresses,
            e.subject,
            e.date_utc,
            e.date_source,
            e.snippet,
            e.body_text,
            json.dumps(list(e.attachments), ensure_ascii=False),
            e.folder,
            int(e.is_read),
            e.visibility,
            e.deal_id,
            e.deal_rule,
            int(e.needs_deal),
            int(e.is_automated),
            e.link_verdict,
            e.link_trace_json,
            json.dumps(e.link_input, ensure_ascii=False),
            e.bcc_deal_id,
            e.parse_status,
            e.captured_utc,
            int(e.is_deal_manual),
            int(bool(e.contacts)),  # its links, written next, all count (see _insert_contact_links)
        ),
    )
    rows = set()
    if e.from_:
        rows.add((e.from_.email, email_id, "from"))
    for role, group in (("to", e.to), ("cc", e.cc), ("reply_to", e.reply_to)):
        for a in group:
            if a.email:
                rows.add((a.email, email_id, role))
    if rows:
        db.executemany(
            "INSERT INTO email_addresses (address, email_id, role) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            sorted(rows),
        )
    if e.contacts:  # a new row has no links yet: nothing to replace
        _insert_contact_links(db, email_id, e.contacts)
    db.index_for_search(email_id, e.subject, e.body_text, addresses, document=e.search_document)
    _leave_quarantine(db, email_id, e)
    return email_id


def _leave_quarantine(db: Database, email_id: int, e: NewEmail) -> None:
    """A message refused earlier and now stored another way (sync, an allowed sender) is no longer held.

    Looked up first, then released row by row: an UPDATE that may change several rows makes SQLite
    open a statement journal, and that makes the full-text index write out its whole buffer, for
    every message of a batch (several times the cost of the batch's own writes).
    """
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
