"""The one builder of the linking engine's input, for capture and for re-linking alike.

"Re-linking decides what capture would" holds because both ask this module: the same own and
colleague addresses, the same settings, the same CRM reads (:class:`CrmSnapshot`). Capture builds
the context of one message; re-linking of a batch of threads, reading the CRM once for all of them.
"""

from __future__ import annotations

from collections.abc import Iterable

from pdmail.core.models import Contact, Organization, User
from pdmail.core.settings import is_on
from pdmail.linking import engine as link
from pdmail.store.company import Company
from pdmail.store.crm_snapshot import CrmSnapshot
from pdmail.store.db import Database


class LinkingInputs:
    """The company's side of every linking decision (addresses, block list, settings), read once."""

    def __init__(self, db: Database, company: Company | None = None) -> None:
        self.db = db
        self.company = company or Company.load(db)
        self._everyone = frozenset(self.company.users_by_address)
        # Per owner, the same set objects for every email: the engine remembers its work by them.
        self._own: dict[User, frozenset[str]] = {}
        self._colleagues: dict[User, frozenset[str]] = {}

    def own_addresses(self, owner: User, email_in: link.LinkInput) -> frozenset[str]:
        """The owner's addresses, the capture address, and any per-deal capture address the message names."""
        own = self._own.get(owner)
        if own is None:
            own = self._own[owner] = self._owner_addresses(owner)
        named = [a.email for a in (*email_in.to, *email_in.cc) if self.company.is_capture_address(a.email)]
        return own.union(named) if named and not own.issuperset(named) else own

    def _owner_addresses(self, owner: User) -> frozenset[str]:
        own = set(owner.addresses)
        if self.company.bcc_address:
            own.add(self.company.bcc_address)
        return frozenset(own)

    def _colleague_addresses(self, owner: User) -> frozenset[str]:
        others = self._colleagues.get(owner)
        if others is None:
            others = self._colleagues[owner] = self._everyone - owner.addresses
        return others

    def base(
        self, owner: User, email_in: link.LinkInput, *, bcc_deal_id: int | None, thread: link.ThreadLinks | None = None
    ) -> link.LinkContext:
        """The context without CRM facts: enough to find the customer addresses to read them for."""
        return link.LinkContext(
            own_addresses=self.own_addresses(owner, email_in),
            colleague_addresses=self._colleague_addresses(owner),
            contacts_by_address={},
            deals_by_contact={},
            deals_by_id={},
            blocked=self.company.blocked,
            auto_link_deals=is_on(self.company.setting(self.db, "auto-link-deals", owner)),
            thread=thread,
            bcc_deal_id=bcc_deal_id,
        )

    def accepts_colleague_links(self, owner: User) -> bool:
        return is_on(self.company.setting(self.db, "accept-colleague-links", owner))

    def read_crm(
        self,
        addresses: Iterable[str],
        *,
        contact_ids: Iterable[int] = (),
        deal_ids: Iterable[int | None] = (),
        org_ids: Iterable[int] = (),
    ) -> CrmSnapshot:
        return CrmSnapshot.read(self.db, addresses, contact_ids=contact_ids, deal_ids=deal_ids, org_ids=org_ids)


def complete(
    base: link.LinkContext,
    crm: CrmSnapshot,
    customers: Iterable[str],
    *,
    manual_contacts: tuple[Contact, ...] | None = None,
    manual_orgs: tuple[Organization, ...] | None = None,
    **more,
) -> link.LinkContext:
    """``base`` with the CRM facts of its customer addresses: the engine's whole input (``more``:
    any other field of the context to set, such as the thread's links)."""
    return base._replace(
        **more,
        contacts_by_address=crm.contacts_of(customers),
        deals_by_contact=crm.deals_by_contact,
        deals_by_id=crm.deals_by_id,
        manual_contacts=manual_contacts,
        orgs_by_domain=crm.orgs_by_domain,
        deals_by_org=crm.deals_by_org,
        manual_orgs=manual_orgs,
    )
