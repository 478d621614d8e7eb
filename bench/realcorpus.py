"""A real-mail corpus for `bench/run --real`: every message as if the benchmark's user had sent it.

    python bench/realcorpus.py --maildir OUT [--count 2000] [SOURCE ...]
    PDMAIL_REAL_CORPUS=path/to/archives python bench/realcorpus.py --maildir OUT

Where the messages come from, in this order:

1. the SOURCE arguments, else the ``PDMAIL_REAL_CORPUS`` environment variable (paths separated by
   ``:``): mbox files (mboxrd, as mailing-list archives export them), a folder of ``*.mbox`` files, a
   Maildir or a folder of ``.eml`` files; messages are taken in the order the paths are given;
2. without either, public parser test fixtures fetched from the package registries with their
   ordinary clients, pinned so that the same bytes come back every time:
   - ``mail-parser`` 4.8.0 from PyPI (``pip download --no-binary :all:``): the 23 messages of its
     ``tests/mails/`` (Outlook, malformed and multipart mail from real senders);
   - Debian's ``libpython3.11-testsuite`` (``apt-get download``): the ``msg_*.txt`` messages of the
     standard library's email tests (``test/test_email/data``).
   Those are a few dozen messages: they are repeated until ``--count`` is reached, each one given a
   Message-ID and Date of its own so that it is a new message, not a duplicate.

Every message then gets the user's From (its From and Sender replaced, as ``realmail_check.py`` does),
so that Smart BCC stores all of it, as it does a salesperson's own mail. The result is deterministic:
the same sources and count give the same Maildir, file names included.
"""

from __future__ import annotations

import argparse
import email.utils
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from realmail_check import as_sent_by_the_user  # noqa: E402

ENV = "PDMAIL_REAL_CORPUS"
COUNT = 2_000
MAIL_PARSER = "mail-parser==4.8.0"
PYTHON_TESTSUITE = "libpython3.11-testsuite"
_MESSAGE_ID_RE = re.compile(rb"(?im)^message-id:.*(?:\r?\n[ \t].*)*\r?\n")
_DATE_RE = re.compile(rb"(?im)^date:.*(?:\r?\n[ \t].*)*\r?\n")
_COPIES_FROM = datetime(2024, 1, 1, tzinfo=UTC)


def source_paths(given: list[str]) -> list[str]:
    """The paths given, else those of PDMAIL_REAL_CORPUS; empty when neither names any."""
    if given:
        return given
    return [p for p in os.environ.get(ENV, "").split(os.pathsep) if p]


def source_files(paths: list[str]) -> list[str]:
    """The paths, a folder of ``*.mbox`` files standing for those files."""
    expanded: list[str] = []
    for path in paths:
        folder = Path(path)
        mboxes = sorted(folder.glob("*.mbox")) if folder.is_dir() else []
        expanded.extend(str(p) for p in mboxes) if mboxes else expanded.append(path)
    return expanded


def read_paths(paths: list[str]) -> list[bytes]:
    """Every message of mbox files, Maildirs, .eml folders or a folder of *.mbox, as bcc-ingest reads them."""
    from pdmail.capture.inputs import expand

    return [item.read() for item in expand(source_files(paths)) if not item.error]


def fetch_fixtures(work: Path) -> list[bytes]:
    """The public fixture messages named in the module's docstring, downloaded into ``work``."""
    messages = _mail_parser_fixtures(work / "pypi")
    messages += _python_email_fixtures(work / "debian")
    if not messages:
        raise SystemExit(
            f"no real mail: give mbox files or set {ENV}, or let this script reach PyPI "
            f"({MAIL_PARSER}) or Debian ({PYTHON_TESTSUITE})"
        )
    return messages


def _mail_parser_fixtures(folder: Path) -> list[bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            "-q",
            "-d",
            str(folder),
            MAIL_PARSER,
        ],
        capture_output=True,
    )
    archives = sorted(folder.glob("mail_parser-*.tar.gz"))
    if done.returncode != 0 or not archives:
        print(f"could not download {MAIL_PARSER}: {done.stderr.decode(errors='replace')[-300:]}", file=sys.stderr)
        return []
    with tarfile.open(archives[0]) as tar:
        members = sorted(
            (m for m in tar.getmembers() if m.isfile() and "/tests/mails/" in m.name), key=lambda m: m.name
        )
        return [tar.extractfile(m).read() for m in members]  # type: ignore[union-attr]


