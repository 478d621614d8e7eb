"""Links set by hand: a deal (or none) for a thread, the contacts of an email, and splitting a thread.

A thread has at most one deal, so choosing a deal for one email chooses it for its whole thread,
including mail that arrives later. A manual choice is final for automatic linking: re-linking and
new mail never override it; only another manual choice does. Only the owner of an email may change
its links: a colleague who may see it is told so, and to anyone else it does not exist.

Links that another user's change proposed (rule 4 of the sharing law) are reviewed here too, a
thread at a time: accepting makes them count; rejecting is a choice by hand that drops them.
"""

from __future__ import annotations

from dataclasses import dataclass

from pdmail.core.errors import UsageError
from pdmail.core.models import User
from pdmail.linking import relink
from pdmail.linking import threads as threading_rules
from pdmail.store import crm as crm_store
from pdmail.store import emails as emails_store
from pdmail.store import links as links_store
from pdmail.store import mailbox
from pdmail.store.db import Database, now_utc


@dataclass(frozen=True)
class LinkRequest:
    """What ``pdmail link ID`` was asked to do; the steps run in this order: split, contacts, organizations, deal."""

    split: bool = False
    contact_ids: tuple[int, ...] | None = None
    org_ids: tuple[int, ...] | None = None
    deal_id: int | None = None
    no_deal: bool = False
    accept: bool = False  # the links another user's change proposed for the email's thread
    reject: bool = False

    def check(self) -> None:
        if self.no_deal and self.deal_id is not None:
            raise UsageError("say --deal N or --none, not both")
        if self.accept and self.reject:
            raise UsageError("say --accept or --reject, not both")
        if (self.accept or self.reject) and (
            self.split
            or self.contact_ids is not None
            or self.org_ids is not None
            or self.deal_id is not None
            or self.no_deal
        ):
            raise UsageError("--accept and --reject go alone: review the proposed links first, then link by hand")
        if not (
            self.split
            or self.contact_ids is not None
            or self.org_ids is not None
            or self.deal_id is not None
            or self.no_deal
            or self.accept
            or self.reject
        ):
            raise UsageError("say what to link: --deal N, --contact N, --org N, --none, --split, --accept or --reject")


def apply(db: Database, user: User, email_id: int, request: LinkRequest) -> dict:
    """Carry out a request in one transaction; returns the email as its owner now sees it.

    With --accept or --reject the email also says what was accepted or rejected under that name (a
    list, empty when nothing was proposed on the thread), so that nobody is told of a change that
    did not happen.
    """
    request.check()
    reviewed: dict[str, list[dict]] = {}
    with db.tx(), relink.acting(user):
        row = mailbox.get_owned_email_row(db, user, email_id, "change the links of email {email}")
        if request.accept:
            reviewed["accepted"] = _reviewed(_accept(db, user, row))
        if request.reject:
            reviewed["rejected"] = _reviewed(_reject(db, user, row))
        if request.split:
            _split(db, user, row)
        if request.contact_ids is not None:
            _set_contacts(db, user, email_id, request.contact_ids)
        if request.org_ids is not None:
            _set_orgs(db, user, email_id, request.org_ids)
        if request.deal_id is not None or request.no_deal:
            _set_deal(db, user, email_id, None if request.no_deal else request.deal_id)
    return {**mailbox.get_email(db, user, email_id), **reviewed}


def _reviewed(proposals: list[dict]) -> list[dict]:
    """The proposed links an --accept or --reject dealt with, one per email and contact or deal."""
    return [{"email": p["email_id"], "kind": p["kind"], "id": p["target"]} for p in proposals]


def set_deal(db: Database, user: User, email_id: int, deal_id: int | None) -> dict:
    """The chooser's one call: a deal, or ``None`` for "no deal", for the email's thread."""
    return apply(db, user, email_id, LinkRequest(deal_id=deal_id, no_deal=deal_id is None))


