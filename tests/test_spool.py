"""The spool for messages too large for the database: no half-written file is ever left for good,
and a disk with no room is a temporary failure that says so (exit 75), not an internal error."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
import rawdb

from pdmail.mime.limits import MAX_MESSAGE_SIZE, MB, too_large
from pdmail.store import open_db
from pdmail.store.spool import STALE_AFTER, TEMP_PREFIX

pytestmark = pytest.mark.both_engines

CAPTURE = "capture@bcc.northwind.example"


def big_message() -> bytes:
    head = (
        b"From: Maria Lopez <maria@northwind.example>\r\nTo: Ada Byron <ada@acme.example>\r\n"
        b"Subject: Drawings\r\nMessage-ID: <big@northwind.example>\r\n\r\n"
    )
    line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghij\r\n"
    return head + line * (MAX_MESSAGE_SIZE // len(line) + 1000)


def small_message() -> bytes:
    return (
        b"From: Maria Lopez <maria@northwind.example>\r\nTo: Ada Byron <ada@acme.example>\r\n"
        b"Subject: Quote\r\nMessage-ID: <small@northwind.example>\r\n\r\nHello Ada,\r\n"
    )


def spool_folder(db_path) -> Path:
    """Where this database's oversize messages wait: beside a SQLite file, in the user's data folder for a server."""
    db = open_db(db_path)
    try:
        return db.spool_folder()
    finally:
        db.close()


def leftovers(db_path) -> list[str]:
    folder = spool_folder(db_path)
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX)) if folder.exists() else []


def held(db_path) -> list:
    return rawdb.rows(db_path, "SELECT * FROM quarantine")


@pytest.fixture
def team(company):
    company.ok("settings", "set", "bcc-address", CAPTURE)
    return company


def _limit_file_size(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.mark.parametrize("mta", [False, True], ids=["by-hand", "mail-server"])
def test_no_room_for_an_oversize_message_exits_75_and_leaves_no_file(team, db_path, mta):
    """Any user can run out of room: a file size limit makes the spool write fail half-way (EFBIG),
    as a full disk (ENOSPC) would."""
    args = [sys.executable, "-m", "pdmail", "--db", str(db_path), "bcc-ingest", *(["--mta"] if mta else [])]
    done = subprocess.run(
        args, input=big_message(), capture_output=True, timeout=300, preexec_fn=_limit_file_size(4 * MB)
    )
    stderr = done.stderr.decode()
    assert done.returncode == 75, stderr
    assert "file too large" in stderr and "internal error" not in stderr
    assert leftovers(db_path) == []
    assert held(db_path) == []  # nothing half-kept: the mail server delivers it again

    again = subprocess.run(args, input=big_message(), capture_output=True, timeout=300)
    assert again.returncode == 0 if mta else again.returncode == 3, again.stderr.decode()
    assert [row["reason"] for row in held(db_path)] == [too_large(len(big_message()))]


def test_a_full_disk_exits_75_with_disk_full(team, db_path, monkeypatch):
    """A file system may report a full disk only when the data is synced (delayed allocation)."""

    def no_space(fd):
        raise OSError(28, os.strerror(28))

    monkeypatch.setattr(os, "fsync", no_space)
    result = team("bcc-ingest", input=big_message())
    assert result.exit_code == 75, result.stderr
    assert result.stderr.startswith("Error: disk full:")
    assert leftovers(db_path) == [] and held(db_path) == []


def test_a_full_disk_ends_a_run_over_files_with_75(team, db_path, tmp_path, monkeypatch):
    path = tmp_path / "big.eml"
    path.write_bytes(big_message())
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(122, os.strerror(122))))
    result = team("bcc-ingest", str(path), "--json")
    assert result.exit_code == 75, result.stderr
    assert "disk quota exceeded" in result.stderr
    assert leftovers(db_path) == [] and held(db_path) == []


def test_files_killed_writes_left_are_swept_once_stale(team, db_path):
    folder = spool_folder(db_path)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    stale, fresh = folder / f"{TEMP_PREFIX}4242", folder / f"{TEMP_PREFIX}abc123"
    kept = folder / ("0" * 64 + ".eml")  # a quarantined message: never swept
    for path in (stale, fresh, kept):
        path.write_bytes(b"x" * 1000)
    old = time.time() - STALE_AFTER - 60
    os.utime(stale, (old, old))
    os.utime(kept, (old, old))

    result = team("bcc-ingest", "--json", input=small_message())
    assert result.exit_code == 0 and json.loads(result.stdout)[0]["status"] == "stored"
    assert not stale.exists()
    assert fresh.exists() and kept.exists()


def test_a_killed_write_leaves_a_file_the_next_capture_sweeps(team, db_path):
    """SIGKILL in the middle of writing a large message: nothing can clean up then, so later does."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pdmail", "--db", str(db_path), "bcc-ingest", "--mta"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    message = big_message()
    proc.stdin.write(message[: MAX_MESSAGE_SIZE + MB])  # past the limit: the spool file is being written
    proc.stdin.flush()
    deadline = time.time() + 60
    while not leftovers(db_path) and time.time() < deadline:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    (left,) = leftovers(db_path)
    old = time.time() - STALE_AFTER - 60
    os.utime(spool_folder(db_path) / left, (old, old))

    assert team("bcc-ingest", input=small_message()).exit_code == 0
    assert leftovers(db_path) == []
