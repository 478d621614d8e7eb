"""Big folders downloaded by helper processes, each with a connection of its own, parsing as they go.

The process that writes the database is the slowest stage of a big sync. Here it neither decodes
IMAP responses nor hands message bytes to parsers: it gets bytes and parse results together.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from pdmail.core.errors import PdmailError
from pdmail.core.worker_pool import HelperPool, become_helper
from pdmail.sync.mailsource import Fetched, MailSource, chunks


@dataclass
class Batch:
    """One downloaded batch on its way to the store; its parsing may still be running."""

    chunk: list[int]
    fetched: list[Fetched]
    parsing: Callable[[], list]
    missing: list[int]  # UIDs the server sent no content for
    still_there: set[int]  # ...of which these still exist (a failure to retry, not an expunge)

    @classmethod
    def of(cls, source: MailSource, chunk: list[int], fetched: list[Fetched], parsing: Callable[[], list]) -> Batch:
        """The batch of ``chunk``. A UID that came without content is asked about again: expunged since
        the search (fine), or the server failed to send it."""
        present = {f.uid for f in fetched}
        missing = [u for u in chunk if u not in present]
        still_there = set(source.flags(missing)) if missing else set()
        return cls(chunk, fetched, parsing, missing, still_there)


def parse_all(raws: list[bytes]) -> list:
    """Each message as capture stores it (:func:`capture.parse_for_store`), in order."""
    from pdmail.capture import save as capture

    return [capture.parse_for_store(raw) for raw in raws]


TASK = 50  # messages one download process fetches and parses per task
_reader_factory: Callable[[], MailSource] | None = None  # in a download process: how to open its reader
_reader: MailSource | PdmailError | None = None  # its reader, or why it could not log in


def _init_downloader(factory: Callable[[], MailSource]) -> None:
    global _reader_factory, _reader
    _reader_factory, _reader = factory, None
    become_helper()


def _download_and_parse(uids: list[int]) -> tuple[list[Fetched], list] | None:
    """In a download process: fetch these messages over its own connection, then parse them.

    None when this process could not log in: a server may allow a user only so many connections (the
    user's own mail program holds some). Its tasks are then handed back and the run downloads them itself.
    """
    global _reader
    if _reader is None:  # opened here, not in the initializer, so that a refusal is answered per task
        if _reader_factory is None:
            raise RuntimeError("a download process runs only after its initializer")
        try:
            _reader = _reader_factory()
        except PdmailError as exc:
            _reader = exc
    if isinstance(_reader, Exception):
        return None
    fetched = list(_reader.fetch(uids))
    return fetched, parse_all([f.raw for f in fetched])


class Downloads:
    """The batches of a folder's new messages, downloaded and parsed by ``workers`` processes.

    Batches come back in order, at most ``depth`` ahead of the one being stored; a download error is
    raised when its batch's turn comes, after every batch before it was stored.
    """

    def __init__(
        self, source: MailSource, factory: Callable[[], MailSource], batches, workers: int, depth: int = 2
    ) -> None:
        self.source = source
        self.batches = iter(batches)
        self.depth = depth
        self.helpers = HelperPool(workers, _download_and_parse, _init_downloader, (factory,))

    def _submit(self, pending: deque) -> None:
        chunk = next(self.batches, None)
        if chunk is not None:
            pending.append((chunk, [(part, self.helpers.submit(part)) for part in chunks(chunk, TASK)]))

    def __iter__(self):
        pending: deque = deque()
        for _ in range(self.depth):
            self._submit(pending)
        while pending:
            chunk, jobs = pending.popleft()
            self._submit(pending)
            fetched: list[Fetched] = []
            parsed: list = []
            for part, result in jobs:
                done = result()
                if done is None:  # that process could not log in: download these over our connection
                    got = list(self.source.fetch(part))
                    done = got, parse_all([f.raw for f in got])
                fetched += done[0]
                parsed += done[1]
            yield Batch.of(self.source, chunk, fetched, _ready(parsed))

    def close(self) -> None:
        self.helpers.close()


def _ready(parsed: list) -> Callable[[], list]:
    """What a batch asks for its parsed messages when they are already there."""
    return lambda: parsed
