"""Turning ``account add`` options into a complete account, and what ``account list/test`` show.

The command line gives a provider, a host or a Maildir, and a secret source; this module fills
in the rest from the provider presets (an explicit option always wins), checks that the pieces
fit together, and stores the account. The secret itself is only handed to the keyring, when the
user chose it.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pdmail.accounts import secrets
from pdmail.accounts.providers import FALLBACK_NAMES, PROVIDERS, Endpoint, get_provider, provider_for_address
from pdmail.core.errors import UsageError
from pdmail.core.local_time import zone
from pdmail.core.models import User
from pdmail.store.accounts import Account, add_account, last_sync, list_accounts
from pdmail.store.db import Database

DEFAULT_SINCE_DAYS = 3


@dataclass
class AccountOptions:
    name: str
    address: str | None = None
    provider: str | None = None
    imap_host: str | None = None
    imap_port: int | None = None
    imap_security: str | None = None
    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_security: str | None = None
    username: str | None = None
    password_command: str | None = None
    password_env: str | None = None
    keyring: bool = False
    oauth2_token_command: str | None = None
    cafile: str | None = None
    maildir: str | None = None
    since: str | None = None
    zone_name: str | None = None  # the user's time-zone setting, in which --since is read
    folders: str | None = None
    past: str | None = None
    default: bool = False
    autoconfig_url: str | None = None  # read the servers from this autoconfig file instead of looking


def parse_since(value: str | None, now: datetime | None = None, zone_name: str | None = None) -> str:
    """``all``, or the day sync starts from (``--since`` in the one grammar of times: a date, ``30d``,
    ``yesterday``...), read in the user's zone; by default 3 days ago."""
    from pdmail.core.time_phrases import local_day

    now = now or datetime.now(UTC)
    if value is None:
        return (now.astimezone(zone(zone_name)).date() - timedelta(days=DEFAULT_SINCE_DAYS)).isoformat()
    if value.strip().lower() == "all":
        return "all"
    return local_day(value, now, zone_name, option="--since").isoformat()


def _folders(value: str | None) -> list[str] | None:
    if value is None or value.strip().lower() in ("", "all"):
        return None
    names = [part.strip() for part in value.split(",") if part.strip()]
    return names or None


def _secret_source(opts: AccountOptions, login: str, host: str) -> tuple[str, dict | None]:
    chosen = [
        flag
        for flag, given in (
            ("--password-command", opts.password_command),
            ("--password-env", opts.password_env),
            ("--keyring", opts.keyring),
            ("--oauth2-token-command", opts.oauth2_token_command),
        )
        if given
    ]
    if len(chosen) > 1:
        raise UsageError(f"choose one secret source, not {' and '.join(chosen)}")
    if opts.oauth2_token_command:
        return "oauth2", secrets.command_source(opts.oauth2_token_command)
    if opts.password_command:
        return "password", secrets.command_source(opts.password_command)
    if opts.password_env:
        return "password", secrets.env_source(opts.password_env)
    if opts.keyring:
        return "password", secrets.keyring_source(login, service=f"{secrets.KEYRING_SERVICE}:{host}")
    raise UsageError(
        "say where the password comes from: --password-command CMD, --password-env NAME, "
        "--keyring, or --oauth2-token-command CMD"
    )


def _endpoint(preset: Endpoint | None, host, port, security, domain, what) -> Endpoint | None:
    if host is not None and not host.strip():  # an unset shell variable, most likely
        raise UsageError(f"--{what}-host is empty: give the server's name")
    if security is not None:
        security = {"ssl": "tls"}.get(security.lower(), security.lower())  # "ssl" is the older name
    if security is not None and security not in ("tls", "starttls"):
        raise UsageError(f"--{what}-security must be tls or starttls, not {security!r}")
    if host is None and preset is None:
        if port is not None or security is not None:
            raise UsageError(f"--{what}-port/--{what}-security need --{what}-host (or --provider)")
        return None
    base = preset.for_domain(domain) if preset else None
    security = security or (base.security if base and host is None else None)
    if security is None:
        security = "starttls" if port in (143, 587) else "tls"
    default_port = {("imap", "tls"): 993, ("imap", "starttls"): 143, ("smtp", "tls"): 465, ("smtp", "starttls"): 587}[
        (what, security)
    ]
    if port is None:
        port = base.port if base and host is None and base.security == security else default_port
    if host is None:
        if base is None:  # unreachable: no host and no preset returned above
            raise UsageError(f"--{what}-host is missing")
        host = base.host
    return Endpoint(host, int(port), security)


