"""Every command teaches: it has help, and the help shows an example."""

from __future__ import annotations

import pytest
from clitree import all_commands


def test_there_are_commands():
    assert len(all_commands()) > 15


@pytest.mark.parametrize("path,cmd", all_commands(), ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_command_has_help_with_an_example(path, cmd, cli):
    assert cmd.help and "Example" in cmd.help, f"pdmail {' '.join(path)} needs help with an example"
    result = cli(*path, "--help")
    assert result.exit_code == 0 and "Example" in result.stdout
