"""One parse pool: Smart BCC and sync cut their messages into tasks the same way, get the results in
order, and never let more than a bounded window of work wait."""

from __future__ import annotations

import pytest
from syncworld import OWNER, world  # noqa: F401 (world is a fixture)
from syncworld import run as sync_run

from pdmail.capture import batch as ingest
from pdmail.capture.inputs import expand
from pdmail.capture.parse_pool import CHUNK, CHUNK_BYTES, IN_FLIGHT_BYTES, ParsePool, tasks
from pdmail.core.worker_pool import HelperPool
from pdmail.mime.limits import MB
from pdmail.sync import engine as sync


def _doubled(numbers: list[int]) -> list[int]:
    return [2 * n for n in numbers]


def _lengths(chunk: list[bytes]) -> list[int]:
    return [len(item) for item in chunk]


def _loses_one(chunk: list[int]) -> list[int]:
    return chunk[1:]


def test_a_task_ends_at_a_count_or_at_a_size():
    small = [b"x" * 100] * (CHUNK * 2 + 3)
    assert [len(chunk) for chunk, _ in tasks(small, len)] == [CHUNK, CHUNK, 3]
    big = [b"x" * (CHUNK_BYTES // 3 + 1)] * 7
    assert [len(chunk) for chunk, _ in tasks(big, len)] == [3, 3, 1]
    assert [size for _, size in tasks(big, len)] == [3 * len(big[0]), 3 * len(big[0]), len(big[0])]
    assert [len(chunk) for chunk, _ in tasks(range(40), lambda uid: 0)] == [CHUNK, CHUNK, 8]  # size unknown


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_results_come_back_in_order_whoever_parsed_them(workers):
    with ParsePool(workers, _doubled) as pool:
        assert list(pool.results(range(200), lambda n: 1)) == [2 * n for n in range(200)]
        later = pool.submit(list(range(50)), lambda n: 1)
        assert later() == [2 * n for n in range(50)]


@pytest.mark.parametrize("workers", [0, 2])
def test_a_task_that_loses_a_message_is_refused(workers):
    with ParsePool(workers, _loses_one) as pool, pytest.raises(TypeError, match="instead of"):
        list(pool.results(range(40), lambda n: 1))


def test_a_stream_reads_no_further_ahead_than_its_window():
    """However large the mailbox, at most IN_FLIGHT_BYTES of messages (and one task more) wait to be taken."""
    drawn = []

    def messages():
        for n in range(200):
            drawn.append(n)
            yield b"m" * MB

    with ParsePool(2, _lengths) as pool:
        stream = pool.results(messages(), len)
        assert next(stream) == MB
        assert len(drawn) * MB <= IN_FLIGHT_BYTES + CHUNK_BYTES
        assert sum(1 for _ in stream) == 199


def _big(n: int) -> bytes:
    """A message of 1.2 MB: three of them stay under a task's size (4 MB), the fourth reaches it."""
    body = ("gearbox offer line\r\n" * 63_000).encode()
    return (
        f"From: Maria Lopez <{OWNER}>\r\nTo: Ada <ada@acme.example>\r\nSubject: Big offer {n}\r\n"
        f"Date: Mon, 16 Nov 2026 09:{n:02d}:00 +0100\r\nMessage-ID: <big{n}@northwind.example>\r\n\r\n"
    ).encode() + body


def test_smart_bcc_and_sync_cut_the_same_messages_into_the_same_tasks(world, monkeypatch):
    db, _, box, account = world
    for n in range(1, 21):
        box.put("INBOX", _big(n))
    sent: list[int] = []
    real_submit = HelperPool.submit
    monkeypatch.setattr(HelperPool, "submit", lambda self, task: sent.append(len(task)) or real_submit(self, task))

    monkeypatch.setattr(ingest, "PARALLEL_FROM", 1)
    outcomes = ingest.ingest_many(db, list(expand([str(box.path("INBOX"))])), workers=1)
    assert [o.status for o in outcomes] == ["stored"] * 20
    by_bcc, sent[:] = list(sent), []

    monkeypatch.setattr(sync, "PARALLEL_FROM", 1)
    assert sync_run(db, account, workers=2).skipped == 20  # the same mail, already captured
    assert by_bcc == sent == [4] * 5  # not CHUNK: the size cuts first


# --- the asking process never waits for a helper ---------------------------------------------------


def _by_a_stalled_helper(chunk: list[int]) -> list[tuple[str, int]]:
    """A helper that the machine's other work keeps from running: it answers far too late."""
    import time

    time.sleep(60)
    return [("helper", n) for n in chunk]


def _by_a_helper_stalled_on_zero(chunk: list[int]) -> list[tuple[str, int]]:
    import time

    if 0 in chunk:
        time.sleep(1.5)
    return [("helper", n) for n in chunk]


def _here(chunk: list[int]) -> list[tuple[str, int]]:
    return [("here", n) for n in chunk]


def test_a_task_whose_helper_has_not_answered_is_done_by_the_asking_process():
    import time

    started = time.monotonic()
    with ParsePool(1, _by_a_stalled_helper, local_work=_here) as pool:
        results = list(pool.results(list(range(3 * CHUNK)), lambda n: 0))
    assert results == [("here", n) for n in range(3 * CHUNK)]
    assert pool.done_here == 3
    assert time.monotonic() - started < 30  # not the minute the helper would have taken
    with ParsePool(1, _by_a_stalled_helper, local_work=_here) as pool:
        assert pool.submit(list(range(CHUNK)), lambda n: 0)() == [("here", n) for n in range(CHUNK)]


def test_a_late_answer_for_a_task_done_here_is_dropped_and_the_rest_stay_in_order():
    import time

    with ParsePool(1, _by_a_helper_stalled_on_zero, local_work=_here) as pool:
        first = pool.submit([0], lambda n: 0)
        time.sleep(0.2)  # the helper is on the first task
        second = pool.submit([1, 2], lambda n: 0)
        assert first() == [("here", 0)]
        time.sleep(2.5)  # the helper answered both meanwhile: the first answer is not wanted any more
        assert second() == [("helper", 1), ("helper", 2)]
        (helper,) = pool.helpers._helpers
        assert helper.results == {} and helper.abandoned == set()


# --- helpers only where they pay ---------------------------------------------------------------------


def _sized(n: int, size: int) -> bytes:
    body = ("line of an offer\r\n" * (size // 18)).encode()
    return (
        f"From: Maria Lopez <{OWNER}>\r\nTo: Ada <ada@acme.example>\r\nSubject: Offer {n}\r\n"
        f"Date: Mon, 16 Nov 2026 09:00:{n % 60:02d} +0100\r\nMessage-ID: <sized{n}@northwind.example>\r\n\r\n"
    ).encode() + body


def test_many_small_messages_are_parsed_here_and_as_many_big_ones_by_helpers(world, monkeypatch):
    from pdmail.capture.inputs import Input

    db, _, _, _ = world
    started: list[int] = []
    real_init = HelperPool.__init__

    def counted(self, count, *args, **kwargs):
        started.append(count)
        real_init(self, count, *args, **kwargs)

    monkeypatch.setattr(HelperPool, "__init__", counted)
    monkeypatch.setattr(ingest, "default_workers", lambda: 1)
    count = ingest.PARALLEL_FROM + 36
    small = [Input(f"s{n}", raw=_sized(n, 2_000)) for n in range(count)]  # many, but a few hundred KB
    assert {o.status for o in ingest.ingest_many(db, small)} == {"stored"}
    assert started == []
    big = [Input(f"b{n}", raw=_sized(1000 + n, 60_000)) for n in range(count)]  # as many, megabytes
    assert sum(len(i.raw) for i in big) > ingest.PARALLEL_BYTES
    assert {o.status for o in ingest.ingest_many(db, big)} == {"stored"}
    assert started == [1]


def test_helpers_inherit_the_parser_instead_of_each_loading_it_again():
    """Forked after the parser is loaded, a helper starts with it: a fresh process shows it."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from pdmail.capture.parse_pool import ParsePool\n"
        "def loaded_before_any_work(items):\n"
        "    return ['pdmail.capture.save' in sys.modules for _ in items]\n"
        "assert 'pdmail.capture.save' not in sys.modules\n"
        "with ParsePool(1, loaded_before_any_work) as pool:\n"
        "    print(pool.submit([1, 2], lambda n: 0)())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[True, True]"
