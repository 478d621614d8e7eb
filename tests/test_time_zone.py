"""Times in the user's zone: what the real `pdmail` shows, and how it reads the times people type.

Every time is stored, and printed in JSON, tsv and csv, as UTC; a person reads it at a terminal, and
types it, in the zone of their `time-zone` setting (the system's when they set none). The machine here
runs in UTC (TZ=UTC).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import factories
import pytest
from entrypoint import MARIA, ok, pdmail
from onterminal import on_terminal

from pdmail.core.errors import UsageError
from pdmail.core.time_phrases import cutoff, local_day, parse_when, read_time

MADRID = ZoneInfo("Europe/Madrid")
NOW = datetime(2026, 3, 5, 22, 30, tzinfo=UTC)  # Thursday; 23:30 in Madrid


@pytest.fixture
def mailbox(db_path):
    """Maria's inbox: an email written at 08:00 Madrid time in winter, one at 09:00 in summer, and one
    written at 00:30 on 7 December in Madrid, which is still 6 December in UTC."""
    db, maria = factories.company(db_path)
    ids = {
        "winter": factories.email(
            db,
            maria,
            frm="ada@acme.example",
            to=[MARIA],
            subject="Winter",
            date=datetime(2026, 12, 7, 7, 0, tzinfo=UTC),
        ),
        "summer": factories.email(
            db, maria, frm="ada@acme.example", to=[MARIA], subject="Summer", date=datetime(2026, 7, 1, 7, 0, tzinfo=UTC)
        ),
        "midnight": factories.email(
            db,
            maria,
            frm="ada@acme.example",
            to=[MARIA],
            subject="Past midnight",
            date=datetime(2026, 12, 6, 23, 30, tzinfo=UTC),
        ),
    }
    db.close()
    return ids


def inbox_ids(*args: str, env: dict | None = None) -> set[int]:
    return {e["id"] for e in json.loads(ok("inbox", "--json", *args, env=env))}


def piped_dates(*args: str) -> list[str]:
    """The date field of each row a listing writes to a pipe (a header line, then tab-separated rows)."""
    header, *lines = ok(*args).splitlines()
    at = header.split("\t").index("date")
    return [line.split("\t")[at] for line in lines]


def screen(*args: str, env: dict | None = None) -> str:
    """What a person sees of ``pdmail ARGS`` at a terminal wide enough for dates with their time."""
    code, shown = on_terminal(*args, env=env, columns=120)
    assert code == 0, shown
    return shown


# --- what is shown ------------------------------------------------------------------------------


def test_the_inbox_shows_times_in_the_users_zone_with_its_daylight_saving_rules(mailbox):
    before = screen("inbox")
    assert "2026-12-07 07:00" in before and "date (UTC)" in before
    ok("settings", "set", "time-zone", "Europe/Madrid")
    shown = screen("inbox")
    assert "2026-12-07 08:00" in shown and "2026-07-01 09:00" in shown  # CET in winter, CEST in summer
    assert "2026-12-07 00:30" in shown
    assert "date (CET/CEST)" in shown
    assert json.loads(ok("inbox", "--json"))[0]["date"] == "2026-12-07T07:00:00Z"  # JSON stays UTC
    assert piped_dates("inbox")[0] == "2026-12-07T07:00:00Z"  # and so does a pipe, for programs


def test_without_a_setting_the_system_zone_is_used(mailbox):
    shown = screen("inbox", env={"TZ": "Europe/Madrid"})
    assert "2026-12-07 08:00" in shown and "2026-07-01 09:00" in shown and "CET/CEST" in shown
    shown = screen("inbox", env={"TZ": "America/New_York"})
    assert "2026-12-07 02:00" in shown and "EST" in shown


def test_show_says_the_zone_of_its_date_and_json_stays_utc(mailbox):
    ok("settings", "set", "time-zone", "Europe/Madrid")
    assert "Date: 2026-12-07 08:00 CET" in ok("show", str(mailbox["winter"]))
    assert "Date: 2026-07-01 09:00 CEST" in ok("show", str(mailbox["summer"]))
    assert json.loads(ok("show", str(mailbox["winter"]), "--json"))["date"] == "2026-12-07T07:00:00Z"


# --- what is read -------------------------------------------------------------------------------


def test_since_and_until_are_read_in_the_users_zone(mailbox):
    assert inbox_ids("--since", "2026-12-07") == {mailbox["winter"]}  # 00:30 in Madrid is the 6th in UTC
    assert inbox_ids("--until", "2026-12-07") == {mailbox["summer"], mailbox["midnight"]}
    ok("settings", "set", "time-zone", "Europe/Madrid")
    assert inbox_ids("--since", "2026-12-07") == {mailbox["winter"], mailbox["midnight"]}
    assert inbox_ids("--until", "2026-12-07") == {mailbox["summer"]}
    assert inbox_ids("--since", "2026-12-07 08:00", "--until", "2026-12-07 08:01") == {mailbox["winter"]}
    assert inbox_ids("--since", "2026-07") == set(mailbox.values())
    assert inbox_ids("--since", "2026-12-07T07:00:00Z") == {mailbox["winter"]}  # a written zone wins


def test_spans_and_words_count_from_now(db_path):
    db, maria = factories.company(db_path)
    now = datetime.now(UTC)
    old = factories.email(db, maria, frm="ada@acme.example", to=[MARIA], date=now - timedelta(days=3))
    new = factories.email(db, maria, frm="ada@acme.example", to=[MARIA], date=now - timedelta(minutes=30))
    db.close()
    assert inbox_ids("--since", "2d") == {new}
    assert inbox_ids("--since", "4 days ago") == {old, new}
    assert inbox_ids("--since", "yesterday") == {new}
    assert inbox_ids("--until", "1h") == {old}
    assert inbox_ids("--since", "90min") == {new}
    code, _, err = pdmail("inbox", "--since", "monday 10:00", "--json")
    assert code == 0, err


@pytest.mark.parametrize(
    "args",
    [
        ["inbox", "--since", "2026-13-45"],
        ["inbox", "--until", "2026-02-30"],
        ["inbox", "--since", "12"],
        ["inbox", "--since", "3m"],
        ["bcc-ingest", "--discard-all", "--older-than", "2026-13-45"],
    ],
)
def test_a_date_that_is_not_on_the_calendar_is_an_error_not_an_empty_list(mailbox, args):
    code, out, err = pdmail(*args)
    assert code == 2 and out == "" and err.startswith("Error: ") and args[-1] in err


def test_send_at_is_read_and_echoed_in_the_users_zone(company, db_path, monkeypatch):
    monkeypatch.setenv("PDMAIL_ZONE_TEST_PASSWORD", "x")
    ok("settings", "set", "time-zone", "Europe/Madrid")
    ok(
        "account", "add", "work", "--address", MARIA, "--imap-host", "imap.northwind.example",
        "--smtp-host", "smtp.northwind.example", "--password-env", "PDMAIL_ZONE_TEST_PASSWORD",
    )  # fmt: skip
    code, _, err = pdmail(
        "send", "--to", "ana@acme.example", "--subject", "Later", "--body", "Hi", "--at", "tomorrow 09:00"
    )
    assert code == 0, err
    [item] = json.loads(ok("outbox", "--json"))
    due = datetime.fromisoformat(item["due_utc"].replace("Z", "+00:00")).astimezone(MADRID)
    assert item["due_utc"].endswith(":00Z") and (due.hour, due.minute) == (9, 0)
    assert due.date() == (datetime.now(MADRID) + timedelta(days=1)).date()
    zone = due.strftime("%Z")
    assert f"Scheduled for {due:%Y-%m-%d} 09:00 {zone} (outbox {item['id']})" in err
    assert "Z UTC" not in err
    header, row = ok("outbox").splitlines()  # a pipe: the time in UTC, as JSON gives it
    assert dict(zip(header.split("\t"), row.split("\t"), strict=True))["due_utc"] == item["due_utc"]
    shown = screen("outbox")
    assert f"{due:%Y-%m-%d} 09:00" in shown and f"due ({zone})" in shown
    code, _, err = pdmail("send", "--to", "ana@acme.example", "--subject", "x", "--body", "x", "--at", "tomorrow")
    assert code == 2 and "gives a day but no time" in err


def test_account_since_takes_the_same_grammar(company, tmp_path):
    box = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True)
    ok("settings", "set", "time-zone", "Pacific/Kiritimati")  # UTC+14: its today is often not UTC's
    added = json.loads(
        ok("account", "add", "home", "--address", MARIA, "--maildir", str(box), "--since", "yesterday", "--json")
    )
    assert added["since"] == (datetime.now(ZoneInfo("Pacific/Kiritimati")) - timedelta(days=1)).date().isoformat()
    code, _, err = pdmail("account", "add", "other", "--address", MARIA, "--maildir", str(box), "--since", "2026-13-45")
    assert code == 2 and "not a date on the calendar" in err


# --- the grammar, against a fixed clock -----------------------------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        ("2026-11-01", "2026-10-31T23:00:00+00:00"),
        ("2026-11-01 09:30", "2026-11-01T08:30:00+00:00"),
        ("2026-11-01 9:30", "2026-11-01T08:30:00+00:00"),
        ("2026-07-01T09:30", "2026-07-01T07:30:00+00:00"),
        ("2026-07-01T09:30:00-05:00", "2026-07-01T14:30:00+00:00"),
        ("2026-11", "2026-10-31T23:00:00+00:00"),
        ("30d", "2026-02-03T22:30:00+00:00"),
        ("12h", "2026-03-05T10:30:00+00:00"),
        ("2w", "2026-02-19T22:30:00+00:00"),
        ("45min", "2026-03-05T21:45:00+00:00"),
        ("2 weeks ago", "2026-02-19T22:30:00+00:00"),
        ("yesterday", "2026-03-03T23:00:00+00:00"),
        ("today", "2026-03-04T23:00:00+00:00"),
        ("monday 10:00", "2026-03-02T09:00:00+00:00"),
        ("monday", "2026-03-01T23:00:00+00:00"),
    ],
)
def test_one_grammar_for_past_times(text, expected):
    assert read_time(text, NOW, "Europe/Madrid", option="--since").isoformat() == expected


def test_the_same_grammar_reaches_forward_for_at_and_needs_a_time_of_day():
    assert parse_when("2h", NOW, "Europe/Madrid").isoformat() == "2026-03-06T00:30:00+00:00"
    assert parse_when("monday 10:00", NOW, "Europe/Madrid").isoformat() == "2026-03-09T09:00:00+00:00"
    with pytest.raises(UsageError, match="no time"):
        parse_when("monday", NOW, "Europe/Madrid")
    with pytest.raises(UsageError, match="has passed"):
        parse_when("2 hours ago", NOW, "Europe/Madrid")
    assert cutoff("2026-03-01", NOW, "Europe/Madrid").isoformat() == "2026-02-28T23:00:00+00:00"
    assert local_day("yesterday", NOW, "Pacific/Kiritimati").isoformat() == "2026-03-05"


@pytest.mark.parametrize("text", ["2026-13-45", "2026-02-30", "2026-13", "12", "3m", "soon", ""])
def test_what_is_no_time_is_an_error(text):
    with pytest.raises(UsageError):
        read_time(text, NOW, "Europe/Madrid", option="--since")
