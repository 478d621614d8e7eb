"""One size limit, said one way: 25 MB on every path a message takes in or out, and in the README."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pdmail.core.errors import UsageError
from pdmail.core.models import Address
from pdmail.mime.limits import MAX_MESSAGE_SIZE, MB, too_large
from pdmail.mime.parse import MessageRefused, parse_message
from pdmail.send.compose import Draft, FileAttachment, compose
from pdmail.send.outbox import read_attachments

README = Path(__file__).resolve().parent.parent / "README.md"
STATED = "over the 25 MB limit"


def oversize() -> bytes:
    head = (
        b"From: Maria Lopez <maria@northwind.example>\r\nTo: Ada Byron <ada@acme.example>\r\n"
        b"Subject: Drawings\r\nMessage-ID: <big@northwind.example>\r\n\r\n"
    )
    return head + (b"y" * 78 + b"\r\n") * (MAX_MESSAGE_SIZE // 80 + 10_000)


@pytest.fixture
def team(company):
    company.ok("settings", "set", "bcc-address", "capture@bcc.northwind.example")
    return company


def test_the_limit_is_25_mb():
    assert MAX_MESSAGE_SIZE == 25 * MB


def test_every_way_in_states_the_limit_alike(team, tmp_path):
    raw = oversize()
    expected = too_large(len(raw))
    assert expected.endswith(STATED)
    eml, mbox = tmp_path / "big.eml", tmp_path / "big.mbox"
    eml.write_bytes(raw)
    mbox.write_bytes(b"From maria@northwind.example Mon Nov 16 09:00:00 2026\n" + raw + b"\n")

    reasons = [json.loads(team("bcc-ingest", "--json", input=raw).stdout)[0]["reason"]]
    reasons += [o["reason"] for o in json.loads(team("bcc-ingest", "--json", str(eml), str(mbox)).stdout)]
    with pytest.raises(MessageRefused) as refused:
        parse_message(raw)
    reasons.append(refused.value.message)
    assert reasons == [expected] * 4


def test_sending_states_the_limit_alike(tmp_path):
    big = tmp_path / "drawings.bin"
    big.write_bytes(b"\0" * (20 * MB))
    with pytest.raises(UsageError, match="more than the 25 MB a message may have"):
        read_attachments([big])

    draft = Draft(
        sender=Address("Maria Lopez", "maria@northwind.example"),
        to=(Address("", "ada@acme.example"),),
        subject="Drawings",
        body="See attached.",
        attachments=(FileAttachment("drawings.bin", b"\0" * (19 * MB)),),
    )
    with pytest.raises(UsageError, match=STATED):
        compose(draft)


def test_the_readme_states_the_same_figure():
    text = README.read_text(encoding="utf-8")
    assert "25 MB" in text and "26 MB" not in text
