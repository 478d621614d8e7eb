"""The linking engine: which contacts and which deal an email belongs to, and why.

Pure and deterministic. The caller prefetches what the rules need (contacts of the customer
addresses, their deals, the thread's deal); the decision never depends on the order or letter case
of the addresses it is given, so a rescan reproduces it exactly. Every step is recorded in a trace
that ``pdmail explain`` shows as is.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from pdmail.core.addresses import domain_of, is_blocked, normalize_address
from pdmail.core.domains import domain_and_parents, free_mail_domain, under
from pdmail.core.models import Address, Contact, Deal, Direction, Organization, ParsedEmail
from pdmail.core.records import Record

INCOMING = "incoming"
OUTGOING = "outgoing"

VERDICT_BLOCKED = "blocked"
VERDICT_INTERNAL = "internal"
VERDICT_AUTOMATED = "automated"

# Rule names are stored with the links and read by scripts: never rename one.
RULE_LIST_REWRITTEN_FROM = "list-rewritten-from"
RULE_CUSTOMER_SIDE = "customer-side"
RULE_BLOCKED_SENDER = "blocked-sender"
RULE_INTERNAL_ONLY = "internal-only"
RULE_CONTACT_MATCH = "contact-match"
RULE_NO_CONTACT = "no-contact"
RULE_AUTOMATED = "automated"
RULE_BCC_DEAL_ADDRESS = "bcc-deal-address"
RULE_BCC_DEAL_UNKNOWN = "bcc-deal-unknown"
RULE_AUTO_LINK_DEALS_OFF = "auto-link-deals-off"
RULE_THREAD_DEAL = "thread-deal"
RULE_THREAD_DEAL_MANUAL = "thread-deal-manual"
RULE_THREAD_DEAL_CLOSED = "thread-deal-closed"
RULE_THREAD_DEAL_MISSING = "thread-deal-missing"
RULE_THREAD_NO_DEAL_MANUAL = "thread-no-deal-manual"
RULE_DEAL_KEPT_CLOSED = "deal-kept-closed"
RULE_DEAL_KEPT = "deal-kept"
RULE_CONTACT_MANUAL = "contact-manual"
RULE_DEAL_SINGLE_OPEN = "deal-single-open"
RULE_DEAL_SEVERAL_OPEN = "deal-several-open"
RULE_DEAL_NONE_OPEN = "deal-none-open"
RULE_ORG_DOMAIN = "org-domain"
RULE_ORG_DOMAIN_SHARED = "org-domain-shared"
RULE_ORG_DOMAIN_FREE_MAIL = "org-domain-free-mail"
RULE_ORG_DOMAIN_OWN = "org-domain-own"
RULE_ORG_MANUAL = "org-manual"

_BULK_PRECEDENCE = frozenset({"bulk", "list", "junk"})
# Local parts of senders nobody answers: noreply@, no-reply@, notifications-noreply@, noreply+tag@...
_NO_REPLY_RE = re.compile(
    r"^(?:.*[._+-])?(?:no[._-]?reply|do[._-]?not[._-]?reply|mailer[._-]?daemon)(?:[._+-].*)?$",
    re.IGNORECASE,
)
# Lists that rewrite From for DMARC keep the person in the display name: "Jane via Sales List".
_VIA_RE = re.compile(r"\S\s+via\s+\S", re.IGNORECASE)


class _LinkInputFields(Record):
    direction: Direction
    from_: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    x_original_from: Address | None
    list_id: str | None
    list_unsubscribe: str | None
    precedence: str | None
    auto_submitted: str | None


class LinkInput(_LinkInputFields):
    """The parts of a message that linking reads; the direction is the caller's call, one the rules know."""

    __slots__ = ()

    def __new__(
        cls,
        direction: Direction,
        from_: tuple[Address, ...],
        to: tuple[Address, ...],
        cc: tuple[Address, ...],
        reply_to: tuple[Address, ...],
        x_original_from: Address | None,
        list_id: str | None,
        list_unsubscribe: str | None,
        precedence: str | None,
        auto_submitted: str | None,
    ) -> LinkInput:
        if direction not in (INCOMING, OUTGOING):
            raise ValueError(f"direction must be {INCOMING!r} or {OUTGOING!r}, not {direction!r}")
        fields = (from_, to, cc, reply_to, x_original_from, list_id, list_unsubscribe, precedence, auto_submitted)
        return super().__new__(cls, direction, *fields)

    def to_json(self) -> dict:
        """What the store keeps, so a rescan re-decides without re-parsing the message."""

        def people(group):
            return [[a.name, a.email] for a in group]

        return {
            "direction": self.direction,
            "from": people(self.from_),
            "to": people(self.to),
            "cc": people(self.cc),
            "reply_to": people(self.reply_to),
            "x_original_from": people([self.x_original_from]) if self.x_original_from else [],
            "list_id": self.list_id,
            "list_unsubscribe": self.list_unsubscribe,
            "precedence": self.precedence,
            "auto_submitted": self.auto_submitted,
        }

    @classmethod
    def from_json(cls, data: dict) -> LinkInput:
        def people(key):
            return tuple(Address(name, email) for name, email in data.get(key, ()))

        original = people("x_original_from")
        return cls(
            direction=data["direction"],
            from_=people("from"),
            to=people("to"),
            cc=people("cc"),
            reply_to=people("reply_to"),
            x_original_from=original[0] if original else None,
            list_id=data.get("list_id"),
            list_unsubscribe=data.get("list_unsubscribe"),
            precedence=data.get("precedence"),
            auto_submitted=data.get("auto_submitted"),
        )

    @classmethod
    def from_parsed(cls, parsed: ParsedEmail, direction: Direction) -> LinkInput:
        return cls(
            direction=direction,
            from_=tuple(parsed.from_),
            to=tuple(parsed.to),
            cc=tuple(parsed.cc),
            reply_to=tuple(parsed.reply_to),
            x_original_from=parsed.x_original_from,
            list_id=parsed.list_id,
            list_unsubscribe=parsed.list_unsubscribe,
            precedence=parsed.precedence,
            auto_submitted=parsed.auto_submitted,
        )


