"""Why an email is linked as it is, and who can see it: the answer to "why is this on that deal?".

The rule trace was written by the engine when the email was last linked; this module adds what the
trace cannot know by itself (the thread's deal set by another email, choices made by hand, the
history of those choices) and the visibility law applied to every user.
"""

from __future__ import annotations

import json

from pdmail.core.models import User
from pdmail.linking import engine as link
from pdmail.store import links as links_store
from pdmail.store import mailbox
from pdmail.store import users as users_store
from pdmail.store.db import Database
from pdmail.visibility import can_view, why

_VERDICTS = {
    link.VERDICT_BLOCKED: "Every sender is blocked and nobody else on it is a customer.",
    link.VERDICT_INTERNAL: "Internal mail: everyone on it works here, so it is linked to no contact and no deal.",
    link.VERDICT_AUTOMATED: "Automated or bulk mail: its contacts are linked, but it never picks a deal by itself.",
}


def _cause_notes(email_id: int, contacts: list[dict], f: dict, deal_proposed: bool, orgs: list[dict]) -> list[str]:
    """For the owner: links another user's change made, and those that wait for the owner (rule 4)."""
    notes = []
    waiting = [c for c in contacts if c["is_proposed"]]
    for c in waiting:
        notes.append(
            f"Contact {c['contact_id']} ({c['name']}) was proposed by {_who(c['caused_by'])} on "
            f"{c['caused_utc']}: it does not count for sharing until you accept it."
        )
    waiting_orgs = [o for o in orgs if o["is_proposed"]]
    for o in waiting_orgs:
        notes.append(
            f"Organization {o['org_id']} ({o['name']}) was proposed by {_who(o['caused_by'])} on "
            f"{o['caused_utc']}: it does not count for sharing until you accept it."
        )
    waiting = waiting + waiting_orgs
    if deal_proposed:
        notes.append(
            f"Deal {f['deal_id']} was proposed by {_who(f['deal_caused_by'])} on {f['deal_caused_utc']}: "
            "it does not count for sharing until you accept it."
        )
    if waiting or deal_proposed:
        notes.append(
            f"Accept with `pdmail link {email_id} --accept` or reject with `pdmail link {email_id} "
            "--reject` (for the whole thread); `pdmail link --review` lists all that waits for you."
        )
    for c in contacts:
        if c["caused_by"] and not c["is_proposed"]:
            notes.append(
                f"Contact {c['contact_id']} ({c['name']}) was linked after a change by {c['caused_by']} "
                f"on {c['caused_utc']}."
            )
    for o in orgs:
        if o["caused_by"] and not o["is_proposed"]:
            notes.append(
                f"Organization {o['org_id']} ({o['name']}) was linked after a change by {o['caused_by']} "
                f"on {o['caused_utc']}."
            )
    if f["deal_id"] is not None and f["deal_caused_by"] and not deal_proposed:
        notes.append(
            f"Deal {f['deal_id']} was linked after a change by {f['deal_caused_by']} on {f['deal_caused_utc']}."
        )
    return notes


def _whose(candidates: list[dict], contacts: list[dict]) -> str:
    """Whose open deals the email chooses from: its contacts', or (when they have none) its organizations'."""
    linked = {c["contact_id"] for c in contacts}
    return "contacts" if not candidates or any(c["contact_id"] in linked for c in candidates) else "organizations"


def _who(email: str | None) -> str:
    return email or "a change made without a user"


