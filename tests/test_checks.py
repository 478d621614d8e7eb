"""The lint and type checks of pyproject.toml hold: a finding of ruff or mypy fails the test suite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINTED = ["pdmail", "tests", "bench", "scripts"]


def tool(name: str, *args: str) -> subprocess.CompletedProcess:
    """A checker installed next to the test run's interpreter (the `test` extra), run from the checkout."""
    return subprocess.run(
        [str(Path(sys.executable).with_name(name)), *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_ruff_finds_nothing():
    done = tool("ruff", "check", "--no-cache", *LINTED)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_code_is_formatted():
    done = tool("ruff", "format", "--check", "--no-cache", *LINTED)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_finds_nothing():
    done = tool("mypy", "--cache-dir", os.devnull, "pdmail")
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_module_of_pdmail_is_spared_a_type_check():
    """Overrides may only tell mypy about libraries without types; pdmail's own modules get every check."""
    import tomllib

    overrides = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"].get("overrides", [])
    spared = [o for o in overrides if any(m.split(".")[0] == "pdmail" for m in o["module"])]
    assert spared == []


def test_mypy_fails_on_a_finding(tmp_path):
    """The check above can fail: under the project's settings a possibly-None value used as a string is one."""
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    (tmp_path / "pdmail").mkdir()
    (tmp_path / "pdmail" / "__init__.py").write_text("def first_word(text: str | None):\n    return text.split()[0]\n")
    done = subprocess.run(
        [str(Path(sys.executable).with_name("mypy")), "--cache-dir", os.devnull, "pdmail"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1 and "[union-attr]" in done.stdout, done.stdout + done.stderr


def test_a_misspelt_status_is_a_type_error(tmp_path):
    """Visibility, direction, source and the statuses are Literal types: a word the database would refuse
    is caught before it runs."""
    use = tmp_path / "use_store.py"
    use.write_text(
        "from pdmail.store.crm import DealRecord\n"
        "from pdmail.store.emails import create_thread\n\n"
        "def make(db) -> None:\n"
        "    create_thread(db, 1, 'quote', 'public', '2026-01-01T00:00:00Z')\n"
        "    DealRecord(1, 'Boat', None, None, None, None, 'closed')\n"
    )
    done = tool("mypy", "--cache-dir", os.devnull, str(use))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "\"Literal['shared', 'private']\"" in done.stdout
    assert "\"Literal['open', 'won', 'lost', 'deleted']\"" in done.stdout


def test_ruff_fails_on_a_finding(tmp_path):
    """The check above can fail: an unused import is a finding under the project's rules."""
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    (tmp_path / "bad.py").write_text("import os\n")
    done = subprocess.run(
        [str(Path(sys.executable).with_name("ruff")), "check", "--no-cache", "bad.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "F401" in done.stdout
