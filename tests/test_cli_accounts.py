"""`pdmail account add/list/default/remove`: presets, overrides, secret sources and mistakes."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.both_engines


def add(cli, *args):
    return cli.json("account", "add", *args)


def test_provider_preset_fills_servers_and_a_command_is_the_only_thing_stored(company):
    acct = add(
        company,
        "work",
        "--provider",
        "gmail",
        "--address",
        "maria@gmail.com",
        "--password-command",
        "pass show mail/gmail",
    )
    assert (acct["imap_host"], acct["imap_port"], acct["imap_security"]) == ("imap.gmail.com", 993, "tls")
    assert (acct["smtp_host"], acct["smtp_port"], acct["smtp_security"]) == ("smtp.gmail.com", 465, "tls")
    assert acct["secret_source"] == {"command": "pass show mail/gmail"} and acct["auth"] == "password"
    assert acct["is_default"] and acct["past"] == "contacts" and acct["folders"] is None


def test_address_as_name_finds_the_provider_by_domain(company):
    acct = add(company, "maria@fastmail.com", "--password-env", "FASTMAIL_PASSWORD")
    assert acct["address"] == "maria@fastmail.com" and acct["provider"] == "fastmail"
    assert acct["secret_source"] == {"env": "FASTMAIL_PASSWORD"}


def test_custom_host_with_starttls_and_options(company, tmp_path):
    acct = add(
        company,
        "office",
        "--address",
        "maria@northwind.example",
        "--imap-host",
        "mail.northwind.example",
        "--imap-security",
        "starttls",
        "--smtp-host",
        "mail.northwind.example",
        "--smtp-port",
        "587",
        "--username",
        "maria",
        "--password-env",
        "NW_PASS",
        "--since",
        "2026-01-31",
        "--folders",
        "INBOX, Projects/Acme",
        "--past",
        "everyone",
    )
    assert (acct["imap_port"], acct["imap_security"]) == (143, "starttls")
    assert (acct["smtp_port"], acct["smtp_security"]) == (587, "starttls")
    assert acct["username"] == "maria" and acct["since"] == "2026-01-31"
    assert acct["folders"] == ["INBOX", "Projects/Acme"] and acct["past"] == "everyone"


def test_the_synopsis_spelling_security_ssl_means_implicit_tls(company):
    acct = add(
        company,
        "maria@northwind.example",
        "--imap-host",
        "mail.northwind.example",
        "--security",
        "ssl",
        "--smtp-host",
        "mail.northwind.example",
        "--smtp-security",
        "ssl",
        "--password-env",
        "NW_PASS",
    )
    assert (acct["imap_port"], acct["imap_security"]) == (993, "tls")
    assert (acct["smtp_port"], acct["smtp_security"]) == (465, "tls")


def test_microsoft_requires_an_oauth2_token_command(company):
    result = company(
        "account", "add", "ms", "--provider", "office365", "--address", "maria@northwind.example", "--password-env", "X"
    )
    assert result.exit_code == 2 and "--oauth2-token-command" in result.stderr
    acct = add(
        company,
        "ms",
        "--provider",
        "office365",
        "--address",
        "maria@northwind.example",
        "--oauth2-token-command",
        "oauth2-helper --account ms",
    )
    assert acct["auth"] == "oauth2" and acct["secret_source"] == {"command": "oauth2-helper --account ms"}


def test_maildir_account(company, tmp_path):
    for sub in ("cur", "new", "tmp"):
        (tmp_path / "Maildir" / sub).mkdir(parents=True)
    acct = add(
        company,
        "local",
        "--address",
        "maria@northwind.example",
        "--maildir",
        str(tmp_path / "Maildir"),
        "--since",
        "all",
    )
    assert acct["kind"] == "maildir" and acct["imap_host"] is None and acct["since"] == "all"
    report = company.json("account", "test", "local")
    assert report["folders"][0] == {"name": "INBOX", "role": "inbox", "delimiter": "/", "flags": []}


@pytest.mark.parametrize(
    "args, words",
    [
        (["--address", "m@northwind.example", "--imap-host", "h"], "say where the password comes from"),
        (
            ["--address", "m@northwind.example", "--imap-host", "h", "--password-env", "A", "--password-command", "b"],
            "choose one secret source",
        ),
        (["--address", "m@northwind.example", "--password-env", "A"], "no preset for northwind.example"),
        (["--address", "m@northwind.example", "--provider", "nope", "--password-env", "A"], "unknown provider"),
        (
            ["--address", "m@northwind.example", "--imap-host", "h", "--imap-security", "plain", "--password-env", "A"],
            "tls or starttls",
        ),
        (["--address", "m@northwind.example", "--imap-host", "h", "--password-env", "A", "--since", "soon"], "--since"),
        (
            ["--address", "m@northwind.example", "--imap-host", "h", "--password-env", "A", "--cafile", "/nonexistent"],
            "--cafile",
        ),
        (["--address", "m@northwind.example", "--maildir", "/nonexistent"], "not a Maildir"),
        (["--address", "m@northwind.example", "--maildir", ".", "--password-env", "A"], "has no server"),
        (["--imap-host", "h", "--password-env", "A"], "--address"),
        (
            ["--address", "m@northwind.example", "--imap-host", "h", "--smtp-host", "", "--password-env", "A"],
            "--smtp-host is empty",
        ),
        (["--address", "m@northwind.example", "--imap-host", " ", "--password-env", "A"], "--imap-host is empty"),
    ],
)
def test_mistakes_are_usage_errors_naming_the_option(company, args, words):
    result = company("account", "add", "x", *args)
    assert result.exit_code == 2, result.stdout
    assert words in result.stderr and result.stderr.startswith("Error: ")


def test_list_default_and_remove(company):
    add(company, "work", "--provider", "gmail", "--address", "maria@gmail.com", "--password-env", "A")
    add(company, "side", "--provider", "yahoo", "--address", "maria@yahoo.com", "--password-env", "B")
    rows = company.json("account", "list")
    assert [(r["name"], r["is_default"], r["last_sync"]) for r in rows] == [("side", False, None), ("work", True, None)]
    assert rows[1]["secret"] == "password from $A"
    company.ok("account", "default", "side")
    assert [r["name"] for r in company.json("account", "list") if r["is_default"]] == ["side"]
    company.ok("account", "remove", "side", "--yes")
    assert [r["name"] for r in company.json("account", "list")] == ["work"]
    assert company("account", "remove", "side", "--yes").exit_code == 4
    assert "never" in company.ok("account", "list").stdout


def test_accounts_are_private_to_their_owner(company):
    add(company, "work", "--provider", "gmail", "--address", "maria@gmail.com", "--password-env", "A")
    assert company.json("account", "list", "--user", "sam@northwind.example") == []
    assert company("account", "test", "work", "--user", "sam@northwind.example").exit_code == 4


def test_keyring_without_a_backend_explains_the_alternatives(company, monkeypatch):
    import keyring
    from keyring.backends import fail

    monkeypatch.setattr(keyring, "get_keyring", lambda: fail.Keyring())
    result = company(
        "account",
        "add",
        "work",
        "--provider",
        "gmail",
        "--address",
        "maria@gmail.com",
        "--keyring",
        input="SENTINEL-typed-password\n",
    )
    assert result.exit_code == 2
    assert "--password-command" in result.stderr and "SENTINEL" not in result.stderr + result.stdout
    assert company.json("account", "list") == []
