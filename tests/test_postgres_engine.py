"""What only the team server has: its URL, its schema ledger, its faults, and a search that finds
what SQLite's finds."""

from __future__ import annotations

import email
import json
import mailbox
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import rawdb
from entrypoint import mail, pdmail

from pdmail.store import migrations, search_words

pytestmark = pytest.mark.postgres

DATA = Path(__file__).parent / "data"


def run(*args: str, db: str, stdin: bytes = b""):
    return pdmail(*args, stdin=stdin, env={"PDMAIL_DB": db})


def init(db: str) -> None:
    code, _, err = run("init", "--name", "Maria Lopez", "--email", "maria@northwind.example", db=db)
    assert code == 0, err


def test_init_makes_the_schema_and_records_every_migration(pg_url):
    init(pg_url)
    numbers = [r["number"] for r in rawdb.rows(pg_url, "SELECT number FROM _pdmail_migrations ORDER BY number")]
    assert numbers == list(range(1, migrations.SCHEMA_VERSION + 1))
    assert "email_search" in rawdb.tables(pg_url)


def test_a_newer_schema_is_refused_untouched(pg_url):
    init(pg_url)
    newer = migrations.SCHEMA_VERSION + 1
    rawdb.execute(pg_url, "INSERT INTO _pdmail_migrations VALUES (?, 'from the future', 'x')", (newer,))
    before = rawdb.dump(pg_url)
    code, _, err = run("inbox", db=pg_url)
    assert code == 2
    assert f"schema {newer}" in err and "upgrade pdmail" in err
    assert rawdb.dump(pg_url) == before


def test_an_older_schema_is_brought_up_to_date_on_first_use(pg_url):
    """A database made at schema 12 (before organizations' domains and logins) with its company and admin, as that pdmail made it."""
    rawdb.postgres_schema_up_to(pg_url, 12)
    rawdb.execute(pg_url, "INSERT INTO company (id, name, created_utc) VALUES (1, 'Northwind', '2026-01-01T00:00:00Z')")
    rawdb.execute(
        pg_url,
        "INSERT INTO users (email, name, is_admin, created_utc) "
        "VALUES ('maria@northwind.example', 'Maria', 1, '2026-01-01T00:00:00Z')",
    )
    rawdb.execute(pg_url, "INSERT INTO app_state (key, value) VALUES ('default_user', 'maria@northwind.example')")
    code, _, err = run("inbox", db=pg_url)
    assert code == 0, err
    assert rawdb.scalar(pg_url, "SELECT max(number) FROM _pdmail_migrations") == migrations.SCHEMA_VERSION


def test_an_older_schema_learns_which_emails_have_a_link_that_counts(pg_url):
    """A database of the pdmail before migration 15, with mail linked to a contact, to an
    organization, by proposal only, or not at all, as that pdmail wrote them: has_link is set from
    the links it holds."""
    rawdb.postgres_schema_up_to(pg_url, 12)
    for sql in (  # the company and its admin, who gets a login at migration 14
        "INSERT INTO company (id, name, created_utc) VALUES (1, 'Northwind', 'x')",
        "INSERT INTO users (id, email, name, is_admin, created_utc) VALUES (1, 'maria@northwind.example', 'M', 1, 'x')",
        "INSERT INTO app_state (key, value) VALUES ('default_user', 'maria@northwind.example')",
    ):
        rawdb.execute(pg_url, sql)
    rawdb.postgres_schema_up_to(pg_url, 14)
    for sql in (
        "INSERT INTO contacts (id, name, created_utc) VALUES (1, 'Ada', 'x')",
        "INSERT INTO orgs (id, name, created_utc) VALUES (1, 'Acme', 'x')",
        "INSERT INTO threads (id, owner_id, visibility, created_utc) VALUES (1, 1, 'shared', 'x')",
        "INSERT INTO raw_messages (sha256, size, data) VALUES ('r', 1, 'x')",
    ):
        rawdb.execute(pg_url, sql)
    for n in (1, 2, 3, 4):
        rawdb.execute(
            pg_url,
            "INSERT INTO emails (id, owner_id, thread_id, fingerprint, raw_sha256, direction, source, date_utc, "
            "visibility, captured_utc) VALUES (?, 1, 1, ?, 'r', 'incoming', 'sync', 'x', 'shared', 'x')",
            (n, f"f{n}"),
        )
    rawdb.execute(pg_url, "INSERT INTO email_contacts (email_id, contact_id, rule) VALUES (1, 1, 'address')")
    rawdb.execute(pg_url, "INSERT INTO email_orgs (email_id, org_id, rule) VALUES (2, 1, 'domain')")
    rawdb.execute(pg_url, "INSERT INTO email_orgs (email_id, org_id, rule, is_proposed) VALUES (3, 1, 'domain', 1)")
    code, _, err = run("inbox", db=pg_url)
    assert code == 0, err
    assert rawdb.scalar(pg_url, "SELECT max(number) FROM _pdmail_migrations") == migrations.SCHEMA_VERSION
    flags = rawdb.rows(pg_url, "SELECT id, has_link FROM emails ORDER BY id")
    assert [tuple(r) for r in flags] == [(1, 1), (2, 1), (3, 0), (4, 0)]


