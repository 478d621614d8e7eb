"""The sharing law (docs/spec.md, "The sharing law"), written twice from one table: a predicate and an SQL condition.

1. The owner sees all of their own emails.
2. Another user sees an email only if it is shared AND linked to a contact and/or a deal. An
   organization is linked the way a contact is (by a customer address's domain, or by hand), and
   counts as such a link.
3. A private email is seen by its owner only. Admins are no exception.
4. No action of one user makes another user's email visible to more people: a link that another
   user's change added to an email nobody else could see is only *proposed*, and counts for rule 2
   once the owner accepts it.

Every read path in the store filters with :func:`sql_condition`; tests prove it agrees with
:func:`can_view` for every viewer. Being an admin appears nowhere here, on purpose.
"""

# No ``from __future__ import annotations`` here: typing.NamedTuple compiles each annotation written
# as a string when the class is made, and this module, beside pdmail.core, cannot use its ``Record``.
from typing import Literal, NamedTuple


class EmailFacts(NamedTuple):
    """What the law looks at, and nothing else."""

    owner_id: int
    visibility: Literal["shared", "private"]  # core.models.Visibility, which this layer does not import
    has_contact: bool  # a contact link that counts: not a proposal waiting for the owner
    has_deal: bool  # a deal link that counts
    has_proposal: bool = False  # links a colleague's change proposed: they count for nothing until accepted
    has_org: bool = False  # an organization link that counts


def seen_by_others(email: EmailFacts) -> bool:
    """Rules 2 and 3: whether users other than the owner see the email (all of them, or none)."""
    return email.visibility == "shared" and (email.has_contact or email.has_deal or email.has_org)


def can_view(viewer_id: int, email: EmailFacts) -> bool:
    return viewer_id == email.owner_id or seen_by_others(email)


def why(viewer_id: int, email: EmailFacts) -> str:
    """The rule that decides, in words, for `pdmail explain`."""
    if viewer_id == email.owner_id:
        return "owner: sees all of their own email"
    if email.visibility != "shared":
        return "private: only the owner sees it, admins included"
    if email.has_contact or email.has_deal or email.has_org:
        kinds = (("a contact", email.has_contact), ("an organization", email.has_org), ("a deal", email.has_deal))
        linked = " and ".join(x for x, on in kinds if on)
        return f"shared and linked to {linked}"
    if email.has_proposal:
        return (
            "shared, but its only links were proposed by another user's change and the owner has not "
            "accepted them: only the owner sees it"
        )
    return "shared but not linked to a contact or deal: only the owner sees it"


def sql_condition(alias: str = "e") -> str:
    """The same law as a WHERE fragment; bind ``:viewer`` to the viewer's user id.

    It reads the email's own columns only: ``has_link`` says whether a contact or organization link
    that counts exists, kept right by the database itself (triggers on ``email_contacts`` and
    ``email_orgs``), so that a team's count or page never looks into the links of each email.
    """
    return (
        f"({alias}.owner_id = :viewer OR ({alias}.visibility = 'shared' AND "
        f"(({alias}.deal_id IS NOT NULL AND {alias}.is_deal_proposed = 0) OR {alias}.has_link = 1)))"
    )
