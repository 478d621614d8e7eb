"""A search counts its full-text matches only where the count chooses between two statements."""

from __future__ import annotations

import factories
import pytest

from pdmail.store import mailbox

pytestmark = pytest.mark.both_engines


def test_the_match_count_runs_only_where_it_chooses_the_plan(db_path, engine):
    db, maria = factories.company(db_path)
    try:
        for n in range(3):
            factories.email(db, maria, frm=f"Maria <{maria.email}>", to=["ada@acme.example"], subject=f"Gearbox {n}")
        statements: list[str] = []
        execute = db.execute

        def recording(sql, params=()):
            statements.append(sql)
            return execute(sql, params)

        db.execute = recording
        found = mailbox.search(db, maria, "gearbox")
        assert sorted(e["subject"] for e in found) == ["Gearbox 0", "Gearbox 1", "Gearbox 2"]
        counted = [s for s in statements if "AS hits" in s]
        # SQLite is told which index to walk once the count says there are many matches; PostgreSQL's
        # planner takes no such hint, so the two statements are one and nothing is counted there.
        assert len(counted) == (1 if engine == "sqlite" else 0)
    finally:
        db.close()
