"""A TCP proxy on 127.0.0.1 between an IMAP client and the test Dovecot that injects faults.

- ``drop_capabilities``: remove capabilities (CONDSTORE, QRESYNC, STARTTLS...) from what the
  server advertises, in ``* CAPABILITY`` lines and ``[CAPABILITY ...]`` response codes, so a
  test sees a server without them. Literals (message bodies) pass through untouched.
- ``cut_after_fetch_bytes``: once the client has sent a FETCH, close the connection after that
  many more bytes from the server, as a network failure in the middle of a download would
  (``cut_connections`` says how many connections suffer it; later ones pass, so a retry works).

It must read the protocol, so it talks to the server's plain port. Clients reach it either
in plain text (then it stops interfering once they start STARTTLS) or, with ``tls_cert=(cert,
key)``, over implicit TLS that the proxy itself ends: with the test Dovecot's certificate, a
client that trusts the server (``--cafile``) trusts the proxy too, and a ``tls`` account can be
tested against a server without CONDSTORE. Use as a context manager; ``port`` is where
clients connect.
"""

from __future__ import annotations

import re
import select
import socket
import ssl
import threading

_LITERAL = re.compile(rb"\{(\d+)\+?\}\r?\n$")
_CLIENT_FETCH = re.compile(rb"^\S+ (UID )?FETCH ", re.IGNORECASE)
_CLIENT_STARTTLS = re.compile(rb"^\S+ STARTTLS\r?\n$", re.IGNORECASE)
_CAPABILITY_LINE = re.compile(rb"^(\* CAPABILITY )(.*?)(\r?\n)$", re.IGNORECASE)
_CAPABILITY_CODE = re.compile(rb"\[CAPABILITY ([^\]]*)\]", re.IGNORECASE)


class FaultProxy:
    def __init__(
        self,
        upstream_port: int,
        *,
        upstream_host: str = "127.0.0.1",
        drop_capabilities=(),
        cut_after_fetch_bytes: int | None = None,
        cut_connections: int = 1,
        tls_cert: tuple | None = None,
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.tls_context = None
        if tls_cert:
            self.tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls_context.load_cert_chain(*map(str, tls_cert))
        self.drop = {c.upper().encode() for c in drop_capabilities}
        self.cut_after = cut_after_fetch_bytes
        self.cuts_left = cut_connections
        self.cuts = 0  # connections cut so far
        self.connections = 0
        self.commands: list[str] = []  # the verb of every command clients sent (never its arguments)
        self.host = "127.0.0.1"
        self.port = 0
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> FaultProxy:
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((self.host, 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self._spawn(self._accept_loop)
        return self

    def stop(self) -> None:
        if self._listener is not None:
            listener, self._listener = self._listener, None
            _close(listener)  # shutdown() wakes the thread blocked in accept()
        with self._lock:
            for sock in self._sockets:
                _close(sock)
        for thread in self._threads:
            thread.join(timeout=5)

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept_loop(self) -> None:
        listener = self._listener
        while self._listener is not None:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                if self.tls_context is not None:
                    client.settimeout(10)
                    client = self.tls_context.wrap_socket(client, server_side=True)
                    client.settimeout(None)
                server = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                _close(client)
                continue
            server.settimeout(None)
            with self._lock:
                self.connections += 1
                self._sockets += [client, server]
                cut = self.cut_after is not None and self.cuts_left > 0
                if cut:
                    self.cuts_left -= 1
            _Connection(self, client, server, cut).run()

    def _cut(self) -> None:
        with self._lock:
            self.cuts += 1


class _Connection:
    """One client: a single thread moves both directions (an SSL socket must not be shared by two)."""

    def __init__(self, proxy: FaultProxy, client: socket.socket, server: socket.socket, cut: bool) -> None:
        self.proxy = proxy
        self.client = client
        self.server = server
        self.cut = cut
        self.fetch_seen = False
        self.tls = False  # the client started STARTTLS: from here on the stream is opaque
        self.sent_after_fetch = 0
        self.client_pending = b""
        self.server_buffer = b""
        self.literal_left = 0

    def run(self) -> None:
        self.proxy._spawn(self._pump)

    def _close(self) -> None:
        _close(self.client)
        _close(self.server)

    def _pump(self) -> None:
        try:
            while True:
                pending = isinstance(self.client, ssl.SSLSocket) and self.client.pending()
                if pending:
                    readable = [self.client]
                else:
                    readable, _, _ = select.select([self.client, self.server], [], [], 1.0)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is self.client:
                        self._from_client(data)
                        self.server.sendall(data)
                    elif not self._forward(self._from_server(data)):
                        return
        except (OSError, ValueError):
            pass
        finally:
            self._close()

    def _from_client(self, data: bytes) -> None:
        if self.tls:
            return
        self.client_pending += data
        *lines, self.client_pending = self.client_pending.split(b"\n")
        self.client_pending = self.client_pending[-4096:]
        for line in lines:
            words = line.split(None, 2)
            if len(words) >= 2 and words[0][:1].isalnum():
                verb = words[1].upper()
                if verb == b"UID" and len(words) > 2:
                    verb += b" " + words[2].split(None, 1)[0].upper()
                self.proxy.commands.append(verb.decode("ascii", "replace"))
            if _CLIENT_FETCH.match(line):
                self.fetch_seen = True
            if _CLIENT_STARTTLS.match(line + b"\n"):
                self.tls = True

    def _from_server(self, data: bytes) -> bytes:
        if self.tls or not self.proxy.drop:
            return data
        self.server_buffer += data
        out = b""
        while self.server_buffer:
            if self.literal_left:
                take = self.server_buffer[: self.literal_left]
                out += take
                self.literal_left -= len(take)
                self.server_buffer = self.server_buffer[len(take) :]
                continue
            end = self.server_buffer.find(b"\n")
            if end < 0:
                break
            line, self.server_buffer = self.server_buffer[: end + 1], self.server_buffer[end + 1 :]
            match = _LITERAL.search(line)
            if match:
                self.literal_left = int(match.group(1))
            out += self._rewrite(line)
        return out

    def _forward(self, out: bytes) -> bool:
        """Send to the client; False once the connection was cut on purpose."""
        if self.cut and self.fetch_seen:
            room = self.proxy.cut_after - self.sent_after_fetch
            if len(out) >= room:
                self.client.sendall(out[:room])
                self.proxy._cut()
                return False
            self.sent_after_fetch += len(out)
        if out:
            self.client.sendall(out)
        return True

    def _rewrite(self, line: bytes) -> bytes:
        match = _CAPABILITY_LINE.match(line)
        if match:
            return match.group(1) + self._without(match.group(2)) + match.group(3)
        return _CAPABILITY_CODE.sub(lambda m: b"[CAPABILITY " + self._without(m.group(1)) + b"]", line)

    def _without(self, capabilities: bytes) -> bytes:
        return b" ".join(c for c in capabilities.split() if c.upper() not in self.proxy.drop)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
