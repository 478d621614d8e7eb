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

from pdmail.core.domains import domain_and_parents
from pdmail.core.models import LinkCause, Visibility
from pdmail.core.records import Record
from pdmail.store.db import Database
from pdmail.store.emails import create_thread, refresh_thread_date


class StoredContactLink(Record):
    contact_id: int
    address: str
    rule: str
    reason: str
    is_manual: bool
    cause: LinkCause | None  # another user's change made it (and it may wait for the owner)


class StoredOrgLink(Record):
    org_id: int
    address: str
    rule: str
    reason: str
    is_manual: bool
    cause: LinkCause | None


class LinkedEmail(Record):
    """One stored email as re-linking sees it: its linking input and its current links."""

    id: int
    owner_id: int
    thread_id: int
    visibility: Visibility
    link_input: dict  # shared by the emails of one read that carry the same input: never changed in place
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
    orgs: tuple[StoredOrgLink, ...] = ()
    is_orgs_manual: bool = False


class ThreadState(Record):
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


def orgs_claim_domain_of(db: Database, domain: str) -> bool:
    """Whether an organization lists ``domain`` or one of its parent domains."""
    return (
        db.scalar(
            f"SELECT 1 FROM org_domains WHERE {db.in_json('domain', '?', text=True)} LIMIT 1",
            (json.dumps(domain_and_parents(domain)),),
        )
        is not None
    )


def _like_suffix(suffix: str) -> str:
    return "%" + suffix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def threads_of_contacts(db: Database, contact_ids: Iterable[int]) -> list[int]:
    rows = db.all(
        "SELECT DISTINCT e.thread_id FROM email_contacts c JOIN emails e ON e.id = c.email_id "
        f"WHERE {db.in_json('c.contact_id', '?')} ORDER BY e.thread_id",
        (_ids(contact_ids),),
    )
    return [r[0] for r in rows]


def threads_of_orgs(db: Database, org_ids: Iterable[int]) -> list[int]:
    rows = db.all(
        "SELECT DISTINCT e.thread_id FROM email_orgs o JOIN emails e ON e.id = o.email_id "
        f"WHERE {db.in_json('o.org_id', '?')} ORDER BY e.thread_id",
        (_ids(org_ids),),
    )
    return [r[0] for r in rows]


def deal_org(db: Database, deal_id: int) -> int | None:
    return db.scalar("SELECT org_id FROM deals WHERE id = ?", (deal_id,))


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


def threads_owned_by(db: Database, thread_ids: Iterable[int], owner_id: int) -> list[int]:
    """Those of these threads that are ``owner_id``'s own, in id order."""
    rows = db.all(
        f"SELECT id FROM threads WHERE owner_id = ? AND {db.in_json('id', '?')} ORDER BY id",
        (owner_id, _ids(thread_ids)),
    )
    return [r[0] for r in rows]


def own_threads(db: Database, owner_id: int) -> list[int]:
    return [r[0] for r in db.all("SELECT id FROM threads WHERE owner_id = ? ORDER BY id", (owner_id,))]


# --- re-links waiting for the mail's owner (the team server) -----------------------------------


class RelinkRequest(Record):
    id: int
    caused_by: int | None
    caused_utc: str
    scope: dict


def record_relink_request(db: Database, caused_by: int | None, stamp: str, scope: dict) -> None:
    db.execute(
        "INSERT INTO relink_requests (caused_by, caused_utc, scope_json) VALUES (?, ?, ?)",
        (caused_by, stamp, json.dumps(scope, sort_keys=True)),
    )


def relink_requests_for(db: Database, user_id: int) -> list[RelinkRequest]:
    """The requests recorded after the last one this user's mail was re-linked for, oldest first."""
    done = db.scalar("SELECT request_id FROM relink_progress WHERE user_id = ?", (user_id,)) or 0
    rows = db.all("SELECT id, caused_by, caused_utc, scope_json FROM relink_requests WHERE id > ? ORDER BY id", (done,))
    return [RelinkRequest(r[0], r[1], r[2], json.loads(r[3])) for r in rows]


