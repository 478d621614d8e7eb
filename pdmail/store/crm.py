"""Organizations, contacts (with several addresses each) and deals.

Only their rows: what a change means for stored email (linking it again) and reading CSV files are
done above, in ``pdmail.crm.changes``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

from pdmail.core.addresses import is_valid_address, normalize_address
from pdmail.core.domains import check_org_domain, normalize_domain
from pdmail.core.errors import UsageError, not_found
from pdmail.core.models import Contact, DealStatus
from pdmail.core.records import Record
from pdmail.store.db import Database, like_pattern, now_utc, page_clause

DEAL_STATUSES: tuple[DealStatus, ...] = ("open", "won", "lost")


class OrgRecord(Record):
    id: int
    name: str
    domains: tuple[str, ...] = ()  # oldest first; those given at the same time in alphabetical order

    @property
    def domain(self) -> str | None:
        """The first domain, as ``--json`` has given it since an organization had only one."""
        return self.domains[0] if self.domains else None

    def to_json(self) -> dict:
        return {"id": self.id, "name": self.name, "domain": self.domain, "domains": list(self.domains)}


class ContactRecord(Record):
    id: int
    name: str
    emails: tuple[str, ...]
    org_id: int | None
    org_name: str | None
    title: str | None
    phone: str | None
    first_name: str | None = None  # as given; None when templates should read it from the name

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "first_name": self.first_name,
            "emails": list(self.emails),
            "org_id": self.org_id,
            "org": self.org_name,
            "title": self.title,
            "phone": self.phone,
        }

    def as_contact(self) -> Contact:
        return Contact(self.id, self.name, self.emails, self.org_id)


class DealRecord(Record):
    id: int
    title: str
    contact_id: int | None
    org_id: int | None
    value: str | None  # exact decimal text, e.g. "480000.10": never a float
    currency: str | None
    status: DealStatus
    contact_name: str | None = None

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "contact_id": self.contact_id,
            "org_id": self.org_id,
            "value": self.value,
            "currency": self.currency,
            "status": self.status,
        }


# --- organizations ----------------------------------------------------------------------------


def check_domain(domain: str) -> str:
    """An organization's domain as stored, or a usage error saying why it cannot be one."""
    try:
        return check_org_domain(domain)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def add_org(
    db: Database, name: str, domains: Sequence[str] | str | None = (), *, domain: str | None = None
) -> OrgRecord:
    """Add an organization with its domains (``domain``, or one string: a single one)."""
    if not name.strip():
        raise UsageError("an organization needs a name")
    given = [domains] if isinstance(domains, str) else list(domains or ())
    checked = list(dict.fromkeys(check_domain(d) for d in [*given, *([domain] if domain else [])]))
    with db.tx():
        stamp = now_utc()
        new_id = db.insert("INSERT INTO orgs (name, created_utc) VALUES (?, ?)", (name.strip(), stamp))
        db.executemany(
            "INSERT INTO org_domains (domain, org_id, created_utc) VALUES (?, ?, ?)",
            [(d, new_id, stamp) for d in checked],
        )
    return get_org(db, new_id)


def add_org_domain(db: Database, org_id: int, domain: str) -> tuple[OrgRecord, bool]:
    """Give an organization another domain; returns it and whether the domain is new to it."""
    checked = check_domain(domain)
    with db.tx():
        get_org(db, org_id)
        had = db.scalar("SELECT 1 FROM org_domains WHERE domain = ? AND org_id = ?", (checked, org_id)) is not None
        if not had:
            db.execute(
                "INSERT INTO org_domains (domain, org_id, created_utc) VALUES (?, ?, ?)", (checked, org_id, now_utc())
            )
    return get_org(db, org_id), not had


def remove_org_domain(db: Database, org_id: int, domain: str) -> OrgRecord:
    wanted = normalize_domain(domain)
    with db.tx():
        org = get_org(db, org_id)
        if wanted not in org.domains:
            raise not_found(f"domain of organization {org_id}", repr(domain.strip()))
        db.execute("DELETE FROM org_domains WHERE domain = ? AND org_id = ?", (wanted, org_id))
    return get_org(db, org_id)


def orgs_claiming(db: Database, domain: str) -> list[tuple[int, str]]:
    """The organizations that list exactly this domain, in id order: (id, name)."""
    rows = db.all(
        "SELECT o.id, o.name FROM org_domains d JOIN orgs o ON o.id = d.org_id WHERE d.domain = ? ORDER BY o.id",
        (normalize_domain(domain),),
    )
    return [(r[0], r[1]) for r in rows]


