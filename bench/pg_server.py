"""PostgreSQL for the benchmarks: the tests' server (``tests/pgserver.py``), set up as a real one would be.

The tests' server skips every flush to disk (``fsync=off``): their data is thrown away. A benchmark
run that way would flatter PostgreSQL against SQLite, whose commits do reach the disk. So the
benchmarks' server keeps PostgreSQL's durable defaults, with a cache sized for a small team server:

- ``fsync=on``, ``synchronous_commit=on``, ``full_page_writes=on``: a commit is on disk when it returns
  (pdmail's sync may still turn ``synchronous_commit`` off for its own transactions: its mail can be
  fetched again, as on SQLite, where it commits with ``synchronous=NORMAL``);
- ``shared_buffers=256MB`` (the default is 128 MB), ``max_wal_size=2GB`` (default 1 GB), so that a
  bulk load does not checkpoint every few seconds; everything else is PostgreSQL's default.

The server listens on a Unix socket in its own folder, as in the tests; pdmail connects with a
``postgresql://`` URL naming that socket.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))  # tests/pgserver.py is plain Python, shared with the tests

from pgserver import PgServer, PgUnavailable, unavailable_reason  # noqa: E402

__all__ = ["BENCH_SETTINGS", "PgServer", "PgUnavailable", "server_cpu_s", "start", "unavailable_reason"]

BENCH_SETTINGS = {
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "shared_buffers": "256MB",
    "max_wal_size": "2GB",
}
# Printed with the figures, so that a reader knows what was measured.
SETTINGS_SHOWN = ("fsync", "synchronous_commit", "full_page_writes", "shared_buffers", "max_wal_size", "server_version")


def start(folder: Path | None = None) -> PgServer:
    """A started server with BENCH_SETTINGS; with ``folder``, its cluster is kept there (see PgServer)."""
    return PgServer(settings=BENCH_SETTINGS, folder=folder).start()


def settings_note(server: PgServer) -> str:
    """The server's durability and size settings, as it reports them."""
    shown = [f"{name}={server.run_sql(f'SHOW {name}')[0][0]}" for name in SETTINGS_SHOWN]
    return "PostgreSQL " + ", ".join(shown)


def server_cpu_s(server: PgServer) -> float:
    """CPU seconds (user + system) the server has used so far: the postmaster, its live processes
    (the sessions and background workers) and those that have ended.

    A pdmail command's own CPU figure leaves out the server's work; the difference of two readings
    around the command gives it.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    postmaster = server.pid
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is None:
            continue
        pid, parent = int(entry.name), int(fields[1])
        if pid == postmaster:
            total += sum(int(f) for f in fields[11:15])  # utime, stime and the ended children's
        elif parent == postmaster:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None once it has gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2 :].decode().split()
