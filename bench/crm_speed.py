"""CRM records at scale through the real `pdmail` command: CSV import, then `contact list --json`.

    python bench/crm_speed.py [--contacts 100000] [--deals 50000] [--runs 5] [--json-out PATH]

The CSV files come from crmgen (the first contacts are mailgen's correspondents). Import is timed once;
the listing is timed ``--runs`` times (median, p90), its output checked to hold every contact.
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
import measure  # noqa: E402
from ingest_speed import compile_package, init_db, pd  # noqa: E402


def run_all(contacts: int, deals: int, runs: int, workdir: Path, seed: int = 1) -> dict:
    compile_package()
    contacts_csv, deals_csv, db = workdir / "contacts.csv", workdir / "deals.csv", workdir / "crm.db"
    crmgen.write_contacts_csv(contacts_csv, contacts, seed)
    crmgen.write_deals_csv(deals_csv, deals, seed, n_contacts=contacts)
    init_db(db)
    results: dict = {"contacts": contacts, "deals": deals, "load_before": measure.load_note()}
    imported = measure.run(pd(db, "contact", "import", "--json", str(contacts_csv)))
    results["contact_import"] = {**imported.summary(), "imported": json.loads(imported.stdout)["imported"]}
    if deals:
        imported = measure.run(pd(db, "deal", "import", "--json", str(deals_csv)))
        results["deal_import"] = {**imported.summary(), "imported": json.loads(imported.stdout)["imported"]}
    walls, cpus, peaks = [], [], []
    for _ in range(runs):
        listed = measure.run(pd(db, "contact", "list", "--json"), check=True)
        count = len(json.loads(listed.stdout))
        if count != results["contact_import"]["imported"]:
            raise RuntimeError(f"contact list printed {count} contacts")
        walls.append(listed.wall_s)
        cpus.append(listed.cpu_s)
        peaks.append(listed.peak_pss_mb or 0)
    results["contact_list"] = {
        "runs": runs,
        "median_s": measure.median(walls),
        "p90_s": measure.percentile(walls, 0.9),
        "cpu_median_s": measure.median(cpus),
        "peak_pss_mb": max(peaks),
        "bytes": len(listed.stdout),
    }
    results["load_after"] = measure.load_note()
    return results


def print_table(r: dict) -> None:
    print(f"CRM at scale: {r['contacts']:,} contacts, {r['deals']:,} deals; {r['load_before']}")
    for key, label in (("contact_import", "contact import (CSV)"), ("deal_import", "deal import (CSV)")):
        if key in r:
            x = r[key]
            print(
                f"{label:<26} {x['wall_s']:7.2f}s wall {x['cpu_s']:6.2f}s CPU {x['peak_pss_mb'] or 0:6.0f} MB  "
                f"{x['imported']:,} imported"
            )
    x = r["contact_list"]
    print(
        f"{'contact list --json':<26} median {x['median_s'] * 1000:.0f} ms, p90 {x['p90_s'] * 1000:.0f} ms, "
        f"CPU median {x['cpu_median_s'] * 1000:.0f} ms, peak {x['peak_pss_mb']:.0f} MB, "
        f"{x['bytes'] / 1e6:.1f} MB of JSON ({x['runs']} runs)"
    )
    print(r["load_after"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--deals", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pdmail-bench-") as tmp:
        results = run_all(args.contacts, args.deals, args.runs, Path(tmp))
    print_table(results)
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