def hold_for_owner(
    db: Database,
    email_id: int,
    contacts: dict[int, RelinkRequest],
    orgs: dict[int, RelinkRequest],
    deal: RelinkRequest | None,
) -> None:
    """Make these links of a new email wait, each for the change given: see ``relink.hold_new_mail``."""
    if db.capture_only:
        requests = {r.id for r in contacts.values()} | {r.id for r in orgs.values()} | ({deal.id} if deal else set())
        for request_id in sorted(requests):
            held_contacts = [cid for cid, r in contacts.items() if r.id == request_id]
            held_orgs = [oid for oid, r in orgs.items() if r.id == request_id]
            held_deal = deal is not None and deal.id == request_id
            db.execute(
                "SELECT pdmail_capture_hold(?, ?, CAST(? AS bigint[]), CAST(? AS bigint[]), CAST(? AS boolean))",
                (email_id, request_id, held_contacts, held_orgs, "true" if held_deal else "false"),
            )
        return
    for contact_id, request in contacts.items():
        db.execute(
            "UPDATE email_contacts SET caused_by = ?, caused_utc = ?, is_proposed = 1 "
            "WHERE email_id = ? AND contact_id = ? AND is_manual = 0",
            (request.caused_by, request.caused_utc, email_id, contact_id),
        )
    for org_id, request in orgs.items():
        db.execute(
            "UPDATE email_orgs SET caused_by = ?, caused_utc = ?, is_proposed = 1 "
            "WHERE email_id = ? AND org_id = ? AND is_manual = 0",
            (request.caused_by, request.caused_utc, email_id, org_id),
        )
    if deal is not None:
        db.execute(
            "UPDATE emails SET deal_caused_by = ?, deal_caused_utc = ?, is_deal_proposed = 1 "
            "WHERE id = ? AND deal_id IS NOT NULL AND is_deal_manual = 0",
            (deal.caused_by, deal.caused_utc, email_id),
        )
    db.executemany(
        "INSERT INTO relink_held (request_id, email_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
        sorted({(r.id, email_id) for r in (*contacts.values(), *orgs.values(), *([deal] if deal else []))}),
    )


def release_held(db: Database, request: RelinkRequest) -> list[tuple[int, int]]:
    """Undo what :func:`hold_for_owner` did for ``request`` on the mail this connection may change:
    those links are its owner's own capture's again. The (thread, email) of each email it held."""
    held = db.all(
        "SELECT e.thread_id, e.id FROM relink_held h JOIN emails e ON e.id = h.email_id "
        "WHERE h.request_id = ? ORDER BY e.id",
        (request.id,),
    )
    marks = {"by": request.caused_by, "at": request.caused_utc}
    for _thread, email_id in held:
        db.execute(
            "UPDATE email_contacts SET caused_by = NULL, caused_utc = NULL, is_proposed = 0 WHERE email_id = :e "
            "AND is_proposed = 1 AND caused_by IS NOT DISTINCT FROM CAST(:by AS BIGINT) AND caused_utc = :at",
            {"e": email_id, **marks},
        )
        db.execute(
            "UPDATE email_orgs SET caused_by = NULL, caused_utc = NULL, is_proposed = 0 WHERE email_id = :e "
            "AND is_proposed = 1 AND caused_by IS NOT DISTINCT FROM CAST(:by AS BIGINT) AND caused_utc = :at",
            {"e": email_id, **marks},
        )
        db.execute(
            "UPDATE emails SET deal_caused_by = NULL, deal_caused_utc = NULL, is_deal_proposed = 0 WHERE id = :e "
            "AND is_deal_proposed = 1 AND deal_caused_by IS NOT DISTINCT FROM CAST(:by AS BIGINT) "
            "AND deal_caused_utc = :at",
            {"e": email_id, **marks},
        )
        db.execute("DELETE FROM relink_held WHERE request_id = ? AND email_id = ?", (request.id, email_id))
    return [(r[0], r[1]) for r in held]


def thread_created_utc(db: Database, thread_id: int) -> str:
    if db.capture_only:
        return db.scalar("SELECT created_utc FROM pdmail_capture_thread(?)", (thread_id,))
    return db.scalar("SELECT created_utc FROM threads WHERE id = ?", (thread_id,))


