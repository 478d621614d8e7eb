"""CI must not skip: with PDMAIL_NO_SKIP=1 a skipped test fails the run, with its reason."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def run_pytest(tmp_path: Path, no_skip: str | None) -> subprocess.CompletedProcess:
    (tmp_path / "test_one.py").write_text(
        "import pytest\n\ndef test_needs_a_server():\n    pytest.skip('no server here')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PDMAIL_NO_SKIP"}
    if no_skip is not None:
        env["PDMAIL_NO_SKIP"] = no_skip
    env["PYTHONPATH"] = str(TESTS)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "conftest",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_one.py"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )


def test_a_skip_fails_the_run_where_nothing_may_be_skipped(tmp_path):
    result = run_pytest(tmp_path, "1")
    assert result.returncode == 1, result.stdout
    assert "1 failed" in result.stdout and "no server here" in result.stdout


def test_a_skip_stays_a_skip_elsewhere(tmp_path):
    result = run_pytest(tmp_path, None)
    assert result.returncode == 0, result.stdout
    assert "1 skipped" in result.stdout
