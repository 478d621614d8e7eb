"""Smart BCC never refuses or loses a message for what is in it: every message ends stored, duplicate
or quarantined with a reason, piped (`--mta` too) or read from files. Exit 75 is for the machine only."""

from __future__ import annotations

import json
import mailbox
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import rawdb
from oddmail import ADDRESS_CLASSES, CAPTURE, OWN, POISON_PLACES, POISON_WORDS, STRANGER, UTF7_SURROGATE, mail, poison

pytestmark = pytest.mark.both_engines

SAMPLE = Path(__file__).parent / "data" / "realmail-sample.mbox"
ENDED = {"stored", "duplicate", "quarantined"}


@pytest.fixture
def team(company):
    company.ok("settings", "set", "bcc-address", CAPTURE)
    return company


def ingest(cli, raw: bytes, *args: str):
    result = cli("bcc-ingest", "--json", *args, input=raw)
    return result.exit_code, only(json.loads(result.stdout)) if result.stdout.strip() else None, result.stderr


def only(report: list) -> dict:
    """The outcome of the one message on stdin: `bcc-ingest --json` is an array whatever the input."""
    assert isinstance(report, list) and len(report) == 1, report
    return report[0]


def pdmail(*args: str, stdin: bytes = b""):
    """The real command in its own process, as a mail server's pipe starts it."""
    done = subprocess.run(
        [sys.executable, "-m", "pdmail", *args], input=stdin, capture_output=True, env=dict(os.environ), timeout=120
    )
    return done.returncode, done.stdout.decode(), done.stderr.decode()


def held(db_path) -> list:
    return rawdb.rows(
        db_path,
        "SELECT q.*, r.data FROM quarantine q LEFT JOIN raw_messages r ON r.sha256 = q.raw_sha256 ORDER BY q.id",
    )


def write_files(folder: Path, messages: list[bytes]) -> list[str]:
    folder.mkdir()
    paths = []
    for i, raw in enumerate(messages):
        path = folder / f"{i:02}.eml"
        path.write_bytes(raw)
        paths.append(str(path))
    return paths


def outcomes_of(stdout: str) -> list[dict]:
    data = json.loads(stdout)
    assert isinstance(data, list), data  # one message or many: always an array
    return data


# --- every shape of address real mail carries --------------------------------------------------------


@pytest.mark.parametrize("name, to, shown, contact", ADDRESS_CLASSES, ids=[c[0] for c in ADDRESS_CLASSES])
def test_any_address_shape_is_stored_and_makes_a_contact_only_of_an_address(team, name, to, shown, contact):
    code, out, err = ingest(team, mail(to=to, subject="Pricing"))
    assert (code, out["status"]) == (0, "stored"), err
    email = team.json("show", str(out["id"]))
    assert [a["email"] for a in email["to"]] == [shown]
    emails = {e for c in team.json("contact", "list") for e in c["emails"]}
    if contact:
        assert shown in emails and email["contacts"] != []
        assert team.json("contact", "show", str(email["contacts"][0]))["emails"] == [shown]
        assert err == ""
    else:  # kept as written, matches no one, and the skipped contact is said
        assert emails == set() and email["contacts"] == []
        assert err.startswith("Warning: -: no contact created for") and "not an email address" in err


def test_text_that_is_no_address_is_shown_searchable_and_exported_byte_exact(team, tmp_path):
    raw = mail(to="Brian <brian.r.vassigh@accenture.com@enron>, @mailman.enron.com", subject="Roadmap")
    _, out, _ = ingest(team, raw)
    assert [a["email"] for a in team.json("show", str(out["id"]))["to"]] == [
        "brian.r.vassigh@accenture.com@enron",
        "@mailman.enron.com",
    ]
    assert [e["id"] for e in team.json("search", "to:brian.r.vassigh@accenture.com@enron")] == [out["id"]]
    assert [e["id"] for e in team.json("search", "mailman.enron.com")] == [out["id"]]
    team.ok("export", "--format", "mbox", "--output", str(tmp_path / "out.mbox"))
    (exported,) = mailbox.mbox(str(tmp_path / "out.mbox"))
    assert exported.as_bytes().replace(b"\n", b"\r\n") == raw


