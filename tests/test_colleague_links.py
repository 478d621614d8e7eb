"""Rule 4 of the sharing law: no action of one user makes another user's email visible to more people.

A link that a colleague's change adds to your email (a contact, an address, a deal, the block list,
an admin's rescan...) is recorded for you with who caused it, and while your email is seen by
nobody else it is only *proposed*: it counts for sharing once you accept it.
"""

from __future__ import annotations

import factories as f
import pytest

from pdmail.store import open_db
from pdmail.store import users as users_store

pytestmark = pytest.mark.both_engines

MARIA = "maria@northwind.example"  # admin
SAM = "sam@northwind.example"
INES = "ines@northwind.example"  # admin
DOCTOR = "doctor@clinic.example"


def capture(db_path, owner=MARIA, **fields) -> int:
    db = open_db(db_path)
    try:
        return f.email(db, users_store.find_user(db, owner), **fields)
    finally:
        db.close()


def sees(cli, user: str, email_id: int) -> bool:
    result = cli("show", str(email_id), "--user", user)
    assert result.exit_code in (0, 4), result.stderr
    return result.exit_code == 0


def proposals(cli, email_id: int, owner=MARIA) -> list[dict]:
    return [c for c in cli.json("explain", str(email_id), "--user", owner)["contacts"] if c["proposed"]]


def waiting(cli, email_id: int, owner=MARIA) -> dict:
    """What waits for the owner's acceptance on this email, as `explain` tells the owner."""
    why = cli.json("explain", str(email_id), "--user", owner)
    return {
        "contacts": [c["id"] for c in why["contacts"] if c["proposed"]],
        "deal": why["deal"]["id"] if why["deal_proposed"] else None,
    }


@pytest.fixture
def doctor(company, db_path):
    """Maria's mail with her doctor: shared (the default) and linked to nothing, so hers alone."""
    mail = capture(db_path, frm=f"Dr Who <{DOCTOR}>", to=(MARIA,), mid="dr1", subject="Your results")
    assert not sees(company, SAM, mail) and not sees(company, INES, mail)
    return company, mail


def test_a_colleagues_new_contact_only_proposes_a_link_to_your_mail(doctor):
    cli, mail = doctor
    cli.ok("contact", "add", "Dr Who", "--email", DOCTOR, "--user", SAM)

    assert not sees(cli, SAM, mail) and not sees(cli, INES, mail)  # nobody else sees it, admins included
    assert cli.json("show", str(mail))["contacts"] == [1]  # the owner sees the link
    assert waiting(cli, mail) == {"contacts": [1], "deal": None}
    why = cli.json("explain", str(mail))
    (link,) = why["contacts"]
    assert link["proposed"] is True and link["caused_by"] == SAM and link["caused_at_utc"]
    assert any("proposed" in note and SAM in note for note in why["notes"])
    assert "proposed by sam@northwind.example" in cli.ok("explain", str(mail)).stdout
    seen = {u["user"]: u for u in why["visibility"]["users"]}
    assert not seen[SAM]["can_view"] and "not accepted" in seen[SAM]["why"]
    assert [e["id"] for e in cli.json("inbox", "--proposed")] == [mail]
    assert "proposed" in cli.ok("inbox").stdout
    (review,) = cli.json("link", "--review")
    assert review["id"] == mail and review["proposals"] == [
        {"kind": "contact", "id": 1, "name": "Dr Who", "caused_by": SAM, "caused_at_utc": link["caused_at_utc"]}
    ]
    assert cli.json("link", "--review", "--user", SAM) == []  # Sam is told nothing of Maria's mail

    accepted = cli.json("link", str(mail), "--accept")
    assert accepted["id"] == mail and accepted["contacts"] == [1]
    assert waiting(cli, mail) == {"contacts": [], "deal": None}
    assert sees(cli, SAM, mail) and sees(cli, INES, mail)
    assert cli.json("inbox", "--proposed") == [] and cli.json("link", "--review") == []
    assert cli.json("explain", str(mail))["history"][-1]["action"] == "accept"


