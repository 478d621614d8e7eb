"""The reads and writes of re-linking: which threads a change touches, their emails' linking input,
the CRM records those emails need, and the new links.

Every "which emails does this change touch" question is answered through an index (addresses,
contact links, deal links), so a new contact costs a few lookups however big the mailbox is. Long
lists go to the database as one JSON parameter (``Database.in_json``), which keeps statements small and avoids
the limit on bound variables.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from pdmail.core.models import LinkCause, Visibility
from pdmail.store.db import Database
from pdmail.store.emails import create_thread, refresh_thread_date
from pdmail.visibility import sql_condition


class StoredContactLink(NamedTuple):
    contact_id: int
    address: str
    rule: str
    reason: str
    is_manual: bool
    cause: LinkCause | None  # another user's change made it (and it may wait for the owner)


@dataclass(frozen=True)
class LinkedEmail:
    """One stored email as re-linking sees it: its linking input and its current links."""

    id: int
    owner_id: int
    thread_id: int
    visibility: Visibility
    link_input: dict
    bcc_deal_id: int | None
    deal_id: int | None
    deal_rule: str | None
    deal_cause: LinkCause | None
    is_deal_manual: bool
    is_links_manual: bool
    needs_deal: bool
    is_automated: bool
    link_verdict: str | None
    trace_json: str
    contacts: tuple[StoredContactLink, ...]


@dataclass(frozen=True)
class ThreadState:
    id: int
    owner_id: int
    deal_id: int | None
    deal_rule: str | None
    is_deal_manual: bool


def _ids(values: Iterable[int]) -> str:
    return json.dumps(sorted({int(v) for v in values}))


# --- which threads a change touches -------------------------------------------------------------


def threads_with_addresses(db: Database, addresses: Iterable[str]) -> list[int]:
    """Threads holding an email that names any of these addresses (From, To, Cc or Reply-To)."""
    wanted = sorted({a for a in addresses if a})
    if not wanted:
        return []
    rows = db.all(
        "SELECT DISTINCT e.thread_id FROM email_addresses a JOIN emails e ON e.id = a.email_id "
        f"WHERE {db.in_json('a.address', '?', text=True)} ORDER BY e.thread_id",
        (json.dumps(wanted),),
    )
    return [r[0] for r in rows]


def threads_with_domain(db: Database, domain: str) -> list[int]:
    """Threads holding an address at ``domain`` or one of its subdomains.

    A suffix cannot use the address index as a lookup; this reads the narrow address index once
    (no email rows) and is only needed when a whole domain is blocked or unblocked.
    """
    rows = db.all(
        "SELECT DISTINCT e.thread_id FROM emails e WHERE e.id IN ("
        f"  SELECT a.email_id FROM email_addresses a WHERE a.address {db.like} ? ESCAPE '\\' "
        f"  OR a.address {db.like} ? ESCAPE '\\') ORDER BY e.thread_id",
        (_like_suffix("@" + domain), _like_suffix("." + domain)),
    )
    return [r[0] for r in rows]


def _like_suffix(suffix: str) -> str:
    return "%" + suffix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def threads_of_contacts(db: Database, contact_ids: Iterable[int]) -> list[int]:
    rows = db.all(
        "SELECT DISTINCT e.thread_id FROM email_contacts c JOIN emails e ON e.id = c.email_id "
        f"WHERE {db.in_json('c.contact_id', '?')} ORDER BY e.thread_id",
        (_ids(contact_ids),),
    )
    return [r[0] for r in rows]


def threads_of_deal(db: Database, deal_id: int) -> list[int]:
    rows = db.all(
        "SELECT thread_id FROM emails WHERE deal_id = ? UNION SELECT id FROM threads WHERE deal_id = ? ORDER BY 1",
        (deal_id, deal_id),
    )
    return [r[0] for r in rows]


def deal_contact(db: Database, deal_id: int) -> int | None:
    return db.scalar("SELECT contact_id FROM deals WHERE id = ?", (deal_id,))


def thread_batches(db: Database, size: int, *, owner_id: int | None = None) -> Iterator[list[int]]:
    """Every thread id (of one owner, when given), ascending, ``size`` at a time: a rescan holds one
    batch in memory."""
    last = 0
    while True:
        if owner_id is None:
            rows = db.all("SELECT id FROM threads WHERE id > ? ORDER BY id LIMIT ?", (last, size))
        else:
            rows = db.all(
                "SELECT id FROM threads WHERE owner_id = ? AND id > ? ORDER BY id LIMIT ?", (owner_id, last, size)
            )
        if not rows:
            return
        batch = [r[0] for r in rows]
        yield batch
        last = batch[-1]


def count_visible_emails(db: Database, viewer_id: int, *, owner_id: int | None = None) -> int:
    """How many emails (of one owner, when given) this viewer may see: a rescan's total."""
    mine = " AND e.owner_id = :owner" if owner_id is not None else ""
    return db.scalar(
        f"SELECT count(*) FROM emails e WHERE {sql_condition('e')}{mine}", {"viewer": viewer_id, "owner": owner_id}
    )


