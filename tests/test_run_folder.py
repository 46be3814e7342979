"""What a run folder holds is validated when read: damaged cells, saved models and results.json are detected.

A damaged cell or saved model is recomputed with a warning (never counted as done, never a crash); a
damaged results.json is a clear error naming the file.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import yaml
from safetensors.numpy import save_file

from polyglot_transfer.cli.main import main
from polyglot_transfer.errors import DataError
from polyglot_transfer.evaluation.results_model import load_results
from polyglot_transfer.evaluation.run_folder import model_complete, model_problem, read_cell
from polyglot_transfer.fileio import atomic_write_json
from tests.results_factory import build, gold, with_accuracy

CELL = {"setup": "head", "source": "eng_Latn", "language": "yor_Latn", "seed": 0, "labels": ["a", "b"],
        "ids": ["x1", "x2", "x3"], "y_true": ["a", "b", "a"], "y_pred": ["a", "a", "b"],
        "created": "2026-12-01T00:00:00+00:00"}


def test_read_cell_returns_a_complete_cell(tmp_path):
    path = tmp_path / "cell.json"
    atomic_write_json(path, CELL)
    assert read_cell(path) == CELL
    assert read_cell(tmp_path / "absent.json") is None


@pytest.mark.parametrize(("content", "why"), [
    (b"", "damaged"),
    (json.dumps(CELL).encode()[:40], "damaged"),
    (b"\x00\xff\xfe garbage", "cannot be read"),
    (json.dumps([1, 2]).encode(), "holds a list, expected an object"),
    (json.dumps({k: v for k, v in CELL.items() if k != "y_pred"}).encode(), "lacks y_pred"),
    (json.dumps(dict(CELL, y_pred=["a"])).encode(), "has 3 gold labels but 1 predictions"),
    (json.dumps(dict(CELL, y_true=[], y_pred=[], ids=[])).encode(), "has no predictions"),
    (json.dumps(dict(CELL, seed="0")).encode(), "seed is a str, expected int"),
    (json.dumps(dict(CELL, y_pred=["a", "a", "zzz"])).encode(), "predicts labels outside its label set: zzz"),
])
def test_a_damaged_cell_is_not_done_and_says_why(tmp_path, caplog, content, why):
    path = tmp_path / "cell.json"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="polyglot_transfer.evaluation.run_folder"):
        assert read_cell(path) is None
    assert why in caplog.text and str(path) in caplog.text and "recomputed" in caplog.text


def _saved_model(folder):
    folder.mkdir(parents=True)
    atomic_write_json(folder / "strategy.json", {"strategy": "head", "config": {}, "model": "m", "seed": 0,
                                                  "labels": ["a", "b"]})
    save_file({"coef": np.ones((2, 8), dtype=np.float32)}, str(folder / "head.safetensors"))


def test_a_truncated_saved_model_is_detected(tmp_path, caplog):
    folder = tmp_path / "models" / "head-1"
    _saved_model(folder)
    assert model_problem(folder) is None and model_complete(folder)
    weights = folder / "head.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    assert "head.safetensors is damaged" in model_problem(folder)
    with caplog.at_level(logging.WARNING):
        assert not model_complete(folder)
    assert "it will be trained again" in caplog.text
    _saved_model(tmp_path / "m2")
    (tmp_path / "m2" / "strategy.json").write_text('{"strategy": "he')
    assert model_problem(tmp_path / "m2") == "strategy.json is damaged (empty, truncated or not an object)"
    assert not model_complete(tmp_path / "absent")


# ------------------------------------------------------------------------------------------ results.json


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("results")
    y = {"yor_Latn": gold(60)}
    results = build(tmp, y, {"head": {"yor_Latn": with_accuracy(y["yor_Latn"], 0.7)},
                             "lora": {"yor_Latn": with_accuracy(y["yor_Latn"], 0.9, 2)}}, baseline="head",
                    n_resamples=200)
    atomic_write_json(tmp / "run" / "results.json", results)
    return tmp / "run"


def test_results_json_round_trips_through_the_typed_model(run_dir):
    model = load_results(run_dir)
    assert model.schema_version == 2 and model.recommendation is not None
    assert model.to_json_dict() == json.loads((run_dir / "results.json").read_text())


@pytest.mark.parametrize(("damage", "match"), [
    (lambda p: p.write_text(""), r"results.json is not valid JSON .*empty, truncated"),
    (lambda p: p.write_text(p.read_text()[:200]), r"results.json is not valid JSON"),
    (lambda p: p.write_bytes(b"\xff\xfe\x00"), r"results.json is not valid JSON"),
    (lambda p: p.write_text(json.dumps(dict(json.loads(p.read_text()), schema_version=1))),
     r"results.json has schema_version 1; expected 2"),
    (lambda p: p.write_text(p.read_text().replace('"failed": false', '"failed": "no"', 1)),
     r"results.json does not match the results schema: records\.0\.failed: Input should be a valid boolean"),
    (lambda p: p.unlink(), r"results.json does not exist"),
])
def test_pgt_report_refuses_a_damaged_results_json_naming_it(run_dir, tmp_path, capsys, damage, match):
    copy = tmp_path / "run"
    copy.mkdir()
    (copy / "results.json").write_bytes((run_dir / "results.json").read_bytes())
    damage(copy / "results.json")
    with pytest.raises(DataError, match=match):
        load_results(copy)
    assert main(["report", str(copy)]) != 0
    err = capsys.readouterr().err
    assert str(copy / "results.json") in err and "Traceback" not in err
    assert not (copy / "report.md").exists()


def test_pgt_report_rebuilds_both_reports(run_dir, capsys):
    assert main(["report", str(run_dir)]) == 0
    assert (run_dir / "report.md").is_file() and (run_dir / "report.html").is_file()


# ------------------------------------------------------------------------------------------ compare resumes


def test_compare_recomputes_a_damaged_cell_and_retrains_a_damaged_model(tiny_encoder, tmp_path, caplog):
    from polyglot_transfer.evaluation.compare import run_compare
    from polyglot_transfer.evaluation.config import load_config
    from tests.toy_task import toy_config

    raw = toy_config(tmp_path, tiny_encoder, threads=1, forgetting=False, diagnostics=False)
    raw["setups"] = {"head": raw["setups"]["head"], "rag": raw["setups"]["rag"]}
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(raw))
    config = load_config(tmp_path / "toy.yaml")
    first = run_compare(config, progress=False, config_path=tmp_path / "toy.yaml")
    run = first.run_dir
    assert first.results["run"]["config_path"] == str(tmp_path / "toy.yaml")
    assert first.results["run"]["resolved_config"] == str(run / "config.resolved.yaml")
    assert f"- **Config:** {tmp_path / 'toy.yaml'} (as run, overrides included: {run / 'config.resolved.yaml'})" in (
        run / "report.md").read_text()
    cell = run / "cells/seed0/eng_Latn/head/swh_Latn.json"
    good = json.loads(cell.read_text())
    cell.write_text(cell.read_text()[:50])  # truncated: not done
    empty = run / "cells/seed0/eng_Latn/rag/eng_Latn.json"
    empty.write_text("")
    weights = next((run / "models").rglob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-16])  # a truncated saved model
    with caplog.at_level(logging.WARNING):
        again = run_compare(config, progress=False)
    assert "will be recomputed" in caplog.text and "will be trained again" in caplog.text
    redone = json.loads(cell.read_text())
    assert redone["y_pred"] == good["y_pred"] and read_cell(empty) is not None
    assert model_problem(weights.parent) is None
    assert again.results["records"] == first.results["records"]