def test_accept_and_reject_say_what_they_changed_and_never_claim_what_did_not_happen(doctor):
    cli, mail = doctor
    idle = cli.ok("link", str(mail), "--accept")  # nothing proposed yet
    assert "Nothing is proposed on thread" in idle.stderr and "nothing was accepted" in idle.stderr
    assert cli.json("link", str(mail), "--reject")["rejected"] == []
    cli.ok("contact", "add", "Dr Who", "--email", DOCTOR, "--user", SAM)

    accepted = cli.json("link", str(mail), "--accept")
    assert accepted["accepted"] == [{"email": mail, "kind": "contact", "id": 1}]
    late = cli.ok("link", str(mail), "--reject")  # after the accept, nothing is left to reject
    assert "nothing was rejected" in late.stderr and "Rejected the" not in late.stderr
    assert cli.json("link", str(mail), "--reject")["rejected"] == []
    assert cli.json("show", str(mail))["contacts"] == [1] and sees(cli, SAM, mail)
    assert cli.json("explain", str(mail))["history"][-1]["action"] == "accept"


def test_a_colleagues_new_address_does_not_put_your_mail_on_a_customers_deal(company, db_path):
    """The report: mail to a doctor ended up on "Acme arms" after a colleague added an address."""
    cli = company
    cli.ok("contact", "add", "Ana Diaz", "--email", "ana@acme.example", "--user", SAM)
    cli.ok("deal", "add", "Acme arms", "--contact", "1", "--user", SAM)
    mail = capture(db_path, frm="Ana <ana@home.example>", to=(MARIA,), mid="h1", subject="Appointment")

    cli.ok("contact", "add-address", "1", "ana@home.example", "--user", SAM)

    assert cli.json("show", str(mail))["deal"] == 1
    assert waiting(cli, mail) == {"contacts": [1], "deal": 1}
    assert cli.json("show", str(mail), "--user", MARIA)["contacts"] == [1]
    assert [e["id"] for e in cli.json("deal", "show", "1")["linked_emails"]] == [mail]  # Maria sees her own
    assert cli.json("deal", "show", "1", "--user", SAM)["linked_emails"] == []
    assert cli.json("inbox", "--team", "--deal", "1", "--user", INES) == []
    assert not sees(cli, SAM, mail)
    why = cli.json("explain", str(mail))
    assert why["deal_proposed"] is True and why["deal_caused_by"] == SAM
    reply = capture(
        db_path, frm="Ana <ana@home.example>", to=(MARIA,), mid="h2", in_reply_to="h1", subject="Re: Appointment"
    )
    assert waiting(cli, reply) == {"contacts": [1], "deal": 1}  # it joins a conversation under review
    assert not sees(cli, SAM, reply)

    rejected = cli.json("link", str(mail), "--reject")["rejected"]
    assert {(r["kind"], r["id"]) for r in rejected} == {("contact", 1), ("deal", 1)}
    own = cli.json("show", str(mail))
    assert own["deal"] is None and own["contacts"] == [] and waiting(cli, mail) == {"contacts": [], "deal": None}
    cli.ok("link", "--rescan")  # an admin's rescan does not bring it back
    for email_id in (mail, reply):
        assert cli.json("show", str(email_id))["deal"] is None and not sees(cli, SAM, email_id)
        assert cli.json("show", str(email_id))["contacts"] == []
    assert cli.json("explain", str(mail))["history"][-1]["action"] == "reject"


def test_a_colleagues_contact_import_only_proposes(doctor, tmp_path):
    cli, mail = doctor
    (tmp_path / "c.csv").write_text(f"Name,Email\nDr Who,{DOCTOR}\n")
    cli.ok("contact", "import", str(tmp_path / "c.csv"), "--user", SAM)
    assert proposals(cli, mail)[0]["caused_by"] == SAM
    assert not sees(cli, SAM, mail)


def test_an_admins_rescan_only_proposes(company, db_path):
    cli = company
    mail = capture(db_path, owner=SAM, frm=DOCTOR, to=(SAM,), subject="Results")
    db = open_db(db_path)
    f.contact(db, "Dr Who", DOCTOR, relink=False)  # a contact no re-link has seen yet
    db.close()

    cli.ok("link", "--rescan")  # Maria, an admin, re-links the company's mail

    assert not sees(cli, MARIA, mail) and not sees(cli, INES, mail)
    assert proposals(cli, mail, owner=SAM)[0]["caused_by"] == MARIA
    cli.ok("link", str(mail), "--accept", "--user", SAM)
    assert sees(cli, MARIA, mail)


