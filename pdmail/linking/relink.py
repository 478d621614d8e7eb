"""Retroactive linking: when contacts, deals, the block list or a user's addresses change, stored
email is decided again by the same engine that linked it at capture.

The rules of a re-link, in the order they apply:

1. Manual decisions stay. A thread whose deal (or "no deal") was set by hand keeps it for every
   email in it; an email whose contacts were chosen by hand keeps them.
2. Otherwise a thread is linked again from scratch: its emails in the order they were captured,
   each one against today's contacts and deals, inheriting the deal an earlier email gave the
   thread — exactly what capturing the same mail today would do.
3. Except that a deal keeps the mail it already holds. When linking from scratch would take a
   thread away from the deal it is on (a second open deal appeared, or the deal was won or lost),
   the thread stays on it: new mail decides afresh, old mail is history. Only a deal that no longer
   exists, an internal verdict or a blocked sender lets go of it.

So a re-link fills gaps and resolves choices (a new contact, a first open deal, a deal closed
among several candidates) without ever reshuffling what a user has already seen filed.

4. And it never widens who sees someone's mail on another user's behalf (rule 4 of the sharing
   law). A re-link runs for someone: the user whose change caused it (``acting``, ``rule_change``,
   ``rescan(by=...)``). A new link on an email of anyone else is recorded with that cause, and when
   nobody but the owner could see the email it is only *proposed*: it counts for sharing once the
   owner accepts it (or at once, with their ``accept-colleague-links`` setting on).

Only the threads a change touches are read, found through indexes; ``rescan`` walks every thread
in batches with constant memory, one transaction per batch.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar

from pdmail.core.addresses import domain_of, normalize_address
from pdmail.core.models import Contact, LinkCause, User, Visibility
from pdmail.core.records import Record
from pdmail.linking import engine as link
from pdmail.linking.context import LinkingInputs, complete
from pdmail.store import links as store
from pdmail.store import users as users_store
from pdmail.store.db import Database, now_utc
from pdmail.visibility import EmailFacts, can_view, seen_by_others

RESCAN_BATCH = 500  # threads per batch and per transaction
MAX_REPORTED_CHANGES = 1000


class LinkState(Record):
    """The links of one email as the inbox and explain see them."""

    contacts: tuple[tuple[int, str, str, str], ...]  # (contact id, address, rule, reason), by contact id
    deal_id: int | None
    deal_rule: str | None
    is_deal_manual: bool
    needs_deal: bool
    is_automated: bool
    verdict: str | None
    trace_json: str
    contact_causes: tuple[tuple[int, LinkCause], ...] = ()  # contacts another user's change linked
    deal_cause: LinkCause | None = None
    orgs: tuple[tuple[int, str, str, str], ...] = ()  # (organization id, address, rule, reason), by id
    org_causes: tuple[tuple[int, LinkCause], ...] = ()

    @classmethod
    def of(cls, decision: link.LinkDecision) -> LinkState:
        """The links the engine decided, as capture stores them and re-linking compares them."""
        return cls(
            orgs=tuple((o.org_id, o.address, o.rule, o.reason) for o in decision.orgs),
            contacts=tuple((c.contact_id, c.address, c.rule, c.reason) for c in decision.contacts),
            deal_id=decision.deal_id,
            deal_rule=decision.deal_rule,
            is_deal_manual=decision.deal_rule in (link.RULE_THREAD_DEAL_MANUAL, link.RULE_THREAD_NO_DEAL_MANUAL),
            needs_deal=decision.needs_deal,
            is_automated=decision.verdict == link.VERDICT_AUTOMATED,
            verdict=decision.verdict,
            trace_json=decision.trace_json(),
        )

    def proposed_contacts(self) -> list[int]:
        return [cid for cid, cause in self.contact_causes if cause.proposed]

    def proposed_orgs(self) -> list[int]:
        return [oid for oid, cause in self.org_causes if cause.proposed]

    @property
    def deal_proposed(self) -> bool:
        return self.deal_id is not None and self.deal_cause is not None and self.deal_cause.proposed

    def facts(self, owner_id: int, visibility: Visibility) -> EmailFacts:
        """What the sharing law sees of an email with these links."""
        proposed = set(self.proposed_contacts())
        proposed_orgs = set(self.proposed_orgs())
        return EmailFacts(
            owner_id,
            visibility,
            has_contact=any(c[0] not in proposed for c in self.contacts),
            has_deal=self.deal_id is not None and not self.deal_proposed,
            has_proposal=bool(proposed) or bool(proposed_orgs) or self.deal_proposed,
            has_org=any(o[0] not in proposed_orgs for o in self.orgs),
        )

    def summary(self) -> dict:
        proposed: dict = {"contacts": self.proposed_contacts(), "deal": self.deal_id if self.deal_proposed else None}
        summary = {
            "contacts": [c[0] for c in self.contacts],
            "deal": self.deal_id,
            "needs_deal": self.needs_deal,
            "verdict": self.verdict,
            "proposed": proposed,
        }
        if self.orgs or self.org_causes:  # an email without organizations reads as it always did
            summary["orgs"] = [o[0] for o in self.orgs]
            proposed["orgs"] = self.proposed_orgs()
        return summary


class Change(Record):
    email_id: int
    owner_id: int
    thread_id: int
    visibility: Visibility
    before: LinkState
    after: LinkState

    @property
    def visible(self) -> bool:
        """A change of contacts, deal, choice or verdict; not only of the words that explain them."""
        return self.before.summary() != self.after.summary()

    def seen_by(self, viewer_id: int) -> bool:
        """The viewer may see the email, before or after the change: only then may they hear of it."""
        return any(
            can_view(viewer_id, state.facts(self.owner_id, self.visibility)) for state in (self.before, self.after)
        )

    def to_json(self) -> dict:
        return {
            "id": self.email_id,
            "thread_id": self.thread_id,
            "before": self.before.summary(),
            "after": self.after.summary(),
        }


class RelinkReport:
    """What a re-link did, counted and listed over the email the viewer may see (rule 2 applies to
    counts too): another user's private or unshared mail is in no number a viewer reads.

    A plain class, added up in place: no code generated for it when a piped message loads this module."""

    __slots__ = ("changed", "changes", "dry_run", "emails", "more_changes", "reworded", "threads", "viewer_id")

    def __init__(self, *, dry_run: bool = False, viewer_id: int | None = None) -> None:
        self.threads = 0
        self.emails = 0
        self.changed = 0  # emails whose contacts, deal, choice or verdict changed
        self.reworded = 0  # emails whose explanation alone changed
        self.dry_run = dry_run
        self.viewer_id = viewer_id  # None: count and list everything (library callers that are not a person)
        self.changes: list[Change] = []
        self.more_changes = 0

    def shows(self, change: Change) -> bool:
        return self.viewer_id is None or self.viewer_id == change.owner_id or change.seen_by(self.viewer_id)

    def counts(self, e: store.LinkedEmail, state: LinkState) -> bool:
        if self.viewer_id is None or self.viewer_id == e.owner_id:
            return True
        return can_view(self.viewer_id, state.facts(e.owner_id, e.visibility))

    def add(self, change: Change) -> None:
        if not self.shows(change):
            return
        if not change.visible:
            self.reworded += 1
            return
        self.changed += 1
        if len(self.changes) < MAX_REPORTED_CHANGES:
            self.changes.append(change)
        else:
            self.more_changes += 1

    def to_json(self) -> dict:
        return {
            "dry_run": self.dry_run,
            "threads": self.threads,
            "emails": self.emails,
            "changed": self.changed,
            "reworded": self.reworded,
            "changes": [c.to_json() for c in self.changes],
            "more_changes": self.more_changes,
        }


Progress = Callable[[int, int], None]  # (emails done, emails in all)
OnChange = Callable[[Change], None]


def _current(e: store.LinkedEmail) -> LinkState:
    return LinkState(
        contacts=tuple((c.contact_id, c.address, c.rule, c.reason) for c in e.contacts),
        deal_id=e.deal_id,
        deal_rule=e.deal_rule,
        is_deal_manual=e.is_deal_manual,
        needs_deal=e.needs_deal,
        is_automated=e.is_automated,
        verdict=e.link_verdict,
        trace_json=e.trace_json,
        contact_causes=tuple((c.contact_id, c.cause) for c in e.contacts if c.cause is not None),
        deal_cause=e.deal_cause if e.deal_id is not None else None,
        orgs=tuple((o.org_id, o.address, o.rule, o.reason) for o in e.orgs),
        org_causes=tuple((o.org_id, o.cause) for o in e.orgs if o.cause is not None),
    )


def _pending(emails: Iterable[store.LinkedEmail]) -> dict[tuple[str, int], LinkCause]:
    """The links of a thread that wait for its owner, by what they link to: new mail follows them."""
    out: dict[tuple[str, int], LinkCause] = {}
    for e in emails:
        for c in e.contacts:
            if c.cause is not None and c.cause.proposed:
                out.setdefault(("contact", c.contact_id), c.cause)
        for o in e.orgs:
            if o.cause is not None and o.cause.proposed:
                out.setdefault(("org", o.org_id), o.cause)
        if e.deal_id is not None and e.deal_cause is not None and e.deal_cause.proposed:
            out.setdefault(("deal", e.deal_id), e.deal_cause)
    return out


class Attribution(Record):
    """Who a re-link runs for, and which owners accept other users' links without review.

    It gives every link that a re-link adds its cause (rule 4 of the sharing law): none when the
    email's owner caused it; otherwise the acting user, and the link is proposed (it counts for
    nothing until the owner accepts it) unless other users already see the email or the owner
    accepts such links automatically. A link that stays keeps the cause it had; a link chosen by
    hand is the owner's own.
    """

    actor: User | None
    stamp: str
    accepts: Mapping[int, bool]

    def attribute(
        self, e: store.LinkedEmail, before: LinkState, after: LinkState, pending: Mapping[tuple[str, int], LinkCause]
    ) -> LinkState:
        old_causes = dict(before.contact_causes)
        kept = {c[0] for c in before.contacts}
        old_org_causes = dict(before.org_causes)
        kept_orgs = {o[0] for o in before.orgs}
        # The deal this re-link puts the email on, if any: one not chosen by hand, and not the one it had.
        new_deal = None if after.is_deal_manual or after.deal_id == before.deal_id else after.deal_id
        if (
            not old_causes
            and not old_org_causes
            and before.deal_cause is None
            and new_deal is None
            and all(c[0] in kept for c in after.contacts)
            and all(o[0] in kept_orgs for o in after.orgs)
        ):
            return after  # the usual case: nothing new, and nothing that another user's change caused
        visible = seen_by_others(before.facts(e.owner_id, e.visibility))
        causes = []
        for contact_id, _, rule, _ in after.contacts:
            if contact_id in kept:
                cause = old_causes.get(contact_id)
            elif rule == link.RULE_CONTACT_MANUAL:
                cause = None
            else:
                cause = self._new(e.owner_id, visible, pending.get(("contact", contact_id)))
            if cause is not None:
                causes.append((contact_id, cause))
        org_causes = []
        for org_id, _, rule, _ in after.orgs:
            if org_id in kept_orgs:
                cause = old_org_causes.get(org_id)
            elif rule == link.RULE_ORG_MANUAL:
                cause = None
            else:
                cause = self._new(e.owner_id, visible, pending.get(("org", org_id)))
            if cause is not None:
                org_causes.append((org_id, cause))
        if new_deal is not None:
            deal_cause = self._new(e.owner_id, visible, pending.get(("deal", new_deal)))
        else:
            deal_cause = before.deal_cause if after.deal_id is not None and not after.is_deal_manual else None
        return after._replace(contact_causes=tuple(causes), deal_cause=deal_cause, org_causes=tuple(org_causes))

    def _new(self, owner_id: int, visible: bool, pending: LinkCause | None) -> LinkCause | None:
        if self.actor is not None and self.actor.id == owner_id:
            return None
        by = self.actor.id if self.actor is not None else None
        if visible or self.accepts.get(owner_id, False):
            return None if by is None else LinkCause(by, self.stamp, proposed=False)
        if pending is not None:
            return pending  # the conversation already waits for its owner because of that change
        return LinkCause(by, self.stamp, proposed=True)


class Relinker:
    """The company's facts, read once per run, and the thread-by-thread decision."""

    def __init__(
        self, db: Database, *, actor: User | None = None, stamp: str | None = None, remember: bool = True
    ) -> None:
        self.db = db
        self.remember = remember  # reuse a batch's decisions for identical inputs (off: decide each email)
        self.inputs = LinkingInputs(db)
        self.users: dict[int, User] = {u.id: u for u in users_store.list_users(db)}
        accepts = {uid: self.inputs.accepts_colleague_links(u) for uid, u in self.users.items()}
        self.attribution = Attribution(actor, stamp or now_utc(), accepts)

    def plan(self, threads: Sequence[tuple[store.ThreadState, list[store.LinkedEmail]]]):
        """Decide every email of these threads again; returns [(thread, new thread deal, [(email, state)])]."""
        prepared = []
        addresses: set[str] = set()
        manual_ids: set[int] = set()
        manual_org_ids: set[int] = set()
        deal_ids: set[int] = set()
        parsed: dict[int, link.LinkInput] = {}  # by the stored input, which emails with the same one share
        for thread, emails in threads:
            items = []
            for e in emails:
                email_in = parsed.get(id(e.link_input))
                if email_in is None:
                    email_in = parsed[id(e.link_input)] = link.LinkInput.from_json(e.link_input)
                base = self.inputs.base(self.users[e.owner_id], email_in, bcc_deal_id=e.bcc_deal_id)
                customers = link.customer_addresses(email_in, base)
                addresses.update(customers)
                if e.is_links_manual:
                    manual_ids.update(c[0] for c in e.contacts if c[4])
                if e.is_orgs_manual:
                    manual_org_ids.update(o.org_id for o in e.orgs if o.is_manual)
                deal_ids.update(i for i in (e.bcc_deal_id, e.deal_id) if i is not None)
                items.append((e, email_in, base, customers))
            if thread.deal_id is not None:
                deal_ids.add(thread.deal_id)
            prepared.append((thread, items))
        crm = self.inputs.read_crm(addresses, contact_ids=manual_ids, deal_ids=deal_ids, org_ids=manual_org_ids)

        out = []
        # Within a batch the CRM facts are one snapshot: the same owner, message and thread state
        # make the same decision, whichever email asks.
        decided: dict | None = {} if self.remember else None
        for thread, items in prepared:
            ready = []
            for e, email_in, base, customers in items:
                chosen = None
                if e.is_links_manual:
                    chosen = tuple(crm.contacts_by_id[c[0]] for c in e.contacts if c[4] and c[0] in crm.contacts_by_id)
                chosen_orgs = None
                if e.is_orgs_manual:
                    chosen_orgs = tuple(
                        crm.orgs_by_id[o.org_id] for o in e.orgs if o.is_manual and o.org_id in crm.orgs_by_id
                    )
                ctx = functools.partial(complete, base, crm, customers, manual_contacts=chosen, manual_orgs=chosen_orgs)
                ready.append((e, email_in, ctx, _ids(chosen), _ids(chosen_orgs)))
            out.append(self._decide_thread(thread, ready, crm.deals_by_id, decided))
        return out

    def _decide_thread(self, thread: store.ThreadState, ready, deals, decided: dict | None):
        if thread.is_deal_manual:
            states, _ = _thread_pass(ready, link.ThreadLinks(thread.deal_id, True), held=False, decided=decided)
            return thread, (thread.deal_id, thread.deal_rule), states
        states, final = _thread_pass(ready, None, held=False, decided=decided)
        held = deals.get(thread.deal_id) if thread.deal_id is not None else None
        if held is not None and held.status != "deleted" and final[0] != held.id:
            states, final = _thread_pass(ready, link.ThreadLinks(held.id, False), held=True, decided=decided)
        if final[0] == thread.deal_id:
            final = (thread.deal_id, thread.deal_rule)  # the rule that first put the thread on it
        return thread, final, states


