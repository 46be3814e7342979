"""VectorIndex: every conformance recipe, recipe choice and training, stable ids, filters, persistence
(kill mid-save, tampering, mismatched embedder), concurrent writers, and HNSW recall against Flat."""

from __future__ import annotations

import csv
import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from polyglot_transfer.errors import ConfigError, DataError, IntegrityError
from polyglot_transfer.retrieval.embedder import HashEmbedder
from polyglot_transfer.retrieval.faiss_index import VectorIndex, add_to_saved_index
from polyglot_transfer.retrieval.recipes import CONFORMANCE_RECIPES, choose_recipe, min_training_size

REPO = Path(__file__).resolve().parents[1]
NUSAX = REPO.parent / "shared" / "corpora" / "nusax" / "datasets" / "sentiment"

EMB = HashEmbedder(32)
TEXTS = [f"document {i} talks about topic {i % 7} and item {i * 13 % 101}" for i in range(300)]
VECS = EMB.encode_passages(TEXTS)
METAS = [{"group": i % 3, "lang": "yor_Latn" if i % 2 else "eng_Latn"} for i in range(300)]


def build(recipe: str) -> VectorIndex:
    index = VectorIndex(32, recipe=recipe, embedder_identity=EMB.identity)
    ids = index.add(VECS, TEXTS, METAS, keys=[f"k{i}" for i in range(300)])
    assert ids == list(range(300)), f"{recipe}: ids must be 0..n-1 in insertion order, got {ids[:5]}..."
    return index


@pytest.mark.parametrize("recipe", CONFORMANCE_RECIPES)
def test_recipe_conformance(recipe, tmp_path):
    index = build(recipe)
    # filters apply before ranking: k results come back even when few documents match
    rare = index.search(VECS[:2], 5, where=lambda m: m["group"] == 0 and m["lang"] == "eng_Latn")
    assert all(len(row) == 5 for row in rare), f"{recipe}: filtered search returned {[len(r) for r in rare]} hits"
    assert all(h.metadata["group"] == 0 and h.metadata["lang"] == "eng_Latn" for row in rare for h in row)
    few = index.search(VECS[:1], 10, where={"group": 1, "lang": ["eng_Latn"]})
    assert {h.metadata["group"] for h in few[0]} == {1} and len(few[0]) == 10
    # delete then update keep ids stable, and the search never returns deleted documents
    assert index.delete([0, 1, 2]) == 3 and len(index) == 297
    index.update(3, VECS[200], text="replaced text", metadata={"group": 9, "lang": "fon_Latn"})
    hits = index.search(VECS[200:201], 300)[0]
    assert {0, 1, 2}.isdisjoint(h.id for h in hits), f"{recipe}: deleted ids came back"
    assert len(hits) == 297 and len({h.id for h in hits}) == 297
    only = index.search(VECS[:1], 3, where={"group": 9})[0]
    assert [(h.id, h.text, h.key) for h in only] == [(3, "replaced text", "k3")]
    index.save(tmp_path / "idx")
    loaded = VectorIndex.load(tmp_path / "idx", expected_embedder=EMB.identity)
    assert len(loaded) == 297 and loaded.id_for_key("k3") == 3 and loaded.recipe == recipe
    before = [[h.id for h in row] for row in index.search(VECS[40:45], 5)]
    after = [[h.id for h in row] for row in loaded.search(VECS[40:45], 5)]
    assert before == after, f"{recipe}: results changed across save/load"
    assert loaded.add(VECS[:1], ["new"]) == [300], "ids continue after a reload"


def test_flat_exact_search_finds_the_query_itself_first():
    index = build("Flat")
    hits = index.search(VECS[10:13], 1)
    assert [row[0].id for row in hits] == [10, 11, 12]
    assert hits[0][0].score == pytest.approx(1.0, abs=1e-5)


