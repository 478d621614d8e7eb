"""`pdmail inbox` and `pdmail search` in their plain forms, without loading the command-line toolkit.

On a big team database these two must answer at once, start-up included, and loading Typer and
building the command cost a read a tenth of its time. The options such a read is given most
(``inbox --limit 50 --team --json``, ``search WORDS --mine``, ``--db``, ``--user``...) are read here,
and the command runs in the same session, with the same code and the same errors and exit codes
as through Typer (:mod:`pdmail.cli.reading`). Anything else (``--help``, ``--awaiting-reply``, a
value that is not a plain number, an option given in a form not read here, a typo) returns None,
and the full command line decides, as it always did.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

# What SQLite stores in an INTEGER: a larger --limit or --page is left to the full command line's error.
_INT64_MAX = 2**63 - 1
_DIGITS = re.compile(r"[0-9]+")

_GLOBAL_FLAGS = {"--json": "json", "--quiet": "quiet", "-q": "quiet", "--debug": "debug"}
_GLOBAL_VALUES = {"--db": "db", "--user": "user"}
# What every listing command also takes after its name (pdmail.cli.common: output and shared options).
_COMMAND_FLAGS = {"--json": "json_output", "--nl": "nl", "--quiet": "quiet", "-q": "quiet", "--debug": "debug"}
_COMMAND_VALUES = {"--db": "db", "--user": "user", "--format": "fmt"}

_INBOX_FLAGS = {
    "--team": "team",
    "--unread": "unread",
    "--needs-deal": "needs_deal",
    "--unlinked": "unlinked",
    "--proposed": "proposed",
    "--count": "count",
}
_INBOX_VALUES = {
    "--folder": "folder",
    "--contact": "contact",
    "--deal": "deal",
    "--org": "org",
    "--since": "since",
    "--until": "until",
}
_NUMBERS = {"--limit": "limit", "--page": "page"}
_SEARCH_FLAGS = {"--mine": "mine"}
_SEARCH_NUMBERS = {"--limit": "limit"}
_SHARED = frozenset(_COMMAND_FLAGS.values()) | frozenset(_COMMAND_VALUES.values())


@dataclass
class ReadCall:
    """A plain call of ``inbox`` or ``search``: the global options, the command's own, its words."""

    command: str
    state: dict = field(default_factory=dict)  # --db, --user, --json, --quiet, --debug before the command
    given: dict = field(default_factory=dict)  # the shared options after it (pdmail.cli.session.session_from)
    options: dict = field(default_factory=dict)  # the command's own options, by parameter name
    words: list[str] = field(default_factory=list)


def parse_read_call(argv: list[str]) -> ReadCall | None:
    """The call, when ``argv`` is `[global options] inbox|search [options]` in forms read here; else None."""
    args = list(argv)
    state: dict = {}
    while args and args[0] not in ("inbox", "search"):
        if not _take(args, state, _GLOBAL_FLAGS, _GLOBAL_VALUES, {}):
            return None
    if not args:
        return None
    call = ReadCall(command=args.pop(0), state=state)
    flags, values, numbers = options_of(call.command)
    read: dict = {}
    while args:
        if not args[0].startswith("-") and call.command == "search":
            call.words.append(args.pop(0))
        elif not _take(args, read, flags, values, numbers):
            return None
    if call.command == "search" and len(call.words) != 1:
        return None  # no words, or several: the full command line says what it takes
    call.given = {k: v for k, v in read.items() if k in _SHARED}
    call.options = {k: v for k, v in read.items() if k not in _SHARED}
    return call


def options_of(command: str) -> tuple[dict, dict, dict]:
    """The options read here after ``inbox`` or ``search``, each with the parameter name it is handed
    on as: flags, options with a value, and options with a number."""
    if command == "inbox":
        return {**_COMMAND_FLAGS, **_INBOX_FLAGS}, {**_COMMAND_VALUES, **_INBOX_VALUES}, _NUMBERS
    return {**_COMMAND_FLAGS, **_SEARCH_FLAGS}, dict(_COMMAND_VALUES), _SEARCH_NUMBERS


def _take(args: list[str], into: dict, flags: dict, values: dict, numbers: dict) -> bool:
    """Read the option at the head of ``args`` into ``into``; False when it is not one read here."""
    arg = args.pop(0)
    name, eq, value = arg.partition("=")
    if arg in flags:
        into[flags[arg]] = True
        return True
    if name in values or name in numbers:
        if not eq:
            if not args or args[0].startswith("-"):
                return False
            value = args.pop(0)
        if name in numbers:
            if not _DIGITS.fullmatch(value) or int(value) > _INT64_MAX:
                return False
            into[numbers[name]] = int(value)
        else:
            into[values[name]] = value
        return True
    return False


def run(call: ReadCall) -> int:
    """Run the read; its exit code, after the one line that says what went wrong, if anything did."""
    from pdmail.cli.session import GlobalState, exit_code_for, session_from

    # An option given, even empty, beats the environment, as the full command line has it (`--user ''`:
    # the default user, not PDMAIL_USER's).
    db = call.state["db"] if "db" in call.state else os.environ.get("PDMAIL_DB")
    user = call.state["user"] if "user" in call.state else os.environ.get("PDMAIL_USER") or None
    state = GlobalState(
        db=db or None,
        user=user,
        json=bool(call.state.get("json")),
        quiet=bool(call.state.get("quiet")),
        debug=bool(call.state.get("debug")),
    )
    session = None
    debug = bool(call.given.get("debug") or state.debug)
    try:
        session = session_from(state, call.given)
        debug = session.debug
        _body(call)(session)
        return 0
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - as pdmail.cli.common.run_in_session
        return exit_code_for(exc, debug)
    except SystemExit as done:  # the output closed while Rich drew a table (session.console): its exit code
        return done.code  # type: ignore[return-value]  # end_on_closed_output's, an int
    finally:
        if session is not None:
            session.close()


def _body(call: ReadCall) -> Callable:
    from pdmail.cli import reading

    if call.command == "inbox":
        return lambda s: reading.show_inbox(s, **call.options)
    return lambda s: reading.show_search(s, call.words[0], **call.options)
