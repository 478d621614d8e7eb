"""Smart BCC over many inputs: parse on every core, store in batches, one outcome per message."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from pdmail.capture import parse_pool
from pdmail.capture.batch_facts import BatchFacts, Planned
from pdmail.capture.batch_writer import write_batch, write_message
from pdmail.capture.parse_pool import ParsePool
from pdmail.capture.piped import exit_code, ingest_stdin, outcome_exit_code, spool_oversize
from pdmail.capture.save import Company, Derived, NewContacts, Outcome, ingest_bcc, parse_or_refuse, storable
from pdmail.core.addresses import normalize_address
from pdmail.core.errors import PdmailError
from pdmail.core.models import ParsedEmail
from pdmail.core.worker_pool import interrupt_between_steps
from pdmail.mime.limits import DEFAULT_LIMITS, MB
from pdmail.store import quarantine as quarantine_store
from pdmail.store.db import Database

if TYPE_CHECKING:
    from pdmail.capture.inputs import Input

# One message on stdin is :mod:`pdmail.capture.piped`; its names are kept here for the callers of a run.
__all__ = ["RunStopped", "default_workers", "exit_code", "ingest_many", "ingest_stdin", "outcome_exit_code"]

BATCH = 200
PARALLEL_FROM = 64  # below this many messages, starting worker processes costs more than it saves
PARALLEL_BYTES = parse_pool.PARALLEL_BYTES  # ...or below this many bytes (see there)
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
    if workers is None:  # chosen here: helpers only where they pay, by bytes as well as by count
        workers = default_workers() if _reaches(items, PARALLEL_BYTES) else 0
    if len(items) < PARALLEL_FROM:
        workers = 0
    with ParsePool(workers, partial(_parse_chunk, users=users, cut_words=cut_words)) as pool:
        yield from pool.results(items, _size_of)


def _reaches(items: list[Input], size: int) -> bool:
    """Whether the inputs hold at least ``size`` bytes (read from the file system, not the files)."""
    total = 0
    for item in items:
        total += _size_of(item)
        if total >= size:
            return True
    return False


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
    return spool_oversize(db, item.chunks(), item.label, recipient)


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
        known = BatchFacts.read(db, _planned(batch, company))  # inside the batch's transaction
        outcomes = [_one(db, result, recipient, company, new_contacts, known, fail_fast=fail_fast) for result in batch]
        new_contacts.link_earlier_mail(db)
        return outcomes

    # An oversize message writes a spool file, which a rollback does not undo.
    return write_batch(db, write, flat_first=not any(r.oversize for r in batch))


def _planned(batch: list[Parsed], company: Company) -> list[Planned]:
    """The batch's messages that may be stored, with the user whose mail each looks to be."""
    planned = []
    for result in batch:
        if not isinstance(result.parsed, ParsedEmail):
            continue
        owner = next(
            (u for a in result.parsed.from_ if (u := company.users_by_address.get(normalize_address(a.email)))), None
        )
        if owner is not None:
            fingerprint = result.derived.fingerprint if result.derived else None
            planned.append(Planned(owner.id, result.parsed, fingerprint))
    return planned


def _one(
    db: Database,
    result: Parsed,
    recipient: str | None,
    company: Company,
    new_contacts: NewContacts,
    known: BatchFacts,
    *,
    fail_fast: bool,
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
            known=known,
        )

    def failed(exc: Exception) -> Outcome:
        # Only the machine's failures get here (the message's own end in the quarantine).
        if isinstance(exc, PdmailError):
            return Outcome(label, "failed", None, exc.message)
        return Outcome(label, "failed", None, f"internal error ({type(exc).__name__}: {exc})")

    return write_message(db, store, fail_fast=fail_fast, on_failure=failed)
