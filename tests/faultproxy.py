"""A TCP proxy on 127.0.0.1 between an IMAP client and the test Dovecot that injects faults.

- ``drop_capabilities``: remove capabilities (CONDSTORE, QRESYNC, STARTTLS...) from what the
  server advertises, in ``* CAPABILITY`` lines and ``[CAPABILITY ...]`` response codes, so a
  test sees a server without them. Literals (message bodies) pass through untouched.
- ``cut_after_fetch_bytes``: once the client has sent a FETCH, close the connection after that
  many more bytes from the server, as a network failure in the middle of a download would
  (``cut_connections`` says how many connections suffer it; later ones pass, so a retry works).

It works on the plain port only (it must read the protocol) and stops interfering once the
client starts TLS with STARTTLS. Use as a context manager; ``port`` is where clients connect.
"""

from __future__ import annotations

import re
import socket
import threading

_LITERAL = re.compile(rb"\{(\d+)\+?\}\r?\n$")
_CLIENT_FETCH = re.compile(rb"^\S+ (UID )?FETCH ", re.IGNORECASE)
_CLIENT_STARTTLS = re.compile(rb"^\S+ STARTTLS\r?\n$", re.IGNORECASE)
_CAPABILITY_LINE = re.compile(rb"^(\* CAPABILITY )(.*?)(\r?\n)$", re.IGNORECASE)
_CAPABILITY_CODE = re.compile(rb"\[CAPABILITY ([^\]]*)\]", re.IGNORECASE)


class FaultProxy:
    def __init__(self, upstream_port: int, *, upstream_host: str = "127.0.0.1",
                 drop_capabilities=(), cut_after_fetch_bytes: int | None = None, cut_connections: int = 1) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.drop = {c.upper().encode() for c in drop_capabilities}
        self.cut_after = cut_after_fetch_bytes
        self.cuts_left = cut_connections
        self.cuts = 0  # connections cut so far
        self.connections = 0
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
    """One client's two directions, sharing what each side has seen."""

    def __init__(self, proxy: FaultProxy, client: socket.socket, server: socket.socket, cut: bool) -> None:
        self.proxy = proxy
        self.client = client
        self.server = server
        self.cut = cut
        self.fetch_seen = False
        self.tls = False
        self.sent_after_fetch = 0

    def run(self) -> None:
        self.proxy._spawn(self._client_to_server)
        self.proxy._spawn(self._server_to_client)

    def _close(self) -> None:
        _close(self.client)
        _close(self.server)

    def _client_to_server(self) -> None:
        pending = b""
        try:
            while True:
                data = self.client.recv(65536)
                if not data:
                    break
                if not self.tls:
                    pending += data
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        if _CLIENT_FETCH.match(line):
                            self.fetch_seen = True
                        if _CLIENT_STARTTLS.match(line + b"\n"):
                            self.tls = True
                    pending = pending[-4096:]
                self.server.sendall(data)
        except OSError:
            pass
        finally:
            self._close()

    def _server_to_client(self) -> None:
        buffer = b""
        literal_left = 0
        try:
            while True:
                data = self.server.recv(65536)
                if not data:
                    break
                if self.tls or not self.proxy.drop:
                    out = data
                else:
                    buffer += data
                    out = b""
                    while buffer:
                        if literal_left:
                            take = buffer[:literal_left]
                            out += take
                            literal_left -= len(take)
                            buffer = buffer[len(take):]
                            continue
                        end = buffer.find(b"\n")
                        if end < 0:
                            break
                        line, buffer = buffer[:end + 1], buffer[end + 1:]
                        match = _LITERAL.search(line)
                        if match:
                            literal_left = int(match.group(1))
                        out += self._rewrite(line)
                if not self._forward(out):
                    return
        except OSError:
            pass
        finally:
            self._close()

    def _forward(self, out: bytes) -> bool:
        """Send to the client; False once the connection was cut on purpose."""
        if self.cut and self.fetch_seen:
            room = self.proxy.cut_after - self.sent_after_fetch
            if len(out) >= room:
                self.client.sendall(out[:room])
                self.proxy._cut()
                self._close()
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
