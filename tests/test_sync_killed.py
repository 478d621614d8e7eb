"""`kill -9` of a running sync: its helper processes die with it and never keep the account locked, a
run started right after resumes, and `account list` tells the killed run apart from a running one. A
second run beside a running one exits 75 at once.

The account's lock is a lock file beside a SQLite database, and an advisory lock of the run's own
connection on PostgreSQL, which the server drops when that connection ends."""

from __future__ import annotations

import fcntl
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest
import rawdb
from syncworld import OWNER, Maildir, mail

from pdmail.accounts.sync_lock import lock_path

pytestmark = pytest.mark.both_engines

PASSWORD_ENV = "PDMAIL_TEST_MAIL_PASSWORD"


def children_of(pid: int) -> list[int]:
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    """Running, as opposed to ended (a zombie nobody has reaped yet counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def lock_is_free(db_path, account_id: int) -> bool:
    """Whether another process could take the account's sync lock now (taken and dropped at once)."""
    if rawdb.is_postgres(db_path):
        from pdmail.store.postgres import SYNC_LOCK_CLASS

        with rawdb.connect(db_path) as conn:
            taken = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (SYNC_LOCK_CLASS, account_id)).fetchone()[0]
        return taken  # closing the connection drops the lock again, if it was taken
    try:
        fd = os.open(lock_path(db_path, account_id), os.O_RDONLY)
    except FileNotFoundError:
        return True  # no run has taken it yet
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing drops the lock again, if it was taken
    return True


class _Account:
    name = "work"

    def __init__(self, account_id: int) -> None:
        self.id = account_id


def a_new_run_takes_the_lock(db, account_id: int) -> bool:
    """Right after the run that held the account's lock was killed, a new run (on ``db``) takes it.

    The kernel drops a lock file's lock as the process dies: that is checked without any wait. The
    server drops an advisory lock once it sees the connection closed, a few milliseconds later, which
    a starting run waits out."""
    from pdmail.accounts.sync_lock import account_lock
    from pdmail.core.errors import TemporaryFailure

    if db.path is not None and not lock_is_free(db.path, account_id):
        return False
    try:
        with account_lock(db, _Account(account_id)):
            return True
    except TemporaryFailure:
        return False


def kill_outright(proc: subprocess.Popen) -> None:
    """SIGKILL to the run itself, not to its process group: nothing of it gets to clean up."""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def stop_leftovers(pids: list[int]) -> None:
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_helpers_die_with_a_killed_run_and_never_hold_its_lock(db_path):
    """Helpers busy for minutes; the run holding the lock is killed: the lock is free at once, and the
    helpers are gone within moments. (On PostgreSQL the helpers inherit the run's connection to the
    server, which ends only when the last of them has.)"""
    script = textwrap.dedent("""
        import sys, time
        from pdmail.accounts.sync_lock import account_lock
        from pdmail.core.worker_pool import HelperPool
        from pdmail.store import open_db

        class Account:
            id, name = 1, "work"

        with account_lock(open_db(sys.argv[1], create=True), Account()):
            with HelperPool(2, time.sleep) as pool:
                waiting = [pool.submit(300) for _ in range(2)]
                print("ready", flush=True)
                waiting[0]()
    """)
    from pdmail.store import open_db

    proc = subprocess.Popen([sys.executable, "-c", script, str(db_path)], stdout=subprocess.PIPE, text=True)
    helpers: list[int] = []
    try:
        assert proc.stdout.readline().strip() == "ready"
        helpers = children_of(proc.pid)
        assert len(helpers) == 2 and not lock_is_free(db_path, 1)
        next_run = open_db(db_path)
        kill_outright(proc)
        assert a_new_run_takes_the_lock(next_run, 1), "a helper of the killed run still holds its lock"
        next_run.close()
        deadline = time.monotonic() + 5
        while any(alive(pid) for pid in helpers) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not any(alive(pid) for pid in helpers), "helpers outlived the run that started them"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stop_leftovers(helpers)


def _pdmail(*args: str, db_path, env: dict, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pdmail", *args, "--db", str(db_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        **kw,
    )


def _count(db_path) -> int:
    return rawdb.scalar(db_path, "SELECT COUNT(*) FROM emails")


