"""What `pdmail bcc-ingest` prints about its outcomes: one JSON document, or a line per message."""

from __future__ import annotations

import sys

from pdmail.cli.terminal import clean
from pdmail.core import json_text

_DONE = {"stored": "stored as email", "duplicate": "already captured as email", "skipped": "skipped"}
LIST_UP_TO = 20  # more outcomes than this are summed up in one line


def write_report(outcomes, *, json_output: bool, quiet: bool, single: bool) -> None:
    out, err = sys.stdout, sys.stderr
    if json_output:
        if single and len(outcomes) == 1:
            out.write(json_text.dumps(outcomes[0].to_json(), indent=2) + "\n")
        else:  # one object per line, written as encoded: a Maildir can hold 100,000 messages
            separator = "[\n  "
            for o in outcomes:
                out.write(separator + json_text.dumps(o.to_json()))
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
