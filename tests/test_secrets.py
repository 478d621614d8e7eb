"""Secrets come from a command, a variable or the keyring, and no failure ever shows them."""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace
from typing import ClassVar

import pytest

from pdmail.accounts import secrets
from pdmail.core.errors import AuthFailure, PdmailError, UsageError

SENTINEL = "SENTINEL-s3cr3t-7f1c"


def account(source: dict, auth: str = "password"):
    return SimpleNamespace(name="work", auth=auth, source=source, secret_source=json.dumps(source))


def py(code: str) -> str:
    return f"{sys.executable} -c {json.dumps(code)}"


def test_command_output_first_line_is_the_secret():
    cmd = py(f"print({SENTINEL!r}); print('second line')")
    assert secrets.secret_for(account(secrets.command_source(cmd))) == SENTINEL


def test_command_runs_without_a_shell(tmp_path):
    marker = tmp_path / "touched"
    cmd = f"echo {SENTINEL} ; touch {marker}"
    # Without a shell, ';' and 'touch' are just more words for echo to print.
    assert secrets.secret_for(account({"command": cmd})) == f"{SENTINEL} ; touch {marker}"
    assert not marker.exists()


def test_a_failing_command_names_itself_and_not_what_it_printed(capfd, monkeypatch):
    monkeypatch.setenv("PDMAIL_TEST_SECRET", SENTINEL)
    cmd = py("import os, sys; print(os.environ['PDMAIL_TEST_SECRET']); sys.exit(3)")
    with pytest.raises(AuthFailure) as caught:
        secrets.secret_for(account({"command": cmd}))
    assert "exit code 3" in str(caught.value) and SENTINEL not in str(caught.value)
    assert SENTINEL not in capfd.readouterr().out


@pytest.mark.parametrize(
    "source, error, words",
    [
        ({"command": "/nonexistent/password-helper"}, UsageError, "not found"),
        ({"command": py("pass")}, AuthFailure, "printed nothing"),
        ({"env": "PDMAIL_TEST_UNSET_VARIABLE"}, UsageError, "PDMAIL_TEST_UNSET_VARIABLE"),
        ({}, UsageError, "no password source"),
    ],
)
def test_missing_secrets_are_clear_errors(source, error, words):
    with pytest.raises(error, match=words):
        secrets.secret_for(account(source))


def test_environment_variable(monkeypatch):
    monkeypatch.setenv("WORK_MAIL_TOKEN", SENTINEL)
    assert secrets.secret_for(account({"env": "WORK_MAIL_TOKEN"}, auth="oauth2")) == SENTINEL
    with pytest.raises(UsageError):
        secrets.env_source("NOT A NAME")


def test_oauth2_token_command_is_a_command_source():
    cmd = py(f"print({SENTINEL!r})")
    assert secrets.secret_for(account(secrets.command_source(cmd), auth="oauth2")) == SENTINEL


def test_without_a_keyring_backend_the_error_names_the_alternatives(monkeypatch):
    import keyring
    from keyring.backends import fail

    monkeypatch.setattr(keyring, "get_keyring", lambda: fail.Keyring())
    with pytest.raises(PdmailError) as caught:
        secrets.secret_for(account(secrets.keyring_source("maria@northwind.example")))
    message = str(caught.value)
    assert "cron" in message and "--password-command" in message and "--password-env" in message
    assert caught.value.exit_code == 2
    with pytest.raises(secrets.NoKeyring):
        secrets.store_in_keyring(secrets.keyring_source("maria@northwind.example"), SENTINEL)


def test_keyring_backend_round_trip(monkeypatch):
    import keyring
    from keyring.backend import KeyringBackend

    class MemoryKeyring(KeyringBackend):
        priority = 1
        store: ClassVar[dict] = {}

        def get_password(self, service, username):
            return self.store.get((service, username))

        def set_password(self, service, username, password):
            self.store[(service, username)] = password

        def delete_password(self, service, username):
            self.store.pop((service, username), None)

    monkeypatch.setattr(keyring, "get_keyring", lambda: MemoryKeyring())
    monkeypatch.setattr(keyring, "get_password", lambda s, u: MemoryKeyring().get_password(s, u))
    monkeypatch.setattr(keyring, "set_password", lambda s, u, p: MemoryKeyring().set_password(s, u, p))
    source = secrets.keyring_source("maria@northwind.example")
    with pytest.raises(UsageError, match="keyring has no password"):
        secrets.secret_for(account(source))
    secrets.store_in_keyring(source["keyring"], SENTINEL)
    assert secrets.secret_for(account(source)) == SENTINEL


def test_scrub_removes_the_secret_and_its_base64():
    import base64

    text = f"NO [{SENTINEL}] {base64.b64encode(SENTINEL.encode()).decode()}"
    assert SENTINEL not in secrets.scrub(text, SENTINEL) and "***" in secrets.scrub(text, SENTINEL)