def count_emails(db: Database) -> int:
    return db.scalar("SELECT count(*) FROM emails")


# --- what re-linking reads ----------------------------------------------------------------------


def load_threads(db: Database, thread_ids: Sequence[int]) -> list[tuple[ThreadState, list[LinkedEmail]]]:
    """The threads and their emails in capture order (id), the order linking first saw them."""
    if not thread_ids:
        return []
    ids = _ids(thread_ids)
    threads = {
        r["id"]: ThreadState(r["id"], r["owner_id"], r["deal_id"], r["deal_rule"], bool(r["is_deal_manual"]))
        for r in db.all(
            f"SELECT id, owner_id, deal_id, deal_rule, is_deal_manual FROM threads WHERE {db.in_json('id', '?')}",
            (ids,),
        )
    }
    contacts: dict[int, list[StoredContactLink]] = {}
    for r in db.all(
        "SELECT c.email_id, c.contact_id, c.address, c.rule, c.reason, c.is_manual, c.caused_by, c.caused_utc, "
        "c.is_proposed FROM email_contacts c "
        f"JOIN emails e ON e.id = c.email_id WHERE {db.in_json('e.thread_id', '?')} "
        "ORDER BY c.email_id, c.contact_id",
        (ids,),
    ):
        cause = _cause(r["caused_by"], r["caused_utc"], r["is_proposed"])
        contacts.setdefault(r[0], []).append(StoredContactLink(r[1], r[2], r[3], r[4], bool(r[5]), cause))
    emails: dict[int, list[LinkedEmail]] = {t: [] for t in threads}
    for r in db.all(
        "SELECT id, owner_id, thread_id, visibility, link_input_json, bcc_deal_id, deal_id, deal_rule, "
        "deal_caused_by, deal_caused_utc, is_deal_proposed, is_deal_manual, is_links_manual, needs_deal, "
        "is_automated, link_verdict, link_trace_json FROM emails "
        f"WHERE {db.in_json('thread_id', '?')} ORDER BY thread_id, id",
        (ids,),
    ):
        emails[r["thread_id"]].append(
            LinkedEmail(
                r["id"],
                r["owner_id"],
                r["thread_id"],
                r["visibility"],
                json.loads(r["link_input_json"] or "{}"),
                r["bcc_deal_id"],
                r["deal_id"],
                r["deal_rule"],
                _cause(r["deal_caused_by"], r["deal_caused_utc"], r["is_deal_proposed"]),
                bool(r["is_deal_manual"]),
                bool(r["is_links_manual"]),
                bool(r["needs_deal"]),
                bool(r["is_automated"]),
                r["link_verdict"],
                r["link_trace_json"],
                tuple(contacts.get(r["id"], ())),
            )
        )
    return [(threads[t], emails[t]) for t in sorted(threads)]


def _cause(by: int | None, at: str | None, proposed: int) -> LinkCause | None:
    """A stored link's cause; a link with none was made by its owner's own doing (or before causes were kept)."""
    if by is None and not proposed:
        return None
    return LinkCause(by, at or "", bool(proposed))


