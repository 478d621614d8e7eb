"""What every command shares: the global options, the session they open, output and errors.

Commands are plain functions decorated with :func:`command`, which adds ``--db``, ``--user`` (and
``--json`` for commands that list or show) and translates every error into one ``Error:`` line
and the exit code of docs/spec.md ("Exit codes").
"""

import functools
import inspect
import os
from typing import Annotated, Any

import typer

from pdmail.cli.helptext import HelpCommand, HelpGroup  # noqa: F401  # HelpGroup: for every group

# The session and its output live in session.py (no Typer there); every command takes them from here.
from pdmail.cli.session import (  # noqa: F401
    TERMINAL_PAGE,
    GlobalState,
    Paging,
    Session,
    choose_format,
    console,
    err_console,
    exit_code_for,
    note,
    session_from,
)
from pdmail.cli.terminal import clean, error_line  # clean: also for callers

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="PDMAIL_DB",
        metavar="PATH|URL",
        help="Database file, or a team server's postgresql:// URL (default: pdmail.db in your user data folder).",
        show_default=False,
    ),
]
UserOption = Annotated[
    str | None,
    typer.Option(
        "--user",
        envvar="PDMAIL_USER",
        metavar="EMAIL",
        help="Act as this user (default: the one set by `pdmail user default`).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
NlOption = Annotated[bool, typer.Option("--nl", help="Print one JSON object per line (the same as --format nl).")]
FormatOption = Annotated[
    str | None,
    typer.Option(
        "--format",
        metavar="table|tsv|csv|json|nl",
        help="Output format (default: a table on a terminal, tab-separated rows elsewhere; --json is json).",
        show_default=False,
    ),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Print only results and errors.")]
DebugOption = Annotated[bool, typer.Option("--debug", help="Show tracebacks of internal errors.")]

LimitOption = Annotated[
    int | None,
    typer.Option(
        "--limit",
        metavar="N",
        help="At most N (default: 50 on a terminal; all in a pipe, a file or another --format).",
        show_default=False,
    ),
]
PageOption = Annotated[
    int | None, typer.Option("--page", metavar="N", help="Which page of --limit (1 is the first).", show_default=False)
]

# The same options on each command, without the environment variable: the global option already
# read it, and a command-level reading would beat a global `--db` given before the command.
# Precedence: command option > global option > PDMAIL_DB / PDMAIL_USER > default.
CommandDbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        metavar="PATH|URL",
        show_default=False,
        help="Database file or postgresql:// URL (default: $PDMAIL_DB, else pdmail.db in your user data folder).",
    ),
]
CommandUserOption = Annotated[
    str | None,
    typer.Option(
        "--user",
        metavar="EMAIL",
        show_default=False,
        help="Act as this user (default: $PDMAIL_USER, else the one set by `pdmail user default`).",
    ),
]


# --- terminal safety ------------------------------------------------------------------------------


def safe(text: object, *, keep_newlines: bool = False) -> str:
    """Cleaned and escaped for Rich markup: a subject like ``[b]x[/b]`` prints as itself."""
    from rich.markup import escape

    return escape(clean(text, keep_newlines=keep_newlines))


# --- commands -------------------------------------------------------------------------------------


def fail(exc: BaseException, debug: bool) -> "typer.Exit":
    return typer.Exit(error_line(exc, debug))


def _param(name: str, annotation, default=None) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def output_options(*, listing: bool) -> list[inspect.Parameter]:
    """--json for a command that prints an object; a listing also takes --nl and --format."""
    params = [_param("json_output", JsonOption, False)]
    if listing:
        params += [_param("nl", NlOption, False), _param("fmt", FormatOption, None)]
    return params


def shared_options(*, opens_db: bool = True) -> list[inspect.Parameter]:
    """The global options a command also takes after its name: `pdmail sync -q` as `pdmail -q sync`."""
    database = [_param("db", CommandDbOption), _param("user", CommandUserOption)] if opens_db else []
    return [*database, _param("quiet", QuietOption, False), _param("debug", DebugOption, False)]


def open_session(ctx: typer.Context, **given) -> Session:
    """The session of a command from its own options (``given``) and the global ones before it."""
    state = ctx.find_root().obj
    if not isinstance(state, GlobalState):
        state = GlobalState(db=_env_path("PDMAIL_DB"), user=os.environ.get("PDMAIL_USER") or None)
    return session_from(state, given)


def run_in_session(ctx: typer.Context, given: dict, body) -> Any:
    """``body(session)`` with every error it raises turned into one line and its exit code."""
    session: Session | None = None
    debug = bool(given.get("debug"))
    try:
        session = open_session(ctx, **given)
        debug = session.debug
        return body(session)
    except (typer.Exit, typer.Abort):
        raise
    except typer.BadParameter as exc:  # a check made in the command's body, after parsing
        from pdmail.core.errors import UsageError

        raise fail(UsageError(exc.format_message()), debug) from None
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - the one place errors become exit codes
        raise typer.Exit(exit_code_for(exc, debug)) from None
    finally:
        if session is not None:
            session.close()


def command(
    group: typer.Typer,
    name: str,
    *,
    lists: bool = False,
    listing: bool = False,
    opens_db: bool = True,
    optional_values: dict[str, str] | None = None,
    **kwargs,
):
    """Register ``fn(session, ...)`` as a command with the shared options and error translation.

    ``lists``: it prints something, and takes --json. ``listing``: what it prints is a listing
    (or a report per input), which also takes --nl and --format (pdmail/cli/rows.py).
    ``opens_db=False``: the command names its databases itself (``db copy SOURCE TARGET``), so it
    takes no ``--db`` or ``--user`` that it would ignore. ``optional_values``: options whose value
    may be left out, and the value they then take (``{"--awaiting-reply": "3d"}``).
    """

    def decorate(fn):
        sig = inspect.signature(fn, eval_str=True)
        own = list(sig.parameters.values())[1:]
        extra = [inspect.Parameter("pdmail_ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)]
        if lists or listing:
            extra += output_options(listing=listing)
        extra += shared_options(opens_db=opens_db)
        shared = {p.name for p in extra[1:]}

        @functools.wraps(fn)
        def wrapper(*args, pdmail_ctx: typer.Context, **kw):
            given = {k: kw.pop(k) for k in list(kw) if k in shared}
            return run_in_session(pdmail_ctx, given, lambda session: fn(session, *args, **kw))

        wrapper.__signature__ = sig.replace(parameters=own + extra)  # type: ignore[attr-defined]  # read by typer
        wrapper.optional_values = optional_values or {}  # type: ignore[attr-defined]  # read by HelpCommand
        wrapper.__annotations__ = {p.name: p.annotation for p in own + extra}
        group.command(name, cls=HelpCommand, **kwargs)(wrapper)
        return fn

    return decorate


def _env_path(name: str) -> str | None:
    return os.environ.get(name) or None
