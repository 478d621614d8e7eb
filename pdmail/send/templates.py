"""Saving and removing message templates: a user's own, or (admins only) the company's.

A company template is offered to everyone who sends, so only an admin may add, replace or remove
one; the store keeps the rows and leaves that decision here.
"""

from __future__ import annotations

from pdmail.core.errors import NotPermitted
from pdmail.core.models import User
from pdmail.store import outbox as store
from pdmail.store.db import Database
from pdmail.store.outbox import Template


def save_template(
    db: Database, user: User, name: str, subject: str, body: str, *, company_wide: bool = False, replace: bool = False
) -> Template:
    store.check_template_name(name)  # a bad name is refused first, whoever asks
    if company_wide and not user.is_admin:
        raise NotPermitted("only an admin can add a company-wide template")
    return store.save_template(db, user, name, subject, body, company_wide=company_wide, replace=replace)


def remove_template(db: Database, user: User, name: str, *, company_wide: bool = False) -> None:
    if company_wide and not user.is_admin:
        raise NotPermitted("only an admin can remove a company-wide template")
    store.remove_template(db, user, name, company_wide=company_wide)
