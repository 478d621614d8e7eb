"""A command loads its own module and nothing of the others; into a pipe it loads no terminal renderer;
the plainest reads load no command-line toolkit, and answer exactly as the full command line does.

`pdmail inbox` and `pdmail search` must answer fast on a big database, start-up included: importing and
building every command (the sync, the outbox, the accounts...) cost more than the read itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.both_engines

MAIL = (
    b"From: Maria Lopez <maria@northwind.example>\r\nTo: Ada Byron <ada@acme.example>\r\n"
    b"Subject: Gearbox quote\r\nDate: Mon, 16 Nov 2026 09:12:00 +0100\r\n"
    b"Message-ID: <lazy1@northwind.example>\r\n\r\nHello Ada, the gearbox quote is attached.\r\n"
)

# Modules a read command has no use for: other commands' modules, Rich (it only draws on a terminal), and
# the linking (a read re-links nothing unless a colleague's change waits for the user's mail on a team server).
NOT_FOR_A_READ = (
    "rich",
    "typer",  # the plainest reads are read without it (pdmail.cli.plain_reads)
    "pdmail.linking",
    "pdmail.cli.sync",
    "pdmail.cli.send",
    "pdmail.cli.accounts",
    "pdmail.cli.admin",
    "pdmail.cli.crm",
    "pdmail.cli.link",
    "pdmail.cli.db",
    "pdmail.cli.capture",
    "pdmail.cli.actions",
)


def console_script() -> Path:
    """The `pdmail` the package installs, beside the interpreter running the tests."""
    script = Path(sys.executable).with_name("pdmail")
    assert script.exists(), f"no console script at {script}: install the package"
    return script


def run_into_a_pipe(*args: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    """The real `pdmail` process with stdout a pipe, and every module it imported."""
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    done = subprocess.run([str(console_script()), *args], capture_output=True, text=True, env=env, timeout=120)
    lines = done.stderr.splitlines()
    loaded = {line.rsplit("|", 1)[1].strip() for line in lines if line.startswith("import time:")}
    return done, loaded


def unrelated(loaded: set[str]) -> set[str]:
    return {m for m in loaded for name in NOT_FOR_A_READ if m == name or m.startswith(name + ".")}


@pytest.fixture
def one_mail(company, db_path):
    company.ok("bcc-ingest", input=MAIL)
    return db_path


@pytest.mark.parametrize("args", [["inbox", "--folder", "all", "--limit", "50"], ["search", "gearbox"]])
def test_a_read_into_a_pipe_loads_its_own_command_only(one_mail, args):
    done, loaded = run_into_a_pipe("--db", str(one_mail), *args)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Gearbox quote" in done.stdout and "\x1b[" not in done.stdout  # it did read, in plain text
    assert "pdmail.cli.reading" in loaded
    assert unrelated(loaded) == set()


@pytest.mark.parametrize("args, note", [(["inbox"], "No email here."), (["search", "nowhere"], "Nothing found.")])
def test_an_empty_listing_into_a_pipe_loads_no_renderer(one_mail, args, note):
    done, loaded = run_into_a_pipe("--db", str(one_mail), *args)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("\n") == 1 and note + "\n" in done.stderr  # the header alone, and the note
    assert "pdmail.cli.reading" in loaded
    assert unrelated(loaded) == set()


def test_a_page_with_more_after_it_says_so_without_loading_a_renderer(company, db_path):
    """The note "More: --page 2" has a colon, and no Rich markup or emoji code: it is written as it is."""
    company.ok("bcc-ingest", input=MAIL)
    company.ok("bcc-ingest", input=MAIL.replace(b"lazy1@", b"lazy2@").replace(b"09:12:00", b"10:12:00"))
    done, loaded = run_into_a_pipe("--db", str(db_path), "inbox", "--folder", "all", "--limit", "1")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "More: --page 2\n" in done.stderr
    assert unrelated(loaded) == set()


@pytest.mark.sqlite_only
@pytest.mark.parametrize("message", ["[bold]Done[/bold]", "Done :thumbs_up:"])
def test_a_note_with_markup_or_an_emoji_code_is_still_rendered(message):
    """The other side of the check above: a note Rich would change still goes through Rich."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            f"from pdmail.cli.common import Session\nSession(None, None, False, False, False).info({message!r})",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() in ("Done", "Done 👍")


def test_help_still_lists_every_command(one_mail):
    """The check above can fail: listing the commands loads every module."""
    done, loaded = run_into_a_pipe("--help")
    assert done.returncode == 0
    listed = {line.split()[0] for line in done.stdout.splitlines() if line.startswith("  ") and line[2] != " "}
    assert {"inbox", "sync", "outbox", "account", "db"} <= listed
    assert {"pdmail.cli.sync", "pdmail.cli.send", "pdmail.cli.accounts"} <= unrelated(loaded)


@pytest.mark.sqlite_only
def test_the_app_knows_which_module_registers_each_command():
    """Every command a module registers is named in the app's table with that module, and nothing else is."""
    from pdmail.cli.app import PdmailGroup
    from pdmail.cli.lazy_group import registered

    sources = {source for source in PdmailGroup.sources.values() if source is not None}
    registers = {}
    for source in sources:
        app = registered(source)
        for name in [c.name for c in app.registered_commands] + [g.name for g in app.registered_groups]:
            assert name not in registers, f"{name!r} is registered twice"
            registers[name] = source
    assert registers == {name: source for name, source in PdmailGroup.sources.items() if source is not None}


