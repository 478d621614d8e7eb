"""The crash sweep against a real Dovecot: every interruption point, then resume, equals one clean run.

Each point gets its own mailbox and database built the same way, so the server side (which
messages sit where, with which flags) is compared too.
"""

from __future__ import annotations

import pytest
from syncworld import OWNER, dump, mail
from test_sync_imap import PASSWORD_ENV, server_view, uid_of

from pdmail.capture import parse_pool
from pdmail.mailbox import actions
from pdmail.store import accounts as accounts_store
from pdmail.store import open_db
from pdmail.store.users import find_user
from pdmail.sync import engine as sync

pytestmark = [pytest.mark.dovecot, pytest.mark.both_engines]
BATCH = 2
WORKERS = None  # download processes: sync's default


class Crash(BaseException):
    pass


def _without_uidvalidity(state: dict) -> dict:
    """UIDVALIDITY differs between two fresh mailboxes; everything else must match."""
    out = dict(state)
    out["locations"] = sorted((loc[0], *loc[2:]) for loc in state["locations"])
    out["folders"] = sorted((f[0], f[1], *f[3:]) for f in state["folders"])
    return out


@pytest.fixture
def build(company, db_path, dovecot_server, tmp_path, monkeypatch, copy_db):
    db = open_db(db_path)
    db.close()
    blank = copy_db(db_path, tmp_path / "blank.db")

    def make(name: str):
        """A mailbox and database synced once, then changed on both sides."""
        user = dovecot_server.add_user()
        monkeypatch.setenv(PASSWORD_ENV + "_" + name.upper().replace("-", "_"), user.password)
        db = open_db(copy_db(blank, tmp_path / f"{name}.db"))
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
            username=user.login,
            secret_source={"env": PASSWORD_ENV + "_" + name.upper().replace("-", "_")},
            cafile=str(dovecot_server.cafile),
        )
        server = dovecot_server
        server.seed(user, "INBOX", [mail(n) for n in range(1, 8)], flags=[[], ["\\Seen"]] * 3 + [[]])
        server.seed(user, "Archive", [mail(8)], flags=["\\Seen"])
        assert sync.sync_account(db, account, sync.SyncOptions(batch=BATCH)).exit_code == 0
        for n in range(9, 13):
            server.append(user, "INBOX", mail(n))
        login = user.login
        server.doveadm(
            "flags", "add", "-u", login, "\\Seen", "mailbox", "INBOX", "uid", str(uid_of(server, user, "INBOX", 1))
        )
        server.doveadm("move", "-u", login, "Archive", "mailbox", "INBOX", "uid", str(uid_of(server, user, "INBOX", 3)))
        server.doveadm("expunge", "-u", login, "mailbox", "INBOX", "uid", str(uid_of(server, user, "INBOX", 4)))

        def eid(n):
            return db.scalar("SELECT id FROM emails WHERE message_id_norm = ?", (f"order-{n}@acme.example",))

        actions.set_read(db, maria, eid(5), True)
        actions.archive(db, maria, eid(6))
        actions.delete(db, maria, eid(7))
        actions.set_read(db, maria, eid(8), False)
        return db, account, user

    return make


def _run(db, account, hook=None):
    return sync.sync_account(db, account, sync.SyncOptions(batch=BATCH, checkpoint=hook, workers=WORKERS))


@pytest.mark.parametrize("helpers", [False, True], ids=["one-connection", "download-processes"])
def test_every_interruption_point_converges_against_dovecot(build, dovecot_server, monkeypatch, helpers):
    started = []
    if helpers:  # worker processes with connections of their own, as for a big folder
        import sys

        monkeypatch.setattr(sync, "PARALLEL_FROM", 1)
        monkeypatch.setattr(sync, "PARALLEL_BYTES", 0)  # a few small messages: parallel all the same
        monkeypatch.setattr(parse_pool, "CHUNK", 1)
        monkeypatch.setattr(sys.modules[__name__], "WORKERS", 2)
        real = sync.Downloads
        monkeypatch.setattr(sync, "Downloads", lambda *a, **k: started.append(1) or real(*a, **k))
    db, account, user = build("reference")
    points = []
    result = _run(db, account, lambda kind, n: points.append(kind))
    assert result.exit_code == 0, result.errors
    reference, reference_server = _without_uidvalidity(dump(db)), server_view(dovecot_server, user)
    assert _run(db, account).new == 0 and _without_uidvalidity(dump(db)) == reference
    db.close()
    assert "server" in points and len(points) >= 10
    assert bool(started) == helpers

    for k in range(1, len(points) + 1):
        db, account, user = build(f"crash-{k}")

        def crash_at(kind, n, k=k):
            if n == k:
                raise Crash(kind)

        with pytest.raises(Crash):
            _run(db, account, crash_at)
        resumed = _run(db, account)
        assert resumed.exit_code == 0, (k, resumed.errors)
        where = f"interrupted at checkpoint {k} ({points[k - 1]})"
        assert _without_uidvalidity(dump(db)) == reference, where
        assert server_view(dovecot_server, user) == reference_server, where
        db.close()
