"""Which plan the store asks for: a search counts its full-text matches only where the count chooses
between two statements, and a team's count reads the narrow index of what the sharing law looks at."""

from __future__ import annotations

import factories
import pytest

from pdmail.store import mailbox
from pdmail.store.mailbox import InboxFilter

pytestmark = pytest.mark.both_engines


def recorded(db) -> list[str]:
    """The statements ``db`` runs from now on."""
    statements: list[str] = []
    execute = db.execute

    def recording(sql, params=()):
        statements.append(sql)
        return execute(sql, params)

    db.execute = recording
    return statements


def test_the_match_count_runs_only_where_it_chooses_the_plan(db_path, engine):
    db, maria = factories.company(db_path)
    try:
        for n in range(3):
            factories.email(db, maria, frm=f"Maria <{maria.email}>", to=["ada@acme.example"], subject=f"Gearbox {n}")
        statements = recorded(db)
        found = mailbox.search(db, maria, "gearbox")
        assert sorted(e["subject"] for e in found) == ["Gearbox 0", "Gearbox 1", "Gearbox 2"]
        counted = [s for s in statements if "AS hits" in s]
        # SQLite is told which index to walk once the count says there are many matches; PostgreSQL's
        # planner takes no such hint, so the two statements are one and nothing is counted there.
        assert len(counted) == (1 if engine == "sqlite" else 0)
    finally:
        db.close()


def test_a_team_count_reads_the_index_of_what_the_law_looks_at(db_path, engine):
    """SQLite is told (an analyzed file may otherwise walk an owner's index for every owner and read
    each email); PostgreSQL's planner finds it by itself."""
    db, maria = factories.company(db_path)
    try:
        factories.email(db, maria, frm=f"Maria <{maria.email}>", to=["ada@acme.example"])
        statements = recorded(db)
        assert mailbox.count_emails(db, maria, InboxFilter(team=True, folder="sent")) == 1
        assert mailbox.count_emails(db, maria, InboxFilter(folder="sent")) == 1
        hinted = ["INDEXED BY emails_visibility_facts" in s for s in statements]
        assert hinted == ([True, False] if engine == "sqlite" else [False, False])
    finally:
        db.close()


@pytest.mark.sqlite_only
@pytest.mark.parametrize("team", (False, True), ids=("own", "team"))
def test_the_waiting_views_read_the_index_of_last_emails_alone(db_path, team):
    """A count of conversations awaiting a reply, or unanswered, walks the partial index of each
    conversation's last email (migration 18), holding all it filters on, and never looks for a newer
    email of each candidate's thread. PostgreSQL's planner chooses by the data it has: there,
    bench/inbox_scale.py --explain shows its plans at scale (a nearly empty database's plan proves nothing)."""
    db, maria = factories.company(db_path)
    try:
        factories.email(db, maria, frm=f"Maria <{maria.email}>", to=["ada@acme.example"])
        index = "emails_last_for_anyone" if team else "emails_last_by_owner"
        for f in (
            mailbox.awaiting_filter(awaiting="9999", team=team),
            mailbox.awaiting_filter(unanswered="9999", team=team),
        ):
            where, params = mailbox._base_where(db, maria, f)
            plan = db.query_plan(f"SELECT count(*) FROM emails e WHERE {' AND '.join(where)}", params)
            assert f"SEARCH e USING COVERING INDEX {index} " in plan[0], plan
            assert not [step for step in plan if "SEARCH l " in step or "SCAN l" in step], plan
    finally:
        db.close()
