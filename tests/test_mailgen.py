"""The mailbox generator: benchmarks and IMAP fixtures are only as good as the mail it writes."""

from __future__ import annotations

import codecs
import email
import email.header
import email.utils
import importlib.util
import mailbox
import re
import statistics
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


mailgen = _load("mailgen")

OWN = "maria@northwind.example"
REPLY_PREFIX = re.compile(r"^(re|aw|sv):", re.I)


@pytest.fixture(scope="module")
def sample():
    """500 messages with their intent and their parse, shared by the checks below."""
    generated = list(mailgen.generate(500, seed=1))
    return [(g, email.message_from_bytes(g.raw)) for g in generated]


def _text(value: str) -> str:
    return str(email.header.make_header(email.header.decode_header(value)))


def _ids(value: str | None) -> list[str]:
    return re.findall(r"<([^<>]+)>", value or "")


def test_same_seed_same_bytes_and_another_seed_differs():
    first = list(mailgen.generate_messages(150, seed=7))
    again = list(mailgen.generate_messages(150, seed=7))
    other = list(mailgen.generate_messages(150, seed=8))
    assert first == again
    assert sum(a != b for a, b in zip(first, other)) > 140


def test_every_message_parses_with_from_date_subject(sample):
    for g, msg in sample:
        assert msg["From"] and msg["Subject"] is not None and msg["To"], g.index
        assert b"\n" not in g.raw.replace(b"\r\n", b""), f"bare LF in {g.index}"
        assert max(len(line) for line in g.raw.split(b"\r\n")) <= 998, g.index
        if g.defect is not None:
            continue
        assert not msg.defects, (g.index, msg.defects)
        date = email.utils.parsedate_to_datetime(msg["Date"])
        assert mailgen.BASE_TS - mailgen.SPAN <= date.timestamp() < mailgen.BASE_TS
        for part in msg.walk():
            assert not part.defects, (g.index, part.defects)
            if part.get_content_maintype() == "text":
                part.get_payload(decode=True).decode(part.get_content_charset())


def test_non_ascii_names_are_encoded_words(sample):
    raw_from = [msg["From"] for _, msg in sample]
    assert all(value.isascii() for value in raw_from)
    decoded = [_text(v) for v in raw_from]
    assert any(not value.isascii() for value in decoded)


def test_message_ids_are_unique(sample):
    ids = [msg["Message-ID"] for _, msg in sample if msg["Message-ID"]]
    assert len(ids) == len(set(ids)) >= 480


def test_replies_point_to_earlier_messages(sample):
    seen: set[str] = set()
    no_id_threads: set[int] = set()  # a reply cannot name a parent that had no Message-ID
    replies = 0
    for g, msg in sample:
        parent = _ids(msg["In-Reply-To"])
        if parent:
            replies += 1
            assert parent[0] in seen, g.index
            assert set(_ids(msg["References"])) <= seen and parent[0] in _ids(msg["References"])
        elif REPLY_PREFIX.match(_text(msg["Subject"])) and g.defect is None:
            assert g.thread in no_id_threads, f"message {g.index} is a reply without In-Reply-To"
        seen.update(_ids(msg["Message-ID"]))
        if msg["Message-ID"] is None:
            no_id_threads.add(g.thread)
    assert replies > 0.3 * len(sample)


def test_mix_is_roughly_as_specified(sample):
    n = len(sample)
    sizes = [len(g.raw) for g, _ in sample]
    assert 8_000 <= statistics.median(sizes) <= 16_000
    top = [msg.get_content_type() for _, msg in sample]
    assert 0.32 <= top.count("text/plain") / n <= 0.48
    assert 0.35 <= top.count("multipart/alternative") / n <= 0.55
    with_file = [
        len(part.get_payload())
        for _, msg in sample
        for part in msg.walk()
        if part.get_content_disposition() == "attachment"
    ]
    assert 0.06 <= len(with_file) / n <= 0.15
    assert all(18_000 <= s <= 320_000 or 1_000_000 <= s <= 2_100_000 for s in with_file)
    outgoing = sum(email.utils.parseaddr(msg["From"])[1] == OWN for _, msg in sample)
    assert 0.22 <= outgoing / n <= 0.38
    assert 10 <= sum(msg["List-Id"] is not None for _, msg in sample) <= 70
    assert sum("reply@" in msg["From"] for _, msg in sample) >= 5
    assert any("@northwind.example" in (msg["Cc"] or "") for _, msg in sample)


