"""CLI polish: strategy parameters in `pgt ls`, piped table width, quiet third-party libraries, log lines that do
not break progress bars, `pgt plan`'s stated assumptions, fertility shared by plan and diagnose, adapt --output-dir."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import yaml

from polyglot_transfer.cli.main import PIPED_WIDTH, _configure_output, main, progress_logging
from tests.conftest import REPO
from tests.toy_task import write_toy_task


def _pgt(*args: str, cwd=REPO, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env.update(PYTHONPATH=str(REPO), **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "polyglot_transfer.cli.main", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=600)


def test_ls_strategies_shows_parameters_with_defaults(capsys) -> None:
    assert main(["ls", "strategies", "--json"]) == 0
    listing = {s["name"]: s for s in json.loads(capsys.readouterr().out)}
    from polyglot_transfer.adapt import STRATEGIES

    assert set(listing) == set(STRATEGIES)
    head = listing["head"]
    assert head["description"].startswith("Frozen encoder + logistic regression")
    assert head["parameters"]["C"] == "null" and head["parameters"]["class_weight"] == "null"  # null: chosen by CV
    assert all(s["description"] and s["parameters"] for s in listing.values()), "every strategy documents its knobs"


def test_tables_keep_a_readable_width_when_piped() -> None:
    done = _pgt("ls", "strategies")
    assert done.returncode == 0, done.stderr
    widths = [len(line) for line in done.stdout.splitlines()]
    assert max(widths) <= PIPED_WIDTH and max(widths) > 100, max(widths)  # rich's default would be 80
    assert "C=null, C_grid=" in done.stdout  # head's parameters, on one line


def test_third_party_warnings_only_with_verbose(tiny_encoder, tmp_path) -> None:
    """Loading the tiny model (no pooler weights) makes transformers print a load report; -v shows it."""
    paths = write_toy_task(tmp_path)
    args = ["diagnose", "--model", str(tiny_encoder), "--data", str(paths["test"]), "--source", "eng",
            "--permutations", "20", "--json"]
    quiet = _pgt(*args)
    assert quiet.returncode == 0, quiet.stderr
    assert "LOAD REPORT" not in quiet.stderr and "Warning" not in quiet.stderr, quiet.stderr
    loud = _pgt("-v", *args)
    assert loud.returncode == 0, loud.stderr
    assert "LOAD REPORT" in loud.stderr, loud.stderr


def test_log_lines_do_not_break_progress_bars(capsys) -> None:
    from tqdm import tqdm

    _configure_output(0, False)
    try:
        with progress_logging():
            bar = tqdm(total=3, file=sys.stderr)
            bar.update(1)
            logging.getLogger("polyglot_transfer.test").info("a log line")
            bar.update(2)
            bar.close()
    finally:
        logging.getLogger("polyglot_transfer").setLevel(logging.NOTSET)
    err = capsys.readouterr().err
    assert "\ra log line\n" in err, repr(err)  # the bar is cleared first, then redrawn below the line


def test_plan_says_what_it_assumed_and_names_no_corpus_it_was_not_given(tmp_path, capsys) -> None:
    out = tmp_path / "plan.yaml"
    assert main(["plan", "--target", "yor", "--labelled", "32", "--documents", "200", "--no-fertility",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Assumed:" in printed
    assert "task data: none named: the config's task holds the placeholders TRAIN_FILE.jsonl" in printed
    assert "add --corpus agri_advice to use it" in printed
    assert "labelled examples: 32 (--labelled)" in printed and "unlabelled texts: 0 (not given" in printed
    assert "GPU: no (not given; pass --gpu yes)" in printed
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# assumed: task data: none named")
    config = yaml.safe_load(text)
    assert config["task"] == {"train": "TRAIN_FILE.jsonl", "test": "TEST_FILE.jsonl"}
    assert "agri_advice" not in yaml.safe_dump(config)
    assert main(["plan", "--target", "yor", "--corpus", "agri_advice", "--no-fertility", "--json"]) == 0
    planned = json.loads(capsys.readouterr().out)
    assert planned["config"]["task"] == {"corpus": "agri_advice"}
    assert planned["assumed"][0] == "task data: the built-in corpus agri_advice (--corpus)"


def test_plan_and_diagnose_report_the_same_fertility(tiny_encoder, capsys) -> None:
    assert main(["plan", "--target", "swh", "--source", "eng", "--corpus", "agri_advice", "--model",
                 str(tiny_encoder), "--json"]) == 0
    planned = json.loads(capsys.readouterr().out)
    assert main(["diagnose", "--data", "agri_advice", "--source", "eng", "--languages", "eng,swh", "--model",
                 str(tiny_encoder), "--permutations", "20", "--json"]) == 0
    diagnosed = {d["lang"]: d for d in json.loads(capsys.readouterr().out)["languages"]}
    swh = diagnosed["swh_Latn"]
    assert planned["resources"]["fertility"] == swh["fit"]["fertility"] > 1.0
    assert planned["resources"]["fertility_ratio"] == swh["fertility_ratio"]
    assert swh["fertility_ratio"] == swh["fit"]["fertility"] / diagnosed["eng_Latn"]["fit"]["fertility"]
    assert any("measured on agri_advice (60 swh_Latn and 270 eng_Latn texts)" in line for line in planned["assumed"])


def test_adapt_writes_to_output_dir(tiny_encoder, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    paths = write_toy_task(tmp_path / "data")
    config = tmp_path / "adapt.yaml"
    config.write_text(yaml.safe_dump({
        "name": "adapt-head", "task": {"train": str(paths["train"]), "test": str(paths["test"])},
        "model": str(tiny_encoder), "source_language": "eng_Latn", "strategy": "head", "evaluate_on": ["swh_Latn"],
    }), encoding="utf-8")
    assert main(["adapt", str(config), "--output-dir", "elsewhere/run1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "Run folder: elsewhere/run1" in out, out
    assert (tmp_path / "elsewhere" / "run1" / "results.json").is_file()
    assert not (tmp_path / "runs").exists()
