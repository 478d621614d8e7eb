"""The README's Postfix recipe, run for real: SMTP in on loopback, pipe transport, `bcc-ingest --mta`.

Postfix decides from pdmail's exit code alone: 0 is delivered (stored or quarantined, never bounced to a
possibly forged sender), 75 is deferred and retried. These tests read Postfix's own log to see its verdict.
"""

from __future__ import annotations

import os
import shutil
import smtplib
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import postfix
import pytest

CAPTURE_DOMAIN = "bcc.northwind.example"
PDMAIL = Path(sys.executable).parent / "pdmail"

_why_not = postfix.unavailable_reason()
if _why_not and os.environ.get("PDMAIL_REQUIRE_POSTFIX") != "1":
    pytestmark = pytest.mark.skip(reason=_why_not)


def _pdmail(db: Path, *args: str) -> None:
    env = {"PATH": os.environ["PATH"], "HOME": str(db.parent), "TZ": "UTC", "LANG": "C.UTF-8"}
    subprocess.run([str(PDMAIL), "--db", str(db), *args], check=True, capture_output=True, env=env)


@pytest.fixture(scope="module")
def mta():
    # Not under pytest's temp folder: Postfix's users must traverse every parent, and that folder is private.
    root = Path(tempfile.mkdtemp(prefix="pdmail-postfix-"))
    db = root / "store" / "pdmail.db"
    db.parent.mkdir()
    _pdmail(db, "init", "--name", "Maria Lopez", "--email", "maria@northwind.example", "--company", "Northwind")
    _pdmail(db, "settings", "set", "bcc-address", f"capture@{CAPTURE_DOMAIN}")
    _pdmail(db, "contact", "add", "Ada Byron", "--email", "ada@acme.example")
    _pdmail(db, "deal", "add", "Arms", "--contact", "1")
    _pdmail(db, "deal", "add", "Belts", "--contact", "1")
    server = postfix.Postfix(
        root=root / "mta",
        argv=[str(PDMAIL), "--db", str(db), "bcc-ingest", "--mta", "--recipient", "${recipient}"],
        capture_domain=CAPTURE_DOMAIN,
        environment={"PDMAIL_BUSY_TIMEOUT": "0.5"},
    )
    server.start()
    server.give_to_pipe_user(db)
    server.db = db
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def send(mta, *, frm: str, rcpt: str, message_id: str, subject: str = "Quote") -> str:
    raw = (
        f"From: {frm}\r\nTo: Ada Byron <ada@acme.example>\r\nSubject: {subject}\r\n"
        f"Date: Mon, 16 Nov 2026 09:12:00 +0100\r\nMessage-ID: {message_id}\r\n\r\nHello Ada,\r\n"
    ).encode()
    with smtplib.SMTP("127.0.0.1", mta.port, timeout=10) as smtp:
        envelope_from = frm.split("<")[-1].rstrip(">")
        smtp.sendmail(envelope_from, [rcpt], raw)
    return mta.queue_id_of(message_id)


def rows(mta, sql: str, params=()):
    conn = sqlite3.connect(mta.db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()
        mta.give_to_pipe_user(mta.db)  # files our connection may have left behind


def test_copy_sent_to_a_deal_address_is_filed_on_that_deal(mta):
    qid = send(
        mta,
        frm="Maria Lopez <maria@northwind.example>",
        rcpt=f"capture+deal2@{CAPTURE_DOMAIN}",
        message_id="<pf-deal@northwind.example>",
    )
    mta.wait_for(qid, "sent")
    (email,) = rows(
        mta,
        "SELECT deal_id, bcc_deal_id, owner_id FROM emails WHERE message_id_norm = ?",
        ("pf-deal@northwind.example",),
    )
    assert email == {"deal_id": 2, "bcc_deal_id": 2, "owner_id": 1}


def test_stranger_is_quarantined_and_never_bounced(mta):
    qid = send(mta, frm="Eve <eve@evil.example>", rcpt=f"capture@{CAPTURE_DOMAIN}", message_id="<pf-eve@evil.example>")
    line = mta.wait_for(qid, "sent")
    assert "bounced" not in line
    held = rows(mta, "SELECT reason FROM quarantine")
    assert len(held) == 1 and "eve@evil.example" in held[0]["reason"]
    assert rows(mta, "SELECT id FROM emails WHERE message_id_norm = ?", ("pf-eve@evil.example",)) == []


def test_busy_database_is_deferred_by_postfix_then_delivered_once(mta):
    blocker = sqlite3.connect(mta.db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    mta.give_to_pipe_user(mta.db)  # the WAL index our lock created must stay writable for the pipe user
    try:
        qid = send(
            mta,
            frm="Maria Lopez <maria@northwind.example>",
            rcpt=f"capture@{CAPTURE_DOMAIN}",
            message_id="<pf-busy@northwind.example>",
            subject="Busy",
        )
        deferred = mta.wait_for(qid, "deferred")
        assert "temporary failure" in deferred.lower() or "busy" in deferred.lower()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        mta.give_to_pipe_user(mta.db)
    mta.flush()
    mta.wait_for(qid, "sent")
    stored = rows(mta, "SELECT id FROM emails WHERE message_id_norm = ?", ("pf-busy@northwind.example",))
    assert len(stored) == 1
