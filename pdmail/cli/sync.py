"""`pdmail sync`: mail accounts both ways, built for cron (docs/spec.md, "Exit codes")."""

import sys
from datetime import UTC
from typing import TYPE_CHECKING, Annotated

import typer

from pdmail.cli.common import Session, clean, command
from pdmail.core.errors import combine_exit_codes

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


def register(app: typer.Typer) -> None:
    command(app, "sync", listing=True)(sync)


def sync(
    s: Session,
    account: Annotated[
        str | None, typer.Option("--account", metavar="NAME", help="Only this account (default: all of yours).")
    ] = None,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            help="Stay connected: IMAP IDLE on the inbox, full passes "
            "every few minutes, reconnect when the line drops.",
        ),
    ] = False,
    confirm_deletions: Annotated[
        bool, typer.Option("--confirm-deletions", help="Apply it when most of a folder vanished on the server at once.")
    ] = False,
    full: Annotated[
        bool, typer.Option("--full", help="Re-read every flag and UID even where the server reports no change.")
    ] = False,
) -> None:
    """Bring your mail accounts and pdmail in step, both ways.

    New mail, read/unread, moves and deletions on the server come here; `read`, `unread`,
    `archive`, `delete` and `restore` done here go to the server. Mail waiting in the outbox
    (`pdmail send --at`, or a send to retry) goes out first. Safe to interrupt and to run
    from cron: one run per account at a time (a second one exits 75 at once). Exit codes: 0 done,
    7 some folders or messages failed (each is reported), 75 retry later, 77 credentials or
    certificate need you.

    Examples:
        $ pdmail sync
        $ pdmail sync --account work --json
        $ pdmail sync --watch
    """
    from pdmail.cli.terminal import notice
    from pdmail.sync import engine

    options = engine.SyncOptions(confirm_deletions=confirm_deletions, full_scan=full, notice=notice)
    if watch:
        from pdmail.sync import watch as watcher

        def each_pass(result) -> None:
            _report(s, [result], watching=True)
            _send_outbox(s, account)

        _send_outbox(s, account)
        watcher.watch(s.db, s.user, account, options, report=each_pass)
        return
    send_code = _send_outbox(s, account)
    with _progress(s) as progress:
        options.progress = progress
        results = engine.sync(s.db, s.user, account, options)
    _report(s, results)
    code = combine_exit_codes((engine.exit_code(results), send_code))
    if code:
        raise typer.Exit(code)


def _send_outbox(s: Session, account: str | None) -> int:
    """Scheduled and waiting mail goes out first, so its copy in Sent is recognized in the same run."""
    from datetime import datetime

    from pdmail.send.waiting import anything_waits

    now = datetime.now(UTC)
    if not anything_waits(s.db, s.user, now):
        return 0
    from pdmail.send import outbox

    results = outbox.send_due(s.db, s.user, now, account=account)
    for r in results:
        for warning in r.warnings:
            s.warn(warning)
        if r.error is not None:
            sys.stderr.write(f"Error: outbox {r.item_id}: {clean(r.error.message)}\n")
        elif r.status == "sent" and r.email_id is not None:
            s.info(f"Sent outbox message {r.item_id} (email {r.email_id}).")
    return outbox.exit_code(results)


def _report(s: Session, results, *, watching: bool = False) -> None:
    """One summary line per account, or its JSON: always an array, one object per account; under
    --watch each pass's object on a line of its own, as it comes (a stream has no end to close)."""
    if s.json:
        from pdmail.cli.rows import write_json

        write_json([r.to_json() for r in results], "nl" if watching else s.fmt or "json", sys.stdout)
        sys.stdout.flush()
    elif s.fmt is not None:
        from operator import attrgetter

        from pdmail.cli.rows import Column, Rows

        counts = [Column(name, attrgetter(name), right=True) for name in ("new", "updated", "deleted", "skipped")]
        columns = [
            Column("account", lambda r: r.account),
            *counts,
            Column("left_out", attrgetter("left_out"), title="left out", right=True),
            Column("pushed", lambda r: sum(r.pushed.values()), title="sent to server", right=True),
            Column("errors", lambda r: "; ".join(r.errors), show=lambda r: "\n".join(r.errors), prose=True),
        ]
        s.emit_rows(Rows(columns, results))
    else:
        for r in results:
            sys.stdout.write(clean(r.summary()) + "\n")
        sys.stdout.flush()
    for r in results:
        for error in r.errors:
            sys.stderr.write(f"Error: {clean(error)}\n")


class _progress:
    """A Rich progress bar on a terminal; nothing at all under cron, with --json or --quiet."""

    def __init__(self, s: Session) -> None:
        self.enabled = sys.stderr.isatty() and not (s.json or s.quiet)
        self.bar: Progress | None = None
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self):
        if not self.enabled:
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        from pdmail.cli.common import err_console

        self.bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err_console(), transient=True
        )
        self.bar.start()
        return self.update

    def update(self, folder: str, done: int, total: int) -> None:
        if self.bar is None:
            return
        if folder not in self.tasks:
            self.tasks[folder] = self.bar.add_task(clean(folder), total=total)
        self.bar.update(self.tasks[folder], completed=done, total=total)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()
