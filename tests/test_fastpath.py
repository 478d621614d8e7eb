"""One message piped into the real `pdmail` process behaves as the full command line does."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import typing

import pytest

from pdmail.cli.fastpath import PipeCall, parse_pipe_call


def mail(frm: str = "Maria Lopez <maria@northwind.example>", mid: str = "<p1@northwind.example>") -> bytes:
    return (
        f"From: {frm}\r\nTo: Ada Byron <ada@acme.example>\r\nSubject: Quote [draft]\r\n"
        f"Date: Mon, 16 Nov 2026 09:12:00 +0100\r\nMessage-ID: {mid}\r\n\r\nHello Ada,\r\n"
    ).encode()


def pdmail(*args: str, stdin: bytes = b"", env: dict | None = None):
    """The installed entry point in a new interpreter, as a mail server's pipe runs it."""
    full_env = {**os.environ, **(env or {})}
    done = subprocess.run(
        [sys.executable, "-m", "pdmail", *args], input=stdin, capture_output=True, env=full_env, timeout=60
    )
    return done.returncode, done.stdout.decode(), done.stderr.decode()


# --- which calls take the short path --------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["bcc-ingest"], PipeCall()),
        (
            ["bcc-ingest", "--mta", "--recipient", "c+deal4@bcc.example"],
            PipeCall(recipient="c+deal4@bcc.example", mta=True),
        ),
        (["bcc-ingest", "--recipient=c@bcc.example", "--json"], PipeCall(recipient="c@bcc.example", json=True)),
        (
            ["--db", "/x/a.db", "-q", "bcc-ingest", "--user", "sam@x.example"],
            PipeCall(db="/x/a.db", user="sam@x.example", quiet=True),
        ),
        (["--json", "--debug", "bcc-ingest", "--db=/y.db"], PipeCall(db="/y.db", json=True, debug=True)),
        (["bcc-ingest", "--mta", "-q", "--debug", "--nl"], PipeCall(mta=True, quiet=True, debug=True, nl=True)),
    ],
)
def test_pipe_calls_are_recognized(argv, expected, monkeypatch):
    monkeypatch.delenv("PDMAIL_DB", raising=False)
    assert parse_pipe_call(argv) == expected


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["inbox"],
        ["bcc-ingest", "mail.eml"],
        ["bcc-ingest", "--quarantine"],
        ["bcc-ingest", "--release", "3"],
        ["bcc-ingest", "--help"],
        ["bcc-ingest", "--recipient"],
        ["bcc-ingest", "--recipient", "--mta"],
        ["bcc-ingest", "--workers", "2"],
        ["--mta", "bcc-ingest"],
        ["bcc-ingest", "bcc-ingest"],
        ["bcc-ingest", "-"],
        ["bcc-ingest", "--json", "--nl"],
        ["bcc-ingest", "--format", "tsv"],
    ],
)
def test_everything_else_goes_to_the_full_command_line(argv):
    assert parse_pipe_call(argv) is None


def test_database_comes_from_the_environment_unless_given(monkeypatch):
    monkeypatch.setenv("PDMAIL_DB", "/env.db")
    assert parse_pipe_call(["bcc-ingest"]).db == "/env.db"
    assert parse_pipe_call(["--db", "/opt.db", "bcc-ingest"]).db == "/opt.db"


# --- the real process ------------------------------------------------------------------------------


@pytest.fixture
def initialized(company, db_path):
    return db_path


def test_piped_message_is_stored_then_recognized(initialized):
    code, out, err = pdmail("bcc-ingest", "--json", stdin=mail())
    assert (code, err) == (0, "")
    (first,) = json.loads(out)  # an array, as for many inputs
    assert first["status"] == "stored" and first["source"] == "-"
    code, out, err = pdmail("bcc-ingest", stdin=mail())
    assert code == 0
    assert out == f"-: already captured as email {first['id']}\n"


def test_short_path_prints_what_the_full_command_line_prints(initialized, cli):
    stranger = mail(frm="Eve <eve@elsewhere.example>", mid="<p2@elsewhere.example>")
    code, out, err = pdmail("bcc-ingest", "--json", stdin=stranger)
    full = cli("bcc-ingest", "--json", input=mail(frm="Eve <eve@elsewhere.example>", mid="<p3@elsewhere.example>"))
    assert code == full.exit_code == 3
    assert [o.keys() for o in json.loads(out)] == [o.keys() for o in json.loads(full.stdout)]
    assert err.startswith("Error: -: refused: eve@elsewhere.example is not allowed")
    assert full.stderr.startswith("Error: -: refused: eve@elsewhere.example is not allowed")


