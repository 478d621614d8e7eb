"""Retroactive linking: every change that re-links stored email, manual choices kept, rescan and dry-run."""

from __future__ import annotations

import factories as f
import pytest

from pdmail.crm import changes as crm_changes
from pdmail.crm import team as user_changes
from pdmail.linking import manual as manual_links
from pdmail.linking import relink
from pdmail.mailbox import actions as mailbox_actions
from pdmail.store import open_db

pytestmark = pytest.mark.both_engines

ME = "maria@northwind.example"
JANE = "jane@cust.example"
KEN = "ken@cust.example"


@pytest.fixture
def world(tmp_path):
    db, maria = f.company(tmp_path / "pdmail.db")
    sam = f.user(db, "sam@northwind.example")
    yield db, maria, sam
    db.close()


def incoming(db, owner, frm=JANE, **kw):
    return f.email(db, owner, frm=frm, to=kw.pop("to", (owner.email,)), **kw)


@pytest.fixture
def spy(monkeypatch):
    """The thread ids each re-link was asked for."""
    calls: list[list[int]] = []
    real = relink.relink_threads

    def recording(db, thread_ids, **kw):
        ids = sorted(set(thread_ids))
        calls.append(ids)
        return real(db, ids, **kw)

    monkeypatch.setattr(relink, "relink_threads", recording)
    return calls


def thread_of(db, email_id):
    return db.scalar("SELECT thread_id FROM emails WHERE id = ?", (email_id,))


# --- contacts -----------------------------------------------------------------------------------


def test_new_contact_links_earlier_email_and_only_that_email(world, spy):
    db, maria, _ = world
    jane_mail = incoming(db, maria)
    other = incoming(db, maria, frm="zoe@else.example", subject="Other")
    assert f.links(db, jane_mail)["contacts"] == []

    jane = f.contact(db, "Jane Doe", JANE)

    assert f.links(db, jane_mail)["contacts"] == [(jane.id, JANE, "contact-match", 0)]
    assert f.links(db, other)["contacts"] == []
    assert spy == [[thread_of(db, jane_mail)]]  # found by address, not by a scan


def test_new_address_of_a_contact_links_its_mail(world):
    db, maria, _ = world
    jane = f.contact(db, "Jane Doe", JANE)
    f.deal(db, "Rollout", jane.id)
    old = incoming(db, maria, frm="jane.doe@home.example")
    assert f.links(db, old)["contacts"] == []

    crm_changes.add_contact_address(db, jane.id, "Jane.Doe@home.example")

    got = f.links(db, old)
    assert [c[0] for c in got["contacts"]] == [jane.id] and got["deal"] is not None


def test_contact_import_links_once_for_the_whole_file(world, spy):
    db, maria, _ = world
    a = incoming(db, maria)
    b = incoming(db, maria, frm=KEN, subject="Ken")
    report = crm_changes.import_contacts(db, b"Name,Email\nJane,jane@cust.example\nKen,ken@cust.example\n")
    assert len(report.imported) == 2
    assert len(spy) == 1
    assert f.links(db, a)["contacts"] and f.links(db, b)["contacts"]


# --- deals --------------------------------------------------------------------------------------


def test_new_deal_links_the_contacts_earlier_email(world):
    db, maria, _ = world
    jane = f.contact(db, "Jane Doe", JANE)
    first = incoming(db, maria)
    reply = incoming(db, maria, subject="Re: Quote", in_reply_to="x1", references=("x1",))
    assert f.links(db, first)["deal"] is None

    d = f.deal(db, "Rollout", jane.id)

    assert f.links(db, first)["deal"] == d.id
    assert f.links(db, first)["deal_rule"] == "deal-single-open"
    assert f.links(db, reply)["deal"] == d.id


def test_second_open_deal_does_not_take_mail_away_but_new_mail_needs_a_choice(world):
    db, maria, _ = world
    jane = f.contact(db, "Jane Doe", JANE)
    d1 = f.deal(db, "Rollout", jane.id)
    old = incoming(db, maria, mid="old")
    f.deal(db, "Pilot", jane.id)

    assert f.links(db, old)["deal"] == d1.id  # the deal keeps the mail it holds
    reply = incoming(db, maria, subject="Re: Quote", in_reply_to="old")
    assert f.links(db, reply)["deal"] == d1.id  # the thread keeps its deal
    fresh = incoming(db, maria, subject="New topic")
    assert f.links(db, fresh)["needs_deal"] is True and f.links(db, fresh)["deal"] is None


