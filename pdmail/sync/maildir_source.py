"""A local Maildir (Maildir++ subfolders, as Dovecot, offlineimap and mbsync keep them) as a mail source.

A message's file name before ``:2,`` never changes, so it serves as its stable id; flags live in the
letters after ``:2,``. The directory holds no UIDs, so the sync loop passes the numbers it handed
out before, and new names are numbered above them in name order.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

from pdmail.core.errors import UsageError
from pdmail.sync.mailsource import Fetched, FolderInfo, Selected, folder_roles

_LETTERS = {"D": "\\Draft", "F": "\\Flagged", "R": "\\Answered", "S": "\\Seen", "T": "\\Deleted", "P": "$Forwarded"}
_FLAG_LETTER = {v: k for k, v in _LETTERS.items()}
INBOX = "INBOX"


def _split(filename: str) -> tuple[str, str]:
    key, sep, info = filename.partition(":2,")
    return key, info if sep else ""


def flags_of(filename: str) -> frozenset[str]:
    return frozenset(_LETTERS[c] for c in _split(filename)[1] if c in _LETTERS)


def _info(flags: frozenset[str], keep: str = "") -> str:
    letters = {_FLAG_LETTER[f] for f in flags if f in _FLAG_LETTER}
    letters |= {c for c in keep if c not in _LETTERS}  # letters we do not know are kept as they were
    return "".join(sorted(letters))


class MaildirSource:
    name_keyed = True

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).expanduser()
        if not (self.root / "cur").is_dir():
            raise UsageError(f"{self.root} is not a Maildir (it has no cur/ folder)")
        self._dir: Path | None = None
        self._files: dict[int, tuple[str, str]] = {}  # uid -> (subdir, filename)

    @property
    def _folder(self) -> Path:
        """The selected folder's directory: every call on messages comes after a select."""
        if self._dir is None:
            raise UsageError("no Maildir folder is selected")
        return self._dir

    # --- folders ------------------------------------------------------------------------------

    def _path(self, name: str) -> Path:
        return self.root if name == INBOX else self.root / ("." + name.replace("/", "."))

    def folders(self) -> list[FolderInfo]:
        names = [INBOX] + [
            entry[1:].replace(".", "/")
            for entry in sorted(os.listdir(self.root))
            if entry.startswith(".") and entry not in (".", "..") and (self.root / entry / "cur").is_dir()
        ]
        roles = folder_roles([(name, "/", ()) for name in names])
        return [FolderInfo(name, roles[name]) for name in names]

    def select(self, name: str, known_keys: dict[str, int] | None = None, last_uid: int = 0) -> Selected:
        folder = self._path(name)
        if not (folder / "cur").is_dir():
            from pdmail.core.errors import TemporaryFailure

            raise TemporaryFailure(f"Maildir folder {name} disappeared")
        self._dir = folder
        known = known_keys or {}
        by_key: dict[str, tuple[str, str]] = {}
        for sub in ("new", "cur"):
            try:
                names = os.listdir(folder / sub)
            except FileNotFoundError:
                continue
            for filename in names:
                if filename.startswith("."):
                    continue
                by_key[_split(filename)[0]] = (sub, filename)
        self._files = {}
        top = max([last_uid, *known.values()], default=0)
        for key in sorted(by_key):
            uid = known.get(key)
            if uid is None:
                top += 1
                uid = top
            self._files[uid] = by_key[key]
        return Selected(uidvalidity=1, uidnext=top + 1, highestmodseq=None, exists=len(self._files))

    # --- reading ------------------------------------------------------------------------------

    def _file(self, uid: int) -> Path | None:
        entry = self._files.get(uid)
        return None if entry is None else self._folder / entry[0] / entry[1]

    def uids(self, since: date | None = None) -> list[int]:
        if since is None:
            return sorted(self._files)
        cutoff = datetime(since.year, since.month, since.day, tzinfo=UTC).timestamp()
        out = []
        for uid in sorted(self._files):
            sub, filename = self._files[uid]
            try:
                if (self._folder / sub / filename).stat().st_mtime >= cutoff:
                    out.append(uid)
            except FileNotFoundError:
                continue
        return out

    def key_of(self, uid: int) -> str | None:
        entry = self._files.get(uid)
        return None if entry is None else _split(entry[1])[0]

    def fetch(self, uids: list[int]) -> Iterator[Fetched]:
        for uid in uids:
            path = self._file(uid)
            if path is None:
                continue
            try:
                raw = path.read_bytes()
                mtime = path.stat().st_mtime
            except FileNotFoundError:
                continue  # removed by another program since the folder was listed: it is gone
            yield Fetched(uid, raw, flags_of(path.name), datetime.fromtimestamp(mtime, UTC), key=self.key_of(uid))

    def flags(self, uids: list[int] | None = None, changedsince: int | None = None) -> dict[int, frozenset[str]]:
        wanted = self._files if uids is None else {u: self._files[u] for u in uids if u in self._files}
        return {uid: flags_of(entry[1]) for uid, entry in wanted.items()}

    def message_ids(self, uids: list[int]) -> dict[int, str | None]:
        from email.parser import BytesHeaderParser

        out: dict[int, str | None] = {}
        for uid in uids:
            path = self._file(uid)
            if path is None:  # not in this folder
                continue
            try:
                with open(path, "rb") as handle:
                    headers = BytesHeaderParser().parse(handle)
            except FileNotFoundError:
                continue
            out[uid] = headers.get("Message-ID")
        return out

    # --- writing ------------------------------------------------------------------------------

    def _rename(self, uid: int, flags: frozenset[str]) -> None:
        entry = self._files.get(uid)
        if entry is None:
            return
        sub, filename = entry
        key, info = _split(filename)
        new_name = f"{key}:2,{_info(flags, info)}"
        if sub == "cur" and new_name == filename:
            return
        try:
            os.rename(self._folder / sub / filename, self._folder / "cur" / new_name)
        except FileNotFoundError:
            return
        self._files[uid] = ("cur", new_name)

    def add_flags(self, uids: list[int], flags: list[str]) -> None:
        for uid in uids:
            if uid in self._files:
                self._rename(uid, flags_of(self._files[uid][1]) | set(flags))

    def remove_flags(self, uids: list[int], flags: list[str]) -> None:
        for uid in uids:
            if uid in self._files:
                self._rename(uid, flags_of(self._files[uid][1]) - set(flags))

    def move(self, uids: list[int], folder: str) -> None:
        target = self._path(folder) / "cur"
        if not target.is_dir():
            from pdmail.core.errors import TemporaryFailure

            raise TemporaryFailure(f"Maildir folder {folder} disappeared; nothing was moved")
        for uid in uids:
            entry = self._files.pop(uid, None)
            if entry is None:
                continue
            sub, filename = entry
            key, info = _split(filename)
            try:
                os.rename(self._folder / sub / filename, target / f"{key}:2,{info}")
            except FileNotFoundError:
                continue

    def close(self) -> None:
        self._files = {}
