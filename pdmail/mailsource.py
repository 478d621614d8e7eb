"""What the sync loop needs from a mail store, whatever it is: an IMAP server or a local Maildir.

The loop speaks UIDs and UIDVALIDITY only. A source whose messages have names instead (a Maildir)
gets the UIDs it handed out earlier from the loop (``known_keys``) and numbers new names above them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

ROLES = ("inbox", "sent", "archive", "trash", "junk", "other")
SKIPPED_BY_DEFAULT = ("junk",)
SEEN = "\\Seen"
DELETED = "\\Deleted"

_ROLE_NAMES = {
    "sent": {"sent", "sent items", "sent messages", "sent mail", "gesendet", "envoyés", "enviados"},
    "archive": {"archive", "archives", "all mail", "archiv"},
    "trash": {"trash", "deleted items", "deleted messages", "bin", "papierkorb", "corbeille", "papelera"},
    "junk": {"junk", "spam", "junk e-mail", "junk email", "bulk mail"},
}
_SPECIAL_USE = {"\\sent": "sent", "\\archive": "archive", "\\all": "archive", "\\trash": "trash",
                "\\junk": "junk"}


def role_of(name: str, special_use: Iterable[str] = (), delimiter: str | None = "/") -> str:
    """The folder's role: special-use attributes first (localized names), then the usual English names."""
    if name.upper() == "INBOX":
        return "inbox"
    for flag in special_use:
        role = _SPECIAL_USE.get(str(flag).lower())
        if role:
            return role
    leaf = name.rsplit(delimiter, 1)[-1] if delimiter else name
    leaf = re.sub(r"^\[(gmail|google mail)\]\W*", "", leaf, flags=re.I).strip().lower()
    for role, names in _ROLE_NAMES.items():
        if leaf in names:
            return role
    return "other"


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


def chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
