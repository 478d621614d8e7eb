"""The test PostgreSQL really runs: reachable through its URL, one empty database per test, never as
root, and gone once stopped, at interpreter exit, or when the test run is killed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from pgserver import SUPERUSER, PgServer

pytestmark = pytest.mark.postgres

TESTS = Path(__file__).resolve().parent


def is_running(pid: int) -> bool:
    """A process with this pid exists and is not a zombie waiting for someone to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def children_of(pid: int) -> list[int]:
    """Live processes whose parent is ``pid``: a postmaster's backends and background workers."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def wait_until_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if is_running(pid)]
        if not alive:
            return []
        time.sleep(0.05)
    return [pid for pid in pids if is_running(pid)]


def test_psycopg_connects_through_the_url(pg_server, pg_url):
    import psycopg

    with psycopg.connect(pg_url) as conn:
        version, database, user = conn.execute("SELECT version(), current_database(), current_user").fetchone()
    assert version.startswith("PostgreSQL ")
    assert pg_url.split("?")[0].endswith("/" + database)
    assert user == SUPERUSER


def test_the_server_listens_on_its_socket_only_and_trusts_local_connections(pg_server):
    rows = dict(pg_server.run_sql("SELECT name, setting FROM pg_settings WHERE name IN ('listen_addresses', 'fsync')"))
    assert rows == {"listen_addresses": "", "fsync": "off"}
    assert pg_server.run_sql("SELECT type, auth_method FROM pg_hba_file_rules") == [("local", "trust")]
    assert pg_server.run_sql("SHOW unix_socket_directories") == [(str(pg_server.socket_dir),)]


def test_each_test_database_starts_empty_and_stays_apart(pg_server, pg_url):
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)
        conn.execute("CREATE TABLE mail (subject text)")
        conn.execute("INSERT INTO mail VALUES ('quote')")
    second = pg_server.fresh_database()
    try:
        assert pg_server.url(second) != pg_url
        assert pg_server.run_sql("SELECT to_regclass('mail')", db=second) == [(None,)]
        pg_server.run_sql("CREATE TABLE mail (subject text)", db=second)
    finally:
        pg_server.drop_database(second)
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT subject FROM mail").fetchall() == [("quote",)]


def test_a_database_is_dropped_even_with_a_connection_left_open(pg_server):
    import psycopg

    name = pg_server.fresh_database()
    forgotten = psycopg.connect(pg_server.url(name))
    try:
        pg_server.drop_database(name)
        assert pg_server.run_sql("SELECT count(*) FROM pg_database WHERE datname = %s", (name,)) == [(0,)]
    finally:
        forgotten.close()


def test_an_ordinary_role_connects_through_its_own_url(pg_server):
    role = pg_server.create_role(f"clerk_{os.getpid()}")
    name = pg_server.fresh_database(owner=role)
    try:
        with pg_server.connect(name, user=role) as conn:
            rows = conn.execute("SELECT current_user, usesuper FROM pg_user WHERE usename = current_user").fetchall()
        assert rows == [(role, False)]
    finally:
        pg_server.drop_database(name)
        pg_server.run_sql(f'DROP ROLE "{role}"')


def test_the_server_does_not_run_as_root(pg_server):
    """PostgreSQL refuses root; when the tests run as root the cluster and every process belong to nobody."""
    import pwd

    expected = pwd.getpwnam("nobody").pw_uid if os.geteuid() == 0 else os.getuid()
    backend = pg_server.run_sql("SELECT pg_backend_pid()")[0][0]
    owners = {
        "postmaster": os.stat(f"/proc/{pg_server.pid}").st_uid,
        "backend": os.stat(f"/proc/{backend}").st_uid,
        "data folder": os.stat(pg_server.data_dir).st_uid,
    }
    assert owners == dict.fromkeys(owners, expected)
    assert 0 not in owners.values()


def test_stop_ends_every_server_process_even_with_a_client_connected(pg_server):
    """A connection a test forgot to close does not hold the stop (fast shutdown, not smart)."""
    server = PgServer().start()
    root = server.root
    try:
        forgotten = server.connect()
        backend = forgotten.execute("SELECT pg_backend_pid()").fetchone()[0]
        postmaster = server.pid
        assert is_running(postmaster) and is_running(backend)
        children = children_of(postmaster)
        assert backend in children and len(children) >= 3  # our backend, the checkpointer, ...
        started = time.monotonic()
        server.stop()
        took = time.monotonic() - started
    finally:
        server.stop()
    assert not is_running(postmaster)
    assert wait_until_gone(children) == []
    assert took < 5, took
    assert root is not None and not root.exists()


def test_two_servers_run_side_by_side(pg_server):
    """Two test runs at once on one machine: separate folders and sockets, no port to share."""
    with PgServer() as other:
        assert other.socket_dir != pg_server.socket_dir
        mine = pg_server.run_sql("SHOW data_directory")
        theirs = other.run_sql("SHOW data_directory")
        assert mine == [(str(pg_server.data_dir),)] and theirs == [(str(other.data_dir),)]


def test_a_kept_folder_holds_the_cluster_from_one_start_to_the_next(pg_server):
    """A benchmark's big database is built once: the cluster stays in its folder and starts again from there."""
    folder = Path(tempfile.mkdtemp(prefix="pdmail-pg-kept-"))  # under /tmp: reachable by the server's user
    try:
        with PgServer(folder=folder) as first:
            assert first.data_dir == folder / "data"
            first.create_database("kept")
            first.run_sql("CREATE TABLE t (word TEXT)", db="kept")
            first.run_sql("INSERT INTO t VALUES ('gearbox')", db="kept")
            first_pid = first.pid
        assert not is_running(first_pid)
        assert (folder / "data" / "PG_VERSION").exists()
        with PgServer(folder=folder) as second:
            assert second.run_sql("SELECT word FROM t", db="kept") == [("gearbox",)]
        assert (folder / "data" / "PG_VERSION").exists()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


