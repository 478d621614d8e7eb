"""The real `pdmail` entry point in a new interpreter, and a message and a company to run it on."""

import os
import subprocess
import sys
from pathlib import Path

import factories

MARIA = "maria@northwind.example"


def mail(n: int = 1, *, frm: str = f"Maria <{MARIA}>", subject: str = "Quote", body: str = "Hello Ada,\r\n") -> bytes:
    return (
        f"From: {frm}\r\nTo: Ada <ada@acme.example>\r\nSubject: {subject}\r\n"
        f"Date: Mon, 16 Nov 2026 09:12:00 +0100\r\nMessage-ID: <env{n}@northwind.example>\r\n\r\n{body}"
    ).encode()


def pdmail(*args: str, stdin: bytes = b"", env: dict | None = None, timeout: float = 120):
    """The real entry point in a new interpreter."""
    done = subprocess.run(
        [sys.executable, "-m", "pdmail", *map(str, args)],
        input=stdin,
        capture_output=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )
    return done.returncode, done.stdout.decode(), done.stderr.decode()


def ok(*args: str, stdin: bytes = b"", env: dict | None = None) -> str:
    """Standard output of a command that must succeed; the failure names the command and what it said."""
    code, out, err = pdmail(*args, stdin=stdin, env=env)
    assert code == 0, (args, code, out, err)
    return out


def fails(code: int, *args: str) -> str:
    """The one ``Error:`` line a command that must fail with ``code`` writes, with nothing on stdout."""
    got, out, err = pdmail(*args)
    assert got == code and out == "" and err.startswith("Error: "), (args, got, out, err)
    return err


def company_db(path: Path):
    db, _maria = factories.company(path)
    db.close()
    return path
