"""Integration: the real MasakhaNER folder (../shared/corpora/masakhaner) through the task registry and
`pgt compare`, kept small (a tiny encoder from config, a few dozen sentences). Skipped when absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from polyglot_transfer.evaluation.config import build_config, load_config
from polyglot_transfer.evaluation.validate import validate_config
from polyglot_transfer.evaluation.task_data import load_task_data
from tests.conftest import REPO, SHARED_CORPORA


def _shared() -> Path:
    env = os.environ.get("PGT_CORPORA_DIR")
    root = Path(env) if env else SHARED_CORPORA
    if not (root / "masakhaner" / "data").is_dir():
        pytest.skip(f"MasakhaNER is not available under {root} (the shared corpora folder is absent).")
    return root


@pytest.fixture()
def corpora(monkeypatch) -> Path:
    root = _shared()
    monkeypatch.setenv("PGT_CORPORA_DIR", str(root))
    return root


def test_the_shipped_masakhaner_config_validates(corpora):
    assert validate_config(REPO / "eval" / "configs" / "masakhaner.yaml") == []
    config = load_config(REPO / "eval" / "configs" / "masakhaner.yaml")
    assert config.metrics[0] == "entity_f1" and len(config.target_languages) == 10


def test_real_masakhaner_loads_per_language(corpora):
    raw = {"name": "m", "task": {"corpus": "masakhaner", "max_train": 40, "max_test": 30},
           "model": str(REPO), "sources": ["swh_Latn", "hau_Latn+yor_Latn"],
           "target_languages": ["amh_Ethi", "pcm_Latn"],
           "setups": {"head": {"adapt": {"strategy": "token_classification", "method": "head"}}}}
    config, problems = build_config(raw)
    assert problems == []
    data = load_task_data(config)
    assert data.labels == ["B-DATE", "B-LOC", "B-ORG", "B-PER", "I-DATE", "I-LOC", "I-ORG", "I-PER", "O"]
    assert [len(d) for d in data.trains.values()] == [40, 80]  # a set keeps max_train per language: pooling adds data
    assert sorted({x.lang for x in data.trains["hau_Latn+yor_Latn"]}) == ["hau_Latn", "yor_Latn"]
    assert {lang: len(d) for lang, d in data.tests.items()} == {"amh_Ethi": 30, "pcm_Latn": 30}
    assert data.cards[0]["name"] == "MasakhaNER 1.0" and data.tests["amh_Ethi"][0].lang == "amh_Ethi"
    again = load_task_data(config)  # the same sample on every run (resume relies on it)
    assert again.tests["pcm_Latn"].fingerprint() == data.tests["pcm_Latn"].fingerprint()


def test_real_masakhaner_through_compare(corpora, tiny_encoder, tmp_path):
    from polyglot_transfer.evaluation.compare import run_compare

    raw = {"name": "m", "task": {"corpus": "masakhaner", "max_train": 32, "max_test": 24},
           "model": str(tiny_encoder), "sources": ["swh_Latn"], "target_languages": ["hau_Latn", "yor_Latn"],
           "setups": {"head": {"adapt": {"strategy": "token_classification", "method": "head", "epochs": 1,
                                         "learning_rate": 0.01, "batch_size": 8, "min_steps": 0}},
                      "full": {"adapt": {"strategy": "token_classification", "method": "full", "epochs": 1,
                                         "batch_size": 8, "min_steps": 0}}},
           "baseline": "head", "bootstrap": {"n_resamples": 100}, "output_dir": str(tmp_path / "run"), "threads": 1}
    config, problems = build_config(raw)
    assert problems == []
    res = run_compare(config, progress=False).results
    f1 = [r for r in res["records"] if r["metric"] == "entity_f1"]
    assert len(f1) == 4 and all(r["n"] == 24 and r["ci_low"] <= r["value"] <= r["ci_high"] for r in f1)
    per_type = {r["metric"] for r in res["records"]} - {"entity_f1"}
    assert per_type == {"entity_f1:DATE", "entity_f1:LOC", "entity_f1:ORG", "entity_f1:PER"}
    assert (tmp_path / "run" / "manifest.json").is_file() and res["task"]["type"] == "token_classification"


def test_afriqa_is_a_generative_qa_task_with_its_loader(monkeypatch):
    env = os.environ.get("PGT_CORPORA_DIR")
    root = Path(env) if env else SHARED_CORPORA
    if not (root / "afriqa" / "data").is_dir():
        pytest.skip(f"AfriQA is not available under {root}.")
    monkeypatch.setenv("PGT_CORPORA_DIR", str(root))
    from polyglot_transfer.tasks import TASKS, TaskConfig

    task = TASKS.get("afriqa")
    assert task.type == "generative_qa" and task.primary_metric == "token_f1"
    corpus = task.load(TaskConfig(corpus="afriqa"), ["hau_Latn"], ["hau_Latn"])
    test = corpus.test("hau_Latn")
    assert len(test) > 100 and test[0].lang == "hau_Latn" and "answers" in test[0].meta
    assert corpus.documents is not None and len(corpus.documents) > 100  # gold passages: the document collection