def test_incoming_conversations_come_from_known_correspondents(sample):
    people = {p.email for p in mailgen.correspondents(1)}
    assert len(people) >= 190
    assert all(addr.endswith((".example", ".test")) for addr in people)
    for g, msg in sample:
        if g.kind == "conversation" and g.direction == "incoming":
            assert email.utils.parseaddr(msg["From"])[1] in people, g.index


def test_own_address_decides_the_outgoing_sender():
    gens = list(mailgen.generate(200, seed=2, own_address="sam@northwind.example"))
    senders = {
        email.utils.parseaddr(email.message_from_bytes(g.raw)["From"])[1] for g in gens if g.direction == "outgoing"
    }
    assert senders == {"sam@northwind.example"}


def test_each_kind_of_mess_shows_in_the_bytes():
    gens = list(mailgen.generate(150, seed=3, malformed_ratio=1.0))
    assert {g.defect for g in gens} == set(mailgen.DEFECTS)
    for g in gens:
        msg = email.message_from_bytes(g.raw)
        assert msg["From"] and msg["Subject"] is not None
        plain = next(p for p in msg.walk() if p.get_content_type() == "text/plain")
        if g.defect == "no-message-id":
            assert msg["Message-ID"] is None
        elif g.defect == "bad-date":
            with pytest.raises((ValueError, TypeError)):
                email.utils.parsedate_to_datetime(msg["Date"])
        elif g.defect == "latin1-as-utf8":
            assert plain.get_content_charset() == "utf-8"
            with pytest.raises(UnicodeDecodeError):
                plain.get_payload(decode=True).decode("utf-8")
        elif g.defect == "unknown-charset":
            with pytest.raises(LookupError):
                codecs.lookup(plain.get_content_charset())
        elif g.defect == "re-without-in-reply-to":
            assert REPLY_PREFIX.match(_text(msg["Subject"]))
            assert msg["In-Reply-To"] is None and msg["References"] is None


def test_mbox_reads_back_with_the_same_messages(sample, tmp_path):
    raws = [g.raw for g, _ in sample[:200]]
    assert any(re.search(rb"\r\nFrom ", r) for r in raws), "nothing here tests From_ quoting"
    count, size = mailgen.write_mbox(tmp_path / "mail.mbox", raws)
    assert count == 200 and size == (tmp_path / "mail.mbox").stat().st_size
    box = mailbox.mbox(tmp_path / "mail.mbox")
    assert [m["Message-ID"] for m in box] == [msg["Message-ID"] for _, msg in sample[:200]]


def test_maildir_reads_back_with_the_same_messages(sample, tmp_path):
    raws = [g.raw for g, _ in sample]
    count, _ = mailgen.write_maildir(tmp_path / "Maildir", raws, flags_ratio_seen=0.6)
    box = mailbox.Maildir(tmp_path / "Maildir", create=False)
    assert count == len(box) == len(raws)
    assert sorted(m["Message-ID"] or "" for m in box) == sorted(msg["Message-ID"] or "" for _, msg in sample)
    seen = sum("S" in m.get_flags() for m in box)
    assert 0.5 <= seen / len(raws) <= 0.7
    assert any(m.get_subdir() == "new" for m in box)


crmgen = _load("crmgen")


def test_crm_csv_matches_the_mail_and_reads_back(tmp_path):
    import csv

    assert crmgen.write_contacts_csv(tmp_path / "c.csv", 1500, seed=1) == 1500
    assert crmgen.write_deals_csv(tmp_path / "d.csv", 800, seed=1, n_contacts=1500) == 800
    with open(tmp_path / "c.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["Name", "Email", "Organization", "Title", "Phone"]
    people = mailgen.correspondents(1)
    assert [r[1].split(",")[0] for r in rows[1:201]] == [p.email for p in people]
    emails = [e.strip() for r in rows[1:] for e in r[1].split(",")]
    assert len(emails) == len(set(emails)) > 1500
    assert any(not r[0].isascii() for r in rows[1:])
    with open(tmp_path / "d.csv", newline="", encoding="utf-8") as f:
        deals = list(csv.DictReader(f))
    assert list(deals[0]) == ["Title", "Value", "Currency", "Status", "Person", "Organization"]
    assert {d["Person"] for d in deals} <= set(emails)
    statuses = [d["Status"] for d in deals]
    assert 0.6 < statuses.count("open") / len(statuses) < 0.8 and {"won", "lost"} <= set(statuses)
