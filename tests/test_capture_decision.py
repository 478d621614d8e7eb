"""The capture decision as a truth table: facts the store read in, what capture does out.

Each row names the facts that differ from an ordinary message (an incoming mail from a customer
with no contact yet, captured by sync into no thread) and what the decision must be. The decision is
pure: no database is needed, and the same facts always give the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from pdmail.capture import decision as rules
from pdmail.core.models import Address, Contact, Deal
from pdmail.linking import engine as link
from pdmail.store.crm_snapshot import CrmSnapshot

pytestmark = pytest.mark.both_engines

ME = "maria@northwind.example"
JANE = "jane@cust.example"
KEN = "ken@cust.example"
BAD = "not an address@"
JANE_C = Contact(7, "Jane Doe", (JANE,), None)
OPEN = Deal(30, "Renewal", "open", 7, None, None, None)
WON = Deal(31, "Pilot", "won", 7, None, None, None)
OPEN2 = Deal(32, "Expansion", "open", 7, None, None, None)


def email_in(*senders: str, headers: dict | None = None) -> link.LinkInput:
    extra = {"list_id": None, "list_unsubscribe": None, "precedence": None, "auto_submitted": None}
    extra.update(headers or {})
    return link.LinkInput(
        direction="incoming",
        from_=tuple(Address("", s) for s in senders),
        to=(Address("", ME),),
        cc=(),
        reply_to=(),
        x_original_from=None,
        **extra,
    )


def base(blocked=frozenset(), auto_link=True) -> link.LinkContext:
    return link.LinkContext(
        own_addresses=frozenset({ME}),
        colleague_addresses=frozenset(),
        contacts_by_address={},
        deals_by_contact={},
        deals_by_id={},
        blocked=frozenset(blocked),
        auto_link_deals=auto_link,
    )


def crm(*contacts: Contact, deals: tuple[Deal, ...] = ()) -> CrmSnapshot:
    by_contact: dict[int, tuple[Deal, ...]] = {}
    for d in deals:
        by_contact[d.contact_id] = (*by_contact.get(d.contact_id, ()), d)
    return CrmSnapshot({a: c for c in contacts for a in c.emails}, {}, by_contact, {d.id: d for d in deals})


def thread(id: int, deal_id: int | None = None, *, manual: bool = False, visibility: str = "shared"):
    return rules.ThreadFacts(id, visibility, deal_id, manual)


ORDINARY = rules.CaptureFacts(
    source="sync",
    message_id="<m1@cust.example>",
    default_visibility="shared",
    create_contacts=True,
    email_in=email_in(JANE),
    base=base(),
    customers=(JANE,),
)


@dataclass(frozen=True)
class Row:
    name: str
    facts: dict
    status: str
    existing_id: int | None = None
    reason: str | None = None
    visibility: str | None = "shared"
    create: tuple[str, ...] = ()
    contacts: tuple[int, ...] = ()
    deal_id: int | None = None
    warnings: tuple[str, ...] = field(default=())
    join: tuple[int, ...] = ()  # threads folded into the one it joins, before it is written
    link_first: bool = False  # other users' new contacts link their earlier mail first


TABLE = [
    Row("ordinary sync mail, no contact", {}, "stored"),
    Row(
        "same content stored: duplicate, nothing else decided",
        {"duplicate_of": 5, "message_id_taken": True},
        "duplicate",
        5,
        "already captured",
        None,
    ),
    Row("copy of mail pdmail sent", {"sent_copy_of": 9}, "duplicate", 9, "already captured when pdmail sent it", None),
    Row(
        "content duplicate wins over sent copy",
        {"duplicate_of": 5, "sent_copy_of": 9},
        "duplicate",
        5,
        "already captured",
        None,
    ),
    Row(
        "same Message-ID, other content: both kept",
        {"message_id_taken": True},
        "stored",
        warnings=("another message with Message-ID <m1@cust.example> differs in content; both kept",),
    ),
    Row(
        "visibility forced by the origin",
        {"forced_visibility": "private", "thread": rules.ThreadFacts(3, "shared", None, False)},
        "stored",
        visibility="private",
    ),
    Row(
        "visibility of the thread it joins",
        {"thread": rules.ThreadFacts(3, "private", None, False)},
        "stored",
        visibility="private",
    ),
    Row("visibility: the owner's default", {"default_visibility": "private"}, "stored", visibility="private"),
    Row("Smart BCC creates the missing contact", {"source": "bcc"}, "stored", create=(JANE,)),
    Row("Smart BCC, contact creation off", {"source": "bcc", "create_contacts": False}, "stored"),
    Row(
        "Smart BCC, private mail publishes no correspondent",
        {"source": "bcc", "default_visibility": "private"},
        "stored",
        visibility="private",
    ),
    Row(
        "Smart BCC, automated mail makes no contact",
        {"source": "bcc", "email_in": email_in(JANE, headers={"auto_submitted": "auto-generated"})},
        "stored",
    ),
    Row(
        "Smart BCC, the contact exists: linked, its one open deal too",
        {"source": "bcc", "crm": crm(JANE_C, deals=(OPEN, WON))},
        "stored",
        contacts=(7,),
        deal_id=30,
    ),
    Row(
        "Smart BCC, an address no contact can have",
        {"source": "bcc", "customers": (BAD,)},
        "stored",
        warnings=(f"no contact created for {BAD!r}: not an email address",),
    ),
    Row(
        "Smart BCC, the store refused a contact",
        {"source": "bcc", "refused": {JANE: "taken by a user"}},
        "stored",
        warnings=(f"no contact created for {JANE}: taken by a user",),
    ),
    Row(
        "Smart BCC, some made, one refused, one invalid",
        {"source": "bcc", "customers": (BAD, JANE, KEN), "refused": {KEN: "refused"}},
        "stored",
        create=(JANE,),
        warnings=(f"no contact created for {BAD!r}: not an email address", f"no contact created for {KEN}: refused"),
    ),
    Row("sync mail never creates contacts", {"source": "sync", "crm": crm(JANE_C)}, "stored", contacts=(7,)),
    Row(
        "thread on a deal: new mail inherits it",
        {"crm": crm(JANE_C, deals=(OPEN, WON)), "thread": rules.ThreadFacts(3, "shared", 31, True)},
        "stored",
        contacts=(7,),
        deal_id=31,
    ),
    Row(
        "auto-link-deals off: contact only",
        {"crm": crm(JANE_C, deals=(OPEN,)), "base": base(auto_link=False)},
        "stored",
        contacts=(7,),
    ),
    Row(
        "every sender blocked, nobody else: skipped",
        {"base": base(blocked={"@cust.example"}), "customers": ()},
        "skipped",
        visibility="shared",
        reason=f"Every sender is blocked ({JANE}) and no other participant outside the team is unblocked: "
        "new mail like it is skipped at capture; an email already stored stays stored, linked to no contact.",
    ),
    # Rule 3: threads its Message-IDs name, arrived out of order, are folded into the one it joins.
    Row(
        "two threads it names: folded into the first, whose visibility stays",
        {"thread": thread(3), "joins": (thread(4, visibility="private"),)},
        "stored",
        join=(4,),
    ),
    Row(
        "a thread without a deal takes the deal of one folded in",
        {"crm": crm(JANE_C, deals=(OPEN, OPEN2)), "thread": thread(3), "joins": (thread(4, 32),)},
        "stored",
        contacts=(7,),
        deal_id=32,
        join=(4,),
    ),
    Row(
        "a thread's own deal stays over another automatic one",
        {"crm": crm(JANE_C, deals=(OPEN, OPEN2)), "thread": thread(3, 30), "joins": (thread(4, 32),)},
        "stored",
        contacts=(7,),
        deal_id=30,
        join=(4,),
    ),
    Row(
        "a deal set by hand wins over the thread's automatic one",
        {"crm": crm(JANE_C, deals=(OPEN, WON)), "thread": thread(3, 30), "joins": (thread(4, 31, manual=True),)},
        "stored",
        contacts=(7,),
        deal_id=31,
        join=(4,),
    ),
    Row(
        '"no deal" set by hand wins too',
        {"crm": crm(JANE_C, deals=(OPEN,)), "thread": thread(3, 30), "joins": (thread(4, None, manual=True),)},
        "stored",
        contacts=(7,),
        join=(4,),
    ),
    Row(
        "several folded in, in order: the first with a deal gives it",
        {
            "crm": crm(JANE_C, deals=(OPEN, OPEN2)),
            "thread": thread(3),
            "joins": (thread(4), thread(5, 32), thread(6, 30)),
        },
        "stored",
        contacts=(7,),
        deal_id=32,
        join=(4, 5, 6),
    ),
    Row(
        "threads the user split by hand are not folded together",
        {
            "crm": crm(JANE_C, deals=(OPEN, WON)),
            "thread": thread(3),
            "joins": (thread(4, 31, manual=True),),
            "split_by_hand": True,
        },
        "stored",
        contacts=(7,),
        deal_id=30,
    ),
    Row(
        "a duplicate folds nothing together",
        {"duplicate_of": 5, "thread": thread(3), "joins": (thread(4),)},
        "duplicate",
        5,
        "already captured",
        None,
    ),
    Row(
        "a skipped message folds nothing together",
        {"base": base(blocked={"@cust.example"}), "customers": (), "thread": thread(3), "joins": (thread(4),)},
        "skipped",
        reason=f"Every sender is blocked ({JANE}) and no other participant outside the team is unblocked: "
        "new mail like it is skipped at capture; an email already stored stays stored, linked to no contact.",
    ),
    Row(
        "Smart BCC: folded before the contacts it makes",
        {"source": "bcc", "thread": thread(3), "joins": (thread(4),)},
        "stored",
        create=(JANE,),
        join=(4,),
    ),
    # Rule 6: another user's new contacts that it names link their earlier mail first.
    Row(
        "names a contact another user's mail just made: its earlier mail is linked first",
        {"crm": crm(JANE_C), "others_new_contacts": frozenset({JANE})},
        "stored",
        contacts=(7,),
        link_first=True,
    ),
    Row(
        "names none of them: nothing first",
        {"crm": crm(JANE_C), "others_new_contacts": frozenset({KEN})},
        "stored",
        contacts=(7,),
    ),
    Row(
        "skipped: nothing first",
        {"base": base(blocked={"@cust.example"}), "others_new_contacts": frozenset({JANE})},
        "skipped",
        reason=f"Every sender is blocked ({JANE}) and no other participant outside the team is unblocked: "
        "new mail like it is skipped at capture; an email already stored stays stored, linked to no contact.",
    ),
]


@pytest.mark.parametrize("row", TABLE, ids=[r.name for r in TABLE])
def test_capture_decision_table(row: Row):
    decided = rules.decide(ORDINARY._replace(**row.facts))

    assert decided.status == row.status
    assert decided.existing_id == row.existing_id
    assert decided.visibility == row.visibility
    assert decided.contacts_to_create == row.create
    assert decided.warnings == row.warnings
    assert decided.join_threads == row.join
    assert decided.link_new_contacts_first == row.link_first
    if row.reason is not None or row.status == "duplicate":
        assert decided.reason == row.reason
    if row.status == "stored" and not row.create:
        assert tuple(c.contact_id for c in decided.links.contacts) == row.contacts
        assert decided.links.deal_id == row.deal_id
    if row.status == "duplicate":
        assert decided.links is None


def test_contacts_once_made_decide_the_links():
    """The second decision, with the contacts made, links them and asks for no more."""
    facts = ORDINARY._replace(source="bcc", email_in=email_in(JANE, KEN), customers=(JANE, KEN))
    first = rules.decide(facts)
    assert first.contacts_to_create == (JANE, KEN)

    made = {JANE: Contact(11, JANE, (JANE,), None), KEN: Contact(12, KEN, (KEN,), None)}
    second = rules.decide(facts.with_contacts(made, {}))

    assert second.contacts_to_create == ()
    assert [c.contact_id for c in second.links.contacts] == [11, 12]
    assert second.links.deal_id is None  # a new contact has no deal yet


def test_decision_is_pure():
    facts = ORDINARY._replace(source="bcc", crm=crm(JANE_C, deals=(OPEN,)))
    assert rules.decide(facts) == rules.decide(facts)


def test_a_new_contact_at_an_organizations_domain_is_made_inside_it_and_reaches_its_deal():
    """Decision rule 4: the organization the address's domain identifies; a free-mail address gets none."""
    from pdmail.core.models import Organization

    cust = Organization(5, "Cust", ("cust.example",))
    fleet = Deal(40, "Fleet", "open", None, 5, None, None)
    snapshot = CrmSnapshot({}, {}, {}, {40: fleet}, {"cust.example": (cust,)}, {5: cust}, {5: (fleet,)})
    gmail = "ann@gmail.com"
    facts = ORDINARY._replace(source="bcc", email_in=email_in(JANE, gmail), customers=(gmail, JANE), crm=snapshot)
    first = rules.decide(facts)
    assert first.contacts_to_create == (gmail, JANE)
    assert dict(first.contact_orgs) == {JANE: 5}

    made = {JANE: Contact(11, JANE, (JANE,), 5), gmail: Contact(12, gmail, (gmail,), None)}
    second = rules.decide(facts.with_contacts(made, {}))
    assert [o.org_id for o in second.links.orgs] == [5]
    assert second.links.deal_id == 40  # the new contact has no deal: the organization's one open deal counts
