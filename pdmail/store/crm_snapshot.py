"""The CRM facts the linking engine reads: contacts by address and by id, deals by contact and by id.

Capture and re-linking both read them here, with the same queries, so that a message decided
again later sees exactly what it would have seen at capture. Lists of any length are passed as one
JSON parameter: a message may name tens of thousands of recipients, more than SQLite takes as
separate parameters.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from pdmail.core.addresses import domain_of
from pdmail.core.domains import domain_and_parents
from pdmail.core.models import Contact, Deal, Organization
from pdmail.core.records import Record
from pdmail.store.db import Database

_DEAL_COLUMNS = "id, title, status, contact_id, org_id, value, currency"
NOTHING: Mapping = MappingProxyType({})  # the default of every mapping below: shared, so never changed


class CrmSnapshot(Record):
    """The contacts and deals one batch of linking decisions may consult, read together."""

    contacts_by_address: Mapping[str, Contact]
    contacts_by_id: Mapping[int, Contact]  # contacts chosen by hand, by id
    deals_by_contact: Mapping[int, tuple[Deal, ...]]
    deals_by_id: Mapping[int, Deal]
    orgs_by_domain: Mapping[str, tuple[Organization, ...]] = NOTHING
    orgs_by_id: Mapping[int, Organization] = NOTHING  # those claiming a domain, and by hand
    deals_by_org: Mapping[int, tuple[Deal, ...]] = NOTHING

    @classmethod
    def read(
        cls,
        db: Database,
        addresses: Iterable[str],
        *,
        contact_ids: Iterable[int] = (),
        deal_ids: Iterable[int | None] = (),
        org_ids: Iterable[int] = (),
    ) -> CrmSnapshot:
        """The contacts of ``addresses`` and of ``contact_ids``, all their deals, and the deals ``deal_ids``;
        the organizations claiming the addresses' domains (or their parents) and ``org_ids``, and their deals."""
        addresses = set(addresses)
        by_address = contacts_by_address(db, addresses)
        wanted_ids = set(contact_ids)
        by_id = contacts_by_id(db, wanted_ids) if wanted_ids else {}
        deals_by_contact = deals_for_contacts(db, {c.id for c in by_address.values()} | set(by_id))
        domains = {d for a in addresses if "@" in a for d in domain_and_parents(domain_of(a))}
        by_domain, orgs = orgs_by_domains(db, domains, set(org_ids))
        deals_by_org = deals_for_orgs(db, orgs)
        deals = {d.id: d for group in (*deals_by_contact.values(), *deals_by_org.values()) for d in group}
        deals.update(deals_by_id(db, {i for i in deal_ids if i is not None} - set(deals)))
        return cls(by_address, by_id, deals_by_contact, deals, by_domain, orgs, deals_by_org)

    def with_new_contacts(self, created: Mapping[str, Contact]) -> CrmSnapshot:
        """This snapshot plus contacts just created: a new contact has no deal yet."""
        if not created:
            return self
        return self._replace(contacts_by_address={**self.contacts_by_address, **created})

    def contacts_of(self, addresses: Iterable[str]) -> dict[str, Contact]:
        return {a: self.contacts_by_address[a] for a in addresses if a in self.contacts_by_address}


def _json_list(values: Iterable) -> str:
    return json.dumps(sorted(set(values)))


def contacts_by_address(db: Database, addresses: Iterable[str]) -> dict[str, Contact]:
    wanted = _json_list(addresses)
    if wanted == "[]":
        return {}
    rows = db.all(
        "SELECT e.email, c.id, c.name, c.org_id FROM contact_emails e JOIN contacts c ON c.id = e.contact_id "
        f"WHERE {db.in_json('e.email', '?', text=True)}",
        (wanted,),
    )
    # The engine reads a contact's id and name; its full address list is not needed to link.
    return {r[0]: Contact(r[1], r[2], (r[0],), r[3]) for r in rows}


def contacts_by_id(db: Database, ids: Iterable[int]) -> dict[int, Contact]:
    rows = db.all(
        f"SELECT id, name, org_id FROM contacts WHERE {db.in_json('id', '?')}",
        (_json_list(int(i) for i in ids),),
    )
    return {r[0]: Contact(r[0], r[1], (), r[2]) for r in rows}


def orgs_by_domains(
    db: Database, domains: Iterable[str], org_ids: set[int]
) -> tuple[dict[str, tuple[Organization, ...]], dict[int, Organization]]:
    """Which organizations claim each of ``domains`` (in id order), and those and ``org_ids`` by id,
    each with every domain it claims."""
    wanted = _json_list(domains)
    claims: dict[str, list[int]] = {}
    if wanted != "[]":
        for domain, org_id in db.all(
            f"SELECT domain, org_id FROM org_domains WHERE {db.in_json('domain', '?', text=True)} ORDER BY org_id",
            (wanted,),
        ):
            claims.setdefault(domain, []).append(org_id)
    ids = {i for group in claims.values() for i in group} | org_ids
    if not ids:
        return {}, {}
    own: dict[int, list[str]] = {}
    names: dict[int, str] = {}
    for org_id, name, domain in db.all(
        "SELECT o.id, o.name, d.domain FROM orgs o LEFT JOIN org_domains d ON d.org_id = o.id "
        f"WHERE {db.in_json('o.id', '?')} ORDER BY o.id, d.domain",
        (_json_list(ids),),
    ):
        names[org_id] = name
        if domain is not None:
            own.setdefault(org_id, []).append(domain)
    orgs = {i: Organization(i, names[i], tuple(own.get(i, ()))) for i in names}
    return {d: tuple(orgs[i] for i in group) for d, group in claims.items()}, orgs


def deals_for_orgs(db: Database, orgs: Iterable[int]) -> dict[int, tuple[Deal, ...]]:
    wanted = _json_list(int(i) for i in orgs)
    if wanted == "[]":
        return {}
    out: dict[int, list[Deal]] = {}
    for r in db.all(f"SELECT {_DEAL_COLUMNS} FROM deals WHERE {db.in_json('org_id', '?')} ORDER BY id", (wanted,)):
        out.setdefault(r["org_id"], []).append(deal_of_row(r))
    return {k: tuple(v) for k, v in out.items()}


def deal_of_row(r) -> Deal:
    """A deal as the linking engine sees it, from a row holding the deal's columns by name."""
    return Deal(r["id"], r["title"], r["status"], r["contact_id"], r["org_id"], r["value"], r["currency"])


def deals_for_contacts(db: Database, contact_ids: Iterable[int]) -> dict[int, tuple[Deal, ...]]:
    wanted = _json_list(int(i) for i in contact_ids)
    if wanted == "[]":
        return {}
    out: dict[int, list[Deal]] = {}
    for r in db.all(
        f"SELECT {_DEAL_COLUMNS} FROM deals WHERE {db.in_json('contact_id', '?')} ORDER BY id",
        (wanted,),
    ):
        out.setdefault(r["contact_id"], []).append(deal_of_row(r))
    return {k: tuple(v) for k, v in out.items()}


def deals_by_id(db: Database, ids: Iterable[int | None]) -> dict[int, Deal]:
    wanted = _json_list(int(i) for i in ids if i is not None)
    if wanted == "[]":
        return {}
    return {
        r["id"]: deal_of_row(r)
        for r in db.all(f"SELECT {_DEAL_COLUMNS} FROM deals WHERE {db.in_json('id', '?')}", (wanted,))
    }