def _set_deal(db: Database, user: User, email_id: int, deal_id: int | None) -> None:
    if deal_id is not None:
        crm_store.get_deal(db, deal_id)  # exists and not deleted; any status: the user knows best
    row = mailbox.get_owned_email_row(db, user, email_id)
    thread = emails_store.get_thread(db, row["thread_id"])
    links_store.set_thread_manual_deal(db, thread.id, deal_id)
    emails_store.audit(
        db,
        user_id=user.id,
        action="deal",
        email_id=email_id,
        thread_id=thread.id,
        before=_deal_text(thread.deal_id, thread.is_deal_manual),
        after=_deal_text(deal_id, True),
        stamp=now_utc(),
    )
    relink.relink_threads(db, [thread.id])


def _deal_text(deal_id: int | None, manual: bool) -> str:
    what = "no deal" if deal_id is None else f"deal {deal_id}"
    return f"{what} ({'by hand' if manual else 'automatic'})"


def _set_contacts(db: Database, user: User, email_id: int, contact_ids: tuple[int, ...]) -> None:
    for contact_id in contact_ids:
        crm_store.get_contact(db, contact_id)
    before = links_store.email_contact_ids(db, email_id)
    links_store.set_manual_contacts(db, email_id, contact_ids)
    row = mailbox.get_owned_email_row(db, user, email_id)
    emails_store.audit(
        db,
        user_id=user.id,
        action="contacts",
        email_id=email_id,
        thread_id=row["thread_id"],
        before=" ".join(map(str, before)) or "none",
        after=" ".join(map(str, sorted(set(contact_ids)))) or "none",
        stamp=now_utc(),
    )
    relink.relink_threads(db, [row["thread_id"]])


def _set_orgs(db: Database, user: User, email_id: int, org_ids: tuple[int, ...]) -> None:
    for org_id in org_ids:
        crm_store.get_org(db, org_id)
    before = links_store.email_org_ids(db, email_id)
    links_store.set_manual_orgs(db, email_id, org_ids)
    row = mailbox.get_owned_email_row(db, user, email_id)
    emails_store.audit(
        db,
        user_id=user.id,
        action="orgs",
        email_id=email_id,
        thread_id=row["thread_id"],
        before=" ".join(map(str, before)) or "none",
        after=" ".join(map(str, sorted(set(org_ids)))) or "none",
        stamp=now_utc(),
    )
    relink.relink_threads(db, [row["thread_id"]])


def _proposal_text(proposals: list[dict]) -> str:
    parts = [
        f"{p['kind']} {p['target']} on email {p['email_id']} (proposed by {p['caused_by'] or 'no user'})"
        for p in proposals
    ]
    return "; ".join(parts) or "nothing proposed"


def _accept(db: Database, user: User, row) -> list[dict]:
    """The owner accepts what another user's change proposed for this thread: it counts from now on."""
    proposals = links_store.thread_proposals(db, row["thread_id"])
    if not proposals:
        return proposals
    links_store.accept_thread_proposals(db, row["thread_id"])
    emails_store.audit(
        db,
        user_id=user.id,
        action="accept",
        email_id=row["id"],
        thread_id=row["thread_id"],
        before=_proposal_text(proposals),
        after="accepted",
        stamp=now_utc(),
    )
    return proposals


def _reject(db: Database, user: User, row) -> list[dict]:
    """The owner rejects: a choice by hand, so that no re-link proposes the same links again.

    Each email with a proposed contact (or organization) keeps, chosen by hand, only the contacts
    (or organizations) that count; a proposed deal makes the thread "no deal", set by hand. Both
    only take links away.
    """
    proposals = links_store.thread_proposals(db, row["thread_id"])
    if not proposals:
        return proposals
    for email_id in sorted({p["email_id"] for p in proposals if p["kind"] == "contact"}):
        links_store.set_manual_contacts(db, email_id, links_store.accepted_contact_ids(db, email_id))
    for email_id in sorted({p["email_id"] for p in proposals if p["kind"] == "org"}):
        links_store.set_manual_orgs(db, email_id, links_store.accepted_org_ids(db, email_id))
    if any(p["kind"] == "deal" for p in proposals):
        links_store.set_thread_manual_deal(db, row["thread_id"], None)
    emails_store.audit(
        db,
        user_id=user.id,
        action="reject",
        email_id=row["id"],
        thread_id=row["thread_id"],
        before=_proposal_text(proposals),
        after="rejected",
        stamp=now_utc(),
    )
    relink.relink_threads(db, [row["thread_id"]])
    return proposals