def _thread_pass(ready, start: link.ThreadLinks | None, *, held: bool, decided: dict | None = None):
    """Link a thread's emails in capture order, as capture would: a new deal covers the thread so far.

    ``decided``: the decisions of this batch so far, by everything the engine reads that differs
    from one email to the next (the batch's CRM facts are the same for all), reused as they are."""
    running = start
    running_rule = None
    manual = start is not None and start.deal_is_manual
    states: list[tuple[store.LinkedEmail, LinkState]] = []
    for e, email_in, context, chosen, chosen_orgs in ready:
        held_deal_id = e.deal_id if held else None
        key = None
        state = None
        if decided is not None:
            key = (e.owner_id, email_in, e.bcc_deal_id, running, held_deal_id, chosen, chosen_orgs)
            state = decided.get(key)
        if state is None:
            state = LinkState.of(link.decide_links(email_in, context(thread=running, held_deal_id=held_deal_id)))
            if decided is not None:
                decided[key] = state
        if not manual and state.deal_id is not None and (running is None or running.deal_id != state.deal_id):
            running, running_rule = link.ThreadLinks(state.deal_id, False), state.deal_rule
            states = [
                (
                    prev,
                    s
                    if s.verdict == link.VERDICT_INTERNAL
                    else s._replace(
                        deal_id=state.deal_id, deal_rule=state.deal_rule, is_deal_manual=False, needs_deal=False
                    ),
                )
                for prev, s in states
            ]
        states.append((e, state))
    if manual and start is not None:
        return states, (start.deal_id, None)
    return states, ((running.deal_id, running_rule) if running is not None else (None, None))


