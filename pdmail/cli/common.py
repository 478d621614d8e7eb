"""What every command shares: the global options, the session they open, output and errors.

Commands are plain functions decorated with :func:`command`, which adds ``--db``, ``--user`` (and
``--json`` for commands that list or show) and translates every error into one ``Error:`` line
and the exit code of docs/spec.md ("Exit codes").
"""

import functools
import inspect
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer

from pdmail.cli.helptext import HelpCommand, HelpGroup  # noqa: F401  # HelpGroup: for every group
from pdmail.cli.terminal import clean, end_on_closed_output, error_line, stdout_closed  # clean: also for callers
from pdmail.core.errors import EXIT_INTERRUPTED

# What Rich would read as an emoji code (":smile:"): a colon, no space, a colon. "More: --page 2" is none.
_EMOJI_CODE = re.compile(r":\S*?:")

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

# Lists: how many a person sees at once in a table on a terminal; a pipe, a file, tsv, csv or JSON gets everything.
TERMINAL_PAGE = 50
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


@dataclass
class GlobalState:
    db: str | None = None
    user: str | None = None
    json: bool = False
    quiet: bool = False
    debug: bool = False


@dataclass
class Session:
    """One command's view of the world: the options it was given and the database, opened lazily."""

    db_path: str | None  # a file's path, or a postgresql:// URL
    user_email: str | None
    json: bool  # machine output: --json, --nl, --format json or nl
    quiet: bool
    debug: bool
    fmt: str | None = None  # the output format asked for (rows.FORMATS); None: the human default
    _db: Any = field(default=None, repr=False)
    _user: Any = field(default=None, repr=False)
    _zone: Any = field(default=None, repr=False)

    @property
    def db(self):
        if self._db is None:
            from pdmail.store import open_db

            self._db = open_db(self.db_path)
        return self._db

    @property
    def user(self):
        if self._user is None:
            from pdmail.store.users import current_user

            self._user = current_user(self.db, self.user_email)
            if self.db.has_logins:  # colleagues' changes that wait to re-link this user's own mail
                from pdmail.store.users import changes_wait_for

                if changes_wait_for(self.db, self._user):  # a read mostly finds none: no linking code loaded
                    from pdmail.linking.relink import catch_up

                    catch_up(self.db, self._user)
        return self._user

    @property
    def zone_setting(self) -> str | None:
        """The user's ``time-zone`` setting; None for the system's zone."""
        from pdmail.store.users import get_setting

        return get_setting(self.db, "time-zone", self.user) or None

    @property
    def zone(self):
        """The zone every time is shown in, and typed times are read in."""
        if self._zone is None:
            from pdmail.core.local_time import zone

            self._zone = zone(self.zone_setting)
        return self._zone

    def time_option(self, text: str | None, option: str) -> str | None:
        """A time typed in ``option`` (``--since 2026-11-01``, ``--until yesterday``), read in the
        user's zone, as the UTC text the store compares; None when the option was not given."""
        if text is None:
            return None
        from datetime import UTC, datetime

        from pdmail.core.time_phrases import read_time
        from pdmail.store.db import iso_utc

        return iso_utc(read_time(text, datetime.now(UTC), self.zone_setting, option=option))

    def create_db(self):
        from pdmail.store import open_db

        self._db = open_db(self.db_path, create=True)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()

    # --- output -------------------------------------------------------------------------------

    def emit(self, data: Any, human=None) -> None:
        """``data`` as JSON with --json (--nl: on one line); otherwise ``human``.

        ``human`` is a string (printed as it is, never wrapped), a Rich renderable, a listing
        (:class:`pdmail.cli.rows.Rows`), a list of these printed one after the other, or a callable
        that returns one of them.
        """
        if self.json:
            from pdmail.cli.rows import write_json

            write_json(data, self.fmt or "json", sys.stdout)
            return
        if callable(human):
            human = human()
        self._print(human)

    def _print(self, block: Any) -> None:
        from pdmail.cli.rows import Rows

        if block is None:
            return
        if isinstance(block, list | tuple):
            for part in block:
                self._print(part)
        elif isinstance(block, str):
            sys.stdout.write(block + ("" if block.endswith("\n") else "\n"))
        elif isinstance(block, Rows):
            self.emit_rows(block)
        else:
            from rich.text import Text

            # Text is soft-wrapped: the terminal folds a long line, and a pipe gets it whole.
            console().print(block, soft_wrap=isinstance(block, Text))

    def emit_rows(self, rows) -> None:
        """A listing in the format asked for: by default a table on a terminal, tab-separated rows elsewhere.

        An empty listing in tsv or csv is its header line alone, so that a script reads no line that
        is not a record; the person who ran it reads ``rows.empty`` on stderr.
        """
        from pdmail.cli import rows as listing

        out_is_terminal = sys.stdout.isatty()
        fmt = self.fmt or ("json" if self.json else "table" if out_is_terminal else "tsv")
        width = console().width if out_is_terminal else 0  # only a table on a terminal fits a width
        written = listing.write(rows, fmt, sys.stdout, terminal=out_is_terminal, width=width)
        if written == 0 and rows.empty and fmt in ("tsv", "csv"):
            self.info(rows.empty)
        for note in rows.notes:
            self.info(note)

    def emit_json_array(self, items) -> None:
        """A JSON array of already-encoded objects, one per line, written as they come (long lists)."""
        from pdmail.cli.rows import write_json

        write_json(items, self.fmt or "json", sys.stdout, encoded=True)

    def for_a_person(self) -> bool:
        """Whether what is printed is a table on someone's terminal (not a pipe, a file, or a format
        asked for: tsv, csv and JSON are for programs, which get every row)."""
        return self.fmt in (None, "table") and sys.stdout.isatty()

    def paging(self, limit: int | None, page: int | None) -> "Paging":
        """The page of a list to show: 50 at a time on a terminal, everything in a pipe or with --json,
        unless --limit says; --page alone pages by 50."""
        from pdmail.core.errors import UsageError

        if (limit is not None and limit < 1) or (page is not None and page < 1):
            raise UsageError("--limit and --page must be at least 1")
        if limit is None and (page is not None or self.for_a_person()):
            limit = TERMINAL_PAGE
        return Paging(limit, page or 1)

    def more(self, paging: "Paging", shown: int, total: int, noun: str) -> None:
        """The line under a list that was cut short: how many there are and how to see the rest."""
        if paging.limit is None or paging.offset + shown >= total:
            return
        first, last = paging.offset + 1, paging.offset + shown
        rest = total - last
        if not (self.quiet or self.json):  # one line, however narrow the terminal
            sys.stderr.write(
                f"Showing {first:,}–{last:,} of {total:,} {noun}; {rest:,} more: --page {paging.page + 1} "
                "(or --limit N; a pipe gets them all).\n"
            )

    def info(self, message: str) -> None:
        """A human note on stderr (Rich markup allowed), silenced by --quiet and machine output."""
        if self.quiet or self.json:
            return
        if "[" not in message and not _EMOJI_CODE.search(message):  # no markup and no :emoji: code: the
            note(message)  # text as it is, without loading Rich ("No email here.", "More: --page 2")
            return
        from rich.text import Text

        note(Text.from_markup(message).plain)

    def warn(self, message: str) -> None:
        if not self.quiet:
            note(f"Warning: {clean(message)}")


