"""The quarantine: one entry per message, leaving when stored, discarding, pages, and who sees what."""

from __future__ import annotations

import json

import pytest
import rawdb
import test_bcc_ingest as bcc

pytestmark = pytest.mark.both_engines

SAM = ("--user", "sam@northwind.example")
STRANGER = "Eve <eve@evil.example>"


@pytest.fixture
def team(company):
    company.ok("settings", "set", "bcc-address", bcc.CAPTURE)
    company.ok("contact", "add", "Ada Byron", "--email", "ada@acme.example")
    return company


def refused(n: int, frm: str = STRANGER, subject: str | None = None) -> bytes:
    return bcc.mail(frm=frm, mid=f"<r{n}@evil.example>", subject=subject or f"Offer {n}")


def folder_of(tmp_path, messages: list[bytes]):
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    for i, raw in enumerate(messages):
        (folder / f"{i:03}.eml").write_bytes(raw)
    return folder


def rows(db_path, sql, params=()):
    return bcc.db_rows(db_path, sql, params)


# --- one entry per message --------------------------------------------------------------------


def test_a_rerun_over_the_same_folder_holds_each_refused_message_once(team, tmp_path, db_path):
    folder = folder_of(tmp_path, [refused(1), refused(2), bcc.mail(mid="<ok@n>"), refused(3)])
    first = team("bcc-ingest", str(folder), "--json")
    second = team("bcc-ingest", str(folder), "--json")
    assert first.exit_code == second.exit_code == 7
    ids = [o["quarantine_id"] for o in json.loads(first.stdout) if o["status"] == "quarantined"]
    assert len(ids) == 3 and None not in ids
    again = json.loads(second.stdout)
    assert [o["quarantine_id"] for o in again if o["status"] == "quarantined"] == ids
    assert [h["id"] for h in team.json("bcc-ingest", "--quarantine")] == ids
    assert rows(db_path, "SELECT count(*) AS n FROM quarantine")[0]["n"] == 3


def test_json_gives_the_quarantine_id_a_script_can_release(team):
    code, data, _ = bcc.ingest(team, refused(1))
    assert code == 3 and data["status"] == "quarantined"
    released = team.json("bcc-ingest", "--release", str(data["quarantine_id"]))
    assert released["status"] == "stored"


def test_an_oversized_message_delivered_twice_is_held_once(team, db_path, monkeypatch):
    import pdmail.capture.piped as stdin_module  # one message on stdin
    from pdmail.mime.limits import ParseLimits

    monkeypatch.setattr(stdin_module, "DEFAULT_LIMITS", ParseLimits(max_size=10_000))
    big = bcc.mail(body="x" * 50_000 + "\r\n")
    _, first, _ = bcc.ingest(team, big)
    _, second, _ = bcc.ingest(team, big)
    assert first["status"] == second["status"] == "quarantined"
    assert first["quarantine_id"] == second["quarantine_id"]
    assert rows(db_path, "SELECT count(*) AS n FROM quarantine")[0]["n"] == 1


def test_a_refused_message_stored_another_way_leaves_the_quarantine(team, db_path):
    raw = bcc.mail(frm="Sam <sam.lee@home.example>")
    team.ok("settings", "alt-address", "add", "sam.lee@home.example", *SAM)
    _, held, _ = bcc.ingest(team, raw)
    assert held["status"] == "quarantined"
    team.ok("settings", "alt-address", "approve", "sam.lee@home.example")

    code, stored, _ = bcc.ingest(team, raw)
    assert code == 0 and stored["status"] == "stored"
    assert team.json("bcc-ingest", "--quarantine") == []
    (entry,) = rows(db_path, "SELECT status, released_email_id FROM quarantine")
    assert (entry["status"], entry["released_email_id"]) == ("stored", stored["id"])


def test_a_released_message_refused_again_is_a_duplicate_not_a_new_entry(team):
    raw = refused(1)
    _, held, _ = bcc.ingest(team, raw)
    email_id = team.json("bcc-ingest", "--release", str(held["quarantine_id"]))["id"]
    code, again, _ = bcc.ingest(team, raw)
    assert code == 0 and again["status"] == "duplicate" and again["id"] == email_id
    assert team.json("bcc-ingest", "--quarantine") == []


# --- discarding -------------------------------------------------------------------------------


def test_discard_one_entry_and_its_bytes(team, db_path):
    _, first, _ = bcc.ingest(team, refused(1))
    _, second, _ = bcc.ingest(team, refused(2))
    gone = team("bcc-ingest", "--discard", str(first["quarantine_id"]), *SAM)
    assert gone.exit_code == 4  # not sam's to see, so not sam's to discard
    assert team.json("bcc-ingest", "--discard", str(first["quarantine_id"])) == {
        "id": first["quarantine_id"],
        "status": "discarded",
    }
    assert [h["id"] for h in team.json("bcc-ingest", "--quarantine")] == [second["quarantine_id"]]
    assert rows(db_path, "SELECT count(*) AS n FROM raw_messages")[0]["n"] == 1
    assert team("bcc-ingest", "--discard", str(first["quarantine_id"])).exit_code == 4


