"""Text bound for a terminal, and the one-line error report, without the command-line toolkit.

Kept apart from ``pdmail.cli.app`` (the Typer app) so that the mail server's pipe path can print
exactly what the full command line prints without paying for loading it.
"""

from __future__ import annotations

import os
import re
import sys
import unicodedata

from pdmail.core.errors import EXIT_INTERNAL, EXIT_OUTPUT_CLOSED, EXIT_TEMPFAIL, PdmailError

_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)}


def clean(text: object, *, keep_newlines: bool = False) -> str:
    """Strip control and escape sequences, bidi overrides and bare CRs from untrusted text."""
    value = str(text) if text is not None else ""
    if value.isprintable():  # holds none of what is stripped below: the common case, checked at C speed
        return value
    out = []
    for ch in value:
        if ch == "\n" and keep_newlines:
            out.append(ch)
        elif ch == "\t":
            out.append("    " if keep_newlines else " ")
        elif ch in _BIDI:
            continue
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co"):
            out.append(" " if ch in "\r\n" else "")
        else:
            out.append(ch)
    return "".join(out)


# A word, or a `backticked command` with whatever clings to it ("(`pdmail link`)."): never split.
_WORD = re.compile(r"(?:[^\s`]*`[^`]*`)+[^\s`]*|\S+")


def wrap_keeping_commands(text: str, width: int) -> list[str]:
    """``text`` as lines of at most ``width`` cells, broken only between words.

    A backticked command is one word however long: it moves to the next line whole, so that a
    person can copy it, and stands alone on a line when it is wider than the terminal.
    """
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in _WORD.findall(paragraph):
            if line and len(line) + 1 + len(word) > width:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        lines.append(line)
    return lines


def notice(text: str) -> None:
    """A line for the user on stderr, at once (it may come from a signal handler, before an exit)."""
    sys.stderr.write(f"{text}\n")
    sys.stderr.flush()


def stdout_closed() -> bool:
    """Whether whoever reads our standard output has gone: the other end of the pipe was closed.

    Tells a closed output (`pdmail export | head -1`) apart from a broken pipe anywhere else, such
    as a connection to a mail server.
    """
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


def end_on_closed_output() -> int:
    """Stop quietly because nobody reads the output any more; the exit code to use.

    Standard output is pointed at the null device, so that the interpreter's last flush of what is
    still buffered cannot fail again with a second, noisy error.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)
    return EXIT_OUTPUT_CLOSED


def error_line(exc: BaseException, debug: bool, *, mta: bool = False) -> int:
    """Print the ``Error: ...`` line for ``exc`` on stderr and return the exit code it maps to.

    Under ``--mta`` (a mail server's pipe) any error that ends a run is the infrastructure's: whatever
    the message was, it was stored or quarantined before this, so the mail server keeps it and retries
    (75) rather than bouncing it.
    """
    code = _report_error(exc, debug)
    return EXIT_TEMPFAIL if mta else code


def _report_error(exc: BaseException, debug: bool) -> int:
    if isinstance(exc, PdmailError):
        sys.stderr.write(f"Error: {clean(exc.message)}\n")
        return exc.exit_code
    if debug:
        import traceback

        traceback.print_exception(exc)
    detail = clean(str(exc)) or type(exc).__name__
    sys.stderr.write(f"Error: internal error ({type(exc).__name__}: {detail}); run with --debug for details\n")
    return EXIT_INTERNAL
