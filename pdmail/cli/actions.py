"""Changing email: `share`, `read`, `unread`, `archive`, `delete`, `restore`; and `export`."""

import sys
from pathlib import Path
from typing import Annotated

import typer

from pdmail.cli.common import Session, command

IdArg = Annotated[int, typer.Argument(metavar="ID", help="Email id.")]


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


def share(
    s: Session,
    email_id: IdArg,
    private: Annotated[bool, typer.Option("--private", help="Only you will see this thread.")] = False,
    shared: Annotated[bool, typer.Option("--shared", help="Colleagues see it when it is linked.")] = False,
) -> None:
    """Make a whole thread private or shared. Only its owner may.

    A private email is seen by its owner only, admins included. A shared one is seen by colleagues
    when it is linked to a contact or a deal.

    Examples:
        $ pdmail share 42 --private
    """
    from pdmail.core.errors import UsageError
    from pdmail.store.actions import share as run

    if private == shared:
        raise UsageError("say --private or --shared")
    result = run(s.db, s.user, email_id, "private" if private else "shared")
    s.emit(result, f"Thread of email {email_id} is now {result['visibility']}.")


def read(s: Session, email_id: IdArg) -> None:
    """Mark an email read (on the mail server too, at the next sync).

    Examples:
        $ pdmail read 42
    """
    from pdmail.mailbox.actions import set_read

    s.emit(set_read(s.db, s.user, email_id, True), f"Email {email_id} marked read.")


def unread(s: Session, email_id: IdArg) -> None:
    """Mark an email unread (on the mail server too, at the next sync).

    Examples:
        $ pdmail unread 42
    """
    from pdmail.mailbox.actions import set_read

    s.emit(set_read(s.db, s.user, email_id, False), f"Email {email_id} marked unread.")


def archive(s: Session, email_id: IdArg) -> None:
    """Archive an email; with archive-on-server on, it moves to the server's archive folder too.

    Examples:
        $ pdmail archive 42
    """
    from pdmail.mailbox.actions import archive as run

    s.emit(run(s.db, s.user, email_id), f"Email {email_id} archived.")


def delete(s: Session, email_id: IdArg) -> None:
    """Move an email to the trash (kept with its links, restorable); with delete-on-server on, on the server too.

    Examples:
        $ pdmail delete 42
    """
    from pdmail.mailbox.actions import delete as run

    s.emit(run(s.db, s.user, email_id), f"Email {email_id} moved to the trash; `pdmail restore {email_id}` undoes it.")


def restore(s: Session, email_id: IdArg) -> None:
    """Bring an archived or deleted email back to the inbox (or to sent mail).

    Examples:
        $ pdmail restore 42
    """
    from pdmail.mailbox.actions import restore as run

    s.emit(run(s.db, s.user, email_id), f"Email {email_id} restored.")


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
