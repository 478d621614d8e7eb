"""What commands print and how they end: bulk runs that stop, exit codes, numbers beyond 64 bits,
text that would rewrite a terminal, and a reader that closes the pipe."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import factories
import pytest
from entrypoint import MARIA, company_db, mail, pdmail

from pdmail.store import open_db
from pdmail.store.users import find_user

# --- exit codes and output of a bulk run ----------------------------------------------------------


def test_inputs_that_failed_without_being_quarantined_do_not_exit_3(cli, db_path, tmp_path):
    company_db(db_path)
    result = cli("bcc-ingest", tmp_path / "missing.eml", tmp_path / "also-missing.eml", "--json")
    assert result.exit_code == 7, result.stderr
    assert {o["status"] for o in json.loads(result.stdout)} == {"failed"}
    assert cli("bcc-ingest", "--quarantine", "--json").stdout.strip() == "[]"


def test_a_bulk_run_stopped_by_a_busy_database_still_reports_what_it_stored(db_path, tmp_path):
    """After the first batch is committed another writer holds the database: exit 75, and --json lists
    every message that was stored before, as one valid document."""
    company_db(db_path)
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(600):
        (folder / f"{i:04}.eml").write_bytes(mail(i, subject=f"Quote {i}", body="Hello Ada,\r\n" * 40))
    process = subprocess.Popen(
        [sys.executable, "-m", "pdmail", "--db", str(db_path), "bcc-ingest", str(folder), "--json", "--workers", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PDMAIL_BUSY_TIMEOUT": "0.5"},
    )
    output: dict[str, bytes] = {}
    reader = threading.Thread(target=lambda: output.update(zip(("out", "err"), process.communicate(timeout=300))))
    reader.start()
    blocker = sqlite3.connect(db_path, isolation_level=None, timeout=30)
    try:
        deadline = time.monotonic() + 240
        while blocker.execute("SELECT count(*) FROM emails").fetchone()[0] == 0:
            assert time.monotonic() < deadline and process.poll() is None, "the first batch never came"
            time.sleep(0.002)
        blocker.execute("BEGIN IMMEDIATE")
        reader.join(timeout=300)
    finally:
        blocker.close()
    assert process.returncode == 75, output.get("err", b"")[-2000:]
    err = output["err"].decode()
    assert "busy" in err and "Stopped after" in err
    reported = json.loads(output["out"])
    conn = sqlite3.connect(db_path)
    stored = conn.execute("SELECT count(*) FROM emails").fetchone()[0]
    conn.close()
    assert 0 < stored < 600
    assert [o["status"] for o in reported] == ["stored"] * stored


# --- output ---------------------------------------------------------------------------------------


HOSTILE = "Price \x9b31m \x7f \u202eevil\u202c \u2028next \u2029 \x85 \u2066iso\u2069"
RAW_HOSTILE = [chr(c) for c in (0x9B, 0x7F, 0x85, 0x202E, 0x202C, 0x2028, 0x2029, 0x2066, 0x2069)]


def hostile_mail() -> bytes:
    encoded = base64.b64encode(HOSTILE.encode()).decode()
    return mail(subject=f"=?utf-8?b?{encoded}?=")


def test_json_and_export_escape_controls_and_bidi_and_keep_the_value(cli, db_path):
    company_db(db_path)
    (stored,) = cli.json("bcc-ingest", input=hostile_mail())
    email_id = str(stored["id"])
    readers = {
        ("show", email_id, "--json"): lambda out: json.loads(out)["subject"],
        ("inbox", "--folder", "all", "--json"): lambda out: json.loads(out)[0]["subject"],
        ("search", "Price", "--json"): lambda out: json.loads(out)[0]["subject"],
        ("export",): lambda out: json.loads(out.splitlines()[0])["subject"],
    }
    for args, subject_of in readers.items():
        result = cli(*args)
        assert result.exit_code == 0, result.stderr
        assert not [ch for ch in RAW_HOSTILE if ch in result.stdout], args
        assert subject_of(result.stdout) == HOSTILE, args


def test_mbox_export_keeps_the_raw_bytes(cli, db_path, tmp_path):
    company_db(db_path)
    raw = hostile_mail()
    cli.ok("bcc-ingest", input=raw)
    cli.ok("export", "--format", "mbox", "--output", tmp_path / "out.mbox")
    assert raw.replace(b"\r\n", b"\n") in (tmp_path / "out.mbox").read_bytes().replace(b"\r\n", b"\n")


def busy_db(path: Path, contacts: int = 3000) -> Path:
    db, _maria = factories.company(path)
    csv = path.with_name("contacts.csv")
    csv.write_text("Name,Email\n" + "".join(f"Person {i},p{i}@people.example\n" for i in range(contacts)))
    db.close()
    code, _, err = pdmail("--db", path, "contact", "import", csv)
    assert code == 0, err
    return path


def test_a_closed_pipe_ends_any_command_quietly(tmp_path):
    """`pdmail export | head -1`: output far beyond a pipe's buffer, and a reader that stops after a line."""
    path = busy_db(tmp_path / "pdmail.db")
    db = open_db(path)
    maria = find_user(db, MARIA)
    for _ in range(150):
        factories.email(db, maria, frm="ana@harbor.example", to=[MARIA], body="Hello Maria,\r\n" * 60)
    db.close()
    for args in (
        ["export"],
        ["export", "--format", "mbox"],
        ["contact", "list", "--json"],
        ["contact", "list"],
        ["inbox", "--limit", "150", "--json"],
    ):
        process = subprocess.Popen(
            [sys.executable, "-m", "pdmail", "--db", str(path), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert process.stdout.readline()
        process.stdout.close()
        err = process.stderr.read().decode()
        process.wait(timeout=60)
        # 141 as a program SIGPIPE stopped; 0 when the interpreter's last write was cut short unnoticed
        assert err == "" and process.returncode in (0, 141), (args, process.returncode, err)


def test_output_closed_before_the_first_byte_ends_quietly_with_141(tmp_path):
    path = company_db(tmp_path / "pdmail.db")
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will ever read
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pdmail", "--db", str(path), "user", "list", "--json"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 141 and done.stderr == b""


def test_the_mail_servers_pipe_with_a_closed_output_still_stores(tmp_path):
    path = company_db(tmp_path / "pdmail.db")
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pdmail", "--db", str(path), "bcc-ingest", "--json"],
            input=mail(),
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 141 and done.stderr == b""
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM emails").fetchone()[0] == 1
    conn.close()


# --- numbers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["show", "99999999999999999999"],
        ["inbox", "--limit", "99999999999999999999"],
        ["bcc-ingest", "--release", "-99999999999999999999"],
        ["link", "1", "--contact", "99999999999999999999"],
        ["contact", "show", "18446744073709551616"],
    ],
)
def test_numbers_beyond_64_bits_are_usage_errors(cli, db_path, args):
    db, maria = factories.company(db_path)
    factories.email(db, maria, frm="ada@acme.example", to=[MARIA])
    db.close()
    result = cli(*args)
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    assert "internal error" not in result.stderr


def test_a_page_far_beyond_the_end_is_empty(cli, db_path):
    company_db(db_path)
    result = cli("inbox", "--page", str(2**63 - 1), "--limit", str(2**63 - 1), "--json")
    assert result.exit_code == 0 and json.loads(result.stdout) == []
