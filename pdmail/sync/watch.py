"""`pdmail sync --watch`: stay connected, sync when the server says something changed.

Between runs the inbox is watched with IMAP IDLE (re-issued well within the 29 minutes RFC 2177
allows); a full pass runs at least every ``full_every`` seconds anyway. A dropped connection or an
unreachable server is retried with exponential backoff; bad credentials end the watch (exit 77).
A Maildir account has no IDLE: it is simply synced every ``full_every`` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from pdmail.core.errors import AuthFailure, TemporaryFailure, UsageError
from pdmail.store import accounts as accounts_store
from pdmail.store.accounts import Account
from pdmail.store.db import Database
from pdmail.sync.engine import AccountResult, SyncOptions, sync_account

IDLE_MAX_S = 25 * 60


@dataclass
class WatchTiming:
    full_every: float = 300.0
    first_backoff: float = 2.0
    max_backoff: float = 300.0


def wait_for_change(account: Account, seconds: float, connect=None) -> bool:
    """IDLE on the inbox for up to ``seconds``; True when the server reported something."""
    if connect is None:
        from pdmail.accounts import imap

        connect = imap.connect
    session = connect(account)
    try:
        if not session.has("IDLE"):
            time.sleep(seconds)
            return False
        session.select("INBOX")
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if session.idle(min(left, IDLE_MAX_S)):
                return True
        return False
    finally:
        session.close()


def watch(
    db: Database,
    user,
    account_name: str | None,
    options: SyncOptions,
    report: Callable[[AccountResult], None],
    *,
    timing: WatchTiming | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], None] = time.sleep,
    wait: Callable[[Account, float], bool] | None = None,
) -> None:
    """Sync, wait for news, sync again, until interrupted (Ctrl-C) or ``should_stop`` says so."""
    timing = timing or WatchTiming()
    account = accounts_store.get_account(db, user, account_name)
    wait = wait or wait_for_change
    backoff = timing.first_backoff
    while not should_stop():
        result = sync_account(db, account, options)
        report(result)
        if result.outcome == "authfail":
            raise AuthFailure(result.errors[-1] if result.errors else f"{account.name}: login refused")
        if result.outcome == "error":
            raise UsageError(result.errors[-1] if result.errors else f"{account.name}: sync failed")
        if result.outcome == "tempfail":
            sleep(backoff)
            backoff = min(backoff * 2, timing.max_backoff)
            continue
        backoff = timing.first_backoff
        if should_stop():
            break
        if account.kind != "imap":
            sleep(timing.full_every)
            continue
        try:
            wait(account, timing.full_every)
        except TemporaryFailure:
            sleep(backoff)
            backoff = min(backoff * 2, timing.max_backoff)
