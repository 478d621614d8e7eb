"""`pdmail link` (choose, set, split, rescan) and `pdmail explain`."""

import re
import sys
from typing import Annotated

import typer

from pdmail.cli.common import Session, command, err_console, safe
from pdmail.cli.rows import Column, Rows


def register(app: typer.Typer) -> None:
    command(app, "link", listing=True)(link)
    command(app, "explain", lists=True)(explain)


def on_terminal() -> bool:
    """The chooser asks questions only of a person: both ends must be a terminal."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def link(
    s: Session,
    email_id: Annotated[int | None, typer.Argument(metavar="[ID]", help="Email id.")] = None,
    deal: Annotated[
        str | None, typer.Option("--deal", metavar="DEAL", help="Put the email's thread on this deal (id or title).")
    ] = None,
    contact: Annotated[
        list[str] | None,
        typer.Option(
            "--contact",
            metavar="CONTACT",
            help="Link the email to exactly these contacts (id, address or name; repeatable).",
        ),
    ] = None,
    org: Annotated[
        list[str] | None,
        typer.Option(
            "--org",
            metavar="ORG",
            help="Link the email to exactly these organizations (id, name or domain; repeatable).",
        ),
    ] = None,
    none: Annotated[bool, typer.Option("--none", help="The thread has no deal (decided by hand).")] = False,
    split: Annotated[
        bool, typer.Option("--split", help="Move the email and its replies into a thread of their own.")
    ] = False,
    review: Annotated[
        bool,
        typer.Option("--review", help="List your email with links another user's change proposed, waiting for you."),
    ] = False,
    accept: Annotated[
        bool, typer.Option("--accept", help="Accept the links proposed for the email's thread: they count for sharing.")
    ] = False,
    reject: Annotated[
        bool, typer.Option("--reject", help="Reject the links proposed for the email's thread (a choice by hand).")
    ] = False,
    rescan: Annotated[
        bool, typer.Option("--rescan", help="Link stored email again (an admin: everyone's; anyone else: their own).")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="With --rescan: print what would change, change nothing.")
    ] = False,
) -> None:
    """Choose deals, set links by hand, review proposed links, split threads, or link everything again.

    Without an ID on a terminal, walks your email that needs a deal, newest first, and asks for the
    deal's own number (shown after #); elsewhere it lists them and exits 0. A deal (or --none) chosen
    for one email holds for its whole thread, and no automatic rule overrides a choice made by hand.
    Only the email's owner may change its links.

    A link that another user's change (a new contact or address, a deal, the block list, a rescan)
    adds to your email that nobody else sees waits for you: it counts for sharing once you --accept it.

    Examples:
        $ pdmail link
        $ pdmail link 42 --deal 7
        $ pdmail link 42 --deal "Iberia: warehouse AMRs"
        $ pdmail link 42 --contact 3 --contact 5
        $ pdmail link 42 --org 2
        $ pdmail link 42 --none
        $ pdmail link 42 --split
        $ pdmail link --review
        $ pdmail link 42 --accept
        $ pdmail link --rescan --dry-run
    """
    from pdmail.core.errors import UsageError

    asked = deal is not None or contact is not None or org is not None or none or split or accept or reject
    if dry_run and not rescan:
        raise UsageError("--dry-run goes with --rescan")
    if rescan:
        if email_id is not None or asked or review:
            raise UsageError("--rescan links every email again; it takes no ID and no other option")
        _rescan(s, dry_run)
        return
    if review:
        if email_id is not None or asked:
            raise UsageError("--review lists what waits for you; it takes no ID and no other option")
        _review(s)
        return
    if email_id is None:
        if asked:
            raise UsageError("give the email's ID: pdmail link ID --deal N")
        _walk(s)
        return
    from pdmail.linking import manual as manual_links

    if not asked:
        if s.json or not on_terminal():
            raise UsageError("say what to link: --deal N, --contact N, --org N, --none, --split, --accept or --reject")
        _choose(s, [manual_links.candidates(s.db, s.user, email_id)])
        return
    from pdmail.store import names

    request = manual_links.LinkRequest(
        split=split,
        contact_ids=tuple(names.contact_id(s.db, c) for c in contact) if contact is not None else None,
        org_ids=tuple(names.org_id(s.db, o) for o in org) if org is not None else None,
        deal_id=None if deal is None else names.deal_id(s.db, deal),
        no_deal=none,
        accept=accept,
        reject=reject,
    )
    e = manual_links.apply(s.db, s.user, email_id, request)
    s.emit(e, lambda: _summary(e))
    if (accept or reject) and not e["accepted" if accept else "rejected"]:
        s.info(f"Nothing is proposed on thread {e['thread_id']}: nothing was {'accepted' if accept else 'rejected'}.")
    elif reject:
        s.info(
            f"Rejected the proposed links. Rejected links stay rejected. To keep this conversation to yourself, "
            f"make it private: pdmail share {email_id} --private"
        )
    elif accept:
        s.info("Accepted the proposed links: they count for sharing now.")


def _summary(e: dict) -> str:
    deal = f"deal {e['deal']}" if e["deal"] is not None else "no deal"
    contacts = ", ".join(str(c) for c in e["contacts"]) or "none"
    orgs = f"; organizations {', '.join(str(o) for o in e['orgs'])}" if e.get("orgs") else ""
    return f"Email {e['id']} (thread {e['thread_id']}): {deal}; contacts {contacts}{orgs}."


def _proposed_text(proposed: dict) -> str:
    parts = [f"contact {c}" for c in proposed["contacts"]] + [f"organization {o}" for o in proposed.get("orgs", ())]
    if proposed["deal"] is not None:
        parts.append(f"deal {proposed['deal']}")
    return ", ".join(parts)


def _review(s: Session) -> None:
    from pdmail.core.local_time import shown_with_zone
    from pdmail.linking import manual as manual_links

    items = manual_links.review(s.db, s.user)

    def proposals(e: dict, zone=None) -> list[str]:
        """Each proposal in words: its time in UTC for a pipe, or in ``zone``, naming it, for a person."""
        return [
            f"{p['kind']} {p['id']} ({p['name']}) proposed by {p['caused_by'] or 'no user'} on "
            + (p["caused_at_utc"] if zone is None else shown_with_zone(p["caused_at_utc"], zone))
            for p in e["proposals"]
        ]

    zone = s.zone
    columns = [
        *_email_columns(items, zone),
        Column(
            "proposals",
            lambda e: "; ".join(proposals(e)),
            show=lambda e: "\n".join(proposals(e, zone)),
            prose=True,
        ),
    ]
    rows = Rows(columns, items, json=items, empty="No proposed link waits for you.")
    if items:
        rows.notes.append(
            "Accept with `pdmail link ID --accept`, reject with `pdmail link ID --reject` (the whole thread)."
        )
    s.emit_rows(rows)


def _email_columns(rows: list, zone, email_of=lambda row: row) -> list[Column]:
    """An email's id, date, sender and subject, as the link listings show them; ``email_of``
    finds the email (a dict) in a row. The table shows the date in ``zone`` and names it; tsv,
    csv and JSON keep it in UTC."""
    from pdmail.core.local_time import shown, zone_label

    return [
        Column("id", lambda row: email_of(row)["id"], right=True),
        Column(
            "date",
            lambda row: email_of(row)["date"],
            title=f"date ({zone_label((email_of(row)['date'] for row in rows), zone)})",
            show=lambda row: shown(email_of(row)["date"], zone),
        ),
        Column("from", lambda row: email_of(row)["from"]["email"]),
        Column("subject", lambda row: email_of(row)["subject"], clip=True),
    ]


def _walk(s: Session) -> None:
    from pdmail.linking import manual as manual_links

    items = manual_links.pending(s.db, s.user)
    if s.fmt is not None or not on_terminal():

        def deals(p) -> str:
            return ", ".join(f"{c['id']} {c['title']}" for c in p.candidates) or "none open"

        columns = _email_columns(items, s.zone, lambda p: p.email)
        columns.append(Column("deals", deals, prose=True))
        s.emit_rows(Rows(columns, items, json=[p.to_json() for p in items], empty="No email needs a deal."))
        return
    if not items:
        s.emit(None, "No email needs a deal.")
        return
    _choose(s, items, walking=True)


def _choose(s: Session, items, *, walking: bool = False) -> None:
    """Ask about each email in turn; every answer is saved before the next question.

    While walking, an email settled by an earlier answer (same thread) is not asked about again.
    """
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    from pdmail.cli.common import clean, console
    from pdmail.core.local_time import shown_with_zone
    from pdmail.core.money import display
    from pdmail.linking import manual as manual_links

    out = console()
    saved = skipped = 0
    for n, p in enumerate(items, start=1):
        if walking:
            p = manual_links.candidates(s.db, s.user, p.email["id"])
            if not p.email["needs_deal"]:
                continue
        e = p.email
        head = Text()
        head.append(f"From: {clean(e['from']['name'])} <{clean(e['from']['email'])}>\n")
        head.append(f"Subject: {clean(e['subject'])}\n")
        head.append(f"Date: {shown_with_zone(e['date'], s.zone)}\n\n")
        head.append(clean(e["snippet"]))
        out.print(Panel(head, title=f"email {e['id']} ({n} of {len(items)})", title_align="left"))
        table = Table(box=None)
        for heading in ("deal", "value", "status", "contact"):  # the deal's number is typed: never cut
            table.add_column(heading, overflow="fold")
        for c in p.candidates:
            value = display(c["value"], c["currency"])
            table.add_row(f"{safe(c['title'])} (#{c['id']})", value, c["status"], safe(c["contact_name"]))
        if p.candidates:
            out.print(table)
        else:
            out.print("Its contacts have no open deal.")
        try:
            answer = _ask_deal(out, p.candidates)
        except EOFError:  # end of input is a quit, not an error
            break
        if answer == "q":
            break
        if answer == "s":
            skipped += 1
            continue
        deal = None if answer == "n" else next(c for c in p.candidates if c["id"] == answer)
        manual_links.set_deal(s.db, s.user, e["id"], None if deal is None else deal["id"])
        saved += 1
        chosen = "no deal" if deal is None else f"deal {deal['id']} ({clean(deal['title'])})"
        out.print(f"Saved: email {e['id']} → {chosen}.", markup=False)
    s.info(f"{saved} saved, {skipped} skipped.")


_ANSWER = re.compile(r"#?([0-9]+)")


def _ask_deal(out, candidates: list[dict]) -> int | str:
    """A deal's own number (as shown after #), or n, s or q; anything else is asked again.

    Rows carry no numbers of their own, so a number can only mean the deal that bears it; an answer
    that is not exactly one of the numbers shown is refused, never guessed at.
    """
    from rich.prompt import Prompt

    from pdmail.cli.common import clean

    numbers = [c["id"] for c in candidates]
    shown = ", ".join(f"#{n}" for n in numbers) or "none"
    while True:
        answer = Prompt.ask("Deal number (as shown after #), n = no deal, s = skip, q = quit", console=out)
        value = answer.strip().lower()
        if value in ("n", "s", "q"):
            return value
        match = _ANSWER.fullmatch(value)
        if match and int(match.group(1)) in numbers:
            return int(match.group(1))
        out.print(
            f"{clean(answer)!r} is not one of the deals shown ({shown}): type one deal number, or n, s or q.",
            markup=False,
            highlight=False,
        )


def _change_line(change) -> str:
    b, a = change.before.summary(), change.after.summary()
    parts = []
    for key in ("contacts", "orgs", "deal", "needs_deal", "verdict", "proposed"):
        if b.get(key, []) != a.get(key, []):
            parts.append(f"{key} {_value(b.get(key, []))} → {_value(a.get(key, []))}")
    return f"email {change.email_id}: {'; '.join(parts)}"


def _value(value) -> str:
    if isinstance(value, dict):  # what waits for the owner's acceptance
        return _proposed_text(value) or "nothing"
    return str(value)


def run_rule_change(s: Session, dry_run: bool, change):
    """Carry out ``change()`` as a change of the linking rules by the user: its re-links run on their
    behalf (rule 4 of the sharing law). Returns its result and what the re-links did (or, with
    ``dry_run``, would do: then nothing is written)."""
    from pdmail.linking import relink

    with relink.rule_change(s.db, s.user, dry_run=dry_run) as report:
        result = change()
    return result, report


def emit_rule_change(s: Session, report, data, human, what: str) -> None:
    """A rule change's own output; with --dry-run, what it would change instead ({"dry_run", "result", "relink"})."""
    if not report.dry_run:
        s.emit(data, human)
        if report.changed:
            s.info(f"Linked again: {report.changed} emails you may see changed their links.")
        return

    def text() -> str:
        lines = [_change_line(c) for c in report.changes]
        if report.more_changes:
            lines.append(f"... and {report.more_changes} more")
        outcome = (
            f"{report.changed} emails would change"
            if report.changed
            else "nothing to do: no email you may see would change"
        )
        lines.append(f"Would {what}: {outcome} (dry run: nothing was written).")
        return "\n".join(lines)

    s.emit({"dry_run": True, "result": data, "relink": report.to_json()}, text)


