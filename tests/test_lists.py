"""Long lists: `contact list`, `deal list`, `bcc-ingest --quarantine`, `outbox` and `template list` take
--limit, --page and a search; a terminal shows a page with a line saying how many more there are, a
pipe gets every record, a line each under a header line."""

from __future__ import annotations

import json

import factories
import pytest
from entrypoint import MARIA, pdmail
from onterminal import on_terminal

from pdmail.core.models import User
from pdmail.store import crm, open_db
from pdmail.store import outbox as outbox_store
from pdmail.store import quarantine as quarantine_store
from pdmail.store.users import find_user

pytestmark = pytest.mark.both_engines

SAM = "sam@northwind.example"


def ok(*args: str) -> tuple[str, str]:
    code, out, err = pdmail(*args)
    assert code == 0, (args, code, out, err)
    return out, err


def column(out: str, name: str) -> list[str]:
    """One field of every record a listing wrote to a pipe, found by the header line's names."""
    header, *lines = out.splitlines()
    at = header.split("\t").index(name)
    return [line.split("\t")[at] for line in lines]


@pytest.fixture
def crm_db(db_path):
    """60 contacts at two organizations (Ada Byron is 7th, Adam Smith 42nd), one deal each of the first 12."""
    db, _ = factories.company(db_path)
    acme = crm.add_org(db, "Acme Industrial", "acme.example")
    other = crm.add_org(db, "Globex", "globex.example")
    for n in range(1, 61):
        name = {7: "Ada Byron", 42: "Adam Smith"}.get(n, f"Person {n:02}")
        org = acme if n % 2 else other
        crm.add_contact(db, name, [f"p{n}@{org.domain}"], org_id=org.id)
    for n in range(1, 13):
        title = "40 welding arms" if n == 5 else f"Deal {n:02}"
        crm.add_deal(db, title, contact_id=n, status="won" if n == 12 else "open")
    db.close()
    return db_path


# --- contacts -------------------------------------------------------------------------------------


def test_a_pipe_gets_every_contact_a_line_each_with_tabs(crm_db):
    out, err = ok("contact", "list")
    header, *lines = out.splitlines()
    assert header.split("\t") == ["id", "name", "emails", "org"]
    assert len(lines) == 60 and err == ""
    assert lines[6].split("\t") == ["7", "Ada Byron", "p7@acme.example", "Acme Industrial"]


def test_a_terminal_shows_a_page_and_says_how_many_more(crm_db):
    code, screen = on_terminal("contact", "list", columns=120)
    assert code == 0
    assert "Person 50" in screen and "Person 51" not in screen
    assert "Showing 1–50 of 60 contacts; 10 more: --page 2" in screen
    code, screen = on_terminal("contact", "list", "--page", "2", columns=120)
    assert "Person 51" in screen and "Person 50" not in screen and "more:" not in screen
    code, screen = on_terminal("contact", "list", "--format", "tsv")  # a format asked for: every record
    assert code == 0 and "Person 60" in screen and "more:" not in screen


def test_limit_page_and_search(crm_db):
    out, err = ok("contact", "list", "--limit", "2", "--page", "2")
    assert column(out, "id") == ["3", "4"]
    assert "Showing 3–4 of 60 contacts; 56 more: --page 3" in err
    out, _ = ok("contact", "list", "ada")
    assert column(out, "name") == ["Ada Byron", "Adam Smith"]
    out, _ = ok("contact", "list", "--search", "P7@ACME")  # an address, letters' case aside
    assert column(out, "id") == ["7"]
    out, _ = ok("contact", "list", "globex", "--limit", "3")  # the organization's name
    assert column(out, "id") == ["2", "4", "6"]
    listed = json.loads(ok("contact", "list", "ada", "--json")[0])
    assert [c["name"] for c in listed] == ["Ada Byron", "Adam Smith"]
    assert json.loads(ok("contact", "list", "--json", "--limit", "5", "--page", "13")[0]) == []
    assert ok("contact", "list", "zzz") == ("id\tname\temails\torg\n", "No contacts found.\n")  # the header alone
    assert ok("contact", "list", "zzz", "-q") == ("id\tname\temails\torg\n", "")
    code, _, err = pdmail("contact", "list", "--limit", "0")
    assert code == 2 and "at least 1" in err


def test_store_pages_and_counts_contacts(crm_db, engine):
    db = open_db(crm_db)
    try:
        page = crm.list_contacts(db, search="ada", limit=1, offset=1)
        assert [c.name for c in page] == ["Adam Smith"]
        assert crm.count_contacts(db, search="ada") == 2 and crm.count_contacts(db) == 60
        assert crm.count_contacts(db, org_id=1, search="person") == 29
        assert [json.loads(text)["id"] for text in crm.contacts_json(db, search="%")] == []  # % is a character
        assert len(list(crm.contacts_json(db, limit=7, offset=56))) == 4
    finally:
        db.close()


# --- deals ----------------------------------------------------------------------------------------


def test_deals_take_the_same_paging_and_a_search(crm_db):
    out, _ = ok("deal", "list", "--search", "welding")
    assert [line.split("\t")[:3] for line in out.splitlines()] == [
        ["id", "title", "status"],
        ["5", "40 welding arms", "open"],
    ]
    out, _ = ok("deal", "list", "Ada")  # the contact's name
    assert column(out, "id") == ["7"]
    out, err = ok("deal", "list", "--status", "open", "--limit", "5")
    assert len(column(out, "id")) == 5 and "Showing 1–5 of 11 deals; 6 more: --page 2" in err
    db = open_db(crm_db)
    try:
        assert crm.count_deals(db, status="open", search="deal") == 10
        assert [d.id for d in crm.list_deals(db, search="DEAL 1", limit=2, offset=1)] == [11, 12]
    finally:
        db.close()


