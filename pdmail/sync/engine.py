"""2-way sync of one mail account: local intents up, then server changes down, resumable at any point.

The order follows RFC 4549: push the user's pending changes, then per folder pull new messages and
flag changes, and only when every folder has been read, apply what vanished (so a message moved
between folders is recognized as a move, not a deletion plus a new message). A folder's cursor is
written in the same transaction as the messages it covers; killing a run at any point leaves a
state from which the next run converges to what an uninterrupted run would have produced.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial

from pdmail.capture.batch_writer import write_batch, write_message
from pdmail.capture.parse_pool import ParsePool, parse_raws
from pdmail.core.addresses import normalize_message_id
from pdmail.core.errors import (
    AuthFailure,
    PartialFailure,
    PdmailError,
    TemporaryFailure,
    UsageError,
    combine_exit_codes,
)
from pdmail.core.settings import is_on
from pdmail.core.worker_pool import interrupt_between_steps
from pdmail.mime.limits import MB
from pdmail.store import accounts as accounts_store
from pdmail.store import crm_snapshot, past_skips
from pdmail.store import quarantine as quarantine_store
from pdmail.store import sync_state as state
from pdmail.store import users as users_store
from pdmail.store.accounts import Account
from pdmail.store.company import Company
from pdmail.store.db import Database, iso_utc
from pdmail.store.sync_state import EMAIL_FOLDER_OF_ROLE, FolderState
from pdmail.sync.downloads import Batch, Downloads
from pdmail.sync.mailsource import SEEN, Fetched, FolderInfo, MailSource, Selected, chunks

BATCH = 200  # messages per transaction
FULL_SCAN_EVERY = timedelta(hours=24)  # even with CONDSTORE, re-read every flag and UID this often
MASS_DELETION_MIN = 5  # the guard only looks at folders where at least this many messages vanish...
MASS_DELETION_SHARE = 0.5  # ...and more than this share of the folder does
PARALLEL_FROM = 400  # below this many messages, starting worker processes costs more than it saves...
# ...and below PARALLEL_BYTES of them, when the source can tell their sizes before downloading. Higher
# than Smart BCC's bar (parse_pool.PARALLEL_BYTES): a sync's helpers each log in to the server, and a
# task one has not done in time is downloaded again by the run itself. On a busy machine a folder of
# 1,500 real messages (13.6 MB) synced faster without them than with them.
PARALLEL_BYTES = 16 * MB
PREFETCH = 1  # downloaded batches waiting to be stored (one more downloads meanwhile)
PULLED_ROLES = ("inbox", "sent", "archive", "trash")  # always read: moves between them must be seen


class MassDeletion(PdmailError):
    exit_code = PartialFailure.exit_code


@dataclass
class SyncOptions:
    confirm_deletions: bool = False
    full_scan: bool = False
    batch: int = BATCH
    # Called after every commit ("commit") and every change sent to the server ("server"), with a
    # running count: tests interrupt a run at each of these points. PDMAIL_CRASH_AT=commit:N kills
    # the process at the Nth commit instead.
    checkpoint: Callable[[str, int], None] | None = None
    progress: Callable[[str, int, int], None] | None = None  # (folder, done, total)
    source_factory: Callable[[Account], MailSource] | None = None
    workers: int | None = None  # parsing processes for big batches (default: up to 2)
    notice: Callable[[str], None] | None = None  # a line for the user, e.g. when Ctrl-C is taken


# What each local intent is called once it reached the server, in a run's summary and JSON.
PUSHED = {"read": "read", "unread": "unread", "archive": "archived", "delete": "deleted", "restore": "restored"}


@dataclass
class AccountResult:
    account: str
    new: int = 0
    updated: int = 0
    deleted: int = 0
    skipped: int = 0  # already in pdmail (a Smart BCC copy, say), or unreadable and quarantined
    errors: list[str] = field(default_factory=list)
    folder_errors: dict[str, str] = field(default_factory=dict)
    outcome: str = "ok"  # ok | partial | tempfail | authfail | error | interrupted
    exit_code: int = 0
    # Left out on purpose, by the account's choices: what a first sync must explain, or the user
    # wonders where their mail went. ``older``: on the server from before the --since day, counted
    # when a folder is read for the first time; ``not_from_contacts``: past mail (--past contacts)
    # that involves no contact, kept on the server and fetched once it does.
    older: int = 0
    not_from_contacts: int = 0
    since: str | None = None
    pushed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PUSHED.values(), 0))

    def to_json(self) -> dict:
        return {
            "account": self.account,
            "new": self.new,
            "updated": self.updated,
            "deleted": self.deleted,
            "skipped": self.skipped,
            "left_out": {"older": self.older, "not_from_contacts": self.not_from_contacts, "since": self.since},
            "pushed": dict(self.pushed),
            "errors": list(self.errors),
        }

    @property
    def left_out(self) -> int:
        return self.older + self.not_from_contacts

    def summary(self) -> str:
        text = (
            f"{self.account}: {self.new} new, {self.updated} updated, {self.deleted} deleted, "
            f"{self.skipped} skipped, {len(self.errors)} errors"
        )
        if any(self.pushed.values()):
            text += "; sent to the server: " + ", ".join(f"{n} {what}" for what, n in self.pushed.items() if n)
        if self.left_out:
            text += f"; {self.left_out_text()}"
        return text if self.outcome in ("ok", "partial") else f"{text} ({self.outcome})"

    def left_out_text(self) -> str:
        """Why mail on the server is not here, in the words of the options that decide it."""
        if self.older and self.not_from_contacts:
            why, options = f"older than {self.since} or not from a known contact", "--since and --past"
        elif self.older:
            why, options = f"older than {self.since}", "--since"
        else:
            why, options = "from before the account was added and not from a known contact", "--past"
        return f"left out {self.left_out} {why} (see {options} in `pdmail account set --help`)"


@dataclass
class _Pass:
    """What the first half of a folder's pull saw, for the second half (vanished messages, cursor)."""

    folder: FolderState
    selected: Selected
    server_uids: set[int]
    full_scan: bool


