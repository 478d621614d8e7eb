"""`pdmail send`, `pdmail outbox ...` and `pdmail template ...`."""

import os
import shlex
import subprocess
import sys
import tempfile
from datetime import UTC
from pathlib import Path
from typing import Annotated

import typer

from pdmail.cli.common import (
    CommandDbOption,
    CommandUserOption,
    DebugOption,
    FormatOption,
    HelpGroup,
    JsonOption,
    LimitOption,
    NlOption,
    PageOption,
    QuietOption,
    Session,
    clean,
    command,
    run_in_session,
    safe,
)
from pdmail.cli.rows import Column, Rows

outbox_app = typer.Typer(cls=HelpGroup, invoke_without_command=True)
OutboxSearchOption = Annotated[
    str | None,
    typer.Option("--search", metavar="TEXT", help="Only messages whose subject or a recipient holds TEXT."),
]
template_app = typer.Typer(
    cls=HelpGroup, help="Reusable messages with merge fields such as {contact.first_name}.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    command(app, "send", lists=True)(send)
    app.add_typer(outbox_app, name="outbox")
    app.add_typer(template_app, name="template")


def _clock():
    from datetime import datetime

    return datetime.now(UTC)


def send(
    s: Session,
    to: Annotated[list[str] | None, typer.Option("--to", metavar="ADDR", help="Recipient (repeat, or a, b).")] = None,
    cc: Annotated[list[str] | None, typer.Option("--cc", metavar="ADDR", help="Copy to (repeatable).")] = None,
    bcc: Annotated[
        list[str] | None,
        typer.Option("--bcc", metavar="ADDR", help="Blind copy: in the envelope only, never in the headers."),
    ] = None,
    subject: Annotated[str | None, typer.Option("--subject", help="Subject line.")] = None,
    body: Annotated[str | None, typer.Option("--body", help="The text of the message.")] = None,
    body_file: Annotated[
        Path | None, typer.Option("--body-file", metavar="PATH", help="Read the text from a file (- for stdin).")
    ] = None,
    attach: Annotated[
        list[Path] | None, typer.Option("--attach", metavar="PATH", help="Attach a file (repeatable).")
    ] = None,
    reply_to: Annotated[
        int | None,
        typer.Option(
            "--reply-to", metavar="ID", help="Answer this email: its thread, deal, Re: subject and recipients."
        ),
    ] = None,
    sender_only: Annotated[
        bool, typer.Option("--sender-only", help="With --reply-to: answer only the sender, not everyone on it.")
    ] = False,
    private: Annotated[bool, typer.Option("--private", help="Keep the sent email private to you.")] = False,
    template: Annotated[
        str | None,
        typer.Option("--template", metavar="NAME", help="Start from this template (its merge fields are filled in)."),
    ] = None,
    deal: Annotated[
        str | None,
        typer.Option(
            "--deal", metavar="DEAL", help="The deal whose fields a template uses, when it is not clear (id or title)."
        ),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", metavar="WHEN", help="Send later: 'tomorrow 09:00', 'monday 10:00', 2026-03-10T14:00."),
    ] = None,
    account: Annotated[
        str | None,
        typer.Option(
            "--account", metavar="ACCOUNT", help="Send from this account: name, address or id (default: your default)."
        ),
    ] = None,
) -> None:
    """Send an email through your account's SMTP server, now or later (--at).

    The message is stored as your outgoing email and linked at once; a copy goes to the server's
    Sent folder unless the provider files one itself. Without --body or --body-file, $EDITOR opens
    when you are on a terminal; when you close it, pdmail asks: [s]end, [e]dit again, save as
    [d]raft or [q]uit without saving. A draft waits in `pdmail outbox` until `pdmail outbox edit ID`
    sends it. A message whose delivery is uncertain is never sent twice without you: see `pdmail outbox`.

    Examples:
        $ pdmail send --to ana@acme.example --subject "Quote" --body-file quote.txt --attach quote.pdf
        $ pdmail send --reply-to 42 --body "Thanks, Ana: Tuesday works."
        $ pdmail send --to ana@acme.example --template follow-up --at "tomorrow 09:00"
        $ pdmail send --reply-to 42          # write it in $EDITOR; answer d to keep it as a draft
    """
    from pdmail.send import outbox
    from pdmail.store import names

    text = body
    if body is not None and body_file is not None:
        raise typer.BadParameter("give --body or --body-file, not both")
    if body_file is not None:
        text = _read_body_file(body_file)
    req = outbox.SendRequest(
        to=list(to or []),
        cc=list(cc or []),
        bcc=list(bcc or []),
        subject=subject,
        body=text,
        attachments=list(attach or []),
        reply_to=reply_to,
        reply_all=not sender_only,
        private=private,
        template=template,
        deal=None if deal is None else names.deal_id(s.db, deal),
        at=at,
        account=account,
    )
    if body is None and body_file is None and template is None and _on_terminal():
        from pdmail.send import drafts

        if at is not None:  # a mistyped time is told now: once the editor closed, it would cost the typing
            outbox.send_time(s.db, s.user, at, _clock())

        def check(written, choice: str) -> None:
            tried = _with_written(req, written)
            outbox.outbox_fields(s.db, s.user, tried, _clock(), unfinished=choice == "draft")

        text, said = _first_buffer(s, outbox.prefill(s.db, s.user, req))
        choice, written = _write_in_editor(s, text, said, check)
        if choice == "quit" or written is None:
            s.info("Discarded; nothing was sent or saved.")
            return
        req = _with_written(req, written)
        if choice == "draft":
            item = drafts.save(s.db, s.user, req, _clock())
            s.emit(item.to_json(), f"{item.id}")
            s.info(f"Saved as draft {item.id}; `pdmail outbox edit {item.id}` opens it again.")
            return
    result = outbox.send(s.db, s.user, req, _clock())
    _report(s, result)


def _on_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def _with_written(req, written):
    """The request with what the person wrote in the editor: its To, Cc, Subject and text."""
    from dataclasses import replace

    return replace(req, to=written.to, cc=written.cc, subject=written.subject, body=written.body)


def _read_body_file(path: Path) -> str:
    from pdmail.core.errors import UsageError

    try:
        data = sys.stdin.buffer.read() if str(path) == "-" else path.expanduser().read_bytes()
    except OSError as exc:
        raise UsageError(f"--body-file {path}: cannot read it ({exc.strerror})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"--body-file {path}: not UTF-8 text") from None


def _first_buffer(s: Session, start) -> tuple[str, str | None]:
    """The editor's first text for ``send`` (a reply's body quotes the original), and the line that
    says who wrote the quoted text (None when nothing is quoted)."""
    from pdmail.send import editor_buffer

    said = None
    quoted = None
    if start.quoted_text is not None:
        when = _shown_date(s, start.quoted_date)
        said = f"On {when}, {start.quoted_from or 'someone'} wrote:" if when else f"{start.quoted_from} wrote:"
        quoted = (said, start.quoted_text)
    return editor_buffer.buffer(to=start.to, cc=start.cc, subject=start.subject, quoted=quoted), said


# What a person may do after each edit; a message that cannot be read back can only be edited or left.
CHOICES = "[s]end, [e]dit again, save as [d]raft or [q]uit without saving"
CHOICES_UNREADABLE = "[e]dit again or [q]uit without saving"


def _write_in_editor(s: Session, text: str, said: str | None, check):
    """(what the person chose: "send", "draft" or "quit"; the message as written, None after quit).

    The buffer holds To, Cc and Subject above an instruction comment and the body. After each edit
    a question: send, edit again, save as a draft or quit without saving. ``check(written, choice)``
    composes the message without keeping it and raises what would refuse it (a mistyped address, a
    message without a To to send): the question is asked again, so nothing written is lost.
    """
    from pdmail.core.errors import UsageError
    from pdmail.send import editor_buffer

    while True:
        text = _edit(text)
        try:
            written = editor_buffer.read(text)
        except ValueError as exc:
            s.warn(str(exc))
            written = None
        if written is not None and not editor_buffer.has_own_text(written.body, said):
            raise UsageError("the message is empty; nothing was sent or saved")
        while True:
            answer = _ask(CHOICES if written is not None else CHOICES_UNREADABLE, "s" if written else "e")
            if answer == "s" and written is not None and not written.to:
                s.warn("the To line is empty: [e]dit again to add a recipient, or save it as a [d]raft")
                continue
            if answer in ("s", "d") and written is not None:
                choice = "send" if answer == "s" else "draft"
                try:
                    check(written, choice)
                except UsageError as exc:
                    s.warn(f"{exc.message}; nothing was sent or saved yet")
                    continue
                return choice, written
            if answer == "q":
                return "quit", None
            if answer == "e":
                break


def _ask(choices: str, default: str) -> str:
    return typer.prompt(f"{choices}?", default=default).strip().lower()[:1]


def _shown_date(s: Session, date: str | None) -> str | None:
    if not date:
        return None
    from pdmail.core.local_time import shown_with_zone

    try:
        return shown_with_zone(date, s.zone)
    except ValueError:
        return date


def _edit(text: str) -> str:
    """``text`` after $VISUAL (or $EDITOR, else vi) edited it in a private temporary file."""
    from pdmail.core.errors import UsageError

    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    with tempfile.TemporaryDirectory(prefix="pdmail-") as folder:
        path = Path(folder) / "message.txt"
        path.write_text(text, encoding="utf-8")
        try:
            result = subprocess.run([*shlex.split(editor), str(path)])
        except OSError as exc:
            raise UsageError(f"cannot start the editor ({editor}): {exc.strerror}; set EDITOR") from None
        if result.returncode != 0:
            raise UsageError(f"the editor ({editor}) exited with {result.returncode}; nothing was sent")
        return path.read_text(encoding="utf-8")


def _report(s: Session, result) -> None:
    for warning in result.warnings:
        s.warn(warning)
    if result.status == "sent":
        s.emit(result.to_json(), f"{result.email_id}")
        s.info(f"Sent (email {result.email_id}, outbox {result.item_id}).")
    elif result.status == "scheduled":
        s.emit(result.to_json(), f"{result.item_id}")
        from pdmail.core.local_time import shown_with_zone

        s.info(
            f"Scheduled for {shown_with_zone(result.due, s.zone)} (outbox {result.item_id}); the first `pdmail sync` after that "
            f"time sends it. `pdmail outbox cancel {result.item_id}` cancels it."
        )
    else:
        if s.json:
            s.emit(result.to_json())
        if result.error is not None:
            raise result.error
        s.emit(None, f"{result.item_id}")
        s.info(safe(result.detail))


# --- outbox -----------------------------------------------------------------------------------


@outbox_app.callback()
def outbox_main(
    ctx: typer.Context,
    everything: Annotated[bool, typer.Option("--all", help="Include sent and cancelled messages.")] = False,
    search: OutboxSearchOption = None,
    limit: LimitOption = None,
    page: PageOption = None,
    json_output: JsonOption = False,
    nl: NlOption = False,
    fmt: FormatOption = None,
    db: CommandDbOption = None,
    user: CommandUserOption = None,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Your drafts, and mail waiting to be sent, failed, or of uncertain fate; `outbox edit|cancel|retry ID` acts on one.

    Examples:
        $ pdmail outbox
        $ pdmail outbox --all --json
        $ pdmail outbox edit 4      # a draft: finish it in $EDITOR, then send it or save it again
        $ pdmail outbox cancel 3
    """
    if ctx.invoked_subcommand is not None:
        return
    given = {"json_output": json_output, "nl": nl, "fmt": fmt, "db": db, "user": user, "quiet": quiet, "debug": debug}
    run_in_session(ctx, given, lambda s: _show_outbox(s, everything, search, limit, page))


@command(outbox_app, "list", listing=True)
def outbox_list(
    s: Session,
    everything: Annotated[bool, typer.Option("--all", help="Include sent and cancelled messages.")] = False,
    search: OutboxSearchOption = None,
    limit: LimitOption = None,
    page: PageOption = None,
) -> None:
    """List your outbox: drafts, queued, scheduled, failed and ambiguous messages (with --all, the sent ones too).

    Examples:
        $ pdmail outbox list
        $ pdmail outbox list --all --json
        $ pdmail outbox list --search acme.example
    """
    _show_outbox(s, everything, search, limit, page)


def _note(item) -> str:
    if item.status == "draft":
        return f"pdmail outbox edit {item.id} to finish it"
    return item.last_error or ""


def _show_outbox(s: Session, everything: bool, search: str | None, limit: int | None, page: int | None) -> None:
    from pdmail.core.local_time import shown, zone_label
    from pdmail.send import outbox

    paging = s.paging(limit, page)
    search = (search or "").strip() or None
    items = outbox.list_outbox(
        s.db, s.user, everything=everything, search=search, limit=paging.limit, offset=paging.offset
    )
    zone = s.zone
    columns = [
        Column("id", lambda i: i.id, right=True),
        Column("status", lambda i: i.status),
        Column(
            "due_utc",
            lambda i: i.due_utc,
            title=f"due ({zone_label((i.due_utc for i in items), zone)})",
            show=lambda i: shown(i.due_utc, zone),
        ),
        Column("to", lambda i: ", ".join(i.recipients)),
        Column("subject", lambda i: i.subject, show=lambda i: i.subject or "(no subject)", clip=True),
        Column("note", lambda i: i.last_error, show=_note, prose=True),
    ]
    empty = "Nothing found." if search or paging.page > 1 else "The outbox is empty."
    s.emit_rows(Rows(columns, items, json=[i.to_json() for i in items], empty=empty))
    if paging.limit is not None and len(items) == paging.limit:
        total = outbox.count_outbox(s.db, s.user, everything=everything, search=search)
        s.more(paging, len(items), total, "messages")


@command(outbox_app, "edit", lists=True)
def outbox_edit(
    s: Session, item_id: Annotated[int, typer.Argument(metavar="ID", help="Outbox id of a draft.")]
) -> None:
    """Open a draft in $EDITOR; then [s]end it now, [e]dit again, save it as [d]raft again, or
    [q]uit and leave it as it was. Sending checks and sends it exactly as `pdmail send` does.

    Examples:
        $ pdmail outbox edit 4
    """
    from pdmail.core.errors import UsageError
    from pdmail.send import drafts, editor_buffer, outbox

    opened = drafts.open_draft(s.db, s.user, item_id)
    if not _on_terminal():
        raise UsageError(f"`pdmail outbox edit {item_id}` opens $EDITOR and asks what to do next: run it on a terminal")

    def check(written, choice: str) -> None:
        tried = _with_written(opened.request, written)
        outbox.outbox_fields(s.db, s.user, tried, _clock(), unfinished=choice == "draft")

    text = editor_buffer.buffer(to=opened.to, cc=opened.cc, subject=opened.subject, body=opened.body)
    choice, written = _write_in_editor(s, text, None, check)
    if choice == "quit" or written is None:
        s.info(f"Draft {item_id} is as it was.")
        return
    req = _with_written(opened.request, written)
    if choice == "draft":
        item = drafts.save(s.db, s.user, req, _clock(), draft_id=item_id)
        s.emit(item.to_json(), f"{item.id}")
        s.info(f"Saved draft {item.id}.")
        return
    _report(s, drafts.send(s.db, s.user, item_id, req, _clock()))


@command(outbox_app, "cancel", lists=True)
def outbox_cancel(s: Session, item_id: Annotated[int, typer.Argument(metavar="ID", help="Outbox id.")]) -> None:
    """Cancel a queued, scheduled, failed or ambiguous message (it is kept, marked cancelled), or
    delete a draft (it is gone for good).

    Examples:
        $ pdmail outbox cancel 3
    """
    from pdmail.send import outbox

    item = outbox.cancel(s.db, s.user, item_id)
    s.emit(item.to_json(), f"{item.id}")
    s.info(f"Deleted draft {item.id}." if item.status == "draft" else f"Cancelled outbox message {item.id}.")


@command(outbox_app, "retry", lists=True)
def outbox_retry(s: Session, item_id: Annotated[int, typer.Argument(metavar="ID", help="Outbox id.")]) -> None:
    """Send a failed or ambiguous message again, now. An ambiguous one may reach its recipients twice.

    Examples:
        $ pdmail outbox retry 3
    """
    from pdmail.send import outbox

    _report(s, outbox.retry(s.db, s.user, item_id, _clock()))


# --- templates --------------------------------------------------------------------------------


@command(template_app, "add", lists=True)
def template_add(
    s: Session,
    name: Annotated[str, typer.Argument(help="A one-word name, such as follow-up.")],
    subject: Annotated[str, typer.Option("--subject", help="Subject; may use merge fields.")] = "",
    body: Annotated[str | None, typer.Option("--body", help="Text; may use merge fields.")] = None,
    body_file: Annotated[
        Path | None, typer.Option("--body-file", metavar="PATH", help="Read the text from a file.")
    ] = None,
    company_wide: Annotated[bool, typer.Option("--company", help="For everyone in the company (admins only).")] = False,
    replace: Annotated[bool, typer.Option("--replace", help="Change an existing template of that name.")] = False,
) -> None:
    """Add a template. Merge fields: {contact.name}, {contact.first_name}, {contact.last_name},
    {contact.email}, {contact.title}, {contact.phone}, {org.name}, {org.domain}, {deal.title},
    {deal.value}, {deal.currency}, {deal.status}, {deal.id}, {user.name}, {user.first_name},
    {user.email}; write {{ and }} for literal braces.

    Examples:
        $ pdmail template add follow-up --subject "{deal.title}: next steps" --body "Hi {contact.first_name}, ..."
    """
    from pdmail.core.errors import UsageError
    from pdmail.send import merge_fields, templates

    if (body is None) == (body_file is None):
        raise UsageError("give the text with --body TEXT or --body-file PATH")
    text = _read_body_file(body_file) if body_file is not None else body or ""
    merge_fields.fields_in(subject)
    merge_fields.fields_in(text)
    t = templates.save_template(s.db, s.user, name, subject, text, company_wide=company_wide, replace=replace)
    s.emit(t.to_json(), f"{t.id}")


@command(template_app, "list", listing=True)
def template_list(
    s: Session,
    search: Annotated[
        str | None,
        typer.Option("--search", metavar="TEXT", help="Only templates whose name or subject holds TEXT."),
    ] = None,
    limit: LimitOption = None,
    page: PageOption = None,
) -> None:
    """Your templates and the company's.

    Examples:
        $ pdmail template list
        $ pdmail template list --json
        $ pdmail template list --search follow
    """
    from pdmail.store import outbox as outbox_store

    paging = s.paging(limit, page)
    search = (search or "").strip() or None
    items = outbox_store.list_templates(s.db, s.user, search=search, limit=paging.limit, offset=paging.offset)
    columns = [
        Column("name", lambda t: t.name),
        Column("scope", lambda t: "company" if t.company_wide else "mine"),
        Column("subject", lambda t: t.subject, clip=True),
    ]
    empty = (
        "No templates found."
        if search or paging.page > 1
        else "No templates yet; add one with `pdmail template add NAME --subject ... --body ...`."
    )
    s.emit_rows(Rows(columns, items, json=[t.to_json() for t in items], empty=empty))
    if paging.limit is not None and len(items) == paging.limit:
        s.more(paging, len(items), outbox_store.count_templates(s.db, s.user, search=search), "templates")


@command(template_app, "show", lists=True)
def template_show(s: Session, name: Annotated[str, typer.Argument(help="Template name.")]) -> None:
    """Show one template (yours first, else the company's).

    Examples:
        $ pdmail template show follow-up
    """
    from pdmail.store import outbox as outbox_store

    t = outbox_store.get_template(s.db, s.user, name)
    s.emit(t.to_json(), f"Subject: {clean(t.subject)}\n\n{clean(t.body, keep_newlines=True)}")


@command(template_app, "remove")
def template_remove(
    s: Session,
    name: Annotated[str, typer.Argument(help="Template name.")],
    company_wide: Annotated[bool, typer.Option("--company", help="The company's template (admins only).")] = False,
) -> None:
    """Remove a template.

    Examples:
        $ pdmail template remove follow-up
    """
    from pdmail.send import templates

    templates.remove_template(s.db, s.user, name, company_wide=company_wide)
    s.info(f"Removed template {safe(name)}.")
