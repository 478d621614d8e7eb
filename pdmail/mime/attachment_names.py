"""File names for saving attachments: a sender chooses them, so they are treated as hostile.

A name never leaves the folder it is saved in (no separators, no ``..``, no drive letters), never
hides as a dot file, never carries control or bidi characters that disguise its extension, and
never takes a name Windows reserves for devices.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata

MAX_NAME_BYTES = 200

# Names Windows keeps for devices. A file called one of them, whatever its case and extensions and
# with spaces before the first dot (``con .txt``), is opened as the device, not as a file.
_DEVICES = frozenset(
    {
        "con",
        "prn",
        "aux",
        "nul",
        "conin$",
        "conout$",
        "clock$",
        *(f"{port}{digit}" for port in ("com", "lpt") for digit in (*"0123456789", "\u00b9", "\u00b2", "\u00b3")),
    }
)
_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)}
_UNSAFE = re.compile(r'[<>:"|?*]')


def save_name(filename: str, content_type: str, index: int) -> str:
    """A safe, non-empty file name for attachment number ``index`` (1-based)."""
    name = "".join(
        ch
        for ch in unicodedata.normalize("NFC", filename or "")
        if ch not in _BIDI and unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co")
    )
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name).strip().lstrip(".").rstrip(". ").strip()
    if _is_device(name):
        name = "_" + name
    if not name:
        guessed = mimetypes.guess_extension((content_type or "").split(";")[0].strip().lower()) or ".bin"
        name = f"attachment-{index}{guessed}"
    return _shorten(name)


def _is_device(name: str) -> bool:
    return name.split(".", 1)[0].rstrip(" ").lower() in _DEVICES


def _shorten(name: str) -> str:
    if len(name.encode("utf-8")) <= MAX_NAME_BYTES:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or len(ext) > 16:
        stem, ext = name, ""
    suffix = ("." + ext) if ext else ""
    budget = MAX_NAME_BYTES - len(suffix.encode("utf-8"))
    cut = stem.encode("utf-8")[:budget].decode("utf-8", "ignore")
    return cut + suffix


def numbered(name: str, n: int) -> str:
    """``report.pdf`` → ``report (2).pdf``: the next name to try when one is taken."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return _shorten(f"{name} ({n})")
    return _shorten(f"{stem} ({n}).{ext}")