def _kill_after_first_commit(db_path, env: dict) -> list[int]:
    """Start `pdmail sync`, kill it outright once it committed something; its helper processes' pids."""
    proc = _pdmail("sync", db_path=db_path, env=env)
    helpers: set[int] = set()
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            helpers.update(children_of(proc.pid))
            try:
                if _count(db_path):
                    break
            except sqlite3.OperationalError:
                pass
            time.sleep(0.01)
        assert proc.poll() is None, "the run ended before it could be killed"
        helpers.update(children_of(proc.pid))
        kill_outright(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    return sorted(helpers)


@pytest.mark.dovecot
def test_a_run_started_right_after_a_killed_one_resumes_instead_of_exiting_75(
    db_path, company, dovecot_server, mail_user
):
    from pdmail.store import accounts as accounts_store
    from pdmail.store import open_db
    from pdmail.store.users import find_user
    from pdmail.sync import engine as sync

    total = 2000
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
    env = {**os.environ, PASSWORD_ENV: mail_user.password}

    next_run = open_db(db_path)
    helpers = _kill_after_first_commit(db_path, env)
    try:
        assert helpers, "the run downloaded without helper processes"
        assert a_new_run_takes_the_lock(next_run, 1), "a helper of the killed run still holds its lock"
        next_run.close()
        kept = _count(db_path)
        again = subprocess.run(
            [sys.executable, "-m", "pdmail", "sync", "--db", str(db_path)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert again.returncode == 0, (again.returncode, again.stderr[-3000:])
        assert 0 < kept < total and _count(db_path) == total
        assert not any(alive(pid) for pid in helpers)
    finally:
        stop_leftovers(helpers)


def test_account_list_shows_a_killed_run_as_interrupted_with_what_it_committed(company, db_path, tmp_path):
    box = Maildir(tmp_path / "Mail")
    for n in range(1, 1201):
        box.put("INBOX", mail(n))
    company.ok(
        "account",
        "add",
        "home",
        "--address",
        OWNER,
        "--maildir",
        str(box.root),
        "--since",
        "all",
        "--past",
        "everyone",
        "--user",
        OWNER,
    )
    env = {**os.environ, "PDMAIL_USER": OWNER}

    helpers = _kill_after_first_commit(db_path, env)
    try:
        kept = _count(db_path)
        run = company.json("account", "list", "--user", OWNER)[0]["last_sync"]
        assert run["outcome"] == "interrupted", run
        assert run["new"] == kept and 0 < kept < 1200
        assert run["finished_utc"] is None and run["last_commit_utc"] >= run["started_utc"]
        assert "interrupted" in company.ok("account", "list", "--user", OWNER).stdout

        company.ok("sync", "--user", OWNER)
        runs = rawdb.rows(db_path, "SELECT outcome, new FROM sync_runs ORDER BY id")
        assert [tuple(r) for r in runs] == [("interrupted", kept), ("ok", 1200 - kept)]
    finally:
        stop_leftovers(helpers)


def test_a_run_that_holds_its_lock_is_shown_running(company, db_path, tmp_path):
    from pdmail.accounts.sync_lock import account_lock
    from pdmail.store import accounts as accounts_store
    from pdmail.store import open_db, sync_state
    from pdmail.store.users import find_user

    box = Maildir(tmp_path / "Mail")
    company.ok("account", "add", "home", "--address", OWNER, "--maildir", str(box.root), "--user", OWNER)
    db = open_db(db_path)
    account = accounts_store.get_account(db, find_user(db, OWNER), "home")
    with account_lock(db, account):
        with db.tx():
            sync_state.start_run(db, account.id)
        assert company.json("account", "list", "--user", OWNER)[0]["last_sync"]["outcome"] == "running"
    assert company.json("account", "list", "--user", OWNER)[0]["last_sync"]["outcome"] == "interrupted"
    db.close()


@pytest.mark.sqlite_only  # on PostgreSQL a look reads pg_locks and takes nothing
def test_a_look_at_the_lock_never_turns_a_starting_run_away(db_path):
    """`account list` takes the lock shared for an instant to see whether a run holds it: a run that
    starts in that instant waits the instant out instead of exiting 75."""
    import threading

    from pdmail.accounts.sync_lock import file_lock

    class Account:
        id, name = 1, "work"

    path = lock_path(db_path, 1)
    path.parent.mkdir()
    path.touch()
    fd = os.open(path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    threading.Timer(0.05, os.close, (fd,)).start()
    with file_lock(db_path, Account()):
        assert not lock_is_free(db_path, 1)


def test_a_second_run_beside_a_running_one_exits_75_at_once(company, db_path, tmp_path):
    """The first run holds the account and waits for the database (another writer holds it): a second
    run of the same account, in a process of its own, says so and exits 75 without waiting for either."""
    box = Maildir(tmp_path / "Mail")
    for n in range(1, 4):
        box.put("INBOX", mail(n))
    company.ok(
        "account",
        "add",
        "home",
        "--address",
        OWNER,
        "--maildir",
        str(box.root),
        "--since",
        "all",
        "--past",
        "everyone",
        "--user",
        OWNER,
    )
    env = {**os.environ, "PDMAIL_USER": OWNER, "PDMAIL_BUSY_TIMEOUT": "120"}

    with rawdb.another_writer(db_path):
        first = _pdmail("sync", db_path=db_path, env=env)
        try:
            deadline = time.monotonic() + 60
            while lock_is_free(db_path, 1) and first.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            assert first.poll() is None and not lock_is_free(db_path, 1), "the first run never took its lock"
            started = time.monotonic()
            second = subprocess.run(
                [sys.executable, "-m", "pdmail", "sync", "--db", str(db_path)],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            waited = time.monotonic() - started
            assert second.returncode == 75, (second.returncode, second.stderr)
            assert "already running" in second.stderr and waited < 30, waited
            assert first.poll() is None  # still waiting for the database: the second did not wait for it
        except BaseException:
            first.kill()
            raise
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert b"home: 3 new" in out