def test_choose_recipe_by_corpus_size():
    assert choose_recipe(0) == "Flat" and choose_recipe(9_999) == "Flat"
    assert choose_recipe(10_000) == "HNSW32" and choose_recipe(1_000_000) == "HNSW32"
    assert choose_recipe(4_000_000, 384) == "IVF8000,SQ8" and choose_recipe(2_250_000, 768) == "IVF6000,SQ8"
    assert choose_recipe(40_000_000, 384) == "IVF25298,PQ64x8"  # past 8 GiB of SQ8 codes: product quantisation
    with pytest.raises(ConfigError, match="n_docs must be an int >= 0. Got -1 instead"):
        choose_recipe(-1)


def test_recipe_none_is_chosen_from_the_first_batch():
    index = VectorIndex(32, recipe=None)
    assert index.recipe is None
    index.add(VECS[:20], TEXTS[:20])
    assert index.recipe == "Flat"
    assert VectorIndex(32, recipe=None, expected_size=50_000).recipe == "HNSW32"


def test_training_recipes_need_enough_vectors_with_a_clear_error():
    assert min_training_size("IVF64,PQ8") == 256 and min_training_size("HNSW32") == 0
    index = VectorIndex(32, recipe="IVF64,Flat")
    with pytest.raises(DataError, match=r"Recipe 'IVF64,Flat' needs at least 64 vectors to train .*got 10"):
        index.add(VECS[:10], TEXTS[:10])
    index.train(VECS)  # a sample first, then small batches are fine
    assert index.add(VECS[:10], TEXTS[:10]) == list(range(10))


def test_bad_recipe_metric_and_k_are_refused():
    with pytest.raises(ConfigError, match="FAISS cannot build recipe 'Flot'"):
        VectorIndex(8, recipe="Flot")
    with pytest.raises(ConfigError, match="Unknown metric 'cosin'. Did you mean 'cosine'"):
        VectorIndex(8, metric="cosin")
    with pytest.raises(ConfigError, match="k must be an int >= 1. Got 0 instead"):
        build("Flat").search(VECS[:1], 0)
    with pytest.raises(DataError, match=r"Expected vectors of shape \(n, 32\) from embedder .hash-ngram-3.. Got \(2, 5\)"):
        build("Flat").add(np.ones((2, 5)), ["a", "b"])
    with pytest.raises(DataError, match="cannot be saved as JSON"):
        VectorIndex(32).add(VECS[:1], ["a"], [{"bad": object()}])


def test_search_params_are_settable_and_persisted(tmp_path):
    import faiss

    ivf = build("IVF8,Flat").set_search_params(nprobe=8)
    assert faiss.downcast_index(ivf._index).nprobe == 8
    exact = build("Flat").search(VECS[:20], 10)
    approx = ivf.search(VECS[:20], 10)
    assert [[h.id for h in r] for r in approx] == [[h.id for h in r] for r in exact], "nprobe=nlist is exhaustive"
    hnsw = VectorIndex(32, recipe="HNSW32", ef_search=77)
    hnsw.add(VECS, TEXTS)
    hnsw.save(tmp_path / "h")
    assert VectorIndex.load(tmp_path / "h")._base().hnsw.efSearch == 77
    with pytest.raises(ConfigError, match="nprobe must be an int >= 1. Got 0 instead"):
        ivf.set_search_params(nprobe=0)


def test_cuda_without_gpu_warns_and_falls_back_to_cpu(caplog):
    import faiss

    if faiss.get_num_gpus() > 0:
        pytest.skip("a GPU is visible: no fallback to test")
    with caplog.at_level(logging.WARNING):
        index = VectorIndex(32, device="cuda")
    assert index.device == "cpu"
    assert "device='cuda' was asked but FAISS sees no GPU" in caplog.text


