"""Ctrl-C, or a helper process killed, in the middle of a big sync or capture: the run stops at once,
keeps what it committed, and the next run finishes the job with nothing twice.

Ctrl-C reaches the whole process group, helper processes included; a helper killed mid-task used to
leave the pool unable to shut down, and the run hung. The signal is sent the way a terminal sends it.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from syncworld import OWNER, mail

PASSWORD_ENV = "PDMAIL_TEST_MAIL_PASSWORD"


def _ctrl_c(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGINT)


def _kill_a_helper(proc: subprocess.Popen) -> None:
    """SIGKILL to one of the run's helper processes, as the out-of-memory killer would send it."""
    children = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == proc.pid:
            children.append(int(entry))
    assert children, "the run has no helper process to kill"
    os.kill(min(children), signal.SIGKILL)


def _interrupt_after_first_commit(args: list[str], db_path, env: dict, stop=_ctrl_c) -> subprocess.CompletedProcess:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pdmail", *args, "--db", str(db_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with sqlite3.connect(db_path, timeout=1) as conn:
                if conn.execute("SELECT COUNT(*) FROM emails").fetchone()[0]:
                    break
        except sqlite3.OperationalError:
            pass
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    stop(proc)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("the run did not stop within 30 s of the interruption")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out.decode(), err.decode())


def _count(db_path) -> int:
    with sqlite3.connect(db_path) as conn:
        return conn.execute("SELECT COUNT(*) FROM emails").fetchone()[0]


def _kept_some_and_the_next_run_completes(
    args: list[str], db_path, env: dict, total: int, stopped: subprocess.CompletedProcess
) -> None:
    kept = _count(db_path)
    assert 0 < kept < total, (kept, stopped.stderr[-3000:])
    again = subprocess.run(
        [sys.executable, "-m", "pdmail", *args, "--db", str(db_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, (again.returncode, again.stderr[-3000:])
    assert _count(db_path) == total


def _big_inbox(company, db_path, dovecot_server, mail_user, total: int) -> dict:
    """An account whose inbox is big enough to be downloaded by helper processes; the run's environment."""
    from pdmail.store import accounts as accounts_store
    from pdmail.store import open_db
    from pdmail.store.users import find_user
    from pdmail.sync import engine as sync

    padding = b"x" * (sync.PARALLEL_BYTES // total)  # enough that the run starts its helper processes
    bulky = [mail(n).replace(b"please confirm", padding + b"\r\nplease confirm") for n in range(1, total + 1)]
    dovecot_server.seed(mail_user, "INBOX", bulky)
    db = open_db(db_path)
    accounts_store.add_account(
        db,
        find_user(db, OWNER),
        name="work",
        kind="imap",
        address=OWNER,
        imap_host=dovecot_server.host,
        imap_port=dovecot_server.imaps_port,
        imap_security="tls",
        username=mail_user.login,
        secret_source={"env": PASSWORD_ENV},
        cafile=str(dovecot_server.cafile),
    )
    db.close()
    return {**os.environ, PASSWORD_ENV: mail_user.password}


@pytest.mark.dovecot
def test_ctrl_c_during_a_parallel_download_stops_the_sync_and_the_next_run_completes(
    company, db_path, dovecot_server, mail_user
):
    total = 2000
    env = _big_inbox(company, db_path, dovecot_server, mail_user, total)

    stopped = _interrupt_after_first_commit(["sync"], db_path, env)
    assert stopped.returncode == 130 and "Interrupted" in stopped.stderr, (stopped.returncode, stopped.stderr[-3000:])
    assert "Traceback" not in stopped.stderr, stopped.stderr[-3000:]
    assert "Stopping after the current step" in stopped.stderr  # the command tells what Ctrl-C does
    _kept_some_and_the_next_run_completes(["sync"], db_path, env, total, stopped)


@pytest.mark.dovecot
def test_a_killed_download_process_ends_the_sync_with_exit_75_and_the_next_run_completes(
    company, db_path, dovecot_server, mail_user
):
    total = 2000
    env = _big_inbox(company, db_path, dovecot_server, mail_user, total)

    stopped = _interrupt_after_first_commit(["sync"], db_path, env, stop=_kill_a_helper)
    assert stopped.returncode == 75, (stopped.returncode, stopped.stderr[-3000:])
    assert "helper process ended unexpectedly" in stopped.stderr and "Traceback" not in stopped.stderr
    _kept_some_and_the_next_run_completes(["sync"], db_path, env, total, stopped)


def test_ctrl_c_during_a_big_capture_stops_it_and_the_next_run_completes(company, db_path, tmp_path):
    import factories

    total = 3000
    messages = [
        factories.raw_message(
            frm=OWNER,
            to=[f"buyer{n}@harbor.example"],
            subject=f"Offer {n}",
            body="Hello,\r\n" + "the offer in detail. " * 300 + "\r\n",
        )
        for n in range(total)
    ]
    box = tmp_path / "Sent"
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True)
    for n, raw in enumerate(messages):
        (box / "new" / f"{n}.host").write_bytes(raw)

    stopped = _interrupt_after_first_commit(["bcc-ingest", str(box)], db_path, dict(os.environ))
    assert stopped.returncode == 130 and "Interrupted" in stopped.stderr, (stopped.returncode, stopped.stderr[-3000:])
    assert "Traceback" not in stopped.stderr, stopped.stderr[-3000:]
    assert "Stopping after the current step" in stopped.stderr  # the command tells what Ctrl-C does
    _kept_some_and_the_next_run_completes(["bcc-ingest", "--json", str(box)], db_path, dict(os.environ), total, stopped)
