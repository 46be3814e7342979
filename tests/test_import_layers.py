"""The import contract in pyproject.toml holds, and it really fails on an upward import or a cycle."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="import-linter is not installed (pip install -e .[test])")


def _lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), "--no-cache", "--config", str(root / "pyproject.toml")], cwd=root,
                          capture_output=True, text=True, timeout=300, env={"PYTHONPATH": str(root), "PATH": ""})


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(REPO / "polyglot_transfer", root / "polyglot_transfer",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def test_contract_holds_on_the_package() -> None:
    result = _lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("module, line, broken", [
    ("measure/stats.py", "from polyglot_transfer.evaluation import results", "cli > evaluation"),
    ("retrieval/vote.py", "import polyglot_transfer.cli.main", "cli > evaluation"),
    ("retrieval/bm25.py", "from polyglot_transfer.retrieval import hybrid", "no import cycles"),
])
def test_contract_fails_on_a_violating_import(tmp_path: Path, module: str, line: str, broken: str) -> None:
    root = _copy(tmp_path)
    path = root / "polyglot_transfer" / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}  # added by the test\n", encoding="utf-8")
    result = _lint(root)
    assert result.returncode != 0, f"lint-imports accepted `{line}` in {module}:\n{result.stdout}"
    assert f"{broken}" in result.stdout and "BROKEN" in result.stdout, result.stdout
