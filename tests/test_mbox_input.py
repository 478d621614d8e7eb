"""Mbox files in: read as a stream (memory flat however large the file), every message under the size
rules of stdin, and mboxrd quoting undone, so that an export read back is the same mail."""

from __future__ import annotations

import json
import mailbox
import os
import subprocess
import sys
from pathlib import Path

import pytest
import rawdb

from pdmail.capture.inputs import Input, expand, mbox_spans
from pdmail.mime.limits import MAX_MESSAGE_SIZE, MB, too_large

pytestmark = pytest.mark.both_engines

CAPTURE = "capture@bcc.northwind.example"


def mail(
    i: int, body: bytes = b"Hello Ada,\r\nthe quote.\r\n", *, frm: str = "Maria Lopez <maria@northwind.example>"
) -> bytes:
    return (
        f"From: {frm}\r\nTo: Ada Byron <ada@acme.example>\r\nSubject: Quote {i}\r\n"
        f"Date: Mon, 16 Nov 2026 09:12:00 +0100\r\nMessage-ID: <q{i}@northwind.example>\r\n\r\n"
    ).encode() + body


def mboxrd_entry(raw: bytes) -> bytes:
    """One message as an mboxrd writer puts it: envelope line, From-lines quoted, blank line."""
    from pdmail.mailbox.export import mbox_entry

    return mbox_entry(raw, "maria@northwind.example", "2026-11-16T08:12:00Z")


@pytest.fixture
def team(company):
    company.ok("settings", "set", "bcc-address", CAPTURE)
    company.ok("contact", "add", "Ada Byron", "--email", "ada@acme.example")
    return company


def db_rows(db_path, sql, params=()):
    return rawdb.rows(db_path, sql, params)


# --- memory -----------------------------------------------------------------------------------------

PEAK_RSS = """
import resource, runpy, sys
sys.argv = ["pdmail", *sys.argv[1:]]
try:
    runpy.run_module("pdmail", run_name="__main__")
except SystemExit as end:
    code = end.code
usage = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
sys.stderr.write(f"\\nPEAK_RSS_KB {usage} EXIT {code}\\n")
"""


def peak_rss_mb(args: list[str], env: dict) -> float:
    """Peak resident memory of one pdmail run (its helper processes included), in MB."""
    done = subprocess.run([sys.executable, "-c", PEAK_RSS, *args], env=env, capture_output=True, text=True, timeout=600)
    last = done.stderr.strip().splitlines()[-1].split()
    assert last[0] == "PEAK_RSS_KB" and last[3] == "0", done.stderr[-2000:]
    return int(last[1]) / 1024


