"""Messages that ``--past contacts`` left on the server, and who would have made them wanted.

A message is left out when it was in the mailbox before the account was added and involves no
contact. It is not forgotten: each one is kept here with its folder, UID and the addresses it
involves, so that a later sync fetches it as soon as one of those addresses belongs to a contact, or
the account's choice becomes "everyone", by a query over this table alone (no new look at the server).

Every function runs inside the caller's transaction, beside the location it goes with.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pdmail.store.db import Database


def remember(
    db: Database, folder_id: int, uidvalidity: int, uid: int, message_id_norm: str | None, addresses: Sequence[str]
) -> None:
    """Record one message left out as past (replacing what was known of it)."""
    forget(db, folder_id, uidvalidity, [uid])
    skip_id = db.insert(
        "INSERT INTO past_skips (folder_id, uidvalidity, uid, message_id_norm) VALUES (?, ?, ?, ?)",
        (folder_id, uidvalidity, uid, message_id_norm),
    )
    db.executemany(
        "INSERT INTO past_skip_addresses (skip_id, address) VALUES (?, ?) ON CONFLICT DO NOTHING",
        [(skip_id, address) for address in addresses],
    )


def forget(db: Database, folder_id: int, uidvalidity: int, uids: Iterable[int]) -> None:
    db.executemany(
        "DELETE FROM past_skips WHERE folder_id = ? AND uidvalidity = ? AND uid = ?",
        [(folder_id, uidvalidity, uid) for uid in uids],
    )


def forget_gone(db: Database, folder_id: int, gone: Iterable[tuple[int, int]]) -> None:
    """Messages no longer in the folder, as (uidvalidity, uid): nothing is left to fetch."""
    db.executemany(
        "DELETE FROM past_skips WHERE folder_id = ? AND uidvalidity = ? AND uid = ?",
        [(folder_id, uidvalidity, uid) for uidvalidity, uid in gone],
    )


def forget_other_numbering(db: Database, folder_id: int, uidvalidity: int) -> None:
    """The server renumbered the folder: its messages are judged again under their new UIDs."""
    db.execute("DELETE FROM past_skips WHERE folder_id = ? AND uidvalidity != ?", (folder_id, uidvalidity))


def to_fetch(db: Database, folder_id: int, uidvalidity: int, *, everyone: bool) -> list[int]:
    """UIDs left out as past that the account now wants: all of them with ``everyone``, else those
    involving a contact, and those an older version left out without saying who they involve."""
    if everyone:
        rows = db.all(
            "SELECT uid FROM past_skips WHERE folder_id = ? AND uidvalidity = ? ORDER BY uid", (folder_id, uidvalidity)
        )
    else:
        rows = db.all(
            "SELECT s.uid FROM past_skips s WHERE s.folder_id = ? AND s.uidvalidity = ? AND (s.recheck = 1 OR "
            "EXISTS (SELECT 1 FROM past_skip_addresses a JOIN contact_emails c ON c.email = a.address "
            "WHERE a.skip_id = s.id)) ORDER BY s.uid",
            (folder_id, uidvalidity),
        )
    return [r[0] for r in rows]


def left_out_elsewhere(db: Database, account_id: int, message_id_norm: str) -> bool:
    """Was this message left out as past in another folder of the account (so a copy here was moved)?"""
    return (
        db.one(
            "SELECT 1 FROM past_skips s JOIN sync_folders f ON f.id = s.folder_id "
            "WHERE s.message_id_norm = ? AND f.account_id = ? LIMIT 1",
            (message_id_norm, account_id),
        )
        is not None
    )


def count(db: Database, account_id: int) -> int:
    return db.scalar(
        "SELECT COUNT(*) FROM past_skips s JOIN sync_folders f ON f.id = s.folder_id WHERE f.account_id = ?",
        (account_id,),
    )
