"""Linking rules of docs/spec.md ("Linking") as a truth table: one row per rule and edge case."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pdmail.core.models import Address, Contact, Deal, Organization, ParsedEmail
from pdmail.linking.engine import (
    LinkContext,
    LinkInput,
    ThreadLinks,
    customer_addresses,
    decide_links,
    is_automated,
)

pytestmark = pytest.mark.both_engines

ME = "me@acme.example"
ME_ALT = "me.private@acme-mail.example"
BOB = "bob@acme.example"  # a colleague
CAPTURE = "acme@bcc.example"

CONTACTS = [
    Contact(1, "Jane Doe", ("jane@cust.example",), org_id=100),
    Contact(2, "Ken Ito", ("ken@cust.example",), org_id=100),
    Contact(3, "Lea Roth", ("lea@other.example",)),
    Contact(4, "Max Berg", ("max@other.example",)),
    Contact(5, "Nia News", ("nia@news.example",)),
    Contact(6, "Omar Haddad", ("omar@cust.example", "omar.h@cust.example")),
    Contact(7, "Pia Lund", ("pia@cust.example",)),
    Contact(8, "Kai Vos", ("kai@cust.example",), org_id=100),
    Contact(9, "Ria Sol", ("ria@org2.example",), org_id=200),
    Contact(10, "Sam Sol", ("sam@org2.example",), org_id=200),
    Contact(11, "Billing", ("noreply@billing.example",)),
]
DEALS = [
    Deal(10, "Jane rollout", "open", contact_id=1),
    Deal(20, "Ken pilot", "open", contact_id=2),
    Deal(30, "Lea first order", "won", contact_id=3),
    Deal(31, "Lea second order", "open", contact_id=3),
    Deal(50, "Nia renewal", "open", contact_id=5),
    Deal(60, "Omar east", "open", contact_id=6),
    Deal(61, "Omar west", "open", contact_id=6),
    Deal(70, "Pia lost cause", "lost", contact_id=7),
    Deal(71, "Pia removed", "deleted", contact_id=7),
    Deal(90, "Org2 platform", "open", org_id=200),
    Deal(110, "Billing upgrade", "open", contact_id=11),
]
DEALS_BY_ID = {d.id: d for d in DEALS}
DEALS_BY_CONTACT = {
    1: (DEALS_BY_ID[10],),
    2: (DEALS_BY_ID[20],),
    3: (DEALS_BY_ID[30], DEALS_BY_ID[31]),
    5: (DEALS_BY_ID[50],),
    6: (DEALS_BY_ID[60], DEALS_BY_ID[61]),
    7: (DEALS_BY_ID[70], DEALS_BY_ID[71]),
    9: (DEALS_BY_ID[90],),  # an organization's deal reaches both of its contacts
    10: (DEALS_BY_ID[90],),
    11: (DEALS_BY_ID[110],),
}
CONTACTS_BY_ADDRESS = {email: c for c in CONTACTS for email in c.emails}


def ctx(**changes) -> LinkContext:
    base = LinkContext(
        own_addresses=frozenset({ME, ME_ALT}),
        colleague_addresses=frozenset({BOB}),
        contacts_by_address=CONTACTS_BY_ADDRESS,
        deals_by_contact=DEALS_BY_CONTACT,
        deals_by_id=DEALS_BY_ID,
        blocked=frozenset({"@blocked.example", "spam@junk.example"}),
    )
    return base._replace(**changes)


# Organizations by their domains. Globex has two domains and one open deal of its own; Globex Labs a
# subdomain of Globex's; Initech's domain is claimed twice; Umbrella has two open deals; one
# organization claims a free-mail domain (as an older pdmail let it) and one the team's own acme.example.
GLOBEX = Organization(400, "Globex", ("globex.example", "globex-eu.example"))
LABS = Organization(410, "Globex Labs", ("labs.globex.example",))
INITECH = Organization(500, "Initech", ("initech.example",))
INITECH_TOO = Organization(501, "Initech Spinoff", ("initech.example",))
UMBRELLA = Organization(600, "Umbrella", ("umbrella.example",))
MAILERS = Organization(700, "Gmail fans", ("gmail.com",))
OURSELVES = Organization(800, "Acme itself", ("acme.example",))
ORGS = (GLOBEX, LABS, INITECH, INITECH_TOO, UMBRELLA, MAILERS, OURSELVES)
ORG_DEALS = {
    400: (Deal(91, "Globex fleet", "open", org_id=400), Deal(96, "Globex pilot", "won", org_id=400)),
    600: (Deal(92, "Umbrella east", "open", org_id=600), Deal(93, "Umbrella west", "open", org_id=600)),
}
ORG_CONTACTS = [
    Contact(12, "Gus Globex", ("gus@globex.example",), org_id=400),  # has a deal of his own
    Contact(13, "Hal Globex", ("hal@globex.example",)),  # in no organization, no deal
    Contact(14, "Ivy Elsewhere", ("ivy@globex.example",), org_id=999),  # moved to another organization
]
GUS_DEAL = Deal(95, "Gus's own order", "open", contact_id=12, org_id=400)


def octx(**changes) -> LinkContext:
    """The truth table's context, with organizations claiming domains."""
    by_domain: dict[str, tuple[Organization, ...]] = {}
    for org in ORGS:
        for domain in org.domains:
            by_domain[domain] = (*by_domain.get(domain, ()), org)
    deals = {**DEALS_BY_ID, **{d.id: d for group in ORG_DEALS.values() for d in group}, GUS_DEAL.id: GUS_DEAL}
    base = ctx(
        contacts_by_address={**CONTACTS_BY_ADDRESS, **{e: c for c in ORG_CONTACTS for e in c.emails}},
        deals_by_contact={**DEALS_BY_CONTACT, 12: (GUS_DEAL,)},
        deals_by_id=deals,
        orgs_by_domain=by_domain,
        deals_by_org=ORG_DEALS,
    )
    return base._replace(**changes)


