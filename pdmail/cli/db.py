"""`pdmail db copy`: a whole database into another, a SQLite file or a team server's PostgreSQL."""

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from pdmail.cli.common import Session, command, err_console, safe

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

db_app = typer.Typer(
    help="The database as a whole: back it up, or copy it to a team server's PostgreSQL and back to a file.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")


@command(db_app, "copy", lists=True, opens_db=False)
def db_copy(
    s: Session,
    source: Annotated[
        str, typer.Argument(metavar="SOURCE", help="The database to copy: a SQLite file or a postgresql:// URL.")
    ],
    target: Annotated[
        str,
        typer.Argument(
            metavar="TARGET",
            help="Where to copy it: a new or empty SQLite file, or an empty PostgreSQL database's postgresql:// URL.",
        ),
    ],
) -> None:
    """Copy everything in a pdmail database into an empty one, then check that both hold the same.

    Every row comes along with its id: the company, users and settings, contacts and deals, all
    email with its raw message, links and choices made by hand, the quarantine (and its spool
    files), the outbox, templates, mail accounts and how far each was synced, so a sync on the
    copy downloads nothing again. The search index is rebuilt in the target.

    The target must hold no pdmail data (exit 2 otherwise, nothing changed); running the same copy
    again adds nothing and checks again. The copy is one transaction, checked row for row before
    it is kept: if the tables differ, nothing is kept (exit 7, naming the tables). Stop syncs and
    the mail server's pipe on the source while copying.

    Examples: `pdmail db copy pdmail.db postgresql://pdmail@db.example/pdmail`  ·
    `pdmail db copy postgresql://pdmail@db.example/pdmail backup.db --json`
    """
    from pdmail.store import open_db
    from pdmail.store.copy import CopyMismatch, copy_database, refuse_unknown_tables

    source_db = open_db(source)
    try:
        refuse_unknown_tables(source_db)  # before a new target is made for nothing
        target_db = open_db(target, create=True)
        try:
            with _progress(s) as progress:
                try:
                    result = copy_database(source_db, target_db, progress=progress)
                except CopyMismatch as exc:
                    _report(s, exc.result)
                    raise
        finally:
            target_db.close()
    finally:
        source_db.close()
    _report(s, result)


@command(db_app, "backup", lists=True)
def db_backup(
    s: Session,
    file: Annotated[str, typer.Argument(metavar="FILE", help="The new backup file.")],
    force: Annotated[bool, typer.Option("--force", help="Replace FILE if it exists.")] = False,
) -> None:
    """Copy the database file as it is at one moment, safely while pdmail runs, and its spool files.

    The copy is a pdmail database of its own (`pdmail --db FILE inbox` reads it). Messages too large
    for the database are copied into FILE.spool beside it: keep the two together. A team server's
    PostgreSQL database is backed up with pg_dump instead (exit 2, saying how).

    Examples:
        $ pdmail db backup ~/backups/pdmail-$(date +%F).db
        $ pdmail db backup /srv/backup/pdmail.db --force --json
    """
    from pathlib import Path

    from pdmail.mailbox.output_file import check_file
    from pdmail.store.backup import backup

    db = s.db
    if db.path is None:
        backup(db, Path(file))  # says how a team server is backed up
    result = backup(db, check_file(Path(file), force=force))
    spool = f", and {result.spool_files} spool file{'' if result.spool_files == 1 else 's'} to {safe(result.spool)}"
    s.emit(
        result.to_json(),
        f"Backed up {safe(result.source)} ({result.size:,} bytes) to {safe(result.target)}"
        f"{spool if result.spool_files else ''}.",
    )


def _report(s: Session, result) -> None:
    def table():
        from rich.table import Table

        t = Table("table", "copied", "already there", "total", "checked")
        for row in result.tables:
            t.add_row(
                row.table,
                f"{row.copied:,}",
                f"{row.already_there:,}",
                f"{row.total:,}",
                "same" if row.verified else f"[bold red]differs[/] ({row.target_rows:,} rows in the target)",
            )
        return t

    s.emit(result.to_json(), table)
    if result.mismatches:
        return
    files = (
        f" and {result.spool_files} spool file{'' if result.spool_files == 1 else 's'}" if result.spool_files else ""
    )
    s.info(
        f"Copied {result.copied:,} rows{files} from {safe(result.source)} to {safe(result.target)}; "
        "checked: every table holds the same rows in both."
    )


class _progress:
    """A Rich progress bar on a terminal; nothing on a pipe, with --json or --quiet."""

    def __init__(self, s: Session) -> None:
        self.enabled = sys.stderr.isatty() and not (s.json or s.quiet)
        self.bar: Progress | None = None
        self.task: TaskID | None = None

    def __enter__(self):
        if not self.enabled:
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            TextColumn("{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console(),
            transient=True,
        )
        self.bar.start()
        self.task = self.bar.add_task("", total=None)
        return self.update

    def update(self, what: str, done: int, total: int) -> None:
        """Each table's name shows as soon as its turn comes, however quickly a small one goes."""
        if self.bar is not None and self.task is not None:
            starts = what != self.bar.tasks[0].description
            self.bar.update(self.task, description=what, completed=done, total=total, refresh=starts)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()
