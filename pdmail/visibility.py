"""The sharing law (docs/spec.md, "The sharing law"), written twice from one table: a predicate and an SQL condition.

1. The owner sees all of their own emails.
2. Another user sees an email only if it is shared AND linked to a contact and/or a deal.
3. A private email is seen by its owner only. Admins are no exception.

Every read path in the store filters with :func:`sql_condition`; tests prove it agrees with
:func:`can_view` for every viewer. Being an admin appears nowhere here, on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EmailFacts:
    """What the law looks at, and nothing else."""

    owner_id: int
    visibility: str  # shared | private
    has_contact: bool
    has_deal: bool


def can_view(viewer_id: int, email: EmailFacts) -> bool:
    if viewer_id == email.owner_id:
        return True
    if email.visibility != "shared":
        return False
    return email.has_contact or email.has_deal


def why(viewer_id: int, email: EmailFacts) -> str:
    """The rule that decides, in words, for `pdmail explain`."""
    if viewer_id == email.owner_id:
        return "owner: sees all of their own email"
    if email.visibility != "shared":
        return "private: only the owner sees it, admins included"
    if email.has_contact or email.has_deal:
        linked = " and ".join(x for x, on in (("a contact", email.has_contact), ("a deal", email.has_deal)) if on)
        return f"shared and linked to {linked}"
    return "shared but not linked to a contact or deal: only the owner sees it"


def sql_condition(alias: str = "e") -> str:
    """The same law as a WHERE fragment; bind ``:viewer`` to the viewer's user id."""
    return (
        f"({alias}.owner_id = :viewer OR ({alias}.visibility = 'shared' AND ({alias}.deal_id IS NOT NULL OR "
        f"EXISTS (SELECT 1 FROM email_contacts vc WHERE vc.email_id = {alias}.id))))"
    )
