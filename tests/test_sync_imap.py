"""The sync engine against a real Dovecot: doveadm and a second IMAP connection play the other client."""

from __future__ import annotations

import pytest
from syncworld import OWNER, dump, mail

from pdmail.capture import parse_pool
from pdmail.mailbox import actions
from pdmail.store import accounts as accounts_store
from pdmail.store import open_db
from pdmail.store.users import find_user
from pdmail.sync import engine as sync
from pdmail.sync.imap_source import ImapSource

pytestmark = [pytest.mark.dovecot, pytest.mark.both_engines]
PASSWORD_ENV = "PDMAIL_TEST_MAIL_PASSWORD"


@pytest.fixture
def world(company, db_path, dovecot_server, mail_user, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, mail_user.password)
    db = open_db(db_path)
    maria = find_user(db, OWNER)
    account = accounts_store.add_account(
        db,
        maria,
        name="work",
        kind="imap",
        address=OWNER,
        imap_host=dovecot_server.host,
        imap_port=dovecot_server.imaps_port,
        imap_security="tls",
        username=mail_user.login,
        secret_source={"env": PASSWORD_ENV},
        cafile=str(dovecot_server.cafile),
    )
    yield db, maria, dovecot_server, mail_user, account
    db.close()


def run(db, account, **options):
    return sync.sync_account(db, account, sync.SyncOptions(**options))


def row(db, n):
    return db.one("SELECT * FROM emails WHERE message_id_norm = ?", (f"order-{n}@acme.example",))


