"""How long `pdmail link --rescan` takes on a big database, and how much memory it needs.

Builds the database with ``scale_db.build`` (unless ``--reuse``), then runs the real command three
times in a child process: a dry run, the first rescan (every email gets its links: the mail came
before the CRM), and a second rescan (nothing left to change). Prints wall seconds, emails per
second and the child's peak resident memory for each.

    python bench/rescan_scale.py --db /tmp/scale.db                     # 1,000,000 emails
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
    with open(os.devnull, "wb") as sink:
        with open(out_path, "wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=sink, cwd=HERE.parent)
            _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"rescan failed with exit code {os.waitstatus_to_exitcode(status)}")
    report = json.loads(out_path.read_text())
    out_path.unlink()
    return {"seconds": round(seconds, 1), "emails": report["emails"], "changed": report["changed"],
            "reworded": report["reworded"], "emails_per_second": round(report["emails"] / seconds),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--emails", type=int, default=1_000_000)
    ap.add_argument("--contacts", type=int, default=100_000)
    ap.add_argument("--deals", type=int, default=50_000)
    ap.add_argument("--users", type=int, default=5)
    ap.add_argument("--reuse", action="store_true", help="Use an existing database as it is.")
    args = ap.parse_args(argv)

    if not args.reuse:
        built = scale_db.build(args.db, emails=args.emails, contacts=args.contacts, deals=args.deals,
                               users=args.users)
        print(f"built: {built['emails']:,} emails in {built['threads']:,} threads, {built['contacts']:,} contacts, "
              f"{built['deals']:,} deals, {built['bytes'] / 1e6:,.0f} MB in {built['seconds']} s", flush=True)
    for label, extra in (("dry run", ("--dry-run",)), ("first rescan", ()), ("second rescan", ())):
        r = run_one(args.db, *extra)
        print(f"{label:14} {r['seconds']:8.1f} s  {r['emails_per_second']:>7,} emails/s  "
              f"peak RSS {r['peak_rss_mb']:7.1f} MB  changed {r['changed']:,}  reworded {r['reworded']:,}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