def a(email: str, name: str = "") -> Address:
    return Address(name, email)


def mail(
    direction: str,
    frm: list[str | Address],
    to: list[str] = (),
    cc: list[str] = (),
    reply_to: list[str] = (),
    x_original_from: str | None = None,
    **headers,
) -> LinkInput:
    def addrs(items):
        return tuple(i if isinstance(i, Address) else a(i) for i in items)

    return LinkInput(
        direction=direction,
        from_=addrs(frm),
        to=addrs(to),
        cc=addrs(cc),
        reply_to=addrs(reply_to),
        x_original_from=a(x_original_from) if x_original_from else None,
        list_id=headers.get("list_id"),
        list_unsubscribe=headers.get("list_unsubscribe"),
        precedence=headers.get("precedence"),
        auto_submitted=headers.get("auto_submitted"),
    )


def incoming(frm, to=(ME,), **kw) -> LinkInput:
    return mail("incoming", list(frm) if isinstance(frm, (list, tuple)) else [frm], list(to), **kw)


def outgoing(to, cc=(), **kw) -> LinkInput:
    return mail("outgoing", [ME], list(to), list(cc), **kw)


@dataclass
class Row:
    name: str
    email: LinkInput
    context: LinkContext
    customers: tuple[str, ...] = ()
    contacts: tuple[int, ...] = ()
    deal: int | None = None
    deal_rule: str | None = None
    needs_deal: bool = False
    candidates: tuple[int, ...] = ()
    capture: bool = True
    verdict: str | None = None
    rules: tuple[str, ...] = field(default=())
    orgs: tuple[int, ...] = ()


