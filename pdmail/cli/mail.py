"""Reading mail: `inbox`, `show`, `search`."""

from collections.abc import Set
from typing import Annotated

import typer

from pdmail.cli.common import Session, clean, command, console, safe
from pdmail.cli.rows import Column, Rows

# What `--awaiting-reply` and `--unanswered` mean when written without an age.
WAITING_DEFAULTS = {"--awaiting-reply": "3d", "--unanswered": "2d"}


def register(app: typer.Typer) -> None:
    command(app, "inbox", listing=True, optional_values=WAITING_DEFAULTS)(inbox)
    command(app, "show", lists=True)(show)
    command(app, "search", listing=True)(search)


def _short_date(iso: str, zone, *, narrow: bool) -> str:
    from pdmail.core.local_time import shown

    return shown(iso, zone, date_only=narrow)


def _who(e: dict) -> str:
    if e["direction"] == "outgoing":
        to = ", ".join(a["name"] or a["email"] for a in e["to"]) or "(no recipient)"
        return f"→ {to}"
    return e["from"]["name"] or e["from"]["email"] or "(no sender)"


def _links(e: dict, *, narrow: bool = False, proposed: bool = False, whole: bool = False) -> str:
    """Short on purpose on a terminal (narrow: the deal alone); ``whole``: every contact, for tsv and csv."""
    links = []
    if proposed:
        links.append("proposed")
    if e["deal"] is not None:
        links.append(f"deal {e['deal']}")
    elif e["needs_deal"]:
        links.append("needs deal")
    if whole:
        links += [f"contact {c}" for c in e["contacts"]]
    elif e["contacts"] and not (narrow and links):
        first = f"contact {e['contacts'][0]}"
        links.append(first + (f" +{len(e['contacts']) - 1}" if len(e["contacts"]) > 1 else ""))
    return ", ".join(links)


def _who_plain(e: dict) -> str:
    if e["direction"] == "outgoing":
        return ", ".join(a["email"] for a in e["to"])
    return e["from"]["email"] or ""


def _marked_links(text: str):
    from rich.text import Text

    for flag in ("proposed", "needs deal"):
        if text.startswith(flag):
            return Text.assemble((flag, "yellow"), clean(text[len(flag) :]))
    return Text(clean(text))


def emails_table(
    emails: list[dict],
    *,
    grouped: bool,
    threads: dict[int, tuple[int, int]] | None = None,
    width: int | None = None,
    proposed: Set[int] = frozenset(),
    zone=None,
) -> Rows:
    """One row per thread (its newest email here), or one row per email.

    ``threads`` gives, per thread, how many emails the viewer may see and how many are unread, so a
    thread's count is right even when its older emails fall on another page. ``proposed``: the
    viewer's emails holding links that wait for the viewer's acceptance. ``zone``: the viewer's time
    zone, which the table's date column is shown in and names. The table is for a terminal
    (``width``); tsv and csv give each value whole (the date in UTC to the second, every contact).
    """
    import sys
    from datetime import UTC

    from pdmail.core.local_time import zone_label

    zone = zone or UTC
    width = width or console().width
    narrow = width < 100 and sys.stdout.isatty()
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
        if threads:
            rows = [
                (
                    e,
                    max(count, threads.get(e["thread_id"], (0, 0))[0]),
                    unread or threads.get(e["thread_id"], (0, 0))[1] > 0,
                )
                for e, count, unread in rows
            ]
    else:
        rows = [(e, 1, not e["read"]) for e in emails]
    waiting_threads = {e["thread_id"] for e in emails if e["id"] in proposed}

    def waits(e: dict) -> bool:
        return e["thread_id"] in waiting_threads if grouped else e["id"] in proposed

    columns = [
        Column("id", lambda r: r[0]["id"], right=True),
        Column("thread_id", lambda r: r[0]["thread_id"], in_table=False),
        Column("mark", lambda r: "", title="", in_plain=False, show=lambda r: _mark(r[0], r[2])),
        Column("unread", lambda r: "unread" if r[2] else "", in_table=False),
        Column("visibility", lambda r: r[0]["visibility"], in_table=False),
    ]
    if grouped:
        columns.append(
            Column("emails", lambda r: r[1], title="n", show=lambda r: str(r[1]) if r[1] > 1 else "", right=True)
        )
    columns += [
        Column(
            "date",
            lambda r: r[0]["date"],
            title=f"date ({zone_label((e['date'] for e, _, _ in rows), zone)})",
            show=lambda r: _short_date(r[0]["date"], zone, narrow=narrow),
        ),
        Column("who", lambda r: _who_plain(r[0]), show=lambda r: _who(r[0]), prose=True),
        Column("subject", lambda r: r[0]["subject"], show=lambda r: r[0]["subject"] or "(no subject)", clip=True),
        Column(
            "links",
            lambda r: _links(r[0], proposed=waits(r[0]), whole=True),
            show=lambda r: _marked_links(_links(r[0], narrow=narrow, proposed=waits(r[0]))),
        ),
    ]
    return Rows(columns, rows, json=emails)


def _mark(e: dict, unread: bool) -> str:
    return ("●" if unread else " ") + ("P" if e["visibility"] == "private" else " ")


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
    from pdmail.core.errors import UsageError
    from pdmail.store import names
    from pdmail.store.mailbox import InboxFilter, count_emails, page_emails, thread_summaries, with_proposals

    if awaiting_reply is not None and unanswered is not None:
        raise UsageError("give --awaiting-reply or --unanswered, not both")
    conversations = awaiting_reply is not None or unanswered is not None
    f = InboxFilter(
        folder=folder or ("all" if conversations else "inbox"),
        include_trash=not (conversations and folder is None),
        awaiting_reply_before=s.time_option(awaiting_reply, "--awaiting-reply"),
        unanswered_before=s.time_option(unanswered, "--unanswered"),
        team=team,
        unread=unread,
        needs_deal=needs_deal,
        unlinked=unlinked,
        proposed=proposed,
        contact_id=None if contact is None else names.contact_id(s.db, contact),
        deal_id=None if deal is None else names.deal_id(s.db, deal),
        org_id=None if org is None else names.org_id(s.db, org),
        since=s.time_option(since, "--since"),
        until=s.time_option(until, "--until"),
        limit=limit,
        page=page,
    )
    if count:
        total = count_emails(s.db, s.user, f)
        s.emit({"count": total}, str(total))
        return
    result = page_emails(s.db, s.user, f)
    if s.json:
        s.emit(result.emails)
        return
    threads = thread_summaries(s.db, s.user, sorted({e["thread_id"] for e in result.emails}))
    waiting = with_proposals(s.db, s.user, [e["id"] for e in result.emails])
    listing = emails_table(result.emails, grouped=True, threads=threads, proposed=waiting, zone=s.zone)
    if conversations and page == 1:
        listing.empty = "Nothing awaits a reply." if awaiting_reply is not None else "Nothing is unanswered."
    else:
        listing.empty = "No email here." if page == 1 else "No more email."
    s.emit_rows(listing)
    if result.has_more:
        s.info(f"More: --page {page + 1}")


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
    from pdmail.store.mailbox import search as run

    emails = run(s.db, s.user, text, limit=limit, team=not mine)
    if s.json:
        s.emit(emails)
        return
    listing = emails_table(emails, grouped=False, zone=s.zone)
    listing.empty = "Nothing found."
    s.emit_rows(listing)