def _ids(chosen) -> tuple[int, ...] | None:
    """The ids of the contacts or organizations chosen by hand (None: not chosen by hand)."""
    return None if chosen is None else tuple(c.id for c in chosen)


def _apply(
    db: Database,
    planned,
    report: RelinkReport,
    attribution: Attribution,
    *,
    dry_run: bool,
    on_change: OnChange | None,
    one_by_one: bool = False,
) -> None:
    """Compare each email's new links with its stored ones, report the changes and write them: a
    batch's writes together, in a few statements (``one_by_one``: each email's as it comes, the
    reference the batched writes are tested against)."""
    writes: list[store.LinkWrite] = []
    thread_deals: list[tuple[int, int | None, str | None]] = []
    for thread, (deal_id, deal_rule), states in planned:
        pending = _pending(e for e, _ in states)
        seen_thread = False
        for e, decided in states:
            before = _current(e)
            if report.counts(e, before):
                report.emails += 1
                seen_thread = True
            after = attribution.attribute(e, before, decided, pending)
            if after == before:
                continue
            change = Change(e.id, e.owner_id, e.thread_id, e.visibility, before, after)
            report.add(change)
            if on_change is not None and change.visible and report.shows(change):
                on_change(change)
            if not dry_run:
                writes.append(_link_write(e, after))
                if one_by_one:
                    _write_one(db, writes.pop())
        report.threads += seen_thread
        if not dry_run and not thread.is_deal_manual and (deal_id, deal_rule) != (thread.deal_id, thread.deal_rule):
            thread_deals.append((thread.id, deal_id, deal_rule))
            if one_by_one:
                store.write_thread_deal(db, *thread_deals.pop())
    store.write_links(db, writes)
    store.write_thread_deals(db, thread_deals)


