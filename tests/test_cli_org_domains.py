"""Organizations by their email domains, as a user works with them: org add and domain add/remove,
the mail they link (and re-link), create-contacts, link --org, explain, inbox --org, CSV import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.both_engines

CAPTURE = "capture@bcc.northwind.example"
MARIA = "maria@northwind.example"
SAM = "sam@northwind.example"


def sent(cli, n: int, to: str, *, frm: str = MARIA, subject: str = "Quote") -> int:
    """Mail a user sent to ``to`` with the capture address in Bcc; returns the email's id."""
    raw = (
        f"From: {frm}\r\nTo: {to}\r\nBcc: {CAPTURE}\r\nSubject: {subject}\r\n"
        f"Date: Mon, 16 Nov 2026 09:{n:02d}:00 +0000\r\nMessage-ID: <o{n}@northwind.example>\r\n\r\nHello.\r\n"
    ).encode()
    (outcome,) = json.loads(cli.ok("bcc-ingest", "--json", input=raw).stdout)
    assert outcome["status"] == "stored", outcome
    return outcome["id"]


@pytest.fixture
def team(company):
    company.ok("settings", "set", "bcc-address", CAPTURE)
    company.ok("settings", "set", "create-contacts", "off")
    return company


def show(cli, email_id: int, user: str = MARIA) -> dict:
    return cli.json("--user", user, "show", str(email_id))


def test_an_organizations_domain_links_earlier_mail_and_reaches_its_single_deal(team):
    first = sent(team, 1, "bob@eu.acme.example")
    assert show(team, first)["orgs"] == [] and team("--user", SAM, "show", str(first)).exit_code == 4
    dry = team.json("org", "add", "Acme", "--domain", "acme.example", "--dry-run")
    assert dry["dry_run"] is True and dry["relink"]["changed"] == 1
    assert show(team, first)["orgs"] == [] and team.json("org", "list") == []  # a dry run writes nothing
    org = team.json("org", "add", "Acme", "--domain", "acme.example")
    assert org["domains"] == ["acme.example"]
    assert show(team, first)["orgs"] == [org["id"]]
    assert show(team, first, SAM)["id"] == first  # rule 2: an organization link is a link
    team.ok("contact", "add", "Ada", "--email", "ada@acme.example", "--org", "Acme")
    team.ok("deal", "add", "Fleet", "--contact", "Ada", "--org", "Acme")
    assert show(team, first)["deal"] == 1  # through the organization, its one open deal
    second = sent(team, 2, "carl@acme.example")
    assert show(team, second)["deal"] == 1 and show(team, second)["orgs"] == [org["id"]]
    assert {e["id"] for e in team.json("--user", SAM, "inbox", "--team", "--folder", "all", "--org", "Acme")} == {
        first,
        second,
    }
    shown = team.json("org", "show", "acme.example")
    assert {e["id"] for e in shown["linked_emails"]} == {first, second} and shown["domains"] == ["acme.example"]


def test_several_open_deals_need_a_choice_offered_by_the_chooser(team):
    team.ok("org", "add", "Acme", "--domain", "acme.example")
    team.ok("contact", "add", "Ada", "--email", "ada@acme.example", "--org", "1")
    team.ok("deal", "add", "East", "--contact", "1")
    team.ok("deal", "add", "West", "--contact", "1")
    email = sent(team, 1, "bob@acme.example")
    assert show(team, email)["needs_deal"] is True
    pending = team.json("link")
    assert [c["id"] for c in pending[0]["candidates"]] == [1, 2]
    why = team.json("explain", str(email))
    assert "organizations have several open deals" in " ".join(why["notes"])
    team.ok("link", str(email), "--deal", "West")
    assert show(team, email)["deal"] == 2


def test_a_domain_two_organizations_claim_links_neither_and_explain_says_why(team):
    team.ok("org", "add", "Acme", "--domain", "acme.example")
    result = team.ok("org", "add", "Acme Twin", "--domain", "acme.example")
    assert "listed by organization 1 (Acme) too" in result.stderr
    email = sent(team, 1, "bob@acme.example")
    why = team.json("explain", str(email))
    assert why["orgs"] == []
    (step,) = [s for s in why["trace"] if s["rule"] == "org-domain-shared"]
    assert "organizations 1 (Acme) and 2 (Acme Twin)" in step["reason"]
    text = team.ok("explain", str(email)).stdout
    assert "org-domain-shared" in text
    team.ok("org", "domain", "remove", "Acme Twin", "acme.example")
    assert show(team, email)["orgs"] == [1]


def test_free_mail_and_the_companys_own_domains_are_refused_and_never_identify(team):
    for domain in ("gmail.com", "mail.outlook.com", "co.uk"):
        result = team("org", "add", "Nobody", "--domain", domain)
        assert result.exit_code == 2 and "Error:" in result.stderr, domain
    team.ok("org", "add", "Acme", "--domain", "acme.example")
    free = sent(team, 1, "ann@gmail.com")
    assert show(team, free)["orgs"] == []
    # A colleague's alternative address at acme.example makes it one of the company's own domains.
    team.ok("--user", SAM, "settings", "alt-address", "add", "sam@acme.example")
    earlier = sent(team, 2, "intern@acme.example")
    assert show(team, earlier)["orgs"] == [1]
    team.ok("settings", "alt-address", "approve", "sam@acme.example")  # re-links the mail at acme.example
    why = team.json("explain", str(earlier))
    assert why["orgs"] == [] and any(s["rule"] == "org-domain-own" for s in why["trace"])
    assert show(team, sent(team, 3, "trainee@acme.example"))["orgs"] == []