def test_mta_mode_does_not_bounce_refused_mail(initialized):
    code, _out, err = pdmail("bcc-ingest", "--mta", stdin=mail(frm="eve@elsewhere.example", mid="<p4@x.example>"))
    assert code == 0
    assert "quarantined as" in err


def test_missing_database_is_one_error_line(tmp_path):
    env = {"PDMAIL_DB": str(tmp_path / "none.db")}
    code, _, err = pdmail("bcc-ingest", stdin=mail(), env=env)
    assert code == 2
    assert err.startswith("Error: no database at") and err.count("\n") == 1
    code, _out, err = pdmail("bcc-ingest", "--mta", stdin=mail(), env=env)
    assert code == 75


def test_version_and_other_commands_still_answer(initialized):
    from pdmail import __version__

    assert pdmail("--version")[:2] == (0, f"pdmail {__version__}\n")
    code, out, _ = pdmail("bcc-ingest", "--quarantine", "--json")
    assert code == 0 and json.loads(out) == []


# --- what a piped message loads --------------------------------------------------------------------

# A mail server starts pdmail once per message: it must pay for the interpreter, the parser and the
# database only. Not for the command-line toolkit or the terminal renderer, nor for the machinery of
# big runs (helper processes, batches, reading files), nor for records whose code is generated at
# import: every @dataclass compiles its methods from source text, and ``dataclasses`` itself loads
# ``inspect`` (with ``ast``, ``dis`` and ``tokenize``), about a sixth of what the whole process cost.
NOT_FOR_ONE_MESSAGE = (
    "typer",
    "click",
    "rich",
    "dataclasses",
    "inspect",
    "multiprocessing",
    "concurrent",
    "pdmail.cli.app",
    "pdmail.core.worker_pool",
    "pdmail.capture.parse_pool",
    "pdmail.capture.batch",
    "pdmail.capture.batch_writer",
    "pdmail.capture.batch_facts",
)


def modules_loaded_by(*args: str, stdin: bytes) -> tuple[int, set[str]]:
    """The exit code and every module the real `pdmail` process loaded (``python -X importtime``)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pdmail", *args], input=stdin, capture_output=True, timeout=60
    )
    lines = done.stderr.decode().splitlines()
    return done.returncode, {line.rsplit("|", 1)[1].strip() for line in lines if line.startswith("import time:")}


def forbidden(loaded: set[str]) -> set[str]:
    return {m for m in loaded for name in NOT_FOR_ONE_MESSAGE if m == name or m.startswith(name + ".")}


CAPTURE = "capture@bcc.northwind.example"
# A customer's message forwarded as an attachment to the capture address. (An inline forward reads
# the date its mail client printed with dateparser, a library that itself loads ``dataclasses``.)
FORWARD = (
    f"From: Maria Lopez <maria@northwind.example>\r\nTo: {CAPTURE}\r\nSubject: Fwd: Quote\r\n"
    "Date: Mon, 16 Nov 2026 18:00:00 +0100\r\nMessage-ID: <lean4@northwind.example>\r\nMIME-Version: 1.0\r\n"
    'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nFYI\r\n'
    "--b1\r\nContent-Type: message/rfc822\r\n\r\n"
    "From: Bo Chen <bo@globex.example>\r\nTo: Maria Lopez <maria@northwind.example>\r\nSubject: Quote\r\n"
    "Date: Mon, 16 Nov 2026 17:40:00 +0100\r\nMessage-ID: <lean5@globex.example>\r\n\r\nNumbers work for us.\r\n"
    "--b1--\r\n"
).encode()


@pytest.fixture
def with_capture_address(initialized, company):
    company.ok("settings", "set", "bcc-address", CAPTURE)
    company.ok("settings", "set", "create-contacts", "on")
    return initialized


@pytest.mark.parametrize(
    "message, code",
    [
        (mail(mid="<lean1@northwind.example>"), 0),  # stored
        (mail(frm="Eve <eve@elsewhere.example>", mid="<lean2@elsewhere.example>"), 3),  # quarantined
        (FORWARD, 0),  # a forward to the capture address: the original stored, its sender made a contact
    ],
)
def test_piped_message_loads_no_toolkit_and_no_process_pool(with_capture_address, message, code):
    exit_code, loaded = modules_loaded_by("bcc-ingest", "--json", stdin=message)
    assert exit_code == code
    assert {"pdmail.mime.parse", "pdmail.capture.save"} <= loaded  # it did take the short path and store
    assert forbidden(loaded) == set()
    exit_code, loaded = modules_loaded_by("bcc-ingest", "--mta", stdin=message)  # again: now a duplicate
    assert exit_code == 0
    assert forbidden(loaded) == set()


def test_the_full_command_line_does_load_the_toolkit(initialized):
    """The check above can fail: a command that is not a piped message loads what it forbids."""
    _, loaded = modules_loaded_by("bcc-ingest", "--quarantine", "--json", stdin=b"")
    assert {"typer", "click"} & forbidden(loaded)


def test_a_sync_loads_the_helpers_c_bindings_only_in_a_helper(initialized):
    """Every sync loads the helper pool's module; only a helper process calls into the C library."""
    exit_code, loaded = modules_loaded_by("sync", stdin=b"")
    assert exit_code == 2  # no mail account yet: said after the sync engine was loaded
    assert "pdmail.core.worker_pool" in loaded
    assert "ctypes" not in loaded