TABLE = [
    # --- contacts and deals -------------------------------------------------------------
    Row(
        "incoming from a contact with one open deal",
        incoming("jane@cust.example"),
        ctx(),
        ("jane@cust.example",),
        (1,),
        10,
        "deal-single-open",
        rules=("customer-side", "contact-match", "deal-single-open"),
    ),
    Row(
        "two contacts each with one open deal need a deal",
        outgoing(["jane@cust.example"], ["ken@cust.example"]),
        ctx(),
        ("jane@cust.example", "ken@cust.example"),
        (1, 2),
        needs_deal=True,
        candidates=(10, 20),
        rules=("customer-side", "contact-match", "contact-match", "deal-several-open"),
    ),
    Row(
        "one contact with a won and an open deal takes the open one",
        incoming("lea@other.example"),
        ctx(),
        ("lea@other.example",),
        (3,),
        31,
        "deal-single-open",
        rules=("customer-side", "contact-match", "deal-single-open"),
    ),
    Row(
        "one contact with two open deals needs a deal",
        incoming("omar@cust.example"),
        ctx(),
        ("omar@cust.example",),
        (6,),
        needs_deal=True,
        candidates=(60, 61),
        rules=("customer-side", "contact-match", "deal-several-open"),
    ),
    Row(
        "lost and deleted deals take no new mail",
        incoming("pia@cust.example"),
        ctx(),
        ("pia@cust.example",),
        (7,),
        rules=("customer-side", "contact-match", "deal-none-open"),
    ),
    Row(
        "contact without deals gets contact link only",
        incoming("max@other.example"),
        ctx(),
        ("max@other.example",),
        (4,),
        rules=("customer-side", "contact-match", "deal-none-open"),
    ),
    Row(
        "outgoing to two contacts of the same org, one with the open deal",
        outgoing(["jane@cust.example", "kai@cust.example"]),
        ctx(),
        ("jane@cust.example", "kai@cust.example"),
        (1, 8),
        10,
        "deal-single-open",
        rules=("customer-side", "contact-match", "contact-match", "deal-single-open"),
    ),
    Row(
        "outgoing to two contacts sharing one org deal is not ambiguous",
        outgoing(["ria@org2.example", "sam@org2.example"]),
        ctx(),
        ("ria@org2.example", "sam@org2.example"),
        (9, 10),
        90,
        "deal-single-open",
        rules=("customer-side", "contact-match", "contact-match", "deal-single-open"),
    ),
    Row(
        "two addresses of one contact make one contact link",
        outgoing(["omar@cust.example", "omar.h@cust.example"]),
        ctx(bcc_deal_id=None),
        ("omar.h@cust.example", "omar@cust.example"),
        (6,),
        needs_deal=True,
        candidates=(60, 61),
        rules=("customer-side", "contact-match", "deal-several-open"),
    ),
    Row(
        "unknown customer: no links, address still reported",
        incoming("stranger@new.example"),
        ctx(),
        ("stranger@new.example",),
        rules=("customer-side", "no-contact", "deal-none-open"),
    ),
    Row(
        "case-different addresses match",
        mail("incoming", ["JANE@Cust.Example"], ["Me@ACME.example"]),
        ctx(),
        ("jane@cust.example",),
        (1,),
        10,
        "deal-single-open",
        rules=("customer-side", "contact-match", "deal-single-open"),
    ),
    Row(
        "incoming: a customer in Cc is not on the customer side",
        incoming("jane@cust.example", cc=["ken@cust.example"]),
        ctx(),
        ("jane@cust.example",),
        (1,),
        10,
        "deal-single-open",
        rules=("customer-side", "contact-match", "deal-single-open"),
    ),
    Row(
        "incoming without a From header: nothing to link",
        mail("incoming", [], [ME], ["jane@cust.example"]),
        ctx(),
        rules=("customer-side", "deal-none-open"),
    ),
    Row(
        "empty addresses (undisclosed recipients) are dropped",
        outgoing(["", "jane@cust.example"]),
        ctx(),
        ("jane@cust.example",),
        (1,),
        10,
        "deal-single-open",
        rules=("customer-side", "contact-match", "deal-single-open"),
    ),
    # --- colleagues and internal mail --------------------------------------------------------
    Row(
        "colleague in Cc is not a customer",
        incoming("jane@cust.example", cc=[BOB]),
        ctx(),
        ("jane@cust.example",),
        (1,),
        10,
        "deal-single-open",
        rules=("customer-side", "contact-match", "deal-single-open"),
    ),
    Row(
        "outgoing with a colleague in Cc",
        outgoing(["jane@cust.example"], [BOB]),
        ctx(),
        ("jane@cust.example",),
        (1,),
        10,
        "deal-single-open",
        rules=("customer-side", "contact-match", "deal-single-open"),
    ),
    Row("internal-only incoming", incoming(BOB), ctx(), verdict="internal", rules=("customer-side", "internal-only")),
    Row(
        "internal-only outgoing",
        outgoing([BOB], [ME_ALT]),
        ctx(),
        verdict="internal",
        rules=("customer-side", "internal-only"),
    ),
    Row(
        "internal mail does not inherit its thread's deal",
        incoming(BOB),
        ctx(thread=ThreadLinks(10, False)),
        verdict="internal",
        rules=("customer-side", "internal-only"),
    ),
    Row(
        "note to self is neither linked nor internal",
        outgoing([ME_ALT]),
        ctx(),
        rules=("customer-side", "deal-none-open"),
    ),
    Row(
        "colleague writing to the owner with a customer in Cc links the customer",
        incoming(BOB, cc=["jane@cust.example"]),
        ctx(),
        ("jane@cust.example",),
        (1,),
        10,
        "deal-single-open",
        rules=("customer-side", "contact-match", "deal-single-open"),
    ),
    # --- blocked -------------------------------------------------------------------------------
    Row(
        "blocked sender with an unblocked customer in Cc is captured through it",
        incoming("x@blocked.example", cc=["jane@cust.example"]),
        ctx(),
        ("jane@cust.example",),
        (1,),
        10,
        "deal-single-open",
        rules=("customer-side", "blocked-sender", "contact-match", "deal-single-open"),
    ),
    Row(
        "only sender blocked: not captured",
        incoming("spam@junk.example"),
        ctx(),
        capture=False,
        verdict="blocked",
        rules=("customer-side", "blocked-sender"),
    ),
    Row(
        "@domain block covers a subdomain",
        incoming("ann@mail.eu.blocked.example"),
        ctx(),
        capture=False,
        verdict="blocked",
        rules=("customer-side", "blocked-sender"),
    ),
    Row(
        "@domain block does not cover a look-alike domain",
        incoming("ann@notblocked.example"),
        ctx(),
        ("ann@notblocked.example",),
        rules=("customer-side", "no-contact", "deal-none-open"),
    ),
    Row(
        "blocked sender with only colleagues besides: not captured",
        incoming("x@blocked.example", cc=[BOB]),
        ctx(),
        capture=False,
        verdict="blocked",
        rules=("customer-side", "blocked-sender"),
    ),
    Row(
        "blocked contact address is never a customer",
        incoming("jane@cust.example"),
        ctx(blocked=frozenset({"jane@cust.example"})),
        capture=False,
        verdict="blocked",
        rules=("customer-side", "blocked-sender"),
    ),
    Row(
        "outgoing to a blocked address and a contact links the contact",
        outgoing(["x@blocked.example", "jane@cust.example"]),
        ctx(),
        ("jane@cust.example",),
        (1,),
        10,
        "deal-single-open",
        rules=("customer-side", "contact-match", "deal-single-open"),
    ),
    Row(
        "block list entries written in upper case still apply",
        incoming("spam@junk.example"),
        ctx(blocked=frozenset({"SPAM@Junk.Example"})),
        capture=False,
        verdict="blocked",
        rules=("customer-side", "blocked-sender"),
    ),
    # --- automated mail ------------------------------------------------------------------------
    Row(
        "newsletter from a contact with one open deal: contact only",
        incoming("nia@news.example", list_unsubscribe="<mailto:unsub@news.example>"),
        ctx(),
        ("nia@news.example",),
        (5,),
        verdict="automated",
        rules=("customer-side", "contact-match", "automated"),
    ),
    Row(
        "List-Id is automated",
        incoming("nia@news.example", list_id="<news.lists.example>"),
        ctx(),
        ("nia@news.example",),
        (5,),
        verdict="automated",
        rules=("customer-side", "contact-match", "automated"),
    ),
    Row(
        "Precedence bulk is automated",
        incoming("nia@news.example", precedence="Bulk"),
        ctx(),
        ("nia@news.example",),
        (5,),
        verdict="automated",
        rules=("customer-side", "contact-match", "automated"),
    ),
    Row(
        "Auto-Submitted auto-replied is automated",
        incoming("jane@cust.example", auto_submitted="auto-replied"),
        ctx(),
        ("jane@cust.example",),
        (1,),
        verdict="automated",
        rules=("customer-side", "contact-match", "automated"),
    ),
    Row(
        "Auto-Submitted no is not automated",
        incoming("jane@cust.example", auto_submitted="No"),
        ctx(),
        ("jane@cust.example",),
        (1,),
        10,
        "deal-single-open",
        rules=("customer-side", "contact-match", "deal-single-open"),
    ),
    Row(
        "Precedence first-class is not automated",
        incoming("jane@cust.example", precedence="first-class"),
        ctx(),
        ("jane@cust.example",),
        (1,),
        10,
        "deal-single-open",
        rules=("customer-side", "contact-match", "deal-single-open"),
    ),
    Row(
        "no-reply sender that is a contact: contact only",
        incoming("noreply@billing.example"),
        ctx(),
        ("noreply@billing.example",),
        (11,),
        verdict="automated",
        rules=("customer-side", "contact-match", "automated"),
    ),
    Row(
        "automated mail in a deal thread inherits the thread's deal",
        incoming(
            "nia@news.example",
            list_id="news",
        ),
        ctx(thread=ThreadLinks(50, False)),
        ("nia@news.example",),
        (5,),
        50,
        "thread-deal",
        verdict="automated",
        rules=("customer-side", "contact-match", "automated", "thread-deal"),
    ),
    # --- threads -------------------------------------------------------------------------------
    Row(
        "reply in a deal thread while the contact now has two open deals",
        incoming("omar@cust.example"),
        ctx(thread=ThreadLinks(60, False)),
        ("omar@cust.example",),
        (6,),
        60,
        "thread-deal",
        rules=("customer-side", "contact-match", "thread-deal"),
    ),
    Row(
        "thread deal linked by hand is inherited",
        incoming("jane@cust.example"),
        ctx(thread=ThreadLinks(20, True)),
        ("jane@cust.example",),
        (1,),
        20,
        "thread-deal-manual",
        rules=("customer-side", "contact-match", "thread-deal-manual"),
    ),
    Row(
        "thread deal linked by hand to a won deal is still inherited",
        incoming("lea@other.example"),
        ctx(thread=ThreadLinks(30, True)),
        ("lea@other.example",),
        (3,),
        30,
        "thread-deal-manual",
        rules=("customer-side", "contact-match", "thread-deal-manual"),
    ),
    Row(
        "thread deal linked automatically and since won: no deal, no guess",
        incoming("lea@other.example"),
        ctx(thread=ThreadLinks(30, False)),
        ("lea@other.example",),
        (3,),
        rules=("customer-side", "contact-match", "thread-deal-closed"),
    ),
    Row(
        "thread deal linked by hand and since deleted: no deal",
        incoming("pia@cust.example"),
        ctx(thread=ThreadLinks(71, True)),
        ("pia@cust.example",),
        (7,),
        rules=("customer-side", "contact-match", "thread-deal-closed"),
    ),
    Row(
        "thread deal that no longer exists: normal pooling",
        incoming("jane@cust.example"),
        ctx(thread=ThreadLinks(999, False)),
        ("jane@cust.example",),
        (1,),
        10,
        "deal-single-open",
        rules=("customer-side", "contact-match", "thread-deal-missing", "deal-single-open"),
    ),
    Row(
        "thread without a deal: normal pooling",
        incoming("jane@cust.example"),
        ctx(thread=ThreadLinks(None, False)),
        ("jane@cust.example",),
        (1,),
        10,
        "deal-single-open",
        rules=("customer-side", "contact-match", "deal-single-open"),
    ),
    Row(
        "thread set to no deal by hand stays without a deal",
        incoming("jane@cust.example"),
        ctx(thread=ThreadLinks(None, True)),
        ("jane@cust.example",),
        (1,),
        deal_rule="thread-no-deal-manual",
        rules=("customer-side", "contact-match", "thread-no-deal-manual"),
    ),
    Row(
        "thread set to no deal by hand: no choice is asked either",
        incoming("omar@cust.example"),
        ctx(thread=ThreadLinks(None, True)),
        ("omar@cust.example",),
        (6,),
        deal_rule="thread-no-deal-manual",
        rules=("customer-side", "contact-match", "thread-no-deal-manual"),
    ),
    Row(
        "thread deal linked by hand holds with auto-link-deals off",
        incoming("jane@cust.example"),
        ctx(thread=ThreadLinks(20, True), auto_link_deals=False),
        ("jane@cust.example",),
        (1,),
        20,
        "thread-deal-manual",
        rules=("customer-side", "contact-match", "thread-deal-manual"),
    ),
    Row(
        "re-linking: a won deal keeps the mail it already holds",
        incoming("lea@other.example"),
        ctx(thread=ThreadLinks(30, False), held_deal_id=30),
        ("lea@other.example",),
        (3,),
        30,
        "deal-kept-closed",
        rules=("customer-side", "contact-match", "deal-kept-closed"),
    ),
    Row(
        "re-linking: a won deal takes no mail it did not hold",
        incoming("lea@other.example"),
        ctx(thread=ThreadLinks(30, False), held_deal_id=None),
        ("lea@other.example",),
        (3,),
        rules=("customer-side", "contact-match", "thread-deal-closed"),
    ),
    Row(
        "re-linking: a deleted deal keeps nothing",
        incoming("pia@cust.example"),
        ctx(thread=ThreadLinks(71, False), held_deal_id=71),
        ("pia@cust.example",),
        (7,),
        rules=("customer-side", "contact-match", "thread-deal-closed"),
    ),
    Row(
        "contacts chosen by hand replace matching by address",
        incoming("jane@cust.example"),
        ctx(manual_contacts=(CONTACTS[1],)),
        ("jane@cust.example",),
        (2,),
        20,
        "deal-single-open",
        rules=("customer-side", "contact-manual", "deal-single-open"),
    ),
    Row(
        "every contact removed by hand: no contact, no deal",
        incoming("jane@cust.example"),
        ctx(manual_contacts=()),
        ("jane@cust.example",),
        (),
        rules=("customer-side", "contact-manual", "deal-none-open"),
    ),
    # --- per-deal capture address and the auto-link-deals setting -------------------------------
    Row(
        "per-deal BCC address for a won deal files it there",
        outgoing(["omar@cust.example"]),
        ctx(bcc_deal_id=30),
        ("omar@cust.example",),
        (6,),
        30,
        "bcc-deal-address",
        rules=("customer-side", "contact-match", "bcc-deal-address"),
    ),
    Row(
        "per-deal BCC address beats the thread's deal",
        outgoing(["jane@cust.example"]),
        ctx(bcc_deal_id=20, thread=ThreadLinks(10, True)),
        ("jane@cust.example",),
        (1,),
        20,
        "bcc-deal-address",
        rules=("customer-side", "contact-match", "bcc-deal-address"),
    ),
    Row(
        "per-deal BCC address when auto-link-deals is off",
        outgoing(["jane@cust.example"]),
        ctx(bcc_deal_id=20, auto_link_deals=False),
        ("jane@cust.example",),
        (1,),
        20,
        "bcc-deal-address",
        rules=("customer-side", "contact-match", "bcc-deal-address"),
    ),
    Row(
        "per-deal BCC address on automated mail",
        incoming("nia@news.example", list_id="news"),
        ctx(bcc_deal_id=50),
        ("nia@news.example",),
        (5,),
        50,
        "bcc-deal-address",
        verdict="automated",
        rules=("customer-side", "contact-match", "automated", "bcc-deal-address"),
    ),
    Row(
        "per-deal BCC address on internal mail",
        outgoing([BOB]),
        ctx(bcc_deal_id=10),
        deal=10,
        deal_rule="bcc-deal-address",
        verdict="internal",
        rules=("customer-side", "internal-only", "bcc-deal-address"),
    ),
    Row(
        "per-deal BCC address keeps mail from a blocked sender",
        incoming("spam@junk.example"),
        ctx(bcc_deal_id=10),
        deal=10,
        deal_rule="bcc-deal-address",
        verdict="blocked",
        rules=("customer-side", "blocked-sender", "bcc-deal-address"),
    ),
    Row(
        "per-deal BCC address naming no deal: normal linking",
        incoming("jane@cust.example"),
        ctx(bcc_deal_id=404),
        customers=("jane@cust.example",),
        contacts=(1,),
        deal=10,
        deal_rule="deal-single-open",
        rules=("customer-side", "contact-match", "bcc-deal-unknown", "deal-single-open"),
    ),
    Row(
        "auto-link-deals off: contacts only",
        incoming("jane@cust.example"),
        ctx(auto_link_deals=False),
        ("jane@cust.example",),
        (1,),
        rules=("customer-side", "contact-match", "auto-link-deals-off"),
    ),
    Row(
        "auto-link-deals off: no deal needed either",
        incoming("omar@cust.example"),
        ctx(auto_link_deals=False),
        ("omar@cust.example",),
        (6,),
        rules=("customer-side", "contact-match", "auto-link-deals-off"),
    ),
    Row(
        "auto-link-deals off: the thread's deal is not inherited",
        incoming("jane@cust.example"),
        ctx(auto_link_deals=False, thread=ThreadLinks(10, False)),
        ("jane@cust.example",),
        (1,),
        rules=("customer-side", "contact-match", "auto-link-deals-off"),
    ),
    # --- mailing lists that rewrote From for DMARC ----------------------------------------------
    Row(
        "DMARC-rewritten From tied to the X-Original-From person",
        mail(
            "incoming",
            [a("list@lists.example", "Jane Doe via Sales List")],
            [ME],
            reply_to=["list@lists.example"],
            x_original_from="Jane@Cust.example",
        ),
        ctx(),
        ("jane@cust.example",),
        (1,),
        10,
        "deal-single-open",
        rules=("list-rewritten-from", "customer-side", "contact-match", "deal-single-open"),
    ),
    Row(
        "DMARC-rewritten From tied to the Reply-To person",
        mail("incoming", [a("group@groups.example", "'Jane' via group")], [ME], reply_to=["jane@cust.example"]),
        ctx(),
        ("jane@cust.example",),
        (1,),
        10,
        "deal-single-open",
        rules=("list-rewritten-from", "customer-side", "contact-match", "deal-single-open"),
    ),
    Row(
        "DMARC-rewritten From with List-Id: person linked, no deal",
        mail(
            "incoming",
            [a("group@groups.example", "'Jane' via group")],
            [ME],
            reply_to=["jane@cust.example"],
            list_id="<group.groups.example>",
        ),
        ctx(),
        ("jane@cust.example",),
        (1,),
        verdict="automated",
        rules=("list-rewritten-from", "customer-side", "contact-match", "automated"),
    ),
    Row(
        "list From with no original sender stays the list",
        mail("incoming", [a("list@lists.example", "Jane via Sales List")], [ME]),
        ctx(),
        ("list@lists.example",),
        rules=("customer-side", "no-contact", "deal-none-open"),
    ),
    Row(
        "a plain display name is never read as a rewrite",
        mail("incoming", [a("max@other.example", "Max Berg")], [ME], reply_to=["jane@cust.example"]),
        ctx(),
        ("max@other.example",),
        (4,),
        rules=("customer-side", "contact-match", "deal-none-open"),
    ),
    Row(
        "DMARC-rewritten From of a blocked person: not captured",
        mail("incoming", [a("list@lists.example", "Eve via Sales List")], [ME], x_original_from="eve@blocked.example"),
        ctx(),
        capture=False,
        verdict="blocked",
        rules=("list-rewritten-from", "customer-side", "blocked-sender"),
    ),
    # --- organizations by domain -----------------------------------------------------------------
    Row(
        "a person with no contact at an organization's domain links it and its one open deal",
        incoming("ann@globex.example"),
        octx(),
        ("ann@globex.example",),
        deal=91,
        deal_rule="deal-single-open",
        orgs=(400,),
        rules=("customer-side", "no-contact", "org-domain", "deal-single-open"),
    ),
    Row(
        "a subdomain belongs to its organization",
        incoming("ann@eu.globex.example"),
        octx(),
        ("ann@eu.globex.example",),
        deal=91,
        deal_rule="deal-single-open",
        orgs=(400,),
        rules=("customer-side", "no-contact", "org-domain", "deal-single-open"),
    ),
    Row(
        "an organization's second domain is as good as its first",
        outgoing(["li@globex-eu.example"]),
        octx(),
        ("li@globex-eu.example",),
        deal=91,
        deal_rule="deal-single-open",
        orgs=(400,),
        rules=("customer-side", "no-contact", "org-domain", "deal-single-open"),
    ),
    Row(
        "the most specific domain decides: a subsidiary's own domain before its parent's",
        incoming("lu@labs.globex.example"),
        octx(),
        ("lu@labs.globex.example",),
        orgs=(410,),
        rules=("customer-side", "no-contact", "org-domain", "deal-none-open"),
    ),
    Row(
        "a domain two organizations claim links neither",
        incoming("bill@initech.example"),
        octx(),
        ("bill@initech.example",),
        rules=("customer-side", "no-contact", "org-domain-shared", "deal-none-open"),
    ),
    Row(
        "a free-mail domain identifies no organization, even one that claims it",
        incoming("someone@gmail.com"),
        octx(),
        ("someone@gmail.com",),
        rules=("customer-side", "no-contact", "org-domain-free-mail", "deal-none-open"),
    ),
    Row(
        "a domain of the company's own people identifies no organization",
        incoming("intern@acme.example"),
        octx(),
        ("intern@acme.example",),
        rules=("customer-side", "no-contact", "org-domain-own", "deal-none-open"),
    ),
    Row(
        "an organization with several open deals: the email needs a deal",
        incoming("kim@umbrella.example"),
        octx(),
        ("kim@umbrella.example",),
        needs_deal=True,
        candidates=(92, 93),
        orgs=(600,),
        rules=("customer-side", "no-contact", "org-domain", "deal-several-open"),
    ),
    Row(
        "two people at two organizations pool their open deals",
        outgoing(["ann@globex.example", "kim@umbrella.example"]),
        octx(),
        ("ann@globex.example", "kim@umbrella.example"),
        needs_deal=True,
        candidates=(91, 92, 93),
        orgs=(400, 600),
        rules=("customer-side", "no-contact", "org-domain", "org-domain", "deal-several-open"),
    ),
    Row(
        "a contact's own open deal wins over the organization's",
        incoming("gus@globex.example"),
        octx(),
        ("gus@globex.example",),
        (12,),
        95,
        "deal-single-open",
        orgs=(400,),
        rules=("customer-side", "contact-match", "org-domain", "deal-single-open"),
    ),
    Row(
        "a contact in no organization and without an open deal reaches the domain's organization's deal",
        incoming("hal@globex.example"),
        octx(),
        ("hal@globex.example",),
        (13,),
        91,
        "deal-single-open",
        orgs=(400,),
        rules=("customer-side", "contact-match", "org-domain", "deal-single-open"),
    ),
    Row(
        "a contact of another organization is not linked to the domain's",
        incoming("ivy@globex.example"),
        octx(),
        ("ivy@globex.example",),
        (14,),
        rules=("customer-side", "contact-match", "deal-none-open"),
    ),
    Row(
        "known contacts keep their deal; the stranger beside them only adds the organization",
        outgoing(["jane@cust.example", "ann@globex.example"]),
        octx(),
        ("ann@globex.example", "jane@cust.example"),
        (1,),
        10,
        "deal-single-open",
        orgs=(400,),
        rules=("customer-side", "contact-match", "org-domain", "deal-single-open"),
    ),
    Row(
        "automated mail from an organization's domain links it but picks no deal",
        incoming("noreply@globex.example"),
        octx(),
        ("noreply@globex.example",),
        orgs=(400,),
        verdict="automated",
        rules=("customer-side", "no-contact", "org-domain", "automated"),
    ),
    Row(
        "internal mail links no organization",
        outgoing([BOB]),
        octx(),
        verdict="internal",
        rules=("customer-side", "internal-only"),
    ),
    Row(
        "contacts chosen by hand: no organization is matched by domain either",
        incoming("ann@globex.example"),
        octx(manual_contacts=()),
        ("ann@globex.example",),
        rules=("customer-side", "contact-manual", "contact-manual", "deal-none-open"),
    ),
    Row(
        "organizations chosen by hand replace matching by domain",
        incoming("ann@globex.example"),
        octx(manual_orgs=(UMBRELLA,)),
        ("ann@globex.example",),
        needs_deal=True,
        candidates=(92, 93),
        orgs=(600,),
        rules=("customer-side", "no-contact", "org-manual", "deal-several-open"),
    ),
]