# --- the quarantine -------------------------------------------------------------------------------


def _hold(db, n: int, frm: str, subject: str) -> int:
    raw = f"From: {frm}\r\nSubject: {subject}\r\nMessage-ID: <q{n}@x.example>\r\n\r\nbody {n}\r\n".encode()
    with db.tx():
        return quarantine_store.hold(
            db, raw, source="bcc", recipient=None, reason=f"{frm} is not allowed", from_email=frm, subject=subject
        )


@pytest.fixture
def held(db_path):
    """Maria (admin) reviews 55 refused messages: 54 from strangers, one of Sam's (its subject hidden from her)."""
    db, _ = factories.company(db_path)
    factories.user(db, SAM)
    ids = [_hold(db, n, f"eve{n}@evil.example", f"Offer {n}") for n in range(54)]
    ids.append(_hold(db, 99, SAM, "Salary of Bob"))
    db.close()
    return ids


def reviewed_by_maria(engine: str) -> int:
    """On a file an admin reviews all 55; on a team server Sam's refused message is his alone
    (README.md, "Team server (PostgreSQL)"), and Maria reviews the strangers' 54."""
    return 55 if engine == "sqlite" else 54


def test_the_quarantine_lists_all_to_a_pipe_and_pages_on_a_terminal(held, engine):
    total = reviewed_by_maria(engine)
    out, _ = ok("bcc-ingest", "--quarantine")
    ids = column(out, "id")
    assert len(ids) == total and ids[0] == str(held[0])
    assert column(out, "subject")[-1] == ""  # a subject not Maria's to see; JSON says subject_hidden
    code, screen = on_terminal("bcc-ingest", "--quarantine", columns=160)
    assert code == 0 and f"Showing 1–50 of {total} quarantined messages; {total - 50} more: --page 2" in screen
    assert "(not yours to see)" in screen
    assert len(json.loads(ok("bcc-ingest", "--quarantine", "--json")[0])) == total
    out, err = ok("bcc-ingest", "--quarantine", "--page", "2")  # --page alone: pages of 50
    assert len(column(out, "id")) == total - 50 and err == ""


def test_a_quarantine_search_never_reads_a_subject_the_viewer_may_not_see(held, db_path, engine):
    out, _ = ok("bcc-ingest", "--quarantine", "--search", "eve5")  # senders
    assert column(out, "id") == [str(held[5])] + [str(i) for i in held[50:54]]
    # An admin reviews strangers' and colleagues' mail without its subject: a search cannot read it either.
    for words in ("offer", "salary"):
        out, err = ok("bcc-ingest", "--quarantine", "--search", words)
        assert column(out, "id") == [] and err == "No quarantined messages.\n"
    out, _ = ok("bcc-ingest", "--quarantine", "--search", "salary", "--user", SAM)
    assert column(out, "id") == [str(held[-1])]
    out, _ = ok("bcc-ingest", "--quarantine", "--search", "sam@north")  # the sender is there for review
    assert column(out, "id") == ([str(held[-1])] if engine == "sqlite" else [])
    db = open_db(db_path)
    try:
        maria = find_user(db, MARIA)
        page = quarantine_store.list_held(db, maria, search="evil", limit=10, page=6)
        assert page.total == 54 and [h.id for h in page.items] == held[50:54]
        assert quarantine_store.list_held(db, maria, limit=None).total == 55  # the store as the operator: all
    finally:
        db.close()


# --- the outbox and templates ---------------------------------------------------------------------


def _queue(db, owner: User, n: int, to: str, subject: str) -> None:
    outbox_store.enqueue(
        db,
        owner,
        outbox_store.OutboxFields(
            account_id=1,
            raw=f"Subject: {subject}\r\n\r\n{n}\r\n".encode(),
            raw_sha256=f"{n:064x}",
            message_id=f"o{n}@northwind.example",
            token=f"t{n}",
            envelope_from=MARIA,
            recipients=(to,),
            bcc=(),
            subject=subject,
            visibility=None,
            reply_to_email_id=None,
            due_utc=f"2030-01-{n + 1:02}T09:00:00Z",
        ),
    )


def test_the_outbox_and_templates_page_and_search(db_path, engine):
    db, maria = factories.company(db_path)
    for n in range(6):
        _queue(db, maria, n, "ana@acme.example" if n % 2 else "bo@globex.example", f"Quote {n}")
    for name in ("follow-up", "welcome", "reminder", "thanks"):
        outbox_store.save_template(db, maria, name, f"About {name}", "Hi")
    assert outbox_store.count_items(db, maria, search="globex") == 3
    assert [i.subject for i in outbox_store.list_items(db, maria, limit=2, offset=2)] == ["Quote 2", "Quote 3"]
    assert outbox_store.count_templates(db, maria, search="w") == 2
    db.close()
    out, err = ok("outbox", "--limit", "4")
    assert len(column(out, "id")) == 4 and "Showing 1–4 of 6 messages; 2 more: --page 2" in err
    out, _ = ok("outbox", "--search", "acme.example")
    assert column(out, "subject") == ["Quote 1", "Quote 3", "Quote 5"]
    out, _ = ok("outbox", "list", "--search", "quote 4")
    assert column(out, "subject") == ["Quote 4"]
    out, _ = ok("template", "list", "--search", "w")
    assert column(out, "name") == ["follow-up", "welcome"]
    out, err = ok("template", "list", "--limit", "3")
    assert len(column(out, "name")) == 3 and "Showing 1–3 of 4 templates; 1 more: --page 2" in err
    assert [t["name"] for t in json.loads(ok("template", "list", "--json", "--page", "1", "--limit", "1")[0])] == [
        "follow-up"
    ]
