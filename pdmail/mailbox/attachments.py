"""Saving an email's attachments to a folder, for a viewer who may see the email.

Files are created exclusively: an existing file (or a symlink planted in the folder) is never
written through or replaced; the attachment takes the next free numbered name instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pdmail.core.errors import UsageError
from pdmail.core.models import User
from pdmail.mailbox.output_file import check_folder_writable
from pdmail.mime.attachment_names import numbered, save_name
from pdmail.mime.parse import attachment_payloads
from pdmail.store.db import Database
from pdmail.store.emails import get_raw
from pdmail.store.mailbox import get_email_row

MAX_TRIES = 1000


@dataclass(frozen=True)
class Saved:
    filename: str  # as the sender named it
    path: str  # where it was written
    size: int
    renamed: bool  # the safe name was taken or had to change

    def to_json(self) -> dict:
        return {"filename": self.filename, "path": self.path, "size": self.size, "renamed": self.renamed}


def save_all(db: Database, viewer: User, email_id: int, folder: str | os.PathLike) -> list[Saved]:
    row = get_email_row(db, viewer, email_id)  # NotFound unless the viewer may see it
    raw = get_raw(db, row["raw_sha256"]) or b""
    parts = [(a, data) for a, data in attachment_payloads(raw) if not a.is_inline]
    target = Path(folder).expanduser()
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target} is not a folder")
    check_folder_writable(target, may_create=True)  # before anything is written, as for every path given
    if not parts:
        return []
    try:
        target.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise UsageError(f"cannot create the folder {target}: {(exc.strerror or str(exc)).lower()}") from None
    saved = []
    for index, (attachment, data) in enumerate(parts, start=1):
        base = save_name(attachment.filename, attachment.content_type, index)
        path = _write_new(target, base, data)
        saved.append(Saved(attachment.filename, str(path), len(data), path.name != attachment.filename))
    return saved


def _write_new(folder: Path, name: str, data: bytes) -> Path:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    for n in range(1, MAX_TRIES + 1):
        candidate = folder / (name if n == 1 else numbered(name, n))
        try:
            fd = os.open(candidate, flags, 0o600)
        except FileExistsError:
            continue
        except PermissionError:
            raise UsageError(f"cannot write in the folder {folder}: permission denied") from None
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
        except BaseException:
            candidate.unlink(missing_ok=True)  # no half-written attachment under its name
            raise
        return candidate
    raise UsageError(f"{folder} already holds {MAX_TRIES} files named like {name}; choose another folder")
