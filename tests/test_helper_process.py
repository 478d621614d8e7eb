"""Helper processes lower their own priority and leave Ctrl-C to the run they work for."""

from __future__ import annotations

import os
import subprocess
import sys

from pdmail.core.worker_pool import HELPER_NICENESS


def test_a_helper_gives_way_to_the_writer_and_ignores_ctrl_c():
    code = (
        "import os, signal; from pdmail.core.worker_pool import become_helper as h; h(); "
        "print(os.nice(0), signal.getsignal(signal.SIGINT) is signal.SIG_IGN)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    niceness, ignored = done.stdout.split()
    assert int(niceness) == min(19, os.nice(0) + HELPER_NICENESS) and ignored == "True"


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_ctrl_c_is_taken_between_steps_and_a_second_one_stops_at_once():
    once = _run(
        "import os, signal\n"
        "from pdmail.core.worker_pool import interrupt_between_steps\n"
        "from pdmail.cli.terminal import notice\n"
        "try:\n"
        "    with interrupt_between_steps(notice) as interrupted:\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "        print('step finished')\n"
        "        interrupted()\n"
        "        print('never here')\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted between steps')\n"
        "print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)\n"
    )
    assert once.stdout.split("\n")[:3] == ["step finished", "interrupted between steps", "True"]
    assert "Ctrl-C again" in once.stderr

    twice = _run(
        "import os, signal, time\n"
        "from pdmail.core.worker_pool import interrupt_between_steps\n"
        "from pdmail.cli.terminal import notice\n"
        "with interrupt_between_steps(notice):\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    time.sleep(30)\n"
        "print('never here')\n"
    )
    assert twice.returncode == 130 and "never here" not in twice.stdout
    assert "stopping now" in twice.stderr


# --- the helper pool ----------------------------------------------------------------------------------------

import signal  # noqa: E402
import time  # noqa: E402

import pytest  # noqa: E402

from pdmail.core.errors import TemporaryFailure  # noqa: E402
from pdmail.core.worker_pool import HelperPool  # noqa: E402


def _slow_square(n: int) -> int:
    time.sleep(0.05 if n % 3 == 0 else 0)  # so that helpers finish out of turn
    return n * n


def _fail_on_seven(n: int) -> int:
    if n == 7:
        raise ValueError("seven is refused")
    return n


def _pid(_: object) -> int:
    return os.getpid()


class _BadOnLoad:
    """Pickles fine in the helper, fails to unpickle in the run."""

    def __reduce__(self):
        return (_refuse, ())


def _refuse():
    raise RuntimeError("cannot be rebuilt here")


def _result_of(kind: str):
    if kind == "unsendable":
        return lambda: None  # a lambda cannot be pickled
    if kind == "unloadable":
        return _BadOnLoad()
    return kind


@pytest.mark.timeout(60)
def test_results_come_back_in_the_order_tasks_were_given():
    with HelperPool(3, _slow_square) as helpers:
        getters = [helpers.submit(n) for n in range(40)]
        assert [get() for get in getters] == [n * n for n in range(40)]


@pytest.mark.timeout(60)
def test_an_exception_in_a_helper_is_raised_by_its_getter_and_the_rest_go_on():
    with HelperPool(2, _fail_on_seven) as helpers:
        getters = [helpers.submit(n) for n in range(10)]
        assert [get() for get in getters[:7]] == list(range(7))
        with pytest.raises(ValueError, match="seven is refused"):
            getters[7]()
        assert [get() for get in getters[8:]] == [8, 9]


@pytest.mark.timeout(60)
def test_a_result_that_cannot_travel_raises_where_it_is_asked_for():
    with HelperPool(2, _result_of) as helpers:
        unsendable, unloadable, fine = (helpers.submit(k) for k in ("unsendable", "unloadable", "fine"))
        with pytest.raises(TemporaryFailure, match="could not be sent back"):
            unsendable()
        with pytest.raises(RuntimeError, match="cannot be rebuilt here"):
            unloadable()
        assert fine() == "fine"


@pytest.mark.timeout(60)
def test_a_killed_helper_ends_the_wait_with_a_temporary_failure():
    with HelperPool(2, _pid) as helpers:
        pids = [helpers.submit(None)() for _ in range(2)]
        os.kill(pids[0], signal.SIGKILL)
        started = time.monotonic()
        with pytest.raises(TemporaryFailure, match="helper process ended unexpectedly"):
            helpers.submit(None)()  # the turn is the killed helper's again
        assert time.monotonic() - started < 10
        assert helpers.submit(None)() == pids[1]  # the other one still works


@pytest.mark.timeout(60)
def test_closing_stops_every_helper_even_mid_task():
    helpers = HelperPool(2, _pid)
    pids = [helpers.submit(None)() for _ in range(2)]
    helpers.submit(None)
    helpers.close()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.timeout(60)
def test_helpers_end_with_the_run_when_it_is_killed():
    code = (
        "import os, sys, time\n"
        f"sys.path.insert(0, {os.path.dirname(__file__)!r})\n"
        "from pdmail.core.worker_pool import HelperPool\n"
        "from test_helper_process import _pid\n"
        "helpers = HelperPool(2, _pid)\n"
        "print(*[helpers.submit(None)() for _ in range(2)], flush=True)\n"
        "time.sleep(60)\n"
    )
    run = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    pids = [int(p) for p in run.stdout.readline().split()]
    assert len(pids) == 2
    run.kill()
    run.wait()
    deadline = time.monotonic() + 10
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _running(pid)]
        time.sleep(0.05)
    assert alive == []


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _noted(task: tuple[str, str, float]) -> str:
    """Note the task in a file, after a pause, and answer its name."""
    path, name, pause = task
    time.sleep(pause)
    with open(path, "a") as notes:
        notes.write(name + "\n")
    return name


def test_a_task_abandoned_before_its_turn_is_skipped_by_the_helper(tmp_path):
    notes = str(tmp_path / "ran.txt")
    with HelperPool(1, _noted) as helpers:
        first = helpers.submit((notes, "first", 1.0))
        unwanted = [helpers.submit((notes, f"unwanted{i}", 0)) for i in range(3)]
        for task in unwanted:
            task.abandon()  # done elsewhere meanwhile: the helper need not spend its time on them
        last = helpers.submit((notes, "last", 0))
        assert (first(), last()) == ("first", "last")
    with open(notes) as ran:
        assert ran.read().split() == ["first", "last"]
