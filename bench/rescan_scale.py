"""How long `pdmail link --rescan` takes on a big database, and how much memory it needs.

Builds the database with ``scale_db.build`` (unless ``--reuse``), then runs the real command three
times in a child process: a dry run, the first rescan (every email gets its links: the mail came
before the CRM), and a second rescan (nothing left to change). Prints wall seconds, emails per
second, the child's CPU seconds (user + system: the figure that holds on a busy machine) and its
peak resident memory for each.

    python bench/rescan_scale.py --db /tmp/scale.db                     # 1,000,000 emails
    python bench/rescan_scale.py --db /tmp/scale.db --reuse --reset      # again, on the same mail
    python bench/rescan_scale.py --db /tmp/small.db --emails 100000     # compare memory at 1/10
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import scale_db  # noqa: E402


def run_one(db: Path, *extra: str) -> dict:
    """One `pdmail link --rescan` in a child process: wall time, and its own peak RSS from wait4."""
    cmd = [sys.executable, "-m", "pdmail", "link", "--rescan", "--db", str(db), "--json", *extra]
    started = time.perf_counter()
    out_path = db.with_suffix(".rescan.json")
    with open(os.devnull, "wb") as sink, open(out_path, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=sink, cwd=HERE.parent)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"rescan failed with exit code {os.waitstatus_to_exitcode(status)}")
    report = json.loads(out_path.read_text())
    out_path.unlink()
    return {
        "seconds": round(seconds, 1),
        "emails": report["emails"],
        "changed": report["changed"],
        "reworded": report["reworded"],
        "emails_per_second": round(report["emails"] / seconds),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "user_seconds": round(usage.ru_utime, 1),
        "system_seconds": round(usage.ru_stime, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
    }


def time_triggers(db: Path) -> None:
    """Retroactive linking after single changes: each should cost lookups, not a scan."""
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        stranger, count = conn.execute(
            "SELECT address, count(*) FROM email_addresses WHERE address LIKE 'p%@elsewhere%' "
            "GROUP BY address ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
        busy, busy_count = conn.execute(
            "SELECT contact_id, count(*) FROM email_contacts GROUP BY contact_id ORDER BY count(*) DESC LIMIT 1"
        ).fetchone() or (1, 0)
        top = conn.execute("SELECT max(id) FROM contacts").fetchone()[0]
    finally:
        conn.close()
    steps = [
        (f"contact add ({count} emails)", ["contact", "add", "Bench Stranger", "--email", stranger]),
        (f"deal add ({busy_count} emails)", ["deal", "add", "Bench deal", "--contact", str(busy)]),
        ("deal set-status won", ["deal", "set-status", "LAST_DEAL", "won"]),
        ("contact add-address", ["contact", "add-address", str(top + 1), "fresh@nowhere.example"]),
        ("block add @org7.example", ["settings", "block", "add", "@org7.example"]),
        ("block remove @org7.example", ["settings", "block", "remove", "@org7.example"]),
    ]
    last_deal = None
    for label, args in steps:
        args = [str(last_deal) if a == "LAST_DEAL" else a for a in args]
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "pdmail", *args, "--db", str(db), "--json"], capture_output=True, cwd=HERE.parent
        )
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            print(f"{label:30} failed: {done.stderr.decode(errors='replace').strip()}")
            continue
        if args[:2] == ["deal", "add"]:
            last_deal = json.loads(done.stdout)["id"]
        print(f"{label:30} {seconds:6.2f} s", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--emails", type=int, default=1_000_000)
    ap.add_argument("--contacts", type=int, default=100_000)
    ap.add_argument("--deals", type=int, default=50_000)
    ap.add_argument("--users", type=int, default=5)
    ap.add_argument("--reuse", action="store_true", help="Use an existing database.")
    ap.add_argument("--reset", action="store_true", help="With --reuse: unlink every email first, as built.")
    ap.add_argument("--triggers", action="store_true", help="Also time single changes that re-link (they stay).")
    args = ap.parse_args(argv)

    if not args.reuse:
        # In a child of its own: a forked child counts its parent's pages in its peak RSS until it
        # execs, so this process stays small for the measurements below.
        out = subprocess.run(
            [
                sys.executable,
                str(HERE / "scale_db.py"),
                str(args.db),
                "--emails",
                str(args.emails),
                "--contacts",
                str(args.contacts),
                "--deals",
                str(args.deals),
                "--users",
                str(args.users),
            ],
            check=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        ).stdout
        built = json.loads(out)
        print(
            f"built: {built['emails']:,} emails in {built['threads']:,} threads, {built['contacts']:,} contacts, "
            f"{built['deals']:,} deals, {built['bytes'] / 1e6:,.0f} MB in {built['seconds']} s",
            flush=True,
        )
    elif args.reset:
        started = time.perf_counter()
        scale_db.unlink_all(args.db)
        print(f"reset: every email unlinked in {time.perf_counter() - started:.1f} s", flush=True)
    for label, extra in (("dry run", ("--dry-run",)), ("first rescan", ()), ("second rescan", ())):
        r = run_one(args.db, *extra)
        print(
            f"{label:14} {r['seconds']:8.1f} s  {r['emails_per_second']:>7,} emails/s  "
            f"CPU {r['cpu_seconds']:7.1f} s ({r['user_seconds']:.1f} user + {r['system_seconds']:.1f} system)  "
            f"peak RSS {r['peak_rss_mb']:7.1f} MB  changed {r['changed']:,}  reworded {r['reworded']:,}",
            flush=True,
        )
    if args.triggers:
        time_triggers(args.db)
    return 0


if __name__ == "__main__":
    sys.exit(main())
