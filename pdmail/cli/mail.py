"""Reading mail: `inbox`, `show`, `search`."""

import sys
from typing import Annotated, Optional

import typer

from pdmail.cli.common import Session, clean, command, safe


def register(app: typer.Typer) -> None:
    command(app, "inbox", lists=True)(inbox)
    command(app, "show", lists=True)(show)
    command(app, "search", lists=True)(search)


def _short_date(iso: str) -> str:
    return iso[:16].replace("T", " ")


def _who(e: dict) -> str:
    if e["direction"] == "outgoing":
        to = ", ".join(a["name"] or a["email"] for a in e["to"]) or "(no recipient)"
        return f"→ {to}"
    return e["from"]["name"] or e["from"]["email"]


def emails_table(emails: list[dict], *, grouped: bool):
    """One row per thread (newest first), or one per email."""
    from rich.table import Table

    table = Table(expand=True, box=None, pad_edge=False, header_style="bold")
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("", no_wrap=True, width=2)
    table.add_column("date", no_wrap=True)
    table.add_column("who", ratio=2, no_wrap=True, overflow="ellipsis")
    table.add_column("subject", ratio=4, no_wrap=True, overflow="ellipsis")
    table.add_column("links", ratio=1, no_wrap=True, overflow="ellipsis")
    rows: list[tuple[dict, int, bool]] = []
    if grouped:
        seen: dict[int, int] = {}
        for e in emails:
            if e["thread_id"] in seen:
                latest, count, unread = rows[seen[e["thread_id"]]]
                rows[seen[e["thread_id"]]] = (latest, count + 1, unread or not e["read"])
            else:
                seen[e["thread_id"]] = len(rows)
                rows.append((e, 1, not e["read"]))
    else:
        rows = [(e, 1, not e["read"]) for e in emails]
    for e, count, unread in rows:
        links = []
        if e["deal"] is not None:
            links.append(f"deal {e['deal']}")
        elif e["needs_deal"]:
            links.append("[yellow]needs a deal[/yellow]")
        if e["contacts"]:
            links.append("contact " + ",".join(str(c) for c in e["contacts"]))
        subject = safe(e["subject"] or "(no subject)") + (f" [dim]({count})[/dim]" if count > 1 else "")
        mark = "●" if unread else ""
        if e["visibility"] == "private":
            mark += "🔒"
        table.add_row(str(e["id"]), mark, _short_date(e["date"]), safe(_who(e)), subject, " ".join(links))
    return table


def inbox(
    s: Session,
    folder: Annotated[str, typer.Option("--folder", help="inbox, sent, archive, trash or all.")] = "inbox",
    team: Annotated[bool, typer.Option("--team", help="Add colleagues' email you may see.")] = False,
    unread: Annotated[bool, typer.Option("--unread", help="Only unread email.")] = False,
    needs_deal: Annotated[bool, typer.Option("--needs-deal", help="Only email waiting for a deal choice.")] = False,
    unlinked: Annotated[bool, typer.Option("--unlinked", help="Only email linked to no contact or deal.")] = False,
    contact: Annotated[Optional[int], typer.Option("--contact", help="Only email linked to this contact.")] = None,
    deal: Annotated[Optional[int], typer.Option("--deal", help="Only email linked to this deal.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="How many emails per page.")] = 50,
    page: Annotated[int, typer.Option("--page", help="Which page (1 is the newest).")] = 1,
) -> None:
    """Your email, newest first, grouped by thread.

    ● marks unread threads; "needs a deal" marks email whose contact has several open deals
    (choose with `pdmail link`).

    Examples: `pdmail inbox --unread`  ·  `pdmail inbox --team --deal 7 --json`  ·  `pdmail inbox --page 2`
    """
    from pdmail.store.mailbox import InboxFilter, count_emails, list_emails

    f = InboxFilter(folder=folder, team=team, unread=unread, needs_deal=needs_deal, unlinked=unlinked,
                    contact_id=contact, deal_id=deal, limit=limit, page=page)
    emails = list_emails(s.db, s.user, f)
    if s.json:
        s.emit(emails)
        return
    if not emails:
        s.emit(None, "No email here." if page == 1 else "No more email.")
        return
    s.emit(None, lambda: emails_table(emails, grouped=True))
    total = count_emails(s.db, s.user, f)
    shown_to = (page - 1) * limit + len(emails)
    if total > shown_to:
        s.info(f"{shown_to} of {total}; next page: --page {page + 1}")


def _render_email(e: dict, thread: list[dict], attachments_note: str = ""):
    from rich.console import Group
    from rich.panel import Panel
    from rich.text import Text

    def people(group):
        return ", ".join(f"{a['name']} <{a['email']}>" if a["name"] else a["email"] for a in group)

    head = Text()
    for label, value in (
        ("From", people([e["from"]])),
        ("To", people(e["to"])),
        ("Cc", people(e["cc"])),
        ("Date", e["date"]),
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
    head.append((", ".join(links) or "nothing") + f"   Visibility: {e['visibility']}   Owner: {e['owner']}\n")
    for a in e["attachments"]:
        head.append("Attachment: ", style="bold")
        head.append(f"{clean(a['filename'])} ({clean(a['content_type'])}, {a['size']:,} bytes)\n")
    body = Text(clean(e["text"], keep_newlines=True))
    parts = [Panel(head, title=f"email {e['id']}", title_align="left"), body]
    if len(thread) > 1:
        parts.append(Text("\nThread:", style="bold"))
        parts.append(emails_table(thread, grouped=False))
    return Group(*parts)


def show(
    s: Session,
    email_id: Annotated[int, typer.Argument(metavar="ID", help="Email id.")],
    save_attachments: Annotated[Optional[str], typer.Option(
        "--save-attachments", metavar="DIR", help="Save the attachments into this folder (never overwrites).")] = None,
) -> None:
    """Show one email (its text; HTML is converted, never rendered) and its thread.

    Example: `pdmail show 42`  ·  `pdmail show 42 --save-attachments ~/Downloads`
    """
    from pdmail.store.mailbox import get_email, thread_emails

    e = get_email(s.db, s.user, email_id)
    saved = []
    if save_attachments:
        from pdmail.attachments import save_all

        saved = save_all(s.db, s.user, email_id, save_attachments)
    if s.json:
        s.emit(e | ({"saved": saved} if save_attachments else {}))
        return
    thread = thread_emails(s.db, s.user, e["thread_id"])
    s.emit(None, lambda: _render_email(e, thread))
    for path in saved:
        s.info(f"Saved {safe(path)}")


def search(
    s: Session,
    text: Annotated[str, typer.Argument(help='Words, "a phrase", from:ADDR, to:ADDR.')],
    limit: Annotated[int, typer.Option("--limit", help="At most this many results.")] = 50,
    mine: Annotated[bool, typer.Option("--mine", help="Only your own email.")] = False,
) -> None:
    """Search the subject, text and addresses of the email you may see.

    Examples: `pdmail search invoice`  ·  `pdmail search '"robot arm" from:acme.example'`
    """
    from pdmail.store.mailbox import search as run

    emails = run(s.db, s.user, text, limit=limit, team=not mine)
    if s.json:
        s.emit(emails)
        return
    s.emit(None, (lambda: emails_table(emails, grouped=False)) if emails else "Nothing found.")
