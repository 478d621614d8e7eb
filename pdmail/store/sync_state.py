"""Sync state in SQL: server folders and their cursors, where each email sits, local intents, runs.

Every function here runs inside the caller's transaction; the sync loop decides where commits fall,
so that a folder's cursor is written together with the messages it covers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pdmail.core.models import User
from pdmail.store.db import Database, now_utc

EMAIL_FOLDER_OF_ROLE = {
    "inbox": "inbox",
    "sent": "sent",
    "archive": "archive",
    "other": "archive",
    "trash": "trash",
    "junk": "trash",
}
FLAG_OPS = ("read", "unread")
PLACE_OPS = ("archive", "delete", "restore")


@dataclass(frozen=True)
class FolderState:
    id: int
    account_id: int
    name: str
    role: str
    uidvalidity: int | None
    last_uid: int
    highestmodseq: int | None
    last_full_scan_utc: str | None
    is_missing: bool
    last_error: str | None
    uidnext: int | None = None
    exists_count: int | None = None
    past_uidnext: int | None = None  # UIDNEXT when pdmail first looked: UIDs from here on arrived later


@dataclass(frozen=True)
class Location:
    id: int
    folder_id: int
    uidvalidity: int
    uid: int
    source_key: str | None
    email_id: int | None
    flags: frozenset[str]
    is_gone: bool


@dataclass(frozen=True)
class PendingOp:
    id: int
    account_id: int
    email_id: int
    kind: str
    status: str
    attempts: int


def flags_text(flags: Iterable[str]) -> str:
    return " ".join(sorted(set(flags)))


def _flags(text: str) -> frozenset[str]:
    return frozenset(text.split())


# --- local intents ------------------------------------------------------------------------------


def enqueue_for_email(db: Database, user: User, email_id: int, kind: str) -> None:
    """Queue ``kind`` for each account holding a server copy of the email; a newer intent replaces an older one.

    Read/unread replace each other, as do archive/delete/restore, so a queue never replays a
    change the user already took back.
    """
    if kind not in FLAG_OPS + PLACE_OPS:
        raise ValueError(f"unknown pending operation {kind!r}")
    accounts = [
        r[0]
        for r in db.all(
            "SELECT DISTINCT f.account_id FROM locations l JOIN sync_folders f ON f.id = l.folder_id "
            "JOIN accounts a ON a.id = f.account_id "
            "WHERE l.email_id = ? AND l.is_gone = 0 AND a.owner_id = ?",
            (email_id, user.id),
        )
    ]
    family = FLAG_OPS if kind in FLAG_OPS else PLACE_OPS
    stamp = now_utc()
    marks = ",".join("?" * len(family))
    for account_id in accounts:
        db.execute(
            f"UPDATE pending_ops SET status = 'superseded', updated_utc = ? WHERE account_id = ? AND email_id = ? "
            f"AND status = 'pending' AND kind IN ({marks})",
            (stamp, account_id, email_id, *family),
        )
        db.execute(
            "INSERT INTO pending_ops (account_id, email_id, kind, created_utc, updated_utc) VALUES (?, ?, ?, ?, ?)",
            (account_id, email_id, kind, stamp, stamp),
        )


def open_ops(db: Database, account_id: int) -> list[PendingOp]:
    rows = db.all(
        "SELECT id, account_id, email_id, kind, status, attempts FROM pending_ops "
        "WHERE account_id = ? AND status IN ('pending', 'inflight') ORDER BY id",
        (account_id,),
    )
    return [PendingOp(r["id"], r["account_id"], r["email_id"], r["kind"], r["status"], r["attempts"]) for r in rows]


def start_op(db: Database, op_id: int) -> None:
    db.execute(
        "UPDATE pending_ops SET status = 'inflight', attempts = attempts + 1, updated_utc = ? WHERE id = ?",
        (now_utc(), op_id),
    )


def finish_op(db: Database, op_id: int, status: str, error: str | None = None) -> None:
    db.execute(
        "UPDATE pending_ops SET status = ?, last_error = ?, updated_utc = ? WHERE id = ?",
        (status, error, now_utc(), op_id),
    )


def emails_with_open_ops(db: Database, account_id: int) -> set[int]:
    return {
        r[0]
        for r in db.all(
            "SELECT DISTINCT email_id FROM pending_ops WHERE account_id = ? AND status IN ('pending', 'inflight')",
            (account_id,),
        )
    }


# --- folders ------------------------------------------------------------------------------------


def _folder(r) -> FolderState:
    return FolderState(
        r["id"],
        r["account_id"],
        r["name"],
        r["role"],
        r["uidvalidity"],
        r["last_uid"],
        r["highestmodseq"],
        r["last_full_scan_utc"],
        bool(r["is_missing"]),
        r["last_error"],
        r["uidnext"],
        r["exists_count"],
        r["past_uidnext"],
    )


def list_folders(db: Database, account_id: int) -> list[FolderState]:
    return [_folder(r) for r in db.all("SELECT * FROM sync_folders WHERE account_id = ? ORDER BY id", (account_id,))]


def get_folder(db: Database, folder_id: int) -> FolderState:
    return _folder(db.one("SELECT * FROM sync_folders WHERE id = ?", (folder_id,)))


def ensure_folder(db: Database, account_id: int, name: str, role: str) -> FolderState:
    db.execute(
        "INSERT INTO sync_folders (account_id, name, role) VALUES (?, ?, ?) "
        "ON CONFLICT (account_id, name) DO UPDATE SET role = excluded.role, is_missing = 0",
        (account_id, name, role),
    )
    return _folder(db.one("SELECT * FROM sync_folders WHERE account_id = ? AND name = ?", (account_id, name)))


def mark_missing(db: Database, account_id: int, present: Sequence[str]) -> list[str]:
    """Folders the server no longer lists: flagged, their messages kept."""
    gone = [f.name for f in list_folders(db, account_id) if f.name not in present and not f.is_missing]
    for name in gone:
        db.execute("UPDATE sync_folders SET is_missing = 1 WHERE account_id = ? AND name = ?", (account_id, name))
    return gone


def reset_validity(db: Database, folder_id: int, uidvalidity: int) -> None:
    """A first look, or the server renumbered the folder: every cursor starts again, the arrival
    boundary included (the sync loop sets it again from this numbering's UIDNEXT)."""
    db.execute(
        "UPDATE sync_folders SET uidvalidity = ?, last_uid = 0, highestmodseq = NULL, past_uidnext = NULL WHERE id = ?",
        (uidvalidity, folder_id),
    )


def set_past_boundary(db: Database, folder_id: int, uidnext: int) -> None:
    db.execute("UPDATE sync_folders SET past_uidnext = ? WHERE id = ?", (uidnext, folder_id))


def set_cursor(
    db: Database,
    folder_id: int,
    *,
    last_uid: int | None = None,
    highestmodseq: int | None = None,
    full_scan: bool = False,
    uidnext: int | None = None,
    exists: int | None = None,
) -> None:
    if uidnext is not None or exists is not None:
        db.execute("UPDATE sync_folders SET uidnext = ?, exists_count = ? WHERE id = ?", (uidnext, exists, folder_id))
    if last_uid is not None:
        db.execute(
            "UPDATE sync_folders SET last_uid = CASE WHEN last_uid < :uid THEN :uid ELSE last_uid END WHERE id = :id",
            {"uid": last_uid, "id": folder_id},
        )
    if highestmodseq is not None:
        db.execute("UPDATE sync_folders SET highestmodseq = ? WHERE id = ?", (highestmodseq, folder_id))
    if full_scan:
        db.execute("UPDATE sync_folders SET last_full_scan_utc = ? WHERE id = ?", (now_utc(), folder_id))


def set_folder_error(db: Database, folder_id: int, error: str | None) -> None:
    db.execute("UPDATE sync_folders SET last_error = ? WHERE id = ?", (error, folder_id))


# --- locations ----------------------------------------------------------------------------------


def _location(r) -> Location:
    return Location(
        r["id"],
        r["folder_id"],
        r["uidvalidity"],
        r["uid"],
        r["source_key"],
        r["email_id"],
        _flags(r["flags"]),
        bool(r["is_gone"]),
    )


def present_locations(db: Database, folder_id: int) -> list[Location]:
    return [
        _location(r)
        for r in db.all(
            "SELECT * FROM locations WHERE folder_id = ? AND is_gone = 0 ORDER BY uidvalidity, uid", (folder_id,)
        )
    ]


def known_uids(db: Database, folder_id: int, uidvalidity: int) -> set[int]:
    """UIDs already recorded (stored, skipped or failed) under this UIDVALIDITY."""
    rows = db.all(
        "SELECT uid FROM locations WHERE folder_id = ? AND uidvalidity = ? "
        "UNION SELECT uid FROM fetch_failures WHERE folder_id = ? AND uidvalidity = ?",
        (folder_id, uidvalidity, folder_id, uidvalidity),
    )
    return {r[0] for r in rows}


def known_keys(db: Database, folder_id: int, uidvalidity: int) -> dict[str, int]:
    """For sources whose messages have names rather than UIDs: the UID each name was given."""
    rows = db.all(
        "SELECT source_key, uid FROM locations WHERE folder_id = ? AND uidvalidity = ? "
        "AND source_key IS NOT NULL "
        "UNION SELECT source_key, uid FROM fetch_failures WHERE folder_id = ? AND uidvalidity = ? "
        "AND source_key IS NOT NULL",
        (folder_id, uidvalidity, folder_id, uidvalidity),
    )
    return {r[0]: r[1] for r in rows}


_ADD_LOCATION = (
    "INSERT INTO locations (folder_id, uidvalidity, uid, source_key, email_id, flags, modseq, updated_utc) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (folder_id, uidvalidity, uid) DO UPDATE SET "
    "email_id = COALESCE(excluded.email_id, locations.email_id), flags = excluded.flags, is_gone = 0, "
    "updated_utc = excluded.updated_utc"
)


def add_location(
    db: Database,
    folder_id: int,
    uidvalidity: int,
    uid: int,
    email_id: int | None,
    flags: Iterable[str],
    *,
    source_key: str | None = None,
    modseq: int | None = None,
) -> None:
    db.execute(_ADD_LOCATION, (folder_id, uidvalidity, uid, source_key, email_id, flags_text(flags), modseq, now_utc()))


@dataclass(frozen=True)
class NewLocation:
    uid: int
    email_id: int | None
    flags: frozenset[str]
    source_key: str | None = None


def add_locations(db: Database, folder_id: int, uidvalidity: int, found: Iterable[NewLocation]) -> None:
    """:func:`add_location` for a whole batch in one statement: the foreign-key checks of a single-row
    insert cost several times the insert itself amid a batch's other writes."""
    stamp = now_utc()
    db.executemany(
        _ADD_LOCATION,
        [(folder_id, uidvalidity, n.uid, n.source_key, n.email_id, flags_text(n.flags), None, stamp) for n in found],
    )


def set_location_flags(db: Database, location_id: int, flags: Iterable[str], modseq: int | None = None) -> None:
    db.execute(
        "UPDATE locations SET flags = ?, modseq = COALESCE(?, modseq), updated_utc = ? WHERE id = ?",
        (flags_text(flags), modseq, now_utc(), location_id),
    )


def mark_gone(db: Database, location_ids: Iterable[int]) -> None:
    stamp = now_utc()
    db.executemany("UPDATE locations SET is_gone = 1, updated_utc = ? WHERE id = ?", [(stamp, i) for i in location_ids])


def is_lost(db: Database, email_id: int, leaving: set[int]) -> bool:
    """Would the email be left on no server folder (and it is not in the trash already)?"""
    row = email_state(db, email_id)
    if row is None or row["folder"] == "trash":
        return False
    ids = [r[0] for r in db.all("SELECT id FROM locations WHERE email_id = ? AND is_gone = 0", (email_id,))]
    return all(i in leaving for i in ids)


def email_locations(db: Database, account_id: int, email_id: int) -> list[tuple[Location, FolderState]]:
    """Present server copies of an email in one account, with their folders."""
    rows = db.all(
        "SELECT l.*, f.id AS f_id FROM locations l JOIN sync_folders f ON f.id = l.folder_id "
        "WHERE f.account_id = ? AND l.email_id = ? AND l.is_gone = 0 AND f.uidvalidity = l.uidvalidity "
        "ORDER BY l.id",
        (account_id, email_id),
    )
    return [(_location(r), get_folder(db, r["f_id"])) for r in rows]


def emails_by_message_id(db: Database, folder_id: int) -> dict[str, int]:
    """Message-ID → email for the emails this folder held before its UIDVALIDITY changed."""
    rows = db.all(
        "SELECT e.message_id_norm, MIN(e.id), COUNT(DISTINCT e.id) FROM locations l JOIN emails e ON e.id = l.email_id "
        "WHERE l.folder_id = ? AND e.message_id_norm IS NOT NULL GROUP BY e.message_id_norm",
        (folder_id,),
    )
    return {r[0]: r[1] for r in rows if r[2] == 1}


# --- emails as sync sees them --------------------------------------------------------------------


def email_state(db: Database, email_id: int):
    return db.one("SELECT id, folder, is_read, is_deleted, direction FROM emails WHERE id = ?", (email_id,))


def set_email_read(db: Database, email_id: int, read: bool) -> bool:
    return (
        db.execute(
            "UPDATE emails SET is_read = ? WHERE id = ? AND is_read != ?", (int(read), email_id, int(read))
        ).rowcount
        > 0
    )


def settle_email(db: Database, email_id: int) -> str | None:
    """Put an email in the folder its server copies say; 'deleted' when none is left, 'moved', or None.

    A message gone from every folder is tombstoned (trash, restorable, links kept), never removed.
    """
    row = email_state(db, email_id)
    if row is None:
        return None
    roles = {
        r[0]
        for r in db.all(
            "SELECT f.role FROM locations l JOIN sync_folders f ON f.id = l.folder_id "
            "WHERE l.email_id = ? AND l.is_gone = 0 AND f.is_missing = 0",
            (email_id,),
        )
    }
    if not roles:
        target = "trash"
    else:
        target = next(
            EMAIL_FOLDER_OF_ROLE[r] for r in ("inbox", "sent", "archive", "other", "trash", "junk") if r in roles
        )
    if row["folder"] == target and bool(row["is_deleted"]) == (target == "trash"):
        return None
    db.execute("UPDATE emails SET folder = ?, is_deleted = ? WHERE id = ?", (target, int(target == "trash"), email_id))
    if row["folder"] == target:
        return None
    return "deleted" if target == "trash" else "moved"


# --- fetch failures -----------------------------------------------------------------------------


def record_failure(
    db: Database, folder_id: int, uidvalidity: int, uid: int, reason: str, source_key: str | None = None
) -> None:
    stamp = now_utc()
    db.execute(
        "INSERT INTO fetch_failures (folder_id, uidvalidity, uid, source_key, reason, first_utc, last_utc) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (folder_id, uidvalidity, uid) DO UPDATE SET "
        "reason = excluded.reason, attempts = fetch_failures.attempts + 1, last_utc = excluded.last_utc",
        (folder_id, uidvalidity, uid, source_key, reason[:500], stamp, stamp),
    )


def clear_failure(db: Database, folder_id: int, uidvalidity: int, uid: int) -> None:
    db.execute(
        "DELETE FROM fetch_failures WHERE folder_id = ? AND uidvalidity = ? AND uid = ?", (folder_id, uidvalidity, uid)
    )


def failures_to_retry(db: Database, folder_id: int, uidvalidity: int) -> list[int]:
    return [
        r[0]
        for r in db.all(
            "SELECT uid FROM fetch_failures WHERE folder_id = ? AND uidvalidity = ? ORDER BY uid",
            (folder_id, uidvalidity),
        )
    ]


# --- runs ---------------------------------------------------------------------------------------


def start_run(db: Database, account_id: int) -> int:
    return db.insert("INSERT INTO sync_runs (account_id, started_utc) VALUES (?, ?)", (account_id, now_utc()))


def note_progress(
    db: Database, run_id: int, *, new: int, updated: int, deleted: int, skipped: int, errors: int
) -> None:
    """In the transaction of each commit: what the run has kept so far, in case it never finishes."""
    db.execute(
        "UPDATE sync_runs SET progress_utc = ?, new = ?, updated = ?, deleted = ?, skipped = ?, errors = ? "
        "WHERE id = ?",
        (now_utc(), new, updated, deleted, skipped, errors, run_id),
    )


ABANDONED = (
    "ended without finishing (killed, or the machine stopped); everything it committed is kept "
    "and the next run goes on from there"
)


def close_abandoned_runs(db: Database, account_id: int) -> None:
    """Under the account's lock, a run still marked running is one that was killed: say so."""
    db.execute(
        "UPDATE sync_runs SET outcome = 'interrupted', message = ? WHERE account_id = ? AND outcome = 'running'",
        (ABANDONED, account_id),
    )


def finish_run(
    db: Database,
    run_id: int,
    outcome: str,
    *,
    new: int,
    updated: int,
    deleted: int,
    skipped: int,
    errors: int,
    message: str | None,
    folder_errors: dict[str, str],
) -> None:
    db.execute(
        "UPDATE sync_runs SET finished_utc = ?, outcome = ?, new = ?, updated = ?, deleted = ?, skipped = ?, "
        "errors = ?, message = ?, folder_errors_json = ? WHERE id = ?",
        (
            now_utc(),
            outcome,
            new,
            updated,
            deleted,
            skipped,
            errors,
            message,
            json.dumps(folder_errors, ensure_ascii=False),
            run_id,
        ),
    )


def run_json(row: dict | None) -> dict | None:
    """A ``sync_runs`` row as ``account list`` shows it: counts, outcome, and each folder's error."""
    if row is None:
        return None
    return {
        "started_utc": row["started_utc"],
        "finished_utc": row["finished_utc"],
        "outcome": row["outcome"],
        "last_commit_utc": row.get("progress_utc"),
        "new": row["new"],
        "updated": row["updated"],
        "deleted": row["deleted"],
        "skipped": row["skipped"],
        "error_count": row["errors"],  # how many; `errors` is always a list (docs/spec.md, "JSON shapes")
        "message": row["message"],
        "folder_errors": json.loads(row["folder_errors_json"] or "{}"),
    }
