"""Every test runs in its own folder: no real home, no real database, UTC clock."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import typer.testing
from typer.testing import CliRunner

# Test helpers (mail corpus, fixtures) import as top-level modules.
sys.path.insert(0, str(Path(__file__).parent))


def _build_once(build):
    """Typer's test runner turns the app into click commands again for every invoke: every command's
    signature read afresh, which took most of the time of a test that runs a command a thousand times.
    A process of pdmail builds them once; so does the test run, keyed by the app."""
    built: dict[int, object] = {}

    def command(app):
        if id(app) not in built:
            built[id(app)] = build(app)
        return built[id(app)]

    return command


typer.testing._get_command = _build_once(typer.testing._get_command)  # type: ignore[attr-defined]


ENGINES = ("sqlite", "postgres")


def pytest_generate_tests(metafunc):
    """Tests marked ``both_engines`` (a module's ``pytestmark``) run once on each engine."""
    marked = metafunc.definition.get_closest_marker("both_engines")
    if not marked or "engine" not in metafunc.fixturenames or metafunc.definition.get_closest_marker("sqlite_only"):
        return
    only_postgres = metafunc.definition.get_closest_marker("postgres_only")
    metafunc.parametrize("engine", ["postgres"] if only_postgres else ENGINES, indirect=True)


@pytest.fixture
def engine(request) -> str:
    """The engine under test: SQLite unless the test runs on both (see ``pytest_generate_tests``)."""
    return getattr(request, "param", "sqlite")


@pytest.fixture
def db_target(engine, tmp_path, request) -> str:
    """The database the test's pdmail uses: a file in the test's folder, or a fresh PostgreSQL database."""
    if engine == "postgres":
        return request.getfixturevalue("pg_url")
    return str(tmp_path / "pdmail.db")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch, db_target):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local/share"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("PDMAIL_DB", db_target)
    monkeypatch.delenv("PDMAIL_USER", raising=False)
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.setenv("COLUMNS", "200")
    return home


@pytest.fixture
def db_path(tmp_path, engine, db_target):
    """The database as ``--db`` takes it: a file's Path on SQLite, the URL on PostgreSQL."""
    return tmp_path / "pdmail.db" if engine == "sqlite" else db_target


@pytest.fixture
def copy_db(engine, request):
    """``copy_db(source, file)``: a whole copy of the database ``source``, as ``--db`` takes it.

    On SQLite the file (with its write-ahead log) copied to ``file``; on PostgreSQL a new database
    made from ``source`` as its template (nobody may be connected to ``source`` meanwhile), dropped
    after the test.
    """
    made: list[str] = []

    def copy(source, file: Path):
        if engine == "postgres":
            server = request.getfixturevalue("pg_server")
            made.append(server.copy_database(server.database_in(str(source))))
            return server.url(made[-1])
        shutil.copy(source, file)
        for suffix in ("-wal", "-shm"):
            if Path(f"{source}{suffix}").exists():
                shutil.copy(f"{source}{suffix}", f"{file}{suffix}")
        return file

    yield copy
    for name in made:
        request.getfixturevalue("pg_server").drop_database(name)


class Cli:
    """Runs pdmail in-process and returns (exit code, stdout, stderr); ``.json`` parses stdout."""

    def __init__(self) -> None:
        from pdmail.cli.app import app

        self.app = app
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | bytes | None = None, env: dict | None = None):
        result = self.runner.invoke(self.app, [str(a) for a in args], input=input, env=env, catch_exceptions=False)
        return result

    def json(self, *args: str, **kw):
        result = self(*args, "--json", **kw)
        assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
        return json.loads(result.stdout)

    def ok(self, *args: str, **kw):
        result = self(*args, **kw)
        assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
        return result


@pytest.fixture
def cli():
    return Cli()