def dataclasses_defined_in(modules: set[str]) -> list[str]:
    """The dataclasses pdmail's modules among ``modules`` define, by qualified name."""
    found = []
    for name in sorted(m for m in modules if m == "pdmail" or m.startswith("pdmail.")):
        for value in vars(importlib.import_module(name)).values():
            if isinstance(value, type) and value.__module__ == name and "__dataclass_fields__" in vars(value):
                found.append(f"{name}.{value.__qualname__}")
    return found


def test_piped_message_builds_no_dataclasses(with_capture_address):
    """Records on this path are NamedTuples, or plain classes where they change in place
    (``Outcome``, ``Company``, ``RelinkReport``)."""
    for message in (mail(mid="<lean3@northwind.example>"), FORWARD):
        exit_code, loaded = modules_loaded_by("bcc-ingest", "--json", stdin=message)
        assert exit_code == 0
        assert {"pdmail.capture.save", "pdmail.linking.relink", "pdmail.store.links"} <= loaded
        if message is FORWARD:  # the original unwrapped, and its sender made a contact
            assert {"pdmail.mime.forward", "pdmail.store.crm"} <= loaded
        assert dataclasses_defined_in(loaded) == []
        assert "dataclasses" not in loaded


def test_the_count_of_dataclasses_sees_them(initialized):
    """The check above can fail: a sync loads the sync engine's dataclasses, and the count finds them."""
    _, loaded = modules_loaded_by("sync", stdin=b"")
    assert "dataclasses" in loaded
    assert any(name.startswith("pdmail.sync.") for name in dataclasses_defined_in(loaded))


# typing.NamedTuple compiles each field's annotation (a string, under ``from __future__ import
# annotations``) when the class is made: per field, several times what the record costs. The records
# of this path are ``pdmail.core.records.Record``s, which do not; the sharing law's own (in
# pdmail.visibility, which imports nothing of pdmail.core) has its annotations written as types.


def compiles_annotations(record: type) -> bool:
    return any(isinstance(a, typing.ForwardRef) for a in vars(record).get("__annotations__", {}).values())


def annotations_compiled_in(modules: set[str]) -> set[str]:
    """pdmail's records among ``modules`` whose annotations typing compiled (into ForwardRefs)."""
    found = set()
    for name in sorted(m for m in modules if m == "pdmail" or m.startswith("pdmail.")):
        for value in vars(importlib.import_module(name)).values():
            record = isinstance(value, type) and value.__module__ == name and issubclass(value, tuple)
            if record and compiles_annotations(value):
                found.add(f"{name}.{value.__qualname__}")
    return found


def test_piped_message_compiles_no_annotations(with_capture_address):
    for message in (mail(mid="<lean6@northwind.example>"), FORWARD):
        exit_code, loaded = modules_loaded_by("bcc-ingest", "--json", stdin=message)
        assert exit_code == 0
        assert {"pdmail.core.models", "pdmail.visibility", "pdmail.linking.engine"} <= loaded
        assert annotations_compiled_in(loaded) == set()


class TypingsOwn(typing.NamedTuple):
    x: int


def test_the_check_of_compiled_annotations_sees_them():
    """The check above can fail: typing's own NamedTuple compiles them, and the check sees it."""
    from pdmail.core.models import ParsedEmail
    from pdmail.visibility import EmailFacts

    assert compiles_annotations(TypingsOwn)
    assert not compiles_annotations(ParsedEmail) and not compiles_annotations(EmailFacts)
