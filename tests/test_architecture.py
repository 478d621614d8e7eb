"""The layers point down: library modules never import the CLI's toolkit, and the pure ones no I/O."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "pdmail"
UI_MODULES = {"typer", "rich", "click"}
PURE = {
    "visibility.py", "core/models.py", "core/addresses.py", "core/settings.py", "core/csv_import.py",
    "core/time_phrases.py", "core/money.py", "mime/address_list.py", "mime/parse.py", "mime/forward.py",
    "mime/fingerprint.py", "mime/limits.py", "mime/html_text.py", "mime/attachment_names.py",
    "linking/engine.py", "linking/threads.py", "capture/sender_check.py", "accounts/providers.py",
    "send/compose.py", "send/merge_fields.py",
}
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
        if rel.as_posix() in PURE:
            bad = [n for n in imports_of(path) if n in IO_MODULES or n.split(".")[0] in IO_MODULES]
            if bad:
                offenders[str(rel)] = bad
    assert offenders == {}


def test_pure_modules_exist():
    """A renamed or moved module would otherwise drop out of the check above without a word."""
    assert sorted(m for m in PURE if not (PACKAGE / m).is_file()) == []


def test_only_the_store_speaks_sql():
    offenders = []
    for rel, path in library_modules():
        if rel.parts[0] == "store":
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


# The module each distribution is imported as. A new dependency goes here too, so that the test
# below can tell whether anything imports it.
IMPORT_NAMES = {
    "typer": "typer", "rich": "rich", "imapclient": "imapclient", "platformdirs": "platformdirs",
    "keyring": "keyring", "html2text": "html2text", "dateparser": "dateparser", "authres": "authres",
    "sqlite-utils": "sqlite_utils", "mail-parser": "mailparser", "nh3": "nh3",
    "publicsuffixlist": "publicsuffixlist", "nameparser": "nameparser",
}


def declared(group: str | None = None) -> list[str]:
    """Distribution names of [project].dependencies, or of one optional-dependencies group."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] if group is None else project["optional-dependencies"][group]
    return [re.split(r"[\s<>=!~;\[]", spec, maxsplit=1)[0].lower() for spec in specs]


def imported_top_level(folder: Path) -> set[str]:
    return {name.split(".")[0] for path in folder.rglob("*.py") for name in imports_of(path)}


def test_every_declared_dependency_is_imported_by_pdmail():
    """A dependency nothing imports is a promise the code does not keep (the README's "Dependencies")."""
    dependencies = declared()
    assert [d for d in dependencies if d not in IMPORT_NAMES] == []
    used = imported_top_level(PACKAGE)
    assert [d for d in dependencies if IMPORT_NAMES[d] not in used] == []


def test_every_bench_extra_is_imported_by_a_benchmark():
    dependencies = declared("bench")
    assert [d for d in dependencies if d not in IMPORT_NAMES] == []
    used = imported_top_level(ROOT / "bench")
    assert [d for d in dependencies if IMPORT_NAMES[d] not in used] == []