@pytest.mark.parametrize("row", TABLE, ids=[row.name for row in TABLE])
def test_truth_table(row: Row):
    decision = decide_links(row.email, row.context)
    got = {
        "capture": decision.capture,
        "verdict": decision.verdict,
        "customers": decision.customer_addresses,
        "contacts": tuple(c.contact_id for c in decision.contacts),
        "deal": decision.deal_id,
        "deal_rule": decision.deal_rule,
        "needs_deal": decision.needs_deal,
        "candidates": decision.candidate_deal_ids,
        "rules": tuple(step.rule for step in decision.trace),
        "orgs": tuple(o.org_id for o in decision.orgs),
    }
    want = {
        "capture": row.capture,
        "verdict": row.verdict,
        "customers": row.customers,
        "contacts": row.contacts,
        "deal": row.deal,
        "deal_rule": row.deal_rule,
        "needs_deal": row.needs_deal,
        "candidates": row.candidates,
        "rules": row.rules,
        "orgs": row.orgs,
    }
    assert got == want


@pytest.mark.parametrize("row", TABLE, ids=[row.name for row in TABLE])
def test_trace_names_what_it_decided(row: Row):
    decision = decide_links(row.email, row.context)
    text = " ".join(step.reason for step in decision.trace)
    for address in decision.customer_addresses:
        assert address in text
    for link in decision.contacts:
        assert f"contact {link.contact_id}" in text
        if link.rule == "contact-manual":
            assert link.address == "" and "by hand" in link.reason
        else:
            assert link.address in link.reason and link.rule == "contact-match"
    for org in decision.orgs:
        assert f"organization {org.org_id}" in text
        if org.rule == "org-domain":
            assert org.address in org.reason
    if decision.deal_id is not None:
        assert f"deal {decision.deal_id}" in text
    for deal_id in decision.candidate_deal_ids:
        assert str(deal_id) in text
    assert all(step.reason.strip() for step in decision.trace)


