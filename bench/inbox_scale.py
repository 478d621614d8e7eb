"""How fast the read commands answer on a big team database, start-up included.

Builds (or reuses) a database of 1,000,000 emails, 100,000 contacts and 50,000 deals across 20 users,
written straight into the tables with ``executemany`` (the schema itself comes from pdmail's
migrations), then runs the real ``pdmail`` command several times per case and prints the median.

    python bench/inbox_scale.py                       # builds bench/out/inbox_scale.db once, then times
    python bench/inbox_scale.py --db big.db --emails 200000 --runs 7
    python bench/inbox_scale.py --db big.db --explain # also prints the query plans of the main reads
    python bench/inbox_scale.py --engine postgres     # the same on PostgreSQL (bench/out/pg-scale, kept)
    python bench/inbox_scale.py --engine both --emails 100000 --db s100k.db --pg-name s100k   # side by side

On PostgreSQL (``--engine postgres``) the same rows go into a database on the benchmark's server
(``pg_server.py``: durable settings), loaded with COPY; the server's folder is kept (``--pg-dir``), so
the next run finds the database again. ``--engine both`` times each case on both engines, runs
alternating. With ``--explain`` PostgreSQL also shows EXPLAIN ANALYZE of the inbox page and the search.

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
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import pg_server  # noqa: E402

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


# Columns written, per table, in the order of the generated rows. ``email_search`` (PostgreSQL's full-text
# rows) is written on PostgreSQL only: SQLite's FTS5 index is rebuilt from the emails after the load.
COLUMNS = {
    "company": ("id", "name", "created_utc"),
    "users": ("id", "email", "name", "is_admin", "created_utc"),
    "app_state": ("key", "value"),
    "orgs": ("id", "name", "created_utc"),
    "org_domains": ("domain", "org_id", "created_utc"),
    "contacts": ("id", "name", "org_id", "created_utc"),
    "contact_emails": ("email", "contact_id", "position"),
    "deals": ("id", "title", "contact_id", "org_id", "value", "currency", "status", "created_utc", "updated_utc"),
    "raw_messages": ("sha256", "size", "data"),
    "threads": ("id", "owner_id", "subject_norm", "deal_id", "visibility", "last_date_utc", "created_utc"),
    "emails": (
        "id",
        "owner_id",
        "thread_id",
        "message_id",
        "message_id_norm",
        "fingerprint",
        "raw_sha256",
        "direction",
        "source",
        "from_name",
        "from_email",
        "to_json",
        "cc_json",
        "addresses",
        "subject",
        "date_utc",
        "snippet",
        "body_text",
        "attachments_json",
        "folder",
        "is_read",
        "is_deleted",
        "visibility",
        "deal_id",
        "needs_deal",
        "captured_utc",
        "has_link",
    ),
    "email_addresses": ("address", "email_id", "role"),
    "email_contacts": ("email_id", "contact_id", "address", "rule"),
    "thread_message_ids": ("owner_id", "message_id", "thread_id"),
    "email_search": ("email_id", "words"),
}
EMAIL_BATCH = 20_000
PLACEHOLDER_RAW = "0"  # one raw message shared by every email: the reads measured here never open it


def generate(
    *, emails: int, contacts: int, deals: int, users: int, seed: int, search_documents: bool = False
) -> Iterator[tuple[str, list[tuple]]]:
    """Every row of the database as ``(table, rows)``, the emails in batches of EMAIL_BATCH with their
    threads, addresses, links, Message-IDs and (``search_documents``) full-text rows.

    The same arguments give the same rows, on either engine. The tables are those that capture writes
    for an email (pdmail/store/emails.py): raw message, thread, the email, its addresses, its contact
    links, its Message-ID for threading, its full-text row.
    """
    from pdmail.store import search_words

    rng = random.Random(seed)
    vocab = _vocabulary(rng)
    now = EPOCH.strftime("%Y-%m-%dT%H:%M:%SZ")
    yield "company", [(1, "Northwind", now)]
    user_rows = [
        (i, f"user{i}@northwind.example" if i > 1 else "maria@northwind.example", f"User {i}", int(i in (1, 2)), now)
        for i in range(1, users + 1)
    ]
    yield "users", user_rows
    yield "app_state", [("default_user", "maria@northwind.example")]
    n_orgs = max(1, contacts // 8)
    yield "orgs", [(i, f"Org {i}", now) for i in range(1, n_orgs + 1)]
    yield "org_domains", [(f"org{i}.example", i, now) for i in range(1, n_orgs + 1)]
    contact_org = [0] + [rng.randint(1, n_orgs) for _ in range(contacts)]
    yield "contacts", [(i, f"Contact {i}", contact_org[i], now) for i in range(1, contacts + 1)]
    yield "contact_emails", [(f"c{i}@org{contact_org[i]}.example", i, 0) for i in range(1, contacts + 1)]
    deal_contact = [0] + [rng.randint(1, contacts) for _ in range(deals)]
    contact_deals: dict[int, list[int]] = {}
    for d in range(1, deals + 1):
        contact_deals.setdefault(deal_contact[d], []).append(d)
    yield (
        "deals",
        [
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
        ],
    )
    yield "raw_messages", [(PLACEHOLDER_RAW, 2, b"\r\n")]

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
    batch: dict[str, list[tuple]] = {t: [] for t in ("threads", "emails", "email_addresses", "email_contacts")}
    batch["thread_message_ids"] = []
    if search_documents:
        batch["email_search"] = []

    def flush() -> Iterator[tuple[str, list[tuple]]]:
        for table, rows in batch.items():
            yield table, list(rows)
            rows.clear()

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
            message_id = f"m{email_id}@bench.example"
            addresses = f"{frm} {to}"  # as capture writes them: each address, then its name (none here)
            batch["emails"].append(
                (
                    email_id,
                    owner,
                    thread_id,
                    message_id,
                    message_id,
                    f"fp{email_id}",
                    PLACEHOLDER_RAW,
                    "outgoing" if outgoing else "incoming",
                    "sync",
                    "",
                    frm,
                    json.dumps([{"name": "", "email": to}]),
                    "[]",
                    addresses,
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
                    int(linked),  # as capture writes it: a link that counts (this bench links contacts only)
                )
            )
            batch["email_addresses"].append((frm, email_id, "from"))
            batch["email_addresses"].append((to, email_id, "to"))
            if linked:
                batch["email_contacts"].append((email_id, contact, customer, "address"))
            batch["thread_message_ids"].append((owner, message_id, thread_id))
            if search_documents:
                batch["email_search"].append((email_id, search_words.document((subj, body, addresses))))
        batch["threads"].append((thread_id, owner, subject.lower(), deal, visibility, last, now))
        if len(batch["emails"]) >= EMAIL_BATCH:
            yield from flush()
    yield from flush()


def build(path: Path, *, emails: int, contacts: int, deals: int, users: int, seed: int) -> None:
    """A SQLite file at ``path``: the schema from pdmail's migrations, then every row with ``executemany``."""
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
    for table, rows in generate(emails=emails, contacts=contacts, deals=deals, users=users, seed=seed):
        columns = COLUMNS[table]
        conn.execute("BEGIN")
        conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", rows)
        conn.execute("COMMIT")
        _progress(table, rows)
    print(file=sys.stderr)
    print("building the search index", file=sys.stderr)
    conn.execute("INSERT INTO email_fts (email_fts) VALUES ('rebuild')")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    print(
        f"built {path} in {time.perf_counter() - started:.0f} s ({path.stat().st_size / 1e9:.2f} GB)", file=sys.stderr
    )


