"""`pdmail init`, `pdmail user ...` and `pdmail settings ...`."""

from typing import Annotated

import typer

from pdmail.cli.common import HelpGroup, Session, command, safe
from pdmail.cli.link import emit_rule_change, run_rule_change
from pdmail.cli.rows import Column, Rows

user_app = typer.Typer(
    cls=HelpGroup, help="People who use pdmail: each has their own mail and settings.", no_args_is_help=True
)
settings_app = typer.Typer(cls=HelpGroup, help="Your settings and, for admins, the company's.", no_args_is_help=True)
alt_app = typer.Typer(
    cls=HelpGroup, help="Other addresses you send from (they may use the Smart BCC address).", no_args_is_help=True
)
block_app = typer.Typer(
    cls=HelpGroup, help="Addresses and domains whose mail is never linked (company-wide).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
    settings_app.add_typer(alt_app, name="alt-address")
    settings_app.add_typer(block_app, name="block")
    app.add_typer(settings_app, name="settings")
    command(app, "init", lists=True)(init)


def _users():
    from pdmail.store import users

    return users


def _changes():
    """Changes to users, addresses, the block list and settings: admin checks and re-links."""
    from pdmail.crm import team as user_changes

    return user_changes


DryRunOption = Annotated[
    bool,
    typer.Option("--dry-run", help="Print which of the email you may see would be linked differently; change nothing."),
]


DbRoleOption = Annotated[
    str | None,
    typer.Option(
        "--db-role",
        metavar="ROLE",
        help="Team server only: the user's login is this existing PostgreSQL role (default: a role named "
        "after their address, made when missing).",
        show_default=False,
    ),
]


def init(
    s: Session,
    name: Annotated[str, typer.Option("--name", help="Your full name.")],
    email: Annotated[str, typer.Option("--email", help="Your login email address.")],
    company: Annotated[str | None, typer.Option("--company", help="Company name.")] = None,
    db_role: DbRoleOption = None,
) -> None:
    """Create the database and its first admin (you), who becomes the default user.

    The file is created readable by you only (mode 0600). On a team server (a postgresql:// URL) the
    database's owner runs this; the admin gets a login role of their own and connects as it from then on.

    Examples:
        $ pdmail init --name "Maria Lopez" --email maria@northwind.example --company Northwind
    """
    users = _users()
    db = s.create_db()
    user = users.init_company(
        db, company=company or (email.partition("@")[2] or "My company"), name=name, email=email, db_role=db_role
    )
    s.emit(users.user_json(user), f"{user.id}")
    s.info(f"Created {db.label} with admin {safe(user.email)}.")
    _say_how_to_log_in(s, user.id)


def _say_how_to_log_in(s: Session, user_id: int) -> None:
    """On a team server: the person's login role, and how it gets a password (never printed here)."""
    role = _users().login_role_of(s.db, user_id)
    if role is None:
        return
    quoted = safe('"' + role.replace('"', '""') + '"')
    password = f"psql -c '\\password {quoted}'"
    s.info(
        f"Their login is the PostgreSQL role {quoted}. Unless it has a password already, the database's owner "
        f"gives it one with `{password}` (or the server authenticates it another way, see pg_hba.conf); "
        "they keep it in ~/.pgpass or a service file."
    )


@command(user_app, "add", lists=True)
def user_add(
    s: Session,
    email: Annotated[str, typer.Argument(help="The user's login email address.")],
    name: Annotated[str, typer.Option("--name", help="Full name.")],
    admin: Annotated[bool, typer.Option("--admin", help="Make this user an admin.")] = False,
    db_role: DbRoleOption = None,
) -> None:
    """Add a user (admins only). On a team server this also makes their login role.

    Examples:
        $ pdmail user add sam@northwind.example --name "Sam Lee"
    """
    users = _users()
    user, _ = run_rule_change(
        s, False, lambda: _changes().add_user(s.db, s.user, email, name=name, is_admin=admin, db_role=db_role)
    )
    s.emit(users.user_json(user), f"{user.id}")
    _say_how_to_log_in(s, user.id)


@command(user_app, "remove", lists=True)
def user_remove(
    s: Session, who: Annotated[str, typer.Argument(metavar="USER", help="A user's login email, id or name.")]
) -> None:
    """Take a user's login away (admins only); their mail stays, with them as its owner.

    What they shared and linked stays seen by the team; their private mail is seen by nobody. On a
    team server their login role leaves the database (the role itself stays, for other databases).

    Examples:
        $ pdmail user remove sam@northwind.example
    """
    from pdmail.store.names import user_id

    users = _users()
    gone = _changes().remove_user(s.db, s.user, users.get_user(s.db, user_id(s.db, who)))
    s.emit(users.user_json(gone) | {"removed": True}, f"Removed {safe(gone.email)}; their mail stays.")


@command(user_app, "list", listing=True)
def user_list(s: Session) -> None:
    """List users.

    Examples:
        $ pdmail user list
        $ pdmail user list --json
    """
    users = _users()
    rows = users.list_users(s.db)
    default = users.default_user_email(s.db)
    logins = users.logins(s.db)

    def role(u) -> str:
        return "removed" if logins[u.id].removed_utc else "admin" if u.is_admin else "user"

    columns = [
        Column("id", lambda u: u.id, right=True),
        Column("email", lambda u: u.email),
        Column("name", lambda u: u.name, prose=True),
        Column("role", role),
        Column("default", lambda u: "default" if u.email == default else "", title=""),
    ]
    if s.db.has_logins:
        columns.insert(3, Column("login", lambda u: logins[u.id].role or ""))
    data = [
        users.user_json(u)
        | {"default": u.email == default, "login": logins[u.id].role, "removed": logins[u.id].removed_utc is not None}
        for u in rows
    ]
    s.emit_rows(Rows(columns, rows, json=data))


@command(user_app, "default", lists=True)
def user_default(
    s: Session, who: Annotated[str, typer.Argument(metavar="USER", help="A user's login email, id or name.")]
) -> None:
    """Set the user pdmail acts as when neither --user nor PDMAIL_USER is given (admins only).

    Examples:
        $ pdmail user default sam@northwind.example
    """
    from pdmail.store.names import user_id

    users = _users()
    email = users.get_user(s.db, user_id(s.db, who)).email
    user = _changes().change_default_user(s.db, s.user, email)
    s.emit(users.user_json(user), f"Default user is now {safe(user.email)}.")


@command(settings_app, "show", listing=True)
def settings_show(s: Session) -> None:
    """Show your settings and the company's: one row per setting (--json: one object).

    Examples:
        $ pdmail settings show
        $ pdmail settings show --json
    """
    from pdmail.core.settings import SETTINGS

    users = _users()
    values = users.all_settings(s.db, s.user)
    data = {
        "user": s.user.email,
        "settings": values,
        "alt_addresses": list(s.user.alt_addresses),
        "blocked": users.list_blocks(s.db),
    }
    columns = [
        Column("setting", lambda kv: kv[0]),
        Column("value", lambda kv: kv[1], show=lambda kv: kv[1] or "(not set)"),
        Column("scope", lambda kv: SETTINGS[kv[0]].scope),
        Column("help", lambda kv: SETTINGS[kv[0]].help, title="what it does", prose=True),
    ]
    s.emit_rows(Rows(columns, list(values.items()), json=data))


@command(settings_app, "set", lists=True)
def settings_set(
    s: Session,
    key: Annotated[
        str,
        typer.Argument(
            help="default-visibility, auto-link-deals, accept-colleague-links, "
            "archive-on-server, delete-on-server, time-zone, bcc-address, "
            "bcc-authserv-id, create-contacts"
        ),
    ],
    value: Annotated[str, typer.Argument(help="The new value (on/off, shared/private, an address...).")],
    dry_run: DryRunOption = False,
) -> None:
    """Change a setting. Company settings (bcc-address, bcc-authserv-id, create-contacts) need an admin.

    Changing default-visibility, auto-link-deals or accept-colleague-links affects only email captured
    or linked from now on: no setting re-links stored email.

    Examples:
        $ pdmail settings set default-visibility private
    """
    stored, relinked = run_rule_change(s, dry_run, lambda: _changes().set_setting(s.db, s.user, key, value))
    emit_rule_change(
        s,
        relinked,
        {"key": key, "value": stored},
        f"{key} = {safe(stored or '(not set)')}",
        f"set {key} to {stored or '(not set)'}",
    )


@command(alt_app, "add", lists=True)
def alt_add(
    s: Session,
    address: Annotated[str, typer.Argument(help="An address you also send from.")],
    dry_run: DryRunOption = False,
) -> None:
    """Add an alternative address of yours. It counts once an admin approves it (an admin's own at once).

    An address of a contact or of another user is refused.

    Examples:
        $ pdmail settings alt-address add maria.lopez@northwind.example
    """
    alt, relinked = run_rule_change(s, dry_run, lambda: _changes().add_alt_address(s.db, s.user, address))
    emit_rule_change(
        s,
        relinked,
        alt.to_json(),
        f"Added {safe(alt.address)}."
        if alt.approved
        else f"Added {safe(alt.address)}; it counts once an admin approves it.",
        f"add your address {alt.address}",
    )


@command(alt_app, "approve", lists=True)
def alt_approve(s: Session, address: Annotated[str, typer.Argument(help="An address waiting for approval.")]) -> None:
    """Approve a user's alternative address (admins only): from now on their mail from it is theirs.

    Examples:
        $ pdmail settings alt-address approve sam.lee@northwind.example
    """
    alt = _changes().approve_alt_address(s.db, s.user, address)
    s.emit(alt.to_json(), f"Approved {safe(alt.address)} for {safe(alt.user)}.")


@command(alt_app, "reject", lists=True)
def alt_reject(s: Session, address: Annotated[str, typer.Argument(help="An address waiting for approval.")]) -> None:
    """Refuse a user's claim to an alternative address (admins only); the claim is removed.

    Examples:
        $ pdmail settings alt-address reject ceo@acme.example
    """
    alt = _changes().reject_alt_address(s.db, s.user, address)
    s.emit(alt.to_json() | {"status": "rejected"}, f"Rejected {safe(alt.address)} (claimed by {safe(alt.user)}).")


@command(alt_app, "remove", lists=True)
def alt_remove(
    s: Session,
    address: Annotated[str, typer.Argument(help="One of your alternative addresses.")],
    dry_run: DryRunOption = False,
) -> None:
    """Remove an alternative address of yours.

    Examples:
        $ pdmail settings alt-address remove maria.lopez@northwind.example
    """
    addr, relinked = run_rule_change(s, dry_run, lambda: _changes().remove_alt_address(s.db, s.user, address))
    emit_rule_change(s, relinked, {"address": addr}, f"Removed {safe(addr)}.", f"remove your address {addr}")


@command(alt_app, "list", listing=True)
def alt_list(
    s: Session,
    pending: Annotated[
        bool, typer.Option("--pending", help="Everyone's addresses waiting for approval (admins).")
    ] = False,
) -> None:
    """List your alternative addresses, and which still wait for an admin's approval.

    Examples:
        $ pdmail settings alt-address list
        $ pdmail settings alt-address list --pending
    """
    from pdmail.core.errors import NotPermitted

    users = _users()
    if pending and not s.user.is_admin:
        raise NotPermitted("only an admin can list everyone's addresses waiting for approval")
    addresses = users.pending_alt_addresses(s.db) if pending else users.list_alt_addresses(s.db, s.user)
    columns = [
        Column("address", lambda a: a.address),
        Column("user", lambda a: a.user),
        Column(
            "status",
            lambda a: "approved" if a.approved else "pending",
            show=lambda a: "approved" if a.approved else "waiting for an admin's approval",
        ),
    ]
    empty = "No addresses wait for approval." if pending else "No alternative addresses."
    s.emit_rows(Rows(columns, addresses, json=[a.to_json() for a in addresses], empty=empty))


@command(block_app, "add", lists=True)
def block_add(
    s: Session,
    pattern: Annotated[str, typer.Argument(help="An address, or @domain (subdomains too).")],
    dry_run: DryRunOption = False,
) -> None:
    """Block an address or a whole domain (admins only): its mail is never linked.

    Examples:
        $ pdmail settings block add @newsletters.example
    """
    value, relinked = run_rule_change(s, dry_run, lambda: _changes().add_block(s.db, s.user, pattern))
    emit_rule_change(s, relinked, {"pattern": value}, f"Blocked {safe(value)}.", f"block {value}")


@command(block_app, "remove", lists=True)
def block_remove(
    s: Session,
    pattern: Annotated[str, typer.Argument(help="An entry of the block list.")],
    dry_run: DryRunOption = False,
) -> None:
    """Remove an entry from the block list (admins only).

    Links it brings back to a colleague's email that nobody else sees are only proposed to them.

    Examples:
        $ pdmail settings block remove @newsletters.example
    """
    value, relinked = run_rule_change(s, dry_run, lambda: _changes().remove_block(s.db, s.user, pattern))
    emit_rule_change(s, relinked, {"pattern": value}, f"Unblocked {safe(value)}.", f"unblock {value}")


@command(block_app, "list", listing=True)
def block_list(s: Session) -> None:
    """List blocked addresses and domains.

    Examples:
        $ pdmail settings block list
        $ pdmail settings block list --json
    """
    patterns = _users().list_blocks(s.db)
    columns = [Column("pattern", lambda p: p)]
    s.emit_rows(Rows(columns, patterns, json=[{"pattern": p} for p in patterns], empty="Nothing is blocked."))
