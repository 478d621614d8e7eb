"""What capture does with one message, decided from what the store knows about it, without touching it.

Capture is three steps: read the facts (``save.py``), decide here, then write what was decided
(``save.py``). Deciding is pure, so every combination of facts can be tried in a table
(tests/test_capture_decision.py) as the linking engine's rules are. The rules, in order:

1. A message whose content is already stored for its owner is a duplicate; so is a copy of mail
   pdmail sent (recognized by its token, whatever the server rewrote). Nothing else is decided.
2. A stored message with the same Message-ID but other content does not stop it: both are kept,
   with a warning.
3. It joins the thread the store found for it, else starts one. Other threads its Message-IDs name
   are the same conversation, arrived out of order: they are folded into that thread, which keeps its
   visibility and takes the deal of one folded in when it has none (a deal set by hand, or "no deal"
   set by hand, wins over one that was not) — unless the user split any of them by hand: then
   nothing is folded. Its visibility is the one its origin forces, else its thread's, else its
   owner's default.
4. Smart BCC creates a contact for each customer address that has none, when the company turned
   contact creation on, the mail is not private (a contact is seen by every user: private mail must
   not publish its correspondents) and not sent by a machine. An address no contact can have is
   skipped with a warning; the mail never depends on its contacts. A new contact whose address's
   domain identifies an organization (see the linking engine) is created inside it.
5. The linking engine decides its contacts and deal; a message it refuses (every sender blocked,
   nobody else to link) is skipped.
6. A contact that another user's mail created earlier in the same batch, and that this message
   names, links its earlier mail before this message is written: the message must find the links
   that contact proposed in its conversation, exactly as if it had come on its own.

Only a message that is stored writes anything: a duplicate or skipped one folds no threads
together and makes no contact.
"""

from __future__ import annotations

from collections.abc import Mapping

from pdmail.core.addresses import is_valid_address
from pdmail.core.models import Contact, Source, Visibility
from pdmail.core.records import Record
from pdmail.linking import engine as link
from pdmail.linking.context import complete
from pdmail.store.crm_snapshot import NOTHING, CrmSnapshot

NO_CRM = CrmSnapshot(NOTHING, NOTHING, NOTHING, NOTHING)  # the facts before the CRM is read: no contact, no deal
STORED = "stored"
DUPLICATE = "duplicate"
SKIPPED = "skipped"


class ThreadFacts(Record):
    """The thread the store joined the message to."""

    id: int
    visibility: Visibility
    deal_id: int | None
    is_deal_manual: bool

    def links(self) -> link.ThreadLinks | None:
        """The thread's deal for the engine; "no deal, set by hand" is a decision the engine must see too."""
        if self.deal_id is None and not self.is_deal_manual:
            return None
        return link.ThreadLinks(self.deal_id, self.is_deal_manual)


class CaptureFacts(Record):
    """Everything the decision reads; the store's answers, read before anything is written."""

    source: Source
    message_id: str | None
    duplicate_of: int | None = None  # a stored email of the owner with the same content
    sent_copy_of: int | None = None  # the email pdmail stored when it sent this message
    message_id_taken: bool = False  # another stored email of the owner has this Message-ID
    forced_visibility: Visibility | None = None
    default_visibility: Visibility = "shared"
    thread: ThreadFacts | None = None  # the thread the store found for it
    joins: tuple[ThreadFacts, ...] = ()  # other threads its Message-IDs name (arrived out of order)
    split_by_hand: bool = False  # the user split some of these threads apart by hand
    others_new_contacts: frozenset[str] = frozenset()  # rule 6: named, made by other users' mail in the batch
    create_contacts: bool = False  # the company setting
    email_in: link.LinkInput | None = None
    base: link.LinkContext | None = None  # the engine's input without CRM facts and thread
    customers: tuple[str, ...] = ()
    crm: CrmSnapshot = NO_CRM
    refused: Mapping[str, str] = NOTHING  # address -> why the store made no contact

    def with_contacts(self, created: Mapping[str, Contact], refused: Mapping[str, str]) -> CaptureFacts:
        """These facts after the decided contacts were created (or refused by the store)."""
        return self._replace(crm=self.crm.with_new_contacts(created), refused={**self.refused, **refused})


