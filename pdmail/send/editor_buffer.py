"""The text a person edits in ``$EDITOR`` to write a message, and what is read back from it.

The buffer opens with the headers a person may change (To, Cc, Subject), then a short instruction
comment, then a blank line and the body; a reply's body starts with the original, quoted. Only
lines of the header block that start with ``#`` are comments: the body is kept exactly as written,
so a body line such as ``# 1 priority`` stays. Pure: no terminal, no files.
"""

from __future__ import annotations

from dataclasses import dataclass

HEADERS = ("To", "Cc", "Subject")
INSTRUCTIONS = (
    "# Write your message below the blank line. To and Cc take addresses separated by commas.",
    "# Lines here that start with # are left out. Save and close the editor to continue;",
    "# then you choose: send, edit again, save as a draft or quit. An empty message sends nothing.",
)


@dataclass(frozen=True)
class Written:
    to: list[str]
    cc: list[str]
    subject: str
    body: str


def buffer(*, to: list[str], cc: list[str], subject: str, body: str = "", quoted: tuple[str, str] | None = None) -> str:
    """The text to edit; ``quoted`` is (a line saying who wrote it and when, the original's text)."""
    lines = [f"To: {', '.join(to)}", f"Cc: {', '.join(cc)}", f"Subject: {subject}", *INSTRUCTIONS, ""]
    text = "\n".join(lines) + "\n" + body
    if quoted is not None:
        said, original = quoted
        text += "\n\n" + said + "\n" + "\n".join(f"> {line}" if line else ">" for line in original.splitlines())
        text += "\n"
    return text


def read(text: str) -> Written:
    """The headers and body of an edited buffer. A header line may be folded onto indented lines."""
    head, _, body = text.replace("\r\n", "\n").partition("\n\n")
    fields: dict[str, str] = {}
    last = None
    for line in head.split("\n"):
        if line.startswith("#") or not line.strip():
            continue
        if line[:1] in " \t" and last is not None:
            fields[last] += " " + line.strip()
            continue
        name, colon, value = line.partition(":")
        key = name.strip().title()
        if not colon or key not in HEADERS:
            raise ValueError(f"the line {line.strip()!r} above the blank line is not To:, Cc: or Subject:")
        fields[key] = value.strip()
        last = key
    return Written(
        to=_addresses(fields.get("To", "")),
        cc=_addresses(fields.get("Cc", "")),
        subject=fields.get("Subject", ""),
        body=body,
    )


def _addresses(value: str) -> list[str]:
    return [value] if value.strip() else []


def has_own_text(body: str, said: str | None = None) -> bool:
    """Does the body hold anything but the quoted original (and the line saying who wrote it)?"""
    return any(line.strip() and not line.startswith(">") and line != said for line in body.splitlines())