def _cause_columns(cause: LinkCause | None) -> tuple[int | None, str | None, int]:
    return (None, None, 0) if cause is None else (cause.by, cause.at, int(cause.proposed))


# --- what re-linking writes ---------------------------------------------------------------------


# The email's has_contact once write_email_links has written its links: a link of the other kind (by
# hand or not) that counts, or a counted new link whose contact has no row of the other kind (that
# row stays, and the new one is not written).
_HAS_CONTACT_AFTER = (
    "CASE WHEN EXISTS (SELECT 1 FROM email_contacts WHERE email_id = :id AND is_manual != :manual "
    "AND is_proposed = 0) THEN 1 WHEN :counted > (SELECT count(*) FROM email_contacts WHERE email_id = :id "
    "AND is_manual != :manual AND {}) THEN 1 ELSE 0 END"
)


def write_email_links(
    db: Database,
    email_id: int,
    *,
    deal_id: int | None,
    deal_rule: str | None,
    deal_cause: LinkCause | None,
    is_deal_manual: bool,
    needs_deal: bool,
    is_automated: bool,
    verdict: str | None,
    trace_json: str,
    contacts: Sequence[tuple[int, str, str, str, LinkCause | None]],
    contacts_manual: bool,
) -> None:
    """New links for one email. ``contacts_manual``: they are the contacts its owner chose by hand (the
    same contacts, with the engine's words), which replace the hand-made rows and nothing else.

    The email row is written once, with its ``has_contact`` as the links will leave it; the links
    are then changed in place (rows that stay are updated, not deleted and added again), so that
    the database's own upkeep of that flag finds nothing to change.
    """
    manual = int(contacts_manual)
    rows = [
        (email_id, cid, address, rule, reason, manual, *_cause_columns(cause))
        for cid, address, rule, reason, cause in contacts
    ]
    counted = [row[1] for row in rows if not row[8]]
    by, at, proposed = _cause_columns(deal_cause)
    db.execute(
        "UPDATE emails SET deal_id = :deal, deal_rule = :rule, is_deal_manual = :deal_manual, needs_deal = :needs, "
        "is_automated = :automated, link_verdict = :verdict, link_trace_json = :trace, deal_caused_by = :by, "
        "deal_caused_utc = :at, is_deal_proposed = :proposed, "
        f"has_contact = {_HAS_CONTACT_AFTER.format(db.in_json('contact_id', ':counted_ids'))} WHERE id = :id",
        {
            "deal": deal_id,
            "rule": deal_rule,
            "deal_manual": int(is_deal_manual),
            "needs": int(needs_deal),
            "automated": int(is_automated),
            "verdict": verdict,
            "trace": trace_json,
            "by": by,
            "at": at,
            "proposed": proposed,
            "id": email_id,
            "manual": manual,
            "counted": len(counted),
            "counted_ids": json.dumps(counted),
        },
    )
    db.executemany(
        "INSERT INTO email_contacts (email_id, contact_id, address, rule, reason, is_manual, caused_by, caused_utc, "
        "is_proposed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (email_id, contact_id) DO UPDATE SET "
        "address = excluded.address, rule = excluded.rule, reason = excluded.reason, caused_by = excluded.caused_by, "
        "caused_utc = excluded.caused_utc, is_proposed = excluded.is_proposed "
        "WHERE email_contacts.is_manual = excluded.is_manual",
        rows,
    )
    db.execute(
        f"DELETE FROM email_contacts WHERE email_id = ? AND is_manual = ? AND NOT ({db.in_json('contact_id', '?')})",
        (email_id, manual, json.dumps([row[1] for row in rows])),
    )


def write_thread_deal(db: Database, thread_id: int, deal_id: int | None, deal_rule: str | None) -> None:
    db.execute(
        "UPDATE threads SET deal_id = ?, deal_rule = ? WHERE id = ? AND is_deal_manual = 0",
        (deal_id, deal_rule, thread_id),
    )


# --- manual decisions ---------------------------------------------------------------------------

MANUAL_RULE = "manual"


