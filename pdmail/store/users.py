"""Company, users, identity, settings, alternative addresses and the block list.

Only their rows: who may change them and what a change means for stored email (linking it again)
are decided above, in ``pdmail.crm.team``.
"""

from __future__ import annotations

from pdmail.core.addresses import is_valid_address, normalize_address, normalize_block_pattern
from pdmail.core.errors import UsageError
from pdmail.core.models import User
from pdmail.core.records import Record
from pdmail.core.settings import SETTINGS, validate
from pdmail.store.db import Database, now_utc


def is_initialized(db: Database) -> bool:
    return db.scalar("SELECT count(*) FROM company") > 0


def init_company(db: Database, *, company: str, name: str, email: str, db_role: str | None = None) -> User:
    """Create the company and its first admin, who becomes the default user.

    On a team server the admin gets their login role (named after their address, or ``db_role``);
    the role running this is the database's operator, and no pdmail user.
    """
    if is_initialized(db):
        raise UsageError(f"{db.label} is already initialized; add people with `pdmail user add`")
    _refuse_role_without_logins(db, db_role)
    with db.tx():
        db.execute("INSERT INTO company (id, name, created_utc) VALUES (1, ?, ?)", (company, now_utc()))
        address = _valid_new_user(email, name)
        new_id = db.insert(
            "INSERT INTO users (email, name, is_admin, created_utc) VALUES (?, ?, 1, ?)",
            (address, name.strip(), now_utc()),
        )
        if db.has_logins:
            db.call("SELECT pdmail_grant_login(?, CAST(? AS text))", (new_id, db_role))
        user = get_user(db, new_id)
        set_default_user(db, user.email)
    return user


def _refuse_role_without_logins(db: Database, db_role: str | None) -> None:
    if db_role is not None and not db.has_logins:
        raise UsageError("--db-role names a team server's login role; a database file has no logins")


def _address_owner(db: Database, address: str) -> tuple[str, bool] | None:
    """(login of the user whose address this is, whether it is in force); a claim waiting for approval too."""
    row = db.one("SELECT email FROM users WHERE email = ?", (address,))
    if row:
        return row["email"], True
    row = db.one(
        "SELECT u.email, a.approved_utc FROM user_addresses a JOIN users u ON u.id = a.user_id WHERE a.email = ?",
        (address,),
    )
    return (row["email"], row["approved_utc"] is not None) if row else None


def _taken(address: str, owner: tuple[str, bool]) -> UsageError:
    login, approved = owner
    if approved:
        return UsageError(f"{address} already belongs to user {login}")
    return UsageError(
        f"{address} is claimed by user {login} as an alternative address, waiting for an admin "
        f"(`pdmail settings alt-address reject {address}`)"
    )


def _valid_new_user(email: str, name: str) -> str:
    address = normalize_address(email)
    if not is_valid_address(address):
        raise UsageError(f"not an email address: {email!r}")
    if not name.strip():
        raise UsageError("a user needs a name (--name)")
    return address


def add_user(db: Database, email: str, *, name: str, is_admin: bool = False, db_role: str | None = None) -> User:
    """A new user; on a team server with their login role (made, or ``db_role`` when it exists)."""
    address = _valid_new_user(email, name)
    _refuse_role_without_logins(db, db_role)
    with db.tx():
        owner = _address_owner(db, address)
        if owner:
            raise _taken(address, owner)
        if db.has_logins:  # users are written only by the database's own functions there
            new_id = db.call(
                "SELECT pdmail_add_user(?, ?, CAST(? AS boolean), CAST(? AS text))",
                (address, name.strip(), "true" if is_admin else "false", db_role),
            )
        else:
            new_id = db.insert(
                "INSERT INTO users (email, name, is_admin, created_utc) VALUES (?, ?, ?, ?)",
                (address, name.strip(), int(is_admin), now_utc()),
            )
    return get_user(db, new_id)


def remove_user(db: Database, user_id: int) -> None:
    """The user may no longer act (on a team server their login leaves the database); their mail
    stays, with them recorded as its owner."""
    with db.tx():
        if db.has_logins:
            db.call("SELECT pdmail_remove_user(?)", (user_id,))
        else:
            db.execute("UPDATE users SET removed_utc = ? WHERE id = ? AND removed_utc IS NULL", (now_utc(), user_id))


