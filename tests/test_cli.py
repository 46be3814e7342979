"""The CLI as a user runs it: help with examples, exit codes, errors that say how to fix them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from polyglot_transfer.cli.main import main
from tests.conftest import REPO
from tests.toy_task import toy_config


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "polyglot_transfer.cli.main", *args],
                          capture_output=True, text=True, cwd=REPO, timeout=300)


def test_help_shows_examples():
    out = run_cli("--help")
    assert out.returncode == 0
    assert "examples:" in out.stdout and "pgt compare eval/configs/demo.yaml" in out.stdout
    sub = run_cli("compare", "--help")
    assert sub.returncode == 0 and "--set" in sub.stdout and "resumes" in sub.stdout


def test_validate_exit_codes(tmp_path, capsys):
    assert main(["validate", str(REPO / "eval/configs/demo.yaml")]) == 0
    assert main(["validate", str(REPO / "eval/configs/demo.yaml"), "--set", "setups.lora.adapt.lr=1"]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'lr'" in err and "Known keys:" in err


def test_compare_with_unknown_language_is_a_config_error(capsys):
    code = main(["compare", str(REPO / "eval/configs/demo.yaml"), "--set", "target_languages=[klingonx]"])
    assert code == 2
    assert "Unknown language 'klingonx'" in capsys.readouterr().err


def test_models_list_json_and_ls():
    out = run_cli("models", "list", "--json")
    assert out.returncode == 0
    names = {m["name"] for m in json.loads(out.stdout)}
    assert "intfloat/multilingual-e5-small" in names
    out = run_cli("ls", "strategies")
    assert out.returncode == 0 and "head" in out.stdout and "lora" in out.stdout


def test_unknown_model_pull_exit_code(capsys):
    assert main(["models", "pull", "intfloat/multilingual-e5-smal"]) == 4
    assert "Did you mean 'intfloat/multilingual-e5-small'" in capsys.readouterr().err


def test_compare_and_report_end_to_end(tiny_encoder, tmp_path, capsys):
    raw = toy_config(tmp_path, tiny_encoder)
    raw["setups"] = {"head": raw["setups"]["head"], "rag": raw["setups"]["rag"]}
    config = tmp_path / "toy.yaml"
    config.write_text(yaml.safe_dump(raw))
    assert main(["compare", str(config), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "report.html" in out and "macro-F1" in out
    report = tmp_path / "run" / "report.html"
    report.unlink()
    assert main(["report", str(tmp_path / "run")]) == 0
    assert report.is_file()
    assert main(["report", str(tmp_path)]) == 3  # no results.json there


@pytest.mark.parametrize("argv", [["models"], []])
def test_bare_command_prints_help(argv, capsys):
    assert main(argv) == 2
    assert "usage:" in capsys.readouterr().out
