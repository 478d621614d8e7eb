"""Contacts, organizations and deals: CRUD, JSON shapes, exit codes and CSV import."""

from __future__ import annotations

import json
import re

import pytest
import rawdb

pytestmark = pytest.mark.both_engines


def test_contact_add_list_show(company):
    org = company.json("org", "add", "Acme Corp", "--domain", "acme.example")
    assert org == {"id": 1, "name": "Acme Corp", "domain": "acme.example", "domains": ["acme.example"]}
    contact = company.json(
        "contact", "add", "Ada Byron", "--email", "Ada@Acme.example", "--email", "ada.b@acme.example", "--org", "1"
    )
    assert contact == {
        "id": 1,
        "name": "Ada Byron",
        "first_name": None,
        "emails": ["ada@acme.example", "ada.b@acme.example"],
        "org_id": 1,
        "org": "Acme Corp",
        "title": None,
        "phone": None,
    }
    assert company.ok("contact", "add", "Bo", "--email", "bo@acme.example").stdout.strip() == "2"
    assert [c["id"] for c in company.json("contact", "list")] == [1, 2]
    shown = company.json("contact", "show", "1")
    assert shown["emails"] == ["ada@acme.example", "ada.b@acme.example"] and shown["deals"] == []


def test_address_belongs_to_one_contact(company):
    company.ok("contact", "add", "Ada", "--email", "ada@acme.example")
    result = company("contact", "add", "Impostor", "--email", "ADA@acme.example ")
    assert result.exit_code == 2
    assert result.stderr == "Error: ada@acme.example already belongs to contact 1 (Ada)\n"
    assert len(company.json("contact", "list")) == 1


def test_invalid_address_and_unknown_org(company):
    assert company("contact", "add", "X", "--email", "nope").exit_code == 2
    result = company("contact", "add", "X", "--email", "x@acme.example", "--org", "99")
    assert result.exit_code == 4 and result.stderr == "Error: org 99 not found\n"
    assert company.json("contact", "list") == []


def test_missing_records_exit_4(company):
    for args in (
        ("contact", "show", "5"),
        ("org", "show", "5"),
        ("deal", "show", "5"),
        ("deal", "set-status", "5", "won"),
    ):
        result = company(*args)
        assert result.exit_code == 4, args
        assert result.stderr.startswith("Error: ") and "not found" in result.stderr


def test_deal_add_takes_contacts_org_and_status(company):
    company.ok("org", "add", "Acme")
    company.ok("contact", "add", "Ada", "--email", "ada@acme.example", "--org", "1")
    deal = company.json("deal", "add", "50 robot arms", "--contact", "1", "--value", "120000", "--currency", "eur")
    assert deal == {
        "id": 1,
        "title": "50 robot arms",
        "contact_id": 1,
        "org_id": 1,
        "value": "120000.00",
        "currency": "EUR",
        "status": "open",
    }
    assert company("deal", "add", "x", "--contact", "1", "--status", "maybe").exit_code == 2
    assert company("deal", "add", "x", "--contact", "9").exit_code == 4
    changed = company.json("deal", "set-status", "1", "WON")
    assert changed["status"] == "won" and changed["previous_status"] == "open"
    assert company.json("deal", "list", "--status", "open") == []
    assert [d["id"] for d in company.json("deal", "list", "--status", "won")] == [1]
    assert company.json("contact", "show", "1")["deals"][0]["id"] == 1
    org = company.json("org", "show", "1")
    assert [c["id"] for c in org["contacts"]] == [1] and [d["id"] for d in org["deals"]] == [1]


CONTACTS_CSV = (
    "Name,Email,Organization,Title\n"
    "Ada Byron,ada@acme.example,Acme,CTO\n"
    '"Lovelace, Ada","ada2@acme.example, ada3@acme.example",Acme,\n'
    "No Address,,Acme,\n"
    "Bad Address,not-an-address,,\n"
    "Copycat,ADA@acme.example,,\n"
    "Zoë Müller,zoe@globex.example,Globex,Buyer\n"
)


