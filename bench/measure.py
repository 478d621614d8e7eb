"""Run a command and measure what a user would feel: wall time, CPU time and memory of its process tree.

Memory is sampled from /proc while the command runs: the sum over the process and all its descendants
(parser workers included) of PSS, which counts pages shared after fork once, and of RSS, which counts
them in every process, and the RSS of the largest single process.
Standard library only; Linux for the memory figures (elsewhere they are None).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

# Memory is sampled this often. Each sample reads every process's stat and the tree's smaps: at 0.05 s
# that took 9 % of a core, taken from the measured command on a 2-core machine; at 0.2 s, about 3 %.
POLL_S = 0.2


@dataclass
class Measured:
    argv: list[str]
    returncode: int
    wall_s: float
    cpu_s: float  # user + system of the process and the children it waited for
    max_rss_mb: float | None  # largest single process (sampled: the kernel's figure counts the image
    # forked from this process before exec, which is the benchmark's own memory)
    peak_pss_mb: float | None  # process tree, shared pages counted once
    peak_rss_mb: float | None  # process tree, shared pages counted in each process
    stdout: bytes = b""
    stderr: bytes = b""

    def summary(self) -> dict:
        data = asdict(self)
        data.pop("stdout")
        data.pop("stderr")
        return data


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: the fields after the last ')' are safe.
        fields = stat[stat.rfind(b")") + 2 :].split()
        kids.setdefault(int(fields[1]), []).append(int(entry.name))
    return kids


def _tree(root: int) -> list[int]:
    kids = _children_map()
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(kids.get(pid, ()))
    return found


def _memory_kb(pid: int) -> tuple[int, int]:
    """(PSS, RSS) of one process in KB; zeros once it has gone."""
    pss = rss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
            for line in handle:
                if line.startswith(b"Pss:"):
                    pss = int(line.split()[1])
                elif line.startswith(b"Rss:"):
                    rss = int(line.split()[1])
    except OSError:
        pass
    return pss, rss


class _Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_pss = 0
        self.peak_rss = 0
        self.peak_single_rss = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            pss = rss = 0
            for pid in _tree(self.pid):
                p, r = _memory_kb(pid)
                pss += p
                rss += r
                self.peak_single_rss = max(self.peak_single_rss, r)
            self.peak_pss = max(self.peak_pss, pss)
            self.peak_rss = max(self.peak_rss, rss)
            self.stop.wait(POLL_S)


def run(
    argv: list[str],
    *,
    stdin: bytes | None = None,
    env: dict | None = None,
    cwd: str | None = None,
    sample_memory: bool = True,
    check: bool = False,
) -> Measured:
    """Run ``argv`` to its end; stdout and stderr are captured.

    The file system is synced first: otherwise the kernel writes back what the previous command left
    dirty (a database, a Maildir: hundreds of MB) while this one runs, and the two share its cost.
    """
    on_linux = sys.platform.startswith("linux") and Path("/proc/self/smaps_rollup").exists()
    os.sync()
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=cwd,
    )
    sampler = _Sampler(proc.pid) if sample_memory and on_linux else None
    if sampler:
        sampler.start()
    chunks: dict[str, bytes] = {}

    def drain(name: str, stream) -> None:
        chunks[name] = stream.read()
        stream.close()

    readers = [
        threading.Thread(target=drain, args=(n, s), daemon=True)
        for n, s in (("out", proc.stdout), ("err", proc.stderr))
    ]
    for reader in readers:
        reader.start()
    if stdin is not None:
        try:
            proc.stdin.write(stdin)
        except BrokenPipeError:
            pass
        proc.stdin.close()
    # wait4 rather than wait: its rusage covers this process and the children it reaped (the parser
    # workers), for this run alone.
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join()
    if sampler:
        sampler.stop.set()
        sampler.join()
    result = Measured(
        argv=list(argv),
        returncode=proc.returncode,
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        max_rss_mb=sampler.peak_single_rss / 1024 if sampler else None,
        peak_pss_mb=sampler.peak_pss / 1024 if sampler else None,
        peak_rss_mb=sampler.peak_rss / 1024 if sampler else None,
        stdout=chunks.get("out", b""),
        stderr=chunks.get("err", b""),
    )
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited {proc.returncode}: {result.stderr.decode(errors='replace')[-2000:]}"
        )
    return result


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def load_note() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "load average unknown"
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"
