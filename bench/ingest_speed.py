"""Smart BCC speed through the real `pdmail` command: a whole Maildir, one piped message, start-up.

    python bench/ingest_speed.py [--count 10000] [--seed 1] [--single-runs 20] [--json-out PATH]
    python bench/ingest_speed.py --count 100000 --mailbox-only      # memory stays flat

Each figure comes from a fresh process of the installed console script, as a user or a mail server
would start it. Two Maildirs are ingested into fresh databases:

- ``mailbox``: a salesperson's mailbox as mailgen writes it. About 30 % is mail the user sent, which is
  stored; the rest comes from customers, whom Smart BCC refuses (quarantined with the reason);
- ``sent``: only mail the user sent, so every message takes the whole capture path (dedupe, thread,
  link, full-text index).

Then ``--single-runs`` different small messages are piped one by one into `pdmail bcc-ingest` on the
``sent`` database, and `pdmail --version` is timed as often. pdmail's modules are byte-compiled first,
as installing a package does.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import mailgen  # noqa: E402
import measure  # noqa: E402

OWN = "maria@northwind.example"
SMALL = 16 * 1024  # "a single small message"


def pdmail_command() -> str:
    """The console script installed next to this interpreter, else the one on PATH."""
    beside = Path(sys.executable).with_name("pdmail")
    if beside.exists():
        return str(beside)
    found = shutil.which("pdmail")
    if not found:
        raise SystemExit("pdmail is not installed (run scripts/setup, then use .venv/bin/python)")
    return found


def pd(db: Path | str, *args: str) -> list[str]:
    """A pdmail command line on ``db``; the option goes last, where it beats a PDMAIL_DB in the environment."""
    return [pdmail_command(), *args, "--db", str(db)]


def compile_package() -> None:
    """Write pdmail's bytecode, as pip does on install; an editable install otherwise recompiles every run."""
    import importlib.util

    spec = importlib.util.find_spec("pdmail")
    if spec is None or not spec.submodule_search_locations:
        return
    for location in spec.submodule_search_locations:
        subprocess.run([sys.executable, "-m", "compileall", "-q", location], check=False, stdout=subprocess.DEVNULL)


def is_server_url(db: Path | str) -> bool:
    """A ``postgresql://`` URL (a database on a server) rather than a SQLite file."""
    return str(db).startswith(("postgresql://", "postgres://"))


def init_db(db: Path | str, *, name: str = "Maria Lopez", email: str = OWN) -> None:
    """A new database: a SQLite file left by an earlier run is removed first; a server's database is
    new already (the caller made it empty)."""
    if not is_server_url(db):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        shutil.rmtree(f"{db}.spool", ignore_errors=True)
    measure.run(
        pd(db, "init", "--name", name, "--email", email, "--company", "Northwind"), sample_memory=False, check=True
    )


def sent_messages(count: int, seed: int) -> list[bytes]:
    """``count`` messages the user sent, picked in order from a longer generated mailbox."""
    picked: list[bytes] = []
    total = max(count * 4, 64)
    while len(picked) < count:
        picked = [g.raw for g in mailgen.generate(total, seed) if g.direction == "outgoing"][:count]
        total *= 2
    return picked


def small_sent_messages(count: int, seed: int) -> list[bytes]:
    """Different small messages the user sent, for the one-message pipe (another seed: not yet stored)."""
    small: list[bytes] = []
    total = count * 8
    while len(small) < count:
        small = [
            g.raw for g in mailgen.generate(total, seed + 1000) if g.direction == "outgoing" and len(g.raw) <= SMALL
        ][:count]
        total *= 2
    return small


def ingest_maildir(db: Path, maildir: Path, count: int) -> dict:
    m = measure.run(pd(db, "bcc-ingest", "--json", str(maildir)))
    if m.returncode not in (0, 3, 7):
        raise RuntimeError(f"bcc-ingest exited {m.returncode}: {m.stderr.decode(errors='replace')[-2000:]}")
    statuses: dict[str, int] = {}
    for outcome in json.loads(m.stdout):
        statuses[outcome["status"]] = statuses.get(outcome["status"], 0) + 1
    return {**m.summary(), "messages": count, "msg_per_s": count / m.wall_s, "outcomes": statuses}


