"""How fast the read commands answer on a big team database, start-up included.

Builds (or reuses) a database of 1,000,000 emails, 100,000 contacts and 50,000 deals across 20 users,
written straight into the tables with ``executemany`` (the schema itself comes from pdmail's
migrations), then runs the real ``pdmail`` command several times per case and prints the median.

    python bench/inbox_scale.py                       # builds bench/out/inbox_scale.db once, then times
    python bench/inbox_scale.py --db big.db --emails 200000 --runs 7
    python bench/inbox_scale.py --db big.db --explain # also prints the query plans of the main reads

The data is deterministic (``--seed``). Everything is fictional; addresses are on .example domains.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DB = HERE / "out" / "inbox_scale.db"
EPOCH = datetime(2026, 11, 1, tzinfo=UTC)
SPAN_S = 3 * 365 * 86400

# A vocabulary with a long tail, so that some words are everywhere and most are rare.
_SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "do", "fi", "gu", "he", "ja", "be")
COMMON = (
    "quote",
    "meeting",
    "order",
    "invoice",
    "delivery",
    "price",
    "contract",
    "thanks",
    "call",
    "update",
    "robot",
    "arm",
    "servo",
    "install",
    "schedule",
    "week",
    "team",
    "offer",
    "support",
    "service",
)
SEARCH_WORD = "gearbox"  # in roughly 1 % of emails
COMMON_WORD = "quote"  # in a large share of emails


def _vocabulary(rng: random.Random, n: int = 3000) -> list[str]:
    words = set()
    while len(words) < n:
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def _iso(seconds_before: int) -> str:
    return (EPOCH - timedelta(seconds=seconds_before)).strftime("%Y-%m-%dT%H:%M:%SZ")


def build(path: Path, *, emails: int, contacts: int, deals: int, users: int, seed: int) -> None:
    sys.path.insert(0, str(HERE.parent))
    from pdmail.store import open_db

    started = time.perf_counter()
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    open_db(path, create=True).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("PRAGMA cache_size=-400000")
    rng = random.Random(seed)
    vocab = _vocabulary(rng)
    now = EPOCH.strftime("%Y-%m-%dT%H:%M:%SZ")
    conn.execute("BEGIN")
    conn.execute("INSERT INTO company (id, name, created_utc) VALUES (1, 'Northwind', ?)", (now,))
    user_rows = [
        (i, f"user{i}@northwind.example" if i > 1 else "maria@northwind.example", f"User {i}", int(i in (1, 2)), now)
        for i in range(1, users + 1)
    ]
    conn.executemany("INSERT INTO users (id, email, name, is_admin, created_utc) VALUES (?,?,?,?,?)", user_rows)
    conn.execute("INSERT INTO app_state (key, value) VALUES ('default_user', 'maria@northwind.example')")
    n_orgs = max(1, contacts // 8)
    conn.executemany(
        "INSERT INTO orgs (id, name, domain, created_utc) VALUES (?,?,?,?)",
        ((i, f"Org {i}", f"org{i}.example", now) for i in range(1, n_orgs + 1)),
    )
    contact_org = [0] + [rng.randint(1, n_orgs) for _ in range(contacts)]
    conn.executemany(
        "INSERT INTO contacts (id, name, org_id, created_utc) VALUES (?,?,?,?)",
        ((i, f"Contact {i}", contact_org[i], now) for i in range(1, contacts + 1)),
    )
    conn.executemany(
        "INSERT INTO contact_emails (email, contact_id, position) VALUES (?,?,0)",
        ((f"c{i}@org{contact_org[i]}.example", i) for i in range(1, contacts + 1)),
    )
    deal_contact = [0] + [rng.randint(1, contacts) for _ in range(deals)]
    contact_deals: dict[int, list[int]] = {}
    for d in range(1, deals + 1):
        contact_deals.setdefault(deal_contact[d], []).append(d)
    conn.executemany(
        "INSERT INTO deals (id, title, contact_id, org_id, value, currency, status, created_utc, updated_utc) "
        "VALUES (?,?,?,?,?,?,?,?,?)",
        (
            (
                d,
                f"Deal {d}",
                deal_contact[d],
                contact_org[deal_contact[d]],
                f"{1000 * (d % 97)}.00",
                "EUR",
                rng.choices(("open", "won", "lost"), (70, 18, 12))[0],
                now,
                now,
            )
            for d in range(1, deals + 1)
        ),
    )
    conn.execute("INSERT INTO raw_messages (sha256, size, data) VALUES ('0' , 2, X'0D0A')")
    conn.execute("COMMIT")

    # Contact 1 is the busy one: a customer every salesperson writes to.
    weights_cut = contacts // 100 or 1

    def pick_contact() -> int:
        if rng.random() < 0.01:
            return 1
        if rng.random() < 0.5:
            return rng.randint(1, weights_cut)
        return rng.randint(1, contacts)

    email_id = 0
    thread_id = 0
    batch_e, batch_t, batch_a, batch_c = [], [], [], []

    def flush() -> None:
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO threads (id, owner_id, subject_norm, deal_id, visibility, last_date_utc, created_utc) "
            "VALUES (?,?,?,?,?,?,?)",
            batch_t,
        )
        conn.executemany(
            "INSERT INTO emails (id, owner_id, thread_id, message_id, message_id_norm, fingerprint, raw_sha256, "
            "direction, source, from_name, from_email, to_json, cc_json, addresses, subject, date_utc, snippet, "
            "body_text, attachments_json, folder, is_read, is_deleted, visibility, deal_id, needs_deal, "
            "captured_utc) VALUES (?,?,?,?,?,?,'0',?,'sync',?,?,?,'[]',?,?,?,?,?,?,?,?,?,?,?,?,?)",
            batch_e,
        )
        conn.executemany("INSERT INTO email_addresses (address, email_id, role) VALUES (?,?,?)", batch_a)
        conn.executemany(
            "INSERT INTO email_contacts (email_id, contact_id, address, rule) VALUES (?,?,?,'address')", batch_c
        )
        conn.execute("COMMIT")
        for b in (batch_e, batch_t, batch_a, batch_c):
            b.clear()

    while email_id < emails:
        thread_id += 1
        owner = rng.randint(1, users)
        owner_email = user_rows[owner - 1][1]
        linked = rng.random() < 0.75
        contact = pick_contact() if linked else 0
        if linked:
            customer = f"c{contact}@org{contact_org[contact]}.example"
        else:
            customer = f"x{rng.randint(1, 10**6)}@else.example"
        open_deals = contact_deals.get(contact, []) if linked else []
        deal = open_deals[0] if open_deals and rng.random() < 0.6 else None
        needs = int(linked and deal is None and len(open_deals) > 1)
        visibility = "private" if rng.random() < 0.15 else "shared"
        subject = " ".join(rng.choices(COMMON, k=2) + rng.choices(vocab, k=2)).capitalize()
        start = rng.randint(0, SPAN_S)
        size = min(rng.choice((1, 1, 1, 2, 2, 3, 4, 6)), emails - email_id)
        last = None
        for k in range(size):
            email_id += 1
            outgoing = rng.random() < 0.3
            seconds = max(0, start - k * rng.randint(600, 86400))
            last = last or _iso(seconds)
            words = rng.choices(COMMON, k=6) + rng.choices(vocab, k=24)
            if rng.random() < 0.01:
                words.append(SEARCH_WORD)
            rng.shuffle(words)
            body = " ".join(words)
            frm, to = (owner_email, customer) if outgoing else (customer, owner_email)
            folder = "sent" if outgoing else rng.choices(("inbox", "archive", "trash"), (80, 15, 5))[0]
            subj = ("Re: " if k else "") + subject
            batch_e.append(
                (
                    email_id,
                    owner,
                    thread_id,
                    f"m{email_id}@bench.example",
                    f"m{email_id}@bench.example",
                    f"fp{email_id}",
                    "outgoing" if outgoing else "incoming",
                    "",
                    frm,
                    json.dumps([{"name": "", "email": to}]),
                    f"{frm} {to}",
                    subj,
                    _iso(seconds),
                    body[:120],
                    body,
                    "[]",
                    folder,
                    int(rng.random() < 0.7),
                    int(folder == "trash"),
                    visibility,
                    deal,
                    needs,
                    now,
                )
            )
            batch_a.append((frm, email_id, "from"))
            batch_a.append((to, email_id, "to"))
            if linked:
                batch_c.append((email_id, contact, customer))
        batch_t.append((thread_id, owner, subject.lower(), deal, visibility, last, now))
        if len(batch_e) >= 20000:
            flush()
            print(f"\r{email_id:,} emails", end="", file=sys.stderr, flush=True)
    flush()
    print(f"\r{email_id:,} emails; building the search index", file=sys.stderr)
    conn.execute("INSERT INTO email_fts (email_fts) VALUES ('rebuild')")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    print(
        f"built {path} in {time.perf_counter() - started:.0f} s ({path.stat().st_size / 1e9:.2f} GB)", file=sys.stderr
    )


def counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        return {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("users", "contacts", "deals", "emails")
        }
    finally:
        conn.close()


def pdmail_command() -> list[str]:
    venv = HERE.parent / ".venv" / "bin" / "pdmail"
    return [str(venv)] if venv.exists() else [sys.executable, "-m", "pdmail"]


def time_command(args: list[str], db: Path, runs: int) -> tuple[float, float, float]:
    """Median wall time, worst wall time, and median CPU time (user + system) of the process, in ms.

    CPU time is printed too because wall time on a shared machine also measures the neighbours.
    """
    env = dict(os.environ, PDMAIL_DB=str(db), COLUMNS="120")
    env.pop("PDMAIL_USER", None)
    walls, cpus = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.Popen(pdmail_command() + args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        walls.append((time.perf_counter() - t0) * 1000)
        cpus.append((usage.ru_utime + usage.ru_stime) * 1000)
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        proc.stderr and proc.stderr.close()
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"pdmail {' '.join(args)} failed ({proc.returncode}): {err.strip()}")
    return statistics.median(walls), max(walls), statistics.median(cpus)


def explain(db: Path) -> None:
    sys.path.insert(0, str(HERE.parent))
    from pdmail.store import mailbox, open_db
    from pdmail.store.users import find_user

    handle = open_db(db)
    plans = mailbox.explain_plans(handle, find_user(handle, "maria@northwind.example"), search_word=SEARCH_WORD)
    for name, lines in plans.items():
        print(f"-- {name}")
        for line in lines:
            print("   " + line)
    handle.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", type=Path, default=DEFAULT_DB, help="reuse this database, or build it if missing")
    p.add_argument("--rebuild", action="store_true", help="build the database even if the file exists")
    p.add_argument("--emails", type=int, default=1_000_000)
    p.add_argument("--contacts", type=int, default=100_000)
    p.add_argument("--deals", type=int, default=50_000)
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--explain", action="store_true", help="print the query plans too")
    a = p.parse_args()
    if a.rebuild or not a.db.exists():
        build(a.db, emails=a.emails, contacts=a.contacts, deals=a.deals, users=a.users, seed=a.seed)
    size = counts(a.db)
    print(
        f"database: {size['emails']:,} emails, {size['contacts']:,} contacts, {size['deals']:,} deals, "
        f"{size['users']} users; median of {a.runs} runs, start-up included; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    if a.explain:
        explain(a.db)
    owner, colleague = "maria@northwind.example", "user3@northwind.example"
    cases = [
        ("start-up only: pdmail --version", ["--version"], None),
        ("inbox --limit 50", ["inbox", "--limit", "50"], owner),
        ("inbox --limit 50 --json", ["inbox", "--limit", "50", "--json"], owner),
        ("inbox --limit 50 --page 20", ["inbox", "--limit", "50", "--page", "20"], owner),
        ("inbox --unread --limit 50", ["inbox", "--unread", "--limit", "50"], owner),
        ("inbox --folder trash --limit 50", ["inbox", "--folder", "trash", "--limit", "50"], owner),
        ("inbox --count", ["inbox", "--count"], owner),
        ("inbox --team --limit 50", ["inbox", "--team", "--limit", "50"], colleague),
        ("inbox --team --count", ["inbox", "--team", "--count"], colleague),
        (f"search {SEARCH_WORD}", ["search", SEARCH_WORD], owner),
        (f"search {SEARCH_WORD}", ["search", SEARCH_WORD], colleague),
        (f"search {COMMON_WORD} (a very common word)", ["search", COMMON_WORD], colleague),
        (f"search {SEARCH_WORD} --mine", ["search", SEARCH_WORD, "--mine"], owner),
        ("contact show 1 (the busiest contact)", ["contact", "show", "1"], owner),
        ("contact show 1 (the busiest contact)", ["contact", "show", "1"], colleague),
        ("deal show 1", ["deal", "show", "1"], colleague),
        ("org show (the busiest contact's org)", ["org", "show", str(_org_of_contact(a.db, 1))], colleague),
        ("show (newest email)", ["show", str(_newest_of(a.db, 1))], owner),
    ]
    width = max(len(c[0]) for c in cases) + 2
    for label, args, user in cases:
        full = args + (["--user", user] if user else [])
        median, worst, cpu = time_command(full, a.db, a.runs)
        who = "" if user is None else ("owner" if user == owner else "colleague")
        print(f"{label:<{width}} {who:<10} {median:7.0f} ms  (max {worst:4.0f}, cpu {cpu:4.0f})")


def _org_of_contact(db: Path, contact: int) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT org_id FROM contacts WHERE id = ?", (contact,)).fetchone()[0]
    finally:
        conn.close()


def _newest_of(db: Path, owner: int) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT id FROM emails WHERE owner_id = ? ORDER BY date_utc DESC LIMIT 1", (owner,)
        ).fetchone()[0]
    finally:
        conn.close()


if __name__ == "__main__":
    main()