def test_your_own_changes_link_your_mail_at_once(doctor):
    cli, mail = doctor
    cli.ok("contact", "add", "Dr Who", "--email", DOCTOR)  # Maria herself
    assert waiting(cli, mail) == {"contacts": [], "deal": None}
    assert sees(cli, SAM, mail)
    assert cli.json("explain", str(mail))["contacts"][0]["caused_by"] is None


def test_a_link_to_mail_others_already_see_needs_no_acceptance(company, db_path):
    """Sam's mail with Jane is shared and linked: Maria's new deal widens nothing, so it counts at once."""
    cli = company
    cli.ok("contact", "add", "Jane Doe", "--email", "jane@cust.example")
    mail = capture(db_path, owner=SAM, frm="jane@cust.example", to=(SAM,), subject="Order")
    assert sees(cli, MARIA, mail)
    cli.ok("deal", "add", "Rollout", "--contact", "1")
    assert [e["id"] for e in cli.json("deal", "show", "1")["linked_emails"]] == [mail]
    why = cli.json("explain", str(mail), "--user", SAM)
    assert why["deal_proposed"] is False and why["deal_caused_by"] == MARIA


def test_accepting_colleagues_links_automatically_is_a_setting_off_by_default(doctor):
    cli, mail = doctor
    assert cli.json("settings", "show")["settings"]["accept-colleague-links"] == "off"
    cli.ok("settings", "set", "accept-colleague-links", "on")
    cli.ok("contact", "add", "Dr Who", "--email", DOCTOR, "--user", SAM)
    # On a team server Sam's login cannot touch mail he may not see: Maria's own pdmail links it at its
    # next command (README.md, "Team server (PostgreSQL)"). On a file this changes nothing.
    cli.ok("inbox")
    assert sees(cli, SAM, mail)
    (link,) = cli.json("explain", str(mail))["contacts"]
    assert link["proposed"] is False and link["caused_by"] == SAM  # still recorded: who caused it
    assert "linked after a change by sam@northwind.example" in cli.ok("explain", str(mail)).stdout


def test_a_colleagues_capture_that_creates_a_contact_only_proposes(doctor):
    """Smart BCC creates contacts for unknown addresses; Sam's copy must not share Maria's mail."""
    cli, mail = doctor
    cli.ok("settings", "set", "bcc-address", "capture@bcc.northwind.example")
    raw = (
        f"From: Sam <{SAM}>\r\nTo: Dr Who <{DOCTOR}>\r\nBcc: capture@bcc.northwind.example\r\n"
        "Subject: My appointment\r\nDate: Mon, 16 Nov 2026 09:00:00 +0000\r\nMessage-ID: <s1@x.example>\r\n\r\n"
        "See you.\r\n"
    )
    cli.ok("bcc-ingest", input=raw.encode())
    assert cli.json("contact", "list")[0]["emails"] == [DOCTOR]
    assert not sees(cli, SAM, mail)
    assert proposals(cli, mail)[0]["caused_by"] == SAM


def test_new_mail_in_a_conversation_waiting_for_review_waits_too(doctor, db_path):
    cli, mail = doctor
    cli.ok("contact", "add", "Dr Who", "--email", DOCTOR, "--user", SAM)
    reply = capture(db_path, frm=DOCTOR, to=(MARIA,), mid="dr2", in_reply_to="dr1", subject="Re: Your results")
    # Before Maria runs pdmail again (on a team server, before her pdmail has linked her own mail for
    # Sam's change) the reply is no more Sam's to see than the conversation it joins.
    assert not sees(cli, SAM, reply)
    assert waiting(cli, reply) == {"contacts": [1], "deal": None}
    assert not sees(cli, SAM, reply)
    cli.ok("link", str(mail), "--accept")  # the whole conversation
    assert sees(cli, SAM, reply) and sees(cli, SAM, mail)


