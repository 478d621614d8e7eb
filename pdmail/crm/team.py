"""Changes to users, their addresses, the block list and settings: who may make them, and what
they mean for stored email.

Whose address is whose and which senders are blocked decide how email is linked, so each change
here writes the rows (through ``pdmail.store.users``) and links the email it touches again, in one
transaction. The admin-only changes are refused here, before anything is written. The re-links
run for whoever acts (``relink.acting`` / ``relink.rule_change``).
"""

from __future__ import annotations

from pdmail.core.errors import NotPermitted, UsageError
from pdmail.core.models import User
from pdmail.core.settings import validate
from pdmail.linking import relink
from pdmail.store import users as users_store
from pdmail.store.db import Database
from pdmail.store.users import AltAddress


def _require_admin(user: User, message: str) -> None:
    if not user.is_admin:
        raise NotPermitted(message)


# --- users ------------------------------------------------------------------------------------


def add_user(
    db: Database, actor: User, email: str, *, name: str, is_admin: bool = False, db_role: str | None = None
) -> User:
    """An admin adds a colleague; mail to or from their address is linked again (a colleague is
    nobody's customer). On a team server the colleague gets a login role (``db_role``: an existing one)."""
    _require_admin(actor, "only an admin can add users")
    with db.tx():
        user = users_store.add_user(db, email, name=name, is_admin=is_admin, db_role=db_role)
        relink.after_team_addresses_changed(db, [user.email])
    return user


def remove_user(db: Database, actor: User, who: User) -> User:
    """An admin takes a user's login away; their mail stays theirs, seen by others as before (only
    what is shared and linked), and their private mail by nobody."""
    _require_admin(actor, "only an admin can remove users")
    if who.id == actor.id:
        raise UsageError("you cannot remove yourself; another admin can")
    if users_store.removed_utc(db, who.id) is not None:
        raise UsageError(f"user {who.email} was removed already")
    if users_store.default_user_email(db) == who.email:
        raise UsageError(
            f"{who.email} is the default user (cron and piped mail act as it); make another user the default "
            "first: `pdmail user default EMAIL`"
        )
    users_store.remove_user(db, who.id)
    return who


def change_default_user(db: Database, actor: User, email: str) -> User:
    """``user default``: admins only, since cron and the mail server act as the default user."""
    _require_admin(actor, "only an admin can change the default user (cron and mail piped in act as it)")
    return users_store.set_default_user(db, email)


# --- settings ---------------------------------------------------------------------------------


def set_setting(db: Database, user: User, key: str, value: str) -> str:
    """Change one of the user's settings, or (admins only) a company setting; no setting re-links mail."""
    setting, _ = validate(key, value)  # a bad key or value is refused first, whoever asks
    if setting.scope == "company":
        _require_admin(user, f"{key} is a company setting; only an admin can change it")
    return users_store.set_setting(db, user, key, value)


# --- alternative addresses --------------------------------------------------------------------


def add_alt_address(db: Database, user: User, address: str) -> AltAddress:
    """Claim an address; an admin's own claim is in force at once and its mail is linked again."""
    with db.tx():
        alt = users_store.add_alt_address(db, user, address, approved=user.is_admin)
        if alt.approved:
            relink.after_team_addresses_changed(db, [alt.address])
    return alt


def approve_alt_address(db: Database, admin: User, address: str) -> AltAddress:
    """An admin agrees that the address is its claimant's; from now on it counts as theirs."""
    _require_admin(admin, "only an admin can approve or reject alternative addresses")
    with db.tx():
        alt = users_store.approve_alt_address(db, admin, address)
        relink.after_team_addresses_changed(db, [alt.address])
    return alt


def reject_alt_address(db: Database, admin: User, address: str) -> AltAddress:
    _require_admin(admin, "only an admin can approve or reject alternative addresses")
    return users_store.reject_alt_address(db, address)


def remove_alt_address(db: Database, user: User, address: str) -> str:
    """Give up an address; if it was in force, its mail is linked again without it."""
    with db.tx():
        alt = users_store.remove_alt_address(db, user, address)
        if alt.approved:
            relink.after_team_addresses_changed(db, [alt.address])
    return alt.address


# --- block list -------------------------------------------------------------------------------


def _require_block_admin(user: User) -> None:
    _require_admin(user, "the block list belongs to the company; only an admin can change it")


def add_block(db: Database, user: User, pattern: str) -> str:
    """Block an address or a whole domain (admins only); its mail is linked again, to nobody."""
    _require_block_admin(user)
    with db.tx():
        value = users_store.add_block(db, pattern)
        relink.after_block_changed(db, value)
    return value


def remove_block(db: Database, user: User, pattern: str) -> str:
    _require_block_admin(user)
    with db.tx():
        value = users_store.remove_block(db, pattern)
        relink.after_block_changed(db, value)
    return value
