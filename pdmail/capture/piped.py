"""One message on stdin, as a mail server's pipe delivers it, and the exit codes of Smart BCC runs.

A pipe transport starts pdmail once per message, so this path loads what storing one message needs
and nothing of the machinery of big runs (helper processes, batches, reading files): that lives in
:mod:`pdmail.capture.batch`, which uses the same exit-code rules and the same quarantine of oversize
input as here.
"""

from __future__ import annotations

from pdmail.capture.save import Outcome, ingest_bcc, storable
from pdmail.core.errors import EXIT_OK, EXIT_PARTIAL, EXIT_REFUSED, EXIT_TEMPFAIL, combine_exit_codes
from pdmail.mime.limits import DEFAULT_LIMITS, too_large
from pdmail.store import quarantine as quarantine_store
from pdmail.store.db import Database


def ingest_stdin(db: Database, stream, *, recipient: str | None = None) -> Outcome:
    from pdmail.capture.inputs import read_capped

    quarantine_store.sweep_spool(db)
    head, rest = read_capped(stream, DEFAULT_LIMITS.max_size)
    if rest is not None:
        return spool_oversize(db, rest, "-", recipient)
    return ingest_bcc(db, head, label="-", recipient=recipient)


def spool_oversize(db: Database, chunks, label: str, recipient: str | None) -> Outcome:
    """Quarantine a message too large to read, streamed to the spool whole: the same for every input."""
    path, size, sha = quarantine_store.write_spool(db, chunks)
    reason = too_large(size, DEFAULT_LIMITS.max_size)
    label = storable(label)
    with db.tx():
        qid = quarantine_store.hold(
            db,
            None,
            source=label,
            recipient=storable(recipient),
            reason=reason,
            from_email=None,
            subject=None,
            spool_path=path,
            size=size,
            sha256=sha,
        )
    return Outcome(label, "quarantined", None, reason, quarantine_id=qid)


def exit_code(outcomes: list[Outcome], *, mta: bool = False) -> int:
    """README, "Exit codes": each input's own code (:func:`outcome_exit_code`) combined by the one rule
    of a run of many parts, where a stored input among refused ones makes the run partial (7)."""
    return combine_exit_codes((outcome_exit_code(o, mta=mta) for o in outcomes), mixed=EXIT_PARTIAL)


def outcome_exit_code(outcome: Outcome, *, mta: bool = False) -> int:
    """What one input's outcome says on its own. Quarantined is 3 (refused, and kept); failed is 7: the
    input was not kept (unreadable, missing), so the run cannot promise 3. A mail server (``mta``) is
    told 0 for a quarantined message, which is safe with pdmail, and 75 (try again later) for one that
    failed, which is not."""
    if outcome.status == "failed":
        return EXIT_TEMPFAIL if mta else EXIT_PARTIAL
    if outcome.status == "quarantined" and not mta:
        return EXIT_REFUSED
    return EXIT_OK
