"""How a helper process (downloading, parsing) behaves: it leaves Ctrl-C and the cores to the writer.

A big capture or sync is a pipeline whose slowest stage is the one process that writes the database.
Helpers that compete with it for the cores slow the whole run down, while helpers that only take
what it leaves keep up anyway, since they work ahead into a bounded queue.

Ctrl-C reaches every process of the terminal's group. A helper stopped by it mid-task may die holding
the lock of the pool's task queue, and the pool can then never be shut down: the run would hang. So
helpers ignore it. The run itself takes it between two steps (:func:`interrupt_between_steps`): an
interrupt raised inside the pool's own waiting can leave one of its locks taken, with the same hang.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

HELPER_NICENESS = 10


def become_helper() -> None:
    """For a pool's initializer: ignore Ctrl-C, and lower this process's scheduling priority."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        os.nice(HELPER_NICENESS)
    except (AttributeError, OSError):
        pass


@contextmanager
def interrupt_between_steps(notice: Callable[[str], None] | None = None) -> Iterator[Callable[[], None]]:
    """Defer Ctrl-C to the next call of the function this yields, made where no pool lock is held.

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