def build_fields(opts: AccountOptions, *, discover=None, on_note=None) -> dict:
    """All columns of the new account, or a UsageError naming the option to fix.

    Without a preset or a host, the servers are looked for as mail clients do (``discover``:
    :func:`pdmail.accounts.discovery.discover` by default); ``on_note`` hears where they were found.
    """
    address = opts.address or (opts.name if "@" in opts.name else None)
    if not address:
        raise UsageError("give the account's email address with --address (or name the account by it)")
    domain = address.rpartition("@")[2].lower()
    common = dict(
        name=opts.name,
        address=address,
        since=parse_since(opts.since, zone_name=opts.zone_name),
        folders_json=_folders(opts.folders),
        past=opts.past or "contacts",
        is_default=opts.default,
    )
    if opts.past is not None and opts.past not in ("contacts", "everyone"):
        raise UsageError(f"--past must be contacts or everyone, not {opts.past!r}")
    if opts.maildir:
        server_options = [
            o
            for o, v in (
                ("--provider", opts.provider),
                ("--imap-host", opts.imap_host),
                ("--smtp-host", opts.smtp_host),
                ("--password-command", opts.password_command),
                ("--password-env", opts.password_env),
                ("--keyring", opts.keyring),
                ("--oauth2-token-command", opts.oauth2_token_command),
                ("--cafile", opts.cafile),
                ("--username", opts.username),
                ("--autoconfig-url", opts.autoconfig_url),
            )
            if v
        ]
        if server_options:
            raise UsageError(f"a Maildir account has no server: drop {', '.join(server_options)}")
        path = Path(opts.maildir).expanduser().resolve()
        if not (path / "cur").is_dir() or not (path / "new").is_dir():
            raise UsageError(f"{path} is not a Maildir (it needs cur/ and new/ folders)")
        return dict(common, kind="maildir", maildir_path=str(path))

    provider = None
    found = None
    if opts.provider:
        try:
            provider = get_provider(opts.provider)
        except KeyError as exc:
            raise UsageError(str(exc.args[0])) from None
    elif opts.autoconfig_url:
        found = _from_autoconfig_url(opts.autoconfig_url, address)
    elif not opts.imap_host:
        provider = provider_for_address(address)
        if provider is None:
            found = _discovered(address, discover)
    if found is not None and on_note is not None:
        smtp_text = f", SMTP {_shown(found.smtp)}" if found.smtp else ""
        on_note(f"Found the servers of {domain} in {found.source}: IMAP {_shown(found.imap)}{smtp_text}.")
    imap_preset = provider.imap if provider else found.imap if found else None
    smtp_preset = provider.smtp if provider else found.smtp if found else None
    imap = _endpoint(imap_preset, opts.imap_host, opts.imap_port, opts.imap_security, domain, "imap")
    smtp = _endpoint(smtp_preset, opts.smtp_host, opts.smtp_port, opts.smtp_security, domain, "smtp")
    if provider is not None and provider.oauth2 == "required" and not opts.oauth2_token_command:
        raise UsageError(
            f"{provider.label} accepts no passwords over IMAP; give --oauth2-token-command CMD "
            f"(a helper that prints a fresh access token)"
        )
    if found is not None and found.oauth2_only and not opts.oauth2_token_command:
        raise UsageError(
            f"{domain}'s IMAP server takes OAuth2 only; give --oauth2-token-command CMD "
            f"(a helper that prints a fresh access token)"
        )
    if imap is None:
        raise UsageError("give --imap-host (or --provider)")
    username = opts.username or (found.username if found and not opts.imap_host else None)
    login = username or address
    auth, source = _secret_source(opts, login, imap.host)
    return dict(
        common,
        kind="imap",
        provider=provider.key if provider else None,
        imap_host=imap.host,
        imap_port=imap.port,
        imap_security=imap.security,
        smtp_host=smtp.host if smtp else None,
        smtp_port=smtp.port if smtp else None,
        smtp_security=smtp.security if smtp else None,
        username=username,
        auth=auth,
        secret_source=source,
        cafile=_cafile(opts.cafile) if opts.cafile else None,
    )