def _write_one(db: Database, w: store.LinkWrite) -> None:
    """One email's links in statements of its own, as every write was made before batches."""
    store.write_email_links(
        db,
        w.email_id,
        deal_id=w.deal_id,
        deal_rule=w.deal_rule,
        deal_cause=w.deal_cause,
        is_deal_manual=w.is_deal_manual,
        needs_deal=w.needs_deal,
        is_automated=w.is_automated,
        verdict=w.verdict,
        trace_json=w.trace_json,
        contacts=w.contacts,
        contacts_manual=w.contacts_manual,
        orgs=w.orgs,
        orgs_manual=w.orgs_manual,
    )


def _link_write(e: store.LinkedEmail, after: LinkState) -> store.LinkWrite:
    """The write of ``after`` over what ``e`` holds: the rows that already read so are left alone, and
    a delete is asked for only where a stored link of the kind written is not named again."""
    causes = dict(after.contact_causes)
    org_causes = dict(after.org_causes)
    contacts = [(*c, causes.get(c[0])) for c in after.contacts]
    orgs = [(*o, org_causes.get(o[0])) for o in after.orgs]
    return store.LinkWrite(
        e.id,
        after.deal_id,
        after.deal_rule,
        after.deal_cause,
        after.is_deal_manual,
        after.needs_deal,
        after.is_automated,
        after.verdict,
        after.trace_json,
        contacts,
        e.is_links_manual,
        orgs,
        e.is_orgs_manual,
        contacts_to_drop=_drops(e.contacts, e.is_links_manual, contacts),
        orgs_to_drop=_drops(e.orgs, e.is_orgs_manual, orgs),
        contacts_kept=_kept(e.contacts, e.is_links_manual, contacts),
        orgs_kept=_kept(e.orgs, e.is_orgs_manual, orgs),
        has_link=_has_link_after(e.contacts, e.is_links_manual, contacts)
        or _has_link_after(e.orgs, e.is_orgs_manual, orgs),
    )


