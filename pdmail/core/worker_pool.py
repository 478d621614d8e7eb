"""Helper processes (downloading, parsing): they leave Ctrl-C and the cores to the writer.

A big capture or sync is a pipeline whose slowest stage is the one process that writes the database.
Helpers that compete with it for the cores slow the whole run down, while helpers that only take
what it leaves keep up anyway, since they work ahead into a bounded window.

:class:`HelperPool` runs them. ``multiprocessing.Pool`` would do the job at a price the writer pays:
its worker-handler thread wakes whenever a result waits unread, so it spins beside the storing thread
for the whole run (a tenth of the writer's CPU in a big sync); a helper killed outright leaves its task
waiting forever; and a helper stopped by Ctrl-C may die holding the lock of the shared task queue, which
hangs the shutdown. Here each helper has a pipe of its own and no lock is shared.

Ctrl-C reaches every process of the terminal's group. Helpers ignore it; the run takes it between two
steps (:func:`interrupt_between_steps`) and stops there, keeping what it committed.

A run killed outright (``kill -9``, the out-of-memory killer) cannot stop its helpers. On Linux the
kernel does it: each helper asks to be killed when the process that started it ends
(:func:`die_with_parent`). Elsewhere a helper ends when it next finds its pipe closed.
"""

from __future__ import annotations

import mmap
import os
import pickle
import signal
import struct
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import cycle
from typing import Any

from pdmail.core.errors import TemporaryFailure

HELPER_NICENESS = 10
# Tasks a helper is told to skip are written to a table shared with it (after fork): slot n % SKIP_SLOTS
# holds n + 1 for task n. A helper skips a task only when its slot holds exactly that task's number.
SKIP_SLOTS = 4096
_SLOT = struct.Struct("q")
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def die_with_parent(parent: int) -> None:
    """In a helper process, first thing: be killed by the kernel as soon as ``parent`` ends.

    The signal comes when the *thread* that forked this process ends, so pools are started from the
    thread that outlives them (the main thread, in pdmail). If ``parent`` already ended before the
    request took effect, this process ends now.
    """
    if sys.platform.startswith("linux"):
        import ctypes  # here, in a helper: every sync and bulk run loads this module, few start helpers

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # no prctl to be found: the closed pipe still ends this helper
    if os.getppid() != parent:
        os._exit(0)


