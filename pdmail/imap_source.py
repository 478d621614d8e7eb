"""An IMAP account as a mail source for the sync loop, over ``imap.ImapSession``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timezone

from pdmail.mailsource import Fetched, FolderInfo, Selected, chunks

HEADER_CHUNK = 500
_VOLATILE = {"\\recent"}  # session-only flags: they would read as changes on every run
_ROLE_OF = {"inbox": "inbox", "sent": "sent", "archive": "archive", "trash": "trash", "junk": "junk"}
_NOT_SYNCED = ("drafts", "flagged", "important")


def _flags(values) -> frozenset[str]:
    return frozenset(f for f in values if f.lower() not in _VOLATILE)


class ImapSource:
    name_keyed = False

    def __init__(self, session) -> None:
        self.session = session

    @classmethod
    def connect(cls, account) -> ImapSource:
        from pdmail import imap

        return cls(imap.connect(account))

    @property
    def condstore(self) -> bool:
        return self.session.condstore

    def folders(self) -> list[FolderInfo]:
        listed = self.session.folders()
        has_archive = any(f.role == "archive" for f in listed)
        out = []
        for f in listed:
            if f.role in _NOT_SYNCED or (f.role == "all" and has_archive):
                role = "drafts"
            elif f.role == "all":
                role = "archive"  # Gmail: All Mail is where archived mail lives
            else:
                role = _ROLE_OF.get(f.role or "", "other")
            out.append(FolderInfo(f.name, role, f.selectable))
        return out

    def select(self, name: str, known_keys: dict[str, int] | None = None, last_uid: int = 0) -> Selected:
        info = self.session.select(name)
        # A mod-sequence is only usable when CONDSTORE is offered (CHANGEDSINCE needs it).
        modseq = info.highestmodseq if self.session.condstore else None
        return Selected(info.uidvalidity, info.uidnext, modseq, info.exists)

    def uids(self, since: date | None = None) -> list[int]:
        if since is None:
            return self.session.search_uids()
        return self.session.search_uids(since=datetime(since.year, since.month, since.day, tzinfo=timezone.utc))

    def fetch(self, uids: list[int]) -> Iterator[Fetched]:
        for item in self.session.fetch_bodies(uids):
            yield Fetched(item.uid, item.raw, _flags(item.flags), item.internaldate)

    def flags(self, uids: list[int] | None = None, changedsince: int | None = None) -> dict[int, frozenset[str]]:
        if uids is None:
            uids = self.session.search_uids()
        if not uids:
            return {}
        found = self.session.fetch_flags(uids, changedsince=changedsince)
        return {uid: _flags(flags) for uid, (flags, _modseq) in found.items()}

    def message_ids(self, uids: list[int]) -> dict[int, str | None]:
        from email.parser import BytesHeaderParser

        item = "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"
        out: dict[int, str | None] = {}
        for part in chunks(uids, HEADER_CHUNK):
            for uid, row in self.session._fetch(part, [item]).items():
                head = next((v for k, v in row.items() if k.startswith(b"BODY[HEADER")), None)
                if head is not None:
                    out[uid] = BytesHeaderParser().parsebytes(bytes(head)).get("Message-ID")
        return out

    def key_of(self, uid: int) -> str | None:
        return None

    def add_flags(self, uids: list[int], flags: list[str]) -> None:
        self.session.add_flags(uids, flags)

    def remove_flags(self, uids: list[int], flags: list[str]) -> None:
        self.session.remove_flags(uids, flags)

    def move(self, uids: list[int], folder: str) -> None:
        self.session.move(uids, folder)

    def close(self) -> None:
        self.session.close()
