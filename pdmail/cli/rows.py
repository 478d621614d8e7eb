"""Every listing as a table of rows: drawn for a person, tab-separated for a pipe, or JSON.

A command that lists things describes its columns once and hands its rows here; the format is
chosen in this one place, so that no listing can be cut in a pipe or a file. What each format
gives (docs/spec.md, "Output formats"):

- ``table``: drawn to fit a terminal. Ids, addresses and values wrap onto a second line when the
  terminal is narrow and are never shortened; only free text marked ``clip`` (a subject, a note)
  may end in "…". Off a terminal (asked for with ``--format table``) it is as wide as its rows.
- ``tsv``: a header and one line per row, fields separated by tabs, nothing shortened; tabs and
  line breaks inside a value become spaces. The default whenever stdout is not a terminal.
- ``csv``: the same rows, quoted as spreadsheets read them.
- ``json``: one JSON document (an array for a listing), ``nl``: one JSON object per line.

Rich is imported only to draw a table, so that tsv, csv and JSON cost nothing more than writing.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from pdmail.cli.terminal import clean
from pdmail.core import json_text

FORMATS = ("table", "tsv", "csv", "json", "nl")
MACHINE_FORMATS = ("json", "nl")
_TRAILING_SPACES = re.compile(r" +((?:\x1b\[[0-9;]*m)*)$")  # a cell's padding at the end of a line
GAP = 2  # spaces between two columns of a table


@dataclass(frozen=True)
class Column:
    """One column: ``value`` gives the whole value as text, for tsv, csv and the table alike.

    ``name`` heads it in tsv and csv (the JSON field it comes from, where there is one); ``title``
    heads it in the table. ``show`` gives the table's cell instead of ``value`` (a shorter date, a
    cell over several lines, a colour): a ``str`` or a Rich ``Text``. ``clip`` marks free text that
    may end in "…" on a narrow terminal; ``prose``, text that wraps between words (a name, a
    title) and gives way before values do. Any other column is a value (an id, an address, a
    setting), which is never shortened: a narrow terminal folds it onto the next line.
    """

    name: str
    value: Callable[[Any], object]
    title: str | None = None
    show: Callable[[Any], Any] | None = None
    clip: bool = False
    prose: bool = False
    right: bool = False
    in_table: bool = True  # False: only in tsv and csv (a currency the table shows within the value)
    in_plain: bool = True  # False: only in the table

    @property
    def kind(self) -> str:
        return "clip" if self.clip else "prose" if self.prose else "value"

    @property
    def heading(self) -> str:
        return self.title if self.title is not None else self.name.replace("_", " ")


@dataclass
class Rows:
    """A listing: its columns, its rows, and its JSON.

    ``json`` is what ``--json`` prints: a list (an array, one object per row of the listing's own
    shape), or a dict for a command whose JSON is one object (``settings show``). With
    ``json_encoded`` it is an iterable of JSON texts, already encoded (a long listing written as
    it is read). ``empty`` is what a person sees on a terminal instead of an empty table.
    """

    columns: Sequence[Column]
    items: Iterable[Any]
    json: Any = None
    json_encoded: bool = False
    empty: str = ""
    notes: list[str] = field(default_factory=list)


def text_of(value: object) -> str:
    """A value as one line of plain text: None is empty, and no tab or line break survives."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    return clean(value).replace("\t", " ")


def write(rows: Rows, fmt: str, out: TextIO | None = None, *, terminal: bool = False, width: int = 80) -> int | None:
    """Write ``rows`` in ``fmt`` (one of FORMATS) to ``out``; how many rows that was (None for JSON,
    which is written from ``rows.json``).

    ``terminal``: the table is for a person at a terminal ``width`` cells wide; otherwise it takes
    the width its rows need.
    """
    out = out or sys.stdout
    if fmt in MACHINE_FORMATS:
        write_json(rows.json, fmt, out, encoded=rows.json_encoded)
        return None
    if fmt == "tsv":
        return _write_tsv(rows, out)
    if fmt == "csv":
        return _write_csv(rows, out)
    return _write_table(rows, out, terminal=terminal, width=width)


