"""init, users, identity, settings, alternative addresses and the block list, through the CLI."""

from __future__ import annotations

import json

import pytest
import rawdb

from pdmail.core.settings import SETTINGS

pytestmark = pytest.mark.both_engines


def test_init_creates_admin_and_default_user(cli, db_path):
    data = cli.json("init", "--name", "Maria Lopez", "--email", "Maria@Northwind.example")
    assert data["email"] == "maria@northwind.example" and data["is_admin"] is True
    users = cli.json("user", "list")
    assert [(u["email"], u["default"]) for u in users] == [("maria@northwind.example", True)]


@pytest.mark.sqlite_only
def test_init_creates_the_file_readable_by_its_owner_only(cli, db_path):
    cli.ok("init", "--name", "Maria Lopez", "--email", "maria@northwind.example")
    assert (db_path.stat().st_mode & 0o777) == 0o600


def test_init_twice_is_a_usage_error(company):
    result = company("init", "--name", "X", "--email", "x@northwind.example")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and "already initialized" in result.stderr


def test_commands_before_init_explain_what_to_do(cli):
    result = cli("contact", "list")
    assert result.exit_code == 2
    assert "pdmail init" in result.stderr


def test_user_flag_env_and_default(company):
    assert company.json("settings", "show")["user"] == "maria@northwind.example"
    assert company.json("settings", "show", "--user", "sam@northwind.example")["user"] == "sam@northwind.example"
    env = {"PDMAIL_USER": "ines@northwind.example"}
    assert company.json("settings", "show", env=env)["user"] == "ines@northwind.example"
    assert company.json("--user", "sam@northwind.example", "settings", "show")["user"] == "sam@northwind.example"
    company.ok("user", "default", "sam@northwind.example")
    assert company.json("settings", "show")["user"] == "sam@northwind.example"


def test_only_admins_change_the_default_user(company):
    """Cron and the mail server's pipe act as the default user: a regular user must not pick it."""
    result = company("user", "default", "sam@northwind.example", "--user", "sam@northwind.example")
    assert result.exit_code == 5 and "only an admin can change the default user" in result.stderr
    assert company.json("settings", "show")["user"] == "maria@northwind.example"
    company.ok("user", "default", "sam@northwind.example", "--user", "ines@northwind.example")  # another admin
    assert company.json("settings", "show")["user"] == "sam@northwind.example"
    assert company("user", "default", "maria@northwind.example").exit_code == 5  # now acting as sam
    company.ok("user", "default", "maria@northwind.example", "--user", "maria@northwind.example")
    assert [u["email"] for u in company.json("user", "list") if u["default"]] == ["maria@northwind.example"]


def test_unknown_user_is_a_usage_error(company):
    result = company("settings", "show", "--user", "nobody@northwind.example")
    assert result.exit_code == 2 and "no user nobody@northwind.example" in result.stderr


def test_only_admins_add_users(company):
    result = company("user", "add", "x@northwind.example", "--name", "X", "--user", "sam@northwind.example")
    assert result.exit_code == 5 and "only an admin" in result.stderr  # not permitted: not a typo (2)


def test_duplicate_user_address_refused(company):
    result = company("user", "add", "SAM@northwind.example", "--name", "Sam again")
    assert result.exit_code == 2 and "already belongs" in result.stderr


VALID = {
    "default-visibility": [("shared", "shared"), ("PRIVATE", "private")],
    "auto-link-deals": [("on", "on"), ("off", "off"), ("yes", "on"), ("false", "off")],
    "accept-colleague-links": [("on", "on"), ("OFF", "off")],
    "archive-on-server": [("off", "off"), ("on", "on")],
    "delete-on-server": [("off", "off"), ("1", "on")],
    "bcc-address": [("Acme@BCC.example.com", "acme@bcc.example.com"), ("none", "")],
    "bcc-authserv-id": [("mx.example.com", "mx.example.com"), ("none", "")],
    "create-contacts": [("off", "off"), ("on", "on")],
    "time-zone": [("Europe/Madrid", "Europe/Madrid"), ("system", "")],
}
INVALID = {
    "default-visibility": ["public", ""],
    "auto-link-deals": ["maybe", "2"],
    "accept-colleague-links": ["always"],
    "archive-on-server": ["sometimes"],
    "delete-on-server": ["x"],
    "bcc-address": ["not-an-address", "acme+deal4@bcc.example.com"],
    "bcc-authserv-id": ["two words", "mx;evil"],
    "create-contacts": ["perhaps"],
    "time-zone": ["Mars/Olympus", "../../etc/passwd"],
}


