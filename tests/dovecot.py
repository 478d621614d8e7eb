"""A real Dovecot IMAP server on 127.0.0.1, in a temporary folder, for tests and benchmarks.

Plain Python (no pytest) so that ``bench/`` scripts use the same server as the tests::

    with Dovecot() as server:
        user = server.add_user()
        server.seed(user, "INBOX", [raw1, raw2], flags=["\\Seen"])
        client = server.client(user)

Everything lives under one temporary directory: configuration, passwd-file, state, logs,
the users' Maildirs and a self-signed certificate for 127.0.0.1/localhost. The server runs
in the foreground as our child and is stopped by its pid; ``/etc/dovecot`` is never read.

Dovecot never runs mail processes as root, so when we are root the users' files belong to
``nobody`` and every directory on the way to them must be traversable by it; as an ordinary
user, Dovecot runs everything as that user and needs chroot turned off.
"""

from __future__ import annotations

import email.utils
import grp
import itertools
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

DOVECOT = os.environ.get("PDMAIL_DOVECOT", "/usr/sbin/dovecot")
DOVEADM = os.environ.get("PDMAIL_DOVEADM", shutil.which("doveadm") or "/usr/bin/doveadm")
HOST = "127.0.0.1"
DOMAIN = "pdmail.test"
SPECIAL_USE = {"Sent": "\\Sent", "Drafts": "\\Drafts", "Trash": "\\Trash", "Archive": "\\Archive", "Junk": "\\Junk"}
# IMAP system flags and the Maildir info letters Dovecot gives them (letters must stay sorted).
MAILDIR_FLAGS = {"\\Draft": "D", "\\Flagged": "F", "\\Answered": "R", "\\Seen": "S", "\\Deleted": "T"}
START_TIMEOUT_S = 15.0


class DovecotUnavailable(RuntimeError):
    """Dovecot is not installed or cannot start here; the message says why."""


def unavailable_reason() -> str | None:
    """Why a Dovecot cannot run on this machine, or None when it can."""
    for path in (DOVECOT, DOVEADM):
        if not os.access(path, os.X_OK):
            return f"{path} not found (install Debian's dovecot-imapd)"
    if not shutil.which("openssl"):
        return "openssl not found (needed for the test certificate)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class MailUser:
    login: str
    password: str
    home: Path

    @property
    def address(self) -> str:
        return self.login

    @property
    def maildir(self) -> Path:
        return self.home / "Maildir"


