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


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_ctrl_c_is_taken_between_steps_and_a_second_one_stops_at_once():
    once = _run(
        "import os, signal\n"
        "from pdmail.helper_process import interrupt_between_steps\n"
        "from pdmail.terminal import notice\n"
        "try:\n"
        "    with interrupt_between_steps(notice) as interrupted:\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "        print('step finished')\n"
        "        interrupted()\n"
        "        print('never here')\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted between steps')\n"
        "print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)\n")
    assert once.stdout.split("\n")[:3] == ["step finished", "interrupted between steps", "True"]
    assert "Ctrl-C again" in once.stderr

    twice = _run(
        "import os, signal, time\n"
        "from pdmail.helper_process import interrupt_between_steps\n"
        "from pdmail.terminal import notice\n"
        "with interrupt_between_steps(notice):\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    time.sleep(30)\n"
        "print('never here')\n")
    assert twice.returncode == 130 and "never here" not in twice.stdout
    assert "stopping now" in twice.stderr