def test_closing_one_of_two_deals_resolves_the_choice(world):
    db, maria, _ = world
    jane = f.contact(db, "Jane Doe", JANE)
    d1 = f.deal(db, "Rollout", jane.id)
    d2 = f.deal(db, "Pilot", jane.id)
    waiting = incoming(db, maria)
    assert f.links(db, waiting)["needs_deal"] is True

    crm_changes.set_deal_status(db, d2.id, "lost")

    got = f.links(db, waiting)
    assert got["deal"] == d1.id and got["needs_deal"] is False


def test_won_deal_keeps_its_mail_but_takes_no_new_mail(world):
    db, maria, _ = world
    jane = f.contact(db, "Jane Doe", JANE)
    d1 = f.deal(db, "Rollout", jane.id)
    old = incoming(db, maria, mid="t1")

    crm_changes.set_deal_status(db, d1.id, "won")

    assert f.links(db, old)["deal"] == d1.id
    assert f.links(db, old)["deal_rule"] == "deal-kept-closed"
    reply = incoming(db, maria, subject="Re: Quote", in_reply_to="t1")
    assert f.links(db, reply)["deal"] is None
    again = relink.rescan(db)
    assert again.changed == 0 and again.reworded == 0


def test_reopened_deal_takes_the_contacts_unlinked_mail(world):
    db, maria, _ = world
    jane = f.contact(db, "Jane Doe", JANE)
    d1 = f.deal(db, "Rollout", jane.id, status="lost")
    old = incoming(db, maria)
    assert f.links(db, old)["deal"] is None

    crm_changes.set_deal_status(db, d1.id, "open")

    assert f.links(db, old)["deal"] == d1.id


# --- block list and user addresses -------------------------------------------------------------


def test_blocking_a_sender_unlinks_and_links_the_other_participants(world):
    db, maria, _ = world
    jane = f.contact(db, "Jane Doe", JANE)
    ken = f.contact(db, "Ken Ito", KEN)
    only_jane = incoming(db, maria)
    jane_cc_ken = incoming(db, maria, cc=(KEN,), subject="Both")
    assert [c[0] for c in f.links(db, jane_cc_ken)["contacts"]] == [jane.id]

    user_changes.add_block(db, maria, JANE)

    assert f.links(db, only_jane)["contacts"] == [] and f.links(db, only_jane)["verdict"] == "blocked"
    assert [c[0] for c in f.links(db, jane_cc_ken)["contacts"]] == [ken.id]

    user_changes.remove_block(db, maria, JANE)
    assert [c[0] for c in f.links(db, only_jane)["contacts"]] == [jane.id]
    assert f.links(db, only_jane)["verdict"] is None


def test_blocking_a_domain_covers_its_subdomains(world, spy):
    db, maria, _ = world
    f.contact(db, "Nia", "nia@mail.news.example")
    mail = incoming(db, maria, frm="nia@mail.news.example")
    unrelated = incoming(db, maria, frm=JANE, subject="Other")
    spy.clear()

    user_changes.add_block(db, maria, "@news.example")

    assert f.links(db, mail)["verdict"] == "blocked"
    assert spy == [[thread_of(db, mail)]]
    assert thread_of(db, unrelated) not in spy[0]


def test_alternative_address_is_never_a_customer(world):
    db, maria, _ = world
    mail = incoming(db, maria, frm="maria@home.example")
    user_changes.add_alt_address(db, maria, "maria@home.example")  # an admin's own: in force at once
    home = f.contact(db, "Maria at home", "maria@home.example")
    assert f.links(db, mail)["contacts"] == []

    user_changes.remove_alt_address(db, maria, "maria@home.example")
    assert [c[0] for c in f.links(db, mail)["contacts"]] == [home.id]


def test_colleagues_new_address_makes_mail_internal_once_approved(world):
    db, maria, sam = world
    mail = incoming(db, maria, frm="sam@home.example")
    before = f.links(db, mail)
    assert before["verdict"] != "internal"

    user_changes.add_alt_address(db, sam, "sam@home.example")
    assert f.links(db, mail) == before  # a claim alone changes nobody's mail

    user_changes.approve_alt_address(db, maria, "sam@home.example")
    got = f.links(db, mail)
    assert got["contacts"] == [] and got["verdict"] == "internal"


# --- manual choices are never overridden -------------------------------------------------------