def _rescan(s: Session, dry_run: bool) -> None:
    from pdmail.linking import relink

    def line(change) -> None:
        if not s.json:
            sys.stdout.write(_change_line(change) + "\n")

    show_bar = on_terminal() and not s.json and not s.quiet
    if show_bar:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err_console(),
            transient=True,
        ) as bar:
            task = bar.add_task("Linking", total=None)
            report = relink.rescan(
                s.db,
                by=s.user,
                dry_run=dry_run,
                on_change=line,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    else:
        report = relink.rescan(s.db, by=s.user, dry_run=dry_run, on_change=line)
    verb = "would change" if dry_run else "changed"
    outcome = f"{report.changed} {verb}" if report.changed else "nothing to do"
    s.emit(
        report.to_json(),
        f"{report.emails} emails you may see, in {report.threads} threads: {outcome}"
        f"{f', {report.reworded} explanations updated' if report.reworded and not dry_run else ''}"
        f"{' (dry run: nothing was written)' if dry_run else ''}.",
    )


def explain(s: Session, email_id: Annotated[int, typer.Argument(metavar="ID", help="Email id.")]) -> None:
    """Why an email is linked as it is, and who can see it.

    Shows each rule that decided its contacts and deal, any blocked, internal or automated verdict,
    choices made by hand and their history, and the visibility rule for every user.

    Examples:
        $ pdmail explain 42
        $ pdmail explain 42 --json
    """
    from pdmail.linking.explain import explain as run

    data = run(s.db, s.user, email_id)
    s.emit(data, lambda: _render(data, s.zone))


def _waiting(proposed: bool, by: str | None) -> str:
    return f" — proposed by {by or 'no user'}, waits for your --accept or --reject" if proposed else ""


def _render(d: dict, zone):
    from rich.text import Text

    from pdmail.core.local_time import shown_with_zone

    t = Text()

    def line(label: str, value: str) -> None:
        t.append(f"{label}: ", style="bold")
        t.append(value + "\n")

    from pdmail.cli.common import clean

    line("Email", f"{d['id']} ({d['direction']}) {clean(d['subject'])}")
    th = d["thread"]
    line("Owner", d["owner"])
    line(
        "Thread",
        f"{th['id']} ({th['emails']} emails), "
        + ("no deal" if th["deal"] is None else f"deal {th['deal']}")
        + (" set by hand" if th["manual"] else ""),
    )
    for c in d["contacts"]:
        how = "by hand" if c["manual"] else f"via {c['address']}"
        line("Contact", f"{c['id']} {clean(c['name'])} ({how}, {c['rule']})" + _waiting(c["proposed"], c["caused_by"]))
    if not d["contacts"]:
        line("Contact", "none")
    for o in d["orgs"]:
        how = "by hand" if o["manual"] else f"via {o['address']}"
        line(
            "Organization",
            f"{o['id']} {clean(o['name'])} ({how}, {o['rule']})" + _waiting(o["proposed"], o["caused_by"]),
        )
    if d["deal"]:
        line(
            "Deal",
            f"{d['deal']['id']} {clean(d['deal']['title'])} [{d['deal']['status']}] ({d['deal_rule']})"
            + _waiting(d["deal_proposed"], d["deal_caused_by"]),
        )
    else:
        line("Deal", "needs a deal" if d["needs_deal"] else "none")
    if d["verdict"]:
        line("Verdict", d["verdict"])
    t.append("Rules, in order:\n", style="bold")
    for i, step in enumerate(d["trace"], start=1):
        t.append(f"  {i}. {step['rule']}: {clean(step['reason'])}\n")
    for note in d["notes"]:
        t.append(f"• {clean(note)}\n")
    v = d["visibility"]
    line("Visibility", f"{v['visibility']}; you: {v['viewer']['why']}")
    for u in v["users"]:
        t.append(f"  {'sees it' if u['can_view'] else 'cannot see it':14} {u['user']}: {u['why']}\n")
    if d["history"]:
        t.append("History:\n", style="bold")
        for h in d["history"]:
            t.append(
                f"  {shown_with_zone(h['at_utc'], zone)} {h['user'] or '-'} {h['action']}: {h['from']} → {h['to']}\n"
            )
    return t