def test_every_setting_has_cases():
    assert set(VALID) == set(SETTINGS) == set(INVALID)


@pytest.mark.parametrize("key,value,stored", [(k, v, s) for k, cases in VALID.items() for v, s in cases])
def test_valid_setting_values(company, key, value, stored):
    assert company.json("settings", "set", key, value) == {"key": key, "value": stored}
    assert company.json("settings", "show")["settings"][key] == stored


@pytest.mark.parametrize("key,value", [(k, v) for k, values in INVALID.items() for v in values])
def test_invalid_setting_values(company, key, value):
    before = company.json("settings", "show")["settings"][key]
    result = company("settings", "set", key, value)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith(f"Error: invalid value {value!r} for {key}")
    assert company.json("settings", "show")["settings"][key] == before


def test_unknown_setting(company):
    result = company("settings", "set", "colour", "blue")
    assert result.exit_code == 2 and "unknown setting" in result.stderr


def test_defaults(company):
    assert company.json("settings", "show")["settings"] == {
        "default-visibility": "shared",
        "auto-link-deals": "on",
        "accept-colleague-links": "off",
        "archive-on-server": "on",
        "delete-on-server": "on",
        "bcc-address": "",
        "bcc-authserv-id": "",
        "create-contacts": "on",
        "time-zone": "",
    }


def test_user_settings_are_per_user(company):
    company.ok("settings", "set", "default-visibility", "private", "--user", "sam@northwind.example")
    assert company.json("settings", "show")["settings"]["default-visibility"] == "shared"
    sam = company.json("settings", "show", "--user", "sam@northwind.example")
    assert sam["settings"]["default-visibility"] == "private"


@pytest.mark.parametrize("key", ["bcc-address", "bcc-authserv-id", "create-contacts"])
def test_company_settings_need_an_admin(company, key):
    value = {"bcc-address": "a@bcc.example.com", "bcc-authserv-id": "mx.example.com", "create-contacts": "off"}[key]
    result = company("settings", "set", key, value, "--user", "sam@northwind.example")
    assert result.exit_code == 5 and "only an admin" in result.stderr
    company.ok("settings", "set", key, value, "--user", "ines@northwind.example")
    assert company.json("settings", "show", "--user", "sam@northwind.example")["settings"][key] == value


def test_alt_addresses(company):
    company.ok("settings", "alt-address", "add", "Maria.Lopez@Northwind.example")
    company.ok("settings", "alt-address", "add", "ml@sales.northwind.example")
    assert company.json("settings", "alt-address", "list") == [
        {"address": "maria.lopez@northwind.example", "user": "maria@northwind.example", "status": "approved"},
        {"address": "ml@sales.northwind.example", "user": "maria@northwind.example", "status": "approved"},
    ]
    dup = company("settings", "alt-address", "add", "maria.lopez@northwind.example")
    assert dup.exit_code == 2 and "already one of your addresses" in dup.stderr
    taken = company("settings", "alt-address", "add", "sam@northwind.example")
    assert taken.exit_code == 2 and "belongs to user sam@northwind.example" in taken.stderr
    theirs = company("settings", "alt-address", "add", "ml@sales.northwind.example", "--user", "sam@northwind.example")
    assert theirs.exit_code == 2
    bad = company("settings", "alt-address", "add", "not an address")
    assert bad.exit_code == 2
    company.ok("settings", "alt-address", "remove", "ML@sales.northwind.example")
    assert [a["address"] for a in company.json("settings", "alt-address", "list")] == ["maria.lopez@northwind.example"]
    gone = company("settings", "alt-address", "remove", "ml@sales.northwind.example")
    assert gone.exit_code == 2


