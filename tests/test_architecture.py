"""The layers point down: library modules never import the CLI's toolkit, and the pure ones no I/O."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "pdmail"
UI_MODULES = {"typer", "rich", "click"}
PURE = {"models", "addresses", "address_list", "settings", "csvimport", "link", "visibility", "parse",
        "threading_rules", "forward", "authz", "identity", "limits", "htmltext", "attachment_names", "providers",
        "compose", "when", "merge_fields", "money"}
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


# The store holds SQL and nothing above it: what a change means for the rest (linking mail again,
# queueing work for the mail server, who may make it) is decided by the services that call it. Besides
# itself, the store may use these modules only, and they use nothing else of pdmail either.
STORE_MAY_IMPORT = {"pdmail.errors", "pdmail.models", "pdmail.migrations", "pdmail.addresses", "pdmail.identity",
                    "pdmail.visibility", "pdmail.settings"}


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def pdmail_imports_in(text: str, package: str) -> set[str]:
    """Every pdmail module a module of ``package`` imports, at any depth (inside functions too);
    `from pdmail import x` counts as pdmail.x, and relative imports are resolved."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            for alias in node.names:
                names.add(f"{module}.{alias.name}" if _is_module(f"{module}.{alias.name}") else module)
    return {n for n in names if n == "pdmail" or n.startswith("pdmail.")}


def pdmail_imports_of(path: Path) -> set[str]:
    return pdmail_imports_in(path.read_text(), ".".join(path.relative_to(ROOT).parent.parts))


def _below_the_store(name: str) -> bool:
    return name == "pdmail.store" or name.startswith("pdmail.store.") or name in STORE_MAY_IMPORT


def test_the_store_imports_nothing_above_it():
    offenders = {}
    for path in sorted((PACKAGE / "store").glob("*.py")):
        bad = sorted(n for n in pdmail_imports_of(path) if not _below_the_store(n))
        if bad:
            offenders[path.name] = bad
    assert offenders == {}


def test_what_the_store_uses_stays_below_it():
    offenders = {}
    for name in sorted(STORE_MAY_IMPORT):
        path = ROOT.joinpath(*name.split(".")).with_suffix(".py")
        bad = sorted(n for n in pdmail_imports_of(path) if n not in STORE_MAY_IMPORT)
        if bad:
            offenders[name] = bad
    assert offenders == {}


def test_the_import_reader_sees_late_and_relative_imports():
    """The checks above must not miss the import inside a function that a layer violation usually hides in."""
    text = ("from pdmail.store.db import Database\n"
            "def f():\n    from pdmail import relink\n    from . import links\n    import pdmail.capture\n"
            "    from ..money import parse\n")
    assert pdmail_imports_in(text, "pdmail.store") == {
        "pdmail.store.db", "pdmail.relink", "pdmail.store.links", "pdmail.capture", "pdmail.money"}