def test_contact_import_reports_bad_rows_by_line_and_keeps_good_ones(company, tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text(CONTACTS_CSV, encoding="utf-8")
    result = company("contact", "import", str(path), "--json")
    assert result.exit_code == 7
    import json

    report = json.loads(result.stdout)
    assert report["imported"] == 3
    assert [(e["line"], e["error"]) for e in report["errors"]] == [
        (4, "no email address"),
        (5, "not an email address: 'not-an-address'"),
        (
            6,
            "ada@acme.example already belongs to contact 1 (Ada Byron); add --update to change it from the "
            "file, or --skip-existing to leave it as it is",
        ),
    ]
    contacts = company.json("contact", "list")
    assert [(c["name"], c["emails"], c["org"]) for c in contacts] == [
        ("Ada Byron", ["ada@acme.example"], "Acme"),
        ("Lovelace, Ada", ["ada2@acme.example", "ada3@acme.example"], "Acme"),
        ("Zoë Müller", ["zoe@globex.example"], "Globex"),
    ]
    assert [o["name"] for o in company.json("org", "list")] == ["Acme", "Globex"]


def test_human_import_lists_each_failure_on_stderr(company, tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("Name,Email\nA,a@x.example\nB,bad\n")
    result = company("contact", "import", str(path))
    assert result.exit_code == 7
    assert "line 3: not an email address: 'bad'" in result.stderr
    assert "Imported 1 contacts." in result.stdout


def test_non_utf8_csv_is_read_as_windows_1252(company, tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("Name;E-mail;Company\nJosé Álvarez;jose@iberia.example;Ibéria SA\n".encode("cp1252"))
    result = company("contact", "import", str(path))
    assert result.exit_code == 0, result.stderr
    (contact,) = company.json("contact", "list")
    assert contact["name"] == "José Álvarez" and contact["org"] == "Ibéria SA"


def test_crm_export_headers_and_multiline_cells(company, tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(
        "\ufeffPerson - Name,Person - Email - Work,Person - Organization\n"
        '"Multi\nLine",multi@acme.example,Acme\n'
        "Broken,broken,Acme\n",
        encoding="utf-8",
    )
    result = company("contact", "import", str(path), "--json")
    assert result.exit_code == 7
    import json

    assert json.loads(result.stdout)["errors"][0]["line"] == 4


def test_csv_without_an_email_column_is_a_usage_error(company, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("Foo,Bar\n1,2\n")
    result = company("contact", "import", str(path))
    assert result.exit_code == 2 and "no email column" in result.stderr
    assert company("contact", "import", str(tmp_path / "missing.csv")).exit_code == 2


def test_deal_import(company, tmp_path):
    company.ok("contact", "add", "Ada", "--email", "ada@acme.example")
    company.ok("contact", "add", "Bo Twin", "--email", "bo1@acme.example")
    company.ok("contact", "add", "Bo Twin", "--email", "bo2@acme.example")
    path = tmp_path / "deals.csv"
    path.write_text(
        "Title,Value,Currency,Status,Person,Organization\n"
        'Robots,"1,200.50",eur,Open,ada@acme.example,Acme\n'
        "Lost one,500,,lost,Ada,\n"
        "Ghost,10,,open,ghost@acme.example,\n"
        "Ambiguous,10,,open,Bo Twin,\n"
        "Weird status,10,,pending,ada@acme.example,\n"
        "Bad value,lots,,open,ada@acme.example,\n"
    )
    result = company("deal", "import", str(path), "--json")
    assert result.exit_code == 7
    import json

    report = json.loads(result.stdout)
    assert report["imported"] == 2
    assert [e["line"] for e in report["errors"]] == [4, 5, 6, 7]
    deals = company.json("deal", "list")
    assert [(d["title"], d["value"], d["currency"], d["status"]) for d in deals] == [
        ("Robots", "1200.50", "EUR", "open"),
        ("Lost one", "500.00", None, "lost"),
    ]


# --- money: exact values, in the currency's own decimals ---------------------------------------------


def test_deal_value_is_kept_exactly_as_typed(company, db_path):
    """480000.10 as a float is 480000.09999999998: the stored text is the amount itself."""
    company.ok("contact", "add", "Ada", "--email", "ada@acme.example")
    deal = company.json("deal", "add", "Arms", "--contact", "1", "--value", "480000.10", "--currency", "EUR")
    assert deal["value"] == "480000.10"
    assert (
        company.json("deal", "add", "Yen", "--contact", "1", "--value", "1200000", "--currency", "jpy")["value"]
        == "1200000"
    )
    assert (
        company.json("deal", "add", "Dinar", "--contact", "1", "--value", "12.5", "--currency", "KWD")["value"]
        == "12.500"
    )
    assert company.json("deal", "add", "Cents", "--contact", "1", "--value", "0.30")["value"] == "0.30"
    stored = [r["value"] for r in rawdb.rows(db_path, "SELECT value FROM deals ORDER BY id")]
    assert stored == ["480000.10", "1200000", "12.500", "0.30"]  # text on both engines, never a number
    assert [d["value"] for d in company.json("deal", "list")] == ["480000.10", "1200000", "12.500", "0.30"]
    assert company.json("deal", "show", "1")["value"] == "480000.10"
    listed = company("deal", "list", "--format", "table").stdout
    assert "EUR 480,000.10" in listed and "JPY 1,200,000" in listed and "KWD 12.500" in listed
    assert "EUR 480,000.10" in company("deal", "show", "1").stdout


@pytest.mark.parametrize(
    ("value", "currency", "error"),
    [
        ("100.5", "JPY", "too many decimals in '100.5' (JPY has 0)"),
        ("10.0001", "EUR", "too many decimals in '10.0001' (EUR has 2)"),
        ("12 00", "EUR", "thousands are grouped by threes"),
        ("1,234", "EUR", "ambiguous amount '1,234'"),
        ("1.234", None, "ambiguous amount '1.234'"),
        ("-5", "EUR", "a deal value cannot be negative"),
        ("lots", "EUR", "not an amount: 'lots'"),
        ("USD 10", "EUR", "'USD 10' says USD but the currency is EUR"),
        ("10", "euro", "not a currency code: 'euro'"),
        ("1,23,456.00", "INR", "thousands are grouped by threes"),
    ],
)
def test_deal_value_that_is_not_exact_or_is_ambiguous_is_refused(company, value, currency, error):
    company.ok("contact", "add", "Ada", "--email", "ada@acme.example")
    result = company(
        "deal", "add", "X", "--contact", "1", "--value", value, *(["--currency", currency] if currency else [])
    )
    assert result.exit_code == 2
    assert error in result.stderr
    assert company.json("deal", "list") == []


@pytest.mark.parametrize(
    ("value", "currency"), [("1,234", "EUR"), ("1.234", None), ("1,234", "JPY"), ("1,234", "KWD"), ("1.234", "CLF")]
)
def test_every_form_the_ambiguous_amount_hint_suggests_is_accepted(company, value, currency):
    company.ok("contact", "add", "Ada", "--email", "ada@acme.example")
    given = ["--currency", currency] if currency else []
    refused = company("deal", "add", "X", "--contact", "1", "--value", value, *given)
    assert refused.exit_code == 2 and "ambiguous amount" in refused.stderr
    hint = " ".join(refused.stderr.split()).split("ambiguous amount", 1)[1]
    suggested = re.findall(r"(?<![\w.,])\d+(?:\.\d+)?(?![\w.,]*\w)", hint.split(";", 1)[1])
    suggested = [s for s in suggested if len(s) > 2]  # amounts, not a count of decimals
    assert suggested, refused.stderr
    for n, form in enumerate(suggested, start=1):
        company.ok("deal", "add", f"X{n}", "--contact", "1", "--value", form, *given)


def test_deal_import_reads_both_conventions_and_refuses_ambiguous_values_by_line(company, tmp_path):
    company.ok("contact", "add", "Ada", "--email", "ada@acme.example")
    path = tmp_path / "deals.csv"
    path.write_text(
        "Title;Value;Currency;Person\n"
        "English;1,234.50;EUR;ada@acme.example\n"
        "German;1.234,50;EUR;ada@acme.example\n"
        "Spaced;EUR 1 234,50;;ada@acme.example\n"
        "Plain;1234.5;eur;ada@acme.example\n"
        "Millions;1.234.567;JPY;ada@acme.example\n"
        "Ambiguous;1,234;EUR;ada@acme.example\n"
        "Too precise;1234.505;EUR;ada@acme.example\n"
        "Symbol;€99;;ada@acme.example\n",
        encoding="utf-8",
    )
    result = company("deal", "import", str(path), "--json")
    assert result.exit_code == 7
    report = json.loads(result.stdout)
    assert [e["line"] for e in report["errors"]] == [7, 8]
    assert "ambiguous amount '1,234'" in report["errors"][0]["error"]
    assert "too many decimals" in report["errors"][1]["error"]
    assert [(d["title"], d["value"], d["currency"]) for d in company.json("deal", "list")] == [
        ("English", "1234.50", "EUR"),
        ("German", "1234.50", "EUR"),
        ("Spaced", "1234.50", "EUR"),
        ("Plain", "1234.50", "EUR"),
        ("Millions", "1234567", "JPY"),
        ("Symbol", "99.00", "EUR"),
    ]


# --- first names --------------------------------------------------------------------------------------


def test_contact_carries_an_explicit_first_name(company, tmp_path):
    contact = company.json("contact", "add", "Dr. Byron", "--email", "byron@acme.example", "--first-name", " Ada ")
    assert contact["first_name"] == "Ada"
    assert company.json("contact", "list")[0]["first_name"] == "Ada"
    assert company.json("contact", "show", "1")["first_name"] == "Ada"
    path = tmp_path / "people.csv"
    path.write_text(
        "Name,First name,Last name,Email\n"
        '"Hopper, Grace",Grace,Hopper,grace@navy.example\n'
        ",Alan,Turing,alan@bletchley.example\n"
        "Kurt Gödel,,,kurt@ias.example\n",
        encoding="utf-8",
    )
    company.ok("contact", "import", str(path))
    assert [(c["name"], c["first_name"]) for c in company.json("contact", "list")][1:] == [
        ("Hopper, Grace", "Grace"),
        ("Alan Turing", "Alan"),
        ("Kurt Gödel", None),
    ]


def test_a_removed_contacts_id_is_never_given_to_another_contact(company):
    company.ok("contact", "add", "Ada", "--email", "ada@acme.example")
    removed = company.ok("contact", "add", "Bo", "--email", "bo@acme.example").stdout.strip()
    company.ok("contact", "remove", removed)
    added = company.ok("contact", "add", "Cy", "--email", "cy@acme.example").stdout.strip()
    assert int(added) > int(removed)
    assert company("contact", "show", removed).exit_code == 4
