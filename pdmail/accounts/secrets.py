"""Passwords and OAuth2 access tokens, fetched when needed and never kept.

An account stores only where its secret comes from (``Account.source``):

- ``{"command": "pass show mail/work"}``: run the command and take the first line it prints.
  The command is split like a shell would split it (``shlex``) but run **without a shell**, so
  nothing in it is expanded twice and no shell is involved in handling the secret. A pipeline
  needs an explicit shell: ``--password-command "sh -c 'gpg -dq ~/.mail.gpg | head -1'"``. Its
  stdin and stderr stay the terminal's, so a pinentry prompt or the tool's own error messages
  reach the user; its stdout is ours and is never shown.
- ``{"env": "NAME"}``: the value of an environment variable.
- ``{"keyring": {"service": ..., "username": ...}}``: the OS keyring, which often has no backend
  under cron or on a headless server; then the error says to use a command or a variable.

Error messages name the source (the command, the variable) and never the value.
"""

from __future__ import annotations

import os
import shlex
import subprocess

from pdmail.core.errors import AuthFailure, UsageError

COMMAND_TIMEOUT_S = 120.0
KEYRING_SERVICE = "pdmail"


def command_source(command: str) -> dict:
    """Validate a ``--password-command``/``--oauth2-token-command`` now rather than at the first sync."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise UsageError(f"cannot split the command {command!r} into words ({exc})") from None
    if not argv:
        raise UsageError("the secret command is empty")
    return {"command": command}


def env_source(name: str) -> dict:
    if not name or "=" in name or not name.replace("_", "").isalnum():
        raise UsageError(f"{name!r} is not an environment variable name")
    return {"env": name}


def keyring_source(username: str, service: str = KEYRING_SERVICE) -> dict:
    return {"keyring": {"service": service, "username": username}}


def secret_for(account) -> str:
    """The account's password or OAuth2 access token, from wherever its source says."""
    source = account.source
    what = "access token" if account.auth == "oauth2" else "password"
    if "command" in source:
        return _from_command(source["command"], what)
    if "env" in source:
        return _from_env(source["env"], what)
    if "keyring" in source:
        return _from_keyring(source["keyring"], what, account.name)
    raise UsageError(
        f"account {account.name} has no {what} source; give it one with "
        f"`pdmail account set {shlex.quote(account.name)} --password-command CMD` (or --password-env NAME, --keyring)"
    )


def _from_command(command: str, what: str) -> str:
    argv = shlex.split(command)
    try:
        result = subprocess.run(
            argv,
            stdout=subprocess.PIPE,
            stderr=None,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError:
        raise UsageError(f"the {what} command {command!r} was not found (it runs without a shell)") from None
    except PermissionError:
        raise UsageError(f"the {what} command {command!r} is not executable") from None
    except subprocess.TimeoutExpired:
        raise UsageError(f"the {what} command {command!r} did not finish within {COMMAND_TIMEOUT_S:.0f} s") from None
    if result.returncode != 0:
        raise AuthFailure(
            f"the {what} command {command!r} failed with exit code {result.returncode}; "
            f"its own messages, if any, are above"
        )
    secret = _first_line(result.stdout)
    if not secret:
        raise AuthFailure(f"the {what} command {command!r} printed nothing")
    return secret


def _first_line(data: bytes) -> str:
    try:
        text = data.decode("utf-8") if data else ""
    except UnicodeDecodeError:
        raise UsageError("the secret command printed something that is not UTF-8 text") from None
    return text.splitlines()[0] if text.strip() else ""


def _from_env(name: str, what: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise UsageError(f"the environment variable {name} that holds the {what} is not set or empty")
    return value.splitlines()[0] if value else value


class NoKeyring(UsageError):
    """No usable keyring backend (cron, a headless server, a missing D-Bus session)."""


def _keyring_or_fail(what: str, account: str | None = None):
    """The keyring module, and what to say when it fails. ``account``: the existing account whose
    secret is read (None while an account is being added)."""
    instead = (
        f"switch the account to one: `pdmail account set {shlex.quote(account)} --password-command CMD` "
        "(e.g. 'pass show mail/work') or --password-env NAME"
        if account
        else "use --password-command (e.g. 'pass show mail/work') or --password-env NAME instead"
    )
    message = (
        f"no OS keyring is available here (as under cron or without a desktop session), so the {what} "
        f"cannot be read from it; {instead}"
    )
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        raise NoKeyring(message) from None
    try:
        backend = keyring.get_keyring()
    except Exception:  # noqa: BLE001 - any backend discovery failure means "no keyring"
        raise NoKeyring(message) from None
    if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 1) <= 0:
        raise NoKeyring(message)
    return keyring, message


def _from_keyring(entry: dict, what: str, account: str) -> str:
    keyring, message = _keyring_or_fail(what, account)
    try:
        value = keyring.get_password(entry["service"], entry["username"])
    except Exception:  # noqa: BLE001 - a locked or broken backend must not leak its details
        raise NoKeyring(message) from None
    if not value:
        raise UsageError(
            f"the keyring has no {what} for {entry['username']} (service {entry['service']}); "
            f"store it with `pdmail account set {shlex.quote(account)} --keyring`"
        )
    return value


def store_in_keyring(entry: dict, secret: str, what: str = "password") -> None:
    keyring, message = _keyring_or_fail(what)
    try:
        keyring.set_password(entry["service"], entry["username"], secret)
    except Exception:  # noqa: BLE001
        raise NoKeyring(message) from None


def scrub(text: str, secret: str | None) -> str:
    """Remove a secret (and its common encodings) from text that came back from a server or library."""
    if not secret:
        return text
    import base64

    for form in {secret, repr(secret)[1:-1], base64.b64encode(secret.encode()).decode()}:
        if form:
            text = text.replace(form, "***")
    return text