# The tables written in bulk on PostgreSQL: their secondary indexes are dropped for the load and made again
# after it, from their own definitions (one sort each instead of a million insertions in random order).
BULK_TABLES = ("threads", "emails", "email_addresses", "email_contacts", "thread_message_ids", "email_search")


def build_postgres(url: str, *, emails: int, contacts: int, deals: int, users: int, seed: int) -> None:
    """The same rows in an empty PostgreSQL database at ``url``, with COPY; then ANALYZE.

    The schema comes from pdmail's migrations; each user is then given their login role. The load
    skips the foreign-key triggers
    (``session_replication_role = replica``: the rows are consistent by construction) and makes the
    secondary indexes after the rows are in, exactly as the migrations defined them. Then
    ``VACUUM (ANALYZE)``: statistics for the planner, and the visibility map a server that has run for a
    while has (its autovacuum would have made them within minutes of such a load).
    """
    import psycopg

    from pdmail.store import migrations_postgres, open_db

    started = time.perf_counter()
    open_db(url, create=True).close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '512MB'")
        indexes = _secondary_indexes(conn, BULK_TABLES)
        for name, _ in indexes:
            conn.execute(f"DROP INDEX {name}")
        stream = generate(emails=emails, contacts=contacts, deals=deals, users=users, seed=seed, search_documents=True)
        for table, rows in stream:
            statement = f"COPY {table} ({', '.join(COLUMNS[table])}) FROM STDIN"
            with conn.transaction(), conn.cursor() as cursor, cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
            _progress(table, rows)
        print(file=sys.stderr)
        # The load passes the triggers by: the flags of each conversation's last email are set as the
        # migration that made them sets them on a database it upgrades.
        schema = conn.execute("SELECT current_schema()").fetchone()[0]
        for statement in migrations_postgres.backfill_last_counting(schema):
            conn.execute(statement)
        print(f"making {len(indexes)} indexes", file=sys.stderr)
        for _, definition in indexes:
            conn.execute(definition)
        _continue_ids(conn)
        # Each user logs in as their own role, as `pdmail user add` makes it: the commands timed run as
        # that user, under the database's policies.
        conn.execute("SELECT pdmail_grant_login(id, NULL) FROM users ORDER BY id")
        print("VACUUM (ANALYZE)", file=sys.stderr)
        conn.execute("VACUUM (ANALYZE)")
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    print(f"built in {time.perf_counter() - started:.0f} s ({size / 1e9:.2f} GB)", file=sys.stderr)