def _has_link_after(stored, manual: bool, new) -> bool:
    """Whether the email keeps a link of this table that counts for sharing once ``new`` replaced
    its links of one kind: a stored row of the other kind that counts, or a new one that counts and
    meets no row of the other kind (such a row stays, and the new one is not written)."""
    others = {row[0]: row for row in stored if row.is_manual != manual}
    if any(row.cause is None or not row.cause.proposed for row in others.values()):
        return True
    return any(row[0] not in others and (row[4] is None or not row[4].proposed) for row in new)


def _drops(stored, manual: bool, new) -> bool:
    """Whether a stored link of the kind written (by hand or not) is not among the new ones."""
    named = {row[0] for row in new}
    return any(row[0] not in named and row.is_manual == manual for row in stored)


def _kept(stored, manual: bool, new) -> frozenset[int]:
    """The ids whose stored row a write would leave as it is: a row of the other kind, or one that
    already holds exactly the new link (without a cause on either side)."""
    wanted = {row[0]: row for row in new}
    kept = set()
    for row in stored:
        if row[0] not in wanted:
            continue
        if row.is_manual != manual:
            kept.add(row[0])
            continue
        key, address, rule, reason, cause = wanted[row[0]]
        if cause is None and row.cause is None and (row.address, row.rule, row.reason) == (address, rule, reason):
            kept.add(key)
    return frozenset(kept)