class Dovecot:
    """One Dovecot master process and its temporary world."""

    def __init__(self, *, extra_config: str = "", oauth2_introspection_url: str | None = None) -> None:
        """``oauth2_introspection_url``: also accept OAuth2 tokens (XOAUTH2, OAUTHBEARER), which
        Dovecot checks by POSTing them to that URL (RFC 7662 token introspection)."""
        self.extra_config = extra_config
        self.oauth2_url = oauth2_introspection_url
        self.root: Path | None = None
        self.process: subprocess.Popen | None = None
        self.host = HOST
        self.imap_port = 0
        self.imaps_port = 0
        self.users: dict[str, MailUser] = {}
        self._names = itertools.count(1)
        self._files = itertools.count(1)
        self.is_root = os.geteuid() == 0
        if self.is_root:
            self.mail_uid, self.mail_gid = pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid
        else:
            self.mail_uid, self.mail_gid = os.getuid(), os.getgid()

    # --- paths ----------------------------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        return self._root / "dovecot.conf"

    @property
    def cafile(self) -> Path:
        """The server's self-signed certificate: pass it as ``--cafile`` to trust this server."""
        return self._root / "cert.pem"

    @property
    def tls_cert(self) -> tuple[Path, Path]:
        """(certificate, key) of the server, for a test proxy that must pass for it."""
        return self.cafile, self._root / "key.pem"

    @property
    def log_path(self) -> Path:
        return self._root / "log" / "dovecot.log"

    @property
    def _root(self) -> Path:
        if self.root is None:
            raise RuntimeError("the server is not started")
        return self.root

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # --- life cycle -----------------------------------------------------------------------------

    def __enter__(self) -> Dovecot:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> Dovecot:
        reason = unavailable_reason()
        if reason:
            raise DovecotUnavailable(reason)
        self.root = Path(tempfile.mkdtemp(prefix="pdmail-dovecot-"))
        if self.is_root:
            self._open_path_for_mail_user(self.root)
        for sub in ("log", "state", "home"):
            (self.root / sub).mkdir()
        os.chown(self.root / "home", self.mail_uid, self.mail_gid)
        (self.root / "passwd.d").mkdir()
        self._make_certificate()
        self.imap_port, self.imaps_port = free_port(), free_port()
        self.config_path.write_text(self._config())
        with open(self.root / "log" / "master.out", "wb") as log:
            self.process = subprocess.Popen(
                [DOVECOT, "-F", "-c", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self.root is not None and not os.environ.get("PDMAIL_KEEP_DOVECOT"):
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def _open_path_for_mail_user(self, path: Path) -> None:
        """Dovecot's unprivileged processes must traverse every directory down to the users' homes."""
        path.chmod(0o755)
        for parent in path.parents:
            if not parent.stat().st_mode & 0o001:
                raise DovecotUnavailable(
                    f"{parent} is not traversable by other users, so Dovecot's mail processes could not "
                    f"reach the test folder; point TMPDIR elsewhere"
                )

    def _make_certificate(self) -> None:
        result = subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                str(self._root / "key.pem"),
                "-out",
                str(self.cafile),
                "-days",
                "30",
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=DNS:localhost,IP:127.0.0.1",
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode:
            raise DovecotUnavailable(f"openssl could not make a test certificate: {result.stderr.strip()}")

    def _config(self) -> str:
        root = self._root
        if self.is_root:
            identity = "default_login_user = dovenull\ndefault_internal_user = dovecot\n"
            no_chroot = ""
        else:
            me = pwd.getpwuid(os.getuid()).pw_name
            group = grp.getgrgid(os.getgid()).gr_name
            identity = f"default_login_user = {me}\ndefault_internal_user = {me}\ndefault_internal_group = {group}\n"
            no_chroot = "service anvil {\n  chroot =\n}\n"  # merged with the block below
        mailboxes = "".join(
            f"  mailbox {name} {{\n    special_use = {use}\n    auto = subscribe\n  }}\n"
            for name, use in SPECIAL_USE.items()
        )
        # One passwd-file per user: Dovecot rereads a changed file at most once a second, so a
        # user added to a shared file could not log in at once.
        users = f"{root}/passwd.d/%u"
        passdb = f"passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN {users}\n}}\n"
        mechanisms = "plain login"
        if self.oauth2_url:
            # The token is checked when the password check fails: the passwd-file passdb comes first.
            (root / "oauth2.conf.ext").write_text(
                "introspection_mode = post\n"
                f"introspection_url = {self.oauth2_url}\n"
                "force_introspection = yes\n"
                "username_attribute = username\n"
                "active_attribute = active\n"
                "active_value = true\n"
            )
            passdb += (
                f"passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n"
                f"  args = {root}/oauth2.conf.ext\n}}\n"
            )
            mechanisms += " xoauth2 oauthbearer"
        return (
            f"base_dir = {root}/run\n"
            f"state_dir = {root}/state\n"
            f"log_path = {root}/log/dovecot.log\n"
            f"{identity}"
            "protocols = imap\n"
            f"listen = {HOST}\n"
            "ssl = yes\n"
            f"ssl_cert = <{root}/cert.pem\n"
            f"ssl_key = <{root}/key.pem\n"
            "disable_plaintext_auth = no\n"
            f"auth_mechanisms = {mechanisms}\n"
            "auth_verbose = yes\n"
            "auth_failure_delay = 0\n"
            "first_valid_uid = 1\n"
            "first_valid_gid = 1\n"
            "mail_location = maildir:~/Maildir\n"
            "mail_max_userip_connections = 200\n"
            "mail_fsync = never\n"
            f"{passdb}"
            f"userdb {{\n  driver = passwd-file\n  args = {users}\n}}\n"
            "service imap-login {\n"
            f"  inet_listener imap {{\n    address = {HOST}\n    port = {self.imap_port}\n  }}\n"
            f"  inet_listener imaps {{\n    address = {HOST}\n    port = {self.imaps_port}\n    ssl = yes\n  }}\n"
            + ("  chroot =\n" if not self.is_root else "")
            + "}\n"
            f"{no_chroot}"
            # Every test connects from 127.0.0.1, so Dovecot's per-IP penalty after failed logins
            # (seconds per attempt) would slow every later wrong-password test: keep the auth
            # process away from the penalty table.
            "service anvil {\n  unix_listener anvil-auth-penalty {\n    mode = 0\n  }\n}\n"
            "namespace inbox {\n  inbox = yes\n  separator = /\n"
            f"{mailboxes}"
            "}\n"
            f"{self.extra_config}"
        )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise DovecotUnavailable(f"dovecot exited at start:\n{self._startup_output()}")
            try:
                with socket.create_connection((HOST, self.imap_port), timeout=2) as sock:
                    if sock.recv(200).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.05)
        raise DovecotUnavailable(f"dovecot did not answer on port {self.imap_port}:\n{self._startup_output()}")

    def _startup_output(self) -> str:
        try:
            out = (self._root / "log" / "master.out").read_text(errors="replace")
        except FileNotFoundError:
            out = ""
        return (out + self.log_text())[-3000:]

    # --- users ----------------------------------------------------------------------------------

    def add_user(self, name: str | None = None, password: str | None = None) -> MailUser:
        """A fresh user with an empty mailbox (``userN@pdmail.test`` and a random password)."""
        login = name or f"user{next(self._names)}-{secrets.token_hex(3)}@{DOMAIN}"
        password = password or secrets.token_urlsafe(12)
        home = self._root / "home" / login.replace("@", "_at_")
        home.mkdir()
        os.chown(home, self.mail_uid, self.mail_gid)
        (self._root / "passwd.d" / login).write_text(
            f"{login}:{{PLAIN}}{password}:{self.mail_uid}:{self.mail_gid}::{home}::\n"
        )
        user = MailUser(login, password, home)
        self.users[login] = user
        return user

    def _user(self, user: MailUser | str) -> MailUser:
        return user if isinstance(user, MailUser) else self.users[user]

    # --- mail -----------------------------------------------------------------------------------

    def folder_path(self, user: MailUser | str, folder: str) -> Path:
        """Where Dovecot keeps ``folder`` (Maildir++: ``Archive/2024`` is ``.Archive.2024``)."""
        maildir = self._user(user).maildir
        if folder.upper() == "INBOX":
            return maildir
        return maildir / ("." + folder.replace("/", "."))

    def seed(
        self,
        user: MailUser | str,
        folder: str,
        raws: Iterable[bytes],
        *,
        flags: Iterable[str] | Sequence[Iterable[str]] | None = None,
        dates: Sequence[datetime | None] | None = None,
    ) -> int:
        """Write messages straight into the user's Maildir (much faster than APPEND).

        ``flags`` is either one set of system flags for every message or one set per message.
        The INTERNALDATE (the file's mtime) is ``dates[i]`` when given, else the Date header.
        Dovecot gives the new files UIDs, in order, the next time someone opens the folder.
        """
        raws = list(raws)
        per_message = self._per_message_flags(flags, len(raws))
        path = self.folder_path(user, folder)
        self._ensure_folder(user, path)
        tmp, cur = path / "tmp", path / "cur"
        stamp = int(time.time())
        for i, raw in enumerate(raws):
            info = "".join(sorted(MAILDIR_FLAGS[f] for f in per_message[i]))
            base = f"{stamp}.M{next(self._files):08d}P{os.getpid()}.pdmail,S={len(raw)}"
            (tmp / base).write_bytes(raw)
            moment = dates[i] if dates is not None else None
            mtime = moment.timestamp() if moment is not None else _header_time(raw)
            if mtime is not None:
                os.utime(tmp / base, (mtime, mtime))
            os.chown(tmp / base, self.mail_uid, self.mail_gid)
            os.rename(tmp / base, cur / f"{base}:2,{info}")
        return len(raws)

    @staticmethod
    def _per_message_flags(flags, count: int) -> list[tuple[str, ...]]:
        if flags is None:
            return [()] * count
        flags = list(flags)
        if not flags or isinstance(flags[0], str):
            unknown = set(flags) - set(MAILDIR_FLAGS)
            if unknown:
                raise ValueError(f"seed writes system flags only, not {sorted(unknown)}")
            return [tuple(flags)] * count
        if len(flags) != count:
            raise ValueError("one flag set per message, or one for all")
        return [tuple(f) for f in flags]

    def _ensure_folder(self, user: MailUser | str, path: Path) -> None:
        maildir = self._user(user).maildir
        created = [p for p in (maildir, path) if not p.exists()]
        for directory in (maildir, path):
            for sub in ("", "cur", "new", "tmp"):
                (directory / sub).mkdir(exist_ok=True)
        if path != maildir and not (path / "maildirfolder").exists():
            (path / "maildirfolder").touch()
        for top in created:
            for dirpath, _dirnames, filenames in os.walk(top):
                os.chown(dirpath, self.mail_uid, self.mail_gid)
                for name in filenames:
                    os.chown(os.path.join(dirpath, name), self.mail_uid, self.mail_gid)

    def client(self, user: MailUser | str, *, tls: bool = False, timeout: float = 30.0):
        """An imapclient connection logged in as ``user`` (plain port, or IMAPS trusting our cert)."""
        import ssl

        from imapclient import IMAPClient

        user = self._user(user)
        if tls:
            context = ssl.create_default_context(cafile=str(self.cafile))
            client = IMAPClient(self.host, port=self.imaps_port, ssl=True, ssl_context=context, timeout=timeout)
        else:
            client = IMAPClient(self.host, port=self.imap_port, ssl=False, timeout=timeout)
        client.login(user.login, user.password)
        return client

    def append(
        self, user: MailUser | str, folder: str, raw: bytes, *, flags: Iterable[str] = (), date: datetime | None = None
    ) -> int | None:
        """APPEND one message as a mail client would; returns its UID (UIDPLUS)."""
        client = self.client(user)
        try:
            response = client.append(folder, raw, flags=tuple(flags), msg_time=date)
        finally:
            client.logout()
        text = response.decode() if isinstance(response, bytes) else str(response)
        if "APPENDUID" in text:
            return int(text.split("APPENDUID", 1)[1].split("]")[0].split()[1])
        return None

    def doveadm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Act on mailboxes as another mail client would, e.g. ``doveadm("expunge", "-u", login, ...)``."""
        result = subprocess.run([DOVEADM, "-c", str(self.config_path), *args], capture_output=True, text=True)
        if check and result.returncode:
            raise RuntimeError(f"doveadm {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
        return result


def _header_time(raw: bytes) -> float | None:
    """The Date header as a timestamp, found without parsing the whole message."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    for line in head.splitlines():
        if line[:5].lower() == b"date:":
            try:
                return email.utils.parsedate_to_datetime(line[5:].decode("ascii", "replace").strip()).timestamp()
            except (TypeError, ValueError):
                return None
    return None