def test_a_discarded_entrys_id_is_never_given_to_another_message(team):
    _, first, _ = bcc.ingest(team, refused(1))
    team.ok("bcc-ingest", "--discard", str(first["quarantine_id"]))
    _, later, _ = bcc.ingest(team, refused(2))
    assert later["quarantine_id"] > first["quarantine_id"]
    assert team("bcc-ingest", "--release", str(first["quarantine_id"])).exit_code == 4


def test_discard_all_older_than_an_age(team, db_path):
    ids = [bcc.ingest(team, refused(n))[1]["quarantine_id"] for n in range(3)]
    rawdb.execute(db_path, "UPDATE quarantine SET received_utc = '2020-01-01T00:00:00Z' WHERE id IN (?, ?)", ids[:2])
    needs_age = team("bcc-ingest", "--discard-all")
    assert needs_age.exit_code == 2 and "--older-than" in needs_age.stderr
    assert team("bcc-ingest", "--discard-all", "--older-than", "soon").exit_code == 2
    assert team.json("bcc-ingest", "--discard-all", "--older-than", "30d") == {"discarded": ids[:2]}
    assert [h["id"] for h in team.json("bcc-ingest", "--quarantine")] == ids[2:]


def test_discard_removes_the_spool_file_of_an_oversized_message(team, db_path, monkeypatch):
    import pdmail.capture.piped as stdin_module  # one message on stdin
    from pdmail.mime.limits import ParseLimits

    monkeypatch.setattr(stdin_module, "DEFAULT_LIMITS", ParseLimits(max_size=10_000))
    _, held, _ = bcc.ingest(team, bcc.mail(body="x" * 50_000 + "\r\n"))
    (entry,) = rows(db_path, "SELECT spool_path FROM quarantine")
    team.ok("bcc-ingest", "--discard", str(held["quarantine_id"]))
    from pathlib import Path

    assert not Path(entry["spool_path"]).exists()


def test_discard_keeps_bytes_an_email_still_needs(team, db_path):
    """The same bytes were stored while the address was allowed, and refused after it was removed."""
    raw = bcc.mail(frm="Maria <maria@home.example>")
    team.ok("settings", "alt-address", "add", "maria@home.example")
    assert bcc.ingest(team, raw)[1]["status"] == "stored"
    team.ok("settings", "alt-address", "remove", "maria@home.example")
    _, held, _ = bcc.ingest(team, raw)
    assert held["status"] == "quarantined"
    team.ok("bcc-ingest", "--discard", str(held["quarantine_id"]))
    (email,) = team.json("inbox", "--folder", "all")
    assert team.json("show", str(email["id"]))["subject"] == "Quote"
    assert rows(db_path, "SELECT count(*) AS n FROM raw_messages")[0]["n"] == 1


# --- the listing ------------------------------------------------------------------------------


def test_the_listing_pages(team):
    ids = [bcc.ingest(team, refused(n))[1]["quarantine_id"] for n in range(5)]
    first = team("bcc-ingest", "--quarantine", "--limit", "2", "--json")
    assert [h["id"] for h in json.loads(first.stdout)] == ids[:2]
    assert [h["id"] for h in team.json("bcc-ingest", "--quarantine", "--limit", "2", "--page", "3")] == ids[4:]
    human = team("bcc-ingest", "--quarantine", "--limit", "2", "--page", "2")
    assert "Showing 3–4 of 5 quarantined messages; 1 more: --page 3" in human.stderr
    assert team("bcc-ingest", "--quarantine", "--page", "0").exit_code == 2


# --- who sees what ----------------------------------------------------------------------------


def test_a_claimed_address_gives_no_access_to_its_quarantined_mail_until_approved(team):
    # Ada is a contact: her address cannot be claimed at all.
    assert team("settings", "alt-address", "add", "ada@acme.example", *SAM).exit_code == 2

    _, held, _ = bcc.ingest(team, refused(2, frm="Bo <bo@partner.example>", subject="Bo's pricing"))
    qid = str(held["quarantine_id"])
    team.ok("settings", "alt-address", "add", "bo@partner.example", *SAM)
    assert team.json("bcc-ingest", "--quarantine", *SAM) == []
    assert team("bcc-ingest", "--release", qid, *SAM).exit_code == 4

    team.ok("settings", "alt-address", "approve", "bo@partner.example")
    (mine,) = team.json("bcc-ingest", "--quarantine", *SAM)
    assert mine["subject"] == "Bo's pricing"


