"""The one way a batch of messages is written: one transaction, with savepoints only when needed.

Smart BCC over many inputs and sync both store mail in batches. A savepoint per message makes
SQLite's full-text index write out what it buffered, several times the work of the message itself,
so a batch is first written without them. When a message fails in it, that attempt is rolled back
whole and the batch is written again with one savepoint per message, so that only the failed ones
are left out. Only failures of the machine (TemporaryFailure) stop the batch either way.

On PostgreSQL the first attempt also sends its writes without waiting for each one's answer (see
``PostgresDatabase.flat``); a failure told late, outside the message it belongs to
(:class:`DeferredWriteFailed`), makes the batch start again with savepoints just the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pdmail.core.errors import TemporaryFailure
from pdmail.store.db import Database, DeferredWriteFailed

T = TypeVar("T")


class RetryWithSavepoints(Exception):
    """A message failed inside a batch written without savepoints: redo the batch with them."""


def write_batch(
    db: Database, write: Callable[[bool], T], *, flat_first: bool = True, on_retry: Callable[[], None] | None = None
) -> T:
    """``write(fail_fast)`` in one transaction: first flat (``fail_fast`` True), then, if a message
    failed, again with savepoints (``fail_fast`` False) after ``on_retry`` forgot what the first
    attempt counted. ``flat_first`` False goes straight to savepoints, for a batch that writes what a
    rollback cannot undo (a spool file)."""
    if flat_first:
        try:
            with db.tx(), db.flat():
                return write(True)
        except (RetryWithSavepoints, DeferredWriteFailed):
            if on_retry is not None:
                on_retry()
    with db.tx():
        return write(False)


def write_message(db: Database, store: Callable[[], T], *, fail_fast: bool, on_failure: Callable[[Exception], T]) -> T:
    """One message of a batch, in its own savepoint (a plain block when the batch is flat).

    A failure of the message makes a flat batch start again with savepoints; with them, it is
    handed to ``on_failure`` and the batch goes on without that message.
    """
    try:
        with db.tx():
            return store()
    except TemporaryFailure:
        raise
    except Exception as exc:
        if fail_fast:
            raise RetryWithSavepoints from exc
        return on_failure(exc)
