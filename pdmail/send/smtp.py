"""Handing one message to the account's SMTP server, and saying exactly how far it got.

What matters most is the line between "the server surely does not have it" (safe to try again) and
"the body and its final dot went out but no reply came back" (it may have been delivered: never
retried without the user). So the SMTP transaction is driven step by step here instead of through
``sendmail``, which hides where a connection was lost.

TLS is always on and always verified: implicit TLS, or STARTTLS that must succeed before anything
else is said. There is no plaintext fallback and no switch to turn verification off.
"""

from __future__ import annotations

import base64
import re
import shlex
import smtplib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

DEFAULT_TIMEOUT_S = 60.0

SENT = "sent"
RETRY = "retry"  # the server does not have the message: safe to send again later
REJECTED = "rejected"  # the server refused it for good (5xx): waits for the user
AMBIGUOUS = "ambiguous"  # the connection was lost after the final dot: may have been delivered
AUTH = "auth"  # credentials refused, or the server's certificate/TLS cannot be trusted


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    security: str  # tls | starttls
    login: str
    auth: str = "password"  # password | oauth2
    cafile: str | None = None
    account: str = ""  # the account's name, for a hint that names the command to fix it

    def fix(self, options: str) -> str:
        """The command that changes this account's settings, to quote in an error."""
        return f"`pdmail account set {shlex.quote(self.account or 'NAME')} {options}`"

    @classmethod
    def from_account(cls, account) -> SmtpTarget:
        from pdmail.core.errors import UsageError

        if not account.smtp_host or not account.smtp_port or not account.smtp_security:
            raise UsageError(
                f"account {account.name} has no SMTP server; give it one with "
                f"`pdmail account set {shlex.quote(account.name)} --smtp-host HOST` "
                "(and --smtp-port N --smtp-security tls|starttls when they are not 465 and tls)"
            )
        return cls(
            account.smtp_host,
            int(account.smtp_port),
            account.smtp_security,
            account.login,
            account.auth or "password",
            account.cafile,
            account.name,
        )


@dataclass(frozen=True)
class Delivery:
    outcome: str  # SENT | RETRY | REJECTED | AMBIGUOUS | AUTH
    detail: str
    refused: dict[str, str] = field(default_factory=dict)  # recipients refused while others were accepted


def tls_context(cafile: str | None) -> ssl.SSLContext:
    """Verified TLS: the system's CAs, or only the account's own CA file when it has one."""
    context = ssl.create_default_context(cafile=cafile) if cafile else ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def deliver(
    target: SmtpTarget,
    envelope_from: str,
    recipients: Sequence[str],
    raw: bytes,
    *,
    secret: Callable[[], str],
    timeout: float = DEFAULT_TIMEOUT_S,
    on_body_sent: Callable[[], None] | None = None,
) -> Delivery:
    """One SMTP transaction. Never raises for what a server or network does; the outcome says it.

    ``secret`` is called only when the server asks for a login, and its value never appears in
    an outcome. ``on_body_sent`` runs after the body and before its final dot: from then on a lost
    connection is ambiguous, and a caller that records it can tell after a crash.
    """
    try:
        context = tls_context(target.cafile)
    except (OSError, ssl.SSLError) as exc:
        return Delivery(
            AUTH, f"cannot read the CA file {target.cafile}: {exc}; give another with {target.fix('--cafile PEM')}"
        )
    session = _Session(target)
    try:
        return session.run(context, envelope_from, recipients, raw, secret, timeout, on_body_sent)
    finally:
        session.close()


