"""`pdmail link`, `pdmail explain` and `pdmail contact add-address` from the command line."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time

import factories as f
import pytest
import rawdb

from pdmail.store import open_db
from pdmail.store import users as users_store

pytestmark = pytest.mark.both_engines

MARIA = "maria@northwind.example"
SAM = "sam@northwind.example"
JANE = "jane@cust.example"
EMAIL_KEYS = f.EMAIL_JSON_KEYS


def capture(db_path, owner=MARIA, **fields) -> int:
    db = open_db(db_path)
    try:
        return f.email(db, users_store.find_user(db, owner), **fields)
    finally:
        db.close()


@pytest.fixture
def crm(company, db_path):
    """Jane with two open deals (1, 2) and a won one (3); Ken with none; a thread of two from Jane."""
    c = company
    c.ok("contact", "add", "Jane Doe", "--email", JANE)  # contact 1
    c.ok("contact", "add", "Ken Ito", "--email", "ken@cust.example")  # contact 2
    c.ok("deal", "add", "Rollout", "--contact", "1", "--value", "1200")
    c.ok("deal", "add", "Pilot", "--contact", "1")
    c.ok("deal", "add", "Old", "--contact", "1", "--status", "won")
    first = capture(db_path, frm=JANE, to=(MARIA,), mid="q1", subject="Quote")
    reply = capture(
        db_path, frm=f"Maria <{MARIA}>", to=(JANE,), mid="q2", in_reply_to="q1", references=("q1",), subject="Re: Quote"
    )
    return c, first, reply


def show(cli, email_id, user=MARIA):
    return cli.json("show", str(email_id), "--user", user)


# --- link ID ------------------------------------------------------------------------------------


def test_deal_by_hand_applies_to_the_thread_and_prints_the_email(crm):
    cli, first, reply = crm
    assert show(cli, first)["needs_deal"] is True
    data = cli.json("link", str(reply), "--deal", "2")
    assert set(data) >= EMAIL_KEYS and data["id"] == reply and data["deal"] == 2 and data["needs_deal"] is False
    assert show(cli, first)["deal"] == 2
    why = cli.json("explain", str(first))
    assert why["manual"]["deal"] is True and why["thread"]["manual"] is True
    assert why["history"][-1]["action"] == "deal" and why["history"][-1]["to"] == "deal 2 (by hand)"


def test_a_won_deal_may_be_chosen_by_hand(crm):
    cli, first, _ = crm
    assert cli.json("link", str(first), "--deal", "3")["deal"] == 3


def test_none_by_hand(crm):
    cli, first, reply = crm
    data = cli.json("link", str(first), "--none")
    assert data["deal"] is None and data["needs_deal"] is False
    assert show(cli, reply)["needs_deal"] is False
    assert cli.json("explain", str(reply))["deal_rule"] == "thread-no-deal-manual"


def test_contacts_by_hand_are_exactly_those_given(crm):
    cli, first, _ = crm
    data = cli.json("link", str(first), "--contact", "2", "--contact", "1")
    assert data["contacts"] == [1, 2]
    explained = cli.json("explain", str(first))
    assert explained["manual"]["contacts"] is True
    assert {c["id"] for c in explained["contacts"] if c["manual"]} == {1, 2}


def test_split_moves_the_email_and_its_replies(crm, db_path):
    cli, first, reply = crm
    answer = capture(
        db_path, frm=JANE, to=(MARIA,), mid="q3", in_reply_to="q2", references=("q1", "q2"), subject="Re: Quote"
    )
    old_thread = show(cli, first)["thread_id"]
    data = cli.json("link", str(reply), "--split")
    assert data["thread_id"] != old_thread
    assert show(cli, answer)["thread_id"] == data["thread_id"]
    assert show(cli, first)["thread_id"] == old_thread
    assert show(cli, first)["thread"] == [first]


def test_split_then_deal_in_one_call(crm):
    cli, first, reply = crm
    data = cli.json("link", str(reply), "--split", "--deal", "1")
    assert data["deal"] == 1 and show(cli, first)["deal"] is None


@pytest.mark.parametrize(
    "args,code,message",
    [
        (["1", "--deal", "1", "--none"], 2, "not both"),
        (["--deal", "1"], 2, "give the email's ID"),
        (["1"], 2, "say what to link"),
        (["--dry-run"], 2, "--dry-run goes with --rescan"),
        (["1", "--rescan"], 2, "takes no ID"),
        (["999", "--deal", "1"], 4, "email 999 not found"),
        (["1", "--deal", "999"], 4, "deal 999 not found"),
        (["1", "--contact", "999"], 4, "contact 999 not found"),
        (["1", "--split"], 2, "whole thread"),
        (["1", "--accept", "--reject"], 2, "not both"),
        (["1", "--accept", "--deal", "1"], 2, "go alone"),
        (["1", "--review"], 2, "takes no ID"),
        (["--review", "--rescan"], 2, "takes no ID"),
        (["999", "--accept"], 4, "email 999 not found"),
    ],
)
def test_errors_and_exit_codes(crm, args, code, message):
    cli, _, _ = crm
    result = cli("link", *args)
    assert result.exit_code == code, result.stderr
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1


# --- privacy ------------------------------------------------------------------------------------


def test_another_user_cannot_link_a_shared_email(crm):
    cli, first, _ = crm
    assert cli("show", str(first), "--user", SAM).exit_code == 0  # Sam may read it, not change it
    result = cli("link", str(first), "--deal", "1", "--user", SAM)
    assert result.exit_code == 4
    assert result.stderr == f"Error: only its owner ({MARIA}) may change the links of email {first}\n"
    assert show(cli, first)["deal"] is None


def test_another_user_cannot_explain_a_private_email(crm):
    cli, first, _ = crm
    cli.ok("share", str(first), "--private")
    for user in (SAM, "ines@northwind.example"):  # an admin is no exception
        result = cli("explain", str(first), "--user", user)
        assert result.exit_code == 4 and result.stderr == f"Error: email {first} not found\n"
    missing = cli("explain", "999", "--user", SAM)
    assert missing.exit_code == 4 and missing.stderr == "Error: email 999 not found\n"


def test_explain_says_who_sees_a_shared_linked_email(crm):
    cli, first, _ = crm
    data = cli.json("explain", str(first), "--user", SAM)
    assert data["visibility"]["viewer"] == {"user": SAM, "can_view": True, "why": "shared and linked to a contact"}
    seen = {u["user"]: u for u in data["visibility"]["users"]}
    assert seen[MARIA]["why"].startswith("owner") and seen[SAM]["can_view"]
    cli.ok("share", str(first), "--private")
    seen = {u["user"]: u["can_view"] for u in cli.json("explain", str(first))["visibility"]["users"]}
    assert seen == {MARIA: True, SAM: False, "ines@northwind.example": False}


def test_explain_trace_in_words(crm, db_path):
    cli, first, _ = crm
    data = cli.json("explain", str(first))
    rules = [step["rule"] for step in data["trace"]]
    assert rules == ["customer-side", "contact-match", "deal-several-open"]
    assert data["contacts"][0] == {
        "id": 1,
        "name": "Jane Doe",
        "address": JANE,
        "rule": "contact-match",
        "reason": "jane@cust.example belongs to contact 1 (Jane Doe).",
        "manual": False,
        "proposed": False,
        "caused_by": None,
        "caused_at_utc": None,
    }
    assert data["needs_deal"] and [c["id"] for c in data["candidates"]] == [1, 2]
    assert any("needs a deal" in n for n in data["notes"])
    news = capture(
        db_path, frm="news@cust.example", to=(MARIA,), subject="News", headers=(("List-Id", "<news.cust.example>"),)
    )
    assert cli.json("explain", str(news))["verdict"] == "automated"
    human = cli.ok("explain", str(first)).stdout
    assert "deal-several-open" in human and "Jane Doe" in human and "sees it" in human


# --- the chooser and the list -------------------------------------------------------------------


def test_off_a_terminal_link_lists_and_never_asks(crm):
    cli, first, reply = crm
    result = cli.ok("link", input="1\n")
    assert "Deal number" not in result.stdout + result.stderr
    assert str(reply) in result.stdout and "Rollout" in result.stdout
    data = cli.json("link")
    assert [e["id"] for e in data] == [reply, first]  # newest first
    assert [c["id"] for c in data[0]["candidates"]] == [1, 2] and set(data[0]) >= EMAIL_KEYS
    assert show(cli, first)["needs_deal"] is True  # nothing was chosen


def test_chooser_saves_each_answer(crm, monkeypatch):
    from pdmail.cli import link as link_cli

    cli, first, reply = crm
    monkeypatch.setattr(link_cli, "on_terminal", lambda: True)
    result = cli.ok("link", input="7\n2\n")  # 7 is not a choice: asked again
    assert "Saved: email" in result.stdout
    assert show(cli, reply)["deal"] == 2 and show(cli, first)["deal"] == 2


@pytest.mark.parametrize("answers,deal,needs", [("n\n", None, False), ("s\ns\n", None, True), ("q\n", None, True)])
def test_chooser_none_skip_quit(crm, monkeypatch, answers, deal, needs):
    from pdmail.cli import link as link_cli

    cli, first, _ = crm
    monkeypatch.setattr(link_cli, "on_terminal", lambda: True)
    cli.ok("link", input=answers)
    assert show(cli, first)["deal"] == deal and show(cli, first)["needs_deal"] is needs


def test_chooser_on_a_real_terminal(crm, db_path):
    cli, first, reply = crm
    env = dict(os.environ, PDMAIL_DB=str(db_path), COLUMNS="120", TERM="dumb")
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pdmail", "link"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        close_fds=True,
    )
    os.close(follower)
    seen = b""

    def read_until(text: bytes) -> None:
        nonlocal seen
        deadline = time.monotonic() + 30
        while text not in seen:
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} in {seen[-500:]!r}")
            ready, _, _ = select.select([leader], [], [], 1)
            if ready:
                try:
                    seen += os.read(leader, 4096)
                except OSError:
                    break

    try:
        read_until(b"Deal number")
        os.write(leader, b"1\n")
        read_until(b"Saved: email")
        read_until(b"Deal number")
        os.write(leader, b"q\n")
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(leader)
    assert b"Rollout" in seen
    assert show(cli, reply)["deal"] == 1 and show(cli, first)["deal"] == 1


def test_link_id_without_options_on_a_terminal_asks_about_that_email(crm, monkeypatch):
    from pdmail.cli import link as link_cli

    cli, first, _ = crm
    monkeypatch.setattr(link_cli, "on_terminal", lambda: True)
    cli.ok("link", str(first), input="1\n")
    assert show(cli, first)["deal"] == 1


# --- rescan and retroactive commands ------------------------------------------------------------


def test_rescan_dry_run_then_rescan(company, db_path):
    cli = company
    mail = capture(db_path, frm=JANE, to=(MARIA,))
    db = open_db(db_path)
    f.contact(db, "Jane Doe", JANE, relink=False)
    db.close()
    preview = cli.json("link", "--rescan", "--dry-run")
    assert preview["dry_run"] is True and preview["changed"] == 1
    assert preview["changes"][0]["id"] == mail and preview["changes"][0]["after"]["contacts"] == [1]
    assert show(cli, mail)["contacts"] == []
    human = cli.ok("link", "--rescan", "--dry-run").stdout
    assert f"email {mail}: contacts [] → [1]" in human and "nothing was written" in human
    done = cli.json("link", "--rescan")
    assert done["dry_run"] is False and done["changed"] == 1
    assert show(cli, mail)["contacts"] == [1]
    assert cli.json("link", "--rescan")["changed"] == 0


def test_contact_add_address_links_earlier_mail(company, db_path):
    cli = company
    cli.ok("contact", "add", "Jane Doe", "--email", JANE)
    mail = capture(db_path, frm="jane@home.example", to=(MARIA,))
    data = cli.json("contact", "add-address", "1", "Jane@Home.example")
    assert data["emails"] == [JANE, "jane@home.example"]
    assert show(cli, mail)["contacts"] == [1]
    assert cli("contact", "add-address", "9", "x@y.example").exit_code == 4
    assert cli("contact", "add-address", "1", "not-an-address").exit_code == 2


def test_deal_commands_relink(company, db_path):
    cli = company
    cli.ok("contact", "add", "Jane Doe", "--email", JANE)
    mail = capture(db_path, frm=JANE, to=(MARIA,))
    cli.ok("deal", "add", "Rollout", "--contact", "1")
    assert show(cli, mail)["deal"] == 1
    cli.ok("deal", "add", "Pilot", "--contact", "1")
    other = capture(db_path, frm=JANE, to=(MARIA,), subject="Another")
    assert show(cli, other)["needs_deal"] is True
    cli.ok("deal", "set-status", "2", "lost")
    assert show(cli, other)["deal"] == 1


def test_rescan_json_is_one_document(company, db_path):
    cli = company
    capture(db_path, frm=JANE, to=(MARIA,))
    result = cli.ok("link", "--rescan", "--json")
    assert set(json.loads(result.stdout)) == {
        "dry_run",
        "threads",
        "emails",
        "changed",
        "reworded",
        "changes",
        "more_changes",
    }


def test_explain_tells_a_colleague_only_of_the_thread_mail_they_may_see(crm, db_path):
    """An internal note in a customer thread links to nobody, so a colleague does not see it: neither
    the thread's size nor its history may give it away."""
    cli, first, _reply = crm
    note = capture(
        db_path,
        frm=f"Maria <{MARIA}>",
        to=("ines@northwind.example",),
        mid="q3",
        in_reply_to="q1",
        references=("q1",),
        subject="Re: Quote",
    )
    cli.ok("link", str(note), "--none")
    own = cli.json("explain", str(first))
    assert own["thread"]["emails"] == 3
    assert note in {entry["email"] for entry in own["history"]}
    seen = cli.json("explain", str(first), "--user", SAM)
    assert seen["thread"]["emails"] == 2
    assert note not in {entry["email"] for entry in seen["history"]}
    assert cli("show", str(note), "--user", SAM).exit_code == 4