class CaptureDecision(Record):
    status: str  # stored | duplicate | skipped
    existing_id: int | None = None  # the stored email a duplicate is
    reason: str | None = None
    visibility: Visibility | None = None
    contacts_to_create: tuple[str, ...] = ()
    contact_orgs: Mapping[str, int] = NOTHING  # new contact's address -> its organization
    links: link.LinkDecision | None = None
    warnings: tuple[str, ...] = ()
    join_threads: tuple[int, ...] = ()  # threads folded into the thread it joins, before it is written
    link_new_contacts_first: bool = False  # rule 6, before it is written


def duplicate(facts: CaptureFacts) -> CaptureDecision | None:
    """Rule 1 alone: what the store already holds of this message, read before anything else."""
    if facts.duplicate_of is not None:
        return CaptureDecision(DUPLICATE, facts.duplicate_of, "already captured")
    if facts.sent_copy_of is not None:
        return CaptureDecision(DUPLICATE, facts.sent_copy_of, "already captured when pdmail sent it")
    return None


def joined_thread(facts: CaptureFacts) -> tuple[ThreadFacts | None, tuple[int, ...]]:
    """Rule 3: the thread the message goes into once the threads it joins are folded in, and their ids."""
    if facts.thread is None or not facts.joins or facts.split_by_hand:
        return facts.thread, ()
    thread = facts.thread
    for other in facts.joins:
        if (thread.deal_id is None and other.deal_id is not None) or (
            other.is_deal_manual and not thread.is_deal_manual
        ):
            thread = thread._replace(deal_id=other.deal_id, is_deal_manual=other.is_deal_manual)
    return thread, tuple(other.id for other in facts.joins)


def visibility_of(facts: CaptureFacts, thread: ThreadFacts | None = None) -> Visibility:
    """The visibility the origin forces, else that of the thread it joins, else the owner's default."""
    if facts.forced_visibility:
        return facts.forced_visibility
    thread = thread or facts.thread
    return thread.visibility if thread is not None else facts.default_visibility


def may_create_contacts(facts: CaptureFacts, visibility: Visibility) -> bool:
    return (
        facts.source == "bcc"
        and facts.create_contacts
        and visibility != "private"
        and facts.email_in is not None
        and link.is_automated(facts.email_in) is None
    )


def decide(facts: CaptureFacts) -> CaptureDecision:
    """Rules 1 to 6 above. Contacts to create come back first; with them made, the same facts decide the links."""
    found = duplicate(facts)
    if found is not None:
        return found
    warnings: list[str] = []
    if facts.message_id_taken:
        warnings.append(f"another message with Message-ID {facts.message_id} differs in content; both kept")
    thread, joined = joined_thread(facts)
    visibility = visibility_of(facts, thread)
    link_first = not facts.others_new_contacts.isdisjoint(facts.customers)
    to_create: list[str] = []
    if may_create_contacts(facts, visibility):
        for address in facts.customers:
            if address in facts.crm.contacts_by_address:
                continue
            if not is_valid_address(address):
                warnings.append(f"no contact created for {address!r}: not an email address")
            elif address in facts.refused:
                warnings.append(f"no contact created for {address}: {facts.refused[address]}")
            else:
                to_create.append(address)
    if to_create:
        assert facts.base is not None
        ctx = complete(facts.base, facts.crm, facts.customers)
        orgs = {a: org.id for a in to_create for org in (link.identify_org(a, ctx)[0],) if org is not None}
        return CaptureDecision(
            STORED,
            visibility=visibility,
            contacts_to_create=tuple(to_create),
            contact_orgs=orgs,
            warnings=tuple(warnings),
            join_threads=joined,
            link_new_contacts_first=link_first,
        )
    assert facts.base is not None and facts.email_in is not None
    ctx = complete(facts.base, facts.crm, facts.customers, thread=thread.links() if thread is not None else None)
    decision = link.decide_links(facts.email_in, ctx)
    if not decision.capture:
        reason = (decision.trace[-1].reason if decision.trace else None) or "sender is blocked"
        return CaptureDecision(SKIPPED, reason=reason, visibility=visibility, links=decision)
    return CaptureDecision(
        STORED,
        visibility=visibility,
        links=decision,
        warnings=tuple(warnings),
        join_threads=joined,
        link_new_contacts_first=link_first,
    )