def explain(db: Database, viewer: User, email_id: int) -> dict:
    """The explanation of one email the viewer may see; any other email reads as not found."""
    mailbox.get_email_row(db, viewer, email_id)  # the visibility law, or NotFound
    f = links_store.explain_facts(db, email_id, viewer.id)
    thread = f["thread"]
    trace = json.loads(f["link_trace_json"] or "[]")
    notes: list[str] = []
    # Links that wait for the owner's acceptance (rule 4) are the owner's to see.
    own = viewer.id == f["owner_id"]
    deal_proposed = bool(f["is_deal_proposed"]) and f["deal_id"] is not None
    hide_deal = deal_proposed and not own
    contacts = [c for c in f["contacts"] if own or not c["is_proposed"]]
    orgs = [o for o in f["orgs"] if own or not o["is_proposed"]]

    if thread["is_deal_manual"]:
        what = "no deal" if thread["deal_id"] is None else f"deal {thread['deal_id']}"
        notes.append(f"The thread's deal was set by hand to {what}; automatic linking and new mail never change it.")
    elif (
        f["deal_id"] is not None
        and not hide_deal
        and not any(f"deal {f['deal_id']}" in step["reason"] for step in trace)
    ):
        notes.append(
            f"The email carries deal {f['deal_id']} because its thread is on it ({thread['deal_rule'] or 'automatic'}"
            f" for another email of the thread); a thread has at most one deal and all its email shares it."
        )
    if f["is_links_manual"]:
        notes.append("Its contacts were chosen by hand; matching by address no longer applies to it.")
    if f["is_orgs_manual"]:
        notes.append("Its organizations were chosen by hand; matching by domain no longer applies to it.")
    if f["link_verdict"] in _VERDICTS:
        notes.append(_VERDICTS[f["link_verdict"]])
    deal = None if hide_deal else f["deal"]
    if own:
        notes += _cause_notes(email_id, contacts, f, deal_proposed, orgs)
    candidates = links_store.candidate_deals(db, email_id) if f["needs_deal"] else []
    if f["needs_deal"]:
        notes.append(
            f"It needs a deal: its {_whose(candidates, contacts)} have several open deals "
            f"({', '.join(str(c['id']) for c in candidates) or 'none left'}); choose with `pdmail link {email_id}`."
        )

    facts = mailbox.facts(db, email_id)
    seen_by = []
    for user in users_store.list_users(db):
        seen_by.append({"user": user.email, "can_view": can_view(user.id, facts), "why": why(user.id, facts)})
    return {
        "id": email_id,
        "owner": f["owner_email"],
        "direction": f["direction"],
        "subject": f["subject"],
        "thread": {
            "id": thread["id"],
            "deal": None if hide_deal else thread["deal_id"],
            "deal_rule": None if hide_deal else thread["deal_rule"],
            "manual": bool(thread["is_deal_manual"]),
            "emails": thread["emails"],
        },
        "contacts": [
            {
                "id": c["contact_id"],
                "name": c["name"],
                "address": c["address"] or None,
                "rule": c["rule"],
                "reason": c["reason"],
                "manual": bool(c["is_manual"]),
                "proposed": bool(c["is_proposed"]),
                "caused_by": c["caused_by"] if own else None,
                "caused_at_utc": c["caused_utc"] if own else None,
            }
            for c in contacts
        ],
        "orgs": [
            {
                "id": o["org_id"],
                "name": o["name"],
                "address": o["address"] or None,
                "rule": o["rule"],
                "reason": o["reason"],
                "manual": bool(o["is_manual"]),
                "proposed": bool(o["is_proposed"]),
                "caused_by": o["caused_by"] if own else None,
                "caused_at_utc": o["caused_utc"] if own else None,
            }
            for o in orgs
        ],
        "deal": deal,
        "deal_rule": f["deal_rule"] if deal is not None or f["deal_id"] is None else None,
        "deal_proposed": deal_proposed and own,
        "deal_caused_by": f["deal_caused_by"] if own and deal is not None else None,
        "deal_caused_at_utc": f["deal_caused_utc"] if own and deal is not None else None,
        "needs_deal": bool(f["needs_deal"]),
        "candidates": [{"id": c["id"], "title": c["title"], "contact_id": c["contact_id"]} for c in candidates],
        "verdict": f["link_verdict"],
        "manual": {
            "deal": bool(thread["is_deal_manual"]),
            "contacts": bool(f["is_links_manual"]),
            "orgs": bool(f["is_orgs_manual"]),
        },
        "trace": trace,
        "notes": notes,
        "visibility": {
            "visibility": f["visibility"],
            "viewer": {"user": viewer.email, "can_view": True, "why": why(viewer.id, facts)},
            "users": seen_by,
        },
        "history": [
            {
                "at_utc": h["at_utc"],
                "user": h["user"],
                "action": h["action"],
                "email": h["email_id"],
                "from": h["from_value"],
                "to": h["to_value"],
            }
            for h in f["history"]
        ],
    }