def _org_select(db: Database) -> str:
    domains = db.text_list("domain", "org_domains WHERE org_id = o.id", "created_utc, domain")
    return f"SELECT o.id, o.name, {domains} AS domains FROM orgs o"


def _org(row) -> OrgRecord:
    return OrgRecord(row["id"], row["name"], tuple(row["domains"].split("\n")) if row["domains"] else ())


def get_org(db: Database, org_id: int) -> OrgRecord:
    row = db.one(_org_select(db) + " WHERE o.id = ?", (org_id,))
    if row is None:
        raise not_found("org", org_id)
    return _org(row)


def list_orgs(db: Database) -> list[OrgRecord]:
    return [_org(r) for r in db.all(_org_select(db) + " ORDER BY o.id")]


def org_by_name(db: Database, name: str) -> int:
    """The organization of that name (the oldest, case aside), created when there is none."""
    row = db.one("SELECT id FROM orgs WHERE lower(name) = lower(?) ORDER BY id LIMIT 1", (name,))
    if row:
        return row["id"]
    return db.insert("INSERT INTO orgs (name, created_utc) VALUES (?, ?)", (name, now_utc()))


# --- contacts ---------------------------------------------------------------------------------


def _check_addresses(db: Database, emails: list[str]) -> list[str]:
    out: list[str] = []
    for raw in emails:
        addr = normalize_address(raw)
        if not is_valid_address(addr):
            raise UsageError(f"not an email address: {raw!r}")
        if addr in out:
            continue
        row = db.one(
            "SELECT c.id, c.name FROM contact_emails e JOIN contacts c ON c.id = e.contact_id WHERE e.email = ?",
            (addr,),
        )
        if row:
            raise UsageError(f"{addr} already belongs to contact {row['id']} ({row['name']})")
        out.append(addr)
    return out


def add_contact(
    db: Database,
    name: str,
    emails: list[str],
    *,
    org_id: int | None = None,
    title: str | None = None,
    phone: str | None = None,
    first_name: str | None = None,
) -> ContactRecord:
    """Add a contact with its addresses (an address of another contact is refused).

    ``first_name`` is what templates call them by, for names no parser reads right ("Dr. Byron").
    """
    if not name.strip():
        raise UsageError("a contact needs a name")
    with db.tx():
        if org_id is not None:
            get_org(db, org_id)
        addresses = _check_addresses(db, emails)
        contact_id = db.insert(
            "INSERT INTO contacts (name, first_name, org_id, title, phone, created_utc) VALUES (?, ?, ?, ?, ?, ?)",
            (name.strip(), (first_name or "").strip() or None, org_id, title or None, phone or None, now_utc()),
        )
        db.executemany(
            "INSERT INTO contact_emails (email, contact_id, position) VALUES (?, ?, ?)",
            [(a, contact_id, i) for i, a in enumerate(addresses)],
        )
    return get_contact(db, contact_id)


def add_contact_address(db: Database, contact_id: int, email: str) -> ContactRecord:
    with db.tx():
        get_contact(db, contact_id)
        (addr,) = _check_addresses(db, [email])
        position = db.scalar(
            "SELECT coalesce(max(position) + 1, 0) FROM contact_emails WHERE contact_id = ?", (contact_id,)
        )
        db.execute(
            "INSERT INTO contact_emails (email, contact_id, position) VALUES (?, ?, ?)", (addr, contact_id, position)
        )
    return get_contact(db, contact_id)


def update_contact(
    db: Database,
    contact_id: int,
    *,
    name: str | None = None,
    first_name: str | None = None,
    org_id: int | None = None,
    title: str | None = None,
    phone: str | None = None,
) -> ContactRecord:
    """Set the fields given (None leaves one as it is); addresses are changed with :func:`add_contact_address`."""
    changes = {
        column: value.strip() if isinstance(value, str) else value
        for column, value in (
            ("name", name),
            ("first_name", first_name),
            ("org_id", org_id),
            ("title", title),
            ("phone", phone),
        )
        if value is not None and value != ""
    }
    with db.tx():
        get_contact(db, contact_id)
        if org_id is not None:
            get_org(db, org_id)
        if changes:
            db.execute(
                f"UPDATE contacts SET {', '.join(f'{c} = ?' for c in changes)} WHERE id = ?",
                (*changes.values(), contact_id),
            )
    return get_contact(db, contact_id)


