"""Recall-targeted recipes: approximate indexes tune nprobe / efSearch (and the encoding) against exact search."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from polyglot_transfer.errors import ConfigError
from polyglot_transfer.retrieval.faiss_index import VectorIndex, add_to_saved_index, finer_encoding

DIM = 64


def clustered(n: int, seed: int, centers: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping Gaussian clusters: hard enough that FAISS defaults miss neighbours."""
    rng = np.random.default_rng(seed)
    if centers is None:
        centers = rng.standard_normal((100, DIM)).astype(np.float32)
    labels = rng.integers(0, len(centers), n)
    return (centers[labels] + 1.5 * rng.standard_normal((n, DIM))).astype(np.float32), centers


CORPUS, CENTERS = clustered(12_000, 0)
FRESH, _ = clustered(300, 1, CENTERS)  # queries the tuning never saw


def oracle_recall(index: VectorIndex, queries: np.ndarray, k: int = 10) -> float:
    exact = VectorIndex(DIM, recipe="Flat")
    exact.add(CORPUS[: len(index)], [""] * len(index))
    truth = [{h.id for h in row} for row in exact.search(queries, k)]
    found = [{h.id for h in row} for row in index.search(queries, k)]
    return float(np.mean([len(t & f) / k for t, f in zip(truth, found)]))


@pytest.mark.parametrize("recipe,param", [("HNSW32", "ef_search"), ("IVF64,Flat", "nprobe"), ("IVF64,SQ8", "nprobe")])
def test_tuned_parameters_reach_the_target_against_a_flat_oracle(recipe, param):
    index = VectorIndex(DIM, recipe=recipe)
    index.add(CORPUS, [""] * len(CORPUS))
    tuning = index.tuning
    assert tuning["param"] == param and tuning["reached"] and tuning["recall"] >= 0.95
    assert tuning["n_vectors"] == len(CORPUS) and tuning["tried"][-1]["value"] == tuning["value"]
    assert getattr(index, param) == tuning["value"]
    defaults = {"ef_search": 16, "nprobe": 1}
    assert tuning["value"] > defaults[param], "these clusters overlap: FAISS defaults are not enough"
    assert tuning["tried"][0][f"recall@10"] < 0.95
    assert oracle_recall(index, FRESH) >= 0.95


def test_a_higher_target_buys_more_recall():
    low = VectorIndex(DIM, recipe="HNSW32", recall_target=0.9)
    low.add(CORPUS[:6000], [""] * 6000)
    high = VectorIndex(DIM, recipe="HNSW32", recall_target=0.99)
    high.add(CORPUS[:6000], [""] * 6000)
    assert high.ef_search > low.ef_search
    assert oracle_recall(high, FRESH) >= 0.99 and oracle_recall(high, FRESH) > oracle_recall(low, FRESH)


def test_pq_that_misses_the_target_gives_way_to_sq8_when_the_recipe_was_chosen_automatically(caplog):
    index = VectorIndex(DIM, recipe="IVF32,PQ16x4")
    index.auto_recipe = True  # as when recipe=None chose it; an explicit recipe is kept (next test)
    with caplog.at_level(logging.WARNING):
        index.add(CORPUS[:4000], [""] * 4000)
    assert "trying 'IVF32,SQ8'" in caplog.text
    assert index.recipe == "IVF32,SQ8" and index.tuning["reached"]
    assert oracle_recall(index, FRESH) >= 0.95
    assert finer_encoding("IVF8,SQ8") == "IVF8,Flat" and finer_encoding("IVF8,Flat") is None


def test_an_explicit_recipe_that_cannot_reach_the_target_is_kept_with_a_warning(caplog):
    index = VectorIndex(DIM, recipe="IVF32,PQ16x4")
    with caplog.at_level(logging.WARNING):
        index.add(CORPUS[:4000], [""] * 4000)
    assert index.recipe == "IVF32,PQ16x4" and not index.tuning["reached"] and index.nprobe == 32
    assert "below the target 0.950, at its most thorough setting (nprobe=32)" in caplog.text


def test_user_parameters_are_not_tuned_and_small_indexes_are_left_alone():
    index = VectorIndex(DIM, recipe="HNSW32", ef_search=20)
    index.add(CORPUS[:3000], [""] * 3000)
    assert index.tuning is None and index.ef_search == 20
    small = VectorIndex(DIM, recipe="HNSW32")
    small.add(CORPUS[:500], [""] * 500)
    assert small.tuning is None
    assert index.tune(target=0.97)["recall"] >= 0.97 and index.ef_search > 20  # asked for explicitly
    with pytest.raises(ConfigError, match=r"recall_target must be a number in \(0, 1\]"):
        VectorIndex(DIM, recall_target=1.5)


def test_tuning_is_saved_and_redone_when_the_corpus_doubles(tmp_path):
    folder = tmp_path / "idx"
    index = VectorIndex(DIM, recipe="HNSW32", embedder_identity={"model": "synthetic", "dim": DIM})
    index.add(CORPUS[:2000], [""] * 2000)
    index.save(folder)
    live = folder / (folder / "CURRENT").read_text().split()[0]
    manifest = json.loads((live / "manifest.json").read_text())
    assert manifest["tuning"]["n_vectors"] == 2000 and manifest["recall_target"] == 0.95
    assert manifest["bytes_per_vector"] > DIM * 4  # float vectors plus the graph
    ident = {"model": "synthetic", "dim": DIM}
    add_to_saved_index(folder, CORPUS[2000:3500], [""] * 1500, expected_embedder=ident)
    assert VectorIndex.load(folder).tuning["n_vectors"] == 2000  # 3500 < 2 x 2000: kept
    add_to_saved_index(folder, CORPUS[3500:6000], [""] * 2500, expected_embedder=ident)
    loaded = VectorIndex.load(folder)
    assert loaded.tuning["n_vectors"] == 6000 and loaded.tuning["reached"]
    assert oracle_recall(loaded, FRESH) >= 0.95


def test_index_info_shows_recall_memory_and_speed(tmp_path, capsys):
    from polyglot_transfer.cli.main import main

    index = VectorIndex(DIM, recipe="HNSW32")
    index.add(CORPUS[:1500], [""] * 1500)
    index.save(tmp_path / "idx")
    assert main(["index", "info", str(tmp_path / "idx")]) == 0
    out, err = capsys.readouterr()
    quality = json.loads(out)["search_quality"]
    assert quality["recall@10_vs_exact"] == index.tuning["recall"] >= 0.95
    assert quality["tuned"] == {"ef_search": index.ef_search} and quality["bytes_per_vector"] > DIM * 4
    assert "HNSW32: recall@10 0." in err and "ms/query" in err and "bytes/vector" in err
    assert main(["index", "build", str(tmp_path / "new"), "--from", "x.jsonl", "--recall-target", "1.5"]) != 0
    assert "recall_target must be a number in (0, 1]" in capsys.readouterr().err
