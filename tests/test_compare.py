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
        assert c["verdict"] in {"win", "tie", "loss", "both_failed"}
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


# -- several sources: the transfer matrix, McNemar, forgetting, diagnostics, Ray ----------------------


def write_two_source_train(folder):
    """The toy training set in English and in Swahili (10 examples per label each)."""
    from tests.toy_task import WORDS

    rows = []
    for label, by_lang in WORDS.items():
        for lang, words in by_lang.items():
            for i in range(10):
                rows.append({"id": f"tr-{label}-{lang}-{i}", "text": f"{words[i % 5]} {words[(i + 2) % 5]} {i}",
                             "label": label, "lang": lang})
    path = folder / "train2.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def two_source_raw(folder, tiny_encoder, **extra):
    raw = toy_config(folder, tiny_encoder, threads=1)
    raw.pop("source_language")
    raw["task"]["train"] = str(write_two_source_train(folder))
    raw["sources"] = ["eng_Latn", "swh_Latn"]
    raw["seeds"] = [0, 1]
    raw["setups"] = {"head": raw["setups"]["head"],
                     "lora": {"adapt": {"strategy": "lora", "epochs": 1, "batch_size": 8}},
                     "rag": raw["setups"]["rag"]}
    raw.update(extra)
    return raw


@pytest.fixture(scope="module")
def two_source_run(tiny_encoder, tmp_path_factory):
    folder = tmp_path_factory.mktemp("compare2")
    config, problems = build_config(two_source_raw(folder, tiny_encoder))
    assert not problems, problems
    return folder, config, run_compare(config, progress=False)


def test_cells_are_keyed_by_seed_source_setup_language(two_source_run):
    _, config, result = two_source_run
    root = result.run_dir / "cells"
    cells = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.json"))
    assert len(cells) == 2 * 2 * 3 * 2
    assert "seed1/swh_Latn/lora/eng_Latn.json" in cells
    cell = json.loads((result.run_dir / "cells/seed1/swh_Latn/lora/eng_Latn.json").read_text())
    assert (cell["seed"], cell["source"], cell["setup"], cell["language"]) == (1, "swh_Latn", "lora", "eng_Latn")
    records = result.results["records"]
    assert len(records) == 3 * 2 * 2 * 2  # setup x source x target x metric, seeds pooled
    assert {r["source"] for r in records} == {"eng_Latn", "swh_Latn"}
    assert all(r["seeds"] == [0, 1] and r["seed"] is None for r in records)
    assert result.results["source_languages"] == ["eng_Latn", "swh_Latn"]


def test_transfer_matrix_has_gaps_and_labels(two_source_run):
    _, _, result = two_source_run
    tm = result.results["transfer_matrix"]
    assert (tm["metric"], tm["sources"], tm["targets"], tm["baseline"]) == (
        "macro_f1", ["eng_Latn", "swh_Latn"], ["eng_Latn", "swh_Latn"], "head")
    value = {(r["setup"], r["source"], r["language"]): r["value"]
             for r in result.results["records"] if r["metric"] == "macro_f1"}
    assert [s["setup"] for s in tm["setups"]] == ["head", "lora", "rag"]
    for entry in tm["setups"]:
        setup = entry["setup"]
        assert len(entry["cells"]) == 4
        for c in entry["cells"]:
            src, tgt = c["source"], c["target"]
            assert c["value"] == value[setup, src, tgt]
            assert c["ci_low"] <= c["value"] <= c["ci_high"]
            assert c["in_language"] == (src == tgt)
            assert c["gap"] == pytest.approx(value[setup, tgt, tgt] - value[setup, src, tgt])
            if setup == "head":
                assert c["label"] == "baseline" and c["vs_baseline"] is None
            else:
                assert c["label"] in {"positive", "negative", "inconclusive", "failed"}
                comp = [x for x in result.results["comparisons"] if (x["setup"], x["source"], x["language"],
                                                                     x["metric"]) == (setup, src, tgt, "macro_f1")]
                assert c["vs_baseline"]["p_adjusted"] == comp[0]["p_adjusted"]
                expected = {"win": "positive", "loss": "negative", "tie": "inconclusive",
                            "both_failed": "failed"}[comp[0]["verdict"]]
                assert c["label"] == expected
        if setup != "head":
            assert sum(entry["labels"].values()) == 4