def test_manual_deal_survives_every_trigger_and_rescan(world):
    db, maria, _ = world
    jane = f.contact(db, "Jane Doe", JANE)
    d1 = f.deal(db, "Rollout", jane.id)
    d2 = f.deal(db, "Pilot", jane.id)
    mail = incoming(db, maria)
    manual_links.set_deal(db, maria, mail, d2.id)

    crm_changes.set_deal_status(db, d1.id, "lost")  # would make d1... no: would leave one open deal, d2
    crm_changes.set_deal_status(db, d2.id, "won")
    f.deal(db, "Third", jane.id)
    relink.rescan(db)

    got = f.links(db, mail)
    assert got["deal"] == d2.id and got["manual"] and got["deal_rule"] == "thread-deal-manual"


def test_no_deal_by_hand_stays_no_deal(world):
    db, maria, _ = world
    jane = f.contact(db, "Jane Doe", JANE)
    mail = incoming(db, maria, mid="n1")
    manual_links.set_deal(db, maria, mail, None)

    f.deal(db, "Rollout", jane.id)
    relink.rescan(db)
    reply = incoming(db, maria, subject="Re: Quote", in_reply_to="n1")

    for email_id in (mail, reply):
        got = f.links(db, email_id)
        assert got["deal"] is None and not got["needs_deal"] and got["deal_rule"] == "thread-no-deal-manual"


def test_manual_contacts_survive_new_contacts_and_rescan(world):
    db, maria, _ = world
    ken = f.contact(db, "Ken Ito", KEN)
    mail = incoming(db, maria)
    manual_links.apply(db, maria, mail, manual_links.LinkRequest(contact_ids=(ken.id,)))

    f.contact(db, "Jane Doe", JANE)
    relink.rescan(db)

    assert f.links(db, mail)["contacts"] == [(ken.id, "", "contact-manual", 1)]


# --- rescan -------------------------------------------------------------------------------------


def _crm(db, *, relink_now):
    jane = f.contact(db, "Jane Doe", JANE, relink=relink_now)
    ken = f.contact(db, "Ken Ito", KEN, relink=relink_now)
    lea = f.contact(db, "Lea Roth", "lea@other.example", relink=relink_now)
    f.contact(db, "News", "news@list.example", relink=relink_now)
    f.deal(db, "Jane rollout", jane.id, relink=relink_now)
    f.deal(db, "Ken pilot", ken.id, relink=relink_now)
    f.deal(db, "Ken extension", ken.id, relink=relink_now)
    f.deal(db, "Lea first order", lea.id, status="won", relink=relink_now)


def _mail(db, maria):
    incoming(db, maria, mid="a1")
    incoming(db, maria, subject="Re: Quote", in_reply_to="a1", references=("a1",))
    incoming(db, maria, frm=KEN, subject="Pilot")
    incoming(db, maria, frm="lea@other.example", subject="Thanks")
    f.email(db, maria, frm=f"Maria <{ME}>", to=(JANE,), cc=(KEN,), subject="Both of you")
    incoming(db, maria, frm="news@list.example", subject="Monthly news", headers=(("List-Id", "<news.list.example>"),))
    incoming(db, maria, frm="sam@northwind.example", subject="Lunch?")
    incoming(db, maria, frm="zoe@unknown.example", subject="Hello")
    incoming(db, maria, frm="zoe@unknown.example", cc=(JANE,), subject="Re: Quote", in_reply_to="a1")


def test_rescan_equals_linking_from_scratch(tmp_path):
    scratch, maria = f.company(tmp_path / "scratch.db")
    f.user(scratch, "sam@northwind.example")
    _crm(scratch, relink_now=True)
    _mail(scratch, maria)

    later, maria2 = f.company(tmp_path / "later.db")
    f.user(later, "sam@northwind.example")
    _mail(later, maria2)
    _crm(later, relink_now=False)
    before = f.all_links(later)

    preview = relink.rescan(later, dry_run=True)
    assert preview.changed > 0
    assert f.all_links(later) == before  # a dry run writes nothing

    report = relink.rescan(later, batch=2)
    assert report.changed == preview.changed and report.emails == len(before)
    assert f.all_links(later) == f.all_links(scratch)
    assert relink.rescan(scratch).changed == 0