def set_thread_manual_deal(db: Database, thread_id: int, deal_id: int | None) -> None:
    """The user's choice for the whole thread: a deal, or (None) no deal. Emails follow at re-link."""
    db.execute(
        "UPDATE threads SET deal_id = ?, deal_rule = ?, is_deal_manual = 1 WHERE id = ?",
        (deal_id, MANUAL_RULE, thread_id),
    )


def set_manual_contacts(db: Database, email_id: int, contact_ids: Sequence[int]) -> None:
    db.execute("DELETE FROM email_contacts WHERE email_id = ?", (email_id,))
    db.executemany(
        "INSERT INTO email_contacts (email_id, contact_id, address, rule, reason, is_manual) "
        "VALUES (?, ?, '', 'contact-manual', 'linked by hand', 1)",
        [(email_id, cid) for cid in sorted(set(contact_ids))],
    )
    db.execute("UPDATE emails SET is_links_manual = 1 WHERE id = ?", (email_id,))


def email_contact_ids(db: Database, email_id: int) -> list[int]:
    return [
        r[0]
        for r in db.all("SELECT contact_id FROM email_contacts WHERE email_id = ? ORDER BY contact_id", (email_id,))
    ]


def thread_members(db: Database, thread_id: int) -> list[dict]:
    """The thread's emails with what a split needs: their own id and where their bytes are."""
    rows = db.all(
        "SELECT id, message_id_norm, raw_sha256, wrapper_sha256, subject, date_utc FROM emails "
        "WHERE thread_id = ? ORDER BY date_utc, id",
        (thread_id,),
    )
    return [dict(r) for r in rows]


def split_thread(
    db: Database,
    *,
    owner_id: int,
    old_thread: int,
    email_ids: Sequence[int],
    message_ids: Sequence[str],
    subject_norm: str,
    stamp: str,
) -> int:
    """Move these emails (and their own Message-IDs) into a new thread with the old one's visibility."""
    visibility = db.scalar("SELECT visibility FROM threads WHERE id = ?", (old_thread,))
    new = create_thread(db, owner_id, subject_norm, visibility, stamp)
    moved = json.dumps(sorted(set(email_ids)))
    db.execute(f"UPDATE emails SET thread_id = ? WHERE {db.in_json('id', '?')}", (new, moved))
    db.execute(
        f"UPDATE thread_message_ids SET thread_id = ? WHERE owner_id = ? AND {db.in_json('message_id', '?', text=True)}",
        (new, owner_id, json.dumps(sorted(set(message_ids)))),
    )
    for thread in (old_thread, new):
        refresh_thread_date(db, thread)
    return new


# --- links another user's change proposed (rule 4 of the sharing law) ------------------------------


def thread_proposals(db: Database, thread_id: int) -> list[dict]:
    """The links of a thread that wait for its owner: which email, a contact or a deal, who caused it."""
    rows = db.all(
        "SELECT x.email_id, 'contact' AS kind, x.contact_id AS target, c.name AS name, u.email AS caused_by, "
        "x.caused_utc AS caused_at FROM email_contacts x JOIN emails e ON e.id = x.email_id "
        "JOIN contacts c ON c.id = x.contact_id LEFT JOIN users u ON u.id = x.caused_by "
        "WHERE e.thread_id = :thread AND x.is_proposed = 1 "
        "UNION ALL "
        "SELECT e.id, 'deal', e.deal_id, d.title, u.email, e.deal_caused_utc FROM emails e "
        "JOIN deals d ON d.id = e.deal_id LEFT JOIN users u ON u.id = e.deal_caused_by "
        "WHERE e.thread_id = :thread AND e.is_deal_proposed = 1 "
        "ORDER BY 1, 2, 3",
        {"thread": thread_id},
    )
    return [dict(r) for r in rows]


def accept_thread_proposals(db: Database, thread_id: int) -> None:
    """The owner accepts: the links count from now on; who caused them stays recorded."""
    db.execute(
        "UPDATE email_contacts SET is_proposed = 0 WHERE is_proposed = 1 AND email_id IN "
        "(SELECT id FROM emails WHERE thread_id = ?)",
        (thread_id,),
    )
    db.execute("UPDATE emails SET is_deal_proposed = 0 WHERE thread_id = ? AND is_deal_proposed = 1", (thread_id,))


