"""A real SMTP server (aiosmtpd) on 127.0.0.1 for tests: TLS with its own certificate, a login check,
and connections that can be made to drop at a chosen step.

Plain Python (no pytest) so that bench scripts can use it too::

    with SmtpServer(security="starttls", users={"maria@northwind.example": "s3cret"}) as server:
        ...  # send to server.port, trusting server.cafile
        server.messages[0].data  # the bytes received, after the final dot
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: (cert.pem, key.pem)."""
    cert, key = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    if not shutil.which("openssl"):
        raise RuntimeError("openssl not found (needed for the test certificate)")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "30",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes  # the message as the server received it (dot-stuffing undone)
    login: str | None


@dataclass
class _Handler:
    owner: SmtpServer

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.owner._take_drop("rcpt"):
            server.transport.abort()
            return "250 OK"
        if address in self.owner.refuse:
            return f"550 5.1.1 {address}: no such user"
        if address in self.owner.defer:
            return f"450 4.2.1 {address}: try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def auth_XOAUTH2(self, server, args):
        """Google's and Microsoft's bearer-token sign-in, checked against ``tokens``."""
        import base64

        from aiosmtpd.smtp import MISSING

        if not self.owner.tokens:
            return AuthResult(success=False, handled=False)
        after = [a for a in args if a.upper() not in ("AUTH", "XOAUTH2")]
        if after:
            initial = after[0].encode()
        else:
            initial = await server.challenge_auth("", encode_to_b64=False)
            if initial is MISSING:
                return AuthResult(success=False, handled=False)
        fields = dict(part.split("=", 1) for part in base64.b64decode(initial).decode().split("\x01") if "=" in part)
        login, bearer = fields.get("user", ""), fields.get("auth", "")
        self.owner.auth_attempts.append(("XOAUTH2", login))
        if bearer == f"Bearer {self.owner.tokens.get(login)}":
            return AuthResult(success=True, auth_data=login)
        # The error comes as a challenge; the client answers with an empty line.
        await server.challenge_auth('{"status":"401","schemes":"bearer"}')
        return AuthResult(success=False, handled=False)

    async def auth_PLAIN(self, server, args):
        """With ``echo_auth``, a careless server: it refuses the login and repeats what it was sent."""
        if not self.owner.echo_auth:
            return await server.auth_PLAIN(None, args)  # aiosmtpd's own, checked against ``users``
        await server.push(f"535 5.7.8 Authentication credentials invalid: {' '.join(args[1:])}")
        return AuthResult(success=False, handled=True)

    async def handle_DATA(self, server, session, envelope):
        login = session.auth_data if isinstance(session.auth_data, str) else None
        received = Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content), login)
        if self.owner._take_drop("after_dot"):
            # The server keeps the message and the client never hears so: the ambiguous case.
            self.owner.messages.append(received)
            server.transport.abort()
            return "250 OK"
        if self.owner.reject_data:
            return "554 5.7.1 message refused by policy"
        self.owner.messages.append(received)
        return "250 2.0.0 queued as test"


@dataclass
class SmtpServer:
    security: str = "starttls"  # starttls | tls | plain (a server that offers no STARTTLS)
    users: dict[str, str] = field(default_factory=dict)  # login → password; empty: no AUTH offered
    tokens: dict[str, str] = field(default_factory=dict)  # login → OAuth2 access token (XOAUTH2)
    folder: Path | None = None
    refuse: set[str] = field(default_factory=set)
    defer: set[str] = field(default_factory=set)
    reject_data: bool = False
    echo_auth: bool = False  # refuse AUTH PLAIN, quoting the client's (base64) answer in the reply
    certificate: tuple[Path, Path] | None = None  # (cert.pem, key.pem), made in ``folder`` when None

    def __post_init__(self) -> None:
        self.messages: list[Received] = []
        self.auth_attempts: list[tuple[str, str]] = []  # (mechanism, login)
        self._drops: list[str] = []
        self._lock = threading.Lock()
        self._tmp = None
        self.port = 0
        self.controller: Controller | None = None

    # --- behaviour ------------------------------------------------------------------------------

    def drop_once(self, step: str) -> None:
        """Drop the next connection at ``rcpt`` (before DATA) or ``after_dot`` (message kept, no reply)."""
        assert step in ("rcpt", "after_dot")
        with self._lock:
            self._drops.append(step)

    def _take_drop(self, step: str) -> bool:
        with self._lock:
            if self._drops and self._drops[0] == step:
                self._drops.pop(0)
                return True
        return False

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            login, password = auth_data.login.decode(), auth_data.password.decode()
            self.auth_attempts.append((mechanism, login))
            if self.users.get(login) == password:
                return AuthResult(success=True, auth_data=login)
        return AuthResult(success=False, handled=False)

    # --- life cycle -----------------------------------------------------------------------------

    @property
    def cafile(self) -> Path:
        return self._cert

    def start(self) -> SmtpServer:
        if self.folder is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="pdmail-smtp-")
            self.folder = Path(self._tmp.name)
        self._cert, key = self.certificate or make_certificate(self.folder)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self._cert, key)
        self.port = free_port()
        kwargs: dict = {"hostname": HOST, "port": self.port, "server_hostname": "localhost"}
        smtp_kwargs: dict = {"ident": "pdmail test SMTP"}
        if self.users or self.tokens:
            smtp_kwargs["authenticator"] = self._authenticate
            smtp_kwargs["auth_required"] = self.security == "starttls"
        if self.security == "tls":
            kwargs["ssl_context"] = context
            smtp_kwargs["auth_require_tls"] = False
        elif self.security == "starttls":
            smtp_kwargs["tls_context"] = context
            smtp_kwargs["require_starttls"] = True
        else:
            smtp_kwargs["auth_require_tls"] = False
        self.controller = Controller(_Handler(self), **kwargs, **smtp_kwargs)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