def removed_utc(db: Database, user_id: int) -> str | None:
    return db.scalar("SELECT removed_utc FROM users WHERE id = ?", (user_id,))


def login_role_of(db: Database, user_id: int) -> str | None:
    return db.scalar("SELECT db_role FROM users WHERE id = ?", (user_id,))


def changes_wait_for(db: Database, user: User) -> bool:
    """Whether a colleague's change waits to re-link ``user``'s own mail (the team server's relink
    requests after the last one done for them, their own changes left out, as the catch-up does).

    Asked here, in one statement, so that a read command, which mostly finds none, loads nothing of
    the linking code (``pdmail.linking.relink.catch_up``, which does the work when one waits).
    """
    return bool(
        db.scalar(
            "SELECT EXISTS (SELECT 1 FROM relink_requests WHERE id > coalesce((SELECT request_id FROM "
            "relink_progress WHERE user_id = ?), 0) AND (caused_by IS NULL OR caused_by <> ?))",
            (user.id, user.id),
        )
    )


def _user_from_row(db: Database, row) -> User:
    """A user and the alternative addresses an admin approved: a claim waiting for approval counts for nothing."""
    alts = tuple(
        r["email"]
        for r in db.all(
            "SELECT email FROM user_addresses WHERE user_id = ? AND approved_utc IS NOT NULL ORDER BY email",
            (row["id"],),
        )
    )
    return User(row["id"], row["email"], row["name"], bool(row["is_admin"]), alts)


def get_user(db: Database, user_id: int) -> User:
    row = db.one("SELECT * FROM users WHERE id = ?", (user_id,))
    if row is None:
        raise UsageError(f"no user with id {user_id}")
    return _user_from_row(db, row)


def find_user(db: Database, email: str) -> User | None:
    row = db.one("SELECT * FROM users WHERE email = ?", (normalize_address(email),))
    return _user_from_row(db, row) if row else None


def list_users(db: Database) -> list[User]:
    return [_user_from_row(db, r) for r in db.all("SELECT * FROM users ORDER BY id")]


def default_user_email(db: Database) -> str | None:
    """Whose database this is when no --user or PDMAIL_USER says otherwise."""
    return db.scalar("SELECT value FROM app_state WHERE key = 'default_user'")


def set_default_user(db: Database, email: str) -> User:
    user = find_user(db, email)
    if user is None:
        raise UsageError(f"no user {email}; see `pdmail user list`")
    with db.tx():
        db.execute(
            "INSERT INTO app_state (key, value) VALUES ('default_user', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (user.email,),
        )
    return user


def current_user(db: Database, email: str | None) -> User:
    """The acting user: ``--user``/``PDMAIL_USER`` when given (a login, an id or a name), else the default user.

    An unknown user is a usage error (exit 2), as it always was: it is who runs the command. On a
    team server who you are is the role you logged in as, and ``--user`` may name only that user;
    a superuser's connection (which reads everything anyway) takes on the login of the user named.
    """
    if not is_initialized(db):
        raise UsageError(f"{db.label} has no company yet; run `pdmail init --name NAME --email EMAIL`")
    named = _named_user(db, email) if email else None
    if db.has_logins:
        return _logged_in_user(db, email, named)
    user = named or _default_user(db)
    _refuse_removed(db, user)
    return user


def _named_user(db: Database, email: str) -> User:
    user = find_user(db, email) if "@" in email else None
    if user is None:
        from pdmail.core.errors import NotFound
        from pdmail.store.names import user_id

        try:
            return get_user(db, user_id(db, email))
        except NotFound:
            raise UsageError(f"no user {email}; see `pdmail user list`") from None
    return user


def _default_user(db: Database) -> User:
    default = default_user_email(db)
    user = find_user(db, default) if default else None
    if user is None:
        raise UsageError("no default user; set one with `pdmail user default EMAIL`")
    return user


def _refuse_removed(db: Database, user: User) -> None:
    _refuse_if_removed(user, removed_utc(db, user.id))


def _refuse_if_removed(user: User, when: str | None) -> None:
    if when is not None:
        raise UsageError(f"user {user.email} was removed ({when}); their mail stays, they no longer act in pdmail")