@pytest.mark.parametrize("row", TABLE, ids=[row.name for row in TABLE])
def test_customer_addresses_is_what_the_decision_uses(row: Row):
    assert customer_addresses(row.email, row.context) == decide_links(row.email, row.context).customer_addresses


@pytest.mark.parametrize("row", TABLE, ids=[row.name for row in TABLE])
def test_a_decision_after_another_question_is_the_decision_from_scratch(row: Row):
    """The engine reuses its analyses of the same email; any context it read must set them apart."""
    import pdmail.linking.engine as link

    link._analyses.clear()
    fresh = decide_links(row.email, row.context)
    for other in (
        ctx(),
        ctx(blocked=frozenset()),
        ctx(colleague_addresses=frozenset()),
        ctx(own_addresses=frozenset({BOB}), colleague_addresses=frozenset()),
        row.context._replace(deals_by_id={}),
        row.context._replace(bcc_deal_id=None),
    ):
        link._analyses.clear()
        customer_addresses(row.email, other)  # the engine's only analysis is now of this other context
        assert decide_links(row.email, row.context) == fresh


def test_blocked_trace_names_the_sender():
    decision = decide_links(incoming("spam@junk.example"), ctx())
    assert "spam@junk.example" in decision.trace[-1].reason
    assert "skipped at capture" in decision.trace[-1].reason and not decision.capture


