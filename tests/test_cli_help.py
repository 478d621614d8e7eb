"""Every command teaches: it has help that reads like other tools', and the help shows examples.

The help of each command names the kind of value each option takes (`--limit INTEGER`, `ID`), never
Typer's `<int>` or `<bool>`, shows every option's name whole within 80 columns, and ends with an
Examples section of `$ pdmail ...` lines, one example per line, that run the command it documents.
"""

from __future__ import annotations

import re

import pytest
from clitree import all_commands

from pdmail.cli.helptext import split_help


def test_there_are_commands():
    assert len(all_commands()) > 15


@pytest.mark.parametrize("path,cmd", all_commands(), ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_command_has_help_with_examples(path, cmd, cli):
    _, examples = split_help(cmd.help or "")
    assert examples, f"pdmail {' '.join(path)} needs help with an example"
    result = cli(*path, "--help")
    assert result.exit_code == 0
    out = result.stdout
    assert out.startswith(f"Usage: pdmail {' '.join(path)} ")
    shown = out.split("Examples:\n", 1)[1].splitlines()
    assert shown == [f"  $ {example}" for example in examples]
    assert all(example.startswith(f"pdmail {path[0]}") for example in examples), examples


@pytest.mark.parametrize("path,cmd", all_commands(), ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_help_names_the_kind_of_each_value_and_cuts_no_option(path, cmd, cli):
    out = cli(*path, "--help").stdout  # in-process help is laid out for 80 columns
    for odd in ("<bool>", "<int>", "<str>", "<float>", "<list", "{ID}", "[[", "…"):
        assert odd not in out, f"pdmail {' '.join(path)} --help shows {odd}"
    for param in cmd.params:
        for name in [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]:
            if name.startswith("-") and not getattr(param, "hidden", False):
                assert re.search(rf"(^|[ ,]){re.escape(name)}([ ,]|$)", out, re.M), f"{name} is not shown whole"
    for line in out.split("Examples:\n", 1)[0].splitlines():
        assert len(line) <= 80, f"pdmail {' '.join(path)} --help: {line!r} is wider than the terminal"


def test_an_option_that_takes_a_number_says_so(cli):
    out = cli("inbox", "--help").stdout
    assert re.search(r"^  --limit INTEGER\s", out, re.M)
    assert re.search(r"^  --since WHEN\s", out, re.M)  # a date, a date and time, 30d, yesterday
    assert re.search(r"^  --team\s+Add", out, re.M)  # a flag takes nothing
    assert "Usage: pdmail contact show [OPTIONS] CONTACT\n" in cli("contact", "show", "--help").stdout  # id or name
    assert "Usage: pdmail link [OPTIONS] [ID]\n" in cli("link", "--help").stdout
    assert "Usage: pdmail bcc-ingest [OPTIONS] [PATHS]...\n" in cli("bcc-ingest", "--help").stdout
