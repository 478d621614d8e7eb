"""How the table layout for raw messages weighs on capture: WITHOUT ROWID against an ordinary table.

    python bench/raw_store_speed.py [--count 10000] [--rounds 2]

Stores the same generated messages (mailgen) keyed by their sha256, 200 to a transaction, with the
pragmas pdmail uses (WAL, synchronous=FULL), once into each layout, alternating. SQLite's own
advice is to keep WITHOUT ROWID for rows small next to a page (a twentieth of it); a mail is tens of
kilobytes. An ordinary table stores the row by rowid and indexes only the key.
"""

from __future__ import annotations

import argparse
import hashlib
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mailgen

LAYOUTS = {
    "WITHOUT ROWID (sha256 key)": "CREATE TABLE raw_messages (sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL, "
    "data BLOB NOT NULL) WITHOUT ROWID",
    "rowid table + sha256 index": "CREATE TABLE raw_messages (sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL, "
    "data BLOB NOT NULL)",
}


def store(path: Path, ddl: str, messages: list[bytes]) -> tuple[float, float]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(ddl)
    started, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(messages), 200):
        conn.execute("BEGIN IMMEDIATE")
        for raw in messages[i : i + 200]:
            conn.execute(
                "INSERT OR IGNORE INTO raw_messages (sha256, size, data) VALUES (?, ?, ?)",
                (hashlib.sha256(raw).hexdigest(), len(raw), raw),
            )
        conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - started, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    messages = list(mailgen.generate_messages(args.count, 1))
    print(f"{len(messages):,} messages, {sum(map(len, messages)) / 1e6:.0f} MB")
    with tempfile.TemporaryDirectory(prefix="pdmail-bench-") as tmp:
        for r in range(args.rounds):
            for n, (label, ddl) in enumerate(LAYOUTS.items()):
                wall, cpu = store(Path(tmp) / f"raw{r}-{n}.db", ddl, messages)
                print(f"{label:<30} {wall:6.2f} s wall {cpu:6.2f} s CPU  {len(messages) / wall:7.0f} msg/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