def accepted_contact_ids(db: Database, email_id: int) -> list[int]:
    return [
        r[0]
        for r in db.all(
            "SELECT contact_id FROM email_contacts WHERE email_id = ? AND is_proposed = 0 ORDER BY contact_id",
            (email_id,),
        )
    ]


def emails_with_proposals(db: Database, owner_id: int) -> list[int]:
    """The owner's emails holding a link that waits for them, newest first."""
    rows = db.all(
        "SELECT e.id FROM emails e WHERE e.owner_id = :owner AND (e.is_deal_proposed = 1 OR e.id IN "
        "(SELECT x.email_id FROM email_contacts x WHERE x.is_proposed = 1)) ORDER BY e.date_utc DESC, e.id DESC",
        {"owner": owner_id},
    )
    return [r[0] for r in rows]


def thread_has_proposals(db: Database, thread_id: int) -> bool:
    """Whether any link of the thread waits for its owner: capture asks this of every new email."""
    return bool(
        db.scalar(
            "SELECT EXISTS (SELECT 1 FROM emails WHERE thread_id = :thread AND is_deal_proposed = 1) OR EXISTS "
            "(SELECT 1 FROM emails o JOIN email_contacts x ON x.email_id = o.id WHERE o.thread_id = :thread "
            "AND x.is_proposed = 1)",
            {"thread": thread_id},
        )
    )


def follow_contact_proposals(db: Database, thread_id: int, email_id: int) -> None:
    """The email's contact links to contacts whose link waits for the owner elsewhere in the thread
    wait too, with the same cause."""
    pending = db.all(
        "SELECT x.contact_id, x.caused_by, x.caused_utc FROM email_contacts x JOIN emails o ON o.id = x.email_id "
        "WHERE o.thread_id = ? AND o.id != ? AND x.is_proposed = 1 ORDER BY o.id DESC",
        (thread_id, email_id),
    )
    for contact_id, by, at in {r[0]: r for r in pending}.values():  # the oldest cause of each contact
        db.execute(
            "UPDATE email_contacts SET caused_by = ?, caused_utc = ?, is_proposed = 1 "
            "WHERE email_id = ? AND contact_id = ? AND is_manual = 0",
            (by, at, email_id, contact_id),
        )


def email_deal(db: Database, email_id: int) -> tuple[int | None, str | None, bool]:
    """The email's deal, the rule that gave it, and whether it was chosen by hand."""
    row = db.row("SELECT deal_id, deal_rule, is_deal_manual FROM emails WHERE id = ?", (email_id,))
    return row["deal_id"], row["deal_rule"], bool(row["is_deal_manual"])


def pending_thread_deal(db: Database, thread_id: int, email_id: int, deal_id: int) -> LinkCause | None:
    """Why the thread's other email holds this deal only as a proposal, if it does."""
    row = db.one(
        "SELECT deal_caused_by, deal_caused_utc FROM emails WHERE thread_id = ? AND id != ? AND deal_id = ? "
        "AND is_deal_proposed = 1 ORDER BY id LIMIT 1",
        (thread_id, email_id, deal_id),
    )
    return None if row is None else LinkCause(row[0], row[1] or "", True)


def pending_deal_contact(db: Database, email_id: int, deal_id: int) -> LinkCause | None:
    """Why the email is linked to the deal's contact only by a proposal, if it is."""
    row = db.one(
        "SELECT x.caused_by, x.caused_utc FROM email_contacts x JOIN deals d ON d.contact_id = x.contact_id "
        "WHERE x.email_id = ? AND d.id = ? AND x.is_proposed = 1",
        (email_id, deal_id),
    )
    return None if row is None else LinkCause(row[0], row[1] or "", True)


def propose_deal(
    db: Database, cause: LinkCause, *, deal_id: int, email_id: int | None = None, thread_id: int | None = None
) -> None:
    """Make the deal link of one email (or of every email of a thread that got it without a cause) wait."""
    where, params = (
        ("id = ?", (email_id,))
        if email_id is not None
        else ("thread_id = ? AND deal_caused_by IS NULL AND is_deal_proposed = 0", (thread_id,))
    )
    db.execute(
        f"UPDATE emails SET deal_caused_by = ?, deal_caused_utc = ?, is_deal_proposed = 1 "
        f"WHERE {where} AND deal_id = ? AND is_deal_manual = 0",
        (cause.by, cause.at, *params, deal_id),
    )


