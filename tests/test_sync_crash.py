"""Interrupt a sync at every commit and every server change, resume, and get the uninterrupted result.

After mbsync's own harness: one scenario (new mail, server flag changes, a move, a deletion, and
local read/unread/archive/delete waiting to be pushed) run once uninterrupted for reference, then
for every checkpoint k: start from the same state, stop the run at k, run again, compare.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from syncworld import OWNER, Maildir, dump, mail

from pdmail.mailbox import actions
from pdmail.store import accounts as accounts_store
from pdmail.store import open_db
from pdmail.store.users import find_user
from pdmail.sync import engine as sync

pytestmark = pytest.mark.both_engines

BATCH = 2  # small batches: many commit points


class Crash(BaseException):
    """Stands for the process dying: nothing after it runs in the sync loop."""


def _eid(db, n):
    return db.scalar("SELECT id FROM emails WHERE message_id_norm = ?", (f"order-{n}@acme.example",))


@pytest.fixture
def start(company, db_path, tmp_path, copy_db):
    """A synced mailbox that then changed on both sides: (the folder holding the Maildir, a copy of
    the database as it then was)."""
    base = tmp_path / "start"
    base.mkdir()
    db = open_db(db_path)
    maria = find_user(db, OWNER)
    box = Maildir(base / "Mail")
    keys = {n: box.put("INBOX", mail(n), "S" if n % 3 == 0 else "") for n in range(1, 9)}
    keys[9] = box.put("Archive", mail(9), "S")
    keys[10] = box.put("Sent", mail(10, sender=f"Maria Lopez <{OWNER}>", to="Jane Doe <jane@acme.example>"), "S")
    account = accounts_store.add_account(
        db, maria, name="local", kind="maildir", address=OWNER, maildir_path=str(box.root)
    )
    assert sync.sync_account(db, account, sync.SyncOptions(batch=BATCH)).exit_code == 0
    # The other mail client: new mail, flags, a move, a deletion.
    for n in range(11, 16):
        box.put("INBOX", mail(n), new=n % 2 == 0)
    box.put("Sent", mail(16, sender=f"Maria Lopez <{OWNER}>", to="Jane Doe <jane@acme.example>"), "S")
    box.set_flags(keys[1], "S")
    box.set_flags(keys[3], "")
    box.move(keys[2], "Archive")
    box.remove(keys[4])
    # Here: read, unread, archive, delete waiting for the server.
    actions.set_read(db, maria, _eid(db, 5), True)
    actions.set_read(db, maria, _eid(db, 6), False)
    actions.archive(db, maria, _eid(db, 7))
    actions.delete(db, maria, _eid(db, 8))
    actions.set_read(db, maria, _eid(db, 9), False)
    db.close()
    return base, copy_db(db_path, base / "pdmail.db")


@pytest.fixture
def fresh(start, copy_db):
    """``fresh(to)``: the start's Maildir and database copied under the folder ``to``: (db, its --db target, Maildir)."""
    base, database = start

    def copy(to: Path):
        shutil.copytree(base / "Mail", to / "Mail")
        target = copy_db(database, to / "pdmail.db")
        db = open_db(target)
        with db.tx():
            db.execute("UPDATE accounts SET maildir_path = ?", (str(to / "Mail"),))
        return db, target, Maildir(to / "Mail")

    return copy


def _mailbox(box: Maildir) -> dict:
    return {folder: box.files(folder) for folder in ("INBOX", *Maildir.SUBFOLDERS)}


def _run(db, hook=None):
    account = accounts_store.list_accounts(db, find_user(db, OWNER))[0]
    return sync.sync_account(db, account, sync.SyncOptions(batch=BATCH, checkpoint=hook))


@pytest.mark.parametrize("overlapped", [False, True], ids=["in-order", "overlapped"])
def test_every_interruption_point_converges_to_the_uninterrupted_result(fresh, tmp_path, monkeypatch, overlapped):
    if overlapped:  # parsing in worker processes while the next batch downloads, as for a big mailbox
        monkeypatch.setattr(sync, "PARALLEL_FROM", 1)
    db, _, box = fresh(tmp_path / "reference")
    points = []
    result = _run(db, lambda kind, n: points.append(kind))
    assert result.exit_code == 0, result.errors
    assert (result.new, result.deleted) == (6, 1)
    reference, reference_box = dump(db), _mailbox(box)
    assert _run(db).new == 0 and dump(db) == reference  # idempotent
    db.close()
    assert len(points) >= 15 and "server" in points

    for k in range(1, len(points) + 1):
        db, _, box = fresh(tmp_path / f"crash-{k}")

        def crash_at(kind, n, k=k):
            if n == k:
                raise Crash(f"{kind} {n}")

        with pytest.raises(Crash):
            _run(db, crash_at)
        resumed = _run(db)
        assert resumed.exit_code == 0, (k, resumed.errors)
        assert dump(db) == reference, f"interrupted at checkpoint {k} ({points[k - 1]})"
        assert _mailbox(box) == reference_box, f"interrupted at checkpoint {k} ({points[k - 1]})"
        again = _run(db)
        assert (again.new, again.updated, again.deleted) == (0, 0, 0) and dump(db) == reference
        db.close()


def test_a_killed_process_resumes_without_loss_or_duplicate(fresh, tmp_path):
    db, _, box = fresh(tmp_path / "reference")
    _run(db)
    reference, reference_box = dump(db), _mailbox(box)
    db.close()
    for k in (1, 4, 9):
        where = tmp_path / f"killed-{k}"
        db, target, box = fresh(where)
        db.close()
        env = {**os.environ, "PDMAIL_DB": str(target), "PDMAIL_CRASH_AT": f"any:{k}"}
        killed = subprocess.run(
            [sys.executable, "-m", "pdmail", "sync", "--user", OWNER], env=env, capture_output=True, text=True
        )
        assert killed.returncode == 137, killed.stderr
        env.pop("PDMAIL_CRASH_AT")
        resumed = subprocess.run(
            [sys.executable, "-m", "pdmail", "sync", "--user", OWNER], env=env, capture_output=True, text=True
        )
        assert resumed.returncode == 0, resumed.stderr
        db = open_db(target)
        assert dump(db) == reference, f"killed at checkpoint {k}"
        assert _mailbox(box) == reference_box
        db.close()
