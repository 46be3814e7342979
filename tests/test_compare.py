"""`pgt compare` end to end on a tiny model: four setups, CIs, reports, manifest, and resume."""

from __future__ import annotations

import json

import pytest
import yaml

from polyglot_transfer.errors import ConfigError
from polyglot_transfer.evaluation.compare import run_compare
from polyglot_transfer.evaluation.config import build_config, load_config
from tests.toy_task import toy_config


@pytest.fixture(scope="module")
def finished_run(tiny_encoder, tmp_path_factory):
    folder = tmp_path_factory.mktemp("compare")
    raw = toy_config(folder, tiny_encoder)
    (folder / "toy.yaml").write_text(yaml.safe_dump(raw))
    config = load_config(folder / "toy.yaml")
    return folder, config, run_compare(config, progress=False)


def test_every_setup_language_metric_has_a_record_with_ci(finished_run):
    _, config, result = finished_run
    records = result.results["records"]
    assert len(records) == 4 * 2 * 2
    keys = {(r["setup"], r["language"], r["metric"]) for r in records}
    assert keys == {(s, lang, m) for s in config.setups for lang in ("eng_Latn", "swh_Latn")
                    for m in ("accuracy", "macro_f1")}
    for r in records:
        assert r["ci_low"] <= r["value"] <= r["ci_high"], r
        assert r["n"] == 15 and 0.0 <= r["value"] <= 1.0


def test_comparisons_are_holm_corrected_against_the_baseline(finished_run):
    _, _, result = finished_run
    comps = result.results["comparisons"]
    assert {c["setup"] for c in comps} == {"lora", "rag", "lora+rag"}
    for c in comps:
        assert c["baseline"] == "head" and c["p_adjusted"] >= c["p_value"]
        assert c["verdict"] in {"win", "tie", "loss"}
    summary = {s["setup"]: s for s in result.results["summary"]}
    assert sum(summary["rag"][k] for k in ("wins", "ties", "losses")) == 2


def test_retrieval_over_swahili_documents_beats_chance(finished_run):
    """The Swahili documents share words with the Swahili test items: even a random tiny encoder's
    mean-pooled vectors carry that overlap, so retrieval must beat chance (1/3)."""
    _, _, result = finished_run
    acc = {(r["setup"], r["language"]): r["value"] for r in result.results["records"] if r["metric"] == "accuracy"}
    assert acc["rag", "swh_Latn"] >= 0.4


def test_run_folder_records_where_numbers_came_from(finished_run):
    folder, config, result = finished_run
    run = result.run_dir
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["seeds"] == [0]
    assert manifest["model"]["weights_sha256"]
    assert set(manifest["data"]["tests"]) == {"eng_Latn", "swh_Latn"}
    assert "torch" in manifest["environment"]["packages"]
    resolved = yaml.safe_load((run / "config.resolved.yaml").read_text())
    assert resolved["target_languages"] == ["eng_Latn", "swh_Latn"]
    assert (run / "report.html").read_text().count("<figure") >= 2
    assert "lora+rag" in (run / "report.md").read_text()
    saved = json.loads((run / "results.json").read_text())
    assert saved["records"] == result.results["records"]


def test_rerun_resumes_without_recomputing(finished_run, monkeypatch):
    folder, config, result = finished_run
    cells = sorted((result.run_dir / "cells").rglob("*.json"))
    assert len(cells) == 8
    before = {p: p.stat().st_mtime_ns for p in cells}
    # delete one cell: only it is recomputed, and no model is trained again (they are reloaded)
    cells[0].unlink()
    from polyglot_transfer.adapt.head import HeadStrategy
    from polyglot_transfer.adapt.lora import LoraStrategy

    def no_training(self, train):
        raise AssertionError("a finished model was trained again")

    monkeypatch.setattr(LoraStrategy, "fit", no_training)
    monkeypatch.setattr(HeadStrategy, "fit", no_training)
    again = run_compare(config, progress=False)
    after = {p: p.stat().st_mtime_ns for p in sorted((result.run_dir / "cells").rglob("*.json"))}
    assert [p for p in after if after[p] != before.get(p)] == [cells[0]]
    assert again.results["records"] == result.results["records"]


def test_changed_config_does_not_mix_into_an_old_run(finished_run, tiny_encoder):
    folder, config, _ = finished_run
    raw = toy_config(folder, tiny_encoder, seeds=[1])
    changed, problems = build_config(raw)
    assert not problems
    with pytest.raises(ConfigError, match="different config or data"):
        run_compare(changed, progress=False)