def contacts_of_addresses(db: Database, addresses: list[str]) -> dict[str, int]:
    """Each of ``addresses`` (normalized) that belongs to a contact, with the contact's id."""
    wanted = sorted({normalize_address(a) for a in addresses})
    if not wanted:
        return {}
    rows = db.all(
        f"SELECT email, contact_id FROM contact_emails WHERE email IN ({', '.join('?' for _ in wanted)})",
        tuple(wanted),
    )
    return {r["email"]: r["contact_id"] for r in rows}


def threads_of_contact(db: Database, contact_id: int) -> list[int]:
    """The threads holding email linked to the contact, in id order."""
    return [
        r[0]
        for r in db.all(
            "SELECT DISTINCT e.thread_id FROM email_contacts x JOIN emails e ON e.id = x.email_id "
            "WHERE x.contact_id = ? ORDER BY 1",
            (contact_id,),
        )
    ]


def delete_contact(db: Database, contact_id: int) -> tuple[ContactRecord, list[int]]:
    """Delete a contact and its addresses, but not yet its email links; returns it and the deals it leaves.

    Its deals stay, without a contact person. The links still name the contact so that whoever
    links that email again sees what it loses; call :func:`delete_contact_links` in the same
    transaction afterwards (the foreign key is checked at commit, when none is left).
    """
    with db.tx():
        contact = get_contact(db, contact_id)
        deals = [
            r[0]
            for r in db.all(
                "SELECT id FROM deals WHERE contact_id = ? AND status != 'deleted' ORDER BY id", (contact_id,)
            )
        ]
        db.defer_foreign_keys()
        db.execute("UPDATE deals SET contact_id = NULL, updated_utc = ? WHERE contact_id = ?", (now_utc(), contact_id))
        db.execute("DELETE FROM contact_emails WHERE contact_id = ?", (contact_id,))
        db.execute("DELETE FROM contacts WHERE id = ?", (contact_id,))
    return contact, deals


def delete_contact_links(db: Database, contact_id: int) -> None:
    """Every link of an email to a deleted contact, automatic or chosen by hand.

    On a team server also those of mail the user may not see, through the database's own function,
    which removes only links to a contact that no longer exists: removing them narrows who sees mail.
    """
    if db.has_logins:
        db.execute("SELECT pdmail_forget_contact_links(?)", (contact_id,))
    else:
        db.execute("DELETE FROM email_contacts WHERE contact_id = ?", (contact_id,))


def _contact_select(db: Database) -> str:
    # One address a line: a quoted local part may hold spaces ("ann lee"@x.example), never a line break.
    emails = db.text_list("email", "contact_emails WHERE contact_id = c.id", "position")
    return (
        f"SELECT c.id, c.name, c.first_name, c.org_id, o.name AS org_name, c.title, c.phone, {emails} AS emails "
        "FROM contacts c LEFT JOIN orgs o ON o.id = c.org_id"
    )


def _contact(row) -> ContactRecord:
    emails = tuple(row["emails"].split("\n")) if row["emails"] else ()
    return ContactRecord(
        row["id"], row["name"], emails, row["org_id"], row["org_name"], row["title"], row["phone"], row["first_name"]
    )


def get_contact(db: Database, contact_id: int) -> ContactRecord:
    row = db.one(_contact_select(db) + " WHERE c.id = ?", (contact_id,))
    if row is None:
        raise not_found("contact", contact_id)
    return _contact(row)


def _contact_where(db: Database, org_id: int | None, search: str | None) -> tuple[str, list]:
    """The WHERE of a contact listing: an organization's, and those whose name, address or
    organization contains ``search`` (letters' case aside)."""
    where: list[str] = []
    params: list = []
    if org_id is not None:
        where.append("c.org_id = ?")
        params.append(org_id)
    if search:
        like = db.like
        where.append(
            f"(c.name {like} ? ESCAPE '\\' OR o.name {like} ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM contact_emails s "
            f"WHERE s.contact_id = c.id AND s.email {like} ? ESCAPE '\\'))"
        )
        params += [like_pattern(search)] * 3
    return (" WHERE " + " AND ".join(where)) if where else "", params