def test_a_database_of_another_program_is_left_alone(pg_url):
    rawdb.execute(pg_url, "CREATE TABLE invoices (id integer)")
    code, _, err = run("init", "--name", "M", "--email", "m@x.example", db=pg_url)
    assert code == 2
    assert "another program" in err
    assert rawdb.tables(pg_url) == ["invoices"]


def test_a_server_that_is_not_there_is_a_temporary_failure(tmp_path):
    url = f"postgresql://nobody@/pdmail?host={tmp_path}"
    code, _, err = run("inbox", db=url)
    assert code == 75, err
    assert "cannot be reached" in err
    assert "Traceback" not in err


def test_a_piped_message_while_the_server_is_down_is_kept_by_the_mail_server(tmp_path):
    url = f"postgresql://nobody@/pdmail?host={tmp_path}"
    raw = (DATA / "realmail-sample.mbox").read_bytes().split(b"\nFrom ")[0].split(b"\n", 1)[1]
    code, _, err = run("bcc-ingest", "--mta", db=url, stdin=raw)
    assert code == 75, err


def test_a_password_in_the_url_is_never_printed(pg_server):
    url = pg_server.url("no_such_database").replace("@", ":s3cret-pass@", 1)
    code, out, err = run("inbox", db=url)
    assert code in (2, 75)
    assert "s3cret-pass" not in out + err


def test_without_the_driver_a_url_names_the_extra(tmp_path):
    """psycopg hidden from the interpreter: the user learns what to install (exit 2)."""
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "psycopg.py").write_text("raise ImportError('psycopg is not installed')\n")
    env = dict(os.environ, PYTHONPATH=str(blocker), PDMAIL_DB="postgresql://x@/y?host=/nonexistent")
    done = subprocess.run([sys.executable, "-m", "pdmail", "inbox"], capture_output=True, env=env, timeout=60)
    assert done.returncode == 2
    assert "pdmail[postgres]" in done.stderr.decode()


# --- search: the same emails on both engines ---------------------------------------------------


def _sample_messages() -> list[bytes]:
    box = mailbox.mbox(DATA / "realmail-sample.mbox", create=False)
    return [m.as_bytes() for m in box]


def _words_of_the_corpus(messages: list[bytes]) -> list[str]:
    seen: dict[str, int] = {}
    for raw in messages:
        msg = email.message_from_bytes(raw)
        for word in search_words.words(str(msg.get("Subject", ""))):
            seen[word] = seen.get(word, 0) + 1
    return sorted(seen, key=lambda w: (-seen[w], w))[:25]


def _as_the_users_mail(messages: list[bytes], folder: Path) -> Path:
    """The messages as files sent by the user, so that every one is stored."""
    folder.mkdir()
    for n, raw in enumerate(messages):
        msg = email.message_from_bytes(raw)
        del msg["From"]
        msg["From"] = "Maria Lopez <maria@northwind.example>"
        (folder / f"{n:03}.eml").write_bytes(msg.as_bytes())
    return folder


def _ingest(db: str, folder: Path, count: int) -> None:
    init(db)
    code, out, err = run("--json", "bcc-ingest", str(folder), db=db)
    assert code == 0, err
    assert [r["status"] for r in json.loads(out)] == ["stored"] * count


def test_search_finds_the_same_emails_on_both_engines(pg_url, tmp_path, cli):
    messages = _sample_messages()
    folder = _as_the_users_mail(messages, tmp_path / "mail")
    sqlite_db = str(tmp_path / "same.db")
    _ingest(sqlite_db, folder, len(messages))
    _ingest(pg_url, folder, len(messages))
    words = _words_of_the_corpus(messages)
    queries = [
        *words,
        f'"{words[0]} {words[1]}"',
        f"{words[2]} {words[3]}",
        "patch",
        '"man page"',
        "from:maria",
        "to:linux",
        "Ünïcödé",
        "nothing-like-this-anywhere",
    ]
    found_any = 0
    for query in queries:
        results = []
        for db in (sqlite_db, pg_url):  # in-process: the queries are what differs, not the start-up
            results.append([e["id"] for e in cli.json("search", query, "--limit", "1000", env={"PDMAIL_DB": db})])
        assert results[0] == results[1], query
        found_any += bool(results[0])
    assert found_any >= len(words)  # the queries do find mail: an empty index would agree too


def test_the_index_words_are_cut_as_sqlite_cuts_them():
    assert search_words.words("Re: [PATCH v2] foo-bar_baz CAFÉ naïve ann@acme.example 3D") == [
        "re",
        "patch",
        "v2",
        "foo",
        "bar",
        "baz",
        "cafe",
        "naive",
        "ann",
        "acme",
        "example",
        "3d",
    ]
    assert search_words.query([("foo",), ("bar", "baz")]) == "('foo') & ('bar' <-> 'baz')"
    document = search_words.document(["a b", "b"])
    assert document == "'a':1 'b':2,4"  # a gap between fields: no phrase across them


