"""A pdmail database at scale, written straight with SQL: users, orgs, contacts, deals, threads, emails.

The schema comes from pdmail's own migrations; everything else is inserted with ``executemany`` in
one transaction, so a million emails take a minute or two instead of a day of capture. Each email
carries a realistic linking input (``link_input_json``: direction, From/To/Cc, list and automation
headers) and its address rows, and is stored *unlinked*, as mail synced before the CRM was
imported: a ``pdmail link --rescan`` then has real work to do.

    python bench/scale_db.py /tmp/big.db --emails 1000000 --contacts 100000 --deals 50000

Mix, in round numbers: threads of 1 to 6 emails (about 3); 60 % incoming; 75 % of customer
addresses belong to a contact (one in ten contacts has two addresses); 7 % newsletters, 3 %
no-reply notifications, 4 % internal mail; a tenth of the mail copies a second customer;
deals 70 % open, 18 % won, 12 % lost, early contacts holding several. Deterministic per ``seed``.
Bodies, the search index and raw messages are left out (one shared placeholder raw message):
they are not what linking reads. Self-contained: only pdmail's migrations and page size are imported.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import time
from pathlib import Path

COMPANY_DOMAIN = "northwind.example"
STAMP = "2026-11-01T00:00:00Z"
PLACEHOLDER_SHA = "0" * 64


def _migrate(path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from pdmail.store import migrations
    from pdmail.store.db import PAGE_SIZE

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(f"PRAGMA page_size={PAGE_SIZE}")  # as pdmail makes a new database
        migrations.migrate(conn)
    finally:
        conn.close()


def _contact_addresses(i: int) -> list[str]:
    org = i // 8
    first = f"c{i}@org{org}.example"
    return [first, f"c{i}.alt@org{org}.test"] if i % 10 == 3 else [first]


def _people(addresses):
    return [["", a] for a in addresses]


def build(
    path,
    emails: int = 1_000_000,
    contacts: int = 100_000,
    deals: int = 50_000,
    users: int = 5,
    seed: int = 1,
    progress=None,
) -> dict:
    """Write a new database at ``path`` and return what it holds (counts and seconds)."""
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists; choose a new path")
    started = time.perf_counter()
    _migrate(path)
    rnd = random.Random(seed)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-200000")
    conn.execute("BEGIN")
    conn.execute("INSERT INTO company (id, name, created_utc) VALUES (1, 'Northwind', ?)", (STAMP,))
    user_emails = [f"user{u}@{COMPANY_DOMAIN}" for u in range(1, users + 1)]
    conn.executemany(
        "INSERT INTO users (id, email, name, is_admin, created_utc) VALUES (?, ?, ?, ?, ?)",
        [(u, e, f"User {u}", int(u == 1), STAMP) for u, e in enumerate(user_emails, start=1)],
    )
    conn.execute("INSERT INTO app_state (key, value) VALUES ('default_user', ?)", (user_emails[0],))
    n_orgs = max(1, contacts // 8)
    conn.executemany(
        "INSERT INTO orgs (id, name, created_utc) VALUES (?, ?, ?)", ((o + 1, f"Org {o}", STAMP) for o in range(n_orgs))
    )
    conn.executemany(
        "INSERT INTO org_domains (domain, org_id, created_utc) VALUES (?, ?, ?)",
        ((f"org{o}.example", o + 1, STAMP) for o in range(n_orgs)),
    )
    conn.executemany(
        "INSERT INTO contacts (id, name, org_id, created_utc) VALUES (?, ?, ?, ?)",
        ((i + 1, f"Contact {i}", i // 8 + 1, STAMP) for i in range(contacts)),
    )
    conn.executemany(
        "INSERT INTO contact_emails (email, contact_id, position) VALUES (?, ?, ?)",
        ((a, i + 1, p) for i in range(contacts) for p, a in enumerate(_contact_addresses(i))),
    )

    def deal_rows():
        for d in range(deals):
            # Early contacts collect several deals, the long tail one or none.
            holder = int(contacts * (rnd.random() ** 2.5)) if contacts else 0
            roll = rnd.random()
            status = "open" if roll < 0.70 else ("won" if roll < 0.88 else "lost")
            yield (
                d + 1,
                f"Deal {d}",
                holder + 1,
                holder // 8 + 1,
                f"{rnd.randrange(1000, 500000)}.00",
                "EUR",
                status,
                STAMP,
                STAMP,
            )

    conn.executemany(
        "INSERT INTO deals (id, title, contact_id, org_id, value, currency, status, created_utc, updated_utc) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        deal_rows(),
    )
    conn.execute("INSERT INTO raw_messages (sha256, size, data) VALUES (?, 0, x'')", (PLACEHOLDER_SHA,))

    email_sql = (
        "INSERT INTO emails (id, owner_id, thread_id, message_id, message_id_norm, fingerprint, raw_sha256, "
        "direction, source, from_name, from_email, to_json, cc_json, addresses, subject, date_utc, snippet, "
        "folder, is_read, visibility, link_input_json, captured_utc) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'sync', '', ?, ?, ?, ?, ?, ?, '', ?, 1, 'shared', ?, ?)"
    )
    made = 0
    thread_id = 0
    email_rows, address_rows, id_rows, thread_rows = [], [], [], []

    def flush():
        conn.executemany(
            "INSERT INTO threads (id, owner_id, subject_norm, visibility, last_date_utc, created_utc) "
            "VALUES (?, ?, ?, 'shared', ?, ?)",
            thread_rows,
        )
        conn.executemany(email_sql, email_rows)
        conn.executemany(
            "INSERT OR IGNORE INTO email_addresses (address, email_id, role) VALUES (?, ?, ?)", address_rows
        )
        conn.executemany(
            "INSERT OR IGNORE INTO thread_message_ids (owner_id, message_id, thread_id) VALUES (?, ?, ?)", id_rows
        )
        for rows in (email_rows, address_rows, id_rows, thread_rows):
            rows.clear()

    t0 = 1_700_000_000
    while made < emails:
        thread_id += 1
        owner = rnd.randrange(1, users + 1)
        me = user_emails[owner - 1]
        kind = rnd.random()
        if kind < 0.04 and users > 1:
            customer = rnd.choice([e for e in user_emails if e != me])  # internal
        elif rnd.random() < 0.75 and contacts:
            customer = rnd.choice(_contact_addresses(rnd.randrange(contacts)))
        else:
            customer = f"p{rnd.randrange(10 * max(contacts, 1))}@elsewhere{rnd.randrange(5000)}.example"
        newsletter = 0.04 <= kind < 0.11
        noreply = 0.11 <= kind < 0.14
        if noreply:
            customer = f"no-reply@org{rnd.randrange(max(1, n_orgs))}.example"
        second = (
            rnd.choice(_contact_addresses(rnd.randrange(contacts)))
            if contacts and rnd.random() < 0.1 and not (newsletter or noreply)
            else None
        )
        size = 1 if newsletter or noreply else min(emails - made, rnd.choice((1, 1, 2, 3, 3, 4, 5, 6)))
        size = max(1, min(size, emails - made))
        subject = f"Subject {thread_id}"
        date = t0 + thread_id * 60
        thread_rows.append((thread_id, owner, subject.lower(), _iso(date + size * 3600), STAMP))
        for k in range(size):
            made += 1
            eid = made
            incoming = newsletter or noreply or (k % 2 == 0 and rnd.random() < 0.8) or rnd.random() < 0.3
            frm, to = (customer, [me]) if incoming else (me, [customer])
            cc = [second] if second else []
            mid = f"{eid}.{seed}@mail.example"
            link_input = {
                "direction": "incoming" if incoming else "outgoing",
                "from": _people([frm]),
                "to": _people(to),
                "cc": _people(cc),
                "reply_to": [],
                "x_original_from": [],
                "list_id": f"<news.org{eid % 97}.example>" if newsletter else None,
                "list_unsubscribe": "<mailto:leave@list.example>" if newsletter else None,
                "precedence": "bulk" if newsletter else None,
                "auto_submitted": "auto-generated" if noreply else None,
            }
            email_rows.append(
                (
                    eid,
                    owner,
                    thread_id,
                    mid,
                    mid,
                    f"fp{eid}",
                    PLACEHOLDER_SHA,
                    link_input["direction"],
                    frm,
                    json.dumps([{"name": "", "email": a} for a in to]),
                    json.dumps([{"name": "", "email": a} for a in cc]),
                    " ".join([frm, *to, *cc]),
                    subject if k == 0 else f"Re: {subject}",
                    _iso(date + k * 3600),
                    "inbox" if incoming else "sent",
                    json.dumps(link_input),
                    STAMP,
                )
            )
            address_rows.append((frm, eid, "from"))
            address_rows.extend((a, eid, "to") for a in to)
            address_rows.extend((a, eid, "cc") for a in cc)
            id_rows.append((owner, mid, thread_id))
        if len(email_rows) >= 20_000:
            flush()
            if progress:
                progress(made, emails)
    flush()
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    return {
        "emails": made,
        "threads": thread_id,
        "contacts": contacts,
        "deals": deals,
        "users": users,
        "seconds": round(time.perf_counter() - started, 1),
        "bytes": path.stat().st_size,
    }


def unlink_all(path) -> None:
    """Back to the state ``build`` leaves: no email linked, so a rescan has the full work again."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.execute("DELETE FROM email_contacts")
        conn.execute(
            "UPDATE emails SET deal_id = NULL, deal_rule = NULL, is_deal_manual = 0, needs_deal = 0, "
            "is_automated = 0, link_verdict = NULL, link_trace_json = '[]' "
            "WHERE deal_id IS NOT NULL OR link_trace_json != '[]'"
        )
        conn.execute(
            "UPDATE threads SET deal_id = NULL, deal_rule = NULL, is_deal_manual = 0 "
            "WHERE deal_id IS NOT NULL OR is_deal_manual = 1"
        )
        conn.execute("COMMIT")
    finally:
        conn.close()


def _iso(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", type=Path)
    ap.add_argument("--emails", type=int, default=1_000_000)
    ap.add_argument("--contacts", type=int, default=100_000)
    ap.add_argument("--deals", type=int, default=50_000)
    ap.add_argument("--users", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    info = build(
        args.path,
        emails=args.emails,
        contacts=args.contacts,
        deals=args.deals,
        users=args.users,
        seed=args.seed,
        progress=lambda done, total: print(f"\r{done:,}/{total:,}", end="", file=sys.stderr),
    )
    print(file=sys.stderr)
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
