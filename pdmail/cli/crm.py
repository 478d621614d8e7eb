"""`pdmail contact ...`, `pdmail org ...` and `pdmail deal ...`."""

from pathlib import Path
from typing import Annotated

import typer

from pdmail.cli.common import HelpGroup, PageOption, Session, command, safe
from pdmail.cli.common import LimitOption as ListLimitOption
from pdmail.cli.link import emit_rule_change, run_rule_change
from pdmail.cli.rows import Column, Rows

contact_app = typer.Typer(
    cls=HelpGroup, help="People you email: each may have several addresses.", no_args_is_help=True
)
org_app = typer.Typer(cls=HelpGroup, help="Organizations your contacts belong to.", no_args_is_help=True)
deal_app = typer.Typer(cls=HelpGroup, help="Deals: open ones take new email automatically.", no_args_is_help=True)
org_domain_app = typer.Typer(
    cls=HelpGroup,
    help="An organization's email domains: mail from people there who are not contacts yet is linked to it.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(contact_app, name="contact")
    app.add_typer(org_app, name="org")
    org_app.add_typer(org_domain_app, name="domain")
    app.add_typer(deal_app, name="deal")


def _crm():
    from pdmail.store import crm

    return crm


def _names():
    """Contacts, deals and organizations named by id or by name."""
    from pdmail.store import names

    return names


def _changes():
    """Changes to contacts and deals, which link stored email again."""
    from pdmail.crm import changes as crm_changes

    return crm_changes


def display_money(value: str | None, currency: str | None) -> str:
    from pdmail.core.money import display

    return display(value, currency)


def _read_file(path: Path) -> bytes:
    from pdmail.core.errors import UsageError

    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


ContactArgument = Annotated[str, typer.Argument(metavar="CONTACT", help="Contact id, address or name.")]
DealArgument = Annotated[str, typer.Argument(metavar="DEAL", help="Deal id or title.")]


def _org(s: Session, org: str | None) -> int | None:
    return None if org is None else _names().org_id(s.db, org)


DryRunOption = Annotated[
    bool,
    typer.Option("--dry-run", help="Print which of the email you may see would be linked differently; change nothing."),
]


UpdateOption = Annotated[
    bool,
    typer.Option("--update", help="A row whose record is already here changes it: its non-empty cells win."),
]
SkipExistingOption = Annotated[
    bool, typer.Option("--skip-existing", help="A row whose record is already here is left out, the record unchanged.")
]


def _import_mode(update: bool, skip_existing: bool) -> str:
    from pdmail.core.errors import UsageError

    if update and skip_existing:
        raise UsageError("give --update or --skip-existing, not both")
    return "update" if update else "skip" if skip_existing else "add"


def _import_result(s: Session, report, kind: str, relinked) -> None:
    from pdmail.core.errors import EXIT_PARTIAL

    done = [f"Imported {len(report.imported)} {kind}"]
    if report.updated:
        done.append(f"updated {len(report.updated)}")
    if report.skipped:
        done.append(f"left {len(report.skipped)} already here as they were")
    emit_rule_change(
        s,
        relinked,
        report.to_json(),
        ", ".join(done) + ".",
        f"import {len(report.imported)} {kind}",
    )
    for line, reason in report.errors:
        if not s.json:
            import sys

            sys.stderr.write(f"line {line}: {reason}\n")
    if report.errors:
        if not s.json:
            import sys

            sys.stderr.write(f"Error: {len(report.errors)} row(s) were not imported\n")
        raise typer.Exit(EXIT_PARTIAL)


# --- contacts ---------------------------------------------------------------------------------


@command(contact_app, "add", lists=True)
def contact_add(
    s: Session,
    name: Annotated[str, typer.Argument(help="Full name.")],
    email: Annotated[list[str], typer.Option("--email", help="An address of this contact (repeatable).")],
    org: Annotated[str | None, typer.Option("--org", metavar="ORG", help="Organization (id, name or domain).")] = None,
    title: Annotated[str | None, typer.Option("--title", help="Job title.")] = None,
    phone: Annotated[str | None, typer.Option("--phone", help="Phone number.")] = None,
    first_name: Annotated[
        str | None,
        typer.Option(
            "--first-name",
            help="What templates call them ({contact.first_name}); default: read from the name.",
        ),
    ] = None,
    dry_run: DryRunOption = False,
) -> None:
    """Add a contact; earlier email from or to their addresses is linked to them.

    A colleague's email that nobody else sees is only proposed to them (they accept it or not).

    Examples:
        $ pdmail contact add "Ada Byron" --email ada@acme.example --email ada.b@acme.example --org 1
    """
    contact, relinked = run_rule_change(
        s,
        dry_run,
        lambda: _changes().add_contact(
            s.db, name, email, org_id=_org(s, org), title=title, phone=phone, first_name=first_name
        ),
    )
    emit_rule_change(s, relinked, contact.to_json(), f"{contact.id}", f"add contact {contact.name!r}")


@command(contact_app, "add-address", lists=True)
def contact_add_address(
    s: Session,
    contact_ref: ContactArgument,
    address: Annotated[str, typer.Argument(help="The new address.")],
    dry_run: DryRunOption = False,
) -> None:
    """Give a contact another address; earlier email from or to it is linked to them.

    A colleague's email that nobody else sees is only proposed to them (they accept it or not).

    Examples:
        $ pdmail contact add-address 12 ada.byron@acme.example
    """
    contact_id = _names().contact_id(s.db, contact_ref)
    contact, relinked = run_rule_change(s, dry_run, lambda: _changes().add_contact_address(s.db, contact_id, address))
    emit_rule_change(
        s,
        relinked,
        contact.to_json(),
        f"Contact {contact.id}: {', '.join(contact.emails)}",
        f"add {address} to contact {contact.id}",
    )


@command(contact_app, "remove", lists=True)
def contact_remove(
    s: Session,
    contact_ref: ContactArgument,
    dry_run: DryRunOption = False,
) -> None:
    """Remove a contact and their addresses.

    Every email loses its link to them, automatic or chosen by hand (its other links stay), so this
    only narrows who sees mail. Their deals stay, without a contact person, and keep their email.

    Examples:
        $ pdmail contact remove 12 --dry-run
    """
    contact_id = _names().contact_id(s.db, contact_ref)
    (contact, deals), relinked = run_rule_change(s, dry_run, lambda: _changes().remove_contact(s.db, contact_id))
    kept = f"; deals kept without a contact: {', '.join(map(str, deals))}" if deals else ""
    emit_rule_change(
        s,
        relinked,
        {"removed": contact.to_json(), "deals_kept": deals},
        f"Removed contact {contact.id} ({safe(contact.name)}){kept}.",
        f"remove contact {contact.id}",
    )


SearchOption = Annotated[
    str | None,
    typer.Option("--search", metavar="TEXT", help="Only those holding TEXT (see SEARCH).", show_default=False),
]


@command(contact_app, "list", listing=True)
def contact_list(
    s: Session,
    search: Annotated[
        str | None,
        typer.Argument(
            metavar="[SEARCH]",
            help="Only contacts whose name, address or organization holds this text (case aside).",
            show_default=False,
        ),
    ] = None,
    org: Annotated[
        str | None, typer.Option("--org", metavar="ORG", help="Only this organization's contacts (id or name).")
    ] = None,
    search_option: SearchOption = None,
    limit: ListLimitOption = None,
    page: PageOption = None,
) -> None:
    """List contacts, in the order they were added.

    On a terminal 50 at a time (a line says how many more there are); in a pipe every one, under a
    header line.

    Examples:
        $ pdmail contact list
        $ pdmail contact list ada
        $ pdmail contact list --org Acme
        $ pdmail contact list --org 3 --format csv > contacts.csv
        $ pdmail contact list --json > contacts.json
    """
    crm = _crm()
    text = _one_search(search, search_option)
    org_id = None if org is None else _names().org_id(s.db, org)
    paging = s.paging(limit, page)
    if s.json:
        s.emit_json_array(crm.contacts_json(s.db, org_id=org_id, search=text, limit=paging.limit, offset=paging.offset))
        return
    contacts = crm.list_contacts(s.db, org_id=org_id, search=text, limit=paging.limit, offset=paging.offset)
    columns = [
        Column("id", lambda c: c.id, right=True),
        Column("name", lambda c: c.name, prose=True),
        Column("emails", lambda c: ", ".join(c.emails)),
        Column("org", lambda c: c.org_name, title="organization", prose=True),
    ]
    empty = (
        "No contacts found."
        if text or org_id or paging.page > 1
        else "No contacts yet; add one with `pdmail contact add`."
    )
    s.emit_rows(Rows(columns, contacts, empty=empty))
    if paging.limit is not None and len(contacts) == paging.limit:
        s.more(paging, len(contacts), crm.count_contacts(s.db, org_id=org_id, search=text), "contacts")


def _one_search(argument: str | None, option: str | None) -> str | None:
    from pdmail.core.errors import UsageError

    if argument is not None and option is not None and argument != option:
        raise UsageError("give the search once: as an argument or with --search")
    text = argument if argument is not None else option
    return text.strip() or None if text is not None else None


LimitOption = Annotated[int, typer.Option("--limit", help="At most this many emails.")]


def _linked_emails(s: Session, **record):
    from pdmail.store.mailbox import record_emails

    return record_emails(s.db, s.user, **record)


@command(contact_app, "show", lists=True)
def contact_show(
    s: Session,
    contact_ref: ContactArgument,
    limit: LimitOption = 50,
) -> None:
    """Show a contact, their deals and the email linked to them that you may see, newest first.

    Examples:
        $ pdmail contact show 12
        $ pdmail contact show ada@acme.example
    """
    crm = _crm()
    contact_id = _names().contact_id(s.db, contact_ref)
    contact = crm.get_contact(s.db, contact_id)
    deals = crm.list_deals(s.db, contact_id=contact_id)
    page = _linked_emails(s, contact_id=contact_id, limit=limit)
    data = contact.to_json() | {"deals": [d.to_json() for d in deals], "linked_emails": page.emails}

    def view():
        from pdmail.cli.mail import record_emails_view

        lines = [f"[bold]{safe(contact.name)}[/bold]  #{contact.id}", f"Emails: {safe(', '.join(contact.emails))}"]
        if contact.org_name:
            lines.append(f"Organization: {safe(contact.org_name)} (#{contact.org_id})")
        lines += [f"Deal #{d.id}: {safe(d.title)} \\[{d.status}]" for d in deals]
        from rich.text import Text

        return record_emails_view(
            Text.from_markup("\n".join(lines)),
            page.emails,
            page.has_more,
            f"pdmail inbox --team --folder all --contact {contact.id} --limit {limit} --page 2",
            zone=s.zone,
        )

    s.emit(data, view)


@command(contact_app, "import", lists=True)
def contact_import(
    s: Session,
    file: Annotated[Path, typer.Argument(help="A CSV file with a header row.")],
    update: UpdateOption = False,
    skip_existing: SkipExistingOption = False,
    dry_run: DryRunOption = False,
) -> None:
    """Import contacts from a CSV export (columns such as Name, First name, Last name, Email, Organization,
    Title, Phone).

    Several addresses go in one Email cell, separated by commas, plain or as a mail program writes them
    (Ada Byron <ada@acme.example>). A row with an address a contact already has is refused, unless
    --update changes that contact or --skip-existing leaves it. Bad rows are reported by file line
    (the header is line 1) and the good rows are imported; the exit code is 7 when any row failed.

    Examples:
        $ pdmail contact import examples/contacts.csv
        $ pdmail contact import crm-export.csv --update
    """
    mode = _import_mode(update, skip_existing)
    data = _read_file(file)
    report, relinked = run_rule_change(s, dry_run, lambda: _changes().import_contacts(s.db, data, mode))
    _import_result(s, report, "contacts", relinked)


# --- organizations ----------------------------------------------------------------------------


OrgArgument = Annotated[str, typer.Argument(metavar="ORG", help="Organization id, name or domain.")]
DomainArgument = Annotated[str, typer.Argument(metavar="DOMAIN", help="An email domain, e.g. acme.example.")]


def _warn_shared(s: Session, org) -> None:
    """A domain another organization lists too links mail to neither: say so, with what to do."""
    for domain, others in _changes().shared_domains(s.db, org).items():
        who = ", ".join(f"{oid} ({safe(name)})" for oid, name in others)
        s.info(
            f"Warning: {domain} is listed by organization {who} too: mail there is linked to neither "
            f"until one of them drops it (pdmail org domain remove ORG {domain})."
        )


@command(org_app, "add", lists=True)
def org_add(
    s: Session,
    name: Annotated[str, typer.Argument(help="Organization name.")],
    domain: Annotated[
        list[str] | None,
        typer.Option("--domain", help="An email domain of theirs, e.g. acme.example (repeatable)."),
    ] = None,
    dry_run: DryRunOption = False,
) -> None:
    """Add an organization; earlier email from or to people at its domains (and their subdomains)
    who are not contacts is linked to it.

    A free-mail domain (gmail.com, outlook.com...) is refused: anyone may have an address there. A
    colleague's email that nobody else sees is only proposed to them (they accept it or not).

    Examples:
        $ pdmail org add "Acme Corp" --domain acme.example
        $ pdmail org add "Acme Corp" --domain acme.example --domain acme-robotics.example --dry-run
    """
    org, relinked = run_rule_change(s, dry_run, lambda: _changes().add_org(s.db, name, domain or []))
    emit_rule_change(s, relinked, org.to_json(), f"{org.id}", f"add organization {org.name!r}")
    _warn_shared(s, org)


@command(org_domain_app, "add", lists=True)
def org_domain_add(s: Session, org_ref: OrgArgument, domain: DomainArgument, dry_run: DryRunOption = False) -> None:
    """Give an organization another email domain; earlier email at it is linked again.

    Mail from people at the domain or its subdomains who are not contacts is linked to the
    organization, and reaches its deals as a contact's mail reaches theirs. A colleague's email that
    nobody else sees is only proposed to them (they accept it or not).

    Examples:
        $ pdmail org domain add 3 acme-robotics.example
        $ pdmail org domain add "Acme Corp" acme.eu --dry-run
    """
    org_id = _names().org_id(s.db, org_ref)
    (org, added), relinked = run_rule_change(s, dry_run, lambda: _changes().add_org_domain(s.db, org_id, domain))
    if not added and not s.json:
        s.info(f"Organization {org.id} lists {_crm().check_domain(domain)} already.")
    emit_rule_change(
        s, relinked, org.to_json(), f"Organization {org.id}: {', '.join(org.domains)}", f"add {domain} to {org.id}"
    )
    _warn_shared(s, org)


@command(org_domain_app, "remove", lists=True)
def org_domain_remove(s: Session, org_ref: OrgArgument, domain: DomainArgument, dry_run: DryRunOption = False) -> None:
    """Take an email domain from an organization; email linked to it by that domain is linked again.

    Examples:
        $ pdmail org domain remove 3 acme.eu --dry-run
    """
    org_id = _names().org_id(s.db, org_ref)
    org, relinked = run_rule_change(s, dry_run, lambda: _changes().remove_org_domain(s.db, org_id, domain))
    emit_rule_change(
        s,
        relinked,
        org.to_json(),
        f"Organization {org.id}: {', '.join(org.domains) or 'no domain'}",
        f"remove {domain} from {org.id}",
    )


@command(org_app, "list", listing=True)
def org_list(s: Session) -> None:
    """List organizations, with their email domains.

    Examples:
        $ pdmail org list
        $ pdmail org list --json
    """
    orgs = _crm().list_orgs(s.db)
    columns = [
        Column("id", lambda o: o.id, right=True),
        Column("name", lambda o: o.name, prose=True),
        Column("domains", lambda o: ", ".join(o.domains)),
    ]
    s.emit_rows(Rows(columns, orgs, json=[o.to_json() for o in orgs], empty="No organizations yet."))


@command(org_app, "show", lists=True)
def org_show(
    s: Session,
    org_ref: Annotated[str, typer.Argument(metavar="ORG", help="Organization id, name or domain.")],
    limit: LimitOption = 50,
) -> None:
    """Show an organization with its contacts, deals and the email linked to them that you may see.

    Examples:
        $ pdmail org show 3
        $ pdmail org show acme.example
    """
    crm = _crm()
    org_id = _names().org_id(s.db, org_ref)
    org = crm.get_org(s.db, org_id)
    contacts = crm.list_contacts(s.db, org_id=org_id)
    deals = crm.list_deals(s.db, org_id=org_id)
    page = _linked_emails(s, org_id=org_id, limit=limit)
    data = org.to_json() | {
        "contacts": [c.to_json() for c in contacts],
        "deals": [d.to_json() for d in deals],
        "linked_emails": page.emails,
    }

    def view():
        from rich.text import Text

        from pdmail.cli.mail import record_emails_view

        lines = [f"[bold]{safe(org.name)}[/bold]  #{org.id}"]
        if org.domains:
            lines.append(f"Domains: {safe(', '.join(org.domains))}")
        lines += [f"Contact #{c.id}: {safe(c.name)} <{safe(', '.join(c.emails))}>" for c in contacts]
        lines += [f"Deal #{d.id}: {safe(d.title)} \\[{d.status}]" for d in deals]
        return record_emails_view(
            Text.from_markup("\n".join(lines)),
            page.emails,
            page.has_more,
            f"pdmail inbox --team --folder all --org {org.id} --limit {limit} --page 2",
            zone=s.zone,
        )

    s.emit(data, view)


# --- deals ------------------------------------------------------------------------------------


@command(deal_app, "add", lists=True)
def deal_add(
    s: Session,
    title: Annotated[str, typer.Argument(help="Deal title.")],
    contact: Annotated[
        str, typer.Option("--contact", metavar="CONTACT", help="The contact person (id, address or name).")
    ],
    org: Annotated[
        str | None,
        typer.Option("--org", metavar="ORG", help="Organization (id, name or domain; default: the contact's)."),
    ] = None,
    value: Annotated[
        str | None,
        typer.Option(
            "--value",
            help="Deal value, exact: 480000.10 (at most the currency's decimals; 1,234 is ambiguous).",
        ),
    ] = None,
    currency: Annotated[str | None, typer.Option("--currency", help="Currency code, e.g. EUR.")] = None,
    status: Annotated[str, typer.Option("--status", help="open, won or lost.")] = "open",
    dry_run: DryRunOption = False,
) -> None:
    """Add a deal; while open it takes the contact's new email.

    Examples:
        $ pdmail deal add "50 robot arms" --contact 12 --value 120000 --currency EUR
    """
    deal, relinked = run_rule_change(
        s,
        dry_run,
        lambda: _changes().add_deal(
            s.db,
            title,
            contact_id=_names().contact_id(s.db, contact),
            org_id=_org(s, org),
            value=value,
            currency=currency,
            status=status,
        ),
    )
    emit_rule_change(s, relinked, deal.to_json(), f"{deal.id}", f"add deal {deal.title!r}")


@command(deal_app, "list", listing=True)
def deal_list(
    s: Session,
    search: Annotated[
        str | None,
        typer.Argument(
            metavar="[SEARCH]", help="Only deals whose title or contact's name holds this text.", show_default=False
        ),
    ] = None,
    status: Annotated[str | None, typer.Option("--status", help="Only deals with this status.")] = None,
    contact: Annotated[
        str | None,
        typer.Option("--contact", metavar="CONTACT", help="Only this contact's deals (id, address or name)."),
    ] = None,
    org: Annotated[
        str | None, typer.Option("--org", metavar="ORG", help="Only this organization's deals (id or name).")
    ] = None,
    search_option: SearchOption = None,
    limit: ListLimitOption = None,
    page: PageOption = None,
) -> None:
    """List deals, in the order they were added.

    On a terminal 50 at a time (a line says how many more there are); in a pipe every one, under a
    header line.

    Examples:
        $ pdmail deal list --status open
        $ pdmail deal list --search welding
        $ pdmail deal list --contact 12 --json
    """
    crm, names = _crm(), _names()
    text = _one_search(search, search_option)
    contact_id = None if contact is None else names.contact_id(s.db, contact)
    org_id = None if org is None else names.org_id(s.db, org)
    paging = s.paging(limit, page)
    deals = crm.list_deals(
        s.db, status=status, contact_id=contact_id, org_id=org_id, search=text, limit=paging.limit, offset=paging.offset
    )
    columns = [
        Column("id", lambda d: d.id, right=True),
        Column("title", lambda d: d.title, prose=True),
        Column("status", lambda d: d.status),
        Column("value", lambda d: d.value, show=lambda d: display_money(d.value, d.currency), right=True),
        Column("currency", lambda d: d.currency, in_table=False),
        Column("contact_id", lambda d: d.contact_id, in_table=False),
        Column("contact", lambda d: d.contact_name, prose=True),
    ]
    empty = (
        "No deals found."
        if text or status or contact_id or org_id or paging.page > 1
        else "No deals yet; add one with `pdmail deal add`."
    )
    s.emit_rows(Rows(columns, deals, json=[d.to_json() for d in deals], empty=empty))
    if paging.limit is not None and len(deals) == paging.limit:
        total = crm.count_deals(s.db, status=status, contact_id=contact_id, org_id=org_id, search=text)
        s.more(paging, len(deals), total, "deals")


@command(deal_app, "show", lists=True)
def deal_show(
    s: Session,
    deal_ref: DealArgument,
    limit: LimitOption = 50,
) -> None:
    """Show a deal and the email linked to it that you may see, newest first.

    Examples:
        $ pdmail deal show 7
        $ pdmail deal show "40 welding arms"
    """
    deal_id = _names().deal_id(s.db, deal_ref)
    deal = _crm().get_deal(s.db, deal_id)
    page = _linked_emails(s, deal_id=deal_id, limit=limit)

    def view():
        from rich.text import Text

        from pdmail.cli.mail import record_emails_view

        amount = "" if deal.value is None else f"  {display_money(deal.value, deal.currency)}"
        title = Text.from_markup(
            f"[bold]{safe(deal.title)}[/bold]  #{deal.id}  \\[{deal.status}]{safe(amount)}\n"
            f"Contact: {safe(deal.contact_name or '-')}"
        )
        return record_emails_view(
            title,
            page.emails,
            page.has_more,
            f"pdmail inbox --team --folder all --deal {deal.id} --limit {limit} --page 2",
            zone=s.zone,
        )

    s.emit(deal.to_json() | {"linked_emails": page.emails}, view)


@command(deal_app, "import", lists=True)
def deal_import(
    s: Session,
    file: Annotated[Path, typer.Argument(help="A CSV file with a header row.")],
    update: UpdateOption = False,
    skip_existing: SkipExistingOption = False,
    dry_run: DryRunOption = False,
) -> None:
    """Import deals from a CSV export (columns such as Title, Value, Currency, Status, Person, Organization).

    Person is the contact's email address (also as Ada Byron <ada@acme.example>) or a unique name. A row
    whose contact already has a deal of that title is refused, unless --update changes that deal or
    --skip-existing leaves it. Values are exact: 1234.50, 1,234.50, 1.234,50 and EUR 1 234,50 all read
    as 1234.50; a single separator before three digits (1,234) is ambiguous and refuses the row. Bad
    rows are reported by file line and the good rows are imported; the exit code is 7 when any row failed.

    Examples:
        $ pdmail deal import examples/deals.csv
        $ pdmail deal import crm-deals.csv --skip-existing
    """
    mode = _import_mode(update, skip_existing)
    data = _read_file(file)
    report, relinked = run_rule_change(s, dry_run, lambda: _changes().import_deals(s.db, data, mode))
    _import_result(s, report, "deals", relinked)


@command(deal_app, "set-status", lists=True)
def deal_set_status(
    s: Session,
    deal_ref: DealArgument,
    status: Annotated[str, typer.Argument(help="open, won or lost.")],
    dry_run: DryRunOption = False,
) -> None:
    """Mark a deal open, won or lost; only open deals take new email, except mail sent to the deal's own
    capture address (capture+dealN@...), which it takes whatever its status.

    Examples:
        $ pdmail deal set-status 7 won
    """
    deal_id = _names().deal_id(s.db, deal_ref)
    (deal, before), relinked = run_rule_change(s, dry_run, lambda: _changes().set_deal_status(s.db, deal_id, status))
    emit_rule_change(
        s,
        relinked,
        deal.to_json() | {"previous_status": before},
        f"Deal {deal.id}: {before} → {deal.status}",
        f"mark deal {deal.id} {deal.status}",
    )
