"""Messages parsed in helper processes, in order: one way for Smart BCC and sync alike.

Parsing is the half of capture that needs no database, so helper processes do it while the one
process that writes stores what they sent back. Every caller cuts its messages into tasks the same
way (:func:`tasks`): ``CHUNK`` messages, or fewer that reach ``CHUNK_BYTES``, so that a task is big
enough to be worth sending and small enough that large messages do not fill the memory. Results
come back in the order the messages were given, whichever helper parsed them.

What a helper does with a task is the caller's: read files and parse them (Smart BCC), parse bytes
it was sent (sync over one connection), or download and parse (sync over connections of its own).
It returns one result per message of the task, in order.

The process that asks for the results never waits for a helper: helpers run at a lower priority
(:mod:`pdmail.core.worker_pool`), so on a machine busy with other work they may hardly run at all. A
task whose results are not there when their turn comes is done by the asking process itself
(``local_work``), and the helper's results for it are dropped when they come. On an idle machine the
helpers work ahead and this never happens; on a busy one the run goes at least as fast as without them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Generic, TypeVar

from pdmail.core.worker_pool import HelperPool, Pending, become_helper
from pdmail.mime.limits import MB

Item = TypeVar("Item")

CHUNK = 16  # messages per task sent to a helper
CHUNK_BYTES = 4 * MB  # ...or fewer that reach this size
# Tasks waiting per helper, in a stream. The store takes a whole batch (200 messages) before writing
# it, so the window must hold more than a batch (16 x 16 > 200): with less, the helpers idle while a
# batch is written and the store idles while the next one is parsed.
IN_FLIGHT = 16
# Counts alone would let large messages fill the memory (200 of 25 MB is 5 GB), so the window also
# ends at a size. Typical mail (50 KB a message) never reaches it.
IN_FLIGHT_BYTES = 32 * MB
# Helpers pay for themselves only past this much mail. Parsing costs about 25 ns a byte (plus a tenth
# of a millisecond a message), so a few megabytes parse in the writing process in less time than
# helpers cost to start (a download helper also logs in) and to hand their results back (unpickled
# by the writer at about a third of what parsing would have cost it).
PARALLEL_BYTES = 4 * MB


def tasks(items: Iterable[Item], size_of: Callable[[Item], int]) -> Iterator[tuple[list[Item], int]]:
    """The items cut into tasks, each with its size in bytes: CHUNK items, or fewer that reach CHUNK_BYTES.

    ``size_of`` is what an item will cost in memory once read; 0 when that is not known beforehand
    (a message still on the server), and then only the count cuts.
    """
    chunk: list[Item] = []
    size = 0
    for item in items:
        chunk.append(item)
        size += size_of(item)
        if len(chunk) >= CHUNK or size >= CHUNK_BYTES:
            yield chunk, size
            chunk, size = [], 0
    if chunk:
        yield chunk, size


def load_parser() -> None:
    """Load the parser in this process before helpers are forked from it.

    Forked helpers inherit what is loaded; otherwise each one loads the parser again on its first
    task (a sync forks two per big folder), which costs each about as much as parsing a hundred
    small messages. The process that stores needs it anyway.
    """
    import pdmail.capture.save  # noqa: F401


def parse_raws(raws: Sequence[bytes], *, cut_words: bool = False) -> list:
    """Each message as capture stores it (:func:`pdmail.capture.save.parse_for_store`), in order;
    ``cut_words`` for an engine that takes the words of its full-text index cut."""
    from pdmail.capture.save import parse_for_store  # loaded in the helpers, not by a sync with nothing new

    return [parse_for_store(raw, cut_words=cut_words) for raw in raws]


class ParsePool(Generic[Item]):
    """``work`` run on tasks of items, in ``workers`` helper processes, or here when ``workers`` < 1.

    ``work`` takes a task (a list of items) and returns one result per item, in order; it runs in a
    helper, so it and its results must pickle. An exception it raises is raised where its results
    are asked for, and a helper that ended raises :class:`~pdmail.core.errors.TemporaryFailure` there.
    ``local_work`` does the same in this process, for a task whose helper has not answered when its
    results are asked for (default: ``work`` itself).
    """

    def __init__(
        self,
        workers: int,
        work: Callable[[list[Item]], list],
        initializer: Callable[..., None] = become_helper,
        initargs: tuple = (),
        local_work: Callable[[list[Item]], list] | None = None,
    ) -> None:
        self.work = local_work or work
        if workers >= 1:
            load_parser()
        self.helpers = HelperPool(workers, work, initializer, initargs) if workers >= 1 else None
        self.workers = max(workers, 1)
        self.done_here = 0  # tasks whose helper had not answered in time, done in this process

    def submit(self, items: Sequence[Item], size_of: Callable[[Item], int]) -> Callable[[], list]:
        """Send these items now, as tasks; the function returned waits for their results, in order.

        For a caller that bounds the work it gives out itself (sync: a batch or two ahead).
        """
        if self.helpers is None:
            return lambda: _one_each(self.work(list(items)), len(items))
        helpers = self.helpers
        sent = [(helpers.submit(chunk), chunk) for chunk, _ in tasks(items, size_of)]
        return lambda: [result for pending, chunk in sent for result in self._take(pending, chunk)]

    def results(self, items: Iterable[Item], size_of: Callable[[Item], int]) -> Iterator[Any]:
        """Each item's result, in order, as fast as the caller takes them.

        At most IN_FLIGHT tasks per helper, and IN_FLIGHT_BYTES of items, wait at any time, so memory
        stays flat however many items there are.
        """
        if self.helpers is None:
            for chunk, _ in tasks(items, size_of):
                yield from _one_each(self.work(chunk), len(chunk))
            return
        pending: deque[tuple[Pending, list[Item], int]] = deque()  # (task sent, its items, their bytes)
        waiting = 0  # bytes of the items in the pending tasks
        for chunk, size in tasks(items, size_of):
            pending.append((self.helpers.submit(chunk), chunk, size))
            waiting += size
            while len(pending) >= IN_FLIGHT * self.workers or waiting > IN_FLIGHT_BYTES:
                sent, chunk, size = pending.popleft()
                waiting -= size
                yield from self._take(sent, chunk)
        while pending:
            sent, chunk, _ = pending.popleft()
            yield from self._take(sent, chunk)

    def _take(self, sent: Pending, chunk: list[Item]) -> list:
        """A task's results: its helper's when they are there, else made here (see the module's docstring)."""
        if sent.ready():
            return _one_each(sent(), len(chunk))
        sent.abandon()
        self.done_here += 1
        return _one_each(self.work(chunk), len(chunk))

    def close(self) -> None:
        """Stop the helpers at once, whatever they are doing."""
        if self.helpers is not None:
            self.helpers.close()

    def __enter__(self) -> ParsePool[Item]:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _one_each(results: Any, count: int) -> list:
    """A task's results, checked to be one per item: a task that lost or added one would misfile mail."""
    if not isinstance(results, list) or len(results) != count:
        raise TypeError(
            f"a task of {count} messages came back with {type(results).__name__} instead of {count} results"
        )
    return results