class ThreadLinks(Record):
    """What the email's thread already carries.

    ``ThreadLinks(None, True)`` is a decision too: the user said the thread has no deal, and no
    automatic rule may give it one.
    """

    deal_id: int | None
    deal_is_manual: bool


NOTHING: Mapping = MappingProxyType({})  # the default of the context's mappings: shared, so never changed


class LinkContext(Record):
    """Everything about the user and the CRM that the rules may consult, prefetched by the caller."""

    own_addresses: frozenset[str]
    colleague_addresses: frozenset[str]
    contacts_by_address: Mapping[str, Contact]
    deals_by_contact: Mapping[int, tuple[Deal, ...]]
    deals_by_id: Mapping[int, Deal]
    blocked: frozenset[str]
    auto_link_deals: bool = True
    thread: ThreadLinks | None = None
    bcc_deal_id: int | None = None
    # Re-linking only: the deal the email already carries. A won or lost deal keeps the mail it
    # already holds (that mail led to the outcome); it only refuses new mail.
    held_deal_id: int | None = None
    # Contacts the user chose by hand for this email: they replace matching by address.
    manual_contacts: tuple[Contact, ...] | None = None
    # The organizations that claim each domain the customer addresses are at (or under), and their deals.
    orgs_by_domain: Mapping[str, tuple[Organization, ...]] = NOTHING
    deals_by_org: Mapping[int, tuple[Deal, ...]] = NOTHING
    # Organizations the user chose by hand for this email: they replace matching by domain.
    manual_orgs: tuple[Organization, ...] | None = None


class ContactLink(Record):
    contact_id: int
    address: str
    rule: str
    reason: str


class OrgLink(Record):
    org_id: int
    address: str
    rule: str
    reason: str


class TraceStep(Record):
    rule: str
    reason: str


class LinkDecision(Record):
    capture: bool
    verdict: str | None
    customer_addresses: tuple[str, ...]
    contacts: tuple[ContactLink, ...]
    deal_id: int | None
    deal_rule: str | None
    needs_deal: bool
    candidate_deal_ids: tuple[int, ...]
    trace: tuple[TraceStep, ...]
    orgs: tuple[OrgLink, ...] = ()

    def trace_json(self) -> str:
        """The stored form of the trace: capture and re-linking both write this text, so that links
        decided again without a change compare equal to what capture wrote."""
        return json.dumps([{"rule": t.rule, "reason": t.reason} for t in self.trace], ensure_ascii=False)


def _listing(items: Iterable[object]) -> str:
    values = [str(item) for item in items]
    return ", ".join(values) if values else "none"


def _addresses(addresses: Iterable[Address]) -> list[str]:
    """Normalized mail addresses; empty entries and group names without an address are dropped."""
    found = (normalize_address(a.email or "") for a in addresses)
    return [a for a in found if "@" in a]


