"""The IMAP connection: verified TLS, login, and the few commands sync needs, in safe sizes.

Everything imapclient does is wrapped so that callers see pdmail's errors only:

- bad credentials → ``AuthFailure`` (exit 77), an untrusted certificate too (naming ``--cafile``);
- unreachable server, timeout, dropped connection → ``TemporaryFailure`` (exit 75);
- a command the server refuses → ``ImapError`` (its ``code`` is the response code, such as
  ``NONEXISTENT`` or ``EXPUNGEISSUED``), so sync can decide per folder.

There is no way to turn certificate checks off, and a ``starttls`` account never talks to a
server that does not offer STARTTLS (someone in the middle may have removed it). UID sets are
sent in chunks: Dovecot answers ``BAD Too long argument`` past ~12,000 UIDs in one command.
The secret is read once at login and never kept, logged or put into a message.
"""

from __future__ import annotations

import imaplib
import re
import shlex
import socket
import ssl
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from imapclient import IMAPClient, SocketTimeout
from imapclient import exceptions as imapx

from pdmail import __version__
from pdmail.accounts.imap_fetch import read_bodies, read_flags, read_sizes
from pdmail.accounts.providers import PROVIDERS, Provider, assign_roles, role_of
from pdmail.accounts.secrets import scrub, secret_for
from pdmail.core.errors import EXIT_TEMPFAIL, AuthFailure, PdmailError, TemporaryFailure, UsageError

DEFAULT_TIMEOUT_S = 60.0
FETCH_CHUNK = 500  # bodies per UID FETCH
UID_CHUNK = 1000  # UIDs per flag, move or expunge command (far below Dovecot's ~12,000 limit)
# Reads a FETCH response of one usual shape (imaplib's data) as imapclient would, or returns None.
QuickReader = Callable[[list], dict[int, dict[bytes, object]] | None]
_RESPONSE_CODE = re.compile(r"\[([A-Z][A-Z0-9-]*)")
# Response codes of a refused command (RFC 5530 and others); imaplib files them apart from the text.
_ERROR_CODES = (
    "NONEXISTENT",
    "TRYCREATE",
    "EXPUNGEISSUED",
    "ALREADYEXISTS",
    "NOPERM",
    "INUSE",
    "UNAVAILABLE",
    "LIMIT",
    "OVERQUOTA",
    "SERVERBUG",
    "CANNOT",
    "CLIENTBUG",
    "CONTACTADMIN",
    "CORRUPTION",
    "EXPIRED",
    "PRIVACYREQUIRED",
    "AUTHENTICATIONFAILED",
    "AUTHORIZATIONFAILED",
    "UIDNOTSTICKY",
)


class ImapError(PdmailError):
    """The server refused a command; ``code`` is its response code (e.g. ``NONEXISTENT``) if any."""

    exit_code = EXIT_TEMPFAIL

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Folder:
    name: str
    role: str | None  # "inbox", "sent", "archive", "trash", "drafts", "junk", "all"... or None
    delimiter: str | None
    flags: tuple[str, ...]

    @property
    def selectable(self) -> bool:
        return not any(f.lower() in ("\\noselect", "\\nonexistent") for f in self.flags)


@dataclass(frozen=True)
class SelectInfo:
    uidvalidity: int
    uidnext: int | None
    highestmodseq: int | None  # None: the server has no CONDSTORE, or reports NOMODSEQ for this folder
    exists: int


@dataclass(frozen=True)
class Fetched:
    uid: int
    raw: bytes
    flags: tuple[str, ...]
    internaldate: datetime | None  # timezone-aware, as the server gave it
    modseq: int | None


def chunks(uids: Sequence[int], size: int) -> Iterator[list[int]]:
    uids = list(uids)
    for start in range(0, len(uids), size):
        yield uids[start : start + size]


def _text(value) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(_text(v) for v in value)
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _flags(values) -> tuple[str, ...]:
    return tuple(_text(v) for v in values or ())