def test_bcc_deal_trace_says_it_overrides_auto_link_off():
    decision = decide_links(outgoing(["jane@cust.example"]), ctx(bcc_deal_id=20, auto_link_deals=False))
    assert "auto-link-deals is off" in decision.trace[-1].reason


def test_closed_deals_are_named_as_skipped():
    decision = decide_links(incoming("lea@other.example"), ctx())
    assert "30 (won)" in decision.trace[-1].reason


@pytest.mark.parametrize(
    "sender",
    [
        "noreply@shop.example",
        "no-reply@shop.example",
        "no_reply@shop.example",
        "donotreply@shop.example",
        "do-not-reply@shop.example",
        "mailer-daemon@mx.shop.example",
        "MAILER-DAEMON@mx.shop.example",
        "notifications-noreply@social.example",
        "noreply+receipts@shop.example",
    ],
)
def test_no_reply_senders_are_automated(sender):
    assert is_automated(incoming(sender)) is not None


@pytest.mark.parametrize("sender", ["reply@shop.example", "norene@shop.example", "jane@noreply.example"])
def test_ordinary_senders_are_not_automated(sender):
    assert is_automated(incoming(sender)) is None


@pytest.mark.parametrize(
    "headers,automated",
    [
        ({"auto_submitted": "no"}, False),
        ({"auto_submitted": "no (manual)"}, False),
        ({"auto_submitted": ""}, False),
        ({"auto_submitted": "auto-generated"}, True),
        ({"precedence": "junk"}, True),
        ({"precedence": "list"}, True),
        ({"precedence": "normal"}, False),
        ({"list_id": "  "}, False),
        ({"list_unsubscribe": "<https://news.example/u>"}, True),
    ],
)
def test_automated_headers(headers, automated):
    assert (is_automated(incoming("jane@cust.example", **headers)) is not None) is automated