def _header_token(value: str | None) -> str:
    """First token of a header value, before any parameter or comment, casefolded."""
    if not value:
        return ""
    return re.split(r"[;(\s]", value.strip(), maxsplit=1)[0].casefold()


def is_automated(email: LinkInput) -> str | None:
    """Why the mail was sent by a machine or a list, or None: such mail never picks a deal by itself."""
    reasons: list[str] = []
    if email.list_id and email.list_id.strip():
        reasons.append(f"List-Id {email.list_id.strip()}")
    if email.list_unsubscribe and email.list_unsubscribe.strip():
        reasons.append("List-Unsubscribe present")
    precedence = _header_token(email.precedence)
    if precedence in _BULK_PRECEDENCE:
        reasons.append(f"Precedence: {precedence}")
    auto_submitted = _header_token(email.auto_submitted)
    if auto_submitted and auto_submitted != "no":
        reasons.append(f"Auto-Submitted: {auto_submitted}")
    no_reply = sorted({a for a in _addresses(email.from_) if _NO_REPLY_RE.match(a.partition("@")[0])})
    if no_reply:
        reasons.append(f"no-reply sender {_listing(no_reply)}")
    return "; ".join(reasons) if reasons else None


def _effective_senders(email: LinkInput) -> tuple[list[str], list[TraceStep]]:
    """From addresses, with list addresses that hid a person replaced by that person."""
    names: dict[str, set[str]] = {}
    for mailbox in email.from_:
        for address in _addresses([mailbox]):
            names.setdefault(address, set()).add((mailbox.name or "").strip())
    senders: set[str] = set()
    steps: list[TraceStep] = []
    for address in sorted(names):
        via_names = sorted(n for n in names[address] if _VIA_RE.search(n))
        real: list[str] = []
        if via_names:
            original = _addresses([email.x_original_from]) if email.x_original_from else []
            real, source = [a for a in original if a != address], "X-Original-From"
            if not real:
                real, source = sorted(set(_addresses(email.reply_to)) - {address}), "Reply-To"
        if not real:
            senders.add(address)
            continue
        senders.update(real)
        steps.append(
            TraceStep(
                RULE_LIST_REWRITTEN_FROM,
                f"From {address} ({via_names[0]!r}) is a mailing list that rewrote the sender; "
                f"the real sender {_listing(real)} comes from {source}.",
            )
        )
    return sorted(senders), steps


class _Sides(Record):
    customers: tuple[str, ...]
    capture: bool
    verdict: str | None  # blocked | internal | None
    steps: tuple[TraceStep, ...]


@functools.lru_cache(maxsize=64)
def _team_sets(
    own_addresses: frozenset[str], colleague_addresses: frozenset[str], blocked: frozenset[str]
) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """The normalized own, colleague and block sets; a rescan asks for the same few millions of times."""
    own = frozenset(normalize_address(a) for a in own_addresses)
    colleagues = frozenset(normalize_address(a) for a in colleague_addresses) - own
    patterns = frozenset(p.strip().lower() for p in blocked if p.strip())
    return own, colleagues, patterns


# The analyses of recent emails, by the email and what of the context they read. Capture asks for
# the customer side first (to look up contacts) and then for the decision; a re-link asks for the
# customer sides of a whole batch, then decides each email: the second question reuses the first's work.
_analyses: dict = {}
_ANALYSES_KEPT = 8192


def _analyse(email: LinkInput, ctx: LinkContext) -> _Sides:
    """The customer side and capture verdict, reused for the same email and team."""
    key = (
        email,
        frozenset(ctx.own_addresses),
        frozenset(ctx.colleague_addresses),
        frozenset(ctx.blocked),
        ctx.bcc_deal_id,
        ctx.bcc_deal_id in ctx.deals_by_id,
    )
    try:
        return _analyses[key]
    except KeyError:
        pass
    except TypeError:  # an input built with lists: nothing to remember it by
        return _analyse_afresh(email, ctx)
    if len(_analyses) >= _ANALYSES_KEPT:
        _analyses.clear()
    sides = _analyses[key] = _analyse_afresh(email, ctx)
    return sides