def test_text_that_is_no_address_joins_no_threads(team):
    _, first, _ = ingest(team, mail(to="Undisclosed recipients, @list.example", mid="<u1@n>", subject="Plan"))
    _, second, _ = ingest(
        team,
        mail(to="Undisclosed recipients, @list.example", mid="<u2@n>", subject="Re: Plan", body="Another plan\r\n"),
    )
    assert team.json("show", str(first["id"]))["thread_id"] != team.json("show", str(second["id"]))["thread_id"]
    _, third, _ = ingest(team, mail(to="Undisclosed recipients, ada@acme.example", mid="<u3@n>", subject="Plan"))
    _, fourth, _ = ingest(team, mail(to="ada@acme.example", mid="<u4@n>", subject="Re: Plan", body="Yes\r\n"))
    assert team.json("show", str(third["id"]))["thread_id"] == team.json("show", str(fourth["id"]))["thread_id"]


def test_every_address_shape_through_files_and_the_mail_server_pipe(team, tmp_path, db_path):
    own = [mail(to=to, mid=f"<a{i}@northwind.example>") for i, (_, to, _, _) in enumerate(ADDRESS_CLASSES)]
    foreign = [mail(frm=to, mid=f"<f{i}@elsewhere.example>") for i, (_, to, _, _) in enumerate(ADDRESS_CLASSES)]
    code, out, err = pdmail("bcc-ingest", "--json", *write_files(tmp_path / "own", own))
    assert code == 0, err
    assert {o["status"] for o in outcomes_of(out)} == {"stored"}
    code, out, err = pdmail("bcc-ingest", "--json", *write_files(tmp_path / "foreign", foreign))
    assert code == 3, err
    assert {o["status"] for o in outcomes_of(out)} == {"quarantined"}
    for raw in own + foreign:
        code, out, err = pdmail("bcc-ingest", "--mta", "--json", stdin=raw)
        assert code == 0, err
        assert only(json.loads(out))["status"] in ("duplicate", "quarantined")
    assert len(held(db_path)) == len(foreign)  # the quarantine holds each message once, however often refused


def test_a_login_address_follows_the_same_rules(cli):
    cli.ok("init", "--name", "Alice", "--email", "alice@localhost", "--company", "Intranet")
    cli.ok("user", "add", '"bo lee"@intern', "--name", "Bo")
    code, out, err = ingest(cli, mail(frm="Alice <alice@localhost>", to="greg@inbucket"))
    assert (code, out["status"]) == (0, "stored"), err
    assert cli.json("show", str(out["id"]))["owner"] == "alice@localhost"
    code, out, err = ingest(cli, mail(frm='Bo <"Bo Lee"@Intern>', mid="<b@intern>"))
    assert (code, out["status"]) == (0, "stored"), err


# --- contacts: made when they can be, never from private mail -----------------------------------------


def test_a_contact_that_cannot_be_made_is_skipped_and_the_mail_stored(team, monkeypatch):
    from pdmail.core.errors import UsageError
    from pdmail.store import crm

    def refuse(*args, **kwargs):
        raise UsageError("contacts are read-only today")

    monkeypatch.setattr(crm, "add_contact", refuse)
    code, out, err = ingest(team, mail(to="Carla <carla@newco.example>"))
    assert (code, out["status"]) == (0, "stored")
    assert "no contact created for carla@newco.example: contacts are read-only today" in err
    code, out, err = ingest(team, mail(to="dan@newco.example", mid="<m2@n>"), "--mta")
    assert (code, out["status"]) == (0, "stored")


def test_private_mail_creates_no_contact(team):
    team.ok("settings", "set", "default-visibility", "private")
    _, private, _ = ingest(team, mail(to="Carla Secret <carla@newco.example>", mid="<p1@n>", subject="Offer"))
    assert team.json("show", str(private["id"]))["visibility"] == "private"
    assert team.json("contact", "list") == []
    # A reply in that private thread stays private and publishes no one either.
    team.ok("settings", "set", "default-visibility", "shared")
    _, reply, _ = ingest(
        team,
        mail(to="Dan Hidden <dan@newco.example>", mid="<p2@n>", subject="Re: Offer", extra=[("In-Reply-To", "<p1@n>")]),
    )
    assert team.json("show", str(reply["id"]))["visibility"] == "private"
    assert team.json("contact", "list") == []
    # Shared mail still makes its contact.
    ingest(team, mail(to="Eve Open <eve@newco.example>", mid="<p3@n>", subject="Other"))
    assert [c["emails"] for c in team.json("contact", "list")] == [["eve@newco.example"]]


