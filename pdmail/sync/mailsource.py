"""What the sync loop needs from a mail store, whatever it is: an IMAP server or a local Maildir.

The loop speaks UIDs and UIDVALIDITY only. A source whose messages have names instead (a Maildir)
gets the UIDs it handed out earlier from the loop (``known_keys``) and numbers new names above them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol, TypeVar

ROLES = ("inbox", "sent", "archive", "trash", "junk", "other")
SEEN = "\\Seen"
DELETED = "\\Deleted"

_SKIPPED_ROLES = ("drafts", "flagged", "important")  # drafts, and views that only repeat other folders


def folder_roles(folders: Iterable[tuple[str, str | None, Iterable[str]]], provider=None) -> dict[str, str]:
    """Each folder's sync role from LIST's (name, delimiter, flags): SPECIAL-USE first, usual names after.

    Roles the engine does not sync (drafts, Gmail's flagged/important views) come back as
    "drafts"; Gmail's All Mail serves as the archive when no folder is flagged \\Archive.
    """
    from pdmail.accounts.providers import assign_roles

    folders = list(folders)
    by_role = assign_roles(folders, provider)
    if "archive" not in by_role and "all" in by_role:
        by_role["archive"] = by_role.pop("all")
    roles = {name: "other" for name, _, _ in folders}
    for role, name in by_role.items():
        roles[name] = "drafts" if role in _SKIPPED_ROLES or role == "all" else role
    return roles


@dataclass(frozen=True)
class FolderInfo:
    name: str
    role: str
    selectable: bool = True


@dataclass(frozen=True)
class Selected:
    uidvalidity: int
    uidnext: int | None
    highestmodseq: int | None  # None: the server has no CONDSTORE (or NOMODSEQ)
    exists: int


@dataclass(frozen=True)
class Fetched:
    uid: int
    raw: bytes
    flags: frozenset[str]
    internaldate: datetime | None
    key: str | None = None  # the message's name in a source without UIDs


class MailSource(Protocol):
    """One logged-in connection to a mail store. Raises TemporaryFailure on network trouble."""

    name_keyed: bool  # True when messages are files with names (Maildir), not server UIDs

    def folders(self) -> list[FolderInfo]: ...

    def select(self, name: str, known_keys: dict[str, int] | None = None, last_uid: int = 0) -> Selected: ...

    def uids(self, since: date | None = None) -> list[int]: ...

    def fetch(self, uids: list[int]) -> Iterator[Fetched]: ...

    def flags(self, uids: list[int] | None = None, changedsince: int | None = None) -> dict[int, frozenset[str]]: ...

    def message_ids(self, uids: list[int]) -> dict[int, str | None]: ...

    def key_of(self, uid: int) -> str | None: ...

    def add_flags(self, uids: list[int], flags: list[str]) -> None: ...

    def remove_flags(self, uids: list[int], flags: list[str]) -> None: ...

    def move(self, uids: list[int], folder: str) -> None: ...

    def close(self) -> None: ...


T = TypeVar("T")


def chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
