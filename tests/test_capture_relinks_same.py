"""Capturing mail and re-linking it later, with nothing changed in between, give the same links.

Capture and re-linking build the linking engine's input through one builder and read the CRM through
one snapshot; this property holds only while they do. Each example is a real company database: users,
contacts with open and closed deals, a block list and settings, then a conversation of several
messages captured through the one capture path (sync and Smart BCC alike), then a rescan.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import factories as f
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pdmail.capture import save as capture
from pdmail.linking import relink
from pdmail.mime.parse import parse_message
from pdmail.store import users as users_store

pytestmark = pytest.mark.both_engines

ME = "maria@northwind.example"
SAM = "sam@northwind.example"
BCC = "bcc@northwind.example"
CUSTOMERS = ("jane@cust.example", "ken@cust.example", "lea@other.example", "noreply@cust.example")

deal_status = st.sampled_from(("open", "open", "won", "lost"))
contacts_strategy = st.lists(
    st.tuples(
        st.lists(st.sampled_from(CUSTOMERS), min_size=1, max_size=2, unique=True), st.lists(deal_status, max_size=2)
    ),
    max_size=3,
)
message_strategy = st.fixed_dictionaries(
    {
        "owner": st.sampled_from((ME, SAM)),
        "outgoing": st.booleans(),
        "customers": st.lists(st.sampled_from(CUSTOMERS), min_size=0, max_size=2, unique=True),
        "cc_colleague": st.booleans(),
        "reply_to": st.none() | st.integers(min_value=0, max_value=5),
        "automated": st.booleans(),
        "deal_tag": st.none() | st.integers(min_value=1, max_value=4),
        "bcc": st.booleans(),
    }
)


def _build_company(root: Path, contacts, blocked, auto_link, create_contacts):
    db, maria = f.company(root / "pdmail.db")
    sam = f.user(db, SAM)
    users_store.set_setting(db, maria, "bcc-address", BCC)
    users_store.set_setting(db, maria, "create-contacts", "on" if create_contacts else "off")
    users_store.set_setting(db, maria, "auto-link-deals", "on" if auto_link else "off")
    if blocked is not None:
        users_store.add_block(db, blocked)
    taken: set[str] = set()
    for n, (addresses, deals) in enumerate(contacts):
        free = [a for a in addresses if a not in taken]
        if not free:
            continue
        taken.update(free)
        record = f.contact(db, f"Contact {n}", *free)
        for status in deals:
            f.deal(db, f"Deal {n}", record.id, status=status)
    return db, {ME: maria, SAM: sam}


def _capture(db, users, n: int, message: dict, captured: list[str]) -> None:
    owner = users[message["owner"]]
    people = list(message["customers"]) or ["zoe@elsewhere.example"]
    to = [*people] if message["outgoing"] else [owner.email]
    frm = owner.email if message["outgoing"] else people[0]
    cc = [SAM if owner.email == ME else ME] if message["cc_colleague"] else []
    if message["deal_tag"] is not None:
        cc.append(f"bcc+deal{message['deal_tag']}@northwind.example")
    headers = [("Auto-Submitted", "auto-generated")] if message["automated"] else []
    parent = message["reply_to"]
    in_reply_to = captured[parent] if parent is not None and parent < len(captured) else None
    mid = f"p{n}"
    raw = f.raw_message(
        frm=frm,
        to=to,
        cc=cc,
        subject="Quote",
        mid=mid,
        in_reply_to=in_reply_to,
        references=(in_reply_to,) if in_reply_to else (),
        headers=headers,
    )
    parsed = parse_message(raw)
    origin = capture.Origin(source="bcc" if message["bcc"] else "sync")
    deal_id = message["deal_tag"] if message["bcc"] else None
    if deal_id is not None and not db.scalar("SELECT 1 FROM deals WHERE id = ?", (deal_id,)):
        deal_id = None  # Smart BCC drops a tag naming no deal before it links
    with db.tx():
        capture.store_parsed(db, owner, parsed, raw, origin, bcc_deal_id=deal_id)
    captured.append(mid)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    contacts=contacts_strategy,
    blocked=st.none() | st.sampled_from(("ken@cust.example", "@other.example")),
    auto_link=st.booleans(),
    create_contacts=st.booleans(),
    messages=st.lists(message_strategy, min_size=1, max_size=5),
)
def test_relinking_captured_mail_changes_nothing(contacts, blocked, auto_link, create_contacts, messages):
    with tempfile.TemporaryDirectory() as root:
        db, users = _build_company(Path(root), contacts, blocked, auto_link, create_contacts)
        try:
            captured: list[str] = []
            for n, message in enumerate(messages):
                _capture(db, users, n, message, captured)
            at_capture = f.all_links(db)

            report = relink.rescan(db)

            assert (report.changed, report.reworded) == (0, 0), [c.to_json() for c in report.changes]
            assert f.all_links(db) == at_capture
        finally:
            db.close()