# --- the chooser takes the deal's own number --------------------------------------------------------


class Terminal:
    """`pdmail ARGS` on a real pseudo-terminal: what a person sees and types."""

    def __init__(self, db_path, *args: str) -> None:
        env = dict(os.environ, PDMAIL_DB=str(db_path), COLUMNS="120", TERM="dumb")
        self.leader, follower = pty.openpty()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pdmail", *args],
            stdin=follower,
            stdout=follower,
            stderr=follower,
            env=env,
            close_fds=True,
        )
        os.close(follower)
        self.seen = b""

    def read_until(self, text: bytes) -> bytes:
        """Everything printed from now until ``text`` (included)."""
        start = len(self.seen)
        deadline = time.monotonic() + 30
        while text not in self.seen[start:]:
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} in {self.seen[-800:]!r}")
            ready, _, _ = select.select([self.leader], [], [], 1)
            if ready:
                try:
                    self.seen += os.read(self.leader, 4096)
                except OSError:
                    break
        return self.seen[start:]

    def type(self, line: str) -> None:
        os.write(self.leader, line.encode() + b"\n")

    def close(self) -> int:
        try:
            return self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            os.close(self.leader)


@pytest.fixture
def ana(company, db_path):
    """Ana's open deals are 2 ("D2") and 6 ("Ana new"): rows 1 and 2 of the chooser, numbers 2 and 6."""
    c = company
    c.ok("contact", "add", "Ana Diaz", "--email", "ana@acme.example")  # contact 1
    c.ok("contact", "add", "Ken Ito", "--email", "ken@cust.example")  # contact 2
    c.ok("deal", "add", "K1", "--contact", "2")  # deal 1
    c.ok("deal", "add", "D2", "--contact", "1")  # deal 2
    for title in ("K3", "K4", "K5"):
        c.ok("deal", "add", title, "--contact", "2")  # deals 3-5
    c.ok("deal", "add", "Ana new", "--contact", "1")  # deal 6
    mail = capture(db_path, frm="ana@acme.example", to=(MARIA,), subject="Order")
    assert show(c, mail)["needs_deal"] is True
    return c, mail


