"""An IMAP account as a mail source for the sync loop, over ``imap.ImapSession``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timezone
from functools import partial

from pdmail.sync.mailsource import Fetched, FolderInfo, Selected, chunks

HEADER_CHUNK = 500
_VOLATILE = {"\\recent"}  # session-only flags: they would read as changes on every run
_ROLE_OF = {"inbox": "inbox", "sent": "sent", "archive": "archive", "trash": "trash", "junk": "junk"}
_NOT_SYNCED = ("drafts", "flagged", "important")


def _flags(values) -> frozenset[str]:
    return frozenset(f for f in values if f.lower() not in _VOLATILE)


def _plain_time(moment: datetime | None) -> datetime | None:
    """The same moment with the standard library's time zone: imapclient's own cannot be unpickled,
    and a fetched message travels between processes."""
    offset = None if moment is None else moment.utcoffset()
    if moment is None or offset is None:
        return moment
    return moment.replace(tzinfo=timezone(offset))


class ImapSource:
    name_keyed = False

    def __init__(self, session, account=None, secret: str | None = None) -> None:
        self.session = session
        # Kept for the run, in memory only, so that download processes log in without asking the
        # password command (or token helper) again.
        self._login = (account, secret) if account is not None and secret is not None else None

    @classmethod
    def connect(cls, account) -> ImapSource:
        from pdmail.accounts import imap
        from pdmail.accounts.secrets import secret_for

        secret = secret_for(account)  # first: a password command may prompt for longer than a server waits
        return cls(imap.connect(account, secret=secret), account, secret)

    def reader(self, folder: str, uidvalidity: int) -> Callable[[], ImapSource] | None:
        """How another process opens its own connection on ``folder`` to download from it in parallel."""
        if self._login is None:
            return None
        return partial(_open_reader, *self._login, folder, uidvalidity)

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
        return self.session.search_uids(since=datetime(since.year, since.month, since.day, tzinfo=UTC))

    def fetch(self, uids: list[int]) -> Iterator[Fetched]:
        for item in self.session.fetch_bodies(uids):
            yield Fetched(item.uid, item.raw, _flags(item.flags), _plain_time(item.internaldate))

    def sizes(self, uids: list[int]) -> dict[int, int]:
        """The messages' sizes, asked of the server before downloading them (a few bytes each)."""
        return self.session.fetch_sizes(uids) if uids else {}

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


def _open_reader(account, secret: str, folder: str, uidvalidity: int) -> ImapSource:
    """A connection of its own with ``folder`` open read-only; refused if the folder was renumbered."""
    from pdmail.accounts import imap
    from pdmail.core.errors import TemporaryFailure

    session = imap.connect(account, secret=secret)
    info = session.select(folder, readonly=True)
    if info.uidvalidity != uidvalidity:
        session.close()
        raise TemporaryFailure(
            f"folder {folder} was renumbered by the server during the sync (UIDVALIDITY "
            f"{uidvalidity} became {info.uidvalidity}); the next run picks it up"
        )
    return ImapSource(session)
