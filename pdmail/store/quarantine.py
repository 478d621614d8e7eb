"""Smart BCC mail that was refused, kept with its reason until someone reviews it.

One entry per message: the same bytes refused again (a re-run over the same folder, a mail server
delivering twice) find the entry they already have. An entry leaves the list when its message is
released, when the same bytes are stored another way (``status`` 'stored', set where email rows are
written), or when someone discards it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pdmail.core.errors import NotFound, UsageError, not_found
from pdmail.core.models import QuarantineStatus, User
from pdmail.core.records import Record
from pdmail.mime.fingerprint import sha256_hex
from pdmail.store import spool
from pdmail.store.db import Database, like_pattern, now_utc, page_clause
from pdmail.store.emails import forget_raw, get_raw, put_raw

PAGE_SIZE = 50


class Held(Record):
    id: int
    received_utc: str
    source: str
    recipient: str | None
    size: int
    from_email: str | None
    subject: str | None  # None when it is not the viewer's to see (see _is_own)
    subject_hidden: bool
    reason: str
    status: QuarantineStatus
    released_email_id: int | None
    raw_sha256: str | None
    spool_path: str | None
    owner_id: int | None

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "received_utc": self.received_utc,
            "source": self.source,
            "recipient": self.recipient,
            "size": self.size,
            "from": self.from_email,
            "subject": self.subject,
            "subject_hidden": self.subject_hidden,
            "reason": self.reason,
            "status": self.status,
            "released_email_id": self.released_email_id,
        }


class HeldPage(Record):
    items: list[Held]
    total: int
    page: int
    limit: int

    @property
    def has_more(self) -> bool:
        return self.page * self.limit < self.total


def spool_dir(db: Database) -> Path:
    """Where messages too large for the database wait: beside it, readable by its owner only."""
    db.require_writable()
    path = db.spool_folder()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def hold(
    db: Database,
    raw: bytes | None,
    *,
    source: str,
    recipient: str | None,
    reason: str,
    from_email: str | None,
    subject: str | None,
    spool_path: str | None = None,
    size: int | None = None,
    sha256: str | None = None,
    owner_id: int | None = None,
) -> int:
    """Keep a refused message; its entry's id. The same bytes already kept give the entry they have.

    ``owner_id``: whose mail it is when the source knows (a synced mailbox); else the sender decides.
    """
    content = sha256_hex(raw) if raw is not None else sha256
    if content is None:
        raise ValueError("a held message needs its bytes or their SHA-256")
    if db.capture_only:  # the mail server's login reads no quarantine: the database finds and keeps the entry
        entry = {"source": source, "recipient": recipient, "reason": reason, "from_email": from_email}
        return _hold_for_capture(db, raw, content, entry | {"subject": subject, "owner_id": owner_id}, spool_path, size)
    existing = db.one(
        "SELECT id FROM quarantine WHERE content_sha256 = ? ORDER BY status = 'held' DESC, id LIMIT 1", (content,)
    )
    if existing is not None:
        return existing["id"]
    if raw is not None:
        put_raw(db, content, raw)
        size = len(raw)
    return db.insert(
        "INSERT INTO quarantine (received_utc, source, recipient, content_sha256, raw_sha256, spool_path, size, "
        "from_email, subject, reason, owner_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            now_utc(),
            source,
            recipient,
            content,
            content if raw is not None else None,
            spool_path,
            size or 0,
            from_email,
            (subject or "")[:500] or None,
            reason,
            owner_id,
        ),
    )


def hold_message(
    db: Database,
    raw: bytes,
    *,
    source: str,
    recipient: str | None,
    reason: str,
    from_email: str | None,
    subject: str | None,
) -> tuple[int, int | None]:
    """:func:`hold` a refused message, and the email its bytes already became (:func:`stored_email`).

    The mail server's login asks both in one statement, its bytes sent ahead of it: a batch of
    refused mail then waits for the server once a message instead of three times."""
    if not db.capture_only:
        qid = hold(db, raw, source=source, recipient=recipient, reason=reason, from_email=from_email, subject=subject)
        return qid, stored_email(db, qid)
    content = sha256_hex(raw)
    fields = {"source": source, "recipient": recipient, "reason": reason, "from_email": from_email}
    entry = _capture_entry(fields | {"subject": subject, "owner_id": None}, content, True, None, len(raw))
    db.execute(  # what hold() writes first, only when the bytes have no entry yet
        "INSERT INTO raw_messages (sha256, size, data) SELECT ?, ?, ? WHERE pdmail_capture_held(?) IS NULL "
        "ON CONFLICT DO NOTHING",
        (content, len(raw), raw, content),
    )
    row = db.row(
        "SELECT id, pdmail_capture_held_email(id) FROM (SELECT coalesce(pdmail_capture_held(?), "
        "pdmail_capture_quarantine(CAST(? AS jsonb))) AS id OFFSET 0) AS entry",
        (content, json.dumps(entry, ensure_ascii=False)),
    )
    return row[0], row[1]


def _capture_entry(fields: dict, content: str, raw_kept: bool, spool_path: str | None, size: int | None) -> dict:
    """The quarantine row as ``pdmail_capture_quarantine`` takes it (``fields``: its source, recipient,
    reason, from_email, subject and owner_id)."""
    return fields | {
        "subject": (fields["subject"] or "")[:500] or None,
        "received_utc": now_utc(),
        "content_sha256": content,
        "raw_sha256": content if raw_kept else None,
        "spool_path": spool_path,
        "size": size or 0,
    }


def _hold_for_capture(
    db: Database, raw: bytes | None, content: str, fields: dict, spool_path: str | None, size: int | None
) -> int:
    """:func:`hold` for the mail server's login, through the database's functions: the same entry."""
    existing = db.scalar("SELECT pdmail_capture_held(?)", (content,))
    if existing is not None:
        return existing
    if raw is not None:
        put_raw(db, content, raw)
        size = len(raw)
    entry = _capture_entry(fields, content, raw is not None, spool_path, size)
    return db.scalar("SELECT pdmail_capture_quarantine(CAST(? AS jsonb))", (json.dumps(entry, ensure_ascii=False),))


def stored_email(db: Database, qid: int) -> int | None:
    """The email an entry's message became (released, or stored another way); None while it is held."""
    if db.capture_only:
        return db.scalar("SELECT pdmail_capture_held_email(?)", (qid,))
    return db.scalar("SELECT released_email_id FROM quarantine WHERE id = ? AND status != 'held'", (qid,))


