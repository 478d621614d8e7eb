"""`pdmail bcc-ingest` of one message on stdin, and `pdmail --version`, without the full command line.

A mail server's pipe transport starts pdmail once per message. Building the whole command-line
application (its toolkit, every command module) costs several times what storing one message does,
so the options such a pipe uses are read here; anything else goes to the full command line, which
prints and exits exactly as this path does.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from pdmail.core.records import Record

_GLOBAL_FLAGS = {"--quiet": "quiet", "-q": "quiet", "--json": "json", "--debug": "debug"}
_COMMAND_FLAGS = {"--mta": "mta", "--json": "json", "--nl": "nl", "--quiet": "quiet", "-q": "quiet", "--debug": "debug"}
_GLOBAL_VALUES = {"--db": "db", "--user": "user"}
_COMMAND_VALUES = {"--db": "db", "--user": "user", "--recipient": "recipient"}


class PipeCall(Record):
    db: str | None = None
    user: str | None = None
    recipient: str | None = None
    json: bool = False
    nl: bool = False
    quiet: bool = False
    debug: bool = False
    mta: bool = False


def parse_pipe_call(argv: list[str]) -> PipeCall | None:
    """The call, when ``argv`` is `[global options] bcc-ingest [options]` with no paths; else None."""
    chosen: dict[str, Any] = {}
    flags, values = _GLOBAL_FLAGS, _GLOBAL_VALUES
    seen_command = False
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg == "bcc-ingest" and not seen_command:
            seen_command = True
            flags, values = _COMMAND_FLAGS, _COMMAND_VALUES
            continue
        name, eq, value = arg.partition("=")
        if arg in flags:
            chosen[flags[arg]] = True
        elif name in values and eq:
            chosen[values[name]] = value
        elif arg in values and args and not args[0].startswith("-"):
            chosen[values[arg]] = args.pop(0)
        else:
            return None  # a path, --help, --quarantine, a typo...: the full command line decides
    if not seen_command or (chosen.get("nl") and chosen.get("json")):
        return None  # --json with --nl: the full command line says that is one format too many
    chosen["db"] = chosen.get("db") or os.environ.get("PDMAIL_DB") or None
    return PipeCall(**chosen)


def run(argv: list[str]) -> int | None:
    """The exit code after handling ``argv`` here, or None when the full command line must."""
    if argv[:1] == ["--version"]:
        from pdmail import __version__

        sys.stdout.write(f"pdmail {__version__}\n")
        return 0
    call = parse_pipe_call(argv)
    if call is None:
        return None
    from pdmail.capture import piped as ingest
    from pdmail.cli.bcc_report import write_report
    from pdmail.cli.terminal import error_line

    try:
        from pdmail.store import open_db

        db = open_db(call.db)
        try:
            db.act_for_capture()  # on a team server: the mail server's login, which reads no mail
            outcome = ingest.ingest_stdin(db, sys.stdin.buffer, recipient=call.recipient)
        finally:
            db.close()
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted; everything committed so far is kept.\n")
        return 130
    except Exception as exc:  # noqa: BLE001 - the pipe's one place where errors become exit codes
        return error_line(exc, call.debug, mta=call.mta)
    write_report([outcome], fmt="nl" if call.nl else "json" if call.json else None, quiet=call.quiet)
    return ingest.exit_code([outcome], mta=call.mta)