def ssl_context(cafile: str | None, name: str = "NAME") -> ssl.SSLContext:
    """The system's trusted CAs (plus ``cafile``), hostname checked, TLS 1.2 or newer."""
    if cafile and not Path(cafile).is_file():
        raise UsageError(f"the CA file {cafile} is not a readable file; give another with {_fix(name, '--cafile PEM')}")
    try:
        context = ssl.create_default_context(cafile=cafile or None)
    except ssl.SSLError as exc:
        raise UsageError(
            f"the CA file {cafile} holds no usable certificate ({exc.reason or exc}); "
            f"give another with {_fix(name, '--cafile PEM')}"
        ) from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def connect(
    account, *, timeout: float = DEFAULT_TIMEOUT_S, secret: str | None = None, sasl: str | None = None
) -> ImapSession:
    """A logged-in session for an IMAP account.

    ``secret`` overrides the account's secret source (tests, or a caller that already asked);
    ``sasl`` forces ``XOAUTH2`` or ``OAUTHBEARER`` for OAuth2 accounts (default: what the
    server offers, OAUTHBEARER first).
    """
    if account.kind != "imap":
        raise UsageError(f"account {account.name} is a Maildir account; it has no IMAP server")
    host, port, security = account.imap_host, int(account.imap_port), account.imap_security
    where = f"{host}:{port}"
    context = ssl_context(account.cafile, account.name)
    # Ask first: a password command may prompt (pinentry) for longer than a server waits for LOGIN.
    secret = secret if secret is not None else secret_for(account)
    client = _open(host, port, security, context, timeout, where, account.name)
    try:
        if security == "starttls":
            _starttls(client, context, where, account.name)
        _login(client, account, secret, sasl, where)
        return ImapSession(client, account, where)
    except BaseException:
        _close_quietly(client)
        raise


def _open(host, port, security, context, timeout, where, name: str) -> IMAPClient:
    try:
        client = IMAPClient(
            host,
            port=port,
            ssl=security == "tls",
            ssl_context=context,
            timeout=SocketTimeout(connect=timeout, read=timeout),
        )
        # imapclient turns imaplib's wire log fully on and filters it in its logger: every line, the
        # login and each message's bytes included, is formatted with repr() and thrown away. That
        # was more than half the CPU of a download; pdmail never logs the wire (mail and secrets).
        client._imap.debug = 0
        return client
    except ssl.SSLCertVerificationError as exc:
        raise _untrusted(where, exc, name) from None
    except TimeoutError:
        raise TemporaryFailure(f"{where} did not answer within {timeout:g} s; try again later") from None
    except ssl.SSLError as exc:
        raise TemporaryFailure(
            f"TLS with {where} failed ({exc.reason or exc}); is it really "
            f"{'an IMAPS (TLS) port' if security == 'tls' else 'a STARTTLS port'}?"
        ) from None
    except (OSError, imaplib.IMAP4.error) as exc:
        raise TemporaryFailure(f"cannot reach {where} ({_reason(exc)}); try again later") from None


def _fix(name: str, options: str) -> str:
    """The command that changes the account's settings, to quote in an error: it exists already."""
    return f"`pdmail account set {shlex.quote(name)} {options}`"


