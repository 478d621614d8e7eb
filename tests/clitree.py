"""Every leaf command of the app, for tests that must cover each one (help, the permission matrix)."""

from __future__ import annotations

from typer.main import get_command

from pdmail.cli.app import app


def all_commands() -> list[tuple[list[str], object]]:
    """(path, click command) for each command a user can run, e.g. (["account", "add"], ...)."""

    def walk(cmd, path):
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                yield from walk(sub, path + [name])
        else:
            yield path, cmd

    return list(walk(get_command(app), []))