def test_chooser_takes_the_deal_number_as_shown(ana, db_path):
    cli, mail = ana
    term = Terminal(db_path, "link")
    try:
        screen = term.read_until(b"Deal number")
        assert b"D2 (#2)" in screen and b"Ana new (#6)" in screen
        term.type("2")  # the number shown next to "D2"; it is also the second row
        saved = term.read_until(b"saved")
        assert b"Saved: email" in saved and b"deal 2 (D2)" in saved
        assert term.close() == 0
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
    assert show(cli, mail)["deal"] == 2


@pytest.mark.parametrize("answer", ["1", "2 6", "#", "2x", "-2", "06x"])
def test_chooser_refuses_what_is_not_one_deal_number(ana, monkeypatch, answer):
    from pdmail.cli import link as link_cli

    cli, mail = ana
    monkeypatch.setattr(link_cli, "on_terminal", lambda: True)
    result = cli.ok("link", input=f"{answer}\n#6\n")
    assert "not one of the deals shown" in result.stdout
    assert "deal 6 (Ana new)" in result.stdout
    assert show(cli, mail)["deal"] == 6


# --- re-linking keeps its promises ---------------------------------------------------------------


def test_rescan_with_auto_link_deals_off_keeps_mail_on_its_open_deal(company, db_path):
    """The setting is about new mail: a re-link never takes a deal's email away."""
    cli = company
    cli.ok("contact", "add", "Jane Doe", "--email", JANE)
    cli.ok("deal", "add", "Rollout", "--contact", "1")
    mail = capture(db_path, frm=JANE, to=(MARIA,), mid="k1")
    assert show(cli, mail)["deal"] == 1
    cli.ok("settings", "set", "auto-link-deals", "off")

    assert cli.json("link", "--rescan")["changed"] == 0
    why = cli.json("explain", str(mail))
    assert why["deal"]["id"] == 1 and why["thread"]["deal"] == 1
    again = cli.json("link", "--rescan")
    assert (again["changed"], again["reworded"]) == (0, 0)
    reply = capture(db_path, frm=JANE, to=(MARIA,), mid="k2", in_reply_to="k1", subject="Re: Quote")
    assert show(cli, reply)["deal"] is None  # new mail: the setting applies
    assert show(cli, mail)["deal"] == 1