def test_tampered_files_and_mismatched_embedders_are_refused(tmp_path):
    folder = tmp_path / "idx"
    build("Flat").save(folder)
    live = folder / (folder / "CURRENT").read_text().split()[0]
    with pytest.raises(IntegrityError, match="Vectors from different embedders are not comparable"):
        VectorIndex.load(folder, expected_embedder=HashEmbedder(48).identity)
    docstore = live / "docstore.jsonl"
    docstore.write_text(docstore.read_text().replace("document 5 ", "document five "))
    with pytest.raises(IntegrityError, match="docstore.jsonl does not match the checksum in its manifest"):
        VectorIndex.load(folder)
    build("Flat").save(folder)
    live = folder / (folder / "CURRENT").read_text().split()[0]
    data = bytearray((live / "index.faiss").read_bytes())
    data[-10] ^= 0xFF
    (live / "index.faiss").write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="index.faiss does not match the checksum"):
        VectorIndex.load(folder)
    (folder / "CURRENT").write_text("v-000123\n")
    with pytest.raises(IntegrityError, match="names version 'v-000123', which is not a folder inside"):
        VectorIndex.load(folder)
    with pytest.raises(DataError, match="is not an index folder"):
        VectorIndex.load(tmp_path / "nothing")


def test_format_1_folders_still_load(tmp_path):
    """Folders written before versioned saves (three files in the folder) are read, then upgraded."""
    import json

    from polyglot_transfer.fileio import sha256_file

    index = build("Flat")
    index.save(tmp_path / "new")
    live = tmp_path / "new" / (tmp_path / "new" / "CURRENT").read_text().split()[0]
    old = tmp_path / "old"
    old.mkdir()
    lines = [json.loads(x) for x in (live / "docstore.jsonl").read_text().splitlines()]
    with open(old / "docstore.jsonl", "w") as f:
        for d in lines:
            f.write(json.dumps({"id": d["id"], "text": d["text"], "metadata": d["metadata"]}) + "\n")
    (old / "index.faiss").write_bytes((live / "index.faiss").read_bytes())
    manifest = json.loads((live / "manifest.json").read_text())
    manifest.update(format_version=1, files={n: sha256_file(old / n) for n in ("index.faiss", "docstore.jsonl")})
    for key in ("next_slot", "tombstones", "nprobe", "ef_search"):
        manifest.pop(key)
    (old / "manifest.json").write_text(json.dumps(manifest))
    loaded = VectorIndex.load(old)
    assert len(loaded) == 300 and loaded.search(VECS[7:8], 1)[0][0].id == 7
    loaded.save(old)
    assert (old / "CURRENT").is_file() and not (old / "manifest.json").exists()


KILL_SCRIPT = textwrap.dedent(
    """
    import sys, numpy as np
    from polyglot_transfer.retrieval.faiss_index import VectorIndex
    folder, n = sys.argv[1], int(sys.argv[2])
    rng = np.random.default_rng(0)
    small = VectorIndex(64)
    small.add(rng.standard_normal((10, 64)).astype("float32"), [f"old {i}" for i in range(10)])
    small.save(folder)
    big = VectorIndex(64)
    big.add(rng.standard_normal((n, 64)).astype("float32"), [f"new text number {i} " * 4 for i in range(n)],
            [{"i": i, "tags": ["a", "b"]} for i in range(n)])
    print("saving", flush=True)
    big.save(folder)
    print("saved", flush=True)
    """
)


def test_a_kill_mid_save_leaves_the_previous_version_loadable(tmp_path):
    folder = tmp_path / "idx"
    script = tmp_path / "saver.py"
    script.write_text(KILL_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(script), str(folder), "150000"], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "saving"
        deadline = time.monotonic() + 30
        while not list(folder.glob(".v-*.partial")):
            assert time.monotonic() < deadline, "the big save never started"
            time.sleep(0.001)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert list(folder.glob(".v-*.partial")), "the kill should have interrupted the save"
    survivor = VectorIndex.load(folder)
    assert len(survivor) == 10 and survivor.get(0)["text"] == "old 0"
    survivor.add(np.ones((1, 64), dtype=np.float32), ["after"])
    survivor.save(folder)
    assert not list(folder.glob(".v-*.partial")), "a later save removes the debris"
    assert len(VectorIndex.load(folder)) == 11


def _writer(folder: str, worker: int, n: int) -> None:
    emb = HashEmbedder(32)
    for i in range(n):
        text = f"worker {worker} doc {i}"
        add_to_saved_index(folder, emb.encode_passages([text]), [text], [{"worker": worker}], expected_embedder=emb.identity)