def mark_relinked(db: Database, user_id: int, request_id: int) -> None:
    db.execute(
        "INSERT INTO relink_progress (user_id, request_id) VALUES (?, ?) "
        "ON CONFLICT (user_id) DO UPDATE SET request_id = excluded.request_id",
        (user_id, request_id),
    )


def count_visible_emails(db: Database, viewer_id: int, *, owner_id: int | None = None) -> int:
    """How many emails (of one owner, when given) this viewer may see: a rescan's total."""
    mine = " AND e.owner_id = :owner" if owner_id is not None else ""
    return db.scalar(
        f"SELECT count(*) FROM emails e WHERE {db.visible('e')}{mine}", {"viewer": viewer_id, "owner": owner_id}
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
    orgs: dict[int, list[StoredOrgLink]] = {}
    for r in db.all(
        "SELECT o.email_id, o.org_id, o.address, o.rule, o.reason, o.is_manual, o.caused_by, o.caused_utc, "
        "o.is_proposed FROM email_orgs o "
        f"JOIN emails e ON e.id = o.email_id WHERE {db.in_json('e.thread_id', '?')} "
        "ORDER BY o.email_id, o.org_id",
        (ids,),
    ):
        cause = _cause(r["caused_by"], r["caused_utc"], r["is_proposed"])
        orgs.setdefault(r[0], []).append(StoredOrgLink(r[1], r[2], r[3], r[4], bool(r[5]), cause))
    emails: dict[int, list[LinkedEmail]] = {t: [] for t in threads}
    inputs: dict[str, dict] = {}  # the replies of a thread often carry the same input: read once, shared
    for r in db.all(
        "SELECT id, owner_id, thread_id, visibility, link_input_json, bcc_deal_id, deal_id, deal_rule, "
        "deal_caused_by, deal_caused_utc, is_deal_proposed, is_deal_manual, is_links_manual, needs_deal, "
        "is_automated, link_verdict, link_trace_json, is_orgs_manual FROM emails "
        f"WHERE {db.in_json('thread_id', '?')} ORDER BY thread_id, id",
        (ids,),
    ):
        emails[r["thread_id"]].append(
            LinkedEmail(
                r["id"],
                r["owner_id"],
                r["thread_id"],
                r["visibility"],
                _parsed(inputs, r["link_input_json"] or "{}"),
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
                tuple(orgs.get(r["id"], ())),
                bool(r["is_orgs_manual"]),
            )
        )
    return [(threads[t], emails[t]) for t in sorted(threads)]


def _parsed(seen: dict[str, dict], text: str) -> dict:
    found = seen.get(text)
    if found is None:
        found = seen[text] = json.loads(text)
    return found


def _cause(by: int | None, at: str | None, proposed: int) -> LinkCause | None:
    """A stored link's cause; a link with none was made by its owner's own doing (or before causes were kept)."""
    if by is None and not proposed:
        return None
    return LinkCause(by, at or "", bool(proposed))


def _cause_columns(cause: LinkCause | None) -> tuple[int | None, str | None, int]:
    return (None, None, 0) if cause is None else (cause.by, cause.at, int(cause.proposed))


# --- what re-linking writes ---------------------------------------------------------------------


# Whether a link that counts is left on an email once write_email_links has replaced its links of
# one kind (by hand or not) in both tables: a link of the other kind that counts, or a counted new
# link whose contact (or organization) has no row of the other kind (that row stays, and the new one
# is not written).
_HAS_LINK_AFTER = (
    "CASE WHEN EXISTS (SELECT 1 FROM email_contacts WHERE email_id = :id AND is_manual != :contacts_manual "
    "AND is_proposed = 0) OR EXISTS (SELECT 1 FROM email_orgs WHERE email_id = :id AND is_manual != :orgs_manual "
    "AND is_proposed = 0) OR :counted_contacts > (SELECT count(*) FROM email_contacts WHERE email_id = :id "
    "AND is_manual != :contacts_manual AND {contacts}) OR :counted_orgs > (SELECT count(*) FROM email_orgs "
    "WHERE email_id = :id AND is_manual != :orgs_manual AND {orgs}) THEN 1 ELSE 0 END"
)


class LinkWrite(Record):
    """New links for one email, as :func:`write_links` takes them (see :func:`write_email_links`).

    ``contacts_to_drop`` / ``orgs_to_drop``: whether the email holds a link of that kind (by hand or
    not, as ``contacts_manual`` says) that the new links do not name, so that a DELETE has work to
    do; a caller that does not know passes True. ``contacts_kept`` / ``orgs_kept``: the ids whose row
    is already exactly as written (or is of the other kind, which the write leaves alone): not
    written again."""

    email_id: int
    deal_id: int | None
    deal_rule: str | None
    deal_cause: LinkCause | None
    is_deal_manual: bool
    needs_deal: bool
    is_automated: bool
    verdict: str | None
    trace_json: str
    contacts: Sequence[tuple[int, str, str, str, LinkCause | None]]
    contacts_manual: bool
    orgs: Sequence[tuple[int, str, str, str, LinkCause | None]] = ()
    orgs_manual: bool = False
    contacts_to_drop: bool = True
    orgs_to_drop: bool = True
    contacts_kept: frozenset[int] = frozenset()
    orgs_kept: frozenset[int] = frozenset()
    has_link: bool | None = None  # whether a link that counts is left, when the caller knows (None: the SQL finds out)


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
    orgs: Sequence[tuple[int, str, str, str, LinkCause | None]] = (),
    orgs_manual: bool = False,
) -> None:
    """New links for one email. ``contacts_manual``: they are the contacts its owner chose by hand (the
    same contacts, with the engine's words), which replace the hand-made rows and nothing else; the
    same for ``orgs`` and ``orgs_manual``.

    The email row is written once, with its ``has_link`` as the links will leave it (where this
    connection may write it: see ``Database.kept_flag``); the links are then changed in place (rows
    that stay are updated, not deleted and added again), so that the database's own upkeep of that
    flag finds nothing to change.
    """
    write_links(
        db,
        [
            LinkWrite(
                email_id,
                deal_id,
                deal_rule,
                deal_cause,
                is_deal_manual,
                needs_deal,
                is_automated,
                verdict,
                trace_json,
                contacts,
                contacts_manual,
                orgs,
                orgs_manual,
            )
        ],
    )


