"""The company-wide facts capture and re-linking need (the Smart BCC address, who owns which address,
the block list, users' settings), read once per batch so that a batch of thousands asks the database once.
"""

from __future__ import annotations

import re

from pdmail.core.addresses import normalize_address
from pdmail.core.models import User
from pdmail.core.settings import is_on
from pdmail.store import users as users_store
from pdmail.store.db import Database

# A deal's own capture address: the Smart BCC address with "+deal<id>" before the "@".
DEAL_TAG = re.compile(r"^(?P<base>[^+@]+)\+deal(?P<id>\d+)@(?P<domain>.+)$", re.IGNORECASE)


class Company:
    """The company-wide facts capture needs, read once per batch (a plain class: nothing generated at import)."""

    __slots__ = ("authserv_id", "bcc_address", "blocked", "create_contacts", "user_settings", "users_by_address")

    def __init__(
        self,
        bcc_address: str,
        authserv_id: str | None,
        create_contacts: bool,
        users_by_address: dict[str, User],
        blocked: frozenset[str],
    ) -> None:
        self.bcc_address = bcc_address
        self.authserv_id = authserv_id
        self.create_contacts = create_contacts
        self.users_by_address = users_by_address
        self.blocked = blocked
        # Users' own settings, read on first use and kept as long as the rest of this snapshot.
        self.user_settings: dict[tuple[int, str], str] = {}

    def setting(self, db: Database, key: str, user: User) -> str:
        value = self.user_settings.get((user.id, key))
        if value is None:
            value = self.user_settings[(user.id, key)] = users_store.get_setting(db, key, user)
        return value

    @classmethod
    def load(cls, db: Database) -> Company:
        by_address: dict[str, User] = {}
        for user in users_store.list_users(db):
            for address in user.addresses:
                by_address[address] = user
        return cls(
            bcc_address=users_store.get_setting(db, "bcc-address"),
            authserv_id=users_store.get_setting(db, "bcc-authserv-id") or None,
            create_contacts=is_on(users_store.get_setting(db, "create-contacts")),
            users_by_address=by_address,
            blocked=users_store.blocked_patterns(db),
        )

    def is_capture_address(self, address: str) -> bool:
        addr = normalize_address(address)
        if self.bcc_address and addr == self.bcc_address:
            return True
        m = DEAL_TAG.match(addr)
        if not m:
            return False
        if not self.bcc_address:
            return True
        base, _, domain = self.bcc_address.partition("@")
        return m["base"] == base and m["domain"] == domain