def test_a_contacts_address_is_never_an_alternative_address(company):
    company.ok("contact", "add", "Ada Byron", "--email", "ada@acme.example")
    for user in ("sam@northwind.example", "maria@northwind.example"):  # an admin neither
        claim = company("settings", "alt-address", "add", "Ada@Acme.example", "--user", user)
        assert claim.exit_code == 2 and "contact 1 (Ada Byron)" in claim.stderr
    assert company.json("settings", "alt-address", "list", "--user", "sam@northwind.example") == []


def test_a_users_claim_waits_for_an_admin(company):
    sam = ("--user", "sam@northwind.example")
    added = company.json("settings", "alt-address", "add", "sam.lee@home.example", *sam)
    assert added["status"] == "pending"
    listed = company("settings", "alt-address", "list", "--format", "table", *sam)
    assert "waiting for an admin's approval" in listed.stdout and "sam.lee@home.example" in listed.stdout
    assert "sam.lee@home.example" not in json.dumps(company.json("user", "list"))  # not in force
    mine = company("settings", "alt-address", "approve", "sam.lee@home.example", *sam)
    assert mine.exit_code == 5 and "only an admin" in mine.stderr
    assert company.json("settings", "alt-address", "list", "--pending") == [
        {"address": "sam.lee@home.example", "user": "sam@northwind.example", "status": "pending"}
    ]
    taken = company("settings", "alt-address", "add", "sam.lee@home.example")
    assert taken.exit_code == 2 and "waiting for an admin" in taken.stderr

    approved = company.json("settings", "alt-address", "approve", "sam.lee@home.example")
    assert approved == {"address": "sam.lee@home.example", "user": "sam@northwind.example", "status": "approved"}
    assert company.json("settings", "alt-address", "list", *sam)[0]["status"] == "approved"
    assert company.json("settings", "alt-address", "list", "--pending") == []
    again = company("settings", "alt-address", "approve", "sam.lee@home.example")
    assert again.exit_code == 2 and "waits for approval" in again.stderr

    company.ok("settings", "alt-address", "add", "ceo@acme.example", *sam)
    company.ok("settings", "alt-address", "reject", "ceo@acme.example")
    assert [a["address"] for a in company.json("settings", "alt-address", "list", *sam)] == ["sam.lee@home.example"]


def test_a_contact_added_while_a_claim_waits_stops_its_approval(company):
    company.ok("settings", "alt-address", "add", "ada@acme.example", "--user", "sam@northwind.example")
    company.ok("contact", "add", "Ada Byron", "--email", "ada@acme.example")
    late = company("settings", "alt-address", "approve", "ada@acme.example")
    assert late.exit_code == 2 and "contact 1" in late.stderr


def test_block_list(company):
    company.ok("settings", "block", "add", "@Newsletters.example")
    company.ok("settings", "block", "add", "Spam@Vendor.example")
    assert company.json("settings", "block", "list") == [
        {"pattern": "@newsletters.example"},
        {"pattern": "spam@vendor.example"},
    ]
    assert company("settings", "block", "add", "@newsletters.example").exit_code == 2
    assert company("settings", "block", "add", "@").exit_code == 2
    assert company("settings", "block", "add", "not a thing").exit_code == 2
    sam = company("settings", "block", "add", "@x.example", "--user", "sam@northwind.example")
    assert sam.exit_code == 5 and "only an admin" in sam.stderr
    company.ok("settings", "block", "remove", "@newsletters.example")
    assert company.json("settings", "block", "list") == [{"pattern": "spam@vendor.example"}]
    assert company("settings", "block", "remove", "@newsletters.example").exit_code == 2


