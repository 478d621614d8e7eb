"""Mail accounts a user syncs: where to connect and where the secret comes from.

The secret itself is never stored: ``secret_source`` only says which command, environment
variable or keyring entry yields it (see ``pdmail.accounts.secrets``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields

from pdmail.core.addresses import is_valid_address, normalize_address
from pdmail.core.errors import UsageError, not_found
from pdmail.core.models import User
from pdmail.store.db import Database, now_utc

KINDS = ("imap", "maildir")
SECURITIES = ("tls", "starttls")
AUTHS = ("password", "oauth2")
PASTS = ("contacts", "everyone")
SECRET_KINDS = ("command", "env", "keyring")


@dataclass(frozen=True)
class Account:
    """One row of ``accounts``; JSON columns stay text here, the properties decode them."""

    id: int
    owner_id: int
    name: str
    kind: str
    provider: str | None
    address: str
    imap_host: str | None
    imap_port: int | None
    imap_security: str | None
    smtp_host: str | None
    smtp_port: int | None
    smtp_security: str | None
    username: str | None
    auth: str
    secret_source: str | None
    cafile: str | None
    maildir_path: str | None
    since: str | None
    folders_json: str | None
    past: str | None
    is_default: bool
    created_utc: str

    @property
    def login(self) -> str:
        """The IMAP/SMTP user name: most providers want the full address when none is given."""
        return self.username or self.address

    @property
    def folders(self) -> list[str] | None:
        """The folders chosen at ``account add``; None means all of them."""
        return json.loads(self.folders_json) if self.folders_json else None

    @property
    def source(self) -> dict:
        """Where the secret comes from: ``{"command": ...}``, ``{"env": NAME}`` or ``{"keyring": ...}``."""
        return json.loads(self.secret_source) if self.secret_source else {}

    def to_json(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data.pop("folders_json")
        data.pop("secret_source")
        data["folders"] = self.folders
        data["secret_source"] = self.source
        return data


_COLUMNS = [f.name for f in fields(Account)]
_SETTABLE = [c for c in _COLUMNS if c not in ("id", "owner_id", "created_utc")]


def _from_row(row) -> Account:
    values = {c: row[c] for c in _COLUMNS}
    values["is_default"] = bool(values["is_default"])
    return Account(**values)


def _check(fields_: dict) -> dict:
    """Validate and normalize what ``add_account`` was given; raise UsageError naming the option."""
    unknown = sorted(set(fields_) - set(_SETTABLE))
    if unknown:
        raise TypeError(f"unknown account fields: {', '.join(unknown)}")
    values = {c: fields_.get(c) for c in _SETTABLE}
    name = (values["name"] or "").strip()
    if not name:
        raise UsageError("an account needs a name")
    values["name"] = name
    kind = values["kind"] or "imap"
    if kind not in KINDS:
        raise UsageError(f"account kind must be one of {', '.join(KINDS)}, not {kind!r}")
    values["kind"] = kind
    address = normalize_address(values["address"] or "")
    if not is_valid_address(address):
        raise UsageError(f"not an email address: {values['address']!r} (--address)")
    values["address"] = address
    for option in ("imap_security", "smtp_security"):
        if values[option] is not None and values[option] not in SECURITIES:
            raise UsageError(f"--{option.replace('_', '-')} must be tls or starttls, not {values[option]!r}")
    for option in ("imap_port", "smtp_port"):
        given = values[option]
        if given is not None:
            port = int(given)
            if not 0 < port < 65536:
                raise UsageError(f"--{option.replace('_', '-')} must be a port number (1-65535), not {port}")
            values[option] = port
    values["auth"] = values["auth"] or "password"
    if values["auth"] not in AUTHS:
        raise UsageError(f"auth must be one of {', '.join(AUTHS)}, not {values['auth']!r}")
    if values["past"] is not None and values["past"] not in PASTS:
        raise UsageError(f"--past must be contacts or everyone, not {values['past']!r}")
    source = values["secret_source"]
    if isinstance(source, dict):
        if len(source) != 1 or next(iter(source)) not in SECRET_KINDS:
            raise UsageError("a secret comes from exactly one of a command, an environment variable or the keyring")
        source = json.dumps(source, ensure_ascii=False)
    values["secret_source"] = source
    folders = values["folders_json"]
    if isinstance(folders, (list, tuple)):
        folders = json.dumps(list(folders), ensure_ascii=False)
    values["folders_json"] = folders
    if kind == "imap":
        if not values["imap_host"] or not values["imap_port"] or not values["imap_security"]:
            raise UsageError("an IMAP account needs a host, a port and a security (--provider or --imap-host)")
        if values["maildir_path"]:
            raise UsageError("an IMAP account has no --maildir")
    else:
        if not values["maildir_path"]:
            raise UsageError("a Maildir account needs --maildir PATH")
        if values["imap_host"]:
            raise UsageError("a Maildir account has no IMAP server; drop --imap-host/--provider")
    values["is_default"] = int(bool(values["is_default"]))
    return values


def add_account(db: Database, user: User, **fields_) -> Account:
    """Add an account for ``user``; the first one, or one added with ``is_default``, becomes the default."""
    values = _check(fields_)
    with db.tx():
        if db.one("SELECT 1 FROM accounts WHERE owner_id = ? AND name = ?", (user.id, values["name"])):
            raise UsageError(f"you already have an account named {values['name']!r}; see `pdmail account list`")
        has_default = db.scalar("SELECT count(*) FROM accounts WHERE owner_id = ? AND is_default = 1", (user.id,))
        if values["is_default"]:
            db.execute("UPDATE accounts SET is_default = 0 WHERE owner_id = ?", (user.id,))
        elif not has_default:
            values["is_default"] = 1
        columns = ["owner_id", *_SETTABLE, "created_utc"]
        new_id = db.insert(
            f"INSERT INTO accounts ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
            (user.id, *(values[c] for c in _SETTABLE), now_utc()),
        )
    return _from_row(db.one("SELECT * FROM accounts WHERE id = ?", (new_id,)))


def get_account(db: Database, user: User, name: str | None = None) -> Account:
    """The user's account by name, id or address (several of one address: an error naming them);
    None → the default."""
    if name is None:
        row = db.one("SELECT * FROM accounts WHERE owner_id = ? AND is_default = 1", (user.id,))
        if row is None:
            raise UsageError("you have no mail account yet; add one with `pdmail account add`")
        return _from_row(row)
    row = db.one("SELECT * FROM accounts WHERE owner_id = ? AND name = ?", (user.id, name))
    number = name.strip().removeprefix("#")
    if row is None and number.isdigit():
        row = db.one("SELECT * FROM accounts WHERE owner_id = ? AND id = ?", (user.id, int(number)))
    if row is None:
        rows = db.all(
            "SELECT * FROM accounts WHERE owner_id = ? AND address = ? ORDER BY name",
            (user.id, normalize_address(name)),
        )
        if len(rows) > 1:
            names = ", ".join(f"{r['name']} ({r['id']})" for r in rows)
            raise UsageError(f"{len(rows)} of your accounts have the address {name}: {names}; give the name instead")
        row = rows[0] if rows else None
    if row is None:
        raise not_found("account", name)
    return _from_row(row)


def list_accounts(db: Database, user: User) -> list[Account]:
    return [_from_row(r) for r in db.all("SELECT * FROM accounts WHERE owner_id = ? ORDER BY name", (user.id,))]


def set_default_account(db: Database, user: User, name: str) -> Account:
    account = get_account(db, user, name)
    with db.tx():
        db.execute("UPDATE accounts SET is_default = 0 WHERE owner_id = ?", (user.id,))
        db.execute("UPDATE accounts SET is_default = 1 WHERE id = ?", (account.id,))
    return get_account(db, user, account.name)


def update_account(db: Database, user: User, account: Account, **changes) -> Account:
    """Change some of an account's settings in place: its id, folders, positions and what it left
    out stay, so the next sync goes on from where the last one stopped.

    A --since day moved back (or to ``all``) makes each folder's next pass a full one, which also
    fetches what the old day left out (see ``pdmail.sync.engine``). Mail left out as past is judged
    again at the next sync in any case, against the ``past`` choice then in force.
    """
    values = _check({c: getattr(account, c) for c in _SETTABLE} | changes)
    if values["kind"] != account.kind:
        raise UsageError("an account stays an IMAP or a Maildir account: remove it and add a new one")
    with db.tx():
        if values["name"] != account.name and db.one(
            "SELECT 1 FROM accounts WHERE owner_id = ? AND name = ? AND id != ?", (user.id, values["name"], account.id)
        ):
            raise UsageError(f"you already have an account named {values['name']!r}; see `pdmail account list`")
        changed = [c for c in _SETTABLE if c != "is_default" and values[c] != getattr(account, c)]
        if changed:
            db.execute(
                f"UPDATE accounts SET {', '.join(f'{c} = ?' for c in changed)} WHERE id = ? AND owner_id = ?",
                (*(values[c] for c in changed), account.id, user.id),
            )
        if "since" in changed and _widens(account.since, values["since"]):
            db.execute("UPDATE sync_folders SET last_full_scan_utc = NULL WHERE account_id = ?", (account.id,))
    return _from_row(db.one("SELECT * FROM accounts WHERE id = ?", (account.id,)))


def _widens(before: str | None, after: str | None) -> bool:
    """Does the --since day ``after`` take in mail that ``before`` left out? Days are ISO dates."""
    if before in (None, "all"):
        return False
    return after in (None, "all") or str(after) < str(before)


def remove_account(db: Database, user: User, name: str | Account) -> Account:
    """Forget an account (by name, or the one already found) and its sync state; mail already
    captured stays (with its links).

    Its folders, their positions, and its queued server changes go with it: their references to
    the account are ``ON DELETE CASCADE``.
    """
    account = name if isinstance(name, Account) else get_account(db, user, name)
    with db.tx():
        try:
            db.execute("DELETE FROM accounts WHERE id = ?", (account.id,))
        except db.integrity_errors() as exc:
            raise UsageError(f"account {account.name} is still referenced ({exc}); nothing was removed") from None
        if account.is_default:
            db.execute(
                "UPDATE accounts SET is_default = 1 WHERE id = "
                "(SELECT id FROM accounts WHERE owner_id = ? ORDER BY created_utc, id LIMIT 1)",
                (user.id,),
            )
    return account


def last_sync(db: Database, accounts: list[Account]) -> dict[int, dict]:
    """Each account's latest sync run, for ``account list``: empty until sync records its runs.

    The sync engine owns the ``sync_runs`` table (one row per run, with an ``account_id``
    column); whatever columns it has are returned as they are.
    """
    if not accounts:
        return {}
    ids = [a.id for a in accounts]
    rows = db.all(
        f"SELECT * FROM sync_runs WHERE id IN (SELECT max(id) FROM sync_runs "
        f"WHERE account_id IN ({', '.join('?' for _ in ids)}) GROUP BY account_id)",
        tuple(ids),
    )
    return {r["account_id"]: dict(r) for r in rows}
