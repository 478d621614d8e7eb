"""The real `pdmail` on a pseudo-terminal of a given width: what a person at a terminal sees."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def on_terminal(*args: str, columns: int = 80, env: dict | None = None, stdin: bytes | None = None, timeout=60):
    """Run ``pdmail ARGS`` with stdout and stderr on a terminal ``columns`` wide.

    Returns (exit code, what the terminal showed without colours, line ends as ``\\n``). Stdin is
    the terminal too unless ``stdin`` is given (then a pipe with those bytes).
    """
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    environment = {**os.environ, "COLUMNS": str(columns), "TERM": "xterm", **(env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "pdmail", *map(str, args)],
        stdin=subprocess.PIPE if stdin is not None else follower,
        stdout=follower,
        stderr=follower,
        env=environment,
        close_fds=True,
    )
    os.close(follower)
    if stdin is not None:
        process.stdin.write(stdin)
        process.stdin.close()
    seen = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # the other end closed: the program ended
                    break
                if not chunk:
                    break
                seen += chunk
            elif process.poll() is not None:
                break
        code = process.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        if process.poll() is None:
            process.kill()
        os.close(leader)
    return code, ANSI.sub("", seen.decode(errors="replace")).replace("\r\n", "\n")


class Conversation:
    """`pdmail ARGS` on a pseudo-terminal that a test reads and types into, as a person would."""

    def __init__(self, *args: str, columns: int = 100, env: dict | None = None) -> None:
        self.leader, follower = pty.openpty()
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
        environment = {**os.environ, "COLUMNS": str(columns), "TERM": "xterm", **(env or {})}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pdmail", *map(str, args)],
            stdin=follower,
            stdout=follower,
            stderr=follower,
            env=environment,
            close_fds=True,
        )
        os.close(follower)
        self.seen = b""

    def read_until(self, text: str, timeout: float = 30) -> str:
        """What the terminal shows from now until ``text`` (included), without colours."""
        start = len(self.seen)
        deadline = time.monotonic() + timeout
        while text.encode() not in self.seen[start:]:
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} on the terminal, which shows {self.seen[-800:]!r}")
            ready, _, _ = select.select([self.leader], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(self.leader, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                self.seen += chunk
        return ANSI.sub("", self.seen[start:].decode(errors="replace")).replace("\r\n", "\n")

    def type(self, line: str) -> None:
        os.write(self.leader, line.encode() + b"\r")

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        """The exit code, and everything the terminal showed."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([self.leader], [], [], 0.2)
                if ready:
                    try:
                        chunk = os.read(self.leader, 65536)
                    except OSError:
                        break
                    if not chunk:
                        break
                    self.seen += chunk
                elif self.process.poll() is not None:
                    break
            code = self.process.wait(timeout=max(deadline - time.monotonic(), 1))
        finally:
            if self.process.poll() is None:
                self.process.kill()
            os.close(self.leader)
        return code, ANSI.sub("", self.seen.decode(errors="replace")).replace("\r\n", "\n")


# An editor for $EDITOR: it keeps a copy of each buffer it is given in the folder $SEEN (0.txt, 1.txt...),
# replaces the header lines named in $SET ("To: x|Subject: y"), and puts $WRITE above the body.
_EDITOR = """
import os, pathlib, sys
path = pathlib.Path(sys.argv[1])
seen = pathlib.Path(os.environ["SEEN"])
calls = sorted(seen.glob("*.txt"))
text = path.read_text()
(seen / f"{len(calls)}.txt").write_text(text)
head, _, body = text.partition("\\n\\n")
for line in os.environ.get("SET", "").split("|"):
    if line:
        name = line.split(":")[0]
        head = "\\n".join(line if h.startswith(name + ":") else h for h in head.split("\\n"))
path.write_text(head + "\\n\\n" + os.environ.get("WRITE", "") + body)
"""


def editor_script(folder):
    """The environment that makes pdmail's $EDITOR the script above, and the folder of what it saw."""
    editor = folder / "editor.py"
    editor.write_text(_EDITOR)
    seen = folder / "seen"
    seen.mkdir()
    return {"EDITOR": f"{sys.executable} {editor}", "SEEN": str(seen)}, seen
