"""The real `pdmail` entry point on a pseudo-terminal, for what a person at a terminal sees."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time


def on_terminal(*args: str, env: dict | None = None, columns: int = 120, timeout: float = 60) -> tuple[int, str]:
    """Run ``pdmail ARGS`` with stdin, stdout and stderr on one pseudo-terminal; (exit code, all it printed)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pdmail", *map(str, args)],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**os.environ, "COLUMNS": str(columns), "LINES": "40", "TERM": "dumb", **(env or {})},
        close_fds=True,
    )
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # the other end closed: the program ended
                    break
                if not chunk:
                    break
                seen += chunk
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(leader)
    return code, seen.decode(errors="replace").replace("\r\n", "\n")
