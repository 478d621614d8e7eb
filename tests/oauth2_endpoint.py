"""A tiny OAuth2 token-introspection endpoint (RFC 7662) on 127.0.0.1, for Dovecot's oauth2 passdb.

Tokens are registered with ``grant(token, username)``; Dovecot POSTs ``token=...`` and gets
``{"active": true, "username": ...}`` for a granted token, ``{"active": false}`` otherwise.
``seen`` keeps every token presented, so a test can tell what really reached the server.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class TokenEndpoint:
    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        self.seen: list[str] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                token = form.get("token", [""])[0]
                endpoint.seen.append(token)
                user = endpoint.tokens.get(token)
                body = json.dumps({"active": True, "username": user} if user else {"active": False}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/introspect"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def grant(self, token: str, username: str) -> None:
        self.tokens[token] = username

    def __enter__(self) -> TokenEndpoint:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