def test_accuracy_uses_mcnemar_and_holm_runs_across_targets(two_source_run):
    _, _, result = two_source_run
    comps = result.results["comparisons"]
    assert len(comps) == 2 * 2 * 2 * 2  # (lora, rag) x source x target x metric
    for c in comps:
        if c["metric"] == "accuracy":
            assert c["test"] == "mcnemar" and set(c["mcnemar"]) == {"b", "c", "statistic", "exact"}
            # discordant pairs over both seeds (2 x 15 examples)
            assert 0 <= c["mcnemar"]["b"] + c["mcnemar"]["c"] <= 30
        else:
            assert c["test"] == "paired_bootstrap" and "mcnemar" not in c
    from polyglot_transfer.measure.stats import holm_correction

    group = [c for c in comps if (c["setup"], c["source"], c["metric"]) == ("rag", "swh_Latn", "accuracy")]
    assert [c["language"] for c in group] == ["eng_Latn", "swh_Latn"]
    assert [c["p_adjusted"] for c in group] == holm_correction([c["p_value"] for c in group])
    summary = {(s["setup"], s["source"]) for s in result.results["summary"]}
    assert summary == {(s, src) for s in ("lora", "rag") for src in ("eng_Latn", "swh_Latn")}


def test_forgetting_is_measured_once_per_trained_model_and_cached(two_source_run):
    _, config, result = two_source_run
    rows = result.results["forgetting"]
    assert [(r["setup"], r["language"]) for r in rows] == [("lora", "eng_Latn"), ("lora", "swh_Latn")]
    for r in rows:
        assert r["drop"] == pytest.approx(r["before"] - r["after"])
        assert r["seeds"] == [0, 1] and r["metric"] == "macro_f1" and 0 <= r["before"] <= 1
    files = sorted(p.name for p in (result.run_dir / "forgetting").glob("*.json"))
    assert files.count("before-eng_Latn.json") == 1 and len(files) == 2 + 4  # 2 "before" + lora x source x seed
    assert all(n.startswith("lora-") for n in files if not n.startswith("before-"))


def test_tokenizer_diagnostics_per_target(two_source_run):
    _, _, result = two_source_run
    diags = result.results["diagnostics"]
    assert [d["language"] for d in diags] == ["eng_Latn", "swh_Latn"]
    for d in diags:
        assert d["fertility"] > 0 and set(d["source_fertility"]) == {"eng_Latn", "swh_Latn"}
    # English is compared with the other source (Swahili) only, never with itself
    notes = diags[0]["notes"]
    assert any("Swahili" in n for n in notes) and not any("English (target)" in n for n in notes)
    assert json.loads((result.run_dir / "diagnostics.json").read_text()) == diags


def test_reports_show_the_transfer_matrix(two_source_run):
    _, _, result = two_source_run
    md = (result.run_dir / "report.md").read_text()
    assert "## Transfer matrix (macro-F1)" in md and "### lora" in md
    page = (result.run_dir / "report.html").read_text()
    assert 'data-plot="transfer-lora"' in page and 'id="transfer"' in page


def test_ray_backend_gives_the_local_results(two_source_run, tiny_encoder, tmp_path):
    """A local Ray cluster with 2 workers runs the 2 units of seed 0 (one per source): every cell's
    predictions and every forgetting measurement equal the local runner's."""
    pytest.importorskip("ray")
    folder, config, local = two_source_run
    raw = two_source_raw(tmp_path, tiny_encoder, backend="ray", workers=2, output_dir=str(tmp_path / "run"),
                         seeds=[0])
    raw["task"] = dict(config.task.__dict__)  # the very same data files as the local run
    ray_config, problems = build_config(raw)
    assert not problems, problems
    remote = run_compare(ray_config, progress=False)
    cells = sorted((remote.run_dir / "cells").rglob("*.json"))
    assert len(cells) == 2 * 3 * 2
    for path in cells:
        rel = path.relative_to(remote.run_dir)
        mine, theirs = json.loads(path.read_text()), json.loads((local.run_dir / rel).read_text())
        assert (mine["ids"], mine["y_pred"]) == (theirs["ids"], theirs["y_pred"]), rel
    for path in (remote.run_dir / "forgetting").glob("*.json"):
        assert json.loads(path.read_text()) == json.loads((local.run_dir / "forgetting" / path.name).read_text())
    assert remote.results["environment"]["backend"] == "ray"
    assert remote.results["diagnostics"] == local.results["diagnostics"]



def test_task_data_per_source_and_source_sets(tmp_path):
    """No model needed: training and held-out data per source, a set being the union of its languages."""
    from pathlib import Path

    from polyglot_transfer.evaluation.task_data import load_task_data

    raw = two_source_raw(tmp_path, Path("."), sources=["swh_Latn", "swh_Latn+eng_Latn"])
    config, _ = build_config(raw)  # no model is loaded here, only the data
    data = load_task_data(config)
    assert list(data.trains) == ["swh_Latn", "swh_Latn+eng_Latn"]
    assert len(data.trains["swh_Latn"]) == 30 and len(data.trains["swh_Latn+eng_Latn"]) == 60
    assert set(data.trains["swh_Latn+eng_Latn"].languages) == {"swh_Latn", "eng_Latn"}
    assert len(data.heldout["swh_Latn+eng_Latn"]) == 30 and data.train is data.trains["swh_Latn"]
    assert data.labels == ["animals", "crops", "weather"]
