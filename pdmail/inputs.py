"""Messages from files: one ``.eml``, an mbox file, or a Maildir folder; and stdin with a size cap.

Each message is yielded on its own, so one unreadable file never stops the rest.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)  # slots: a Maildir can list 100,000 of them
class Input:
    label: str  # what reports call it: a path, "path#3" inside an mbox, or "-" for stdin
    path: str | None = None  # read lazily (in a worker) when set
    raw: bytes | None = None
    error: str | None = None

    def read(self) -> bytes:
        if self.raw is not None:
            return self.raw
        with open(self.path, "rb") as handle:
            return handle.read()


def _is_maildir(path: Path) -> bool:
    return path.is_dir() and (path / "cur").is_dir() and (path / "new").is_dir()


def _looks_like_mbox(path: Path) -> bool:
    if path.suffix.lower() in (".eml", ".msg", ".txt"):
        return False
    try:
        with open(path, "rb") as handle:
            return handle.read(5) == b"From "
    except OSError:
        return False


def maildir_files(path: Path) -> list[Path]:
    files: list[Path] = []
    for sub in ("new", "cur"):
        folder = path / sub
        files.extend(sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")))
    return files


def expand(paths: list[str]) -> Iterator[Input]:
    for name in paths:
        path = Path(name)
        if not path.exists():
            yield Input(name, error=f"no such file or folder: {name}")
        elif _is_maildir(path):
            for file in maildir_files(path):
                file_name = str(file)  # one string for both: label and path are the same
                yield Input(file_name, path=file_name)
        elif path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".eml")
            if not files:
                yield Input(name, error=f"{name} is a folder but neither a Maildir nor a folder of .eml files")
            for file in files:
                file_name = str(file)  # one string for both: label and path are the same
                yield Input(file_name, path=file_name)
        elif _looks_like_mbox(path):
            import mailbox  # not at the top: one message on stdin never needs it

            try:
                box = mailbox.mbox(str(path), create=False)
                for index, key in enumerate(box.iterkeys(), start=1):
                    yield Input(f"{name}#{index}", raw=box.get_bytes(key, from_=False))
                box.close()
            except (OSError, mailbox.Error) as exc:
                yield Input(name, error=f"cannot read mbox {name}: {exc}")
        elif not os.access(path, os.R_OK):
            yield Input(name, error=f"cannot read {name}: permission denied")
        else:
            yield Input(name, path=str(path))


def read_capped(stream, cap: int, chunk: int = 1 << 20) -> tuple[bytes, Iterator[bytes] | None]:
    """Read up to ``cap`` bytes; if there is more, also return an iterator over the whole stream.

    Memory stays bounded by the cap: an oversized message is streamed to the spool, never held.
    """
    parts: list[bytes] = []
    size = 0
    while size <= cap:
        data = stream.read(min(chunk, cap + 1 - size))
        if not data:
            return b"".join(parts), None
        parts.append(data)
        size += len(data)
    head = b"".join(parts)

    def everything() -> Iterator[bytes]:
        yield head
        while True:
            data = stream.read(chunk)
            if not data:
                return
            yield data

    return head, everything()
