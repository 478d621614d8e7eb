"""sqlite-utils next to pdmail's own code where it could serve: reading CRM exports, bulk inserts, start-up.

The figures behind the README's "Dependencies" section on sqlite-utils:

- reading a CRM export: ``sqlite_utils.utils.rows_from_file`` (CSV, TSV and JSON, dialect sniffed)
  against ``pdmail.crm.csv_import.read_rows``, on crmgen's contacts written as exporters write them
  (UTF-8, UTF-8 with BOM, Windows-1252, UTF-16, semicolons, tabs, a quoted field over several lines):
  time, rows read, rows that differ from the UTF-8 reading, and whether each row's file line is known
  (``contact import`` reports each bad row by its line);
- bulk inserts: the same contacts and addresses into pdmail's own schema with ``executemany`` and with
  ``Table.insert_all``, each in one transaction;
- start-up: ``import sqlite_utils`` in a new interpreter, which every command would pay (a mail server
  starts one ``pdmail bcc-ingest`` per message).

Run (sqlite-utils is not a pdmail dependency: ``pip install -r bench/requirements.txt`` first):

    python bench/import_compare.py [--contacts 100000] [--json-out out.json]
"""

from __future__ import annotations

import argparse
import codecs
import csv
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import crmgen  # noqa: E402
import measure  # noqa: E402

from pdmail.crm import csv_import  # noqa: E402
from pdmail.store import open_db  # noqa: E402


def _need_sqlite_utils():
    try:
        import sqlite_utils  # noqa: F401
    except ImportError:
        sys.exit("sqlite-utils is not installed: pip install -r bench/requirements.txt (or pip install sqlite-utils)")


# --- the files, as exporters write them ---------------------------------------------------------------


