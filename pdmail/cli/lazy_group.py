"""A command group that imports and builds a command only when it is asked for.

Building every command of the app (importing each module, turning each signature into click
parameters) cost more than a read command's own work on a busy machine, and ``pdmail inbox`` has no
use for the sync, the outbox or the account commands. The app's group knows every command's name and
which module registers it; ``pdmail inbox`` imports the module of ``inbox`` and builds that command
alone. Listing the commands (``pdmail --help``) builds them all, as before.

A module still registers its commands with ``register(app)``, as it always did; that is done once
per process, on a Typer app of its own, and the command asked for is built from there with the
settings of the whole app.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import ClassVar

import typer
from typer.main import get_group

from pdmail.cli.helptext import HelpGroup

# The ``register`` function of a command module, imported when first called.
Registration = Callable[[typer.Typer], None]
Source = Callable[[], Registration]

_registered: dict[Source, typer.Typer] = {}


def registered(source: Source) -> typer.Typer:
    """The commands of one module, registered once per process (``register`` adds sub-groups to
    the module's own apps, which a second call would add twice)."""
    if source not in _registered:
        app = typer.Typer()
        source()(app)
        _registered[source] = app
    return _registered[source]


def build(name: str, source: Source) -> typer.core.TyperCommand | typer.core.TyperGroup:
    """The click command ``name`` of the module ``source`` imports, and nothing else of it."""
    module_app = registered(source)
    alone = typer.Typer()
    alone.registered_commands = [c for c in module_app.registered_commands if c.name == name]
    alone.registered_groups = [g for g in module_app.registered_groups if g.name == name]
    if len(alone.registered_commands) + len(alone.registered_groups) != 1:
        raise LookupError(f"the module of command {name!r} does not register it once")
    return get_group(alone).commands[name]  # type: ignore[return-value]  # what get_group built is one of these


class LazyCommands(MutableMapping):
    """A group's commands by name: every name known from the start, each command built when first read.

    Iterating gives the names alone, in the order of ``sources``; reading a value builds it.
    """

    def __init__(self, built: MutableMapping, sources: Mapping[str, Source | None]) -> None:
        self._built = dict(built)
        self._sources = dict(sources)

    def __getitem__(self, name: str):
        if name not in self._built:
            source = self._sources.get(name)
            if source is None:
                raise KeyError(name)
            self._built[name] = build(name, source)
        return self._built[name]

    def __setitem__(self, name: str, command) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._built[name]
        self._sources = {n: s for n, s in self._sources.items() if n != name}

    def _names(self) -> list[str]:
        known = [n for n, source in self._sources.items() if source is not None or n in self._built]
        return known + [n for n in self._built if n not in self._sources]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def __contains__(self, name: object) -> bool:
        return name in self._built or (isinstance(name, str) and self._sources.get(name) is not None)


class LazyGroup(HelpGroup):
    """A :class:`HelpGroup` whose commands come from ``sources``: name -> the module that registers it
    (None: a command defined with the group itself, such as ``help``), in the order help lists them."""

    sources: ClassVar[Mapping[str, Source | None]] = {}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.commands = LazyCommands(self.commands, self.sources)

    def list_commands(self, ctx) -> list[str]:
        return list(self.commands)  # the names alone: click's own would build every command