NO_LIMIT = 2**63 - 1  # LIMIT takes no "none" on both engines alike: the largest number is none


def emails_needing_deal(db: Database, owner_id: int, limit: int | None = None) -> list[int]:
    """The owner's emails waiting for a deal choice, newest first."""
    rows = db.all(
        "SELECT id FROM emails WHERE owner_id = ? AND needs_deal = 1 ORDER BY date_utc DESC, id DESC LIMIT ?",
        (owner_id, NO_LIMIT if limit is None else limit),
    )
    return [r[0] for r in rows]


def candidate_deals(db: Database, email_id: int) -> list[dict]:
    """The open deals of the contacts this email is linked to: what a user chooses from."""
    rows = db.all(
        "SELECT d.id, d.title, d.value, d.currency, d.status, d.contact_id, c.name AS contact_name "
        "FROM deals d JOIN contacts c ON c.id = d.contact_id "
        "WHERE d.status = 'open' AND d.contact_id IN (SELECT contact_id FROM email_contacts WHERE email_id = ?) "
        "ORDER BY d.id",
        (email_id,),
    )
    return [dict(r) for r in rows]


def explain_facts(db: Database, email_id: int, viewer_id: int) -> dict:
    """Everything ``explain`` tells about one email; the caller has already checked it may be seen.

    What it tells of the email's thread (its size, its history) counts only the email the viewer may
    see: a thread can hold mail that is hidden from a colleague.
    """
    email = dict(
        db.row(
            "SELECT e.id, e.owner_id, e.thread_id, e.deal_id, e.deal_rule, e.is_deal_manual, e.is_links_manual, "
            "e.needs_deal, e.is_automated, e.link_verdict, e.link_trace_json, e.visibility, e.bcc_deal_id, "
            "e.direction, e.subject, u.email AS owner_email, e.is_deal_proposed, e.deal_caused_utc, "
            "cu.email AS deal_caused_by FROM emails e JOIN users u ON u.id = e.owner_id "
            "LEFT JOIN users cu ON cu.id = e.deal_caused_by WHERE e.id = ?",
            (email_id,),
        )
    )
    email["contacts"] = [
        dict(r)
        for r in db.all(
            "SELECT x.contact_id, c.name, x.address, x.rule, x.reason, x.is_manual, x.is_proposed, "
            "u.email AS caused_by, x.caused_utc FROM email_contacts x JOIN contacts c ON c.id = x.contact_id "
            "LEFT JOIN users u ON u.id = x.caused_by WHERE x.email_id = ? ORDER BY x.contact_id",
            (email_id,),
        )
    ]
    deal = db.one("SELECT id, title, status, contact_id FROM deals WHERE id = ?", (email["deal_id"],))
    email["deal"] = dict(deal) if deal else None
    email["thread"] = dict(
        db.row(
            "SELECT t.id, t.deal_id, t.deal_rule, t.is_deal_manual, t.visibility, "
            f"(SELECT count(*) FROM emails e WHERE e.thread_id = t.id AND {sql_condition('e')}) AS emails "
            "FROM threads t WHERE t.id = :thread",
            {"thread": email["thread_id"], "viewer": viewer_id},
        )
    )
    email["history"] = [
        dict(r)
        for r in db.all(
            "SELECT a.at_utc, u.email AS user, a.action, a.email_id, a.from_value, a.to_value FROM audit_log a "
            "LEFT JOIN users u ON u.id = a.user_id WHERE (a.thread_id = :thread OR a.email_id = :email) "
            f"AND (a.email_id IS NULL OR EXISTS (SELECT 1 FROM emails e WHERE e.id = a.email_id AND {sql_condition('e')})) "
            "ORDER BY a.id",
            {"thread": email["thread_id"], "email": email_id, "viewer": viewer_id},
        )
    ]
    return email