def note(text: str) -> None:
    """A line for the person on stderr: whole off a terminal (a log keeps it on one line); on a
    terminal wrapped at its width, never inside a `backticked command`, which stays copyable."""
    from pdmail.cli.terminal import wrap_keeping_commands

    err = sys.stderr
    if err.isatty():
        import shutil

        text = "\n".join(wrap_keeping_commands(text, shutil.get_terminal_size().columns))
    err.write(text + "\n")


@dataclass(frozen=True)
class Paging:
    """Which rows of a list to show: ``limit`` None for all of them."""

    limit: int | None
    page: int = 1

    @property
    def offset(self) -> int:
        return 0 if self.limit is None else (self.page - 1) * self.limit


def console():
    """A fresh console per use: its width follows the terminal (and COLUMNS) at the time of printing."""
    from rich.console import Console

    out = Console(highlight=False, soft_wrap=False, emoji=False)
    out.on_broken_pipe = _stop_on_closed_output  # type: ignore[method-assign]  # Rich's own ends with exit 1, which means a bug here
    return out


def _stop_on_closed_output() -> None:
    raise typer.Exit(end_on_closed_output())


def err_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False, emoji=False)


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


def choose_format(*, json_output: bool, nl: bool, fmt: str | None, global_json: bool) -> str | None:
    """The one output format of a command (None: the human default), or a usage error.

    --json and --nl are short for --format json and --format nl; a command's own choice beats the
    global --json, and two different choices are refused rather than guessed between.
    """
    from pdmail.cli.rows import FORMATS
    from pdmail.core.errors import UsageError

    asked = []
    if fmt is not None:
        if fmt not in FORMATS:
            raise UsageError(f"unknown format {fmt!r}: use {', '.join(FORMATS[:-1])} or {FORMATS[-1]}")
        asked.append(fmt)
    asked += [name for name, given in (("json", json_output), ("nl", nl)) if given]
    if len(set(asked)) > 1:
        raise UsageError(f"give one output format, not {' and '.join(dict.fromkeys(asked))}")
    if asked:
        return asked[0]
    return "json" if global_json else None


def open_session(ctx: typer.Context, **given) -> Session:
    """The session of a command from its own options (``given``) and the global ones before it."""
    from pdmail.cli.rows import MACHINE_FORMATS

    state = ctx.find_root().obj
    if not isinstance(state, GlobalState):
        state = GlobalState(db=_env_path("PDMAIL_DB"), user=os.environ.get("PDMAIL_USER") or None)
    session = Session(
        db_path=given.get("db") or state.db,
        user_email=given.get("user") or state.user,
        json=False,
        quiet=bool(given.get("quiet") or state.quiet),
        debug=bool(given.get("debug") or state.debug),
    )
    session.fmt = choose_format(
        json_output=bool(given.get("json_output")),
        nl=bool(given.get("nl")),
        fmt=given.get("fmt"),
        global_json=state.json,
    )
    session.json = session.fmt in MACHINE_FORMATS
    return session


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
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted; everything committed so far is kept.\n")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except BrokenPipeError as exc:
        if stdout_closed():  # `pdmail export | head -1`: nobody reads on, nothing went wrong
            raise typer.Exit(end_on_closed_output()) from None
        raise fail(exc, debug) from None
    except OverflowError as exc:
        if "SQLite INTEGER" not in str(exc):
            raise fail(exc, debug) from None
        from pdmail.core.errors import UsageError  # a number the user gave, beyond what SQLite stores

        raise fail(UsageError("a number given is too large: ids and counts fit in 64 bits"), debug) from None
    except typer.BadParameter as exc:  # a check made in the command's body, after parsing
        from pdmail.core.errors import UsageError

        raise fail(UsageError(exc.format_message()), debug) from None
    except Exception as exc:  # noqa: BLE001 - the one place errors become exit codes
        raise fail(exc, debug) from None
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
