"""Changes to contacts and deals, and their CSV import, with what they mean for stored email.

A contact's address or a deal decides how email is linked, so each change here writes the rows
(through ``pdmail.store.crm``) and links the email it touches again, in one transaction: nobody
ever sees the new contact without its mail, or mail linked by rules that were never saved. The
re-links run for whoever acts (``relink.acting`` / ``relink.rule_change``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pdmail.core.domains import normalize_domain
from pdmail.core.errors import UsageError
from pdmail.crm import csv_import as csvimport
from pdmail.linking import relink
from pdmail.store import crm as crm_store
from pdmail.store.crm import ContactRecord, DealRecord, OrgRecord
from pdmail.store.db import Database

# What an import does with a row whose record is already there (the same address, the same deal).
IMPORT_MODES = ("add", "update", "skip")
_EXISTING_HINT = "add --update to change it from the file, or --skip-existing to leave it as it is"


@dataclass
class ImportReport:
    imported: list[int] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (file line, reason)
    updated: list[int] = field(default_factory=list)  # --update: records the file changed
    skipped: list[int] = field(default_factory=list)  # --skip-existing: records left as they were

    def to_json(self) -> dict:
        return {
            "imported": len(self.imported),
            "ids": self.imported,
            "updated": len(self.updated),
            "updated_ids": self.updated,
            "skipped": len(self.skipped),
            "skipped_ids": self.skipped,
            "errors": [{"line": line, "error": reason} for line, reason in self.errors],
        }


# --- contacts ---------------------------------------------------------------------------------


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
    """Add a contact; earlier email from or to its addresses is linked to it.

    ``first_name`` is what templates call them by, for names no parser reads right ("Dr. Byron").
    """
    with db.tx():
        contact = crm_store.add_contact(
            db, name, emails, org_id=org_id, title=title, phone=phone, first_name=first_name
        )
        relink.after_addresses_changed(db, contact.emails)
    return contact


def add_contact_address(db: Database, contact_id: int, email: str) -> ContactRecord:
    """Give a contact another address; earlier email from or to it is linked to them."""
    with db.tx():
        before = set(crm_store.get_contact(db, contact_id).emails)
        contact = crm_store.add_contact_address(db, contact_id, email)
        relink.after_addresses_changed(db, [a for a in contact.emails if a not in before])
    return contact


def remove_contact(db: Database, contact_id: int) -> tuple[ContactRecord, list[int]]:
    """Remove a contact and its addresses; returns it and the deals it leaves behind.

    Every link of an email to the contact goes, automatic or chosen by hand (the email's other links
    stay), and the email it touched is linked again: removing a contact can only narrow who sees
    mail. Its deals stay, without a contact person, and keep the mail they hold.
    """
    with db.tx():
        threads = crm_store.threads_of_contact(db, contact_id)
        contact, deals = crm_store.delete_contact(db, contact_id)
        relink.relink_threads(db, threads)  # while the links still name it, so the report shows them go
        crm_store.delete_contact_links(db, contact_id)
        relink.after_contact_removed(db, contact.as_contact())
    return contact, deals


# --- organizations ----------------------------------------------------------------------------


def add_org(db: Database, name: str, domains: list[str]) -> OrgRecord:
    """Add an organization; the stored email at its domains is linked to it."""
    with db.tx():
        org = crm_store.add_org(db, name, domains)
        relink.after_org_domains_changed(db, org.domains)
    return org


def add_org_domain(db: Database, org_id: int, domain: str) -> tuple[OrgRecord, bool]:
    """Give an organization another domain; the stored email at it is linked again. Returns the
    organization and whether the domain was new to it."""
    with db.tx():
        org, added = crm_store.add_org_domain(db, org_id, domain)
        if added:
            relink.after_org_domains_changed(db, [crm_store.check_domain(domain)])
    return org, added


def remove_org_domain(db: Database, org_id: int, domain: str) -> OrgRecord:
    """Take a domain from an organization; the stored email at it is linked again (it may lose the link)."""
    with db.tx():
        org = crm_store.remove_org_domain(db, org_id, domain)
        relink.after_org_domains_changed(db, [normalize_domain(domain)])
    return org


def shared_domains(db: Database, org: OrgRecord) -> dict[str, list[tuple[int, str]]]:
    """The organization's domains that other organizations claim too: mail there links to neither."""
    found = {}
    for domain in org.domains:
        others = [o for o in crm_store.orgs_claiming(db, domain) if o[0] != org.id]
        if others:
            found[domain] = others
    return found