def test_rescan_reports_what_changed(world):
    db, maria, _ = world
    mail = incoming(db, maria)
    jane = f.contact(db, "Jane Doe", JANE, relink=False)
    seen = []
    report = relink.rescan(db, dry_run=True, on_change=seen.append, progress=lambda done, total: None)
    assert [c.email_id for c in seen] == [mail]
    assert report.to_json()["changes"] == [
        {
            "id": mail,
            "thread_id": thread_of(db, mail),
            "before": {
                "contacts": [],
                "deal": None,
                "needs_deal": False,
                "verdict": None,
                "proposed": {"contacts": [], "deal": None},
            },
            "after": {
                "contacts": [jane.id],
                "deal": None,
                "needs_deal": False,
                "verdict": None,
                "proposed": {"contacts": [jane.id], "deal": None},
            },
        }
    ]


def test_rescan_reports_progress_to_the_total(world):
    db, maria, _ = world
    for i in range(5):
        incoming(db, maria, subject=f"S{i}")
    seen = []
    relink.rescan(db, batch=2, progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, 5) and seen[-1] == (5, 5) and len(seen) == 4


def test_deal_changes_touch_only_the_contacts_threads(world, spy):
    db, maria, _ = world
    jane = f.contact(db, "Jane Doe", JANE)
    f.contact(db, "Ken Ito", KEN)
    jane_mail = incoming(db, maria)
    incoming(db, maria, frm=KEN, subject="Ken")
    spy.clear()

    d = f.deal(db, "Rollout", jane.id)
    crm_changes.set_deal_status(db, d.id, "won")
    crm_changes.set_deal_status(db, d.id, "won")  # no change of status: nothing to re-link

    assert spy == [[thread_of(db, jane_mail)]] * 2


def test_deal_import_links_once_for_the_whole_file(world, spy):
    db, maria, _ = world
    f.contact(db, "Jane Doe", JANE)
    f.contact(db, "Ken Ito", KEN)
    a = incoming(db, maria)
    b = incoming(db, maria, frm=KEN, subject="Ken")
    spy.clear()
    report = crm_changes.import_deals(db, b"Title,Person\nRollout,jane@cust.example\nPilot,ken@cust.example\n")
    assert len(report.imported) == 2 and len(spy) == 1
    assert f.links(db, a)["deal"] == report.imported[0] and f.links(db, b)["deal"] == report.imported[1]


def test_new_colleague_makes_their_mail_internal(world):
    db, maria, _ = world
    f.contact(db, "Ines before she joined", "ines@northwind.example")
    mail = incoming(db, maria, frm="ines@northwind.example")
    assert f.links(db, mail)["contacts"]

    f.user(db, "ines@northwind.example", "Ines")

    assert f.links(db, mail)["contacts"] == [] and f.links(db, mail)["verdict"] == "internal"


# --- the property: a rescan is linking from scratch ------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

PEOPLE = [JANE, KEN, "lea@other.example", "news@list.example", "sam@northwind.example", "zoe@unknown.example"]


@st.composite
def histories(draw):
    deals = draw(st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["open", "open", "won", "lost"])), max_size=6))
    mails = []
    for n in range(draw(st.integers(1, 8))):
        mails.append(
            {
                "frm": draw(st.sampled_from(PEOPLE + [ME])),
                "to": draw(st.lists(st.sampled_from(PEOPLE + [ME]), min_size=1, max_size=2, unique=True)),
                "reply": draw(st.none() | st.integers(0, n - 1)) if n else None,
                "list": draw(st.booleans()),
            }
        )
    return deals, mails


def _history(db, maria, mails):
    for n, m in enumerate(mails):
        f.email(
            db,
            maria,
            frm=m["frm"],
            to=tuple(m["to"]),
            mid=f"h{n}",
            in_reply_to=f"h{m['reply']}" if m["reply"] is not None else None,
            subject="Re: Talk" if m["reply"] is not None else f"Talk {n}",
            headers=(("List-Id", "<l.list.example>"),) if m["list"] else (),
        )


def _records(db, deals, *, relink_now):
    ids = [f.contact(db, f"P{i}", address, relink=relink_now).id for i, address in enumerate(PEOPLE[:4])]
    for n, (who, status) in enumerate(deals):
        f.deal(db, f"D{n}", ids[who], status=status, relink=relink_now)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(histories())