def _logged_in_user(db: Database, asked: str | None, named: User | None) -> User:
    me = db.login_user_id()  # the login's name is asked for only to say what went wrong: one round trip less
    if me is not None:
        user = get_user(db, me)
        if named is not None and named.id != user.id:
            raise UsageError(
                f"you are logged in to {db.label} as {db.login_role()}, the login of {user.email}; on a team server who "
                f"you are is your login, and --user (or PDMAIL_USER) {asked} names someone else"
            )
        return user
    if not db.may_act_as_anyone():
        raise UsageError(
            f"the role {db.login_role()} you logged in to {db.label} as is no pdmail user's login; log in as your own "
            "(the user of the URL, PGUSER or your service file)"
        )
    user = named or _default_user(db)
    removed, login = db.row("SELECT removed_utc, db_role FROM users WHERE id = ?", (user.id,))  # one round trip
    _refuse_if_removed(user, removed)
    if login is None:
        raise UsageError(f"user {user.email} has no login on {db.label}")
    db.become(login)
    return user


def company_name(db: Database) -> str:
    return db.scalar("SELECT name FROM company WHERE id = 1") or ""


def colleague_addresses(db: Database, user: User) -> frozenset[str]:
    rows = db.all(
        "SELECT email FROM users WHERE id != ? "
        "UNION SELECT email FROM user_addresses WHERE user_id != ? AND approved_utc IS NOT NULL",
        (user.id, user.id),
    )
    return frozenset(r[0] for r in rows)


# --- settings ---------------------------------------------------------------------------------


def get_setting(db: Database, key: str, user: User | None = None) -> str:
    setting = SETTINGS[key]
    if setting.scope == "company":
        value = db.scalar("SELECT value FROM company_settings WHERE key = ?", (key,))
    else:
        if user is None:
            raise ValueError(f"{key} is a per-user setting")
        value = db.scalar("SELECT value FROM user_settings WHERE user_id = ? AND key = ?", (user.id, key))
    return setting.default if value is None else value


def all_settings(db: Database, user: User) -> dict[str, str]:
    return {key: get_setting(db, key, user) for key in SETTINGS}


def set_setting(db: Database, user: User, key: str, value: str) -> str:
    """Store a setting, the user's or (for a company setting) everyone's; returns the value as stored."""
    setting, normalized = validate(key, value)
    with db.tx():
        if setting.scope == "company":
            db.execute(
                "INSERT INTO company_settings (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, normalized),
            )
        else:
            db.execute(
                "INSERT INTO user_settings (user_id, key, value) VALUES (?, ?, ?) "
                "ON CONFLICT (user_id, key) DO UPDATE SET value = excluded.value",
                (user.id, key, normalized),
            )
    return normalized


# --- alternative addresses --------------------------------------------------------------------
#
# An alternative address is a claim: once in force, mail from it is the user's (Smart BCC takes it,
# linking treats it as internal, the quarantine shows what was refused from it). So an address of a
# contact or of another user is refused, and a claim counts for nothing until an admin approves it;
# an admin's own claims are approved at once.


class AltAddress(Record):
    address: str
    user: str  # the login address of the user who claims it
    approved: bool

    def to_json(self) -> dict:
        return {"address": self.address, "user": self.user, "status": "approved" if self.approved else "pending"}


def _refuse_contact_address(db: Database, address: str) -> None:
    row = db.one(
        "SELECT c.id, c.name FROM contact_emails e JOIN contacts c ON c.id = e.contact_id WHERE e.email = ?",
        (address,),
    )
    if row:
        raise UsageError(
            f"{address} is an address of contact {row['id']} ({row['name']}), so it cannot be a "
            "user's alternative address"
        )


def add_alt_address(db: Database, user: User, address: str, *, approved: bool) -> AltAddress:
    """Record the user's claim to an address, ``approved`` at once or waiting for an admin."""
    addr = normalize_address(address)
    if not is_valid_address(addr):
        raise UsageError(f"not an email address: {address!r}")
    with db.tx():
        owner = _address_owner(db, addr)
        if owner and owner[0] == user.email:
            raise UsageError(f"{addr} is already one of your addresses")
        if owner:
            raise _taken(addr, owner)
        _refuse_contact_address(db, addr)
        stamp = now_utc()
        db.execute(
            "INSERT INTO user_addresses (email, user_id, created_utc, approved_utc, approved_by) VALUES (?, ?, ?, ?, ?)",
            (addr, user.id, stamp, stamp if approved else None, user.id if approved else None),
        )
    return AltAddress(addr, user.email, approved)


