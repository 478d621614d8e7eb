"""Export the email a user may see, as JSON lines or as an mbox a mail reader opens."""

from __future__ import annotations

import re
import time
from typing import BinaryIO

from pdmail.core import json_text
from pdmail.core.models import User
from pdmail.store.db import Database
from pdmail.store.mailbox import export_rows

_FROM_LINE = re.compile(rb"^(>*From )", re.MULTILINE)


def export_jsonl(db: Database, viewer: User, out: BinaryIO, *, mine: bool = False) -> int:
    count = 0
    for email, _raw in export_rows(db, viewer, mine=mine, with_raw=False):
        out.write(json_text.dumps(email).encode("utf-8") + b"\n")
        count += 1
    return count


def mbox_entry(raw: bytes, sender: str, date_iso: str) -> bytes:
    """One mboxrd entry: a From_ line, the message with From-lines quoted, a blank line."""
    stamp = time.strftime("%a %b %d %H:%M:%S %Y", time.strptime(date_iso, "%Y-%m-%dT%H:%M:%SZ"))
    envelope = (sender or "MAILER-DAEMON").replace(" ", "") or "MAILER-DAEMON"
    body = _FROM_LINE.sub(rb">\1", raw)
    if not body.endswith(b"\n"):
        body += b"\n"
    return f"From {envelope} {stamp}\n".encode("ascii", "replace") + body + b"\n"


def export_mbox(db: Database, viewer: User, out: BinaryIO, *, mine: bool = False) -> int:
    count = 0
    for email, raw in export_rows(db, viewer, mine=mine, with_raw=True):
        out.write(mbox_entry(raw, email["from"]["email"], email["date"]))
        count += 1
    return count
