"""Contacts, deals, organizations, users and accounts named by id or by address, title or name, wherever a
command takes one; an ambiguous name lists what it could mean (exit 2), an id that does not exist is
not found (exit 4), never an empty list."""

from __future__ import annotations

import json

import factories
import pytest
from entrypoint import MARIA, fails, ok

from pdmail.core.errors import NotFound, UsageError
from pdmail.crm import changes as crm_changes
from pdmail.store import crm, names, open_db

pytestmark = pytest.mark.both_engines

SAM = "sam@northwind.example"


@pytest.fixture
def world(db_path):
    """Acme: Ada (contact 1) with the deal "Iberia: warehouse AMRs" (1); two contacts named Ana Ruiz (2, 3)
    with a deal each titled "Renewal" (2, 3); an email from Ada and one from the first Ana."""
    db, maria = factories.company(db_path)
    factories.user(db, SAM, "Sam Lee")
    acme = crm.add_org(db, "Acme Industrial", "acme.example")
    ada = crm_changes.add_contact(db, "Ada Byron", ["ada@acme.example"], org_id=acme.id).id
    ana = factories.contact(db, "Ana Ruiz", "ana@acme.example").id
    other_ana = factories.contact(db, "Ana Ruiz", "ana.ruiz@globex.example").id
    factories.deal(db, "Iberia: warehouse AMRs", ada)
    factories.deal(db, "Renewal", ana)
    factories.deal(db, "Renewal", other_ana)
    emails = {
        "ada": factories.email(db, maria, frm="ada@acme.example", to=[MARIA], subject="Arms"),
        "ana": factories.email(db, maria, frm="ana@acme.example", to=[MARIA], subject="Hello"),
    }
    db.close()
    return emails


def inbox(*args: str) -> set[int]:
    return {e["id"] for e in json.loads(ok("inbox", "--folder", "all", "--team", "--json", *args))}


def test_inbox_filters_take_an_id_an_address_a_title_or_a_name(world):
    for who in ("1", "ada@acme.example", "ADA@acme.example", "Ada Byron", "ada byron"):
        assert inbox("--contact", who) == {world["ada"]}, who
    assert inbox("--deal", "Iberia: warehouse AMRs") == inbox("--deal", "1") == {world["ada"]}
    # Ana has no organization, but her address is at acme.example, Acme's domain: her email is Acme's too.
    assert inbox("--org", "Acme Industrial") == inbox("--org", "acme.example") == {world["ada"], world["ana"]}


def test_an_ambiguous_name_is_an_error_that_lists_the_candidates(world):
    err = fails(2, "inbox", "--contact", "Ana Ruiz")
    assert "2 contacts are named 'Ana Ruiz': 2 (ana@acme.example), 3 (ana.ruiz@globex.example)" in err
    err = fails(2, "link", str(world["ana"]), "--deal", "Renewal")
    assert "2 deals are titled 'Renewal': 2 (open, Ana Ruiz), 3 (open, Ana Ruiz)" in err
    assert json.loads(ok("show", str(world["ana"]), "--json"))["deal"] == 2  # unchanged


def test_a_filter_on_something_that_does_not_exist_is_not_found(world):
    assert "contact 99 not found" in fails(4, "inbox", "--contact", "99")
    assert "deal 99 not found" in fails(4, "inbox", "--deal", "99")
    assert "org 99 not found" in fails(4, "inbox", "--org", "99")
    assert "contact with address nobody@acme.example not found" in fails(4, "inbox", "--contact", "nobody@acme.example")
    assert "deal titled 'Nope' not found" in fails(4, "inbox", "--deal", "Nope")
    fails(4, "deal", "list", "--contact", "99")
    fails(4, "contact", "list", "--org", "99")


def test_link_and_the_crm_commands_take_names(world):
    linked = json.loads(ok("link", str(world["ana"]), "--deal", "Iberia: warehouse AMRs", "--json"))
    assert linked["deal"] == 1
    linked = json.loads(ok("link", str(world["ana"]), "--contact", "ada@acme.example", "--contact", "2", "--json"))
    assert linked["contacts"] == [1, 2]
    assert json.loads(ok("contact", "show", "ada@acme.example", "--json"))["id"] == 1
    assert json.loads(ok("deal", "show", "Iberia: warehouse AMRs", "--json"))["id"] == 1
    assert json.loads(ok("deal", "set-status", "iberia: warehouse amrs", "won", "--json"))["status"] == "won"
    added = json.loads(ok("deal", "add", "Spare parts", "--contact", "Ada Byron", "--org", "acme.example", "--json"))
    assert (added["contact_id"], added["org_id"]) == (1, 1)
    assert json.loads(ok("org", "show", "Acme Industrial", "--json"))["id"] == 1
    assert [d["id"] for d in json.loads(ok("deal", "list", "--contact", "ada@acme.example", "--json"))] == [1, 4]
    fails(2, "contact", "add-address", "Ana Ruiz", "ana.r@acme.example")


def test_users_are_named_by_id_address_or_name(world):
    assert json.loads(ok("settings", "show", "--json", "--user", "Sam Lee"))["user"] == SAM
    assert json.loads(ok("settings", "show", "--json", "--user", "2"))["user"] == SAM
    ok("user", "default", "Sam Lee")
    assert json.loads(ok("settings", "show", "--json"))["user"] == SAM
    ok("user", "add", "sam.other@northwind.example", "--name", "Sam Lee", "--user", MARIA)
    err = fails(2, "settings", "show", "--user", "Sam Lee")
    assert f"2 users are named 'Sam Lee': 2 ({SAM}), 3 (sam.other@northwind.example)" in err
    fails(4, "user", "default", "99", "--user", MARIA)


def test_accounts_are_named_by_name_id_or_a_single_address(world, tmp_path):
    for name in ("home", "work"):
        box = tmp_path / name
        for sub in ("cur", "new", "tmp"):
            (box / sub).mkdir(parents=True)
        ok("account", "add", name, "--address", MARIA, "--maildir", str(box))
    assert json.loads(ok("account", "default", "2", "--json"))["name"] == "work"
    err = fails(2, "account", "default", MARIA)
    assert f"2 of your accounts have the address {MARIA}: home (1), work (2)" in err
    fails(4, "account", "default", "7")


def test_the_store_reads_names_as_the_commands_do(world, db_path, engine):
    db = open_db(db_path)
    try:
        assert names.contact_id(db, "#1") == names.contact_id(db, " Ada Byron ") == 1
        with pytest.raises(UsageError, match="2 deals are titled"):
            names.deal_id(db, "renewal")
        with pytest.raises(NotFound):
            names.org_id(db, "globex.example")
        assert names.user_id(db, "sam lee") == 2
    finally:
        db.close()
