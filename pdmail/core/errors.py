"""Typed errors that carry their exit code, so the CLI translates them in one place.

Library code raises these; it never prints and never calls ``sys.exit``.
"""

from __future__ import annotations

from collections.abc import Iterable

# Exit codes of docs/spec.md ("Exit codes"), in one place.
EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_NOT_FOUND = 4
EXIT_NOT_PERMITTED = 5  # your role does not allow it (an admin's change): not a typo (2), nothing to retry
EXIT_PARTIAL = 7
EXIT_TEMPFAIL = 75
EXIT_AUTH = 77
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report a program SIGINT stopped (128 + 2)
EXIT_OUTPUT_CLOSED = 141  # what shells report for a program a closed pipe stopped (128 + SIGPIPE)


# A run of many parts (accounts, outbox messages, inputs) ends with one code: the first of these that
# any part ended with, in this order (what the user must fix first comes first), else the largest.
RANKED_EXIT_CODES = (EXIT_AUTH, EXIT_USAGE, EXIT_TEMPFAIL, EXIT_PARTIAL)


def combine_exit_codes(codes: Iterable[int], *, otherwise: int | None = None, mixed: int | None = None) -> int:
    """The one exit code of a run from its parts' codes (0 for a part that went through).

    Credentials first, then configuration, then retry later, then partial. A part that failed
    otherwise makes the run end with ``mixed`` when another part went through and ``mixed`` is given
    (inputs: 3 promises that *every* input was refused, so one stored among them makes the run
    partial); else with ``otherwise``, or with the largest such code when it is None.
    """
    seen = set(codes)
    failed = seen - {EXIT_OK}
    for code in RANKED_EXIT_CODES:
        if code in failed:
            return code
    if not failed:
        return EXIT_OK
    if mixed is not None and EXIT_OK in seen:
        return mixed
    return max(failed) if otherwise is None else otherwise


class PdmailError(Exception):
    """An error a user can act on: its message is shown as one ``Error: ...`` line."""

    exit_code = EXIT_INTERNAL

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class UsageError(PdmailError):
    """Bad arguments or configuration (exit 2)."""

    exit_code = EXIT_USAGE


class NotPermitted(PdmailError):
    """The user's role does not allow this change, such as a company setting for a non-admin (exit 5).

    Its own code, so that a script tells "you may not" apart from a mistyped command (2): asking
    again, or an admin, is the fix.
    """

    exit_code = EXIT_NOT_PERMITTED


class InputRefused(PdmailError):
    """Input was refused and quarantined; nothing was lost (exit 3)."""

    exit_code = EXIT_REFUSED


class NotFound(PdmailError):
    """Missing, or not visible to this user: the two must read alike (exit 4)."""

    exit_code = EXIT_NOT_FOUND


class OwnerOnly(PdmailError):
    """An email this user may see but not change (exit 4, as a change refused by its owner's right).

    Saying "not found" about an email the user can read would be false and confusing; saying who may
    change it leaks nothing, since the owner is part of what they see.
    """

    exit_code = EXIT_NOT_FOUND


class PartialFailure(PdmailError):
    """Some inputs failed and the rest went through (exit 7)."""

    exit_code = EXIT_PARTIAL


class TemporaryFailure(PdmailError):
    """Retry later: lock held, database busy, server unreachable (exit 75)."""

    exit_code = EXIT_TEMPFAIL


class AuthFailure(PdmailError):
    """The mail server refused our credentials or its certificate is untrusted (exit 77)."""

    exit_code = EXIT_AUTH


def not_found(kind: str, ident: object) -> NotFound:
    """The one message for 'no such record' and 'not yours to see' alike."""
    return NotFound(f"{kind} {ident} not found")