def test_released_mail_keeps_the_owner_it_would_have_had(team, db_path, engine):
    """Whoever releases it. On a file an admin reviews everyone's refused mail; on a team server a
    message refused under a user's address is that user's alone to see and release (README.md,
    "Team server (PostgreSQL)")."""
    reviewer = () if engine == "sqlite" else SAM
    team.ok("settings", "alt-address", "add", "sam.lee@home.example", *SAM)
    team.ok("settings", "alt-address", "approve", "sam.lee@home.example")
    _, from_sam, _ = bcc.ingest(
        team, bcc.mail(frm="Sam <sam.lee@home.example>", extra=[("From", "Sam <sam.lee@home.example>")])
    )
    assert from_sam["status"] == "quarantined"  # two From headers: refused even from sam's address
    released = team.json("bcc-ingest", "--release", str(from_sam["quarantine_id"]), *reviewer)  # maria, an admin
    assert team.json("show", str(released["id"]), *SAM)["owner"] == "sam@northwind.example"

    # Refused mail from a synced mailbox is its owner's: listed for them, and theirs once released.
    from pdmail.store import open_db, quarantine
    from pdmail.store.users import find_user

    db = open_db(db_path)
    sam = find_user(db, "sam@northwind.example")
    with db.tx():
        qid = quarantine.hold(
            db,
            bcc.mail(frm=STRANGER, mid="<synced@n>"),
            source="sync:work:INBOX/1/7",
            recipient=None,
            reason="over a limit",
            from_email=None,
            subject=None,
            owner_id=sam.id,
        )
    db.close()
    assert [h["id"] for h in team.json("bcc-ingest", "--quarantine", *SAM)] == [qid]
    released = team.json("bcc-ingest", "--release", str(qid), *reviewer)
    assert team.json("show", str(released["id"]), *SAM)["owner"] == "sam@northwind.example"


@pytest.mark.sqlite_only
def test_admins_see_who_sent_colleagues_refused_mail_but_not_its_subject(team):
    team.ok("settings", "set", "default-visibility", "private", *SAM)
    team.ok("settings", "alt-address", "add", "sam.lee@home.example", *SAM)
    team.ok("settings", "alt-address", "approve", "sam.lee@home.example")
    two_froms = [("From", "Sam <sam.lee@home.example>")]
    bcc.ingest(team, bcc.mail(frm="Sam <sam.lee@home.example>", subject="Sam's secret", extra=two_froms))
    bcc.ingest(
        team,
        bcc.mail(
            frm="Maria <maria@northwind.example>",
            subject="Maria's own",
            mid="<mm@n>",
            extra=[("From", "Maria <maria@northwind.example>")],
        ),
    )

    by_sender = {h["from"]: h for h in team.json("bcc-ingest", "--quarantine")}  # maria, an admin
    sams = by_sender["sam.lee@home.example"]
    assert sams["subject"] is None and sams["subject_hidden"] is True
    assert sams["size"] > 0 and sams["reason"] and sams["received_utc"]
    assert by_sender["maria@northwind.example"]["subject"] == "Maria's own"
    table = team("bcc-ingest", "--quarantine", "--format", "table")
    assert "Sam's secret" not in table.stdout and "(not yours to see)" in table.stdout
    assert "Maria's own" in table.stdout
    header, *lines = team("bcc-ingest", "--quarantine").stdout.splitlines()  # in a pipe: tab-separated
    rows = {row["from"]: row for row in (dict(zip(header.split("\t"), line.split("\t"))) for line in lines)}
    assert rows["sam.lee@home.example"]["subject"] == "" and rows["maria@northwind.example"]["subject"] == "Maria's own"
    (own,) = team.json("bcc-ingest", "--quarantine", *SAM)
    assert own["subject"] == "Sam's secret"


def test_on_a_team_server_a_users_refused_mail_is_theirs_alone(team, engine):
    """The law of a team server, where the database holds it: a message refused under Sam's address is
    Sam's, listed and released by him only, and admins review what strangers sent. A file's admins
    review everyone's (subjects hidden: the test above)."""
    team.ok("settings", "alt-address", "add", "sam.lee@home.example", *SAM)
    team.ok("settings", "alt-address", "approve", "sam.lee@home.example")
    two_froms = [("From", "Sam <sam.lee@home.example>")]
    _, sams, _ = bcc.ingest(team, bcc.mail(frm="Sam <sam.lee@home.example>", subject="Sam's secret", extra=two_froms))
    _, strangers, _ = bcc.ingest(team, refused(1))
    seen_by_maria = [h["id"] for h in team.json("bcc-ingest", "--quarantine")]
    assert [h["subject"] for h in team.json("bcc-ingest", "--quarantine", *SAM)] == ["Sam's secret"]
    if engine == "sqlite":
        assert seen_by_maria == [sams["quarantine_id"], strangers["quarantine_id"]]
        return
    assert seen_by_maria == [strangers["quarantine_id"]]
    assert team("bcc-ingest", "--release", str(sams["quarantine_id"])).exit_code == 4
    assert team("bcc-ingest", "--discard", str(sams["quarantine_id"])).exit_code == 4
    assert team.json("bcc-ingest", "--release", str(sams["quarantine_id"]), *SAM)["status"] == "stored"