def pipe_one_each(db: Path, messages: list[bytes]) -> dict:
    walls, cpus, statuses = [], [], {}
    for raw in messages:
        m = measure.run(pd(db, "bcc-ingest"), stdin=raw, sample_memory=False)
        walls.append(m.wall_s)
        cpus.append(m.cpu_s)
        status = "stored" if m.returncode == 0 and b"stored as email" in m.stdout else f"exit {m.returncode}"
        statuses[status] = statuses.get(status, 0) + 1
    return {
        "runs": len(walls),
        "median_s": measure.median(walls),
        "p90_s": measure.percentile(walls, 0.9),
        "min_s": min(walls),
        "cpu_median_s": measure.median(cpus),
        "outcomes": statuses,
    }


def version_times(runs: int) -> dict:
    walls = [measure.run([pdmail_command(), "--version"], sample_memory=False, check=True).wall_s for _ in range(runs)]
    return {"runs": runs, "median_s": measure.median(walls), "p90_s": measure.percentile(walls, 0.9)}


def run_all(count: int, seed: int, single_runs: int, workdir: Path, *, mailbox_only: bool = False) -> dict:
    compile_package()
    results: dict = {"count": count, "seed": seed, "load_before": measure.load_note()}
    mailbox_dir, sent_dir = workdir / "mailbox", workdir / "sent"
    mailgen.write_maildir(mailbox_dir, mailgen.generate_messages(count, seed))
    if not mailbox_only:
        mailgen.write_maildir(sent_dir, sent_messages(count, seed))
    for name, folder in (("mailbox", mailbox_dir),) + (() if mailbox_only else (("sent", sent_dir),)):
        db = workdir / f"{name}.db"
        init_db(db)
        results[name] = ingest_maildir(db, folder, count)
        shutil.rmtree(folder)  # a 100,000-message Maildir is 4 GB
    if not mailbox_only:
        results["single"] = pipe_one_each(workdir / "sent.db", small_sent_messages(single_runs, seed))
        results["version"] = version_times(single_runs)
    results["load_after"] = measure.load_note()
    return results


def print_table(r: dict) -> None:
    print(f"bcc-ingest, {r['count']:,} generated messages (seed {r['seed']}); {r['load_before']}")
    print(f"{'run':<34} {'wall':>8} {'msg/s':>7} {'CPU':>7} {'tree PSS':>9} {'largest RSS':>12}  outcomes")
    for name, label in (("mailbox", "Maildir, mailbox as received"), ("sent", "Maildir, mail the user sent")):
        if name not in r:
            continue
        x = r[name]
        outcomes = ", ".join(f"{n} {s}" for s, n in sorted(x["outcomes"].items()))
        print(
            f"{label:<34} {x['wall_s']:7.2f}s {x['msg_per_s']:7.0f} {x['cpu_s']:6.1f}s "
            f"{x['peak_pss_mb'] or 0:7.0f}MB {x['max_rss_mb'] or 0:10.0f}MB  {outcomes}"
        )
    if "single" not in r:
        print(r["load_after"])
        return
    s, v = r["single"], r["version"]
    print(
        f"{'one piped message (' + str(s['runs']) + ' runs)':<34} median {s['median_s'] * 1000:.0f} ms, "
        f"p90 {s['p90_s'] * 1000:.0f} ms, min {s['min_s'] * 1000:.0f} ms, CPU median {s['cpu_median_s'] * 1000:.0f} ms "
        f"({', '.join(f'{n} {k}' for k, n in s['outcomes'].items())})"
    )
    print(
        f"{'pdmail --version (' + str(v['runs']) + ' runs)':<34} median {v['median_s'] * 1000:.0f} ms, "
        f"p90 {v['p90_s'] * 1000:.0f} ms"
    )
    print(r["load_after"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--single-runs", type=int, default=20)
    parser.add_argument("--workdir", type=Path, help="keep the Maildirs and databases here (default: a temp dir)")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument(
        "--mailbox-only",
        action="store_true",
        help="only the mailbox as received (e.g. --count 100000 to see memory stay flat)",
    )
    args = parser.parse_args(argv)
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        for name in ("mailbox", "sent"):
            shutil.rmtree(args.workdir / name, ignore_errors=True)
        results = run_all(args.count, args.seed, args.single_runs, args.workdir, mailbox_only=args.mailbox_only)
    else:
        with tempfile.TemporaryDirectory(prefix="pdmail-bench-") as tmp:
            results = run_all(args.count, args.seed, args.single_runs, Path(tmp), mailbox_only=args.mailbox_only)
    print_table(results)
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
