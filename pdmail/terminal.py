"""Text bound for a terminal, and the one-line error report, without the command-line toolkit.

Kept apart from ``pdmail.cli`` so that the mail server's pipe path can print exactly what the full
command line prints without paying for loading it.
"""

from __future__ import annotations

import sys
import unicodedata

from pdmail.errors import EXIT_INTERNAL, PdmailError

_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)}


def clean(text: object, *, keep_newlines: bool = False) -> str:
    """Strip control and escape sequences, bidi overrides and bare CRs from untrusted text."""
    out = []
    for ch in str(text) if text is not None else "":
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


def notice(text: str) -> None:
    """A line for the user on stderr, at once (it may come from a signal handler, before an exit)."""
    sys.stderr.write(f"{text}\n")
    sys.stderr.flush()


def error_line(exc: BaseException, debug: bool) -> int:
    """Print the ``Error: ...`` line for ``exc`` on stderr and return the exit code it maps to."""
    if isinstance(exc, PdmailError):
        sys.stderr.write(f"Error: {clean(exc.message)}\n")
        return exc.exit_code
    if debug:
        import traceback

        traceback.print_exception(exc)
    detail = clean(str(exc)) or type(exc).__name__
    sys.stderr.write(f"Error: internal error ({type(exc).__name__}: {detail}); run with --debug for details\n")
    return EXIT_INTERNAL