# --- who a re-link runs for ------------------------------------------------------------------------


class _Acting(Record):
    by: User | None
    report: RelinkReport | None  # a rule change adding up what its re-links did
    stamp: str | None = None  # when ``by`` made the change, if not now (a re-link that waited for its owner)


_acting: ContextVar[_Acting] = ContextVar("pdmail_relink_acting", default=_Acting(None, None))


@contextmanager
def acting(by: User | None, *, stamp: str | None = None) -> Iterator[None]:
    """The re-links inside run for ``by``: links they add to other users' mail are caused by ``by``.

    Outside any such block a re-link runs for nobody, and every link it adds to mail that only its
    owner sees waits for that owner: forgetting to say who acts can never widen who sees mail.
    """
    token = _acting.set(_Acting(by, _acting.get().report, stamp))
    try:
        yield
    finally:
        _acting.reset(token)


class _Undo(Exception):
    """Ends a dry run: everything it wrote is rolled back."""


@contextmanager
def rule_change(db: Database, by: User, *, dry_run: bool = False) -> Iterator[RelinkReport]:
    """One change to the rules that link mail (a contact, a deal, the block list, an address...) made by ``by``.

    The change and every re-link it triggers are one transaction, run for ``by``; the report yielded
    adds up the re-links, counted over what ``by`` may see. With ``dry_run`` it is all rolled back at
    the end: the report says what the change would do and nothing is written.
    """
    report = RelinkReport(dry_run=dry_run, viewer_id=by.id)
    token = _acting.set(_Acting(by, report))
    try:
        with db.tx():
            yield report
            if dry_run:
                raise _Undo
    except _Undo:
        pass
    finally:
        _acting.reset(token)


def relink_threads(
    db: Database,
    thread_ids: Iterable[int],
    *,
    dry_run: bool = False,
    on_change: OnChange | None = None,
    batch: int = RESCAN_BATCH,
) -> RelinkReport:
    """Link these threads again, inside the caller's transaction (or one of its own), for whoever acts."""
    ids = sorted(set(thread_ids))
    current = _acting.get()
    report = current.report if current.report is not None else RelinkReport(dry_run=dry_run)
    if not ids:
        return report
    relinker = Relinker(db, actor=current.by, stamp=current.stamp)
    with db.tx():
        for start in range(0, len(ids), batch):
            planned = relinker.plan(store.load_threads(db, ids[start : start + batch]))
            _apply(db, planned, report, relinker.attribution, dry_run=dry_run, on_change=on_change)
    return report


def rescan(
    db: Database,
    *,
    by: User | None = None,
    dry_run: bool = False,
    batch: int = RESCAN_BATCH,
    progress: Progress | None = None,
    on_change: OnChange | None = None,
    one_by_one: bool = False,
) -> RelinkReport:
    """Link stored email again; each batch of threads is its own short transaction.

    An admin's rescan (or a library call's, ``by`` None) covers every user's email, anyone else's
    only their own. It runs for ``by``: links it adds to other users' mail only nobody else sees are
    proposed to them (rule 4). The report counts and lists only the email ``by`` may see.

    Each batch reuses a decision for every email with the same inputs and writes its changes in a
    few statements; ``one_by_one`` decides and writes every email on its own instead (the slow
    reference the tests hold the fast way to).
    """
    relinker = Relinker(db, actor=by, remember=not one_by_one)
    owner_id = None if by is None or by.is_admin else by.id
    report = RelinkReport(dry_run=dry_run, viewer_id=None if by is None else by.id)
    if owner_id is None and not dry_run:
        with db.tx(), acting(by):
            _ask_owners(db, {"everything": True})
    total = store.count_emails(db) if by is None else store.count_visible_emails(db, by.id, owner_id=owner_id)
    if progress is not None:
        progress(0, total)
    with db.bulk_writes():  # every email may change: the settings of a writer of many rows
        for ids in store.thread_batches(db, batch, owner_id=owner_id):
            with nullcontext() if dry_run else db.tx():
                _apply(
                    db,
                    relinker.plan(store.load_threads(db, ids)),
                    report,
                    relinker.attribution,
                    dry_run=dry_run,
                    on_change=on_change,
                    one_by_one=one_by_one,
                )
            if progress is not None:
                progress(report.emails, total)
    return report


# --- new mail in a conversation under review ------------------------------------------------------