_END = object()


class _Prefetch:
    """Downloads the next batches in a thread while the current one is stored.

    At most ``depth`` batches wait, so memory stays flat. A download error travels through the
    queue in order: every batch fetched before it is stored first, then it is raised here.
    """

    def __init__(self, source: MailSource, parser: ParsePool[bytes], batches, depth: int = PREFETCH) -> None:
        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self.stopping = threading.Event()
        self.thread = threading.Thread(
            target=self._run, args=(source, parser, batches), daemon=True, name="pdmail-fetch"
        )
        self.thread.start()

    def _run(self, source: MailSource, parser: ParsePool[bytes], batches) -> None:
        try:
            for chunk in batches:
                if self.stopping.is_set():
                    return
                fetched = list(source.fetch(chunk))
                self._put(Batch.of(source, chunk, fetched, parser.submit([f.raw for f in fetched], len)))
        except BaseException as exc:  # noqa: BLE001 - handed to the storing thread, which raises it
            self._put(exc)
            return
        self._put(_END)

    def _put(self, item) -> None:
        while not self.stopping.is_set():
            try:
                self.queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def __iter__(self):
        while True:
            item = self.queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        """Stop downloading and wait for the thread: the connection is not shared once this returns."""
        self.stopping.set()
        self.thread.join()


class Checkpoints:
    def __init__(self, hook: Callable[[str, int], None] | None) -> None:
        self.hook = hook
        self.count = 0
        crash = os.environ.get("PDMAIL_CRASH_AT", "")
        kind, _, n = crash.partition(":")
        self.crash_kind, self.crash_at = (kind, int(n)) if n.isdigit() else ("", 0)

    def __call__(self, kind: str) -> None:
        self.count += 1
        if self.hook is not None:
            self.hook(kind, self.count)
        if self.crash_at and self.crash_kind in (kind, "any") and self.count == self.crash_at:
            os._exit(137)


def open_source(account: Account) -> MailSource:
    if account.kind == "maildir":
        from pdmail.sync.maildir_source import MaildirSource

        if not account.maildir_path:
            raise UsageError(f"account {account.name} has no Maildir path")
        return MaildirSource(account.maildir_path)
    from pdmail.sync.imap_source import ImapSource

    return ImapSource.connect(account)


def since_date(account: Account) -> date | None:
    if not account.since or account.since == "all":
        return None
    try:
        return date.fromisoformat(account.since[:10])
    except ValueError:
        raise UsageError(f"account {account.name}: --since {account.since!r} is not a date") from None


