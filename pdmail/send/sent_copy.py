"""Putting a copy of sent mail into the server's Sent folder, once, whatever crashes in between.

The copy carries the message's token header. Before appending, the Sent folder is searched for
that token, so a run that appended and then died before recording it finds its own copy instead
of adding a second one. Providers that file sent mail themselves (Gmail, Outlook) get no copy.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Final

from pdmail.core.errors import UsageError
from pdmail.core.models import SentCopyStatus
from pdmail.send.compose import TOKEN_HEADER

DONE: Final = "done"  # our copy is in the Sent folder (appended now or found from an earlier run)
BY_PROVIDER: Final = "by_provider"  # the provider files sent mail itself
NONE: Final = "none"  # the account has no server folder to copy to (a local Maildir)


def provider_of(account):
    from pdmail.accounts import providers

    if account.provider:
        try:
            return providers.get_provider(account.provider)
        except KeyError:
            return None
    return providers.provider_for_address(account.address)


def needs_copy(account) -> SentCopyStatus | None:
    """None when a copy must be appended; otherwise the status that says why not."""
    if account.kind != "imap":
        return NONE
    provider = provider_of(account)
    if provider is not None and provider.saves_sent is True:
        return BY_PROVIDER
    return None


def save(
    account, raw: bytes, token: str, message_id: str, date: datetime | None = None, *, connect: Callable | None = None
) -> SentCopyStatus:
    """Append ``raw`` to the Sent folder unless it is already there. Raises PdmailError on failure."""
    skip = needs_copy(account)
    if skip is not None:
        return skip
    if connect is None:
        from pdmail.accounts.imap import connect as imap_connect

        connect = imap_connect
    provider = provider_of(account)
    session = connect(account)
    try:
        sent = next((f for f in session.folders() if f.role == "sent" and f.selectable), None)
        if sent is None:
            raise UsageError(
                f"{account.address} has no Sent folder (none is flagged \\Sent or named like one); "
                "the message was sent but no copy was filed"
            )
        session.select(sent.name)
        if session.search_uids("HEADER", TOKEN_HEADER, token):
            return DONE
        # A server that may file sent mail on its own: its copy would carry our Message-ID.
        may_file_its_own = provider is None or provider.saves_sent is None
        if may_file_its_own and session.search_uids("HEADER", "Message-ID", f"<{message_id}>"):
            return BY_PROVIDER
        session.append(sent.name, raw, flags=("\\Seen",), date=date)
        return DONE
    finally:
        session.close()
