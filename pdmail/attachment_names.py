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

_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)}
_UNSAFE = re.compile(r'[<>:"|?*]')


def save_name(filename: str, content_type: str, index: int) -> str:
    """A safe, non-empty file name for attachment number ``index`` (1-based)."""
    name = "".join(
        ch for ch in unicodedata.normalize("NFC", filename or "")
        if ch not in _BIDI and unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co")
    )
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name).strip().lstrip(".").rstrip(". ").strip()
    stem = name.rpartition(".")[0] or name
    if stem.split(".")[0].lower() in _RESERVED:
        name = "_" + name
    if not name:
        guessed = mimetypes.guess_extension((content_type or "").split(";")[0].strip().lower()) or ".bin"
        name = f"attachment-{index}{guessed}"
    return _shorten(name)


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