def test_property_rescan_after_the_fact_equals_linking_from_scratch(tmp_path_factory, history):
    deals, mails = history
    base = tmp_path_factory.mktemp("prop")
    scratch, maria = f.company(base / "scratch.db")
    later, maria2 = f.company(base / "later.db")
    try:
        for db, user, first in ((scratch, maria, "crm"), (later, maria2, "mail")):
            f.user(db, "sam@northwind.example")
            if first == "crm":
                _records(db, deals, relink_now=True)
                _history(db, user, mails)
            else:
                _history(db, user, mails)
                _records(db, deals, relink_now=False)
        relink.rescan(later, batch=3)
        assert f.all_links(later) == f.all_links(scratch)
        again = relink.rescan(later)
        assert (again.changed, again.reworded) == (0, 0)
    finally:
        scratch.close()
        later.close()


def test_blocking_keeps_a_deal_chosen_by_hand_and_the_mail_a_deal_holds(company, db_path):
    """Blocking concerns new mail: a thread's deal chosen by hand stays, and so does a deal's stored mail."""
    from pdmail.store import open_db
    from pdmail.store.users import find_user

    company.ok("contact", "add", "Jane Doe", "--email", JANE)
    company.ok("contact", "add", "Ken Ito", "--email", KEN)
    company.ok("deal", "add", "Arms", "--contact", "1")  # 1
    company.ok("deal", "add", "Belts", "--contact", "1")  # 2: Jane has two open deals
    company.ok("deal", "add", "Cranes", "--contact", "2")  # 3: Ken's only deal
    db = open_db(db_path)
    try:
        maria = find_user(db, ME)
        first = incoming(db, maria, mid="j1", subject="Belts")
        reply = incoming(db, maria, mid="j2", in_reply_to="j1", subject="Re: Belts")
        kens = incoming(db, maria, frm=KEN, mid="k1", subject="Cranes")
    finally:
        db.close()
    assert company.json("show", str(reply))["needs_deal"] is True
    assert company.json("show", str(kens))["deal"] == 3
    company.ok("link", str(reply), "--deal", "2")

    company.ok("settings", "block", "add", "@cust.example")

    for email_id in (first, reply):
        assert company.json("show", str(email_id))["deal"] == 2
    assert sorted(e["id"] for e in company.json("inbox", "--deal", "2")) == [first, reply]
    assert company.json("explain", str(reply))["deal"]["id"] == 2
    assert company.json("show", str(kens))["deal"] == 3  # the deal keeps the mail it held
    for email_id in (reply, kens):
        assert "not captured" not in " ".join(company.ok("explain", str(email_id)).stdout.split())

    company.ok("settings", "block", "remove", "@cust.example")
    assert company.json("show", str(reply))["deal"] == 2 and company.json("show", str(kens))["deal"] == 3


# --- the fast rescan against the one-email-at-a-time reference ------------------------------------


def _link_dump(db) -> dict:
    """Every stored link and the words and causes that go with it, for comparing two databases."""
    return {
        "emails": [
            tuple(r)
            for r in db.all(
                "SELECT id, deal_id, deal_rule, is_deal_manual, needs_deal, is_automated, link_verdict, "
                "link_trace_json, deal_caused_by, deal_caused_utc, is_deal_proposed, has_link FROM emails ORDER BY id"
            )
        ],
        "contacts": [
            tuple(r)
            for r in db.all(
                "SELECT email_id, contact_id, address, rule, reason, is_manual, caused_by, caused_utc, is_proposed "
                "FROM email_contacts ORDER BY email_id, contact_id"
            )
        ],
        "orgs": [
            tuple(r)
            for r in db.all(
                "SELECT email_id, org_id, address, rule, reason, is_manual, caused_by, caused_utc, is_proposed "
                "FROM email_orgs ORDER BY email_id, org_id"
            )
        ],
        "threads": [tuple(r) for r in db.all("SELECT id, deal_id, deal_rule, is_deal_manual FROM threads ORDER BY id")],
    }