def write_json(data: Any, fmt: str, out: TextIO, *, encoded: bool = False) -> None:
    """``json``: one document (an array written one element per line, as it comes); ``nl``: one
    object per line, and an object alone on its line."""
    if encoded:
        texts: Iterable[str] = (json_text.escape(t) for t in data)
    elif isinstance(data, list) or (fmt == "nl" and not isinstance(data, dict)):
        texts = (json_text.dumps(item) for item in data)
    else:
        out.write(json_text.dumps(data, indent=None if fmt == "nl" else 2) + "\n")
        return
    if fmt == "nl":
        for text in texts:
            out.write(text + "\n")
        return
    first = True
    for text in texts:
        out.write(("[\n  " if first else ",\n  ") + text)
        first = False
    out.write("[]\n" if first else "\n]\n")


def _write_tsv(rows: Rows, out: TextIO) -> int:
    columns = [c for c in rows.columns if c.in_plain]
    out.write("\t".join(c.name for c in columns) + "\n")
    count = 0
    for item in rows.items:
        out.write("\t".join(text_of(c.value(item)) for c in columns) + "\n")
        count += 1
    return count


def _write_csv(rows: Rows, out: TextIO) -> int:
    import csv

    columns = [c for c in rows.columns if c.in_plain]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.name for c in columns])
    count = 0
    for item in rows.items:
        writer.writerow([text_of(c.value(item)) for c in columns])
        count += 1
    return count


# --- the table ------------------------------------------------------------------------------------


def _cell(column: Column, item: Any):
    from rich.text import Text

    shown = column.show(item) if column.show is not None else column.value(item)
    if isinstance(shown, Text):
        return shown
    return Text("" if shown is None else clean(shown, keep_newlines=True))


def _widest_line(text) -> int:
    from rich.cells import cell_len

    return max((cell_len(line) for line in text.plain.split("\n")), default=0)


# Who gives way first when a table is wider than the terminal, and down to how many cells: free
# text (clipped, or prose that wraps at words), the widest first; then values (ids, addresses,
# which wrap whole onto the next line); then all of them further, down to 3 cells.
_SHRINK_ORDER = (
    {"clip": 8, "prose": 16},
    {"value": 12},
    {"clip": 3, "prose": 8, "value": 8},
    {"clip": 3, "prose": 3, "value": 3},
)


def fit_widths(natural: list[int], kinds: list[str], room: int) -> list[int]:
    """Column widths that fit ``room`` cells, taking one cell at a time from the widest column
    that may still give way (see _SHRINK_ORDER), so that short columns such as ids and dates keep
    their width and long ones end up alike."""
    widths = list(natural)
    for floors in _SHRINK_ORDER:
        while sum(widths) > room:
            candidates = [
                i for i, w in enumerate(widths) if kinds[i] in floors and w > min(floors[kinds[i]], natural[i])
            ]
            if not candidates:
                break
            widest = max(candidates, key=lambda i: widths[i])
            widths[widest] -= 1
    return widths


def _write_table(rows: Rows, out: TextIO, *, terminal: bool, width: int) -> int:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    columns = [c for c in rows.columns if c.in_table]
    cells = [[_cell(c, item) for c in columns] for item in rows.items]
    if not cells and rows.empty:
        out.write(rows.empty + "\n")
        return 0
    headers = [Text(c.heading) for c in columns]
    natural = [max(_widest_line(t) for t in [headers[i], *(row[i] for row in cells)]) for i in range(len(columns))]
    room = width - GAP * (len(columns) - 1)
    widths = fit_widths(natural, [c.kind for c in columns], room) if terminal else natural
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold", padding=(0, GAP // 2))
    for i, c in enumerate(columns):
        table.add_column(
            c.heading,
            width=widths[i],
            justify="right" if c.right else "left",
            no_wrap=c.clip,
            overflow="ellipsis" if c.clip else "fold",
        )
    for row in cells:
        table.add_row(*row)
    total = sum(widths) + GAP * (len(columns) - 1)
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width if terminal else max(total, 1),
        force_terminal=terminal,
        color_system="standard" if terminal else None,
        highlight=False,
        emoji=False,
    )
    console.print(table, crop=False)
    for line in buffer.getvalue().splitlines():
        out.write(_TRAILING_SPACES.sub(r"\1", line) + "\n")
    return len(cells)