def write_links(db: Database, writes: Sequence[LinkWrite]) -> None:
    """The new links of many emails (each email once), as :func:`write_email_links` writes one, in a
    few statements for them all: a rescan writes a whole batch so. For each email the order stays
    that of a single write (its row, then the links that stay, then those that go); the emails do
    not read each other's rows."""
    if not writes:
        return
    has_link = _HAS_LINK_AFTER.format(
        contacts=db.in_json("contact_id", ":counted_contact_ids"), orgs=db.in_json("org_id", ":counted_org_ids")
    )
    email_rows = []
    known_rows = []
    contact_rows: list[tuple] = []
    org_rows: list[tuple] = []
    contact_drops = []
    org_drops = []
    for w in writes:
        contacts = _link_rows(w.email_id, w.contacts, w.contacts_manual)
        orgs = _link_rows(w.email_id, w.orgs, w.orgs_manual)
        by, at, proposed = _cause_columns(w.deal_cause)
        row = {
            "deal": w.deal_id,
            "rule": w.deal_rule,
            "deal_manual": int(w.is_deal_manual),
            "needs": int(w.needs_deal),
            "automated": int(w.is_automated),
            "verdict": w.verdict,
            "trace": w.trace_json,
            "by": by,
            "at": at,
            "proposed": proposed,
            "id": w.email_id,
        }
        if w.has_link is not None:
            row["has_link"] = int(w.has_link)
            known_rows.append(row)
        else:
            counted_contacts = [r[1] for r in contacts if not r[8]]
            counted_orgs = [r[1] for r in orgs if not r[8]]
            row.update(
                contacts_manual=int(w.contacts_manual),
                orgs_manual=int(w.orgs_manual),
                counted_contacts=len(counted_contacts),
                counted_contact_ids=json.dumps(counted_contacts),
                counted_orgs=len(counted_orgs),
                counted_org_ids=json.dumps(counted_orgs),
            )
            email_rows.append(row)
        contact_rows += [r for r in contacts if r[1] not in w.contacts_kept]
        org_rows += [r for r in orgs if r[1] not in w.orgs_kept]
        if w.contacts_to_drop:
            contact_drops.append((w.email_id, int(w.contacts_manual), json.dumps([r[1] for r in contacts])))
        if w.orgs_to_drop:
            org_drops.append((w.email_id, int(w.orgs_manual), json.dumps([r[1] for r in orgs])))
    update = (
        "UPDATE emails SET deal_id = :deal, deal_rule = :rule, is_deal_manual = :deal_manual, needs_deal = :needs, "
        "is_automated = :automated, link_verdict = :verdict, link_trace_json = :trace, deal_caused_by = :by, "
        "deal_caused_utc = :at, is_deal_proposed = :proposed, has_link = {} WHERE id = :id"
    )
    if email_rows:
        db.executemany(update.format(db.kept_flag("has_link", has_link)), email_rows)
    if known_rows:
        db.executemany(update.format(db.kept_flag("has_link", ":has_link")), known_rows)
    # Every link that stays is written before any goes, so that no trigger sees an email left
    # without a link for a moment.
    if contact_rows:
        _upsert_links(db, "email_contacts", "contact_id", contact_rows)
    if org_rows:
        _upsert_links(db, "email_orgs", "org_id", org_rows)
    if contact_drops:
        _delete_links_but(db, "email_contacts", "contact_id", contact_drops)
    if org_drops:
        _delete_links_but(db, "email_orgs", "org_id", org_drops)


