"""Ten accounts syncing at once, and mail piped in meanwhile, all into one PostgreSQL database.

    python bench/pg_concurrent.py [--accounts 10] [--per-account 300] [--piped 200] [--pipers 2]
    bench/run --concurrent [--quick]

A throwaway Dovecot holds one mailbox per account (``mailgen``, the account's user as its own address:
mail received in INBOX, mail sent in Sent). One pdmail database on the benchmark's PostgreSQL
(``pg_server.py``: fsync and synchronous_commit on) gets one pdmail user per account, each with an IMAP
account. Then, all at once:

- one ``pdmail sync`` process per account, each as its own user;
- a stream of ``pdmail bcc-ingest --mta`` processes, each piping one message as a mail server does,
  ``--pipers`` at a time. The piped messages are mail the users sent: half are copies of messages
  in their Sent folders, which the syncs bring as well (with a relay's Received header on top, as a
  mail server delivers them), half are new.

Afterwards the database must hold each user's messages exactly once: the (owner, fingerprint) pairs
stored are exactly those of the messages each user has (fingerprints computed here with pdmail's own
parser), no pair and no Message-ID twice for one owner, and every message on the IMAP server is
recorded as synced to its email. Any process that fails, any message not stored or counted a
duplicate, and any "busy" or "locked" on any process's error output fails the run (exit 1).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

import mailgen  # noqa: E402
import measure  # noqa: E402
import pg_server  # noqa: E402
from ingest_speed import compile_package, pd  # noqa: E402

COMPANY = "northwind.example"
# mailgen's colleagues first, so that internal mail between them is mail between pdmail users.
NAMED = ["maria", "sam", "priya", "jonas", "wei.chen", "lucia"]
PASSWORD_ENV = "PDMAIL_BENCH_PASSWORD"
CAPTURE = f"bcc@{COMPANY}"
TROUBLE_WORDS = ("busy", "locked", "deadlock", "traceback")


def user_address(i: int) -> str:
    return f"{NAMED[i] if i < len(NAMED) else f'user{i + 1}'}@{COMPANY}"


@dataclass
class Mailbox:
    """One account's messages: in its INBOX, in its Sent folder, and piped for it."""

    address: str
    inbox: list[bytes]
    sent: list[bytes]
    piped: list[bytes] = field(default_factory=list)


def relayed(raw: bytes, n: int) -> bytes:
    """The message as a mail server pipes it to the capture address: a Received header on top."""
    return (
        f"Received: from client{n}.{COMPANY} (client{n}.{COMPANY} [192.0.2.{n % 250 + 1}])\r\n"
        f"\tby mx.{COMPANY} (Postfix) with ESMTPS id P{n:08X}\r\n\tfor <{CAPTURE}>; Mon, 2 Nov 2026 09:00:00 +0000\r\n"
    ).encode() + raw


def make_mailboxes(accounts: int, per_account: int, piped: int, seed: int) -> list[Mailbox]:
    """Each account's mailbox, and ``piped`` messages shared out among the users: half copies of
    messages in their Sent folders, half new mail of theirs."""
    boxes = []
    for i in range(accounts):
        address = user_address(i)
        generated = list(mailgen.generate(per_account, seed + i, own_address=address))
        boxes.append(
            Mailbox(
                address,
                inbox=[g.raw for g in generated if g.direction == "incoming"],
                sent=[g.raw for g in generated if g.direction == "outgoing"],
            )
        )
    for n in range(piped):
        box = boxes[n % accounts]
        turn = n // accounts
        if n % 2 == 0 and turn < len(box.sent):
            box.piped.append(relayed(box.sent[turn], n))
        else:
            box.piped.append(relayed(new_sent_message(box.address, seed + 1000 + n), n))
    return boxes


def new_sent_message(address: str, seed: int) -> bytes:
    """A message ``address`` sent that no mailbox holds (its own seed)."""
    count = 8
    while True:
        for g in mailgen.generate(count, seed, own_address=address):
            if g.direction == "outgoing":
                return g.raw
        count *= 2