def test_private_mail_linked_by_a_colleague_stays_unseen_after_it_is_shared(company, db_path):
    cli = company
    cli.ok("settings", "set", "default-visibility", "private")
    mail = capture(db_path, frm=DOCTOR, to=(MARIA,), subject="Results")
    cli.ok("contact", "add", "Dr Who", "--email", DOCTOR, "--user", SAM)
    cli.ok("share", str(mail), "--shared")
    assert not sees(cli, SAM, mail)
    assert proposals(cli, mail)[0]["caused_by"] == SAM


def test_an_admin_unblocking_an_address_only_proposes(company, db_path):
    cli = company
    cli.ok("contact", "add", "Dr Who", "--email", DOCTOR)
    cli.ok("settings", "block", "add", "@clinic.example")
    mail = capture(db_path, owner=SAM, frm=SAM, to=(DOCTOR,), subject="My appointment")  # outgoing
    assert cli.json("show", str(mail), "--user", SAM)["contacts"] == []
    cli.ok("settings", "block", "remove", "@clinic.example")
    assert cli.json("show", str(mail), "--user", SAM)["contacts"] == [1]
    assert not sees(cli, MARIA, mail)


# --- contact remove ------------------------------------------------------------------------------


def test_contact_remove_takes_its_links_away_and_keeps_its_deals(company, db_path):
    cli = company
    cli.ok("contact", "add", "Jane Doe", "--email", "jane@cust.example")  # 1
    cli.ok("contact", "add", "Ken Ito", "--email", "ken@cust.example")  # 2
    cli.ok("deal", "add", "Rollout", "--contact", "1")
    on_deal = capture(db_path, owner=SAM, frm="jane@cust.example", to=(SAM,), subject="Order")
    only_jane = capture(db_path, owner=SAM, frm="jane@cust.example", to=(SAM,), subject="Other")
    cli.ok("link", str(only_jane), "--none", "--user", SAM)
    by_hand = capture(db_path, owner=SAM, frm="ken@cust.example", to=(SAM,), subject="Ken")
    cli.ok("link", str(by_hand), "--contact", "1", "--contact", "2", "--user", SAM)
    assert all(sees(cli, MARIA, m) for m in (on_deal, only_jane, by_hand))

    data = cli.json("contact", "remove", "1", "--user", SAM)
    assert data["removed"]["id"] == 1 and data["deals_kept"] == [1]

    assert cli("contact", "show", "1").exit_code == 4
    assert cli.json("deal", "show", "1")["contact_id"] is None  # the deal stays, without its person
    assert cli.json("show", str(on_deal), "--user", SAM)["contacts"] == []
    assert cli.json("show", str(on_deal), "--user", SAM)["deal"] == 1  # it keeps its mail
    assert sees(cli, MARIA, on_deal)  # still linked to the deal
    assert not sees(cli, MARIA, only_jane)  # its only link is gone: Sam's alone again
    assert cli.json("show", str(by_hand), "--user", SAM)["contacts"] == [2]  # chosen by hand, less the contact
    assert cli.json("link", "--rescan", "--user", SAM)["changed"] == 0
    assert cli("contact", "remove", "1").exit_code == 4
    assert cli.ok("contact", "add", "Jane again", "--email", "jane@cust.example")


def test_a_relink_that_names_nobody_widens_nothing(tmp_path):
    """A library call that does not say who acts runs for nobody: nothing it links is seen by more people."""
    from pdmail.linking import relink
    from pdmail.store.mailbox import facts
    from pdmail.visibility import can_view

    db, maria = f.company(tmp_path / "lib.db")
    sam = f.user(db, SAM)
    mail = f.email(db, maria, frm=DOCTOR, to=(MARIA,))
    f.contact(db, "Dr Who", DOCTOR)
    assert f.links(db, mail)["contacts"] == [(1, DOCTOR, "contact-match", 0)]  # linked for Maria...
    assert not can_view(sam.id, facts(db, mail))  # ...and proposed, by no user
    assert db.scalar("SELECT caused_by IS NULL AND is_proposed = 1 FROM email_contacts WHERE email_id = ?", (mail,))
    with relink.acting(maria):
        relink.relink_threads(db, [db.scalar("SELECT thread_id FROM emails WHERE id = ?", (mail,))])
    assert not can_view(sam.id, facts(db, mail))  # a link that stays keeps its cause
    db.close()
