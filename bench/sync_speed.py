"""Sync speed against a real Dovecot on 127.0.0.1: pdmail's sync next to a bare imapclient FETCH loop.

Prints, for N realistic messages (``mailgen.py``) in one inbox:

1. a bare imapclient loop fetching every ``BODY.PEEK[]`` in batches of 500 (the ceiling);
2. pdmail's initial sync of the same mailbox (``pdmail sync`` in its own process): msg/s, its share
   of the bare rate, and the sync process's peak RSS;
3. a sync with nothing new over 20 folders;
4. a sync that finds 100 new messages.

Targets: 2 ≥ 50 % of 1 with peak RSS under 250 MB; 3 under 1 s; 4 under 2 s.

Run: python bench/sync_speed.py [--count 10000] [--folders 20] [--rounds 3]

With ``--rounds N`` the bare loop and the initial sync alternate N times (a fresh database each time)
and the medians are printed too: on a shared machine one run alone says little. Every line carries
the 1-minute load average at its start.
"""

from __future__ import annotations

import argparse
import os
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

import mailgen  # noqa: E402
from dovecot import Dovecot  # noqa: E402
from imapclient import IMAPClient  # noqa: E402

OWNER = "maria@northwind.example"
PASSWORD_ENV = "PDMAIL_BENCH_PASSWORD"


def load() -> str:
    """The 1-minute load average, printed with every figure (the machine may be shared)."""
    return f"load {os.getloadavg()[0]:.2f}"