def _mixed_world(db, maria, sam, rnd):
    """Mail stored before most of the CRM, in threads, with choices made by hand and blocked senders:
    a rescan finds every kind of change to make."""
    from pdmail.crm import team
    from pdmail.store import crm as crm_store

    people = [f"p{i}@cust{i % 4}.example" for i in range(14)] + ["news@list.example", "x@gmail.com"]
    early = [f.contact(db, f"Early {i}", people[i]) for i in range(3)]
    f.deal(db, "Early deal", early[0].id)
    team.add_block(db, maria, "@cust3.example")
    crm_store.add_org(db, "Cust one", ["cust1.example"])
    owners = [maria, sam]
    mails = []
    for t in range(40):
        owner = rnd.choice(owners)
        customer = rnd.choice(people)
        other = rnd.choice(people + [sam.email, maria.email])
        root = f"t{t}"
        for k in range(rnd.randint(1, 4)):
            out = rnd.random() < 0.4
            frm, to = (owner.email, [customer]) if out else (customer, [owner.email])
            cc = [other] if rnd.random() < 0.3 and other not in (owner.email, customer) else []
            headers = [("List-Id", "<news.list.example>")] if customer.startswith("news") else []
            mails.append(
                (
                    owner,
                    f.email(
                        db,
                        owner,
                        frm=frm,
                        to=to,
                        cc=cc,
                        mid=f"{root}-{k}",
                        in_reply_to=f"{root}-{k - 1}" if k else None,
                        subject="Re: Plan" if k else "Plan",
                        headers=headers,
                    ),
                )
            )
    later = [f.contact(db, f"Later {i}", people[i], relink=False) for i in range(3, 12)]
    org = crm_store.add_org(db, "Cust two", ["cust2.example"])
    contacts = early + later
    for c in rnd.sample(contacts, 7):
        f.deal(db, f"Deal of {c.id}", c.id, status=rnd.choice(["open", "open", "won", "lost"]), relink=False)
    stored = [(owner, mail) for owner, mail in mails if mail is not None]  # a blocked sender's mail is not
    for owner, mail in rnd.sample(stored, 8):  # the sharing law reads each email's own visibility
        mailbox_actions.share_all(db, owner, [mail], "private")
    for owner, mail in rnd.sample(stored, 6):
        choice = rnd.random()
        if choice < 0.3:
            manual_links.set_deal(db, owner, mail, None)
        elif choice < 0.6:
            manual_links.apply(db, owner, mail, manual_links.LinkRequest(contact_ids=(rnd.choice(contacts).id,)))
        elif choice < 0.8:
            manual_links.apply(db, owner, mail, manual_links.LinkRequest(contact_ids=()))
        else:
            manual_links.apply(db, owner, mail, manual_links.LinkRequest(org_ids=(org.id,)))
    return contacts


@pytest.mark.parametrize("seed", [1, 2])
def test_fast_rescan_writes_what_the_one_by_one_rescan_writes(db_path, tmp_path, copy_db, seed, monkeypatch):
    """The batch's reused decisions and grouped writes change nothing: the same links, words and
    causes, the same report, on a first rescan (every email changes) and on one after the CRM changed
    again (links change, stay or go)."""
    import random

    rnd = random.Random(seed)
    db, maria = f.company(db_path)
    sam = f.user(db, "sam@northwind.example")
    contacts = _mixed_world(db, maria, sam, rnd)
    db.close()
    copy = copy_db(db_path, tmp_path / "copy.db")
    fast, slow = open_db(db_path), open_db(copy)
    try:
        for round_ in range(2):
            # Both rescans of a round are stamped alike, however long the first one takes.
            monkeypatch.setattr(relink, "now_utc", lambda stamp=f"2026-12-0{round_ + 1}T09:00:00Z": stamp)
            reports = []
            for db_, one_by_one in ((fast, False), (slow, True)):
                lines: list[dict] = []
                report = relink.rescan(db_, by=sam if round_ else maria, one_by_one=one_by_one, on_change=lines.append)
                lines = [change.to_json() for change in lines]
                reports.append((report.to_json(), lines))
            assert reports[0] == reports[1]
            assert reports[0][0]["changed"] > 0
            assert _link_dump(fast) == _link_dump(slow)
            assert not fast.all(  # the flag the sharing law reads says what the link rows say
                "SELECT id FROM emails e WHERE has_link != CASE WHEN EXISTS (SELECT 1 FROM email_contacts c "
                "WHERE c.email_id = e.id AND c.is_proposed = 0) OR EXISTS (SELECT 1 FROM email_orgs o "
                "WHERE o.email_id = e.id AND o.is_proposed = 0) THEN 1 ELSE 0 END"
            )
            for db_ in (fast, slow):  # the same change to both, before the next round
                rnd_same = random.Random(seed + round_)
                for c in rnd_same.sample(contacts, 3):
                    f.deal(db_, f"Round {round_} deal", c.id, relink=False)
                f.contact(db_, f"Newcomer {round_}", f"p{12 + round_}@cust{round_}.example", relink=False)
    finally:
        fast.close()
        slow.close()
