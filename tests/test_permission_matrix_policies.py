"""The permission matrix again on the team server, with pdmail's own visibility condition switched off.

docs/spec.md, "The sharing law": pdmail filters every read with one SQL condition
(pdmail/visibility.py), and on PostgreSQL row-level security states the same law. Here a test build's
switch (``PDMAIL_TEST_POLICIES_ONLY=1``, see ``PostgresDatabase.visible``) leaves the filtering to the
database's policies alone, and every test of tests/test_permission_matrix.py runs again, unchanged:
for every command that reads or changes email, each user sees exactly what the SQL condition shows
them. The switch holds only on a connection that is a user's login; the test server's superuser
connection takes on each user's login (SET SESSION AUTHORIZATION) before it reads.
"""

from __future__ import annotations

import pytest
from test_permission_matrix import *  # noqa: F403 - every test of the matrix, collected here once more

pytestmark = pytest.mark.postgres


@pytest.fixture
def engine() -> str:
    return "postgres"


@pytest.fixture(autouse=True)
def policies_only(monkeypatch):
    monkeypatch.setenv("PDMAIL_TEST_POLICIES_ONLY", "1")