CHILD_RUN = """
import sys, time
sys.path.insert(0, sys.argv[1])
from pgserver import PgServer
server = PgServer().start()
print(server.pid, server.root, flush=True)
if sys.argv[2] == "hang":
    time.sleep(600)
"""


def child_run(mode: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD_RUN, str(TESTS), mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_a_server_never_stopped_ends_with_the_interpreter(pg_server):
    child = child_run("exit")
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    pid, root = out.split()
    assert not is_running(int(pid))
    assert not Path(root).exists()


def test_a_killed_test_run_leaves_no_server_behind(pg_server):
    child = child_run("hang")
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line, child.stderr.read() if child.stderr else ""
        pid, root = line.split()
        server_processes = [int(pid), *children_of(int(pid))]
        assert is_running(int(pid)) and len(server_processes) >= 3
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        assert wait_until_gone(server_processes) == []
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    shutil.rmtree(root, ignore_errors=True)  # the killed run could not tidy its folder


def run_pytest_without_postgres(tmp_path: Path, **env_overrides: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_needs_pg.py").write_text("def test_needs_pg(pg_url):\n    assert pg_url\n")
    (tmp_path / "empty").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PDMAIL_NO_SKIP", "PDMAIL_REQUIRE_POSTGRES")}
    env.update(PYTHONPATH=str(TESTS), PDMAIL_PG_BINDIR=str(tmp_path / "empty"), **env_overrides)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "conftest", "-p", "no:cacheprovider"]
        + ["--rootdir", str(tmp_path), str(tmp_path / "test_needs_pg.py")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )


def test_without_postgresql_the_tests_skip_with_the_reason(tmp_path):
    result = run_pytest_without_postgres(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout
    assert f"{tmp_path / 'empty' / 'initdb'} not found" in result.stdout


def test_without_postgresql_the_tests_fail_where_it_is_required(tmp_path):
    result = run_pytest_without_postgres(tmp_path, PDMAIL_REQUIRE_POSTGRES="1")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 error" in result.stdout or "1 failed" in result.stdout
    assert "PDMAIL_REQUIRE_POSTGRES is set but" in result.stdout


NON_ROOT_RUN = """
import os, sys
sys.path.insert(0, sys.argv[1])
from pgserver import PgServer
with PgServer() as server:
    assert not server.is_root
    name = server.fresh_database()
    with server.connect(name) as conn:
        print(conn.execute("SELECT current_database()").fetchone()[0])
    print(os.stat(f"/proc/{server.pid}").st_uid == os.getuid() != 0)
    pid = server.pid
print(os.path.exists(f"/proc/{pid}"))
"""


def test_the_server_runs_for_an_unprivileged_user(pg_server):
    """Developers run the tests as themselves: then initdb and the server run as that user, with no switch."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or not setpriv:
        pytest.skip("needs root and setpriv to become an unprivileged user")
    import psycopg
    import psycopg_binary
    import typing_extensions  # psycopg needs it before Python 3.13

    # A folder the unprivileged user can read, outside the (maybe private) checkout, with the driver.
    helper = Path(tempfile.mkdtemp(prefix="pdmail-nonroot-"))
    try:
        helper.chmod(0o755)
        shutil.copy(TESTS / "pgserver.py", helper / "pgserver.py")
        for package in (psycopg, psycopg_binary):
            folder = Path(package.__file__).parent
            shutil.copytree(folder, helper / folder.name)
            libs = folder.with_name(folder.name + ".libs")  # the wheel's own libpq and its libraries
            if libs.is_dir():
                shutil.copytree(libs, helper / libs.name)
        shutil.copy(typing_extensions.__file__, helper)
        for path in helper.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        result = subprocess.run(
            [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", os.path.realpath(sys.executable)]
            + ["-c", NON_ROOT_RUN, str(helper)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd="/",
            env={"PATH": os.environ.get("PATH", ""), "HOME": "/tmp", "TMPDIR": "/tmp"},
        )
    finally:
        shutil.rmtree(helper, ignore_errors=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["pdmail_test_1", "True", "False"]