# --- poison text: charsets that decode to a lone surrogate or read escapes -----------------------------


POISON_CASES = [(w, c) for w in POISON_PLACES for c in sorted(POISON_WORDS)]


@pytest.mark.parametrize("where, charset", POISON_CASES, ids=[f"{w}-{c}" for w, c in POISON_CASES])
def test_poison_text_from_a_user_is_stored(team, where, charset):
    code, out, err = ingest(team, poison(where, POISON_WORDS[charset]))
    assert (code, out["status"]) == (0, "stored"), err
    shown = team("show", str(out["id"]))
    assert shown.exit_code == 0
    json.dumps(team.json("show", str(out["id"]))).encode("utf-8")


@pytest.mark.parametrize("where", ["subject", "display name", "attachment name", "body"])
def test_poison_text_from_an_outsider_is_quarantined(team, where, db_path):
    raw = poison(where, UTF7_SURROGATE if where != "body" else POISON_WORDS["unicode_escape"], frm=STRANGER)
    code, out, err = ingest(team, raw)
    assert (code, out["status"]) == (3, "quarantined"), err
    (item,) = team.json("bcc-ingest", "--quarantine")
    assert item["from"] == "eve@elsewhere.example" and "not allowed" in item["reason"]
    assert held(db_path)[0]["data"] == raw


def test_poison_messages_through_files_and_the_mail_server_pipe(team, tmp_path, db_path):
    own = [poison(w, POISON_WORDS[c], mid=f"<o-{i}@n>") for i, (w, c) in enumerate(POISON_CASES)]
    foreign = [poison(w, POISON_WORDS[c], frm=STRANGER, mid=f"<f-{i}@n>") for i, (w, c) in enumerate(POISON_CASES)]
    code, out, err = pdmail("bcc-ingest", "--json", *write_files(tmp_path / "own", own))
    assert code == 0, err
    # Display and file names are not part of a message's identity: two cases differ only there.
    assert {o["status"] for o in outcomes_of(out)} == {"stored", "duplicate"}
    code, out, err = pdmail("bcc-ingest", "--json", *write_files(tmp_path / "foreign", foreign))
    assert code == 3, err
    assert len(held(db_path)) == len(foreign)
    fresh = [poison(w, POISON_WORDS[c], mid=f"<n-{i}@n>") for i, (w, c) in enumerate(POISON_CASES)]
    for raw in fresh + foreign:
        code, out, err = pdmail("bcc-ingest", "--mta", stdin=raw)
        assert code == 0, err