def _python_email_fixtures(folder: Path) -> list[bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["apt-get", "download", PYTHON_TESTSUITE], cwd=folder, capture_output=True)
    debs = sorted(folder.glob("*.deb"))
    if done.returncode != 0 or not debs:
        print(f"could not download {PYTHON_TESTSUITE}: {done.stderr.decode(errors='replace')[-300:]}", file=sys.stderr)
        return []
    unpacked = folder / "root"
    subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(unpacked)], check=True)
    return [p.read_bytes() for p in sorted(unpacked.glob("usr/lib/python3*/test/test_email/data/msg_*.txt"))]


def copy_of(raw: bytes, copy: int, index: int) -> bytes:
    """Copy number ``copy`` of a message: a Message-ID and Date of its own, the rest as it was."""
    end = re.search(rb"\r?\n\r?\n", raw)
    head, rest = (raw[: end.start()], raw[end.start() :]) if end else (raw, b"")
    newline = b"\r\n" if b"\r\n" in head[:200] else b"\n"
    head = _DATE_RE.sub(b"", _MESSAGE_ID_RE.sub(b"", head + newline))
    moment = _COPIES_FROM + timedelta(hours=index)
    fields = (
        f"Message-ID: <copy{copy}.{index}@realcorpus.bench>".encode()
        + newline
        + b"Date: "
        + email.utils.format_datetime(moment).encode()
        + newline
    )
    return fields + head.rstrip(b"\r\n") + rest


def corpus(messages: list[bytes], count: int, *, renumber: bool = False) -> list[bytes]:
    """``count`` messages, each from the user: the first ones as they are, then numbered copies.

    ``renumber``: the first ones get a Message-ID and Date of their own too. Test fixtures need it:
    several differ only in their sender, and once every sender is the user they would be duplicates.
    """
    if not messages:
        return []
    picked = []
    for index in range(count):
        raw, copy = messages[index % len(messages)], index // len(messages)
        picked.append(as_sent_by_the_user(copy_of(raw, copy, index) if copy or renumber else raw))
    return picked


def write_maildir(folder: Path, messages: list[bytes]) -> int:
    """The messages as a Maildir (all in cur/, seen), named in order; the bytes written."""
    for sub in ("cur", "new", "tmp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    total = 0
    for i, raw in enumerate(messages, 1):
        (folder / "cur" / f"{1700000000 + i}.M{i:06d}P1.realcorpus:2,S").write_bytes(raw)
        total += len(raw)
    return total


def build(
    count: int = COUNT, paths: list[str] | None = None, *, extra: int = 0
) -> tuple[list[bytes], list[bytes], str]:
    """(``count`` messages, ``extra`` more not among them, where they came from)."""
    paths = source_paths(paths or [])
    if paths:
        raw, origin = read_paths(paths), ", ".join(Path(p).name for p in source_files(paths))
    else:
        with tempfile.TemporaryDirectory(prefix="pdmail-realcorpus-") as tmp:
            raw = fetch_fixtures(Path(tmp))
        origin = (
            f"{MAIL_PARSER} test mails and Debian's {PYTHON_TESTSUITE} email test data ({len(raw)} messages, copied)"
        )
    every = corpus(raw, count + extra, renumber=not paths)
    return every[:count], every[count:], origin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="*", help=f"mbox files, Maildirs or .eml folders (default: ${ENV})")
    parser.add_argument("--maildir", type=Path, required=True, help="where to write the Maildir (replaced)")
    parser.add_argument("--count", type=int, default=COUNT)
    args = parser.parse_args(argv)
    messages, _, origin = build(args.count, args.source)
    shutil.rmtree(args.maildir, ignore_errors=True)
    size = write_maildir(args.maildir, messages)
    print(f"{len(messages):,} messages ({size / 1e6:.1f} MB) from {origin} in {args.maildir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