def test_rescan_right_after_a_rescan_changes_nothing_with_contacts_chosen_by_hand(crm):
    cli, first, _ = crm
    cli.ok("link", str(first), "--contact", "2")
    for _ in range(2):
        report = cli.json("link", "--rescan")
        assert (report["changed"], report["reworded"]) == (0, 0), report
    preview = cli.ok("link", "--rescan", "--dry-run").stdout
    assert "nothing to do" in preview
    assert show(cli, first)["contacts"] == [2]


def test_rescan_counts_only_what_the_caller_may_see(company, db_path):
    """Sam's private mail, re-linked by an admin's rescan, is in nobody's counts but Sam's."""
    cli = company
    cli.ok("settings", "set", "default-visibility", "private", "--user", SAM)
    private = capture(db_path, owner=SAM, frm=JANE, to=(SAM,), subject="Private")
    own = capture(db_path, frm="ken@cust.example", to=(MARIA,), subject="Mine")
    db = open_db(db_path)
    f.contact(db, "Jane Doe", JANE, relink=False)
    f.contact(db, "Ken Ito", "ken@cust.example", relink=False)
    db.close()

    admin = cli.json("link", "--rescan", "--dry-run")
    assert admin["changed"] == 1 and [c["id"] for c in admin["changes"]] == [own]
    assert admin["emails"] == 1  # Sam's private email is not even counted
    sam = cli.json("link", "--rescan", "--dry-run", "--user", SAM)
    assert sam["changed"] == 1 and [c["id"] for c in sam["changes"]] == [private] and sam["emails"] == 1
    lee = cli.ok("user", "add", "lee@northwind.example", "--name", "Lee")
    assert lee.exit_code == 0
    nobody = cli.json("link", "--rescan", "--dry-run", "--user", "lee@northwind.example")
    assert (nobody["emails"], nobody["changed"], nobody["changes"]) == (0, 0, [])