def _is_own(row, viewer: User) -> bool:
    """The viewer's own refused mail: from their mailbox, or sent under one of their approved addresses."""
    if row["owner_id"] is not None:
        return row["owner_id"] == viewer.id
    return row["from_email"] is not None and row["from_email"] in viewer.addresses


def _held(r, viewer: User) -> Held:
    own = _is_own(r, viewer)
    return Held(
        r["id"],
        r["received_utc"],
        r["source"],
        r["recipient"],
        r["size"],
        r["from_email"],
        r["subject"] if own else None,
        bool(r["subject"]) and not own,
        r["reason"],
        r["status"],
        r["released_email_id"],
        r["raw_sha256"],
        r["spool_path"],
        r["owner_id"],
    )


def _visible_clause(viewer: User) -> tuple[str, tuple]:
    """Admins review everything (the subject only of their own); a user sees their own refused mail.

    Only approved addresses count (``viewer.addresses``): claiming an address gives no access to
    what was refused from it until an admin agrees that it is the user's.
    """
    if viewer.is_admin:
        return "TRUE", ()
    return _own_clause(viewer)


def _own_clause(viewer: User) -> tuple[str, tuple]:
    """The entries that are the viewer's own refused mail (see :func:`_is_own`), in SQL."""
    addresses = sorted(viewer.addresses)
    return (
        f"(owner_id = ? OR (owner_id IS NULL AND from_email IN ({','.join('?' * len(addresses))})))",
        (viewer.id, *addresses),
    )


def _search_clause(db: Database, viewer: User, search: str | None) -> tuple[str, tuple]:
    """Entries whose sender, recipient or reason holds ``search``, or whose subject does where the
    subject is the viewer's to see: a search never tells what a hidden subject says."""
    if not search:
        return "", ()
    pattern = like_pattern(search)
    own, own_params = _own_clause(viewer)
    like = f"{db.like} ? ESCAPE '\\'"
    return (
        f" AND (from_email {like} OR recipient {like} OR reason {like} OR ({own} AND subject {like}))",
        (pattern, pattern, pattern, *own_params, pattern),
    )


