"""`contact list --json` is written by SQLite row by row; it must say exactly what the records say."""

from __future__ import annotations

import json

import pytest

from pdmail.store import crm, open_db

pytestmark = pytest.mark.both_engines


def test_listing_matches_the_records(company, db_path):
    db = open_db(db_path)
    try:
        acme = crm.add_org(db, "Acme „Süd“ GmbH", domain="acme.example")
        crm.add_contact(
            db,
            "Zoë Müller",
            ["zoe@acme.example", "z.mueller@acme.test", "zm@acme.example"],
            org_id=acme.id,
            title="Einkäuferin",
            phone="+49 30 1234",
        )
        crm.add_contact(db, 'Bo "Quote" Chen\\', ["bo@elsewhere.example"])
        expected = [c.to_json() for c in crm.list_contacts(db)]
        only_acme = [c.to_json() for c in crm.list_contacts(db, org_id=acme.id)]
    finally:
        db.close()
    listed = company("contact", "list", "--json")
    assert listed.exit_code == 0
    assert json.loads(listed.stdout) == expected
    assert expected[0]["emails"] == ["zoe@acme.example", "z.mueller@acme.test", "zm@acme.example"]
    assert json.loads(company("contact", "list", "--org", str(acme.id), "--json").stdout) == only_acme


def test_empty_listing_is_an_empty_array(company):
    assert company("contact", "list", "--json").stdout == "[]\n"
    company.ok("org", "add", "Nobody Inc")
    assert company("contact", "list", "--org", "1", "--json").stdout == "[]\n"
    assert company("contact", "list", "--org", "42", "--json").exit_code == 4  # no such organization