def test_adding_and_removing_a_domain_relinks_with_dry_run(team):
    team.ok("org", "add", "Acme")
    email = sent(team, 1, "bob@acme.example")
    dry = team.json("org", "domain", "add", "Acme", "acme.example", "--dry-run")
    assert dry["relink"]["changed"] == 1 and show(team, email)["orgs"] == []
    assert "email 1: " in team.ok("org", "domain", "add", "1", "acme.example", "--dry-run").stdout
    team.ok("org", "domain", "add", "Acme", "acme.example")
    assert show(team, email)["orgs"] == [1]
    assert team.json("org", "domain", "remove", "1", "acme.example", "--dry-run")["relink"]["changed"] == 1
    assert team.json("org", "domain", "remove", "1", "acme.example")["domains"] == []
    assert show(team, email)["orgs"] == []
    missing = team("org", "domain", "remove", "1", "acme.example")
    assert missing.exit_code == 4


def test_a_colleagues_new_domain_only_proposes_a_link_to_mail_nobody_else_sees(team):
    """Rule 4: Sam's change cannot make Maria's unlinked mail visible to everyone."""
    email = sent(team, 1, "bob@acme.example")
    team.ok("--user", SAM, "org", "add", "Acme", "--domain", "acme.example")
    assert team("--user", SAM, "show", str(email)).exit_code == 4
    why = team.json("explain", str(email))
    assert why["orgs"][0]["proposed"] is True and why["orgs"][0]["caused_by"] == SAM
    assert [e["id"] for e in team.json("inbox", "--proposed", "--folder", "all")] == [email]
    accepted = team.json("link", str(email), "--accept")
    assert accepted["accepted"] == [{"email": email, "kind": "org", "id": 1}]
    assert show(team, email, SAM)["orgs"] == [1]


def test_rejecting_a_proposed_organization_keeps_it_off(team):
    email = sent(team, 1, "bob@acme.example")
    team.ok("--user", SAM, "org", "add", "Acme", "--domain", "acme.example")
    team.ok("link", str(email), "--reject")
    assert show(team, email)["orgs"] == []
    team.ok("link", "--rescan")
    assert show(team, email)["orgs"] == [] and team.json("explain", str(email))["manual"]["orgs"] is True


def test_link_by_hand_to_an_organization(team):
    team.ok("org", "add", "Acme", "--domain", "acme.example")
    team.ok("org", "add", "Globex")
    email = sent(team, 1, "bob@acme.example")
    linked = team.json("link", str(email), "--org", "Globex")
    assert linked["orgs"] == [2]
    why = team.json("explain", str(email))
    assert why["manual"]["orgs"] is True and why["orgs"][0]["rule"] == "org-manual"
    assert why["history"][-1]["action"] == "orgs" and why["history"][-1]["to"] == "2"
    team.ok("link", "--rescan")
    assert show(team, email)["orgs"] == [2]  # a choice made by hand stays
    other = team("--user", SAM, "link", str(email), "--org", "1")
    assert other.exit_code == 4


def test_with_create_contacts_on_the_new_contact_is_made_inside_the_organization(team):
    team.ok("settings", "set", "create-contacts", "on")
    team.ok("org", "add", "Acme", "--domain", "acme.example")
    team.ok("contact", "add", "Ada", "--email", "ada@acme.example", "--org", "1")
    team.ok("deal", "add", "Fleet", "--contact", "1")
    email = sent(team, 1, "Bob New <bob@sales.acme.example>, Gina <gina@gmail.com>")
    contacts = {c["emails"][0]: c for c in team.json("contact", "list")}
    assert contacts["bob@sales.acme.example"]["org_id"] == 1
    assert contacts["gina@gmail.com"]["org_id"] is None
    e = show(team, email)
    assert e["orgs"] == [1] and e["deal"] == 1  # the new contact has no deal: the organization's counts


def test_csv_import_reads_a_domain_column(team, tmp_path: Path):
    email = sent(team, 1, "bob@acme.example")
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(
        "Name,Email,Organization,Organization domain\n"
        "Ada Byron,ada@acme.example,Acme,acme.example\n"
        "Bo Chen,bo@globex.example,,acme.example\n"
        "Cy,cy@x.example,Mail fans,gmail.com\n"
        "Di,di@initech.example,,initech.example\n"
    )
    result = team("contact", "import", str(contacts))
    assert result.exit_code == 7
    assert "line 4:" in result.stderr and "free-mail" in result.stderr
    assert "line 5:" in result.stderr and "no organization lists initech.example" in result.stderr
    by_address = {c["emails"][0]: c for c in team.json("contact", "list")}
    assert by_address["ada@acme.example"]["org"] == "Acme" and by_address["bo@globex.example"]["org"] == "Acme"
    assert team.json("org", "show", "Acme")["domains"] == ["acme.example"]
    assert show(team, email)["orgs"] == [1]  # the import linked earlier mail at the new domain
    deals = tmp_path / "deals.csv"
    deals.write_text("Title,Person,Organization,Domain\nFleet,ada@acme.example,Acme,acme.eu\n")
    team.ok("deal", "import", str(deals))
    assert set(team.json("org", "show", "1")["domains"]) == {"acme.example", "acme.eu"}
