"""Fingerprint and snippet computed by parser processes: the same values the store would compute, and
only for mail that can be stored."""

from __future__ import annotations

import pytest

from pdmail.capture import batch as ingest
from pdmail.capture import save as capture
from pdmail.capture.inputs import Input
from pdmail.mime import fingerprint as identity
from pdmail.mime.parse import parse_message
from pdmail.store import open_db

pytestmark = pytest.mark.both_engines

OWN = "maria@northwind.example"


def mail(sender: str, n: int) -> bytes:
    return (
        f"From: {sender}\r\nTo: Ada <ada@acme.example>\r\nSubject: Offer {n}\r\n"
        f"Date: Mon, 16 Nov 2026 09:{n:02d}:00 +0100\r\nMessage-ID: <derived{n}@example.com>\r\n\r\n"
        f"> quoted\r\nOffer number {n} for the gearbox.\r\n"
    ).encode()


def test_values_derived_in_a_parser_process_equal_the_stores_own():
    raw = mail(f"Maria Lopez <{OWN}>", 7)
    parsed = parse_message(raw)
    derived = capture.Derived.of(parsed)
    assert derived.fingerprint == identity.fingerprint(parsed)
    assert derived.snippet == identity.snippet(parsed.text) == "Offer number 7 for the gearbox."
    assert capture.parse_for_store(raw) == (parsed, derived)
    assert isinstance(capture.parse_for_store(b"not an email at all"), str)


def test_only_mail_from_the_company_gets_derived_values_in_the_parser():
    users = frozenset({OWN})
    ours = ingest._parse_job(Input("a", raw=mail(f"Maria Lopez <{OWN.upper()}>", 1)), users)
    theirs = ingest._parse_job(Input("b", raw=mail("Ada <ada@acme.example>", 2)), users)
    assert ours.derived == capture.Derived.of(ours.parsed)
    assert theirs.derived is None and theirs.parsed is not None


def test_a_forward_unwrapped_at_capture_gets_its_own_fingerprint(company, db_path):
    """The wrapper's values were computed in the parser; the forwarded original must not inherit them."""
    original = mail("Ada <ada@acme.example>", 3)
    wrapper = (
        (
            f"From: Maria Lopez <{OWN}>\r\nTo: bcc@northwind.example\r\nSubject: Fwd: Offer 3\r\n"
            f"Date: Mon, 16 Nov 2026 10:00:00 +0100\r\nMessage-ID: <fwd3@northwind.example>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
            "Content-Type: text/plain\r\n\r\nFor the record.\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n"
        ).encode()
        + original
        + b"\r\n--b--\r\n"
    )
    company.ok("settings", "set", "bcc-address", "bcc@northwind.example")
    db = open_db(db_path)
    try:
        [outcome] = ingest.ingest_many(db, [Input("fwd", raw=wrapper)], workers=0)
        assert outcome.status == "stored", outcome.reason
        row = db.one("SELECT fingerprint, snippet, subject FROM emails WHERE id = ?", (outcome.id,))
        assert row["subject"] == "Offer 3"
        assert row["fingerprint"] == identity.fingerprint(parse_message(original))
        assert row["fingerprint"] != capture.Derived.of(parse_message(wrapper)).fingerprint
        assert row["snippet"] == "Offer number 3 for the gearbox."
    finally:
        db.close()