class AccountSync:
    """One run for one account. The caller holds the account's lock."""

    def __init__(self, db: Database, account: Account, options: SyncOptions, run_id: int | None = None) -> None:
        self.db = db
        self.account = account
        self.options = options
        self.run_id = run_id  # its sync_runs row, brought up to date with each commit
        self.user = users_store.get_user(db, account.owner_id)
        self.result = AccountResult(account.name, since=account.since if account.since != "all" else None)
        self.checkpoint = Checkpoints(options.checkpoint)
        self._source: MailSource | None = None  # opened by run(), for the run
        self.company: Company | None = None  # read again for each batch, with the settings it carries
        # UIDs whose flags came with their download in this run: the flag pass need not read them again.
        self.downloaded: dict[int, set[int]] = {}

    # --- plumbing ----------------------------------------------------------------------------

    @property
    def source(self) -> MailSource:
        if self._source is None:
            raise RuntimeError("the mail source is open only during run()")
        return self._source

    def _commit(self, work: Callable[[], object]):
        with self.db.tx():
            out = work()
            self._note_progress()
        self.checkpoint("commit")
        return out

    def _note_progress(self) -> None:
        """Inside each commit: the run's record says what it kept, should it never get to finish."""
        if self.run_id is not None:
            r = self.result
            state.note_progress(
                self.db,
                self.run_id,
                new=r.new,
                updated=r.updated,
                deleted=r.deleted,
                skipped=r.skipped,
                errors=len(r.errors),
            )

    def _select(self, folder: FolderState) -> Selected:
        known = None
        if self.source.name_keyed and folder.uidvalidity is not None:
            known = state.known_keys(self.db, folder.id, folder.uidvalidity)
        return self.source.select(folder.name, known_keys=known, last_uid=folder.last_uid)

    def _progress(self, folder: str, done: int, total: int) -> None:
        if self.options.progress is not None:
            self.options.progress(folder, done, total)

    # --- the run -----------------------------------------------------------------------------

    def run(self) -> AccountResult:
        factory = self.options.source_factory or open_source
        self._source = factory(self.account)
        try:
            folders = self._folders()
            self._push(folders)
            passes = []
            for folder in folders:
                if folder.role not in PULLED_ROLES and not self._chosen(folder):
                    continue
                try:
                    found = self._pull(folder)
                except (TemporaryFailure, AuthFailure):
                    raise
                except PdmailError as exc:
                    self._folder_error(folder, exc.message)
                    continue
                if found is not None:
                    passes.append(found)
            for found in passes:
                try:
                    self._settle(found)
                except PdmailError as exc:
                    self._folder_error(found.folder, exc.message)
        finally:
            self.source.close()
        if self.result.errors:
            self.result.outcome, self.result.exit_code = "partial", PartialFailure.exit_code
        return self.result

    def _folder_error(self, folder: FolderState, message: str) -> None:
        self.result.folder_errors[folder.name] = message
        self.result.errors.append(f"{folder.name}: {message}")
        self._commit(lambda: state.set_folder_error(self.db, folder.id, message))

    def _chosen(self, folder: FolderState) -> bool:
        chosen = self.account.folders
        if chosen is None:
            return folder.role != "junk"
        return folder.name in chosen or folder.role in chosen

    def _folders(self) -> list[FolderState]:
        infos: list[FolderInfo] = [f for f in self.source.folders() if f.selectable and f.role != "drafts"]

        def record():
            out = [state.ensure_folder(self.db, self.account.id, f.name, f.role) for f in infos]
            state.mark_missing(self.db, self.account.id, [f.name for f in infos])
            return out

        return self._commit(record)

    # --- push: local intents to the server ----------------------------------------------------

    def _push(self, folders: list[FolderState]) -> None:
        ops = state.open_ops(self.db, self.account.id)
        if not ops:
            return
        by_role: dict[str, FolderState] = {}
        for f in folders:
            by_role.setdefault(f.role, f)
        settings = {
            key: is_on(users_store.get_setting(self.db, key, self.user))
            for key in ("archive-on-server", "delete-on-server")
        }
        for op in ops:
            self._commit(lambda: state.start_op(self.db, op.id))
            try:
                status, error, gone, seen = self._apply(op, by_role, settings)
            except (TemporaryFailure, AuthFailure):
                raise
            except PdmailError as exc:
                status, error, gone, seen = "failed", exc.message, [], {}
            if error:
                self.result.errors.append(f"email {op.email_id}: {op.kind} on the server failed: {error}")
            elif status == "done" and (gone or seen):
                self.result.pushed[PUSHED[op.kind]] += 1

            def finish():
                state.mark_gone(self.db, gone)
                for location_id, flags in seen.items():
                    state.set_location_flags(self.db, location_id, flags)
                state.finish_op(self.db, op.id, status, error)

            self._commit(finish)

    def _apply(self, op: state.PendingOp, by_role: dict[str, FolderState], settings: dict[str, bool]):
        """Carry one intent out on the server. Every step is safe to repeat after a crash."""
        copies = state.email_locations(self.db, self.account.id, op.email_id)
        gone: list[int] = []
        seen: dict[int, frozenset[str]] = {}
        if op.kind in ("read", "unread"):
            for folder_id in sorted({f.id for _, f in copies}):
                here = [(loc, f) for loc, f in copies if f.id == folder_id]
                self._select(here[0][1])
                uids = [loc.uid for loc, _ in here]
                if op.kind == "read":
                    self.source.add_flags(uids, [SEEN])
                else:
                    self.source.remove_flags(uids, [SEEN])
                self.checkpoint("server")
                for loc, _ in here:
                    seen[loc.id] = loc.flags | {SEEN} if op.kind == "read" else loc.flags - {SEEN}
            return "done", None, gone, seen
        if op.kind == "archive":
            if not settings["archive-on-server"]:
                return "skipped", None, gone, seen
            moving, target = [(loc, f) for loc, f in copies if f.role == "inbox"], by_role.get("archive")
        elif op.kind == "delete":
            if not settings["delete-on-server"]:
                return "skipped", None, gone, seen
            moving, target = [(loc, f) for loc, f in copies if f.role != "trash"], by_role.get("trash")
        else:  # restore
            allowed = {
                r for r, key in (("trash", "delete-on-server"), ("archive", "archive-on-server")) if settings[key]
            }
            email = state.email_state(self.db, op.email_id)
            target = by_role.get("sent" if email is not None and email["direction"] == "outgoing" else "inbox")
            moving = [(loc, f) for loc, f in copies if f.role in allowed]
        if not moving:
            return "done", None, gone, seen
        if target is None:
            return "failed", f"the server has no {(op.kind == 'archive' and 'archive') or 'trash'} folder", gone, seen
        for folder_id in sorted({f.id for _, f in moving}):
            here = [(loc, f) for loc, f in moving if f.id == folder_id]
            if here[0][1].id == target.id:
                continue
            self._select(here[0][1])
            self.source.move([loc.uid for loc, _ in here], target.name)
            self.checkpoint("server")
            gone.extend(loc.id for loc, _ in here)
        return "done", None, gone, seen

    # --- pull, first half: new messages and flags ---------------------------------------------

    def _full_scan_due(self, folder: FolderState) -> bool:
        if self.options.full_scan or folder.last_full_scan_utc is None:
            return True
        last = datetime.strptime(folder.last_full_scan_utc, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        return datetime.now(UTC) - last > FULL_SCAN_EVERY

    def _pull(self, folder: FolderState) -> _Pass | None:
        selected = self._select(folder)
        first_read = folder.uidvalidity != selected.uidvalidity
        if first_read:
            # A first sync, or the server renumbered the folder: its old locations stay until the
            # messages are matched again (by Message-ID) or found gone.
            def renumbered():
                state.reset_validity(self.db, folder.id, selected.uidvalidity)
                past_skips.forget_other_numbering(self.db, folder.id, selected.uidvalidity)

            self._commit(renumbered)
            folder = state.get_folder(self.db, folder.id)
        if folder.past_uidnext is None and not self.source.name_keyed:
            folder = self._first_look(folder, selected)
        full = self._full_scan_due(folder)
        retry = state.failures_to_retry(self.db, folder.id, selected.uidvalidity)
        wanted_now = past_skips.to_fetch(
            self.db, folder.id, selected.uidvalidity, everyone=(self.account.past or "everyone") != "contacts"
        )
        unchanged = (
            selected.highestmodseq is not None
            and folder.highestmodseq == selected.highestmodseq
            and folder.uidnext == selected.uidnext
            and folder.exists_count == selected.exists
        )
        if unchanged and not full and not retry and not wanted_now:
            if folder.last_error:
                self._commit(lambda: state.set_folder_error(self.db, folder.id, None))
            return None
        server_uids = self.source.uids()
        server = set(server_uids)
        since = since_date(self.account)
        pool = self.source.uids(since) if since is not None else server_uids
        if first_read and since is not None:
            self.result.older += len(server) - len(pool)
        known = state.known_uids(self.db, folder.id, selected.uidvalidity)
        new = [u for u in pool if u > folder.last_uid and u not in known]
        if any(loc.uidvalidity != selected.uidvalidity for loc in state.present_locations(self.db, folder.id)):
            new = self._rematch(folder, selected, new)
        self._fetch_and_store(folder, selected, new, advance=True)
        # Below the cursor, a message the folder never recorded was older than the account's --since
        # day when the folder was read: the day was moved back since (`account set --since`).
        self._fetch_and_store(
            folder, selected, [u for u in pool if u <= folder.last_uid and u not in known], advance=False
        )
        lost_failures = [u for u in retry if u not in server]
        if lost_failures:

            def clear_lost() -> None:
                for uid in lost_failures:
                    state.clear_failure(self.db, folder.id, selected.uidvalidity, uid)

            self._commit(clear_lost)
        self._fetch_and_store(folder, selected, [u for u in retry if u in server], advance=False)
        # Left out as past, now wanted (a contact is involved, or the account takes everyone). One
        # gone from the server keeps its record until the folder is settled: a copy moved to
        # another folder is still recognized there as past mail.
        self._fetch_and_store(folder, selected, [u for u in wanted_now if u in server], advance=False, left_out=True)
        self._pull_flags(folder, selected, full)
        return _Pass(folder, selected, server, full)

    def _first_look(self, folder: FolderState, selected: Selected) -> FolderState:
        """Remember where the folder's numbering stood when pdmail first looked at it: a message
        numbered from there on arrived after that, whatever date it carries."""
        boundary = selected.uidnext
        if boundary is None:  # a server that does not say: one past the highest UID there is
            boundary = max(self.source.uids(), default=0) + 1
        self._commit(lambda: state.set_past_boundary(self.db, folder.id, boundary))
        return state.get_folder(self.db, folder.id)

    def _rematch(self, folder: FolderState, selected: Selected, new: list[int]) -> list[int]:
        """After a UIDVALIDITY change, bind new UIDs to the emails already stored, by Message-ID."""
        known = state.emails_by_message_id(self.db, folder.id)
        if not known or not new:
            return new
        found: dict[int, str | None] = {}
        for chunk in chunks(new, 500):
            found.update(self.source.message_ids(chunk))
        by_id: dict[str, list[int]] = {}
        for uid, mid in found.items():
            norm = normalize_message_id(mid)
            if norm in known:
                by_id.setdefault(norm, []).append(uid)
        matched = {uids[0]: known[norm] for norm, uids in by_id.items() if len(uids) == 1}
        if not matched:
            return new
        flags = self.source.flags(sorted(matched))

        def bind():
            for uid, email_id in matched.items():
                state.add_location(
                    self.db,
                    folder.id,
                    selected.uidvalidity,
                    uid,
                    email_id,
                    flags.get(uid, ()),
                    source_key=self.source.key_of(uid),
                )

        self._commit(bind)
        return [u for u in new if u not in matched]

    def _fetch_and_store(
        self, folder: FolderState, selected: Selected, uids: list[int], *, advance: bool, left_out: bool = False
    ) -> None:
        """Fetch, parse and store in batches; each batch is committed with the cursor it reaches.

        Downloading (a thread, mostly waiting on the network), parsing (worker processes) and
        storing (this thread, the only writer) overlap; a bounded queue between them keeps memory
        flat whatever the folder's size.
        """
        if not uids:
            return
        workers = self.options.workers if self.options.workers is not None else min(2, os.cpu_count() or 1)
        big = len(uids) >= PARALLEL_FROM and self._holds_at_least(uids, PARALLEL_BYTES)
        reader = getattr(self.source, "reader", None)
        factory = reader(folder.name, selected.uidvalidity) if reader and big else None
        parser = None
        feed: Downloads | _Prefetch
        cut_words = not self.db.cuts_search_words
        if factory is not None and workers > 1:
            feed = Downloads(self.source, factory, uids, workers, batch=self.options.batch, cut_words=cut_words)
        else:  # downloaded here, by a thread; parsed by helpers only when there are several
            parser = ParsePool(workers if big and workers > 1 else 0, partial(parse_raws, cut_words=cut_words))
            feed = _Prefetch(self.source, parser, chunks(uids, self.options.batch))
        done = 0
        try:
            with self.db.bulk_writes(refetchable=True), interrupt_between_steps(self.options.notice) as interrupted:
                for job in feed:
                    interrupted()
                    done += len(job.chunk)
                    self._store_batch(folder, selected, job, advance=advance, left_out=left_out)
                    self._progress(folder.name, done, len(uids))
                    interrupted()
        finally:
            feed.close()
            if parser is not None:
                parser.close()

    def _holds_at_least(self, uids: list[int], size: int) -> bool:
        """Whether these messages hold ``size`` bytes, as far as the source can tell before downloading
        them (an IMAP server can; without sizes, the count alone decides)."""
        sizes = getattr(self.source, "sizes", None)
        return sizes is None or sum(sizes(uids).values()) >= size

    def _store_batch(
        self, folder: FolderState, selected: Selected, job: Batch, *, advance: bool, left_out: bool = False
    ) -> None:
        """One transaction per batch, first without a savepoint per message (each one makes the
        full-text index write out what it buffered). If a message fails, that attempt is rolled back
        whole and the batch is written again with savepoints, so that only the failed ones are left out.
        A batch of messages ``left_out`` as past before drops their records in the same transaction:
        each one is stored now, or judged past again and recorded anew.
        """
        parsed = job.parsing()
        before = (self.result.new, self.result.skipped, self.result.not_from_contacts, len(self.result.errors))
        self.company = None  # read again for each batch

        def store(fail_fast: bool) -> None:
            if left_out:
                past_skips.forget(self.db, folder.id, selected.uidvalidity, job.chunk)
            failing = set(state.failures_to_retry(self.db, folder.id, selected.uidvalidity))
            known = self._batch_facts(parsed)
            stored = [
                self._store_one(folder, selected, item, result, known, fail_fast=fail_fast)
                for item, result in zip(job.fetched, parsed)
            ]
            located = [loc for loc in stored if loc is not None]
            state.add_locations(self.db, folder.id, selected.uidvalidity, located)
            self.downloaded.setdefault(folder.id, set()).update(loc.uid for loc in located)
            for loc in located:
                if loc.uid in failing:  # read once per batch: most batches have none to clear
                    state.clear_failure(self.db, folder.id, selected.uidvalidity, loc.uid)
            if folder.role in ("trash", "junk"):
                for email_id in dict.fromkeys(loc.email_id for loc in located if loc.email_id is not None):
                    state.settle_email(self.db, email_id)
            for uid in job.missing:
                if uid in job.still_there:
                    state.record_failure(
                        self.db,
                        folder.id,
                        selected.uidvalidity,
                        uid,
                        "the server sent no content for this message",
                        self.source.key_of(uid),
                    )
                    self.result.errors.append(
                        f"{folder.name}: message UID {uid} could not be fetched; it will be retried"
                    )
                else:
                    state.clear_failure(self.db, folder.id, selected.uidvalidity, uid)
            if advance:
                state.set_cursor(self.db, folder.id, last_uid=max(job.chunk))
            self._note_progress()

        def forget_first_attempt() -> None:
            self.result.new, self.result.skipped, self.result.not_from_contacts = before[:3]
            del self.result.errors[before[3] :]

        write_batch(self.db, store, on_retry=forget_first_attempt)
        self.checkpoint("commit")

    def _batch_facts(self, parsed: list):
        """What the store holds of the batch's messages, read for all of them at once (inside its transaction)."""
        from pdmail.capture.batch_facts import BatchFacts, Planned

        planned = []
        for result in parsed:
            if not isinstance(result, str):
                message, derived = result
                planned.append(Planned(self.user.id, message, derived.fingerprint if derived else None))
        return BatchFacts.read(self.db, planned)

    def _store_one(
        self, folder: FolderState, selected: Selected, item: Fetched, result, known=None, *, fail_fast: bool = False
    ) -> state.NewLocation | None:
        """Store one message; the location to record for it, or None when it failed (recorded for a retry)."""
        label = f"{folder.name}/{selected.uidvalidity}/{item.uid}"
        email_id = None
        parsed, derived = (result, None) if isinstance(result, str) else result
        if isinstance(parsed, str):
            # Unreadable or over a limit: kept in quarantine with the reason, like Smart BCC mail.
            qid = quarantine_store.hold(
                self.db,
                item.raw,
                source=f"sync:{self.account.name}:{label}",
                recipient=None,
                reason=parsed,
                from_email=None,
                subject=None,
                owner_id=self.account.owner_id,
            )
            self.result.skipped += 1
            self.result.errors.append(
                f"{folder.name}: message UID {item.uid} was quarantined ({parsed}); "
                f"see `pdmail bcc-ingest --quarantine` (id {qid})"
            )
        elif not self._left_out_as_past(folder, selected, parsed, item):
            from pdmail.capture import save as capture  # here, not at the top: a run with nothing new never needs it

            if self.company is None:
                self.company = capture.Company.load(self.db)
            origin = capture.Origin(
                source="sync",
                label=label,
                folder=EMAIL_FOLDER_OF_ROLE[folder.role],
                is_read=SEEN in item.flags,
                server_date=item.internaldate,
            )
            company = self.company

            def store():
                return capture.store_parsed(
                    self.db, self.user, parsed, item.raw, origin, company=company, derived=derived, known=known
                )

            def failed(exc: Exception) -> None:
                reason = exc.message if isinstance(exc, PdmailError) else f"{type(exc).__name__}: {exc}"
                state.record_failure(self.db, folder.id, selected.uidvalidity, item.uid, reason, item.key)
                self.result.errors.append(
                    f"{folder.name}: message UID {item.uid} could not be stored ({reason}); it will be retried"
                )

            outcome = write_message(self.db, store, fail_fast=fail_fast, on_failure=failed)
            if outcome is None:
                return None
            email_id = outcome.id
            if outcome.status == "stored":
                self.result.new += 1
            elif outcome.status in ("skipped", "duplicate"):  # already in pdmail, e.g. captured by BCC
                self.result.skipped += 1
        return state.NewLocation(item.uid, email_id, item.flags, item.key)

    def _left_out_as_past(self, folder: FolderState, selected: Selected, parsed, item: Fetched) -> bool:
        """``--past contacts``: mail that was in the mailbox before the account was added is kept only
        when it involves a contact. The rest is recorded with its addresses, to be fetched as soon as
        one of them is a contact's or the account takes everyone's past mail."""
        if (self.account.past or "everyone") != "contacts" or not self._is_past(folder, parsed, item):
            return False
        addresses = sorted({a.email for a in (*parsed.from_, *parsed.to, *parsed.cc) if a.email} - self.user.addresses)
        if crm_snapshot.contacts_by_address(self.db, addresses):
            return False
        past_skips.remember(self.db, folder.id, selected.uidvalidity, item.uid, parsed.message_id_norm, addresses)
        self.result.not_from_contacts += 1
        return True

    def _is_past(self, folder: FolderState, parsed, item: Fetched) -> bool:
        """Was the message in the mailbox when the account was added? Judged by arrival, never by the
        Date header, which the sender writes: mail greylisted, sent from a queue or from a wrong clock
        arrives after the account was added with a date from before it.

        Arrival is the server's INTERNALDATE (a Maildir file's modification time) and, on a server,
        the folder's numbering: a UID at or above the UIDNEXT pdmail saw at its first look arrived
        later, unless it is a copy of mail already left out as past, moved here from another folder.
        A Maildir's numbers are pdmail's own and say nothing of arrival.
        """
        if item.internaldate is not None and iso_utc(item.internaldate) > self.account.created_utc:
            return False
        boundary = None if self.source.name_keyed else folder.past_uidnext
        if boundary is not None and item.uid >= boundary:
            return parsed.message_id_norm is not None and past_skips.left_out_elsewhere(
                self.db, self.account.id, parsed.message_id_norm
            )
        return True

    def _pull_flags(self, folder: FolderState, selected: Selected, full: bool) -> None:
        """Server flag changes since the last run: CHANGEDSINCE where offered, else every flag."""
        # Flags of messages downloaded in this run are as fresh as this pass would read them; a later
        # change is still seen: the next run asks for changes since this run's SELECT.
        fresh = self.downloaded.get(folder.id, set())
        located = {
            loc.uid: loc
            for loc in state.present_locations(self.db, folder.id)
            if loc.uidvalidity == selected.uidvalidity and loc.uid not in fresh
        }
        if not located:
            return
        incremental = not full and selected.highestmodseq is not None and folder.highestmodseq is not None
        changed = self.source.flags(sorted(located), changedsince=folder.highestmodseq if incremental else None)
        updates = [
            (located[uid], flags) for uid, flags in changed.items() if uid in located and located[uid].flags != flags
        ]
        if not updates:
            return
        busy = state.emails_with_open_ops(self.db, self.account.id)

        def apply():
            for loc, flags in updates:
                state.set_location_flags(self.db, loc.id, flags)
                if loc.email_id is None or loc.email_id in busy or (SEEN in flags) == (SEEN in loc.flags):
                    continue
                if state.set_email_read(self.db, loc.email_id, SEEN in flags):
                    self.result.updated += 1

        self._commit(apply)

    # --- pull, second half: what vanished, then the cursor --------------------------------------

    def _settle(self, found: _Pass) -> None:
        folder, selected = found.folder, found.selected
        present = state.present_locations(self.db, folder.id)
        vanished = [
            loc for loc in present if loc.uidvalidity != selected.uidvalidity or loc.uid not in found.server_uids
        ]
        vanished_ids = {loc.id for loc in vanished}
        lost = [loc for loc in vanished if loc.email_id is None or state.is_lost(self.db, loc.email_id, vanished_ids)]
        if (
            not self.options.confirm_deletions
            and len(lost) >= MASS_DELETION_MIN
            and len(lost) > MASS_DELETION_SHARE * len(present)
        ):
            raise MassDeletion(
                f"{len(lost)} of {len(present)} messages vanished from {folder.name} on the server at once; "
                "nothing was changed here. If that is what you wanted, run `pdmail sync --confirm-deletions`"
            )
        busy = state.emails_with_open_ops(self.db, self.account.id)

        def apply():
            state.mark_gone(self.db, vanished_ids)
            past_skips.forget_gone(self.db, folder.id, [(loc.uidvalidity, loc.uid) for loc in vanished])
            for email_id in sorted({loc.email_id for loc in vanished if loc.email_id is not None} - busy):
                change = state.settle_email(self.db, email_id)
                if change == "deleted":
                    self.result.deleted += 1
                elif change == "moved":
                    self.result.updated += 1
            state.set_cursor(
                self.db,
                folder.id,
                highestmodseq=selected.highestmodseq,
                full_scan=found.full_scan,
                uidnext=selected.uidnext,
                exists=selected.exists,
            )
            state.set_folder_error(self.db, folder.id, None)

        self._commit(apply)


def sync_account(db: Database, account: Account, options: SyncOptions | None = None) -> AccountResult:
    """One run for one account, under its lock, recorded in ``sync_runs`` whatever happens."""
    from pdmail.accounts.sync_lock import account_lock

    options = options or SyncOptions()
    db.require_writable()  # before the lock file beside it
    with account_lock(db, account):
        with db.tx():
            state.close_abandoned_runs(db, account.id)
            run_id = state.start_run(db, account.id)
        job = AccountSync(db, account, options, run_id)
        result = job.result
        message = None
        try:
            result = job.run()
        except AuthFailure as exc:
            result.outcome, result.exit_code, message = "authfail", exc.exit_code, exc.message
            result.errors.append(exc.message)
        except TemporaryFailure as exc:
            result.outcome, result.exit_code, message = "tempfail", exc.exit_code, exc.message
            result.errors.append(exc.message)
        except PdmailError as exc:  # bad configuration, or the server refused something outside any folder
            result.outcome, result.exit_code, message = "error", exc.exit_code, exc.message
            result.errors.append(exc.message)
        except BaseException as exc:
            result.outcome = "interrupted" if isinstance(exc, KeyboardInterrupt) else "error"
            _record(db, run_id, result, f"{type(exc).__name__}: {exc}")
            raise
        if message is None and result.left_out:
            message = result.left_out_text()  # `account list` says it too
        _record(db, run_id, result, message)
        return result


def _record(db: Database, run_id: int, result: AccountResult, message: str | None) -> None:
    try:
        with db.tx():
            state.finish_run(
                db,
                run_id,
                result.outcome,
                new=result.new,
                updated=result.updated,
                deleted=result.deleted,
                skipped=result.skipped,
                errors=len(result.errors),
                message=message,
                folder_errors=result.folder_errors,
            )
    except PdmailError:
        pass  # the run's own outcome matters more than its record


def sync(
    db: Database, user, account_name: str | None = None, options: SyncOptions | None = None
) -> list[AccountResult]:
    """Sync one account (by name) or every account of the user, each on its own."""
    if account_name:
        targets = [accounts_store.get_account(db, user, account_name)]
    else:
        targets = accounts_store.list_accounts(db, user)
    if not targets:
        raise UsageError("no mail account to sync; add one with `pdmail account add`")
    return [sync_account(db, account, options) for account in targets]


def exit_code(results: list[AccountResult]) -> int:
    """docs/spec.md, "Exit codes", over several accounts: see :func:`combine_exit_codes`."""
    return combine_exit_codes(r.exit_code for r in results)