def _analyse_afresh(email: LinkInput, ctx: LinkContext) -> _Sides:
    own, colleagues, patterns = _team_sets(
        frozenset(ctx.own_addresses), frozenset(ctx.colleague_addresses), frozenset(ctx.blocked)
    )

    senders, steps = _effective_senders(email)
    recipients = sorted(set(_addresses(email.to)) | set(_addresses(email.cc)))

    def blocked(address: str) -> bool:
        return address not in own and address not in colleagues and is_blocked(address, patterns)

    def outside(address: str) -> bool:
        return address not in own and address not in colleagues and not blocked(address)

    def excluded_note(addresses: list[str]) -> str:
        kinds = (
            ("own", [a for a in addresses if a in own]),
            ("colleague", [a for a in addresses if a in colleagues]),
            ("blocked", [a for a in addresses if blocked(a)]),
        )
        parts = [f"{kind} {_listing(found)}" for kind, found in kinds if found]
        return f" Not customers: {'; '.join(parts)}." if parts else ""

    capture = True
    verdict: str | None = None
    if email.direction == OUTGOING:
        customers = [a for a in recipients if outside(a)]
        steps.append(
            TraceStep(
                RULE_CUSTOMER_SIDE,
                f"Outgoing mail: the customer side is its To/Cc recipients: {_listing(customers)}."
                + excluded_note(recipients),
            )
        )
    else:
        customers = [a for a in senders if outside(a)]
        if senders and not customers:
            # No sender can be a customer (each is the owner, a colleague or blocked): the customer
            # side is whoever else outside the team was written to.
            customers = [a for a in recipients if outside(a)]
            steps.append(
                TraceStep(
                    RULE_CUSTOMER_SIDE,
                    f"Incoming mail whose senders ({_listing(senders)}) cannot be customers: the customer "
                    f"side is its other To/Cc participants: {_listing(customers)}."
                    + excluded_note(sorted(set(senders) | set(recipients))),
                )
            )
            if all(blocked(a) for a in senders):
                if customers:
                    reason = (
                        f"Every sender is blocked ({_listing(senders)}); the email is captured and linked "
                        f"through its other participants {_listing(customers)}."
                    )
                else:
                    verdict = VERDICT_BLOCKED
                    reason = (
                        f"Every sender is blocked ({_listing(senders)}) and no other participant outside "
                        "the team is unblocked: "
                    )
                    if ctx.bcc_deal_id in ctx.deals_by_id:
                        reason += "captured only because a per-deal capture address files it."
                    else:
                        capture = False
                        reason += (
                            "new mail like it is skipped at capture; an email already stored stays "
                            "stored, linked to no contact."
                        )
                steps.append(TraceStep(RULE_BLOCKED_SENDER, reason))
        else:
            steps.append(
                TraceStep(
                    RULE_CUSTOMER_SIDE,
                    f"Incoming mail: the customer side is its senders: {_listing(customers)}." + excluded_note(senders),
                )
            )

    others = (set(senders) | set(recipients)) - own
    if verdict is None and others and others <= colleagues:
        verdict, customers = VERDICT_INTERNAL, []
        steps.append(
            TraceStep(
                RULE_INTERNAL_ONLY,
                f"Every participant other than the owner is a colleague ({_listing(sorted(others))}): "
                "internal mail, linked to no contact and no deal, not even through its thread.",
            )
        )
    return _Sides(tuple(customers), capture, verdict, tuple(steps))


def customer_addresses(email: LinkInput, ctx: LinkContext) -> tuple[str, ...]:
    """The normalized customer addresses, sorted: what the caller prefetches contacts for."""
    return _analyse(email, ctx).customers


def _contact_lookup(contacts_by_address: Mapping[str, Contact]) -> dict[str, Contact]:
    lookup: dict[str, Contact] = {}
    for key, contact in contacts_by_address.items():
        address = normalize_address(key)
        if address not in lookup or contact.id < lookup[address].id:
            lookup[address] = contact
    return lookup