def list_contacts(
    db: Database, *, org_id: int | None = None, search: str | None = None, limit: int | None = None, offset: int = 0
) -> list[ContactRecord]:
    """Contacts in id order: an organization's, or those ``search`` finds; ``limit`` None for all."""
    where, params = _contact_where(db, org_id, search)
    page, page_params = page_clause(limit, offset)
    rows = db.all(_contact_select(db) + where + " ORDER BY c.id" + page, (*params, *page_params))
    return [_contact(r) for r in rows]


def count_contacts(db: Database, *, org_id: int | None = None, search: str | None = None) -> int:
    where, params = _contact_where(db, org_id, search)
    return db.scalar("SELECT count(*) FROM contacts c LEFT JOIN orgs o ON o.id = c.org_id" + where, tuple(params))


_CONTACT_JSON_SELECT = (
    "SELECT json_object('id', c.id, 'name', c.name, 'first_name', c.first_name, 'emails', "
    "(SELECT json_group_array(email) FROM "
    "  (SELECT email FROM contact_emails WHERE contact_id = c.id ORDER BY position)), "
    "'org_id', c.org_id, 'org', o.name, 'title', c.title, 'phone', c.phone) "
    "FROM contacts c LEFT JOIN orgs o ON o.id = c.org_id"
)


def contacts_json(
    db: Database, *, org_id: int | None = None, search: str | None = None, limit: int | None = None, offset: int = 0
) -> Iterator[str]:
    """Each contact as the JSON object of ``ContactRecord.to_json``, written by SQLite, in id order.

    For listing every contact: going through Python objects and the json module costs seconds at
    100,000 contacts, and yielding row by row keeps memory flat.
    """
    where, params = _contact_where(db, org_id, search)
    page, page_params = page_clause(limit, offset)
    tail = where + " ORDER BY c.id" + page
    if not db.writes_json:
        for row in db.execute(_contact_select(db) + tail, (*params, *page_params)):
            yield json.dumps(_contact(row).to_json(), ensure_ascii=False, separators=(",", ":"))
        return
    for (text,) in db.execute(_CONTACT_JSON_SELECT + tail, (*params, *page_params)):
        yield text


def contact_for_address(db: Database, address: str) -> int | None:
    return db.scalar("SELECT contact_id FROM contact_emails WHERE email = ?", (normalize_address(address),))


# --- deals ------------------------------------------------------------------------------------


def check_deal(title: str, status: str) -> DealStatus:
    """Refuse a deal without a title or with an unknown status; returns the status as stored."""
    if not title.strip():
        raise UsageError("a deal needs a title")
    return _check_status(status)


def _check_status(status: str) -> DealStatus:
    value = status.strip().lower()
    for known in DEAL_STATUSES:
        if value == known:
            return known
    raise UsageError(f"invalid deal status {status!r}: must be one of {', '.join(DEAL_STATUSES)}")


def add_deal(
    db: Database,
    title: str,
    *,
    contact_id: int,
    org_id: int | None = None,
    value: str | None = None,
    currency: str | None = None,
    status: str = "open",
) -> DealRecord:
    """Add a deal for a contact (and by default the contact's organization).

    ``value`` is exact decimal text ("480000.10"), as :func:`pdmail.core.money.parse` gives it: never a float.
    """
    status = check_deal(title, status)
    with db.tx():
        contact = get_contact(db, contact_id)
        if org_id is not None:
            get_org(db, org_id)
        else:
            org_id = contact.org_id
        stamp = now_utc()
        new_id = db.insert(
            "INSERT INTO deals (title, contact_id, org_id, value, currency, status, created_utc, updated_utc) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (title.strip(), contact_id, org_id, value or None, currency or None, status, stamp, stamp),
        )
    return get_deal(db, new_id)


_DEAL_SELECT = (
    "SELECT d.id, d.title, d.contact_id, d.org_id, d.value, d.currency, d.status, c.name AS contact_name "
    "FROM deals d LEFT JOIN contacts c ON c.id = d.contact_id"
)


def _deal(row) -> DealRecord:
    return DealRecord(
        row["id"],
        row["title"],
        row["contact_id"],
        row["org_id"],
        row["value"],
        row["currency"],
        row["status"],
        row["contact_name"],
    )


def deal_exists(db: Database, deal_id: int) -> bool:
    return db.scalar("SELECT 1 FROM deals WHERE id = ? AND status != 'deleted'", (deal_id,)) is not None


