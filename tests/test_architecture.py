"""The layers point down: library modules never import the CLI's toolkit, and the pure ones no I/O."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pdmail"
UI_MODULES = {"typer", "rich", "click"}
PURE = {"models", "addresses", "address_list", "settings", "csvimport", "link", "visibility", "parse",
        "threading_rules", "forward", "authz", "identity", "limits", "htmltext", "attachment_names", "providers",
        "compose", "when", "merge_fields"}
IO_MODULES = {"sqlite3", "sqlite_utils", "imapclient", "socket", "smtplib", "subprocess", "pdmail.store"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def library_modules():
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "cli" or rel.name == "__main__.py":
            continue
        yield rel, path


def test_library_modules_import_no_ui_toolkit():
    offenders = {
        str(rel): sorted(n for n in imports_of(path) if n.split(".")[0] in UI_MODULES)
        for rel, path in library_modules()
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_pure_modules_do_no_io():
    offenders = {}
    for rel, path in library_modules():
        if rel.parts == (rel.name,) and rel.stem in PURE:
            bad = [n for n in imports_of(path) if n in IO_MODULES or n.split(".")[0] in IO_MODULES]
            if bad:
                offenders[str(rel)] = bad
    assert offenders == {}


def test_only_the_store_speaks_sql():
    offenders = []
    for rel, path in library_modules():
        if rel.parts[0] in ("store",) or rel.name == "migrations.py":
            continue
        if any(n.split(".")[0] in ("sqlite3", "sqlite_utils") for n in imports_of(path)):
            offenders.append(str(rel))
    assert offenders == []


def test_library_code_never_prints():
    offenders = []
    for rel, path in library_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []
