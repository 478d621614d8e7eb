"""Where the database and the acting user come from: command option, global option, environment, default."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

MARIA = "maria@northwind.example"


@pytest.fixture
def two_dbs(cli, tmp_path):
    """Two databases with different admins: the answer to `user list` tells which one was opened."""
    paths = {}
    for name in ("env", "given"):
        path = tmp_path / f"{name}.db"
        cli.ok("init", "--name", name.title(), "--email", f"{name}@example.com", "--db", str(path))
        paths[name] = path
    return paths


def admin_of(cli, *args, env=None) -> str:
    result = cli(*args, env=env)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)[0]["email"]


def test_global_db_beats_the_environment(cli, two_dbs):
    env = {"PDMAIL_DB": str(two_dbs["env"])}
    assert admin_of(cli, "user", "list", "--json", env=env) == "env@example.com"
    assert admin_of(cli, "--db", str(two_dbs["given"]), "user", "list", "--json", env=env) == "given@example.com"


def test_command_db_beats_the_global_one(cli, two_dbs):
    env = {"PDMAIL_DB": str(two_dbs["env"])}
    got = admin_of(cli, "--db", str(two_dbs["env"]), "user", "list", "--db", str(two_dbs["given"]), "--json", env=env)
    assert got == "given@example.com"


def test_global_user_beats_the_environment(company):
    env = {"PDMAIL_USER": "sam@northwind.example"}
    who = company("settings", "show", "--json", env=env)
    assert who.exit_code == 0
    shown = company("--user", MARIA, "settings", "show", "--json", env=env)
    per_command = company("--user", "sam@northwind.example", "settings", "show", "--user", MARIA, "--json", env=env)
    assert json.loads(shown.stdout) == json.loads(per_command.stdout)
    assert company("--user", "nobody@northwind.example", "settings", "show", env=env).exit_code == 2
    assert company("settings", "show", env={"PDMAIL_USER": "nobody@northwind.example"}).exit_code == 2
    assert company("--user", MARIA, "settings", "show", env={"PDMAIL_USER": "nobody@northwind.example"}).exit_code == 0


def test_environment_is_used_when_no_option_is_given(cli, two_dbs):
    assert admin_of(cli, "user", "list", "--json", env={"PDMAIL_DB": str(two_dbs["given"])}) == "given@example.com"


@pytest.mark.parametrize(
    "args",
    [
        ["inbox", "--limit", "5", "--folder", "all", "--contact", "ada@acme.example"],
        ["bcc-ingest", "--quarantine", "--limit", "5"],
        ["read", "1", "2", "--json"],
    ],
)
def test_read_commands_start_without_pydantic(company, db_path, args):
    """Typer would load pydantic to convert plain options (lists of them too); pdmail converts them itself
    (start-up time)."""
    company.ok("contact", "add", "Ada Byron", "--email", "ada@acme.example")
    code = (
        "import sys\n"
        "from pdmail.cli.app import app\n"
        "try:\n"
        f"    app({args!r})\n"
        "except SystemExit as e:\n"
        "    assert e.code in (0, 4), e.code\n"
        "print('pydantic' in sys.modules)\n"
    )
    env = dict(os.environ, PDMAIL_DB=str(db_path))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"


@pytest.mark.parametrize(
    "args,words",
    [
        (["inbox", "--limit", "ten"], "'ten' is not an integer"),
        (["inbox", "--page", "1.5"], "is not an integer"),
        (["read", "1", "two"], "'two' is not an integer"),
    ],
)
def test_plain_options_still_refuse_bad_values_with_exit_2(company, args, words):
    result = company(*args)
    assert result.exit_code == 2 and words in result.stderr


def test_plain_options_convert_values(company, db_path):
    assert company("inbox", "--limit", " 3 ", "--json").exit_code == 0
    assert company("inbox", "--limit", "3", "--db", str(db_path), "--json").stdout.strip() == "[]"
    assert company("--json", "inbox", "--unread").stdout.strip() == "[]"