def expected_pairs(boxes: list[Mailbox]) -> dict[str, set[str]]:
    """Per user address, the fingerprints of the messages that user has, by pdmail's own parser."""
    from pdmail.mime.fingerprint import fingerprint
    from pdmail.mime.parse import parse_message

    return {
        box.address: {fingerprint(parse_message(raw)) for raw in (*box.inbox, *box.sent, *box.piped)} for box in boxes
    }


def set_up(url: str, server, users: list, boxes: list[Mailbox]) -> None:
    """The company, one pdmail user per account (the first an admin), each with its IMAP account."""
    first = boxes[0].address
    measure.run(
        pd(url, "init", "--name", "Maria Lopez", "--email", first, "--company", "Northwind"),
        sample_memory=False,
        check=True,
    )
    for box in boxes[1:]:
        name = box.address.partition("@")[0].replace(".", " ").title()
        measure.run(
            pd(url, "user", "add", box.address, "--name", name, "--user", first), sample_memory=False, check=True
        )
    for box, user in zip(boxes, users):
        measure.run(
            pd(url, "account", "add", "work", "--user", box.address, "--address", box.address,
               "--imap-host", server.host, "--imap-port", str(server.imaps_port), "--imap-security", "tls",
               "--username", user.login, "--password-env", PASSWORD_ENV, "--cafile", str(server.cafile),
               "--since", "all", "--past", "everyone"),
            sample_memory=False,
            check=True,
        )  # fmt: skip


@dataclass
class Finished:
    """One process of the concurrent phase, as it ended."""

    kind: str  # "sync" or "pipe"
    who: str
    returncode: int
    wall_s: float
    stdout: str
    stderr: str
    ended: float = 0.0  # time.perf_counter() at its end


