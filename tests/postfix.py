"""A real Postfix on 127.0.0.1 whose capture domain is piped to `pdmail bcc-ingest --mta`.

The pipe transport runs exactly as the README's recipe: ``argv=... bcc-ingest --mta --recipient
${recipient}`` as an unprivileged user, with the stripped environment Postfix gives it. Postfix insists on
root to start its master, so the fixture needs root (as CI has); everything else lives in a temporary
directory, and the instance is stopped by the pid in its lock file.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

POSTFIX = shutil.which("postfix", path="/usr/sbin:/usr/bin:" + os.environ.get("PATH", ""))
PIPE_USER = "nobody"

_SERVICES = """\
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""


def unavailable_reason() -> str | None:
    if POSTFIX is None:
        return "Postfix is not installed (scripts/install-mail-servers installs Debian's postfix)"
    if os.geteuid() != 0:
        return "Postfix's master process only starts as root"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Postfix:
    """One throwaway instance; ``argv`` is the pipe command, ``${recipient}`` expanded by Postfix."""

    root: Path
    argv: list[str]
    capture_domain: str = "bcc.northwind.example"
    environment: dict[str, str] = field(default_factory=dict)
    port: int = 0
    _opened: list[tuple[Path, int]] = field(default_factory=list)

    @property
    def conf(self) -> Path:
        return self.root / "conf"

    @property
    def log(self) -> Path:
        return self.root / "maillog"

    def start(self) -> Postfix:
        self.port = free_port()
        for sub in ("conf", "queue", "data"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        shutil.chown(self.root / "data", user="postfix")
        (self.conf / "transport").write_text(f"{self.capture_domain} pdmail:\n")
        exported = " ".join(f"{k}={v}" for k, v in self.environment.items())
        (self.conf / "main.cf").write_text(
            "compatibility_level = 3.6\n"
            f"queue_directory = {self.root / 'queue'}\n"
            f"data_directory = {self.root / 'data'}\n"
            "mail_owner = postfix\nsetgid_group = postdrop\n"
            "inet_interfaces = 127.0.0.1\ninet_protocols = ipv4\n"
            "myhostname = mx.northwind.example\nmydomain = northwind.example\nmydestination =\n"
            f"relay_domains = {self.capture_domain}\n"
            f"transport_maps = texthash:{self.conf / 'transport'}\n"
            "mynetworks = 127.0.0.0/8\n"
            "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n"
            f"maillog_file = {self.log}\nmaillog_file_prefixes = {self.root}\n"
            "alias_maps =\nalias_database =\n"
            "pdmail_destination_recipient_limit = 1\n"
            # A deferred message is retried at once when the test flushes the queue.
            "minimal_backoff_time = 1s\nmaximal_backoff_time = 2s\nqueue_run_delay = 1s\n"
            f"export_environment = TZ MAIL_CONFIG LANG {exported}\n"
        )
        command = " ".join(self.argv)
        (self.conf / "master.cf").write_text(
            f"127.0.0.1:{self.port} inet n - n - - smtpd\n"
            + _SERVICES
            + f"pdmail unix - n n - 2 pipe\n  flags=Rq user={PIPE_USER} argv={command}\n"
        )
        self._let_pipe_user_in(Path(self.argv[0]))
        self._open_path(self.root)  # Postfix's own users work in the queue under it
        started = subprocess.run([POSTFIX, "-c", str(self.conf), "start"], capture_output=True, text=True)
        if started.returncode != 0:
            self.stop()
            raise RuntimeError(f"Postfix did not start: {started.stderr}{self.log_text()[-2000:]}")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Postfix did not listen on port {self.port}: {self.log_text()[-2000:]}")

    def _let_pipe_user_in(self, program: Path) -> None:
        """The pipe user must reach the interpreter and the venv: add the x bit, restored at stop."""
        for target in (program.parent, Path(os.path.realpath(sys.executable)).parent):
            self._open_path(target)

    def _open_path(self, target: Path) -> None:
        for directory in [target, *target.parents]:
            mode = stat.S_IMODE(directory.stat().st_mode)
            if not mode & stat.S_IXOTH:
                self._opened.append((directory, mode))
                directory.chmod(mode | stat.S_IXOTH)

    def give_to_pipe_user(self, path: Path) -> None:
        """The database and its directory must be writable by the pipe user (WAL files appear beside it)."""
        entry = pwd.getpwnam(PIPE_USER)
        for p in [path.parent, *path.parent.glob(path.name + "*")]:
            os.chown(p, entry.pw_uid, entry.pw_gid)
        self._open_path(path.parent.parent)

    def flush(self) -> None:
        subprocess.run([POSTFIX, "-c", str(self.conf), "flush"], check=True, capture_output=True)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for(self, queue_id: str, status: str, timeout: float = 30) -> str:
        """Wait until the log shows ``status=<status>`` for the queue id; return that line."""
        pattern = re.compile(rf"{queue_id}: to=<[^>]*>.*status={status}\b.*")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = pattern.search(self.log_text())
            if found:
                return found.group(0)
            time.sleep(0.1)
        raise AssertionError(f"no status={status} for {queue_id} in the Postfix log:\n{self.log_text()[-3000:]}")

    def queue_id_of(self, message_id: str, timeout: float = 15) -> str:
        pattern = re.compile(rf"postfix/cleanup\[\d+\]: ([0-9A-F]+): message-id={re.escape(message_id)}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = pattern.search(self.log_text())
            if found:
                return found.group(1)
            time.sleep(0.05)
        raise AssertionError(f"Postfix never queued {message_id}:\n{self.log_text()[-3000:]}")

    def stop(self) -> None:
        lock = self.root / "data" / "master.lock"
        try:
            pid = int(lock.read_text().split()[0])
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.05)
        except (FileNotFoundError, ValueError, IndexError, ProcessLookupError):
            pass
        finally:
            for directory, mode in reversed(self._opened):
                directory.chmod(mode)
            self._opened.clear()


def _alive(pid: int) -> bool:
    """A zombie counts as gone: the master is reaped by whoever adopted it, maybe never here."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"