# --- deals ------------------------------------------------------------------------------------


def _exact_value(value: str | None, currency: str | None) -> tuple[str | None, str | None]:
    """The amount as a person wrote it ("480000.10", "EUR 1.234,50") as exact decimal text and currency."""
    from pdmail.core import money  # here, not at the top: piped mail loads this module and never needs it

    try:
        return money.parse(value or "", currency)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


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
    """Add a deal; an open one is offered to its contact's earlier email."""
    crm_store.check_deal(title, status)
    value, currency = _exact_value(value, currency)
    with db.tx():
        deal = crm_store.add_deal(
            db, title, contact_id=contact_id, org_id=org_id, value=value, currency=currency, status=status
        )
        relink.after_deals_changed(db, [deal.id])
    return deal


def set_deal_status(db: Database, deal_id: int, status: str) -> tuple[DealRecord, str]:
    """Returns the deal and its previous status; the email it touches is linked again."""
    with db.tx():
        deal, before = crm_store.set_deal_status(db, deal_id, status)
        if before != deal.status:
            relink.after_deals_changed(db, [deal_id])
    return deal, before


# --- CSV import -------------------------------------------------------------------------------


def import_contacts(db: Database, data: bytes, mode: str = "add") -> ImportReport:
    """Best effort, in one transaction: good rows go in, each bad row is reported by file line.

    A row with an address that a contact already has (an earlier import of the same file, a contact
    Smart BCC created) is refused by default, changes that contact with ``mode`` "update" (the
    row's non-empty cells and any new addresses) or leaves it as it is with "skip". The earlier email
    of all the new addresses is linked once, for the whole file.
    """
    _check_mode(mode)
    try:
        rows = csvimport.read_rows(data, csvimport.CONTACT_FIELDS, required=("email",))
    except csvimport.CsvFormatError as exc:
        raise UsageError(f"cannot import contacts: {exc}") from None
    report = ImportReport()
    added: list[str] = []
    domains: list[str] = []
    with db.tx():
        for row in rows:
            try:
                with db.tx():
                    _import_contact_row(db, row.fields, mode, report, added, domains)
            except UsageError as exc:
                report.errors.append((row.line, exc.message))
        relink.after_addresses_changed(db, added)
        if domains:  # the file gave organizations new domains: one more pass, for their mail
            relink.after_org_domains_changed(db, domains)
    return report


def _row_org(db: Database, fields: dict[str, str]) -> tuple[int | None, list[str]]:
    """The organization a CSV row names, by name (made when new) and its domains given to it, or by a
    domain alone when exactly one organization lists it; and the domains that were new to it."""
    domains = csvimport.split_domains(fields.get("domain", ""))
    if fields.get("org"):
        org_id = crm_store.org_by_name(db, fields["org"])
        new = [d for d in domains if crm_store.add_org_domain(db, org_id, d)[1]]
        return org_id, [crm_store.check_domain(d) for d in new]
    if not domains:
        return None, []
    if len(domains) > 1:
        raise UsageError("several domains but no organization: give the organization's name too")
    claiming = crm_store.orgs_claiming(db, domains[0])
    if len(claiming) != 1:
        found = "no organization lists" if not claiming else f"{len(claiming)} organizations list"
        raise UsageError(f"{found} {crm_store.check_domain(domains[0])}: give the organization's name too")
    return claiming[0][0], []


