"""Messages from files: one ``.eml``, an mbox file, or a Maildir folder; and stdin with a size cap.

Each message is yielded on its own, so one unreadable file never stops the rest. Nothing is read
before it is needed: an mbox is scanned for where its messages lie, a block at a time, and each
message is read (by a parser process) only when its turn comes, so memory stays flat however large
the file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from pdmail.core.records import Record

BLOCK = 1 << 20
# mboxrd quoting: a message line "From ..." is written ">From ...", and ">From ..." is written
# ">>From ...": reading takes one ">" off every such line.
_QUOTED_FROM_RE = re.compile(rb"^>(>*From )", re.MULTILINE)


class Input(Record):  # a tuple, small: a Maildir can list 100,000 of them
    label: str  # what reports call it: a path, "path#3" inside an mbox, or "-" for stdin
    path: str | None = None  # read lazily (in a worker) when set
    raw: bytes | None = None
    error: str | None = None
    span: tuple[int, int] | None = None  # where in ``path`` the message lies, for one inside an mbox

    def size(self) -> int:
        """The message's size in bytes, known without reading it (as it lies in its file)."""
        if self.raw is not None:
            return len(self.raw)
        if self.span is not None:
            return self.span[1] - self.span[0]
        return os.path.getsize(self._path())

    def _path(self) -> str:
        if self.path is None:
            raise ValueError(f"input {self.label} has neither its bytes nor a path")
        return self.path

    def read(self) -> bytes:
        if self.raw is not None:
            return self.raw
        with open(self._path(), "rb") as handle:
            if self.span is None:
                return handle.read()
            start, stop = self.span
            handle.seek(start)
            return unquote_mboxrd(handle.read(stop - start))

    def chunks(self) -> Iterator[bytes]:
        """The message a block at a time, for one too large to hold: what :meth:`read` would return."""
        if self.raw is not None:
            yield self.raw
            return
        with open(self._path(), "rb") as handle:
            if self.span is None:
                while data := handle.read(BLOCK):
                    yield data
                return
            yield from _unquoted_blocks(handle, *self.span)


def unquote_mboxrd(data: bytes) -> bytes:
    return _QUOTED_FROM_RE.sub(rb"\1", data) if b">From " in data else data


def _unquoted_blocks(handle, start: int, stop: int) -> Iterator[bytes]:
    """Bytes ``start`` to ``stop`` of ``handle`` with mboxrd quoting undone, a block at a time.

    Quoting sits where a line starts, so a block is let out up to its last newline and the rest waits
    for the next one. A line longer than a block goes out in pieces, its start read from its first
    block (a line of a megabyte of ">" then "From " would keep all its ">": no writer makes one).
    """
    handle.seek(start)
    left = stop - start
    waiting = b""
    at_line_start = True  # ``waiting`` begins a line
    while left > 0 or waiting:
        data = handle.read(min(BLOCK, left)) if left > 0 else b""
        left -= len(data)
        data = waiting + data
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            if left > 0 and len(data) < BLOCK:
                waiting = data
                continue
            cut = len(data)  # a long line, or the end: let it go
        piece, waiting = data[:cut], data[cut:]
        # A piece that starts inside a line is read after a stand-in byte: its start is no line start.
        yield unquote_mboxrd(piece) if at_line_start else unquote_mboxrd(b"x" + piece)[1:]
        at_line_start = piece.endswith(b"\n")


def mbox_spans(path: str) -> Iterator[tuple[int, int]]:
    """Where each message of an mbox file lies, as (start, stop) byte offsets; read a block at a time.

    As Python's ``mailbox`` module reads an mbox: every line starting with ``From `` starts a message
    (mboxrd quotes such lines in bodies), the message begins after that line and ends before the next
    one, without the blank line that separates them. The file must start with a ``From `` line.
    """
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        scan = _Scan(handle)
        line = 0  # where the current message's From line starts
        while True:
            newline = scan.find(b"\n", line)
            if newline == -1:
                yield size, size  # a From line that ends the file: an empty message
                return
            start = newline + 1
            separator = scan.find(b"\nFrom ", newline)
            if separator == -1:
                handle.seek(max(size - 2, 0))
                blank_before = handle.read(2) == b"\n\n"
                yield start, max(size - 1 if blank_before else size, start)
                return
            blank_before = separator > newline and scan.byte_at(separator - 1) == b"\n"
            yield start, max(separator if blank_before else separator + 1, start)
            line = separator + 1


class _Scan:
    """Forward search in a file through a buffer of about one block; the bytes just before the
    point a search starts from stay readable."""

    def __init__(self, handle) -> None:
        self.handle = handle
        self.buffer = b""
        self.base = 0  # file offset of buffer[0]

    def find(self, pattern: bytes, start: int) -> int:
        """File offset of the first ``pattern`` at or after ``start``, or -1 at the end of the file."""
        while True:
            found = self.buffer.find(pattern, start - self.base)
            if found != -1:
                return self.base + found
            data = self.handle.read(BLOCK)
            if not data:
                return -1
            # Only a match that takes in the new bytes is left to find; what is before is let go
            # (but two bytes), once per block read, so that the buffer stays about a block long.
            start = max(start, self.base + len(self.buffer) - len(pattern) + 1)
            drop = max(start - 2 - self.base, 0)
            self.buffer = self.buffer[drop:] + data
            self.base += drop

    def byte_at(self, offset: int) -> bytes:
        return self.buffer[offset - self.base : offset - self.base + 1]


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
            yield from _folder(path, name)
        else:
            yield from _file(path, name)


def _folder(path: Path, name: str) -> Iterator[Input]:
    """Every file of a plain folder, whatever its name; what is not read is reported, never dropped.

    Mail tools name message files in many ways (``1``, ``2.EML``, ``3.msg``, ``x.mbox``), so a name
    decides nothing: each regular file is read as a message, or as an mbox when it starts like one.
    Hidden files (``.DS_Store``, an editor's swap file) are not mail and are left alone. A folder
    inside is not entered: it is reported, to be given as an argument of its own.
    """
    entries = sorted(p for p in path.iterdir() if not p.name.startswith("."))
    if not entries:
        yield Input(name, error=f"{name} is a folder with no message files in it")
    for entry in entries:
        entry_name = str(entry)  # one string for both: label and path are the same
        if entry.is_dir():
            yield Input(entry_name, error=f"{entry_name} is a folder inside {name}: give it as an argument to read it")
        elif not entry.is_file():
            yield Input(entry_name, error=f"{entry_name} is not a regular file (a device, pipe or broken link)")
        else:
            yield from _file(entry, entry_name)


def _file(path: Path, name: str) -> Iterator[Input]:
    """One file given by name or found in a folder: an mbox when it starts like one, else one message."""
    if _looks_like_mbox(path):
        file_name = str(path)
        try:
            for index, span in enumerate(mbox_spans(file_name), start=1):
                yield Input(f"{name}#{index}", path=file_name, span=span)
        except OSError as exc:
            yield Input(name, error=f"cannot read mbox {name}: {exc.strerror or exc}")
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
