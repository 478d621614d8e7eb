"""Big folders downloaded by helper processes, each with a connection of its own, parsing as they go.

The process that writes the database is the slowest stage of a big sync. Here it neither decodes
IMAP responses nor hands message bytes to parsers: it gets bytes and parse results together. The
helpers are a :class:`~pdmail.capture.parse_pool.ParsePool` whose tasks are UIDs to download first,
cut into tasks like every other parse (their sizes are not known before they are downloaded, so
only the count cuts).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice

from pdmail.capture.parse_pool import ParsePool, parse_raws
from pdmail.core.errors import PdmailError
from pdmail.core.worker_pool import become_helper
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


@dataclass(frozen=True)
class Downloaded:
    """One UID of a download task: its message and parse result, or None when the server sent no content.

    ``handed_back``: the helper could not log in (a server may allow a user only so many connections,
    and the user's own mail program holds some), so the run downloads this one over its own.
    """

    uid: int
    fetched: Fetched | None = None
    parsed: object = None
    handed_back: bool = False


_reader_factory: Callable[[], MailSource] | None = None  # in a download process: how to open its reader
_reader: MailSource | PdmailError | None = None  # its reader, or why it could not log in
_cut_words = False  # in a download process: whether to cut the full-text words too (see parse_raws)


def _init_downloader(factory: Callable[[], MailSource], cut_words: bool = False) -> None:
    global _reader_factory, _reader, _cut_words
    _reader_factory, _reader, _cut_words = factory, None, cut_words
    become_helper()


def _download_and_parse(uids: list[int]) -> list[Downloaded]:
    """In a download process: fetch these messages over its own connection, then parse them."""
    global _reader
    if _reader is None:  # opened here, not in the initializer, so that a refusal is answered per task
        if _reader_factory is None:
            raise RuntimeError("a download process runs only after its initializer")
        try:
            _reader = _reader_factory()
        except PdmailError as exc:
            _reader = exc
    if isinstance(_reader, Exception):
        return [Downloaded(uid, handed_back=True) for uid in uids]
    return _each_uid(uids, list(_reader.fetch(uids)), _cut_words)


def _each_uid(uids: list[int], fetched: list[Fetched], cut_words: bool) -> list[Downloaded]:
    parsed = parse_raws([f.raw for f in fetched], cut_words=cut_words)
    by_uid = dict(zip((f.uid for f in fetched), zip(fetched, parsed)))
    return [Downloaded(uid, *by_uid[uid]) if uid in by_uid else Downloaded(uid) for uid in uids]


class Downloads:
    """The batches of a folder's new messages, downloaded and parsed by ``workers`` processes.

    Batches come back in order, the helpers working ahead as far as the parse pool lets them; a
    download error is raised when its batch's turn comes, after every batch before it was stored.
    """

    def __init__(
        self,
        source: MailSource,
        factory: Callable[[], MailSource],
        uids: list[int],
        workers: int,
        *,
        batch: int,
        cut_words: bool = False,
    ) -> None:
        self.source = source
        self.uids = uids
        self.batch = batch
        self.cut_words = cut_words
        self.helpers: ParsePool[int] = ParsePool(
            workers, _download_and_parse, _init_downloader, (factory, cut_words), local_work=self._download_here
        )

    def __iter__(self) -> Iterator[Batch]:
        downloaded = self.helpers.results(self.uids, _size_unknown)
        for chunk in chunks(self.uids, self.batch):
            got = list(islice(downloaded, len(chunk)))
            back = [d.uid for d in got if d.handed_back]
            if back:  # those processes could not log in: download these over our connection
                own = {d.uid: d for d in _each_uid(back, list(self.source.fetch(back)), self.cut_words)}
                got = [own[d.uid] if d.handed_back else d for d in got]
            fetched = [d.fetched for d in got if d.fetched is not None]
            parsed = [d.parsed for d in got if d.fetched is not None]
            yield Batch.of(self.source, chunk, fetched, _ready(parsed))

    def _download_here(self, uids: list[int]) -> list[Downloaded]:
        """A task its helper has not done when its turn comes: downloaded over this run's connection."""
        return _each_uid(uids, list(self.source.fetch(uids)), self.cut_words)

    def close(self) -> None:
        self.helpers.close()


def _size_unknown(uid: int) -> int:
    return 0  # a message on the server: its size is known once it is downloaded


def _ready(parsed: list) -> Callable[[], list]:
    """What a batch asks for its parsed messages when they are already there."""
    return lambda: parsed
