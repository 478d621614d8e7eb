"""A command's session, without the command-line toolkit: its options, its database, its output.

Every command runs in a :class:`Session`. It lives apart from :mod:`pdmail.cli.common` (which builds
commands with Typer) so that the plainest reads (``pdmail.cli.plain_reads``) run in one without
loading Typer; common.py gives the same names to everything else.
"""

import re
import sys
from dataclasses import dataclass, field
from typing import Any

from pdmail.cli.terminal import clean, end_on_closed_output, error_line, stdout_closed
from pdmail.core.errors import EXIT_INTERRUPTED

# What Rich would read as an emoji code (":smile:"): a colon, no space, a colon. "More: --page 2" is none.
_EMOJI_CODE = re.compile(r":\S*?:")

# Lists: how many a person sees at once in a table on a terminal; a pipe, a file, tsv, csv or JSON gets everything.
TERMINAL_PAGE = 50


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
    raise SystemExit(end_on_closed_output())  # as typer.Exit would end it: with this code, nothing more printed


def err_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False, emoji=False)


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


def session_from(state: GlobalState, given: dict) -> Session:
    """The session of a command from its own options (``given``) and the global ones before it
    (``state``). Precedence: command option > global option > PDMAIL_DB / PDMAIL_USER > default."""
    from pdmail.cli.rows import MACHINE_FORMATS

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


def exit_code_for(exc: BaseException, debug: bool) -> int:
    """The exit code of a command whose body raised ``exc``, after the one line that says why."""
    if isinstance(exc, KeyboardInterrupt):
        sys.stderr.write("Interrupted; everything committed so far is kept.\n")
        return EXIT_INTERRUPTED
    if isinstance(exc, BrokenPipeError) and stdout_closed():  # `pdmail export | head -1`: nothing went wrong
        return end_on_closed_output()
    if isinstance(exc, OverflowError) and "SQLite INTEGER" in str(exc):
        from pdmail.core.errors import UsageError  # a number the user gave, beyond what SQLite stores

        exc = UsageError("a number given is too large: ids and counts fit in 64 bits")
    return error_line(exc, debug)