def test_from_parsed_keeps_what_linking_reads():
    parsed = ParsedEmail(
        raw_sha256="0" * 64,
        size=10,
        message_id="m@x.example",
        message_id_norm="m@x.example",
        alt_message_id=None,
        in_reply_to=(),
        references=(),
        from_=(a("jane@cust.example", "Jane"),),
        from_header_count=1,
        sender=None,
        reply_to=(a("r@cust.example"),),
        x_original_from=a("o@cust.example"),
        to=(a(ME),),
        cc=(a(BOB),),
        bcc=(a("hidden@cust.example"),),
        delivered_to=(),
        subject="Hi",
        date_header=None,
        date_utc=datetime(2024, 1, 1, tzinfo=UTC),
        date_source="header",
        text="",
        attachments=(),
        attached_messages=(),
        list_id="l",
        list_unsubscribe="u",
        precedence="bulk",
        auto_submitted="auto-replied",
        authentication_results=(),
        defects=(),
    )
    got = LinkInput.from_parsed(parsed, "incoming")
    assert got == LinkInput(
        "incoming",
        parsed.from_,
        parsed.to,
        parsed.cc,
        parsed.reply_to,
        parsed.x_original_from,
        "l",
        "u",
        "bulk",
        "auto-replied",
    )


def test_direction_must_be_known():
    with pytest.raises(ValueError):
        mail("sideways", ["jane@cust.example"])