def _reseparated(text: str, delimiter: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerows(csv.reader(io.StringIO(text)))
    return out.getvalue()


def _with_multiline_notes(text: str) -> str:
    """A Notes column whose first row holds a quoted value over three lines, as CRM exports do."""
    rows = list(csv.reader(io.StringIO(text)))
    rows[0].append("Notes")
    for index, row in enumerate(rows[1:]):
        row.append("Met at the fair.\nCall back in March.\nPrefers email." if index == 0 else "")
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def variants(contacts_csv: Path) -> dict[str, bytes]:
    text = contacts_csv.read_bytes().decode("utf-8")
    latin = text.encode("cp1252", errors="replace")  # names outside Windows-1252 become '?' in both readers
    return {
        "UTF-8": text.encode("utf-8"),
        "UTF-8 with BOM": codecs.BOM_UTF8 + text.encode("utf-8"),
        "Windows-1252": latin,
        "UTF-16 with BOM": text.encode("utf-16"),
        "semicolons": _reseparated(text, ";").encode("utf-8"),
        "tabs (TSV)": _reseparated(text, "\t").encode("utf-8"),
        "a note over 3 lines": _with_multiline_notes(text).encode("utf-8"),
    }


# --- the two readers, in one shape: (name, email) per row, and the file line where known -------------


def read_pdmail(data: bytes) -> tuple[list[tuple[str, str]], list[int] | None]:
    rows = csv_import.read_rows(data, csv_import.CONTACT_FIELDS, required=("email",))
    return [(r.fields.get("name", ""), r.fields.get("email", "")) for r in rows], [r.line for r in rows]


def read_sqlite_utils(data: bytes) -> tuple[list[tuple[str, str]], list[int] | None]:
    """rows_from_file as documented: format and dialect detected; rows are dicts by header name."""
    from sqlite_utils.utils import rows_from_file

    rows, _ = rows_from_file(io.BytesIO(data))
    return [((r.get("Name") or "").strip(), (r.get("Email") or "").strip()) for r in rows], None


READERS = {"pdmail csvimport": read_pdmail, "sqlite-utils rows_from_file": read_sqlite_utils}


def compare_readers(files: dict[str, bytes]) -> dict:
    reference, _ = read_pdmail(files["UTF-8"])
    results: dict = {}
    for variant, data in files.items():
        for reader, read in READERS.items():
            started = time.perf_counter()
            try:
                rows, lines = read(data)
            except Exception as exc:  # noqa: BLE001 - a reader that fails on a real export is the figure
                results.setdefault(variant, {})[reader] = {"error": f"{type(exc).__name__}: {str(exc)[:80]}"}
                continue
            elapsed = time.perf_counter() - started
            differ = sum(1 for a, b in zip(rows, reference) if a != b) + abs(len(rows) - len(reference))
            if variant == "Windows-1252":  # compare with what Windows-1252 can hold
                expected = [(n.encode("cp1252", "replace").decode("cp1252"), e) for n, e in reference]
                differ = sum(1 for a, b in zip(rows, expected) if a != b) + abs(len(rows) - len(expected))
            results.setdefault(variant, {})[reader] = {
                "seconds": elapsed,
                "rows": len(rows),
                "rows_differ": differ,
                "second_row_line": lines[1] if lines and len(lines) > 1 else None,
            }
    return results


# --- bulk inserts -------------------------------------------------------------------------------------


def contact_rows(files: dict[str, bytes]) -> tuple[list[dict], list[dict]]:
    rows, _ = read_pdmail(files["UTF-8"])
    contacts, emails, seen = [], [], set()
    for index, (name, cell) in enumerate(rows, start=1):
        contacts.append({"id": index, "name": name or "?", "created_utc": "2026-11-01T00:00:00Z"})
        for position, address in enumerate(csv_import.split_addresses(cell)):
            if address.lower() not in seen:
                seen.add(address.lower())
                emails.append({"email": address.lower(), "contact_id": index, "position": position})
    return contacts, emails


def _fresh(workdir: Path, name: str):
    path = workdir / name
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return open_db(path, create=True)


def insert_executemany(db, contacts: list[dict], emails: list[dict]) -> None:
    with db.tx():
        db.executemany("INSERT INTO contacts (id, name, created_utc) VALUES (:id, :name, :created_utc)", contacts)
        db.executemany(
            "INSERT INTO contact_emails (email, contact_id, position) VALUES (:email, :contact_id, :position)", emails
        )


def insert_sqlite_utils(db, contacts: list[dict], emails: list[dict]) -> None:
    import sqlite_utils

    wrapped = sqlite_utils.Database(db.conn)
    with db.tx():
        wrapped["contacts"].insert_all(contacts)
        wrapped["contact_emails"].insert_all(emails)


def compare_inserts(files: dict[str, bytes], workdir: Path, rounds: int) -> dict:
    contacts, emails = contact_rows(files)
    times: dict[str, list[float]] = {"executemany": [], "sqlite-utils insert_all": []}
    for _ in range(rounds):
        for name, insert in (("executemany", insert_executemany), ("sqlite-utils insert_all", insert_sqlite_utils)):
            db = _fresh(workdir, "bulk.db")
            started = time.perf_counter()
            insert(db, contacts, emails)
            times[name].append(time.perf_counter() - started)
            count = db.scalar("SELECT count(*) FROM contact_emails")
            db.conn.close()
            if count != len(emails):
                raise RuntimeError(f"{name} stored {count} of {len(emails)} addresses")
    return {
        "contacts": len(contacts),
        "addresses": len(emails),
        **{name: statistics.median(values) for name, values in times.items()},
    }


# --- start-up -----------------------------------------------------------------------------------------


def import_cost(runs: int) -> dict:
    """Median wall time of a new interpreter that imports only the named module."""
    results = {}
    for module in ("sqlite3", "sqlite_utils"):
        walls = [
            measure.run([sys.executable, "-c", f"import {module}"], sample_memory=False).wall_s for _ in range(runs)
        ]
        results[module] = statistics.median(walls)
    return results


def run_all(contacts: int, rounds: int, workdir: Path) -> dict:
    _need_sqlite_utils()
    results: dict = {"contacts": contacts, "load_before": measure.load_note()}
    csv_path = workdir / "contacts.csv"
    crmgen.write_contacts_csv(csv_path, contacts, 1)
    files = variants(csv_path)
    results["reading"] = compare_readers(files)
    results["inserts"] = compare_inserts(files, workdir, rounds)
    results["startup"] = import_cost(7)
    results["load_after"] = measure.load_note()
    return results


def print_report(r: dict) -> None:
    print(f"{r['contacts']:,} contacts from crmgen; {r['load_before']}")
    print(f"{'file':<22} {'reader':<28} {'time':>8} {'rows':>8} {'differ':>7}  line of row 2")
    for variant, readers in r["reading"].items():
        for reader, x in readers.items():
            if "error" in x:
                print(f"{variant:<22} {reader:<28} {x['error']}")
                continue
            line = x["second_row_line"] if x["second_row_line"] is not None else "not known"
            print(
                f"{variant:<22} {reader:<28} {x['seconds'] * 1000:6.0f}ms {x['rows']:8,} {x['rows_differ']:7,}  {line}"
            )
    i = r["inserts"]
    print(f"bulk insert of {i['contacts']:,} contacts and {i['addresses']:,} addresses, one transaction (median):")
    for name in ("executemany", "sqlite-utils insert_all"):
        print(f"  {name:<26} {i[name] * 1000:7.0f} ms")
    s = r["startup"]
    print(
        f"new interpreter importing sqlite3: {s['sqlite3'] * 1000:.0f} ms; sqlite_utils: "
        f"{s['sqlite_utils'] * 1000:.0f} ms (median of 7)"
    )
    print(r["load_after"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pdmail-bench-") as tmp:
        results = run_all(args.contacts, args.rounds, Path(tmp))
    print_report(results)
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