def _import_contact_row(
    db: Database, f: dict[str, str], mode: str, report: ImportReport, added: list[str], domains: list[str]
) -> None:
    named = csvimport.named_addresses(f.get("email", ""))
    if not named:
        raise UsageError("no email address")
    addresses = [address for _name, address in named]
    given = " ".join(part for part in (f.get("first_name"), f.get("last_name")) if part)
    name = f.get("name", "").strip() or given or next((n for n, _a in named if n), "") or addresses[0]
    owners = crm_store.contacts_of_addresses(db, addresses)
    if not owners:
        contact = crm_store.add_contact(
            db,
            name,
            addresses,
            org_id=_org(db, f, domains),
            title=f.get("title"),
            phone=f.get("phone"),
            first_name=f.get("first_name"),
        )
        report.imported.append(contact.id)
        added.extend(contact.emails)
        return
    if len(set(owners.values())) > 1:
        listed = ", ".join(f"{address} is contact {cid}'s" for address, cid in sorted(owners.items()))
        raise UsageError(f"the row names several contacts ({listed}); nothing was changed")
    (contact_id,) = set(owners.values())
    if mode == "skip":
        report.skipped.append(contact_id)
        return
    if mode == "add":
        address = next(iter(sorted(owners)))
        name = crm_store.get_contact(db, contact_id).name
        raise UsageError(f"{address} already belongs to contact {contact_id} ({name}); {_EXISTING_HINT}")
    crm_store.update_contact(
        db,
        contact_id,
        name=f.get("name", "").strip() or given or None,
        first_name=f.get("first_name"),
        org_id=_org(db, f, domains),
        title=f.get("title"),
        phone=f.get("phone"),
    )
    for address in addresses:
        if crm_store.contacts_of_addresses(db, [address]).get(address) is None:
            contact = crm_store.add_contact_address(db, contact_id, address)
            added.append(contact.emails[-1])
    report.updated.append(contact_id)


def _check_mode(mode: str) -> None:
    if mode not in IMPORT_MODES:
        raise ValueError(f"unknown import mode {mode!r}")


def import_deals(db: Database, data: bytes, mode: str = "add") -> ImportReport:
    """Best effort, in one transaction, like :func:`import_contacts`; the mail is linked once per file.

    A row whose contact already has a deal of that title (case aside) is refused by default, so a
    second import adds no second deal; ``mode`` "update" sets that deal's value, currency, status and
    organization from the row's non-empty cells, "skip" leaves it as it is.
    """
    _check_mode(mode)
    try:
        rows = csvimport.read_rows(data, csvimport.DEAL_FIELDS, required=("title", "person"))
    except csvimport.CsvFormatError as exc:
        raise UsageError(f"cannot import deals: {exc}") from None
    report = ImportReport()
    domains: list[str] = []
    with db.tx():
        for row in rows:
            try:
                with db.tx():
                    _import_deal_row(db, row.fields, mode, report, domains)
            except UsageError as exc:
                report.errors.append((row.line, exc.message))
        if domains:
            relink.after_org_domains_changed(db, domains)
        relink.after_deals_changed(db, report.imported + report.updated)
    return report


def _import_deal_row(db: Database, f: dict[str, str], mode: str, report: ImportReport, domains: list[str]) -> None:
    if not f.get("title"):
        raise UsageError("no title")
    if not f.get("person"):
        raise UsageError("no person (a contact's email address or name)")
    contact_id = crm_store.resolve_person(db, _person(f["person"]))
    given_status = f.get("status") or None
    crm_store.check_deal(f["title"], given_status or "open")
    value, currency = _exact_value(f.get("value"), f.get("currency") or None)
    existing = crm_store.deals_titled(db, contact_id, f["title"])
    if not existing:
        deal = crm_store.add_deal(
            db,
            f["title"],
            contact_id=contact_id,
            org_id=_org(db, f, domains),
            value=value,
            currency=currency,
            status=given_status or "open",
        )
        report.imported.append(deal.id)
        return
    if mode == "skip":
        report.skipped.extend(d.id for d in existing)
        return
    ids = ", ".join(str(d.id) for d in existing)
    if mode == "add":
        raise UsageError(f"contact {contact_id} already has the deal {f['title']!r} ({ids}); {_EXISTING_HINT}")
    if len(existing) > 1:
        raise UsageError(
            f"contact {contact_id} has {len(existing)} deals titled {f['title']!r} ({ids}); change one with `pdmail deal`"
        )
    deal, _before = crm_store.update_deal(
        db, existing[0].id, org_id=_org(db, f, domains), value=value, currency=currency, status=given_status
    )
    report.updated.append(deal.id)


def _org(db: Database, f: dict[str, str], domains: list[str]) -> int | None:
    """The row's organization (see :func:`_row_org`): only for a row that is written. The domains new
    to it go to ``domains``, whose mail is linked again once for the whole file."""
    org_id, new = _row_org(db, f)
    domains.extend(new)
    return org_id


def _person(cell: str) -> str:
    """A Person cell as a contact is looked up: ``Ada Byron <ada@acme.example>`` by its address."""
    named = csvimport.named_addresses(cell) if "<" in cell else []
    return named[0][1] if len(named) == 1 else cell.strip()