# --- every rule change that re-links takes --dry-run ------------------------------------------------


@pytest.fixture
def rules(company, db_path, tmp_path):
    """Jane (contact 1, open deal 1), Bob (contact 2), Ivy (contact 3, lost deal 2), and mail from Jane,
    Ivy, Maria's home address (no contact: a contact's address cannot be claimed as a user's) and two
    addresses no contact has yet."""
    c = company
    c.ok("contact", "add", "Jane Doe", "--email", JANE)
    c.ok("contact", "add", "Bob Stone", "--email", "bob@stone.example")
    c.ok("contact", "add", "Ivy Park", "--email", "ivy@ivy.example")
    c.ok("deal", "add", "Rollout", "--contact", "1")
    c.ok("deal", "add", "Old order", "--contact", "3", "--status", "lost")
    mails = {
        "jane": capture(db_path, frm=JANE, to=(MARIA,), subject="Jane"),
        "home": capture(db_path, frm="maria@home.example", to=(MARIA, JANE), subject="Home"),
        "ivy": capture(db_path, frm="ivy@ivy.example", to=(MARIA,), subject="Ivy"),
        "zoe": capture(db_path, frm="zoe@new.example", to=(MARIA,), subject="Zoe"),
        "jane_home": capture(db_path, frm="jane@home.example", to=(MARIA,), subject="Jane at home"),
    }
    (tmp_path / "contacts.csv").write_text("Name,Email\nZoe,zoe@new.example\n")
    (tmp_path / "deals.csv").write_text("Title,Person\nIvy again,ivy@ivy.example\n")
    return c, mails, tmp_path