@pytest.fixture
def company(cli):
    """A company with an admin (maria), a regular user (sam) and an admin colleague (ines)."""
    cli.ok("init", "--name", "Maria Lopez", "--email", "maria@northwind.example", "--company", "Northwind")
    cli.ok("user", "add", "sam@northwind.example", "--name", "Sam Lee")
    cli.ok("user", "add", "ines@northwind.example", "--name", "Ines Admin", "--admin")
    return cli


def pytest_collection_modifyitems(config, items):
    os.environ.setdefault("TZ", "UTC")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under PDMAIL_NO_SKIP=1 (CI, where every real component is installed) a skip is a failure."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("PDMAIL_NO_SKIP", "") not in ("", "0"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped where nothing may be skipped (PDMAIL_NO_SKIP=1): {reason}"


# --- a real Dovecot on 127.0.0.1 (see tests/dovecot.py) --------------------------------------------


def _started_dovecot(**options):
    """A started Dovecot, or a skip with the reason; PDMAIL_REQUIRE_DOVECOT=1 (CI) makes that a failure."""
    from dovecot import Dovecot, DovecotUnavailable, unavailable_reason

    required = os.environ.get("PDMAIL_REQUIRE_DOVECOT", "") not in ("", "0")
    reason = unavailable_reason()
    if reason:
        if required:
            pytest.fail(f"PDMAIL_REQUIRE_DOVECOT is set but {reason}", pytrace=False)
        pytest.skip(reason)
    server = Dovecot(**options)
    try:
        server.start()
    except DovecotUnavailable as exc:
        if required:
            pytest.fail(f"PDMAIL_REQUIRE_DOVECOT is set but Dovecot cannot start: {exc}", pytrace=False)
        pytest.skip(f"Dovecot cannot start here: {exc}")
    return server


@pytest.fixture(scope="session")
def dovecot_server():
    """One Dovecot for the whole run; tests keep apart by each using a fresh user (``mail_user``)."""
    server = _started_dovecot()
    yield server
    server.stop()


@pytest.fixture
def mail_user(dovecot_server):
    """A new Dovecot user with an empty mailbox (special-use folders appear on first login)."""
    return dovecot_server.add_user()


@pytest.fixture(scope="session")
def oauth2_dovecot():
    """A Dovecot that also takes OAuth2 tokens, checked by a token endpoint on 127.0.0.1.

    Yields (server, endpoint); ``endpoint.grant(token, login)`` makes a token valid.
    """
    from oauth2_endpoint import TokenEndpoint

    with TokenEndpoint() as endpoint:
        server = _started_dovecot(oauth2_introspection_url=endpoint.url)
        yield server, endpoint
        server.stop()


# --- a real PostgreSQL on a Unix socket in a temporary folder (see tests/pgserver.py) ----------------


def _started_pg_server():
    """A started PostgreSQL, or a skip with the reason; PDMAIL_REQUIRE_POSTGRES=1 (CI) makes that a failure."""
    from pgserver import PgServer, PgUnavailable, unavailable_reason

    required = os.environ.get("PDMAIL_REQUIRE_POSTGRES", "") not in ("", "0")
    reason = unavailable_reason()
    if reason:
        if required:
            pytest.fail(f"PDMAIL_REQUIRE_POSTGRES is set but {reason}", pytrace=False)
        pytest.skip(f"PostgreSQL tests need a server: {reason}")
    server = PgServer()
    try:
        server.start()
    except PgUnavailable as exc:
        if required:
            pytest.fail(f"PDMAIL_REQUIRE_POSTGRES is set but PostgreSQL cannot start: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL cannot start here: {exc}")
    return server


@pytest.fixture(scope="session")
def pg_server():
    """One PostgreSQL for the whole run; tests keep apart by each using a fresh database (``pg_url``)."""
    server = _started_pg_server()
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server):
    """The URL of a new empty database (superuser, Unix socket), dropped after the test."""
    name = pg_server.fresh_database()
    yield pg_server.url(name)
    pg_server.drop_database(name)
