"""The test Dovecot also runs for an ordinary user (developers' machines), not only as root (CI)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.dovecot

SCRIPT = """
import imaplib, ssl, sys
sys.path.insert(0, sys.argv[1])
from dovecot import Dovecot
with Dovecot() as server:
    assert not server.is_root
    user = server.add_user()
    server.seed(user, "Archive", [b"Subject: hi\\r\\n\\r\\nbody\\r\\n"], flags=["\\\\Seen"])
    client = imaplib.IMAP4(server.host, server.imap_port)
    client.login(user.login, user.password)
    print(client.select("Archive")[1][0].decode())
    print(" ".join(line.decode() for line in client.list()[1]))
    client.logout()
    tls = imaplib.IMAP4_SSL(server.host, server.imaps_port,
                            ssl_context=ssl.create_default_context(cafile=str(server.cafile)))
    tls.login(user.login, user.password)
    tls.logout()
    print(server.doveadm("mailbox", "status", "-u", user.login, "messages", "Archive").stdout.strip())
"""


def test_dovecot_runs_for_an_unprivileged_user(dovecot_server, tmp_path):
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or not setpriv:
        pytest.skip("needs root and setpriv to become an unprivileged user")
    # A folder the unprivileged user can read, outside the (maybe private) checkout.
    helper = Path(tempfile.mkdtemp(prefix="pdmail-nonroot-"))
    try:
        helper.chmod(0o755)
        shutil.copy(Path(__file__).with_name("dovecot.py"), helper / "dovecot.py")
        (helper / "dovecot.py").chmod(0o644)
        python = os.path.realpath(sys.executable)
        result = subprocess.run(
            [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", python, "-c", SCRIPT, str(helper)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd="/",
            env={"PATH": os.environ.get("PATH", ""), "HOME": "/tmp", "TMPDIR": "/tmp"},
        )
    finally:
        shutil.rmtree(helper, ignore_errors=True)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0] == "1" and "\\Sent" in lines[1] and "\\Archive" in lines[1]
    assert lines[2] == "Archive messages=1"