def _discovered(address: str, discover):
    """The servers found for the address's domain, or a UsageError saying what was tried."""
    from pdmail.accounts import discovery

    domain = address.rpartition("@")[2].lower()
    found = (discover or discovery.discover)(address)
    if found is None:
        raise UsageError(
            f"pdmail has no preset for {domain} and found no server settings for it (no autoconfig file "
            f"over HTTPS, no SRV records in its DNS): give --imap-host (and --smtp-host), "
            f"or --provider with one of {', '.join(PROVIDERS)}"
        )
    return found


def _from_autoconfig_url(url: str, address: str):
    from pdmail.accounts import discovery

    if not discovery.is_allowed_url(url):
        raise UsageError(
            f"--autoconfig-url {url}: give an https:// address (plain http only to this machine), "
            "so that nobody on the way can change the servers your password goes to"
        )
    body = discovery.fetch_given(url, discovery.TIMEOUT_S)
    found = discovery.read_autoconfig(body, address, source=f"the autoconfig file {url}") if body else None
    if found is None:
        raise UsageError(
            f"--autoconfig-url {url}: no autoconfig file with an encrypted IMAP server could be read there"
        )
    return found


def _shown(endpoint: Endpoint) -> str:
    return f"{endpoint.host}:{endpoint.port} ({endpoint.security})"


def _cafile(given: str) -> str:
    """The absolute path of a PEM file that Python's TLS can load, or a UsageError naming --cafile."""
    path = Path(given).expanduser().resolve()
    if not path.is_file():
        raise UsageError(f"--cafile {path} is not a file")
    try:
        ssl.create_default_context(cafile=str(path))
    except ssl.SSLError as exc:
        raise UsageError(f"--cafile {path} holds no PEM certificate ({exc.reason or exc})") from None
    return str(path)


def create_account(
    db: Database,
    user: User,
    opts: AccountOptions,
    *,
    keyring_secret: str | None = None,
    discover=None,
    on_note=None,
) -> Account:
    """Store the account; with ``--keyring`` put the secret into the OS keyring first."""
    from dataclasses import replace

    from pdmail.store.users import get_setting

    zone_name = get_setting(db, "time-zone", user) or None
    fields = build_fields(replace(opts, zone_name=zone_name), discover=discover, on_note=on_note)
    if opts.keyring:
        if not keyring_secret:
            raise UsageError("--keyring needs the password: type it at the prompt or pipe it on stdin")
        secrets.store_in_keyring(fields["secret_source"]["keyring"], keyring_secret)
    return add_account(db, user, **fields)


@dataclass
class AccountChanges:
    """What ``account set`` was given: None (False for ``keyring``) leaves a setting as it is."""

    rename: str | None = None
    address: str | None = None
    imap_host: str | None = None
    imap_port: int | None = None
    imap_security: str | None = None
    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_security: str | None = None
    username: str | None = None
    password_command: str | None = None
    password_env: str | None = None
    keyring: bool = False
    oauth2_token_command: str | None = None
    cafile: str | None = None
    maildir: str | None = None
    since: str | None = None
    folders: str | None = None
    past: str | None = None

    def given(self) -> list[str]:
        """The options given, as the command line spells them."""
        return [
            "--" + name.replace("_", "-")
            for name, value in vars(self).items()
            if value is not None and value is not False
        ]

    def secret_options(self) -> AccountOptions:
        return AccountOptions(
            name="",
            password_command=self.password_command,
            password_env=self.password_env,
            keyring=self.keyring,
            oauth2_token_command=self.oauth2_token_command,
        )


_SERVER_OPTIONS = (
    "--imap-host",
    "--imap-port",
    "--imap-security",
    "--smtp-host",
    "--smtp-port",
    "--smtp-security",
    "--username",
    "--password-command",
    "--password-env",
    "--keyring",
    "--oauth2-token-command",
    "--cafile",
)
_USUAL_SECURITY = {143: "starttls", 587: "starttls", 993: "tls", 465: "tls"}