def write_big_mbox(path: Path, count: int) -> int:
    """``count`` copies of one message of about 1 MB (so every copy after the first is a duplicate)."""
    line = b"The quick brown fox jumps over the lazy dog, twice over, and then once more.\r\n"
    entry = mboxrd_entry(mail(0, line * (MB // len(line))))
    with open(path, "wb") as out:
        for _ in range(count):
            out.write(entry)
    return path.stat().st_size


def test_memory_stays_flat_however_large_the_mbox(team, tmp_path, db_path):
    """An mbox three times larger costs no more memory: it is never held whole (a 452 MB file once
    peaked at 580 MB)."""
    env = dict(os.environ, PDMAIL_DB=str(db_path))
    small, large = tmp_path / "small.mbox", tmp_path / "large.mbox"
    small_size = write_big_mbox(small, 60)
    large_size = write_big_mbox(large, 180)
    small_peak = peak_rss_mb(["--quiet", "bcc-ingest", str(small)], env)
    large_peak = peak_rss_mb(["--quiet", "bcc-ingest", str(large)], env)
    grown_file = (large_size - small_size) / MB
    assert grown_file > 110
    print(
        f"peak RSS: {small_peak:.0f} MB for {small_size / MB:.0f} MB, {large_peak:.0f} MB for {large_size / MB:.0f} MB"
    )
    assert large_peak - small_peak < grown_file / 4, (small_peak, large_peak)
    assert len(team.json("inbox", "--folder", "all")) == 1  # one message, every other copy a duplicate


# --- the size rules of stdin ------------------------------------------------------------------------


def oversize_message() -> bytes:
    """Just over the limit, with lines an mbox must quote (so its copy in the mbox is larger still)."""
    line = b"From the warehouse: pallet 12 of 40 is on its way.\r\n"
    body = line * (MAX_MESSAGE_SIZE // len(line) + 100)
    return mail(1, body + b">From the quoted reply, kept as written.\r\n")


def test_an_oversize_message_in_an_mbox_is_spooled_as_from_stdin(team, tmp_path, db_path):
    big = oversize_message()
    path = tmp_path / "in.mbox"
    path.write_bytes(mboxrd_entry(mail(0)) + mboxrd_entry(big) + mboxrd_entry(mail(2)))

    result = team("bcc-ingest", str(path), "--json")
    assert result.exit_code == 7, result.stderr
    statuses = [(o["source"], o["status"], o["reason"]) for o in json.loads(result.stdout)]
    assert statuses == [
        (f"{path}#1", "stored", None),
        (f"{path}#2", "quarantined", too_large(len(big))),
        (f"{path}#3", "stored", None),
    ]
    (held,) = db_rows(db_path, "SELECT raw_sha256, spool_path, size FROM quarantine")
    assert held["raw_sha256"] is None and held["size"] == len(big)  # in the spool, not in the database
    assert Path(held["spool_path"]).read_bytes() == big  # the message itself, its mbox quoting undone
    assert not db_rows(db_path, "SELECT 1 FROM raw_messages WHERE length(data) > ?", (MAX_MESSAGE_SIZE,))

    piped = team("bcc-ingest", "--json", input=big)
    assert piped.exit_code == 3
    assert json.loads(piped.stdout)[0]["reason"] == too_large(len(big))
    # The same bytes from stdin are the same message: the quarantine holds it once, in the same spool file.
    (spooled,) = db_rows(db_path, "SELECT id, spool_path, reason FROM quarantine")
    assert json.loads(piped.stdout)[0]["quarantine_id"] == spooled["id"] and spooled["spool_path"] == held["spool_path"]


# --- mboxrd -----------------------------------------------------------------------------------------

QUOTING = (
    b"Hello Ada,\r\nFrom the top: the quote.\r\n>From your last mail: agreed.\r\n"
    b">>From the one before: too.\r\n>Fromage is not quoted.\r\nFrom\r\n"
)


def test_export_then_ingest_gives_the_same_messages_as_duplicates(team, tmp_path, db_path):
    originals = [mail(i, QUOTING + f"number {i}\r\n".encode()) for i in range(3)]
    originals.append(b"From maria@northwind.example Mon Nov 16 09:00:00 2026\r\n" + mail(3))  # an envelope kept
    for raw in originals:
        assert team("bcc-ingest", input=raw).exit_code == 0
    exported = tmp_path / "team.mbox"
    team.ok("export", "--format", "mbox", "--output", str(exported))

    assert sorted(item.read() for item in expand([str(exported)])) == sorted(originals)
    result = team("bcc-ingest", str(exported), "--json")
    assert result.exit_code == 0, result.stderr
    assert [o["status"] for o in json.loads(result.stdout)] == ["duplicate"] * len(originals)
    stored = sorted(bytes(r["data"]) for r in db_rows(db_path, "SELECT data FROM raw_messages"))
    assert stored == sorted(originals)


def test_an_export_of_a_forwarded_original_comes_back_refused_and_the_stored_email_stays(team, tmp_path, db_path):
    """As the README says: what a user sent round-trips as a duplicate; an unwrapped original is quarantined."""
    original = (
        b"From: Ada Byron <ada@acme.example>\r\nTo: maria@northwind.example\r\nSubject: Arms\r\n"
        b"Message-ID: <orig@acme.example>\r\nDate: Mon, 16 Nov 2026 09:00:00 +0000\r\n\r\nHello\r\n"
    )
    forward = (
        b"From: Maria Lopez <maria@northwind.example>\r\nSubject: Fwd: Arms\r\nMIME-Version: 1.0\r\n"
        b"Message-ID: <fwd@northwind.example>\r\nDate: Mon, 16 Nov 2026 10:00:00 +0000\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n'
        b"fyi\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n" + original + b"--b--\r\n"
    )
    for raw in (forward, mail(1)):
        assert team("bcc-ingest", input=raw).exit_code == 0
    exported = tmp_path / "team.mbox"
    team.ok("export", "--format", "mbox", "--output", str(exported))
    result = team("bcc-ingest", str(exported), "--json")
    assert result.exit_code == 7
    by_status = {o["status"]: o for o in json.loads(result.stdout)}
    assert set(by_status) == {"duplicate", "quarantined"}
    assert "ada@acme.example is not allowed" in by_status["quarantined"]["reason"]
    assert len(team.json("inbox", "--folder", "all")) == 2


def test_spans_are_where_the_mailbox_module_finds_messages(tmp_path):
    """The streaming reader splits as Python's mailbox module does, blank separator lines included."""
    path = tmp_path / "odd.mbox"
    path.write_bytes(
        b"From a\nX: 1\n\nbody\n\nFrom b\nX: 2\n\nno blank line before the next\nFrom c\n"
        b"From d\n\n\nFrom e\nX: 3\r\n\r\nlast, no newline"
    )
    box = mailbox.mbox(str(path), create=False)
    expected = [box.get_bytes(key, from_=False) for key in box.iterkeys()]
    data = path.read_bytes()
    assert [data[start:stop] for start, stop in mbox_spans(str(path))] == expected


def test_an_mbox_of_many_small_messages_is_scanned_in_linear_time(tmp_path):
    from test_linear_time import cpu_seconds

    path = tmp_path / "many.mbox"
    with open(path, "wb") as out:
        for i in range(200_000):
            out.write(b"From a Mon Jan  1 00:00:00 2024\nSubject: %d\n\nhello\n\n" % i)
    spans: list = []
    cpu_seconds(lambda: spans.extend(mbox_spans(str(path))))
    assert len(spans) == 200_000
    data = path.read_bytes()
    assert data[spans[-1][0] : spans[-1][1]] == b"Subject: 199999\n\nhello\n"


def test_a_message_read_in_blocks_is_the_message_read_whole(tmp_path):
    body = b"".join(b">" * (i % 7) + b"From line %d\r\n" % i for i in range(200_000))
    path = tmp_path / "blocks.mbox"
    path.write_bytes(mboxrd_entry(mail(0, body)))
    (item,) = expand([str(path)])
    assert isinstance(item, Input) and item.span is not None
    whole = item.read()
    assert whole == mail(0, body)
    assert b"".join(item.chunks()) == whole