class _Session:
    """One connection; ``close`` always runs, whichever step returned."""

    def __init__(self, target: SmtpTarget) -> None:
        self.target = target
        self.where = f"{target.host}:{target.port}"
        self.client: smtplib.SMTP | None = None
        self.password = ""
        self.quit_politely = False

    def run(self, context, envelope_from, recipients, raw, secret, timeout, on_body_sent) -> Delivery:
        where = self.where
        try:
            try:
                self.client = client = _connect(self.target, context, timeout)
            except _NoStartTls:
                return Delivery(
                    AUTH,
                    f"{where} does not offer STARTTLS; pdmail never sends mail unencrypted "
                    f"(use the server's TLS port: {self.target.fix('--smtp-security tls')})",
                )
            except ssl.SSLCertVerificationError as exc:
                return Delivery(
                    AUTH,
                    f"the certificate of {where} cannot be trusted ({exc.verify_message}); "
                    f"if it uses a private CA, trust it with {self.target.fix('--cafile PEM')}",
                )
            except (OSError, smtplib.SMTPException) as exc:
                return Delivery(RETRY, f"cannot reach {where}: {_describe(exc)}")
            self.quit_politely = True

            if client.has_extn("auth"):
                try:
                    self.password = secret()
                except Exception as exc:  # noqa: BLE001 - a failing password command is the user's to fix
                    return Delivery(
                        AUTH, f"cannot get the password for {self.target.login}: {getattr(exc, 'message', exc)}"
                    )
                failure = _login(client, self.target, self.password)
                if failure is not None:
                    return failure

            code, resp = client.mail(envelope_from)
            if code != 250:
                return self._refused(code, resp, f"{where} refused the sender {envelope_from}")
            refused: dict[str, str] = {}
            for rcpt in recipients:
                code, resp = client.rcpt(rcpt)
                if code in (250, 251):
                    continue
                if 400 <= code < 500:
                    return Delivery(RETRY, f"{where} deferred {rcpt}: {code} {self._text(resp)}")
                refused[rcpt] = f"{code} {self._text(resp)}"
            if len(refused) == len(recipients):
                listed = "; ".join(f"{r}: {why}" for r, why in refused.items())
                return Delivery(REJECTED, f"{where} refused every recipient ({listed})", refused)

            client.putcmd("data")
            code, resp = client.getreply()
            if code != 354:
                return self._refused(code, resp, f"{where} refused DATA")
            # Inside DATA nothing but the message and its final dot may be sent: no polite QUIT.
            self.quit_politely = False
            client.send(_stuffed(raw))
            if on_body_sent is not None:
                on_body_sent()
        except (OSError, smtplib.SMTPException) as exc:
            self.quit_politely = False
            return Delivery(
                RETRY,
                f"connection to {where} failed before the message was handed over: {_describe(exc, self.password)}",
            )

        try:
            client.send(b".\r\n")
            code, resp = client.getreply()
        except (OSError, smtplib.SMTPException) as exc:
            self.quit_politely = False
            return Delivery(
                AMBIGUOUS,
                f"the connection to {where} was lost after the whole message was sent and "
                f"before the server confirmed it ({_describe(exc, self.password)}); it may "
                "have been delivered",
            )
        self.quit_politely = True
        if code != 250:
            return self._refused(code, resp, f"{where} did not accept the message")
        note = f"{where}: {code} {self._text(resp)}"
        if refused:
            note += "; refused: " + "; ".join(f"{r}: {why}" for r, why in refused.items())
        return Delivery(SENT, note, refused)

    def _text(self, resp) -> str:
        return _text(resp, self.password)

    def _refused(self, code: int, resp: bytes, what: str) -> Delivery:
        text = f"{what}: {code} {self._text(resp)}"
        if code == -1 or 400 <= code < 500:
            return Delivery(RETRY, text)
        return Delivery(REJECTED, text)

    def close(self) -> None:
        self.password = ""
        if self.client is None:
            return
        if self.quit_politely:
            try:
                self.client.quit()
                return
            except (OSError, smtplib.SMTPException):
                pass
        _close(self.client)


class _NoStartTls(Exception):
    pass


