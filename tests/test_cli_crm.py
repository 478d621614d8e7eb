"""Contacts, organizations and deals: CRUD, JSON shapes, exit codes and CSV import."""

from __future__ import annotations


def test_contact_add_list_show(company):
    org = company.json("org", "add", "Acme Corp", "--domain", "acme.example")
    assert org == {"id": 1, "name": "Acme Corp", "domain": "acme.example"}
    contact = company.json("contact", "add", "Ada Byron", "--email", "Ada@Acme.example",
                           "--email", "ada.b@acme.example", "--org", "1")
    assert contact == {"id": 1, "name": "Ada Byron", "emails": ["ada@acme.example", "ada.b@acme.example"],
                       "org_id": 1, "org": "Acme Corp", "title": None, "phone": None}
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
    for args in (("contact", "show", "5"), ("org", "show", "5"), ("deal", "show", "5"),
                 ("deal", "set-status", "5", "won")):
        result = company(*args)
        assert result.exit_code == 4, args
        assert result.stderr.startswith("Error: ") and "not found" in result.stderr


def test_deal_add_takes_contacts_org_and_status(company):
    company.ok("org", "add", "Acme")
    company.ok("contact", "add", "Ada", "--email", "ada@acme.example", "--org", "1")
    deal = company.json("deal", "add", "50 robot arms", "--contact", "1", "--value", "120000", "--currency", "eur")
    assert deal == {"id": 1, "title": "50 robot arms", "contact_id": 1, "org_id": 1, "value": 120000.0,
                    "currency": "EUR", "status": "open"}
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
        (6, "ada@acme.example already belongs to contact 1 (Ada Byron)"),
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
        "Robots,\"1,200.50\",eur,Open,ada@acme.example,Acme\n"
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
        ("Robots", 1200.5, "EUR", "open"), ("Lost one", 500.0, None, "lost")]