def _link_contacts(customers: tuple[str, ...], ctx: LinkContext) -> tuple[list[ContactLink], list[TraceStep]]:
    if ctx.manual_contacts is not None:
        chosen = sorted({c.id: c for c in ctx.manual_contacts}.values(), key=lambda c: c.id)
        by_hand = [
            ContactLink(
                c.id,
                "",
                RULE_CONTACT_MANUAL,
                f"Linked by hand to contact {c.id} ({c.name}); matching by address does not apply to this email.",
            )
            for c in chosen
        ]
        steps = [TraceStep(link.rule, link.reason) for link in by_hand]
        if not by_hand:
            steps.append(TraceStep(RULE_CONTACT_MANUAL, "The user removed every contact link by hand."))
        return by_hand, steps
    lookup = _contact_lookup(ctx.contacts_by_address)
    matched: dict[int, tuple[Contact, list[str]]] = {}
    for address in customers:  # sorted, so each contact's addresses are too
        contact = lookup.get(address)
        if contact is not None:
            matched.setdefault(contact.id, (contact, []))[1].append(address)
    links: list[ContactLink] = []
    for contact_id in sorted(matched):
        contact, addresses = matched[contact_id]
        verb = "belongs" if len(addresses) == 1 else "belong"
        reason = f"{_listing(addresses)} {verb} to contact {contact_id} ({contact.name})."
        links.append(ContactLink(contact_id, addresses[0], RULE_CONTACT_MATCH, reason))
    steps = [TraceStep(link.rule, link.reason) for link in links]
    if customers and not links:
        steps.append(TraceStep(RULE_NO_CONTACT, f"No contact has the customer addresses {_listing(customers)}."))
    return links, steps


@functools.lru_cache(maxsize=64)
def _team_domains(own_addresses: frozenset[str], colleague_addresses: frozenset[str]) -> frozenset[str]:
    """The domains the company's own people have addresses at: they never identify an organization."""
    own, colleagues, _ = _team_sets(own_addresses, colleague_addresses, frozenset())
    return frozenset(domain_of(a) for a in own | colleagues if "@" in a)


def _orgs_text(orgs: Iterable[Organization]) -> str:
    listed = [f"{o.id} ({o.name})" for o in orgs]
    return ("organization " if len(listed) == 1 else "organizations ") + " and ".join(listed)


def identify_org(address: str, ctx: LinkContext) -> tuple[Organization | None, TraceStep | None]:
    """The organization an address's domain identifies, else None, with the step that says why not
    when an organization claims the domain.

    The most specific claimed domain decides (a subsidiary's own domain before its parent's). It
    identifies nobody when the address is at a free-mail domain or a domain of the company's own
    people, or when several organizations claim it.
    """
    domain = domain_of(address)
    if "@" not in address or not domain:
        return None, None
    claim = next(((d, ctx.orgs_by_domain[d]) for d in domain_and_parents(domain) if ctx.orgs_by_domain.get(d)), None)
    if claim is None:
        return None, None
    claimed, orgs = claim
    listed = f"{_orgs_text(orgs)} {'lists' if len(orgs) == 1 else 'list'} {claimed}"
    free = free_mail_domain(domain)
    if free is not None:
        return None, TraceStep(
            RULE_ORG_DOMAIN_FREE_MAIL,
            f"{address} is at the free-mail domain {free}: anyone may have an address there, so it identifies "
            f"no organization, though {listed}.",
        )
    own = under(domain, _team_domains(frozenset(ctx.own_addresses), frozenset(ctx.colleague_addresses)))
    if own is not None:
        return None, TraceStep(
            RULE_ORG_DOMAIN_OWN,
            f"{address} is at {own}, where the company's own people have addresses: it identifies no "
            f"organization, though {listed}.",
        )
    if len(orgs) > 1:
        return None, TraceStep(
            RULE_ORG_DOMAIN_SHARED,
            f"{claimed} is claimed by {_orgs_text(orgs)}: {address} is linked to none of them. Keep the domain "
            f"on one organization only (pdmail org domain remove ORG {claimed}).",
        )
    return orgs[0], None


