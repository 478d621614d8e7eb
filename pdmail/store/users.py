"""Company, users, identity, settings, alternative addresses and the block list."""

from __future__ import annotations

from pdmail.addresses import is_valid_address, normalize_address, normalize_block_pattern
from pdmail.errors import UsageError
from pdmail.models import User
from pdmail.settings import SETTINGS, validate
from pdmail.store.db import Database, now_utc


def is_initialized(db: Database) -> bool:
    return db.scalar("SELECT count(*) FROM company") > 0


def init_company(db: Database, *, company: str, name: str, email: str) -> User:
    """Create the company and its first admin, who becomes the default user."""
    if is_initialized(db):
        raise UsageError(f"{db.path} is already initialized; add people with `pdmail user add`")
    with db.tx():
        db.execute("INSERT INTO company (id, name, created_utc) VALUES (1, ?, ?)", (company, now_utc()))
        user = add_user(db, email, name=name, is_admin=True)
        set_default_user(db, user.email)
    return user


def _address_owner(db: Database, address: str) -> str | None:
    row = db.one("SELECT email FROM users WHERE email = ?", (address,))
    if row:
        return row["email"]
    row = db.one(
        "SELECT u.email FROM user_addresses a JOIN users u ON u.id = a.user_id WHERE a.email = ?",
        (address,),
    )
    return row["email"] if row else None


def add_user(db: Database, email: str, *, name: str, is_admin: bool = False) -> User:
    address = normalize_address(email)
    if not is_valid_address(address):
        raise UsageError(f"not an email address: {email!r}")
    if not name.strip():
        raise UsageError("a user needs a name (--name)")
    with db.tx():
        owner = _address_owner(db, address)
        if owner:
            raise UsageError(f"{address} already belongs to user {owner}")
        cur = db.execute(
            "INSERT INTO users (email, name, is_admin, created_utc) VALUES (?, ?, ?, ?)",
            (address, name.strip(), int(is_admin), now_utc()),
        )
        _relink().after_addresses_changed(db, [address])  # a new colleague is nobody's customer
    return get_user(db, cur.lastrowid)


def _relink():
    """Retroactive linking sits above the store; imported late so the layers load in order."""
    from pdmail import relink

    return relink


def _user_from_row(db: Database, row) -> User:
    alts = tuple(
        r["email"]
        for r in db.all("SELECT email FROM user_addresses WHERE user_id = ? ORDER BY email", (row["id"],))
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


def change_default_user(db: Database, actor: User, email: str) -> User:
    """``user default``: admins only, since cron and the mail server act as the default user."""
    if not actor.is_admin:
        raise UsageError("only an admin can change the default user (cron and mail piped in act as it)")
    return set_default_user(db, email)


def current_user(db: Database, email: str | None) -> User:
    """The acting user: ``--user``/``PDMAIL_USER`` when given, else the default user."""
    if not is_initialized(db):
        raise UsageError(f"{db.path} has no company yet; run `pdmail init --name NAME --email EMAIL`")
    if email:
        user = find_user(db, email)
        if user is None:
            raise UsageError(f"no user {email}; see `pdmail user list`")
        return user
    default = default_user_email(db)
    user = find_user(db, default) if default else None
    if user is None:
        raise UsageError("no default user; set one with `pdmail user default EMAIL`")
    return user


def company_name(db: Database) -> str:
    return db.scalar("SELECT name FROM company WHERE id = 1") or ""


def colleague_addresses(db: Database, user: User) -> frozenset[str]:
    rows = db.all(
        "SELECT email FROM users WHERE id != ? UNION SELECT email FROM user_addresses WHERE user_id != ?",
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
    setting, normalized = validate(key, value)
    with db.tx():
        if setting.scope == "company":
            if not user.is_admin:
                raise UsageError(f"{key} is a company setting; only an admin can change it")
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


def add_alt_address(db: Database, user: User, address: str) -> str:
    addr = normalize_address(address)
    if not is_valid_address(addr):
        raise UsageError(f"not an email address: {address!r}")
    with db.tx():
        owner = _address_owner(db, addr)
        if owner == user.email:
            raise UsageError(f"{addr} is already one of your addresses")
        if owner:
            raise UsageError(f"{addr} already belongs to user {owner}")
        db.execute(
            "INSERT INTO user_addresses (email, user_id, created_utc) VALUES (?, ?, ?)",
            (addr, user.id, now_utc()),
        )
        _relink().after_addresses_changed(db, [addr])
    return addr


def remove_alt_address(db: Database, user: User, address: str) -> str:
    addr = normalize_address(address)
    with db.tx():
        cur = db.execute("DELETE FROM user_addresses WHERE email = ? AND user_id = ?", (addr, user.id))
        if not cur.rowcount:
            raise UsageError(f"{addr} is not one of your alternative addresses")
        _relink().after_addresses_changed(db, [addr])
    return addr


def list_alt_addresses(db: Database, user: User) -> list[str]:
    return list(get_user(db, user.id).alt_addresses)


# --- block list -------------------------------------------------------------------------------


def _require_admin(user: User, what: str) -> None:
    if not user.is_admin:
        raise UsageError(f"the {what} belongs to the company; only an admin can change it")


def add_block(db: Database, user: User, pattern: str) -> str:
    _require_admin(user, "block list")
    try:
        value = normalize_block_pattern(pattern)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    with db.tx():
        if db.one("SELECT 1 FROM blocked WHERE pattern = ?", (value,)):
            raise UsageError(f"{value} is already blocked")
        db.execute("INSERT INTO blocked (pattern, created_utc) VALUES (?, ?)", (value, now_utc()))
        _relink().after_block_changed(db, value)
    return value


def remove_block(db: Database, user: User, pattern: str) -> str:
    _require_admin(user, "block list")
    try:
        value = normalize_block_pattern(pattern)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    with db.tx():
        cur = db.execute("DELETE FROM blocked WHERE pattern = ?", (value,))
        if not cur.rowcount:
            raise UsageError(f"{value} is not on the block list")
        _relink().after_block_changed(db, value)
    return value


def list_blocks(db: Database) -> list[str]:
    return [r[0] for r in db.all("SELECT pattern FROM blocked ORDER BY pattern")]


def blocked_patterns(db: Database) -> frozenset[str]:
    return frozenset(list_blocks(db))


def user_json(user: User) -> dict:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "is_admin": user.is_admin,
        "alt_addresses": list(user.alt_addresses),
    }
