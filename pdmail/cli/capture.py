"""`pdmail bcc-ingest`: the Smart BCC entrance, for people, procmail and mail servers' pipes."""

import sys
from datetime import UTC
from typing import Annotated

import typer

from pdmail.cli.common import Session, command
from pdmail.cli.rows import Column, Rows
from pdmail.cli.terminal import error_line


def register(app: typer.Typer) -> None:
    command(app, "bcc-ingest", listing=True)(bcc_ingest)


def _progress(s: Session, total_hint: bool):
    """A Rich progress bar on a terminal; nothing under --json, --quiet or a pipe."""
    if s.json or s.quiet or not sys.stderr.isatty() or not total_hint:
        return None, None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from pdmail.cli.common import err_console

    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console(),
        transient=True,
    )
    task = bar.add_task("Ingesting", total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return bar, update


def bcc_ingest(
    s: Session,
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            help="Message files, mbox files, Maildir folders or folders of message files. Without paths: one message on stdin.",
            show_default=False,
        ),
    ] = None,
    recipient: Annotated[
        str | None,
        typer.Option(
            "--recipient", help="The envelope recipient, when the mail server knows it (Postfix: ${recipient})."
        ),
    ] = None,
    mta: Annotated[
        bool,
        typer.Option(
            "--mta", help="For a mail server's pipe: refused mail exits 0 (no bounce), internal errors exit 75."
        ),
    ] = False,
    quarantine: Annotated[bool, typer.Option("--quarantine", help="List refused messages awaiting review.")] = False,
    release: Annotated[
        int | None, typer.Option("--release", metavar="QID", help="Ingest a quarantined message after review.")
    ] = None,
    discard: Annotated[
        int | None, typer.Option("--discard", metavar="QID", help="Delete a quarantined message for good.")
    ] = None,
    discard_all: Annotated[
        bool,
        typer.Option(
            "--discard-all", help="Delete every quarantined message you may review that is older than --older-than."
        ),
    ] = False,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            metavar="AGE",
            help="With --discard-all: 30d, 12h, 2w, or a time in your time zone (2026-11-01, yesterday).",
        ),
    ] = None,
    page: Annotated[
        int | None, typer.Option("--page", metavar="N", help="With --quarantine: which page (1 is the oldest).")
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            metavar="N",
            help="With --quarantine: entries per page (default: 50 on a terminal, all in a pipe or with --json).",
        ),
    ] = None,
    search: Annotated[
        str | None,
        typer.Option(
            "--search",
            metavar="TEXT",
            help="With --quarantine: only entries whose sender, recipient, reason or (your own) subject holds TEXT.",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="Parser processes for many inputs (default: one per core but one; 0 parses in this process).",
        ),
    ] = None,
) -> None:
    """Capture mail sent to the company's Smart BCC address.

    Only users' login and alternative addresses may use it; anything else is quarantined with the
    reason (exit 3), never discarded, and held once however often it comes. A message forwarded with
    no To address is unwrapped and the original is stored; `+deal42` in the capture address files it
    on deal 42. Review with `--quarantine`, then `--release QID` or `--discard QID`.

    Examples:
        $ pdmail bcc-ingest < message.eml
        $ pdmail bcc-ingest ~/Maildir/.Sent --json
        $ pdmail bcc-ingest --mta --recipient "$RECIPIENT"   # in a Postfix pipe transport
    """
    if quarantine or release is not None or discard is not None or discard_all:
        return _quarantine_commands(
            s,
            release=release,
            discard=discard,
            discard_all=discard_all,
            older_than=older_than,
            paging=s.paging(limit, page),
            search=search,
        )
    from pdmail.capture import batch as ingest  # loaded only to ingest: a quarantine listing needs none of it
    from pdmail.cli.terminal import notice

    try:
        s.db.act_for_capture()  # on a team server: the mail server's login, which reads no mail
        if not paths:
            stdin = sys.stdin.buffer if hasattr(sys.stdin, "buffer") else sys.stdin
            outcomes = [ingest.ingest_stdin(s.db, stdin, recipient=recipient)]
        else:
            from pdmail.capture.inputs import expand

            items = list(expand(paths))
            bar, update = _progress(s, len(items) > 20)
            if bar:
                with bar:
                    outcomes = ingest.ingest_many(
                        s.db, items, recipient=recipient, progress=update, workers=workers, notice=notice
                    )
            else:
                outcomes = ingest.ingest_many(s.db, items, recipient=recipient, workers=workers, notice=notice)
    except Exception as exc:
        if isinstance(exc, ingest.RunStopped):  # what was committed before it stopped is reported
            _report(s, exc.outcomes)
            sys.stderr.write(
                f"Stopped after {len(exc.outcomes)} inputs; the same command again goes on from "
                "there (nothing is stored twice).\n"
            )
        if mta:
            raise typer.Exit(error_line(exc, s.debug, mta=True)) from None
        raise
    _report(s, outcomes)
    code = ingest.exit_code(outcomes, mta=mta)
    if code:
        raise typer.Exit(code)