def through_the_full_command_line(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`pdmail ARGS` as the Typer application runs it, past the plain path (what `pdmail` did before)."""
    code = "from pdmail.__main__ import _full_command_line\nraise SystemExit(_full_command_line())"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def through_pdmail(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(console_script()), *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=120
    )


PLAIN_READS = [
    ["inbox", "--folder", "all", "--limit", "50"],
    ["inbox", "--folder=all", "--json"],
    ["--json", "inbox", "--folder", "all", "--count"],
    ["inbox", "--folder", "all", "--team", "--unread", "--nl"],
    ["inbox", "--folder", "all", "--contact", "ada@acme.example", "--format", "csv"],
    ["inbox", "--folder", "all", "--limit", "1", "--page", "2"],
    ["inbox", "--folder", "all", "--since", "2026-11-01", "--until", "2026-12-01", "--needs-deal", "--unlinked"],
    ["-q", "inbox", "--folder", "all", "--limit", "1", "--proposed"],
    ["--user", "sam@northwind.example", "inbox", "--folder", "all", "--team"],
    ["search", "gearbox"],
    ["search", "gearbox", "--mine", "--json"],
    ["search", "nowhere", "--limit", "3"],
    ["search", "from:maria@northwind.example", "--format", "tsv"],
    # and the errors: the same line, the same exit code
    ["inbox", "--contact", "nobody@nowhere.example"],
    ["inbox", "--deal", "404"],
    ["inbox", "--limit", "0"],
    ["inbox", "--json", "--nl"],
    ["inbox", "--format", "xml"],
    ["inbox", "--user", "nobody@nowhere.example"],
    ["inbox", "--since", "someday"],
    ["search", "gearbox", "--debug", "--limit", "0"],
]


@pytest.mark.parametrize("args", PLAIN_READS, ids=" ".join)
def test_a_plain_read_answers_as_the_full_command_line_does(one_mail, args):
    company_env = {"PDMAIL_DB": str(one_mail), "PDMAIL_USER": "maria@northwind.example"}
    plain = through_pdmail(*args, env=company_env)
    full = through_the_full_command_line(*args, env=company_env)
    assert (plain.returncode, plain.stdout, plain.stderr) == (full.returncode, full.stdout, full.stderr)
    assert plain.returncode in (0, 2, 4), plain.stderr


@pytest.mark.parametrize(
    "args", [args for args in PLAIN_READS if "nobody@nowhere.example" not in args][:13], ids=" ".join
)
def test_a_plain_read_loads_no_command_line_toolkit(one_mail, args):
    done, loaded = run_into_a_pipe("--db", str(one_mail), "--user", "maria@northwind.example", *args)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not {m for m in loaded if m == "typer" or m.startswith("typer.")}


@pytest.mark.parametrize(
    "args",
    [
        ["inbox", "--awaiting-reply"],
        ["inbox", "--limit", "x"],
        ["inbox", "--limit", "-1"],
        ["inbox", "--help"],
        ["search"],
        ["search", "robot", "arm"],
        ["inbox", "--frobnicate"],
    ],
    ids=" ".join,
)
def test_any_other_call_goes_to_the_full_command_line(one_mail, args):
    """The plain path reads only what it knows; the rest answers as it always did (help, usage errors)."""
    env = {"PDMAIL_DB": str(one_mail), "PDMAIL_USER": "maria@northwind.example", "PYTHONPROFILEIMPORTTIME": "1"}
    plain = through_pdmail(*args, env=env)
    full = through_the_full_command_line(*args, env=env)
    assert "typer" in {line.rsplit("|", 1)[1].strip() for line in plain.stderr.splitlines() if "import time:" in line}
    assert (plain.returncode, plain.stdout) == (full.returncode, full.stdout)


@pytest.mark.parametrize("args", [["--user", "", "inbox", "--folder", "all"], ["--user=", "search", "gearbox"]])
def test_an_empty_global_option_beats_the_environment_on_both_paths(one_mail, args):
    """`--user ''` before the command is the default user (maria), not PDMAIL_USER's (sam, who sees nothing)."""
    env = {"PDMAIL_DB": str(one_mail), "PDMAIL_USER": "sam@northwind.example"}
    plain, full = through_pdmail(*args, env=env), through_the_full_command_line(*args, env=env)
    assert (plain.returncode, plain.stdout, plain.stderr) == (full.returncode, full.stdout, full.stderr)
    assert "Gearbox quote" in plain.stdout, plain.stdout + plain.stderr


@pytest.mark.parametrize("command", ("inbox", "search"))
def test_every_option_the_plain_reads_take_is_the_full_commands_own(command):
    """The plain path names each option as the full command line does, and hands it on under the same
    parameter name: renaming one in pdmail/cli/mail.py without the plain path fails here, not in use."""
    import click
    import typer.main

    from pdmail.cli import plain_reads
    from pdmail.cli.app import app

    group = typer.main.get_command(app)
    full = group.get_command(click.Context(group), command)
    declared = {opt: param.name for param in full.params for opt in param.opts}
    flags, values, numbers = plain_reads.options_of(command)
    taken = {**flags, **values, **numbers}
    assert {opt: declared.get(opt) for opt in taken} == taken