def _link_rows(
    email_id: int, links: Sequence[tuple[int, str, str, str, LinkCause | None]], manual: bool
) -> list[tuple]:
    """The rows of a link table for ``links``: (email, contact or organization, address, rule, reason,
    by hand, caused by, caused when, proposed)."""
    return [
        (email_id, key, address, rule, reason, int(manual), *_cause_columns(cause))
        for key, address, rule, reason, cause in links
    ]


def _upsert_links(db: Database, table: str, key: str, rows: list[tuple]) -> None:
    """Write ``rows`` into ``table``, changing a row of the same kind (by hand or not) in place; a
    row of the other kind stays as it is, and the new row for its contact or organization is not written."""
    db.executemany(
        f"INSERT INTO {table} (email_id, {key}, address, rule, reason, is_manual, caused_by, caused_utc, "
        f"is_proposed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (email_id, {key}) DO UPDATE SET "
        "address = excluded.address, rule = excluded.rule, reason = excluded.reason, caused_by = excluded.caused_by, "
        "caused_utc = excluded.caused_utc, is_proposed = excluded.is_proposed "
        f"WHERE {table}.is_manual = excluded.is_manual",
        rows,
    )


def _delete_links_but(db: Database, table: str, key: str, drops: list[tuple[int, int, str]]) -> None:
    """Remove, for each (email, by hand or not, JSON list of ids), the email's links of that kind in
    ``table`` that the list does not name."""
    db.executemany(f"DELETE FROM {table} WHERE email_id = ? AND is_manual = ? AND NOT ({db.in_json(key, '?')})", drops)


def write_thread_deal(db: Database, thread_id: int, deal_id: int | None, deal_rule: str | None) -> None:
    write_thread_deals(db, [(thread_id, deal_id, deal_rule)])


