"""How a helper process (downloading, parsing) behaves: it leaves Ctrl-C and the cores to the writer.

A big capture or sync is a pipeline whose slowest stage is the one process that writes the database.
Helpers that compete with it for the cores slow the whole run down, while helpers that only take
what it leaves keep up anyway, since they work ahead into a bounded queue.

Ctrl-C reaches every process of the terminal's group. A helper stopped by it mid-task may die holding
the lock of the pool's task queue, and the pool can then never be shut down: the run would hang. So
helpers ignore it; the run stops them itself once it has been interrupted.
"""

from __future__ import annotations

import os
import signal

HELPER_NICENESS = 10


def become_helper() -> None:
    """For a pool's initializer: ignore Ctrl-C, and lower this process's scheduling priority."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        os.nice(HELPER_NICENESS)
    except (AttributeError, OSError):
        pass