def bare_fetch(server: Dovecot, user, folder: str = "INBOX") -> tuple[int, float]:
    context = ssl.create_default_context(cafile=str(server.cafile))
    client = IMAPClient(server.host, port=server.imaps_port, ssl=True, ssl_context=context, timeout=120)
    client.login(user.login, user.password)
    start = time.perf_counter()
    client.select_folder(folder, readonly=True)
    uids = client.search(["ALL"])
    count = 0
    for i in range(0, len(uids), 500):
        data = client.fetch(uids[i : i + 500], ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"])
        count += sum(1 for row in data.values() if row.get(b"BODY[]"))
    elapsed = time.perf_counter() - start
    client.logout()
    return count, elapsed


# Runs the command line and reports the process's own peak RSS, and that of its parsing workers.
_MEASURED = (
    "import resource, sys\n"
    "from pdmail.cli.app import app\n"
    "try:\n"
    "    app(prog_name='pdmail')\n"
    "finally:\n"
    # VmHWM, not RUSAGE_SELF: Linux carries the launching process's peak across exec into ru_maxrss.
    "    own = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:'))\n"
    "    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "    sys.stderr.write(f'PEAK_RSS_KB {own} {workers}\\n')\n"
)


def peak_rss_mb(done: subprocess.CompletedProcess) -> tuple[float, float]:
    for line in done.stderr.splitlines():
        if line.startswith("PEAK_RSS_KB "):
            own, workers = line.split()[1:]
            return int(own) / 1024, int(workers) / 1024
    return float("nan"), float("nan")


def pdmail(db: Path, *args: str, password: str) -> tuple[float, subprocess.CompletedProcess]:
    env = {**os.environ, "PDMAIL_DB": str(db), PASSWORD_ENV: password}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _MEASURED, *args], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0,):
        raise SystemExit(f"pdmail {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return elapsed, done


def in_process_sync(db_path: Path, password: str) -> float:
    """One sync timed inside this process (no interpreter start-up), as cron's second run would see it."""
    from pdmail.store import accounts, open_db
    from pdmail.store.users import find_user
    from pdmail.sync import engine as sync

    os.environ[PASSWORD_ENV] = password
    db = open_db(db_path)
    account = accounts.get_account(db, find_user(db, OWNER), "work")
    start = time.perf_counter()
    result = sync.sync_account(db, account)
    elapsed = time.perf_counter() - start
    db.close()
    if result.exit_code:
        raise SystemExit(f"sync failed: {result.errors}")
    return elapsed, result


def setup_db(work: Path, server: Dovecot, user) -> Path:
    db = work / "pdmail.db"
    env = {**os.environ, "PDMAIL_DB": str(db)}
    for args in (
        ["init", "--name", "Maria Lopez", "--email", OWNER, "--company", "Northwind"],
        [
            "account",
            "add",
            "work",
            "--address",
            OWNER,
            "--imap-host",
            server.host,
            "--imap-port",
            str(server.imaps_port),
            "--imap-security",
            "tls",
            "--username",
            user.login,
            "--password-env",
            PASSWORD_ENV,
            "--cafile",
            str(server.cafile),
            "--since",
            "all",
            "--past",
            "everyone",
        ],
    ):
        done = subprocess.run([sys.executable, "-m", "pdmail", *args], env=env, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"pdmail {args[0]} failed: {done.stderr.strip()}")
    return db


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--folders", type=int, default=20)
    parser.add_argument("--per-folder", type=int, default=50, help="messages in each folder of the no-change test")
    parser.add_argument("--rounds", type=int, default=1, help="alternate bare FETCH and initial sync this often")
    args = parser.parse_args(argv)

    with Dovecot() as server, tempfile.TemporaryDirectory(prefix="pdmail-bench-") as tmp:
        work = Path(tmp)
        user = server.add_user()
        print(f"generating and seeding {args.count:,} messages...", flush=True)
        messages = list(mailgen.generate_messages(args.count, seed=1))
        size = sum(map(len, messages))
        server.seed(user, "INBOX", messages, flags=None)
        del messages
        bare_fetch(server, user)  # let Dovecot index the folder first; both runs then read the same cache

        bare_rates, rates, peaks = [], [], []
        for round_no in range(1, args.rounds + 1):
            os.sync()  # the last round's database is written back now, not during this one's timing
            loadavg = load()
            count, bare_s = bare_fetch(server, user)
            bare_rate = count / bare_s
            print(
                f"bare imapclient FETCH: {count:,} messages ({size / 1e6:,.0f} MB) in {bare_s:.1f} s "
                f"= {bare_rate:,.0f} msg/s ({loadavg})"
            )

            round_dir = work / f"round{round_no}"
            round_dir.mkdir()
            db = setup_db(round_dir, server, user)
            os.sync()
            loadavg = load()
            sync_s, done = pdmail(db, "sync", password=user.password)
            own_mb, workers_mb = peak_rss_mb(done)
            rate = count / sync_s
            print(f"pdmail initial sync:   {done.stdout.strip()}")
            print(
                f"pdmail initial sync:   {count:,} messages in {sync_s:.1f} s = {rate:,.0f} msg/s "
                f"({100 * rate / bare_rate:.0f} % of the bare FETCH rate; target ≥ 50 %) ({loadavg})"
            )
            print(
                f"peak RSS: sync process {own_mb:.0f} MB, largest parsing worker {workers_mb:.0f} MB (target < 250 MB)"
            )
            shutil.rmtree(round_dir, ignore_errors=True)  # 10,000 messages are ~0.5 GB of database
            bare_rates.append(bare_rate)
            rates.append(rate)
            peaks.append(own_mb)
        if args.rounds > 1:
            bare_median, median = statistics.median(bare_rates), statistics.median(rates)
            print(
                f"medians over {args.rounds} alternating rounds: bare {bare_median:,.0f} msg/s, "
                f"pdmail {median:,.0f} msg/s = {100 * median / bare_median:.0f} %; "
                f"highest peak RSS {max(peaks):.0f} MB"
            )

        # 20 folders with nothing new.
        second = server.add_user()
        folders = ["INBOX", "Sent", "Archive", "Trash"] + [f"Projects/P{i:02d}" for i in range(args.folders - 4)]
        batch = list(mailgen.generate_messages(args.folders * args.per_folder, seed=2))
        for i, folder in enumerate(folders):
            server.seed(second, folder, batch[i * args.per_folder : (i + 1) * args.per_folder])
        work2 = work / "folders"
        work2.mkdir()
        db2 = setup_db(work2, server, second)
        first_s, _ = in_process_sync(db2, second.password)
        idle_s, result = in_process_sync(db2, second.password)
        cli_s, _ = pdmail(db2, "sync", password=second.password)
        print(
            f"no-change sync over {len(folders)} folders ({len(batch):,} messages, first sync {first_s:.1f} s): "
            f"{idle_s:.3f} s in process, {cli_s:.2f} s as a command (target < 1 s); {result.summary()}"
        )

        # 100 new messages.
        server.seed(second, "INBOX", list(mailgen.generate_messages(100, seed=3)))
        new_s, result = in_process_sync(db2, second.password)
        print(f"100 new messages: {new_s:.2f} s in process (target < 2 s); {result.summary()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
