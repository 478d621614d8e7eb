"""One exit code for a run of many parts (sync accounts, outbox messages, Smart BCC inputs): the one combiner all use."""

from __future__ import annotations

import pytest

from pdmail.capture.batch import exit_code as bcc_exit_code
from pdmail.capture.save import Outcome
from pdmail.core.errors import (
    EXIT_AUTH,
    EXIT_INTERNAL,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_REFUSED,
    EXIT_TEMPFAIL,
    EXIT_USAGE,
    combine_exit_codes,
)
from pdmail.send.outbox import SendResult
from pdmail.send.outbox import exit_code as outbox_exit_code
from pdmail.sync.engine import AccountResult
from pdmail.sync.engine import exit_code as sync_exit_code


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        ((), EXIT_OK),
        ((EXIT_OK, EXIT_OK), EXIT_OK),
        ((EXIT_PARTIAL, EXIT_TEMPFAIL), EXIT_TEMPFAIL),  # retry later outranks partial
        ((EXIT_TEMPFAIL, EXIT_USAGE), EXIT_USAGE),  # the configuration to fix outranks retrying
        ((EXIT_USAGE, EXIT_AUTH, EXIT_PARTIAL), EXIT_AUTH),  # credentials first
        ((EXIT_NOT_FOUND, EXIT_PARTIAL), EXIT_PARTIAL),
        # A part that failed otherwise never lets the run end 0 (sync's command line used to drop it).
        ((EXIT_OK, EXIT_NOT_FOUND), EXIT_NOT_FOUND),
        ((EXIT_INTERNAL, EXIT_REFUSED), EXIT_REFUSED),
    ],
)
def test_ranked_codes_first_then_the_largest(codes, expected):
    assert combine_exit_codes(codes) == expected


def test_otherwise_names_the_code_of_other_failures():
    assert combine_exit_codes((EXIT_NOT_FOUND,), otherwise=EXIT_PARTIAL) == EXIT_PARTIAL
    assert combine_exit_codes((EXIT_OK,), otherwise=EXIT_PARTIAL) == EXIT_OK
    assert combine_exit_codes((EXIT_NOT_FOUND, EXIT_TEMPFAIL), otherwise=EXIT_PARTIAL) == EXIT_TEMPFAIL


def test_sync_and_outbox_rank_alike():
    from pdmail.core.errors import NotFound, TemporaryFailure

    accounts = [AccountResult("a", exit_code=EXIT_NOT_FOUND), AccountResult("b", exit_code=EXIT_TEMPFAIL)]
    sent = [
        SendResult(1, "failed", "x", error=NotFound("gone")),
        SendResult(2, "queued", "y", error=TemporaryFailure("later")),
    ]
    assert sync_exit_code(accounts) == outbox_exit_code(sent) == EXIT_TEMPFAIL
    assert sync_exit_code(accounts[:1]) == EXIT_NOT_FOUND
    assert outbox_exit_code(sent[:1]) == EXIT_PARTIAL


def test_mixed_names_the_code_of_a_run_where_some_parts_went_through():
    assert combine_exit_codes((EXIT_OK, EXIT_REFUSED), mixed=EXIT_PARTIAL) == EXIT_PARTIAL
    assert combine_exit_codes((EXIT_REFUSED, EXIT_REFUSED), mixed=EXIT_PARTIAL) == EXIT_REFUSED
    assert combine_exit_codes((EXIT_OK, EXIT_OK), mixed=EXIT_PARTIAL) == EXIT_OK
    assert combine_exit_codes((EXIT_OK, EXIT_REFUSED, EXIT_TEMPFAIL), mixed=EXIT_PARTIAL) == EXIT_TEMPFAIL


@pytest.mark.parametrize(
    ("statuses", "files", "mta"),
    [
        ((), EXIT_OK, EXIT_OK),
        (("stored", "duplicate", "skipped"), EXIT_OK, EXIT_OK),
        (("quarantined",), EXIT_REFUSED, EXIT_OK),
        (("quarantined", "quarantined"), EXIT_REFUSED, EXIT_OK),  # 3: every input refused, and kept
        (("stored", "quarantined"), EXIT_PARTIAL, EXIT_OK),
        (("duplicate", "quarantined"), EXIT_PARTIAL, EXIT_OK),
        (("failed",), EXIT_PARTIAL, EXIT_TEMPFAIL),  # not kept: never 3, and a mail server tries again
        (("quarantined", "failed"), EXIT_PARTIAL, EXIT_TEMPFAIL),
        (("stored", "failed"), EXIT_PARTIAL, EXIT_TEMPFAIL),
    ],
)
def test_smart_bcc_inputs_combine_by_the_same_rule(statuses, files, mta):
    outcomes = [Outcome(f"m{i}", status) for i, status in enumerate(statuses)]
    assert bcc_exit_code(outcomes) == files
    assert bcc_exit_code(outcomes, mta=True) == mta