def _untrusted(where: str, exc: ssl.SSLCertVerificationError, name: str) -> AuthFailure:
    detail = exc.verify_message or exc.reason or "verification failed"
    return AuthFailure(
        f"the TLS certificate of {where} is not trusted ({detail}); if the server uses a private CA "
        f"or a self-signed certificate, trust that certificate with {_fix(name, '--cafile PEM')}"
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return "host name not found"
    return getattr(exc, "strerror", None) or _text(exc.args[0] if exc.args else type(exc).__name__)


def _starttls(client: IMAPClient, context: ssl.SSLContext, where: str, name: str) -> None:
    capabilities = {c.upper() for c in _flags(client.capabilities())}
    if "STARTTLS" not in capabilities:
        raise AuthFailure(
            f"{where} does not offer STARTTLS, so the connection would stay unencrypted; pdmail refuses. "
            f"Use the server's TLS port: {_fix(name, '--imap-security tls')} (port 993)"
        )
    try:
        client.starttls(context)
    except ssl.SSLCertVerificationError as exc:
        raise _untrusted(where, exc, name) from None
    except (ssl.SSLError, OSError, imaplib.IMAP4.error, imapx.IMAPClientError) as exc:
        raise TemporaryFailure(f"STARTTLS with {where} failed ({_reason(exc)})") from None


class _Sasl:
    """imaplib's AUTHENTICATE callback: the initial response once, then an empty line.

    An OAuth2 failure arrives as a challenge holding an error report; the client must answer it
    with an empty response (RFC 7628 §3.2.3), not send the token a second time.
    """

    def __init__(self, initial: str) -> None:
        self.initial: str | None = initial

    def __call__(self, challenge: bytes) -> str:
        initial, self.initial = self.initial, None
        return initial if initial is not None else ""


def _sasl_string(mechanism: str, user: str, token: str) -> str:
    if mechanism == "XOAUTH2":
        return f"user={user}\x01auth=Bearer {token}\x01\x01"
    authzid = user.replace("=", "=3D").replace(",", "=2C")
    return f"n,a={authzid},\x01auth=Bearer {token}\x01\x01"


def _login(client: IMAPClient, account, secret: str, sasl: str | None, where: str) -> None:
    login = account.login
    try:
        if account.auth == "oauth2":
            capabilities = {c.upper() for c in _flags(client.capabilities())}
            mechanism = (sasl or "").upper() or next(
                (m for m in ("OAUTHBEARER", "XOAUTH2") if f"AUTH={m}" in capabilities), None
            )
            if mechanism not in ("OAUTHBEARER", "XOAUTH2"):
                raise UsageError(
                    f"{where} offers neither OAUTHBEARER nor XOAUTH2; it cannot log in "
                    f"with an OAuth2 token (use a password instead)"
                )
            # imapclient's own OAuth helpers resend the token on an error challenge; this does not.
            client._imap.authenticate(mechanism, _Sasl(_sasl_string(mechanism, login, secret)))
        else:
            client.login(login, secret)
    except (imapx.LoginError, imaplib.IMAP4.error) as exc:
        text = _server_text(exc, secret)
        code = _code(text)
        if code in ("UNAVAILABLE", "SERVERBUG", "LIMIT", "INUSE"):
            raise TemporaryFailure(f"{where} could not log in {login} right now: {text}") from None
        hint = (
            "; check that the token command returns a fresh access token"
            if account.auth == "oauth2"
            else "; check the password (some providers need an app password)"
        )
        raise AuthFailure(f"{where} refused the login of {login} ({text.rstrip('.')}){hint}") from None
    except TimeoutError:
        raise TemporaryFailure(f"{where} stopped answering during login; try again later") from None
    except (OSError, imapx.IMAPClientAbortError, imaplib.IMAP4.abort) as exc:
        raise TemporaryFailure(
            f"the connection to {where} broke during login ({scrub(_reason(exc), secret)})"
        ) from None
    except UnicodeEncodeError:
        raise UsageError(
            f"the secret for {login} has characters {where} cannot receive in a LOGIN; use a plain ASCII password"
        ) from None


def _server_text(exc: BaseException, secret: str | None = None) -> str:
    """The server's words from an imaplib/imapclient error, without Python's bytes reprs."""
    text = _text(exc.args[0] if exc.args else exc)
    text = re.sub(r"\[?b(['\"])(.*?)\1\]?", r"\2", text)
    return scrub(text, secret)


def _code(text: str) -> str | None:
    match = _RESPONSE_CODE.search(text)
    return match.group(1) if match else None


def _close_quietly(client: IMAPClient) -> None:
    try:
        client.shutdown()
    except Exception:  # noqa: BLE001 - closing a broken connection may fail in many ways
        pass


class ImapSession:
    """A logged-in connection; the methods sync uses, each mapping errors to pdmail's."""

    def __init__(self, client: IMAPClient, account, where: str) -> None:
        self.client = client
        self.account = account
        self.where = where
        self.provider: Provider | None = PROVIDERS.get(account.provider or "")
        client.normalise_times = False  # keep INTERNALDATE timezone-aware
        with self._guard("CAPABILITY"):
            client._cached_capabilities = None  # re-read after login: servers add extensions then
            self.capabilities = frozenset(c.upper() for c in _flags(client.capabilities()))
            if self.provider is not None and self.provider.send_id and "ID" in self.capabilities:
                client.id_({"name": "pdmail", "version": __version__})
            # Some servers (iCloud) report HIGHESTMODSEQ only once CONDSTORE is enabled before SELECT.
            if "CONDSTORE" in self.capabilities and "ENABLE" in self.capabilities:
                client.enable("CONDSTORE")
        self.selected: str | None = None

    # --- plumbing -------------------------------------------------------------------------------

    def has(self, capability: str) -> bool:
        return capability.upper() in self.capabilities

    @property
    def condstore(self) -> bool:
        return self.has("CONDSTORE")

    def _pop_code(self) -> str | None:
        """The response code imaplib kept from the last refusal (and forget the others)."""
        untagged = self.client._imap.untagged_responses
        found = [code for code in _ERROR_CODES if untagged.pop(code, None) is not None]
        return found[0] if found else None

    @contextmanager
    def _guard(self, what: str):
        self._pop_code()
        try:
            yield
        except PdmailError:
            raise
        except TimeoutError:
            raise TemporaryFailure(f"{self.where} stopped answering ({what}); try again later") from None
        except (imapx.IMAPClientAbortError, imaplib.IMAP4.abort, OSError) as exc:
            raise TemporaryFailure(
                f"the connection to {self.where} broke during {what} ({_reason(exc)}); try again later"
            ) from None
        except (imapx.IMAPClientError, imaplib.IMAP4.error) as exc:
            text = _server_text(exc)
            raise ImapError(f"{self.where} refused {what}: {text}", _code(text) or self._pop_code()) from None

    # --- folders --------------------------------------------------------------------------------

    def folders(self) -> list[Folder]:
        """Every folder with its role: SPECIAL-USE attributes first, usual names as a fallback."""
        with self._guard("LIST"):
            found = self.client.list_folders()
            if (
                self.has("SPECIAL-USE")
                and self.has("LIST-EXTENDED")
                and not any(role_of("", _flags(flags)) for flags, _d, _n in found)
            ):
                # RFC 6154 lets a server name roles only when asked: LIST ... RETURN (SPECIAL-USE).
                typ, data = self.client._imap._simple_command("LIST", '""', '"*"', "RETURN", "(SPECIAL-USE)")
                if typ == "OK":
                    typ, data = self.client._imap._untagged_response(typ, data, "LIST")
                    found = self.client._proc_folder_list(data)
            listing = [(name, _text(delim) if delim else None, _flags(flags)) for flags, delim, name in found]
        roles = assign_roles(listing, self.provider)
        by_name = {name: role for role, name in roles.items()}
        return [Folder(name, by_name.get(name) or role_of(name, flags), delim, flags) for name, delim, flags in listing]

    def select(self, name: str, *, readonly: bool = False) -> SelectInfo:
        with self._guard(f"SELECT {name}"):
            info = self.client.select_folder(name, readonly=readonly)
        self.selected = name
        modseq = info.get(b"HIGHESTMODSEQ")
        if info.get(b"NOMODSEQ") or not self.condstore:
            modseq = None
        return SelectInfo(
            uidvalidity=int(info[b"UIDVALIDITY"]),
            uidnext=int(info[b"UIDNEXT"]) if b"UIDNEXT" in info else None,
            highestmodseq=int(modseq) if modseq is not None else None,
            exists=int(info.get(b"EXISTS", 0)),
        )

    def status(self, name: str) -> SelectInfo:
        """A folder's UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and size without selecting it (STATUS).

        The cheap way to see that nothing changed in many folders.
        """
        items = ["UIDVALIDITY", "UIDNEXT", "MESSAGES"] + (["HIGHESTMODSEQ"] if self.condstore else [])
        with self._guard(f"STATUS {name}"):
            info = self.client.folder_status(name, items)
        modseq = info.get(b"HIGHESTMODSEQ")
        return SelectInfo(
            uidvalidity=int(info[b"UIDVALIDITY"]),
            uidnext=int(info[b"UIDNEXT"]) if b"UIDNEXT" in info else None,
            highestmodseq=int(modseq) if modseq else None,
            exists=int(info.get(b"MESSAGES", 0)),
        )

    def search_uids(self, *criteria, since: datetime | None = None) -> list[int]:
        """UIDs in the selected folder matching IMAP search ``criteria`` (all when none), ascending."""
        query: list = list(criteria) or ["ALL"]
        if since is not None:
            query = [*([] if query == ["ALL"] else query), "SINCE", since.date()]
        with self._guard("UID SEARCH"):
            return sorted(int(u) for u in self.client.search(query))

    # --- messages -------------------------------------------------------------------------------

    def fetch_bodies(self, uids: Sequence[int], *, chunk: int = FETCH_CHUNK) -> Iterator[Fetched]:
        """Raw messages, never marking them read (BODY.PEEK[]); UIDs gone meanwhile are skipped."""
        items = ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"] + (["MODSEQ"] if self.condstore else [])
        for part in chunks(uids, chunk):
            data = self._fetch(part, items, quick=read_bodies)
            for uid in part:
                row = data.get(uid)
                # Expunged by another client: the UID is missing, or (Dovecot) its body comes back NIL.
                if row is None or row.get(b"BODY[]") is None:
                    continue
                modseq = row.get(b"MODSEQ")
                yield Fetched(
                    uid,
                    bytes(row[b"BODY[]"]),
                    _flags(row.get(b"FLAGS")),
                    row.get(b"INTERNALDATE"),
                    int(modseq[0]) if modseq else None,
                )

    def fetch_sizes(self, uids: Sequence[int], *, chunk: int = UID_CHUNK) -> dict[int, int]:
        """{uid: size in bytes} (RFC822.SIZE) of the UIDs that still exist: known before downloading."""
        sizes: dict[int, int] = {}
        for part in chunks(uids, chunk):
            for uid, row in self._fetch(part, ["RFC822.SIZE"], quick=read_sizes).items():
                size = row.get(b"RFC822.SIZE")
                if isinstance(size, int):
                    sizes[uid] = size
        return sizes

    def fetch_flags(
        self, uids: Sequence[int], changedsince: int | None = None, *, chunk: int = UID_CHUNK
    ) -> dict[int, tuple[tuple[str, ...], int | None]]:
        """{uid: (flags, modseq)} for the UIDs that still exist (or changed since ``changedsince``)."""
        items = ["FLAGS"] + (["MODSEQ"] if self.condstore else [])
        modifiers = [f"CHANGEDSINCE {int(changedsince)}"] if changedsince is not None else None
        if modifiers and not self.condstore:
            raise UsageError(f"{self.where} has no CONDSTORE; fetch flags without changedsince")
        result: dict[int, tuple[tuple[str, ...], int | None]] = {}
        for part in chunks(uids, chunk):
            for uid, row in self._fetch(part, items, modifiers, quick=read_flags).items():
                if b"FLAGS" in row:
                    modseq = row.get(b"MODSEQ")
                    result[uid] = (_flags(row[b"FLAGS"]), int(modseq[0]) if modseq else None)
        return result

    def _fetch(self, uids: list[int], items: list[str], modifiers=None, *, quick: QuickReader | None = None) -> dict:
        """``client.fetch``; with ``quick``, the response read by it when it has the usual shape."""

        def fetch(uids: list[int], items: list[str], modifiers=None) -> dict:
            if quick is None:
                return self.client.fetch(uids, items, modifiers=modifiers)
            return self._fetch_quick(uids, items, modifiers, quick)

        with self._guard("UID FETCH"):
            try:
                return fetch(uids, items, modifiers=modifiers)
            except imapx.IMAPClientError as exc:
                # Expunged by another client since our SEARCH: take the news and fetch what is left.
                text = _text(exc.args[0] if exc.args else "").upper()
                if "EXPUNGEISSUED" not in text and self._pop_code() != "EXPUNGEISSUED":
                    raise
                self.client.noop()
                return fetch(uids, items, modifiers=modifiers)

    def _fetch_quick(self, uids: list[int], items: list[str], modifiers, quick: QuickReader) -> dict:
        """``client.fetch``, read by one of :mod:`pdmail.accounts.imap_fetch`'s readers when it has the
        usual shape; only UIDs asked for are kept, as imapclient keeps them."""
        from imapclient.response_parser import parse_fetch_response

        request = [",".join(map(str, uids)), f"({' '.join(items)})"]
        if modifiers:
            request.append(f"({' '.join(modifiers)})")
        typ, data = self.client._imap.uid("FETCH", *request)
        if typ != "OK":
            raise imapx.IMAPClientError(f"fetch failed: {_text(data[0] if data else '')}")
        if data == [None]:
            return {}
        rows = quick(data)
        if rows is None:
            rows = parse_fetch_response(data, self.client.normalise_times, True)
        wanted = set(uids)
        return {uid: row for uid, row in rows.items() if uid in wanted}

    def add_flags(self, uids: Sequence[int], flags: Sequence[str]) -> None:
        for part in chunks(uids, UID_CHUNK):
            with self._guard("UID STORE +FLAGS"):
                self.client.add_flags(part, list(flags), silent=True)

    def remove_flags(self, uids: Sequence[int], flags: Sequence[str]) -> None:
        for part in chunks(uids, UID_CHUNK):
            with self._guard("UID STORE -FLAGS"):
                self.client.remove_flags(part, list(flags), silent=True)

    def move(self, uids: Sequence[int], folder: str) -> dict[int, int]:
        """Move messages to ``folder``; returns {old uid: new uid} when the server says (COPYUID).

        Without MOVE: COPY, then ``\\Deleted`` and UID EXPUNGE of exactly those UIDs (UIDPLUS).
        A server with neither gets the copy and the ``\\Deleted`` flag, never a plain EXPUNGE.
        """
        mapping: dict[int, int] = {}
        for part in chunks(uids, UID_CHUNK):
            with self._guard(f"UID MOVE to {folder}"):
                if self.has("MOVE"):
                    self.client._imap.untagged_responses.pop("OK", None)
                    tagged = self.client.move(part, folder)
                    untagged = self.client._imap.untagged_responses.pop("OK", [])
                    mapping.update(_copyuid([tagged, *untagged]))
                else:
                    mapping.update(_copyuid([self.client.copy(part, folder)]))
                    self.client.add_flags(part, ["\\Deleted"], silent=True)
                    if self.has("UIDPLUS"):
                        self.client.uid_expunge(part)
        return mapping

    def append(self, folder: str, raw: bytes, flags: Sequence[str] = (), date: datetime | None = None) -> int | None:
        """APPEND a message; its new UID when the server reports it (UIDPLUS APPENDUID)."""
        with self._guard(f"APPEND to {folder}"):
            response = self.client.append(folder, raw, flags=tuple(flags), msg_time=date)
        match = re.search(r"APPENDUID \d+ (\d+)", _text(response))
        return int(match.group(1)) if match else None

    def idle(self, timeout: float) -> list:
        """Wait up to ``timeout`` seconds in IDLE; the server's untagged responses (empty: nothing new)."""
        if not self.has("IDLE"):
            raise ImapError(f"{self.where} has no IDLE", "IDLE")
        with self._guard("IDLE"):
            self.client.idle()
            try:
                responses = self.client.idle_check(timeout=timeout)
            finally:
                self.client.idle_done()
        return responses

    def noop(self) -> None:
        with self._guard("NOOP"):
            self.client.noop()

    def close(self) -> None:
        try:
            self.client.logout()
        except Exception:  # noqa: BLE001 - the server may be gone already
            _close_quietly(self.client)

    def __enter__(self) -> ImapSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _copyuid(responses) -> dict[int, int]:
    mapping: dict[int, int] = {}
    for response in responses:
        match = re.search(r"COPYUID \d+ ([\d:,]+) ([\d:,]+)", _text(response))
        if match:
            old, new = _expand(match.group(1)), _expand(match.group(2))
            if len(old) == len(new):
                mapping.update(zip(old, new))
    return mapping


def _expand(uid_set: str) -> list[int]:
    out: list[int] = []
    for part in uid_set.split(","):
        low, _, high = part.partition(":")
        a, b = int(low), int(high or low)
        out.extend(range(a, b + 1) if a <= b else range(a, b - 1, -1))
    return out


def probe(account, *, timeout: float = 30.0) -> dict:
    """What ``account test`` shows: the server's capabilities and folders with their roles."""
    with connect(account, timeout=timeout) as session:
        folders = session.folders()
        return {
            "account": account.name,
            "server": session.where,
            "security": account.imap_security,
            "login": account.login,
            "capabilities": sorted(session.capabilities),
            "folders": [
                {"name": f.name, "role": f.role, "delimiter": f.delimiter, "flags": list(f.flags)} for f in folders
            ],
        }
