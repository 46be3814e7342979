"""Embedder: prompts, in-memory and on-disk caches (no pickle), the HashEmbedder stand-in, the real e5 model."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from polyglot_transfer.errors import ConfigError
from polyglot_transfer.retrieval.embedder import Embedder, HashEmbedder, text_key


def test_hash_embedder_is_deterministic_normalised_and_similar_for_similar_texts():
    a, b = HashEmbedder(64), HashEmbedder(64)
    x = a.encode_passages(["the cat sat on the mat", "the cat sat on a mat", "quantum chromodynamics"])
    assert np.allclose(x, b.encode_passages(["the cat sat on the mat", "the cat sat on a mat", "quantum chromodynamics"]))
    assert np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    assert x[0] @ x[1] > x[0] @ x[2] + 0.2, "near-duplicates must be closer than unrelated texts"
    assert a.identity["dim"] == 64 and a.identity["model"].startswith("hash-ngram")


def test_hash_embedder_rejects_bad_dim():
    with pytest.raises(ConfigError, match="dim must be an int >= 2. Got 1 instead"):
        HashEmbedder(1)


def test_memory_cache_encodes_each_distinct_text_once():
    e = HashEmbedder(32)
    e.encode_passages(["a", "b", "a"])
    e.encode_passages(["b", "c"])
    assert e.encode_calls == 3


def test_disk_cache_is_shared_across_instances_and_keyed_by_prompt(tmp_path):
    first = HashEmbedder(32, query_prompt="query: ", cache_dir=tmp_path)
    vq = first.encode_queries(["alpha", "beta"])
    vp = first.encode_passages(["alpha"])
    assert first.encode_calls == 3  # the query and passage prompts make different inputs
    second = HashEmbedder(32, query_prompt="query: ", cache_dir=tmp_path)
    assert np.array_equal(second.encode_queries(["beta", "alpha"]), vq[::-1])
    assert np.array_equal(second.encode_passages(["alpha"]), vp)
    assert second.encode_calls == 0, "every vector should come from the disk cache"
    second.encode_queries(["gamma"])
    assert second.encode_calls == 1


def test_disk_cache_files_are_npy_and_json_without_pickle(tmp_path):
    e = HashEmbedder(16, cache_dir=tmp_path)
    e.encode_passages(["x", "y"])
    folder = e.disk_cache.folder
    index = json.loads((folder / "index.json").read_text())
    (shard_name, entry), = index["shards"].items()
    assert entry["keys"] == [text_key("", "x"), text_key("", "y")]
    arr = np.load(folder / shard_name, allow_pickle=False)
    assert arr.dtype == np.float32 and arr.shape == (2, 16)
    assert not list(folder.glob("*.pkl")) and not list(folder.glob("*.tmp"))


def test_disk_cache_is_separate_per_model_identity(tmp_path):
    HashEmbedder(16, cache_dir=tmp_path).encode_passages(["x"])
    other = HashEmbedder(24, cache_dir=tmp_path)
    v = other.encode_passages(["x"])
    assert v.shape == (1, 24) and other.encode_calls == 1
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 2


def test_damaged_shard_is_ignored_with_a_warning_and_recomputed(tmp_path, caplog):
    e = HashEmbedder(16, cache_dir=tmp_path)
    ref = e.encode_passages(["x"])
    for shard in e.disk_cache.folder.glob("shard-*.npy"):
        shard.write_bytes(b"not a numpy file")
    fresh = HashEmbedder(16, cache_dir=tmp_path)
    with caplog.at_level(logging.WARNING):
        again = fresh.encode_passages(["x"])
    assert np.allclose(again, ref) and fresh.encode_calls == 1
    assert "unreadable" in caplog.text


@pytest.fixture(scope="module")
def e5(e5_path):
    import torch

    torch.set_num_threads(1)
    return Embedder()


def test_real_e5_applies_query_and_passage_prompts_and_caches_on_disk(e5, tmp_path):
    assert (e5.query_prompt, e5.passage_prompt) == ("query: ", "passage: ")
    q = e5.encode_queries(["Where is Lagos?"])
    p = e5.encode_passages(["Where is Lagos?"])
    assert q.shape == (1, 384) and not np.allclose(q, p), "query and passage prompts must differ"
    texts = ["Lagos is the largest city in Nigeria.", "Ìlú Èkó ni ìlú tó tóbi jù lọ ní Nàìjíríà."]
    cached = Embedder(cache_dir=tmp_path)
    cached.__dict__["model"] = e5.model  # share the loaded weights (keeps the test to one model load)
    ref = cached.encode_passages(texts)
    assert np.allclose(ref, e5.encode_passages(texts), atol=1e-5)
    reloaded = Embedder(cache_dir=tmp_path)
    assert np.array_equal(reloaded.encode_passages(texts), ref)
    assert "model" not in reloaded.__dict__, "a full cache hit must not load the model"
    assert e5.identity["weights_sha256"] and e5.identity["dim"] == 384