def test_version(cli):
    from pdmail import __version__

    result = cli("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"pdmail {__version__}"


def test_newer_database_is_an_error_line_with_exit_2(company, db_path):
    rawdb.mark_newer_schema(db_path, 999)
    result = company("contact", "list")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "newer pdmail" in result.stderr


def test_every_admin_only_change_is_refused_to_a_user_and_changes_nothing(company):
    """The admin checks sit in the services the commands call; each one still refuses a plain user."""
    sam = ("--user", "sam@northwind.example")
    company.ok("settings", "alt-address", "add", "sam.lee@home.example", *sam)
    company.ok("template", "add", "follow-up", "--subject", "Next steps", "--body", "Hi", "--company")
    refused = {
        "user add": company("user", "add", "eve@northwind.example", "--name", "Eve", *sam),
        "user default": company("user", "default", "sam@northwind.example", *sam),
        "alt approve": company("settings", "alt-address", "approve", "sam.lee@home.example", *sam),
        "alt reject": company("settings", "alt-address", "reject", "sam.lee@home.example", *sam),
        "block remove": company("settings", "block", "remove", "@x.example", *sam),
        "template add": company("template", "add", "hello", "--subject", "Hi", "--body", "Hi", "--company", *sam),
        "template remove": company("template", "remove", "follow-up", "--company", *sam),
    }
    assert {what: (r.exit_code, "only an admin" in r.stderr) for what, r in refused.items()} == {
        what: (5, True) for what in refused
    }
    assert [u["email"] for u in company.json("user", "list")] == [
        "maria@northwind.example",
        "sam@northwind.example",
        "ines@northwind.example",
    ]
    assert company.json("settings", "alt-address", "list", "--pending")[0]["address"] == "sam.lee@home.example"
    assert [t["name"] for t in company.json("template", "list")] == ["follow-up"]


def test_a_removed_user_no_longer_acts_and_keeps_their_mail(company):
    company.ok("contact", "add", "Ada Byron", "--email", "ada@acme.example")
    sent = (
        b"From: Sam <sam@northwind.example>\r\nTo: Ada <ada@acme.example>\r\nSubject: Quote\r\n"
        b"Date: Mon, 16 Nov 2026 09:00:00 +0000\r\nMessage-ID: <q1@northwind.example>\r\n\r\nHello.\r\n"
    )
    company.ok("bcc-ingest", input=sent)
    yourself = company("user", "remove", "maria@northwind.example")
    assert yourself.exit_code == 2 and "cannot remove yourself" in yourself.stderr
    not_admin = company("user", "remove", "ines@northwind.example", "--user", "sam@northwind.example")
    assert not_admin.exit_code == 5 and "only an admin" in not_admin.stderr

    assert company.ok("user", "remove", "Sam Lee").stdout == "Removed sam@northwind.example; their mail stays.\n"
    gone = company("inbox", "--user", "sam@northwind.example")
    assert gone.exit_code == 2 and "user sam@northwind.example was removed" in gone.stderr
    kept = company.json("inbox", "--team", "--folder", "all", "--user", "ines@northwind.example")
    assert [(e["subject"], e["owner"]) for e in kept] == [("Quote", "sam@northwind.example")]
    listed = {u["email"]: u["removed"] for u in company.json("user", "list")}
    assert listed == {"maria@northwind.example": False, "sam@northwind.example": True, "ines@northwind.example": False}
    again = company("user", "remove", "sam@northwind.example")
    assert again.exit_code == 2 and "removed already" in again.stderr


def test_the_default_user_is_not_removed(company):
    company.ok("user", "default", "ines@northwind.example")
    refused = company("user", "remove", "ines@northwind.example", "--user", "maria@northwind.example")
    assert refused.exit_code == 2 and "is the default user" in refused.stderr
    assert not any(u["removed"] for u in company.json("user", "list"))


@pytest.mark.sqlite_only
def test_a_file_has_no_login_roles(cli):
    refused = cli("init", "--name", "Maria", "--email", "maria@northwind.example", "--db-role", "maria")
    assert refused.exit_code == 2 and "a database file has no logins" in refused.stderr
