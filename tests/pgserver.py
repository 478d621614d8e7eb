"""A real PostgreSQL server in a temporary folder, for tests and benchmarks.

Plain Python (no pytest) so that ``bench/`` scripts can use the same server as the tests::

    with PgServer() as server:
        name = server.fresh_database()
        url = server.url(name)          # postgresql://pdmail_test_super@/pdmail_test_1?host=/tmp/...

The server is Debian's (``/usr/lib/postgresql/<highest version>/bin``; ``PDMAIL_PG_BINDIR`` points
elsewhere). Everything lives under one temporary directory: the cluster made by ``initdb`` and the
Unix socket. No TCP port is opened (``listen_addresses`` is empty), so any number of test runs on
one machine keep apart by their folders alone. Local connections are trusted: the folder is readable
by the server's user only, and whoever can reach the socket may connect as anyone.

PostgreSQL refuses to run as root, so when we are root the cluster belongs to ``nobody``, which runs
``initdb`` and the server; as an ordinary user both run as that user. The server runs as our child,
in a session of its own, and is stopped by its pid: by ``stop()``, at interpreter exit, and by
the kernel when the thread that started it dies (a killed test run leaves no server behind).
``PDMAIL_KEEP_PG=1`` keeps the folder (cluster and ``server.log``) after the stop, for a look.

A benchmark that builds a big database once and measures it over several runs gives ``folder``: the
cluster is made there the first time, started again from there the next times, and kept after the stop.
"""

from __future__ import annotations

import atexit
import ctypes
import functools
import grp
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

BINDIR_ROOT = Path("/usr/lib/postgresql")
SUPERUSER = "pdmail_test_super"
# With no TCP listener the port number only names the socket file (.s.PGSQL.5432) in our own folder.
PORT = 5432
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
# A Unix socket path longer than this (sun_path, less its final NUL) cannot be bound.
SOCKET_PATH_MAX = 107
# Settings for a server whose data is thrown away: durability costs time and buys nothing here.
TEST_SETTINGS = {
    "listen_addresses": "",
    "port": str(PORT),
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "32MB",
    "logging_collector": "off",
    # The suite's clock is UTC (tests/conftest.py), the server's too, whatever the machine's zone.
    "timezone": "UTC",
    "log_timezone": "UTC",
}
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


class PgUnavailable(RuntimeError):
    """PostgreSQL is not installed or cannot start here; the message says why."""


def bin_dir() -> Path | None:
    """Where initdb and postgres are: ``PDMAIL_PG_BINDIR``, else Debian's highest version."""
    if os.environ.get("PDMAIL_PG_BINDIR"):
        return Path(os.environ["PDMAIL_PG_BINDIR"])
    versions = [path for path in BINDIR_ROOT.glob("*/bin") if (path / "initdb").is_file()]
    if not versions:
        return None
    return max(versions, key=lambda path: _version_key(path.parent.name))


def _version_key(name: str) -> tuple[int, ...]:
    """Debian's version folders are "15", "16", or "9.6" for old ones: compared as numbers, 16 > 9.6."""
    return tuple(int(part) if part.isdigit() else -1 for part in name.split("."))


def unavailable_reason() -> str | None:
    """Why a PostgreSQL server cannot run on this machine, or None when it can."""
    found = bin_dir()
    if found is None:
        return f"no {BINDIR_ROOT}/*/bin/initdb (install Debian's postgresql)"
    # The server runs as `postgres` itself, not through pg_ctl: so it is our child, stopped by its pid.
    for program in ("initdb", "postgres"):
        if not os.access(found / program, os.X_OK):
            return f"{found / program} not found (install Debian's postgresql)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (the postgres extra: scripts/setup installs it)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("nobody")
            grp.getgrnam("nogroup")
        except KeyError:
            return "no user nobody / group nogroup to run PostgreSQL as (it refuses to run as root)"
    return None


