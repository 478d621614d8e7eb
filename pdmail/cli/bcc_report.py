"""What `pdmail bcc-ingest` prints about its outcomes: a JSON array (or a line each), or a line per message.

Without the command-line toolkit: the mail server's pipe (``pdmail.cli.fastpath``) prints with it.
"""

from __future__ import annotations

import sys

from pdmail.cli.terminal import clean
from pdmail.core import json_text

_DONE = {"stored": "stored as email", "duplicate": "already captured as email", "skipped": "skipped"}
LIST_UP_TO = 20  # more outcomes than this are summed up in one line


def write_report(outcomes, *, fmt: str | None, quiet: bool, write_rows=None) -> None:
    """``fmt``: "json" (an array, one element per input, however many: stdin is one), "nl" (one
    object per line), None for a line per message (a sum when there are many), or a format of
    ``write_rows``, which prints the outcomes as a listing (tsv, csv, table)."""
    out, err = sys.stdout, sys.stderr
    if write_rows is not None and fmt not in (None, "json", "nl"):
        write_rows(outcomes)
    elif fmt in ("json", "nl"):
        # written as encoded, one object per line: a Maildir can hold 100,000 messages
        texts = (json_text.dumps(o.to_json()) for o in outcomes)
        if fmt == "nl":
            for text in texts:
                out.write(text + "\n")
        else:
            separator = "[\n  "
            for text in texts:
                out.write(separator + text)
                separator = ",\n  "
            out.write("[]\n" if not outcomes else "\n]\n")
    elif not quiet:
        if len(outcomes) <= LIST_UP_TO:
            for o in outcomes:
                if o.status in _DONE:
                    ident = f" {o.id}" if o.id is not None else ""
                    why = f" ({clean(o.reason)})" if o.status == "skipped" else ""
                    out.write(f"{clean(o.source)}: {_DONE[o.status]}{ident}{why}\n")
        else:
            counts: dict[str, int] = {}
            for o in outcomes:
                counts[o.status] = counts.get(o.status, 0) + 1
            out.write(", ".join(f"{n} {status}" for status, n in sorted(counts.items())) + "\n")
    for o in outcomes:
        if not quiet:
            for warning in o.warnings:
                err.write(f"Warning: {clean(f'{o.source}: {warning}')}\n")
        if o.status == "quarantined":
            err.write(
                f"Error: {clean(o.source)}: refused: {clean(o.reason)} (quarantined as {o.quarantine_id}; "
                "review with `pdmail bcc-ingest --quarantine`)\n"
            )
        elif o.status == "failed":
            err.write(f"Error: {clean(o.source)}: {clean(o.reason)}\n")