def _report(s: Session, outcomes) -> None:
    from pdmail.cli.bcc_report import write_report

    def rows(items) -> None:
        columns = [
            Column("source", lambda o: o.source),
            Column("status", lambda o: o.status),
            Column("id", lambda o: o.id, right=True),
            Column("quarantine_id", lambda o: o.quarantine_id, right=True),
            Column("reason", lambda o: o.reason, prose=True),
        ]
        s.emit_rows(Rows(columns, items))

    write_report(outcomes, fmt=s.fmt, quiet=s.quiet, write_rows=rows)


def _quarantine_commands(
    s: Session,
    *,
    release: int | None,
    discard: int | None,
    discard_all: bool,
    older_than: str | None,
    paging,
    search: str | None,
) -> None:
    from pdmail.core.errors import UsageError
    from pdmail.store import quarantine as quarantine_store

    if sum((release is not None, discard is not None, discard_all)) > 1:
        raise UsageError("give one of --release, --discard and --discard-all")
    if release is not None:
        from pdmail.capture.save import release as release_one

        outcome = release_one(s.db, release, s.user)
        s.emit(
            outcome.to_json(),
            f"Released quarantined message {release}: {outcome.status}"
            + (f" as email {outcome.id}" if outcome.id else ""),
        )
        return
    if discard is not None:
        quarantine_store.discard(s.db, s.user, discard)
        s.emit({"id": discard, "status": "discarded"}, f"Discarded quarantined message {discard}.")
        return
    if discard_all:
        _discard_older(s, older_than)
        return
    held = quarantine_store.list_held(s.db, s.user, page=paging.page, limit=paging.limit, search=search or None)
    _list(s, held, paging)


def _discard_older(s: Session, older_than: str | None) -> None:
    from datetime import datetime

    from pdmail.core.errors import UsageError
    from pdmail.core.time_phrases import cutoff
    from pdmail.store import quarantine as quarantine_store

    if not older_than:
        raise UsageError("--discard-all needs --older-than AGE (30d, 12h, 2w or a date; 0d for everything)")
    before = cutoff(older_than, datetime.now(UTC), s.zone_setting)
    ids = quarantine_store.discard_older(s.db, s.user, before.strftime("%Y-%m-%dT%H:%M:%SZ"))
    s.emit({"discarded": ids}, f"Discarded {len(ids)} quarantined message{'' if len(ids) == 1 else 's'}.")


def _list(s: Session, held, paging) -> None:
    from pdmail.core.local_time import shown, zone_label

    zone = s.zone
    columns = [
        Column("id", lambda h: h.id, right=True),
        Column(
            "received_utc",
            lambda h: h.received_utc,
            title=f"received ({zone_label((h.received_utc for h in held.items), zone)})",
            show=lambda h: shown(h.received_utc, zone),
        ),
        Column("from", lambda h: h.from_email),
        Column("size", lambda h: h.size, show=lambda h: f"{h.size:,}", right=True),
        Column(
            "subject",
            lambda h: None if h.subject_hidden else h.subject,
            show=lambda h: "(not yours to see)" if h.subject_hidden else h.subject or "",
            clip=True,
        ),
        Column("reason", lambda h: h.reason, prose=True),
    ]
    empty = "No quarantined messages." if held.page == 1 else "No more quarantined messages."
    s.emit_rows(Rows(columns, held.items, json=[h.to_json() for h in held.items], empty=empty))
    s.more(paging, len(held.items), held.total, "quarantined messages")