# --- property: order and letter case of addresses never matter -----------------------------

POOL = [
    ME,
    ME_ALT,
    BOB,
    "jane@cust.example",
    "ken@cust.example",
    "lea@other.example",
    "omar@cust.example",
    "omar.h@cust.example",
    "nia@news.example",
    "stranger@new.example",
    "x@blocked.example",
    "spam@junk.example",
    "list@lists.example",
    "noreply@billing.example",
    "ria@org2.example",
    "sam@org2.example",
]
NAMES = ["", "Someone", "Jane Doe via Sales List", "'Jane' via group"]


def recase(draw, text: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.swapcase() if flip else c for c, flip in zip(text, flips))


@st.composite
def scenario(draw):
    def addresses(min_size=0):
        return draw(st.lists(st.tuples(st.sampled_from(POOL), st.sampled_from(NAMES)), min_size=min_size, max_size=4))

    email = dict(
        direction=draw(st.sampled_from(["incoming", "outgoing"])),
        from_=addresses(1),
        to=addresses(),
        cc=addresses(),
        reply_to=addresses(),
        x_original_from=draw(st.none() | st.sampled_from(POOL)),
        list_id=draw(st.sampled_from([None, "list"])),
        auto_submitted=draw(st.sampled_from([None, "no", "auto-replied"])),
    )
    context = ctx(
        bcc_deal_id=draw(st.sampled_from([None, 10, 30, 404])),
        thread=draw(st.sampled_from([None, ThreadLinks(60, False), ThreadLinks(30, False), ThreadLinks(30, True)])),
        auto_link_deals=draw(st.booleans()),
    )
    return email, context


def build(email: dict) -> LinkInput:
    def addrs(pairs):
        return tuple(Address(name, address) for address, name in pairs)

    return LinkInput(
        direction=email["direction"],
        from_=addrs(email["from_"]),
        to=addrs(email["to"]),
        cc=addrs(email["cc"]),
        reply_to=addrs(email["reply_to"]),
        x_original_from=Address("", email["x_original_from"]) if email["x_original_from"] else None,
        list_id=email["list_id"],
        list_unsubscribe=None,
        precedence=None,
        auto_submitted=email["auto_submitted"],
    )


@settings(max_examples=300, deadline=None)
@given(scenario(), st.data())
def test_shuffling_and_recasing_addresses_changes_nothing(case, data):
    email, context = case
    expected = decide_links(build(email), context)

    mixed = dict(email)
    for key in ("from_", "to", "cc", "reply_to"):
        pairs = data.draw(st.permutations(email[key]))
        mixed[key] = [(recase(data.draw, address), name) for address, name in pairs]
    if email["x_original_from"]:
        mixed["x_original_from"] = recase(data.draw, email["x_original_from"])
    mixed_context = context._replace(
        own_addresses=frozenset(recase(data.draw, x) for x in context.own_addresses),
        colleague_addresses=frozenset(recase(data.draw, x) for x in context.colleague_addresses),
        contacts_by_address={recase(data.draw, k): v for k, v in context.contacts_by_address.items()},
    )
    assert decide_links(build(mixed), mixed_context) == expected