def _link_orgs(customers: tuple[str, ...], ctx: LinkContext) -> tuple[list[OrgLink], list[TraceStep]]:
    """Organizations by the customer addresses' domains: for an address without a contact, or whose
    contact has no organization or that very one."""
    if ctx.manual_orgs is not None:
        chosen = sorted({o.id: o for o in ctx.manual_orgs}.values(), key=lambda o: o.id)
        by_hand = [
            OrgLink(
                o.id,
                "",
                RULE_ORG_MANUAL,
                f"Linked by hand to organization {o.id} ({o.name}); matching by domain does not apply to this email.",
            )
            for o in chosen
        ]
        chosen_steps = [TraceStep(link.rule, link.reason) for link in by_hand]
        if not by_hand:
            chosen_steps.append(TraceStep(RULE_ORG_MANUAL, "The user removed every organization link by hand."))
        return by_hand, chosen_steps
    lookup = _contact_lookup(ctx.contacts_by_address) if ctx.manual_contacts is None else {}
    matched: dict[int, tuple[Organization, str, list[str]]] = {}
    steps: list[TraceStep] = []
    skipped_by_hand = False
    for address in customers:
        contact = lookup.get(address)
        org, why_not = identify_org(address, ctx)
        if why_not is not None and contact is None:
            steps.append(why_not)
        if org is None or (contact is not None and contact.org_id not in (None, org.id)):
            continue
        if ctx.manual_contacts is not None:
            skipped_by_hand = True
            continue
        claimed = under(domain_of(address), frozenset(org.domains)) or domain_of(address)
        matched.setdefault(org.id, (org, claimed, []))[2].append(address)
    links: list[OrgLink] = []
    for org_id in sorted(matched):
        org, claimed, addresses = matched[org_id]
        verb = "is" if len(addresses) == 1 else "are"
        reason = f"{_listing(addresses)} {verb} at {claimed}, a domain of organization {org_id} ({org.name})."
        links.append(OrgLink(org_id, addresses[0], RULE_ORG_DOMAIN, reason))
    steps += [TraceStep(link.rule, link.reason) for link in links]
    if skipped_by_hand:
        steps.append(
            TraceStep(
                RULE_CONTACT_MANUAL, "Its contacts were chosen by hand: no organization is linked by domain either."
            )
        )
    return links, steps


def _is_open(deal: Deal) -> bool:
    return deal.status.strip().lower() == "open"


def _describe(deal: Deal) -> str:
    return f"deal {deal.id} ({deal.title!r}, {deal.status})"


class _DealOutcome:
    """The deal being decided, filled in by the deal rules in turn."""

    __slots__ = ("candidates", "deal_id", "needs_deal", "rule")

    def __init__(self) -> None:
        self.deal_id: int | None = None
        self.rule: str | None = None
        self.needs_deal = False
        self.candidates: tuple[int, ...] = ()


def _open_and_closed(groups: Iterable[tuple[Deal, ...]]) -> tuple[dict[int, Deal], dict[int, Deal]]:
    pool: dict[int, Deal] = {}
    closed: dict[int, Deal] = {}
    for group in groups:
        for deal in group:
            (pool if _is_open(deal) else closed)[deal.id] = deal
    for deal_id in pool:
        closed.pop(deal_id, None)
    return pool, closed


def _skipped(closed: Mapping[int, Deal]) -> str:
    if not closed:
        return ""
    return f" Not open, so skipped: {_listing(f'{d.id} ({d.status})' for _, d in sorted(closed.items()))}."


def _pool_open_deals(contact_ids: list[int], ctx: LinkContext, out: _DealOutcome, org_ids: list[int]) -> TraceStep:
    """The open deals of the linked contacts decide; only when they have none do those of the linked
    organizations: one is linked, several need a choice by the user."""
    pool, closed = _open_and_closed(ctx.deals_by_contact.get(c, ()) for c in contact_ids)
    if not contact_ids and not org_ids:
        return TraceStep(RULE_DEAL_NONE_OPEN, "No contact is linked, so no deal is linked.")
    who = ""
    if contact_ids:
        who = f"contacts {_listing(contact_ids)} have" if len(contact_ids) > 1 else f"contact {contact_ids[0]} has"
    if not pool and org_ids:
        first = f"The linked {who} no open deal, so the deals of the linked " if contact_ids else "The linked "
        pool, org_closed = _open_and_closed(ctx.deals_by_org.get(o, ()) for o in org_ids)
        closed = {k: v for k, v in {**closed, **org_closed}.items() if k not in pool}
        orgs = f"organizations {_listing(org_ids)}" if len(org_ids) > 1 else f"organization {org_ids[0]}"
        lead = first + (
            f"{orgs} count: they have" if contact_ids else f"{orgs} {'have' if len(org_ids) > 1 else 'has'}"
        )
        links_only = "no deal is linked."
    else:
        lead, links_only = f"The linked {who}", "contact links only."
    skipped = _skipped(closed)
    if len(pool) == 1:
        (deal,) = pool.values()
        out.deal_id, out.rule = deal.id, RULE_DEAL_SINGLE_OPEN
        return TraceStep(RULE_DEAL_SINGLE_OPEN, f"{lead} exactly one open deal: {_describe(deal)}." + skipped)
    if pool:
        out.needs_deal, out.candidates = True, tuple(sorted(pool))
        return TraceStep(
            RULE_DEAL_SEVERAL_OPEN,
            f"{lead} several open deals ({_listing(out.candidates)}): the email needs a deal, "
            "chosen by the user; nothing is guessed." + skipped,
        )
    return TraceStep(RULE_DEAL_NONE_OPEN, f"{lead} no open deal: {links_only}" + skipped)