def server_view(server, user) -> dict:
    """folder → {Message-ID: flags}, as another client sees the mailbox."""
    client = server.client(user)
    try:
        out = {}
        for folder in ("INBOX", "Archive", "Trash", "Sent"):
            client.select_folder(folder, readonly=True)
            uids = client.search(["ALL"])
            data = client.fetch(uids, ["FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]) if uids else {}
            out[folder] = {
                v[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].split(b"<", 1)[1].split(b">", 1)[0].decode(): sorted(
                    f.decode() for f in v[b"FLAGS"] if f != b"\\Recent"
                )
                for v in data.values()
            }
        return out
    finally:
        client.logout()


def uid_of(server, user, folder, n) -> int:
    client = server.client(user)
    try:
        client.select_folder(folder, readonly=True)
        return client.search(["HEADER", "Message-ID", f"order-{n}@acme.example"])[0]
    finally:
        client.logout()


def test_initial_sync_then_nothing_changed(world):
    db, _, server, user, account = world
    server.seed(user, "INBOX", [mail(1), mail(2), mail(3)], flags=[["\\Seen"], [], ["\\Flagged"]])
    server.seed(user, "Archive", [mail(4)], flags=["\\Seen"])
    server.seed(user, "Sent", [mail(5, sender=f"Maria <{OWNER}>", to="Jane <jane@acme.example>")])
    result = run(db, account)
    assert (result.new, result.errors, result.exit_code) == (5, [], 0)
    assert [(row(db, n)["folder"], row(db, n)["is_read"]) for n in range(1, 6)] == [
        ("inbox", 1),
        ("inbox", 0),
        ("inbox", 0),
        ("archive", 1),
        ("sent", 1),
    ]
    before = dump(db)
    again = run(db, account)
    assert (again.new, again.updated, again.deleted, again.errors) == (0, 0, 0, [])
    assert dump(db) == before
    # Sync reads with BODY.PEEK: nothing became \Seen on the server.
    assert server_view(server, user)["INBOX"]["order-2@acme.example"] == []


def test_new_mail_and_flags_from_the_other_client(world):
    db, _, server, user, account = world
    server.seed(user, "INBOX", [mail(1), mail(2)])
    run(db, account)
    server.append(user, "INBOX", mail(3))
    server.doveadm(
        "flags", "add", "-u", user.login, "\\Seen", "mailbox", "INBOX", "uid", str(uid_of(server, user, "INBOX", 1))
    )
    result = run(db, account)
    assert (result.new, result.updated) == (1, 1)
    assert row(db, 1)["is_read"] == 1 and row(db, 3)["is_read"] == 0


def test_local_read_archive_delete_reach_the_server(world):
    db, maria, server, user, account = world
    server.seed(user, "INBOX", [mail(1), mail(2), mail(3)])
    run(db, account)
    actions.set_read(db, maria, row(db, 1)["id"], True)
    actions.archive(db, maria, row(db, 2)["id"])
    actions.delete(db, maria, row(db, 3)["id"])
    result = run(db, account)
    assert (result.new, result.deleted, result.errors) == (0, 0, [])
    view = server_view(server, user)
    assert view["INBOX"] == {"order-1@acme.example": ["\\Seen"]}
    assert list(view["Archive"]) == ["order-2@acme.example"] and list(view["Trash"]) == ["order-3@acme.example"]
    assert [row(db, n)["folder"] for n in (1, 2, 3)] == ["inbox", "archive", "trash"]
    actions.restore(db, maria, row(db, 3)["id"])
    actions.set_read(db, maria, row(db, 1)["id"], False)
    run(db, account)
    view = server_view(server, user)
    assert view["INBOX"] == {"order-1@acme.example": [], "order-3@acme.example": []}
    before = dump(db)
    assert run(db, account).updated == 0 and dump(db) == before


def test_archive_delete_and_moves_on_the_server_come_back(world):
    db, _, server, user, account = world
    server.seed(user, "INBOX", [mail(n) for n in range(1, 5)])
    run(db, account)
    ids = {n: row(db, n)["id"] for n in range(1, 5)}
    login = user.login
    server.doveadm("move", "-u", login, "Archive", "mailbox", "INBOX", "uid", str(uid_of(server, user, "INBOX", 1)))
    server.doveadm("move", "-u", login, "Trash", "mailbox", "INBOX", "uid", str(uid_of(server, user, "INBOX", 2)))
    server.doveadm("expunge", "-u", login, "mailbox", "INBOX", "uid", str(uid_of(server, user, "INBOX", 3)))
    result = run(db, account)
    assert (result.new, result.updated, result.deleted, result.errors) == (0, 1, 2, [])
    assert {n: (row(db, n)["id"], row(db, n)["folder"], row(db, n)["is_deleted"]) for n in range(1, 5)} == {
        1: (ids[1], "archive", 0),
        2: (ids[2], "trash", 1),
        3: (ids[3], "trash", 1),
        4: (ids[4], "inbox", 0),
    }
    server.doveadm("move", "-u", login, "INBOX", "mailbox", "Archive", "uid", str(uid_of(server, user, "Archive", 1)))
    run(db, account)
    assert row(db, 1)["folder"] == "inbox" and db.scalar("SELECT COUNT(*) FROM emails") == 4


def test_a_uidvalidity_reset_rematches_by_message_id(world):
    db, _, server, user, account = world
    server.seed(user, "INBOX", [mail(n) for n in range(1, 6)], flags=["\\Seen"])
    run(db, account)
    before = {n: row(db, n)["id"] for n in range(1, 6)}
    old = db.scalar("SELECT uidvalidity FROM sync_folders WHERE name = 'INBOX'")
    server.doveadm("mailbox", "update", "-u", user.login, "--uid-validity", str(old + 1000), "INBOX")
    server.append(user, "INBOX", mail(6))
    result = run(db, account)
    assert (result.new, result.deleted, result.errors) == (1, 0, [])
    assert {n: row(db, n)["id"] for n in range(1, 6)} == before
    assert db.scalar("SELECT COUNT(*) FROM emails") == 6
    assert db.scalar("SELECT COUNT(*) FROM emails WHERE is_deleted = 1") == 0
    assert db.scalar("SELECT uidvalidity FROM sync_folders WHERE name = 'INBOX'") == old + 1000
    assert (
        db.scalar(
            "SELECT COUNT(*) FROM locations l JOIN sync_folders f ON f.id = l.folder_id "
            "WHERE f.name = 'INBOX' AND l.is_gone = 0 AND l.uidvalidity = ?",
            (old + 1000,),
        )
        == 6
    )
    again = run(db, account)
    assert (again.new, again.updated, again.deleted) == (0, 0, 0)


def test_messages_expunged_between_search_and_fetch_are_just_gone(world):
    db, _, server, user, account = world
    server.seed(user, "INBOX", [mail(n) for n in range(1, 6)])

    class Racing(ImapSource):
        def fetch(self, uids):
            if self.session.selected == "INBOX" and uids:
                server.doveadm("expunge", "-u", user.login, "mailbox", "INBOX", "uid", str(uids[1]))
                server.doveadm("expunge", "-u", user.login, "mailbox", "INBOX", "uid", str(uids[3]))
            return super().fetch(uids)

    result = run(db, account, source_factory=lambda acc: Racing.connect(acc))
    assert (result.new, result.errors, result.exit_code) == (3, [], 0)
    assert db.scalar("SELECT COUNT(*) FROM fetch_failures") == 0
    again = run(db, account)
    assert (again.new, again.deleted, again.errors) == (0, 0, [])


def test_wrong_password_exits_77_without_showing_it(world, cli, monkeypatch):
    db, _, _server, _user, _account = world
    monkeypatch.setenv(PASSWORD_ENV, "sentinel-Wrong-Password-42")
    result = cli("sync", "--user", OWNER)
    assert result.exit_code == 77
    assert "sentinel-Wrong-Password-42" not in result.stdout + result.stderr
    assert result.stderr.startswith("Error: ")
    assert db.scalar("SELECT outcome FROM sync_runs ORDER BY id DESC") == "authfail"


def _through(proxy, user):
    """A source connected through the fault proxy (plain port: the proxy must read the protocol)."""
    from imapclient import IMAPClient

    from pdmail.accounts.imap import ImapSession

    def factory(account):
        from pdmail.core.errors import TemporaryFailure

        try:
            client = IMAPClient(proxy.host, port=proxy.port, ssl=False, timeout=10)
            client.login(user.login, user.password)
        except OSError as exc:
            raise TemporaryFailure(f"cannot reach the proxy: {exc}") from None
        return ImapSource(ImapSession(client, account, f"{proxy.host}:{proxy.port}"))

    return factory


def test_a_server_without_condstore_gets_full_flag_scans(world):
    from faultproxy import FaultProxy

    db, _, server, user, account = world
    server.seed(user, "INBOX", [mail(n) for n in range(1, 4)])
    with FaultProxy(server.imap_port, drop_capabilities=("CONDSTORE", "QRESYNC")) as proxy:
        source = _through(proxy, user)
        assert run(db, account, source_factory=source).new == 3
        assert db.scalar("SELECT highestmodseq FROM sync_folders WHERE name = 'INBOX'") is None
        server.doveadm(
            "flags", "add", "-u", user.login, "\\Seen", "mailbox", "INBOX", "uid", str(uid_of(server, user, "INBOX", 2))
        )
        server.append(user, "INBOX", mail(4))
        result = run(db, account, source_factory=source)
        assert (result.new, result.updated, result.errors) == (1, 1, [])
        assert row(db, 2)["is_read"] == 1
        before = dump(db)
        again = run(db, account, source_factory=source)
        assert (again.new, again.updated, again.deleted) == (0, 0, 0) and dump(db) == before


@pytest.mark.parametrize("overlapped", [False, True], ids=["in-order", "overlapped"])
def test_a_connection_cut_mid_fetch_exits_75_and_the_next_run_completes(world, monkeypatch, overlapped):
    from faultproxy import FaultProxy

    if overlapped:
        monkeypatch.setattr(sync, "PARALLEL_FROM", 1)
        monkeypatch.setattr(sync, "PARALLEL_BYTES", 0)  # a few small messages: parallel all the same

    db, _, server, user, account = world
    bulky = [mail(n).replace(b"please confirm", b"x" * 3000 + b"\r\nplease confirm") for n in range(1, 21)]
    server.seed(user, "INBOX", bulky)
    with FaultProxy(server.imap_port, cut_after_fetch_bytes=20000) as proxy:
        source = _through(proxy, user)
        first = run(db, account, source_factory=source, batch=3)
        assert (first.outcome, first.exit_code) == ("tempfail", 75) and proxy.cuts == 1
        assert 0 < first.new < 20
        assert db.scalar("SELECT outcome FROM sync_runs ORDER BY id DESC") == "tempfail"
        second = run(db, account, source_factory=source, batch=3)
    assert (second.exit_code, first.new + second.new) == (0, 20)
    assert db.scalar("SELECT COUNT(*) FROM emails") == 20
    assert db.scalar("SELECT COUNT(*) FROM locations WHERE is_gone = 0") == 20


def test_idle_wakes_up_when_mail_arrives_and_a_dropped_line_is_retried(world):
    import threading

    from faultproxy import FaultProxy

    from pdmail.sync import watch

    db, maria, server, user, account = world
    arrived = threading.Timer(0.5, lambda: server.append(user, "INBOX", mail(1)))
    arrived.start()
    try:
        assert watch.wait_for_change(account, 60) is True
    finally:
        arrived.cancel()

    # The watch loop over a line that drops once: the first sync fails (75), the retry succeeds.
    server.append(user, "INBOX", mail(2))
    reports, sleeps = [], []
    with FaultProxy(server.imap_port, cut_after_fetch_bytes=200) as proxy:
        watch.watch(
            db,
            maria,
            "work",
            sync.SyncOptions(source_factory=_through(proxy, user)),
            reports.append,
            timing=watch.WatchTiming(full_every=0.1, first_backoff=0.01),
            sleep=sleeps.append,
            wait=lambda acc, seconds: False,
            should_stop=lambda: len(reports) >= 2,
        )
    assert [r.outcome for r in reports] == ["tempfail", "ok"] and proxy.cuts == 1
    assert reports[1].new == 2 and sleeps == [0.01]


def _second_database(tmp_path, server, user):
    """Another company database with the same account, for comparing two ways of syncing one mailbox."""
    import factories

    db, maria = factories.company(tmp_path / "other.db")
    account = accounts_store.add_account(
        db,
        maria,
        name="work",
        kind="imap",
        address=OWNER,
        imap_host=server.host,
        imap_port=server.imaps_port,
        imap_security="tls",
        username=user.login,
        secret_source={"env": PASSWORD_ENV},
        cafile=str(server.cafile),
    )
    return db, account


def test_parallel_downloads_store_exactly_what_one_connection_stores(world, tmp_path, monkeypatch):
    """Big folders are downloaded by worker processes over connections of their own; the result is
    the same as downloading over the one connection, flags, folders and threads included."""
    db, _, server, user, account = world
    server.seed(user, "INBOX", [mail(n) for n in range(1, 31)], flags=["\\Seen"])
    server.seed(user, "INBOX", [mail(n) for n in range(31, 41)])
    server.seed(user, "Sent", [mail(n, sender=f"Maria Lopez <{OWNER}>", to="jane@acme.example") for n in range(41, 46)])
    started = []
    real = sync.Downloads
    monkeypatch.setattr(sync, "Downloads", lambda *a, **k: started.append(a[3]) or real(*a, **k))
    monkeypatch.setattr(sync, "PARALLEL_FROM", 1)
    monkeypatch.setattr(sync, "PARALLEL_BYTES", 0)  # a few small messages: parallel all the same
    monkeypatch.setattr(parse_pool, "CHUNK", 4)
    parallel = run(db, account, batch=7, workers=2)
    assert (parallel.new, parallel.errors) == (45, []) and started == [2, 2]

    serial_db, serial_account = _second_database(tmp_path, server, user)
    try:
        serial = run(serial_db, serial_account, batch=7, workers=1)
        assert serial.new == 45 and started == [2, 2]  # one connection: no download processes
        assert dump(db) == dump(serial_db)
    finally:
        serial_db.close()


def test_a_big_folder_of_small_messages_is_downloaded_over_the_one_connection(world, monkeypatch):
    """Helper processes and their logins start for a folder's count of messages only when its bytes
    too make them pay: the server says the sizes before anything is downloaded."""
    db, _, server, user, account = world
    server.seed(user, "INBOX", [mail(n) for n in range(1, 13)])  # a dozen small messages
    bulky = [mail(n).replace(b"please confirm", b"x" * 40_000 + b"\r\nplease confirm") for n in range(13, 25)]
    server.seed(user, "Sent", bulky)  # a dozen of 40 KB
    started = []
    real = sync.Downloads
    monkeypatch.setattr(sync, "Downloads", lambda *a, **k: started.append(len(a[2])) or real(*a, **k))
    monkeypatch.setattr(sync, "PARALLEL_FROM", 10)
    monkeypatch.setattr(sync, "PARALLEL_BYTES", 200_000)
    result = run(db, account, workers=2)
    assert (result.new, result.errors) == (24, [])
    assert started == [12]  # Sent's 480 KB, not INBOX's dozen kilobytes


def test_a_folder_of_a_few_megabytes_is_synced_without_helper_processes(world, monkeypatch):
    """Smart BCC's parsing helpers pay from a few megabytes; a sync's, which log in and whose late
    tasks the run downloads again, only from several times that: below, no process and no login more."""
    db, _, server, user, account = world
    padding = b"x" * 400_000
    server.seed(
        user, "INBOX", [mail(n).replace(b"please confirm", padding + b"\r\nplease confirm") for n in range(1, 13)]
    )
    assert parse_pool.PARALLEL_BYTES < 12 * len(padding) < sync.PARALLEL_BYTES
    started = []
    monkeypatch.setattr(sync, "Downloads", lambda *a, **k: started.append("downloads"))
    real_pool = sync.ParsePool
    monkeypatch.setattr(
        sync, "ParsePool", lambda workers, *a, **k: started.append(workers) or real_pool(workers, *a, **k)
    )
    monkeypatch.setattr(sync, "PARALLEL_FROM", 10)  # the count alone would start them
    result = run(db, account, workers=2)
    assert (result.new, result.errors) == (12, [])
    assert started == [0]  # parsed here, downloaded over the run's one connection


def test_a_download_process_that_loses_its_connection_fails_the_run_and_the_next_completes(world, monkeypatch):
    from faultproxy import FaultProxy

    db, _, server, user, account = world
    bulky = [mail(n).replace(b"please confirm", b"x" * 3000 + b"\r\nplease confirm") for n in range(1, 41)]
    server.seed(user, "INBOX", bulky)
    monkeypatch.setattr(sync, "PARALLEL_FROM", 1)
    monkeypatch.setattr(sync, "PARALLEL_BYTES", 0)  # a few small messages: parallel all the same
    monkeypatch.setattr(parse_pool, "CHUNK", 5)
    with FaultProxy(
        server.imap_port, cut_after_fetch_bytes=20000, cut_connections=3, tls_cert=server.tls_cert
    ) as proxy:
        through = accounts_store.Account(**{**account.__dict__, "imap_port": proxy.port})
        first = run(db, through, batch=10, workers=2)
        assert (first.outcome, first.exit_code) == ("tempfail", 75) and proxy.cuts >= 1
        assert first.new < 40
    second = run(db, account, batch=10, workers=2)
    assert (second.exit_code, first.new + second.new) == (0, 40)
    assert db.scalar("SELECT COUNT(*) FROM emails") == 40
    assert db.scalar("SELECT COUNT(*) FROM locations WHERE is_gone = 0") == 40


def test_a_download_connection_refuses_a_folder_renumbered_meanwhile(world):
    from pdmail.core.errors import TemporaryFailure
    from pdmail.sync.imap_source import _open_reader

    _db, _, server, user, account = world
    server.seed(user, "INBOX", [mail(1)])
    source = ImapSource.connect(account)
    try:
        uidvalidity = source.select("INBOX").uidvalidity
        assert _open_reader(account, user.password, "INBOX", uidvalidity).fetch([1])
        with pytest.raises(TemporaryFailure, match="renumbered"):
            _open_reader(account, user.password, "INBOX", uidvalidity + 1)
    finally:
        source.close()


def test_a_flag_changed_on_the_server_during_the_download_is_seen_by_the_next_run(world):
    """The flag pass skips what this run downloaded (its flags came with it); a change made meanwhile
    is still found, because the next run asks for changes since this run's SELECT."""
    db, _, server, user, account = world
    server.seed(user, "INBOX", [mail(n) for n in range(1, 6)])
    changed = []

    def meanwhile(kind, count):
        if kind == "commit" and not changed and db.scalar("SELECT COUNT(*) FROM emails"):
            server.doveadm(
                "flags",
                "add",
                "-u",
                user.login,
                "\\Seen",
                "mailbox",
                "INBOX",
                "uid",
                str(uid_of(server, user, "INBOX", 1)),
            )
            changed.append(count)

    assert run(db, account, checkpoint=meanwhile).new == 5 and changed
    again = run(db, account)
    assert (again.new, again.errors) == (0, []) and row(db, 1)["is_read"] == 1
    assert [row(db, n)["is_read"] for n in range(2, 6)] == [0, 0, 0, 0]


def test_when_the_server_allows_no_more_connections_the_run_downloads_over_its_own(world, tmp_path, monkeypatch):
    """A server may cap a user's connections (their own mail program holds some): the download
    processes then hand their work back, and the sync completes over its one connection."""
    from pdmail.core.errors import TemporaryFailure
    from pdmail.sync import imap_source

    db, _, server, user, account = world
    server.seed(user, "INBOX", [mail(n) for n in range(1, 26)], flags=["\\Seen"])

    def refused(*args):
        raise TemporaryFailure("127.0.0.1: Maximum number of connections from user+IP exceeded")

    monkeypatch.setattr(imap_source, "_open_reader", refused)
    monkeypatch.setattr(sync, "PARALLEL_FROM", 1)
    monkeypatch.setattr(sync, "PARALLEL_BYTES", 0)  # a few small messages: parallel all the same
    monkeypatch.setattr(parse_pool, "CHUNK", 4)
    result = run(db, account, batch=7, workers=2)
    assert (result.new, result.errors, result.exit_code) == (25, [], 0)

    serial_db, serial_account = _second_database(tmp_path, server, user)
    try:
        assert run(serial_db, serial_account, batch=7, workers=1).new == 25
        assert dump(db) == dump(serial_db)
    finally:
        serial_db.close()