def become_helper() -> None:
    """In a helper process: ignore Ctrl-C, and lower this process's scheduling priority."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        os.nice(HELPER_NICENESS)
    except (AttributeError, OSError):
        pass


@contextmanager
def interrupt_between_steps(notice: Callable[[str], None] | None = None) -> Iterator[Callable[[], None]]:
    """Defer Ctrl-C to the next call of the function this yields, made between two steps of the work.

    A second Ctrl-C ends the process at once (exit 130): everything committed is kept, as after a
    kill, and the next run goes on from there. ``notice`` tells the user which of the two happened.
    """
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return
    asked: list[bool] = []
    say = notice or (lambda text: None)

    def take(signum, frame) -> None:
        if asked:
            say("Interrupted again; stopping now. Everything committed so far is kept.")
            os._exit(130)
        asked.append(True)
        say("Stopping after the current step (Ctrl-C again to stop at once)...")

    def check() -> None:
        if asked:
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, take)
    try:
        yield check
        check()
    finally:
        signal.signal(signal.SIGINT, previous)


class HelperPool:
    """``count`` helper processes that run ``work`` on tasks; each result is fetched by its own getter.

    Tasks go to the helpers in turn, and a thread per helper receives its results as soon as they are
    sent, so a helper never waits for the caller to read. A result is unpickled by the thread that asks
    for it: a value that cannot be unpickled raises there. An exception raised by ``work`` is raised
    there too, and a helper that ended (killed, out of memory) raises :class:`TemporaryFailure`.
    """

    def __init__(
        self,
        count: int,
        work: Callable[[Any], Any],
        initializer: Callable[..., None] = become_helper,
        initargs: tuple = (),
    ) -> None:
        import ctypes  # noqa: F401 - for die_with_parent: loaded once here, inherited by each forked helper
        import multiprocessing

        forking = hasattr(os, "fork")
        context = multiprocessing.get_context("fork") if forking else multiprocessing.get_context("spawn")
        self._arrived = threading.Condition()
        self._helpers: list[_Helper] = []
        # Shared with the forked helpers: which of their tasks are no longer wanted (see Pending.abandon).
        self._skips = mmap.mmap(-1, max(count, 1) * SKIP_SLOTS * _SLOT.size) if forking else None
        try:
            for index in range(count):
                ours, theirs = context.Pipe()
                # A forked helper inherits this process's ends of the pipes, its own included; holding
                # them, it would not see this process end. It closes them first.
                inherited = [helper.connection for helper in self._helpers] + [ours] if forking else []
                process = context.Process(
                    target=_serve,
                    daemon=True,
                    name="pdmail-helper",
                    args=(theirs, work, initializer, initargs, inherited, os.getpid(), self._skips, index),
                )
                process.start()
                theirs.close()
                self._helpers.append(_Helper(process, ours, index))
        except BaseException:
            self.close()
            raise
        for helper in self._helpers:  # threads only once every fork is done
            threading.Thread(target=self._receive, args=(helper,), daemon=True, name="pdmail-helper-results").start()
        self._turn = cycle(self._helpers)

    def submit(self, task: Any) -> Pending:
        """Send ``task`` to the next helper; calling what is returned waits for its result and returns it."""
        helper = next(self._turn)
        number = helper.sent
        helper.sent += 1
        try:
            helper.connection.send_bytes(pickle.dumps(task, pickle.HIGHEST_PROTOCOL))
        except OSError:
            pass  # the helper is gone: its getter says so
        return Pending(self, helper, number)

    def _receive(self, helper: _Helper) -> None:
        try:
            while True:
                data = helper.connection.recv_bytes()
                with self._arrived:
                    if helper.received in helper.abandoned:  # done meanwhile by the process that asked
                        helper.abandoned.discard(helper.received)
                    else:
                        helper.results[helper.received] = data
                    helper.received += 1
                    self._arrived.notify_all()
        except BaseException:  # noqa: BLE001 - EOF when the helper ended; whatever it is, no getter may wait forever
            with self._arrived:
                helper.ended = True
                self._arrived.notify_all()

    def _result(self, helper: _Helper, number: int) -> Any:
        with self._arrived:
            while number not in helper.results and not helper.ended:
                self._arrived.wait()
            data = helper.results.pop(number, None)
        if data is None:
            helper.process.join(1)
            raise TemporaryFailure(
                f"a helper process ended unexpectedly (exit status {helper.process.exitcode}); "
                "what was stored before it is kept, and the next run goes on from there"
            )
        done, value = pickle.loads(data)
        if not done:
            raise value
        return value

    def _ready(self, helper: _Helper, number: int) -> bool:
        with self._arrived:
            return number in helper.results or helper.ended

    def _abandon(self, helper: _Helper, number: int) -> None:
        with self._arrived:
            if helper.results.pop(number, None) is None and number >= helper.received:
                helper.abandoned.add(number)
                if self._skips is not None:  # not started yet, it is skipped: its helper's time is not lost
                    _SLOT.pack_into(self._skips, _slot(helper.index, number), number + 1)

    def close(self) -> None:
        """Stop every helper at once, whatever it is doing, and wait for it to end."""
        for helper in self._helpers:
            if helper.process.is_alive():
                helper.process.terminate()
        for helper in self._helpers:
            helper.process.join(5)
            if helper.process.is_alive():
                helper.process.kill()
                helper.process.join()
            helper.connection.close()

    def __enter__(self) -> HelperPool:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class Pending:
    """A task sent to a helper. Called, it waits for the result and returns it (or raises).

    ``ready()`` says whether waiting would return at once; ``abandon()`` says the result is no longer
    wanted (the caller did the task itself): it is dropped when it arrives.
    """

    __slots__ = ("helper", "number", "pool")

    def __init__(self, pool: HelperPool, helper: _Helper, number: int) -> None:
        self.pool, self.helper, self.number = pool, helper, number

    def __call__(self) -> Any:
        return self.pool._result(self.helper, self.number)

    def ready(self) -> bool:
        return self.pool._ready(self.helper, self.number)

    def abandon(self) -> None:
        self.pool._abandon(self.helper, self.number)


def _slot(helper_index: int, number: int) -> int:
    return (helper_index * SKIP_SLOTS + number % SKIP_SLOTS) * _SLOT.size


class _Helper:
    __slots__ = ("abandoned", "connection", "ended", "index", "process", "received", "results", "sent")

    def __init__(self, process, connection, index: int) -> None:
        self.process = process
        self.connection = connection
        self.index = index
        self.sent = 0
        self.received = 0
        self.results: dict[int, bytes] = {}
        self.abandoned: set[int] = set()  # results not wanted any more: dropped as they arrive
        self.ended = False


def _serve(
    connection,
    work: Callable[[Any], Any],
    initializer: Callable[..., None],
    initargs: tuple,
    inherited: list,
    parent: int,
    skips: mmap.mmap | None = None,
    index: int = 0,
) -> None:
    """A helper's life: take a task, send back (True, result) or (False, the exception), until the end.
    A task the pool no longer wants when its turn comes is answered at once with nothing."""
    die_with_parent(parent)
    for other in inherited:
        other.close()
    initializer(*initargs)
    number = 0
    while True:
        try:
            task = pickle.loads(connection.recv_bytes())
        except (EOFError, OSError):
            return
        skipped = skips is not None and _SLOT.unpack_from(skips, _slot(index, number))[0] == number + 1
        number += 1
        try:
            outcome = (True, None) if skipped else (True, work(task))
        except BaseException as exc:  # noqa: BLE001 - raised again by the getter, in the run
            outcome = (False, exc)
        try:
            data = pickle.dumps(outcome, pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001
            data = pickle.dumps((False, TemporaryFailure(f"a helper's result could not be sent back: {exc}")))
        try:
            connection.send_bytes(data)
        except OSError:
            return
