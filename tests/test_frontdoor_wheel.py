"""A wheel built from the repository, installed (not editable) into a fresh virtualenv, runs the shipped demo config
from another folder: the demo corpus and the example configs travel inside the package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOT_COPIED = shutil.ignore_patterns(".git", ".venv", "runs", "build", "dist", "*.egg-info", "__pycache__", ".cache",
                                    "_bundled", ".pytest_cache")


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], Path]:
    """(the venv's bin folder, an environment without this checkout on PYTHONPATH, a folder outside the repo)."""
    if importlib_missing("setuptools"):
        pytest.skip("setuptools is not installed: the wheel is built without build isolation (offline)")
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"
    shutil.copytree(REPO, source, ignore=NOT_COPIED)  # build from a copy: the checkout gets no build/ folder
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(root / "dist"),
          str(source)], root, env)
    [wheel] = sorted((root / "dist").glob("polyglot_transfer-*.whl"))
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], root, env)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    venv_python = bindir / ("python.exe" if os.name == "nt" else "python")
    site = Path(_run([str(venv_python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     root, env).stdout.strip())
    # the dependencies come from this interpreter's environment; the package itself only from the wheel
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    _run([sys.executable, "-m", "pip", "--python", str(venv_python), "install", "--no-deps", "-q", str(wheel)],
         root, env)
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    return bindir, env, elsewhere


def importlib_missing(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is None


def test_wheel_carries_the_demo_and_validates_it_from_another_folder(installed) -> None:
    bindir, env, elsewhere = installed
    where = _run([str(bindir / "python"), "-c", "import polyglot_transfer as pgt, polyglot_transfer.data.corpora as c;"
                  "print(pgt.__file__); print(c.demo_corpus_path()); print(pgt.config_path('demo'))"], elsewhere, env)
    package_file, corpus, config = (Path(line) for line in where.stdout.split())
    assert str(package_file).startswith(str(bindir.parent)), "imported from the wheel, not the checkout"
    assert corpus.is_relative_to(package_file.parent) and (corpus / "train.jsonl").is_file()
    assert config.is_relative_to(package_file.parent) and config.name == "demo.yaml"
    assert (package_file.parent / "py.typed").is_file() and (package_file.parent / "__init__.pyi").is_file()
    for name in ("demo", "eval/configs/demo.yaml"):
        done = _run([str(bindir / "pgt"), "validate", name], elsewhere, env)
        assert done.stdout.strip() == f"{name}: valid", done.stdout
    done = _run([str(bindir / "python"), "-c", "import polyglot_transfer as pgt; c = pgt.load_demo_corpus(); "
                 "print(len(c.train), len(c.test), len(c.documents))"], elsewhere, env)
    assert [int(x) for x in done.stdout.split()] == [210, 420, 48]


@pytest.mark.slow
def test_wheel_runs_the_demo_comparison_from_another_folder(installed) -> None:
    """The whole demo as a user runs it after `pip install .` (trains LoRA: minutes on CPU)."""
    bindir, env, elsewhere = installed
    done = _run([str(bindir / "pgt"), "compare", "demo"], elsewhere, env, timeout=3600)
    assert "Report:" in done.stdout
    assert (elsewhere / "runs" / "demo" / "results.json").is_file()
    assert (elsewhere / "runs" / "demo" / "report.md").is_file()
