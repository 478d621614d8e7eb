"""The one batch writer Smart BCC and sync share: flat first, then savepoints when a message fails."""

from __future__ import annotations

import factories as f
import pytest

from pdmail.capture.batch_writer import write_batch, write_message
from pdmail.core.errors import TemporaryFailure

pytestmark = pytest.mark.both_engines


@pytest.fixture
def db(tmp_path):
    db, _ = f.company(tmp_path / "pdmail.db")
    db.execute("CREATE TABLE batch_rows (value TEXT NOT NULL)")
    yield db
    db.close()


def _write(db, values, attempts, failures):
    def write(fail_fast: bool):
        attempts.append(fail_fast)

        def one(value):
            def store():
                db.execute("INSERT INTO batch_rows (value) VALUES (?)", (value,))
                if value.startswith("bad"):
                    raise ValueError(value)
                return value

            return write_message(db, store, fail_fast=fail_fast, on_failure=lambda exc: failures.append(str(exc)))

        return [one(v) for v in values]

    return write


def _rows(db):
    return [r[0] for r in db.all("SELECT value FROM batch_rows ORDER BY rowid")]


def test_a_clean_batch_is_written_once_without_savepoints(db):
    attempts, failures = [], []
    write_batch(db, _write(db, ["a", "b"], attempts, failures))
    assert (attempts, failures, _rows(db)) == ([True], [], ["a", "b"])


def test_a_failing_message_redoes_the_batch_with_savepoints_and_only_it_is_left_out(db):
    attempts, failures, forgotten = [], [], []
    write_batch(db, _write(db, ["a", "bad-1", "c"], attempts, failures), on_retry=lambda: forgotten.append(1))
    assert attempts == [True, False]
    assert forgotten == [1]
    assert failures == ["bad-1"]
    assert _rows(db) == ["a", "c"]  # the first attempt's rows were rolled back whole


def test_savepoints_at_once_when_asked(db):
    attempts, failures = [], []
    write_batch(db, _write(db, ["a", "bad-2"], attempts, failures), flat_first=False)
    assert (attempts, failures, _rows(db)) == ([False], ["bad-2"], ["a"])


def test_a_failure_of_the_machine_stops_the_batch_and_writes_nothing(db):
    def write(fail_fast: bool):
        def store():
            db.execute("INSERT INTO batch_rows (value) VALUES ('x')")
            raise TemporaryFailure("database is locked")

        return write_message(db, store, fail_fast=fail_fast, on_failure=lambda exc: None)

    with pytest.raises(TemporaryFailure):
        write_batch(db, write)
    assert _rows(db) == []
