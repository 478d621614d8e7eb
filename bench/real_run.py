"""`bench/run --real`: pdmail beside notmuch and a bare IMAP client on real mail, every message stored.

Three rows, each tool a whole process started as a user or a mail server starts it, round after
round so that a busy moment hits both sides of a row alike (which side goes first alternates):

- ``pdmail bcc-ingest`` of the corpus as a Maildir, into a new database, beside ``notmuch new``
  indexing the same Maildir into a new notmuch database;
- one message piped into ``pdmail bcc-ingest`` (a database holding the corpus) beside ``notmuch
  insert`` of the same message (into the notmuch database of the corpus); several messages a round,
  each new to both;
- the initial ``pdmail sync`` of the corpus from a throwaway Dovecot (three quarters in INBOX, the rest
  in Sent), beside a bare imapclient FETCH of the same folders in the benchmark's own process.

The corpus comes from ``realcorpus.py`` (see there, and bench/README.md, for where its mail comes
from). The machine's load is printed before and after: compare CPU seconds too on a shared machine.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import tempfile
import time
from functools import partial
from pathlib import Path

import measure
import realcorpus
from ingest_speed import compile_package, init_db, pd

OWNER = "maria@northwind.example"
PASSWORD_ENV = "PDMAIL_BENCH_PASSWORD"
PIPED_PER_ROUND = 5
SENT_SHARE = 4  # one message in this many goes to Sent, the rest to INBOX

ROWS = (
    # (key, pdmail's run, its peer, how the ratio reads, the target)
    ("bulk", "bulk bcc-ingest of a Maildir", "notmuch new", "faster", 3.0),
    ("piped", "one message piped into bcc-ingest", "notmuch insert", "slower", 5.0),
    ("sync", "initial pdmail sync over IMAP", "bare imapclient FETCH", "of FETCH", 0.5),
)


def notmuch_config(work: Path, maildir: Path) -> dict:
    """The environment that points notmuch at ``maildir`` (its database inside it, as notmuch keeps it)."""
    config = work / "notmuch-config"
    config.write_text(
        f"[database]\npath={maildir}\n\n[user]\nname=Maria Lopez\nprimary_email={OWNER}\n\n"
        "[new]\ntags=unread;inbox;\nignore=\n\n[maildir]\nsynchronize_flags=true\n"
    )
    return {**os.environ, "NOTMUCH_CONFIG": str(config)}


def fresh_maildir(source: Path, target: Path) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    return target


def notmuch_new(work: Path, maildir: Path) -> tuple[dict, dict]:
    """``notmuch new`` over a fresh copy of the Maildir; its figures and the environment of its database."""
    mirror = fresh_maildir(maildir, work / "notmuch-maildir")
    env = notmuch_config(work, mirror)
    m = measure.run(["notmuch", "new", "--quiet"], env=env)
    if m.returncode != 0:
        raise RuntimeError(f"notmuch new exited {m.returncode}: {m.stderr.decode(errors='replace')[-800:]}")
    return m.summary(), env


def bcc_ingest(db: Path, maildir: Path) -> dict:
    init_db(db)
    m = measure.run(pd(db, "bcc-ingest", "--json", str(maildir)))
    if m.returncode not in (0, 3, 7):
        raise RuntimeError(f"bcc-ingest exited {m.returncode}: {m.stderr.decode(errors='replace')[-1500:]}")
    outcomes: dict[str, int] = {}
    for o in json.loads(m.stdout):
        outcomes[o["status"]] = outcomes.get(o["status"], 0) + 1
    return {**m.summary(), "outcomes": outcomes}


def pipe_pdmail(db: Path, raw: bytes) -> dict:
    m = measure.run(pd(db, "bcc-ingest", "--json"), stdin=raw, sample_memory=False)
    if m.returncode != 0:
        raise RuntimeError(f"piped bcc-ingest exited {m.returncode}: {m.stderr.decode(errors='replace')[-800:]}")
    return {**m.summary(), "status": json.loads(m.stdout)[0]["status"]}


def pipe_notmuch(env: dict, raw: bytes) -> dict:
    m = measure.run(["notmuch", "insert"], stdin=raw, env=env, sample_memory=False)
    if m.returncode != 0:
        raise RuntimeError(f"notmuch insert exited {m.returncode}: {m.stderr.decode(errors='replace')[-800:]}")
    return m.summary()


def bare_fetch(server, user, folders: list[str]) -> dict:
    """Every message's BODY.PEEK[] of each folder in batches of 500, in this process: the protocol alone."""
    from imapclient import IMAPClient

    context = ssl.create_default_context(cafile=str(server.cafile))
    started, cpu = time.perf_counter(), time.process_time()
    client = IMAPClient(server.host, port=server.imaps_port, ssl=True, ssl_context=context, timeout=300)
    client.login(user.login, user.password)
    count = 0
    for folder in folders:
        client.select_folder(folder, readonly=True)
        uids = client.search(["ALL"])
        for i in range(0, len(uids), 500):
            data = client.fetch(uids[i : i + 500], ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"])
            count += sum(1 for row in data.values() if row.get(b"BODY[]"))
            del data
    client.logout()
    return {"wall_s": time.perf_counter() - started, "cpu_s": time.process_time() - cpu, "messages": count}


def pdmail_sync(db: Path, server, user) -> dict:
    init_db(db)
    env = {**os.environ, PASSWORD_ENV: user.password}
    measure.run(
        pd(
            db,
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
        ),
        sample_memory=False,
        check=True,
    )
    m = measure.run(pd(db, "sync", "--json"), env=env)
    if m.returncode != 0:
        raise RuntimeError(f"pdmail sync exited {m.returncode}: {m.stderr.decode(errors='replace')[-1500:]}")
    return {**m.summary(), "new": sum(r.get("new", 0) for r in json.loads(m.stdout))}


def drop_sqlite(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.rmtree(f"{db}.spool", ignore_errors=True)


def run_real(count: int, rounds: int, sources: list[str], ensure_notmuch) -> dict:
    """The three rows; ``ensure_notmuch()`` (bench/run's) returns why notmuch is missing, or None."""
    from dovecot import Dovecot, unavailable_reason

    compile_package()
    messages, extra, origin = realcorpus.build(count, sources, extra=rounds * PIPED_PER_ROUND)
    results: dict = {
        "count": len(messages),
        "rounds": rounds,
        "origin": origin,
        "megabytes": sum(map(len, messages)) / 1e6,
        "load_before": measure.load_note(),
        "runs": {},
        "unavailable": {},
    }

    def record(name: str, value: dict) -> None:
        results["runs"].setdefault(name, []).append(value)

    no_notmuch = ensure_notmuch()
    no_dovecot = unavailable_reason()
    if no_notmuch:
        results["unavailable"]["notmuch"] = no_notmuch
    if no_dovecot:
        results["unavailable"]["Dovecot"] = f"no Dovecot: {no_dovecot}"
    with tempfile.TemporaryDirectory(prefix="pdmail-real-") as tmp:
        work = Path(tmp)
        maildir = work / "maildir"
        realcorpus.write_maildir(maildir, messages)
        server = None if no_dovecot else Dovecot().start()
        try:
            folders: list[str] = []
            if server:
                user = server.add_user()
                sent = [raw for i, raw in enumerate(messages) if i % SENT_SHARE == SENT_SHARE - 1]
                inbox = [raw for i, raw in enumerate(messages) if i % SENT_SHARE != SENT_SHARE - 1]
                server.seed(user, "INBOX", inbox, flags=["\\Seen"])
                server.seed(user, "Sent", sent, flags=["\\Seen"])
                folders = ["INBOX", "Sent"]
                bare_fetch(server, user, folders)  # Dovecot builds its index and cache once, before any timing
            for r in range(1, rounds + 1):
                print(f"round {r}/{rounds}", flush=True)
                pdmail_first = r % 2 == 1
                _bulk_round(work, maildir, r, pdmail_first, no_notmuch, record)
                piped = extra[(r - 1) * PIPED_PER_ROUND : r * PIPED_PER_ROUND]
                _piped_round(work, piped, r, pdmail_first, no_notmuch, record)
                if server:
                    sides = [
                        ("pdmail", partial(pdmail_sync, work / f"sync{r}.db", server, user)),
                        ("peer", partial(bare_fetch, server, user, folders)),
                    ]
                    for side, run in sides if pdmail_first else sides[::-1]:
                        record(f"sync {side}", run())
                    drop_sqlite(work / f"sync{r}.db")
        finally:
            if server:
                server.stop()
    results["load_after"] = measure.load_note()
    results["summary"] = summarize(results)
    return results


def _bulk_round(work: Path, maildir: Path, r: int, pdmail_first: bool, no_notmuch, record) -> None:
    db = work / f"bulk{r}.db"
    sides = [("pdmail", lambda: bcc_ingest(db, maildir))]
    if not no_notmuch:
        sides.append(("peer", lambda: notmuch_new(work, maildir)[0]))
    for side, run in sides if pdmail_first else sides[::-1]:
        record(f"bulk {side}", run())


def _piped_round(work: Path, piped: list[bytes], r: int, pdmail_first: bool, no_notmuch, record) -> None:
    """Each message piped into pdmail (a database with the corpus) and into notmuch (its database of it)."""
    db = work / f"bulk{r}.db"  # the bulk row's database: the corpus is in it
    env = None if no_notmuch else notmuch_config(work, work / "notmuch-maildir")
    for raw in piped:
        sides = [("pdmail", partial(pipe_pdmail, db, raw))]
        if env is not None:
            sides.append(("peer", partial(pipe_notmuch, env, raw)))
        for side, run in sides if pdmail_first else sides[::-1]:
            record(f"piped {side}", run())
    drop_sqlite(db)


def summarize(results: dict) -> list[dict]:
    rows = []
    for key, name, peer, reads, target in ROWS:
        ours, theirs = results["runs"].get(f"{key} pdmail"), results["runs"].get(f"{key} peer")
        row: dict = {"key": key, "name": name, "peer_name": peer, "target": target, "reads": reads}
        for side, values in (("pdmail", ours), ("peer", theirs)):
            if values:
                row[side] = {
                    "median_s": measure.median([v["wall_s"] for v in values]),
                    "cpu_median_s": measure.median([v["cpu_s"] for v in values]),
                    "runs": len(values),
                }
        if ours and ours[-1].get("outcomes"):
            row["outcomes"] = ours[-1]["outcomes"]
        if ours and theirs:
            a, b = row["pdmail"]["median_s"], row["peer"]["median_s"]
            ca, cb = row["pdmail"]["cpu_median_s"], row["peer"]["cpu_median_s"]
            if reads == "faster":
                row["ratio"], row["cpu_ratio"] = b / a, cb / ca
                row["met"] = row["ratio"] >= target
            elif reads == "slower":
                row["ratio"], row["cpu_ratio"] = a / b, ca / cb
                row["met"] = row["ratio"] <= target
            else:
                row["ratio"] = b / a
                row["met"] = row["ratio"] >= target
        rows.append(row)
    return rows


def _ratio_text(row: dict) -> str:
    if "ratio" not in row:
        return "no peer"
    if row["reads"] == "faster":
        return f"{row['ratio']:.1f}x faster (CPU {row['cpu_ratio']:.1f}x)"
    if row["reads"] == "slower":
        return f"{row['ratio']:.1f}x slower (CPU {row['cpu_ratio']:.1f}x)"
    return f"{row['ratio']:.2f} of FETCH"


def _target_text(row: dict) -> str:
    t = row["target"]
    want = {"faster": f">= {t:.0f}x faster", "slower": f"<= {t:.0f}x slower", "of FETCH": f">= {t:.2f}"}[row["reads"]]
    return want + ("" if "met" not in row else ": met" if row["met"] else ": MISSED")


def print_real_table(results: dict) -> None:
    print()
    print(
        f"{results['count']:,} real messages ({results['megabytes']:.1f} MB) from {results['origin']}, "
        f"every From set to the user; {results['rounds']} rounds, medians; {results['load_before']}"
    )
    header = f"{'run':<35} {'pdmail':>9} {'CPU':>7}   {'peer':<22} {'peer':>8} {'CPU':>7}   {'ratio':<30} target"
    print(header)
    print("-" * len(header))
    for row in results["summary"]:
        ours, theirs = row.get("pdmail"), row.get("peer")
        left = f"{ours['median_s']:8.3f}s {ours['cpu_median_s']:6.3f}s" if ours else f"{'':>9} {'':>7}"
        right = f"{theirs['median_s']:7.3f}s {theirs['cpu_median_s']:6.3f}s" if theirs else f"{'n/a':>8} {'':>7}"
        print(f"{row['name']:<35} {left}   {row['peer_name']:<22} {right}   {_ratio_text(row):<30} {_target_text(row)}")
        if row["key"] == "bulk" and row.get("outcomes"):
            print(f"{'':<36}({', '.join(f'{n} {s}' for s, n in sorted(row['outcomes'].items()))})")
    for name, why in results["unavailable"].items():
        print(f"{name:<35} {why}")
    print(
        f"CPU: user + system of the command and its children (bare FETCH: the benchmark's own process). "
        f"{results['load_after']}"
    )