def _claim(db: Database, address: str):
    return db.one(
        "SELECT a.email, a.approved_utc, u.email AS user_email FROM user_addresses a "
        "JOIN users u ON u.id = a.user_id WHERE a.email = ?",
        (normalize_address(address),),
    )


def _pending_claim(db: Database, address: str):
    row = _claim(db, address)
    if row is None or row["approved_utc"] is not None:
        raise UsageError(
            f"no alternative address {normalize_address(address)} waits for approval; "
            "see `pdmail settings alt-address list --pending`"
        )
    return row


def approve_alt_address(db: Database, admin: User, address: str) -> AltAddress:
    """An admin agrees that the address is its claimant's; from now on it counts as theirs."""
    with db.tx():
        row = _pending_claim(db, address)
        _refuse_contact_address(db, row["email"])  # a contact may have got it since it was claimed
        db.execute(
            "UPDATE user_addresses SET approved_utc = ?, approved_by = ? WHERE email = ?",
            (now_utc(), admin.id, row["email"]),
        )
    return AltAddress(row["email"], row["user_email"], True)


def reject_alt_address(db: Database, address: str) -> AltAddress:
    with db.tx():
        row = _pending_claim(db, address)
        db.execute("DELETE FROM user_addresses WHERE email = ?", (row["email"],))
    return AltAddress(row["email"], row["user_email"], False)


def remove_alt_address(db: Database, user: User, address: str) -> AltAddress:
    """Remove one of the user's addresses; returns it, and whether it was in force."""
    addr = normalize_address(address)
    with db.tx():
        row = db.one("SELECT approved_utc FROM user_addresses WHERE email = ? AND user_id = ?", (addr, user.id))
        if row is None:
            raise UsageError(f"{addr} is not one of your alternative addresses")
        db.execute("DELETE FROM user_addresses WHERE email = ? AND user_id = ?", (addr, user.id))
    return AltAddress(addr, user.email, row["approved_utc"] is not None)


def list_alt_addresses(db: Database, user: User) -> list[AltAddress]:
    rows = db.all("SELECT email, approved_utc FROM user_addresses WHERE user_id = ? ORDER BY email", (user.id,))
    return [AltAddress(r["email"], user.email, r["approved_utc"] is not None) for r in rows]


def pending_alt_addresses(db: Database) -> list[AltAddress]:
    """Every claim waiting for an admin."""
    rows = db.all(
        "SELECT a.email, u.email AS user_email FROM user_addresses a JOIN users u ON u.id = a.user_id "
        "WHERE a.approved_utc IS NULL ORDER BY u.email, a.email"
    )
    return [AltAddress(r["email"], r["user_email"], False) for r in rows]


# --- block list -------------------------------------------------------------------------------


def add_block(db: Database, pattern: str) -> str:
    """Block an address or ``@domain``; returns it as stored."""
    try:
        value = normalize_block_pattern(pattern)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    with db.tx():
        if db.one("SELECT 1 FROM blocked WHERE pattern = ?", (value,)):
            raise UsageError(f"{value} is already blocked")
        db.execute("INSERT INTO blocked (pattern, created_utc) VALUES (?, ?)", (value, now_utc()))
    return value


def remove_block(db: Database, pattern: str) -> str:
    try:
        value = normalize_block_pattern(pattern)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    with db.tx():
        cur = db.execute("DELETE FROM blocked WHERE pattern = ?", (value,))
        if not cur.rowcount:
            raise UsageError(f"{value} is not on the block list")
    return value


def list_blocks(db: Database) -> list[str]:
    return [r[0] for r in db.all("SELECT pattern FROM blocked ORDER BY pattern")]


def blocked_patterns(db: Database) -> frozenset[str]:
    return frozenset(list_blocks(db))


class Login(Record):
    """How a user acts: their team server login role (None on a file), and whether they were removed."""

    role: str | None
    removed_utc: str | None


def logins(db: Database) -> dict[int, Login]:
    return {
        r["id"]: Login(r["db_role"], r["removed_utc"]) for r in db.all("SELECT id, db_role, removed_utc FROM users")
    }


def user_json(user: User) -> dict:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "is_admin": user.is_admin,
        "alt_addresses": list(user.alt_addresses),
    }
