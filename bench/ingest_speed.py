"""Smart BCC speed through the real `pdmail` command: a whole Maildir, one piped message, start-up.

    python bench/ingest_speed.py [--count 10000] [--seed 1] [--single-runs 20] [--json-out PATH]
    python bench/ingest_speed.py --count 100000 --mailbox-only      # memory stays flat
    python bench/ingest_speed.py --engine both                      # SQLite and PostgreSQL in turn

Each figure comes from a fresh process of the installed console script, as a user or a mail server
would start it. Two Maildirs are ingested into fresh databases:

- ``mailbox``: a salesperson's mailbox as mailgen writes it. About 30 % is mail the user sent, which is
  stored; the rest comes from customers, whom Smart BCC refuses (quarantined with the reason);
- ``sent``: only mail the user sent, so every message takes the whole capture path (dedupe, thread,
  link, full-text index).

Then ``--single-runs`` different small messages are piped one by one into `pdmail bcc-ingest` on the
``sent`` database, and `pdmail --version` is timed as often. pdmail's modules are byte-compiled first,
as installing a package does. ``--engine postgres`` (or ``both``) writes into databases on a
PostgreSQL started for the run (``pg_server.py``: durable settings) and prints its server's CPU too.
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


def run_all(
    count: int,
    seed: int,
    single_runs: int,
    workdir: Path,
    *,
    mailbox_only: bool = False,
    engines: tuple[str, ...] = ("sqlite",),
) -> dict:
    """The figures on SQLite (``results[name]``) and, when ``engines`` has it, on the benchmark's
    PostgreSQL (``results["postgres"][name]``, with the server's CPU), each Maildir into both in turn."""
    compile_package()
    results: dict = {"count": count, "seed": seed, "load_before": measure.load_note()}
    server = None
    if "postgres" in engines:
        import pg_server

        why = pg_server.unavailable_reason()
        if why:
            results["postgres_unavailable"] = why
        else:
            server = pg_server.start()
            results["postgres"] = {"settings": pg_server.settings_note(server)}
    try:
        _run_engines(count, seed, single_runs, workdir, mailbox_only, results, server, "sqlite" in engines)
    finally:
        if server:
            server.stop()
    results["load_after"] = measure.load_note()
    return results


def _run_engines(
    count: int, seed: int, single_runs: int, workdir: Path, mailbox_only: bool, results: dict, server, sqlite: bool
) -> None:
    targets: list[tuple[dict, object]] = []
    if sqlite:
        targets.append((results, None))
    if server:
        targets.append((results["postgres"], server))
    mailbox_dir, sent_dir = workdir / "mailbox", workdir / "sent"
    mailgen.write_maildir(mailbox_dir, mailgen.generate_messages(count, seed))
    if not mailbox_only:
        mailgen.write_maildir(sent_dir, sent_messages(count, seed))
    sent_db: dict[int, Path | str] = {}  # by target: where the piped messages go afterwards
    for name, folder in (("mailbox", mailbox_dir),) + (() if mailbox_only else (("sent", sent_dir),)):
        for i, (into, on) in enumerate(targets):
            db = workdir / f"{name}.db" if on is None else on.url(on.create_database(f"bench_{name}"))
            init_db(db)
            into[name] = _with_server_cpu(on, ingest_maildir, db, folder, count)
            sent_db[i] = db
        shutil.rmtree(folder)  # a 100,000-message Maildir is 4 GB
    if not mailbox_only:
        small = small_sent_messages(single_runs, seed)
        for i, (into, on) in enumerate(targets):
            into["single"] = _with_server_cpu(on, pipe_one_each, sent_db[i], small)
        results["version"] = version_times(single_runs)


def _with_server_cpu(server, run, *args) -> dict:
    """``run(*args)``'s figures; on PostgreSQL also the CPU its server spent meanwhile."""
    if server is None:
        return run(*args)
    import pg_server

    before = pg_server.server_cpu_s(server)
    figures = run(*args)
    figures["server_cpu_s"] = pg_server.server_cpu_s(server) - before
    return figures


def print_table(r: dict) -> None:
    print(f"bcc-ingest, {r['count']:,} generated messages (seed {r['seed']}); {r['load_before']}")
    if r.get("postgres"):
        print(r["postgres"]["settings"])
    if r.get("postgres_unavailable"):
        print(f"PostgreSQL not available: {r['postgres_unavailable']}")
    print(
        f"{'run':<47} {'wall':>8} {'msg/s':>7} {'CPU':>7} {'server':>7} {'tree PSS':>9} {'largest RSS':>12}  outcomes"
    )
    engines = [("", r)] + ([(" [PostgreSQL]", r["postgres"])] if r.get("postgres") else [])
    for name, label in (("mailbox", "Maildir, mailbox as received"), ("sent", "Maildir, mail the user sent")):
        for suffix, figures in engines:
            if name not in figures:
                continue
            x = figures[name]
            outcomes = ", ".join(f"{n} {s}" for s, n in sorted(x["outcomes"].items()))
            server = f"{x['server_cpu_s']:6.1f}s" if "server_cpu_s" in x else ""
            print(
                f"{label + suffix:<47} {x['wall_s']:7.2f}s {x['msg_per_s']:7.0f} {x['cpu_s']:6.1f}s {server:>7} "
                f"{x['peak_pss_mb'] or 0:7.0f}MB {x['max_rss_mb'] or 0:10.0f}MB  {outcomes}"
            )
    for suffix, figures in engines:
        if "single" not in figures:
            continue
        s = figures["single"]
        server = f", server CPU {s['server_cpu_s'] * 1000 / s['runs']:.0f} ms each" if "server_cpu_s" in s else ""
        print(
            f"{'one piped message (' + str(s['runs']) + ' runs)' + suffix:<47} median {s['median_s'] * 1000:.0f} ms, "
            f"p90 {s['p90_s'] * 1000:.0f} ms, min {s['min_s'] * 1000:.0f} ms, CPU median {s['cpu_median_s'] * 1000:.0f} ms"
            f"{server} ({', '.join(f'{n} {k}' for k, n in s['outcomes'].items())})"
        )
    if "version" in r:
        v = r["version"]
        print(
            f"{'pdmail --version (' + str(v['runs']) + ' runs)':<47} median {v['median_s'] * 1000:.0f} ms, "
            f"p90 {v['p90_s'] * 1000:.0f} ms"
        )
    for name in ("mailbox", "sent"):
        if name in r and name in r.get("postgres", {}):
            share = r[name]["wall_s"] / r["postgres"][name]["wall_s"]
            print(f"PostgreSQL's rate, {name}: {100 * share:.0f} % of SQLite's")
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
    parser.add_argument(
        "--engine",
        choices=("sqlite", "postgres", "both"),
        default="sqlite",
        help="where pdmail writes: a SQLite file, a database on a PostgreSQL started for the run, or both",
    )
    args = parser.parse_args(argv)
    engines = {"sqlite": ("sqlite",), "postgres": ("postgres",), "both": ("sqlite", "postgres")}[args.engine]
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        for name in ("mailbox", "sent"):
            shutil.rmtree(args.workdir / name, ignore_errors=True)
        results = run_all(
            args.count, args.seed, args.single_runs, args.workdir, mailbox_only=args.mailbox_only, engines=engines
        )
    else:
        with tempfile.TemporaryDirectory(prefix="pdmail-bench-") as tmp:
            results = run_all(
                args.count, args.seed, args.single_runs, Path(tmp), mailbox_only=args.mailbox_only, engines=engines
            )
    print_table(results)
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
