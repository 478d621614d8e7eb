"""Real mail through `pdmail bcc-ingest`: every message must end stored, duplicate or quarantined with a reason.

    .venv/bin/python bench/realmail_check.py MBOX [MBOX ...] [--mta] [--json-out PATH]

Each message of the mbox files is run through the real `pdmail` command, into a new database, three ways:

- ``as received``: the messages as they are. Smart BCC accepts mail from the company's users only, so
  nearly all of it is quarantined, each with its reason;
- ``sent by the user``: From (and Sender) rewritten to the user, as if she had sent each message, so
  that each takes the whole capture path (dedupe, thread, link, store);
- ``sent, no list headers``: the same without List-*, Precedence and Auto-Submitted headers, so that
  Smart BCC makes a contact of every recipient, as it does for a salesperson's own mail.

Each way runs as files (one `bcc-ingest` over a folder of .eml files) and, with ``--mta``, the first two
also as a mail server's pipe would (one `bcc-ingest --mta` per message on stdin: about 0.1 s of CPU
each, so a few thousand messages take a while on a busy machine).
The table counts outcomes; "other" (failed, skipped, no answer) and any exit code that is not the
expected one are failures, and make the script exit 1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import measure  # noqa: E402
from ingest_speed import compile_package, init_db, pd  # noqa: E402

OWN = "Maria Lopez <maria@northwind.example>"
ENDED = ("stored", "duplicate", "quarantined")
_FIELD_RE = r"(?im)^{names}:.*(?:\r?\n[ \t].*)*(?:\r?\n|$)"


def read_messages(paths: list[str]) -> list[bytes]:
    """Every message of the mbox files, read as `pdmail bcc-ingest` reads them."""
    from pdmail.capture.inputs import expand

    return [item.read() for item in expand(paths)]


def _without_fields(head: bytes, names: str) -> bytes:
    return re.sub(_FIELD_RE.format(names=names).encode(), b"", head)


def as_sent_by_the_user(raw: bytes, *, list_headers: bool = True) -> bytes:
    """The message with its From and Sender replaced by the user's From (and its list headers dropped)."""
    end = re.search(rb"\r?\n\r?\n", raw)
    head, rest = (raw[: end.start()], raw[end.start() :]) if end else (raw, b"")
    newline = b"\r\n" if head.endswith(b"\r") or b"\r\n" in head[:200] else b"\n"
    head = _without_fields(head + newline, "(?:from|sender)")
    if not list_headers:
        head = _without_fields(head, r"(?:list-[a-z-]+|precedence|auto-submitted)")
    return b"From: " + OWN.encode() + newline + head.rstrip(b"\r\n") + rest


# name -> (the rewrite, whether --mta pipes it too)
WAYS = {
    "as received": (lambda raw: raw, True),
    "sent by the user": (as_sent_by_the_user, True),
    "sent, no list headers": (lambda raw: as_sent_by_the_user(raw, list_headers=False), False),
}


def write_folder(folder: Path, messages: list[bytes]) -> None:
    folder.mkdir(parents=True)
    for i, raw in enumerate(messages):
        (folder / f"{i:06}.eml").write_bytes(raw)


def _count(outcomes: list[dict]) -> Counter:
    counts: Counter = Counter()
    for o in outcomes:
        status = o.get("status")
        if status == "quarantined" and not o.get("reason"):
            status = "quarantined without a reason"
        counts[status if status in ENDED else "other"] += 1
    return counts


def run_files(db: Path, folder: Path, total: int) -> dict:
    m = measure.run(pd(db, "bcc-ingest", "--json", str(folder)), sample_memory=False)
    try:
        outcomes = json.loads(m.stdout)
    except ValueError:
        outcomes = []
    counts = _count(outcomes)
    if len(outcomes) != total:
        counts["other"] += total - len(outcomes)
    return {
        "counts": dict(counts),
        "exit_codes": {str(m.returncode): 1},
        "wall_s": round(m.wall_s, 1),
        "cpu_s": round(m.cpu_s, 1),
    }


def run_pipe(db: Path, messages: list[bytes]) -> dict:
    """One process per message, as a mail server's pipe runs it (without measure.run's sync before each)."""
    counts: Counter = Counter()
    codes: Counter = Counter()
    started, cpu_before = time.perf_counter(), _children_cpu()
    for raw in messages:
        done = subprocess.run(pd(db, "bcc-ingest", "--mta", "--json"), input=raw, capture_output=True)
        codes[str(done.returncode)] += 1
        try:
            counts.update(_count(json.loads(done.stdout)))  # an array, even of one message
        except ValueError:
            counts["other"] += 1
    return {
        "counts": dict(counts),
        "exit_codes": dict(codes),
        "wall_s": round(time.perf_counter() - started, 1),
        "cpu_s": round(_children_cpu() - cpu_before, 1),
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def expected_exit_codes(row: dict) -> set[str]:
    """Under --mta every message exits 0; files exit 0 (all went in), 3 (all refused) or 7 (some refused)."""
    if row["path"] == "--mta":
        return {"0"}
    return {"0", "3", "7"}


def run_all(paths: list[str], *, mta: bool, work: Path) -> dict:
    compile_package()
    messages = read_messages(paths)
    rows = []
    for index, (way, (rewrite, piped)) in enumerate(WAYS.items()):
        variant = [rewrite(raw) for raw in messages]
        folder = work / f"way{index}"
        write_folder(folder, variant)
        db = work / f"way{index}-files.db"
        init_db(db)
        rows.append({"way": way, "path": "files", **run_files(db, folder, len(variant))})
        if mta and piped:
            db = work / f"way{index}-mta.db"
            init_db(db)
            rows.append({"way": way, "path": "--mta", **run_pipe(db, variant)})
    for row in rows:
        row["ok"] = (
            row["counts"].get("other", 0) == 0
            and set(row["counts"]) <= set(ENDED)
            and set(row["exit_codes"]) <= expected_exit_codes(row)
        )
    return {"messages": len(messages), "sources": paths, "rows": rows, "load": os.getloadavg()}


def print_table(results: dict) -> None:
    print(f"{results['messages']:,} messages from {', '.join(Path(p).name for p in results['sources'])}")
    header = (
        f"{'way':24} {'path':6} {'stored':>7} {'duplicate':>9} {'quarantined':>11} {'other':>6}  "
        f"{'exit codes':14} {'wall':>7} {'CPU':>7}"
    )
    print(header)
    print("-" * len(header))
    for row in results["rows"]:
        c = row["counts"]
        other = sum(n for status, n in c.items() if status not in ENDED)
        codes = ", ".join(f"{code}×{n}" if n > 1 else code for code, n in sorted(row["exit_codes"].items()))
        mark = "" if row["ok"] else "  <- FAILED"
        print(
            f"{row['way']:24} {row['path']:6} {c.get('stored', 0):7,} {c.get('duplicate', 0):9,} "
            f"{c.get('quarantined', 0):11,} {other:6,}  {codes:14} {row['wall_s']:6.1f}s {row['cpu_s']:6.1f}s{mark}"
        )
    load = " ".join(f"{x:.2f}" for x in results["load"])
    print(f"load average {load} on {os.cpu_count()} cores")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mbox", nargs="+", help="mbox files of real mail")
    parser.add_argument("--mta", action="store_true", help="also pipe every message into `bcc-ingest --mta`")
    parser.add_argument("--json-out", help="write the figures here as JSON")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="pdmail-realmail-"))
    try:
        results = run_all(args.mbox, mta=args.mta, work=work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(results)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2))
    return 0 if all(row["ok"] for row in results["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