def _split(db: Database, user: User, row) -> int:
    """Move the email and its replies (direct or not) into a thread of their own."""
    members = links_store.thread_members(db, row["thread_id"])
    moving = replies_of(db, row["id"], members)
    if len(moving) == len(members):
        raise UsageError(f"email {row['id']} and its replies are the whole thread; there is nothing to split off")
    by_id = {m["id"]: m for m in members}
    stamp = now_utc()
    new_thread = links_store.split_thread(
        db,
        owner_id=user.id,
        old_thread=row["thread_id"],
        email_ids=sorted(moving),
        message_ids=[by_id[i]["message_id_norm"] for i in moving if by_id[i]["message_id_norm"]],
        subject_norm=threading_rules.normalize_subject(row["subject"]),
        stamp=stamp,
    )
    for action, thread in (("split-off", row["thread_id"]), ("split", new_thread)):
        emails_store.audit(
            db,
            user_id=user.id,
            action=action,
            email_id=row["id"],
            thread_id=thread,
            before=row["thread_id"],
            after=new_thread,
            stamp=stamp,
        )
    relink.relink_threads(db, [row["thread_id"], new_thread])
    return new_thread


def replies_of(db: Database, email_id: int, members: list[dict]) -> set[int]:
    """The email and every email of its thread that answers it, directly or down a chain of replies.

    A message's parent is the nearest message it names (In-Reply-To, then References from the
    newest back) among the thread's own messages; the headers are read again from the stored bytes.
    """
    from pdmail.mime.parse import MessageRefused, parse_message

    own_ids = {m["message_id_norm"]: m["id"] for m in members if m["message_id_norm"]}
    parent: dict[int, int] = {}
    for m in members:
        if m["wrapper_sha256"] and m["raw_sha256"] == m["wrapper_sha256"]:
            continue  # an inline forward: the original's headers were not kept
        raw = emails_store.get_raw(db, m["raw_sha256"])
        if raw is None:
            continue
        try:
            parsed = parse_message(raw)
        except MessageRefused:
            continue
        chain = threading_rules.thread_ids(None, parsed.in_reply_to, parsed.references)
        for ident in chain:
            target = own_ids.get(ident)
            if target is not None and target != m["id"]:
                parent[m["id"]] = target
                break
    moving = {email_id}
    grew = True
    while grew:
        grew = False
        for child, up in parent.items():
            if up in moving and child not in moving:
                moving.add(child)
                grew = True
    return moving


# --- choosing a deal ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Pending:
    email: dict
    candidates: list[dict]

    def to_json(self) -> dict:
        return self.email | {"candidates": self.candidates}


def candidates(db: Database, user: User, email_id: int) -> Pending:
    """One of the user's emails with the open deals of its contacts."""
    mailbox.get_owned_email_row(db, user, email_id, "choose a deal for email {email}")
    return Pending(mailbox.get_email(db, user, email_id), links_store.candidate_deals(db, email_id))


def pending(db: Database, user: User, limit: int | None = None) -> list[Pending]:
    """The user's emails that need a deal, newest first, each with its candidate deals."""
    return [candidates(db, user, i) for i in links_store.emails_needing_deal(db, user.id, limit)]


# --- reviewing what other users' changes proposed ------------------------------------------------


def review(db: Database, user: User) -> list[dict]:
    """The user's emails holding links another user's change proposed, newest first, with those links."""
    out = []
    for email_id in links_store.emails_with_proposals(db, user.id):
        email = mailbox.get_email(db, user, email_id)
        email.pop("text", None)
        thread = links_store.thread_proposals(db, email["thread_id"])
        email["proposals"] = [
            {
                "kind": p["kind"],
                "id": p["target"],
                "name": p["name"],
                "caused_by": p["caused_by"],
                "caused_at_utc": p["caused_at"],
            }
            for p in thread
            if p["email_id"] == email_id
        ]
        out.append(email)
    return out
