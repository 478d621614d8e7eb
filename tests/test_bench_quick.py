"""The benchmark scripts on a tiny mailbox, so that they keep working; the figures are not checked."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import crm_speed  # noqa: E402
import import_compare  # noqa: E402
import ingest_speed  # noqa: E402
import list_speed  # noqa: E402
import mailgen  # noqa: E402
import measure  # noqa: E402
import parser_compare  # noqa: E402
import realcorpus  # noqa: E402
import realmail_check  # noqa: E402


def load_run_script():
    loader = importlib.machinery.SourceFileLoader("bench_run", str(BENCH / "run"))
    spec = importlib.util.spec_from_loader("bench_run", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_quick_mailbox_generator_is_deterministic(tmp_path):
    first = list(mailgen.generate_messages(40, 1))
    assert first == list(mailgen.generate_messages(40, 1))
    count, size = mailgen.write_maildir(tmp_path / "md", first)
    assert count == 40 and size == sum(map(len, first))
    assert len(list((tmp_path / "md" / "cur").iterdir()) + list((tmp_path / "md" / "new").iterdir())) == 40


def test_ingest_bench_runs_through_the_real_command(tmp_path):
    results = ingest_speed.run_all(50, 1, 2, tmp_path)
    assert sum(results["mailbox"]["outcomes"].values()) == 50
    assert results["sent"]["outcomes"] == {"stored": 50}
    assert results["single"]["outcomes"] == {"stored": 2}
    assert results["version"]["runs"] == 2
    assert results["sent"]["peak_pss_mb"] is None or results["sent"]["peak_pss_mb"] > 0
    ingest_speed.print_table(results)


def test_crm_bench_lists_every_imported_contact(tmp_path):
    results = crm_speed.run_all(60, 10, 1, tmp_path)
    assert results["contact_import"]["imported"] == 60
    assert results["deal_import"]["imported"] == 10
    crm_speed.print_table(results)


def test_list_bench_checks_every_record_of_each_list(tmp_path):
    results = list_speed.run_all(40, 8, 12, 1, tmp_path)
    assert results["contact list"]["records"] == 40 and results["deal list"]["records"] == 8
    assert results["bcc-ingest --quarantine"]["records"] == results["quarantined"] > 0
    list_speed.print_table(results)


def test_parser_comparison_reads_a_folder_of_mbox_files(tmp_path, monkeypatch):
    mailgen.write_mbox(tmp_path / "a.mbox", list(mailgen.generate_messages(20, 1)))
    mailgen.write_mbox(tmp_path / "b.mbox", list(mailgen.generate_messages(10, 2)))
    monkeypatch.setenv("PDMAIL_CORPUS", str(tmp_path))
    results = parser_compare.run_all(parser_compare.corpus_paths([]), 1, 1, 10)
    assert results["messages"] == 30 and results["corpus"] == ["a.mbox", "b.mbox"]
    assert set(results["speed"]) == {"pdmail", "mail-parser"}
    by_case = {row["case"]: row for row in results["bad_input"]}
    assert by_case["nested_5000_deep"]["pdmail"]["status"].startswith("refused")
    assert results["html"]["bodies"] > 0
    parser_compare.print_report(results)


def test_parser_comparison_wants_a_corpus(monkeypatch):
    monkeypatch.delenv("PDMAIL_CORPUS", raising=False)
    with pytest.raises(SystemExit, match="give the corpus"):
        parser_compare.corpus_paths([])


def test_import_comparison_reads_every_variant(tmp_path):
    results = import_compare.run_all(300, 1, tmp_path)
    assert results["reading"]["a note over 3 lines"]["pdmail csvimport"]["second_row_line"] == 5
    assert results["inserts"]["contacts"] == 300
    import_compare.print_report(results)


def test_realmail_check_accounts_for_every_message(tmp_path):
    sample = str(Path(__file__).parent / "data" / "realmail-sample.mbox")
    results = realmail_check.run_all([sample], mta=False, work=tmp_path)
    assert [row["ok"] for row in results["rows"]] == [True, True, True]
    as_received, sent, no_lists = (row["counts"] for row in results["rows"])
    assert as_received == {"quarantined": results["messages"]}
    assert set(sent) <= {"stored", "duplicate"} and set(no_lists) <= {"stored", "duplicate"}
    realmail_check.print_table(results)


def test_realmail_check_rewrites_the_sender_only():
    raw = (
        b"From: Ann <ann@x.example>\nSender: list-bounces@x.example\nTo: b@y.example\n"
        b"List-Id: <l.x.example>\nPrecedence: list\nSubject: s\n\nFrom: not a header\n"
    )
    sent = realmail_check.as_sent_by_the_user(raw)
    assert sent == (
        b"From: Maria Lopez <maria@northwind.example>\nTo: b@y.example\nList-Id: <l.x.example>\n"
        b"Precedence: list\nSubject: s\n\nFrom: not a header\n"
    )
    assert realmail_check.as_sent_by_the_user(raw, list_headers=False) == (
        b"From: Maria Lopez <maria@northwind.example>\nTo: b@y.example\nSubject: s\n\nFrom: not a header\n"
    )


def test_measure_reports_exit_code_output_and_cpu():
    m = measure.run(
        [sys.executable, "-c", "import sys; sys.stdout.write(sys.stdin.read().upper()); sys.exit(3)"], stdin=b"abc"
    )
    assert (m.returncode, m.stdout) == (3, b"ABC")
    assert m.cpu_s > 0 and m.wall_s > 0


def test_run_script_quick_pass(tmp_path, capsys):
    """pdmail-only when no Dovecot can run here; with one, every tool that is installed takes part."""
    from dovecot import unavailable_reason

    if unavailable_reason() and os.environ.get("PDMAIL_REQUIRE_DOVECOT", "") not in ("", "0"):
        pytest.fail(f"PDMAIL_REQUIRE_DOVECOT is set but {unavailable_reason()}")
    run = load_run_script()
    results = run.run_mailbox(30, 1, install=False)
    names = {row["name"] for row in results["summary"]}
    assert "pdmail bcc-ingest (Maildir)" in names
    bcc = next(row for row in results["summary"] if row["name"] == "pdmail bcc-ingest (Maildir)")
    assert sum(bcc["outcomes"].values()) == 30
    for tool in ("bare imapclient FETCH", "pdmail sync, initial", "mbsync + notmuch new"):
        assert tool in names or tool in results["unavailable"]
    run.print_mailbox_table(results)
    out_path = tmp_path / "r.json"
    out_path.write_text(json.dumps(results, default=str))
    assert json.loads(out_path.read_text())["count"] == 30
    assert "pdmail bcc-ingest (Maildir)" in capsys.readouterr().out


def test_real_corpus_is_the_users_own_mail_and_copies_are_new_messages():
    sample = str(Path(__file__).parent / "data" / "realmail-sample.mbox")
    read = realcorpus.read_paths([sample])
    messages, extra, origin = realcorpus.build(len(read) * 2 + 1, [sample], extra=2)
    assert (len(messages), len(extra), origin) == (len(read) * 2 + 1, 2, "realmail-sample.mbox")
    assert messages == realcorpus.build(len(read) * 2 + 1, [sample], extra=2)[0]  # the same every time
    assert all(raw.startswith(b"From: Maria Lopez <maria@northwind.example>") for raw in messages + extra)
    ids = [realcorpus._MESSAGE_ID_RE.search(raw)[0] for raw in messages + extra]
    assert len(set(ids)) == len(ids)  # a copy is a new message, not a duplicate


def test_run_script_real_mail_pass(tmp_path, capsys):
    """The three rows of `bench/run --real`; a peer that cannot run here says why."""
    sample = str(Path(__file__).parent / "data" / "realmail-sample.mbox")
    run = load_run_script()
    import real_run

    results = real_run.run_real(12, 1, [sample], lambda: run.ensure_mbsync_notmuch(False))
    rows = {row["key"]: row for row in results["summary"]}
    assert rows["bulk"]["outcomes"] == {"stored": 12}
    assert rows["piped"]["pdmail"]["runs"] == real_run.PIPED_PER_ROUND
    if not results["unavailable"].get("Dovecot"):
        assert rows["sync"]["pdmail"]["runs"] == 1 and "ratio" in rows["sync"]
    real_run.print_real_table(results)
    assert "bulk bcc-ingest of a Maildir" in capsys.readouterr().out


# --- PostgreSQL (the bench starts a server of its own; the pg_server fixture only skips or fails the
# test the way every PostgreSQL test does when no server can run here) ---------------------------------


def _needs_dovecot():
    from dovecot import unavailable_reason

    if unavailable_reason():
        if os.environ.get("PDMAIL_REQUIRE_DOVECOT", "") not in ("", "0"):
            pytest.fail(f"PDMAIL_REQUIRE_DOVECOT is set but {unavailable_reason()}")
        pytest.skip(f"needs Dovecot: {unavailable_reason()}")


@pytest.mark.postgres
def test_bench_server_is_durable(pg_server):
    """The benchmark's PostgreSQL flushes its commits to disk: a server without would flatter it against SQLite."""
    import pg_server as bench_pg

    server = bench_pg.start()
    try:
        note = bench_pg.settings_note(server)
        shown = dict(
            r
            for r in server.run_sql(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('fsync', 'synchronous_commit', 'full_page_writes')"
            )
        )
        assert shown == {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
        assert "fsync=on, synchronous_commit=on" in note
        assert bench_pg.server_cpu_s(server) > 0
    finally:
        server.stop()


@pytest.mark.postgres
def test_ingest_bench_on_postgres(pg_server, tmp_path):
    results = ingest_speed.run_all(20, 1, 2, tmp_path, engines=("postgres",))
    on_postgres = results["postgres"]
    assert "mailbox" not in results  # SQLite was not asked for
    assert on_postgres["sent"]["outcomes"] == {"stored": 20}
    assert on_postgres["single"]["outcomes"] == {"stored": 2}
    assert on_postgres["sent"]["server_cpu_s"] > 0
    ingest_speed.print_table(results)


@pytest.mark.postgres
def test_run_script_both_engines_side_by_side(pg_server, capsys):
    """--engine both: the same rows on SQLite and PostgreSQL, the same outcomes, and the share printed."""
    run = load_run_script()
    results = run.run_mailbox(30, 1, install=False, engines=("sqlite", "postgres"))
    rows = {row["name"]: row for row in results["summary"]}
    sqlite_bcc, pg_bcc = rows["pdmail bcc-ingest (Maildir)"], rows["pdmail bcc-ingest (Maildir) [PostgreSQL]"]
    assert sum(pg_bcc["outcomes"].values()) == 30 and pg_bcc["outcomes"] == sqlite_bcc["outcomes"]
    assert pg_bcc["server_cpu_median_s"] > 0 and "server_cpu_median_s" not in sqlite_bcc
    compared = {c["name"]: c for c in results["postgres_vs_sqlite"]}
    assert compared["pdmail bcc-ingest (Maildir)"]["target"] == 0.5
    if "pdmail sync, initial" in rows:
        assert "pdmail sync, initial [PostgreSQL]" in rows and "met" in compared["pdmail sync, initial"]
    run.print_mailbox_table(results)
    assert "PostgreSQL against SQLite" in capsys.readouterr().out


@pytest.mark.postgres
def test_scale_generator_writes_the_same_mail_on_both_engines(pg_server, tmp_path, capsys):
    """The PostgreSQL load (COPY, indexes made afterwards) holds what the SQLite one holds, and pdmail's
    search finds the same emails in it, in the same order."""
    import subprocess

    import inbox_scale

    sizes = {"emails": 600, "contacts": 80, "deals": 20, "users": 4, "seed": 3}
    sqlite_db = tmp_path / "scale.db"
    inbox_scale.build(sqlite_db, **sizes)
    name = pg_server.fresh_database()
    try:
        url = pg_server.url(name)
        inbox_scale.build_postgres(url, **sizes)
        for table in ("threads", "emails", "email_addresses", "email_contacts", "thread_message_ids"):
            query = f"SELECT count(*) FROM {table}"
            assert inbox_scale._scalar(sqlite_db, query) == inbox_scale._scalar(url, query) > 0
        assert inbox_scale._scalar(url, "SELECT count(*) FROM email_search") == sizes["emails"]
        # each conversation's last email: kept by triggers as SQLite's load goes, set after PostgreSQL's
        flags = "SELECT count(*) FROM emails WHERE is_last_for_{} = 1 AND direction = '{}'"
        for who, direction in (
            ("owner", "incoming"),
            ("owner", "outgoing"),
            ("team", "incoming"),
            ("team", "outgoing"),
        ):
            query = flags.format(who, direction)
            assert inbox_scale._scalar(sqlite_db, query) == inbox_scale._scalar(url, query) > 0
        indexes = "SELECT count(*) FROM pg_indexes WHERE tablename = 'emails'"
        fresh = pg_server.fresh_database()
        try:
            from pdmail.store import open_db

            open_db(pg_server.url(fresh), create=True).close()  # the schema as the migrations make it
            assert inbox_scale._scalar(url, indexes) == inbox_scale._scalar(pg_server.url(fresh), indexes)
        finally:
            pg_server.drop_database(fresh)
        pdmail = inbox_scale.pdmail_command()
        found = {}
        for target in (str(sqlite_db), url):
            done = subprocess.run(
                [*pdmail, "search", "quote", "--json", "--user", "user3@northwind.example", "--db", target],
                capture_output=True,
                text=True,
            )
            assert done.returncode == 0, done.stderr
            found[target] = [e["id"] for e in json.loads(done.stdout)]
        assert found[str(sqlite_db)] == found[url] and found[url]
        next_id = inbox_scale._scalar(url, "SELECT nextval(pg_get_serial_sequence('emails', 'id'))")
        assert next_id == sizes["emails"] + 1  # pdmail's next email gets a free id
        inbox_scale.run_cases({"SQLite": sqlite_db, "PostgreSQL": url}, 1, with_plans=False, server=pg_server)
        lines = capsys.readouterr().out.splitlines()
        timed = [line for line in lines if " ms " in line]
        assert len(timed) == 26 and all("SQLite:" in line and "PostgreSQL:" in line for line in timed)
    finally:
        pg_server.drop_database(name)


@pytest.mark.postgres
def test_concurrent_run_stores_every_message_once(pg_server):
    _needs_dovecot()
    import pg_concurrent

    results = pg_concurrent.run_concurrent(accounts=2, per_account=8, piped=6, pipers=2)
    assert results["failures"] == []
    assert results["stored_emails"] == results["expected_emails"] > 0
    assert results["piped_outcomes"].get("duplicate", 0) >= 1  # copies of synced mail were recognised
    assert sum(results["piped_outcomes"].values()) == 6
    pg_concurrent.print_report(results)


def test_concurrent_check_fails_on_a_refused_message_or_a_lock_error():
    import pg_concurrent

    results: dict = {"failures": []}
    pg_concurrent.check_processes(
        [
            pg_concurrent.Finished("pipe", "sam@northwind.example", 0, 0.1, '{"status": "stored"}', ""),
            pg_concurrent.Finished("pipe", "sam@northwind.example", 0, 0.1, '{"status": "quarantined"}', ""),
            pg_concurrent.Finished("sync", "maria@northwind.example", 0, 1.0, "{}", "Error: the database is busy"),
            pg_concurrent.Finished("sync", "priya@northwind.example", 75, 1.0, "", "connection lost"),
        ],
        results,
    )
    assert results["piped_outcomes"] == {"stored": 1, "quarantined": 1}
    assert len(results["failures"]) == 3
    assert "quarantined" in results["failures"][0] and "busy" in results["failures"][1]
    assert "exit 75" in results["failures"][2]


@pytest.mark.postgres
def test_concurrent_check_finds_a_missing_message_and_an_unsynced_one(pg_url):
    """The database check can fail: a message expected but not stored, an IMAP message not synced."""
    import pg_concurrent

    from pdmail.mime.fingerprint import fingerprint
    from pdmail.mime.parse import parse_message

    address = "maria@northwind.example"
    stored = pg_concurrent.new_sent_message(address, 5)
    not_stored = pg_concurrent.new_sent_message(address, 6)
    measure.run(
        ingest_speed.pd(pg_url, "init", "--name", "Maria Lopez", "--email", address), sample_memory=False, check=True
    )
    piped = measure.run(ingest_speed.pd(pg_url, "bcc-ingest"), stdin=stored, sample_memory=False)
    assert piped.returncode == 0, piped.stderr
    box = pg_concurrent.Mailbox(address, inbox=[], sent=[], piped=[stored])
    results: dict = {"failures": []}
    pg_concurrent.check_database(pg_url, [box], pg_concurrent.expected_pairs([box]), results)
    assert results["failures"] == [] and results["stored_emails"] == 1
    box.sent.append(not_stored)  # on the IMAP server, never synced
    expected = {address: {fingerprint(parse_message(stored)), fingerprint(parse_message(not_stored))}}
    pg_concurrent.check_database(pg_url, [box], expected, results)
    assert results["failures"] == [
        f"{address}: 1 messages missing, 0 unexpected",
        f"{address}: 0 of 1 IMAP messages synced to an email",
    ]