def test_two_processes_adding_to_one_folder_lose_no_writes(tmp_path):
    folder = tmp_path / "shared-index"
    VectorIndex(32, embedder_identity=EMB.identity).save(folder)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(folder), w, 12)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    index = VectorIndex.load(folder)
    texts = sorted(index.get(i)["text"] for i in index.ids)
    assert texts == sorted(f"worker {w} doc {i}" for w in range(2) for i in range(12))
    assert index.ids == list(range(24))


def _nusax_texts(n: int) -> list[str]:
    texts: list[str] = []
    for lang in ("javanese", "sundanese", "balinese", "acehnese"):
        with open(NUSAX / lang / "train.csv", encoding="utf-8") as f:
            texts += [row["text"] for row in csv.DictReader(f)][: n // 4]
    return texts


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.skipif(not NUSAX.is_dir(), reason="NusaX is not in shared/corpora")
def test_hnsw_recall_at_10_against_flat_on_real_e5_embeddings(e5_path):
    import torch

    from polyglot_transfer.retrieval.embedder import Embedder
    from polyglot_transfer.retrieval.recipe_check import recall_against_exact

    torch.set_num_threads(1)
    texts = _nusax_texts(500)
    emb = Embedder()
    rows = recall_against_exact(emb.encode_passages(texts), emb.encode_queries(texts[::10]),
                                [("HNSW32", {"ef_search": 16})], k=10)
    recall = rows[0]["recall@10"]
    print(f"HNSW32 (efSearch=16) recall@10 vs Flat on {len(texts)} NusaX e5 embeddings: {recall:.3f}")
    assert recall >= 0.9, f"HNSW32 recall@10 against exact search is {recall:.3f}"


def test_recall_against_exact_is_one_for_exhaustive_search_and_drops_with_fewer_probes():
    from polyglot_transfer.retrieval.recipe_check import recall_against_exact

    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(2000, 32)).astype(np.float32)  # no cluster structure: one IVF list is not enough
    queries = vecs[::40] + 0.05 * rng.normal(size=(50, 32)).astype(np.float32)
    rows = recall_against_exact(vecs, queries, ["Flat", ("IVF16,Flat", {"nprobe": 16}), ("IVF16,Flat", {"nprobe": 1}),
                                                ("HNSW32", {"ef_search": 64})], k=10)
    recall = [r["recall@10"] for r in rows]
    assert recall[0] == 1.0 and recall[1] == 1.0  # Flat, and IVF probing every list, are exact
    assert recall[2] < 0.9, f"probing 1 of 16 lists should miss neighbours, got recall {recall[2]:.3f}"
    assert recall[3] > recall[2]
    assert rows[1]["params"] == {"nprobe": 16} and rows[0]["search_ms_per_query"] > 0
    with pytest.raises(ConfigError, match="Unknown search params"):
        recall_against_exact(vecs, queries, [("HNSW32", {"efSearch": 64})])
    with pytest.raises(DataError, match="same dimension"):
        recall_against_exact(vecs, queries[:, :8], ["Flat"])


def test_only_rows_an_ivf_probe_leaves_short_are_searched_wider():
    rng = np.random.default_rng(3)
    vecs = rng.normal(size=(2000, 16)).astype(np.float32)
    index = VectorIndex(16, recipe="IVF64,Flat", nprobe=1)
    index.add(vecs, [""] * 2000)
    queries = rng.normal(size=(60, 16)).astype(np.float32)
    k = 25  # about as many as one of 64 lists holds: some rows come back short from one probe, some full
    _, raw = index._index.search(index._prepare(queries), k)
    short = (raw < 0).any(axis=1)
    assert 0 < short.sum() < len(queries), "the case needs both short and full rows"
    hits = index.search(queries, k)
    assert all(len(row) == k for row in hits)  # every row is filled
    for row, raw_row, was_short in zip(hits, raw, short):
        if not was_short:  # full rows keep the one-probe answer (slot == id here: nothing was deleted)
            assert [h.id for h in row] == [int(s) for s in raw_row]