class PgServer:
    """One PostgreSQL server (postmaster) and its temporary cluster."""

    def __init__(self, *, settings: dict[str, str] | None = None, folder: Path | None = None) -> None:
        """``settings``: server settings on top of (or instead of) TEST_SETTINGS. ``folder``: keep the
        cluster there, and start the one found there (see the module's docstring)."""
        self.settings = {**TEST_SETTINGS, **(settings or {})}
        self.folder = Path(folder).resolve() if folder is not None else None
        self.root: Path | None = None
        self.process: subprocess.Popen | None = None
        self.bin: Path | None = None
        self.is_root = os.geteuid() == 0
        if self.is_root:
            self.run_uid, self.run_gid = pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid
        else:
            self.run_uid, self.run_gid = os.getuid(), os.getgid()
        self._names = itertools.count(1)
        self._admin = None

    # --- paths ----------------------------------------------------------------------------------

    @property
    def _root(self) -> Path:
        if self.root is None:
            raise RuntimeError("the server is not started")
        return self.root

    @property
    def data_dir(self) -> Path:
        return self._root / "data"

    @property
    def socket_dir(self) -> Path:
        """The server's Unix socket folder: the ``host`` of every connection."""
        return self._root

    @property
    def log_path(self) -> Path:
        return self._root / "server.log"

    @property
    def pid(self) -> int:
        """The postmaster's pid."""
        if self.process is None:
            raise RuntimeError("the server is not started")
        return self.process.pid

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # --- life cycle -----------------------------------------------------------------------------

    def __enter__(self) -> PgServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> PgServer:
        reason = unavailable_reason()
        if reason:
            raise PgUnavailable(reason)
        self.bin = bin_dir()
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.root = self.folder
        else:
            self.root = Path(tempfile.mkdtemp(prefix="pdmail-pg-"))
        try:
            self._prepare_root()
            if not (self.data_dir / "PG_VERSION").exists():
                self._initdb()
            self._launch()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Fast shutdown (SIGINT); after STOP_TIMEOUT_S immediate shutdown (SIGQUIT), then SIGKILL.

        Not SIGTERM: that is PostgreSQL's "smart" shutdown, which waits until every client has gone,
        so one connection a test forgot to close would hold the stop for the whole timeout. The server's
        own processes follow the postmaster: it ends them on SIGINT and SIGQUIT, and they notice its death.
        """
        if self._admin is not None:
            self._admin.close()  # psycopg closes without raising, even on a connection the server ended
            self._admin = None
        process, self.process = self.process, None
        if process is not None:
            _LIVE.discard(self)
            for stop_signal in (signal.SIGINT, signal.SIGQUIT, signal.SIGKILL):
                if process.poll() is not None:
                    break
                process.send_signal(stop_signal)
                try:
                    process.wait(timeout=STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    continue
        if self.root is not None and self.folder is None and not os.environ.get("PDMAIL_KEEP_PG"):
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def _prepare_root(self) -> None:
        """The folder holds a trusted socket: reachable by the server's user (and root) only."""
        root = self._root
        too_long = len(str(root)) + len(f"/.s.PGSQL.{PORT}") > SOCKET_PATH_MAX
        if too_long:
            raise PgUnavailable(f"the socket path under {root} would be too long; point TMPDIR at a shorter path")
        if self.is_root:
            for parent in root.parents:
                if not parent.stat().st_mode & 0o001:
                    raise PgUnavailable(
                        f"{parent} is not traversable by other users, so the server (run as nobody) could "
                        f"not reach its folder; point TMPDIR elsewhere"
                    )
            os.chown(root, self.run_uid, self.run_gid)
        root.chmod(0o700)

    def _as_server_user(self) -> dict:
        """subprocess arguments that run a program as the server's user, with a clean environment."""
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8", "HOME": str(self._root)}
        options: dict = {"env": env, "cwd": str(self._root), "stdin": subprocess.DEVNULL}
        if self.is_root:
            options.update(user=self.run_uid, group=self.run_gid, extra_groups=[])
        return options

    def _initdb(self) -> None:
        assert self.bin is not None
        done = subprocess.run(
            [
                str(self.bin / "initdb"),
                "--pgdata",
                str(self.data_dir),
                "--username",
                SUPERUSER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C.UTF-8",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            **self._as_server_user(),
        )
        if done.returncode:
            raise PgUnavailable(f"initdb failed ({done.returncode}):\n{(done.stdout + done.stderr)[-3000:]}")
        # Unix-socket connections only, trusted; nothing over TCP even if someone turns a listener on.
        hba = self.data_dir / "pg_hba.conf"
        hba.write_text("local all all trust\n")
        os.chown(hba, self.run_uid, self.run_gid)

    def _launch(self) -> None:
        assert self.bin is not None
        settings = {**self.settings, "unix_socket_directories": str(self.socket_dir)}
        command = [str(self.bin / "postgres"), "-D", str(self.data_dir)]
        for name, value in settings.items():
            command += ["-c", f"{name}={value}"]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                # A session of its own: Ctrl-C on the test run reaches pytest, which stops the server
                # in order, rather than the server itself while tests still use it.
                start_new_session=True,
                preexec_fn=functools.partial(_die_with_parent, os.getpid()),
                **self._as_server_user(),
            )
        _LIVE.add(self)

    def _wait_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + START_TIMEOUT_S
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise PgUnavailable(f"postgres exited at start:\n{self.log_text()[-3000:]}")
            try:
                with psycopg.connect(self.url("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError as exc:
                last_error = exc
                time.sleep(0.05)
        raise PgUnavailable(f"postgres did not accept connections ({last_error}):\n{self.log_text()[-3000:]}")

    # --- connections and databases --------------------------------------------------------------

    @staticmethod
    def database_in(url: str) -> str:
        """The database name a URL of :meth:`url` names."""
        return unquote(urlsplit(url).path.lstrip("/"))

    def url(self, dbname: str, user: str | None = None) -> str:
        """A libpq URL for ``dbname`` over the Unix socket, as ``user`` (the superuser by default)."""
        who = quote(user or SUPERUSER, safe="")
        return f"postgresql://{who}@/{quote(dbname, safe='')}?host={quote(str(self.socket_dir), safe='/')}&port={PORT}"

    def connect(self, dbname: str = "postgres", user: str | None = None, **options):
        """A psycopg connection (autocommit unless told otherwise); the caller closes it."""
        import psycopg

        options.setdefault("autocommit", True)
        return psycopg.connect(self.url(dbname, user), **options)

    def run_sql(self, sql: str, params=None, *, db: str = "postgres") -> list[tuple]:
        """Run one statement as the superuser on a connection of its own; returns its rows, if any."""
        with self.connect(db) as conn:
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description is not None else []

    def _admin_conn(self):
        """One kept connection to ``postgres`` for creating and dropping databases: no connect per test."""
        if self._admin is None or self._admin.closed:
            self._admin = self.connect("postgres")
        return self._admin

    def create_database(self, name: str, owner: str | None = None) -> str:
        """An empty database (a copy of template0, which nobody connects to, so the copy never waits)."""
        from psycopg import sql

        statement = sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name))
        if owner:
            statement += sql.SQL(" OWNER {}").format(sql.Identifier(owner))
        self._admin_conn().execute(statement)
        return name

    def copy_database(self, template: str, name: str | None = None) -> str:
        """A new database holding what ``template`` holds (``CREATE DATABASE ... TEMPLATE``), named
        ``name`` or freshly: data built once and copied for each test. PostgreSQL copies only a
        database nobody is connected to; the copy is a file copy, far quicker than building again."""
        from psycopg import sql

        name = name or f"pdmail_test_{next(self._names)}"
        statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
        self._admin_conn().execute(statement)
        return name

    def fresh_database(self, owner: str | None = None) -> str:
        """A new empty database with a name no other database of this server has had."""
        return self.create_database(f"pdmail_test_{next(self._names)}", owner)

    def drop_database(self, name: str) -> None:
        """Drop it even if a connection was left open on it (such sessions are ended), and the roles
        pdmail made for it (its tables' owner, its users' group, its definer): roles outlive databases."""
        import psycopg
        from psycopg import sql

        from pdmail.store.logins_postgres import role_names

        self._admin_conn().execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        names = role_names(name)
        for role in (names.users, names.definer, names.tables):
            try:
                self._admin_conn().execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
            except psycopg.errors.DependentObjectsStillReferenced:
                pass  # it still owns something in a copy of that database: the copy's drop takes it

    def create_role(self, name: str) -> str:
        """A role that can log in and is not a superuser (local connections are trusted: no password)."""
        from psycopg import sql

        self._admin_conn().execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
        return name


def _die_with_parent(parent: int) -> None:
    """In the server process, before exec: the kernel sends SIGQUIT (immediate shutdown, which also
    ends every session) when the thread that started it dies, even if that thread is killed. If the
    parent is gone already, the request came too late: do not start at all."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGQUIT, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # no prctl: stop() and the exit handler below still stop it
    if os.getppid() != parent:
        os._exit(1)


_LIVE: set[PgServer] = set()


@atexit.register
def _stop_all() -> None:
    """No server outlives the interpreter that started it, whether or not stop() was called."""
    for server in list(_LIVE):
        server.stop()
