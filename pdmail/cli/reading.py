"""What `inbox` and `search` print, without the command-line toolkit.

The commands are declared in :mod:`pdmail.cli.mail`, where Typer reads their options; what they do
once the options are read is here, so that their plainest calls (``pdmail.cli.plain_reads``) run
without loading Typer, which costs a read on a big team database a tenth of its time.
"""

from collections.abc import Set

from pdmail.cli.rows import Column, Rows
from pdmail.cli.session import Session, console
from pdmail.cli.terminal import clean


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
    # Only a table on a terminal is ever narrow: a pipe never asks the terminal renderer for a width.
    narrow = sys.stdout.isatty() and (width or console().width) < 100
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


def show_inbox(
    s: Session,
    *,
    folder: str | None = None,
    team: bool = False,
    unread: bool = False,
    needs_deal: bool = False,
    unlinked: bool = False,
    proposed: bool = False,
    contact: str | None = None,
    deal: str | None = None,
    org: str | None = None,
    since: str | None = None,
    until: str | None = None,
    awaiting_reply: str | None = None,
    unanswered: str | None = None,
    limit: int = 50,
    page: int = 1,
    count: bool = False,
) -> None:
    """`pdmail inbox` once its options are read (see :func:`pdmail.cli.mail.inbox`)."""
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


def show_search(s: Session, text: str, *, limit: int = 50, mine: bool = False) -> None:
    """`pdmail search` once its options are read (see :func:`pdmail.cli.mail.search`)."""
    from pdmail.store.mailbox import search as run

    emails = run(s.db, s.user, text, limit=limit, team=not mine)
    if s.json:
        s.emit(emails)
        return
    listing = emails_table(emails, grouped=False, zone=s.zone)
    listing.empty = "Nothing found."
    s.emit_rows(listing)
