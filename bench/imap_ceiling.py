"""The ceiling for sync speed: how fast a bare imapclient FETCH loop downloads a mailbox.

Starts the test Dovecot on 127.0.0.1, seeds one user's INBOX with realistic messages from
``mailgen.py`` (written straight into the Maildir), opens the folder once so that Dovecot has
indexed it, then times UID FETCH of BODY.PEEK[] in batches over every UID, several times. The
same loop through ``pdmail.accounts.imap`` (what sync uses) is timed too, to show that layer's cost.

    python bench/imap_ceiling.py --count 10000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "bench")]

import mailgen  # noqa: E402
from dovecot import Dovecot  # noqa: E402


def bare_loop(server: Dovecot, user, batch: int, tls: bool = True) -> tuple[int, int, float]:
    """(messages, bytes, seconds) of one pass of plain imapclient over the INBOX."""
    client = server.client(user, tls=tls)
    try:
        client.select_folder("INBOX", readonly=True)
        uids = sorted(client.search(["ALL"]))
        count = size = 0
        start = time.perf_counter()
        for i in range(0, len(uids), batch):
            for row in client.fetch(uids[i : i + batch], ["BODY.PEEK[]"]).values():
                count += 1
                size += len(row[b"BODY[]"])
        return count, size, time.perf_counter() - start
    finally:
        client.logout()


def pdmail_loop(server: Dovecot, user, batch: int) -> tuple[int, int, float]:
    """The same pass through pdmail.accounts.imap.ImapSession.fetch_bodies (adds FLAGS, INTERNALDATE, MODSEQ)."""
    from pdmail.accounts import imap
    from pdmail.store.accounts import Account

    account = Account(
        id=1,
        owner_id=1,
        name="bench",
        kind="imap",
        provider=None,
        address=user.login,
        imap_host="127.0.0.1",
        imap_port=server.imaps_port,
        imap_security="tls",
        smtp_host=None,
        smtp_port=None,
        smtp_security=None,
        username=None,
        auth="password",
        secret_source=None,
        cafile=str(server.cafile),
        maildir_path=None,
        since=None,
        folders_json=None,
        past=None,
        is_default=True,
        created_utc="",
    )
    with imap.connect(account, secret=user.password) as session:
        session.select("INBOX", readonly=True)
        uids = session.search_uids()
        count = size = 0
        start = time.perf_counter()
        for message in session.fetch_bodies(uids, chunk=batch):
            count += 1
            size += len(message.raw)
        return count, size, time.perf_counter() - start


def _messages(count: int, seed: int, max_kb: int) -> list[bytes]:
    if not max_kb:
        return list(mailgen.generate_messages(count, seed))
    kept: list[bytes] = []
    for raw in mailgen.generate_messages(count * 2, seed):
        if len(raw) <= max_kb * 1024:
            kept.append(raw)
            if len(kept) == count:
                break
    return kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="messages to seed (default 10,000)")
    parser.add_argument("--seed", type=int, default=1, help="mailgen seed")
    parser.add_argument("--batch", type=int, default=500, help="UIDs per FETCH (default 500)")
    parser.add_argument("--repeat", type=int, default=3, help="passes of each loop (default 3)")
    parser.add_argument(
        "--plain", action="store_true", help="also time the bare loop on the unencrypted port (what TLS costs)"
    )
    parser.add_argument(
        "--max-kb",
        type=int,
        default=0,
        help="leave out messages bigger than this (e.g. 32: no attachments, ~12 KB each); "
        "default: keep mailgen's mix, attachments included",
    )
    args = parser.parse_args(argv)

    with Dovecot() as server:
        user = server.add_user("maria@northwind.example")
        started = time.perf_counter()
        raws = _messages(args.count, args.seed, args.max_kb)
        server.seed(user, "INBOX", raws)
        sizes = sorted(len(r) for r in raws)
        del raws
        seeded = time.perf_counter() - started
        started = time.perf_counter()
        warm = server.client(user)
        warm.select_folder("INBOX", readonly=True)  # Dovecot indexes the new files here
        warm.logout()
        indexed = time.perf_counter() - started
        print(
            f"seeded {len(sizes):,} messages (median {statistics.median(sizes) / 1024:.1f} KB, "
            f"mean {statistics.mean(sizes) / 1024:.1f} KB, total {sum(sizes) / 2**20:.0f} MB) in {seeded:.1f} s; "
            f"first SELECT (indexing) {indexed:.1f} s"
        )
        loops = [("bare imapclient FETCH BODY.PEEK[]", bare_loop), ("pdmail.accounts.imap fetch_bodies", pdmail_loop)]
        if args.plain:
            loops.append(
                (
                    "bare imapclient, plain port (no TLS)",
                    lambda server, user, batch: bare_loop(server, user, batch, tls=False),
                )
            )
        # Passes alternate between the loops, so that other load on the machine weighs on each alike.
        rates: dict[str, list[float]] = {label: [] for label, _ in loops}
        for _ in range(args.repeat):
            for label, loop in loops:
                count, size, seconds = loop(server, user, args.batch)
                rates[label].append(count / seconds)
                print(
                    f"{label}: {count:,} messages, {size / 2**20:.0f} MB in {seconds:.2f} s = "
                    f"{count / seconds:,.0f} msg/s ({size / 2**20 / seconds:.0f} MB/s)"
                )
        for label, values in rates.items():
            print(
                f"{label}: best {max(values):,.0f} msg/s, median {statistics.median(values):,.0f} msg/s "
                f"(batches of {args.batch}, 127.0.0.1)"
            )
        print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