def _secondary_indexes(conn, tables: Sequence[str]) -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of the indexes of ``tables`` that no constraint (primary key,
    UNIQUE) owns."""
    rows = conn.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid::regclass::text = ANY(%s) "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) ORDER BY 1",
        (list(tables),),
    ).fetchall()
    return [(name, definition) for name, definition in rows]


def _continue_ids(conn) -> None:
    """Ids written by the load are taken: the next row pdmail inserts gets the one after the largest."""
    for table, columns in COLUMNS.items():
        sequence = (
            conn.execute("SELECT pg_get_serial_sequence(%s, 'id')", (table,)).fetchone()[0]
            if ("id" in columns)
            else None
        )
        if sequence:
            conn.execute(f"SELECT setval(%s, max(id)) FROM {table} HAVING max(id) IS NOT NULL", (sequence,))


def _progress(table: str, rows: list[tuple]) -> None:
    if table == "emails" and rows:
        print(f"\r{rows[-1][0]:,} emails", end="", file=sys.stderr, flush=True)


def _scalar(target: Path | str, sql: str, params: tuple = ()):
    """One value read through pdmail's own store, from a SQLite file or a PostgreSQL URL alike."""
    from pdmail.store import open_db

    handle = open_db(target)
    try:
        return handle.scalar(sql, params)
    finally:
        handle.close()


def counts(target: Path | str) -> dict[str, int]:
    return {t: _scalar(target, f"SELECT count(*) FROM {t}") for t in ("users", "contacts", "deals", "emails")}


def pdmail_command() -> list[str]:
    venv = HERE.parent / ".venv" / "bin" / "pdmail"
    return [str(venv)] if venv.exists() else [sys.executable, "-m", "pdmail"]


def time_once(args: list[str], db: Path | str, server=None) -> tuple[float, float, float | None]:
    """One run of the command: wall and CPU time of its process, and the PostgreSQL server's CPU, in ms.

    CPU time is printed too because wall time on a shared machine also measures the neighbours.
    """
    env = dict(os.environ, PDMAIL_DB=str(db), COLUMNS="120")
    env.pop("PDMAIL_USER", None)
    server_before = pg_server.server_cpu_s(server) if server else 0.0
    t0 = time.perf_counter()
    proc = subprocess.Popen(pdmail_command() + args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = (time.perf_counter() - t0) * 1000
    server_cpu = (pg_server.server_cpu_s(server) - server_before) * 1000 if server else None
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.stderr and proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"pdmail {' '.join(args)} failed ({os.waitstatus_to_exitcode(status)}): {err.strip()}")
    return wall, (usage.ru_utime + usage.ru_stime) * 1000, server_cpu


def summarize(samples: list[tuple[float, float, float | None]]) -> tuple[float, float, float, float | None]:
    """Median wall, worst wall, median CPU and median server CPU (None on SQLite), in ms."""
    walls = [w for w, _, _ in samples]
    servers = [x for _, _, x in samples if x is not None]
    return (
        statistics.median(walls),
        max(walls),
        statistics.median(c for _, c, _ in samples),
        statistics.median(servers) if servers else None,
    )


def explain(db: Path | str, viewers: Sequence[str] = ("maria@northwind.example",)) -> None:
    for name, lines in plans(db, viewers).items():
        print(f"-- {name}")
        for line in lines:
            print("   " + line)


