"""What every command shares: the global options, the session they open, output and errors.

Commands are plain functions decorated with :func:`command`, which adds ``--db``, ``--user`` (and
``--json`` for commands that list or show) and translates every error into one ``Error:`` line
and the exit code of docs/spec.md ("Exit codes").
"""

import functools
import inspect
import os
import sys
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer

from pdmail.cli.terminal import clean, end_on_closed_output, error_line, stdout_closed  # clean: also for callers

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

# Lists: how many a person sees at once on a terminal; a pipe, a file or --json gets everything.
TERMINAL_PAGE = 50
LimitOption = Annotated[
    int | None,
    typer.Option(
        "--limit",
        metavar="N",
        help="At most N (default: 50 on a terminal, all in a pipe or with --json).",
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
    json: bool
    quiet: bool
    debug: bool
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
        """``data`` as JSON with --json; otherwise ``human`` (a string, a Rich renderable or a callable)."""
        if self.json:
            from pdmail.core import json_text

            sys.stdout.write(json_text.dumps(data, indent=2) + "\n")
            return
        if human is None:
            return
        if callable(human):
            human = human()
        if human is None:
            return
        if isinstance(human, str):
            sys.stdout.write(human + ("" if human.endswith("\n") else "\n"))
        else:
            console().print(human)

    def emit_json_array(self, items) -> None:
        """A JSON array of already-encoded objects, one per line, written as they come (long lists)."""
        from pdmail.core.json_text import escape

        out = sys.stdout
        first = True
        for text in items:
            out.write(("[\n  " if first else ",\n  ") + escape(text))
            first = False
        out.write("[]\n" if first else "\n]\n")

    def for_a_person(self) -> bool:
        """Whether what is printed goes to someone's terminal (not a pipe, a file or --json)."""
        return not self.json and sys.stdout.isatty()

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

    def emit_rows(self, headers: list[str], rows, *, empty: str, table=None) -> None:
        """A list: a table on a terminal; elsewhere one line per row, its fields separated by tabs and
        no header line (for cut, sort and grep), written as the rows come, at any length.

        ``table``: a Rich table with its columns, when the terminal's should look other than plain.
        """
        out = sys.stdout
        if not self.for_a_person():
            wrote = False
            for row in rows:
                out.write("\t".join(clean(field) for field in row) + "\n")
                wrote = True
            if not wrote:
                self.info(empty)
            return
        from rich.table import Table

        if table is None:
            table = Table(*headers)
        for row in rows:
            table.add_row(*(safe(field) for field in row))
        if not table.row_count:
            out.write(empty + "\n")
            return
        console().print(table)

    def info(self, message: str) -> None:
        """A human note on stderr, silenced by --quiet and --json."""
        if not (self.quiet or self.json):
            err_console().print(message, highlight=False)

    def warn(self, message: str) -> None:
        if not self.quiet:
            sys.stderr.write(f"Warning: {clean(message)}\n")


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


def command(group: typer.Typer, name: str, *, lists: bool = False, **kwargs):
    """Register ``fn(session, ...)`` as a command with the shared options and error translation."""

    def decorate(fn):
        sig = inspect.signature(fn, eval_str=True)
        own = list(sig.parameters.values())[1:]
        extra = [
            inspect.Parameter("pdmail_ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context),
            inspect.Parameter("db", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=CommandDbOption),
            inspect.Parameter("user", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=CommandUserOption),
        ]
        if lists:
            extra.append(
                inspect.Parameter("json_output", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=JsonOption)
            )

        @functools.wraps(fn)
        def wrapper(*args, pdmail_ctx: typer.Context, db=None, user=None, json_output=False, **kw):
            state = pdmail_ctx.find_root().obj
            if not isinstance(state, GlobalState):
                state = GlobalState(db=_env_path("PDMAIL_DB"), user=os.environ.get("PDMAIL_USER") or None)
            session = Session(
                db_path=db or state.db,
                user_email=user or state.user,
                json=bool(json_output or state.json),
                quiet=state.quiet,
                debug=state.debug,
            )
            try:
                return fn(session, *args, **kw)
            except (typer.Exit, typer.Abort):
                raise
            except KeyboardInterrupt:
                sys.stderr.write("Interrupted; everything committed so far is kept.\n")
                raise typer.Exit(130) from None
            except BrokenPipeError as exc:
                if stdout_closed():  # `pdmail export | head -1`: nobody reads on, nothing went wrong
                    raise typer.Exit(end_on_closed_output()) from None
                raise fail(exc, session.debug) from None
            except OverflowError as exc:
                if "SQLite INTEGER" not in str(exc):
                    raise fail(exc, session.debug) from None
                from pdmail.core.errors import UsageError  # a number the user gave, beyond what SQLite stores

                raise fail(
                    UsageError("a number given is too large: ids and counts fit in 64 bits"), session.debug
                ) from None
            except Exception as exc:  # noqa: BLE001 - the one place errors become exit codes
                raise fail(exc, session.debug) from None
            finally:
                session.close()

        wrapper.__signature__ = sig.replace(parameters=own + extra)  # type: ignore[attr-defined]  # read by typer
        wrapper.__annotations__ = {p.name: p.annotation for p in own + extra}
        group.command(name, **kwargs)(wrapper)
        return fn

    return decorate


def _env_path(name: str) -> str | None:
    return os.environ.get(name) or None