# (setup commands, the command, the email whose links it would change)
DRY_RUNS = {
    "contact add": ([], ["contact", "add", "Zoe", "--email", "zoe@new.example"], "zoe"),
    "contact add-address": ([], ["contact", "add-address", "1", "jane@home.example"], "jane_home"),
    "contact import": ([], ["contact", "import", "{dir}/contacts.csv"], "zoe"),
    "contact remove": ([], ["contact", "remove", "1"], "jane"),
    "deal add": ([], ["deal", "add", "Ivy again", "--contact", "3"], "ivy"),
    "deal set-status": ([], ["deal", "set-status", "2", "open"], "ivy"),
    "deal import": ([], ["deal", "import", "{dir}/deals.csv"], "ivy"),
    "block add": ([], ["settings", "block", "add", JANE], "jane"),
    "block remove": (
        [["settings", "block", "add", "@new.example"]],
        ["settings", "block", "remove", "@new.example"],
        "zoe",
    ),
    "alt-address add": ([], ["settings", "alt-address", "add", "maria@home.example"], "home"),
    "alt-address remove": (
        [["settings", "alt-address", "add", "maria@home.example"]],
        ["settings", "alt-address", "remove", "maria@home.example"],
        "home",
    ),
}


@pytest.mark.parametrize("case", sorted(DRY_RUNS))
def test_every_rule_change_that_relinks_takes_dry_run(rules, db_path, case):
    cli, mails, folder = rules
    setup, command, changed = DRY_RUNS[case]
    for step in setup:
        cli.ok(*step)
    command = [part.replace("{dir}", str(folder)) for part in command]
    before = rawdb.dump(db_path)

    preview = cli.json(*command, "--dry-run")
    assert preview["dry_run"] is True
    assert mails[changed] in [c["id"] for c in preview["relink"]["changes"]]
    human = cli.ok(*command, "--dry-run").stdout
    assert f"email {mails[changed]}:" in human and "nothing was written" in human
    assert rawdb.dump(db_path) == before

    done = cli(*command)  # and the same change for real does what the preview said
    assert done.exit_code == 0, done.stderr
    assert rawdb.dump(db_path) != before


def test_a_setting_takes_dry_run_and_says_nothing_relinks(rules, db_path):
    cli, _, _ = rules
    before = rawdb.dump(db_path)
    data = cli.json("settings", "set", "auto-link-deals", "off", "--dry-run")
    assert data["dry_run"] is True and data["relink"]["changed"] == 0
    assert "nothing to do" in cli.ok("settings", "set", "auto-link-deals", "off", "--dry-run").stdout
    assert rawdb.dump(db_path) == before
