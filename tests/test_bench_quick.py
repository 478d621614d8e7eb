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