def list_held(
    db: Database,
    viewer: User,
    *,
    include_released: bool = False,
    page: int = 1,
    limit: int | None = PAGE_SIZE,
    search: str | None = None,
) -> HeldPage:
    """One page of the entries ``viewer`` may review, oldest first (``limit`` None: all of them)."""
    if page < 1 or (limit is not None and limit < 1):
        raise UsageError("--page and --limit must be at least 1")
    clause, params = _visible_clause(viewer)
    found, found_params = _search_clause(db, viewer, search)
    status = "" if include_released else " AND status = 'held'"
    where = f"WHERE {clause}{status}{found}"
    params = (*params, *found_params)
    total = db.scalar(f"SELECT count(*) FROM quarantine {where}", params)
    offset = 0 if limit is None else min((page - 1) * limit, total)  # past the end: an empty page
    tail, tail_params = page_clause(limit, offset)
    rows = db.all(f"SELECT * FROM quarantine {where} ORDER BY id{tail}", (*params, *tail_params))
    return HeldPage([_held(r, viewer) for r in rows], total, page, limit or max(total, 1))


def get(db: Database, qid: int, viewer: User) -> Held:
    clause, params = _visible_clause(viewer)
    row = db.one(f"SELECT * FROM quarantine WHERE id = ? AND {clause}", (qid, *params))
    if row is None:
        raise not_found("quarantined message", qid)
    return _held(row, viewer)


def raw_of(db: Database, item: Held) -> bytes:
    data = None
    if item.raw_sha256:
        data = get_raw(db, item.raw_sha256)
    elif item.spool_path:
        found = _spool_file(db, item.spool_path)
        data = found.read_bytes() if found is not None else None
    if data is None:
        raise NotFound(f"the bytes of quarantined message {item.id} are missing")
    return data


def _spool_file(db: Database, held: str) -> Path | None:
    """An entry's file: of that name in this database's own spool folder (a backup restored elsewhere
    brings its folder along), else at the path it names."""
    named = Path(held)
    beside = db.spool_folder() / named.name
    for path in (beside, named):
        if path.is_file():
            return path
    return None


def mark_released(db: Database, qid: int, email_id: int) -> None:
    db.execute(
        "UPDATE quarantine SET status = 'released', released_email_id = ?, released_utc = ? WHERE id = ?",
        (email_id, now_utc(), qid),
    )


# --- discarding -------------------------------------------------------------------------------


def discard(db: Database, viewer: User, qid: int) -> int:
    """Delete one held entry ``viewer`` may see, and its bytes unless something else still needs them."""
    clause, params = _visible_clause(viewer)
    with db.tx():
        row = db.one(f"SELECT * FROM quarantine WHERE id = ? AND status = 'held' AND {clause}", (qid, *params))
        if row is None:
            raise not_found("quarantined message", qid)
        spool = _forget(db, [row])
    _remove_files(spool)
    return qid


def discard_older(db: Database, viewer: User, before_utc: str) -> list[int]:
    """Delete every held entry ``viewer`` may see that arrived before ``before_utc``; their ids."""
    clause, params = _visible_clause(viewer)
    with db.tx():
        rows = db.all(
            f"SELECT * FROM quarantine WHERE status = 'held' AND received_utc < ? AND {clause} ORDER BY id",
            (before_utc, *params),
        )
        spool = _forget(db, rows)
    _remove_files(spool)
    return [r["id"] for r in rows]


def _forget(db: Database, rows) -> list[str]:
    """Delete the entries, and the raw bytes nothing else refers to; the spool files to delete after commit."""
    ids = [(r["id"],) for r in rows]
    db.executemany("DELETE FROM quarantine WHERE id = ?", ids)
    for sha in sorted({r["raw_sha256"] for r in rows if r["raw_sha256"]}):
        forget_raw(db, sha)
    return [
        path
        for path in sorted({r["spool_path"] for r in rows if r["spool_path"]})
        if not db.scalar("SELECT 1 FROM quarantine WHERE spool_path = ?", (path,))
    ]


def _remove_files(paths: list[str]) -> None:
    """After the commit: a crash before this leaves a file no entry names, never an entry without its file."""
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def write_spool(db: Database, chunks) -> tuple[str, int, str]:
    """Stream an oversized message to the spool folder; returns (path, size, sha256)."""
    return spool.write(spool_dir(db), chunks)


def sweep_spool(db: Database) -> int:
    """Remove what killed writes left in the spool folder (see :mod:`pdmail.store.spool`)."""
    return spool.sweep(db.spool_folder())
