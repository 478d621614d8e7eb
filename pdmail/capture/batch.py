"""Smart BCC over many inputs: parse on every core, store in batches, one outcome per message."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from pdmail.capture.batch_writer import write_batch, write_message
from pdmail.capture.parse_pool import ParsePool
from pdmail.capture.save import Company, Derived, NewContacts, Outcome, ingest_bcc, parse_or_refuse, storable
from pdmail.core.addresses import normalize_address
from pdmail.core.errors import (
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_REFUSED,
    EXIT_TEMPFAIL,
    PdmailError,
    combine_exit_codes,
)
from pdmail.core.models import ParsedEmail
from pdmail.core.worker_pool import interrupt_between_steps
from pdmail.mime.limits import DEFAULT_LIMITS, MB, too_large
from pdmail.store import quarantine as quarantine_store
from pdmail.store.db import Database

if TYPE_CHECKING:  # reading files is not needed for one message on stdin, the mail server's pipe
    from pdmail.capture.inputs import Input

BATCH = 200
PARALLEL_FROM = 64  # below this, starting worker processes costs more than it saves
# A batch also ends at a size: counts alone would let large messages fill the memory (200 of 25 MB
# is 5 GB). Typical mail (50 KB a message) never reaches it.
BATCH_BYTES = 16 * MB


@dataclass(frozen=True)
class Parsed:
    input: Input
    raw: bytes | None  # None when it could not be read (``error``) or is too large to (``oversize``)
    parsed: ParsedEmail | str | None  # a refusal reason (str), or None when not read
    error: str | None = None
    oversize: int = 0
    derived: Derived | None = None


def _parse_job(item: Input, users: frozenset[str] | None = None, cut_words: bool = False) -> Parsed:
    """Read and parse one input. ``users``: the company's addresses; only mail from one of them can be
    stored (the rest is quarantined), so only theirs gets its :class:`Derived` values computed here
    (with its full-text words cut when ``cut_words``)."""
    if item.error:
        return Parsed(item, None, None, item.error)
    try:
        size = item.size()
        if size > DEFAULT_LIMITS.max_size:  # the rule for stdin too: spooled whole, never read into memory
            return Parsed(item, None, None, oversize=size)
        raw = item.read()
    except OSError as exc:
        return Parsed(item, None, None, f"cannot read {item.label}: {exc.strerror}")
    parsed = parse_or_refuse(raw)
    if isinstance(parsed, str):
        return Parsed(item, raw, parsed)
    if users is not None and not any(normalize_address(a.email) in users for a in parsed.from_):
        return Parsed(item, raw, parsed)
    return Parsed(item, raw, parsed, derived=Derived.of_or_none(parsed, cut_words=cut_words))


def default_workers() -> int:
    """One parser per core but one: this process stores, which is the slower half of the work."""
    cores = os.cpu_count() or 1
    return cores - 1 if cores > 1 else 0


def _parse_chunk(items: list[Input], users: frozenset[str] | None = None, cut_words: bool = False) -> list[Parsed]:
    return [_parse_job(item, users, cut_words) for item in items]


def _parsed_stream(
    items: list[Input], workers: int | None, users: frozenset[str] | None = None, cut_words: bool = False
):
    """Parse results in input order, from helper processes that read and parse the files (see
    :mod:`pdmail.capture.parse_pool`: memory stays flat however large the mailbox)."""
    workers = default_workers() if workers is None else workers
    if len(items) < PARALLEL_FROM:
        workers = 0
    with ParsePool(workers, partial(_parse_chunk, users=users, cut_words=cut_words)) as pool:
        yield from pool.results(items, _size_of)


def _size_of(item: Input) -> int:
    """What reading the input will cost in memory (none for one too large to read, or unreadable)."""
    if item.error:
        return 0
    try:
        size = item.size()
    except OSError:
        return 0
    return 0 if size > DEFAULT_LIMITS.max_size else size


def _oversize(db: Database, item: Input, recipient: str | None) -> Outcome:
    return _spool(db, item.chunks(), item.label, recipient)


def _spool(db: Database, chunks, label: str, recipient: str | None) -> Outcome:
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


def ingest_many(
    db: Database,
    inputs: Iterable[Input],
    *,
    recipient: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
    notice: Callable[[str], None] | None = None,
) -> list[Outcome]:
    """Each input on its own: a bad one is reported and the rest go on. Commits every BATCH messages.

    ``notice`` gets a line for the user, e.g. when Ctrl-C is taken.
    """
    items = list(inputs)
    quarantine_store.sweep_spool(db)
    with db.bulk_writes(), interrupt_between_steps(notice) as interrupted:
        return _ingest_all(db, items, recipient, progress, workers, interrupted)


def _ingest_all(
    db: Database,
    items: list[Input],
    recipient: str | None,
    progress: Callable[[int, int], None] | None,
    workers: int | None,
    interrupted: Callable[[], None],
) -> list[Outcome]:
    company = Company.load(db)
    outcomes: list[Outcome] = []
    stream = _parsed_stream(items, workers, frozenset(company.users_by_address), not db.cuts_search_words)
    done = 0
    try:
        while True:
            batch, full = _next_batch(stream)
            if not batch:
                break
            interrupted()
            outcomes.extend(_store_batch(db, batch, recipient, company))
            done += len(batch)
            if progress:
                progress(done, len(items))
            interrupted()
            if not full:
                break
    except PdmailError as exc:
        raise RunStopped(outcomes, exc) from exc
    finally:
        stream.close()  # stops the parser processes now, also when interrupted
    return outcomes


def _next_batch(stream) -> tuple[list[Parsed], bool]:
    """The next BATCH results, or fewer holding BATCH_BYTES; and whether more may follow."""
    batch: list[Parsed] = []
    size = 0
    for result in stream:
        batch.append(result)
        size += len(result.raw or b"")
        if len(batch) >= BATCH or size >= BATCH_BYTES:
            return batch, True
    return batch, False


class RunStopped(PdmailError):
    """A run over many inputs stopped part way (database busy, a helper process killed, ...).

    Carries the outcomes of the batches committed before it stopped, so that they are reported
    like those of a whole run; its message and exit code are those of the failure that stopped it.
    """

    def __init__(self, outcomes: list[Outcome], cause: PdmailError) -> None:
        super().__init__(cause.message, cause.exit_code)
        self.outcomes = outcomes
        self.cause = cause


def _store_batch(db: Database, batch: list[Parsed], recipient: str | None, company: Company) -> list[Outcome]:
    """One transaction per batch (see :mod:`pdmail.capture.batch_writer`). The contacts a batch
    creates are linked to their earlier mail once, before it commits."""

    def write(fail_fast: bool) -> list[Outcome]:
        new_contacts = NewContacts()
        outcomes = [_one(db, result, recipient, company, new_contacts, fail_fast=fail_fast) for result in batch]
        new_contacts.link_earlier_mail(db)
        return outcomes

    # An oversize message writes a spool file, which a rollback does not undo.
    return write_batch(db, write, flat_first=not any(r.oversize for r in batch))


def _one(
    db: Database, result: Parsed, recipient: str | None, company: Company, new_contacts: NewContacts, *, fail_fast: bool
) -> Outcome:
    label = storable(result.input.label)
    if result.oversize:
        return _oversize(db, result.input, recipient)
    raw = result.raw
    if raw is None:  # unreadable (missing, no permission): reported with why, nothing to keep
        return Outcome(label, "failed", None, result.error)

    def store() -> Outcome:
        return ingest_bcc(
            db,
            raw,
            label=label,
            recipient=recipient,
            parsed=result.parsed,
            company=company,
            derived=result.derived,
            fail_fast=fail_fast,
            new_contacts=new_contacts,
        )

    def failed(exc: Exception) -> Outcome:
        # Only the machine's failures get here (the message's own end in the quarantine).
        if isinstance(exc, PdmailError):
            return Outcome(label, "failed", None, exc.message)
        return Outcome(label, "failed", None, f"internal error ({type(exc).__name__}: {exc})")

    return write_message(db, store, fail_fast=fail_fast, on_failure=failed)


def ingest_stdin(db: Database, stream, *, recipient: str | None = None) -> Outcome:
    from pdmail.capture.inputs import read_capped

    quarantine_store.sweep_spool(db)
    head, rest = read_capped(stream, DEFAULT_LIMITS.max_size)
    if rest is not None:
        return _spool(db, rest, "-", recipient)
    return ingest_bcc(db, head, label="-", recipient=recipient)


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
