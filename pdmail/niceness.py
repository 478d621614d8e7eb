"""Helper processes (downloading, parsing) give way to the one process that writes the database.

A big capture or sync is a pipeline whose slowest stage is the single writer; helpers that compete
with it for the cores slow the whole run down, while helpers that only take what it leaves keep up
anyway, since they work ahead into a bounded queue.
"""

from __future__ import annotations

import os

HELPER_NICENESS = 10


def yield_to_the_writer() -> None:
    """Lower this (helper) process's scheduling priority; harmless where that is not possible."""
    try:
        os.nice(HELPER_NICENESS)
    except (AttributeError, OSError):
        pass