# --- a connection lost mid-ingest ----------------------------------------------------------------


def _backends_of_pdmail(pg_server, dbname: str) -> list[int]:
    rows = pg_server.run_sql(
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid != pg_backend_pid()", (dbname,)
    )
    return [r[0] for r in rows]


def test_a_connection_lost_mid_ingest_exits_75_and_the_next_run_stores_the_rest(pg_server, pg_url, tmp_path):
    init(pg_url)
    folder = tmp_path / "incoming"
    folder.mkdir()
    total = 400
    for n in range(total):
        body = f"Message {n}\r\n" + "filler line for a realistic size\r\n" * 200
        (folder / f"{n:04}.eml").write_bytes(mail(n, subject=f"Quote {n}", body=body))
    dbname = pg_url.split("/")[3].split("?")[0]
    env = {**os.environ, "PDMAIL_DB": pg_url}
    run_ = subprocess.Popen(
        [sys.executable, "-m", "pdmail", "bcc-ingest", str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        stored = rawdb.scalar(pg_url, "SELECT count(*) FROM emails")
        if stored and stored > 0:
            break
        time.sleep(0.02)
    assert 0 < stored < total, "the run must be cut while it stores"
    for pid in _backends_of_pdmail(pg_server, dbname):
        pg_server.run_sql("SELECT pg_terminate_backend(%s)", (pid,))
    _, err = run_.communicate(timeout=120)
    assert run_.returncode == 75, err.decode()
    assert b"Traceback" not in err
    kept = rawdb.scalar(pg_url, "SELECT count(*) FROM emails")
    assert rawdb.scalar(pg_url, "SELECT count(*) FROM email_search") == kept  # nothing half-written
    code, _, err2 = run("bcc-ingest", str(folder), db=pg_url)
    assert code == 0, err2
    assert rawdb.scalar(pg_url, "SELECT count(*) FROM emails") == total
    assert rawdb.scalar(pg_url, "SELECT count(DISTINCT fingerprint) FROM emails") == total


# --- libpq's usual means ---------------------------------------------------------------------------


def test_libpq_environment_variables_fill_in_the_url(pg_server, pg_url):
    """`postgresql:///NAME` with PGHOST and PGUSER set, as a cron job or a service would have it."""
    dbname = pg_url.split("/")[3].split("?")[0]
    env = {"PGHOST": str(pg_server.socket_dir), "PGUSER": "pdmail_test_super", "PGPORT": "5432"}
    code, _, err = pdmail(
        "init", "--name", "M", "--email", "m@x.example", env={**env, "PDMAIL_DB": f"postgresql:///{dbname}"}
    )
    assert code == 0, err
    assert rawdb.scalar(pg_url, "SELECT count(*) FROM users") == 1


def test_a_service_file_names_the_server(pg_server, pg_url, tmp_path):
    dbname = pg_url.split("/")[3].split("?")[0]
    services = tmp_path / "pg_service.conf"
    services.write_text(f"[pdmail]\nhost={pg_server.socket_dir}\nport=5432\nuser=pdmail_test_super\ndbname={dbname}\n")
    env = {"PGSERVICEFILE": str(services), "PDMAIL_DB": "postgresql:///?service=pdmail"}
    code, _, err = pdmail("init", "--name", "M", "--email", "m@x.example", env=env)
    assert code == 0, err
    assert rawdb.scalar(pg_url, "SELECT count(*) FROM users") == 1


def statements_of(pg_server, *args: str, db: str) -> list[str]:
    """Every statement the command sent the server, in order, from the server's own log: the command's
    session alone logs them (``log_statement`` set for it through PGOPTIONS)."""
    log = pg_server.log_path
    start = log.stat().st_size
    code, _, err = pdmail(*args, env={"PDMAIL_DB": db, "PGOPTIONS": "-c log_statement=all"})
    assert code == 0, err
    with open(log, "rb") as handle:
        handle.seek(start)
        lines = handle.read().decode(errors="replace").splitlines()
    marks = ("LOG:  statement: ", "LOG:  execute <unnamed>: ", "LOG:  execute ")
    return [line.split(mark, 1)[1] for line in lines for mark in marks[:2] if mark in line]


@pytest.mark.parametrize("args", [["inbox", "--limit", "50"], ["search", "quote"]])
def test_a_read_asks_the_server_each_thing_once(pg_server, pg_url, args):
    """Each statement is a round trip, and a read on a big team database must answer at once: opening the
    database (the settings, the schema's version) and knowing who the user is ask each thing once."""
    init(pg_url)
    run("bcc-ingest", db=pg_url, stdin=mail(1))
    sent = statements_of(pg_server, *args, "--user", "maria@northwind.example", db=pg_url)
    assert len(sent) == len(set(sent)), sent
    assert not [s for s in sent if s.startswith("SELECT to_regclass")], sent  # asked with the settings
    assert len(sent) <= 14, sent
