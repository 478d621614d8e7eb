"""Smart BCC mail that was refused, kept with its reason until someone reviews it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pdmail.errors import not_found
from pdmail.identity import sha256_hex
from pdmail.models import User
from pdmail.store import spool
from pdmail.store.db import Database, now_utc
from pdmail.store.emails import get_raw, put_raw


@dataclass(frozen=True)
class Held:
    id: int
    received_utc: str
    source: str
    recipient: str | None
    size: int
    from_email: str | None
    subject: str | None
    reason: str
    status: str
    released_email_id: int | None
    raw_sha256: str | None
    spool_path: str | None

    def to_json(self) -> dict:
        return {"id": self.id, "received": self.received_utc, "source": self.source, "recipient": self.recipient,
                "size": self.size, "from": self.from_email, "subject": self.subject, "reason": self.reason,
                "status": self.status, "released_email_id": self.released_email_id}


def spool_dir(db: Database) -> Path:
    """Where messages too large for the database wait: beside it, readable by its owner only."""
    path = db.path.with_name(db.path.name + ".spool")
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def hold(db: Database, raw: bytes | None, *, source: str, recipient: str | None, reason: str,
         from_email: str | None, subject: str | None, spool_path: str | None = None, size: int | None = None,
         sha256: str | None = None) -> int:
    if raw is not None:
        sha256 = sha256_hex(raw)
        put_raw(db, sha256, raw)
        size = len(raw)
    return db.execute(
        "INSERT INTO quarantine (received_utc, source, recipient, raw_sha256, spool_path, size, from_email, subject, "
        "reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (now_utc(), source, recipient, sha256 if raw is not None else None, spool_path, size or 0,
         from_email, (subject or "")[:500] or None, reason),
    ).lastrowid


def _held(r) -> Held:
    return Held(r["id"], r["received_utc"], r["source"], r["recipient"], r["size"], r["from_email"], r["subject"],
                r["reason"], r["status"], r["released_email_id"], r["raw_sha256"], r["spool_path"])


def _visible_clause(viewer: User) -> tuple[str, tuple]:
    """Admins review everything; a user sees what was sent under one of their own addresses."""
    if viewer.is_admin:
        return "1", ()
    addresses = sorted(viewer.addresses)
    return f"from_email IN ({','.join('?' * len(addresses))})", tuple(addresses)


def list_held(db: Database, viewer: User, *, include_released: bool = False) -> list[Held]:
    clause, params = _visible_clause(viewer)
    status = "" if include_released else " AND status = 'held'"
    return [_held(r) for r in db.all(f"SELECT * FROM quarantine WHERE {clause}{status} ORDER BY id", params)]


def get(db: Database, qid: int, viewer: User) -> Held:
    clause, params = _visible_clause(viewer)
    row = db.one(f"SELECT * FROM quarantine WHERE id = ? AND {clause}", (qid, *params))
    if row is None:
        raise not_found("quarantined message", qid)
    return _held(row)


def raw_of(db: Database, item: Held) -> bytes:
    if item.raw_sha256:
        return get_raw(db, item.raw_sha256)
    return Path(item.spool_path).read_bytes()


def mark_released(db: Database, qid: int, email_id: int) -> None:
    db.execute("UPDATE quarantine SET status = 'released', released_email_id = ?, released_utc = ? WHERE id = ?",
               (email_id, now_utc(), qid))


def write_spool(db: Database, chunks) -> tuple[str, int, str]:
    """Stream an oversized message to the spool folder; returns (path, size, sha256)."""
    return spool.write(spool_dir(db), chunks)


def sweep_spool(db: Database) -> int:
    """Remove what killed writes left in the spool folder (see :mod:`pdmail.store.spool`)."""
    return spool.sweep(db.path.with_name(db.path.name + ".spool"))