def _deal_kept(thread: ThreadLinks | None, ctx: LinkContext) -> Deal | None:
    """Re-linking only: the deal this email already carries, when its thread is still on it."""
    if thread is None or ctx.held_deal_id is None or thread.deal_id != ctx.held_deal_id:
        return None
    deal = ctx.deals_by_id.get(thread.deal_id)
    if deal is None or deal.status.strip().lower() == "deleted":
        return None
    return deal


def _deal_kept_when_blocked(
    ctx: LinkContext, out: _DealOutcome, steps: list[TraceStep]
) -> tuple[_DealOutcome, list[TraceStep]]:
    """Blocking a sender stops new mail from them; it never undoes a choice made by hand for the
    thread, nor takes away mail a deal already holds (re-linking only: new mail has no deal yet)."""
    thread = ctx.thread
    if thread is not None and thread.deal_is_manual:
        deal = ctx.deals_by_id.get(thread.deal_id) if thread.deal_id is not None else None
        if thread.deal_id is None or (deal is not None and deal.status.strip().lower() != "deleted"):
            out.deal_id = deal.id if deal is not None else None
            out.rule = RULE_THREAD_DEAL_MANUAL if deal is not None else RULE_THREAD_NO_DEAL_MANUAL
            what = f"on {_describe(deal)}" if deal is not None else "without a deal"
            steps.append(
                TraceStep(
                    out.rule,
                    f"The email's thread is {what} (decided by hand): blocking a sender "
                    "never overrides a choice made by hand.",
                )
            )
        return out, steps
    kept = _deal_kept(thread, ctx)
    if kept is not None:
        out.deal_id, out.rule = kept.id, RULE_DEAL_KEPT
        steps.append(
            TraceStep(
                RULE_DEAL_KEPT,
                f"The email was on {_describe(kept)} already: blocking a sender "
                "concerns new mail, and a re-link never takes a deal's email away.",
            )
        )
    return out, steps


