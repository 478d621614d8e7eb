"""Changing email: `share`, `read`, `unread`, `archive`, `delete`, `restore`; and `export`."""

import sys
from pathlib import Path
from typing import Annotated

import typer

from pdmail.cli.common import Session, command

IdsArg = Annotated[list[int], typer.Argument(metavar="ID...", help="Email ids (one or several).")]
ThreadOption = Annotated[
    bool, typer.Option("--thread", help="Act on the whole thread of each email given (as the inbox shows it).")
]


def register(app: typer.Typer) -> None:
    command(app, "share", lists=True)(share)
    for name, fn in (
        ("read", read),
        ("unread", unread),
        ("archive", archive),
        ("delete", delete),
        ("restore", restore),
    ):
        command(app, name, lists=True)(fn)
    command(app, "export", lists=False)(export)


def _report(s: Session, results: list[dict], line) -> None:
    """One line per email changed (or not); --json: an array of one result per email, however many
    were given, so that a script reads one shape."""
    s.emit(results, "\n".join(line(r) for r in results))


def share(
    s: Session,
    email_ids: IdsArg,
    private: Annotated[bool, typer.Option("--private", help="Only you will see these threads.")] = False,
    shared: Annotated[bool, typer.Option("--shared", help="Colleagues see them when they are linked.")] = False,
    thread: ThreadOption = False,
) -> None:
    """Make whole threads private or shared. Only their owner may.

    A private email is seen by its owner only, admins included. A shared one is seen by colleagues
    when it is linked to a contact or a deal. A thread has one visibility: each ID stands for its
    whole thread, with or without --thread.

    Examples:
        $ pdmail share 42 --private
        $ pdmail share 42 43 --shared
    """
    from pdmail.core.errors import UsageError
    from pdmail.mailbox.actions import share_all

    if private == shared:
        raise UsageError("say --private or --shared")
    results = share_all(s.db, s.user, email_ids, "private" if private else "shared")
    _report(
        s,
        results,
        lambda r: (
            f"Thread of email {r['id']} is now {r['visibility']}."
            if r["changed"] or len(results) == 1
            else f"Thread of email {r['id']} was already {r['visibility']}."
        ),
    )


def read(s: Session, email_ids: IdsArg, thread: ThreadOption = False) -> None:
    """Mark emails read (on the mail server too, at the next sync).

    Examples:
        $ pdmail read 42
        $ pdmail read 42 43 44
        $ pdmail read --thread 42
    """
    from pdmail.mailbox.actions import set_read_all

    results = set_read_all(s.db, s.user, email_ids, True, thread=thread)
    _report(s, results, lambda r: _line(r, "marked read.", "was already read."))


def unread(s: Session, email_ids: IdsArg, thread: ThreadOption = False) -> None:
    """Mark emails unread (on the mail server too, at the next sync).

    Examples:
        $ pdmail unread 42
        $ pdmail unread --thread 42
    """
    from pdmail.mailbox.actions import set_read_all

    results = set_read_all(s.db, s.user, email_ids, False, thread=thread)
    _report(s, results, lambda r: _line(r, "marked unread.", "was already unread."))


def archive(s: Session, email_ids: IdsArg, thread: ThreadOption = False) -> None:
    """Archive emails; with archive-on-server on, they move to the server's archive folder too.

    Examples:
        $ pdmail archive 42
        $ pdmail archive --thread 42 57
    """
    from pdmail.mailbox.actions import archive_all

    results = archive_all(s.db, s.user, email_ids, thread=thread)
    _report(s, results, lambda r: _line(r, "archived.", "was already archived."))


def delete(s: Session, email_ids: IdsArg, thread: ThreadOption = False) -> None:
    """Move emails to the trash (kept with their links, restorable); with delete-on-server on, on the server too.

    Examples:
        $ pdmail delete 42
        $ pdmail delete --thread 42
    """
    from pdmail.mailbox.actions import delete_all

    results = delete_all(s.db, s.user, email_ids, thread=thread)
    moved = " ".join(str(r["id"]) for r in results if r["changed"])
    _report(s, results, lambda r: _line(r, "moved to the trash.", "was already in the trash."))
    if moved:
        s.info(f"`pdmail restore {moved}` undoes it.")


def restore(s: Session, email_ids: IdsArg, thread: ThreadOption = False) -> None:
    """Bring archived or deleted emails back to the inbox (or to sent mail).

    An email that is neither archived nor in the trash stays where it is, and the output says so.

    Examples:
        $ pdmail restore 42
        $ pdmail restore --thread 42
    """
    from pdmail.mailbox.actions import restore_all

    results = restore_all(s.db, s.user, email_ids, thread=thread)
    _report(
        s,
        results,
        lambda r: _line(
            r,
            f"restored to {'sent mail' if r['folder'] == 'sent' else 'the inbox'}.",
            f"is not in the trash or the archive (it is in {'sent mail' if r['folder'] == 'sent' else 'the inbox'}): "
            "nothing to restore.",
        ),
    )


def _line(result: dict, changed: str, unchanged: str) -> str:
    return f"Email {result['id']} {changed if result['changed'] else unchanged}"


def export(
    s: Session,
    fmt: Annotated[str, typer.Option("--format", help="jsonl (one email per line) or mbox.")] = "jsonl",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write this file instead of stdout (- for stdout); never through a symbolic link."
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the --output file if it exists.")] = False,
    mine: Annotated[bool, typer.Option("--mine", help="Only your own email.")] = False,
) -> None:
    """Export the email you may see: JSON lines, or an mbox any mail reader opens.

    The file appears only once complete; an existing one is replaced only with --force.

    Examples:
        $ pdmail export > mail.jsonl
        $ pdmail export --format mbox --output team.mbox
    """

    from pdmail.core.errors import UsageError
    from pdmail.mailbox import export as exporter
    from pdmail.mailbox import output_file

    if fmt not in ("jsonl", "mbox"):
        raise UsageError(f"unknown format {fmt!r}: use jsonl or mbox")
    if output is not None and str(output) == output_file.STDOUT:
        output = None
    if force and output is None:
        raise UsageError("--force goes with --output FILE")
    target = output_file.check_file(output, force=force) if output is not None else None
    run = exporter.export_jsonl if fmt == "jsonl" else exporter.export_mbox
    db, user = s.db, s.user
    if target is None:
        count = run(db, user, sys.stdout.buffer, mine=mine)
    else:
        with output_file.written_whole(target, force=force) as out:
            count = run(db, user, out, mine=mine)
    s.info(f"Exported {count} emails.")
