"""Integration: the real default model (multilingual-e5-small) on real data (NusaX from ../shared)."""

from __future__ import annotations

import pytest

from polyglot_transfer.evaluation.compare import run_compare
from polyglot_transfer.evaluation.config import build_config

pytestmark = pytest.mark.integration


def test_real_model_transfers_from_indonesian_on_nusax(e5_path, nusax_root, tmp_path):
    raw = {
        "name": "nusax-integration",
        "task": {"corpus": "nusax", "corpus_root": str(nusax_root), "max_train_per_label": 40},
        "model": "intfloat/multilingual-e5-small",
        "source_language": "ind",
        "target_languages": ["ind", "jav", "sun"],
        "setups": {"head": {"adapt": {"strategy": "head"}}, "rag": {"retrieval": {"k": 8}}},
        "baseline": "head",
        "bootstrap": {"n_resamples": 200},
        "output_dir": str(tmp_path / "run"),
    }
    config, problems = build_config(raw)
    assert not problems, problems
    result = run_compare(config, progress=False)
    f1 = {(r["setup"], r["language"]): r for r in result.results["records"] if r["metric"] == "macro_f1"}
    assert len(f1) == 6
    for (setup, lang), r in f1.items():
        assert r["n"] == 400
        # three balanced-ish classes: chance macro-F1 is about 0.33; the real model transfers well above it
        assert r["ci_low"] > 0.33, (setup, lang, r)
    assert f1["head", "ind_Latn"]["value"] > 0.6