def _connect(target: SmtpTarget, context: ssl.SSLContext, timeout: float) -> smtplib.SMTP:
    if target.security == "tls":
        secure = smtplib.SMTP_SSL(target.host, target.port, timeout=timeout, context=context)
        secure.ehlo()
        return secure
    if target.security != "starttls":
        raise smtplib.SMTPException(f"unknown SMTP security {target.security!r}")
    client = smtplib.SMTP(target.host, target.port, timeout=timeout)
    try:
        client.ehlo()
        if not client.has_extn("starttls"):
            raise _NoStartTls()
        _code, _resp = client.starttls(context=context)
        client.ehlo()
    except BaseException:
        _close(client)
        raise
    return client


def _login(client: smtplib.SMTP, target: SmtpTarget, secret: str) -> Delivery | None:
    offered = (client.esmtp_features.get("auth") or "").upper().split()
    try:
        if target.auth == "oauth2":
            if "XOAUTH2" not in offered:
                return Delivery(AUTH, f"{target.host} does not offer XOAUTH2 sign-in for OAuth2 accounts")
            client.auth("XOAUTH2", _xoauth2(target.login, secret), initial_response_ok=True)
            return None
        client.user, client.password = target.login, secret
        for mechanism in ("PLAIN", "LOGIN"):
            if mechanism in offered:
                client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"), initial_response_ok=True)
                return None
        return Delivery(
            AUTH,
            f"{target.host} offers no password sign-in pdmail uses (PLAIN or LOGIN); "
            f"it offers {' '.join(offered) or 'nothing'}",
        )
    except smtplib.SMTPAuthenticationError as exc:
        return Delivery(
            AUTH,
            f"{target.host} refused the login of {target.login}: "
            f"{exc.smtp_code} {_text(exc.smtp_error, secret)}; check the account's password "
            "source",
        )
    finally:
        client.password = ""


def _xoauth2(login: str, token: str) -> Callable[..., str]:
    def answer(challenge: bytes | None = None) -> str:
        # After a failure the server sends an error as a challenge and expects an empty reply.
        return f"user={login}\x01auth=Bearer {token}\x01\x01" if challenge is None else ""

    return answer


def _stuffed(raw: bytes) -> bytes:
    """CRLF line ends and dot-stuffing (RFC 5321 §4.5.2); the final dot is sent on its own."""
    data = re.sub(rb"\r?\n|\r", b"\r\n", raw)
    data = re.sub(rb"(?m)^\.", b"..", data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def _text(resp: bytes | str, secret: str = "") -> str:
    text = resp.decode("utf-8", "replace") if isinstance(resp, bytes) else str(resp)
    text = _scrub(" ".join(text.split()), secret)
    return "".join(ch for ch in text if ch.isprintable())[:300]


_BASE64_WORD = re.compile(r"[A-Za-z0-9+/_-]{6,}={0,2}")


def _scrub(text: str, secret: str) -> str:
    """``text`` without ``secret`` in any form a server might echo back.

    A server that repeats what it was sent puts the secret into its error: as itself (quoted or
    escaped), or inside base64 with other parts around it (AUTH PLAIN sends "\\0login\\0password",
    XOAUTH2 "user=...\\1auth=Bearer token"), which no fixed encoding of the secret alone matches.
    So every base64-looking word is decoded, and hidden when the secret is in it.
    """
    if not secret:
        return text
    from urllib.parse import quote

    raw = secret.encode()
    for form in sorted({secret, repr(secret)[1:-1], quote(secret, safe=""), raw.hex()}, key=len, reverse=True):
        text = text.replace(form, "***")

    def hide(match: re.Match) -> str:
        word = match.group(0)
        for alphabet in (None, b"-_"):
            try:
                decoded = base64.b64decode(word.rstrip("=") + "=" * (-len(word.rstrip("=")) % 4), altchars=alphabet)
            except (ValueError, TypeError):
                continue
            if raw in decoded:
                return "***"
        return word

    return _BASE64_WORD.sub(hide, text)


def _describe(exc: BaseException, secret: str = "") -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return "the server closed the connection"
    return _text(str(exc) or type(exc).__name__, secret)


def _close(client: smtplib.SMTP | None) -> None:
    if client is not None:
        try:
            client.close()
        except OSError:
            pass