def after_capture(db: Database, thread_id: int, email_id: int) -> None:
    """New mail in a conversation whose links wait for its owner waits with them.

    Capture links a new email by today's contacts and deals, and that counts at once; but where the
    same contact or deal waits for the owner's acceptance elsewhere in the thread, the new email's
    link to it comes from the same change and waits too. So does a deal found through a contact that
    the email is linked to only by a proposal, on every email capture put on that deal.
    """
    if not store.thread_has_proposals(db, thread_id):
        return  # the usual case: one indexed look-up
    store.follow_contact_proposals(db, thread_id, email_id)
    deal_id, rule, manual = store.email_deal(db, email_id)
    if deal_id is None or manual:
        return
    if rule == link.RULE_THREAD_DEAL:
        cause = store.pending_thread_deal(db, thread_id, email_id, deal_id)
        if cause is not None:
            store.propose_deal(db, cause, deal_id=deal_id, email_id=email_id)
    elif rule == link.RULE_DEAL_SINGLE_OPEN:  # capture put the whole thread on it
        cause = store.pending_deal_contact(db, email_id, deal_id)
        if cause is not None:
            store.propose_deal(db, cause, deal_id=deal_id, thread_id=thread_id)


# --- the changes that trigger a re-link ---------------------------------------------------------


def after_addresses_changed(db: Database, addresses: Iterable[str]) -> RelinkReport:
    """A contact got these addresses, or a user did (an alternative address, a new colleague)."""
    found = sorted({normalize_address(a) for a in addresses})
    _ask_owners(db, {"addresses": found})
    return relink_threads(db, _threads_in_scope(db, {"addresses": found}))


def after_team_addresses_changed(db: Database, addresses: Iterable[str]) -> RelinkReport:
    """A user got or lost these addresses (a login, an alternative address): their mail, and, where an
    organization lists the address's domain, all the mail at that domain, which now identifies the
    organization or no longer does (the company's own domains never identify one)."""
    found = sorted({normalize_address(a) for a in addresses})
    claimed = [d for d in sorted({domain_of(a) for a in found if "@" in a}) if store.orgs_claim_domain_of(db, d)]
    scope = {"addresses": found, "domains": claimed}
    _ask_owners(db, scope)
    return relink_threads(db, _threads_in_scope(db, scope))


def after_contact_added(db: Database, contact: Contact) -> RelinkReport:
    return after_addresses_changed(db, contact.emails)


def after_deals_changed(db: Database, deal_ids: Iterable[int]) -> RelinkReport:
    """Deals were created, reopened, won or lost: their contacts' mail, and the mail they hold."""
    scope = {"deals": sorted(set(deal_ids))}
    _ask_owners(db, scope)
    return relink_threads(db, _threads_in_scope(db, scope))


def after_org_domains_changed(db: Database, domains: Iterable[str]) -> RelinkReport:
    """An organization got or lost these domains: the mail at them and their subdomains, and the
    mail the organization holds by domain already."""
    scope = {"addresses": [], "domains": sorted(set(domains))}
    _ask_owners(db, scope)
    return relink_threads(db, _threads_in_scope(db, scope))


def after_block_changed(db: Database, pattern: str) -> RelinkReport:
    """An address or a whole domain was blocked or unblocked."""
    scope = {"block": pattern}
    _ask_owners(db, scope)
    return relink_threads(db, _threads_in_scope(db, scope))


def after_contact_removed(db: Database, contact: Contact) -> None:
    """The mail of a removed contact, whose links are gone: on a team server, its owners' too."""
    _ask_owners(db, {"addresses": sorted(contact.emails)})


def _threads_in_scope(db: Database, scope: Mapping) -> list[int]:
    """The threads a recorded change touches, among those this connection may see (the mail server's
    login sees none: every owner re-links their own)."""
    if db.capture_only:
        return []
    if "addresses" in scope:  # and the mail at the domains an organization gained, lost or was found by
        found = set(store.threads_with_addresses(db, scope["addresses"]))
        for domain in scope.get("domains", ()):
            found.update(store.threads_with_domain(db, domain))
        return sorted(found)
    if "block" in scope:
        pattern = scope["block"]
        if pattern.startswith("@"):
            return store.threads_with_domain(db, pattern[1:])
        return store.threads_with_addresses(db, [pattern])
    if "deals" in scope:
        threads: set[int] = set()
        contacts: set[int] = set()
        orgs: set[int] = set()
        for deal_id in scope["deals"]:
            threads.update(store.threads_of_deal(db, deal_id))
            contact_id = store.deal_contact(db, deal_id)
            if contact_id is not None:
                contacts.add(contact_id)
            org_id = store.deal_org(db, deal_id)
            if org_id is not None:
                orgs.add(org_id)
        if contacts:
            threads.update(store.threads_of_contacts(db, contacts))
        if orgs:  # mail linked to the organization reaches its deals
            threads.update(store.threads_of_orgs(db, orgs))
        return sorted(threads)
    raise ValueError(f"a re-link of unknown scope: {scope}")


