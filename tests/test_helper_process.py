"""Helper processes lower their own priority and leave Ctrl-C to the run they work for."""

from __future__ import annotations

import os
import subprocess
import sys

from pdmail.helper_process import HELPER_NICENESS


def test_a_helper_gives_way_to_the_writer_and_ignores_ctrl_c():
    code = ("import os, signal; from pdmail.helper_process import become_helper as h; h(); "
            "print(os.nice(0), signal.getsignal(signal.SIGINT) is signal.SIG_IGN)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    niceness, ignored = done.stdout.split()
    assert int(niceness) == min(19, os.nice(0) + HELPER_NICENESS) and ignored == "True"
