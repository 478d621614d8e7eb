"""Helpers shared by the sync tests: a mailbox to sync, messages, and a canonical dump of sync state."""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

import pytest
from mailcorpus import message

OWNER = "maria@northwind.example"
_counter = itertools.count(1)


def mail(
    n: int,
    *,
    sender: str = "Jane Doe <jane@acme.example>",
    to: str = f"Maria Lopez <{OWNER}>",
    subject: str | None = None,
    message_id: str | None = None,
) -> bytes:
    """A distinct, ordinary customer message number ``n``."""
    return message(
        From=sender,
        To=to,
        Subject=subject or f"Order {n} for the spring catalogue",
        Date=f"Tue, 05 Mar 2024 10:{n % 60:02d}:00 +0100",
        Message_ID=message_id or f"<order-{n}@acme.example>",
        body=f"Hello Maria,\r\nplease confirm order {n}.\r\n",
    )


class Maildir:
    """A Maildir++ tree the way a mail server or mbsync keeps one; other programs change it behind our back."""

    SUBFOLDERS = ("Sent", "Archive", "Trash")

    def __init__(self, root: Path) -> None:
        self.root = root
        for folder in ("INBOX", *self.SUBFOLDERS):
            self.make(folder)

    def path(self, folder: str) -> Path:
        return self.root if folder == "INBOX" else self.root / f".{folder}"

    def make(self, folder: str) -> None:
        for sub in ("cur", "new", "tmp"):
            (self.path(folder) / sub).mkdir(parents=True, exist_ok=True)

    def put(self, folder: str, raw: bytes, flags: str = "", *, new: bool = False) -> str:
        key = f"{int(time.time())}.M{next(_counter):06d}P{os.getpid()}.host"
        if new:
            (self.path(folder) / "new" / key).write_bytes(raw)
        else:
            (self.path(folder) / "cur" / f"{key}:2,{flags}").write_bytes(raw)
        return key

    def files(self, folder: str) -> dict[str, str]:
        """key → flag letters, for every message in the folder."""
        out = {}
        for sub in ("new", "cur"):
            for name in os.listdir(self.path(folder) / sub):
                key, _, info = name.partition(":2,")
                out[key] = info
        return out

    def find(self, key: str) -> tuple[str, Path]:
        for folder in ("INBOX", *self.SUBFOLDERS):
            for sub in ("new", "cur"):
                for name in os.listdir(self.path(folder) / sub):
                    if name.partition(":2,")[0] == key:
                        return folder, self.path(folder) / sub / name
        raise KeyError(key)

    def set_flags(self, key: str, flags: str) -> None:
        folder, path = self.find(key)
        path.rename(self.path(folder) / "cur" / f"{key}:2,{flags}")

    def move(self, key: str, target: str) -> None:
        _, path = self.find(key)
        path.rename(self.path(target) / "cur" / path.name)

    def remove(self, key: str) -> None:
        self.find(key)[1].unlink()


def dump(db) -> dict:
    """Everything sync decides, keyed by content rather than row ids, so two runs can be compared."""
    emails = {}
    for r in db.all("SELECT e.*, t.subject_norm FROM emails e JOIN threads t ON t.id = e.thread_id"):
        contacts = sorted(x[0] for x in db.all("SELECT address FROM email_contacts WHERE email_id = ?", (r["id"],)))
        emails[r["fingerprint"]] = (
            r["message_id_norm"],
            r["folder"],
            r["is_read"],
            r["is_deleted"],
            r["source"],
            r["direction"],
            r["subject_norm"],
            r["deal_id"],
            tuple(contacts),
        )
    fingerprint = {r["id"]: r["fingerprint"] for r in db.all("SELECT id, fingerprint FROM emails")}
    locations = sorted(
        (
            r["name"],
            r["uidvalidity"],
            r["uid"],
            r["source_key"] or "",
            fingerprint.get(r["email_id"], ""),
            r["flags"],
            r["is_gone"],
        )
        for r in db.all("SELECT l.*, f.name FROM locations l JOIN sync_folders f ON f.id = l.folder_id")
    )
    folders = sorted(
        (r["name"], r["role"], r["uidvalidity"], r["last_uid"], r["highestmodseq"], r["is_missing"])
        for r in db.all("SELECT * FROM sync_folders")
    )
    ops = sorted((fingerprint[r["email_id"]], r["kind"], r["status"]) for r in db.all("SELECT * FROM pending_ops"))
    failures = db.scalar("SELECT COUNT(*) FROM fetch_failures")
    threads = db.scalar("SELECT COUNT(*) FROM threads WHERE id IN (SELECT thread_id FROM emails)")
    return {
        "emails": emails,
        "locations": locations,
        "folders": folders,
        "ops": ops,
        "failures": failures,
        "threads": threads,
    }


@pytest.fixture
def world(company, db_path, tmp_path):
    """Maria's database and a local Maildir account of hers: (db, maria, box, account)."""
    from pdmail.store import accounts as accounts_store
    from pdmail.store import open_db
    from pdmail.store.users import find_user

    db = open_db(db_path)
    maria = find_user(db, OWNER)
    box = Maildir(tmp_path / "Mail")
    account = accounts_store.add_account(
        db, maria, name="local", kind="maildir", address=OWNER, maildir_path=str(box.root)
    )
    yield db, maria, box, account
    db.close()


def run(db, account, **options):
    from pdmail.sync import engine as sync

    return sync.sync_account(db, account, sync.SyncOptions(**options))
