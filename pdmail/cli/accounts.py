"""`pdmail account ...`: the mail accounts pdmail syncs and sends through."""

import shlex
import sys
from typing import Annotated

import typer

from pdmail.cli.common import HelpGroup, Session, clean, command, note, safe
from pdmail.cli.rows import Column, Rows

account_app = typer.Typer(
    cls=HelpGroup,
    help="Mail accounts (IMAP servers or local Maildirs) that `pdmail sync` mirrors and `pdmail send` uses.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(account_app, name="account")


def _opt(flag: str, help: str, metavar: str = "TEXT"):
    return typer.Option(flag, help=help, metavar=metavar, show_default=False)


@command(account_app, "add", lists=True)
def account_add(
    s: Session,
    name: Annotated[str, typer.Argument(help="A short name for the account (or its email address).")],
    address: Annotated[str | None, _opt("--address", "The account's email address.", "EMAIL")] = None,
    provider: Annotated[
        str | None,
        _opt(
            "--provider",
            "A preset: gmail, outlook, office365, icloud, yahoo, aol, fastmail, gmx, gmx.com, mailru, "
            "yandex, zoho, qq, 163, 126, yeah.net, 139, aliyun, godaddy, bluehost, namecheap, gandi, hover, "
            "soverin, 123-reg, zimbra.",
            "NAME",
        ),
    ] = None,
    imap_host: Annotated[str | None, _opt("--imap-host", "IMAP server (any host).", "HOST")] = None,
    imap_port: Annotated[int | None, _opt("--imap-port", "IMAP port (993 for tls, 143 for starttls).", "N")] = None,
    imap_security: Annotated[
        str | None,
        typer.Option(
            "--imap-security",
            "--security",
            help="tls (implicit TLS, the default; also written ssl) or starttls.",
            metavar="tls|starttls",
            show_default=False,
        ),
    ] = None,
    smtp_host: Annotated[str | None, _opt("--smtp-host", "SMTP server for `pdmail send`.", "HOST")] = None,
    smtp_port: Annotated[int | None, _opt("--smtp-port", "SMTP port (465 for tls, 587 for starttls).", "N")] = None,
    smtp_security: Annotated[str | None, _opt("--smtp-security", "tls (or ssl) or starttls.", "tls|starttls")] = None,
    username: Annotated[str | None, _opt("--username", "Login name, when it is not the address.", "USER")] = None,
    password_command: Annotated[
        str | None,
        _opt("--password-command", "A command that prints the password (first line); run without a shell.", "CMD"),
    ] = None,
    password_env: Annotated[
        str | None, _opt("--password-env", "An environment variable that holds the password.", "NAME")
    ] = None,
    keyring: Annotated[
        bool,
        typer.Option(
            "--keyring", help="Keep the password in the OS keyring (asked for now; not available under cron)."
        ),
    ] = False,
    oauth2_token_command: Annotated[
        str | None,
        _opt("--oauth2-token-command", "A command that prints an OAuth2 access token (XOAUTH2/OAUTHBEARER).", "CMD"),
    ] = None,
    cafile: Annotated[
        str | None, _opt("--cafile", "Trust this CA or self-signed certificate (PEM) too.", "PEM")
    ] = None,
    maildir: Annotated[str | None, _opt("--maildir", "Sync a local Maildir instead of a server.", "PATH")] = None,
    since: Annotated[
        str | None,
        _opt(
            "--since",
            "Sync mail from this day on, in your time zone: 2026-01-31, 30d, yesterday, or all (default: 3 days ago).",
            "WHEN",
        ),
    ] = None,
    folders: Annotated[
        str | None, _opt("--folders", "Comma-separated folders to sync (default: all; Sent is always included).", "A,B")
    ] = None,
    past: Annotated[
        str | None,
        _opt(
            "--past", "Past mail from known contacts only, or from everyone (default: contacts).", "contacts|everyone"
        ),
    ] = None,
    default: Annotated[bool, typer.Option("--default", help="Make it your default account.")] = False,
    autoconfig_url: Annotated[
        str | None,
        _opt(
            "--autoconfig-url",
            "Read the servers from this autoconfig file (Thunderbird's format; https, or http to this machine).",
            "URL",
        ),
    ] = None,
) -> None:
    """Add a mail account. Passwords are never stored: give a command, a variable or the keyring.

    Without --provider or --imap-host, a domain pdmail has no preset for is looked up as mail clients
    do: its autoconfig file over HTTPS, then its SRV records (RFC 6186); the servers found are named,
    for you to check. TLS certificates are always verified; a private CA is given with --cafile.

    Examples:
        $ pdmail account add work --provider gmail --address maria@gmail.com --password-command 'pass show mail/gmail'
        $ pdmail account add maria@northwind.example --imap-host mail.northwind.example --smtp-host mail.northwind.example --password-env NORTHWIND_MAIL_PASSWORD
        $ pdmail account add office --provider office365 --address maria@northwind.example --oauth2-token-command 'oauth2-helper --account office'
        $ pdmail account add local --address maria@northwind.example --maildir ~/Maildir
    """
    from pdmail.accounts.setup import AccountOptions, create_account

    opts = AccountOptions(
        name=name,
        address=address,
        provider=provider,
        imap_host=imap_host,
        imap_port=imap_port,
        imap_security=imap_security,
        smtp_host=smtp_host,
        smtp_port=smtp_port,
        smtp_security=smtp_security,
        username=username,
        password_command=password_command,
        password_env=password_env,
        keyring=keyring,
        oauth2_token_command=oauth2_token_command,
        cafile=cafile,
        maildir=maildir,
        since=since,
        folders=folders,
        past=past,
        default=default,
        autoconfig_url=autoconfig_url,
    )
    secret = _ask_secret() if keyring else None
    account = create_account(s.db, s.user, opts, keyring_secret=secret, on_note=lambda text: _found(s, text))
    s.emit(account.to_json(), f"{account.id}")
    s.info(f"Added account {safe(account.name)}; check it with `pdmail account test {safe(account.name)}`.")


def _found(s: Session, text: str) -> None:
    """Where the servers were found: said on stderr also with --json (they are to be checked), not with -q."""
    if not s.quiet:
        note(clean(text))


def _ask_secret() -> str:
    if sys.stdin.isatty():
        return typer.prompt("Password", hide_input=True)
    return sys.stdin.readline().rstrip("\r\n")


@command(account_app, "list", listing=True)
def account_list(s: Session) -> None:
    """List your mail accounts, where their secrets come from, and their last sync.

    Examples:
        $ pdmail account list
        $ pdmail account list --json
    """
    from pdmail.accounts.setup import account_rows

    rows = account_rows(s.db, s.user)
    columns = [
        Column("name", lambda r: r["name"]),
        Column("address", lambda r: r["address"]),
        Column("server", _server),
        Column("secret", lambda r: r["secret"]),
        Column(
            "last_sync",
            lambda r: "; ".join(_last_sync_lines(r["last_sync"])),
            title="last sync",
            show=lambda r: "\n".join(_last_sync_lines(r["last_sync"], s.zone)),
            prose=True,
        ),
        Column("default", lambda r: "default" if r["is_default"] else "", title=""),
    ]
    s.emit_rows(Rows(columns, rows, json=rows, empty="No mail accounts yet; add one with `pdmail account add`."))


def _server(row: dict) -> str:
    return f"{row['imap_host']}:{row['imap_port']}" if row["kind"] == "imap" else f"Maildir {row['maildir_path']}"


def _last_sync_lines(run: dict | None, zone=None) -> list[str]:
    """The last sync in words: its time in UTC for a pipe, or in ``zone``, naming it, for a person."""
    from pdmail.core.local_time import shown_with_zone

    if not run:
        return ["never"]
    when = run.get("finished_utc") or run.get("last_commit_utc") or run.get("started_utc") or ""
    if zone is not None:
        when = shown_with_zone(when, zone)
    lines = [
        f"{when} {run['outcome']}: {run['new']} new, {run['updated']} updated, {run['deleted']} deleted, "
        f"{run['skipped']} skipped, {run['error_count']} errors"
    ]
    if run.get("message"):
        lines.append(run["message"])
    lines += [f"{folder}: {error}" for folder, error in run.get("folder_errors", {}).items()]
    return lines


@command(account_app, "test", lists=True)
def account_test(
    s: Session,
    name: Annotated[str | None, typer.Argument(help="Account name or address (default: your default).")] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the server.")] = 30.0,
) -> None:
    """Connect, log in, and show the server's folders (with their roles) and capabilities.

    Exit 77 when the login or the certificate is refused, 75 when the server cannot be reached.

    Examples:
        $ pdmail account test work
    """
    from pdmail.accounts.setup import check_account
    from pdmail.store.accounts import get_account

    account = get_account(s.db, s.user, name)
    report = check_account(account, timeout=timeout)

    def human():
        lines = [
            f"{safe(account.name)}: logged in to {safe(report.get('server') or report.get('maildir'))}"
            if account.kind == "imap"
            else f"{safe(account.name)}: Maildir {safe(report['maildir'])}"
        ]
        for folder in report["folders"]:
            role = f"  ({folder['role']})" if folder["role"] else ""
            lines.append(f"  {safe(folder['name'])}{role}")
        if report["capabilities"]:
            lines.append("Capabilities: " + " ".join(safe(c) for c in report["capabilities"]))
        return "\n".join(lines)

    s.emit(report, human)


@command(account_app, "default", lists=True)
def account_default(
    s: Session,
    name: Annotated[str, typer.Argument(help="Account name or address.")],
) -> None:
    """Make an account your default (used by `sync` and `send` when --account is not given).

    Examples:
        $ pdmail account default work
    """
    from pdmail.store.accounts import set_default_account

    account = set_default_account(s.db, s.user, name)
    s.emit(account.to_json(), f"Default account is now {safe(account.name)}.")


@command(account_app, "set", lists=True)
def account_set(
    s: Session,
    name: Annotated[str, typer.Argument(help="Account name or address.")],
    since: Annotated[
        str | None,
        _opt(
            "--since",
            "Sync mail from this day on, in your time zone: 2026-01-31, 30d, yesterday, or all. "
            "An earlier day fetches what the old one left out.",
            "WHEN",
        ),
    ] = None,
    past: Annotated[
        str | None,
        _opt(
            "--past",
            "Past mail (already in the mailbox when the account was added) from known contacts only, or from everyone.",
            "contacts|everyone",
        ),
    ] = None,
    folders: Annotated[
        str | None, _opt("--folders", "Comma-separated folders to sync, or all (Sent is always included).", "A,B")
    ] = None,
    address: Annotated[str | None, _opt("--address", "The account's email address.", "EMAIL")] = None,
    rename: Annotated[str | None, _opt("--rename", "A new name for the account.", "NAME")] = None,
    imap_host: Annotated[str | None, _opt("--imap-host", "IMAP server.", "HOST")] = None,
    imap_port: Annotated[int | None, _opt("--imap-port", "IMAP port.", "N")] = None,
    imap_security: Annotated[str | None, _opt("--imap-security", "tls (or ssl) or starttls.", "tls|starttls")] = None,
    smtp_host: Annotated[str | None, _opt("--smtp-host", "SMTP server for `pdmail send`.", "HOST")] = None,
    smtp_port: Annotated[int | None, _opt("--smtp-port", "SMTP port.", "N")] = None,
    smtp_security: Annotated[str | None, _opt("--smtp-security", "tls (or ssl) or starttls.", "tls|starttls")] = None,
    username: Annotated[
        str | None, _opt("--username", "Login name, when it is not the address ('' for the address).", "USER")
    ] = None,
    password_command: Annotated[
        str | None,
        _opt("--password-command", "A command that prints the password (first line); run without a shell.", "CMD"),
    ] = None,
    password_env: Annotated[
        str | None, _opt("--password-env", "An environment variable that holds the password.", "NAME")
    ] = None,
    keyring: Annotated[
        bool, typer.Option("--keyring", help="Keep the password in the OS keyring (asked for now).")
    ] = False,
    oauth2_token_command: Annotated[
        str | None,
        _opt("--oauth2-token-command", "A command that prints an OAuth2 access token (XOAUTH2/OAUTHBEARER).", "CMD"),
    ] = None,
    cafile: Annotated[
        str | None, _opt("--cafile", "Trust this CA or self-signed certificate (PEM) too.", "PEM")
    ] = None,
    maildir: Annotated[str | None, _opt("--maildir", "A Maildir account's folder, moved.", "PATH")] = None,
) -> None:
    """Change an account, keeping its sync state: the next `pdmail sync` goes on where the last one
    stopped, and fetches what a wider --since or --past now takes in.

    Only what you give changes. A server that sends another secret, a CA file or a new SMTP host needs
    no new account.

    Examples:
        $ pdmail account set work --past everyone
        $ pdmail account set work --since 2026-01-01
        $ pdmail account set work --smtp-host smtp.northwind.example --smtp-port 587
        $ pdmail account set work --cafile ~/northwind-ca.pem --password-command 'pass show mail/work'
    """
    from pdmail.accounts.setup import AccountChanges, change_account

    changes = AccountChanges(
        rename=rename,
        address=address,
        imap_host=imap_host,
        imap_port=imap_port,
        imap_security=imap_security,
        smtp_host=smtp_host,
        smtp_port=smtp_port,
        smtp_security=smtp_security,
        username=username,
        password_command=password_command,
        password_env=password_env,
        keyring=keyring,
        oauth2_token_command=oauth2_token_command,
        cafile=cafile,
        maildir=maildir,
        since=since,
        folders=folders,
        past=past,
    )
    secret = _ask_secret() if keyring else None
    account, changed = change_account(s.db, s.user, name, changes, keyring_secret=secret)
    if not changed:
        s.emit(account.to_json(), f"Account {safe(account.name)} already had those settings; nothing changed.")
        return
    s.emit(
        account.to_json(),
        f"Changed account {safe(account.name)}: {', '.join(changed)}. Its sync state is kept; "
        "the next `pdmail sync` goes on from there.",
    )


@command(account_app, "remove", lists=True)
def account_remove(
    s: Session,
    name: Annotated[str, typer.Argument(help="Account name or address.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Remove without asking (for scripts).")] = False,
) -> None:
    """Forget an account and its sync state. Mail already in pdmail stays, with its links.

    On a terminal it asks first; a script says --yes. A password kept in the OS keyring stays
    there; remove it with your keyring tool.

    Examples:
        $ pdmail account remove work
        $ pdmail account remove work --yes
    """
    from pdmail.accounts.setup import remove_account
    from pdmail.core.errors import UsageError
    from pdmail.store.accounts import get_account

    account = get_account(s.db, s.user, name)
    if not yes:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise UsageError(
                f"account remove asks before it forgets an account; to remove {account.name} without "
                f"a question, run `pdmail account remove {shlex.quote(account.name)} --yes`"
            )
        question = (
            f"Remove account {clean(account.name)} ({clean(account.address)})? pdmail forgets where it synced "
            "up to; the mail already here stays."
        )
        if not typer.confirm(question, default=False):
            s.info("Nothing was removed.")
            return
    account = remove_account(s.db, s.user, account)
    s.emit(account.to_json(), f"Removed account {safe(account.name)}.")