def write_thread_deals(db: Database, deals: Sequence[tuple[int, int | None, str | None]]) -> None:
    """(thread, deal, rule) for many threads; a thread whose deal was chosen by hand keeps it."""
    if deals:
        db.executemany(
            "UPDATE threads SET deal_id = ?, deal_rule = ? WHERE id = ? AND is_deal_manual = 0",
            [(deal_id, deal_rule, thread_id) for thread_id, deal_id, deal_rule in deals],
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


def set_manual_orgs(db: Database, email_id: int, org_ids: Sequence[int]) -> None:
    db.execute("DELETE FROM email_orgs WHERE email_id = ?", (email_id,))
    db.executemany(
        "INSERT INTO email_orgs (email_id, org_id, address, rule, reason, is_manual) "
        "VALUES (?, ?, '', 'org-manual', 'linked by hand', 1)",
        [(email_id, oid) for oid in sorted(set(org_ids))],
    )
    db.execute("UPDATE emails SET is_orgs_manual = 1 WHERE id = ?", (email_id,))


def email_org_ids(db: Database, email_id: int) -> list[int]:
    return [r[0] for r in db.all("SELECT org_id FROM email_orgs WHERE email_id = ? ORDER BY org_id", (email_id,))]


def accepted_org_ids(db: Database, email_id: int) -> list[int]:
    return [
        r[0]
        for r in db.all(
            "SELECT org_id FROM email_orgs WHERE email_id = ? AND is_proposed = 0 ORDER BY org_id", (email_id,)
        )
    ]


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
        "SELECT y.email_id, 'org', y.org_id, o.name, u.email, y.caused_utc FROM email_orgs y "
        "JOIN emails e ON e.id = y.email_id JOIN orgs o ON o.id = y.org_id LEFT JOIN users u ON u.id = y.caused_by "
        "WHERE e.thread_id = :thread AND y.is_proposed = 1 "
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
    db.execute(
        "UPDATE email_orgs SET is_proposed = 0 WHERE is_proposed = 1 AND email_id IN "
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
        "(SELECT x.email_id FROM email_contacts x WHERE x.is_proposed = 1) OR e.id IN "
        "(SELECT y.email_id FROM email_orgs y WHERE y.is_proposed = 1)) ORDER BY e.date_utc DESC, e.id DESC",
        {"owner": owner_id},
    )
    return [r[0] for r in rows]


def thread_has_proposals(db: Database, thread_id: int) -> bool:
    """Whether any link of the thread waits for its owner: capture asks this of every new email."""
    if db.capture_only:
        return bool(db.scalar("SELECT pdmail_capture_thread_has_proposals(?)", (thread_id,)))
    return bool(
        db.scalar(
            "SELECT EXISTS (SELECT 1 FROM emails WHERE thread_id = :thread AND is_deal_proposed = 1) OR EXISTS "
            "(SELECT 1 FROM emails o JOIN email_contacts x ON x.email_id = o.id WHERE o.thread_id = :thread "
            "AND x.is_proposed = 1) OR EXISTS (SELECT 1 FROM emails o JOIN email_orgs y ON y.email_id = o.id "
            "WHERE o.thread_id = :thread AND y.is_proposed = 1)",
            {"thread": thread_id},
        )
    )


def follow_contact_proposals(db: Database, thread_id: int, email_id: int) -> None:
    """The email's contact links to contacts whose link waits for the owner elsewhere in the thread
    wait too, with the same cause."""
    if db.capture_only:
        db.execute("SELECT pdmail_capture_follow_proposals(?, ?)", (thread_id, email_id))
        return
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
    pending_orgs = db.all(
        "SELECT y.org_id, y.caused_by, y.caused_utc FROM email_orgs y JOIN emails o ON o.id = y.email_id "
        "WHERE o.thread_id = ? AND o.id != ? AND y.is_proposed = 1 ORDER BY o.id DESC",
        (thread_id, email_id),
    )
    for org_id, by, at in {r[0]: r for r in pending_orgs}.values():
        db.execute(
            "UPDATE email_orgs SET caused_by = ?, caused_utc = ?, is_proposed = 1 "
            "WHERE email_id = ? AND org_id = ? AND is_manual = 0",
            (by, at, email_id, org_id),
        )


def email_deal(db: Database, email_id: int) -> tuple[int | None, str | None, bool]:
    """The email's deal, the rule that gave it, and whether it was chosen by hand."""
    if db.capture_only:
        row = db.row("SELECT * FROM pdmail_capture_email_deal(?)", (email_id,))
    else:
        row = db.row("SELECT deal_id, deal_rule, is_deal_manual FROM emails WHERE id = ?", (email_id,))
    return row["deal_id"], row["deal_rule"], bool(row["is_deal_manual"])


def pending_thread_deal(db: Database, thread_id: int, email_id: int, deal_id: int) -> LinkCause | None:
    """Why the thread's other email holds this deal only as a proposal, if it does."""
    if db.capture_only:
        row = db.one("SELECT * FROM pdmail_capture_pending_thread_deal(?, ?, ?)", (thread_id, email_id, deal_id))
        return None if row is None else LinkCause(row[0], row[1] or "", True)
    row = db.one(
        "SELECT deal_caused_by, deal_caused_utc FROM emails WHERE thread_id = ? AND id != ? AND deal_id = ? "
        "AND is_deal_proposed = 1 ORDER BY id LIMIT 1",
        (thread_id, email_id, deal_id),
    )
    return None if row is None else LinkCause(row[0], row[1] or "", True)


def pending_deal_contact(db: Database, email_id: int, deal_id: int) -> LinkCause | None:
    """Why the email is linked to the deal's contact (or organization) only by a proposal, if it is."""
    if db.capture_only:
        row = db.one("SELECT * FROM pdmail_capture_pending_deal_contact(?, ?)", (email_id, deal_id))
        return None if row is None else LinkCause(row[0], row[1] or "", True)
    row = db.one(
        "SELECT x.caused_by, x.caused_utc FROM email_contacts x JOIN deals d ON d.contact_id = x.contact_id "
        "WHERE x.email_id = :email AND d.id = :deal AND x.is_proposed = 1 "
        "UNION ALL SELECT y.caused_by, y.caused_utc FROM email_orgs y JOIN deals d ON d.org_id = y.org_id "
        "WHERE y.email_id = :email AND d.id = :deal AND y.is_proposed = 1",
        {"email": email_id, "deal": deal_id},
    )
    return None if row is None else LinkCause(row[0], row[1] or "", True)


def propose_deal(
    db: Database, cause: LinkCause, *, deal_id: int, email_id: int | None = None, thread_id: int | None = None
) -> None:
    """Make the deal link of one email (or of every email of a thread that got it without a cause) wait."""
    if db.capture_only:
        db.execute(
            "SELECT pdmail_capture_propose_deal(?, ?, ?, ?, ?)", (cause.by, cause.at, deal_id, email_id, thread_id)
        )
        return
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
    """What a user chooses from: the open deals of the contacts this email is linked to, or, when they
    have none, those of the organizations it is linked to (as the linking engine pools them)."""
    select = (
        "SELECT d.id, d.title, d.value, d.currency, d.status, d.contact_id, c.name AS contact_name "
        "FROM deals d LEFT JOIN contacts c ON c.id = d.contact_id WHERE d.status = 'open' AND "
    )
    rows = db.all(
        select + "d.contact_id IN (SELECT contact_id FROM email_contacts WHERE email_id = ?) ORDER BY d.id",
        (email_id,),
    )
    if not rows:
        rows = db.all(
            select + "d.org_id IN (SELECT org_id FROM email_orgs WHERE email_id = ?) ORDER BY d.id", (email_id,)
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
            "e.direction, e.subject, u.email AS owner_email, e.is_deal_proposed, e.deal_caused_utc, e.is_orgs_manual, "
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
    email["orgs"] = [
        dict(r)
        for r in db.all(
            "SELECT y.org_id, o.name, y.address, y.rule, y.reason, y.is_manual, y.is_proposed, "
            "u.email AS caused_by, y.caused_utc FROM email_orgs y JOIN orgs o ON o.id = y.org_id "
            "LEFT JOIN users u ON u.id = y.caused_by WHERE y.email_id = ? ORDER BY y.org_id",
            (email_id,),
        )
    ]
    deal = db.one("SELECT id, title, status, contact_id FROM deals WHERE id = ?", (email["deal_id"],))
    email["deal"] = dict(deal) if deal else None
    email["thread"] = dict(
        db.row(
            "SELECT t.id, t.deal_id, t.deal_rule, t.is_deal_manual, t.visibility, "
            f"(SELECT count(*) FROM emails e WHERE e.thread_id = t.id AND {db.visible('e')}) AS emails "
            "FROM threads t WHERE t.id = :thread",
            {"thread": email["thread_id"], "viewer": viewer_id},
        )
    )
    email["history"] = [
        dict(r)
        for r in db.all(
            "SELECT a.at_utc, u.email AS user, a.action, a.email_id, a.from_value, a.to_value FROM audit_log a "
            "LEFT JOIN users u ON u.id = a.user_id WHERE (a.thread_id = :thread OR a.email_id = :email) "
            f"AND (a.email_id IS NULL OR EXISTS (SELECT 1 FROM emails e WHERE e.id = a.email_id AND {db.visible('e')})) "
            "ORDER BY a.id",
            {"thread": email["thread_id"], "email": email_id, "viewer": viewer_id},
        )
    ]
    return email
