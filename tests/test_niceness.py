"""Helper processes lower their own priority, so that the single writer gets the cores it needs."""

from __future__ import annotations

import os
import subprocess
import sys

from pdmail.niceness import HELPER_NICENESS


def test_a_helper_gives_way_to_the_writer():
    code = "import os; from pdmail.niceness import yield_to_the_writer as y; y(); print(os.nice(0))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(done.stdout) == min(19, os.nice(0) + HELPER_NICENESS)
