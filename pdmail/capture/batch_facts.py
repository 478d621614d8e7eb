"""What the store held of a batch's messages when the batch began, read in a few queries for all of them.

Capture asks the store a handful of questions per message before it decides (see ``save.py``): is this
content stored already, is its Message-ID taken, does any of its Message-IDs belong to a thread, has
any of its addresses a contact. On a first sync or a big ``bcc-ingest`` the answer is nearly always
"no", and asking costs more than the rest of the message's reads together. :class:`BatchFacts` asks
once for the whole batch, inside its transaction, and answers only "certainly not there": a key that
was there at the start, that was not asked about, or that the batch may have written since (every
write is noted before it is made, and a noted key stays noted even if its write is rolled back) is
asked of the store again, as without it. So every decision is the one the store alone would give.

One more answer comes from the batch itself: the thread of a Message-ID that no thread had when the
batch began and that a message of the batch tied to its thread since (a reply to a message earlier in
the batch). Only in a batch written without savepoints (``Database.is_flat``), where a failure undoes
the whole batch and a row the batch wrote is never undone alone; with savepoints such keys are asked
of the store, as before. On PostgreSQL those rows then wait to go with the batch's others, in one
statement (``PostgresDatabase.write_rows``), instead of being sent to be read back at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pdmail.core.addresses import normalize_address
from pdmail.core.models import ParsedEmail
from pdmail.linking import threads as threading_rules
from pdmail.store import emails as store
from pdmail.store.crm_snapshot import contacts_by_address
from pdmail.store.db import Database

_KEYS = ("fingerprint", "message_id", "thread_id", "address")


@dataclass(frozen=True)
class Planned:
    """One message of the batch as its reader knows it before storing: its likely owner and values."""

    owner_id: int
    parsed: ParsedEmail
    fingerprint: str | None


@dataclass
class BatchFacts:
    """Per kind of key (:data:`_KEYS`): those asked about, and those there or maybe written since."""

    asked: dict[str, set] = field(default_factory=lambda: {k: set() for k in _KEYS})
    maybe_there: dict[str, set] = field(default_factory=lambda: {k: set() for k in _KEYS})
    # (owner, Message-ID) -> thread: tied by the batch, absent when it began; kept only in a flat batch.
    threads_written: dict[tuple[int, str], int] | None = None
    thread_ids_at_start: set = field(default_factory=set)

    @classmethod
    def read(cls, db: Database, planned: Iterable[Planned]) -> BatchFacts:
        """One query per kind of key and owner, for every message ``planned``.

        The mail server's login on a team server reads no mail (``db.capture_only``): the store asks
        the database's capture functions instead, which say which of these keys exist and nothing more.
        """
        facts = cls(threads_written={} if db.is_flat else None)
        by_owner: dict[int, list[Planned]] = {}
        for p in planned:
            by_owner.setdefault(p.owner_id, []).append(p)
        addresses: set[str] = set()
        for owner_id, messages in by_owner.items():
            addresses.update(a for p in messages for a in _addresses(p.parsed))
            fingerprints = {p.fingerprint for p in messages if p.fingerprint}
            own_ids = {p.parsed.message_id_norm for p in messages if p.parsed.message_id_norm}
            thread_ids = {i for p in messages for i in _thread_ids(p.parsed)}
            facts._learn("fingerprint", owner_id, fingerprints, store.stored_fingerprints(db, owner_id, fingerprints))
            facts._learn("message_id", owner_id, own_ids, store.taken_message_ids(db, owner_id, own_ids))
            facts._learn("thread_id", owner_id, thread_ids, store.threaded_message_ids(db, owner_id, thread_ids))
        facts._learn("address", None, addresses, set(contacts_by_address(db, addresses)))
        facts.thread_ids_at_start = set(facts.maybe_there["thread_id"])
        return facts

    def _learn(self, kind: str, owner_id: int | None, asked: set[str], there: set[str]) -> None:
        self.asked[kind].update((owner_id, key) for key in asked)
        self.maybe_there[kind].update((owner_id, key) for key in there)

    def _none_there(self, kind: str, owner_id: int | None, keys: Iterable[str]) -> bool:
        asked, there = self.asked[kind], self.maybe_there[kind]
        return all((owner_id, k) in asked and (owner_id, k) not in there for k in keys)

    # --- the answers ---------------------------------------------------------------------------

    def no_email_with_fingerprint(self, owner_id: int, fingerprint: str) -> bool:
        return self._none_there("fingerprint", owner_id, (fingerprint,))

    def no_email_with_message_id(self, owner_id: int, message_id_norm: str) -> bool:
        return self._none_there("message_id", owner_id, (message_id_norm,))

    def threads_for(self, owner_id: int, message_ids: Sequence[str]) -> list[int] | None:
        """The threads these Message-IDs tie, in id order, as the store would answer; None when only
        the store can say (a key not asked about, there when the batch began, or written outside
        what this batch noted)."""
        asked, there = self.asked["thread_id"], self.maybe_there["thread_id"]
        written = self.threads_written if self.threads_written is not None else {}
        found = set()
        for key in ((owner_id, i) for i in message_ids):
            if key not in asked:
                return None
            thread = written.get(key)
            if thread is not None:
                found.add(thread)
            elif key in there:
                return None
        return sorted(found)

    def no_contact_for(self, addresses: Iterable[str]) -> bool:
        return self._none_there("address", None, addresses)

    # --- what the batch writes -----------------------------------------------------------------

    def will_store(
        self, owner_id: int, fingerprint: str, message_ids: Iterable[str | None], thread_ids: Iterable[str]
    ) -> None:
        """Before an email is written: its content, its Message-IDs and those its thread takes."""
        self.maybe_there["fingerprint"].add((owner_id, fingerprint))
        self.maybe_there["message_id"].update((owner_id, i) for i in message_ids if i)
        self.maybe_there["thread_id"].update((owner_id, i) for i in thread_ids)

    def tied_to_thread(self, owner_id: int, message_ids: Iterable[str], thread_id: int) -> None:
        """After the Message-IDs were tied to the thread: those no thread had when the batch began now
        have this one (a key tied already keeps its first thread, as in the store)."""
        if self.threads_written is None:
            return
        for key in ((owner_id, i) for i in message_ids):
            if key in self.asked["thread_id"] and key not in self.thread_ids_at_start:
                self.threads_written.setdefault(key, thread_id)

    def threads_merged(self, target: int, others: Iterable[int]) -> None:
        """Threads folded into ``target``: their Message-IDs now tie it."""
        if not self.threads_written:
            return
        folded = set(others)
        for key, thread in self.threads_written.items():
            if thread in folded:
                self.threads_written[key] = target

    def will_create_contacts(self, addresses: Iterable[str]) -> None:
        self.maybe_there["address"].update((None, a) for a in addresses)


def _thread_ids(parsed: ParsedEmail) -> tuple[str, ...]:
    """The Message-IDs capture looks the message's thread up by (see ``save._find_threads``)."""
    return threading_rules.thread_ids(parsed.message_id_norm, parsed.in_reply_to, parsed.references)


def _addresses(parsed: ParsedEmail) -> set[str]:
    return {normalize_address(a.email) for a in (*parsed.from_, *parsed.to, *parsed.cc, *parsed.reply_to) if a.email}