def test_a_file_name_or_recipient_in_no_charset_is_no_reason_to_lose_mail(team, tmp_path, db_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "caf\udce9.eml").write_bytes(mail(frm=STRANGER))  # the name's byte 0xE9 is not UTF-8
    code, out, err = pdmail("bcc-ingest", "--json", str(folder))
    assert code == 3, err
    assert outcomes_of(out)[0]["status"] == "quarantined"
    done = subprocess.run(
        [sys.executable, "-m", "pdmail", "bcc-ingest", "--mta", b"--recipient=caf\xe9@bcc.example"],
        input=mail(frm=STRANGER, mid="<r@n>"),
        capture_output=True,
        env=dict(os.environ),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert [r["recipient"] for r in held(db_path)] == [None, "caf\ufffd@bcc.example"]


# --- whatever fails while storing a message ends in the quarantine ------------------------------------


def _fail_on_insert(monkeypatch, exc: Exception) -> None:
    from pdmail.store import emails

    def insert_email(*args, **kwargs):
        raise exc

    monkeypatch.setattr(emails, "insert_email", insert_email)


def test_a_message_that_cannot_be_stored_is_quarantined_with_the_reason(team, monkeypatch, db_path):
    _fail_on_insert(monkeypatch, ValueError("no room for this one"))
    code, out, _err = ingest(team, mail())
    assert (code, out["status"]) == (3, "quarantined")
    assert out["reason"] == "could not be stored: ValueError: no room for this one"
    (item,) = team.json("bcc-ingest", "--quarantine")
    assert (item["from"], item["subject"]) == ("maria@northwind.example", "Quote")
    code, out, _ = ingest(team, mail(mid="<m2@n>"), "--mta")
    assert (code, out["status"]) == (0, "quarantined")
    assert [r["data"] for r in held(db_path)] == [mail(), mail(mid="<m2@n>")]
    assert team.json("inbox", "--folder", "all") == []


def test_when_even_listing_it_fails_the_raw_bytes_are_quarantined(team, monkeypatch, db_path):
    from pdmail.capture import save as capture

    def unreadable(parsed):
        raise KeyError("subject")

    _fail_on_insert(monkeypatch, ValueError("no room"))
    monkeypatch.setattr(capture, "held_fields", unreadable)
    code, out, _ = ingest(team, mail(), "--mta")
    assert (code, out["status"], out["reason"]) == (0, "quarantined", "could not be stored: ValueError")
    (row,) = held(db_path)
    assert (row["from_email"], row["subject"], row["data"]) == (None, None, mail())


def test_files_that_cannot_be_stored_are_quarantined_too(team, monkeypatch, tmp_path, db_path):
    _fail_on_insert(monkeypatch, ValueError("no room"))
    paths = write_files(tmp_path / "in", [mail(mid=f"<m{i}@n>") for i in range(3)])
    result = team("bcc-ingest", "--json", *paths)
    assert result.exit_code == 3
    assert [o["status"] for o in json.loads(result.stdout)] == ["quarantined"] * 3
    assert len(held(db_path)) == 3


def _disk_error(engine: str) -> Exception:
    """What the engine's driver raises when the disk under the database fails."""
    if engine == "postgres":
        import psycopg

        return psycopg.errors.DiskFull("could not extend file: No space left on device")
    return sqlite3.OperationalError("disk I/O error")


@pytest.mark.parametrize("failure", ["database", "file system"])
def test_a_failing_machine_makes_the_mail_server_retry(team, monkeypatch, db_path, engine, failure):
    exc = _disk_error(engine) if failure == "database" else OSError(28, "No space left on device")
    _fail_on_insert(monkeypatch, exc)
    result = team("bcc-ingest", "--mta", input=mail())
    assert result.exit_code == 75
    assert held(db_path) == []


# --- real mail ---------------------------------------------------------------------------------------


def _as_sent_by_the_user(raw: bytes) -> bytes:
    """The message with its From (and Sender) rewritten to the user, as if she had sent it."""
    head, sep, body = raw.partition(b"\n\n")
    head = re.sub(rb"(?im)^(from|sender):.*(?:\r?\n[ \t].*)*", b"From: " + OWN.encode(), head, count=1)
    head = re.sub(rb"(?im)^sender:.*(?:\r?\n[ \t].*)*\r?\n?", b"", head)
    return head + sep + body


def _sample() -> list[bytes]:
    from pdmail.capture.inputs import expand

    return [item.read() for item in expand([str(SAMPLE)])]


def test_real_mail_as_received_is_quarantined_each_with_a_reason(team, db_path):
    code, out, err = pdmail("bcc-ingest", "--json", str(SAMPLE))
    assert code == 3, err
    outcomes = outcomes_of(out)
    assert len(outcomes) == len(_sample()) >= 30
    assert all(o["status"] == "quarantined" and o["reason"] for o in outcomes)
    assert len(held(db_path)) == len(outcomes)


def test_real_mail_sent_by_the_user_is_stored_from_files_and_the_pipe(team, tmp_path):
    messages = [_as_sent_by_the_user(raw) for raw in _sample()]
    code, out, err = pdmail("bcc-ingest", "--json", *write_files(tmp_path / "own", messages))
    assert code == 0, err
    statuses = [o["status"] for o in outcomes_of(out)]
    assert set(statuses) <= {"stored", "duplicate"} and statuses.count("stored") >= 30
    for raw in messages[:10]:
        code, out, err = pdmail("bcc-ingest", "--mta", "--json", stdin=raw)
        assert code == 0 and only(json.loads(out))["status"] == "duplicate", err


def test_real_mail_through_the_pipe_ends_stored_or_quarantined(team):
    for raw in _sample()[::3]:
        code, out, err = pdmail("bcc-ingest", "--mta", "--json", stdin=raw)
        assert code == 0, err
        assert only(json.loads(out))["status"] in ENDED
