"""Importing a CRM's files again: `--update` and `--skip-existing`, and cells as a mail program writes
them (`Ada Byron <ada@acme.example>`).

A second import of the same file, or an import after Smart BCC created contacts, used to fail row by
row. Each test runs the real `pdmail` in its own process, stdout a pipe, on both engines.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from entrypoint import company_db, mail

pytestmark = pytest.mark.both_engines

CONTACTS = (
    "Name,Email,Organization,Title\n"
    "Ada Byron,ada@acme.example,Acme,CTO\n"
    "Ken Ito,ken@cust.example,,\n"
    "Grace Hopper,grace@navy.example,Navy,Admiral\n"
)
DEALS = "Title,Value,Currency,Status,Person\n40 welding arms,480000.10,EUR,open,ada@acme.example\nSpare parts,1200,EUR,open,Ken Ito\n"


def run(*args: str, stdin: bytes = b""):
    done = subprocess.run(
        [sys.executable, "-m", "pdmail", *map(str, args)], input=stdin, capture_output=True, env=os.environ, timeout=120
    )
    return done.returncode, done.stdout.decode(), done.stderr.decode()


def ok(*args: str, stdin: bytes = b"") -> str:
    code, out, err = run(*args, stdin=stdin)
    assert code == 0, (args, code, out, err)
    return out


def contacts() -> dict[str, dict]:
    return {c["emails"][0]: c for c in json.loads(ok("contact", "list", "--json"))}


@pytest.fixture
def crm(db_path, tmp_path):
    company_db(db_path)
    path = tmp_path / "contacts.csv"
    path.write_text(CONTACTS)
    return path


def test_a_second_import_of_the_same_file_is_refused_row_by_row_naming_both_ways_out(crm):
    first = json.loads(ok("contact", "import", crm, "--json"))
    assert (first["imported"], first["updated"], first["skipped"], first["errors"]) == (3, 0, 0, [])
    code, out, err = run("contact", "import", crm)
    assert (code, out) == (7, "Imported 0 contacts.\n")
    lines = err.splitlines()
    assert lines[0] == (
        "line 2: ada@acme.example already belongs to contact 1 (Ada Byron); add --update to change it from the file, "
        "or --skip-existing to leave it as it is"
    )
    assert len(lines) == 4 and lines[-1] == "Error: 3 row(s) were not imported"
    assert len(contacts()) == 3


def test_skip_existing_leaves_what_is_there_and_imports_the_new_rows(crm):
    ok("contact", "import", crm)
    crm.write_text(CONTACTS + "Alan Turing,alan@bletchley.example,,\n")
    code, out, err = run("contact", "import", crm, "--skip-existing")
    assert (code, err) == (0, "")
    assert out == "Imported 1 contacts, left 3 already here as they were.\n"
    report = json.loads(ok("contact", "import", crm, "--skip-existing", "--json"))
    assert (report["imported"], report["skipped_ids"]) == (0, [1, 2, 3, 4])
    assert len(contacts()) == 4


def test_update_changes_what_the_file_says_and_adds_its_new_addresses(crm):
    ok("contact", "import", crm)
    ok("settings", "set", "create-contacts", "off")
    earlier = json.loads(ok("bcc-ingest", "--json", stdin=mail(1, frm="Maria <maria@northwind.example>").replace(
        b"ada@acme.example", b"ada@home.example")))  # fmt: skip
    assert earlier[0]["status"] == "stored"
    crm.write_text(
        "Name,Email,Organization,Title\n"
        "Ada King,ada@acme.example;ada@home.example,,Chief Engineer\n"  # an empty cell changes nothing
        "Ken Ito,ken@cust.example,Cust Ltd,\n"
    )
    report = json.loads(ok("contact", "import", crm, "--update", "--json"))
    assert (report["imported"], report["updated_ids"], report["errors"]) == (0, [1, 2], [])
    ada = contacts()["ada@acme.example"]
    assert (ada["id"], ada["name"], ada["emails"], ada["org"], ada["title"]) == (
        1,
        "Ada King",
        ["ada@acme.example", "ada@home.example"],
        "Acme",
        "Chief Engineer",
    )
    assert contacts()["ken@cust.example"]["org"] == "Cust Ltd"
    linked = json.loads(ok("inbox", "--folder", "all", "--contact", "ada@home.example", "--json"))
    assert [e["id"] for e in linked] == [earlier[0]["id"]]  # the new address brought its earlier mail


def test_an_import_after_smart_bcc_created_the_contact_updates_it(db_path, tmp_path):
    company_db(db_path)
    ok("bcc-ingest", stdin=mail(1))  # Maria writes to Ada: Smart BCC makes her a contact, named "Ada"
    (made,) = json.loads(ok("contact", "list", "--json"))
    assert made["emails"] == ["ada@acme.example"]
    path = tmp_path / "crm.csv"
    path.write_text("Name,Email,Title\nDr. Ada Byron,ada@acme.example,CTO\n")
    assert run("contact", "import", path)[0] == 7
    ok("contact", "import", path, "--update")
    (ada,) = json.loads(ok("contact", "list", "--json"))
    assert (ada["id"], ada["name"], ada["title"]) == (made["id"], "Dr. Ada Byron", "CTO")


def test_cells_with_names_and_angle_brackets_are_read_as_mail_programs_write_them(db_path, tmp_path):
    company_db(db_path)
    path = tmp_path / "contacts.csv"
    path.write_text(
        "Name,Email\n"
        ',"Ada Byron <ada@acme.example>; ""Byron, Ada"" <ada@home.example>"\n'
        "Ken Ito,Ken <ken@cust.example>\n"
        ",not an address <>\n"
    )
    code, _, err = run("contact", "import", path)
    assert code == 7 and err.startswith("line 4: ")
    found = contacts()
    assert (found["ada@acme.example"]["name"], found["ada@acme.example"]["emails"]) == (
        "Ada Byron",
        ["ada@acme.example", "ada@home.example"],
    )
    assert found["ken@cust.example"]["name"] == "Ken Ito"
    deals = tmp_path / "deals.csv"
    deals.write_text('Title,Person\nRollout,"Byron, Ada <ada@home.example>"\n')
    (deal,) = [json.loads(ok("deal", "import", deals, "--json"))["ids"][0]]
    assert json.loads(ok("deal", "show", str(deal), "--json"))["contact_id"] == found["ada@acme.example"]["id"]


def test_deals_imported_again_are_refused_skipped_or_updated(crm, tmp_path):
    ok("contact", "import", crm)
    path = tmp_path / "deals.csv"
    path.write_text(DEALS)
    assert json.loads(ok("deal", "import", path, "--json"))["imported"] == 2
    code, out, err = run("deal", "import", path)
    assert (code, out) == (7, "Imported 0 deals.\n")
    assert err.splitlines()[0] == (
        "line 2: contact 1 already has the deal '40 welding arms' (1); add --update to change it from the "
        "file, or --skip-existing to leave it as it is"
    )
    assert len(json.loads(ok("deal", "list", "--json"))) == 2  # no second deal: no second "needs a deal"
    assert ok("deal", "import", path, "--skip-existing") == "Imported 0 deals, left 2 already here as they were.\n"
    path.write_text("Title,Value,Status,Person\n40 Welding Arms,500000,won,Ada Byron <ada@acme.example>\n")
    report = json.loads(ok("deal", "import", path, "--update", "--json"))
    assert (report["imported"], report["updated_ids"]) == (0, [1])
    deal = json.loads(ok("deal", "show", "1", "--json"))
    assert (deal["title"], deal["value"], deal["currency"], deal["status"]) == (
        "40 welding arms",
        "500000.00",
        "EUR",
        "won",
    )


def test_update_and_skip_existing_together_are_a_usage_error(crm):
    code, out, err = run("contact", "import", crm, "--update", "--skip-existing")
    assert (code, out) == (2, "")
    assert err.startswith("Error: give --update or --skip-existing, not both")
    assert contacts() == {}