def _decide_deal(
    sides: _Sides, contact_ids: list[int], automated: str | None, ctx: LinkContext, org_ids: list[int]
) -> tuple[_DealOutcome, list[TraceStep]]:
    out = _DealOutcome()
    steps: list[TraceStep] = []

    # The per-deal capture address is an explicit act of the user: it files the email whatever the
    # deal's status, the auto-link-deals setting, or the blocked and internal verdicts.
    if ctx.bcc_deal_id is not None:
        deal = ctx.deals_by_id.get(ctx.bcc_deal_id)
        if deal is not None:
            overrides = []
            if not ctx.auto_link_deals:
                overrides.append("auto-link-deals is off")
            if sides.verdict == VERDICT_INTERNAL:
                overrides.append("the email is internal")
            elif sides.verdict == VERDICT_BLOCKED:
                overrides.append("every sender is blocked")
            note = f" It applies even though {' and '.join(overrides)}." if overrides else ""
            out.deal_id, out.rule = deal.id, RULE_BCC_DEAL_ADDRESS
            steps.append(
                TraceStep(
                    RULE_BCC_DEAL_ADDRESS,
                    f"The per-deal capture address files the email on {_describe(deal)}; an explicit filing "
                    "wins over every automatic rule." + note,
                )
            )
            return out, steps
        steps.append(
            TraceStep(
                RULE_BCC_DEAL_UNKNOWN,
                f"The per-deal capture address names deal {ctx.bcc_deal_id}, which does not exist: ignored, "
                "normal linking applies.",
            )
        )

    if sides.verdict == VERDICT_BLOCKED:
        return _deal_kept_when_blocked(ctx, out, steps)
    if sides.verdict is not None:  # internal: no deal at all
        return out, steps

    thread = ctx.thread
    # A choice the user made for the thread holds for every email in it, even with auto-link-deals off:
    # it is not a guess.
    if thread is not None and thread.deal_is_manual and thread.deal_id is None:
        out.rule = RULE_THREAD_NO_DEAL_MANUAL  # no deal, and that is a decision
        steps.append(
            TraceStep(
                RULE_THREAD_NO_DEAL_MANUAL,
                "The user decided by hand that this thread has no deal: no deal is linked, whatever the contacts' "
                "open deals.",
            )
        )
        return out, steps
    if thread is not None and thread.deal_is_manual and thread.deal_id is not None:
        deal = ctx.deals_by_id.get(thread.deal_id)
        if deal is not None and deal.status.strip().lower() != "deleted":
            out.deal_id, out.rule = deal.id, RULE_THREAD_DEAL_MANUAL
            steps.append(
                TraceStep(
                    RULE_THREAD_DEAL_MANUAL,
                    f"The email's thread is on {_describe(deal)} (linked by hand); every email of the thread "
                    "carries that deal.",
                )
            )
            return out, steps

    if not ctx.auto_link_deals:
        kept = _deal_kept(thread, ctx)
        if kept is not None:
            out.deal_id, out.rule = kept.id, RULE_DEAL_KEPT
            steps.append(
                TraceStep(
                    RULE_DEAL_KEPT,
                    f"The email's thread is on {_describe(kept)} and this email was on it already: "
                    "auto-link-deals is off, which concerns new mail only, and a re-link never takes a deal's "
                    "email away.",
                )
            )
            return out, steps
        steps.append(
            TraceStep(
                RULE_AUTO_LINK_DEALS_OFF,
                "auto-link-deals is off: no deal is linked automatically, not even the thread's.",
            )
        )
        return out, steps

    if thread is not None and thread.deal_id is not None:
        deal = ctx.deals_by_id.get(thread.deal_id)
        how = "linked by hand" if thread.deal_is_manual else "linked automatically"
        if deal is None:
            steps.append(
                TraceStep(
                    RULE_THREAD_DEAL_MISSING,
                    f"The thread's deal {thread.deal_id} no longer exists: the thread is treated as having no deal.",
                )
            )
        elif _is_open(deal) or (thread.deal_is_manual and deal.status.strip().lower() != "deleted"):
            rule = RULE_THREAD_DEAL_MANUAL if thread.deal_is_manual else RULE_THREAD_DEAL
            out.deal_id, out.rule = deal.id, rule
            reason = f"The email's thread is on {_describe(deal)} ({how}); new mail in it inherits that deal."
            steps.append(TraceStep(rule, reason))
            return out, steps
        elif ctx.held_deal_id == deal.id and deal.status.strip().lower() != "deleted":
            out.deal_id, out.rule = deal.id, RULE_DEAL_KEPT_CLOSED
            steps.append(
                TraceStep(
                    RULE_DEAL_KEPT_CLOSED,
                    f"The email's thread is on {_describe(deal)} (linked automatically) and this email was on it "
                    "already: a closed deal keeps the mail it holds and only refuses new mail.",
                )
            )
            return out, steps
        else:
            steps.append(
                TraceStep(
                    RULE_THREAD_DEAL_CLOSED,
                    f"The email's thread is on {_describe(deal)} ({how}), which no longer takes new mail; a thread "
                    "has at most one deal, so no other deal is linked.",
                )
            )
            return out, steps

    if automated:
        return out, steps  # the "automated" step, already in the trace, says why
    steps.append(_pool_open_deals(contact_ids, ctx, out, org_ids))
    return out, steps


def decide_links(email: LinkInput, ctx: LinkContext) -> LinkDecision:
    """Apply docs/spec.md ("Linking") in order: customer side, blocked, internal, contacts, then at most one deal."""
    sides = _analyse(email, ctx)
    trace = list(sides.steps)

    links, contact_steps = _link_contacts(sides.customers, ctx)
    trace += contact_steps
    orgs, org_steps = _link_orgs(sides.customers, ctx)
    trace += org_steps

    automated = is_automated(email) if sides.verdict is None else None
    if automated:
        trace.append(
            TraceStep(
                RULE_AUTOMATED,
                f"Automated mail ({automated}): its contacts are linked, but no deal is picked from their deals.",
            )
        )

    outcome, deal_steps = _decide_deal(
        sides, [link.contact_id for link in links], automated, ctx, [o.org_id for o in orgs]
    )
    trace += deal_steps

    return LinkDecision(
        capture=sides.capture,
        verdict=sides.verdict or (VERDICT_AUTOMATED if automated else None),
        customer_addresses=sides.customers,
        contacts=tuple(links),
        deal_id=outcome.deal_id,
        deal_rule=outcome.rule,
        needs_deal=outcome.needs_deal,
        candidate_deal_ids=outcome.candidates,
        trace=tuple(trace),
        orgs=tuple(orgs),
    )
