"""The parsing layer's import rules: only parse.py reads mail with the email package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pdmail"


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize(
    "module", ["mime/limits", "mime/html_text", "mime/fingerprint", "mime/forward", "capture/sender_check"]
)
def test_module_does_not_import_email_or_mailparser(module):
    imported = imported_modules(PACKAGE / f"{module}.py")
    assert not {name for name in imported if name.split(".")[0] in ("email", "mailparser")}


@pytest.mark.parametrize(
    "module",
    ["mime/parse", "mime/limits", "mime/html_text", "mime/fingerprint", "mime/forward", "capture/sender_check"],
)
def test_parsing_layer_does_no_io_and_no_ui(module):
    imported = imported_modules(PACKAGE / f"{module}.py")
    banned = {"typer", "rich", "sqlite_utils", "sqlite3", "imapclient", "socket", "subprocess", "urllib.request"}
    assert not imported & banned
