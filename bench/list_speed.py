"""Long lists through the real `pdmail` command: contacts, deals and the quarantine, to a pipe.

    python bench/list_speed.py [--contacts 20000] [--deals 5000] [--quarantined 3000] [--runs 5]
    python bench/list_speed.py --command /path/to/other/pdmail      # the same lists with another build

The contacts and deals come from crmgen's CSV files (`contact import`, `deal import`); the quarantine
from mailgen's customers writing to the Smart BCC address, which refuses them. Each list is then timed
``--runs`` times as a script reads it (stdout a pipe; median, p90, CPU), and checked to hold every
record: `contact list`, `contact list --json`, a search, `deal list`, `bcc-ingest --quarantine` and
its `--json`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import crmgen  # noqa: E402
import ingest_speed  # noqa: E402
import mailgen  # noqa: E402
import measure  # noqa: E402
from ingest_speed import compile_package, init_db  # noqa: E402

OWN = "maria@northwind.example"


def refused_messages(count: int, seed: int) -> list[bytes]:
    """``count`` messages from customers: Smart BCC refuses each, and the quarantine keeps it."""
    picked: list[bytes] = []
    total = max(count * 2, 64)
    while len(picked) < count:
        picked = [g.raw for g in mailgen.generate(total, seed, own_address=OWN) if g.direction == "incoming"][:count]
        total *= 2
    return picked


def lines_of(output: bytes) -> int:
    """The records of a listing written to a pipe: its lines after the header line."""
    return max(output.count(b"\n") - 1, 0)


def timed(argv: list[str], runs: int, count_of, expected: int, *, check: bool = True) -> dict:
    """``argv`` ``runs`` times; each output must hold ``expected`` records as ``count_of`` counts them
    (``check`` False: another build, whose output may be laid out otherwise)."""
    walls, cpus, peaks = [], [], []
    for _ in range(runs):
        m = measure.run(argv, check=True)
        found = count_of(m.stdout)
        if check and found != expected:
            raise RuntimeError(f"{' '.join(argv)} printed {found} records, not {expected}")
        walls.append(m.wall_s)
        cpus.append(m.cpu_s)
        peaks.append(m.peak_pss_mb or 0)
    return {
        "runs": runs,
        "records": expected,
        "median_s": measure.median(walls),
        "p90_s": measure.percentile(walls, 0.9),
        "cpu_median_s": measure.median(cpus),
        "peak_pss_mb": max(peaks),
    }


def run_all(
    contacts: int, deals: int, quarantined: int, runs: int, workdir: Path, *, seed: int = 1, check: bool = True
) -> dict:
    compile_package()
    db = workdir / "lists.db"
    contacts_csv, deals_csv, maildir = workdir / "contacts.csv", workdir / "deals.csv", workdir / "refused"
    crmgen.write_contacts_csv(contacts_csv, contacts, seed)
    crmgen.write_deals_csv(deals_csv, deals, seed, n_contacts=contacts)
    mailgen.write_maildir(maildir, refused_messages(quarantined, seed))
    init_db(db)
    pd = ingest_speed.pd
    measure.run(pd(db, "contact", "import", str(contacts_csv)), check=True, sample_memory=False)
    if deals:
        measure.run(pd(db, "deal", "import", str(deals_csv)), check=True, sample_memory=False)
    measure.run(pd(db, "settings", "set", "bcc-address", "capture@bcc.northwind.example"), check=True)
    ingest = measure.run(pd(db, "bcc-ingest", "--json", str(maildir)), sample_memory=False)
    held = sum(1 for o in json.loads(ingest.stdout) if o["status"] == "quarantined")
    results: dict = {
        "contacts": contacts,
        "deals": deals,
        "quarantined": held,
        "command": ingest_speed.pdmail_command(),
        "load_before": measure.load_note(),
    }
    searched = measure.run(pd(db, "contact", "list", "--json", "--search", "ad"))
    in_search = len(json.loads(searched.stdout)) if searched.returncode == 0 else 0  # older builds: no search

    def json_count(out: bytes) -> int:
        return len(json.loads(out))

    cases = {
        "contact list": (pd(db, "contact", "list"), lines_of, contacts),
        "contact list --json": (pd(db, "contact", "list", "--json"), json_count, contacts),
        "contact list --search ad": (pd(db, "contact", "list", "--search", "ad"), lines_of, in_search),
        "deal list": (pd(db, "deal", "list"), lines_of, deals),
        "bcc-ingest --quarantine": (pd(db, "bcc-ingest", "--quarantine"), lines_of, held),
        "bcc-ingest --quarantine --json": (pd(db, "bcc-ingest", "--quarantine", "--json"), json_count, held),
    }
    for name, (argv, count_of, expected) in cases.items():
        if expected:
            results[name] = timed(argv, runs, count_of, expected, check=check)
    results["load_after"] = measure.load_note()
    return results


def print_table(r: dict) -> None:
    print(
        f"Lists to a pipe: {r['contacts']:,} contacts, {r['deals']:,} deals, {r['quarantined']:,} quarantined; "
        f"{r['load_before']}"
    )
    print(f"{'list':34} {'records':>8} {'median':>9} {'p90':>9} {'CPU':>9} {'peak':>8}")
    for name, row in r.items():
        if isinstance(row, dict) and "median_s" in row:
            print(
                f"{name:34} {row['records']:>8,} {row['median_s']:>8.2f}s {row['p90_s']:>8.2f}s "
                f"{row['cpu_median_s']:>8.2f}s {row['peak_pss_mb']:>6.0f} MB"
            )
    print(f"({r['command']}; {r['load_after']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=20000)
    parser.add_argument("--deals", type=int, default=5000)
    parser.add_argument("--quarantined", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--command", help="the pdmail console script to time (default: the one beside Python)")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    if args.command:
        ingest_speed.pdmail_command = lambda: args.command  # type: ignore[assignment]
    with tempfile.TemporaryDirectory(prefix="pdmail-lists-") as folder:
        results = run_all(args.contacts, args.deals, args.quarantined, args.runs, Path(folder), check=not args.command)
    print_table(results)
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
