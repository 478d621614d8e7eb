"""`pdmail bcc-ingest`: the Smart BCC entrance, for people, procmail and mail servers' pipes."""

import sys
from typing import Annotated, Optional

import typer

from pdmail.cli.common import Session, command, fail, safe


def register(app: typer.Typer) -> None:
    command(app, "bcc-ingest", lists=True)(bcc_ingest)


def _progress(s: Session, total_hint: bool):
    """A Rich progress bar on a terminal; nothing under --json, --quiet or a pipe."""
    if s.json or s.quiet or not sys.stderr.isatty() or not total_hint:
        return None, None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from pdmail.cli.common import err_console

    bar = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                   TimeRemainingColumn(), console=err_console(), transient=True)
    task = bar.add_task("Ingesting", total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return bar, update


def bcc_ingest(
    s: Session,
    paths: Annotated[Optional[list[str]], typer.Argument(
        help="Message files (.eml), mbox files or Maildir folders. Without paths: one message on stdin.",
        show_default=False)] = None,
    recipient: Annotated[Optional[str], typer.Option(
        "--recipient", help="The envelope recipient, when the mail server knows it (Postfix: ${recipient}).")] = None,
    mta: Annotated[bool, typer.Option(
        "--mta", help="For a mail server's pipe: refused mail exits 0 (no bounce), internal errors exit 75.")] = False,
    quarantine: Annotated[bool, typer.Option("--quarantine", help="List refused messages awaiting review.")] = False,
    release: Annotated[Optional[int], typer.Option(
        "--release", metavar="QID", help="Ingest a quarantined message after review.")] = None,
    workers: Annotated[Optional[int], typer.Option(
        "--workers", help="Parser processes for many inputs (default: one per core but one; 0 parses in this process).")] = None,
) -> None:
    """Capture mail sent to the company's Smart BCC address.

    Only users' login and alternative addresses may use it; anything else is quarantined with the
    reason (exit 3), never discarded. A message forwarded with no To address is unwrapped and the
    original is stored; `+deal42` in the capture address files it on deal 42.

    Examples:

    `pdmail bcc-ingest < message.eml`

    `pdmail bcc-ingest ~/Maildir/.Sent --json`

    `pdmail bcc-ingest --mta --recipient "$RECIPIENT"` (in a Postfix pipe transport)
    """
    from pdmail import ingest
    from pdmail.terminal import notice

    if quarantine or release is not None:
        return _quarantine_commands(s, quarantine, release)
    try:
        if not paths:
            stdin = sys.stdin.buffer if hasattr(sys.stdin, "buffer") else sys.stdin
            outcomes = [ingest.ingest_stdin(s.db, stdin, recipient=recipient)]
        else:
            from pdmail.inputs import expand

            items = list(expand(paths))
            bar, update = _progress(s, len(items) > 20)
            if bar:
                with bar:
                    outcomes = ingest.ingest_many(s.db, items, recipient=recipient, progress=update, workers=workers,
                                                  notice=notice)
            else:
                outcomes = ingest.ingest_many(s.db, items, recipient=recipient, workers=workers, notice=notice)
    except Exception as exc:
        if mta:
            from pdmail.errors import EXIT_TEMPFAIL

            fail(exc, s.debug)
            raise typer.Exit(EXIT_TEMPFAIL) from None
        raise
    _report(s, outcomes, single=not paths)
    code = ingest.exit_code(outcomes, mta=mta)
    if code:
        raise typer.Exit(code)


def _report(s: Session, outcomes, *, single: bool) -> None:
    from pdmail.bcc_report import write_report

    write_report(outcomes, json_output=s.json, quiet=s.quiet, single=single)


def _quarantine_commands(s: Session, listing: bool, release: Optional[int]) -> None:
    from pdmail.store import quarantine as quarantine_store

    if release is not None:
        from pdmail.capture import release as release_one

        outcome = release_one(s.db, release, s.user)
        s.emit(outcome.to_json(), f"Released quarantined message {release}: {outcome.status}"
               + (f" as email {outcome.id}" if outcome.id else ""))
        return
    held = quarantine_store.list_held(s.db, s.user)

    def table():
        from rich.table import Table

        t = Table("id", "received", "from", "subject", "reason")
        for h in held:
            t.add_row(str(h.id), h.received_utc, safe(h.from_email or ""), safe(h.subject or ""), safe(h.reason))
        return t if held else "No quarantined messages."

    s.emit([h.to_json() for h in held], table)