def changed_fields(db: Database, user: User, account: Account, changes: AccountChanges) -> dict:
    """The account's columns that ``changes`` sets, checked as ``account add`` checks them."""
    from pdmail.store.users import get_setting

    given = changes.given()
    if not given:
        raise UsageError("say what to change, e.g. --since 30d, --past everyone, --smtp-host HOST or --cafile PEM")
    if account.kind == "maildir":
        wrong = [o for o in given if o in _SERVER_OPTIONS]
        if wrong:
            raise UsageError(f"{account.name} is a Maildir account and has no server: drop {', '.join(wrong)}")
    elif changes.maildir is not None:
        raise UsageError(f"{account.name} is an IMAP account: a Maildir is another account (`pdmail account add`)")
    fields: dict = {}
    if changes.rename is not None:
        fields["name"] = changes.rename
    if changes.address is not None:
        fields["address"] = changes.address
    if changes.since is not None:
        fields["since"] = parse_since(changes.since, zone_name=get_setting(db, "time-zone", user) or None)
    if changes.folders is not None:
        fields["folders_json"] = _folders(changes.folders)
    if changes.past is not None:
        fields["past"] = changes.past
    if changes.maildir is not None:
        fields["maildir_path"] = _maildir(changes.maildir)
    if account.kind == "imap":
        fields |= _server_changes(account, changes)
    return fields


def _maildir(given: str) -> str:
    path = Path(given).expanduser().resolve()
    if not (path / "cur").is_dir() or not (path / "new").is_dir():
        raise UsageError(f"{path} is not a Maildir (it needs cur/ and new/ folders)")
    return str(path)


def _server_changes(account: Account, changes: AccountChanges) -> dict:
    fields: dict = {}
    current_imap = Endpoint(account.imap_host or "", account.imap_port or 0, account.imap_security or "tls")
    imap = _changed_endpoint(current_imap, changes.imap_host, changes.imap_port, changes.imap_security, "imap")
    if imap is None:  # unreachable: an IMAP account always has a server
        raise UsageError(f"account {account.name} has no IMAP server")
    if imap != current_imap:
        fields |= {"imap_host": imap.host, "imap_port": imap.port, "imap_security": imap.security}
    current_smtp = (
        Endpoint(account.smtp_host, account.smtp_port or 0, account.smtp_security or "tls")
        if account.smtp_host
        else None
    )
    smtp = _changed_endpoint(current_smtp, changes.smtp_host, changes.smtp_port, changes.smtp_security, "smtp")
    if smtp is not None and smtp != current_smtp:
        fields |= {"smtp_host": smtp.host, "smtp_port": smtp.port, "smtp_security": smtp.security}
    if changes.username is not None:
        fields["username"] = changes.username.strip() or None  # empty: log in with the address again
    secret = changes.secret_options()
    if any((secret.password_command, secret.password_env, secret.keyring, secret.oauth2_token_command)):
        login = fields.get("username", account.username) or fields.get("address") or account.address
        fields["auth"], fields["secret_source"] = _secret_source(secret, login, imap.host)
        provider = get_provider(account.provider) if account.provider in PROVIDERS else None
        if provider is not None and provider.oauth2 == "required" and fields["auth"] != "oauth2":
            raise UsageError(
                f"{provider.label} accepts no passwords over IMAP; give --oauth2-token-command CMD "
                f"(a helper that prints a fresh access token)"
            )
    if changes.cafile is not None:
        fields["cafile"] = _cafile(changes.cafile)
    return fields


def _changed_endpoint(current: Endpoint | None, host, port, security, what: str) -> Endpoint | None:
    """``current`` with what was given changed. A port alone keeps the security, unless it is a
    port with a usual one (587: starttls); a security alone moves to its usual port."""
    if host is None and port is None and security is None:
        return current
    if host is not None and not host.strip():
        raise UsageError(f"--{what}-host is empty: give the server's name")
    if security is not None:
        security = {"ssl": "tls"}.get(security.lower(), security.lower())
        if security not in ("tls", "starttls"):
            raise UsageError(f"--{what}-security must be tls or starttls, not {security!r}")
    if current is None and host is None:
        raise UsageError(f"the account has no {what.upper()} server yet: give --{what}-host")
    security = security or (_USUAL_SECURITY.get(port) if port is not None else None)
    security = security or (current.security if current else "tls")
    if port is None:
        same = current is not None and current.security == security
        port = current.port if same and current else _default_port(what, security)
    return Endpoint((host or (current.host if current else "")).strip(), int(port), security)