def plans(db: Path | str, viewers: Sequence[str]) -> dict[str, list[str]]:
    """The plans of the main reads (``Database.query_plan``) for each viewer; on PostgreSQL also what the
    inbox page and the search measured here really did (EXPLAIN ANALYZE: times, rows, buffers)."""
    from pdmail.store import mailbox, open_db
    from pdmail.store.users import find_user

    found: dict[str, list[str]] = {}
    handle = open_db(db)
    try:
        for email in viewers:
            viewer = find_user(handle, email)
            for name, lines in mailbox.explain_plans(handle, viewer, search_word=SEARCH_WORD).items():
                found[f"{name} ({email})"] = lines
        if handle.engine == "postgres":
            for email in viewers:
                for name, lines in explain_analyze(handle, find_user(handle, email)).items():
                    found[f"EXPLAIN (ANALYZE, BUFFERS) {name} ({email})"] = lines
    finally:
        handle.close()
    return found


def explain_analyze(handle, viewer) -> dict[str, list[str]]:
    """PostgreSQL's EXPLAIN ANALYZE of ``inbox --limit 50`` and ``search SEARCH_WORD`` as the commands
    run them (the search takes its by-date form when the word is in many emails, as ``search`` decides)."""
    from pdmail.store import mailbox

    inbox_sql, inbox_params = mailbox.inbox_query(handle, viewer, mailbox.InboxFilter(limit=50), extra=1)
    many = mailbox._matches_at_least(handle, handle.search_value([[SEARCH_WORD]]), mailbox.MANY_MATCHES)
    search_sql, search_params = mailbox.search_query(handle, viewer, SEARCH_WORD, by_date=many)
    cases = {"inbox --limit 50": (inbox_sql, inbox_params), f"search {SEARCH_WORD}": (search_sql, search_params)}
    return {
        name: [r[0] for r in handle.all("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)]
        for name, (sql, params) in cases.items()
    }


# --- PostgreSQL: a database on the benchmark's server, kept in a folder between runs --------------------

DEFAULT_PG_DIR = HERE / "out" / "pg-scale"
BUILT_MARK = "built by bench/inbox_scale.py"


def built_note(server, name: str) -> str | None:
    """What a finished build of database ``name`` holds (its comment), or None if none finished."""
    mark = server.run_sql("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (name,))
    note = mark[0][0] if mark else None
    return note if note and note.startswith(BUILT_MARK) else None


def postgres_database(server, name: str, *, rebuild: bool, **sizes) -> str:
    """The URL of database ``name`` on ``server``: reused when a finished build is there, else built."""
    from psycopg import sql

    url = server.url(name)
    note = built_note(server, name)
    if note and not rebuild:
        print(f"reusing {name}: {note}", file=sys.stderr)
        return url
    server.drop_database(name)
    server.create_database(name)
    build_postgres(url, **sizes)
    note = f"{BUILT_MARK}: " + ", ".join(f"{key} {value}" for key, value in sizes.items())
    server.run_sql(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name), sql.Literal(note)))
    return url


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--engine", choices=("sqlite", "postgres", "both"), default="sqlite")
    p.add_argument("--db", type=Path, default=DEFAULT_DB, help="SQLite: reuse this file, or build it if missing")
    p.add_argument("--pg-dir", type=Path, default=DEFAULT_PG_DIR, help="PostgreSQL: the server's folder, kept")
    p.add_argument("--pg-name", default="inbox_scale", help="PostgreSQL: the database's name on that server")
    p.add_argument("--rebuild", action="store_true", help="build the database even if it exists")
    p.add_argument("--emails", type=int, default=1_000_000)
    p.add_argument("--contacts", type=int, default=100_000)
    p.add_argument("--deals", type=int, default=50_000)
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--explain", action="store_true", help="print the query plans too")
    p.add_argument("--only", action="append", metavar="TEXT", help="only the cases whose label holds TEXT (repeatable)")
    a = p.parse_args()
    compile_bytecode()
    sizes = {"emails": a.emails, "contacts": a.contacts, "deals": a.deals, "users": a.users, "seed": a.seed}
    server = None
    targets: dict[str, Path | str] = {}
    try:
        if a.engine in ("sqlite", "both"):
            if a.rebuild or not a.db.exists():
                build(a.db, **sizes)
            targets["SQLite"] = a.db
        if a.engine in ("postgres", "both"):
            server = pg_server.start(a.pg_dir)
            targets["PostgreSQL"] = postgres_database(server, a.pg_name, rebuild=a.rebuild, **sizes)
            print(pg_server.settings_note(server))
        run_cases(targets, a.runs, a.explain, server, only=a.only)
    finally:
        if server:
            server.stop()


def compile_bytecode() -> None:
    """pdmail's modules compiled to bytecode before the first run, as installing pdmail does.

    This checkout runs from its sources; with ``PYTHONDONTWRITEBYTECODE`` set (or before anything has
    written the bytecode) every run would compile some forty modules again, 70 ms of CPU that no
    installed pdmail spends. (compileall writes the files whatever that variable says.)
    """
    import compileall

    compileall.compile_dir(str(HERE.parent / "pdmail"), quiet=1)


def run_cases(
    targets: dict[str, Path | str], runs: int, with_plans: bool, server=None, only: Sequence[str] | None = None
) -> None:
    """Every case on each engine (or those ``only`` names); with two engines the runs alternate, so that
    a busy moment hits both."""
    first = next(iter(targets.values()))
    size = counts(first)
    print(
        f"database: {size['emails']:,} emails, {size['contacts']:,} contacts, {size['deals']:,} deals, "
        f"{size['users']} users ({' and '.join(targets)}); median of {runs} runs, start-up included; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    owner, colleague = "maria@northwind.example", "user3@northwind.example"
    if with_plans:
        for target in targets.values():
            explain(target, (owner, colleague))
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
        ("inbox --awaiting-reply --limit 50", ["inbox", "--awaiting-reply", "--limit", "50"], owner),
        ("inbox --awaiting-reply --count", ["inbox", "--awaiting-reply", "--count"], owner),
        ("inbox --unanswered --limit 50", ["inbox", "--unanswered", "--limit", "50"], owner),
        ("inbox --unanswered --count", ["inbox", "--unanswered", "--count"], owner),
        (
            "inbox --awaiting-reply --team --limit 50",
            ["inbox", "--awaiting-reply", "--team", "--limit", "50"],
            colleague,
        ),
        ("inbox --awaiting-reply --team --count", ["inbox", "--awaiting-reply", "--team", "--count"], colleague),
        ("inbox --unanswered --team --limit 50", ["inbox", "--unanswered", "--team", "--limit", "50"], colleague),
        ("inbox --unanswered --team --count", ["inbox", "--unanswered", "--team", "--count"], colleague),
        (f"search {SEARCH_WORD}", ["search", SEARCH_WORD], owner),
        (f"search {SEARCH_WORD}", ["search", SEARCH_WORD], colleague),
        (f"search {COMMON_WORD} (a very common word)", ["search", COMMON_WORD], colleague),
        (f"search {SEARCH_WORD} --mine", ["search", SEARCH_WORD, "--mine"], owner),
        ("contact show 1 (the busiest contact)", ["contact", "show", "1"], owner),
        ("contact show 1 (the busiest contact)", ["contact", "show", "1"], colleague),
        ("deal show 1", ["deal", "show", "1"], colleague),
        ("org show (the busiest contact's org)", ["org", "show", str(_org_of_contact(first, 1))], colleague),
        ("show (newest email)", ["show", str(_newest_of(first, 1))], owner),
    ]
    if only:
        cases = [case for case in cases if any(text in case[0] for text in only)]
    width = max((len(c[0]) for c in cases), default=0) + 2
    engines = list(targets)
    for label, args, user in cases:
        full = args + (["--user", user] if user else [])
        samples: dict[str, list] = {engine: [] for engine in engines}
        for run in range(runs):
            for engine in engines if run % 2 == 0 else engines[::-1]:
                on = server if engine == "PostgreSQL" else None
                samples[engine].append(time_once(full, targets[engine], on))
        who = "" if user is None else ("owner" if user == owner else "colleague")
        shown = []
        for engine in engines:
            median, worst, cpu, server_cpu = summarize(samples[engine])
            on_server = "" if server_cpu is None else f", server {server_cpu:4.0f}"
            prefix = f"{engine}: " if len(engines) > 1 else ""
            shown.append(f"{prefix}{median:7.0f} ms  (max {worst:4.0f}, cpu {cpu:4.0f}{on_server})")
        print(f"{label:<{width}} {who:<10} " + "   ".join(shown))


def _org_of_contact(target: Path | str, contact: int) -> int:
    return _scalar(target, "SELECT org_id FROM contacts WHERE id = ?", (contact,))


def _newest_of(target: Path | str, owner: int) -> int:
    return _scalar(target, "SELECT id FROM emails WHERE owner_id = ? ORDER BY date_utc DESC LIMIT 1", (owner,))


if __name__ == "__main__":
    main()