def get_deal(db: Database, deal_id: int) -> DealRecord:
    row = db.one(_DEAL_SELECT + " WHERE d.id = ? AND d.status != 'deleted'", (deal_id,))
    if row is None:
        raise not_found("deal", deal_id)
    return _deal(row)


def _deal_where(
    db: Database, status: str | None, contact_id: int | None, org_id: int | None, search: str | None
) -> tuple[str, list]:
    where = ["d.status != 'deleted'"]
    params: list[str | int] = []
    if status:
        where.append("d.status = ?")
        params.append(_check_status(status))
    if contact_id is not None:
        where.append("d.contact_id = ?")
        params.append(contact_id)
    if org_id is not None:
        where.append("d.org_id = ?")
        params.append(org_id)
    if search:
        where.append(f"(d.title {db.like} ? ESCAPE '\\' OR c.name {db.like} ? ESCAPE '\\')")
        params += [like_pattern(search)] * 2
    return " WHERE " + " AND ".join(where), params


def list_deals(
    db: Database,
    *,
    status: str | None = None,
    contact_id: int | None = None,
    org_id: int | None = None,
    search: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[DealRecord]:
    """Deals in id order; ``search`` finds a title or contact name containing it; ``limit`` None for all."""
    where, params = _deal_where(db, status, contact_id, org_id, search)
    page, page_params = page_clause(limit, offset)
    return [_deal(r) for r in db.all(_DEAL_SELECT + where + " ORDER BY d.id" + page, (*params, *page_params))]


def count_deals(
    db: Database,
    *,
    status: str | None = None,
    contact_id: int | None = None,
    org_id: int | None = None,
    search: str | None = None,
) -> int:
    where, params = _deal_where(db, status, contact_id, org_id, search)
    return db.scalar("SELECT count(*) FROM deals d LEFT JOIN contacts c ON c.id = d.contact_id" + where, tuple(params))


def set_deal_status(db: Database, deal_id: int, status: str) -> tuple[DealRecord, DealStatus]:
    """Returns the deal and its previous status."""
    new_status = _check_status(status)
    with db.tx():
        before = get_deal(db, deal_id)
        db.execute("UPDATE deals SET status = ?, updated_utc = ? WHERE id = ?", (new_status, now_utc(), deal_id))
    return get_deal(db, deal_id), before.status


def deals_titled(db: Database, contact_id: int, title: str) -> list[DealRecord]:
    """The contact's deals with this title, letters' case aside: what a second import of a row finds."""
    rows = db.all(
        _DEAL_SELECT + " WHERE d.contact_id = ? AND lower(d.title) = lower(?) AND d.status != 'deleted' ORDER BY d.id",
        (contact_id, title.strip()),
    )
    return [_deal(r) for r in rows]


def update_deal(
    db: Database,
    deal_id: int,
    *,
    org_id: int | None = None,
    value: str | None = None,
    currency: str | None = None,
    status: str | None = None,
) -> tuple[DealRecord, DealStatus]:
    """Set the fields given (None leaves one as it is); returns the deal and its status before."""
    changes: dict[str, object] = {"org_id": org_id, "value": value, "currency": currency}
    if status is not None:
        changes["status"] = _check_status(status)
    changes = {column: v for column, v in changes.items() if v is not None and v != ""}
    with db.tx():
        before = get_deal(db, deal_id)
        if org_id is not None:
            get_org(db, org_id)
        if changes:
            db.execute(
                f"UPDATE deals SET {', '.join(f'{c} = ?' for c in changes)}, updated_utc = ? WHERE id = ?",
                (*changes.values(), now_utc(), deal_id),
            )
    return get_deal(db, deal_id), before.status


def resolve_person(db: Database, person: str) -> int:
    """The contact a CSV row names by an email address or by a name only one contact has."""
    if "@" in person:
        contact_id = contact_for_address(db, person)
        if contact_id is None:
            raise UsageError(f"no contact has the address {person}")
        return contact_id
    rows = db.all("SELECT id FROM contacts WHERE lower(name) = lower(?)", (person,))
    if len(rows) == 1:
        return rows[0]["id"]
    if not rows:
        raise UsageError(f"no contact named {person!r}")
    raise UsageError(f"{len(rows)} contacts are named {person!r}; give an email address instead")