def start_syncs(url: str, users: list, boxes: list[Mailbox]) -> list[tuple[str, float, subprocess.Popen]]:
    started = []
    for box, user in zip(boxes, users):
        env = {**os.environ, PASSWORD_ENV: user.password}
        process = subprocess.Popen(
            pd(url, "sync", "--json", "--user", box.address),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        started.append((box.address, time.perf_counter(), process))
    return started


def pipe_stream(url: str, queue: list[tuple[str, bytes]], done: list[Finished], lock: threading.Lock) -> None:
    """One piper: takes the next message off the shared queue and pipes it, until the queue is empty."""
    while True:
        with lock:
            if not queue:
                return
            who, raw = queue.pop(0)
        started = time.perf_counter()
        proc = subprocess.run(
            pd(url, "bcc-ingest", "--mta", "--json", "--recipient", CAPTURE), input=raw, capture_output=True
        )
        ended = time.perf_counter()
        finished = Finished(
            "pipe", who, proc.returncode, ended - started, proc.stdout.decode(), proc.stderr.decode(), ended
        )
        with lock:
            done.append(finished)


def run_concurrent(
    accounts: int = 10, per_account: int = 300, piped: int = 200, pipers: int = 2, seed: int = 1
) -> dict:
    from dovecot import Dovecot, unavailable_reason

    compile_package()
    results: dict = {"accounts": accounts, "per_account": per_account, "piped": piped, "pipers": pipers,
                     "load_before": measure.load_note(), "failures": []}  # fmt: skip
    for what, why in (("Dovecot", unavailable_reason()), ("PostgreSQL", pg_server.unavailable_reason())):
        if why:
            results["unavailable"] = f"{what}: {why}"
            return results
    print(f"generating {accounts} mailboxes of {per_account:,} messages and {piped} piped ones...", flush=True)
    boxes = make_mailboxes(accounts, per_account, piped, seed)
    expected = expected_pairs(boxes)
    results["imap_messages"] = sum(len(b.inbox) + len(b.sent) for b in boxes)
    results["expected_emails"] = sum(map(len, expected.values()))
    with Dovecot() as dovecot:
        pg = pg_server.start()
        try:
            results["postgres"] = pg_server.settings_note(pg)
            url = pg.url(pg.create_database("bench_concurrent"))
            users = [dovecot.add_user() for _ in boxes]
            for box, user in zip(boxes, users):
                dovecot.seed(user, "INBOX", box.inbox, flags=["\\Seen"])
                dovecot.seed(user, "Sent", box.sent, flags=["\\Seen"])
            set_up(url, dovecot, users, boxes)
            finished = concurrent_phase(url, pg, users, boxes, pipers, results)
            check_processes(finished, results)
            check_database(url, boxes, expected, results)
        finally:
            pg.stop()
    results["load_after"] = measure.load_note()
    return results


def concurrent_phase(url: str, pg, users: list, boxes: list[Mailbox], pipers: int, results: dict) -> list[Finished]:
    """Every sync and the piped stream at once; returns each process as it ended."""
    longest = max(len(box.piped) for box in boxes)
    queue = [(box.address, box.piped[turn]) for turn in range(longest) for box in boxes if turn < len(box.piped)]
    done: list[Finished] = []
    lock = threading.Lock()
    server_before = pg_server.server_cpu_s(pg)
    started = time.perf_counter()
    syncs = start_syncs(url, users, boxes)
    threads = [threading.Thread(target=pipe_stream, args=(url, queue, done, lock)) for _ in range(pipers)]
    waiters = [
        threading.Thread(target=wait_sync, args=(who, began, process, done, lock)) for who, began, process in syncs
    ]
    for thread in threads + waiters:
        thread.start()
    for thread in waiters:
        thread.join()
    syncs_end = time.perf_counter()
    for thread in threads:
        thread.join()
    results["wall_s"] = time.perf_counter() - started
    results["syncs_wall_s"] = syncs_end - started
    results["server_cpu_s"] = pg_server.server_cpu_s(pg) - server_before
    results["sync_walls_s"] = sorted(f.wall_s for f in done if f.kind == "sync")
    pipes = [f for f in done if f.kind == "pipe"]
    results["pipes_wall_s"] = max((f.ended for f in pipes), default=started) - started
    for when, chosen in (
        ("during", [f for f in pipes if f.ended <= syncs_end]),
        ("after", [f for f in pipes if f.ended > syncs_end]),
    ):
        walls = [f.wall_s for f in chosen]
        results[f"pipes_{when}_syncs"] = {
            "count": len(walls),
            "median_s": statistics.median(walls) if walls else None,
            "p90_s": measure.percentile(walls, 0.9) if walls else None,
        }
    return done


def wait_sync(who: str, began: float, process: subprocess.Popen, done: list[Finished], lock: threading.Lock) -> None:
    out, err = process.communicate()
    ended = time.perf_counter()
    with lock:
        done.append(Finished("sync", who, process.returncode, ended - began, out.decode(), err.decode(), ended))


def check_processes(finished: list[Finished], results: dict) -> None:
    """Every process ended well: syncs exit 0, each piped message stored or a duplicate, no lock trouble."""
    statuses: Counter = Counter()
    for f in finished:
        trouble = [line for line in f.stderr.splitlines() if any(w in line.lower() for w in TROUBLE_WORDS)]
        if f.returncode != 0:
            results["failures"].append(f"{f.kind} {f.who}: exit {f.returncode}: {f.stderr.strip()[-300:]}")
        elif trouble:
            results["failures"].append(f"{f.kind} {f.who}: {trouble[0][:300]}")
        if f.kind == "pipe" and f.returncode == 0:
            for outcome in _outcomes(f.stdout):
                statuses[outcome.get("status", "?")] += 1
                if outcome.get("status") not in ("stored", "duplicate"):
                    results["failures"].append(f"pipe {f.who}: {outcome.get('status')}: {outcome}")
    results["piped_outcomes"] = dict(statuses)


def _outcomes(stdout: str) -> list[dict]:
    data = json.loads(stdout) if stdout.strip() else []
    return data if isinstance(data, list) else [data]


def check_database(url: str, boxes: list[Mailbox], expected: dict[str, set[str]], results: dict) -> None:
    """Each user's emails are exactly that user's messages, each once; every IMAP message is synced."""
    from pdmail.store import open_db

    db = open_db(url)
    try:
        results["stored_emails"] = db.scalar("SELECT count(*) FROM emails")
        twice = db.scalar(
            "SELECT count(*) FROM (SELECT owner_id, fingerprint FROM emails GROUP BY owner_id, fingerprint "
            "HAVING count(*) > 1) AS twice"
        )
        twice_ids = db.scalar(
            "SELECT count(*) FROM (SELECT owner_id, message_id_norm FROM emails WHERE message_id_norm IS NOT NULL "
            "GROUP BY owner_id, message_id_norm HAVING count(*) > 1) AS twice"
        )
        results["fingerprints_twice"], results["message_ids_twice"] = twice, twice_ids
        if twice or twice_ids:
            results["failures"].append(f"stored twice: {twice} fingerprints, {twice_ids} Message-IDs")
        for box in boxes:
            stored = {
                r[0]
                for r in db.all(
                    "SELECT e.fingerprint FROM emails e JOIN users u ON u.id = e.owner_id WHERE u.email = ?",
                    (box.address,),
                )
            }
            missing, extra = expected[box.address] - stored, stored - expected[box.address]
            if missing or extra:
                results["failures"].append(f"{box.address}: {len(missing)} messages missing, {len(extra)} unexpected")
            synced = db.scalar(
                "SELECT count(*) FROM locations l JOIN sync_folders f ON f.id = l.folder_id "
                "JOIN accounts a ON a.id = f.account_id JOIN users u ON u.id = a.owner_id "
                "WHERE u.email = ? AND l.email_id IS NOT NULL AND l.is_gone = 0",
                (box.address,),
            )
            if synced != len(box.inbox) + len(box.sent):
                results["failures"].append(
                    f"{box.address}: {synced} of {len(box.inbox) + len(box.sent)} IMAP messages synced to an email"
                )
    finally:
        db.close()


def print_report(r: dict) -> None:
    print()
    print(
        f"{r['accounts']} accounts syncing at once ({r['per_account']:,} messages each) and {r['piped']} messages "
        f"piped into bcc-ingest, {r['pipers']} at a time, into one PostgreSQL database; {r['load_before']}"
    )
    if r.get("unavailable"):
        print(f"not available: {r['unavailable']}")
        return
    print(r["postgres"])
    print(
        f"syncs: {r['imap_messages']:,} messages in {r['syncs_wall_s']:.1f} s = {r['imap_messages'] / r['syncs_wall_s']:.0f} "
        f"msg/s (each sync {min(r['sync_walls_s']):.1f}–{max(r['sync_walls_s']):.1f} s)"
    )
    print(
        f"piped: {r['piped']} messages in {r['pipes_wall_s']:.1f} s = {r['piped'] / r['pipes_wall_s']:.1f} msg/s "
        f"({', '.join(f'{n} {s}' for s, n in sorted(r['piped_outcomes'].items()))}); one message took "
        + "; ".join(
            f"{x['median_s'] * 1000:.0f} ms median, {x['p90_s'] * 1000:.0f} ms p90 {when} the syncs ({x['count']})"
            for when, x in (("during", r["pipes_during_syncs"]), ("after", r["pipes_after_syncs"]))
            if x["count"]
        )
    )
    print(
        f"all: {r['imap_messages'] + r['piped']:,} messages in {r['wall_s']:.1f} s = "
        f"{(r['imap_messages'] + r['piped']) / r['wall_s']:.0f} msg/s; PostgreSQL server CPU {r['server_cpu_s']:.1f} s"
    )
    print(
        f"check: {r['stored_emails']:,} emails stored, {r['expected_emails']:,} expected (each user's distinct "
        f"messages); (owner, fingerprint) twice: {r['fingerprints_twice']}; (owner, Message-ID) twice: "
        f"{r['message_ids_twice']}"
    )
    print("PASS: every message stored exactly once, no process failed" if not r["failures"] else "FAIL:")
    for failure in r["failures"]:
        print(f"  {failure}")
    print(r["load_after"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--per-account", type=int, default=300, help="messages in each account's mailbox")
    parser.add_argument("--piped", type=int, default=200, help="messages piped into bcc-ingest meanwhile")
    parser.add_argument("--pipers", type=int, default=2, help="bcc-ingest processes at a time")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)
    results = run_concurrent(args.accounts, args.per_account, args.piped, args.pipers, args.seed)
    print_report(results)
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2) + "\n")
    return 1 if results["failures"] or results.get("unavailable") else 0


if __name__ == "__main__":
    sys.exit(main())
