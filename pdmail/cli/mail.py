"""Reading mail: `inbox`, `show`, `search`."""

from typing import Annotated

import typer

from pdmail.cli.common import Session, clean, command, safe
from pdmail.cli.reading import emails_table

# What `--awaiting-reply` and `--unanswered` mean when written without an age.
WAITING_DEFAULTS = {"--awaiting-reply": "3d", "--unanswered": "2d"}


def register(app: typer.Typer) -> None:
    command(app, "inbox", listing=True, optional_values=WAITING_DEFAULTS)(inbox)
    command(app, "show", lists=True)(show)
    command(app, "search", listing=True)(search)


def _option_folder():
    return typer.Option(
        "--folder",
        help="inbox, sent, archive, trash or all (default: inbox; with --awaiting-reply or --unanswered, all but trash).",
        show_default=False,
    )


def inbox(
    s: Session,
    folder: Annotated[str | None, _option_folder()] = None,
    team: Annotated[bool, typer.Option("--team", help="Add colleagues' email you may see.")] = False,
    unread: Annotated[bool, typer.Option("--unread", help="Only unread email.")] = False,
    needs_deal: Annotated[bool, typer.Option("--needs-deal", help="Only email waiting for a deal choice.")] = False,
    unlinked: Annotated[bool, typer.Option("--unlinked", help="Only email linked to no contact or deal.")] = False,
    proposed: Annotated[
        bool,
        typer.Option(
            "--proposed", help="Only your email with links another user's change proposed (see `pdmail link --review`)."
        ),
    ] = False,
    contact: Annotated[
        str | None,
        typer.Option("--contact", metavar="CONTACT", help="Only email linked to this contact (id, address or name)."),
    ] = None,
    deal: Annotated[
        str | None, typer.Option("--deal", metavar="DEAL", help="Only email linked to this deal (id or title).")
    ] = None,
    org: Annotated[
        str | None,
        typer.Option("--org", metavar="ORG", help="Only email linked to this organization (id, name or domain)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="WHEN",
            help="Only email from this time on, in your time zone: 2026-11-01, '2026-11-01 09:30', 30d, yesterday.",
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", metavar="WHEN", help="Only email before this time (a date: before that day begins)."),
    ] = None,
    awaiting_reply: Annotated[
        str | None,
        typer.Option(
            "--awaiting-reply",
            metavar="[AGE]",
            help="Only conversations whose last email is yours to a customer, unanswered for AGE (default 3d).",
            show_default=False,
        ),
    ] = None,
    unanswered: Annotated[
        str | None,
        typer.Option(
            "--unanswered",
            metavar="[AGE]",
            help="Only conversations whose last email is a customer's, which nobody on the team answered for AGE "
            "(default 2d).",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="How many emails per page.")] = 50,
    page: Annotated[int, typer.Option("--page", help="Which page (1 is the newest).")] = 1,
    count: Annotated[bool, typer.Option("--count", help="Only print how many emails match.")] = False,
) -> None:
    """Your email, newest first, grouped by thread.

    ● marks unread threads, P private ones, n counts a thread's emails; "needs deal" marks email
    whose contact has several open deals (choose with `pdmail link`); "proposed" marks links another
    user's change added, which wait for you (`pdmail link ID --accept` or `--reject`). `--json`
    prints a flat list of emails, each with its thread_id.

    `--awaiting-reply` lists the conversations where you wrote last, to a customer, and no customer
    has answered for at least AGE (3d, 12h, 2w...; default 3d); `--unanswered` those where a customer
    wrote last and nobody on the team has answered (default 2d). Each shows its last email, newest
    first, with its deal; with `--team`, colleagues' conversations you may see too. Mail among
    colleagues, automated and bulk mail never count as the last email.

    Examples:
        $ pdmail inbox --unread
        $ pdmail inbox --team --deal 7 --json
        $ pdmail inbox --page 2
        $ pdmail inbox --contact ada@acme.example --since 30d
        $ pdmail inbox --awaiting-reply
        $ pdmail inbox --unanswered 1d --team --count
    """
    from pdmail.cli.reading import show_inbox

    show_inbox(
        s,
        folder=folder,
        team=team,
        unread=unread,
        needs_deal=needs_deal,
        unlinked=unlinked,
        proposed=proposed,
        contact=contact,
        deal=deal,
        org=org,
        since=since,
        until=until,
        awaiting_reply=awaiting_reply,
        unanswered=unanswered,
        limit=limit,
        page=page,
        count=count,
    )


def record_emails_view(title, emails: list[dict], has_more: bool, more_hint: str, zone=None) -> list:
    """A CRM record's header followed by the emails linked to it (for contact, deal and org show)."""
    parts = [title, ""]
    if emails:
        parts += ["Email you may see:", emails_table(emails, grouped=False, zone=zone)]
        if has_more:
            parts.append(f"More: {more_hint}")
    else:
        parts.append("No email you may see.")
    return parts


def _render_email(e: dict, thread: list[dict], zone) -> list:
    from rich.text import Text

    from pdmail.core.local_time import shown_with_zone

    def people(group):
        return ", ".join(f"{a['name']} <{a['email']}>" if a["name"] else a["email"] for a in group)

    head = Text()
    head.append("Email: ", style="bold")
    head.append(f"{e['id']} (thread {e['thread_id']})\n")
    for label, value in (
        ("From", people([e["from"]])),
        ("To", people(e["to"])),
        ("Cc", people(e["cc"])),
        ("Date", shown_with_zone(e["date"], zone)),
        ("Subject", e["subject"]),
    ):
        if value:
            head.append(f"{label}: ", style="bold")
            head.append(clean(value) + "\n")
    links = []
    if e["contacts"]:
        links.append("contacts " + ", ".join(str(c) for c in e["contacts"]))
    if e["deal"] is not None:
        links.append(f"deal {e['deal']}")
    elif e["needs_deal"]:
        links.append("needs a deal (`pdmail link`)")
    head.append("Linked: ", style="bold")
    head.append((", ".join(links) or "nothing") + f"   Visibility: {e['visibility']}   Owner: {clean(e['owner'])}\n")
    for a in e["attachments"]:
        head.append("Attachment: ", style="bold")
        head.append(f"{clean(a['filename'])} ({clean(a['content_type'])}, {a['size']:,} bytes)\n")
    parts: list = [head, Text(clean(e["text"], keep_newlines=True))]
    if len(thread) > 1:
        parts += ["", "Thread:", emails_table(thread, grouped=False, zone=zone)]
    return parts


def show(
    s: Session,
    email_id: Annotated[int, typer.Argument(metavar="ID", help="Email id.")],
    save_attachments: Annotated[
        str | None,
        typer.Option(
            "--save-attachments",
            metavar="DIR",
            help="Save the attachments into this folder (safe names; an existing file is never replaced).",
        ),
    ] = None,
) -> None:
    """Show one email (its text; HTML is converted, never rendered) and its thread.

    Examples:
        $ pdmail show 42
        $ pdmail show 42 --save-attachments ~/Downloads
    """
    from pdmail.store.mailbox import get_email, thread_emails

    e = get_email(s.db, s.user, email_id)
    saved = []
    if save_attachments:
        from pdmail.mailbox.attachments import save_all

        saved = save_all(s.db, s.user, email_id, save_attachments)
    if s.json:
        s.emit(e | ({"saved": [x.to_json() for x in saved]} if save_attachments else {}))
        return
    thread = thread_emails(s.db, s.user, e["thread_id"])
    s.emit(None, lambda: _render_email(e, thread, s.zone))
    if save_attachments and not saved:
        s.info("No attachments to save.")
    for x in saved:
        s.info(f"Saved {safe(x.path)} ({x.size:,} bytes)")


def search(
    s: Session,
    text: Annotated[str, typer.Argument(help='Words, "a phrase", from:ADDR, to:ADDR.')],
    limit: Annotated[int, typer.Option("--limit", help="At most this many results.")] = 50,
    mine: Annotated[bool, typer.Option("--mine", help="Only your own email.")] = False,
) -> None:
    """Search the subject, text and addresses of the email you may see.

    Examples:
        $ pdmail search invoice
        $ pdmail search '"robot arm" from:acme.example'
    """
    from pdmail.cli.reading import show_search

    show_search(s, text, limit=limit, mine=mine)