# --- the team server: re-links that wait for the mail's owner -------------------------------------
#
# There each user's connection sees only what the sharing law lets it see, so a change re-links the
# mail its author may see, and nothing else. Every other user's own mail is re-linked by that
# user's pdmail at their next command, on the author's behalf and dated when the change was made:
# links it adds to mail nobody else sees are proposed to them, as on a file (rule 4).


def _ask_owners(db: Database, scope: dict) -> None:
    if not db.has_logins:
        return
    current = _acting.get()
    by = current.by.id if current.by is not None else None
    store.record_relink_request(db, by, current.stamp or now_utc(), scope)


def catch_up(db: Database, user: User) -> int:
    """Re-link ``user``'s own mail for the changes other users made since their last command; how many.

    Each change in its own transaction, marked done with it: an interrupted catch-up goes on from
    there next time. The user's own changes re-linked their mail when they were made, and are
    passed over without a write.
    """
    if not db.has_logins:
        return 0
    waiting = [r for r in store.relink_requests_for(db, user.id) if r.caused_by != user.id]
    for request in waiting:  # none: nothing is written, so a command with --dry-run writes nothing
        with db.tx():
            _relink_own(db, user, request)
            store.mark_relinked(db, user.id, request.id)
    return len(waiting)


def _relink_own(db: Database, user: User, request: store.RelinkRequest) -> None:
    """The change, on the user's own mail, as if it had been made on a file: mail captured since then
    (held for this change) is first put back as capture stored it, the conversations are linked
    again on the author's behalf, and that new mail then follows what waits in its conversation,
    as capture's follow-up does after a change."""
    captured_since = store.release_held(db, request)
    if request.scope.get("everything"):
        threads = store.own_threads(db, user.id)
    else:
        found = _threads_in_scope(db, request.scope) + [t for t, _ in captured_since]
        threads = store.threads_owned_by(db, found, user.id)
    author = users_store.get_user(db, request.caused_by) if request.caused_by is not None else None
    with acting(author, stamp=request.caused_utc):
        relink_threads(db, threads)
    for thread_id, email_id in captured_since:
        after_capture(db, thread_id, email_id)


def hold_new_mail(db: Database, owner: User, email_id: int, thread_id: int | None, links: LinkState) -> bool:
    """New mail for an owner whose pdmail has not yet re-linked their mail for a colleague's change
    (the team server): if it joins a conversation that existed when the change was made, each of its
    links the change may concern waits for the owner, caused by the change, until :func:`catch_up`
    decides it as a file would have. Without this, mail arriving meanwhile in a conversation the
    change would only have proposed to link would be seen by others at once.

    Whether the change concerns a link: a contact or organization reached through an address the
    change named, or an organization through a domain it named; a deal it named, or reached through
    such a contact or organization; anything, for a block-list change or a rescan. ``thread_id`` is
    None for mail that starts a conversation: nothing older waits there. Returns whether any link
    was held.
    """
    if not db.has_logins or thread_id is None or not (links.contacts or links.orgs or links.deal_id is not None):
        return False
    waiting = [r for r in store.relink_requests_for(db, owner.id) if r.caused_by != owner.id]
    if waiting:
        started = store.thread_created_utc(db, thread_id)
        waiting = [r for r in waiting if started <= r.caused_utc]
    contacts: dict[int, store.RelinkRequest] = {}
    orgs: dict[int, store.RelinkRequest] = {}
    deal = None
    for request in waiting:
        named = set(request.scope.get("addresses", ()))
        domains = request.scope.get("domains", ())
        wide = "block" in request.scope or "everything" in request.scope
        for contact_id, address, *_ in links.contacts:
            if contact_id not in contacts and (wide or address in named):
                contacts[contact_id] = request
        for org_id, address, *_ in links.orgs:
            if org_id not in orgs and (wide or address in named or _at_any(address, domains)):
                orgs[org_id] = request
        concerned = wide or links.deal_id in request.scope.get("deals", ()) or bool(contacts) or bool(orgs)
        if deal is None and links.deal_id is not None and not links.is_deal_manual and concerned:
            deal = request
    if not contacts and not orgs and deal is None:
        return False
    store.hold_for_owner(db, email_id, contacts, orgs, deal)
    return True


def _at_any(address: str, domains: Iterable[str]) -> bool:
    """Whether the address is at one of these domains or a subdomain of one (as organizations match)."""
    at = domain_of(address) if "@" in address else address
    return any(at == d or at.endswith("." + d) for d in domains)