def _default_port(what: str, security: str) -> int:
    return {("imap", "tls"): 993, ("imap", "starttls"): 143, ("smtp", "tls"): 465, ("smtp", "starttls"): 587}[
        (what, security)
    ]


def change_account(
    db: Database, user: User, name: str, changes: AccountChanges, *, keyring_secret: str | None = None
) -> tuple[Account, list[str]]:
    """Change an account in place, keeping its sync state; also the names of the settings changed."""
    from pdmail.store.accounts import get_account, update_account

    account = get_account(db, user, name)
    fields = changed_fields(db, user, account, changes)
    if changes.keyring:
        if not keyring_secret:
            raise UsageError("--keyring needs the password: type it at the prompt or pipe it on stdin")
        secrets.store_in_keyring(fields["secret_source"]["keyring"], keyring_secret)
    updated = update_account(db, user, account, **fields)
    before, after = account.to_json(), updated.to_json()
    return updated, [key for key in after if before[key] != after[key]]


def remove_account(db: Database, user: User, account: Account) -> Account:
    """Forget the account and its sync state, and take away its lock file; the mail stays."""
    from pdmail.accounts.sync_lock import discard_lock
    from pdmail.store import accounts as accounts_store

    removed = accounts_store.remove_account(db, user, account)
    discard_lock(db, removed.id)
    return removed


def describe_secret(account: Account) -> str:
    source = account.source
    kind = "token" if account.auth == "oauth2" else "password"
    if "command" in source:
        return f"{kind} from command: {source['command']}"
    if "env" in source:
        return f"{kind} from ${source['env']}"
    if "keyring" in source:
        return f"{kind} in the OS keyring"
    return "-"


def account_rows(db: Database, user: User) -> list[dict]:
    """``account list``: each account as JSON, with its last sync run once sync records them."""
    accounts = list_accounts(db, user)
    runs = last_sync(db, accounts)
    return [
        account.to_json() | {"secret": describe_secret(account), "last_sync": _last_run(db, account, runs)}
        for account in accounts
    ]


def _last_run(db: Database, account: Account, runs: dict[int, dict]) -> dict | None:
    """The account's last run as recorded; one recorded as running while nothing holds the account's
    lock was killed, and is shown as interrupted, with what it had committed by its last commit."""
    from pdmail.accounts.sync_lock import is_running
    from pdmail.store.sync_state import ABANDONED, run_json

    run = run_json(runs.get(account.id))
    if run is not None and run["outcome"] == "running" and not is_running(db, account.id):
        run = run | {"outcome": "interrupted", "message": ABANDONED}
    return run


def maildir_folders(path: str) -> list[dict]:
    """The folders of a Maildir++ tree (``.Sent``, ``.Archive.2024``), with roles guessed by name."""
    root = Path(path)
    if not (root / "cur").is_dir():
        raise UsageError(f"{root} is not a Maildir any more (no cur/ folder)")
    names = ["INBOX"] + sorted(
        p.name[1:].replace(".", "/") for p in root.iterdir() if p.name.startswith(".") and (p / "cur").is_dir()
    )
    out: list[dict] = []
    for name in names:
        role = (
            "inbox"
            if name == "INBOX"
            else next((r for r, usual in FALLBACK_NAMES.items() if name.lower() in usual), None)
        )
        out.append({"name": name, "role": role, "delimiter": "/", "flags": []})
    return out


def check_account(account: Account, *, timeout: float = 30.0) -> dict:
    """Connect, log in and list folders and capabilities (or read a Maildir's folders)."""
    if account.kind == "maildir":
        if account.maildir_path is None:
            raise UsageError(f"account {account.name} has no Maildir path")
        return {
            "account": account.name,
            "maildir": account.maildir_path,
            "capabilities": [],
            "folders": maildir_folders(account.maildir_path),
        }
    from pdmail.accounts.imap import probe

    return probe(account, timeout=timeout)
