"""ruff, in the default test run: lint (pyflakes, pycodestyle, import order, bugbear) and format, as pyproject.toml sets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TREES = ["zkml", "tests", "benchmarks", "examples", "models"]


def _ruff(*args: str) -> subprocess.CompletedProcess:
    ruff = Path(sys.executable).parent / "ruff"
    return subprocess.run([str(ruff), *args, *TREES], capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_ruff_lint_passes():
    res = _ruff("check", "--no-cache")
    assert res.returncode == 0, res.stdout + res.stderr


def test_ruff_format_leaves_the_tree_unchanged():
    res = _ruff("format", "--check", "--no-cache")
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_lint_check_can_fail(tmp_path):
    """The same ruff, on a file with an unused import and bad formatting, fails both checks."""
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nx=1\n")
    ruff = Path(sys.executable).parent / "ruff"
    cfg = ["--config", str(ROOT / "pyproject.toml")]
    assert subprocess.run([str(ruff), "check", "--no-cache", *cfg, str(bad)], capture_output=True).returncode == 1
    assert (
        subprocess.run([str(ruff), "format", "--check", "--no-cache", *cfg, str(bad)], capture_output=True).returncode
        == 1
    )
